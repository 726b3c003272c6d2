/**
 * Seeded randomness for tests, fuzzing and benchmarks: the same seed gives the same sequence on
 * every machine, so a failing case or a benchmark's input can be made again exactly.
 *
 * @example
 * ```ts
 * const rng = new Rng(7);
 * const port = rng.range(1024, 65535);
 * const payload = rng.bytes(32);
 * ```
 *
 * @module
 */

export { mulberry32, Rng } from "./mulberry32.ts";
