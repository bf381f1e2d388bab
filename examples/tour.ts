/**
 * The demo's tour: a short walk through every documented error of the demo messaging API, made with
 * bulwark's client (`createFetch`), recording for each answer the request that caused it and what the
 * client did about it. `npm run demo` prints its rows as a table; test/examples/tour.test.ts asserts them.
 *
 * The tour needs the demo API with its fault routes (`createExpressApp({ faults: true })`), and the same
 * API with an allowlist that leaves out the tour's address (for `ip_not_allowed`). With two servers
 * (two processes on one Redis), the idempotency and rate-limit steps alternate between them.
 */
import { randomUUID } from 'node:crypto';
import { CircuitOpenError } from '../src/client/index.js';
import { DAILY_SPEND_CAP_CENTS, PRICE_CENTS, RATE_LIMIT, WALLETS } from './messaging/rules.js';
import { startAudioHost } from './tour/audio-host.js';
import { type CallOutcome, ObservedClient, TOUR_CLIENT, type TourRequest } from './tour/observed-client.js';

/** What the client did about an answer. */
export type Reaction =
  /** A success, sent once. */
  | 'accepted'
  /** The stored response of an earlier call with the same Idempotency-Key (`Idempotent-Replayed: true`). */
  | 'replayed'
  /** Waited exactly the answer's Retry-After, then retried. */
  | 'retried-after-retry-after'
  /** Retried after an exponential backoff with jitter (no Retry-After). */
  | 'retried-with-backoff'
  /** Did not retry (it cannot succeed as is): gave the code to the caller. */
  | 'surfaced'
  /** Gave the 5xx to the caller, and the failures opened the origin's circuit breaker. */
  | 'breaker-opened'
  /** The breaker was open: failed at once with `circuit_open`, without sending anything. */
  | 'failed-fast'
  /** The breaker let one probe through after its reset timeout; its success closed the breaker. */
  | 'probe-closed';

/** One row of the tour's table. */
export interface TourRow {
  /** Status of the answer that the row is about (the first attempt's); undefined when nothing was sent. */
  status: number | undefined;
  /** Its error code, or '' for a success. */
  code: string;
  /** The request that caused it, for people. */
  request: string;
  /** What the client did about it. */
  reaction: Reaction;
  /** What the client did, for people (with the final outcome). */
  client: string;
  /** Status of the call's final response (after retries), when there was one. */
  finalStatus?: number;
  /** Facts that the tour checked along the way (for tests): which server answered, counts, ids. */
  evidence: Record<string, string | number | boolean>;
}

/** Where the tour runs. */
export interface TourTarget {
  /**
   * The demo API, with its fault routes: one server, or two processes that share one Redis store
   * (requests then alternate between them, labelled A and B).
   */
  servers: readonly [string] | readonly [string, string];
  /** The same API with an allowlist that does not hold the tour's address (for example 192.0.2.0/24). */
  outsider: string;
  /** Describes the outsider's allowlist in the table. @default '192.0.2.0/24' */
  outsiderAllow?: string;
}

const SMS = { from: 'BULWARK', to: '+15550123', text: 'Your code is 123456' };
const TEN_NUMBERS = Array.from({ length: 10 }, (_, i) => `+1555010${String(i).padStart(4, '0')}`);
/** Client codes that the spec says to show to the account owner. */
const FOR_THE_OWNER = new Set([402, 403]);

/**
 * Runs the tour and returns its rows: every row of `CONDITIONS` (messaging/rules.ts), a success, a replay, a key
 * reused with another body, a 5xx retried with backoff, and a circuit breaker opening, failing fast
 * and closing again. Takes about three seconds (two Retry-After waits of one second).
 *
 * @example
 * ```ts
 * const rows = await runTour({ servers: ['http://127.0.0.1:3000'], outsider: 'http://127.0.0.1:3001' });
 * console.log(formatTourTable(rows));
 * ```
 */
