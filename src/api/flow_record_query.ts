/**
 * The query string of `GET /flowrecords` (antctl's `get flowrecords` flags): parsing into a
 * {@link FlowRecordFilter}, strictly, and writing a filter back as a query string.
 *
 * @module
 */

import type { FlowRecordFilter } from "../aggregator/types.ts";
import { canonicalIP } from "../net/mod.ts";

/** Longest query string accepted, in characters (as sent, percent-encoded). */
export const MAX_QUERY_LENGTH = 4096;
/** Longest value of one parameter, in characters (decoded). */
export const MAX_PARAMETER_LENGTH = 256;

/** The parameters of `GET /flowrecords`, in the order they are written. */
export const FLOW_RECORD_PARAMETERS = ["srcip", "dstip", "proto", "srcport", "dstport"] as const;

/** A parameter of `GET /flowrecords`. */
export type FlowRecordParameter = typeof FLOW_RECORD_PARAMETERS[number];

/** Protocol names accepted for `proto`, with their IANA protocol numbers. */
export const PROTOCOL_NUMBERS: Readonly<Record<string, number>> = {
  icmp: 1,
  tcp: 6,
  udp: 17,
  icmpv6: 58,
  sctp: 132,
};

/**
 * A query parameter that is unknown, repeated with different values, too long or unparsable.
 * `parameter` names it; it is undefined when the query string as a whole is refused.
 */
export class QueryParameterError extends TypeError {
  readonly parameter: string | undefined;

  constructor(parameter: string | undefined, message: string) {
    super(message);
    this.name = "QueryParameterError";
    this.parameter = parameter;
  }
}

/**
 * Sets `out[name]` to `value`; a parameter given again must mean the same.
 *
 * @throws {QueryParameterError} when `out[name]` already holds another value
 */
export function setParameter(
  out: Record<string, string | number>,
  name: string,
  value: string | number,
): void {
  const earlier = out[name];
  if (earlier !== undefined && earlier !== value) {
    throw new QueryParameterError(
      name,
      `Parameter ${name} is given twice with different values: ${quote(String(earlier))} and ${
        quote(String(value))
      }`,
    );
  }
  out[name] = value;
}

/** `text` for an error message: quoted, and cut to 64 characters. */
export function quote(text: string): string {
  return JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}…` : text);
}

function isParameter(name: string): name is FlowRecordParameter {
  return (FLOW_RECORD_PARAMETERS as readonly string[]).includes(name);
}

function parseInteger(name: string, value: string, max: number, what: string): number {
  if (!/^[0-9]{1,5}$/.test(value) || Number(value) > max) {
    throw new QueryParameterError(
      name,
      `Invalid ${name} ${quote(value)}: expected ${what}, an integer from 0 to ${max}`,
    );
  }
  return Number(value);
}

/** The value of one parameter, canonical: IP text as RFC 5952 writes it, numbers for the rest. */
function parseValue(name: FlowRecordParameter, value: string): string | number {
  switch (name) {
    case "srcip":
    case "dstip": {
      const ip = canonicalIP(value);
      if (ip === undefined) {
        throw new QueryParameterError(
          name,
          `Invalid ${name} ${quote(value)}: expected an IPv4 or IPv6 address`,
        );
      }
      return ip;
    }
    case "proto": {
      const lower = value.toLowerCase();
      if (Object.hasOwn(PROTOCOL_NUMBERS, lower)) return PROTOCOL_NUMBERS[lower]!;
      if (!/^[0-9]+$/.test(value)) {
        throw new QueryParameterError(
          name,
          `Invalid proto ${quote(value)}: expected a protocol number from 0 to 255 or one of ${
            Object.keys(PROTOCOL_NUMBERS).join(", ")
          }`,
        );
      }
      return parseInteger(name, value, 255, "a protocol number");
    }
    case "srcport":
    case "dstport":
      return parseInteger(name, value, 65535, "a port");
  }
}

/**
 * Parses the query string of `GET /flowrecords` (with or without its leading `?`). Parameters:
 * `srcip`, `dstip` (IPv4 or IPv6 text, compared in canonical form), `proto` (0–255 or `tcp`,
 * `udp`, `sctp`, `icmp`, `icmpv6`, any case), `srcport`, `dstport` (0–65535). An empty value
 * counts as not given; a parameter given twice must have the same meaning both times.
 *
 * @throws {QueryParameterError} on an unknown parameter, a value that does not parse or is longer
 * than {@link MAX_PARAMETER_LENGTH}, conflicting repeats, or a query string longer than
 * {@link MAX_QUERY_LENGTH}
 *
 * @example
 * ```ts
 * parseFlowRecordQuery("?srcip=FD00::1&proto=tcp&dstport=443");
 * // { srcip: "fd00::1", proto: 6, dstport: 443 }
 * parseFlowRecordQuery("srcport=70000"); // throws QueryParameterError (parameter "srcport")
 * ```
 */
export function parseFlowRecordQuery(query: string): FlowRecordFilter {
  if (query.length > MAX_QUERY_LENGTH) {
    throw new QueryParameterError(
      undefined,
      `Query string is ${query.length} characters long, more than ${MAX_QUERY_LENGTH}`,
    );
  }
  const filter: Record<string, string | number> = {};
  for (const [name, value] of new URLSearchParams(query)) {
    if (!isParameter(name)) {
      throw new QueryParameterError(
        name,
        `Unknown query parameter ${quote(name)}: expected one of ${
          FLOW_RECORD_PARAMETERS.join(", ")
        }`,
      );
    }
    if (value.length > MAX_PARAMETER_LENGTH) {
      throw new QueryParameterError(
        name,
        `Parameter ${name} is ${value.length} characters long, more than ${MAX_PARAMETER_LENGTH}`,
      );
    }
    if (value === "") continue;
    setParameter(filter, name, parseValue(name, value));
  }
  return filter as FlowRecordFilter;
}

/**
 * The query string (without `?`) that asks `GET /flowrecords` for `filter`; "" for no filter.
 *
 * @example
 * ```ts
 * formatFlowRecordQuery({ dstip: "10.0.0.2", proto: 17 }); // "dstip=10.0.0.2&proto=17"
 * ```
 */
export function formatFlowRecordQuery(filter: FlowRecordFilter): string {
  const params = new URLSearchParams();
  for (const name of FLOW_RECORD_PARAMETERS) {
    const value = filter[name];
    if (value !== undefined) params.set(name, String(value));
  }
  return params.toString();
}
