/**
 * Greenlets: functions run cooperatively by the hub, with gevent's
 * lifecycle — spawn, join, get, kill, links — and `joinAll`/`killAll`.
 *
 * @module
 */

import {
  checkFunction,
  checkOptions,
  checkTimeout,
  errorSummary,
  formatCall,
  inspectAsString,
  optionNames,
  shortValue,
  type Site,
} from "./_util/mod.ts";
import {
  als,
  currentTask,
  DEAD,
  emit,
  greenletOf,
  hubCoreOf,
  isCancellation,
  MAX_DELIVERIES,
  NEW,
  onFinish,
  onSpawn,
  onStart,
  type Pending,
  registerGreenletFactory,
  RUNNING,
  runUserTask,
  SCHEDULED,
  scopeSignal,
  stateName,
  stateText,
  storedScope,
  takeSite,
  Task,
  TaskCell,
  throwInto,
  type Timer,
  type UserTask,
} from "./_core/mod.ts";
import type { Hub } from "./hub.ts";
import { Linkable, type LinkCallback } from "./linkable.ts";
import { Timeout } from "./timeout.ts";

/**
 * The error `kill()` throws into a greenlet by default. A greenlet that ends
 * with it counts as successful, and its `value` is the `GreenletExit`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { GreenletExit, sleep, spawn } from "./mod.ts";
 * const g = spawn(() => sleep(1000));
 * await g.kill();
 * assert.ok(g.successful());
 * assert.ok(g.value instanceof GreenletExit);
 * ```
 */
export class GreenletExit extends Error {
  /**
   * Creates the error; `kill()` makes one when not given another.
   *
   * @param message The error message; defaults to "GreenletExit".
   */
  constructor(message = "GreenletExit") {
    super(message);
    this.name = "GreenletExit";
  }
}

/**
 * Options for {@linkcode Greenlet.kill}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type KillOptions, sleep, spawn } from "./mod.ts";
 * const g = spawn(() => sleep(1000));
 * const options: KillOptions = { block: true, timeout: 100 };
 * await g.kill(undefined, options);
 * assert.ok(g.dead);
 * ```
 */
export interface KillOptions {
  /** Wait for the greenlet to die (default true). */
  block?: boolean | undefined;
  /** With `block`, wait at most this many milliseconds. */
  timeout?: number | undefined;
}

/**
 * Options for {@linkcode Greenlet.get}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type GetOptions, spawn } from "./mod.ts";
 * const options: GetOptions = { timeout: 100 };
 * assert.equal(await spawn(() => "ok").get(options), "ok");
 * ```
 */
export interface GetOptions {
  /** Throw `Timeout` if not ready within this many milliseconds. */
  timeout?: number | undefined;
}

/** A greenlet's task: what the hub's run queue starts. */
class GreenletTask extends Task implements UserTask {
  readonly fn: (...args: never[]) => unknown;
  constructor(
    core: Task["core"],
    parent: Task,
    fn: (...args: never[]) => unknown,
  ) {
    super(core, parent);
    this.fn = fn;
  }
  /** The store of its context (see TaskCell): made when it first runs. */
  cell: TaskCell | null = null;

  runUser(): void {
    if (this.state !== DEAD) {
      als.run(this.cell = new TaskCell(this), runBody, this);
    } else this.core.park(this);
  }

  override abandon(site: string | null): boolean {
    const g = this.greenlet as Greenlet;
    const kill = this.stop!;
    warn(
      `gevent-ts: ${g} caught its kill (${
        describeError(kill.error)
      }) ${MAX_DELIVERIES} times and waited again${
        site === null ? "" : ` at ${site}`
      }: that flow is abandoned (its wait never settles) and the greenlet ends killed`,
    );
    finish(g, false, kill.error);
    return true;
  }
}

function describeError(e: unknown): string {
  return e instanceof Error ? e.name : String(e);
}

