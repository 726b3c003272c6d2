/**
 * The simulated cluster: nodes with pod CIDRs, namespaces, Deployment- and StatefulSet-like pod
 * sets with labels and named container ports, Services with ClusterIPs and named ports, and
 * NetworkPolicies (allow rules, and default-deny policies that make denied traffic). The same
 * options and seed always give the same cluster. Its Kubernetes objects load into a
 * {@link ClusterCache}, so the real exporter code classifies the simulated connections.
 *
 * @module
 */

import type {
  Container,
  Namespace,
  Node,
  Pod,
  Service,
  ServicePort,
} from "kubernetes-types/core/v1.d.ts";
import type {
  NetworkPolicy,
  NetworkPolicyPeer,
  NetworkPolicyPort,
} from "kubernetes-types/networking/v1.d.ts";
import type { ClusterCache } from "../k8s/mod.ts";
import { Random } from "./random.ts";

/** The workloads of the simulated cluster. */
export type WorkloadName =
  | "web"
  | "api"
  | "worker"
  | "postgres"
  | "redis"
  | "coredns"
  | "prometheus";

/** A node of the simulated cluster. */
export interface SimNode {
  /** `node-1` … `node-N`. */
  readonly name: string;
  /** 1 … N. */
  readonly index: number;
  /** 172.18.0.(index + 1). */
  readonly internalIP: string;
  /** 10.244.(index).0/24. */
  readonly podCIDR: string;
}

/** A container port of a pod: number and protocol. */
export interface SimPort {
  readonly port: number;
  readonly protocol: "TCP" | "UDP";
}

/** A pod of the simulated cluster. */
export interface SimPod {
  readonly namespace: string;
  readonly name: string;
  readonly ip: string;
  readonly node: SimNode;
  readonly workload: WorkloadName;
  readonly labels: Readonly<Record<string, string>>;
  /** Named container ports. */
  readonly ports: Readonly<Record<string, SimPort>>;
}

/** A port of a simulated Service. */
export interface SimServicePort {
  readonly name: string;
  readonly port: number;
  readonly protocol: "TCP" | "UDP";
  /** The container port name it forwards to. */
  readonly targetPort: string;
  readonly nodePort?: number;
}

/** A Service of the simulated cluster. */
export interface SimService {
  readonly namespace: string;
  readonly name: string;
  readonly clusterIP: string;
  readonly ports: readonly SimServicePort[];
  /** The workload behind it (none for `default/kubernetes`, which is the API server). */
  readonly workload: WorkloadName | undefined;
}

/** The Kubernetes objects of a simulated cluster. */
export interface ClusterObjects {
  readonly namespaces: readonly Namespace[];
  readonly nodes: readonly Node[];
  readonly pods: readonly Pod[];
  readonly services: readonly Service[];
  readonly networkPolicies: readonly NetworkPolicy[];
}

/** A simulated cluster. */
export interface SimCluster {
  readonly nodes: readonly SimNode[];
  readonly pods: readonly SimPod[];
  /** The pods of each workload. */
  readonly podsOf: Readonly<Record<WorkloadName, readonly SimPod[]>>;
  /** Services by `namespace/name`. */
  readonly services: ReadonlyMap<string, SimService>;
  /** The API server: `default/kubernetes` forwards here. */
  readonly apiServer: { readonly ip: string; readonly port: number };
  readonly objects: ClusterObjects;
}

/** Options of {@link simulatedCluster}. */
export interface SimClusterOptions {
  /** Nodes, 1 to 250 (3). */
  nodes?: number;
  /** Pods per node, 1 to 250 (10); every workload gets at least one pod. */
  podsPerNode?: number;
  seed?: number;
}

/** Namespaces of the simulated cluster and their labels. */
const NAMESPACES: Readonly<Record<string, Record<string, string>>> = {
  default: {},
  "kube-system": {},
  frontend: { team: "web", environment: "demo" },
  backend: { team: "platform", environment: "demo" },
  db: { team: "data", environment: "demo" },
  monitoring: { team: "sre" },
};

interface WorkloadSpec {
  readonly name: WorkloadName;
  readonly namespace: string;
  readonly kind: "Deployment" | "StatefulSet";
  /** Share of the cluster's pods; 0 for exactly one replica. */
  readonly share: number;
  readonly labels: Readonly<Record<string, string>>;
  readonly containers: readonly Container[];
}

