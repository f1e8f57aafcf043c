/**
 * gevent-ts: Python's gevent model — a hub, greenlets, cooperative locks and
 * timeouts — for Deno and Node. Durations are milliseconds everywhere.
 *
 * @example The tutorial's first program
 * ```ts
 * import assert from "node:assert/strict";
 * import { joinAll, sleep, spawn } from "./mod.ts";
 *
 * const log: string[] = [];
 * async function f(name: string) {
 *   for (let i = 0; i < 5; i++) {
 *     console.log(`function:@@@${name} | NUM: @@@`, i);
 *     log.push(`${name} ${i}`);
 *     await sleep(0);
 *   }
 * }
 * await joinAll([spawn(f, "f1"), spawn(f, "f2")]);
 * assert.deepEqual(log.slice(0, 4), ["f1 0", "f2 0", "f1 1", "f2 1"]); // and so on: they take turns
 * ```
 *
 * @module
 */

export {
  type BlockedWait,
  type Clock,
  getCurrent,
  getHub,
  Hub,
  type HubOptions,
  idle,
  LoopExit,
  type RunInfoOptions,
  sleep,
} from "./hub.ts";
export { Linkable, type LinkCallback, type Waitable } from "./linkable.ts";
export { iwait, wait, type WaitObjectsOptions } from "./wait.ts";
export {
  type GetOptions,
  Greenlet,
  GreenletExit,
  type GreenletJSON,
  type GreenletState,
  type KillOptions,
  spawn,
  spawnLater,
} from "./greenlet.ts";
export {
  joinAll,
  type JoinAllOptions,
  killAll,
  type KillAllOptions,
} from "./join_all.ts";
export {
  getCurrentSignal,
  shield,
  type ShieldOptions,
  Timeout,
  withTimeout,
  type WithTimeoutOptions,
} from "./timeout.ts";
export {
  cancellable,
  CancelScope,
  type CancelScopeOptions,
  failAfter,
  moveOnAfter,
} from "./scope.ts";
export {
  type BlockingReport,
  formatRunInfo,
  type MonitorOptions,
  setSiteMode,
  type SiteMode,
  startMonitor,
  stopMonitor,
} from "./monitor.ts";
export {
  startTrace,
  stopTrace,
  type TraceEvent,
  type TraceOptions,
} from "./trace.ts";
/**
 * `GEVENT_TRACE=path.json` traces the whole program, from this point of its
 * load. Internal: the npm declarations (`stripInternal`) leave out this
 * import of a private file, which declares nothing.
 *
 * @internal
 */
import "./_trace_env.ts";
export {
  AsyncResult,
  type BlockingOptions,
  Event,
  type Outcome,
} from "./event.ts";
export { Local, local } from "./local.ts";
export {
  Channel,
  JoinableQueue,
  LifoQueue,
  PriorityQueue,
  type PriorityQueueOptions,
  Queue,
  QueueClosed,
  QueueEmpty,
  QueueFull,
} from "./queue.ts";
export {
  type AcquireOptions,
  BoundedSemaphore,
  DummySemaphore,
  NotOwnerError,
  RLock,
  Semaphore,
} from "./lock.ts";
export {
  Group,
  GroupBase,
  type GroupJoinOptions,
  type ImapOptions,
  Pool,
} from "./pool.ts";
