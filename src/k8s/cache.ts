/**
 * The in-memory cluster cache: the objects of every watched kind, and the indexes that flow
 * enrichment needs (pod IP → pod, Service ClusterIP:port/protocol → Service port, node CIDRs and
 * addresses → node, namespace labels, NetworkPolicies by namespace). The watcher and the
 * inventory loader write it; the agent, the policy evaluator and the aggregator read it.
 *
 * @module
 */

import type { Node, Pod, Service } from "kubernetes-types/core/v1.d.ts";
import type { NetworkPolicy } from "kubernetes-types/networking/v1.d.ts";
import { createLogger, type Logger } from "../log/mod.ts";
import {
  canonicalIP,
  type Cidr,
  cidrContains,
  type CidrOptions,
  networkKey,
  parseCidr,
  parseIP,
} from "../net/mod.ts";
import {
  type KindMap,
  type KubeObject,
  objectKey,
  RESOURCE_KINDS,
  type ResourceKind,
} from "./kinds.ts";

/** CIDRs read as Kubernetes reads them: an IPv4-mapped IPv6 prefix is the IPv4 prefix it covers. */
const AS_KUBERNETES: CidrOptions = { mappedAsIPv4: true };

/** Transport protocols of Service and container ports. */
export type Protocol = "TCP" | "UDP" | "SCTP";

/** IANA protocol numbers of {@link Protocol}. */
const PROTOCOL_NUMBERS: Readonly<Record<number, Protocol>> = { 6: "TCP", 17: "UDP", 132: "SCTP" };

/**
 * A protocol as Kubernetes names it, from its name in any case or its IANA number (6, 17, 132);
 * undefined for anything else.
 *
 * @example
 * ```ts
 * normalizeProtocol(17); // "UDP"
 * normalizeProtocol("tcp"); // "TCP"
 * ```
 */
export function normalizeProtocol(p: string | number): Protocol | undefined {
  if (typeof p === "number") return PROTOCOL_NUMBERS[p];
  const u = p.toUpperCase();
  return u === "TCP" || u === "UDP" || u === "SCTP" ? u : undefined;
}

/** How a change came about: the type of a watch event. */
export type ChangeType = "ADDED" | "MODIFIED" | "DELETED";

/**
 * What {@link ClusterCache.subscribe} listeners receive: an object that was added, modified or
 * deleted (the type says what happened to the cache, whatever the event said), or `SYNCED` once
 * every expected kind has been listed.
 */
export type CacheEvent =
  | { readonly type: ChangeType; readonly kind: ResourceKind; readonly object: KubeObject }
  | { readonly type: "SYNCED" };

/** A named or numbered port of a pod's container. */
export interface ContainerPortInfo {
  readonly container: string;
  /** The port's name, for NetworkPolicy named ports; undefined when it has none. */
  readonly name: string | undefined;
  readonly containerPort: number;
  readonly protocol: Protocol;
}

/** What the cache knows about a pod. */
export interface PodInfo {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string | undefined;
  /** The node it is scheduled on; undefined while pending. */
  readonly nodeName: string | undefined;
  readonly labels: Readonly<Record<string, string>>;
  /** Its IPs (status.podIPs, then status.podIP), canonical text, in the order listed. */
  readonly ips: readonly string[];
  /** HostNetwork pods share their node's IPs and are left out of the pod IP index. */
  readonly hostNetwork: boolean;
  readonly phase: string | undefined;
  /** The ports its containers declare (named ones resolve NetworkPolicy named ports). */
  readonly ports: readonly ContainerPortInfo[];
  /** The object itself (without managedFields). */
  readonly pod: Pod;
}

/** One port of a Service on one of its cluster IPs. */
export interface ServicePortInfo {
  readonly namespace: string;
  readonly name: string;
  /** The port's name; "" when unnamed. */
  readonly portName: string;
  /** `namespace/name:portName`, as Antrea writes destinationServicePortName (colon kept when unnamed). */
  readonly servicePortName: string;
  readonly clusterIP: string;
  readonly port: number;
  readonly protocol: Protocol;
  readonly targetPort: number | string | undefined;
}

