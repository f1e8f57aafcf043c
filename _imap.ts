/**
 * The map engine of groups and pools (gevent's `gevent._imap`): `map`,
 * `imap`, `imapUnordered` and `apply` of `pool.ts`, which imports it. A
 * private module (`mod.ts` does not re-export it): it knows a group only
 * through {@linkcode MapHost}, which `pool.ts`'s group state implements, so
 * that it never imports `pool.ts`.
 *
 * @module
 */

import {
  checkFunction,
  checkOptions,
  describe,
  optionNames,
} from "./_util/mod.ts";
import {
  currentScope,
  settleNow,
  unhindered,
  type Waiter,
  WaiterList,
  waitOn,
  type WaitOptions,
} from "./_core/mod.ts";
import { type Greenlet, GreenletExit, spawnAt } from "./greenlet.ts";
import { joinAll } from "./join_all.ts";
import type { Semaphore } from "./lock.ts";
import { shield } from "./timeout.ts";

/**
 * What the engine needs from a group or a pool (`pool.ts`'s state of one
 * group): its slots, its members, and how it shows in run info.
 */
export interface MapHost {
  /** The group, as it shows in run info: `imap of Pool(size=2, capacity=2)`. */
  readonly group: object;
  /** Its free slots (a pool's); null without a limit. */
  readonly slots: Semaphore | null;
  /** The slots held by maps' drivers (pulling an item), not by members. */
  driverSlots: number;
  /**
   * Spawns `fn(...args)` at `site` as a quiet member (its failure is the
   * map's or apply's to deliver, not `hub.handleError`'s), with no link of
   * its own: its spawner links it and calls `ended`, or calls `track`.
   */
  spawnQuiet(
    site: object | null,
    fn: (...args: never[]) => unknown,
    args: readonly unknown[],
  ): Greenlet;
  /** Links a member so that it leaves the group by itself when it ends. */
  track(g: Greenlet): void;
  /** A member ended: it leaves the group, its slot (if any) is freed. */
  ended(g: Greenlet): void;
}

/** A run's kind: `map` (an array of the results, in input order). */
const MAP = 0;
/** A run's kind: `imap` (an iterator of the results, in input order). */
export const ORDERED = 1;
/** A run's kind: `imapUnordered` (an iterator, in completion order). */
export const UNORDERED = 2;
const KINDS = ["map", "imap", "imapUnordered"];
const IMAP_OPTIONS = optionNames("maxsize");

/**
 * Checks a limit (a pool's `capacity`, an imap's `maxsize`): an integer
 * ≥ 1, or undefined when `orUndefined` is not null (it is what the message
 * adds: " or undefined …").
 */
export function checkLimit(
  action: string,
  name: string,
  value: unknown,
  orUndefined: string | null,
): void {
  if (orUndefined !== null && value === undefined) return;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
    const Err = typeof value === "number" && Number.isInteger(value)
      ? RangeError
      : TypeError;
    throw new Err(
      `Cannot ${action}: ${name} must be an integer ≥ 1${
        orUndefined ?? ""
      }, received ${describe(value)}`,
    );
  }
}

/** Checks a map's input: an iterable or an async iterable. */
export function checkItems(action: string, items: unknown): void {
  if (
    items === null || items === undefined ||
    (typeof (items as AsyncIterable<unknown>)[Symbol.asyncIterator] !==
        "function" &&
      typeof (items as Iterable<unknown>)[Symbol.iterator] !== "function")
  ) {
    throw new TypeError(
      `Cannot ${action}: items must be an iterable or an async iterable, received ${
        describe(items)
      }`,
    );
  }
}

/** One call of the user's function by a map or `apply`: its outcome. */
class Job {
  /** The map it belongs to; null for `apply` and for an input error. */
  readonly run: MapRun | null;
  readonly index: number;
  ok = true;
  value: unknown = undefined;
  /** Its greenlet ended (or, for an input error, it was recorded). */
  done = false;
  /**
   * A failure that ends an imap's iteration: an input error, or a greenlet
   * killed (`GreenletExit`) from outside the map. An item whose function
   * threw is not: imap raises its error at its place and goes on.
   */
  fatal = false;

