/**
 * `patchNode()`: Node's own asynchronous APIs — `node:timers/promises`,
 * `node:fs/promises`, `node:child_process`, `node:http`/`node:https`,
 * `node:events`, `node:stream/promises`, `node:dns/promises` — given the
 * current scope's signal, so a kill or a `withTimeout` deadline stops them,
 * and (the promise-returning ones) made switch points.
 *
 * @module
 */

import cp from "node:child_process";
import dnsPromises from "node:dns/promises";
import events from "node:events";
import fsPromises from "node:fs/promises";
import http from "node:http";
import https from "node:https";
import nodeModule from "node:module";
import streamPromises from "node:stream/promises";
import timersPromises from "node:timers/promises";
import { promisify } from "node:util";
import { install, restore } from "./registry.ts";
import { linkedOp, opLink, releaseWith } from "./_ops.ts";
import { type OpLink, trackOp } from "../_core/mod.ts";

// deno-lint-ignore no-explicit-any
type Fn = (...args: any[]) => any;
type Options = Record<string, unknown> & { signal?: AbortSignal };

function isPlainOptions(v: unknown): v is Options {
  return v !== null && typeof v === "object" && !Array.isArray(v) &&
    typeof (v as { pipe?: unknown }).pipe !== "function" &&
    typeof (v as { on?: unknown }).on !== "function" &&
    !(v instanceof URL);
}

/** `opts` with the signal of `link` (see `opLink`). */
function withSignal(link: OpLink, opts: Options): Options {
  return { ...opts, signal: link.signal };
}

/**
 * A promise-returning API whose options argument sits at `at` (an encoding
 * string there becomes `{ encoding }`): a switch point with a signal.
 */
