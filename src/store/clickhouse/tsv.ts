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

/** What a row writer calls for each column (named methods: the generated code calls them). */
interface Sink {
  str(v: unknown): void;
  dt(v: unknown): void;
  u(v: unknown, max: number): void;
  sep(octet: number): void;
}

/**
 * One row, compiled once from FLOW_COLUMNS into straight-line code with a named property read per
 * column (about twice as fast as a loop over the column names, which reads keyed properties).
 */
const writeRow = new Function(
  "w",
  "r",
  FLOW_COLUMNS.map((c, i) => {
    const v = `r[${JSON.stringify(c.name)}]`;
    const call = c.type === "String"
      ? `w.str(${v});`
      : c.type === "DateTime"
      ? `w.dt(${v});`
      : `w.u(${v}, ${MAX[c.type]});`;
    return `${call} w.sep(${i === FLOW_COLUMNS.length - 1 ? 10 : 9});`;
  }).join("\n"),
) as (w: Sink, r: FlowRow) => void;

const NUMERIC_OK = (v: unknown, max: number): v is number =>
  typeof v === "number" && v >= 0 && v <= max && v % 1 === 0;

/**
 * Encodes rows into TabSeparated octets in a growing buffer. Strings are escaped and UTF-8
 * encoded once and kept in a bounded cache (pod names, namespaces, addresses and labels repeat
 * from row to row); numbers are written digit by digit.
 *
 * @example
 * ```ts
 * import { emptyFlowRow } from "../types.ts";
 * const w = new TsvWriter();
 * w.writeRows([emptyFlowRow()]);
 * const octets = w.take(); // one line, 51 fields
 * ```
 */
export class TsvWriter implements Sink {
  #buf = new Uint8Array(1 << 16);
  #pos = 0;
  #cache = new Map<string, Uint8Array>();
  #encoder = new TextEncoder();
  #cacheLimit: number;

  /** `cacheLimit`: most distinct strings kept encoded (the cache is emptied when full). */
  constructor(cacheLimit = 65536) {
    this.#cacheLimit = cacheLimit;
  }

  /** Appends the lines of `rows`. */
  writeRows(rows: readonly FlowRow[]): void {
    for (let i = 0; i < rows.length; i++) writeRow(this, rows[i]!);
  }

  /** Octets written since the last take. */
  get length(): number {
    return this.#pos;
  }

  /** The octets written since the last take (a copy), and starts over. */
  take(): Uint8Array {
    const out = this.#buf.slice(0, this.#pos);
    this.#pos = 0;
    if (this.#buf.length > 1 << 24) this.#buf = new Uint8Array(1 << 16);
    return out;
  }

  #room(n: number): void {
    if (this.#pos + n <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < this.#pos + n) size *= 2;
    const b = new Uint8Array(size);
    b.set(this.#buf.subarray(0, this.#pos));
    this.#buf = b;
  }

  /** @internal A String column. */
  str(v: unknown): void {
    const s = typeof v === "string" ? v : v === undefined || v === null ? "" : String(v);
    if (s.length === 0) return;
    let b = this.#cache.get(s);
    if (b === undefined) {
      b = this.#encoder.encode(escapeTsv(s));
      if (this.#cache.size >= this.#cacheLimit) this.#cache.clear();
      this.#cache.set(s, b);
    }
    this.#room(b.length + 32);
    const buf = this.#buf;
    let p = this.#pos;
    if (b.length < 32) {
      for (let i = 0; i < b.length; i++) buf[p++] = b[i]!;
    } else {
      buf.set(b, p);
      p += b.length;
    }
    this.#pos = p;
  }

  /** @internal A DateTime column: ten digits, zero padded (see the module doc). */
  dt(v: unknown): void {
    let n = NUMERIC_OK(v, 4294967295) ? v : Number(unsignedText(v, 4294967295));
    this.#room(16);
    const buf = this.#buf;
    const p = this.#pos;
    for (let i = 9; i >= 0; i--) {
      const q = Math.floor(n / 10);
      buf[p + i] = 48 + (n - q * 10);
      n = q;
    }
    this.#pos = p + 10;
  }

  /** @internal An unsigned integer column. */
  u(v: unknown, max: number): void {
    let n = NUMERIC_OK(v, max) ? v : Number(unsignedText(v, max));
    this.#room(24);
    const buf = this.#buf;
    if (n < 10) {
      buf[this.#pos++] = 48 + n;
      return;
    }
    let len = 1;
    for (let x = n; x >= 10; x = Math.floor(x / 10)) len++;
    let p = this.#pos + len;
    this.#pos = p;
    while (n >= 10) {
      const q = Math.floor(n / 10);
      buf[--p] = 48 + (n - q * 10);
      n = q;
    }
    buf[--p] = 48 + n;
  }

  /** @internal A tab or the end of the line. */
  sep(octet: number): void {
    this.#room(1);
    this.#buf[this.#pos++] = octet;
  }
}

const decoder = new TextDecoder();

/**
 * The TabSeparated text of `rows`, one line each, columns in FLOW_COLUMNS order.
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
  const w = new TsvWriter();
  w.writeRows(rows);
  return decoder.decode(w.take());
}

/** The column list of an INSERT, in FLOW_COLUMNS order: `flowStartSeconds, flowEndSeconds, …`. */
export const INSERT_COLUMNS: string = FLOW_COLUMNS.map((c) => c.name).join(", ");
