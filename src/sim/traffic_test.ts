import { assert, assertEquals } from "../../tests/_assert.ts";
import { type ConnEntry, ConnStatus } from "../conntrack/mod.ts";
import { classifyConnection, FlowType, isDenied } from "../exporter/mod.ts";
import { ClusterCache } from "../k8s/mod.ts";
import { silentLogger } from "../log/mod.ts";
import { ClusterPolicyView } from "../policy/mod.ts";
import { loadCluster, simulatedCluster } from "./cluster.ts";
import { TrafficGenerator } from "./traffic.ts";

const T0 = 1_700_000_000_000;
const ORDER = ["SYN_SENT", "ESTABLISHED", "FIN_WAIT", "CLOSE_WAIT", "TIME_WAIT"];

/** Every node's table every 5 s for `seconds`. */
function run(seed: number, seconds: number, warmStart = false) {
  const cluster = simulatedCluster({ nodes: 3, seed });
  let now = T0;
  const traffic = new TrafficGenerator({
    cluster,
    clock: () => now,
    startMs: T0,
    seed,
    recordsPerSecond: 200,
    warmStart,
  });
  const polls: { node: string; at: number; entries: ConnEntry[] }[] = [];
  for (let t = 5_000; t <= seconds * 1000; t += 5_000) {
    now = T0 + t;
    for (const n of cluster.nodes) {
      polls.push({ node: n.name, at: now, entries: traffic.source(n.name).poll() });
    }
  }
  return { cluster, traffic, polls };
}

Deno.test("traffic: connections live as conntrack shows them, counters only grow", () => {
  const { polls, traffic } = run(1, 400);
  const last = new Map<string, { e: ConnEntry; at: number }>();
  const gone = new Set<string>();
  const states = new Set<string>();
  for (const { node, at, entries } of polls) {
    const seen = new Set<string>();
    for (const e of entries) {
      const key = `${node}/${e.id}`;
      assert(!gone.has(key), `${key} came back`);
      seen.add(key);
      if (e.tcpState) states.add(e.tcpState);
      const prev = last.get(key)?.e;
      if (prev) {
        assert(
          e.original.packets >= prev.original.packets && e.original.bytes >= prev.original.bytes,
        );
        assert(e.reply.packets >= prev.reply.packets && e.reply.bytes >= prev.reply.bytes);
        assertEquals(e.original.srcPort, prev.original.srcPort);
        if (e.protocol === 6 && e.tcpState !== "CLOSE") {
          assert(
            ORDER.indexOf(e.tcpState!) >= ORDER.indexOf(prev.tcpState!),
            `${prev.tcpState}→${e.tcpState}`,
          );
        }
      }
      // Packets of at most an MTU; an unanswered SYN has no reply and no SEEN_REPLY.
      assert(
        e.original.bytes <= e.original.packets * 1500 && e.reply.bytes <= e.reply.packets * 1500,
      );
      assert(e.original.packets >= 1);
      if ((e.status & ConnStatus.SEEN_REPLY) === 0) {
        assertEquals([e.reply.packets, e.reply.bytes], [0, 0]);
        if (e.protocol === 6) assertEquals(e.tcpState, "SYN_SENT");
      }
      assertEquals(e.startNs! <= BigInt(at) * 1_000_000n, true);
      last.set(key, { e, at });
    }
    for (const [key] of last) {
      if (key.startsWith(`${node}/`) && !seen.has(key)) {
        gone.add(key);
        last.delete(key);
      }
    }
  }
  assert(gone.size > 1000, `${gone.size} connections ended`);
  for (const s of ["SYN_SENT", "ESTABLISHED", "TIME_WAIT", "CLOSE_WAIT", "CLOSE"]) {
    assert(states.has(s), `state ${s} in ${[...states]}`);
  }
  assert(traffic.stats.denied > 0 && traffic.stats.service > 0);
  assertEquals(traffic.stats.portsExhausted, 0);
});

Deno.test("traffic: NAT as kube-proxy does it, and both nodes' view of traffic between them", () => {
  const { cluster, polls } = run(2, 60);
  const dnsIP = cluster.services.get("kube-system/kube-dns")!.clusterIP;
  const dnsPods = new Set(cluster.podsOf.coredns.map((p) => p.ip));
  const nodeIPs = new Set(cluster.nodes.map((n) => n.internalIP));
  let dnat = 0;
  let masquerade = 0;
  const tuples = new Map<string, Set<string>>();
  for (const { node, entries } of polls) {
    for (const e of entries) {
      if (e.original.dst === dnsIP) {
        dnat++;
        assert(dnsPods.has(e.reply.src), e.reply.src);
        assert((e.status & ConnStatus.DST_NAT) !== 0);
        assertEquals(e.protocol === 17 ? e.reply.srcPort : 53, 53);
      }
      if ((e.status & ConnStatus.SRC_NAT) !== 0) {
        masquerade++;
        assert(nodeIPs.has(e.reply.dst), e.reply.dst);
        assert(!e.reply.src.startsWith("10."), e.reply.src);
      }
      // The real tuple, as flow records carry it.
      const t =
        `${e.protocol}|${e.original.src}|${e.original.srcPort}|${e.reply.src}|${e.reply.srcPort}`;
      if (!tuples.has(t)) tuples.set(t, new Set());
      tuples.get(t)!.add(node);
    }
  }
  assert(dnat > 0 && masquerade > 0);
  const both = [...tuples.values()].filter((nodes) => nodes.size === 2).length;
  assert(both > 100, `${both} connections seen by two nodes`);
});

Deno.test("traffic: the real classifier finds every flow type in the tables", () => {
  const { cluster, polls } = run(3, 60);
  const cache = new ClusterCache({ logger: silentLogger });
  loadCluster(cache, cluster);
  const policy = new ClusterPolicyView(cache, silentLogger);
  const types = new Map<number, number>();
  let denied = 0;
  let ignored = 0;
  for (const { node, entries } of polls.slice(-3)) {
    for (const e of entries) {
      const m = classifyConnection(e, { nodeName: node, cluster: cache, policy });
      if (!m) {
        ignored++;
        continue;
      }
      types.set(m.flowType, (types.get(m.flowType) ?? 0) + 1);
      if (isDenied(m, e)) denied++;
    }
  }
  for (const t of Object.values(FlowType)) assert((types.get(t) ?? 0) > 0, `flow type ${t}`);
  assert(denied > 0, "denied connections");
  assert(ignored > 0, "host connections, not exported");
});

Deno.test("traffic: a seed makes the same tables; the warm start fills them at once", () => {
  const a = run(9, 30);
  const b = run(9, 30);
  assertEquals(a.polls, b.polls);
  // Connections in progress at the start; they show up over an active timeout (so that their
  // exports stay out of step).
  const before = (r: typeof a) =>
    r.polls.slice(-3).flatMap((p) => p.entries).filter((e) => e.startNs! < BigInt(T0) * 1_000_000n);
  const warm = before(run(9, 60, true));
  assert(warm.length > 50, `${warm.length} connections from before the start`);
  assert(warm.some((e) => e.tcpState === "ESTABLISHED" && e.timeout > 3600));
  assertEquals(before(run(9, 60, false)).length, 0);
});
