/**
 * The aggregator service end to end on loopback, no root: simulated agents export over mutual
 * TLS to the aggregator (its own CA), which correlates, aggregates and writes to its embedded
 * SQLite store; the API answers while it runs; `deno task aggregator` rejects bad configs.
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import { assert, assertEquals, assertStringIncludes } from "./_assert.ts";
import { run, tempDir } from "./_tools.ts";
import { issueClientCertificate, startAggregatorService } from "../src/aggregator/mod.ts";
import { parseAggregatorConfig } from "../src/config/mod.ts";
import { silentLogger } from "../src/log/mod.ts";
import { clusterInventory, simulatedCluster, Simulator } from "../src/sim/mod.ts";

const ROOT = new URL("..", import.meta.url).pathname;

Deno.test({
  name: "aggregator: simulated agents over mTLS → correlated rows in SQLite, API while running",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using dir = await tempDir("flowvis-agg-");
    const inventory = `${dir.path}/inventory.yaml`;
    await Deno.writeTextFile(
      inventory,
      clusterInventory(simulatedCluster({ nodes: 3, podsPerNode: 8, seed: 42 })),
    );
    const config = parseAggregatorConfig([
      "flowAggregatorAddress: localhost",
      'collectorAddress: "127.0.0.1:0"',
      "apiServer: { apiPort: 0, bindAddress: 127.0.0.1 }",
      `embeddedStore: { path: "${dir.path}/flows.db" }`,
      `tls: { dir: "${dir.path}/pki" }`,
      "recordContents: { podLabels: true }",
      `inventoryFile: "${inventory}"`,
    ].join("\n"));
    const svc = await startAggregatorService(config, { logger: silentLogger });
    let stopped = false;
    try {
      const client = await issueClientCertificate(svc.pki!, "agents");
      const sim = new Simulator({
        collector: `127.0.0.1:${svc.aggregator.port}:tls`,
        tls: { caCerts: [svc.pki!.caCert], cert: client.cert, key: client.key },
        nodes: 3,
        podsPerNode: 8,
        seed: 42,
        records: 6000,
        rate: 500,
        progressIntervalMs: 0,
        logger: silentLogger,
        agentLogger: silentLogger,
      });
      const summary = await sim.run();
      assertEquals(summary.recordsUnsent, 0);
      assertEquals(summary.recordsSent, 6000);

      // Every record arrived (TLS is lossless); the API shows them.
      const metrics = await (await fetch(`${svc.api.url}/recordmetrics`)).json();
      assertEquals(metrics.numRecordsReceived, 6000);
      assertEquals(metrics.withEmbeddedStore, true);
      assert(metrics.numFlows > 0);
      const cached = await (await fetch(`${svc.api.url}/flowrecords?proto=tcp`)).json();
      assert(
        cached.items.length > 0 &&
          cached.items.every((r: { protocolIdentifier: number }) => r.protocolIdentifier === 6),
      );
      const prom = await (await fetch(`${svc.api.url}/metrics`)).text();
      assertStringIncludes(prom, "flowvis_aggregator_records_received_total 6000");

      // Export what is due ten minutes from now, let the store write it, and read it back
      // through the API's stored flows.
      await svc.aggregator.tick(Date.now() + 600_000);
      await svc.aggregator.flush();
      const stored = await (await fetch(`${svc.api.url}/flows?limit=5&proto=tcp`)).json();
      assertEquals(stored.items.length, 5);
      assert(stored.items.every((r: { protocolIdentifier: number }) => r.protocolIdentifier === 6));

      await svc.stop();
      stopped = true;
      const m = svc.aggregator.recordMetrics();
      assertEquals(m.numRecordsDropped, 0);

      const db = new DatabaseSync(`${dir.path}/flows.db`, { readOnly: true });
      try {
        const count = db.prepare("SELECT count(*) AS n FROM flows").get() as { n: number };
        // Every aggregated record handed out is stored.
        assertEquals(count.n, m.numRecordsExported);
        const correlated = db.prepare(
          `SELECT * FROM flows WHERE flowType = 2 AND uncorrelated = 0
             AND sourcePodName <> '' AND destinationPodName <> ''
             AND packetTotalCountFromSourceNode > 0 AND packetTotalCountFromDestinationNode > 0`,
        ).all() as Record<string, string | number>[];
        assert(correlated.length > 100, `only ${correlated.length} correlated inter-node rows`);
        for (const r of correlated.slice(0, 200)) {
          assert(r.sourceNodeName !== r.destinationNodeName, "inter-node flows cross nodes");
          assert(Number(r.flowEndSecondsFromSourceNode) > 0);
          assert(Number(r.flowEndSecondsFromDestinationNode) > 0);
          assert(String(r.sourcePodLabels).startsWith("{"), "pod labels are JSON");
          assertEquals(r.octetDeltaCount, r.octetDeltaCountFromSourceNode);
        }
        // Service flows carry the ClusterIP and port name from the source node's half.
        const svcRows = db.prepare(
          "SELECT count(*) AS n FROM flows WHERE destinationServicePortName <> '' AND destinationClusterIP <> ''",
        ).get() as { n: number };
        assert(svcRows.n > 0);
        const intra = db.prepare("SELECT count(*) AS n FROM flows WHERE flowType = 1")
          .get() as { n: number };
        assert(intra.n > 0);
      } finally {
        db.close();
      }
    } finally {
      if (!stopped) await svc.stop();
    }
  },
});

Deno.test({
  name: "aggregator over udp: udpReceiveBuffer sizes the socket; simulated agents' records arrive",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using dir = await tempDir("flowvis-agg-udp-");
    const config = parseAggregatorConfig([
      "aggregatorTransportProtocol: udp",
      'collectorAddress: "127.0.0.1:0"',
      "apiServer: { apiPort: 0, bindAddress: 127.0.0.1 }",
      `embeddedStore: { path: "${dir.path}/flows.db" }`,
      "udpReceiveBuffer: 1Mi",
    ].join("\n"));
    const listening: Record<string, unknown>[] = [];
    const logger = {
      ...silentLogger,
      info: (msg: string, fields?: Record<string, unknown>) => {
        if (msg === "Listening" && fields) listening.push(fields);
      },
    };
    const svc = await startAggregatorService(config, { logger });
    try {
      const collector = listening.find((f) => String(f.address).endsWith(":udp"));
      assert(collector, JSON.stringify(listening));
      const rcvbuf = Number(collector.rcvbuf);
      // As root the kernel takes the size asked for (and doubles it); otherwise it caps it at
      // net.core.rmem_max.
      if (Deno.uid() === 0) assert(rcvbuf >= 1 << 20, `rcvbuf ${rcvbuf}`);
      else assert(rcvbuf > 0, `rcvbuf ${rcvbuf}`);
      const sim = new Simulator({
        collector: `127.0.0.1:${svc.aggregator.port}:udp`,
        nodes: 2,
        podsPerNode: 4,
        seed: 7,
        records: 500,
        rate: 500,
        progressIntervalMs: 0,
        logger: silentLogger,
        agentLogger: silentLogger,
      });
      const summary = await sim.run();
      assertEquals(summary.recordsSent, 500);
      const deadline = Date.now() + 10_000;
      while (svc.aggregator.recordMetrics().numRecordsReceived < 500 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
      }
      assertEquals(svc.aggregator.recordMetrics().numRecordsReceived, 500);
    } finally {
      await svc.stop();
    }
  },
});

Deno.test("aggregator task: a bad config key is refused at start, naming it", async () => {
  await using dir = await tempDir("flowvis-agg-");
  const conf = `${dir.path}/bad.conf`;
  await Deno.writeTextFile(conf, "clickHouse:\n  enable: true\n  databaseURL: tcp://ch:9000\n");
  const r = await run(Deno.execPath(), [
    "task",
    "--quiet",
    "aggregator",
    "--config",
    conf,
  ], { cwd: ROOT, allowFailure: true });
  assertEquals(r.code, 2);
  assertStringIncludes(r.stderr, "clickHouse.databaseURL");
  assertStringIncludes(r.stderr, "http://");
  await Deno.writeTextFile(conf, "activeFlowRecordTimout: 5s\n");
  const r2 = await run(Deno.execPath(), ["task", "--quiet", "aggregator", "--config", conf], {
    allowFailure: true,
    cwd: ROOT,
  });
  assertEquals(r2.code, 2);
  assertStringIncludes(r2.stderr, "activeFlowRecordTimout");
});
