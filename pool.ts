/**
 * Groups and pools of greenlets (gevent's `gevent.pool`): a
 * {@linkcode Group} tracks the greenlets it spawned or was given until they
 * end, joins and kills them together, and maps a function over an input
 * with one greenlet per item; a {@linkcode Pool} does the same with at most
 * `capacity` greenlets at once. Durations are milliseconds.
 *
 * Differences from gevent, besides camelCase:
 * - `size` is the number of greenlets in the group now, as a JavaScript
 *   `Set`'s `size` (gevent's `len(group)`); a pool's limit is `capacity`
 *   (gevent's `Pool.size`). `new Pool(capacity)` takes the limit, an
 *   integer ≥ 1; `new Pool()` has none (gevent's `Pool(size=None)`:
 *   `capacity` and `freeCount()` are `Infinity`).
 * - `Pool.spawn` and `Pool.add` return promises (they wait for a free slot),
 *   so `Pool` does not extend `Group`: both extend {@linkcode GroupBase}.
 * - What `fn` throws in `map`/`imap`/`imapUnordered`/`apply` goes to their
 *   caller only, never also to `hub.handleError`. When a map ends early (a
 *   failure of `map`, a `break` or `return()`, the caller killed) the
 *   greenlets it spawned are killed and awaited before it settles: nothing
 *   runs on behind the caller's back.
 * - The input of a map may be any iterable or async iterable; it is pulled
 *   lazily, one item per free slot, so an infinite input works with a
 *   `Pool(n)` (a `Group` or a `Pool()` has no limit: it pulls the whole
 *   input at once).
 *   `imap` starts at its first `next()`. Its `maxsize` stops the pulling
 *   while that many finished results wait for the consumer; greenlets
 *   running then still finish (gevent counts them in `maxsize`).
 * - `map` rejects with the first failure in completion order, at once (as
 *   `Promise.all`); gevent's raises the first in input order once those
 *   before it finished. `imap` and `imapUnordered` raise an item's error at
 *   its place (the `next()` that would have yielded it rejects) and go on
 *   with the next `next()`, as gevent's do. A `for await` loop leaves on
 *   that error without calling `return()` (the language's rule): nothing
 *   more is pulled then, but greenlets already running finish unseen —
 *   `await using it = pool.imap(…)` kills them instead.
 * - `join({ raiseError })` rejects with the first member that fails while
 *   it waits; the greenlets of a map never fail there (their errors go to
 *   the map's caller).
 * - `kill()` never rejects when its `timeout` runs out (as gevent's
 *   `Group.kill`); `Pool.add` takes `{ timeout, signal }` and resolves
 *   `false` when the time runs out (gevent raises `PoolFull`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Pool, sleep } from "./mod.ts";
 * const pool = new Pool(2);
 * let running = 0, peak = 0;
 * const squares = await pool.map(async (n: number) => {
 *   peak = Math.max(peak, ++running);
 *   await sleep(1);
 *   running--;
 *   return n * n;
 * }, [1, 2, 3, 4, 5]);
 * assert.deepEqual(squares, [1, 4, 9, 16, 25]);
 * assert.equal(peak, 2);
 * ```
 *
 * @module
 */

import {
  BLOCKING_OPTIONS,
  checkFunction,
  checkOptions,
  checkSignal,
  checkTimeout,
  describe,
  HOLDERS,
  inspectAsString,
  optionNames,
} from "./_util/mod.ts";
import {
  currentScope,
  NO_OPTIONS,
  settleNow,
  unhindered,
  type Waiter,
  WaiterList,
  waitOn,
  type WaitOptions,
} from "./_core/mod.ts";
import {
  Greenlet,
  GreenletExit,
  type KillOptions,
  spawnAt,
  spawnSiteOf,
} from "./greenlet.ts";
import { getCurrent, getHub, sleep } from "./hub.ts";
import { joinAll } from "./join_all.ts";
import { type AcquireOptions, Semaphore } from "./lock.ts";
import { shield } from "./timeout.ts";
import {
  checkItems,
  checkLimit,
  type MapHost,
  openImap,
  ORDERED,
  registerAsyncDispose,
  runApply,
  runMap,
  UNORDERED,
} from "./_imap.ts";

/**
 * Options for {@linkcode GroupBase.join}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Group, type GroupJoinOptions, sleep } from "./mod.ts";
 * const group = new Group();
 * group.spawn(() => sleep(1));
 * const options: GroupJoinOptions = { timeout: 1000, raiseError: true };
 * assert.equal(await group.join(options), true);
 * ```
 */
export interface GroupJoinOptions {
  /** Give up after this many milliseconds (`join` resolves `false`). */
  timeout?: number | undefined;
  /** Abort the wait: `join` rejects with `signal.reason`. */
  signal?: AbortSignal | undefined;
  /**
   * Reject with the error of the first member that fails while `join`
   * waits (in completion order).
   */
  raiseError?: boolean | undefined;
}

