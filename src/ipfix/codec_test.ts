import { Rng } from "../random/mod.ts";
import {
  ALL_TYPES_FIELDS,
  ALL_TYPES_TEMPLATE_ID,
  allTypesRecords,
  allTypesTemplate,
  antreaRecord,
  DOC_PEN,
  statsOptionsTemplate,
  TEST_REGISTRY,
} from "./_fuzz_corpus.ts";
import {
  assert,
  assertEquals,
  assertStrictEquals,
  assertThrows,
  show,
} from "../../tests/_assert.ts";
import { NO_EGRESS_POLICY, NO_INGRESS_POLICY } from "../../tests/_fixtures.ts";
import { hex, readVector } from "./_test_util.ts";
import { antreaFlowElementNames, antreaFlowTemplate, templateOf } from "./antrea_templates.ts";
import { type CompiledTemplate, compileTemplate } from "./compile.ts";
import { type DecodedMessage, decodeHeader, decodeMessage } from "./decoder.ts";
import {
  type EncodedMessage,
  MAX_MESSAGE_SIZE,
  MessageEncoder,
  udpMessageSize,
} from "./encoder.ts";
import { MalformedError, TruncatedError } from "./errors.ts";
import { defaultRegistry, type Registry, unknownElement } from "./registry.ts";
import { TemplateCache, UDP_TEMPLATE_LIFETIME_MS } from "./template_cache.ts";
import {
  ANTREA_PEN,
  type DataRecord,
  MESSAGE_HEADER_LENGTH,
  REVERSE_PEN,
  type Template,
} from "./types.ts";

/** 2023-11-14T22:13:20Z, the export time of every message built here. */
const FIXED_MS = 1_700_000_000_000;
const clock = () => FIXED_MS;

/** A message header with the right length, followed by hand-written sets. */
function ipfix(sets: string, opts: { domain?: number; seq?: number; time?: number } = {}) {
  const body = hex(sets);
  const out = new Uint8Array(16 + body.length);
  const dv = new DataView(out.buffer);
  dv.setUint16(0, 10);
  dv.setUint16(2, out.length);
  dv.setUint32(4, opts.time ?? FIXED_MS / 1000);
  dv.setUint32(8, opts.seq ?? 0);
  dv.setUint32(12, opts.domain ?? 1);
  out.set(body, 16);
  return out;
}

function decode(
  bytes: Uint8Array,
  cache = new TemplateCache(),
  registry: Registry = TEST_REGISTRY,
  session = "s",
): DecodedMessage {
  return decodeMessage(bytes, cache, { session, registry });
}

function encoder(opts: { maxMessageSize?: number; seq?: number; domain?: number } = {}) {
  return new MessageEncoder({
    observationDomainId: opts.domain ?? 1,
    maxMessageSize: opts.maxMessageSize,
    sequenceNumber: opts.seq,
    clock,
  });
}

/** Encodes templates and records with a fresh encoder; expects one message. */
function encodeOne(
  templates: readonly Template[],
  records: readonly [CompiledTemplate, DataRecord][],
  opts: { seq?: number; domain?: number } = {},
): Uint8Array {
  const enc = encoder(opts);
  for (const t of templates) enc.addTemplate(t);
  for (const [t, r] of records) enc.addRecord(t, r);
  const out = enc.flush();
  assertStrictEquals(out.length, 1, "one message");
  return out[0]!.bytes;
}

/** Re-encodes a decoded message (its templates, then its records) the way the encoder would. */
function reencode(d: DecodedMessage): Uint8Array {
  return encodeOne(
    d.templates,
    d.dataSets.flatMap((s) =>
      s.records.map((r): [CompiledTemplate, DataRecord] => [s.template, r])
    ),
    { seq: d.sequenceNumber, domain: d.observationDomainId },
  );
}

/** The encoded size of one record. */
function recordSize(t: CompiledTemplate, r: DataRecord): number {
  const buf = new Uint8Array(2 * 65536);
  return t.encode(new DataView(buf.buffer), buf, 0, buf.length, r);
}

const el = (name: string) => {
  const e = TEST_REGISTRY.byName(name);
  if (!e) throw new TypeError(`No element ${name}`);
  return e;
};

// ---------------------------------------------------------------------------------------------
// Round trips

Deno.test("all-types template: encode → decode → encode gives the same bytes", () => {
  const t = compileTemplate(allTypesTemplate());
  const records = allTypesRecords();
  const bytes = encodeOne([t.template], records.map((r) => [t, r]));
  const d = decode(bytes);
  assertStrictEquals(d.version, 10);
  assertStrictEquals(d.length, bytes.length);
  assertStrictEquals(d.exportTime, 1_700_000_000);
  assertStrictEquals(d.sequenceNumber, 0);
  assertStrictEquals(d.observationDomainId, 1);
  assertStrictEquals(d.recordCount, 2);
  assertEquals(d.templates, [t.template]);
  assertEquals(d.withdrawals, []);
  assertEquals(d.unknownSets, []);
  assertStrictEquals(d.reservedSets, 0);
  assertStrictEquals(d.dataSets.length, 1);
  assertStrictEquals(d.dataSets[0]!.templateId, ALL_TYPES_TEMPLATE_ID);
  assertEquals(d.dataSets[0]!.template.names, ALL_TYPES_FIELDS.map(([n]) => n));
  // Values come back exactly, bigint and number where they were.
  assertEquals(d.dataSets[0]!.records, records);
  assertEquals(reencode(d), bytes);
});

Deno.test("all-types template: the element table covers every abstract data type", () => {
  const types = new Set(allTypesTemplate().fields.map((f) => f.element.type));
  for (
    const type of [
      "unsigned8",
      "unsigned16",
      "unsigned32",
      "unsigned64",
      "signed8",
      "signed16",
      "signed32",
      "signed64",
      "float32",
      "float64",
      "boolean",
      "macAddress",
      "octetArray",
      "string",
      "dateTimeSeconds",
      "dateTimeMilliseconds",
      "dateTimeMicroseconds",
      "dateTimeNanoseconds",
      "ipv4Address",
      "ipv6Address",
      "unsigned256",
    ]
  ) {
    assert(types.has(type as never), `no ${type} field`);
  }
  const pens = new Set(allTypesTemplate().fields.map((f) => f.element.enterpriseId));
  for (const pen of [0, ANTREA_PEN, REVERSE_PEN, DOC_PEN, 4242]) assert(pens.has(pen), `${pen}`);
});

Deno.test("enterprise-specific elements resolve to their registries", () => {
  const d = decode(encodeOne([allTypesTemplate()], []));
  const byName = new Map(d.templates[0]!.fields.map((f) => [f.element.name, f.element]));
  for (
    const [name, id, enterpriseId, type] of [
      ["sourcePodName", 101, ANTREA_PEN, "string"],
      ["ingressNetworkPolicyRulePriority", 116, ANTREA_PEN, "signed32"],
      ["reverseOctetDeltaCount", 1, REVERSE_PEN, "unsigned64"],
      ["unknown:4242:7", 7, 4242, "octetArray"],
    ] as const
  ) {
    assertEquals(byName.get(name), { name, id, enterpriseId, type });
  }
  assertEquals(unknownElement(4242, 7), byName.get("unknown:4242:7")!);
});

Deno.test("unknown elements decode as octetArray and re-encode to the same bytes", () => {
  // Decoded with the default registry, the PEN 32473 test elements are unknown too.
  const t = compileTemplate(allTypesTemplate());
  const bytes = encodeOne([t.template], allTypesRecords().map((r) => [t, r]));
  const d = decode(bytes, new TemplateCache(), defaultRegistry);
  const rec = d.dataSets[0]!.records[0]!;
  assertEquals(rec["unknown:32473:1"], hex("80")); // testSigned8 = -128
  assertEquals(rec["unknown:32473:2"], hex("8000")); // testSigned16 = -32768
  assertEquals(rec["unknown:32473:4"], hex("8000000000000000"));
  assertEquals(rec["unknown:32473:5"], hex("3fc00000")); // testFloat32 = 1.5
  assertEquals(rec["unknown:4242:7"], hex("deadbeef"));
  assertStrictEquals(rec.sourcePodName, "frontend-日本-😀");
  assertEquals(reencode(d), bytes);
});

Deno.test("variable-length fields use the 1-octet length below 255 and 3 octets from 255", () => {
  const t = compileTemplate(templateOf(256, ["interfaceName", "opaqueOctets"]));
  for (const n of [0, 1, 83, 84, 85, 200, 254, 255, 256, 1000, 30000]) {
    const s = "x".repeat(n);
    const b = new Uint8Array(n).fill(7);
    const bytes = encodeOne([t.template], [[t, { interfaceName: s, opaqueOctets: b }]]);
    const prefix = n < 255 ? [n] : [255, n >> 8, n & 0xff];
    const at = 16 + 4 + 12 + 4; // header, template set, data set header
    assertEquals(Array.from(bytes.subarray(at, at + prefix.length)), prefix, `string of ${n}`);
    const at2 = at + prefix.length + n;
    assertEquals(Array.from(bytes.subarray(at2, at2 + prefix.length)), prefix, `octets of ${n}`);
    const d = decode(bytes);
    assertEquals(d.dataSets[0]!.records, [{ interfaceName: s, opaqueOctets: b }]);
    assertEquals(reencode(d), bytes);
  }
  // Multi-octet characters count in octets: 128 × "é" is 256 octets.
  const bytes = encodeOne([t.template], [[t, { interfaceName: "é".repeat(128) }]]);
  assertEquals(Array.from(bytes.subarray(36, 39)), [255, 1, 0]);
  assertStrictEquals(decode(bytes).dataSets[0]!.records[0]!.interfaceName, "é".repeat(128));
});

