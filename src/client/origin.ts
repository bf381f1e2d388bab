/**
 * `originOf`: the origin of a request URL, cached per URL prefix so that a call parses no URL on the
 * success path.
 */

/**
 * Origins of recent URL prefixes (scheme and authority): a URL is parsed once per prefix, not per call.
 * Bounded in entries and in the length of what is kept.
 */
const ORIGINS_MAX = 512;
const CACHED_LENGTH_MAX = 2048;
const origins = new Map<string, string | undefined>();

let lastUrl = '';
let lastOrigin: string | undefined;

/** The origin of an http(s) URL, else undefined. */
export function originOf(url: string): string | undefined {
  // Calls to the same URL in a row (polling, a client bound to one endpoint) skip even the prefix scan.
  if (url === lastUrl) return lastOrigin;
  const origin = cachedOrigin(url);
  if (url.length <= CACHED_LENGTH_MAX) {
    lastUrl = url;
    lastOrigin = origin;
  }
  return origin;
}

function cachedOrigin(url: string): string | undefined {
  const end = authorityEnd(url);
  if (end === -1 || end > CACHED_LENGTH_MAX) return parseOrigin(url);
  const prefix = url.slice(0, end);
  let origin = origins.get(prefix);
  if (origin === undefined && !origins.has(prefix)) {
    origin = parseOrigin(prefix);
    if (origins.size >= ORIGINS_MAX) origins.clear();
    origins.set(prefix, origin);
  }
  return origin;
}

/**
 * Where the authority of a plain `http://` or `https://` URL ends (at `/`, `?`, `#`, `\` or the end),
 * or -1 when the URL is not that simple (other scheme or case, whitespace or control characters, an
 * empty authority): the origin depends only on what comes before, so such a prefix parses to the
 * same origin as the whole URL.
 */
function authorityEnd(url: string): number {
  let start: number;
  if (url.startsWith('http://')) start = 7;
  else if (url.startsWith('https://')) start = 8;
  else return -1;
  let index = start;
  for (; index < url.length; index++) {
    const code = url.charCodeAt(index);
    if (code === 0x2f || code === 0x3f || code === 0x23 || code === 0x5c) break;
    if (code <= 0x20 || code === 0x7f) return -1;
  }
  return index === start ? -1 : index;
}

function parseOrigin(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  return parsed.protocol === 'http:' || parsed.protocol === 'https:' ? parsed.origin : undefined;
}