/**
 * Options for {@linkcode GroupBase.imap} and
 * {@linkcode GroupBase.imapUnordered}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type ImapOptions, Pool } from "./mod.ts";
 * const options: ImapOptions = { maxsize: 2 };
 * const out: number[] = [];
 * for await (const n of new Pool(2).imap((n: number) => n + 1, [1, 2, 3], options)) {
 *   out.push(n);
 * }
 * assert.deepEqual(out, [2, 3, 4]);
 * ```
 */
export interface ImapOptions {
  /**
   * At most this many finished results wait for the consumer: while they
   * do, no more input is pulled and nothing more is spawned (greenlets
   * already running still finish). An integer ≥ 1; unbounded when omitted.
   */
  maxsize?: number | undefined;
}

const RESOLVED_TRUE: Promise<boolean> = Promise.resolve(true);
const RESOLVED_FALSE: Promise<boolean> = Promise.resolve(false);
const resolvedVoid: Promise<void> = Promise.resolve();
const JOIN_OPTIONS = optionNames("timeout", "signal", "raiseError");
const KILL_OPTIONS = optionNames("block", "timeout");

function checkGreenlet(action: string, g: unknown): void {
  if (!(g instanceof Greenlet)) {
    throw new TypeError(
      `Cannot ${action}: greenlet must be a Greenlet, received ${describe(g)}`,
    );
  }
}

/** What a group's join waits with: its options and `raiseError`. */
interface JoinWait extends WaitOptions {
  readonly raiseError: boolean;
}

/**
 * The state of one group: its members, its slots (a pool's), its joins.
 * Module-private, so that `Group` and `Pool` share it without showing it.
 */
class GroupCore implements MapHost {
  readonly group: GroupBase;
  readonly members: Set<Greenlet> = new Set();
  /** Members killed by `kill()` and not ended yet (killed once only). */
  readonly dying: Set<Greenlet> = new Set();
  /** A pool's free slots; null for a group (no limit). */
  readonly slots: Semaphore | null;
  readonly joins: WaiterList = new WaiterList();
  /** A pool's slots held by maps' drivers (pulling an item), not members. */
  driverSlots = 0;
  /** The link every member gets: it leaves the group when it ends. */
  readonly onEnd: (g: Greenlet) => void;
  #joinSource: object | null = null;

  constructor(group: GroupBase, capacity: number) {
    this.group = group;
    this.slots = capacity === Infinity ? null : new Slots(group, capacity);
    this.onEnd = (g) => this.ended(g);
  }

  /** Adds a greenlet whose slot (if any) is already taken. */
  track(g: Greenlet): void {
    this.members.add(g);
    g.rawlink(this.onEnd);
  }

  /** Spawns `fn(...args)` as a member (its slot, if any, taken). */
  spawn<T>(
    site: object | null,
    fn: (...args: never[]) => T | PromiseLike<T>,
    args: readonly unknown[],
  ): Greenlet<T> {
    const g = spawnAt(site, fn, args);
    this.track(g);
    return g;
  }

  /** A member ended (a link, run from the hub's run queue). */
  ended(g: Greenlet): void {
    if (!this.members.delete(g)) return;
    this.dying.delete(g);
    this.slots?.release();
    const joins = this.joins;
    if (joins.size === 0) return;
    if (!g.successful()) {
      for (let w = joins.head; w !== null;) {
        const next: Waiter | null = w.next;
        if ((w.options as JoinWait).raiseError) {
          settleNow(w, false, g.exception);
        }
        w = next;
      }
    }
    if (this.members.size === 0) joins.settleAll(true, true);
  }

  discard(g: Greenlet): void {
    if (!this.members.delete(g)) return;
    g.unlink(this.onEnd);
    this.dying.delete(g);
    this.slots?.release();
    if (this.members.size === 0) this.joins.settleAll(true, false);
  }

  join(
    timeout: number | undefined,
    signal: AbortSignal | undefined,
    raiseError: boolean,
  ): Promise<boolean> {
    const scope = currentScope();
    if (signal?.aborted !== true && unhindered(scope)) {
      if (this.members.size === 0) return RESOLVED_TRUE;
      if (timeout === 0) return RESOLVED_FALSE; // a wait of 0 ms: a poll
    }
    const options: JoinWait = {
      list: this.joins,
      timeout,
      signal,
      timeoutValue: false,
      raiseError,
    };
    return waitOn(
      scope,
      this.#joinSource ??= new JoinSource(this.group),
      options,
    )
      .promise as Promise<boolean>;
  }

  /** Kills the members not killed yet (without waiting). */
  killRound(error: unknown): void {
    for (const g of this.members) {
      if (this.dying.has(g)) continue;
      this.dying.add(g);
      g.kill(error === undefined ? new GreenletExit() : error, {
        block: false,
      });
    }
  }

