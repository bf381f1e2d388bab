/**
 * Throughput comparisons that hold up on a small, shared machine.
 *
 * On a 2-vCPU virtual machine the speed of the machine itself drifts by tens of percent from one second to
 * the next: two identical servers measured one after the other differ by up to ±25% (an A/A test). So a
 * contender is measured in the same window as its baseline, taking turns with it: both servers are under
 * load for the whole window, but only one of them runs at any moment (the other is stopped with SIGSTOP),
 * and they swap every 100 ms. Each has the machine to itself while it runs, as a server in production
 * would, and the drift falls on both alike. Each reports the CPU time it spent per request; a server bound
 * by its CPU serves requests in inverse proportion to that time, so the ratio of the two (its capacity
 * relative to the baseline) is the throughput ratio. The requests each served in its turns (half of the
 * window) give the same ratio directly, and the tables show both.
 *
 * Two things keep the pairs honest: which server of a pair runs first alternates from round to round, and
 * the servers not being measured stay stopped, because an idle Node.js process still collects garbage and
 * compiles on its own schedule. Measured so with wrk as the load (`support/load.ts`), identical servers agree
 * within a few percent in every round (the throttle benchmark's A/A row shows it each run).
 *
 * Every server starts once and is warmed up; then, round after round, each contender is measured with its
 * baseline, in an order that rotates from round to round.
 *
 * Warm-up: a baseline serves in the window of every contender measured against it, so it has served far
 * more requests than any one of them by the time most are measured, and a Node.js server keeps getting
 * faster for a while (the JIT, the young generation's size). After 4 s of warm-up, a second bare Koa
 * process measured against the first came out at 95-97% in every round; after 12 s, at 97-102%. Too short
 * a warm-up makes every contender look slower than it is.
 */
import type { ChildProcess } from 'node:child_process';
import { sendLoad } from './load.js';
import type { Row } from './print-tables.js';
import { forkServer, serverUsage } from './server-process.js';

/** Whether processes can be stopped and continued (SIGSTOP, SIGCONT): everywhere but on Windows. */
const CAN_PAUSE = process.platform !== 'win32';

/** One server configuration, compared with another. */
export interface Contender {
  /** Names this contender in the results. */
  id: string;
  /** The server to start (the value of the script's server environment variable). */
  kind: string;
  /** The `id` of the contender this one is measured against (itself for a baseline). */
  baseline: string;
}

/** Options of {@link compareThroughput}. */
export interface CompareOptions {
  /** The script that builds a server when started with `env` set to a contender's `kind`. */
  script: string;
  /** The environment variable that names the server to build. */
  env: string;
  /** Measured rounds. @default 5 */
  rounds?: number;
  /** Seconds per measurement window, shared in turns by the two servers of a pair. @default 6 */
  seconds?: number;
  /** Seconds of unmeasured load on each server after it starts (see "Warm-up" above). @default 10 */
  warmUpSeconds?: number;
  /** Connections to each server. @default 16 */
  connections?: number;
  /**
   * Sends load to a server for `seconds` over `connections` connections and reports the responses it got
   * and how many of them count as failures (see {@link sendLoad}).
   */
  load(port: number, seconds: number, connections: number, kind: string): Promise<{ requests: number; failures: number }>;
}

/** What one contender achieved over all rounds, each round measured in the same window as its baseline. */
export interface Measured {
  /** Requests per second while it ran (its turns, half of each window), one per round. */
  rps: number[];
  /** Its requests per second over the baseline's, in the same window, one per round. */
  ratios: number[];
  /** CPU time the server process spent per request, in microseconds, one per round. */
  cpuPerRequest: number[];
  /** The baseline's CPU time per request over this contender's, in the same window, one per round. */
  capacity: number[];
  /** Non-2xx responses and errors seen, over all rounds. */
  failures: number;
}

interface Server {
  child: ChildProcess;
  port: number;
}

/**
 * Measures every contender against its baseline for `rounds` rounds and returns, per contender id, its
 * figures (a baseline's own figures come from the windows it shared with the others).
 *
 * @example
 * ```ts
 * const results = await compareThroughput(
 *   [{ id: 'bare', kind: 'koa-bare', baseline: 'bare' }, { id: 'guarded', kind: 'koa-bulwark', baseline: 'bare' }],
 *   { script: fileURLToPath(import.meta.url), env: 'MY_SERVER', load: (port, s, c) => hammer(port, s, c) },
 * );
 * ```
 */
