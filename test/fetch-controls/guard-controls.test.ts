/**
 * fetch guard()'s run-time controls: `guarded.controls` has one entry per configured guard, and each
 * control acts on the guard that answers the requests.
 */
import { describe, expect, it } from 'vitest';
import { guard } from '../../adapters/fetch.js';
import { createIpAllowlist } from '../../src/allowlist/ip-allowlist.js';
import { MemoryStore } from '../../src/stores/memory/index.js';

/** The peer of a request, from a test header (what a runtime's clientIp would give). */
const clientIp = (request: Request) => request.headers.get('x-peer');

const ok = () => new Response('ok');

async function ask(handler: (request: Request) => Promise<Response>, peer: string, init: RequestInit = {}): Promise<number> {
  const response = await handler(new Request('http://api.test/v1', { ...init, headers: { 'x-peer': peer, ...(init.headers as Record<string, string>) } }));
  await response.arrayBuffer();
  return response.status;
}

describe('guard() controls', () => {
  it('peek reads each rate limiter of a list, in order, after the requests it admitted (and spends nothing)', async () => {
    const store = new MemoryStore();
    const guarded = guard(ok, {
      rateLimit: [
        { limit: 3, windowMs: 1_000, name: 'burst', store },
        { limit: 100, windowMs: 86_400_000, name: 'daily', store },
      ],
      clientIp,
    });
    expect(guarded.controls.rateLimit).toHaveLength(2);
    expect(await ask(guarded, '203.0.113.7')).toBe(200);
    expect(await ask(guarded, '203.0.113.7')).toBe(200);
    const [burst, daily] = guarded.controls.rateLimit;
    expect(await burst!.peek('203.0.113.7')).toMatchObject({ limit: 3, remaining: 1 });
    expect(await daily!.peek('203.0.113.7')).toMatchObject({ limit: 100, remaining: 98 });
    expect(await burst!.peek('198.51.100.1')).toMatchObject({ limit: 3, remaining: 3 });
    // Peeking spent nothing: one more is admitted, the next is throttled.
    expect(await burst!.peek('203.0.113.7')).toMatchObject({ remaining: 1 });
    expect(await ask(guarded, '203.0.113.7')).toBe(200);
    expect(await ask(guarded, '203.0.113.7')).toBe(429);
    expect(await burst!.peek('203.0.113.7')).toMatchObject({ remaining: 0 });
  });

  it('a single rateLimit object is a list of one; the spend cap has peek', async () => {
    const guarded = guard(ok, {
      rateLimit: { limit: 10, windowMs: 60_000 },
      spendCap: { daily: 5, key: (request) => request.headers.get('x-account') ?? '', store: new MemoryStore() },
      clientIp,
    });
    expect(guarded.controls.rateLimit).toHaveLength(1);
    expect(await ask(guarded, '203.0.113.7', { headers: { 'x-account': 'acct_1' } })).toBe(200);
    expect(await guarded.controls.rateLimit[0]!.peek('203.0.113.7')).toMatchObject({ limit: 10, remaining: 9 });
    const spent = await guarded.controls.spendCap!.peek('acct_1');
    expect(spent.daily).toMatchObject({ limit: 5, used: 1, remaining: 4 });
  });

  it('replace swaps the allowlist the guard answers with; a bad list throws and the old one stays', async () => {
    const guarded = guard(ok, { ipAllowlist: { allow: ['203.0.113.0/24'] }, clientIp });
    const allowlist = guarded.controls.ipAllowlist!;
    expect(await ask(guarded, '198.51.100.1')).toBe(403);
    allowlist.replace(['198.51.100.0/24']);
    expect(await ask(guarded, '198.51.100.1')).toBe(200);
    expect(await ask(guarded, '203.0.113.1')).toBe(403);
    expect(() => allowlist.replace(['198.51.100.0/24', '10.0.0.0/33'])).toThrow(TypeError);
    expect(await ask(guarded, '198.51.100.1')).toBe(200);
    expect(await ask(guarded, '203.0.113.1')).toBe(403);
  });

  it('setMode switches the allowlist between shadow and enforce, and mode reads it', async () => {
    const guarded = guard(ok, { ipAllowlist: { allow: ['203.0.113.0/24'] }, clientIp });
    const allowlist = guarded.controls.ipAllowlist!;
    expect(allowlist.mode).toBe('enforce');
    allowlist.setMode('shadow');
    expect(allowlist.mode).toBe('shadow');
    expect(await ask(guarded, '198.51.100.1')).toBe(200);
    allowlist.setMode('enforce');
    expect(await ask(guarded, '198.51.100.1')).toBe(403);
    expect(() => allowlist.setMode('off' as never)).toThrow(TypeError);
    expect(allowlist.mode).toBe('enforce');
  });

  it('setMode and mode of the rate limiters and the spend cap pass through (shadow lets the refused request through)', async () => {
    const guarded = guard(ok, {
      rateLimit: [
        { limit: 1, windowMs: 60_000, name: 'tight' },
        { limit: 100, windowMs: 60_000, name: 'loose' },
      ],
      spendCap: { daily: 1, key: () => 'acct_1' },
      clientIp,
    });
    const [tight, loose] = guarded.controls.rateLimit;
    const cap = guarded.controls.spendCap!;
    expect([tight!.mode, loose!.mode, cap.mode]).toEqual(['enforce', 'enforce', 'enforce']);
    expect(await ask(guarded, '203.0.113.7')).toBe(200);
    expect(await ask(guarded, '203.0.113.7')).toBe(429);
    tight!.setMode('shadow');
    expect(tight!.mode).toBe('shadow');
    expect(loose!.mode).toBe('enforce');
    // The tight limit now only reports; the spend cap (1 a day, spent) refuses.
    expect(await ask(guarded, '203.0.113.7')).toBe(403);
    cap.setMode('shadow');
    expect(cap.mode).toBe('shadow');
    expect(await ask(guarded, '203.0.113.7')).toBe(200);
    tight!.setMode('enforce');
    expect(await ask(guarded, '203.0.113.7')).toBe(429);
    expect(() => loose!.setMode('off' as never)).toThrow(TypeError);
    expect(loose!.mode).toBe('enforce');
  });

  it('the controls of an allowlist passed in built are its own', async () => {
    const built = createIpAllowlist<Request>({ allow: ['203.0.113.0/24'] });
    const guarded = guard(ok, { ipAllowlist: built, clientIp });
    guarded.controls.ipAllowlist!.replace(['198.51.100.0/24']);
    expect(await ask(guarded, '198.51.100.1')).toBe(200);
    built.setMode('shadow');
    expect(guarded.controls.ipAllowlist!.mode).toBe('shadow');
  });

  it('one entry per configured guard: none for what is not configured, and the object cannot be changed', () => {
    const bare = guard(ok);
    expect(bare.controls.rateLimit).toEqual([]);
    expect(bare.controls.ipAllowlist).toBeUndefined();
    expect(bare.controls.spendCap).toBeUndefined();
    expect(Object.keys(bare.controls)).toEqual(['rateLimit']);
    const full = guard(ok, {
      ipAllowlist: { allow: ['loopback'] },
      rateLimit: { limit: 1, windowMs: 1_000 },
      spendCap: { daily: 1, key: () => 'a' },
      idempotency: {},
      clientIp,
    });
    expect(Object.keys(full.controls)).toEqual(['ipAllowlist', 'rateLimit', 'spendCap']);
    expect(Object.keys(full.controls.ipAllowlist!).sort()).toEqual(['mode', 'replace', 'setMode']);
    expect(Object.keys(full.controls.rateLimit[0]!).sort()).toEqual(['mode', 'peek', 'setMode']);
    expect(Object.keys(full.controls.spendCap!).sort()).toEqual(['mode', 'peek', 'setMode']);
    expect(Object.isFrozen(full.controls)).toBe(true);
    expect(Object.isFrozen(full.controls.rateLimit)).toBe(true);
    expect(Object.isFrozen(full.controls.ipAllowlist)).toBe(true);
    expect(() => {
      (full.controls as { spendCap?: unknown }).spendCap = undefined;
    }).toThrow(TypeError);
    expect(() => {
      (full as { controls: unknown }).controls = {};
    }).toThrow(TypeError);
  });
});