  async killWait(error: unknown, timeout: number | undefined): Promise<void> {
    const hub = getHub();
    const deadline = timeout === undefined ? Infinity : hub.now() + timeout;
    for (;;) {
      this.killRound(error); // greenlets added meanwhile
      if (this.members.size === 0) {
        // A slot handed over (a member ended) to a spawn, an add, an apply
        // or a map's driver that waited for it and has not taken it up
        // yet: its greenlet comes when it resumes, within a turn; then it
        // is killed too. Without this, kill() could return just before it
        // joins, and it would run on.
        if (this.slotsInFlight() === 0 || deadline <= hub.now()) return;
        await sleep(0);
        continue;
      }
      const list = [...this.members];
      const left = deadline - hub.now();
      if (left <= 0) return;
      const done = await joinAll(list, {
        timeout: left === Infinity ? undefined : left,
      });
      if (done.length < list.length) return; // timed out
    }
  }

  /**
   * A pool's slots taken by no member and no map's driver: handed over to
   * a waiter that has not resumed yet.
   */
  slotsInFlight(): number {
    const slots = this.slots;
    if (slots === null) return 0;
    return this.group.capacity - slots.counter - this.members.size -
      this.driverSlots;
  }

  /** Spawns a quiet member with no link of its own (see MapHost). */
  spawnQuiet(
    site: object | null,
    fn: (...args: never[]) => unknown,
    args: readonly unknown[],
  ): Greenlet {
    const g = spawnAt(site, fn, args, true);
    this.members.add(g);
    return g;
  }
}

/**
 * A pool's slots: a Semaphore (FIFO, hand-off) that shows in run info and
 * `LoopExit` messages as `a free slot in Pool(size=2, capacity=2)`.
 */
class Slots extends Semaphore {
  readonly #group: GroupBase;
  static {
    // its permits are taken by spawners and given back by members that end
    Object.defineProperty(this.prototype, HOLDERS, { value: () => null });
  }
  constructor(group: GroupBase, capacity: number) {
    super(capacity);
    this.#group = group;
  }
  override toString(): string {
    return `a free slot in ${this.#group}`;
  }
}

/** What a join waits on, for run info: `join of Group(size=2)`. */
class JoinSource {
  readonly group: GroupBase;
  constructor(group: GroupBase) {
    this.group = group;
  }
  toString(): string {
    return `join of ${this.group}`;
  }
}

/** A group's state (set by GroupBase's static block). */
let groupCoreOf: (group: GroupBase) => GroupCore;

/**
 * What {@linkcode Group} and {@linkcode Pool} share: membership, `join`,
 * `kill`, `await using`, and mapping a function over an input (`map`,
 * `imap`, `imapUnordered`, `apply`). Members leave by themselves when they
 * end. Use it as a type for code that takes either; their `spawn` and `add`
 * differ (a pool's wait for a free slot).
 *
 * @example A function that takes a Group or a Pool
 * ```ts
 * import assert from "node:assert/strict";
 * import { Group, type GroupBase, Pool } from "./mod.ts";
 * async function lengths(group: GroupBase, words: string[]): Promise<number[]> {
 *   return await group.map((w: string) => w.length, words);
 * }
 * assert.deepEqual(await lengths(new Group(), ["a", "bb"]), [1, 2]);
 * assert.deepEqual(await lengths(new Pool(1), ["ccc"]), [3]);
 * ```
 */
export abstract class GroupBase implements AsyncDisposable, Iterable<Greenlet> {
  /**
   * How many greenlets may be in it at once: a pool's limit; `Infinity`
   * for a group and for a pool without a limit (`new Pool()`).
   */
  readonly capacity: number;
  readonly #core: GroupCore;

  static {
    groupCoreOf = (group) => group.#core;
    inspectAsString(this);
  }

  /**
   * Creates an empty group.
   *
   * @param capacity The limit: an integer ≥ 1, or `Infinity` for none.
   */
  protected constructor(capacity: number) {
    if (capacity !== Infinity) {
      checkLimit(`create ${new.target.name}`, "capacity", capacity, null);
    }
    this.capacity = capacity;
    this.#core = new GroupCore(this, capacity);
  }

  /**
   * The number of greenlets in it now (as `Set#size`; gevent's `len()`).
   * Not the limit: that is `capacity`.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Group, sleep } from "./mod.ts";
   * const group = new Group();
   * const g = group.spawn(() => sleep(1));
   * assert.equal(group.size, 1);
   * await g.join();
   * assert.equal(group.size, 0); // it left when it ended
   * ```
   */
  get size(): number {
    return this.#core.members.size;
  }

  /**
   * Whether `greenlet` is in the group (it was added and has not ended or
   * been discarded).
   *
   * @param greenlet The greenlet to look for.
   * @returns True if it is a member.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Group, sleep, spawn } from "./mod.ts";
   * const group = new Group();
   * const g = group.spawn(() => sleep(1));
   * assert.equal(group.has(g), true);
   * assert.equal(group.has(spawn(() => {})), false);
   * await group.join();
   * assert.equal(group.has(g), false);
   * ```
   */
  has(greenlet: Greenlet): boolean {
    return this.#core.members.has(greenlet);
  }

