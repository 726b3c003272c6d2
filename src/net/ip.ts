/**
 * IPv4 and IPv6 addresses between text and octets: strict (or, on request, lenient) parsing of
 * the RFC 4291 §2.2 text forms, and RFC 5952 text from octets. Parsing never throws: text that
 * is not an address gives `undefined` or `false`.
 *
 * Decoders format millions of addresses a second, so formatting reads octets in place and keeps
 * the IPv4 strings it made in a small direct-mapped cache.
 *
 * @module
 */

const DOT = 0x2e;
const COLON = 0x3a;
const ZERO = 0x30;
const DEC: string[] = Array.from({ length: 256 }, (_, i) => String(i));

/** How strictly address text is read. */
export interface ParseOptions {
  /**
   * Read IPv4 octets with leading zeros as decimal (`010.0.0.1` is 10.0.0.1), as Go's
   * `net.ParseIP` before 1.17 and Kubernetes' `ParseIPSloppy` do. By default they are refused:
   * `inet_aton` reads them as octal, so their meaning depends on the reader.
   */
  readonly leadingZeros?: boolean;
}

/** How IPv6 addresses are written. */
export interface FormatOptions {
  /**
   * Also end IPv4-compatible addresses (`::a.b.c.d`, RFC 4291 §2.5.5.1, whose seventh group is
   * not zero) in a dotted quad, as glibc's `inet_ntop` does. By default only IPv4-mapped
   * addresses do (RFC 5952 §5).
   */
  readonly ipv4Compatible?: boolean;
}

/** Whether an octet of `digits` digits was written with a leading zero: "01", "00", "010". */
function hasLeadingZero(octet: number, digits: number): boolean {
  return digits > 1 && octet < (digits === 2 ? 10 : 100);
}

/**
 * The value of dotted-quad text between `start` and `end`, or -1 when it is not an IPv4 address.
 */
function ipv4Value(text: string, start: number, end: number, leadingZeros: boolean): number {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let parts = 0;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === DOT) {
      if (digits === 0 || parts === 3) return -1;
      if (!leadingZeros && hasLeadingZero(octet, digits)) return -1;
      value = value * 256 + octet;
      parts++;
      octet = 0;
      digits = 0;
    } else {
      const d = c - ZERO;
      if (d < 0 || d > 9 || digits === 3) return -1;
      octet = octet * 10 + d;
      if (octet > 255) return -1;
      digits++;
    }
  }
  if (digits === 0 || parts !== 3) return -1;
  if (!leadingZeros && hasLeadingZero(octet, digits)) return -1;
  return value * 256 + octet;
}

/**
 * Parses dotted-quad IPv4 text into its value as an unsigned 32-bit integer (the first octet
 * most significant); undefined when it is not an IPv4 address.
 *
 * @example
 * ```ts
 * parseIPv4("10.0.0.1"); // 0x0a000001
 * parseIPv4("010.0.0.1"); // undefined
 * parseIPv4("010.0.0.1", { leadingZeros: true }); // 0x0a000001
 * ```
 */
export function parseIPv4(text: string, options?: ParseOptions): number | undefined {
  if (typeof text !== "string") return undefined;
  const v = ipv4Value(text, 0, text.length, options?.leadingZeros === true);
  return v < 0 ? undefined : v;
}

/**
 * Parses dotted-quad IPv4 text into 4 octets at `o`; false (and nothing written) when it is not
 * an IPv4 address.
 *
 * @example
 * ```ts
 * const out = new Uint8Array(4);
 * parseIPv4Into("192.0.2.1", out, 0); // true; out is [192, 0, 2, 1]
 * ```
 */
export function parseIPv4Into(
  text: string,
  out: Uint8Array,
  o: number,
  options?: ParseOptions,
): boolean {
  if (typeof text !== "string") return false;
  const v = ipv4Value(text, 0, text.length, options?.leadingZeros === true);
  if (v < 0) return false;
  out[o] = v >>> 24;
  out[o + 1] = (v >>> 16) & 0xff;
  out[o + 2] = (v >>> 8) & 0xff;
  out[o + 3] = v & 0xff;
  return true;
}

function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

/** The groups read so far by {@link parseIPv6Into}. */
const parsedGroups = new Uint16Array(8);

/**
 * Parses IPv6 text (the forms of RFC 4291 §2.2: full, `::`-compressed, with an IPv4 tail) into
 * 16 octets at `o`; false (and nothing written) when it is not one. Zones (`%eth0`) and brackets
 * are refused.
 *
 * @example
 * ```ts
 * const out = new Uint8Array(16);
 * parseIPv6Into("::ffff:10.0.0.1", out, 0); // true; out ends in 0xff 0xff 10 0 0 1
 * parseIPv6Into("fe80::1%eth0", out, 0); // false
 * ```
 */
