/**
 * `npm run demo`: starts the demo messaging API on Express with every guard on (allowlist, rate limit,
 * daily spend cap, idempotency, error handler), runs the tour (examples/tour.ts) against it with
 * bulwark's client, prints what happened as a table, and keeps serving with curl lines to try.
 *
 * Stores are in memory; with `REDIS_URL` set, two API processes share one Redis instead, and the tour
 * shows a rate limit and an idempotency key shared across them.
 *
 * `GET /metrics` answers bulwark's OpenTelemetry metrics (bulwark/otel's recordMetrics) in the Prometheus
 * text format, through the OpenTelemetry Prometheus exporter: every decision of the tour is counted there.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import express, { type Express } from 'express';
import { Redis } from 'ioredis';
import { recordMetrics } from '../src/otel/index.js';
import { createExpressApp } from './messaging/express-app.js';
import { memoryStore } from './messaging/guards.js';
import { runTour } from './tour.js';
import { startApiProcesses } from './tour/processes.js';
import { listen, logUnexpected, requestedPort } from './tour/serve.js';
import { formatTourTable } from './tour/table.js';
import { TOUR_LEGEND, tourSummary, tryLines } from './tour/summary.js';

const OUTSIDER_ALLOW = '192.0.2.0/24';
const redisUrl = process.env.REDIS_URL;
const port = requestedPort();

// Metrics first, so that they count the whole tour: the exporter renders what recordMetrics records when
// /metrics is asked for (it starts no server of its own).
const exporter = new PrometheusExporter({ preventServerStart: true });
recordMetrics({ meterProvider: new MeterProvider({ readers: [exporter] }) });

// The same API with an allowlist that leaves out this machine, for the tour's ip_not_allowed.
const outsider = await listen(createExpressApp({ allow: [OUTSIDER_ALLOW], onError: logUnexpected }), 0);

let servers: [string] | [string, string];
let metricsUrl: string;
if (redisUrl) {
  await pingRedis(redisUrl);
  // A fresh key prefix per run: the tour starts from a clean state and never meets an earlier run's.
  const prefix = `bulwark-demo:${Date.now().toString(36)}:`;
  const api = await startApiProcesses({ redisUrl, prefix, port });
  process.on('exit', () => api.kill());
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      api.kill();
      // The run's keys would expire by themselves (within a day); a clean stop removes them now.
      void forget(redisUrl, prefix).finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
    });
  }
  servers = api.urls;
  // The API runs in the two child processes; this one serves the metrics of its own part of the tour (the
  // client's attempts and the outsider's allowlist).
  metricsUrl = `${(await listen(withMetrics(express()), 0)).url}/metrics`;
  console.log(`stores: Redis at ${redisUrl} (key prefix ${prefix}), shared by two API processes`);
  console.log(`bulwark demo API listening on ${servers[0]} (process A) and ${servers[1]} (process B)\n`);
} else {
  const api = await listen(withMetrics(createExpressApp({ store: memoryStore(), faults: true, onError: logUnexpected })), port);
  servers = [api.url];
  metricsUrl = `${api.url}/metrics`;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(signal === 'SIGINT' ? 130 : 143));
  console.log('stores: in memory (set REDIS_URL to share them between two processes through Redis)');
  console.log(`bulwark demo API listening on ${servers[0]}\n`);
}

console.log('Tour: each request goes through bulwark/client (createFetch: Retry-After up to 2 s, a breaker');
console.log(`per origin).${servers.length > 1 ? ' Rows marked A and B ran on two processes sharing Redis.' : ''}\n`);
console.log(`${TOUR_LEGEND.join('\n')}\n`);
const started = Date.now();
const rows = await runTour({ servers, outsider: outsider.url, outsiderAllow: OUTSIDER_ALLOW });
await outsider.close();
console.log(formatTourTable(rows));
console.log(`\n${tourSummary(rows)} (${((Date.now() - started) / 1000).toFixed(1)} s)\n`);

for (const line of tryLines(servers)) console.log(line);
console.log(`  curl -s ${metricsUrl} | grep ^bulwark_    # the tour's decisions, counted (Prometheus text format)`);
console.log('\nPress Ctrl+C to stop.');

/** `app` behind `GET /metrics`, which answers the recorded metrics in the Prometheus text format. */
function withMetrics(app: Express): Express {
  const front = express();
  front.disable('x-powered-by');
  front.get('/metrics', (req: IncomingMessage, res: ServerResponse) => exporter.getMetricsRequestHandler(req, res));
  front.use(app);
  return front;
}

/** Fails with one line when Redis does not answer. */
async function pingRedis(url: string): Promise<void> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 2_000, retryStrategy: () => null });
  redis.on('error', () => {});
  try {
    await redis.connect();
    await redis.ping();
  } catch {
    console.error(`Redis is not reachable at ${url}: start one (redis-server) or unset REDIS_URL to use memory stores.`);
    process.exit(1);
  } finally {
    redis.disconnect();
  }
}

/** Deletes the keys under `prefix`, giving up after two seconds. */
async function forget(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url, { maxRetriesPerRequest: 1, connectTimeout: 1_000, retryStrategy: () => null });
  redis.on('error', () => {});
  const work = (async () => {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) await redis.unlink(...keys);
    } while (cursor !== '0');
  })();
  const limit = new Promise<void>((resolve) => setTimeout(resolve, 2_000).unref());
  await Promise.race([work.catch(() => {}), limit]);
  redis.disconnect();
}
