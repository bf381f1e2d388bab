/**
 * Pacing: the client remembers what an origin's rate-limit headers said (per policy name) and holds back,
 * or refuses at once, the calls that the origin has already said it would refuse, instead of sending them
 * to collect a 429.
 *
 * What is read, from every response:
 * - `RateLimit` and `RateLimit-Policy` as IETF draft-10/-11 structured fields (bulwark's own server sends
 *   `RateLimit-Policy: "10-in-1s";q=10;w=1` and `RateLimit: "10-in-1s";r=9;t=1`), one bucket per policy name;
 * - draft-7 (`RateLimit: limit=10, remaining=9, reset=1`) and the legacy `X-RateLimit-Remaining`,
 *   `X-RateLimit-Limit`, `X-RateLimit-Reset` (Unix seconds or milliseconds, or seconds from now when small), one bucket each;
 * - `Retry-After` on a 429 or a 503: the units of the policies the response named are zero until then; a
 *   response with `Retry-After` and no rate-limit header blocks its route (a bucket of its own) until then.
 *
 * How a call is paced: each bucket holds the units the origin said were left, less the calls released
 * since the response that said so. A call takes one unit of every bucket that applies to it, or waits:
 * when a spent bucket's time (`t`, `reset`, `Retry-After`) comes, one call is let through, and then one
 * more per `w / q` (the policy's average spacing) until an answer says how many units are really there.
 * Which buckets apply: those the last response of the call's route (method and path) carried; for a
 * route not seen yet, those that every rate-limited route seen on the origin carried (one limiter in
 * front of the whole API, the common case; a route answered without any rate-limit header, such as a
 * health check the limiter skips, has no say). A route whose last answer carried no rate-limit header is
 * not paced. A spent bucket never waits less than its policy's spacing (draft-11 rounds `t` down, so it
 * says `t=0` when the next unit comes within the second), and no wait, spacing included, is read as
 * longer than an hour. A redirected response teaches nothing: its headers are another server's.
 *
 * The queue of waiting calls costs time linear in its length: each bucket counts the calls waiting for
 * it, a call that leaves the queue is only marked (the queue is compacted once half of it is gone), and a
 * look at the queue stops once every bucket it waits for is known to be spent.
 *
 * Memory is bounded: at most `maxOrigins` origins (least recently used dropped), {@link MAX_ROUTES} routes
 * and {@link MAX_BUCKETS} buckets per origin. An origin that never sent a rate-limit header costs nothing.
 */
import { parseRetryAfter } from './retry-after.js';

/** Options of pacing (`createFetch({ pace })`). */
export interface PaceOptions {
  /**
   * Longest a call waits for its turn. A call whose turn is estimated to come later, or that is still
   * waiting when this time has passed, fails at once with `ApiError` `throttled` (a retry that would
   * wait that long is not made: the call ends with the response it has). The deadline of the call
   * (`deadlineMs`) bounds the wait too.
   * @default 60000
   * @example { pace: { maxWaitMs: 2_000 } }
   */
  maxWaitMs?: number;
  /**
   * Most origins whose rate-limit state is kept; the least recently used is forgotten first.
   * @default 1000
   * @example { pace: { maxOrigins: 100 } }
   */
  maxOrigins?: number;
}

/** Routes remembered per origin (least recently used forgotten first). */
export const MAX_ROUTES = 256;
/** Buckets (policies) kept per origin; members of a header past this many are ignored. */
export const MAX_BUCKETS = 16;
/** Longest header value parsed; a longer one is ignored. */
const MAX_HEADER_LENGTH = 2048;
/** Longest route key kept (method and path); longer paths share the key of their first characters. */
const MAX_ROUTE_LENGTH = 512;

/** What one response said about one bucket. */
export interface Observation {
  key: string;
  /** Units left. */
  remaining: number;
  /** Milliseconds until more units come, when said. */
  untilMs: number | undefined;
  quota: number | undefined;
  windowMs: number | undefined;
}

/** The state of one policy of one origin. */
class Bucket {
  /** Units left, as estimated. */
  remaining = 0;
  /** When more units come (ms since the epoch), 0 when unknown. */
  refillAt = 0;
  /** Spacing of the units let through after `refillAt`, until an answer says more. */
  intervalMs = 1000;
  quota: number | undefined;
  /** Sequence number of the call whose answer was last applied. */
  seq = -1;
  /** Routes whose last answer carried this bucket. */
  routes = 0;
  /** Calls in the queue that wait for this bucket. */
  waiting = 0;
  /** Whether the units now are those let through one per spacing after a wait (no answer has said more since). */
  dribbling = false;
  dead = false;

