/**
 * The engine of {@linkcode ThreadPool} (private): jobs queued first in,
 * first out, dispatched to at most `size` threads; a cancelled job is
 * dropped from the queue or, running, aborted and, after `graceMs`, its
 * thread terminated and replaced. It knows nothing of greenlets: the
 * public face (`threadpool.ts`) and the map engine (`_threadpool_imap.ts`)
 * wrap its callbacks in hub-aware waits.
 *
 * @module
 */

import { describe } from "./_util/mod.ts";
import { nativeClearTimeout, nativeSetTimeout } from "./_core/mod.ts";
import { isTransfer } from "./threadpool_transfer.ts";
import {
  type Flat,
  loadWorkerCtor,
  rebuildError,
  startThread,
  type Thread,
} from "./_threadpool_worker.ts";

const QUEUED = 0;
const RUNNING = 1;
const DONE = 2;

/** What a job's owner is told when it ends: its result or error. */
export type JobDone = (ok: boolean, value: unknown, job: Job) => void;

/** One task: an export of a module, its arguments, where its end goes. */
export interface Job {
  id: number;
  url: string;
  name: string;
  args: unknown[];
  /** What the arguments' `transfer` marks move (null: none). */
  transfer: unknown[] | null;
  state: number;
  slot: Slot | null;
  done: JobDone;
  /** The owner's tag (a map's item index). */
  tag: number;
}

interface Slot {
  thread: Thread;
  job: Job | null;
  killTimer: unknown;
  dead: boolean;
}

function reasonText(reason: unknown): string {
  return reason instanceof Error ? `${reason.name}: ${reason.message}` : String(
    reason,
  );
}

function noop(): void {}

/**
 * Unwraps the `transfer` marks among `args` (in place) and moves what they
 * list at once (a structured clone with transfer: the sender's buffers are
 * detached now, the job owns their contents). Returns the moved list, or
 * null when no argument is marked.
 */
function takeTransfers(action: string, args: unknown[]): unknown[] | null {
  let list: unknown[] | null = null;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (!isTransfer(a)) continue;
    let moved: { value: unknown; list: readonly unknown[] };
    try {
      moved = structuredClone(
        { value: a.value, list: a.list },
        { transfer: a.list as never[] },
      );
    } catch (e) {
      throw new TypeError(
        `Cannot ${action} on ThreadPool: argument ${i} cannot be transferred (${
          (e as Error).message
        })`,
        { cause: e },
      );
    }
    args[i] = moved.value;
    list = list === null ? [...moved.list] : list.concat(moved.list);
  }
  return list;
}

/** Jobs and threads of one pool. */
export class Engine {
  readonly size: number;
  readonly #url: string | null;
  readonly #graceMs: number;
  readonly #queue: Job[] = [];
  #head = 0;
  readonly #slots = new Set<Slot>();
  readonly #idle: Slot[] = [];
  #nextId = 1;
  running = 0;
  queued = 0;
  closed = false;
  #drained: (() => void) | null = null;
  #threadsReady = false;
  #loadingThreads = false;

  constructor(size: number, url: string | null, graceMs: number) {
    this.size = size;
    this.#url = url;
    this.#graceMs = graceMs;
  }

  /** Throws unless `name` can name a task and the pool is open. */
  check(action: string, name: unknown): void {
    if (typeof name !== "string" && !(name instanceof URL)) {
      throw new TypeError(
        `Cannot ${action} on ThreadPool: name must be a string or URL, received ${
          describe(name)
        }`,
      );
    }
    if (this.closed) {
      throw new Error(`Cannot ${action} on ThreadPool: it is closed`);
    }
  }

  /** A new job (not yet submitted); its arguments' transfers happen now. */
  job(action: string, task: string | URL, args: unknown[]): Job {
    const [url, name] = this.resolve(action, task);
    return {
      id: this.#nextId++,
      url,
      name,
      args,
      transfer: takeTransfers(action, args),
      state: QUEUED,
      slot: null,
      done: noop,
      tag: 0,
    };
  }

  /** The module's URL and the export's name of a task (checked). */
  resolve(action: string, task: string | URL): [string, string] {
    this.check(action, task);
    let url = this.#url;
    let name = typeof task === "string" ? task : task.href;
    if (url === null || typeof task !== "string") {
      const hash = name.lastIndexOf("#");
      if (hash < 0) {
        throw new TypeError(
          `Cannot ${action} on ThreadPool: without a module, name must be a URL "<module>#<export>", received ${
            describe(name)
          }`,
        );
      }
      url = name.slice(0, hash);
      name = name.slice(hash + 1);
    }
    return [url, name];
  }

  /** Queues `job`; `job.done` is called once, when it ends. */
  submit(job: Job): void {
    this.#queue.push(job);
    this.queued++;
    this.#dispatch();
  }

  /** Drops `job` if queued; aborts it (then terminates) if running. */
  cancel(job: Job, reason: unknown): void {
    if (job.state === QUEUED) {
      // left in the queue, skipped by #dispatch
      this.queued--;
      this.#settle(job, false, reason);
      this.#maybeDrained();
    } else if (job.state === RUNNING) {
      const slot = job.slot!;
      if (slot.killTimer !== null) return; // already cancelled
      slot.thread.postMessage({
        t: "abort",
        id: job.id,
        reason: reasonText(reason),
      });
      slot.killTimer = nativeSetTimeout(
        () => this.#kill(slot, reason),
        this.#graceMs,
      );
    }
  }

