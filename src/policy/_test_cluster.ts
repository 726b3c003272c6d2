/**
 * A small cluster for the policy tests: namespaces and pods named after the Kubernetes
 * NetworkPolicy documentation's examples, and helpers to write cases tersely.
 *
 * @module
 */

import type { Namespace, Node, Pod } from "kubernetes-types/core/v1.d.ts";
import type { NetworkPolicy, NetworkPolicySpec } from "kubernetes-types/networking/v1.d.ts";
import type { Verdict } from "./compile.ts";
import type { Flow } from "./evaluate.ts";

export const NAMESPACES: Namespace[] = [
  { metadata: { name: "default" } },
  { metadata: { name: "myproject-ns", labels: { project: "myproject" } } },
  { metadata: { name: "other", labels: { project: "other" } } },
  { metadata: { name: "alice-ns", labels: { user: "alice" } } },
  { metadata: { name: "bob-ns", labels: { user: "bob" } } },
  { metadata: { name: "my-namespace" } },
  { metadata: { name: "dev", labels: { env: "dev" } } },
  // "ghost" has pods but no Namespace object: evaluation knows only its name label.
];

interface PodSpecLite {
  labels?: Record<string, string>;
  ips: string[];
  node?: string;
  ports?: { name: string; containerPort: number; protocol?: string }[];
  hostNetwork?: boolean;
  phase?: string;
}

function pod(namespace: string, name: string, p: PodSpecLite): Pod {
  return {
    metadata: { name, namespace, labels: p.labels ?? {} },
    spec: {
      nodeName: p.node ?? "node-1",
      hostNetwork: p.hostNetwork,
      containers: [{ name: "main", ports: p.ports ?? [] }],
    },
    status: { podIPs: p.ips.map((ip) => ({ ip })), phase: p.phase ?? "Running" },
  };
}

/** Pod IPs by `namespace/name`. */
export const IP = {
  db: "10.1.0.10",
  db6: "fd00:1::10",
  frontend: "10.1.0.11",
  backend: "10.1.0.12",
  defaultClient: "10.1.0.13",
  cache: "10.1.0.14",
  myproject: "10.1.1.10",
  otherFrontend: "10.1.2.10",
  aliceClient: "10.1.3.10",
  aliceServer: "10.1.3.11",
  bobClient: "10.1.4.10",
  myNamespace: "10.1.5.10",
  ghost: "10.1.6.10",
  devApp: "10.1.7.10",
  hostNet: "192.168.0.2",
  node1: "192.168.0.1",
  node2: "192.168.0.2",
  finished: "10.1.0.99",
} as const;

export const PODS: Pod[] = [
  pod("default", "db", {
    labels: { role: "db" },
    ips: [IP.db, IP.db6],
    ports: [
      { name: "redis", containerPort: 6379 },
      { name: "dns", containerPort: 53, protocol: "UDP" },
    ],
  }),
  pod("default", "frontend", {
    labels: { role: "frontend", tier: "web" },
    ips: [IP.frontend],
    node: "node-2",
  }),
  pod("default", "backend", {
    labels: { role: "backend", env: "dev" },
    ips: [IP.backend],
    ports: [{ name: "http", containerPort: 8080 }],
  }),
  pod("default", "client", { labels: { role: "client" }, ips: [IP.defaultClient] }),
  pod("default", "cache", {
    labels: { role: "cache", env: "prod" },
    ips: [IP.cache],
    ports: [{ name: "redis", containerPort: 7000 }],
  }),
  pod("myproject-ns", "anyapp", { labels: { app: "x" }, ips: [IP.myproject] }),
  pod("other", "frontend", { labels: { role: "frontend" }, ips: [IP.otherFrontend] }),
  pod("alice-ns", "client", { labels: { role: "client" }, ips: [IP.aliceClient] }),
  pod("alice-ns", "server", { labels: { role: "server" }, ips: [IP.aliceServer] }),
  pod("bob-ns", "client", { labels: { role: "client" }, ips: [IP.bobClient] }),
  pod("my-namespace", "app", { labels: { app: "y" }, ips: [IP.myNamespace] }),
  pod("ghost", "app", { labels: { app: "z" }, ips: [IP.ghost] }),
  pod("dev", "app", { labels: { role: "frontend" }, ips: [IP.devApp] }),
  pod("kube-system", "kube-proxy", {
    labels: { role: "db" },
    ips: [IP.hostNet],
    node: "node-2",
    hostNetwork: true,
  }),
  pod("default", "job", { labels: { role: "db" }, ips: [IP.finished], phase: "Succeeded" }),
];

export const NODES: Node[] = [
  {
    metadata: { name: "node-1" },
    status: { addresses: [{ type: "InternalIP", address: IP.node1 }] },
  },
  {
    metadata: { name: "node-2" },
    status: { addresses: [{ type: "InternalIP", address: IP.node2 }] },
  },
];

/** A NetworkPolicy in `namespace` (default "default"). */
export function np(name: string, spec: NetworkPolicySpec, namespace = "default"): NetworkPolicy {
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: { name, namespace },
    spec,
  };
}

const PROTOCOLS: Record<string, number> = { tcp: 6, udp: 17, sctp: 132, icmp: 1 };

/** A flow written `"10.0.0.1 -> 10.0.0.2 tcp/80"`. */
export function flow(text: string): Flow {
  const m = text.match(/^(\S+) -> (\S+) (\w+)\/(\d+)$/);
  if (!m) throw new TypeError(`Bad flow "${text}"`);
  return {
    sourceIP: m[1]!,
    destinationIP: m[2]!,
    protocol: PROTOCOLS[m[3]!]!,
    destinationPort: Number(m[4]),
  };
}

/** A verdict written `"allow ns/name ingress-0"` or `"drop ns/name"`. */
export function verdict(text: string | undefined): Verdict | undefined {
  if (text === undefined) return undefined;
  const [action, id, ruleName] = text.split(" ");
  const [policyNamespace, policyName] = id!.split("/");
  const v = {
    action: action === "allow" ? 1 : 2,
    policyName: policyName!,
    policyNamespace: policyNamespace!,
    policyType: 1,
  } as const;
  return ruleName === undefined ? v : { ...v, ruleName };
}
