import type { NetworkPolicy } from "kubernetes-types/networking/v1.d.ts";
import type { Pod } from "kubernetes-types/core/v1.d.ts";
import { assertEquals } from "../../tests/_assert.ts";
import { antreaFlowTemplate, compileTemplate } from "../ipfix/mod.ts";
import { StaticPolicyView } from "../policy/mod.ts";
import { ConnectionStore } from "./connection_store.ts";
import {
  classifyConnection,
  type ClusterKnowledge,
  type FlowMeta,
  flowRecord,
  FlowType,
  type PodName,
} from "./flow_record.ts";
import { entry } from "./_test_entries.ts";

// node-a: web-0 10.10.0.5 (app=web), node-b: db-0 10.10.1.7 (app=db); Service db/postgres 10.96.0.20:5432.
const PODS: Record<string, PodName & { labels: Record<string, string> }> = {
  "10.10.0.5": { namespace: "shop", name: "web-0", nodeName: "node-a", labels: { app: "web" } },
  "10.10.0.6": { namespace: "shop", name: "web-1", nodeName: "node-a", labels: { app: "web" } },
  "10.10.1.7": { namespace: "db", name: "db-0", nodeName: "node-b", labels: { app: "db" } },
};
const cluster: ClusterKnowledge = {
  podByIP: (ip) => PODS[ip],
  serviceByClusterIP: (ip, port, proto) =>
    ip === "10.96.0.20" && port === 5432 && proto === 6
      ? { servicePortName: "db/postgres:sql" }
      : undefined,
  isPodCIDR: (ip) => ip.startsWith("10.10."),
};
const pod = (ip: string): Pod => {
  const p = PODS[ip]!;
  return {
    metadata: { namespace: p.namespace, name: p.name, labels: p.labels },
    spec: { nodeName: p.nodeName, containers: [{ name: "c" }] },
    status: { podIP: ip, podIPs: [{ ip }], phase: "Running" },
  };
};
// db accepts only app=web on 5432.
const policy: NetworkPolicy = {
  metadata: { namespace: "db", name: "db-ingress" },
  spec: {
    podSelector: { matchLabels: { app: "db" } },
    ingress: [{
      from: [{ podSelector: { matchLabels: { app: "web" } }, namespaceSelector: {} }],
      ports: [{ port: 5432 }],
    }],
  },
};
const view = new StaticPolicyView({
  pods: Object.keys(PODS).map(pod),
  namespaces: [{ metadata: { name: "shop" } }, { metadata: { name: "db" } }],
  networkPolicies: [policy],
});

Deno.test("classify: inter-node Service flow, seen from the source node", () => {
  const e = entry({
    src: "10.10.0.5",
    dst: "10.96.0.20",
    dport: 5432,
    replySrc: "10.10.1.7",
    replySport: 5432,
  });
  const m = classifyConnection(e, { nodeName: "node-a", cluster, policy: view })!;
  assertEquals(m.flowType, FlowType.INTER_NODE);
  assertEquals(m.destinationIP, "10.10.1.7");
  assertEquals(m.clusterIP, "10.96.0.20");
  assertEquals(m.servicePortName, "db/postgres:sql");
  assertEquals([m.sourceLocal, m.destinationLocal], [true, false]);
  // The source node reports egress only: db's ingress verdict is the destination node's to say.
  assertEquals(m.egress, undefined);
  assertEquals(m.ingress, undefined);
  assertEquals(m.dropped, false);
});

Deno.test("classify: the destination node fills the ingress verdict", () => {
  const e = entry({ src: "10.10.0.5", dst: "10.10.1.7", dport: 5432 });
  const m = classifyConnection(e, { nodeName: "node-b", cluster, policy: view })!;
  assertEquals(m.flowType, FlowType.INTER_NODE);
  assertEquals(m.ingress?.action, 1);
  assertEquals(m.ingress?.policyName, "db-ingress");
  assertEquals(m.ingress?.ruleName, "ingress-0");
});

Deno.test("classify: an unreplied connection a policy drops is denied, naming the policy", () => {
  const e = entry({
    src: "10.10.0.5",
    dst: "10.10.1.7",
    dport: 22,
    status: 0b1000,
    tcpState: "SYN_SENT",
  });
  const m = classifyConnection(e, { nodeName: "node-a", cluster, policy: view })!;
  assertEquals(m.dropped, true);
  assertEquals(m.ingress?.action, 2);
  assertEquals(m.ingress?.policyName, "db-ingress");
});

