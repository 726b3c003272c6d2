/**
 * Decoding of IPFIX messages captured from softflowd 1.1.0 (`testdata/softflowd_ipfix_*.hex`,
 * captured by `tests/_capture_softflowd_vectors.ts` from the known traffic of `_traffic.ts`):
 * exact headers, templates and record values; encode → decode → encode round trips with the same
 * templates; flowvis re-encodes softflowd's templates and records octet for octet; truncations
 * are errors of the right class, never crashes.
 *
 * Needs nothing but Deno.
 *
 * @module
 */

import {
  compileTemplate,
  type DataRecord,
  type DecodedMessage,
  decodeMessage,
  MessageEncoder,
  type Template,
  TemplateCache,
} from "../src/ipfix/mod.ts";
import { concat, readVector } from "../src/ipfix/_test_util.ts";
import { assert, assertEquals } from "./_assert.ts";

function decode(bytes: Uint8Array): DecodedMessage {
  return decodeMessage(bytes, new TemplateCache(), { session: "softflowd" });
}

/** Templates as `id/scopeFieldCount: name:length …`. */
function templateSummary(m: DecodedMessage): string[] {
  return m.templates.map((t) =>
    `${t.id}/${t.scopeFieldCount}: ${
      t.fields.map((f) => `${f.element.name}:${f.length}`).join(" ")
    }`
  );
}

const COMMON =
  "octetDeltaCount:4 packetDeltaCount:4 ingressInterface:4 egressInterface:4 flowDirection:1 flowEndReason:1";
const OPTIONS_TEMPLATE = "256/1: meteringProcessId:4 systemInitTimeMilliseconds:8 " +
  "samplingPacketInterval:4 samplingPacketSpace:4 selectorAlgorithm:2 interfaceName:16";

/** softflowd's four templates with the given time fields, and the options template. */
function unidirectionalTemplates(start: string, end: string): string[] {
  const v4 = `sourceIPv4Address:4 destinationIPv4Address:4 ${start} ${end} ${COMMON}`;
  const v6 = `sourceIPv6Address:16 destinationIPv6Address:16 ${start} ${end} ${COMMON}`;
  const ports = "sourceTransportPort:2 destinationTransportPort:2 protocolIdentifier:1 " +
    "tcpControlBits:1 ipVersion:1 ipClassOfService:1";
  return [
    `1024/0: ${v4} ${ports}`,
    `1025/0: ${v4} icmpTypeCodeIPv4:2 protocolIdentifier:1 ipVersion:1 ipClassOfService:1`,
    `2048/0: ${v6} ${ports}`,
    `2049/0: ${v6} icmpTypeCodeIPv6:2 protocolIdentifier:1 ipVersion:1 ipClassOfService:1`,
    OPTIONS_TEMPLATE,
  ];
}

/**
 * The flows of the unidirectional vectors, in message order: [template, source, destination,
 * source port or ICMP type/code, destination port, protocol, octets, packets, flowDirection,
 * flowEndReason, tcpControlBits]. Octets are IP lengths: e.g. 10.1.1.1 → 10.2.2.2 sent
 * SYN, ACK, 120 octets of data, FIN and ACK over TCP: 40 + 40 + 160 + 40 + 40 = 320.
 */
type Row = [number, string, string, number, number, number, number, number, number, number, number];
const UNIDIRECTIONAL_FLOWS: Row[] = [
  [1024, "10.1.1.1", "10.53.53.53", 53001, 53, 17, 68, 1, 0, 1, 0],
  [1024, "10.53.53.53", "10.1.1.1", 53, 53001, 17, 148, 1, 1, 1, 0],
  [1025, "10.1.1.1", "10.2.2.2", 0x0800, 0, 1, 84, 1, 0, 1, 0],
  [1025, "10.2.2.2", "10.1.1.1", 0x0000, 0, 1, 84, 1, 1, 1, 0],
  [2049, "fd00::1", "fd00::10", 0x8000, 0, 58, 64, 1, 0, 1, 0],
  [1024, "10.1.1.1", "10.2.2.2", 40001, 80, 6, 320, 5, 0, 3, 0x1b],
  [1024, "10.2.2.2", "10.1.1.1", 80, 40001, 6, 2160, 4, 1, 3, 0x1b],
  [2048, "fd00::1", "ff02::fb", 5353, 5353, 17, 324, 3, 0, 1, 0],
  [2048, "fd00::10", "fd00::20", 443, 50000, 6, 2180, 3, 0, 1, 0x1a],
  [2048, "fd00::20", "fd00::10", 50000, 443, 6, 697, 3, 1, 1, 0x12],
];

