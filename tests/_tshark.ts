/**
 * tshark as an independent IPFIX decoder: runs `tshark -T pdml` on a capture, parses the PDML,
 * and compares tshark's reading of each data record with flowvis's, field by field.
 *
 * PDML quirks of tshark 4.0's cflow dissector, handled here: template field specifiers may be
 * nested inside the previous one (so templates are read from the flattened subtree), variable
 * length enterprise fields of length 0 are not shown, and the start/end time fields sit inside
 * a `cflow.timedelta` node (so flows are read flattened too).
 *
 * @module
 */

import {
  baseName,
  type DataRecord,
  type DecodedMessage,
  decodeMessage,
  fieldNames,
  type Template,
  TemplateCache,
  type Value,
} from "../src/ipfix/mod.ts";
import { assert, assertEquals } from "./_assert.ts";
import { run, tool } from "./_tools.ts";

/** An element of tshark's PDML output. */
export interface PdmlNode {
  tag: string;
  name: string;
  show: string;
  showname: string;
  /** Raw octets in hex (absent for generated fields). */
  value: string;
  pos: number;
  size: number;
  children: PdmlNode[];
}

const ENTITIES: Record<string, string> = { lt: "<", gt: ">", amp: "&", quot: '"', apos: "'" };

function unescapeXml(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#\d+|\w+);/g, (m, e: string) => {
    if (e.startsWith("#x")) return String.fromCodePoint(parseInt(e.slice(2), 16));
    if (e.startsWith("#")) return String.fromCodePoint(parseInt(e.slice(1), 10));
    return ENTITIES[e] ?? m;
  });
}

/** Parses PDML (the subset of XML tshark writes) into the list of `<packet>` nodes. */
export function parsePdml(xml: string): PdmlNode[] {
  const root: PdmlNode = node("root", {});
  const stack: PdmlNode[] = [root];
  const tagRe = /<(\/?)([A-Za-z_][\w.:-]*)((?:\s+[^\s=/>]+="[^"]*")*)\s*(\/?)>/g;
  for (const m of xml.matchAll(tagRe)) {
    const [, close, tag, attrText, selfClose] = m;
    if (close) {
      if (stack.length > 1) stack.pop();
      continue;
    }
    const attrs: Record<string, string> = {};
    for (const a of (attrText ?? "").matchAll(/([^\s=]+)="([^"]*)"/g)) {
      attrs[a[1]!] = unescapeXml(a[2]!);
    }
    const n = node(tag!, attrs);
    stack[stack.length - 1]!.children.push(n);
    if (!selfClose) stack.push(n);
  }
  const pdml = root.children.find((n) => n.tag === "pdml");
  return (pdml ?? root).children.filter((n) => n.tag === "packet");
}

function node(tag: string, a: Record<string, string>): PdmlNode {
  return {
    tag,
    name: a.name ?? "",
    show: a.show ?? "",
    showname: a.showname ?? "",
    value: a.value ?? "",
    pos: Number(a.pos ?? -1),
    size: Number(a.size ?? 0),
    children: [],
  };
}

/** Every node below `n`, depth first, in document order. */
export function flatten(n: PdmlNode): PdmlNode[] {
  const out: PdmlNode[] = [];
  const walk = (x: PdmlNode) => {
    for (const c of x.children) {
      out.push(c);
      walk(c);
    }
  };
  walk(n);
  return out;
}

/** Runs tshark on a capture, decoding UDP `ports` as IPFIX, and returns its PDML packets. */
export async function tsharkPdml(pcapPath: string, ports: number[]): Promise<PdmlNode[]> {
  const args = ["-n", "-r", pcapPath, "-T", "pdml"];
  for (const p of ports) args.push("-d", `udp.port==${p},cflow`);
  const { stdout } = await run(tool("tshark"), args, { timeoutMs: 60_000 });
  return parsePdml(stdout);
}

/** A field specifier as tshark read it from a template set. */
export interface TsharkFieldSpec {
  id: number;
  enterpriseId: number;
  length: number;
}

/** A template as tshark read it. */
export interface TsharkTemplate {
  id: number;
  scopeFieldCount: number;
  fields: TsharkFieldSpec[];
}

/** One data record as tshark read it: its fields, flattened, in order. */
export interface TsharkFlow {
  setId: number;
  fields: PdmlNode[];
}

