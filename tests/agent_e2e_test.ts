/**
 * The flow exporter agent end to end, as root, with the kernel's real conntrack: two "nodes"
 * (network namespaces joined by a veth), "pods" (namespaces routed behind their node), a
 * ClusterIP Service made of an nft DNAT rule on node-a, and a NetworkPolicy whose deny is an nft
 * drop rule on node-b. One `deno task agent` per node namespace, with an inventory file, exports
 * to `deno task collector` (in node-a's namespace, on its node IP); the test sends TCP and UDP
 * traffic of known sizes between the pods and checks the records the collector prints: 5-tuples,
 * pod and node names per reporting node, observation domain IDs, flow types, Service fields,
 * policy fields and actions, counters, and the active, idle and end-of-flow exports.
 *
 * Deno cannot enter a network namespace itself: servers and clients are this file, run with
 * `--role …` under `ip netns exec`.
 *
 * Topology (nothing in the root namespace):
 *
 *   client-a 10.77.1.10 ┐                                              ┌ web-b 10.77.2.10
 *   web-a    10.77.1.11 ├ node-a 192.168.77.1 ──── 192.168.77.2 node-b ┤
 *   echo-a   10.77.1.12 ┘ (collector, DNAT of                (drop)    └ db-b  10.77.2.11
 *                          10.96.0.10:80)
 *
 * @module
 */

import { assert, assertEquals, assertExists, assertMatch, fail } from "./_assert.ts";
import { Background, interopTest, needsRoot, run, sleep, tempDir, waitFor } from "./_tools.ts";
import { needsConntrackLibrary, needsNetnsTools, NetnsLab } from "./_netns.ts";
import { fnv1_32 } from "../src/exporter/mod.ts";

const SELF = new URL(import.meta.url).pathname;
const ROOT = new URL("..", import.meta.url).pathname;

// ---------------------------------------------------------------------------------------------
// Child roles: servers and clients inside pod and node namespaces.

/** TCP servers that read to EOF then answer `reply` bytes; UDP servers that answer each datagram. */
interface ServerConfig {
  hostname?: string;
  tcp?: { port: number; reply: number }[];
  udp?: { port: number; reply: number }[];
}

async function roleServer(cfg: ServerConfig): Promise<void> {
  const hostname = cfg.hostname ?? "0.0.0.0";
  const tasks: Promise<void>[] = [];
  for (const { port, reply } of cfg.tcp ?? []) {
    const l = Deno.listen({ hostname, port, transport: "tcp" });
    tasks.push((async () => {
      for await (const conn of l) {
        void (async () => {
          try {
            const buf = new Uint8Array(65536);
            while ((await conn.read(buf)) !== null) { /* read to EOF */ }
            await writeAll(conn, new Uint8Array(reply));
          } finally {
            conn.close();
          }
        })().catch(() => {});
      }
    })());
  }
  for (const { port, reply } of cfg.udp ?? []) {
    const u = Deno.listenDatagram({ hostname, port, transport: "udp" });
    tasks.push((async () => {
      while (true) {
        const [, from] = await u.receive();
        await u.send(new Uint8Array(reply), from);
      }
    })());
  }
  console.log("ready");
  await Promise.all(tasks);
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
}

/** One TCP connection: `chunks` written `intervalMs` apart, then half-closed, reply read to EOF. */
interface TcpClientConfig {
  hostname: string;
  port: number;
  chunks: number[];
  intervalMs?: number;
}

/** What a client prints last. */
interface ClientResult {
  localPort: number;
  sent: number;
  received: number[];
}

async function roleTcpClient(cfg: TcpClientConfig): Promise<void> {
  const conn = await Deno.connect({ hostname: cfg.hostname, port: cfg.port, transport: "tcp" });
  const localPort = (conn.localAddr as Deno.NetAddr).port;
  let sent = 0;
  for (const [i, n] of cfg.chunks.entries()) {
    if (i > 0 && cfg.intervalMs) await sleep(cfg.intervalMs);
    await writeAll(conn, new Uint8Array(n));
    sent += n;
  }
  await conn.closeWrite();
  let received = 0;
  const buf = new Uint8Array(65536);
  for (let n; (n = await conn.read(buf)) !== null;) received += n;
  conn.close();
  console.log(JSON.stringify({ localPort, sent, received: [received] } satisfies ClientResult));
}

/** Datagrams of `sizes` bytes from one socket, each answered before the next is sent. */
interface UdpClientConfig {
  hostname: string;
  port: number;
  sizes: number[];
}

async function roleUdpClient(cfg: UdpClientConfig): Promise<void> {
  const u = Deno.listenDatagram({ hostname: "0.0.0.0", port: 0, transport: "udp" });
  const localPort = (u.addr as Deno.NetAddr).port;
  const received: number[] = [];
  const timer = setTimeout(() => u.close(), 10_000);
  for (const n of cfg.sizes) {
    await u.send(new Uint8Array(n), { hostname: cfg.hostname, port: cfg.port, transport: "udp" });
    const [data] = await u.receive();
    received.push(data.length);
  }
  clearTimeout(timer);
  u.close();
  const sent = cfg.sizes.reduce((a, b) => a + b, 0);
  console.log(JSON.stringify({ localPort, sent, received } satisfies ClientResult));
}

/** Prints the body of a GET (the agent's /metrics inside its namespace). */
async function roleFetch(url: string): Promise<void> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`GET ${url}: ${res.status}`);
  console.log(await res.text());
}

