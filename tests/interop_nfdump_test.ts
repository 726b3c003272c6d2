/**
 * flowvis → nfcapd (nfdump 1.7). flowvis's exporting process sends IPFIX over UDP to a real
 * nfcapd on loopback; nfcapd is stopped with SIGTERM (which flushes its file), then `nfdump -o
 * json` reads the file back: 5-tuples, byte and packet counts (reverse elements become nfdump's
 * out_bytes/out_packets) and flow start/end times must be what flowvis sent.
 *
 * nfcapd 1.7.1 takes flow times from flowStartMilliseconds/flowEndMilliseconds (152/153) but not
 * from flowStartSeconds/flowEndSeconds (150/151, what Antrea's template carries): records of
 * Antrea's template arrive with times of 0 (1970), so their times are not compared here.
 *
 * @module
 */

import {
  antreaFlowTemplate,
  type DataRecord,
  ExportingProcess,
  type Template,
  templateOf,
} from "../src/ipfix/mod.ts";
import { silentLogger } from "../src/log/mod.ts";
import { assert, assertEquals, assertMatch } from "./_assert.ts";
import {
  Background,
  freeUdpPort,
  interopTest,
  needsTool,
  run,
  sleep,
  tempDir,
  tool,
} from "./_tools.ts";

const NFDUMP = [needsTool("nfcapd"), needsTool("nfdump")];

/** Flow records with millisecond times, IPv4 (template 310) and IPv6 (template 311). */
function msTemplate(id: number, v: 4 | 6): Template {
  const ip = v === 4 ? "IPv4" : "IPv6";
  return templateOf(id, [
    "flowStartMilliseconds",
    "flowEndMilliseconds",
    `source${ip}Address`,
    `destination${ip}Address`,
    "sourceTransportPort",
    "destinationTransportPort",
    "protocolIdentifier",
    "tcpControlBits",
    "octetDeltaCount",
    "packetDeltaCount",
    "reverseOctetDeltaCount",
    "reversePacketDeltaCount",
  ]);
}

/** What nfdump should print for a record. */
interface Expected {
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  proto: number;
  inBytes: number;
  inPackets: number;
  outBytes: number;
  outPackets: number;
  /** Start and end in ms since the epoch, when nfcapd can know them. */
  first?: number;
  last?: number;
  tcpFlags?: string;
}

/** One record of `nfdump -o json` (1.7.1), the fields these tests read. */
interface NfdumpRecord {
  type: string;
  first: string;
  last: string;
  in_packets: number;
  in_bytes: number;
  out_packets?: number;
  out_bytes?: number;
  proto: number;
  tcp_flags: string;
  src_port: number;
  dst_port: number;
  src4_addr?: string;
  dst4_addr?: string;
  src6_addr?: string;
  dst6_addr?: string;
}

const T = 1_790_000_000_000;

function msRecord(
  v: 4 | 6,
  src: string,
  dst: string,
  srcPort: number,
  dstPort: number,
  proto: number,
  counts: [number, number, number, number],
  startMs: number,
  durationMs: number,
  tcpControlBits = 0,
): { record: DataRecord; expected: Expected } {
  const ip = v === 4 ? "IPv4" : "IPv6";
  const [inBytes, inPackets, outBytes, outPackets] = counts;
  return {
    record: {
      flowStartMilliseconds: startMs,
      flowEndMilliseconds: startMs + durationMs,
      [`source${ip}Address`]: src,
      [`destination${ip}Address`]: dst,
      sourceTransportPort: srcPort,
      destinationTransportPort: dstPort,
      protocolIdentifier: proto,
      tcpControlBits,
      octetDeltaCount: inBytes,
      packetDeltaCount: inPackets,
      reverseOctetDeltaCount: outBytes,
      reversePacketDeltaCount: outPackets,
    },
    expected: {
      src,
      dst,
      srcPort,
      dstPort,
      proto,
      inBytes,
      inPackets,
      outBytes,
      outPackets,
      first: startMs,
      last: startMs + durationMs,
    },
  };
}

/** nfdump's rendering of TCP flags: "UAPRSF" positions, "." for a flag not set. */
function nfdumpFlags(bits: number): string {
  return ["U", "A", "P", "R", "S", "F"].map((c, i) => bits & (0x20 >> i) ? c : ".").join("")
    .padStart(8, ".");
}

