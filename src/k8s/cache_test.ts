import type { Node, Pod, Service } from "kubernetes-types/core/v1.d.ts";
import type { NetworkPolicy } from "kubernetes-types/networking/v1.d.ts";
import { assert, assertEquals, assertRejects, assertThrows } from "../../tests/_assert.ts";
import { silentLogger } from "../log/mod.ts";
import { type CacheEvent, ClusterCache, normalizeProtocol } from "./cache.ts";

function cache(options: ConstructorParameters<typeof ClusterCache>[0] = {}): ClusterCache {
  return new ClusterCache({ logger: silentLogger, ...options });
}

function pod(
  name: string,
  ips: string[],
  extra: {
    ns?: string;
    node?: string;
    created?: string;
    phase?: string;
    hostNetwork?: boolean;
    uid?: string;
    rv?: string;
    labels?: Record<string, string>;
  } = {},
): Pod {
  return {
    metadata: {
      name,
      namespace: extra.ns ?? "default",
      uid: extra.uid ?? `uid-${name}`,
      ...(extra.created ? { creationTimestamp: extra.created } : {}),
      ...(extra.rv ? { resourceVersion: extra.rv } : {}),
      labels: extra.labels ?? { app: name },
    },
    spec: {
      nodeName: extra.node ?? "node-1",
      containers: [{ name: "c", ports: [{ name: "http", containerPort: 8080 }] }],
      ...(extra.hostNetwork ? { hostNetwork: true } : {}),
    },
    status: {
      phase: extra.phase ?? "Running",
      ...(ips[0] ? { podIP: ips[0] } : {}),
      podIPs: ips.map((ip) => ({ ip })),
    },
  };
}

function service(name: string, clusterIPs: string[], ports: Service["spec"] = {}): Service {
  return {
    metadata: { name, namespace: "shop" },
    spec: { clusterIP: clusterIPs[0], clusterIPs, ...ports },
  };
}

function node(name: string, podCIDRs: string[], addresses: [string, string][]): Node {
  return {
    metadata: { name },
    spec: { podCIDR: podCIDRs[0], podCIDRs },
    status: { addresses: addresses.map(([type, address]) => ({ type, address })) },
  };
}

Deno.test("cache: pod IP index covers dual-stack IPs in any text form, with pod details", () => {
  const c = cache();
  c.apply("Pod", "ADDED", pod("web-0", ["10.244.1.10", "fd00:10:244:1::a"], { ns: "shop" }));
  const info = c.podByIP("10.244.1.10");
  assertEquals(info?.namespace, "shop");
  assertEquals(info?.name, "web-0");
  assertEquals(info?.nodeName, "node-1");
  assertEquals(info?.labels, { app: "web-0" });
  assertEquals(info?.ips, ["10.244.1.10", "fd00:10:244:1::a"]);
  assertEquals(info?.ports, [{
    container: "c",
    name: "http",
    containerPort: 8080,
    protocol: "TCP",
  }]);
  assertEquals(c.podByIP("fd00:10:244:1::a")?.name, "web-0");
  assertEquals(c.podByIP("FD00:10:244:1:0:0:0:A")?.name, "web-0");
  assertEquals(c.podByIP("::ffff:10.244.1.10")?.name, "web-0");
  assertEquals(c.podByIP("10.244.1.11"), undefined);
  assertEquals(c.podByIP("not an ip"), undefined);
  assertEquals(c.pod("shop", "web-0")?.uid, "uid-web-0");
});

Deno.test("cache: hostNetwork pods stay out of the IP index; their IP maps to the node", () => {
  const c = cache();
  c.apply("Node", "ADDED", node("node-1", ["10.244.1.0/24"], [["InternalIP", "192.168.56.11"]]));
  c.apply("Pod", "ADDED", pod("kube-proxy", ["192.168.56.11"], { hostNetwork: true }));
  assertEquals(c.podByIP("192.168.56.11"), undefined);
  assertEquals(c.pod("default", "kube-proxy")?.hostNetwork, true);
  assertEquals(c.nodeOfIP("192.168.56.11"), "node-1");
  assertEquals(c.isPodCIDR("192.168.56.11"), false);
});

