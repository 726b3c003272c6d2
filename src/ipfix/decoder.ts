/**
 * Decoding of IPFIX messages. RFC 7011 §3
 *
 * @module
 */

import type { CompiledTemplate, Cursor } from "./compile.ts";
import { MalformedError, TruncatedError } from "./errors.ts";
import { defaultRegistry, type Registry } from "./registry.ts";
import type { SessionKey, TemplateCache } from "./template_cache.ts";
import {
  type DataRecord,
  type FieldSpecifier,
  IPFIX_VERSION,
  MESSAGE_HEADER_LENGTH,
  MIN_DATA_SET_ID,
  OPTIONS_TEMPLATE_SET_ID,
  SET_HEADER_LENGTH,
  type Template,
  TEMPLATE_SET_ID,
} from "./types.ts";

/** The fixed part of every message. RFC 7011 §3.1 */
export interface MessageHeader {
  readonly version: number;
  /** Total message length in octets, header included. */
  readonly length: number;
  /** Seconds since the Unix epoch. */
  readonly exportTime: number;
  readonly sequenceNumber: number;
  readonly observationDomainId: number;
}

/** The records of one data set. */
export interface DecodedDataSet {
  readonly templateId: number;
  readonly template: CompiledTemplate;
  readonly records: DataRecord[];
}

/** A decoded message. */
export interface DecodedMessage extends MessageHeader {
  /** Data sets in message order, with their records (messages without any share one empty array). */
  readonly dataSets: readonly DecodedDataSet[];
  /** Number of data records decoded. */
  readonly recordCount: number;
  /** Templates and options templates defined by this message, in order. */
  readonly templates: readonly Template[];
  /** Template IDs withdrawn by this message (a withdraw-all counts as its set ID). */
  readonly withdrawals: readonly number[];
  /** Data sets skipped because their template is unknown. */
  readonly unknownSets: readonly { templateId: number; length: number }[];
  /** Sets with a reserved set ID (4–255), skipped. */
  readonly reservedSets: number;
}

// deno-lint-ignore no-explicit-any
const NONE: any[] = Object.freeze([]) as unknown as any[];

/**
 * Where a generated decoder leaves the offset after a record: scratch space, read on the line
 * after the call that writes it, with nothing run in between (a template's decoder calls only the
 * value helpers), so one serves every call.
 */
const cur: Cursor = { off: 0 };

/** Options of {@link decodeMessage}. */
export interface DecodeOptions {
  /** The transport session the message came from. */
  session: SessionKey;
  /** Lifetime of templates learned from this message: Infinity (TCP/TLS) or 1800 s (UDP). */
  templateLifetimeMs?: number;
  /** Registry to resolve field specifiers; the default registry otherwise. */
  registry?: Registry;
}

/**
 * Reads a message header; throws when fewer than 16 octets are given or the version is not 10.
 *
 * @example
 * ```ts
 * const h = decodeHeader(new Uint8Array([0, 10, 0, 16, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 7]));
 * h.observationDomainId; // 7
 * ```
 */
