/**
 * The simulator: a simulated cluster loaded into a real {@link ClusterCache}, one real
 * {@link FlowExporterAgent} per virtual node polling that node's synthetic conntrack table, all
 * exporting to one collector. In real time it runs until stopped; with a record count it runs
 * on a virtual clock as fast as the exporters can send, stops at exactly that many records,
 * flushes and reports.
 *
 * @module
 */

import { FlowExporterAgent, fnv1_32 } from "../exporter/mod.ts";
import {
  antreaFlowTemplate,
  type Clock,
  type Endpoint,
  formatHostPort,
  parseAddress,
  type TlsClientOptions,
} from "../ipfix/mod.ts";
import { ClusterCache } from "../k8s/mod.ts";
import { createLogger, type Logger } from "../log/mod.ts";
import { ClusterPolicyView } from "../policy/mod.ts";
import { BudgetedExportingProcess, RecordBudget } from "./budget.ts";
import { loadCluster, type SimCluster, simulatedCluster } from "./cluster.ts";
import { type ScenarioName, type SimFlowType, TrafficGenerator } from "./traffic.ts";

/** Options of a {@link Simulator}. */
export interface SimulatorOptions {
  /** Collector address `HOST:[PORT][:PROTO]` (protocol tls when left out). */
  collector: string | Endpoint;
  tls?: TlsClientOptions;
  /** Nodes (3), each with its own agent. */
  nodes?: number;
  /** Pods per node (10). */
  podsPerNode?: number;
  /** Seed of the cluster and its traffic; the same seed makes the same records. */
  seed?: number;
  /** Flow records per second across the cluster (1000): in simulated time with `records`. */
  rate?: number;
  /** Send exactly this many data records, as fast as possible, then stop. */
  records?: number;
  /** Stop after this long (wall clock, the warm-up included), ms. */
  durationMs?: number;
  /** The agents' flowPollInterval (5 s), activeFlowExportTimeout (60 s), idleFlowExportTimeout (15 s). */
  pollIntervalMs?: number;
  activeTimeoutMs?: number;
  idleTimeoutMs?: number;
  /**
   * With `records`: simulated time when exporting starts, ms since the epoch; by default as long
   * ago as the run is expected to simulate, so that the last records are about now.
   */
  startMs?: number;
  /** Progress log every this many ms of wall clock (10 s); 0 for none. */
  progressIntervalMs?: number;
  /** The simulator's log. */
  logger?: Logger;
  /** The agents' and their exporting processes' log (each line gets a `node` field). */
  agentLogger?: Logger;
}

/** What one virtual node's agent did. */
export interface NodeSummary {
  observationDomainId: number;
  recordsSent: number;
  /** Connections its agent classified as denied. */
  deniedConnections: number;
  polls: number;
}

/** What a run did. */
export interface SimulationSummary {
  collector: string;
  seed: number;
  cluster: { nodes: number; pods: number; services: number; networkPolicies: number };
  /** The --records target, or null. */
  recordsRequested: number | null;
  /** Data records written to the collector, across nodes. */
  recordsSent: number;
  /**
   * Records the agents exported that were not sent: dropped from a full buffer, invalid, still
   * queued at close, or lost in a failed write.
   */
  recordsUnsent: number;
  nodes: Record<string, NodeSummary>;
  connections:
    & { total: number; service: number; denied: number }
    & Record<SimFlowType, number>
    & { byScenario: Record<ScenarioName, number> };
  /** Wall-clock seconds of the warm-up (simulated traffic before exporting starts). */
  warmUpSeconds: number;
  /** Wall-clock seconds from the start of exporting to the end (the last record sent). */
  durationSeconds: number;
  /** Simulated seconds from the start of exporting to the end. */
  simulatedSeconds: number;
  /** recordsSent / durationSeconds. */
  recordsPerSecond: number;
}

/** Records queued in one exporter before the simulation waits for them to be sent. */
const HIGH_WATER = 4_096;
/** Longest run of simulation without giving the event loop a turn (sockets, signals), ms. */
const YIELD_EVERY_MS = 20;

