/**
 * Realistic Antrea IPv4 flow records for benchmarks: a simulated cluster of pods spread over
 * namespaces and nodes, with services, network policies and random ports and counters.
 *
 * @module
 */

import type { DataRecord } from "../../src/ipfix/mod.ts";
import { Rng } from "../../src/random/mod.ts";

/** Size of the simulated cluster. */
export interface ClusterShape {
  pods: number;
  namespaces: number;
  nodes: number;
  services: number;
  policies: number;
}

/** The default cluster: 1000 pods over 10 namespaces and 20 nodes. */
export const DEFAULT_CLUSTER: ClusterShape = {
  pods: 1000,
  namespaces: 10,
  nodes: 20,
  services: 100,
  policies: 40,
};

const APPS = ["frontend", "backend", "cart", "checkout", "payments", "redis", "postgres", "kafka"];
const WORDS = ["shop", "billing", "auth", "search", "media", "data", "ops", "web", "api", "ml"];
const TCP_STATES = ["ESTABLISHED", "TIME_WAIT", "CLOSE_WAIT", "SYN_SENT", "FIN_WAIT"];
const SERVICE_PORTS = [80, 443, 5432, 6379, 8080, 9092, 3306, 53];

/**
 * `count` distinct flow records of the Antrea IPv4 template (256), every element set.
 *
 * @example
 * ```ts
 * const records = antreaRecords(10_000);
 * records[0]!.sourcePodNamespace; // e.g. "shop-0"
 * ```
 */
export function antreaRecords(
  count: number,
  shape: ClusterShape = DEFAULT_CLUSTER,
  seed = 1,
): DataRecord[] {
  // Seeded, so every run encodes the same records.
  const rng = new Rng(seed);
  const rnd = () => rng.float();
  const pick = <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)]!;
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
  const namespaces = Array.from({ length: shape.namespaces }, (_, i) => `${WORDS[i % 10]}-${i}`);
  const nodes = Array.from({ length: shape.nodes }, (_, i) => `k8s-worker-${i + 1}`);
  const pods = Array.from({ length: shape.pods }, (_, i) => {
    const app = pick(APPS);
    const suffix = Math.floor(rnd() * 0xffffffff).toString(36).slice(0, 5);
    return {
      name: `${app}-${(i * 2654435761 >>> 0).toString(16).slice(0, 10)}-${suffix}`,
      namespace: namespaces[i % namespaces.length]!,
      node: nodes[i % nodes.length]!,
      ip: `10.${10 + (i % nodes.length)}.${(i >> 8) & 255}.${(i & 255) || 1}`,
    };
  });
  const services = Array.from({ length: shape.services }, (_, i) => ({
    ip: `10.96.${i >> 8}.${(i & 255) + 1}`,
    port: pick(SERVICE_PORTS),
    name: `${namespaces[i % namespaces.length]}/${pick(APPS)}-svc:${pick(["http", "grpc", "tcp"])}`,
  }));
  const policies = Array.from({ length: shape.policies }, (_, i) => ({
    name: `${pick(["allow", "deny", "isolate"])}-${pick(APPS)}-${i}`,
    namespace: namespaces[i % namespaces.length]!,
    type: int(1, 4),
    rule: `rule-${int(0, 9)}`,
    action: int(1, 3),
  }));
  const now = 1_700_000_000;
  const out: DataRecord[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const src = pick(pods);
    const dst = pick(pods);
    const viaService = rnd() < 0.6;
    const svc = viaService ? pick(services) : undefined;
    const ingress = rnd() < 0.3 ? pick(policies) : undefined;
    const egress = rnd() < 0.2 ? pick(policies) : undefined;
    const tcp = rnd() < 0.85;
    const packets = int(1, 5_000_000);
    const octets = packets * int(60, 1500);
    const rPackets = int(1, 5_000_000);
    const rOctets = rPackets * int(60, 1500);
    const start = now - int(0, 86_400);
    out[i] = {
      flowStartSeconds: start,
      flowEndSeconds: start + int(1, 3600),
      flowEndReason: int(1, 5),
      sourceTransportPort: int(32768, 60999),
      destinationTransportPort: svc ? svc.port : pick(SERVICE_PORTS),
      protocolIdentifier: tcp ? 6 : 17,
      packetTotalCount: packets,
      octetTotalCount: octets,
      packetDeltaCount: int(0, 10_000),
      octetDeltaCount: int(0, 15_000_000),
      sourceIPv4Address: src.ip,
      destinationIPv4Address: dst.ip,
      reversePacketTotalCount: rPackets,
      reverseOctetTotalCount: rOctets,
      reversePacketDeltaCount: int(0, 10_000),
      reverseOctetDeltaCount: int(0, 15_000_000),
      sourcePodName: src.name,
      sourcePodNamespace: src.namespace,
      sourceNodeName: src.node,
      destinationPodName: dst.name,
      destinationPodNamespace: dst.namespace,
      destinationNodeName: dst.node,
      destinationClusterIPv4: svc ? svc.ip : "0.0.0.0",
      destinationServicePort: svc ? svc.port : 0,
      destinationServicePortName: svc ? svc.name : "",
      ingressNetworkPolicyName: ingress?.name ?? "",
      ingressNetworkPolicyNamespace: ingress?.namespace ?? "",
      ingressNetworkPolicyType: ingress?.type ?? 0,
      ingressNetworkPolicyRuleName: ingress?.rule ?? "",
      ingressNetworkPolicyRuleAction: ingress?.action ?? 0,
      egressNetworkPolicyName: egress?.name ?? "",
      egressNetworkPolicyNamespace: egress?.namespace ?? "",
      egressNetworkPolicyType: egress?.type ?? 0,
      egressNetworkPolicyRuleName: egress?.rule ?? "",
      egressNetworkPolicyRuleAction: egress?.action ?? 0,
      tcpState: tcp ? pick(TCP_STATES) : "",
      flowType: src.node === dst.node ? 1 : int(2, 3),
    };
  }
  return out;
}
