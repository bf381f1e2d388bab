import type { Channel } from 'node:diagnostics_channel';
import type { Outcome } from '../guard/types.js';
import type { StoreHealth } from './outage.js';
import type { MaybePromise } from './decide.js';
import { shadowRefusedStatus } from './mode.js';
import type { RefundResult } from './store.js';

/** What a `refund` option of `spendCap` or `rateLimit` is asked about: how one request ended, and the request. */
export interface RefundOutcome<Req = unknown> extends Outcome {
  /** The framework's request (Express `req`, Koa `ctx`, Web `Request`). */
  request: Req;
}

/** Decides whether what a request reserved is given back, from how it ended. */
export type RefundRule<Req = unknown> = (outcome: RefundOutcome<Req>) => boolean;

/**
 * The spend cap's default rule: a request that did no work gets its spend back. That is a response that
 * is not 2xx (a 409 or 422 of the idempotency guard, the application's 4xx or 5xx), an idempotent replay,
 * a thrown error, and a client that left before the application ran. A response that closed while it was
 * being sent with a 2xx status keeps its charge: the work was done.
 */
export function didNoWork(outcome: Outcome): boolean {
  return !outcome.ran || outcome.thrown || outcome.replayed || outcome.status < 200 || outcome.status > 299;
}

/** A failed request, as express-rate-limit's `skipFailedRequests` counts one: status >= 400, thrown, or not sent whole. */
export function failed(outcome: Outcome): boolean {
  return !outcome.ran || outcome.thrown || !outcome.completed || outcome.status >= 400;
}

/** How long a store keeps a spend's receipt: a response that ends later than this after admission keeps its charge. */
export const RECEIPT_TTL_MS = 3_600_000;

/**
 * Who hears of a refund the store applied: `refunded(arg)` is called once the store answered that it
 * gave the units back, and only while `channel` has subscribers (without one, the store's answer is not
 * even read). @internal
 */
export interface RefundReport<A> {
  readonly channel: Channel;
  refunded(arg: A): void;
}

/**
 * Runs one refund against a store: a refund that throws, rejects or misses its deadline is reported
 * (`health.refundFailed`), never thrown and never left as a rejection. With `report`, a refund the store
 * applied is reported to it with `arg`. @internal
 */
export function runRefund<T, A = undefined>(
  health: StoreHealth,
  refund: (receipt: T) => MaybePromise<unknown>,
  receipt: T,
  report?: RefundReport<A>,
  arg?: A,
): void {
  try {
    const done = refund(receipt);
    if (report === undefined || !report.channel.hasSubscribers) {
      if (done instanceof Promise) done.catch((err: unknown) => health.refundFailed(err));
      return;
    }
    if (done instanceof Promise) {
      done.then(
        (result: unknown) => {
          if (applied(result)) report.refunded(arg as A);
        },
        (err: unknown) => health.refundFailed(err),
      );
    } else if (applied(done)) {
      report.refunded(arg as A);
    }
  } catch (err) {
    health.refundFailed(err);
  }
}

function applied(result: unknown): boolean {
  return typeof result === 'object' && result !== null && (result as RefundResult).refunded === true;
}

/**
 * The outcome callback of one admitted request: asks `rule`, and refunds when it says so. A rule that
 * throws keeps the charge. A refund the store applied goes to `report` with `arg`. @internal
 */
export function outcomeRefund<Req, T, A = undefined>(
  rule: (outcome: RefundOutcome<Req>) => boolean,
  request: Req,
  health: StoreHealth,
  refund: (receipt: T) => MaybePromise<RefundResult>,
  receipt: T,
  report?: RefundReport<A>,
  arg?: A,
  shadow = false,
): (outcome: Outcome) => void {
  let done = false;
  return (answered) => {
    if (done) return;
    done = true;
    // A guard that decided in shadow mode takes the refusal a later shadow guard would have answered as the
    // outcome, as enforcing would have ended the request there (see inShadowChain).
    const refused = shadow ? shadowRefusedStatus(request) : undefined;
    const outcome: Outcome = refused === undefined ? answered : { status: refused, replayed: false, thrown: false, ran: false, completed: true };
    let give: boolean;
    try {
      give = rule({ status: outcome.status, replayed: outcome.replayed, thrown: outcome.thrown, ran: outcome.ran, completed: outcome.completed, request }) === true;
    } catch {
      give = false;
    }
    if (give) runRefund(health, refund, receipt, report, arg);
  };
}
