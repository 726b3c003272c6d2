/**
 * flowvis → tshark. flowvis exports IPFIX over UDP on loopback; the datagrams it sent are
 * wrapped in a pcap file (Ethernet/IPv4/UDP) and decoded by tshark's cflow dissector, which must
 * read every field as flowvis meant it: IANA elements, reverse elements (PEN 29305, which tshark
 * knows), Antrea's elements (PEN 56506, which tshark shows as "Project Antrea" entries with their
 * IDs and raw octets), options templates, timestamps of every precision, reduced-size encoding.
 *
 * @module
 */

import {
  antreaFlowTemplate,
  compileTemplate,
  type DataRecord,
  type DecodedMessage,
  defaultRegistry,
  ExportingProcess,
  MessageEncoder,
  type Template,
  templateOf,
  type Value,
} from "../src/ipfix/mod.ts";
import { silentLogger } from "../src/log/mod.ts";
import { assert, assertEquals } from "./_assert.ts";
import { NO_EGRESS_POLICY } from "./_fixtures.ts";
import { parseIPv4, parseIPv6, pcapOfDatagrams } from "./_pcap.ts";
import { assertTsharkAgrees } from "./_tshark.ts";
import { DatagramSink, interopTest, needsTool, tempDir } from "./_tools.ts";

const TSHARK = [needsTool("tshark")];
const utf8 = new TextEncoder();

/**
 * The octets of an Antrea (enterprise) field as the wire must carry them, computed without the
 * flowvis codec: UTF-8 for strings, network order for integers and addresses.
 */
function antreaOctets(name: string, v: Value): Uint8Array {
  const e = defaultRegistry.byName(name);
  if (!e) throw new TypeError(`Unknown element ${name}`);
  switch (e.type) {
    case "string":
      return utf8.encode(String(v));
    case "ipv4Address":
      return parseIPv4(String(v));
    case "ipv6Address":
      return parseIPv6(String(v));
    case "unsigned8":
      return new Uint8Array([Number(v)]);
    case "unsigned16":
      return new Uint8Array([Number(v) >> 8, Number(v) & 0xff]);
    default:
      throw new TypeError(`No independent encoding for ${name} (${e.type})`);
  }
}

/** Wraps the datagrams in a pcap file and has tshark and flowvis decode them. */
async function compareWithTshark(
  dir: string,
  datagrams: { payload: Uint8Array; srcPort: number }[],
  dstPort: number,
  enterpriseOctets?: (name: string, v: Value) => Uint8Array | undefined,
): Promise<{ compared: number; ours: DecodedMessage[] }> {
  const pcap = `${dir}/flowvis.pcap`;
  await Deno.writeFile(
    pcap,
    pcapOfDatagrams(datagrams.map((d, i) => ({
      timeUs: 1_700_000_000_000_000 + i * 1000,
      src: "127.0.0.1",
      dst: "127.0.0.1",
      srcPort: d.srcPort,
      dstPort,
      payload: d.payload,
    }))),
  );
  return await assertTsharkAgrees(pcap, datagrams, [dstPort], { enterpriseOctets });
}

const NOW_S = 1_790_000_000;

/** Records with every field of Antrea's template set, and some with unusual strings. */
function antreaRecords(): { v4: DataRecord[]; v6: DataRecord[] } {
  const common = {
    flowStartSeconds: NOW_S - 60,
    flowEndSeconds: NOW_S,
    flowEndReason: 3,
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
    destinationServicePort: 8443,
    destinationServicePortName: "shop/backend:https",
    ingressNetworkPolicyName: "allow-frontend",
    ingressNetworkPolicyNamespace: "shop",
    ingressNetworkPolicyType: 1,
    ingressNetworkPolicyRuleName: "rule-0",
    ingressNetworkPolicyRuleAction: 1,
    ...NO_EGRESS_POLICY,
    tcpState: "ESTABLISHED",
    flowType: 2,
  };
  return {
    v4: [
      {
        ...common,
        sourceTransportPort: 41_234,
        destinationTransportPort: 8443,
        protocolIdentifier: 6,
        sourceIPv4Address: "10.244.1.17",
        destinationIPv4Address: "10.244.2.33",
        destinationClusterIPv4: "10.96.12.200",
      },
      {
        ...common,
        flowEndReason: 2,
        sourceTransportPort: 53_000,
        destinationTransportPort: 53,
        protocolIdentifier: 17,
        sourceIPv4Address: "10.244.1.18",
        destinationIPv4Address: "10.96.0.10",
        destinationClusterIPv4: "10.96.0.10",
        // UTF-8 beyond ASCII, and a string long enough for the 3-octet length form.
        sourcePodName: "résumé-парсер-😀",
        destinationServicePortName: "kube-system/kube-dns:dns-" + "x".repeat(280),
        egressNetworkPolicyName: "deny-all-egress",
        egressNetworkPolicyNamespace: "shop",
        egressNetworkPolicyType: 3,
        egressNetworkPolicyRuleName: "default-deny",
        egressNetworkPolicyRuleAction: 2,
        tcpState: "",
        flowType: 3,
      },
    ],
    v6: [
      {
        ...common,
        sourceTransportPort: 40_000,
        destinationTransportPort: 443,
        protocolIdentifier: 6,
        sourceIPv6Address: "fd00:10:244:1::11",
        destinationIPv6Address: "2001:db8::8a2e:370:7334",
        destinationClusterIPv6: "fd00:10:96::c8",
      },
    ],
  };
}

