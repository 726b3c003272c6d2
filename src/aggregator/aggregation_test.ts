import { assert, assertEquals, assertThrows } from "../../tests/_assert.ts";
import type { DataRecord } from "../ipfix/mod.ts";
import type { FlowRow } from "../store/mod.ts";
import { AggregationProcess } from "./aggregation.ts";

const S = 1_000; // seconds

/** An agent's inter-node record as the source node (web-0 on node-a) sends it. */
function fromSource(over: DataRecord = {}): DataRecord {
  return {
    flowStartSeconds: 1700000000,
    flowEndSeconds: 1700000010,
    flowEndReason: 2,
    sourceTransportPort: 40001,
    destinationTransportPort: 8080,
    protocolIdentifier: 6,
    packetTotalCount: 100,
    octetTotalCount: 100_000,
    packetDeltaCount: 100,
    octetDeltaCount: 100_000,
    sourceIPv4Address: "10.244.1.5",
    destinationIPv4Address: "10.244.2.7",
    reversePacketTotalCount: 80,
    reverseOctetTotalCount: 8_000,
    reversePacketDeltaCount: 80,
    reverseOctetDeltaCount: 8_000,
    sourcePodName: "web-0",
    sourcePodNamespace: "shop",
    sourceNodeName: "node-a",
    destinationPodName: "",
    destinationPodNamespace: "",
    destinationNodeName: "",
    destinationClusterIPv4: "10.96.0.10",
    destinationServicePort: 80,
    destinationServicePortName: "shop/api:http",
    ingressNetworkPolicyName: "",
    ingressNetworkPolicyNamespace: "",
    ingressNetworkPolicyType: 0,
    ingressNetworkPolicyRuleName: "",
    ingressNetworkPolicyRuleAction: 0,
    egressNetworkPolicyName: "web-egress",
    egressNetworkPolicyNamespace: "shop",
    egressNetworkPolicyType: 1,
    egressNetworkPolicyRuleName: "",
    egressNetworkPolicyRuleAction: 1,
    tcpState: "ESTABLISHED",
    flowType: 2,
    ...over,
  };
}

/** The same connection as the destination node (api-1 on node-b) sends it. */
function fromDestination(over: DataRecord = {}): DataRecord {
  return fromSource({
    packetTotalCount: 98,
    octetTotalCount: 99_000,
    packetDeltaCount: 98,
    octetDeltaCount: 99_000,
    reversePacketTotalCount: 80,
    reverseOctetTotalCount: 8_000,
    reversePacketDeltaCount: 80,
    reverseOctetDeltaCount: 8_000,
    sourcePodName: "",
    sourcePodNamespace: "",
    sourceNodeName: "",
    destinationPodName: "api-1",
    destinationPodNamespace: "shop",
    destinationNodeName: "node-b",
    destinationClusterIPv4: "0.0.0.0",
    destinationServicePort: 0,
    destinationServicePortName: "",
    ingressNetworkPolicyName: "api-ingress",
    ingressNetworkPolicyNamespace: "shop",
    ingressNetworkPolicyType: 1,
    ingressNetworkPolicyRuleAction: 1,
    egressNetworkPolicyName: "",
    egressNetworkPolicyNamespace: "",
    egressNetworkPolicyType: 0,
    egressNetworkPolicyRuleAction: 0,
    flowEndSeconds: 1700000011,
    ...over,
  });
}

