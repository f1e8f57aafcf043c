/**
 * Monkey patching: routes the runtime's own asynchronous APIs through the
 * hub, so that `kill()`, `Timeout`, `wait()` and run info see them.
 *
 * JavaScript has no stackful coroutines, so no patch can turn a synchronous
 * call into a switch. What patching does here:
 * - `patchTimers()`: global `setTimeout`/`setInterval`/`clearTimeout`/
 *   `clearInterval` run on the hub's timer heap and clock, call back as the
 *   greenlet that armed them (outside its cancellation: they belong to no
 *   greenlet, so a kill neither cancels nor fires them), show in run info.
 * - `patchFetch()`: every `fetch` gets its own AbortSignal (combined with the
 *   caller's and the current scope's); a kill or `Timeout` delivered to the
 *   calling greenlet aborts the request at once; a kill or a `withTimeout`
 *   deadline also stops reading its body, as a stream too.
 * - `patchDeno()`: `Deno.readFile`, `readTextFile`, `writeFile`,
 *   `writeTextFile` and `Deno.Command#output` likewise (a no-op on Node).
 * - `patchNode()`: Node's `timers/promises`, `fs/promises`, `child_process`,
 *   `http(s)`, `events`, `stream/promises`, `dns/promises` likewise.
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

import { checkOptions, optionNames } from "./_util/mod.ts";
import { patches, resolvePath, restore } from "./_patch/registry.ts";
import { patchDeno, patchFetch } from "./_patch/io.ts";
import { patchNode, unpatchNode } from "./_patch/node.ts";
import { patchSync, type SyncMode } from "./_patch/sync.ts";
import { patchTimers } from "./_patch/timers.ts";
// Loads the hub and greenlets, so that `patch/all` may come before any other import.
import "./mod.ts";

export { patchDeno, patchFetch } from "./_patch/io.ts";
export { patchNode } from "./_patch/node.ts";
export {
  BlockingCallError,
  patchSync,
  type PatchSyncOptions,
  type SyncMode,
  type SyncReport,
} from "./_patch/sync.ts";
export { patchTimers } from "./_patch/timers.ts";

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
 * import assert from "node:assert/strict";
 * import { isPatched, patchTimers, unpatchAll } from "./patch.ts";
 * patchTimers();
 * assert.ok(isPatched("setTimeout"));
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
 * import assert from "node:assert/strict";
 * import { getOriginal, patchFetch, unpatchAll } from "./patch.ts";
 * const before = globalThis.fetch;
 * patchFetch();
 * assert.equal(getOriginal("fetch"), before);
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
 * import assert from "node:assert/strict";
 * import { patchAll, unpatchAll } from "./patch.ts";
 * const original = globalThis.setTimeout;
 * patchAll();
 * unpatchAll();
 * assert.equal(globalThis.setTimeout, original);
 * ```
 */
export function unpatchAll(): void {
  patchSync({ mode: "off" });
  unpatchNode();
  for (const name of [...patches.keys()].reverse()) restore(name);
}

/**
 * Options for {@linkcode patchAll}: each part can be left out.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isPatched, patchAll, type PatchAllOptions, unpatchAll } from "./patch.ts";
 * const options: PatchAllOptions = { timers: false, sync: "off" };
 * patchAll(options);
 * assert.equal(isPatched("setTimeout"), false);
 * assert.equal(isPatched("fetch"), true);
 * unpatchAll();
 * ```
 */
export interface PatchAllOptions {
  /** Patch the global timers (default true). */
  timers?: boolean | undefined;
  /** Patch `fetch` (default true). */
  fetch?: boolean | undefined;
  /** Patch Deno's async file and process APIs (default true; no-op on Node). */
  deno?: boolean | undefined;
  /** Patch Node's own async APIs, `node:fs/promises` and friends (default true). */
  node?: boolean | undefined;
  /** `patchSync` mode (default `"warn"`). */
  sync?: SyncMode | undefined;
}

const PATCH_ALL_OPTIONS = optionNames(
  "timers",
  "fetch",
  "deno",
  "node",
  "sync",
);

/**
 * Patches everything: timers, `fetch`, Deno's async APIs, Node's async APIs
 * (`node:fs/promises`, `node:child_process`, …), and synchronous blocking
 * calls in `"warn"` mode. Call it first, before other modules
 * capture the globals (or `import ".../patch/all"` as the first import).
 * Patching twice is a no-op.
 *
 * @param options Leave parts out with `false`; `sync` sets the mode.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isPatched, patchAll, unpatchAll } from "./patch.ts";
 * patchAll({ sync: "off" });
 * assert.equal(isPatched("fetch"), true);
 * assert.equal(isPatched("Atomics.wait"), false);
 * unpatchAll();
 * ```
 */
export function patchAll(options: PatchAllOptions = {}): void {
  checkOptions("patchAll", options, PATCH_ALL_OPTIONS);
  if (options.timers ?? true) patchTimers();
  if (options.fetch ?? true) patchFetch();
  if (options.deno ?? true) patchDeno();
  if (options.node ?? true) patchNode();
  patchSync({ mode: options.sync ?? "warn" });
}
