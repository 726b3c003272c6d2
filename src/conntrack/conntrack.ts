/**
 * A handle on the kernel's connection tracking table: dumps its entries through
 * libnetfilter_conntrack.
 *
 * @module
 */

import * as ffi from "./_ffi.ts";
import { formatIPv4Le, formatIPv6 } from "./_format.ts";
import { ConntrackError, errorFromErrno } from "./errors.ts";
import { type ConnEntry, type ConnTuple, TCP_STATES, type TcpState } from "./types.ts";

/** Options of {@link Conntrack}. */
export interface ConntrackOptions {
  /**
   * Where libnetfilter_conntrack is: its soname, found by the dynamic loader, by default. For
   * unusual installs, and for tests of the missing-library error.
   */
  libraryPath?: string;
}

/** Which entries a dump returns. */
export interface DumpOptions {
  /** IPv4 only, IPv6 only, or both ("all", the default). Filtered by the kernel. */
  family?: 4 | 6 | "all";
  /** Only entries in these conntrack zones; every zone when absent or empty. */
  zones?: readonly number[];
}

/**
 * One entry while {@link Conntrack.scan} visits it. Each property reads the kernel's value when
 * asked, so a visitor pays only for what it reads. Valid only during the visitor's call: it
 * throws a TypeError afterwards.
 */
export interface ConnView {
  /** The kernel's ID of the entry. */
  readonly id: number;
  /** 4 or 6. */
  readonly family: 4 | 6;
  /** Layer 4 protocol number. */
  readonly protocol: number;
  /** The conntrack zone. */
  readonly zone: number;
  /** Status bits (see `ConnStatus`). */
  readonly status: number;
  /** The connection mark. */
  readonly mark: number;
  /** Seconds before the entry expires. */
  readonly timeout: number;
  /** The TCP state, for TCP entries. */
  readonly tcpState: TcpState | undefined;
  /** Whether the entry has counters. */
  readonly hasCounters: boolean;
  /** Packets of the original direction (0 without counters). */
  readonly origPackets: number;
  /** Octets of the original direction. */
  readonly origBytes: number;
  /** Packets of the reply direction. */
  readonly replyPackets: number;
  /** Octets of the reply direction. */
  readonly replyBytes: number;
  /** When the entry ended, for dying entries. */
  readonly stopNs: bigint | undefined;
  /** Every field, as {@link Conntrack.dump} returns it. */
  toEntry(): ConnEntry;
}

const PROTO_ICMP = 1;
const PROTO_TCP = 6;
const PROTO_ICMPV6 = 58;

// Scratch buffers for attribute groups: two IPv6 addresses, or a pair of u64 counters.
const groupBuf = new Uint8Array(32);
const groupView = new DataView(groupBuf.buffer);
const TWO_32 = 4294967296;

function swap16(v: number): number {
  return ((v & 0xff) << 8) | (v >>> 8);
}

function readLabels(p: Deno.PointerObject): bigint {
  // struct nfct_bitmask { unsigned int words; uint32_t bits[]; }: bit n in bits[n / 32].
  const view = new Deno.UnsafePointerView(p);
  const n = Math.min(view.getUint32(0), 4);
  let labels = 0n;
  for (let w = 0; w < n; w++) {
    const bits = view.getUint32(4 + 4 * w);
    if (bits !== 0) labels |= BigInt(bits) << BigInt(32 * w);
  }
  return labels;
}

function readTimestamp(s: ffi.Symbols, ct: Deno.PointerObject, attr: number): bigint | undefined {
  const t = s.nfct_get_attr_u64(ct, attr) as bigint;
  return t === 0n ? undefined : t;
}

