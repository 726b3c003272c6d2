/**
 * What policy evaluation needs to know about the cluster ({@link PolicyView}), and an in-memory
 * view built from plain Kubernetes objects ({@link StaticPolicyView}).
 *
 * @module
 */

import type { Container, Namespace, Node, Pod } from "kubernetes-types/core/v1.d.ts";
import type { NetworkPolicy } from "kubernetes-types/networking/v1.d.ts";
import { formatIPv6, parseIPv6Into, type ParseOptions } from "../net/mod.ts";
import { type CompiledPolicy, compilePolicy, PolicyError, PROTOCOL_NUMBERS } from "./compile.ts";
import type { Labels } from "./selector.ts";

/** A named container port. */
export interface NamedPort {
  readonly port: number;
  /** IANA protocol number: 6 TCP, 17 UDP, 132 SCTP. */
  readonly protocol: number;
}

/** What evaluation needs to know about a pod. */
export interface PodRef {
  readonly namespace: string;
  readonly name: string;
  readonly labels: Labels;
  /** Named container ports: name → ports (one per protocol, usually just one). */
  readonly namedPorts: ReadonlyMap<string, readonly NamedPort[]>;
  readonly nodeName?: string;
}

/** The cluster as policy evaluation sees it. Implementations must answer quickly. */
export interface PolicyView {
  /** The pod that has this IP (not a hostNetwork pod), if any. */
  podByIP(ip: string): PodRef | undefined;
  /**
   * Labels of a namespace, `kubernetes.io/metadata.name` included. Undefined for an unknown
   * namespace, which evaluation then takes to carry only `kubernetes.io/metadata.name`.
   */
  namespaceLabels(namespace: string): Labels | undefined;
  /** The compiled policies of a namespace, ordered by name (code units, as Go sorts strings). */
  policies(namespace: string): readonly CompiledPolicy[];
  /**
   * The node that has this IP, if known. Kubernetes always allows connections from a pod's own
   * node into it (kubelet probes), so evaluation gives no ingress verdict for them.
   */
  nodeByIP?(ip: string): string | undefined;
}

/** The label Kubernetes puts on every namespace, with the namespace's name as value. */
export const NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name";

const EMPTY_PORTS: ReadonlyMap<string, readonly NamedPort[]> = new Map();

function addPorts(ports: Map<string, NamedPort[]>, containers: readonly Container[] | undefined) {
  for (const c of containers ?? []) {
    for (const p of c.ports ?? []) {
      if (!p.name) continue;
      const protocol = PROTOCOL_NUMBERS[p.protocol ?? "TCP"];
      if (protocol === undefined || !Number.isInteger(p.containerPort)) continue;
      const list = ports.get(p.name);
      const entry = { port: p.containerPort, protocol };
      if (list) list.push(entry);
      else ports.set(p.name, [entry]);
    }
  }
}

/**
 * What evaluation needs of a Pod: namespace ("default" when absent), name, labels, node and
 * named container ports (of its containers and its sidecar init containers). Undefined for a pod
 * without a name.
 *
 * @example
 * ```ts
 * const ref = podRef({
 *   metadata: { name: "db-0", namespace: "prod", labels: { app: "db" } },
 *   spec: { nodeName: "n1", containers: [{ name: "pg", ports: [{ name: "pg", containerPort: 5432 }] }] },
 * });
 * ref?.namedPorts.get("pg"); // [{ port: 5432, protocol: 6 }]
 * ```
 */
export function podRef(pod: Pod): PodRef | undefined {
  const name = pod?.metadata?.name;
  if (typeof name !== "string" || name === "") return undefined;
  const ports = new Map<string, NamedPort[]>();
  addPorts(ports, pod.spec?.containers);
  addPorts(ports, pod.spec?.initContainers?.filter((c) => c.restartPolicy === "Always"));
  const ref: PodRef = {
    namespace: pod.metadata?.namespace || "default",
    name,
    labels: Object.freeze({ ...(pod.metadata?.labels ?? {}) }),
    namedPorts: ports.size === 0 ? EMPTY_PORTS : ports,
  };
  const nodeName = pod.spec?.nodeName;
  return nodeName ? { ...ref, nodeName } : ref;
}

const ipKeyBytes = new Uint8Array(16);
/** IPv4 octets with leading zeros read as decimal, as Kubernetes' sloppy parser reads them. */
const SLOPPY: ParseOptions = { leadingZeros: true };

/**
 * IPv6 text in canonical form, so that `FD00:0::1` and `fd00::1` find the same pod. An
 * IPv4-mapped address stays IPv6 here: it finds only a pod listed with an IPv6 address.
 */
