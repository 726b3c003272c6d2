/**
 * `deno task flowctl`: reads the flow aggregator's API, as antctl's Flow Aggregator commands do:
 * `get flowrecords` (the cached flow records, filtered by 5-tuple fields) and `get recordmetrics`,
 * and beyond antctl `get flows`: the stored flows (the aggregator's embedded store or ClickHouse).
 *
 * Exit codes: 0 done, 1 the server could not be reached or answered with an error, 2 bad usage.
 *
 * @module
 */

import { stringify } from "yaml";
import {
  ApiClient,
  ApiResponseError,
  ApiUnreachableError,
  DEFAULT_API_URL,
  FLOW_RECORD_PARAMETERS,
  flowRecordsTable,
  flowsTable,
  parseApiUrl,
  parseFlowQuery,
  parseFlowRecordQuery,
  QueryParameterError,
  recordMetricsTable,
} from "../src/api/mod.ts";
import { parseDuration } from "../src/config/mod.ts";
import type { FlowQuery } from "../src/store/mod.ts";
import { parseFlags, readFlagFile } from "./_cli.ts";

const COMMON = `  -o, --output FORMAT  table, json or yaml (default table)
  --server URL         the flow aggregator API, http(s)://HOST:PORT (default: $FLOWCTL_SERVER,
                       else ${DEFAULT_API_URL})
  --ca FILE            PEM CA certificate that signed an https server's certificate
  -h, --help           this help`;

const USAGE = `Usage: deno task flowctl get flowrecords [--srcip IP] [--dstip IP] [--proto P]
                                      [--srcport N] [--dstport N] [-o table|json|yaml]
       deno task flowctl get recordmetrics [-o table|json|yaml]
       deno task flowctl get flows [filters] [--since D] [--limit N] [-o table|json|yaml]

Reads the flow aggregator's API (like antctl's Flow Aggregator commands).

Commands:
  get flowrecords     the flow records the aggregator holds now, optionally filtered
  get recordmetrics   counters of the records received, exported and dropped
  get flows           the stored flows (embedded store or ClickHouse), newest first

Run "deno task flowctl get <resource> --help" for the flags of each.

Exit codes: 0 done, 1 the server is unreachable or answered with an error, 2 bad usage.`;

const GET_USAGE = `Usage: deno task flowctl get flowrecords|recordmetrics|flows [flags]

Resources:
  flowrecords     the flow records the aggregator holds now, optionally filtered
  recordmetrics   counters of the records received, exported and dropped
  flows           the stored flows (embedded store or ClickHouse), newest first

Run "deno task flowctl get <resource> --help" for the flags of each.`;

const FLOWRECORDS_USAGE =
  `Usage: deno task flowctl get flowrecords [--srcip IP] [--dstip IP] [--proto P]
                                      [--srcport N] [--dstport N] [-o table|json|yaml]

Prints the flow records the aggregator holds now (aggregated, not yet expired). Each given filter
must match.

  --srcip IP           source address, IPv4 or IPv6
  --dstip IP           destination address, IPv4 or IPv6
  --proto P            protocol number 0-255, or tcp, udp, sctp, icmp, icmpv6
  --srcport N          source port 0-65535
  --dstport N          destination port 0-65535
${COMMON}

Table columns: SRC_IP DST_IP SPORT DPORT PROTO SRC_POD DST_POD SRC_NS DST_NS SERVICE.
json and yaml print every field of each record.

Example: deno task flowctl get flowrecords --dstip 10.10.1.7 --proto tcp -o json`;

const RECORDMETRICS_USAGE = `Usage: deno task flowctl get recordmetrics [-o table|json|yaml]

Prints the aggregator's record counters: records exported, received and dropped, flows held,
agents connected, and which sinks are on.

${COMMON}`;

const FLOWS_USAGE =
  `Usage: deno task flowctl get flows [--srcip IP] [--dstip IP] [--proto P] [--srcport N]
                                [--dstport N] [--src-ns NS] [--src-pod POD] [--dst-ns NS]
                                [--dst-pod POD] [--since D] [--until D] [--limit N]
                                [-o table|json|yaml]

Prints the flow records the aggregator stored (its embedded store, or ClickHouse), newest first:
one row per export of a flow, with that export's counters. Each given filter must match.

  --srcip, --dstip, --proto, --srcport, --dstport   as for get flowrecords
  --src-ns NS, --src-pod POD   source pod's namespace and name
  --dst-ns NS, --dst-pod POD   destination pod's namespace and name
  --since D            flows that ended at most D ago (Go duration: 30s, 10m, 2h) or at or after
                       a Unix time in seconds
  --until D            flows that ended more than D ago, or before a Unix time in seconds
  --limit N            at most N rows, 1-100000 (default 1000)
${COMMON}

Table columns: END SRC_IP DST_IP SPORT DPORT PROTO SRC_NS SRC_POD DST_NS DST_POD SERVICE BYTES
REV_BYTES (BYTES and REV_BYTES: octets of that export). json and yaml print every column.

Example: deno task flowctl get flows --dst-ns shop --since 1h --limit 20`;

