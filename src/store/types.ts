/**
 * The aggregated flow row every sink writes: the columns of Theia's ClickHouse `flows` table
 * (see `reference/antrea-ipfix-elements.md`) plus what flowvis adds, and the interfaces of the
 * sinks and stores that take them.
 *
 * @module
 */

/** Column types of the `flows` table, as ClickHouse names them. */
export type ColumnType = "DateTime" | "UInt8" | "UInt16" | "UInt64" | "String";

/**
 * One aggregated flow record, as stored. Times are Unix seconds; counters are numbers (exact up
 * to 2^53 − 1, beyond any real flow). Strings are "" when unknown, numbers 0.
 */
export interface FlowRow {
  flowStartSeconds: number;
  flowEndSeconds: number;
  flowEndSecondsFromSourceNode: number;
  flowEndSecondsFromDestinationNode: number;
  flowEndReason: number;
  sourceIP: string;
  destinationIP: string;
  sourceTransportPort: number;
  destinationTransportPort: number;
  protocolIdentifier: number;
  packetTotalCount: number;
  octetTotalCount: number;
  packetDeltaCount: number;
  octetDeltaCount: number;
  reversePacketTotalCount: number;
  reverseOctetTotalCount: number;
  reversePacketDeltaCount: number;
  reverseOctetDeltaCount: number;
  sourcePodName: string;
  sourcePodNamespace: string;
  sourceNodeName: string;
  destinationPodName: string;
  destinationPodNamespace: string;
  destinationNodeName: string;
  destinationClusterIP: string;
  destinationServicePort: number;
  destinationServicePortName: string;
  ingressNetworkPolicyName: string;
  ingressNetworkPolicyNamespace: string;
  ingressNetworkPolicyRuleName: string;
  ingressNetworkPolicyRuleAction: number;
  ingressNetworkPolicyType: number;
  egressNetworkPolicyName: string;
  egressNetworkPolicyNamespace: string;
  egressNetworkPolicyRuleName: string;
  egressNetworkPolicyRuleAction: number;
  egressNetworkPolicyType: number;
  tcpState: string;
  flowType: number;
  sourcePodLabels: string;
  destinationPodLabels: string;
  throughput: number;
  reverseThroughput: number;
  throughputFromSourceNode: number;
  throughputFromDestinationNode: number;
  reverseThroughputFromSourceNode: number;
  reverseThroughputFromDestinationNode: number;
  clusterUUID: string;
  egressName: string;
  egressIP: string;
  /** flowvis: the per-node counters of the aggregated record (Antrea IEs 120–135). */
  packetTotalCountFromSourceNode: number;
  octetTotalCountFromSourceNode: number;
  packetDeltaCountFromSourceNode: number;
  octetDeltaCountFromSourceNode: number;
  reversePacketTotalCountFromSourceNode: number;
  reverseOctetTotalCountFromSourceNode: number;
  reversePacketDeltaCountFromSourceNode: number;
  reverseOctetDeltaCountFromSourceNode: number;
  packetTotalCountFromDestinationNode: number;
  octetTotalCountFromDestinationNode: number;
  packetDeltaCountFromDestinationNode: number;
  octetDeltaCountFromDestinationNode: number;
  reversePacketTotalCountFromDestinationNode: number;
  reverseOctetTotalCountFromDestinationNode: number;
  reversePacketDeltaCountFromDestinationNode: number;
  reverseOctetDeltaCountFromDestinationNode: number;
  /**
   * flowvis: 1 when this is an inter-node flow exported with only one of its two halves (the
   * partner never arrived within the correlation wait); 0 otherwise.
   */
  uncorrelated: number;
}

/** A row read back from a store: the row plus the time the store inserted it. */
export interface StoredFlowRow extends FlowRow {
  /** Unix seconds. */
  timeInserted: number;
}

/** A column of the `flows` table. */
export interface Column {
  readonly name: keyof FlowRow;
  readonly type: ColumnType;
}

/**
 * The columns every store writes, in table order (after `timeInserted`, which the store fills).
 * Theia's columns, then flowvis's: the per-node counters (Antrea IEs 120–135) and `uncorrelated`.
 */