  constructor(run: MapRun | null, index: number) {
    this.run = run;
    this.index = index;
  }

  /**
   * Its greenlet `g` (running `fn`, quiet) ended: its value, or its error —
   * a greenlet killed (from outside the map) fails with what killed it.
   */
  end(g: Greenlet): void {
    this.done = true;
    const v = g.value;
    if (g.successful() && !(v instanceof GreenletExit)) {
      this.value = v;
      return;
    }
    this.ok = false;
    this.fatal = g.successful(); // killed: a GreenletExit
    this.value = this.fatal ? v : g.exception;
  }
}

/** The body of a map's driver greenlet: pulls the input and spawns. */
const driverBody = [function (run: MapRun): Promise<void> {
  return run.drive();
}][0];

/**
 * One `map`/`imap`/`imapUnordered`: a driver greenlet (not a member) pulls
 * the input, one item per free slot, and spawns a member per item; their
 * results are delivered in input order (map, imap) or completion order.
 */
class MapRun {
  readonly host: MapHost;
  readonly fn: (...args: never[]) => unknown;
  readonly items: Iterable<unknown> | AsyncIterable<unknown>;
  readonly mode: number;
  readonly maxsize: number;
  readonly site: object | null;
  source: Iterator<unknown> | AsyncIterator<unknown> | null = null;
  sourceAsync = false;
  /** The input's iterator is open: an early end must call its `return()`. */
  sourceOpen = false;
  inputFailed = false;
  inputError: unknown = undefined;
  driver: Greenlet | null = null;
  /** A driver was started (by the first `next()`, or by `map`). */
  started = false;
  /** The input is exhausted or failed: no driver will pull any more. */
  driverDone = false;
  /**
   * imap: an item's error was raised to the consumer; nothing more is
   * pulled until it asks for the next result (a `for await` loop leaves on
   * the error without calling `return()`: nothing must go on pulling then).
   */
  suspended = false;
  /** The driver ended because the run was suspended (not done). */
  paused = false;
  /** The running jobs. */
  readonly active: Map<Greenlet, Job> = new Map();
  /** Ordered: the jobs pulled and not delivered; unordered: the finished ones. */
  queue: (Job | undefined)[] = [];
  head = 0;
  /** map: the results, by input index. */
  readonly results: unknown[] = [];
  pulled = 0;
  /** Finished results not delivered yet (what `maxsize` bounds). */
  buffered = 0;
  /** Pull no more: a failure is recorded, or the run is closing. */
  stopping = false;
  /** The iteration is over (the caller saw its end or an error). */
  over = false;
  closing = false;
  closed: Promise<void> | null = null;
  /** map: the caller's wait. */
  caller: Waiter | null = null;
  readonly consumers: WaiterList = new WaiterList();
  readonly producers: WaiterList = new WaiterList();
  readonly consumerWait: WaitOptions;
  readonly producerWait: WaitOptions;
  readonly onEnd: (g: Greenlet) => void;

  constructor(
    host: MapHost,
    fn: (...args: never[]) => unknown,
    items: Iterable<unknown> | AsyncIterable<unknown>,
    mode: number,
    maxsize: number,
    site: object | null,
  ) {
    this.host = host;
    this.fn = fn;
    this.items = items;
    this.mode = mode;
    this.maxsize = maxsize;
    this.site = site;
    this.consumerWait = { list: this.consumers };
    this.producerWait = { list: this.producers };
    this.onEnd = (g) =>
      g === this.driver ? this.driverEnded(g) : this.jobEnded(g);
  }

  /** `imap of Pool(size=2, capacity=2)`: how its waits show in run info. */
  toString(): string {
    return `${KINDS[this.mode]} of ${this.host.group}`;
  }

  start(): void {
    this.started = true;
    const d = spawnAt(this.site, driverBody, [this]);
    d.name = KINDS[this.mode];
    this.driver = d;
    d.rawlink(this.onEnd);
  }

