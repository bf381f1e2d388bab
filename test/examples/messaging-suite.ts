/**
 * The documented behaviour of the demo messaging API, as one suite that each framework's version runs
 * over a real socket (test/examples/fastify-server.test.ts, hono-server.test.ts): every documented code
 * in the documented body, the allowlist, 429 with Retry-After, idempotent replay and 409.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONDITIONS } from '../../examples/messaging/rules.js';
import { type Caller, MessagingService, type Reply } from '../../examples/messaging/service.js';

/** A demo API listening on 127.0.0.1. */
export interface Served {
  url: string;
  close(): Promise<void>;
}

/** Starts one version of the demo API on a free port, with this service (and allowlist, if given). */
export type StartDemo = (options: { service: MessagingService; allow?: string[] }) => Promise<Served>;

/** A service whose sends wait, once `hold()` was called, until `release()`: a send stays in flight. */
export class HeldService extends MessagingService {
  #gate: Promise<void> | undefined;
  #open: (() => void) | undefined;
  #entered: (() => void) | undefined;

  /** Holds the next sends; resolves once one of them is in the handler. */
  hold(): Promise<void> {
    this.#gate = new Promise((resolve) => {
      this.#open = resolve;
    });
    return new Promise((resolve) => {
      this.#entered = resolve;
    });
  }

  release(): void {
    this.#open?.();
    this.#gate = undefined;
  }

  override async send(caller: Caller, body: unknown): Promise<Reply> {
    if (this.#gate) {
      this.#entered?.();
      await this.#gate;
    }
    return super.send(caller, body);
  }
}

const SMS = { from: 'BULWARK', to: '+15550123', text: 'hello' };
const TEN = Array.from({ length: 10 }, (_, i) => `+1555010${String(i).padStart(4, '0')}`);

/** Requests against one base URL. */
function caller(base: () => string) {
  return (method: string, path: string, token?: string, body?: unknown, extra: Record<string, string> = {}) => {
    const headers: Record<string, string> = { ...extra };
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    return fetch(`${base()}${path}`, { method, headers, body: typeof body === 'string' ? body : body === undefined ? undefined : JSON.stringify(body) });
  };
}

