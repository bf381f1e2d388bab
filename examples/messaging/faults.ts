/**
 * Fault injection for the demo's tour (Express): a route that fails on purpose, so that the tour can show
 * what bulwark's client does about 5xx answers (retries with backoff, a circuit breaker). Mounted only when
 * `createExpressApp({ faults: true })` asks for it; it sits behind the same guards as the API.
 *
 * - `GET|POST /v1/faults/flaky?id=<id>&fail=<n>`: the first `n` requests (0 to 20, default 2) carrying
 *   the same `id` answer 503 `service_unavailable`; later ones answer 200 `{ id, attempt }`, where
 *   `attempt` counts every request of that id that reached the server.
 * - `GET /v1/faults/slow?ms=<n>`: answers 200 `{ waited_ms }` after `n` ms (0 to 1500, default 1000). A
 *   voice send whose `audio_url` points here stays in flight that long, so that a duplicate sent meanwhile
 *   with the same Idempotency-Key meets it (409 `idempotency_conflict`): the demo's curl lines use it.
 */
import { type Request, type Response, Router } from 'express';
import { LRUCache } from 'lru-cache';
import { ApiError } from '../../src/index.js';

/** Path prefix of the fault routes (the demo's error hook stays quiet about their 503s). */
export const FAULTS_PATH = '/v1/faults/';

const ID = /^[A-Za-z0-9_-]{1,64}$/;
const MAX_FAIL = 20;
/** Below the 2 s the demo waits for an audio_url. */
const MAX_SLOW_MS = 1500;

/**
 * The fault route, with its own bounded attempt counters.
 *
 * @example
 * ```ts
 * app.use(faultRoutes());
 * // curl -i 'http://127.0.0.1:3000/v1/faults/flaky?id=x&fail=1'   -> 503, then 200
 * ```
 */
export function faultRoutes(): Router {
  // Attempts per id; at most 1000 ids are remembered (the least recently used is forgotten).
  const attempts = new LRUCache<string, number>({ max: 1000 });
  const router = Router();

  const flaky = (req: Request, res: Response) => {
    const id = String(req.query.id ?? '');
    if (!ID.test(id)) throw new ApiError('invalid_request', { message: 'id must be 1 to 64 letters, digits, "-" or "_".' });
    const fail = integer(req.query.fail, 2, MAX_FAIL, 'fail');
    const attempt = (attempts.get(id) ?? 0) + 1;
    attempts.set(id, attempt);
    if (attempt <= fail) {
      throw new ApiError('service_unavailable', {
        message: `Injected fault: request ${attempt} of the first ${fail} for this id fails.`,
      });
    }
    res.status(200).json({ id, attempt });
  };
  router.get('/v1/faults/flaky', flaky);
  router.post('/v1/faults/flaky', flaky);
  router.get('/v1/faults/slow', (req, res) => {
    const ms = integer(req.query.ms, 1000, MAX_SLOW_MS, 'ms');
    setTimeout(() => res.status(200).json({ waited_ms: ms }), ms).unref();
  });
  return router;
}

function integer(value: unknown, fallback: number, max: number, name: string): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (typeof value !== 'string' || !/^[0-9]{1,6}$/.test(value) || n > max) {
    throw new ApiError('invalid_request', { message: `${name} must be an integer from 0 to ${max}.` });
  }
  return n;
}
