/**
 * The flow aggregator end to end, as root, with the kernel's real conntrack, in the lab of
 * `_e2e_lab.ts` (two node namespaces, pods behind them, a ClusterIP Service as an nft DNAT rule
 * on node-a, a NetworkPolicy deny as an nft drop rule on node-b):
 *
 * - `deno task aggregator` in node-a's namespace, listening on node-a's node IP with mutual TLS
 *   from its own CA; each agent holds a client certificate from `--issue-client-cert`;
 * - its sinks: the embedded SQLite store in a temporary directory, and a real ClickHouse server
 *   started inside node-a's namespace, on its loopback;
 * - pod labels from the inventory file; short timeouts everywhere;
 * - one `deno task agent` per node namespace.
 *
 * Traffic of known sizes: inter-node TCP through the Service and straight to the pod, inter-node
 * UDP, intra-node TCP, and a connection the policy drops. The aggregator's API is read with
 * `deno task flowctl` inside node-a's namespace while the flows run; then the agents and the
 * aggregator stop on SIGTERM (the aggregator exports what it holds and flushes its sinks), and
 * the rows stored in SQLite and in ClickHouse are the same and tell each flow right: one
 * correlated chain per inter-node flow (source pod and egress policy from node-a's half,
 * destination pod and ingress policy from node-b's half, the Service, both nodes' counters whose
 * deltas add up to the totals), flow types, pod labels, and the Drop of the denied connection.
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import { assert, assertEquals, assertMatch, fail } from "./_assert.ts";
import { ClickHouseServer, needsClickHouse } from "./_clickhouse.ts";
import {
  assertDeltasAddUp,
  assertFields,
  assertTcpOctets,
  type ClientResult,
  COLLECTOR_PORT,
  E2eLab,
  endpoint,
  type Json,
  NODES,
  NS,
  PODS,
  policy,
  roleArgv,
  ROOT,
  sample,
  SERVICE_IP,
  taskArgv,
  tcpTraffic,
} from "./_e2e_lab.ts";
import { needsConntrackLibrary, needsNetnsTools } from "./_netns.ts";
import { type Background, interopTest, needsRoot, run, sleep } from "./_tools.ts";
import { FLOW_COLUMNS } from "../src/store/mod.ts";

/** The aggregator's API inside node-a's namespace. */
const API_PORT = 10348;
const API_URL = `http://127.0.0.1:${API_PORT}`;
const CLICKHOUSE_DB = "flowvis_e2e";

// Traffic: payload sizes and what the servers answer.
/** Through the Service, for ~9 s: exported by the agents while it runs, so in several rows. */
const SERVICE = { chunks: Array.from({ length: 36 }, () => 500), intervalMs: 250, reply: 2000 };
/** Straight to web-b's pod IP (whose server answers every TCP client alike). */
const DIRECT = { chunks: [2500, 2500], intervalMs: 500, reply: SERVICE.reply };
const UDP = { sizes: [100, 200, 300], reply: 50 };
const INTRA = { chunks: [3000], reply: 1000 };

/** A stored row: the columns of FLOW_COLUMNS. */
type Row = Record<string, Json>;

/** A connection's 5-tuple as the rows name it (the denied one has no known source port). */
interface Tuple {
  protocol: 6 | 17;
  source: string;
  sourcePort?: number;
  destination: string;
  destinationPort: number;
}

function matches(r: Row, t: Tuple): boolean {
  return r.protocolIdentifier === t.protocol && r.sourceIP === t.source &&
    (t.sourcePort === undefined || r.sourceTransportPort === t.sourcePort) &&
    r.destinationIP === t.destination && r.destinationTransportPort === t.destinationPort;
}

/** The rows of the SQLite store in insertion order; [] while the file is not there yet. */
function sqliteRows(path: string): Row[] {
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(path, { readOnly: true });
  } catch {
    return [];
  }
  try {
    const cols = FLOW_COLUMNS.map((c) => c.name).join(", ");
    return db.prepare(`SELECT ${cols} FROM flows ORDER BY rowid`).all() as Row[];
  } catch {
    return []; // The schema is being created.
  } finally {
    db.close();
  }
}

