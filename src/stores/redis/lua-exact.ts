/**
 * The Lua shared by the throttle scripts of RedisThrottleStore (src/stores/redis/throttle.ts), each fragment
 * a string built once when the module loads: the scripts join them with their own lines.
 *
 * @module
 */

/**
 * Redis time from `TIME` (never the application's clock): `now` in whole microseconds (an exact integer,
 * about 1.7e15), `nowMs` in milliseconds. Then exact integer arithmetic, the same as
 * src/throttle/exact.ts: Lua numbers are doubles, so every value stays an integer below 2^53 and
 * `a * b / m` never forms a product a double cannot hold. `fmt` writes an integer with all its digits.
 */
export const NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local nowMs = now / 1000
local function fmt(x) return string.format('%.0f', x) end
local EXACT = 4503599627370496
local function divFloor(x, m)
  local q = math.floor(x / m)
  local r = x - q * m
  if r < 0 then q = q - 1 elseif r >= m then q = q + 1 end
  return q
end
local function mulDivMod(a, b, m)
  local p = a * b
  if p <= EXACT then
    local q = divFloor(p, m)
    return q, p - q * m
  end
  local bq = divFloor(b, m)
  local br = b - bq * m
  local step = 2
  while step * 4 * m <= EXACT do step = step * 2 end
  local digits = {}
  local rest = a
  while rest > 0 do
    local hi = math.floor(rest / step)
    digits[#digits + 1] = rest - hi * step
    rest = hi
  end
  local qq, rr = 0, 0
  for i = #digits, 1, -1 do
    local x = rr * step + digits[i] * br
    local q = divFloor(x, m)
    qq = qq * step + q
    rr = x - q * m
  end
  return a * bq + qq, rr
end`;

/**
 * The start of a rate-limit script: {@link NOW}, then `now` replaced by the test clock when ARGV[`clock`]
 * is given, `limit` (ARGV[1]) and the window `w` in microseconds (ARGV[2] is in milliseconds).
 */
function rateStart(clock: number): string {
  return `${NOW}
if ARGV[${clock}] then now = tonumber(ARGV[${clock}]) end
local limit = tonumber(ARGV[1])
local w = tonumber(ARGV[2]) * 1000`;
}

/**
 * GCRA's exact time, a pair `q, r`: `q + r / limit` microseconds (`0 <= r < limit`). `arrival` reads the
 * theoretical arrival time a key holds, `<microseconds>:<fraction over limit>` (a value of the older
 * form, float milliseconds, is read rounded up; nil for anything else); `minus` and `plus` subtract and
 * add two such times.
 */
const GCRA_TIME = `local function arrival(held)
  local hq, hr = string.match(held, '^(%d+):(%d+)$')
  if hq then return tonumber(hq), tonumber(hr) end
  if tonumber(held) then return math.ceil(tonumber(held) * 1000), 0 end
  return nil, 0
end
local function minus(aq, ar, bq, br)
  local q, r = aq - bq, ar - br
  if r < 0 then return q - 1, r + limit end
  return q, r
end
local function plus(aq, ar, bq, br)
  local q, r = aq + bq, ar + br
  if r >= limit then return q + 1, r - limit end
  return q, r
end`;

/** The start of the GCRA decision (test clock in ARGV[5]), with {@link GCRA_TIME}. */
export const GCRA_START = `${rateStart(5)}
${GCRA_TIME}`;

/** The start of the GCRA refund (test clock in ARGV[4]), with {@link GCRA_TIME}. */
export const GCRA_REFUND_START = `${rateStart(4)}
${GCRA_TIME}`;

/** The start of the sliding-window decision (test clock in ARGV[5]). */
export const SLIDING_START = rateStart(5);
