/**
 * Native scheduling primitives, captured once when this module loads, before
 * `patch.ts` (or anything else) can replace the globals. Every other module
 * of gevent-ts schedules through these and never through the globals.
 *
 * @module
 */

// deno-lint-ignore no-explicit-any
type AnyFn = (...args: any[]) => void;

/** The runtime's own `setTimeout`, captured at load. */
export const nativeSetTimeout: (fn: AnyFn, ms: number) => unknown = globalThis
  .setTimeout as unknown as (fn: AnyFn, ms: number) => unknown;

/** The runtime's own `clearTimeout`, captured at load. */
export const nativeClearTimeout: (handle: unknown) => void = globalThis
  .clearTimeout as unknown as (handle: unknown) => void;

/** The runtime's own `queueMicrotask`, captured at load. */
export const nativeQueueMicrotask: (fn: () => void) => void =
  globalThis.queueMicrotask;

const perf = globalThis.performance;
const perfNow = perf.now;

/** Milliseconds from the runtime's monotonic clock (`performance.now`). */
export function nativeNow(): number {
  return perfNow.call(perf);
}

const gSetImmediate =
  (globalThis as { setImmediate?: (fn: () => void) => unknown })
    .setImmediate;

/**
 * Runs `fn` as a macrotask, after pending I/O and timers had a chance to run.
 * `setImmediate` exists in Deno and Node (~1 µs); elsewhere a 0 ms timer.
 */
export const nativeSetImmediate: (fn: () => void) => void = gSetImmediate
  ? (fn) => {
    gSetImmediate(fn);
  }
  : (fn) => {
    nativeSetTimeout(fn, 0);
  };

const denoNs = (globalThis as {
  Deno?:
    | ({ refTimer?: (id: number) => void; unrefTimer?: (id: number) => void })
    | undefined;
}).Deno;

/**
 * Lets a native timer keep the process alive (`ref`) or not (`unref`):
 * `Deno.refTimer`/`Deno.unrefTimer` on Deno, the handle's methods on Node.
 */
export function nativeTimerRef(handle: unknown, ref: boolean): void {
  if (typeof handle === "number") {
    if (ref) denoNs?.refTimer?.(handle);
    else denoNs?.unrefTimer?.(handle);
    return;
  }
  const h = handle as { ref?: () => void; unref?: () => void } | null;
  if (ref) h?.ref?.();
  else h?.unref?.();
}

/** Writes one line to standard error without going through a patched console. */
export const nativeConsoleError: (...data: unknown[]) => void = globalThis
  .console.error.bind(globalThis.console);
