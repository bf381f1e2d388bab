import { BULWARK_ERROR_HANDLER } from '../node/thrown.js';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Decision, Guard } from '../../src/guard/types.js';
import { nodeView } from '../../src/guard/node-view.js';
import { expressBody } from './body.js';
import { writeNodeHeaders } from '../../src/guard/node-headers.js';
import { captureNodeResponse } from '../node/capture.js';
import { isHeaderValue } from '../../src/errors/header-check.js';
import { NOT_RAN, watchOutcome } from '../node/outcome.js';

/**
 * Turns a core guard into Express middleware: build the neutral view, ask, apply.
 * Works with Express 4 and 5. Never throws and never leaves a rejected promise behind: a decision that
 * cannot be applied goes to the error handler, or, once the response has started, is dropped.
 * @internal
 */
export function fromGuard(guard: Guard<Request>): RequestHandler {
  return function bulwarkMiddleware(req: Request, res: Response, next: NextFunction) {
    let decision: Decision | Promise<Decision>;
    try {
      decision = guard.check(nodeView(req, req.originalUrl ?? req.url, req, expressBody));
    } catch (err) {
      // Never `next(falsy)`: Express would take it as "continue" and run the application unguarded.
      next(err || new Error('a bulwark guard failed'));
      return;
    }
    if (decision instanceof Promise) {
      decision
        .then(
          (settled) => apply(settled, req, res, next),
          (err: unknown) => (res.headersSent ? undefined : next(err || new Error('a bulwark guard failed'))),
        )
        .catch((err: unknown) => lost(res, err));
    } else {
      apply(decision, req, res, next);
    }
  };
}

function apply(decision: Decision, req: Request, res: Response, next: NextFunction): void {
  // The response started before the decision came (an earlier middleware, such as a timeout, answered
  // while a store or a `key`/`scope` callback was slow): the request is over. The application does not
  // run, and a claimed idempotency key is released.
  if (res.headersSent) {
    if (decision.type === 'next' && decision.sink) void decision.sink.abort(new Error('the response was sent before bulwark decided'));
    return;
  }
  if (decision.type === 'respond') {
    // An error to report (a 5xx, dropped headers): the error handler answers it, and tells onError.
    if (decision.error !== undefined && hasErrorHandler(req)) {
      next(decision.error);
      return;
    }
    try {
      const status = decision.status;
      res.statusCode = status;
      if (decision.statusText !== undefined && isHeaderValue(decision.statusText)) res.statusMessage = decision.statusText;
      writeNodeHeaders(res, decision.headers, decision.appendHeaders !== true);
      // A 204 or 304 has no body and, as when the application sends one, no length.
      if (status === 204 || status === 304) res.removeHeader('content-length');
      else res.setHeader('content-length', typeof decision.body === 'string' ? Buffer.byteLength(decision.body) : decision.body.byteLength);
      res.end(req.method === 'HEAD' || status === 204 || status === 304 ? undefined : decision.body);
    } catch (err) {
      // A status Node.js refuses (a stored response read back from a damaged store): the error handler answers.
      if (res.headersSent) lost(res, err);
      else next(err);
    }
    return;
  }
  if (decision.headers) writeNodeHeaders(res, decision.headers);
  const report = decision.onOutcome;
  if (report !== undefined && res.destroyed) {
    // The client left while the guard decided: the application does not run for no one, and what the
    // guard reserved is given back.
    if (decision.sink) void decision.sink.abort(new Error('the client left before the application ran'));
    reportSafely(report);
    return;
  }
  if (report !== undefined) watchOutcome(res, report, false);
  if (decision.sink) {
    if (res.destroyed) {
      // The client left while the key was being claimed (a store that answers over the network): the
      // application has not run, and no one waits for it. The key is released and the request goes no
      // further, so a retry runs it; running it now could leave nothing to store (a stream piped into a
      // response that is already gone never ends) and hold the key for good.
      void decision.sink.abort(new Error('the client left before the application ran'));
      return;
    }
    captureNodeResponse(res, decision.sink);
  }
  next();
}

function reportSafely(report: (outcome: typeof NOT_RAN) => void): void {
  try {
    report(NOT_RAN);
  } catch {
    // a guard's outcome callback never throws; if one did, the request is over anyway
  }
}

/** Nothing can answer any more: the connection is ended, as for an error after headers were sent. */
function lost(res: Response, _err: unknown): void {
  if (!res.destroyed) res.destroy();
}

interface AppLike {
  _router?: { stack?: Array<{ handle?: unknown }> };
  router?: { stack?: Array<{ handle?: unknown }> };
  parent?: AppLike;
}

/**
 * Whether bulwark's `errorHandler` is mounted on the app of this request or an app it is mounted in (where
 * an error handed to `next` would reach it). Only asked on the way to a 5xx, never on the hot path.
 */
function hasErrorHandler(req: Request): boolean {
  let app = req.app as unknown as AppLike | undefined;
  for (let depth = 0; app !== undefined && depth < 16; depth++) {
    // Express 4 keeps its router in `_router`; Express 5 in `router`.
    const stack = (app._router ?? app.router)?.stack;
    if (stack?.some((layer) => typeof layer.handle === 'function' && BULWARK_ERROR_HANDLER in layer.handle)) return true;
    app = app.parent;
  }
  return false;
}