/** One IPFIX message as tshark read it. */
export interface TsharkMessage {
  frame: number;
  srcPort: number;
  dstPort: number;
  version: number;
  length: number;
  exportTime: number;
  sequenceNumber: number;
  observationDomainId: number;
  templates: TsharkTemplate[];
  flows: TsharkFlow[];
  /** Expert info and malformed-packet notes of the cflow layer, if any. */
  problems: string[];
}

function field(nodes: PdmlNode[], name: string): PdmlNode | undefined {
  return nodes.find((n) => n.name === name);
}

function readTemplates(setNode: PdmlNode): TsharkTemplate[] {
  const out: TsharkTemplate[] = [];
  for (const t of setNode.children) {
    if (!/^(Options )?Template \(Id = \d+/.test(t.show)) continue;
    const nodes = flatten(t);
    const id = Number(field(nodes, "cflow.template_id")?.show);
    const scope = Number(field(nodes, "cflow.template_ipfix_scope_field_count")?.show ?? 0);
    const fields: TsharkFieldSpec[] = [];
    let cur: TsharkFieldSpec | undefined;
    for (const n of nodes) {
      if (n.name === "cflow.template_ipfix_pen_provided") {
        cur = { id: -1, enterpriseId: 0, length: -1 };
        fields.push(cur);
      } else if (!cur) {
        continue;
      } else if (
        n.name === "cflow.template_ipfix_field_type" ||
        n.name === "cflow.template_ipfix_field_type_enterprise" ||
        (n.name.startsWith("cflow.template_") && n.name.endsWith("_field_type"))
      ) {
        cur.id = Number(n.show);
      } else if (n.name === "cflow.template_field_length") {
        cur.length = Number(n.show);
      } else if (n.name === "cflow.template_ipfix_field_pen") {
        cur.enterpriseId = Number(n.show);
      }
    }
    out.push({ id, scopeFieldCount: scope, fields });
  }
  return out;
}

/** The IPFIX messages of tshark's PDML packets (packets without a cflow layer are skipped). */
export function ipfixMessages(packets: PdmlNode[]): TsharkMessage[] {
  const out: TsharkMessage[] = [];
  for (const p of packets) {
    const frameNo = Number(
      field(flatten(p.children.find((c) => c.name === "geninfo") ?? p), "num")?.show ?? -1,
    );
    const udp = p.children.find((c) => c.name === "udp");
    const cflow = p.children.find((c) => c.name === "cflow");
    if (!cflow || !udp) continue;
    const udpFields = flatten(udp);
    const top = cflow.children;
    const msg: TsharkMessage = {
      frame: frameNo,
      srcPort: Number(field(udpFields, "udp.srcport")?.show),
      dstPort: Number(field(udpFields, "udp.dstport")?.show),
      version: Number(field(top, "cflow.version")?.show),
      length: Number(field(top, "cflow.len")?.show),
      exportTime: Number(field(flatten(cflow), "cflow.exporttime")?.show),
      sequenceNumber: Number(field(top, "cflow.sequence")?.show),
      observationDomainId: Number(field(top, "cflow.od_id")?.show),
      templates: [],
      flows: [],
      problems: [],
    };
    for (const n of flatten(cflow)) {
      if (n.name === "_ws.expert" || n.name === "_ws.malformed") msg.problems.push(n.showname);
    }
    for (const s of top) {
      const m = /^Set \d+ \[id=(\d+)\]/.exec(s.show);
      if (!m) continue;
      const setId = Number(m[1]);
      if (setId === 2 || setId === 3) {
        msg.templates.push(...readTemplates(s));
        continue;
      }
      for (const f of s.children) {
        if (/^Flow \d+$/.test(f.show)) msg.flows.push({ setId, fields: flatten(f) });
      }
    }
    out.push(msg);
  }
  return out;
}

/** How a flowvis element is shown by tshark. */
interface Mapping {
  /** tshark field names, the first present one is used. */
  fields: string[];
  /**
   * int: `show` is the integer (decimal or 0x hex); text: `show` is the value as flowvis
   * formats it; time: `show` is a UTC date of the element's unit; raw: `value` holds the octets;
   * typeCode: the ICMP type field, followed by a `cflow.icmp_ipv6_code` field.
   */
  kind: "int" | "text" | "time" | "raw" | "typeCode";
  /** For times: nanoseconds per unit of the flowvis value. */
  nsPerUnit?: bigint;
}

const int = (...fields: string[]): Mapping => ({ fields, kind: "int" });
const text = (...fields: string[]): Mapping => ({ fields, kind: "text" });
const time = (nsPerUnit: bigint, ...fields: string[]): Mapping => ({
  fields,
  kind: "time",
  nsPerUnit,
});
const raw = (...fields: string[]): Mapping => ({ fields, kind: "raw" });

/**
 * tshark 4.0 names of the IANA elements the tests use (from `tshark -G fields | grep cflow`).
 * Reverse elements (PEN 29305) use the same names with "(Reverse Type …)" in the showname.
 */
export const TSHARK_FIELDS: Readonly<Record<string, Mapping>> = {
  octetDeltaCount: int("cflow.octets"),
  packetDeltaCount: int("cflow.packets"),
  octetTotalCount: int("cflow.permanent_octets"),
  packetTotalCount: int("cflow.permanent_packets"),
  protocolIdentifier: int("cflow.protocol"),
  ipClassOfService: int("cflow.tos"),
  tcpControlBits: int("cflow.tcpflags"),
  sourceTransportPort: int("cflow.srcport"),
  destinationTransportPort: int("cflow.dstport"),
  sourceIPv4Address: text("cflow.srcaddr"),
  destinationIPv4Address: text("cflow.dstaddr"),
  sourceIPv6Address: text("cflow.srcaddrv6"),
  destinationIPv6Address: text("cflow.dstaddrv6"),
  ingressInterface: int("cflow.inputint"),
  egressInterface: int("cflow.outputint"),
  vlanId: int("cflow.vlanid"),
  sourceMacAddress: text("cflow.srcmac"),
  destinationMacAddress: text("cflow.dstmac"),
  postSourceMacAddress: text("cflow.post_srcmac"),
  postDestinationMacAddress: text("cflow.post_dstmac"),
  postVlanId: int("cflow.post_vlanid"),
  icmpTypeCodeIPv4: int("cflow.icmp_type_code_ipv4"),
  // tshark splits icmpTypeCodeIPv6 into a type and a code field: compare the octets.
  icmpTypeCodeIPv6: { fields: ["cflow.icmp_ipv6_type"], kind: "typeCode" },
  flowDirection: int("cflow.direction"),
  ipVersion: int("cflow.ip_version"),
  flowEndReason: int("cflow.flow_end_reason"),
  // tshark 4.0 shows a SysUpTime of 0 as an absolute time in 1970: compare the octets.
  flowStartSysUpTime: raw("cflow.timestart", "cflow.abstimestart"),
  flowEndSysUpTime: raw("cflow.timeend", "cflow.abstimeend"),
  flowStartSeconds: time(1_000_000_000n, "cflow.abstimestart"),
  flowEndSeconds: time(1_000_000_000n, "cflow.abstimeend"),
  flowStartMilliseconds: time(1_000_000n, "cflow.abstimestart"),
  flowEndMilliseconds: time(1_000_000n, "cflow.abstimeend"),
  flowStartMicroseconds: time(1_000n, "cflow.abstimestart"),
  flowEndMicroseconds: time(1_000n, "cflow.abstimeend"),
  flowStartNanoseconds: time(1n, "cflow.abstimestart"),
  flowEndNanoseconds: time(1n, "cflow.abstimeend"),
  systemInitTimeMilliseconds: time(1_000_000n, "cflow.sys_init_time"),
  meteringProcessId: int("cflow.mp_id"),
  samplingPacketInterval: int("cflow.sampling_packet_interval"),
  samplingPacketSpace: int("cflow.sampling_packet_space"),
  selectorAlgorithm: int("cflow.selector_algorithm"),
  interfaceName: text("cflow.if_name"),
};

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** Parses tshark's absolute UTC time (`Nov 14, 2023 22:13:20.100000999 UTC`) to ns since 1970. */
export function parseTsharkTime(show: string): bigint {
  const m = /^(\w{3})\s+(\d{1,2}), (\d{4}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))? UTC$/.exec(
    show.trim(),
  );
  if (!m) throw new SyntaxError(`Not a tshark UTC time: ${JSON.stringify(show)}`);
  const month = MONTHS.indexOf(m[1]!);
  if (month < 0) throw new SyntaxError(`Unknown month in ${JSON.stringify(show)}`);
  const ms = Date.UTC(Number(m[3]), month, Number(m[2]), Number(m[4]), Number(m[5]), Number(m[6]));
  return BigInt(ms) * 1_000_000n + BigInt((m[7] ?? "0").padEnd(9, "0"));
}

