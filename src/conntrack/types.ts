/**
 * Connection tracking entries as flowvis reads them from the kernel, and the names conntrack
 * gives to TCP states and status bits.
 *
 * @module
 */

/** One direction of a connection: its tuple and, with `nf_conntrack_acct`, its counters. */
export interface ConnTuple {
  /** Source address: dotted quad, or IPv6 as `inet_ntop` writes it (as `conntrack -L` prints). */
  readonly src: string;
  /** Destination address. */
  readonly dst: string;
  /** Source port (TCP, UDP, UDP-Lite, SCTP, DCCP); 0 for protocols without ports. */
  readonly srcPort: number;
  /** Destination port; 0 for protocols without ports. */
  readonly dstPort: number;
  /** Packets seen in this direction; 0 when the entry has no counters (see `hasCounters`). */
  readonly packets: number;
  /** Octets seen in this direction (IP headers included), exact below 2^53. */
  readonly bytes: number;
}

/** The ICMP or ICMPv6 identity of the original direction. */
export interface IcmpInfo {
  /** ICMP type (8 echo request; ICMPv6 128). */
  readonly type: number;
  /** ICMP code. */
  readonly code: number;
  /** The identifier of echo requests and replies. */
  readonly id: number;
}

/** TCP states, named as conntrack names them, indexed by the kernel's `enum tcp_conntrack`. */
export const TCP_STATES = [
  "NONE",
  "SYN_SENT",
  "SYN_RECV",
  "ESTABLISHED",
  "FIN_WAIT",
  "CLOSE_WAIT",
  "LAST_ACK",
  "TIME_WAIT",
  "CLOSE",
  "SYN_SENT2",
] as const;

/** A TCP state as conntrack names it. */
export type TcpState = typeof TCP_STATES[number];

/**
 * Status bits of an entry (`enum ip_conntrack_status`, linux/netfilter/nf_conntrack_common.h).
 *
 * @example
 * ```ts
 * import { ConnStatus } from "./types.ts";
 * const assured = (0b1110 & ConnStatus.ASSURED) !== 0; // true
 * ```
 */
export const ConnStatus = {
  EXPECTED: 1 << 0,
  SEEN_REPLY: 1 << 1,
  ASSURED: 1 << 2,
  CONFIRMED: 1 << 3,
  SRC_NAT: 1 << 4,
  DST_NAT: 1 << 5,
  SEQ_ADJUST: 1 << 6,
  SRC_NAT_DONE: 1 << 7,
  DST_NAT_DONE: 1 << 8,
  DYING: 1 << 9,
  FIXED_TIMEOUT: 1 << 10,
  TEMPLATE: 1 << 11,
  NAT_CLASH: 1 << 12,
  HELPER: 1 << 13,
  OFFLOAD: 1 << 14,
  HW_OFFLOAD: 1 << 15,
} as const;

/** The name of a status bit. */
export type ConnStatusName = keyof typeof ConnStatus;

/**
 * The names of the bits set in `status`, lowest bit first.
 *
 * @example
 * ```ts
 * import { statusNames } from "./types.ts";
 * statusNames(14); // ["SEEN_REPLY", "ASSURED", "CONFIRMED"]
 * ```
 */
export function statusNames(status: number): ConnStatusName[] {
  const names: ConnStatusName[] = [];
  for (const [name, bit] of Object.entries(ConnStatus)) {
    if ((status & bit) !== 0) names.push(name as ConnStatusName);
  }
  return names;
}

/** A connection tracking entry with every field flowvis reads. */
export interface ConnEntry {
  /** The kernel's ID of the entry (`conntrack -o id`), stable while the entry lives. */
  readonly id: number;
  /** 4 or 6. */
  readonly family: 4 | 6;
  /** Layer 4 protocol number (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6, …). */
  readonly protocol: number;
  /** The original direction (the initiator's packets). */
  readonly original: ConnTuple;
  /** The reply direction (after NAT, the real peer is here). */
  readonly reply: ConnTuple;
  /** Type, code and ID of the original direction, for ICMP and ICMPv6 entries. */
  readonly icmp: IcmpInfo | undefined;
  /** The TCP state, for TCP entries. */
  readonly tcpState: TcpState | undefined;
  /** Status bits: see {@link ConnStatus}. */
  readonly status: number;
  /** The connection mark. */
  readonly mark: number;
  /** The conntrack zone (0 when none). */
  readonly zone: number;
  /** Connection labels as a 128-bit set: bit n is label n. 0n when none. */
  readonly labels: bigint;
  /** Seconds left before the entry expires. */
  readonly timeout: number;
  /** Whether the entry has packet and byte counters (`nf_conntrack_acct` was on when it began). */
  readonly hasCounters: boolean;
  /** When the entry began, ns since the epoch (`nf_conntrack_timestamp` was on when it began). */
  readonly startNs: bigint | undefined;
  /** When the entry ended, ns since the epoch; only for dying entries. */
  readonly stopNs: bigint | undefined;
}
