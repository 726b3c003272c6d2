import { assertEquals } from "../../../tests/_assert.ts";
import { ANTREA_PEN, antreaFlowElementNames, defaultRegistry } from "../../ipfix/mod.ts";
import {
  AGGREGATED_IPV4_TEMPLATE_ID,
  AGGREGATED_IPV6_TEMPLATE_ID,
  aggregatedElementNames,
  aggregatedTemplate,
} from "./aggregated_template.ts";

/** Antrea's aggregated record elements, as the reference lists them: ID, name, type. */
const AGGREGATED: [number, string, string][] = [
  [120, "packetTotalCountFromSourceNode", "unsigned64"],
  [121, "octetTotalCountFromSourceNode", "unsigned64"],
  [122, "packetDeltaCountFromSourceNode", "unsigned64"],
  [123, "octetDeltaCountFromSourceNode", "unsigned64"],
  [124, "reversePacketTotalCountFromSourceNode", "unsigned64"],
  [125, "reverseOctetTotalCountFromSourceNode", "unsigned64"],
  [126, "reversePacketDeltaCountFromSourceNode", "unsigned64"],
  [127, "reverseOctetDeltaCountFromSourceNode", "unsigned64"],
  [128, "packetTotalCountFromDestinationNode", "unsigned64"],
  [129, "octetTotalCountFromDestinationNode", "unsigned64"],
  [130, "packetDeltaCountFromDestinationNode", "unsigned64"],
  [131, "octetDeltaCountFromDestinationNode", "unsigned64"],
  [132, "reversePacketTotalCountFromDestinationNode", "unsigned64"],
  [133, "reverseOctetTotalCountFromDestinationNode", "unsigned64"],
  [134, "reversePacketDeltaCountFromDestinationNode", "unsigned64"],
  [135, "reverseOctetDeltaCountFromDestinationNode", "unsigned64"],
  [143, "sourcePodLabels", "string"],
  [144, "destinationPodLabels", "string"],
  [145, "throughput", "unsigned64"],
  [146, "reverseThroughput", "unsigned64"],
  [147, "throughputFromSourceNode", "unsigned64"],
  [148, "throughputFromDestinationNode", "unsigned64"],
  [149, "reverseThroughputFromSourceNode", "unsigned64"],
  [150, "reverseThroughputFromDestinationNode", "unsigned64"],
  // The reference's aggregator table says unsigned32; the registry (and the wire: 4 octets of
  // seconds) say dateTimeSeconds.
  [151, "flowEndSecondsFromSourceNode", "dateTimeSeconds"],
  [152, "flowEndSecondsFromDestinationNode", "dateTimeSeconds"],
  [153, "egressName", "string"],
  [154, "egressIP", "string"],
  [158, "clusterId", "string"],
];

Deno.test("aggregatedElementNames: the agent's elements, then Antrea 120–135, 143–154, 158", () => {
  for (const v of [4, 6] as const) {
    const names = aggregatedElementNames(v);
    assertEquals(names.slice(0, 37), antreaFlowElementNames(v), `IPv${v} head`);
    assertEquals(names.slice(37), AGGREGATED.map(([, n]) => n), `IPv${v} tail`);
    assertEquals(new Set(names).size, names.length, "no element twice");
  }
});

Deno.test("aggregatedTemplate: stable IDs, Antrea IDs and types from the registry", () => {
  const t4 = aggregatedTemplate(4);
  const t6 = aggregatedTemplate(6);
  assertEquals([t4.id, t6.id], [256, 257]);
  assertEquals([AGGREGATED_IPV4_TEMPLATE_ID, AGGREGATED_IPV6_TEMPLATE_ID], [256, 257]);
  assertEquals(t4.fields.length, 66);
  assertEquals(
    t4.fields.slice(37).map((f) => [f.element.id, f.element.name, f.element.type]),
    AGGREGATED,
  );
  for (const f of t4.fields.slice(37)) {
    assertEquals(f.element.enterpriseId, ANTREA_PEN, f.element.name);
    assertEquals(defaultRegistry.get(ANTREA_PEN, f.element.id)?.name, f.element.name);
    assertEquals(
      f.length,
      f.element.type === "string" ? 65535 : f.element.type === "dateTimeSeconds" ? 4 : 8,
    );
  }
  assertEquals(
    t6.fields.filter((f) => f.element.type === "ipv6Address").map((f) => f.element.name),
    ["sourceIPv6Address", "destinationIPv6Address", "destinationClusterIPv6"],
  );
});
