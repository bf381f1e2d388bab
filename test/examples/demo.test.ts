import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createExpressApp } from '../../examples/messaging/express-app.js';
import { createFetchApp } from '../../examples/messaging/fetch-app.js';
import { createKoaApp } from '../../examples/messaging/koa-app.js';
import { CONDITIONS } from '../../examples/messaging/rules.js';
import { MessagingService } from '../../examples/messaging/service.js';

/** Each version of the demo API, served on a free port. */
const APPS: Record<string, (service: MessagingService) => Promise<http.Server>> = {
  express: (service) => listen(http.createServer(createExpressApp({ service, onError: () => {} }))),
  koa: (service) => listen(http.createServer(createKoaApp({ service, onError: () => {} }).callback())),
  fetch: (service) =>
    new Promise((resolve) => {
      const s = serve({ fetch: createFetchApp({ service, onError: () => {} }) as never, port: 0, hostname: '127.0.0.1' }, () =>
        resolve(s as http.Server),
      );
    }),
};

async function listen(server: http.Server): Promise<http.Server> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

let audioPort: number;

beforeAll(async () => {
  // A port that refuses connections: an audio_url that cannot be fetched.
  const probe = http.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  audioPort = (probe.address() as AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
});

let base: string;

function call(method: string, path: string, token: string | undefined, body?: unknown, raw?: string) {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined || raw !== undefined) headers['content-type'] = 'application/json';
  return fetch(`${base}${path}`, { method, headers, body: raw ?? (body === undefined ? undefined : JSON.stringify(body)) });
}

const sms = { from: 'BULWARK', to: '+15550123', text: 'hello' };

/** One request per documented code, as the README's table of conditions describes. */
const cases: Record<string, () => Promise<Response>> = {
  unauthorized: () => call('POST', '/v1/messages', undefined, sms),
  forbidden: () => call('POST', '/v1/messages', 'demo_readonly', sms),
  insufficient_balance: () => call('POST', '/v1/messages', 'demo_broke', sms),
  traffic_not_routable: () => call('POST', '/v1/messages', 'demo_alice', { ...sms, traffic_type: 'marketing' }),
  sender_not_approved: () => call('POST', '/v1/messages', 'demo_alice', { ...sms, from: 'SPAMCO' }),
  no_valid_recipients: () => call('POST', '/v1/messages', 'demo_alice', { ...sms, to: ['12', 'abc'] }),
  invalid_recipient: () => call('POST', '/v1/messages', 'demo_alice', { ...sms, to: '555-0123' }),
  no_valid_numbers: () => call('POST', '/v1/lookups', 'demo_alice', { numbers: ['1', 'x'] }),
  invalid_request: () => call('POST', '/v1/messages', 'demo_alice', undefined, '{"from": "BULWARK",'),
  audio_error: () =>
    call('POST', '/v1/messages', 'demo_alice', { ...sms, type: 'voice', audio_url: `http://127.0.0.1:${audioPort}/a.mp3` }),
  not_found: () => call('GET', '/v1/messages/msg_nope', 'demo_alice'),
};

describe.each(Object.keys(APPS))('the demo messaging API on %s', (name) => {
  let server: http.Server;

  beforeAll(async () => {
    server = await APPS[name]!(new MessagingService());
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it.each(Object.keys(cases))('answers %s on its documented condition', async (code) => {
    const res = await cases[code]!();
    const body = await res.json();
    const documented = CONDITIONS.find((c) => c.code === code)!;
    expect(res.status).toBe(documented.status);
    expect(body.error).toBe(code);
    expect(typeof body.message).toBe('string');
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    if (code === 'traffic_not_routable') expect(body.traffic_type).toBe('marketing');
  });

  it('sends, then shows the message only to its own account', async () => {
    const sent = await call('POST', '/v1/messages', 'demo_alice', sms);
    expect(sent.status).toBe(202);
    const { id } = await sent.json();
    expect((await call('GET', `/v1/messages/${id}`, 'demo_alice')).status).toBe(200);
    const other = await call('GET', `/v1/messages/${id}`, 'demo_bob');
    expect(other.status).toBe(404);
    expect((await other.json()).error).toBe('not_found');
  });

  it('says audio_error for voice text it cannot synthesise', async () => {
    const res = await call('POST', '/v1/messages', 'demo_alice', { ...sms, type: 'voice', text: 'x'.repeat(501) });
    expect(res.status).toBe(422);
    expect((await res.json()).error).toBe('audio_error');
  });
});
