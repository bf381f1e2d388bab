/**
 * IP allowlist benchmark (a script, not a test): `npm run build && npx tsx bench/allowlist.ts` (its servers run the built package).
 *
 * 1. Lookups per second with 10, 1,000 and 100,000 mixed entries (IPv4/IPv6 addresses and blocks), hits and
 *    misses, for bulwark's IpSet, Node's `net.BlockList` and express-ipfilter's matcher, all in this run.
 * 2. Express and Koa throughput with a 10,000-entry `ipAllowlist`, as a ratio to the same bare server measured
 *    in this run (and express-ipfilter with 1,000 CIDRs for reference). Each server runs in a child process;
 *    each is measured in the same window as its bare server (in turns), and the headline is its capacity: the CPU time per
 *    request of the bare server over its own (see `support/compare.ts` for why).
 *
 * `run()` returns the table rows, so that a combined `npm run bench` can call it.
 */
import type { RequestListener } from 'node:http';
import { createRequire } from 'node:module';
import { BlockList } from 'node:net';
import { fileURLToPath } from 'node:url';
import { createIpAllowlist } from '../src/allowlist/ip-allowlist.js';
import { IpSet } from '../src/allowlist/ip-set.js';
import { nodeView } from '../src/guard/node-view.js';
import { NEXT } from '../src/guard/respond.js';
import { built } from './support/built.js';
import { printTables, type Row } from './support/print-tables.js';
import { type Contender, getLoad, measureCapacities } from './support/compare.js';
import { listenAndReport } from './support/server-process.js';


const require = createRequire(import.meta.url);
const SERVER_ENV = 'BULWARK_BENCH_ALLOWLIST_SERVER';

/** A small deterministic PRNG (mulberry32), so that every run measures the same lists. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const v4 = (n: number) => `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
const hex = (n: number) => (n & 0xffff).toString(16);

interface Entry {
  text: string;
  kind: 'v4' | 'v4net' | 'v6' | 'v6net';
  /** A member of the entry, for hit probes. */
  member: string;
}

/**
 * Mixed entries: 40% IPv4 addresses, 30% IPv4 /24s, 15% IPv6 addresses, 15% IPv6 /64s. IPv4 entries lie in
 * 1.0.0.0-99.255.255.255 and IPv6 in 2001:db8::/32, so that misses are drawn from 100.64.0.0/10 and 2001:db9::/32.
 */
function makeEntries(count: number, seed: number): Entry[] {
  const random = prng(seed);
  const entries: Entry[] = [];
  for (let i = 0; i < count; i++) {
    const r = random();
    const n = (0x01000000 + Math.floor(random() * 99 * 0x1000000)) >>> 0;
    const g = () => hex(Math.floor(random() * 0x10000));
    if (r < 0.4) {
      entries.push({ text: v4(n), kind: 'v4', member: v4(n) });
    } else if (r < 0.7) {
      const net = n - (n % 256);
      entries.push({ text: `${v4(net)}/24`, kind: 'v4net', member: v4(net + 1 + Math.floor(random() * 254)) });
    } else if (r < 0.85) {
      const address = `2001:db8:${g()}:${g()}:${g()}:${g()}:${g()}:${g()}`;
      entries.push({ text: address, kind: 'v6', member: address });
    } else {
      const net = `2001:db8:${g()}:${g()}`;
      entries.push({ text: `${net}::/64`, kind: 'v6net', member: `${net}:${g()}:${g()}:${g()}:${g()}` });
    }
  }
  return entries;
}

interface Probes {
  v4Hit: string[];
  v4Miss: string[];
  v6Hit: string[];
  v6Miss: string[];
}

function makeProbes(entries: Entry[], seed: number): Probes {
  const random = prng(seed);
  const pick = (kinds: string[]) => {
    const pool = entries.filter((e) => kinds.includes(e.kind));
    return Array.from({ length: 1024 }, () => pool[Math.floor(random() * pool.length)]!.member);
  };
  const g = () => hex(Math.floor(random() * 0x10000));
  return {
    v4Hit: pick(['v4', 'v4net']),
    v4Miss: Array.from({ length: 1024 }, () => v4((0x64400000 + Math.floor(random() * 0x400000)) >>> 0)),
    v6Hit: pick(['v6', 'v6net']),
    v6Miss: Array.from({ length: 1024 }, () => `2001:db9:${g()}:${g()}:${g()}:${g()}:${g()}:${g()}`),
  };
}

