/**
 * Tests of `deno task simulate` as the demo and the benchmarks run it: `tasks/simulate.ts` in a
 * subprocess with the task's permissions, exporting to a flowvis collecting process on loopback
 * (TCP, and mutual TLS with the test certificates). They check what the aggregator will rely on:
 * the exact record count, every flow type, Service and NetworkPolicy fields, both halves of
 * traffic between nodes, consistent counters, and the same records for the same seed.
 *
 * @module
 */

import { fnv1_32 } from "../src/exporter/mod.ts";
import {
  CollectingProcess,
  type DataRecord,
  recordToJson,
  type TlsServerOptions,
} from "../src/ipfix/mod.ts";
import { parseInventory } from "../src/k8s/mod.ts";
import { silentLogger } from "../src/log/mod.ts";
import type { SimulationSummary } from "../src/sim/mod.ts";
import { assert, assertEquals, assertMatch, assertStringIncludes } from "./_assert.ts";
import { testCerts, writeTestCerts } from "./_certs.ts";
import { Background, run, sleep, waitFor } from "./_tools.ts";

const ROOT = decodeURIComponent(new URL("..", import.meta.url).pathname);
const DENO = Deno.execPath();
/** The permissions of `deno task simulate`. */
const RUN = ["run", "--allow-net", "--allow-read", "--allow-env", "--unstable-net"];
const SIMULATE = `${ROOT}tasks/simulate.ts`;
const ENV = { FLOWVIS_LOG_LEVEL: "warn", NO_COLOR: "1" };
const TIMEOUT_MS = 120_000;
const NODES = ["node-1", "node-2", "node-3"];

interface Received {
  domain: number;
  templateId: number;
  record: DataRecord;
}

/** A collecting process on a free loopback port that keeps every data record. */
async function collector(tls?: TlsServerOptions) {
  const received: Received[] = [];
  const c = new CollectingProcess({
    address: `127.0.0.1:0:${tls ? "tls" : "tcp"}`,
    ...(tls ? { tls } : {}),
    logger: silentLogger,
    onMessage: (m) => {
      for (const s of m.dataSets) {
        for (const record of s.records) {
          received.push({ domain: m.observationDomainId, templateId: s.templateId, record });
        }
      }
    },
  });
  await c.listen();
  return { c, received, address: `127.0.0.1:${c.port}:${tls ? "tls" : "tcp"}` };
}

/** Runs the simulator to completion; returns its summary. */
async function simulate(args: string[]): Promise<SimulationSummary> {
  const r = await run(DENO, [...RUN, SIMULATE, ...args], {
    cwd: ROOT,
    env: ENV,
    timeoutMs: TIMEOUT_MS,
  });
  return JSON.parse(r.stdout) as SimulationSummary;
}

/** Waits until `n` records arrived, then a moment more to see that no more come. */
async function settle(received: Received[], n: number): Promise<void> {
  await waitFor(
    `${n} records (have ${received.length})`,
    () => received.length >= n ? true : undefined,
    30_000,
  );
  await sleep(300);
  assertEquals(received.length, n);
}

/** 5-tuple and start: one connection as records name it. */
function flowKey(r: DataRecord): string {
  return [
    r.sourceIPv4Address,
    r.sourceTransportPort,
    r.destinationIPv4Address,
    r.destinationTransportPort,
    r.protocolIdentifier,
    r.flowStartSeconds,
  ].join("|");
}

function count<T>(items: T[], key: (t: T) => unknown): Map<unknown, number> {
  const m = new Map<unknown, number>();
  for (const it of items) m.set(key(it), (m.get(key(it)) ?? 0) + 1);
  return m;
}

/**
 * Counters per connection and exporter: totals never go down and the deltas add up to them.
 * Returns how many connections were exported more than once, and the flowEndReasons seen.
 */
