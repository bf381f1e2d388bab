/** The documented parts of an error body, read defensively. */
export interface ParsedErrorBody {
  code: string;
  message: string | undefined;
  details: Record<string, unknown>;
}

const RESERVED = new Set(['message', 'error', 'type', 'title', 'status', 'detail', 'instance']);

/**
 * Parses `{"message": ..., "error": ...}` (or its problem+json form) from text. Returns undefined when
 * the text is not such a body: never throws.
 */
export function parseErrorBody(text: string): ParsedErrorBody | undefined {
  if (text.length === 0 || text.length > 1_000_000) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const record = value as Record<string, unknown>;
  const code = record.error;
  if (typeof code !== 'string' || !/^[a-z][a-z0-9_]{0,99}$/.test(code)) return undefined;
  const message =
    typeof record.message === 'string'
      ? record.message
      : typeof record.detail === 'string'
        ? record.detail
        : undefined;
  const details: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(record)) {
    if (!RESERVED.has(key)) details[key] = field;
  }
  return { code, message, details };
}
