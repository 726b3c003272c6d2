/**
 * The aggregator's external flow collector sinks against real peers on loopback: flowvis's
 * CollectingProcess (IPFIX over TCP and UDP), tshark (an independent IPFIX decoder, for the
 * aggregator's Antrea elements 120–158), and plain TCP/UDP listeners (JSON lines). Also: the
 * collector down at start, a full queue, close twice, and the factory's checks.
 *
 * @module
 */

import {
  AGGREGATED_IPV4_TEMPLATE_ID,
  AGGREGATED_IPV6_TEMPLATE_ID,
  createCollectorSink,
  deriveObservationDomainId,
  IpfixCollectorSink,
  JsonCollectorSink,
  rowToJson,
  rowToRecord,
} from "../src/aggregator/external/mod.ts";
import {
  CollectingProcess,
  type DataRecord,
  type DecodedMessage,
  decodeMessage,
  defaultRegistry,
  TemplateCache,
  type Value,
} from "../src/ipfix/mod.ts";
import { silentLogger } from "../src/log/mod.ts";
import { emptyFlowRow, type FlowRow, type SinkStats } from "../src/store/mod.ts";
import { assert, assertEquals, assertThrows } from "./_assert.ts";
import { parseIPv4, parseIPv6, pcapOfDatagrams } from "./_pcap.ts";
import {
  assertTemplatesMatch,
  compareRecord,
  ipfixMessages,
  parsePdml,
  type TsharkMessage,
} from "./_tshark.ts";
import {
  DatagramSink,
  freeTcpPort,
  interopTest,
  needsTool,
  run,
  tempDir,
  tool,
  waitFor,
} from "./_tools.ts";

const NOW_S = 1_790_000_000;

/** Aggregated rows: an inter-node IPv4 flow with every column set, an IPv6 one, an empty one. */
function rows(): FlowRow[] {
  const interNode: FlowRow = {
    ...emptyFlowRow(),
    flowStartSeconds: NOW_S - 120,
    flowEndSeconds: NOW_S,
    flowEndSecondsFromSourceNode: NOW_S - 1,
    flowEndSecondsFromDestinationNode: NOW_S - 2,
    flowEndReason: 2,
    sourceIP: "10.244.1.17",
    destinationIP: "10.244.2.33",
    sourceTransportPort: 41_234,
    destinationTransportPort: 8443,
    protocolIdentifier: 6,
    packetTotalCount: 1_000_001,
    octetTotalCount: 2 ** 40 + 5,
    packetDeltaCount: 17,
    octetDeltaCount: 25_000,
    reversePacketTotalCount: 900_000,
    reverseOctetTotalCount: 2 ** 33,
    reversePacketDeltaCount: 12,
    reverseOctetDeltaCount: 1_400,
    sourcePodName: "frontend-7d4f8b9c6-x2x9z",
    sourcePodNamespace: "shop",
    sourceNodeName: "node-a",
    destinationPodName: "backend-0",
    destinationPodNamespace: "shop",
    destinationNodeName: "node-b",
    destinationClusterIP: "10.96.12.200",
    destinationServicePort: 443,
    destinationServicePortName: "shop/backend:https",
    ingressNetworkPolicyName: "allow-frontend",
    ingressNetworkPolicyNamespace: "shop",
    ingressNetworkPolicyRuleName: "rule-0",
    ingressNetworkPolicyRuleAction: 1,
    ingressNetworkPolicyType: 1,
    egressNetworkPolicyName: "audit",
    egressNetworkPolicyNamespace: "",
    egressNetworkPolicyRuleName: "log-all",
    egressNetworkPolicyRuleAction: 1,
    egressNetworkPolicyType: 3,
    tcpState: "ESTABLISHED",
    flowType: 2,
    sourcePodLabels: '{"app":"frontend","tier":"web"}',
    destinationPodLabels: '{"app":"backend"}',
    throughput: 3_333_333,
    reverseThroughput: 186_666,
    throughputFromSourceNode: 3_300_000,
    throughputFromDestinationNode: 3_200_000,
    reverseThroughputFromSourceNode: 180_000,
    reverseThroughputFromDestinationNode: 170_000,
    clusterUUID: "2b9c1f3e-6b5a-4e0f-9a53-0e6f1b3c2d10",
    egressName: "egress-prod",
    egressIP: "192.0.2.50",
    packetTotalCountFromSourceNode: 1_000_001,
    octetTotalCountFromSourceNode: 2 ** 40 + 5,
    packetDeltaCountFromSourceNode: 17,
    octetDeltaCountFromSourceNode: 25_000,
    reversePacketTotalCountFromSourceNode: 900_000,
    reverseOctetTotalCountFromSourceNode: 2 ** 33,
    reversePacketDeltaCountFromSourceNode: 12,
    reverseOctetDeltaCountFromSourceNode: 1_400,
    packetTotalCountFromDestinationNode: 999_990,
    octetTotalCountFromDestinationNode: 2 ** 40 - 77,
    packetDeltaCountFromDestinationNode: 16,
    octetDeltaCountFromDestinationNode: 24_000,
    reversePacketTotalCountFromDestinationNode: 899_999,
    reverseOctetTotalCountFromDestinationNode: 2 ** 33 - 1,
    reversePacketDeltaCountFromDestinationNode: 11,
    reverseOctetDeltaCountFromDestinationNode: 1_300,
    uncorrelated: 0,
  };
  const v6: FlowRow = {
    ...interNode,
    sourceIP: "fd00:10:244:1::11",
    destinationIP: "2001:db8::8a2e:370:7334",
    destinationClusterIP: "",
    destinationServicePort: 0,
    destinationServicePortName: "",
    flowType: 3,
    sourcePodLabels: '{"app":"résumé-парсер"}',
    destinationPodLabels: "",
    egressName: "",
    egressIP: "",
    uncorrelated: 1,
  };
  const bare: FlowRow = {
    ...emptyFlowRow(),
    flowStartSeconds: NOW_S - 5,
    flowEndSeconds: NOW_S,
    sourceIP: "192.0.2.1",
    destinationIP: "198.51.100.2",
    protocolIdentifier: 17,
  };
  return [interNode, v6, bare];
}

