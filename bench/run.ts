/**
 * `npm run bench`: runs every benchmark script in one go and prints one combined table of the headline
 * ratios (each measured against a bare server or a peer library in the same run), then every script's own
 * tables, and writes it all to bench/RESULTS.md with a description of the machine.
 *
 * `npm run bench -- throttle client` runs only those scripts (and prints their tables without writing
 * RESULTS.md).
 */
import { fork } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CAPACITY } from './support/compare.js';
import { INSTRUCTION_SHARE } from './support/instructions.js';
import { SCRIPTS_PER_REQUEST } from './throttle.js';
import { loadGenerator } from './support/load.js';
import type { Row } from './support/print-tables.js';

interface BenchModule {
  run(): Promise<Row[]>;
}

const SCRIPTS = ['allowlist', 'throttle', 'idempotency', 'client', 'stores', 'stores-http', 'events', 'instructions'] as const;
type Script = (typeof SCRIPTS)[number];

/** One line of the combined table. */
interface Headline {
  area: string;
  measurement: string;
  result: string;
  target: string;
}

function machine(): string {
  const cpus = os.cpus();
  return `${cpus.length} x ${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${os.type()} ${os.release()}, Node.js ${process.version}`;
}

function table(rows: Row[]): string {
  const columns = [...new Set(rows.flatMap((row) => Object.keys(row)))];
  const lines = [`| ${columns.join(' | ')} |`, `|${columns.map(() => '---').join('|')}|`];
  for (const row of rows) lines.push(`| ${columns.map((c) => String(row[c] ?? '')).join(' | ')} |`);
  return lines.join('\n');
}

/** A script's rows split by their `table` column (scripts without one form a single table). */
function tables(rows: Row[]): Array<{ name: string; rows: Row[] }> {
  const groups = new Map<string, Row[]>();
  for (const { table: name = '', ...rest } of rows) {
    const group = groups.get(String(name)) ?? [];
    group.push(rest);
    groups.set(String(name), group);
  }
  return [...groups].map(([name, grouped]) => ({ name, rows: grouped }));
}

/** The headline column of every server comparison (capacity: see `support/compare.ts`). */
const VS_IT = CAPACITY;

const find = (rows: Row[], match: (row: Row) => boolean): Row | undefined => rows.find(match);
const text = (value: unknown): string => (value === undefined ? 'n/a' : String(value));
const signed = (value: unknown): string => (value === undefined ? 'n/a' : String(value).startsWith('-') ? String(value) : `+${String(value)}`);
const has = (row: Row, column: string, pattern: RegExp) => pattern.test(String(row[column] ?? ''));