/** A warning to stderr, through `console.warn` as it is now (tests may replace it). */
function warn(message: string): void {
  globalThis.console.warn(message);
}

// deno-lint-ignore ban-types
type Entry = Function;
type Body = (...args: never[]) => unknown;

/**
 * The first argument of the library's own `new Greenlet` calls, never
 * exported: user code cannot pass one, so the public constructor keeps its
 * signature, and telling the paths apart costs a comparison or two.
 * `new Greenlet(MAIN, task)` makes a hub's main greenlet;
 * `new Greenlet(SPAWNED, ...spawned)` one that `spawn`, `spawnLater`,
 * `spawnAt` or `Hub#spawn` makes (typed by `Make`, below).
 */
const MAIN: unique symbol = Symbol("main greenlet");
const SPAWNED: unique symbol = Symbol("spawned greenlet");

/**
 * What the library's own callers say of a greenlet they spawn: its function
 * and arguments (an array the greenlet keeps: a fresh one), the greenlet
 * that spawns it (null: the running one), the public function called (its
 * caller is the spawn site), a spawn site taken earlier (pool.ts, before it
 * waits for a slot; undefined: none), and whether its failure is its
 * owner's to deliver rather than `hub.handleError`'s.
 */
type Spawned = [
  fn: Body,
  args: readonly unknown[],
  parent: Task | null,
  entry: Entry,
  site: Site | null | undefined,
  quiet: boolean,
];

const FAILED = 1, QUIET = 2;

/**
 * A greenlet's state in one word, as {@linkcode GreenletJSON} and run info
 * name it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type GreenletState, spawn } from "./mod.ts";
 * const g = spawn(() => 1);
 * const state: GreenletState = g.toJSON().state;
 * assert.equal(state, "scheduled");
 * await g.join();
 * ```
 */
export type GreenletState =
  | "unstarted"
  | "scheduled"
  | "running"
  | "waiting"
  | "away"
  | "dead";

/**
 * A greenlet as `JSON.stringify` writes it ({@linkcode Greenlet.toJSON}):
 * for structured logs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type GreenletJSON, spawn } from "./mod.ts";
 * const g = spawn(function job() {});
 * const json: GreenletJSON = g.toJSON();
 * assert.equal(json.state, "scheduled");
 * await g.join();
 * assert.equal(g.toJSON().successful, true);
 * ```
 */
export interface GreenletJSON {
  /** {@linkcode Greenlet.id}. */
  id: number;
  /** {@linkcode Greenlet.name}. */
  name: string;
  /**
   * `"unstarted"`, `"scheduled"` (to start), `"running"` (it runs, or
   * will resume next), `"waiting"` (on something the hub owns: a sleep, a
   * lock, a tracked fetch…), `"away"` (in an await the hub does not own)
   * or `"dead"` — the states run info names.
   */
  state: GreenletState;
  /** {@linkcode Greenlet.spawnSite}. */
  spawnSite: string | null;
  /** The parent's id; null for main. */
  parent: number | null;
  /** Once dead: {@linkcode Greenlet.successful}. */
  successful?: boolean;
  /** Once dead and not successful: the exception in one line (`TypeError: fetch failed`). */
  exception?: string;
}
let finish: (g: Greenlet, ok: boolean, v: unknown) => void;
let startFromTimer: (arg: unknown) => void;
/** The timers of greenlets started with `startLater` (rare: kept aside). */
const startTimers = new WeakMap<Greenlet, Timer>();
const resolvedVoid: Promise<void> = Promise.resolve();
const GET_OPTIONS = optionNames("timeout");
const KILL_OPTIONS = optionNames("block", "timeout");

/**
 * A function run cooperatively by the hub. Create one with
 * {@linkcode spawn} (or `new Greenlet(fn, ...args)` and `start()`); it
 * starts the next time the hub runs, never synchronously. A greenlet is a
 * {@linkcode Waitable}: ready once it is dead.
 *
 * @typeParam T What the function returns (awaited).
 * @typeParam A The function's parameters (checked against the arguments
 * given to the constructor, as `spawn` does).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Greenlet } from "./mod.ts";
 * const g = new Greenlet((a: number, b: number) => a + b, 2, 3);
 * g.start();
 * assert.equal(await g.get(), 5);
 * ```
 */
