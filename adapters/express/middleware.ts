import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Decision, Guard, RequestBody } from '../../src/guard/types.js';
import { nodeView, readNodeBody } from '../../src/guard/node-view.js';
import { writeNodeHeaders } from '../../src/guard/node-headers.js';
import { captureResponse } from './capture.js';
import { asBuffer } from '../../src/guard/as-buffer.js';

/** Largest raw body read for a guard when no body parser ran before it. */
const RAW_BODY_LIMIT = 1_048_576;

/**
 * Turns a core guard into Express middleware: build the neutral view, ask, apply.
 * Works with Express 4 and 5.
 * @internal
 */
export function fromGuard(guard: Guard<Request>): RequestHandler {
  return function bulwarkMiddleware(req: Request, res: Response, next: NextFunction) {
    let decision: Decision | Promise<Decision>;
    try {
      decision = guard.check(nodeView(req, req.originalUrl ?? req.url, req, expressBody));
    } catch (err) {
      next(err);
      return;
    }
    if (decision instanceof Promise) {
      decision.then(
        (settled) => apply(settled, req, res, next),
        (err) => next(err),
      );
    } else {
      apply(decision, req, res, next);
    }
  };
}

function apply(decision: Decision, req: Request, res: Response, next: NextFunction): void {
  if (decision.type === 'respond') {
    if (res.headersSent) return;
    res.statusCode = decision.status;
    writeNodeHeaders(res, decision.headers);
    res.setHeader('content-length', typeof decision.body === 'string' ? Buffer.byteLength(decision.body) : decision.body.byteLength);
    res.end(req.method === 'HEAD' ? undefined : decision.body);
    return;
  }
  if (decision.headers) writeNodeHeaders(res, decision.headers);
  if (decision.sink) {
    if (res.destroyed) {
      // The client left while the key was being claimed (a store that answers over the network): the
      // application has not run, and no one waits for it. The key is released and the request goes no
      // further, so a retry runs it; running it now could leave nothing to store (a stream piped into a
      // response that is already gone never ends) and hold the key for good.
      void decision.sink.abort(new Error('the client left before the application ran'));
      return;
    }
    captureResponse(req, res, decision.sink);
  }
  next();
}

/** The body a parser already read is given synchronously; otherwise the raw bytes are read (and kept). */
function expressBody(req: Request): RequestBody | Promise<RequestBody> {
  const contentType = req.headers['content-type'];
  const parsed = (req as { body?: unknown }).body;
  if (parsed !== undefined && ((req as { _body?: boolean })._body === true || !req.readable)) {
    if (parsed instanceof Uint8Array) return { kind: 'bytes', bytes: parsed, contentType };
    if (typeof parsed === 'string') return { kind: 'bytes', bytes: new TextEncoder().encode(parsed), contentType };
    return { kind: 'parsed', value: parsed, contentType };
  }
  if (!hasBody(req)) return { kind: 'none' };
  return readExpressBody(req, contentType);
}

async function readExpressBody(req: Request, contentType: string | undefined): Promise<RequestBody> {
  const bytes = await readNodeBody(req, RAW_BODY_LIMIT);
  // Later body parsers skip a request whose body was already read; hand them the bytes.
  (req as { body?: unknown }).body = asBuffer(bytes);
  (req as { _body?: boolean })._body = true;
  return { kind: 'bytes', bytes, contentType };
}

function hasBody(req: Request): boolean {
  return req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');
}