/**
 * The rows of the ClickHouse table, with its timeInserted. JSONEachRow quotes UInt64 and writes
 * DateTime as local text: times are read as Unix seconds, counters turned back into numbers.
 */
async function clickHouseRows(
  server: ClickHouseServer,
): Promise<(Row & { timeInserted: number })[]> {
  const select = [
    "toUInt32(timeInserted) AS t_timeInserted",
    ...FLOW_COLUMNS.map((c) =>
      c.type === "DateTime" ? `toUInt32(${c.name}) AS t_${c.name}` : c.name
    ),
  ].join(", ");
  const out = await server.client(
    `SELECT ${select} FROM ${CLICKHOUSE_DB}.flows FORMAT JSONEachRow`,
  );
  return out.split("\n").filter((l) => l.trim() !== "").map((l) => {
    const raw = JSON.parse(l) as Record<string, Json>;
    const row: Row = {};
    for (const c of FLOW_COLUMNS) {
      const v = c.type === "DateTime" ? raw[`t_${c.name}`] : raw[c.name];
      row[c.name] = c.type === "String" ? v ?? null : Number(v);
    }
    return { ...row, timeInserted: Number(raw.t_timeInserted) };
  });
}

/** A row as one comparable text: every column in table order. */
function canonical(r: Row): string {
  return JSON.stringify(FLOW_COLUMNS.map((c) => r[c.name]));
}

/** The pod labels JSON the aggregator writes (keys sorted). */
const LABELS = {
  client: '{"app":"client"}',
  web: '{"app":"web"}',
};

/** Per-node counter names of one node. */
const PER_NODE_TOTALS = [
  "packetTotalCount",
  "octetTotalCount",
  "reversePacketTotalCount",
  "reverseOctetTotalCount",
];

/** Fields of a flow that every row of its chain carries. */
function assertChainShape(rows: Row[], where: string): void {
  assert(rows.length >= 1, `${where}: stored`);
  const start = rows[0]!.flowStartSeconds as number;
  let end = 0;
  for (const [i, r] of rows.entries()) {
    assertEquals(r.flowStartSeconds, start, `${where}, row ${i + 1}: flowStartSeconds`);
    const e = r.flowEndSeconds as number;
    assert(e >= start && e >= end, `${where}, row ${i + 1}: flowEndSeconds ${e} after ${end}`);
    end = e;
  }
}

/**
 * The throughput columns of each row agree with its deltas: a node that moved octets since the
 * previous row has a positive rate, at most the octets in one second (the divisor is ≥ 1 s).
 */
function assertThroughput(rows: Row[], where: string): void {
  for (const [i, r] of rows.entries()) {
    for (
      const [rate, octets] of [
        ["throughputFromSourceNode", "octetDeltaCountFromSourceNode"],
        ["reverseThroughputFromSourceNode", "reverseOctetDeltaCountFromSourceNode"],
        ["throughputFromDestinationNode", "octetDeltaCountFromDestinationNode"],
        ["reverseThroughputFromDestinationNode", "reverseOctetDeltaCountFromDestinationNode"],
        ["throughput", "octetDeltaCount"],
        ["reverseThroughput", "reverseOctetDeltaCount"],
      ] as const
    ) {
      const bps = r[rate] as number, o = r[octets] as number;
      assert(
        o > 0 ? bps > 0 && bps <= o * 8 : bps === 0,
        `${where}, row ${i + 1}: ${rate} ${bps} for ${o} octets`,
      );
    }
    assertEquals(r.throughput, r.throughputFromSourceNode, `${where}: the source node's rate`);
  }
}

/**
 * An inter-node flow: every row correlated, the source pod and egress policy from node-a's
 * half, the destination pod and ingress policy from node-b's half, both nodes' end times, and
 * each node's deltas adding up to its totals; the common counters are the source node's.
 */
