/**
 * Exactly once across processes: real worker processes (Express) behind one real Redis. The scenarios
 * are test/support/cross-process-idempotency.ts's; the workers are on ioredis.
 */
import { fileURLToPath } from 'node:url';
import { describeRedisCrossProcess } from '../support/cross-process-idempotency.js';

describeRedisCrossProcess({
  title: 'idempotency across processes (4 Express workers, one Redis)',
  worker: fileURLToPath(new URL('./fixtures/worker.ts', import.meta.url)),
  prefix: 'idem-xproc',
});