/** A real IPFIX collecting process on loopback that keeps every decoded message. */
async function startCollector(
  protocol: "tcp" | "udp",
  port = 0,
): Promise<
  { collector: CollectingProcess; messages: DecodedMessage[]; records: () => DataRecord[] }
> {
  const messages: DecodedMessage[] = [];
  const collector = new CollectingProcess({
    address: `127.0.0.1:${port}:${protocol}`,
    onMessage: (m) => messages.push(m),
    logger: silentLogger,
  });
  await collector.listen();
  return {
    collector,
    messages,
    records: () => messages.flatMap((m) => m.dataSets.flatMap((s) => s.records)),
  };
}

const QUICK = { initialBackoffMs: 20, maxBackoffMs: 100, logger: silentLogger } as const;

/** The values a decoded record must have: each row column under its element. */
function expectedRecord(row: FlowRow): DataRecord {
  const v6 = row.sourceIP.includes(":");
  const ip = v6 ? "IPv6" : "IPv4";
  const any = v6 ? "::" : "0.0.0.0";
  const out: DataRecord = {};
  for (const [k, v] of Object.entries(row)) {
    if (k === "uncorrelated") continue;
    if (k === "sourceIP") out[`source${ip}Address`] = v || any;
    else if (k === "destinationIP") out[`destination${ip}Address`] = v || any;
    else if (k === "destinationClusterIP") out[`destinationCluster${ip}`] = v || any;
    else if (k === "clusterUUID") out.clusterId = v;
    else out[k] = v;
  }
  return out;
}

function sortedKeys<T extends Record<string, unknown>>(r: T): T {
  return Object.fromEntries(Object.entries(r).sort(([a], [b]) => a.localeCompare(b))) as T;
}