Deno.test("classify: intra-node, to-external, from-external, and flows without a local pod", () => {
  const ctx = { nodeName: "node-a", cluster };
  assertEquals(
    classifyConnection(entry({ src: "10.10.0.5", dst: "10.10.0.6" }), ctx)?.flowType,
    FlowType.INTRA_NODE,
  );
  assertEquals(
    classifyConnection(entry({ src: "10.10.0.5", dst: "93.184.216.34", dport: 443 }), ctx)
      ?.flowType,
    FlowType.TO_EXTERNAL,
  );
  assertEquals(
    classifyConnection(entry({ src: "203.0.113.9", dst: "10.10.0.5" }), ctx)?.flowType,
    FlowType.FROM_EXTERNAL,
  );
  assertEquals(classifyConnection(entry({ src: "10.10.1.7", dst: "8.8.8.8" }), ctx), undefined);
  assertEquals(
    classifyConnection(entry({ src: "192.168.1.1", dst: "192.168.1.2" }), ctx),
    undefined,
  );
});

Deno.test("flowRecord: every Antrea IPv4 field of an active export", () => {
  let now = 1_700_000_000_000;
  const ctx = { nodeName: "node-a", cluster, policy: view };
  const store = new ConnectionStore<FlowMeta>((e) => classifyConnection(e, ctx), {
    clock: () => now,
  });
  const e = (n: number) =>
    entry({
      src: "10.10.0.5",
      dst: "10.96.0.20",
      dport: 5432,
      replySrc: "10.10.1.7",
      replySport: 5432,
      packets: n,
      bytes: 100 * n,
      rpackets: 2 * n,
      rbytes: 1000 * n,
      startNs: 1_699_999_990_123_456_789n,
    });
  store.update([e(5)]);
  now += 60_000;
  store.update([e(8)]);
  const [item] = store.due();
  const record = flowRecord(item!, "node-a");
  // The record is exactly the agent template's fields: it encodes and decodes unchanged.
  const t = compileTemplate(antreaFlowTemplate(4));
  const buf = new Uint8Array(1024);
  const dv = new DataView(buf.buffer);
  const end = t.encode(dv, buf, 0, buf.length, record);
  assertEquals(t.decode(dv, buf, 0, end, { off: 0 }), record);
  assertEquals(Object.keys(record), [...t.names]);
  assertEquals(record, {
    flowStartSeconds: 1_699_999_990,
    flowEndSeconds: 1_700_000_060,
    flowEndReason: 2,
    sourceTransportPort: 40000,
    destinationTransportPort: 5432,
    protocolIdentifier: 6,
    packetTotalCount: 8,
    octetTotalCount: 800,
    packetDeltaCount: 8,
    octetDeltaCount: 800,
    sourceIPv4Address: "10.10.0.5",
    destinationIPv4Address: "10.10.1.7",
    reversePacketTotalCount: 16,
    reverseOctetTotalCount: 8000,
    reversePacketDeltaCount: 16,
    reverseOctetDeltaCount: 8000,
    sourcePodName: "web-0",
    sourcePodNamespace: "shop",
    sourceNodeName: "node-a",
    destinationPodName: "",
    destinationPodNamespace: "",
    destinationNodeName: "",
    destinationClusterIPv4: "10.96.0.20",
    destinationServicePort: 5432,
    destinationServicePortName: "db/postgres:sql",
    ingressNetworkPolicyName: "",
    ingressNetworkPolicyNamespace: "",
    ingressNetworkPolicyType: 0,
    ingressNetworkPolicyRuleName: "",
    ingressNetworkPolicyRuleAction: 0,
    egressNetworkPolicyName: "",
    egressNetworkPolicyNamespace: "",
    egressNetworkPolicyType: 0,
    egressNetworkPolicyRuleName: "",
    egressNetworkPolicyRuleAction: 0,
    tcpState: "ESTABLISHED",
    flowType: 2,
  });
});

Deno.test("flowRecord: a dropped verdict is reported only while the connection is unreplied", () => {
  let now = 1_700_000_000_000;
  const ctx = { nodeName: "node-a", cluster, policy: view };
  const store = new ConnectionStore<FlowMeta>((e) => classifyConnection(e, ctx), {
    clock: () => now,
  });
  const spec = { src: "10.10.0.5", dst: "10.10.1.7", dport: 22 };
  store.update([entry({ ...spec, status: 0b1000, tcpState: "SYN_SENT", packets: 1, bytes: 60 })]);
  now += 15_000;
  store.update([entry({ ...spec, status: 0b1000, tcpState: "SYN_SENT", packets: 1, bytes: 60 })]);
  const [denied] = store.due();
  const r1 = flowRecord(denied!, "node-a");
  assertEquals(
    [r1.ingressNetworkPolicyName, r1.ingressNetworkPolicyRuleAction],
    ["db-ingress", 2],
  );
  // The reply came after all (the policy knowledge was stale): nothing was denied.
  now += 5_000;
  store.update([entry({ ...spec, status: 0b1110, packets: 4, bytes: 400, rpackets: 3 })]);
  now += 60_000;
  store.update([entry({ ...spec, status: 0b1110, packets: 9, bytes: 900, rpackets: 8 })]);
  const [replied] = store.due();
  const r2 = flowRecord(replied!, "node-a");
  assertEquals(
    [r2.ingressNetworkPolicyName, r2.ingressNetworkPolicyRuleAction],
    ["", 0],
  );
});
