/**
 * `GET /healthz`: 200 when every check of the aggregator passes, 503 naming those that fail.
 *
 * @module
 */

import { Hono } from "hono";
import type { AggregatorView } from "../aggregator/types.ts";
import { methodNotAllowed } from "./_method.ts";
import type { HealthzResponse } from "./types.ts";

/** Routes of the health resource, to mount at `/healthz`. */
export function healthzRoutes(aggregator: AggregatorView): Hono {
  return new Hono()
    .get("/", (c) => {
      const checks = aggregator.health();
      const failing = checks.filter((h) => !h.ok).map((h) => h.name);
      const body: HealthzResponse = {
        status: failing.length === 0 ? "ok" : "unhealthy",
        failing,
        checks,
      };
      return c.json(body, failing.length === 0 ? 200 : 503);
    })
    .all("/", (c) => methodNotAllowed(c.req.method, c.req.path));
}
