/**
 * Shadow mode of rateLimit and spendCap: the guard asks the store exactly as enforcing does (a request
 * that enforcing would refuse consumes nothing), publishes the same decisions with `wouldDeny: true`, and
 * lets every request through, without rate-limit headers unless `shadowHeaders` asks for them; refunds of
 * admitted requests work as when enforcing; setMode switches a mounted middleware at run time.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { AddressInfo } from 'node:net';
import express from 'express';
import Koa from 'koa';
import { afterEach, describe, expect, it } from 'vitest';
import * as expressAdapter from '../../adapters/express.js';
import * as koaAdapter from '../../adapters/koa.js';
import { CHANNELS, type RateLimitEvent, type SpendCapEvent } from '../../src/events/channels.js';
import type { Decision, Outcome } from '../../src/guard/types.js';
import { MemoryThrottleStore } from '../../src/stores/memory/throttle.js';
import { createRateLimiter } from '../../src/throttle/rate-limiter.js';
import { createSpendCap } from '../../src/throttle/spend-cap.js';
import { view } from '../throttle/view.js';

/**
 * The middleware's `mode` (a getter `withControls` copies from the guard), read through a cast: the
 * middleware's type (ControlsOf in src/guard/controls.ts) names the control functions only.
 */
const modeOf = (middleware: object): unknown => (middleware as { mode?: unknown }).mode;

let stops: Array<() => void> = [];
function listen<T>(name: string): T[] {
  const events: T[] = [];
  const onMessage = (message: unknown) => events.push(message as T);
  subscribe(name, onMessage);
  stops.push(() => unsubscribe(name, onMessage));
  return events;
}
afterEach(() => {
  for (const stop of stops) stop();
  stops = [];
});

/** A small deterministic generator (mulberry32), so that a failure can be replayed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const outcome = (status: number): Outcome => ({ status, replayed: false, thrown: false, ran: true, completed: true });
/** Events of one mode with the fields that differ by mode taken off. */
const decisions = <E extends { mode: string; wouldDeny: boolean }>(events: E[], mode: string) =>
  events.filter((e) => e.mode === mode).map(({ mode: _m, wouldDeny: _w, ...rest }) => rest);

describe('side by side: one limiter enforcing, one in shadow, the same requests on the same clock', () => {
  for (const algorithm of ['gcra', 'sliding-window'] as const) {
    for (const seed of [1, 2, 3]) {
      it(`${algorithm}, seed ${seed}: identical decisions and state; the shadow one lets every request through`, async () => {
        const clock = { ms: 1_700_000_000_000 };
        const build = (mode: 'enforce' | 'shadow') =>
          createRateLimiter<{ account: string; cost: number }>({
            name: 'side',
            limit: 5,
            windowMs: 1000,
            algorithm,
            mode,
            store: { throttle: new MemoryThrottleStore({ max: 1000 }, () => clock.ms) },
            key: (req) => req.account,
            cost: (req) => req.cost,
            skipFailedRequests: true,
          });
        const enforcing = build('enforce');
        const shadow = build('shadow');
        const events = listen<RateLimitEvent>(CHANNELS.rateLimit);
        const next = random(seed);
        let refused = 0;
        for (let i = 0; i < 400; i++) {
          clock.ms += Math.floor(next() * 300);
          const request = { account: ['a', 'b', 'c'][Math.floor(next() * 3)]!, cost: next() < 0.05 ? 7 : Math.floor(next() * 4) };
          const status = next() < 0.2 ? 500 : 200;
          const enforced = (await enforcing.check(view('203.0.113.7', {}, request))) as Decision;
          const shadowed = (await shadow.check(view('203.0.113.7', {}, request))) as Decision;
          expect(shadowed.type).toBe('next');
          if (shadowed.type === 'next') {
            expect(shadowed.headers).toBeUndefined();
            shadowed.onOutcome?.(outcome(status));
          }
          if (enforced.type === 'next') enforced.onOutcome?.(outcome(status));
          else refused += 1;
        }
        expect(refused).toBeGreaterThan(20);
        const enforced = decisions(events, 'enforce');
        expect(enforced).toHaveLength(events.length / 2);
        expect(decisions(events, 'shadow')).toEqual(enforced);
        expect(enforced.filter((e) => e.decision === 'refund').length).toBeGreaterThan(10);
        expect(events.filter((e) => e.mode === 'enforce').every((e) => e.wouldDeny === false)).toBe(true);
        for (const e of events.filter((e) => e.mode === 'shadow')) {
          expect(e.wouldDeny).toBe(e.decision === 'throttle' || e.decision === 'too-costly');
        }
        for (const account of ['a', 'b', 'c']) expect(await shadow.peek(account)).toEqual(await enforcing.peek(account));
      });
    }
  }

  it('spendCap: identical decisions and totals; the shadow cap lets every request through', async () => {
    const clock = { ms: Date.parse('2025-03-14T10:00:00Z') };
    const build = (mode: 'enforce' | 'shadow') =>
      createSpendCap<{ account: string; cost: number }>({
        name: 'side',
        daily: 20,
        mode,
        store: { throttle: new MemoryThrottleStore({ max: 1000 }, () => clock.ms) },
        key: (req) => req.account,
        cost: (req) => req.cost,
      });
    const enforcing = build('enforce');
    const shadow = build('shadow');
    const events = listen<SpendCapEvent>(CHANNELS.spendCap);
    const next = random(9);
    let refused = 0;
    for (let i = 0; i < 200; i++) {
      const request = { account: ['a', 'b'][Math.floor(next() * 2)]!, cost: Math.floor(next() * 6) };
      const status = next() < 0.3 ? 502 : 201;
      const enforced = (await enforcing.check(view('203.0.113.7', {}, request))) as Decision;
      const shadowed = (await shadow.check(view('203.0.113.7', {}, request))) as Decision;
      expect(shadowed.type).toBe('next');
      if (shadowed.type === 'next') shadowed.onOutcome?.(outcome(status));
      if (enforced.type === 'next') enforced.onOutcome?.(outcome(status));
      else refused += 1;
    }
    expect(refused).toBeGreaterThan(20);
    const enforced = decisions(events, 'enforce');
    expect(decisions(events, 'shadow')).toEqual(enforced);
    expect(enforced.filter((e) => e.decision === 'refund').length).toBeGreaterThan(5);
    for (const e of events.filter((e) => e.mode === 'shadow')) expect(e.wouldDeny).toBe(e.decision === 'deny');
    // Totals (peek's resetMs reads the wall clock, not the store's).
    for (const account of ['a', 'b']) expect((await shadow.peek(account)).daily!.used).toBe((await enforcing.peek(account)).daily!.used);
  });
});

