/** The run-time controls a guard may have, which its framework middleware carries too. @internal */
export const CONTROL_NAMES = ['peek', 'replace', 'setMode'] as const;

/** The names of a guard's run-time controls. @internal */
export type ControlName = (typeof CONTROL_NAMES)[number];

/** The controls of guard `G` that it has, and its `mode` when it has one. @internal */
export type ControlsOf<G> = Pick<G, Extract<keyof G, ControlName | 'mode'>>;

/**
 * Gives a framework middleware the run-time controls of the guard it wraps: a rate limiter's `peek(key)`,
 * an allowlist's `replace(list)`, a guard's `setMode(mode)` (and its `mode`), so that every adapter
 * exposes the same ones without naming them. @internal
 */
export function withControls<G extends object, M extends object>(guard: G, wrap: (guard: G) => M): M & ControlsOf<G> {
  const middleware = wrap(guard);
  const target = middleware as Record<string, unknown>;
  const source = guard as Record<string, unknown>;
  for (const name of CONTROL_NAMES) {
    const control = source[name];
    if (typeof control === 'function') target[name] = control;
  }
  if ('mode' in guard) {
    Object.defineProperty(target, 'mode', { get: () => source.mode, enumerable: true, configurable: true });
  }
  return middleware as M & ControlsOf<G>;
}
