/**
 * A strict HTTP/1.1 client over a raw `net` socket: sends requests on one connection and splits what
 * comes back into responses by their framing (Content-Length, chunked, or up to the close), so that a
 * test sees surplus bytes, short bodies and broken connections exactly as a keep-alive client would.
 */
import net from 'node:net';

/** One parsed response. */
export interface RawResponse {
  status: number;
  reason: string;
  /** Header lines in order, names lower-cased. */
  headers: Array<[string, string]>;
  body: Buffer;
  /** How the body was framed. */
  framing: 'length' | 'chunked' | 'close' | 'none';
}

/** What came back on one connection. */
export interface Exchange {
  responses: RawResponse[];
  /** Bytes after the last whole response that do not begin one (none when the framing held). */
  surplus: Buffer;
  /** The connection ended in the middle of a response (or was reset). */
  broken: boolean;
}

/** A raw request: method, path, headers and body (the Content-Length is added). */
export interface RawRequest {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

export function requestBytes(request: RawRequest, close: boolean): Buffer {
  const body = Buffer.from(request.body ?? '');
  const lines = [`${request.method} ${request.path} HTTP/1.1`, 'host: 127.0.0.1'];
  for (const [name, value] of Object.entries(request.headers ?? {})) lines.push(`${name}: ${value}`);
  lines.push(`content-length: ${body.byteLength}`);
  if (close) lines.push('connection: close');
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`), body]);
}

/**
 * Sends `requests` one after another on one connection (each once the previous response is whole, the
 * last with `Connection: close`) and gives what came back. Resolves when the server closes the
 * connection, or after `timeoutMs` of silence.
 */
export function exchange(port: number, requests: RawRequest[], timeoutMs = 2_000): Promise<Exchange> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let received = Buffer.alloc(0);
    let sent = 0;
    let broken = false;
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      socket.destroy();
      const parsed = parse(received, requests.map((r) => r.method), true);
      // A partial response at the end is a cut one, not surplus.
      resolve({ responses: parsed.responses, surplus: parsed.partial ? Buffer.alloc(0) : parsed.rest, broken: broken || parsed.partial });
    };
    let timer = setTimeout(finish, timeoutMs);
    const sendNext = () => {
      const request = requests[sent]!;
      sent++;
      socket.write(requestBytes(request, sent === requests.length));
    };
    socket.on('connect', sendNext);
    socket.on('data', (data) => {
      received = Buffer.concat([received, data]);
      clearTimeout(timer);
      timer = setTimeout(finish, timeoutMs);
      if (sent < requests.length && parse(received, requests.map((r) => r.method), false).responses.length >= sent) sendNext();
    });
    socket.on('error', () => {
      broken = true;
      finish();
    });
    socket.on('close', finish);
  });
}

/** Splits `bytes` into responses; `atEnd`: the connection closed after them. */
export function parse(bytes: Buffer, methods: string[], atEnd: boolean): { responses: RawResponse[]; rest: Buffer; partial: boolean } {
  const responses: RawResponse[] = [];
  let at = 0;
  while (at < bytes.length) {
    const headEnd = bytes.indexOf('\r\n\r\n', at);
    if (headEnd < 0) return { responses, rest: bytes.subarray(at), partial: true };
    const lines = bytes.subarray(at, headEnd).toString('latin1').split('\r\n');
    const match = /^HTTP\/1\.1 (\d{3}) ?(.*)$/.exec(lines[0] ?? '');
    if (!match) return { responses, rest: bytes.subarray(at), partial: false };
    const status = Number(match[1]);
    const headers: Array<[string, string]> = lines.slice(1).map((line) => {
      const colon = line.indexOf(':');
      return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()];
    });
    const header = (name: string) => headers.find(([n]) => n === name)?.[1];
    let pos = headEnd + 4;
    const method = methods[responses.length] ?? 'GET';
    let body: Buffer;
    let framing: RawResponse['framing'];
    if (method === 'HEAD' || status === 204 || status === 304 || status < 200) {
      body = Buffer.alloc(0);
      framing = 'none';
    } else if (header('transfer-encoding')?.toLowerCase() === 'chunked') {
      const parts: Buffer[] = [];
      for (;;) {
        const lineEnd = bytes.indexOf('\r\n', pos);
        if (lineEnd < 0) return { responses, rest: bytes.subarray(at), partial: true };
        const length = Number.parseInt(bytes.subarray(pos, lineEnd).toString('latin1'), 16);
        if (!Number.isFinite(length)) return { responses, rest: bytes.subarray(at), partial: true };
        if (lineEnd + 2 + length + 2 > bytes.length) return { responses, rest: bytes.subarray(at), partial: true };
        parts.push(bytes.subarray(lineEnd + 2, lineEnd + 2 + length));
        pos = lineEnd + 2 + length + 2;
        if (length === 0) break;
      }
      body = Buffer.concat(parts);
      framing = 'chunked';
    } else if (header('content-length') !== undefined) {
      const length = Number(header('content-length'));
      if (pos + length > bytes.length) return { responses, rest: bytes.subarray(at), partial: true };
      body = bytes.subarray(pos, pos + length);
      pos += length;
      framing = 'length';
    } else {
      if (!atEnd) return { responses, rest: bytes.subarray(at), partial: true };
      body = bytes.subarray(pos);
      pos = bytes.length;
      framing = 'close';
    }
    responses.push({ status, reason: match[2] ?? '', headers, body: Buffer.from(body), framing });
    at = pos;
  }
  return { responses, rest: Buffer.alloc(0), partial: false };
}
