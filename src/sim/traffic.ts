/**
 * Simulated traffic: connections of a {@link SimCluster} arriving over time, and one synthetic
 * conntrack table per node that a {@link FlowExporterAgent} polls as its connection source.
 *
 * Each connection follows a scenario (DNS through the kube-dns Service, web → api through a
 * ClusterIP, clients from outside through a NodePort, pods to the internet behind masquerade,
 * metrics scrapes, database pools, long gRPC streams, denied attempts, host traffic) and a life:
 * TCP goes SYN_SENT → ESTABLISHED → FIN_WAIT/CLOSE_WAIT → TIME_WAIT (or CLOSE after a reset) and
 * stays in the table for the kernel's timeouts; UDP exchanges go idle and expire; denied
 * attempts stay unreplied in SYN_SENT while the client retransmits. Counters grow between polls
 * with packet counts of ~MTU-sized segments and heavy-tailed sizes. A node's table holds the
 * connections its kernel would track: the client's side (with kube-proxy's DNAT or masquerade)
 * and, for traffic between nodes, the server's side too.
 *
 * @module
 */

import { type ConnEntry, ConnStatus, type TcpState } from "../conntrack/mod.ts";
import { type ConnectionSource, ExpiryQueue } from "../exporter/mod.ts";
import type { Clock } from "../ipfix/mod.ts";
import type { SimCluster, SimNode, SimPod, SimService, WorkloadName } from "./cluster.ts";
import { WEB_NODE_PORT } from "./cluster.ts";
import { Random } from "./random.ts";

/** The kinds of traffic the simulator makes. */
export const SCENARIOS = [
  "dns",
  "web-api",
  "external-web",
  "api-redis",
  "scrape",
  "egress-https",
  "upstream-dns",
  "denied-ingress",
  "denied-egress",
  "host",
  "postgres-pool",
  "redis-pool",
  "grpc-stream",
  "apiserver-watch",
] as const;

/** A kind of traffic. */
export type ScenarioName = typeof SCENARIOS[number];

/**
 * Scenarios of connections that arrive at random (Poisson), and how often each starts one,
 * relative to the others. Their pace makes the record rate.
 */
const ARRIVALS: Readonly<Partial<Record<ScenarioName, number>>> = {
  "dns": 28,
  "web-api": 24,
  "external-web": 12,
  "api-redis": 6,
  "scrape": 6,
  "egress-https": 5,
  "upstream-dns": 4,
  "denied-ingress": 3,
  "denied-egress": 1,
  "host": 3,
};
const ARRIVAL_SCENARIOS = SCENARIOS.filter((s) => ARRIVALS[s] !== undefined);
const weightOf = (s: ScenarioName) => ARRIVALS[s] ?? 0;

/**
 * Long-lived connections that clients keep open, a fixed number per client pod, each replaced
 * by a new one when it closes (database pools, gRPC streams, API server watches).
 */
const POOLS: readonly { scenario: ScenarioName; clients: WorkloadName; size: number }[] = [
  { scenario: "postgres-pool", clients: "api", size: 3 },
  { scenario: "postgres-pool", clients: "worker", size: 2 },
  { scenario: "redis-pool", clients: "api", size: 2 },
  { scenario: "redis-pool", clients: "worker", size: 1 },
  { scenario: "grpc-stream", clients: "worker", size: 2 },
  { scenario: "apiserver-watch", clients: "coredns", size: 1 },
  { scenario: "apiserver-watch", clients: "prometheus", size: 2 },
];

/** One connection of a pool: its client, and when its next connection opens. */
interface PoolSlot {
  readonly scenario: ScenarioName;
  readonly client: SimPod;
  next: number;
}

/** Flow types as the simulator intends them (the agents decide on their own). */
export type SimFlowType = "intraNode" | "interNode" | "toExternal" | "fromExternal" | "host";

/** A node's synthetic conntrack table: every poll returns the entries at the clock's time. */
export interface SimConnectionSource extends ConnectionSource {
  poll(): ConnEntry[];
}

/** Connections made, by kind. */
export interface TrafficStats {
  connections: number;
  byFlowType: Record<SimFlowType, number>;
  byScenario: Record<ScenarioName, number>;
  /** Connections to a Service (ClusterIP or NodePort). */
  service: number;
  /** Attempts that a NetworkPolicy drops (unreplied). */
  denied: number;
  /** Connections not made because every client port was taken. */
  portsExhausted: number;
  /** Entries in every node's table at the latest polls. */
  tableEntries: number;
}

// Kernel defaults of nf_conntrack (net/netfilter/nf_conntrack_proto_{tcp,udp}.c), ms.
const TCP_SYN_SENT_TIMEOUT = 120_000;
const TCP_ESTABLISHED_TIMEOUT = 432_000_000;
const TCP_FIN_WAIT_TIMEOUT = 120_000;
const TCP_CLOSE_WAIT_TIMEOUT = 60_000;
const TCP_TIME_WAIT_TIMEOUT = 120_000;
const TCP_CLOSE_TIMEOUT = 10_000;
const UDP_TIMEOUT = 30_000;
const UDP_STREAM_TIMEOUT = 120_000;

