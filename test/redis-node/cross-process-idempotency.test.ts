/**
 * Exactly once across processes on node-redis: real Express worker processes, two on node-redis 5 and two on
 * node-redis 4, behind one real Redis (the same keys, so the two versions also agree with each other). The
 * scenarios are test/support/cross-process-idempotency.ts's.
 */
import { fileURLToPath } from 'node:url';
import { describeRedisCrossProcess } from '../support/cross-process-idempotency.js';

describeRedisCrossProcess({
  title: 'idempotency across processes on node-redis (4 Express workers: 2 on node-redis 5, 2 on 4; one Redis)',
  worker: fileURLToPath(new URL('./fixtures/idempotency-worker.ts', import.meta.url)),
  prefix: 'idem-xproc-node-redis',
  workerEnv: (i) => ({ NODE_REDIS: i % 2 === 0 ? '5' : '4' }),
  hangingEnv: { NODE_REDIS: '4' },
  startMs: 60_000,
  setupMs: 120_000,
});
