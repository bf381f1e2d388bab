/**
 * A `respond` decision as a Web `Response`, shared by the adapters that answer with one (`guard()` of
 * bulwark/fetch, and Hono). Web standards only: `Response` and `Headers` are globals on every runtime.
 */
import { isHeaderValue } from '../errors/header-check.js';
import type { Decision, HeaderPairs } from './types.js';

const UTF8 = new TextEncoder();

/** Statuses whose responses have no body (a Web `Response` refuses one). */
const NULL_BODY = new Set([204, 205, 304]);

/**
 * The Response of a `respond` decision (an error, or a replay with its own reason phrase if it had one),
 * after the headers `added` by earlier guards: a null-body status (204, 205, 304) gets no body nor length
 * (as the application's own null-body Response has none), a HEAD request no body but the `Content-Length`
 * of the body a GET would get (as Node servers send it). Headers a Web `Headers` refuses are left out.
 * @internal
 */
export function decisionResponse(request: Request, added: HeaderPairs, decision: Extract<Decision, { type: 'respond' }>): Response {
  const status = decision.status;
  const headers = new Headers();
  appendPairs(headers, added, false);
  appendPairs(headers, decision.headers, decision.appendHeaders !== true);
  const statusText = decision.statusText !== undefined && isHeaderValue(decision.statusText) ? decision.statusText : undefined;
  const init: ResponseInit = statusText === undefined ? { status, headers } : { status, statusText, headers };
  if (NULL_BODY.has(status)) {
    headers.delete('content-length');
    return new Response(null, init);
  }
  if (request.method === 'HEAD') {
    const body = decision.body;
    if (!headers.has('content-length')) headers.set('content-length', String(typeof body === 'string' ? UTF8.encode(body).byteLength : body.byteLength));
    return new Response(null, init);
  }
  return new Response(decision.body as BodyInit, init);
}

/**
 * Adds pairs to `headers`: `Content-Type` and `Content-Length` replace; with `replace`, so does the first
 * pair of each name (see the `respond` Decision); others append. A pair `Headers` refuses is left out.
 * @internal
 */
export function appendPairs(headers: Headers, pairs: HeaderPairs, replace: boolean): void {
  const seen = replace ? new Set<string>() : undefined;
  for (const [name, value] of pairs) {
    try {
      if (name === 'content-type' || name === 'content-length' || (seen !== undefined && !seen.has(name))) headers.set(name, value);
      else headers.append(name, value);
    } catch {
      // a name or value fetch refuses (read back from a store): left out
    }
    seen?.add(name);
  }
}
