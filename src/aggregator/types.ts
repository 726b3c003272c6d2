/**
 * What the aggregator shows the outside (API server, flowctl, metrics): the filter of its cached
 * flow records and its record metrics.
 *
 * @module
 */

import type { Metric } from "../metrics/mod.ts";
import type { FlowRow } from "../store/mod.ts";

/** Filter of `/flowrecords`; each given field must match (antctl's flags). */
export interface FlowRecordFilter {
  srcip?: string;
  dstip?: string;
  proto?: number;
  srcport?: number;
  dstport?: number;
}

/** Counters of `/recordmetrics` (antctl's `get recordmetrics`). */
export interface RecordMetrics {
  /** Aggregated records handed to the sinks. */
  numRecordsExported: number;
  /** Flow records received from agents. */
  numRecordsReceived: number;
  /** Records lost: invalid input records, plus the rows sinks dropped (once per sink that dropped one). */
  numRecordsDropped: number;
  /** Flows (5-tuples) cached by the aggregator now. */
  numFlows: number;
  /** Agents (IPFIX sessions) connected now. */
  numConnToCollector: number;
  withClickHouseExporter: boolean;
  withEmbeddedStore: boolean;
  withFlowCollector: boolean;
}

/** One check of `/healthz`. */
export interface HealthCheck {
  name: string;
  ok: boolean;
  detail?: string;
}

/** The aggregator as the API server sees it. */
export interface AggregatorView {
  /** The cached (aggregated, not yet expired) flow records that match. */
  flowRecords(filter: FlowRecordFilter): FlowRow[];
  recordMetrics(): RecordMetrics;
  /** Every Prometheus metric of the aggregator and its sinks. */
  metrics(): Metric[];
  health(): HealthCheck[];
}
