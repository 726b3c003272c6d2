import { assert, assertEquals } from "../../tests/_assert.ts";
import type { ConnEntry } from "../conntrack/mod.ts";
import { CollectingProcess, type DataRecord } from "../ipfix/mod.ts";
import { silentLogger } from "../log/mod.ts";
import { formatPrometheus } from "../metrics/mod.ts";
import { FlowExporterAgent } from "./agent.ts";
import type { ClusterKnowledge } from "./flow_record.ts";
import { entry } from "./_test_entries.ts";

const cluster: ClusterKnowledge = {
  podByIP: (ip) =>
    ({
      "10.10.0.5": { namespace: "shop", name: "web-0", nodeName: "node-a" },
      "fd00:10::5": { namespace: "shop", name: "web-0", nodeName: "node-a" },
    })[ip],
  serviceByClusterIP: () => undefined,
  isPodCIDR: (ip) => ip.startsWith("10.10.") || ip.startsWith("fd00:10:"),
};

Deno.test("agent: polls, exports IPv4 and IPv6 flow records over IPFIX, and counts", async () => {
  const received: { domain: number; templateId: number; record: DataRecord }[] = [];
  const collector = new CollectingProcess({
    address: "127.0.0.1:0:tcp",
    logger: silentLogger,
    onMessage: (m) => {
      for (const s of m.dataSets) {
        for (const r of s.records) {
          received.push({ domain: m.observationDomainId, templateId: s.templateId, record: r });
        }
      }
    },
  });
  await collector.listen();
  let now = 1_800_000_000_000;
  let entries: ConnEntry[] = [
    entry({ src: "10.10.0.5", dst: "93.184.216.34", dport: 443, packets: 5, bytes: 500 }),
    entry({ id: 2, src: "fd00:10::5", dst: "2001:db8::1", protocol: 17, dport: 53, packets: 1 }),
    entry({ id: 3, src: "192.168.0.1", dst: "192.168.0.2" }),
  ];
  let fail = false;
  const agent = new FlowExporterAgent({
    nodeName: "node-a",
    source: {
      poll: () => {
        if (fail) throw new Error("netlink busy");
        return entries;
      },
      maxConnections: () => 262144,
    },
    cluster,
    exporter: { address: `127.0.0.1:${collector.port}:tcp`, logger: silentLogger },
    clock: () => now,
    logger: silentLogger,
  });
  try {
    agent.start();
    await agent.pollOnce();
    now += 5_000;
    entries = entries.slice(0, 1); // the UDP flow ended
    await agent.pollOnce();
    fail = true;
    await agent.pollOnce();
    assertEquals(agent.stats.pollErrors, 1);
    await agent.exporter.flush(5_000);
    for (let i = 0; i < 100 && received.length < 1; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assertEquals(received.length, 1);
    const [ended] = received;
    assertEquals(ended!.domain, agent.observationDomainId);
    assertEquals(ended!.templateId, 257);
    assertEquals(ended!.record.sourceIPv6Address, "fd00:10::5");
    assertEquals(ended!.record.flowEndReason, 3);
    assertEquals(ended!.record.flowType, 3);
    assertEquals(ended!.record.sourcePodName, "web-0");
    const text = formatPrometheus(agent.metrics());
    for (
      const name of [
        "antrea_agent_conntrack_total_connection_count 1",
        "antrea_agent_conntrack_antrea_connection_count 1",
        "antrea_agent_denied_connection_count 0",
        "antrea_agent_conntrack_max_connection_count 262144",
        "antrea_agent_flow_collector_reconnection_count 0",
        "flowvis_agent_conntrack_max_connection_count 262144",
        "flowvis_agent_records_exported_total 1",
        "flowvis_agent_poll_errors_total 1",
      ]
    ) assert(text.includes(`\n${name}\n`), `${name} in\n${text}`);
  } finally {
    await agent.close();
    await collector.close();
  }
});

Deno.test("agent: with the collector down it keeps polling, bounds its buffer, then delivers", async () => {
  // A port that nothing listens on yet.
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  let now = 1_800_000_000_000;
  let n = 0;
  const agent = new FlowExporterAgent({
    nodeName: "node-a",
    source: {
      // Every poll: the previous connection ended, a new one began.
      poll: () => [entry({ id: ++n, src: "10.10.0.5", dst: "93.184.216.34", sport: 1000 + n })],
    },
    cluster,
    exporter: {
      address: `127.0.0.1:${port}:tcp`,
      logger: silentLogger,
      bufferLimit: 5,
      initialBackoffMs: 20,
      maxBackoffMs: 50,
    },
    clock: () => now,
    logger: silentLogger,
  });
  const received: DataRecord[] = [];
  let collector: CollectingProcess | undefined;
  try {
    agent.start();
    for (let i = 0; i < 10; i++) {
      now += 5_000;
      await agent.pollOnce();
    }
    // start() polled once too: n polls, n - 1 ended connections exported; the buffer kept the
    // newest 5.
    assertEquals(n, 11);
    assertEquals(agent.stats.recordsExported, 10);
    assertEquals(agent.exporter.stats.recordsDropped, 5);
    assertEquals(agent.exporter.stats.queued, 5);
    for (let i = 0; i < 100 && agent.exporter.stats.connectFailures < 1; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert(agent.exporter.stats.connectFailures >= 1, "it tried, and keeps trying");
    collector = new CollectingProcess({
      address: `127.0.0.1:${port}:tcp`,
      logger: silentLogger,
      onMessage: (m) => {
        for (const s of m.dataSets) received.push(...s.records);
      },
    });
    await collector.listen();
    await agent.exporter.flush(5_000);
    for (let i = 0; i < 100 && received.length < 5; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assertEquals(received.map((r) => r.sourceTransportPort), [1006, 1007, 1008, 1009, 1010]);
    const text = formatPrometheus(agent.metrics());
    assert(text.includes("\nflowvis_agent_export_errors_total 5\n"), text);
  } finally {
    await agent.close();
    await collector?.close();
  }
});

Deno.test("agent: a connection seen before its pod is known is exported once the cluster knows the pod", async () => {
  const pods = new Map<string, { namespace: string; name: string; nodeName: string }>();
  const knowledge = {
    generation: 0,
    podByIP: (ip: string) => pods.get(ip),
    serviceByClusterIP: () => undefined,
    isPodCIDR: (ip: string) => ip.startsWith("10.10."),
  };
  const collector = new CollectingProcess({
    address: "127.0.0.1:0:tcp",
    logger: silentLogger,
    onMessage: () => {},
  });
  await collector.listen();
  let now = 1_800_000_000_000;
  const agent = new FlowExporterAgent({
    nodeName: "node-a",
    source: { poll: () => [entry({ src: "10.10.0.7", dst: "93.184.216.34", packets: 1 })] },
    cluster: knowledge,
    exporter: { address: `127.0.0.1:${collector.port}:tcp`, logger: silentLogger },
    clock: () => now,
    logger: silentLogger,
  });
  try {
    // The pod opened the connection before the watch delivered its IP.
    await agent.pollOnce();
    assertEquals(agent.store.size, 0);
    pods.set("10.10.0.7", { namespace: "shop", name: "new-0", nodeName: "node-a" });
    knowledge.generation++;
    now += 5_000;
    await agent.pollOnce();
    assertEquals(agent.store.size, 1);
    assertEquals(agent.store.connections().next().value?.meta.sourcePod?.name, "new-0");
  } finally {
    await agent.close();
    await collector.close();
  }
});

Deno.test("agent: a remote pod learned later is attributed in the next exports", async () => {
  const pods = new Map<string, { namespace: string; name: string; nodeName: string }>([
    ["10.10.0.7", { namespace: "shop", name: "web-0", nodeName: "node-a" }],
  ]);
  const knowledge = {
    generation: 0,
    podByIP: (ip: string) => pods.get(ip),
    serviceByClusterIP: () => undefined,
    // No pod CIDRs: an unknown address looks external.
    isPodCIDR: () => false,
  };
  const collector = new CollectingProcess({
    address: "127.0.0.1:0:tcp",
    logger: silentLogger,
    onMessage: () => {},
  });
  await collector.listen();
  let now = 1_800_000_000_000;
  const agent = new FlowExporterAgent({
    nodeName: "node-a",
    source: { poll: () => [entry({ src: "10.10.0.7", dst: "10.20.0.9", packets: 1 })] },
    cluster: knowledge,
    exporter: { address: `127.0.0.1:${collector.port}:tcp`, logger: silentLogger },
    clock: () => now,
    logger: silentLogger,
  });
  try {
    await agent.pollOnce();
    const conn = () => agent.store.connections().next().value!;
    assertEquals([conn().meta.flowType, conn().meta.destinationPod?.name], [3, undefined]);
    // The watch delivers the remote pod.
    pods.set("10.20.0.9", { namespace: "shop", name: "db-0", nodeName: "node-b" });
    knowledge.generation++;
    now += 5_000;
    await agent.pollOnce();
    assertEquals([conn().meta.flowType, conn().meta.destinationPod?.name], [2, "db-0"]);
  } finally {
    await agent.close();
    await collector.close();
  }
});
