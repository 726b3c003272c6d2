/**
 * The registries against their sources, transcribed independently of the registry code: the
 * Antrea table of `reference/antrea-ipfix-elements.md` (go-ipfix's registry_antrea.csv) and
 * RFC 5103 §6.1's list of IANA elements that have no reverse counterpart.
 */

import { assertEquals, assertStrictEquals } from "../../tests/_assert.ts";
import { IANA_ELEMENTS } from "./iana.generated.ts";
import { defaultRegistry } from "./registry.ts";
import { ANTREA_PEN, REVERSE_PEN } from "./types.ts";

/** ID, name and abstract data type of every Antrea element, 100–172, as the reference lists them. */
const ANTREA_REFERENCE = `
  100 sourcePodNamespace string
  101 sourcePodName string
  102 destinationPodNamespace string
  103 destinationPodName string
  104 sourceNodeName string
  105 destinationNodeName string
  106 destinationClusterIPv4 ipv4Address
  107 destinationClusterIPv6 ipv6Address
  108 destinationServicePort unsigned16
  109 destinationServicePortName string
  110 ingressNetworkPolicyName string
  111 ingressNetworkPolicyNamespace string
  112 egressNetworkPolicyName string
  113 egressNetworkPolicyNamespace string
  114 ingressNetworkPolicyUID string
  115 ingressNetworkPolicyType unsigned8
  116 ingressNetworkPolicyRulePriority signed32
  117 egressNetworkPolicyUID string
  118 egressNetworkPolicyType unsigned8
  119 egressNetworkPolicyRulePriority signed32
  120 packetTotalCountFromSourceNode unsigned64
  121 octetTotalCountFromSourceNode unsigned64
  122 packetDeltaCountFromSourceNode unsigned64
  123 octetDeltaCountFromSourceNode unsigned64
  124 reversePacketTotalCountFromSourceNode unsigned64
  125 reverseOctetTotalCountFromSourceNode unsigned64
  126 reversePacketDeltaCountFromSourceNode unsigned64
  127 reverseOctetDeltaCountFromSourceNode unsigned64
  128 packetTotalCountFromDestinationNode unsigned64
  129 octetTotalCountFromDestinationNode unsigned64
  130 packetDeltaCountFromDestinationNode unsigned64
  131 octetDeltaCountFromDestinationNode unsigned64
  132 reversePacketTotalCountFromDestinationNode unsigned64
  133 reverseOctetTotalCountFromDestinationNode unsigned64
  134 reversePacketDeltaCountFromDestinationNode unsigned64
  135 reverseOctetDeltaCountFromDestinationNode unsigned64
  136 tcpState string
  137 flowType unsigned8
  138 tcpStatePrevList string
  139 ingressNetworkPolicyRuleAction unsigned8
  140 egressNetworkPolicyRuleAction unsigned8
  141 ingressNetworkPolicyRuleName string
  142 egressNetworkPolicyRuleName string
  143 sourcePodLabels string
  144 destinationPodLabels string
  145 throughput unsigned64
  146 reverseThroughput unsigned64
  147 throughputFromSourceNode unsigned64
  148 throughputFromDestinationNode unsigned64
  149 reverseThroughputFromSourceNode unsigned64
  150 reverseThroughputFromDestinationNode unsigned64
  151 flowEndSecondsFromSourceNode dateTimeSeconds
  152 flowEndSecondsFromDestinationNode dateTimeSeconds
  153 egressName string
  154 egressIP string
  155 appProtocolName string
  156 httpVals string
  157 egressNodeName string
  158 clusterId string
  159 sourcePodUUID octetArray
  160 destinationPodUUID octetArray
  161 sourceNodeUUID octetArray
  162 destinationNodeUUID octetArray
  163 destinationServiceUUID octetArray
  164 ingressNetworkPolicyUUID octetArray
  165 egressNetworkPolicyUUID octetArray
  166 egressUUID octetArray
  167 egressNodeUUID octetArray
  168 destinationServiceIPv4 ipv4Address
  169 destinationServiceIPv6 ipv6Address
  170 proxySnatIPv4 ipv4Address
  171 proxySnatIPv6 ipv6Address
  172 proxySnatPort unsigned16
`;

Deno.test("registry: Antrea elements 100–172 have the reference's names and types", () => {
  const rows = ANTREA_REFERENCE.trim().split("\n").map((l) => l.trim().split(" "));
  assertStrictEquals(rows.length, 73);
  for (const [id, name, type] of rows) {
    assertEquals(defaultRegistry.get(ANTREA_PEN, Number(id)), {
      name,
      id: Number(id),
      enterpriseId: ANTREA_PEN,
      type,
    });
    assertStrictEquals(defaultRegistry.byName(name!)?.enterpriseId, ANTREA_PEN, name);
  }
  assertEquals(defaultRegistry.get(ANTREA_PEN, 99), undefined);
  assertEquals(defaultRegistry.get(ANTREA_PEN, 173), undefined);
});

/**
 * RFC 5103 §6.1: process configuration, process statistics and scope elements, paddingOctets and
 * biflowDirection are not reversible.
 */
const NOT_REVERSIBLE: Record<number, string> = {
  130: "exporterIPv4Address",
  131: "exporterIPv6Address",
  173: "flowKeyIndicator",
  211: "collectorIPv4Address",
  212: "collectorIPv6Address",
  213: "exportInterface",
  214: "exportProtocolVersion",
  215: "exportTransportProtocol",
  216: "collectorTransportPort",
  217: "exporterTransportPort",
  40: "exportedOctetTotalCount",
  41: "exportedMessageTotalCount",
  42: "exportedFlowRecordTotalCount",
  163: "observedFlowTotalCount",
  164: "ignoredPacketTotalCount",
  165: "ignoredOctetTotalCount",
  166: "notSentFlowTotalCount",
  167: "notSentPacketTotalCount",
  168: "notSentOctetTotalCount",
  137: "commonPropertiesId",
  138: "observationPointId",
  141: "lineCardId",
  142: "portId",
  143: "meteringProcessId",
  144: "exportingProcessId",
  145: "templateId",
  148: "flowId",
  149: "observationDomainId",
  210: "paddingOctets",
  239: "biflowDirection",
};

Deno.test("registry: every IANA element but RFC 5103's non-reversible ones has a reverse element", () => {
  let reversed = 0;
  for (const [id, name, type] of IANA_ELEMENTS) {
    const reverse = defaultRegistry.get(REVERSE_PEN, id);
    if (id in NOT_REVERSIBLE) {
      assertStrictEquals(name, NOT_REVERSIBLE[id], `IANA element ${id}`);
      assertStrictEquals(reverse, undefined, `${name} has no reverse element`);
      // It decodes, as any unknown element does, as octets under its numbers.
      assertStrictEquals(defaultRegistry.resolve(REVERSE_PEN, id).name, `unknown:29305:${id}`);
      continue;
    }
    const reverseName = "reverse" + name[0]!.toUpperCase() + name.slice(1);
    assertEquals(reverse, { name: reverseName, id, enterpriseId: REVERSE_PEN, type }, name);
    reversed++;
  }
  assertStrictEquals(reversed, IANA_ELEMENTS.length - Object.keys(NOT_REVERSIBLE).length);
  assertStrictEquals(defaultRegistry.byName("reverseOctetDeltaCount")?.id, 1);
});
