import { LRUCache } from 'lru-cache';
import { ApiError } from '../errors/api-error.js';
import { refuseUnknownOptions } from '../options/unknown-options.js';
import { errorDecision, NEXT } from '../guard/respond.js';
import { type AllowlistEvent, channels, type GuardMode } from '../events/channels.js';
import type { Decision, Guard, RequestView } from '../guard/types.js';
import { type ClientIpOptions, compileClientIp } from './client-ip.js';
import { formatIp, type IpValue, newIpValue } from './ip-parse.js';
import { IpSet } from './ip-set.js';
import { callHook } from '../events/call-hook.js';
import { inShadowChain, shadowPass } from '../throttle/mode.js';

/** A list of allowed addresses, CIDR blocks and ranges (see {@link IpSet}), or a built `IpSet`. */
export type AllowList = ReadonlyArray<string> | IpSet;

/** Options of `ipAllowlist` (Express, Koa), of `guard`'s `ipAllowlist` key (fetch) and of {@link createIpAllowlist}. */
export interface IpAllowlistOptions<Req = unknown> extends ClientIpOptions {
  /**
   * Who may pass: a list (compiled once, when the middleware is built; a refused entry throws a `TypeError`
   * naming it and its index), an {@link IpSet}, or a function of the request (Express `req`, Koa `ctx`, Web
   * `Request`) returning either, for per-account lists. Lists a function returns are compiled once per
   * distinct content and kept in a bounded cache (`cacheSize`); return an `IpSet` for large lists, which is
   * used as is. An empty list denies everyone; a function that throws, rejects, returns nothing or returns a
   * list with a refused entry denies the request (fail closed) and the cause goes to `onDeny`.
   * @example
   * ```ts
   * allow: ['203.0.113.0/24', '2001:db8::/48']
   * allow: async (req) => (await accounts.get(req.get('x-account-id')))?.allowedIps
   * ```
   */
  allow: AllowList | ((request: Req) => AllowList | undefined | null | Promise<AllowList | undefined | null>);
  /**
   * Called on every denial with the reason (for logs and metrics). Never affects the response; an exception
   * it throws is ignored.
   * @default undefined (denials are not reported)
   * @example
   * ```ts
   * onDeny: ({ reason, address, message }) => log.warn({ reason, address }, message)
   * ```
   */
  onDeny?: (event: IpDenyEvent<Req>) => void;
  /**
   * How many compiled lists returned by an `allow` function are kept (least recently used are dropped).
   * @default 1000
   * @example
   * ```ts
   * cacheSize: 10_000 // one list per account, 10,000 active accounts
   * ```
   */
  cacheSize?: number;
  /**
   * `'enforce'` answers 403 `ip_not_allowed`; `'shadow'` decides the same way and reports each denial (on
   * the `bulwark:allowlist` channel with `decision: 'deny'` and `wouldDeny: true`, and to `onDeny` with
   * `shadow: true`) but lets the request through: to try a new list on live traffic before enforcing it.
   * Switch at run time with `setMode(mode)`.
   * @default 'enforce'
   * @example
   * ```ts
   * const allowlist = ipAllowlist({ allow: nextList, mode: 'shadow' });
   * // once the channel shows no unexpected wouldDeny:
   * allowlist.setMode('enforce');
   * ```
   */
  mode?: GuardMode;
}

/** Why a request was denied. */
export type IpDenyReason =
  /** The client address is not in the list. */
  | 'not_allowed'
  /** No client address: no peer, or a malformed address in a trusted forwarding header. */
  | 'no_client_address'
  /** The list is empty. */
  | 'empty_list'
  /** The `allow` function threw, rejected, returned nothing or returned a list with a refused entry. */
  | 'list_unavailable';

/** What `onDeny` receives. */
export interface IpDenyEvent<Req = unknown> {
  reason: IpDenyReason;
  /** A sentence for logs. */
  message: string;
  /** The resolved client address (canonical text), when there is one. */
  address?: string;
  /** The error behind `list_unavailable`. */
  cause?: unknown;
  /** The framework's request object (Express `req`, Koa `ctx`, Web `Request`). */
  request: Req;
  /** Present (true) only in shadow mode: the request was let through, nothing was refused. */
  shadow?: true;
}

/**
 * A compiled allowlist: a {@link Guard} that adapters apply, plus `replace` to swap a static list at run time.
 */
