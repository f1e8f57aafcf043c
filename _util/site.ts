/**
 * Owns reading a call site from the stack: where the code that called a
 * given function is (`file:line:col`), for spawn sites, the creation sites
 * of primitives and `patchSync` reports — captured cheaply (the runtime
 * formats the frames only when a report reads them) and, by default, at a
 * bounded rate.
 *
 * @module
 */

type CaptureStackTrace = (holder: object, below: unknown) => void;

const ErrorCtor = Error as unknown as {
  captureStackTrace?: CaptureStackTrace;
  stackTraceLimit?: number | undefined;
};
const capture: CaptureStackTrace | null =
  typeof ErrorCtor.captureStackTrace === "function"
    ? ErrorCtor.captureStackTrace
    : null;
/** Whether the frame count may be set for a capture (not frozen). */
const limitWritable =
  Object.getOwnPropertyDescriptor(Error, "stackTraceLimit")?.writable === true;

/** Frames a capture keeps: enough to get past the library's own. */
const FRAMES = 8;

const FRAME_RE = /\(([^()]+)\)\s*$/;
const BARE_RE = /at (.+)$/;

/** `file:line:col` of one "    at …" line (or the line itself). */
function locationOf(frame: string): string {
  const m = frame.match(FRAME_RE) ?? frame.match(BARE_RE);
  return m ? m[1].trim() : frame.trim();
}

function fileOf(frame: string): string | null {
  const m = frame.match(FRAME_RE) ?? frame.match(BARE_RE);
  if (m === null) return null;
  return m[1].trim().replace(/:\d+:\d+$/, "");
}

function dirOf(file: string): string {
  return file.slice(0, file.lastIndexOf("/") + 1);
}

let ownFile: string | null | undefined;

/**
 * Whether `file` is the library's: the file this module runs in (the
 * bundle), or the source modules — those at the root of the folder above
 * this one's and in its private folders (`_core/`, `_util/`, `_patch/`),
 * not its tests; or the runtime's own (`node:`, `ext:`).
 */
function isLibrary(file: string): boolean {
  if (ownFile === undefined) {
    const frame = new Error().stack?.split("\n")[1];
    ownFile = frame === undefined ? null : fileOf(frame);
  }
  if (file.startsWith("node:") || file.startsWith("ext:")) return true;
  const own = ownFile;
  if (own === null) return false;
  if (file === own) return true;
  const root = dirOf(dirOf(own).slice(0, -1)); // the folder above _util/
  const dir = dirOf(file);
  return dir === root ||
    (dir.startsWith(root) && /^_\w+\/$/.test(dir.slice(root.length)));
}

/** The "    at …" lines of `stack` outside the library. */
function userLines(stack: string): string[] {
  return stack.split("\n").slice(1).filter((line) => {
    if (!/^\s+at .*:\d+:\d+\)?\s*$/.test(line)) return false;
    const file = fileOf(line);
    return file === null || !isLibrary(file);
  });
}

/**
 * A call site captured cheaply: the runtime's frames, formatted and parsed
 * only when {@linkcode Site.text} or {@linkcode Site.frames} is first read.
 */
export class Site {
  /** Set by `Error.captureStackTrace`; formatted on first read. */
  declare stack?: string;
  #text: string | null | undefined = undefined;

  /**
   * `file:line:col` of the first captured frame outside the library (else
   * the first frame); null when nothing was captured.
   */
  get text(): string | null {
    if (this.#text !== undefined) return this.#text;
    const stack = this.stack;
    let text: string | null = null;
    if (typeof stack === "string") {
      const user = userLines(stack);
      const first = user[0] ?? stack.split("\n")[1];
      text = first === undefined ? null : locationOf(first);
    }
    return this.#text = text;
  }

  /** The captured frames outside the library, as "    at …" lines. */
  frames(): string[] {
    const stack = this.stack;
    return typeof stack === "string" ? userLines(stack) : [];
  }

  /** {@linkcode Site.text}, or "unknown". */
  toString(): string {
    return this.text ?? "unknown";
  }
}

/**
 * Captures the frames below `below` (the caller of the public function
 * called), up to {@linkcode FRAMES}, without formatting them: about a
 * microsecond. Null where stacks are not captured.
 */
export function captureSite(below: unknown): Site | null {
  if (capture === null) return null;
  const site = new Site();
  if (limitWritable) {
    const limit = ErrorCtor.stackTraceLimit;
    ErrorCtor.stackTraceLimit = FRAMES;
    capture(site, below);
    ErrorCtor.stackTraceLimit = limit;
  } else {
    capture(site, below);
  }
  return site;
}

/**
 * Where each primitive that recorded one was created (see `noteCreation`
 * in `_core/hooks.ts`): what `LoopExit` names it by.
 */
export const creationSites: WeakMap<object, Site> = new WeakMap();

/**
 * The key of a method some primitives have (a Semaphore): the greenlets
 * holding it, as `LoopExit` names them; null when it cannot tell.
 */
export const HOLDERS: unique symbol = Symbol("gevent-ts holders");

/** How sites are recorded: see {@linkcode setSiteMode}. */
export type SiteMode = "all" | "bounded" | "off";

/** Sites a window of the bounded mode records at most. */
export const SITE_BUDGET = 200;
/** The window of the bounded mode, in milliseconds. */
export const SITE_WINDOW_MS = 100;

let mode: SiteMode = "bounded";
let left = SITE_BUDGET;
let windowStart = -Infinity;
let skipped = 0;
const perf = globalThis.performance;

/**
 * Sets how {@linkcode sampleSite} records: `"all"` — every one;
 * `"bounded"` (the default) — up to {@linkcode SITE_BUDGET} per
 * {@linkcode SITE_WINDOW_MS} (a program spawning fewer greenlets than that
 * gets every site, and a burst costs at most that many captures); `"off"` —
 * none.
 */
export function setSiteMode(m: SiteMode): void {
  mode = m;
  left = SITE_BUDGET;
  windowStart = -Infinity;
}

/** The mode set by {@linkcode setSiteMode}. */
export function siteMode(): SiteMode {
  return mode;
}

/** The site below `below` if the mode records one now (see {@linkcode setSiteMode}). */
export function sampleSite(below: unknown): Site | null {
  if (left > 0) {
    if (mode !== "bounded") return mode === "all" ? captureSite(below) : null;
    left--;
    return captureSite(below);
  }
  if (mode !== "bounded") return mode === "all" ? captureSite(below) : null;
  // out of budget: look at the clock once in 64 calls for a new window
  if ((++skipped & 63) !== 1) return null;
  const now = perf.now();
  if (windowStart === -Infinity) windowStart = now; // the first window ends
  if (now - windowStart < SITE_WINDOW_MS) return null;
  windowStart = now;
  left = SITE_BUDGET - 1;
  return captureSite(below);
}

/**
 * The frame that called `fn`: `file:line:col`, or the frame's text; null
 * where stacks are not captured. Formats at once (slow): for rare reports.
 */
export function callerSite(fn: unknown): string | null {
  if (capture === null) return null;
  const holder: { stack?: string } = {};
  capture(holder, fn);
  const frame = holder.stack?.split("\n")[1];
  return frame === undefined ? null : locationOf(frame);
}

/**
 * The first frame of the current stack outside the library (`file:line:col`),
 * for reports that name the user's code; null where stacks are not
 * captured. Formats at once (slow): for rare reports.
 */
export function userSite(): string | null {
  const stack = new Error().stack;
  if (stack === undefined) return null;
  const first = userLines(stack)[0];
  return first === undefined ? null : locationOf(first);
}
