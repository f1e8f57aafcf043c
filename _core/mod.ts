/**
 * The kernel's one face: what the layers above it (the hub's facade, the
 * Linkable base, greenlets, the primitives, patching, testing) may use of
 * waiting, scopes, the run queue, timers, quiescence, hooks and run info.
 * Nothing outside `_core/` imports a file inside it but this one (a test
 * checks it).
 *
 * @module
 */

export { als, currentScope, currentTask, setFallbackTask } from "./context.ts";
export {
  actFor,
  actor,
  emit,
  onFinish,
  onSpawn,
  onStart,
  spawnSites,
  subscribe,
} from "./hooks.ts";
export {
  coreOnHost,
  greenletFactory,
  greenletOf,
  HubCore,
  hubCoreOf,
  registerGreenletFactory,
} from "./hub_core.ts";
export {
  nativeClearTimeout,
  nativeConsoleError,
  nativeNow,
  nativeSetImmediate,
  nativeSetTimeout,
  nativeTimerRef,
} from "./native.ts";
export { watchLoopDry } from "./quiescence.ts";
export { type DescribedTimer, formatRunInfo } from "./run_info.ts";
export { runUserTask, type UserTask } from "./run_queue.ts";
export { type Timer } from "./timer_heap.ts";
export { realTimerHost, type TimerHost } from "./timers.ts";
export { trackOp } from "./track.ts";
export {
  type AwayWatcher,
  closeScope,
  DEAD,
  describeWaits,
  dropDetached,
  followScope,
  followSignal,
  interruption,
  MAX_DELIVERIES,
  NEW,
  NO_OPTIONS,
  noteDetached,
  type Pending,
  retractPending,
  RUNNING,
  SCHEDULED,
  type Scheduler,
  Scope,
  scopeSignal,
  settle,
  settleNow,
  ShieldScope,
  Task,
  throwInto,
  unhindered,
  unwatchAway,
  type Waiter,
  WaiterList,
  waitOn,
  type WaitOptions,
  watchAway,
  yieldNow,
} from "./waiter.ts";
