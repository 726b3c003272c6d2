/**
 * Address formatting as `conntrack -L` prints addresses (glibc `inet_ntop`), made cheap for
 * dumps of 100k entries: IPv4 strings come from a direct-mapped cache keyed by the address.
 *
 * @module
 */

import { formatIPv6 as formatIPv6Text, type FormatOptions } from "../net/mod.ts";

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
const IP4_CACHE_BITS = 16;
const IP4_CACHE_SIZE = 1 << IP4_CACHE_BITS;
const ip4Keys = new Int32Array(IP4_CACHE_SIZE);
const ip4Values: string[] = new Array(IP4_CACHE_SIZE).fill("0.0.0.0");

/**
 * Formats an IPv4 address given as the u32 that the library returns: network byte order read
 * on a little-endian host, so the first octet is the low byte. Repeated addresses come from a
 * direct-mapped cache and share one string.
 */
export function formatIPv4Le(u32: number): string {
  const key = u32 | 0;
  // A multiplicative hash: folding the halves together (key ^ key >>> 16) sent 10.10.0.5 and
  // 10.15.0.0 to one slot, and subnets per node are laid out just so.
  const idx = Math.imul(key, 0x9e3779b1) >>> (32 - IP4_CACHE_BITS);
  if (ip4Keys[idx] === key) return ip4Values[idx]!;
  if (heads === undefined) pairTables();
  const s = heads![u32 & 0xffff]! + tails![u32 >>> 16]!;
  ip4Keys[idx] = key;
  ip4Values[idx] = s;
  return s;
}

/** inet_ntop also writes IPv4-compatible addresses (`::a.b.c.d`) with a dotted quad. */
const INET_NTOP: FormatOptions = { ipv4Compatible: true };

/**
 * Formats 16 octets at `o` as glibc's `inet_ntop(AF_INET6)` does: RFC 5952 text, in which
 * IPv4-mapped addresses (`::ffff:a.b.c.d`) and also IPv4-compatible ones (`::a.b.c.d`) end in a
 * dotted quad.
 */
export function formatIPv6(u8: Uint8Array, o: number): string {
  return formatIPv6Text(u8, o, INET_NTOP);
}
