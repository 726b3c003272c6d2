/**
 * softflowd → flowvis. softflowd meters a pcap file of known traffic (TCP, UDP and ICMP over
 * IPv4 and IPv6, crafted here) and exports IPFIX over UDP to flowvis's CollectingProcess on
 * loopback, once per time format (SysUpTime, seconds, milli-, micro-, nanoseconds) and in
 * bidirectional mode (RFC 5103 reverse elements) with Ethernet tracking (MAC addresses). tcpdump
 * captures the datagrams on `lo`; then:
 *
 * - flowvis decoding the captured datagrams gives what the live collector decoded;
 * - tshark decoding the capture agrees with flowvis field by field (headers, templates, records);
 * - the records match the known traffic: 5-tuples, packets, octets, TCP flags, start/end times.
 *
 * softflowd 1.1.0 notes: with `-r` it reads the file, expires every flow and exits; a `-c`
 * after `-r` re-enables the control socket, and softflowd then blocks in accept(), so none is
 * given. Without `-a`, SysUpTime values are relative to the start of softflowd (after the capture),
 * so they wrap around 2^32; `-a` makes the capture's first packet the system init time.
 *
 * @module
 */

import {
  CollectingProcess,
  type DataRecord,
  type DecodedMessage,
  decodeMessage,
  type ExporterInfo,
  TemplateCache,
} from "../src/ipfix/mod.ts";
import { silentLogger } from "../src/log/mod.ts";
import { assert, assertEquals, fail } from "./_assert.ts";
import { macOf, pcapOfPackets, readUdpDatagrams } from "./_pcap.ts";
import { conversations, icmpTotals, knownTraffic, T0_US } from "./_traffic.ts";
import { assertTsharkAgrees } from "./_tshark.ts";
import {
  Background,
  interopTest,
  needsRoot,
  needsTool,
  run,
  tempDir,
  tool,
  waitFor,
} from "./_tools.ts";

const PREREQUISITES = [
  needsTool("softflowd"),
  needsTool("tshark"),
  needsTool("tcpdump"),
  needsRoot("Capturing on lo with tcpdump"),
];

/** A softflowd run: its arguments besides `-r`, `-v 10` and `-n`. */
interface SoftflowdRun {
  name: string;
  args: readonly string[];
  bidirectional: boolean;
}

/** The softflowd runs: IPFIX (`-v 10`) with each time format, and bidirectional. */
const RUNS: readonly SoftflowdRun[] = [
  { name: "SysUpTime (-a)", args: ["-a"], bidirectional: false },
  { name: "seconds", args: ["-A", "sec"], bidirectional: false },
  { name: "milliseconds", args: ["-A", "milli"], bidirectional: false },
  {
    name: "bidirectional, microseconds, Ethernet",
    args: ["-b", "-A", "micro", "-T", "ether"],
    bidirectional: true,
  },
  { name: "nanoseconds", args: ["-A", "nano"], bidirectional: false },
];

/** The decoded content of a message, without the compiled templates. */
function content(m: DecodedMessage) {
  return {
    length: m.length,
    exportTime: m.exportTime,
    sequenceNumber: m.sequenceNumber,
    observationDomainId: m.observationDomainId,
    templates: m.templates,
    withdrawals: m.withdrawals,
    unknownSets: m.unknownSets,
    dataSets: m.dataSets.map((s) => ({ templateId: s.templateId, records: s.records })),
  };
}

/**
 * A record's start and end in microseconds since the epoch, and the resolution of its time
 * format in microseconds.
 */
function recordTimes(
  r: DataRecord,
  systemInitMs: number | undefined,
): { start: number; end: number; unitUs: number } {
  const n = (k: string) => Number(r[k]);
  if ("flowStartSeconds" in r) {
    return { start: n("flowStartSeconds") * 1e6, end: n("flowEndSeconds") * 1e6, unitUs: 1e6 };
  }
  if ("flowStartMilliseconds" in r) {
    return {
      start: n("flowStartMilliseconds") * 1000,
      end: n("flowEndMilliseconds") * 1000,
      unitUs: 1000,
    };
  }
  if ("flowStartMicroseconds" in r) {
    return { start: n("flowStartMicroseconds"), end: n("flowEndMicroseconds"), unitUs: 1 };
  }
  if ("flowStartNanoseconds" in r) {
    // softflowd has microseconds: it writes the NTP fraction of (µs + 1), which reads back as
    // µs + 999 ns. Whole microseconds are what it measured.
    const us = (k: string) => Number((r[k] as bigint) / 1000n);
    return { start: us("flowStartNanoseconds"), end: us("flowEndNanoseconds"), unitUs: 1 };
  }
  if ("flowStartSysUpTime" in r) {
    assert(systemInitMs !== undefined, "systemInitTimeMilliseconds came before the records");
    return {
      start: (systemInitMs + n("flowStartSysUpTime")) * 1000,
      end: (systemInitMs + n("flowEndSysUpTime")) * 1000,
      unitUs: 1000,
    };
  }
  return fail(`No flow times in ${JSON.stringify(Object.keys(r))}`);
}