/** What the cache knows about a node. */
export interface NodeInfo {
  readonly name: string;
  /** spec.podCIDRs (else spec.podCIDR), canonical text. */
  readonly podCIDRs: readonly string[];
  /** status.addresses of type InternalIP, canonical text. */
  readonly internalIPs: readonly string[];
  /** Every IP among status.addresses (InternalIP and ExternalIP), canonical text. */
  readonly addresses: readonly string[];
  readonly labels: Readonly<Record<string, string>>;
  /** The object itself (without managedFields). */
  readonly node: Node;
}

/** Options of {@link ClusterCache}. */
export interface ClusterCacheOptions {
  /**
   * Cluster pod CIDRs known from configuration, for CNIs that leave node.spec.podCIDRs empty
   * (Calico, Cilium cluster-pool): {@link ClusterCache.isPodCIDR} also answers true inside them.
   */
  podCIDRs?: readonly string[];
  /** The kinds whose initial list makes the cache synced; all of them by default. */
  kinds?: readonly ResourceKind[];
  logger?: Logger;
}

/** The label that the API server puts on every namespace. */
export const NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name";

const TERMINAL_PHASES = new Set(["Succeeded", "Failed"]);

interface PodEntry {
  info: PodInfo;
  /** Order in which the cache first saw the pod (tie-break of IP ownership). */
  firstSeen: number;
  created: number;
}

interface CidrGroup {
  family: 4 | 6;
  prefix: number;
  owners: Map<string, string>;
}

function stringRecord(v: unknown): Record<string, string> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return {};
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) if (typeof x === "string") out[k] = x;
  return out;
}

function uniqueIPs(candidates: unknown[]): string[] {
  const out: string[] = [];
  for (const c of candidates) {
    if (typeof c !== "string") continue;
    const ip = canonicalIP(c);
    if (ip !== undefined && !out.includes(ip)) out.push(ip);
  }
  return out;
}