for (const protocol of ["tcp", "udp"] as const) {
  Deno.test(`IPFIX sink over ${protocol}: a CollectingProcess decodes every row's values`, async () => {
    const { collector, messages, records } = await startCollector(protocol);
    const sink = new IpfixCollectorSink({
      address: `127.0.0.1:${collector.port}:${protocol}`,
      observationDomainId: 0xfa11,
      ...QUICK,
    });
    try {
      const input = rows();
      sink.write(input);
      await sink.flush();
      await waitFor("3 records", () => records().length >= 3 ? true : undefined);
      assertEquals(records().map(sortedKeys), input.map(expectedRecord).map(sortedKeys));
      assertEquals(records(), input.map(rowToRecord), "fields in template order");
      assertEquals(
        messages.flatMap((m) => m.dataSets.flatMap((s) => s.records.map(() => s.templateId))),
        [AGGREGATED_IPV4_TEMPLATE_ID, AGGREGATED_IPV6_TEMPLATE_ID, AGGREGATED_IPV4_TEMPLATE_ID],
        "template of each record",
      );
      for (const m of messages) assertEquals(m.observationDomainId, 0xfa11);
      assertStats(sink.stats(), { queued: 0, written: 3, dropped: 0, failures: 0 });
    } finally {
      await sink.close();
      await collector.close();
    }
  });
}

function assertStats(
  got: SinkStats,
  want: Partial<SinkStats>,
  msg = "sink stats",
): void {
  const picked = Object.fromEntries(Object.keys(want).map((k) => [k, got[k as keyof SinkStats]]));
  assertEquals(picked, want, msg);
  assertEquals([got.spooledRows, got.spoolBytes], [0, 0], "no spool");
}

Deno.test("IPFIX sink over udp sizes its messages to the MTU", async () => {
  await using udp = new DatagramSink();
  const sink = createCollectorSink({
    address: `127.0.0.1:${udp.port}:udp`,
    observationDomainId: 3,
    mtu: 1000,
    ...QUICK,
  });
  const input = [...rows(), ...rows(), ...rows()];
  try {
    sink.write(input);
    await sink.flush();
  } finally {
    await sink.close();
  }
  assertStats(sink.stats(), { written: input.length, dropped: 0 });
  await waitFor("every record", () => {
    const cache = new TemplateCache();
    const n = udp.datagrams.map((d) => decodeMessage(d.payload, cache, { session: 1 }))
      .reduce((sum, m) => sum + m.recordCount, 0);
    return n >= input.length ? true : undefined;
  });
  assert(udp.datagrams.length > 3, `several datagrams (${udp.datagrams.length})`);
  for (const d of udp.datagrams) {
    assert(d.payload.length <= 1000 - 48, `${d.payload.length} octets`);
  }
});

Deno.test("IPFIX sink: the observation domain ID is derived from the seed when not configured", async () => {
  const { collector, messages } = await startCollector("tcp");
  const seed = "2b9c1f3e-6b5a-4e0f-9a53-0e6f1b3c2d10";
  const sink = createCollectorSink({
    address: `127.0.0.1:${collector.port}`,
    recordFormat: "IPFIX",
    observationDomainSeed: seed,
    ...QUICK,
  });
  try {
    assertEquals(sink.name, "ipfix");
    sink.write(rows().slice(0, 1));
    await sink.flush();
    await waitFor("a message", () => messages.length > 0 ? true : undefined);
    assertEquals(messages[0]!.observationDomainId, deriveObservationDomainId(seed));
  } finally {
    await sink.close();
    await collector.close();
  }
});

// tshark ---------------------------------------------------------------------------------------

const utf8 = new TextEncoder();

