/**
 * The tables `flowctl get` prints: the columns of antctl's flow records and record metrics
 * tables, left-aligned, two spaces apart.
 *
 * @module
 */

import type { RecordMetrics } from "../aggregator/types.ts";
import type { FlowRow } from "../store/types.ts";

/** Columns of the flow records table (antctl's). */
export const FLOW_RECORDS_COLUMNS = [
  "SRC_IP",
  "DST_IP",
  "SPORT",
  "DPORT",
  "PROTO",
  "SRC_POD",
  "DST_POD",
  "SRC_NS",
  "DST_NS",
  "SERVICE",
] as const;

/**
 * Columns of the record metrics table: antctl's first six, then flowvis's own sinks (antctl's
 * S3, log and IPFIX exporters are not in flowvis; its flow collector exporter is).
 */
export const RECORD_METRICS_COLUMNS = [
  "RECORDS-EXPORTED",
  "RECORDS-RECEIVED",
  "RECORDS-DROPPED",
  "FLOWS",
  "EXPORTERS-CONNECTED",
  "CLICKHOUSE-EXPORTER",
  "EMBEDDED-STORE",
  "FLOW-COLLECTOR",
] as const;

/** A cell as printed: control characters (which could drive a terminal) become "?". */
function cell(v: unknown): string {
  // deno-lint-ignore no-control-regex
  return String(v ?? "").replace(/[\u0000-\u001f\u007f-\u009f]/g, "?");
}

/**
 * Lays out a table: each column as wide as its widest cell, two spaces between columns, no
 * trailing spaces, a newline after each line.
 *
 * @example
 * ```ts
 * formatTable(["A", "BB"], [["1", "2"], ["333", ""]]);
 * // "A    BB\n1    2\n333\n"
 * ```
 */
export function formatTable(
  header: readonly string[],
  rows: readonly (readonly unknown[])[],
): string {
  const lines = [header.map(cell), ...rows.map((r) => header.map((_, i) => cell(r[i])))];
  const widths = header.map((_, i) => Math.max(...lines.map((l) => l[i]!.length)));
  return lines.map((l) =>
    l.map((c, i) => i === l.length - 1 ? c : c.padEnd(widths[i]!)).join("  ").trimEnd() + "\n"
  ).join("");
}

/**
 * The flow records table: addresses, ports, protocol number, Pods, namespaces and the Service
 * port name, one flow per line.
 *
 * @example
 * ```ts
 * flowRecordsTable(rows);
 * // "SRC_IP     DST_IP     SPORT  DPORT  PROTO  SRC_POD  …\n10.10.0.5  10.10.1.7  40312  8080   6  …"
 * ```
 */
export function flowRecordsTable(rows: readonly FlowRow[]): string {
  return formatTable(
    FLOW_RECORDS_COLUMNS,
    rows.map((r) => [
      r.sourceIP,
      r.destinationIP,
      r.sourceTransportPort,
      r.destinationTransportPort,
      r.protocolIdentifier,
      r.sourcePodName,
      r.destinationPodName,
      r.sourcePodNamespace,
      r.destinationPodNamespace,
      r.destinationServicePortName,
    ]),
  );
}

/** Columns of the stored flows table (`flowctl get flows`). */
export const FLOWS_COLUMNS = [
  "END",
  "SRC_IP",
  "DST_IP",
  "SPORT",
  "DPORT",
  "PROTO",
  "SRC_NS",
  "SRC_POD",
  "DST_NS",
  "DST_POD",
  "SERVICE",
  "BYTES",
  "REV_BYTES",
] as const;

/**
 * The stored flows table: when each record ended (UTC), its 5-tuple, pods, Service, and the
 * octets of that record (its deltas).
 *
 * @example
 * ```ts
 * flowsTable(rows); // "END                   SRC_IP  …\n2026-11-26T15:04:05Z  10.10.1.5 …"
 * ```
 */
export function flowsTable(rows: readonly FlowRow[]): string {
  return formatTable(
    FLOWS_COLUMNS,
    rows.map((r) => [
      new Date(r.flowEndSeconds * 1000).toISOString().replace(/\.\d{3}Z$/, "Z"),
      r.sourceIP,
      r.destinationIP,
      r.sourceTransportPort,
      r.destinationTransportPort,
      r.protocolIdentifier,
      r.sourcePodNamespace,
      r.sourcePodName,
      r.destinationPodNamespace,
      r.destinationPodName,
      r.destinationServicePortName,
      r.octetDeltaCount,
      r.reverseOctetDeltaCount,
    ]),
  );
}

/**
 * The record metrics table: one line of counters and sink flags.
 *
 * @example
 * ```ts
 * recordMetricsTable(metrics);
 * // "RECORDS-EXPORTED  RECORDS-RECEIVED  …\n12                40                …"
 * ```
 */
export function recordMetricsTable(m: RecordMetrics): string {
  return formatTable(RECORD_METRICS_COLUMNS, [[
    m.numRecordsExported,
    m.numRecordsReceived,
    m.numRecordsDropped,
    m.numFlows,
    m.numConnToCollector,
    m.withClickHouseExporter,
    m.withEmbeddedStore,
    m.withFlowCollector,
  ]]);
}
