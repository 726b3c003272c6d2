/**
 * Address formatting as `conntrack -L` prints addresses (glibc `inet_ntop`), made cheap for
 * dumps of 100k entries: IPv4 strings come from a direct-mapped cache keyed by the address.
 *
 * @module
 */

const DEC: string[] = Array.from({ length: 256 }, (_, i) => String(i));

// "a.b" and ".a.b" for every pair of octets, built on first use (about 5 MB): a cache miss then
// costs one concatenation instead of six.
let heads: string[] | undefined;
let tails: string[] | undefined;

function pairTables(): void {
  heads = new Array(65536);
  tails = new Array(65536);
  for (let i = 0; i < 65536; i++) {
    const pair = DEC[i & 0xff] + "." + DEC[i >>> 8];
    heads[i] = pair;
    tails[i] = "." + pair;
  }
}

// A direct-mapped cache: slot i holds an address (as int32) and its string. Every slot starts
// as 0 → "0.0.0.0", which is right for whichever slot 0 is looked up in.
const IP4_CACHE_SIZE = 1 << 16;
const ip4Keys = new Int32Array(IP4_CACHE_SIZE);
const ip4Values: string[] = new Array(IP4_CACHE_SIZE).fill("0.0.0.0");

/**
 * Formats an IPv4 address given as the u32 that the library returns: network byte order read
 * on a little-endian host, so the first octet is the low byte. Repeated addresses come from a
 * direct-mapped cache and share one string.
 */
export function formatIPv4Le(u32: number): string {
  const key = u32 | 0;
  const idx = (key ^ (key >>> 16)) & (IP4_CACHE_SIZE - 1);
  if (ip4Keys[idx] === key) return ip4Values[idx]!;
  if (heads === undefined) pairTables();
  const s = heads![u32 & 0xffff]! + tails![u32 >>> 16]!;
  ip4Keys[idx] = key;
  ip4Values[idx] = s;
  return s;
}

/** Formats the dotted quad of four octets. */
function dotted(a: number, b: number, c: number, d: number): string {
  return DEC[a] + "." + DEC[b] + "." + DEC[c] + "." + DEC[d];
}

const words = new Uint16Array(8);

/**
 * Formats 16 octets at `o` as glibc's `inet_ntop(AF_INET6)` does: the longest run of two or more
 * zero groups (the first on a tie) becomes `::`, and addresses whose first 96 bits are zero, or
 * `::ffff:0:0/96` (IPv4-mapped), end in a dotted quad.
 */
export function formatIPv6(u8: Uint8Array, o: number): string {
  for (let i = 0; i < 8; i++) words[i] = (u8[o + 2 * i]! << 8) | u8[o + 2 * i + 1]!;
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i + 1;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestLen < 2) bestStart = -1;
  let s = "";
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      s += "::";
      i += bestLen - 1;
      continue;
    }
    if (i !== 0 && i !== bestStart + bestLen) s += ":";
    // An IPv4 tail after 96 zero bits (::a.b.c.d) or after ::ffff (IPv4-mapped).
    if (i === 6 && bestStart === 0 && (bestLen === 6 || (bestLen === 5 && words[5] === 0xffff))) {
      return s + dotted(u8[o + 12]!, u8[o + 13]!, u8[o + 14]!, u8[o + 15]!);
    }
    s += words[i]!.toString(16);
  }
  return s;
}