Deno.test("cache: a reused pod IP belongs to the newest pod; deleting the old one keeps it", () => {
  const c = cache();
  const old = pod("job-a", ["10.244.1.5"], { created: "2024-05-01T10:00:00Z", node: "node-1" });
  const young = pod("job-b", ["10.244.1.5"], { created: "2024-05-01T11:00:00Z", node: "node-2" });
  c.apply("Pod", "ADDED", old);
  c.apply("Pod", "ADDED", young);
  assertEquals(c.podByIP("10.244.1.5")?.name, "job-b");
  // A late status update of the old pod does not take the IP back.
  c.apply("Pod", "MODIFIED", { ...old, metadata: { ...old.metadata, labels: { late: "yes" } } });
  assertEquals(c.podByIP("10.244.1.5")?.name, "job-b");
  assertEquals(c.nodeOfIP("10.244.1.5"), "node-2");
  c.apply("Pod", "DELETED", old);
  assertEquals(c.podByIP("10.244.1.5")?.name, "job-b");
  c.apply("Pod", "DELETED", young);
  assertEquals(c.podByIP("10.244.1.5"), undefined);
});

Deno.test("cache: the new pod wins even when the old one's events come after it", () => {
  const c = cache();
  const young = pod("b", ["10.0.0.9"], { created: "2024-05-01T11:00:00Z" });
  const old = pod("a", ["10.0.0.9"], { created: "2024-05-01T10:00:00Z" });
  c.apply("Pod", "ADDED", young);
  c.apply("Pod", "ADDED", old);
  assertEquals(c.podByIP("10.0.0.9")?.name, "b");
  c.apply("Pod", "DELETED", old);
  assertEquals(c.podByIP("10.0.0.9")?.name, "b");
});

Deno.test("cache: a running pod owns an IP over a finished one; ties go to the pod seen last", () => {
  const c = cache();
  c.apply(
    "Pod",
    "ADDED",
    pod("done", ["10.0.0.7"], { created: "2024-05-02T00:00:00Z", phase: "Succeeded" }),
  );
  c.apply("Pod", "ADDED", pod("live", ["10.0.0.7"], { created: "2024-05-01T00:00:00Z" }));
  assertEquals(c.podByIP("10.0.0.7")?.name, "live");
  const t = "2024-05-03T00:00:00Z";
  c.apply("Pod", "ADDED", pod("first", ["10.0.0.8"], { created: t }));
  c.apply("Pod", "ADDED", pod("second", ["10.0.0.8"], { created: t }));
  assertEquals(c.podByIP("10.0.0.8")?.name, "second");
  // An update does not make a pod newer.
  c.apply("Pod", "MODIFIED", pod("first", ["10.0.0.8"], { created: t, rv: "9" }));
  assertEquals(c.podByIP("10.0.0.8")?.name, "second");
});

Deno.test("cache: a pod that changes IPs leaves its old ones", () => {
  const c = cache();
  c.apply("Pod", "ADDED", pod("p", []));
  assertEquals(c.pod("default", "p")?.ips, []);
  c.apply("Pod", "MODIFIED", pod("p", ["10.0.0.1"]));
  assertEquals(c.podByIP("10.0.0.1")?.name, "p");
  c.apply("Pod", "MODIFIED", pod("p", ["10.0.0.2"]));
  assertEquals(c.podByIP("10.0.0.1"), undefined);
  assertEquals(c.podByIP("10.0.0.2")?.name, "p");
});