/** The octets an Antrea field must carry, computed without the flowvis codec. */
function antreaOctets(name: string, v: Value): Uint8Array {
  const e = defaultRegistry.byName(name);
  if (!e) throw new TypeError(`Unknown element ${name}`);
  const be = (n: number, len: number) => {
    const out = new Uint8Array(len);
    let x = BigInt(n);
    for (let i = len - 1; i >= 0; i--) {
      out[i] = Number(x & 0xffn);
      x >>= 8n;
    }
    return out;
  };
  switch (e.type) {
    case "string":
      return utf8.encode(String(v));
    case "ipv4Address":
      return parseIPv4(String(v));
    case "ipv6Address":
      return parseIPv6(String(v));
    case "unsigned8":
      return be(Number(v), 1);
    case "unsigned16":
      return be(Number(v), 2);
    case "dateTimeSeconds":
      return be(Number(v), 4);
    case "unsigned64":
      return be(Number(v), 8);
    default:
      throw new TypeError(`No independent encoding for ${name} (${e.type})`);
  }
}

/**
 * The aggregator's templates have 66 fields, above tshark's default limit of 60
 * (`cflow.max_template_fields`, beyond which it ignores a template): raise it, then compare
 * tshark's reading with flowvis's message by message, record by record, field by field.
 */
async function tsharkAgrees(
  pcap: string,
  datagrams: { payload: Uint8Array; srcPort: number }[],
  port: number,
): Promise<{ compared: number; theirs: TsharkMessage[] }> {
  const { stdout } = await run(tool("tshark"), [
    "-n",
    "-r",
    pcap,
    "-o",
    "cflow.max_template_fields:200",
    "-d",
    `udp.port==${port},cflow`,
    "-T",
    "pdml",
  ], { timeoutMs: 60_000 });
  const theirs = ipfixMessages(parsePdml(stdout));
  const cache = new TemplateCache();
  const ours = datagrams.map((d) => decodeMessage(d.payload, cache, { session: d.srcPort }));
  assertEquals(theirs.length, ours.length, "messages tshark decoded");
  let compared = 0;
  ours.forEach((m, i) => {
    const t = theirs[i]!;
    assertEquals(t.problems, [], `tshark's expert info on frame ${t.frame}`);
    assertEquals(
      [t.observationDomainId, t.sequenceNumber, t.length],
      [m.observationDomainId, m.sequenceNumber, datagrams[i]!.payload.length],
      `header of message ${i}`,
    );
    assertTemplatesMatch(t, m.templates);
    const records = m.dataSets.flatMap((s) => s.records.map((r) => ({ s, r })));
    assertEquals(t.flows.length, records.length, `records of message ${i}`);
    records.forEach(({ s, r }, j) => {
      const res = compareRecord(r, s.template.template, t.flows[j]!, antreaOctets);
      assertEquals(res.mismatches, [], `record ${j} of message ${i}`);
      compared += res.compared;
    });
  });
  return { compared, theirs };
}

function hex(u8: Uint8Array): string {
  return Array.from(u8, (b) => b.toString(16).padStart(2, "0")).join("");
}

interopTest(
  "tshark decodes the aggregator's records: Antrea elements 120–158 carry the rows' values",
  [needsTool("tshark")],
  async () => {
    await using dir = await tempDir("flowvis-external-tshark-");
    await using udp = new DatagramSink();
    const sink = new IpfixCollectorSink({
      address: `127.0.0.1:${udp.port}:udp`,
      observationDomainId: 0xa66,
      ...QUICK,
    });
    const input = rows();
    try {
      sink.write(input);
      await sink.flush();
    } finally {
      await sink.close();
    }
    assertStats(sink.stats(), { written: input.length, dropped: 0 });
    await udp.waitFor(1);
    const pcap = `${dir.path}/aggregator.pcap`;
    await Deno.writeFile(
      pcap,
      pcapOfDatagrams(udp.datagrams.map((d, i) => ({
        timeUs: NOW_S * 1_000_000 + i * 1000,
        src: "127.0.0.1",
        dst: "127.0.0.1",
        srcPort: d.srcPort,
        dstPort: udp.port,
        payload: d.payload,
      }))),
    );
    // Every field of every record, as tshark reads it, against flowvis's decoding.
    const { compared, theirs } = await tsharkAgrees(pcap, udp.datagrams, udp.port);
    assert(compared > 150, `fields compared with tshark: ${compared}`);
    // And the aggregator's own elements (120–158) straight from tshark, against the rows.
    const flows = theirs.flatMap((m) => m.flows);
    assertEquals(flows.length, input.length, "records tshark decoded");
    flows.forEach((flow, i) => {
      const got = new Map<number, string>();
      for (const n of flow.fields) {
        const m = /Type (\d+):/.exec(n.showname);
        if (
          n.name === "cflow.enterprise_private_entry" && m &&
          n.showname.includes("(Project Antrea)")
        ) {
          got.set(Number(m[1]), n.value);
        }
      }
      const want = new Map<number, string>();
      const record = expectedRecord(input[i]!);
      for (const [name, v] of Object.entries(record)) {
        const e = defaultRegistry.byName(name)!;
        if (e.enterpriseId !== 56506 || e.id < 120) continue;
        const octets = antreaOctets(name, v);
        if (octets.length > 0) want.set(e.id, hex(octets)); // tshark hides empty strings
      }
      assertEquals(
        [...got].filter(([id]) => id >= 120).sort(([a], [b]) => a - b),
        [...want].sort(([a], [b]) => a - b),
        `Antrea 120–158 of record ${i} as tshark shows them`,
      );
    });
  },
);