if (import.meta.main) {
  // A child: no test is registered (their prerequisites would need permissions it lacks).
  const [flag, role, arg] = Deno.args;
  if (flag !== "--role" || arg === undefined) {
    throw new Error(`Usage: ${SELF} --role server|tcp-client|udp-client|fetch ARG`);
  }
  const roles: Record<string, () => Promise<void>> = {
    server: () => roleServer(JSON.parse(arg)),
    "tcp-client": () => roleTcpClient(JSON.parse(arg)),
    "udp-client": () => roleUdpClient(JSON.parse(arg)),
    fetch: () => roleFetch(arg),
  };
  await roles[role!]!();
}

// ---------------------------------------------------------------------------------------------
// The cluster.

const NS = "shop";
const SERVICE_IP = "10.96.0.10";
const COLLECTOR_PORT = 4739;

interface NodeSpec {
  readonly name: "node-a" | "node-b";
  readonly ip: string;
  readonly podCIDR: string;
  /** The pods' default gateway: an address of the node on every pod-facing veth. */
  readonly gateway: string;
  readonly metricsPort: number;
}

const NODES: Record<"a" | "b", NodeSpec> = {
  a: {
    name: "node-a",
    ip: "192.168.77.1",
    podCIDR: "10.77.1.0/24",
    gateway: "10.77.1.1",
    metricsPort: 10351,
  },
  b: {
    name: "node-b",
    ip: "192.168.77.2",
    podCIDR: "10.77.2.0/24",
    gateway: "10.77.2.1",
    metricsPort: 10352,
  },
};

interface PodSpec {
  readonly name: string;
  readonly node: "a" | "b";
  readonly ip: string;
}

const PODS = {
  clientA: { name: "client-a", node: "a", ip: "10.77.1.10" },
  webA: { name: "web-a", node: "a", ip: "10.77.1.11" },
  echoA: { name: "echo-a", node: "a", ip: "10.77.1.12" },
  webB: { name: "web-b", node: "b", ip: "10.77.2.10" },
  dbB: { name: "db-b", node: "b", ip: "10.77.2.11" },
} as const satisfies Record<string, PodSpec>;

/**
 * Pods (nodeName, podIPs, labels, named container ports), Nodes (podCIDRs, InternalIP), the
 * Service and three NetworkPolicies, as `kubectl get -o yaml` prints them:
 * - web-allow-client: pods app=web accept app=client on the named port http (TCP) and UDP 9000;
 * - db-allow-web: pods app=db accept app=web only, so client-a → db-b is dropped;
 * - client-egress: app=client may reach every pod of the namespace, and TCP 7000 in the node
 *   network (ipBlock).
 */
const INVENTORY = `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Node
  metadata: { name: node-a, labels: { kubernetes.io/hostname: node-a } }
  spec: { podCIDR: 10.77.1.0/24, podCIDRs: [10.77.1.0/24] }
  status:
    addresses:
    - { type: InternalIP, address: 192.168.77.1 }
    - { type: Hostname, address: node-a }
- apiVersion: v1
  kind: Node
  metadata: { name: node-b, labels: { kubernetes.io/hostname: node-b } }
  spec: { podCIDR: 10.77.2.0/24, podCIDRs: [10.77.2.0/24] }
  status:
    addresses:
    - { type: InternalIP, address: 192.168.77.2 }
    - { type: Hostname, address: node-b }
- apiVersion: v1
  kind: Pod
  metadata: { name: client-a, namespace: ${NS}, labels: { app: client } }
  spec:
    nodeName: node-a
    containers:
    - name: client
      image: busybox
  status: { phase: Running, podIP: 10.77.1.10, podIPs: [{ ip: 10.77.1.10 }] }
- apiVersion: v1
  kind: Pod
  metadata: { name: web-a, namespace: ${NS}, labels: { app: web } }
  spec:
    nodeName: node-a
    containers:
    - name: web
      image: nginx
      ports:
      - { name: http, containerPort: 8080, protocol: TCP }
      - { name: echo, containerPort: 9000, protocol: UDP }
  status: { phase: Running, podIP: 10.77.1.11, podIPs: [{ ip: 10.77.1.11 }] }
- apiVersion: v1
  kind: Pod
  metadata: { name: echo-a, namespace: ${NS}, labels: { app: echo } }
  spec:
    nodeName: node-a
    containers:
    - name: echo
      image: echo
      ports:
      - { name: echo, containerPort: 7070, protocol: TCP }
  status: { phase: Running, podIP: 10.77.1.12, podIPs: [{ ip: 10.77.1.12 }] }
- apiVersion: v1
  kind: Pod
  metadata: { name: web-b, namespace: ${NS}, labels: { app: web } }
  spec:
    nodeName: node-b
    containers:
    - name: web
      image: nginx
      ports:
      - { name: http, containerPort: 8080, protocol: TCP }
      - { name: echo, containerPort: 9000, protocol: UDP }
  status: { phase: Running, podIP: 10.77.2.10, podIPs: [{ ip: 10.77.2.10 }] }
- apiVersion: v1
  kind: Pod
  metadata: { name: db-b, namespace: ${NS}, labels: { app: db } }
  spec:
    nodeName: node-b
    containers:
    - name: db
      image: postgres
      ports:
      - { name: pg, containerPort: 5432, protocol: TCP }
  status: { phase: Running, podIP: 10.77.2.11, podIPs: [{ ip: 10.77.2.11 }] }
- apiVersion: v1
  kind: Service
  metadata: { name: web, namespace: ${NS} }
  spec:
    type: ClusterIP
    clusterIP: ${SERVICE_IP}
    clusterIPs: [${SERVICE_IP}]
    selector: { app: web }
    ports:
    - { name: http, port: 80, targetPort: http, protocol: TCP }
- apiVersion: networking.k8s.io/v1
  kind: NetworkPolicy
  metadata: { name: web-allow-client, namespace: ${NS} }
  spec:
    podSelector: { matchLabels: { app: web } }
    policyTypes: [Ingress]
    ingress:
    - from:
      - podSelector: { matchLabels: { app: client } }
      ports:
      - { protocol: TCP, port: http }
      - { protocol: UDP, port: 9000 }
- apiVersion: networking.k8s.io/v1
  kind: NetworkPolicy
  metadata: { name: db-allow-web, namespace: ${NS} }
  spec:
    podSelector: { matchLabels: { app: db } }
    policyTypes: [Ingress]
    ingress:
    - from:
      - podSelector: { matchLabels: { app: web } }
      ports:
      - { protocol: TCP, port: 5432 }
- apiVersion: networking.k8s.io/v1
  kind: NetworkPolicy
  metadata: { name: client-egress, namespace: ${NS} }
  spec:
    podSelector: { matchLabels: { app: client } }
    policyTypes: [Egress]
    egress:
    - to:
      - podSelector: {}
    - to:
      - ipBlock: { cidr: 192.168.77.0/24 }
      ports:
      - { protocol: TCP, port: 7000 }
`;

