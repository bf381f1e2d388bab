import { BULWARK_ERROR_HANDLER } from '../node/thrown.js';
import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import { nodeView } from '../../src/guard/node-view.js';
import { writeNodeHeaders } from '../../src/guard/node-headers.js';
import { asBuffer } from '../../src/guard/as-buffer.js';
import { isHeaderValue } from '../../src/errors/header-check.js';
import type { Decision, Guard } from '../../src/guard/types.js';
import { captureNodeResponse } from '../node/capture.js';
import { NOT_RAN, watchOutcome } from '../node/outcome.js';
import { fastifyBody } from './body.js';
import { forFastify } from './opaque.js';
import { replyHeaders } from './reply-headers.js';

/** A Fastify hook in its callback form (`onRequest`, `preHandler`). @internal */
export type GuardHook = (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => void;

/** Marks a request whose answer must carry no `Content-Type` of Fastify's choosing (see `respond`). @internal */
export const NO_TYPE = Symbol('bulwark.fastify.noContentType');

/**
 * Turns a core guard into a Fastify hook: build the neutral view, ask, apply. `guardFor` picks the guard
 * of a request (the plugin's, or the route's own from `config.bulwark`), or none to let it through.
 * Never throws and never leaves a rejected promise behind: a decision that cannot be applied goes to the
 * error handler, or, once the response has started, is dropped.
 * @internal
 */
export function guardHook(guardFor: (request: FastifyRequest) => Guard<FastifyRequest> | undefined): GuardHook {
  return function bulwarkHook(request, reply, done) {
    let decision: Decision | Promise<Decision>;
    try {
      const guard = guardFor(request);
      if (guard === undefined) {
        done();
        return;
      }
      decision = guard.check(nodeView(request.raw, request.url, request, fastifyBody));
    } catch (err) {
      // Never `done(falsy)`: Fastify would take it as "continue" and run the route unguarded.
      done(failure(err));
      return;
    }
    if (decision instanceof Promise) {
      decision
        .then(
          (settled) => apply(settled, request, reply, done),
          (err: unknown) => (started(reply) ? undefined : done(failure(err))),
        )
        .catch(() => lost(reply));
    } else {
      apply(decision, request, reply, done);
    }
  };
}

function apply(decision: Decision, request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
  // The response started before the decision came (an earlier hook answered, or hijacked the reply, while a
  // store or a `key`/`scope` callback was slow): the request is over. A claimed idempotency key is released.
  if (started(reply)) {
    if (decision.type === 'next' && decision.sink) void decision.sink.abort(new Error('the response was sent before bulwark decided'));
    return;
  }
  if (decision.type === 'respond') {
    // An error to report (a 5xx, dropped headers): the error handler answers it, and tells onError.
    // Without it (Fastify's default handler would send the thrown message), the guard answers the body itself.
    if (decision.error !== undefined && (request as { [BULWARK_ERROR_HANDLER]?: boolean })[BULWARK_ERROR_HANDLER] === true) {
      done(failure(decision.error));
      return;
    }
    try {
      respond(decision, request, reply);
    } catch (err) {
      // A status Fastify refuses (a stored response read back from a damaged store): the error handler answers.
      done(failure(err));
    }
    return;
  }
  if (decision.headers) writeNodeHeaders(replyHeaders(reply), decision.headers);
  const report = decision.onOutcome;
  if (report !== undefined && reply.raw.destroyed) {
    // The client left while the guard decided: the route does not run for no one, and what the guard
    // reserved is given back.
    if (decision.sink) void decision.sink.abort(new Error('the client left before the application ran'));
    try {
      report(NOT_RAN);
    } catch {
      // a guard's outcome callback never throws; if one did, the request is over anyway
    }
    return;
  }
  // The outcome is the Node.js response's end, as on Express: the route's status, a later guard's, or
  // the error handler's for a thrown error (marked by errorHandler, or by the plugin's onError hook).
  // Fastify keeps the headers of reply.header() on the reply and hands them to writeHead: a replay's
  // `Idempotent-Replayed` is read there, not from the Node.js response.
  if (report !== undefined) {
    watchOutcome(reply.raw, (outcome) => report(outcome.replayed || reply.getHeader('idempotent-replayed') !== 'true' ? outcome : { ...outcome, replayed: true }), false);
  }
  if (decision.sink) {
    if (reply.raw.destroyed) {
      // The client left while the key was being claimed: the route does not run for no one, and the key
      // is released so that a retry runs it.
      void decision.sink.abort(new Error('the client left before the application ran'));
      return;
    }
    // Captured where every write path of Fastify ends (reply.send of a string, a Buffer, an object, a
    // stream or a Response, reply.redirect, a hijacked reply writing to reply.raw): the Node.js response.
    captureNodeResponse(reply.raw, decision.sink);
  }
  done();
}

/** Answers a `respond` decision through the reply, so that Fastify's onSend and onResponse hooks see it. */
function respond(decision: Extract<Decision, { type: 'respond' }>, request: FastifyRequest, reply: FastifyReply): void {
  const status = decision.status;
  reply.code(status);
  // A reason phrase Node.js would refuse (read back from a damaged store) is left out.
  if (decision.statusText !== undefined && isHeaderValue(decision.statusText)) reply.raw.statusMessage = decision.statusText;
  writeNodeHeaders(replyHeaders(reply), decision.headers, decision.appendHeaders !== true);
  // A 204 or 304 has no body and no length. Any other body goes as bytes: Fastify then keeps the
  // Content-Type as it is (a string with a JSON type would get a charset added), and adds one of its own
  // only where there was none, which the plugin's onSend hook takes away again (see NO_TYPE).
  if (status === 204 || status === 304) {
    reply.send();
    return;
  }
  const body = decision.body;
  if (!reply.hasHeader('content-type')) (request as unknown as Record<symbol, boolean>)[NO_TYPE] = true;
  reply.send(typeof body === 'string' ? Buffer.from(body) : asBuffer(body));
}

/** An onSend hook that removes the Content-Type Fastify chose for an answer that had none. @internal */
export function dropChosenType(request: FastifyRequest, reply: FastifyReply, payload: unknown, done: (err: null, payload: unknown) => void): void {
  if ((request as unknown as Record<symbol, boolean>)[NO_TYPE] === true) reply.removeHeader('content-type');
  done(null, payload);
}

/** Whether the response already started (sent, being sent, or hijacked). */
function started(reply: FastifyReply): boolean {
  return reply.sent || reply.raw.headersSent;
}

/** A thrown value as something `done` takes as an error (a falsy one would mean "continue"). */
function failure(err: unknown): Error {
  return forFastify(err);
}

/** Nothing can answer any more: the connection is ended, as for an error after headers were sent. */
function lost(reply: FastifyReply): void {
  if (!reply.raw.destroyed) reply.raw.destroy();
}