interopTest(
  "tshark decodes flowvis's Antrea records sent over UDP: IANA, reverse and Antrea fields",
  TSHARK,
  async () => {
    await using dir = await tempDir("flowvis-tshark-");
    await using sink = new DatagramSink();
    const exporter = new ExportingProcess({
      address: `127.0.0.1:${sink.port}:udp`,
      observationDomainId: 0xa17ea,
      templates: [antreaFlowTemplate(4), antreaFlowTemplate(6)],
      logger: silentLogger,
    });
    const { v4, v6 } = antreaRecords();
    try {
      exporter.start();
      for (const r of v4) exporter.send(256, r);
      for (const r of v6) exporter.send(257, r);
      assert(await exporter.flush(10_000), "the exporter sent every record");
    } finally {
      await exporter.close();
    }
    assertEquals(exporter.stats.recordsSent, v4.length + v6.length, "records sent");
    await sink.waitFor(exporter.stats.messagesSent);
    assertEquals(sink.datagrams.length, exporter.stats.messagesSent, "datagrams received");

    const { compared, ours } = await compareWithTshark(
      dir.path,
      sink.datagrams,
      sink.port,
      antreaOctets,
    );
    // flowvis reads back what it sent.
    const decoded = ours.flatMap((m) => m.dataSets.flatMap((s) => s.records));
    assertEquals(decoded.length, v4.length + v6.length, "records decoded by flowvis");
    const v4Names = compileTemplate(antreaFlowTemplate(4)).names;
    for (const name of v4Names) {
      assertEquals(decoded[0]![name], v4[0]![name as keyof (typeof v4)[0]], `flowvis ${name}`);
    }
    // Every IANA and reverse field of every record, and every non-empty Antrea field.
    const nonEmpty = (r: DataRecord, t: Template) =>
      t.fields.filter((f, i) => {
        const name = compileTemplate(t).names[i]!;
        return f.element.enterpriseId !== 56506 || antreaOctets(name, r[name]!).length > 0;
      }).length;
    const expected = v4.reduce((n, r) => n + nonEmpty(r, antreaFlowTemplate(4)), 0) +
      v6.reduce((n, r) => n + nonEmpty(r, antreaFlowTemplate(6)), 0);
    assertEquals(compared, expected, "fields compared with tshark");
  },
);