export function decodeHeader(bytes: Uint8Array): MessageHeader {
  if (bytes.length < MESSAGE_HEADER_LENGTH) {
    throw new TruncatedError(
      `Truncated message header: ${bytes.length} of ${MESSAGE_HEADER_LENGTH} octets`,
      0,
    );
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = dv.getUint16(0);
  if (version !== IPFIX_VERSION) {
    throw new MalformedError(`Unsupported version ${version}: expected 10`, 0);
  }
  const length = dv.getUint16(2);
  if (length < MESSAGE_HEADER_LENGTH) {
    throw new MalformedError(`Invalid message length ${length}`, 2);
  }
  return {
    version,
    length,
    exportTime: dv.getUint32(4),
    sequenceNumber: dv.getUint32(8),
    observationDomainId: dv.getUint32(12),
  };
}

/**
 * Decodes one message, learning its templates into `cache` and decoding its data sets with
 * the templates known for (session, observation domain). Data sets with an unknown template
 * are skipped and listed in `unknownSets`. Throws TruncatedError (RangeError) or MalformedError
 * (SyntaxError) for input that is not a valid message; templates learned before the error stay.
 * `view`, when given, is a DataView that starts where `bytes` does and covers at least the message
 * (a receiver's view of its buffer slot, say): it saves making one. Nothing past the message's
 * length is read through it. Any other view is ignored.
 *
 * @example
 * ```ts
 * import { TemplateCache } from "./template_cache.ts";
 * const cache = new TemplateCache();
 * const msg = decodeMessage(
 *   new Uint8Array([0, 10, 0, 16, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 7]),
 *   cache,
 *   { session: "a" },
 * );
 * msg.recordCount; // 0
 * ```
 */
export function decodeMessage(
  bytes: Uint8Array,
  cache: TemplateCache,
  options: DecodeOptions,
  view?: DataView,
): DecodedMessage {
  if (bytes.length < MESSAGE_HEADER_LENGTH) decodeHeader(bytes); // throws the header's error
  const length = (bytes[2]! << 8) | bytes[3]!;
  if (((bytes[0]! << 8) | bytes[1]!) !== IPFIX_VERSION || length < MESSAGE_HEADER_LENGTH) {
    decodeHeader(bytes); // throws the header's error
  }
  if (length > bytes.length) {
    throw new TruncatedError(
      `Truncated message: header says ${length} octets, got ${bytes.length}`,
      bytes.length,
    );
  }
  // A DataView costs ~120 ns to make: a receiver that keeps one per buffer slot passes it in.
  const dv = view !== undefined && view.buffer === bytes.buffer &&
      view.byteOffset === bytes.byteOffset && view.byteLength >= length
    ? view
    : new DataView(bytes.buffer, bytes.byteOffset, length);
  const u8 = bytes.length === length ? bytes : bytes.subarray(0, length);
  const end = length;
  const domain = dv.getUint32(12);
  const session = options.session;
  const lifetime = options.templateLifetimeMs ?? Infinity;
  const registry = options.registry ?? defaultRegistry;
  // Most messages hold one data set: a literal of one is made at its size, a push would grow.
  let dataSets: DecodedDataSet[] = NONE;
  // Most messages carry none of these: they share one empty array until they do.
  let templates: Template[] = NONE;
  let withdrawals: number[] = NONE;
  let unknownSets: { templateId: number; length: number }[] = NONE;
  let reservedSets = 0;
  let recordCount = 0;
  let off = MESSAGE_HEADER_LENGTH;
  while (off < end) {
    if (off + SET_HEADER_LENGTH > end) {
      throw new TruncatedError(`Truncated set header at offset ${off}`, off);
    }
    const setId = dv.getUint16(off);
    const setLen = dv.getUint16(off + 2);
    if (setLen < SET_HEADER_LENGTH) {
      throw new MalformedError(
        `Invalid length ${setLen} of set ${setId} at offset ${off}`,
        off,
        setId,
      );
    }
    const setEnd = off + setLen;
    if (setEnd > end) {
      throw new TruncatedError(
        `Truncated set ${setId} at offset ${off}: ${setLen} octets announced, ${end - off} left`,
        off,
      );
    }
    const body = off + SET_HEADER_LENGTH;
    if (setId === TEMPLATE_SET_ID || setId === OPTIONS_TEMPLATE_SET_ID) {
      readTemplateSet(dv, body, setEnd, setId, registry, (t) => {
        if (t.fields.length === 0) {
          if (t.id === setId) cache.withdrawAll(session, domain, setId === OPTIONS_TEMPLATE_SET_ID);
          else cache.withdraw(session, domain, t.id);
          if (withdrawals === NONE) withdrawals = [];
          withdrawals.push(t.id);
        } else {
          cache.set(session, domain, t, lifetime);
          if (templates === NONE) templates = [];
          templates.push(t);
        }
      });
    } else if (setId >= MIN_DATA_SET_ID) {
      const t = cache.get(session, domain, setId);
      if (!t) {
        if (unknownSets === NONE) unknownSets = [];
        unknownSets.push({ templateId: setId, length: setLen });
      } else {
        const records: DataRecord[] = [];
        const min = t.minLength;
        let o = body;
        // What is left shorter than a record is set padding. RFC 7011 §3.3.1
        while (setEnd - o >= min) {
          records.push(t.decode(dv, u8, o, setEnd, cur));
          o = cur.off;
        }
        recordCount += records.length;
        const set = { templateId: setId, template: t, records };
        if (dataSets === NONE) dataSets = [set];
        else dataSets.push(set);
      }
    } else {
      reservedSets++;
    }
    off = setEnd;
  }
  return {
    version: IPFIX_VERSION,
    length,
    exportTime: dv.getUint32(4),
    sequenceNumber: dv.getUint32(8),
    observationDomainId: domain,
    dataSets,
    recordCount,
    templates,
    withdrawals,
    unknownSets,
    reservedSets,
  };
}

/** Reads the template records of a (options) template set. RFC 7011 §3.4.1, §3.4.2 */
function readTemplateSet(
  dv: DataView,
  start: number,
  end: number,
  setId: number,
  registry: Registry,
  onTemplate: (t: Template) => void,
): void {
  const options = setId === OPTIONS_TEMPLATE_SET_ID;
  let o = start;
  // A record header is 4 octets; fewer left is padding. RFC 7011 §3.3.1
  while (end - o >= 4) {
    const id = dv.getUint16(o);
    const count = dv.getUint16(o + 2);
    if (count === 0) {
      if (id < MIN_DATA_SET_ID && id !== setId) {
        // Padding of four or more zero octets is indistinguishable from a withdrawal of 0.
        if (id === 0) {
          for (let p = o; p < end; p++) {
            if (dv.getUint8(p) !== 0) {
              throw new MalformedError(`Invalid template ID 0 at offset ${o}`, o, 0);
            }
          }
          return;
        }
        throw new MalformedError(`Invalid template ID ${id} at offset ${o}`, o, id);
      }
      onTemplate({ id, fields: [], scopeFieldCount: 0 });
      o += 4;
      continue;
    }
    if (id < MIN_DATA_SET_ID) {
      throw new MalformedError(`Invalid template ID ${id} at offset ${o}`, o, id);
    }
    o += 4;
    let scopeFieldCount = 0;
    if (options) {
      if (o + 2 > end) {
        throw new TruncatedError(`Truncated options template ${id} at offset ${o}`, o);
      }
      scopeFieldCount = dv.getUint16(o);
      o += 2;
      if (scopeFieldCount === 0 || scopeFieldCount > count) {
        throw new MalformedError(
          `Invalid scope field count ${scopeFieldCount} of options template ${id}`,
          o - 2,
          id,
        );
      }
    }
    const fields: FieldSpecifier[] = new Array(count);
    let min = 0;
    for (let i = 0; i < count; i++) {
      if (o + 4 > end) throw new TruncatedError(`Truncated template ${id} at offset ${o}`, o);
      let eid = dv.getUint16(o);
      const length = dv.getUint16(o + 2);
      o += 4;
      let pen = 0;
      // Enterprise bit. RFC 7011 §3.2
      if (eid & 0x8000) {
        if (o + 4 > end) throw new TruncatedError(`Truncated template ${id} at offset ${o}`, o);
        eid &= 0x7fff;
        pen = dv.getUint32(o);
        o += 4;
      }
      fields[i] = { element: registry.resolve(pen, eid), length };
      min += length === 65535 ? 1 : length;
    }
    if (min === 0) {
      throw new MalformedError(`Template ${id} describes records of length 0`, o, id);
    }
    if (min > 65535 - 20) {
      throw new MalformedError(`Template ${id} describes records longer than a message`, o, id);
    }
    onTemplate({ id, fields, scopeFieldCount });
  }
}
