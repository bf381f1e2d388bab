import { ApiError } from '../errors/api-error.js';

/**
 * Deepest nesting of a JSON body that is fingerprinted. A body parser accepts JSON nested far deeper (tens
 * of thousands of levels), which would exhaust the stack here: such a body is refused with 422
 * `invalid_request` instead of failing with a 500.
 */
export const MAX_JSON_DEPTH = 512;

/** The error for JSON nested deeper than {@link MAX_JSON_DEPTH}. @internal */
export function tooDeep(): ApiError {
  return new ApiError('invalid_request', { message: `The request body is nested more than ${MAX_JSON_DEPTH} levels deep.` });
}

/**
 * Whether JSON text may hold a number that `JSON.parse` cannot keep exactly: one with an exponent, or 16
 * or more digits and points (a number of at most 15 significant digits and no exponent is always a double
 * that `JSON.stringify` writes back with the same value). Errs towards true: the text of strings is
 * searched too, and a `true` only means that {@link exactCanonicalJson} has to walk the text.
 * @internal
 */
export function mayLoseNumbers(text: string): boolean {
  return RISKY_NUMBER.test(text);
}

/** A number lexeme after the start, a `:`, `,` or `[` that has an exponent or 16 digits and points. */
const RISKY_NUMBER = /(?:^|[:,[])[ \t\n\r]*-?(?:[0-9.]{16}|[0-9][0-9.]*[eE])/;

/**
 * The canonical JSON of JSON text (text that `JSON.parse` accepts), written from the text itself so that
 * every number keeps its exact value: object keys in code-unit order (the last of two equal keys wins,
 * as with `JSON.parse`), whitespace dropped, strings as `JSON.stringify` writes them, and each number as
 * {@link canonicalNumber} writes it. For text whose numbers are all doubles written exactly, this is the
 * canonical JSON of `JSON.parse(text)` character for character.
 *
 * @throws ApiError 422 `invalid_request` for nesting deeper than {@link MAX_JSON_DEPTH}
 * @internal
 */
export function exactCanonicalJson(text: string): string {
  const cursor = { text, at: 0 };
  return value(cursor, 0);
}

interface Cursor {
  readonly text: string;
  at: number;
}

function skipSpace(c: Cursor): void {
  const text = c.text;
  let at = c.at;
  for (;;) {
    const code = text.charCodeAt(at);
    if (code !== 32 && code !== 10 && code !== 13 && code !== 9) break;
    at++;
  }
  c.at = at;
}

function value(c: Cursor, depth: number): string {
  skipSpace(c);
  const code = c.text.charCodeAt(c.at);
  if (code === 123 /* { */ || code === 91 /* [ */) {
    if (depth >= MAX_JSON_DEPTH) throw tooDeep();
    return code === 123 ? object(c, depth) : array(c, depth);
  }
  if (code === 34 /* " */) return string(c).canonical;
  if (code === 116 /* t */ || code === 110 /* n */) {
    c.at += 4;
    return code === 116 ? 'true' : 'null';
  }
  if (code === 102 /* f */) {
    c.at += 5;
    return 'false';
  }
  const start = c.at;
  let at = start;
  const text = c.text;
  for (;;) {
    const digit = text.charCodeAt(at);
    // Digits, '.', 'e', 'E', '+' and '-': what a number lexeme is made of.
    if ((digit >= 48 && digit <= 57) || digit === 46 || digit === 101 || digit === 69 || digit === 43 || digit === 45) at++;
    else break;
  }
  c.at = at;
  return canonicalNumber(text.slice(start, at));
}

function object(c: Cursor, depth: number): string {
  c.at++;
  const members = new Map<string, string>();
  skipSpace(c);
  if (c.text.charCodeAt(c.at) === 125 /* } */) {
    c.at++;
    return '{}';
  }
  for (;;) {
    skipSpace(c);
    const key = string(c);
    skipSpace(c);
    c.at++; // ':'
    const member = value(c, depth + 1);
    // A key seen before keeps its place in the map, and takes the later value, as JSON.parse does.
    members.set(key.decoded, `${key.canonical}:${member}`);
    skipSpace(c);
    if (c.text.charCodeAt(c.at++) !== 44 /* , */) break;
  }
  const keys = [...members.keys()].sort();
  let out = '{';
  for (let i = 0; i < keys.length; i++) {
    if (i > 0) out += ',';
    out += members.get(keys[i]!)!;
  }
  return `${out}}`;
}

function array(c: Cursor, depth: number): string {
  c.at++;
  skipSpace(c);
  if (c.text.charCodeAt(c.at) === 93 /* ] */) {
    c.at++;
    return '[]';
  }
  let out = '[';
  for (;;) {
    out += value(c, depth + 1);
    skipSpace(c);
    if (c.text.charCodeAt(c.at++) !== 44 /* , */) break;
    out += ',';
  }
  return `${out}]`;
}

/** A string lexeme: what it says, and how `JSON.stringify` writes that. */
function string(c: Cursor): { decoded: string; canonical: string } {
  const text = c.text;
  const start = c.at;
  let at = start + 1;
  let escaped = false;
  for (;;) {
    const code = text.charCodeAt(at);
    if (code === 34 /* " */) break;
    if (code === 92 /* \ */) {
      escaped = true;
      at += 2;
    } else {
      at++;
    }
  }
  c.at = at + 1;
  if (!escaped) {
    // Valid JSON holds no quote, backslash or control character unescaped, and text decoded from UTF-8
    // no lone surrogate: JSON.stringify would write these characters as they are.
    return { decoded: text.slice(start + 1, at), canonical: text.slice(start, at + 1) };
  }
  const decoded = JSON.parse(text.slice(start, at + 1)) as string;
  return { decoded, canonical: JSON.stringify(decoded) };
}

/**
 * The canonical text of a JSON number lexeme: its exact decimal value, written as ECMAScript writes a
 * Number (`String(x)`: the same choice between plain and exponent notation), but with every significant
 * digit of the lexeme. Two lexemes give the same text exactly when they have the same value: `1.0`, `1`,
 * `1e0` and `10E-1` are all `1`, and `-0` is `0` (as `JSON.stringify` writes it); `9007199254740993` stays
 * itself (a double would make it `9007199254740992`), and so does `1e400` (a double would make it
 * `Infinity`, which JSON.stringify writes as `null`). For a lexeme whose value is a double, this is
 * `String(Number(lexeme))`.
 *
 * @example
 * ```ts
 * canonicalNumber('1.50e2'); // '150'
 * canonicalNumber('9007199254740993'); // '9007199254740993' (String(9007199254740993) is '9007199254740992')
 * ```
 * @internal
 */
export function canonicalNumber(lexeme: string): string {
  const length = lexeme.length;
  const negative = lexeme.charCodeAt(0) === 45;
  let at = negative ? 1 : 0;
  const intStart = at;
  while (at < length && isDigit(lexeme.charCodeAt(at))) at++;
  const intEnd = at;
  let fracStart = at;
  let fracEnd = at;
  if (lexeme.charCodeAt(at) === 46 /* . */) {
    fracStart = at + 1;
    at = fracStart;
    while (at < length && isDigit(lexeme.charCodeAt(at))) at++;
    fracEnd = at;
  }
  let exponentSign = 1;
  let exponentDigits = '';
  if (at < length) {
    at++; // 'e' or 'E'
    const sign = lexeme.charCodeAt(at);
    if (sign === 45 || sign === 43) {
      exponentSign = sign === 45 ? -1 : 1;
      at++;
    }
    while (at < length - 1 && lexeme.charCodeAt(at) === 48) at++;
    exponentDigits = lexeme.slice(at);
  }
  const digits = lexeme.slice(intStart, intEnd) + lexeme.slice(fracStart, fracEnd);
  let first = 0;
  while (first < digits.length && digits.charCodeAt(first) === 48) first++;
  if (first === digits.length) return '0';
  let end = digits.length;
  while (digits.charCodeAt(end - 1) === 48) end--;
  const significant = digits.slice(first, end);
  // The value is 0.<significant> x 10^n (ECMAScript's n): shift the exponent by the fraction's digits
  // and the trailing zeros dropped.
  const shift = significant.length + (digits.length - end) - (fracEnd - fracStart);
  const sign = negative ? '-' : '';
  if (exponentDigits.length <= 15) {
    const n = (exponentDigits === '' ? 0 : exponentSign * Number(exponentDigits)) + shift;
    return sign + layout(significant, n);
  }
  // An exponent of 16 digits or more: n is far outside the range of plain notation.
  const e = BigInt(exponentSign) * BigInt(exponentDigits) + BigInt(shift) - 1n;
  return `${sign}${mantissa(significant)}e${e < 0n ? '-' : '+'}${e < 0n ? -e : e}`;
}

function isDigit(code: number): boolean {
  return code >= 48 && code <= 57;
}

/** ECMAScript's Number::toString layout of the value 0.<digits> x 10^n (digits without trailing zeros). */
function layout(digits: string, n: number): string {
  const k = digits.length;
  if (k <= n && n <= 21) return digits + '0'.repeat(n - k);
  if (0 < n && n <= 21) return `${digits.slice(0, n)}.${digits.slice(n)}`;
  if (-6 < n && n <= 0) return `0.${'0'.repeat(-n)}${digits}`;
  const e = n - 1;
  return `${mantissa(digits)}e${e < 0 ? '-' : '+'}${Math.abs(e)}`;
}

function mantissa(digits: string): string {
  return digits.length === 1 ? digits : `${digits[0]}.${digits.slice(1)}`;
}