  constructor(readonly key: string) {}

  /** Moves a spent bucket past its refill time: one unit at `refillAt`, then one per `intervalMs`. */
  refill(now: number): void {
    if (this.remaining > 0 || this.refillAt === 0 || now < this.refillAt) return;
    const units = 1 + Math.floor((now - this.refillAt) / this.intervalMs);
    this.remaining = this.quota === undefined ? units : Math.min(units, this.quota);
    this.refillAt += units * this.intervalMs;
    this.dribbling = true;
  }

  available(now: number): boolean {
    if (this.dead) return true;
    this.refill(now);
    return this.remaining > 0;
  }

  take(now: number): void {
    if (this.dead) return;
    this.remaining -= 1;
    if (this.remaining <= 0 && this.refillAt <= now) this.refillAt = now + this.intervalMs;
  }

  /** When this spent bucket next lets a call through. */
  nextAt(now: number): number {
    if (this.dead || this.remaining > 0) return now;
    return this.refillAt === 0 ? now + this.intervalMs : this.refillAt;
  }

  /** Units there would be at `at` (not before now), without changing the bucket. */
  unitsAt(at: number): number {
    if (this.dead) return Number.POSITIVE_INFINITY;
    if (this.remaining > 0 || this.refillAt === 0 || at < this.refillAt) return Math.max(0, this.remaining);
    const units = 1 + Math.floor((at - this.refillAt) / this.intervalMs);
    return this.quota === undefined ? units : Math.min(units, this.quota);
  }

  /**
   * Applies an answer: its units less the calls still in flight (the origin may count them after it,
   * whenever they were sent: requests overtake each other on parallel connections).
   */
  apply(observation: Observation, seq: number, inFlight: number, now: number): void {
    if (seq < this.seq) {
      // An answer older than the one applied: the origin may have counted it after the newer one, so
      // its bound holds too, and the lower one wins.
      this.remaining = Math.min(this.remaining, Math.max(0, observation.remaining - inFlight));
      if (this.remaining <= 0 && this.refillAt <= now) this.refillAt = now + this.intervalMs;
      return;
    }
    this.seq = seq;
    const { quota, windowMs, untilMs } = observation;
    if (quota !== undefined && quota > 0) {
      this.quota = quota;
      // The spacing is a wait too: never more than an hour, however long the policy's window.
      if (windowMs !== undefined && windowMs > 0) this.intervalMs = Math.min(MAX_SECONDS * 1000, Math.max(1, windowMs / quota));
    }
    if (observation.remaining > 0) this.dribbling = false;
    this.remaining = Math.max(0, observation.remaining - inFlight);
    if (untilMs === undefined) this.refillAt = this.remaining <= 0 ? now + this.intervalMs : 0;
    else if (this.remaining > 0) this.refillAt = now + untilMs;
    else if (untilMs > 0 || observation.remaining > 0) this.refillAt = now + Math.max(untilMs, this.intervalMs);
    else if (this.dribbling) {
      // Spent again while units come one per spacing: the spacing goes on.
      this.refillAt = Math.max(this.refillAt, now + this.intervalMs);
    } else {
      // `r=0;t=0`: draft-11 rounds `t` down, so the next unit comes within the second, not now; the
      // whole second is waited (a sliding window frees units only as its previous window fades), never
      // less than the policy's spacing.
      this.refillAt = now + Math.max(1000, this.intervalMs);
    }
  }
}

/** A call waiting for its turn. */
interface Waiter {
  buckets: Bucket[];
  resolve(seq: number): void;
  reject(error: unknown): void;
  done: boolean;
}