function tracked(name: string, original: Fn, at: number): Fn {
  return function (this: unknown, ...args: unknown[]) {
    const raw = typeof args[at] === "string"
      ? { encoding: args[at] }
      : args[at];
    const opts = isPlainOptions(raw) ? raw : {};
    const link = opLink(opts.signal);
    while (args.length < at) args.push(undefined);
    args[at] = withSignal(link, opts);
    let made: { child?: unknown } | undefined;
    const p = linkedOp(
      `${name}(${describeArg(args[0])})`,
      link,
      () => made = original.apply(this, args),
    );
    // promisified exec/execFile attach their ChildProcess to the promise
    if (made?.child !== undefined) {
      (p as { child?: unknown }).child = made.child;
    }
    return p;
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

/**
 * Puts the options of a callback or streaming API (found by `find`), given
 * `link`'s signal, into `args`; returns them as the caller passed them.
 */
function putOptions(
  args: unknown[],
  find: (args: unknown[]) => number,
  makeLink: (opts: Options) => OpLink,
): OpLink {
  const at = find(args);
  while (args.length < at) args.push(undefined);
  const given = at < args.length && isPlainOptions(args[at]);
  const opts = given ? args[at] as Options : {};
  const link = makeLink(opts);
  if (given) args[at] = withSignal(link, opts);
  else args.splice(at, 0, withSignal(link, opts));
  return link;
}

/**
 * An API that returns an async iterator (`events.on`, `timers/promises`
 * `setInterval`): each `next()` is a switch point, and the iteration stays
 * stoppable until it ends or the iterator is dropped.
 */
function iterating(name: string, original: Fn, at: number): Fn {
  return function (this: unknown, ...args: unknown[]) {
    const link = putOptions(args, () => at, (opts) => opLink(opts.signal));
    let it: AsyncIterator<unknown> & Partial<AsyncIterable<unknown>>;
    try {
      it = original.apply(this, args);
    } catch (e) {
      link.release();
      throw e;
    }
    const wrapped = new LinkedIterator(
      `${name}(${describeArg(args[at === 2 ? 1 : 0])})`,
      it,
      link,
    );
    releaseWith(link, wrapped);
    return wrapped;
  };
}

/** See `iterating`. */
class LinkedIterator implements AsyncIterableIterator<unknown> {
  readonly #what: string;
  readonly #it: AsyncIterator<unknown>;
  readonly #link: OpLink;
  constructor(what: string, it: AsyncIterator<unknown>, link: OpLink) {
    this.#what = what;
    this.#it = it;
    this.#link = link;
  }
  next(...args: [] | [unknown]): Promise<IteratorResult<unknown>> {
    const link = this.#link;
    return linkedStep(
      trackOp(this.#what, () => this.#it.next(...args), (r) => link.abort(r)),
      link,
    );
  }
  return(value?: unknown): Promise<IteratorResult<unknown>> {
    this.#link.release();
    const r = this.#it.return?.(value);
    return r !== undefined
      ? Promise.resolve(r)
      : Promise.resolve({ done: true, value });
  }
  throw(error?: unknown): Promise<IteratorResult<unknown>> {
    this.#link.release();
    const r = this.#it.throw?.(error);
    return r !== undefined ? Promise.resolve(r) : Promise.reject(error);
  }
  [Symbol.asyncIterator](): this {
    return this;
  }
}

function linkedStep(
  p: Promise<IteratorResult<unknown>>,
  link: OpLink,
): Promise<IteratorResult<unknown>> {
  return p.then((r) => {
    if (r.done) link.release();
    return r;
  }, (e) => {
    link.release();
    throw e;
  });
}

/** The number of `event` listeners of `emitter`, or 0. */
function listeners(emitter: unknown, event: string): number {
  const e = emitter as { listenerCount?: (name: string) => number } | null;
  return typeof e?.listenerCount === "function" ? e.listenerCount(event) : 0;
}

/** What a patched call returned: it emits `'close'` once its operation ended. */
interface EmitterLike {
  once(event: string, fn: () => void): unknown;
}

/** One call of an API wrapped by {@linkcode emitterOp}. */
interface EmitterCall {
  /** What it returned (null until it returned). */
  emitter: EmitterLike | null;
  /** `'error'` listeners the emitter had of its own when it was returned. */
  own: number;
  /** The options the call was given (a copy, with the link's signal). */
  opts: Options | null;
}

/**
 * Wraps an API whose call returns an emitter of its operation (a request, a
 * child process): the options get a signal that follows the calling
 * greenlet, and a kill or a deadline calls `stop(call, link, reason)` — once
 * the caller had the emitter (and added its listeners), never before. The
 * link ends with the emitter's `'close'` (or when the emitter is collected).
 */
function emitterOp(
  original: Fn,
  find: (args: unknown[]) => number,
  stop: (call: EmitterCall, link: OpLink, reason: unknown) => void,
): Fn {
  return function (this: unknown, ...args: unknown[]) {
    const call: EmitterCall = { emitter: null, own: 0, opts: null };
    const link = putOptions(args, find, (opts) => {
      call.opts = opts;
      const link: OpLink = opLink(opts.signal, (reason) => {
        if (call.emitter !== null) stop(call, link, reason);
        else afterCall(() => stop(call, link, reason)); // once its caller had it
      });
      return link;
    });
    let e: EmitterLike;
    try {
      e = call.emitter = original.apply(this, args);
    } catch (err) {
      link.release();
      throw err;
    }
    call.own = listeners(e, "error");
    e.once("close", () => link.release());
    releaseWith(link, e);
    return e;
  };
}

/** Whether an `'error'` listener was added to the call's emitter beyond its own. */
function observed(call: EmitterCall): boolean {
  return listeners(call.emitter, "error") > call.own;
}

/**
 * `child_process` `spawn`/`exec`/`execFile`: the child is killed by a kill
 * or a deadline. Node then emits `'error'` (an `AbortError`) on the child:
 * where nothing listens for it (a bare `spawn`), that would crash the
 * process, so the child is only killed (`killSignal`, default SIGTERM) and
 * its caller sees it exit by that signal, as if another process had killed
 * it.
 */
function childProcess(
  original: Fn,
  find: (args: unknown[]) => number,
  callback: boolean,
): Fn {
  const wrapped = emitterOp(original, find, (call, link, reason) => {
    // exec/execFile hand the AbortError to their callback or promise
    if (callback || observed(call)) link.controller.abort(reason);
    else {
      (call.emitter as unknown as { kill(signal?: unknown): boolean }).kill(
        call.opts?.killSignal,
      );
    }
  });
  const custom = (original as { [promisify.custom]?: Fn })[promisify.custom];
  if (typeof custom === "function") {
    Object.defineProperty(wrapped, promisify.custom, {
      value: tracked(original.name, custom, customOptionsAt(original)),
    });
  }
  return wrapped;
}

/**
 * Runs `fn` once the synchronous code that called a patched API has run on:
 * the listeners it adds to the object the call returned are there.
 */
function afterCall(fn: () => void): void {
  queueMicrotask(fn);
}

/**
 * `http(s)` `request`/`get`: a kill or a deadline aborts the request (Node
 * destroys it: `'error'` with an `AbortError` on the request, before or
 * after its response began) where its caller listens for that: an `'error'`
 * listener on the request. Where it does not (a promise that settles on the
 * response's `'end'` alone), aborting would leave that promise pending
 * forever: the request runs to its end as unpatched, and the kill lands when
 * the caller's await returns.
 */
function request(original: Fn, find: (args: unknown[]) => number): Fn {
  return emitterOp(original, find, (call, link, reason) => {
    if (observed(call)) link.controller.abort(reason);
  });
}

function customOptionsAt(original: Fn): number {
  return original === cp.execFile ? 2 : 1;
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
    const link = opLink(undefined, () => resolver.cancel());
    return linkedOp(
      `dns.${name}(${describeArg(args[0])})`,
      link,
      () => (resolver as unknown as Record<string, Fn>)[name](...args),
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
    (o) => iterating("timers/promises.setInterval", o, 2),
  );
  for (const [key, at] of FS_SIGNALLED) {
    add("fs/promises", fsPromises, key, (o) => tracked(`fs.${key}`, o, at));
  }
  for (const key of FS_PLAIN) {
    add("fs/promises", fsPromises, key, (o) => switchPoint(`fs.${key}`, o));
  }
  add("child_process", cp, "exec", (o) => childProcess(o, afterCommand, true));
  add("child_process", cp, "execFile", (o) => childProcess(o, afterArgs, true));
  add("child_process", cp, "spawn", (o) => childProcess(o, afterArgs, false));
  for (const [module, target] of [["http", http], ["https", https]] as const) {
    add(module, target, "request", (o) => request(o, requestOptions));
    add(module, target, "get", (o) => request(o, requestOptions));
  }
  add("events", events, "once", (o) => tracked("events.once", o, 2));
  add("events", events, "on", (o) => iterating("events.on", o, 2));
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