/**
 * Starts nfcapd on `bind`, sends the records with flowvis's ExportingProcess over UDP, stops
 * nfcapd, and returns what `nfdump -o json` reads from its files, with nfcapd's summary line.
 */
async function roundTripThroughNfcapd(
  bind: string,
  templates: Template[],
  records: { templateId: number; record: DataRecord }[],
): Promise<{ flows: NfdumpRecord[]; summary: string }> {
  await using dir = await tempDir("flowvis-nfcapd-");
  const port = freeUdpPort(bind);
  const v6 = bind.includes(":");
  await using nfcapd = Background.start(tool("nfcapd"), [
    ...(v6 ? ["-6"] : ["-4"]),
    "-b",
    bind,
    "-p",
    String(port),
    "-w",
    dir.path,
    "-t",
    "3600",
    "-I",
    "flowvis",
  ]);
  await nfcapd.waitForOutput(/Startup nfcapd/, 10_000);

  const exporter = new ExportingProcess({
    address: `${v6 ? `[${bind}]` : bind}:${port}:udp`,
    observationDomainId: 4242,
    templates,
    logger: silentLogger,
  });
  try {
    exporter.start();
    for (const { templateId, record } of records) exporter.send(templateId, record);
    assert(await exporter.flush(10_000), "the exporter sent every record");
  } finally {
    await exporter.close();
  }
  assertEquals(exporter.stats.recordsSent, records.length, "records sent by flowvis");
  assertEquals(exporter.stats.sendErrors, 0, "send errors");
  // nfcapd drops what is still in its socket buffer when it stops: give it time to read.
  await sleep(500);
  const { status, stderr } = await nfcapd.stop("SIGTERM", 10_000);
  assertEquals(status.code, 0, `nfcapd exit status; stderr:\n${stderr}`);
  const summary = /Ident: 'flowvis' Flows: .*/.exec(stderr)?.[0] ?? "";
  assertMatch(summary, new RegExp(`Flows: ${records.length},`), "nfcapd's own count");

  const files = [];
  for await (const e of Deno.readDir(dir.path)) {
    if (/^nfcapd\.\d{12}$/.test(e.name)) files.push(e.name);
  }
  assert(files.length > 0, `nfcapd wrote a file in ${dir.path}`);
  // `-o json` prints a JSON array (with -q, 1.7.1 leaves out the brackets).
  const { stdout } = await run(tool("nfdump"), ["-R", dir.path, "-o", "json"], {
    env: { TZ: "UTC" },
    timeoutMs: 30_000,
  });
  let flows: NfdumpRecord[];
  try {
    flows = JSON.parse(stdout) as NfdumpRecord[];
  } catch (cause) {
    throw new Error(`nfdump -o json printed no JSON array:\n${stdout.slice(0, 3000)}`, { cause });
  }
  return { flows: flows.filter((f) => f.type === "FLOW"), summary };
}

/** Matches nfdump's records to the expected ones by 5-tuple and compares everything else. */
function assertFlows(flows: NfdumpRecord[], expected: Expected[]): void {
  assertEquals(flows.length, expected.length, "flows nfdump read");
  for (const e of expected) {
    const f = flows.find((f) =>
      (f.src4_addr ?? f.src6_addr) === e.src && (f.dst4_addr ?? f.dst6_addr) === e.dst &&
      f.src_port === e.srcPort && f.dst_port === e.dstPort && f.proto === e.proto
    );
    assert(
      f,
      `nfdump has a flow ${e.src}:${e.srcPort} → ${e.dst}:${e.dstPort} proto ${e.proto}; it has ${
        JSON.stringify(flows, null, 1)
      }`,
    );
    const label = `${e.src}:${e.srcPort} → ${e.dst}:${e.dstPort}`;
    assertEquals(
      {
        inBytes: f.in_bytes,
        inPackets: f.in_packets,
        outBytes: f.out_bytes ?? 0,
        outPackets: f.out_packets ?? 0,
      },
      {
        inBytes: e.inBytes,
        inPackets: e.inPackets,
        outBytes: e.outBytes,
        outPackets: e.outPackets,
      },
      `counters of ${label}`,
    );
    if (e.first !== undefined) {
      assertEquals(
        { first: Date.parse(f.first + "Z"), last: Date.parse(f.last + "Z") },
        { first: e.first, last: e.last },
        `times of ${label} (nfdump: ${f.first} – ${f.last})`,
      );
    }
    if (e.tcpFlags !== undefined) assertEquals(f.tcp_flags, e.tcpFlags, `TCP flags of ${label}`);
  }
}

