/**
 * The aggregation process: one cached record per connection (5-tuple), the two halves of an
 * inter-node flow correlated into one complete record, statistics aggregated per node, and
 * records handed out when their active or inactive timeout comes.
 *
 * Flows live in columns (typed arrays indexed by a slot number), and the Kubernetes and policy
 * fields of a half are interned, so that a cached flow costs a few hundred octets.
 *
 * @module
 */

import type { Clock, DataRecord, DecodedMessage, Value } from "../ipfix/mod.ts";
import type { FlowRow } from "../store/mod.ts";
import { SlotHeap } from "./slot_heap.ts";
import type { FlowRecordFilter } from "./types.ts";

/** Options of an {@link AggregationProcess}. */
export interface AggregationOptions {
  /** A cached flow is exported at least this often while records keep coming (60 s). */
  activeTimeoutMs?: number;
  /** A flow without records for this long is exported one last time and forgotten (90 s). */
  inactiveTimeoutMs?: number;
  /** How long the first half of an inter-node flow waits for the other one (2 min). */
  correlationTimeoutMs?: number;
  /** Most flows cached; records of new flows beyond it are exported at once, alone. */
  maxFlows?: number;
  clock?: Clock;
  /** JSON labels of a pod (recordContents.podLabels); undefined when the pod is unknown. */
  podLabels?: (namespace: string, name: string, ip: string) => string | undefined;
  /** Cluster UUID written to every row. */
  clusterUUID?: string;
}

/** Counters of an {@link AggregationProcess}. */
export interface AggregationStats {
  /** Data records received. */
  recordsReceived: number;
  /** Records without a usable 5-tuple, skipped. */
  recordsInvalid: number;
  /** Records that added nothing: duplicates, or older than what the same node sent already. */
  recordsStale: number;
  /** Flows cached now. */
  flows: number;
  /** Flows created since start. */
  flowsCreated: number;
  /** Inter-node flows whose two halves were joined. */
  correlated: number;
  /** Inter-node flows cached now whose other half has not arrived. */
  waitingForCorrelation: number;
  /** Rows exported for inter-node flows with one half only (marked `uncorrelated`). */
  uncorrelatedExported: number;
  /** Rows handed out. */
  rowsExported: number;
  /** Records of new flows exported at once because the cache was full. */
  overflowExported: number;
}

/** Antrea's rule actions. */
const ACTION_DROP = 2;
const ACTION_REJECT = 3;
/** flowType of an inter-node flow. */
const INTER_NODE = 2;
/** flowEndReason "end of flow detected". RFC 5102 §5.11.3 */
const END_OF_FLOW = 3;

// Flags of a slot.
const F_V6 = 1;
/** Inter-node flow whose halves must be joined. */
const F_CORRELATE = 2;
const F_HAVE_SRC = 4;
const F_HAVE_DST = 8;
/** Both halves seen (or none needed). */
const F_READY = 16;

// Per-node counter block: 4 totals then 4 deltas, for the source node then the destination node.
const CNT = 16;
// Times in seconds per slot.
const T_START = 0;
const T_END = 1;
const T_END_SRC = 2;
const T_END_DST = 3;
const T_PREV_SRC = 4;
const T_PREV_DST = 5;
const TIMES = 6;
// Milliseconds per slot.
const M_ACTIVE = 0;
const M_UPDATE = 1;
const M_FIRST = 2;
const MS = 3;

/** The Kubernetes, Service and policy fields of a flow; interned, shared by many flows. */
interface Meta {
  readonly sourcePodName: string;
  readonly sourcePodNamespace: string;
  readonly sourceNodeName: string;
  readonly destinationPodName: string;
  readonly destinationPodNamespace: string;
  readonly destinationNodeName: string;
  readonly destinationClusterIP: string;
  readonly destinationServicePort: number;
  readonly destinationServicePortName: string;
  readonly ingressNetworkPolicyName: string;
  readonly ingressNetworkPolicyNamespace: string;
  readonly ingressNetworkPolicyRuleName: string;
  readonly ingressNetworkPolicyRuleAction: number;
  readonly ingressNetworkPolicyType: number;
  readonly egressNetworkPolicyName: string;
  readonly egressNetworkPolicyNamespace: string;
  readonly egressNetworkPolicyRuleName: string;
  readonly egressNetworkPolicyRuleAction: number;
  readonly egressNetworkPolicyType: number;
}

