import type { FastifyInstance, FastifyPluginCallback, FastifyPluginOptions } from 'fastify';

/** The options Fastify's `register` itself reads; they are Fastify's, not the plugin's. */
const REGISTER_OPTIONS = ['prefix', 'logLevel', 'logSerializers'] as const;

/**
 * Makes `body` a Fastify plugin that skips encapsulation, as `fastify-plugin` does (without depending on
 * it): what it adds (hooks, handlers) applies to the context it is registered in, the whole app when
 * registered at the top or one encapsulated context when registered inside one. The options it receives
 * are the user's, less Fastify's own `register` options. A `TypeError` thrown while building (a bad option)
 * rejects the `register` (and `ready`/`listen`) with it. @internal
 */
export function skipOverride<Options extends FastifyPluginOptions>(
  name: string,
  body: (instance: FastifyInstance, options: Options) => void,
): FastifyPluginCallback<Options> {
  const plugin = function bulwarkPlugin(instance: FastifyInstance, options: Options, done: (err?: Error) => void): void {
    try {
      body(instance, ownOptions(options));
    } catch (err) {
      done(err instanceof Error ? err : new TypeError(`${name}: ${String(err)}`));
      return;
    }
    done();
  } as FastifyPluginCallback<Options>;
  const marked = plugin as unknown as Record<symbol, unknown>;
  // What fastify-plugin sets: Fastify reads these two symbols (the name shows in errors and printPlugins).
  marked[Symbol.for('skip-override')] = true;
  marked[Symbol.for('fastify.display-name')] = `bulwark-${name}`;
  return plugin;
}

/** The options without Fastify's own `register` options (an options object that has none is kept as it is). */
function ownOptions<Options>(options: Options): Options {
  if (typeof options !== 'object' || options === null) return options;
  if (!REGISTER_OPTIONS.some((key) => Object.hasOwn(options, key))) return options;
  const own = { ...options } as Record<string, unknown>;
  for (const key of REGISTER_OPTIONS) delete own[key];
  return own as Options;
}