function ipKey(ip: string): string {
  if (ip.indexOf(":") < 0) return ip;
  return parseIPv6Into(ip, ipKeyBytes, 0, SLOPPY) ? formatIPv6(ipKeyBytes, 0) : ip;
}

/** Objects a {@link StaticPolicyView} is built from. */
export interface StaticPolicyViewInit {
  readonly pods?: readonly Pod[];
  readonly namespaces?: readonly Namespace[];
  readonly networkPolicies?: readonly NetworkPolicy[];
  readonly nodes?: readonly Node[];
}

/** Options of a {@link StaticPolicyView}. */
export interface StaticPolicyViewOptions {
  /**
   * Called for each malformed policy, which is then left out. Without it, the first malformed
   * policy makes the constructor throw its {@link PolicyError}.
   */
  readonly onInvalid?: (error: PolicyError, policy: NetworkPolicy) => void;
}

/**
 * A {@link PolicyView} over fixed arrays of Pods, Namespaces, NetworkPolicies and Nodes, indexed
 * once: pods by IP (status.podIPs, else status.podIP; hostNetwork pods and pods that have
 * finished are left out), policies compiled and grouped by namespace in name order.
 *
 * @example
 * ```ts
 * const view = new StaticPolicyView({
 *   pods: [{ metadata: { name: "a", namespace: "ns" }, status: { podIP: "10.0.0.5" } }],
 *   networkPolicies: [{ metadata: { name: "deny", namespace: "ns" }, spec: { podSelector: {} } }],
 * });
 * view.podByIP("10.0.0.5")?.name; // "a"
 * view.policies("ns").length; // 1
 * ```
 */
export class StaticPolicyView implements PolicyView {
  readonly #pods = new Map<string, PodRef>();
  readonly #namespaces = new Map<string, Labels>();
  readonly #policies = new Map<string, readonly CompiledPolicy[]>();
  readonly #nodes = new Map<string, string>();

  constructor(init: StaticPolicyViewInit, options: StaticPolicyViewOptions = {}) {
    for (const ns of init.namespaces ?? []) {
      const name = ns?.metadata?.name;
      if (!name) continue;
      this.#namespaces.set(
        name,
        Object.freeze({ ...(ns.metadata?.labels ?? {}), [NAMESPACE_NAME_LABEL]: name }),
      );
    }
    for (const pod of init.pods ?? []) {
      if (pod?.spec?.hostNetwork) continue;
      const phase = pod?.status?.phase;
      if (phase === "Succeeded" || phase === "Failed") continue;
      const ref = podRef(pod);
      if (ref === undefined) continue;
      const ips = pod.status?.podIPs?.map((p) => p.ip) ??
        (pod.status?.podIP ? [pod.status.podIP] : []);
      for (const ip of ips) if (typeof ip === "string" && ip) this.#pods.set(ipKey(ip), ref);
      if (!this.#namespaces.has(ref.namespace)) {
        this.#namespaces.set(
          ref.namespace,
          Object.freeze({ [NAMESPACE_NAME_LABEL]: ref.namespace }),
        );
      }
    }
    const byNamespace = new Map<string, CompiledPolicy[]>();
    for (const np of init.networkPolicies ?? []) {
      let compiled: CompiledPolicy;
      try {
        compiled = compilePolicy(np);
      } catch (e) {
        if (!(e instanceof PolicyError) || options.onInvalid === undefined) throw e;
        options.onInvalid(e, np);
        continue;
      }
      const list = byNamespace.get(compiled.namespace);
      if (list) list.push(compiled);
      else byNamespace.set(compiled.namespace, [compiled]);
    }
    for (const [ns, list] of byNamespace) {
      list.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      this.#policies.set(ns, Object.freeze(list));
    }
    for (const node of init.nodes ?? []) {
      const name = node?.metadata?.name;
      if (!name) continue;
      for (const a of node.status?.addresses ?? []) {
        if ((a.type === "InternalIP" || a.type === "ExternalIP") && a.address) {
          this.#nodes.set(ipKey(a.address), name);
        }
      }
    }
  }

  podByIP(ip: string): PodRef | undefined {
    return this.#pods.get(ip) ?? (ip.indexOf(":") < 0 ? undefined : this.#pods.get(ipKey(ip)));
  }

  namespaceLabels(namespace: string): Labels | undefined {
    return this.#namespaces.get(namespace);
  }

  policies(namespace: string): readonly CompiledPolicy[] {
    return this.#policies.get(namespace) ?? NO_POLICIES;
  }

  nodeByIP(ip: string): string | undefined {
    return this.#nodes.get(ip) ?? (ip.indexOf(":") < 0 ? undefined : this.#nodes.get(ipKey(ip)));
  }
}

const NO_POLICIES: readonly CompiledPolicy[] = Object.freeze([]);
