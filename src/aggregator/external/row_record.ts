/**
 * A `flows` row as an IPFIX data record of the aggregator's template.
 *
 * @module
 */

import type { DataRecord } from "../../ipfix/mod.ts";
import type { FlowRow } from "../../store/mod.ts";
import { aggregatedElementNames } from "./aggregated_template.ts";

/** How one element is filled from a row. */
type Source =
  | { kind: "column"; column: keyof FlowRow }
  | { kind: "address"; column: "sourceIP" | "destinationIP" | "destinationClusterIP" };

/** Elements whose column has another name; every other element reads the column of its name. */
const ADDRESS_COLUMN: Record<string, "sourceIP" | "destinationIP" | "destinationClusterIP"> = {
  sourceIPv4Address: "sourceIP",
  sourceIPv6Address: "sourceIP",
  destinationIPv4Address: "destinationIP",
  destinationIPv6Address: "destinationIP",
  destinationClusterIPv4: "destinationClusterIP",
  destinationClusterIPv6: "destinationClusterIP",
};
const RENAMED: Record<string, keyof FlowRow> = { clusterId: "clusterUUID" };

function sourcesOf(v: 4 | 6): readonly [string, Source][] {
  return aggregatedElementNames(v).map((name) => {
    const address = ADDRESS_COLUMN[name];
    if (address) return [name, { kind: "address", column: address }];
    return [name, { kind: "column", column: RENAMED[name] ?? (name as keyof FlowRow) }];
  });
}

const SOURCES = { 4: sourcesOf(4), 6: sourcesOf(6) } as const;

/**
 * Which IP version a row's addresses are (IPv6 when either has a ":"); TypeError when the source
 * and destination disagree.
 *
 * @example
 * ```ts
 * import { emptyFlowRow } from "../../store/mod.ts";
 * rowIpVersion({ ...emptyFlowRow(), sourceIP: "fd00::1", destinationIP: "fd00::2" }); // 6
 * ```
 */
export function rowIpVersion(row: FlowRow): 4 | 6 {
  const s = row.sourceIP.includes(":");
  const d = row.destinationIP.includes(":");
  if (row.sourceIP !== "" && row.destinationIP !== "" && s !== d) {
    throw new TypeError(
      `Cannot export a flow from ${row.sourceIP} to ${row.destinationIP}: the addresses are of different IP versions`,
    );
  }
  return s || d ? 6 : 4;
}

/**
 * The aggregator's IPFIX data record of a row, with the fields of {@link aggregatedTemplate} of
 * the row's IP version ({@link rowIpVersion}), in template order:
 *
 * - `sourceIP`/`destinationIP` become `source`/`destinationIPv4Address` (or `IPv6Address`),
 *   `destinationClusterIP` becomes `destinationClusterIPv4` (or `IPv6`); an empty address is
 *   0.0.0.0 (or ::), as IPFIX has no empty address.
 * - `clusterUUID` becomes `clusterId` (Antrea 158); `egressName` and `egressIP` go to their
 *   elements 153 and 154 (both strings in Antrea's registry).
 * - `uncorrelated`, a flowvis column, has no IPFIX element: it is not in the record (the JSON
 *   form carries it, see {@link rowToJson}).
 * - Every other column goes to the element of the same name, its number or string unchanged
 *   (times in Unix seconds, throughputs in bits per second, labels as JSON text).
 *
 * @example
 * ```ts
 * import { emptyFlowRow } from "../../store/mod.ts";
 * const r = rowToRecord({ ...emptyFlowRow(), sourceIP: "fd00::1", destinationIP: "fd00::2" });
 * r.sourceIPv6Address; // "fd00::1"
 * r.destinationClusterIPv6; // "::"
 * ```
 */
export function rowToRecord(row: FlowRow): DataRecord {
  const v = rowIpVersion(row);
  const any = v === 4 ? "0.0.0.0" : "::";
  const r: DataRecord = {};
  for (const [name, s] of SOURCES[v]) {
    r[name] = s.kind === "address" ? row[s.column] || any : row[s.column];
  }
  return r;
}