/** Reads every field of `ct`. */
function readEntry(s: ffi.Symbols, ct: Deno.PointerObject, zone: number): ConnEntry {
  const protocol = s.nfct_get_attr_u8(ct, ffi.ATTR_ORIG_L4PROTO);
  let family: 4 | 6;
  let origSrc: string, origDst: string, replySrc: string, replyDst: string;
  if (s.nfct_get_attr_u8(ct, ffi.ATTR_ORIG_L3PROTO) === ffi.AF_INET6) {
    family = 6;
    // struct nfct_attr_grp_ipv6 { uint32_t src[4], dst[4]; }, network byte order.
    if (s.nfct_get_attr_grp(ct, ffi.ATTR_GRP_ORIG_IPV6, groupBuf) !== 0) groupBuf.fill(0);
    origSrc = formatIPv6(groupBuf, 0);
    origDst = formatIPv6(groupBuf, 16);
    if (s.nfct_get_attr_grp(ct, ffi.ATTR_GRP_REPL_IPV6, groupBuf) !== 0) groupBuf.fill(0);
    replySrc = formatIPv6(groupBuf, 0);
    replyDst = formatIPv6(groupBuf, 16);
  } else {
    family = 4;
    // struct nfct_attr_grp_ipv4 { uint32_t src, dst; }, network byte order: a pair per call.
    if (s.nfct_get_attr_grp(ct, ffi.ATTR_GRP_ORIG_IPV4, groupBuf) !== 0) groupBuf.fill(0, 0, 8);
    origSrc = formatIPv4Le(groupView.getUint32(0, true));
    origDst = formatIPv4Le(groupView.getUint32(4, true));
    if (s.nfct_get_attr_grp(ct, ffi.ATTR_GRP_REPL_IPV4, groupBuf) !== 0) groupBuf.fill(0, 0, 8);
    replySrc = formatIPv4Le(groupView.getUint32(0, true));
    replyDst = formatIPv4Le(groupView.getUint32(4, true));
  }
  let origSrcPort = 0, origDstPort = 0, replySrcPort = 0, replyDstPort = 0;
  let icmp: ConnEntry["icmp"] = undefined;
  let tcpState: TcpState | undefined = undefined;
  if (protocol === PROTO_ICMP || protocol === PROTO_ICMPV6) {
    icmp = {
      type: s.nfct_get_attr_u8(ct, ffi.ATTR_ICMP_TYPE),
      code: s.nfct_get_attr_u8(ct, ffi.ATTR_ICMP_CODE),
      id: swap16(s.nfct_get_attr_u16(ct, ffi.ATTR_ICMP_ID)),
    };
  } else {
    // 0 for protocols without ports: the getters return 0 for attributes that are not set.
    // struct nfct_attr_grp_port { uint16_t sport, dport; }, network byte order.
    if (s.nfct_get_attr_grp(ct, ffi.ATTR_GRP_ORIG_PORT, groupBuf) === 0) {
      origSrcPort = groupView.getUint16(0);
      origDstPort = groupView.getUint16(2);
    }
    if (s.nfct_get_attr_grp(ct, ffi.ATTR_GRP_REPL_PORT, groupBuf) === 0) {
      replySrcPort = groupView.getUint16(0);
      replyDstPort = groupView.getUint16(2);
    }
    if (protocol === PROTO_TCP) tcpState = TCP_STATES[s.nfct_get_attr_u8(ct, ffi.ATTR_TCP_STATE)];
  }
  // struct nfct_attr_grp_ctrs { uint64_t packets; uint64_t bytes; }, host byte order.
  let origPackets = 0, origBytes = 0, replyPackets = 0, replyBytes = 0;
  const hasCounters = s.nfct_get_attr_grp(ct, ffi.ATTR_GRP_ORIG_COUNTERS, groupBuf) === 0;
  if (hasCounters) {
    origPackets = groupView.getUint32(4, true) * TWO_32 + groupView.getUint32(0, true);
    origBytes = groupView.getUint32(12, true) * TWO_32 + groupView.getUint32(8, true);
    if (s.nfct_get_attr_grp(ct, ffi.ATTR_GRP_REPL_COUNTERS, groupBuf) === 0) {
      replyPackets = groupView.getUint32(4, true) * TWO_32 + groupView.getUint32(0, true);
      replyBytes = groupView.getUint32(12, true) * TWO_32 + groupView.getUint32(8, true);
    }
  }
  const labelsPtr = s.nfct_get_attr(ct, ffi.ATTR_CONNLABELS);
  const original: ConnTuple = {
    src: origSrc,
    dst: origDst,
    srcPort: origSrcPort,
    dstPort: origDstPort,
    packets: origPackets,
    bytes: origBytes,
  };
  const reply: ConnTuple = {
    src: replySrc,
    dst: replyDst,
    srcPort: replySrcPort,
    dstPort: replyDstPort,
    packets: replyPackets,
    bytes: replyBytes,
  };
  return {
    id: s.nfct_get_attr_u32(ct, ffi.ATTR_ID),
    family,
    protocol,
    original,
    reply,
    icmp,
    tcpState,
    status: s.nfct_get_attr_u32(ct, ffi.ATTR_STATUS),
    mark: s.nfct_get_attr_u32(ct, ffi.ATTR_MARK),
    zone,
    labels: labelsPtr === null ? 0n : readLabels(labelsPtr),
    timeout: s.nfct_get_attr_u32(ct, ffi.ATTR_TIMEOUT),
    hasCounters,
    startNs: readTimestamp(s, ct, ffi.ATTR_TIMESTAMP_START),
    // Only dying entries have one: a cheap check spares a bigint per entry.
    stopNs: s.nfct_attr_is_set(ct, ffi.ATTR_TIMESTAMP_STOP) > 0
      ? readTimestamp(s, ct, ffi.ATTR_TIMESTAMP_STOP)
      : undefined,
  };
}

