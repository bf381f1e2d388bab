/**
 * The server of the heap-exhaustion reproduction (memory-heap.test.ts): Express 5 with bulwark's
 * idempotency at its defaults (no store option: a `MemoryStore` of the guard's own), whose route answers
 * 512 KiB, each response a fresh Buffer. Meant to run under a small heap (`--max-old-space-size`).
 * Prints `{"port":N}` on stdout when listening. `GET /health` answers the handler's run count.
 */
import express from 'express';
import { errorHandler, idempotency } from '../../adapters/express.js';

const BODY_BYTES = 512 * 1024;
let runs = 0;

const app = express();
app.disable('x-powered-by');
app.use(idempotency());
app.post('/v1/reports', (_req, res) => {
  runs++;
  res.status(201).type('application/octet-stream').send(Buffer.alloc(BODY_BYTES, runs % 251));
});
app.get('/health', (_req, res) => {
  res.json({ runs, heapUsed: process.memoryUsage().heapUsed });
});
app.use(errorHandler({ onError: () => {} }));

const server = app.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`${JSON.stringify({ port: typeof address === 'object' && address ? address.port : 0 })}\n`);
});
