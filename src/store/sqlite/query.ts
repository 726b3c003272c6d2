/**
 * A {@link FlowQuery} compiled to one SQLite SELECT with bound parameters, after checking every
 * field.
 *
 * @module
 */

import { FLOW_COLUMNS, type FlowQuery } from "../types.ts";

/** Rows a query returns when it gives no limit. */
export const DEFAULT_QUERY_LIMIT = 1000;
/** The largest limit a query may ask for. */
export const MAX_QUERY_LIMIT = 100_000;

/** A compiled query: SQL text with `?` placeholders and their values, in order. */
export interface CompiledQuery {
  sql: string;
  params: (string | number)[];
}

/** Every column a query returns, `timeInserted` first, in table order. */
export const SELECT_COLUMNS: readonly string[] = [
  "timeInserted",
  ...FLOW_COLUMNS.map((c) => c.name),
];

type Kind = "string" | "u8" | "u16" | "time";

/** Each filter: its column, the comparison, and what its value must be. */
const FILTERS: readonly (readonly [keyof FlowQuery, string, Kind])[] = [
  ["srcip", "sourceIP = ?", "string"],
  ["dstip", "destinationIP = ?", "string"],
  ["proto", "protocolIdentifier = ?", "u8"],
  ["srcport", "sourceTransportPort = ?", "u16"],
  ["dstport", "destinationTransportPort = ?", "u16"],
  ["sourcePodNamespace", "sourcePodNamespace = ?", "string"],
  ["sourcePodName", "sourcePodName = ?", "string"],
  ["destinationPodNamespace", "destinationPodNamespace = ?", "string"],
  ["destinationPodName", "destinationPodName = ?", "string"],
  ["since", "flowEndSeconds >= ?", "time"],
  ["until", "flowEndSeconds < ?", "time"],
];

function checkValue(key: string, kind: Kind, v: unknown): string | number {
  if (kind === "string") {
    if (typeof v !== "string") throw new TypeError(`Query field ${key} must be a string`);
    return v;
  }
  if (typeof v !== "number" || Number.isNaN(v)) {
    throw new TypeError(`Query field ${key} must be a number`);
  }
  if (kind === "time") {
    if (!Number.isFinite(v)) throw new RangeError(`Query field ${key} must be finite: ${v}`);
    return v;
  }
  const max = kind === "u8" ? 255 : 65535;
  if (!Number.isInteger(v) || v < 0 || v > max) {
    throw new RangeError(`Query field ${key} must be an integer from 0 to ${max}: ${v}`);
  }
  return v;
}

/**
 * Compiles a query: every given field must match, rows come newest `flowEndSeconds` first (the
 * latest inserted first among equals), at most `limit` of them.
 *
 * @example
 * ```ts
 * const { sql, params } = compileQuery({ srcip: "10.0.0.1", limit: 10 });
 * // sql: "SELECT timeInserted, … FROM flows WHERE sourceIP = ? ORDER BY flowEndSeconds DESC, rowid DESC LIMIT ?"
 * // params: ["10.0.0.1", 10]
 * ```
 *
 * @throws {TypeError} a field of the wrong type
 * @throws {RangeError} a port, protocol or limit out of range
 */
export function compileQuery(q: FlowQuery): CompiledQuery {
  if (typeof q !== "object" || q === null) throw new TypeError("Query must be an object");
  const where: string[] = [];
  const params: (string | number)[] = [];
  for (const [key, cond, kind] of FILTERS) {
    const v = q[key];
    if (v === undefined) continue;
    where.push(cond);
    params.push(checkValue(key, kind, v));
  }
  const limit = q.limit ?? DEFAULT_QUERY_LIMIT;
  if (
    typeof limit !== "number" || !Number.isInteger(limit) || limit < 1 || limit > MAX_QUERY_LIMIT
  ) {
    throw new RangeError(`Query limit must be an integer from 1 to ${MAX_QUERY_LIMIT}: ${limit}`);
  }
  params.push(limit);
  const sql = `SELECT ${SELECT_COLUMNS.join(", ")} FROM flows` +
    (where.length > 0 ? ` WHERE ${where.join(" AND ")}` : "") +
    " ORDER BY flowEndSeconds DESC, rowid DESC LIMIT ?";
  return { sql, params };
}
