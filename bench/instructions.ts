/**
 * Instructions benchmark (a script, not a test): `npm run build && npx tsx bench/instructions.ts [throttle] [idempotency]`.
 *
 * The servers of the throttle and idempotency throughput tables (for idempotency, those on the memory
 * store), each run under valgrind's callgrind and sent the same requests as there; the figure is the
 * instructions each executes per request, and a contender's share is its baseline's instructions over its
 * own (see `support/instructions.ts`: repeatable to a few percent on a machine whose throughput moves by
 * ten points, but blind to the kernel's work).
 * Needs valgrind (`apt-get install valgrind`); without it the script says so and measures nothing.
 *
 * `run()` returns the table rows, so that `npm run bench` can combine them.
 */
import { fileURLToPath } from 'node:url';
import { contenders as idempotencyContenders, loadShape, SERVER_ENV as IDEMPOTENCY_ENV, serverOf } from './idempotency.js';
import { hasCallgrind, measureInstructions } from './support/instructions.js';
import { printTables, type Row } from './support/print-tables.js';
import { SERVER_ENV as THROTTLE_ENV, THROUGHPUT_CONTENDERS } from './throttle.js';

const SCRIPTS = {
  throttle: fileURLToPath(new URL('./throttle.ts', import.meta.url)),
  idempotency: fileURLToPath(new URL('./idempotency.ts', import.meta.url)),
};

type Part = keyof typeof SCRIPTS;

/** Counts the instructions per request of the throttle and idempotency servers (or only `parts`). */
export async function run(parts: readonly Part[] = ['throttle', 'idempotency']): Promise<Row[]> {
  if (!hasCallgrind()) {
    console.log('bench/instructions: valgrind is not installed (apt-get install valgrind): nothing counted');
    return [];
  }
  const rows: Row[] = [];
  if (parts.includes('throttle')) {
    rows.push(
      ...(await measureInstructions(
        THROUGHPUT_CONTENDERS,
        { script: SCRIPTS.throttle, env: THROTTLE_ENV, shapeOf: () => ({ path: '/' }) },
        'throttle',
      )),
    );
  }
  if (parts.includes('idempotency')) {
    rows.push(
      ...(await measureInstructions(
        // The Redis store's round trips are not the server's instructions: its rows would count only the client's share.
        idempotencyContenders({ skipRedis: true }),
        { script: SCRIPTS.idempotency, env: IDEMPOTENCY_ENV, serverOf, shapeOf: (kind) => loadShape(kind, `${Date.now().toString(36)}-${process.pid}`) },
        'idempotency',
      )),
    );
  }
  return rows;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const parts = process.argv.slice(2);
  for (const part of parts) {
    if (!(part in SCRIPTS)) throw new TypeError(`bench/instructions: unknown part ${part} (throttle, idempotency)`);
  }
  printTables('Instructions', await run(parts.length > 0 ? (parts as Part[]) : undefined));
}
