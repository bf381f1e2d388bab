import { createHash } from 'node:crypto';
import type { RequestBody } from '../guard/types.js';

/**
 * Canonical JSON: object keys sorted (their order does not matter), array order kept, `undefined`
 * members dropped, `toJSON` honoured, as `JSON.stringify` would otherwise do.
 *
 * @example
 * ```ts
 * canonicalJson({ b: 1, a: [2, 1] }) === canonicalJson({ a: [2, 1], b: 1 }); // true
 * ```
 */
export function canonicalJson(value: unknown): string {
  return write(value, new Set());
}

function write(value: unknown, seen: Set<object>): string {
  if (value !== null && typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    value = (value as { toJSON: () => unknown }).toJSON();
  }
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'bigint') return value.toString();
    const out = JSON.stringify(value);
    return out === undefined ? 'null' : out;
  }
  if (seen.has(value)) throw new TypeError('idempotency: the parsed request body is circular');
  seen.add(value);
  let out: string;
  if (Array.isArray(value)) {
    out = `[${value.map((item) => write(item, seen)).join(',')}]`;
  } else {
    const parts: string[] = [];
    for (const key of Object.keys(value).sort()) {
      const member = (value as Record<string, unknown>)[key];
      if (member === undefined || typeof member === 'function' || typeof member === 'symbol') continue;
      parts.push(`${JSON.stringify(key)}:${write(member, seen)}`);
    }
    out = `{${parts.join(',')}}`;
  }
  seen.delete(value);
  return out;
}

/** Whether a content type names JSON (`application/json`, `*+json`). */
export function isJsonType(contentType: string | undefined): boolean {
  if (!contentType) return false;
  const type = contentType.split(';', 1)[0]!.trim().toLowerCase();
  return type === 'application/json' || type.endsWith('+json');
}

/**
 * The fingerprint of a request: method, path, query and body. JSON bodies (by content type, or already
 * parsed by a body parser) count by their canonical JSON, so key order does not matter; other bodies
 * by their bytes.
 *
 * @example
 * ```ts
 * const fp = fingerprint('POST', '/v1/messages', '', { kind: 'parsed', value: { to: '+1' }, contentType: 'application/json' });
 * ```
 */
export function fingerprint(method: string, path: string, query: string, body: RequestBody): string {
  const hash = createHash('sha256');
  hash.update(method).update('\u0000').update(path).update('\u0000').update(query).update('\u0000');
  if (body.kind === 'none') {
    hash.update('n');
  } else if (body.kind === 'parsed') {
    hash.update('j').update(canonicalJson(body.value));
  } else {
    const json = isJsonType(body.contentType) ? parseJson(body.bytes) : NOT_JSON;
    if (json === NOT_JSON) {
      if (body.bytes.byteLength === 0) hash.update('n');
      else hash.update('b').update(body.bytes);
    } else {
      hash.update('j').update(canonicalJson(json));
    }
  }
  return hash.digest('base64url');
}

const NOT_JSON = Symbol('not json');

function parseJson(bytes: Uint8Array): unknown {
  if (bytes.byteLength === 0) return NOT_JSON;
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    return NOT_JSON;
  }
}
