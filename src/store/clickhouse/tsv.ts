/**
 * Rows of the `flows` table in ClickHouse's TabSeparated format: the body of an
 * `INSERT … FORMAT TabSeparated` request. DateTime columns are written as Unix seconds (which do
 * not depend on the server's time zone) padded with zeros to ten digits: ClickHouse 18.16 reads
 * a shorter number such as `0` only when it is not near the end of its read buffer, and refuses
 * the whole INSERT otherwise ("Cannot parse datetime"); ten digits are read the same way
 * everywhere.
 *
 * @module
 */

import { FLOW_COLUMNS, type FlowRow } from "../types.ts";

/** Largest value of each unsigned integer column type. */
const MAX: Record<string, number> = {
  DateTime: 4294967295,
  UInt8: 255,
  UInt16: 65535,
  UInt64: Number.MAX_SAFE_INTEGER,
};

/** Characters that TabSeparated escapes with a backslash. */
const SPECIAL = /[\\\t\n\r\0\b\f\v']/;
const SPECIAL_G = /[\\\t\n\r\0\b\f\v']/g;
const ESCAPES: Record<string, string> = {
  "\\": "\\\\",
  "\t": "\\t",
  "\n": "\\n",
  "\r": "\\r",
  "\0": "\\0",
  "\b": "\\b",
  "\f": "\\f",
  "\v": "\\v",
  "'": "\\'",
};

/**
 * Escapes a string for a TabSeparated field: backslash, tab, line feed, carriage return, NUL,
 * backspace, form feed, vertical tab and single quote become backslash sequences; everything
 * else (UTF-8 included) is written as it is.
 *
 * @example
 * ```ts
 * escapeTsv("a\tb\\c"); // "a\\tb\\\\c"
 * ```
 */
export function escapeTsv(s: string): string {
  return SPECIAL.test(s) ? s.replace(SPECIAL_G, (c) => ESCAPES[c]!) : s;
}

/**
 * The text of an unsigned integer column: a finite number truncated to an integer and clamped
 * to the column's range (NaN and negatives become 0), so that one bad value cannot make the
 * server refuse a whole batch.
 */
export function unsignedText(v: unknown, max: number): string {
  let n = typeof v === "number" ? v : typeof v === "bigint" ? Number(v) : Number(v ?? 0);
  if (!(n > 0)) return "0"; // NaN, negatives, 0, -0
  if (n > max) n = max;
  return String(Math.trunc(n));
}

type Writer = (row: FlowRow) => string;

/** One row's line (with its final "\n"), compiled once for FLOW_COLUMNS. */
function compileRowWriter(): Writer {
  const parts = FLOW_COLUMNS.map((c) => {
    if (c.type === "String") {
      return (r: FlowRow) => {
        const v = r[c.name] as unknown;
        return escapeTsv(
          typeof v === "string" ? v : v === undefined || v === null ? "" : String(v),
        );
      };
    }
    const max = MAX[c.type]!;
    if (c.type === "DateTime") {
      return (r: FlowRow) => {
        const v = r[c.name] as unknown;
        const text = typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= max
          ? String(v)
          : unsignedText(v, max);
        return text.length >= 10 ? text : "0000000000".slice(text.length) + text;
      };
    }
    return (r: FlowRow) => {
      const v = r[c.name] as unknown;
      // The common case (a non-negative safe integer in range) without a function call.
      return typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= max
        ? String(v)
        : unsignedText(v, max);
    };
  });
  return (row) => {
    let line = parts[0]!(row);
    for (let i = 1; i < parts.length; i++) line += "\t" + parts[i]!(row);
    return line + "\n";
  };
}

const writeRow = compileRowWriter();

/**
 * The TabSeparated text of `rows`, one line each, columns in FLOW_COLUMNS order.
 *
 * @example
 * ```ts
 * import { emptyFlowRow } from "../types.ts";
 * const row = emptyFlowRow();
 * row.sourceIP = "10.0.0.1";
 * const text = encodeTsv([row]); // "0\t0\t0\t0\t0\t10.0.0.1\t…\n"
 * ```
 */
export function encodeTsv(rows: readonly FlowRow[]): string {
  let out = "";
  for (let i = 0; i < rows.length; i++) out += writeRow(rows[i]!);
  return out;
}

/** The column list of an INSERT, in FLOW_COLUMNS order: `flowStartSeconds, flowEndSeconds, …`. */
export const INSERT_COLUMNS: string = FLOW_COLUMNS.map((c) => c.name).join(", ");