Deno.test("a 3-octet length below 255 decodes (RFC 7011 §7)", () => {
  const bytes = ipfix(`
    0002 000c  0100 0001  0052 ffff          # template 256: interfaceName, variable
    0100 000c  ff 0005 68656c6c6f            # "hello" with a 3-octet length
  `);
  assertEquals(decode(bytes).dataSets[0]!.records, [{ interfaceName: "hello" }]);
});

Deno.test("fixed-length strings are zero-padded and the padding stripped", () => {
  const t = compileTemplate({
    id: 256,
    scopeFieldCount: 0,
    fields: [{ element: el("interfaceName"), length: 8 }],
  });
  const bytes = encodeOne([t.template], [[t, { interfaceName: "eth0" }], [t, {
    interfaceName: "éé",
  }], [
    t,
    { interfaceName: "12345678" },
  ]]);
  assertEquals(
    bytes.subarray(bytes.length - 24),
    hex("6574683000000000 c3a9c3a900000000 3132333435363738"),
  );
  assertEquals(decode(bytes).dataSets[0]!.records, [
    { interfaceName: "eth0" },
    { interfaceName: "éé" },
    { interfaceName: "12345678" },
  ]);
});

Deno.test("encoder fast paths: integers at the 32- and 53-bit edges, strings around the inline ASCII loop", () => {
  const t = compileTemplate({
    id: 300,
    scopeFieldCount: 0,
    fields: [
      { element: el("octetDeltaCount"), length: 8 },
      { element: el("flowStartSeconds"), length: 4 },
      { element: el("interfaceName"), length: 65535 },
    ],
  });
  const u64s = [0, 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, 2 ** 52 + 3, 2 ** 53 - 1];
  const u32s = [0, 2 ** 30, 2 ** 31, 3_000_000_000, 2 ** 32 - 1];
  // Edges of the inline loop (83 UTF-16 units, U+007F and U+0080), characters it hands over
  // (surrogate pairs, a lone surrogate that becomes U+FFFD, 83 three-octet units: 249 octets),
  // the long form (255 octets and more) and a missing value.
  const strs: (string | undefined)[] = [
    "",
    "eth0",
    "é",
    "pod-é-1",
    "a".repeat(83),
    "a".repeat(82) + "é",
    "b".repeat(84),
    "\u007f",
    "\u0080",
    "😀".repeat(41),
    "\ud800x",
    "€".repeat(83),
    "c".repeat(300),
    undefined,
  ];
  for (let i = 0; i < strs.length; i++) {
    const u64 = u64s[i % u64s.length]!;
    const u32 = u32s[i % u32s.length]!;
    const str = strs[i];
    const enc = encoder();
    const record: DataRecord = { octetDeltaCount: u64, flowStartSeconds: u32 };
    if (str !== undefined) record.interfaceName = str;
    enc.addRecord(t, record);
    const bytes = enc.flush()[0]!.bytes;
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const o = MESSAGE_HEADER_LENGTH + 4;
    assertStrictEquals(dv.getBigUint64(o), BigInt(u64), `octetDeltaCount ${u64}`);
    assertStrictEquals(dv.getUint32(o + 8), u32, `flowStartSeconds ${u32}`);
    const utf8 = new TextEncoder().encode(str ?? "");
    const long = utf8.length >= 255;
    assertStrictEquals(bytes[o + 12], long ? 255 : utf8.length, `length of ${show(str)}`);
    const at = o + 12 + (long ? 3 : 1);
    assertEquals(bytes.subarray(at, at + utf8.length), utf8, `octets of ${show(str)}`);
    const cache = new TemplateCache();
    cache.set("s", 1, t.template);
    assertEquals(decode(bytes, cache).dataSets[0]!.records[0], {
      octetDeltaCount: u64,
      flowStartSeconds: u32,
      interfaceName: new TextDecoder().decode(utf8),
    });
  }
  for (const bad of [1.5, -1, -0.5, NaN, Infinity, 2 ** 64]) {
    assertThrows(() => encoder().addRecord(t, { octetDeltaCount: bad }), TypeError, `${bad}`);
  }
  for (const bad of [1.5, -1, NaN, Infinity, 2 ** 32]) {
    assertThrows(() => encoder().addRecord(t, { flowStartSeconds: bad }), TypeError, `${bad}`);
  }
});

Deno.test("strings round trip with a leading U+FEFF", () => {
  const t = compileTemplate(templateOf(256, ["interfaceName"]));
  const bytes = encodeOne([t.template], [[t, { interfaceName: "\ufeffeth0" }]]);
  const d = decode(bytes);
  assertEquals(d.dataSets[0]!.records, [{ interfaceName: "\ufeffeth0" }]);
  assertEquals(reencode(d), bytes);
});

Deno.test("a long string with a lone surrogate encodes like a short one (as U+FFFD)", () => {
  const t = compileTemplate(templateOf(256, ["interfaceName"]));
  for (const tail of ["", "a".repeat(100)]) {
    const s = "\ud800é" + tail;
    const bytes = encodeOne([t.template], [[t, { interfaceName: s }]]);
    assertEquals(
      decode(bytes).dataSets[0]!.records,
      [{ interfaceName: "\ufffdé" + tail }],
      `tail ${tail.length}`,
    );
  }
});

// ---------------------------------------------------------------------------------------------
// Test vectors

Deno.test("testdata/all_types.hex decodes to literal values and re-encodes to itself", async () => {
  const bytes = await readVector("all_types.hex");
  const d = decode(bytes);
  assertEquals(decodeHeader(bytes), {
    version: 10,
    length: 617,
    exportTime: 1700000000,
    sequenceNumber: 0,
    observationDomainId: 1,
  });
  assertEquals(d.templates, [allTypesTemplate()]);
  assertEquals(d.dataSets[0]!.records, [{
    protocolIdentifier: 17,
    sourceTransportPort: 53,
    ingressInterface: 3000000000,
    octetDeltaCount: 18446744073709551615n,
    ipv6ExtensionHeadersFull: 2n ** 255n + 1n,
    tcpOptionsFull: 1025,
    testSigned8: -1,
    testSigned16: -300,
    ingressNetworkPolicyRulePriority: -5,
    testSigned64: -9007199254740993n,
    testFloat32: -0.5,
    samplingProbability: 0.25,
    dataRecordsReliability: true,
    hashDigestOutput: false,
    sourceMacAddress: "02:42:ac:11:00:02",
    mplsTopLabelStackSection: new Uint8Array([1, 2, 3]),
    opaqueOctets: new Uint8Array([0xde, 0xad, 0xbe, 0xef]),
    interfaceName: "eth0",
    interfaceDescription: "ab".repeat(128),
    applicationName: "",
    sourcePodName: "pod-é",
    flowStartSeconds: 1700000000,
    flowStartMilliseconds: 1700000000123,
    flowStartMicroseconds: 1700000000123456,
    flowStartNanoseconds: 1700000000123456789n,
    sourceIPv4Address: "192.0.2.1",
    sourceIPv6Address: "2001:db8::1",
    reverseOctetDeltaCount: 9007199254740992n,
    "unknown:4242:7": new Uint8Array([0xca, 0xfe]),
  }]);
  assertEquals(reencode(d), bytes);
});

Deno.test("testdata/antrea_ipv4.hex decodes to literal values and re-encodes to itself", async () => {
  const bytes = await readVector("antrea_ipv4.hex");
  const d = decode(bytes, new TemplateCache(), defaultRegistry);
  assertStrictEquals(d.sequenceNumber, 7);
  assertStrictEquals(d.recordCount, 2);
  assertEquals(d.templates, [antreaFlowTemplate(4)]);
  assertEquals(d.dataSets[0]!.template.names, antreaFlowElementNames(4));
  const common = {
    sourcePodName: "frontend-7d9f8b6c5-x2x4k",
    sourcePodNamespace: "shop",
    sourceNodeName: "k8s-node-worker-1",
    sourceIPv4Address: "10.244.1.2",
    destinationClusterIPv4: "10.96.0.10",
  };
  assertEquals(d.dataSets[0]!.records, [{
    ...common,
    flowStartSeconds: 1700000000,
    flowEndSeconds: 1700000060,
    flowEndReason: 3,
    sourceTransportPort: 45678,
    destinationTransportPort: 80,
    protocolIdentifier: 6,
    packetTotalCount: 1000,
    octetTotalCount: 1500000,
    packetDeltaCount: 10,
    octetDeltaCount: 15000,
    destinationIPv4Address: "10.244.2.3",
    reversePacketTotalCount: 800,
    reverseOctetTotalCount: 96000,
    reversePacketDeltaCount: 8,
    reverseOctetDeltaCount: 960,
    destinationPodName: "backend-5b7c9d-q8w2e",
    destinationPodNamespace: "shop",
    destinationNodeName: "k8s-node-worker-2",
    destinationServicePort: 8080,
    destinationServicePortName: "shop/backend:http",
    ingressNetworkPolicyName: "allow-frontend",
    ingressNetworkPolicyNamespace: "shop",
    ingressNetworkPolicyType: 1,
    ingressNetworkPolicyRuleName: "rule-1",
    ingressNetworkPolicyRuleAction: 1,
    ...NO_EGRESS_POLICY,
    tcpState: "ESTABLISHED",
    flowType: 2,
  }, {
    ...common,
    flowStartSeconds: 1700000100,
    flowEndSeconds: 1700000101,
    flowEndReason: 1,
    sourceTransportPort: 53000,
    destinationTransportPort: 53,
    protocolIdentifier: 17,
    packetTotalCount: 2,
    octetTotalCount: 150,
    packetDeltaCount: 2,
    octetDeltaCount: 150,
    destinationIPv4Address: "10.244.0.5",
    reversePacketTotalCount: 2,
    reverseOctetTotalCount: 310,
    reversePacketDeltaCount: 2,
    reverseOctetDeltaCount: 310,
    destinationPodName: "coredns-5d78c9869d-abcde",
    destinationPodNamespace: "kube-system",
    destinationNodeName: "k8s-node-control-plane",
    destinationServicePort: 53,
    destinationServicePortName: "kube-system/kube-dns:dns",
    ...NO_INGRESS_POLICY,
    ...NO_EGRESS_POLICY,
    tcpState: "",
    flowType: 1,
  }]);
  assertEquals(reencode(d), bytes);
});