/** The headline ratios of each script, read from its rows. */
function headlines(script: Script, rows: Row[]): Headline[] {
  switch (script) {
    case 'allowlist': {
      const at = (library: RegExp) => find(rows, (r) => has(r, 'library', library) && String(r.entries) === '100000');
      const ours = at(/^bulwark IpSet/);
      const blockList = at(/BlockList/);
      const ipfilter = at(/express-ipfilter/);
      const server = (name: RegExp) => find(rows, (r) => has(r, 'server', name));
      return [
        {
          area: 'allowlist',
          measurement: 'IPv4 lookups/s at 100,000 entries (hit / miss)',
          result: `bulwark ${text(ours?.['v4 hit /s'])} / ${text(ours?.['v4 miss /s'])}; net.BlockList ${text(blockList?.['v4 hit /s'])}; express-ipfilter ${text(ipfilter?.['v4 hit /s'])}`,
          target: '>= 1,000,000/s',
        },
        {
          area: 'allowlist',
          measurement: 'Express capacity, 10,000 entries, vs bare Express',
          result: text(server(/^express \+ bulwark/)?.[VS_IT]),
          target: '>= 95%',
        },
        {
          area: 'allowlist',
          measurement: 'Koa capacity, 10,000 entries, vs bare Koa',
          result: text(server(/^koa \+ bulwark/)?.[VS_IT]),
          target: '>= 95%',
        },
        {
          area: 'allowlist',
          measurement: 'express-ipfilter (1,000 CIDRs) vs bare Express',
          result: text(server(/express-ipfilter/)?.[VS_IT]),
          target: '(peer)',
        },
      ];
    }
    case 'throttle': {
      const decision = find(rows, (r) => has(r, 'library', /^bulwark rateLimit/));
      const commands = find(rows, (r) => r['EVALSHA+EVAL per decision'] !== undefined);
      const server = (name: RegExp) => find(rows, (r) => has(r, 'server', name));
      const against = (name: RegExp) => server(name)?.[VS_IT];
      return [
        { area: 'throttle', measurement: 'memory decision, median', result: `${text(decision?.['median µs'])} µs`, target: '<= 5 µs' },
        {
          area: 'throttle',
          measurement: 'Redis round trips (EVALSHA) per decision',
          result: text(commands?.['EVALSHA+EVAL per decision']),
          target: '1',
        },
        {
          area: 'throttle',
          measurement: 'Express capacity vs express-rate-limit (same headers / its defaults / neither sending headers)',
          result: `${text(against(/against express-rate-limit \(draft-8/))} / ${text(against(/against express-rate-limit \(its defaults/))} / ${text(against(/against express-rate-limit without headers/))}`,
          target: '>= 1.3x',
        },
        {
          area: 'throttle',
          measurement: 'Express capacity vs bare Express (an empty middleware for reference)',
          result: `bulwark ${text(against(/^express \+ bulwark rateLimit \(memory\)/))}; express-rate-limit ${text(against(/express-rate-limit \(memory, draft-8/))}; empty ${text(against(/^express \+ an empty middleware/))}`,
          target: '',
        },
        { area: 'throttle', measurement: 'Koa capacity vs bare Koa', result: text(against(/^koa \+ bulwark rateLimit \(memory\)$/)), target: '>= 90%' },
        {
          area: 'throttle',
          measurement: 'Koa references: an empty middleware / one setting the two headers / bulwark with headers: false, vs bare Koa',
          result: `${text(against(/^koa \+ an empty middleware/))} / ${text(against(/^koa \+ a middleware setting/))} / ${text(against(/^koa \+ bulwark rateLimit \(memory\), headers: false/))}`,
          target: '',
        },
        { area: 'throttle', measurement: 'A/A check: a second bare Koa process vs bare Koa', result: text(against(/A\/A check/)), target: '100%' },
        {
          area: 'throttle',
          measurement: 'Express spendCap capacity, every request refunded (422) vs none (200), memory / Redis',
          result: `${text(against(/^express \+ spendCap \(memory\), handler 422/))} / ${text(against(/^express \+ spendCap \(Redis\), handler 422/))}`,
          target: '',
        },
        {
          area: 'throttle',
          measurement: 'Express spendCap on Redis: scripts per response, no refund / every request refunded',
          result: `${text(server(/^express \+ spendCap \(Redis\), handler 200/)?.[SCRIPTS_PER_REQUEST])} / ${text(server(/^express \+ spendCap \(Redis\), handler 422/)?.[SCRIPTS_PER_REQUEST])}`,
          target: '1 / 2 (a refund is one round trip)',
        },
      ];
    }
    case 'idempotency': {
      const capacity = (server: RegExp) => text(find(rows, (r) => has(r, 'server', server))?.[VS_IT]);
      return [
        {
          area: 'idempotency',
          measurement: 'Koa POST capacity, memory store, fresh keys / replays, vs bare Koa',
          result: `${capacity(/^koa \+ bulwark idempotency \(memory\), fresh keys$/)} / ${capacity(/^koa \+ bulwark idempotency \(memory\), replays$/)}`,
          target: '>= 85%',
        },
        {
          area: 'idempotency',
          measurement: 'Koa reference: a minimal idempotency middleware (hashes, a Map), fresh keys, vs bare Koa',
          result: capacity(/minimal idempotency middleware/),
          target: '',
        },
        {
          area: 'idempotency',
          measurement: 'Express POST capacity vs express-idempotency (fresh keys / replays)',
          result: `${capacity(/fresh keys, against express-idempotency/)} / ${capacity(/replays, against express-idempotency/)}`,
          target: '>= 2x',
        },
      ];
    }
    case 'instructions': {
      if (rows.length === 0) return [{ area: 'instructions', measurement: 'valgrind not installed: nothing counted', result: 'n/a', target: '' }];
      const share = (table: string, server: RegExp) => text(find(rows, (r) => r.table === table && has(r, 'server', server))?.[INSTRUCTION_SHARE]);
      return [
        {
          area: 'throttle (instructions)',
          measurement: 'Koa: bulwark / an empty middleware / one setting the two headers / bulwark with headers: false / A/A, share of bare Koa',
          result: `${share('throttle', /^koa \+ bulwark rateLimit \(memory\)$/)} / ${share('throttle', /^koa \+ an empty middleware/)} / ${share('throttle', /^koa \+ a middleware setting/)} / ${share('throttle', /headers: false \(reference\)$/)} / ${share('throttle', /A\/A check/)}`,
          target: '',
        },
        {
          area: 'throttle (instructions)',
          measurement: 'Express: bulwark vs express-rate-limit (same headers / its defaults); bulwark / express-rate-limit / empty middleware, share of bare Express',
          result: `${share('throttle', /against express-rate-limit \(draft-8/)} / ${share('throttle', /against express-rate-limit \(its defaults/)}; ${share('throttle', /^express \+ bulwark rateLimit \(memory\)$/)} / ${share('throttle', /express-rate-limit \(memory, draft-8/)} / ${share('throttle', /^express \+ an empty middleware/)}`,
          target: '',
        },
        {
          area: 'idempotency (instructions)',
          measurement: 'Koa, memory store: fresh keys / replays / the minimal reference, share of bare Koa',
          result: `${share('idempotency', /^koa \+ bulwark idempotency \(memory\), fresh keys$/)} / ${share('idempotency', /^koa \+ bulwark idempotency \(memory\), replays$/)} / ${share('idempotency', /minimal idempotency middleware/)}`,
          target: '',
        },
        {
          area: 'idempotency (instructions)',
          measurement: 'Express vs express-idempotency (fresh keys / replays)',
          result: `${share('idempotency', /fresh keys, against express-idempotency/)} / ${share('idempotency', /replays, against express-idempotency/)}`,
          target: '',
        },
      ];
    }
    case 'stores': {
      const lines: Headline[] = [];
      for (const row of rows) {
        if (row.table === 'rate-limit decision' && row.store !== 'memory') {
          lines.push({ area: 'stores', measurement: `rate-limit decision on ${String(row.store)}, 16 in flight, share of memory`, result: text(row['share of memory']), target: '' });
        }
        if (row.table === 'spend cap refund path' && String(row.requests).includes('refunded') && row['scripts per request'] !== '') {
          lines.push({ area: 'stores', measurement: `spend-cap refund on ${String(row.store)}: scripts per refunded request (spend + refund)`, result: text(row['scripts per request']), target: '2 (one round trip each)' });
        }
      }
      return lines;
    }
    case 'stores-http': {
      const capacity = (server: RegExp) => text(find(rows, (r) => has(r, 'server', server))?.[VS_IT]);
      return [
        {
          area: 'stores',
          measurement: 'Express rateLimit + idempotency (fresh keys) capacity vs MemoryStore: A/A / ioredis / node-redis 5 / PostgresStore',
          result: `${capacity(/A\/A check/)} / ${capacity(/RedisStore on ioredis/)} / ${capacity(/RedisStore on node-redis/)} / ${capacity(/PostgresStore/)}`,
          target: '',
        },
      ];
    }
    case 'events': {
      const capacity = (server: RegExp) => text(find(rows, (r) => has(r, 'server', server))?.[VS_IT]);
      const decision = (listening: RegExp) => text(find(rows, (r) => has(r, 'listening', listening))?.['vs no subscriber']);
      return [
        {
          area: 'events',
          measurement: 'rate-limit decision in process, one no-op subscriber / recordMetrics, vs no subscriber',
          result: `${decision(/^one no-op subscriber/)} / ${decision(/^recordMetrics/)}`,
          target: '',
        },
        {
          area: 'events',
          measurement: 'Express rateLimit + idempotency capacity vs no subscriber: A/A / one no-op subscriber / recordMetrics',
          result: `${capacity(/A\/A check/)} / ${capacity(/one no-op subscriber/)} / ${capacity(/recordMetrics/)}`,
          target: '',
        },
      ];
    }
    case 'client': {
      const lines: Headline[] = [];
      for (const row of rows) {
        lines.push({
          area: 'client',
          measurement: `createFetch() vs plain fetch, ${String(row.scenario)} (median; with timeoutMs; fetch + a timeout signal alone${row['createFetch() vs fetch+key³'] === undefined ? '' : '; vs fetch adding the same key'})`,
          result: `${signed(row['createFetch() overhead'])} (${signed(row['createFetch({ timeoutMs })¹ overhead'])}; ${signed(row['fetch+timeout² overhead'])}${row['createFetch() vs fetch+key³'] === undefined ? '' : `; ${signed(row['createFetch() vs fetch+key³'])}`})`,
          target: '<= +10%',
        });
      }
      return lines;
    }
  }
}

