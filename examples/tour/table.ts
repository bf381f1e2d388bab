/**
 * The tour's rows as a plain-text table that fits a terminal of a given width (100 columns by default):
 * long cells wrap onto further lines of the same row.
 */
import type { TourRow } from '../tour.js';

const HEADINGS = ['STATUS', 'CODE', 'REQUEST', 'WHAT THE CLIENT DID'] as const;
const GAP = '  ';

/**
 * Formats rows as a table no wider than `width` columns.
 *
 * @example
 * ```ts
 * console.log(formatTourTable(await runTour(target)));
 * ```
 */
export function formatTourTable(rows: readonly TourRow[], width = 100): string {
  const cells = rows.map((row) => [row.status === undefined ? '-' : String(row.status), row.code || '-', row.request, row.client]);
  const status = Math.max(HEADINGS[0].length, ...cells.map((c) => c[0]!.length));
  const code = Math.max(HEADINGS[1].length, ...cells.map((c) => c[1]!.length));
  const rest = Math.max(20, width - status - code - 3 * GAP.length);
  const request = Math.floor(rest / 2);
  const client = rest - request;
  const widths = [status, code, request, client];
  const rule = widths.map((w) => '-'.repeat(w)).join(GAP);
  const lines = [line([...HEADINGS], widths), rule];
  for (const row of cells) {
    const wrapped = row.map((cell, i) => wrap(cell, widths[i]!));
    const height = Math.max(...wrapped.map((w) => w.length));
    for (let i = 0; i < height; i++) lines.push(line(wrapped.map((w) => w[i] ?? ''), widths));
  }
  return lines.join('\n');
}

function line(cells: string[], widths: number[]): string {
  return cells
    .map((cell, i) => cell.padEnd(widths[i]!))
    .join(GAP)
    .trimEnd();
}

/** Splits text into lines of at most `width` characters, at spaces when it can. */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let current = '';
  for (let word of text.split(' ')) {
    while (word.length > width) {
      if (current) lines.push(current);
      current = '';
      lines.push(word.slice(0, width));
      word = word.slice(width);
    }
    if (!current) current = word;
    else if (current.length + 1 + word.length <= width) current += ` ${word}`;
    else {
      lines.push(current);
      current = word;
    }
  }
  if (current || lines.length === 0) lines.push(current);
  return lines;
}