interopTest(
  "tshark reads flowvis's timestamps of every precision, reduced-size integers, MAC addresses and options templates",
  TSHARK,
  async () => {
    await using dir = await tempDir("flowvis-tshark-");
    const iana = (id: number, names: string[], lengths: Record<string, number> = {}) => {
      const t = templateOf(id, names);
      return {
        ...t,
        fields: t.fields.map((f) => ({ ...f, length: lengths[f.element.name] ?? f.length })),
      };
    };
    const ms = iana(300, [
      "flowStartMilliseconds",
      "flowEndMilliseconds",
      "sourceIPv4Address",
      "destinationIPv4Address",
      "sourceTransportPort",
      "destinationTransportPort",
      "protocolIdentifier",
      "octetDeltaCount",
      "packetDeltaCount",
      "octetTotalCount",
      "sourceMacAddress",
      "destinationMacAddress",
      "vlanId",
      "ipClassOfService",
      "tcpControlBits",
      "ingressInterface",
      "egressInterface",
      "flowDirection",
      "ipVersion",
    ], { octetDeltaCount: 4, packetDeltaCount: 2, octetTotalCount: 6 });
    const us = iana(301, [
      "flowStartMicroseconds",
      "flowEndMicroseconds",
      "sourceIPv6Address",
      "destinationIPv6Address",
      "sourceTransportPort",
      "destinationTransportPort",
      "protocolIdentifier",
      "octetDeltaCount",
      "packetDeltaCount",
      "reverseOctetDeltaCount",
      "reversePacketDeltaCount",
    ]);
    const ns = iana(302, [
      "flowStartNanoseconds",
      "flowEndNanoseconds",
      "sourceIPv4Address",
      "destinationIPv4Address",
      "protocolIdentifier",
      "octetDeltaCount",
      "packetDeltaCount",
    ]);
    const sysUp = iana(303, [
      "flowStartSysUpTime",
      "flowEndSysUpTime",
      "sourceIPv4Address",
      "destinationIPv4Address",
      "octetDeltaCount",
      "packetDeltaCount",
    ], { octetDeltaCount: 4, packetDeltaCount: 4 });
    const options: Template = {
      ...iana(400, [
        "meteringProcessId",
        "systemInitTimeMilliseconds",
        "samplingPacketInterval",
        "samplingPacketSpace",
        "selectorAlgorithm",
        "interfaceName",
      ], { interfaceName: 16 }),
      scopeFieldCount: 1,
    };
    const records: [Template, DataRecord][] = [
      [ms, {
        flowStartMilliseconds: 1_700_000_000_123,
        flowEndMilliseconds: 1_700_000_059_999,
        sourceIPv4Address: "192.0.2.1",
        destinationIPv4Address: "198.51.100.254",
        sourceTransportPort: 65535,
        destinationTransportPort: 0,
        protocolIdentifier: 6,
        octetDeltaCount: 4_000_000_000,
        packetDeltaCount: 65_535,
        octetTotalCount: 2 ** 47 + 1,
        sourceMacAddress: "02:42:ac:11:00:02",
        destinationMacAddress: "ff:ff:ff:ff:ff:fe",
        vlanId: 4094,
        ipClassOfService: 0xb8,
        tcpControlBits: 0x12,
        ingressInterface: 3,
        egressInterface: 4_294_967_295,
        flowDirection: 1,
        ipVersion: 4,
      }],
      [us, {
        flowStartMicroseconds: 1_700_000_000_123_456,
        flowEndMicroseconds: 1_700_000_000_999_999,
        sourceIPv6Address: "fe80::1",
        destinationIPv6Address: "ff02::1:ff00:1",
        sourceTransportPort: 546,
        destinationTransportPort: 547,
        protocolIdentifier: 17,
        octetDeltaCount: 1,
        packetDeltaCount: 1,
        reverseOctetDeltaCount: 2 ** 53 - 1,
        reversePacketDeltaCount: 0,
      }],
      [ns, {
        flowStartNanoseconds: 1_700_000_000_123_456_789n,
        // After 2036-02-07: NTP era 1, where the 32-bit seconds field wraps. RFC 5905 §6
        flowEndNanoseconds: 2_200_000_000_000_000_001n,
        sourceIPv4Address: "0.0.0.0",
        destinationIPv4Address: "255.255.255.255",
        protocolIdentifier: 1,
        octetDeltaCount: 84,
        packetDeltaCount: 1,
      }],
      [sysUp, {
        flowStartSysUpTime: 0,
        flowEndSysUpTime: 4_294_967_295,
        sourceIPv4Address: "10.0.0.1",
        destinationIPv4Address: "10.0.0.2",
        octetDeltaCount: 4_294_967_295,
        packetDeltaCount: 1,
      }],
      [options, {
        meteringProcessId: 4242,
        systemInitTimeMilliseconds: 1_699_999_000_500,
        samplingPacketInterval: 1,
        samplingPacketSpace: 0,
        selectorAlgorithm: 1,
        interfaceName: "eth0",
      }],
    ];
    const enc = new MessageEncoder({ observationDomainId: 77, clock: () => NOW_S * 1000 });
    for (const [t] of records) enc.addTemplate(t);
    for (const [t, r] of records) enc.addRecord(compileTemplate(t), r);
    const messages = enc.flush();
    assertEquals(messages.length, 1, "one message");
    const { compared, ours } = await compareWithTshark(
      dir.path,
      messages.map((m) => ({ payload: m.bytes, srcPort: 40_000 })),
      4739,
    );
    // flowvis reads back exactly what it wrote.
    assertEquals(
      ours[0]!.dataSets.map((s) => s.records[0]),
      records.map(([, r]) => r),
      "flowvis round trip",
    );
    assertEquals(compared, records.reduce((n, [t]) => n + t.fields.length, 0), "fields compared");
  },
);