export async function compareThroughput(contenders: readonly Contender[], options: CompareOptions): Promise<Map<string, Measured>> {
  const rounds = options.rounds ?? 5;
  const seconds = options.seconds ?? 6;
  const warmUp = options.warmUpSeconds ?? 10;
  const connections = options.connections ?? 16;
  const byId = new Map(contenders.map((c) => [c.id, c]));
  for (const contender of contenders) {
    if (!byId.has(contender.baseline)) throw new Error(`compareThroughput: ${contender.id} names an unknown baseline ${contender.baseline}`);
  }
  const pairs = contenders.filter((c) => c.baseline !== c.id);
  for (const contender of pairs) {
    // Both servers of a window are asked for their usage at once: they must be two processes.
    if (contender.kind === byId.get(contender.baseline)!.kind) {
      throw new Error(`compareThroughput: ${contender.id} runs the same server kind as its baseline; give an A/A check a kind of its own`);
    }
  }
  const results = new Map<string, Measured>(
    contenders.map((c) => [c.id, { rps: [], ratios: [], cpuPerRequest: [], capacity: [], failures: 0 }]),
  );
  const servers = new Map<string, Server>();
  try {
    for (const kind of new Set(contenders.map((c) => c.kind))) {
      const server = await forkServer(options.script, options.env, kind);
      servers.set(kind, server);
      await options.load(server.port, warmUp, connections, kind);
      if (CAN_PAUSE) pause(server);
    }
    for (let round = 0; round < rounds; round++) {
      for (let i = 0; i < pairs.length; i++) {
        const contender = pairs[(i + round) % pairs.length]!;
        const baseline = byId.get(contender.baseline)!;
        const pair = [servers.get(contender.kind)!, servers.get(baseline.kind)!] as const;
        if (CAN_PAUSE) await resume(pair);
        const [own, base] = await inTurns(
          pair[0],
          pair[1],
          (server, kind) => options.load(server.port, seconds, connections, kind),
          contender.kind,
          baseline.kind,
          seconds,
          round % 2 === 1,
        );
        if (CAN_PAUSE) for (const server of pair) pause(server);
        record(results.get(contender.id)!, own, base);
        // A root baseline's own figures come from every window it shared; a contender used as another's
        // baseline keeps only the windows against its own baseline.
        if (baseline.baseline === baseline.id) record(results.get(baseline.id)!, base, base);
      }
    }
  } finally {
    for (const { child } of servers.values()) {
      child.removeAllListeners('exit');
      child.kill('SIGCONT');
      child.kill();
    }
  }
  return results;
}

/**
 * Stops a server between its windows and between its turns (SIGSTOP): an idle Node.js process still
 * collects garbage and compiles on its own schedule, which would take CPU from the server being measured.
 */
function pause(server: Server): void {
  server.child.kill('SIGSTOP');
}

/** Continues the servers of a window and gives them a moment to finish what they had pending. */
async function resume(pair: readonly Server[]): Promise<void> {
  for (const server of pair) server.child.kill('SIGCONT');
  await new Promise((resolve) => setTimeout(resolve, 200));
}

/** How long each server of a pair runs before the other takes its turn. */
const TURN_MS = 100;

interface Window {
  rps: number;
  failures: number;
  cpuPerRequest: number;
}

/**
 * Loads two servers for `seconds`, letting them run in turns of {@link TURN_MS} (the other one stopped),
 * and reads what each achieved and the CPU time it spent per request. `bFirst` lets `b` run first.
 * Where processes cannot be stopped (Windows), the two run together.
 */
async function inTurns(
  a: Server,
  b: Server,
  load: (server: Server, kind: string) => Promise<{ requests: number; failures: number }>,
  kindA: string,
  kindB: string,
  seconds: number,
  bFirst: boolean,
): Promise<[Window, Window]> {
  const before = await Promise.all([serverUsage(a.child), serverUsage(b.child)]);
  const turns = CAN_PAUSE ? takeTurns(bFirst ? [b, a] : [a, b]) : undefined;
  let loads: Array<{ requests: number; failures: number }>;
  try {
    loads = await Promise.all([load(a, kindA), load(b, kindB)]);
  } finally {
    turns?.stop();
  }
  const after = await Promise.all([serverUsage(a.child), serverUsage(b.child)]);
  const running = turns ? seconds / 2 : seconds;
  const window = (i: 0 | 1): Window => ({
    rps: loads[i]!.requests / running,
    failures: loads[i]!.failures,
    cpuPerRequest: (after[i].cpuMicros - before[i].cpuMicros) / Math.max(after[i].served - before[i].served, 1),
  });
  return [window(0), window(1)];
}

