/**
 * Limit accuracy across processes on node-redis: four Express workers, two on node-redis 5 and two on 4,
 * sharing one key on one Redis (the scenarios of test/support/cross-process-limit.ts).
 */
import { fileURLToPath } from 'node:url';
import { describeCrossProcessLimit } from '../support/cross-process-limit.js';

describeCrossProcessLimit({
  title: 'accuracy across 4 processes on node-redis 4 and 5 sharing one Redis',
  worker: fileURLToPath(new URL('./fixtures/limit-worker.ts', import.meta.url)),
  prefix: 'xproc-node-redis',
  workerEnv: (i) => ({ NODE_REDIS: i % 2 === 0 ? '5' : '4' }),
  testMs: 90_000,
});
