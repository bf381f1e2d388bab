import type { FastifyRequest } from 'fastify';
import { decodeNodeBody } from '../../src/guard/decode-node-body.js';
import { readNodeBody } from '../../src/guard/read-node-body.js';
import type { RequestBody } from '../../src/guard/types.js';

/**
 * The body Fastify's content-type parser produced is given synchronously (a string or a Buffer as its
 * bytes, anything else as the parsed value). A body Fastify did not read (a method it parses no body
 * for) is read from the request, up to `limit`, and seen decoded (`Content-Encoding`).
 */
export function fastifyBody(request: FastifyRequest, limit: number): RequestBody | Promise<RequestBody> {
  const contentType = request.headers['content-type'];
  const parsed = request.body;
  if (parsed !== undefined) {
    if (parsed instanceof Uint8Array) return { kind: 'bytes', bytes: parsed, contentType };
    if (typeof parsed === 'string') return { kind: 'bytes', bytes: new TextEncoder().encode(parsed), contentType };
    return { kind: 'parsed', value: parsed, contentType };
  }
  const raw = request.raw;
  if (!hasBody(request)) return { kind: 'none' };
  const read = readNodeBody(raw, limit);
  const encoding = raw.headers['content-encoding'];
  if (read instanceof Uint8Array) return { kind: 'bytes', bytes: decodeNodeBody(read, encoding, limit), contentType };
  return read.then((bytes) => ({ kind: 'bytes', bytes: decodeNodeBody(bytes, encoding, limit), contentType }));
}

function hasBody(request: FastifyRequest): boolean {
  const headers = request.headers;
  return headers['transfer-encoding'] !== undefined || (headers['content-length'] !== undefined && headers['content-length'] !== '0');
}
