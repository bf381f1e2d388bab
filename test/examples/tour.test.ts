import { execFile } from 'node:child_process';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createExpressApp } from '../../examples/messaging/express-app.js';
import { CONDITIONS } from '../../examples/messaging/rules.js';
import { MessagingService } from '../../examples/messaging/service.js';
import { type Reaction, runTour, type TourRow } from '../../examples/tour.js';
import { type ApiProcesses, startApiProcesses } from '../../examples/tour/processes.js';
import { type Listening, listen } from '../../examples/tour/serve.js';
import { tourSummary, tryLines } from '../../examples/tour/summary.js';
import { formatTourTable } from '../../examples/tour/table.js';
import { connectRedis, redisUrl, testPrefix } from '../support/redis.js';

/** What the client must do about each documented code. */
const EXPECTED_REACTION: Record<string, Reaction> = Object.fromEntries(
  CONDITIONS.map(({ code }) => [
    code,
    code === 'throttled' || code === 'idempotency_conflict' ? 'retried-after-retry-after' : 'surfaced',
  ]),
);

const quiet = () => {};

function row(rows: TourRow[], predicate: (r: TourRow) => boolean, what: string): TourRow {
  const found = rows.find(predicate);
  expect(found, `${what} in:\n${formatTourTable(rows)}`).toBeDefined();
  return found!;
}

/** The checks that hold whether the tour ran on one server or on two sharing Redis. */
function expectEveryDocumentedCode(rows: TourRow[]): void {
  for (const { code, status } of CONDITIONS) {
    const found = row(rows, (r) => r.code === code, `a row for ${code}`);
    expect(found.status, code).toBe(status);
    expect(found.reaction, code).toBe(EXPECTED_REACTION[code]);
  }
  const throttled = row(rows, (r) => r.code === 'throttled', 'the throttled row');
  expect(throttled.finalStatus).toBe(200);
  const conflict = row(rows, (r) => r.code === 'idempotency_conflict', 'the conflict row');
  expect(conflict.finalStatus).toBe(202);
  expect(conflict.evidence).toMatchObject({ replayed: true, sameId: true, originalStatus: 202 });
  const spend = row(rows, (r) => r.code === 'spend_limit_exceeded', 'the spend cap row');
  expect(spend.evidence.period).toBe('daily');
  for (const r of rows.filter((x) => x.reaction === 'surfaced')) {
    expect(r.evidence.retries, `${r.code} is surfaced without a retry`).toBe(0);
  }
}

function expectClientBehaviour(rows: TourRow[]): void {
  const accepted = row(rows, (r) => r.reaction === 'accepted' && r.status === 202, 'a first send');
  expect(accepted.code).toBe('');
  const replay = row(rows, (r) => r.reaction === 'replayed', 'a replay');
  expect(replay.status).toBe(202);
  expect(replay.evidence.sameId).toBe(true);
  const mismatch = row(rows, (r) => r.code === 'idempotency_key_mismatch', 'a key reused with another body');
  expect([mismatch.status, mismatch.reaction]).toEqual([422, 'surfaced']);

  const backoff = row(rows, (r) => r.reaction === 'retried-with-backoff', 'a 5xx retried with backoff');
  expect([backoff.status, backoff.code, backoff.finalStatus]).toEqual([503, 'service_unavailable', 200]);
  expect(backoff.evidence).toMatchObject({ sameKey: true, attempts: 3 });

  const opened = row(rows, (r) => r.reaction === 'breaker-opened', 'the breaker opening');
  expect([opened.status, opened.code]).toEqual([503, 'service_unavailable']);
  const fast = row(rows, (r) => r.reaction === 'failed-fast', 'a call failing fast');
  expect([fast.status, fast.code, fast.evidence.sent]).toEqual([undefined, 'circuit_open', false]);
  const probe = row(rows, (r) => r.reaction === 'probe-closed', 'the probe closing the breaker');
  expect(probe.status).toBe(200);
  // The call that failed fast never reached the server: the probe is the request right after the failures.
  expect(probe.evidence.attempt).toBe(Number(opened.evidence.failures) + 1);
}

