/**
 * The armed timers, ordered by deadline, then by arming order, so that
 * timers with equal deadlines fire in the order they were armed.
 *
 * Timers armed for the same duration go in one list, in arming order (as
 * Node keeps one list per duration): with a clock that never goes back,
 * each list is sorted already, so arming and cancelling are O(1), and the
 * helpers' binary min-heap ({@linkcode Heap}) orders only the lists, by
 * their first timers. 10,000 greenlets sleeping 10 ms cost one list and no
 * heap work each.
 *
 * @module
 */

import { Heap } from "../_util/mod.ts";

/** One armed timer: calls `fn(arg)` once its deadline (ms) has passed. */
export class Timer {
  /** Deadline in the hub clock's milliseconds. */
  deadline: number;
  /** Arming order; breaks ties between equal deadlines. */
  seq: number;
  /** Called with `arg` when the timer fires. */
  fn: (arg: unknown) => void;
  /** Passed to `fn`. */
  arg: unknown;
  /** The list it is armed in, or null when not armed. */
  list: TimerList | null = null;
  /** Its neighbours in that list. */
  prev: Timer | null = null;
  next: Timer | null = null;
  /** Whether this timer keeps the process alive (see `unref()` of timers). */
  ref = true;

  constructor(
    deadline: number,
    seq: number,
    fn: (arg: unknown) => void,
    arg: unknown,
  ) {
    this.deadline = deadline;
    this.seq = seq;
    this.fn = fn;
    this.arg = arg;
  }
}

/** The armed timers of one duration, earliest first. */
class TimerList {
  readonly ms: number;
  head: Timer | null = null;
  tail: Timer | null = null;
  /** Position in the heap of lists. */
  index = -1;
  constructor(ms: number) {
    this.ms = ms;
  }
}

function before(a: Timer, b: Timer): boolean {
  return a.deadline < b.deadline ||
    (a.deadline === b.deadline && a.seq < b.seq);
}

/** Orders two lists by their first timers (never equal: seqs differ). */
function byFirstTimer(a: TimerList, b: TimerList): number {
  return before(a.head!, b.head!) ? -1 : 1;
}

/** Keeps a list's position in the heap, for `update` and `removeAt`. */
function placed(list: TimerList, index: number): void {
  list.index = index;
}

/** The armed {@linkcode Timer}s: per-duration lists in a min-heap. */
export class TimerHeap {
  /** Non-empty lists, a min-heap by first timer. */
  readonly #heap = new Heap<TimerList>(byFirstTimer, placed);
  /** The same lists by duration. */
  readonly #lists = new Map<number, TimerList>();
  #size = 0;

  /** Number of armed timers. */
  get size(): number {
    return this.#size;
  }

  /** The earliest timer, or undefined. */
  peek(): Timer | undefined {
    const list = this.#heap.peek();
    return list === undefined ? undefined : list.head!;
  }

  /** Adds `t`, armed for `ms` milliseconds (its list). */
  push(t: Timer, ms: number): void {
    let list = this.#lists.get(ms);
    if (list === undefined) {
      list = new TimerList(ms);
      this.#lists.set(ms, list);
    }
    t.list = list;
    this.#size++;
    const tail = list.tail;
    if (tail === null) {
      list.head = list.tail = t;
      this.#heap.push(list);
    } else if (!before(t, tail)) {
      tail.next = t;
      t.prev = tail;
      list.tail = t;
    } else {
      this.#insertSorted(list, t);
    }
  }

  /**
   * A clock that went back (a user's `Clock`): `t` is due before the last
   * of its list; it goes where its deadline says.
   */
  #insertSorted(list: TimerList, t: Timer): void {
    let after = list.tail;
    while (after !== null && before(t, after)) after = after.prev;
    if (after === null) {
      t.next = list.head;
      list.head!.prev = t;
      list.head = t;
      this.#heap.update(list.index); // its first timer is due earlier now
    } else {
      t.prev = after;
      t.next = after.next;
      after.next!.prev = t;
      after.next = t;
    }
  }

  /** Removes and returns the earliest timer. */
  pop(): Timer | undefined {
    const list = this.#heap.peek();
    if (list === undefined) return undefined;
    const t = list.head!;
    this.#unlink(list, t);
    return t;
  }

  /** Removes `t` if it is armed; returns whether it was. */
  remove(t: Timer): boolean {
    const list = t.list;
    if (list === null) return false;
    this.#unlink(list, t);
    return true;
  }

  /** Every armed timer, in no particular order (for diagnostics). */
  values(): readonly Timer[] {
    const all: Timer[] = [];
    for (const list of this.#heap) {
      for (let t = list.head; t !== null; t = t.next) all.push(t);
    }
    return all;
  }

  #unlink(list: TimerList, t: Timer): void {
    const { prev, next } = t;
    t.list = t.prev = t.next = null;
    this.#size--;
    if (next !== null) next.prev = prev;
    else list.tail = prev;
    if (prev !== null) {
      prev.next = next;
      return; // the list's first timer stays: its place in the heap too
    }
    list.head = next;
    if (next !== null) {
      this.#heap.update(list.index); // its first timer is due later now
      return;
    }
    // empty: out of the heap and the map
    this.#lists.delete(list.ms);
    this.#heap.removeAt(list.index);
    list.index = -1;
  }
}
