/**
 * The SQL that `PostgresStore.migrate()` runs (and that `PostgresStore.migrationSql()` returns for teams
 * that run their own migrations): three tables (idempotency records, rate-limit state, spend counters),
 * each with an index on its expiry for the cleanup, and the plpgsql functions that make each rate-limit
 * and spend decision in one statement. Every statement is idempotent (`IF NOT EXISTS`, `OR REPLACE`), and
 * the whole runs in one transaction under an advisory lock, so processes that migrate at once wait in turn.
 *
 * Time is always the database's (`clock_timestamp()`), in whole microseconds for rate limits; the
 * arithmetic is on `numeric` (exact: no product is ever rounded), the same rules as src/throttle/gcra.ts
 * and src/throttle/sliding-window.ts.
 */

/** Names of the objects of one store: schema-qualified and quoted, ready for SQL. */
export interface PostgresNames {
  schema: string;
  idempotency: string;
  rate: string;
  spend: string;
  gcra: string;
  sliding: string;
  spendFn: string;
  spendRefund: string;
  gcraRefund: string;
  slidingRefund: string;
  /** The advisory lock key of the migration. */
  lock: string;
}

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,39}$/;
const PREFIX = /^[a-z0-9_]{0,24}$/;

/** Checks a schema name and table prefix (lower case letters, digits, `_`): a `TypeError` naming the option. */
export function checkNames(owner: string, schema: unknown, prefix: unknown): void {
  if (typeof schema !== 'string' || !IDENTIFIER.test(schema)) {
    throw new TypeError(`${owner}: options.schema must be a lower-case SQL identifier (letters, digits, _; at most 40)`);
  }
  if (typeof prefix !== 'string' || !PREFIX.test(prefix)) {
    throw new TypeError(`${owner}: options.tablePrefix must be lower-case letters, digits and _ (at most 24)`);
  }
}

/** The quoted, schema-qualified names of a store's tables and functions. */
export function namesOf(schema: string, prefix: string): PostgresNames {
  const q = (name: string) => `"${schema}"."${prefix}${name}"`;
  let lock = 0;
  for (const c of `${schema}.${prefix}`) lock = (lock * 31 + c.charCodeAt(0)) | 0;
  return {
    schema: `"${schema}"`,
    idempotency: q('idempotency'),
    rate: q('rate'),
    spend: q('spend'),
    gcra: q('gcra'),
    sliding: q('sliding'),
    spendFn: q('spend_decide'),
    spendRefund: q('spend_refund'),
    gcraRefund: q('gcra_refund'),
    slidingRefund: q('sliding_refund'),
    lock: String(lock),
  };
}

/** The clock of every function: the database's, in whole microseconds since the epoch. */
const NOW_US = 'floor(extract(epoch from clock_timestamp()) * 1000000)';