type MetaKey = keyof Meta;

/** Meta fields in a fixed order; strings are "" and numbers 0 when unknown. */
const META_STRINGS: readonly MetaKey[] = [
  "sourcePodName",
  "sourcePodNamespace",
  "sourceNodeName",
  "destinationPodName",
  "destinationPodNamespace",
  "destinationNodeName",
  "destinationClusterIP",
  "destinationServicePortName",
  "ingressNetworkPolicyName",
  "ingressNetworkPolicyNamespace",
  "ingressNetworkPolicyRuleName",
  "egressNetworkPolicyName",
  "egressNetworkPolicyNamespace",
  "egressNetworkPolicyRuleName",
];
const META_NUMBERS: readonly MetaKey[] = [
  "destinationServicePort",
  "ingressNetworkPolicyRuleAction",
  "ingressNetworkPolicyType",
  "egressNetworkPolicyRuleAction",
  "egressNetworkPolicyType",
];

function num(v: Value | undefined): number {
  return typeof v === "number" ? v : typeof v === "bigint" ? Number(v) : 0;
}

function str(v: Value | undefined): string {
  return typeof v === "string" ? v : "";
}

/**
 * Cached flows, correlated and aggregated.
 *
 * @example
 * ```ts
 * const agg = new AggregationProcess({ activeTimeoutMs: 60_000 });
 * agg.add({
 *   sourceIPv4Address: "10.0.1.2", destinationIPv4Address: "10.0.2.3",
 *   sourceTransportPort: 40000, destinationTransportPort: 80, protocolIdentifier: 6,
 *   flowStartSeconds: 1000, flowEndSeconds: 1005, flowType: 1,
 *   packetTotalCount: 10, octetTotalCount: 1500, packetDeltaCount: 10, octetDeltaCount: 1500,
 * }, 0);
 * agg.expire(60_000).length; // 1
 * ```
 */
export class AggregationProcess {
  readonly #active: number;
  readonly #inactive: number;
  readonly #wait: number;
  readonly #maxFlows: number;
  readonly #clock: Clock;
  readonly #podLabels: AggregationOptions["podLabels"];
  readonly #clusterUUID: string;

  readonly #index = new Map<string, number>();
  readonly #metas = new Map<string, Meta>();
  readonly #heap = new SlotHeap();
  #capacity = 0;
  #keys: (string | undefined)[] = [];
  #meta: Meta[] = [];
  #tcpState: string[] = [];
  #sport = new Uint16Array(0);
  #dport = new Uint16Array(0);
  #proto = new Uint8Array(0);
  #flowType = new Uint8Array(0);
  #reason = new Uint8Array(0);
  #flags = new Uint8Array(0);
  #times = new Uint32Array(0);
  #cnt = new Float64Array(0);
  #ms = new Float64Array(0);
  #free: number[] = [];
  #top = 0;
  #pending: FlowRow[] = [];

