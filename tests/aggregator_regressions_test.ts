/**
 * Regression tests of defects a review found in the aggregator: a short inter-node connection
 * whose halves start a second apart, a reused 5-tuple with unexported traffic, tcpState from a
 * record in the same second, and a service that fails to start leaving its store open.
 *
 * @module
 */

import { assertEquals } from "./_assert.ts";
import { tempDir } from "./_tools.ts";
import type { DataRecord } from "../src/ipfix/mod.ts";
import { AggregationProcess } from "../src/aggregator/aggregation.ts";
import { startAggregatorService } from "../src/aggregator/mod.ts";
import { parseAggregatorConfig } from "../src/config/mod.ts";
import { silentLogger } from "../src/log/mod.ts";

const S = 1_000;

/** A record of a TCP connection web-0 (node-a) → api-1 (node-b), as the source node sends it. */
function fromSource(over: DataRecord = {}): DataRecord {
  return {
    flowStartSeconds: 1700000000,
    flowEndSeconds: 1700000005,
    flowEndReason: 3,
    sourceIPv4Address: "10.244.1.5",
    destinationIPv4Address: "10.244.2.7",
    sourceTransportPort: 40001,
    destinationTransportPort: 8080,
    protocolIdentifier: 6,
    packetTotalCount: 10,
    octetTotalCount: 1_000,
    packetDeltaCount: 10,
    octetDeltaCount: 1_000,
    reversePacketTotalCount: 8,
    reverseOctetTotalCount: 800,
    reversePacketDeltaCount: 8,
    reverseOctetDeltaCount: 800,
    sourcePodName: "web-0",
    sourcePodNamespace: "shop",
    sourceNodeName: "node-a",
    destinationPodName: "",
    destinationPodNamespace: "",
    destinationNodeName: "",
    tcpState: "TIME_WAIT",
    flowType: 2,
    ...over,
  };
}

/** The same connection as the destination node sends it. */
function fromDestination(over: DataRecord = {}): DataRecord {
  return fromSource({
    sourcePodName: "",
    sourcePodNamespace: "",
    sourceNodeName: "",
    destinationPodName: "api-1",
    destinationPodNamespace: "shop",
    destinationNodeName: "node-b",
    ...over,
  });
}

function process(): AggregationProcess {
  return new AggregationProcess({
    activeTimeoutMs: 60 * S,
    inactiveTimeoutMs: 90 * S,
    correlationTimeoutMs: 120 * S,
    clock: () => {
      throw new Error("tests pass the time");
    },
  });
}

Deno.test({
  name:
    "review: the destination half of a finished connection, started a second later on its node, keeps the source node's counters",

  fn() {
    // A short connection: each node exports once, at its end (flowEndReason 3). The destination
    // node's conntrack entry was created in the next second (the SYN crossed a second boundary,
    // or the nodes' clocks differ by a few ms): its flowStartSeconds is one more.
    const agg = process();
    agg.add(fromSource(), 0);
    agg.add(fromDestination({ flowStartSeconds: 1700000001 }), 1 * S);
    const rows = agg.expire(200 * S);
    assertEquals(rows.length, 1);
    const r = rows[0]!;
    assertEquals(r.uncorrelated, 0);
    assertEquals(
      [r.packetTotalCountFromSourceNode, r.packetTotalCountFromDestinationNode],
      [10, 10],
      "the source node's counters were wiped as if the 5-tuple had been reused",
    );
    assertEquals(r.flowEndSecondsFromSourceNode, 1700000005);
    assertEquals(r.flowStartSeconds, 1700000000);
    assertEquals(r.flowEndReason, 3);
  },
});

Deno.test({
  name:
    "review: a reused 5-tuple does not swallow the deltas of the finished connection not yet exported",

  fn() {
    const agg = process();
    const intra = { flowType: 1, destinationPodName: "api-1" };
    // The old connection ends (10 packets) and, before any export, the 5-tuple is reused by a
    // new connection (5 packets).
    agg.add(fromSource({ ...intra }), 0);
    agg.add(
      fromSource({
        ...intra,
        flowStartSeconds: 1700000010,
        flowEndSeconds: 1700000012,
        flowEndReason: 2,
        tcpState: "ESTABLISHED",
        packetTotalCount: 5,
        octetTotalCount: 500,
        packetDeltaCount: 5,
        octetDeltaCount: 500,
      }),
      1 * S,
    );
    const rows = agg.drain();
    const packets = rows.reduce((n, r) => n + r.packetDeltaCount, 0);
    assertEquals(packets, 15, "packets of the finished connection were never exported");
  },
});

Deno.test({
  name:
    "review: tcpState comes from the latest record even when it ends in the same second as the one before",

  fn() {
    const agg = process();
    const intra = { flowType: 1, destinationPodName: "api-1" };
    // An active-timeout record, then the connection closes within the same second.
    agg.add(fromSource({ ...intra, flowEndReason: 2, tcpState: "ESTABLISHED" }), 0);
    agg.add(
      fromSource({
        ...intra,
        flowEndReason: 3,
        tcpState: "TIME_WAIT",
        packetTotalCount: 12,
        octetTotalCount: 1_200,
        packetDeltaCount: 2,
        octetDeltaCount: 200,
      }),
      0,
    );
    const [row] = agg.expire(60 * S);
    assertEquals(row?.flowEndReason, 3);
    assertEquals(row?.packetTotalCount, 12);
    assertEquals(row?.tcpState, "TIME_WAIT", "flowEndReason and tcpState disagree");
  },
});

Deno.test({
  name:
    "review: a service that cannot start closes the sinks it already opened (no leaked SQLite timers)",

  async fn() {
    await using dir = await tempDir("flowvis-review-");
    // The ClickHouse spool directory is a file: ClickHouseStore.open() rejects.
    const notADir = `${dir.path}/spool`;
    await Deno.writeTextFile(notADir, "");
    const config = parseAggregatorConfig([
      "aggregatorTransportProtocol: tcp",
      'collectorAddress: "127.0.0.1:0"',
      "apiServer: { apiPort: 0, bindAddress: 127.0.0.1 }",
      `embeddedStore: { enable: true, path: "${dir.path}/flows.db" }`,
      `clickHouse: { enable: true, databaseURL: "http://127.0.0.1:1", spoolDir: "${notADir}" }`,
    ].join("\n"));
    let error: unknown;
    try {
      await startAggregatorService(config, { logger: silentLogger });
    } catch (e) {
      error = e;
    }
    assertEquals(error !== undefined, true, "the service should not start");
    // The SQLite store it opened first must be closed again (its commit and retention
    // intervals run as long as it is open): SQLite removes the WAL and shared-memory files when
    // the last connection to a database closes.
    const left: string[] = [];
    for (const suffix of ["-wal", "-shm"]) {
      await Deno.stat(`${dir.path}/flows.db${suffix}`).then(
        () => left.push(`flows.db${suffix}`),
        () => {},
      );
    }
    assertEquals(left, [], "the SQLite store was left open");
  },
});
