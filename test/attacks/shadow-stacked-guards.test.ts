/**
 * Attack: shadow mode is meant to predict exactly what enforcing does (the same decisions, refunds
 * included, and the same state), so that a new limit can be measured on live traffic before it is
 * switched on. That holds for one guard alone, not for guards in a chain, the common setup (a burst
 * limit behind a sustained one, a spend cap behind a rate limit):
 *
 * - Enforcing, a request the second limiter refuses is answered 429, and the first limiter, with
 *   `skipFailedRequests`, gives its unit back. In shadow mode the request goes on to the application,
 *   which answers 200, so the first limiter keeps the unit: its state drifts from what enforcing would
 *   leave, and its `refund` events are missing.
 * - Enforcing, a request the rate limit refuses never reaches the spend cap. In shadow mode it does, and
 *   is charged: the cap fills up (and reports `deny` decisions) as enforcing never would.
 *
 * Each runs the same requests through Express over a real socket, once with every guard enforcing and
 * once with every guard in shadow mode, and compare the published decisions and the guards' state.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { rateLimit, spendCap } from '../../adapters/express.js';
import { CHANNELS, type GuardMode } from '../../src/events/channels.js';

const cleanup: Array<() => void> = [];
afterEach(() => {
  for (const undo of cleanup.splice(0)) undo();
});

/** `policy decision` of each event published on the channels while `during` runs. */
async function decisionsDuring(during: () => Promise<void>): Promise<string[]> {
  const events: string[] = [];
  const listener = (message: unknown) => {
    const { policy, decision } = message as Record<string, unknown>;
    events.push(`${String(policy)} ${String(decision)}`);
  };
  for (const name of [CHANNELS.rateLimit, CHANNELS.spendCap]) subscribe(name, listener);
  try {
    await during();
  } finally {
    for (const name of [CHANNELS.rateLimit, CHANNELS.spendCap]) unsubscribe(name, listener);
  }
  return events;
}

async function serve(app: express.Express): Promise<{ url: string }> {
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  cleanup.push(() => server.close());
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/` };
}

async function send(url: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const res = await fetch(url);
    await res.text();
  }
  // Refunds run once the response has finished.
  await new Promise((resolve) => setTimeout(resolve, 50));
}

describe('shadow mode predicts what enforcing does, for guards in a chain', () => {
  it('a sustained limit with skipFailedRequests, in front of a burst limit', async () => {
    const run = async (mode: GuardMode) => {
      const sustained = rateLimit({ name: 'sustained', limit: 100, windowMs: 3_600_000, key: () => 'acct_1', skipFailedRequests: true, mode });
      const burst = rateLimit({ name: 'burst', limit: 2, windowMs: 3_600_000, key: () => 'acct_1', mode });
      const app = express();
      app.use(sustained, burst);
      app.get('/', (_req, res) => res.json({ ok: true }));
      const { url } = await serve(app);
      const events = await decisionsDuring(() => send(url, 10));
      const state = { sustained: (await sustained.peek('acct_1')).remaining, burst: (await burst.peek('acct_1')).remaining };
      return { events, state };
    };
    const enforced = await run('enforce');
    const shadowed = await run('shadow');
    expect(enforced.state).toEqual({ sustained: 98, burst: 0 });
    expect(shadowed.state).toEqual(enforced.state);
    expect(shadowed.events).toEqual(enforced.events);
  });

  it('a spend cap behind a rate limit', async () => {
    const run = async (mode: GuardMode) => {
      const limiter = rateLimit({ name: 'rl', limit: 2, windowMs: 3_600_000, key: () => 'acct_1', mode });
      const cap = spendCap({ name: 'sc', daily: 100, cost: 10, key: () => 'acct_1', mode, refund: false });
      const app = express();
      app.use(limiter, cap);
      app.get('/', (_req, res) => res.json({ ok: true }));
      const { url } = await serve(app);
      const events = await decisionsDuring(() => send(url, 12));
      const used = (await cap.peek('acct_1')).daily?.used;
      return { events, used };
    };
    const enforced = await run('enforce');
    const shadowed = await run('shadow');
    expect(enforced.used).toBe(20);
    expect(shadowed.used).toBe(enforced.used);
    expect(shadowed.events).toEqual(enforced.events);
  });
});
