/**
 * A path parameter Express cannot decode (`/v1/messages/%E0%A4%A`) makes its router throw a 400 URIError whose
 * message repeats the parameter. Through bulwark's errorHandler it is a 400 `bad_request` with bulwark's own
 * message, on Express 4 and 5, over a real socket: the path is never repeated to the client.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express5 from 'express';
import express4 from 'express4';
import { afterEach, describe, expect, it } from 'vitest';
import { errorHandler } from '../../adapters/express.js';

let server: http.Server | undefined;
afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

function rawGet(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe.each([
  ['Express 5', express5 as unknown as typeof express5],
  ['Express 4', express4 as unknown as typeof express5],
])('%s: an undecodable path parameter', (_name, express) => {
  it('answers 400 bad_request with a message that does not repeat the parameter', async () => {
    const app = express();
    app.get('/v1/messages/:id', (req, res) => {
      res.json({ id: req.params.id });
    });
    app.use(errorHandler({ onError: () => {} }));
    server = await new Promise<http.Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    const { port } = server.address() as AddressInfo;
    const answer = await rawGet(port, '/v1/messages/%E0%A4%A');
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.body)).toEqual({ message: 'The request path holds a malformed percent-encoding.', error: 'bad_request' });
    expect(answer.body).not.toContain('%E0');
    // A parameter that decodes is answered as usual.
    expect((await rawGet(port, '/v1/messages/msg_1')).status).toBe(200);
  });
});
