/**
 * The JSON form of an aggregated flow for an external collector: one flat object per flow, and
 * its split into several objects when one datagram cannot carry it.
 *
 * @module
 */

import type { FlowRow } from "../../store/mod.ts";
import { rowToRecord } from "./row_record.ts";

/** A flow as a flat JSON object: IPFIX element names, numbers as JSON numbers. */
export type JsonFlow = Record<string, number | string>;

/**
 * The JSON object of a row: every field of {@link rowToRecord} under its IPFIX element name
 * (numbers as JSON numbers, addresses and strings as strings, times as Unix seconds), plus one
 * flowvis field: `uncorrelated` (1 when the flow is an inter-node flow exported with only one of
 * its halves, else 0).
 *
 * @example
 * ```ts
 * import { emptyFlowRow } from "../../store/mod.ts";
 * const o = rowToJson({ ...emptyFlowRow(), sourceIP: "10.0.0.1", octetDeltaCount: 5 });
 * o.sourceIPv4Address; // "10.0.0.1"
 * o.octetDeltaCount; // 5
 * o.uncorrelated; // 0
 * ```
 */
export function rowToJson(row: FlowRow): JsonFlow {
  const o = rowToRecord(row) as JsonFlow;
  o.uncorrelated = row.uncorrelated;
  return o;
}

/** Fields repeated in every part of a split flow, so that a receiver can join the parts. */
const KEY_FIELDS = [
  "flowStartSeconds",
  "flowEndSeconds",
  "sourceIPv4Address",
  "destinationIPv4Address",
  "sourceIPv6Address",
  "destinationIPv6Address",
  "sourceTransportPort",
  "destinationTransportPort",
  "protocolIdentifier",
  "clusterId",
];

/** Smallest datagram limit: a part must hold the key fields and the part counters. */
export const MIN_JSON_DATAGRAM = 512;

const utf8 = new TextEncoder();

function size(s: string): number {
  return utf8.encode(s).length;
}

/** JSON text of `"name":value`. */
function member(name: string, v: number | string): string {
  return `${JSON.stringify(name)}:${JSON.stringify(v)}`;
}

/** The longest prefix of `s` (whole code points) whose member text fits `budget` octets. */
function truncateToFit(name: string, s: string, budget: number): string {
  const cps = Array.from(s);
  let lo = 0;
  let hi = cps.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (size(member(name, cps.slice(0, mid).join(""))) <= budget) lo = mid;
    else hi = mid - 1;
  }
  return cps.slice(0, lo).join("");
}

/**
 * The JSON texts (no newline) that carry `flow` in datagrams of at most `maxSize` octets. A flow
 * that fits is one text. A larger one is split into parts: each part is a JSON object with the
 * key fields (times, addresses, ports, protocol, clusterId), `part` (1-based) and `parts`, and as
 * many of the other fields, in order, as fit. A single string value too long for any datagram is
 * cut to fit and its name listed in the part's `truncated` array. Throws a RangeError when
 * `maxSize` is below {@link MIN_JSON_DATAGRAM}.
 *
 * @example
 * ```ts
 * const parts = jsonDatagrams({ sourceIPv4Address: "10.0.0.1", sourcePodLabels: "x".repeat(900) }, 512);
 * parts.length; // 2
 * JSON.parse(parts[0]!).parts; // 2
 * ```
 */
export function jsonDatagrams(flow: JsonFlow, maxSize: number): string[] {
  if (!Number.isInteger(maxSize) || maxSize < MIN_JSON_DATAGRAM) {
    throw new RangeError(
      `Invalid datagram size ${maxSize}: expected an integer of at least ${MIN_JSON_DATAGRAM}`,
    );
  }
  const whole = JSON.stringify(flow);
  if (size(whole) <= maxSize) return [whole];
  const key = KEY_FIELDS.filter((k) => k in flow).map((k) => member(k, flow[k]!));
  // Room for `"part":N,"parts":N,"truncated":[…]` with numbers of up to 5 digits.
  const head = `{${key.join(",")},"part":00000,"parts":00000`;
  const base = size(head) + 1; // and the closing brace
  const parts: { members: string[]; used: number; truncated: string[] }[] = [];
  let cur = { members: [] as string[], used: base, truncated: [] as string[] };
  const keySet = new Set(KEY_FIELDS);
  for (const [name, v] of Object.entries(flow)) {
    if (keySet.has(name)) continue;
    let m = member(name, v);
    let n = size(m) + 1; // and a comma
    if (cur.used + n > maxSize && cur.members.length > 0) {
      parts.push(cur);
      cur = { members: [], used: base, truncated: [] };
    }
    if (cur.used + n > maxSize) {
      // Alone in a part and still too long: only a string can be cut.
      const note = size(`,"truncated":[${JSON.stringify(name)}]`);
      const room = maxSize - cur.used - 1 - note;
      if (typeof v !== "string" || room <= size(member(name, ""))) continue;
      m = member(name, truncateToFit(name, v, room));
      n = size(m) + 1 + note;
      cur.truncated.push(name);
    }
    cur.members.push(m);
    cur.used += n;
  }
  if (cur.members.length > 0) parts.push(cur);
  return parts.map((p, i) => {
    const extra = [`"part":${i + 1}`, `"parts":${parts.length}`, ...p.members];
    if (p.truncated.length > 0) extra.push(`"truncated":${JSON.stringify(p.truncated)}`);
    return `{${[...key, ...extra].join(",")}}`;
  });
}
