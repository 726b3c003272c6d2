/**
 * What the agent knows about a connection (pods, Service, flow type, NetworkPolicy verdicts) and
 * the Antrea flow record built from it.
 *
 * @module
 */

import { type ConnEntry, ConnStatus } from "../conntrack/mod.ts";
import type { DataRecord } from "../ipfix/mod.ts";
import {
  evaluate,
  policyRecordFields,
  type PolicyView,
  RuleAction,
  type Verdict,
} from "../policy/mod.ts";
import type { ExportItem } from "./connection_store.ts";

/** flowType values (Antrea 137). */
export const FlowType = { INTRA_NODE: 1, INTER_NODE: 2, TO_EXTERNAL: 3, FROM_EXTERNAL: 4 } as const;
/** A flowType value. */
export type FlowType = typeof FlowType[keyof typeof FlowType];

/** A pod as flow records name it. */
export interface PodName {
  readonly namespace: string;
  readonly name: string;
  readonly nodeName: string | undefined;
}

/** The parts of the cluster knowledge (src/k8s ClusterCache) the agent uses. */
export interface ClusterKnowledge {
  podByIP(ip: string): PodName | undefined;
  serviceByClusterIP(
    ip: string,
    port: number,
    protocol: number,
  ): { readonly servicePortName: string } | undefined;
  isPodCIDR(ip: string): boolean;
  /**
   * A number that changes whenever the knowledge does (ClusterCache has one). When it changes,
   * connections declined for want of a local pod are classified again.
   */
  readonly generation?: number;
}

/** What the classifier learns about a connection once, when it is first seen. */
export interface FlowMeta {
  readonly flowType: FlowType;
  /** The real destination: the reply's source (a pod behind a Service after DNAT). */
  readonly destinationIP: string;
  readonly destinationPort: number;
  readonly sourcePod: PodName | undefined;
  readonly destinationPod: PodName | undefined;
  /** Filled only for the endpoints on this node. */
  readonly sourceLocal: boolean;
  readonly destinationLocal: boolean;
  /** The ClusterIP the client dialled, when it was a Service. */
  readonly clusterIP: string | undefined;
  readonly servicePort: number;
  readonly servicePortName: string;
  /** The ingress verdict this node reports: the destination's node, or any node for a drop. */
  readonly ingress: Verdict | undefined;
  /** The egress verdict this node reports: the source's node, or any node for a drop. */
  readonly egress: Verdict | undefined;
  /** Whether a NetworkPolicy drops it; it is denied while conntrack shows it unreplied. */
  readonly dropped: boolean;
}

/** Options of {@link classifyConnection}. */
export interface ClassifyContext {
  readonly nodeName: string;
  readonly cluster: ClusterKnowledge;
  readonly policy?: PolicyView;
}

/**
 * Classifies a conntrack entry: undefined unless one endpoint is a pod on this node. Flows from
 * outside the cluster to a local pod are kept (from-external).
 *
 * @example
 * ```ts
 * // classifyConnection(entry, { nodeName: "node-1", cluster: cache, policy: view })
 * //   → { flowType: 2, sourcePod: { namespace: "shop", name: "web-0", … }, … }
 * ```
 */
export function classifyConnection(e: ConnEntry, ctx: ClassifyContext): FlowMeta | undefined {
  const { cluster, nodeName } = ctx;
  const src = e.original.src;
  // After kube-proxy's DNAT the real peer answers from the reply tuple's source.
  const dst = e.reply.src;
  const dstPort = e.reply.srcPort;
  const sourcePod = cluster.podByIP(src);
  const destinationPod = cluster.podByIP(dst);
  const sourceLocal = sourcePod !== undefined && sourcePod.nodeName === nodeName;
  const destinationLocal = destinationPod !== undefined && destinationPod.nodeName === nodeName;
  if (!sourceLocal && !destinationLocal) return undefined;
  const srcInPodNet = sourcePod !== undefined || cluster.isPodCIDR(src);
  const dstInPodNet = destinationPod !== undefined || cluster.isPodCIDR(dst);
  let flowType: FlowType;
  if (srcInPodNet && dstInPodNet) {
    flowType = sourcePod && destinationPod && sourcePod.nodeName === destinationPod.nodeName
      ? FlowType.INTRA_NODE
      : FlowType.INTER_NODE;
  } else if (sourceLocal) {
    flowType = FlowType.TO_EXTERNAL;
  } else {
    flowType = FlowType.FROM_EXTERNAL;
  }
  const dnat = e.original.dst !== dst || e.original.dstPort !== dstPort;
  const service = dnat
    ? cluster.serviceByClusterIP(e.original.dst, e.original.dstPort, e.protocol)
    : undefined;
  const verdicts = ctx.policy
    ? evaluate(ctx.policy, {
      sourceIP: src,
      destinationIP: dst,
      protocol: e.protocol,
      destinationPort: dstPort,
    })
    : {};
  const dropped = verdicts.ingress?.action === RuleAction.Drop ||
    verdicts.egress?.action === RuleAction.Drop;
  // Each node reports its own side; a dropped connection also names the policy that dropped it.
  const keepIngress = destinationLocal || verdicts.ingress?.action === RuleAction.Drop;
  const keepEgress = sourceLocal || verdicts.egress?.action === RuleAction.Drop;
  return {
    flowType,
    destinationIP: dst,
    destinationPort: dstPort,
    sourcePod,
    destinationPod,
    sourceLocal,
    destinationLocal,
    clusterIP: service ? e.original.dst : undefined,
    servicePort: service ? e.original.dstPort : 0,
    servicePortName: service?.servicePortName ?? "",
    ingress: keepIngress ? verdicts.ingress : undefined,
    egress: keepEgress ? verdicts.egress : undefined,
    dropped,
  };
}

