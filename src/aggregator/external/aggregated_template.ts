/**
 * The aggregator's flow record templates for an external IPFIX collector: the agent's elements
 * followed by what aggregation adds (per-node counters, pod labels, throughputs, per-node end
 * times) and the egress and cluster elements that the `flows` row carries.
 *
 * @module
 */

import { antreaFlowElementNames, type Template, templateOf } from "../../ipfix/mod.ts";

/**
 * Template ID of the aggregator's IPv4 records. The aggregator is its own exporter (its own
 * observation domain and transport session), so it numbers its templates from 256 like any
 * exporter; Antrea's flow aggregator does the same.
 */
export const AGGREGATED_IPV4_TEMPLATE_ID = 256;
/** Template ID of the aggregator's IPv6 records. */
export const AGGREGATED_IPV6_TEMPLATE_ID = 257;

/** Antrea 120–135: the counters as each node reported them. */
export const PER_NODE_COUNTER_ELEMENTS: readonly string[] = [
  "packetTotalCountFromSourceNode",
  "octetTotalCountFromSourceNode",
  "packetDeltaCountFromSourceNode",
  "octetDeltaCountFromSourceNode",
  "reversePacketTotalCountFromSourceNode",
  "reverseOctetTotalCountFromSourceNode",
  "reversePacketDeltaCountFromSourceNode",
  "reverseOctetDeltaCountFromSourceNode",
  "packetTotalCountFromDestinationNode",
  "octetTotalCountFromDestinationNode",
  "packetDeltaCountFromDestinationNode",
  "octetDeltaCountFromDestinationNode",
  "reversePacketTotalCountFromDestinationNode",
  "reverseOctetTotalCountFromDestinationNode",
  "reversePacketDeltaCountFromDestinationNode",
  "reverseOctetDeltaCountFromDestinationNode",
];

/** What aggregation adds after the agent's elements (Antrea IDs in comments). */
const AGGREGATED_TAIL: readonly string[] = [
  ...PER_NODE_COUNTER_ELEMENTS, // 120–135
  "sourcePodLabels", // 143
  "destinationPodLabels", // 144
  "throughput", // 145
  "reverseThroughput", // 146
  "throughputFromSourceNode", // 147
  "throughputFromDestinationNode", // 148
  "reverseThroughputFromSourceNode", // 149
  "reverseThroughputFromDestinationNode", // 150
  "flowEndSecondsFromSourceNode", // 151
  "flowEndSecondsFromDestinationNode", // 152
  "egressName", // 153
  "egressIP", // 154
  "clusterId", // 158
];

/**
 * Element names of the aggregator's flow record for one IP version, in wire order: the agent's
 * 37 elements ({@link antreaFlowElementNames}), then Antrea 120–135, 143–154 and 158.
 *
 * @example
 * ```ts
 * const names = aggregatedElementNames(4);
 * names.length; // 66
 * names.includes("throughputFromSourceNode"); // true
 * ```
 */
export function aggregatedElementNames(ipVersion: 4 | 6): string[] {
  return [...antreaFlowElementNames(ipVersion), ...AGGREGATED_TAIL];
}

/**
 * The aggregator's flow record template: {@link AGGREGATED_IPV4_TEMPLATE_ID} for IPv4,
 * {@link AGGREGATED_IPV6_TEMPLATE_ID} for IPv6, each element at its type's default length.
 *
 * @example
 * ```ts
 * const t = aggregatedTemplate(6);
 * t.id; // 257
 * t.fields.find((f) => f.element.name === "throughput")?.element.id; // 145
 * ```
 */
export function aggregatedTemplate(ipVersion: 4 | 6): Template {
  return templateOf(
    ipVersion === 4 ? AGGREGATED_IPV4_TEMPLATE_ID : AGGREGATED_IPV6_TEMPLATE_ID,
    aggregatedElementNames(ipVersion),
  );
}
