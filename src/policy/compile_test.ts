import {
  assert,
  assertEquals,
  assertInstanceOf,
  assertStringIncludes,
  assertThrows,
} from "../../tests/_assert.ts";
import type { NetworkPolicy, NetworkPolicySpec } from "kubernetes-types/networking/v1.d.ts";
import { compilePolicy, PolicyError } from "./compile.ts";
import { StaticPolicyView } from "./view.ts";
import { np, PODS } from "./_test_cluster.ts";

const from = (peer: unknown): NetworkPolicySpec =>
  ({ podSelector: {}, ingress: [{ from: [peer] }] }) as NetworkPolicySpec;
const port = (p: unknown): NetworkPolicySpec =>
  ({ podSelector: {}, ingress: [{ ports: [p] }] }) as NetworkPolicySpec;

/** Malformed specs: [what, spec, field, text the message includes]. */
const MALFORMED: [string, NetworkPolicySpec, string, string][] = [
  [
    "prefix too long",
    from({ ipBlock: { cidr: "10.0.0.0/33" } }),
    "spec.ingress[0].from[0].ipBlock.cidr",
    '"10.0.0.0/33" is not a CIDR',
  ],
  [
    "short address",
    from({ ipBlock: { cidr: "10.0.0/8" } }),
    "spec.ingress[0].from[0].ipBlock.cidr",
    "is not a CIDR",
  ],
  [
    "no prefix",
    from({ ipBlock: { cidr: "10.0.0.1" } }),
    "spec.ingress[0].from[0].ipBlock.cidr",
    "is not a CIDR",
  ],
  [
    "IPv6 prefix too long",
    from({ ipBlock: { cidr: "fd00::/129" } }),
    "spec.ingress[0].from[0].ipBlock.cidr",
    "is not a CIDR",
  ],
  ["missing cidr", from({ ipBlock: {} }), "spec.ingress[0].from[0].ipBlock.cidr", "is not a CIDR"],
  [
    "bad except",
    from({ ipBlock: { cidr: "10.0.0.0/8", except: ["x"] } }),
    "spec.ingress[0].from[0].ipBlock.except[0]",
    "is not a CIDR",
  ],
  [
    "except outside cidr",
    from({ ipBlock: { cidr: "10.0.0.0/8", except: ["11.0.0.0/16"] } }),
    "spec.ingress[0].from[0].ipBlock.except[0]",
    "not a strict subset of cidr 10.0.0.0/8",
  ],
  [
    "except equal to cidr",
    from({ ipBlock: { cidr: "10.0.0.0/8", except: ["10.0.0.0/8"] } }),
    "spec.ingress[0].from[0].ipBlock.except[0]",
    "strict subset",
  ],
  [
    "except of the other family",
    from({ ipBlock: { cidr: "10.0.0.0/8", except: ["fd00::/64"] } }),
    "spec.ingress[0].from[0].ipBlock.except[0]",
    "strict subset",
  ],
  [
    "unknown operator",
    from({ podSelector: { matchExpressions: [{ key: "a", operator: "Equals", values: ["b"] }] } }),
    "spec.ingress[0].from[0].podSelector.matchExpressions[0].operator",
    '"Equals" is not one of In, NotIn, Exists, DoesNotExist',
  ],
  [
    "In without values",
    from({ namespaceSelector: { matchExpressions: [{ key: "a", operator: "In" }] } }),
    "spec.ingress[0].from[0].namespaceSelector.matchExpressions[0].values",
    "must be non-empty for operator In",
  ],
  [
    "Exists with values",
    { podSelector: { matchExpressions: [{ key: "a", operator: "Exists", values: ["b"] }] } },
    "spec.podSelector.matchExpressions[0].values",
    "must be empty for operator Exists",
  ],
  [
    "matchLabels value not a string",
    { podSelector: { matchLabels: { a: 1 as unknown as string } } },
    "spec.podSelector.matchLabels.a",
    "must be a string",
  ],
  [
    "empty peer",
    from({}),
    "spec.ingress[0].from[0]",
    "must give podSelector, namespaceSelector or ipBlock",
  ],
  [
    "ipBlock with a selector",
    from({ ipBlock: { cidr: "10.0.0.0/8" }, podSelector: {} }),
    "spec.ingress[0].from[0]",
    "may not give ipBlock together",
  ],
  [
    "unknown protocol",
    port({ protocol: "ICMP", port: 1 }),
    "spec.ingress[0].ports[0].protocol",
    '"ICMP" is not one of TCP, UDP, SCTP',
  ],
  [
    "lower-case protocol",
    port({ protocol: "tcp", port: 1 }),
    "spec.ingress[0].ports[0].protocol",
    "is not one of",
  ],
  ["port 0", port({ port: 0 }), "spec.ingress[0].ports[0].port", "0 is not a port in 1-65535"],
  ["port too big", port({ port: 70000 }), "spec.ingress[0].ports[0].port", "is not a port"],
  [
    "endPort below port",
    port({ port: 100, endPort: 99 }),
    "spec.ingress[0].ports[0].endPort",
    "99 is not a port in 100-65535",
  ],
  [
    "endPort with a named port",
    port({ port: "http", endPort: 99 }),
    "spec.ingress[0].ports[0].endPort",
    'named port "http"',
  ],
  [
    "endPort without port",
    port({ endPort: 99 }),
    "spec.ingress[0].ports[0].endPort",
    "needs a numeric port",
  ],
  ["numeric string port", port({ port: "80" }), "spec.ingress[0].ports[0].port", "write a number"],
  [
    "upper-case port name",
    port({ port: "HTTP" }),
    "spec.ingress[0].ports[0].port",
    "is not a port name",
  ],
  [
    "unknown policy type",
    { podSelector: {}, policyTypes: ["Both"] },
    "spec.policyTypes[0]",
    '"Both" is not Ingress or Egress',
  ],
  [
    "egress to a bad cidr",
    { podSelector: {}, egress: [{ to: [{ ipBlock: { cidr: "::/0/1" } }] }] },
    "spec.egress[0].to[0].ipBlock.cidr",
    "is not a CIDR",
  ],
  ["rules not a list", { podSelector: {}, ingress: {} as never }, "spec.ingress", "must be a list"],
];

