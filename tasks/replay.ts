/**
 * `deno task replay`: reads data records as JSON lines (the collector's output) on stdin and
 * exports them as IPFIX.
 *
 * @module
 */

import {
  type CompiledTemplate,
  compileTemplate,
  DEFAULT_LENGTH,
  defaultRegistry,
  ExportingProcess,
  MAX_MESSAGE_SIZE,
  parseAddress,
  parseRecordLine,
  udpMessageSize,
  VARIABLE_LENGTH,
} from "../src/ipfix/mod.ts";
import { durationFlag, parseFlags, readFlagFile } from "./_cli.ts";

const USAGE =
  `Usage: deno task replay --collector HOST:PORT:PROTO [--ca FILE] [--cert FILE --key FILE]
                          [--mtu N] [--template-refresh D]

Reads data records on stdin, one JSON line each, in the shape the collector prints,
  {"observationDomainId":N,"templateId":N,"record":{"<elementName>":value,...}}
and exports them as IPFIX. Records with the same element names share one template.
A bad line is reported with its line number and skipped; the exit status is then 1.

  --collector  HOST:PORT:PROTO, PROTO tls (default), tcp or udp; IPv6 in brackets
  --ca         PEM CA certificate that signed the collector's certificate (tls)
  --cert/--key PEM client certificate and key, for collectors that require mutual TLS
  --mtu        path MTU for udp (default 1500)
  --template-refresh D
               how long after the templates last went out udp sends them again, ahead of
               the next records (Go duration: 30s, 10m; default 10m; tcp and tls send them
               once a connection)
  -h, --help   this help`;

const flags = parseFlags(USAGE, {
  collector: { type: "string" },
  ca: { type: "string" },
  cert: { type: "string" },
  key: { type: "string" },
  mtu: { type: "string" },
  "template-refresh": { type: "string" },
});
if (!flags.collector) {
  console.error(`--collector is required\n\n${USAGE}`);
  Deno.exit(2);
}
let endpoint;
try {
  endpoint = parseAddress(flags.collector as string, "tls");
} catch (e) {
  console.error(e instanceof Error ? e.message : e);
  Deno.exit(2);
}
const mtu = flags.mtu === undefined ? undefined : Number(flags.mtu);
let maxMessageSize = MAX_MESSAGE_SIZE;
try {
  if (endpoint.protocol === "udp") maxMessageSize = udpMessageSize(mtu);
  else if (mtu !== undefined) udpMessageSize(mtu);
} catch (e) {
  console.error(`Invalid --mtu ${flags.mtu}: ${e instanceof Error ? e.message : e}`);
  Deno.exit(2);
}
const templateRefreshMs = durationFlag(
  "template-refresh",
  flags["template-refresh"] as string | undefined,
  1,
);
const ca = readFlagFile("--ca", flags.ca as string | undefined);
const cert = readFlagFile("--cert", flags.cert as string | undefined);
const key = readFlagFile("--key", flags.key as string | undefined);
const tls = {
  ...(ca ? { caCerts: [ca] } : {}),
  ...(cert && key ? { cert, key } : {}),
};

interface Domain {
  exporter: ExportingProcess;
  /** Element-name list → template. */
  templates: Map<string, CompiledTemplate>;
  usedIds: Set<number>;
  nextId: number;
}
const domains = new Map<number, Domain>();

function domainOf(id: number): Domain {
  let d = domains.get(id);
  if (!d) {
    const exporter = new ExportingProcess({
      address: endpoint!,
      observationDomainId: id,
      tls,
      ...(mtu !== undefined ? { mtu } : {}),
      ...(templateRefreshMs !== undefined ? { templateRefreshMs } : {}),
      bufferLimit: 1 << 22,
    });
    exporter.start();
    d = { exporter, templates: new Map(), usedIds: new Set(), nextId: 256 };
    domains.set(id, d);
  }
  return d;
}

const scratch = new Uint8Array(65535 * 2);
let lineNo = 0;
let skipped = 0;
let records = 0;
const decoder = new TextDecoder();
let pending = "";

function handleLine(line: string): void {
  lineNo++;
  if (line.trim() === "") return;
  try {
    const { header, elements, names, record } = parseRecordLine(line, defaultRegistry);
    const domainId = header.observationDomainId ?? 0;
    // Records with the same set of element names share a template, in whatever order their
    // lines list them (JSON objects are unordered): the first record's order defines it.
    const key = [...names].sort().join(",");
    let t = domains.get(domainId)?.templates.get(key);
    const known = t !== undefined;
    t ??= compileTemplate({
      id: 0,
      scopeFieldCount: 0,
      fields: elements.map((element) => ({
        element,
        length: DEFAULT_LENGTH[element.type] ?? VARIABLE_LENGTH,
      })),
    });
    // Validate first, so that a bad value is reported with its line number and sends nothing.
    const size = t.encode(new DataView(scratch.buffer), scratch, 0, scratch.length, record);
    // Message header (16) and set header (4) come on top of the record.
    if (size + 20 > maxMessageSize) {
      throw new RangeError(
        `Record of ${size} octets does not fit a message of ${maxMessageSize} octets`,
      );
    }
    const d = domainOf(domainId);
    if (!known) {
      let id = header.templateId ?? 0;
      if (id < 256 || d.usedIds.has(id)) {
        while (d.usedIds.has(d.nextId)) d.nextId++;
        id = d.nextId;
      }
      if (id > 65535) throw new RangeError("Too many distinct templates in one observation domain");
      d.usedIds.add(id);
      t = d.exporter.addTemplate({ ...t.template, id });
      d.templates.set(key, t);
    }
    d.exporter.send(t, record);
    records++;
  } catch (e) {
    skipped++;
    console.error(`line ${lineNo}: ${e instanceof Error ? e.message : e}`);
  }
}

/**
 * The longest line taken: a record fills at most one 64 KiB message, whose JSON (hex octets, escaped
 * strings) stays far below. A longer line is reported and skipped without being held in memory.
 */
const MAX_LINE = 4 * 1024 * 1024;
/** Inside a line too long to take: its characters are dropped up to its end. */
let overlong = false;

function tooLong(): void {
  lineNo++;
  skipped++;
  console.error(`line ${lineNo}: longer than ${MAX_LINE} characters, skipped`);
}

for await (const chunk of Deno.stdin.readable) {
  pending += decoder.decode(chunk, { stream: true });
  let nl: number;
  while ((nl = pending.indexOf("\n")) >= 0) {
    if (overlong) overlong = false;
    else if (nl > MAX_LINE) tooLong();
    else handleLine(pending.slice(0, nl));
    pending = pending.slice(nl + 1);
  }
  if (pending.length > MAX_LINE) {
    if (!overlong) tooLong();
    overlong = true;
    pending = "";
  }
  // Let the exporters write while stdin is read.
  await new Promise((r) => setTimeout(r, 0));
}
pending += decoder.decode();
if (overlong) pending = "";
if (pending.length > MAX_LINE) tooLong();
else if (pending !== "") handleLine(pending);

let sent = 0;
let dropped = 0;
for (const d of domains.values()) {
  await d.exporter.close(60_000);
  sent += d.exporter.stats.recordsSent;
  dropped += d.exporter.stats.recordsDropped + d.exporter.stats.recordsUnsent +
    d.exporter.stats.recordsInvalid;
}
console.error(JSON.stringify({ lines: lineNo, records, sent, skipped, dropped }));
Deno.exit(skipped > 0 || dropped > 0 ? 1 : 0);
