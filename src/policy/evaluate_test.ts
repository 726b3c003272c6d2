import { assertEquals } from "../../tests/_assert.ts";
import type { NetworkPolicy } from "kubernetes-types/networking/v1.d.ts";
import { evaluate, type FlowVerdicts } from "./evaluate.ts";
import { StaticPolicyView } from "./view.ts";
import { flow, IP, NAMESPACES, NODES, np, PODS, verdict } from "./_test_cluster.ts";
import type { PolicyView } from "./view.ts";

/** A group of cases sharing a set of policies: each case is [flow, ingress, egress]. */
interface Group {
  readonly name: string;
  readonly policies: NetworkPolicy[];
  readonly cases: readonly (readonly [string, string | undefined, string | undefined])[];
}

// Policies of the Kubernetes documentation (concepts/services-networking/network-policies).

const TEST_NETWORK_POLICY = np("test-network-policy", {
  podSelector: { matchLabels: { role: "db" } },
  policyTypes: ["Ingress", "Egress"],
  ingress: [{
    from: [
      { ipBlock: { cidr: "172.17.0.0/16", except: ["172.17.1.0/24"] } },
      { namespaceSelector: { matchLabels: { project: "myproject" } } },
      { podSelector: { matchLabels: { role: "frontend" } } },
    ],
    ports: [{ protocol: "TCP", port: 6379 }],
  }],
  egress: [{
    to: [{ ipBlock: { cidr: "10.0.0.0/24" } }],
    ports: [{ protocol: "TCP", port: 5978 }],
  }],
});

const TNP = "default/test-network-policy";