  /**
   * Stops tracking `greenlet` (it goes on running); a pool frees its slot
   * at once. A no-op if it is not a member.
   *
   * @param greenlet The member to forget.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Pool, sleep } from "./mod.ts";
   * const pool = new Pool(1);
   * const g = await pool.spawn(() => sleep(5));
   * pool.discard(g);
   * assert.equal(pool.freeCount(), 1);
   * assert.equal(await pool.join(), true); // g is not waited for
   * await g.join();
   * ```
   */
  discard(greenlet: Greenlet): void {
    checkGreenlet(`discard from ${this.constructor.name}`, greenlet);
    this.#core.discard(greenlet);
  }

  /**
   * Iterates over the members now (in the order they were added). A member
   * that ends or is discarded during the iteration is skipped if not
   * reached yet, as with a `Set`.
   *
   * @returns An iterator over the members.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Group, sleep } from "./mod.ts";
   * const group = new Group();
   * const a = group.spawn(() => sleep(1));
   * const b = group.spawn(() => sleep(1));
   * assert.deepEqual([...group], [a, b]);
   * await group.join();
   * ```
   */
  [Symbol.iterator](): IterableIterator<Greenlet> {
    return this.#core.members.values();
  }

  /**
   * How many more greenlets fit without waiting: `capacity` minus the
   * slots taken (`Infinity` for a group and a pool without a limit).
   *
   * @returns The number of free slots.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Pool, sleep } from "./mod.ts";
   * const pool = new Pool(3);
   * await pool.spawn(() => sleep(1));
   * assert.equal(pool.freeCount(), 2);
   * await pool.join();
   * assert.equal(pool.freeCount(), 3);
   * ```
   */
  freeCount(): number {
    const slots = this.#core.slots;
    return slots === null ? Infinity : slots.counter;
  }

  /**
   * Whether no slot is free, so that a pool's `spawn` and `add` would wait
   * (always false for a group and a pool without a limit).
   *
   * @returns `freeCount() === 0`.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Pool, sleep } from "./mod.ts";
   * const pool = new Pool(1);
   * assert.equal(pool.full(), false);
   * await pool.spawn(() => sleep(1));
   * assert.equal(pool.full(), true);
   * await pool.join();
   * ```
   */
  full(): boolean {
    return this.freeCount() === 0;
  }

  /**
   * Waits until a slot is free, without taking it (gevent's
   * `wait_available`). Resolves at once, with `Infinity`, for a group and
   * a pool without a limit.
   * Never throws for a timeout.
   *
   * @param timeout Milliseconds to wait at most; undefined waits forever.
   * @returns The number of free slots once there is one, or 0 if `timeout`
   * ran out.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Pool, sleep } from "./mod.ts";
   * const pool = new Pool(1);
   * await pool.spawn(() => sleep(5));
   * assert.equal(await pool.waitAvailable(0), 0);
   * assert.equal(await pool.waitAvailable(), 1);
   * ```
   */
  waitAvailable(timeout?: number): Promise<number> {
    checkTimeout(`wait for a free slot in ${this.constructor.name}`, timeout);
    const slots = this.#core.slots;
    if (slots === null) return Promise.resolve(Infinity);
    if (timeout === 0 && unhindered(currentScope())) {
      return Promise.resolve(slots.counter); // a wait of 0 ms: a poll
    }
    return slots.wait(timeout);
  }

  /**
   * Waits until the group is empty — every member ended or was discarded —
   * at least once (greenlets added afterwards may be running again when it
   * returns). A switch point.
   *
   * @param options `timeout` in milliseconds (then it resolves `false`),
   * `signal` (an abort rejects with `signal.reason`), and `raiseError`:
   * reject with the error of the first member that fails while it waits,
   * in completion order.
   * @returns True once the group is empty; false if `timeout` ran out.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Group, sleep } from "./mod.ts";
   * const group = new Group();
   * group.spawn(() => sleep(20));
   * assert.equal(await group.join({ timeout: 1 }), false);
   * assert.equal(await group.join(), true);
   * ```
   */
  join(options?: GroupJoinOptions): Promise<boolean> {
    const action = `join ${this.constructor.name}`;
    checkOptions(action, options, JOIN_OPTIONS);
    const timeout = options?.timeout;
    checkTimeout(action, timeout);
    const signal = options?.signal;
    checkSignal(action, signal);
    const raiseError = options?.raiseError;
    if (raiseError !== undefined && typeof raiseError !== "boolean") {
      throw new TypeError(
        `Cannot ${action}: raiseError must be a boolean, received ${
          describe(raiseError)
        }`,
      );
    }
    return this.#core.join(timeout, signal, raiseError === true);
  }

