/**
 * `patchNode()`: Node's own asynchronous APIs — `node:timers/promises`,
 * `node:fs/promises`, `node:child_process`, `node:http`/`node:https`,
 * `node:events`, `node:stream/promises`, `node:dns/promises` — given the
 * current scope's signal, so a kill or a `withTimeout` deadline stops them,
 * and (the promise-returning ones) made switch points.
 *
 * @module
 */

import childProcess from "node:child_process";
import dnsPromises from "node:dns/promises";
import events from "node:events";
import fsPromises from "node:fs/promises";
import http from "node:http";
import https from "node:https";
import nodeModule from "node:module";
import streamPromises from "node:stream/promises";
import timersPromises from "node:timers/promises";
import { promisify } from "node:util";
import { install, opSignal, restore } from "./registry.ts";
import { trackOp } from "../_core/mod.ts";

// deno-lint-ignore no-explicit-any
type Fn = (...args: any[]) => any;
type Options = Record<string, unknown> & { signal?: AbortSignal };

function isPlainOptions(v: unknown): v is Options {
  return v !== null && typeof v === "object" && !Array.isArray(v) &&
    typeof (v as { pipe?: unknown }).pipe !== "function" &&
    typeof (v as { on?: unknown }).on !== "function" &&
    !(v instanceof URL);
}

/** `opts` with a signal for one operation (see `opSignal`). */
function withSignal(
  controller: AbortController,
  opts: unknown,
): Options {
  const o = isPlainOptions(opts) ? opts : {};
  return { ...o, signal: opSignal(controller, o.signal) };
}

/**
 * A promise-returning API whose options argument sits at `at` (an encoding
 * string there becomes `{ encoding }`): a switch point with a signal.
 */
function tracked(name: string, original: Fn, at: number): Fn {
  return function (this: unknown, ...args: unknown[]) {
    const controller = new AbortController();
    const opts = typeof args[at] === "string"
      ? { encoding: args[at] }
      : args[at];
    while (args.length < at) args.push(undefined);
    args[at] = withSignal(controller, opts);
    return trackOp(
      `${name}(${describeArg(args[0])})`,
      () => original.apply(this, args),
      (reason) => controller.abort(reason),
    );
  };
}

/** A promise-returning API that takes no signal: a switch point only. */
function switchPoint(name: string, original: Fn): Fn {
  return function (this: unknown, ...args: unknown[]) {
    return trackOp(
      `${name}(${describeArg(args[0])})`,
      () => original.apply(this, args),
      () => {},
    );
  };
}

/** A callback or streaming API: its options (found by `find`) get a signal. */
function signalled(original: Fn, find: (args: unknown[]) => number): Fn {
  const wrapped = function (this: unknown, ...args: unknown[]) {
    const at = find(args);
    const controller = new AbortController();
    while (args.length < at) args.push(undefined);
    if (at === args.length || !isPlainOptions(args[at])) {
      args.splice(at, 0, withSignal(controller, undefined));
    } else {
      args[at] = withSignal(controller, args[at]);
    }
    return original.apply(this, args);
  };
  const custom = (original as { [promisify.custom]?: Fn })[promisify.custom];
  if (typeof custom === "function") {
    Object.defineProperty(wrapped, promisify.custom, {
      value: tracked(original.name, custom, customOptionsAt(original)),
    });
  }
  return wrapped;
}

function customOptionsAt(original: Fn): number {
  return original === childProcess.execFile ? 2 : 1;
}

function describeArg(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (v instanceof URL) return JSON.stringify(String(v));
  if (typeof v === "number") return String(v);
  return "…";
}

/** Where the options object of an `exec`-like call goes. */
const afterCommand = () => 1;
/** `execFile(file, args?, options?, cb?)` and `spawn(cmd, args?, options?)`. */
const afterArgs = (args: unknown[]) => Array.isArray(args[1]) ? 2 : 1;
/** `request(url?, options?, cb?)`. */
const requestOptions = (args: unknown[]) =>
  typeof args[0] === "string" || args[0] instanceof URL ? 1 : 0;
/** `on(emitter, name, options?)`, `setInterval(delay, value, options?)`. */
const third = () => 2;

const FS_SIGNALLED: readonly [string, number][] = [
  ["readFile", 1],
  ["writeFile", 2],
  ["appendFile", 2],
];
const FS_PLAIN = [
  "access",
  "chmod",
  "chown",
  "copyFile",
  "cp",
  "link",
  "lstat",
  "mkdir",
  "mkdtemp",
  "open",
  "opendir",
  "readdir",
  "readlink",
  "realpath",
  "rename",
  "rm",
  "rmdir",
  "stat",
  "symlink",
  "truncate",
  "unlink",
  "utimes",
] as const;
const DNS_RESOLVE = [
  "resolve",
  "resolve4",
  "resolve6",
  "resolveAny",
  "resolveCaa",
  "resolveCname",
  "resolveMx",
  "resolveNaptr",
  "resolveNs",
  "resolvePtr",
  "resolveSoa",
  "resolveSrv",
  "resolveTxt",
  "reverse",
] as const;