Deno.test("testdata/options_template.hex: an options template and its data set", async () => {
  const bytes = await readVector("options_template.hex");
  const cache = new TemplateCache();
  const d = decode(bytes, cache);
  assertStrictEquals(d.sequenceNumber, 42);
  assertEquals(d.templates, [statsOptionsTemplate(400)]);
  assertStrictEquals(d.templates[0]!.scopeFieldCount, 1);
  assertStrictEquals(cache.get("s", 1, 400)?.template.scopeFieldCount, 1);
  assertEquals(d.dataSets[0]!.records, [{
    observationDomainId: 1,
    exportedMessageTotalCount: 123456,
    exportedFlowRecordTotalCount: 9876543210,
    exporterIPv4Address: "192.0.2.7",
  }]);
  assertEquals(reencode(d), bytes);
});

// ---------------------------------------------------------------------------------------------
// Hand-built messages

Deno.test("reduced-size encoding: unsigned64 in 4, float64 in 4, signed32 in 2 octets", () => {
  const bytes = ipfix(`
    0002 001c
      0100 0004
      0001 0004                  # octetDeltaCount (unsigned64) in 4 octets
      0137 0004                  # samplingProbability (float64) in 4 octets
      8074 0002 0000dcba         # Antrea ingressNetworkPolicyRulePriority (signed32) in 2
      0007 0001                  # sourceTransportPort (unsigned16) in 1
    0100 001a
      12345678 3fc00000 ff38 50
      ffffffff bf000000 8000 ff
      `);
  const d = decode(bytes);
  assertEquals(d.templates[0]!.fields.map((f) => f.length), [4, 4, 2, 1]);
  assertEquals(d.dataSets[0]!.records, [
    {
      octetDeltaCount: 305419896,
      samplingProbability: 1.5,
      ingressNetworkPolicyRulePriority: -200,
      sourceTransportPort: 80,
    },
    {
      octetDeltaCount: 4294967295,
      samplingProbability: -0.5,
      ingressNetworkPolicyRulePriority: -32768,
      sourceTransportPort: 255,
    },
  ]);
  assertEquals(reencode(d), bytes);
  // Values that do not fit the reduced size are refused.
  const t = d.dataSets[0]!.template;
  const enc = encoder();
  const e = assertThrows(() => enc.addRecord(t, { octetDeltaCount: 4294967296 }), TypeError);
  assert(e.message.includes("octetDeltaCount"), e.message);
  const e2 = assertThrows(
    () => enc.addRecord(t, { ingressNetworkPolicyRulePriority: 32768 }),
    TypeError,
  );
  assert(e2.message.includes("ingressNetworkPolicyRulePriority"), e2.message);
  assertThrows(
    () => enc.addRecord(t, { sourceTransportPort: 256 }),
    TypeError,
    "sourceTransportPort",
  );
});

Deno.test("reduced-size encoding of every integer size", () => {
  const u64 = el("octetDeltaCount");
  const s64 = el("testSigned64");
  for (let len = 1; len <= 8; len++) {
    const t = compileTemplate({
      id: 256,
      scopeFieldCount: 0,
      fields: [{ element: u64, length: len }, { element: s64, length: len }],
    });
    const maxU = (1n << BigInt(8 * len)) - 1n;
    const minS = -(1n << BigInt(8 * len - 1));
    const safe = (v: bigint) => v >= -(2n ** 53n - 1n) && v <= 2n ** 53n - 1n ? Number(v) : v;
    const rec = { octetDeltaCount: safe(maxU), testSigned64: safe(minS) };
    const bytes = encodeOne([t.template], [[t, rec]]);
    const d = decode(bytes);
    assertEquals(d.dataSets[0]!.records, [rec], `${len} octets`);
    assertEquals(reencode(d), bytes);
  }
});

Deno.test("reduced-size encoding of 16- and 32-bit integers in every shorter length", () => {
  for (
    const [name, full, signed] of [
      ["sourceTransportPort", 2, false], // unsigned16
      ["testSigned16", 2, true], // signed16
      ["ingressInterface", 4, false], // unsigned32
      ["ingressNetworkPolicyRulePriority", 4, true], // signed32 (Antrea)
    ] as const
  ) {
    for (let len = 1; len < full; len++) {
      const t = compileTemplate({
        id: 256,
        scopeFieldCount: 0,
        fields: [{ element: el(name), length: len }],
      });
      const bits = 8 * len;
      const values = signed ? [-(2 ** (bits - 1)), -1, 2 ** (bits - 1) - 1] : [0, 2 ** bits - 1];
      const records = values.map((v) => ({ [name]: v }));
      const bytes = encodeOne([t.template], records.map((r) => [t, r]));
      const d = decode(bytes);
      assertEquals(d.dataSets[0]!.records, records, `${name} in ${len} octets`);
      assertEquals(reencode(d), bytes);
      // One past the range does not fit.
      const over = signed ? 2 ** (bits - 1) : 2 ** bits;
      assertThrows(() => encoder().addRecord(t, { [name]: over }), TypeError, name);
    }
  }
});

Deno.test("unsigned256 (RFC 9740): up to 2^256-1, numbers while they fit, 33 octets are octets", () => {
  const e = el("ipv6ExtensionHeadersFull");
  assertEquals(e, {
    name: "ipv6ExtensionHeadersFull",
    id: 515,
    enterpriseId: 0,
    type: "unsigned256",
  });
  const t = compileTemplate({ id: 256, scopeFieldCount: 0, fields: [{ element: e, length: 32 }] });
  const records = [{ ipv6ExtensionHeadersFull: 2n ** 256n - 1n }, {
    ipv6ExtensionHeadersFull: 2n ** 53n,
  }, { ipv6ExtensionHeadersFull: 2 ** 53 - 1 }];
  const d = decode(encodeOne([t.template], records.map((r) => [t, r])));
  assertEquals(d.dataSets[0]!.records, records);
  for (const bad of [2n ** 256n, -1n, -1, 0.5, "1"]) {
    assertThrows(
      () => encoder().addRecord(t, { ipv6ExtensionHeadersFull: bad }),
      TypeError,
      "ipv6ExtensionHeadersFull",
    );
  }
  const wide = decode(ipfix(`
    0002 000c  0100 0001  0203 0021
    0100 0025  ${"ab".repeat(33)}
  `));
  assertEquals(wide.dataSets[0]!.records, [{ ipv6ExtensionHeadersFull: hex("ab".repeat(33)) }]);
});

Deno.test("options template set: set ID 3, scope field count, data set decoded", () => {
  const cache = new TemplateCache();
  const bytes = ipfix(`
    0003 0016
      0101 0003 0002             # options template 257: 3 fields, 2 of them scope
      0095 0004                  # observationDomainId (scope)
      0090 0004                  # exportingProcessId (scope)
      00a3 0008                  # observedFlowTotalCount
    0101 0014
      00000005 00000063 0000000000000400
  `);
  const d = decode(bytes, cache);
  assertEquals(d.templates, [{
    id: 257,
    scopeFieldCount: 2,
    fields: [
      { element: el("observationDomainId"), length: 4 },
      { element: el("exportingProcessId"), length: 4 },
      { element: el("observedFlowTotalCount"), length: 8 },
    ],
  }]);
  assertEquals(d.dataSets[0]!.records, [{
    observationDomainId: 5,
    exportingProcessId: 99,
    observedFlowTotalCount: 1024,
  }]);
  assertEquals(reencode(d), bytes);
  // A scope field count of 0, or above the field count, is malformed.
  for (const scope of ["0000", "0004"]) {
    const bad = ipfix(`0003 0016  0101 0003 ${scope}  0095 0004 0090 0004 00a3 0008`);
    const e = assertThrows(() => decode(bad), MalformedError, "scope");
    assertStrictEquals(e.templateId, 257);
  }
});

