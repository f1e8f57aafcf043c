/**
 * `patchTimers()`: the global timers on the hub's timer heap and clock.
 *
 * @module
 */

import {
  als,
  currentTask,
  type DescribedTimer,
  type HubCore,
  hubCoreOf,
  runUserTask,
  ShieldScope,
  type Task,
  type Timer,
  type UserTask,
} from "../_core/mod.ts";
import { describe } from "../_util/mod.ts";
import { denoNs, install, resolvePath } from "./registry.ts";

const TIMER_ID_BASE = 1 << 30; // far above the runtimes' own ids
let nextTimerId = TIMER_ID_BASE;
const timers = new Map<number, PatchedTimer>();
const isDeno = denoNs !== undefined;
let objectHandles: boolean | undefined;

/**
 * Whether the runtime's own timers return handle objects: Node's always,
 * Deno's since 2.x (a `Timeout` with `refresh()`/`unref()`/`ref()`/
 * `hasRef()` and a numeric primitive); older Deno, numbers. Patched timers
 * return the same kind, so code written for the runtime keeps working.
 */
function nativeObjects(): boolean {
  if (objectHandles !== undefined) return objectHandles;
  if (!isDeno) return objectHandles = true;
  const setT = resolvePath("setTimeout") as (
    f: () => void,
    ms: number,
  ) => unknown;
  const clearT = resolvePath("clearTimeout") as (h: unknown) => void;
  const probe = setT(() => {}, 2 ** 30);
  clearT(probe);
  return objectHandles = typeof probe === "object" && probe !== null;
}

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
  /** Cleared by `clearTimeout`/`clearInterval`/`close()`: never again. */
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
    this.core = hubCoreOf(owner);
    this.fn = fn;
    this.ms = ms;
    this.args = args;
    this.repeat = repeat;
  }

  arm(): void {
    const heap = this.core.timers;
    if (this.timer !== null) heap.cancel(this.timer);
    timers.set(this.id, this);
    this.timer = heap.add(this.ms, fireTimer, this);
    if (!this.ref) heap.setRef(this.timer, false);
  }

  setRef(ref: boolean): void {
    this.ref = ref;
    if (this.timer !== null) this.core.timers.setRef(this.timer, ref);
  }

  clear(): void {
    if (this.cleared) return;
    this.cleared = true;
    timers.delete(this.id);
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
    if (this.cleared || this.timer !== null) return; // cleared or refreshed
    if (this.repeat) this.arm();
    else timers.delete(this.id); // a later refresh() re-arms it
    // It belongs to no greenlet: a kill of the one that armed it neither
    // cancels it nor reaches its callback, which runs shielded.
    als.run(new ShieldScope(this.owner, this.owner), callTimer, this);
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
  /** Re-arms it for its full delay from now, even after it fired (as Node does). */
  refresh(): this {
    const t = this.#t;
    if (!t.cleared) t.arm();
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
  t.arm();
  return objectHandles ? new TimerHandle(t) : t.id;
}

function timerOf(handle: unknown): PatchedTimer | undefined {
  if (typeof handle === "number") return timers.get(handle);
  if (handle instanceof TimerHandle) return handleTimer(handle);
  return undefined;
}

/**
 * Replaces the global `setTimeout`, `setInterval`, `clearTimeout` and
 * `clearInterval` with versions on the hub's clock: callbacks run from the
 * hub's run queue as the greenlet that armed them but outside its
 * cancellation (a timer belongs to no greenlet: killing the one that armed it
 * neither cancels nor fires it), and timers show in run info. Node's handle
 * keeps `refresh()` (also after it fired), `hasRef()`, `ref()`/`unref()`,
 * `close()` and `[Symbol.toPrimitive]`. Timers armed before
 * patching keep working with the patched `clear*`. As natively, a timer can
 * stop keeping the process alive: `unref()` on Node's handle,
 * `Deno.unrefTimer(id)` on Deno (patched to know these ids). Patching twice
 * is a no-op.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getCurrent, spawn } from "../mod.ts";
 * import { patchTimers, unpatchAll } from "../patch.ts";
 * patchTimers();
 * const g = spawn(() =>
 *   new Promise<string>((resolve) => setTimeout(() => resolve(getCurrent().name), 5))
 * );
 * g.name = "armer";
 * assert.equal(await g.get(), "armer");
 * unpatchAll();
 * ```
 */
export function patchTimers(): void {
  nativeObjects(); // before the globals are ours
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
        const t = timerOf(id);
        if (t !== undefined) t.setRef(ref);
        else original.call(denoNs, id);
      });
    }
  }
}