Deno.test("cache: Service ports by ClusterIP:port/protocol, dual-stack, headless skipped", () => {
  const c = cache();
  c.apply(
    "Service",
    "ADDED",
    service("web", ["10.96.0.20", "fd00:10:96::20"], {
      ports: [
        { name: "http", port: 80, targetPort: "http" },
        { name: "dns", port: 53, protocol: "UDP", targetPort: 5353 },
      ],
    }),
  );
  c.apply("Service", "ADDED", service("db", ["None"], { ports: [{ name: "pg", port: 5432 }] }));
  c.apply("Service", "ADDED", service("plain", ["10.96.0.30"], { ports: [{ port: 8080 }] }));
  const http = c.serviceByClusterIP("10.96.0.20", 80, "TCP");
  assertEquals(http, {
    namespace: "shop",
    name: "web",
    portName: "http",
    servicePortName: "shop/web:http",
    clusterIP: "10.96.0.20",
    port: 80,
    protocol: "TCP",
    targetPort: "http",
  });
  assertEquals(c.serviceByClusterIP("fd00:10:96:0::20", 80, 6)?.clusterIP, "fd00:10:96::20");
  assertEquals(c.serviceByClusterIP("10.96.0.20", 53, 17)?.servicePortName, "shop/web:dns");
  assertEquals(c.serviceByClusterIP("10.96.0.20", 53, "tcp"), undefined);
  assertEquals(c.serviceByClusterIP("10.96.0.20", 80, "UDP"), undefined);
  assertEquals(c.serviceByClusterIP("10.96.0.20", 80, 1), undefined);
  assertEquals(c.serviceByClusterIP("10.96.0.30", 8080, "TCP")?.servicePortName, "shop/plain:");
  assertEquals(c.get("Service", "db", "shop")?.metadata?.name, "db");
  assertEquals(c.serviceByClusterIP("None", 5432, "TCP"), undefined);
});

Deno.test("cache: Service updates and deletes drop old ports; a reused ClusterIP survives", () => {
  const c = cache();
  c.apply("Service", "ADDED", service("a", ["10.96.0.5"], { ports: [{ name: "x", port: 1 }] }));
  c.apply("Service", "MODIFIED", service("a", ["10.96.0.5"], { ports: [{ name: "y", port: 2 }] }));
  assertEquals(c.serviceByClusterIP("10.96.0.5", 1, "TCP"), undefined);
  assertEquals(c.serviceByClusterIP("10.96.0.5", 2, "TCP")?.portName, "y");
  // Service b takes a's ClusterIP before a's deletion is seen.
  c.apply("Service", "ADDED", service("b", ["10.96.0.5"], { ports: [{ name: "z", port: 2 }] }));
  c.apply("Service", "DELETED", service("a", ["10.96.0.5"]));
  assertEquals(c.serviceByClusterIP("10.96.0.5", 2, "TCP")?.name, "b");
  c.apply("Service", "DELETED", service("b", ["10.96.0.5"]));
  assertEquals(c.serviceByClusterIP("10.96.0.5", 2, "TCP"), undefined);
});

