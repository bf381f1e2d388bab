import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, FastifyPluginCallback, HookHandlerDoneFunction } from 'fastify';
import type { Guard } from '../../src/guard/types.js';
import { markThrown } from '../node/thrown.js';
import { dropChosenType, guardHook } from './hook.js';
import { skipOverride } from './plugin.js';

/** The guards' names, as in `config: { bulwark: { rateLimit: {...} } }`. @internal */
export type GuardKind = 'ipAllowlist' | 'rateLimit' | 'spendCap' | 'idempotency';

/**
 * What a route may say about bulwark's guards in its `config`: `bulwark: false` lets the route through
 * every guard plugin; `bulwark: { rateLimit: false }` through one kind; `bulwark: { rateLimit: { limit: 5 } }`
 * gives the route its own guard of that kind, built from these options merged over the plugin's (a route's
 * options replace an allowlist passed already built). A route's guard is built (and its options checked,
 * a bad one throwing a `TypeError` naming it) when the route is added after the plugin, or on the route's
 * first request when it was added before.
 *
 * @example
 * ```ts
 * app.post('/v1/batch', { config: { bulwark: { rateLimit: { limit: 10, windowMs: 60_000 } } } }, handler);
 * app.get('/health', { config: { bulwark: false } }, () => 'ok');
 * ```
 */
export type BulwarkRouteConfig = false | { [K in GuardKind]?: false | object };

/**
 * Builds the Fastify plugin of one guard: the guard (validated when the plugin is registered), the hook
 * that applies it, and the routes' own options. The plugin skips encapsulation. @internal
 */
export function guardPlugin<Options extends object>(
  kind: GuardKind,
  hook: 'onRequest' | 'preHandler',
  create: (options: Options) => Guard<FastifyRequest>,
): FastifyPluginCallback<Options> {
  return skipOverride<Options>(kind, (instance: FastifyInstance, options) => {
    const guard = create(options);
    const routeGuards = new WeakMap<object, Guard<FastifyRequest>>();
    const own = (config: object): Guard<FastifyRequest> => {
      let built = routeGuards.get(config);
      if (built === undefined) {
        // An allowlist passed already built has no options to merge over.
        const merged = typeof (options as { check?: unknown }).check === 'function' ? config : { ...options, ...config };
        built = create(merged as Options);
        routeGuards.set(config, built);
      }
      return built;
    };
    instance.addHook('onRoute', (route) => {
      const config = routeConfig(route.config, kind);
      if (config !== undefined && config !== false) own(config);
    });
    instance.addHook(
      hook,
      guardHook((request) => {
        const config = routeConfig(request.routeOptions?.config, kind);
        if (config === undefined) return guard;
        return config === false ? undefined : own(config);
      }),
    );
    // A thrown error that an error handler other than bulwark's answers is still a thrown error: an
    // idempotency capture releases the key, a spend cap refunds.
    instance.addHook('onError', markThrownHook);
    if (kind === 'idempotency') instance.addHook('onSend', dropChosenType);
  });
}

function markThrownHook(_request: FastifyRequest, reply: FastifyReply, error: FastifyError, done: HookHandlerDoneFunction): void {
  markThrown(reply.raw, error);
  done();
}

/** A route's setting for one kind of guard: its own options, `false` (skip), or undefined (the plugin's). */
function routeConfig(config: unknown, kind: GuardKind): object | false | undefined {
  if (typeof config !== 'object' || config === null) return undefined;
  const bulwark = (config as { bulwark?: unknown }).bulwark;
  if (bulwark === undefined) return undefined;
  if (bulwark === false) return false;
  if (typeof bulwark !== 'object' || bulwark === null) throw new TypeError('route config.bulwark must be false or an object');
  const value = (bulwark as Record<string, unknown>)[kind];
  if (value === undefined || value === false) return value as undefined | false;
  if (typeof value !== 'object' || value === null) throw new TypeError(`route config.bulwark.${kind} must be false or an options object`);
  return value;
}
