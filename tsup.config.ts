import { defineConfig } from 'tsup';

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    express: 'adapters/express.ts',
    koa: 'adapters/koa.ts',
    fetch: 'adapters/fetch.ts',
    redis: 'src/stores/redis/index.ts',
    client: 'src/client/index.ts',
    testing: 'src/testing/index.ts',
  },
  format: ['esm', 'cjs'],
  dts: true,
  splitting: true,
  sourcemap: false,
  clean: true,
  target: 'node20',
  platform: 'node',
  treeshake: true,
  external: ['express', 'koa', 'ioredis', 'opossum', 'lru-cache', 'vitest'],
});
