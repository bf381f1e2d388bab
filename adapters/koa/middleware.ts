import { BULWARK_ERROR_HANDLER } from '../node/thrown.js';
import type { Context, Middleware, Next } from 'koa';
import { nodeView } from '../../src/guard/node-view.js';
import { koaBody } from './body.js';
import { writeNodeHeaders } from '../../src/guard/node-headers.js';
import type { Decision, Guard } from '../../src/guard/types.js';
import { captureResponse } from './capture.js';
import { isHeaderValue } from '../../src/errors/header-check.js';
import { asBuffer } from '../../src/guard/as-buffer.js';
import { NOT_RAN, watchOutcome } from '../node/outcome.js';

/**
 * Turns a core guard into Koa middleware (Koa 2 and 3): build the neutral view, ask, apply. A decision
 * that comes once the response has started is dropped (its promise resolves), so an earlier middleware
 * that answered without awaiting `next()` never meets a rejection of bulwark's.
 * @internal
 */
export function fromGuard(guard: Guard<Context>): Middleware {
  return function bulwarkMiddleware(ctx: Context, next: Next): Promise<void> {
    let decision: Decision | Promise<Decision>;
    try {
      decision = guard.check(nodeView(ctx.req, ctx.originalUrl, ctx, koaBody));
    } catch (err) {
      return Promise.reject(err);
    }
    // A synchronous decision (memory store) costs no extra promise.
    if (decision instanceof Promise) {
      return decision.then(
        (settled) => apply(settled, ctx, next),
        (err: unknown) => (ctx.headerSent ? undefined : Promise.reject(err)),
      );
    }
    return apply(decision, ctx, next);
  };
}

function apply(decision: Decision, ctx: Context, next: Next): Promise<void> {
  // The response started before the decision came (an earlier middleware answered while a store or a
  // `key`/`scope` callback was slow): the request is over. The application does not run, and a claimed
  // idempotency key is released.
  if (ctx.headerSent) {
    if (decision.type === 'next' && decision.sink) void decision.sink.abort(new Error('the response was sent before bulwark decided'));
    return Promise.resolve();
  }
  if (decision.type === 'respond') {
    // An error to report (a 5xx, dropped headers): the error handler answers it, and tells onError.
    if (decision.error !== undefined && (ctx as { [BULWARK_ERROR_HANDLER]?: boolean })[BULWARK_ERROR_HANDLER] === true) {
      return Promise.reject(decision.error);
    }
    ctx.status = decision.status;
    // A reason phrase Node.js would refuse (read back from a damaged store) is left out.
    if (decision.statusText !== undefined && isHeaderValue(decision.statusText)) ctx.message = decision.statusText;
    // The headers first: with its Content-Type already set, Koa does not look up a type of its own for
    // the body (and then have it replaced).
    writeNodeHeaders(ctx.res, decision.headers, decision.appendHeaders !== true);
    // Koa sends no body for HEAD itself, and keeps the Content-Length. Bytes are handed over, not copied.
    const body = decision.body;
    ctx.body = typeof body === 'string' ? body : asBuffer(body);
    // A replay of a response that had no Content-Type gets none: Koa would add one for the bytes.
    if (!decision.headers.some(([name]) => name === 'content-type')) ctx.remove('content-type');
    return Promise.resolve();
  }
  if (decision.headers) writeNodeHeaders(ctx.res, decision.headers);
  const report = decision.onOutcome;
  if (report === undefined) return decision.sink ? captureResponse(ctx, next, decision.sink) : next();
  if (ctx.res.destroyed && !decision.sink) {
    // The client left while the guard decided: the application does not run for no one, and what the
    // guard reserved is given back. (With a sink it runs, and its response is kept for the retry.)
    try {
      report(NOT_RAN);
    } catch {
      // a guard's outcome callback never throws
    }
    return Promise.resolve();
  }
  const run = decision.sink ? captureResponse(ctx, next, decision.sink) : next();
  return run.then(
    () => {
      // The response is written after the chain returns: its end is the outcome. A stream body that
      // fails on the way is a failed request.
      const body = ctx.body as { once?: unknown; readable?: unknown } | null | undefined;
      if (body !== null && typeof body === 'object' && typeof body.once === 'function' && body.readable !== undefined) {
        watchStream(ctx, body as unknown as NodeJS.ReadableStream, report);
      } else watchOutcome(ctx.res, report, false);
    },
    (err: unknown) => {
      // The error handler (or Koa) answers it: the status it sends is the outcome's.
      watchOutcome(ctx.res, report, true);
      throw err;
    },
  );
}

/** The outcome of a response with a stream body: its end, or the stream's failure (reported at once). */
function watchStream(ctx: Context, body: NodeJS.ReadableStream, report: NonNullable<Extract<Decision, { type: 'next' }>['onOutcome']>): void {
  let done = false;
  const once = (outcome: Parameters<typeof report>[0]): void => {
    if (done) return;
    done = true;
    body.removeListener('error', onError);
    try {
      report(outcome);
    } catch {
      // a guard's outcome callback never throws
    }
  };
  const onError = (): void => once({ status: ctx.res.statusCode, replayed: false, thrown: true, ran: true, completed: false });
  body.once('error', onError);
  watchOutcome(ctx.res, once, false);
}
