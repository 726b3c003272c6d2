/**
 * Turns a template into a pair of specialised functions that decode and encode its data records.
 * Generating straight-line code per template keeps both directions free of per-field dispatch,
 * which is what lets the codec run at millions of records per second.
 *
 * @module
 */

import { formatIPv4, formatIPv6, ipv4Text, parseIPv4Into, parseIPv6Into } from "../net/mod.ts";
import { TruncatedError } from "./errors.ts";
import {
  type DataRecord,
  type DataType,
  isValidLength,
  type Template,
  VARIABLE_LENGTH,
} from "./types.ts";
import * as V from "./values.ts";

/** Decoder state shared with the generated code: the offset after the last record decoded. */
export interface Cursor {
  off: number;
}

/** A template with its generated record decoder and encoder. */
export interface CompiledTemplate {
  readonly template: Template;
  /** Record field names, in template order; a repeated element gets a `[n]` suffix. */
  readonly names: readonly string[];
  /** Smallest encoded record: fixed fields plus one octet per variable-length field. */
  readonly minLength: number;
  /**
   * Decodes one record starting at `o` and ending at most at `end`; leaves the offset after it
   * in `cur.off`. Throws TruncatedError or MalformedError.
   */
  readonly decode: (
    dv: DataView,
    u8: Uint8Array,
    o: number,
    end: number,
    cur: Cursor,
  ) => DataRecord;
  /**
   * Encodes one record at `o`, writing at most up to `cap`, and returns the offset after it.
   * Missing values are encoded as zero or empty; a value of the wrong type throws a TypeError,
   * a record that does not fit throws a RangeError.
   */
  readonly encode: (dv: DataView, u8: Uint8Array, o: number, cap: number, r: DataRecord) => number;
}

/** Addresses parsed recently: exporters send the same pod addresses over and over. */
const ip4Parsed = new Map<string, number>();