/** Compares the records of one softflowd run with the known traffic. */
function assertMatchesTraffic(
  run: SoftflowdRun,
  messages: DecodedMessage[],
): void {
  const traffic = knownTraffic();
  const convs = conversations(traffic);
  let systemInitMs: number | undefined;
  const flows: DataRecord[] = [];
  for (const m of messages) {
    for (const s of m.dataSets) {
      for (const r of s.records) {
        if (s.template.template.scopeFieldCount > 0) {
          if ("systemInitTimeMilliseconds" in r) {
            systemInitMs = Number(r.systemInitTimeMilliseconds);
          }
        } else {
          flows.push(r);
        }
      }
    }
  }
  if (run.args.includes("-a")) {
    assertEquals(
      systemInitMs,
      T0_US / 1000,
      `${run.name}: -a makes the first packet the init time`,
    );
  }
  const addr = (r: DataRecord, side: "source" | "destination") =>
    String(r[`${side}IPv4Address`] ?? r[`${side}IPv6Address`]);
  const tcpUdp = flows.filter((r) => r.protocolIdentifier === 6 || r.protocolIdentifier === 17);
  const expectedRecords = run.bidirectional
    ? convs.length
    : convs.reduce((n, c) => n + (c.ab.packets > 0 ? 1 : 0) + (c.ba.packets > 0 ? 1 : 0), 0);
  assertEquals(tcpUdp.length, expectedRecords, `${run.name}: TCP and UDP records`);
  for (const c of convs) {
    const label = `${run.name}: ${c.protocol} ${c.a.addr}:${c.a.port} ⇄ ${c.b.addr}:${c.b.port}`;
    const sides = [
      { from: c.a, to: c.b, fwd: c.ab, rev: c.ba },
      { from: c.b, to: c.a, fwd: c.ba, rev: c.ab },
    ];
    let seen = 0;
    for (const side of sides) {
      const r = tcpUdp.find((r) =>
        r.protocolIdentifier === c.protocol && addr(r, "source") === side.from.addr &&
        r.sourceTransportPort === side.from.port && addr(r, "destination") === side.to.addr &&
        r.destinationTransportPort === side.to.port
      );
      if (!r) continue;
      seen++;
      const got: Record<string, unknown> = {
        packets: r.packetDeltaCount,
        octets: r.octetDeltaCount,
        tcpFlags: r.tcpControlBits,
      };
      const want: Record<string, unknown> = {
        packets: side.fwd.packets,
        octets: side.fwd.octets,
        tcpFlags: side.fwd.tcpFlags,
      };
      if (run.bidirectional) {
        got.reversePackets = r.reversePacketDeltaCount;
        got.reverseOctets = r.reverseOctetDeltaCount;
        got.reverseTcpFlags = r.reverseTcpControlBits;
        want.reversePackets = side.rev.packets;
        want.reverseOctets = side.rev.octets;
        want.reverseTcpFlags = side.rev.tcpFlags;
        got.sourceMacAddress = r.sourceMacAddress;
        got.postDestinationMacAddress = r.postDestinationMacAddress;
        want.sourceMacAddress = macOf(side.from.addr);
        want.postDestinationMacAddress = macOf(side.to.addr);
      }
      // softflowd gives both directions the times of the whole conversation.
      const t = recordTimes(r, systemInitMs);
      got.start = Math.floor(t.start / t.unitUs);
      got.end = Math.floor(t.end / t.unitUs);
      want.start = Math.floor(c.firstUs / t.unitUs);
      want.end = Math.floor(c.lastUs / t.unitUs);
      assertEquals(got, want, `${label}, record ${side.from.addr} → ${side.to.addr}`);
    }
    assertEquals(
      seen,
      run.bidirectional ? 1 : (c.ab.packets > 0 ? 1 : 0) + (c.ba.packets > 0 ? 1 : 0),
      `${label}: records`,
    );
  }
  // ICMP: softflowd keys ICMP flows by type and code; compare the totals per IP version.
  const icmp = icmpTotals(traffic);
  for (const v of [4, 6] as const) {
    const recs = flows.filter((r) => r.protocolIdentifier === (v === 4 ? 1 : 58));
    const sum = (k: string) => recs.reduce((n, r) => n + Number(r[k] ?? 0), 0);
    assertEquals(
      {
        packets: sum("packetDeltaCount") + sum("reversePacketDeltaCount"),
        octets: sum("octetDeltaCount") + sum("reverseOctetDeltaCount"),
      },
      icmp[v],
      `${run.name}: ICMPv${v} totals`,
    );
  }
}

