/**
 * The small private helpers' one face: argument checks, inspection text,
 * the deque, the binary heap, call sites. Nothing outside `_util/` imports a file inside it
 * but this one (a test checks it).
 *
 * @module
 */

export {
  BLOCKING_OPTIONS,
  checkBlocking,
  checkCount,
  checkFunction,
  checkMs,
  checkOptions,
  checkSignal,
  checkTimeout,
  describe,
  optionNames,
} from "./checks.ts";
export { Deque } from "./deque.ts";
export { Heap } from "./heap.ts";
export {
  errorSummary,
  formatCall,
  formatError,
  inspectAsString,
  shortValue,
  timeLeft,
  WaitLabel,
} from "./inspect.ts";
export {
  callerSite,
  captureSite,
  creationSites,
  HOLDERS,
  sampleSite,
  setSiteMode,
  Site,
  SITE_BUDGET,
  SITE_WINDOW_MS,
  type SiteMode,
  siteMode,
  userSite,
} from "./site.ts";
