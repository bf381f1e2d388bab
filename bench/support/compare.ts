/**
 * Throughput comparisons that hold up on a small, shared machine. Every round starts a fresh server
 * process for each contender (a process that happened to land badly does not colour every round), in an
 * order that rotates from round to round (drift in the machine's load hits all contenders alike), and
 * compares each contender with its baseline from the same round. The summary is the median of those
 * per-round ratios, with the lowest and highest.
 */
import type { ChildProcess } from 'node:child_process';
import { forkServer } from './server-process.js';

/** One server configuration and the traffic sent to it. */
export interface Contender {
  /** Names this contender in the results. */
  id: string;
  /** The server to start (the value of the script's server environment variable). */
  kind: string;
  /** The `id` of the contender this one is compared with (itself for a baseline). */
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
  /** Seconds of load per contender per round. @default 2 */
  seconds?: number;
  /** Seconds of unmeasured load after a server starts. @default 1 */
  warmUpSeconds?: number;
  /** Sends load to a started server for `seconds` and reports what it achieved. */
  load(port: number, seconds: number, contender: Contender): Promise<{ rps: number; failures: number }>;
  /** Called after each measurement (for a verbose mode). */
  onMeasured?(round: number, contender: Contender, rps: number): void;
}

/** What one contender achieved over all rounds. */
export interface Measured {
  /** Requests per second, one per round. */
  rps: number[];
  /** Ratio to the baseline's figure of the same round, one per round. */
  ratios: number[];
  /** Non-2xx responses and errors seen, over all rounds. */
  failures: number;
}

/**
 * Measures every contender for `rounds` rounds and returns, per contender id, its figures.
 *
 * @example
 * ```ts
 * const results = await compareThroughput(
 *   [{ id: 'bare', kind: 'koa-bare', baseline: 'bare' }, { id: 'guarded', kind: 'koa-bulwark', baseline: 'bare' }],
 *   { script: fileURLToPath(import.meta.url), env: 'MY_SERVER', load: (port, s) => hammer(port, s) },
 * );
 * ```
 */
export async function compareThroughput(contenders: readonly Contender[], options: CompareOptions): Promise<Map<string, Measured>> {
  const rounds = options.rounds ?? 5;
  const seconds = options.seconds ?? 2;
  const warmUp = options.warmUpSeconds ?? 1;
  const perRound = new Map<string, number[]>(contenders.map((c) => [c.id, []]));
  const failures = new Map<string, number>(contenders.map((c) => [c.id, 0]));
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < contenders.length; i++) {
      const contender = contenders[(i + round) % contenders.length]!;
      const server = await forkServer(options.script, options.env, contender.kind);
      try {
        if (warmUp > 0) await options.load(server.port, warmUp, contender);
        const result = await options.load(server.port, seconds, contender);
        perRound.get(contender.id)![round] = result.rps;
        failures.set(contender.id, failures.get(contender.id)! + result.failures);
        options.onMeasured?.(round, contender, result.rps);
      } finally {
        stop(server.child);
      }
    }
  }
  const out = new Map<string, Measured>();
  for (const contender of contenders) {
    const rps = perRound.get(contender.id)!;
    const base = perRound.get(contender.baseline);
    if (!base) throw new Error(`compareThroughput: ${contender.id} names an unknown baseline ${contender.baseline}`);
    out.set(contender.id, { rps, ratios: rps.map((value, i) => value / base[i]!), failures: failures.get(contender.id)! });
  }
  return out;
}

function stop(child: ChildProcess): void {
  child.removeAllListeners('exit');
  child.kill();
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

/** Per-round ratios of two contenders measured in the same rounds: `a[i] / b[i]`. */
export function roundRatios(a: Measured, b: Measured): number[] {
  return a.rps.map((value, i) => value / b.rps[i]!);
}