function isReverse(n: PdmlNode): boolean {
  return n.showname.includes("(Reverse Type");
}

/** The forward element name of a reverse one (`reverseOctetDeltaCount` → `octetDeltaCount`). */
function forwardName(name: string): { base: string; reverse: boolean } {
  if (/^reverse[A-Z]/.test(name) && !(name in TSHARK_FIELDS)) {
    return { base: name.charAt(7).toLowerCase() + name.slice(8), reverse: true };
  }
  return { base: name, reverse: false };
}

/** The `occurrence`-th tshark node of a (forward or reverse) element. */
function findNode(
  flow: TsharkFlow,
  map: Mapping,
  reverse: boolean,
  occurrence: number,
): PdmlNode | undefined {
  for (const f of map.fields) {
    const hits = flow.fields.filter((n) => n.name === f && isReverse(n) === reverse);
    if (hits.length > occurrence) return hits[occurrence];
  }
  return undefined;
}

function bigintOf(v: Value): bigint {
  if (typeof v === "bigint") return v;
  if (typeof v === "number" && Number.isInteger(v)) return BigInt(v);
  throw new TypeError(`Not an integer: ${String(v)}`);
}

function hexOf(v: bigint, length: number): string {
  return v.toString(16).padStart(length * 2, "0");
}