/** IPv4 (20) + TCP with timestamps (32) header octets. */
const TCP_HEADER = 52;
/** SYN and SYN-ACK carry more options: 60 octets. */
const SYN_SIZE = 60;
/** IPv4 (20) + UDP (8). */
const UDP_HEADER = 28;
/** Payload of a full segment on a 1500-octet MTU path with TCP timestamps. */
const MSS = 1448;
const MAX_BYTES = 2 ** 31;

/** A TCP connection that the server accepts. */
interface TcpProfile {
  readonly kind: "tcp";
  readonly rtt: number;
  /** Payload client → server, octets. */
  readonly request: number;
  /** Payload server → client, octets. */
  readonly response: number;
  /** Data phase after the handshake, ms. */
  readonly duration: number;
  readonly reset: boolean;
  /** After the data phase, ms in FIN_WAIT (the peer has not acknowledged the FIN yet). */
  readonly finWait: number;
  /** Then ms in CLOSE_WAIT (half-closed: the peer has not sent its FIN yet). */
  readonly closeWait: number;
}

/** UDP request/response exchanges on one socket. */
interface UdpProfile {
  readonly kind: "udp";
  readonly rtt: number;
  readonly exchanges: number;
  /** ms between exchanges. */
  readonly spacing: number;
  readonly request: number;
  readonly response: number;
}

/** A TCP connection attempt nobody answers: SYNs at these offsets, ms. */
interface SynProfile {
  readonly kind: "syn";
  readonly syns: readonly number[];
}

type Profile = TcpProfile | UdpProfile | SynProfile;

/** A simulated connection. */
interface Conn {
  readonly scenario: ScenarioName;
  readonly protocol: 6 | 17;
  readonly start: number;
  readonly startNs: bigint;
  readonly clientIP: string;
  readonly clientPort: number;
  readonly serverIP: string;
  readonly serverPort: number;
  readonly profile: Profile;
  /** After this time the counters and state no longer change. */
  readonly settleAt: number;
  /** When conntrack forgets it. */
  readonly goneAt: number;
  /**
   * Before this time its entries are left out of the tables: the warm start spreads the
   * connections it makes over a while so that their exports do not all fall due at once.
   */
  readonly visibleFrom: number;
  /** Tuple keys held while it is in a table. */
  readonly keys: readonly string[];
  viewsLeft: number;
}

/** A connection as one node's conntrack holds it. */
interface View {
  readonly conn: Conn;
  readonly id: number;
  /** Original destination: the ClusterIP or NodePort when this node did the DNAT. */
  readonly dst: string;
  readonly dstPort: number;
  /** Reply destination: the node's IP when this node masqueraded the client. */
  readonly replyDst: string;
  readonly natStatus: number;
  entry: ConnEntry | undefined;
  builtAt: number;
}

interface Side {
  readonly ip: string;
  readonly pod?: SimPod;
  /** The node whose kernel sees this end (the pod's node, or the host itself). */
  readonly node?: SimNode;
}

/** What a scenario decides; the generator turns it into a connection and its views. */
interface Plan {
  readonly protocol: 6 | 17;
  readonly client: Side;
  readonly server: Side;
  readonly serverPort: number;
  /** Where the client sends (a ClusterIP or NodePort); the server when undefined. */
  readonly dial?: { readonly ip: string; readonly port: number; readonly on: "client" | "server" };
  /** The client's node rewrites the source to its own IP (traffic leaving the cluster). */
  readonly masquerade?: boolean;
  readonly profile: Profile;
  readonly denied?: boolean;
}

/** Servers on the internet the pods talk to. */
const INTERNET_HTTPS = [
  "93.184.216.34", // example.com
  "140.82.112.3", // github.com
  "151.101.1.69", // a CDN
  "52.216.8.45", // an object store
  "142.250.74.78", // a search engine
];
const INTERNET_DNS = ["8.8.8.8", "1.1.1.1"];

/** Options of a {@link TrafficGenerator}. */
export interface TrafficOptions {
  readonly cluster: SimCluster;
  /** Reads the simulated time at each poll. */
  readonly clock: Clock;
  /** Time of the first arrival, ms since the epoch. */
  readonly startMs: number;
  readonly seed?: number;
  /** Flow records per second to aim for, across the cluster (1000). */
  readonly recordsPerSecond?: number;
  /** The agents' settings, for the estimate of records per connection. */
  readonly pollIntervalMs?: number;
  readonly activeTimeoutMs?: number;
  readonly idleTimeoutMs?: number;
  /** Start with the connections a running cluster would have in progress (true). */
  readonly warmStart?: boolean;
}

/** Profiles sampled per scenario for the warm start. */
const WARM_SAMPLE = 2048;
/** A pod's or host's next ephemeral port, from the kernel's default range 32768–60999. */
const EPHEMERAL_LOW = 32768;
const EPHEMERAL_HIGH = 60999;

/**
 * Makes the connections of a simulated cluster and keeps each node's conntrack table.
 * Short-lived connections arrive at random (Poisson), paced so that the records they are
 * expected to make come to `recordsPerSecond`; long-lived ones are pools of a fixed size per
 * client pod, each connection replaced when it closes. With the warm start the tables begin as
 * a running cluster's would: pools and connections still in progress opened in the past.
 *
 * @example
 * ```ts
 * import { simulatedCluster } from "./cluster.ts";
 * let now = Date.now();
 * const traffic = new TrafficGenerator({
 *   cluster: simulatedCluster({ seed: 1 }), clock: () => now, startMs: now, seed: 1,
 * });
 * now += 5_000;
 * const entries = traffic.source("node-1").poll(); // node-1's conntrack table now
 * ```
 */
