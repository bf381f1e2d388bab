import { concatBytes } from '../../src/guard/concat-bytes.js';
import type { CapturedResponse, HeaderPairs, ResponseSink } from '../../src/guard/types.js';

/**
 * Reads the whole response (string, bytes or stream body), hands it to `sink.complete`, and returns a
 * response with the same status, reason phrase, headers and body for the client (a stream, like any Web
 * response body). An error while reading the body aborts the sink (the key is released) and is rethrown.
 *
 * - Each chunk read is copied (the body's source may reuse its buffer once it enqueued it).
 * - A body over `sink.maxBytes` is streamed through once it grows past the bound; its not-replayable
 *   completion is recorded once the body has ended, before the stream given to the client closes, and a
 *   body that fails or a client that cancels first releases the key.
 * - A reason phrase of the application's own is kept: any non-empty `statusText` (a Web response has none
 *   unless someone gave it one), so that a replay carries the same.
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
        chunks.push(value.slice());
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
      else chunks.push(value.slice());
    } catch (err) {
      await sink.abort(err);
      throw err;
    }
  }
  const statusText = response.statusText;
  const captured = (body: Uint8Array): CapturedResponse => ({
    status: response.status,
    ...(statusText ? { statusText } : {}),
    headers: headerPairs(response.headers),
    body,
    truncated,
  });
  const headers = new Headers(response.headers);
  const init = { status: response.status, statusText, headers };
  if (!ended) {
    // The body goes on: it is recorded once it has ended (the stream closes after that), never before.
    return new Response(resume(chunks, reader!, sink, () => captured(EMPTY)), init);
  }
  const body = truncated ? EMPTY : concatBytes(chunks, size);
  const extra = await sink.complete(captured(body));
  if (extra) for (const [name, value] of extra) headers.append(name, value);
  let out: BodyInit | null;
  if (response.body === null) out = null;
  else out = (truncated ? concatBytes(chunks, size) : body) as BodyInit;
  return new Response(out, init);
}

const EMPTY = new Uint8Array(0);

/**
 * The chunks read so far, then the rest of the body. At its end the completion is recorded before the
 * stream closes; a read that fails, or a consumer that cancels, releases the key.
 */
function resume(
  chunks: Uint8Array[],
  reader: ReadableStreamDefaultReader<Uint8Array>,
  sink: ResponseSink,
  captured: () => CapturedResponse,
): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (i < chunks.length) {
        controller.enqueue(chunks[i]!);
        chunks[i++] = EMPTY;
        return;
      }
      let read: ReadableStreamReadResult<Uint8Array>;
      try {
        read = await reader.read();
      } catch (err) {
        await sink.abort(err);
        controller.error(err);
        return;
      }
      if (!read.done) {
        controller.enqueue(read.value.slice());
        return;
      }
      await sink.complete(captured());
      controller.close();
    },
    async cancel(reason) {
      await sink.abort(reason ?? new Error('the response body was cancelled'));
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
