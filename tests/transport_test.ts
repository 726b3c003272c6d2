/**
 * Integration tests of the transports: ExportingProcess → CollectingProcess over TCP, TLS,
 * mutual TLS and UDP on the loopback interface; malformed input, sequence numbers, templates,
 * reconnects and buffering.
 *
 * @module
 */

import {
  antreaFlowTemplate,
  CollectingProcess,
  type CollectingProcessOptions,
  type CompiledTemplate,
  compileTemplate,
  type DataRecord,
  type DecodedMessage,
  type ExporterInfo,
  ExportingProcess,
  type ExportingProcessOptions,
  MessageEncoder,
  type Template,
  templateOf,
  type TlsClientOptions,
  UDP_RECEIVE_BUFFER_RANGE,
  udpMessageSize,
} from "../src/ipfix/mod.ts";
import { lookup } from "node:dns/promises";
import { createLogger, type Logger, silentLogger } from "../src/log/mod.ts";
import { assert, assertEquals, assertThrows } from "./_assert.ts";
import { testCerts, writeTestCerts } from "./_certs.ts";
import { NO_EGRESS_POLICY } from "./_fixtures.ts";
import { freeTcpPort, interopTest, needsRoot, needsTool, run, tool } from "./_tools.ts";

/** Set FLOWVIS_TEST_LOG=1 to see the processes' logs. */
const logger: Logger = Deno.env.get("FLOWVIS_TEST_LOG")
  ? createLogger("test", "debug")
  : silentLogger;

const WAIT_MS = 20_000;