/** The record of a row, with its time fields. */
function flowRecord(row: Row, times: DataRecord): DataRecord {
  const [tid, src, dst, sp, dp, proto, octets, packets, direction, reason, flags] = row;
  const v = tid >= 2048 ? "IPv6" : "IPv4";
  const r: DataRecord = {
    [`source${v}Address`]: src,
    [`destination${v}Address`]: dst,
    ...times,
    octetDeltaCount: octets,
    packetDeltaCount: packets,
    ingressInterface: 0,
    egressInterface: 0,
    flowDirection: direction,
    flowEndReason: reason,
  };
  if (tid === 1025) r.icmpTypeCodeIPv4 = sp;
  else if (tid === 2049) r.icmpTypeCodeIPv6 = sp;
  else {
    r.sourceTransportPort = sp;
    r.destinationTransportPort = dp;
  }
  r.protocolIdentifier = proto;
  if (tid === 1024 || tid === 2048) r.tcpControlBits = flags;
  r.ipVersion = tid >= 2048 ? 6 : 4;
  r.ipClassOfService = 0;
  return r;
}

/** The options record softflowd sends first (the metering process ID is its PID). */
function optionsRecord(meteringProcessId: number): DataRecord {
  return {
    meteringProcessId,
    systemInitTimeMilliseconds: 1_700_000_000_000,
    samplingPacketInterval: 1,
    samplingPacketSpace: 0,
    selectorAlgorithm: 1,
    interfaceName: "traffic.pcap",
  };
}

/** Start and end of each flow of UNIDIRECTIONAL_FLOWS, in microseconds after T0 (22:13:20Z). */
const FLOW_TIMES_US: [number, number][] = [
  [10_500, 40_250],
  [10_500, 40_250],
  [600_000, 600_000],
  [600_400, 600_400],
  [700_000, 700_000],
  [0, 1_502_777],
  [0, 1_502_777],
  [100_000, 2_100_000],
  [400_000, 2_750_123],
  [400_000, 2_750_123],
];

interface UnidirectionalVector {
  file: string;
  length: number;
  meteringProcessId: number;
  start: string;
  end: string;
  /** Literal time values of each flow. */
  times: [number | bigint, number | bigint][];
}

const UNIDIRECTIONAL: UnidirectionalVector[] = [
  {
    file: "softflowd_ipfix_uptime.hex",
    length: 896,
    meteringProcessId: 17475,
    start: "flowStartSysUpTime:4",
    end: "flowEndSysUpTime:4",
    // Milliseconds since systemInitTimeMilliseconds (-a: the first packet).
    times: [
      [10, 40],
      [10, 40],
      [600, 600],
      [600, 600],
      [700, 700],
      [0, 1502],
      [0, 1502],
      [
        100,
        2100,
      ],
      [400, 2750],
      [400, 2750],
    ],
  },
  {
    file: "softflowd_ipfix_sec.hex",
    length: 896,
    meteringProcessId: 17476,
    start: "flowStartSeconds:4",
    end: "flowEndSeconds:4",
    times: [
      [1700000000, 1700000000],
      [1700000000, 1700000000],
      [1700000000, 1700000000],
      [1700000000, 1700000000],
      [1700000000, 1700000000],
      [1700000000, 1700000001],
      [1700000000, 1700000001],
      [1700000000, 1700000002],
      [1700000000, 1700000002],
      [1700000000, 1700000002],
    ],
  },
  {
    file: "softflowd_ipfix_milli.hex",
    length: 976,
    meteringProcessId: 17477,
    start: "flowStartMilliseconds:8",
    end: "flowEndMilliseconds:8",
    times: [
      [1700000000010, 1700000000040],
      [1700000000010, 1700000000040],
      [1700000000600, 1700000000600],
      [1700000000600, 1700000000600],
      [1700000000700, 1700000000700],
      [1700000000000, 1700000001502],
      [1700000000000, 1700000001502],
      [1700000000100, 1700000002100],
      [1700000000400, 1700000002750],
      [1700000000400, 1700000002750],
    ],
  },
  {
    file: "softflowd_ipfix_nano.hex",
    length: 976,
    meteringProcessId: 17479,
    start: "flowStartNanoseconds:8",
    end: "flowEndNanoseconds:8",
    // softflowd writes the NTP fraction of (µs + 1): it reads back as µs + 999 ns.
    times: [
      [1700000000010500999n, 1700000000040250999n],
      [1700000000010500999n, 1700000000040250999n],
      [1700000000600000999n, 1700000000600000999n],
      [1700000000600400999n, 1700000000600400999n],
      [1700000000700000999n, 1700000000700000999n],
      [1700000000000000999n, 1700000001502777999n],
      [1700000000000000999n, 1700000001502777999n],
      [1700000000100000999n, 1700000002100000999n],
      [1700000000400000999n, 1700000002750123999n],
      [1700000000400000999n, 1700000002750123999n],
    ],
  },
];

