import { type ChildProcess, spawn } from 'node:child_process';
import http from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { serve } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createExpressApp } from '../../examples/messaging/express-app.js';
import { createFetchApp } from '../../examples/messaging/fetch-app.js';
import { createKoaApp } from '../../examples/messaging/koa-app.js';
import { CONDITIONS } from '../../examples/messaging/rules.js';
import { MessagingService } from '../../examples/messaging/service.js';

/** Each version of the demo API, served on a free port. */
const APPS: Record<string, (service: MessagingService, allow?: string[]) => Promise<http.Server>> = {
  express: (service, allow) => listen(http.createServer(createExpressApp({ service, allow, onError: () => {} }))),
  koa: (service, allow) => listen(http.createServer(createKoaApp({ service, allow, onError: () => {} }).callback())),
  fetch: (service, allow) =>
    new Promise((resolve) => {
      const s = serve({ fetch: createFetchApp({ service, allow, onError: () => {} }) as never, port: 0, hostname: '127.0.0.1' }, () =>
        resolve(s as http.Server),
      );
    }),
};

async function close(server: http.Server): Promise<void> {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
}

async function listen(server: http.Server): Promise<http.Server> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

let audioPort: number;

beforeAll(async () => {
  // A port that refuses connections: an audio_url that cannot be fetched.
  const probe = http.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  audioPort = (probe.address() as AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
});

let base: string;

function call(method: string, path: string, token: string | undefined, body?: unknown, raw?: string, extra: Record<string, string> = {}) {
  const headers: Record<string, string> = { ...extra };
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined || raw !== undefined) headers['content-type'] = 'application/json';
  return fetch(`${base}${path}`, { method, headers, body: raw ?? (body === undefined ? undefined : JSON.stringify(body)) });
}

const sms = { from: 'BULWARK', to: '+15550123', text: 'hello' };

/** One request per documented code, as the README's table of conditions describes. */
const cases: Record<string, () => Promise<Response>> = {
  unauthorized: () => call('POST', '/v1/messages', undefined, sms),
  forbidden: () => call('POST', '/v1/messages', 'demo_readonly', sms),
  insufficient_balance: () => call('POST', '/v1/messages', 'demo_broke', sms),
  traffic_not_routable: () => call('POST', '/v1/messages', 'demo_alice', { ...sms, traffic_type: 'marketing' }),
  sender_not_approved: () => call('POST', '/v1/messages', 'demo_alice', { ...sms, from: 'SPAMCO' }),
  no_valid_recipients: () => call('POST', '/v1/messages', 'demo_alice', { ...sms, to: ['12', 'abc'] }),
  invalid_recipient: () => call('POST', '/v1/messages', 'demo_alice', { ...sms, to: '555-0123' }),
  no_valid_numbers: () => call('POST', '/v1/lookups', 'demo_alice', { numbers: ['1', 'x'] }),
  invalid_request: () => call('POST', '/v1/messages', 'demo_alice', undefined, '{"from": "BULWARK",'),
  audio_error: () =>
    call('POST', '/v1/messages', 'demo_alice', { ...sms, type: 'voice', audio_url: `http://127.0.0.1:${audioPort}/a.mp3` }),
  not_found: () => call('GET', '/v1/messages/msg_nope', 'demo_alice'),
};

it('the demo test covers every documented condition', () => {
  const covered = [...Object.keys(cases), 'spend_limit_exceeded', 'ip_not_allowed', 'throttled', 'idempotency_conflict'];
  expect([...covered].sort()).toEqual(CONDITIONS.map((c) => c.code).sort());
});

