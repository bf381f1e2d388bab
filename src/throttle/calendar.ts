/** Which calendar period a spend cap counts over. */
export type SpendPeriod = 'daily' | 'monthly';

/**
 * The period a clock reading falls in, and its neighbours: what a spend cap hands its store, so that the
 * store can pick the period by its own clock (Redis `TIME`) rather than the application's.
 */
export interface PeriodTimeline {
  /** Names of the previous, current and next period (`d2025-03-14`, `m2025-03`). */
  periods: [string, string, string];
  /** Where the current and the next period begin, in epoch milliseconds. */
  starts: [number, number];
}

/** Longest span searched for a period's edge: a day is at most 25 hours (DST), a month 31 days. */
const SPAN: Record<SpendPeriod, number> = { daily: 27 * 3_600_000, monthly: 33 * 86_400_000 };

/**
 * The calendar of one time zone for one kind of period: answers the {@link PeriodTimeline} around a
 * clock reading. The edges of a period are found once (by bisection over the zone's own date arithmetic,
 * so daylight-saving days of 23 or 25 hours and midnights that do not exist come out right) and reused
 * until the clock leaves that period: a decision costs a comparison, not a date formatting.
 *
 * @example
 * ```ts
 * const days = new Calendar('Europe/Paris', 'daily');
 * days.around(Date.parse('2025-03-30T12:00:00Z'));
 * // { periods: ['d2025-03-29', 'd2025-03-30', 'd2025-03-31'], starts: [1743289200000, 1743372000000] }
 * ```
 */
export class Calendar {
  readonly #format: Intl.DateTimeFormat;
  readonly #kind: SpendPeriod;
  /** The timeline of the period last asked about; it holds while the clock stays in that period. */
  #current: PeriodTimeline | undefined;

  /** @throws RangeError when `timeZone` is not a time zone this runtime knows */
  constructor(timeZone: string, kind: SpendPeriod) {
    this.#format = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' });
    this.#kind = kind;
  }

  /** The timeline around `at` (epoch milliseconds). The answer is shared: do not change it. */
  around(at: number): PeriodTimeline {
    const cached = this.#current;
    if (cached !== undefined && at >= cached.starts[0] && at < cached.starts[1]) return cached;
    const current = this.name(at);
    const span = SPAN[this.#kind];
    const start = firstWhere(at - span, at, (t) => this.name(t) === current);
    const end = firstWhere(at, at + span, (t) => this.name(t) !== current);
    this.#current = { periods: [this.name(start - 1), current, this.name(end)], starts: [start, end] };
    return this.#current;
  }

  /** The name of the period that `at` falls in: `d2025-03-14` or `m2025-03`. */
  name(at: number): string {
    let year = '0000';
    let month = '01';
    let day = '01';
    for (const part of this.#format.formatToParts(at)) {
      if (part.type === 'year') year = part.value;
      else if (part.type === 'month') month = part.value;
      else if (part.type === 'day') day = part.value;
    }
    return this.#kind === 'daily' ? `d${year}-${month}-${day}` : `m${year}-${month}`;
  }
}

/**
 * The first whole millisecond in (low, high] where `holds` turns true, given that it is false at `low`
 * and stays true once true (a calendar never goes back); `high` when it is already true at `low`.
 */
function firstWhere(low: number, high: number, holds: (t: number) => boolean): number {
  let lo = Math.floor(low);
  let hi = Math.ceil(high);
  if (holds(lo)) return lo;
  while (hi - lo > 1) {
    const mid = lo + Math.floor((hi - lo) / 2);
    if (holds(mid)) hi = mid;
    else lo = mid;
  }
  return hi;
}
