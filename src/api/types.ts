/**
 * The bodies the API server answers with, and what it is built from.
 *
 * @module
 */

import type { AggregatorView, HealthCheck } from "../aggregator/types.ts";
import type { Logger } from "../log/mod.ts";
import type { FlowRow } from "../store/types.ts";
import type { FlowHistory } from "./flows.ts";

/** What {@link createApp} needs. */
export interface ApiDeps {
  aggregator: AggregatorView;
  /** The store behind `GET /flows` (the embedded store or ClickHouse); 503 there without one. */
  store?: FlowHistory;
  /** Where failed requests are logged; silent by default. */
  logger?: Logger;
}

/** Body of `GET /flowrecords`: the matching cached records, in the aggregator's order. */
export interface FlowRecordsResponse {
  items: FlowRow[];
}

/** Body of `GET /healthz`: 200 with status "ok", or 503 with status "unhealthy". */
export interface HealthzResponse {
  status: "ok" | "unhealthy";
  /** Names of the checks that failed; empty when healthy. */
  failing: string[];
  checks: HealthCheck[];
}

/** Body of every error answer (4xx, 5xx). */
export interface ErrorResponse {
  error: string;
  /** The query parameter at fault, for 400 answers about one. */
  parameter?: string;
}