export class Greenlet<T = unknown, A extends unknown[] = unknown[]>
  extends Linkable {
  /** A small increasing integer, unique per hub (main is 0). */
  readonly id: number;
  #name: string | null;
  #args: readonly unknown[] | null;
  /**
   * What the function returned, once it finished successfully; the
   * `GreenletExit` that ended it, if it was killed (as in gevent).
   */
  value: T | GreenletExit | undefined = undefined;
  /** What the function threw, once it failed. */
  exception: unknown = undefined;
  readonly #task: Task;
  /** FAILED, and QUIET: a failure not reported to `hub.handleError`. */
  #flags = 0;

  static {
    finish = (g, ok, v) => g.#finish(ok, v);
    inspectAsString(this, function (this: Greenlet): string {
      return this.#inspect();
    });
  }

  /**
   * Creates a greenlet that is not started yet; call `start()` or
   * `startLater(ms)`.
   *
   * @param fn The function to run (may be async); its awaited result is
   * `value`.
   * @param args Arguments passed to `fn`.
   */
  constructor(
    fn: (...args: A) => T | PromiseLike<T>,
    ...args: A
  ) {
    super("join of");
    const path: unknown = fn;
    if (path === MAIN) {
      const mainTask = args[0] as Task;
      this.#task = mainTask;
      mainTask.greenlet = this;
      this.id = 0;
      this.#name = "main";
      this.#args = null;
      return;
    }
    let body: Body = fn as Body;
    let list: readonly unknown[] = args;
    let parent: Task | null = null;
    let entry: Entry = new.target;
    let site: Site | null | undefined = undefined;
    if (path === SPAWNED) {
      const spawned = args as unknown as Spawned;
      body = spawned[0];
      list = spawned[1];
      parent = spawned[2];
      entry = spawned[3];
      site = spawned[4];
      if (spawned[5]) this.#flags = QUIET;
    }
    checkFunction("spawn", "fn", body);
    const p = parent ?? currentTask();
    const core = hubCoreOf(p);
    const task = new GreenletTask(core, p, body);
    task.greenlet = this;
    this.#task = task;
    this.id = core.nextId++;
    // the default name is made when first read; no arguments keep no array
    this.#name = body.name === "" ? null : body.name;
    this.#args = list.length === 0 ? null : list;
    task.spawnSite = site !== undefined ? site : takeSite(entry);
    if (onSpawn !== null) emit(onSpawn, task);
  }

  /**
   * A name for messages: the function's name, else `Greenlet-<id>`; may be
   * set.
   *
   * @returns The name.
   */
  get name(): string {
    return this.#name ?? `Greenlet-${this.id}`;
  }
  set name(name: string) {
    this.#name = String(name);
  }

  /**
   * The arguments the function is called with.
   *
   * @returns The arguments (an empty array when there are none).
   */
  get args(): readonly unknown[] {
    return this.#args ?? NO_ARGS;
  }

  /** The hub that runs this greenlet. */
  get hub(): Hub {
    return hubCoreOf(this.#task).hub as Hub;
  }

  /** The greenlet that created this one (null for main). */
  get parent(): Greenlet | null {
    const p = this.#task.parent;
    return p === null ? null : greenletOf(p) as Greenlet;
  }

  /**
   * Where the greenlet was spawned: `file:line:col` of the code that called
   * `spawn` (or `spawnLater`, `new Greenlet`, `hub.spawn`, a pool's
   * `spawn`, `map`…); null for main, or when it was not recorded. Sites
   * are recorded as {@linkcode setSiteMode} says: by default, every one
   * while the program spawns fewer than 2,000 greenlets a second (a
   * capture costs about a microsecond; bursts beyond that go unrecorded).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { spawn } from "./mod.ts";
   * const g = spawn(() => 1);
   * assert.match(g.spawnSite!, /:\d+:\d+$/); // this line
   * await g.join();
   * ```
   */
  get spawnSite(): string | null {
    return this.#task.spawnSite?.text ?? null;
  }

  /**
   * What `JSON.stringify` (and so pino, winston…) writes of a greenlet: its
   * id, name, state (see {@linkcode GreenletJSON}), spawn site and parent's
   * id; once dead, whether it succeeded and, if not, its exception in one
   * line.
   *
   * @returns A plain object.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { getHub, spawn } from "./mod.ts";
   * const hub = getHub();
   * const original = hub.handleError;
   * hub.handleError = () => {};
   * const g = spawn(function fetchPage() {
   *   throw new TypeError("fetch failed");
   * });
   * await g.join();
   * hub.handleError = original;
   * assert.deepEqual(JSON.parse(JSON.stringify(g)), {
   *   id: g.id,
   *   name: "fetchPage",
   *   state: "dead",
   *   spawnSite: g.spawnSite,
   *   parent: 0,
   *   successful: false,
   *   exception: "TypeError: fetch failed",
   * });
   * ```
   */
  toJSON(): GreenletJSON {
    const task = this.#task;
    const p = task.parent;
    const json: GreenletJSON = {
      id: this.id,
      name: this.name,
      state: stateName(task),
      spawnSite: this.spawnSite,
      parent: p === null ? null : (greenletOf(p) as Greenlet).id,
    };
    if (task.state === DEAD) {
      json.successful = this.successful();
      if (!json.successful) json.exception = errorSummary(this.exception);
    }
    return json;
  }

  /** How `util.inspect`, `Deno.inspect` and `console.log` show it. */
  #inspect(): string {
    const task = this.#task;
    let text = `${this} ${stateText(task)}`;
    if (task.state === DEAD) {
      if (this.value instanceof GreenletExit) {
        text += ", killed (GreenletExit)";
      } else if ((this.#flags & FAILED) === 0) {
        text += `, returned ${shortValue(this.value)}`;
      } else {
        const kill = task.stop;
        text += kill !== null && kill.level && kill.threw(this.exception)
          ? `, killed by ${errorSummary(this.exception)}`
          : `, failed with ${errorSummary(this.exception)}`;
      }
    }
    const site = this.spawnSite;
    return site === null ? text : `${text} — spawned at ${site}`;
  }

  /**
   * True from `start()`/`spawn()` on — before the function first runs — until
   * the greenlet is dead (gevent's `bool(g)`).
   */
  get started(): boolean {
    const s = this.#task.state;
    return s === SCHEDULED || s === RUNNING;
  }

  /** True once the function has finished (or the greenlet was killed). */
  get dead(): boolean {
    return this.#task.state === DEAD;
  }

  /**
   * An AbortSignal that `kill()` aborts at once, with the kill's error as
   * its reason. Pass it to APIs that accept one (e.g. `fetch`), so a kill
   * stops them too. A `Timeout` does not abort it; inside a `withTimeout`,
   * `getCurrentSignal()` is the one its deadline aborts too.
   */
  get signal(): AbortSignal {
    return scopeSignal(this.#task);
  }

  /**
   * Whether the greenlet has finished (gevent's `ready()`).
   *
   * @returns `dead`.
   */
  ready(): boolean {
    return this.#task.state === DEAD;
  }

  /**
   * Whether it finished without an error (`GreenletExit` counts as success).
   *
   * @returns True when dead and not failed.
   */
  successful(): boolean {
    return this.#task.state === DEAD && (this.#flags & FAILED) === 0;
  }

  /**
   * `<Greenlet "name" #id: fn(args)>`, as gevent shows a greenlet
   * (`crawl(7)`: the function's name, each argument cut to 50 characters);
   * `<Greenlet "main" #0>` for main: how messages name it. Node's
   * `util.inspect`, `console.log` and Deno's show this line, then its state
   * as run info says it (once dead, its result or exception in short) and
   * its spawn site when recorded.
   *
   * @returns The greenlet's name, id and call.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { inspect } from "node:util";
   * import { setSiteMode, spawn } from "./mod.ts";
   * const previous = setSiteMode("off"); // no spawn site in what it prints
   * const g = spawn(function crawl(depth: number, url: string) {
   *   return depth * 2;
   * }, 7, "/a");
   * setSiteMode(previous);
   * assert.equal(String(g), `<Greenlet "crawl" #${g.id}: crawl(7, "/a")>`);
   * // what console.log(g) prints
   * assert.equal(inspect(g), `${g} scheduled to start`);
   * await g.join();
   * assert.equal(inspect(g), `${g} dead, returned 14`);
   * ```
   */
  override toString(): string {
    const task = this.#task;
    const call = task instanceof GreenletTask
      ? `: ${formatCall(task.fn, this.args)}`
      : "";
    return `<Greenlet "${this.name}" #${this.id}${call}>`;
  }

  /**
   * Schedules the greenlet to run the next time the hub runs. A no-op if it
   * was started already.
   */
  start(): void {
    if (this.#task.state !== NEW) return;
    this.#begin();
    const task = this.#task;
    task.core.resume(runUserTask, task, task);
  }

  /**
   * Schedules the greenlet to start after `ms` milliseconds. A no-op if it
   * was started already.
   *
   * @param ms Milliseconds to wait before the function runs.
   */
  startLater(ms: number): void {
    checkTimeout("start greenlet later", ms, "ms");
    if (this.#task.state !== NEW) return;
    this.#begin();
    startTimers.set(this, this.#task.core.addTimer(ms, startFromTimer, this));
  }

  #begin(): void {
    const task = this.#task;
    task.state = SCHEDULED;
    hubCoreOf(task).addLive(task);
  }

  static #startFromTimer(g: Greenlet): void {
    startTimers.delete(g);
    const task = g.#task;
    if (task.state !== DEAD) task.core.resume(runUserTask, task, task);
  }

  static {
    startFromTimer = (arg) => Greenlet.#startFromTimer(arg as Greenlet);
  }

  /**
   * Waits until the greenlet has finished, or `timeout` ms passed. Never
   * throws the greenlet's error (use `get()` for that). Its link callbacks
   * have all run when it returns.
   *
   * @param timeout Milliseconds to wait at most; undefined waits forever.
   * @returns A promise that resolves when it finished or the time is up.
   */
  join(timeout?: number): Promise<void> {
    checkTimeout("join greenlet", timeout);
    return this.waitReady({ timeout }) as Promise<void>;
  }

  /**
   * The greenlet's result: its value, or its error thrown. A greenlet that
   * ended by `GreenletExit` (killed) resolves with that `GreenletExit`, as
   * in gevent — hence the type; {@linkcode Greenlet.result} throws it
   * instead and resolves with `T` alone.
   *
   * @param options `timeout`: milliseconds to wait at most; then it throws
   * `Timeout`.
   * @returns A promise of the function's value (or of the `GreenletExit`
   * that killed it).
   */
  get(options?: GetOptions): Promise<T | GreenletExit> {
    checkOptions("get greenlet result", options, GET_OPTIONS);
    const timeout = options?.timeout;
    checkTimeout("get greenlet result", timeout);
    return this.waitReady({ timeout }).then(() => {
      if (this.#task.state !== DEAD) throw new Timeout(timeout);
      if ((this.#flags & FAILED) !== 0) throw this.exception;
      return this.value as T | GreenletExit;
    });
  }

  /**
   * The function's value, typed `T`: like `get()`, but a killed
   * greenlet's `GreenletExit` is thrown rather than returned.
   *
   * @param options `timeout`: milliseconds to wait at most; then it throws
   * `Timeout`.
   * @returns A promise of the function's value.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { GreenletExit, sleep, spawn } from "./mod.ts";
   * const n: number = await spawn(() => 42).result();
   * assert.equal(n, 42);
   * const killed = spawn(() => sleep(1000));
   * await sleep(0);
   * await killed.kill();
   * await assert.rejects(killed.result(), GreenletExit);
   * ```
   */
  result(options?: GetOptions): Promise<T> {
    return this.get(options).then(throwExit) as Promise<T>;
  }

  /**
   * Kills the greenlet: throws `error` at its current switch point and at
   * every one it reaches afterwards (level-triggered; cleanup that must wait
   * runs in `shield()`), and aborts its `signal` at once. The error reaches
   * its waits in the run queue's order, as gevent's kill: a wait that a
   * `set()`, `release()` or `put()` queued before completed returns its
   * result, and the kill lands at the next switch point. A flow that keeps
   * catching it and waiting again is abandoned after 10 deliveries (the
   * greenlet ends killed; one warning names the site). If it sits in an
   * await the hub does not own, it ends killed when that await returns — its
   * next hub-aware wait throws, or if its function returns first, its result
   * is dropped. A kill it caught and returned from leaves its outcome, as in
   * gevent. A kill is never a failure: ending by the kill's error (or one
   * caused by it, or an aborted operation's `AbortError`) reports nothing.
   * A second `kill(err2)` is delivered after the first. A greenlet that has
   * not started never runs. With `block` (the default) waits until it has
   * ended — its `finally` blocks and `shield`ed cleanup included — at most
   * `timeout` ms.
   *
   * @param error What to throw; defaults to a new {@linkcode GreenletExit}.
   * @param options `block` (default true) and `timeout` in milliseconds.
   * @returns A promise that resolves when the greenlet is dead (or at once
   * without `block`).
   * @throws {TypeError} On `hub.main`: code outside greenlets is not a
   * greenlet that can be killed.
   */
  kill(error?: unknown, options?: KillOptions): Promise<void> {
    checkOptions("kill greenlet", options, KILL_OPTIONS);
    const timeout = options?.timeout;
    checkTimeout("kill greenlet", timeout);
    const block = options?.block ?? true;
    const task = this.#task;
    if (task.isMain) {
      throw new TypeError(
        `Cannot kill greenlet: main is the code outside greenlets, not a greenlet to kill, received ${this}`,
      );
    }
    if (task.state === DEAD) return resolvedVoid;
    const err = error === undefined ? new GreenletExit() : error;
    // its signal aborts now; its waits reject in their turn (completion wins)
    throwInto(task, err, null, true, currentTask());
    if (task.state !== RUNNING) {
      this.#finish(false, err);
      return resolvedVoid;
    }
    return block ? this.join(timeout) : resolvedVoid;
  }

  /**
   * Like `link`, but only if the greenlet finishes successfully.
   *
   * @param callback Called with this greenlet.
   */
  linkValue(callback: LinkCallback<this>): void {
    this.addLink(callback, false, succeeded, "linkValue");
  }

  /**
   * Like `link`, but only if the greenlet fails.
   *
   * @param callback Called with this greenlet.
   */
  linkException(callback: LinkCallback<this>): void {
    this.addLink(callback, false, failed, "linkException");
  }

  /**
   * A link callback failed: reported as this greenlet's error.
   *
   * @param error What the callback threw.
   */
  protected override linkError(error: unknown): void {
    hubCoreOf(this.#task).reportError(this.#task, error);
  }

  /**
   * Ends the greenlet: records its result and notifies its links. A killed
   * greenlet ends killed, whatever its function returned. Flows it started
   * that still wait go on (they leave the live list with their last wait).
   */
  #finish(ok: boolean, v: unknown): void {
    const task = this.#task;
    if (task.state === DEAD) return;
    task.state = DEAD;
    (task as GreenletTask).cell?.release();
    if (onFinish !== null) emit(onFinish, task);
    const kill = task.stop;
    if (kill !== null && kill.level) {
      if (ok) {
        // a kill that never reached a switch point while the function was
        // away in an unowned await still ends it killed (rule 2); one it
        // caught and returned from, or one that came while it ran on to its
        // end, leaves the function's outcome (gevent's case; completion wins)
        if (kill.delivered === 0 && kill.whileAway) {
          ok = false;
          v = kill.error;
          this.#flags |= QUIET; // whatever its error, a kill is no failure
        }
      } else if (
        kill.delivered === 0 ||
        isCancellation(v, (e) => kill.threw(e) || e instanceof GreenletExit)
      ) {
        // a kill is never a failure: the kill's error, one caused by it, an
        // operation it aborted, a driver's error after the signal aborted
        v = killError(v, kill);
        this.#flags |= QUIET;
      }
    }
    const core = hubCoreOf(task);
    const startTimer = startTimers.get(this);
    if (startTimer !== undefined) {
      core.cancelTimer(startTimer);
      startTimers.delete(this);
    }
    if (task.waits === null) core.removeLive(task);
    if (ok || v instanceof GreenletExit) {
      this.value = v as T | GreenletExit;
    } else {
      this.exception = v;
      this.#flags |= FAILED;
    }
    this.notifyLinks();
    if (this.#flags === FAILED) core.reportError(task, v);
    core.park(task);
  }
}

/** The kill a killed greenlet ended by: the one in `e`'s cause chain, else the last. */
function killError(e: unknown, kill: Pending): unknown {
  for (let i = 0; i < 16 && e !== null && typeof e === "object"; i++) {
    if (kill.threw(e) || e instanceof GreenletExit) return e;
    e = (e as { cause?: unknown }).cause;
  }
  return kill.threw(e) ? e : kill.error;
}

function throwExit(v: unknown): unknown {
  if (v instanceof GreenletExit) throw v;
  return v;
}

function succeeded(g: Greenlet): boolean {
  return g.successful();
}

function failed(g: Greenlet): boolean {
  return !g.successful();
}

const NO_ARGS: readonly unknown[] = Object.freeze([]);

function runBody(task: GreenletTask): void {
  if (task.state === DEAD) return;
  task.state = RUNNING;
  if (onStart !== null) emit(onStart, task);
  const g = task.greenlet as Greenlet;
  let r: unknown;
  try {
    r = (task.fn as (...args: unknown[]) => unknown).apply(
      undefined,
      g.args as unknown[],
    );
  } catch (e) {
    finish(g, false, e);
    return;
  }
  if (
    r !== null && (typeof r === "object" || typeof r === "function") &&
    typeof (r as PromiseLike<unknown>).then === "function"
  ) {
    settleBody(r as PromiseLike<unknown>);
  } else {
    finish(g, true, r);
  }
}

/**
 * Ends the running greenlet when the promise its function returned settles
 * (one tick, as `await`). Called inside the greenlet's context; the handlers
 * are shared, not closures per greenlet: a reaction runs in the async
 * context it was registered in, so they find the greenlet there.
 */
function settleBody(r: PromiseLike<unknown>): void {
  Promise.resolve(r).then(bodyReturned, bodyThrew);
}

function bodyReturned(v: unknown): void {
  finish(bodyGreenlet(), true, v);
}

function bodyThrew(e: unknown): void {
  finish(bodyGreenlet(), false, e);
}

function bodyGreenlet(): Greenlet {
  const task = storedScope();
  if (!(task instanceof GreenletTask)) {
    throw new Error("gevent-ts: a greenlet's body settled outside its context");
  }
  return task.greenlet as Greenlet;
}

/** `Greenlet` itself, typed with the library's own construction paths ({@linkcode MAIN}). */
const Make = Greenlet as unknown as {
  new (path: typeof MAIN, task: Task): Greenlet;
  new <T>(path: typeof SPAWNED, ...spawned: Spawned): Greenlet<T>;
};

registerGreenletFactory({
  main(task: Task): Greenlet {
    return new Make(MAIN, task);
  },
  spawn(parent, fn, args, entry) {
    // args: Hub#spawn's rest parameter, the greenlet's own
    const g = new Make(SPAWNED, fn, args, parent, entry, undefined, false);
    g.start();
    return g;
  },
});

/**
 * Internal (for pool.ts, not re-exported): where the caller of `entry` is,
 * if sites are recorded now (see `takeSite`); else null.
 */
export function spawnSiteOf(entry: Entry): object | null {
  return takeSite(entry);
}

/**
 * Internal (for _server.ts and pool.ts, not re-exported): `new
 * Greenlet(fn, ...args)`, not started, recording `site` as where it was
 * spawned (null: none — a request's greenlet, whose spawn site would be the
 * server's own frame: a stack capture per request for nothing). `args` is
 * kept: a fresh array. A `quiet` greenlet's failure is its owner's to
 * deliver: it does not go to `hub.handleError`.
 */
export function greenletAt<T>(
  site: object | null, // a Site (its type is private)
  fn: (...args: never[]) => T | PromiseLike<T>,
  args: unknown[],
  quiet = false,
): Greenlet<T> {
  const s = site as Site | null;
  return new Make<T>(SPAWNED, fn, args, null, greenletAt, s, quiet);
}

/**
 * Internal (for pool.ts, not re-exported): {@linkcode spawn}, recording
 * `site` (from {@linkcode spawnSiteOf}) as where the greenlet was spawned;
 * `quiet` as in {@linkcode greenletAt}.
 */
export function spawnAt<T>(
  site: object | null, // a Site (its type is private)
  fn: (...args: never[]) => T | PromiseLike<T>,
  args: readonly unknown[],
  quiet = false,
): Greenlet<T> {
  // a copy, as a spread into the constructor made: the caller's array
  // stays the caller's
  const g = greenletAt(site, fn, [...args], quiet);
  g.start();
  return g;
}

/**
 * Creates a greenlet running `fn(...args)` and starts it: it runs the next
 * time the hub runs (when the caller reaches a switch point or its
 * synchronous code ends), never synchronously. Greenlets start in spawn
 * order.
 *
 * @param fn The function to run (may be async).
 * @param args Arguments passed to `fn`.
 * @returns The started {@linkcode Greenlet}, typed by `fn`'s awaited result.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { spawn } from "./mod.ts";
 * const g = spawn(async (x: number) => x * 2, 21);
 * assert.equal(await g.get(), 42);
 * ```
 */
export function spawn<A extends unknown[], R>(
  fn: (...args: A) => R,
  ...args: A
): Greenlet<Awaited<R>> {
  const g = new Make<Awaited<R>>(
    SPAWNED,
    fn as Body,
    args,
    null,
    spawn,
    undefined,
    false,
  );
  g.start();
  return g;
}

/**
 * Like {@linkcode spawn}, but the function starts after `ms` milliseconds.
 *
 * @param ms Milliseconds to wait before starting.
 * @param fn The function to run (may be async).
 * @param args Arguments passed to `fn`.
 * @returns The greenlet, started (scheduled) but not yet running.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { spawnLater } from "./mod.ts";
 * const g = spawnLater(10, () => "later");
 * assert.equal(await g.get(), "later");
 * ```
 */
export function spawnLater<A extends unknown[], R>(
  ms: number,
  fn: (...args: A) => R,
  ...args: A
): Greenlet<Awaited<R>> {
  checkTimeout("spawnLater", ms, "ms");
  const g = new Make<Awaited<R>>(
    SPAWNED,
    fn as Body,
    args,
    null,
    spawnLater,
    undefined,
    false,
  );
  g.startLater(ms);
  return g;
}