Deno.test("cache: nodes: pod CIDRs and addresses answer nodeOfIP and isPodCIDR", () => {
  const c = cache();
  c.apply(
    "Node",
    "ADDED",
    node("node-1", ["10.244.1.0/24", "fd00:10:244:1::/64"], [
      ["InternalIP", "192.168.56.11"],
      ["InternalIP", "fd00:56::11"],
      ["Hostname", "node-1"],
    ]),
  );
  c.apply(
    "Node",
    "ADDED",
    node("node-2", ["10.244.2.0/25"], [["InternalIP", "192.168.56.12"], [
      "ExternalIP",
      "203.0.113.12",
    ]]),
  );
  assertEquals(c.node("node-1")?.podCIDRs, ["10.244.1.0/24", "fd00:10:244:1::/64"]);
  assertEquals(c.node("node-1")?.internalIPs, ["192.168.56.11", "fd00:56::11"]);
  assertEquals(c.node("node-2")?.addresses, ["192.168.56.12", "203.0.113.12"]);
  assertEquals(c.nodeOfIP("10.244.1.77"), "node-1");
  assertEquals(c.nodeOfIP("fd00:10:244:1::77"), "node-1");
  assertEquals(c.nodeOfIP("10.244.2.100"), "node-2");
  assertEquals(c.nodeOfIP("10.244.2.200"), undefined, "outside the /25");
  assertEquals(c.nodeOfIP("192.168.56.12"), "node-2");
  assertEquals(c.nodeOfIP("203.0.113.12"), "node-2");
  assertEquals(c.nodeOfIP("fd00:56:0::11"), "node-1");
  assertEquals(c.nodeOfIP("8.8.8.8"), undefined);
  assert(c.isPodCIDR("10.244.1.1"));
  assert(c.isPodCIDR("fd00:10:244:1::1"));
  assert(!c.isPodCIDR("192.168.56.11"));
  assert(!c.isPodCIDR("8.8.8.8"));
  assert(!c.isPodCIDR("bogus"));
  // A node's CIDR changes, then the node goes.
  c.apply("Node", "MODIFIED", node("node-2", ["10.244.3.0/24"], [["InternalIP", "192.168.56.12"]]));
  assertEquals(c.nodeOfIP("10.244.2.100"), undefined);
  assertEquals(c.nodeOfIP("10.244.3.100"), "node-2");
  assertEquals(c.nodeOfIP("203.0.113.12"), undefined);
  c.apply("Node", "DELETED", node("node-2", [], []));
  assertEquals(c.nodeOfIP("10.244.3.100"), undefined);
  assertEquals(c.node("node-2"), undefined);
  assert(!c.isPodCIDR("10.244.3.1"));
});

Deno.test("cache: isPodCIDR knows configured cluster CIDRs and known pod IPs without node CIDRs", () => {
  const c = cache({ podCIDRs: ["192.168.0.0/16"] });
  assert(c.isPodCIDR("192.168.7.7"));
  assert(!c.isPodCIDR("10.1.1.1"));
  c.apply("Pod", "ADDED", pod("calico-pod", ["10.1.1.1"], { node: "node-9" }));
  assert(c.isPodCIDR("10.1.1.1"));
  assertEquals(c.nodeOfIP("10.1.1.1"), "node-9");
  assertThrows(() => new ClusterCache({ podCIDRs: ["10.0.0.0"] }), TypeError, "Invalid pod CIDR");
});

Deno.test("cache: namespace labels include kubernetes.io/metadata.name and follow updates", () => {
  const c = cache();
  assertEquals(c.namespaceLabels("unknown"), { "kubernetes.io/metadata.name": "unknown" });
  c.apply("Namespace", "ADDED", { metadata: { name: "shop", labels: { team: "a" } } });
  assertEquals(c.namespaceLabels("shop"), { team: "a", "kubernetes.io/metadata.name": "shop" });
  c.apply("Namespace", "MODIFIED", { metadata: { name: "shop", labels: { team: "b" } } });
  assertEquals(c.namespaceLabels("shop").team, "b");
  c.apply("Namespace", "DELETED", { metadata: { name: "shop" } });
  assertEquals(c.namespaceLabels("shop"), { "kubernetes.io/metadata.name": "shop" });
});

Deno.test("cache: NetworkPolicies by namespace, sorted by name", () => {
  const c = cache();
  const np = (ns: string, name: string): NetworkPolicy => ({
    metadata: { namespace: ns, name },
    spec: { podSelector: {} },
  });
  c.apply("NetworkPolicy", "ADDED", np("shop", "b"));
  c.apply("NetworkPolicy", "ADDED", np("shop", "a"));
  c.apply("NetworkPolicy", "ADDED", np("dev", "z"));
  const names = (ps: readonly NetworkPolicy[]) => ps.map((p) => p.metadata?.name);
  assertEquals(names(c.networkPolicies("shop")), ["a", "b"]);
  assertEquals(names(c.networkPolicies("dev")), ["z"]);
  assertEquals(names(c.networkPolicies("none")), []);
  assertEquals(names(c.networkPolicies()), ["z", "a", "b"]);
  c.apply("NetworkPolicy", "DELETED", np("shop", "a"));
  assertEquals(names(c.networkPolicies("shop")), ["b"]);
  c.apply("NetworkPolicy", "DELETED", np("shop", "b"));
  assertEquals(names(c.networkPolicies("shop")), []);
});

