/**
 * `GET /flowrecords`: the aggregator's cached flow records that match the query.
 *
 * @module
 */

import { Hono } from "hono";
import type { AggregatorView } from "../aggregator/types.ts";
import { methodNotAllowed } from "./_method.ts";
import { parseFlowRecordQuery } from "./flow_record_query.ts";
import type { FlowRecordsResponse } from "./types.ts";

/** Routes of the flow records resource, to mount at `/flowrecords`. */
export function flowRecordsRoutes(aggregator: AggregatorView): Hono {
  return new Hono()
    .get("/", (c) => {
      const url = c.req.url;
      const q = url.indexOf("?");
      const filter = parseFlowRecordQuery(q < 0 ? "" : url.slice(q + 1));
      const body: FlowRecordsResponse = { items: aggregator.flowRecords(filter) };
      return c.json(body);
    })
    .all("/", (c) => methodNotAllowed(c.req.method, c.req.path));
}
