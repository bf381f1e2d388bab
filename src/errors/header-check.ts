/**
 * Whether a header may be sent as it is: Node.js (`setHeader`) and fetch (`Headers`) both refuse some
 * names and values, and one refused header must not cost the response. @internal
 */

/** An RFC 9110 token. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** What Node.js accepts in a value (and fetch too): tab, visible ASCII, space, obs-text; no CR, LF or NUL. */
const VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/** Whether `name` is a header name Node.js and fetch accept. */
export function isHeaderName(name: unknown): name is string {
  return typeof name === 'string' && TOKEN.test(name);
}

/** Whether `value` is a header value Node.js and fetch accept. */
export function isHeaderValue(value: unknown): value is string {
  return typeof value === 'string' && VALUE.test(value);
}
