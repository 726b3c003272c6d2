/**
 * The query string of `GET /flows` (the stored flows of the embedded store or ClickHouse):
 * the 5-tuple parameters of `/flowrecords`, pod and namespace names, a time range and a limit,
 * parsed strictly into a {@link FlowQuery}.
 *
 * @module
 */

import type { FlowQuery } from "../store/types.ts";
import {
  MAX_PARAMETER_LENGTH,
  MAX_QUERY_LENGTH,
  parseFlowRecordQuery,
  QueryParameterError,
  quote,
  setParameter,
} from "./flow_record_query.ts";

/** Most rows one `GET /flows` returns. */
export const MAX_FLOWS_LIMIT = 100_000;
/** Rows `GET /flows` returns without `limit`. */
export const DEFAULT_FLOWS_LIMIT = 1000;

const FIVE_TUPLE = new Set(["srcip", "dstip", "proto", "srcport", "dstport"]);
const NAMES = [
  "sourcePodNamespace",
  "sourcePodName",
  "destinationPodNamespace",
  "destinationPodName",
] as const;
const TIMES = ["since", "until"] as const;

/** The parameters of `GET /flows`, in the order they are written. */
export const FLOW_PARAMETERS: readonly string[] = [...FIVE_TUPLE, ...NAMES, ...TIMES, "limit"];

/** A Kubernetes object name or namespace: lower-case alphanumerics, `-` and `.`. RFC 1123 */
const K8S_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/**
 * Parses the query string of `GET /flows`: `srcip`, `dstip`, `proto`, `srcport`, `dstport` as
 * `/flowrecords` takes them; `sourcePodNamespace`, `sourcePodName`, `destinationPodNamespace`,
 * `destinationPodName` (Kubernetes names); `since` and `until` (Unix seconds: flows whose
 * flowEndSeconds is at or after `since` and before `until`); `limit` (1 to 100 000, 1000 by
 * default). Newest flows come first.
 *
 * @throws {QueryParameterError} naming the parameter that is unknown, unparsable, too long or
 * repeated with another value
 *
 * @example
 * ```ts
 * parseFlowQuery("destinationPodNamespace=shop&proto=tcp&since=1700000000&limit=50");
 * // { destinationPodNamespace: "shop", proto: 6, since: 1700000000, limit: 50 }
 * ```
 */
export function parseFlowQuery(query: string): FlowQuery {
  if (query.startsWith("?")) query = query.slice(1);
  if (query.length > MAX_QUERY_LENGTH) {
    throw new QueryParameterError(
      undefined,
      `Query string is ${query.length} characters long, more than ${MAX_QUERY_LENGTH}`,
    );
  }
  const tuple = new URLSearchParams();
  const out: Record<string, string | number> = {};
  for (const [name, value] of new URLSearchParams(query)) {
    if (FIVE_TUPLE.has(name)) {
      tuple.append(name, value);
      continue;
    }
    if (!FLOW_PARAMETERS.includes(name)) {
      throw new QueryParameterError(
        name,
        `Unknown query parameter ${quote(name)}: expected one of ${FLOW_PARAMETERS.join(", ")}`,
      );
    }
    if (value.length > MAX_PARAMETER_LENGTH) {
      throw new QueryParameterError(
        name,
        `Parameter ${name} is ${value.length} characters long, more than ${MAX_PARAMETER_LENGTH}`,
      );
    }
    if (value === "") continue;
    let parsed: string | number;
    if ((NAMES as readonly string[]).includes(name)) {
      if (!K8S_NAME.test(value)) {
        throw new QueryParameterError(
          name,
          `Invalid ${name} ${quote(value)}: expected a Kubernetes name (a-z, 0-9, "-", ".")`,
        );
      }
      parsed = value;
    } else {
      const max = name === "limit" ? MAX_FLOWS_LIMIT : 4294967295;
      const min = name === "limit" ? 1 : 0;
      if (!/^[0-9]{1,10}$/.test(value) || Number(value) > max || Number(value) < min) {
        throw new QueryParameterError(
          name,
          `Invalid ${name} ${quote(value)}: expected an integer from ${min} to ${max}${
            name === "limit" ? "" : " (Unix seconds)"
          }`,
        );
      }
      parsed = Number(value);
    }
    setParameter(out, name, parsed);
  }
  return { ...parseFlowRecordQuery(tuple.toString()), ...out } as FlowQuery;
}

/**
 * The query string (without `?`) that asks `GET /flows` for `q`; "" for no filter.
 *
 * @example
 * ```ts
 * formatFlowQuery({ sourcePodName: "web-0", limit: 10 }); // "sourcePodName=web-0&limit=10"
 * ```
 */
export function formatFlowQuery(q: FlowQuery): string {
  const params = new URLSearchParams();
  for (const name of FLOW_PARAMETERS) {
    const value = (q as Record<string, unknown>)[name];
    if (value !== undefined) params.set(name, String(value));
  }
  return params.toString();
}