/** A disagreement between flowvis and tshark about one field. */
export interface Mismatch {
  field: string;
  flowvis: string;
  tshark: string;
}

/**
 * Compares a record decoded by flowvis with tshark's reading of the same record. Every IANA and
 * reverse field must have a tshark mapping (an unmapped one is reported as a mismatch, so no field
 * is silently skipped); enterprise fields of other PENs are compared by their octets, in order,
 * with `enterpriseOctets` giving the expected octets of each (or undefined to skip it). Returns
 * the number of fields compared and the mismatches.
 */
export function compareRecord(
  record: DataRecord,
  template: Template,
  flow: TsharkFlow,
  enterpriseOctets?: (name: string, value: Value) => Uint8Array | undefined,
): { compared: number; mismatches: Mismatch[] } {
  const mismatches: Mismatch[] = [];
  let compared = 0;
  const seen = new Map<string, number>();
  const enterprise = flow.fields.filter((n) => n.name === "cflow.enterprise_private_entry");
  let ei = 0;
  const names = fieldNames(template);
  template.fields.forEach((spec, i) => {
    const name = names[i]!;
    const v = record[name];
    if (v === undefined) {
      mismatches.push({ field: name, flowvis: "(missing)", tshark: "?" });
      return;
    }
    const pen = spec.element.enterpriseId;
    if (pen !== 0 && pen !== 29305) {
      const want = enterpriseOctets?.(name, v);
      if (want === undefined) return;
      if (want.length === 0) return; // tshark does not show empty variable-length fields
      const got = enterprise[ei++];
      const wantHex = Array.from(want, (b) => b.toString(16).padStart(2, "0")).join("");
      const label = `Type ${spec.element.id}:`;
      compared++;
      if (!got || got.value !== wantHex || !got.showname.includes(label)) {
        mismatches.push({
          field: `${name} (PEN ${pen}, ID ${spec.element.id})`,
          flowvis: wantHex,
          tshark: got ? `${got.showname} = ${got.value}` : "(missing)",
        });
      }
      return;
    }
    const { base, reverse } = forwardName(baseName(name));
    const key = `${reverse ? "r:" : ""}${base}`;
    const occurrence = seen.get(key) ?? 0;
    seen.set(key, occurrence + 1);
    const map = TSHARK_FIELDS[base];
    // tshark marks only the code of a reverse ICMP type/code as reverse: find the code first,
    // the type is the field before it.
    const code = map?.kind === "typeCode"
      ? findNode(flow, int("cflow.icmp_ipv6_code"), reverse, occurrence)
      : undefined;
    const n = !map
      ? undefined
      : map.kind === "typeCode"
      ? flow.fields.filter((x) => x.name === map.fields[0])
        .find((x) => code && flow.fields.indexOf(x) === flow.fields.indexOf(code) - 1)
      : findNode(flow, map, reverse, occurrence);
    if (!map || !n) {
      mismatches.push({
        field: name,
        flowvis: String(v),
        tshark: map ? `(no ${map.fields.join("/")} field)` : "(no mapping in TSHARK_FIELDS)",
      });
      return;
    }
    compared++;
    let ok: boolean;
    let got = n.show;
    switch (map.kind) {
      case "int":
        ok = BigInt(n.show) === bigintOf(v);
        break;
      case "text":
        ok = n.show === String(v);
        break;
      case "raw":
        got = n.value;
        ok = n.value === hexOf(bigintOf(v), spec.length);
        break;
      case "typeCode": {
        got = `type ${n.show}, code ${code?.show}`;
        ok = code !== undefined && BigInt(n.show) * 256n + BigInt(code.show) === bigintOf(v);
        break;
      }
      case "time": {
        const ns = parseTsharkTime(n.show);
        const unit = map.nsPerUnit!;
        // tshark shows NTP timestamps (micro/nanoseconds) to the nanosecond: flowvis truncates
        // dateTimeMicroseconds to whole microseconds, so compare in the element's unit.
        ok = ns / unit === bigintOf(v) && (unit === 1_000n || ns % unit === 0n);
        got = `${n.show} (${ns} ns)`;
        break;
      }
    }
    if (!ok) mismatches.push({ field: name, flowvis: String(v), tshark: got });
  });
  return { compared, mismatches };
}