export const FLOW_COLUMNS: readonly Column[] = [
  { name: "flowStartSeconds", type: "DateTime" },
  { name: "flowEndSeconds", type: "DateTime" },
  { name: "flowEndSecondsFromSourceNode", type: "DateTime" },
  { name: "flowEndSecondsFromDestinationNode", type: "DateTime" },
  { name: "flowEndReason", type: "UInt8" },
  { name: "sourceIP", type: "String" },
  { name: "destinationIP", type: "String" },
  { name: "sourceTransportPort", type: "UInt16" },
  { name: "destinationTransportPort", type: "UInt16" },
  { name: "protocolIdentifier", type: "UInt8" },
  { name: "packetTotalCount", type: "UInt64" },
  { name: "octetTotalCount", type: "UInt64" },
  { name: "packetDeltaCount", type: "UInt64" },
  { name: "octetDeltaCount", type: "UInt64" },
  { name: "reversePacketTotalCount", type: "UInt64" },
  { name: "reverseOctetTotalCount", type: "UInt64" },
  { name: "reversePacketDeltaCount", type: "UInt64" },
  { name: "reverseOctetDeltaCount", type: "UInt64" },
  { name: "sourcePodName", type: "String" },
  { name: "sourcePodNamespace", type: "String" },
  { name: "sourceNodeName", type: "String" },
  { name: "destinationPodName", type: "String" },
  { name: "destinationPodNamespace", type: "String" },
  { name: "destinationNodeName", type: "String" },
  { name: "destinationClusterIP", type: "String" },
  { name: "destinationServicePort", type: "UInt16" },
  { name: "destinationServicePortName", type: "String" },
  { name: "ingressNetworkPolicyName", type: "String" },
  { name: "ingressNetworkPolicyNamespace", type: "String" },
  { name: "ingressNetworkPolicyRuleName", type: "String" },
  { name: "ingressNetworkPolicyRuleAction", type: "UInt8" },
  { name: "ingressNetworkPolicyType", type: "UInt8" },
  { name: "egressNetworkPolicyName", type: "String" },
  { name: "egressNetworkPolicyNamespace", type: "String" },
  { name: "egressNetworkPolicyRuleName", type: "String" },
  { name: "egressNetworkPolicyRuleAction", type: "UInt8" },
  { name: "egressNetworkPolicyType", type: "UInt8" },
  { name: "tcpState", type: "String" },
  { name: "flowType", type: "UInt8" },
  { name: "sourcePodLabels", type: "String" },
  { name: "destinationPodLabels", type: "String" },
  { name: "throughput", type: "UInt64" },
  { name: "reverseThroughput", type: "UInt64" },
  { name: "throughputFromSourceNode", type: "UInt64" },
  { name: "throughputFromDestinationNode", type: "UInt64" },
  { name: "reverseThroughputFromSourceNode", type: "UInt64" },
  { name: "reverseThroughputFromDestinationNode", type: "UInt64" },
  { name: "clusterUUID", type: "String" },
  { name: "egressName", type: "String" },
  { name: "egressIP", type: "String" },
  { name: "packetTotalCountFromSourceNode", type: "UInt64" },
  { name: "octetTotalCountFromSourceNode", type: "UInt64" },
  { name: "packetDeltaCountFromSourceNode", type: "UInt64" },
  { name: "octetDeltaCountFromSourceNode", type: "UInt64" },
  { name: "reversePacketTotalCountFromSourceNode", type: "UInt64" },
  { name: "reverseOctetTotalCountFromSourceNode", type: "UInt64" },
  { name: "reversePacketDeltaCountFromSourceNode", type: "UInt64" },
  { name: "reverseOctetDeltaCountFromSourceNode", type: "UInt64" },
  { name: "packetTotalCountFromDestinationNode", type: "UInt64" },
  { name: "octetTotalCountFromDestinationNode", type: "UInt64" },
  { name: "packetDeltaCountFromDestinationNode", type: "UInt64" },
  { name: "octetDeltaCountFromDestinationNode", type: "UInt64" },
  { name: "reversePacketTotalCountFromDestinationNode", type: "UInt64" },
  { name: "reverseOctetTotalCountFromDestinationNode", type: "UInt64" },
  { name: "reversePacketDeltaCountFromDestinationNode", type: "UInt64" },
  { name: "reverseOctetDeltaCountFromDestinationNode", type: "UInt64" },
  { name: "uncorrelated", type: "UInt8" },
];

/**
 * A row with every column at its zero value ("" or 0). Built by one object literal (generated
 * from FLOW_COLUMNS), so that rows keep V8's fast properties: adding 67 properties one by one
 * turns an object into a slow dictionary.
 *
 * @example
 * ```ts
 * const row = emptyFlowRow();
 * row.octetDeltaCount; // 0
 * ```
 */
export const emptyFlowRow: () => FlowRow = new Function(
  `return { ${
    FLOW_COLUMNS.map((c) => `${JSON.stringify(c.name)}: ${c.type === "String" ? '""' : "0"}`)
      .join(", ")
  } };`,
) as () => FlowRow;

/** Counters of one sink. */
export interface SinkStats {
  /** Rows waiting in the sink's queue (memory). */
  queued: number;
  /** Rows the destination confirmed. */
  written: number;
  /** Rows lost for good (queue or spool overflow), each also logged. */
  dropped: number;
  /** Write attempts that failed (each retried or spooled). */
  failures: number;
  /** Rows waiting in the on-disk spool, 0 for sinks without one. */
  spooledRows: number;
  /** Size of the on-disk spool in octets, 0 for sinks without one. */
  spoolBytes: number;
}

/**
 * Where aggregated rows go. `write` never blocks and never throws for the destination's
 * troubles: the sink queues (bounded), retries and counts what it had to drop.
 */
export interface FlowSink {
  /** Short name for logs and metrics: "sqlite", "clickhouse", "ipfix", "json". */
  readonly name: string;
  /** Hands rows over; the sink owns them afterwards. */
  write(rows: readonly FlowRow[]): void;
  /** Resolves when every row handed over so far has been written (or spooled, or dropped). */
  flush(): Promise<void>;
  /** Flushes, then releases the destination; safe to call twice. */
  close(): Promise<void>;
  stats(): SinkStats;
}

/** A filter over stored rows; every field optional, all given fields must match. */
export interface FlowQuery {
  srcip?: string;
  dstip?: string;
  proto?: number;
  srcport?: number;
  dstport?: number;
  sourcePodNamespace?: string;
  sourcePodName?: string;
  destinationPodNamespace?: string;
  destinationPodName?: string;
  /** flowEndSeconds ≥ since (Unix seconds). */
  since?: number;
  /** flowEndSeconds < until (Unix seconds). */
  until?: number;
  /** Most rows returned, newest flowEndSeconds first; default 1000. */
  limit?: number;
}

/** A sink that can also answer queries and forget old rows. */
export interface FlowStore extends FlowSink {
  query(q: FlowQuery): Promise<StoredFlowRow[]>;
  /** Number of rows stored. */
  count(): Promise<number>;
  /** Deletes rows inserted before `before` (Unix seconds); returns how many went, if known. */
  purge(before: number): Promise<number>;
}