function asArray(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

function field(o: unknown, k: string): unknown {
  return typeof o === "object" && o !== null ? (o as Record<string, unknown>)[k] : undefined;
}

function validPort(n: unknown): n is number {
  return typeof n === "number" && Number.isInteger(n) && n >= 1 && n <= 65535;
}

function podInfo(pod: Pod): PodInfo {
  const spec = pod.spec;
  const status = pod.status;
  const ips = uniqueIPs([...asArray(status?.podIPs).map((p) => field(p, "ip")), status?.podIP]);
  const ports: ContainerPortInfo[] = [];
  for (const c of [...asArray(spec?.containers), ...asArray(spec?.initContainers)]) {
    const container = String(field(c, "name") ?? "");
    for (const p of asArray(field(c, "ports"))) {
      const containerPort = field(p, "containerPort");
      const protocol = normalizeProtocol(String(field(p, "protocol") ?? "TCP"));
      if (!validPort(containerPort) || !protocol) continue;
      const name = field(p, "name");
      ports.push({
        container,
        name: typeof name === "string" && name !== "" ? name : undefined,
        containerPort,
        protocol,
      });
    }
  }
  return {
    namespace: pod.metadata?.namespace || "default",
    name: pod.metadata!.name!,
    uid: pod.metadata?.uid,
    nodeName: typeof spec?.nodeName === "string" && spec.nodeName !== ""
      ? spec.nodeName
      : undefined,
    labels: stringRecord(pod.metadata?.labels),
    ips,
    hostNetwork: spec?.hostNetwork === true,
    phase: status?.phase,
    ports,
    pod,
  };
}

function nodeInfo(node: Node): NodeInfo {
  const cidrs: string[] = [];
  for (const c of [...asArray(node.spec?.podCIDRs), node.spec?.podCIDR]) {
    const p = typeof c === "string" ? parseCidr(c, AS_KUBERNETES) : undefined;
    if (p && !cidrs.includes(p.text)) cidrs.push(p.text);
  }
  const addrs = asArray(node.status?.addresses);
  const ofType = (...types: string[]) =>
    uniqueIPs(
      addrs.filter((a) => types.includes(String(field(a, "type")))).map((a) => field(a, "address")),
    );
  return {
    name: node.metadata!.name!,
    podCIDRs: cidrs,
    internalIPs: ofType("InternalIP"),
    addresses: ofType("InternalIP", "ExternalIP"),
    labels: stringRecord(node.metadata?.labels),
    node,
  };
}

function servicePorts(svc: Service): ServicePortInfo[] {
  const namespace = svc.metadata?.namespace || "default";
  const name = svc.metadata!.name!;
  const spec = svc.spec;
  const ips = uniqueIPs(
    [...asArray(spec?.clusterIPs), spec?.clusterIP].filter((ip) => ip !== "None" && ip !== ""),
  );
  const out: ServicePortInfo[] = [];
  for (const p of asArray(spec?.ports)) {
    const port = field(p, "port");
    const protocol = normalizeProtocol(String(field(p, "protocol") ?? "TCP"));
    if (!validPort(port) || !protocol) continue;
    const rawName = field(p, "name");
    const portName = typeof rawName === "string" ? rawName : "";
    const target = field(p, "targetPort");
    for (const clusterIP of ips) {
      out.push({
        namespace,
        name,
        portName,
        servicePortName: `${namespace}/${name}:${portName}`,
        clusterIP,
        port,
        protocol,
        targetPort: typeof target === "number" || typeof target === "string" ? target : undefined,
      });
    }
  }
  return out;
}

function serviceIndexKey(ip: string, port: number, protocol: Protocol): string {
  return `${ip}|${port}|${protocol}`;
}

/** Milliseconds since the epoch of an RFC 3339 timestamp; 0 when absent or unparsable. */
function timeOf(t: unknown): number {
  const ms = typeof t === "string" ? Date.parse(t) : NaN;
  return Number.isFinite(ms) ? ms : 0;
}

/** The object without metadata.managedFields, which can be most of a pod's size. */
function slim<T extends KubeObject>(obj: T): T {
  const meta = obj.metadata;
  if (!meta || !("managedFields" in meta)) return obj;
  const { managedFields: _, ...rest } = meta;
  return { ...obj, metadata: rest };
}

/**
 * The cluster cache. Writers call {@link apply} per watch event and {@link replace} after a
 * (re)list; readers use the lookups, which take IPs in any valid text form.
 *
 * @example
 * ```ts
 * const cache = new ClusterCache();
 * cache.apply("Pod", "ADDED", {
 *   metadata: { namespace: "web", name: "api-0", labels: { app: "api" } },
 *   spec: { nodeName: "node-1", containers: [] },
 *   status: { podIPs: [{ ip: "10.244.1.5" }] },
 * });
 * cache.apply("Service", "ADDED", {
 *   metadata: { namespace: "web", name: "api" },
 *   spec: { clusterIP: "10.96.0.10", ports: [{ name: "http", port: 80, protocol: "TCP" }] },
 * });
 * cache.podByIP("10.244.1.5")?.nodeName; // "node-1"
 * cache.serviceByClusterIP("10.96.0.10", 80, 6)?.servicePortName; // "web/api:http"
 * ```
 */
export class ClusterCache {
  #log: Logger;
  #objects: { [K in ResourceKind]: Map<string, KindMap[K]> } = {
    Namespace: new Map(),
    Node: new Map(),
    Pod: new Map(),
    Service: new Map(),
    NetworkPolicy: new Map(),
  };
  #pods = new Map<string, PodEntry>();
  #ipOwners = new Map<string, Set<string>>();
  #podByIP = new Map<string, PodInfo>();
  #services = new Map<string, ServicePortInfo>();
  #serviceOwners = new Map<string, string>();
  #serviceKeys = new Map<string, string[]>();
  #nodes = new Map<string, NodeInfo>();
  #cidrGroups = new Map<string, CidrGroup>();
  #nodeAddrs = new Map<string, string>();
  #extraCIDRs: Cidr[];
  #policies = new Map<string, Map<string, NetworkPolicy>>();
  #policyLists = new Map<string, readonly NetworkPolicy[]>();
  #nsLabels = new Map<string, Readonly<Record<string, string>>>();
  #seq = 0;
  #generation = 0;
  #expected: Set<ResourceKind>;
  #syncedKinds = new Set<ResourceKind>();
  #synced = false;
  #syncWaiters: (() => void)[] = [];
  #listeners = new Set<(e: CacheEvent) => void>();

  constructor(options: ClusterCacheOptions = {}) {
    this.#log = options.logger ?? createLogger("k8s");
    this.#expected = new Set(options.kinds ?? RESOURCE_KINDS);
    this.#extraCIDRs = (options.podCIDRs ?? []).map((c) => {
      const p = parseCidr(c, AS_KUBERNETES);
      if (!p) throw new TypeError(`Invalid pod CIDR "${c}": expected ADDRESS/PREFIX`);
      return p;
    });
  }

  // --- writes -------------------------------------------------------------------------------

  /**
   * Applies one watch event. ADDED and MODIFIED both store the object (the cache tells which
   * it was); DELETED removes it. An object without metadata.name is skipped with a warning.
   * Returns whether the cache changed.
   */
  apply<K extends ResourceKind>(kind: K, type: ChangeType, object: KindMap[K]): boolean {
    const key = objectKey(kind, object);
    if (key === undefined) {
      this.#log.warn("Skipped an object without metadata.name", { kind, type });
      return false;
    }
    const store = this.#objects[kind] as Map<string, KindMap[K]>;
    const old = store.get(key);
    if (type === "DELETED") {
      if (old === undefined) return false;
      store.delete(key);
      this.#unindex(kind, key, old);
      this.#changed({ type: "DELETED", kind, object: slim(object) });
      return true;
    }
    const obj = slim(object);
    store.set(key, obj);
    if (old !== undefined) this.#unindex(kind, key, old);
    this.#index(kind, key, obj);
    this.#changed({ type: old === undefined ? "ADDED" : "MODIFIED", kind, object: obj });
    return true;
  }

  /**
   * Replaces every object of `kind` with `objects` (the result of a list), emitting a DELETED
   * event for each object gone, ADDED for each new one and MODIFIED for each whose
   * resourceVersion changed (or that has none).
   */
  replace<K extends ResourceKind>(kind: K, objects: Iterable<KindMap[K]>): void {
    const store = this.#objects[kind] as Map<string, KindMap[K]>;
    const next = new Map<string, KindMap[K]>();
    for (const o of objects) {
      const key = objectKey(kind, o);
      if (key === undefined) {
        this.#log.warn("Skipped an object without metadata.name", { kind });
        continue;
      }
      next.set(key, o);
    }
    for (const [key, old] of [...store]) {
      if (!next.has(key)) this.apply(kind, "DELETED", old);
    }
    for (const [key, o] of next) {
      const old = store.get(key);
      const rv = o.metadata?.resourceVersion;
      if (old !== undefined && rv !== undefined && old.metadata?.resourceVersion === rv) continue;
      this.apply(kind, "MODIFIED", o);
    }
  }

  /**
   * Records that `kind` has been listed. Once every expected kind has, the cache is synced:
   * {@link whenSynced} resolves and listeners get a `SYNCED` event (once).
   */
  markSynced(kind: ResourceKind): void {
    this.#syncedKinds.add(kind);
    if (this.#synced) return;
    for (const k of this.#expected) if (!this.#syncedKinds.has(k)) return;
    this.#synced = true;
    const waiters = this.#syncWaiters;
    this.#syncWaiters = [];
    for (const w of waiters) w();
    this.#emit({ type: "SYNCED" });
  }

  // --- sync state and events ----------------------------------------------------------------

  /** Whether every expected kind has been listed at least once. */
  get synced(): boolean {
    return this.#synced;
  }

  /** A number that grows with every change, for readers that memoize derived results. */
  get generation(): number {
    return this.#generation;
  }

  /** Resolves once the cache is synced; rejects with the signal's reason if it aborts first. */
  whenSynced(signal?: AbortSignal): Promise<void> {
    if (this.#synced) return Promise.resolve();
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        this.#syncWaiters = this.#syncWaiters.filter((w) => w !== done);
        reject(signal!.reason);
      };
      const done = () => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      };
      this.#syncWaiters.push(done);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** Calls `listener` on every change; returns the function that unsubscribes it. */
  subscribe(listener: (e: CacheEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  // --- reads --------------------------------------------------------------------------------

  /** The object of `kind` named `name` (in `namespace` for namespaced kinds, default "default"). */
  get<K extends ResourceKind>(kind: K, name: string, namespace?: string): KindMap[K] | undefined {
    const store = this.#objects[kind] as Map<string, KindMap[K]>;
    return store.get(
      kind === "Node" || kind === "Namespace" ? name : `${namespace ?? "default"}/${name}`,
    );
  }

  /** Every object of `kind`, in no particular order. */
  list<K extends ResourceKind>(kind: K): KindMap[K][] {
    return [...(this.#objects[kind] as Map<string, KindMap[K]>).values()];
  }

  /** How many objects of `kind` the cache holds. */
  count(kind: ResourceKind): number {
    return this.#objects[kind].size;
  }

  /** The pod `namespace/name`, hostNetwork or not. */
  pod(namespace: string, name: string): PodInfo | undefined {
    return this.#pods.get(`${namespace}/${name}`)?.info;
  }

  /**
   * The pod that owns `ip`. HostNetwork pods are never returned. When several pods list the
   * same IP (a reused IP whose old pod is not deleted yet), a running pod wins over a finished
   * one, then the newest by creationTimestamp, then the one seen last.
   */
  podByIP(ip: string): PodInfo | undefined {
    const hit = this.#podByIP.get(ip);
    if (hit !== undefined) return hit;
    const c = canonicalIP(ip);
    return c === undefined || c === ip ? undefined : this.#podByIP.get(c);
  }

  /**
   * The Service port reached at `ip`:`port` over `protocol` (name or IANA number), for
   * ClusterIPs (all of spec.clusterIPs on dual-stack Services; headless Services have none).
   */
  serviceByClusterIP(
    ip: string,
    port: number,
    protocol: Protocol | string | number,
  ): ServicePortInfo | undefined {
    const proto = normalizeProtocol(protocol);
    if (proto === undefined) return undefined;
    const hit = this.#services.get(serviceIndexKey(ip, port, proto));
    if (hit !== undefined) return hit;
    const c = canonicalIP(ip);
    return c === undefined || c === ip
      ? undefined
      : this.#services.get(serviceIndexKey(c, port, proto));
  }

  /** The node named `name`. */
  node(name: string): NodeInfo | undefined {
    return this.#nodes.get(name);
  }

  /**
   * The name of the node where `ip` lives: the node of the pod that owns it, else the node
   * whose pod CIDR contains it, else the node that has it as an InternalIP or ExternalIP.
   */
  /** The node that has this address itself (InternalIP, ExternalIP), not one of its pods'. */
  nodeByAddress(ip: string): string | undefined {
    const p = parseIP(ip);
    return p === undefined ? undefined : this.#nodeAddrs.get(p.text);
  }

  nodeOfIP(ip: string): string | undefined {
    const pod = this.podByIP(ip);
    if (pod?.nodeName !== undefined) return pod.nodeName;
    const p = parseIP(ip);
    if (p === undefined) return undefined;
    for (const g of this.#cidrGroups.values()) {
      if (g.family !== p.family) continue;
      const owner = g.owners.get(networkKey(p.bytes, g.prefix));
      if (owner !== undefined) return owner;
    }
    return this.#nodeAddrs.get(p.text);
  }

  /**
   * Whether `ip` is a pod address: inside a node's pod CIDR, inside a configured cluster pod
   * CIDR, or the IP of a known (non-hostNetwork) pod, for CNIs without node pod CIDRs.
   */
  isPodCIDR(ip: string): boolean {
    if (this.podByIP(ip) !== undefined) return true;
    const p = parseIP(ip);
    if (p === undefined) return false;
    for (const g of this.#cidrGroups.values()) {
      if (g.family === p.family && g.owners.has(networkKey(p.bytes, g.prefix))) return true;
    }
    return this.#extraCIDRs.some((c) => cidrContains(c, p));
  }

  /**
   * The labels of namespace `name`, with `kubernetes.io/metadata.name` as the API server sets
   * it, also for a namespace the cache has not seen (an inventory without Namespace objects).
   */
  namespaceLabels(name: string): Readonly<Record<string, string>> {
    let labels = this.#nsLabels.get(name);
    if (labels === undefined) {
      const ns = this.#objects.Namespace.get(name);
      labels = Object.freeze({
        ...stringRecord(ns?.metadata?.labels),
        [NAMESPACE_NAME_LABEL]: name,
      });
      this.#nsLabels.set(name, labels);
    }
    return labels;
  }

  /** The NetworkPolicies of `namespace` sorted by name, or of every namespace. */
  networkPolicies(namespace?: string): readonly NetworkPolicy[] {
    if (namespace !== undefined) return this.#policyList(namespace);
    return [...this.#policies.keys()].sort().flatMap((ns) => this.#policyList(ns));
  }

  // --- indexes ------------------------------------------------------------------------------

  #changed(e: CacheEvent): void {
    this.#generation++;
    this.#emit(e);
  }

  #emit(e: CacheEvent): void {
    for (const l of this.#listeners) {
      try {
        l(e);
      } catch (err) {
        this.#log.error("A cluster cache listener threw", { error: err });
      }
    }
  }

  #index(kind: ResourceKind, key: string, obj: KubeObject): void {
    switch (kind) {
      case "Pod":
        return this.#indexPod(key, obj as Pod);
      case "Service":
        return this.#indexService(key, obj as Service);
      case "Node":
        return this.#indexNode(obj as Node);
      case "NetworkPolicy":
        return this.#indexPolicy(key, obj as NetworkPolicy);
      case "Namespace":
        this.#nsLabels.delete(key);
        return;
    }
  }

  #unindex(kind: ResourceKind, key: string, obj: KubeObject): void {
    switch (kind) {
      case "Pod":
        return this.#unindexPod(key);
      case "Service":
        return this.#unindexService(key);
      case "Node":
        return this.#unindexNode(obj as Node);
      case "NetworkPolicy":
        return this.#unindexPolicy(key);
      case "Namespace":
        this.#nsLabels.delete(key);
        return;
    }
  }

  #indexPod(key: string, pod: Pod): void {
    const info = podInfo(pod);
    const prev = this.#pods.get(key);
    const entry: PodEntry = {
      info,
      // A pod replaced under the same name (new uid) counts as new.
      firstSeen: prev && prev.info.uid === info.uid ? prev.firstSeen : ++this.#seq,
      created: timeOf(pod.metadata?.creationTimestamp),
    };
    this.#pods.set(key, entry);
    if (info.hostNetwork) return;
    for (const ip of info.ips) {
      let owners = this.#ipOwners.get(ip);
      if (owners === undefined) this.#ipOwners.set(ip, owners = new Set());
      owners.add(key);
      this.#electIPOwner(ip);
    }
  }

  #unindexPod(key: string): void {
    const entry = this.#pods.get(key);
    if (entry === undefined) return;
    // Keep the entry while re-indexing an update, so that firstSeen survives.
    for (const ip of entry.info.ips) {
      const owners = this.#ipOwners.get(ip);
      if (owners === undefined || !owners.delete(key)) continue;
      if (owners.size === 0) this.#ipOwners.delete(ip);
      this.#electIPOwner(ip);
    }
    if (!this.#objects.Pod.has(key)) this.#pods.delete(key);
  }

  #electIPOwner(ip: string): void {
    const owners = this.#ipOwners.get(ip);
    let best: PodEntry | undefined;
    for (const k of owners ?? []) {
      const e = this.#pods.get(k);
      if (e !== undefined && (best === undefined || ClusterCache.#outranks(e, best))) best = e;
    }
    if (best === undefined) this.#podByIP.delete(ip);
    else this.#podByIP.set(ip, best.info);
  }

  static #outranks(a: PodEntry, b: PodEntry): boolean {
    const aDone = TERMINAL_PHASES.has(a.info.phase ?? "");
    const bDone = TERMINAL_PHASES.has(b.info.phase ?? "");
    if (aDone !== bDone) return bDone;
    if (a.created !== b.created) return a.created > b.created;
    return a.firstSeen > b.firstSeen;
  }

  #indexService(key: string, svc: Service): void {
    const keys: string[] = [];
    this.#serviceKeys.set(key, keys);
    for (const p of servicePorts(svc)) {
      const k = serviceIndexKey(p.clusterIP, p.port, p.protocol);
      keys.push(k);
      const other = this.#serviceOwners.get(k);
      if (other !== undefined && other !== key) {
        this.#log.warn("Two Services claim one ClusterIP port; the last one wins", {
          clusterIP: p.clusterIP,
          port: p.port,
          protocol: p.protocol,
          services: [other, key],
        });
      }
      this.#services.set(k, p);
      this.#serviceOwners.set(k, key);
    }
  }

  #unindexService(key: string): void {
    for (const k of this.#serviceKeys.get(key) ?? []) {
      if (this.#serviceOwners.get(k) !== key) continue;
      this.#serviceOwners.delete(k);
      this.#services.delete(k);
    }
    this.#serviceKeys.delete(key);
  }

  #indexNode(node: Node): void {
    const info = nodeInfo(node);
    this.#nodes.set(info.name, info);
    for (const text of info.podCIDRs) {
      const c = parseCidr(text, AS_KUBERNETES)!;
      const gk = `${c.family}/${c.prefix}`;
      let g = this.#cidrGroups.get(gk);
      if (g === undefined) {
        this.#cidrGroups.set(gk, g = { family: c.family, prefix: c.prefix, owners: new Map() });
      }
      g.owners.set(networkKey(c.bytes, c.prefix), info.name);
    }
    for (const ip of info.addresses) this.#nodeAddrs.set(ip, info.name);
  }

  #unindexNode(node: Node): void {
    const name = node.metadata!.name!;
    const info = this.#nodes.get(name);
    if (info === undefined) return;
    this.#nodes.delete(name);
    for (const text of info.podCIDRs) {
      const c = parseCidr(text, AS_KUBERNETES)!;
      const gk = `${c.family}/${c.prefix}`;
      const g = this.#cidrGroups.get(gk);
      const nk = networkKey(c.bytes, c.prefix);
      if (g?.owners.get(nk) !== name) continue;
      g.owners.delete(nk);
      if (g.owners.size === 0) this.#cidrGroups.delete(gk);
    }
    for (const ip of info.addresses) {
      if (this.#nodeAddrs.get(ip) === name) this.#nodeAddrs.delete(ip);
    }
  }

  #indexPolicy(key: string, policy: NetworkPolicy): void {
    const ns = key.slice(0, key.indexOf("/"));
    let m = this.#policies.get(ns);
    if (m === undefined) this.#policies.set(ns, m = new Map());
    m.set(key.slice(ns.length + 1), policy);
    this.#policyLists.delete(ns);
  }

  #unindexPolicy(key: string): void {
    const ns = key.slice(0, key.indexOf("/"));
    const m = this.#policies.get(ns);
    if (m === undefined) return;
    m.delete(key.slice(ns.length + 1));
    if (m.size === 0) this.#policies.delete(ns);
    this.#policyLists.delete(ns);
  }

  #policyList(ns: string): readonly NetworkPolicy[] {
    let list = this.#policyLists.get(ns);
    if (list === undefined) {
      const m = this.#policies.get(ns);
      if (m === undefined) return [];
      list = Object.freeze(
        [...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, p]) => p),
      );
      this.#policyLists.set(ns, list);
    }
    return list;
  }
}
