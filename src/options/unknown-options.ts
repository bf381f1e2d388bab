/**
 * Option names that users bring from the libraries bulwark replaces (express-rate-limit, express-ipfilter,
 * express-idempotency, @fastify/rate-limit), with what to write instead. A misspelt or foreign option is
 * refused when a middleware is built, and the error says what bulwark calls it.
 */
const FOREIGN: Readonly<Record<string, string>> = {
  // express-rate-limit, @fastify/rate-limit
  keyGenerator: 'use `key: (request) => string`',
  max: 'use `limit`',
  timeWindow: 'use `windowMs` (milliseconds)',
  standardHeaders: "use `headers: 'draft-10'` (or 'draft-11', 'draft-7', false)",
  legacyHeaders: "use `headers: 'legacy'`",
  handler: 'the 429 is the documented `throttled` body; format it with `errorHandler` options',
  statusCode: 'the status is fixed by the error code (429 `throttled`)',
  passOnStoreError: "use `onStoreError: 'open'`",
  allowList: 'use `skip: (request) => boolean`',
  ban: 'not offered; use `ipAllowlist` to refuse addresses',
  // express-ipfilter
  detectIp: 'use `trustProxy` (and `forwarded`); on fetch, `clientIp`',
  log: 'use `onDeny`',
  logLevel: 'use `onDeny`',
  logF: 'use `onDeny`',
  excluding: 'mount the middleware only on the paths it guards',
  // express-idempotency
  idempotencyKeyHeader: 'use `header`',
  dataAdapter: 'use `store`',
  intentValidator: 'built in: method, path, query and canonical body must match',
  responseValidator: 'use `shouldStore: (status) => boolean`',
  ttl: 'use `ttlMs` (milliseconds)',
};

/**
 * Throws a `TypeError` naming every own option of `options` that is not in `known` (with bulwark's name
 * for an option of a library it replaces), so that a misspelt option fails when the middleware is built
 * instead of being ignored under traffic.
 *
 * @example
 * ```ts
 * refuseUnknownOptions('rateLimit', { limit: 100, keyGenerator }, ['limit', 'windowMs', 'key']);
 * // TypeError: rateLimit: unknown option "keyGenerator" (use `key: (request) => string`)
 * ```
 * @internal
 */
export function refuseUnknownOptions(owner: string, options: object, known: ReadonlySet<string>): void {
  let problems: string[] | undefined;
  for (const name of Object.keys(options)) {
    if (known.has(name)) continue;
    const hint = Object.hasOwn(FOREIGN, name) ? ` (${FOREIGN[name]})` : '';
    (problems ??= []).push(`${JSON.stringify(name)}${hint}`);
  }
  if (problems) throw new TypeError(`${owner}: unknown option${problems.length > 1 ? 's' : ''} ${problems.join(', ')}`);
}
