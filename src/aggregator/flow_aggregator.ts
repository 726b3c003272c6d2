/**
 * The flow aggregator process: an IPFIX collecting process feeding the aggregation process, a
 * timer that hands expired records to every sink, and the view the API server shows.
 *
 * @module
 */

import {
  type Clock,
  CollectingProcess,
  type DecodedMessage,
  type TlsServerOptions,
} from "../ipfix/mod.ts";
import { createLogger, type Logger } from "../log/mod.ts";
import type { Metric } from "../metrics/mod.ts";
import type { FlowRow, FlowSink } from "../store/mod.ts";
import { type AggregationOptions, AggregationProcess } from "./aggregation.ts";
import type { AggregatorView, FlowRecordFilter, HealthCheck, RecordMetrics } from "./types.ts";

/** Options of a {@link FlowAggregator}. */
export interface FlowAggregatorOptions {
  /** Listen address of the collecting process, `HOST:PORT:PROTO`. */
  collectorAddress: string;
  /** Server certificate and key; with `ca`, only agents holding a certificate it signed. */
  tls?: TlsServerOptions;
  aggregation?: Omit<AggregationOptions, "clock">;
  /** Where aggregated records go; each has its own queue. */
  sinks: readonly FlowSink[];
  /** UDP socket receive buffer to ask for, in octets (udp only); 0 or none: the system's. */
  udpReceiveBuffer?: number;
  /** How often expired records are handed out (1 s). */
  tickMs?: number;
  /** Most rows handed out in one slice of a tick before yielding to the event loop (20 000). */
  sliceRows?: number;
  clock?: Clock;
  logger?: Logger;
}

/**
 * Collects flow records from agents, correlates and aggregates them, and writes the results to
 * its sinks.
 *
 * @example
 * ```ts
 * // const agg = new FlowAggregator({ collectorAddress: "0.0.0.0:4739:tls", tls, sinks: [store] });
 * // await agg.start();
 * // …
 * // await agg.stop(); // exports what is cached, flushes and closes the sinks
 * ```
 */
export class FlowAggregator implements AggregatorView {
  readonly aggregation: AggregationProcess;
  readonly collector: CollectingProcess;
  readonly #sinks: readonly FlowSink[];
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #tickMs: number;
  readonly #slice: number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #ticking: Promise<void> | undefined;
  #stopped = false;
  readonly #mutualTls: boolean;
  #rowsExported = 0;
  #messageErrors = 0;

  constructor(options: FlowAggregatorOptions) {
    this.#clock = options.clock ?? Date.now;
    this.#log = options.logger ?? createLogger("aggregator");
    this.#sinks = options.sinks;
    this.#tickMs = options.tickMs ?? 1000;
    this.#slice = options.sliceRows ?? 20_000;
    this.#mutualTls = options.tls?.ca !== undefined;
    this.aggregation = new AggregationProcess({ ...options.aggregation, clock: this.#clock });
    this.collector = new CollectingProcess({
      address: options.collectorAddress,
      ...(options.tls ? { tls: options.tls } : {}),
      ...(options.udpReceiveBuffer ? { udpReceiveBuffer: options.udpReceiveBuffer } : {}),
      clock: this.#clock,
      logger: this.#log,
      onMessage: (msg) => this.#onMessage(msg),
    });
  }

  /** The port the collecting process listens on. */
  get port(): number {
    return this.collector.port;
  }

  /** Starts collecting and exporting. */
  async start(): Promise<void> {
    await this.collector.listen();
    this.#log.info("collecting flow records", {
      address: `${this.collector.endpoint.host}:${this.port}`,
      protocol: this.collector.endpoint.protocol,
      mutualTls: this.#mutualTls,
      sinks: this.#sinks.map((s) => s.name).join(","),
    });
    this.#schedule();
  }