/** Conntrack is active in a namespace only where a rule uses it: the forward chain does. */
const NODE_A_RULES = `table inet flowvis_e2e {
  chain forward {
    type filter hook forward priority filter; policy accept;
    ct state established,related accept
  }
}
table ip flowvis_e2e_nat {
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    ip daddr ${SERVICE_IP} tcp dport 80 dnat to ${PODS.webB.ip}:8080
  }
}
`;

/** The NetworkPolicy db-allow-web, enforced where db-b lives: client-a's SYNs are dropped. */
const NODE_B_RULES = `table inet flowvis_e2e {
  chain forward {
    type filter hook forward priority filter; policy accept;
    ct state established,related accept
    ip saddr ${PODS.clientA.ip} ip daddr ${PODS.dbB.ip} tcp dport 5432 counter drop
  }
}
`;

/** Builds the two nodes and the five pods; returns the namespace of each. */
async function buildCluster(lab: NetnsLab): Promise<{
  node: Record<"a" | "b", string>;
  pod: Record<keyof typeof PODS, string>;
}> {
  const node = { a: await lab.add("node-a"), b: await lab.add("node-b") };
  await lab.veth(
    { ns: node.a, name: "eth0", addresses: [`${NODES.a.ip}/24`] },
    { ns: node.b, name: "eth0", addresses: [`${NODES.b.ip}/24`] },
  );
  await lab.ip(node.a, "route", "add", NODES.b.podCIDR, "via", NODES.b.ip);
  await lab.ip(node.b, "route", "add", NODES.a.podCIDR, "via", NODES.a.ip);
  for (const k of ["a", "b"] as const) {
    await lab.sysctl(node[k], "net.ipv4.ip_forward", 1);
    await lab.sysctl(node[k], "net.netfilter.nf_conntrack_acct", 1);
    await lab.sysctl(node[k], "net.netfilter.nf_conntrack_timestamp", 1);
  }
  const pod = {} as Record<keyof typeof PODS, string>;
  for (const [key, p] of Object.entries(PODS) as [keyof typeof PODS, PodSpec][]) {
    const ns = pod[key] = await lab.add(p.name);
    const n = NODES[p.node];
    const hostSide = `veth-${p.name}`;
    // Routed pods (no bridge): a /32 behind a host-side veth that carries the gateway address,
    // so that even pod-to-pod traffic on one node is forwarded, and tracked, by the node.
    await lab.veth(
      { ns: node[p.node], name: hostSide, addresses: [`${n.gateway}/32`] },
      { ns, name: "eth0", addresses: [`${p.ip}/32`] },
    );
    await lab.ip(node[p.node], "route", "add", `${p.ip}/32`, "dev", hostSide, "scope", "link");
    await lab.ip(ns, "route", "add", n.gateway, "dev", "eth0", "scope", "link");
    await lab.ip(ns, "route", "add", "default", "via", n.gateway, "dev", "eth0");
  }
  await lab.nft(node.a, NODE_A_RULES);
  await lab.nft(node.b, NODE_B_RULES);
  return { node, pod };
}

// ---------------------------------------------------------------------------------------------
// Records.

type Json = number | string | boolean | null;

/** A line the collector prints with --format json. */
interface RecordLine {
  exportTime: number;
  observationDomainId: number;
  sequenceNumber: number;
  templateId: number;
  exporter: string;
  record: Record<string, Json>;
}

function parseLines(stdout: string): RecordLine[] {
  const complete = stdout.slice(0, stdout.lastIndexOf("\n") + 1);
  return complete.split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l));
}

/** A connection as one node's records name it. */
interface Tuple {
  protocol: 6 | 17;
  source: string;
  sourcePort?: number;
  destination: string;
  destinationPort: number;
}

