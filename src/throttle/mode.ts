import type { GuardMode } from '../events/channels.js';

/** Validates a `mode` option (`TypeError` naming it) and returns the mode to start in. @internal */
export function validateMode(what: string, mode: unknown): GuardMode {
  if (mode === undefined) return 'enforce';
  if (mode !== 'enforce' && mode !== 'shadow') throw new TypeError(`${what}: options.mode must be 'enforce' or 'shadow'`);
  return mode;
}

/** Validates the argument of a guard's `setMode(mode)`. @internal */
export function checkSetMode(what: string, mode: unknown): GuardMode {
  if (mode !== 'enforce' && mode !== 'shadow') throw new TypeError(`${what}: setMode(mode) takes 'enforce' or 'shadow'`);
  return mode;
}

/** Validates an optional boolean option. @internal */
export function validateFlag(what: string, field: string, value: unknown): boolean {
  if (value !== undefined && typeof value !== 'boolean') throw new TypeError(`${what}: options.${field} must be a boolean`);
  return value === true;
}
