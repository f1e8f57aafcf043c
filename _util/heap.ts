/**
 * Owns the one binary min-heap: `PriorityQueue`'s items and the timer
 * heap's per-duration lists both live in it.
 *
 * Array-backed; `compare` (given at construction) orders the items, and
 * items that compare equal (0) come out in the order they were pushed (a
 * push counter kept in a parallel array, so no wrapper per item). An
 * optional `moved(item, index)` is told every item's new position, for a
 * user that must find an item again (`update`, `removeAt`).
 *
 * Sifting moves a hole and puts the moving item down in it whatever
 * happens, so a `compare` that throws leaves every item in the heap but the
 * one `pop()`/`removeAt()` was taking out; only their order may be off.
 *
 * @module
 */

/** A binary min-heap ordered by a comparator, ties in push order. */
export class Heap<T> {
  readonly #items: T[] = [];
  /** Each item's push number, at the same index. */
  readonly #order: number[] = [];
  #seq = 0;
  readonly #compare: (a: T, b: T) => number;
  readonly #moved: ((item: T, index: number) => void) | undefined;

  /**
   * Creates an empty heap.
   *
   * @param compare Negative when `a` comes out before `b`, 0 when they
   * tie (then push order decides), as `Array.prototype.sort`'s; called
   * without a `this`, as sort calls it.
   * @param moved Told each item's new index whenever it is placed.
   */
  constructor(
    compare: (a: T, b: T) => number,
    moved?: (item: T, index: number) => void,
  ) {
    this.#compare = compare;
    this.#moved = moved;
  }

  /** Number of items. */
  get size(): number {
    return this.#items.length;
  }

  /** The first item, or undefined when empty. */
  peek(): T | undefined {
    return this.#items[0];
  }

  /** Adds `item`. */
  push(item: T): void {
    const i = this.#items.length;
    this.#items.push(item);
    const seq = this.#seq++;
    this.#order.push(seq);
    this.#up(i, item, seq);
  }

  /** Removes and returns the first item; undefined when empty. */
  pop(): T | undefined {
    const items = this.#items, order = this.#order;
    const n = items.length;
    if (n === 0) return undefined;
    const top = items[0];
    const last = items.pop()!;
    const seq = order.pop()!;
    if (n > 1) this.#down(0, last, seq);
    return top;
  }

  /** Removes and returns the item at `index` (which must hold one). */
  removeAt(index: number): T {
    const items = this.#items, order = this.#order;
    const item = items[index];
    const last = items.pop()!;
    const seq = order.pop()!;
    if (index < items.length) {
      items[index] = last; // in its place before a compare that may throw
      order[index] = seq;
      this.#place(index, last, seq);
    }
    return item;
  }

  /** The item at `index` changed what `compare` says of it: reorders it. */
  update(index: number): void {
    this.#place(index, this.#items[index], this.#order[index]);
  }

  /** Every item, in heap order (the first first, the rest unsorted). */
  *[Symbol.iterator](): IterableIterator<T> {
    const items = this.#items;
    for (let i = 0; i < items.length; i++) yield items[i];
  }

  /** Whether `a` (push number `sa`) comes out before `b` (`sb`). */
  #less(a: T, sa: number, b: T, sb: number): boolean {
    const compare = this.#compare;
    const c = compare(a, b);
    return c < 0 || (c === 0 && sa < sb);
  }

  /**
   * Puts `item` (push number `seq`), which is at `i`, above or below, where
   * it belongs.
   */
  #place(i: number, item: T, seq: number): void {
    if (i > 0) {
      const p = (i - 1) >> 1;
      if (this.#less(item, seq, this.#items[p], this.#order[p])) {
        this.#up(i, item, seq); // before its parent (from another subtree)
        return;
      }
    }
    this.#down(i, item, seq);
  }

  /** Puts `item` (push number `seq`) at `i` or above, where it belongs. */
  #up(i: number, item: T, seq: number): void {
    const items = this.#items, order = this.#order, moved = this.#moved;
    const compare = this.#compare;
    try {
      while (i > 0) {
        const p = (i - 1) >> 1;
        const parent = items[p];
        const c = compare(item, parent);
        if (!(c < 0 || (c === 0 && seq < order[p]))) break;
        items[i] = parent;
        order[i] = order[p];
        if (moved !== undefined) moved(parent, i);
        i = p;
      }
    } finally {
      items[i] = item;
      order[i] = seq;
      if (moved !== undefined) moved(item, i);
    }
  }

  /** Puts `item` (push number `seq`) at `i` or below, where it belongs. */
  #down(i: number, item: T, seq: number): void {
    const items = this.#items, order = this.#order, moved = this.#moved;
    const n = items.length;
    const compare = this.#compare;
    try {
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        // the least of item, left and right, compared in that order
        let m = i, mItem = item, mSeq = seq;
        let c = compare(items[l], mItem);
        if (c < 0 || (c === 0 && order[l] < mSeq)) {
          m = l;
          mItem = items[l];
          mSeq = order[l];
        }
        const r = l + 1;
        if (
          r < n &&
          ((c = compare(items[r], mItem)) < 0 || (c === 0 && order[r] < mSeq))
        ) {
          m = r;
          mItem = items[r];
          mSeq = order[r];
        }
        if (m === i) break;
        items[i] = mItem;
        order[i] = mSeq;
        if (moved !== undefined) moved(mItem, i);
        i = m;
      }
    } finally {
      items[i] = item;
      order[i] = seq;
      if (moved !== undefined) moved(item, i);
    }
  }
}