/** Runs the suite against the version of the demo that `start` serves. */
export function describeDemoApi(name: string, start: StartDemo): void {
  describe(`the demo messaging API on ${name}`, () => {
    let audioPort: number;
    let api: Served;
    const call = caller(() => api.url);

    beforeAll(async () => {
      // A port that refuses connections: an audio_url that cannot be fetched.
      const probe = http.createServer();
      await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
      audioPort = (probe.address() as AddressInfo).port;
      await new Promise((resolve) => probe.close(resolve));
      api = await start({ service: new MessagingService() });
    });

    afterAll(() => api?.close());

    /** One request per documented code of the demo's table that a single request triggers. */
    const cases: Record<string, () => Promise<Response>> = {
      unauthorized: () => call('POST', '/v1/messages', undefined, SMS),
      forbidden: () => call('POST', '/v1/messages', 'demo_readonly', SMS),
      insufficient_balance: () => call('POST', '/v1/messages', 'demo_broke', SMS),
      traffic_not_routable: () => call('POST', '/v1/messages', 'demo_alice', { ...SMS, traffic_type: 'marketing' }),
      sender_not_approved: () => call('POST', '/v1/messages', 'demo_alice', { ...SMS, from: 'SPAMCO' }),
      no_valid_recipients: () => call('POST', '/v1/messages', 'demo_alice', { ...SMS, to: ['12', 'abc'] }),
      invalid_recipient: () => call('POST', '/v1/messages', 'demo_alice', { ...SMS, to: '555-0123' }),
      no_valid_numbers: () => call('POST', '/v1/lookups', 'demo_alice', { numbers: ['1', 'x'] }),
      invalid_request: () => call('POST', '/v1/messages', 'demo_alice', '{"from": "BULWARK",'),
      audio_error: () => call('POST', '/v1/messages', 'demo_alice', { ...SMS, type: 'voice', audio_url: `http://127.0.0.1:${audioPort}/a.mp3` }),
      not_found: () => call('GET', '/v1/messages/msg_nope', 'demo_alice'),
    };

    it('covers every documented code: one request each here, the guards below', () => {
      const covered = [...Object.keys(cases), 'spend_limit_exceeded', 'ip_not_allowed', 'throttled', 'idempotency_conflict'];
      expect(covered.sort()).toEqual(CONDITIONS.map((c) => c.code).sort());
    });

    it.each(Object.keys(cases))('answers %s with its documented status in the documented body', async (code) => {
      const res = await cases[code]!();
      const documented = CONDITIONS.find((c) => c.code === code)!;
      expect(res.status).toBe(documented.status);
      expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
      const body = await res.json();
      expect(body.error).toBe(code);
      expect(typeof body.message).toBe('string');
      expect(body.message.length).toBeGreaterThan(0);
      if (code === 'traffic_not_routable') expect(body.traffic_type).toBe('marketing');
    });

    it('answers an unknown route with 404 not_found in the documented body, not the framework default', async () => {
      const res = await call('GET', '/v1/nothing-here', 'demo_alice');
      expect(res.status).toBe(404);
      expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
      expect(await res.json()).toEqual({ message: expect.any(String), error: 'not_found' });
    });

    it('answers 400 bad_request to a path with a malformed percent-encoding, without repeating the path', async () => {
      const res = await call('GET', '/v1/messages/%E0%A4%A', 'demo_alice');
      expect(res.status).toBe(400);
      const text = await res.text();
      expect(JSON.parse(text).error).toBe('bad_request');
      expect(text).not.toContain('%E0');
    });

    it('answers 413 payload_too_large to a body over 16 KB', async () => {
      const res = await call('POST', '/v1/messages', 'demo_alice', { ...SMS, text: 'x'.repeat(20_000) });
      expect(res.status).toBe(413);
      expect((await res.json()).error).toBe('payload_too_large');
    });

    it('sends, then shows the message to its own account only', async () => {
      const sent = await call('POST', '/v1/messages', 'demo_alice', SMS);
      expect(sent.status).toBe(202);
      const { id } = await sent.json();
      expect((await call('GET', `/v1/messages/${id}`, 'demo_alice')).status).toBe(200);
      const other = await call('GET', `/v1/messages/${id}`, 'demo_bob');
      expect(other.status).toBe(404);
      expect((await other.json()).error).toBe('not_found');
    });

    it('answers spend_limit_exceeded with period "daily" once a send would pass the cap, and charges nothing for it', async () => {
      const service = new MessagingService();
      const capped = await start({ service });
      const post = caller(() => capped.url);
      try {
        expect((await post('POST', '/v1/messages', 'demo_bob', { ...SMS, to: TEN })).status).toBe(202);
        expect((await post('POST', '/v1/messages', 'demo_bob', { ...SMS, to: TEN })).status).toBe(202);
        const refused = await post('POST', '/v1/messages', 'demo_bob', { ...SMS, to: TEN });
        expect(refused.status).toBe(403);
        expect(await refused.json()).toMatchObject({ error: 'spend_limit_exceeded', period: 'daily' });
        expect(service.sends).toBe(2);
      } finally {
        await capped.close();
      }
    });

    it('answers 403 ip_not_allowed from an instance whose allowlist leaves out the client, without naming the list', async () => {
      const guarded = await start({ service: new MessagingService(), allow: ['192.0.2.0/24'] });
      try {
        const res = await fetch(`${guarded.url}/v1/messages/x`, { headers: { authorization: 'Bearer demo_alice' } });
        expect(res.status).toBe(403);
        const text = await res.text();
        expect(JSON.parse(text).error).toBe('ip_not_allowed');
        expect(text).not.toContain('192.0.2');
        expect(text).not.toContain('127.0.0.1');
      } finally {
        await guarded.close();
      }
    });

    it('answers 429 throttled with Retry-After past the burst of 20, and admits a retry after that many seconds', async () => {
      const fresh = await start({ service: new MessagingService() });
      const statuses: number[] = [];
      let throttled: Response | undefined;
      const get = () => fetch(`${fresh.url}/v1/messages/msg_x`, { headers: { authorization: 'Bearer demo_alice' } });
      try {
        for (let i = 0; i < 25 && !throttled; i++) {
          const res = await get();
          statuses.push(res.status);
          if (res.status === 429) throttled = res;
          else await res.body?.cancel();
        }
        expect(throttled, `statuses: ${statuses.join(',')}`).toBeDefined();
        // The burst of 20 passes (each a 404 of an unknown id), the 21st is refused.
        expect(statuses.filter((s) => s === 404).length).toBeGreaterThanOrEqual(20);
        expect((await throttled!.json()).error).toBe('throttled');
        const retryAfter = Number(throttled!.headers.get('retry-after'));
        expect(retryAfter).toBeGreaterThanOrEqual(1);
        expect(throttled!.headers.get('ratelimit-policy')).toBeTruthy();
        await new Promise((resolve) => setTimeout(resolve, retryAfter * 1000));
        const again = await get();
        expect(again.status).toBe(404);
      } finally {
        await fresh.close();
      }
    });

    it('runs a send once per Idempotency-Key: 409 with Retry-After while it runs, then a byte-identical replay', async () => {
      const service = new HeldService();
      const held = await start({ service });
      const post = (body: unknown = SMS) =>
        fetch(`${held.url}/v1/messages`, {
          method: 'POST',
          headers: { authorization: 'Bearer demo_alice', 'content-type': 'application/json', 'idempotency-key': 'suite-key-1' },
          body: JSON.stringify(body),
        });
      try {
        const inFlight = service.hold();
        const first = post();
        await inFlight;
        const duplicate = await post();
        expect(duplicate.status).toBe(409);
        expect(duplicate.headers.get('retry-after')).toBe('1');
        expect(await duplicate.json()).toEqual({ message: expect.any(String), error: 'idempotency_conflict' });
        service.release();
        const original = await first;
        expect(original.status).toBe(202);
        const originalText = await original.text();
        const replay = await post();
        expect(replay.status).toBe(202);
        expect(replay.headers.get('idempotent-replayed')).toBe('true');
        expect(await replay.text()).toBe(originalText);
        const mismatch = await post({ ...SMS, text: 'another text' });
        expect(mismatch.status).toBe(422);
        expect((await mismatch.json()).error).toBe('idempotency_key_mismatch');
        expect(service.sends).toBe(1);
      } finally {
        service.release();
        await held.close();
      }
    });
  });
}
