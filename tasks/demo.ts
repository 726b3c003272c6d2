/**
 * `deno task demo`: the flow aggregator on its embedded store with simulated agents exporting
 * to it over mutual TLS, all on loopback, no root needed.
 *
 * @module
 */

import {
  type AggregatorService,
  issueClientCertificate,
  startAggregatorService,
} from "../src/aggregator/mod.ts";
import { parseAggregatorConfig } from "../src/config/mod.ts";
import { createLogger } from "../src/log/mod.ts";
import { clusterInventory, simulatedCluster, Simulator } from "../src/sim/mod.ts";
import { durationFlag, onSignal, parseFlags } from "./_cli.ts";

const USAGE = `Usage: deno task demo [--dir DIR] [--nodes N] [--pods-per-node N] [--rate R]
                      [--port P] [--api-port P] [--duration D] [--seed S]

Starts the flow aggregator (embedded SQLite store, its own CA, mutual TLS) and a simulated
Kubernetes cluster whose nodes each run a real flow exporter agent exporting to it; prints
where to look at the flows. Everything listens on 127.0.0.1; no root needed.

  --dir DIR          where the store, the CA and the cluster's inventory go (flowvis-demo)
  --nodes N          simulated nodes (3)
  --pods-per-node N  pods per node (10)
  --rate R           flow records per second across the cluster (200)
  --port P           the aggregator's IPFIX port (4739)
  --api-port P       the API port (10348)
  --duration D       stop after D (Go duration: 90s, 10m); default: until Ctrl-C
  --seed S           seed of the simulated cluster and traffic (1)
  -h, --help         this help`;

const flags = parseFlags(USAGE, {
  dir: { type: "string", default: "flowvis-demo" },
  nodes: { type: "string", default: "3" },
  "pods-per-node": { type: "string", default: "10" },
  rate: { type: "string", default: "200" },
  port: { type: "string", default: "4739" },
  "api-port": { type: "string", default: "10348" },
  duration: { type: "string" },
  seed: { type: "string", default: "1" },
});

function bad(message: string): never {
  console.error(`${message}\n\nRun with --help for usage.`);
  Deno.exit(2);
}

function int(flag: string, min: number, max: number): number {
  const text = String(flags[flag]).trim();
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    bad(`Invalid --${flag} "${flags[flag]}": expected a whole number from ${min} to ${max}`);
  }
  return n;
}

const dir = String(flags.dir);
const nodes = int("nodes", 1, 250);
const podsPerNode = int("pods-per-node", 1, 250);
const rate = int("rate", 1, 1_000_000);
const port = int("port", 1, 65535);
const apiPort = int("api-port", 1, 65535);
const seed = int("seed", 0, 0xffffffff);
const durationMs = durationFlag(
  "duration",
  flags.duration === undefined ? undefined : String(flags.duration),
  undefined,
  bad,
);

const log = createLogger("demo");
await Deno.mkdir(dir, { recursive: true });
const inventory = `${dir}/inventory.yaml`;
await Deno.writeTextFile(
  inventory,
  clusterInventory(simulatedCluster({ nodes, podsPerNode, seed })),
);

// Short timeouts, so that flows show up within seconds.
const config = parseAggregatorConfig(
  [
    "activeFlowRecordTimeout: 10s",
    "inactiveFlowRecordTimeout: 20s",
    "correlationTimeout: 30s",
    "flowAggregatorAddress: localhost",
    `collectorAddress: "127.0.0.1:${port}"`,
    "recordContents: { podLabels: true }",
    `inventoryFile: ${JSON.stringify(inventory)}`,
    `apiServer: { apiPort: ${apiPort}, bindAddress: 127.0.0.1 }`,
    `embeddedStore: { path: ${JSON.stringify(`${dir}/flows.db`)} }`,
    `tls: { dir: ${JSON.stringify(`${dir}/pki`)} }`,
  ].join("\n"),
);

let service: AggregatorService;
try {
  service = await startAggregatorService(config, {
    logger: createLogger("aggregator", "warn"),
    componentLogLevel: "warn",
  });
} catch (e) {
  console.error(`Cannot start the aggregator: ${(e as Error).message}`);
  Deno.exit(1);
}
const client = await issueClientCertificate(service.pki!, "flowvis-demo-agents");
const sim = new Simulator({
  collector: `127.0.0.1:${service.aggregator.port}:tls`,
  tls: { caCerts: [service.pki!.caCert], cert: client.cert, key: client.key },
  nodes,
  podsPerNode,
  seed,
  rate,
  pollIntervalMs: 1000,
  activeTimeoutMs: 10_000,
  idleTimeoutMs: 5_000,
  ...(durationMs !== undefined ? { durationMs } : {}),
  progressIntervalMs: 0,
  logger: createLogger("simulate", "warn"),
  agentLogger: createLogger("agent", "warn"),
});

const api = service.api.url;
console.log(
  `flowvis demo: ${nodes} simulated nodes, ${nodes * podsPerNode} pods, ~${rate} flow records/s
  agents → aggregator   127.0.0.1:${service.aggregator.port} (IPFIX over mutual TLS; CA in ${dir}/pki/ca.crt)
  aggregated flows      ${dir}/flows.db (SQLite, table flows), after each ${
    config.activeFlowRecordTimeout / 1000
  }s active timeout

Look at the flows:
  deno task flowctl get flowrecords --server ${api}          # flows being aggregated now
  deno task flowctl get flowrecords --server ${api} -o yaml  # every field
  deno task flowctl get flows --server ${api} --since 5m      # flows stored so far
  deno task flowctl get recordmetrics --server ${api}
  curl ${api}/metrics
  sqlite3 ${dir}/flows.db "SELECT sourcePodName, destinationPodName, destinationServicePortName, octetDeltaCount FROM flows ORDER BY timeInserted DESC LIMIT 20"

Ctrl-C stops (the aggregator writes what it holds first).`,
);

const progress = setInterval(async () => {
  const m = service.aggregator.recordMetrics();
  const stored = service.store ? await service.store.count() : 0;
  log.info("progress", {
    received: m.numRecordsReceived,
    flows: m.numFlows,
    exported: m.numRecordsExported,
    stored,
    agents: m.numConnToCollector,
  });
}, 10_000);

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  clearInterval(progress);
  sim.stop();
  await running;
  await service.stop();
  const m = service.aggregator.recordMetrics();
  console.log(
    `stopped: ${m.numRecordsReceived} records received, ${m.numRecordsExported} aggregated ` +
      `records written to ${dir}/flows.db`,
  );
  Deno.exit(0);
}
const running = sim.run().catch((e) => {
  log.error("simulation failed", { error: String(e) });
});
onSignal(stop);
if (durationMs !== undefined) {
  await running;
  await stop();
}
