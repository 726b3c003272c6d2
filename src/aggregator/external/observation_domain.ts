/**
 * The observation domain ID the aggregator uses towards an external collector when the
 * configuration gives none.
 *
 * @module
 */

import { fnv1_32 } from "../../exporter/mod.ts";

/**
 * A stable, non-zero observation domain ID derived from `seed` (the cluster UUID, or failing
 * that another string that identifies this aggregator, such as its address): FNV-1 32 of the
 * seed's UTF-8 bytes, as the agents derive theirs from the node name. The rare seed that hashes
 * to 0 gets 1, since collectors may read 0 as "no domain". Throws a TypeError for an empty seed.
 *
 * @example
 * ```ts
 * deriveObservationDomainId("a"); // 84696446
 * ```
 */
export function deriveObservationDomainId(seed: string): number {
  if (typeof seed !== "string" || seed === "") {
    throw new TypeError("Cannot derive an observation domain ID from an empty seed");
  }
  return fnv1_32(seed) || 1;
}

/**
 * Checks a configured observation domain ID: an integer from 0 to 2^32 − 1, else RangeError.
 *
 * @example
 * ```ts
 * checkObservationDomainId(4_000_000_000); // 4000000000
 * ```
 */
export function checkObservationDomainId(id: number): number {
  if (!Number.isInteger(id) || id < 0 || id > 0xffffffff) {
    throw new RangeError(
      `Invalid observation domain ID ${id}: expected an integer from 0 to 4294967295`,
    );
  }
  return id;
}