/** The row of the correlated flow after one record from each node. */
const CORRELATED: FlowRow = {
  flowStartSeconds: 1700000000,
  flowEndSeconds: 1700000011,
  flowEndSecondsFromSourceNode: 1700000010,
  flowEndSecondsFromDestinationNode: 1700000011,
  flowEndReason: 2,
  sourceIP: "10.244.1.5",
  destinationIP: "10.244.2.7",
  sourceTransportPort: 40001,
  destinationTransportPort: 8080,
  protocolIdentifier: 6,
  packetTotalCount: 100,
  octetTotalCount: 100_000,
  packetDeltaCount: 100,
  octetDeltaCount: 100_000,
  reversePacketTotalCount: 80,
  reverseOctetTotalCount: 8_000,
  reversePacketDeltaCount: 80,
  reverseOctetDeltaCount: 8_000,
  sourcePodName: "web-0",
  sourcePodNamespace: "shop",
  sourceNodeName: "node-a",
  destinationPodName: "api-1",
  destinationPodNamespace: "shop",
  destinationNodeName: "node-b",
  destinationClusterIP: "10.96.0.10",
  destinationServicePort: 80,
  destinationServicePortName: "shop/api:http",
  ingressNetworkPolicyName: "api-ingress",
  ingressNetworkPolicyNamespace: "shop",
  ingressNetworkPolicyRuleName: "",
  ingressNetworkPolicyRuleAction: 1,
  ingressNetworkPolicyType: 1,
  egressNetworkPolicyName: "web-egress",
  egressNetworkPolicyNamespace: "shop",
  egressNetworkPolicyRuleName: "",
  egressNetworkPolicyRuleAction: 1,
  egressNetworkPolicyType: 1,
  tcpState: "ESTABLISHED",
  flowType: 2,
  sourcePodLabels: "",
  destinationPodLabels: "",
  // 100 000 octets × 8 over the 10 s since flow start (source) and 11 s (destination).
  throughput: 80_000,
  reverseThroughput: 6_400,
  throughputFromSourceNode: 80_000,
  throughputFromDestinationNode: 72_000,
  reverseThroughputFromSourceNode: 6_400,
  reverseThroughputFromDestinationNode: 5_818,
  clusterUUID: "",
  egressName: "",
  egressIP: "",
  packetTotalCountFromSourceNode: 100,
  octetTotalCountFromSourceNode: 100_000,
  packetDeltaCountFromSourceNode: 100,
  octetDeltaCountFromSourceNode: 100_000,
  reversePacketTotalCountFromSourceNode: 80,
  reverseOctetTotalCountFromSourceNode: 8_000,
  reversePacketDeltaCountFromSourceNode: 80,
  reverseOctetDeltaCountFromSourceNode: 8_000,
  packetTotalCountFromDestinationNode: 98,
  octetTotalCountFromDestinationNode: 99_000,
  packetDeltaCountFromDestinationNode: 98,
  octetDeltaCountFromDestinationNode: 99_000,
  reversePacketTotalCountFromDestinationNode: 80,
  reverseOctetTotalCountFromDestinationNode: 8_000,
  reversePacketDeltaCountFromDestinationNode: 80,
  reverseOctetDeltaCountFromDestinationNode: 8_000,
  uncorrelated: 0,
};

function process(): AggregationProcess {
  return new AggregationProcess({
    activeTimeoutMs: 60 * S,
    inactiveTimeoutMs: 90 * S,
    correlationTimeoutMs: 120 * S,
    clock: () => {
      throw new Error("tests pass the time");
    },
  });
}

Deno.test("aggregation: the two halves of an inter-node flow make one complete record", () => {
  const agg = process();
  agg.add(fromSource(), 0);
  assertEquals(agg.stats().waitingForCorrelation, 1);
  agg.add(fromDestination(), 1 * S);
  assertEquals(agg.stats().correlated, 1);
  assertEquals(agg.stats().waitingForCorrelation, 0);
  assertEquals(agg.expire(59 * S), []);
  assertEquals(agg.expire(60 * S), [CORRELATED]);
});

Deno.test("aggregation: correlation does not depend on which half comes first", () => {
  const agg = process();
  agg.add(fromDestination(), 0);
  agg.add(fromSource(), 1 * S);
  assertEquals(agg.expire(60 * S), [CORRELATED]);
});

