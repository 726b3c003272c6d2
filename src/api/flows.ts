/**
 * `GET /flows`: the stored flows (the embedded store, or ClickHouse) that match the query,
 * newest first: the history `/flowrecords` (the cache) no longer holds.
 *
 * @module
 */

import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import type { FlowQuery, StoredFlowRow } from "../store/types.ts";
import { methodNotAllowed } from "./_method.ts";
import { DEFAULT_FLOWS_LIMIT, parseFlowQuery } from "./flow_query.ts";

/** What `/flows` reads from: a store's query. */
export interface FlowHistory {
  query(q: FlowQuery): Promise<StoredFlowRow[]>;
}

/** Body of `GET /flows`. */
export interface FlowsResponse {
  items: StoredFlowRow[];
}

/** Routes of the stored flows resource, to mount at `/flows`; 503 without a store. */
export function flowsRoutes(store: FlowHistory | undefined): Hono {
  return new Hono()
    .get("/", async (c) => {
      const url = c.req.url;
      const i = url.indexOf("?");
      const q = parseFlowQuery(i < 0 ? "" : url.slice(i + 1));
      if (store === undefined) {
        throw new HTTPException(503, {
          message: "No flow store: the aggregator writes to an external collector only",
        });
      }
      let items: StoredFlowRow[];
      try {
        items = await store.query({ ...q, limit: q.limit ?? DEFAULT_FLOWS_LIMIT });
      } catch (e) {
        // The store is down or busy (ClickHouse unreachable, SQLite closed): a server-side
        // condition the client may retry, not a bug in the request.
        throw new HTTPException(503, {
          message: `Cannot query the flow store: ${e instanceof Error ? e.message : String(e)}`,
        });
      }
      const body: FlowsResponse = { items };
      return c.json(body);
    })
    .all("/", (c) => methodNotAllowed(c.req.method, c.req.path));
}
