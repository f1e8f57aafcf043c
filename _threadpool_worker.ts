/**
 * The worker side of {@linkcode ThreadPool} and the thread it runs on: a
 * `node:worker_threads` Worker (Node 20; Deno through its Node support),
 * started from an inline bootstrap (no file to ship in the npm package)
 * that imports the task module on its first task and runs named exports.
 *
 * Messages: main → worker `{ t: "run", id, url, name, args }` and
 * `{ t: "abort", id, reason }`; worker → main `{ t: "done", id, ok, v }`,
 * posted with a transfer list when the task returned a `transfer(value,
 * list)` mark (threadpool_transfer.ts, recognised by its registered symbol);
 * where a failure's `v` is an error flattened by `flattenError` (message,
 * name, stack, cause — rebuilt by {@linkcode rebuildError}).
 *
 * @module
 */

/** The bootstrap's source (CommonJS, run with `eval: true`). */
const BOOTSTRAP = `"use strict";
const { parentPort } = require("node:worker_threads");
const running = new Map();
const modules = new Map();
const MARK = Symbol.for("gevent-ts.threadpool.transfer");
function flat(e, depth) {
  if (depth > 8) return { kind: "value", value: "[cause too deep]" };
  if (e !== null && typeof e === "object" && typeof e.message === "string") {
    const out = { kind: "error", name: String(e.name ?? "Error"),
      message: e.message, stack: typeof e.stack === "string" ? e.stack : undefined };
    if ("cause" in e) out.cause = flat(e.cause, depth + 1);
    return out;
  }
  try { structuredClone(e); return { kind: "value", value: e }; }
  catch { return { kind: "value", value: String(e) }; }
}
async function run(m) {
  const ac = new AbortController();
  running.set(m.id, ac);
  try {
    let mod = modules.get(m.url);
    if (mod === undefined) { mod = await import(m.url); modules.set(m.url, mod); }
    const fn = mod[m.name];
    if (typeof fn !== "function") {
      throw new TypeError("Cannot run task " + JSON.stringify(m.name) +
        ": the module exports no function of that name, received " + typeof fn);
    }
    const v = await fn(...m.args, { signal: ac.signal });
    if (v !== null && typeof v === "object" && v[MARK] === true) {
      parentPort.postMessage({ t: "done", id: m.id, ok: true, v: v.value }, v.list);
    } else {
      parentPort.postMessage({ t: "done", id: m.id, ok: true, v });
    }
  } catch (e) {
    parentPort.postMessage({ t: "done", id: m.id, ok: false, v: flat(e, 0) });
  } finally {
    running.delete(m.id);
  }
}
parentPort.on("message", (m) => {
  if (m.t === "run") run(m);
  else if (m.t === "abort") {
    const ac = running.get(m.id);
    if (ac !== undefined) {
      const r = new Error(m.reason);
      r.name = "AbortError";
      ac.abort(r);
    }
  }
});
`;

/** A flattened error (or thrown non-error value) as the worker sends it. */
export type Flat =
  | {
    kind: "error";
    name: string;
    message: string;
    stack?: string;
    cause?: Flat;
  }
  | { kind: "value"; value: unknown };

const BUILTIN: Record<string, ErrorConstructor> = {
  Error,
  TypeError,
  RangeError,
  SyntaxError,
  ReferenceError,
  EvalError,
  URIError,
};

/**
 * The error a task threw, rebuilt on this side: same message, name, stack
 * (the worker's) and cause (rebuilt the same way).
 *
 * @param f What the worker sent.
 * @returns The error (or the thrown value, if it was not an error).
 */
export function rebuildError(f: Flat): unknown {
  if (f.kind === "value") return f.value;
  const Ctor = BUILTIN[f.name] ?? Error;
  const e = f.cause === undefined
    ? new Ctor(f.message)
    : new Ctor(f.message, { cause: rebuildError(f.cause) });
  if (e.name !== f.name) {
    Object.defineProperty(e, "name", {
      value: f.name,
      writable: true,
      configurable: true,
    });
  }
  if (f.stack !== undefined) e.stack = f.stack;
  return e;
}

/** The parts of a `node:worker_threads` Worker the pool uses. */
export interface Thread {
  postMessage(message: unknown, transfer?: readonly unknown[]): void;
  on(event: "message", fn: (m: unknown) => void): void;
  on(event: "error", fn: (e: unknown) => void): void;
  on(event: "exit", fn: (code: number) => void): void;
  terminate(): Promise<number>;
  ref(): void;
  unref(): void;
}

type WorkerCtor = new (code: string, options: { eval: true }) => Thread;
let ctor: WorkerCtor | null = null;
let loading: Promise<WorkerCtor> | null = null;

/**
 * `node:worker_threads`' Worker, loaded on first use (importing the library
 * loads no worker code).
 *
 * @returns The constructor.
 */
export function loadWorkerCtor(): Promise<WorkerCtor> {
  if (ctor !== null) return Promise.resolve(ctor);
  loading ??= import("node:worker_threads").then((m) => {
    ctor = (m as unknown as { Worker: WorkerCtor }).Worker;
    return ctor;
  });
  return loading;
}

/**
 * A new thread running the bootstrap; the constructor must be loaded.
 *
 * @returns The thread (ref'd).
 */
export function startThread(): Thread {
  return new ctor!(BOOTSTRAP, { eval: true });
}

/** Whether {@linkcode startThread} can be called now. */
export function threadsLoaded(): boolean {
  return ctor !== null;
}