Deno.test("aggregation: a duplicate record adds nothing", () => {
  const agg = process();
  agg.add(fromSource(), 0);
  agg.add(fromSource(), 0);
  agg.add(fromDestination(), 0);
  agg.add(fromDestination(), 0);
  assertEquals(agg.stats().recordsStale, 2);
  assertEquals(agg.expire(60 * S), [CORRELATED]);
});

Deno.test("aggregation: out-of-order records count each octet once", () => {
  const agg = process();
  const r1 = fromSource();
  const r2 = fromSource({
    flowEndSeconds: 1700000015,
    packetTotalCount: 150,
    octetTotalCount: 150_000,
    packetDeltaCount: 50,
    octetDeltaCount: 50_000,
    tcpState: "FIN_WAIT",
  });
  agg.add(r2, 0); // the later record first (its delta is relative to r1, which the agent sent)
  agg.add(r1, 0); // then the earlier one: older totals, nothing added
  agg.add(fromDestination(), 0);
  const [row] = agg.expire(60 * S);
  assertEquals(row?.packetTotalCountFromSourceNode, 150);
  // The first record seen from the source node brings its delta (50); r1 is older: 0.
  assertEquals(row?.packetDeltaCountFromSourceNode, 50);
  assertEquals(row?.octetDeltaCount, 50_000);
  assertEquals(row?.tcpState, "FIN_WAIT");
  assertEquals(row?.flowEndSecondsFromSourceNode, 1700000015);
  assertEquals(agg.stats().recordsStale, 1);
});

Deno.test("aggregation: deltas are summed between exports and restart after each export", () => {
  const agg = process();
  agg.add(fromSource(), 0);
  agg.add(fromDestination(), 0);
  agg.add(
    fromSource({
      flowEndSeconds: 1700000020,
      packetTotalCount: 130,
      octetTotalCount: 130_000,
      packetDeltaCount: 30,
      octetDeltaCount: 30_000,
    }),
    10 * S,
  );
  let [row] = agg.expire(60 * S);
  assertEquals(row?.packetDeltaCountFromSourceNode, 130);
  assertEquals(row?.packetTotalCountFromSourceNode, 130);
  assertEquals(row?.octetDeltaCount, 130_000);
  // 130 000 octets × 8 over 20 s.
  assertEquals(row?.throughputFromSourceNode, 52_000);
  agg.add(
    fromSource({
      flowEndSeconds: 1700000030,
      packetTotalCount: 140,
      octetTotalCount: 140_000,
      packetDeltaCount: 10,
      octetDeltaCount: 10_000,
    }),
    70 * S,
  );
  [row] = agg.expire(120 * S);
  assertEquals(row?.packetDeltaCountFromSourceNode, 10);
  assertEquals(row?.packetDeltaCountFromDestinationNode, 0);
  assertEquals(row?.packetTotalCountFromDestinationNode, 98);
  // 10 000 octets × 8 over the 10 s since the previous export's flow end.
  assertEquals(row?.throughputFromSourceNode, 8_000);
  assertEquals(row?.throughputFromDestinationNode, 0);
});

Deno.test("aggregation: a half whose partner never comes is exported alone, marked, after the wait", () => {
  const agg = process();
  agg.add(fromSource(), 0);
  // Active timeout passed, but the partner may still come.
  assertEquals(agg.expire(60 * S), []);
  agg.add(fromSource({ flowEndSeconds: 1700000070 }), 60 * S);
  assertEquals(agg.expire(119 * S), []);
  const rows = agg.expire(120 * S);
  assertEquals(rows.length, 1);
  const row = rows[0]!;
  assertEquals(row.uncorrelated, 1);
  assertEquals(row.sourcePodName, "web-0");
  assertEquals(row.destinationPodName, "");
  assertEquals(row.packetTotalCountFromDestinationNode, 0);
  assertEquals(row.flowEndSecondsFromDestinationNode, 0);
  assertEquals(row.throughputFromDestinationNode, 0);
  assertEquals(row.octetDeltaCount, 100_000);
  assertEquals(agg.stats().uncorrelatedExported, 1);
  assertEquals(agg.stats().waitingForCorrelation, 1);
  // The partner after all: later exports are complete.
  agg.add(fromDestination({ flowEndSeconds: 1700000080 }), 130 * S);
  const [late] = agg.expire(180 * S);
  assertEquals(late?.uncorrelated, 0);
  assertEquals(late?.destinationPodName, "api-1");
  assertEquals(agg.stats().waitingForCorrelation, 0);
});