/** The state kept for one origin. */
class OriginPace {
  readonly buckets = new Map<string, Bucket>();
  /** Route key to the buckets its last answer carried, least recently used first. */
  readonly routes = new Map<string, Bucket[]>();
  /** The route set last (the last key of `routes`), whose recency needs no update. */
  newestRoute: string | undefined;
  /** Routes whose last answer carried at least one bucket. */
  limitedRoutes = 0;
  /** Sequence numbers of the calls released to this origin whose answer has not come. */
  readonly inFlight = new Set<number>();
  /**
   * Waiting calls in order, from `head`; a call that left is only marked `done` (and skipped), and the
   * array is compacted once most of it is done, so that joining and leaving cost constant time.
   */
  queue: Waiter[] = [];
  head = 0;
  /** Calls in the queue not done. */
  waiting = 0;
  /** Buckets some waiting call waits for (at most {@link MAX_BUCKETS}, and the dead ones still waited on). */
  readonly waited = new Set<Bucket>();
  timer: NodeJS.Timeout | undefined;
  timerAt = 0;

  /** The buckets that apply to a call of `route`. */
  applicable(route: string): Bucket[] {
    const known = this.routes.get(route);
    if (known !== undefined) return known;
    const all: Bucket[] = [];
    const count = this.limitedRoutes;
    if (count === 0) return all;
    for (const bucket of this.buckets.values()) if (bucket.routes === count) all.push(bucket);
    return all;
  }

  enqueue(waiter: Waiter): void {
    this.queue.push(waiter);
    this.waiting += 1;
    for (const bucket of waiter.buckets) {
      if (bucket.waiting++ === 0) this.waited.add(bucket);
    }
  }

  /** The waiter leaves the queue (let through, refused or aborted): it is marked, and skipped from now on. */
  leave(waiter: Waiter): void {
    waiter.done = true;
    this.waiting -= 1;
    for (const bucket of waiter.buckets) {
      if (--bucket.waiting === 0) this.waited.delete(bucket);
    }
    if (this.waiting === 0) {
      this.queue = [];
      this.head = 0;
      return;
    }
    const queue = this.queue;
    while (this.head < queue.length && (queue[this.head] as Waiter).done) this.head++;
    if (this.head > 1024 && this.head * 2 > queue.length) {
      this.queue = queue.slice(this.head);
      this.head = 0;
    } else if (queue.length > 1024 && this.waiting * 2 < queue.length - this.head) {
      this.queue = queue.filter((entry, index) => index >= this.head && !entry.done);
      this.head = 0;
    }
  }

  setRoute(route: string, buckets: Bucket[]): void {
    const previous = this.routes.get(route);
    if (previous !== undefined && sameBuckets(previous, buckets)) {
      // The answer carried what the route's last one did (the common case): only its recency changes,
      // and not even that when it is already the newest.
      if (route !== this.newestRoute) {
        this.routes.delete(route);
        this.routes.set(route, previous);
        this.newestRoute = route;
      }
      return;
    }
    if (previous !== undefined) {
      this.routes.delete(route);
      if (previous.length > 0) this.limitedRoutes -= 1;
      for (const bucket of previous) bucket.routes -= 1;
    } else if (this.routes.size >= MAX_ROUTES) {
      const oldest = this.routes.keys().next().value as string;
      const dropped = this.routes.get(oldest) as Bucket[];
      if (dropped.length > 0) this.limitedRoutes -= 1;
      for (const bucket of dropped) bucket.routes -= 1;
      this.routes.delete(oldest);
    }
    for (const bucket of buckets) bucket.routes += 1;
    if (buckets.length > 0) this.limitedRoutes += 1;
    this.routes.set(route, buckets);
    this.newestRoute = route;
    // A bucket no route carries any more says nothing about any call: it is dropped.
    if (previous !== undefined) {
      for (const bucket of previous) {
        if (bucket.routes === 0) {
          bucket.dead = true;
          this.buckets.delete(bucket.key);
        }
      }
    }
  }
}

function sameBuckets(a: Bucket[], b: Bucket[]): boolean {
  if (a.length !== b.length) return false;
  for (let index = 0; index < a.length; index++) if (a[index] !== b[index]) return false;
  return true;
}

/** Why a call is not let through: its turn would come after the limit it may wait. */
export class PaceRefusal {
  constructor(
    /** Estimated milliseconds until the call's turn. */
    readonly waitMs: number,
  ) {}
}

/** A call that waits for its turn: `promise` resolves to its sequence number once it may go. */
export interface PaceWait {
  readonly waitMs: number;
  readonly promise: Promise<number>;
}

