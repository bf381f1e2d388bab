/**
 * The text `npm run demo` prints around the tour's table: what the columns mean, a summary line counted
 * from the rows, and curl lines that show bulwark's own behaviour (a replay, a 409 while a keyed send runs,
 * a 429 with Retry-After) besides the API's errors. Each line reads without the source.
 */
import { CONDITIONS, RATE_LIMIT } from '../messaging/rules.js';
import type { TourRow } from '../tour.js';

/** What the table's columns and marks mean, printed above it. */
export const TOUR_LEGEND: readonly string[] = [
  'STATUS is the first answer the server gave (later attempts are in the last column); CODE is the "error"',
  'of its JSON body; "-" means none (a success, or a call the client failed without sending).',
];

/**
 * One line that says how many distinct codes the table shows, counted from its rows: the demo API's
 * documented codes (examples/messaging/rules.ts) with their documented status, and the others with where
 * they come from. Names any documented code the tour did not see with its documented status.
 *
 * @example
 * ```ts
 * console.log(tourSummary(rows));
 * // 18 codes in the table: all 15 documented codes of the demo API, each with its documented status,
 * // and 3 more: 422 idempotency_key_mismatch, 503 service_unavailable, circuit_open (from the client)
 * ```
 */
export function tourSummary(rows: readonly TourRow[]): string {
  const seen = new Map<string, number | undefined>();
  for (const row of rows) if (row.code && row.code !== 'none' && !seen.has(row.code)) seen.set(row.code, row.status);
  const documented = new Set(CONDITIONS.map((c) => c.code));
  const missing = CONDITIONS.filter((c) => !rows.some((r) => r.code === c.code && r.status === c.status));
  const others = [...seen].filter(([code]) => !documented.has(code));
  const found = CONDITIONS.length - missing.length;
  const head =
    missing.length === 0
      ? `${seen.size} codes in the table: all ${CONDITIONS.length} documented codes of the demo API, each with its documented status`
      : `${seen.size} codes in the table: ${found} of the ${CONDITIONS.length} documented codes of the demo API with their documented status (not seen: ${missing
          .map((c) => `${c.status} ${c.code}`)
          .join(', ')})`;
  if (others.length === 0) return `${head}.`;
  const described = others.map(([code, status]) => (status === undefined ? `${code} (from the client, nothing sent)` : `${status} ${code}`));
  return `${head}, and ${others.length} more: ${described.join(', ')}.`;
}

/**
 * Curl lines to try against a running demo (memory or Redis mode; the fault routes must be mounted):
 * errors of the API, then bulwark's own behaviour, each with a comment saying what to look for. With two
 * servers (Redis mode), a replay across them as well.
 *
 * @example
 * ```ts
 * for (const line of tryLines(['http://127.0.0.1:3000'])) console.log(line);
 * ```
 */
export function tryLines(servers: readonly string[], run: string = Date.now().toString(36)): string[] {
  const url = servers[0]!;
  const json = `-H 'Content-Type: application/json'`;
  const alice = `-H 'Authorization: Bearer demo_alice'`;
  const bob = `-H 'Authorization: Bearer demo_bob'`;
  const sms = `-d '{"from":"BULWARK","to":"+15550123","text":"hi"}'`;
  const send = `curl -i -X POST ${url}/v1/messages ${alice} ${json}`;
  const key = (name: string) => `-H 'Idempotency-Key: try-${run}-${name}'`;
  const voice = `-d '{"from":"BULWARK","to":"+15550123","type":"voice","audio_url":"${url}/v1/faults/slow?ms=1500"}'`;
  const lines = [
    'Try (each comment says what to look for):',
    '  # The API\'s own errors, in bulwark\'s JSON body {"message","error"}:',
    `  ${send} ${sms}`,
    `  ${send} -d '{"from":"NOPE","to":"+15550123","text":"hi"}'    # 422 sender_not_approved`,
    `  curl -i -X POST ${url}/v1/messages -H 'Authorization: Bearer demo_broke' ${json} ${sms}    # 402 insufficient_balance`,
    `  curl -i ${url}/v1/messages/msg_unknown ${alice}    # 404 not_found`,
    `  curl -i -X POST ${url}/v1/lookups ${alice} ${json} -d '{"numbers":["12"]}'    # 422 no_valid_numbers`,
    '  # bulwark\'s idempotency keys: run this twice; the second answer is the stored one, with the same id',
    '  # and the header Idempotent-Replayed: true (the message is sent once):',
    `  ${send} ${key('replay')} ${sms}`,
    '  # The same key while the first send still runs (its voice file takes 1.5 s to fetch): the second',
    '  # answers 409 idempotency_conflict with Retry-After: 1:',
    `  curl -s -o /dev/null -X POST ${url}/v1/messages ${alice} ${json} ${key('conflict')} ${voice} & sleep 0.5; ${send} ${key('conflict')} ${voice}; wait`,
    `  # bulwark's rate limit (${RATE_LIMIT.limit} a minute per account, a burst of ${RATE_LIMIT.burst}): the status of 25 quick requests, then`,
    '  # the headers of the next refusal: 429 throttled with Retry-After (seconds until a retry is admitted):',
    `  for i in $(seq 25); do curl -s -o /dev/null -w '%{http_code} ' ${url}/v1/messages/msg_unknown ${bob}; done; echo; curl -si ${url}/v1/messages/msg_unknown ${bob} | grep -iE '^(HTTP|retry-after|ratelimit)'`,
    '  # A fault route for bulwark\'s client: 503 service_unavailable once for this id, then 200:',
    `  curl -i '${url}/v1/faults/flaky?id=mine-${run}&fail=1'`,
  ];
  if (servers.length > 1) {
    lines.push(
      '  # Shared through Redis: a send with a key to process A, then the same to process B, which replays it:',
      `  curl -i -X POST ${servers[0]}/v1/messages ${alice} ${json} ${key('shared')} ${sms}`,
      `  curl -i -X POST ${servers[1]}/v1/messages ${alice} ${json} ${key('shared')} ${sms}`,
    );
  }
  return lines;
}