Deno.test("cache: replace emits the differences, and only them", () => {
  const c = cache();
  const events: string[] = [];
  const off = c.subscribe((e) =>
    events.push(e.type === "SYNCED" ? e.type : `${e.type} ${e.object.metadata?.name}`)
  );
  c.replace("Pod", [pod("a", ["10.0.0.1"], { rv: "1" }), pod("b", ["10.0.0.2"], { rv: "1" })]);
  c.replace("Pod", [pod("b", ["10.0.0.2"], { rv: "1" }), pod("c", ["10.0.0.3"], { rv: "5" })]);
  c.replace("Pod", [pod("b", ["10.0.0.20"], { rv: "2" }), pod("c", ["10.0.0.3"], { rv: "5" })]);
  assertEquals(events, ["ADDED a", "ADDED b", "DELETED a", "ADDED c", "MODIFIED b"]);
  assertEquals(c.podByIP("10.0.0.1"), undefined);
  assertEquals(c.podByIP("10.0.0.2"), undefined);
  assertEquals(c.podByIP("10.0.0.20")?.name, "b");
  assertEquals(c.count("Pod"), 2);
  assertEquals(c.list("Pod").map((p) => p.metadata?.name).sort(), ["b", "c"]);
  const g = c.generation;
  off();
  c.apply("Pod", "DELETED", pod("c", []));
  assertEquals(events.length, 5);
  assertEquals(c.generation, g + 1);
});

Deno.test("cache: event types follow the cache; nameless objects and unknown deletes are no-ops", () => {
  const c = cache();
  const events: CacheEvent[] = [];
  c.subscribe((e) => events.push(e));
  assert(c.apply("Pod", "MODIFIED", pod("a", [])));
  assert(c.apply("Pod", "ADDED", pod("a", [])));
  assert(!c.apply("Pod", "DELETED", pod("zzz", [])));
  assert(!c.apply("Pod", "ADDED", { metadata: {} }));
  assertEquals(events.map((e) => e.type), ["ADDED", "MODIFIED"]);
  c.subscribe(() => {
    throw new Error("listener bug");
  });
  assert(c.apply("Pod", "DELETED", pod("a", [])), "a throwing listener does not break the cache");
});

Deno.test("cache: synced once every expected kind is listed; whenSynced honors its signal", async () => {
  const c = cache({ kinds: ["Pod", "Service"] });
  const events: string[] = [];
  c.subscribe((e) => events.push(e.type));
  const ac = new AbortController();
  const aborted = c.whenSynced(ac.signal);
  ac.abort(new Error("gave up"));
  await assertRejects(() => aborted, Error, "gave up");
  const synced = c.whenSynced();
  c.markSynced("Pod");
  assert(!c.synced);
  c.markSynced("Service");
  assert(c.synced);
  await synced;
  c.markSynced("Service");
  assertEquals(events, ["SYNCED"]);
  await c.whenSynced();
});

Deno.test("cache: managedFields are dropped without touching the caller's object", () => {
  const c = cache();
  const p = pod("a", ["10.0.0.1"]);
  p.metadata!.managedFields = [{ manager: "kubelet" }];
  c.apply("Pod", "ADDED", p);
  assertEquals(c.get("Pod", "a")?.metadata?.managedFields, undefined);
  assertEquals(p.metadata!.managedFields, [{ manager: "kubelet" }]);
  assertEquals(c.podByIP("10.0.0.1")?.pod.metadata?.managedFields, undefined);
});

Deno.test("cache: protocols by name or IANA number", () => {
  assertEquals(normalizeProtocol(6), "TCP");
  assertEquals(normalizeProtocol(17), "UDP");
  assertEquals(normalizeProtocol(132), "SCTP");
  assertEquals(normalizeProtocol("sctp"), "SCTP");
  assertEquals(normalizeProtocol(1), undefined);
  assertEquals(normalizeProtocol("ICMP"), undefined);
});