/**
 * The pacing state of one wrapper.
 *
 * @example
 * ```ts
 * const pacer = new Pacer({ maxWaitMs: 60_000, maxOrigins: 1000 });
 * const ticket = pacer.admit(origin, route, Date.now(), 5_000, signal);
 * // a number: send now; a PaceWait: await ticket.promise; a PaceRefusal: fail fast
 * pacer.learn(origin, route, seq, readHeaders(response, Date.now()), Date.now());
 * ```
 */
export class Pacer {
  readonly maxWaitMs: number;
  readonly #maxOrigins: number;
  readonly #origins = new Map<string, OriginPace>();
  /** The origin touched last (the last key of `#origins`), whose recency needs no update. */
  #newest: string | undefined;
  /** The last sequence number given: every call released gets the next, whatever its origin. */
  #seq = 0;
  /** The calls waiting with each signal (one abort listener per signal). */
  readonly #aborts = new WeakMap<AbortSignal, { listener: () => void; finishers: Set<() => void> }>();

  constructor(options: Required<PaceOptions>) {
    this.maxWaitMs = options.maxWaitMs;
    this.#maxOrigins = options.maxOrigins;
  }

  /** Number of origins whose state is kept. */
  get size(): number {
    return this.#origins.size;
  }

  /** Whether a call to `origin` may need pacing (its state exists); the route need not be computed otherwise. */
  knows(origin: string): boolean {
    return this.#origins.has(origin);
  }

  /**
   * Asks to send one call of `route` to `origin`. Returns its sequence number when it may go now (its
   * units are taken), a {@link PaceWait} when it must wait (at most `limitMs`, after which the wait rejects
   * with a {@link PaceRefusal}; the signal's abort rejects it with the signal's reason), or a
   * {@link PaceRefusal} when its turn would come after `limitMs`.
   */
  admit(origin: string, route: string, now: number, limitMs: number, signal: AbortSignal | undefined): number | PaceWait | PaceRefusal {
    const state = this.#origins.get(origin);
    if (state === undefined) return 0;
    if (origin !== this.#newest) {
      this.#origins.delete(origin);
      this.#origins.set(origin, state);
      this.#newest = origin;
    }
    const buckets = state.applicable(route);
    if (buckets.length === 0) return this.#release(state);
    if (state.waiting > 0) this.#drain(state, now);
    let free = true;
    for (const bucket of buckets) if (!bucket.available(now) || bucket.waiting > 0) free = false;
    if (free) {
      for (const bucket of buckets) bucket.take(now);
      return this.#release(state);
    }
    const waitMs = this.#estimate(buckets, now, now);
    if (waitMs > limitMs) return new PaceRefusal(waitMs);
    let waiter!: Waiter;
    const promise = new Promise<number>((resolve, reject) => {
      waiter = { buckets, resolve, reject, done: false };
    });
    const finish = (error: unknown) => {
      if (waiter.done) return;
      state.leave(waiter);
      waiter.reject(error);
    };
    // Not unref'd, like a retry's wait: the caller awaits it. Bounded by limitMs.
    const limit = setTimeout(() => finish(new PaceRefusal(waitMs)), limitMs);
    const onAbort = () => finish(signal?.reason);
    if (signal !== undefined) this.#onAbort(signal, onAbort);
    const resolve = waiter.resolve;
    waiter.resolve = (seq) => {
      clearTimeout(limit);
      if (signal !== undefined) this.#offAbort(signal, onAbort);
      resolve(seq);
    };
    const reject = waiter.reject;
    waiter.reject = (error) => {
      clearTimeout(limit);
      if (signal !== undefined) this.#offAbort(signal, onAbort);
      reject(error);
    };
    state.enqueue(waiter);
    this.#schedule(state, now);
    return { waitMs, promise };
  }

  /**
   * The wait pacing estimates for a call of `route` to `origin` that would ask at `at` (later than `now`,
   * as a retry after its backoff does), behind the calls already waiting; 0 when it would go at once.
   * Changes nothing.
   */
  estimate(origin: string, route: string, now: number, at: number): number {
    const state = this.#origins.get(origin);
    if (state === undefined) return 0;
    const buckets = state.applicable(route);
    return buckets.length === 0 ? 0 : this.#estimate(buckets, now, Math.max(now, at));
  }

