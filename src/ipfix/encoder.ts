/**
 * Encoding of IPFIX messages: template sets and data sets packed into messages that respect a
 * size limit. RFC 7011 §3, §10
 *
 * @module
 */

import type { CompiledTemplate } from "./compile.ts";
import {
  type Clock,
  type DataRecord,
  IPFIX_VERSION,
  MESSAGE_HEADER_LENGTH,
  OPTIONS_TEMPLATE_SET_ID,
  SET_HEADER_LENGTH,
  systemClock,
  type Template,
  TEMPLATE_SET_ID,
} from "./types.ts";

/** Largest message over TCP and TLS: the 16-bit length field. RFC 7011 §3.1 */
export const MAX_MESSAGE_SIZE = 65535;
/** Default path MTU for UDP. */
export const DEFAULT_MTU = 1500;
/** Smallest path MTU accepted for UDP. */
export const MIN_MTU = 512;
/** IPv6 (40) + UDP (8) headers, the larger of the two IP versions. RFC 7011 §10.3.3 */
const IP_UDP_OVERHEAD = 48;

/** Largest message that fits one UDP datagram on a path with this MTU. */
export function udpMessageSize(mtu = DEFAULT_MTU): number {
  if (!Number.isInteger(mtu) || mtu < MIN_MTU || mtu > 65535 + IP_UDP_OVERHEAD) {
    throw new RangeError(`Invalid MTU ${mtu}: expected an integer from ${MIN_MTU} to 65583`);
  }
  return Math.min(MAX_MESSAGE_SIZE, mtu - IP_UDP_OVERHEAD);
}

/** A finished message and the number of data records in it. */
export interface EncodedMessage {
  readonly bytes: Uint8Array;
  readonly recordCount: number;
}

/** Options of a {@link MessageEncoder}. */
export interface MessageEncoderOptions {
  observationDomainId: number;
  /** Message size limit: 65535 for TCP/TLS (default), {@link udpMessageSize} for UDP. */
  maxMessageSize?: number;
  /** Clock for export times. */
  clock?: Clock;
  /** First sequence number (records sent before); 0 by default. */
  sequenceNumber?: number;
}

/** Smallest arena messages are built in. */
const MIN_ARENA_SIZE = 256 * 1024;

/**
 * Packs templates and data records into messages. Records of the same template share a data
 * set, and each message holds as many as fit its size limit. The sequence number of each
 * message counts the data records of the messages before it. RFC 7011 §3.1
 *
 * @example
 * ```ts
 * import { compileTemplate } from "./compile.ts";
 * import { defaultRegistry } from "./registry.ts";
 * const t = compileTemplate({
 *   id: 256,
 *   scopeFieldCount: 0,
 *   fields: [{ element: defaultRegistry.byName("octetDeltaCount")!, length: 8 }],
 * });
 * const enc = new MessageEncoder({ observationDomainId: 1 });
 * enc.addTemplate(t.template);
 * enc.addRecord(t, { octetDeltaCount: 1500 });
 * const [msg] = enc.flush(); // one message: a template set and a data set
 * ```
 */
export class MessageEncoder {
  readonly observationDomainId: number;
  readonly maxMessageSize: number;
  #clock: Clock;
  #seq: number;
  // Messages are built in place in an arena, one after the other, and handed out as views of
  // it: an allocation per 256 KiB or more instead of an ArrayBuffer (and a copy) per message.
  // Offsets are the arena's. The message being built starts at #base, with #room free from
  // there: the message, and a record that may not fit it (encoded past its end before it moves
  // to the next message; a record longer than a message does not fit any).
  readonly #room: number;
  readonly #arenaSize: number;
  // Allocated with the first template or record: an exporter's encoder waits idle at times.
  #arena = new Uint8Array(0);
  #dv = new DataView(this.#arena.buffer);
  #base = 0;
  #off = MESSAGE_HEADER_LENGTH;
  #setStart = -1;
  #setId = -1;
  #records = 0;
  #ready: EncodedMessage[] = [];

  constructor(options: MessageEncoderOptions) {
    const size = options.maxMessageSize ?? MAX_MESSAGE_SIZE;
    if (!Number.isInteger(size) || size < 256 || size > MAX_MESSAGE_SIZE) {
      throw new RangeError(`Invalid message size limit ${size}: expected 256 to 65535`);
    }
    const domain = options.observationDomainId;
    if (!Number.isInteger(domain) || domain < 0 || domain > 0xffffffff) {
      throw new RangeError(`Invalid observation domain ID ${domain}`);
    }
    this.observationDomainId = domain;
    this.maxMessageSize = size;
    this.#room = 2 * size + 8;
    // Three rooms at least: a new arena every few messages of 64 KiB.
    this.#arenaSize = Math.max(MIN_ARENA_SIZE, 3 * this.#room);
    this.#clock = options.clock ?? systemClock;
    this.#seq = (options.sequenceNumber ?? 0) >>> 0;
  }

  /** Sequence number the next message will carry. */
  get sequenceNumber(): number {
    return this.#seq;
  }

  /** Whether records or templates wait in the current message. */
  get pending(): boolean {
    return this.#off > this.#base + MESSAGE_HEADER_LENGTH;
  }

