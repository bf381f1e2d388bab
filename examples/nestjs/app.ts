/**
 * The demo messaging API on NestJS (its Express platform), with bulwark's Express middleware and a Nest
 * exception filter that answers every error with bulwark's documented body.
 *
 * - bulwark's guards are Express middleware: they go in `app.use()`, in the same order as in an Express
 *   app (allowlist, rate limit, body parser, spend cap, idempotency keys). Nest's own body parser is
 *   turned off (`bodyParser: false`) and mounted in that order instead: Nest would add it when the app
 *   initialises, after every `app.use()`, and the spend cap's `cost` reads the parsed body.
 * - `app.useGlobalFilters(new BulwarkExceptionFilter())` hands every error to bulwark's `errorHandler`:
 *   an `ApiError` thrown in a controller, Nest's `HttpException`s, and errors of the middleware above.
 * - The guards answer their own refusals (403 `ip_not_allowed`, 429 `throttled` with `Retry-After`, 403
 *   `spend_limit_exceeded`, 409 `idempotency_conflict`, replays) without reaching Nest at all.
 */
import 'reflect-metadata';
import { type DynamicModule, type INestApplication, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import express, { type Request } from 'express';
import { idempotency, ipAllowlist, rateLimit, spendCap } from '../../adapters/express.js';
import type { DemoAppOptions } from '../messaging/express-app.js';
import { demoGuards, memoryStore, type RequestReader } from '../messaging/guards.js';
import { MessagingService } from '../messaging/service.js';
import { BulwarkExceptionFilter } from './bulwark-exception.filter.js';
import { MessagesController, NotFoundController } from './messages.controller.js';

@Module({ controllers: [NotFoundController] })
class NotFoundModule {}

/** The demo's module; {@link messagingModule} gives it for one service instance. */
@Module({})
export class MessagingModule {}

/** The demo's module with its controllers and this service (what `MessagesController` injects). */
export function messagingModule(service: MessagingService): DynamicModule {
  return {
    module: MessagingModule,
    controllers: [MessagesController],
    providers: [{ provide: MessagingService, useValue: service }],
    // Last: its catch-all route answers only what MessagesController did not.
    imports: [NotFoundModule],
  };
}

const reader: RequestReader<Request> = {
  header: (req, name) => req.get(name),
  body: (req) => req.body,
  method: (req) => req.method,
  path: (req) => req.path,
};

/** Options of {@link createNestApp}: those of the other demo apps, and Nest's logger. */
export interface NestDemoOptions extends Omit<DemoAppOptions, 'faults'> {
  /** Nest's logger (`false`: silent). @default Nest's console logger */
  logger?: false;
}

/**
 * Builds and initialises the NestJS demo app (call `listen` on it).
 *
 * @example
 * ```ts
 * const app = await createNestApp();
 * await app.listen(3005, '127.0.0.1');
 * ```
 */
export async function createNestApp(options: NestDemoOptions = {}): Promise<INestApplication> {
  const service = options.service ?? new MessagingService();
  const guards = demoGuards(options.store ?? memoryStore(), reader, options.allow);
  const app = await NestFactory.create(messagingModule(service), {
    bodyParser: false,
    ...(options.logger === false ? { logger: false } : {}),
  });
  (app.getHttpAdapter().getInstance() as express.Express).disable('x-powered-by');
  app.use(ipAllowlist(guards.ipAllowlist));
  app.use(rateLimit(guards.rateLimit));
  app.use(express.json({ limit: '16kb' }));
  app.use(spendCap(guards.spendCap));
  app.use(idempotency(guards.idempotency));
  app.useGlobalFilters(new BulwarkExceptionFilter({ onError: options.onError }));
  await app.init();
  return app;
}
