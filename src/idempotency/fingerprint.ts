import { createHash } from 'node:crypto';
import type { RequestBody } from '../guard/types.js';
import { exactCanonicalJson, MAX_JSON_DEPTH, mayLoseNumbers, tooDeep } from './exact-json.js';
import { sha256 } from './hash.js';

export { MAX_JSON_DEPTH };

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
  const sorted = sortedData(value, 0);
  return sorted === NOT_PLAIN ? write(value, new Set(), 0) : (JSON.stringify(sorted) ?? 'null');
}

/** What {@link sortedData} returns for a value it leaves to the general writer. */
const NOT_PLAIN = Symbol('not plain');

/**
 * How deep {@link sortedData} walks before it leaves a value to the general writer (which detects
 * cycles: a cycle is deeper than this, so the fast path needs no set of the objects on its path).
 */
const PLAIN_DEPTH = 64;

/**
 * The fast path of {@link canonicalJson}, for plain data as a body parser makes it: the same value with
 * the keys of every object in code-unit order (an object already in order is kept, others are copied),
 * for `JSON.stringify` to write in one native pass. Whatever that pass might write otherwise than
 * {@link write} is {@link NOT_PLAIN}: an object that is not a plain object or an array (a class
 * instance, a boxed primitive, anything with `toJSON`), a bigint, an array-index or `__proto__` key (a
 * copy could not hold it in order), or nesting deeper than {@link PLAIN_DEPTH}.
 */
function sortedData(value: unknown, depth: number): unknown {
  if (typeof value !== 'object' || value === null) return typeof value === 'bigint' ? NOT_PLAIN : value;
  if (depth >= PLAIN_DEPTH || typeof (value as { toJSON?: unknown }).toJSON === 'function') return NOT_PLAIN;
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      const sorted = sortedData(item, depth + 1);
      if (sorted === NOT_PLAIN) return NOT_PLAIN;
      if (sorted !== item) {
        copy ??= value.slice();
        copy[i] = sorted;
      }
    }
    return copy ?? value;
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return NOT_PLAIN;
  const keys = Object.keys(value);
  let inOrder = true;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    const first = key.charCodeAt(0);
    if ((first >= 48 && first <= 57) || key === '__proto__') return NOT_PLAIN;
    if (i > 0 && keys[i - 1]! > key) inOrder = false;
  }
  if (!inOrder) sortKeys(keys);
  // Keys out of order need a copy in order; keys in order are copied only if a member had to be (the
  // spread then holds them in the same order).
  let copy: Record<string, unknown> | undefined = inOrder ? undefined : {};
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    const member: unknown = (value as Record<string, unknown>)[key];
    const sorted = sortedData(member, depth + 1);
    if (sorted === NOT_PLAIN) return NOT_PLAIN;
    if (copy === undefined && sorted !== member) copy = { ...(value as Record<string, unknown>) };
    if (copy !== undefined) copy[key] = sorted;
  }
  return copy ?? value;
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
    if (keys[i - 1]! > keys[i]!) return sortKeys(keys);
  }
  return keys;
}

/**
 * Sorts keys in code-unit order, in place: by insertion for the few keys of a typical object (several
 * times faster than `Array.prototype.sort` there), by `sort()` beyond that.
 */
function sortKeys(keys: string[]): string[] {
  if (keys.length > 16) return keys.sort();
  for (let i = 1; i < keys.length; i++) {
    const key = keys[i]!;
    let j = i - 1;
    while (j >= 0 && keys[j]! > key) {
      keys[j + 1] = keys[j]!;
      j--;
    }
    keys[j + 1] = key;
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
 * The fingerprint of a request: method, path, query and body. JSON bodies (by content type, or already
 * parsed by a body parser) count by their canonical JSON, so key order and whitespace do not matter;
 * other bodies by their bytes. One SHA-256, base64url.
 *
 * Numbers count by their exact value when the guard has the bytes (no body parser ran before it, or the
 * fetch adapter): `1.0` is `1` and `-0` is `0`, but `9007199254740993` is not `9007199254740992` and
 * `1e400` is neither `1e401` nor `null`. A value a body parser already made holds doubles: precision was
 * lost before the guard saw it, and such numbers count as the parser left them (`JSON.stringify`: both
 * of those integers are `9007199254740992`, `1e400` is `null`). Both ways agree on every number a double
 * holds exactly, so the two mount orders give one fingerprint for such bodies.
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
      if (json !== NOT_JSON) {
        // Numbers that a double cannot hold are read from the text; all others from the parsed value,
        // which gives the same canonical JSON in one native pass.
        return sha256(`${head}j${mayLoseNumbers(text) ? exactCanonicalJson(text) : canonicalJson(json)}`);
      }
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