function checkCounters(received: Received[]): { multi: number; reasons: Set<unknown> } {
  const flows = new Map<string, DataRecord[]>();
  for (const r of received) {
    const k = `${r.domain}|${flowKey(r.record)}`;
    if (!flows.has(k)) flows.set(k, []);
    flows.get(k)!.push(r.record);
  }
  let multi = 0;
  for (const list of flows.values()) {
    if (list.length > 1) multi++;
    const sum = { p: 0, o: 0, rp: 0, ro: 0 };
    let prev: DataRecord | undefined;
    for (const r of list) {
      sum.p += Number(r.packetDeltaCount);
      sum.o += Number(r.octetDeltaCount);
      sum.rp += Number(r.reversePacketDeltaCount);
      sum.ro += Number(r.reverseOctetDeltaCount);
      assertEquals(
        [sum.p, sum.o, sum.rp, sum.ro],
        [
          r.packetTotalCount,
          r.octetTotalCount,
          r.reversePacketTotalCount,
          r.reverseOctetTotalCount,
        ].map(Number),
        JSON.stringify(list),
      );
      if (prev) {
        assert(Number(r.flowEndSeconds) >= Number(prev.flowEndSeconds));
        assert(Number(r.packetTotalCount) >= Number(prev.packetTotalCount));
      }
      // Packets of at most an MTU.
      assert(Number(r.octetTotalCount) <= Number(r.packetTotalCount) * 1500);
      prev = r;
    }
  }
  return { multi, reasons: new Set(received.map((r) => r.record.flowEndReason)) };
}

Deno.test("simulate: --records 5000 over 3 nodes sends exactly 5000 realistic records", async () => {
  const { c, received, address } = await collector();
  try {
    const summary = await simulate([
      "--collector",
      address,
      "--records",
      "5000",
      "--nodes",
      "3",
      "--seed",
      "42",
    ]);
    await settle(received, 5000);
    assertEquals(summary.recordsRequested, 5000);
    assertEquals(summary.recordsSent, 5000);
    assertEquals(summary.recordsUnsent, 0);
    assertEquals(summary.seed, 42);
    assertEquals(summary.cluster.nodes, 3);
    assert(summary.recordsPerSecond > 0 && summary.connections.total > 0);

    // One observation domain per node: the FNV-1 hash of its name, as Antrea derives it.
    const byDomain = count(received, (r) => r.domain);
    assertEquals(Object.keys(summary.nodes).sort(), NODES);
    for (const node of NODES) {
      const n = summary.nodes[node]!;
      assertEquals(n.observationDomainId, fnv1_32(node));
      assertEquals(byDomain.get(fnv1_32(node)), n.recordsSent);
    }
    assertEquals(new Set(received.map((r) => r.templateId)), new Set([256]));
    const records = received.map((r) => r.record);

    // Every flow type.
    const types = count(records, (r) => r.flowType);
    for (const t of [1, 2, 3, 4]) assert((types.get(t) ?? 0) > 0, `flowType ${t}: ${[...types]}`);
    for (const r of records.filter((r) => r.flowType === 4)) {
      assertMatch(String(r.sourceIPv4Address), /^(203\.0\.113|198\.51\.100)\./);
      assertEquals(r.sourcePodName, "");
      assert(r.destinationPodName !== "");
    }
    for (const r of records.filter((r) => r.flowType === 3)) {
      assert(r.sourcePodName !== "" && r.destinationPodName === "");
    }

    // Service traffic: the ClusterIP dialled and the Service port's name.
    const service = records.filter((r) => r.destinationServicePortName !== "");
    assert(service.length > 0);
    for (const r of service) {
      assert(r.destinationClusterIPv4 !== "0.0.0.0", JSON.stringify(r));
      assertMatch(String(r.destinationClusterIPv4), /^10\.96\./);
      assertMatch(String(r.destinationServicePortName), /^[a-z-]+\/[a-z-]+:[a-z-]+$/);
      assert(Number(r.destinationServicePort) > 0);
    }
    const dns = service.filter((r) => r.destinationServicePortName === "kube-system/kube-dns:dns");
    assert(dns.length > 0);
    for (const r of dns) {
      assertEquals([r.destinationClusterIPv4, r.destinationServicePort, r.protocolIdentifier], [
        "10.96.0.10",
        53,
        17,
      ]);
      assertEquals(r.destinationTransportPort, 53);
    }

    // Denied: unreplied attempts, with the policy that drops them.
    const deniedIn = records.filter((r) => r.ingressNetworkPolicyRuleAction === 2);
    const deniedOut = records.filter((r) => r.egressNetworkPolicyRuleAction === 2);
    assert(deniedIn.length > 0, "ingress drops");
    assert(deniedOut.length > 0, "egress drops");
    for (const r of deniedIn) {
      assertEquals(
        [r.ingressNetworkPolicyName, r.ingressNetworkPolicyNamespace, r.ingressNetworkPolicyType],
        ["default-deny-ingress", "db", 1],
      );
      assertEquals(r.sourcePodNamespace, "frontend");
    }
    for (const r of deniedOut) {
      assertEquals([r.egressNetworkPolicyName, r.flowType], ["default-deny-egress", 3]);
      assertEquals(r.sourcePodNamespace, "db");
    }
    for (const r of [...deniedIn, ...deniedOut]) {
      assertEquals([r.tcpState, r.reversePacketTotalCount, r.reverseOctetTotalCount], [
        "SYN_SENT",
        0,
        0,
      ]);
      assert(Number(r.packetTotalCount) >= 1);
    }
    // Allowed traffic names the rule that allows it.
    assert(
      records.some((r) =>
        r.ingressNetworkPolicyRuleAction === 1 && r.ingressNetworkPolicyRuleName !== ""
      ),
    );

    // Inter-node connections come from both nodes: the source node fills the source fields,
    // the destination node the destination fields (what the aggregator correlates).
    const halves = new Map<string, Received[]>();
    for (const r of received) {
      if (r.record.flowType !== 2) continue;
      const k = flowKey(r.record);
      if (!halves.has(k)) halves.set(k, []);
      halves.get(k)!.push(r);
    }
    let pairs = 0;
    let servicePairs = 0;
    for (const list of halves.values()) {
      const domains = new Set(list.map((r) => r.domain));
      if (domains.size < 2) continue;
      assertEquals(domains.size, 2);
      pairs++;
      const src = list.filter((r) => r.record.sourcePodName !== "");
      const dst = list.filter((r) => r.record.destinationPodName !== "");
      assert(src.length > 0 && dst.length > 0);
      for (const r of src) {
        assertEquals(r.record.destinationPodName, "");
        assertEquals(r.domain, fnv1_32(String(r.record.sourceNodeName)));
      }
      for (const r of dst) {
        assertEquals(r.record.sourcePodName, "");
        assertEquals(r.domain, fnv1_32(String(r.record.destinationNodeName)));
        assert(r.domain !== src[0]!.domain);
        // kube-proxy's DNAT happened on the source node: only it knows the Service.
        assertEquals(r.record.destinationClusterIPv4, "0.0.0.0");
      }
      if (src.some((r) => r.record.destinationServicePortName !== "")) servicePairs++;
    }
    assert(pairs > 50, `${pairs} inter-node connections seen from both nodes`);
    assert(servicePairs > 0);

    checkCounters(received);
  } finally {
    await c.close();
  }
});

