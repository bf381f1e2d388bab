/**
 * The `logger` option of idempotency (its `bulwark: idempotency: ...` lines) and of errorHandler (its
 * 5xx line): the lines go to the logger given, console stays the default, and a logger that throws never
 * changes an answer.
 */
import express from 'express';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { errorHandler, idempotency } from '../../adapters/express.js';
import { guard } from '../../adapters/fetch.js';
import type { Logger } from '../../src/events/logger.js';
import { RedisStore } from '../../src/stores/redis/index.js';
import { signal } from '../support/leaving-client.js';
import { startRedisServer, TEST_CLIENT_OPTIONS, testPrefix } from '../support/redis.js';
import { serving } from '../support/events.js';

function collecting(): Logger & { lines: Array<[level: string, line: string]> } {
  const lines: Array<[string, string]> = [];
  return { lines, warn: (line) => lines.push(['warn', line]), error: (line) => lines.push(['error', line]) };
}

const throwing: Logger = {
  warn: () => {
    throw new Error('logger down');
  },
  error: () => {
    throw new Error('logger down');
  },
};


afterEach(() => {
  vi.restoreAllMocks();
});

/**
 * A keyed request through fetch guard() whose store dies while the handler runs: its response cannot be
 * recorded, which idempotency reports (`not_recorded`) with one line.
 */
async function unrecordedRequest(logger: Logger | undefined): Promise<number> {
  const server = await startRedisServer();
  const redis = new Redis(server.url, { ...TEST_CLIENT_OPTIONS });
  redis.on('error', () => {});
  try {
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const reached = signal();
    const handler = guard(
      async () => {
        reached.reached();
        await held;
        return Response.json({ ok: true }, { status: 201 });
      },
      {
        errors: { onError: () => {} },
        idempotency: {
          store: new RedisStore(redis, { prefix: testPrefix('logger'), commandTimeoutMs: 100 }),
          storeTimeoutMs: 200,
          ...(logger ? { logger } : {}),
        },
      },
    );
    const answered = handler(new Request('http://api.test/m', { method: 'POST', headers: { 'idempotency-key': 'secret-key-9f8e' }, body: '{}' }));
    await reached.reachedYet;
    await server.kill();
    release();
    const response = await answered;
    await response.arrayBuffer();
    return response.status;
  } finally {
    redis.disconnect();
    await server.stop();
  }
}

describe('idempotency logger', () => {
  it('writes its line to the logger given (error), not to console', async () => {
    const consoleError = vi.spyOn(console, 'error');
    const logger = collecting();
    expect(await unrecordedRequest(logger)).toBe(201);
    expect(logger.lines).toHaveLength(1);
    const [level, line] = logger.lines[0]!;
    expect(level).toBe('error');
    expect(line).toMatch(/^bulwark: idempotency: the store accepted no record of this completed request; .* \[key #[A-Za-z0-9_-]{12}\]/);
    expect(line).not.toContain('secret-key-9f8e');
    expect(consoleError).not.toHaveBeenCalled();
  });

  it('console stays the default; a logger that throws loses the line, never the response', async () => {
    const consoleError = vi.spyOn(console, 'error').mockImplementation(() => {});
    expect(await unrecordedRequest(undefined)).toBe(201);
    expect(consoleError).toHaveBeenCalledTimes(1);
    expect(String(consoleError.mock.calls[0]![0])).toMatch(/^bulwark: idempotency: /);
    consoleError.mockClear();
    expect(await unrecordedRequest(throwing)).toBe(201);
    expect(consoleError).not.toHaveBeenCalled();
  });

  it('refuses a logger without warn and error, naming the option', () => {
    for (const bad of [{}, { error: () => {} }, 'console', null]) {
      expect(() => idempotency({ logger: bad as never })).toThrow(
        new TypeError('idempotency: options.logger must have warn(message) and error(message) methods (console, pino)'),
      );
    }
  });
});

describe('errorHandler logger', () => {
  it('writes the 5xx line to the logger given, on Express and on fetch guard(); console is not used', async () => {
    const consoleError = vi.spyOn(console, 'error');
    const logger = collecting();
    const app = express();
    app.get('/boom', () => {
      throw new Error('database exploded');
    });
    app.get('/missing', (_req, _res, next) => next(Object.assign(new Error('no such thing'), { status: 404 })));
    app.use(errorHandler({ logger }));
    await serving(app, async (url) => {
      const boom = await fetch(`${url}/boom`);
      expect([boom.status, (await boom.json()).error]).toEqual([500, 'internal_error']);
      const missing = await fetch(`${url}/missing`);
      expect(missing.status).toBe(404);
      await missing.arrayBuffer();
    });
    const handler = guard(
      () => {
        throw new Error('handler exploded');
      },
      { errors: { logger } },
    );
    expect((await handler(new Request('http://api.test/v1/messages', { method: 'POST' }))).status).toBe(500);
    expect(logger.lines).toEqual([
      ['error', 'bulwark: 500 internal_error GET /boom: Error: database exploded'],
      ['error', 'bulwark: 500 internal_error POST /v1/messages: Error: handler exploded'],
    ]);
    expect(consoleError).not.toHaveBeenCalled();
  });

  it('onError replaces the line (the logger is not used); a throwing logger still gets the documented answer', async () => {
    const logger = collecting();
    const seen: number[] = [];
    const hooked = guard(
      () => {
        throw new Error('x');
      },
      { errors: { logger, onError: ({ error }) => seen.push(error.status) } },
    );
    expect((await hooked(new Request('http://api.test/'))).status).toBe(500);
    expect(seen).toEqual([500]);
    expect(logger.lines).toEqual([]);
    const broken = guard(
      () => {
        throw new Error('x');
      },
      { errors: { logger: throwing } },
    );
    const answer = await broken(new Request('http://api.test/'));
    expect([answer.status, (await answer.json()).error]).toEqual([500, 'internal_error']);
  });

  it('refuses a logger without warn and error, naming the option', () => {
    expect(() => errorHandler({ logger: { log: () => {} } as never })).toThrow(
      new TypeError('errorHandler: options.logger must have warn(message) and error(message) methods (console, pino)'),
    );
    expect(() => guard(() => new Response(), { errors: { logger: 1 as never } })).toThrow(/^guard: options\.errors: options\.logger must have warn/);
  });
});
