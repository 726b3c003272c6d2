/**
 * Conntrack entries for tests.
 *
 * @module
 */

import type { ConnEntry, ConnTuple } from "../conntrack/mod.ts";

/** Fields of a test entry. */
export interface EntrySpec {
  id?: number;
  src?: string;
  dst?: string;
  sport?: number;
  dport?: number;
  /** Reply source, when DNAT rewrote the destination (a Service backend). */
  replySrc?: string;
  replySport?: number;
  protocol?: number;
  packets?: number;
  bytes?: number;
  rpackets?: number;
  rbytes?: number;
  tcpState?: ConnEntry["tcpState"];
  status?: number;
  zone?: number;
  startNs?: bigint;
  stopNs?: bigint;
}

/** A conntrack entry: 10.0.0.1:40000 → 10.0.1.2:80 TCP ESTABLISHED by default. */
export function entry(s: EntrySpec = {}): ConnEntry {
  const src = s.src ?? "10.0.0.1";
  const dst = s.dst ?? "10.0.1.2";
  const sport = s.sport ?? 40000;
  const dport = s.dport ?? 80;
  const original: ConnTuple = {
    src,
    dst,
    srcPort: sport,
    dstPort: dport,
    packets: s.packets ?? 0,
    bytes: s.bytes ?? 0,
  };
  const reply: ConnTuple = {
    src: s.replySrc ?? dst,
    dst: src,
    srcPort: s.replySport ?? dport,
    dstPort: sport,
    packets: s.rpackets ?? 0,
    bytes: s.rbytes ?? 0,
  };
  const protocol = s.protocol ?? 6;
  return {
    id: s.id ?? 1,
    family: src.includes(":") ? 6 : 4,
    protocol,
    original,
    reply,
    icmp: undefined,
    tcpState: protocol === 6 ? (s.tcpState ?? "ESTABLISHED") : undefined,
    status: s.status ?? 0b1110,
    mark: 0,
    zone: s.zone ?? 0,
    labels: 0n,
    timeout: 100,
    hasCounters: true,
    startNs: s.startNs,
    stopNs: s.stopNs,
  };
}
