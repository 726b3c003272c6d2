/**
 * A min-priority queue of items by expiry time, with lazy invalidation: rescheduling an item
 * pushes a new entry and leaves the old one to be skipped when it surfaces.
 *
 * @module
 */

interface Entry<T> {
  at: number;
  item: T;
  version: number;
}

/**
 * Items ordered by expiry time. `schedule` (re)places an item; `popDue` takes every item whose
 * latest time has come.
 *
 * @example
 * ```ts
 * const q = new ExpiryQueue<string>();
 * q.schedule("a", 10);
 * q.schedule("b", 5);
 * q.schedule("a", 3);
 * q.popDue(5); // ["a", "b"]
 * ```
 */
export class ExpiryQueue<T> {
  #heap: Entry<T>[] = [];
  readonly #versions = new Map<T, number>();
  #seq = 0;

  /** Number of items scheduled. */
  get size(): number {
    return this.#versions.size;
  }

  /** The earliest expiry time, or Infinity. */
  peekTime(): number {
    this.#dropStale();
    return this.#heap[0]?.at ?? Infinity;
  }

  /** Schedules `item` at `at`, replacing its earlier time if any. */
  schedule(item: T, at: number): void {
    const version = ++this.#seq;
    this.#versions.set(item, version);
    this.#push({ at, item, version });
    if (this.#heap.length > 64 && this.#heap.length > 4 * this.#versions.size) this.#rebuild();
  }

  /** Removes `item`. */
  cancel(item: T): void {
    this.#versions.delete(item);
  }

  /** Whether `item` is scheduled. */
  has(item: T): boolean {
    return this.#versions.has(item);
  }

  /** Removes and returns every item due at `now`, earliest first. */
  popDue(now: number): T[] {
    const out: T[] = [];
    while (true) {
      this.#dropStale();
      const top = this.#heap[0];
      if (!top || top.at > now) break;
      this.#pop();
      this.#versions.delete(top.item);
      out.push(top.item);
    }
    return out;
  }

  #dropStale(): void {
    let top = this.#heap[0];
    while (top && this.#versions.get(top.item) !== top.version) {
      this.#pop();
      top = this.#heap[0];
    }
  }

  #rebuild(): void {
    const live = this.#heap.filter((e) => this.#versions.get(e.item) === e.version);
    this.#heap = [];
    for (const e of live) this.#push(e);
  }

  #push(e: Entry<T>): void {
    const h = this.#heap;
    let i = h.push(e) - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (h[p]!.at <= e.at) break;
      h[i] = h[p]!;
      i = p;
    }
    h[i] = e;
  }

  #pop(): void {
    const h = this.#heap;
    const last = h.pop()!;
    if (h.length === 0) return;
    let i = 0;
    const n = h.length;
    while (true) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && h[r]!.at < h[l]!.at ? r : l;
      if (h[c]!.at >= last.at) break;
      h[i] = h[c]!;
      i = c;
    }
    h[i] = last;
  }
}
