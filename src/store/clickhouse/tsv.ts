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
import { ByteWriter } from "./byte_writer.ts";

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

/** ASCII digits of 0–99, two octets each. */
const DIGIT_PAIRS = new Uint8Array(200);
for (let i = 0; i < 100; i++) {
  DIGIT_PAIRS[2 * i] = 48 + Math.floor(i / 10);
  DIGIT_PAIRS[2 * i + 1] = 48 + (i % 10);
}

/**
 * Writes TabSeparated lines into one growing buffer: strings escaped and UTF-8 encoded once and
 * kept by value (pod names, namespaces, addresses and labels repeat from row to row), integers
 * written two digits at a time with integer arithmetic.
 */
class Writer extends ByteWriter {
  readonly #cache = new Map<string, Uint8Array>();
  readonly #encoder = new TextEncoder();

  /** A String column and its separator. */
  S(v: unknown, sep: number): void {
    const s = typeof v === "string" ? v : v === undefined || v === null ? "" : String(v);
    if (s.length > 0) {
      let b = this.#cache.get(s);
      if (b === undefined) {
        b = this.#encoder.encode(escapeTsv(s));
        if (this.#cache.size >= 65536) this.#cache.clear();
        this.#cache.set(s, b);
      }
      this.room(b.length + 1);
      const buf = this.buf;
      let p = this.pos;
      for (let i = 0; i < b.length; i++) buf[p++] = b[i]!;
      buf[p] = sep;
      this.pos = p + 1;
    } else {
      this.room(1);
      this.buf[this.pos++] = sep;
    }
  }

  /** A DateTime column (ten digits, zero padded: see the module doc) and its separator. */
  D(v: unknown, sep: number): void {
    const n = typeof v === "number" && v >= 0 && v <= 4294967295 && Math.floor(v) === v
      ? v
      : Number(unsignedText(v, 4294967295));
    this.room(11);
    const buf = this.buf;
    const p = this.pos;
    // Below 2^32: split in two parts small enough for integer arithmetic.
    let hi = Math.floor(n / 100000);
    let lo = n - hi * 100000;
    for (let i = 9; i >= 5; i--) {
      const q = (lo / 10) | 0;
      buf[p + i] = 48 + lo - q * 10;
      lo = q;
    }
    for (let i = 4; i >= 0; i--) {
      const q = (hi / 10) | 0;
      buf[p + i] = 48 + hi - q * 10;
      hi = q;
    }
    buf[p + 10] = sep;
    this.pos = p + 11;
  }

  /** An unsigned integer column (at most `max`) and its separator. */
  U(v: unknown, max: number, sep: number): void {
    const n = typeof v === "number" && v >= 0 && v <= max && Math.floor(v) === v
      ? v
      : Number(unsignedText(v, max));
    this.room(18);
    if (n < 1e8) {
      this.#small(n | 0);
    } else {
      // Up to 2^53: a high part and eight low digits, each below 2^31.
      const hi = Math.floor(n / 1e8);
      this.#small(hi);
      let lo = (n - hi * 1e8) | 0;
      const buf = this.buf;
      const p = this.pos;
      for (let i = 6; i >= 0; i -= 2) {
        const q = (lo / 100) | 0;
        const d = (lo - q * 100) << 1;
        buf[p + i] = DIGIT_PAIRS[d]!;
        buf[p + i + 1] = DIGIT_PAIRS[d + 1]!;
        lo = q;
      }
      this.pos = p + 8;
    }
    this.buf[this.pos++] = sep;
  }

  /** A non-negative integer below 2^31, without leading zeros. */
  #small(n: number): void {
    const buf = this.buf;
    let len = 1;
    for (let x = n; x >= 10; x = (x / 10) | 0) len++;
    let p = this.pos + len;
    this.pos = p;
    while (n >= 100) {
      const q = (n / 100) | 0;
      const d = (n - q * 100) << 1;
      buf[--p] = DIGIT_PAIRS[d + 1]!;
      buf[--p] = DIGIT_PAIRS[d]!;
      n = q;
    }
    if (n >= 10) {
      const d = n << 1;
      buf[--p] = DIGIT_PAIRS[d + 1]!;
      buf[--p] = DIGIT_PAIRS[d]!;
    } else {
      buf[--p] = 48 + n;
    }
  }
}

/**
 * One row, compiled once from FLOW_COLUMNS into straight-line calls with a named property read
 * per column (keyed reads by a variable name would be several times slower).
 */
const writeRow = new Function(
  "w",
  "r",
  FLOW_COLUMNS.map((c, i) => {
    const v = `r[${JSON.stringify(c.name)}]`;
    const sep = i === FLOW_COLUMNS.length - 1 ? 10 : 9;
    return c.type === "String"
      ? `w.S(${v}, ${sep});`
      : c.type === "DateTime"
      ? `w.D(${v}, ${sep});`
      : `w.U(${v}, ${MAX[c.type]}, ${sep});`;
  }).join("\n"),
) as (w: Writer, r: FlowRow) => void;

const writer = new Writer();
const decoder = new TextDecoder();

/**
 * The TabSeparated text of `rows`, one line each, columns in FLOW_COLUMNS order. Numbers are
 * written as `String()` writes integers, clamped to their column's range (NaN and negatives
 * become 0) so that one bad value cannot make the server refuse a whole batch.
 *
 * @example
 * ```ts
 * import { emptyFlowRow } from "../types.ts";
 * const row = emptyFlowRow();
 * row.sourceIP = "10.0.0.1";
 * const text = encodeTsv([row]); // "0000000000\t…\t10.0.0.1\t…\n"
 * ```
 */
export function encodeTsv(rows: readonly FlowRow[]): string {
  const w = writer;
  w.pos = 0;
  for (let i = 0; i < rows.length; i++) writeRow(w, rows[i]!);
  const text = decoder.decode(w.buf.subarray(0, w.pos));
  w.shrink();
  return text;
}

/** The column list of an INSERT, in FLOW_COLUMNS order: `flowStartSeconds, flowEndSeconds, …`. */
export const INSERT_COLUMNS: string = FLOW_COLUMNS.map((c) => c.name).join(", ");