describe('the demo tour on one server with memory stores', () => {
  const service = new MessagingService();
  let api: Listening;
  let outsider: Listening;
  let rows: TourRow[];

  beforeAll(async () => {
    api = await listen(createExpressApp({ service, faults: true, onError: quiet }), 0);
    outsider = await listen(createExpressApp({ allow: ['192.0.2.0/24'], onError: quiet }), 0);
    rows = await runTour({ servers: [api.url], outsider: outsider.url });
  }, 30_000);

  afterAll(async () => {
    await api?.close();
    await outsider?.close();
  });

  it('shows every documented code with its status and the client reaction', () => {
    expectEveryDocumentedCode(rows);
  });

  it('shows a send, its replay, retries with backoff, and a breaker opening, failing fast and closing', () => {
    expectClientBehaviour(rows);
  });

  it('never sends a side effect twice: one send each for the send, the voice send, and two spend-cap sends', () => {
    expect(service.sends).toBe(4);
  });

  it('charges the spend cap only for work done: a retried capped send replays, a rejected one spends nothing', () => {
    const replay = row(rows, (r) => r.request.startsWith('a capped send') && r.request.includes('again'), 'the capped replay row');
    expect(replay.reaction).toBe('replayed');
    expect(replay.evidence).toMatchObject({ charged: 202, replayed: true });
    const rejected = row(rows, (r) => r.request.startsWith('a capped send the API rejects'), 'the rejected capped send row');
    expect(rejected.code).toBe('invalid_recipient');
    const spend = row(rows, (r) => r.code === 'spend_limit_exceeded', 'the spend cap row');
    expect(spend.evidence.sends).toBe(2);
  });

  it('admits one burst of 20 before throttling', () => {
    const throttled = row(rows, (r) => r.code === 'throttled', 'the throttled row');
    expect(throttled.evidence.admitted).toBeGreaterThanOrEqual(20);
    expect(throttled.evidence.admitted).toBeLessThan(40);
  });

  it('prints a table that fits 100 columns', () => {
    const table = formatTourTable(rows);
    for (const line of table.split('\n')) expect(line.length, line).toBeLessThanOrEqual(100);
    for (const { code } of CONDITIONS) expect(table).toContain(code);
    expect(table).toContain('circuit_open');
  });

  it('says in the ip_not_allowed row that a second instance with another allowlist answered it', () => {
    const denied = row(rows, (r) => r.code === 'ip_not_allowed', 'the allowlist row');
    expect(denied.request).toContain('answered by a second instance of the API whose allowlist is 192.0.2.0/24');
    expect(denied.evidence.server).toBe('outsider');
  });

  it('explains the breaker rows: why each 503 went to the caller, and which request the probe was', () => {
    const opened = row(rows, (r) => r.reaction === 'breaker-opened', 'the breaker opening');
    expect(opened.client).toContain('this client is set to retries: 0');
    const probe = row(rows, (r) => r.reaction === 'probe-closed', 'the probe');
    expect(probe.client).toContain(`the server counted the probe as request ${probe.evidence.attempt} for this id`);
    expect(probe.client).toContain(`the ${opened.evidence.failures} failures, then the probe`);
  });

  it('counts the codes of its summary from the rows: the documented ones and the others, by name', () => {
    const codes = new Set(rows.map((r) => r.code).filter((c) => c !== ''));
    const summary = tourSummary(rows);
    expect(summary).toMatch(new RegExp(`^${codes.size} codes in the table: all ${CONDITIONS.length} documented codes`));
    for (const extra of ['422 idempotency_key_mismatch', '503 service_unavailable', 'circuit_open (from the client, nothing sent)']) {
      expect(summary).toContain(extra);
    }
    expect(codes.size).toBe(CONDITIONS.length + 3);
    const withoutThrottle = rows.filter((r) => r.code !== 'throttled');
    expect(tourSummary(withoutThrottle)).toContain(`${CONDITIONS.length - 1} of the ${CONDITIONS.length} documented codes`);
    expect(tourSummary(withoutThrottle)).toContain('(not seen: 429 throttled)');
  });

  it('leaves the curl accounts usable: demo_alice still sends', async () => {
    const res = await fetch(`${api.url}/v1/messages`, {
      method: 'POST',
      headers: { authorization: 'Bearer demo_alice', 'content-type': 'application/json' },
      body: JSON.stringify({ from: 'BULWARK', to: '+15550123', text: 'hi' }),
    });
    expect(res.status).toBe(202);
  });
});

