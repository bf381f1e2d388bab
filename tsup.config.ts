import { defineConfig, type Options } from 'tsup';

const shared = {
  dts: true,
  splitting: true,
  sourcemap: false,
  target: 'node20',
  platform: 'node',
  treeshake: true,
  external: ['express', 'koa', 'fastify', 'hono', 'ioredis', 'pg', 'opossum', 'lru-cache', 'vitest', '@opentelemetry/api'],
} satisfies Options;

export default defineConfig([
  {
    ...shared,
    entry: {
      index: 'src/index.ts',
      express: 'adapters/express.ts',
      koa: 'adapters/koa.ts',
      fetch: 'adapters/fetch.ts',
      fastify: 'adapters/fastify.ts',
      hono: 'adapters/hono.ts',
      redis: 'src/stores/redis/index.ts',
      postgres: 'src/stores/postgres/index.ts',
      client: 'src/client/index.ts',
      otel: 'src/otel/index.ts',
    },
    format: ['esm', 'cjs'],
    clean: false,
  },
  {
    // vitest is ESM-only (its CommonJS entry throws), so the conformance suites are too.
    ...shared,
    entry: { testing: 'src/testing/index.ts' },
    format: ['esm'],
    clean: false,
  },
]);