export function parseIPv6Into(
  text: string,
  out: Uint8Array,
  o: number,
  options?: ParseOptions,
): boolean {
  if (typeof text !== "string") return false;
  const n = text.length;
  // The longest text form, ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255, has 45 characters.
  if (n < 2 || n > 45) return false;
  const groups = parsedGroups;
  let count = 0;
  let gap = -1; // where "::" stands among the groups
  let i = 0;
  if (text.charCodeAt(0) === COLON) {
    if (text.charCodeAt(1) !== COLON) return false;
    gap = 0;
    i = 2;
  }
  while (i < n) {
    let j = i;
    let value = 0;
    while (j < n && j - i < 5) {
      const d = hexDigit(text.charCodeAt(j));
      if (d < 0) break;
      value = value * 16 + d;
      j++;
    }
    if (j < n && text.charCodeAt(j) === DOT) {
      // An IPv4 tail ends the text and takes the last two groups.
      if (count > 6) return false;
      const v4 = ipv4Value(text, i, n, options?.leadingZeros === true);
      if (v4 < 0) return false;
      groups[count++] = v4 >>> 16;
      groups[count++] = v4 & 0xffff;
      break;
    }
    if (j === i || j - i > 4 || count === 8) return false;
    groups[count++] = value;
    if (j === n) break;
    if (text.charCodeAt(j) !== COLON) return false;
    j++;
    if (j < n && text.charCodeAt(j) === COLON) {
      if (gap >= 0) return false;
      gap = count;
      j++;
    } else if (j === n) {
      return false; // a trailing single colon
    }
    i = j;
  }
  if (gap < 0 ? count !== 8 : count > 7) return false;
  const zeros = 8 - count;
  for (let k = 0, g = 0; k < 8; k++) {
    const w = gap >= 0 && k >= gap && k < gap + zeros ? 0 : groups[g++]!;
    out[o + 2 * k] = w >>> 8;
    out[o + 2 * k + 1] = w & 0xff;
  }
  return true;
}

/**
 * Whether the 16 octets at `o` are an IPv4-mapped IPv6 address (`::ffff:0:0/96`, RFC 4291
 * §2.5.5.2).
 *
 * @example
 * ```ts
 * const out = new Uint8Array(16);
 * parseIPv6Into("::ffff:10.0.0.1", out, 0);
 * isIPv4Mapped(out, 0); // true
 * ```
 */
export function isIPv4Mapped(u8: Uint8Array, o: number): boolean {
  for (let i = 0; i < 10; i++) if (u8[o + i] !== 0) return false;
  return u8[o + 10] === 0xff && u8[o + 11] === 0xff;
}

// Pod and node addresses recur in every record: cache their text form.
const IP4_CACHE_BITS = 12;
const IP4_CACHE_SIZE = 1 << IP4_CACHE_BITS;
const ip4Keys = new Float64Array(IP4_CACHE_SIZE).fill(-1);
const ip4Values: string[] = new Array(IP4_CACHE_SIZE).fill("");

/**
 * Formats the 4 octets at `o` as a dotted-quad IPv4 address. Repeated addresses come from a
 * small cache and share one string.
 *
 * @example
 * ```ts
 * formatIPv4(new Uint8Array([192, 0, 2, 1]), 0); // "192.0.2.1"
 * ```
 */
export function formatIPv4(u8: Uint8Array, o: number): string {
  return ipv4Text(((u8[o]! << 24) | (u8[o + 1]! << 16) | (u8[o + 2]! << 8) | u8[o + 3]!) >>> 0);
}

/**
 * The dotted quad of the address `key` (its 32 bits, as a number). Repeated addresses come from a
 * small cache and share one string; kept small, so that a decoder can have it inlined.
 *
 * @example
 * ```ts
 * ipv4Text(0xc0000201); // "192.0.2.1"
 * ```
 */
export function ipv4Text(key: number): string {
  // Two-way set associative: a pair of neighbouring slots, the newest address first. A
  // multiplicative hash: addresses that differ only in their second octet (a subnet per node)
  // must not share sets (folding the octets together missed 18 % of a 1100-pod cluster's).
  const idx = (Math.imul(key, 0x9e3779b1) >>> (32 - IP4_CACHE_BITS)) & (IP4_CACHE_SIZE - 2);
  if (ip4Keys[idx] === key) return ip4Values[idx]!;
  if (ip4Keys[idx + 1] === key) return ip4Values[idx + 1]!;
  return cacheIPv4(key, idx);
}

