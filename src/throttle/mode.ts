import type { GuardMode } from '../events/channels.js';
import { NEXT } from '../guard/respond.js';
import type { Decision, Guard, HeaderPairs, RequestView } from '../guard/types.js';

/** Validates a `mode` option (`TypeError` naming it) and returns the mode to start in. @internal */
export function validateMode(what: string, mode: unknown): GuardMode {
  if (mode === undefined) return 'enforce';
  if (mode !== 'enforce' && mode !== 'shadow') throw new TypeError(`${what}: options.mode must be 'enforce' or 'shadow'`);
  return mode;
}

/** Validates the argument of a guard's `setMode(mode)`. @internal */
export function checkSetMode(what: string, mode: unknown): GuardMode {
  if (mode !== 'enforce' && mode !== 'shadow') throw new TypeError(`${what}: setMode(mode) takes 'enforce' or 'shadow'`);
  return mode;
}

/** Validates an optional boolean option. @internal */
export function validateFlag(what: string, field: string, value: unknown): boolean {
  if (value !== undefined && typeof value !== 'boolean') throw new TypeError(`${what}: options.${field} must be a boolean`);
  return value === true;
}

/**
 * Requests a guard in shadow mode would have refused, with the status enforcing would have answered. A shadow
 * guard that comes later in the chain leaves such a request alone (an enforcing chain never lets it reach that
 * guard), and one that came earlier takes that status, not the application's, as the request's outcome for its
 * refund rule: so a chain of shadow guards predicts what the same chain enforcing would do. Keyed by the
 * framework's request object (Express `req`, Koa `ctx`, a `Request`, Hono's `c`, a `FastifyRequest`), which
 * every guard of one request shares, and let go with it.
 */
const refusedInShadow = new WeakMap<object, number>();

/** The marker a shadow guard's pass-through decision carries: the status enforcing would have answered. @internal */
export const SHADOW_REFUSED: unique symbol = Symbol('bulwark.shadowRefused');

/** A shadow guard's decision for a request enforcing would refuse with `status`: it goes on, marked. @internal */
export function shadowPass(status: number, headers?: HeaderPairs): Decision {
  const decision: Decision = headers === undefined || headers.length === 0 ? { type: 'next' } : { type: 'next', headers };
  // Not enumerable: the decision reads as any other pass-through wherever it is copied or compared.
  Object.defineProperty(decision, SHADOW_REFUSED, { value: status });
  return decision;
}

/** The status a shadow guard would have refused `request` with, if one did. @internal */
export function shadowRefusedStatus(request: unknown): number | undefined {
  return typeof request === 'object' && request !== null ? refusedInShadow.get(request) : undefined;
}

/**
 * Wraps a guard's `check` for shadow chains: while `mode()` is `'shadow'`, a request an earlier shadow guard
 * refused is let through untouched (nothing consumed, nothing published), and one this guard refuses is marked
 * for the guards around it. In enforcing mode the guard decides as it is. @internal
 */
export function inShadowChain<Req>(guard: Guard<Req>, mode: () => GuardMode): Guard<Req> {
  const check = guard.check;
  const mark = (view: RequestView<Req>, decision: Decision): Decision => {
    const status = (decision as { [SHADOW_REFUSED]?: number })[SHADOW_REFUSED];
    const request = view.request as unknown;
    if (status !== undefined && typeof request === 'object' && request !== null && !refusedInShadow.has(request)) {
      refusedInShadow.set(request, status);
    }
    return decision;
  };
  guard.check = (view) => {
    if (mode() !== 'shadow') return check(view);
    if (shadowRefusedStatus(view.request) !== undefined) return NEXT;
    const decision = check(view);
    return decision instanceof Promise ? decision.then((settled) => mark(view, settled)) : mark(view, decision);
  };
  return guard;
}
