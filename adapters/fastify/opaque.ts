/**
 * A thrown value that Fastify cannot be handed as it is: one whose prototype cannot be read (a Proxy whose
 * `getPrototypeOf` trap throws), so that Fastify's own `instanceof Error` tests throw and the request is
 * lost inside Fastify. A guard's failure of that kind travels to the error handler wrapped in this, and
 * `errorHandler` answers (and reports) the value itself. @internal
 */
export class OpaqueThrown extends Error {
  constructor(readonly value: unknown) {
    super('a bulwark guard failed with a value that cannot be inspected');
  }
}

/** The value to hand to Fastify for a guard's failure: never falsy (Fastify reads that as "continue"). @internal */
export function forFastify(err: unknown): Error {
  if (!err) return new Error('a bulwark guard failed');
  if (typeof err === 'object' || typeof err === 'function') {
    try {
      Object.getPrototypeOf(err);
    } catch {
      return new OpaqueThrown(err);
    }
  }
  return err as Error;
}

/** The value a guard failed with, unwrapped. @internal */
export function thrownValue(err: unknown): unknown {
  try {
    return err instanceof OpaqueThrown ? err.value : err;
  } catch {
    // `instanceof` itself throws for a value whose prototype cannot be read: it is not one of ours
    return err;
  }
}
