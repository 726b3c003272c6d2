/**
 * Kubernetes NetworkPolicy semantics, evaluated for one connection: which policy and rule allow
 * it, or which policy drops it, in each direction.
 *
 * @module
 */

import { parseIP, type Words } from "./_ip.ts";
import {
  type CompiledPolicy,
  type CompiledPort,
  type CompiledRule,
  ipBlockContains,
  type Verdict,
} from "./compile.ts";
import type { Labels } from "./selector.ts";
import { NAMESPACE_NAME_LABEL, type PodRef, type PolicyView } from "./view.ts";

/** A connection as conntrack sees it in the original direction. */
export interface Flow {
  readonly sourceIP: string;
  readonly destinationIP: string;
  /** IANA protocol number: 6 TCP, 17 UDP, 132 SCTP; others match only rules without ports. */
  readonly protocol: number;
  /** 0 for protocols without ports. */
  readonly destinationPort: number;
}

/**
 * The verdicts for a connection. `egress` is about the source pod, `ingress` about the
 * destination pod; each is absent when that end is not a known pod or no policy isolates it in
 * that direction.
 */
export interface FlowVerdicts {
  readonly ingress?: Verdict;
  readonly egress?: Verdict;
}

const NONE: FlowVerdicts = Object.freeze({});

/** What a rule's peers and ports are checked against. */
interface Peer {
  readonly address: Words;
  readonly pod: PodRef | undefined;
  /** Labels of the pod's namespace, looked up on first need. */
  namespaceLabels: Labels | undefined;
}

const fallbackNamespaceLabels = new Map<string, Labels>();

function namespaceLabelsOf(view: PolicyView, peer: Peer, pod: PodRef): Labels {
  if (peer.namespaceLabels !== undefined) return peer.namespaceLabels;
  let labels = view.namespaceLabels(pod.namespace);
  if (labels === undefined) {
    labels = fallbackNamespaceLabels.get(pod.namespace);
    if (labels === undefined) {
      if (fallbackNamespaceLabels.size > 10_000) fallbackNamespaceLabels.clear();
      labels = Object.freeze({ [NAMESPACE_NAME_LABEL]: pod.namespace });
      fallbackNamespaceLabels.set(pod.namespace, labels);
    }
  }
  peer.namespaceLabels = labels;
  return labels;
}

function peerMatches(
  view: PolicyView,
  policy: CompiledPolicy,
  rule: CompiledRule,
  peer: Peer,
): boolean {
  const peers = rule.peers;
  if (peers === undefined) return true;
  const pod = peer.pod;
  for (const p of peers) {
    if (p.ipBlock !== undefined) {
      if (ipBlockContains(p.ipBlock, peer.address)) return true;
    } else if (pod !== undefined) {
      if (p.namespaces === undefined) {
        if (pod.namespace === policy.namespace && p.pods!(pod.labels)) return true;
      } else if (p.namespaces(namespaceLabelsOf(view, peer, pod)) && p.pods!(pod.labels)) {
        return true;
      }
    }
  }
  return false;
}

function portMatches(
  ports: readonly CompiledPort[] | undefined,
  protocol: number,
  port: number,
  destination: PodRef | undefined,
): boolean {
  if (ports === undefined) return true;
  for (const p of ports) {
    if (p.protocol !== protocol) continue;
    if (p.name !== undefined) {
      const named = destination?.namedPorts.get(p.name);
      if (named === undefined) continue;
      for (const n of named) if (n.protocol === protocol && n.port === port) return true;
    } else if (p.port === undefined || (port >= p.port && port <= p.endPort!)) {
      return true;
    }
  }
  return false;
}

/** The verdict for `pod` in one direction, where `peer` is the other end. */
function decide(
  view: PolicyView,
  pod: PodRef,
  egress: boolean,
  peer: Peer,
  flow: Flow,
  destination: PodRef | undefined,
): Verdict | undefined {
  let isolating: CompiledPolicy | undefined;
  const labels = pod.labels;
  for (const policy of view.policies(pod.namespace)) {
    const rules = egress ? policy.egress : policy.ingress;
    if (rules === undefined || !policy.selects(labels)) continue;
    isolating ??= policy;
    for (const rule of rules) {
      if (
        portMatches(rule.ports, flow.protocol, flow.destinationPort, destination) &&
        peerMatches(view, policy, rule, peer)
      ) {
        return rule.allow;
      }
    }
  }
  return isolating?.drop;
}

