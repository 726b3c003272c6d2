/**
 * A min-heap of (deadline, slot) pairs in typed arrays: 12 octets per entry, no objects.
 *
 * @module
 */

/**
 * Slots ordered by deadline. The heap does not know slots' current deadlines: callers push a
 * lower bound and re-push when a popped slot turns out not to be due yet.
 *
 * @example
 * ```ts
 * const h = new SlotHeap();
 * h.push(30, 1);
 * h.push(10, 2);
 * h.peekDeadline(); // 10
 * h.pop(); // 2
 * ```
 */
export class SlotHeap {
  #at: Float64Array;
  #slot: Int32Array;
  #size = 0;

  constructor(capacity = 1024) {
    this.#at = new Float64Array(capacity);
    this.#slot = new Int32Array(capacity);
  }

  /** Number of entries. */
  get size(): number {
    return this.#size;
  }

  /** Octets held by the heap's arrays. */
  get byteLength(): number {
    return this.#at.byteLength + this.#slot.byteLength;
  }

  /** The earliest deadline, or Infinity when empty. */
  peekDeadline(): number {
    return this.#size === 0 ? Infinity : this.#at[0]!;
  }

  /** The slot of the earliest deadline, or -1 when empty. */
  peekSlot(): number {
    return this.#size === 0 ? -1 : this.#slot[0]!;
  }

  push(deadline: number, slot: number): void {
    if (this.#size === this.#at.length) this.#grow();
    const at = this.#at;
    const sl = this.#slot;
    let i = this.#size++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const pAt = at[parent]!;
      if (pAt <= deadline) break;
      at[i] = pAt;
      sl[i] = sl[parent]!;
      i = parent;
    }
    at[i] = deadline;
    sl[i] = slot;
  }

  /** Removes the earliest entry and returns its slot, or -1 when empty. */
  pop(): number {
    if (this.#size === 0) return -1;
    const at = this.#at;
    const sl = this.#slot;
    const top = sl[0]!;
    const n = --this.#size;
    if (n === 0) return top;
    const lastAt = at[n]!;
    const lastSlot = sl[n]!;
    let i = 0;
    while (true) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && at[child + 1]! < at[child]!) child++;
      if (at[child]! >= lastAt) break;
      at[i] = at[child]!;
      sl[i] = sl[child]!;
      i = child;
    }
    at[i] = lastAt;
    sl[i] = lastSlot;
    return top;
  }

  #grow(): void {
    const at = new Float64Array(this.#at.length * 2);
    at.set(this.#at);
    const sl = new Int32Array(this.#slot.length * 2);
    sl.set(this.#slot);
    this.#at = at;
    this.#slot = sl;
  }
}