Deno.test("template withdrawals are honoured by the cache (RFC 7011 §8.1)", () => {
  const cache = new TemplateCache();
  const define = ipfix(`
    0002 0014
      0100 0001 0008 0004        # 256: sourceIPv4Address
      0101 0001 000c 0004        # 257: destinationIPv4Address
    0003 000e
      0102 0001 0001 0095 0004   # options 258, scope observationDomainId
    0100 0008 0a000001
    0101 0008 0a000002
  `);
  const d0 = decode(define, cache);
  assertStrictEquals(d0.recordCount, 2);
  assertStrictEquals(cache.size, 3);
  // Withdraw 256 only.
  const d1 = decode(ipfix(`0002 0008  0100 0000   0100 0008 0a000001   0101 0008 0a000002`), cache);
  assertEquals(d1.withdrawals, [256]);
  assertEquals(d1.unknownSets, [{ templateId: 256, length: 8 }]);
  assertEquals(d1.dataSets.map((s) => s.records), [[{ destinationIPv4Address: "10.0.0.2" }]]);
  assertStrictEquals(cache.get("s", 1, 256), undefined);
  assert(cache.get("s", 1, 257));
  // Withdraw all templates (ID 2): options templates stay.
  const d2 = decode(ipfix(`0002 0008  0002 0000`), cache);
  assertEquals(d2.withdrawals, [2]);
  assertStrictEquals(cache.get("s", 1, 257), undefined);
  assert(cache.get("s", 1, 258));
  // Withdraw all options templates (ID 3 in an options template set).
  const d3 = decode(ipfix(`0003 0008  0003 0000`), cache);
  assertEquals(d3.withdrawals, [3]);
  assertStrictEquals(cache.get("s", 1, 258), undefined);
  assertStrictEquals(cache.size, 0);
  // A withdrawal and a new definition in one set; the data after it uses the new one.
  const d4 = decode(
    ipfix(`0002 0010  0100 0000  0100 0001 0004 0001   0100 0006 11 06`),
    cache,
  );
  assertEquals(d4.withdrawals, [256]);
  assertEquals(d4.dataSets[0]!.records, [{ protocolIdentifier: 17 }, { protocolIdentifier: 6 }]);
  // Withdraw-all of templates in an options template set, and the reverse, are malformed.
  assertThrows(() => decode(ipfix(`0003 0008  0002 0000`), cache), MalformedError);
  assertThrows(() => decode(ipfix(`0002 0008  0003 0000`), cache), MalformedError);
  // The encoder writes the same withdrawals.
  const enc = encoder();
  enc.addWithdrawal(256);
  enc.addWithdrawal(2);
  enc.addWithdrawal(3, true);
  const [m] = enc.flush();
  assertEquals(m!.bytes, ipfix(`0002 000c 0100 0000 0002 0000  0003 0008 0003 0000`));
  assertStrictEquals(m!.recordCount, 0);
});

Deno.test("withdrawals are per domain and options withdraw-all spares templates", () => {
  const cache = new TemplateCache();
  const t = templateOf(256, ["sourceIPv4Address"]);
  const o = statsOptionsTemplate(300);
  cache.set("s", 1, t);
  cache.set("s", 1, o);
  cache.set("s", 2, t);
  decode(ipfix(`0003 0008  0003 0000`, { domain: 1 }), cache);
  assert(cache.get("s", 1, 256));
  assertStrictEquals(cache.get("s", 1, 300), undefined);
  decode(ipfix(`0002 0008  0002 0000`, { domain: 1 }), cache);
  assertStrictEquals(cache.get("s", 1, 256), undefined);
  assert(cache.get("s", 2, 256), "domain 2 keeps its template");
});

/** Hex of record `i` of template 256 (sourceIPv4Address, destinationIPv4Address, 4-octet count). */
function rec256(i: number): string {
  const h = (v: number, n: number) => v.toString(16).padStart(n, "0");
  return `0a0000${h(i, 2)} 0a0001${h(i, 2)} ${h(i * 1000, 8)}`;
}

/** Hex of record `i` of template 257 (sourceTransportPort, interfaceName "if<i>"). */
function rec257(i: number): string {
  return `${(1000 + i).toString(16).padStart(4, "0")} 03 6966${(0x30 + i).toString(16)}`;
}

const TEMPLATES_256_257 = `
  0002 0020
    0100 0003 0008 0004 000c 0004 0001 0004
    0101 0002 0007 0002 0052 ffff
`;

function expect256(i: number): DataRecord {
  return {
    sourceIPv4Address: `10.0.0.${i}`,
    destinationIPv4Address: `10.0.1.${i}`,
    octetDeltaCount: i * 1000,
  };
}

function expect257(i: number): DataRecord {
  return { sourceTransportPort: 1000 + i, interfaceName: `if${i}` };
}

const range = (a: number, b: number) => Array.from({ length: b - a }, (_, k) => a + k);

Deno.test("several sets in one message and many records per set", () => {
  const bytes = ipfix(`
    ${TEMPLATES_256_257}
    0100 007c ${range(0, 10).map(rec256).join(" ")}
    0101 0022 ${range(0, 5).map(rec257).join(" ")}
    0100 0028 ${range(10, 13).map(rec256).join(" ")}
  `);
  const d = decode(bytes);
  assertStrictEquals(d.recordCount, 18);
  assertEquals(d.dataSets.map((s) => s.templateId), [256, 257, 256]);
  assertEquals(d.dataSets[0]!.records, range(0, 10).map(expect256));
  assertEquals(d.dataSets[1]!.records, range(0, 5).map(expect257));
  assertEquals(d.dataSets[2]!.records, range(10, 13).map(expect256));
  // The encoder packs records of one template into one set while the template does not change.
  const enc = encoder();
  for (const t of d.templates) enc.addTemplate(t);
  for (const s of d.dataSets) for (const r of s.records) enc.addRecord(s.template, r);
  const [m] = enc.flush();
  assertEquals(m!.bytes, bytes);
});

Deno.test("set padding is tolerated (RFC 7011 §3.3.1)", () => {
  const bytes = ipfix(`
    0002 0024
      0100 0003 0008 0004 000c 0004 0001 0004
      0101 0002 0007 0002 0052 ffff
      00000000                               # 4 octets of template set padding
    0100 001f ${rec256(1)} ${rec256(2)} 000000   # 3 octets, shorter than a record (12)
    0101 000c ${rec257(3)} 0000                  # 2 octets, shorter than a record (3)
    0002 0013
      0102 0001 0004 0001
      00000000 000000                        # 7 octets of padding after a template
    0002 000f
      0103 0001 0005 0001
      000000                                 # 3 octets
    0102 0007 06 11 01
  `);
  const d = decode(bytes);
  assertEquals(d.templates.map((t) => t.id), [256, 257, 258, 259]);
  assertEquals(d.dataSets.map((s) => s.records), [
    [expect256(1), expect256(2)],
    [expect257(3)],
    [{ protocolIdentifier: 6 }, { protocolIdentifier: 17 }, { protocolIdentifier: 1 }],
  ]);
  assertEquals(d.withdrawals, [], "padding is not a withdrawal");
  // Padding that is not zero is not padding.
  assertThrows(() => decode(ipfix(`0002 0010  0100 0001 0008 0004  00000001`)), MalformedError);
});

Deno.test("a data set with an unknown template is counted and skipped", () => {
  const cache = new TemplateCache();
  const d = decode(
    ipfix(`
      03e7 000c 0102030405060708            # set 999: no such template
      ${TEMPLATES_256_257}
      0104 0006 ffff                        # set 260: no such template either
      0100 0010 ${rec256(7)}
    `),
    cache,
  );
  assertEquals(d.unknownSets, [{ templateId: 999, length: 12 }, { templateId: 260, length: 6 }]);
  assertEquals(d.dataSets.map((s) => s.records), [[expect256(7)]]);
  assertStrictEquals(d.recordCount, 1);
  // A data set before its template in the same message is unknown too.
  const d2 = decode(ipfix(`0105 0005 01  0002 000c 0105 0001 0004 0001  0105 0005 02`), cache);
  assertEquals(d2.unknownSets, [{ templateId: 261, length: 5 }]);
  assertEquals(d2.dataSets[0]!.records, [{ protocolIdentifier: 2 }]);
});

Deno.test("sets with reserved IDs are skipped", () => {
  const d = decode(ipfix(`
    0005 0008 deadbeef
    ${TEMPLATES_256_257}
    0001 0004
    0004 0006 0000
    00ff 0009 0102030405
    0100 0010 ${rec256(9)}
  `));
  assertStrictEquals(d.reservedSets, 4);
  assertEquals(d.dataSets.map((s) => s.records), [[expect256(9)]]);
  assertEquals(d.unknownSets, []);
});

Deno.test("a message inside a larger buffer decodes; octets past its length are ignored", () => {
  const bytes = ipfix(`${TEMPLATES_256_257} 0100 0010 ${rec256(4)}`);
  const big = new Uint8Array(bytes.length + 20).fill(0xee);
  big.set(bytes, 7);
  const d = decode(big.subarray(7));
  assertEquals(d.dataSets[0]!.records, [expect256(4)]);
  assertStrictEquals(d.length, bytes.length);
  // Records are copies: changing the buffer afterwards changes nothing.
  const t = compileTemplate(templateOf(256, ["opaqueOctets"]));
  const m = encodeOne([t.template], [[t, { opaqueOctets: hex("0102") }]]);
  const d2 = decode(m);
  m.fill(0);
  assertEquals(d2.dataSets[0]!.records, [{ opaqueOctets: hex("0102") }]);
});

