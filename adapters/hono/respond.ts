import type { Context } from 'hono';
export { decisionResponse } from '../../src/guard/web-response.js';
import type { HeaderPairs } from '../../src/guard/types.js';

/**
 * Makes `response` the context's response as it is: Hono's `c.res` setter would otherwise copy the headers
 * of the response it replaces over it. @internal
 */
export function replaceResponse(c: Context, response: Response): void {
  c.res = undefined;
  c.res = response;
}

/**
 * Adds the guards' headers to the context's response, in place; a response whose headers are immutable
 * (`Response.redirect()`, a proxied `fetch()`) is copied first. A pair `Headers` refuses is left out. @internal
 */
export function addHeaders(c: Context, added: HeaderPairs): void {
  let headers = c.res.headers;
  let copied = false;
  for (const [name, value] of added) {
    try {
      headers.append(name, value);
    } catch {
      if (copied) continue;
      copied = true;
      const response = c.res;
      replaceResponse(c, new Response(response.body, { status: response.status, statusText: response.statusText, headers: response.headers }));
      headers = c.res.headers;
      try {
        headers.append(name, value);
      } catch {
        // a name or value fetch refuses: left out
      }
    }
  }
}