describe.each(Object.keys(APPS))('the demo messaging API on %s', (name) => {
  let server: http.Server;

  beforeAll(async () => {
    server = await APPS[name]!(new MessagingService());
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(() => close(server));

  it.each(Object.keys(cases))(`${name}: answers %s on its documented condition`, async (code) => {
    const res = await cases[code]!();
    const body = await res.json();
    const documented = CONDITIONS.find((c) => c.code === code)!;
    expect(res.status).toBe(documented.status);
    expect(body.error).toBe(code);
    expect(typeof body.message).toBe('string');
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    if (code === 'traffic_not_routable') expect(body.traffic_type).toBe('marketing');
  });

  it(`${name}: answers 400 bad_request, not a 500, to a path with a malformed percent-encoding`, async () => {
    const res = await call('GET', '/v1/messages/%E0%A4%A', 'demo_alice');
    expect(res.status).toBe(400);
    expect((await res.json()).error).toBe('bad_request');
  });

  it(`${name}: sends, then shows the message only to its own account`, async () => {
    const sent = await call('POST', '/v1/messages', 'demo_alice', sms);
    expect(sent.status).toBe(202);
    const { id } = await sent.json();
    expect((await call('GET', `/v1/messages/${id}`, 'demo_alice')).status).toBe(200);
    const other = await call('GET', `/v1/messages/${id}`, 'demo_bob');
    expect(other.status).toBe(404);
    expect((await other.json()).error).toBe('not_found');
  });

  it(`${name}: answers spend_limit_exceeded with the period once a send would pass the daily cap`, async () => {
    const tenRecipients = { ...sms, to: Array.from({ length: 10 }, (_, i) => `+1555010${String(i).padStart(4, '0')}`) };
    expect((await call('POST', '/v1/messages', 'demo_bob', tenRecipients)).status).toBe(202);
    expect((await call('POST', '/v1/messages', 'demo_bob', tenRecipients)).status).toBe(202);
    const capped = await call('POST', '/v1/messages', 'demo_bob', tenRecipients);
    expect(capped.status).toBe(403);
    expect(await capped.json()).toMatchObject({ error: 'spend_limit_exceeded', period: 'daily' });
  });

  it(`${name}: answers ip_not_allowed to a client outside the allowlist`, async () => {
    const guarded = await APPS[name]!(new MessagingService(), ['192.0.2.0/24']);
    try {
      const res = await fetch(`http://127.0.0.1:${(guarded.address() as AddressInfo).port}/v1/messages/x`, {
        headers: { authorization: 'Bearer demo_alice' },
      });
      expect(res.status).toBe(403);
      const body = await res.json();
      expect(body.error).toBe('ip_not_allowed');
      expect(JSON.stringify(body)).not.toContain('192.0.2');
    } finally {
      await close(guarded);
    }
  });

  it(`${name}: answers throttled with Retry-After once an account passes its burst`, async () => {
    const fresh = await APPS[name]!(new MessagingService());
    const statuses: number[] = [];
    let throttled: Response | undefined;
    try {
      for (let i = 0; i < 25 && !throttled; i++) {
        const res = await fetch(`http://127.0.0.1:${(fresh.address() as AddressInfo).port}/v1/messages/msg_x`, {
          headers: { authorization: 'Bearer demo_alice' },
        });
        statuses.push(res.status);
        if (res.status === 429) throttled = res;
        else await res.body?.cancel();
      }
      expect(throttled, `statuses: ${statuses.join(',')}`).toBeDefined();
      // The burst of 20 passes, the 21st is refused.
      expect(statuses.filter((s) => s === 404)).toHaveLength(20);
      expect(Number(throttled!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect((await throttled!.json()).error).toBe('throttled');
    } finally {
      await close(fresh);
    }
  });

  it(`${name}: runs a send once per Idempotency-Key: 409 while in flight, then a replay`, async () => {
    const service = new MessagingService();
    service.sendDelayMs = 300;
    const slow = await APPS[name]!(service);
    const url = `http://127.0.0.1:${(slow.address() as AddressInfo).port}/v1/messages`;
    const post = () =>
      fetch(url, {
        method: 'POST',
        headers: { authorization: 'Bearer demo_alice', 'content-type': 'application/json', 'idempotency-key': 'demo-key-1' },
        body: JSON.stringify(sms),
      });
    try {
      const first = post();
      await new Promise((resolve) => setTimeout(resolve, 100));
      const duplicate = await post();
      expect(duplicate.status).toBe(409);
      expect((await duplicate.json()).error).toBe('idempotency_conflict');
      expect(duplicate.headers.get('retry-after')).toBe('1');
      const original = await first;
      expect(original.status).toBe(202);
      const replay = await post();
      expect(replay.status).toBe(202);
      expect(replay.headers.get('idempotent-replayed')).toBe('true');
      expect(await replay.text()).toBe(await original.text());
      expect(service.sends).toBe(1);
    } finally {
      await close(slow);
    }
  });

  it(`${name}: says audio_error for voice text it cannot synthesise`, async () => {
    const res = await call('POST', '/v1/messages', 'demo_alice', { ...sms, type: 'voice', text: 'x'.repeat(501) });
    expect(res.status).toBe(422);
    expect((await res.json()).error).toBe('audio_error');
  });
});

/** One sample of a Prometheus text exposition: `name{label="value",...} value`. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parsePrometheus(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    const found = /^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!found) continue;
    const labels: Record<string, string> = {};
    for (const [, name, value] of (found[2] ?? '').matchAll(/([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[name!] = value!;
    samples.push({ name: found[1]!, labels, value: Number(found[3]) });
  }
  return samples;
}

describe('npm run demo: GET /metrics', () => {
  let demo: ChildProcess;
  let output = '';
  let metrics: Sample[];
  let contentType: string | null;

  beforeAll(async () => {
    const script = fileURLToPath(new URL('../../examples/demo.ts', import.meta.url));
    const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
    const env: NodeJS.ProcessEnv = { ...process.env, PORT: '0' };
    delete env.REDIS_URL;
    delete env.DEMO_ALLOW;
    demo = spawn(process.execPath, ['--import', tsx, script], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const done = new Promise<void>((resolve, reject) => {
      const read = (chunk: Buffer) => {
        output += chunk.toString('utf8');
        if (output.includes('Press Ctrl+C to stop.')) resolve();
      };
      demo.stdout!.on('data', read);
      demo.stderr!.on('data', read);
      demo.once('exit', (code) => reject(new Error(`the demo exited (${code}):\n${output}`)));
    });
    await done;
    const url = /curl -s (http:\/\/127\.0\.0\.1:\d+\/metrics)/.exec(output)?.[1];
    expect(url, output).toBeDefined();
    const res = await fetch(url!);
    expect(res.status).toBe(200);
    contentType = res.headers.get('content-type');
    metrics = parsePrometheus(await res.text());
  }, 180_000);

  afterAll(() => {
    demo?.kill();
  });

  /** The sum of a metric's samples whose labels include `labels`. */
  const total = (name: string, labels: Record<string, string> = {}) =>
    metrics
      .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
      .reduce((sum, s) => sum + s.value, 0);

  it("answers bulwark's instruments in the Prometheus text format", () => {
    expect(contentType).toMatch(/^text\/plain/);
    const names = new Set(metrics.map((s) => s.name));
    for (const name of ['bulwark_decisions_total', 'bulwark_client_attempts_total', 'bulwark_client_calls_total', 'bulwark_client_attempt_duration_count']) {
      expect(names, name).toContain(name);
    }
  });

  it("counts the tour's decisions: the outsider's denial, the cap, the replays, the conflict, the mismatch, the breaker", () => {
    const decided = (labels: Record<string, string>) => total('bulwark_decisions_total', labels);
    // The tour sends one request from outside the allowlist.
    expect(decided({ guard: 'ipAllowlist', decision: 'deny', reason: 'not-listed' })).toBe(1);
    // Every request the allowlist admits reaches the rate limit next (GET /metrics is served in front of both).
    const admitted = decided({ guard: 'ipAllowlist', decision: 'allow' });
    expect(admitted).toBeGreaterThan(0);
    expect(decided({ guard: 'rateLimit' })).toBe(admitted);
    expect(decided({ guard: 'spendCap', decision: 'deny', period: 'daily' })).toBe(1);
    expect(decided({ guard: 'spendCap', decision: 'allow' })).toBeGreaterThanOrEqual(2);
    expect(decided({ guard: 'idempotency', decision: 'replay' })).toBeGreaterThanOrEqual(1);
    expect(decided({ guard: 'idempotency', decision: 'conflict' })).toBeGreaterThanOrEqual(1);
    expect(decided({ guard: 'idempotency', decision: 'mismatch' })).toBe(1);
    // Once the tour is over no request holds a key: every claim was completed or released.
    const claims = decided({ guard: 'idempotency', decision: 'claim' });
    expect(claims).toBeGreaterThan(0);
    expect(decided({ guard: 'idempotency', decision: 'complete' }) + decided({ guard: 'idempotency', decision: 'release' })).toBe(claims);
    // A refused send and a replay spend nothing: the cap refunded them.
    expect(total('bulwark_refunds_total', { guard: 'spendCap' })).toBeGreaterThanOrEqual(1);
    // The breaker of the tour's down upstream opened, let a probe through, and closed.
    for (const state of ['open', 'half-open', 'closed']) expect(total('bulwark_client_breaker_transitions_total', { state }), state).toBe(1);
    expect(total('bulwark_client_calls_total', { code: 'circuit_open' })).toBe(1);
    expect(total('bulwark_client_retries_total', { status_class: '5xx' })).toBeGreaterThanOrEqual(2);
    // One duration per attempt that ended.
    expect(total('bulwark_client_attempt_duration_count')).toBe(total('bulwark_client_attempts_total'));
  });

  it('carries no key, address, path or token in any label', () => {
    const labels = JSON.stringify(metrics.map((s) => s.labels));
    expect(labels).not.toMatch(/127\.0\.0\.1|192\.0\.2|\/v1\/|demo_alice|Bearer|"key"|"address"|"origin"|"path"/);
  });
});