Deno.test("invalid messages throw TruncatedError or MalformedError", () => {
  const ok = ipfix(`${TEMPLATES_256_257} 0100 0010 ${rec256(1)}`);
  const cases: [string, Uint8Array, typeof TruncatedError | typeof MalformedError][] = [
    ["empty", new Uint8Array(0), TruncatedError],
    ["short header", ok.subarray(0, 15), TruncatedError],
    ["version 9", hex("0009 0010 00000000 00000000 00000000"), MalformedError],
    ["length 15", hex("000a 000f 00000000 00000000 00000000"), MalformedError],
    ["length past the buffer", ok.subarray(0, ok.length - 1), TruncatedError],
    ["short set header", ipfix(`0002 00`), TruncatedError],
    ["set length 3", ipfix(`0002 0003`), MalformedError],
    ["set past the message", ipfix(`0002 0010 0100 0001`), TruncatedError],
    ["template ID 255", ipfix(`0002 000c 00ff 0001 0008 0004`), MalformedError],
    ["truncated field specifier", ipfix(`0002 000a 0100 0001 0008`), TruncatedError],
    ["truncated enterprise number", ipfix(`0002 000e 0100 0001 8065 ffff 0000`), TruncatedError],
    ["records of length 0", ipfix(`0002 000c 0100 0001 0052 0000`), MalformedError],
    ["truncated options template", ipfix(`0003 0009 0100 0001 00`), TruncatedError],
    ["invalid boolean", ipfix(`0002 000c 0100 0001 0114 0001  0100 0005 03`), MalformedError],
    ["record past its set", ipfix(`${TEMPLATES_256_257} 0101 0008 0001 05 6566`), TruncatedError],
    [
      "3-octet length past its set",
      ipfix(`${TEMPLATES_256_257} 0101 0008 0001 ff 00`),
      TruncatedError,
    ],
  ];
  for (const [what, bytes, Class] of cases) {
    const e = assertThrows(() => decode(bytes), Class, undefined, what);
    assert(e instanceof (Class === TruncatedError ? RangeError : SyntaxError), what);
    assertStrictEquals(typeof e.offset, "number", what);
  }
});

Deno.test("templates learned before an error stay in the cache", () => {
  const cache = new TemplateCache();
  assertThrows(() => decode(ipfix(`${TEMPLATES_256_257} 0002 0003`), cache), MalformedError);
  assert(cache.get("s", 1, 256));
  assert(cache.get("s", 1, 257));
});

// ---------------------------------------------------------------------------------------------
// Encoder

function antreaMessages(
  n: number,
  maxMessageSize: number,
  seed = 1,
): { t: CompiledTemplate; records: DataRecord[]; msgs: EncodedMessage[] } {
  const t = compileTemplate(antreaFlowTemplate(4));
  const rng = new Rng(seed);
  const records = Array.from({ length: n }, () => antreaRecord(rng, 4));
  const enc = encoder({ maxMessageSize });
  enc.addTemplate(t.template);
  for (const r of records) enc.addRecord(t, r);
  return { t, records, msgs: enc.flush() };
}

/** Checks sizes, sequence numbers, fullness and content of a run of messages. */
function checkRun(
  t: CompiledTemplate,
  records: DataRecord[],
  msgs: EncodedMessage[],
  limit: number,
  firstSeq = 0,
): void {
  const cache = new TemplateCache();
  const decoded: DataRecord[] = [];
  let seq = firstSeq;
  msgs.forEach((m, k) => {
    assert(m.bytes.length <= limit, `message ${k} has ${m.bytes.length} > ${limit} octets`);
    const d = decode(m.bytes, cache, defaultRegistry);
    assertStrictEquals(d.sequenceNumber, seq, `sequence number of message ${k}`);
    assertStrictEquals(d.recordCount, m.recordCount, `record count of message ${k}`);
    assertStrictEquals(d.length, m.bytes.length);
    seq = (seq + m.recordCount) >>> 0;
    for (const s of d.dataSets) decoded.push(...s.records);
    if (k < msgs.length - 1) {
      // Full: the next record did not fit this message's open data set.
      const next = records[decoded.length]!;
      assert(
        m.bytes.length + recordSize(t, next) > limit,
        `message ${k} (${m.bytes.length} octets) had room for the next record`,
      );
    }
  });
  assertEquals(decoded, records);
}

Deno.test("UDP: messages of at most 1452 octets, sequence numbers count records before", () => {
  const limit = udpMessageSize(1500);
  assertStrictEquals(limit, 1452);
  const { t, records, msgs } = antreaMessages(300, limit);
  assert(msgs.length > 30, `${msgs.length} messages`);
  checkRun(t, records, msgs, limit);
  assertStrictEquals(msgs.reduce((n, m) => n + m.recordCount, 0), 300);
  // Only the first message carries the template.
  assertEquals(decode(msgs[0]!.bytes, new TemplateCache(), defaultRegistry).templates.length, 1);
  assertEquals(decode(msgs[1]!.bytes, new TemplateCache(), defaultRegistry).unknownSets.length, 1);
});

Deno.test("TCP: messages of at most 65535 octets", () => {
  const t = compileTemplate(templateOf(256, ["octetDeltaCount", "interfaceDescription"]));
  const rng = new Rng(2);
  const records = Array.from({ length: 120 }, (_, i) => ({
    octetDeltaCount: i,
    interfaceDescription: "d".repeat(rng.range(1000, 5000)),
  }));
  const enc = encoder();
  assertStrictEquals(enc.maxMessageSize, MAX_MESSAGE_SIZE);
  enc.addTemplate(t.template);
  for (const r of records) enc.addRecord(t, r);
  const msgs = enc.flush();
  assert(msgs.length >= 5, `${msgs.length} messages`);
  checkRun(t, records, msgs, 65535);
  // The largest record that fits: 16 + 4 + 8 + 3 + 65504 = 65535 octets.
  const enc2 = encoder();
  enc2.addRecord(t, { interfaceDescription: "x".repeat(65504) });
  const [big] = enc2.flush();
  assertStrictEquals(big!.bytes.length, 65535);
  const known = new TemplateCache();
  known.set("s", 1, t.template);
  assertEquals(decode(big!.bytes, known).dataSets[0]!.records, [
    { octetDeltaCount: 0, interfaceDescription: "x".repeat(65504) },
  ]);
  assertThrows(() => enc2.addRecord(t, { interfaceDescription: "x".repeat(65505) }), RangeError);
  assertThrows(() => enc2.addRecord(t, { interfaceDescription: "x".repeat(70000) }), RangeError);
});

Deno.test("messages built one after another in the encoder's arenas stay intact, drained as they go or at the end", () => {
  // Enough records for several arenas at each size: a message's view must never change when
  // later messages are built, and a record that did not fit may move to the next arena.
  for (const limit of [MAX_MESSAGE_SIZE, udpMessageSize(1500), 512]) {
    const { t, records, msgs } = antreaMessages(6000, limit, 7);
    const octets = msgs.reduce((n, m) => n + m.bytes.length, 0);
    assert(octets > 1 << 20, `${octets} octets at ${limit}: more than one arena`);
    checkRun(t, records, msgs, limit);
    // The same, drained every few records: views handed out early stay as they were.
    const enc = encoder({ maxMessageSize: limit });
    enc.addTemplate(t.template);
    const drained: EncodedMessage[] = [];
    const copies: Uint8Array[] = [];
    const take = (ms: EncodedMessage[]) => {
      drained.push(...ms);
      copies.push(...ms.map((m) => m.bytes.slice()));
    };
    records.forEach((r, i) => {
      enc.addRecord(t, r);
      if (i % 7 === 0) take(enc.drain());
    });
    take(enc.flush());
    assertEquals(drained.map((m) => m.bytes), copies);
    assertEquals(drained.map((m) => m.bytes), msgs.map((m) => m.bytes));
    for (const m of drained) assertStrictEquals(m.bytes.byteOffset % 8, 0, "8-aligned views");
  }
});

Deno.test("a record longer than the message size limit is refused with the limit, and the message goes on", () => {
  const t = compileTemplate(templateOf(256, ["octetDeltaCount", "interfaceDescription"]));
  const enc = encoder({ maxMessageSize: 1452 });
  enc.addRecord(t, { octetDeltaCount: 1, interfaceDescription: "a" });
  // Just over what a message holds (16 + 4 + 8 + 3 + 1422 = 1453), and far over it.
  for (const n of [1422, 2000, 5000, 70000]) {
    assertThrows(
      () => enc.addRecord(t, { octetDeltaCount: 2, interfaceDescription: "x".repeat(n) }),
      RangeError,
      "does not fit a message of 1452 octets",
    );
  }
  enc.addRecord(t, { octetDeltaCount: 3, interfaceDescription: "x".repeat(1421) });
  const msgs = enc.flush();
  assertEquals(msgs.map((m) => [m.bytes.length, m.recordCount]), [[30, 1], [1452, 1]]);
});

Deno.test("sequence numbers start where told and wrap at 2^32", () => {
  const t = compileTemplate(templateOf(256, ["octetDeltaCount"]));
  const enc = encoder({ maxMessageSize: 464, seq: 0xffffff00 });
  assertStrictEquals(enc.sequenceNumber, 0xffffff00);
  const records = range(0, 300).map((i) => ({ octetDeltaCount: i }));
  for (const r of records) enc.addRecord(t, r);
  const msgs = enc.flush();
  const cache = new TemplateCache();
  cache.set("s", 1, t.template);
  let seq = 0xffffff00;
  for (const m of msgs) {
    assertStrictEquals(decode(m.bytes, cache).sequenceNumber, seq);
    seq = (seq + m.recordCount) >>> 0;
  }
  assertStrictEquals(enc.sequenceNumber, (0xffffff00 + 300) % 2 ** 32);
  assertStrictEquals(enc.sequenceNumber, 44);
});