/** Helpers the generated code calls; passed in so the code needs no imports. */
const H = {
  ...V,
  formatIPv4,
  formatIPv6,
  ipv4Text,
  trunc(o: number): never {
    throw new TruncatedError(`Truncated data record at offset ${o}`, o);
  },
  full(o: number): never {
    throw new RangeError(`Data record does not fit the message at offset ${o}`);
  },
  bad(name: string, v: unknown, want: string): never {
    const shown = typeof v === "bigint"
      ? `${v}n`
      : typeof v === "string"
      ? JSON.stringify(v)
      : String(v);
    throw new TypeError(`Invalid value ${shown.slice(0, 80)} for ${name}: expected ${want}`);
  },
  bytes(name: string, v: unknown): Uint8Array {
    if (v instanceof Uint8Array) return v;
    if (v === undefined) return new Uint8Array(0);
    return H.bad(name, v, "a Uint8Array");
  },
  str(name: string, v: unknown): string {
    if (typeof v === "string") return v;
    if (v === undefined) return "";
    return H.bad(name, v, "a string");
  },
  fixedStr(u8: Uint8Array, o: number, len: number): string {
    let n = len;
    while (n > 0 && u8[o + n - 1] === 0) n--;
    return V.decodeString(u8, o, n);
  },
  ip4(name: string, v: unknown, dv: DataView, o: number): void {
    if (typeof v === "string") {
      const known = ip4Parsed.get(v);
      if (known !== undefined) return dv.setUint32(o, known);
      const u8 = new Uint8Array(dv.buffer, dv.byteOffset + o, 4);
      if (parseIPv4Into(v, u8, 0)) {
        if (ip4Parsed.size >= 65536) ip4Parsed.clear();
        ip4Parsed.set(v, dv.getUint32(o));
        return;
      }
    } else if (v === undefined) return dv.setUint32(o, 0);
    H.bad(name, v, "an IPv4 address");
  },
  ip6(name: string, v: unknown, u8: Uint8Array, o: number): void {
    if (v === undefined) u8.fill(0, o, o + 16);
    else if (typeof v !== "string" || !parseIPv6Into(v, u8, o)) {
      H.bad(name, v, "an IPv6 address");
    }
  },
  mac(name: string, v: unknown, u8: Uint8Array, o: number): void {
    if (v === undefined) u8.fill(0, o, o + 6);
    else if (typeof v !== "string" || !V.parseMacInto(v, u8, o)) H.bad(name, v, "a MAC address");
  },
  uint(name: string, v: unknown, u8: Uint8Array, o: number, len: number): void {
    if (v === undefined) v = 0;
    if (typeof v !== "number" && typeof v !== "bigint") H.bad(name, v, "an integer");
    try {
      V.writeUnsigned(u8, o, v as number | bigint, len);
    } catch {
      H.bad(name, v, `an unsigned integer of ${len} octets`);
    }
  },
  sint(name: string, v: unknown, u8: Uint8Array, o: number, len: number): void {
    if (v === undefined) v = 0;
    if (typeof v !== "number" && typeof v !== "bigint") H.bad(name, v, "an integer");
    try {
      V.writeSigned(u8, o, v as number | bigint, len);
    } catch {
      H.bad(name, v, `a signed integer of ${len} octets`);
    }
  },
  micros(name: string, v: unknown, dv: DataView, o: number): void {
    if (v === undefined) v = 0;
    if (typeof v === "bigint") v = Number(v);
    if (typeof v !== "number") H.bad(name, v, "microseconds since the epoch");
    try {
      V.writeMicros(dv, o, v as number);
    } catch {
      H.bad(name, v, "microseconds since the epoch");
    }
  },
  nanos(name: string, v: unknown, dv: DataView, o: number): void {
    if (v === undefined) v = 0n;
    if (typeof v !== "number" && typeof v !== "bigint") {
      H.bad(name, v, "nanoseconds since the epoch");
    }
    try {
      V.writeNanos(dv, o, v as number | bigint);
    } catch {
      H.bad(name, v, "nanoseconds since the epoch");
    }
  },
};

/** Field names of a template, with `[n]` suffixes for repeated elements. */
export function fieldNames(template: Template): string[] {
  const seen = new Map<string, number>();
  return template.fields.map((f) => {
    const n = seen.get(f.element.name) ?? 0;
    seen.set(f.element.name, n + 1);
    return n === 0 ? f.element.name : `${f.element.name}[${n}]`;
  });
}

/** The data type a field is decoded as: its element's, or octetArray when its length is invalid. */
function effectiveType(type: DataType, length: number): DataType {
  if (length === VARIABLE_LENGTH) {
    return type === "string" ? "string" : "octetArray";
  }
  return isValidLength(type, length) ? type : "octetArray";
}

function decodeExpr(type: DataType, len: number, o: string): string {
  switch (type) {
    case "unsigned8":
      return `u8[${o}]`;
    case "unsigned16":
      return len === 2 ? `dv.getUint16(${o})` : `u8[${o}]`;
    case "unsigned32":
    case "dateTimeSeconds":
      return len === 4 ? `dv.getUint32(${o})` : `H.readUnsigned(u8, ${o}, ${len})`;
    case "unsigned64":
    case "dateTimeMilliseconds":
      return len === 8 ? `H.readU64(dv, ${o})` : `H.readUnsigned(u8, ${o}, ${len})`;
    case "unsigned256":
      return `H.readUnsigned(u8, ${o}, ${len})`;
    case "signed8":
      return `dv.getInt8(${o})`;
    case "signed16":
      return len === 2 ? `dv.getInt16(${o})` : `dv.getInt8(${o})`;
    case "signed32":
      return len === 4 ? `dv.getInt32(${o})` : `H.readSigned(u8, ${o}, ${len})`;
    case "signed64":
      return len === 8 ? `H.readI64(dv, ${o})` : `H.readSigned(u8, ${o}, ${len})`;
    case "float32":
      return `dv.getFloat32(${o})`;
    case "float64":
      return len === 8 ? `dv.getFloat64(${o})` : `dv.getFloat32(${o})`;
    case "boolean":
      return `H.decodeBoolean(u8[${o}], ${o})`;
    case "macAddress":
      return `H.formatMac(u8, ${o})`;
    case "ipv4Address":
      return `H.ipv4Text(dv.getUint32(${o}))`;
    case "ipv6Address":
      return `H.formatIPv6(u8, ${o})`;
    case "dateTimeMicroseconds":
      return `H.readMicros(dv, ${o})`;
    case "dateTimeNanoseconds":
      return `H.readNanos(dv, ${o})`;
    case "string":
      return `H.fixedStr(u8, ${o}, ${len})`;
    default:
      return `u8.slice(${o}, ${o} + ${len})`;
  }
}