function port(name: string, containerPort: number, protocol: "TCP" | "UDP" = "TCP") {
  return { name, containerPort, protocol };
}

/** The workloads, in the order their pods are placed (fewest replicas first). */
const WORKLOADS: readonly WorkloadSpec[] = [
  {
    name: "prometheus",
    namespace: "monitoring",
    kind: "StatefulSet",
    share: 0,
    labels: { app: "prometheus" },
    containers: [{
      name: "prometheus",
      image: "quay.io/prometheus/prometheus:v2.53.0",
      ports: [port("web", 9090)],
    }],
  },
  {
    name: "postgres",
    namespace: "db",
    kind: "StatefulSet",
    share: 0.08,
    labels: { app: "postgres", tier: "db" },
    containers: [
      { name: "postgres", image: "postgres:16.3", ports: [port("postgres", 5432)] },
      {
        name: "exporter",
        image: "quay.io/prometheuscommunity/postgres-exporter:v0.15.0",
        ports: [port("metrics", 9187)],
      },
    ],
  },
  {
    name: "redis",
    namespace: "db",
    kind: "StatefulSet",
    share: 0.07,
    labels: { app: "redis", tier: "db" },
    containers: [
      { name: "redis", image: "redis:7.2", ports: [port("redis", 6379)] },
      {
        name: "exporter",
        image: "oliver006/redis_exporter:v1.61.0",
        ports: [port("metrics", 9121)],
      },
    ],
  },
  {
    name: "coredns",
    namespace: "kube-system",
    kind: "Deployment",
    share: 0.07,
    labels: { "k8s-app": "kube-dns" },
    containers: [{
      name: "coredns",
      image: "registry.k8s.io/coredns/coredns:v1.11.1",
      ports: [port("dns", 53, "UDP"), port("dns-tcp", 53), port("metrics", 9153)],
    }],
  },
  {
    name: "worker",
    namespace: "backend",
    kind: "Deployment",
    share: 0.15,
    labels: { app: "worker", tier: "backend" },
    containers: [{
      name: "worker",
      image: "ghcr.io/flowvis/demo-worker:1.4.2",
      ports: [port("metrics", 9100)],
    }],
  },
  {
    name: "api",
    namespace: "backend",
    kind: "Deployment",
    share: 0.3,
    labels: { app: "api", tier: "backend" },
    containers: [{
      name: "api",
      image: "ghcr.io/flowvis/demo-api:1.4.2",
      ports: [port("http", 8080), port("grpc", 9090), port("metrics", 9100)],
    }],
  },
  {
    name: "web",
    namespace: "frontend",
    kind: "Deployment",
    share: 0.3,
    labels: { app: "web", tier: "frontend" },
    containers: [{
      name: "web",
      image: "nginx:1.27",
      ports: [port("http", 8080), port("metrics", 9100)],
    }],
  },
];

interface ServiceSpec {
  readonly namespace: string;
  readonly name: string;
  readonly workload: WorkloadName | undefined;
  readonly clusterIP?: string;
  readonly type?: "NodePort";
  readonly ports: readonly SimServicePort[];
}

/** NodePort of the `frontend/web` Service (traffic from outside the cluster). */
export const WEB_NODE_PORT = 30080;

const SERVICES: readonly ServiceSpec[] = [
  {
    namespace: "default",
    name: "kubernetes",
    workload: undefined,
    clusterIP: "10.96.0.1",
    ports: [{ name: "https", port: 443, protocol: "TCP", targetPort: "https" }],
  },
  {
    namespace: "kube-system",
    name: "kube-dns",
    workload: "coredns",
    clusterIP: "10.96.0.10",
    ports: [
      { name: "dns", port: 53, protocol: "UDP", targetPort: "dns" },
      { name: "dns-tcp", port: 53, protocol: "TCP", targetPort: "dns-tcp" },
      { name: "metrics", port: 9153, protocol: "TCP", targetPort: "metrics" },
    ],
  },
  {
    namespace: "frontend",
    name: "web",
    workload: "web",
    type: "NodePort",
    ports: [{
      name: "http",
      port: 80,
      protocol: "TCP",
      targetPort: "http",
      nodePort: WEB_NODE_PORT,
    }],
  },
  {
    namespace: "backend",
    name: "api",
    workload: "api",
    ports: [
      { name: "http", port: 80, protocol: "TCP", targetPort: "http" },
      { name: "grpc", port: 9090, protocol: "TCP", targetPort: "grpc" },
    ],
  },
  {
    namespace: "db",
    name: "postgres",
    workload: "postgres",
    ports: [{ name: "postgres", port: 5432, protocol: "TCP", targetPort: "postgres" }],
  },
  {
    namespace: "db",
    name: "redis",
    workload: "redis",
    ports: [{ name: "redis", port: 6379, protocol: "TCP", targetPort: "redis" }],
  },
  {
    namespace: "monitoring",
    name: "prometheus",
    workload: "prometheus",
    ports: [{ name: "web", port: 9090, protocol: "TCP", targetPort: "web" }],
  },
];

