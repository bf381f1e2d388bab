import { concatBytes } from '../../src/guard/concat-bytes.js';
import type { HeaderPairs, ResponseSink } from '../../src/guard/types.js';

/**
 * Reads the whole response (string, bytes or stream body), hands it to `sink.complete`, and returns a
 * response with the same status, headers and body for the client (a stream, like any Web response
 * body). A body over `sink.maxBytes` is reported truncated once it grows past the bound, then streamed
 * through. An error while reading the body aborts the sink (the key is released) and is rethrown.
 * @internal
 */
export async function captureResponse(response: Response, sink: ResponseSink): Promise<Response> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  let truncated = false;
  try {
    if (response.body !== null) {
      reader = response.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        chunks.push(value);
        size += value.byteLength;
        if (size > sink.maxBytes) {
          truncated = true;
          break;
        }
      }
    }
  } catch (err) {
    await sink.abort(err);
    throw err;
  }
  let ended = !truncated;
  if (truncated) {
    // One more read tells a body that is already whole (sent with its length) from a long stream.
    try {
      const { done, value } = await reader!.read();
      if (done) ended = true;
      else chunks.push(value);
    } catch (err) {
      await sink.abort(err);
      throw err;
    }
  }
  const body = truncated ? new Uint8Array(0) : concatBytes(chunks, size);
  const extra = await sink.complete({ status: response.status, headers: headerPairs(response.headers), body, truncated });
  const headers = new Headers(response.headers);
  if (extra) for (const [name, value] of extra) headers.append(name, value);
  let out: BodyInit | null;
  if (response.body === null) out = null;
  else if (!ended) out = resume(chunks, reader!);
  else out = (truncated ? concatBytes(chunks, size) : body) as BodyInit;
  return new Response(out, { status: response.status, statusText: response.statusText, headers });
}

function resume(chunks: Uint8Array[], reader: ReadableStreamDefaultReader<Uint8Array>): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (i < chunks.length) {
        controller.enqueue(chunks[i++]!);
        return;
      }
      const { done, value } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}

function headerPairs(headers: Headers): HeaderPairs {
  const pairs: HeaderPairs = [];
  headers.forEach((value, name) => {
    if (name !== 'set-cookie') pairs.push([name, value]);
  });
  for (const cookie of headers.getSetCookie?.() ?? []) pairs.push(['set-cookie', cookie]);
  return pairs;
}
