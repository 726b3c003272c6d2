import { assertEquals } from "../../tests/_assert.ts";
import { podRef, StaticPolicyView } from "./view.ts";
import { IP, NAMESPACES, NODES, np, PODS } from "./_test_cluster.ts";

Deno.test("podRef: namespace, labels, node and named ports of every container", () => {
  const ref = podRef({
    metadata: { name: "p", labels: { a: "1" } },
    spec: {
      nodeName: "n1",
      containers: [
        { name: "a", ports: [{ name: "http", containerPort: 80 }, { containerPort: 81 }] },
        { name: "b", ports: [{ name: "dns", containerPort: 53, protocol: "UDP" }] },
        { name: "c", ports: [{ name: "dns", containerPort: 5353, protocol: "TCP" }] },
      ],
      initContainers: [
        {
          name: "sidecar",
          restartPolicy: "Always",
          ports: [{ name: "proxy", containerPort: 15001 }],
        },
        { name: "init", ports: [{ name: "setup", containerPort: 9 }] },
      ],
    },
  });
  assertEquals(ref?.namespace, "default");
  assertEquals(ref?.nodeName, "n1");
  assertEquals(ref?.labels, { a: "1" });
  assertEquals([...ref!.namedPorts], [
    ["http", [{ port: 80, protocol: 6 }]],
    ["dns", [{ port: 53, protocol: 17 }, { port: 5353, protocol: 6 }]],
    ["proxy", [{ port: 15001, protocol: 6 }]],
  ]);
  assertEquals(podRef({ metadata: {} }), undefined);
  assertEquals(podRef({})?.name, undefined);
});

Deno.test("StaticPolicyView: indexes", () => {
  const view = new StaticPolicyView({
    pods: PODS,
    namespaces: NAMESPACES,
    nodes: NODES,
    networkPolicies: [
      np("zeta", { podSelector: {} }),
      np("Alpha", { podSelector: {} }),
      np("alpha", { podSelector: {} }),
      np("beta", { podSelector: {} }, "other"),
    ],
  });
  assertEquals(view.podByIP(IP.db)?.name, "db");
  // Every pod IP, any IPv6 spelling.
  assertEquals(view.podByIP(IP.db6)?.name, "db");
  assertEquals(view.podByIP("FD00:1:0::0:10")?.name, "db");
  // Not indexed: hostNetwork pods, finished pods, unknown addresses, garbage.
  assertEquals(view.podByIP(IP.hostNet), undefined);
  assertEquals(view.podByIP(IP.finished), undefined);
  assertEquals(view.podByIP("203.0.113.1"), undefined);
  assertEquals(view.podByIP("::zz"), undefined);
  // Policies by name, in code-unit order.
  assertEquals(view.policies("default").map((p) => p.name), ["Alpha", "alpha", "zeta"]);
  assertEquals(view.policies("other").map((p) => p.name), ["beta"]);
  assertEquals(view.policies("nowhere"), []);
  // Namespace labels carry kubernetes.io/metadata.name, also for namespaces known only by pods.
  assertEquals(view.namespaceLabels("myproject-ns"), {
    project: "myproject",
    "kubernetes.io/metadata.name": "myproject-ns",
  });
  assertEquals(view.namespaceLabels("ghost"), { "kubernetes.io/metadata.name": "ghost" });
  assertEquals(view.namespaceLabels("nowhere"), undefined);
  assertEquals(view.nodeByIP(IP.node2), "node-2");
  assertEquals(view.nodeByIP("203.0.113.1"), undefined);
});
