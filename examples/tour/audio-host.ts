/**
 * An audio file host that the tour controls: a voice send whose `audio_url` points here stays in flight
 * until the tour releases the file. The tour holds it while it sends a duplicate with the same
 * Idempotency-Key, so the duplicate meets the first call in flight without guessing at timings.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A running audio host. */
export interface AudioHost {
  /** URL of the held audio file. */
  url: string;
  /** Resolves when the first request for the file arrives (the voice send is then in flight). */
  requested: Promise<void>;
  /** Answers the held requests, and every later one at once. */
  release(): void;
  /** Releases, then closes the host. */
  close(): Promise<void>;
}

/**
 * Starts the host on a free loopback port. The file is released by itself after `holdLimitMs`.
 *
 * @example
 * ```ts
 * const audio = await startAudioHost();
 * send({ type: 'voice', audio_url: audio.url });
 * await audio.requested;
 * audio.release();
 * await audio.close();
 * ```
 */
export async function startAudioHost(holdLimitMs = 5_000): Promise<AudioHost> {
  const held: Array<() => void> = [];
  let released = false;
  let arrived!: () => void;
  const requested = new Promise<void>((resolve) => {
    arrived = resolve;
  });
  const server = createServer((_req, res) => {
    const answer = () => {
      if (!res.writableEnded) res.writeHead(200, { 'content-type': 'audio/mpeg' }).end(Buffer.from([0xff, 0xfb, 0x90, 0x00]));
    };
    arrived();
    if (released) answer();
    else held.push(answer);
  });
  const release = () => {
    released = true;
    for (const answer of held.splice(0)) answer();
  };
  const limit = setTimeout(release, holdLimitMs);
  limit.unref();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/voice.mp3`,
    requested,
    release,
    close: () =>
      new Promise<void>((resolve) => {
        clearTimeout(limit);
        release();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
