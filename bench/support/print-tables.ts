/** Rows of a benchmark table; a `table` column, when present, splits them into several tables. */
export type Row = Record<string, string | number>;

/**
 * Prints a benchmark's rows as console tables, one per value of their `table` column, each titled
 * `${title}: ${table}`.
 */
export function printTables(title: string, rows: Row[]): void {
  const names = [...new Set(rows.map((row) => String(row.table ?? '')))];
  for (const name of names) {
    const part = rows.filter((row) => String(row.table ?? '') === name).map(({ table: _table, ...rest }) => rest);
    console.log(`\n${name ? `${title}: ${name}` : title}`);
    console.table(part);
  }
}