function withNode(log: Logger, node: string): Logger {
  return {
    debug: (m, f) => log.debug(m, { node, ...f }),
    info: (m, f) => log.info(m, { node, ...f }),
    warn: (m, f) => log.warn(m, { node, ...f }),
    error: (m, f) => log.error(m, { node, ...f }),
  };
}

/**
 * A simulated cluster exporting flow records through real agents.
 *
 * @example
 * ```ts
 * const sim = new Simulator({ collector: "127.0.0.1:4739:tcp", nodes: 3, records: 10_000, seed: 1 });
 * // const summary = await sim.run(); // summary.recordsSent === 10_000
 * ```
 */
export class Simulator {
  readonly cluster: SimCluster;
  readonly cache: ClusterCache;
  readonly traffic: TrafficGenerator;
  readonly agents: readonly FlowExporterAgent[];
  readonly seed: number;
  readonly budget: RecordBudget | undefined;
  readonly #exporters: BudgetedExportingProcess[] = [];
  readonly #o: SimulatorOptions;
  readonly #log: Logger;
  readonly #realtime: boolean;
  readonly #poll: number;
  readonly #clock: Clock;
  /** Simulated time when the traffic starts: a warm-up before exporting starts. */
  readonly #t0: number;
  /** Simulated time when exporting starts. */
  #exportStart: number;
  readonly #endpoint: Endpoint;
  #now: number;
  /** Real time: the clock is the system's (after the warm-up). */
  #live = false;
  /** The loop is over (stopped, or the record count reached). */
  #stopped = false;
  /** stop() was called or the duration ran out: stop waiting for the collector too. */
  #interrupt = false;
  #wake: (() => void) | undefined;
  #ran = false;
  #wallStart = 0;
  /** When the warm-up ended and exporting started, wall clock (performance.now()). */
  #wallExport = 0;
  #wallEnd = 0;