Deno.test("simulate: counters stay consistent over many exports of each connection", async () => {
  // Short agent timeouts, so that 5000 records hold several exports of many connections.
  const { c, received, address } = await collector();
  try {
    const args = ["--records", "5000", "--seed", "5", "--poll-interval", "1s"];
    await simulate([
      "--collector",
      address,
      ...args,
      "--active-timeout",
      "4s",
      "--idle-timeout",
      "2s",
    ]);
    await settle(received, 5000);
    const { multi, reasons } = checkCounters(received);
    assert(multi > 100, `${multi} connections exported more than once`);
    for (const reason of [1, 2, 3]) assert(reasons.has(reason), `flowEndReason ${reason}`);
  } finally {
    await c.close();
  }
});

Deno.test("simulate: the same seed sends the same records, timestamps aside", async () => {
  const runs: string[][] = [];
  for (let i = 0; i < 2; i++) {
    const { c, received, address } = await collector();
    try {
      const summary = await simulate(["--collector", address, "--records", "3000", "--seed", "7"]);
      await settle(received, 3000);
      assertEquals(summary.recordsSent, 3000);
      runs.push(
        received.map(({ domain, record }) => {
          const { flowStartSeconds: _s, flowEndSeconds: _e, ...rest } = record;
          return JSON.stringify([domain, recordToJson(rest)]);
        }).sort(),
      );
    } finally {
      await c.close();
    }
  }
  assertEquals(runs[0]!.length, 3000);
  assertEquals(runs[0], runs[1]);
});