interopTest(
  "softflowd exports known traffic to flowvis's collector; flowvis and tshark agree on the capture",
  PREREQUISITES,
  async () => {
    await using dir = await tempDir("flowvis-softflowd-");
    const trafficPath = `${dir.path}/traffic.pcap`;
    const capturePath = `${dir.path}/capture.pcap`;
    await Deno.writeFile(trafficPath, pcapOfPackets(knownTraffic()));

    const live: { msg: DecodedMessage; from: ExporterInfo }[] = [];
    const collector = new CollectingProcess({
      address: "127.0.0.1:0:udp",
      onMessage: (msg, from) => live.push({ msg, from }),
      logger: silentLogger,
    });
    await collector.listen();
    const port = collector.port;
    let datagramsSent = 0;
    try {
      await using tcpdump = Background.start(tool("tcpdump"), [
        "-i",
        "lo",
        "-n",
        "-U", // write each packet as it arrives
        "-Z",
        "root", // keep the rights to write in our temporary directory
        "-w",
        capturePath,
        `udp and dst host 127.0.0.1 and dst port ${port}`,
      ]);
      await tcpdump.waitForOutput(/listening on lo/, 15_000);
      for (const r of RUNS) {
        const out = await run(tool("softflowd"), [
          "-r",
          trafficPath,
          "-v",
          "10",
          ...r.args,
          "-n",
          `127.0.0.1:${port}`,
        ], { timeoutMs: 20_000 });
        const text = out.stdout + out.stderr;
        const m = /Flows exported: \d+ \(\d+ records\) in (\d+) packets \((\d+) failures\)/.exec(
          text,
        );
        assert(m, `softflowd ${r.args.join(" ")} printed its statistics:\n${text}`);
        assertEquals(Number(m[2]), 0, `softflowd ${r.name}: export failures`);
        datagramsSent += Number(m[1]);
        await waitFor(
          `the collector to receive ${datagramsSent} messages`,
          () => collector.stats.messages >= datagramsSent ? true : undefined,
        );
      }
      await waitFor(`tcpdump to write ${datagramsSent} datagrams`, async () => {
        const file = await Deno.readFile(capturePath).catch(() => new Uint8Array(0));
        if (file.length < 24) return undefined;
        return readUdpDatagrams(file).length >= datagramsSent ? true : undefined;
      });
      const { status, stderr } = await tcpdump.stop("SIGINT");
      assert(status.success, `tcpdump exit status ${status.code}:\n${stderr}`);
    } finally {
      await collector.close();
    }
    assertEquals(collector.stats.errors, 0, "malformed datagrams at the collector");
    assertEquals(collector.stats.unknownSets, 0, "data sets of unknown templates");
    assertEquals(live.length, datagramsSent, "messages at the collector");

    // One UDP session per softflowd run, in run order.
    const sessions: string[] = [];
    for (const { from } of live) if (!sessions.includes(from.address)) sessions.push(from.address);
    assertEquals(sessions.length, RUNS.length, "exporter sessions");

    // The capture holds the same datagrams, and flowvis decodes them as the collector did.
    const captured = readUdpDatagrams(await Deno.readFile(capturePath)).filter((d) =>
      d.dstPort === port
    );
    assertEquals(captured.length, datagramsSent, "datagrams captured");
    const cache = new TemplateCache();
    captured.forEach((d, i) => {
      const offline = decodeMessage(d.payload, cache, { session: d.srcPort });
      const { msg, from } = live[i]!;
      assertEquals(from.address, `127.0.0.1:${d.srcPort}`, `exporter of datagram ${i}`);
      assertEquals(content(offline), content(msg), `datagram ${i}: capture vs live collector`);
    });

    // tshark agrees with flowvis on every header, template and field.
    const { compared } = await assertTsharkAgrees(capturePath, captured, [port], {
      allowSequenceWarnings: true,
    });
    const totalFields = live.reduce(
      (n, { msg }) =>
        n +
        msg.dataSets.reduce((k, s) => k + s.records.length * s.template.template.fields.length, 0),
      0,
    );
    assertEquals(compared, totalFields, "fields compared with tshark");

    // And the records are the known traffic.
    RUNS.forEach((r, i) => {
      const msgs = live.filter(({ from }) => from.address === sessions[i]).map(({ msg }) => msg);
      assertMatchesTraffic(r, msgs);
    });
  },
);
