/**
 * The default scope as an attacker sees it: on a cookie-session API, Bob reuses Alice's Idempotency-Key
 * (same method, path and body) and must never receive Alice's stored response; the same for two bearer
 * tokens and two API keys. Through every adapter, with the default options.
 */
import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/stores/memory/index.js';
import { type RunningServer, send, startServer, VARIANTS } from '../support/matrix.js';

const SECRET = /alice-secret/;

describe('default scope: callers with different credentials never receive each other\'s stored bytes', () => {
  for (const variant of VARIANTS) {
    it(`${variant}: Cookie, Authorization and X-API-Key each separate callers; the same credentials replay`, async () => {
      let runs = 0;
      const app: RunningServer = await startServer(variant, {
        errors: { onError: () => {} },
        guards: [{ kind: 'idempotency', options: { store: new MemoryStore() } }],
        routes: [
          {
            method: 'POST',
            path: '/v1/transfers',
            handler: (req) => {
              runs++;
              const who = `${req.header('cookie') ?? ''}|${req.header('authorization') ?? ''}|${req.header('x-api-key') ?? ''}`;
              return { status: 201, json: { n: runs, owner: who.includes('alice') ? 'alice-secret' : 'someone-else' } };
            },
          },
        ],
      });
      try {
        const body = '{"amount":100}';
        const request = (key: string, headers: Record<string, string>) =>
          send(app.url, { method: 'POST', path: '/v1/transfers', headers: { 'content-type': 'application/json', 'idempotency-key': key, ...headers }, body });
        for (const [key, alice, bob] of [
          ['k-cookie', { cookie: 'sid=alice-session' }, { cookie: 'sid=bob-session' }],
          ['k-bearer', { authorization: 'Bearer alice-token' }, { authorization: 'Bearer bob-token' }],
          ['k-apikey', { 'x-api-key': 'alice-key' }, { 'x-api-key': 'bob-key' }],
          ['k-mixed', { authorization: 'Basic c3RhZ2luZw==', cookie: 'sid=alice' }, { authorization: 'Basic c3RhZ2luZw==', cookie: 'sid=bob' }],
        ] as const) {
          const first = await request(key, alice);
          expect(first.status).toBe(201);
          expect(first.body).toMatch(SECRET);
          const other = await request(key, bob);
          expect(other.headers['idempotent-replayed']).toBeUndefined();
          expect(other.body).not.toMatch(SECRET);
          const again = await request(key, alice);
          expect(again.headers['idempotent-replayed']).toBe('true');
          expect(again.body).toBe(first.body);
        }
        expect(runs).toBe(8);
      } finally {
        await app.close();
      }
    });
  }
});