const fromNamespace = (ns: string): NetworkPolicyPeer => ({
  namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": ns } },
});
const tcp = (p: string | number): NetworkPolicyPort => ({ protocol: "TCP", port: p });

/**
 * The NetworkPolicies. In `db`, default-deny policies isolate every pod in both directions, so
 * that connections nobody allowed are denied (their names sort first, so drops name them); the
 * other policies allow what the applications need and the metrics scrapes.
 */
const NETWORK_POLICIES: readonly NetworkPolicy[] = [
  {
    metadata: { namespace: "frontend", name: "web-ingress" },
    spec: {
      podSelector: { matchLabels: { app: "web" } },
      policyTypes: ["Ingress"],
      ingress: [
        { ports: [tcp("http")] },
        { from: [fromNamespace("monitoring")], ports: [tcp("metrics")] },
      ],
    },
  },
  {
    metadata: { namespace: "backend", name: "api-ingress" },
    spec: {
      podSelector: { matchLabels: { app: "api" } },
      policyTypes: ["Ingress"],
      ingress: [
        { from: [fromNamespace("frontend")], ports: [tcp("http")] },
        { from: [{ podSelector: { matchLabels: { app: "worker" } } }], ports: [tcp("grpc")] },
        { from: [fromNamespace("monitoring")], ports: [tcp("metrics")] },
      ],
    },
  },
  {
    metadata: { namespace: "db", name: "default-deny-egress" },
    spec: { podSelector: {}, policyTypes: ["Egress"] },
  },
  {
    metadata: { namespace: "db", name: "default-deny-ingress" },
    spec: { podSelector: {}, policyTypes: ["Ingress"] },
  },
  {
    metadata: { namespace: "db", name: "dns-egress" },
    spec: {
      podSelector: {},
      policyTypes: ["Egress"],
      egress: [{
        to: [fromNamespace("kube-system")],
        ports: [{ protocol: "UDP", port: 53 }, { protocol: "TCP", port: 53 }],
      }],
    },
  },
  {
    metadata: { namespace: "db", name: "monitoring-scrape" },
    spec: {
      podSelector: {},
      policyTypes: ["Ingress"],
      ingress: [{ from: [fromNamespace("monitoring")], ports: [tcp("metrics")] }],
    },
  },
  {
    metadata: { namespace: "db", name: "postgres-from-backend" },
    spec: {
      podSelector: { matchLabels: { app: "postgres" } },
      policyTypes: ["Ingress"],
      ingress: [{ from: [fromNamespace("backend")], ports: [tcp("postgres")] }],
    },
  },
  {
    metadata: { namespace: "db", name: "redis-from-backend" },
    spec: {
      podSelector: { matchLabels: { app: "redis" } },
      policyTypes: ["Ingress"],
      ingress: [{ from: [fromNamespace("backend")], ports: [tcp("redis")] }],
    },
  },
];

/** When the simulated objects were created (a fixed time, so objects are reproducible). */
const CREATED = Date.UTC(2025, 5, 2, 8, 0, 0);

function timestamp(offsetS: number): string {
  return new Date(CREATED + offsetS * 1000).toISOString().replace(".000Z", "Z");
}

function uid(r: Random): string {
  const h = (n: number) => r.uint32().toString(16).padStart(8, "0").slice(0, n);
  return `${h(8)}-${h(4)}-4${h(3)}-${(8 + r.int(0, 3)).toString(16)}${h(3)}-${h(8)}${h(4)}`;
}

function checkCount(name: string, v: number, max: number): void {
  if (!Number.isInteger(v) || v < 1 || v > max) {
    throw new RangeError(`Invalid ${name} ${v}: expected an integer from 1 to ${max}`);
  }
}