export interface IpAllowlist<Req = unknown> extends Guard<Req> {
  /**
   * Replaces the static list atomically: the new list is compiled completely first, then swapped in one
   * assignment, so no request ever sees an empty or half-built list. A list with a refused entry throws a
   * `TypeError` and the old list stays in force. Throws when `allow` is a function.
   * @example
   * ```ts
   * const allowlist = ipAllowlist({ allow: await loadIps() });
   * app.use(allowlist);
   * setInterval(async () => allowlist.replace(await loadIps()), 60_000).unref();
   * ```
   */
  replace(allow: AllowList): void;
  /**
   * Switches between `'enforce'` and `'shadow'` (see the `mode` option) for the requests checked from now
   * on. Any other value throws a `TypeError` and the mode stays as it was.
   * @example
   * ```ts
   * allowlist.setMode('shadow'); // report, but let everyone through, while a list is being checked
   * ```
   */
  setMode(mode: GuardMode): void;
  /** The mode in force: `'enforce'` or `'shadow'`. */
  readonly mode: GuardMode;
}

/** The allowlists made by {@link createIpAllowlist} (so that one can be passed where options are expected). */
const BUILT = new WeakSet<object>();

/** The denial, made once: its body never depends on the request, the rules or the headers. */
const DENIED: Decision = Object.freeze(errorDecision(new ApiError('ip_not_allowed'))) as Decision;

const NAME = 'ipAllowlist';

const OPTION_NAMES: ReadonlySet<string> = new Set(['allow', 'trustProxy', 'forwarded', 'onDeny', 'cacheSize', 'mode']);

/** The reason a channel event gives for each denial (see {@link AllowlistEvent}). */
const EVENT_REASON: Readonly<Record<IpDenyReason, NonNullable<AllowlistEvent['reason']>>> = {
  not_allowed: 'not-listed',
  empty_list: 'not-listed',
  no_client_address: 'no-address',
  list_unavailable: 'refused',
};

/** Validates a mode (the `mode` option, `setMode`), naming `what` in the `TypeError`. */
function checkMode(mode: unknown, what: string): GuardMode {
  if (mode === 'enforce' || mode === 'shadow') return mode;
  const foreign = mode === 'allow' || mode === 'deny' ? " (express-ipfilter's allow/deny modes are not offered: only allowlists, ipAllowlist({ allow }))" : '';
  throw new TypeError(`${NAME}: ${what} must be 'enforce' or 'shadow'${foreign}`);
}

let warnedEmpty = false;

/** A static list that is empty can only deny: the process is told once. */
function warnEmptyList(): void {
  if (warnedEmpty) return;
  warnedEmpty = true;
  process.emitWarning(
    `bulwark: ${NAME}: the allow list is empty, so every request is denied (403 ip_not_allowed); list the addresses that may pass, or call replace(list) once they are known`,
    { code: 'BULWARK_DENY_ALL' },
  );
}

/**
 * Builds an IP allowlist guard: requests whose client address (see `createClientIpResolver`) is not in
 * `allow` get `403` `ip_not_allowed`. Options are validated here; a bad option or a refused entry throws a
 * `TypeError` naming it. Passing an allowlist already built returns it unchanged.
 *
 * The Express and Koa `ipAllowlist` middleware and `guard`'s `ipAllowlist` key are built with this function.
 *
 * @example
 * ```ts
 * import { createIpAllowlist } from 'bulwark';
 * import { guard } from 'bulwark/fetch';
 *
 * const allowlist = createIpAllowlist<Request>({ allow: ['203.0.113.0/24'], trustProxy: ['10.0.0.0/8'] });
 * export default guard(handler, { ipAllowlist: allowlist, clientIp: (_req, env) => env.incoming.socket.remoteAddress });
 * allowlist.replace(['203.0.113.0/24', '198.51.100.0/24']);
 * ```
 */
