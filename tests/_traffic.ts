/**
 * Known traffic for flow meters (softflowd): a few TCP, UDP and ICMP conversations over IPv4 and
 * IPv6 with known packet counts, sizes, TCP flags and times, and the per-direction totals a flow
 * meter must report for them.
 *
 * @module
 */

import { ipLength, type PacketSpec, TCP_ACK, TCP_FIN, TCP_PSH, TCP_SYN } from "./_pcap.ts";

/** Time of the first packet: 2023-11-14T22:13:20Z, in microseconds (a whole second). */
export const T0_US = 1_700_000_000_000_000;

/** The packets, in time order. */
export function knownTraffic(): PacketSpec[] {
  const p: PacketSpec[] = [];
  // A: TCP over IPv4, the client has the lower address: handshake, request, response, close.
  const a = { src: "10.1.1.1", dst: "10.2.2.2", srcPort: 40_001, dstPort: 80 } as const;
  const ar = { src: a.dst, dst: a.src, srcPort: a.dstPort, dstPort: a.srcPort } as const;
  p.push(
    { timeUs: T0_US, ...a, protocol: "tcp", tcpFlags: TCP_SYN },
    { timeUs: T0_US + 1_234, ...ar, protocol: "tcp", tcpFlags: TCP_SYN | TCP_ACK },
    { timeUs: T0_US + 2_345, ...a, protocol: "tcp", tcpFlags: TCP_ACK },
    {
      timeUs: T0_US + 3_456,
      ...a,
      protocol: "tcp",
      tcpFlags: TCP_PSH | TCP_ACK,
      payloadLength: 120,
    },
    {
      timeUs: T0_US + 250_001,
      ...ar,
      protocol: "tcp",
      tcpFlags: TCP_PSH | TCP_ACK,
      payloadLength: 1_400,
    },
    { timeUs: T0_US + 250_002, ...ar, protocol: "tcp", tcpFlags: TCP_ACK, payloadLength: 600 },
    { timeUs: T0_US + 1_500_999, ...a, protocol: "tcp", tcpFlags: TCP_FIN | TCP_ACK },
    { timeUs: T0_US + 1_501_500, ...ar, protocol: "tcp", tcpFlags: TCP_FIN | TCP_ACK },
    { timeUs: T0_US + 1_502_777, ...a, protocol: "tcp", tcpFlags: TCP_ACK },
  );
  // B: a DNS-like UDP exchange over IPv4.
  p.push(
    {
      timeUs: T0_US + 10_500,
      src: "10.1.1.1",
      dst: "10.53.53.53",
      srcPort: 53_001,
      dstPort: 53,
      protocol: "udp",
      payloadLength: 40,
    },
    {
      timeUs: T0_US + 40_250,
      src: "10.53.53.53",
      dst: "10.1.1.1",
      srcPort: 53,
      dstPort: 53_001,
      protocol: "udp",
      payloadLength: 120,
    },
  );
  // C: TCP over IPv6, the client has the higher address.
  const c = { src: "fd00::20", dst: "fd00::10", srcPort: 50_000, dstPort: 443 } as const;
  const cr = { src: c.dst, dst: c.src, srcPort: c.dstPort, dstPort: c.srcPort } as const;
  p.push(
    { timeUs: T0_US + 400_000, ...c, protocol: "tcp", tcpFlags: TCP_SYN },
    { timeUs: T0_US + 400_300, ...cr, protocol: "tcp", tcpFlags: TCP_SYN | TCP_ACK },
    { timeUs: T0_US + 400_600, ...c, protocol: "tcp", tcpFlags: TCP_ACK, payloadLength: 517 },
    { timeUs: T0_US + 401_999, ...cr, protocol: "tcp", tcpFlags: TCP_ACK, payloadLength: 1_200 },
    {
      timeUs: T0_US + 402_001,
      ...cr,
      protocol: "tcp",
      tcpFlags: TCP_PSH | TCP_ACK,
      payloadLength: 800,
    },
    { timeUs: T0_US + 2_750_123, ...c, protocol: "tcp", tcpFlags: TCP_ACK },
  );
  // D: one-way UDP over IPv6 (mDNS to a multicast group).
  const d = { src: "fd00::1", dst: "ff02::fb", srcPort: 5353, dstPort: 5353 } as const;
  p.push(
    { timeUs: T0_US + 100_000, ...d, protocol: "udp", payloadLength: 50 },
    { timeUs: T0_US + 1_100_000, ...d, protocol: "udp", payloadLength: 60 },
    { timeUs: T0_US + 2_100_000, ...d, protocol: "udp", payloadLength: 70 },
  );
  // E: ICMP echo over IPv4 and ICMPv6 echo over IPv6.
  p.push(
    {
      timeUs: T0_US + 600_000,
      src: "10.1.1.1",
      dst: "10.2.2.2",
      protocol: "icmp",
      payloadLength: 56,
    },
    {
      timeUs: T0_US + 600_400,
      src: "10.2.2.2",
      dst: "10.1.1.1",
      protocol: "icmp",
      icmpType: 0,
      payloadLength: 56,
    },
    {
      timeUs: T0_US + 700_000,
      src: "fd00::1",
      dst: "fd00::10",
      protocol: "icmp",
      payloadLength: 16,
    },
  );
  return p.sort((x, y) => x.timeUs - y.timeUs);
}