function encodeStmt(type: DataType, len: number, n: string, v: string, o: string): string {
  // Numbers in range take the fast path; bigints, undefined and errors go through H.uint. The
  // integer test and the split of a 64-bit value into words avoid `%`: on a number that is not a
  // small integer (flow times, most counters) it is a floating-point remainder, a call into C.
  const uint = (max: string, set: string) =>
    `if (typeof ${v} === "number" && ${v} >= 0 && ${v} <= ${max} && Math.floor(${v}) === ${v}) ${set}; else H.uint(${n}, ${v}, u8, ${o}, ${len});`;
  switch (type) {
    case "unsigned8":
      return uint("255", `u8[${o}] = ${v}`);
    case "unsigned16":
      return len === 2
        ? uint("65535", `dv.setUint16(${o}, ${v})`)
        : `H.uint(${n}, ${v}, u8, ${o}, ${len});`;
    case "unsigned32":
    case "dateTimeSeconds":
      return len === 4
        ? uint("4294967295", `dv.setUint32(${o}, ${v})`)
        : `H.uint(${n}, ${v}, u8, ${o}, ${len});`;
    case "unsigned64":
    case "dateTimeMilliseconds":
      return len === 8
        ? `if (typeof ${v} === "number" && ${v} >= 0 && ${v} <= 9007199254740991 && Math.floor(${v}) === ${v}) { L = Math.floor(${v} / 4294967296); dv.setUint32(${o}, L); dv.setUint32(${o} + 4, ${v} - L * 4294967296); } else H.uint(${n}, ${v}, u8, ${o}, 8);`
        : `H.uint(${n}, ${v}, u8, ${o}, ${len});`;
    case "unsigned256":
      return `H.uint(${n}, ${v}, u8, ${o}, ${len});`;
    case "signed8":
    case "signed16":
    case "signed32":
    case "signed64":
      return `H.sint(${n}, ${v}, u8, ${o}, ${len});`;
    case "float32":
    case "float64": {
      const set = len === 8 ? "setFloat64" : "setFloat32";
      return `if (${v} === undefined) ${v} = 0; else if (typeof ${v} !== "number") H.bad(${n}, ${v}, "a number"); dv.${set}(${o}, ${v});`;
    }
    case "boolean":
      return `if (${v} === undefined) ${v} = false; else if (typeof ${v} !== "boolean") H.bad(${n}, ${v}, "a boolean"); u8[${o}] = ${v} ? 1 : 2;`;
    case "macAddress":
      return `H.mac(${n}, ${v}, u8, ${o});`;
    case "ipv4Address":
      return `H.ip4(${n}, ${v}, dv, ${o});`;
    case "ipv6Address":
      return `H.ip6(${n}, ${v}, u8, ${o});`;
    case "dateTimeMicroseconds":
      return `H.micros(${n}, ${v}, dv, ${o});`;
    case "dateTimeNanoseconds":
      return `H.nanos(${n}, ${v}, dv, ${o});`;
    case "string":
      return `{ const s = H.str(${n}, ${v}); if (H.utf8Length(s) > ${len}) H.bad(${n}, s, "a string of at most ${len} octets"); u8.fill(0, ${o}, ${o} + ${len}); H.encodeString(s, u8, ${o}, ${len}); }`;
    default:
      return `if (${v} === undefined) u8.fill(0, ${o}, ${o} + ${len}); else { const b = H.bytes(${n}, ${v}); if (b.length !== ${len}) H.bad(${n}, ${v}, "${len} octets"); u8.set(b, ${o}); }`;
  }
}

