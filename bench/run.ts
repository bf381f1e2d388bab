/**
 * `npm run bench`: runs every benchmark script in one go and prints one combined table (each script
 * measures its own baseline, a bare server or a peer library, in the same run), then writes
 * bench/RESULTS.md with a description of the machine.
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';

type Row = Record<string, string | number>;
interface BenchModule {
  run(): Promise<Row[]>;
}

const SCRIPTS = ['allowlist', 'throttle', 'idempotency', 'client'] as const;

function machine(): string {
  const cpus = os.cpus();
  return `${cpus.length} x ${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${os.type()} ${os.release()}, Node.js ${process.version}`;
}

function table(rows: Row[]): string {
  const columns = [...new Set(rows.flatMap((row) => Object.keys(row)))];
  const lines = [`| ${columns.join(' | ')} |`, `|${columns.map(() => '---').join('|')}|`];
  for (const row of rows) lines.push(`| ${columns.map((c) => String(row[c] ?? '')).join(' | ')} |`);
  return lines.join('\n');
}

const only = process.argv.slice(2);
const sections: string[] = [];
for (const name of SCRIPTS) {
  if (only.length > 0 && !only.includes(name)) continue;
  const started = Date.now();
  console.log(`\n## ${name}`);
  const mod = (await import(`./${name}.ts`)) as BenchModule;
  const rows = await mod.run();
  const text = table(rows);
  console.log(text);
  console.log(`(${((Date.now() - started) / 1000).toFixed(0)} s)`);
  sections.push(`## ${name}\n\n${text}\n`);
}

const report = `# bulwark benchmark results

Machine: ${machine()}.
Date: ${new Date().toISOString().slice(0, 10)}.
Reproduce with \`npm ci && npm run bench\` (or \`npm run bench -- throttle\` for one script). Every ratio is
against a baseline measured in the same run on the same machine: a bare server without bulwark, or a peer
library in the same app.

${sections.join('\n')}`;
writeFileSync(join(import.meta.dirname, 'RESULTS.md'), report);
console.log('\nwrote bench/RESULTS.md');