for (const [what, spec, field, includes] of MALFORMED) {
  Deno.test(`compilePolicy refuses: ${what}`, () => {
    const e = assertThrows(() => compilePolicy(np("bad", spec, "prod")), PolicyError, includes);
    assertInstanceOf(e, TypeError);
    assertEquals(e.field, field);
    assertEquals(e.policy, "prod/bad");
    assertStringIncludes(e.message, `Invalid NetworkPolicy prod/bad: ${field}`);
  });
}

Deno.test("compilePolicy refuses a policy without name or spec", () => {
  assertThrows(() => compilePolicy({ spec: { podSelector: {} } }), PolicyError, "metadata.name");
  assertThrows(() => compilePolicy({ metadata: { name: "x" } }), PolicyError, "default/x: spec");
  assertThrows(() => compilePolicy(null as unknown as NetworkPolicy), PolicyError);
});

Deno.test("compilePolicy: policyTypes defaults and rule names", () => {
  const deny = compilePolicy(np("deny", { podSelector: {} }));
  assertEquals(deny.ingress, []);
  assertEquals(deny.egress, undefined);
  const both = compilePolicy(np("both", {
    podSelector: {},
    ingress: [{}, {}],
    egress: [{
      ports: [{ port: 80, endPort: 90 }, { protocol: "UDP" }, { port: "dns", protocol: "UDP" }],
    }],
  }));
  assertEquals(both.ingress?.map((r) => r.name), ["ingress-0", "ingress-1"]);
  assertEquals(both.egress?.[0]?.name, "egress-0");
  assertEquals(both.egress?.[0]?.ports, [
    { protocol: 6, port: 80, endPort: 90 },
    { protocol: 17 },
    { protocol: 17, name: "dns" },
  ]);
  assertEquals(both.egress?.[0]?.allow, {
    action: 1,
    policyName: "both",
    policyNamespace: "default",
    policyType: 1,
    ruleName: "egress-0",
  });
  assertEquals(both.drop, {
    action: 2,
    policyName: "both",
    policyNamespace: "default",
    policyType: 1,
  });
  // An empty list of egress rules does not make it an egress policy by default.
  assertEquals(compilePolicy(np("e", { podSelector: {}, egress: [] })).egress, undefined);
  // Egress only, declared.
  const eg = compilePolicy(np("e", { podSelector: {}, policyTypes: ["Egress"] }));
  assertEquals([eg.ingress, eg.egress], [undefined, []]);
});

Deno.test("compilePolicy accepts what the API server accepts", () => {
  // Host bits in a CIDR (Go's ParseCIDR masks them), leading zeros, IPv6 blocks, a missing
  // namespace (the default one), an empty from list (every peer).
  const p = compilePolicy({
    metadata: { name: "ok" },
    spec: {
      podSelector: { matchLabels: {} },
      ingress: [
        { from: [{ ipBlock: { cidr: "10.1.2.3/8", except: ["10.1.0.0/16"] } }] },
        { from: [{ ipBlock: { cidr: "010.0.0.0/8" } }] },
        { from: [{ ipBlock: { cidr: "2001:db8::/32", except: ["2001:db8:1::/48"] } }] },
        { from: [], ports: [] },
        { from: [{ namespaceSelector: {} }] },
      ],
    },
  });
  assertEquals(p.namespace, "default");
  assertEquals(p.ingress?.[0]?.peers?.[0]?.ipBlock?.cidr, { words: [0x0a000000], prefix: 8 });
  assertEquals(p.ingress?.[3]?.peers, undefined);
  assertEquals(p.ingress?.[3]?.ports, undefined);
  assert(p.ingress?.[4]?.peers?.[0]?.namespaces !== undefined);
});

Deno.test("StaticPolicyView: a malformed policy throws at load, or is reported and left out", () => {
  const good = np("good", { podSelector: {} });
  const bad = np("bad", { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: "nope" } }] }] });
  assertThrows(
    () => new StaticPolicyView({ pods: PODS, networkPolicies: [good, bad] }),
    PolicyError,
    'Invalid NetworkPolicy default/bad: spec.ingress[0].from[0].ipBlock.cidr "nope" is not a CIDR',
  );
  const reported: string[] = [];
  const view = new StaticPolicyView({ pods: PODS, networkPolicies: [good, bad] }, {
    onInvalid: (e, policy) => reported.push(`${policy.metadata?.name}: ${e.field}`),
  });
  assertEquals(reported, ["bad: spec.ingress[0].from[0].ipBlock.cidr"]);
  assertEquals(view.policies("default").map((p) => p.name), ["good"]);
});

Deno.test("compilePolicy: an empty policyTypes list defaults as a missing one (the API server's defaulting)", () => {
  const p = compilePolicy({
    metadata: { name: "deny", namespace: "prod" },
    spec: { podSelector: {}, policyTypes: [], egress: [{}] },
  });
  assertEquals(p.ingress, []);
  assertEquals(p.egress?.length, 1);
  const q = compilePolicy({
    metadata: { name: "deny", namespace: "prod" },
    spec: { podSelector: {}, policyTypes: [] },
  });
  assertEquals(q.ingress, []);
  assertEquals(q.egress, undefined);
});