type DecodeFn = CompiledTemplate["decode"];
type EncodeFn = CompiledTemplate["encode"];

/** Generated code of one record layout; functions are built on first use. */
interface Layout {
  readonly decodeSrc: string;
  readonly encodeSrc: string;
  decode?: DecodeFn;
  encode?: EncodeFn;
}

const layouts = new Map<string, Layout>();
/** Characters of generated source in `layouts`: the cache starts over past either bound. */
let layoutChars = 0;
const MAX_LAYOUTS = 10_000;
const MAX_LAYOUT_CHARS = 64 * 1024 * 1024;

/** A string that identifies the record layout of a template (names, types and lengths). */
function signature(template: Template, names: string[], kept?: readonly boolean[]): string {
  const layout = template.fields.map((f, i) => `${names[i]}/${f.element.type}/${f.length}`)
    .join(",");
  // The fields kept, by position: distinct selections that keep the same fields share code.
  return kept ? `${layout}|${kept.map((k) => k ? 1 : 0).join("")}` : layout;
}

/**
 * Element names a decoder keeps; every other field is checked for length and skipped (its value
 * is never decoded). Undefined keeps every field.
 */
export type ElementSelection = ReadonlySet<string>;

/**
 * Compiles a template into a record decoder and encoder. Each is generated on its first use
 * (a collector never encodes), and layouts are cached, so a template resent with the same fields
 * costs a map lookup. Throws a RangeError for a template whose records would be empty.
 *
 * @example
 * ```ts
 * import { defaultRegistry } from "./registry.ts";
 * const e = defaultRegistry.byName("octetDeltaCount")!;
 * const c = compileTemplate({ id: 256, scopeFieldCount: 0, fields: [{ element: e, length: 8 }] });
 * c.minLength; // 8
 * ```
 */
export function compileTemplate(template: Template, keep?: ElementSelection): CompiledTemplate {
  const names = fieldNames(template);
  let minLength = 0;
  for (const f of template.fields) minLength += f.length === VARIABLE_LENGTH ? 1 : f.length;
  if (minLength === 0) {
    throw new RangeError(`Template ${template.id} describes records of length 0`);
  }
  const kept = keep && template.fields.map((f) => keep.has(f.element.name));
  const sig = signature(template, names, kept);
  let layout = layouts.get(sig);
  if (!layout) {
    layout = generate(template, names, kept);
    const chars = sig.length + layout.decodeSrc.length + layout.encodeSrc.length;
    if (layouts.size >= MAX_LAYOUTS || layoutChars + chars > MAX_LAYOUT_CHARS) {
      layouts.clear();
      layoutChars = 0;
    }
    layouts.set(sig, layout);
    layoutChars += chars;
  }
  const l = layout;
  // Names come from registries and are JSON-quoted; values never become code.
  const c: { -readonly [K in keyof CompiledTemplate]: CompiledTemplate[K] } = {
    template,
    names,
    minLength,
    decode: l.decode ?? ((dv, u8, o, end, cur) => {
      l.decode ??= new Function("H", l.decodeSrc)(H) as DecodeFn;
      c.decode = l.decode;
      return l.decode(dv, u8, o, end, cur);
    }),
    encode: l.encode ?? ((dv, u8, o, cap, r) => {
      l.encode ??= new Function("H", l.encodeSrc)(H) as EncodeFn;
      c.encode = l.encode;
      return l.encode(dv, u8, o, cap, r);
    }),
  };
  return c;
}