  /**
   * Kills every member (see {@linkcode Greenlet.kill}), and with `block`
   * (the default) waits until they all ended — their `finally` blocks and
   * `shield`ed cleanup included — killing as well the greenlets added
   * meanwhile: those of spawns, adds, applies and maps that were waiting
   * for a slot get one as the members end, and are killed in turn (so
   * when it returns, none of them runs on). That wait holds even when the caller is itself killed or its
   * `withTimeout` expired (it runs shielded): a scope ends when its body
   * has; the caller's own cancellation lands at its next switch point
   * after. Unlike `killAll` it never rejects when `timeout` runs out (as
   * gevent's `Group.kill`): check `size` afterwards.
   *
   * @param error What to throw into each; defaults to a new `GreenletExit`
   * per greenlet.
   * @param options `block` (default true) and `timeout` in milliseconds.
   * @returns A promise that resolves once the members are dead (or
   * `timeout` ran out; at once without `block`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Group, sleep } from "./mod.ts";
   * const group = new Group();
   * const g = group.spawn(() => sleep(10_000));
   * await group.kill();
   * assert.equal(g.dead, true);
   * assert.equal(group.size, 0);
   * ```
   */
  kill(error?: unknown, options?: KillOptions): Promise<void> {
    const action = `kill ${this.constructor.name}`;
    checkOptions(action, options, KILL_OPTIONS);
    const timeout = options?.timeout;
    checkTimeout(action, timeout);
    const core = this.#core;
    core.killRound(error);
    if (options?.block === false || core.members.size === 0) {
      return resolvedVoid;
    }
    // a wait of the caller's that its own cancellation must not cut short:
    // kill() returns once the members have unwound, as a greenlet's does
    return shield(() => core.killWait(error, timeout));
  }

  /**
   * Kills what is left (`kill()`), so that `await using group = new
   * Group();` ends its members with the block: it returns once they have
   * unwound, also when the block is left because its greenlet was killed.
   *
   * @returns A promise that resolves once they are dead.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Group, sleep } from "./mod.ts";
   * let g;
   * {
   *   await using group = new Group();
   *   g = group.spawn(() => sleep(10_000));
   * }
   * assert.equal(g.dead, true);
   * ```
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.kill();
  }

  /**
   * Runs `fn(item)` in a member greenlet for each item of `items` and
   * resolves with the results in input order. A pool runs at most
   * `capacity` at once and pulls the next item only when a slot is free.
   * The first failure (in completion order, as `Promise.all`) rejects it at
   * once: the others are killed and awaited first; the error does not also
   * go to `hub.handleError`. If the caller is killed meanwhile, they are
   * killed too.
   *
   * @param fn The function to call with each item (may be async).
   * @param items Any iterable or async iterable, pulled lazily.
   * @returns A promise of the results, in input order.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Pool, sleep } from "./mod.ts";
   * const pool = new Pool(3);
   * const out = await pool.map(async (ms: number) => {
   *   await sleep(ms);
   *   return ms;
   * }, [3, 1, 2]);
   * assert.deepEqual(out, [3, 1, 2]); // input order, whatever ended first
   * ```
   */
  map<T, R>(
    fn: (item: T) => R,
    items: Iterable<T> | AsyncIterable<T>,
  ): Promise<Awaited<R>[]> {
    const action = `map in ${this.constructor.name}`;
    checkFunction(action, "fn", fn);
    checkItems(action, items);
    const site = spawnSiteOf(GroupBase.prototype.map);
    return runMap(
      this.#core,
      fn as (...args: never[]) => unknown,
      items,
      site,
    ) as Promise<Awaited<R>[]>;
  }

  /**
   * Like `map`, as an async iterator of the results in input order: each
   * comes as soon as it and those before it finished. Nothing runs until
   * the first `next()`.
   *
   * An item whose `fn` threw raises its error at its position: that
   * `next()` rejects with it, and the iteration goes on — the following
   * `next()` continues with the items after it (gevent's imap). Nothing
   * more is pulled from the input until that next `next()`; greenlets
   * already running go on. A `for await` loop leaves on the error without
   * calling `return()`, so declare the iterator with `await using` (or call
   * `return()`) to stop those too. The error never also goes to
   * `hub.handleError`.
   *
   * Ending early — `break`, `return()`, an error of the input, a member
   * killed from outside, or the consumer killed in `next()` — kills the
   * greenlets still running and waits for them, then closes the input's
   * iterator. With a pool the input is pulled one item per free slot, so an
   * infinite (async) iterable works; `maxsize` bounds the finished results
   * (and errors) waiting for a slow consumer. A group (or a pool without a
   * limit) pulls the whole input at once.
   *
   * @param fn The function to call with each item (may be async).
   * @param items Any iterable or async iterable, pulled lazily.
   * @param options `maxsize`: at most this many finished results wait.
   * @returns An async iterator of the results, in input order; also
   * `AsyncDisposable`: `await using` closes it (as `return()`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Pool } from "./mod.ts";
   * async function* naturals() {
   *   for (let n = 1; ; n++) yield n;
   * }
   * const out: number[] = [];
   * for await (const sq of new Pool(4).imap((n: number) => n * n, naturals())) {
   *   out.push(sq);
   *   if (out.length === 5) break; // the rest is killed, the input closed
   * }
   * assert.deepEqual(out, [1, 4, 9, 16, 25]);
   * ```
   *
   * @example An item's error, at its place; the iteration goes on
   * ```ts
   * import assert from "node:assert/strict";
   * import { Pool } from "./mod.ts";
   * const divideBy = (n: number) => {
   *   if (n === 0) throw new RangeError("division by zero");
   *   return 1 / n;
   * };
   * await using it = new Pool(1).imap(divideBy, [1, 0, 2]);
   * const log: string[] = [];
   * for (;;) {
   *   try {
   *     const r = await it.next();
   *     if (r.done) break;
   *     log.push(String(r.value));
   *   } catch (e) {
   *     log.push((e as Error).message);
   *   }
   * }
   * assert.deepEqual(log, ["1", "division by zero", "0.5"]);
   * ```
   */
  imap<T, R>(
    fn: (item: T) => R,
    items: Iterable<T> | AsyncIterable<T>,
    options?: ImapOptions,
  ): AsyncIterableIterator<Awaited<R>> & AsyncDisposable {
    const site = spawnSiteOf(GroupBase.prototype.imap);
    return openImap<Awaited<R>>(
      this.#core,
      `imap in ${this.constructor.name}`,
      ORDERED,
      fn as (...args: never[]) => unknown,
      items,
      options,
      site,
    );
  }

