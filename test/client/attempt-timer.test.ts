/**
 * The time limit of an attempt whose response goes to the caller: it keeps covering the body, and is
 * cleared once the body is done (a timer left armed holds its controller for the whole timeout).
 */
import { describe, expect, it } from 'vitest';
import { AttemptTimer } from '../../src/client/attempt-timer.js';
import { FetchTimeoutError } from '../../src/client/errors.js';
import { realDelay } from './helpers.js';

const READERS: Array<[string, (res: Response) => Promise<unknown>]> = [
  ['text()', (res) => res.text()],
  ['json()', (res) => res.json()],
  ['arrayBuffer()', (res) => res.arrayBuffer()],
  ['blob()', (res) => res.blob()],
  ['bytes()', (res) => res.bytes()],
  ['formData()', (res) => res.formData()],
];

const bodyFor = (name: string) =>
  name === 'formData()'
    ? new Response('a=1', { headers: { 'content-type': 'application/x-www-form-urlencoded' } })
    : new Response('{"ok":true}', { headers: { 'content-type': 'application/json' } });

describe('AttemptTimer.cover', () => {
  it.each(READERS)('clears the timer once %s has read the body', async (name, read) => {
    const timer = new AttemptTimer(40, 'attempt_timeout', 40);
    const res = timer.cover(bodyFor(name));
    await read(res);
    await realDelay(80);
    expect(timer.fired).toBeUndefined();
    expect(timer.signal.aborted).toBe(false);
  });

  it('clears the timer at once for a response without a body', async () => {
    const timer = new AttemptTimer(40, 'attempt_timeout', 40);
    const res = timer.cover(new Response(null, { status: 204 }));
    expect(res.status).toBe(204);
    await realDelay(80);
    expect(timer.fired).toBeUndefined();
  });

  it('clears the timer when a reader fails, and the failure reaches the caller', async () => {
    const timer = new AttemptTimer(40, 'attempt_timeout', 40);
    const res = timer.cover(new Response('not json'));
    await expect(res.json()).rejects.toBeInstanceOf(SyntaxError);
    await realDelay(80);
    expect(timer.fired).toBeUndefined();
  });

  it('keeps the timer for a body read through its stream, and fires it there', async () => {
    const timer = new AttemptTimer(40, 'attempt_timeout', 40);
    // A body that never ends, tied to the timer's signal as fetch ties a response to its request's.
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('{"partial":'));
        timer.signal.addEventListener('abort', () => controller.error(timer.signal.reason));
      },
    });
    const res = timer.cover(new Response(stream));
    const reader = res.body!.getReader();
    await reader.read();
    const error = await reader.read().then(
      () => undefined,
      (reason: unknown) => reason,
    );
    expect(error).toBeInstanceOf(FetchTimeoutError);
    expect((error as FetchTimeoutError).code).toBe('attempt_timeout');
    expect(timer.fired).toBe(error);
  });

  it('reads the same value as the reader of Response.prototype', async () => {
    const timer = new AttemptTimer(1_000, 'attempt_timeout', 1_000);
    const res = timer.cover(bodyFor('json()'));
    expect(await res.json()).toEqual({ ok: true });
    expect(res.bodyUsed).toBe(true);
    await expect(res.text()).rejects.toBeInstanceOf(TypeError);
    timer.stop();
  });

  it("leaves a response of another class, or a frozen one, with its own readers", async () => {
    class Mine extends Response {
      override async text(): Promise<string> {
        return 'mine';
      }
    }
    const timer = new AttemptTimer(1_000, 'attempt_timeout', 1_000);
    const mine = timer.cover(new Mine('theirs'));
    expect(await mine.text()).toBe('mine');
    const frozen = timer.cover(Object.freeze(new Response('kept')));
    expect(await frozen.text()).toBe('kept');
    // Another fetch's response: not a Response at all, its reader is its own.
    const other = { status: 200, body: {}, text: async () => 'other' } as unknown as Response;
    expect(await timer.cover(other).text()).toBe('other');
    timer.stop();
  });

  it('leaves alone the responses of a Response installed later in place of the global one', async () => {
    const Original = globalThis.Response;
    class Polyfilled extends Original {
      override async text(): Promise<string> {
        return 'polyfilled';
      }
    }
    globalThis.Response = Polyfilled as typeof Response;
    try {
      const timer = new AttemptTimer(1_000, 'attempt_timeout', 1_000);
      expect(await timer.cover(new Polyfilled('original')).text()).toBe('polyfilled');
      timer.stop();
    } finally {
      globalThis.Response = Original;
    }
  });
});

