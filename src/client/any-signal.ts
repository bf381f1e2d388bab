/**
 * `anySignal`: a signal that aborts when either of two signals does (the caller's and an attempt's own).
 */

export function anySignal(a: AbortSignal, b: AbortSignal): AbortSignal {
  if (typeof AbortSignal.any === 'function') return AbortSignal.any([a, b]);
  // Node 20.0 to 20.2: link by hand.
  const controller = new AbortController();
  const forward = (source: AbortSignal) => () => controller.abort(source.reason);
  a.addEventListener('abort', forward(a), { once: true, signal: controller.signal });
  b.addEventListener('abort', forward(b), { once: true, signal: controller.signal });
  return controller.signal;
}
