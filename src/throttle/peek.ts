/**
 * Gives a framework middleware the `peek(key)` of the guard it wraps, as `withReplace` gives an
 * allowlist's middleware its `replace`. @internal
 */
export function withPeek<G extends { peek: (key: string) => Promise<unknown> }, M extends object>(
  guard: G,
  wrap: (guard: G) => M,
): M & Pick<G, 'peek'> {
  return Object.assign(wrap(guard), { peek: guard.peek });
}
