/**
 * Just enough of the libpcap file format for the interop tests: write Ethernet frames that
 * carry IPv4/IPv6 TCP and UDP packets (to feed softflowd, or to wrap our own datagrams for
 * tshark), and read the UDP datagrams back out of a capture (tcpdump's or ours).
 *
 * Format: https://wiki.wireshark.org/Development/LibpcapFileFormat (classic pcap, not pcapng).
 *
 * @module
 */

/** Magic number of a classic pcap file with microsecond timestamps. */
const PCAP_MAGIC_US = 0xa1b2c3d4;
/** Magic number of a classic pcap file with nanosecond timestamps. */
const PCAP_MAGIC_NS = 0xa1b23c4d;
/** LINKTYPE_ETHERNET. */
const LINKTYPE_ETHERNET = 1;
/** LINKTYPE_LINUX_SLL (tcpdump -i any). */
const LINKTYPE_LINUX_SLL = 113;
const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
const IPPROTO_ICMP = 1;
const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;
const IPPROTO_ICMPV6 = 58;

/** TCP flag bits. RFC 9293 §3.1 */
export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;

/** One IP packet to put in a capture. */
export interface PacketSpec {
  /** Capture time in microseconds since the Unix epoch. */
  timeUs: number;
  /** Source and destination addresses: dotted quad for IPv4, anything with ":" for IPv6. */
  src: string;
  dst: string;
  /** "icmp" is ICMPv4 or ICMPv6, after the address family. */
  protocol: "tcp" | "udp" | "icmp";
  /** Transport ports (TCP, UDP); 0 by default. */
  srcPort?: number;
  dstPort?: number;
  /** ICMP type and code (echo request, 8/0 or 128/0, by default). */
  icmpType?: number;
  icmpCode?: number;
  /** Transport payload length; the payload is filled with a pattern. */
  payloadLength?: number;
  /** Or the payload itself. */
  payload?: Uint8Array;
  /** TCP flags (TCP_ACK by default). */
  tcpFlags?: number;
  ttl?: number;
}

/** Length of the IP packet a spec produces (IP header + transport header + payload). */
export function ipLength(p: PacketSpec): number {
  const ip = p.src.includes(":") ? 40 : 20;
  return ip + l4HeaderLength(p) + payloadOf(p).length;
}

function l4HeaderLength(p: PacketSpec): number {
  return p.protocol === "tcp" ? 20 : 8;
}

function payloadOf(p: PacketSpec): Uint8Array {
  if (p.payload) return p.payload;
  const n = p.payloadLength ?? 0;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 7 + 13) & 0xff;
  return out;
}

/** The 4 octets of a dotted-quad IPv4 address. */
export function parseIPv4(s: string): Uint8Array {
  const parts = s.split(".").map(Number);
  if (parts.length !== 4 || parts.some((n) => !Number.isInteger(n) || n < 0 || n > 255)) {
    throw new TypeError(`Invalid IPv4 address "${s}"`);
  }
  return new Uint8Array(parts);
}

/** The 16 octets of an IPv6 address (no embedded IPv4 form). */
export function parseIPv6(s: string): Uint8Array {
  const [head = "", tail, extra] = s.split("::");
  if (extra !== undefined) throw new TypeError(`Invalid IPv6 address "${s}"`);
  const words = (t: string) => t === "" ? [] : t.split(":").map((w) => parseInt(w, 16));
  const h = words(head);
  const t = tail === undefined ? [] : words(tail);
  const fill = tail === undefined ? 0 : 8 - h.length - t.length;
  const all = [...h, ...new Array<number>(fill).fill(0), ...t];
  if (all.length !== 8 || all.some((w) => !(w >= 0 && w <= 0xffff))) {
    throw new TypeError(`Invalid IPv6 address "${s}"`);
  }
  const out = new Uint8Array(16);
  all.forEach((w, i) => {
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  });
  return out;
}

