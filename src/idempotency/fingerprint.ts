import { createHash } from 'node:crypto';
import { ApiError } from '../errors/api-error.js';
import type { RequestBody } from '../guard/types.js';
import { sha256 } from './hash.js';

/**
 * Deepest nesting of a JSON body that is fingerprinted. A body parser accepts JSON nested far deeper (tens
 * of thousands of levels), which would exhaust the stack here: such a body is refused with 422
 * `invalid_request` instead of failing with a 500.
 */
export const MAX_JSON_DEPTH = 512;

function tooDeep(): ApiError {
  return new ApiError('invalid_request', { message: `The request body is nested more than ${MAX_JSON_DEPTH} levels deep.` });
}

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
  return write(value, new Set(), 0);
}

function write(value: unknown, seen: Set<object>, depth: number): string {
  if (value !== null && typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    value = (value as { toJSON: () => unknown }).toJSON();
  }
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'bigint') return value.toString();
    const out = JSON.stringify(value);
    return out === undefined ? 'null' : out;
  }
  if (seen.has(value)) throw new TypeError('idempotency: the parsed request body is circular');
  if (depth >= MAX_JSON_DEPTH) throw tooDeep();
  seen.add(value);
  let out: string;
  if (Array.isArray(value)) {
    out = '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ',';
      out += write(value[i], seen, depth + 1);
    }
    out += ']';
  } else {
    out = '{';
    let first = true;
    for (const key of sortedKeys(value)) {
      const member = (value as Record<string, unknown>)[key];
      if (member === undefined || typeof member === 'function' || typeof member === 'symbol') continue;
      if (!first) out += ',';
      first = false;
      out += `${JSON.stringify(key)}:${write(member, seen, depth + 1)}`;
    }
    out += '}';
  }
  seen.delete(value);
  return out;
}

/** Own enumerable keys in code-unit order (sorted only when they are not already). */
function sortedKeys(value: object): string[] {
  const keys = Object.keys(value);
  for (let i = 1; i < keys.length; i++) {
    if (keys[i - 1]! > keys[i]!) return keys.sort();
  }
  return keys;
}

/** Whether a content type names JSON (`application/json`, `*+json`). */
export function isJsonType(contentType: string | undefined): boolean {
  if (!contentType) return false;
  if (contentType === lastType) return lastIsJson;
  const type = contentType.split(';', 1)[0]!.trim().toLowerCase();
  lastType = contentType;
  lastIsJson = type === 'application/json' || type.endsWith('+json');
  return lastIsJson;
}

// The last content type asked about: a server sees the same one request after request.
let lastType = '';
let lastIsJson = false;

/**
 * Canonical JSON of a value that came from `JSON.parse` (plain objects, arrays, strings, numbers,
 * booleans and null: no `toJSON`, no cycles, nothing to drop), the same text as {@link canonicalJson}
 * with less work.
 */
function parsedJson(value: unknown, depth: number): string {
  if (typeof value !== 'object' || value === null) return JSON.stringify(value);
  if (depth >= MAX_JSON_DEPTH) throw tooDeep();
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ',';
      out += parsedJson(value[i], depth + 1);
    }
    return `${out}]`;
  }
  const keys = sortedKeys(value);
  let out = '{';
  for (let i = 0; i < keys.length; i++) {
    if (i > 0) out += ',';
    const key = keys[i]!;
    out += `${JSON.stringify(key)}:${parsedJson((value as Record<string, unknown>)[key], depth + 1)}`;
  }
  return `${out}}`;
}

/**
 * The fingerprint of a request: method, path, query and body. JSON bodies (by content type, or already
 * parsed by a body parser) count by their canonical JSON, so key order does not matter; other bodies
 * by their bytes. One SHA-256, base64url.
 *
 * @example
 * ```ts
 * const fp = fingerprint('POST', '/v1/messages', '', { kind: 'parsed', value: { to: '+1' }, contentType: 'application/json' });
 * ```
 */
export function fingerprint(method: string, path: string, query: string, body: RequestBody): string {
  const head = `${method}\u0000${path}\u0000${query}\u0000`;
  if (body.kind === 'none') return sha256(`${head}n`);
  if (body.kind === 'parsed') return sha256(`${head}j${canonicalJson(body.value)}`);
  if (body.bytes.byteLength === 0) return sha256(`${head}n`);
  if (isJsonType(body.contentType)) {
    const text = utf8(body.bytes);
    if (text !== undefined) {
      let json: unknown = NOT_JSON;
      try {
        json = JSON.parse(text);
      } catch {
        // Not JSON after all: counted by its bytes.
      }
      if (json !== NOT_JSON) return sha256(`${head}j${parsedJson(json, 0)}`);
    }
  }
  return createHash('sha256').update(head).update('b').update(body.bytes).digest('base64url');
}

const NOT_JSON = Symbol('not json');
const UTF8 = new TextDecoder('utf-8', { fatal: true });

function utf8(bytes: Uint8Array): string | undefined {
  try {
    return UTF8.decode(bytes);
  } catch {
    return undefined;
  }
}
