/**
 * `GET /metrics`: every metric of the aggregator in the Prometheus text format.
 *
 * @module
 */

import { Hono } from "hono";
import type { AggregatorView } from "../aggregator/types.ts";
import { formatPrometheus, PROMETHEUS_CONTENT_TYPE } from "../metrics/mod.ts";
import { methodNotAllowed } from "./_method.ts";

/** Routes of the metrics resource, to mount at `/metrics`. */
export function prometheusRoutes(aggregator: AggregatorView): Hono {
  return new Hono()
    .get("/", (c) =>
      c.body(formatPrometheus(aggregator.metrics()), 200, {
        "Content-Type": PROMETHEUS_CONTENT_TYPE,
      }))
    .all("/", (c) => methodNotAllowed(c.req.method, c.req.path));
}
