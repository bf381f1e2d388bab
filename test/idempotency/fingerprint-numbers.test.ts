/**
 * The fingerprint of JSON bytes keeps every number's exact value: numbers count by their decimal value
 * (never by a double's rounding), while whitespace and key order stay insignificant, and for numbers a
 * double holds exactly the bytes agree with the value a body parser makes (so both mount orders agree).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ApiError } from '../../src/errors/api-error.js';
import type { RequestBody } from '../../src/guard/types.js';
import { canonicalNumber, exactCanonicalJson, MAX_JSON_DEPTH } from '../../src/idempotency/exact-json.js';
import { canonicalJson, fingerprint } from '../../src/idempotency/fingerprint.js';

const bytes = (text: string): RequestBody => ({ kind: 'bytes', bytes: new TextEncoder().encode(text), contentType: 'application/json' });
const fp = (text: string) => fingerprint('POST', '/v1/orders', '', bytes(text));
const parsedFp = (value: unknown) => fingerprint('POST', '/v1/orders', '', { kind: 'parsed', value, contentType: 'application/json' });

/** A decimal lexeme as parts: sign, integer digits, fraction digits, exponent. */
interface Lexeme {
  negative: boolean;
  int: string;
  frac: string;
  exp: number | undefined;
  upper: boolean;
  plus: boolean;
}

function write(l: Lexeme): string {
  const exp = l.exp === undefined ? '' : `${l.upper ? 'E' : 'e'}${l.exp < 0 ? '-' : l.plus ? '+' : ''}${Math.abs(l.exp)}`;
  return `${l.negative ? '-' : ''}${l.int}${l.frac === '' ? '' : `.${l.frac}`}${exp}`;
}

/** The exact value as (coefficient, exponent of ten), by BigInt: the reference the canonical text is held to. */
function exact(l: Lexeme): { m: bigint; e: number } {
  const m = BigInt(l.int + l.frac) * (l.negative ? -1n : 1n);
  return { m, e: (l.exp ?? 0) - l.frac.length };
}

function sameValue(a: Lexeme, b: Lexeme): boolean {
  const x = exact(a);
  const y = exact(b);
  if (x.m === 0n || y.m === 0n) return x.m === y.m;
  const e = Math.min(x.e, y.e);
  return x.m * 10n ** BigInt(x.e - e) === y.m * 10n ** BigInt(y.e - e);
}

const digits = (min: number, max: number) => fc.array(fc.constantFrom(...'0123456789'), { minLength: min, maxLength: max }).map((d) => d.join(''));
const lexeme: fc.Arbitrary<Lexeme> = fc.record({
  negative: fc.boolean(),
  // JSON: no leading zero in the integer part.
  int: fc.oneof(fc.constant('0'), fc.tuple(fc.constantFrom(...'123456789'), digits(0, 25)).map(([a, b]) => a + b)),
  frac: fc.oneof(fc.constant(''), digits(1, 25)),
  exp: fc.option(fc.integer({ min: -420, max: 420 }), { nil: undefined }),
  upper: fc.boolean(),
  plus: fc.boolean(),
});

/** Another lexeme of the same value: digits moved between the integer part, the fraction and the exponent, zeros added. */
function respell(l: Lexeme, shift: number, zeros: number): Lexeme {
  const all = `${l.int}${l.frac}${'0'.repeat(zeros)}`;
  const e = (l.exp ?? 0) - l.frac.length - zeros;
  // Write all digits as an integer with exponent e, then move `shift` of them into the fraction.
  const cut = Math.max(1, all.length - Math.max(0, shift));
  let int = all.slice(0, cut).replace(/^0+(?=\d)/, '');
  const frac = all.slice(cut);
  if (int === '') int = '0';
  return { ...l, int, frac, exp: e + frac.length, plus: !l.plus, upper: !l.upper };
}