for (const v of UNIDIRECTIONAL) {
  Deno.test(`softflowd vector ${v.file}: header, templates and every record value`, async () => {
    const m = decode(await readVector(v.file));
    assertEquals(
      {
        version: m.version,
        length: m.length,
        exportTime: m.exportTime,
        sequenceNumber: m.sequenceNumber,
        observationDomainId: m.observationDomainId,
        recordCount: m.recordCount,
        unknownSets: m.unknownSets,
        withdrawals: m.withdrawals,
        reservedSets: m.reservedSets,
      },
      {
        version: 10,
        length: v.length,
        exportTime: 1_700_000_002,
        // softflowd counts the flow records of this message too (RFC 7011 says: before it).
        sequenceNumber: 10,
        observationDomainId: 0,
        recordCount: 11,
        unknownSets: [],
        withdrawals: [],
        reservedSets: 0,
      },
    );
    const [startName] = v.start.split(":");
    const [endName] = v.end.split(":");
    assertEquals(templateSummary(m), unidirectionalTemplates(v.start, v.end));
    assertEquals(m.dataSets.map((s) => s.templateId), [256, 1024, 1025, 2049, 1024, 2048]);
    const records = m.dataSets.flatMap((s) => s.records);
    assertEquals(records, [
      optionsRecord(v.meteringProcessId),
      ...UNIDIRECTIONAL_FLOWS.map((row, i) =>
        flowRecord(row, { [startName!]: v.times[i]![0], [endName!]: v.times[i]![1] })
      ),
    ]);
    // The times are those of the known traffic, in each format's unit.
    const T0_US = 1_700_000_000_000_000;
    FLOW_TIMES_US.forEach(([s, e], i) => {
      const [gs, ge] = v.times[i]!;
      const toUs = (x: number | bigint) =>
        startName === "flowStartSysUpTime"
          ? T0_US + Number(x) * 1000
          : startName === "flowStartSeconds"
          ? Number(x) * 1e6
          : startName === "flowStartMilliseconds"
          ? Number(x) * 1000
          : Number(BigInt(x) / 1000n);
      const unit = startName === "flowStartSeconds"
        ? 1e6
        : startName === "flowStartNanoseconds"
        ? 1
        : 1000;
      assertEquals(
        [toUs(gs) / unit, toUs(ge) / unit],
        [Math.floor((T0_US + s) / unit), Math.floor((T0_US + e) / unit)],
        `times of flow ${i}`,
      );
    });
  });
}