describe("the demo's curl lines", () => {
  let api: Listening;
  let lines: string[];

  beforeAll(async () => {
    api = await listen(createExpressApp({ faults: true, onError: quiet }), 0);
    lines = tryLines([api.url], 'test');
  });

  afterAll(() => api?.close());

  /** Runs one printed line in a shell, as a user pastes it. */
  function sh(line: string): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile('sh', ['-c', line], { timeout: 20_000 }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
    });
  }

  const command = (comment: string) => {
    const at = lines.findIndex((l) => l.includes(comment));
    expect(at, comment).toBeGreaterThanOrEqual(0);
    return lines.slice(at + 1).find((l) => !l.trimStart().startsWith('#'))!.trim();
  };

  it('explain each command with a comment line or a trailing comment', () => {
    for (const line of lines.slice(1)) expect(line.trimStart().startsWith('#') || line.includes('curl')).toBe(true);
  });

  it('show a replay: the same send with its key, twice, answers the stored 202 with Idempotent-Replayed: true', async () => {
    const replay = command('run this twice');
    const first = await sh(replay);
    const second = await sh(replay);
    expect(first).toMatch(/^HTTP\/1\.1 202/);
    expect(first.toLowerCase()).not.toContain('idempotent-replayed');
    expect(second).toMatch(/^HTTP\/1\.1 202/);
    expect(second.toLowerCase()).toContain('idempotent-replayed: true');
    expect(second.slice(second.indexOf('{'))).toBe(first.slice(first.indexOf('{')));
  });

  it('show a 409 idempotency_conflict with Retry-After: 1 while the first send with the key still runs', async () => {
    const out = await sh(command('while the first send still runs'));
    expect(out).toMatch(/^HTTP\/1\.1 409/);
    expect(out.toLowerCase()).toContain('retry-after: 1');
    expect(out).toContain('"error":"idempotency_conflict"');
  });

  it('show the burst admitted, then 429 throttled with Retry-After', async () => {
    const out = await sh(command('the status of 25 quick requests'));
    const [statuses = '', ...headers] = out.trim().split('\n');
    const codes = statuses.trim().split(' ');
    expect(codes.filter((c) => c === '404').length).toBeGreaterThanOrEqual(20);
    expect(codes).toContain('429');
    expect(headers.join('\n')).toMatch(/^HTTP\/1\.1 429/);
    expect(headers.join('\n').toLowerCase()).toMatch(/retry-after: [1-9]/);
  });
});

describe('the demo tour on two processes sharing one Redis', () => {
  let redis: Redis;
  let prefix: string;
  let processes: ApiProcesses | undefined;
  let outsider: Listening;
  let rows: TourRow[];

  beforeAll(async () => {
    redis = await connectRedis();
    prefix = testPrefix('tour');
    processes = await startApiProcesses({ redisUrl: redisUrl(), prefix });
    outsider = await listen(createExpressApp({ allow: ['192.0.2.0/24'], onError: quiet }), 0);
    rows = await runTour({ servers: processes.urls, outsider: outsider.url });
  }, 60_000);

  afterAll(async () => {
    await processes?.stop();
    await outsider?.close();
    if (redis) {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
        cursor = next;
        if (keys.length > 0) await redis.del(...keys);
      } while (cursor !== '0');
      redis.disconnect();
    }
  });

  it('runs two separate processes', () => {
    expect(processes!.urls[0]).not.toBe(processes!.urls[1]);
  });

  it('shows every documented code and the client behaviour, as on one server', () => {
    expectEveryDocumentedCode(rows);
    expectClientBehaviour(rows);
  });

  it('replays on B a send made on A with the same Idempotency-Key', () => {
    const replay = row(rows, (r) => r.reaction === 'replayed', 'a replay');
    expect(replay.evidence).toMatchObject({ server: 'B', sameId: true });
    expect(replay.request).toContain('to B, first sent to A');
  });

  it('answers 409 on B while the same key runs on A, then replays the result of A', () => {
    const conflict = row(rows, (r) => r.code === 'idempotency_conflict', 'the conflict row');
    expect(conflict.evidence).toMatchObject({ server: 'B', replayed: true, sameId: true });
  });

  it('throttles requests alternating between A and B together: one shared burst, not one each', () => {
    const throttled = row(rows, (r) => r.code === 'throttled', 'the throttled row');
    const { admittedA, admittedB, admitted } = throttled.evidence;
    expect(admittedA).toBeGreaterThan(0);
    expect(admittedB).toBeGreaterThan(0);
    expect(admitted).toBeGreaterThanOrEqual(20);
    // Two separate stores would admit a burst of 20 on each before any refusal.
    expect(admitted).toBeLessThan(40);
  });
});
