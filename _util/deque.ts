/**
 * Owns a small double-ended queue: a ring buffer whose capacity is a power
 * of two, grown by doubling (never shrunk). O(1) push, shift, pop and peeks.
 *
 * @module
 */

/** A ring-buffer deque. */
export class Deque<T> {
  #buf: (T | undefined)[] = new Array(16);
  #mask = 15;
  #head = 0;
  /** Number of items. */
  size = 0;

  /** Appends `item` at the tail. */
  push(item: T): void {
    if (this.size > this.#mask) this.#grow();
    this.#buf[(this.#head + this.size) & this.#mask] = item;
    this.size++;
  }

  /** Removes and returns the head; undefined when empty. */
  shift(): T | undefined {
    if (this.size === 0) return undefined;
    const i = this.#head;
    const item = this.#buf[i];
    this.#buf[i] = undefined; // nothing kept alive
    this.#head = (i + 1) & this.#mask;
    this.size--;
    return item;
  }

  /** Removes and returns the tail; undefined when empty. */
  pop(): T | undefined {
    if (this.size === 0) return undefined;
    const i = (this.#head + this.size - 1) & this.#mask;
    const item = this.#buf[i];
    this.#buf[i] = undefined;
    this.size--;
    return item;
  }

  /** The head, not removed. */
  first(): T | undefined {
    return this.size === 0 ? undefined : this.#buf[this.#head];
  }

  /** The tail, not removed. */
  last(): T | undefined {
    return this.size === 0
      ? undefined
      : this.#buf[(this.#head + this.size - 1) & this.#mask];
  }

  /** Items from head to tail (for descriptions and copies). */
  toArray(): T[] {
    const out: T[] = [];
    for (let k = 0; k < this.size; k++) {
      out.push(this.#buf[(this.#head + k) & this.#mask] as T);
    }
    return out;
  }

  #grow(): void {
    const old = this.#buf;
    const n = old.length;
    const buf: (T | undefined)[] = new Array(n * 2);
    for (let k = 0; k < this.size; k++) {
      buf[k] = old[(this.#head + k) & (n - 1)];
    }
    this.#buf = buf;
    this.#mask = n * 2 - 1;
    this.#head = 0;
  }
}