  /** Hands every record due now to the sinks (the timer calls it; tests call it directly). */
  async tick(now: number = this.#clock()): Promise<number> {
    let total = 0;
    while (true) {
      const rows = this.aggregation.expire(now, this.#slice);
      if (rows.length === 0) break;
      this.#write(rows);
      total += rows.length;
      if (rows.length < this.#slice) break;
      // Let collection go on between slices.
      await new Promise((r) => setTimeout(r, 0));
    }
    return total;
  }

  /**
   * Stops collecting, exports every cached record (as it stands: halves still waiting for
   * their partner go out marked), then flushes and closes the sinks.
   */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#ticking;
    await this.collector.close();
    const rows = this.aggregation.drain();
    if (rows.length > 0) this.#write(rows);
    await Promise.all(this.#sinks.map(async (s) => {
      try {
        await s.close();
      } catch (e) {
        this.#log.error("sink close failed", { sink: s.name, error: String(e) });
      }
    }));
    this.#log.info("aggregator stopped", { rowsExported: this.#rowsExported });
  }

  /** Resolves when every sink has written what it was handed. */
  async flush(): Promise<void> {
    await Promise.all(this.#sinks.map((s) => s.flush()));
  }

  flowRecords(filter: FlowRecordFilter): FlowRow[] {
    return this.aggregation.flowRecords(filter);
  }

  recordMetrics(): RecordMetrics {
    const a = this.aggregation.stats();
    const names = new Set(this.#sinks.map((s) => s.name));
    return {
      numRecordsExported: this.#rowsExported,
      numRecordsReceived: a.recordsReceived,
      numRecordsDropped: this.#dropped(),
      numFlows: a.flows,
      numConnToCollector: this.collector.stats.activeSessions,
      withClickHouseExporter: names.has("clickhouse"),
      withEmbeddedStore: names.has("sqlite"),
      withFlowCollector: names.has("ipfix") || names.has("json"),
    };
  }

  metrics(): Metric[] {
    const a = this.aggregation.stats();
    const c = this.collector.stats;
    const p = "flowvis_aggregator_";
    const counter = (name: string, help: string, value: number): Metric => ({
      name: p + name,
      help,
      type: "counter",
      value,
    });
    const gauge = (name: string, help: string, value: number): Metric => ({
      name: p + name,
      help,
      type: "gauge",
      value,
    });
    const sinks = this.#sinks.map((s) => ({ name: s.name, stats: s.stats() }));
    const bySink = (
      name: string,
      help: string,
      type: "counter" | "gauge",
      pick: (s: ReturnType<FlowSink["stats"]>) => number,
    ): Metric => ({
      name: p + name,
      help,
      type,
      samples: sinks.map((s) => ({ labels: { sink: s.name }, value: pick(s.stats) })),
    });
    return [
      counter("records_received_total", "Flow records received from agents.", a.recordsReceived),
      counter(
        "records_exported_total",
        "Aggregated flow records handed to the sinks.",
        this.#rowsExported,
      ),
      counter(
        "records_dropped_total",
        "Records lost: invalid input records and rows the sinks had to drop.",
        this.#dropped(),
      ),
      counter("records_invalid_total", "Records without a usable 5-tuple.", a.recordsInvalid),
      counter(
        "records_stale_total",
        "Duplicate or out-of-date records that added nothing.",
        a.recordsStale,
      ),
      counter("records_lost_total", "Records missing by IPFIX sequence numbers.", c.lost),
      gauge("flows", "Flows cached now.", a.flows),
      counter("flows_created_total", "Flows created.", a.flowsCreated),
      counter(
        "flows_correlated_total",
        "Inter-node flows whose two halves were joined.",
        a.correlated,
      ),
      gauge(
        "correlation_waiting",
        "Inter-node flows cached now whose other half has not arrived.",
        a.waitingForCorrelation,
      ),
      counter(
        "uncorrelated_exported_total",
        "Rows of inter-node flows exported with one half only, after the correlation wait.",
        a.uncorrelatedExported,
      ),
      counter(
        "overflow_exported_total",
        "Records of new flows exported at once because the flow cache was full.",
        a.overflowExported,
      ),
      counter(
        "interned_forgotten_total",
        "Interned Kubernetes/policy field sets dropped because no cached flow used them.",
        a.metasForgotten,
      ),
      gauge("exporters_connected", "Agents connected now.", c.activeSessions),
      counter("ipfix_messages_total", "IPFIX messages received.", c.messages),
      counter("ipfix_errors_total", "Malformed IPFIX messages.", c.errors),
      counter("ipfix_tls_errors_total", "Failed TLS handshakes.", c.tlsErrors),
      counter(
        "ipfix_unknown_sets_total",
        "Data sets skipped for an unknown template.",
        c.unknownSets,
      ),
      counter(
        "udp_buffer_drops_total",
        "UDP datagrams the kernel dropped (receive buffer full).",
        c.udpBufferDrops,
      ),
      counter(
        "ipfix_templates_refused_total",
        "Templates not kept because the template cache (or the exporter's share of it) was full.",
        c.templatesRefused,
      ),
      counter(
        "udp_sessions_expired_total",
        "UDP exporters forgotten after a silence (with their templates and sequence state).",
        c.sessionsExpired,
      ),
      counter(
        "udp_sources_refused_total",
        "UDP datagrams dropped because they came from a new exporter while too many were known.",
        c.udpSourcesRefused,
      ),
      bySink("sink_queue_rows", "Rows waiting in a sink's queue.", "gauge", (s) => s.queued),
      bySink(
        "sink_written_total",
        "Rows a sink's destination confirmed.",
        "counter",
        (s) => s.written,
      ),
      bySink("sink_dropped_total", "Rows a sink lost for good.", "counter", (s) => s.dropped),
      bySink(
        "sink_failures_total",
        "Failed writes (retried or spooled).",
        "counter",
        (s) => s.failures,
      ),
      bySink("sink_spool_rows", "Rows in a sink's disk spool.", "gauge", (s) => s.spooledRows),
      bySink("sink_spool_bytes", "Size of a sink's disk spool.", "gauge", (s) => s.spoolBytes),
    ];
  }

  health(): HealthCheck[] {
    const checks: HealthCheck[] = [{
      name: "collector",
      ok: this.port > 0 && !this.#stopped,
      detail: this.#stopped ? "stopped" : `listening on port ${this.port}`,
    }];
    for (const s of this.#sinks) {
      const st = s.stats();
      // A sink is unhealthy while it cannot write and rows pile up in its spool.
      const ok = st.spooledRows === 0;
      checks.push({
        name: `sink:${s.name}`,
        ok,
        detail: `${st.queued} queued, ${st.written} written, ${st.dropped} dropped, ` +
          `${st.spooledRows} spooled`,
      });
    }
    return checks;
  }

  #onMessage(msg: DecodedMessage): void {
    try {
      this.aggregation.addMessage(msg, this.#clock());
    } catch (e) {
      // Records are plain values; nothing here should throw, but one message never stops the
      // aggregator.
      this.#messageErrors++;
      this.#log.error("cannot aggregate a message", { error: String(e) });
    }
  }

  #write(rows: FlowRow[]): void {
    this.#rowsExported += rows.length;
    for (const s of this.#sinks) {
      try {
        s.write(rows);
      } catch (e) {
        this.#log.error("sink refused rows", { sink: s.name, rows: rows.length, error: String(e) });
      }
    }
  }

  #dropped(): number {
    let sinkDrops = 0;
    for (const s of this.#sinks) sinkDrops += s.stats().dropped;
    return this.aggregation.stats().recordsInvalid + this.#messageErrors + sinkDrops;
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#ticking = this.tick().catch((e) => {
        this.#log.error("export tick failed", { error: String(e) });
        return 0;
      }).then(() => {
        this.#ticking = undefined;
        this.#schedule();
      });
    }, this.#tickMs);
  }
}
