/**
 * Owns reading a call site from the stack: where the code that called a
 * given function is (`file:line:col`), for spawn sites and `patchSync`
 * reports.
 *
 * @module
 */

type CaptureStackTrace = (holder: object, below: unknown) => void;

/**
 * The frame that called `fn`: `file:line:col`, or the frame's text; null
 * where stacks are not captured.
 */
export function callerSite(fn: unknown): string | null {
  const capture =
    (Error as unknown as { captureStackTrace?: CaptureStackTrace })
      .captureStackTrace;
  if (typeof capture !== "function") return null;
  const holder: { stack?: string } = {};
  capture(holder, fn);
  const frame = holder.stack?.split("\n")[1];
  if (frame === undefined) return null;
  const m = frame.match(/\(([^()]+)\)\s*$/) ?? frame.match(/at (.+)$/);
  return m ? m[1].trim() : frame.trim();
}
