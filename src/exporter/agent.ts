/**
 * The flow exporter agent: polls a connection source (kernel conntrack, or a simulated one),
 * keeps the connection store, and exports Antrea flow records over IPFIX.
 *
 * @module
 */

import type { ConnEntry } from "../conntrack/mod.ts";
import {
  ANTREA_IPV4_TEMPLATE_ID,
  ANTREA_IPV6_TEMPLATE_ID,
  antreaFlowTemplate,
  type Clock,
  ExportingProcess,
  type ExportingProcessOptions,
  systemClock,
} from "../ipfix/mod.ts";
import { createLogger, type Logger } from "../log/mod.ts";
import type { Metric } from "../metrics/mod.ts";
import type { PolicyView } from "../policy/mod.ts";
import { ConnectionStore } from "./connection_store.ts";
import {
  classifyConnection,
  type ClusterKnowledge,
  type FlowMeta,
  flowRecord,
  isDenied,
} from "./flow_record.ts";
import { fnv1_32 } from "./fnv.ts";

/** How long after a connection is first seen an unknown endpoint may still turn out to be a pod. */
const RECLASSIFY_WINDOW_MS = 120_000;

/** Where connections come from: kernel conntrack, or a simulated cluster. */
export interface ConnectionSource {
  /** Every connection tracked now. Throws when the poll fails; the next poll retries. */
  poll(): Iterable<ConnEntry> | Promise<Iterable<ConnEntry>>;
  /** The source's limit on tracked connections, if it has one (nf_conntrack_max). */
  maxConnections?(): number | undefined;
  close?(): void;
}

/** Options of a {@link FlowExporterAgent}. */
export interface AgentOptions {
  nodeName: string;
  source: ConnectionSource;
  cluster: ClusterKnowledge;
  policy?: PolicyView;
  /** Collector address and TLS settings; or an exporting process made by the caller. */
  exporter: ExportingProcess | Omit<ExportingProcessOptions, "observationDomainId" | "templates">;
  pollIntervalMs?: number;
  activeTimeoutMs?: number;
  idleTimeoutMs?: number;
  maxConnections?: number;
  clock?: Clock;
  logger?: Logger;
}

/** Counters of an agent. */
export interface AgentStats {
  polls: number;
  pollErrors: number;
  lastPollMs: number;
  /** Entries in the latest poll. */
  conntrackConnections: number;
  deniedConnections: number;
  recordsExported: number;
  exportErrors: number;
}

/**
 * One node's flow exporter.
 *
 * @example
 * ```ts
 * // const agent = new FlowExporterAgent({ nodeName, source, cluster, policy, exporter: { address } });
 * // agent.start(); … await agent.close();
 * ```
 */
export class FlowExporterAgent {
  readonly nodeName: string;
  readonly observationDomainId: number;
  readonly store: ConnectionStore<FlowMeta>;
  readonly exporter: ExportingProcess;
  readonly stats: AgentStats = {
    polls: 0,
    pollErrors: 0,
    lastPollMs: 0,
    conntrackConnections: 0,
    deniedConnections: 0,
    recordsExported: 0,
    exportErrors: 0,
  };
  readonly #source: ConnectionSource;
  readonly #interval: number;
  readonly #clock: Clock;
  readonly #log: Logger;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running = false;
  #closed = false;
  #polling: Promise<void> | undefined;
  readonly #cluster: ClusterKnowledge;
  #clusterGeneration: number | undefined;
  /** Connections counted as denied (at their first export as such). */
  readonly #counted = new WeakSet<object>();