interface Matcher {
  library: string;
  build(entries: Entry[]): (address: string) => boolean;
}

const MATCHERS: Matcher[] = [
  {
    library: 'bulwark IpSet',
    build(entries) {
      const set = new IpSet(entries.map((e) => e.text));
      return (address) => set.has(address);
    },
  },
  {
    library: 'node net.BlockList',
    build(entries) {
      const list = new BlockList();
      for (const e of entries) {
        if (e.kind === 'v4') list.addAddress(e.text, 'ipv4');
        else if (e.kind === 'v6') list.addAddress(e.text, 'ipv6');
        else {
          const [net, prefix] = e.text.split('/') as [string, string];
          list.addSubnet(net, Number(prefix), e.kind === 'v4net' ? 'ipv4' : 'ipv6');
        }
      }
      return (address) => list.check(address, address.includes(':') ? 'ipv6' : 'ipv4');
    },
  },
  {
    library: 'express-ipfilter',
    build(entries) {
      const { IpFilter } = require('express-ipfilter') as { IpFilter: (ips: string[], opts: object) => Function };
      let current = '';
      const middleware = IpFilter(
        entries.map((e) => e.text),
        { mode: 'allow', log: false, detectIp: () => current },
      );
      return (address) => {
        current = address;
        let allowed = false;
        middleware({ url: '/' }, {}, (err?: unknown) => {
          allowed = err === undefined;
        });
        return allowed;
      };
    },
  },
];

/** Calls `fn` over `probes` for about `budgetMs`; returns operations per second and how many matched. */
function measure(fn: (address: string) => boolean, probes: string[], budgetMs: number): { opsPerSec: number; matched: number } {
  let ops = 0;
  let matched = 0;
  let batch = 1;
  const start = performance.now();
  let now = start;
  for (;;) {
    const batchStart = performance.now();
    for (let i = 0; i < batch; i++) if (fn(probes[(ops + i) & 1023]!)) matched++;
    ops += batch;
    now = performance.now();
    if (now - start >= budgetMs) break;
    if (now - batchStart < 5) batch *= 2;
  }
  return { opsPerSec: ops / ((now - start) / 1000), matched: matched / ops };
}

const fmt = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : n.toFixed(1));

async function lookupRows(): Promise<Row[]> {
  const rows: Row[] = [];
  for (const size of [10, 1_000, 100_000]) {
    const entries = makeEntries(size, size);
    const probes = makeProbes(entries, size + 1);
    for (const matcher of MATCHERS) {
      const started = performance.now();
      const has = matcher.build(entries);
      const buildMs = performance.now() - started;
      // The slow matchers get a shorter budget at 100,000 entries; every cell still runs at least one lookup.
      const budget = size >= 100_000 && matcher.library !== 'bulwark IpSet' ? 150 : 250;
      const cells: Row = {};
      let wrong = 0;
      for (const [name, list, expected] of [
        ['v4 hit', probes.v4Hit, 1],
        ['v4 miss', probes.v4Miss, 0],
        ['v6 hit', probes.v6Hit, 1],
        ['v6 miss', probes.v6Miss, 0],
      ] as const) {
        measure(has, list, 20); // warm up
        const { opsPerSec, matched } = measure(has, list, budget);
        if (matched !== expected) wrong++;
        cells[`${name} /s`] = fmt(opsPerSec);
      }
      rows.push({
        table: 'lookups',
        library: matcher.library,
        entries: size,
        'build ms': buildMs.toFixed(1),
        ...cells,
        correct: wrong === 0 ? 'yes' : `NO (${wrong} cells)`,
      });
    }
  }
  rows.push(guardRow());
  return rows;
}