/** Templates of a message, as tshark read them, compared with flowvis's templates. */
export function assertTemplatesMatch(got: TsharkMessage, templates: readonly Template[]): void {
  for (const t of templates) {
    const seen = got.templates.find((x) => x.id === t.id);
    assert(seen, `tshark saw template ${t.id} in frame ${got.frame}`);
    assertEquals(
      seen,
      {
        id: t.id,
        scopeFieldCount: t.scopeFieldCount,
        fields: t.fields.map((f) => ({
          id: f.element.id,
          enterpriseId: f.element.enterpriseId,
          length: f.length,
        })),
      },
      `template ${t.id} as tshark read it`,
    );
  }
}

/** Options of {@link assertTsharkAgrees}. */
export interface AgreeOptions {
  /** Expected octets of each enterprise field (see {@link compareRecord}). */
  enterpriseOctets?: (name: string, v: Value) => Uint8Array | undefined;
  /**
   * Accept tshark's "Unexpected flow sequence" warnings. tshark 4.0 follows sequence numbers per
   * observation domain across exporters, and softflowd counts the records of the message itself
   * in its sequence number; flowvis's own messages must not need this.
   */
  allowSequenceWarnings?: boolean;
}

/**
 * Decodes the datagrams with flowvis (one template cache, sessions by source port) and has tshark
 * decode the capture that holds the same datagrams (in the same order), then compares them
 * message by message (header, templates, expert info) and record by record, field by field.
 * Returns the number of fields compared and both decodings.
 */
export async function assertTsharkAgrees(
  pcapPath: string,
  datagrams: { payload: Uint8Array; srcPort: number }[],
  ports: number[],
  options: AgreeOptions = {},
): Promise<{ compared: number; ours: DecodedMessage[]; theirs: TsharkMessage[] }> {
  const { enterpriseOctets, allowSequenceWarnings = false } = options;
  const cache = new TemplateCache();
  const ours = datagrams.map((d) => decodeMessage(d.payload, cache, { session: d.srcPort }));
  const theirs = ipfixMessages(await tsharkPdml(pcapPath, ports));
  assertEquals(theirs.length, ours.length, "messages tshark decoded");
  let compared = 0;
  ours.forEach((m, i) => {
    const t = theirs[i]!;
    const problems = t.problems.filter((p) =>
      !(allowSequenceWarnings && p.includes("(Warning/Sequence): Unexpected flow sequence"))
    );
    assertEquals(problems, [], `tshark's expert info on frame ${t.frame}`);
    assertEquals(
      {
        version: t.version,
        length: t.length,
        exportTime: t.exportTime,
        sequenceNumber: t.sequenceNumber,
        observationDomainId: t.observationDomainId,
      },
      {
        version: 10,
        length: datagrams[i]!.payload.length,
        exportTime: m.exportTime,
        sequenceNumber: m.sequenceNumber,
        observationDomainId: m.observationDomainId,
      },
      `header of message ${i}`,
    );
    assertTemplatesMatch(t, m.templates);
    const records = m.dataSets.flatMap((s) => s.records.map((r) => ({ s, r })));
    assertEquals(t.flows.length, records.length, `records of message ${i}`);
    records.forEach(({ s, r }, j) => {
      const flow = t.flows[j]!;
      assertEquals(flow.setId, s.templateId, `set of record ${j} of message ${i}`);
      const res = compareRecord(r, s.template.template, flow, enterpriseOctets);
      assertEquals(res.mismatches, [], `record ${j} of message ${i} (template ${s.templateId})`);
      compared += res.compared;
    });
  });
  return { compared, ours, theirs };
}