function assertCorrelatedChain(rows: Row[], service: Row, where: string): void {
  assertChainShape(rows, where);
  assertFields(rows, {
    flowType: 2,
    uncorrelated: 0,
    ...endpoint("source", PODS.clientA),
    ...endpoint("destination", PODS.webB),
    ...service,
    ...policy("ingress", "web-allow-client", "ingress-0", 1),
    ...policy("egress", "client-egress", "egress-0", 1),
    sourcePodLabels: LABELS.client,
    destinationPodLabels: LABELS.web,
  }, where);
  for (const [i, r] of rows.entries()) {
    for (const k of ["flowEndSecondsFromSourceNode", "flowEndSecondsFromDestinationNode"]) {
      const v = r[k] as number;
      assert(
        v >= (r.flowStartSeconds as number) && v <= (r.flowEndSeconds as number),
        `${where}, row ${i + 1}: ${k} ${v}`,
      );
    }
    for (const k of PER_NODE_TOTALS) {
      assertEquals(r[k], r[`${k}FromSourceNode`], `${where}, row ${i + 1}: ${k} is node-a's`);
    }
  }
  assertDeltasAddUp(rows, where);
  assertDeltasAddUp(rows, `${where} (node-a)`, "FromSourceNode");
  assertDeltasAddUp(rows, `${where} (node-b)`, "FromDestinationNode");
  assertThroughput(rows, where);
  const last = rows.at(-1)!;
  // Both nodes forwarded every packet of the connection.
  for (const k of ["packetTotalCount", "octetTotalCount", "reversePacketTotalCount"]) {
    assertEquals(
      last[`${k}FromSourceNode`],
      last[`${k}FromDestinationNode`],
      `${where}: both nodes count the same ${k}`,
    );
  }
}

/** The argv of `deno task NAME -- args…`. */
async function task(name: string, ...args: string[]): Promise<[string, string[]]> {
  const [deno, ...rest] = await taskArgv(name);
  return [deno!, [...rest, ...args]];
}

