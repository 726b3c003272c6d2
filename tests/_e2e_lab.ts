/**
 * The end-to-end lab shared by the agent and aggregator tests, as root, with the kernel's real
 * conntrack: two "nodes" (network namespaces joined by a veth), "pods" (namespaces routed behind
 * their node), a ClusterIP Service made of an nft DNAT rule on node-a, and a NetworkPolicy whose
 * deny is an nft drop rule on node-b; the inventory file (Nodes, Pods, the Service and three
 * NetworkPolicies) the agents read; and the child roles (servers and clients) that send traffic
 * of known sizes between the pods.
 *
 * Deno cannot enter a network namespace itself: servers and clients are this file, run with
 * `--role …` under `ip netns exec` ({@link roleArgv}, {@link E2eLab.client}).
 *
 * Topology (nothing in the root namespace):
 *
 *   client-a 10.77.1.10 ┐                                              ┌ web-b 10.77.2.10
 *   web-a    10.77.1.11 ├ node-a 192.168.77.1 ──── 192.168.77.2 node-b ┤
 *   echo-a   10.77.1.12 ┘ (DNAT of 10.96.0.10:80                (drop) └ db-b  10.77.2.11
 *                          to web-b:8080)
 *
 * @module
 */

import { assert, assertEquals } from "./_assert.ts";
import { NetnsLab } from "./_netns.ts";
import { Background, run, sleep, type TempDir, tempDir } from "./_tools.ts";

const SELF = new URL(import.meta.url).pathname;
/** The repository's root directory. */
export const ROOT = new URL("..", import.meta.url).pathname;

// ---------------------------------------------------------------------------------------------
// Child roles: servers and clients inside pod and node namespaces.

