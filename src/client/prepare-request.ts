/**
 * Preparing the request every attempt of a call sends: the caller's headers with the idempotency key and
 * the body's content type added, and the settings of a `Request` input.
 */

/** Headers ready to send, and the idempotency key they carry (if any). */
interface PreparedHeaders {
  headers: HeadersInit;
  idempotencyKey: string | undefined;
}

/**
 * Copies the caller's headers, adding an idempotency key (when `addKey` and the caller set none) and the
 * body's content type (when the caller set none). A plain object of headers without either is copied as
 * a plain object, which is cheaper than a `Headers` and sends the same; anything else goes through `Headers`.
 * A `key` given for the call (`init.bulwark.idempotencyKey`) is set in `keyHeader`; a different key in
 * the caller's headers is a `TypeError`.
 */
export function prepareHeaders(
  source: HeadersInit | undefined,
  keyHeader: string | false,
  addKey: boolean,
  contentType: string | undefined,
  key?: string,
): PreparedHeaders {
  if (key !== undefined && keyHeader !== false) {
    const copy = new Headers(source);
    const existing = copy.get(keyHeader);
    if (existing !== null && existing !== key) {
      throw new TypeError(
        `bulwark fetch: init.bulwark.idempotencyKey differs from the ${keyHeader} header of the same call; give the key once`,
      );
    }
    copy.set(keyHeader, key);
    if (contentType !== undefined && !copy.has('content-type')) copy.set('content-type', contentType);
    return { headers: copy, idempotencyKey: key };
  }
  const keyName = keyHeader === false ? 'idempotency-key' : keyHeader.toLowerCase();
  if (source === undefined || isPlainRecord(source)) {
    let simple = true;
    if (source !== undefined) {
      for (const name of Object.keys(source)) {
        // Only names of the right length can match: most are never lower-cased.
        if (name.length !== keyName.length && (contentType === undefined || name.length !== 12)) continue;
        const lower = name.toLowerCase();
        if (lower === keyName || (contentType !== undefined && lower === 'content-type')) {
          simple = false;
          break;
        }
      }
    }
    if (simple) {
      const copy: Record<string, string> = { ...(source as Record<string, string> | undefined) };
      let idempotencyKey: string | undefined;
      if (addKey && keyHeader !== false) {
        idempotencyKey = crypto.randomUUID();
        copy[keyHeader] = idempotencyKey;
      }
      if (contentType !== undefined) copy['content-type'] = contentType;
      return { headers: copy, idempotencyKey };
    }
  }
  const copy = new Headers(source);
  if (addKey && keyHeader !== false && !copy.has(keyHeader)) copy.set(keyHeader, crypto.randomUUID());
  if (contentType !== undefined && !copy.has('content-type')) copy.set('content-type', contentType);
  return { headers: copy, idempotencyKey: copy.get(keyName) ?? undefined };
}

function isPlainRecord(value: unknown): value is Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** The settings of a `Request` input that a plain `init` would otherwise lose. */
export function requestFields(request: Request): RequestInit {
  return {
    cache: request.cache,
    credentials: request.credentials,
    integrity: request.integrity,
    keepalive: request.keepalive,
    mode: request.mode,
    redirect: request.redirect,
    referrerPolicy: request.referrerPolicy,
  };
}