Deno.test("simulate: exports over mutual TLS with --ca, --cert and --key", async () => {
  const certs = await testCerts();
  const files = await writeTestCerts();
  const { c, received, address } = await collector({ ...certs.server, ca: certs.ca });
  try {
    assert(address.endsWith(":tls"));
    const summary = await simulate([
      "--collector",
      address,
      "--records",
      "6000",
      "--nodes",
      "2",
      "--seed",
      "3",
      "--ca",
      files.path("ca.pem"),
      "--cert",
      files.path("client.pem"),
      "--key",
      files.path("client-key.pem"),
    ]);
    await settle(received, 6000);
    assertEquals(summary.recordsSent, 6000);
    assertEquals(
      new Set(received.map((r) => r.domain)),
      new Set([fnv1_32("node-1"), fnv1_32("node-2")]),
    );
    assertEquals(c.stats.tlsErrors, 0);
  } finally {
    await c.close();
    await Deno.remove(files.dir, { recursive: true });
  }
});

Deno.test("simulate: in real time it runs until SIGINT, then flushes and prints a summary", async () => {
  const { c, received, address } = await collector();
  const sim = Background.start(DENO, [
    ...RUN,
    SIMULATE,
    "--collector",
    address,
    "--rate",
    "300",
    "--poll-interval",
    "1s",
  ], { cwd: ROOT, env: { ...ENV, FLOWVIS_LOG_LEVEL: "info" } });
  try {
    await waitFor("records in real time", () => received.length >= 200 ? true : undefined, 60_000);
    const { status, stdout } = await sim.stop("SIGINT", 20_000);
    assertEquals(status.code, 0);
    const summary = JSON.parse(stdout) as SimulationSummary;
    assertEquals(summary.recordsRequested, null);
    await settle(received, summary.recordsSent);
    // Real time: records carry the time they were exported.
    const now = Date.now() / 1000;
    for (const r of received) assert(Math.abs(Number(r.record.flowEndSeconds) - now) < 120);
  } finally {
    await sim.stop("SIGKILL");
    await c.close();
  }
});

Deno.test("simulate: --help, --inventory and bad flags", async () => {
  const help = await run(DENO, [...RUN, SIMULATE, "--help"], { cwd: ROOT, env: ENV });
  assertStringIncludes(help.stdout, "--collector HOST:PORT:PROTO");
  assertStringIncludes(help.stdout, "--records N");

  const inv = await run(DENO, [...RUN, SIMULATE, "--inventory", "--nodes", "2", "--seed", "1"], {
    cwd: ROOT,
    env: ENV,
  });
  const inventory = parseInventory(inv.stdout);
  assertEquals(inventory.warnings, []);
  assertEquals(inventory.objects.filter((o) => o.kind === "Node").length, 2);
  assertEquals(inventory.objects.filter((o) => o.kind === "Pod").length, 20);

  for (
    const [args, message] of [
      [["--records", "10"], "--collector is required"],
      [["--collector", "127.0.0.1:1:tcp", "--nodes", "0"], 'Invalid --nodes "0"'],
      [["--collector", "127.0.0.1:1:tcp", "--rate", "fast"], 'Invalid --rate "fast"'],
      [["--collector", "127.0.0.1:1:tcp", "--records", "0"], 'Invalid --records "0"'],
      [["--collector", "127.0.0.1:1:tcp", "--duration", "10"], "missing unit"],
      [["--collector", "127.0.0.1:1:tcp", "--poll-interval", "500ms"], "at least 1s"],
      [["--collector", "127.0.0.1:1:sctp"], 'protocol "sctp"'],
      [["--collector", "127.0.0.1:1:udp", "--ca", "ca.pem"], "are for a tls collector"],
      [["--collector", "127.0.0.1:1", "--cert", "c.pem"], "--cert and --key go together"],
      [["--collector", "127.0.0.1:1", "--frobnicate"], "Unknown option '--frobnicate'"],
    ] as const
  ) {
    const r = await run(DENO, [...RUN, SIMULATE, ...args], {
      cwd: ROOT,
      env: ENV,
      allowFailure: true,
    });
    assertEquals(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assertStringIncludes(r.stderr, message);
  }
});
