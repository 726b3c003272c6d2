/**
 * IP addresses and CIDR blocks as 32-bit words, for ipBlock matching: an IPv4 address is one
 * word, an IPv6 address four (most significant first). Parsing never throws: unparsable text
 * gives undefined.
 *
 * @module
 */

/** An address: 1 word for IPv4, 4 words for IPv6, each an unsigned 32-bit integer. */
export type Words = readonly number[];

/** A CIDR block: its network address (host bits cleared) and prefix length. */
export interface Cidr {
  readonly words: Words;
  readonly prefix: number;
}

const DOT = 0x2e;
const COLON = 0x3a;
const ZERO = 0x30;

/**
 * Parses dotted-quad IPv4 text (`10.0.0.1`) into one word. Leading zeros are read as decimal,
 * as Kubernetes' sloppy parser does (`010.0.0.1` is 10.0.0.1).
 */
export function parseIPv4(text: string, start = 0, end = text.length): number | undefined {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let parts = 0;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === DOT) {
      if (digits === 0 || parts === 3) return undefined;
      value = value * 256 + octet;
      parts++;
      octet = 0;
      digits = 0;
    } else {
      const d = c - ZERO;
      if (d < 0 || d > 9 || digits === 3) return undefined;
      octet = octet * 10 + d;
      if (octet > 255) return undefined;
      digits++;
    }
  }
  if (digits === 0 || parts !== 3) return undefined;
  return value * 256 + octet;
}

function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

/** Parses IPv6 text (`fd00::1`, `::ffff:10.0.0.1`) into four words; zones (`%eth0`) are refused. */
export function parseIPv6(text: string): number[] | undefined {
  const groups: number[] = [];
  let gap = -1; // index in groups where "::" stands
  const n = text.length;
  let i = 0;
  if (n < 2) return undefined;
  if (text.charCodeAt(0) === COLON) {
    if (text.charCodeAt(1) !== COLON) return undefined;
    gap = 0;
    i = 2;
    if (i === n) return [0, 0, 0, 0];
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
      // An embedded IPv4 address ends the text and takes two groups.
      const v4 = parseIPv4(text, i, n);
      if (v4 === undefined || groups.length > 6) return undefined;
      groups.push(Math.floor(v4 / 0x10000), v4 % 0x10000);
      i = n;
      break;
    }
    if (j === i || j - i > 4) return undefined;
    groups.push(value);
    if (groups.length > 8) return undefined;
    if (j === n) {
      i = n;
      break;
    }
    if (text.charCodeAt(j) !== COLON) return undefined;
    j++;
    if (j < n && text.charCodeAt(j) === COLON) {
      if (gap >= 0) return undefined;
      gap = groups.length;
      j++;
      if (j === n) {
        i = n;
        break;
      }
    } else if (j === n) {
      return undefined; // a trailing single colon
    }
    i = j;
  }
  if (gap < 0) {
    if (groups.length !== 8) return undefined;
  } else {
    if (groups.length > 7) return undefined;
    groups.splice(gap, 0, ...new Array<number>(8 - groups.length).fill(0));
  }
  return [
    groups[0]! * 0x10000 + groups[1]!,
    groups[2]! * 0x10000 + groups[3]!,
    groups[4]! * 0x10000 + groups[5]!,
    groups[6]! * 0x10000 + groups[7]!,
  ];
}

/**
 * Parses an IPv4 or IPv6 address. An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`) is taken as
 * the IPv4 address it carries, as Go's `net.IPNet.Contains` does.
 */
export function parseIP(text: string): Words | undefined {
  if (typeof text !== "string") return undefined;
  if (text.indexOf(":") < 0) {
    const v4 = parseIPv4(text);
    return v4 === undefined ? undefined : [v4];
  }
  const v6 = parseIPv6(text);
  if (v6 === undefined) return undefined;
  if (v6[0] === 0 && v6[1] === 0 && v6[2] === 0xffff) return [v6[3]!];
  return v6;
}

/** The mask of the `bits` most significant bits of a word. */
function maskOf(bits: number): number {
  if (bits <= 0) return 0;
  if (bits >= 32) return 0xffffffff;
  return (0xffffffff << (32 - bits)) >>> 0;
}

/**
 * Parses `address/prefix` text into a block with its host bits cleared (`10.0.0.1/8` is
 * 10.0.0.0/8, as Go's `net.ParseCIDR` gives). Unlike {@link parseIP}, an IPv4-mapped IPv6 block
 * stays IPv6. Undefined when the text is not a CIDR.
 */
export function parseCidr(text: string): Cidr | undefined {
  if (typeof text !== "string") return undefined;
  const slash = text.indexOf("/");
  if (slash < 0) return undefined;
  const prefixText = text.slice(slash + 1);
  if (!/^(0|[1-9][0-9]{0,2})$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  const addressText = text.slice(0, slash);
  let words: number[];
  if (addressText.indexOf(":") < 0) {
    const v4 = parseIPv4(addressText);
    if (v4 === undefined || prefix > 32) return undefined;
    words = [v4];
  } else {
    const v6 = parseIPv6(addressText);
    if (v6 === undefined || prefix > 128) return undefined;
    words = v6;
  }
  return { words: words.map((w, i) => (w & maskOf(prefix - 32 * i)) >>> 0), prefix };
}

/** Whether `address` is inside `block` (same family, same leading `prefix` bits). */
export function cidrContains(block: Cidr, address: Words): boolean {
  const net = block.words;
  if (net.length !== address.length) return false;
  for (let i = 0, bits = block.prefix; bits > 0; i++, bits -= 32) {
    if (((address[i]! & maskOf(bits)) >>> 0) !== net[i]) return false;
  }
  return true;
}

/** Whether `inner` is a strict subset of `outer`. */
export function cidrStrictlyInside(inner: Cidr, outer: Cidr): boolean {
  return inner.words.length === outer.words.length && inner.prefix > outer.prefix &&
    cidrContains(outer, inner.words);
}

/** Canonical text of IPv6 words (RFC 5952: lower case, longest zero run of two or more as `::`). */
export function formatIPv6Words(words: Words): string {
  const g: number[] = [];
  for (const w of words) g.push(Math.floor(w / 0x10000), w % 0x10000);
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLen).join(":")}`;
}
