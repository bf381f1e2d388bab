import type { RequestView } from '../guard/types.js';

/**
 * The scope of a request when the `scope` option is not given: every credential the request carries in
 * the headers that usually hold one (`Authorization`, `Cookie`, `X-API-Key`), together. Two callers
 * with different credentials never share a scope, so neither can replay the other's stored response;
 * requests without any of these headers share one scope.
 *
 * The price: a retry whose cookies changed (an analytics cookie, a rotated session) is a fresh request
 * that runs again. An API that knows its caller sets `scope` to the account instead.
 *
 * The scope never reaches a store as is: the stored key is a SHA-256 of scope and key (see `scopedKey`).
 * A request with an `Authorization` header alone keeps the scope that earlier versions gave it, so
 * records written before an upgrade still replay.
 *
 * @example
 * ```ts
 * defaultScope(view); // 'a:Bearer sk_live_…' or 'c:…' (cookies or an API key present)
 * ```
 */
export function defaultScope(view: RequestView<unknown>): string {
  const authorization = view.header('authorization') ?? '';
  const cookie = view.header('cookie');
  const apiKey = view.header('x-api-key');
  if (cookie === undefined && apiKey === undefined) return `a:${authorization}`;
  // Length-prefixed fields: no choice of header values can make two different triples collide.
  const c = cookie ?? '';
  const k = apiKey ?? '';
  return `c:${authorization.length}:${authorization}${c.length}:${c}${k.length}:${k}`;
}