  /** The driver's loop (in the driver greenlet). */
  async drive(): Promise<void> {
    const slots = this.host.slots;
    let it: Iterator<unknown> | AsyncIterator<unknown>;
    if (this.source !== null) it = this.source; // resumed after a suspension
    else {
      try {
        it = this.open();
      } catch (e) {
        this.inputFailed = true;
        this.inputError = e;
        return;
      }
    }
    for (;;) {
      while (
        !this.stopping && !this.suspended && this.buffered >= this.maxsize
      ) {
        await waitOn(currentScope(), this, this.producerWait).promise;
      }
      if (this.stopping) return;
      if (this.suspended) {
        // the driver ends; the consumer's next `next()` starts another
        this.paused = true;
        return;
      }
      // a free slot is taken without a switch: the input is pulled and
      // spawned in one go while slots are free (as gevent's loop)
      if (
        slots !== null && !(unhindered(currentScope()) && slots.tryAcquire())
      ) await slots.acquire();
      let held = slots !== null;
      if (held) this.host.driverSlots++;
      try {
        if (this.stopping) return;
        // suspended, or results finished while it waited for the slot:
        // give it back (and end, if suspended)
        if (this.suspended || this.buffered >= this.maxsize) continue;
        let step: IteratorResult<unknown>;
        try {
          const r = it.next();
          step = this.sourceAsync ? await r : r as IteratorResult<unknown>;
          if (step === null || typeof step !== "object") {
            throw new TypeError(
              `Iterator result ${describe(step)} is not an object`,
            );
          }
        } catch (e) {
          this.sourceOpen = false;
          this.inputFailed = true;
          this.inputError = e;
          return;
        }
        if (step.done) {
          this.sourceOpen = false;
          return;
        }
        if (this.stopping) return;
        const job = new Job(this, this.pulled++);
        const g = this.host.spawnQuiet(this.site, this.fn, [step.value]);
        held = false; // the member holds it now
        this.host.driverSlots--;
        this.active.set(g, job);
        g.rawlink(this.onEnd);
        if (this.mode === ORDERED) this.queue.push(job);
      } finally {
        if (held) {
          this.host.driverSlots--;
          slots!.release();
        }
      }
    }
  }

  open(): Iterator<unknown> | AsyncIterator<unknown> {
    const items = this.items as Partial<AsyncIterable<unknown>>;
    const make = items[Symbol.asyncIterator];
    let it: unknown;
    if (typeof make === "function") {
      this.sourceAsync = true;
      it = make.call(items);
    } else {
      it = (items as Iterable<unknown>)[Symbol.iterator]();
    }
    if (it === null || typeof it !== "object") {
      throw new TypeError(`Iterator ${describe(it)} is not an object`);
    }
    this.source = it as Iterator<unknown>;
    this.sourceOpen = true;
    return this.source;
  }

  /**
   * The driver ended (a link): the input is exhausted or failed — or the
   * run was suspended, and it waits for the consumer to resume it.
   */
  driverEnded(d: Greenlet): void {
    if (this.paused && d.successful() && d.value === undefined) {
      this.paused = false;
      this.driver = null;
      if (this.closing) return;
      // a consumer asked for more meanwhile: pull on
      if (!this.suspended || this.consumers.size !== 0) this.resume();
      return;
    }
    this.driverDone = true;
    if (this.closing) return;
    let error: unknown;
    let failed = false;
    if (this.inputFailed) {
      failed = true;
      error = this.inputError;
    } else if (!d.successful() || d.value !== undefined) {
      failed = true; // killed from outside
      error = d.successful() ? d.value : d.exception;
    }
    if (failed) {
      const job = new Job(null, this.pulled); // no greenlet
      job.ok = false;
      job.fatal = true;
      job.value = error;
      job.done = true;
      this.finished(job);
    } else this.notify();
  }

  /** One of its members ended (a link). */
  jobEnded(g: Greenlet): void {
    this.host.ended(g); // its slot first: the driver may go on
    const job = this.active.get(g);
    if (job === undefined) return;
    this.active.delete(g);
    if (this.closing) return;
    job.end(g);
    this.finished(job);
  }

