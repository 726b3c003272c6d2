/**
 * The SQL that the ClickHouse store sends: the `flows` table's DDL, string literals and the
 * SELECT of a {@link FlowQuery}. ClickHouse 18.16 has no query parameters, so values are written
 * as escaped literals; numbers are checked to be integers in range first.
 *
 * @module
 */

import { FLOW_COLUMNS, type FlowQuery } from "../types.ts";

/** The table every row goes to. */
export const TABLE = "flows";

/** Default and largest `limit` of a query. */
export const DEFAULT_LIMIT = 1000;
export const MAX_LIMIT = 1_000_000;

/**
 * A ClickHouse string literal: the value in single quotes, with backslash, quote and control
 * characters escaped.
 *
 * @example
 * ```ts
 * quoteString("it's"); // "'it\\'s'"
 * ```
 */
export function quoteString(s: string): string {
  return "'" + s.replace(/[\\'\0\n\r\t\b\f\v]/g, (c) => LITERAL_ESCAPES[c]!) + "'";
}

const LITERAL_ESCAPES: Record<string, string> = {
  "\\": "\\\\",
  "'": "\\'",
  "\0": "\\0",
  "\n": "\\n",
  "\r": "\\r",
  "\t": "\\t",
  "\b": "\\b",
  "\f": "\\f",
  "\v": "\\v",
};

/**
 * Checks a database name: letters, digits and underscores, not starting with a digit (it is
 * written into SQL unquoted). Throws TypeError otherwise.
 */
export function checkDatabaseName(name: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(name)) {
    throw new TypeError(
      `Invalid ClickHouse database name ${
        JSON.stringify(name)
      }: use letters, digits and underscores`,
    );
  }
  return name;
}

/** `CREATE DATABASE IF NOT EXISTS db`. */
export function createDatabaseSql(database: string): string {
  return `CREATE DATABASE IF NOT EXISTS ${checkDatabaseName(database)}`;
}

/**
 * The `flows` table: `timeInserted DateTime DEFAULT now()`, then FLOW_COLUMNS in order, a
 * MergeTree partitioned by the hour of insertion so that retention drops whole partitions (18.16
 * has no TTL clause), ordered by (timeInserted, flowEndSeconds). The same DDL works on current
 * ClickHouse versions.
 *
 * @example
 * ```ts
 * createTableSql("default"); // "CREATE TABLE IF NOT EXISTS default.flows (\n  timeInserted …"
 * ```
 */
export function createTableSql(database: string): string {
  const cols = [
    "  timeInserted DateTime DEFAULT now()",
    ...FLOW_COLUMNS.map((c) => `  ${c.name} ${c.type}`),
  ];
  return `CREATE TABLE IF NOT EXISTS ${checkDatabaseName(database)}.${TABLE} (\n${
    cols.join(",\n")
  }\n) ENGINE = MergeTree\nPARTITION BY toStartOfHour(timeInserted)\nORDER BY (timeInserted, flowEndSeconds)`;
}

/**
 * What keeps an existing `flows` table from taking the rows flowvis writes (RowBinary, by column
 * name): each column of FLOW_COLUMNS missing or of another type, one sentence each; empty when it
 * matches. Columns flowvis does not write are fine (they take their defaults), as are
 * `DateTime('zone')` for DateTime and `LowCardinality(String)` for String, which RowBinary writes
 * the same way.
 *
 * @example
 * ```ts
 * schemaMismatch([{ name: "sourceIP", type: "IPv4" }]); // ["column flowStartSeconds is missing", …]
 * ```
 */
export function schemaMismatch(columns: readonly { name: string; type: string }[]): string[] {
  const have = new Map(columns.map((c) => [c.name, c.type]));
  const problems: string[] = [];
  for (const c of FLOW_COLUMNS) {
    const t = have.get(c.name);
    if (t === undefined) problems.push(`column ${c.name} is missing`);
    else if (!sameWireType(t, c.type)) {
      problems.push(`column ${c.name} is ${t}, flowvis writes ${c.type}`);
    }
  }
  return problems;
}

function sameWireType(actual: string, wanted: string): boolean {
  if (actual === wanted) return true;
  if (wanted === "DateTime") return /^DateTime\('[^']*'\)$/.test(actual);
  if (wanted === "String") return actual === "LowCardinality(String)";
  return false;
}

/** Seconds of one partition of the `flows` table. */
export const PARTITION_SECONDS = 3600;

/** An unsigned integer argument of a query; TypeError when it is not one within `max`. */
function uint(name: string, v: unknown, max: number): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > max) {
    throw new TypeError(`Query field ${name} must be an integer from 0 to ${max}, got ${v}`);
  }
  return v;
}

/** The select list: DateTime columns as Unix seconds. */
const SELECT_LIST = ["timeInserted", ...FLOW_COLUMNS.map((c) => c.name)].map((name) => {
  const type = name === "timeInserted"
    ? "DateTime"
    : FLOW_COLUMNS.find((c) => c.name === name)!.type;
  return type === "DateTime" ? `toUInt32(${name}) AS ${name}` : name;
}).join(", ");

/** The WHERE conditions of a query (empty when it has none). */
export function whereClause(q: FlowQuery): string {
  const cond: string[] = [];
  const str = (col: string, v: string | undefined) => {
    if (v === undefined) return;
    if (typeof v !== "string") throw new TypeError(`Query field ${col} must be a string`);
    cond.push(`${col} = ${quoteString(v)}`);
  };
  const num = (col: string, field: string, v: number | undefined, max: number) => {
    if (v !== undefined) cond.push(`${col} = ${uint(field, v, max)}`);
  };
  str("sourceIP", q.srcip);
  str("destinationIP", q.dstip);
  num("protocolIdentifier", "proto", q.proto, 255);
  num("sourceTransportPort", "srcport", q.srcport, 65535);
  num("destinationTransportPort", "dstport", q.dstport, 65535);
  str("sourcePodNamespace", q.sourcePodNamespace);
  str("sourcePodName", q.sourcePodName);
  str("destinationPodNamespace", q.destinationPodNamespace);
  str("destinationPodName", q.destinationPodName);
  if (q.since !== undefined) {
    cond.push(`flowEndSeconds >= toDateTime(${uint("since", q.since, 4294967295)})`);
  }
  if (q.until !== undefined) {
    cond.push(`flowEndSeconds < toDateTime(${uint("until", q.until, 4294967295)})`);
  }
  return cond.length === 0 ? "" : ` WHERE ${cond.join(" AND ")}`;
}

/**
 * The SELECT of a query: matching rows, newest `flowEndSeconds` first, at most `limit` (1000 by
 * default), DateTime columns as Unix seconds. Throws TypeError for a field of the wrong type
 * and RangeError for a limit out of range.
 *
 * @example
 * ```ts
 * selectSql("default", { srcip: "10.0.0.1", limit: 10 });
 * // "SELECT toUInt32(timeInserted) AS timeInserted, … WHERE sourceIP = '10.0.0.1' … LIMIT 10"
 * ```
 */
export function selectSql(database: string, q: FlowQuery): string {
  const limit = q.limit ?? DEFAULT_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
    throw new RangeError(`Query limit must be an integer from 1 to ${MAX_LIMIT}, got ${limit}`);
  }
  return `SELECT ${SELECT_LIST} FROM ${checkDatabaseName(database)}.${TABLE}${
    whereClause(q)
  } ORDER BY flowEndSeconds DESC, timeInserted DESC LIMIT ${limit}`;
}
