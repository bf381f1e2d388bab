/** The process warnings with `code` emitted while `fn` runs (they are emitted on the next tick). */
export async function warningsDuring(code: string, fn: () => unknown): Promise<Error[]> {
  const warnings: Error[] = [];
  const onWarning = (warning: Error) => warnings.push(warning);
  process.on('warning', onWarning);
  try {
    await fn();
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off('warning', onWarning);
  }
  return warnings.filter((w) => (w as { code?: string }).code === code);
}
