/**
 * One hub per process, whatever is installed: the process-wide registry of
 * the copies of gevent-ts that were loaded, at
 * `globalThis[Symbol.for("gevent-ts")]`. This module writes it when the
 * kernel loads.
 *
 * A second physical copy of the package (a nested `node_modules`, pnpm's
 * per-peer copies, two versions, a JSR and an npm import in one Deno
 * program) has its own module state: its own run queue, timers, current
 * greenlet storage, patch registry, and its own classes. Its greenlets, its
 * `Timeout`s and its kills never reach the first copy's, silently: a
 * `Timeout` from one copy lets a `sleep` of the other run its full time.
 *
 * - The npm build joins: its `cjs/_core.cjs` is a loader that looks up its
 *   build id in {@linkcode Registry.builds} before it loads the library, and
 *   a copy whose code is byte-identical to one already loaded takes that
 *   copy's exports (the same hub, the same `Timeout` and `GreenletExit`
 *   classes). The kernel of a joining copy never runs, so it never gets
 *   here. See scripts/build_npm.ts.
 * - Any other second copy (another version, another build, the Deno sources
 *   at two URLs) runs alone, and this module warns once per process, naming
 *   both copies, what breaks and how to keep one.
 *
 * Why copies that differ are not joined: joining means one set of state and
 * one set of classes. Sharing the state (some twenty module-level pieces:
 * run queue, timers, hooks, scope storage, patch registry, natives, `local`
 * storage, …) through this global would freeze their shape across versions,
 * and the classes would still be two: a `Timeout` or `GreenletExit` thrown
 * by the newer copy fails `instanceof` in the older one, so a kill would be
 * reported as a failure and a `Timeout` caught as someone else's. Handing
 * one version's exports to code written against another is no better.
 *
 * @module
 */

/** The key of the registry on `globalThis`. */
const KEY: unique symbol = Symbol.for("gevent-ts");

/**
 * The registry's layout version. Every protocol keeps `protocol`, `copies`
 * and `warned` (all a copy that finds another protocol reads or writes) and
 * the meaning of `builds` (which the npm loaders of all builds read).
 */
export const REGISTRY_PROTOCOL = 1;

/** This copy's package version: bump it with deno.json's (copies_test checks). */
export const VERSION = "0.1.0";

/** One copy of gevent-ts loaded in this process. */
export interface CopyInfo {
  /** Its package version. */
  readonly version: string;
  /** Where its kernel is: a `file:`/`https:` URL (ESM), a path (the CJS build). */
  readonly url: string;
  /** True for an identical npm copy that took an earlier copy's exports. */
  readonly joined?: boolean;
}

/** What `globalThis[Symbol.for("gevent-ts")]` holds. */
export interface Registry {
  /** {@linkcode REGISTRY_PROTOCOL} of the copy that made it. */
  readonly protocol: number;
  /** Every copy loaded, in load order. */
  readonly copies: CopyInfo[];
  /**
   * The npm build's exports by build id, written and read by the loader
   * (`cjs/_core.cjs`) of every npm build: keep this field's meaning.
   */
  readonly builds: Record<string, unknown>;
  /** Whether the two-copies warning was written. */
  warned: boolean;
}

/** This copy, as registered. */
export const THIS_COPY: CopyInfo = Object.freeze({
  version: VERSION,
  url: import.meta.url,
});

/** The warning a second copy that runs its own hub writes, once per process. */
export function twoCopiesWarning(first: CopyInfo, second: CopyInfo): string {
  const same = first.url === second.url
    ? " (the same file, loaded twice: was the module registry reset?)"
    : "";
  return [
    `gevent-ts: a second copy of gevent-ts was loaded in this process, and it runs its own hub${same}:`,
    `  first:  ${first.version} at ${first.url}`,
    `  second: ${second.version} at ${second.url}`,
    "Greenlets, Timeouts, kills and patches of one copy do not reach the other: a Timeout from one copy does not interrupt a sleep in the other, getCurrent() of one does not see the other's greenlets, and the second copy may capture the first copy's patched setTimeout as native.",
    'Keep one copy: `npm ls gevent-ts` lists them; run `npm dedupe`, or pin one version ("overrides" in npm, "pnpm.overrides" in pnpm, "resolutions" in yarn); in Deno, import every entry point from one version.',
  ].join("\n");
}

function register(): void {
  const global = globalThis as { [KEY]?: Registry };
  const found = global[KEY];
  if (found === undefined) {
    const registry: Registry = {
      protocol: REGISTRY_PROTOCOL,
      copies: [THIS_COPY],
      builds: {},
      warned: false,
    };
    Object.defineProperty(globalThis, KEY, {
      value: registry,
      enumerable: false,
      writable: false,
      configurable: true,
    });
    return;
  }
  const copies = Array.isArray(found.copies) ? found.copies : [];
  const first = copies[0] ?? { version: "unknown", url: "unknown" };
  copies.push(THIS_COPY);
  if (found.warned === true) return;
  found.warned = true;
  globalThis.console.warn(twoCopiesWarning(first, THIS_COPY));
}

register();