  readonly #stats: AggregationStats = {
    recordsReceived: 0,
    recordsInvalid: 0,
    recordsStale: 0,
    flows: 0,
    flowsCreated: 0,
    correlated: 0,
    waitingForCorrelation: 0,
    uncorrelatedExported: 0,
    rowsExported: 0,
    overflowExported: 0,
  };

  constructor(options: AggregationOptions = {}) {
    this.#active = options.activeTimeoutMs ?? 60_000;
    this.#inactive = options.inactiveTimeoutMs ?? 90_000;
    this.#wait = options.correlationTimeoutMs ?? 120_000;
    this.#maxFlows = options.maxFlows ?? 2_000_000;
    for (
      const [name, v] of [
        ["activeTimeoutMs", this.#active],
        ["inactiveTimeoutMs", this.#inactive],
        [
          "correlationTimeoutMs",
          this.#wait,
        ],
        ["maxFlows", this.#maxFlows],
      ] as const
    ) {
      if (!(v > 0)) throw new RangeError(`Cannot aggregate: ${name} must be positive, got ${v}`);
    }
    this.#clock = options.clock ?? Date.now;
    this.#podLabels = options.podLabels;
    this.#clusterUUID = options.clusterUUID ?? "";
    this.#grow(1024);
  }

  /** Counters; `flows` and `waitingForCorrelation` are current values. */
  stats(): AggregationStats {
    this.#stats.flows = this.#index.size;
    return { ...this.#stats };
  }

  /** Number of flows cached. */
  get size(): number {
    return this.#index.size;
  }

  /** The earliest time (clock milliseconds) at which {@link expire} may hand out a row. */
  nextDeadline(): number {
    return this.#pending.length > 0 ? 0 : this.#heap.peekDeadline();
  }

  /** Adds every data record of a decoded message. */
  addMessage(message: DecodedMessage, now: number = this.#clock()): void {
    for (const set of message.dataSets) {
      for (const record of set.records) this.add(record, now);
    }
  }

  /** Adds one flow record from an agent. Returns false when it was skipped as invalid. */
  add(r: DataRecord, now: number = this.#clock()): boolean {
    this.#stats.recordsReceived++;
    let v6 = false;
    let src = r.sourceIPv4Address;
    let dst = r.destinationIPv4Address;
    if (src === undefined) {
      src = r.sourceIPv6Address;
      dst = r.destinationIPv6Address;
      v6 = true;
    }
    const sport = r.sourceTransportPort;
    const dport = r.destinationTransportPort;
    const proto = r.protocolIdentifier;
    if (
      typeof src !== "string" || typeof dst !== "string" || typeof sport !== "number" ||
      typeof dport !== "number" || typeof proto !== "number"
    ) {
      this.#stats.recordsInvalid++;
      return false;
    }
    const key = `${src}|${dst}|${sport}|${dport}|${proto}`;
    const flowType = num(r.flowType);
    const srcPod = str(r.sourcePodName);
    const dstPod = str(r.destinationPodName);
    const egressAction = num(r.egressNetworkPolicyRuleAction);
    const ingressAction = num(r.ingressNetworkPolicyRuleAction);
    // Inter-node flows need both halves, unless the source node dropped them or the destination
    // node rejected them: then the other half never comes.
    const correlate = flowType === INTER_NODE && egressAction !== ACTION_DROP &&
      egressAction !== ACTION_REJECT && ingressAction !== ACTION_REJECT &&
      (srcPod === "") !== (dstPod === "");
    const fromDst = correlate && srcPod === "";

    let s = this.#index.get(key);
    if (s === undefined) {
      if (this.#index.size >= this.#maxFlows) {
        this.#stats.overflowExported++;
        this.#pending.push(this.#oneShotRow(r, src, dst, sport, dport, proto, correlate));
        return true;
      }
      s = this.#create(key, r, now, v6, sport, dport, proto, flowType, correlate);
      this.#counters(s, fromDst ? 1 : 0, r);
      return true;
    }

    const flags = this.#flags[s]!;
    const endOfFlowSeen = this.#reason[s] === END_OF_FLOW;
    const start = num(r.flowStartSeconds);
    const times = this.#times;
    const tb = s * TIMES;
    if (endOfFlowSeen && start > times[tb + T_START]!) {
      // The 5-tuple was reused by a new connection after the old one ended: start over.
      this.#resetCounters(s);
      times[tb + T_START] = start;
      this.#reason[s] = 0;
    }
    if (correlate && (flags & F_READY) === 0) {
      const have = fromDst ? F_HAVE_DST : F_HAVE_SRC;
      if ((flags & have) === 0) {
        this.#meta[s] = this.#merge(this.#meta[s]!, r);
        this.#flags[s] = flags | F_READY;
        this.#stats.correlated++;
        this.#stats.waitingForCorrelation--;
      }
    }
    const end = num(r.flowEndSeconds);
    const latest = end > times[tb + T_END]!;
    if (latest) {
      times[tb + T_END] = end;
      this.#tcpState[s] = str(r.tcpState);
    }
    if (start > 0 && start < times[tb + T_START]!) times[tb + T_START] = start;
    const reason = num(r.flowEndReason);
    if (this.#reason[s] !== END_OF_FLOW && (latest || reason === END_OF_FLOW)) {
      this.#reason[s] = reason;
    }
    const node = (flags & F_CORRELATE) !== 0 && fromDst ? 1 : 0;
    if (!this.#counters(s, node, r) && !latest) this.#stats.recordsStale++;
    this.#ms[s * MS + M_UPDATE] = now;
    return true;
  }

  /**
   * Rows of every flow whose time has come at `now` (at most `max`): active flows are exported
   * and kept, inactive ones exported and forgotten; delta counters restart after each export.
   */
  expire(now: number = this.#clock(), max = Infinity): FlowRow[] {
    const rows = this.#pending.length > 0 ? this.#pending.splice(0, max) : [];
    const heap = this.#heap;
    const ms = this.#ms;
    while (rows.length < max && heap.peekDeadline() <= now) {
      const s = heap.pop();
      const mb = s * MS;
      const flags = this.#flags[s]!;
      const inactiveAt = ms[mb + M_UPDATE]! + this.#inactive;
      let activeAt = ms[mb + M_ACTIVE]!;
      const waiting = (flags & (F_CORRELATE | F_READY)) === F_CORRELATE;
      if (waiting) activeAt = Math.max(activeAt, ms[mb + M_FIRST]! + this.#wait);
      const due = Math.min(activeAt, inactiveAt);
      if (due > now) {
        heap.push(due, s);
        continue;
      }
      rows.push(this.#row(s, true));
      if (waiting) this.#stats.uncorrelatedExported++;
      if (inactiveAt <= now) {
        this.#release(s);
      } else {
        ms[mb + M_ACTIVE] = now + this.#active;
        heap.push(Math.min(now + this.#active, inactiveAt), s);
      }
    }
    this.#stats.rowsExported += rows.length;
    return rows;
  }

  /** Exports every cached flow and forgets it (shutdown). */
  drain(): FlowRow[] {
    const rows = this.#pending.splice(0);
    for (let s = 0; s < this.#top; s++) {
      if (this.#keys[s] === undefined) continue;
      if ((this.#flags[s]! & (F_CORRELATE | F_READY)) === F_CORRELATE) {
        this.#stats.uncorrelatedExported++;
      }
      rows.push(this.#row(s, true));
      this.#release(s);
    }
    while (this.#heap.size > 0) this.#heap.pop();
    this.#stats.rowsExported += rows.length;
    return rows;
  }

  /** The cached flows that match `filter` as they would be exported now (at most `limit`). */
  flowRecords(filter: FlowRecordFilter = {}, limit = 10_000): FlowRow[] {
    const out: FlowRow[] = [];
    const { srcip, dstip, proto, srcport, dstport } = filter;
    for (let s = 0; s < this.#top && out.length < limit; s++) {
      const key = this.#keys[s];
      if (key === undefined) continue;
      if (proto !== undefined && this.#proto[s] !== proto) continue;
      if (srcport !== undefined && this.#sport[s] !== srcport) continue;
      if (dstport !== undefined && this.#dport[s] !== dstport) continue;
      if (srcip !== undefined || dstip !== undefined) {
        const i = key.indexOf("|");
        if (srcip !== undefined && key.slice(0, i) !== srcip) continue;
        if (dstip !== undefined && key.slice(i + 1, key.indexOf("|", i + 1)) !== dstip) continue;
      }
      out.push(this.#row(s, false));
    }
    return out;
  }

  /** Octets held by the flow columns, the heap and the free list (not the index or strings). */
  columnBytes(): number {
    return this.#capacity * (3 * 8 + 2 + 2 + 4) + this.#times.byteLength + this.#cnt.byteLength +
      this.#ms.byteLength + this.#heap.byteLength + this.#free.length * 8;
  }

  #create(
    key: string,
    r: DataRecord,
    now: number,
    v6: boolean,
    sport: number,
    dport: number,
    proto: number,
    flowType: number,
    correlate: boolean,
  ): number {
    let s = this.#free.pop();
    if (s === undefined) {
      if (this.#top === this.#capacity) this.#grow(this.#capacity * 2);
      s = this.#top++;
    }
    this.#index.set(key, s);
    this.#keys[s] = key;
    this.#meta[s] = this.#intern(r);
    this.#tcpState[s] = str(r.tcpState);
    this.#sport[s] = sport;
    this.#dport[s] = dport;
    this.#proto[s] = proto;
    this.#flowType[s] = flowType;
    this.#reason[s] = num(r.flowEndReason);
    this.#flags[s] = (v6 ? F_V6 : 0) | (correlate ? F_CORRELATE : F_READY);
    const tb = s * TIMES;
    const start = num(r.flowStartSeconds);
    const times = this.#times;
    times[tb + T_START] = start;
    times[tb + T_END] = num(r.flowEndSeconds);
    times[tb + T_END_SRC] = 0;
    times[tb + T_END_DST] = 0;
    times[tb + T_PREV_SRC] = start;
    times[tb + T_PREV_DST] = start;
    this.#cnt.fill(0, s * CNT, s * CNT + CNT);
    const mb = s * MS;
    this.#ms[mb + M_ACTIVE] = now + this.#active;
    this.#ms[mb + M_UPDATE] = now;
    this.#ms[mb + M_FIRST] = now;
    this.#heap.push(now + Math.min(this.#active, this.#inactive), s);
    this.#stats.flowsCreated++;
    if (correlate) this.#stats.waitingForCorrelation++;
    return s;
  }

  #release(s: number): void {
    const key = this.#keys[s]!;
    if ((this.#flags[s]! & (F_CORRELATE | F_READY)) === F_CORRELATE) {
      this.#stats.waitingForCorrelation--;
    }
    this.#index.delete(key);
    this.#keys[s] = undefined;
    this.#free.push(s);
  }

  /**
   * Adds a record's counters to one node's block (0 source, 1 destination). Totals only grow:
   * what a node's new total adds over its last one is added to the deltas, so duplicates and
   * late records add nothing. Returns whether anything grew.
   */
  #counters(s: number, node: number, r: DataRecord): boolean {
    const c = this.#cnt;
    const b = s * CNT + node * 8;
    const have = node === 0 ? F_HAVE_SRC : F_HAVE_DST;
    const flags = this.#flags[s]!;
    const tb = s * TIMES;
    const end = num(r.flowEndSeconds);
    const endIdx = tb + (node === 0 ? T_END_SRC : T_END_DST);
    const pt = num(r.packetTotalCount);
    const ot = num(r.octetTotalCount);
    const rpt = num(r.reversePacketTotalCount);
    const rot = num(r.reverseOctetTotalCount);
    if ((flags & have) === 0) {
      this.#flags[s] = flags | have;
      c[b] = pt;
      c[b + 1] = ot;
      c[b + 2] = rpt;
      c[b + 3] = rot;
      c[b + 4]! += num(r.packetDeltaCount);
      c[b + 5]! += num(r.octetDeltaCount);
      c[b + 6]! += num(r.reversePacketDeltaCount);
      c[b + 7]! += num(r.reverseOctetDeltaCount);
      this.#times[endIdx] = end;
      const start = num(r.flowStartSeconds);
      if (start > 0) this.#times[tb + (node === 0 ? T_PREV_SRC : T_PREV_DST)] = start;
      return true;
    }
    let grew = false;
    let d = pt - c[b]!;
    if (d > 0) {
      c[b + 4]! += d;
      c[b] = pt;
      grew = true;
    }
    d = ot - c[b + 1]!;
    if (d > 0) {
      c[b + 5]! += d;
      c[b + 1] = ot;
      grew = true;
    }
    d = rpt - c[b + 2]!;
    if (d > 0) {
      c[b + 6]! += d;
      c[b + 2] = rpt;
      grew = true;
    }
    d = rot - c[b + 3]!;
    if (d > 0) {
      c[b + 7]! += d;
      c[b + 3] = rot;
      grew = true;
    }
    if (end > this.#times[endIdx]!) {
      this.#times[endIdx] = end;
      grew = true;
    }
    return grew;
  }

  #resetCounters(s: number): void {
    this.#cnt.fill(0, s * CNT, s * CNT + CNT);
    this.#flags[s] = this.#flags[s]! & ~(F_HAVE_SRC | F_HAVE_DST);
  }

  #row(s: number, reset: boolean): FlowRow {
    const key = this.#keys[s]!;
    const i = key.indexOf("|");
    const j = key.indexOf("|", i + 1);
    const sourceIP = key.slice(0, i);
    const destinationIP = key.slice(i + 1, j);
    const m = this.#meta[s]!;
    const flags = this.#flags[s]!;
    const c = this.#cnt;
    const b = s * CNT;
    const t = this.#times;
    const tb = s * TIMES;
    const correlate = (flags & F_CORRELATE) !== 0;
    // Without correlation one record stands for both nodes (as Antrea fills both node blocks).
    const d = correlate ? b + 8 : b;
    const endSrc = t[tb + T_END_SRC]!;
    const endDst = correlate ? t[tb + T_END_DST]! : endSrc;
    const prevDst = correlate ? t[tb + T_PREV_DST]! : t[tb + T_PREV_SRC]!;
    const haveSrc = (flags & F_HAVE_SRC) !== 0;
    const haveDst = correlate ? (flags & F_HAVE_DST) !== 0 : haveSrc;
    const tpSrc = haveSrc ? rate(c[b + 5]!, endSrc, t[tb + T_PREV_SRC]!) : 0;
    const rtpSrc = haveSrc ? rate(c[b + 7]!, endSrc, t[tb + T_PREV_SRC]!) : 0;
    const tpDst = haveDst ? rate(c[d + 5]!, endDst, prevDst) : 0;
    const rtpDst = haveDst ? rate(c[d + 7]!, endDst, prevDst) : 0;
    // The common counters are one node's view of the connection: the source node's when it
    // reported, else the destination node's (summing both would count every packet twice).
    const o = haveSrc ? b : d;
    const labels = this.#podLabels;
    const row: FlowRow = {
      flowStartSeconds: t[tb + T_START]!,
      flowEndSeconds: t[tb + T_END]!,
      flowEndSecondsFromSourceNode: haveSrc ? endSrc : 0,
      flowEndSecondsFromDestinationNode: haveDst ? endDst : 0,
      flowEndReason: this.#reason[s]!,
      sourceIP,
      destinationIP,
      sourceTransportPort: this.#sport[s]!,
      destinationTransportPort: this.#dport[s]!,
      protocolIdentifier: this.#proto[s]!,
      packetTotalCount: c[o]!,
      octetTotalCount: c[o + 1]!,
      packetDeltaCount: c[o + 4]!,
      octetDeltaCount: c[o + 5]!,
      reversePacketTotalCount: c[o + 2]!,
      reverseOctetTotalCount: c[o + 3]!,
      reversePacketDeltaCount: c[o + 6]!,
      reverseOctetDeltaCount: c[o + 7]!,
      sourcePodName: m.sourcePodName,
      sourcePodNamespace: m.sourcePodNamespace,
      sourceNodeName: m.sourceNodeName,
      destinationPodName: m.destinationPodName,
      destinationPodNamespace: m.destinationPodNamespace,
      destinationNodeName: m.destinationNodeName,
      destinationClusterIP: m.destinationClusterIP,
      destinationServicePort: m.destinationServicePort,
      destinationServicePortName: m.destinationServicePortName,
      ingressNetworkPolicyName: m.ingressNetworkPolicyName,
      ingressNetworkPolicyNamespace: m.ingressNetworkPolicyNamespace,
      ingressNetworkPolicyRuleName: m.ingressNetworkPolicyRuleName,
      ingressNetworkPolicyRuleAction: m.ingressNetworkPolicyRuleAction,
      ingressNetworkPolicyType: m.ingressNetworkPolicyType,
      egressNetworkPolicyName: m.egressNetworkPolicyName,
      egressNetworkPolicyNamespace: m.egressNetworkPolicyNamespace,
      egressNetworkPolicyRuleName: m.egressNetworkPolicyRuleName,
      egressNetworkPolicyRuleAction: m.egressNetworkPolicyRuleAction,
      egressNetworkPolicyType: m.egressNetworkPolicyType,
      tcpState: this.#tcpState[s]!,
      flowType: this.#flowType[s]!,
      sourcePodLabels: labels && m.sourcePodName !== ""
        ? labels(m.sourcePodNamespace, m.sourcePodName, sourceIP) ?? "{}"
        : "",
      destinationPodLabels: labels && m.destinationPodName !== ""
        ? labels(m.destinationPodNamespace, m.destinationPodName, destinationIP) ?? "{}"
        : "",
      throughput: haveSrc ? tpSrc : tpDst,
      reverseThroughput: haveSrc ? rtpSrc : rtpDst,
      throughputFromSourceNode: tpSrc,
      throughputFromDestinationNode: tpDst,
      reverseThroughputFromSourceNode: rtpSrc,
      reverseThroughputFromDestinationNode: rtpDst,
      clusterUUID: this.#clusterUUID,
      egressName: "",
      egressIP: "",
      uncorrelated: correlate && (flags & F_READY) === 0 ? 1 : 0,
      ...NO_NODE_COUNTERS,
    };
    fillNodeCounters(row, c, b, d, haveSrc, haveDst);
    if (reset) {
      for (let k = 4; k < 8; k++) {
        c[b + k] = 0;
        c[b + 8 + k] = 0;
      }
      if (endSrc > 0) t[tb + T_PREV_SRC] = endSrc;
      if (correlate && endDst > 0) t[tb + T_PREV_DST] = endDst;
    }
    return row;
  }

  /** A row of a single record, for a flow that could not be cached. */
  #oneShotRow(
    r: DataRecord,
    sourceIP: string,
    destinationIP: string,
    sport: number,
    dport: number,
    proto: number,
    correlate: boolean,
  ): FlowRow {
    const m = this.#intern(r);
    const start = num(r.flowStartSeconds);
    const end = num(r.flowEndSeconds);
    const fromDst = correlate && str(r.sourcePodName) === "";
    const oct = num(r.octetDeltaCount);
    const roct = num(r.reverseOctetDeltaCount);
    const tp = rate(oct, end, start);
    const rtp = rate(roct, end, start);
    const labels = this.#podLabels;
    const row: FlowRow = {
      flowStartSeconds: start,
      flowEndSeconds: end,
      flowEndSecondsFromSourceNode: fromDst ? 0 : end,
      flowEndSecondsFromDestinationNode: correlate && !fromDst ? 0 : end,
      flowEndReason: num(r.flowEndReason),
      sourceIP,
      destinationIP,
      sourceTransportPort: sport,
      destinationTransportPort: dport,
      protocolIdentifier: proto,
      packetTotalCount: num(r.packetTotalCount),
      octetTotalCount: num(r.octetTotalCount),
      packetDeltaCount: num(r.packetDeltaCount),
      octetDeltaCount: oct,
      reversePacketTotalCount: num(r.reversePacketTotalCount),
      reverseOctetTotalCount: num(r.reverseOctetTotalCount),
      reversePacketDeltaCount: num(r.reversePacketDeltaCount),
      reverseOctetDeltaCount: roct,
      ...m,
      tcpState: str(r.tcpState),
      flowType: num(r.flowType),
      sourcePodLabels: labels && m.sourcePodName !== ""
        ? labels(m.sourcePodNamespace, m.sourcePodName, sourceIP) ?? "{}"
        : "",
      destinationPodLabels: labels && m.destinationPodName !== ""
        ? labels(m.destinationPodNamespace, m.destinationPodName, destinationIP) ?? "{}"
        : "",
      throughput: tp,
      reverseThroughput: rtp,
      throughputFromSourceNode: fromDst ? 0 : tp,
      throughputFromDestinationNode: correlate && !fromDst ? 0 : tp,
      reverseThroughputFromSourceNode: fromDst ? 0 : rtp,
      reverseThroughputFromDestinationNode: correlate && !fromDst ? 0 : rtp,
      clusterUUID: this.#clusterUUID,
      egressName: "",
      egressIP: "",
      uncorrelated: correlate ? 1 : 0,
      ...NO_NODE_COUNTERS,
    };
    const cnt = new Float64Array(16);
    const b = fromDst ? 8 : 0;
    cnt[b] = num(r.packetTotalCount);
    cnt[b + 1] = num(r.octetTotalCount);
    cnt[b + 2] = num(r.reversePacketTotalCount);
    cnt[b + 3] = num(r.reverseOctetTotalCount);
    cnt[b + 4] = num(r.packetDeltaCount);
    cnt[b + 5] = oct;
    cnt[b + 6] = num(r.reversePacketDeltaCount);
    cnt[b + 7] = roct;
    fillNodeCounters(row, cnt, 0, correlate ? 8 : 0, !fromDst, !correlate || fromDst);
    return row;
  }

  /** The interned meta of a record's fields. */
  #intern(r: DataRecord): Meta {
    const clusterIP = str(r.destinationClusterIPv4 ?? r.destinationClusterIPv6);
    const values: Record<string, string | number> = {};
    let key = "";
    for (const name of META_STRINGS) {
      const v = name === "destinationClusterIP"
        ? (clusterIP === "0.0.0.0" || clusterIP === "::" ? "" : clusterIP)
        : str(r[name]);
      values[name] = v;
      key += v + "\u0000";
    }
    for (const name of META_NUMBERS) {
      const v = num(r[name]);
      values[name] = v;
      key += v + "\u0000";
    }
    return this.#internValues(key, values);
  }

  /** `base` with every non-empty field of `r` filled in (the other half's knowledge). */
  #merge(base: Meta, r: DataRecord): Meta {
    const other = this.#intern(r);
    const values: Record<string, string | number> = {};
    let key = "";
    for (const name of META_STRINGS) {
      const v = other[name] !== "" ? other[name] : base[name];
      values[name] = v;
      key += v + "\u0000";
    }
    for (const name of META_NUMBERS) {
      const v = other[name] !== 0 ? other[name] : base[name];
      values[name] = v;
      key += v + "\u0000";
    }
    return this.#internValues(key, values);
  }

  #internValues(key: string, values: Record<string, string | number>): Meta {
    let meta = this.#metas.get(key);
    if (meta === undefined) {
      meta = Object.freeze(values) as unknown as Meta;
      this.#metas.set(key, meta);
    }
    return meta;
  }

  #grow(capacity: number): void {
    const grow = <T extends Uint8Array | Uint16Array | Uint32Array | Float64Array>(
      old: T,
      make: (n: number) => T,
      per: number,
    ): T => {
      const next = make(capacity * per);
      next.set(old);
      return next;
    };
    this.#sport = grow(this.#sport, (n) => new Uint16Array(n), 1);
    this.#dport = grow(this.#dport, (n) => new Uint16Array(n), 1);
    this.#proto = grow(this.#proto, (n) => new Uint8Array(n), 1);
    this.#flowType = grow(this.#flowType, (n) => new Uint8Array(n), 1);
    this.#reason = grow(this.#reason, (n) => new Uint8Array(n), 1);
    this.#flags = grow(this.#flags, (n) => new Uint8Array(n), 1);
    this.#times = grow(this.#times, (n) => new Uint32Array(n), TIMES);
    this.#cnt = grow(this.#cnt, (n) => new Float64Array(n), CNT);
    this.#ms = grow(this.#ms, (n) => new Float64Array(n), MS);
    this.#capacity = capacity;
  }
}

/** The per-node counter fields (Antrea IEs 120–135), all 0. */
const NO_NODE_COUNTERS = {
  packetTotalCountFromSourceNode: 0,
  octetTotalCountFromSourceNode: 0,
  packetDeltaCountFromSourceNode: 0,
  octetDeltaCountFromSourceNode: 0,
  reversePacketTotalCountFromSourceNode: 0,
  reverseOctetTotalCountFromSourceNode: 0,
  reversePacketDeltaCountFromSourceNode: 0,
  reverseOctetDeltaCountFromSourceNode: 0,
  packetTotalCountFromDestinationNode: 0,
  octetTotalCountFromDestinationNode: 0,
  packetDeltaCountFromDestinationNode: 0,
  octetDeltaCountFromDestinationNode: 0,
  reversePacketTotalCountFromDestinationNode: 0,
  reverseOctetTotalCountFromDestinationNode: 0,
  reversePacketDeltaCountFromDestinationNode: 0,
  reverseOctetDeltaCountFromDestinationNode: 0,
} as const;

/** Copies the counter blocks at `src` and `dst` (4 totals, 4 deltas each) into `row`. */
function fillNodeCounters(
  row: FlowRow,
  c: Float64Array,
  src: number,
  dst: number,
  haveSrc: boolean,
  haveDst: boolean,
): void {
  if (haveSrc) {
    row.packetTotalCountFromSourceNode = c[src]!;
    row.octetTotalCountFromSourceNode = c[src + 1]!;
    row.reversePacketTotalCountFromSourceNode = c[src + 2]!;
    row.reverseOctetTotalCountFromSourceNode = c[src + 3]!;
    row.packetDeltaCountFromSourceNode = c[src + 4]!;
    row.octetDeltaCountFromSourceNode = c[src + 5]!;
    row.reversePacketDeltaCountFromSourceNode = c[src + 6]!;
    row.reverseOctetDeltaCountFromSourceNode = c[src + 7]!;
  }
  if (haveDst) {
    row.packetTotalCountFromDestinationNode = c[dst]!;
    row.octetTotalCountFromDestinationNode = c[dst + 1]!;
    row.reversePacketTotalCountFromDestinationNode = c[dst + 2]!;
    row.reverseOctetTotalCountFromDestinationNode = c[dst + 3]!;
    row.packetDeltaCountFromDestinationNode = c[dst + 4]!;
    row.octetDeltaCountFromDestinationNode = c[dst + 5]!;
    row.reversePacketDeltaCountFromDestinationNode = c[dst + 6]!;
    row.reverseOctetDeltaCountFromDestinationNode = c[dst + 7]!;
  }
}

/** Bits per second of `octets` sent between two flow end times (seconds). */
function rate(octets: number, end: number, previousEnd: number): number {
  if (octets <= 0) return 0;
  return Math.floor((octets * 8) / Math.max(1, end - previousEnd));
}