  finished(job: Job): void {
    if (this.mode === MAP) {
      if (!job.ok) {
        if (!this.stopping) {
          this.stopping = true;
          if (this.caller !== null) settleNow(this.caller, false, job.value);
        }
        return;
      }
      this.results[job.index] = job.value;
    } else {
      this.buffered++;
      // ordered: a job is queued when spawned; an input error at the end
      if (this.mode === UNORDERED || job.run === null) this.queue.push(job);
      // an item's failure does not stop the pulling (the consumer may go
      // on past it); an input error or a kill ends the iteration
      if (job.fatal) {
        this.stopping = true;
        if (this.producers.size !== 0) this.producers.settleAll(null, true);
      }
    }
    this.notify();
  }

  /** Wakes the consumers (from a link) when there is something new. */
  notify(): void {
    if (this.mode === MAP) {
      if (this.driverDone && this.active.size === 0 && !this.stopping) {
        if (this.caller !== null) settleNow(this.caller, true, undefined);
      }
    } else if (this.consumers.size !== 0) {
      this.consumers.settleAll(undefined, true);
    }
  }

  /** Whether nothing more will come. */
  complete(): boolean {
    return this.driverDone && this.active.size === 0;
  }

  /**
   * An item's error was raised to the consumer: pull nothing more until it
   * asks again (greenlets running go on). A driver waiting because of
   * `maxsize` wakes to end.
   */
  suspend(): void {
    if (this.consumers.size !== 0) return; // others ask for more already
    this.suspended = true;
    if (this.producers.size !== 0) this.producers.settleAll(null, false);
  }

  /** A consumer asks for a result: a suspended run pulls on. */
  resume(): void {
    this.suspended = false;
    // a driver still running (or ending: its link starts the next) goes on
    if (this.driver === null && !this.driverDone && !this.closing) {
      this.start();
    }
  }

  /** The next deliverable job, taken; null if none is ready. */
  take(): Job | null {
    const q = this.queue;
    const h = this.head;
    if (h === q.length) return null;
    const job = q[h]!;
    if (!job.done) return null;
    q[h] = undefined;
    if (h + 1 === q.length) {
      q.length = 0;
      this.head = 0;
    } else if (h >= 1024 && h * 2 >= q.length) {
      this.queue = q.slice(h + 1);
      this.head = 0;
    } else this.head = h + 1;
    this.buffered--;
    if (this.producers.size !== 0 && this.buffered < this.maxsize) {
      this.producers.settleAll(null, false);
    }
    return job;
  }

  /**
   * Ends the run early: kills the driver and the running members and waits
   * until they ended, then closes the input's iterator (its `return()`). A
   * `return()` error is thrown only when `propagate` (a consumer's break).
   */
  close(propagate: boolean): Promise<void> {
    return this.closed ??= this.#close(propagate);
  }

  async #close(propagate: boolean): Promise<void> {
    this.closing = this.stopping = true;
    const victims: Greenlet[] = [];
    const d = this.driver;
    if (d !== null && !d.dead) {
      d.kill(undefined, { block: false });
      victims.push(d);
    }
    for (const g of this.active.keys()) {
      g.kill(undefined, { block: false });
      victims.push(g);
    }
    this.consumers.settleAll(undefined, false);
    if (victims.length !== 0) await shield(() => joinAll(victims));
    const source = this.source;
    if (this.sourceOpen && source !== null) {
      this.sourceOpen = false;
      const ret = source.return as ((this: unknown) => unknown) | undefined;
      if (typeof ret === "function") {
        try {
          await shield(() => ret.call(source));
        } catch (e) {
          if (propagate) throw e;
        }
      }
    }
  }
}

/**
 * Runs `map` in `host` to its end (the caller waits; the driver pulls) and
 * resolves with the results in input order.
 */
export async function runMap(
  host: MapHost,
  fn: (...args: never[]) => unknown,
  items: Iterable<unknown> | AsyncIterable<unknown>,
  site: object | null,
): Promise<unknown[]> {
  const run = new MapRun(host, fn, items, MAP, Infinity, site);
  run.start();
  const w = run.caller = waitOn(currentScope(), run, run.consumerWait);
  try {
    await w.promise;
  } catch (e) {
    await run.close(false);
    throw e;
  }
  return run.results;
}