  /**
   * Runs `finish` when `signal` aborts. One listener per signal, whatever the number of calls waiting
   * with it: an EventTarget looks through its listeners on each add and remove, so a batch of calls
   * sharing one signal would cost time quadratic in the batch.
   */
  #onAbort(signal: AbortSignal, finish: () => void): void {
    let entry = this.#aborts.get(signal);
    if (entry === undefined) {
      const finishers = new Set<() => void>();
      const listener = () => {
        this.#aborts.delete(signal);
        for (const each of finishers) each();
      };
      entry = { listener, finishers };
      this.#aborts.set(signal, entry);
      signal.addEventListener('abort', listener, { once: true });
    }
    entry.finishers.add(finish);
  }

  #offAbort(signal: AbortSignal, finish: () => void): void {
    const entry = this.#aborts.get(signal);
    if (entry === undefined || !entry.finishers.delete(finish) || entry.finishers.size > 0) return;
    this.#aborts.delete(signal);
    signal.removeEventListener('abort', entry.listener);
  }

  /** A sequence number for a call sent to `origin` without pacing (counted in flight when the origin is known). */
  track(origin: string): number {
    const state = this.#origins.get(origin);
    return state === undefined ? 0 : this.#release(state);
  }

  /** The call of `seq` ended without an answer (or was never sent): it is no longer in flight. */
  done(origin: string, seq: number): void {
    if (seq !== 0) this.#origins.get(origin)?.inFlight.delete(seq);
  }

  #release(state: OriginPace): number {
    const seq = ++this.#seq;
    state.inFlight.add(seq);
    return seq;
  }

  /**
   * Learns what a response's rate-limit headers said ({@link readHeaders}; `undefined`: none). `seq` is
   * the number {@link Pacer.admit} or {@link Pacer.track} gave the call (0: none).
   */
  learn(origin: string, route: string, seq: number, observations: Observation[] | undefined, now: number): void {
    let state = this.#origins.get(origin);
    if (seq !== 0) state?.inFlight.delete(seq);
    if (observations === undefined) {
      // Answered without a rate-limit header: this route is not limited (or no longer blocked).
      if (state !== undefined) {
        state.setRoute(route, []);
        this.#drain(state, now);
      }
      return;
    }
    if (state === undefined) {
      if (this.#origins.size >= this.#maxOrigins) this.#forgetOldest();
      state = new OriginPace();
      this.#origins.set(origin, state);
      this.#newest = origin;
    }
    const inFlight = state.inFlight.size;
    const carried: Bucket[] = [];
    for (const observation of observations) {
      let bucket = state.buckets.get(observation.key);
      if (bucket === undefined) {
        if (state.buckets.size >= MAX_BUCKETS) continue;
        bucket = new Bucket(observation.key);
        state.buckets.set(observation.key, bucket);
      }
      bucket.apply(observation, seq, inFlight, now);
      carried.push(bucket);
    }
    state.setRoute(route, carried);
    this.#drain(state, now);
  }

  /** Forgets every origin (waiting calls are let through). */
  clear(): void {
    for (const state of this.#origins.values()) this.#letGo(state);
    this.#origins.clear();
    this.#newest = undefined;
  }

  #forgetOldest(): void {
    const oldest = this.#origins.keys().next().value as string;
    const state = this.#origins.get(oldest) as OriginPace;
    this.#origins.delete(oldest);
    this.#letGo(state);
  }

  /** Lets every waiting call of a forgotten origin go: nothing is known about it any more. */
  #letGo(state: OriginPace): void {
    if (state.timer !== undefined) clearTimeout(state.timer);
    state.timer = undefined;
    const queue = state.queue;
    for (let index = state.head; index < queue.length; index++) {
      const waiter = queue[index] as Waiter;
      if (waiter.done) continue;
      state.leave(waiter);
      waiter.resolve(0);
    }
  }

  /**
   * Estimated wait, from `at` (not before `now`), before a new call needing `buckets` gets its turn,
   * behind the calls already waiting. Changes no bucket.
   */
  #estimate(buckets: Bucket[], now: number, at: number): number {
    let wait = 0;
    for (const bucket of buckets) {
      if (bucket.dead) continue;
      bucket.refill(now);
      const units = bucket.unitsAt(at);
      const needed = bucket.waiting + 1 - units;
      if (needed <= 0) continue;
      // Spent at `at`: its next unit comes at refillAt (or one spacing on, when no time is known).
      const first = units > 0 ? 0 : bucket.refillAt === 0 ? bucket.intervalMs : Math.max(0, bucket.refillAt - at);
      // The estimate errs on the early side, so that only a call that would certainly wait too long is
      // refused at once (the limit timer still bounds the wait): after the refill time a known quota is
      // taken to be back whole, and an unknown one (Retry-After alone) to admit every waiting call.
      const rest = bucket.quota !== undefined ? Math.floor((needed - 1) / bucket.quota) * bucket.intervalMs * bucket.quota : 0;
      wait = Math.max(wait, first + rest);
    }
    return wait;
  }

  /**
   * Lets through, in order, every waiting call whose buckets have units; schedules the next look. The
   * look stops as soon as every bucket waited for is spent: no call behind could go.
   */
  #drain(state: OriginPace, now: number): void {
    let open = 0;
    for (const bucket of state.waited) if (bucket.available(now)) open += 1;
    if (open > 0) {
      const spent = new Set<Bucket>();
      // Waiters let through are marked and skipped; `leave` may compact the array (then the look starts
      // again from its head: the calls still waiting keep their order).
      for (let index = state.head; state.waiting > 0 && spent.size < state.waited.size; ) {
        const waiter = state.queue[index];
        if (waiter === undefined) break;
        index++;
        if (waiter.done) continue;
        let free = true;
        for (const bucket of waiter.buckets) {
          if (!bucket.available(now)) {
            free = false;
            spent.add(bucket);
          }
        }
        if (!free) continue;
        for (const bucket of waiter.buckets) bucket.take(now);
        const before = state.queue;
        state.leave(waiter);
        waiter.resolve(this.#release(state));
        if (state.queue !== before) {
          // Compacted: the live entries after this one now start at the head.
          index = state.head;
        }
        for (const bucket of waiter.buckets) if (!bucket.available(now)) spent.add(bucket);
      }
    }
    this.#schedule(state, now);
  }

  #schedule(state: OriginPace, now: number): void {
    if (state.waiting === 0) {
      if (state.timer !== undefined) clearTimeout(state.timer);
      state.timer = undefined;
      return;
    }
    let at = Number.POSITIVE_INFINITY;
    for (const bucket of state.waited) if (!bucket.available(now)) at = Math.min(at, bucket.nextAt(now));
    if (at === Number.POSITIVE_INFINITY) at = now;
    if (state.timer !== undefined && state.timerAt === at) return;
    if (state.timer !== undefined) clearTimeout(state.timer);
    state.timerAt = at;
    const timer = setTimeout(() => {
      state.timer = undefined;
      this.#drain(state, Date.now());
    }, Math.max(1, at - now));
    // The waiting calls' own limit timers keep the process alive; this one only wakes them early.
    timer.unref();
    state.timer = timer;
  }
}