  /**
   * Like `imap`, but each result comes as soon as it is ready (completion
   * order), and an item's error is raised when it happens — by the `next()`
   * that would have yielded it — and the iteration goes on, as `imap`'s.
   *
   * @param fn The function to call with each item (may be async).
   * @param items Any iterable or async iterable, pulled lazily.
   * @param options `maxsize`: at most this many finished results wait.
   * @returns An async iterator of the results, in completion order (also
   * `AsyncDisposable`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Group, sleep } from "./mod.ts";
   * const out: number[] = [];
   * const slow = async (n: number) => {
   *   for (let i = 0; i < n; i++) await sleep(0);
   *   return n;
   * };
   * for await (const n of new Group().imapUnordered(slow, [3, 1, 2])) out.push(n);
   * assert.deepEqual(out, [1, 2, 3]);
   * ```
   *
   * @example A consumer that catches each item's error and goes on
   * ```ts
   * import assert from "node:assert/strict";
   * import { Group, sleep } from "./mod.ts";
   * const check = async (n: number) => {
   *   for (let i = 0; i < n; i++) await sleep(0); // n turns of the hub
   *   if (n % 2 === 0) throw new Error(`${n} is even`);
   *   return n;
   * };
   * await using it = new Group().imapUnordered(check, [3, 2, 1]);
   * const log: string[] = [];
   * for (;;) {
   *   try {
   *     const r = await it.next();
   *     if (r.done) break;
   *     log.push(`ok ${r.value}`);
   *   } catch (e) {
   *     log.push((e as Error).message);
   *   }
   * }
   * assert.deepEqual(log, ["ok 1", "2 is even", "ok 3"]);
   * ```
   */
  imapUnordered<T, R>(
    fn: (item: T) => R,
    items: Iterable<T> | AsyncIterable<T>,
    options?: ImapOptions,
  ): AsyncIterableIterator<Awaited<R>> & AsyncDisposable {
    const site = spawnSiteOf(GroupBase.prototype.imapUnordered);
    return openImap<Awaited<R>>(
      this.#core,
      `imapUnordered in ${this.constructor.name}`,
      UNORDERED,
      fn as (...args: never[]) => unknown,
      items,
      options,
      site,
    );
  }

  /**
   * Runs `fn(...args)` in a member greenlet (a pool waits for a free slot)
   * and resolves with its result, or rejects with its error (which does not
   * also go to `hub.handleError`). Called from a member of this group, it
   * calls `fn` directly instead, as gevent does: a full pool would wait for
   * itself. If the caller is killed while it waits, the greenlet is killed
   * too.
   *
   * @param fn The function to run (may be async).
   * @param args Arguments passed to `fn`.
   * @returns A promise of `fn`'s result.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Pool } from "./mod.ts";
   * const pool = new Pool(1);
   * assert.equal(await pool.apply(Math.max, 1, 5, 3), 5);
   * await assert.rejects(pool.apply(() => {
   *   throw new Error("boom");
   * }), { message: "boom" });
   * ```
   */
  apply<A extends unknown[], R>(
    fn: (...args: A) => R,
    ...args: A
  ): Promise<Awaited<R>> {
    checkFunction(`apply in ${this.constructor.name}`, "fn", fn);
    const core = this.#core;
    if (core.members.has(getCurrent())) {
      try {
        return Promise.resolve(fn(...args)) as Promise<Awaited<R>>;
      } catch (e) {
        return Promise.reject(e);
      }
    }
    return runApply(
      core,
      spawnSiteOf(GroupBase.prototype.apply),
      fn as unknown as (...args: never[]) => R,
      args,
    );
  }

