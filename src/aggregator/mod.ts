/**
 * The flow aggregator: collects flow records from agents, correlates the two halves of
 * inter-node flows, aggregates their statistics and hands complete records to its sinks; its
 * TLS authority; the external collector sinks; and the service that runs it all.
 *
 * @example
 * ```ts
 * import { AggregationProcess } from "./mod.ts";
 * const agg = new AggregationProcess({ activeTimeoutMs: 60_000 });
 * agg.add({
 *   sourceIPv4Address: "10.0.1.2", destinationIPv4Address: "10.0.2.3",
 *   sourceTransportPort: 40000, destinationTransportPort: 80, protocolIdentifier: 6,
 *   flowType: 1, octetDeltaCount: 1500, octetTotalCount: 1500,
 * }, 0);
 * agg.expire(60_000)[0]?.octetDeltaCount; // 1500
 * ```
 *
 * @module
 */

export {
  type AggregationOptions,
  AggregationProcess,
  type AggregationStats,
} from "./aggregation.ts";
export { FlowAggregator, type FlowAggregatorOptions } from "./flow_aggregator.ts";
export {
  CA_VALIDITY_DAYS,
  type CertifiedKey,
  type ClientCertificateFiles,
  type ClientCertificateOptions,
  createPki,
  type CreatePkiOptions,
  ensurePki,
  type EnsurePkiOptions,
  issueClientCertificate,
  parseCertificate,
  type Pki,
  PKI_FILES,
  SERVER_VALIDITY_DAYS,
  writeClientCertificate,
} from "./pki.ts";
export {
  aggregatorPki,
  type AggregatorService,
  type ServiceOptions,
  startAggregatorService,
} from "./service.ts";
export type { AggregatorView, FlowRecordFilter, HealthCheck, RecordMetrics } from "./types.ts";
export * from "./external/mod.ts";
