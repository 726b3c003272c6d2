/**
 * Core IPFIX types: abstract data types, information elements, templates and records.
 *
 * @module
 */

/** Abstract data types of RFC 7011 §6.1, plus the structured types of RFC 6313 (kept opaque). */
export type DataType =
  | "octetArray"
  | "unsigned8"
  | "unsigned16"
  | "unsigned32"
  | "unsigned64"
  | "unsigned256"
  | "signed8"
  | "signed16"
  | "signed32"
  | "signed64"
  | "float32"
  | "float64"
  | "boolean"
  | "macAddress"
  | "string"
  | "dateTimeSeconds"
  | "dateTimeMilliseconds"
  | "dateTimeMicroseconds"
  | "dateTimeNanoseconds"
  | "ipv4Address"
  | "ipv6Address"
  | "basicList"
  | "subTemplateList"
  | "subTemplateMultiList";

/** Field length that announces variable-length encoding. RFC 7011 §7 */
export const VARIABLE_LENGTH = 65535;

/** IPFIX protocol version number. RFC 7011 §3.1 */
export const IPFIX_VERSION = 10;

/** Size of the message header. RFC 7011 §3.1 */
export const MESSAGE_HEADER_LENGTH = 16;

/** Size of a set header. RFC 7011 §3.3.2 */
export const SET_HEADER_LENGTH = 4;

/** Set ID of a template set. RFC 7011 §3.3.2 */
export const TEMPLATE_SET_ID = 2;

/** Set ID of an options template set. RFC 7011 §3.3.2 */
export const OPTIONS_TEMPLATE_SET_ID = 3;

/** Lowest set ID (and template ID) of a data set. RFC 7011 §3.3.2 */
export const MIN_DATA_SET_ID = 256;

/** Private enterprise number of the reverse information elements. RFC 5103 §6.1 */
export const REVERSE_PEN = 29305;

/** Private enterprise number of Antrea's information elements. */
export const ANTREA_PEN = 56506;

/** The registered port of IPFIX over TCP, UDP and TLS. RFC 7011 §10 */
export const IPFIX_PORT = 4739;

/** An information element: a named, typed field identified by (enterprise number, ID). */
export interface InfoElement {
  /** Name as in its registry (`octetDeltaCount`, `reverseOctetDeltaCount`, `sourcePodName`). */
  readonly name: string;
  /** Element ID, 0–32767. */
  readonly id: number;
  /** Private enterprise number; 0 for IANA elements. */
  readonly enterpriseId: number;
  /** Abstract data type. */
  readonly type: DataType;
}

/** One field of a template: an element and the length it is encoded with. RFC 7011 §3.2 */
export interface FieldSpecifier {
  readonly element: InfoElement;
  /** Encoded length in octets, or {@link VARIABLE_LENGTH}. */
  readonly length: number;
}

/** A template or an options template. RFC 7011 §3.4 */
export interface Template {
  /** Template ID, 256–65535. */
  readonly id: number;
  readonly fields: readonly FieldSpecifier[];
  /** Number of scope fields of an options template (they come first); 0 for a template. */
  readonly scopeFieldCount: number;
}

/**
 * A decoded value. Integers are numbers, or bigints above 2^53−1; dateTimeNanoseconds is always
 * a bigint. Addresses and MAC addresses are strings, octetArray is a Uint8Array.
 */
export type Value = number | bigint | string | boolean | Uint8Array;

/** A data record: element name → value. */
export type DataRecord = Record<string, Value>;

/** A clock in milliseconds since the Unix epoch; injected so that timeouts can be tested. */
export type Clock = () => number;

/** The system clock. */
export const systemClock: Clock = () => Date.now();

/** The default encoded length of each fixed-size data type. RFC 7011 §6.1 */
export const DEFAULT_LENGTH: Readonly<Record<DataType, number>> = {
  octetArray: VARIABLE_LENGTH,
  unsigned8: 1,
  unsigned16: 2,
  unsigned32: 4,
  unsigned64: 8,
  unsigned256: 32,
  signed8: 1,
  signed16: 2,
  signed32: 4,
  signed64: 8,
  float32: 4,
  float64: 8,
  boolean: 1,
  macAddress: 6,
  string: VARIABLE_LENGTH,
  dateTimeSeconds: 4,
  dateTimeMilliseconds: 8,
  dateTimeMicroseconds: 8,
  dateTimeNanoseconds: 8,
  ipv4Address: 4,
  ipv6Address: 16,
  basicList: VARIABLE_LENGTH,
  subTemplateList: VARIABLE_LENGTH,
  subTemplateMultiList: VARIABLE_LENGTH,
};

const DATA_TYPES = new Set(Object.keys(DEFAULT_LENGTH));

/** Whether `name` is one of the abstract data types. */
export function isDataType(name: string): name is DataType {
  return DATA_TYPES.has(name);
}

/**
 * Whether a field of `type` may be encoded in `length` octets: its default length, reduced-size
 * encoding of integers and float64 (RFC 7011 §6.2), or any length for octetArray and string.
 */
export function isValidLength(type: DataType, length: number): boolean {
  switch (type) {
    case "octetArray":
    case "string":
    case "basicList":
    case "subTemplateList":
    case "subTemplateMultiList":
      return length >= 0 && length <= VARIABLE_LENGTH;
    case "unsigned16":
    case "unsigned32":
    case "unsigned64":
    case "unsigned256":
    case "signed16":
    case "signed32":
    case "signed64":
      return length >= 1 && length <= DEFAULT_LENGTH[type];
    case "float64":
      return length === 4 || length === 8;
    default:
      return length === DEFAULT_LENGTH[type];
  }
}