  /**
   * `Group(size=2)` or `Pool(size=2, capacity=4)`: how it shows in run
   * info and messages.
   *
   * @returns The class name, the number of members and the capacity.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Pool } from "./mod.ts";
   * assert.equal(String(new Pool(4)), "Pool(size=0, capacity=4)");
   * ```
   */
  toString(): string {
    const capacity = this.capacity === Infinity
      ? ""
      : `, capacity=${this.capacity}`;
    return `${this.constructor.name}(size=${this.size}${capacity})`;
  }
}

/**
 * A group of greenlets without a limit (gevent's `Group`): it tracks the
 * greenlets it spawned or was given until they end, so that they can be
 * joined, killed and counted together, and maps functions over inputs with
 * one greenlet per item. `await using group = new Group();` kills what is
 * left at the end of the block.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Group, sleep } from "./mod.ts";
 * const log: string[] = [];
 * const group = new Group();
 * for (const name of ["a", "b"]) {
 *   group.spawn(async () => {
 *     await sleep(1);
 *     log.push(name);
 *   });
 * }
 * assert.equal(group.size, 2);
 * await group.join();
 * assert.deepEqual(log, ["a", "b"]);
 * assert.equal(group.size, 0);
 * ```
 */
export class Group extends GroupBase {
  /**
   * Creates a group.
   *
   * @param greenlets Greenlets to add at once (as `add`).
   */
  constructor(greenlets?: Iterable<Greenlet>) {
    super(Infinity);
    if (greenlets === undefined) return;
    const action = `create ${new.target.name}`;
    if (
      greenlets === null || typeof greenlets !== "object" ||
      typeof greenlets[Symbol.iterator] !== "function"
    ) {
      throw new TypeError(
        `Cannot ${action}: greenlets must be an iterable of Greenlets, received ${
          describe(greenlets)
        }`,
      );
    }
    for (const g of greenlets) {
      checkGreenlet(action, g);
      if (!g.dead) groupCoreOf(this).track(g);
    }
  }

  /**
   * Starts tracking `greenlet` until it ends. A member already, or a dead
   * greenlet (it has left already), is not added again. A greenlet that is
   * not started yet stays a member until it is started and ends.
   *
   * @param greenlet The greenlet to track.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Group, sleep, spawn } from "./mod.ts";
   * const group = new Group();
   * const g = spawn(() => sleep(1));
   * group.add(g);
   * assert.equal(group.has(g), true);
   * await group.join();
   * assert.equal(group.has(g), false);
   * ```
   */
  add(greenlet: Greenlet): void {
    checkGreenlet(`add to ${this.constructor.name}`, greenlet);
    const core = groupCoreOf(this);
    if (greenlet.dead || core.members.has(greenlet)) return;
    core.track(greenlet);
  }

  /**
   * Creates a greenlet running `fn(...args)`, starts it (it runs the next
   * time the hub runs, never synchronously) and adds it to the group.
   *
   * @param fn The function to run (may be async).
   * @param args Arguments passed to `fn`.
   * @returns The started member greenlet.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Group } from "./mod.ts";
   * const group = new Group();
   * const g = group.spawn((a: number, b: number) => a + b, 2, 3);
   * assert.equal(group.has(g), true);
   * assert.equal(await g.get(), 5);
   * ```
   */
  spawn<A extends unknown[], R>(
    fn: (...args: A) => R,
    ...args: A
  ): Greenlet<Awaited<R>> {
    checkFunction(`spawn in ${this.constructor.name}`, "fn", fn);
    return groupCoreOf(this).spawn(
      spawnSiteOf(Group.prototype.spawn),
      fn as unknown as (...args: never[]) => Awaited<R>,
      args,
    );
  }
}

/**
 * A group with a limit (gevent's `Pool`): at most `capacity` greenlets are
 * in it at once. `spawn` and `add` wait, in FIFO order, for a free slot;
 * `map`, `imap`, `imapUnordered` and `apply` share the same slots. A slot is
 * freed when its greenlet ends (or is discarded). `new Pool()` has no limit
 * (gevent's `Pool(size=None)`): nothing ever waits for a slot, as in a
 * `Group`, and `capacity` is `Infinity`.
 *
 * @example At most two at a time
 * ```ts
 * import assert from "node:assert/strict";
 * import { Pool, sleep } from "./mod.ts";
 * const pool = new Pool(2);
 * let running = 0, peak = 0;
 * for (let i = 0; i < 5; i++) {
 *   await pool.spawn(async () => { // waits while 2 run
 *     peak = Math.max(peak, ++running);
 *     await sleep(1);
 *     running--;
 *   });
 * }
 * await pool.join();
 * assert.equal(peak, 2);
 * ```
 *
 * @example No limit
 * ```ts
 * import assert from "node:assert/strict";
 * import { Event, Pool } from "./mod.ts";
 * const pool = new Pool();
 * assert.equal(pool.capacity, Infinity);
 * const go = new Event();
 * for (let i = 0; i < 1000; i++) await pool.spawn(() => go.wait()); // no wait
 * assert.equal(pool.size, 1000);
 * assert.equal(pool.freeCount(), Infinity);
 * assert.equal(pool.full(), false);
 * go.set();
 * await pool.join();
 * ```
 */