/** The {@link ConnView} of the entry being visited. */
class View implements ConnView {
  readonly #s: ffi.Symbols;
  ct: Deno.PointerObject | null = null;
  zoneValue = 0;
  // Counters of the current entry, read together on first use (-1: not read yet).
  #origPackets = -1;
  #origBytes = 0;
  #replyPackets = 0;
  #replyBytes = 0;
  #hasCounters = false;

  constructor(s: ffi.Symbols) {
    this.#s = s;
  }

  /** Points the view at `ct` (null: no entry). */
  attach(ct: Deno.PointerObject | null, zone: number): void {
    this.ct = ct;
    this.zoneValue = zone;
    this.#origPackets = -1;
  }

  #current(): Deno.PointerObject {
    if (this.ct === null) {
      throw new TypeError("Cannot read a conntrack entry after its visitor returned");
    }
    return this.ct;
  }

  #readCounters(): void {
    const ct = this.#current();
    const s = this.#s;
    this.#origPackets =
      this.#origBytes =
      this.#replyPackets =
      this.#replyBytes =
        0;
    this.#hasCounters = s.nfct_get_attr_grp(ct, ffi.ATTR_GRP_ORIG_COUNTERS, groupBuf) === 0;
    if (!this.#hasCounters) return;
    this.#origPackets = groupView.getUint32(4, true) * TWO_32 + groupView.getUint32(0, true);
    this.#origBytes = groupView.getUint32(12, true) * TWO_32 + groupView.getUint32(8, true);
    if (s.nfct_get_attr_grp(ct, ffi.ATTR_GRP_REPL_COUNTERS, groupBuf) === 0) {
      this.#replyPackets = groupView.getUint32(4, true) * TWO_32 + groupView.getUint32(0, true);
      this.#replyBytes = groupView.getUint32(12, true) * TWO_32 + groupView.getUint32(8, true);
    }
  }

  get id(): number {
    return this.#s.nfct_get_attr_u32(this.#current(), ffi.ATTR_ID);
  }
  get family(): 4 | 6 {
    const l3 = this.#s.nfct_get_attr_u8(this.#current(), ffi.ATTR_ORIG_L3PROTO);
    return l3 === ffi.AF_INET6 ? 6 : 4;
  }
  get protocol(): number {
    return this.#s.nfct_get_attr_u8(this.#current(), ffi.ATTR_ORIG_L4PROTO);
  }
  get zone(): number {
    this.#current();
    return this.zoneValue;
  }
  get status(): number {
    return this.#s.nfct_get_attr_u32(this.#current(), ffi.ATTR_STATUS);
  }
  get mark(): number {
    return this.#s.nfct_get_attr_u32(this.#current(), ffi.ATTR_MARK);
  }
  get timeout(): number {
    return this.#s.nfct_get_attr_u32(this.#current(), ffi.ATTR_TIMEOUT);
  }
  get tcpState(): TcpState | undefined {
    const ct = this.#current();
    if (this.#s.nfct_get_attr_u8(ct, ffi.ATTR_ORIG_L4PROTO) !== PROTO_TCP) return undefined;
    return TCP_STATES[this.#s.nfct_get_attr_u8(ct, ffi.ATTR_TCP_STATE)];
  }
  get hasCounters(): boolean {
    if (this.#origPackets < 0 || this.ct === null) this.#readCounters();
    return this.#hasCounters;
  }
  get origPackets(): number {
    if (this.#origPackets < 0 || this.ct === null) this.#readCounters();
    return this.#origPackets;
  }
  get origBytes(): number {
    if (this.#origPackets < 0 || this.ct === null) this.#readCounters();
    return this.#origBytes;
  }
  get replyPackets(): number {
    if (this.#origPackets < 0 || this.ct === null) this.#readCounters();
    return this.#replyPackets;
  }
  get replyBytes(): number {
    if (this.#origPackets < 0 || this.ct === null) this.#readCounters();
    return this.#replyBytes;
  }
  get stopNs(): bigint | undefined {
    return readTimestamp(this.#s, this.#current(), ffi.ATTR_TIMESTAMP_STOP);
  }
  toEntry(): ConnEntry {
    return readEntry(this.#s, this.#current(), this.zoneValue);
  }
}

const CALLBACK = { parameters: ["u32", "pointer", "pointer"], result: "i32" } as const;

function checkOptions(options: DumpOptions): { family: number; zones: Set<number> | undefined } {
  const f = options.family ?? "all";
  if (f !== 4 && f !== 6 && f !== "all") {
    throw new TypeError(`Cannot dump family ${JSON.stringify(f)}: expected 4, 6 or "all"`);
  }
  const zones = options.zones ?? [];
  for (const z of zones) {
    if (!Number.isInteger(z) || z < 0 || z > 0xffff) {
      throw new RangeError(`Cannot filter on zone ${z}: zones are integers from 0 to 65535`);
    }
  }
  return {
    family: f === 4 ? ffi.AF_INET : f === 6 ? ffi.AF_INET6 : ffi.AF_UNSPEC,
    zones: zones.length > 0 ? new Set(zones) : undefined,
  };
}

/**
 * A netlink handle on the conntrack table of the current network namespace. Needs
 * `--allow-ffi`, and root or CAP_NET_ADMIN to dump. Calls are synchronous: a dump of 100k
 * entries blocks the event loop for its duration (see BENCHMARKS.md).
 *
 * @example
 * ```ts
 * import { Conntrack } from "./mod.ts";
 * using ct = new Conntrack();
 * for (const e of ct.dump({ family: 4, zones: [0] })) {
 *   console.log(e.original.src, e.original.dst, e.tcpState, e.original.bytes, e.reply.bytes);
 * }
 * ```
 */
export class Conntrack implements Disposable {
  readonly #s: ffi.Symbols;
  #handle: Deno.PointerValue;
  readonly #callback: Deno.UnsafeCallback<typeof CALLBACK>;
  readonly #familyBuf = new Uint32Array(1);
  readonly #view: View;
  #visit: ((ct: Deno.PointerObject, zone: number) => boolean | void) | null = null;
  #zones: Set<number> | undefined = undefined;
  #error: unknown = undefined;
  #failed = false;
  #done = false;
  #busy = false;
  #closeLater = false;

  /** Opens a netlink socket for conntrack. Throws {@link ConntrackError}. */
  constructor(options: ConntrackOptions = {}) {
    const path = options.libraryPath ?? ffi.LIBRARY_NAME;
    try {
      this.#s = ffi.load(path);
    } catch (e) {
      if (e instanceof ffi.LoadError && e.reason === "denied") {
        throw new ConntrackError(
          "ffi-not-allowed",
          "Cannot load libnetfilter_conntrack: Deno needs --allow-ffi to read the conntrack table",
          undefined,
          { cause: e },
        );
      }
      throw new ConntrackError(
        "library-missing",
        `Cannot load ${path} (${
          e instanceof Error ? e.message : e
        }): install it with \`apt-get install libnetfilter-conntrack3\``,
        undefined,
        { cause: e },
      );
    }
    this.#view = new View(this.#s);
    this.#callback = new Deno.UnsafeCallback(CALLBACK, (_type, ct) => this.#onEntry(ct));
    try {
      this.#handle = this.#open();
    } catch (e) {
      this.#callback.close();
      throw e;
    }
  }

  /** A netlink handle with the entry callback registered. Throws {@link ConntrackError}. */
  #open(): Deno.PointerObject {
    const s = this.#s;
    const h = s.nfct_open(ffi.CONNTRACK, 0);
    if (h === null) {
      const n = ffi.errno(s);
      throw errorFromErrno("Cannot open a conntrack netlink socket", n, ffi.strerror(s, n));
    }
    if (s.nfct_callback_register(h, ffi.NFCT_T_ALL, this.#callback.pointer, null) < 0) {
      const n = ffi.errno(s);
      s.nfct_close(h);
      throw errorFromErrno("Cannot register the conntrack callback", n, ffi.strerror(s, n));
    }
    return h;
  }

  #onEntry(ct: Deno.PointerValue): number {
    // Once the visitor stopped or threw, the rest of the dump is read and skipped: a dump left
    // unread on the socket would answer the next request.
    if (ct === null || this.#done) return ffi.NFCT_CB_CONTINUE;
    try {
      const zone = this.#s.nfct_get_attr_u16(ct, ffi.ATTR_ZONE);
      if (this.#zones !== undefined && !this.#zones.has(zone)) return ffi.NFCT_CB_CONTINUE;
      if (this.#visit!(ct, zone) === false) this.#done = true;
    } catch (e) {
      // Never let an exception unwind through C: keep it, rethrow it after the dump.
      this.#error = e;
      this.#failed = true;
      this.#done = true;
    }
    return ffi.NFCT_CB_CONTINUE;
  }

  /** Whether {@link close} was called. */
  get closed(): boolean {
    return this.#handle === null;
  }

  /**
   * Every entry of the table (or those of `options`), with every field. Throws
   * {@link ConntrackError} when the dump fails: nothing of a failed dump is returned.
   *
   * @example
   * ```ts
   * import { Conntrack } from "./mod.ts";
   * using ct = new Conntrack();
   * const tcp = ct.dump().filter((e) => e.tcpState === "ESTABLISHED");
   * ```
   */
  dump(options: DumpOptions = {}): ConnEntry[] {
    const entries: ConnEntry[] = [];
    const s = this.#s;
    this.#run(options, (ct, zone) => {
      entries.push(readEntry(s, ct, zone));
    });
    return entries;
  }

  /**
   * Visits every entry (or those of `options`) without building objects: the visitor reads what
   * it needs from the view, calls `toEntry()` for everything, and returns `false` to stop.
   * Returns how many entries it visited. Throws what the visitor threw, or
   * {@link ConntrackError} when the dump fails.
   *
   * @example
   * ```ts
   * import { Conntrack } from "./mod.ts";
   * using ct = new Conntrack();
   * let bytes = 0;
   * ct.scan((v) => {
   *   bytes += v.origBytes + v.replyBytes;
   * });
   * ```
   */
  scan(visit: (view: ConnView) => boolean | void, options: DumpOptions = {}): number {
    const view = this.#view;
    let n = 0;
    this.#run(options, (ct, zone) => {
      view.attach(ct, zone);
      n++;
      try {
        return visit(view);
      } finally {
        view.attach(null, 0);
      }
    });
    return n;
  }

  #run(options: DumpOptions, visit: (ct: Deno.PointerObject, zone: number) => boolean | void) {
    if (this.#handle === null) {
      throw new ConntrackError("closed", "Cannot dump the conntrack table: the handle is closed");
    }
    if (this.#busy) {
      throw new TypeError("Cannot dump the conntrack table from inside a dump's visitor");
    }
    const { family, zones } = checkOptions(options);
    this.#familyBuf[0] = family;
    this.#visit = visit;
    this.#zones = zones;
    this.#error = undefined;
    this.#failed = false;
    this.#done = false;
    this.#busy = true;
    let rc: number;
    let n = 0;
    try {
      rc = this.#s.nfct_query(
        this.#handle,
        ffi.NFCT_Q_DUMP,
        new Uint8Array(this.#familyBuf.buffer),
      );
      if (rc < 0) n = ffi.errno(this.#s);
    } finally {
      this.#busy = false;
      this.#visit = null;
      this.#zones = undefined;
      if (this.#closeLater) this.close();
    }
    if (this.#failed) {
      const e = this.#error;
      this.#error = undefined;
      throw e;
    }
    if (rc < 0) {
      const error = errorFromErrno("Cannot dump the conntrack table", n, ffi.strerror(this.#s, n));
      this.#reopen();
      throw error;
    }
  }

  /**
   * A failed dump may leave messages on the socket: the next poll starts on a new one. If that
   * cannot be opened, the old one stays (and the next dump reports what is wrong).
   */
  #reopen(): void {
    if (this.#handle === null) return;
    let h: Deno.PointerObject;
    try {
      h = this.#open();
    } catch {
      return;
    }
    this.#s.nfct_close(this.#handle);
    this.#handle = h;
  }

  /** Closes the netlink socket. Safe to call twice; a dump in progress closes when it ends. */
  close(): void {
    if (this.#handle === null) return;
    if (this.#busy) {
      this.#closeLater = true;
      return;
    }
    this.#s.nfct_close(this.#handle);
    this.#handle = null;
    this.#callback.close();
  }

  /** Closes the handle at the end of a `using` block. */
  [Symbol.dispose](): void {
    this.close();
  }
}