/**
 * The route key of a call: its method and the path of its URL (no query, no fragment), which no event or
 * error ever shows.
 */
export function routeOf(method: string, url: string): string {
  const scheme = url.indexOf('//');
  let start = scheme === -1 ? url.length : url.indexOf('/', scheme + 2);
  if (start === -1) start = url.length;
  let end = url.length;
  for (let index = start; index < end; index++) {
    const code = url.charCodeAt(index);
    if (code === 0x3f || code === 0x23) end = index;
  }
  const path = start === end ? '/' : url.slice(start, end);
  const key = `${method} ${path}`;
  return key.length > MAX_ROUTE_LENGTH ? key.slice(0, MAX_ROUTE_LENGTH) : key;
}

/** What a response's headers say about the origin's rate limits, or undefined when they say nothing. */
export function readHeaders(response: Response, now: number): Observation[] | undefined {
  const headers = response.headers;
  const status = response.status;
  let observations: Observation[] | undefined;
  const rateLimit = headers.get('ratelimit');
  if (rateLimit !== null) observations = parseRateLimit(rateLimit, headers.get('ratelimit-policy'));
  else {
    const remaining = headers.get('x-ratelimit-remaining');
    if (remaining !== null) {
      observations = parseLegacy(remaining, headers.get('x-ratelimit-limit'), headers.get('x-ratelimit-reset'), now);
    }
  }
  if (status === 429 || status === 503) {
    const asked = parseRetryAfter(headers.get('retry-after'), now);
    if (asked !== undefined) {
      const retryAfter = Math.min(asked, MAX_SECONDS * 1000);
      if (observations === undefined || observations.length === 0) {
        observations = [{ key: 'retry-after', remaining: 0, untilMs: retryAfter, quota: undefined, windowMs: undefined }];
      } else {
        // The refused request names its policies; none of the spent ones admits anything before Retry-After.
        let spent = false;
        for (const observation of observations) {
          if (observation.remaining <= 0) {
            spent = true;
            observation.untilMs = Math.max(observation.untilMs ?? 0, retryAfter);
          }
        }
        if (!spent) {
          for (const observation of observations) {
            observation.remaining = 0;
            observation.untilMs = Math.max(observation.untilMs ?? 0, retryAfter);
          }
        }
      }
    }
  }
  return observations !== undefined && observations.length > 0 ? observations : undefined;
}

