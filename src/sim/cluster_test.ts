import { assert, assertEquals, assertNotEquals, assertThrows } from "../../tests/_assert.ts";
import { applyInventory, ClusterCache, parseInventory } from "../k8s/mod.ts";
import { silentLogger } from "../log/mod.ts";
import { ClusterPolicyView, evaluate } from "../policy/mod.ts";
import { loadCluster, type SimCluster, simulatedCluster, type WorkloadName } from "./cluster.ts";
import { clusterInventory } from "./inventory.ts";

function pod(c: SimCluster, w: WorkloadName) {
  return c.podsOf[w][0]!;
}

Deno.test("cluster: nodes, pod CIDRs and an even spread of pods", () => {
  const c = simulatedCluster({ nodes: 3, podsPerNode: 10, seed: 5 });
  assertEquals(c.nodes.map((n) => [n.name, n.podCIDR, n.internalIP]), [
    ["node-1", "10.244.1.0/24", "172.18.0.2"],
    ["node-2", "10.244.2.0/24", "172.18.0.3"],
    ["node-3", "10.244.3.0/24", "172.18.0.4"],
  ]);
  assertEquals(c.pods.length, 30);
  for (const n of c.nodes) {
    const on = c.pods.filter((p) => p.node === n);
    assertEquals(on.length, 10);
    for (const p of on) assert(p.ip.startsWith(`10.244.${n.index}.`), p.ip);
  }
  assertEquals(new Set(c.pods.map((p) => p.ip)).size, 30);
  for (const [w, list] of Object.entries(c.podsOf)) assert(list.length >= 1, w);
  // Replicas spread over nodes.
  assertEquals(new Set(c.podsOf.web.map((p) => p.node.name)).size, 3);
  // The same seed, the same cluster; another seed, other names.
  assertEquals(simulatedCluster({ nodes: 3, podsPerNode: 10, seed: 5 }).objects, c.objects);
  assertNotEquals(
    simulatedCluster({ nodes: 3, podsPerNode: 10, seed: 6 }).pods.map((p) => p.name),
    c.pods.map((p) => p.name),
  );
  // Every workload gets a pod, even in the smallest cluster.
  assertEquals(simulatedCluster({ nodes: 1, podsPerNode: 1 }).pods.length, 7);
  assertThrows(() => simulatedCluster({ nodes: 0 }), RangeError);
  assertThrows(() => simulatedCluster({ podsPerNode: 251 }), RangeError);
});

Deno.test("cluster: loaded into a cluster cache, it answers the agent's questions", () => {
  const c = simulatedCluster({ seed: 2 });
  const cache = new ClusterCache({ logger: silentLogger });
  loadCluster(cache, c);
  assert(cache.synced);
  for (const p of c.pods) {
    const info = cache.podByIP(p.ip);
    assertEquals([info?.namespace, info?.name, info?.nodeName], [p.namespace, p.name, p.node.name]);
  }
  assertEquals(
    cache.serviceByClusterIP("10.96.0.10", 53, 17)?.servicePortName,
    "kube-system/kube-dns:dns",
  );
  const api = c.services.get("backend/api")!;
  assertEquals(
    cache.serviceByClusterIP(api.clusterIP, 9090, 6)?.servicePortName,
    "backend/api:grpc",
  );
  assert(cache.isPodCIDR("10.244.3.200"));
  assert(!cache.isPodCIDR("93.184.216.34"));
  assertEquals(cache.nodeOfIP("172.18.0.3"), "node-2");
});

Deno.test("cluster: its NetworkPolicies allow the applications and drop the rest", () => {
  const c = simulatedCluster({ seed: 3 });
  const cache = new ClusterCache({ logger: silentLogger });
  loadCluster(cache, c);
  const view = new ClusterPolicyView(cache, silentLogger);
  const flow = (src: string, dst: string, port: number, protocol = 6) =>
    evaluate(view, { sourceIP: src, destinationIP: dst, protocol, destinationPort: port });
  const web = pod(c, "web");
  const api = pod(c, "api");
  const pg = pod(c, "postgres");
  const redis = pod(c, "redis");
  const prom = pod(c, "prometheus");
  const dns = pod(c, "coredns");
  const worker = pod(c, "worker");
  const verdict = (v: { action: number; policyName: string; ruleName?: string } | undefined) =>
    v && [v.action, v.policyName, v.ruleName];

  assertEquals(verdict(flow(web.ip, api.ip, 8080).ingress), [1, "api-ingress", "ingress-0"]);
  assertEquals(verdict(flow(worker.ip, api.ip, 9090).ingress), [1, "api-ingress", "ingress-1"]);
  assertEquals(verdict(flow(api.ip, pg.ip, 5432).ingress), [
    1,
    "postgres-from-backend",
    "ingress-0",
  ]);
  assertEquals(verdict(flow(api.ip, redis.ip, 6379).ingress), [
    1,
    "redis-from-backend",
    "ingress-0",
  ]);
  assertEquals(verdict(flow(prom.ip, pg.ip, 9187).ingress), [1, "monitoring-scrape", "ingress-0"]);
  assertEquals(verdict(flow(prom.ip, web.ip, 9100).ingress), [1, "web-ingress", "ingress-1"]);
  assertEquals(verdict(flow("203.0.113.9", web.ip, 8080).ingress), [1, "web-ingress", "ingress-0"]);
  assertEquals(verdict(flow(pg.ip, dns.ip, 53, 17).egress), [1, "dns-egress", "egress-0"]);
  // Denied: the web tier into the databases, the databases out to the internet.
  assertEquals(verdict(flow(web.ip, pg.ip, 5432).ingress), [2, "default-deny-ingress", undefined]);
  assertEquals(verdict(flow(web.ip, redis.ip, 6379).ingress), [
    2,
    "default-deny-ingress",
    undefined,
  ]);
  assertEquals(verdict(flow(pg.ip, "93.184.216.34", 443).egress), [
    2,
    "default-deny-egress",
    undefined,
  ]);
  // Not isolated: no verdict.
  assertEquals(flow(worker.ip, "93.184.216.34", 443), {});
});

Deno.test("cluster: its inventory file loads back into the same cluster", () => {
  const c = simulatedCluster({ nodes: 2, podsPerNode: 6, seed: 4 });
  const inventory = parseInventory(clusterInventory(c), "sim.yaml");
  assertEquals(inventory.warnings, []);
  const o = c.objects;
  assertEquals(
    inventory.objects.length,
    o.namespaces.length + o.nodes.length + o.pods.length + o.services.length +
      o.networkPolicies.length,
  );
  const cache = new ClusterCache({ logger: silentLogger });
  applyInventory(cache, inventory);
  for (const p of c.pods) assertEquals(cache.podByIP(p.ip)?.name, p.name);
  assertEquals(cache.networkPolicies("db").length, 6);
});