Deno.test("softflowd vector softflowd_ipfix_bidir_micro_ether.hex: RFC 5103 reverse elements, MAC addresses, microseconds", async () => {
  const m = decode(await readVector("softflowd_ipfix_bidir_micro_ether.hex"));
  assertEquals(
    [m.length, m.exportTime, m.sequenceNumber, m.observationDomainId, m.recordCount],
    [1176, 1_700_000_002, 7, 0, 8],
  );
  const ether = "vlanId:2 postVlanId:2 sourceMacAddress:6 postDestinationMacAddress:6 " +
    "reverseOctetDeltaCount:4 reversePacketDeltaCount:4 reverseIpClassOfService:1";
  const times = "flowStartMicroseconds:8 flowEndMicroseconds:8";
  const v4 = `sourceIPv4Address:4 destinationIPv4Address:4 ${times} ${COMMON}`;
  const v6 = `sourceIPv6Address:16 destinationIPv6Address:16 ${times} ${COMMON}`;
  const ports = "sourceTransportPort:2 destinationTransportPort:2 protocolIdentifier:1 " +
    "tcpControlBits:1 ipVersion:1 ipClassOfService:1";
  assertEquals(templateSummary(m), [
    `1024/0: ${v4} ${ports} ${ether} reverseTcpControlBits:1`,
    `1025/0: ${v4} icmpTypeCodeIPv4:2 protocolIdentifier:1 ipVersion:1 ipClassOfService:1 ${ether} reverseIcmpTypeCodeIPv4:2`,
    `2048/0: ${v6} ${ports} ${ether} reverseTcpControlBits:1`,
    `2049/0: ${v6} icmpTypeCodeIPv6:2 protocolIdentifier:1 ipVersion:1 ipClassOfService:1 ${ether} reverseIcmpTypeCodeIPv6:2`,
    OPTIONS_TEMPLATE,
  ]);
  // The reverse elements are registered under enterprise 29305 with the IANA IDs.
  const t1024 = m.templates[0]!;
  assertEquals(
    t1024.fields.slice(-4).map((f) => [f.element.enterpriseId, f.element.id, f.element.type]),
    // reverseTcpControlBits is unsigned16 since RFC 7125; softflowd sends it in one octet.
    [[29305, 1, "unsigned64"], [29305, 2, "unsigned64"], [29305, 5, "unsigned8"], [
      29305,
      6,
      "unsigned16",
    ]],
  );
  const base = {
    ingressInterface: 0,
    egressInterface: 0,
    flowDirection: 0,
    ipClassOfService: 0,
    vlanId: 0,
    postVlanId: 0,
    reverseIpClassOfService: 0,
  };
  assertEquals(m.dataSets.flatMap((s) => s.records), [
    optionsRecord(17478),
    {
      ...base,
      sourceIPv4Address: "10.1.1.1",
      destinationIPv4Address: "10.53.53.53",
      flowStartMicroseconds: 1700000000010500,
      flowEndMicroseconds: 1700000000040250,
      octetDeltaCount: 68,
      packetDeltaCount: 1,
      flowEndReason: 1,
      sourceTransportPort: 53001,
      destinationTransportPort: 53,
      protocolIdentifier: 17,
      tcpControlBits: 0,
      ipVersion: 4,
      sourceMacAddress: "02:00:0a:01:01:01",
      postDestinationMacAddress: "02:00:0a:35:35:35",
      reverseOctetDeltaCount: 148,
      reversePacketDeltaCount: 1,
      reverseTcpControlBits: 0,
    },
    {
      ...base,
      sourceIPv4Address: "10.1.1.1",
      destinationIPv4Address: "10.2.2.2",
      flowStartMicroseconds: 1700000000600000,
      flowEndMicroseconds: 1700000000600000,
      octetDeltaCount: 84,
      packetDeltaCount: 1,
      flowEndReason: 1,
      icmpTypeCodeIPv4: 0x0800,
      protocolIdentifier: 1,
      ipVersion: 4,
      sourceMacAddress: "02:00:0a:01:01:01",
      postDestinationMacAddress: "02:00:0a:02:02:02",
      reverseOctetDeltaCount: 0,
      reversePacketDeltaCount: 0,
      reverseIcmpTypeCodeIPv4: 0x0800,
    },
    {
      // The echo reply (type 0) is a flow of its own, seen in the reverse direction only.
      ...base,
      sourceIPv4Address: "10.1.1.1",
      destinationIPv4Address: "10.2.2.2",
      flowStartMicroseconds: 1700000000600400,
      flowEndMicroseconds: 1700000000600400,
      octetDeltaCount: 0,
      packetDeltaCount: 0,
      flowEndReason: 1,
      icmpTypeCodeIPv4: 0,
      protocolIdentifier: 1,
      ipVersion: 4,
      sourceMacAddress: "02:00:0a:01:01:01",
      postDestinationMacAddress: "02:00:0a:02:02:02",
      reverseOctetDeltaCount: 84,
      reversePacketDeltaCount: 1,
      reverseIcmpTypeCodeIPv4: 0,
    },
    {
      ...base,
      sourceIPv6Address: "fd00::1",
      destinationIPv6Address: "fd00::10",
      flowStartMicroseconds: 1700000000700000,
      flowEndMicroseconds: 1700000000700000,
      octetDeltaCount: 64,
      packetDeltaCount: 1,
      flowEndReason: 1,
      icmpTypeCodeIPv6: 0x8000,
      protocolIdentifier: 58,
      ipVersion: 6,
      sourceMacAddress: "02:00:00:00:00:01",
      postDestinationMacAddress: "02:00:00:00:00:10",
      reverseOctetDeltaCount: 0,
      reversePacketDeltaCount: 0,
      reverseIcmpTypeCodeIPv6: 0x8000,
    },
    {
      ...base,
      sourceIPv4Address: "10.1.1.1",
      destinationIPv4Address: "10.2.2.2",
      flowStartMicroseconds: 1700000000000000,
      flowEndMicroseconds: 1700000001502777,
      octetDeltaCount: 320,
      packetDeltaCount: 5,
      flowEndReason: 3,
      sourceTransportPort: 40001,
      destinationTransportPort: 80,
      protocolIdentifier: 6,
      tcpControlBits: 0x1b,
      ipVersion: 4,
      sourceMacAddress: "02:00:0a:01:01:01",
      postDestinationMacAddress: "02:00:0a:02:02:02",
      reverseOctetDeltaCount: 2160,
      reversePacketDeltaCount: 4,
      reverseTcpControlBits: 0x1b,
    },
    {
      ...base,
      sourceIPv6Address: "fd00::1",
      destinationIPv6Address: "ff02::fb",
      flowStartMicroseconds: 1700000000100000,
      flowEndMicroseconds: 1700000002100000,
      octetDeltaCount: 324,
      packetDeltaCount: 3,
      flowEndReason: 1,
      sourceTransportPort: 5353,
      destinationTransportPort: 5353,
      protocolIdentifier: 17,
      tcpControlBits: 0,
      ipVersion: 6,
      sourceMacAddress: "02:00:00:00:00:01",
      postDestinationMacAddress: "02:00:00:00:00:fb",
      reverseOctetDeltaCount: 0,
      reversePacketDeltaCount: 0,
      reverseTcpControlBits: 0,
    },
    {
      // softflowd puts the lower address first: the server's side is "forward".
      ...base,
      sourceIPv6Address: "fd00::10",
      destinationIPv6Address: "fd00::20",
      flowStartMicroseconds: 1700000000400000,
      flowEndMicroseconds: 1700000002750123,
      octetDeltaCount: 2180,
      packetDeltaCount: 3,
      flowEndReason: 1,
      sourceTransportPort: 443,
      destinationTransportPort: 50000,
      protocolIdentifier: 6,
      tcpControlBits: 0x1a,
      ipVersion: 6,
      sourceMacAddress: "02:00:00:00:00:10",
      postDestinationMacAddress: "02:00:00:00:00:20",
      reverseOctetDeltaCount: 697,
      reversePacketDeltaCount: 3,
      reverseTcpControlBits: 0x12,
    },
  ]);
});