export async function runTour(target: TourTarget): Promise<TourRow[]> {
  const run = randomUUID().slice(0, 8);
  const servers = target.servers.map((url, i) => ({ url, label: target.servers.length > 1 ? 'AB'[i]! : '' }));
  const first = servers[0]!;
  const second = servers[servers.length - 1]!;
  const shared = servers.length > 1;
  const at = (server: { label: string }) => (server.label ? ` (to ${server.label})` : '');
  const rows: TourRow[] = [];
  const client = new ObservedClient();

  // 1. A send, then the same send again with the same key: replayed, not sent twice.
  const key = `tour-${run}-send`;
  const send: TourRequest = { method: 'POST', path: '/v1/messages', token: 'demo_tour', json: SMS, key };
  const sent = await client.call(first.url, send);
  rows.push({
    status: sent.response?.status,
    code: codeOf(sent),
    request: `POST /v1/messages with an Idempotency-Key${at(first)}`,
    reaction: reactionOf(sent),
    client: `sent once: ${sent.response?.status ?? codeOf(sent)}${sent.response?.status === 202 ? ' accepted (queued)' : ''}`,
    finalStatus: sent.response?.status,
    evidence: { server: first.label || 'A' },
  });
  const again = await client.call(second.url, send);
  const sameId = again.body?.id !== undefined && again.body.id === sent.body?.id;
  rows.push({
    status: again.response?.status,
    code: codeOf(again),
    request: `the same POST and key again${shared ? ` (to ${second.label}, first sent to ${first.label})` : ''}`,
    reaction: reactionOf(again),
    client:
      again.response?.headers.get('idempotent-replayed') === 'true'
        ? `replayed: the stored ${again.response.status}, Idempotent-Replayed: true, ${sameId ? 'same id' : 'another id'}`
        : `not replayed: ${again.response?.status ?? codeOf(again)}, ${sameId ? 'same id' : 'another id'}`,
    finalStatus: again.response?.status,
    evidence: { server: second.label || 'A', sameId },
  });
  const mismatch = await client.call(first.url, { ...send, json: { ...SMS, text: 'another text' } });
  rows.push(surfacedRow(mismatch, `the same key with another body${at(first)}`));

  // 2. The same key while the first call still runs: 409, then a retry after Retry-After is replayed.
  rows.push(await conflictStep(run, first, second));

  // 3. Every condition that cannot succeed as is: not retried, the code goes to the caller.
  const surfaced: Array<[TourRequest, string]> = [
    [{ method: 'POST', path: '/v1/messages', json: SMS }, 'POST /v1/messages without a token'],
    [{ method: 'POST', path: '/v1/messages', token: 'demo_readonly', json: SMS }, 'POST /v1/messages, read-only token'],
    [{ method: 'POST', path: '/v1/messages', token: 'demo_broke', json: SMS }, `POST /v1/messages, a wallet of ${WALLETS.acct_broke}¢ (a send costs ${PRICE_CENTS}¢)`],
    [{ method: 'POST', path: '/v1/messages', token: 'demo_tour', json: { ...SMS, traffic_type: 'marketing' } }, 'POST /v1/messages, traffic_type "marketing"'],
    [{ method: 'POST', path: '/v1/messages', token: 'demo_tour', json: { ...SMS, from: 'SPAMCO' } }, 'POST /v1/messages from "SPAMCO"'],
    [{ method: 'POST', path: '/v1/messages', token: 'demo_tour', json: { ...SMS, to: ['12', 'abc'] } }, 'POST /v1/messages to ["12", "abc"]'],
    [{ method: 'POST', path: '/v1/messages', token: 'demo_tour', json: { ...SMS, to: '555-0123' } }, 'POST /v1/messages to "555-0123"'],
    [{ method: 'POST', path: '/v1/lookups', token: 'demo_tour', json: { numbers: ['1', 'x'] } }, 'POST /v1/lookups of ["1", "x"]'],
    [{ method: 'POST', path: '/v1/messages', token: 'demo_tour', raw: '{"from": "BULWARK",' }, 'POST /v1/messages, malformed JSON'],
    [
      { method: 'POST', path: '/v1/messages', token: 'demo_tour', json: { ...SMS, type: 'voice', text: 'x'.repeat(501) } },
      'POST /v1/messages, voice text of 501 characters',
    ],
    [{ method: 'GET', path: '/v1/messages/msg_unknown', token: 'demo_tour' }, 'GET /v1/messages/msg_unknown'],
  ];
  for (const [request, description] of surfaced) rows.push(surfacedRow(await client.call(first.url, request), description));

  // 4. The daily spend cap: sends of 50 cents until one would pass the cap. The cap charges only for work
  // done: the first send's retry (same key) is replayed and spends nothing, and so does a send the API
  // rejects, so the cap still admits two charged sends.
  const spend: TourRequest = { method: 'POST', path: '/v1/messages', token: 'demo_spender', json: { ...SMS, to: TEN_NUMBERS } };
  const keyedSpend: TourRequest = { ...spend, key: `tour-${run}-capped` };
  const charged = await client.call(first.url, keyedSpend);
  const retried = await client.call(first.url, keyedSpend);
  rows.push({
    status: retried.response?.status,
    code: codeOf(retried),
    request: `a capped send (${10 * PRICE_CENTS}¢) sent again with its key`,
    reaction: reactionOf(retried),
    client: `replayed its ${retried.response?.status}: spent nothing again`,
    finalStatus: retried.response?.status,
    evidence: { charged: charged.response?.status ?? 0, replayed: retried.response?.headers.get('idempotent-replayed') === 'true' },
  });
  const rejected = await client.call(first.url, { ...spend, json: { ...SMS, to: '555-0123' } });
  rows.push(surfacedRow(rejected, 'a capped send the API rejects (422): spent nothing'));
  let capped: CallOutcome | undefined;
  let sends = charged.response?.status === 202 ? 1 : 0;
  for (let i = 0; i < 5 && !capped; i++) {
    const outcome = await client.call(first.url, spend);
    if (outcome.response?.status === 202) sends += 1;
    else capped = outcome;
  }
  if (capped) {
    rows.push(
      surfacedRow(capped, `POST /v1/messages to 10 numbers after ${sends} charged sends (${10 * PRICE_CENTS}¢ each, cap ${DAILY_SPEND_CAP_CENTS}¢ a day)`, {
        period: String(capped.body?.period),
        sends,
      }),
    );
  }

  // 5. A client address off the allowlist.
  const outsider = await client.call(target.outsider, { method: 'GET', path: '/v1/messages/msg_unknown', token: 'demo_tour' });
  rows.push(
    surfacedRow(
      outsider,
      `GET /v1/messages/msg_unknown, answered by a second instance of the API whose allowlist is ${target.outsiderAllow ?? '192.0.2.0/24'}, which leaves out this machine`,
      { server: 'outsider' },
    ),
  );

  // 6. The rate limit: a burst passes, the next request waits out Retry-After.
  rows.push(await throttleStep(servers));

  // 7. A 5xx without Retry-After: retried with backoff, with the same Idempotency-Key each time.
  rows.push(await backoffStep(run, first));

  // 8. An upstream that keeps failing opens the breaker; the next call fails fast; a probe closes it.
  rows.push(...(await breakerStep(run, first)));
  return rows;
}

