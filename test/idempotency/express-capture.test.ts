/**
 * The Express capture stands in for `res.write/end/writeHead/flushHeaders` while it buffers, then gives the
 * response its own methods back: those another middleware set on it (as compression does) stay that
 * middleware's, the rest are the prototype's again.
 */
import { execFile } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import express, { type Express, type Response } from 'express';
import { describe, expect, it } from 'vitest';
import { idempotency } from '../../adapters/express.js';
import { MemoryStore } from '../../src/stores/memory/index.js';
import { leaveOnceReached, signal } from '../support/leaving-client.js';

/** Serves `app` on a free port for the length of `use`, which gets the URL of `path`. */
async function serving<T>(app: Express, path: string, use: (url: string) => Promise<T>): Promise<T> {
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  try {
    return await use(`http://127.0.0.1:${(server.address() as AddressInfo).port}${path}`);
  } finally {
    server.closeAllConnections();
    server.close();
  }
}

/** An Express app with the JSON parser and bulwark's idempotency in front of its routes. */
function keyedApp(options: Parameters<typeof idempotency>[0] = { store: new MemoryStore() }): Express {
  const app = express();
  app.use(express.json());
  app.use(idempotency(options));
  return app;
}

/** A keyed JSON POST. */
const keyed = (key: string): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', 'idempotency-key': key },
  body: '{}',
});

/** Status, `Idempotent-Replayed` and body of a response. */
const seen = async (response: globalThis.Response) => [response.status, response.headers.get('idempotent-replayed'), await response.text()];

/**
 * Adds POST /m to `app`: its first run hands the response to `first` (which breaks it off somehow), later
 * runs answer 201 `done N`. Returns how many times it ran.
 */
function breaksFirstTime(app: Express, first: (res: Response) => void): () => number {
  let runs = 0;
  app.post('/m', (_req, res) => {
    runs++;
    res.status(201).type('text');
    if (runs === 1) first(res);
    else res.end(`done ${runs}`);
  });
  return () => runs;
}

const METHODS = ['write', 'end', 'writeHead', 'flushHeaders'] as const;
const SHAPE_FIXTURE = fileURLToPath(new URL('./fixtures/response-shape.ts', import.meta.url));
const execFileAsync = promisify(execFile);

async function run(wrapFirst: boolean) {
  const after: Array<Record<string, boolean>> = [];
  let wrapperCalls = 0;
  const app = express();
  if (wrapFirst) {
    // A middleware that wraps res.end on the instance, as compression does.
    app.use((_req, res, next) => {
      const end = res.end;
      res.end = function wrappedEnd(this: Response, ...args: unknown[]) {
        wrapperCalls++;
        return (end as (...a: unknown[]) => Response).apply(this, args);
      } as Response['end'];
      next();
    });
  }
  app.use(express.json());
  app.use((_req, res, next) => {
    // The methods the response has before the capture, compared with those it has once it is sent.
    const before = Object.fromEntries(METHODS.map((name) => [name, res[name]]));
    res.on('finish', () => {
      after.push(Object.fromEntries(METHODS.map((name) => [name, res[name] === before[name]])));
    });
    next();
  });
  app.use(idempotency({ store: new MemoryStore() }));
  app.post('/m', (_req, res) => {
    res.status(201).json({ ok: true });
  });
  return serving(app, '/m', async (url) => {
    const init = keyed('k');
    const first = await fetch(url, init);
    const replay = await fetch(url, init);
    return { first: [first.status, await first.text()], replay: [replay.status, replay.headers.get('idempotent-replayed'), await replay.text()], after, wrapperCalls };
  });
}