const ALL = [
  "softflowd_ipfix_uptime.hex",
  "softflowd_ipfix_sec.hex",
  "softflowd_ipfix_milli.hex",
  "softflowd_ipfix_bidir_micro_ether.hex",
  "softflowd_ipfix_nano.hex",
];

/** The sets of a message: ID and body, in order. */
function sets(bytes: Uint8Array): { id: number; body: Uint8Array }[] {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: { id: number; body: Uint8Array }[] = [];
  for (let o = 16; o < dv.getUint16(2);) {
    const len = dv.getUint16(o + 2);
    out.push({ id: dv.getUint16(o), body: bytes.subarray(o + 4, o + len) });
    o += len;
  }
  return out;
}

/** Re-encodes a decoded message with its own templates, header fields and records. */
function reencode(m: DecodedMessage): Uint8Array {
  const enc = new MessageEncoder({
    observationDomainId: m.observationDomainId,
    sequenceNumber: m.sequenceNumber,
    clock: () => m.exportTime * 1000,
  });
  for (const t of m.templates) enc.addTemplate(t);
  const compiled = new Map(m.templates.map((t) => [t.id, compileTemplate(t)]));
  for (const s of m.dataSets) {
    for (const r of s.records) enc.addRecord(compiled.get(s.templateId)!, r);
  }
  const out = enc.flush();
  assertEquals(out.length, 1, "one message");
  return out[0]!.bytes;
}