describe('numbers in the fingerprint of JSON bytes', () => {
  it('named cases: big integers, 1e400, -0, 1.0 and 1, exponents', () => {
    expect(fp('{"n":9007199254740993}')).not.toBe(fp('{"n":9007199254740992}'));
    expect(fp('{"n":12345678901234567890123}')).not.toBe(fp('{"n":12345678901234567890124}'));
    expect(fp('{"n":0.1}')).not.toBe(fp('{"n":0.10000000000000001}')); // one double, two values
    expect(fp('{"n":1e400}')).not.toBe(fp('{"n":1e401}'));
    expect(fp('{"n":1e400}')).not.toBe(fp('{"n":null}'));
    expect(fp('{"n":-1e400}')).not.toBe(fp('{"n":1e400}'));
    expect(fp('{"n":1e-400}')).not.toBe(fp('{"n":0}'));
    expect(fp('{"n":1e-400}')).not.toBe(fp('{"n":2e-400}'));
    expect(fp('{"n":1e1000000000000000000000}')).not.toBe(fp('{"n":1e1000000000000000000001}'));
    // The same value, spelled otherwise: one fingerprint.
    expect(fp('{"n":-0}')).toBe(fp('{"n":0}'));
    expect(fp('{"n":-0.0e7}')).toBe(fp('{"n":0}'));
    expect(fp('{"n":1.0}')).toBe(fp('{"n":1}'));
    for (const same of ['100', '1e2', '1E2', '1e+2', '1E+02', '100.000', '0.1e3', '1000e-1']) expect(fp(`{"n":${same}}`), same).toBe(fp('{"n":100}'));
    expect(fp('{"n":9007199254740993.0}')).toBe(fp('{"n":9007199254740993}'));
    expect(fp('{"n":1e400}')).toBe(fp('{"n":10E399}'));
    expect(fp('{"n":1e1000000000000000000000}')).toBe(fp('{"n":0.1e1000000000000000000001}'));
    // Whitespace and key order still do not matter, with such a number in the body.
    expect(fp('{"a":[1e400, 9007199254740993],"b":{"y":1,"x":"\\u0041"}}')).toBe(fp(' { "b" : { "x" : "A" , "y" : 1.0 } ,\n\t"a" : [ 10e399 ,9007199254740993 ] } '));
    // As JSON.parse: the last of two equal keys counts.
    expect(fp('{"n":1,"n":9007199254740993}')).toBe(fp('{"n":9007199254740993}'));
    expect(fp('{"n":9007199254740993,"n":1}')).toBe(fp('{"n":1}'));
  });

  it('canonicalNumber: two lexemes give one text exactly when they have one value', () => {
    fc.assert(
      fc.property(lexeme, lexeme, (a, b) => (canonicalNumber(write(a)) === canonicalNumber(write(b))) === sameValue(a, b)),
      { numRuns: 3000 },
    );
    fc.assert(
      fc.property(lexeme, fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 5 }), (a, shift, zeros) => {
        const b = respell(a, shift, zeros);
        expect(sameValue(a, b)).toBe(true);
        expect(canonicalNumber(write(b)), `${write(a)} ${write(b)}`).toBe(canonicalNumber(write(a)));
      }),
      { numRuns: 3000 },
    );
  });

  it('canonicalNumber is String(x) for a lexeme whose value is the double x, however it is spelled', () => {
    const spellings = (x: number) => [String(x), x.toExponential(), x.toExponential().toUpperCase(), JSON.stringify(x)];
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (x) => {
        for (const s of spellings(x)) expect(canonicalNumber(s), s).toBe(String(Object.is(x, -0) ? 0 : x));
      }),
      { numRuns: 5000 },
    );
    for (const x of [Number.MAX_VALUE, Number.MIN_VALUE, 2 ** 53, 1e21, 1e-7, 123e-20, 0.000001, 1.5e300]) {
      for (const s of spellings(x)) expect(canonicalNumber(s), s).toBe(String(x));
    }
  });

  it('JSON bytes and the value a parser makes of them give one fingerprint whenever each number is a double', () => {
    const indent = fc.constantFrom(undefined, 0, 1, 2, '\t');
    fc.assert(
      fc.property(fc.jsonValue(), indent, (value, space) => {
        const text = JSON.stringify(value, null, space);
        expect(exactCanonicalJson(text)).toBe(canonicalJson(JSON.parse(text)));
        expect(fp(text)).toBe(parsedFp(JSON.parse(text)));
      }),
      { numRuns: 2000 },
    );
    // Doubles spelled with exponents and extra digits (the text the exact walk reads) still agree.
    fc.assert(
      fc.property(fc.array(fc.double({ noNaN: true, noDefaultInfinity: true }), { maxLength: 8 }), (xs) => {
        const text = `{"xs":[${xs.map((x) => x.toExponential()).join(', ')}], "s":"1e5"}`;
        expect(fp(text)).toBe(parsedFp(JSON.parse(text)));
      }),
      { numRuns: 1000 },
    );
  });

  it(`a body nested deeper than ${MAX_JSON_DEPTH} levels is refused with 422 on the exact walk too`, () => {
    const nested = (levels: number) => `${'['.repeat(levels)}1e400${']'.repeat(levels)}`;
    expect(() => fp(nested(MAX_JSON_DEPTH))).not.toThrow();
    let refused: unknown;
    try {
      fp(nested(MAX_JSON_DEPTH + 1));
    } catch (err) {
      refused = err;
    }
    expect(refused).toBeInstanceOf(ApiError);
    expect((refused as ApiError).status).toBe(422);
    // The same bound as for a body without such numbers.
    expect(() => fp(`${'['.repeat(MAX_JSON_DEPTH + 1)}1${']'.repeat(MAX_JSON_DEPTH + 1)}`)).toThrow(ApiError);
  });
});