export function createIpAllowlist<Req = unknown>(options: IpAllowlistOptions<Req> | IpAllowlist<Req>): IpAllowlist<Req> {
  if (typeof options === 'object' && options !== null && BUILT.has(options)) return options as IpAllowlist<Req>;
  if (typeof options !== 'object' || options === null) throw new TypeError(`${NAME}: options must be an object`);
  const opts = options as IpAllowlistOptions<Req>;
  refuseUnknownOptions(NAME, opts, OPTION_NAMES);
  const resolve = compileClientIp(opts, NAME);
  const { allow, onDeny, cacheSize = 1000 } = opts;
  if (onDeny !== undefined && typeof onDeny !== 'function') throw new TypeError(`${NAME}: options.onDeny must be a function`);
  if (!Number.isSafeInteger(cacheSize) || cacheSize < 1) throw new TypeError(`${NAME}: options.cacheSize must be a positive integer`);
  let mode: GuardMode = opts.mode === undefined ? 'enforce' : checkMode(opts.mode, 'options.mode');
  const setMode = (next: GuardMode): void => {
    mode = checkMode(next, 'setMode(mode)');
  };

  /**
   * Refuses (or, in shadow mode, reports and lets through) one request. `failed`: the `allow` function
   * threw or rejected (the channel says `'error'`, not `'refused'`).
   */
  const deny = (view: RequestView<Req>, reason: IpDenyReason, message: string, value?: IpValue, cause?: unknown, failed = false): Decision => {
    const shadow = mode === 'shadow';
    if (channels.allowlist.hasSubscribers) {
      const event: AllowlistEvent = { guard: NAME, decision: 'deny', reason: failed ? 'error' : EVENT_REASON[reason], mode, wouldDeny: shadow };
      if (value) event.address = formatIp(value);
      channels.allowlist.publish(event);
    }
    if (onDeny) {
      const event: IpDenyEvent<Req> = { reason, message, request: view.request };
      if (value) event.address = formatIp(value);
      if (cause !== undefined) event.cause = cause;
      if (shadow) event.shadow = true;
      // A logging hook never changes the answer, whether it throws or rejects.
      callHook(onDeny, event);
    }
    return shadow ? shadowPass(403) : DENIED;
  };

  const allowed = (value: IpValue): Decision => {
    if (channels.allowlist.hasSubscribers) {
      const event: AllowlistEvent = { guard: NAME, decision: 'allow', address: formatIp(value), mode, wouldDeny: false };
      channels.allowlist.publish(event);
    }
    return NEXT;
  };

  const decide = (view: RequestView<Req>, set: IpSet, value: IpValue): Decision => {
    if (set.empty) return deny(view, 'empty_list', 'the allowlist is empty', value);
    return set.hasValue(value) ? allowed(value) : deny(view, 'not_allowed', 'the client address is not on the allowlist', value);
  };

  const scratch = newIpValue();
  let allowlist: IpAllowlist<Req>;

  if (typeof allow === 'function') {
    const compiled = new LRUCache<string, IpSet | Error>({ max: cacheSize });
    const listName = `${NAME}: the list returned by options.allow`;
    const toSet = (list: unknown): IpSet | Error => {
      if (list instanceof IpSet) return list;
      if (list === undefined || list === null) return new Error('options.allow returned no list');
      if (!Array.isArray(list)) return new TypeError('options.allow returned neither a list nor an IpSet');
      const key = JSON.stringify(list);
      let set = compiled.get(key);
      if (set === undefined) {
        try {
          set = new IpSet(list, { name: listName });
        } catch (err) {
          set = err instanceof Error ? err : new Error(String(err));
        }
        compiled.set(key, set);
      }
      return set;
    };
    const settle = (view: RequestView<Req>, list: unknown, value: IpValue): Decision => {
      const set = toSet(list);
      if (set instanceof Error) return deny(view, 'list_unavailable', 'options.allow gave no usable list', value, set);
      return decide(view, set, value);
    };
    allowlist = {
      name: NAME,
      check(view) {
        const unresolved = resolve(view, scratch);
        if (unresolved !== undefined) return deny(view, 'no_client_address', unresolved);
        let result: ReturnType<typeof allow>;
        let pending: boolean;
        try {
          result = allow(view.request);
          pending = typeof result === 'object' && result !== null && typeof (result as PromiseLike<unknown>).then === 'function';
        } catch (err) {
          return deny(view, 'list_unavailable', 'options.allow threw', scratch, err, true);
        }
        if (!pending) return settle(view, result, scratch);
        // The request waits for its list: keep its address apart from the shared scratch value.
        const value = { ...scratch };
        return Promise.resolve(result).then(
          (list) => settle(view, list, value),
          (err: unknown) => deny(view, 'list_unavailable', 'options.allow rejected', value, err, true),
        );
      },
      replace() {
        throw new TypeError(`${NAME}: replace() needs a static allow list; options.allow is a function, which returns its own lists`);
      },
      setMode,
      get mode() {
        return mode;
      },
    };
  } else {
    let current = toStaticSet(allow, `${NAME}: options.allow`);
    if (current.empty) warnEmptyList();
    allowlist = {
      name: NAME,
      check(view) {
        const unresolved = resolve(view, scratch);
        if (unresolved !== undefined) return deny(view, 'no_client_address', unresolved);
        return decide(view, current, scratch);
      },
      replace(next: AllowList) {
        // Compile first; only a complete set is ever assigned.
        current = toStaticSet(next, `${NAME}: replace(list)`);
      },
      setMode,
      get mode() {
        return mode;
      },
    };
  }
  // In a chain of shadow guards, a request an earlier one refused is left alone, and this one's refusals are
  // marked for the guards after it (see inShadowChain).
  inShadowChain(allowlist, () => mode);
  BUILT.add(allowlist);
  return allowlist;
}

function toStaticSet(allow: unknown, name: string): IpSet {
  if (allow instanceof IpSet) return allow;
  if (!Array.isArray(allow)) {
    throw new TypeError(`${name} must be a list of IP addresses or CIDR blocks, an IpSet, or a function (request) => list`);
  }
  return new IpSet(allow, { name });
}
