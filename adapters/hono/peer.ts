import type { Context } from 'hono';
import type { GetConnInfo } from 'hono/conninfo';

/** The Hono-only option of `ipAllowlist`, `rateLimit`, `spendCap` and `idempotency` from bulwark/hono. */
export interface HonoPeerOptions {
  /**
   * Hono's connection-info helper for your runtime, which gives the peer address a Web `Request` does not
   * carry (the client address of `ipAllowlist` and of the default `key` of `rateLimit` and `spendCap`).
   * Required by `ipAllowlist`. A helper that throws or gives no address means an unknown peer: the
   * allowlist denies, and the default key is then `unknown`.
   * @default undefined (no peer address)
   * @example
   * ```ts
   * import { getConnInfo } from '@hono/node-server/conninfo'; // Bun: 'hono/bun', Deno: 'hono/deno'
   * app.use(rateLimit({ limit: 100, windowMs: 60_000, getConnInfo }));
   * ```
   */
  getConnInfo?: GetConnInfo;
}

/** Reads the peer address of a request, or undefined when there is none. @internal */
export type PeerOf = (c: Context) => string | undefined;

const HOW =
  "pass Hono's getConnInfo for your runtime (import { getConnInfo } from '@hono/node-server/conninfo', 'hono/bun', 'hono/deno' or 'hono/cloudflare-workers')";

/**
 * Takes `getConnInfo` out of a middleware's options (the core refuses options it does not know) and
 * validates it. Anything that is not an object is handed on as it is, for the core to refuse. @internal
 */
export function splitPeer<T>(name: string, options: T): { options: T; peerOf: PeerOf | undefined } {
  if (typeof options !== 'object' || options === null || !Object.hasOwn(options, 'getConnInfo')) {
    return { options, peerOf: undefined };
  }
  const { getConnInfo, ...rest } = options as T & HonoPeerOptions;
  if (getConnInfo === undefined) return { options: rest as T, peerOf: undefined };
  if (typeof getConnInfo !== 'function') throw new TypeError(`${name}: options.getConnInfo must be a function (c) => ConnInfo: ${HOW}`);
  return { options: rest as T, peerOf: (c) => peerAddress(getConnInfo, c) };
}

function peerAddress(getConnInfo: GetConnInfo, c: Context): string | undefined {
  try {
    const address = getConnInfo(c)?.remote?.address;
    return typeof address === 'string' && address.length > 0 ? address : undefined;
  } catch {
    return undefined;
  }
}

/** An allowlist needs the peer: without `getConnInfo` it would deny everyone, so it is not built. @internal */
export function requirePeer(name: string, peerOf: PeerOf | undefined): void {
  if (peerOf === undefined) {
    throw new TypeError(`${name}: options.getConnInfo is required on Hono (a Request carries no peer address): ${HOW}`);
  }
}

let warned = false;

/**
 * A limiter keyed by client address without a way to know the address puts every client under one key
 * (`unknown`): the process is told once, when such a middleware is built. @internal
 */
export function warnSharedKey(name: string, options: unknown, peerOf: PeerOf | undefined): void {
  if (peerOf !== undefined || warned || typeof options !== 'object' || options === null) return;
  if ((options as { key?: unknown }).key !== undefined) return;
  warned = true;
  process.emitWarning(
    `bulwark: ${name}: no getConnInfo and no key: every client shares one key ('unknown'); ${HOW}, or give a key function`,
    { code: 'BULWARK_HONO_NO_PEER' },
  );
}