/** flowctl's flags of \`get flows\` and the query parameters they set. */
const FLOWS_FLAGS: Record<string, keyof FlowQuery> = {
  "src-ns": "sourcePodNamespace",
  "src-pod": "sourcePodName",
  "dst-ns": "destinationPodNamespace",
  "dst-pod": "destinationPodName",
  since: "since",
  until: "until",
  limit: "limit",
};

const OUTPUTS = ["table", "json", "yaml"] as const;
type Output = typeof OUTPUTS[number];

const COMMON_FLAGS = {
  output: { type: "string", short: "o", default: "table" },
  server: { type: "string" },
  ca: { type: "string" },
} as const;

/**
 * `text` with every control character a terminal would act on (C0 but newline, DEL, C1) written
 * as a visible escape: messages may quote what a server or a flag said.
 */
function visible(text: string): string {
  return text.replace(
    // deno-lint-ignore no-control-regex
    /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/g,
    (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`,
  );
}

function usageError(message: string, usage: string): never {
  console.error(`${visible(message)}\n\n${usage}`);
  Deno.exit(2);
}

function fail(message: string): never {
  console.error(visible(message));
  Deno.exit(1);
}

// Leading words are the command; flags follow.
const args = Deno.args.filter((a) => a !== "--");
const words: string[] = [];
while (words.length < args.length && !args[words.length]!.startsWith("-")) {
  words.push(args[words.length]!);
}
const rest = args.slice(words.length);
const wantsHelp = rest.includes("--help") || rest.includes("-h");

if (words.length === 0) {
  if (wantsHelp) {
    console.log(USAGE);
    Deno.exit(0);
  }
  usageError(rest.length ? `Expected a command before ${rest[0]}` : "Missing command", USAGE);
}
if (words[0] !== "get") usageError(`Unknown command "${words[0]}": expected get`, USAGE);
if (words.length === 1) {
  if (wantsHelp) {
    console.log(GET_USAGE);
    Deno.exit(0);
  }
  usageError("Missing resource: flowrecords, recordmetrics or flows", GET_USAGE);
}
const resource = words[1]!;
if (resource !== "flowrecords" && resource !== "recordmetrics" && resource !== "flows") {
  usageError(
    `Unknown resource "${resource}": expected flowrecords, recordmetrics or flows`,
    GET_USAGE,
  );
}
const usage = resource === "flowrecords"
  ? FLOWRECORDS_USAGE
  : resource === "flows"
  ? FLOWS_USAGE
  : RECORDMETRICS_USAGE;
if (words.length > 2) usageError(`Unexpected argument "${words[2]}"`, usage);

// node:util's parseArgs keeps the last of a repeated flag; a repeat is more likely a mistake.
for (
  const name of ["output", "server", "ca", ...FLOW_RECORD_PARAMETERS, ...Object.keys(FLOWS_FLAGS)]
) {
  const given = rest.filter((a) =>
    a === `--${name}` || a.startsWith(`--${name}=`) || (name === "output" && /^-o/.test(a))
  );
  if (given.length > 1) usageError(`--${name} is given ${given.length} times`, usage);
}

const TUPLE_FLAGS = {
  srcip: { type: "string" },
  dstip: { type: "string" },
  proto: { type: "string" },
  srcport: { type: "string" },
  dstport: { type: "string" },
} as const;
const flags = resource === "flowrecords"
  ? parseFlags(usage, { ...COMMON_FLAGS, ...TUPLE_FLAGS }, rest)
  : resource === "flows"
  ? parseFlags(usage, {
    ...COMMON_FLAGS,
    ...TUPLE_FLAGS,
    ...Object.fromEntries(Object.keys(FLOWS_FLAGS).map((k) => [k, { type: "string" }] as const)),
  }, rest)
  : parseFlags(usage, COMMON_FLAGS, rest);

const output = flags.output as string;
if (!(OUTPUTS as readonly string[]).includes(output)) {
  usageError(`Invalid --output "${output}": expected table, json or yaml`, usage);
}

let server: URL;
try {
  server = parseApiUrl((flags.server as string | undefined) ?? envServer() ?? DEFAULT_API_URL);
} catch (e) {
  usageError(
    `${(e as Error).message}${flags.server === undefined ? " (from FLOWCTL_SERVER)" : ""}`,
    usage,
  );
}

function envServer(): string | undefined {
  const v = Deno.env.get("FLOWCTL_SERVER");
  return v === "" ? undefined : v;
}

/** Query parameter of each query flag: the 5-tuple flags are named as their parameters. */
const FLAG_PARAMETERS: Record<string, string> = {
  ...Object.fromEntries(FLOW_RECORD_PARAMETERS.map((n) => [n, n])),
  ...FLOWS_FLAGS,
};

/**
 * The query the given flags (of `FLAG_PARAMETERS`) ask for, parsed as the server parses it; a
 * bad value is a usage error that names its flag.
 */
function queryFlags<T>(names: readonly string[], parse: (query: string) => T): T {
  const params = new URLSearchParams();
  for (const flag of names) {
    const value = flags[flag] as string | undefined;
    if (value === undefined) continue;
    if (value === "") usageError(`Empty --${flag}`, usage);
    params.set(
      FLAG_PARAMETERS[flag]!,
      flag === "since" || flag === "until" ? timeFlag(flag, value) : value,
    );
  }
  try {
    return parse(params.toString());
  } catch (e) {
    if (!(e instanceof QueryParameterError)) throw e;
    const param = e.parameter ?? "";
    const flag = names.find((f) => FLAG_PARAMETERS[f] === param) ?? param;
    usageError(e.message.replace(new RegExp(`\\b${param}\\b`), `--${flag}`), usage);
  }
}

/** A time flag: a Go duration ago, or Unix seconds. */
function timeFlag(name: string, value: string): string {
  if (/^[0-9]+$/.test(value)) return value;
  try {
    return String(Math.floor((Date.now() - parseDuration(value)) / 1000));
  } catch (e) {
    usageError(`Invalid --${name} "${value}": ${(e as Error).message}`, usage);
  }
}

const filter = resource === "flowrecords"
  ? queryFlags(FLOW_RECORD_PARAMETERS, parseFlowRecordQuery)
  : {};
const flowQuery: FlowQuery = resource === "flows"
  ? queryFlags(Object.keys(FLAG_PARAMETERS), parseFlowQuery)
  : {};
const ca = readFlagFile("--ca", flags.ca as string | undefined);
let httpClient: Deno.HttpClient | undefined;
if (ca !== undefined) {
  try {
    httpClient = Deno.createHttpClient({ caCerts: [ca] });
  } catch (e) {
    usageError(`Invalid --ca ${flags.ca}: ${e instanceof Error ? e.message : e}`, usage);
  }
}
const api = new ApiClient(server, httpClient ? { httpClient } : {});

const C1_AND_DEL = /[\u007f-\u009f]/g;

function print(value: unknown, table: () => string, format: Output): void {
  let text: string;
  if (format === "table") text = table();
  // JSON.stringify escapes C0 controls only, and yaml leaves DEL and C1 controls raw inside its
  // double-quoted scalars (the only place it writes them): escape those too, so that a field
  // sent by an agent cannot drive the terminal. The text still parses to the same values.
  else if (format === "json") {
    text = (JSON.stringify(value, null, 2) + "\n").replace(
      C1_AND_DEL,
      (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
    );
  } else {
    text = stringify(value).replace(
      C1_AND_DEL,
      (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`,
    );
  }
  const bytes = new TextEncoder().encode(text);
  for (let off = 0; off < bytes.length;) off += Deno.stdout.writeSync(bytes.subarray(off));
}

try {
  if (resource === "flowrecords") {
    const rows = await api.flowRecords(filter);
    print(rows, () => flowRecordsTable(rows), output as Output);
  } else if (resource === "flows") {
    const rows = await api.flows(flowQuery);
    print(rows, () => flowsTable(rows), output as Output);
  } else {
    const metrics = await api.recordMetrics();
    print(metrics, () => recordMetricsTable(metrics), output as Output);
  }
} catch (e) {
  if (e instanceof ApiUnreachableError || e instanceof ApiResponseError) fail(e.message);
  throw e;
} finally {
  httpClient?.close();
}
