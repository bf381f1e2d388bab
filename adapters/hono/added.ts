import type { Context } from 'hono';
import type { HeaderPairs } from '../../src/guard/types.js';

/** The headers that bulwark's guards let a request through with, still to add to its response. */
const ADDED = Symbol('bulwark.hono.added');

type WithAdded = Context & { [ADDED]?: HeaderPairs };

/** Keeps a guard's headers for the response, after those of the guards mounted before it. @internal */
export function keepAdded(c: Context, headers: HeaderPairs): void {
  ((c as WithAdded)[ADDED] ??= []).push(...headers);
}

/**
 * The headers of every guard that let the request through, in mount order, taken once: by the innermost
 * bulwark middleware once the request is answered, by a guard that answers it, or by errorHandler() for
 * the error it answers, so that two limiters' `RateLimit` members come in the order they are mounted,
 * on every answer, as on Express. @internal
 */
export function takeAdded(c: Context): HeaderPairs {
  const added = (c as WithAdded)[ADDED];
  if (added === undefined || added.length === 0) return [];
  (c as WithAdded)[ADDED] = [];
  return added;
}