/**
 * A row for an answer that the client gave to the caller without retrying it. When the call met a
 * retryable answer first (a 429 of an account that an earlier run drained), the row says so.
 */
function surfacedRow(outcome: CallOutcome, request: string, evidence: TourRow['evidence'] = {}): TourRow {
  const status = outcome.response?.status;
  const owner = status !== undefined && FOR_THE_OWNER.has(status) ? '; shown to the account owner' : '';
  const waits = outcome.retries.map((r) => `${r.status ?? r.reason}, waited ${seconds(r.delayMs)}`).join('; ');
  return {
    status,
    code: codeOf(outcome),
    request,
    reaction: reactionOf(outcome) === 'accepted' ? 'accepted' : 'surfaced',
    client: `${waits ? `${waits}, retried; then ` : ''}not retried: it cannot succeed as sent${owner}`,
    finalStatus: status,
    evidence: { ...evidence, retries: outcome.retries.length },
  };
}

async function conflictStep(run: string, first: { url: string; label: string }, second: { url: string; label: string }): Promise<TourRow> {
  // A voice send stays in flight while its audio file is held; the file is released once the
  // duplicate has met the first call in flight (its first retry is scheduled).
  const audio = await startAudioHost();
  let duplicate: CallOutcome;
  let done: CallOutcome;
  try {
    const voice: TourRequest = {
      method: 'POST',
      path: '/v1/messages',
      token: 'demo_tour',
      json: { ...SMS, type: 'voice', audio_url: audio.url },
      key: `tour-${run}-voice`,
    };
    const original = new ObservedClient().call(first.url, voice);
    await Promise.race([audio.requested, original]);
    duplicate = await new ObservedClient(TOUR_CLIENT, () => audio.release()).call(second.url, voice);
    audio.release();
    done = await original;
  } finally {
    await audio.close();
  }
  const wait = duplicate.retries[0];
  const replayed = duplicate.response?.headers.get('idempotent-replayed') === 'true';
  const sameId = duplicate.body?.id !== undefined && duplicate.body.id === done.body?.id;
  const where = second.label ? ` to ${second.label} while it runs on ${first.label}` : ' while the first still runs';
  return {
    status: duplicate.firstStatus,
    code: wait?.status === 409 ? 'idempotency_conflict' : codeOf(duplicate),
    request: `the same voice POST and key${where}`,
    reaction: wait?.fromRetryAfter ? 'retried-after-retry-after' : reactionOf(duplicate),
    client: wait
      ? `waited Retry-After ${seconds(wait.delayMs)}, retried with the same key: ${duplicate.response?.status}${replayed ? ' replayed' : ''}, ${sameId ? 'same id' : 'another id'}`
      : `${duplicate.response?.status} at once`,
    finalStatus: duplicate.response?.status,
    evidence: { replayed, sameId, originalStatus: done.response?.status ?? 0, server: second.label || 'A' },
  };
}