Deno.test("udpMessageSize() and the message size limit", () => {
  assertStrictEquals(udpMessageSize(), 1452);
  assertStrictEquals(udpMessageSize(1500), 1452);
  assertStrictEquals(udpMessageSize(512), 464);
  assertStrictEquals(udpMessageSize(9000), 8952);
  assertStrictEquals(udpMessageSize(65583), 65535);
  for (const mtu of [511, 0, -1, 1500.5, NaN, 65584]) {
    assertThrows(() => udpMessageSize(mtu), RangeError, undefined, `MTU ${mtu}`);
  }
  for (const size of [255, 65536, 1000.5]) {
    assertThrows(() => encoder({ maxMessageSize: size }), RangeError);
  }
  assertThrows(
    () => new MessageEncoder({ observationDomainId: -1 }),
    RangeError,
  );
  assertThrows(() => new MessageEncoder({ observationDomainId: 2 ** 32 }), RangeError);
  assertStrictEquals(encoder({ maxMessageSize: 464 }).maxMessageSize, 464);
});

Deno.test("templates spread over messages when they do not fit one", () => {
  const enc = encoder({ maxMessageSize: 1452 });
  const ids = range(256, 266);
  for (const id of ids) enc.addTemplate({ ...antreaFlowTemplate(4), id });
  const msgs = enc.flush();
  assert(msgs.length >= 2, `${msgs.length} messages`);
  const cache = new TemplateCache();
  const learned: number[] = [];
  for (const m of msgs) {
    assert(m.bytes.length <= 1452);
    assertStrictEquals(m.recordCount, 0);
    learned.push(...decode(m.bytes, cache, defaultRegistry).templates.map((t) => t.id));
  }
  assertEquals(learned, ids);
  const huge: Template = {
    id: 256,
    scopeFieldCount: 0,
    fields: range(0, 400).map(() => ({ element: el("octetDeltaCount"), length: 8 })),
  };
  assertThrows(() => enc.addTemplate(huge), RangeError);
});

Deno.test("a record larger than the limit throws RangeError and the encoder stays usable", () => {
  const t = compileTemplate(templateOf(256, ["octetDeltaCount", "interfaceDescription"]));
  const u = compileTemplate(templateOf(257, ["protocolIdentifier"]));
  const enc = encoder({ maxMessageSize: 1452 });
  enc.addTemplate(t.template);
  enc.addTemplate(u.template);
  enc.addRecord(t, { octetDeltaCount: 1, interfaceDescription: "one" });
  // 16 + 4 + 8 + 3 + 1421 = 1452 fits; one more octet does not.
  assertThrows(
    () => enc.addRecord(t, { octetDeltaCount: 2, interfaceDescription: "x".repeat(1422) }),
    RangeError,
  );
  enc.addRecord(u, { protocolIdentifier: 6 });
  assertThrows(
    () => enc.addRecord(t, { octetDeltaCount: 3, interfaceDescription: "x".repeat(5000) }),
    RangeError,
  );
  enc.addRecord(t, { octetDeltaCount: 4, interfaceDescription: "four" });
  enc.addRecord(t, { octetDeltaCount: 5, interfaceDescription: "x".repeat(1421) });
  const msgs = enc.flush();
  assertEquals(msgs.map((m) => m.recordCount), [3, 1]);
  const cache = new TemplateCache();
  const d = msgs.map((m) => decode(m.bytes, cache, defaultRegistry));
  assertEquals(d.map((x) => x.sequenceNumber), [0, 3]);
  assertEquals(d.flatMap((x) => x.dataSets.flatMap((s) => s.records)), [
    { octetDeltaCount: 1, interfaceDescription: "one" },
    { protocolIdentifier: 6 },
    { octetDeltaCount: 4, interfaceDescription: "four" },
    { octetDeltaCount: 5, interfaceDescription: "x".repeat(1421) },
  ]);
  assertStrictEquals(msgs[1]!.bytes.length, 1452);
});

Deno.test("values of the wrong type throw a TypeError that names the element", () => {
  const t = compileTemplate(allTypesTemplate());
  const [good] = allTypesRecords();
  const wrong: [string, unknown][] = [
    ["ingressInterface", "5"],
    ["ingressInterface", 2 ** 32],
    ["ingressInterface", 1.5],
    ["protocolIdentifier", 256],
    ["protocolIdentifier", -1],
    ["protocolIdentifier", "6"],
    ["sourceTransportPort", -1],
    ["sourceTransportPort", 65536],
    ["sourceTransportPort", NaN],
    ["octetDeltaCount", 1.5],
    ["octetDeltaCount", -1],
    ["octetDeltaCount", -1n],
    ["octetDeltaCount", 2n ** 64n],
    ["octetDeltaCount", "1"],
    ["octetDeltaCount", Infinity],
    ["testSigned8", 128],
    ["testSigned8", -129],
    ["testSigned8", 1.5],
    ["testSigned16", "1"],
    ["ingressNetworkPolicyRulePriority", 2 ** 31],
    ["testSigned64", 2n ** 63n],
    ["testSigned64", -(2n ** 63n) - 1n],
    ["testFloat32", "1.5"],
    ["samplingProbability", 1n],
    ["samplingProbability", null],
    ["dataRecordsReliability", 1],
    ["dataRecordsReliability", "true"],
    ["sourceMacAddress", "zz:zz:zz:zz:zz:zz"],
    ["sourceMacAddress", "00:11:22:33:44"],
    ["sourceMacAddress", 5],
    ["mplsTopLabelStackSection", new Uint8Array(2)],
    ["mplsTopLabelStackSection", "abc"],
    ["opaqueOctets", "abc"],
    ["opaqueOctets", [1, 2, 3]],
    ["interfaceName", 5],
    ["interfaceDescription", 5],
    ["sourcePodName", new Uint8Array(3)],
    ["flowStartSeconds", -1],
    ["flowStartSeconds", 2 ** 32],
    ["flowStartMilliseconds", -1],
    ["flowStartMicroseconds", "now"],
    ["flowStartMicroseconds", 1.5],
    ["flowStartNanoseconds", 1.5],
    ["flowStartNanoseconds", "x"],
    ["sourceIPv4Address", "10.0.0.256"],
    ["sourceIPv4Address", "01.2.3.4"],
    ["sourceIPv4Address", 167772161],
    ["sourceIPv4Address", "::1"],
    ["sourceIPv6Address", "1::2::3"],
    ["sourceIPv6Address", "10.0.0.1"],
    ["unknown:4242:7", "x"],
  ];
  const enc = encoder();
  enc.addTemplate(t.template);
  enc.addRecord(t, good!);
  for (const [name, value] of wrong) {
    const e = assertThrows(
      () => enc.addRecord(t, { ...good!, [name]: value } as DataRecord),
      TypeError,
      undefined,
      `${name} = ${show(value)}`,
    );
    assert(e.message.includes(name), `message ${show(e.message)} does not name ${name}`);
  }
  enc.addRecord(t, good!);
  const msgs = enc.flush();
  assertEquals(msgs.map((m) => m.recordCount), [2]);
  assertEquals(decode(msgs[0]!.bytes).dataSets[0]!.records, [good, good]);
});

Deno.test("a string too long for its fixed-length field throws an error that names it", () => {
  const t = compileTemplate(allTypesTemplate());
  const [good] = allTypesRecords();
  const enc = encoder();
  let e: unknown;
  try {
    enc.addRecord(t, { ...good!, interfaceName: "x".repeat(17) });
  } catch (err) {
    e = err;
  }
  assert(e instanceof TypeError || e instanceof RangeError, `threw ${show(e)}`);
  assert(e.message.includes("interfaceName"), `message ${show(e.message)} does not name it`);
});

Deno.test("missing fields encode as zero or empty", () => {
  const fields = ALL_TYPES_FIELDS.filter(([n]) => n !== "mplsTopLabelStackSection");
  const t = compileTemplate({
    id: 256,
    scopeFieldCount: 0,
    fields: fields.map(([name, length]) => ({ element: el(name), length })),
  });
  const bytes = encodeOne([t.template], [[t, {}]]);
  assertEquals(decode(bytes).dataSets[0]!.records, [{
    protocolIdentifier: 0,
    sourceTransportPort: 0,
    ingressInterface: 0,
    octetDeltaCount: 0,
    ipv6ExtensionHeadersFull: 0,
    tcpOptionsFull: 0,
    testSigned8: 0,
    testSigned16: 0,
    ingressNetworkPolicyRulePriority: 0,
    testSigned64: 0,
    testFloat32: 0,
    samplingProbability: 0,
    dataRecordsReliability: false, // 0 is not a boolean: missing is false (2)
    hashDigestOutput: false,
    sourceMacAddress: "00:00:00:00:00:00",
    opaqueOctets: new Uint8Array(0),
    interfaceName: "",
    interfaceDescription: "",
    applicationName: "",
    sourcePodName: "",
    flowStartSeconds: 0,
    flowStartMilliseconds: 0,
    flowStartMicroseconds: 0,
    flowStartNanoseconds: 0n,
    sourceIPv4Address: "0.0.0.0",
    sourceIPv6Address: "::",
    reverseOctetDeltaCount: 0,
    "unknown:4242:7": new Uint8Array(0),
  }]);
});

