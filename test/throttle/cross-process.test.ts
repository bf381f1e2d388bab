/**
 * Limit accuracy across 4 processes on ioredis sharing one key on one Redis (the scenarios of
 * test/support/cross-process-limit.ts).
 */
import { fileURLToPath } from 'node:url';
import { describeCrossProcessLimit } from '../support/cross-process-limit.js';

describeCrossProcessLimit({
  title: 'accuracy across 4 processes sharing one Redis',
  worker: fileURLToPath(new URL('./fixtures/limit-worker.ts', import.meta.url)),
  prefix: 'xproc',
});