async function throttleStep(servers: Array<{ url: string; label: string }>): Promise<TourRow> {
  // Pacing off: by default the client reads the RateLimit headers and holds a burst back before the
  // server would refuse it; here the burst goes out, to show the server's 429 and its Retry-After.
  const client = new ObservedClient({ ...TOUR_CLIENT, pace: false });
  const lookup: TourRequest = { method: 'POST', path: '/v1/lookups', token: 'demo_burst', json: { numbers: ['+15550100'] } };
  const admitted = new Map<string, number>(servers.map((s) => [s.label || 'A', 0]));
  let throttled: CallOutcome | undefined;
  let by = '';
  for (let i = 0; i < 60 && !throttled; i++) {
    const server = servers[i % servers.length]!;
    const outcome = await client.call(server.url, lookup);
    if (outcome.retries.some((r) => r.status === 429)) {
      throttled = outcome;
      by = server.label;
    } else if (outcome.response?.status === 200) {
      admitted.set(server.label || 'A', (admitted.get(server.label || 'A') ?? 0) + 1);
    }
  }
  const total = [...admitted.values()].reduce((a, b) => a + b, 0);
  const split = servers.length > 1 ? ` (${[...admitted].map(([label, n]) => `${label} ${n}`).join(', ')})` : '';
  const wait = throttled?.retries.find((r) => r.status === 429);
  const evidence: TourRow['evidence'] = { admitted: total };
  for (const [label, n] of admitted) evidence[`admitted${label}`] = n;
  if (by) evidence.server = by;
  return {
    status: throttled ? 429 : undefined,
    code: throttled ? 'throttled' : 'none',
    request:
      servers.length > 1
        ? `POST /v1/lookups in a burst, alternating A and B (one account, burst ${RATE_LIMIT.burst}; client pacing off)`
        : `POST /v1/lookups in a burst (one account, burst ${RATE_LIMIT.burst}; client pacing off)`,
    reaction: wait?.fromRetryAfter ? 'retried-after-retry-after' : 'surfaced',
    client: wait
      ? `${total} admitted${split}; the next waited Retry-After ${seconds(wait.delayMs)}, then retried: ${throttled?.response?.status}`
      : 'never throttled',
    finalStatus: throttled?.response?.status,
    evidence,
  };
}

async function backoffStep(run: string, server: { url: string }): Promise<TourRow> {
  const client = new ObservedClient();
  const outcome = await client.call(server.url, { method: 'POST', path: `/v1/faults/flaky?id=${run}-retry&fail=2` });
  const keys = new Set(outcome.retries.map((r) => r.idempotencyKey));
  const sameKey = keys.size === 1 && !keys.has(undefined);
  const waits = outcome.retries.map((r) => `${Math.round(r.delayMs)}`).join(', ');
  return {
    status: outcome.firstStatus,
    code: outcome.retries.length > 0 ? 'service_unavailable' : codeOf(outcome),
    request: 'POST /v1/faults/flaky: fails twice, then works',
    reaction: outcome.retries.length > 0 && !outcome.retries.some((r) => r.fromRetryAfter) ? 'retried-with-backoff' : reactionOf(outcome),
    client: `retried ${outcome.retries.length}x after backoff (${waits} ms)${sameKey ? ', same Idempotency-Key' : ''}: ${outcome.response?.status}`,
    finalStatus: outcome.response?.status,
    evidence: { sameKey, attempts: Number(outcome.body?.attempt ?? 0) },
  };
}