/**
 * Checks the arguments of `imap` or `imapUnordered` (`mode`) in `host`
 * (`action` names the call in messages) and returns its iterator: nothing
 * runs until its first `next()`.
 */
export function openImap<R>(
  host: MapHost,
  action: string,
  mode: typeof ORDERED | typeof UNORDERED,
  fn: (...args: never[]) => unknown,
  items: Iterable<unknown> | AsyncIterable<unknown>,
  options: { readonly maxsize?: number | undefined } | undefined,
  site: object | null,
): AsyncIterableIterator<R> & AsyncDisposable {
  checkFunction(action, "fn", fn);
  checkItems(action, items);
  checkOptions(action, options, IMAP_OPTIONS);
  const maxsize = options?.maxsize;
  checkLimit(action, "maxsize", maxsize, " or undefined");
  return new MapIterator<R>(
    new MapRun(host, fn, items, mode, maxsize ?? Infinity, site),
  );
}

/**
 * Runs `fn(...args)` in a member of `host` (once a slot is free) and
 * resolves with its result, or rejects with its error; if the caller is
 * killed while it waits, the member is killed too.
 */
export async function runApply<T>(
  host: MapHost,
  site: object | null,
  fn: (...args: never[]) => T,
  args: readonly unknown[],
): Promise<Awaited<T>> {
  if (host.slots !== null) await host.slots.acquire();
  const job = new Job(null, 0);
  const g = host.spawnQuiet(site, fn, args);
  host.track(g);
  try {
    await g.join();
  } catch (e) {
    await shield(() => g.kill());
    throw e;
  }
  job.end(g);
  if (!job.ok) throw job.value;
  return job.value as Awaited<T>;
}

const DONE: IteratorReturnResult<undefined> = Object.freeze({
  done: true,
  value: undefined,
}) as IteratorReturnResult<undefined>;

/** The iterator `imap` and `imapUnordered` return. */
class MapIterator<R> implements AsyncIterableIterator<R> {
  readonly #run: MapRun;

  constructor(run: MapRun) {
    this.#run = run;
  }

  async next(): Promise<IteratorResult<R>> {
    const run = this.#run;
    if (run.over) return DONE;
    if (!run.started) run.start();
    else if (run.suspended) run.resume(); // it asks past an item's error
    const scope = currentScope();
    for (;;) {
      if (run.over || run.closing) {
        run.over = true;
        return DONE;
      }
      const job = run.take();
      if (job !== null) {
        if (job.ok) return { done: false, value: job.value as R };
        if (!job.fatal) {
          // an item's error, at its place; the iteration may go on
          run.suspend();
          throw job.value;
        }
        run.over = true;
        await run.close(false);
        throw job.value;
      }
      if (run.complete()) {
        run.over = true;
        return DONE;
      }
      if (run.suspended) run.resume();
      try {
        await waitOn(scope, run, run.consumerWait).promise;
      } catch (e) {
        // the caller was killed (or timed out): nothing goes on without it
        run.over = true;
        await run.close(false);
        throw e;
      }
    }
  }

  async return(): Promise<IteratorResult<R>> {
    const run = this.#run;
    run.over = true;
    if (run.started) await run.close(true);
    return DONE;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.return().then(noop);
  }
}

function noop(): void {}

/**
 * Node 20 before 20.4 has no `Symbol.asyncDispose`: there the methods of
 * `proto` named by it were defined under "undefined"; this moves such a
 * method to the registered symbol that TypeScript's and esbuild's
 * `await using` fall back to. A no-op where the symbol exists.
 */
export function registerAsyncDispose(proto: object): void {
  if (typeof (Symbol as { asyncDispose?: symbol }).asyncDispose === "symbol") {
    return;
  }
  const p = proto as Record<PropertyKey, unknown>;
  Object.defineProperty(p, Symbol.for("Symbol.asyncDispose"), {
    value: p["undefined"],
    writable: true,
    configurable: true,
  });
  delete p["undefined"];
}

registerAsyncDispose(MapIterator.prototype);