Deno.test("aggregation: a half alone that goes quiet is exported at the inactive timeout", () => {
  const agg = new AggregationProcess({
    activeTimeoutMs: 60 * S,
    inactiveTimeoutMs: 30 * S,
    correlationTimeoutMs: 120 * S,
  });
  agg.add(fromDestination(), 0);
  const rows = agg.expire(30 * S);
  assertEquals(rows.map((r) => [r.uncorrelated, r.destinationPodName]), [[1, "api-1"]]);
  assertEquals(agg.size, 0);
  assertEquals(agg.stats().waitingForCorrelation, 0);
});

Deno.test("aggregation: intra-node flows are ready at once and fill both node blocks", () => {
  const agg = process();
  agg.add(
    fromSource({
      flowType: 1,
      destinationPodName: "api-1",
      destinationPodNamespace: "shop",
      destinationNodeName: "node-a",
    }),
    0,
  );
  const [row] = agg.expire(60 * S);
  assertEquals(row?.uncorrelated, 0);
  assertEquals(row?.packetTotalCountFromSourceNode, 100);
  assertEquals(row?.packetTotalCountFromDestinationNode, 100);
  assertEquals(row?.flowEndSecondsFromSourceNode, 1700000010);
  assertEquals(row?.flowEndSecondsFromDestinationNode, 1700000010);
  assertEquals(row?.throughput, 80_000);
  assertEquals(row?.throughputFromDestinationNode, 80_000);
  assertEquals(agg.stats().waitingForCorrelation, 0);
});

Deno.test("aggregation: denied inter-node flows need no correlation", () => {
  const agg = process();
  agg.add(fromSource({ egressNetworkPolicyRuleAction: 2, reversePacketTotalCount: 0 }), 0);
  // Denied at the destination's ingress: the source node's record says so (flowvis agents
  // report the verdict of a denied connection); the destination node never sees it.
  agg.add(
    fromSource({
      sourceTransportPort: 2,
      ingressNetworkPolicyName: "api-ingress",
      ingressNetworkPolicyNamespace: "shop",
      ingressNetworkPolicyRuleAction: 2,
      tcpState: "SYN_SENT",
    }),
    0,
  );
  agg.add(fromSource({ sourceTransportPort: 3, ingressNetworkPolicyRuleAction: 3 }), 0);
  assertEquals(agg.stats().waitingForCorrelation, 0);
  const rows = agg.expire(60 * S).sort((a, b) => a.sourceTransportPort - b.sourceTransportPort);
  assertEquals(rows.map((r) => r.uncorrelated), [0, 0, 0]);
  assertEquals(
    rows.map((r) => [r.egressNetworkPolicyRuleAction, r.ingressNetworkPolicyRuleAction]),
    [
      [1, 2],
      [1, 3],
      [2, 0],
    ],
  );
});

Deno.test("aggregation: IPv6 flows", () => {
  const agg = process();
  const v6 = (r: DataRecord): DataRecord => {
    const {
      sourceIPv4Address: _s,
      destinationIPv4Address: _d,
      destinationClusterIPv4: c,
      ...rest
    } = r;
    return {
      ...rest,
      sourceIPv6Address: "fd00:10:244:1::5",
      destinationIPv6Address: "fd00:10:244:2::7",
      destinationClusterIPv6: c === "0.0.0.0" ? "::" : "fd00:10:96::a",
    };
  };
  agg.add(v6(fromSource()), 0);
  agg.add(v6(fromDestination()), 0);
  const [row] = agg.expire(60 * S);
  assertEquals(row, {
    ...CORRELATED,
    sourceIP: "fd00:10:244:1::5",
    destinationIP: "fd00:10:244:2::7",
    destinationClusterIP: "fd00:10:96::a",
  });
});