export class TrafficGenerator {
  readonly stats: TrafficStats = {
    connections: 0,
    byFlowType: { intraNode: 0, interNode: 0, toExternal: 0, fromExternal: 0, host: 0 },
    byScenario: Object.fromEntries(SCENARIOS.map((s) => [s, 0])) as Record<ScenarioName, number>,
    service: 0,
    denied: 0,
    portsExhausted: 0,
    tableEntries: 0,
  };
  readonly #cluster: SimCluster;
  readonly #clock: Clock;
  readonly #r: Random;
  readonly #rate: number;
  readonly #poll: number;
  readonly #active: number;
  readonly #idle: number;
  readonly #tables = new Map<string, View[]>();
  readonly #tableSizes = new Map<string, number>();
  readonly #live = new Set<string>();
  readonly #nextPort = new Map<string, number>();
  readonly #external: string[] = [];
  /** Pods that resolve names through kube-dns, and pods with a metrics port. */
  readonly #dnsClients: readonly SimPod[];
  readonly #scrapeTargets: readonly SimPod[];
  readonly #svc: (key: string) => SimService;
  readonly #startMs: number;
  /** Pool slots by when their connection closes and the next one opens. */
  readonly #pools = new ExpiryQueue<PoolSlot>();
  #nextArrival: number;
  #nextId = 1;
  #now: number;

  constructor(o: TrafficOptions) {
    this.#cluster = o.cluster;
    this.#clock = o.clock;
    this.#r = new Random((o.seed ?? 1) ^ 0x5eed);
    this.#rate = o.recordsPerSecond ?? 1000;
    if (!(this.#rate > 0) || !Number.isFinite(this.#rate)) {
      throw new RangeError(`Invalid record rate ${this.#rate}: expected a positive number`);
    }
    this.#poll = o.pollIntervalMs ?? 5000;
    this.#active = o.activeTimeoutMs ?? 60_000;
    this.#idle = o.idleTimeoutMs ?? 15_000;
    this.#startMs = o.startMs;
    this.#nextArrival = o.startMs;
    this.#now = o.startMs;
    for (const n of o.cluster.nodes) {
      this.#tables.set(n.name, []);
      this.#tableSizes.set(n.name, 0);
    }
    // Clients on the internet: two documentation /24s.
    for (const net of ["203.0.113", "198.51.100"]) {
      for (let i = 1; i < 255; i++) this.#external.push(`${net}.${i}`);
    }
    this.#dnsClients = o.cluster.pods.filter((p) => p.workload !== "coredns");
    this.#scrapeTargets = o.cluster.pods.filter((p) => p.ports.metrics !== undefined);
    this.#svc = (key) => {
      const s = o.cluster.services.get(key);
      if (!s) throw new Error(`The simulated cluster has no Service ${key}`);
      return s;
    };
    const warm = o.warmStart ?? true;
    for (const pool of POOLS) {
      for (const client of o.cluster.podsOf[pool.clients]) {
        for (let i = 0; i < pool.size; i++) {
          const slot = { scenario: pool.scenario, client, next: o.startMs };
          if (warm) this.#openPooled(slot, true);
          else this.#reschedule(slot, o.startMs + this.#r.uniform(0, this.#active));
        }
      }
    }
    if (warm) this.#warmUp();
  }