/** The Internet checksum (RFC 1071) of the concatenated parts. */
function checksum(...parts: Uint8Array[]): number {
  let sum = 0;
  let odd = -1;
  for (const p of parts) {
    for (let i = 0; i < p.length; i++) {
      if (odd < 0) {
        odd = p[i]!;
      } else {
        sum += (odd << 8) | p[i]!;
        odd = -1;
      }
    }
  }
  if (odd >= 0) sum += odd << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** An IPv4 or IPv6 packet with a TCP or UDP header, checksums filled in. */
export function buildIpPacket(p: PacketSpec): Uint8Array {
  const v6 = p.src.includes(":");
  const src = v6 ? parseIPv6(p.src) : parseIPv4(p.src);
  const dst = v6 ? parseIPv6(p.dst) : parseIPv4(p.dst);
  if (src.length !== dst.length) throw new TypeError("Source and destination differ in IP version");
  const payload = payloadOf(p);
  const proto = p.protocol === "tcp"
    ? IPPROTO_TCP
    : p.protocol === "udp"
    ? IPPROTO_UDP
    : v6
    ? IPPROTO_ICMPV6
    : IPPROTO_ICMP;
  const l4Len = l4HeaderLength(p) + payload.length;
  const l4 = new Uint8Array(l4Len);
  const lv = new DataView(l4.buffer);
  if (p.protocol === "icmp") {
    l4[0] = p.icmpType ?? (v6 ? 128 : 8);
    l4[1] = p.icmpCode ?? 0;
    lv.setUint16(4, 0x1234); // identifier
    lv.setUint16(6, 1); // sequence number
    l4.set(payload, 8);
  } else {
    lv.setUint16(0, p.srcPort ?? 0);
    lv.setUint16(2, p.dstPort ?? 0);
  }
  if (p.protocol === "tcp") {
    lv.setUint32(4, 1000); // sequence number
    lv.setUint32(8, (p.tcpFlags ?? TCP_ACK) & TCP_ACK ? 2000 : 0);
    l4[12] = 5 << 4; // data offset: 5 words
    l4[13] = p.tcpFlags ?? TCP_ACK;
    lv.setUint16(14, 65535); // window
    l4.set(payload, 20);
  } else if (p.protocol === "udp") {
    lv.setUint16(4, l4Len);
    l4.set(payload, 8);
  }
  // Pseudo-header for the transport checksum (not for ICMPv4). RFC 768, RFC 9293 §3.1,
  // RFC 8200 §8.1, RFC 4443 §2.3
  const pseudo = new Uint8Array(v6 ? 40 : 12);
  const pv = new DataView(pseudo.buffer);
  pseudo.set(src, 0);
  pseudo.set(dst, src.length);
  if (v6) {
    pv.setUint32(32, l4Len);
    pseudo[39] = proto;
  } else {
    pseudo[9] = proto;
    pv.setUint16(10, l4Len);
  }
  let sum = proto === IPPROTO_ICMP ? checksum(l4) : checksum(pseudo, l4);
  if (p.protocol === "udp" && sum === 0) sum = 0xffff;
  lv.setUint16(p.protocol === "tcp" ? 16 : p.protocol === "udp" ? 6 : 2, sum);

  const ipHeaderLen = v6 ? 40 : 20;
  const pkt = new Uint8Array(ipHeaderLen + l4Len);
  const v = new DataView(pkt.buffer);
  if (v6) {
    v.setUint32(0, 6 << 28);
    v.setUint16(4, l4Len);
    pkt[6] = proto;
    pkt[7] = p.ttl ?? 64;
    pkt.set(src, 8);
    pkt.set(dst, 24);
  } else {
    pkt[0] = 0x45;
    v.setUint16(2, pkt.length);
    v.setUint16(6, 0x4000); // don't fragment
    pkt[8] = p.ttl ?? 64;
    pkt[9] = proto;
    pkt.set(src, 12);
    pkt.set(dst, 16);
    v.setUint16(10, checksum(pkt.subarray(0, 20)));
  }
  pkt.set(l4, ipHeaderLen);
  return pkt;
}

/**
 * The MAC address the captures give a host: locally administered, `02:00:` and the last four
 * octets of its IP address, so that each host has its own.
 */
export function macOf(address: string): string {
  const ip = address.includes(":") ? parseIPv6(address) : parseIPv4(address);
  const tail = Array.from(ip.subarray(ip.length - 4), (b) => b.toString(16).padStart(2, "0"));
  return ["02", "00", ...tail].join(":");
}

function macOctets(mac: string): number[] {
  return mac.split(":").map((h) => parseInt(h, 16));
}

/** An Ethernet frame around an IP packet, between the MACs of its source and destination. */
export function ethernetFrame(ipPacket: Uint8Array, srcMac: string, dstMac: string): Uint8Array {
  const frame = new Uint8Array(14 + ipPacket.length);
  frame.set([...macOctets(dstMac), ...macOctets(srcMac)]);
  const version = ipPacket[0]! >> 4;
  new DataView(frame.buffer).setUint16(12, version === 6 ? ETHERTYPE_IPV6 : ETHERTYPE_IPV4);
  frame.set(ipPacket, 14);
  return frame;
}

/** A classic pcap file (microsecond timestamps, Ethernet) of the given frames. */
export function pcapFile(frames: { timeUs: number; frame: Uint8Array }[]): Uint8Array {
  const size = 24 + frames.reduce((n, f) => n + 16 + f.frame.length, 0);
  const out = new Uint8Array(size);
  const v = new DataView(out.buffer);
  v.setUint32(0, PCAP_MAGIC_US, true);
  v.setUint16(4, 2, true);
  v.setUint16(6, 4, true);
  v.setUint32(16, 262144, true); // snaplen
  v.setUint32(20, LINKTYPE_ETHERNET, true);
  let o = 24;
  for (const { timeUs, frame } of frames) {
    v.setUint32(o, Math.floor(timeUs / 1e6), true);
    v.setUint32(o + 4, timeUs % 1e6, true);
    v.setUint32(o + 8, frame.length, true);
    v.setUint32(o + 12, frame.length, true);
    out.set(frame, o + 16);
    o += 16 + frame.length;
  }
  return out;
}

/** A pcap file of the given packets. */
export function pcapOfPackets(packets: PacketSpec[]): Uint8Array {
  return pcapFile(
    packets.map((p) => ({
      timeUs: p.timeUs,
      frame: ethernetFrame(buildIpPacket(p), macOf(p.src), macOf(p.dst)),
    })),
  );
}

/** A UDP datagram to wrap in a capture. */
export interface DatagramSpec {
  timeUs: number;
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  payload: Uint8Array;
}

/** A pcap file of UDP datagrams, as if captured on the wire. */
export function pcapOfDatagrams(datagrams: DatagramSpec[]): Uint8Array {
  return pcapOfPackets(datagrams.map((d) => ({ ...d, protocol: "udp" as const })));
}

/** A UDP datagram read back from a capture: what {@link pcapOfDatagrams} wraps. */
export type CapturedDatagram = DatagramSpec;

function formatIPv6Plain(b: Uint8Array): string {
  const w: string[] = [];
  for (let i = 0; i < 16; i += 2) w.push(((b[i]! << 8) | b[i + 1]!).toString(16));
  return w.join(":");
}

/**
 * The UDP datagrams of a classic pcap file (Ethernet or Linux cooked capture), in file order.
 * Other packets are skipped; IP fragments and IPv6 extension headers are not handled (the
 * tests never produce them).
 */
export function readUdpDatagrams(file: Uint8Array): CapturedDatagram[] {
  if (file.length < 24) throw new RangeError(`Truncated pcap file: ${file.length} octets`);
  const v = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const magicLE = v.getUint32(0, true);
  const magicBE = v.getUint32(0, false);
  let le: boolean;
  let nanos: boolean;
  if (magicLE === PCAP_MAGIC_US || magicLE === PCAP_MAGIC_NS) {
    le = true;
    nanos = magicLE === PCAP_MAGIC_NS;
  } else if (magicBE === PCAP_MAGIC_US || magicBE === PCAP_MAGIC_NS) {
    le = false;
    nanos = magicBE === PCAP_MAGIC_NS;
  } else {
    throw new SyntaxError(`Not a classic pcap file (magic 0x${magicBE.toString(16)})`);
  }
  const linktype = v.getUint32(20, le) & 0x0fffffff;
  if (linktype !== LINKTYPE_ETHERNET && linktype !== LINKTYPE_LINUX_SLL) {
    throw new SyntaxError(`Unsupported pcap link type ${linktype}`);
  }
  const out: CapturedDatagram[] = [];
  let o = 24;
  while (o + 16 <= file.length) {
    const sec = v.getUint32(o, le);
    const frac = v.getUint32(o + 4, le);
    const incl = v.getUint32(o + 8, le);
    const orig = v.getUint32(o + 12, le);
    const start = o + 16;
    o = start + incl;
    if (o > file.length) break; // a capture cut short by the kill
    if (incl !== orig) continue; // truncated by the snap length
    const timeUs = sec * 1e6 + (nanos ? Math.floor(frac / 1000) : frac);
    const l2 = linktype === LINKTYPE_ETHERNET ? 14 : 16;
    if (incl < l2) continue;
    const etherType = v.getUint16(start + l2 - 2);
    const ip = start + l2;
    let l4: number;
    let proto: number;
    let src: string;
    let dst: string;
    let end: number;
    if (etherType === ETHERTYPE_IPV4) {
      const ihl = (file[ip]! & 0x0f) * 4;
      proto = file[ip + 9]!;
      src = Array.from(file.subarray(ip + 12, ip + 16)).join(".");
      dst = Array.from(file.subarray(ip + 16, ip + 20)).join(".");
      l4 = ip + ihl;
      end = ip + v.getUint16(ip + 2);
    } else if (etherType === ETHERTYPE_IPV6) {
      proto = file[ip + 6]!;
      src = formatIPv6Plain(file.subarray(ip + 8, ip + 24));
      dst = formatIPv6Plain(file.subarray(ip + 24, ip + 40));
      l4 = ip + 40;
      end = l4 + v.getUint16(ip + 4);
    } else {
      continue;
    }
    if (proto !== IPPROTO_UDP || end > o) continue;
    const udpLen = v.getUint16(l4 + 4);
    out.push({
      timeUs,
      src,
      dst,
      srcPort: v.getUint16(l4),
      dstPort: v.getUint16(l4 + 2),
      payload: file.slice(l4 + 8, l4 + udpLen),
    });
  }
  return out;
}
