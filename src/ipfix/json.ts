/**
 * The JSON form of data records, shared by the collector's output and the replay tool's input:
 * one line per record,
 * `{"exportTime":N,"observationDomainId":N,"sequenceNumber":N,"templateId":N,"exporter":"ip:port","record":{…}}`.
 *
 * @module
 */

import type { Registry } from "./registry.ts";
import type { DataRecord, DataType, InfoElement, Value } from "./types.ts";
import { fromHex, toHex } from "./values.ts";

/** A record as one JSON line carries it. */
export interface RecordLine {
  exportTime: number;
  observationDomainId: number;
  sequenceNumber: number;
  templateId: number;
  exporter: string;
  record: Record<string, JsonValue>;
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** A JSON value of a record field. */
export type JsonValue = number | string | boolean | null;

/**
 * The JSON form of a value: integers as numbers (decimal strings above 2^53−1), floats as numbers
 * (`"NaN"`, `"Infinity"`, `"-Infinity"` as strings), octetArray as lowercase hex; addresses,
 * MAC addresses and strings as strings; dateTime values as integers of their own unit.
 */
export function toJsonValue(v: Value): JsonValue {
  if (typeof v === "number") return Number.isFinite(v) ? v : String(v);
  if (typeof v === "bigint") {
    // A bigint within 2^53−1 (a small nanosecond time, a 64-bit counter read as a bigint) is a
    // number like any other integer.
    return v <= MAX_SAFE && v >= -MAX_SAFE ? Number(v) : v.toString();
  }
  if (v instanceof Uint8Array) return toHex(v);
  return v;
}

/** The JSON form of a record. */
export function recordToJson(record: DataRecord): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = {};
  for (const k in record) out[k] = toJsonValue(record[k]!);
  return out;
}

/** Strips the `[n]` suffix that marks a repeated element. */
export function baseName(name: string): string {
  const i = name.indexOf("[");
  return i < 0 ? name : name.slice(0, i);
}

const FLOAT_WORDS: Record<string, number> = {
  NaN: NaN,
  Infinity: Infinity,
  "-Infinity": -Infinity,
};

function integer(name: string, v: JsonValue): number | bigint {
  if (typeof v === "number" && Number.isSafeInteger(v)) return v;
  if (typeof v === "number" && Number.isInteger(v)) {
    throw new TypeError(
      `Invalid value ${v} for ${name}: integers above 2^53−1 lose precision as JSON numbers; write them as decimal strings`,
    );
  }
  if (typeof v === "string" && /^-?\d+$/.test(v)) {
    const b = BigInt(v);
    return b >= -9007199254740991n && b <= 9007199254740991n ? Number(b) : b;
  }
  throw new TypeError(`Invalid value ${JSON.stringify(v)} for ${name}: expected an integer`);
}

/**
 * The value of a JSON field for an element of `type`; throws a TypeError naming the field when
 * the JSON value cannot be one.
 */
export function fromJsonValue(name: string, type: DataType, v: JsonValue): Value {
  switch (type) {
    case "unsigned8":
    case "unsigned16":
    case "unsigned32":
    case "unsigned64":
    case "unsigned256":
    case "signed8":
    case "signed16":
    case "signed32":
    case "signed64":
    case "dateTimeSeconds":
    case "dateTimeMilliseconds":
    case "dateTimeMicroseconds":
      return integer(name, v);
    case "dateTimeNanoseconds":
      return BigInt(integer(name, v));
    case "float32":
    case "float64":
      if (typeof v === "number") return v;
      if (typeof v === "string" && Object.hasOwn(FLOAT_WORDS, v)) return FLOAT_WORDS[v]!;
      throw new TypeError(`Invalid value ${JSON.stringify(v)} for ${name}: expected a number`);
    case "boolean":
      if (typeof v === "boolean") return v;
      throw new TypeError(`Invalid value ${JSON.stringify(v)} for ${name}: expected a boolean`);
    case "string":
    case "ipv4Address":
    case "ipv6Address":
    case "macAddress":
      if (typeof v === "string") return v;
      throw new TypeError(`Invalid value ${JSON.stringify(v)} for ${name}: expected a string`);
    default:
      if (typeof v !== "string") {
        throw new TypeError(`Invalid value ${JSON.stringify(v)} for ${name}: expected hex octets`);
      }
      try {
        return fromHex(v);
      } catch (cause) {
        throw new TypeError(`Invalid value for ${name}: expected hex octets`, { cause });
      }
  }
}

/**
 * Parses one JSON line into its header fields and a record with typed values. Throws SyntaxError
 * for text that is not JSON or not of the record line's shape, TypeError for a bad field value.
 *
 * @example
 * ```ts
 * import { defaultRegistry } from "./registry.ts";
 * const { record } = parseRecordLine(
 *   '{"observationDomainId":1,"record":{"sourceIPv4Address":"10.0.0.1","octetDeltaCount":5}}',
 *   defaultRegistry,
 * );
 * record.octetDeltaCount; // 5
 * ```
 */
export function parseRecordLine(
  line: string,
  registry: Registry,
): {
  header: Partial<Omit<RecordLine, "record">>;
  elements: InfoElement[];
  names: string[];
  record: DataRecord;
} {
  let obj: unknown;
  try {
    obj = JSON.parse(line);
  } catch (cause) {
    throw new SyntaxError("Not valid JSON", { cause });
  }
  if (typeof obj !== "object" || obj === null || Array.isArray(obj)) {
    throw new SyntaxError("Expected a JSON object");
  }
  const o = obj as Record<string, unknown>;
  const rec = o.record;
  if (typeof rec !== "object" || rec === null || Array.isArray(rec)) {
    throw new SyntaxError('Expected a "record" object');
  }
  const header: Partial<Omit<RecordLine, "record">> = {};
  for (const k of ["exportTime", "observationDomainId", "sequenceNumber", "templateId"] as const) {
    const v = o[k];
    if (v === undefined) continue;
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 0xffffffff) {
      throw new TypeError(`Invalid ${k} ${JSON.stringify(v)}: expected an unsigned 32-bit integer`);
    }
    header[k] = v;
  }
  if (typeof o.exporter === "string") header.exporter = o.exporter;
  const elements: InfoElement[] = [];
  const names: string[] = [];
  const record: DataRecord = {};
  for (const [name, v] of Object.entries(rec as Record<string, unknown>)) {
    const element = registry.byName(baseName(name));
    if (!element) throw new TypeError(`Unknown information element "${name}"`);
    if (v !== null && typeof v === "object") {
      throw new TypeError(`Invalid value for ${name}: expected a JSON scalar`);
    }
    elements.push(element);
    names.push(name);
    record[name] = fromJsonValue(name, element.type, v as JsonValue);
  }
  if (names.length === 0) throw new SyntaxError("The record has no fields");
  return { header, elements, names, record };
}
