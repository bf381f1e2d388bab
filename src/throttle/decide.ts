import { errorDecision, NEXT } from '../guard/respond.js';
import type { Decision } from '../guard/types.js';
import { type StoreHealth, unavailableError } from './outage.js';

/** A value or a promise of it. */
export type MaybePromise<T> = T | Promise<T>;

/** Applies `then` to a value that may be a promise, staying synchronous when it is not. @internal */
export function chain<T, U>(value: MaybePromise<T>, then: (value: T) => MaybePromise<U>): MaybePromise<U> {
  return value instanceof Promise ? value.then(then) : then(value);
}

/**
 * Asks the store through the outage rules: a healthy store decides; a failure (throw, rejection,
 * missed deadline) switches to the outage mode, whose decision is returned instead. Never rejects.
 * @internal
 */
export function askStore<R>(
  health: StoreHealth,
  ask: () => MaybePromise<R>,
  decided: (result: R) => Decision,
  fallback: () => Decision,
): MaybePromise<Decision> {
  if (!health.useStore()) return degraded(health, fallback);
  let answer: MaybePromise<R>;
  try {
    answer = ask();
  } catch (err) {
    health.failed(err);
    return degraded(health, fallback);
  }
  if (answer instanceof Promise) {
    return answer.then(
      (result) => {
        health.succeeded();
        return decided(result);
      },
      (err: unknown) => {
        health.failed(err);
        return degraded(health, fallback);
      },
    );
  }
  health.succeeded();
  return decided(answer);
}

function degraded(health: StoreHealth, fallback: () => Decision): Decision {
  if (health.mode === 'open') return NEXT;
  if (health.mode === 'closed') return errorDecision(unavailableError());
  return fallback();
}

/** Runs a user callback that may throw or reject, turning a failure into a 500 decision. @internal */
export function guarded(run: () => MaybePromise<Decision>): MaybePromise<Decision> {
  try {
    const out = run();
    return out instanceof Promise ? out.catch((err: unknown) => errorDecision(err)) : out;
  } catch (err) {
    return errorDecision(err);
  }
}
