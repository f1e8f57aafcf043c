/**
 * Monkey patching: routes the runtime's own asynchronous APIs through the
 * hub, so that `kill()`, `Timeout`, `wait()` and run info see them.
 *
 * JavaScript has no stackful coroutines, so no patch can turn a synchronous
 * call into a switch. What patching does here:
 * - `patchTimers()`: global `setTimeout`/`setInterval`/`clearTimeout`/
 *   `clearInterval` run on the hub's timer heap and clock, call back in the
 *   greenlet that armed them, show in run info, and die with a killed greenlet.
 * - `patchFetch()`: every `fetch` gets its own AbortSignal (combined with the
 *   caller's); a kill or `Timeout` delivered to the calling greenlet aborts
 *   the request at once. Reading the body is covered too.
 * - `patchDeno()`: `Deno.readFile`, `readTextFile`, `writeFile`,
 *   `writeTextFile` and `Deno.Command#output` likewise (a no-op on Node).
 * - `patchSync({ mode })`: synchronous blocking calls made inside greenlets
 *   (`Deno.readFileSync` and friends, `Deno.Command#outputSync`,
 *   `Atomics.wait`) are reported (`"warn"`) or refused (`"throw"`).
 *
 * Patch first, before other modules capture the globals:
 * `import "<package>/patch/all";` as the first import does it. This module is
 * imported by nothing else; importing gevent-ts patches nothing.
 *
 * @module
 */

import { nativeConsoleError, nativeNow } from "./_native.ts";
import type { Timer } from "./_timer_heap.ts";
import { checkOptions, describe } from "./_checks.ts";
import { als, currentTask } from "./_context.ts";
import { coreOf, type HubCore } from "./_hub_core.ts";
import type { DescribedTimer } from "./_run_info.ts";
import { runUserTask, type UserTask } from "./_run_queue.ts";
import { trackOp } from "./_track.ts";
import type { Task } from "./_waiter.ts";
import type { Greenlet } from "./greenlet.ts";
// Loads the hub and greenlets, so that `patch/all` may come before any other import.
import "./mod.ts";

// ---------------------------------------------------------------------------
// The registry: every replaced property and how to put it back

interface Patch {
  target: object;
  key: string;
  descriptor: PropertyDescriptor | undefined;
}

const patches = new Map<string, Patch>();

function install(
  name: string,
  target: object,
  key: string,
  value: unknown,
): void {
  if (patches.has(name)) return;
  const descriptor = Object.getOwnPropertyDescriptor(target, key);
  patches.set(name, { target, key, descriptor });
  Object.defineProperty(target, key, {
    value,
    writable: true,
    configurable: true,
    enumerable: descriptor?.enumerable ?? false,
  });
}

function restore(name: string): void {
  const p = patches.get(name);
  if (p === undefined) return;
  patches.delete(name);
  if (p.descriptor !== undefined) {
    Object.defineProperty(p.target, p.key, p.descriptor);
  } else {
    delete (p.target as Record<string, unknown>)[p.key];
  }
}

