/**
 * `deno task simulate -- --collector HOST:PORT:PROTO …`: virtual agents of a simulated cluster
 * exporting realistic flow records through the real exporter code.
 *
 * @module
 */

import { type Endpoint, parseAddress, type TlsClientOptions } from "../src/ipfix/mod.ts";
import { createLogger } from "../src/log/mod.ts";
import { clusterInventory, simulatedCluster, Simulator } from "../src/sim/mod.ts";
import { durationFlag, onSignal, parseFlags, readFlagFile } from "./_cli.ts";

const USAGE = `Usage: deno task simulate --collector HOST:PORT:PROTO [--nodes N] [--pods-per-node N]
                            [--rate R] [--records N] [--duration D] [--seed S]
                            [--ca FILE] [--cert FILE --key FILE]
                            [--poll-interval D] [--active-timeout D] [--idle-timeout D]
       deno task simulate --inventory [--nodes N] [--pods-per-node N] [--seed S]

A simulated Kubernetes cluster whose nodes each run a real flow exporter agent on a synthetic
conntrack table: pods, Services and NetworkPolicies; intra-node, inter-node, to/from external,
Service (ClusterIP DNAT, NodePort) and denied traffic with realistic sizes and TCP/UDP lifetimes.
Each agent exports Antrea flow records over IPFIX with its node's observation domain ID.

  --collector HOST:PORT:PROTO  where to export: PROTO tls (default), tcp or udp; IPv6 in brackets
  --nodes N            nodes node-1…node-N, pod CIDRs 10.244.N.0/24 (default 3, at most 250)
  --pods-per-node N    pods per node (default 10, at most 250; each workload gets at least one)
  --rate R             flow records per second across the cluster (default 1000); with
                       --records, per second of simulated time
  --records N          send exactly N data records as fast as possible, then flush, close and
                       print a summary: simulated time runs ahead of the clock, and the records'
                       timestamps span about N/R seconds up to now
  --duration D         stop after D of wall-clock time (Go duration: 30s, 5m, 1h); default:
                       until SIGINT/SIGTERM, or until --records are sent
  --seed S             seed of the cluster and its traffic, 0…4294967295 (default: random, and
                       printed in the summary); a seed gives the same records, timestamps aside
  --ca FILE            PEM CA certificate that signed the collector's certificate (tls)
  --cert FILE          PEM client certificate, for collectors that require mutual TLS
  --key FILE           PEM private key of the client certificate
  --poll-interval D    the agents' flowPollInterval (default 5s, at least 1s)
  --active-timeout D   the agents' activeFlowExportTimeout (default 60s)
  --idle-timeout D     the agents' idleFlowExportTimeout (default 15s)
  --inventory          print the simulated cluster as a YAML List of Kubernetes objects (an
                       inventoryFile for the agent or the aggregator) and exit
  -h, --help           this help

Before exporting, the agents run through one active timeout of simulated traffic (a warm-up of
about 1.5 s of CPU per 1000 records/s), so records come at the rate from the start.
On exit a JSON summary goes to stdout: records sent (per node and in total), connections by
flow type and scenario, denied connections, duration and rate achieved. Exit status 1 when
--records could not all be sent. Logs go to stderr (FLOWVIS_LOG_LEVEL=warn for fewer).`;

const flags = parseFlags(USAGE, {
  collector: { type: "string" },
  nodes: { type: "string", default: "3" },
  "pods-per-node": { type: "string", default: "10" },
  rate: { type: "string", default: "1000" },
  records: { type: "string" },
  duration: { type: "string" },
  seed: { type: "string" },
  ca: { type: "string" },
  cert: { type: "string" },
  key: { type: "string" },
  "poll-interval": { type: "string" },
  "active-timeout": { type: "string" },
  "idle-timeout": { type: "string" },
  inventory: { type: "boolean" },
});

function bad(message: string): never {
  console.error(`${message}\n\nRun with --help for usage.`);
  Deno.exit(2);
}

function integer(flag: string, min: number, max: number): number | undefined {
  const text = flags[flag] as string | undefined;
  if (text === undefined) return undefined;
  const n = /^\d+$/.test(text.trim()) ? Number(text.trim()) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    bad(`Invalid --${flag} "${text}": expected a whole number from ${min} to ${max}`);
  }
  return n;
}

function duration(flag: string, min: number): number | undefined {
  return durationFlag(flag, flags[flag] as string | undefined, min, bad);
}

const nodes = integer("nodes", 1, 250)!;
const podsPerNode = integer("pods-per-node", 1, 250)!;
const seed = integer("seed", 0, 0xffffffff) ?? crypto.getRandomValues(new Uint32Array(1))[0]!;

if (flags.inventory) {
  console.log(clusterInventory(simulatedCluster({ nodes, podsPerNode, seed })));
  Deno.exit(0);
}

if (flags.collector === undefined) {
  bad("--collector is required, e.g. --collector 127.0.0.1:4739:tcp");
}
let endpoint: Endpoint;
try {
  endpoint = parseAddress(flags.collector as string, "tls");
} catch (e) {
  bad(`Invalid --collector: ${(e as Error).message}`);
}
const rateText = (flags.rate as string).trim();
const rate = /^\d+(\.\d+)?$/.test(rateText) ? Number(rateText) : NaN;
if (!(rate > 0) || !Number.isFinite(rate)) {
  bad(`Invalid --rate "${flags.rate}": expected a positive number of records per second`);
}
const records = integer("records", 1, Number.MAX_SAFE_INTEGER);
const durationMs = duration("duration", 1);
const pollIntervalMs = duration("poll-interval", 1000);
const activeTimeoutMs = duration("active-timeout", 1000);
const idleTimeoutMs = duration("idle-timeout", 1000);
if ((flags.cert === undefined) !== (flags.key === undefined)) bad("--cert and --key go together");
if (
  endpoint.protocol !== "tls" &&
  (flags.ca !== undefined || flags.cert !== undefined)
) bad(`--ca, --cert and --key are for a tls collector, not ${endpoint.protocol}`);
const ca = readFlagFile("--ca", flags.ca as string | undefined);
const cert = readFlagFile("--cert", flags.cert as string | undefined);
const key = readFlagFile("--key", flags.key as string | undefined);
const tls: TlsClientOptions = {
  ...(ca ? { caCerts: [ca] } : {}),
  ...(cert && key ? { cert, key } : {}),
};

const log = createLogger("simulate");
let sim: Simulator;
try {
  sim = new Simulator({
    collector: endpoint,
    tls,
    nodes,
    podsPerNode,
    seed,
    rate,
    ...(records !== undefined ? { records } : {}),
    ...(durationMs !== undefined ? { durationMs } : {}),
    ...(pollIntervalMs !== undefined ? { pollIntervalMs } : {}),
    ...(activeTimeoutMs !== undefined ? { activeTimeoutMs } : {}),
    ...(idleTimeoutMs !== undefined ? { idleTimeoutMs } : {}),
    logger: log,
  });
} catch (e) {
  bad((e as Error).message);
}
log.info("Simulating", {
  collector: sim.collector,
  nodes,
  pods: sim.cluster.pods.length,
  seed,
  rate,
  ...(records !== undefined ? { records } : {}),
});
onSignal(() => sim.stop());
const summary = await sim.run();
console.log(JSON.stringify(summary, null, 2));
Deno.exit(records !== undefined && summary.recordsSent < records ? 1 : 0);