const GROUPS: Group[] = [
  {
    name: "test-network-policy",
    policies: [TEST_NETWORK_POLICY],
    cases: [
      // Ingress to role=db on TCP 6379 from role=frontend pods of "default".
      [`${IP.frontend} -> ${IP.db} tcp/6379`, `allow ${TNP} ingress-0`, undefined],
      // podSelector alone selects pods of the policy's namespace only.
      [`${IP.otherFrontend} -> ${IP.db} tcp/6379`, `drop ${TNP}`, undefined],
      [`${IP.backend} -> ${IP.db} tcp/6379`, `drop ${TNP}`, undefined],
      // Any pod of a namespace labelled project=myproject.
      [`${IP.myproject} -> ${IP.db} tcp/6379`, `allow ${TNP} ingress-0`, undefined],
      // 172.17.0.0–172.17.0.255 and 172.17.2.0–172.17.255.255, not 172.17.1.0/24.
      [`172.17.0.5 -> ${IP.db} tcp/6379`, `allow ${TNP} ingress-0`, undefined],
      [`172.17.1.5 -> ${IP.db} tcp/6379`, `drop ${TNP}`, undefined],
      [`172.17.2.0 -> ${IP.db} tcp/6379`, `allow ${TNP} ingress-0`, undefined],
      [`172.17.255.255 -> ${IP.db} tcp/6379`, `allow ${TNP} ingress-0`, undefined],
      [`172.18.0.1 -> ${IP.db} tcp/6379`, `drop ${TNP}`, undefined],
      // Only TCP 6379.
      [`${IP.frontend} -> ${IP.db} tcp/6380`, `drop ${TNP}`, undefined],
      [`${IP.frontend} -> ${IP.db} udp/6379`, `drop ${TNP}`, undefined],
      // Egress from role=db to 10.0.0.0/24 on TCP 5978.
      [`${IP.db} -> 10.0.0.7 tcp/5978`, undefined, `allow ${TNP} egress-0`],
      [`${IP.db} -> 10.0.1.7 tcp/5978`, undefined, `drop ${TNP}`],
      [`${IP.db} -> 10.0.0.7 udp/5978`, undefined, `drop ${TNP}`],
      [`${IP.db} -> 10.0.0.7 tcp/5979`, undefined, `drop ${TNP}`],
      // Egress to a pod that no policy isolates for ingress.
      [`${IP.db} -> ${IP.frontend} tcp/80`, undefined, `drop ${TNP}`],
      // Pods the policy does not select are not isolated.
      [`${IP.frontend} -> ${IP.backend} tcp/80`, undefined, undefined],
      // Non-pod peers on both ends: nothing to say.
      ["203.0.113.1 -> 198.51.100.1 tcp/6379", undefined, undefined],
      // hostNetwork pods and finished pods are not pods here: only ipBlocks match them.
      [`${IP.hostNet} -> ${IP.db} tcp/6379`, `drop ${TNP}`, undefined],
      [`${IP.finished} -> 10.0.0.7 tcp/5978`, undefined, undefined],
    ],
  },
  {
    name: "default deny all ingress traffic",
    policies: [np("default-deny-ingress", { podSelector: {}, policyTypes: ["Ingress"] })],
    cases: [
      ["203.0.113.1 -> " + IP.db + " tcp/6379", "drop default/default-deny-ingress", undefined],
      [`${IP.frontend} -> ${IP.backend} udp/53`, "drop default/default-deny-ingress", undefined],
      // Egress is not isolated; other namespaces are untouched.
      [`${IP.db} -> 203.0.113.1 tcp/443`, undefined, undefined],
      [`${IP.db} -> ${IP.aliceServer} tcp/443`, undefined, undefined],
    ],
  },
  {
    name: "allow all ingress traffic",
    policies: [
      np("allow-all-ingress", { podSelector: {}, ingress: [{}], policyTypes: ["Ingress"] }),
    ],
    cases: [
      [
        "203.0.113.1 -> " + IP.db + " tcp/6379",
        "allow default/allow-all-ingress ingress-0",
        undefined,
      ],
      [
        `${IP.bobClient} -> ${IP.backend} udp/9999`,
        "allow default/allow-all-ingress ingress-0",
        undefined,
      ],
      [
        `${IP.bobClient} -> ${IP.backend} icmp/0`,
        "allow default/allow-all-ingress ingress-0",
        undefined,
      ],
    ],
  },
  {
    name: "default deny all egress traffic",
    policies: [np("default-deny-egress", { podSelector: {}, policyTypes: ["Egress"] })],
    cases: [
      [`${IP.db} -> 203.0.113.1 tcp/443`, undefined, "drop default/default-deny-egress"],
      [`${IP.frontend} -> ${IP.backend} tcp/80`, undefined, "drop default/default-deny-egress"],
      // Ingress is not isolated.
      [`203.0.113.1 -> ${IP.db} tcp/6379`, undefined, undefined],
    ],
  },
  {
    name: "allow all egress traffic",
    policies: [
      np("allow-all-egress", { podSelector: {}, egress: [{}], policyTypes: ["Egress"] }),
    ],
    cases: [
      [`${IP.db} -> 203.0.113.1 tcp/443`, undefined, "allow default/allow-all-egress egress-0"],
      [`${IP.db} -> 2001:db8::1 udp/53`, undefined, "allow default/allow-all-egress egress-0"],
      [`203.0.113.1 -> ${IP.db} tcp/6379`, undefined, undefined],
    ],
  },
  {
    name: "default deny all ingress and all egress traffic",
    policies: [np("default-deny-all", { podSelector: {}, policyTypes: ["Ingress", "Egress"] })],
    cases: [
      [
        `${IP.frontend} -> ${IP.backend} tcp/80`,
        "drop default/default-deny-all",
        "drop default/default-deny-all",
      ],
      [`${IP.db} -> 203.0.113.1 tcp/443`, undefined, "drop default/default-deny-all"],
      [`${IP.aliceClient} -> ${IP.db} tcp/6379`, "drop default/default-deny-all", undefined],
    ],
  },
  {
    name: "targeting a range of ports (endPort)",
    policies: [np("multi-port-egress", {
      podSelector: { matchLabels: { role: "db" } },
      policyTypes: ["Egress"],
      egress: [{
        to: [{ ipBlock: { cidr: "10.0.0.0/24" } }],
        ports: [{ protocol: "TCP", port: 32000, endPort: 32768 }],
      }],
    })],
    cases: [
      [`${IP.db} -> 10.0.0.5 tcp/32000`, undefined, "allow default/multi-port-egress egress-0"],
      [`${IP.db} -> 10.0.0.5 tcp/32400`, undefined, "allow default/multi-port-egress egress-0"],
      [`${IP.db} -> 10.0.0.5 tcp/32768`, undefined, "allow default/multi-port-egress egress-0"],
      [`${IP.db} -> 10.0.0.5 tcp/31999`, undefined, "drop default/multi-port-egress"],
      [`${IP.db} -> 10.0.0.5 tcp/32769`, undefined, "drop default/multi-port-egress"],
      [`${IP.db} -> 10.0.0.5 udp/32000`, undefined, "drop default/multi-port-egress"],
      [`${IP.db} -> 10.0.1.5 tcp/32000`, undefined, "drop default/multi-port-egress"],
      // Ingress is not isolated: the policy has policyTypes [Egress].
      [`10.0.0.5 -> ${IP.db} tcp/32000`, undefined, undefined],
    ],
  },
  {
    name: "namespaceSelector AND podSelector (one from element)",
    policies: [np("and", {
      podSelector: { matchLabels: { role: "db" } },
      ingress: [{
        from: [{
          namespaceSelector: { matchLabels: { user: "alice" } },
          podSelector: { matchLabels: { role: "client" } },
        }],
      }],
    })],
    cases: [
      [`${IP.aliceClient} -> ${IP.db} tcp/6379`, "allow default/and ingress-0", undefined],
      [`${IP.aliceServer} -> ${IP.db} tcp/6379`, "drop default/and", undefined],
      [`${IP.bobClient} -> ${IP.db} tcp/6379`, "drop default/and", undefined],
      [`${IP.defaultClient} -> ${IP.db} tcp/6379`, "drop default/and", undefined],
      ["203.0.113.1 -> " + IP.db + " tcp/6379", "drop default/and", undefined],
    ],
  },
  {
    name: "namespaceSelector OR podSelector (two from elements)",
    policies: [np("or", {
      podSelector: { matchLabels: { role: "db" } },
      ingress: [{
        from: [
          { namespaceSelector: { matchLabels: { user: "alice" } } },
          { podSelector: { matchLabels: { role: "client" } } },
        ],
      }],
    })],
    cases: [
      [`${IP.aliceClient} -> ${IP.db} tcp/6379`, "allow default/or ingress-0", undefined],
      [`${IP.aliceServer} -> ${IP.db} tcp/6379`, "allow default/or ingress-0", undefined],
      [`${IP.defaultClient} -> ${IP.db} tcp/6379`, "allow default/or ingress-0", undefined],
      // role=client in bob-ns: the podSelector alone means the policy's namespace.
      [`${IP.bobClient} -> ${IP.db} tcp/6379`, "drop default/or", undefined],
    ],
  },
  {
    name: "targeting a namespace by its name (kubernetes.io/metadata.name)",
    policies: [np("from-my-namespace", {
      podSelector: { matchLabels: { role: "db" } },
      ingress: [{
        from: [
          {
            namespaceSelector: {
              matchLabels: { "kubernetes.io/metadata.name": "my-namespace" },
            },
          },
          // A namespace without a Namespace object still has its name label.
          { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "ghost" } } },
        ],
      }],
    })],
    cases: [
      [
        `${IP.myNamespace} -> ${IP.db} tcp/6379`,
        "allow default/from-my-namespace ingress-0",
        undefined,
      ],
      [`${IP.ghost} -> ${IP.db} tcp/6379`, "allow default/from-my-namespace ingress-0", undefined],
      [`${IP.myproject} -> ${IP.db} tcp/6379`, "drop default/from-my-namespace", undefined],
      [`${IP.frontend} -> ${IP.db} tcp/6379`, "drop default/from-my-namespace", undefined],
    ],
  },
  {
    name: "named ports resolved on the destination pod",
    policies: [
      np("db-redis", {
        podSelector: { matchLabels: { role: "db" } },
        ingress: [{ ports: [{ port: "redis" }, { protocol: "UDP", port: "dns" }] }],
      }),
      np("frontend-egress", {
        podSelector: { matchLabels: { role: "frontend" } },
        policyTypes: ["Egress"],
        egress: [{ ports: [{ port: "redis" }] }],
      }),
    ],
    cases: [
      // The db pod's "redis" is TCP 6379 and its "dns" UDP 53.
      [`${IP.backend} -> ${IP.db} tcp/6379`, "allow default/db-redis ingress-0", undefined],
      [`${IP.backend} -> ${IP.db} tcp/6380`, "drop default/db-redis", undefined],
      [`${IP.backend} -> ${IP.db} udp/6379`, "drop default/db-redis", undefined],
      [`${IP.backend} -> ${IP.db} udp/53`, "allow default/db-redis ingress-0", undefined],
      [`${IP.backend} -> ${IP.db} tcp/53`, "drop default/db-redis", undefined],
      // Egress: the name is looked up on the destination, so "redis" is 6379 on db, 7000 on cache.
      [
        `${IP.frontend} -> ${IP.db} tcp/6379`,
        "allow default/db-redis ingress-0",
        "allow default/frontend-egress egress-0",
      ],
      [
        `${IP.frontend} -> ${IP.cache} tcp/7000`,
        undefined,
        "allow default/frontend-egress egress-0",
      ],
      [`${IP.frontend} -> ${IP.cache} tcp/6379`, undefined, "drop default/frontend-egress"],
      // No "redis" port on backend, and none on an address outside the cluster.
      [`${IP.frontend} -> ${IP.backend} tcp/6379`, undefined, "drop default/frontend-egress"],
      [`${IP.frontend} -> 203.0.113.1 tcp/6379`, undefined, "drop default/frontend-egress"],
    ],
  },
  {
    name: "matchExpressions",
    policies: [np("expressions", {
      podSelector: {
        matchExpressions: [
          { key: "role", operator: "In", values: ["db", "cache"] },
          { key: "env", operator: "NotIn", values: ["prod"] },
        ],
      },
      ingress: [{
        from: [{
          podSelector: {
            matchExpressions: [
              { key: "tier", operator: "Exists" },
              { key: "env", operator: "DoesNotExist" },
            ],
          },
        }],
      }],
    })],
    cases: [
      // db has no env label (NotIn matches), cache has env=prod (not selected).
      [`${IP.frontend} -> ${IP.db} tcp/1`, "allow default/expressions ingress-0", undefined],
      [`${IP.backend} -> ${IP.db} tcp/1`, "drop default/expressions", undefined],
      [`${IP.defaultClient} -> ${IP.db} tcp/1`, "drop default/expressions", undefined],
      [`${IP.frontend} -> ${IP.cache} tcp/1`, undefined, undefined],
    ],
  },
  {
    name: "IPv6 ipBlock",
    policies: [np("v6", {
      podSelector: { matchLabels: { role: "db" } },
      ingress: [{
        from: [
          { ipBlock: { cidr: "fd00:abcd::/32", except: ["fd00:abcd:1::/48"] } },
          { ipBlock: { cidr: "10.0.0.0/8" } },
        ],
      }],
    })],
    cases: [
      [`fd00:abcd::5 -> ${IP.db6} tcp/6379`, "allow default/v6 ingress-0", undefined],
      [`fd00:abcd:ffff::5 -> ${IP.db6} tcp/6379`, "allow default/v6 ingress-0", undefined],
      [`fd00:abcd:1::5 -> ${IP.db6} tcp/6379`, "drop default/v6", undefined],
      [`2001:db8::1 -> ${IP.db6} tcp/6379`, "drop default/v6", undefined],
      // Any spelling of the pod's address finds it.
      ["FD00:ABCD:0::5 -> FD00:1:0:0::10 tcp/6379", "allow default/v6 ingress-0", undefined],
      // An IPv4 block does not match IPv6 addresses, except IPv4-mapped ones.
      [`::a00:1 -> ${IP.db6} tcp/6379`, "drop default/v6", undefined],
      [`::ffff:10.0.0.1 -> ${IP.db6} tcp/6379`, "allow default/v6 ingress-0", undefined],
      // ipBlock matches pod IPs too.
      [`${IP.frontend} -> ${IP.db} tcp/6379`, "allow default/v6 ingress-0", undefined],
    ],
  },
  {
    name: "several policies: the union of their allows, attributed by name",
    policies: [
      // Given out of order: evaluation goes by name.
      np("c-deny", { podSelector: { matchLabels: { role: "db" } } }),
      np("b-allow-backend", {
        podSelector: { matchLabels: { role: "db" } },
        ingress: [
          { from: [{ podSelector: { matchLabels: { role: "client" } } }], ports: [{ port: 1 }] },
          { from: [{ podSelector: { matchLabels: { role: "backend" } } }] },
        ],
      }),
      np("a-allow-frontend", {
        podSelector: { matchLabels: { role: "db" } },
        ingress: [{ from: [{ podSelector: { matchLabels: { role: "frontend" } } }] }],
      }),
      np("d-allow-any", { podSelector: {}, ingress: [{}] }),
    ],
    cases: [
      [
        `${IP.frontend} -> ${IP.db} tcp/6379`,
        "allow default/a-allow-frontend ingress-0",
        undefined,
      ],
      [`${IP.backend} -> ${IP.db} tcp/6379`, "allow default/b-allow-backend ingress-1", undefined],
      // d-allow-any also selects db and allows everything: the union allows.
      ["203.0.113.1 -> " + IP.db + " tcp/6379", "allow default/d-allow-any ingress-0", undefined],
      [`${IP.db} -> ${IP.backend} tcp/80`, "allow default/d-allow-any ingress-0", undefined],
    ],
  },
  {
    name: "isolation by the first selecting policy",
    policies: [
      np("b-deny", { podSelector: { matchLabels: { role: "db" } } }),
      np("a-frontend-only", {
        podSelector: { matchLabels: { role: "db" } },
        ingress: [{ from: [{ podSelector: { matchLabels: { role: "frontend" } } }] }],
      }),
      np("0-other-pods", { podSelector: { matchLabels: { role: "none" } }, ingress: [{}] }),
    ],
    cases: [
      ["203.0.113.1 -> " + IP.db + " tcp/6379", "drop default/a-frontend-only", undefined],
      [`${IP.frontend} -> ${IP.db} tcp/6379`, "allow default/a-frontend-only ingress-0", undefined],
    ],
  },
  {
    name: "a pod selected only by an egress policy is not isolated for ingress",
    policies: [np("egress-only", {
      podSelector: { matchLabels: { role: "db" } },
      policyTypes: ["Egress"],
      egress: [],
    })],
    cases: [
      ["203.0.113.1 -> " + IP.db + " tcp/6379", undefined, undefined],
      [`${IP.db} -> 203.0.113.1 tcp/443`, undefined, "drop default/egress-only"],
    ],
  },
  {
    name: "policyTypes default: Ingress always, Egress when there are egress rules",
    policies: [
      np("implicit-types", {
        podSelector: { matchLabels: { role: "db" } },
        egress: [{ to: [{ ipBlock: { cidr: "10.0.0.0/24" } }] }],
      }),
      np("ingress-type-ignores-egress", {
        podSelector: { matchLabels: { role: "backend" } },
        policyTypes: ["Ingress"],
        ingress: [{}],
        egress: [{ to: [{ ipBlock: { cidr: "10.0.0.0/24" } }] }],
      }),
    ],
    cases: [
      ["203.0.113.1 -> " + IP.db + " tcp/6379", "drop default/implicit-types", undefined],
      [`${IP.db} -> 10.0.0.1 tcp/443`, undefined, "allow default/implicit-types egress-0"],
      [`${IP.db} -> 10.0.1.1 tcp/443`, undefined, "drop default/implicit-types"],
      [`${IP.backend} -> 10.0.1.1 tcp/443`, undefined, undefined],
      [
        `10.0.1.1 -> ${IP.backend} tcp/443`,
        "allow default/ingress-type-ignores-egress ingress-0",
        undefined,
      ],
    ],
  },
  {
    name: "UDP, TCP, SCTP and portless protocols",
    policies: [np("protocols", {
      podSelector: { matchLabels: { role: "db" } },
      ingress: [
        { ports: [{ port: 53 }] },
        { ports: [{ protocol: "UDP" }] },
        { ports: [{ protocol: "SCTP", port: 9000 }] },
      ],
    })],
    cases: [
      // A port without protocol is TCP.
      [`${IP.frontend} -> ${IP.db} tcp/53`, "allow default/protocols ingress-0", undefined],
      // A protocol without port is every port of it.
      [`${IP.frontend} -> ${IP.db} udp/53`, "allow default/protocols ingress-1", undefined],
      [`${IP.frontend} -> ${IP.db} udp/40000`, "allow default/protocols ingress-1", undefined],
      [`${IP.frontend} -> ${IP.db} sctp/9000`, "allow default/protocols ingress-2", undefined],
      [`${IP.frontend} -> ${IP.db} sctp/53`, "drop default/protocols", undefined],
      [`${IP.frontend} -> ${IP.db} tcp/54`, "drop default/protocols", undefined],
      // Rules with ports never match ICMP.
      [`${IP.frontend} -> ${IP.db} icmp/0`, "drop default/protocols", undefined],
    ],
  },
  {
    name: "connections from the pod's own node are always allowed in",
    policies: [np("default-deny-ingress", { podSelector: {}, policyTypes: ["Ingress"] })],
    cases: [
      // db runs on node-1, frontend on node-2.
      [`${IP.node1} -> ${IP.db} tcp/8080`, undefined, undefined],
      [`${IP.node2} -> ${IP.db} tcp/8080`, "drop default/default-deny-ingress", undefined],
      [`${IP.node2} -> ${IP.frontend} tcp/8080`, undefined, undefined],
    ],
  },
  {
    name: "policies of other namespaces do not apply",
    policies: [
      np("deny-all", { podSelector: {}, policyTypes: ["Ingress", "Egress"] }, "alice-ns"),
      np("allow-alice", {
        podSelector: {},
        ingress: [{ from: [{ namespaceSelector: { matchLabels: { user: "alice" } } }] }],
      }),
    ],
    cases: [
      [
        `${IP.aliceClient} -> ${IP.db} tcp/6379`,
        "allow default/allow-alice ingress-0",
        "drop alice-ns/deny-all",
      ],
      [`${IP.db} -> ${IP.aliceClient} tcp/6379`, "drop alice-ns/deny-all", undefined],
      [`${IP.bobClient} -> ${IP.db} tcp/6379`, "drop default/allow-alice", undefined],
    ],
  },
];

