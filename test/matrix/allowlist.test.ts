import { expect } from 'vitest';
import { createIpAllowlist, type IpAllowlist, type IpDenyEvent } from '../../src/allowlist/ip-allowlist.js';
import { type AppSpec, matrix, nativeHeader, type Result, type Variant } from '../support/matrix.js';

/**
 * The servers listen on 127.0.0.1; clients connect from other loopback addresses to act as distinct peers.
 * 127.0.0.1 acts as the trusted proxy (PROXY), 127.0.0.5 is the allowed client (ALLOWED), 127.0.0.3 is a
 * client that is not allowed (OTHER).
 */
const PROXY = '127.0.0.1';
const ALLOWED = '127.0.0.5';
const OTHER = '127.0.0.3';
const DENIED_BODY = '{"message":"Your source IP is not on the account allowlist.","error":"ip_not_allowed"}';

const routes: AppSpec['routes'] = [{ method: 'GET', path: '/ok', handler: () => ({ json: { ok: true } }) }];

const allowOne = (extra: object = {}): AppSpec => ({
  guards: [{ kind: 'ipAllowlist', options: { allow: [ALLOWED], trustProxy: [PROXY], ...extra } }],
  routes,
});

function expectDenied(result: Result | undefined) {
  expect(result?.status).toBe(403);
  expect(result?.body).toBe(DENIED_BODY);
  expect(result?.headers['content-type']).toBe('application/json; charset=utf-8');
}

function expectAllowed(result: Result | undefined) {
  expect(result?.status).toBe(200);
  expect(result?.body).toBe('{"ok":true}');
}

matrix(
  'allowlist: the socket peer decides without a trusted proxy',
  allowOne(),
  async ({ send }) => [
    await send({ path: '/ok', localAddress: ALLOWED }),
    await send({ path: '/ok', localAddress: OTHER }),
  ],
  ([allowed, denied]) => {
    expectAllowed(allowed);
    expectDenied(denied);
  },
);

