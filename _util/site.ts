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

function fileOf(frame: string): string | null {
  const m = frame.match(/\(([^()]+)\)\s*$/) ?? frame.match(/at (.+)$/);
  if (m === null) return null;
  return m[1].trim().replace(/:\d+:\d+$/, "");
}

function dirOf(file: string): string {
  return file.slice(0, file.lastIndexOf("/") + 1);
}

/**
 * The first frame of the current stack outside the library (`file:line:col`),
 * for reports that name the user's code; null where stacks are not
 * captured. The library is the file this function runs in (the bundle), or
 * the source modules: those at the root of the folder above this one's and
 * in its private folders (`_core/`, `_util/`, `_patch/`), not its tests.
 */
export function userSite(): string | null {
  const stack = new Error().stack;
  if (stack === undefined) return null;
  const frames = stack.split("\n").slice(1);
  const own = frames.length === 0 ? null : fileOf(frames[0]);
  if (own === null) return null;
  const root = dirOf(dirOf(own).slice(0, -1)); // the folder above _util/
  for (const frame of frames) {
    const file = fileOf(frame);
    if (file === null || file === own) continue;
    if (file.startsWith("node:") || file.startsWith("ext:")) continue;
    const dir = dirOf(file);
    if (
      dir === root ||
      (dir.startsWith(root) && /^_\w+\/$/.test(dir.slice(root.length)))
    ) continue;
    const m = frame.match(/\(([^()]+)\)\s*$/) ?? frame.match(/at (.+)$/);
    return m ? m[1].trim() : frame.trim();
  }
  return null;
}
