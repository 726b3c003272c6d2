/**
 * The agent's flow exporter: connection store with an expiry queue, connection classification
 * (pods, Service, flow type, NetworkPolicy verdicts) and Antrea flow records.
 *
 * @example
 * ```ts
 * import { ConnectionStore, fnv1_32 } from "./mod.ts";
 * const store = new ConnectionStore(() => ({}), { activeTimeoutMs: 60_000, idleTimeoutMs: 15_000 });
 * store.update([]);
 * store.due().length; // 0
 * fnv1_32("k8s-node-1"); // observation domain ID of that node's agent
 * ```
 *
 * @module
 */

export {
  type Connection,
  connectionKey,
  ConnectionStore,
  type ConnectionStoreOptions,
  type ConnectionStoreStats,
  type Counters,
  type ExportItem,
  FlowEndReason,
} from "./connection_store.ts";
export { ExpiryQueue } from "./expiry_queue.ts";
export {
  classifyConnection,
  type ClassifyContext,
  type ClusterKnowledge,
  type FlowMeta,
  flowRecord,
  FlowType,
  isDenied,
  type PodName,
} from "./flow_record.ts";
export { fnv1_32 } from "./fnv.ts";
export {
  type AgentOptions,
  type AgentStats,
  type ConnectionSource,
  FlowExporterAgent,
} from "./agent.ts";