/** The migration, one script (several statements, no parameters). */
export function migrationSql(n: PostgresNames): string {
  return `BEGIN;
SELECT pg_advisory_xact_lock(${n.lock});
CREATE SCHEMA IF NOT EXISTS ${n.schema};

-- Idempotency records. state: 1 in flight (a lease), 2 completed, 3 committed by the application's own
-- transaction (PostgresStore.transaction) with the captured response still to come. status NULL on a
-- completed record: completed but not replayable. The owner token stays after completion, so a retried
-- complete recognises its own record.
CREATE TABLE IF NOT EXISTS ${n.idempotency} (
  key text PRIMARY KEY,
  fingerprint text NOT NULL,
  token text NOT NULL,
  state smallint NOT NULL,
  lease_until timestamptz,
  expires_at timestamptz NOT NULL,
  ttl_ms bigint NOT NULL,
  status integer,
  status_text text,
  headers jsonb,
  body bytea
);
CREATE INDEX IF NOT EXISTS "${n.idempotency.split('"')[3]}_expires" ON ${n.idempotency} (expires_at);

-- Rate-limit state, one row per key: a GCRA arrival time (us + frac / limit microseconds) or a sliding
-- window's log (flat pairs of admission time in microseconds and cost).
CREATE TABLE IF NOT EXISTS ${n.rate} (
  key text PRIMARY KEY,
  us bigint,
  frac bigint,
  log bigint[],
  expires_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS "${n.rate.split('"')[3]}_expires" ON ${n.rate} (expires_at);

-- Spend counters, one row per key and calendar period instance; and spend receipts (period 'r:<name>',
-- used: the cost, note: the periods it counted in), for refunds.
CREATE TABLE IF NOT EXISTS ${n.spend} (
  key text NOT NULL,
  period text NOT NULL,
  used bigint NOT NULL,
  expires_at timestamptz NOT NULL,
  note text,
  PRIMARY KEY (key, period)
);
ALTER TABLE ${n.spend} ADD COLUMN IF NOT EXISTS note text;
CREATE INDEX IF NOT EXISTS "${n.spend.split('"')[3]}_expires" ON ${n.spend} (expires_at);

-- One GCRA decision (src/throttle/gcra.ts), exact: times are kept in units of 1/limit microsecond.
-- Returns whether admitted, the units left, and microseconds until full, until this request could be
-- admitted (-1: never) and until one more unit is there.
CREATE OR REPLACE FUNCTION ${n.gcra}(k text, lim numeric, window_ms numeric, burst numeric, cost numeric,
  OUT allowed boolean, OUT remaining numeric, OUT reset_us numeric, OUT retry_us numeric, OUT next_us numeric)
LANGUAGE plpgsql AS $fn$
DECLARE
  now_us numeric := ${NOW_US};
  w numeric := window_ms * 1000;
  cap numeric := burst * w;
  held_us bigint;
  held_frac bigint;
  used numeric := 0;
  diff numeric;
  free numeric;
BEGIN
  -- Rate-limit state is not worth a WAL flush per decision: a crash may forget the last few
  -- milliseconds of decisions (never a record or a spend; those commit as the server is configured).
  PERFORM set_config('synchronous_commit', 'off', true);
  SELECT r.us, r.frac INTO held_us, held_frac FROM ${n.rate} r WHERE r.key = k FOR UPDATE;
  IF NOT FOUND THEN
    INSERT INTO ${n.rate} (key, expires_at) VALUES (k, clock_timestamp() + interval '1 minute') ON CONFLICT (key) DO NOTHING;
    SELECT r.us, r.frac INTO held_us, held_frac FROM ${n.rate} r WHERE r.key = k FOR UPDATE;
  END IF;
  IF held_us IS NOT NULL AND held_us >= now_us THEN
    -- A key written under another limit (two limiters sharing a name): its fraction rounds up.
    IF held_frac >= lim THEN
      used := (held_us - now_us + 1) * lim;
    ELSE
      used := (held_us - now_us) * lim + held_frac;
    END IF;
  END IF;
  retry_us := -1;
  allowed := false;
  IF cost <= burst THEN
    diff := used + cost * w;
    IF diff <= cap THEN
      allowed := true;
      retry_us := 0;
      IF cost > 0 THEN
        UPDATE ${n.rate} SET us = now_us + div(diff, lim), frac = mod(diff, lim), log = NULL,
          expires_at = to_timestamp(((now_us + div(diff, lim)) / 1000000)::double precision) + interval '1 second'
        WHERE key = k;
      END IF;
      used := diff;
    ELSE
      retry_us := div(diff - cap + lim - 1, lim);
    END IF;
  END IF;
  free := cap - used;
  remaining := CASE WHEN free >= 0 THEN div(free, w) ELSE -div(-free + w - 1, w) END;
  next_us := 0;
  IF remaining < burst THEN
    next_us := (remaining + 1) * w - free;
    next_us := CASE WHEN next_us >= 0 THEN div(next_us + lim - 1, lim) ELSE -div(-next_us, lim) END;
  END IF;
  reset_us := div(used + lim - 1, lim);
END
$fn$;

-- One exact sliding-window decision (src/throttle/sliding-window.ts): an entry admitted at t counts
-- until t + window. Returns as the GCRA function, and the admission time (microseconds) of the entry
-- it added (NULL when none), for a refund.
CREATE OR REPLACE FUNCTION ${n.sliding}(k text, lim numeric, window_ms numeric, cost numeric,
  OUT allowed boolean, OUT remaining numeric, OUT reset_us numeric, OUT retry_us numeric, OUT next_us numeric, OUT at_us bigint)
LANGUAGE plpgsql AS $fn$
DECLARE
  now_us bigint := ${NOW_US};
  w bigint := (window_ms * 1000)::bigint;
  held bigint[];
  kept bigint[] := '{}';
  used numeric := 0;
  excess numeric;
  freed numeric := 0;
  len integer;
  i integer;
BEGIN
  PERFORM set_config('synchronous_commit', 'off', true);
  SELECT r.log INTO held FROM ${n.rate} r WHERE r.key = k FOR UPDATE;
  IF NOT FOUND THEN
    INSERT INTO ${n.rate} (key, expires_at) VALUES (k, clock_timestamp() + interval '1 minute') ON CONFLICT (key) DO NOTHING;
    SELECT r.log INTO held FROM ${n.rate} r WHERE r.key = k FOR UPDATE;
  END IF;
  len := coalesce(array_length(held, 1), 0);
  i := 1;
  WHILE i < len LOOP
    IF held[i] + w > now_us THEN
      kept := kept || held[i] || held[i + 1];
      used := used + held[i + 1];
    END IF;
    i := i + 2;
  END LOOP;
  len := coalesce(array_length(kept, 1), 0);
  next_us := CASE WHEN len > 0 THEN kept[1] + w - now_us ELSE 0 END;
  reset_us := CASE WHEN len > 0 THEN kept[len - 1] + w - now_us ELSE 0 END;
  IF cost > lim THEN
    allowed := false;
    remaining := greatest(lim - used, 0);
    retry_us := -1;
    RETURN;
  END IF;
  IF used + cost <= lim THEN
    allowed := true;
    remaining := lim - used - cost;
    retry_us := 0;
    IF cost > 0 THEN
      kept := kept || now_us || cost::bigint;
      at_us := now_us;
      UPDATE ${n.rate} SET log = kept, us = NULL, frac = NULL,
        expires_at = clock_timestamp() + (window_ms + 1000) * interval '1 millisecond'
      WHERE key = k;
      len := len + 2;
      next_us := kept[1] + w - now_us;
      reset_us := w;
    END IF;
    RETURN;
  END IF;
  allowed := false;
  remaining := greatest(lim - used, 0);
  excess := used + cost - lim;
  retry_us := w;
  i := 1;
  WHILE i < len LOOP
    freed := freed + kept[i + 1];
    IF freed >= excess THEN
      retry_us := kept[i] + w - now_us;
      EXIT;
    END IF;
    i := i + 2;
  END LOOP;
END
$fn$;

-- One spend decision, all or nothing: each counter counts in the period that the database's clock is in
-- (periods: three names per counter; starts: two epoch milliseconds per counter). Decisions and refunds
-- of one key take turns (an advisory lock on the key). An admitted spend of a positive cost with a
-- receipt ttl keeps a receipt row (period 'r:<name>', used = the cost, note = the periods counted in);
-- a named one that is held makes a spend of that name a retry: admitted, nothing charged.
CREATE OR REPLACE FUNCTION ${n.spendFn}(k text, cost bigint, periods text[], starts numeric[], limits bigint[], ttls bigint[],
  receipt text, receipt_ttl bigint, named boolean, force boolean,
  OUT allowed boolean, OUT exceeded integer, OUT used bigint[], OUT retried boolean)
LANGUAGE plpgsql AS $fn$
DECLARE
  now_ms numeric := extract(epoch from clock_timestamp()) * 1000;
  n integer := array_length(limits, 1);
  names text[] := '{}';
  pick integer;
  held bigint;
  totals bigint[] := '{}';
  i integer;
BEGIN
  PERFORM pg_advisory_xact_lock(${n.lock}, hashtext(k));
  FOR i IN 1..n LOOP
    pick := CASE WHEN now_ms < starts[2 * i - 1] THEN 1 WHEN now_ms < starts[2 * i] THEN 2 ELSE 3 END;
    names := names || periods[3 * (i - 1) + pick];
    SELECT s.used INTO held FROM ${n.spend} s WHERE s.key = k AND s.period = names[i] AND s.expires_at > clock_timestamp();
    totals := totals || coalesce(held, 0);
  END LOOP;
  used := totals;
  retried := false;
  exceeded := -1;
  allowed := true;
  IF named AND NOT force AND EXISTS (SELECT 1 FROM ${n.spend} s WHERE s.key = k AND s.period = 'r:' || receipt AND s.expires_at > clock_timestamp()) THEN
    retried := true;
    RETURN;
  END IF;
  IF NOT force THEN
    FOR i IN 1..n LOOP
      IF totals[i] + cost > limits[i] THEN
        allowed := false;
        exceeded := i - 1;
        RETURN;
      END IF;
    END LOOP;
  END IF;
  IF cost > 0 THEN
    FOR i IN 1..n LOOP
      totals[i] := totals[i] + cost;
      INSERT INTO ${n.spend} AS s (key, period, used, expires_at) VALUES (k, names[i], totals[i], clock_timestamp() + ttls[i] * interval '1 millisecond')
        ON CONFLICT (key, period) DO UPDATE SET used = EXCLUDED.used, expires_at = EXCLUDED.expires_at;
    END LOOP;
    used := totals;
    IF receipt_ttl > 0 THEN
      INSERT INTO ${n.spend} AS s (key, period, used, expires_at, note)
        VALUES (k, 'r:' || receipt, cost, clock_timestamp() + receipt_ttl * interval '1 millisecond', array_to_string(names, ','))
        ON CONFLICT (key, period) DO UPDATE SET used = EXCLUDED.used, expires_at = EXCLUDED.expires_at, note = EXCLUDED.note;
    END IF;
  END IF;
END
$fn$;

-- A spend's refund, once: its receipt row goes, and each counter it names (the periods the spend
-- counted in, whatever the clock says now) goes down by the cost, never below zero; an expired counter
-- is not made again. True when something was given back.
CREATE OR REPLACE FUNCTION ${n.spendRefund}(k text, receipt text) RETURNS boolean
LANGUAGE plpgsql AS $fn$
DECLARE
  amount bigint;
  counted text;
  alive boolean;
  touched integer;
BEGIN
  PERFORM pg_advisory_xact_lock(${n.lock}, hashtext(k));
  DELETE FROM ${n.spend} s WHERE s.key = k AND s.period = 'r:' || receipt
    RETURNING s.used, s.note, s.expires_at > clock_timestamp() INTO amount, counted, alive;
  IF amount IS NULL OR NOT alive THEN RETURN false; END IF;
  UPDATE ${n.spend} s SET used = greatest(s.used - amount, 0)
    WHERE s.key = k AND s.period = ANY (string_to_array(counted, ',')) AND s.expires_at > clock_timestamp() AND s.used > 0;
  GET DIAGNOSTICS touched = ROW_COUNT;
  RETURN touched > 0;
END
$fn$;

-- A GCRA refund (src/throttle/gcra.ts gcraRefund): the arrival time moves back by cost * window / limit
-- exactly, never before now (a bucket that refilled is not given the units twice; a full one is deleted).
CREATE OR REPLACE FUNCTION ${n.gcraRefund}(k text, lim numeric, window_ms numeric, cost numeric) RETURNS boolean
LANGUAGE plpgsql AS $fn$
DECLARE
  now_us numeric := ${NOW_US};
  held_us bigint;
  held_frac bigint;
  t numeric;
BEGIN
  SELECT r.us, r.frac INTO held_us, held_frac FROM ${n.rate} r WHERE r.key = k FOR UPDATE;
  IF held_us IS NULL OR cost <= 0 OR held_us < now_us OR (held_us = now_us AND held_frac = 0) THEN RETURN false; END IF;
  IF held_frac >= lim THEN
    t := (held_us + 1) * lim;
  ELSE
    t := held_us * lim + held_frac;
  END IF;
  t := t - cost * window_ms * 1000;
  IF t < now_us * lim THEN
    DELETE FROM ${n.rate} WHERE key = k;
  ELSE
    UPDATE ${n.rate} SET us = div(t, lim), frac = mod(t, lim),
      expires_at = to_timestamp((div(t, lim) / 1000000)::double precision) + interval '1 second'
    WHERE key = k;
  END IF;
  RETURN true;
END
$fn$;

-- A sliding-window refund: the entry admitted at at_us (with this cost) leaves the log; true when it was there.
CREATE OR REPLACE FUNCTION ${n.slidingRefund}(k text, at_us bigint, cost bigint) RETURNS boolean
LANGUAGE plpgsql AS $fn$
DECLARE
  held bigint[];
  len integer;
  i integer := 1;
BEGIN
  SELECT r.log INTO held FROM ${n.rate} r WHERE r.key = k FOR UPDATE;
  len := coalesce(array_length(held, 1), 0);
  WHILE i < len LOOP
    IF held[i] = at_us AND held[i + 1] = cost THEN
      UPDATE ${n.rate} SET log = held[1:i - 1] || held[i + 2:len] WHERE key = k;
      RETURN true;
    END IF;
    i := i + 2;
  END LOOP;
  RETURN false;
END
$fn$;
COMMIT;
`;
}