  constructor(o: AgentOptions) {
    this.nodeName = o.nodeName;
    this.observationDomainId = fnv1_32(o.nodeName);
    this.#source = o.source;
    this.#cluster = o.cluster;
    this.#clusterGeneration = o.cluster.generation;
    this.#interval = o.pollIntervalMs ?? 5000;
    if (!(this.#interval >= 1000)) {
      throw new RangeError(`Invalid poll interval ${this.#interval} ms: at least 1s`);
    }
    this.#clock = o.clock ?? systemClock;
    this.#log = o.logger ?? createLogger("agent");
    const ctx = {
      nodeName: o.nodeName,
      cluster: o.cluster,
      ...(o.policy ? { policy: o.policy } : {}),
    };
    this.store = new ConnectionStore<FlowMeta>((e) => classifyConnection(e, ctx), {
      clock: this.#clock,
      ...(o.activeTimeoutMs ? { activeTimeoutMs: o.activeTimeoutMs } : {}),
      ...(o.idleTimeoutMs ? { idleTimeoutMs: o.idleTimeoutMs } : {}),
      ...(o.maxConnections ? { maxConnections: o.maxConnections } : {}),
    });
    this.exporter = o.exporter instanceof ExportingProcess ? o.exporter : new ExportingProcess({
      ...o.exporter,
      observationDomainId: this.observationDomainId,
      templates: [antreaFlowTemplate(4), antreaFlowTemplate(6)],
      clock: this.#clock,
      logger: o.exporter.logger ?? createLogger("ipfix-exporter"),
    });
  }

  /** Starts exporting and polling every poll interval. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.exporter.start();
    const tick = async () => {
      if (this.#closed) return;
      this.#polling = this.pollOnce();
      await this.#polling;
      if (!this.#closed) this.#timer = setTimeout(tick, this.#interval);
    };
    void tick();
  }

  /** One poll: read the source, update the store, export what is due. */
  async pollOnce(): Promise<void> {
    const t0 = performance.now();
    let entries: Iterable<ConnEntry>;
    try {
      entries = await this.#source.poll();
    } catch (e) {
      this.stats.pollErrors++;
      this.#log.warn("Poll failed; retrying at the next interval", { error: e });
      return;
    }
    const now = this.#clock();
    const list = Array.isArray(entries) ? entries : [...entries];
    this.stats.conntrackConnections = list.length;
    const generation = this.#cluster.generation;
    if (generation !== this.#clusterGeneration) {
      // A pod that was unknown at the last poll may be known now (the watch lags behind a pod's
      // first connections): classify the declined entries again.
      this.#clusterGeneration = generation;
      this.store.forgetIgnored();
      // Likewise for the remote end of young tracked connections: a pod on another node whose
      // IP was unknown when the connection was first seen (it was taken for an external
      // address). A pod's IP is known within seconds; older unknown ends are external.
      this.store.reclassify((c) =>
        now - c.firstSeenMs < RECLASSIFY_WINDOW_MS &&
        (c.meta.sourcePod === undefined || c.meta.destinationPod === undefined)
      );
    }
    this.store.update(list, now);
    for (const item of this.store.due(now)) {
      const templateId = item.conn.entry.family === 4
        ? ANTREA_IPV4_TEMPLATE_ID
        : ANTREA_IPV6_TEMPLATE_ID;
      if (!this.#counted.has(item.conn) && isDenied(item.conn.meta, item.conn.entry)) {
        this.#counted.add(item.conn);
        this.stats.deniedConnections++;
      }
      try {
        this.exporter.send(templateId, flowRecord(item, this.nodeName));
        this.stats.recordsExported++;
      } catch (e) {
        this.stats.exportErrors++;
        this.#log.warn("Flow record not exported", { error: e });
      }
    }
    this.stats.polls++;
    this.stats.lastPollMs = performance.now() - t0;
  }

  /** Stops polling, sends what is queued, and closes the exporter and the source. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.#polling;
    await this.exporter.close();
    this.#source.close?.();
  }

  /**
   * The agent's metrics: the reference's five (antrea_agent_*) and the same under the
   * flowvis_agent_ prefix, plus poll duration, records exported and export errors.
   */
  metrics(): Metric[] {
    const ex = this.exporter.stats;
    const max = this.#source.maxConnections?.() ?? 0;
    const base: [string, string, "counter" | "gauge", number][] = [
      [
        "conntrack_total_connection_count",
        "Connections in the conntrack table at the latest poll.",
        "gauge",
        this.stats.conntrackConnections,
      ],
      [
        "conntrack_antrea_connection_count",
        "Connections with a pod endpoint on this node, tracked by the flow exporter.",
        "gauge",
        this.store.size,
      ],
      [
        "denied_connection_count",
        "Connections denied by a NetworkPolicy (unreplied and dropped), exported since start.",
        "counter",
        this.stats.deniedConnections,
      ],
      [
        "conntrack_max_connection_count",
        "The conntrack table's capacity (nf_conntrack_max).",
        "gauge",
        max,
      ],
      [
        "flow_collector_reconnection_count",
        "Reconnections to the flow collector.",
        "counter",
        ex.reconnects,
      ],
    ];
    const out: Metric[] = [];
    for (const prefix of ["antrea_agent_", "flowvis_agent_"]) {
      for (const [n, help, type, value] of base) out.push({ name: prefix + n, help, type, value });
    }
    out.push(
      {
        name: "flowvis_agent_poll_duration_seconds",
        help: "Duration of the latest poll.",
        type: "gauge",
        value: this.stats.lastPollMs / 1000,
      },
      {
        name: "flowvis_agent_polls_total",
        help: "Polls done.",
        type: "counter",
        value: this.stats.polls,
      },
      {
        name: "flowvis_agent_poll_errors_total",
        help: "Polls that failed.",
        type: "counter",
        value: this.stats.pollErrors,
      },
      {
        name: "flowvis_agent_records_exported_total",
        help: "Flow records handed to the exporting process.",
        type: "counter",
        value: this.stats.recordsExported,
      },
      {
        name: "flowvis_agent_records_sent_total",
        help: "Flow records written to the collector.",
        type: "counter",
        value: ex.recordsSent,
      },
      {
        name: "flowvis_agent_export_errors_total",
        help:
          "Flow records that could not be sent: invalid, dropped from a full buffer, unsent at close, or failed writes.",
        type: "counter",
        value: this.stats.exportErrors + ex.recordsInvalid + ex.recordsDropped + ex.recordsUnsent +
          ex.recordsFailed,
      },
      {
        name: "flowvis_agent_export_queue_records",
        help: "Flow records waiting to be sent.",
        type: "gauge",
        value: ex.queued,
      },
      {
        name: "flowvis_agent_connections_refused_total",
        help: "New connections not tracked because the store was full.",
        type: "counter",
        value: this.store.stats.refused,
      },
    );
    return out;
  }
}