// JSON -----------------------------------------------------------------------------------------

/** A TCP listener that collects the lines every connection sends. */
class LineListener implements AsyncDisposable {
  readonly lines: string[] = [];
  readonly #listener: Deno.Listener;
  readonly #conns = new Set<Deno.Conn>();
  readonly #tasks: Promise<void>[] = [];
  readonly #loop: Promise<void>;

  constructor(port = 0) {
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port, transport: "tcp" });
    this.#loop = this.#accept();
  }

  get port(): number {
    return (this.#listener.addr as Deno.NetAddr).port;
  }

  async #accept(): Promise<void> {
    try {
      for await (const conn of this.#listener) {
        this.#conns.add(conn);
        this.#tasks.push(this.#read(conn));
      }
    } catch {
      // Closed.
    }
  }

  async #read(conn: Deno.Conn): Promise<void> {
    const dec = new TextDecoder();
    let buf = "";
    try {
      for await (const chunk of conn.readable) {
        buf += dec.decode(chunk, { stream: true });
        let nl;
        while ((nl = buf.indexOf("\n")) >= 0) {
          this.lines.push(buf.slice(0, nl));
          buf = buf.slice(nl + 1);
        }
      }
    } catch {
      // Reset or closed.
    }
    this.#conns.delete(conn);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#listener.close();
    for (const c of this.#conns) {
      try {
        c.close();
      } catch { /* already closed */ }
    }
    await this.#loop;
    await Promise.allSettled(this.#tasks);
  }
}

/** The JSON object a row must arrive as: its record's values under element names, plus uncorrelated. */
function expectedJson(row: FlowRow): Record<string, unknown> {
  return { ...expectedRecord(row), uncorrelated: row.uncorrelated };
}

Deno.test("JSON sink over tcp: one parseable object per line with the rows' values", async () => {
  await using listener = new LineListener();
  const sink = new JsonCollectorSink({ address: `127.0.0.1:${listener.port}`, ...QUICK });
  try {
    const input = rows();
    sink.write(input);
    await sink.flush();
    await waitFor("3 lines", () => listener.lines.length >= 3 ? true : undefined);
    const objects = listener.lines.map((l) => JSON.parse(l));
    assertEquals(objects.map(sortedKeys), input.map(expectedJson).map(sortedKeys));
    assertEquals(objects, input.map(rowToJson), "keys in template order");
    assertEquals(typeof objects[0].octetTotalCount, "number", "numbers as JSON numbers");
    assertEquals(objects[0].octetTotalCount, 2 ** 40 + 5);
    assertEquals(objects[1].uncorrelated, 1);
    assertStats(sink.stats(), { queued: 0, written: 3, dropped: 0, failures: 0 });
  } finally {
    await sink.close();
  }
});