matrix(
  'allowlist: a denied HEAD request gets the 403 without a body',
  allowOne(),
  async ({ send }) => [await send({ method: 'HEAD', path: '/ok', localAddress: OTHER })],
  ([head]) => {
    expect(head?.status).toBe(403);
    expect(head?.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(head?.body).toBe('');
  },
);

matrix(
  'allowlist: an untrusted peer cannot claim an allowed address in any header',
  allowOne(),
  async ({ send }) => [
    await send({ path: '/ok', localAddress: OTHER, headers: { 'x-forwarded-for': ALLOWED } }),
    await send({ path: '/ok', localAddress: OTHER, headers: { 'x-forwarded-for': [ALLOWED, ALLOWED] } }),
    await send({ path: '/ok', localAddress: OTHER, headers: { forwarded: `for=${ALLOWED}` } }),
    await send({ path: '/ok', localAddress: OTHER, headers: { 'x-real-ip': ALLOWED } }),
    await send({ path: '/ok', localAddress: OTHER, headers: { 'cf-connecting-ip': ALLOWED } }),
    await send({ path: '/ok', localAddress: OTHER, headers: { 'true-client-ip': ALLOWED, 'x-client-ip': ALLOWED } }),
  ],
  (results) => {
    expect(results).toHaveLength(6);
    for (const result of results) expectDenied(result);
  },
);

matrix(
  'allowlist: Forwarded from an untrusted peer is ignored even when Forwarded is read',
  allowOne({ forwarded: true }),
  async ({ send }) => [
    await send({ path: '/ok', localAddress: OTHER, headers: { forwarded: `for=${ALLOWED}` } }),
    await send({ path: '/ok', localAddress: PROXY, headers: { forwarded: `for=${ALLOWED};proto=http` } }),
    await send({ path: '/ok', localAddress: PROXY, headers: { forwarded: `for=${ALLOWED}, for=${OTHER}` } }),
    await send({ path: '/ok', localAddress: PROXY, headers: { forwarded: 'for=unknown', 'x-forwarded-for': ALLOWED } }),
  ],
  ([untrusted, viaProxy, spoofed, hidden]) => {
    expectDenied(untrusted);
    expectAllowed(viaProxy);
    expectDenied(spoofed);
    expectDenied(hidden);
  },
);

matrix(
  'allowlist: behind a trusted proxy the rightmost untrusted X-Forwarded-For address is the client',
  allowOne(),
  async ({ send }) => [
    // The proxy appended the real client (OTHER) after a spoofed, allowed address.
    await send({ path: '/ok', localAddress: PROXY, headers: { 'x-forwarded-for': `${ALLOWED}, ${OTHER}` } }),
    // The same, split over two header lines.
    await send({ path: '/ok', localAddress: PROXY, headers: { 'x-forwarded-for': [ALLOWED, OTHER] } }),
    // The real client is allowed; what it prepended does not matter.
    await send({ path: '/ok', localAddress: PROXY, headers: { 'x-forwarded-for': `${OTHER}, ${ALLOWED}` } }),
    await send({ path: '/ok', localAddress: PROXY, headers: { 'x-forwarded-for': [`garbage, ${OTHER}`, ALLOWED] } }),
    // Trusted hops on the right are skipped.
    await send({ path: '/ok', localAddress: PROXY, headers: { 'x-forwarded-for': `${ALLOWED}, ${PROXY}` } }),
    // Without the header, the proxy itself is the client.
    await send({ path: '/ok', localAddress: PROXY }),
  ],
  ([spoofed, spoofedLines, real, realWithGarbage, skipped, bare]) => {
    expectDenied(spoofed);
    expectDenied(spoofedLines);
    expectAllowed(real);
    expectAllowed(realWithGarbage);
    expectAllowed(skipped);
    expectDenied(bare);
  },
);

matrix(
  'allowlist: a malformed forwarded address fails closed and is never echoed',
  allowOne(),
  async ({ send }) => [
    await send({ path: '/ok', localAddress: PROXY, headers: { 'x-forwarded-for': `${ALLOWED}, <script>alert(1)</script>` } }),
    await send({ path: '/ok', localAddress: PROXY, headers: { 'x-forwarded-for': `${ALLOWED}:443` } }),
    await send({ path: '/ok', localAddress: PROXY, headers: { 'x-forwarded-for': '0127.0.0.5' } }),
    await send({ path: '/ok', localAddress: PROXY, headers: { 'x-forwarded-for': 'x'.repeat(4000) } }),
  ],
  (results) => {
    for (const result of results) {
      expectDenied(result);
      expect(result.body).not.toContain('script');
      expect(result.body).not.toContain('127.0.0');
    }
  },
);

/** Accounts and their lists, read from an `x-account` header through the native request object. */
const ACCOUNTS: Record<string, string[]> = { a: [ALLOWED], b: [OTHER], empty: [] };

matrix(
  'allowlist: per-account lists never leak between accounts, even when they load out of order',
  (): AppSpec => ({
    guards: [
      {
        kind: 'ipAllowlist',
        options: (variant: Variant) => {
          const header = nativeHeader(variant);
          return {
            allow: async (request: unknown) => {
              const account = header(request, 'x-account') ?? '';
              // Account a loads slowly, so its requests wait while b's are decided.
              await new Promise((resolve) => setTimeout(resolve, account === 'a' ? 20 : 1));
              return ACCOUNTS[account];
            },
          };
        },
      },
    ],
    routes,
  }),
  async ({ send }) => {
    const pairs: Array<[string, string]> = [];
    for (let i = 0; i < 6; i++) {
      for (const account of ['a', 'b', 'empty', 'none']) pairs.push([account, i % 2 === 0 ? ALLOWED : OTHER]);
    }
    const results = await Promise.all(
      pairs.map(([account, peer]) => send({ path: '/ok', localAddress: peer, headers: { 'x-account': account } })),
    );
    return results;
  },
  (results) => {
    let i = 0;
    for (let round = 0; round < 6; round++) {
      const peer = round % 2 === 0 ? ALLOWED : OTHER;
      for (const account of ['a', 'b', 'empty', 'none']) {
        const result = results[i++];
        const allowed = (ACCOUNTS[account] ?? []).includes(peer);
        if (allowed) expectAllowed(result);
        else expectDenied(result);
      }
    }
  },
);

/** Each variant's allowlist, so that a scenario can replace its list. */
const built = new Map<Variant, IpAllowlist<any>>();
const events = new Map<Variant, Array<IpDenyEvent<any>>>();

matrix(
  'allowlist: replacing the list while requests are in flight never exposes an empty or partial list',
  (): AppSpec => ({
    guards: [
      {
        kind: 'ipAllowlist',
        options: (variant: Variant) => {
          const seen: Array<IpDenyEvent<any>> = [];
          events.set(variant, seen);
          const allowlist = createIpAllowlist<any>({ allow: [ALLOWED], onDeny: (e) => seen.push(e) });
          built.set(variant, allowlist);
          return allowlist;
        },
      },
    ],
    routes,
  }),
  async ({ send, variant }) => {
    const allowlist = built.get(variant)!;
    const big = Array.from({ length: 20_000 }, (_, i) => `10.${(i >> 8) & 255}.${i & 255}.0/24`);
    let refused = 0;
    const flood = Array.from({ length: 60 }, (_, i) =>
      send({ path: '/ok', localAddress: ALLOWED }).then((result) => {
        // Replace the list between responses: every list installed contains ALLOWED.
        if (i % 3 === 0) allowlist.replace([...big, ALLOWED]);
        if (i % 3 === 1) allowlist.replace(['127.0.0.0/24']);
        try {
          allowlist.replace([ALLOWED, '127.0.0.256']);
        } catch {
          refused++;
        }
        return result;
      }),
    );
    const during = await Promise.all(flood);
    allowlist.replace([OTHER]);
    const after = [await send({ path: '/ok', localAddress: ALLOWED }), await send({ path: '/ok', localAddress: OTHER })];
    const denials = (events.get(variant) ?? []).map((e) => ({
      status: 0,
      headers: {},
      body: JSON.stringify({ reason: e.reason, address: e.address, nativeRequest: typeof e.request === 'object' && e.request !== null }),
      aborted: false,
    }));
    return [
      ...during,
      ...after,
      { status: refused, headers: {}, body: 'refused replacements', aborted: false },
      ...denials,
    ];
  },
  (results) => {
    const during = results.slice(0, 60);
    for (const result of during) expectAllowed(result);
    const [denied, allowed, refused, ...denials] = results.slice(60);
    expectDenied(denied);
    expectAllowed(allowed);
    expect(refused?.status).toBe(60);
    expect(denials.map((d) => JSON.parse(d.body))).toEqual([{ reason: 'not_allowed', address: ALLOWED, nativeRequest: true }]);
  },
);