  /** The synthetic conntrack table of `nodeName`, as a connection source for its agent. */
  source(nodeName: string): SimConnectionSource {
    if (!this.#tables.has(nodeName)) throw new TypeError(`Unknown node ${nodeName}`);
    return {
      poll: () => this.snapshot(nodeName, this.#clock()),
      maxConnections: () => 262_144,
    };
  }

  /** Makes every connection that starts up to `now`. */
  advanceTo(now: number): void {
    if (now <= this.#now) return;
    this.#now = now;
    for (let due = this.#pools.popDue(now); due.length > 0; due = this.#pools.popDue(now)) {
      for (const slot of due) this.#openPooled(slot, false);
    }
    while (this.#nextArrival <= now) {
      const at = this.#nextArrival;
      const expected = this.#arrive(at);
      // Each arrival stands for the records it will make: the gap keeps records at the rate.
      this.#nextArrival = at + this.#r.exponential((expected * 1000) / this.#rate);
      if (expected === 0 && this.#nextArrival === at) this.#nextArrival = at + 1e-3;
    }
  }

  /** The entries of `nodeName`'s table at `now` (entries that expired are dropped). */
  snapshot(nodeName: string, now: number): ConnEntry[] {
    this.advanceTo(now);
    const views = this.#tables.get(nodeName);
    if (!views) throw new TypeError(`Unknown node ${nodeName}`);
    const out: ConnEntry[] = [];
    let w = 0;
    for (let i = 0; i < views.length; i++) {
      const v = views[i]!;
      const c = v.conn;
      if (now >= c.goneAt) {
        if (--c.viewsLeft === 0) { for (const k of c.keys) this.#live.delete(k); }
        continue;
      }
      views[w++] = v;
      if (now < c.visibleFrom) continue;
      if (v.entry === undefined || v.builtAt < c.settleAt) {
        v.entry = entryAt(v, now);
        v.builtAt = now;
      }
      out.push(v.entry);
    }
    views.length = w;
    this.stats.tableEntries += w - this.#tableSizes.get(nodeName)!;
    this.#tableSizes.set(nodeName, w);
    return out;
  }

  // --- arrivals -----------------------------------------------------------------------------

  #reschedule(slot: PoolSlot, at: number): void {
    slot.next = at;
    this.#pools.schedule(slot, at);
  }

  /**
   * Opens the next connection of a pool slot when it is due (with `warm`, one that opened
   * earlier and is still open then), and schedules its replacement for when it closes.
   */
  #openPooled(slot: PoolSlot, warm: boolean): void {
    const at = slot.next;
    const plan = this.#plan(slot.scenario, slot.client);
    if (plan === undefined) return this.#reschedule(slot, at + 1000);
    const life = inProgressFor(plan.profile);
    let start = at;
    let visibleFrom = -Infinity;
    if (warm) {
      start = at - this.#r.next() * life;
      visibleFrom = at + this.#r.next() * this.#active;
    }
    this.#start(slot.scenario, plan, start, visibleFrom);
    // A pool opens the next connection as soon as one closes.
    this.#reschedule(slot, start + life + 1);
  }

  /** Starts one connection at `at`; returns the records it is expected to make. */
  #arrive(at: number): number {
    const scenario = this.#r.weighted(ARRIVAL_SCENARIOS, weightOf);
    const plan = this.#plan(scenario);
    return plan === undefined ? 0 : this.#start(scenario, plan, at);
  }

  /** The views a plan makes: which nodes track it, and whether their agents export it. */
  #views(plan: Plan): { node: SimNode; server: boolean; exported: boolean }[] {
    const cn = plan.client.node;
    const sn = plan.server.node;
    const out: { node: SimNode; server: boolean; exported: boolean }[] = [];
    if (cn) {
      const exported = plan.client.pod?.node === cn || plan.server.pod?.node === cn;
      out.push({ node: cn, server: false, exported });
    }
    // The server's node tracks it too, unless it is the same node or the attempt never got
    // there (a policy dropped it on the way).
    if (sn && sn !== cn && !plan.denied) {
      out.push({ node: sn, server: true, exported: plan.server.pod?.node === sn });
    }
    return out;
  }

  /** Records the agents are expected to export for a plan, over its life. */
  #expected(plan: Plan): number {
    let n = 0;
    for (const v of this.#views(plan)) if (v.exported) n += this.#estimate(plan.profile);
    return n;
  }

  /** Puts a connection that started at `at` into the tables; returns its expected records. */
  #start(scenario: ScenarioName, plan: Plan, at: number, visibleFrom = -Infinity): number {
    const port = this.#clientPort(plan);
    if (port === undefined) {
      this.stats.portsExhausted++;
      return 0;
    }
    const { clientPort, keys } = port;
    const p = plan.profile;
    const { settle, gone } = lifetime(p);
    for (const k of keys) this.#live.add(k);
    const conn: Conn = {
      scenario,
      protocol: plan.protocol,
      start: at,
      startNs: BigInt(Math.floor(at)) * 1_000_000n,
      clientIP: plan.client.ip,
      clientPort,
      serverIP: plan.server.ip,
      serverPort: plan.serverPort,
      profile: p,
      settleAt: at + settle,
      goneAt: at + gone,
      visibleFrom,
      keys,
      viewsLeft: 0,
    };
    const dial = plan.dial;
    const nat = dial ? ConnStatus.DST_NAT | ConnStatus.DST_NAT_DONE : 0;
    for (const v of this.#views(plan)) {
      const natHere = dial?.on === (v.server ? "server" : "client");
      const masquerade = !v.server && plan.masquerade === true;
      this.#addView(v.node, conn, {
        dst: natHere ? dial!.ip : plan.server.ip,
        dstPort: natHere ? dial!.port : plan.serverPort,
        replyDst: masquerade ? v.node.internalIP : plan.client.ip,
        natStatus: (natHere ? nat : 0) |
          (masquerade ? ConnStatus.SRC_NAT | ConnStatus.SRC_NAT_DONE : 0),
      });
    }
    const s = this.stats;
    s.connections++;
    s.byScenario[scenario]++;
    s.byFlowType[flowTypeOf(plan)]++;
    if (dial) s.service++;
    if (plan.denied) s.denied++;
    return this.#expected(plan);
  }

  /**
   * Fills the tables with the connections a cluster that had been running at this rate would
   * have in progress at the start: long-lived ones (database pools, streams, watches) that are
   * still transferring, and UDP flows and denied attempts still in their timeouts. Without them
   * the records of long-lived connections would take as long as those connections live to reach
   * the rate. Connections already closing (TIME_WAIT) are left out: their records would have
   * been exported before the start.
   *
   * For each scenario a sample of profiles gives the mean time a connection stays in progress
   * and the records it makes; as many connections as the arrival rate keeps in progress are
   * started in the past, their profiles drawn in proportion to how long they last
   * (length-biased, as a snapshot of a running system sees them) and their ages uniformly.
   */
  #warmUp(): void {
    const r = this.#r;
    const samples = new Map<ScenarioName, { profiles: Profile[]; cumulative: number[] }>();
    let weight = 0;
    let records = 0;
    const inProgress = new Map<ScenarioName, number>();
    for (const s of ARRIVAL_SCENARIOS) {
      const profiles: Profile[] = [];
      const cumulative: number[] = [];
      let total = 0;
      let expected = 0;
      let tries = 0;
      for (; profiles.length < WARM_SAMPLE && tries < WARM_SAMPLE * 2; tries++) {
        const plan = this.#plan(s);
        if (plan === undefined) continue;
        expected += this.#expected(plan);
        profiles.push(plan.profile);
        total += inProgressFor(plan.profile);
        cumulative.push(total);
      }
      if (profiles.length === 0) continue;
      samples.set(s, { profiles, cumulative });
      weight += weightOf(s);
      records += weightOf(s) * expected / profiles.length;
      inProgress.set(s, weightOf(s) * total / profiles.length);
    }
    if (records === 0) return;
    // Arrivals per ms that make the rate, and how many of each scenario are in progress.
    const arrivals = (this.#rate / 1000) * weight / records;
    for (const [s, { profiles, cumulative }] of samples) {
      const mean = (arrivals * inProgress.get(s)!) / weight;
      const count = Math.floor(mean) + (r.chance(mean - Math.floor(mean)) ? 1 : 0);
      const total = cumulative[cumulative.length - 1]!;
      for (let i = 0; i < count; i++) {
        const plan = this.#plan(s);
        if (plan === undefined) continue;
        const x = r.next() * total;
        let lo = 0;
        let hi = cumulative.length - 1;
        while (lo < hi) {
          const mid = (lo + hi) >> 1;
          if (cumulative[mid]! > x) hi = mid;
          else lo = mid + 1;
        }
        const profile = profiles[lo]!;
        const at = this.#startMs - r.next() * inProgressFor(profile);
        // Agents would have exported these at their own times: spread their first sight over an
        // active timeout (TCP) or an idle timeout (UDP, denied) so they stay out of step.
        const spread = profile.kind === "tcp" ? this.#active : this.#idle;
        const visibleFrom = this.#startMs + r.next() * spread;
        if (visibleFrom < at + inProgressFor(profile)) {
          this.#start(s, { ...plan, profile }, at, visibleFrom);
        }
      }
    }
  }

  #addView(
    node: SimNode,
    conn: Conn,
    v: Pick<View, "dst" | "dstPort" | "replyDst" | "natStatus">,
  ): void {
    conn.viewsLeft++;
    this.#tables.get(node.name)!.push({
      conn,
      id: this.#nextId++,
      ...v,
      entry: undefined,
      builtAt: -Infinity,
    });
  }

  /** A client port whose tuples are not in any table (the kernel would not reuse it). */
  #clientPort(plan: Plan): { clientPort: number; keys: string[] } | undefined {
    const ip = plan.client.ip;
    const r = this.#r;
    const external = plan.client.node === undefined;
    let port = external ? r.int(1024, 65535) : this.#nextPort.get(ip);
    if (port === undefined) port = r.int(EPHEMERAL_LOW, EPHEMERAL_HIGH);
    for (let tries = 0; tries < 64; tries++) {
      const candidate = port;
      port = port >= (external ? 65535 : EPHEMERAL_HIGH)
        ? (external ? 1024 : EPHEMERAL_LOW)
        : port + 1;
      const keys = tupleKeys(plan, candidate);
      if (this.#live.has(keys[0]!) || (keys.length > 1 && this.#live.has(keys[1]!))) continue;
      if (!external) this.#nextPort.set(ip, port);
      return { clientPort: candidate, keys };
    }
    return undefined;
  }

  /** Records one node's agent is expected to export for a connection with this profile. */
  #estimate(p: Profile): number {
    switch (p.kind) {
      case "tcp":
        return 1 + Math.floor((p.rtt + p.duration + p.finWait + p.closeWait) / this.#active);
      case "udp": {
        const timeout = lifetime(p).gone - lifetime(p).settle;
        return this.#idle + this.#poll < timeout ? 2 : 1;
      }
      case "syn":
        return this.#idle + this.#poll < TCP_SYN_SENT_TIMEOUT ? 2 : 1;
    }
  }

  // --- scenarios ----------------------------------------------------------------------------

  #pods(w: WorkloadName): readonly SimPod[] {
    return this.#cluster.podsOf[w];
  }

  #pod(...ws: WorkloadName[]): SimPod {
    const r = this.#r;
    return r.pick(this.#pods(ws.length === 1 ? ws[0]! : r.pick(ws)));
  }

  /** Pod as a connection end. */
  #side(p: SimPod): Side {
    return { ip: p.ip, pod: p, node: p.node };
  }

  /** A connection through a ClusterIP Service port to one of its pods. */
  #viaService(
    client: SimPod,
    key: string,
    portName: string,
    profile: Profile,
    extra: Partial<Plan> = {},
  ): Plan | undefined {
    const svc = this.#svc(key);
    const sp = svc.ports.find((p) => p.name === portName)!;
    const server = this.#r.pick(this.#pods(svc.workload!));
    if (server === client) return undefined;
    return {
      protocol: sp.protocol === "UDP" ? 17 : 6,
      client: this.#side(client),
      server: this.#side(server),
      serverPort: server.ports[sp.targetPort]!.port,
      dial: { ip: svc.clusterIP, port: sp.port, on: "client" },
      profile,
      ...extra,
    };
  }

  /** A connection of scenario `s`; pools give their client. */
  #plan(s: ScenarioName, client?: SimPod): Plan | undefined {
    const r = this.#r;
    switch (s) {
      case "dns": {
        const client = r.pick(this.#dnsClients);
        return this.#viaService(client, "kube-system/kube-dns", "dns", this.#dns(0.2, 2));
      }
      case "web-api":
        return this.#viaService(this.#pod("web"), "backend/api", "http", this.#http(true));
      case "external-web": {
        const server = this.#pod("web");
        return {
          protocol: 6,
          client: { ip: r.pick(this.#external) },
          server: this.#side(server),
          serverPort: server.ports.http!.port,
          dial: { ip: server.node.internalIP, port: WEB_NODE_PORT, on: "server" },
          profile: this.#http(false),
        };
      }
      case "api-redis":
        return this.#viaService(
          client ?? this.#pod("api", "worker"),
          "db/redis",
          "redis",
          this.#tcp(0.2, r.logNormal(300, 0.8), r.logNormal(2_000, 1.5), r.logNormal(5, 1)),
        );
      case "redis-pool":
        return this.#viaService(
          client ?? this.#pod("api", "worker"),
          "db/redis",
          "redis",
          this.#stream(0.2, r.uniform(600_000, 1_800_000), 5_000, 20_000),
        );
      case "postgres-pool":
        return this.#viaService(
          client ?? this.#pod("api", "worker"),
          "db/postgres",
          "postgres",
          this.#stream(0.3, r.uniform(300_000, 900_000), 3_000, 50_000),
        );
      case "grpc-stream":
        return this.#viaService(
          client ?? this.#pod("worker"),
          "backend/api",
          "grpc",
          this.#stream(0.3, r.uniform(300_000, 1_200_000), 4_000, 8_000),
        );
      case "scrape": {
        const server = r.pick(this.#scrapeTargets);
        const client = this.#pod("prometheus");
        if (server === client) return undefined;
        return {
          protocol: 6,
          client: this.#side(client),
          server: this.#side(server),
          serverPort: server.ports.metrics!.port,
          profile: this.#tcp(0.3, r.logNormal(250, 0.3), r.logNormal(40_000, 0.8), 20),
        };
      }
      case "egress-https": {
        const client = this.#pod("api", "worker");
        return {
          protocol: 6,
          client: this.#side(client),
          server: { ip: r.pick(INTERNET_HTTPS) },
          serverPort: 443,
          masquerade: true,
          profile: this.#download(),
        };
      }
      case "upstream-dns": {
        const client = this.#pod("coredns");
        return {
          protocol: 17,
          client: this.#side(client),
          server: { ip: r.pick(INTERNET_DNS) },
          serverPort: 53,
          masquerade: true,
          profile: this.#dns(r.uniform(4, 30), 1),
        };
      }
      case "apiserver-watch": {
        // Controllers watch the API server through the `kubernetes` Service.
        client ??= this.#pod("coredns", "prometheus");
        const svc = this.#svc("default/kubernetes");
        const api = this.#cluster.apiServer;
        const node = this.#cluster.nodes.find((n) => n.internalIP === api.ip);
        return {
          protocol: 6,
          client: this.#side(client),
          server: { ip: api.ip, ...(node ? { node } : {}) },
          serverPort: api.port,
          dial: { ip: svc.clusterIP, port: svc.ports[0]!.port, on: "client" },
          profile: this.#stream(0.5, r.uniform(300_000, 1_800_000), 300, 2_000),
        };
      }
      case "denied-ingress": {
        // The web tier tries the databases directly; db's default-deny-ingress drops it.
        const client = this.#pod("web");
        const db = r.chance(0.5) ? "postgres" : "redis";
        const profile = this.#syn();
        if (r.chance(0.5)) {
          return this.#viaService(client, `db/${db}`, db, profile, { denied: true });
        }
        const server = this.#pod(db);
        return {
          protocol: 6,
          client: this.#side(client),
          server: this.#side(server),
          serverPort: server.ports[db]!.port,
          profile,
          denied: true,
        };
      }
      case "denied-egress": {
        // A database pod tries to ship a backup out; db's default-deny-egress drops it.
        const client = this.#pod("postgres", "redis");
        return {
          protocol: 6,
          client: this.#side(client),
          server: { ip: r.pick(INTERNET_HTTPS) },
          serverPort: 443,
          masquerade: true,
          profile: this.#syn(),
          denied: true,
        };
      }
      case "host": {
        // Kubelets talk to the API server and to each other's metrics: no pod involved.
        const nodes = this.#cluster.nodes;
        const from = r.pick(nodes);
        const others = nodes.filter((n) => n !== from);
        const to = others.length > 0 && r.chance(0.5) ? r.pick(others) : undefined;
        const api = this.#cluster.apiServer;
        const serverNode = to ?? nodes.find((n) => n.internalIP === api.ip);
        if (serverNode === from && !to) return undefined;
        return {
          protocol: 6,
          client: { ip: from.internalIP, node: from },
          server: { ip: to ? to.internalIP : api.ip, ...(serverNode ? { node: serverNode } : {}) },
          serverPort: to ? 10250 : api.port,
          profile: this.#tcp(0.3, r.logNormal(400, 0.5), r.logNormal(5_000, 1), 10),
        };
      }
    }
  }

  // --- profiles -----------------------------------------------------------------------------

  /** A TCP connection: `median` ms of data phase (at least what the bandwidth needs). */
  #tcp(rtt: number, request: number, response: number, median: number): TcpProfile {
    const r = this.#r;
    request = Math.min(MAX_BYTES, Math.max(1, Math.round(request)));
    response = Math.min(MAX_BYTES, Math.max(1, Math.round(response)));
    // ~100 MB/s inside the cluster, less across the internet (rtt says which).
    const bandwidth = rtt < 5 ? r.logNormal(100_000, 0.5) : r.logNormal(3_000, 0.8); // octets/ms
    const duration = Math.max(r.logNormal(median, 0.8), (request + response) / bandwidth);
    const reset = r.chance(0.03);
    const lingerFin = !reset && r.chance(0.05);
    const lingerClose = !reset && r.chance(0.1);
    return {
      kind: "tcp",
      rtt,
      request,
      response,
      duration,
      reset,
      finWait: lingerFin ? r.uniform(1_000, 10_000) : rtt,
      closeWait: lingerClose ? r.uniform(1_000, 30_000) : rtt,
    };
  }

  /** A long-lived connection: `duration` ms, octets per second around the given medians. */
  #stream(rtt: number, duration: number, requestRate: number, responseRate: number): TcpProfile {
    const r = this.#r;
    const s = duration / 1000;
    return {
      ...this.#tcp(rtt, s * r.logNormal(requestRate, 0.8), s * r.logNormal(responseRate, 1.2), 1),
      duration,
    };
  }

  /** HTTP: mostly short requests with heavy-tailed responses, some kept alive for a while. */
  #http(internal: boolean): TcpProfile {
    const r = this.#r;
    const rtt = internal ? r.uniform(0.1, 0.6) : r.uniform(15, 150);
    if (r.chance(internal ? 0.2 : 0.3)) {
      return this.#stream(rtt, Math.min(600_000, r.logNormal(20_000, 1)), 2_000, 30_000);
    }
    const response = r.chance(internal ? 0.03 : 0.15)
      ? r.pareto(internal ? 200_000 : 500_000, 1.2)
      : r.logNormal(internal ? 6_000 : 20_000, 1.4);
    return this.#tcp(rtt, r.logNormal(800, 0.5), response, internal ? 30 : 150);
  }

  /** A download from the internet. */
  #download(): TcpProfile {
    const r = this.#r;
    const response = r.chance(0.2) ? r.pareto(1_000_000, 1.1) : r.logNormal(30_000, 1.5);
    return this.#tcp(r.uniform(10, 100), r.logNormal(1_500, 0.5), response, 300);
  }

  /** DNS: a query or two (A and AAAA) and their answers. */
  #dns(rtt: number, maxQueries: number): UdpProfile {
    const r = this.#r;
    return {
      kind: "udp",
      rtt,
      exchanges: r.int(1, maxQueries),
      spacing: 0.3,
      request: Math.round(r.uniform(30, 60)),
      response: Math.round(r.logNormal(120, 0.5)),
    };
  }

  /** A connection attempt nobody answers: the client retransmits its SYN, then gives up. */
  #syn(): SynProfile {
    return { kind: "syn", syns: this.#r.chance(0.7) ? [0, 1000, 3000] : [0, 1000, 3000, 7000] };
  }
}