interopTest(
  "nfcapd stores flowvis's IPv4 and IPv6, TCP and UDP records sent over UDP, and nfdump reads them back",
  NFDUMP,
  async () => {
    const t4 = msTemplate(310, 4);
    const t6 = msTemplate(311, 6);
    const cases = [
      {
        id: 310,
        ...msRecord(
          4,
          "10.10.0.1",
          "10.20.0.2",
          43_210,
          443,
          6,
          [
            123_456_789_012,
            100_000,
            9_876_543,
            80_000,
          ],
          T + 123,
          59_876,
          0x1b,
        ),
      },
      {
        id: 310,
        ...msRecord(4, "192.168.1.5", "224.0.0.251", 5353, 5353, 17, [1_500, 3, 0, 0], T, 0),
      },
      {
        id: 311,
        ...msRecord(
          6,
          "2001:db8::1",
          "2001:db8::2",
          50_000,
          22,
          6,
          [
            4_000_000_000,
            3_000_000,
            77,
            1,
          ],
          T + 999,
          1,
          0x02,
        ),
      },
      {
        id: 311,
        ...msRecord(6, "fd00::5", "fd00:0:0:1::6", 123, 123, 17, [96, 1, 96, 1], T - 3_600_000, 5),
      },
    ];
    for (const c of cases) {
      const bits = Number(c.record.tcpControlBits);
      if (c.expected.proto === 6) c.expected.tcpFlags = nfdumpFlags(bits);
    }
    // Antrea's own template: nfcapd reads its IANA and reverse elements, skips the rest.
    const antrea = {
      flowStartSeconds: T / 1000 - 60,
      flowEndSeconds: T / 1000,
      sourceTransportPort: 41_000,
      destinationTransportPort: 8080,
      protocolIdentifier: 6,
      packetTotalCount: 50,
      octetTotalCount: 50_000,
      packetDeltaCount: 10,
      octetDeltaCount: 10_000,
      sourceIPv4Address: "10.244.1.2",
      destinationIPv4Address: "10.244.2.3",
      reversePacketTotalCount: 40,
      reverseOctetTotalCount: 4_000,
      reversePacketDeltaCount: 8,
      reverseOctetDeltaCount: 800,
      sourcePodName: "client",
      sourcePodNamespace: "default",
      destinationClusterIPv4: "10.96.0.50",
      destinationServicePort: 8080,
      tcpState: "ESTABLISHED",
      flowType: 2,
    };
    const { flows } = await roundTripThroughNfcapd(
      "127.0.0.1",
      [t4, t6, antreaFlowTemplate(4)],
      [
        ...cases.map((c) => ({ templateId: c.id, record: c.record })),
        { templateId: 256, record: antrea },
      ],
    );
    assertFlows(flows, [
      ...cases.map((c) => c.expected),
      {
        src: "10.244.1.2",
        dst: "10.244.2.3",
        srcPort: 41_000,
        dstPort: 8080,
        proto: 6,
        inBytes: 10_000,
        inPackets: 10,
        outBytes: 800,
        outPackets: 8,
      },
    ]);
  },
);

interopTest(
  "nfcapd listening on ::1 receives flowvis's records over UDP/IPv6",
  NFDUMP,
  async () => {
    const t4 = msTemplate(320, 4);
    const t6 = msTemplate(321, 6);
    const a = msRecord(4, "172.16.0.1", "172.16.0.2", 1234, 80, 6, [5_000, 10, 20_000, 12], T, 10);
    const b = msRecord(6, "::1", "::2", 9999, 53, 17, [80, 1, 160, 1], T + 1, 2);
    const { flows } = await roundTripThroughNfcapd("::1", [t4, t6], [
      { templateId: 320, record: a.record },
      { templateId: 321, record: b.record },
    ]);
    assertFlows(flows, [a.expected, b.expected]);
  },
);