function patchMember(
  module: string,
  target: object,
  key: string,
  wrap: (original: Fn) => Fn,
): void {
  const original = (target as Record<string, unknown>)[key];
  if (typeof original !== "function") return;
  install(`${module}.${key}`, target, key, wrap(original as Fn));
}

const names: string[] = [];

/** A resolver call that `Resolver#cancel()` stops. */
function resolverCall(name: string): Fn {
  return function (...args: unknown[]) {
    const resolver = new dnsPromises.Resolver();
    resolver.setServers(dnsPromises.getServers()); // as the module's own
    const controller = new AbortController();
    const signal = opSignal(controller);
    const cancel = () => resolver.cancel();
    signal.addEventListener("abort", cancel, { once: true });
    return trackOp(
      `dns.${name}(${describeArg(args[0])})`,
      () =>
        (resolver as unknown as Record<string, Fn>)[name](...args).finally(
          () => signal.removeEventListener("abort", cancel),
        ),
      (reason) => controller.abort(reason),
    );
  };
}

/**
 * Patches Node's own asynchronous APIs (on Node; on Deno, whose `node:`
 * modules share these objects, too): each call gets an AbortSignal that
 * follows the current scope (`getCurrentSignal()`) and the caller's own
 * `signal`, so a kill or a `withTimeout` deadline stops it at once; the
 * promise-returning ones are also switch points that run info shows.
 * `module.syncBuiltinESMExports()` makes ESM named imports (`import { readFile }
 * from "node:fs/promises"`) see the patch on Node; Deno does not update them.
 * What cannot take a signal is listed in the README (`fs/promises` calls
 * other than `readFile`/`writeFile`/`appendFile`, `dns.lookup`): those are
 * switch points whose work finishes in the background after a kill.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isPatched, patchNode, unpatchAll } from "../patch.ts";
 * patchNode();
 * assert.ok(isPatched("fs/promises.readFile"));
 * unpatchAll();
 * ```
 */
export function patchNode(): void {
  const before = names.length;
  const add = (
    module: string,
    target: object,
    key: string,
    wrap: (o: Fn) => Fn,
  ) => {
    patchMember(module, target, key, wrap);
    names.push(`${module}.${key}`);
  };
  if (before !== 0) return; // patched already
  add(
    "timers/promises",
    timersPromises,
    "setTimeout",
    (o) => tracked("timers/promises.setTimeout", o, 2),
  );
  add(
    "timers/promises",
    timersPromises,
    "setImmediate",
    (o) => tracked("timers/promises.setImmediate", o, 1),
  );
  add(
    "timers/promises",
    timersPromises,
    "setInterval",
    (o) => signalled(o, third),
  );
  for (const [key, at] of FS_SIGNALLED) {
    add("fs/promises", fsPromises, key, (o) => tracked(`fs.${key}`, o, at));
  }
  for (const key of FS_PLAIN) {
    add("fs/promises", fsPromises, key, (o) => switchPoint(`fs.${key}`, o));
  }
  add("child_process", childProcess, "exec", (o) => signalled(o, afterCommand));
  add(
    "child_process",
    childProcess,
    "execFile",
    (o) => signalled(o, afterArgs),
  );
  add("child_process", childProcess, "spawn", (o) => signalled(o, afterArgs));
  for (const [module, target] of [["http", http], ["https", https]] as const) {
    add(module, target, "request", (o) => signalled(o, requestOptions));
    add(module, target, "get", (o) => signalled(o, requestOptions));
  }
  add("events", events, "once", (o) => tracked("events.once", o, 2));
  add("events", events, "on", (o) => signalled(o, third));
  add(
    "stream/promises",
    streamPromises,
    "finished",
    (o) => tracked("stream.finished", o, 1),
  );
  add(
    "stream/promises",
    streamPromises,
    "pipeline",
    (o) =>
      function pipeline(...args: unknown[]) {
        const last = args[args.length - 1];
        const at = isPlainOptions(last) && args.length > 2
          ? args.length - 1
          : args.length;
        return tracked("stream.pipeline", o, at)(...args);
      },
  );
  add(
    "dns/promises",
    dnsPromises,
    "lookup",
    (o) => switchPoint("dns.lookup", o),
  );
  for (const key of DNS_RESOLVE) {
    add("dns/promises", dnsPromises, key, () => resolverCall(key));
  }
  nodeModule.syncBuiltinESMExports?.();
}

/** Restores what `patchNode()` replaced (called by `unpatchAll()`). */
export function unpatchNode(): void {
  if (names.length === 0) return;
  for (const name of names.splice(0).reverse()) restore(name);
  nodeModule.syncBuiltinESMExports?.();
}
