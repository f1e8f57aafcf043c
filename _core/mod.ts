/**
 * The kernel's one face: what the layers above it (the hub's facade, the
 * Linkable base, greenlets, the primitives, patching, testing) may use of
 * waiting, scopes, the run queue, timers, quiescence, hooks and run info.
 * Nothing outside `_core/` imports a file inside it but this one (a test
 * checks it).
 *
 * @module
 */

// First: the registry of copies in this process (one hub per process).
export { type CopyInfo, THIS_COPY, VERSION } from "./registry.ts";
export { isCancellation, retractPending, throwInto } from "./cancel.ts";
export {
  als,
  currentScope,
  currentTask,
  outsideGreenlets,
  setFallbackTask,
  storedScope,
  TaskCell,
} from "./context.ts";
export {
  actFor,
  actor,
  allSites,
  creationSiteOf,
  emit,
  inspectCreated,
  noteCreation,
  onFinish,
  onSpawn,
  onStart,
  spawnSites,
  subscribe,
  takeSite,
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
export {
  type DescribedTimer,
  formatRunInfo,
  type StateName,
  stateName,
  stateText,
} from "./run_info.ts";
export { runUserTask, type UserTask } from "./run_queue.ts";
export { type Scheduler } from "./scheduler.ts";
export {
  type AwayWatcher,
  DEAD,
  dropDetached,
  interruption,
  MAX_DELIVERIES,
  NEW,
  noteDetached,
  type Pending,
  RUNNING,
  SCHEDULED,
  Scope,
  ShieldScope,
  Task,
  unhindered,
  unwatchAway,
  watchAway,
} from "./scope.ts";
export { closeScope, OpLink, scopeSignal } from "./signals.ts";
export { type Timer } from "./timer_heap.ts";
export { realTimerHost, type TimerHost } from "./timers.ts";
export { trackOp } from "./track.ts";
export {
  describeWaits,
  NO_OPTIONS,
  settle,
  settleNow,
  type Waiter,
  WaiterList,
  waitOn,
  type WaitOptions,
  yieldNow,
} from "./waiter.ts";
