import { describe, expect, it } from 'vitest';
import { Calendar } from '../../src/throttle/calendar.js';
import { periodIndex } from '../../src/throttle/store.js';

const at = (iso: string) => Date.parse(iso);

describe('Calendar: the periods around a clock reading', () => {
  it('names the previous, current and next day in UTC, with where today and tomorrow begin', () => {
    const days = new Calendar('UTC', 'daily');
    expect(days.around(at('2025-03-14T10:00:00Z'))).toEqual({
      periods: ['d2025-03-13', 'd2025-03-14', 'd2025-03-15'],
      starts: [at('2025-03-14T00:00:00Z'), at('2025-03-15T00:00:00Z')],
    });
  });

  it('gives a daylight-saving day its 23 or 25 hours', () => {
    const paris = new Calendar('Europe/Paris', 'daily');
    const spring = paris.around(at('2025-03-30T12:00:00Z'));
    expect(spring.periods[1]).toBe('d2025-03-30');
    expect(spring.starts).toEqual([at('2025-03-29T23:00:00Z'), at('2025-03-30T22:00:00Z')]);
    const newYork = new Calendar('America/New_York', 'daily');
    const autumn = newYork.around(at('2025-11-02T12:00:00Z'));
    expect(autumn.starts[1] - autumn.starts[0]).toBe(25 * 3_600_000);
  });

  it('starts a day whose midnight does not exist at the first instant that is that day', () => {
    // Santiago moved its clocks from 00:00 to 01:00 on 2024-09-08.
    const santiago = new Calendar('America/Santiago', 'daily');
    const day = santiago.around(at('2024-09-08T15:00:00Z'));
    expect(day.periods).toEqual(['d2024-09-07', 'd2024-09-08', 'd2024-09-09']);
    expect(day.starts[0]).toBe(at('2024-09-08T04:00:00Z'));
  });

  it('names months and finds their edges in the time zone', () => {
    const tokyo = new Calendar('Asia/Tokyo', 'monthly');
    expect(tokyo.around(at('2025-02-28T15:30:00Z'))).toEqual({
      periods: ['m2025-02', 'm2025-03', 'm2025-04'],
      starts: [at('2025-02-28T15:00:00Z'), at('2025-03-31T15:00:00Z')],
    });
    const utc = new Calendar('UTC', 'monthly');
    expect(utc.around(at('2024-12-31T23:59:59.999Z')).periods).toEqual(['m2024-11', 'm2024-12', 'm2025-01']);
  });

  it('answers from its cache within a period and anew after it', () => {
    const days = new Calendar('UTC', 'daily');
    const first = days.around(at('2025-03-14T00:00:00Z'));
    expect(days.around(at('2025-03-14T23:59:59.999Z'))).toBe(first);
    const next = days.around(at('2025-03-15T00:00:00Z'));
    expect(next.periods[1]).toBe('d2025-03-15');
    expect(days.around(at('2025-03-13T23:59:59.999Z')).periods[1]).toBe('d2025-03-13');
  });

  it('a store picks the period its own clock is in', () => {
    const { starts } = new Calendar('UTC', 'daily').around(at('2025-03-14T10:00:00Z'));
    expect(periodIndex(starts, at('2025-03-13T23:59:59Z'))).toBe(0);
    expect(periodIndex(starts, at('2025-03-14T00:00:00Z'))).toBe(1);
    expect(periodIndex(starts, at('2025-03-15T00:00:00Z'))).toBe(2);
  });
});