// ---------------------------------------------------------------------------------------------
// Harness

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `cond` until it holds; fails naming `what` (and showing `state()`) after `timeoutMs`. */
async function waitFor(
  cond: () => boolean,
  what: string,
  timeoutMs = WAIT_MS,
  state?: () => unknown,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) {
      const detail = state ? `; state: ${Deno.inspect(state(), { colors: false })}` : "";
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${detail}`);
    }
    await delay(5);
  }
}

interface Received {
  msg: DecodedMessage;
  from: ExporterInfo;
}

/** A collecting process that keeps every message it decodes. */
class Collector {
  readonly messages: Received[] = [];
  readonly process: CollectingProcess;

  constructor(
    address: string,
    options: Omit<Partial<CollectingProcessOptions>, "address" | "onMessage"> = {},
  ) {
    this.process = new CollectingProcess({
      address,
      logger,
      ...options,
      onMessage: (msg, from) => this.messages.push({ msg, from }),
    });
  }

  static async start(
    address: string,
    options: Omit<Partial<CollectingProcessOptions>, "address" | "onMessage"> = {},
  ): Promise<Collector> {
    const c = new Collector(address, options);
    await c.process.listen();
    return c;
  }

  get port(): number {
    return this.process.port;
  }

  get stats() {
    return this.process.stats;
  }

  /** Records of the messages that pass `filter`, in arrival order. */
  records(filter: (r: Received) => boolean = () => true, templateId?: number): DataRecord[] {
    const out: DataRecord[] = [];
    for (const r of this.messages) {
      if (!filter(r)) continue;
      for (const set of r.msg.dataSets) {
        if (templateId === undefined || set.templateId === templateId) out.push(...set.records);
      }
    }
    return out;
  }

  waitRecords(n: number, what = `${n} records`): Promise<void> {
    return waitFor(() => this.stats.records >= n, what, WAIT_MS, () => this.stats);
  }

  close(): Promise<void> {
    return this.process.close();
  }
}

function exporter(options: ExportingProcessOptions): ExportingProcess {
  return new ExportingProcess({ logger, initialBackoffMs: 50, maxBackoffMs: 200, ...options });
}

/** A flow record of Antrea's template for one IP version; `i` and `tag` make it unique. */
function antreaRecord(v: 4 | 6, i: number, tag = "a"): DataRecord {
  const V = v === 4 ? "IPv4" : "IPv6";
  const ip = (n: number) =>
    v === 4 ? `10.244.${(n >> 8) & 255}.${n & 255}` : `fd00:10:244::${(n + 1).toString(16)}`;
  return {
    flowStartSeconds: 1700000000 + i,
    flowEndSeconds: 1700000060 + i,
    flowEndReason: 3,
    sourceTransportPort: 10000 + (i % 50000),
    destinationTransportPort: 443,
    protocolIdentifier: 6,
    packetTotalCount: i * 10,
    // Above 2^53: decoded as a bigint.
    octetTotalCount: 2n ** 60n + BigInt(i),
    packetDeltaCount: i,
    octetDeltaCount: i * 1500,
    [`source${V}Address`]: ip(i),
    [`destination${V}Address`]: ip(i + 1000),
    reversePacketTotalCount: i * 2,
    reverseOctetTotalCount: i * 3000,
    reversePacketDeltaCount: i,
    reverseOctetDeltaCount: i * 100,
    sourcePodName: `pod-${tag}-${i}`,
    sourcePodNamespace: "default",
    sourceNodeName: "node-1",
    destinationPodName: `svc-ünïcødé-${i}`,
    destinationPodNamespace: "kube-system",
    destinationNodeName: "node-2",
    [`destinationCluster${V}`]: ip(7),
    destinationServicePort: 8080,
    destinationServicePortName: "default/svc:http",
    ingressNetworkPolicyName: "allow-web",
    ingressNetworkPolicyNamespace: "default",
    ingressNetworkPolicyType: 1,
    ingressNetworkPolicyRuleName: "rule-1",
    ingressNetworkPolicyRuleAction: 1,
    ...NO_EGRESS_POLICY,
    tcpState: "TIME_WAIT",
    flowType: 2,
  };
}

/** Sequence numbers count the records of the messages before. RFC 7011 §3.1 */
function assertSequence(messages: Received[], what: string): void {
  const next = new Map<string, number>();
  for (const { msg, from } of messages) {
    const k = `${from.session}|${msg.observationDomainId}`;
    const expected = next.get(k);
    if (expected !== undefined) assertEquals(msg.sequenceNumber, expected, `${what}: sequence`);
    next.set(k, (msg.sequenceNumber + msg.recordCount) >>> 0);
  }
}

/** One IPFIX message of the given records (and templates first), with this sequence number. */
function message(
  options: {
    domain?: number;
    sequence?: number;
    templates?: Template[];
    withdraw?: number[];
    records?: [CompiledTemplate, DataRecord][];
    exportTime?: number;
  },
): Uint8Array {
  const enc = new MessageEncoder({
    observationDomainId: options.domain ?? 1,
    sequenceNumber: options.sequence ?? 0,
    clock: () => (options.exportTime ?? 1700000000) * 1000,
  });
  for (const t of options.templates ?? []) enc.addTemplate(t);
  for (const id of options.withdraw ?? []) enc.addWithdrawal(id);
  for (const [t, r] of options.records ?? []) enc.addRecord(t, r);
  const out = enc.flush();
  assertEquals(out.length, 1, "one message");
  return out[0]!.bytes;
}

const COUNTERS = templateOf(256, ["octetDeltaCount", "packetDeltaCount", "interfaceName"]);
const COUNTERS_C = compileTemplate(COUNTERS);

function counters(n: number, start = 0): [CompiledTemplate, DataRecord][] {
  return Array.from({ length: n }, (_, i) => [COUNTERS_C, {
    octetDeltaCount: (start + i) * 100,
    packetDeltaCount: start + i,
    interfaceName: `eth${start + i}`,
  }]);
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
}

/** Closes a connection that may be closed already. */
function close(conn: { close(): void }): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}

/** Resolves once the peer closes `conn` (end of stream or reset); fails after a deadline. */
async function closedByPeer(conn: Deno.Conn, what: string): Promise<void> {
  const buf = new Uint8Array(1024);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    close(conn);
  }, WAIT_MS);
  try {
    while ((await conn.read(buf)) !== null) { /* discard */ }
  } catch {
    // Reset by the peer: closed too.
  } finally {
    clearTimeout(timer);
  }
  if (timedOut) throw new Error(`Timed out waiting for the collector to close ${what}`);
}

function sessionsOf(c: Collector, protocol: string) {
  return [...c.process.sessions.entries()].filter(([, s]) => s.protocol === protocol);
}

// ---------------------------------------------------------------------------------------------
// Round trips

/** Sends Antrea IPv4 and IPv6 records through one exporter and checks what arrives. */
async function roundTrip(
  c: Collector,
  ex: ExportingProcess,
  n: number,
  protocol: "tcp" | "tls" | "udp",
  tag: string,
): Promise<void> {
  const from = c.stats.records;
  ex.start();
  const sent4: DataRecord[] = [];
  const sent6: DataRecord[] = [];
  for (let i = 0; i < n; i++) {
    const r4 = antreaRecord(4, i, tag);
    const r6 = antreaRecord(6, i, tag);
    ex.send(256, r4);
    ex.send(257, r6);
    sent4.push(r4);
    sent6.push(r6);
  }
  assert(await ex.flush(WAIT_MS), "the exporter drains its queue");
  await c.waitRecords(from + 2 * n);
  const mine = (r: Received) =>
    (r.msg.dataSets[0]?.records[0]?.sourcePodName as string ?? "")
      .startsWith(`pod-${tag}-`);
  const got = c.messages.filter(mine);
  assertEquals(c.records(mine, 256), sent4, `${protocol} IPv4 records`);
  assertEquals(c.records(mine, 257), sent6, `${protocol} IPv6 records`);
  for (const { msg, from } of got) {
    assertEquals(msg.observationDomainId, ex.observationDomainId);
    assertEquals(from.protocol, protocol);
    assertEquals(msg.unknownSets, []);
  }
  assertSequence(c.messages, protocol);
  assertEquals(ex.stats.recordsSent, 2 * n);
  assertEquals(ex.stats.queued, 0);
  assertEquals(ex.stats.recordsDropped, 0);
  assertEquals(ex.stats.recordsInvalid, 0);
  assertEquals(ex.stats.sendErrors, 0);
  assertEquals(ex.stats.connected, true);
}

Deno.test("tcp: Antrea IPv4 and IPv6 flow records round-trip, with exporter and collector stats", async () => {
  const c = await Collector.start("127.0.0.1:0:tcp");
  const ex = exporter({
    address: `127.0.0.1:${c.port}:tcp`,
    observationDomainId: 7,
    templates: [antreaFlowTemplate(4), antreaFlowTemplate(6)],
  });
  try {
    await roundTrip(c, ex, 2000, "tcp", "tcp");
    // Every message the exporter sent (templates included) arrived, byte for byte.
    await waitFor(() => c.stats.messages === ex.stats.messagesSent, "every message");
    assertEquals(c.messages.reduce((s, r) => s + r.msg.length, 0), ex.stats.bytesSent);
    assert(ex.stats.messagesSent > 1, "records span several messages");
    assertEquals(c.messages[0]!.msg.templates.map((t) => t.id), [256, 257]);
    assertEquals(ex.stats.reconnects, 0);
    assertEquals(ex.stats.connectFailures, 0);
    assertEquals({ ...c.stats }, {
      messages: ex.stats.messagesSent,
      records: 4000,
      templates: 2,
      errors: 0,
      datagramsDropped: 0,
      sessionsClosed: 0,
      tlsErrors: 0,
      unknownSets: 0,
      lost: 0,
      sessionsOpened: 1,
      activeSessions: 1,
      sessionsExpired: 0,
      udpSourcesRefused: 0,
      templatesRefused: 0,
      udpBufferDrops: 0,
    });
    const sessions = sessionsOf(c, "tcp");
    assertEquals(sessions.length, 1);
    const [key, s] = sessions[0]!;
    assertEquals(s.records, 4000);
    assertEquals(s.messages, ex.stats.messagesSent);
    assertEquals(s.lost, 0);
    assertEquals(s.errors, 0);
    assertEquals(c.messages[0]!.from.session, key);
    assert(s.address.startsWith("127.0.0.1:"), s.address);
    assertEquals(c.process.cache.size, 2);
  } finally {
    await ex.close();
    await c.close();
  }
  // The collector forgets the session and its templates when the exporter leaves.
  assertEquals(c.stats.activeSessions, 0);
  assertEquals(c.process.sessions.size, 0);
  assertEquals(c.process.cache.size, 0);
});

/** Whether ::1 can be bound (containers may run without IPv6). */
function hasIPv6Loopback(): boolean {
  try {
    Deno.listen({ hostname: "::1", port: 0 }).close();
    return true;
  } catch {
    return false;
  }
}

const IPV6_LOOPBACK = hasIPv6Loopback();
// Not a package CI could install: skipped loudly, even under CI.
if (!IPV6_LOOPBACK) console.warn("SKIPPED tcp over IPv6 loopback: no IPv6 loopback (::1) to bind");

Deno.test({
  name: "tcp over IPv6 loopback: [::1] addresses on both sides",
  ignore: !IPV6_LOOPBACK,
}, async () => {
  const c = await Collector.start("[::1]:0:tcp");
  const ex = exporter({
    address: `[::1]:${c.port}:tcp`,
    observationDomainId: 8,
    templates: [antreaFlowTemplate(4), antreaFlowTemplate(6)],
  });
  try {
    assertEquals(ex.address, `[::1]:${c.port}:tcp`);
    await roundTrip(c, ex, 50, "tcp", "v6");
    assert(c.messages[0]!.from.address.startsWith("[::1]:"), c.messages[0]!.from.address);
  } finally {
    await ex.close();
    await c.close();
  }
});

Deno.test("tls (Deno.listenTls): round trip to localhost and 127.0.0.1, both in the certificate", async () => {
  const certs = await testCerts();
  const c = await Collector.start("127.0.0.1:0:tls", { tls: certs.server });
  const byName = exporter({
    address: `localhost:${c.port}:tls`,
    observationDomainId: 1,
    templates: [antreaFlowTemplate(4), antreaFlowTemplate(6)],
    tls: { caCerts: [certs.ca] },
  });
  const byIp = exporter({
    address: `127.0.0.1:${c.port}`, // tls is the exporter's default protocol
    observationDomainId: 2,
    templates: [antreaFlowTemplate(4), antreaFlowTemplate(6)],
    tls: { caCerts: [certs.ca] },
  });
  try {
    assertEquals(byIp.endpoint.protocol, "tls");
    await Promise.all([
      roundTrip(c, byName, 1000, "tls", "name"),
      roundTrip(c, byIp, 1000, "tls", "ip"),
    ]);
    assertEquals(c.stats.tlsErrors, 0);
    assertEquals(c.stats.sessionsOpened, 2);
    assertEquals(c.stats.records, 4000);
    await waitFor(
      () => c.stats.messages === byName.stats.messagesSent + byIp.stats.messagesSent,
      "every message",
    );
  } finally {
    await byName.close();
    await byIp.close();
    await c.close();
  }
});

Deno.test("tls: an exporter that does not trust the collector's CA never sends", async () => {
  const certs = await testCerts();
  const c = await Collector.start("127.0.0.1:0:tls", { tls: certs.server });
  const ex = exporter({
    address: `localhost:${c.port}:tls`,
    observationDomainId: 1,
    templates: [antreaFlowTemplate(4)],
    tls: { caCerts: [certs.otherCa] },
  });
  try {
    ex.start();
    ex.send(256, antreaRecord(4, 1));
    await waitFor(() => ex.stats.connectFailures >= 2, "connect failures", WAIT_MS, () => ex.stats);
    await waitFor(() => c.stats.tlsErrors >= 1, "a TLS error at the collector");
    assertEquals(ex.stats.recordsSent, 0);
    assertEquals(ex.stats.queued, 1);
    assertEquals(c.stats.records, 0);
    assertEquals(c.stats.sessionsOpened, 0);
  } finally {
    await ex.close(100);
    await c.close();
  }
  assertEquals(ex.stats.recordsUnsent, 1);
});

Deno.test("mutual tls (node:tls): exporters with client certificates of the CA round-trip", async () => {
  const certs = await testCerts();
  const c = await Collector.start("127.0.0.1:0:tls", { tls: { ...certs.server, ca: certs.ca } });
  const one = exporter({
    address: `localhost:${c.port}:tls`,
    observationDomainId: 1,
    templates: [antreaFlowTemplate(4), antreaFlowTemplate(6)],
    tls: { caCerts: [certs.ca], ...certs.client },
  });
  const two = exporter({
    address: `127.0.0.1:${c.port}:tls`,
    observationDomainId: 2,
    templates: [antreaFlowTemplate(4), antreaFlowTemplate(6)],
    tls: { caCerts: [certs.ca], ...certs.client2 },
  });
  try {
    assert(c.port > 0, "the mutual TLS listener reports its port");
    await Promise.all([
      roundTrip(c, one, 1000, "tls", "one"),
      roundTrip(c, two, 1000, "tls", "two"),
    ]);
    await waitFor(
      () => c.stats.messages === one.stats.messagesSent + two.stats.messagesSent,
      "every message",
    );
    assertEquals(c.stats.tlsErrors, 0);
    assertEquals(c.stats.sessionsOpened, 2);
    assertEquals(c.stats.activeSessions, 2);
    assertEquals(c.stats.records, 4000);
  } finally {
    await one.close();
    await two.close();
    await c.close();
  }
});

interopTest(
  "tls collectors (Deno.listenTls and mutual TLS over node:tls) refuse TLS 1.0 and 1.1 (openssl s_client)",
  [needsTool("openssl")],
  async () => {
    const certs = await testCerts();
    const files = await writeTestCerts();
    const p = files.path;
    try {
      for (const mutual of [false, true]) {
        const c = await Collector.start("127.0.0.1:0:tls", {
          tls: { ...certs.server, ...(mutual ? { ca: certs.ca } : {}) },
        });
        try {
          const handshake = (version: string) =>
            run(tool("openssl"), [
              "s_client",
              "-connect",
              `127.0.0.1:${c.port}`,
              version,
              // OpenSSL 3 offers TLS 1.0 and 1.1 only at security level 0.
              "-cipher",
              "DEFAULT@SECLEVEL=0",
              "-CAfile",
              p("ca.pem"),
              "-verify_return_error",
              "-cert",
              p("client.pem"),
              "-key",
              p("client-key.pem"),
            ], { stdin: "", allowFailure: true, timeoutMs: 15_000 });
          const what = mutual ? "mutual TLS" : "TLS";
          for (const version of ["-tls1", "-tls1_1"]) {
            const out = await handshake(version);
            assert(out.code !== 0, `${what} ${version}: handshake refused\n${out.stdout}`);
            // The server refused with an alert (handshake_failure, 40, or protocol_version, 70):
            // the client did offer the old version. The same command with TLS 1.2 or 1.3
            // succeeds below, so the version is what the server refused.
            assert(
              /SSL alert number (40|70)/.test(out.stderr),
              `${what} ${version}: refused by the server\n${out.stdout}\n${out.stderr}`,
            );
          }
          for (const version of ["-tls1_2", "-tls1_3"]) {
            const out = await handshake(version);
            assertEquals(
              out.code,
              0,
              `${what} ${version}: handshake\n${out.stdout}\n${out.stderr}`,
            );
            assert(/Verify return code: 0 \(ok\)/.test(out.stdout), `${what} ${version}: verified`);
          }
        } finally {
          await c.close();
        }
      }
    } finally {
      await Deno.remove(files.dir, { recursive: true });
    }
  },
);

/** A mutual-TLS collector and an exporter (not started) with a client certificate of its CA. */
async function mutualTlsCollector() {
  const certs = await testCerts();
  const c = await Collector.start("127.0.0.1:0:tls", { tls: { ...certs.server, ca: certs.ca } });
  const good = exporter({
    address: `localhost:${c.port}:tls`,
    observationDomainId: 1,
    templates: [antreaFlowTemplate(4)],
    tls: { caCerts: [certs.ca], ...certs.client },
  });
  return { certs, c, good };
}

Deno.test("mutual tls: malformed input closes only its own session, counted; other exporters keep being served", async () => {
  const { certs, c, good } = await mutualTlsCollector();
  try {
    await malformedStreams(c, good, STREAM_CASES.slice(0, 3), async () => {
      const conn = await Deno.connectTls({
        hostname: "localhost",
        port: c.port,
        caCerts: [certs.ca],
        ...certs.client2,
      });
      await conn.handshake();
      return conn;
    });
    assertEquals(c.stats.tlsErrors, 0);
  } finally {
    await good.close();
    await c.close();
  }
});

Deno.test("mutual tls: exporters without a certificate or with another CA's are refused", async () => {
  const { certs, c, good } = await mutualTlsCollector();
  const refused: ExportingProcess[] = [];
  try {
    good.start();
    for (let i = 0; i < 10; i++) good.send(256, antreaRecord(4, i, "good"));
    await c.waitRecords(10);
    let goodSent = 10;
    for (
      const [name, tls] of [
        ["no certificate", { caCerts: [certs.ca] }],
        ["another CA's certificate", { caCerts: [certs.ca], ...certs.rogueClient }],
      ] as [string, TlsClientOptions][]
    ) {
      const errors = c.stats.tlsErrors;
      const ex = exporter({
        address: `localhost:${c.port}:tls`,
        observationDomainId: 9,
        templates: [antreaFlowTemplate(4)],
        tls,
      });
      refused.push(ex);
      ex.start();
      for (let i = 0; i < 5; i++) ex.send(256, antreaRecord(4, i, "rogue"));
      await waitFor(
        () => c.stats.tlsErrors >= errors + 2,
        `${name}: refused twice`,
        WAIT_MS,
        () => ({
          collector: c.stats,
          exporter: ex.stats,
        }),
      );
      // Meanwhile the good exporter is served.
      for (let i = 0; i < 10; i++) good.send(256, antreaRecord(4, goodSent + i, "good"));
      goodSent += 10;
      await c.waitRecords(goodSent);
      await ex.close(100);
    }
    assertEquals(c.stats.records, goodSent);
    assertEquals(c.stats.sessionsOpened, 1, "only the good exporter got a session");
    assert(
      c.records().every((r) => (r.sourcePodName as string).startsWith("pod-good-")),
      "no record of a refused exporter",
    );
    assertEquals(good.stats.reconnects, 0);
  } finally {
    for (const ex of refused) await ex.close(100);
    await good.close();
    await c.close();
  }
});

// With TLS 1.3 the client's handshake completes before the server checks the client
// certificate, so the exporter sees a successful connect, writes its records, and is then
// disconnected: it counts a "reconnect" (not a connect failure), resets its backoff to the
// initial delay, and counts the records as sent although the collector refused them.
Deno.test("mutual tls: a refused exporter counts connect failures, not reconnects or records sent", async () => {
  const certs = await testCerts();
  const c = await Collector.start("127.0.0.1:0:tls", { tls: { ...certs.server, ca: certs.ca } });
  const ex = exporter({
    address: `localhost:${c.port}:tls`,
    observationDomainId: 9,
    templates: [antreaFlowTemplate(4)],
    tls: { caCerts: [certs.ca] },
  });
  try {
    ex.start();
    ex.send(256, antreaRecord(4, 1, "refused"));
    await waitFor(() => c.stats.tlsErrors >= 3, "three refusals", WAIT_MS, () => ex.stats);
    assertEquals(c.stats.records, 0);
    assertEquals(ex.stats.reconnects, 0, "reconnects");
    assert(ex.stats.connectFailures >= 2, `connect failures: ${ex.stats.connectFailures}`);
    assertEquals(ex.stats.recordsSent, 0, "records sent");
  } finally {
    await ex.close(100);
    await c.close();
  }
});

Deno.test("udp: Antrea flow records round-trip in datagrams no larger than udpMessageSize(mtu)", async () => {
  const c = await Collector.start("127.0.0.1:0:udp");
  const mtu = 576;
  const ex = exporter({
    address: `127.0.0.1:${c.port}:udp`,
    observationDomainId: 3,
    templates: [antreaFlowTemplate(4), antreaFlowTemplate(6)],
    mtu,
  });
  try {
    assertEquals(udpMessageSize(mtu), 528);
    await roundTrip(c, ex, 100, "udp", "udp");
    await waitFor(() => c.stats.messages === ex.stats.messagesSent, "every datagram");
    assert(c.messages.length > 20, `${c.messages.length} datagrams`);
    for (const { msg } of c.messages) {
      assert(msg.length <= udpMessageSize(mtu), `a message of ${msg.length} octets`);
    }
    assertEquals(c.messages.reduce((s, r) => s + r.msg.length, 0), ex.stats.bytesSent);
    assertEquals(c.stats.errors, 0);
    assertEquals(c.stats.lost, 0);
    const sessions = sessionsOf(c, "udp");
    assertEquals(sessions.length, 1);
    assert(String(sessions[0]![0]).startsWith("udp:"), String(sessions[0]![0]));
    assertEquals(sessions[0]![1].records, 200);
  } finally {
    await ex.close();
    await c.close();
  }
});

Deno.test("udp: an exporter given a host name resolves it and sends from a socket of that family", async () => {
  const { address, family } = await lookup("localhost");
  const c = await Collector.start(`${family === 6 ? `[${address}]` : address}:0:udp`);
  const ex = exporter({
    address: `localhost:${c.port}:udp`,
    observationDomainId: 4,
    templates: [COUNTERS],
  });
  try {
    ex.start();
    for (const [, r] of counters(3)) ex.send(256, r);
    await c.waitRecords(3);
    assertEquals(c.records(), counters(3).map(([, r]) => r));
    const sessions = sessionsOf(c, "udp");
    assertEquals(sessions.length, 1);
    const from = sessions[0]![1].address;
    assert(from.startsWith(family === 6 ? `[${address}]:` : `${address}:`), from);
    assertEquals(ex.stats.connectFailures, 0);
  } finally {
    await ex.close();
    await c.close();
  }
});

Deno.test("udp: the exporter looks the collector's name up again with each template refresh", async () => {
  let now = 1_700_000_000_000;
  const first = await Collector.start("127.0.0.1:0:udp");
  const port = first.port;
  const second = await Collector.start(`127.0.0.2:${port}:udp`);
  let address = "127.0.0.1";
  let lookups = 0;
  const ex = exporter({
    address: `collector.example:${port}:udp`,
    observationDomainId: 4,
    templates: [COUNTERS],
    clock: () => now,
    resolve: (host) => {
      assertEquals(host, "collector.example");
      lookups++;
      return address === "fail"
        ? Promise.reject(new Error("no such host"))
        : Promise.resolve({ address, family: 4 });
    },
  });
  try {
    ex.start();
    ex.send(256, { octetDeltaCount: 1 });
    await first.waitRecords(1);
    // The name moves; the next record before the refresh still goes to the old address.
    address = "127.0.0.2";
    now += 599_999;
    ex.send(256, { octetDeltaCount: 2 });
    await first.waitRecords(2);
    assertEquals(lookups, 1);
    // At the refresh the name is looked up again: templates and records follow it.
    now += 1;
    ex.send(256, { octetDeltaCount: 3 });
    await second.waitRecords(1);
    assertEquals(lookups, 2);
    assertEquals(second.records().map((r) => r.octetDeltaCount), [3]);
    assertEquals(second.stats.unknownSets, 0);
    // A failed lookup keeps the last address.
    address = "fail";
    now += 600_000;
    ex.send(256, { octetDeltaCount: 4 });
    await second.waitRecords(2);
    assertEquals(lookups, 3);
    assertEquals(first.stats.records, 2);
    assertEquals(ex.stats.sendErrors, 0);
  } finally {
    await ex.close();
    await first.close();
    await second.close();
  }
});

Deno.test("udp: the default MTU packs records into messages of at most 1452 octets", async () => {
  const c = await Collector.start("127.0.0.1:0:udp");
  const ex = exporter({
    address: `127.0.0.1:${c.port}:udp`,
    observationDomainId: 3,
    templates: [antreaFlowTemplate(4), antreaFlowTemplate(6)],
  });
  try {
    await roundTrip(c, ex, 100, "udp", "mtu");
    const max = Math.max(...c.messages.map((r) => r.msg.length));
    assert(max <= udpMessageSize(), `${max} octets`);
    assert(max > udpMessageSize() - 300, `messages are filled: ${max} octets`);
  } finally {
    await ex.close();
    await c.close();
  }
});

// ---------------------------------------------------------------------------------------------
// Many exporters

Deno.test("tcp: 5 concurrent exporters, each with its own domain and templates (same IDs)", async () => {
  const c = await Collector.start("127.0.0.1:0:tcp");
  const fields = [
    ["octetDeltaCount", "sourcePodName"],
    ["packetDeltaCount", "interfaceName", "sourceIPv6Address"],
    ["sourceMacAddress", "flowStartMilliseconds"],
    ["destinationIPv4Address", "octetTotalCount", "tcpState", "flowType"],
    ["samplingProbability", "dataRecordsReliability"],
  ];
  const sample = (k: number, i: number): DataRecord => {
    const all: DataRecord = {
      octetDeltaCount: i * 7,
      sourcePodName: `pod-${k}-${i}`,
      packetDeltaCount: i,
      interfaceName: `eth${k}.${i}`,
      sourceIPv6Address: `fd00::${k}:${i.toString(16)}`,
      sourceMacAddress: `02:00:00:00:0${k}:${(i & 255).toString(16).padStart(2, "0")}`,
      flowStartMilliseconds: 1700000000000 + i,
      destinationIPv4Address: `10.${k}.${i >> 8}.${i & 255}`,
      octetTotalCount: 2n ** 63n + BigInt(i),
      tcpState: "ESTABLISHED",
      flowType: k,
      samplingProbability: 1 / (i + 1),
      dataRecordsReliability: i % 2 === 0,
    };
    return Object.fromEntries(fields[k]!.map((f) => [f, all[f]!]));
  };
  const exporters = fields.map((f, k) =>
    exporter({
      address: `127.0.0.1:${c.port}:tcp`,
      observationDomainId: 100 + k,
      // Template 300 means something else for each exporter.
      templates: [antreaFlowTemplate(4), templateOf(300, f)],
    })
  );
  const n = 500;
  try {
    for (const ex of exporters) ex.start();
    await Promise.all(exporters.map(async (ex, k) => {
      for (let i = 0; i < n; i++) {
        ex.send(300, sample(k, i));
        ex.send(256, antreaRecord(4, i, `ex${k}`));
        if (i % 50 === 0) await delay(1);
      }
      assert(await ex.flush(WAIT_MS));
    }));
    await c.waitRecords(exporters.length * n * 2);
    assertEquals(c.stats.sessionsOpened, 5);
    assertEquals(c.stats.activeSessions, 5);
    assertEquals(c.stats.unknownSets, 0);
    assertEquals(c.stats.lost, 0);
    assertEquals(c.stats.errors, 0);
    for (let k = 0; k < exporters.length; k++) {
      const mine = (r: Received) => r.msg.observationDomainId === 100 + k;
      const sessions = new Set(c.messages.filter(mine).map((r) => r.from.session));
      assertEquals(sessions.size, 1, `exporter ${k} uses one session`);
      assertEquals(c.records(mine, 300), Array.from({ length: n }, (_, i) => sample(k, i)));
      assertEquals(
        c.records(mine, 256),
        Array.from({ length: n }, (_, i) => antreaRecord(4, i, `ex${k}`)),
      );
      assertEquals(exporters[k]!.stats.recordsSent, 2 * n);
    }
    assertSequence(c.messages, "5 exporters");
  } finally {
    await Promise.all(exporters.map((ex) => ex.close()));
    await c.close();
  }
});

Deno.test("udp: 3 concurrent exporters in the same domain keep their own template 256", async () => {
  const c = await Collector.start("127.0.0.1:0:udp");
  const layouts = [
    antreaFlowTemplate(4),
    templateOf(256, ["octetDeltaCount", "interfaceName"]),
    templateOf(256, ["sourceIPv6Address", "packetDeltaCount", "flowEndNanoseconds"]),
  ];
  const sample = (k: number, i: number): DataRecord =>
    k === 0
      ? antreaRecord(4, i, "u0")
      : k === 1
      ? { octetDeltaCount: i, interfaceName: `if-${i}` }
      : {
        sourceIPv6Address: `fd00::${(i + 1).toString(16)}`,
        packetDeltaCount: i,
        flowEndNanoseconds: 1700000000123456789n + BigInt(i),
      };
  const exporters = layouts.map((t) =>
    exporter({ address: `127.0.0.1:${c.port}:udp`, observationDomainId: 1, templates: [t] })
  );
  const n = 60;
  try {
    for (const ex of exporters) ex.start();
    for (let i = 0; i < n; i++) {
      exporters.forEach((ex, k) => ex.send(256, sample(k, i)));
      if (i % 10 === 0) await delay(2);
    }
    for (const ex of exporters) assert(await ex.flush(WAIT_MS));
    await c.waitRecords(3 * n);
    const sessions = [...new Set(c.messages.map((r) => r.from.session))];
    assertEquals(sessions.length, 3);
    for (const s of sessions) {
      const recs = c.records((r) => r.from.session === s);
      const k = "tcpState" in recs[0]! ? 0 : "interfaceName" in recs[0]! ? 1 : 2;
      assertEquals(recs, Array.from({ length: n }, (_, i) => sample(k, i)), `session ${s}`);
    }
    assertEquals(c.stats.unknownSets, 0);
    assertEquals(c.stats.lost, 0);
  } finally {
    await Promise.all(exporters.map((ex) => ex.close()));
    await c.close();
  }
});

// ---------------------------------------------------------------------------------------------
// Malformed input

const GOOD_HEADER = [0, 10, 0, 16, 0x65, 0x53, 0xf1, 0, 0, 0, 0, 0, 0, 0, 0, 1];

/** Malformed streams: each case is written on its own connection, which the collector closes. */
const STREAM_CASES: [string, Uint8Array][] = [
  ["garbage", Uint8Array.from({ length: 300 }, (_, i) => i === 0 ? 0xde : (i * 7919) & 0xff)],
  ["IPFIX then garbage", new Uint8Array([...message({ templates: [COUNTERS] }), 1, 2, 3, 4])],
  ["message length below 16", new Uint8Array([0, 10, 0, 8, ...GOOD_HEADER.slice(4)])],
  ["NetFlow v9 header", new Uint8Array([0, 9, 0, 20, ...GOOD_HEADER.slice(4), 0, 0, 0, 0])],
  [
    "set length overrunning the message",
    new Uint8Array([0, 10, 0, 28, ...GOOD_HEADER.slice(4), 0, 2, 0, 100, 1, 0, 0, 1, 0, 1, 0, 8]),
  ],
  [
    "set length below 4",
    new Uint8Array([0, 10, 0, 24, ...GOOD_HEADER.slice(4), 1, 0, 0, 2, 0, 0, 0, 0]),
  ],
  [
    "message length above maxMessageSize",
    new Uint8Array([0, 10, 0x9c, 0x40, ...GOOD_HEADER.slice(4), ...new Uint8Array(100)]),
  ],
  [
    "template with an invalid ID",
    new Uint8Array([0, 10, 0, 28, ...GOOD_HEADER.slice(4), 0, 2, 0, 12, 0, 5, 0, 1, 0, 1, 0, 8]),
  ],
];

/**
 * Writes each malformed case on a connection of its own while `good` keeps exporting: each such
 * session is closed and counted, and every good record arrives, in order.
 */
async function malformedStreams(
  c: Collector,
  good: ExportingProcess,
  cases: [string, Uint8Array][],
  connect: () => Promise<Deno.Conn>,
): Promise<void> {
  let sent = 0;
  const sendGood = async (k: number) => {
    for (let i = 0; i < k; i++) good.send(256, antreaRecord(4, sent + i, "good"));
    sent += k;
    await c.waitRecords(sent);
  };
  good.start();
  await sendGood(20);
  for (const [name, bytes] of cases) {
    const before = { ...c.stats };
    const conn = await connect();
    try {
      await writeAll(conn, bytes);
      await closedByPeer(conn, name);
    } finally {
      close(conn);
    }
    await waitFor(() => c.stats.sessionsClosed === before.sessionsClosed + 1, `${name}: closed`);
    assertEquals(c.stats.errors, before.errors + 1, `${name}: errors`);
    assertEquals(c.stats.datagramsDropped, 0);
    await waitFor(() => c.stats.activeSessions === 1, `${name}: session gone`);
    await sendGood(20);
  }
  assertEquals(good.stats.reconnects, 0);
  assertEquals(good.stats.connected, true);
  assertEquals(c.stats.sessionsOpened, 1 + cases.length);
  assertEquals(c.stats.records, sent);
  assertEquals(c.records(), Array.from({ length: sent }, (_, i) => antreaRecord(4, i, "good")));
}

Deno.test("tcp: malformed streams close only their own session, counted; others keep being served", async () => {
  const c = await Collector.start("127.0.0.1:0:tcp", { maxMessageSize: 32768 });
  const good = exporter({
    address: `127.0.0.1:${c.port}:tcp`,
    observationDomainId: 1,
    templates: [antreaFlowTemplate(4)],
  });
  try {
    await malformedStreams(
      c,
      good,
      STREAM_CASES,
      () => Deno.connect({ hostname: "127.0.0.1", port: c.port }),
    );
  } finally {
    await good.close();
    await c.close();
  }
});

Deno.test("tcp: a message of 65535 octets, written in 1000-octet pieces, is reassembled", async () => {
  const c = await Collector.start("127.0.0.1:0:tcp");
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: c.port });
  try {
    const enc = new MessageEncoder({ observationDomainId: 1 });
    enc.addTemplate(COUNTERS);
    const [first] = enc.flush();
    // One record that fills a message exactly.
    const big = { octetDeltaCount: 1, packetDeltaCount: 2, interfaceName: "x".repeat(65535 - 39) };
    enc.addRecord(COUNTERS_C, big);
    const [second] = enc.flush();
    assertEquals(second!.bytes.length, 65535);
    // Delivered in small pieces: the framer reassembles them.
    const all = new Uint8Array([...first!.bytes, ...second!.bytes]);
    for (let off = 0; off < all.length; off += 1000) {
      await writeAll(conn, all.subarray(off, off + 1000));
    }
    await c.waitRecords(1);
    assertEquals(c.records(), [big]);
    assertEquals(c.stats.errors, 0);
  } finally {
    conn.close();
    await c.close();
  }
});

// A stream that ends in the middle of a message lost data: StreamFramer keeps the partial message
// and #serveConn treats the end of stream as a normal close, so nothing counts it.
Deno.test("tcp: a message truncated by the end of the stream is counted as an error", async () => {
  const c = await Collector.start("127.0.0.1:0:tcp");
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: c.port });
  try {
    const whole = message({ templates: [COUNTERS], records: counters(5) });
    await writeAll(conn, message({ templates: [COUNTERS], records: counters(2) }));
    await writeAll(conn, whole.subarray(0, whole.length - 10));
    await c.waitRecords(2);
  } finally {
    conn.close();
  }
  try {
    await waitFor(() => c.stats.activeSessions === 0, "the session to end");
    assertEquals(c.stats.records, 2);
    assertEquals(c.stats.errors, 1, "errors");
  } finally {
    await c.close();
  }
});

Deno.test("udp: malformed datagrams are dropped and counted; good ones around them decode", async () => {
  const c = await Collector.start("127.0.0.1:0:udp");
  const sock = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const to: Deno.NetAddr = { transport: "udp", hostname: "127.0.0.1", port: c.port };
  const garbage = crypto.getRandomValues(new Uint8Array(200));
  garbage[0] = 0xff;
  const ok = message({ templates: [COUNTERS], records: counters(3) });
  const bad: [string, Uint8Array][] = [
    ["garbage", garbage],
    ["5 octets", new Uint8Array([0, 10, 0, 5, 0])],
    ["NetFlow v5", new Uint8Array([0, 5, 0, 1, ...new Uint8Array(44)])],
    ["header longer than the datagram", ok.subarray(0, ok.length - 4)],
    ["trailing octets after the message", new Uint8Array([...ok, 0, 0, 0, 0])],
    [
      "set overrunning the message",
      new Uint8Array([0, 10, 0, 24, ...GOOD_HEADER.slice(4), 1, 0, 0, 40, 0, 0, 0, 0]),
    ],
  ];
  try {
    let seq = 0;
    let expected = 0;
    const sendGood = async (withTemplate: boolean) => {
      await sock.send(
        message({
          sequence: seq,
          ...(withTemplate ? { templates: [COUNTERS] } : {}),
          records: counters(3, seq),
        }),
        to,
      );
      seq += 3;
      expected += 3;
      await c.waitRecords(expected);
    };
    await sendGood(true);
    for (const [name, bytes] of bad) {
      const dropped = c.stats.datagramsDropped;
      await sock.send(bytes, to);
      await waitFor(() => c.stats.datagramsDropped === dropped + 1, `${name}: dropped`);
      // The session keeps its template: data alone decodes.
      await sendGood(false);
    }
    assertEquals(c.stats.datagramsDropped, bad.length);
    assertEquals(c.stats.errors, bad.length);
    assertEquals(c.stats.sessionsClosed, 0);
    assertEquals(c.stats.lost, 0);
    assertEquals(c.records(), counters(seq).map(([, r]) => r));
    const [, s] = sessionsOf(c, "udp")[0]!;
    assertEquals(s.errors, bad.length);
  } finally {
    sock.close();
    await c.close();
  }
});

// ---------------------------------------------------------------------------------------------
// Sequence numbers

Deno.test("tcp: sequence gaps count the missing records per session and domain", async () => {
  const c = await Collector.start("127.0.0.1:0:tcp");
  const a = await Deno.connect({ hostname: "127.0.0.1", port: c.port });
  const b = await Deno.connect({ hostname: "127.0.0.1", port: c.port });
  try {
    // Session a, domain 1: 5, 3, [gap 7] 2, template only, 4, [gap 9] 1.
    // Session a, domain 2: 2, 2, [gap 6] 1.
    const stream = [
      message({ domain: 1, sequence: 0, templates: [COUNTERS], records: counters(5) }),
      message({ domain: 2, sequence: 0, templates: [COUNTERS], records: counters(2) }),
      message({ domain: 1, sequence: 5, records: counters(3) }),
      message({ domain: 1, sequence: 15, records: counters(2) }),
      message({ domain: 2, sequence: 2, records: counters(2) }),
      message({ domain: 1, sequence: 17, templates: [COUNTERS] }),
      message({ domain: 1, sequence: 17, records: counters(4) }),
      message({ domain: 2, sequence: 10, records: counters(1) }),
      message({ domain: 1, sequence: 30, records: counters(1) }),
    ];
    await writeAll(a, new Uint8Array(stream.flatMap((m) => [...m])));
    // Session b starts at an arbitrary number and wraps around 2^32 without a gap.
    const wrap = [
      message({ domain: 1, sequence: 0xfffffffe, templates: [COUNTERS], records: counters(5) }),
      message({ domain: 1, sequence: 3, records: counters(2) }),
    ];
    for (const m of wrap) await writeAll(b, m);
    await c.waitRecords(5 + 2 + 3 + 2 + 2 + 4 + 1 + 1 + 5 + 2);
    assertEquals(c.stats.lost, 7 + 9 + 6);
    const sessions = new Set(c.messages.map((r) => r.from.session));
    assertEquals(sessions.size, 2);
    const sa = c.messages.find((r) => r.msg.observationDomainId === 2)!.from.session;
    const sb = [...sessions].find((s) => s !== sa)!;
    assertEquals(c.process.sessions.get(sa)?.lost, 22);
    assertEquals(c.process.sessions.get(sb)?.lost, 0);
  } finally {
    a.close();
    b.close();
  }
  try {
    await waitFor(() => c.stats.activeSessions === 0, "sessions to end");
    assertEquals(c.stats.lost, 22, "the total stays");
  } finally {
    await c.close();
  }
});

Deno.test("udp: sequence gaps are counted per exporter", async () => {
  const c = await Collector.start("127.0.0.1:0:udp");
  const x = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const y = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const to: Deno.NetAddr = { transport: "udp", hostname: "127.0.0.1", port: c.port };
  try {
    let n = 0;
    const send = async (sock: Deno.DatagramConn, bytes: Uint8Array, records: number) => {
      await sock.send(bytes, to);
      n += records;
      await c.waitRecords(n);
    };
    await send(x, message({ sequence: 100, templates: [COUNTERS], records: counters(10) }), 10);
    await send(y, message({ sequence: 0, templates: [COUNTERS], records: counters(1) }), 1);
    await send(x, message({ sequence: 130, records: counters(10) }), 10); // 20 lost
    await send(y, message({ sequence: 1, records: counters(1) }), 1);
    await send(x, message({ sequence: 140, records: counters(1) }), 1);
    assertEquals(c.stats.lost, 20);
    const sessions = sessionsOf(c, "udp");
    assertEquals(sessions.length, 2);
    const lost = sessions.map(([, s]) => s.lost).sort((p, q) => p - q);
    assertEquals(lost, [0, 20]);
  } finally {
    x.close();
    y.close();
    await c.close();
  }
});

Deno.test({
  name:
    "udp: datagrams the kernel drops on a full socket buffer show in udpBufferDrops and as lost",
  // recvmmsg (the only receiver that reads the kernel's drop counter) needs FFI.
  ignore: Deno.build.os !== "linux" ||
    Deno.permissions.querySync({ name: "ffi" }).state !== "granted",
  async fn() {
    // The smallest socket buffer the kernel allows holds a few datagrams.
    const c = await Collector.start("127.0.0.1:0:udp", { udpReceiveBuffer: 1 });
    const dir = await Deno.makeTempDir({ prefix: "flowvis-drops-" });
    try {
      assertEquals(c.stats.udpBufferDrops, 0);
      // Another process sends 200 datagrams of one record each (sequence 1 to 200, each with
      // its template) while this one's event loop is held, so the collector cannot read them;
      // then, once told, one more (201), after the gap.
      const datagrams = Array.from(
        { length: 201 },
        (_, i) => [...message({ sequence: 1 + i, templates: [COUNTERS], records: counters(1, i) })],
      );
      await Deno.writeTextFile(`${dir}/datagrams.json`, JSON.stringify(datagrams));
      const child = new Deno.Command(Deno.execPath(), {
        args: [
          "eval",
          "--unstable-net",
          `const d = JSON.parse(Deno.readTextFileSync("${dir}/datagrams.json"));
           const s = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
           const to = { transport: "udp", hostname: "127.0.0.1", port: ${c.port} };
           for (const b of d.slice(0, 200)) await s.send(new Uint8Array(b), to);
           Deno.writeTextFileSync("${dir}/sent", "");
           while (true) {
             try { Deno.statSync("${dir}/go"); break; } catch { await new Promise((r) => setTimeout(r, 10)); }
           }
           await s.send(new Uint8Array(d[200]), to);`,
        ],
        stdout: "null",
        stderr: "inherit",
      }).spawn();
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline) {
        try {
          Deno.statSync(`${dir}/sent`);
          break;
        } catch { /* not yet: keep the event loop held */ }
      }
      // Every datagram is either received or counted as dropped (where the kernel delivers
      // loopback datagrams later than send() returns, the count may still grow a little).
      await waitFor(
        () => c.stats.records + c.stats.udpBufferDrops >= 200,
        "every datagram received or dropped",
        WAIT_MS,
        () => c.stats,
      );
      const dropped = c.stats.udpBufferDrops;
      assert(dropped > 0 && dropped < 200, `${dropped} dropped`);
      assertEquals(c.stats.records, 200 - dropped);
      await Deno.writeTextFile(`${dir}/go`, "");
      assertEquals((await child.status).code, 0);
      await c.waitRecords(201 - dropped);
      // The sequence numbers tell the same story.
      assertEquals(c.stats.lost, dropped);
      assertEquals(c.stats.records, 201 - dropped);
      await c.close();
      assertEquals(c.stats.udpBufferDrops, dropped, "readable after close");
    } finally {
      await c.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

// #checkSequence ignores a message that is behind (a late datagram) but still moves the expected
// number back to just after it, so the next in-line message counts the late one's successors
// again as lost.
Deno.test("udp: a late (reordered) datagram is not lost and does not make later ones look lost", async () => {
  const c = await Collector.start("127.0.0.1:0:udp");
  const x = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const to: Deno.NetAddr = { transport: "udp", hostname: "127.0.0.1", port: c.port };
  try {
    let n = 0;
    const send = async (bytes: Uint8Array, records: number) => {
      await x.send(bytes, to);
      n += records;
      await c.waitRecords(n);
    };
    await send(message({ sequence: 0, templates: [COUNTERS], records: counters(10) }), 10);
    await send(message({ sequence: 20, records: counters(10) }), 10); // 10..19 missing so far
    await send(message({ sequence: 10, records: counters(10) }), 10); // here they are, late
    await send(message({ sequence: 30, records: counters(1) }), 1); // in line with 20..29
    assert(c.stats.lost <= 10, `lost: ${c.stats.lost}`);
  } finally {
    x.close();
    await c.close();
  }
});

// ---------------------------------------------------------------------------------------------
// Templates

Deno.test("tcp: a data set before its template is counted in unknownSets and skipped", async () => {
  const c = await Collector.start("127.0.0.1:0:tcp");
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: c.port });
  try {
    await writeAll(conn, message({ sequence: 0, records: counters(3) }));
    await waitFor(() => c.stats.messages === 1, "the first message");
    assertEquals(c.stats.unknownSets, 1);
    assertEquals(c.stats.records, 0);
    const first = c.messages[0]!.msg;
    assertEquals(first.unknownSets.length, 1);
    assertEquals(first.unknownSets[0]!.templateId, 256);
    assertEquals(first.recordCount, 0);
    // The session stays open: the template, then data, decode.
    await writeAll(conn, message({ sequence: 3, templates: [COUNTERS], records: counters(2, 3) }));
    await writeAll(conn, message({ sequence: 5, records: counters(2, 5) }));
    await c.waitRecords(4);
    assertEquals(c.records(), counters(4, 3).map(([, r]) => r));
    assertEquals(c.stats.unknownSets, 1);
    assertEquals(c.stats.errors, 0);
    // Records hidden in unknown sets are not counted as lost.
    assertEquals(c.stats.lost, 0);
    const [, s] = sessionsOf(c, "tcp")[0]!;
    assertEquals(s.unknownSets, 1);
  } finally {
    conn.close();
    await c.close();
  }
});

Deno.test("tcp: templates belong to their session and domain", async () => {
  const c = await Collector.start("127.0.0.1:0:tcp");
  const a = await Deno.connect({ hostname: "127.0.0.1", port: c.port });
  const b = await Deno.connect({ hostname: "127.0.0.1", port: c.port });
  try {
    await writeAll(a, message({ domain: 1, templates: [COUNTERS], records: counters(1) }));
    await c.waitRecords(1);
    // Same template ID on another session, and in another domain of the same session.
    await writeAll(b, message({ domain: 1, records: counters(1) }));
    await writeAll(a, message({ domain: 2, records: counters(1) }));
    await waitFor(() => c.stats.unknownSets === 2, "two unknown sets");
    assertEquals(c.stats.records, 1);
  } finally {
    a.close();
    b.close();
    await c.close();
  }
});

Deno.test("tcp: template withdrawal, withdraw-all and redefinition", async () => {
  const c = await Collector.start("127.0.0.1:0:tcp");
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: c.port });
  const other = templateOf(257, ["sourceIPv4Address", "octetDeltaCount"]);
  const otherC = compileTemplate(other);
  const redefined = templateOf(256, ["destinationIPv6Address"]);
  const redefinedC = compileTemplate(redefined);
  let seq = 0;
  const send = async (opts: Parameters<typeof message>[0]) => {
    await writeAll(conn, message({ sequence: seq, ...opts }));
    seq += opts.records?.length ?? 0;
    const n = c.stats.messages + 1;
    await waitFor(() => c.stats.messages === n, "the message");
    return c.messages.at(-1)!.msg;
  };
  try {
    let m = await send({
      templates: [COUNTERS, other],
      records: [...counters(1), [otherC, { sourceIPv4Address: "10.0.0.1", octetDeltaCount: 5 }]],
    });
    assertEquals(m.recordCount, 2);
    m = await send({ withdraw: [256] });
    assertEquals(m.withdrawals, [256]);
    m = await send({
      records: [...counters(1), [otherC, { sourceIPv4Address: "10.0.0.2", octetDeltaCount: 6 }]],
    });
    assertEquals(m.unknownSets.map((u) => u.templateId), [256]);
    assertEquals(m.dataSets.map((d) => d.templateId), [257]);
    // Template 256 comes back with another layout.
    m = await send({
      templates: [redefined],
      records: [[redefinedC, { destinationIPv6Address: "2001:db8::1" }]],
    });
    assertEquals(m.dataSets[0]!.records, [{ destinationIPv6Address: "2001:db8::1" }]);
    // Withdraw-all (the template set ID) removes every template of the domain.
    m = await send({ withdraw: [2] });
    assertEquals(m.withdrawals, [2]);
    m = await send({
      records: [[redefinedC, { destinationIPv6Address: "2001:db8::2" }], [otherC, {}]],
    });
    assertEquals(m.unknownSets.map((u) => u.templateId), [256, 257]);
    assertEquals(m.recordCount, 0);
    assertEquals(c.stats.errors, 0);
    assertEquals(c.stats.unknownSets, 3);
    assertEquals(c.process.cache.size, 0);
  } finally {
    conn.close();
    await c.close();
  }
});

Deno.test("udp: templates expire after 30 minutes unless refreshed (injected clock)", async () => {
  let now = 1_700_000_000_000;
  const c = await Collector.start("127.0.0.1:0:udp", { clock: () => now });
  const sock = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const to: Deno.NetAddr = { transport: "udp", hostname: "127.0.0.1", port: c.port };
  let seq = 0;
  const send = async (withTemplate: boolean, records: number) => {
    await sock.send(
      message({
        sequence: seq,
        ...(withTemplate ? { templates: [COUNTERS] } : {}),
        records: counters(records, seq),
      }),
      to,
    );
    seq += records;
    const n = c.stats.messages + 1;
    await waitFor(() => c.stats.messages === n, "the datagram");
    return c.messages.at(-1)!.msg;
  };
  try {
    assertEquals((await send(true, 2)).recordCount, 2);
    now += 1_799_000;
    assertEquals((await send(false, 2)).recordCount, 2, "29:59 later the template holds");
    now += 2_000;
    const expired = await send(false, 2);
    assertEquals(expired.recordCount, 0, "30:01 later it has expired");
    assertEquals(expired.unknownSets.map((u) => u.templateId), [256]);
    assertEquals(c.stats.unknownSets, 1);
    // Resent: it decodes again, and a refresh restarts the 30 minutes.
    assertEquals((await send(true, 1)).recordCount, 1);
    now += 1_000_000;
    assertEquals((await send(true, 1)).recordCount, 1);
    now += 1_000_000;
    assertEquals((await send(false, 1)).recordCount, 1, "refreshed 16:40 ago");
    now += 800_001;
    assertEquals((await send(false, 1)).recordCount, 0, "expired 30:00 after the refresh");
    assertEquals(c.stats.unknownSets, 2);
    assertEquals(c.stats.errors, 0);
  } finally {
    sock.close();
    await c.close();
  }
});

Deno.test("udp: an exporter silent for 30 minutes is forgotten, sessions are capped (injected clock)", async () => {
  let now = 1_700_000_000_000;
  const c = await Collector.start("127.0.0.1:0:udp", { clock: () => now, maxUdpSessions: 2 });
  const socks = [0, 1, 2].map(() =>
    Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 })
  );
  const to: Deno.NetAddr = { transport: "udp", hostname: "127.0.0.1", port: c.port };
  const addressOf = (i: number) => `127.0.0.1:${(socks[i]!.addr as Deno.NetAddr).port}`;
  const udpAddresses = () => sessionsOf(c, "udp").map(([, s]) => s.address);
  const send = async (i: number, bytes: Uint8Array) => {
    const seen = c.stats.messages + c.stats.datagramsDropped + c.stats.udpSourcesRefused + 1;
    await socks[i]!.send(bytes, to);
    await waitFor(
      () => c.stats.messages + c.stats.datagramsDropped + c.stats.udpSourcesRefused === seen,
      "the datagram",
    );
  };
  const s = 1000;
  try {
    // A new source that sends no IPFIX message gets no session.
    await send(2, new Uint8Array([1, 2, 3, 4, 5]));
    assertEquals(c.stats.datagramsDropped, 1);
    assertEquals(c.stats.sessionsOpened, 0);

    await send(0, message({ templates: [COUNTERS], records: counters(2) }));
    now += 200 * s;
    await send(1, message({ templates: [COUNTERS], records: counters(1) }));
    assertEquals(c.process.cache.size, 2);
    // A third source while two sessions are held and none has been silent for 5 minutes:
    // dropped and counted, nothing kept of it.
    await send(2, message({ templates: [COUNTERS], records: counters(5) }));
    assertEquals(c.stats.udpSourcesRefused, 1);
    assertEquals(c.stats.records, 3);
    assertEquals(c.process.cache.size, 2);
    assertEquals(udpAddresses(), [addressOf(0), addressOf(1)]);
    // 5:10 after exporter 0's datagram (1:50 after exporter 1's), the full table makes room.
    now += 110 * s;
    await send(2, message({ templates: [COUNTERS], records: counters(5) }));
    assertEquals(c.stats.udpSourcesRefused, 1);
    assertEquals(c.stats.sessionsExpired, 1);
    assertEquals(udpAddresses(), [addressOf(1), addressOf(2)]);
    assertEquals(c.process.cache.size, 2, "exporter 0's template went with its session");

    // 30 minutes after exporter 1's last datagram (28:10 after exporter 2's).
    now += 1690 * s - 1;
    assertEquals(c.process.expire(), 0, "29:59.999 is not yet idle");
    now += 1;
    assertEquals(c.process.expire(), 1);
    assertEquals(c.stats.sessionsExpired, 2);
    assertEquals(udpAddresses(), [addressOf(2)]);
    assertEquals(c.process.cache.size, 1);

    // Exporter 0 comes back without its template: a new session, its data set unknown, and no
    // records counted lost for the jump in its sequence numbers.
    await send(0, message({ sequence: 500, records: counters(1) }));
    assertEquals(c.messages.at(-1)!.msg.unknownSets.map((u) => u.templateId), [256]);
    assertEquals(c.stats.records, 8);
    assertEquals(c.stats.lost, 0);
    assertEquals(c.stats.sessionsOpened, 4);
    assertEquals(c.stats.activeSessions, 2);
    assertEquals(c.stats.errors, 1, "the first datagram, not IPFIX");
  } finally {
    for (const sock of socks) sock.close();
    await c.close();
  }
});

Deno.test("udp: a datagram with octets after its message is dropped before its templates are taken", async () => {
  const c = await Collector.start("127.0.0.1:0:udp");
  const sock = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const to: Deno.NetAddr = { transport: "udp", hostname: "127.0.0.1", port: c.port };
  try {
    const m = message({ templates: [COUNTERS], records: counters(2) });
    const padded = new Uint8Array(m.length + 4);
    padded.set(m);
    await sock.send(padded, to);
    await waitFor(() => c.stats.datagramsDropped === 1, "the datagram dropped");
    await sock.send(message({ sequence: 2, records: counters(1, 2) }), to);
    await waitFor(() => c.stats.messages === 1, "the next datagram");
    assertEquals(c.stats.records, 0);
    assertEquals(c.stats.unknownSets, 1, "the dropped datagram's template was not learned");
    assertEquals(c.process.cache.size, 0);
  } finally {
    sock.close();
    await c.close();
  }
});

Deno.test("tcp: templates never expire on a stream (injected clock)", async () => {
  let now = 1_700_000_000_000;
  const c = await Collector.start("127.0.0.1:0:tcp", { clock: () => now });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: c.port });
  try {
    await writeAll(conn, message({ templates: [COUNTERS], records: counters(1) }));
    await c.waitRecords(1);
    now += 30 * 24 * 3600_000;
    await writeAll(conn, message({ sequence: 1, records: counters(1, 1) }));
    await c.waitRecords(2);
    assertEquals(c.stats.unknownSets, 0);
  } finally {
    conn.close();
    await c.close();
  }
});

// ---------------------------------------------------------------------------------------------
// Exporter: reconnects, buffering, template refresh, bad records

Deno.test("exporter: collector down at start, retries with backoff, then delivers templates first", async () => {
  const port = freeTcpPort();
  const ex = exporter({
    address: `127.0.0.1:${port}:tcp`,
    observationDomainId: 4,
    templates: [antreaFlowTemplate(4), antreaFlowTemplate(6)],
  });
  let c: Collector | undefined;
  try {
    ex.start();
    for (let i = 0; i < 100; i++) {
      ex.send(i % 2 ? 257 : 256, antreaRecord(i % 2 ? 6 : 4, i, "late"));
    }
    await waitFor(
      () => ex.stats.connectFailures >= 3,
      "three failed attempts",
      WAIT_MS,
      () => ex.stats,
    );
    assertEquals(ex.stats.connected, false);
    assertEquals(ex.stats.queued, 100);
    assertEquals(ex.stats.recordsSent, 0);
    c = await Collector.start(`127.0.0.1:${port}:tcp`);
    await c.waitRecords(100);
    const first = c.messages[0]!.msg;
    assertEquals(first.templates.map((t) => t.id), [256, 257], "templates come first");
    assertEquals(c.stats.unknownSets, 0);
    assertEquals(
      c.records(),
      Array.from({ length: 100 }, (_, i) => antreaRecord(i % 2 ? 6 : 4, i, "late")),
      "every buffered record, in order",
    );
    assertEquals(ex.stats.recordsSent, 100);
    assertEquals(ex.stats.reconnects, 0, "a first connection is not a reconnect");
    assertEquals(ex.stats.connected, true);
  } finally {
    await ex.close();
    await c?.close();
  }
});

Deno.test("exporter: collector restarted mid-stream, the exporter reconnects and resends templates", async () => {
  let c = await Collector.start("127.0.0.1:0:tcp");
  const port = c.port;
  const ex = exporter({
    address: `127.0.0.1:${port}:tcp`,
    observationDomainId: 5,
    templates: [antreaFlowTemplate(4)],
  });
  try {
    ex.start();
    for (let i = 0; i < 50; i++) ex.send(256, antreaRecord(4, i, "before"));
    await c.waitRecords(50);
    await c.close();
    await waitFor(() => !ex.stats.connected, "the exporter to notice", WAIT_MS, () => ex.stats);
    // Buffered while the collector is down.
    for (let i = 0; i < 50; i++) ex.send(256, antreaRecord(4, i, "after"));
    await waitFor(() => ex.stats.connectFailures >= 1, "a failed attempt", WAIT_MS, () => ex.stats);
    c = await Collector.start(`127.0.0.1:${port}:tcp`);
    await c.waitRecords(50);
    assert(ex.stats.reconnects >= 1, `reconnects: ${ex.stats.reconnects}`);
    assertEquals(c.messages[0]!.msg.templates.map((t) => t.id), [256]);
    assertEquals(c.stats.unknownSets, 0);
    assertEquals(c.records(), Array.from({ length: 50 }, (_, i) => antreaRecord(4, i, "after")));
    // And the stream goes on.
    for (let i = 50; i < 60; i++) ex.send(256, antreaRecord(4, i, "after"));
    await c.waitRecords(60);
    assertEquals(ex.stats.recordsSent, 110);
    assertEquals(ex.stats.recordsDropped, 0);
  } finally {
    await ex.close();
    await c.close();
  }
});

Deno.test("exporter: TLS reconnects after a collector restart too", async () => {
  const certs = await testCerts();
  let c = await Collector.start("127.0.0.1:0:tls", { tls: certs.server });
  const port = c.port;
  const ex = exporter({
    address: `localhost:${port}:tls`,
    observationDomainId: 5,
    templates: [antreaFlowTemplate(6)],
    tls: { caCerts: [certs.ca] },
  });
  try {
    ex.start();
    ex.send(257, antreaRecord(6, 1, "tls1"));
    await c.waitRecords(1);
    await c.close();
    await waitFor(() => !ex.stats.connected, "the exporter to notice");
    ex.send(257, antreaRecord(6, 2, "tls2"));
    c = await Collector.start(`127.0.0.1:${port}:tls`, { tls: certs.server });
    await c.waitRecords(1);
    assertEquals(c.records(), [antreaRecord(6, 2, "tls2")]);
    assert(ex.stats.reconnects >= 1);
  } finally {
    await ex.close();
    await c.close();
  }
});

Deno.test("exporter: a bounded buffer drops the oldest records while the collector is down", async () => {
  const port = freeTcpPort();
  const warnings: [string, Record<string, unknown> | undefined][] = [];
  const ex = exporter({
    address: `127.0.0.1:${port}:tcp`,
    observationDomainId: 6,
    templates: [COUNTERS],
    bufferLimit: 10,
    logger: { ...silentLogger, warn: (msg, fields) => warnings.push([msg, fields]) },
  });
  let c: Collector | undefined;
  try {
    ex.start();
    for (const [, r] of counters(15)) ex.send(256, r);
    assertEquals(ex.stats.recordsDropped, 5);
    assertEquals(ex.stats.queued, 10);
    // Reported, not only counted: one warning (at most one per 10 s) with the count so far.
    const drops = warnings.filter(([msg]) => msg.startsWith("Buffer full"));
    assertEquals(drops, [["Buffer full, dropping oldest records", {
      collector: `127.0.0.1:${port}:tcp`,
      dropped: 1,
      limit: 10,
    }]]);
    c = await Collector.start(`127.0.0.1:${port}:tcp`);
    await c.waitRecords(10);
    assertEquals(c.records(), counters(10, 5).map(([, r]) => r), "the newest 10");
    assertEquals(ex.stats.recordsSent, 10);
    assertEquals(ex.stats.recordsDropped, 5);
  } finally {
    await ex.close();
    await c?.close();
  }
});

Deno.test("exporter: close() with the collector down counts unsent records", async () => {
  const ex = exporter({
    address: `127.0.0.1:${freeTcpPort()}:tcp`,
    observationDomainId: 6,
    templates: [COUNTERS],
  });
  ex.start();
  for (const [, r] of counters(7)) ex.send(256, r);
  await ex.close(100);
  assertEquals(ex.stats.recordsUnsent, 7);
  assertEquals(ex.stats.queued, 0);
  assertThrows(() => ex.send(256, {}), TypeError, "closed");
  await ex.close(); // twice is fine
});

Deno.test("exporter: argument errors", () => {
  assertThrows(
    () => new ExportingProcess({ address: "fd00::1:4739:tcp:x", observationDomainId: 1 }),
    TypeError,
    "brackets",
  );
  assertThrows(
    () =>
      new ExportingProcess({ address: "127.0.0.1:1:tcp", observationDomainId: 1, bufferLimit: 0 }),
    RangeError,
    "buffer limit",
  );
  assertThrows(
    () => new ExportingProcess({ address: "127.0.0.1:1:udp", observationDomainId: 1, mtu: 100 }),
    RangeError,
    "MTU",
  );
  for (const templateRefreshMs of [0, -1, NaN, Infinity]) {
    assertThrows(
      () =>
        new ExportingProcess({
          address: "127.0.0.1:1:udp",
          observationDomainId: 1,
          templateRefreshMs,
        }),
      RangeError,
      "template refresh interval",
    );
  }
  const ex = new ExportingProcess({ address: "127.0.0.1:1:tcp", observationDomainId: 1 });
  assertThrows(() => ex.send(300, {}), TypeError, "Unknown template 300");
  assertThrows(
    () => new CollectingProcess({ address: "127.0.0.1:0:tls", onMessage: () => {} }),
    TypeError,
    "certificate",
  );
});

Deno.test("exporter: records with invalid values are counted and skipped, the rest are sent", async () => {
  const c = await Collector.start("127.0.0.1:0:udp");
  const ex = exporter({
    address: `127.0.0.1:${c.port}:udp`,
    observationDomainId: 1,
    templates: [COUNTERS],
    mtu: 576,
  });
  try {
    ex.start();
    ex.send(256, { octetDeltaCount: 1, interfaceName: "a" });
    ex.send(256, { octetDeltaCount: -1 });
    ex.send(256, { octetDeltaCount: "many" });
    ex.send(256, { interfaceName: "x".repeat(1000) }); // larger than a 528-octet datagram
    ex.send(256, { octetDeltaCount: 2, interfaceName: "b" });
    assert(await ex.flush(WAIT_MS));
    await c.waitRecords(2);
    assertEquals(c.records(), [
      { octetDeltaCount: 1, packetDeltaCount: 0, interfaceName: "a" },
      { octetDeltaCount: 2, packetDeltaCount: 0, interfaceName: "b" },
    ]);
    assertEquals(ex.stats.recordsInvalid, 3);
    assertEquals(ex.stats.recordsSent, 2);
  } finally {
    await ex.close();
    await c.close();
  }
});

Deno.test("exporter: a template added after start is sent before the records that use it", async () => {
  const c = await Collector.start("127.0.0.1:0:tcp");
  const ex = exporter({
    address: `127.0.0.1:${c.port}:tcp`,
    observationDomainId: 1,
    templates: [COUNTERS],
  });
  try {
    ex.start();
    ex.send(256, { octetDeltaCount: 1 });
    await c.waitRecords(1);
    const late = ex.addTemplate(templateOf(400, ["sourceMacAddress", "flowEndMicroseconds"]));
    ex.send(late, { sourceMacAddress: "02:42:ac:11:00:02", flowEndMicroseconds: 1700000000123456 });
    await c.waitRecords(2);
    assertEquals(c.records(() => true, 400), [
      { sourceMacAddress: "02:42:ac:11:00:02", flowEndMicroseconds: 1700000000123456 },
    ]);
    assertEquals(c.stats.unknownSets, 0);
  } finally {
    await ex.close();
    await c.close();
  }
});

Deno.test("udp exporter: templates go out again ahead of the first records templateRefreshMs later (injected clock)", async (t) => {
  for (const refresh of [undefined, 60_000]) {
    const interval = refresh ?? 600_000;
    await t.step(refresh === undefined ? "the default, 10 minutes" : `${refresh} ms`, async () => {
      let now = 1_700_000_000_000;
      const c = await Collector.start("127.0.0.1:0:udp");
      const ex = exporter({
        address: `127.0.0.1:${c.port}:udp`,
        observationDomainId: 1,
        templates: [COUNTERS, antreaFlowTemplate(6)],
        clock: () => now,
        ...(refresh === undefined ? {} : { templateRefreshMs: refresh }),
      });
      let sent = 0;
      /** Sends one record and returns the template IDs of the message it arrived in. */
      const send = async () => {
        ex.send(256, { octetDeltaCount: ++sent });
        await c.waitRecords(sent);
        const m = c.messages.findLast((r) => r.msg.recordCount > 0)!;
        return m.msg.templates.map((t) => t.id);
      };
      try {
        ex.start();
        assertEquals(await send(), [256, 257], "the first records follow the templates");
        now += interval - 1;
        assertEquals(await send(), [], "1 ms before the interval: no refresh yet");
        now += 1;
        assertEquals(await send(), [256, 257], "the interval after they went out");
        now += 1000;
        assertEquals(await send(), []);
        now += interval;
        assertEquals(await send(), [256, 257], "and again an interval later");
        assertEquals(c.stats.templates, 6);
        assertEquals(c.stats.lost, 0);
      } finally {
        await ex.close();
        await c.close();
      }
    });
  }
});

interopTest(
  "udp collector: a socket buffer smaller than asked for is logged with a hint",
  [needsTool("unshare"), needsRoot("a user namespace without CAP_NET_ADMIN on this network")],
  async () => {
    // In a user namespace the collector lacks CAP_NET_ADMIN on the host's network: the kernel
    // caps what it asks for at net.core.rmem_max (far below the largest size allowed, 1 GiB).
    const asked = UDP_RECEIVE_BUFFER_RANGE.max;
    const out = await new Deno.Command("unshare", {
      args: [
        "-U",
        "-r",
        Deno.execPath(),
        "eval",
        "--unstable-net",
        `const { CollectingProcess } = await import(${
          JSON.stringify(new URL("../src/ipfix/mod.ts", import.meta.url).href)
        });
         const warnings = [];
         const logger = {
           debug() {}, info() {}, error() {},
           warn(msg, fields) { warnings.push({ msg, ...fields }); },
         };
         const c = new CollectingProcess({
           address: "127.0.0.1:0:udp", onMessage() {}, logger, udpReceiveBuffer: ${asked},
         });
         await c.listen();
         await c.close();
         console.log(JSON.stringify(warnings));`,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert(out.success, stderr);
    const warnings = JSON.parse(new TextDecoder().decode(out.stdout));
    assertEquals(warnings.length, 1, JSON.stringify(warnings));
    assertEquals(warnings[0].msg, "UDP socket buffer smaller than asked for");
    assertEquals(warnings[0].asked, asked);
    assert(warnings[0].rcvbuf < 2 * asked, JSON.stringify(warnings[0]));
    assert(/rmem_max/.test(warnings[0].hint), JSON.stringify(warnings[0]));
  },
);