/**
 * Runs one script in a child process of its own and returns its rows: each script's load generator starts
 * with a fresh heap, not one that the scripts before it filled (its pauses would stall the servers' load).
 */
function runScript(name: Script): Promise<Row[]> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), [ONE, name], { stdio: 'inherit' });
    let rows: Row[] | undefined;
    child.once('message', (message) => {
      rows = message as Row[];
    });
    child.once('error', reject);
    child.once('exit', (code) => (rows ? resolve(rows) : reject(new Error(`bench: ${name} exited (${code}) without results`))));
  });
}

const ONE = '--one-script';
if (process.argv[2] === ONE) {
  const mod = (await import(`./${process.argv[3]}.ts`)) as BenchModule;
  const rows = await mod.run();
  // Exit once the rows are sent (servers, Redis clients and timers of the script may still be open).
  process.send?.(rows, () => process.exit(0));
  await new Promise<never>(() => {}); // ends in the callback above: nothing below runs in the child
}

const only = process.argv.slice(2);
console.log(`load generator: ${loadGenerator()}`);
const headlineRows: Headline[] = [];
const sections: string[] = [];
for (const name of SCRIPTS) {
  if (only.length > 0 && !only.includes(name)) continue;
  const started = Date.now();
  console.log(`\n## ${name} (running)`);
  const rows = await runScript(name);
  headlineRows.push(...headlines(name, rows));
  const parts = tables(rows).map(({ name: part, rows: partRows }) => `${part ? `### ${name}: ${part}\n\n` : ''}${table(partRows)}\n`);
  console.log(parts.join('\n'));
  console.log(`(${((Date.now() - started) / 1000).toFixed(0)} s)`);
  sections.push(`## ${name}\n\n${parts.join('\n')}`);
}

const combined = table(headlineRows as unknown as Row[]);
console.log(`\n## Combined\n\n${combined}`);
const report = `# bulwark benchmark results

Machine: ${machine()}.
Date: ${new Date().toISOString().slice(0, 10)}.
Reproduce with \`npm ci && npm run bench\` (or \`npm run bench -- throttle\` for one script). Every ratio is
against a baseline measured in the same run on the same machine: a bare server without bulwark, or a peer
library in the same app. Server figures are capacities: each server is measured in the same window as the one it
is compared with, the two taking turns of 100 ms (only one runs at any moment, the other is stopped), and the
capacity is that server's CPU time per request over this one's (the throughput ratio of CPU-bound servers, with
the machine's drift cancelled), given as the median (and range) of the rounds; the requests per second each
served in its turns give the same ratio directly. Load generator: ${loadGenerator()}${loadGenerator() === 'wrk' ? '' : ' (wrk was not found: install it for figures from a saturated server)'}.
See \`bench/support/compare.ts\` and \`bench/support/load.ts\`.

## Combined

${combined}

${sections.join('\n')}`;
if (only.length === 0) {
  writeFileSync(join(import.meta.dirname, 'RESULTS.md'), report);
  console.log('\nwrote bench/RESULTS.md');
} else {
  // RESULTS.md holds one whole run; a part of one would replace the rest with nothing.
  console.log('\n(a partial run: bench/RESULTS.md left as it was)');
}
