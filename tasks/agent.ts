/**
 * `deno task agent -- --config agent.conf`: the flow exporter agent of one node.
 *
 * @module
 */

import { parseAgentConfig } from "../src/config/mod.ts";
import { Conntrack, conntrackMax, enableAccounting } from "../src/conntrack/mod.ts";
import { FlowExporterAgent } from "../src/exporter/mod.ts";
import { parseAddress } from "../src/ipfix/mod.ts";
import { ClusterCache, watchClusterSource } from "../src/k8s/mod.ts";
import { createLogger } from "../src/log/mod.ts";
import { formatPrometheus, PROMETHEUS_CONTENT_TYPE } from "../src/metrics/mod.ts";
import { ClusterPolicyView } from "../src/policy/mod.ts";
import { onSignal, parseFlags, readFlagFile } from "./_cli.ts";

const USAGE = `Usage: deno task agent --config FILE

The flow exporter agent of one node: polls the kernel's conntrack table, adds Kubernetes and
NetworkPolicy knowledge, and exports Antrea flow records over IPFIX (TLS by default).
Needs root (or CAP_NET_ADMIN) for conntrack.

  --config FILE  YAML with the reference's keys:
                   featureGates: { FlowExporter: true }
                   flowCollectorAddr: "flow-aggregator.flow-aggregator.svc:4739:tls"
                   flowPollInterval: "5s"            (at least 1s)
                   activeFlowExportTimeout: "60s"
                   idleFlowExportTimeout: "15s"
                 and flowvis's: nodeName (default $NODE_NAME, then the hostname), kubeconfig or
                 inventoryFile (a YAML list of Pods, Nodes, Services, NetworkPolicies; without
                 either, the in-cluster service account), conntrackZones, maxConnections,
                 tls: { caFile, certFile, keyFile }, metricsAddress (0.0.0.0:10350),
                 exportBufferLimit
  -h, --help     this help

Metrics: http://<metricsAddress>/metrics (Prometheus), /healthz.`;

const flags = parseFlags(USAGE, { config: { type: "string" } });
const log = createLogger("agent");
const text = flags.config === undefined ? "" : readFlagFile("--config", flags.config as string)!;
let config;
try {
  config = parseAgentConfig(text, {
    nodeNameEnv: Deno.env.get("NODE_NAME"),
    hostname: (() => {
      try {
        return Deno.hostname();
      } catch {
        return undefined;
      }
    })(),
  });
} catch (e) {
  console.error(`Invalid configuration ${flags.config ?? "(defaults)"}: ${(e as Error).message}`);
  Deno.exit(2);
}
if (!config.featureGates.FlowExporter) {
  log.info("featureGates.FlowExporter is false: nothing to do");
  Deno.exit(0);
}
// Read before anything is opened, so that an unreadable file is a configuration error.
const tlsFiles: Record<"caFile" | "certFile" | "keyFile", string | undefined> = {
  caFile: undefined,
  certFile: undefined,
  keyFile: undefined,
};
for (const key of ["caFile", "certFile", "keyFile"] as const) {
  const path = config.tls[key];
  if (path === undefined) continue;
  try {
    tlsFiles[key] = Deno.readTextFileSync(path);
  } catch (e) {
    console.error(
      `Invalid configuration ${flags.config}: tls.${key}: cannot read ${path}: ${
        (e as Error).message
      }`,
    );
    Deno.exit(2);
  }
}

const cache = new ClusterCache({ logger: createLogger("k8s") });
const stops: (() => Promise<void> | void)[] = [];
try {
  const source = await watchClusterSource(cache, {
    ...(config.inventoryFile ? { inventoryFile: config.inventoryFile } : {}),
    ...(config.kubeconfig ? { kubeconfig: config.kubeconfig } : {}),
    logger: createLogger("k8s"),
  });
  stops.push(() => source.close());
} catch (e) {
  console.error(`Cannot read the cluster: ${(e as Error).message}`);
  Deno.exit(1);
}

const report = enableAccounting();
for (const m of report.missing) log.warn(m);
let conntrack: Conntrack;
try {
  conntrack = new Conntrack();
} catch (e) {
  console.error((e as Error).message);
  Deno.exit(1);
}
const zones = config.conntrackZones;
const { caFile: ca, certFile: cert, keyFile: key } = tlsFiles;
const agent = new FlowExporterAgent({
  nodeName: config.nodeName,
  source: {
    poll: () => conntrack.dump(zones ? { zones } : {}),
    maxConnections: () => conntrackMax(),
    close: () => conntrack.close(),
  },
  cluster: cache,
  policy: new ClusterPolicyView(cache),
  exporter: {
    address: config.flowCollectorAddr,
    tls: { ...(ca ? { caCerts: [ca] } : {}), ...(cert && key ? { cert, key } : {}) },
    bufferLimit: config.exportBufferLimit,
  },
  pollIntervalMs: config.flowPollInterval,
  activeTimeoutMs: config.activeFlowExportTimeout,
  idleTimeoutMs: config.idleFlowExportTimeout,
  maxConnections: config.maxConnections,
});

const metricsAt = parseAddress(config.metricsAddress, "tcp");
const server = Deno.serve({
  hostname: metricsAt.host,
  port: metricsAt.port,
  onListen: ({ hostname, port }) =>
    log.info("Metrics", { url: `http://${hostname}:${port}/metrics` }),
}, (req) => {
  const path = new URL(req.url).pathname;
  if (path === "/metrics") {
    return new Response(formatPrometheus(agent.metrics()), {
      headers: { "content-type": PROMETHEUS_CONTENT_TYPE },
    });
  }
  if (path === "/healthz") return new Response("ok\n");
  return new Response("Not found\n", { status: 404 });
});

agent.start();
log.info("Flow exporter started", {
  node: config.nodeName,
  observationDomainId: agent.observationDomainId,
  collector: config.flowCollectorAddr,
  pollInterval: config.flowPollInterval,
});

onSignal(async () => {
  await agent.close();
  for (const stop of stops) await stop();
  await server.shutdown();
  log.info("Stopped", { ...agent.stats, ...agent.exporter.stats });
  Deno.exit(0);
});
