/**
 * `deno task collector`: an IPFIX collector that prints every data record, as JSON lines or text.
 *
 * @module
 */

import {
  CollectingProcess,
  type DecodedMessage,
  DEFAULT_UDP_RECEIVE_BUFFER,
  defaultRegistry,
  type ExporterInfo,
  formatMessageText,
  parseAddress,
  recordToJson,
  UDP_RECEIVE_BUFFER_RANGE,
} from "../src/ipfix/mod.ts";
import { onSignal, parseFlags, readFlagFile } from "./_cli.ts";

const USAGE = `Usage: deno task collector [--address HOST:PORT:PROTO] [--format json|text]
                             [--cert FILE --key FILE [--ca FILE]] [--elements NAME,...]

Collects IPFIX (RFC 7011) and prints every data record to stdout as it arrives.

  --address   where to listen: HOST:PORT:PROTO, PROTO tcp, udp or tls, IPv6 in brackets
              (default 0.0.0.0:4739:tcp)
  --format    json: one line per data record,
                {"exportTime":N,"observationDomainId":N,"sequenceNumber":N,"templateId":N,
                 "exporter":"ip:port","record":{"<elementName>":value,...}}
              text: messages, templates and records, indented (default json)
  --cert      PEM server certificate (tls)
  --key       PEM private key (tls)
  --ca        PEM CA certificate: exporters must present a client certificate it signed
  --rcvbuf    udp: socket receive buffer to ask for, in octets (default 4194304, 4 MiB;
              0 keeps the system's, net.core.rmem_default). The kernel doubles it and,
              without CAP_NET_ADMIN, caps it at net.core.rmem_max first: a warning says so.
              The buffer rides out bursts of exporters and the collector's own pauses.
  --elements  decode and print only these elements, by registry name (sourcePodName,
              octetDeltaCount, unknown:<pen>:<id>); the other fields of each record are
              checked for length and skipped, their values not checked either (a bad
              boolean there is no error). A name selects every repeat of its element.
              Records with none of them print as {}. Every element by default.
  -h, --help  this help

Counters (records, messages, errors, lost, and over udp the datagrams the kernel dropped
because the socket buffer was full) go to stderr on SIGINT or SIGTERM.`;

const flags = parseFlags(USAGE, {
  address: { type: "string", default: "0.0.0.0:4739:tcp" },
  format: { type: "string", default: "json" },
  cert: { type: "string" },
  key: { type: "string" },
  ca: { type: "string" },
  rcvbuf: { type: "string" },
  elements: { type: "string" },
});
let elements: string[] | undefined;
if (flags.elements !== undefined) {
  elements = (flags.elements as string).split(",").map((s) => s.trim()).filter((s) => s);
  // A registered element by its name; an unregistered one as the decoder names it.
  const unknown = elements.filter((n) => {
    const m = /^unknown:(0|[1-9]\d{0,9}):(0|[1-9]\d{0,4})$/.exec(n);
    if (!m) return defaultRegistry.byName(n)?.name !== n;
    const pen = Number(m[1]), id = Number(m[2]);
    return pen > 0xffffffff || id > 0x7fff || defaultRegistry.get(pen, id) !== undefined;
  });
  if (elements.length === 0 || unknown.length > 0) {
    console.error(
      `Invalid --elements "${flags.elements}": ${
        unknown.length > 0 ? `no element named ${unknown.join(", ")}` : "no element named"
      }\n\n${USAGE}`,
    );
    Deno.exit(2);
  }
}
let rcvbuf = DEFAULT_UDP_RECEIVE_BUFFER;
if (flags.rcvbuf !== undefined) {
  rcvbuf = Number(flags.rcvbuf);
  const { min, max } = UDP_RECEIVE_BUFFER_RANGE;
  const digits = /^\d+$/.test(flags.rcvbuf as string);
  if (!digits || (rcvbuf !== 0 && (rcvbuf < min || rcvbuf > max))) {
    console.error(
      `Invalid --rcvbuf "${flags.rcvbuf}": expected 0 (the system's) or octets from ${min} to ${max}\n\n${USAGE}`,
    );
    Deno.exit(2);
  }
}
if ((flags.format as string) !== "json" && (flags.format as string) !== "text") {
  console.error(
    `Invalid --format "${(flags.format as string)}": expected json or text\n\n${USAGE}`,
  );
  Deno.exit(2);
}
let protocol: string;
try {
  protocol = parseAddress(flags.address as string, "tcp").protocol;
} catch (e) {
  console.error(`${e instanceof Error ? e.message : e}\n\n${USAGE}`);
  Deno.exit(2);
}
const cert = readFlagFile("--cert", flags.cert as string | undefined);
const key = readFlagFile("--key", flags.key as string | undefined);
const ca = readFlagFile("--ca", flags.ca as string | undefined);
if ((cert === undefined) !== (key === undefined)) {
  console.error("--cert and --key go together");
  Deno.exit(2);
}

const out = Deno.stdout;
const enc = new TextEncoder();
const json = (flags.format as string) === "json";

function print(msg: DecodedMessage, from: ExporterInfo): void {
  let text = "";
  if (json) {
    const head =
      `{"exportTime":${msg.exportTime},"observationDomainId":${msg.observationDomainId},"sequenceNumber":${msg.sequenceNumber},`;
    const exporter = JSON.stringify(from.address);
    for (const set of msg.dataSets) {
      for (const r of set.records) {
        text += `${head}"templateId":${set.templateId},"exporter":${exporter},"record":${
          JSON.stringify(recordToJson(r))
        }}\n`;
      }
    }
  } else {
    text = formatMessageText(msg, from.address);
  }
  if (text === "") return;
  const bytes = enc.encode(text);
  let off = 0;
  while (off < bytes.length) off += out.writeSync(bytes.subarray(off));
}

let collector: CollectingProcess;
try {
  collector = new CollectingProcess({
    address: flags.address as string,
    ...(cert && key ? { tls: { cert, key, ...(ca ? { ca } : {}) } } : {}),
    ...(rcvbuf > 0 ? { udpReceiveBuffer: rcvbuf } : {}),
    ...(elements ? { elements } : {}),
    onMessage: print,
  });
  await collector.listen();
} catch (e) {
  console.error(`Cannot start the collector: ${e instanceof Error ? e.message : e}`);
  Deno.exit(1);
}

onSignal(async () => {
  await collector.close();
  const s = collector.stats;
  console.error(JSON.stringify({
    records: s.records,
    messages: s.messages,
    templates: s.templates,
    errors: s.errors,
    lost: s.lost,
    unknownSets: s.unknownSets,
    sessions: s.sessionsOpened,
    templatesRefused: s.templatesRefused,
    ...(protocol === "udp"
      ? {
        kernelDrops: s.udpBufferDrops,
        sessionsExpired: s.sessionsExpired,
        sourcesRefused: s.udpSourcesRefused,
      }
      : {}),
  }));
  Deno.exit(0);
});
