import type { Request } from 'express';
import { asBuffer } from '../../src/guard/as-buffer.js';
import { readNodeBody } from '../../src/guard/node-view.js';
import type { RequestBody } from '../../src/guard/types.js';

/** Largest raw body read for a guard when no body parser ran before it. */
const RAW_BODY_LIMIT = 1_048_576;

/** The body a parser already read is given synchronously; otherwise the raw bytes are read (and kept). */
export function expressBody(req: Request): RequestBody | Promise<RequestBody> {
  const contentType = req.headers['content-type'];
  const parsed = (req as { body?: unknown }).body;
  if (parsed !== undefined && ((req as { _body?: boolean })._body === true || !req.readable)) {
    if (parsed instanceof Uint8Array) return { kind: 'bytes', bytes: parsed, contentType };
    if (typeof parsed === 'string') return { kind: 'bytes', bytes: new TextEncoder().encode(parsed), contentType };
    return { kind: 'parsed', value: parsed, contentType };
  }
  if (!hasBody(req)) return { kind: 'none' };
  return readExpressBody(req, contentType);
}

async function readExpressBody(req: Request, contentType: string | undefined): Promise<RequestBody> {
  const bytes = await readNodeBody(req, RAW_BODY_LIMIT);
  // Later body parsers skip a request whose body was already read; hand them the bytes.
  (req as { body?: unknown }).body = asBuffer(bytes);
  (req as { _body?: boolean })._body = true;
  return { kind: 'bytes', bytes, contentType };
}

function hasBody(req: Request): boolean {
  return req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');
}
