/**
 * IP addresses and CIDR prefixes, shared by the IPFIX codec, the conntrack reader, the cluster
 * cache and policy evaluation: parsing of address text (strict by default), RFC 5952 text from
 * octets, and prefixes with their host bits cleared.
 *
 * @example
 * ```ts
 * parseIP("FD00:0::A")?.text; // "fd00::a"
 * parseIP("::ffff:10.0.0.1")?.family; // 4
 * const out = new Uint8Array(16);
 * parseIPv6Into("2001:db8::1", out, 0); // true
 * formatIPv6(out, 0); // "2001:db8::1"
 * cidrContains(parseCidr("10.244.1.7/24")!, parseIP("10.244.1.99")!); // true
 * ```
 *
 * @module
 */

export {
  canonicalIP,
  formatIP,
  formatIPv4,
  formatIPv6,
  type FormatOptions,
  type IPAddress,
  ipv4Text,
  isIPv4Mapped,
  parseIP,
  parseIPv4,
  parseIPv4Into,
  parseIPv6Into,
  type ParseOptions,
} from "./ip.ts";
export {
  type Cidr,
  cidrContains,
  type CidrOptions,
  maskBytes,
  networkKey,
  parseCidr,
} from "./cidr.ts";