// --- connection life ----------------------------------------------------------------------------

function flowTypeOf(p: Plan): SimFlowType {
  const c = p.client.pod;
  const s = p.server.pod;
  if (c && s) return c.node === s.node ? "intraNode" : "interNode";
  if (c) return "toExternal";
  if (s) return "fromExternal";
  return "host";
}

function tupleKeys(p: Plan, port: number): string[] {
  const base = `${p.protocol}|${p.client.ip}|${port}|`;
  const keys = [`${base}${p.server.ip}|${p.serverPort}`];
  if (p.dial) keys.push(`${base}${p.dial.ip}|${p.dial.port}`);
  return keys;
}

/**
 * How long a connection with this profile is in progress (still to be exported by an agent
 * that starts now): TCP until it closes, UDP flows and denied attempts until they expire.
 */
function inProgressFor(p: Profile): number {
  if (p.kind !== "tcp") return lifetime(p).gone;
  return p.rtt + p.duration + (p.reset ? 0 : p.finWait + p.closeWait);
}

/** When a profile stops changing, and when conntrack forgets it, ms after its start. */
function lifetime(p: Profile): { settle: number; gone: number } {
  switch (p.kind) {
    case "tcp": {
      const end = p.rtt + p.duration;
      if (p.reset) return { settle: end, gone: end + TCP_CLOSE_TIMEOUT };
      const closed = end + p.finWait + p.closeWait;
      return { settle: closed, gone: closed + TCP_TIME_WAIT_TIMEOUT };
    }
    case "udp": {
      const last = (p.exchanges - 1) * p.spacing + p.rtt;
      return { settle: last, gone: last + (udpAssured(p) ? UDP_STREAM_TIMEOUT : UDP_TIMEOUT) };
    }
    case "syn": {
      const last = p.syns[p.syns.length - 1]!;
      return { settle: last, gone: last + TCP_SYN_SENT_TIMEOUT };
    }
  }
}