describe('Express capture', () => {
  it('captures a response that a mounted sub-app writes (it switches the response to its own prototype)', async () => {
    let runs = 0;
    const sub = express();
    sub.post('/m', (_req, res) => {
      runs++;
      res.status(201).json({ runs });
    });
    const app = keyedApp();
    app.use('/sub', sub);
    await serving(app, '/sub/m', async (url) => {
      const init = keyed('sub');
      const first = await fetch(url, init);
      expect([first.status, await first.text()]).toEqual([201, '{"runs":1}']);
      const replay = await fetch(url, init);
      expect(await seen(replay)).toEqual([201, 'true', '{"runs":1}']);
      expect(runs).toBe(1);
    });
  });

  it('releases the key when the application destroys the response before ending it; the retry runs', async () => {
    const app = keyedApp();
    const runs = breaksFirstTime(app, (res) => {
      res.write('part;');
      setTimeout(() => res.destroy(), 5);
    });
    await serving(app, '/m', async (url) => {
      const init = keyed('cut');
      await expect(fetch(url, init)).rejects.toThrow();
      const retry = await fetch(url, init);
      expect(await seen(retry)).toEqual([201, null, 'done 2']);
      const replay = await fetch(url, init);
      expect(await seen(replay)).toEqual([201, 'true', 'done 2']);
      expect(runs()).toBe(2);
    });
  });

  it('keeps the key, completed but not replayable, when the client leaves while a stream is piped into the response: the handler did its work', async () => {
    const app = keyedApp();
    const runs = breaksFirstTime(app, (res) => {
      // An upstream that sends one chunk and then stalls: the client gives up meanwhile.
      let sent = false;
      new Readable({
        read() {
          if (!sent) this.push('part;');
          sent = true;
        },
      }).pipe(res);
    });
    await serving(app, '/m', async (url) => {
      const init = keyed('gone');
      await expect(fetch(url, { ...init, signal: AbortSignal.timeout(100) })).rejects.toThrow();
      await new Promise((resolve) => setTimeout(resolve, 50));
      const retry = await fetch(url, init);
      expect(retry.status).toBe(422);
      expect(await retry.json()).toMatchObject({ error: 'idempotency_key_used', replayable: false });
      expect(runs()).toBe(1);
    });
  });

  it('releases the key when the application destroys the response after the client left', async () => {
    let destroyed!: () => void;
    const destroyedNow = new Promise<void>((resolve) => {
      destroyed = resolve;
    });
    const app = keyedApp();
    const runs = breaksFirstTime(app, (res) => {
      res.write('part;');
      // The application notices the client left only later (a slow upstream), then gives up on the response.
      res.once('close', () =>
        setTimeout(() => {
          res.destroy();
          destroyed();
        }, 20),
      );
    });
    await serving(app, '/m', async (url) => {
      const init = keyed('left');
      await expect(fetch(url, { ...init, signal: AbortSignal.timeout(100) })).rejects.toThrow();
      await destroyedNow;
      const retry = await fetch(url, init);
      expect(await seen(retry)).toEqual([201, null, 'done 2']);
      expect(runs()).toBe(2);
    });
  });

  it('does not run the application for a client that left while its key was claimed; the key is free', async () => {
    let runs = 0;
    const memory = new MemoryStore().idempotency;
    // A store that answers a claim after 60 ms, as one across a network may.
    const slow = {
      claim: async (...args: Parameters<typeof memory.claim>) => {
        await new Promise((resolve) => setTimeout(resolve, 60));
        return memory.claim(...args);
      },
      renew: memory.renew.bind(memory),
      complete: memory.complete.bind(memory),
      release: memory.release.bind(memory),
    };
    const { reached, reachedYet } = signal();
    const app = express();
    app.use(express.json());
    app.use((_req, _res, next) => {
      reached();
      next();
    });
    app.use(idempotency({ store: slow }));
    app.post('/m', (_req, res) => {
      runs++;
      res.status(201).type('text').end(`done ${runs}`);
    });
    await serving(app, '/m', async (url) => {
      const init = keyed('early');
      expect(await leaveOnceReached(url, init, reachedYet)).toBe('left');
      await new Promise((resolve) => setTimeout(resolve, 150));
      expect(runs).toBe(0);
      const retry = await fetch(url, init);
      expect(await seen(retry)).toEqual([201, null, 'done 1']);
    });
  });

  it('leaves the response with the methods it had once it is sent', async () => {
    const { first, replay, after } = await run(false);
    expect(first).toEqual([201, '{"ok":true}']);
    expect(replay).toEqual([201, 'true', '{"ok":true}']);
    // The first response (captured) and the replay.
    expect(after).toEqual([
      { write: true, end: true, writeHead: true, flushHeaders: true },
      { write: true, end: true, writeHead: true, flushHeaders: true },
    ]);
  });

  it("gives back a method that another middleware set on the response, and that middleware's wrapper runs", async () => {
    const { first, replay, after, wrapperCalls } = await run(true);
    expect(first).toEqual([201, '{"ok":true}']);
    expect(replay).toEqual([201, 'true', '{"ok":true}']);
    // The first response (captured) and the replay.
    expect(after).toEqual([
      { write: true, end: true, writeHead: true, flushHeaders: true },
      { write: true, end: true, writeHead: true, flushHeaders: true },
    ]);
    expect(wrapperCalls).toBeGreaterThanOrEqual(1);
  });

  it('keeps every captured response in fast properties (V8), whatever wrote it', async () => {
    // In a process of its own: V8 answers the question only with --allow-natives-syntax.
    const { stdout } = await execFileAsync(process.execPath, ['--allow-natives-syntax', '--import', 'tsx', SHAPE_FIXTURE], { timeout: 30_000 });
    const shapes = JSON.parse(stdout) as Record<string, boolean>;
    for (const path of ['/json', '/send', '/chunks', '/pipe', '/redirect']) {
      expect({ path, unkeyed: shapes[`${path} unkeyed`], keyed: shapes[`${path} keyed`] }).toEqual({ path, unkeyed: true, keyed: true });
    }
    // The control: a response the application itself puts in dictionary mode is seen as such.
    expect([shapes['/control unkeyed'], shapes['/control keyed']]).toEqual([false, false]);
  });
});
