/**
 * Reading a thrown value that may be hostile: a getter that throws, a Proxy whose every trap throws, a
 * revoked Proxy, an object without a prototype. Nothing here throws, whatever the value. @internal
 */

/** What {@link read} gives for a property whose read threw. */
export const THREW: unique symbol = Symbol('bulwark.threw');

/** `value[key]`, or {@link THREW} when reading it threw. */
export function read(value: object, key: PropertyKey): unknown {
  try {
    return (value as Record<PropertyKey, unknown>)[key];
  } catch {
    return THREW;
  }
}

/** `value instanceof type`, false when the check threw (a Proxy's `getPrototypeOf` trap). */
export function isInstance(value: unknown, type: abstract new (...args: never[]) => unknown): boolean {
  try {
    return value instanceof type;
  } catch {
    return false;
  }
}

/** Most own keys read from an untrusted object: enough for any real error, bounded for a hostile one. */
const MAX_KEYS = 100;

/**
 * The own enumerable string-keyed entries of an untrusted object (at most 100), each read on its own so
 * that one throwing getter costs only its own entry. A Map, a `Headers` or an array of `[name, value]`
 * pairs gives its pairs. Never throws.
 */
export function entriesOf(value: unknown): Array<[unknown, unknown]> {
  if (typeof value !== 'object' || value === null) return [];
  const out: Array<[unknown, unknown]> = [];
  try {
    const iterator = read(value, Symbol.iterator);
    if (typeof iterator === 'function') {
      for (const pair of value as Iterable<unknown>) {
        if (out.length >= MAX_KEYS) break;
        if (Array.isArray(pair) && pair.length === 2) out.push([pair[0], pair[1]]);
      }
      return out;
    }
    const keys = Object.keys(value);
    for (let i = 0; i < keys.length && i < MAX_KEYS; i++) {
      const field = read(value, keys[i]!);
      if (field !== THREW) out.push([keys[i], field]);
    }
  } catch {
    // a throwing ownKeys trap or iterator: what was read so far is kept
  }
  return out;
}

/** A plain copy of an untrusted record: all of it, or when that throws, its entries as {@link entriesOf} reads them. */
export function copyRecord(value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return {};
  try {
    return { ...value };
  } catch {
    // a getter or a trap threw: read what can be read, one entry at a time
  }
  const out: Record<string, unknown> = {};
  for (const [key, field] of entriesOf(value)) {
    if (typeof key === 'string' && key !== '__proto__') out[key] = field;
  }
  return out;
}

/**
 * A one-line description of any value for a log line: `Name: message` for an error, else its string
 * form; `[unprintable value]` when even that throws. Never throws.
 */
export function describe(value: unknown): string {
  try {
    if (typeof value === 'object' && value !== null) {
      const name = read(value, 'name');
      const message = read(value, 'message');
      if (typeof message === 'string' && isInstance(value, Error)) return `${typeof name === 'string' ? name : 'Error'}: ${message}`;
    }
    return String(value);
  } catch {
    try {
      return Object.prototype.toString.call(value);
    } catch {
      return '[unprintable value]';
    }
  }
}