interopTest(
  "aggregator end to end: agents on two node namespaces over mTLS, correlated rows in SQLite and ClickHouse",
  [
    needsRoot("Creating network namespaces and reading conntrack"),
    ...needsNetnsTools(),
    needsConntrackLibrary(),
    needsClickHouse(),
  ],
  async (t) => {
    // Disposed last: the processes, then the namespaces and the temporary directory.
    await using e2e = await E2eLab.create("agg", [
      "tasks/agent.ts",
      "tasks/aggregator.ts",
      "tasks/flowctl.ts",
    ]);
    const { node, pod, dir } = e2e;
    // Stopped before the lab goes (its namespace is deleted with it); its directory is its own.
    await using clickhouse = await ClickHouseServer.start({
      prefix: ["ip", "netns", "exec", node.a],
    });
    const inNodeA = async (cmd: [string, string[]]) =>
      (await e2e.lab.exec(node.a, cmd[0], cmd[1], { cwd: ROOT })).stdout;

    // The aggregator's configuration: mTLS with its CA in tls.dir, both stores, pod labels.
    const dbPath = `${dir}/store/flows.db`;
    const aggregatorConf = `${dir}/flow-aggregator.conf`;
    await Deno.writeTextFile(
      aggregatorConf,
      [
        `collectorAddress: "${NODES.a.ip}:${COLLECTOR_PORT}:tls"`,
        "aggregatorTransportProtocol: tls",
        `flowAggregatorAddress: ${NODES.a.ip}`,
        `tls: { dir: ${dir}/pki }`,
        "activeFlowRecordTimeout: 3s",
        "inactiveFlowRecordTimeout: 6s",
        "recordContents: { podLabels: true }",
        `inventoryFile: ${e2e.inventory}`,
        `apiServer: { apiPort: ${API_PORT}, bindAddress: 127.0.0.1 }`,
        `embeddedStore: { enable: true, path: ${dbPath} }`,
        "clickHouse:",
        "  enable: true",
        `  databaseURL: ${clickhouse.url}`,
        `  database: ${CLICKHOUSE_DB}`,
        "  commitInterval: 1s",
        `  spoolDir: ${dir}/spool`,
        "",
      ].join("\n"),
    );
    // A client certificate per agent, signed by the CA the first call creates.
    const certs = {} as Record<"a" | "b", { caFile: string; certFile: string; keyFile: string }>;
    for (const k of ["a", "b"] as const) {
      const [deno, args] = await task(
        "aggregator",
        "--config",
        aggregatorConf,
        "--issue-client-cert",
        NODES[k].name,
        "--out",
        `${dir}/certs-${k}`,
      );
      const out = (await run(deno, args, { cwd: ROOT, timeoutMs: 60_000 })).stdout;
      certs[k] = JSON.parse(out.trim().split("\n").at(-1)!);
    }

    const aggregator = e2e.start(node.a, [
      ...await taskArgv("aggregator"),
      "--config",
      aggregatorConf,
    ]);
    await aggregator.waitForOutput(/"msg":"API server listening"/, 30_000);
    assertMatch(
      aggregator.stderr,
      /"mutualTls":true/,
      "the collecting process asks for certificates",
    );

    const agents = {} as Record<"a" | "b", Background>;
    for (const k of ["a", "b"] as const) {
      const conf = await e2e.writeAgentConfig(k, [
        `flowCollectorAddr: "${NODES.a.ip}:${COLLECTOR_PORT}:tls"`,
        "tls:",
        `  caFile: ${certs[k].caFile}`,
        `  certFile: ${certs[k].certFile}`,
        `  keyFile: ${certs[k].keyFile}`,
      ], { poll: "1s", active: "3s", idle: "2s" });
      agents[k] = e2e.start(node[k], [...await taskArgv("agent"), "--config", conf]);
    }
    for (const a of Object.values(agents)) {
      await a.waitForOutput(/"msg":"Connected to the collector"/, 30_000);
    }

    const servers = [
      e2e.start(
        pod.webA,
        roleArgv("server", { tcp: [{ port: 8080, reply: INTRA.reply }] }),
      ),
      e2e.start(
        pod.webB,
        roleArgv("server", {
          // One reply size for both TCP clients of web-b: the Service's.
          tcp: [{ port: 8080, reply: SERVICE.reply }],
          udp: [{ port: 9000, reply: UDP.reply }],
        }),
      ),
      e2e.start(pod.dbB, roleArgv("server", { tcp: [{ port: 5432, reply: 10 }] })),
    ];
    for (const s of servers) await s.waitForOutput(/^ready$/m, 30_000);

    const alive = () => {
      for (const [name, p] of [["aggregator", aggregator], ...Object.entries(agents)] as const) {
        if (p.exited) throw new Error(`The ${name} exited:\n${p.stderr.slice(-3000)}`);
      }
    };

    // The API while the Service connection runs (it stays cached a while after its end): its
    // two halves correlated in the cache.
    let live: Row | undefined;
    let stopWatching = false;
    const watchUntil = Date.now() + 40_000;
    const watchApi = (async () => {
      while (!stopWatching && live === undefined && Date.now() < watchUntil) {
        alive();
        const out = await inNodeA(
          await task(
            "flowctl",
            "get",
            "flowrecords",
            "-o",
            "json",
            "--server",
            API_URL,
            "--srcip",
            PODS.clientA.ip,
            "--dstip",
            PODS.webB.ip,
            "--proto",
            "tcp",
            "--dstport",
            "8080",
          ),
        );
        live = (JSON.parse(out) as Row[]).find((r) =>
          r.destinationServicePortName === `${NS}/web:http` && r.uncorrelated === 0 &&
          r.destinationPodName === PODS.webB.name
        );
        if (live === undefined) await sleep(500);
      }
    })();

    // The traffic, all at once; the Service connection keeps sending for ~9 s. The denied one
    // never connects (node-b drops its SYNs) and is killed at the end.
    e2e.start(
      pod.clientA,
      roleArgv("tcp-client", { hostname: PODS.dbB.ip, port: 5432, chunks: [10] }),
    );
    let results: ClientResult[];
    try {
      results = await Promise.all([
        e2e.client(pod.clientA, "tcp-client", { hostname: SERVICE_IP, port: 80, ...SERVICE }),
        e2e.client(pod.clientA, "tcp-client", { hostname: PODS.webB.ip, port: 8080, ...DIRECT }),
        e2e.client(pod.clientA, "udp-client", { hostname: PODS.webB.ip, port: 9000, ...UDP }),
        e2e.client(pod.clientA, "tcp-client", { hostname: PODS.webA.ip, port: 8080, ...INTRA }),
      ]);
    } catch (e) {
      stopWatching = true;
      await watchApi.catch(() => {});
      throw e;
    }
    await watchApi;
    const [service, direct, udp, intra] = results;
    assertEquals(
      results.map((r) => r.received),
      [[SERVICE.reply], [DIRECT.reply], UDP.sizes.map(() => UDP.reply), [INTRA.reply]],
      "replies",
    );

    const tuples = {
      service: {
        protocol: 6,
        source: PODS.clientA.ip,
        sourcePort: service!.localPort,
        destination: PODS.webB.ip,
        destinationPort: 8080,
      },
      direct: {
        protocol: 6,
        source: PODS.clientA.ip,
        sourcePort: direct!.localPort,
        destination: PODS.webB.ip,
        destinationPort: 8080,
      },
      udp: {
        protocol: 17,
        source: PODS.clientA.ip,
        sourcePort: udp!.localPort,
        destination: PODS.webB.ip,
        destinationPort: 9000,
      },
      intra: {
        protocol: 6,
        source: PODS.clientA.ip,
        sourcePort: intra!.localPort,
        destination: PODS.webA.ip,
        destinationPort: 8080,
      },
      denied: {
        protocol: 6,
        source: PODS.clientA.ip,
        destination: PODS.dbB.ip,
        destinationPort: 5432,
      },
    } satisfies Record<string, Tuple>;

    // Until the stored rows hold every connection's end: the TCP ones closed as both nodes saw
    // it, the UDP one with all its datagrams from both nodes, the denied one at all.
    const udpOctets = UDP.sizes.reduce((s, n) => s + n + 28, 0);
    const ended = (rs: Row[]) =>
      rs.some((r) =>
        r.flowEndReason === 3 && r.tcpState === "TIME_WAIT" &&
        ["packetTotalCount", "octetTotalCount", "reversePacketTotalCount"].every((k) =>
          (r[`${k}FromSourceNode`] as number) > 0 &&
          r[`${k}FromSourceNode`] === r[`${k}FromDestinationNode`]
        )
      );
    const wanted: [string, Tuple, (rs: Row[]) => boolean][] = [
      ["service", tuples.service, ended],
      ["direct", tuples.direct, ended],
      ["intra", tuples.intra, ended],
      ["udp", tuples.udp, (rs) =>
        rs.some((r) =>
          r.octetTotalCountFromSourceNode === udpOctets &&
          r.octetTotalCountFromDestinationNode === udpOctets
        )],
      ["denied", tuples.denied, (rs) => rs.length > 0],
    ];
    let stored: Row[] = [];
    const deadline = Date.now() + 30_000;
    while (true) {
      alive();
      stored = sqliteRows(dbPath);
      const missing = wanted.filter(([, tuple, ok]) =>
        !ok(stored.filter((r) => matches(r, tuple)))
      );
      if (missing.length === 0) break;
      if (Date.now() > deadline) {
        fail(
          `Timed out waiting for the stored rows of ${missing.map(([n]) => n).join(", ")}\nrows:\n${
            stored.map((r) => JSON.stringify(r)).join("\n")
          }\naggregator:\n${aggregator.stderr.slice(-3000)}`,
        );
      }
      await sleep(300);
    }

    await t.step("API: the correlated Service flow while it ran, record metrics", async () => {
      assert(live !== undefined, "flowctl get flowrecords showed the correlated Service flow");
      assertFields([live], {
        sourcePodName: PODS.clientA.name,
        destinationPodName: PODS.webB.name,
        destinationClusterIP: SERVICE_IP,
        flowType: 2,
        sourcePodLabels: LABELS.client,
        destinationPodLabels: LABELS.web,
      }, "live Service flow");
      const metrics = JSON.parse(
        await inNodeA(
          await task("flowctl", "get", "recordmetrics", "-o", "json", "--server", API_URL),
        ),
      );
      const sent = async (k: "a" | "b") =>
        sample(
          await e2e.fetch(node[k], `http://127.0.0.1:${NODES[k].metricsPort}/metrics`),
          "flowvis_agent_records_sent_total",
        ) ?? 0;
      const sentByAgents = await sent("a") + await sent("b");
      assertEquals(
        [
          metrics.numConnToCollector,
          metrics.numRecordsDropped,
          metrics.withClickHouseExporter,
          metrics.withEmbeddedStore,
          metrics.withFlowCollector,
        ],
        [2, 0, true, true, false],
        `record metrics ${JSON.stringify(metrics)}`,
      );
      assert(
        metrics.numRecordsReceived > 0 && metrics.numRecordsReceived <= sentByAgents,
        `received ${metrics.numRecordsReceived}, agents sent ${sentByAgents}`,
      );
      assert(
        metrics.numRecordsExported >= stored.length,
        `exported ${metrics.numRecordsExported}, ${stored.length} rows stored then`,
      );
    });

    await t.step("shutdown: agents, then the aggregator on SIGTERM, which flushes", async () => {
      for (const [n, agent] of Object.entries(agents)) {
        const { status, stderr } = await agent.stop("SIGTERM", 10_000);
        assertEquals(status.code, 0, `agent ${n} exit status\n${stderr.slice(-2000)}`);
      }
      const { status, stderr } = await aggregator.stop("SIGTERM", 30_000);
      assertEquals(status.code, 0, `aggregator exit status\n${stderr.slice(-3000)}`);
      assertMatch(stderr, /"msg":"aggregator stopped"/, "the aggregator says it stopped");
    });

    const rows = sqliteRows(dbPath);
    const of = (tuple: Tuple) => rows.filter((r) => matches(r, tuple));

    await t.step("SQLite and ClickHouse hold the same rows, and only the lab's flows", async () => {
      const ch = await clickHouseRows(clickhouse);
      assert(rows.length >= wanted.length, `${rows.length} rows`);
      assertEquals(
        ch.map(canonical).sort(),
        rows.map(canonical).sort(),
        "ClickHouse rows = SQLite rows",
      );
      for (const r of ch) assert(r.timeInserted > 0, "ClickHouse timeInserted");
      const db = new DatabaseSync(dbPath, { readOnly: true });
      try {
        const zero = db.prepare("SELECT count(*) AS n FROM flows WHERE timeInserted <= 0").get();
        assertEquals(zero?.n, 0, "SQLite timeInserted");
      } finally {
        db.close();
      }
      const strays = rows.filter((r) => !Object.values(tuples).some((tuple) => matches(r, tuple)));
      assertEquals(strays, [], "rows of no connection of the test");
    });

    await t.step("inter-node TCP through the Service: one correlated chain", () => {
      const rs = of(tuples.service);
      assertCorrelatedChain(rs, {
        destinationClusterIP: SERVICE_IP,
        destinationServicePort: 80,
        destinationServicePortName: `${NS}/web:http`,
      }, "Service");
      // Exported while it ran (the aggregator's active timeout), then at its end.
      assert(
        rs.filter((r) => (r.octetDeltaCount as number) > 0).length >= 2,
        `Service: octets in several rows (${rs.map((r) => r.octetDeltaCount)})`,
      );
      const last = rs.at(-1)!;
      assertEquals([last.flowEndReason, last.tcpState], [3, "TIME_WAIT"], "Service: the end");
      for (const suffix of ["", "FromSourceNode", "FromDestinationNode"]) {
        assertTcpOctets(last, tcpTraffic(SERVICE), `Service ${suffix}`, suffix);
      }
    });

    await t.step("inter-node TCP to the pod: one correlated chain, no Service", () => {
      const rs = of(tuples.direct);
      assertCorrelatedChain(rs, {
        destinationClusterIP: "",
        destinationServicePort: 0,
        destinationServicePortName: "",
      }, "direct");
      const last = rs.at(-1)!;
      assertEquals([last.flowEndReason, last.tcpState], [3, "TIME_WAIT"], "direct: the end");
      for (const suffix of ["", "FromSourceNode", "FromDestinationNode"]) {
        assertTcpOctets(last, tcpTraffic(DIRECT), `direct ${suffix}`, suffix);
      }
    });

    await t.step("inter-node UDP: exact counters from both nodes", () => {
      const rs = of(tuples.udp);
      assertCorrelatedChain(rs, {
        destinationClusterIP: "",
        destinationServicePort: 0,
        destinationServicePortName: "",
        tcpState: "",
      }, "UDP");
      const last = rs.at(-1)!;
      const n = UDP.sizes.length;
      for (const suffix of ["", "FromSourceNode", "FromDestinationNode"]) {
        assertEquals(
          PER_NODE_TOTALS.map((k) => last[`${k}${suffix}`]),
          [n, udpOctets, n, n * (UDP.reply + 28)],
          `UDP counters ${suffix}`,
        );
      }
    });

    await t.step("intra-node TCP: flowType 1, node-a's record stands for both nodes", () => {
      const rs = of(tuples.intra);
      assertChainShape(rs, "intra");
      assertFields(rs, {
        flowType: 1,
        uncorrelated: 0,
        ...endpoint("source", PODS.clientA),
        ...endpoint("destination", PODS.webA),
        destinationClusterIP: "",
        ...policy("ingress", "web-allow-client", "ingress-0", 1),
        ...policy("egress", "client-egress", "egress-0", 1),
        sourcePodLabels: LABELS.client,
        destinationPodLabels: LABELS.web,
      }, "intra");
      for (const r of rs) {
        assert((r.flowEndSecondsFromSourceNode as number) > 0, "intra: end time");
        assertEquals(
          r.flowEndSecondsFromDestinationNode,
          r.flowEndSecondsFromSourceNode,
          "intra: one node's end time",
        );
        for (const k of [...PER_NODE_TOTALS, "packetDeltaCount", "octetDeltaCount"]) {
          assertEquals(r[`${k}FromDestinationNode`], r[`${k}FromSourceNode`], `intra: ${k}`);
          assertEquals(r[k], r[`${k}FromSourceNode`], `intra: common ${k}`);
        }
      }
      assertDeltasAddUp(rs, "intra");
      assertThroughput(rs, "intra");
      const last = rs.at(-1)!;
      assertEquals([last.flowEndReason, last.tcpState], [3, "TIME_WAIT"], "intra: the end");
      assertTcpOctets(last, tcpTraffic(INTRA), "intra");
    });

    await t.step("denied: the Drop of db-allow-web, exported without waiting for node-b", () => {
      const rs = of(tuples.denied);
      assertChainShape(rs, "denied");
      assertFields(rs, {
        flowType: 2,
        uncorrelated: 0,
        ...endpoint("source", PODS.clientA),
        ...endpoint("destination"),
        destinationClusterIP: "",
        ...policy("ingress", "db-allow-web", "", 2),
        ...policy("egress", "client-egress", "egress-0", 1),
        tcpState: "SYN_SENT",
        sourcePodLabels: LABELS.client,
        destinationPodLabels: "",
        reversePacketTotalCount: 0,
        reverseOctetTotalCount: 0,
      }, "denied");
      for (const r of rs) {
        const p = r.packetTotalCount as number, o = r.octetTotalCount as number;
        assert(
          p >= 1 && o >= 40 * p && o <= 80 * p,
          `denied: SYNs only: ${p} packets, ${o} octets`,
        );
        for (const k of PER_NODE_TOTALS) {
          assertEquals(r[`${k}FromDestinationNode`], r[`${k}FromSourceNode`], `denied: ${k}`);
        }
      }
      assertDeltasAddUp(rs, "denied");
    });
  },
);
