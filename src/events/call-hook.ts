/**
 * Calls a user's hook or logger method and lets nothing it does reach the caller: a throw is caught, and so is
 * the rejection of a promise it returns (an `async` hook type-checks wherever `(event) => void` is expected; its
 * rejection, left unhandled, would end the process under Node's default `--unhandled-rejections=throw`).
 * @internal
 */
export function callHook<E>(hook: ((event: E) => unknown) | undefined, event: E): void {
  if (hook === undefined) return;
  try {
    quiet(hook(event));
  } catch {
    // a failing hook never changes an answer
  }
}

/** Handles the rejection of whatever thenable `value` is, reading `then` once (a getter of it may throw). @internal */
export function quiet(value: unknown): void {
  if ((typeof value !== 'object' && typeof value !== 'function') || value === null) return;
  try {
    const then = (value as { then?: unknown }).then;
    if (typeof then === 'function') (then as (ok: unknown, fail: unknown) => unknown).call(value, undefined, ignore);
  } catch {
    // a thenable whose then throws has nothing left to reject
  }
}

function ignore(): void {}