/** The records of `t` from `node`'s agent, in the order the collector printed them. */
function recordsOf(lines: RecordLine[], node: NodeSpec, t: Tuple): Record<string, Json>[] {
  const odid = fnv1_32(node.name);
  return lines.filter((l) =>
    l.observationDomainId === odid &&
    l.record.protocolIdentifier === t.protocol &&
    l.record.sourceIPv4Address === t.source &&
    (t.sourcePort === undefined || l.record.sourceTransportPort === t.sourcePort) &&
    l.record.destinationIPv4Address === t.destination &&
    l.record.destinationTransportPort === t.destinationPort
  ).map((l) => l.record);
}

/** Checks the fields named in `expected` of every record. */
function assertFields(
  records: Record<string, Json>[],
  expected: Record<string, Json>,
  where: string,
): void {
  for (const [i, r] of records.entries()) {
    const actual = Object.fromEntries(Object.keys(expected).map((k) => [k, r[k] ?? null]));
    assertEquals(actual, expected, `${where}, record ${i + 1} of ${records.length}`);
  }
}

/** The deltas of all records add up to the totals of the last one. */
function assertDeltasAddUp(records: Record<string, Json>[], where: string): void {
  const last = records.at(-1)!;
  for (
    const [delta, total] of [
      ["packetDeltaCount", "packetTotalCount"],
      ["octetDeltaCount", "octetTotalCount"],
      ["reversePacketDeltaCount", "reversePacketTotalCount"],
      ["reverseOctetDeltaCount", "reverseOctetTotalCount"],
    ]
  ) {
    const sum = records.reduce((s, r) => s + (r[delta!] as number), 0);
    assertEquals(sum, last[total!], `${where}: the ${delta}s add up to the last ${total}`);
  }
}

/**
 * TCP over IPv4 counts 40 to 80 header octets per packet (IP and TCP headers, with options) on
 * top of the payload. Each direction has at least SYN, ACK and FIN, and at most a few packets
 * per write and per segment in either direction (data, and the ACKs it draws).
 */
function assertTcpOctets(
  r: Record<string, Json>,
  traffic: { writes: number; payload: number; reply: number },
  where: string,
): void {
  const segments = traffic.writes + Math.ceil(traffic.payload / 1000) +
    Math.ceil(traffic.reply / 1000);
  for (
    const [octets, packets, bytes] of [
      ["octetTotalCount", "packetTotalCount", traffic.payload],
      ["reverseOctetTotalCount", "reversePacketTotalCount", traffic.reply],
    ] as const
  ) {
    const o = r[octets] as number, p = r[packets] as number;
    assert(p >= 3 && p <= 4 + 2 * segments, `${where}: ${packets} ${p}`);
    assert(
      o >= bytes + 40 * p && o <= bytes + 80 * p,
      `${where}: ${octets} ${o} for ${bytes} payload octets in ${p} packets`,
    );
  }
}

/** The policy fields of no policy at all, in one direction. */
function noPolicy(direction: "ingress" | "egress"): Record<string, Json> {
  return {
    [`${direction}NetworkPolicyName`]: "",
    [`${direction}NetworkPolicyNamespace`]: "",
    [`${direction}NetworkPolicyType`]: 0,
    [`${direction}NetworkPolicyRuleName`]: "",
    [`${direction}NetworkPolicyRuleAction`]: 0,
  };
}

function policy(
  direction: "ingress" | "egress",
  name: string,
  ruleName: string,
  action: 1 | 2,
): Record<string, Json> {
  return {
    [`${direction}NetworkPolicyName`]: name,
    [`${direction}NetworkPolicyNamespace`]: NS,
    [`${direction}NetworkPolicyType`]: 1,
    [`${direction}NetworkPolicyRuleName`]: ruleName,
    [`${direction}NetworkPolicyRuleAction`]: action,
  };
}

/** Source or destination pod fields: the pod on the reporting node, empty otherwise. */
function endpoint(side: "source" | "destination", pod?: PodSpec): Record<string, Json> {
  return {
    [`${side}PodName`]: pod?.name ?? "",
    [`${side}PodNamespace`]: pod ? NS : "",
    [`${side}NodeName`]: pod ? NODES[pod.node].name : "",
  };
}

const NO_SERVICE = {
  destinationClusterIPv4: "0.0.0.0",
  destinationServicePort: 0,
  destinationServicePortName: "",
};

/** Prometheus text: the value of an unlabelled sample. */
function sample(text: string, name: string): number | undefined {
  const m = new RegExp(`^${name} (\\S+)$`, "m").exec(text);
  return m ? Number(m[1]) : undefined;
}

// ---------------------------------------------------------------------------------------------
// The test.

/** Traffic: payload sizes and what the servers answer. */
const INTRA = { chunks: [3000], reply: 1000 };
const SERVICE = { chunks: Array.from({ length: 36 }, () => 500), intervalMs: 250, reply: 2000 };
const UDP = { sizes: [100, 200, 300], reply: 50 };
/** Silent for longer than the idle timeout between its two writes. */
const TO_EXTERNAL = { port: 7000, chunks: [350, 350], intervalMs: 5000, reply: 300 };
const FROM_EXTERNAL = { port: 7070, chunks: [400], reply: 100 };

function tcpTraffic(c: { chunks: number[]; reply: number }) {
  return { writes: c.chunks.length, payload: c.chunks.reduce((a, b) => a + b, 0), reply: c.reply };
}