/** The kernel marks a UDP flow assured when it keeps going both ways for over 2 s. */
function udpAssured(p: UdpProfile): boolean {
  return p.exchanges > 1 && (p.exchanges - 1) * p.spacing > 2000;
}

/** Counters, state and status of a connection at `t` ms after its start. */
interface Observation {
  op: number;
  ob: number;
  rp: number;
  rb: number;
  state: TcpState | undefined;
  status: number;
  /** ms until conntrack would expire it if nothing more happened. */
  timeout: number;
}

function observe(c: Conn, t: number): Observation {
  const p = c.profile;
  const o: Observation = {
    op: 0,
    ob: 0,
    rp: 0,
    rb: 0,
    state: undefined,
    status: ConnStatus.CONFIRMED,
    timeout: 0,
  };
  switch (p.kind) {
    case "syn": {
      let n = 0;
      for (const s of p.syns) if (s <= t) n++;
      o.op = n;
      o.ob = n * SYN_SIZE;
      o.state = "SYN_SENT";
      o.timeout = p.syns[n - 1]! + TCP_SYN_SENT_TIMEOUT - t;
      return o;
    }
    case "udp": {
      const sent = Math.min(p.exchanges, Math.floor(t / p.spacing) + 1);
      const answered = t < p.rtt
        ? 0
        : Math.min(p.exchanges, Math.floor((t - p.rtt) / p.spacing) + 1);
      o.op = sent;
      o.ob = sent * (UDP_HEADER + p.request);
      o.rp = answered;
      o.rb = answered * (UDP_HEADER + p.response);
      if (answered > 0) o.status |= ConnStatus.SEEN_REPLY;
      const assured = udpAssured(p) && t >= (p.exchanges - 1) * p.spacing;
      if (assured) o.status |= ConnStatus.ASSURED;
      const last = answered > 0 ? (answered - 1) * p.spacing + p.rtt : (sent - 1) * p.spacing;
      o.timeout = last + (assured ? UDP_STREAM_TIMEOUT : UDP_TIMEOUT) - t;
      return o;
    }
    case "tcp": {
      o.op = 1;
      o.ob = SYN_SIZE;
      if (t < p.rtt) {
        o.state = "SYN_SENT";
        o.timeout = TCP_SYN_SENT_TIMEOUT - t;
        return o;
      }
      // Handshake done: SYN-ACK back, ACK out.
      o.status |= ConnStatus.SEEN_REPLY | ConnStatus.ASSURED;
      o.op += 1;
      o.ob += TCP_HEADER;
      o.rp = 1;
      o.rb = SYN_SIZE;
      const f = p.duration > 0 ? Math.min(1, (t - p.rtt) / p.duration) : 1;
      const reqSegs = Math.ceil(p.request / MSS);
      const respSegs = Math.ceil(p.response / MSS);
      const a = Math.floor(f * reqSegs);
      const b = Math.floor(f * respSegs);
      // One delayed ACK for every two segments received.
      const acksOut = b >> 1;
      const acksBack = a >> 1;
      o.op += a + acksOut;
      o.ob += Math.min(p.request, a * MSS) + TCP_HEADER * (a + acksOut);
      o.rp += b + acksBack;
      o.rb += Math.min(p.response, b * MSS) + TCP_HEADER * (b + acksBack);
      const end = p.rtt + p.duration;
      if (t < end) {
        o.state = "ESTABLISHED";
        o.timeout = TCP_ESTABLISHED_TIMEOUT;
        return o;
      }
      if (p.reset) {
        o.rp += 1;
        o.rb += 40;
        o.state = "CLOSE";
        o.timeout = end + TCP_CLOSE_TIMEOUT - t;
        return o;
      }
      // The client's FIN; then the server's ACK (half-closed); then its FIN and the last ACK.
      o.op += 1;
      o.ob += TCP_HEADER;
      const acked = end + p.finWait;
      if (t < acked) {
        o.state = "FIN_WAIT";
        o.timeout = end + TCP_FIN_WAIT_TIMEOUT - t;
        return o;
      }
      o.rp += 1;
      o.rb += TCP_HEADER;
      const closed = acked + p.closeWait;
      if (t < closed) {
        o.state = "CLOSE_WAIT";
        o.timeout = acked + TCP_CLOSE_WAIT_TIMEOUT - t;
        return o;
      }
      o.rp += 1;
      o.rb += TCP_HEADER;
      o.op += 1;
      o.ob += TCP_HEADER;
      o.state = "TIME_WAIT";
      o.timeout = closed + TCP_TIME_WAIT_TIMEOUT - t;
      return o;
    }
  }
}

function entryAt(v: View, now: number): ConnEntry {
  const c = v.conn;
  const o = observe(c, now - c.start);
  return {
    id: v.id,
    family: 4,
    protocol: c.protocol,
    original: {
      src: c.clientIP,
      dst: v.dst,
      srcPort: c.clientPort,
      dstPort: v.dstPort,
      packets: o.op,
      bytes: o.ob,
    },
    reply: {
      src: c.serverIP,
      dst: v.replyDst,
      srcPort: c.serverPort,
      dstPort: c.clientPort,
      packets: o.rp,
      bytes: o.rb,
    },
    icmp: undefined,
    tcpState: o.state,
    status: o.status | v.natStatus,
    mark: 0,
    zone: 0,
    labels: 0n,
    timeout: Math.max(0, Math.ceil(o.timeout / 1000)),
    hasCounters: true,
    startNs: c.startNs,
    stopNs: undefined,
  };
}
