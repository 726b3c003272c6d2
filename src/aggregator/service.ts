/**
 * The whole flow aggregator service from its configuration: TLS material, Kubernetes knowledge
 * for pod labels, the sinks (embedded SQLite store, ClickHouse, external collector), the
 * aggregator itself and its API server. `deno task aggregator` and `deno task demo` run it.
 *
 * @module
 */

import { type ApiServer, createApp, serveApi } from "../api/mod.ts";
import type { AggregatorConfig } from "../config/mod.ts";
import type { TlsServerOptions } from "../ipfix/mod.ts";
import { ClusterCache, watchClusterSource } from "../k8s/mod.ts";
import { createLogger, type Level, type Logger } from "../log/mod.ts";
import { ClickHouseStore } from "../store/clickhouse/mod.ts";
import type { FlowSink } from "../store/mod.ts";
import { SqliteStore } from "../store/sqlite/mod.ts";
import { createCollectorSink } from "./external/mod.ts";
import { FlowAggregator } from "./flow_aggregator.ts";
import { ensurePki, type Pki } from "./pki.ts";

/** A running aggregator service. */
export interface AggregatorService {
  readonly aggregator: FlowAggregator;
  readonly api: ApiServer;
  /** The CA agents must trust, and that signs their client certificates (tls only). */
  readonly pki: Pki | undefined;
  /** The SQLite store, when the embedded store is on. */
  readonly store: SqliteStore | undefined;
  /** Stops the API server and the aggregator (which exports what it holds and closes sinks). */
  stop(): Promise<void>;
}

/** Options of {@link startAggregatorService}. */
export interface ServiceOptions {
  logger?: Logger;
  /** Extra names for the server certificate besides flowAggregatorAddress and loopback. */
  serverNames?: string[];
  /** Least level of the components' own logs (sinks, API, Kubernetes); their defaults else. */
  componentLogLevel?: Level;
}

/**
 * Starts everything the configuration asks for; on failure, stops what it started and throws
 * an error that says what could not start.
 *
 * @example
 * ```ts
 * // const svc = await startAggregatorService(parseAggregatorConfig(text));
 * // console.log(svc.api.url, svc.aggregator.port);
 * // await svc.stop();
 * ```
 */
export async function startAggregatorService(
  config: AggregatorConfig,
  options: ServiceOptions = {},
): Promise<AggregatorService> {
  const log = options.logger ?? createLogger("aggregator");
  const logOf = (component: string) => createLogger(component, options.componentLogLevel);
  const stops: (() => Promise<void> | void)[] = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) {
      try {
        await stop();
      } catch (e) {
        log.error("stop failed", { error: String(e) });
      }
    }
  };
  try {
    const { tls, pki } = await tlsOf(config, options.serverNames ?? [], log);
    const podLabels = config.recordContents.podLabels
      ? await clusterLabels(config, stops, log, logOf("k8s"))
      : undefined;

    const sinks: FlowSink[] = [];
    let started = false;
    stops.push(async () => {
      // Sinks not handed to a running aggregator (a failure below) are closed here.
      if (!started) await Promise.all(sinks.map((s) => s.close()));
    });
    let store: SqliteStore | undefined;
    if (config.embeddedStore.enable) {
      store = new SqliteStore({
        path: config.embeddedStore.path,
        retentionMs: config.embeddedStore.retention,
        logger: logOf("sqlite"),
      });
      sinks.push(store);
    }
    let chStore: ClickHouseStore | undefined;
    if (config.clickHouse.enable) {
      const ch = chStore = new ClickHouseStore({
        url: config.clickHouse.databaseURL,
        database: config.clickHouse.database,
        username: config.clickHouse.username,
        password: config.clickHouse.password,
        compress: config.clickHouse.compress,
        commitIntervalMs: config.clickHouse.commitInterval,
        retentionMs: config.clickHouse.retention,
        spoolDir: config.clickHouse.spoolDir,
        spoolMaxBytes: config.clickHouse.spoolMaxSize,
        logger: createLogger("clickhouse", config.clickHouse.debug ? "debug" : undefined),
      });
      sinks.push(ch);
      await ch.open();
    }
    if (config.flowCollector.enable) {
      sinks.push(createCollectorSink({
        address: config.flowCollector.address,
        recordFormat: config.flowCollector.recordFormat,
        ...(config.flowCollector.observationDomainID !== undefined
          ? { observationDomainId: config.flowCollector.observationDomainID }
          : { observationDomainSeed: config.flowAggregatorAddress }),
        logger: logOf("flow-collector"),
      }));
    }

    const aggregator = new FlowAggregator({
      collectorAddress: config.collectorAddress,
      ...(tls ? { tls } : {}),
      aggregation: {
        activeTimeoutMs: config.activeFlowRecordTimeout,
        inactiveTimeoutMs: config.inactiveFlowRecordTimeout,
        correlationTimeoutMs: config.correlationTimeout,
        maxFlows: config.maxFlows,
        ...(podLabels ? { podLabels } : {}),
      },
      sinks,
      udpReceiveBuffer: config.udpReceiveBuffer,
      logger: log,
    });
    await aggregator.start();
    started = true;
    stops.push(() => aggregator.stop());

    if (config.apiServer.tlsCipherSuites.length > 0 || config.apiServer.tlsMinVersion !== "") {
      // Deno.serve cannot choose cipher suites or a minimum TLS version, and the API serves
      // plain HTTP: say so rather than let the settings look applied.
      log.warn(
        "apiServer.tlsCipherSuites and apiServer.tlsMinVersion do not apply: the API serves HTTP",
        {
          tlsCipherSuites: config.apiServer.tlsCipherSuites.join(","),
          tlsMinVersion: config.apiServer.tlsMinVersion,
        },
      );
    }
    const abort = new AbortController();
    const history = store ?? chStore;
    const api = serveApi(
      createApp({ aggregator, logger: logOf("api"), ...(history ? { store: history } : {}) }),
      {
        hostname: config.apiServer.bindAddress,
        port: config.apiServer.apiPort,
        signal: abort.signal,
        logger: logOf("api"),
      },
    );
    stops.push(async () => {
      abort.abort();
      await api.finished;
    });
    log.info("API server listening", { url: api.url });
    return { aggregator, api, pki, store, stop: stopAll };
  } catch (e) {
    await stopAll();
    throw e;
  }
}