/**
 * Longest wait remembered, in seconds: a longer `t`, `reset` or `Retry-After` is read as an hour, after
 * which one call goes to ask again (a stray header never blocks an origin for days).
 */
const MAX_SECONDS = 3600;

/** Longest policy window read, in seconds (a month); a policy's window only spaces the calls let through. */
const MAX_WINDOW_SECONDS = 31 * 86_400;

function seconds(value: unknown, max = MAX_SECONDS): number | undefined {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) return undefined;
  return Math.min(value, max) * 1000;
}

function units(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? Math.floor(value) : undefined;
}

/**
 * Parses `RateLimit` (draft-10/-11 list, or draft-7 dictionary) with its `RateLimit-Policy`. Malformed
 * members are skipped; a malformed header gives an empty list.
 */
export function parseRateLimit(value: string, policy: string | null): Observation[] {
  if (value.length > MAX_HEADER_LENGTH) return [];
  const text = value.trim();
  if (/^limit\s*=|(^|,)\s*remaining\s*=/i.test(text)) return parseDraft7(text, policy);
  const members = parseList(text);
  if (members === undefined) return [];
  const policies = policy !== null && policy.length <= MAX_HEADER_LENGTH ? policiesOf(policy) : NO_POLICIES;
  const out: Observation[] = [];
  for (const member of members) {
    const remaining = units(member.params.r);
    if (remaining === undefined) continue;
    const described = policies.get(member.name);
    out.push({
      key: `policy:${member.name}`,
      remaining,
      untilMs: seconds(member.params.t),
      quota: units(described?.q),
      windowMs: seconds(described?.w, MAX_WINDOW_SECONDS),
    });
    if (out.length >= MAX_BUCKETS) break;
  }
  return out;
}

const NO_POLICIES: ReadonlyMap<string, Params> = new Map();
/** The last `RateLimit-Policy` parsed, and its policies: an origin sends the same one on every answer. */
let lastPolicy: { text: string; policies: ReadonlyMap<string, Params> } | undefined;

/** The policies a `RateLimit-Policy` value describes, by name (read only: shared by the answers that repeat it). */
function policiesOf(text: string): ReadonlyMap<string, Params> {
  if (lastPolicy !== undefined && lastPolicy.text === text) return lastPolicy.policies;
  const policies = new Map<string, Params>();
  for (const member of parseList(text) ?? []) policies.set(member.name, member.params);
  lastPolicy = { text, policies };
  return policies;
}

function parseDraft7(text: string, policy: string | null): Observation[] {
  const fields = new Map<string, number>();
  for (const part of text.split(',')) {
    const match = /^\s*([a-z]+)\s*=\s*(\d+(?:\.\d+)?)\s*$/i.exec(part);
    if (match) fields.set((match[1] as string).toLowerCase(), Number(match[2]));
  }
  const remaining = units(fields.get('remaining'));
  if (remaining === undefined) return [];
  let quota = units(fields.get('limit'));
  let windowMs: number | undefined;
  const described = policy === null ? null : /^\s*(\d+)\s*;\s*w\s*=\s*(\d+)/.exec(policy);
  if (described) {
    quota ??= Number(described[1]);
    windowMs = seconds(Number(described[2]), MAX_WINDOW_SECONDS);
  }
  return [{ key: 'draft-7', remaining, untilMs: seconds(fields.get('reset')), quota, windowMs }];
}

