/**
 * Seeded randomness for tests, fuzzing and benchmarks: the mulberry32 generator and a
 * {@link Rng} with the helpers they need. The same seed gives the same sequence on every
 * machine, so a failure or a benchmark run can be repeated exactly. Not for cryptography.
 *
 * @module
 */

/**
 * The mulberry32 generator: a uint32 seed to a function returning uniform uint32s.
 *
 * @example
 * ```ts
 * const next = mulberry32(1);
 * next(); // 2693262067, on every machine
 * ```
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/**
 * A seeded random source (mulberry32) with the helpers tests and benchmarks need.
 *
 * @example
 * ```ts
 * const rng = new Rng(42);
 * rng.int(6); // 0…5
 * rng.pick(["a", "b", "c"]);
 * rng.bytes(4); // 4 random octets
 * ```
 */
export class Rng {
  readonly #next: () => number;
  constructor(seed: number) {
    this.#next = mulberry32(seed);
  }
  /** A uniform uint32. */
  u32(): number {
    return this.#next();
  }
  /** A uniform integer in [0, n). */
  int(n: number): number {
    if (n <= 0x100000000) return Math.floor((this.#next() / 0x100000000) * n);
    return Math.floor(((this.#next() >>> 5) * 67108864 + (this.#next() >>> 6)) / 2 ** 53 * n);
  }
  /** A uniform integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }
  /** A uniform float in [0, 1): the next uint32 over 2^32. */
  float(): number {
    return this.#next() / 0x100000000;
  }
  /** True with probability p. */
  chance(p: number): boolean {
    return this.float() < p;
  }
  /** A uniform element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  /** `n` uniform random octets. */
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.#next() & 0xff;
    return out;
  }
  /** A uniform unsigned bigint of `bits` bits. */
  bigint(bits: number): bigint {
    let v = 0n;
    for (let b = 0; b < bits; b += 32) v = (v << 32n) | BigInt(this.#next());
    return BigInt.asUintN(bits, v);
  }
}
