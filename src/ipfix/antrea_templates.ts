/**
 * The field layouts of Antrea's flow exporter templates (256 for IPv4, 257 for IPv6): the
 * reference's IANA, reverse and Antrea elements in the order Antrea puts them on the wire.
 *
 * @module
 */

import { defaultRegistry } from "./registry.ts";
import { DEFAULT_LENGTH, type Template } from "./types.ts";

/** Template ID of the agent's IPv4 flow records. */
export const ANTREA_IPV4_TEMPLATE_ID = 256;
/** Template ID of the agent's IPv6 flow records. */
export const ANTREA_IPV6_TEMPLATE_ID = 257;

const IANA_HEAD = [
  "flowStartSeconds",
  "flowEndSeconds",
  "flowEndReason",
  "sourceTransportPort",
  "destinationTransportPort",
  "protocolIdentifier",
  "packetTotalCount",
  "octetTotalCount",
  "packetDeltaCount",
  "octetDeltaCount",
];
const REVERSE = [
  "reversePacketTotalCount",
  "reverseOctetTotalCount",
  "reversePacketDeltaCount",
  "reverseOctetDeltaCount",
];
const ANTREA = [
  "sourcePodName",
  "sourcePodNamespace",
  "sourceNodeName",
  "destinationPodName",
  "destinationPodNamespace",
  "destinationNodeName",
  "destinationServicePort",
  "destinationServicePortName",
  "ingressNetworkPolicyName",
  "ingressNetworkPolicyNamespace",
  "ingressNetworkPolicyType",
  "ingressNetworkPolicyRuleName",
  "ingressNetworkPolicyRuleAction",
  "egressNetworkPolicyName",
  "egressNetworkPolicyNamespace",
  "egressNetworkPolicyType",
  "egressNetworkPolicyRuleName",
  "egressNetworkPolicyRuleAction",
  "tcpState",
  "flowType",
];

/** Element names of the agent's flow record for one IP version, in wire order. */
export function antreaFlowElementNames(ipVersion: 4 | 6): string[] {
  const v = ipVersion === 4 ? "IPv4" : "IPv6";
  return [
    ...IANA_HEAD,
    `source${v}Address`,
    `destination${v}Address`,
    ...REVERSE,
    ...ANTREA.slice(0, 6),
    `destinationCluster${v}`,
    ...ANTREA.slice(6),
  ];
}

/** A template of the named elements, each at its type's default length. */
export function templateOf(id: number, names: readonly string[]): Template {
  return {
    id,
    scopeFieldCount: 0,
    fields: names.map((name) => {
      const element = defaultRegistry.byName(name);
      if (!element) throw new TypeError(`Unknown information element "${name}"`);
      return { element, length: DEFAULT_LENGTH[element.type] };
    }),
  };
}

/**
 * The agent's flow record template for IPv4 (256) or IPv6 (257).
 *
 * @example
 * ```ts
 * antreaFlowTemplate(4).fields.length; // 37
 * ```
 */
export function antreaFlowTemplate(ipVersion: 4 | 6): Template {
  return templateOf(
    ipVersion === 4 ? ANTREA_IPV4_TEMPLATE_ID : ANTREA_IPV6_TEMPLATE_ID,
    antreaFlowElementNames(ipVersion),
  );
}
