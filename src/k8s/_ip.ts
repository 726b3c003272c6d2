/**
 * IP addresses and CIDR prefixes as the cluster indexes need them: strict parsing, one canonical
 * text per address (RFC 5952 for IPv6, IPv4-mapped IPv6 as IPv4) and prefix masking.
 *
 * @module
 */

/** A parsed IP address. */
export interface ParsedIP {
  readonly family: 4 | 6;
  /** 4 or 16 octets, network order. */
  readonly bytes: Uint8Array;
  /** Canonical text: dotted quad, or RFC 5952 IPv6. */
  readonly text: string;
}

/** A parsed CIDR prefix; `bytes` are masked to the prefix. */
export interface Cidr {
  readonly family: 4 | 6;
  readonly bytes: Uint8Array;
  readonly prefix: number;
  /** Canonical text, `10.244.1.0/24`. */
  readonly text: string;
}

const V4_OCTET = /^(0|[1-9]\d{0,2})$/;
const V6_GROUP = /^[0-9a-fA-F]{1,4}$/;

function parseV4(s: string): Uint8Array | undefined {
  const parts = s.split(".");
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (!V4_OCTET.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    out[i] = n;
  }
  return out;
}

function parseV6(s: string): Uint8Array | undefined {
  if (s.length < 2 || s.length > 45) return undefined;
  let tail: Uint8Array | undefined;
  let body = s;
  const lastColon = s.lastIndexOf(":");
  if (s.indexOf(".", lastColon) >= 0) {
    tail = parseV4(s.slice(lastColon + 1));
    if (!tail) return undefined;
    body = s.slice(0, lastColon + 1) + "0:0";
  }
  const halves = body.split("::");
  if (halves.length > 2) return undefined;
  const split = (h: string) => h === "" ? [] : h.split(":");
  const head = split(halves[0]!);
  const rest = halves.length === 2 ? split(halves[1]!) : [];
  const groups = head.length + rest.length;
  if (halves.length === 1 ? groups !== 8 : groups > 7) return undefined;
  const all = [...head, ...new Array<string>(8 - groups).fill("0"), ...rest];
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    const g = all[i]!;
    if (!V6_GROUP.test(g)) return undefined;
    const n = parseInt(g, 16);
    out[2 * i] = n >> 8;
    out[2 * i + 1] = n & 0xff;
  }
  if (tail) out.set(tail, 12);
  return out;
}

function isV4Mapped(b: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

function formatV6(b: Uint8Array): string {
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push((b[i]! << 8) | b[i + 1]!);
  // RFC 5952 §4.2: compress the longest run (of at least two) of zero groups, the first on a tie.
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (xs: number[]) => xs.map((x) => x.toString(16)).join(":");
  if (best < 0) return hex(g);
  return `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}

/**
 * Parses an IPv4 or IPv6 address (no zone, no brackets, no leading zeros in IPv4 octets).
 * IPv4-mapped IPv6 (`::ffff:10.0.0.1`) is returned as IPv4.
 */
export function parseIP(s: string): ParsedIP | undefined {
  if (s.includes(":")) {
    const b = parseV6(s);
    if (!b) return undefined;
    if (isV4Mapped(b)) {
      const v4 = b.slice(12);
      return { family: 4, bytes: v4, text: v4.join(".") };
    }
    return { family: 6, bytes: b, text: formatV6(b) };
  }
  const b = parseV4(s);
  return b ? { family: 4, bytes: b, text: s } : undefined;
}

/** The canonical text of an address, or undefined when it is not one. */
export function canonicalIP(s: string): string | undefined {
  return parseIP(s)?.text;
}

/** The address's octets with the bits after `prefix` cleared. */
export function maskBytes(bytes: Uint8Array, prefix: number): Uint8Array {
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) {
    const bits = Math.max(0, Math.min(8, prefix - 8 * i));
    out[i] = bits === 0 ? 0 : bytes[i]! & (0xff << (8 - bits));
  }
  return out;
}

/** A map key for the network of `bytes` under `prefix`. */
export function networkKey(bytes: Uint8Array, prefix: number): string {
  const m = maskBytes(bytes, prefix);
  let s = `${bytes.length === 4 ? 4 : 6}/${prefix}/`;
  for (const x of m) s += x.toString(16).padStart(2, "0");
  return s;
}

/** Parses `ADDRESS/PREFIX`; host bits are cleared (as Kubernetes and Go's net.ParseCIDR do). */
export function parseCIDR(s: string): Cidr | undefined {
  const slash = s.indexOf("/");
  if (slash < 0) return undefined;
  const ip = parseIP(s.slice(0, slash));
  const p = s.slice(slash + 1);
  if (!ip || !/^(0|[1-9]\d{0,2})$/.test(p)) return undefined;
  const prefix = Number(p);
  // An IPv4-mapped IPv6 prefix counts its IPv4 part only.
  const v4mapped = ip.family === 4 && s.slice(0, slash).includes(":");
  const len = v4mapped ? prefix - 96 : prefix;
  if (len < 0 || len > (ip.family === 4 ? 32 : 128)) return undefined;
  const bytes = maskBytes(ip.bytes, len);
  const text = ip.family === 4 ? bytes.join(".") : formatV6(bytes);
  return { family: ip.family, bytes, prefix: len, text: `${text}/${len}` };
}

/** Whether `cidr` contains `ip`. */
export function cidrContains(cidr: Cidr, ip: ParsedIP): boolean {
  if (cidr.family !== ip.family) return false;
  const m = maskBytes(ip.bytes, cidr.prefix);
  for (let i = 0; i < m.length; i++) if (m[i] !== cidr.bytes[i]) return false;
  return true;
}