Deno.test("aggregation: active timeout keeps the flow, inactive timeout forgets it", () => {
  const agg = process();
  agg.add(fromSource({ flowType: 1, destinationPodName: "api-1" }), 0);
  assertEquals(agg.expire(60 * S).length, 1);
  assertEquals(agg.size, 1);
  assertEquals(agg.expire(89 * S).length, 0);
  // No record since t=0: gone at 90 s, without a row that would repeat the last one.
  assertEquals(agg.expire(90 * S), []);
  assertEquals(agg.size, 0);
  assertEquals(agg.expire(1000 * S), []);
  // A record keeps it alive: exports every active timeout.
  agg.add(fromSource({ flowType: 1, destinationPodName: "api-1" }), 1000 * S);
  agg.add(fromSource({ flowType: 1, destinationPodName: "api-1" }), 1050 * S);
  assertEquals(agg.expire(1060 * S).length, 1);
  agg.add(fromSource({ flowType: 1, destinationPodName: "api-1" }), 1100 * S);
  assertEquals(agg.expire(1120 * S).length, 1);
  assertEquals(agg.size, 1);
  assertEquals(agg.nextDeadline(), 1180 * S);
  // Alive but silent: no row at the next active timeout, gone at the inactive one.
  assertEquals(agg.expire(1180 * S), []);
  assertEquals(agg.size, 1);
  assertEquals(agg.expire(1190 * S), []);
  assertEquals(agg.size, 0);
});

Deno.test("aggregation: end of flow is kept, a reused 5-tuple starts over", () => {
  const agg = process();
  const intra = { flowType: 1, destinationPodName: "api-1" };
  agg.add(fromSource({ ...intra, flowEndReason: 3, tcpState: "TIME_WAIT" }), 0);
  agg.add(fromSource({ ...intra, flowEndReason: 2, tcpState: "TIME_WAIT" }), 0);
  let [row] = agg.expire(60 * S);
  assertEquals(row?.flowEndReason, 3);
  agg.add(
    fromSource({
      ...intra,
      flowStartSeconds: 1700000100,
      flowEndSeconds: 1700000105,
      packetTotalCount: 5,
      octetTotalCount: 500,
      packetDeltaCount: 5,
      octetDeltaCount: 500,
      flowEndReason: 1,
    }),
    70 * S,
  );
  [row] = agg.expire(120 * S);
  assertEquals(row?.flowStartSeconds, 1700000100);
  assertEquals(row?.packetTotalCount, 5);
  assertEquals(row?.packetDeltaCount, 5);
  assertEquals(row?.flowEndReason, 1);
});

Deno.test("aggregation: records without a 5-tuple are counted and skipped", () => {
  const agg = process();
  assertEquals(agg.add({ octetDeltaCount: 5 }, 0), false);
  assertEquals(agg.add({ sourceIPv4Address: "10.0.0.1", destinationIPv4Address: "x" }, 0), false);
  assertEquals(agg.stats().recordsInvalid, 2);
  assertEquals(agg.size, 0);
});

Deno.test("aggregation: records from foreign exporters (no Antrea fields) aggregate too", () => {
  const agg = process();
  agg.add({
    sourceIPv4Address: "192.0.2.1",
    destinationIPv4Address: "192.0.2.2",
    sourceTransportPort: 1,
    destinationTransportPort: 2,
    protocolIdentifier: 17,
    octetDeltaCount: 10n,
    octetTotalCount: 2n ** 60n,
  }, 0);
  const [row] = agg.expire(60 * S);
  assertEquals(row?.sourcePodName, "");
  assertEquals(row?.octetTotalCount, 2 ** 60);
  assertEquals(row?.flowType, 0);
});