  /** Calls `fn` once nothing runs or waits (at once if so already). */
  whenDrained(fn: () => void): void {
    if (this.running === 0 && this.queued === 0) fn();
    else this.#drained = fn;
  }

  #dispatch(): void {
    const q = this.#queue;
    while (this.#head < q.length) {
      const head = q[this.#head];
      if (head.state === DONE) {
        this.#shift();
        continue;
      }
      if (this.running >= this.size) return;
      let slot = this.#idle.pop();
      if (slot === undefined) {
        if (this.#slots.size >= this.size) return;
        if (!this.#ensureLoaded()) return;
        slot = this.#newSlot();
      }
      this.#shift();
      this.queued--;
      head.state = RUNNING;
      head.slot = slot;
      slot.job = head;
      this.running++;
      slot.thread.ref();
      try {
        const msg = {
          t: "run",
          id: head.id,
          url: head.url,
          name: head.name,
          args: head.args,
        };
        if (head.transfer === null) slot.thread.postMessage(msg);
        else slot.thread.postMessage(msg, head.transfer);
      } catch (e) {
        this.#finish(slot, head, false, e);
      }
    }
    this.#maybeDrained();
  }

  #shift(): void {
    this.#head++;
    if (this.#head === this.#queue.length) {
      this.#queue.length = 0;
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue.splice(0, this.#head);
      this.#head = 0;
    }
  }

  #ensureLoaded(): boolean {
    if (this.#threadsReady) return true;
    if (!this.#loadingThreads) {
      this.#loadingThreads = true;
      loadWorkerCtor().then(() => {
        this.#threadsReady = true;
        this.#dispatch();
      }, (e) => {
        for (let i = this.#head; i < this.#queue.length; i++) {
          this.#settle(this.#queue[i], false, e);
        }
      });
    }
    return false;
  }

  #newSlot(): Slot {
    const slot: Slot = {
      thread: startThread(),
      job: null,
      killTimer: null,
      dead: false,
    };
    this.#slots.add(slot);
    slot.thread.on("message", (m) => {
      const msg = m as { t: string; id: number; ok: boolean; v: unknown };
      const job = slot.job;
      if (msg.t !== "done" || job === null || job.id !== msg.id) return;
      this.#finish(
        slot,
        job,
        msg.ok,
        msg.ok ? msg.v : rebuildError(msg.v as Flat),
      );
    });
    slot.thread.on("error", (e) => {
      // an uncaught error in the worker ends it: fail its task, replace it
      this.#kill(slot, e);
    });
    slot.thread.on("exit", () => {
      if (!slot.dead) this.#kill(slot, new Error("ThreadPool worker exited"));
    });
    return slot;
  }

  #finish(slot: Slot, job: Job, ok: boolean, v: unknown): void {
    if (slot.killTimer !== null) {
      nativeClearTimeout(slot.killTimer);
      slot.killTimer = null;
    }
    slot.job = null;
    this.running--;
    this.#settle(job, ok, v);
    if (!slot.dead) {
      slot.thread.unref();
      this.#idle.push(slot);
    }
    this.#dispatch();
  }

  #settle(job: Job, ok: boolean, v: unknown): void {
    if (job.state === DONE) return;
    job.state = DONE;
    job.slot = null;
    job.args = EMPTY;
    job.transfer = null;
    job.done(ok, v, job);
  }

  /** Terminates `slot`'s thread, failing its task with `reason`. */
  #kill(slot: Slot, reason: unknown): void {
    if (slot.dead) return;
    slot.dead = true;
    this.#slots.delete(slot);
    const i = this.#idle.indexOf(slot);
    if (i >= 0) this.#idle.splice(i, 1);
    void slot.thread.terminate();
    if (!this.closed) {
      // its replacement starts now, not on the next task (start-up ~30 ms)
      const fresh = this.#newSlot();
      fresh.thread.unref();
      this.#idle.push(fresh);
    }
    const job = slot.job;
    if (job !== null) this.#finish(slot, job, false, reason);
    else this.#dispatch();
  }

  #maybeDrained(): void {
    if (this.#drained === null || this.running > 0 || this.queued > 0) {
      return;
    }
    const d = this.#drained;
    this.#drained = null;
    d();
  }

  /** Closes: fails what is queued or running with `reason`, ends threads. */
  async terminateAll(reason: unknown): Promise<void> {
    this.closed = true;
    this.#drained = null;
    const queued = this.#queue.slice(this.#head);
    this.#queue.length = 0;
    this.#head = 0;
    this.queued = 0;
    for (const j of queued) this.#settle(j, false, reason);
    const slots = [...this.#slots];
    const exits = slots.map((s) => {
      s.dead = true;
      if (s.killTimer !== null) nativeClearTimeout(s.killTimer);
      return s.thread.terminate();
    });
    this.#slots.clear();
    this.#idle.length = 0;
    this.running = 0;
    for (const s of slots) {
      const job = s.job;
      s.job = null;
      if (job !== null) this.#settle(job, false, reason);
    }
    await Promise.all(exits);
  }
}

const EMPTY: unknown[] = [];
