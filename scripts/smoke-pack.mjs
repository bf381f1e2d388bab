// Packs bulwark, installs the tarball into a temporary project, and checks every entry point of the
// exports map loads with require() and import(), and type-checks against the installed types.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const entries = Object.keys(pkg.exports)
  .filter((key) => key !== './package.json')
  .map((key) => (key === '.' ? 'bulwark' : `bulwark/${key.slice(2)}`));
// Entry points without a "require" condition (bulwark/testing: vitest itself cannot be required).
const esmOnly = Object.entries(pkg.exports)
  .filter(([key, value]) => key !== './package.json' && typeof value === 'object' && !('require' in value))
  .map(([key]) => `bulwark/${key.slice(2)}`);
const run = (cmd, args, cwd) => execFileSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });

const dir = mkdtempSync(join(tmpdir(), 'bulwark-smoke-'));
try {
  const tarball = run('npm', ['pack', '--silent', '--pack-destination', dir], root).trim().split('\n').pop();
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'smoke', private: true, type: 'commonjs' }));
  const devVersion = (name) => pkg.devDependencies[name];
  run(
    'npm',
    [
      'install',
      '--no-audit',
      '--no-fund',
      '--prefer-offline',
      join(dir, tarball),
      `typescript@${devVersion('typescript')}`,
      `vitest@${devVersion('vitest')}`,
      `@types/node@${devVersion('@types/node')}`,
      `ioredis@${devVersion('ioredis')}`,
      `@types/express@${devVersion('@types/express')}`,
      `@types/koa@${devVersion('@types/koa')}`,
      // bulwark/fastify's declarations name Fastify's types (a Fastify user has it installed).
      `fastify@${devVersion('fastify')}`,
      // bulwark/hono's declarations name Hono's types (a Hono user has it installed).
      `hono@${devVersion('hono')}`,
      // bulwark/otel needs its optional peer dependency (an OpenTelemetry user has it installed).
      `@opentelemetry/api@${devVersion('@opentelemetry/api')}`,
    ],
    dir,
  );

  // require() and import() of every entry point, and one ApiError across the two copies.
  const cjs = `
    const names = ${JSON.stringify(entries)};
    const esmOnly = ${JSON.stringify(esmOnly)};
    for (const name of names) {
      if (esmOnly.includes(name)) {
        let refused = false;
        try { require(name); } catch (err) { refused = err.code === 'ERR_PACKAGE_PATH_NOT_EXPORTED'; }
        if (!refused) throw new Error('require(' + name + ') should be refused: it is ESM-only');
        continue;
      }
      const mod = require(name);
      if (Object.keys(mod).length === 0) throw new Error('require(' + name + ') exported nothing');
    }
    (async () => {
      for (const name of names) {
        const mod = await import(name);
        if (Object.keys(mod).length === 0) throw new Error('import(' + name + ') exported nothing');
      }
      const fromCjs = require('bulwark');
      const fromEsm = await import('bulwark');
      const err = new fromCjs.ApiError('throttled');
      if (!fromEsm.isApiError(err)) throw new Error('isApiError does not see a CJS ApiError from ESM');
      if (!fromCjs.isApiError(new fromEsm.ApiError('not_found'))) throw new Error('isApiError does not see an ESM ApiError from CJS');
      const express = require('bulwark/express');
      for (const fn of ['errorHandler', 'notFound']) if (typeof express[fn] !== 'function') throw new Error('bulwark/express lacks ' + fn);
      console.log('entry points loaded with import(): ' + names.join(', '));
      console.log('entry points loaded with require(): ' + names.filter((n) => !esmOnly.includes(n)).join(', ') + ' (ESM-only: ' + esmOnly.join(', ') + ')');
    })().catch((err) => { console.error(err); process.exit(1); });
  `;
  writeFileSync(join(dir, 'check.cjs'), cjs);
  process.stdout.write(run('node', ['check.cjs'], dir));

  // Importing bulwark/express must not load Koa, Redis or opossum. Express and Koa are not installed
  // here at all, so loading every adapter above already proved that no adapter requires its framework.
  const isolation = `
    require('bulwark/express');
    const heavy = Object.keys(require.cache).filter((p) => /node_modules[\\\\/](koa|ioredis|opossum|express)[\\\\/]/.test(p));
    if (heavy.length) { console.error('bulwark/express loaded: ' + heavy.join(', ')); process.exit(1); }
    console.log('bulwark/express loads no framework, Redis client or opossum');
    require('bulwark/postgres');
    const loaded = Object.keys(require.cache).filter((p) => /node_modules[\\\\/](koa|ioredis|express)[\\\\/]/.test(p));
    if (loaded.length) { console.error('bulwark/postgres loaded: ' + loaded.join(', ')); process.exit(1); }
    console.log('bulwark/postgres loads no framework or Redis client');
  `;
  writeFileSync(join(dir, 'isolation.cjs'), isolation);
  process.stdout.write(run('node', ['isolation.cjs'], dir));

  // bulwark/fastify, as required and as imported, loads no other framework, Redis client or Fastify itself.
  const fastifyHeavy = '/node_modules[\\\\/](express|koa|hono|ioredis|fastify)[\\\\/]/';
  writeFileSync(
    join(dir, 'isolation-fastify.cjs'),
    `const f = require('bulwark/fastify');
    if (typeof f.rateLimit !== 'function' || typeof f.errorHandler !== 'function') throw new Error('bulwark/fastify lacks its plugins');
    const heavy = Object.keys(require.cache).filter((p) => ${fastifyHeavy}.test(p));
    if (heavy.length) { console.error('require(bulwark/fastify) loaded: ' + heavy.join(', ')); process.exit(1); }
    console.log('require(bulwark/fastify) loads no framework or Redis client');`,
  );
  writeFileSync(
    join(dir, 'isolation-fastify.mjs'),
    `import { createRequire } from 'node:module';
    const f = await import('bulwark/fastify');
    if (typeof f.idempotency !== 'function') throw new Error('bulwark/fastify lacks its plugins');
    // CommonJS packages imported from ESM (ioredis, Fastify) go through the CommonJS cache too; Express and Koa are not installed here.
    const heavy = Object.keys(createRequire(import.meta.url).cache).filter((p) => ${fastifyHeavy}.test(p));
    if (heavy.length) { console.error('import(bulwark/fastify) loaded: ' + heavy.join(', ')); process.exit(1); }
    console.log('import(bulwark/fastify) loads no framework or Redis client');`,
  );
  process.stdout.write(run('node', ['isolation-fastify.cjs'], dir));
  process.stdout.write(run('node', ['isolation-fastify.mjs'], dir));

  // bulwark/hono, as required and as imported, loads no other framework, no Redis client, nor Hono itself
  // (it uses Hono's types only). Hono is installed here, so the check for it means something.
  const honoHeavy = '/node_modules[\\\\/](express|koa|fastify|ioredis|hono)[\\\\/]/';
  writeFileSync(
    join(dir, 'isolation-hono.cjs'),
    `const h = require('bulwark/hono');
    for (const fn of ['errorHandler', 'notFound', 'ipAllowlist', 'rateLimit', 'spendCap', 'idempotency']) if (typeof h[fn] !== 'function') throw new Error('bulwark/hono lacks ' + fn);
    const heavy = Object.keys(require.cache).filter((p) => ${honoHeavy}.test(p));
    if (heavy.length) { console.error('require(bulwark/hono) loaded: ' + heavy.join(', ')); process.exit(1); }
    console.log('require(bulwark/hono) loads no framework or Redis client');`,
  );
  writeFileSync(
    join(dir, 'isolation-hono.mjs'),
    `import { createRequire } from 'node:module';
    const h = await import('bulwark/hono');
    if (typeof h.errorHandler !== 'function' || typeof h.notFound !== 'function') throw new Error('bulwark/hono lacks errorHandler or notFound');
    const heavy = Object.keys(createRequire(import.meta.url).cache).filter((p) => ${honoHeavy}.test(p));
    if (heavy.length) { console.error('import(bulwark/hono) loaded: ' + heavy.join(', ')); process.exit(1); }
    console.log('import(bulwark/hono) loads no framework or Redis client');`,
  );
  process.stdout.write(run('node', ['isolation-hono.cjs'], dir));
  process.stdout.write(run('node', ['isolation-hono.mjs'], dir));

  // bulwark/otel, as required and as imported, loads @opentelemetry/api and no framework or Redis client.
  const otelHeavy = '/node_modules[\\\\/](express|koa|fastify|hono|ioredis|redis|@redis|pg|opossum)[\\\\/]/';
  writeFileSync(
    join(dir, 'isolation-otel.cjs'),
    `const o = require('bulwark/otel');
    if (typeof o.recordMetrics !== 'function') throw new Error('bulwark/otel lacks recordMetrics');
    const stop = o.recordMetrics();
    stop();
    const heavy = Object.keys(require.cache).filter((p) => ${otelHeavy}.test(p));
    if (heavy.length) { console.error('require(bulwark/otel) loaded: ' + heavy.join(', ')); process.exit(1); }
    if (!Object.keys(require.cache).some((p) => /node_modules[\\\\/]@opentelemetry[\\\\/]api[\\\\/]/.test(p))) throw new Error('require(bulwark/otel) did not load @opentelemetry/api');
    console.log('require(bulwark/otel) loads no framework or Redis client');`,
  );
  writeFileSync(
    join(dir, 'isolation-otel.mjs'),
    `import { createRequire } from 'node:module';
    const o = await import('bulwark/otel');
    if (typeof o.recordMetrics !== 'function') throw new Error('bulwark/otel lacks recordMetrics');
    o.recordMetrics()();
    const heavy = Object.keys(createRequire(import.meta.url).cache).filter((p) => ${otelHeavy}.test(p));
    if (heavy.length) { console.error('import(bulwark/otel) loaded: ' + heavy.join(', ')); process.exit(1); }
    console.log('import(bulwark/otel) loads no framework or Redis client');`,
  );
  process.stdout.write(run('node', ['isolation-otel.cjs'], dir));
  process.stdout.write(run('node', ['isolation-otel.mjs'], dir));

  // Type-check against the installed declaration files, as an ESM and as a CJS consumer.
  const source = (kind) => `
import { ApiError, isApiError, ERROR_CODES, defineErrorCodes, formatError } from 'bulwark';
import { errorHandler, notFound } from 'bulwark/express';
import { errorHandler as koaErrorHandler } from 'bulwark/koa';
import { guard } from 'bulwark/fetch';
import { errorHandler as fastifyErrorHandler, rateLimit as fastifyRateLimit } from 'bulwark/fastify';
import { errorHandler as honoErrorHandler, notFound as honoNotFound, rateLimit as honoRateLimit } from 'bulwark/hono';
import { RedisStore } from 'bulwark/redis';
import { PostgresStore } from 'bulwark/postgres';
import { createFetch } from 'bulwark/client';
import { recordMetrics, type RecordMetricsOptions } from 'bulwark/otel';
${kind === 'esm' ? "import { storeContract } from 'bulwark/testing';" : 'const storeContract = undefined;'}
const err: ApiError = new ApiError('throttled', { details: { scope: '${kind}' } });
const status: number = ERROR_CODES.spend_limit_exceeded.status;
const { ApiError: AppError } = defineErrorCodes({ custom_code: { status: 409, message: 'x' } });
new AppError('custom_code');
// @ts-expect-error: misspelt code
new AppError('custom_cod');
const formatted: { status: number; body: string } = formatError(err);
const otelOptions: RecordMetricsOptions = { origins: ['https://api.example.com'] };
const stopRecording: () => void = recordMetrics(otelOptions);
// @ts-expect-error: not an option of recordMetrics
recordMetrics({ provider: undefined });
export const used = [isApiError(err), status, formatted, errorHandler, notFound, koaErrorHandler, guard, fastifyErrorHandler, fastifyRateLimit, honoErrorHandler, honoNotFound, honoRateLimit, RedisStore, PostgresStore, createFetch, storeContract, stopRecording];
`;
  writeFileSync(join(dir, 'esm.mts'), source('esm'));
  writeFileSync(join(dir, 'cjs.cts'), source('cjs'));
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { module: 'node16', moduleResolution: 'node16', strict: true, noEmit: true, skipLibCheck: false, types: ['node'], lib: ['ES2023', 'DOM'] },
      files: ['esm.mts', 'cjs.cts'],
    }),
  );
  run(join(dir, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.json'], dir);
  console.log('types check as ESM (esm.mts) and CJS (cjs.cts) consumers');
} finally {
  rmSync(dir, { recursive: true, force: true });
}