/** `kept[i]` says whether field i is decoded (undefined: every field). */
function generate(template: Template, names: string[], kept?: readonly boolean[]): Layout {
  const dec: string[] = [];
  const enc: string[] = [];
  const props: string[] = [];
  // Fixed-size runs are checked once; variable-length fields check their own length.
  let fixedRun = 0;
  let runStartIdx = -1;
  let encRunStartIdx = -1;
  const flushRun = () => {
    if (fixedRun > 0) {
      dec[runStartIdx] = `if (o + ${fixedRun} > end) H.trunc(o);`;
      enc[encRunStartIdx] = `if (o + ${fixedRun} > cap) H.full(o);`;
    }
    fixedRun = 0;
  };
  template.fields.forEach((f, i) => {
    const n = JSON.stringify(names[i]);
    const type = effectiveType(f.element.type, f.length);
    const decoded = kept === undefined || kept[i]!;
    if (decoded) props.push(`${n}: v${i}`);
    enc.push(`v = r[${n}];`);
    if (f.length === VARIABLE_LENGTH) {
      flushRun();
      dec.push(
        `if (o >= end) H.trunc(o); L = u8[o++]; if (L === 255) { if (o + 2 > end) H.trunc(o); L = dv.getUint16(o); o += 2; } if (o + L > end) H.trunc(o);`,
        !decoded
          ? `o += L;`
          : type === "string"
          ? `const v${i} = L === 0 ? "" : H.decodeStringAt(dv, u8, o, L); o += L;`
          : `const v${i} = u8.slice(o, o + L); o += L;`,
      );
      if (type === "string") {
        enc.push(
          // Up to 83 UTF-16 units take at most 252 octets: the 1-octet length form, written in one
          // pass; ASCII by the loop here, anything else by H.encodeString.
          `s = typeof v === "string" ? v : H.str(${n}, v); if (s.length < 84 && o + 253 <= cap) { for (L = 0; L < s.length; L++) { c = s.charCodeAt(L); if (c > 127) break; u8[o + 1 + L] = c; } if (L !== s.length) L = H.encodeString(s, u8, o + 1, 252); u8[o] = L; o += 1 + L; } else { L = H.utf8Length(s); if (L > 65535 || o + 3 + L > cap) H.full(o); if (L < 255) { u8[o] = L; H.encodeString(s, u8, o + 1, L); o += 1 + L; } else { u8[o] = 255; dv.setUint16(o + 1, L); H.encodeString(s, u8, o + 3, L); o += 3 + L; } }`,
        );
      } else {
        enc.push(
          `b = H.bytes(${n}, v); L = b.length; if (L > 65535 || o + 3 + L > cap) H.full(o); if (L < 255) { u8[o++] = L; } else { u8[o] = 255; dv.setUint16(o + 1, L); o += 3; } u8.set(b, o); o += L;`,
        );
      }
      return;
    }
    if (fixedRun === 0) {
      runStartIdx = dec.length;
      dec.push("");
      encRunStartIdx = enc.length;
      enc.push("");
    }
    fixedRun += f.length;
    dec.push(
      decoded
        ? `const v${i} = ${decodeExpr(type, f.length, "o")}; o += ${f.length};`
        : `o += ${f.length};`,
    );
    enc.push(encodeStmt(type, f.length, n, "v", "o"), `o += ${f.length};`);
  });
  flushRun();
  const decodeSrc = `"use strict"; return function decode(dv, u8, o, end, cur) { let L = 0; ${
    dec.join("\n")
  }\ncur.off = o; return { ${props.join(", ")} }; };`;
  const encodeSrc =
    `"use strict"; return function encode(dv, u8, o, cap, r) { let v, s, b, c = 0, L = 0; ${
      enc.join("\n")
    }\nreturn o; };`;
  return { decodeSrc, encodeSrc };
}