export class Pool extends GroupBase {
  /**
   * Creates a pool.
   *
   * @param capacity How many greenlets may run in it at once: an integer
   * ≥ 1; when omitted (or `undefined`), no limit (gevent's
   * `Pool(size=None)`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Pool } from "./mod.ts";
   * assert.equal(new Pool(4).capacity, 4);
   * assert.equal(new Pool().capacity, Infinity);
   * assert.throws(() => new Pool(0), RangeError);
   * ```
   */
  constructor(capacity?: number) {
    checkLimit(
      `create ${new.target.name}`,
      "capacity",
      capacity,
      " or undefined (no limit)",
    );
    super(capacity ?? Infinity);
  }

  /**
   * Starts tracking `greenlet` until it ends, once a slot is free (waiting
   * in FIFO order with `spawn`; at once in a pool without a limit). A
   * member already, or a dead greenlet, is not added (it resolves `true` at
   * once). Add greenlets that are not started yet: a started one keeps
   * running while this waits, beyond the pool's limit (as gevent warns).
   *
   * @param greenlet The greenlet to track.
   * @param options `timeout` in milliseconds (then it resolves `false`,
   * not added) and `signal` (an abort rejects with `signal.reason`).
   * @returns True once tracked; false if `timeout` ran out first.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Greenlet, Pool, sleep } from "./mod.ts";
   * const pool = new Pool(1);
   * await pool.spawn(() => sleep(5));
   * const g = new Greenlet(() => "later");
   * assert.equal(await pool.add(g, { timeout: 0 }), false); // full
   * assert.equal(await pool.add(g), true);
   * g.start();
   * assert.equal(await g.get(), "later");
   * ```
   */
  add(greenlet: Greenlet, options?: AcquireOptions): Promise<boolean> {
    const action = `add to ${this.constructor.name}`;
    checkGreenlet(action, greenlet);
    checkOptions(action, options, BLOCKING_OPTIONS);
    checkTimeout(action, options?.timeout);
    checkSignal(action, options?.signal);
    const core = groupCoreOf(this);
    if (greenlet.dead || core.members.has(greenlet)) return RESOLVED_TRUE;
    const slots = core.slots;
    const signal = options?.signal;
    if (slots === null) { // no limit: nothing to wait for
      const scope = currentScope();
      if (signal?.aborted !== true && unhindered(scope)) {
        core.track(greenlet);
        return RESOLVED_TRUE;
      }
      // a cancelled caller (or an aborted signal): it rejects, as a wait
      // for a free slot of a limited pool does
      return waitOn(scope, this, signal === undefined ? NO_OPTIONS : { signal })
        .promise as Promise<never>;
    }
    if (
      signal?.aborted !== true && unhindered(currentScope()) &&
      slots.tryAcquire()
    ) {
      core.track(greenlet);
      return RESOLVED_TRUE;
    }
    return slots.acquire(options).then((ok) => {
      if (!ok) return false;
      if (greenlet.dead || core.members.has(greenlet)) slots.release();
      else core.track(greenlet);
      return true;
    });
  }

  /**
   * Waits for a free slot (FIFO among the callers of `spawn`, `add`,
   * `apply` and the maps of this pool; a switch point only when it waits,
   * never in a pool without a limit), then creates and starts a greenlet
   * running `fn(...args)` in it. The monitor records this call as where the
   * greenlet was spawned.
   *
   * @param fn The function to run (may be async).
   * @param args Arguments passed to `fn`.
   * @returns A promise of the started member greenlet.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Pool, sleep } from "./mod.ts";
   * const pool = new Pool(1);
   * const first = await pool.spawn(() => sleep(5));
   * const second = await pool.spawn(() => "next"); // waited for first
   * assert.equal(first.dead, true);
   * assert.equal(await second.get(), "next");
   * ```
   */
  spawn<A extends unknown[], R>(
    fn: (...args: A) => R,
    ...args: A
  ): Promise<Greenlet<Awaited<R>>> {
    checkFunction(`spawn in ${this.constructor.name}`, "fn", fn);
    const site = spawnSiteOf(Pool.prototype.spawn);
    const core = groupCoreOf(this);
    const f = fn as unknown as (...args: never[]) => Awaited<R>;
    const slots = core.slots;
    if (slots === null) { // no limit: nothing to wait for
      const scope = currentScope();
      if (unhindered(scope)) return Promise.resolve(core.spawn(site, f, args));
      // a cancelled caller: it rejects, as a limited pool's wait does
      return waitOn(scope, this, NO_OPTIONS).promise as Promise<never>;
    }
    if (unhindered(currentScope()) && slots.tryAcquire()) {
      return Promise.resolve(core.spawn(site, f, args));
    }
    return slots.acquire().then(() => core.spawn(site, f, args));
  }
}

// Node 20 before 20.4: `await using group` finds `[Symbol.asyncDispose]`
// under the registered symbol (`_imap.ts` does the same for imap's iterator).
registerAsyncDispose(GroupBase.prototype);
