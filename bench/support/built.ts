/**
 * The built package, loaded the way users load it (`bulwark`, `bulwark/koa`, ... through the exports map),
 * so that the benchmarks measure the code that ships rather than TypeScript run through a loader.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

interface Entries {
  bulwark: typeof import('../../src/index.js');
  'bulwark/express': typeof import('../../adapters/express.js');
  'bulwark/koa': typeof import('../../adapters/koa.js');
  'bulwark/redis': typeof import('../../src/stores/redis/index.js');
  'bulwark/postgres': typeof import('../../src/stores/postgres/index.js');
  'bulwark/client': typeof import('../../src/client/index.js');
  'bulwark/otel': typeof import('../../src/otel/index.js');
}

const DIST = fileURLToPath(new URL('../../dist/index.js', import.meta.url));

/**
 * Imports one entry point of the built package (run `npm run build` first; `npm run bench` does).
 *
 * @example
 * ```ts
 * const { rateLimit } = await built('bulwark/koa');
 * ```
 */
export async function built<K extends keyof Entries>(entry: K): Promise<Entries[K]> {
  if (!existsSync(DIST)) throw new Error('bench: dist/ is missing; run `npm run build` first (npm run bench does)');
  // A specifier held in a variable: the type checker does not need dist/ to exist.
  const specifier: string = entry;
  return (await import(specifier)) as Entries[K];
}