/** Totals of one direction of a conversation. */
export interface DirectionTotals {
  packets: number;
  octets: number;
  tcpFlags: number;
}

/** A TCP or UDP conversation: `a` is the side that sent first. */
export interface Conversation {
  protocol: number;
  a: { addr: string; port: number };
  b: { addr: string; port: number };
  ab: DirectionTotals;
  ba: DirectionTotals;
  firstUs: number;
  lastUs: number;
}

function protocolNumber(p: PacketSpec): number {
  if (p.protocol === "tcp") return 6;
  if (p.protocol === "udp") return 17;
  return p.src.includes(":") ? 58 : 1;
}

/** The TCP and UDP conversations of the traffic. */
export function conversations(packets: PacketSpec[]): Conversation[] {
  const byKey = new Map<string, Conversation>();
  for (const p of packets) {
    if (p.protocol === "icmp") continue;
    const proto = protocolNumber(p);
    const s = { addr: p.src, port: p.srcPort ?? 0 };
    const d = { addr: p.dst, port: p.dstPort ?? 0 };
    const fwd = `${proto}|${s.addr}|${s.port}|${d.addr}|${d.port}`;
    const rev = `${proto}|${d.addr}|${d.port}|${s.addr}|${s.port}`;
    let conv = byKey.get(fwd) ?? byKey.get(rev);
    if (!conv) {
      conv = {
        protocol: proto,
        a: s,
        b: d,
        ab: { packets: 0, octets: 0, tcpFlags: 0 },
        ba: { packets: 0, octets: 0, tcpFlags: 0 },
        firstUs: p.timeUs,
        lastUs: p.timeUs,
      };
      byKey.set(fwd, conv);
    }
    const dir = conv.a.addr === s.addr && conv.a.port === s.port ? conv.ab : conv.ba;
    dir.packets++;
    dir.octets += ipLength(p);
    dir.tcpFlags |= p.protocol === "tcp" ? p.tcpFlags ?? TCP_ACK : 0;
    conv.firstUs = Math.min(conv.firstUs, p.timeUs);
    conv.lastUs = Math.max(conv.lastUs, p.timeUs);
  }
  return [...byKey.values()];
}

/** Packets and octets of the ICMP traffic, per IP version. */
export function icmpTotals(
  packets: PacketSpec[],
): Record<4 | 6, { packets: number; octets: number }> {
  const out = { 4: { packets: 0, octets: 0 }, 6: { packets: 0, octets: 0 } };
  for (const p of packets) {
    if (p.protocol !== "icmp") continue;
    const t = out[p.src.includes(":") ? 6 : 4];
    t.packets++;
    t.octets += ipLength(p);
  }
  return out;
}
