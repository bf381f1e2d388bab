/**
 * A request whose client left before its body was read (the stream destroyed, never ended) is an aborted
 * request, answered 422 `invalid_request`, with no BULWARK_BODY_ALREADY_READ warning: that warning is for a
 * body another middleware read without leaving it parsed (the stream ended), which still gets it.
 */
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { readNodeBody } from '../../src/guard/read-node-body.js';

function request(): PassThrough & { headers: Record<string, string> } {
  return Object.assign(new PassThrough(), { headers: { 'content-type': 'application/json' } });
}

afterEach(() => vi.restoreAllMocks());

describe('readNodeBody on a stream that is gone', () => {
  it('a destroyed, unended stream (the client left) is a 422 and warns about nothing', () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    const stream = request();
    stream.destroy();
    let thrown: unknown;
    try {
      readNodeBody(stream as never, 1024);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toMatchObject({ code: 'invalid_request', status: 422 });
    expect(warn).not.toHaveBeenCalled();
  });

  it('an ended stream (another middleware read it) still warns once and is refused', async () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    const stream = request();
    stream.end('{"a":1}');
    stream.resume();
    await new Promise((resolve) => stream.once('end', resolve));
    expect(() => readNodeBody(stream as never, 1024)).toThrow(TypeError);
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('read before idempotency()'), { code: 'BULWARK_BODY_ALREADY_READ' });
  });
});