async function listening(app: { listen: (...args: any[]) => any }): Promise<{ url: string; close(): void }> {
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

describe('setMode switches a mounted middleware without rebuilding it', () => {
  it('Express rateLimit: shadow lets through without headers, enforce answers 429, and back', async () => {
    const limiter = expressAdapter.rateLimit({ limit: 1, windowMs: 60_000, key: () => 'one', mode: 'shadow' });
    const app = express();
    app.use(limiter);
    app.get('/', (_req, res) => {
      res.json({ ok: true });
    });
    app.use(expressAdapter.errorHandler({ onError: () => {} }));
    const events = listen<RateLimitEvent>(CHANNELS.rateLimit);
    const served = await listening(app);
    try {
      const get = async () => {
        const res = await fetch(served.url);
        await res.arrayBuffer();
        return { status: res.status, ratelimit: res.headers.get('ratelimit'), retryAfter: res.headers.get('retry-after') };
      };
      expect(modeOf(limiter)).toBe('shadow');
      expect(await get()).toEqual({ status: 200, ratelimit: null, retryAfter: null });
      expect(await get()).toEqual({ status: 200, ratelimit: null, retryAfter: null });
      limiter.setMode('enforce');
      expect(modeOf(limiter)).toBe('enforce');
      const refused = await get();
      expect(refused.status).toBe(429);
      expect(refused.ratelimit).toBe('"1-in-60s";r=0;t=60');
      expect(Number(refused.retryAfter)).toBeGreaterThanOrEqual(59);
      limiter.setMode('shadow');
      expect((await get()).status).toBe(200);
      expect(() => limiter.setMode('log' as never)).toThrow(new TypeError("rateLimit: setMode(mode) takes 'enforce' or 'shadow'"));
      expect(() => limiter.setMode(undefined as never)).toThrow(TypeError);
      expect(modeOf(limiter)).toBe('shadow');
      expect(events.map((e) => [e.decision, e.mode, e.wouldDeny])).toEqual([
        ['allow', 'shadow', false],
        ['throttle', 'shadow', true],
        ['throttle', 'enforce', false],
        ['throttle', 'shadow', true],
      ]);
    } finally {
      served.close();
    }
  });

  it('Koa spendCap: shadow lets a send past the cap through, enforce answers 403, and the cap stays where enforcing leaves it', async () => {
    const cap = koaAdapter.spendCap({ daily: 3, key: () => 'acct', cost: () => 2, mode: 'shadow', idempotencyKey: false });
    const app = new Koa();
    app.use(koaAdapter.errorHandler({ onError: () => {} }));
    app.use(cap);
    app.use((ctx) => {
      ctx.status = 201;
      ctx.body = { sent: true };
    });
    const served = await listening(app);
    try {
      const post = async () => (await fetch(served.url, { method: 'POST' })).status;
      expect(await post()).toBe(201); // spends 2
      expect(await post()).toBe(201); // would pass 3: let through, spends nothing
      cap.setMode('enforce');
      expect(modeOf(cap)).toBe('enforce');
      expect(await post()).toBe(403);
      expect((await cap.peek('acct')).daily!.used).toBe(2);
      cap.setMode('shadow');
      expect(await post()).toBe(201);
      expect(() => cap.setMode('audit' as never)).toThrow(new TypeError("spendCap: setMode(mode) takes 'enforce' or 'shadow'"));
    } finally {
      served.close();
    }
  });
});

describe('shadowHeaders', () => {
  it('sends the headers the decision would carry, never a 429 or Retry-After', async () => {
    const limiter = createRateLimiter({ limit: 1, windowMs: 60_000, key: () => 'k', mode: 'shadow', shadowHeaders: true });
    const first = (await limiter.check(view())) as Decision;
    const second = (await limiter.check(view())) as Decision;
    expect(first).toEqual({ type: 'next', headers: [['ratelimit-policy', '"1-in-60s";q=1;w=60'], ['ratelimit', '"1-in-60s";r=0;t=60']] });
    expect(second).toEqual({ type: 'next', headers: [['ratelimit-policy', '"1-in-60s";q=1;w=60'], ['ratelimit', '"1-in-60s";r=0;t=60']] });
  });
});

describe('shadow mode while the store is down', () => {
  const down = {
    throttle: {
      consume: () => {
        throw new Error('store down');
      },
      spend: () => {
        throw new Error('store down');
      },
    },
  };
  const quiet = { warn() {}, error() {} };

  it("onStoreError 'closed' refuses when enforcing and lets through in shadow, reporting the same decision", async () => {
    const events = listen<RateLimitEvent>(CHANNELS.rateLimit);
    const spends = listen<SpendCapEvent>(CHANNELS.spendCap);
    for (const mode of ['enforce', 'shadow'] as const) {
      const limiter = createRateLimiter({ name: `down-${mode}`, limit: 5, windowMs: 1000, key: () => 'k', store: down, onStoreError: 'closed', mode, logger: quiet });
      const cap = createSpendCap({ name: `down-${mode}`, daily: 5, key: () => 'k', store: down, onStoreError: 'closed', mode, logger: quiet, refund: false });
      const limited = (await limiter.check(view())) as Decision;
      const capped = (await cap.check(view())) as Decision;
      expect([limited.type, limited.type === 'respond' ? limited.status : 0]).toEqual(mode === 'enforce' ? ['respond', 503] : ['next', 0]);
      expect([capped.type, capped.type === 'respond' ? capped.status : 0]).toEqual(mode === 'enforce' ? ['respond', 503] : ['next', 0]);
    }
    expect(events.map((e) => [e.decision, e.source, e.mode, e.wouldDeny])).toEqual([
      ['throttle', 'closed', 'enforce', false],
      ['throttle', 'closed', 'shadow', true],
    ]);
    expect(spends.map((e) => [e.decision, e.source, e.mode, e.wouldDeny])).toEqual([
      ['deny', 'closed', 'enforce', false],
      ['deny', 'closed', 'shadow', true],
    ]);
  });

  it('a key function that fails still answers 500 in shadow mode', async () => {
    const limiter = createRateLimiter({
      limit: 5,
      windowMs: 1000,
      mode: 'shadow',
      key: () => {
        throw new Error('no account');
      },
    });
    const decision = (await limiter.check(view())) as Decision;
    expect(decision.type === 'respond' && decision.status).toBe(500);
  });
});

describe('options', () => {
  it.each([
    [{ mode: 'log' }, /rateLimit: options\.mode must be 'enforce' or 'shadow'/],
    [{ mode: 'Shadow' }, /options\.mode/],
    [{ mode: true }, /options\.mode/],
    [{ shadowHeaders: 'yes' }, /rateLimit: options\.shadowHeaders must be a boolean/],
  ])('rateLimit refuses %o', (extra, error) => {
    expect(() => createRateLimiter({ limit: 1, windowMs: 1000, ...(extra as object) })).toThrow(error);
    expect(() => createRateLimiter({ limit: 1, windowMs: 1000, ...(extra as object) })).toThrow(TypeError);
  });

  it.each([
    [{ mode: 'log' }, /spendCap: options\.mode must be 'enforce' or 'shadow'/],
    [{ mode: null }, /options\.mode/],
    [{ shadowHeaders: true }, /spendCap: unknown option "shadowHeaders"/],
  ])('spendCap refuses %o', (extra, error) => {
    expect(() => createSpendCap({ daily: 1, ...(extra as object) })).toThrow(error);
  });

  it("defaults to 'enforce', and the adapters' middleware carries mode and setMode", () => {
    expect(createRateLimiter({ limit: 1, windowMs: 1000 }).mode).toBe('enforce');
    expect(createSpendCap({ daily: 1 }).mode).toBe('enforce');
    const middleware = koaAdapter.rateLimit({ limit: 1, windowMs: 1000, mode: 'shadow' });
    expect(modeOf(middleware)).toBe('shadow');
    middleware.setMode('enforce');
    expect(modeOf(middleware)).toBe('enforce');
  });
});
