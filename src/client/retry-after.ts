/**
 * `Retry-After` (RFC 9110, section 10.2.3): a whole number of seconds, or an HTTP-date in any of its
 * three forms (IMF-fixdate, RFC 850, asctime). Parsed strictly: a value that is neither gives
 * `undefined`, never a guess.
 */

const MONTHS: Readonly<Record<string, number>> = {
  Jan: 0,
  Feb: 1,
  Mar: 2,
  Apr: 3,
  May: 4,
  Jun: 5,
  Jul: 6,
  Aug: 7,
  Sep: 8,
  Oct: 9,
  Nov: 10,
  Dec: 11,
};
const MONTH = '(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)';
const TIME = '(\\d{2}):(\\d{2}):(\\d{2})';
/** `Sun, 06 Nov 1994 08:49:37 GMT` */
const IMF_FIXDATE = new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\\d{2}) ${MONTH} (\\d{4}) ${TIME} GMT$`);
/** `Sunday, 06-Nov-94 08:49:37 GMT` */
const RFC_850 = new RegExp(
  `^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), (\\d{2})-${MONTH}-(\\d{2}) ${TIME} GMT$`,
);
/** `Sun Nov  6 08:49:37 1994` */
const ASCTIME = new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ${MONTH} ([ \\d]\\d) ${TIME} (\\d{4})$`);
const SECONDS = /^\d+$/;

/**
 * The delay a `Retry-After` value asks for, in milliseconds from `now`: seconds as given, a date in
 * the past as 0. `undefined` when the header is absent or malformed. RFC 9110 puts no bound on the
 * digits of delay-seconds: a value too large to be exact (16 digits and more) is read as
 * `Number.MAX_SAFE_INTEGER` ms, a delay longer than any cap, never as garbage. Compare the result with
 * your own cap before passing it to a timer (timers fire at once beyond 2^31 - 1 ms).
 *
 * @example
 * ```ts
 * parseRetryAfter('120'); // 120000
 * parseRetryAfter('Wed, 21 Oct 2015 07:28:00 GMT', Date.parse('2015-10-21T07:27:00Z')); // 60000
 * parseRetryAfter('9999999999999999'); // Number.MAX_SAFE_INTEGER (longer than any cap)
 * parseRetryAfter('soon'); // undefined
 * ```
 */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | undefined {
  if (value === null || value === undefined) return undefined;
  const text = value.trim();
  if (SECONDS.test(text)) return Math.min(Number(text) * 1000, Number.MAX_SAFE_INTEGER);
  const at = parseHttpDate(text);
  if (at === undefined) return undefined;
  return Math.max(0, at - now);
}

/** Milliseconds since the epoch of an HTTP-date, or undefined when the text is not one. */
export function parseHttpDate(text: string): number | undefined {
  let day: string | undefined;
  let month: string | undefined;
  let year: number;
  let hms: [string | undefined, string | undefined, string | undefined];
  let match = IMF_FIXDATE.exec(text);
  if (match) {
    day = match[1];
    month = match[2];
    year = Number(match[3]);
    hms = [match[4], match[5], match[6]];
  } else if ((match = RFC_850.exec(text))) {
    day = match[1];
    month = match[2];
    // RFC 9110: a two-digit year more than 50 years in the future is read as the past century.
    const twoDigits = Number(match[3]);
    const thisYear = new Date().getUTCFullYear();
    year = 2000 + twoDigits > thisYear + 50 ? 1900 + twoDigits : 2000 + twoDigits;
    hms = [match[4], match[5], match[6]];
  } else if ((match = ASCTIME.exec(text))) {
    month = match[1];
    day = match[2];
    hms = [match[3], match[4], match[5]];
    year = Number(match[6]);
  } else {
    return undefined;
  }
  const monthIndex = month === undefined ? undefined : MONTHS[month];
  const dayNumber = Number(day?.trim());
  const [h, m, s] = hms.map(Number) as [number, number, number];
  if (monthIndex === undefined || dayNumber < 1 || dayNumber > 31 || h > 23 || m > 59 || s > 60) return undefined;
  const at = Date.UTC(year, monthIndex, dayNumber, h, m, Math.min(s, 59));
  // Reject dates that roll over (31 Feb).
  if (new Date(at).getUTCDate() !== dayNumber) return undefined;
  return at;
}