/**
 * The aggregator's own CA and server certificate in `tls.dir`, created or loaded; the server
 * certificate covers flowAggregatorAddress, loopback and `extraNames`. The service and
 * `--issue-client-cert` both go through here, so that they agree on the names.
 *
 * @example
 * ```ts
 * // const pki = await aggregatorPki(parseAggregatorConfig(text), logger);
 * // await writeClientCertificate(pki, "node-1", "agent-certs");
 * ```
 */
export function aggregatorPki(
  config: AggregatorConfig,
  logger: Logger,
  extraNames: readonly string[] = [],
): Promise<Pki> {
  return ensurePki({
    dir: config.tls.dir,
    serverNames: [
      ...new Set([config.flowAggregatorAddress, "localhost", "127.0.0.1", "::1", ...extraNames]),
    ],
    logger,
  });
}

/** The collecting process's TLS settings: configured files, or the aggregator's own CA. */
async function tlsOf(
  config: AggregatorConfig,
  extraNames: string[],
  log: Logger,
): Promise<{ tls: TlsServerOptions | undefined; pki: Pki | undefined }> {
  if (config.aggregatorTransportProtocol !== "tls") return { tls: undefined, pki: undefined };
  const { caFile, certFile, keyFile } = config.tls;
  if (caFile && certFile && keyFile) {
    const read = (what: string, path: string) => {
      try {
        return Deno.readTextFileSync(path);
      } catch (e) {
        throw new Error(`Cannot read tls.${what} ${path}: ${(e as Error).message}`, { cause: e });
      }
    };
    const ca = read("caFile", caFile);
    const tls = { cert: read("certFile", certFile), key: read("keyFile", keyFile), ca };
    return { tls, pki: undefined };
  }
  const pki = await aggregatorPki(config, log, extraNames);
  log.info("TLS: agents need a client certificate signed by the aggregator's CA", {
    ca: `${config.tls.dir}/ca.crt`,
  });
  return { tls: { cert: pki.serverCert, key: pki.serverKey, ca: pki.caCert }, pki };
}

/** Pod labels as JSON text, from the cluster (kubeconfig or in-cluster) or an inventory file. */
async function clusterLabels(
  config: AggregatorConfig,
  stops: (() => Promise<void> | void)[],
  log: Logger,
  k8sLog: Logger,
): Promise<(namespace: string, name: string, ip: string) => string | undefined> {
  const cache = new ClusterCache({ logger: k8sLog });
  try {
    const source = await watchClusterSource(cache, {
      ...(config.inventoryFile ? { inventoryFile: config.inventoryFile } : {}),
      ...(config.kubeconfig ? { kubeconfig: config.kubeconfig } : {}),
      logger: k8sLog,
    });
    stops.push(() => source.close());
  } catch (e) {
    throw new Error(
      `Cannot read the cluster for recordContents.podLabels: ${(e as Error).message}`,
      { cause: e },
    );
  }
  log.info("pod labels from the cluster", {
    source: config.inventoryFile ?? config.kubeconfig ?? "in-cluster",
  });
  // Labels change rarely: cache the JSON per pod object.
  const json = new WeakMap<object, string>();
  return (namespace, name, ip) => {
    const pod = cache.podByIP(ip);
    if (!pod || pod.namespace !== namespace || pod.name !== name) return undefined;
    let text = json.get(pod);
    if (text === undefined) {
      const sorted = Object.fromEntries(
        Object.entries(pod.labels).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0),
      );
      text = JSON.stringify(sorted);
      json.set(pod, text);
    }
    return text;
  };
}