Deno.test("a missing fixed-length octetArray field encodes as zeros", () => {
  const t = compileTemplate({
    id: 256,
    scopeFieldCount: 0,
    fields: [
      { element: el("mplsTopLabelStackSection"), length: 3 },
      { element: el("protocolIdentifier"), length: 1 },
    ],
  });
  const enc = encoder();
  enc.addRecord(t, { protocolIdentifier: 6 });
  const [m] = enc.flush();
  const cache = new TemplateCache();
  cache.set("s", 1, t.template);
  assertEquals(decode(m!.bytes, cache).dataSets[0]!.records, [{
    mplsTopLabelStackSection: new Uint8Array(3),
    protocolIdentifier: 6,
  }]);
});

Deno.test("drain() returns finished messages, flush() the one being built too", () => {
  const t = compileTemplate(templateOf(256, ["octetDeltaCount"]));
  const enc = encoder({ maxMessageSize: 464 });
  assertStrictEquals(enc.pending, false);
  assertEquals(enc.flush(), []);
  enc.addRecord(t, { octetDeltaCount: 1 });
  assertStrictEquals(enc.pending, true);
  assertEquals(enc.drain(), []);
  for (let i = 0; i < 100; i++) enc.addRecord(t, { octetDeltaCount: i });
  const done = enc.drain();
  assertStrictEquals(done.length, 1);
  assertStrictEquals(done[0]!.recordCount, 55); // (464 − 16 − 4) / 8 = 55.5
  assertStrictEquals(enc.pending, true);
  const rest = enc.flush();
  assertEquals(rest.map((m) => m.recordCount), [46]);
  assertStrictEquals(enc.pending, false);
  assertStrictEquals(enc.sequenceNumber, 101);
});

// ---------------------------------------------------------------------------------------------
// Template cache

const T256 = templateOf(256, ["sourceIPv4Address"]);
const T256B = templateOf(256, ["destinationIPv4Address", "protocolIdentifier"]);

Deno.test("TemplateCache: UDP templates expire after their lifetime", () => {
  let now = 0;
  const cache = new TemplateCache({ clock: () => now });
  cache.set("udp", 1, T256, UDP_TEMPLATE_LIFETIME_MS);
  assertStrictEquals(UDP_TEMPLATE_LIFETIME_MS, 1800_000);
  now = 1799_999;
  assertStrictEquals(cache.get("udp", 1, 256)?.template, T256);
  now = 1800_000;
  assertStrictEquals(cache.get("udp", 1, 256), undefined);
  assertStrictEquals(cache.size, 0, "dropped when looked up");
  // TCP templates (no lifetime) never expire.
  cache.set("tcp", 1, T256);
  now = 1e15;
  assertStrictEquals(cache.get("tcp", 1, 256)?.template, T256);
});

Deno.test("TemplateCache: a refresh extends the lifetime", () => {
  let now = 0;
  const cache = new TemplateCache({ clock: () => now });
  cache.set("udp", 1, T256, 1800_000);
  now = 1000_000;
  cache.set("udp", 1, T256, 1800_000);
  now = 2000_000;
  assert(cache.get("udp", 1, 256), "still there after the first lifetime");
  now = 2799_999;
  assert(cache.get("udp", 1, 256));
  now = 2800_000;
  assertStrictEquals(cache.get("udp", 1, 256), undefined);
});

Deno.test("TemplateCache: expire() drops expired templates only", () => {
  let now = 0;
  const cache = new TemplateCache({ clock: () => now });
  cache.set("a", 1, T256, 1000);
  cache.set("a", 1, { ...T256B, id: 257 }, 5000);
  cache.set("b", 1, T256);
  assertStrictEquals(cache.size, 3);
  now = 999;
  assertStrictEquals(cache.expire(), 0);
  now = 1000;
  assertStrictEquals(cache.expire(), 1);
  assertStrictEquals(cache.size, 2);
  now = 1e12;
  assertStrictEquals(cache.expire(), 1);
  assertStrictEquals(cache.size, 1);
  assert(cache.get("b", 1, 256));
});

Deno.test("TemplateCache: a field budget bounds it; refused templates count and never decode by an old one", () => {
  let now = 0;
  const cache = new TemplateCache({ clock: () => now, maxFields: 4 });
  assertStrictEquals(new TemplateCache().refused, 0);
  assert(cache.set("a", 1, T256, 1000)); // 1 field
  assert(cache.set("a", 1, { ...T256B, id: 257 })); // 2 fields
  assertStrictEquals(cache.fields, 3);
  // Replacing 256 (1 field) by a 2-field template fits: 4.
  assert(cache.set("a", 1, T256B, 1000));
  assertStrictEquals(cache.fields, 4);
  assertStrictEquals(cache.set("b", 1, T256), undefined, "full");
  assertStrictEquals(cache.refused, 1);
  assertStrictEquals(cache.get("b", 1, 256), undefined);
  // A refused redefinition withdraws the template it would have replaced.
  const wide = templateOf(257, [
    "sourceIPv4Address",
    "destinationIPv4Address",
    "protocolIdentifier",
  ]);
  assertStrictEquals(cache.set("a", 1, wide), undefined);
  assertStrictEquals(cache.refused, 2);
  assertStrictEquals(cache.get("a", 1, 257), undefined);
  assertStrictEquals(cache.fields, 2);
  // Expired templates make room before a refusal; withdrawals and closed sessions give it back.
  cache.set("c", 1, T256B);
  assertStrictEquals(cache.fields, 4);
  now = 1000;
  assert(cache.set("b", 1, T256), "256 of a expired and made room");
  assertStrictEquals(cache.fields, 3);
  assert(cache.withdraw("b", 1, 256));
  assertStrictEquals(cache.fields, 2);
  cache.closeSession("c");
  assertStrictEquals(cache.fields, 0);
  assertStrictEquals(cache.size, 0);
  // The decoder counts the data sets of a refused template as unknown.
  const small = new TemplateCache({ maxFields: 2 });
  const d = decodeMessage(ipfix(TEMPLATES_256_257), small, { session: "s" });
  assertStrictEquals(d.templates.length, 2);
  assertStrictEquals(small.refused, 1);
  assertStrictEquals(small.size, 1);
});

Deno.test("TemplateCache: one session's share; a full cache sweeps for expired templates at most once a second", () => {
  let now = 0;
  const t = (id: number) => ({ ...T256, id });
  const shared = new TemplateCache({ clock: () => now, maxFields: 100, maxSessionFields: 2 });
  assert(shared.set("a", 1, t(256)));
  assert(shared.set("a", 1, t(257)));
  assertStrictEquals(shared.set("a", 1, t(258)), undefined, "a has used its share");
  const other = templateOf(256, ["destinationIPv4Address"]);
  assert(shared.set("a", 1, other), "a replacement counts the fields it replaces");
  assertStrictEquals(shared.set("a", 2, t(256)), undefined);
  assert(shared.set("b", 1, t(258)), "another session has its own share");
  assertStrictEquals(shared.refused, 2);
  // An expired template of the session makes room in its share too.
  const one = new TemplateCache({ clock: () => now, maxSessionFields: 1 });
  one.set("a", 1, t(256), 1000);
  assertStrictEquals(one.set("a", 1, t(257)), undefined);
  now += 1000;
  assert(one.set("a", 1, t(257)), "256 expired");
  now = 0;

  const cache = new TemplateCache({ clock: () => now, maxFields: 2 });
  cache.set("a", 1, t(256), 1000);
  cache.set("b", 1, t(256));
  now = 999;
  assertStrictEquals(cache.set("c", 1, t(256)), undefined, "nothing has expired yet");
  now = 1000;
  assert(cache.set("c", 1, t(256)), "a's template expired and made room");
  assertStrictEquals(cache.size, 2);
  assert(cache.withdraw("c", 1, 256));
  assert(cache.set("d", 1, t(256), 10));
  now = 1020;
  assertStrictEquals(cache.set("e", 1, t(256)), undefined, "the last sweep was 20 ms ago");
  now = 2000;
  assert(cache.set("e", 1, t(256)), "a second later, d's expired template makes room");
  assertStrictEquals(cache.refused, 2);
  assertStrictEquals(cache.fields, 2);
});

Deno.test("TemplateCache: the decoder learns UDP templates with their lifetime", () => {
  let now = FIXED_MS;
  const cache = new TemplateCache({ clock: () => now });
  const opts = { session: "10.0.0.1:4739", templateLifetimeMs: UDP_TEMPLATE_LIFETIME_MS };
  decodeMessage(ipfix(TEMPLATES_256_257), cache, opts);
  const data = ipfix(`0100 0010 ${rec256(1)}`);
  now += UDP_TEMPLATE_LIFETIME_MS - 1;
  assertStrictEquals(decodeMessage(data, cache, opts).recordCount, 1);
  now += 1;
  const d = decodeMessage(data, cache, opts);
  assertStrictEquals(d.recordCount, 0);
  assertEquals(d.unknownSets, [{ templateId: 256, length: 16 }]);
});

Deno.test("TemplateCache: sessions are isolated", () => {
  const cache = new TemplateCache();
  cache.set("a", 1, T256);
  cache.set(7, 1, T256B);
  assertStrictEquals(cache.get("b", 1, 256), undefined);
  assertStrictEquals(cache.get("a", 1, 256)?.template, T256);
  assertStrictEquals(cache.get(7, 1, 256)?.template, T256B);
  assertStrictEquals(cache.get("7", 1, 256), undefined, 'session 7 and "7" differ');
  // The decoder only uses the message's session.
  const data = ipfix(`0100 0008 0a000001`);
  assertEquals(decode(data, cache, defaultRegistry, "a").dataSets[0]!.records, [{
    sourceIPv4Address: "10.0.0.1",
  }]);
  assertEquals(decode(data, cache, defaultRegistry, "b").unknownSets.length, 1);
});

