/**
 * The demo messaging API on Express, with bulwark's error handling.
 */
import express, { type Express, type Request } from 'express';
import { errorHandler, notFound } from '../../adapters/express.js';
import type { ErrorEvent } from '../../src/index.js';
import { type Caller, MessagingService } from './service.js';

export interface DemoAppOptions {
  /** The service behind the API. @default a new MessagingService */
  service?: MessagingService;
  /** Error hook (the default logs one line per 5xx). */
  onError?: (event: ErrorEvent) => void;
}

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
  const app = express();
  app.disable('x-powered-by');
  app.use(express.json({ limit: '16kb' }));
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

  app.use(notFound());
  app.use(errorHandler({ onError: options.onError }));
  return app;
}
