/**
 * flowvis: network flow visibility for Kubernetes. This module is the library surface.
 *
 * @example
 * ```ts
 * import { antreaFlowTemplate, compileTemplate } from "./mod.ts";
 * compileTemplate(antreaFlowTemplate(4)).names.length; // 37
 * ```
 *
 * @module
 */

export * from "./src/ipfix/mod.ts";
export {
  AggregationProcess,
  type AggregatorView,
  FlowAggregator,
  type FlowRecordFilter,
  type RecordMetrics,
  startAggregatorService,
} from "./src/aggregator/mod.ts";
export { ApiClient, createApp, serveApi } from "./src/api/mod.ts";
export { parseAgentConfig, parseAggregatorConfig } from "./src/config/mod.ts";
export * from "./src/store/mod.ts";