/** Formats an address missing from the cache and puts it in set `idx`, first. */
function cacheIPv4(key: number, idx: number): string {
  const s = DEC[key >>> 24] + "." + DEC[(key >>> 16) & 255] + "." + DEC[(key >>> 8) & 255] + "." +
    DEC[key & 255];
  ip4Keys[idx + 1] = ip4Keys[idx]!;
  ip4Values[idx + 1] = ip4Values[idx]!;
  ip4Keys[idx] = key;
  ip4Values[idx] = s;
  return s;
}

const formatGroups = new Uint16Array(8);

/**
 * Formats the 16 octets at `o` as an IPv6 address in the form of RFC 5952 §4: lower-case hex
 * without leading zeros, the longest run of two or more zero groups (the first on a tie) as
 * `::`, and IPv4-mapped addresses ending in a dotted quad (§5).
 *
 * @example
 * ```ts
 * const out = new Uint8Array(16);
 * parseIPv6Into("2001:DB8:0:0:1:0:0:1", out, 0);
 * formatIPv6(out, 0); // "2001:db8::1:0:0:1"
 * parseIPv6Into("::1.2.3.4", out, 0);
 * formatIPv6(out, 0); // "::102:304"
 * formatIPv6(out, 0, { ipv4Compatible: true }); // "::1.2.3.4", as inet_ntop writes it
 * ```
 */
export function formatIPv6(u8: Uint8Array, o: number, options?: FormatOptions): string {
  const w = formatGroups;
  for (let i = 0; i < 8; i++) w[i] = (u8[o + 2 * i]! << 8) | u8[o + 2 * i + 1]!;
  // Longest run of two or more zero groups, the first one on a tie. RFC 5952 §4.2
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i + 1;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestStart === 0) {
    // Five zero groups then ffff: IPv4-mapped. RFC 5952 §5
    if (bestLen === 5 && w[5] === 0xffff) return "::ffff:" + formatIPv4(u8, o + 12);
    if (bestLen === 6 && options?.ipv4Compatible === true) return "::" + formatIPv4(u8, o + 12);
  }
  let s = "";
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      s += "::";
      i += bestLen - 1;
      continue;
    }
    if (i !== 0 && i !== bestStart + bestLen) s += ":";
    s += w[i]!.toString(16);
  }
  return s;
}

/** A parsed IP address. */
export interface IPAddress {
  readonly family: 4 | 6;
  /** 4 or 16 octets, network order. */
  readonly bytes: Uint8Array;
  /** Canonical text: the dotted quad, or RFC 5952 IPv6. */
  readonly text: string;
}

/**
 * The canonical text of 4 or 16 octets: a dotted quad or RFC 5952 IPv6.
 *
 * @example
 * ```ts
 * formatIP(new Uint8Array([10, 0, 0, 1])); // "10.0.0.1"
 * formatIP(new Uint8Array(16)); // "::"
 * ```
 */
export function formatIP(bytes: Uint8Array): string {
  return bytes.length === 4 ? formatIPv4(bytes, 0) : formatIPv6(bytes, 0);
}

/**
 * Parses an IPv4 or IPv6 address (no zone, no brackets); undefined when it is not one. An
 * IPv4-mapped IPv6 address (`::ffff:10.0.0.1`) is taken as the IPv4 address it carries, as
 * Go's `net.IP` does.
 *
 * @example
 * ```ts
 * parseIP("FD00:0::A")?.text; // "fd00::a"
 * parseIP("::ffff:10.0.0.1"); // { family: 4, bytes: [10, 0, 0, 1], text: "10.0.0.1" }
 * parseIP("10.0.0.256"); // undefined
 * ```
 */
export function parseIP(text: string, options?: ParseOptions): IPAddress | undefined {
  if (typeof text !== "string") return undefined;
  if (text.indexOf(":") < 0) {
    const bytes = new Uint8Array(4);
    if (!parseIPv4Into(text, bytes, 0, options)) return undefined;
    // Strict text is already canonical.
    return { family: 4, bytes, text: options?.leadingZeros === true ? formatIPv4(bytes, 0) : text };
  }
  const bytes = new Uint8Array(16);
  if (!parseIPv6Into(text, bytes, 0, options)) return undefined;
  if (isIPv4Mapped(bytes, 0)) {
    const v4 = bytes.slice(12);
    return { family: 4, bytes: v4, text: formatIPv4(v4, 0) };
  }
  return { family: 6, bytes, text: formatIPv6(bytes, 0) };
}

/**
 * The canonical text of an address (see {@link parseIP}), or undefined when it is not one.
 *
 * @example
 * ```ts
 * canonicalIP("2001:DB8:0:0:0:0:0:1"); // "2001:db8::1"
 * canonicalIP("::ffff:10.1.2.3"); // "10.1.2.3"
 * ```
 */
export function canonicalIP(text: string, options?: ParseOptions): string | undefined {
  return parseIP(text, options)?.text;
}