/**
 * Whether a connection is denied now: a NetworkPolicy drops it and conntrack has seen no reply.
 * A connection that gets a reply after all was not dropped, whatever the evaluation said.
 */
export function isDenied(meta: FlowMeta, e: ConnEntry): boolean {
  return meta.dropped && (e.status & ConnStatus.SEEN_REPLY) === 0;
}

function seconds(ns: bigint | undefined, fallbackMs: number): number {
  return ns !== undefined && ns > 0n ? Number(ns / 1_000_000_000n) : Math.floor(fallbackMs / 1000);
}

/**
 * The Antrea flow record (template 256 or 257 element names) of an export.
 *
 * @example
 * ```ts
 * // const record = flowRecord(item, "node-1"); exporter.send(item.conn.entry.family === 4 ? 256 : 257, record)
 * ```
 */
export function flowRecord(item: ExportItem<FlowMeta>, nodeName: string): DataRecord {
  const { conn, totals, deltas, reason } = item;
  const e = conn.entry;
  const m = conn.meta;
  const v4 = e.family === 4;
  const src = m.sourceLocal ? m.sourcePod : undefined;
  const dst = m.destinationLocal ? m.destinationPod : undefined;
  // Verdicts of the other node's side are reported only while the connection is denied.
  const denied = isDenied(m, e);
  const i = m.destinationLocal || denied ? m.ingress : undefined;
  const g = m.sourceLocal || denied ? m.egress : undefined;
  const r: DataRecord = {
    flowStartSeconds: seconds(e.startNs, conn.firstSeenMs),
    flowEndSeconds: reason === 3 ? seconds(e.stopNs, item.at) : Math.floor(item.at / 1000),
    flowEndReason: reason,
    sourceTransportPort: e.original.srcPort,
    destinationTransportPort: m.destinationPort,
    protocolIdentifier: e.protocol,
    packetTotalCount: totals.packets,
    octetTotalCount: totals.bytes,
    packetDeltaCount: deltas.packets,
    octetDeltaCount: deltas.bytes,
    [v4 ? "sourceIPv4Address" : "sourceIPv6Address"]: e.original.src,
    [v4 ? "destinationIPv4Address" : "destinationIPv6Address"]: m.destinationIP,
    reversePacketTotalCount: totals.reversePackets,
    reverseOctetTotalCount: totals.reverseBytes,
    reversePacketDeltaCount: deltas.reversePackets,
    reverseOctetDeltaCount: deltas.reverseBytes,
    sourcePodName: src?.name ?? "",
    sourcePodNamespace: src?.namespace ?? "",
    sourceNodeName: src ? nodeName : "",
    destinationPodName: dst?.name ?? "",
    destinationPodNamespace: dst?.namespace ?? "",
    destinationNodeName: dst ? nodeName : "",
    [v4 ? "destinationClusterIPv4" : "destinationClusterIPv6"]: m.clusterIP ??
      (v4 ? "0.0.0.0" : "::"),
    destinationServicePort: m.servicePort,
    destinationServicePortName: m.servicePortName,
    ...policyRecordFields({ ingress: i, egress: g }),
    tcpState: e.tcpState && e.tcpState !== "NONE" ? e.tcpState : "",
    flowType: m.flowType,
  };
  return r;
}