/** Lets `first` run and stops `second`, then swaps them every {@link TURN_MS} until `stop()` (which continues both). */
function takeTurns([first, second]: readonly [Server, Server]): { stop(): void } {
  let running = first;
  let waiting = second;
  pause(waiting);
  const timer = setInterval(() => {
    // Stop one before continuing the other: the two never run at once.
    pause(running);
    waiting.child.kill('SIGCONT');
    [running, waiting] = [waiting, running];
  }, TURN_MS);
  return {
    stop() {
      clearInterval(timer);
      for (const server of [first, second]) server.child.kill('SIGCONT');
    },
  };
}

function record(into: Measured, own: Window, base: Window): void {
  into.rps.push(own.rps);
  into.ratios.push(own.rps / base.rps);
  into.cpuPerRequest.push(own.cpuPerRequest);
  into.capacity.push(base.cpuPerRequest / own.cpuPerRequest);
  into.failures += own.failures;
}

/** The middle value (the upper middle of an even count). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

/** A ratio as a percentage, `91.3%`. */
export const percent = (ratio: number): string => `${(ratio * 100).toFixed(1)}%`;

/** The median of per-round ratios with their range, `91.3% (88.0-95.1%)`. */
export function ratioSummary(ratios: readonly number[]): string {
  return `${percent(median(ratios))} (${(Math.min(...ratios) * 100).toFixed(1)}-${percent(Math.max(...ratios))})`;
}

/** The median of per-round factors with their range, `1.31x (1.20-1.45x)`. */
export function factorSummary(factors: readonly number[]): string {
  return `${median(factors).toFixed(2)}x (${Math.min(...factors).toFixed(2)}-${Math.max(...factors).toFixed(2)}x)`;
}

/** A {@link CompareOptions.load} that sends GET requests to `path` ({@link sendLoad}); any non-2xx response is a failure. */
export function getLoad(path = '/'): CompareOptions['load'] {
  return async (port, seconds, connections) => {
    const result = await sendLoad(port, seconds, connections, { path });
    return { requests: result.requests, failures: result.non2xx + result.errors };
  };
}

/** The headline column of {@link capacityRows}, read by the combined summary (bench/run.ts). */
export const CAPACITY = 'capacity vs it: median (range)';

/**
 * Measures the contenders ({@link compareThroughput}) and returns their table rows ({@link capacityRows}):
 * what each benchmark script does with its servers.
 *
 * @example
 * ```ts
 * const rows = await measureCapacities(contenders, { script: fileURLToPath(import.meta.url), env: SERVER_ENV, load: getLoad() });
 * ```
 */
export async function measureCapacities(contenders: readonly Contender[], options: CompareOptions, table?: string): Promise<Row[]> {
  return capacityRows(contenders, await compareThroughput(contenders, options), table);
}

/**
 * One table row per contender: what it was measured against, its requests per second and CPU time per
 * request (medians), and its capacity against the other server (a percentage against a bare server, a
 * factor against a peer library), then the ratio of the requests per second the two served in their turns.
 */
function capacityRows(contenders: readonly Contender[], results: Map<string, Measured>, table?: string): Row[] {
  return contenders.map((contender) => {
    const measured = results.get(contender.id)!;
    const against = contender.baseline === contender.id ? '' : contender.baseline;
    const versusBare = against.endsWith('bare');
    const capacity = against === '' ? '' : versusBare ? ratioSummary(measured.capacity) : factorSummary(measured.capacity);
    const rpsRatio = median(measured.ratios);
    const row: Row = {
      ...(table === undefined ? {} : { table }),
      server: contender.id,
      'measured against': against,
      'req/s (median)': Math.round(median(measured.rps)),
      'CPU µs/req (median)': Number(median(measured.cpuPerRequest).toFixed(1)),
      [CAPACITY]: capacity,
      'req/s vs it (median)': against === '' ? '' : versusBare ? percent(rpsRatio) : `${rpsRatio.toFixed(2)}x`,
    };
    if (measured.failures > 0) row.failures = measured.failures;
    return row;
  });
}