  /** Adds a template (or options template) to the current message. */
  addTemplate(template: Template): void {
    const setId = template.scopeFieldCount > 0 ? OPTIONS_TEMPLATE_SET_ID : TEMPLATE_SET_ID;
    let size = template.scopeFieldCount > 0 ? 6 : 4;
    for (const f of template.fields) size += f.element.enterpriseId ? 8 : 4;
    if (size + SET_HEADER_LENGTH + MESSAGE_HEADER_LENGTH > this.maxMessageSize) {
      throw new RangeError(
        `Template ${template.id} does not fit a message of ${this.maxMessageSize} octets`,
      );
    }
    if (this.#arena.length === 0) this.#newArena();
    const limit = this.#base + this.maxMessageSize;
    if (this.#setId !== setId || this.#off + size > limit) {
      if (this.#off + SET_HEADER_LENGTH + size > limit) this.#finishMessage();
      this.#openSet(setId);
    }
    const dv = this.#dv;
    let o = this.#off;
    dv.setUint16(o, template.id);
    dv.setUint16(o + 2, template.fields.length);
    o += 4;
    if (template.scopeFieldCount > 0) {
      dv.setUint16(o, template.scopeFieldCount);
      o += 2;
    }
    for (const f of template.fields) {
      const e = f.element;
      dv.setUint16(o, e.enterpriseId ? e.id | 0x8000 : e.id);
      dv.setUint16(o + 2, f.length);
      o += 4;
      if (e.enterpriseId) {
        dv.setUint32(o, e.enterpriseId);
        o += 4;
      }
    }
    this.#off = o;
  }

  /** Adds a withdrawal of one template, or of all of them when `id` is 2 (or 3). RFC 7011 §8.1 */
  addWithdrawal(id: number, options = false): void {
    const setId = options ? OPTIONS_TEMPLATE_SET_ID : TEMPLATE_SET_ID;
    if (this.#arena.length === 0) this.#newArena();
    const limit = this.#base + this.maxMessageSize;
    if (this.#setId !== setId || this.#off + 4 > limit) {
      if (this.#off + SET_HEADER_LENGTH + 4 > limit) this.#finishMessage();
      this.#openSet(setId);
    }
    this.#dv.setUint16(this.#off, id);
    this.#dv.setUint16(this.#off + 2, 0);
    this.#off += 4;
  }

  /**
   * Adds a data record. Throws TypeError for a value of the wrong type and RangeError for a record
   * too large for any message; the message being built is left as it was.
   */
  addRecord(t: CompiledTemplate, record: DataRecord): void {
    if (this.#arena.length === 0) this.#newArena();
    const id = t.template.id;
    const limit = this.maxMessageSize;
    let o = this.#off;
    let opened = false;
    if (this.#setId !== id) {
      o += SET_HEADER_LENGTH;
      opened = true;
    }
    const arena = this.#arena;
    let end: number;
    try {
      end = t.encode(this.#dv, arena, o, this.#base + this.#room, record);
    } catch (e) {
      if (e instanceof RangeError) {
        throw new RangeError(
          `Data record of template ${id} does not fit a message of ${limit} octets`,
          { cause: e },
        );
      }
      throw e;
    }
    if (end - this.#base > limit) {
      // Move the record to a new message (in this arena, or copied to the next one).
      const len = end - o;
      if (MESSAGE_HEADER_LENGTH + SET_HEADER_LENGTH + len > limit) {
        throw new RangeError(
          `Data record of template ${id} (${len} octets) does not fit a message of ${limit} octets ` +
            `(at most ${limit - MESSAGE_HEADER_LENGTH - SET_HEADER_LENGTH} a record)`,
        );
      }
      this.#finishMessage();
      const to = this.#base + MESSAGE_HEADER_LENGTH + SET_HEADER_LENGTH;
      if (this.#arena === arena) arena.copyWithin(to, o, end);
      else this.#arena.set(arena.subarray(o, end), to);
      this.#openSet(id);
      this.#off = to + len;
    } else {
      if (opened) {
        this.#closeSet();
        this.#setStart = this.#off;
        this.#setId = id;
        this.#dv.setUint16(this.#off, id);
      }
      this.#off = end;
    }
    this.#records++;
  }

  /** Messages completed so far; the one being built stays. */
  drain(): EncodedMessage[] {
    const out = this.#ready;
    this.#ready = [];
    return out;
  }

  /** Completes the message being built (if any) and returns every completed message. */
  flush(): EncodedMessage[] {
    if (this.pending) this.#finishMessage();
    return this.drain();
  }

  #openSet(setId: number): void {
    this.#closeSet();
    this.#setStart = this.#off;
    this.#setId = setId;
    this.#dv.setUint16(this.#off, setId);
    this.#off += SET_HEADER_LENGTH;
  }

  #closeSet(): void {
    if (this.#setStart >= 0) this.#dv.setUint16(this.#setStart + 2, this.#off - this.#setStart);
    this.#setStart = -1;
    this.#setId = -1;
  }

  #finishMessage(): void {
    this.#closeSet();
    const at = this.#base;
    const len = this.#off - at;
    if (len <= MESSAGE_HEADER_LENGTH) return;
    const dv = this.#dv;
    dv.setUint16(at, IPFIX_VERSION);
    dv.setUint16(at + 2, len);
    dv.setUint32(at + 4, Math.floor(this.#clock() / 1000) >>> 0);
    dv.setUint32(at + 8, this.#seq);
    dv.setUint32(at + 12, this.observationDomainId);
    this.#ready.push({ bytes: this.#arena.subarray(at, at + len), recordCount: this.#records });
    this.#seq = (this.#seq + this.#records) >>> 0;
    this.#records = 0;
    // The next message starts 8-aligned, so that readers may lay typed arrays over each view.
    const base = (at + len + 7) & ~7;
    if (base + this.#room > this.#arena.length) {
      this.#newArena();
    } else {
      this.#base = base;
      this.#off = base + MESSAGE_HEADER_LENGTH;
    }
  }

  /** Starts the next message at the beginning of a new arena. */
  #newArena(): void {
    this.#arena = new Uint8Array(this.#arenaSize);
    this.#dv = new DataView(this.#arena.buffer);
    this.#base = 0;
    this.#off = MESSAGE_HEADER_LENGTH;
  }
}