/** TCP servers that read to EOF then answer `reply` bytes; UDP servers that answer each datagram. */
export interface ServerConfig {
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
export interface TcpClientConfig {
  hostname: string;
  port: number;
  chunks: number[];
  intervalMs?: number;
}

/** What a client prints last. */
export interface ClientResult {
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
export interface UdpClientConfig {
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
  // A child of a test: a server or client inside a namespace.
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

/** The Kubernetes namespace of every pod, Service and policy. */
export const NS = "shop";
/** The ClusterIP of the Service web (port 80, name http → web-b:8080 by DNAT on node-a). */
export const SERVICE_IP = "10.96.0.10";
/** The IPFIX port of the collector or aggregator on node-a's node IP. */
export const COLLECTOR_PORT = 4739;

/** A node: its namespace holds its address, routes, nft rules and the agent. */
export interface NodeSpec {
  readonly name: "node-a" | "node-b";
  readonly ip: string;
  readonly podCIDR: string;
  /** The pods' default gateway: an address of the node on every pod-facing veth. */
  readonly gateway: string;
  readonly metricsPort: number;
}

/** The two nodes; each agent serves its metrics on 127.0.0.1:metricsPort in its namespace. */
export const NODES: Record<"a" | "b", NodeSpec> = {
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

/** A pod: a namespace routed behind its node. */
export interface PodSpec {
  readonly name: string;
  readonly node: "a" | "b";
  readonly ip: string;
}

/** The pods. */
export const PODS = {
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
export const INVENTORY = `apiVersion: v1
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
export async function buildCluster(lab: NetnsLab): Promise<{
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
// Records and rows: the fields of an agent's record or an aggregator's row.

/** A value of a decoded record or a stored row. */
export type Json = number | string | boolean | null;

/** Checks the fields named in `expected` of every record. */
export function assertFields(
  records: Record<string, Json>[],
  expected: Record<string, Json>,
  where: string,
): void {
  for (const [i, r] of records.entries()) {
    const actual = Object.fromEntries(Object.keys(expected).map((k) => [k, r[k] ?? null]));
    assertEquals(actual, expected, `${where}, record ${i + 1} of ${records.length}`);
  }
}

/**
 * The deltas of all records add up to the totals of the last one; `suffix` names other counters
 * of the same shape (the aggregator's "FromSourceNode" and "FromDestinationNode").
 */
export function assertDeltasAddUp(
  records: Record<string, Json>[],
  where: string,
  suffix = "",
): void {
  const last = records.at(-1)!;
  for (
    const [delta, total] of [
      ["packetDeltaCount", "packetTotalCount"],
      ["octetDeltaCount", "octetTotalCount"],
      ["reversePacketDeltaCount", "reversePacketTotalCount"],
      ["reverseOctetDeltaCount", "reverseOctetTotalCount"],
    ].map(([d, t]) => [d + suffix, t + suffix])
  ) {
    const sum = records.reduce((s, r) => s + (r[delta!] as number), 0);
    assertEquals(sum, last[total!], `${where}: the ${delta}s add up to the last ${total}`);
  }
}

/**
 * TCP over IPv4 counts 40 to 80 header octets per packet (IP and TCP headers, with options) on
 * top of the payload. Each direction has at least SYN, ACK and FIN, and at most a few packets
 * per write and per segment in either direction (data, and the ACKs it draws). `suffix` names
 * other counters of the same shape (the aggregator's "FromSourceNode", "FromDestinationNode").
 */
export function assertTcpOctets(
  r: Record<string, Json>,
  traffic: { writes: number; payload: number; reply: number },
  where: string,
  suffix = "",
): void {
  const segments = traffic.writes + Math.ceil(traffic.payload / 1000) +
    Math.ceil(traffic.reply / 1000);
  for (
    const [octets, packets, bytes] of [
      [`octetTotalCount${suffix}`, `packetTotalCount${suffix}`, traffic.payload],
      [`reverseOctetTotalCount${suffix}`, `reversePacketTotalCount${suffix}`, traffic.reply],
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
export function noPolicy(direction: "ingress" | "egress"): Record<string, Json> {
  return {
    [`${direction}NetworkPolicyName`]: "",
    [`${direction}NetworkPolicyNamespace`]: "",
    [`${direction}NetworkPolicyType`]: 0,
    [`${direction}NetworkPolicyRuleName`]: "",
    [`${direction}NetworkPolicyRuleAction`]: 0,
  };
}

/** The policy fields of an Antrea-namespaced K8s NetworkPolicy rule (type 1) in `NS`. */
export function policy(
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
export function endpoint(side: "source" | "destination", pod?: PodSpec): Record<string, Json> {
  return {
    [`${side}PodName`]: pod?.name ?? "",
    [`${side}PodNamespace`]: pod ? NS : "",
    [`${side}NodeName`]: pod ? NODES[pod.node].name : "",
  };
}

/** The Service fields of a connection to no Service. */
export const NO_SERVICE = {
  destinationClusterIPv4: "0.0.0.0",
  destinationServicePort: 0,
  destinationServicePortName: "",
};

/** Prometheus text: the value of an unlabelled sample. */
export function sample(text: string, name: string): number | undefined {
  const m = new RegExp(`^${name} (\\S+)$`, "m").exec(text);
  return m ? Number(m[1]) : undefined;
}

/** A TCP client's traffic as {@link assertTcpOctets} takes it. */
export function tcpTraffic(c: { chunks: number[]; reply: number }) {
  return { writes: c.chunks.length, payload: c.chunks.reduce((a, b) => a + b, 0), reply: c.reply };
}

/** The `deno run …` argv of a task of deno.json, with the permissions it declares there. */
export async function taskArgv(name: string): Promise<string[]> {
  const config = JSON.parse(await Deno.readTextFile(`${ROOT}/deno.json`));
  const argv = String(config.tasks?.[name] ?? "").split(/\s+/).filter((a) => a !== "");
  if (argv[0] !== "deno" || argv[1] !== "run") {
    throw new Error(`deno.json task ${name} is not a "deno run …" command: ${argv.join(" ")}`);
  }
  return [Deno.execPath(), ...argv.slice(1)];
}

/** The argv of a role of this file: `deno run … tests/_e2e_lab.ts --role ROLE ARG`. */
export function roleArgv(role: string, arg: unknown): string[] {
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

// ---------------------------------------------------------------------------------------------
// The lab.

/** The pods by key. */
export type PodKey = keyof typeof PODS;

/** Timeouts of the agents' configuration files. */
export interface AgentTimeouts {
  /** flowPollInterval ("1s"). */
  poll?: string;
  /** activeFlowExportTimeout ("4s"). */
  active?: string;
  /** idleFlowExportTimeout ("2s"). */
  idle?: string;
}

/**
 * The cluster built in a new {@link NetnsLab}, a temporary directory holding the inventory file,
 * and every process started in the lab. Disposing it stops the processes (SIGTERM, then
 * SIGKILL), deletes the namespaces (killing what still runs there) and the directory, also
 * after a failure.
 *
 * @example
 * ```ts
 * await using e2e = await E2eLab.create("e2e", ["tasks/agent.ts"]);
 * e2e.start(e2e.pod.webB, roleArgv("server", { tcp: [{ port: 8080, reply: 100 }] }));
 * const r = await e2e.client(e2e.pod.clientA, "tcp-client", {
 *   hostname: PODS.webB.ip, port: 8080, chunks: [500],
 * });
 * ```
 */
export class E2eLab implements AsyncDisposable {
  readonly lab: NetnsLab;
  /** The namespace of each node. */
  readonly node: Record<"a" | "b", string>;
  /** The namespace of each pod. */
  readonly pod: Record<PodKey, string>;
  /** A temporary directory, removed at the end. */
  readonly dir: string;
  /** The inventory file ({@link INVENTORY}) in `dir`. */
  readonly inventory: string;
  readonly #tmp: TempDir;
  readonly #started: Background[] = [];

  private constructor(
    lab: NetnsLab,
    cluster: { node: Record<"a" | "b", string>; pod: Record<PodKey, string> },
    tmp: TempDir,
  ) {
    this.lab = lab;
    this.node = cluster.node;
    this.pod = cluster.pod;
    this.#tmp = tmp;
    this.dir = tmp.path;
    this.inventory = `${tmp.path}/inventory.yaml`;
  }

  /**
   * Caches the module graphs of `modules` (paths from the repository root) and of the roles
   * (nothing can be downloaded inside the namespaces), then builds the cluster.
   */
  static async create(tag: string, modules: readonly string[]): Promise<E2eLab> {
    await run(Deno.execPath(), ["cache", ...modules, SELF], { cwd: ROOT, timeoutMs: 120_000 });
    const tmp = await tempDir(`flowvis-${tag}-`);
    const lab = new NetnsLab(tag);
    try {
      const e2e = new E2eLab(lab, await buildCluster(lab), tmp);
      await Deno.writeTextFile(e2e.inventory, INVENTORY);
      return e2e;
    } catch (e) {
      await lab[Symbol.asyncDispose]();
      await tmp[Symbol.asyncDispose]();
      throw e;
    }
  }

  /** Starts `argv` inside `ns` (cwd: the repository), stopped at the end at the latest. */
  start(ns: string, argv: readonly string[]): Background {
    const b = Background.start(...this.lab.command(ns, argv[0]!, argv.slice(1)), { cwd: ROOT });
    this.#started.push(b);
    return b;
  }

  /** Runs a client role inside `ns` to its end; returns what it printed last. */
  async client(
    ns: string,
    role: "tcp-client",
    cfg: TcpClientConfig,
    timeoutMs?: number,
  ): Promise<ClientResult>;
  async client(
    ns: string,
    role: "udp-client",
    cfg: UdpClientConfig,
    timeoutMs?: number,
  ): Promise<ClientResult>;
  async client(
    ns: string,
    role: string,
    cfg: TcpClientConfig | UdpClientConfig,
    timeoutMs = 40_000,
  ): Promise<ClientResult> {
    const [deno, ...args] = roleArgv(role, cfg);
    const r = await this.lab.exec(ns, deno!, args, { cwd: ROOT, timeoutMs });
    return JSON.parse(r.stdout.trim().split("\n").at(-1)!);
  }

  /** The body of a GET of `url` from inside `ns`. */
  async fetch(ns: string, url: string): Promise<string> {
    const [deno, ...args] = roleArgv("fetch", url);
    return (await this.lab.exec(ns, deno!, args, { cwd: ROOT })).stdout;
  }

  /**
   * Writes node `k`'s agent configuration (FlowExporter on, its node name, the inventory, its
   * metrics address, the timeouts) plus `lines` (flowCollectorAddr, tls, …); returns its path.
   */
  async writeAgentConfig(
    k: "a" | "b",
    lines: readonly string[],
    timeouts: AgentTimeouts = {},
  ): Promise<string> {
    const conf = `${this.dir}/agent-${k}.conf`;
    await Deno.writeTextFile(
      conf,
      [
        "featureGates: { FlowExporter: true }",
        `flowPollInterval: ${timeouts.poll ?? "1s"}`,
        `activeFlowExportTimeout: ${timeouts.active ?? "4s"}`,
        `idleFlowExportTimeout: ${timeouts.idle ?? "2s"}`,
        `nodeName: ${NODES[k].name}`,
        `inventoryFile: ${this.inventory}`,
        `metricsAddress: "127.0.0.1:${NODES[k].metricsPort}"`,
        ...lines,
        "",
      ].join("\n"),
    );
    return conf;
  }

  /** Stops every process started (SIGTERM, SIGKILL after 3 s), then removes the lab. */
  async close(): Promise<void> {
    await Promise.all(this.#started.map((b) => b.stop("SIGTERM", 3_000)));
    await this.lab[Symbol.asyncDispose]();
    await this.#tmp[Symbol.asyncDispose]();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
