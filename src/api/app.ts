/**
 * The API server's Hono app: one route group per resource, one error path.
 *
 * @module
 */

import { Hono } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { HTTPException } from "hono/http-exception";
import { silentLogger } from "../log/mod.ts";
import { flowRecordsRoutes } from "./flow_records.ts";
import { flowsRoutes } from "./flows.ts";
import { QueryParameterError } from "./flow_record_query.ts";
import { healthzRoutes } from "./healthz.ts";
import { prometheusRoutes } from "./prometheus.ts";
import { recordMetricsRoutes } from "./record_metrics.ts";
import type { ApiDeps, ErrorResponse } from "./types.ts";

/**
 * Builds the aggregator's API app. Routes (all GET, also HEAD):
 *
 * - `/flowrecords?srcip=&dstip=&proto=&srcport=&dstport=` → {@link FlowRecordsResponse}
 *   (`{"items":[FlowRow, …]}`); a bad parameter gets 400 with `parameter` naming it
 * - `/flows?srcip=&…&sourcePodNamespace=&…&since=&until=&limit=` → `{"items":[StoredFlowRow, …]}`:
 *   the stored flows, newest first (503 without a store)
 * - `/recordmetrics` → {@link RecordMetrics}
 * - `/metrics` → Prometheus text
 * - `/healthz` → {@link HealthzResponse}, 200 or 503
 *
 * Every error answer is JSON {@link ErrorResponse}: 400 bad query, 404 unknown path, 405 other
 * method (with `Allow`), 500 when the aggregator throws (logged; the body says no more).
 *
 * @example
 * ```ts
 * const app = createApp({ aggregator });
 * const res = await app.request("/flowrecords?proto=tcp&dstport=443");
 * const { items } = await res.json(); // FlowRow[]
 * ```
 */
export function createApp(deps: ApiDeps): Hono {
  const log = deps.logger ?? silentLogger;
  const app = new Hono();
  app.route("/flowrecords", flowRecordsRoutes(deps.aggregator));
  app.route("/flows", flowsRoutes(deps.store));
  app.route("/recordmetrics", recordMetricsRoutes(deps.aggregator));
  app.route("/metrics", prometheusRoutes(deps.aggregator));
  app.route("/healthz", healthzRoutes(deps.aggregator));

  app.notFound((c) => c.json<ErrorResponse>({ error: `No such path: ${c.req.path}` }, 404));

  app.onError((err, c) => {
    if (err instanceof QueryParameterError) {
      const body: ErrorResponse = { error: err.message };
      if (err.parameter !== undefined) body.parameter = err.parameter;
      return c.json(body, 400);
    }
    if (err instanceof HTTPException) {
      const headers: Record<string, string> = {};
      const allow = err.res?.headers.get("Allow");
      if (allow) headers["Allow"] = allow;
      return c.json<ErrorResponse>(
        { error: err.message || `HTTP ${err.status}` },
        err.status as ContentfulStatusCode,
        headers,
      );
    }
    log.error("Request failed", { method: c.req.method, path: c.req.path, error: err });
    return c.json<ErrorResponse>({ error: "Internal server error" }, 500);
  });
  return app;
}
