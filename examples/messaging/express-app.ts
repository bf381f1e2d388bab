/**
 * The demo messaging API on Express, with bulwark's error handling.
 */
import express, { type Express, type Request } from 'express';
import { errorHandler, idempotency, ipAllowlist, notFound, rateLimit, spendCap } from '../../adapters/express.js';
import type { ErrorEvent } from '../../src/index.js';
import { faultRoutes } from './faults.js';
import { type DemoStore, demoGuards, memoryStore, type RequestReader } from './guards.js';
import { type Caller, MessagingService } from './service.js';

export interface DemoAppOptions {
  /** The service behind the API. @default a new MessagingService */
  service?: MessagingService;
  /** Error hook (the default logs one line per 5xx). */
  onError?: (event: ErrorEvent) => void;
  /** Store of the rate limit, spend cap and idempotency keys. @default a new MemoryStore */
  store?: DemoStore;
  /** Allowed client addresses. @default DEMO_ALLOW or loopback */
  allow?: string[];
  /** Mount the fault-injection routes of faults.ts (`/v1/faults/*`, for the demo's tour). Express only. @default false */
  faults?: boolean;
}

const reader: RequestReader<Request> = {
  header: (req, name) => req.get(name),
  body: (req) => req.body,
  method: (req) => req.method,
  path: (req) => req.path,
};

/**
 * Builds the Express demo app.
 *
 * @example
 * ```ts
 * createExpressApp().listen(3000);
 * ```
 */
export function createExpressApp(options: DemoAppOptions = {}): Express {
  const service = options.service ?? new MessagingService();
  const guards = demoGuards(options.store ?? memoryStore(), reader, options.allow);
  const app = express();
  app.disable('x-powered-by');
  app.use(ipAllowlist(guards.ipAllowlist));
  app.use(rateLimit(guards.rateLimit));
  app.use(express.json({ limit: '16kb' }));
  app.use(spendCap(guards.spendCap));
  app.use(idempotency(guards.idempotency));
  const caller = (req: Request): Caller => service.authenticate(req.get('authorization'));

  app.post('/v1/messages', async (req, res) => {
    const reply = await service.send(caller(req), req.body);
    res.status(reply.status).json(reply.body);
  });
  app.get('/v1/messages/:id', (req, res) => {
    const reply = service.get(caller(req), req.params.id as string);
    res.status(reply.status).json(reply.body);
  });
  app.post('/v1/lookups', (req, res) => {
    const reply = service.lookup(caller(req), req.body);
    res.status(reply.status).json(reply.body);
  });

  if (options.faults) app.use(faultRoutes());

  app.use(notFound());
  app.use(errorHandler({ onError: options.onError }));
  return app;
}
