import type { Request } from 'express';
import { decodeNodeBody } from '../../src/guard/decode-node-body.js';
import { readNodeBody } from '../../src/guard/read-node-body.js';
import type { RequestBody } from '../../src/guard/types.js';

/**
 * The body a parser already read is given synchronously; otherwise the raw bytes are read, up to `limit`,
 * and left in the request for whatever reads it next (a body parser mounted later, or the handler);
 * the guard sees them decoded (`Content-Encoding`).
 */
export function expressBody(req: Request, limit: number): RequestBody | Promise<RequestBody> {
  const contentType = req.headers['content-type'];
  const parsed = (req as { body?: unknown }).body;
  if (parsed !== undefined && ((req as { _body?: boolean })._body === true || !req.readable)) {
    if (parsed instanceof Uint8Array) return { kind: 'bytes', bytes: parsed, contentType };
    if (typeof parsed === 'string') return { kind: 'bytes', bytes: new TextEncoder().encode(parsed), contentType };
    return { kind: 'parsed', value: parsed, contentType };
  }
  if (!hasBody(req)) return { kind: 'none' };
  const raw = readNodeBody(req, limit);
  // Counted as decoded: a gzip body says what its decoded bytes say, as a body parser would read it.
  const encoding = req.headers['content-encoding'];
  if (raw instanceof Uint8Array) return { kind: 'bytes', bytes: decodeNodeBody(raw, encoding, limit), contentType };
  return raw.then((read) => ({ kind: 'bytes', bytes: decodeNodeBody(read, encoding, limit), contentType }));
}

function hasBody(req: Request): boolean {
  return req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');
}
