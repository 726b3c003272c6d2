/**
 * `deno task aggregator -- --config flow-aggregator.conf`: the flow aggregator.
 *
 * @module
 */

import {
  aggregatorPki,
  type AggregatorService,
  startAggregatorService,
  writeClientCertificate,
} from "../src/aggregator/mod.ts";
import { parseAggregatorConfig } from "../src/config/mod.ts";
import { createLogger } from "../src/log/mod.ts";
import { onSignal, parseFlags, readFlagFile } from "./_cli.ts";

const USAGE = `Usage: deno task aggregator -- --config FILE
       deno task aggregator -- --config FILE --issue-client-cert NAME --out DIR

The flow aggregator: collects IPFIX flow records from the agents (TLS by default, with its own
CA: only agents holding a client certificate it signed may connect), correlates the two halves
of inter-node flows, aggregates their statistics, and writes complete records to the embedded
SQLite store (default), ClickHouse and/or an external IPFIX or JSON collector. Serves the flow
records, record metrics, /metrics and /healthz on apiServer.apiPort (10348).

  --config FILE             flow-aggregator.conf (YAML): the reference's keys (activeFlowRecordTimeout,
                            inactiveFlowRecordTimeout, aggregatorTransportProtocol, flowAggregatorAddress,
                            recordContents.podLabels, apiServer.*, flowCollector.*, clickHouse.*) plus
                            embeddedStore.*, tls.*, collectorAddress, correlationTimeout, maxFlows,
                            udpReceiveBuffer, kubeconfig, inventoryFile; an empty file gives every
                            default
  --issue-client-cert NAME  write a client certificate for an agent (client.crt, client.key, ca.crt)
                            signed by the aggregator's CA (created in tls.dir when missing), then exit
  --out DIR                 where --issue-client-cert writes
  -h, --help                this help

Stops on SIGINT/SIGTERM: exports every cached record, flushes and closes the sinks.
Logs go to stderr as JSON lines (FLOWVIS_LOG_LEVEL=debug|info|warn|error).`;

const flags = parseFlags(USAGE, {
  config: { type: "string" },
  "issue-client-cert": { type: "string" },
  out: { type: "string" },
});

if (flags.config === undefined) {
  console.error(`--config is required\n\n${USAGE}`);
  Deno.exit(2);
}
const text = readFlagFile("--config", flags.config as string)!;
let config;
try {
  config = parseAggregatorConfig(text, Deno.env.toObject());
} catch (e) {
  console.error(`Invalid ${flags.config}: ${(e as Error).message}`);
  Deno.exit(2);
}
const log = createLogger("aggregator");

if (flags["issue-client-cert"] !== undefined) {
  if (flags.out === undefined) {
    console.error("--issue-client-cert needs --out DIR");
    Deno.exit(2);
  }
  try {
    const pki = await aggregatorPki(config, log);
    const files = await writeClientCertificate(
      pki,
      flags["issue-client-cert"] as string,
      flags.out as string,
    );
    console.log(JSON.stringify(files));
    Deno.exit(0);
  } catch (e) {
    console.error(`Cannot issue the client certificate: ${(e as Error).message}`);
    Deno.exit(1);
  }
}

let service: AggregatorService;
try {
  service = await startAggregatorService(config, { logger: log });
} catch (e) {
  console.error(`Cannot start the aggregator: ${(e as Error).message}`);
  Deno.exit(1);
}

const done = Promise.withResolvers<void>();
onSignal(async () => {
  log.info("stopping");
  await service.stop();
  done.resolve();
});
await done.promise;
Deno.exit(0);