for (const group of GROUPS) {
  Deno.test(`evaluate: ${group.name}`, () => {
    const view = new StaticPolicyView({
      pods: PODS,
      namespaces: NAMESPACES,
      nodes: NODES,
      networkPolicies: group.policies,
    });
    for (const [text, ingress, egress] of group.cases) {
      const expected: Record<string, unknown> = {};
      if (ingress !== undefined) expected.ingress = verdict(ingress);
      if (egress !== undefined) expected.egress = verdict(egress);
      assertEquals({ ...evaluate(view, flow(text)) }, expected, text);
    }
  });
}

Deno.test("evaluate: garbage flows get no verdict and never throw", () => {
  const view = new StaticPolicyView({
    pods: PODS,
    namespaces: NAMESPACES,
    networkPolicies: [
      np("default-deny-all", { podSelector: {}, policyTypes: ["Ingress", "Egress"] }),
    ],
  });
  const garbage: unknown[] = [
    { sourceIP: "not-an-ip", destinationIP: IP.db, protocol: 6, destinationPort: 80 },
    { sourceIP: IP.frontend, destinationIP: "", protocol: 6, destinationPort: 80 },
    { sourceIP: "10.0.0.256", destinationIP: IP.db, protocol: 6, destinationPort: 80 },
    { sourceIP: "1::2::3", destinationIP: IP.db, protocol: 6, destinationPort: 80 },
    { sourceIP: "fe80::1%eth0", destinationIP: IP.db, protocol: 6, destinationPort: 80 },
    { sourceIP: 167837697, destinationIP: IP.db, protocol: 6, destinationPort: 80 },
    { sourceIP: null, destinationIP: undefined },
    {},
    null,
    undefined,
  ];
  for (const f of garbage) {
    assertEquals({ ...evaluate(view, f as never) }, {}, JSON.stringify(f));
  }
  // Odd protocol and port values match only rules without ports; they do not throw.
  const odd = { sourceIP: IP.frontend, destinationIP: IP.db, protocol: NaN, destinationPort: -1 };
  assertEquals(evaluate(view, odd).ingress?.action, 2);
});