Deno.test("aggregation: beyond maxFlows, new flows are exported at once, not lost", () => {
  const agg = new AggregationProcess({ maxFlows: 1 });
  agg.add(fromSource({ flowType: 1, destinationPodName: "api-1" }), 0);
  agg.add(fromSource({ sourceTransportPort: 2 }), 0);
  assertEquals(agg.size, 1);
  assertEquals(agg.nextDeadline(), 0);
  const rows = agg.expire(0);
  assertEquals(rows.length, 1);
  assertEquals(rows[0]?.sourceTransportPort, 2);
  assertEquals(rows[0]?.uncorrelated, 1);
  assertEquals(rows[0]?.packetTotalCountFromSourceNode, 100);
  assertEquals(agg.stats().overflowExported, 1);
});

Deno.test("aggregation: flowRecords filters the cache without exporting", () => {
  const agg = process();
  agg.add(fromSource(), 0);
  agg.add(fromDestination(), 0);
  agg.add(fromSource({ sourceTransportPort: 5, protocolIdentifier: 17 }), 0);
  assertEquals(agg.flowRecords().length, 2);
  assertEquals(agg.flowRecords({ srcip: "10.244.1.5", proto: 6 }), [CORRELATED]);
  assertEquals(agg.flowRecords({ dstip: "10.244.2.7", srcport: 5 }).length, 1);
  assertEquals(agg.flowRecords({ dstip: "10.0.0.1" }), []);
  assertEquals(agg.flowRecords({ dstport: 8080 }, 1).length, 1);
  // Nothing was reset.
  assertEquals(agg.expire(60 * S)[0], CORRELATED);
});

Deno.test("aggregation: pod labels come from the lookup, {} for a pod without labels", () => {
  const agg = new AggregationProcess({
    podLabels: (ns, name) => ns === "shop" && name === "web-0" ? '{"app":"web"}' : undefined,
  });
  agg.add(fromSource(), 0);
  agg.add(fromDestination(), 0);
  const [row] = agg.drain();
  assertEquals(row?.sourcePodLabels, '{"app":"web"}');
  assertEquals(row?.destinationPodLabels, "{}");
  assertEquals(agg.size, 0);
});

Deno.test("aggregation: drain exports everything, bad options are refused", () => {
  const agg = process();
  for (let i = 0; i < 5000; i++) agg.add(fromSource({ sourceTransportPort: i }), 0);
  assertEquals(agg.size, 5000);
  const rows = agg.drain();
  assertEquals(rows.length, 5000);
  assert(rows.every((r) => r.uncorrelated === 1));
  assertEquals(agg.stats().waitingForCorrelation, 0);
  assertEquals(agg.size, 0);
  assertThrows(() => new AggregationProcess({ activeTimeoutMs: 0 }), RangeError, "activeTimeoutMs");
});

Deno.test("aggregation: field sets of pods that are gone are forgotten", () => {
  const agg = new AggregationProcess({ internLimit: 50, inactiveTimeoutMs: 10 * S });
  // Short-lived pods (CronJobs, rollouts): every flow has a pod name never seen again.
  for (let i = 0; i < 500; i++) {
    agg.add(
      fromSource({
        flowType: 1,
        sourcePodName: `job-${i}`,
        destinationPodName: "api-1",
        sourceTransportPort: i,
      }),
      i,
    );
  }
  agg.expire(20 * S); // every flow inactive: exported and gone
  assertEquals(agg.size, 0);
  assert(agg.stats().metasForgotten >= 450, `forgot ${agg.stats().metasForgotten}`);
  // Flows still cached keep theirs.
  agg.add(fromSource(), 30 * S);
  agg.add(fromDestination(), 30 * S);
  for (let i = 0; i < 100; i++) {
    agg.add(
      fromSource({ flowType: 1, sourcePodName: `job2-${i}`, sourceTransportPort: i }),
      30 * S,
    );
  }
  agg.expire(31 * S);
  assertEquals(agg.flowRecords({ dstport: 8080, srcport: 40001 }), [CORRELATED]);
});
