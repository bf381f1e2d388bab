/**
 * The frame of the capture properties (express-property.test.ts, koa-property.test.ts): per framework
 * version, one server without bulwark and one with idempotency, and for each random program the same
 * request sent to the first, then twice with one key to the second. What must hold of the three
 * exchanges is each test's own.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { type Exchange, exchange, type RawResponse } from './raw-http.js';
import type { Listening } from './servers.js';

/** Headers that differ between two sendings of one response by nature: the date and the framing. */
export const TRANSPORT = new Set(['date', 'connection', 'keep-alive', 'transfer-encoding', 'content-length', 'idempotent-replayed']);

/** A response less its transport headers, its body as latin1 (every byte kept). */
export const shown = (r: RawResponse) => ({
  status: r.status,
  reason: r.reason,
  headers: r.headers.filter(([name]) => !TRANSPORT.has(name)),
  body: r.body.toString('latin1'),
});

/** One response, correctly framed, on an unbroken connection, nothing after it. */
export const whole = (x: Exchange) => !x.broken && x.responses.length === 1 && x.surplus.length === 0;

/** The program's request, to the server without bulwark, then twice with one key to the guarded one. */
export interface Sent {
  without: Exchange;
  first: Exchange;
  again: Exchange;
}

/** One capture property, for {@link describeCaptureProperty}. */
export interface CaptureProperty<P, F> {
  /** Each framework version under test, with its name (in titles and program ids). */
  frameworks: ReadonlyArray<readonly [string, F]>;
  /** A server of `make` on 127.0.0.1 that runs the program named by `x-program` in `programs`. */
  server: (make: F, guarded: boolean) => Promise<Listening>;
  program: fc.Arbitrary<P>;
  /** Where `server`'s handler finds each program, by id, while it is sent. */
  programs: Map<string, P>;
  numRuns: number;
  /** What must hold of the three exchanges of `p`. */
  check: (p: P, sent: Sent) => void;
}

/**
 * One describe block per framework version, one fast-check property in each.
 *
 * @example
 * ```ts
 * describeCaptureProperty({ frameworks: [['Koa 3', Koa]], server, program, programs, numRuns: 60, check: (p, { first }) => expect(whole(first)).toBe(true) });
 * ```
 */
export function describeCaptureProperty<P, F>(property: CaptureProperty<P, F>): void {
  for (const [name, make] of property.frameworks) {
    describe(`${name}: the capture sends what the application sends`, () => {
      let bare: Listening;
      let guarded: Listening;
      beforeAll(async () => {
        bare = await property.server(make, false);
        guarded = await property.server(make, true);
      });
      afterAll(() => {
        bare?.close();
        guarded?.close();
      });

      it('for random handlers, with and without bulwark, and on replay', { timeout: 30_000 }, async () => {
        let n = 0;
        await fc.assert(
          fc.asyncProperty(property.program, async (p) => {
            const id = `${name}-${++n}`;
            property.programs.set(id, p);
            const request = (key?: string) => ({
              method: 'POST',
              path: '/run',
              headers: { 'content-type': 'application/json', 'x-program': id, ...(key ? { 'idempotency-key': key } : {}) },
              body: '{}',
            });
            const without = await exchange(bare.port, [request()]);
            const first = await exchange(guarded.port, [request(id)]);
            const again = await exchange(guarded.port, [request(id)]);
            property.programs.delete(id);
            property.check(p, { without, first, again });
          }),
          { numRuns: property.numRuns },
        );
      });
    });
  }
}
