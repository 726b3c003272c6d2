/**
 * The flow aggregator's HTTP API (Hono): the cached flow records, the record metrics, the
 * Prometheus metrics and the health checks, as `flowctl` (antctl's Flow Aggregator commands)
 * and other HTTP clients read them.
 *
 * | route | answer |
 * |---|---|
 * | `GET /flowrecords?srcip=&dstip=&proto=&srcport=&dstport=` | `{"items":[FlowRow, …]}` |
 * | `GET /recordmetrics` | `RecordMetrics` |
 * | `GET /metrics` | Prometheus text 0.0.4 |
 * | `GET /healthz` | `{"status":"ok"\|"unhealthy","failing":[…],"checks":[…]}`, 200 or 503 |
 *
 * Errors are JSON `{"error":"…"}` (400 adds `"parameter"`). {@link ApiClient} reads the API and
 * the table functions print antctl's tables of what it read.
 *
 * @example
 * ```ts
 * import { createApp, serveApi } from "./src/api/mod.ts";
 *
 * const app = createApp({ aggregator, logger });
 * const server = serveApi(app, { hostname: "0.0.0.0", port: 10348, signal });
 * await (await app.request("/recordmetrics")).json(); // RecordMetrics, no socket involved
 * await server.finished;
 * ```
 *
 * @module
 */

export { createApp } from "./app.ts";
export {
  DEFAULT_FLOWS_LIMIT,
  FLOW_PARAMETERS,
  formatFlowQuery,
  MAX_FLOWS_LIMIT,
  parseFlowQuery,
} from "./flow_query.ts";
export { type FlowHistory, type FlowsResponse, flowsRoutes } from "./flows.ts";
export {
  ApiClient,
  type ApiClientOptions,
  ApiResponseError,
  ApiUnreachableError,
  DEFAULT_API_URL,
  parseApiUrl,
} from "./client.ts";
export {
  FLOW_RECORD_PARAMETERS,
  type FlowRecordParameter,
  formatFlowRecordQuery,
  MAX_PARAMETER_LENGTH,
  MAX_QUERY_LENGTH,
  parseFlowRecordQuery,
  PROTOCOL_NUMBERS,
  QueryParameterError,
} from "./flow_record_query.ts";
export { type ApiServer, serveApi, type ServeApiOptions } from "./serve.ts";
export {
  FLOW_RECORDS_COLUMNS,
  flowRecordsTable,
  FLOWS_COLUMNS,
  flowsTable,
  formatTable,
  RECORD_METRICS_COLUMNS,
  recordMetricsTable,
} from "./table.ts";
export type { ApiDeps, ErrorResponse, FlowRecordsResponse, HealthzResponse } from "./types.ts";