async function breakerStep(run: string, server: { url: string }): Promise<TourRow[]> {
  const resetMs = 500;
  const client = new ObservedClient({
    ...TOUR_CLIENT,
    retries: 0,
    retryBudget: false,
    breaker: { volumeThreshold: 3, errorThresholdPercentage: 50, resetTimeout: resetMs },
  });
  const down: TourRequest = { method: 'GET', path: `/v1/faults/flaky?id=${run}-down&fail=3` };
  const rows: TourRow[] = [];
  let failures = 0;
  let last: CallOutcome | undefined;
  while (failures < 10 && !client.breakerStates.some((s) => s.state === 'open')) {
    last = await client.call(server.url, down);
    if (last.response?.status !== 503) break;
    failures += 1;
  }
  const opened = client.breakerStates.some((s) => s.state === 'open');
  rows.push({
    status: last?.response?.status,
    code: last ? codeOf(last) : '',
    request: `GET /v1/faults/flaky ${failures}x (the upstream is down; breaker volumeThreshold 3)`,
    reaction: opened ? 'breaker-opened' : 'surfaced',
    client: opened
      ? `gave each 503 to the caller at once (this client is set to retries: 0, so as to show the breaker); failure ${failures} in a row opened the breaker`
      : 'breaker stayed closed',
    finalStatus: last?.response?.status,
    evidence: { failures, opened },
  });

  const fast = await client.call(server.url, down);
  const open = fast.error instanceof CircuitOpenError ? fast.error : undefined;
  rows.push({
    status: fast.response?.status,
    code: open ? open.code : codeOf(fast),
    request: 'the same GET at once',
    reaction: open ? 'failed-fast' : reactionOf(fast),
    client: open ? `failed at once, nothing sent; a probe may go in ${seconds(open.retryAfterMs)}` : 'was sent',
    finalStatus: fast.response?.status,
    evidence: { sent: !open },
  });

  await sleep((open?.retryAfterMs ?? resetMs) + 50);
  const probe = await client.call(server.url, down);
  const closed = client.breakerStates.at(-1)?.state === 'close';
  const attempt = Number(probe.body?.attempt ?? 0);
  rows.push({
    status: probe.response?.status,
    code: codeOf(probe),
    request: `the same GET after ${seconds(resetMs)} (the upstream is back)`,
    reaction: closed ? 'probe-closed' : reactionOf(probe),
    client: closed
      ? `let one probe through: ${probe.response?.status}, breaker closed; the server counted the probe as request ${attempt} for this id (the ${failures} failures, then the probe: the call that failed fast never reached it)`
      : `${probe.response?.status ?? String(probe.error)}`,
    finalStatus: probe.response?.status,
    evidence: { attempt, closed },
  });
  return rows;
}

/** The code of an outcome: the error body's `error`, a thrown error's `code`, or '' for a success. */
function codeOf(outcome: CallOutcome): string {
  const fromBody = outcome.body?.error;
  if (typeof fromBody === 'string') return fromBody;
  const thrown = (outcome.error as { code?: unknown } | undefined)?.code;
  if (typeof thrown === 'string') return thrown;
  return outcome.error !== undefined ? 'network_error' : '';
}

function reactionOf(outcome: CallOutcome): Reaction {
  if (outcome.error instanceof CircuitOpenError) return 'failed-fast';
  if (outcome.response?.headers.get('idempotent-replayed') === 'true') return 'replayed';
  if (outcome.retries.some((r) => r.fromRetryAfter)) return 'retried-after-retry-after';
  if (outcome.retries.length > 0) return 'retried-with-backoff';
  return outcome.response?.ok ? 'accepted' : 'surfaced';
}

function seconds(ms: number): string {
  const s = ms / 1000;
  return `${Number.isInteger(s) ? s : s.toFixed(1)} s`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
