import type { Context, MiddlewareHandler, Next } from 'hono';
import { toApiError } from '../../src/errors/to-api-error.js';
import type { Decision, Guard, Outcome } from '../../src/guard/types.js';
import { captureResponse } from '../fetch/capture.js';
import { thrownErrorOf } from '../node/thrown.js';
import { keepAdded, takeAdded } from './added.js';
import type { PeerOf } from './peer.js';
import { addHeaders, decisionResponse, replaceResponse } from './respond.js';
import { asError } from './thrown.js';
import { honoView } from './view.js';

/**
 * Turns a core guard into Hono middleware: build the neutral view of `c` (the Web `Request` in `c.req.raw`,
 * the peer from `getConnInfo`), ask, apply. A refusal is the answer (the handler does not run); an error
 * decision (a 5xx: a failing callback, a store that is down) is thrown to `app.onError`, which formats and
 * reports it. Once the request is answered (`await next()`), a response a guard asked to see is captured
 * and `c.res` replaced by the capture, the guards' headers are added, and a guard that asked how the request
 * ended is told. @internal
 */
export function fromGuard(guard: Guard<Context>, peerOf: PeerOf | undefined): MiddlewareHandler {
  return async function bulwarkMiddleware(c: Context, next: Next): Promise<Response | undefined> {
    const decision: Decision = await guard.check(honoView(c, peerOf?.(c)));
    if (decision.type === 'respond') {
      // An error to report: answered by `app.onError` (errorHandler()), as a thrown error.
      if (decision.error !== undefined) throw asError(decision.error);
      const response = decisionResponse(c.req.raw, takeAdded(c), decision);
      c.res = response;
      return response;
    }
    if (decision.headers) keepAdded(c, decision.headers);
    const { sink, onOutcome } = decision;
    try {
      await next();
    } catch (err) {
      // Only a thrown value that is not an Error gets here (Hono answers an Error with app.onError before
      // it reaches this frame): it is carried on as an Error, for app.onError to answer.
      if (sink) await sink.abort(err);
      if (onOutcome) report(onOutcome, { status: statusOf(err), replayed: false, thrown: true, ran: true, completed: true });
      throw asError(err);
    }
    // The handler threw and app.onError answered (Hono keeps the error in c.error), or notFound() answered.
    const thrown = c.error ?? thrownErrorOf(c);
    if (sink) {
      if (thrown !== undefined) await sink.abort(thrown);
      else {
        try {
          replaceResponse(c, await captureResponse(c.res, sink));
        } catch (err) {
          // The body failed while it was read (the key is released): an error, for app.onError.
          if (onOutcome) report(onOutcome, { status: statusOf(err), replayed: false, thrown: true, ran: true, completed: false });
          throw asError(err);
        }
      }
    }
    const added = takeAdded(c);
    if (added.length > 0) addHeaders(c, added);
    if (onOutcome) {
      const res = c.res;
      report(onOutcome, {
        status: res.status,
        replayed: res.headers.get('idempotent-replayed') === 'true',
        thrown: thrown !== undefined,
        ran: true,
        completed: true,
      });
    }
    return undefined;
  };
}

/** The status errorHandler() answers a thrown value with. */
function statusOf(err: unknown): number {
  return toApiError(err).status;
}

function report(onOutcome: (outcome: Outcome) => void, outcome: Outcome): void {
  try {
    onOutcome(outcome);
  } catch {
    // a guard's outcome callback never throws; if one did, the response is sent anyway
  }
}
