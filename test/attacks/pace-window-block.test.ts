/**
 * Attack: client pacing promises that no header blocks an origin for longer than an hour ("a longer
 * `t`, `reset` or `Retry-After` is read as an hour, after which one call goes to ask again"; commit
 * "remember no wait longer than an hour, so a stray Retry-After never blocks an origin for days").
 *
 * A spent policy that carries no `t` is refilled one unit per `w / q`, and `w` is read up to a month.
 * So one answer `RateLimit: "p";r=0` with `RateLimit-Policy: "p";q=1;w=2678400` (or any huge `w`, a
 * hostile or buggy server's, or a real monthly quota that omits `t`) makes the client refuse every call
 * to the origin, unsent, for 31 days, until the process restarts. Nothing it sends can re-teach it,
 * since nothing is sent.
 *
 * Real node:http servers that send those headers, and bulwark's client.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { ApiError } from '../../src/errors/api-error.js';
import { createFetch } from '../../src/client/index.js';

const servers: http.Server[] = [];
afterAll(async () => {
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
});

async function hostile(headers: Record<string, string>): Promise<{ url: string }> {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, headers);
    res.end('{}');
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** The wait pacing estimates for the next call (its `Retry-After`, seconds), or 0 when the call was sent. */
async function announcedWaitSeconds(url: string, api: ReturnType<typeof createFetch>): Promise<number> {
  try {
    // maxWaitMs 0: a call that would wait at all is refused at once, with the wait pacing estimates.
    const res = await api(`${url}/v1/items`, { bulwark: { pace: { maxWaitMs: 0 } } });
    await res.text();
    return 0;
  } catch (error) {
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).code).toBe('throttled');
    return Number((error as ApiError).headers['retry-after']);
  }
}

describe('a spent policy without t blocks an origin for at most an hour', () => {
  for (const policy of ['"p";q=1;w=2678400', '"monthly";q=10;w=2592000', '"p";q=1;w=999999999999']) {
    it(`RateLimit r=0 with RateLimit-Policy ${policy}`, async () => {
      const name = policy.slice(0, policy.indexOf(';'));
      const server = await hostile({ ratelimit: `${name};r=0`, 'ratelimit-policy': policy });
      const api = createFetch({ retries: 0 });
      const first = await api(`${server.url}/v1/items`);
      expect(first.status).toBe(200);
      await first.text();
      const wait = await announcedWaitSeconds(server.url, api);
      expect(wait).toBeLessThanOrEqual(3600);
    });
  }

  it('draft-7: RateLimit limit=1, remaining=0 with RateLimit-Policy 1;w=2678400', async () => {
    const server = await hostile({ ratelimit: 'limit=1, remaining=0', 'ratelimit-policy': '1;w=2678400' });
    const api = createFetch({ retries: 0 });
    await (await api(`${server.url}/v1/items`)).text();
    const wait = await announcedWaitSeconds(server.url, api);
    expect(wait).toBeLessThanOrEqual(3600);
  });
});
