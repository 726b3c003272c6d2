import { assertEquals } from "../../tests/_assert.ts";
import { ClusterCache } from "../k8s/mod.ts";
import { ClusterPolicyView } from "./cluster_view.ts";
import { evaluate } from "./evaluate.ts";
import { silentLogger } from "../log/mod.ts";

Deno.test("ClusterPolicyView: policies and pods from the cache; a node may reach its own pods", () => {
  const cache = new ClusterCache({ logger: silentLogger });
  cache.replace("Node", [{
    metadata: { name: "n1" },
    spec: { podCIDRs: ["10.1.0.0/24"] },
    status: { addresses: [{ type: "InternalIP", address: "172.18.0.2" }] },
  }]);
  cache.replace("Namespace", [{ metadata: { name: "db" } }]);
  cache.replace("Pod", [{
    metadata: { namespace: "db", name: "pg", labels: { app: "pg" } },
    spec: { nodeName: "n1", containers: [{ name: "c" }] },
    status: { phase: "Running", podIP: "10.1.0.5", podIPs: [{ ip: "10.1.0.5" }] },
  }]);
  cache.replace("NetworkPolicy", [{
    metadata: { namespace: "db", name: "deny-all" },
    spec: { podSelector: {}, policyTypes: ["Ingress"] },
  }]);
  const view = new ClusterPolicyView(cache, silentLogger);
  const flow = (src: string) => ({
    sourceIP: src,
    destinationIP: "10.1.0.5",
    protocol: 6,
    destinationPort: 5432,
  });
  assertEquals(evaluate(view, flow("10.2.0.9")).ingress?.action, 2);
  assertEquals(evaluate(view, flow("10.2.0.9")).ingress?.policyName, "deny-all");
  // The kubelet's probes come from the node's own address.
  assertEquals(evaluate(view, flow("172.18.0.2")).ingress, undefined);
  assertEquals(view.nodeByIP("10.1.0.5"), undefined);
});
