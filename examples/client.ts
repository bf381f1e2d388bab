/**
 * The tour's client on its own: `npx tsx examples/client.ts [url]` runs the tour (examples/tour.ts)
 * against a demo API that is already running (`npm run demo`, default http://127.0.0.1:3000) and prints
 * what bulwark's client did: retries with backoff, waits of Retry-After, replays, and a breaker opening.
 * Running it again within a minute meets the accounts the last run throttled or capped: that shows too.
 */
import { createExpressApp } from './messaging/express-app.js';
import { runTour } from './tour.js';
import { listen } from './tour/serve.js';
import { TOUR_LEGEND, tourSummary } from './tour/summary.js';
import { formatTourTable } from './tour/table.js';

const url = (process.argv[2] ?? 'http://127.0.0.1:3000').replace(/\/+$/, '');
try {
  const health = await fetch(`${url}/v1/faults/flaky?id=probe&fail=0`);
  if (health.status !== 200) throw new Error(`answered ${health.status}`);
} catch (err) {
  console.error(`No demo API with fault routes at ${url} (${(err as Error).message}): start one with npm run demo.`);
  process.exit(1);
}

// ip_not_allowed needs an API whose allowlist leaves this machine out: one runs here for the tour.
const outsider = await listen(createExpressApp({ allow: ['192.0.2.0/24'], onError: () => {} }), 0);
try {
  const rows = await runTour({ servers: [url], outsider: outsider.url, outsiderAllow: '192.0.2.0/24' });
  console.log(`${TOUR_LEGEND.join('\n')}\n`);
  console.log(formatTourTable(rows, Math.max(80, process.stdout.columns ?? 100)));
  console.log(`\n${tourSummary(rows)}`);
} finally {
  await outsider.close();
}
