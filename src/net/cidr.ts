/**
 * CIDR prefixes (`10.244.1.0/24`, `fd00::/64`, RFC 4632 §3.1 and RFC 4291 §2.3): parsing with
 * the host bits cleared, masking, containment.
 *
 * @module
 */

import {
  formatIP,
  type IPAddress,
  isIPv4Mapped,
  parseIPv4Into,
  parseIPv6Into,
  type ParseOptions,
} from "./ip.ts";

/** A parsed CIDR prefix; `bytes` are masked to the prefix. */
export interface Cidr {
  readonly family: 4 | 6;
  /** The network address: 4 or 16 octets, host bits cleared. */
  readonly bytes: Uint8Array;
  readonly prefix: number;
  /** Canonical text, `10.244.1.0/24`. */
  readonly text: string;
}

/** How CIDR text is read. */
export interface CidrOptions extends ParseOptions {
  /**
   * Take an IPv4-mapped IPv6 prefix as the IPv4 prefix it covers (`::ffff:10.0.0.0/104` is
   * 10.0.0.0/8), as Kubernetes does; one shorter than 96 bits is then refused. By default it
   * stays an IPv6 prefix.
   */
  readonly mappedAsIPv4?: boolean;
}

const PREFIX = /^(0|[1-9][0-9]{0,2})$/;

/**
 * The octets of an address with the bits after `prefix` cleared.
 *
 * @example
 * ```ts
 * maskBytes(new Uint8Array([10, 244, 1, 99]), 20); // [10, 244, 0, 0]
 * ```
 */
export function maskBytes(bytes: Uint8Array, prefix: number): Uint8Array {
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) {
    const bits = Math.max(0, Math.min(8, prefix - 8 * i));
    out[i] = bits === 0 ? 0 : bytes[i]! & (0xff << (8 - bits));
  }
  return out;
}

/**
 * A map key for the network of `bytes` under `prefix`: two addresses of the same network have
 * the same key.
 *
 * @example
 * ```ts
 * networkKey(new Uint8Array([10, 244, 1, 99]), 24); // "4/24/0af40100"
 * ```
 */
export function networkKey(bytes: Uint8Array, prefix: number): string {
  const m = maskBytes(bytes, prefix);
  let s = `${bytes.length === 4 ? 4 : 6}/${prefix}/`;
  for (const x of m) s += x.toString(16).padStart(2, "0");
  return s;
}

/**
 * Parses `ADDRESS/PREFIX`; host bits are cleared, as Go's `net.ParseCIDR` (and so Kubernetes)
 * does. Undefined when the text is not a CIDR: a prefix with a sign or leading zeros, or longer
 * than the address, is refused.
 *
 * @example
 * ```ts
 * parseCidr("10.244.1.7/24")?.text; // "10.244.1.0/24"
 * parseCidr("::ffff:10.0.0.0/104", { mappedAsIPv4: true })?.text; // "10.0.0.0/8"
 * parseCidr("10.0.0.0/33"); // undefined
 * ```
 */
export function parseCidr(text: string, options?: CidrOptions): Cidr | undefined {
  if (typeof text !== "string") return undefined;
  const slash = text.indexOf("/");
  if (slash < 0) return undefined;
  const prefixText = text.slice(slash + 1);
  if (!PREFIX.test(prefixText)) return undefined;
  let prefix = Number(prefixText);
  const address = text.slice(0, slash);
  let bytes: Uint8Array;
  if (address.indexOf(":") < 0) {
    bytes = new Uint8Array(4);
    if (!parseIPv4Into(address, bytes, 0, options)) return undefined;
  } else {
    bytes = new Uint8Array(16);
    if (!parseIPv6Into(address, bytes, 0, options)) return undefined;
    if (options?.mappedAsIPv4 === true && isIPv4Mapped(bytes, 0)) {
      // The prefix counts the IPv4 part only.
      bytes = bytes.slice(12);
      prefix -= 96;
    }
  }
  if (prefix < 0 || prefix > 8 * bytes.length) return undefined;
  const network = maskBytes(bytes, prefix);
  return {
    family: network.length === 4 ? 4 : 6,
    bytes: network,
    prefix,
    text: `${formatIP(network)}/${prefix}`,
  };
}

/**
 * Whether `cidr` contains `ip`: the same family and the same leading `prefix` bits.
 *
 * @example
 * ```ts
 * cidrContains(parseCidr("10.244.1.0/24")!, parseIP("10.244.1.255")!); // true
 * cidrContains(parseCidr("10.244.1.0/24")!, parseIP("fd00::1")!); // false
 * ```
 */
export function cidrContains(cidr: Cidr, ip: IPAddress): boolean {
  if (cidr.family !== ip.family) return false;
  const m = maskBytes(ip.bytes, cidr.prefix);
  for (let i = 0; i < m.length; i++) if (m[i] !== cidr.bytes[i]) return false;
  return true;
}
