/**
 * `patchSync()`: synchronous blocking calls made inside greenlets, reported
 * or refused.
 *
 * @module
 */

import {
  callerSite,
  checkOptions,
  checkTimeout,
  describe,
  optionNames,
} from "../_util/mod.ts";
import {
  greenletOf,
  nativeConsoleError,
  nativeNow,
  storedScope,
} from "../_core/mod.ts";
import { install, OriginalCommand, resolvePath, restore } from "./registry.ts";
import type { Greenlet } from "../greenlet.ts";

/**
 * How `patchSync` treats synchronous blocking calls inside greenlets.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isPatched, patchSync, type SyncMode, unpatchAll } from "../patch.ts";
 * const mode: SyncMode = "throw";
 * patchSync({ mode });
 * assert.ok(isPatched("Atomics.wait"));
 * unpatchAll();
 * ```
 */
export type SyncMode = "warn" | "throw" | "off";

/**
 * What `patchSync` reports in `"warn"` mode.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { spawn } from "../mod.ts";
 * import { patchSync, type SyncReport, unpatchAll } from "../patch.ts";
 * const reports: SyncReport[] = [];
 * patchSync({ mode: "warn", minMs: 0, report: (r) => void reports.push(r) });
 * await spawn(() => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1)).join();
 * unpatchAll();
 * assert.equal(reports[0].call, "Atomics.wait()");
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
  /** Where the call was made (`file:line:col`), when stacks are captured. */
  site: string | null;
}

/**
 * Options for {@linkcode patchSync}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isPatched, patchSync, type PatchSyncOptions, unpatchAll } from "../patch.ts";
 * const options: PatchSyncOptions = { mode: "warn", report: (r) => console.log(r.call) };
 * patchSync(options);
 * assert.ok(isPatched("Atomics.wait"));
 * unpatchAll();
 * ```
 */
export interface PatchSyncOptions {
  /** `"warn"` (report, default), `"throw"` (refuse) or `"off"` (unpatch). */
  mode?: SyncMode | undefined;
  /** Called with each report in `"warn"` mode; default: a line on stderr. */
  report?: ((report: SyncReport) => void) | undefined;
  /**
   * Report only calls that blocked at least this many milliseconds
   * (default 100, as the monitor's `maxBlockingTime`).
   */
  minMs?: number | undefined;
  /** Report each call site once per run (default true); false: every call. */
  once?: boolean | undefined;
}

/**
 * Thrown by a synchronous blocking call made inside a greenlet while
 * `patchSync({ mode: "throw" })` is in force.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { spawn } from "../mod.ts";
 * import { BlockingCallError, patchSync, unpatchAll } from "../patch.ts";
 * patchSync({ mode: "throw" });
 * const g = spawn(() => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10));
 * await g.join();
 * assert.ok(g.exception instanceof BlockingCallError);
 * unpatchAll();
 * ```
 */
export class BlockingCallError extends Error {
  // private, behind getters: printed, the error shows its message and stack
  readonly #greenlet: Greenlet;
  readonly #call: string;
  readonly #alternative: string;

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
    this.#greenlet = greenlet;
    this.#call = call;
    this.#alternative = alternative;
  }

  /** The greenlet that made the call. */
  get greenlet(): Greenlet {
    return this.#greenlet;
  }

  /** The call that was refused, e.g. `"Atomics.wait()"`. */
  get call(): string {
    return this.#call;
  }

  /** The asynchronous call to use instead. */
  get alternative(): string {
    return this.#alternative;
  }
}

let syncMode: SyncMode = "off";
let syncReport: (r: SyncReport) => void = defaultSyncReport;
let syncMinMs = 100;
let syncOnce = true;
/** Call sites reported (with `once`): `call at site`. */
const reported = new Set<string>();

function defaultSyncReport(r: SyncReport): void {
  nativeConsoleError(
    `gevent-ts: ${r.greenlet} blocked the hub for ${
      r.duration.toFixed(1)
    } ms in ${r.call}${
      r.site === null ? "" : ` at ${r.site}`
    }; use ${r.alternative} instead`,
  );
}

function guardSync(
  call: string,
  alternative: string,
  original: (...args: unknown[]) => unknown,
): (...args: unknown[]) => unknown {
  const guarded = function (this: unknown, ...args: unknown[]): unknown {
    const task = storedScope()?.task;
    if (task === undefined || task.isMain || syncMode === "off") {
      return original.apply(this, args);
    }
    const g = greenletOf(task) as Greenlet;
    if (syncMode === "throw") throw new BlockingCallError(g, call, alternative);
    const t0 = nativeNow();
    try {
      return original.apply(this, args);
    } finally {
      const duration = nativeNow() - t0;
      if (duration >= syncMinMs) {
        const site = callerSite(guarded);
        const key = `${call} at ${site}`;
        if (!syncOnce || !reported.has(key)) {
          if (syncOnce) reported.add(key);
          const report = syncReport;
          try {
            report({ greenlet: g, call, duration, alternative, site });
          } catch (e) {
            nativeConsoleError("gevent-ts: the patchSync report threw:", e);
          }
        }
      }
    }
  };
  return guarded;
}

const PATCH_SYNC_OPTIONS = optionNames("mode", "report", "minMs", "once");

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
 * how long it blocked, where it was called and the async call to use
 * instead — only calls that blocked at least `minMs` (default 100 ms, as
 * the monitor), each call site once per `patchSync` call unless `once` is
 * false; `"throw"` refuses
 * the call with {@linkcode BlockingCallError}; `"off"` restores the
 * originals. Outside greenlets the calls run untouched.
 *
 * @param options `mode` (default `"warn"`), `report` callback, `minMs`
 * (milliseconds) and `once`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { spawn } from "../mod.ts";
 * import { patchSync, unpatchAll } from "../patch.ts";
 * const seen: string[] = [];
 * patchSync({ mode: "warn", minMs: 0, report: (r) => void seen.push(`${r.call}: ${r.alternative}`) });
 * await spawn(() => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1)).join();
 * unpatchAll();
 * assert.deepEqual(seen, ["Atomics.wait(): await sleep(ms) or Atomics.waitAsync()"]);
 * ```
 */
export function patchSync(options: PatchSyncOptions = {}): void {
  checkOptions("patchSync", options, PATCH_SYNC_OPTIONS);
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
  checkTimeout("patchSync", options.minMs, "minMs");
  if (options.once !== undefined && typeof options.once !== "boolean") {
    throw new TypeError(
      `Cannot patchSync: once must be a boolean, received ${
        describe(options.once)
      }`,
    );
  }
  syncMode = mode;
  syncReport = options.report ?? defaultSyncReport;
  syncMinMs = options.minMs ?? 100;
  syncOnce = options.once ?? true;
  reported.clear();
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
