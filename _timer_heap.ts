/**
 * A binary min-heap of timers ordered by deadline, then by arming order, so
 * that timers with equal deadlines fire in the order they were armed.
 * Each timer knows its slot, so cancelling is O(log n) and leaves nothing
 * behind.
 *
 * @module
 */

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
  /** Position in the heap, or -1 when not armed. */
  index: number = -1;
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

function before(a: Timer, b: Timer): boolean {
  return a.deadline < b.deadline ||
    (a.deadline === b.deadline && a.seq < b.seq);
}

/** Min-heap of {@linkcode Timer}s. */
export class TimerHeap {
  #items: Timer[] = [];

  /** Number of armed timers. */
  get size(): number {
    return this.#items.length;
  }

  /** The earliest timer, or undefined. */
  peek(): Timer | undefined {
    return this.#items[0];
  }

  /** Adds `t`. */
  push(t: Timer): void {
    const items = this.#items;
    t.index = items.length;
    items.push(t);
    this.#up(t.index);
  }

  /** Removes and returns the earliest timer. */
  pop(): Timer | undefined {
    const items = this.#items;
    const top = items[0];
    if (top === undefined) return undefined;
    this.#removeAt(0);
    return top;
  }

  /** Removes `t` if it is armed; returns whether it was. */
  remove(t: Timer): boolean {
    const i = t.index;
    if (i < 0 || this.#items[i] !== t) return false;
    this.#removeAt(i);
    return true;
  }

  /** Every armed timer, in no particular order (for diagnostics). */
  values(): readonly Timer[] {
    return this.#items;
  }

  #removeAt(i: number): void {
    const items = this.#items;
    const removed = items[i];
    const last = items.pop()!;
    removed.index = -1;
    if (i < items.length) {
      items[i] = last;
      last.index = i;
      this.#down(i);
      this.#up(last.index);
    }
  }

  #up(i: number): void {
    const items = this.#items;
    const t = items[i];
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = items[p];
      if (!before(t, parent)) break;
      items[i] = parent;
      parent.index = i;
      i = p;
    }
    items[i] = t;
    t.index = i;
  }

  #down(i: number): void {
    const items = this.#items;
    const n = items.length;
    const t = items[i];
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && before(items[r], items[l]) ? r : l;
      if (!before(items[c], t)) break;
      items[i] = items[c];
      items[i].index = i;
      i = c;
    }
    items[i] = t;
    t.index = i;
  }
}
