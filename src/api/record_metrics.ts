/**
 * `GET /recordmetrics`: the aggregator's record counters ({@link RecordMetrics}).
 *
 * @module
 */

import { Hono } from "hono";
import type { AggregatorView, RecordMetrics } from "../aggregator/types.ts";
import { methodNotAllowed } from "./_method.ts";

/** Routes of the record metrics resource, to mount at `/recordmetrics`. */
export function recordMetricsRoutes(aggregator: AggregatorView): Hono {
  return new Hono()
    .get("/", (c) => c.json<RecordMetrics>(aggregator.recordMetrics()))
    .all("/", (c) => methodNotAllowed(c.req.method, c.req.path));
}
