import { errorDecision } from '../guard/respond.js';
import type { Decision } from '../guard/types.js';
import type { StoreHealth } from './outage.js';

/** A value or a promise of it. */
export type MaybePromise<T> = T | Promise<T>;

/** Applies `then` to a value that may be a promise, staying synchronous when it is not. @internal */
export function chain<T, U>(value: MaybePromise<T>, then: (value: T) => MaybePromise<U>): MaybePromise<U> {
  return value instanceof Promise ? value.then(then) : then(value);
}

/**
 * Asks the store through the outage rules: a healthy store decides; a failure (throw, rejection,
 * missed deadline) switches to the outage mode, and `outage` decides instead (in every mode: it reads
 * `health.mode`, so that a guard can report which mode decided). Never rejects. The callbacks take the
 * request, so that a guard makes them once rather than per request.
 * @internal
 */
export function askStore<Q, R>(
  health: StoreHealth,
  request: Q,
  ask: (request: Q) => MaybePromise<R>,
  decided: (request: Q, result: R) => Decision,
  outage: (request: Q) => Decision,
): MaybePromise<Decision> {
  if (!health.useStore()) return outage(request);
  let answer: MaybePromise<R>;
  try {
    answer = ask(request);
  } catch (err) {
    health.failed(err);
    return outage(request);
  }
  if (answer instanceof Promise) {
    return answer.then(
      (result) => {
        health.succeeded();
        return decided(request, result);
      },
      (err: unknown) => {
        health.failed(err);
        return outage(request);
      },
    );
  }
  health.succeeded();
  return decided(request, answer);
}

/**
 * Runs `run(argument)`, a step that may call user callbacks that throw or reject, turning a failure into
 * a 500 decision. Takes the argument rather than a closure, so that a guard makes no function per request.
 * @internal
 */
export function guarded<A>(run: (argument: A) => MaybePromise<Decision>, argument: A): MaybePromise<Decision> {
  try {
    const out = run(argument);
    return out instanceof Promise ? out.catch((err: unknown) => errorDecision(err)) : out;
  } catch (err) {
    return errorDecision(err);
  }
}