/** The whole per-request cost of the guard (view, client address, lookup) with 10,000 entries, in process. */
function guardRow(): Row {
  const allowlist = createIpAllowlist({ allow: serverList(10_000) });
  const req = { method: 'GET', url: '/', headers: {}, rawHeaders: [], socket: { remoteAddress: '127.0.0.1' } };
  const body = async () => ({ kind: 'none' as const });
  const check = () => allowlist.check(nodeView(req, '/', req, body)) === NEXT;
  measure(check, ['127.0.0.1'], 50);
  const { opsPerSec, matched } = measure(check, ['127.0.0.1'], 300);
  return {
    table: 'lookups',
    library: 'bulwark ipAllowlist check (view + client address + lookup)',
    entries: 10_000,
    'v4 hit /s': fmt(opsPerSec),
    correct: matched === 1 ? 'yes' : 'NO',
  };
}

// ---------------------------------------------------------------------------------------------------------
// Throughput: each server in a child process (this file, run with SERVER_ENV set).

type ServerKind = 'express-bare' | 'express-bulwark' | 'express-ipfilter' | 'koa-bare' | 'koa-bulwark';

/** 9,999 random /24s and single addresses in 1.0.0.0/8-99.0.0.0/8, plus the benchmark client 127.0.0.1. */
function serverList(count: number): string[] {
  return [...makeEntries(count - 1, 7).filter((e) => e.kind === 'v4' || e.kind === 'v4net').map((e) => e.text), '127.0.0.1'];
}

async function serve(kind: ServerKind): Promise<void> {
  const http = await import('node:http');
  let handler: RequestListener;
  if (kind.startsWith('express')) {
    const { default: express } = await import('express');
    const app = express();
    app.disable('x-powered-by');
    app.set('etag', false);
    if (kind === 'express-bulwark') {
      const { ipAllowlist } = await built('bulwark/express');
      app.use(ipAllowlist({ allow: serverList(10_000) }));
    } else if (kind === 'express-ipfilter') {
      const { IpFilter } = require('express-ipfilter') as { IpFilter: (ips: string[], opts: object) => any };
      const cidrs = makeEntries(3_000, 11).filter((e) => e.kind === 'v4net').slice(0, 999).map((e) => e.text);
      app.use(IpFilter([...cidrs, '127.0.0.1'], { mode: 'allow', log: false }));
    }
    app.get('/', (_req, res) => {
      res.type('text/plain').send('ok');
    });
    handler = app;
  } else {
    const { default: Koa } = await import('koa');
    const app = new Koa();
    if (kind === 'koa-bulwark') {
      const { ipAllowlist } = await built('bulwark/koa');
      app.use(ipAllowlist({ allow: serverList(10_000) }));
    }
    app.use((ctx) => {
      ctx.type = 'text/plain';
      ctx.body = 'ok';
    });
    handler = app.callback();
  }
  listenAndReport(http.createServer(handler));
}

async function throughputRows(rounds: number): Promise<Row[]> {
  const contenders: Contender[] = [
    { id: 'express bare', kind: 'express-bare', baseline: 'express bare' },
    { id: 'express + bulwark ipAllowlist, 10,000 entries', kind: 'express-bulwark', baseline: 'express bare' },
    { id: 'express + express-ipfilter, 1,000 CIDRs', kind: 'express-ipfilter', baseline: 'express bare' },
    { id: 'koa bare', kind: 'koa-bare', baseline: 'koa bare' },
    { id: 'koa + bulwark ipAllowlist, 10,000 entries', kind: 'koa-bulwark', baseline: 'koa bare' },
  ];
  return measureCapacities(contenders, { script: fileURLToPath(import.meta.url), env: SERVER_ENV, rounds, load: getLoad() }, 'throughput');
}

/** Runs the whole benchmark and returns its table rows. */
export async function run(options: { rounds?: number } = {}): Promise<Row[]> {
  // Throughput first: measured after the lookup tables, the servers came out slower in a way that did not
  // reproduce on its own (the load generator shares this process).
  const throughput = await throughputRows(options.rounds ?? 5);
  return [...(await lookupRows()), ...throughput];
}

const serverKind = process.env[SERVER_ENV] as ServerKind | undefined;
if (serverKind) {
  await serve(serverKind);
} else if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  printTables('IP allowlist', await run());
}