/** Replicas per workload for `total` pods: shares rounded down, at least one each, rest to web/api. */
function replicaCounts(total: number): Map<WorkloadName, number> {
  const counts = new Map<WorkloadName, number>();
  let sum = 0;
  for (const w of WORKLOADS) {
    const n = w.share === 0 ? 1 : Math.max(1, Math.floor(total * w.share));
    counts.set(w.name, n);
    sum += n;
  }
  for (let i = 0; sum < total; i++, sum++) {
    const name: WorkloadName = i % 2 === 0 ? "web" : "api";
    counts.set(name, counts.get(name)! + 1);
  }
  return counts;
}

/**
 * Builds a simulated cluster.
 *
 * @example
 * ```ts
 * const cluster = simulatedCluster({ nodes: 3, podsPerNode: 10, seed: 1 });
 * cluster.nodes[0]!.podCIDR; // "10.244.1.0/24"
 * cluster.pods.length; // 30
 * cluster.services.get("kube-system/kube-dns")!.clusterIP; // "10.96.0.10"
 * ```
 */
export function simulatedCluster(options: SimClusterOptions = {}): SimCluster {
  const nodeCount = options.nodes ?? 3;
  const perNode = options.podsPerNode ?? 10;
  checkCount("node count", nodeCount, 250);
  checkCount("pods per node", perNode, 250);
  const r = new Random(options.seed ?? 1);

  const nodes: SimNode[] = [];
  for (let i = 1; i <= nodeCount; i++) {
    nodes.push({
      name: `node-${i}`,
      index: i,
      internalIP: `172.18.0.${i + 1}`,
      podCIDR: `10.244.${i}.0/24`,
    });
  }

  // Placement: each pod goes to the node with the fewest pods, then the fewest replicas of its
  // workload (spreading replicas as a topology spread constraint would), ties broken at random.
  const counts = replicaCounts(nodeCount * perNode);
  const load = new Map<SimNode, number>(nodes.map((n) => [n, 0]));
  const pods: SimPod[] = [];
  const podObjects: Pod[] = [];
  const podsOf = {} as Record<WorkloadName, SimPod[]>;
  let created = 0;
  for (const w of WORKLOADS) {
    const list: SimPod[] = podsOf[w.name] = [];
    const spread = new Map<SimNode, number>();
    const templateHash = r.token(10);
    const ports: Record<string, SimPort> = {};
    for (const c of w.containers) {
      for (const p of c.ports ?? []) {
        ports[p.name!] = {
          port: p.containerPort,
          protocol: (p.protocol ?? "TCP") as "TCP" | "UDP",
        };
      }
    }
    for (let k = 0; k < counts.get(w.name)!; k++) {
      let best: SimNode | undefined;
      for (const n of r.shuffle(nodes)) {
        if (
          best === undefined || load.get(n)! < load.get(best)! ||
          (load.get(n) === load.get(best) && (spread.get(n) ?? 0) < (spread.get(best) ?? 0))
        ) best = n;
      }
      const node = best!;
      const slot = load.get(node)!;
      load.set(node, slot + 1);
      spread.set(node, (spread.get(node) ?? 0) + 1);
      const name = w.kind === "StatefulSet"
        ? `${w.name}-${k}`
        : `${w.name}-${templateHash}-${r.token(5)}`;
      const labels: Record<string, string> = w.kind === "StatefulSet"
        ? {
          ...w.labels,
          "statefulset.kubernetes.io/pod-name": name,
          "controller-revision-hash": `${w.name}-${templateHash}`,
        }
        : { ...w.labels, "pod-template-hash": templateHash };
      const ip = `10.244.${node.index}.${slot + 2}`;
      const pod: SimPod = {
        namespace: w.namespace,
        name,
        ip,
        node,
        workload: w.name,
        labels,
        ports,
      };
      list.push(pod);
      pods.push(pod);
      podObjects.push({
        apiVersion: "v1",
        kind: "Pod",
        metadata: {
          namespace: w.namespace,
          name,
          uid: uid(r),
          labels,
          creationTimestamp: timestamp(60 + created++),
          ownerReferences: [{
            apiVersion: "apps/v1",
            kind: w.kind === "StatefulSet" ? "StatefulSet" : "ReplicaSet",
            name: w.kind === "StatefulSet" ? w.name : `${w.name}-${templateHash}`,
            uid: uid(r),
            controller: true,
            blockOwnerDeletion: true,
          }],
        },
        spec: { nodeName: node.name, containers: w.containers.map((c) => ({ ...c })) },
        status: {
          phase: "Running",
          hostIP: node.internalIP,
          hostIPs: [{ ip: node.internalIP }],
          podIP: ip,
          podIPs: [{ ip }],
          startTime: timestamp(60 + created),
        },
      });
    }
  }

  const usedIPs = new Set(SERVICES.flatMap((s) => s.clusterIP ? [s.clusterIP] : []));
  const services = new Map<string, SimService>();
  const serviceObjects: Service[] = [];
  for (const s of SERVICES) {
    let clusterIP = s.clusterIP;
    while (clusterIP === undefined || (!s.clusterIP && usedIPs.has(clusterIP))) {
      clusterIP = `10.96.${r.int(1, 254)}.${r.int(1, 254)}`;
    }
    usedIPs.add(clusterIP);
    services.set(`${s.namespace}/${s.name}`, {
      namespace: s.namespace,
      name: s.name,
      clusterIP,
      ports: s.ports,
      workload: s.workload,
    });
    const selector = s.workload ? WORKLOADS.find((w) => w.name === s.workload)!.labels : undefined;
    serviceObjects.push({
      apiVersion: "v1",
      kind: "Service",
      metadata: {
        namespace: s.namespace,
        name: s.name,
        uid: uid(r),
        creationTimestamp: timestamp(30),
      },
      spec: {
        type: s.type ?? "ClusterIP",
        clusterIP,
        clusterIPs: [clusterIP],
        ...(selector ? { selector: { ...selector } } : {}),
        ports: s.ports.map((p): ServicePort => ({
          name: p.name,
          port: p.port,
          protocol: p.protocol,
          targetPort: s.workload ? p.targetPort : 6443,
          ...(p.nodePort ? { nodePort: p.nodePort } : {}),
        })),
        ...(s.type === "NodePort" ? { externalTrafficPolicy: "Local" } : {}),
      },
    });
  }

  const nodeObjects: Node[] = nodes.map((n) => ({
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name: n.name,
      uid: uid(r),
      creationTimestamp: timestamp(0),
      labels: {
        "kubernetes.io/hostname": n.name,
        "kubernetes.io/os": "linux",
        ...(n.index === 1 ? { "node-role.kubernetes.io/control-plane": "" } : {}),
      },
    },
    spec: { podCIDR: n.podCIDR, podCIDRs: [n.podCIDR] },
    status: {
      addresses: [{ type: "InternalIP", address: n.internalIP }, {
        type: "Hostname",
        address: n.name,
      }],
    },
  }));

  const namespaceObjects: Namespace[] = Object.entries(NAMESPACES).map(([name, labels]) => ({
    apiVersion: "v1",
    kind: "Namespace",
    metadata: {
      name,
      uid: uid(r),
      creationTimestamp: timestamp(0),
      labels: { ...labels, "kubernetes.io/metadata.name": name },
    },
  }));

  const policyObjects: NetworkPolicy[] = NETWORK_POLICIES.map((p) => ({
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    ...structuredClone(p),
    metadata: { ...p.metadata, uid: uid(r), creationTimestamp: timestamp(45) },
  }));

  return {
    nodes,
    pods,
    podsOf,
    services,
    apiServer: { ip: nodes[0]!.internalIP, port: 6443 },
    objects: {
      namespaces: namespaceObjects,
      nodes: nodeObjects,
      pods: podObjects,
      services: serviceObjects,
      networkPolicies: policyObjects,
    },
  };
}

/**
 * Loads the cluster's objects into a cluster cache (replacing what it held) and marks every
 * kind synced.
 *
 * @example
 * ```ts
 * import { ClusterCache } from "../k8s/mod.ts";
 * const cache = new ClusterCache();
 * loadCluster(cache, simulatedCluster({ seed: 1 }));
 * cache.serviceByClusterIP("10.96.0.10", 53, "UDP")?.servicePortName; // "kube-system/kube-dns:dns"
 * ```
 */
export function loadCluster(cache: ClusterCache, cluster: SimCluster): void {
  const o = cluster.objects;
  cache.replace("Namespace", o.namespaces);
  cache.replace("Node", o.nodes);
  cache.replace("Pod", o.pods);
  cache.replace("Service", o.services);
  cache.replace("NetworkPolicy", o.networkPolicies);
  for (const kind of ["Namespace", "Node", "Pod", "Service", "NetworkPolicy"] as const) {
    cache.markSynced(kind);
  }
}