Deno.test("JSON sink over udp: one object per datagram, a large one split into parts", async () => {
  await using udp = new DatagramSink();
  const sink = createCollectorSink({
    address: `127.0.0.1:${udp.port}:udp`,
    recordFormat: "JSON",
    maxDatagramSize: 4000,
    ...QUICK,
  });
  try {
    assertEquals(sink.name, "json");
    const input = rows();
    const big = { ...input[0]!, sourcePodLabels: JSON.stringify({ note: "x".repeat(3000) }) };
    sink.write([...input, big]);
    await sink.flush();
    await waitFor("datagrams", () => udp.datagrams.length >= 5 ? true : undefined);
    const objects = udp.datagrams.map((d) => JSON.parse(new TextDecoder().decode(d.payload)));
    for (const d of udp.datagrams) assert(d.payload.length <= 4000, "datagram within the limit");
    assertEquals(objects.slice(0, 3).map(sortedKeys), input.map(expectedJson).map(sortedKeys));
    const parts = objects.slice(3);
    assert(parts.length >= 2, `the large flow came in parts (${parts.length})`);
    const joined: Record<string, unknown> = {};
    for (const [i, p] of parts.entries()) {
      assertEquals([p.part, p.parts], [i + 1, parts.length]);
      assertEquals(p.sourceIPv4Address, big.sourceIP);
      Object.assign(joined, p);
    }
    delete joined.part;
    delete joined.parts;
    assertEquals(sortedKeys(joined), sortedKeys(expectedJson(big)));
    assertStats(sink.stats(), { written: 4, dropped: 0 });
  } finally {
    await sink.close();
  }
});

// Reconnection, overflow, close ----------------------------------------------------------------

for (const format of ["IPFIX", "JSON"] as const) {
  Deno.test(`${format} sink: collector down at start, then up: the rows arrive after reconnecting`, async () => {
    const port = freeTcpPort();
    const sink = createCollectorSink({
      address: `127.0.0.1:${port}:tcp`,
      recordFormat: format,
      observationDomainId: 1,
      ...QUICK,
    });
    const input = rows();
    try {
      sink.write(input);
      await waitFor("failed attempts", () => sink.stats().failures >= 2 ? true : undefined);
      assertStats(sink.stats(), { queued: 3, written: 0, dropped: 0 });
      let received: () => number;
      let stop: () => Promise<void>;
      let values: () => unknown[];
      if (format === "IPFIX") {
        const { collector, records } = await startCollector("tcp", port);
        received = () => records().length;
        values = () => records();
        stop = () => collector.close();
      } else {
        const listener = new LineListener(port);
        received = () => listener.lines.length;
        values = () => listener.lines.map((l) => JSON.parse(l));
        stop = () => listener[Symbol.asyncDispose]();
      }
      try {
        await waitFor("rows after reconnect", () => received() >= 3 ? true : undefined);
        await sink.flush();
        assertEquals(values(), format === "IPFIX" ? input.map(rowToRecord) : input.map(rowToJson));
        assertStats(sink.stats(), { queued: 0, written: 3, dropped: 0 });
      } finally {
        await sink.close();
        await stop();
      }
    } finally {
      await sink.close();
    }
  });

  Deno.test(`${format} sink: a full queue drops the oldest rows and counts them; close twice`, async () => {
    const port = freeTcpPort();
    const warnings: string[] = [];
    const sink = createCollectorSink({
      address: `127.0.0.1:${port}:tcp`,
      recordFormat: format,
      observationDomainId: 1,
      queueLimit: 5,
      flushTimeoutMs: 50,
      closeTimeoutMs: 50,
      ...QUICK,
      logger: { ...silentLogger, warn: (msg) => warnings.push(msg) },
    });
    const row = rows()[0]!;
    for (let i = 0; i < 12; i++) sink.write([{ ...row, sourceTransportPort: 1000 + i }]);
    assertStats(sink.stats(), { queued: 5, written: 0, dropped: 7 });
    await sink.flush(); // the collector is down: returns after flushTimeoutMs
    assertStats(sink.stats(), { queued: 5, dropped: 7 });
    await sink.close();
    assertStats(
      sink.stats(),
      { queued: 0, written: 0, dropped: 12 },
      "unsent rows dropped at close",
    );
    await sink.close();
    sink.write([row]);
    assertStats(
      sink.stats(),
      { queued: 0, written: 0, dropped: 13 },
      "a write after close is dropped",
    );
  });
}