function parseLegacy(remainingText: string, limitText: string | null, resetText: string | null, now: number): Observation[] {
  const remaining = /^\s*\d+\s*$/.test(remainingText) ? Number(remainingText) : undefined;
  if (remaining === undefined) return [];
  const quota = limitText !== null && /^\s*\d+\s*$/.test(limitText) ? Number(limitText) : undefined;
  let untilMs: number | undefined;
  if (resetText !== null && /^\s*\d+(\.\d+)?\s*$/.test(resetText)) {
    const reset = Number(resetText);
    // A Unix time when large (in milliseconds when larger still), else seconds from now: all three forms
    // are in use. Unix seconds pass 1e11 only in the year 5138, Unix milliseconds were past it in 1973.
    const at = reset > 100_000_000_000 ? reset : reset > 1_000_000_000 ? reset * 1000 : undefined;
    untilMs = at !== undefined ? Math.max(0, Math.min(at - now, MAX_SECONDS * 1000)) : seconds(reset);
  }
  return [{ key: 'legacy', remaining, untilMs, quota, windowMs: undefined }];
}

type Params = Record<string, number | string | boolean>;

/** An sf-integer or sf-decimal, or a token, at `lastIndex`. */
const NUMBER_OR_TOKEN = /(-?\d+(?:\.\d+)?)|([A-Za-z*][A-Za-z0-9:/!#$%&'*+\-.^_`|~]*)/y;
/** A parameter key at `lastIndex`. */
const PARAM_KEY = /[a-z*][a-z0-9_\-.*]*/y;

/** The cursor of {@link parseList}: the text and the index reached. */
interface Cursor {
  text: string;
  index: number;
}

function skipSpace(cursor: Cursor): void {
  const { text } = cursor;
  while (cursor.index < text.length && (text[cursor.index] === ' ' || text[cursor.index] === '\t')) cursor.index++;
}

/** An sf-string, token, integer, decimal or boolean at the cursor; undefined when malformed. */
function bareItem(cursor: Cursor): number | string | boolean | undefined {
  const { text } = cursor;
  const char = text[cursor.index];
  if (char === '"') {
    const close = text.indexOf('"', cursor.index + 1);
    if (close === -1) return undefined;
    const backslash = text.indexOf('\\', cursor.index + 1);
    if (backslash === -1 || backslash > close) {
      // No escape inside: the string is the text between the quotes.
      const result = text.slice(cursor.index + 1, close);
      cursor.index = close + 1;
      return result;
    }
    let result = '';
    let index = cursor.index + 1;
    while (index < text.length) {
      const c = text[index] as string;
      if (c === '\\') {
        result += text[index + 1] ?? '';
        index += 2;
      } else if (c === '"') {
        cursor.index = index + 1;
        return result;
      } else {
        result += c;
        index++;
      }
    }
    return undefined;
  }
  if (char === '?') {
    const value = text[cursor.index + 1];
    cursor.index += 2;
    return value === '1' ? true : value === '0' ? false : undefined;
  }
  NUMBER_OR_TOKEN.lastIndex = cursor.index;
  const match = NUMBER_OR_TOKEN.exec(text);
  if (!match) return undefined;
  cursor.index += match[0].length;
  return match[1] !== undefined ? Number(match[1]) : (match[2] as string);
}

/**
 * A small RFC 9651 list parser for the members these headers use: an sf-string or token, then
 * parameters whose values are integers, decimals, strings, tokens or booleans. Undefined when malformed.
 */
function parseList(text: string): Array<{ name: string; params: Params }> | undefined {
  const out: Array<{ name: string; params: Params }> = [];
  const cursor: Cursor = { text, index: 0 };
  const length = text.length;
  while (cursor.index < length) {
    skipSpace(cursor);
    const name = bareItem(cursor);
    if (typeof name !== 'string') return undefined;
    const params: Params = {};
    while (text[cursor.index] === ';') {
      cursor.index++;
      skipSpace(cursor);
      PARAM_KEY.lastIndex = cursor.index;
      const key = PARAM_KEY.exec(text);
      if (!key) return undefined;
      cursor.index += key[0].length;
      let paramValue: number | string | boolean | undefined = true;
      if (text[cursor.index] === '=') {
        cursor.index++;
        paramValue = bareItem(cursor);
        if (paramValue === undefined) return undefined;
      }
      params[key[0]] = paramValue;
    }
    out.push({ name, params });
    skipSpace(cursor);
    if (cursor.index >= length) break;
    if (text[cursor.index] !== ',') return undefined;
    cursor.index++;
    if (out.length >= MAX_BUCKETS * 2) break;
  }
  return out;
}
