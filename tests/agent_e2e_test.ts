/**
 * The flow exporter agent end to end, as root, with the kernel's real conntrack, in the lab of
 * `_e2e_lab.ts`: two "nodes" (network namespaces joined by a veth), "pods" (namespaces routed
 * behind their node), a ClusterIP Service made of an nft DNAT rule on node-a, and a
 * NetworkPolicy whose deny is an nft drop rule on node-b. One `deno task agent` per node
 * namespace, with an inventory file, exports to `deno task collector` (in node-a's namespace, on
 * its node IP); the test sends TCP and UDP traffic of known sizes between the pods and checks the
 * records the collector prints: 5-tuples, pod and node names per reporting node, observation
 * domain IDs, flow types, Service fields, policy fields and actions, counters, and the active,
 * idle and end-of-flow exports.
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
import { type Background, interopTest, needsRoot, waitFor } from "./_tools.ts";
import { needsConntrackLibrary, needsNetnsTools } from "./_netns.ts";
import {
  assertDeltasAddUp,
  assertFields,
  assertTcpOctets,
  COLLECTOR_PORT,
  E2eLab,
  endpoint,
  type Json,
  NO_SERVICE,
  NODES,
  type NodeSpec,
  noPolicy,
  NS,
  PODS,
  policy,
  roleArgv,
  sample,
  type ServerConfig,
  SERVICE_IP,
  taskArgv,
  tcpTraffic,
} from "./_e2e_lab.ts";
import { fnv1_32 } from "../src/exporter/mod.ts";

// ---------------------------------------------------------------------------------------------
// Records.

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

// ---------------------------------------------------------------------------------------------
// The test.

/** Traffic: payload sizes and what the servers answer. */
const INTRA = { chunks: [3000], reply: 1000 };
const SERVICE = { chunks: Array.from({ length: 36 }, () => 500), intervalMs: 250, reply: 2000 };
const UDP = { sizes: [100, 200, 300], reply: 50 };
/** Silent for longer than the idle timeout between its two writes. */
const TO_EXTERNAL = { port: 7000, chunks: [350, 350], intervalMs: 5000, reply: 300 };
const FROM_EXTERNAL = { port: 7070, chunks: [400], reply: 100 };

interopTest(
  "agent end to end: pods on two node namespaces, a Service, a NetworkPolicy, real conntrack",
  [
    needsRoot("Creating network namespaces and reading conntrack"),
    ...needsNetnsTools(),
    needsConntrackLibrary(),
  ],
  async (t) => {
    // Disposed at the end: the processes, then the namespaces and the temporary directory.
    await using e2e = await E2eLab.create("e2e", ["tasks/agent.ts", "tasks/collector.ts"]);
    const { lab, node, pod } = e2e;
    const start = (ns: string, argv: string[]) => e2e.start(ns, argv);
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
      const conf = await e2e.writeAgentConfig(k, [
        `flowCollectorAddr: "${NODES.a.ip}:${COLLECTOR_PORT}:tcp"`,
      ]);
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
    // Its SYNs are dropped on node-b: it never connects, and is killed at the end.
    start(
      pod.clientA,
      roleArgv("tcp-client", { hostname: PODS.dbB.ip, port: 5432, chunks: [10] }),
    );
    const [intra, service, udp, toExternal, fromExternal] = await Promise.all([
      e2e.client(pod.clientA, "tcp-client", { hostname: PODS.webA.ip, port: 8080, ...INTRA }),
      e2e.client(pod.clientA, "tcp-client", { hostname: SERVICE_IP, port: 80, ...SERVICE }),
      e2e.client(pod.clientA, "udp-client", { hostname: PODS.webB.ip, port: 9000, ...UDP }),
      e2e.client(pod.clientA, "tcp-client", {
        hostname: NODES.b.ip,
        port: TO_EXTERNAL.port,
        chunks: TO_EXTERNAL.chunks,
        intervalMs: TO_EXTERNAL.intervalMs,
      }),
      e2e.client(node.b, "tcp-client", {
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
        }\nagent a:\n${agents.a.stderr.slice(-2000)}\nagent b:\n${agents.b.stderr.slice(-2000)}`,
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
        // The first active export comes 4 s into 9 s of sending. A later one may fall on the
        // close when the machine is busy (the client's last chunk goes at 8.75 s): then the
        // connection is closing, which conntrack calls FIN_WAIT, CLOSE_WAIT, LAST_ACK or TIME_WAIT.
        assertEquals(active[0]!.tcpState, "ESTABLISHED", `${n}: state while active`);
        for (const r of active) {
          assert(
            ["ESTABLISHED", "FIN_WAIT", "CLOSE_WAIT", "LAST_ACK", "TIME_WAIT"].includes(
              r.tcpState as string,
            ),
            `${n}: state while active: ${r.tcpState}`,
          );
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
        return await e2e.fetch(node[k], url);
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
  },
);