Deno.test("evaluate: a failing view gives no verdict", () => {
  const view: PolicyView = {
    podByIP: () => {
      throw new Error("index broken");
    },
    namespaceLabels: () => undefined,
    policies: () => [],
  };
  assertEquals({ ...evaluate(view, flow(`${IP.frontend} -> ${IP.db} tcp/80`)) }, {});
});

Deno.test("evaluate: verdicts are shared, frozen objects", () => {
  const view = new StaticPolicyView({ pods: PODS, networkPolicies: [TEST_NETWORK_POLICY] });
  const a = evaluate(view, flow(`${IP.frontend} -> ${IP.db} tcp/6379`));
  const b = evaluate(view, flow(`172.17.0.5 -> ${IP.db} tcp/6379`));
  assertEquals(a.ingress === b.ingress, true);
  assertEquals(Object.isFrozen(a.ingress), true);
});

Deno.test("evaluate: a custom view without nodeByIP", () => {
  const inner = new StaticPolicyView({ pods: PODS, networkPolicies: [TEST_NETWORK_POLICY] });
  const view: PolicyView = {
    podByIP: (ip) => inner.podByIP(ip),
    namespaceLabels: () => undefined,
    policies: (ns) => inner.policies(ns),
  };
  const result: FlowVerdicts = evaluate(view, flow(`${IP.frontend} -> ${IP.db} tcp/6379`));
  assertEquals(result.ingress, verdict(`allow ${TNP} ingress-0`));
  // Without namespace labels the project=myproject namespace is not known as such.
  assertEquals(
    evaluate(view, flow(`${IP.myproject} -> ${IP.db} tcp/6379`)).ingress,
    verdict(`drop ${TNP}`),
  );
});
