import type { ServerResponse } from 'node:http';
import type { Outcome } from '../../src/guard/types.js';
import { thrownErrorOf } from './thrown.js';

/** Marks a response that answers with an idempotent replay (see {@link markReplayed}). @internal */
const REPLAYED = Symbol.for('bulwark.node.replayed');

/**
 * Records that `res` answers with an idempotent replay, for a framework that hands its headers to
 * `writeHead` (Fastify) rather than setting them on the response, where {@link watchOutcome} reads
 * `Idempotent-Replayed`. @internal
 */
export function markReplayed(res: ServerResponse): void {
  (res as unknown as Record<symbol, boolean>)[REPLAYED] = true;
}

/** The outcome of a request whose client left before it was handed on. @internal */
export const NOT_RAN: Outcome = Object.freeze({ status: 0, replayed: false, thrown: false, ran: false, completed: false });

/**
 * Calls `report` exactly once, when the Node.js response finished (sent whole) or closed before that:
 * with the status sent, whether it is an idempotent replay (`Idempotent-Replayed: true`), and whether it
 * answers a thrown error (`errorHandler` marks those), was destroyed with an error, or `thrown` was
 * already known (Koa: the chain rejected). Only attached for a decision that asked for it. @internal
 */
export function watchOutcome(res: ServerResponse, report: (outcome: Outcome) => void, thrown: boolean): void {
  if (res.writableFinished) {
    settle(res, report, thrown, true);
    return;
  }
  if (res.destroyed) {
    settle(res, report, thrown, false);
    return;
  }
  const onFinish = (): void => {
    res.off('close', onClose);
    settle(res, report, thrown, true);
  };
  const onClose = (): void => {
    res.off('finish', onFinish);
    settle(res, report, thrown, res.writableFinished);
  };
  res.once('finish', onFinish);
  res.once('close', onClose);
}

function settle(res: ServerResponse, report: (outcome: Outcome) => void, thrown: boolean, completed: boolean): void {
  const failed = thrown || thrownErrorOf(res) !== undefined || (!completed && res.errored !== null && res.errored !== undefined);
  try {
    const replayed = res.getHeader('idempotent-replayed') === 'true' || (res as unknown as Record<symbol, boolean>)[REPLAYED] === true;
    report({ status: res.statusCode, replayed, thrown: failed, ran: true, completed });
  } catch {
    // a guard's outcome callback never throws; if one did, the response is sent anyway
  }
}
