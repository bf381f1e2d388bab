import type { HeaderPairs } from './types.js';

/** The part of a Node.js `ServerResponse` that {@link writeNodeHeaders} uses, typed structurally. */
export interface NodeResponseLike {
  hasHeader(name: string): boolean;
  setHeader(name: string, value: string): unknown;
  appendHeader(name: string, value: string): unknown;
}

/**
 * Writes a guard's headers on a Node.js response (shared by the Express and Koa adapters).
 * `Content-Type` and `Content-Length` replace; every other header is appended, so that two limiters on
 * one route add two list members. A header not yet present is set directly (Node validates it once).
 */
export function writeNodeHeaders(res: NodeResponseLike, headers: HeaderPairs): void {
  for (let i = 0; i < headers.length; i++) {
    const [name, value] = headers[i]!;
    if (name === 'content-type' || name === 'content-length' || !res.hasHeader(name)) res.setHeader(name, value);
    else res.appendHeader(name, value);
  }
}
