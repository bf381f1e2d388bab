import type { AddressInfo } from 'node:net';
import type { INestApplication } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNestApp } from '../../examples/nestjs/app.js';
import type { ErrorEvent } from '../../src/index.js';
import { describeDemoApi } from './messaging-suite.js';
import { runExample } from './spawn-example.js';

async function listen(app: INestApplication): Promise<string> {
  await app.listen(0, '127.0.0.1');
  return `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
}

describeDemoApi('NestJS (Express platform, bulwark/express in app.use(), a global exception filter)', async ({ service, allow }) => {
  const app = await createNestApp({ service, allow, onError: () => {}, logger: false });
  return { url: await listen(app), close: () => app.close() };
});

describe('the NestJS example', () => {
  let app: INestApplication;
  let url: string;
  const reported: ErrorEvent[] = [];

  beforeAll(async () => {
    app = await createNestApp({ onError: (event) => reported.push(event), logger: false });
    url = await listen(app);
  });

  afterAll(() => app?.close());

  it("answers an ApiError thrown in a controller with bulwark's body, not Nest's {statusCode, message}", async () => {
    const res = await fetch(`${url}/v1/messages`, {
      method: 'POST',
      headers: { authorization: 'Bearer demo_alice', 'content-type': 'application/json' },
      body: JSON.stringify({ from: 'SPAMCO', to: '+15550123', text: 'hi' }),
    });
    expect(res.status).toBe(422);
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    const body = await res.json();
    expect(body).toEqual({ message: expect.any(String), error: 'sender_not_approved' });
    expect(body).not.toHaveProperty('statusCode');
  });

  it("answers malformed JSON, which Nest wraps in a BadRequestException, with bulwark's 422 invalid_request", async () => {
    const res = await fetch(`${url}/v1/messages`, {
      method: 'POST',
      headers: { authorization: 'Bearer demo_alice', 'content-type': 'application/json' },
      body: '{"from": "BULWARK",',
    });
    expect(res.status).toBe(422);
    expect(await res.json()).toEqual({
      message: 'The request body could not be parsed (malformed JSON or form data).',
      error: 'invalid_request',
    });
  });

  it('sets the status the service chose (202 for a send) and sends its body as JSON', async () => {
    const res = await fetch(`${url}/v1/messages`, {
      method: 'POST',
      headers: { authorization: 'Bearer demo_alice', 'content-type': 'application/json' },
      body: JSON.stringify({ from: 'BULWARK', to: '+15550123', text: 'hi' }),
    });
    expect(res.status).toBe(202);
    expect(await res.json()).toMatchObject({ id: expect.stringMatching(/^msg_/), status: 'queued' });
  });

  it('answers GET on a POST-only route with 404 not_found in the documented body', async () => {
    const res = await fetch(`${url}/v1/lookups`, { headers: { authorization: 'Bearer demo_alice' } });
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ message: expect.any(String), error: 'not_found' });
  });

  it('reports no 5xx to onError for any of these client errors', () => {
    expect(reported).toEqual([]);
  });
});

describe('examples/nestjs/main.ts', () => {
  it('serves the demo API on NestJS when run with `npx tsx --tsconfig examples/nestjs/tsconfig.json`, and stops on SIGTERM', async () => {
    const server = await runExample('nestjs/main.ts', { tsconfig: 'nestjs/tsconfig.json', timeoutMs: 60_000 });
    try {
      const res = await fetch(`${server.url}/v1/messages/msg_x`);
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({ message: expect.any(String), error: 'unauthorized' });
    } finally {
      expect(await server.stop()).toBe(0);
    }
  }, 90_000);
});