/**
 * Evaluates Kubernetes NetworkPolicies for a connection. Egress is decided for the source pod,
 * ingress for the destination pod, each only when that end is a pod of `view`:
 *
 * - no verdict when no policy of that direction selects the pod (it is not isolated);
 * - Allow, naming the first policy (by name; all are in the pod's namespace) that selects the
 *   pod and has a rule of that direction whose peers and ports match, and the rule
 *   (`ingress-<i>`, `egress-<i>`);
 * - Drop, naming the first policy that isolates the pod, when no rule allows the connection.
 *
 * Peers: ipBlock matches the other end's IP (pod or not) inside cidr and outside every except;
 * podSelector alone matches pods of the policy's namespace; namespaceSelector matches pods in the
 * namespaces whose labels it selects, ANDed with a podSelector in the same peer. Ports: protocol
 * (TCP by default), a port, a port range up to endPort, or a named port looked up on the
 * destination pod's containers (in both directions). Connections from a pod's own node
 * (`view.nodeByIP`) into it get no ingress verdict, as Kubernetes always allows them.
 *
 * Never throws for bad input: a flow whose addresses do not parse gets no verdicts.
 *
 * @example
 * ```ts
 * import { StaticPolicyView } from "./view.ts";
 * const view = new StaticPolicyView({
 *   pods: [
 *     { metadata: { name: "web", namespace: "prod", labels: { app: "web" } }, status: { podIP: "10.0.0.2" } },
 *     { metadata: { name: "db", namespace: "prod", labels: { app: "db" } }, status: { podIP: "10.0.0.3" } },
 *   ],
 *   networkPolicies: [{
 *     metadata: { name: "db-from-web", namespace: "prod" },
 *     spec: {
 *       podSelector: { matchLabels: { app: "db" } },
 *       ingress: [{ from: [{ podSelector: { matchLabels: { app: "web" } } }], ports: [{ port: 5432 }] }],
 *     },
 *   }],
 * });
 * evaluate(view, { sourceIP: "10.0.0.2", destinationIP: "10.0.0.3", protocol: 6, destinationPort: 5432 });
 * // { ingress: { action: 1, policyName: "db-from-web", policyNamespace: "prod", policyType: 1, ruleName: "ingress-0" } }
 * evaluate(view, { sourceIP: "10.0.0.2", destinationIP: "10.0.0.3", protocol: 6, destinationPort: 22 });
 * // { ingress: { action: 2, policyName: "db-from-web", policyNamespace: "prod", policyType: 1 } }
 * ```
 */
export function evaluate(view: PolicyView, flow: Flow): FlowVerdicts {
  try {
    return evaluateUnchecked(view, flow);
  } catch {
    // Garbage flows (or a failing view) give no verdict rather than an exception.
    return NONE;
  }
}

function evaluateUnchecked(view: PolicyView, flow: Flow): FlowVerdicts {
  const sourceAddress = parseIP(flow.sourceIP);
  const destinationAddress = parseIP(flow.destinationIP);
  if (sourceAddress === undefined || destinationAddress === undefined) return NONE;
  const source = view.podByIP(flow.sourceIP);
  const destination = view.podByIP(flow.destinationIP);
  if (source === undefined && destination === undefined) return NONE;
  let egress: Verdict | undefined;
  let ingress: Verdict | undefined;
  if (source !== undefined) {
    const peer: Peer = {
      address: destinationAddress,
      pod: destination,
      namespaceLabels: undefined,
    };
    egress = decide(view, source, true, peer, flow, destination);
  }
  if (
    destination !== undefined &&
    !(destination.nodeName !== undefined && view.nodeByIP?.(flow.sourceIP) === destination.nodeName)
  ) {
    const peer: Peer = { address: sourceAddress, pod: source, namespaceLabels: undefined };
    ingress = decide(view, destination, false, peer, flow, destination);
  }
  if (egress === undefined) return ingress === undefined ? NONE : { ingress };
  return ingress === undefined ? { egress } : { ingress, egress };
}
