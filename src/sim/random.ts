/**
 * A seeded pseudo-random generator (sfc32, seeded through splitmix32) with the distributions the
 * simulator draws from: uniform, integer, weighted choice, exponential gaps, log-normal and
 * Pareto sizes. The same seed gives the same sequence on every machine.
 *
 * @module
 */

/** splitmix32: spreads a 32-bit seed over the generator's state. */
function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/**
 * Deterministic random numbers.
 *
 * @example
 * ```ts
 * const a = new Random(42);
 * const b = new Random(42);
 * a.next() === b.next(); // true
 * a.int(1, 6); // 1…6
 * a.logNormal(8192, 1.5); // a heavy-tailed size around 8 KiB
 * ```
 */
export class Random {
  #a: number;
  #b: number;
  #c: number;
  #d: number;
  #spare: number | undefined;

  /** `seed` is taken modulo 2^32. */
  constructor(seed: number) {
    if (!Number.isFinite(seed)) throw new TypeError(`Invalid seed ${seed}: expected a number`);
    const mix = splitmix32(Math.floor(seed) >>> 0);
    this.#a = mix();
    this.#b = mix();
    this.#c = mix();
    this.#d = mix();
    for (let i = 0; i < 12; i++) this.uint32();
  }

  /** A uniform 32-bit unsigned integer (sfc32). */
  uint32(): number {
    const t = (((this.#a + this.#b) >>> 0) + this.#d) >>> 0;
    this.#d = (this.#d + 1) >>> 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) >>> 0;
    this.#c = ((this.#c << 21) | (this.#c >>> 11)) >>> 0;
    this.#c = (this.#c + t) >>> 0;
    return t;
  }

  /** A uniform number in [0, 1). */
  next(): number {
    return this.uint32() / 4294967296;
  }

  /** A uniform number in [min, max). */
  uniform(min: number, max: number): number {
    return min + (max - min) * this.next();
  }

  /** A uniform integer in [min, max], both included. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** A uniformly chosen element of a non-empty list. */
  pick<T>(list: readonly T[]): T {
    if (list.length === 0) throw new RangeError("Cannot pick from an empty list");
    return list[Math.floor(this.next() * list.length)]!;
  }

  /** An element chosen with probability proportional to its weight. */
  weighted<T>(items: readonly T[], weight: (item: T) => number): T {
    let total = 0;
    for (const it of items) total += Math.max(0, weight(it));
    if (!(total > 0)) throw new RangeError("Cannot choose: no item has a positive weight");
    let x = this.next() * total;
    for (const it of items) {
      x -= Math.max(0, weight(it));
      if (x < 0) return it;
    }
    return items[items.length - 1]!;
  }

  /** The list in a random order (a new array). */
  shuffle<T>(list: readonly T[]): T[] {
    const out = [...list];
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  }

  /** An exponentially distributed number with this mean (Poisson arrival gaps). */
  exponential(mean: number): number {
    return -mean * Math.log(1 - this.next());
  }

  /** A standard normal number (Box–Muller, both values used). */
  normal(): number {
    if (this.#spare !== undefined) {
      const s = this.#spare;
      this.#spare = undefined;
      return s;
    }
    const u = 1 - this.next();
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.#spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** A log-normal number with this median; `sigma` is the spread of its logarithm. */
  logNormal(median: number, sigma: number): number {
    return median * Math.exp(sigma * this.normal());
  }

  /** A Pareto number at least `min`, with tail index `alpha` (smaller is heavier). */
  pareto(min: number, alpha: number): number {
    return min / Math.pow(1 - this.next(), 1 / alpha);
  }

  /** Lower-case letters and digits, as Kubernetes puts in generated names. */
  token(length: number, alphabet = "bcdfghjklmnpqrstvwxz2456789"): string {
    let s = "";
    for (let i = 0; i < length; i++) s += alphabet[Math.floor(this.next() * alphabet.length)];
    return s;
  }
}