/**
 * A copy of a data set body with the fraction octets of its dateTimeMicroseconds and
 * dateTimeNanoseconds fields zeroed. flowvis holds these as whole µs and ns, coarser than the
 * NTP fraction (2^-32 s), so it writes its own fraction for the same value: softflowd writes
 * that of µs + 1, which reads back as the same µs. The seconds octets must still match.
 */
function maskNtpFractions(body: Uint8Array, template: Template): Uint8Array {
  const out = body.slice();
  const recordLength = template.fields.reduce((n, f) => n + f.length, 0);
  for (let r = 0; r + recordLength <= out.length; r += recordLength) {
    let o = r;
    for (const f of template.fields) {
      if (f.element.type === "dateTimeMicroseconds" || f.element.type === "dateTimeNanoseconds") {
        out.fill(0, o + 4, o + 8);
      }
      o += f.length;
    }
  }
  return out;
}

for (const file of ALL) {
  Deno.test(`softflowd vector ${file}: encode → decode → encode round trip with its templates`, async () => {
    const original = await readVector(file);
    const first = decode(original);
    const bytes1 = reencode(first);
    const second = decode(bytes1);
    assertEquals(second.templates, first.templates, "templates");
    assertEquals(
      second.dataSets.map((s) => [s.templateId, s.records]),
      first.dataSets.map((s) => [s.templateId, s.records]),
      "records",
    );
    assertEquals(
      [second.exportTime, second.sequenceNumber, second.observationDomainId],
      [first.exportTime, first.sequenceNumber, first.observationDomainId],
      "header",
    );
    assertEquals(reencode(second), bytes1, "encode → decode → encode gives the same octets");

    // Octet for octet: the same header (but the length), the same template records (softflowd
    // puts each template in a set of its own, flowvis groups them), and the same data records
    // (softflowd pads data sets to 4 octets with zeros, flowvis does not pad), but for the NTP
    // fractions of µs and ns timestamps.
    assertEquals(bytes1.subarray(4, 16), original.subarray(4, 16), "header after the length");
    const ours = sets(bytes1);
    const theirs = sets(original);
    for (const id of [2, 3]) {
      assertEquals(
        concat(...ours.filter((s) => s.id === id).map((s) => s.body)),
        concat(...theirs.filter((s) => s.id === id).map((s) => s.body)),
        `template records of set ID ${id}`,
      );
    }
    const ourData = ours.filter((s) => s.id >= 256);
    const theirData = theirs.filter((s) => s.id >= 256);
    assertEquals(ourData.map((s) => s.id), theirData.map((s) => s.id), "data set IDs");
    const templates = new Map(first.templates.map((t) => [t.id, t]));
    ourData.forEach((s, i) => {
      const t = theirData[i]!;
      const template = templates.get(s.id)!;
      assertEquals(
        maskNtpFractions(t.body.subarray(0, s.body.length), template),
        maskNtpFractions(s.body, template),
        `data set ${i} (${s.id})`,
      );
      const padding = t.body.subarray(s.body.length);
      assert(padding.length < 4 && padding.every((b) => b === 0), `padding of data set ${i}`);
    });
  });
}

Deno.test("softflowd vectors: every truncation and every corrupted set length is a RangeError or SyntaxError, or decodes", async () => {
  for (const file of ALL) {
    const original = await readVector(file);
    for (let n = 0; n < original.length; n++) {
      // Cut the message at n octets and make the header agree, so the decoder walks the sets.
      const cut = original.slice(0, n);
      if (n >= 4) new DataView(cut.buffer).setUint16(2, n);
      try {
        decode(cut);
      } catch (e) {
        assert(
          e instanceof RangeError || e instanceof SyntaxError,
          `${file} cut at ${n}: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`,
        );
      }
    }
    for (const { id } of sets(original)) {
      for (const len of [0, 1, 3, 5, 0xffff]) {
        const bad = original.slice();
        const dv = new DataView(bad.buffer);
        for (let o = 16; o < bad.length; o += dv.getUint16(o + 2)) {
          if (dv.getUint16(o) !== id) continue;
          dv.setUint16(o + 2, len);
          break;
        }
        try {
          decode(bad);
        } catch (e) {
          assert(
            e instanceof RangeError || e instanceof SyntaxError,
            `${file} set ${id} length ${len}: ${e instanceof Error ? e.name : String(e)}`,
          );
        }
      }
    }
  }
});