  constructor(o: SimulatorOptions) {
    this.#o = o;
    this.#endpoint = typeof o.collector === "string"
      ? parseAddress(o.collector, "tls")
      : o.collector;
    this.seed = o.seed ?? 1;
    this.#log = o.logger ?? createLogger("simulate");
    const rate = o.rate ?? 1000;
    if (!(rate > 0) || !Number.isFinite(rate)) {
      throw new RangeError(`Invalid rate ${rate}: expected a positive number of records/s`);
    }
    if (o.records !== undefined) this.budget = new RecordBudget(o.records);
    this.#realtime = o.records === undefined;
    this.#poll = o.pollIntervalMs ?? 5000;
    if (!(this.#poll >= 1000)) {
      throw new RangeError(`Invalid poll interval ${this.#poll} ms: at least 1s`);
    }
    this.#exportStart = this.#realtime
      ? Date.now()
      : o.startMs ?? Math.floor((Date.now() - (o.records! / rate) * 1000) / 1000) * 1000;
    // Warm-up: the traffic starts one active timeout (whole polls) before exporting does, so
    // that the agents' stores hold what a running agent's would and records come at the rate
    // from the first export.
    const active = o.activeTimeoutMs ?? 60_000;
    this.#t0 = this.#exportStart - Math.ceil(active / this.#poll) * this.#poll;
    this.#now = this.#t0;
    this.#clock = () => this.#live ? Date.now() : this.#now;

    this.cluster = simulatedCluster({
      ...(o.nodes !== undefined ? { nodes: o.nodes } : {}),
      ...(o.podsPerNode !== undefined ? { podsPerNode: o.podsPerNode } : {}),
      seed: this.seed,
    });
    this.cache = new ClusterCache({ logger: o.agentLogger ?? createLogger("k8s") });
    loadCluster(this.cache, this.cluster);
    const policy = new ClusterPolicyView(this.cache, o.agentLogger);
    this.traffic = new TrafficGenerator({
      cluster: this.cluster,
      clock: this.#clock,
      startMs: this.#t0,
      seed: this.seed,
      recordsPerSecond: rate,
      pollIntervalMs: this.#poll,
      ...(o.activeTimeoutMs ? { activeTimeoutMs: o.activeTimeoutMs } : {}),
      ...(o.idleTimeoutMs ? { idleTimeoutMs: o.idleTimeoutMs } : {}),
    });
    const agents: FlowExporterAgent[] = [];
    for (const node of this.cluster.nodes) {
      const agentLog = withNode(o.agentLogger ?? createLogger("agent"), node.name);
      const exporter = new BudgetedExportingProcess({
        address: this.#endpoint,
        observationDomainId: fnv1_32(node.name),
        templates: [antreaFlowTemplate(4), antreaFlowTemplate(6)],
        ...(o.tls ? { tls: o.tls } : {}),
        // With a record count nothing may be dropped: the simulation waits for the exporter.
        ...(this.#realtime ? {} : { bufferLimit: Number.MAX_SAFE_INTEGER }),
        clock: this.#clock,
        logger: withNode(o.agentLogger ?? createLogger("ipfix-exporter"), node.name),
      }, this.budget);
      this.#exporters.push(exporter);
      agents.push(
        new FlowExporterAgent({
          nodeName: node.name,
          source: this.traffic.source(node.name),
          cluster: this.cache,
          policy,
          exporter,
          pollIntervalMs: this.#poll,
          ...(o.activeTimeoutMs ? { activeTimeoutMs: o.activeTimeoutMs } : {}),
          ...(o.idleTimeoutMs ? { idleTimeoutMs: o.idleTimeoutMs } : {}),
          clock: this.#clock,
          logger: agentLog,
        }),
      );
    }
    this.agents = agents;
  }

  /** The collector as `host:port:protocol`. */
  get collector(): string {
    const e = this.#endpoint;
    return `${formatHostPort(e.host, e.port)}:${e.protocol}`;
  }

  /** Ends the run: the loop stops at its next step, and waiting for the collector ends. */
  stop(): void {
    this.#stopped = true;
    this.#interrupt = true;
    this.#wake?.();
  }

  /**
   * Runs until stopped, until the duration is over, or until the record count is sent; then
   * flushes and closes every agent. Resolves with the summary.
   */
  async run(): Promise<SimulationSummary> {
    if (this.#ran) throw new TypeError("A simulator runs once");
    this.#ran = true;
    this.#wallStart = performance.now();
    if (this.#realtime) this.#exportStart = Math.max(this.#exportStart, Date.now());
    for (const e of this.#exporters) {
      e.paused = true;
      e.start();
    }
    const duration = this.#o.durationMs;
    const timer = duration !== undefined ? setTimeout(() => this.stop(), duration) : undefined;
    const progressEvery = this.#o.progressIntervalMs ?? 10_000;
    let nextProgress = this.#wallStart + progressEvery;
    let lastProgress = { at: this.#wallStart, sent: 0 };
    let lastYield = performance.now();
    const n = this.agents.length;
    let warm = true;
    try {
      for (let round = 1; !this.#stopped; round++) {
        for (let i = 0; i < n && !this.#stopped; i++) {
          // Agents poll at their own phase within the interval, as real nodes would.
          const at = this.#t0 + round * this.#poll + Math.floor((i * this.#poll) / n);
          if (warm && at >= this.#exportStart) {
            warm = false;
            this.#wallExport = performance.now();
            for (const e of this.#exporters) e.paused = false;
            this.#live = this.#realtime;
          }
          if (this.#live) {
            await this.#sleep(at - Date.now());
            if (this.#stopped) break;
          }
          this.#now = this.#live ? Date.now() : at;
          await this.agents[i]!.pollOnce();
          if (this.budget?.exhausted) {
            this.#stopped = true;
            break;
          }
          if (!this.#live) {
            const e = this.#exporters[i]!;
            if (e.stats.queued > HIGH_WATER) await this.#drain(e);
            if (performance.now() - lastYield > YIELD_EVERY_MS) {
              await new Promise((r) => setTimeout(r, 0));
              lastYield = performance.now();
            }
          }
        }
        const wall = performance.now();
        if (progressEvery > 0 && wall >= nextProgress) {
          const sent = this.#sent();
          this.#log.info("Progress", {
            recordsSent: sent,
            recordsPerSecond: Math.round(
              (sent - lastProgress.sent) / ((wall - lastProgress.at) / 1000),
            ),
            connections: this.traffic.stats.connections,
            tableEntries: this.traffic.stats.tableEntries,
            simulatedSeconds: this.#simulatedSeconds(),
          });
          lastProgress = { at: wall, sent };
          nextProgress = wall + progressEvery;
        }
      }
      // Everything counted must reach the collector (unless told to stop waiting).
      if (this.budget && !this.#interrupt) {
        for (const e of this.#exporters) await this.#drain(e);
      }
    } finally {
      clearTimeout(timer);
      // ExportingProcess.close() flushes only while records are queued, not while a batch taken
      // off the queue is being written: flush first (up to 5 s for the collector), then close.
      await Promise.all(this.#exporters.map(async (e) => {
        await e.flush(5_000);
        await e.close(0);
      }));
      await Promise.all(this.agents.map((a) => a.close()));
      this.#wallEnd = performance.now();
    }
    return this.summary();
  }

  /** The summary of the run so far. */
  summary(): SimulationSummary {
    const t = this.traffic.stats;
    const nodes: Record<string, NodeSummary> = {};
    let unsent = 0;
    for (const [i, a] of this.agents.entries()) {
      const e = this.#exporters[i]!;
      const ex = e.stats;
      nodes[a.nodeName] = {
        observationDomainId: a.observationDomainId,
        recordsSent: ex.recordsSent,
        deniedConnections: a.stats.deniedConnections,
        polls: a.stats.polls,
      };
      // Dropped from a full buffer, invalid, unsent at close, or lost in a failed write.
      unsent += e.accepted - ex.recordsSent - ex.queued + a.stats.exportErrors;
    }
    const end = this.#wallEnd || performance.now();
    const exportFrom = this.#wallExport || end;
    const seconds = (end - exportFrom) / 1000;
    const sent = this.#sent();
    const o = this.cluster.objects;
    return {
      collector: this.collector,
      seed: this.seed,
      cluster: {
        nodes: o.nodes.length,
        pods: o.pods.length,
        services: o.services.length,
        networkPolicies: o.networkPolicies.length,
      },
      recordsRequested: this.budget?.total ?? null,
      recordsSent: sent,
      recordsUnsent: unsent,
      nodes,
      connections: {
        total: t.connections,
        ...t.byFlowType,
        service: t.service,
        denied: t.denied,
        byScenario: { ...t.byScenario },
      },
      warmUpSeconds: Math.round(exportFrom - (this.#wallStart || exportFrom)) / 1000,
      durationSeconds: Math.round(seconds * 1000) / 1000,
      simulatedSeconds: this.#simulatedSeconds(),
      recordsPerSecond: seconds > 0 ? Math.round(sent / seconds) : 0,
    };
  }

  /** Simulated seconds since exporting started. */
  #simulatedSeconds(): number {
    return Math.max(0, Math.round((this.#now - this.#exportStart) / 1000));
  }

  #sent(): number {
    let n = 0;
    for (const e of this.#exporters) n += e.stats.recordsSent;
    return n;
  }

  /**
   * Waits until the exporter has written everything queued (flush() also waits for a batch
   * being written, which `stats.queued` no longer counts), or the run is interrupted.
   */
  async #drain(e: BudgetedExportingProcess): Promise<void> {
    while (!this.#interrupt) {
      const drained = await Promise.race([
        e.flush(1000),
        new Promise<false>((r) => (this.#wake = () => r(false))),
      ]);
      this.#wake = undefined;
      if (drained) return;
    }
  }

  #sleep(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
  }
}