/** The `deno run …` argv of a task of deno.json, with the permissions it declares there. */
async function taskArgv(name: string): Promise<string[]> {
  const config = JSON.parse(await Deno.readTextFile(`${ROOT}/deno.json`));
  const argv = String(config.tasks?.[name] ?? "").split(/\s+/).filter((a) => a !== "");
  if (argv[0] !== "deno" || argv[1] !== "run") {
    throw new Error(`deno.json task ${name} is not a "deno run …" command: ${argv.join(" ")}`);
  }
  return [Deno.execPath(), ...argv.slice(1)];
}

/** The argv of a role of this file. */
function roleArgv(role: string, arg: unknown): string[] {
  return [
    Deno.execPath(),
    "run",
    "--no-prompt",
    "--allow-net",
    "--unstable-net",
    SELF,
    "--role",
    role,
    typeof arg === "string" ? arg : JSON.stringify(arg),
  ];
}

if (!import.meta.main) registerTests();

function registerTests(): void {
  interopTest(
    "agent end to end: pods on two node namespaces, a Service, a NetworkPolicy, real conntrack",
    [
      needsRoot("Creating network namespaces and reading conntrack"),
      ...needsNetnsTools(),
      needsConntrackLibrary(),
    ],
    async (t) => {
      // Inside the namespaces nothing can be downloaded: the graphs are cached first.
      await run(Deno.execPath(), ["cache", "tasks/agent.ts", "tasks/collector.ts", SELF], {
        cwd: ROOT,
        timeoutMs: 120_000,
      });
      await using dir = await tempDir("flowvis-e2e-");
      // Disposed last: the namespaces go after every process that runs in them.
      await using lab = new NetnsLab("e2e");
      const { node, pod } = await buildCluster(lab);
      const started: Background[] = [];
      const start = (ns: string, argv: string[]) => {
        const b = Background.start(...lab.command(ns, argv[0]!, argv.slice(1)), { cwd: ROOT });
        started.push(b);
        return b;
      };
      try {
        const inventory = `${dir.path}/inventory.yaml`;
        await Deno.writeTextFile(inventory, INVENTORY);

        // The collector, on node-a's node IP; node-b's agent reaches it over the node link.
        const collector = start(node.a, [
          ...await taskArgv("collector"),
          "--address",
          `${NODES.a.ip}:${COLLECTOR_PORT}:tcp`,
          "--format",
          "json",
        ]);
        await collector.waitForOutput(/"msg":"Listening"/, 30_000);

        const agents = {} as Record<"a" | "b", Background>;
        for (const k of ["a", "b"] as const) {
          const conf = `${dir.path}/agent-${k}.conf`;
          await Deno.writeTextFile(
            conf,
            [
              "featureGates: { FlowExporter: true }",
              `flowCollectorAddr: "${NODES.a.ip}:${COLLECTOR_PORT}:tcp"`,
              "flowPollInterval: 1s",
              "activeFlowExportTimeout: 4s",
              "idleFlowExportTimeout: 2s",
              `nodeName: ${NODES[k].name}`,
              `inventoryFile: ${inventory}`,
              `metricsAddress: "127.0.0.1:${NODES[k].metricsPort}"`,
              "",
            ].join("\n"),
          );
          agents[k] = start(node[k], [...await taskArgv("agent"), "--config", conf]);
        }
        for (const a of Object.values(agents)) {
          await a.waitForOutput(/"msg":"Connected to the collector"/, 30_000);
        }

        // Servers in the pods, and a host service on node-b (the "external" end).
        const web = (reply: number): ServerConfig => ({
          tcp: [{ port: 8080, reply }],
          udp: [{ port: 9000, reply: UDP.reply }],
        });
        const servers = [
          start(pod.webA, roleArgv("server", web(INTRA.reply))),
          start(pod.webB, roleArgv("server", web(SERVICE.reply))),
          start(
            pod.echoA,
            roleArgv("server", { tcp: [{ port: FROM_EXTERNAL.port, reply: FROM_EXTERNAL.reply }] }),
          ),
          start(pod.dbB, roleArgv("server", { tcp: [{ port: 5432, reply: 10 }] })),
          start(
            node.b,
            roleArgv("server", {
              hostname: NODES.b.ip,
              tcp: [{ port: TO_EXTERNAL.port, reply: TO_EXTERNAL.reply }],
            }),
          ),
        ];
        for (const s of servers) await s.waitForOutput(/^ready$/m, 30_000);

        // The traffic, all at once: the Service connection keeps sending for ~9 s.
        const testStartS = Math.floor(Date.now() / 1000);
        const client = async (ns: string, role: string, cfg: object): Promise<ClientResult> => {
          const [deno, ...args] = roleArgv(role, cfg);
          const r = await lab.exec(ns, deno!, args, { cwd: ROOT, timeoutMs: 40_000 });
          return JSON.parse(r.stdout.trim().split("\n").at(-1)!);
        };
        // Its SYNs are dropped on node-b: it never connects, and is killed at the end.
        start(
          pod.clientA,
          roleArgv("tcp-client", { hostname: PODS.dbB.ip, port: 5432, chunks: [10] }),
        );
        const [intra, service, udp, toExternal, fromExternal] = await Promise.all([
          client(pod.clientA, "tcp-client", { hostname: PODS.webA.ip, port: 8080, ...INTRA }),
          client(pod.clientA, "tcp-client", { hostname: SERVICE_IP, port: 80, ...SERVICE }),
          client(pod.clientA, "udp-client", { hostname: PODS.webB.ip, port: 9000, ...UDP }),
          client(pod.clientA, "tcp-client", {
            hostname: NODES.b.ip,
            port: TO_EXTERNAL.port,
            chunks: TO_EXTERNAL.chunks,
            intervalMs: TO_EXTERNAL.intervalMs,
          }),
          client(node.b, "tcp-client", {
            hostname: PODS.echoA.ip,
            port: FROM_EXTERNAL.port,
            chunks: FROM_EXTERNAL.chunks,
          }),
        ]);
        assertEquals(
          [intra, service, udp, toExternal, fromExternal].map((r) => r.received),
          [[INTRA.reply], [SERVICE.reply], UDP.sizes.map(() => UDP.reply), [TO_EXTERNAL.reply], [
            FROM_EXTERNAL.reply,
          ]],
          "replies",
        );

        const tuples = {
          intra: {
            protocol: 6,
            source: PODS.clientA.ip,
            sourcePort: intra.localPort,
            destination: PODS.webA.ip,
            destinationPort: 8080,
          },
          service: {
            protocol: 6,
            source: PODS.clientA.ip,
            sourcePort: service.localPort,
            destination: PODS.webB.ip,
            destinationPort: 8080,
          },
          udp: {
            protocol: 17,
            source: PODS.clientA.ip,
            sourcePort: udp.localPort,
            destination: PODS.webB.ip,
            destinationPort: 9000,
          },
          denied: {
            protocol: 6,
            source: PODS.clientA.ip,
            destination: PODS.dbB.ip,
            destinationPort: 5432,
          },
          toExternal: {
            protocol: 6,
            source: PODS.clientA.ip,
            sourcePort: toExternal.localPort,
            destination: NODES.b.ip,
            destinationPort: TO_EXTERNAL.port,
          },
          fromExternal: {
            protocol: 6,
            source: NODES.b.ip,
            sourcePort: fromExternal.localPort,
            destination: PODS.echoA.ip,
            destinationPort: FROM_EXTERNAL.port,
          },
        } satisfies Record<string, Tuple>;

        // Every final export, with a few poll intervals of slack.
        const wanted: [NodeSpec, Tuple, (r: Record<string, Json>) => boolean][] = [
          [NODES.a, tuples.intra, (r) => r.flowEndReason === 3],
          [NODES.a, tuples.service, (r) => r.flowEndReason === 3],
          [NODES.b, tuples.service, (r) => r.flowEndReason === 3],
          [NODES.a, tuples.udp, (r) => r.flowEndReason === 1],
          [NODES.b, tuples.udp, (r) => r.flowEndReason === 1],
          [NODES.a, tuples.denied, () => true],
          [NODES.a, tuples.toExternal, (r) => r.flowEndReason === 3],
          [NODES.a, tuples.fromExternal, (r) => r.flowEndReason === 3],
        ];
        let lines: RecordLine[] = [];
        try {
          await waitFor("the final export of every connection", () => {
            for (
              const [name, a] of [["collector", collector], ...Object.entries(agents)] as const
            ) {
              if (a.exited) throw new Error(`The ${name} exited:\n${a.stderr.slice(-3000)}`);
            }
            lines = parseLines(collector.stdout);
            return wanted.every(([n, tuple, ok]) => recordsOf(lines, n, tuple).some(ok))
              ? true
              : undefined;
          }, 20_000);
        } catch (e) {
          const missing = wanted.filter(([n, tuple, ok]) => !recordsOf(lines, n, tuple).some(ok))
            .map(([n, tuple]) => `${n.name}: ${JSON.stringify(tuple)}`);
          fail(
            `${(e as Error).message}; missing:\n  ${missing.join("\n  ")}\nrecords:\n${
              lines.map((l) => JSON.stringify(l)).join("\n")
            }\nagent a:\n${agents.a.stderr.slice(-2000)}\nagent b:\n${
              agents.b.stderr.slice(-2000)
            }`,
          );
        }
        const nowS = Math.ceil(Date.now() / 1000);
        const of = (n: NodeSpec, tuple: Tuple) => recordsOf(lines, n, tuple);

        await t.step("every record: template, observation domain, exporter, timestamps", () => {
          assert(lines.length > 0);
          const byOdid = new Map([[fnv1_32("node-a"), NODES.a], [fnv1_32("node-b"), NODES.b]]);
          for (const l of lines) {
            const n = byOdid.get(l.observationDomainId);
            assertExists(n, `observation domain ${l.observationDomainId} is no node's FNV-1 32`);
            assertEquals(l.templateId, 256, "IPv4 template");
            assertEquals(l.exporter.split(":")[0], n.ip, "exporter address");
            const r = l.record;
            const start = r.flowStartSeconds as number, end = r.flowEndSeconds as number;
            assert(
              start >= testStartS - 2 && start <= end && end <= nowS + 1,
              `flow times ${start}..${end} outside the test's ${testStartS}..${nowS}`,
            );
            assert([1, 2, 3].includes(r.flowEndReason as number), "flowEndReason");
          }
          // Both agents exported, each under its own ID.
          assertEquals(
            new Set(lines.map((l) => l.observationDomainId)),
            new Set([fnv1_32("node-a"), fnv1_32("node-b")]),
          );
        });

        await t.step("intra-node TCP: both pods on node-a, policies both ways, TIME_WAIT", () => {
          const rs = of(NODES.a, tuples.intra);
          assertFields(rs, {
            flowType: 1,
            ...endpoint("source", PODS.clientA),
            ...endpoint("destination", PODS.webA),
            ...NO_SERVICE,
            ...policy("ingress", "web-allow-client", "ingress-0", 1),
            ...policy("egress", "client-egress", "egress-0", 1),
          }, "intra-node");
          const last = rs.at(-1)!;
          assertEquals([last.flowEndReason, last.tcpState], [3, "TIME_WAIT"], "ends in TIME_WAIT");
          assertTcpOctets(last, tcpTraffic(INTRA), "intra-node");
          assertDeltasAddUp(rs, "intra-node");
          assertEquals(of(NODES.b, tuples.intra), [], "node-b never sees it");
        });

        await t.step("Service: ClusterIP fields on node-a, the backend pod on node-b", () => {
          const a = of(NODES.a, tuples.service), b = of(NODES.b, tuples.service);
          assertFields(a, {
            flowType: 2,
            ...endpoint("source", PODS.clientA),
            ...endpoint("destination"),
            destinationClusterIPv4: SERVICE_IP,
            destinationServicePort: 80,
            destinationServicePortName: `${NS}/web:http`,
            ...noPolicy("ingress"),
            ...policy("egress", "client-egress", "egress-0", 1),
          }, "Service on node-a");
          assertFields(b, {
            flowType: 2,
            ...endpoint("source"),
            ...endpoint("destination", PODS.webB),
            ...NO_SERVICE,
            ...policy("ingress", "web-allow-client", "ingress-0", 1),
            ...noPolicy("egress"),
          }, "Service on node-b");
          for (const [n, rs] of [["node-a", a], ["node-b", b]] as const) {
            const last = rs.at(-1)!;
            assertEquals([last.flowEndReason, last.tcpState], [3, "TIME_WAIT"], `${n}: the end`);
            assertTcpOctets(last, tcpTraffic(SERVICE), `Service on ${n}`);
            assertDeltasAddUp(rs, `Service on ${n}`);
          }
          const totals = (r: Record<string, Json>) =>
            ["packetTotalCount", "octetTotalCount", "reversePacketTotalCount"].map((k) => r[k]);
          assertEquals(totals(a.at(-1)!), totals(b.at(-1)!), "both nodes count the same packets");
        });

        await t.step("active timeout: the long-lived connection is exported while it sends", () => {
          for (
            const [n, rs] of [["node-a", of(NODES.a, tuples.service)], [
              "node-b",
              of(NODES.b, tuples.service),
            ]] as const
          ) {
            const active = rs.filter((r) => r.flowEndReason === 2);
            assert(
              active.length >= 1,
              `${n}: an active-timeout export (reasons ${rs.map((r) => r.flowEndReason)})`,
            );
            assertEquals(
              rs.slice(0, -1).map((r) => r.flowEndReason),
              active.map(() => 2),
              `${n}: active exports, then the end`,
            );
            for (const r of active) {
              assertEquals(r.tcpState, "ESTABLISHED", `${n}: state while active`);
              assert((r.octetDeltaCount as number) > 0, `${n}: octets moved between exports`);
            }
            // Not before the active timeout (4 s) since the start or the previous export.
            const ends = [
              rs[0]!.flowStartSeconds as number,
              ...active.map((r) => r.flowEndSeconds as number),
            ];
            for (let i = 1; i < ends.length; i++) {
              assert(ends[i]! - ends[i - 1]! >= 3, `${n}: exports at ${ends} are 4 s apart`);
            }
          }
        });

        await t.step("UDP: exact counters (payload + 28 per datagram), idle export", () => {
          const octets = UDP.sizes.reduce((s, n) => s + n + 28, 0);
          const reverse = UDP.sizes.length * (UDP.reply + 28);
          for (
            const [n, rs, fields] of [
              ["node-a", of(NODES.a, tuples.udp), {
                ...endpoint("source", PODS.clientA),
                ...endpoint("destination"),
                ...noPolicy("ingress"),
                ...policy("egress", "client-egress", "egress-0", 1),
              }],
              ["node-b", of(NODES.b, tuples.udp), {
                ...endpoint("source"),
                ...endpoint("destination", PODS.webB),
                ...policy("ingress", "web-allow-client", "ingress-0", 1),
                ...noPolicy("egress"),
              }],
            ] as const
          ) {
            assertFields(
              rs,
              { flowType: 2, tcpState: "", ...NO_SERVICE, ...fields },
              `UDP on ${n}`,
            );
            const last = rs.at(-1)!;
            assertEquals(last.flowEndReason, 1, `${n}: idle export`);
            assertEquals(
              [
                last.packetTotalCount,
                last.octetTotalCount,
                last.reversePacketTotalCount,
                last.reverseOctetTotalCount,
              ],
              [UDP.sizes.length, octets, UDP.sizes.length, reverse],
              `UDP counters on ${n}`,
            );
            assertDeltasAddUp(rs, `UDP on ${n}`);
            // Idle for 2 s after the last datagram, which came right after the start.
            assert(
              (last.flowEndSeconds as number) - (last.flowStartSeconds as number) >= 1,
              `${n}: idle export at ${last.flowEndSeconds}, start ${last.flowStartSeconds}`,
            );
          }
        });

        await t.step(
          "denied: the unreplied SYN_SENT connection names the policy that drops it",
          async () => {
            const rs = of(NODES.a, tuples.denied);
            assert(rs.length >= 1, "node-a exports the denied connection");
            assertFields(rs, {
              flowType: 2,
              ...endpoint("source", PODS.clientA),
              ...endpoint("destination"),
              ...NO_SERVICE,
              ...policy("ingress", "db-allow-web", "", 2),
              ...policy("egress", "client-egress", "egress-0", 1),
              tcpState: "SYN_SENT",
              reversePacketTotalCount: 0,
              reverseOctetTotalCount: 0,
            }, "denied on node-a");
            for (const r of rs) {
              assert([1, 2].includes(r.flowEndReason as number), "exported idle or active");
              const p = r.packetTotalCount as number, o = r.octetTotalCount as number;
              assert(p >= 1 && o >= 40 * p && o <= 80 * p, `SYNs only: ${p} packets, ${o} octets`);
            }
            assertEquals(
              of(NODES.b, tuples.denied),
              [],
              "node-b drops it before conntrack confirms it",
            );
            const nft = await lab.exec(node.b, "nft", [
              "list",
              "chain",
              "inet",
              "flowvis_e2e",
              "forward",
            ]);
            const dropped = /counter packets (\d+) bytes \d+ drop/.exec(nft.stdout);
            assert(Number(dropped?.[1]) >= 1, `node-b's drop rule dropped SYNs:\n${nft.stdout}`);
          },
        );

        await t.step("to-external (idle, active again, end) and from-external", () => {
          const to = of(NODES.a, tuples.toExternal);
          assertFields(to, {
            flowType: 3,
            ...endpoint("source", PODS.clientA),
            ...endpoint("destination"),
            ...NO_SERVICE,
            ...noPolicy("ingress"),
            ...policy("egress", "client-egress", "egress-1", 1),
          }, "to-external");
          // Idle between its writes (exported once, not again while silent), then closed.
          assertEquals(to.map((r) => [r.flowEndReason, r.tcpState]), [[1, "ESTABLISHED"], [
            3,
            "TIME_WAIT",
          ]], "to-external: idle, then end of flow");
          assert((to[1]!.octetDeltaCount as number) >= 350, "the second write came after idling");
          assertTcpOctets(to.at(-1)!, tcpTraffic(TO_EXTERNAL), "to-external");
          assertDeltasAddUp(to, "to-external");
          const from = of(NODES.a, tuples.fromExternal);
          assertFields(from, {
            flowType: 4,
            ...endpoint("source"),
            ...endpoint("destination", PODS.echoA),
            ...NO_SERVICE,
            ...noPolicy("ingress"),
            ...noPolicy("egress"),
          }, "from-external");
          assertEquals(from.at(-1)!.flowEndReason, 3);
          assertTcpOctets(from.at(-1)!, tcpTraffic(FROM_EXTERNAL), "from-external");
          assertDeltasAddUp(from, "from-external");
          // node-b is the external end of both: it has no pod there, so it exports neither.
          assertEquals(
            [...of(NODES.b, tuples.toExternal), ...of(NODES.b, tuples.fromExternal)],
            [],
          );
        });

        await t.step("metrics: node-a counts the denied connection, node-b none", async () => {
          const metrics = async (k: "a" | "b") => {
            const url = `http://127.0.0.1:${NODES[k].metricsPort}/metrics`;
            const [deno, ...args] = roleArgv("fetch", url);
            return (await lab.exec(node[k], deno!, args, { cwd: ROOT })).stdout;
          };
          const a = await metrics("a"), b = await metrics("b");
          for (const prefix of ["antrea_agent_", "flowvis_agent_"]) {
            const denied = sample(a, `${prefix}denied_connection_count`);
            assert(
              denied !== undefined && denied >= 1,
              `node-a ${prefix}denied_connection_count ${denied}`,
            );
            assertEquals(sample(b, `${prefix}denied_connection_count`), 0, "node-b denies nothing");
          }
          for (const [n, text] of [["node-a", a], ["node-b", b]] as const) {
            const mine = lines.filter((l) => l.observationDomainId === fnv1_32(n)).length;
            const sent = sample(text, "flowvis_agent_records_sent_total");
            assert(
              sent !== undefined && sent >= mine,
              `${n}: records sent ${sent} ≥ received ${mine}`,
            );
            assert((sample(text, "antrea_agent_conntrack_total_connection_count") ?? 0) >= 1);
            assert((sample(text, "antrea_agent_conntrack_antrea_connection_count") ?? 0) >= 1);
            assert((sample(text, "antrea_agent_conntrack_max_connection_count") ?? 0) > 0);
            assertEquals(sample(text, "flowvis_agent_poll_errors_total"), 0, `${n}: poll errors`);
          }
        });

        await t.step("shutdown: the agents and the collector stop cleanly on SIGTERM", async () => {
          for (const [n, agent] of Object.entries(agents)) {
            const { status, stderr } = await agent.stop("SIGTERM", 10_000);
            assertEquals(status.code, 0, `agent ${n} exit status\n${stderr.slice(-2000)}`);
            assertMatch(stderr, /"msg":"Stopped"/, `agent ${n} says it stopped`);
          }
          const { status, stdout, stderr } = await collector.stop("SIGTERM", 10_000);
          assertEquals(status.code, 0, `collector exit status\n${stderr.slice(-2000)}`);
          const stats = JSON.parse(stderr.trim().split("\n").at(-1)!);
          // Records flushed at close arrive too: the collector printed each one it counted.
          assertEquals(stats.records, parseLines(stdout).length, "records printed");
          assert(stats.records >= lines.length);
          assertEquals([stats.errors, stats.sessions], [0, 2], "collector errors and sessions");
        });
      } finally {
        await Promise.all(started.map((b) => b.stop("SIGTERM", 3_000)));
      }
    },
  );
}