for (const format of ["IPFIX", "JSON"] as const) {
  Deno.test(`${format} sink: the collector restarts, the sink reconnects and sends on`, async () => {
    const port = freeTcpPort();
    const sink = createCollectorSink({
      address: `127.0.0.1:${port}`,
      recordFormat: format,
      observationDomainId: 1,
      ...QUICK,
    });
    const [a, b, c] = rows();
    const start = async () => {
      if (format === "IPFIX") {
        const { collector, records } = await startCollector("tcp", port);
        return { received: () => records() as unknown[], stop: () => collector.close() };
      }
      const listener = new LineListener(port);
      return {
        received: () => listener.lines.map((l) => JSON.parse(l)),
        stop: () => listener[Symbol.asyncDispose](),
      };
    };
    const encode = format === "IPFIX" ? rowToRecord : rowToJson;
    try {
      const first = await start();
      sink.write([a!]);
      await waitFor("the first row", () => first.received().length >= 1 ? true : undefined);
      const failures = sink.stats().failures;
      await first.stop();
      // The sink sees the connection end and fails to reconnect while the collector is down
      // (rows written before it sees the end would go into a dead connection: TCP's limit).
      await waitFor(
        "a failed reconnect",
        () => sink.stats().failures > failures ? true : undefined,
      );
      sink.write([b!, c!]);
      const second = await start();
      try {
        await waitFor(
          "the rows after restart",
          () => second.received().length >= 2 ? true : undefined,
        );
        assertEquals(first.received(), [encode(a!)]);
        assertEquals(second.received(), [encode(b!), encode(c!)]);
        assertStats(sink.stats(), { queued: 0, written: 3, dropped: 0 });
      } finally {
        await sink.close();
        await second.stop();
      }
    } finally {
      await sink.close();
    }
  });
}

Deno.test("Sinks count a row that cannot be a record and go on", async () => {
  const { collector, records } = await startCollector("tcp");
  const sink = new IpfixCollectorSink({
    address: `127.0.0.1:${collector.port}`,
    observationDomainId: 2,
    ...QUICK,
  });
  try {
    const [good] = rows();
    sink.write([{ ...good!, destinationIP: "fd00::1" }, { ...good!, flowEndReason: 300 }, good!]);
    await sink.flush();
    await waitFor("1 record", () => records().length >= 1 ? true : undefined);
    assertEquals(records(), [rowToRecord(good!)]);
    assertStats(sink.stats(), { written: 1, dropped: 2 });
  } finally {
    await sink.close();
    await collector.close();
  }
});

Deno.test("createCollectorSink checks the flowCollector keys", () => {
  assertThrows(
    () => createCollectorSink({ address: "127.0.0.1:4739", recordFormat: "CSV" as "JSON" }),
    TypeError,
    "flowCollector.recordFormat",
  );
  assertThrows(
    () => createCollectorSink({ address: "127.0.0.1:4739:tls" }),
    TypeError,
    "the protocol must be tcp or udp",
  );
  assertThrows(
    () => createCollectorSink({ address: "127.0.0.1:99999" }),
    TypeError,
    "Invalid flowCollector.address",
  );
  assertThrows(
    () => createCollectorSink({ address: "127.0.0.1:4739", observationDomainId: 2 ** 32 }),
    RangeError,
    "observation domain ID",
  );
  assertThrows(
    () =>
      createCollectorSink({
        address: "127.0.0.1:4739:udp",
        recordFormat: "JSON",
        maxDatagramSize: 100,
      }),
    RangeError,
    "datagram size",
  );
});