function resolvePath(name: string): unknown {
  let v: unknown = globalThis;
  for (const part of name.split(".")) {
    if (v === null || v === undefined) return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}

/**
 * Whether `name` is patched now. Names: `"setTimeout"`, `"setInterval"`,
 * `"clearTimeout"`, `"clearInterval"`, `"fetch"`, `"Deno.readFile"`,
 * `"Deno.readTextFile"`, `"Deno.writeFile"`, `"Deno.writeTextFile"`,
 * `"Deno.Command"`, `"Deno.readFileSync"`, `"Deno.readTextFileSync"`,
 * `"Deno.writeFileSync"`, `"Deno.writeTextFileSync"`,
 * `"Deno.Command.prototype.outputSync"`, `"Atomics.wait"`.
 *
 * @param name A patched global's path, e.g. `"setTimeout"`.
 * @returns True while the patch is installed.
 *
 * @example
 * ```ts
 * import { isPatched, patchTimers, unpatchAll } from "./patch.ts";
 * patchTimers();
 * console.log(isPatched("setTimeout")); // true
 * unpatchAll();
 * ```
 */
export function isPatched(name: string): boolean {
  return patches.has(name);
}

/**
 * The runtime's own value behind a patched name (the value itself when not
 * patched).
 *
 * @param name A global's path, e.g. `"fetch"` or `"Deno.readFile"`.
 * @returns The original function (or undefined if the runtime has none).
 *
 * @example
 * ```ts
 * import { getOriginal, patchFetch, unpatchAll } from "./patch.ts";
 * const before = globalThis.fetch;
 * patchFetch();
 * console.log(getOriginal("fetch") === before); // true
 * unpatchAll();
 * ```
 */
export function getOriginal(name: string): unknown {
  const p = patches.get(name);
  if (p === undefined) return resolvePath(name);
  return p.descriptor?.get !== undefined
    ? p.descriptor.get.call(p.target)
    : p.descriptor?.value;
}

/**
 * Restores every patched global exactly as it was (same identity).
 *
 * @example
 * ```ts
 * import { patchAll, unpatchAll } from "./patch.ts";
 * const original = globalThis.setTimeout;
 * patchAll();
 * unpatchAll();
 * console.log(globalThis.setTimeout === original); // true
 * ```
 */
export function unpatchAll(): void {
  for (const name of [...patches.keys()].reverse()) restore(name);
  syncMode = "off";
}

// ---------------------------------------------------------------------------
// Timers

const TIMER_ID_BASE = 1 << 30; // far above the runtimes' own ids
let nextTimerId = TIMER_ID_BASE;
const timers = new Map<number, PatchedTimer>();
const ownedTimers = new WeakMap<Task, Set<PatchedTimer>>();
const denoNs = (globalThis as { Deno?: Record<string, unknown> }).Deno;
const isDeno = denoNs !== undefined;

// deno-lint-ignore no-explicit-any
type TimerCallback = (...args: any[]) => void;

class PatchedTimer implements UserTask, DescribedTimer {
  readonly id: number;
  readonly owner: Task;
  readonly core: HubCore;
  readonly fn: TimerCallback;
  readonly args: unknown[];
  readonly ms: number;
  readonly repeat: boolean;
  timer: Timer | null = null;
  ref = true;
  cleared = false;

  constructor(
    owner: Task,
    fn: TimerCallback,
    ms: number,
    args: unknown[],
    repeat: boolean,
  ) {
    this.id = nextTimerId++;
    this.owner = owner;
    this.core = coreOf(owner);
    this.fn = fn;
    this.ms = ms;
    this.args = args;
    this.repeat = repeat;
  }

  arm(): void {
    const timers = this.core.timers;
    this.timer = timers.add(this.ms, fireTimer, this);
    if (!this.ref) timers.setRef(this.timer, false);
  }

  setRef(ref: boolean): void {
    this.ref = ref;
    if (this.timer !== null) this.core.timers.setRef(this.timer, ref);
  }

  clear(): void {
    if (this.cleared) return;
    this.cleared = true;
    timers.delete(this.id);
    ownedTimers.get(this.owner)?.delete(this);
    if (this.timer !== null) {
      this.core.cancelTimer(this.timer);
      this.timer = null;
    }
  }

  describeTimer(): string {
    return `${this.repeat ? "setInterval" : "setTimeout"}(${
      this.fn.name || "anonymous"
    }, ${this.ms} ms)`;
  }

  runUser(): void {
    if (this.cleared) return;
    if (this.repeat) this.arm();
    else this.clear();
    als.run(this.owner, callTimer, this);
  }
}

function fireTimer(arg: unknown): void {
  const t = arg as PatchedTimer;
  t.timer = null;
  if (!t.cleared) t.core.schedule(runUserTask, t);
}

function callTimer(t: PatchedTimer): void {
  try {
    const r = t.fn(...t.args) as unknown;
    if (
      r !== null && typeof r === "object" &&
      typeof (r as PromiseLike<unknown>).then === "function"
    ) {
      (r as PromiseLike<unknown>).then(
        undefined,
        (e) => t.core.reportError(t.owner, e),
      );
    }
  } catch (e) {
    t.core.reportError(t.owner, e);
  }
}

function onOwnerDeath(g: Greenlet): void {
  if (!g.signal.aborted) return; // one that ends unkilled leaves its timers
  const owned = ownedTimers.get(taskOf.get(g)!);
  if (owned === undefined) return;
  for (const t of [...owned]) t.clear();
}

let handleTimer: (h: TimerHandle) => PatchedTimer;

/** What the patched `setTimeout` returns on Node (Deno: the number). */
class TimerHandle {
  readonly #t: PatchedTimer;
  constructor(t: PatchedTimer) {
    this.#t = t;
  }
  ref(): this {
    this.#t.setRef(true);
    return this;
  }
  unref(): this {
    this.#t.setRef(false);
    return this;
  }
  hasRef(): boolean {
    return this.#t.ref;
  }
  refresh(): this {
    const t = this.#t;
    if (!t.cleared && t.timer !== null) {
      t.core.cancelTimer(t.timer);
      t.arm();
    }
    return this;
  }
  close(): this {
    this.#t.clear();
    return this;
  }
  [Symbol.toPrimitive](): number {
    return this.#t.id;
  }
  static {
    handleTimer = (h) => h.#t;
  }
}

const taskOf = new WeakMap<Greenlet, Task>();

function startTimer(
  kind: string,
  fn: unknown,
  ms: unknown,
  args: unknown[],
  repeat: boolean,
): number | TimerHandle {
  if (typeof fn !== "function") {
    throw new TypeError(
      `Cannot ${kind}: callback must be a function, received ${describe(fn)}`,
    );
  }
  let delay = Number(ms);
  if (!(delay >= 0) || delay === Infinity) delay = 0; // as the runtimes do
  if (repeat && delay < 1) delay = 1;
  const task = currentTask();
  const t = new PatchedTimer(task, fn as TimerCallback, delay, args, repeat);
  timers.set(t.id, t);
  if (!task.isMain) {
    let owned = ownedTimers.get(task);
    if (owned === undefined) {
      ownedTimers.set(task, owned = new Set());
      const g = t.core.greenletOf(task) as Greenlet;
      taskOf.set(g, task);
      g.rawlink(onOwnerDeath);
    }
    owned.add(t);
  }
  t.arm();
  return isDeno ? t.id : new TimerHandle(t);
}

function timerOf(handle: unknown): PatchedTimer | undefined {
  if (typeof handle === "number") return timers.get(handle);
  if (handle instanceof TimerHandle) return handleTimer(handle);
  return undefined;
}

/**
 * Replaces the global `setTimeout`, `setInterval`, `clearTimeout` and
 * `clearInterval` with versions on the hub's clock: callbacks run from the
 * hub's run queue in the greenlet that armed them, timers show in run info,
 * and killing a greenlet cancels the timers it armed. Timers armed before
 * patching keep working with the patched `clear*`. As natively, a timer can
 * stop keeping the process alive: `unref()` on Node's handle,
 * `Deno.unrefTimer(id)` on Deno (patched to know these ids). Patching twice
 * is a no-op.
 *
 * @example
 * ```ts
 * import { getCurrent, spawn } from "./mod.ts";
 * import { patchTimers, unpatchAll } from "./patch.ts";
 * patchTimers();
 * const g = spawn(() =>
 *   new Promise<string>((resolve) => setTimeout(() => resolve(getCurrent().name), 5))
 * );
 * g.name = "armer";
 * console.log(await g.get()); // "armer"
 * unpatchAll();
 * ```
 */
export function patchTimers(): void {
  for (
    const [setName, clearName, repeat] of [
      ["setTimeout", "clearTimeout", false],
      ["setInterval", "clearInterval", true],
    ] as const
  ) {
    const nativeClear = resolvePath(clearName) as (h: unknown) => void;
    // computed names keep `setTimeout.name === "setTimeout"`
    const replacements = {
      [setName](fn: unknown, ms?: unknown, ...args: unknown[]) {
        return startTimer(setName, fn, ms, args, repeat);
      },
      [clearName](handle?: unknown) {
        const t = timerOf(handle);
        if (t !== undefined) t.clear();
        else nativeClear(handle); // armed before patching
      },
    };
    install(setName, globalThis, setName, replacements[setName]);
    install(clearName, globalThis, clearName, replacements[clearName]);
  }
  // Deno marks timers with Deno.refTimer/unrefTimer(id): accept our ids too.
  if (denoNs !== undefined) {
    for (
      const [key, ref] of [["refTimer", true], ["unrefTimer", false]] as const
    ) {
      const original = denoNs[key];
      if (typeof original !== "function") continue;
      install(`Deno.${key}`, denoNs, key, function (id: number) {
        const t = timers.get(id);
        if (t !== undefined) t.setRef(ref);
        else original.call(denoNs, id);
      });
    }
  }
}

// ---------------------------------------------------------------------------
// fetch

const BODY_METHODS = [
  "arrayBuffer",
  "blob",
  "bytes",
  "formData",
  "json",
  "text",
] as const;

/** `controller`'s signal, also aborted by `other` (the caller's signal). */
function combine(controller: AbortController, other: unknown): AbortSignal {
  if (other === undefined || other === null) return controller.signal;
  const signal = other as AbortSignal;
  if (typeof AbortSignal.any === "function") {
    return AbortSignal.any([signal, controller.signal]);
  }
  // Node < 20.3 has no AbortSignal.any
  if (signal.aborted) controller.abort(signal.reason);
  else {
    signal.addEventListener("abort", () => controller.abort(signal.reason), {
      once: true,
    });
  }
  return controller.signal;
}

function trackBody(res: Response, what: string, controller: AbortController) {
  for (const m of BODY_METHODS) {
    const original = (res as unknown as Record<string, unknown>)[m];
    if (typeof original !== "function") continue;
    Object.defineProperty(res, m, {
      configurable: true,
      writable: true,
      value: (...args: unknown[]) =>
        trackOp(
          `${what} (reading the body)`,
          () => original.apply(res, args),
          (reason) => controller.abort(reason),
        ),
    });
  }
  return res;
}

/**
 * Replaces the global `fetch`: each call gets its own AbortSignal, combined
 * with the caller's, and is a switch point of the calling greenlet. A kill or
 * a `Timeout` delivered to it aborts the request at once (the server sees
 * the connection close); a `Timeout` the greenlet survives leaves its later
 * requests alone. Reading the body (`text()`, `json()`, …) is covered too.
 *
 * @example
 * ```ts
 * import { patchFetch, unpatchAll } from "./patch.ts";
 * patchFetch();
 * // const res = await withTimeout(1000, () => fetch(url));
 * unpatchAll();
 * ```
 */
export function patchFetch(): void {
  const original = resolvePath("fetch") as typeof fetch | undefined;
  if (typeof original !== "function") return;
  install(
    "fetch",
    globalThis,
    "fetch",
    function fetch(input: Request | string | URL, init?: RequestInit) {
      const req = input instanceof Request ? input : null;
      const method = init?.method ?? req?.method ?? "GET";
      const url = req !== null ? req.url : String(input);
      const what = `fetch ${method.toUpperCase()} ${url}`;
      const controller = new AbortController();
      const signal = combine(controller, init?.signal ?? req?.signal);
      return trackOp(
        what,
        () =>
          original(input, { ...init, signal }).then((res) =>
            trackBody(res, what, controller)
          ),
        (reason) => controller.abort(reason),
      );
    },
  );
}

// ---------------------------------------------------------------------------
// Deno's async APIs

const OriginalCommand = denoNs?.Command as
  | (new (cmd: string | URL, opts?: { signal?: AbortSignal }) => {
    output(): Promise<unknown>;
  })
  | undefined;

function describeArg(v: unknown): string {
  return typeof v === "string" ? JSON.stringify(v) : String(v);
}

/**
 * Routes Deno's signal-aware async APIs through the hub: `Deno.readFile`,
 * `Deno.readTextFile`, `Deno.writeFile`, `Deno.writeTextFile` and
 * `new Deno.Command(…).output()` become switch points that a kill or
 * `Timeout` aborts at once (a command's process is killed). A no-op on Node.
 *
 * @example
 * ```ts
 * import { patchDeno, unpatchAll } from "./patch.ts";
 * patchDeno();
 * unpatchAll();
 * ```
 */
export function patchDeno(): void {
  if (denoNs === undefined) return;
  for (
    const [name, optIndex] of [
      ["readFile", 1],
      ["readTextFile", 1],
      ["writeFile", 2],
      ["writeTextFile", 2],
    ] as const
  ) {
    const original = denoNs[name];
    if (typeof original !== "function") continue;
    install(`Deno.${name}`, denoNs, name, function (...args: unknown[]) {
      const controller = new AbortController();
      const opts = (args[optIndex] ?? {}) as { signal?: AbortSignal };
      args[optIndex] = { ...opts, signal: combine(controller, opts.signal) };
      return trackOp(
        `Deno.${name}(${describeArg(args[0])})`,
        () => original.apply(denoNs, args),
        (reason) => controller.abort(reason),
      );
    });
  }
  if (OriginalCommand !== undefined) {
    const Base = OriginalCommand;
    class Command extends Base {
      #controller: AbortController;
      #what: string;
      constructor(cmd: string | URL, opts?: { signal?: AbortSignal }) {
        const controller = new AbortController();
        super(cmd, { ...opts, signal: combine(controller, opts?.signal) });
        this.#controller = controller;
        this.#what = `Deno.Command(${describeArg(String(cmd))}).output()`;
      }
      override output(): Promise<unknown> {
        return trackOp(
          this.#what,
          () => super.output(),
          (reason) => this.#controller.abort(reason),
        );
      }
    }
    install("Deno.Command", denoNs, "Command", Command);
  }
}

// ---------------------------------------------------------------------------
// Synchronous blocking calls

/**
 * How `patchSync` treats synchronous blocking calls inside greenlets.
 *
 * @example
 * ```ts
 * import { patchSync, type SyncMode, unpatchAll } from "./patch.ts";
 * const mode: SyncMode = "throw";
 * patchSync({ mode });
 * unpatchAll();
 * ```
 */
export type SyncMode = "warn" | "throw" | "off";

/**
 * What `patchSync` reports in `"warn"` mode.
 *
 * @example
 * ```ts
 * import { spawn } from "./mod.ts";
 * import { patchSync, type SyncReport, unpatchAll } from "./patch.ts";
 * const reports: SyncReport[] = [];
 * patchSync({ mode: "warn", report: (r) => void reports.push(r) });
 * await spawn(() => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1)).join();
 * unpatchAll();
 * console.log(reports[0].call); // "Atomics.wait()"
 * ```
 */
export interface SyncReport {
  /** The greenlet that made the call (and so stalled the hub). */
  greenlet: Greenlet;
  /** The call, e.g. `"Deno.readFileSync()"`. */
  call: string;
  /** How long the call blocked the thread, in milliseconds. */
  duration: number;
  /** The asynchronous call to use instead. */
  alternative: string;
}

/**
 * Options for {@linkcode patchSync}.
 *
 * @example
 * ```ts
 * import { patchSync, type PatchSyncOptions, unpatchAll } from "./patch.ts";
 * const options: PatchSyncOptions = { mode: "warn", report: (r) => console.log(r.call) };
 * patchSync(options);
 * unpatchAll();
 * ```
 */
export interface PatchSyncOptions {
  /** `"warn"` (report, default), `"throw"` (refuse) or `"off"` (unpatch). */
  mode?: SyncMode;
  /** Called with each report in `"warn"` mode; default: a line on stderr. */
  report?: (report: SyncReport) => void;
}

/**
 * Thrown by a synchronous blocking call made inside a greenlet while
 * `patchSync({ mode: "throw" })` is in force.
 *
 * @example
 * ```ts
 * import { spawn } from "./mod.ts";
 * import { BlockingCallError, patchSync, unpatchAll } from "./patch.ts";
 * patchSync({ mode: "throw" });
 * const g = spawn(() => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10));
 * await g.join();
 * console.log(g.exception instanceof BlockingCallError); // true
 * unpatchAll();
 * ```
 */
export class BlockingCallError extends Error {
  /** The greenlet that made the call. */
  readonly greenlet: Greenlet;
  /** The call that was refused, e.g. `"Atomics.wait()"`. */
  readonly call: string;
  /** The asynchronous call to use instead. */
  readonly alternative: string;

  /**
   * Creates the error.
   *
   * @param greenlet The greenlet that made the call.
   * @param call The refused call.
   * @param alternative What to call instead.
   */
  constructor(greenlet: Greenlet, call: string, alternative: string) {
    super(
      `Cannot call ${call} in ${greenlet}: it blocks the hub and every greenlet; use ${alternative} instead`,
    );
    this.name = "BlockingCallError";
    this.greenlet = greenlet;
    this.call = call;
    this.alternative = alternative;
  }
}

let syncMode: SyncMode = "off";
let syncReport: (r: SyncReport) => void = defaultSyncReport;

function defaultSyncReport(r: SyncReport): void {
  nativeConsoleError(
    `gevent-ts: ${r.greenlet} blocked the hub for ${
      r.duration.toFixed(1)
    } ms in ${r.call}; use ${r.alternative} instead`,
  );
}

function guardSync(
  call: string,
  alternative: string,
  original: (...args: unknown[]) => unknown,
): (...args: unknown[]) => unknown {
  return function (this: unknown, ...args: unknown[]): unknown {
    const task = als.getStore();
    if (task === undefined || task.isMain || syncMode === "off") {
      return original.apply(this, args);
    }
    const g = coreOf(task).greenletOf(task) as Greenlet;
    if (syncMode === "throw") throw new BlockingCallError(g, call, alternative);
    const t0 = nativeNow();
    try {
      return original.apply(this, args);
    } finally {
      const report = syncReport;
      try {
        report({ greenlet: g, call, duration: nativeNow() - t0, alternative });
      } catch (e) {
        nativeConsoleError("gevent-ts: the patchSync report threw:", e);
      }
    }
  };
}

const SYNC_CALLS: readonly [string, string, string][] = [
  ["Deno.readFileSync", "Deno.readFileSync()", "await Deno.readFile()"],
  [
    "Deno.readTextFileSync",
    "Deno.readTextFileSync()",
    "await Deno.readTextFile()",
  ],
  ["Deno.writeFileSync", "Deno.writeFileSync()", "await Deno.writeFile()"],
  [
    "Deno.writeTextFileSync",
    "Deno.writeTextFileSync()",
    "await Deno.writeTextFile()",
  ],
  [
    "Deno.Command.prototype.outputSync",
    "Deno.Command#outputSync()",
    "await command.output()",
  ],
  ["Atomics.wait", "Atomics.wait()", "await sleep(ms) or Atomics.waitAsync()"],
];

/**
 * Watches synchronous blocking calls made inside greenlets — `Atomics.wait`,
 * `Deno.readFileSync`, `Deno.readTextFileSync`, `Deno.writeFileSync`,
 * `Deno.writeTextFileSync`, `Deno.Command#outputSync` — which stall the hub
 * and every greenlet. `"warn"` lets the call run and reports the greenlet,
 * how long it blocked and the async call to use instead; `"throw"` refuses
 * the call with {@linkcode BlockingCallError}; `"off"` restores the
 * originals. Outside greenlets the calls run untouched.
 *
 * @param options `mode` (default `"warn"`) and `report` callback.
 *
 * @example
 * ```ts
 * import { patchSync, unpatchAll } from "./patch.ts";
 * patchSync({ mode: "warn", report: (r) => console.log(r.call, r.alternative) });
 * unpatchAll();
 * ```
 */
export function patchSync(options: PatchSyncOptions = {}): void {
  checkOptions("patchSync", options);
  const mode = options.mode ?? "warn";
  if (mode !== "warn" && mode !== "throw" && mode !== "off") {
    throw new TypeError(
      `Cannot patchSync: mode must be "warn", "throw" or "off", received ${
        describe(mode)
      }`,
    );
  }
  if (options.report !== undefined && typeof options.report !== "function") {
    throw new TypeError(
      `Cannot patchSync: report must be a function, received ${
        describe(options.report)
      }`,
    );
  }
  syncMode = mode;
  syncReport = options.report ?? defaultSyncReport;
  for (const [name, call, alternative] of SYNC_CALLS) {
    if (mode === "off") {
      restore(name);
      continue;
    }
    const dot = name.lastIndexOf(".");
    const target = name === "Deno.Command.prototype.outputSync"
      ? OriginalCommand?.prototype
      : resolvePath(name.slice(0, dot));
    const key = name.slice(dot + 1);
    const original = (target as Record<string, unknown> | undefined)?.[key];
    if (typeof original !== "function") continue;
    install(
      name,
      target as object,
      key,
      guardSync(call, alternative, original as (...a: unknown[]) => unknown),
    );
  }
}

// ---------------------------------------------------------------------------

/**
 * Options for {@linkcode patchAll}: each part can be left out.
 *
 * @example
 * ```ts
 * import { isPatched, patchAll, type PatchAllOptions, unpatchAll } from "./patch.ts";
 * const options: PatchAllOptions = { timers: false, sync: "off" };
 * patchAll(options);
 * console.log(isPatched("setTimeout"), isPatched("fetch")); // false true
 * unpatchAll();
 * ```
 */
export interface PatchAllOptions {
  /** Patch the global timers (default true). */
  timers?: boolean;
  /** Patch `fetch` (default true). */
  fetch?: boolean;
  /** Patch Deno's async file and process APIs (default true; no-op on Node). */
  deno?: boolean;
  /** `patchSync` mode (default `"warn"`). */
  sync?: SyncMode;
}

/**
 * Patches everything: timers, `fetch`, Deno's async APIs, and synchronous
 * blocking calls in `"warn"` mode. Call it first, before other modules
 * capture the globals (or `import ".../patch/all"` as the first import).
 * Patching twice is a no-op.
 *
 * @param options Leave parts out with `false`; `sync` sets the mode.
 *
 * @example
 * ```ts
 * import { isPatched, patchAll, unpatchAll } from "./patch.ts";
 * patchAll({ sync: "off" });
 * console.log(isPatched("fetch"), isPatched("Atomics.wait")); // true false
 * unpatchAll();
 * ```
 */
export function patchAll(options: PatchAllOptions = {}): void {
  checkOptions("patchAll", options);
  if (options.timers ?? true) patchTimers();
  if (options.fetch ?? true) patchFetch();
  if (options.deno ?? true) patchDeno();
  patchSync({ mode: options.sync ?? "warn" });
}
