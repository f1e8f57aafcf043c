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
  formatCall,
  formatError,
  inspectAsString,
  timeLeft,
} from "./inspect.ts";
export { callerSite, userSite } from "./site.ts";
