/**
 * Collector addresses of the form `HOST:[PORT][:PROTO]`, IPv6 hosts in brackets.
 *
 * @module
 */

import { IPFIX_PORT } from "./types.ts";

/** Transport protocols of IPFIX. */
export type Protocol = "tls" | "tcp" | "udp";

/** A parsed address. */
export interface Endpoint {
  /** Host name or IP address, without brackets. */
  readonly host: string;
  readonly port: number;
  readonly protocol: Protocol;
}

const PROTOCOLS = new Set<string>(["tls", "tcp", "udp"]);

/**
 * Parses `HOST:[PORT][:PROTO]`: port 4739 and the given default protocol when left out; IPv6 in
 * brackets (`[fd00::1]:4739:udp`). Throws a TypeError that says what is wrong.
 *
 * @example
 * ```ts
 * parseAddress("[::1]:4740:udp"); // { host: "::1", port: 4740, protocol: "udp" }
 * parseAddress("aggregator.flowvis.svc"); // { host: "aggregator.flowvis.svc", port: 4739, protocol: "tls" }
 * ```
 */
export function parseAddress(text: string, defaultProtocol: Protocol = "tls"): Endpoint {
  const s = text.trim();
  let host: string;
  let rest: string;
  if (s.startsWith("[")) {
    const close = s.indexOf("]");
    if (close < 0) {
      throw new TypeError(`Invalid address "${text}": missing "]" after the IPv6 host`);
    }
    host = s.slice(1, close);
    rest = s.slice(close + 1);
    if (rest !== "" && !rest.startsWith(":")) {
      throw new TypeError(`Invalid address "${text}": expected ":" after "]"`);
    }
    rest = rest.slice(1);
  } else {
    const parts = s.split(":");
    const looksV6 = parts.length === 3 && parts[1] === "" &&
      !PROTOCOLS.has(parts[2]!.toLowerCase());
    if (parts.length > 3 || looksV6) {
      throw new TypeError(
        `Invalid address "${text}": write an IPv6 host in brackets, as [${s}]:4739:tcp`,
      );
    }
    host = parts[0]!;
    rest = parts.slice(1).join(":");
  }
  if (host === "") throw new TypeError(`Invalid address "${text}": the host is empty`);
  const [portText = "", proto = "", ...extra] = rest === "" ? [] : rest.split(":");
  if (extra.length > 0) throw new TypeError(`Invalid address "${text}": too many ":" parts`);
  let port = IPFIX_PORT;
  if (portText !== "") {
    if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) {
      throw new TypeError(`Invalid address "${text}": port "${portText}" is not 0–65535`);
    }
    port = Number(portText);
  }
  const protocol = (proto === "" ? defaultProtocol : proto.toLowerCase()) as Protocol;
  if (!PROTOCOLS.has(protocol)) {
    throw new TypeError(`Invalid address "${text}": protocol "${proto}" is not tls, tcp or udp`);
  }
  return { host, port, protocol };
}

/** `host:port` with IPv6 in brackets. */
export function formatHostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}
