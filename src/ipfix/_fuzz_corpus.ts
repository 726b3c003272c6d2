/**
 * Fuzzing corpus and mutation generator of the IPFIX decoder, shared by `fuzz_test.ts` and the
 * longer `deno task fuzz`. Every case is a pure function of (seed, index), so a failure is
 * reproduced with `deno task fuzz -- --seed S --case I`.
 *
 * Also home of the all-types template, which the codec tests use too.
 *
 * @module
 */

import { Rng } from "../random/mod.ts";
import { concat } from "./_test_util.ts";
import { antreaFlowTemplate } from "./antrea_templates.ts";
import { type CompiledTemplate, compileTemplate } from "./compile.ts";
import { decodeMessage } from "./decoder.ts";
import { MessageEncoder, udpMessageSize } from "./encoder.ts";
import { MalformedError, TruncatedError } from "./errors.ts";
import { defaultRegistry, Registry } from "./registry.ts";
import { TemplateCache } from "./template_cache.ts";
import type { DataRecord, InfoElement, Template } from "./types.ts";
import { MESSAGE_HEADER_LENGTH, VARIABLE_LENGTH } from "./types.ts";
import { toHex } from "./values.ts";

// ---------------------------------------------------------------------------------------------
// Seeded cases

/** Mixes a run seed and a case index into the seed of that case. */
export function caseSeed(seed: number, index: number): number {
  let h = (seed ^ Math.imul(index, 0x9e3779b9)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

// ---------------------------------------------------------------------------------------------
// The all-types template

/** RFC 5612's private enterprise number for documentation, home of the test-only elements. */
export const DOC_PEN = 32473;

/** Test-only elements for the abstract data types that no IANA or Antrea element has. */
export const TEST_ELEMENTS: readonly InfoElement[] = [
  { name: "testSigned8", id: 1, enterpriseId: DOC_PEN, type: "signed8" },
  { name: "testSigned16", id: 2, enterpriseId: DOC_PEN, type: "signed16" },
  { name: "testSigned64", id: 4, enterpriseId: DOC_PEN, type: "signed64" },
  { name: "testFloat32", id: 5, enterpriseId: DOC_PEN, type: "float32" },
];

/** The default registry plus {@link TEST_ELEMENTS}. */
export const TEST_REGISTRY: Registry = new Registry().add(
  ...defaultRegistry.elements(),
  ...TEST_ELEMENTS,
);

/** Template ID of the all-types template. */
export const ALL_TYPES_TEMPLATE_ID = 300;

/** [element name, encoded length] of the all-types template, one field per abstract type. */
export const ALL_TYPES_FIELDS: readonly (readonly [string, number])[] = [
  ["protocolIdentifier", 1], // unsigned8
  ["sourceTransportPort", 2], // unsigned16
  ["ingressInterface", 4], // unsigned32
  ["octetDeltaCount", 8], // unsigned64
  ["ipv6ExtensionHeadersFull", 32], // unsigned256 (RFC 9740)
  ["tcpOptionsFull", 9], // unsigned256, reduced-size
  ["testSigned8", 1], // signed8 (PEN 32473)
  ["testSigned16", 2], // signed16 (PEN 32473)
  ["ingressNetworkPolicyRulePriority", 4], // signed32 (Antrea, PEN 56506)
  ["testSigned64", 8], // signed64 (PEN 32473)
  ["testFloat32", 4], // float32 (PEN 32473)
  ["samplingProbability", 8], // float64
  ["dataRecordsReliability", 1], // boolean
  ["hashDigestOutput", 1], // boolean
  ["sourceMacAddress", 6], // macAddress
  ["mplsTopLabelStackSection", 3], // octetArray, fixed
  ["opaqueOctets", VARIABLE_LENGTH], // octetArray, variable
  ["interfaceName", 16], // string, fixed
  ["interfaceDescription", VARIABLE_LENGTH], // string, variable
  ["applicationName", VARIABLE_LENGTH], // string, variable
  ["sourcePodName", VARIABLE_LENGTH], // string, variable (Antrea, PEN 56506)
  ["flowStartSeconds", 4], // dateTimeSeconds
  ["flowStartMilliseconds", 8], // dateTimeMilliseconds
  ["flowStartMicroseconds", 8], // dateTimeMicroseconds
  ["flowStartNanoseconds", 8], // dateTimeNanoseconds
  ["sourceIPv4Address", 4], // ipv4Address
  ["sourceIPv6Address", 16], // ipv6Address
  ["reverseOctetDeltaCount", 8], // unsigned64 (reverse, PEN 29305)
  ["unknown:4242:7", VARIABLE_LENGTH], // unregistered: octetArray
];

/** The all-types template, resolved with {@link TEST_REGISTRY}. */
export function allTypesTemplate(id = ALL_TYPES_TEMPLATE_ID): Template {
  return {
    id,
    scopeFieldCount: 0,
    fields: ALL_TYPES_FIELDS.map(([name, length]) => {
      const element = TEST_REGISTRY.byName(name);
      if (!element) throw new TypeError(`Unknown information element "${name}"`);
      return { element, length };
    }),
  };
}

/** Two records of the all-types template: extremes of each type, booleans true and false. */
export function allTypesRecords(): DataRecord[] {
  return [
    {
      protocolIdentifier: 6,
      sourceTransportPort: 443,
      ingressInterface: 4294967295,
      octetDeltaCount: 18446744073709551615n,
      ipv6ExtensionHeadersFull: 2n ** 256n - 1n,
      tcpOptionsFull: 2n ** 72n - 1n,
      testSigned8: -128,
      testSigned16: -32768,
      ingressNetworkPolicyRulePriority: -2147483648,
      testSigned64: -9223372036854775808n,
      testFloat32: 1.5,
      samplingProbability: 0.1,
      dataRecordsReliability: true,
      hashDigestOutput: false,
      sourceMacAddress: "02:42:ac:11:00:02",
      mplsTopLabelStackSection: new Uint8Array([1, 2, 3]),
      opaqueOctets: Uint8Array.from({ length: 300 }, (_, i) => i & 0xff),
      interfaceName: "eth0",
      interfaceDescription: "é".repeat(100) + "a".repeat(100), // 300 octets: 3-octet length
      applicationName: "",
      sourcePodName: "frontend-日本-😀",
      flowStartSeconds: 1700000000,
      flowStartMilliseconds: 1700000000123,
      flowStartMicroseconds: 1700000000123456,
      flowStartNanoseconds: 1700000000123456789n,
      sourceIPv4Address: "192.0.2.1",
      sourceIPv6Address: "2001:db8::1",
      reverseOctetDeltaCount: 9007199254740992n,
      "unknown:4242:7": new Uint8Array([0xde, 0xad, 0xbe, 0xef]),
    },
    {
      protocolIdentifier: 255,
      sourceTransportPort: 65535,
      ingressInterface: 0,
      octetDeltaCount: 9007199254740991,
      ipv6ExtensionHeadersFull: 0,
      tcpOptionsFull: 9007199254740991,
      testSigned8: 127,
      testSigned16: 32767,
      ingressNetworkPolicyRulePriority: 2147483647,
      testSigned64: 9223372036854775807n,
      testFloat32: -2.5,
      samplingProbability: -1e300,
      dataRecordsReliability: false,
      hashDigestOutput: true,
      sourceMacAddress: "ff:ff:ff:ff:ff:ff",
      mplsTopLabelStackSection: new Uint8Array([255, 0, 128]),
      opaqueOctets: new Uint8Array(0),
      interfaceName: "0123456789abcdef",
      interfaceDescription: "",
      applicationName: "a",
      sourcePodName: "p".repeat(254), // 254 octets: the longest 1-octet length
      flowStartSeconds: 0,
      flowStartMilliseconds: 0,
      flowStartMicroseconds: 0,
      flowStartNanoseconds: 0n,
      sourceIPv4Address: "255.255.255.255",
      sourceIPv6Address: "::ffff:10.0.0.1",
      reverseOctetDeltaCount: 0,
      "unknown:4242:7": new Uint8Array(0),
    },
  ];
}

// ---------------------------------------------------------------------------------------------
// Realistic Antrea flow records

const NAMESPACES = ["default", "kube-system", "monitoring", "shop", "antrea-test"];
const APPS = ["frontend", "backend", "redis", "coredns", "postgres", "checkout", "nginx"];
const NODES = ["k8s-node-control-plane", "k8s-node-worker-1", "k8s-node-worker-2"];
const TCP_STATES = ["ESTABLISHED", "TIME_WAIT", "SYN_SENT", "CLOSE_WAIT", ""];
const POLICIES = ["", "allow-frontend", "deny-all", "k8s-np-ingress-web"];

function podName(rng: Rng): string {
  const a = "abcdefghijklmnopqrstuvwxyz0123456789";
  let suffix = "";
  for (let i = 0; i < 5; i++) suffix += a[rng.int(a.length)];
  return `${rng.pick(APPS)}-${rng.u32().toString(16).slice(0, 9)}-${suffix}`;
}

/** A flow record of Antrea's template for `ipVersion`, with plausible values. */
export function antreaRecord(rng: Rng, ipVersion: 4 | 6): DataRecord {
  const start = 1_700_000_000 + rng.int(10_000_000);
  const packets = rng.range(1, 1_000_000);
  const reversePackets = rng.range(0, packets);
  const v = ipVersion === 4 ? "IPv4" : "IPv6";
  const addr = () =>
    ipVersion === 4
      ? `10.244.${rng.int(4)}.${rng.range(2, 254)}`
      : `fd00:10:244:${rng.int(4).toString(16)}::${rng.range(2, 0xfffe).toString(16)}`;
  const ingress = rng.pick(POLICIES);
  const egress = rng.pick(POLICIES);
  const toService = rng.chance(0.5);
  return {
    flowStartSeconds: start,
    flowEndSeconds: start + rng.int(3600),
    flowEndReason: rng.range(1, 5),
    sourceTransportPort: rng.range(32768, 60999),
    destinationTransportPort: rng.pick([53, 80, 443, 5432, 6379, 8080]),
    protocolIdentifier: rng.pick([6, 17, 132]),
    packetTotalCount: packets,
    octetTotalCount: packets * rng.range(40, 1500),
    packetDeltaCount: rng.int(packets + 1),
    octetDeltaCount: rng.int(packets + 1) * 100,
    [`source${v}Address`]: addr(),
    [`destination${v}Address`]: addr(),
    reversePacketTotalCount: reversePackets,
    reverseOctetTotalCount: reversePackets * rng.range(40, 1500),
    reversePacketDeltaCount: rng.int(reversePackets + 1),
    reverseOctetDeltaCount: rng.int(reversePackets + 1) * 100,
    sourcePodName: podName(rng),
    sourcePodNamespace: rng.pick(NAMESPACES),
    sourceNodeName: rng.pick(NODES),
    destinationPodName: rng.chance(0.8) ? podName(rng) : "",
    destinationPodNamespace: rng.pick(NAMESPACES),
    destinationNodeName: rng.pick(NODES),
    [`destinationCluster${v}`]: toService ? (ipVersion === 4 ? "10.96.0.10" : "fd00:10:96::a") : (
      ipVersion === 4 ? "0.0.0.0" : "::"
    ),
    destinationServicePort: toService ? rng.pick([53, 80, 443]) : 0,
    destinationServicePortName: toService ? `${rng.pick(NAMESPACES)}/svc:http` : "",
    ingressNetworkPolicyName: ingress,
    ingressNetworkPolicyNamespace: ingress ? rng.pick(NAMESPACES) : "",
    ingressNetworkPolicyType: ingress ? rng.range(1, 4) : 0,
    ingressNetworkPolicyRuleName: ingress ? "rule-1" : "",
    ingressNetworkPolicyRuleAction: ingress ? rng.range(1, 3) : 0,
    egressNetworkPolicyName: egress,
    egressNetworkPolicyNamespace: egress ? rng.pick(NAMESPACES) : "",
    egressNetworkPolicyType: egress ? rng.range(1, 4) : 0,
    egressNetworkPolicyRuleName: egress ? "rule-2" : "",
    egressNetworkPolicyRuleAction: egress ? rng.range(1, 3) : 0,
    tcpState: rng.pick(TCP_STATES),
    flowType: rng.range(1, 4),
  };
}

// ---------------------------------------------------------------------------------------------
// The corpus

/** Options template of the corpus: an exporting process's statistics, scoped by domain. */
export function statsOptionsTemplate(id = 400): Template {
  const f = (name: string, length: number) => ({ element: defaultRegistry.byName(name)!, length });
  return {
    id,
    scopeFieldCount: 1,
    fields: [
      f("observationDomainId", 4),
      f("exportedMessageTotalCount", 8),
      f("exportedFlowRecordTotalCount", 8),
      f("exporterIPv4Address", 4),
    ],
  };
}

/** A valid message to mutate, and the templates it needs that it does not define itself. */
export interface Seed {
  readonly name: string;
  readonly bytes: Uint8Array;
  /** Templates to load into the cache before decoding (for data-only messages). */
  readonly prime: readonly Template[];
  /** Every template the message refers to, to locate its length fields. */
  readonly templates: readonly Template[];
}

const FIXED_MS = 1_700_000_000_000;

function encodeAll(
  build: (enc: MessageEncoder) => void,
  maxMessageSize = udpMessageSize(1500),
): Uint8Array[] {
  const enc = new MessageEncoder({
    observationDomainId: 1,
    maxMessageSize,
    clock: () => FIXED_MS,
    sequenceNumber: 1000,
  });
  build(enc);
  return enc.flush().map((m) => m.bytes);
}

/** Sets (everything after the header) of a message. */
function setsOf(msg: Uint8Array): Uint8Array {
  return msg.subarray(MESSAGE_HEADER_LENGTH);
}

/** A message header followed by `sets`, with the right length. */
export function messageOf(sets: Uint8Array, domain = 1, seq = 0): Uint8Array {
  const out = new Uint8Array(MESSAGE_HEADER_LENGTH + sets.length);
  const dv = new DataView(out.buffer);
  dv.setUint16(0, 10);
  dv.setUint16(2, out.length);
  dv.setUint32(4, FIXED_MS / 1000);
  dv.setUint32(8, seq);
  dv.setUint32(12, domain);
  out.set(sets, MESSAGE_HEADER_LENGTH);
  return out;
}

function set(id: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + body.length);
  const dv = new DataView(out.buffer);
  dv.setUint16(0, id);
  dv.setUint16(2, out.length);
  out.set(body, 4);
  return out;
}

let corpusCache: Seed[] | undefined;

/** The valid messages the fuzzer mutates; built once, deterministically. */
export function buildCorpus(): Seed[] {
  if (corpusCache) return corpusCache;
  const rng = new Rng(0xc0ffee);
  const v4 = compileTemplate(antreaFlowTemplate(4));
  const v6 = compileTemplate(antreaFlowTemplate(6));
  const all = compileTemplate(allTypesTemplate());
  const opts = compileTemplate(statsOptionsTemplate());
  const v4Records = Array.from({ length: 12 }, () => antreaRecord(rng, 4));
  const v6Records = Array.from({ length: 6 }, () => antreaRecord(rng, 6));
  const statsRecord = {
    observationDomainId: 1,
    exportedMessageTotalCount: 123456,
    exportedFlowRecordTotalCount: 9876543210,
    exporterIPv4Address: "192.0.2.7",
  };
  const addAll = (enc: MessageEncoder, t: CompiledTemplate, rs: DataRecord[]) => {
    for (const r of rs) enc.addRecord(t, r);
  };
  const seeds: Seed[] = [];
  const add = (name: string, bytes: Uint8Array, prime: Template[], templates: Template[]) =>
    seeds.push({ name, bytes, prime, templates });

  const [v4Full] = encodeAll((e) => {
    e.addTemplate(v4.template);
    addAll(e, v4, v4Records.slice(0, 5));
  });
  add("antrea-ipv4 template+records", v4Full!, [], [v4.template]);
  const [v4Data] = encodeAll((e) => addAll(e, v4, v4Records.slice(5, 11)));
  add("antrea-ipv4 records", v4Data!, [v4.template], [v4.template]);
  const [v6Full] = encodeAll((e) => {
    e.addTemplate(v6.template);
    addAll(e, v6, v6Records.slice(0, 3));
  });
  add("antrea-ipv6 template+records", v6Full!, [], [v6.template]);
  const [allFull] = encodeAll((e) => {
    e.addTemplate(all.template);
    addAll(e, all, allTypesRecords());
  }, 65535);
  add("all-types template+records", allFull!, [], [all.template]);
  const [allData] = encodeAll((e) => addAll(e, all, allTypesRecords().reverse()), 65535);
  add("all-types records", allData!, [all.template], [all.template]);
  const [templatesOnly] = encodeAll((e) => {
    e.addTemplate(v4.template);
    e.addTemplate(v6.template);
    e.addTemplate(all.template);
    e.addTemplate(opts.template);
  });
  add("templates only", templatesOnly!, [], [
    v4.template,
    v6.template,
    all.template,
    opts.template,
  ]);
  const [options] = encodeAll((e) => {
    e.addTemplate(opts.template);
    e.addRecord(opts, statsRecord);
  });
  add("options template+record", options!, [], [opts.template]);
  const [withdrawals] = encodeAll((e) => {
    e.addWithdrawal(v4.template.id);
    e.addWithdrawal(2);
    e.addWithdrawal(opts.template.id, true);
    e.addWithdrawal(3, true);
    e.addTemplate(v4.template);
  });
  add("withdrawals", withdrawals!, [v4.template, opts.template], [v4.template, opts.template]);
  // Several sets: a v6 data set, a reserved set, an unknown data set, padded data set, options.
  const [v6Data] = encodeAll((e) => addAll(e, v6, v6Records.slice(3)));
  const [optData] = encodeAll((e) => e.addRecord(opts, statsRecord));
  const padded = setsOf(optData!);
  const paddedSet = set(opts.template.id, concat(padded.subarray(4), new Uint8Array(3)));
  add(
    "mixed sets",
    messageOf(concat(
      setsOf(v6Data!),
      set(5, new Uint8Array([1, 2, 3, 4])),
      set(999, rng.bytes(20)),
      paddedSet,
      // Template 500 (octetDeltaCount, sourceIPv4Address) and four octets of padding.
      set(2, new Uint8Array([1, 244, 0, 2, 0, 1, 0, 8, 0, 8, 0, 4, 0, 0, 0, 0])),
    )),
    [v6.template, opts.template],
    [v6.template, opts.template],
  );
  corpusCache = seeds;
  return seeds;
}

// ---------------------------------------------------------------------------------------------
// Structure of a message: where its length fields are

/** Offsets of a message's length-like fields, found by walking its valid structure. */
export interface LengthFields {
  /** Offsets of 16-bit fields: message length, set lengths, field counts, field lengths. */
  readonly u16: number[];
  /** Offsets of the first octet of variable-length prefixes in data records. */
  readonly varLen: number[];
}

/** Walks a valid message and returns the offsets of its length fields. */
export function lengthFields(msg: Uint8Array, templates: readonly Template[]): LengthFields {
  const dv = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
  const byId = new Map(templates.map((t) => [t.id, t]));
  const u16 = [2];
  const varLen: number[] = [];
  let off = MESSAGE_HEADER_LENGTH;
  while (off + 4 <= msg.length) {
    const id = dv.getUint16(off);
    const len = dv.getUint16(off + 2);
    if (len < 4) break;
    u16.push(off + 2);
    const end = Math.min(off + len, msg.length);
    let o = off + 4;
    if (id === 2 || id === 3) {
      while (end - o >= 4) {
        const count = dv.getUint16(o + 2);
        u16.push(o + 2);
        o += 4;
        if (count === 0) continue;
        if (id === 3) {
          u16.push(o);
          o += 2;
        }
        for (let i = 0; i < count && o + 4 <= end; i++) {
          u16.push(o + 2);
          o += dv.getUint16(o) & 0x8000 ? 8 : 4;
        }
      }
    } else {
      const t = byId.get(id);
      if (t) {
        const min = t.fields.reduce((n, f) => n + (f.length === VARIABLE_LENGTH ? 1 : f.length), 0);
        while (end - o >= min) {
          for (const f of t.fields) {
            if (f.length !== VARIABLE_LENGTH) {
              o += f.length;
              continue;
            }
            varLen.push(o);
            let l = msg[o]!;
            o++;
            if (l === 255) {
              l = dv.getUint16(o);
              o += 2;
            }
            o += l;
          }
        }
      }
    }
    off += len;
  }
  return { u16, varLen };
}

// ---------------------------------------------------------------------------------------------
// Mutations

const INTERESTING_8 = [0, 1, 2, 3, 4, 0x7f, 0x80, 0xfe, 0xff];
const INTERESTING_16 = [
  0,
  1,
  2,
  3,
  4,
  5,
  15,
  16,
  17,
  254,
  255,
  256,
  257,
  0x7fff,
  0x8000,
  0xfffe,
  0xffff,
];

function setU16(b: Uint8Array, o: number, v: number): void {
  if (o + 1 >= b.length) return;
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
}

function insertAt(b: Uint8Array, at: number, ins: Uint8Array): Uint8Array {
  const out = new Uint8Array(b.length + ins.length);
  out.set(b.subarray(0, at), 0);
  out.set(ins, at);
  out.set(b.subarray(at), at + ins.length);
  return out;
}

function removeAt(b: Uint8Array, at: number, n: number): Uint8Array {
  const out = new Uint8Array(b.length - n);
  out.set(b.subarray(0, at), 0);
  out.set(b.subarray(at + n), at);
  return out;
}

/** Names of the mutation operators. */
export const MUTATIONS = [
  "flip-bits",
  "replace-bytes",
  "truncate",
  "insert-bytes",
  "remove-bytes",
  "length-field",
  "var-length",
  "random-u16",
  "splice",
  "duplicate-chunk",
] as const;

/** A mutation operator. */
export type Mutation = typeof MUTATIONS[number];

/** Applies one mutation; returns the new bytes (possibly the same array) and what was done. */
export function applyMutation(
  rng: Rng,
  op: Mutation,
  b: Uint8Array,
  fields: LengthFields,
  corpus: readonly Seed[],
): { bytes: Uint8Array; what: string } {
  const n = b.length;
  switch (op) {
    case "flip-bits": {
      const k = rng.range(1, 8);
      const at: number[] = [];
      for (let i = 0; i < k && n > 0; i++) {
        const bit = rng.int(n * 8);
        b[bit >> 3]! ^= 1 << (bit & 7);
        at.push(bit);
      }
      return { bytes: b, what: `flip bits ${at.join(",")}` };
    }
    case "replace-bytes": {
      const k = rng.range(1, 4);
      const at: string[] = [];
      for (let i = 0; i < k && n > 0; i++) {
        const o = rng.int(n);
        b[o] = rng.chance(0.5) ? rng.pick(INTERESTING_8) : rng.int(256);
        at.push(`${o}=${b[o]}`);
      }
      return { bytes: b, what: `replace ${at.join(",")}` };
    }
    case "truncate": {
      const len = rng.int(n + 1);
      return { bytes: b.slice(0, len), what: `truncate to ${len}` };
    }
    case "insert-bytes": {
      const at = rng.int(n + 1);
      const ins = rng.chance(0.5)
        ? rng.bytes(rng.range(1, 16))
        : new Uint8Array(rng.range(1, 16)).fill(rng.pick(INTERESTING_8));
      return { bytes: insertAt(b, at, ins), what: `insert ${toHex(ins)} at ${at}` };
    }
    case "remove-bytes": {
      if (n === 0) return { bytes: b, what: "remove nothing" };
      const at = rng.int(n);
      const k = Math.min(n - at, rng.range(1, 16));
      return { bytes: removeAt(b, at, k), what: `remove ${k} at ${at}` };
    }
    case "length-field": {
      const o = rng.pick(fields.u16);
      const old = o + 1 < n ? (b[o]! << 8) | b[o + 1]! : 0;
      const v = rng.pick([
        rng.pick(INTERESTING_16),
        rng.int(65536),
        (old + rng.range(-8, 8)) & 0xffff,
        (n - o + rng.range(-4, 4)) & 0xffff,
      ]);
      setU16(b, o, v);
      return { bytes: b, what: `u16 at ${o}: ${old} -> ${v}` };
    }
    case "var-length": {
      if (fields.varLen.length === 0 || rng.chance(0.2)) {
        const o = rng.int(Math.max(n, 1));
        if (o < n) b[o] = 255;
        return { bytes: b, what: `255 at ${o}` };
      }
      const o = rng.pick(fields.varLen);
      if (o >= n) return { bytes: b, what: "var-length past end" };
      const v = rng.pick([0, 1, 254, 255, rng.int(256)]);
      b[o] = v;
      if (v === 255 && rng.chance(0.7)) {
        setU16(b, o + 1, rng.pick([0, 1, 255, 0xffff, rng.int(65536)]));
      }
      return { bytes: b, what: `var-length at ${o} = ${v}` };
    }
    case "random-u16": {
      const o = rng.int(Math.max(n - 1, 1));
      const v = rng.pick(INTERESTING_16);
      setU16(b, o, v);
      return { bytes: b, what: `u16 ${v} at ${o}` };
    }
    case "splice": {
      const other = rng.pick(corpus).bytes;
      const from = rng.int(other.length);
      const len = rng.range(1, Math.min(256, other.length - from));
      const at = rng.int(n + 1);
      const chunk = other.slice(from, from + len);
      if (rng.chance(0.5)) {
        return { bytes: insertAt(b, at, chunk), what: `insert ${len} octets of other at ${at}` };
      }
      const out = b.slice();
      out.set(chunk.subarray(0, Math.max(0, n - at)), at);
      return { bytes: out, what: `overwrite ${len} octets of other at ${at}` };
    }
    case "duplicate-chunk": {
      if (n === 0) return { bytes: b, what: "duplicate nothing" };
      const from = rng.int(n);
      const len = rng.range(1, Math.min(128, n - from));
      const at = rng.int(n + 1);
      return {
        bytes: insertAt(b, at, b.slice(from, from + len)),
        what: `duplicate ${len} from ${from} at ${at}`,
      };
    }
  }
}

/** Sets the message length field to the length of the buffer (so mutations reach the sets). */
export function fixLength(b: Uint8Array): void {
  if (b.length >= 4) setU16(b, 2, Math.min(b.length, 0xffff));
}

// ---------------------------------------------------------------------------------------------
// Cases

/** One fuzz case: messages decoded in order with one template cache. */
export interface FuzzCase {
  /**
   * Which generator made it: {@link fuzzCase}, {@link garbageCase} or {@link truncationCases}.
   */
  readonly kind: "random" | "garbage" | "truncation";
  readonly index: number;
  readonly description: string;
  /** Templates loaded into the cache first. */
  readonly prime: readonly Template[];
  readonly messages: readonly Uint8Array[];
}

const fieldsCache = new WeakMap<Seed, LengthFields>();

function fieldsOf(seed: Seed): LengthFields {
  let f = fieldsCache.get(seed);
  if (!f) fieldsCache.set(seed, f = lengthFields(seed.bytes, seed.templates));
  return f;
}

function mutated(
  rng: Rng,
  seed: Seed,
  corpus: readonly Seed[],
): { bytes: Uint8Array; what: string } {
  let b: Uint8Array = seed.bytes.slice();
  const steps: string[] = [];
  const fields = fieldsOf(seed);
  const k = rng.chance(0.6) ? 1 : rng.range(2, 5);
  for (let i = 0; i < k; i++) {
    const r = applyMutation(rng, rng.pick(MUTATIONS), b, fields, corpus);
    b = r.bytes;
    steps.push(r.what);
  }
  if (rng.chance(0.5)) {
    fixLength(b);
    steps.push("fix length");
  }
  return { bytes: b, what: `${seed.name}: ${steps.join("; ")}` };
}

/** Random garbage, half of it behind a plausible header and set headers. */
function garbage(rng: Rng): { bytes: Uint8Array; what: string } {
  const len = rng.int(2001);
  const b = rng.bytes(len);
  if (rng.chance(0.5) && len >= 16) {
    setU16(b, 0, 10);
    fixLength(b);
    // Plausible set headers too, so that the bytes reach the template and record readers.
    let o = 16;
    while (o + 4 <= len && rng.chance(0.8)) {
      const setLen = Math.min(len - o, rng.range(4, 400));
      setU16(b, o, rng.pick([2, 3, 256, 257, 300, 400, rng.int(65536)]));
      setU16(b, o + 2, setLen);
      o += setLen;
    }
    return { bytes: b, what: `structured garbage of ${len} octets` };
  }
  return { bytes: b, what: `garbage of ${len} octets` };
}

function garbageOf(rng: Rng, index: number, kind: FuzzCase["kind"]): FuzzCase {
  const g = garbage(rng);
  const prime = rng.chance(0.5) ? rng.pick(buildCorpus()).templates : [];
  return { kind, index, description: g.what, prime, messages: [g.bytes] };
}

/**
 * Garbage case `index` of the run with this seed: 0–2000 random octets, half of them behind a
 * valid header and plausible set headers, decoded with an empty cache or one that knows the
 * corpus templates.
 */
export function garbageCase(seed: number, index: number): FuzzCase {
  return garbageOf(new Rng(caseSeed(~seed, index)), index, "garbage");
}

let dataSeedsCache: Seed[] | undefined;

function dataSeeds(corpus: readonly Seed[]): Seed[] {
  return dataSeedsCache ??= corpus.filter((s) => s.prime.length > 0 && s.name !== "withdrawals");
}

/**
 * Fuzz case `index` of the run with this seed: 1–5 mutations of a corpus message (8 % of the
 * cases are garbage instead), sometimes after another message on the same cache.
 */
export function fuzzCase(seed: number, index: number): FuzzCase {
  const corpus = buildCorpus();
  const rng = new Rng(caseSeed(seed, index));
  if (rng.chance(0.08)) return garbageOf(rng, index, "random");
  // Data-only seeds get more turns: records are most of what a collector decodes, and a mutated
  // template costs a compilation (about 0.7 ms for Antrea's), which bounds the cases per second.
  const base = rng.chance(0.35) ? rng.pick(dataSeeds(corpus)) : rng.pick(corpus);
  const messages: Uint8Array[] = [];
  const what: string[] = [];
  let prime = base.prime;
  // Sometimes the cache first learns from another (mutated) message: a shared session.
  if (rng.chance(0.2)) {
    const first = rng.pick(corpus);
    const m = rng.chance(0.5)
      ? mutated(rng, first, corpus)
      : { bytes: first.bytes, what: first.name };
    prime = [...prime, ...first.prime];
    messages.push(m.bytes);
    what.push(`first ${m.what}`);
  }
  const m = mutated(rng, base, corpus);
  messages.push(m.bytes);
  what.push(m.what);
  // Sometimes decode it twice: templates it defined now apply to its earlier sets.
  if (rng.chance(0.1)) {
    messages.push(m.bytes);
    what.push("again");
  }
  return { kind: "random", index, description: what.join(" | "), prime, messages };
}

/**
 * Every truncation of every corpus message, with the header length left as it was and set to
 * the truncated length: 2 × (length + 1) cases per message.
 */
export function* truncationCases(): Generator<FuzzCase> {
  let index = 0;
  for (const seed of buildCorpus()) {
    for (let len = 0; len <= seed.bytes.length; len++) {
      for (const fix of [false, true]) {
        const b = seed.bytes.slice(0, len);
        if (fix) fixLength(b);
        yield {
          kind: "truncation",
          index: index++,
          description: `${seed.name}: truncate to ${len}${fix ? ", fix length" : ""}`,
          prime: seed.prime,
          messages: [b],
        };
      }
    }
  }
}

/** Whether a decoder error is one of the two it may throw. */
export function isCodecError(e: unknown): boolean {
  return e instanceof TruncatedError || e instanceof MalformedError;
}

/** What went wrong in a case. */
export interface CaseFailure {
  readonly case: FuzzCase;
  /** Index in `case.messages` of the message that failed. */
  readonly message: number;
  readonly error: unknown;
  /** True for a RangeError or SyntaxError that is not a TruncatedError or MalformedError. */
  readonly foreign: boolean;
}

/** Result counters of a run. */
export interface RunStats {
  cases: number;
  decoded: number;
  truncated: number;
  malformed: number;
  records: number;
}

/** A fresh set of counters. */
export function newStats(): RunStats {
  return { cases: 0, decoded: 0, truncated: 0, malformed: 0, records: 0 };
}

/**
 * Decodes the messages of a case. Returns undefined when each one decodes or throws a
 * TruncatedError or MalformedError; otherwise what went wrong.
 */
export function runCase(c: FuzzCase, stats: RunStats = newStats()): CaseFailure | undefined {
  const cache = new TemplateCache({ clock: () => FIXED_MS });
  for (const t of c.prime) cache.set("fuzz", 1, t);
  stats.cases++;
  for (let i = 0; i < c.messages.length; i++) {
    try {
      const d = decodeMessage(c.messages[i]!, cache, { session: "fuzz", registry: TEST_REGISTRY });
      let n = 0;
      for (const s of d.dataSets) n += s.records.length;
      if (n !== d.recordCount) {
        return {
          case: c,
          message: i,
          error: new Error(`recordCount ${d.recordCount} but ${n} records`),
          foreign: false,
        };
      }
      stats.decoded++;
      stats.records += n;
    } catch (e) {
      if (e instanceof TruncatedError) stats.truncated++;
      else if (e instanceof MalformedError) stats.malformed++;
      else {
        return {
          case: c,
          message: i,
          error: e,
          foreign: e instanceof RangeError || e instanceof SyntaxError,
        };
      }
    }
  }
  return undefined;
}

/** A failure as text: seed, case, mutation, error and the hex of every message. */
export function describeFailure(seed: number, f: CaseFailure): string {
  const e = f.error;
  const err = e instanceof Error ? `${e.name}: ${e.message}\n${e.stack ?? ""}` : String(e);
  const msgs = f.case.messages.map((m, i) =>
    `  message ${i} (${m.length} octets): ${toHex(m.subarray(0, 4096))}${
      m.length > 4096 ? "…" : ""
    }`
  );
  return [
    `Fuzz failure: seed ${seed}, case ${f.case.index} (message ${f.message})`,
    `  ${f.case.description}`,
    `  primed with templates ${f.case.prime.map((t) => t.id).join(", ") || "none"}`,
    `  ${err.replaceAll("\n", "\n  ")}`,
    ...msgs,
    `Reproduce: deno task fuzz -- ${f.case.kind === "truncation" ? "" : `--seed ${seed} `}--${
      f.case.kind === "random" ? "case" : f.case.kind
    } ${f.case.index}`,
  ].join("\n");
}