Deno.test("TemplateCache: observation domains are isolated", () => {
  const cache = new TemplateCache();
  cache.set("s", 1, T256);
  cache.set("s", 2, T256B);
  cache.set("s", 0xffffffff, T256);
  assertStrictEquals(cache.get("s", 1, 256)?.template, T256);
  assertStrictEquals(cache.get("s", 2, 256)?.template, T256B);
  assertStrictEquals(cache.get("s", 0, 256), undefined);
  assertStrictEquals(cache.get("s", 0xffffffff, 256)?.template, T256);
  const d1 = decode(ipfix(`0100 0008 0a000001`, { domain: 1 }), cache, defaultRegistry);
  const d2 = decode(ipfix(`0100 0009 0a000001 06`, { domain: 2 }), cache, defaultRegistry);
  assertEquals(d1.dataSets[0]!.records, [{ sourceIPv4Address: "10.0.0.1" }]);
  assertEquals(d2.dataSets[0]!.records, [{
    destinationIPv4Address: "10.0.0.1",
    protocolIdentifier: 6,
  }]);
  // Templates learned from a message go to its domain.
  const c2 = new TemplateCache();
  decode(ipfix(TEMPLATES_256_257, { domain: 9 }), c2);
  assert(c2.get("s", 9, 256));
  assertStrictEquals(c2.get("s", 1, 256), undefined);
});

Deno.test("TemplateCache: withdraw(), withdrawAll() and closeSession()", () => {
  const cache = new TemplateCache();
  const opt = statsOptionsTemplate(300);
  cache.set("a", 1, T256);
  cache.set("a", 1, opt);
  cache.set("a", 2, T256);
  cache.set("b", 1, T256);
  assertStrictEquals(cache.size, 4);
  assertStrictEquals(cache.withdraw("a", 1, 999), false);
  assertStrictEquals(cache.withdraw("zz", 1, 256), false);
  assertStrictEquals(cache.withdrawAll("a", 1, false), 1);
  assertStrictEquals(cache.withdrawAll("a", 1, false), 0);
  assert(cache.get("a", 1, 300), "options template stays");
  assertStrictEquals(cache.withdrawAll("a", 1, true), 1);
  assert(cache.get("a", 2, 256));
  assertStrictEquals(cache.withdraw("a", 2, 256), true);
  assertStrictEquals(cache.get("a", 2, 256), undefined);
  cache.set("a", 1, T256);
  cache.closeSession("a");
  assertStrictEquals(cache.get("a", 1, 256), undefined);
  assert(cache.get("b", 1, 256), "other sessions stay");
  assertStrictEquals(cache.size, 1);
  cache.closeSession("a"); // twice is fine
  assertStrictEquals(cache.withdrawAll("a", 1, false), 0);
});

Deno.test("TemplateCache: a template resent with the same layout is compiled once", () => {
  const cache = new TemplateCache();
  const a = cache.set("a", 1, T256)!;
  // Code is generated on first use; later templates of the same layout reuse it.
  const buf = new Uint8Array(64);
  a.decode(new DataView(buf.buffer), buf, 0, buf.length, { off: 0 });
  a.encode(new DataView(buf.buffer), buf, 0, buf.length, {});
  const b = cache.set("b", 1, templateOf(256, ["sourceIPv4Address"]))!;
  assertStrictEquals(a.decode, b.decode);
  assertStrictEquals(a.encode, b.encode);
  const c = cache.set("a", 1, T256B)!;
  assert(c.decode !== a.decode);
  assertStrictEquals(cache.get("a", 1, 256), c, "the new template replaces the old");
});

Deno.test("compileTemplate(): repeated elements get [n] suffixes", () => {
  const t = compileTemplate({
    id: 256,
    scopeFieldCount: 0,
    fields: [
      { element: el("sourceIPv4Address"), length: 4 },
      { element: el("sourceIPv4Address"), length: 4 },
      { element: el("protocolIdentifier"), length: 1 },
      { element: el("sourceIPv4Address"), length: 4 },
    ],
  });
  assertEquals(t.names, [
    "sourceIPv4Address",
    "sourceIPv4Address[1]",
    "protocolIdentifier",
    "sourceIPv4Address[2]",
  ]);
  assertStrictEquals(t.minLength, 13);
  const rec = {
    sourceIPv4Address: "10.0.0.1",
    "sourceIPv4Address[1]": "10.0.0.2",
    protocolIdentifier: 6,
    "sourceIPv4Address[2]": "10.0.0.3",
  };
  const bytes = encodeOne([t.template], [[t, rec]]);
  assertEquals(decode(bytes).dataSets[0]!.records, [rec]);
});

Deno.test("fields with a length invalid for their type decode as octetArray", () => {
  // An IPv4 address in 5 octets, a boolean in 2, a variable-length unsigned32.
  const bytes = ipfix(`
    0002 0014 0100 0003 0008 0005 0114 0002 000a ffff
    0100 000f 0a00000102 0102 03 aabbcc
  `);
  const d = decode(bytes);
  assertEquals(d.dataSets[0]!.records, [{
    sourceIPv4Address: hex("0a00000102"),
    dataRecordsReliability: hex("0102"),
    ingressInterface: hex("aabbcc"),
  }]);
  assertEquals(reencode(d), bytes);
});

// ---------------------------------------------------------------------------------------------
// Element selection

/** The record with only the named elements, in its own order. */
function pick(r: DataRecord, names: ReadonlySet<string>): DataRecord {
  return Object.fromEntries(Object.entries(r).filter(([k]) => names.has(k)));
}

Deno.test("a cache that selects elements decodes those and skips the rest", () => {
  const t = compileTemplate(allTypesTemplate());
  const records = allTypesRecords();
  const bytes = encodeOne([t.template], records.map((r) => [t, r]));
  const keep = new Set([
    "protocolIdentifier",
    "interfaceDescription", // variable-length string
    "sourcePodName", // enterprise, variable-length
    "sourceIPv4Address",
    "notAnElementOfThisTemplate",
  ]);
  const d = decode(bytes, new TemplateCache({ elements: keep }));
  assertStrictEquals(d.recordCount, records.length);
  assertEquals(d.dataSets[0]!.records, records.map((r) => pick(r, keep)));
  // A full cache in the same process still decodes every element (layouts are cached apart).
  assertEquals(decode(bytes).dataSets[0]!.records, records);
  // A name with a comma is one (unknown) name, not two: it keeps nothing.
  const odd = decode(
    bytes,
    new TemplateCache({ elements: ["interfaceDescription,sourcePodName"] }),
  );
  assertEquals(odd.dataSets[0]!.records, records.map(() => ({})));
  assertThrows(
    () => new TemplateCache({ elements: "sourcePodName" as unknown as string[] }),
    TypeError,
  );
  // An empty selection still counts the records and checks their lengths.
  const none = decode(bytes, new TemplateCache({ elements: [] }));
  assertStrictEquals(none.recordCount, records.length);
  assertEquals(none.dataSets[0]!.records, records.map(() => ({})));
});

Deno.test("skipped fields are still checked for length: truncation is detected", () => {
  const rng = new Rng(7);
  const t = compileTemplate(antreaFlowTemplate(4));
  const bytes = encodeOne([t.template], [[t, antreaRecord(rng, 4)]]);
  const dv = new DataView(bytes.buffer);
  // The message holds the template set, then a data set with the one record.
  const dataSet = MESSAGE_HEADER_LENGTH + dv.getUint16(MESSAGE_HEADER_LENGTH + 2);
  let thrown = 0;
  // Cut the record short (message and set lengths cut to match): a decoder that keeps only
  // the source address must do as the full decoder does (throw at the same offset, or take a
  // remainder shorter than any record as padding), never return a shorter record.
  const outcome = (bytes: Uint8Array, cache?: TemplateCache) => {
    try {
      return `${decode(bytes, cache).recordCount} records`;
    } catch (e) {
      return `${(e as Error).constructor.name} at ${(e as TruncatedError).offset}`;
    }
  };
  for (let cut = bytes.length - 1; cut > dataSet + 4; cut--) {
    const short = bytes.slice(0, cut);
    const sv = new DataView(short.buffer);
    sv.setUint16(2, cut);
    sv.setUint16(dataSet + 2, cut - dataSet);
    const full = outcome(short);
    const picked = outcome(short, new TemplateCache({ elements: ["sourceIPv4Address"] }));
    assertStrictEquals(picked, full, `cut ${cut}`);
    if (full.startsWith("TruncatedError")) thrown++;
  }
  assert(thrown > 100, `${thrown} cuts threw`);
});

Deno.test("element selection on random Antrea records equals picking from the full decode", () => {
  const rng = new Rng(11);
  for (const v of [4, 6] as const) {
    const t = compileTemplate(antreaFlowTemplate(v));
    const records = Array.from({ length: 50 }, () => antreaRecord(rng, v));
    const bytes = encodeOne([t.template], records.map((r) => [t, r]));
    const full = decode(bytes).dataSets[0]!.records;
    const names = antreaFlowElementNames(v);
    for (let i = 0; i < 40; i++) {
      const keep = new Set(names.filter(() => rng.chance(0.3)));
      const d = decode(bytes, new TemplateCache({ elements: keep }));
      assertEquals(d.dataSets[0]!.records, full.map((r) => pick(r, keep)), show([...keep]));
    }
  }
});
