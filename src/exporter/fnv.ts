/**
 * FNV-1 32-bit hash, which Antrea uses to derive an agent's observation domain ID from its node
 * name.
 *
 * @module
 */

const encoder = new TextEncoder();

/**
 * FNV-1 (not 1a) 32-bit hash of the UTF-8 bytes of `text`.
 *
 * @example
 * ```ts
 * fnv1_32(""); // 2166136261
 * fnv1_32("a"); // 84696446
 * ```
 */
export function fnv1_32(text: string): number {
  let h = 0x811c9dc5;
  for (const b of encoder.encode(text)) {
    h = Math.imul(h, 0x01000193) >>> 0;
    h = (h ^ b) >>> 0;
  }
  return h;
}
