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
  /**
   * Interned Kubernetes/policy field sets kept before those no flow uses are forgotten (100 000;
   * then 4x the number in use).
   */
  internLimit?: number;
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
  /** Interned Kubernetes/policy field sets dropped because no cached flow used them. */
  metasForgotten: number;
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
/** A record arrived since the last export. */
const F_DIRTY = 32;
/** The source (destination) node reported the connection's end. */
const F_EOF_SRC = 64;
const F_EOF_DST = 128;

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

function num(v: Value | undefined): number {
  return typeof v === "number" ? v : typeof v === "bigint" ? Number(v) : 0;
}

/** `v` when it is a non-empty string, else `fallback`. */
function orStr(v: Value | undefined, fallback: string): string {
  return typeof v === "string" && v !== "" ? v : fallback;
}

/** `v` when it is a non-zero number, else `fallback`. */
function orNum(v: Value | undefined, fallback: number): number {
  const n = num(v);
  return n !== 0 ? n : fallback;
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

  /** Open-addressing index: slot + 1 per cell, 0 for empty; linear probing. */
  #table = new Int32Array(0);
  #size = 0;
  /** Interned metas by source pod, destination pod and cluster IP. */
  readonly #metas = new Map<string, Map<string, Map<string, Meta[]>>>();
  #metaCount = 0;
  #metaLimit: number;
  readonly #metaMin: number;
  readonly #heap = new SlotHeap();
  #capacity = 0;
  /** Source address per slot; undefined for a free slot. */
  #src: (string | undefined)[] = [];
  #dst: string[] = [];
  #hash = new Int32Array(0);
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
    metasForgotten: 0,
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
    this.#metaMin = this.#metaLimit = options.internLimit ?? 100_000;
    this.#grow(1024);
  }

  /** Counters; `flows` and `waitingForCorrelation` are current values. */
  stats(): AggregationStats {
    this.#stats.flows = this.#size;
    return { ...this.#stats };
  }

  /** Number of flows cached. */
  get size(): number {
    return this.#size;
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
    const hash = flowHash(src, dst, sport, dport, proto);
    const flowType = num(r.flowType);
    const srcPod = str(r.sourcePodName);
    const dstPod = str(r.destinationPodName);
    const egressAction = num(r.egressNetworkPolicyRuleAction);
    const ingressAction = num(r.ingressNetworkPolicyRuleAction);
    // Inter-node flows need both halves, unless a policy denied them: the record of a denied
    // connection carries the verdict, and the other node never sees the connection.
    const correlate = flowType === INTER_NODE && egressAction !== ACTION_DROP &&
      egressAction !== ACTION_REJECT && ingressAction !== ACTION_DROP &&
      ingressAction !== ACTION_REJECT && (srcPod === "") !== (dstPod === "");
    const fromDst = correlate && srcPod === "";

    let s = this.#find(hash, src, dst, sport, dport, proto);
    if (s < 0) {
      if (this.#size >= this.#maxFlows) {
        // A slot for this record alone: its row now, then the slot is free again.
        this.#stats.overflowExported++;
        const t = this.#create(
          hash,
          src,
          dst,
          r,
          now,
          v6,
          sport,
          dport,
          proto,
          flowType,
          correlate,
          false,
        );
        this.#counters(t, fromDst ? 1 : 0, r);
        this.#pending.push(this.#row(t, true));
        this.#release(t, false);
        return true;
      }
      s = this.#create(hash, src, dst, r, now, v6, sport, dport, proto, flowType, correlate);
      this.#counters(s, fromDst ? 1 : 0, r);
      if (num(r.flowEndReason) === END_OF_FLOW) this.#flags[s]! |= fromDst ? F_EOF_DST : F_EOF_SRC;
      return true;
    }

    let flags = this.#flags[s]!;
    const node = (flags & F_CORRELATE) !== 0 && fromDst ? 1 : 0;
    const eofBit = node === 0 ? F_EOF_SRC : F_EOF_DST;
    const start = num(r.flowStartSeconds);
    const times = this.#times;
    const tb = s * TIMES;
    if ((flags & eofBit) !== 0 && start > times[tb + T_START]!) {
      // This node ended the connection and now reports a later one on the same 5-tuple: the
      // 5-tuple was reused. What the old connection has not exported yet goes out first.
      if ((flags & F_DIRTY) !== 0) this.#pending.push(this.#row(s, true));
      this.#resetCounters(s);
      times[tb + T_START] = start;
      times[tb + T_PREV_SRC] = start;
      times[tb + T_PREV_DST] = start;
      this.#reason[s] = 0;
      flags = this.#flags[s]! & ~(F_EOF_SRC | F_EOF_DST);
      if ((flags & (F_CORRELATE | F_READY)) === (F_CORRELATE | F_READY)) {
        // The new connection's halves are joined anew.
        flags &= ~F_READY;
        this.#stats.waitingForCorrelation++;
        this.#ms[s * MS + M_FIRST] = now;
      }
      this.#flags[s] = flags;
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
    const grew = this.#counters(s, node, r);
    const reason = num(r.flowEndReason);
    const end = num(r.flowEndSeconds);
    // The latest record: a later end, or the same second with more traffic or the flow's end.
    const latest = end > times[tb + T_END]! ||
      (end === times[tb + T_END]! && (grew || reason === END_OF_FLOW));
    if (latest) {
      times[tb + T_END] = end;
      this.#tcpState[s] = str(r.tcpState);
    }
    if (start > 0 && start < times[tb + T_START]!) times[tb + T_START] = start;
    if (this.#reason[s] !== END_OF_FLOW && (latest || reason === END_OF_FLOW)) {
      this.#reason[s] = reason;
    }
    if (reason === END_OF_FLOW) this.#flags[s]! |= eofBit;
    this.#flags[s]! |= F_DIRTY;
    if (!grew && !latest) this.#stats.recordsStale++;
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
      // A flow that got no record since its last export has nothing new to say.
      if ((flags & F_DIRTY) !== 0) {
        rows.push(this.#row(s, true));
        if (waiting) this.#stats.uncorrelatedExported++;
      }
      if (inactiveAt <= now) {
        this.#release(s);
      } else {
        ms[mb + M_ACTIVE] = now + this.#active;
        heap.push(Math.min(now + this.#active, inactiveAt), s);
      }
    }
    this.#stats.rowsExported += rows.length;
    if (this.#metaCount > this.#metaLimit) this.#compactMetas();
    return rows;
  }

  /** Exports every cached flow and forgets it (shutdown). */
  drain(): FlowRow[] {
    const rows = this.#pending.splice(0);
    for (let s = 0; s < this.#top; s++) {
      if (this.#src[s] === undefined) continue;
      const flags = this.#flags[s]!;
      if ((flags & F_DIRTY) !== 0) {
        if ((flags & (F_CORRELATE | F_READY)) === F_CORRELATE) this.#stats.uncorrelatedExported++;
        rows.push(this.#row(s, true));
      }
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
      const src = this.#src[s];
      if (src === undefined) continue;
      if (proto !== undefined && this.#proto[s] !== proto) continue;
      if (srcport !== undefined && this.#sport[s] !== srcport) continue;
      if (dstport !== undefined && this.#dport[s] !== dstport) continue;
      if (srcip !== undefined && src !== srcip) continue;
      if (dstip !== undefined && this.#dst[s] !== dstip) continue;
      out.push(this.#row(s, false));
    }
    return out;
  }

  /** Octets held by the flow columns, the heap and the free list (not the index or strings). */
  columnBytes(): number {
    return this.#capacity * (4 * 8 + 2 + 2 + 4 + 4) + this.#table.byteLength +
      this.#times.byteLength + this.#cnt.byteLength +
      this.#ms.byteLength + this.#heap.byteLength + this.#free.length * 8;
  }

  #create(
    hash: number,
    src: string,
    dst: string,
    r: DataRecord,
    now: number,
    v6: boolean,
    sport: number,
    dport: number,
    proto: number,
    flowType: number,
    correlate: boolean,
    cached = true,
  ): number {
    let s = this.#free.pop();
    if (s === undefined) {
      if (this.#top === this.#capacity) this.#grow(this.#capacity * 2);
      s = this.#top++;
    }
    this.#src[s] = src;
    this.#dst[s] = dst;
    this.#hash[s] = hash;
    if (cached) this.#insert(s, hash);
    this.#meta[s] = this.#intern(r);
    this.#tcpState[s] = str(r.tcpState);
    this.#sport[s] = sport;
    this.#dport[s] = dport;
    this.#proto[s] = proto;
    this.#flowType[s] = flowType;
    this.#reason[s] = num(r.flowEndReason);
    this.#flags[s] = (v6 ? F_V6 : 0) | (correlate ? F_CORRELATE : F_READY) | F_DIRTY;
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
    if (cached) {
      this.#heap.push(now + Math.min(this.#active, this.#inactive), s);
      this.#stats.flowsCreated++;
      if (correlate) this.#stats.waitingForCorrelation++;
    }
    return s;
  }

  /** Frees slot `s`; `cached` false for a slot that never entered the index and the heap. */
  #release(s: number, cached = true): void {
    if (cached) {
      if ((this.#flags[s]! & (F_CORRELATE | F_READY)) === F_CORRELATE) {
        this.#stats.waitingForCorrelation--;
      }
      this.#remove(s);
    }
    this.#src[s] = undefined;
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
    const sourceIP = this.#src[s]!;
    const destinationIP = this.#dst[s]!;
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
      // A node's block stays 0 until it reports.
      packetTotalCountFromSourceNode: c[b]!,
      octetTotalCountFromSourceNode: c[b + 1]!,
      reversePacketTotalCountFromSourceNode: c[b + 2]!,
      reverseOctetTotalCountFromSourceNode: c[b + 3]!,
      packetDeltaCountFromSourceNode: c[b + 4]!,
      octetDeltaCountFromSourceNode: c[b + 5]!,
      reversePacketDeltaCountFromSourceNode: c[b + 6]!,
      reverseOctetDeltaCountFromSourceNode: c[b + 7]!,
      packetTotalCountFromDestinationNode: c[d]!,
      octetTotalCountFromDestinationNode: c[d + 1]!,
      reversePacketTotalCountFromDestinationNode: c[d + 2]!,
      reverseOctetTotalCountFromDestinationNode: c[d + 3]!,
      packetDeltaCountFromDestinationNode: c[d + 4]!,
      octetDeltaCountFromDestinationNode: c[d + 5]!,
      reversePacketDeltaCountFromDestinationNode: c[d + 6]!,
      reverseOctetDeltaCountFromDestinationNode: c[d + 7]!,
    };
    if (reset) {
      this.#flags[s] = flags & ~F_DIRTY;
      for (let k = 4; k < 8; k++) {
        c[b + k] = 0;
        c[b + 8 + k] = 0;
      }
      if (endSrc > 0) t[tb + T_PREV_SRC] = endSrc;
      if (correlate && endDst > 0) t[tb + T_PREV_DST] = endDst;
    }
    return row;
  }

  /** The interned meta of a record's fields. */
  #intern(r: DataRecord): Meta {
    const clusterIP = str(r.destinationClusterIPv4 ?? r.destinationClusterIPv6);
    return this.#internMeta({
      sourcePodName: str(r.sourcePodName),
      sourcePodNamespace: str(r.sourcePodNamespace),
      sourceNodeName: str(r.sourceNodeName),
      destinationPodName: str(r.destinationPodName),
      destinationPodNamespace: str(r.destinationPodNamespace),
      destinationNodeName: str(r.destinationNodeName),
      destinationClusterIP: clusterIP === "0.0.0.0" || clusterIP === "::" ? "" : clusterIP,
      destinationServicePort: num(r.destinationServicePort),
      destinationServicePortName: str(r.destinationServicePortName),
      ingressNetworkPolicyName: str(r.ingressNetworkPolicyName),
      ingressNetworkPolicyNamespace: str(r.ingressNetworkPolicyNamespace),
      ingressNetworkPolicyRuleName: str(r.ingressNetworkPolicyRuleName),
      ingressNetworkPolicyRuleAction: num(r.ingressNetworkPolicyRuleAction),
      ingressNetworkPolicyType: num(r.ingressNetworkPolicyType),
      egressNetworkPolicyName: str(r.egressNetworkPolicyName),
      egressNetworkPolicyNamespace: str(r.egressNetworkPolicyNamespace),
      egressNetworkPolicyRuleName: str(r.egressNetworkPolicyRuleName),
      egressNetworkPolicyRuleAction: num(r.egressNetworkPolicyRuleAction),
      egressNetworkPolicyType: num(r.egressNetworkPolicyType),
    });
  }

  /** `base` with every non-empty field of `r` filled in (the other half's knowledge). */
  #merge(base: Meta, r: DataRecord): Meta {
    const clusterIP = str(r.destinationClusterIPv4 ?? r.destinationClusterIPv6);
    // Property names spelled out: keyed access by a variable name would be slow here.
    return this.#internMeta({
      sourcePodName: orStr(r.sourcePodName, base.sourcePodName),
      sourcePodNamespace: orStr(r.sourcePodNamespace, base.sourcePodNamespace),
      sourceNodeName: orStr(r.sourceNodeName, base.sourceNodeName),
      destinationPodName: orStr(r.destinationPodName, base.destinationPodName),
      destinationPodNamespace: orStr(r.destinationPodNamespace, base.destinationPodNamespace),
      destinationNodeName: orStr(r.destinationNodeName, base.destinationNodeName),
      destinationClusterIP: clusterIP === "" || clusterIP === "0.0.0.0" || clusterIP === "::"
        ? base.destinationClusterIP
        : clusterIP,
      destinationServicePort: orNum(r.destinationServicePort, base.destinationServicePort),
      destinationServicePortName: orStr(
        r.destinationServicePortName,
        base.destinationServicePortName,
      ),
      ingressNetworkPolicyName: orStr(r.ingressNetworkPolicyName, base.ingressNetworkPolicyName),
      ingressNetworkPolicyNamespace: orStr(
        r.ingressNetworkPolicyNamespace,
        base.ingressNetworkPolicyNamespace,
      ),
      ingressNetworkPolicyRuleName: orStr(
        r.ingressNetworkPolicyRuleName,
        base.ingressNetworkPolicyRuleName,
      ),
      ingressNetworkPolicyRuleAction: orNum(
        r.ingressNetworkPolicyRuleAction,
        base.ingressNetworkPolicyRuleAction,
      ),
      ingressNetworkPolicyType: orNum(r.ingressNetworkPolicyType, base.ingressNetworkPolicyType),
      egressNetworkPolicyName: orStr(r.egressNetworkPolicyName, base.egressNetworkPolicyName),
      egressNetworkPolicyNamespace: orStr(
        r.egressNetworkPolicyNamespace,
        base.egressNetworkPolicyNamespace,
      ),
      egressNetworkPolicyRuleName: orStr(
        r.egressNetworkPolicyRuleName,
        base.egressNetworkPolicyRuleName,
      ),
      egressNetworkPolicyRuleAction: orNum(
        r.egressNetworkPolicyRuleAction,
        base.egressNetworkPolicyRuleAction,
      ),
      egressNetworkPolicyType: orNum(r.egressNetworkPolicyType, base.egressNetworkPolicyType),
    });
  }

  /** The interned meta equal to `m` (which becomes it when new). */
  #internMeta(m: Meta): Meta {
    // Three levels of maps on strings the decoder hands out again and again (their hashes are
    // cached), then a short list that differs in policies only.
    let bySrc = this.#metas.get(m.sourcePodName);
    if (bySrc === undefined) this.#metas.set(m.sourcePodName, bySrc = new Map());
    let byDst = bySrc.get(m.destinationPodName);
    if (byDst === undefined) bySrc.set(m.destinationPodName, byDst = new Map());
    let list = byDst.get(m.destinationClusterIP);
    if (list === undefined) byDst.set(m.destinationClusterIP, list = []);
    for (let i = 0; i < list.length; i++) {
      const c = list[i]!;
      if (metaEquals(c, m)) return c;
    }
    list.push(Object.freeze(m));
    this.#metaCount++;
    return m;
  }

  /**
   * Forgets the interned metas no cached flow uses any more (pods come and go: without this the
   * table would grow for as long as the aggregator runs). Called when it holds several times
   * more metas than there are flows; rebuilding costs one pass over the flows.
   */
  #compactMetas(): void {
    const before = this.#metaCount;
    this.#metas.clear();
    this.#metaCount = 0;
    for (let s = 0; s < this.#top; s++) {
      if (this.#src[s] === undefined) continue;
      this.#meta[s] = this.#internMeta(this.#meta[s]!);
    }
    this.#metaLimit = Math.max(this.#metaMin, 4 * this.#metaCount);
    this.#stats.metasForgotten += before - this.#metaCount;
  }

  /** The slot of a 5-tuple, or -1. */
  #find(
    hash: number,
    src: string,
    dst: string,
    sport: number,
    dport: number,
    proto: number,
  ): number {
    const table = this.#table;
    const mask = table.length - 1;
    for (let i = hash & mask;; i = (i + 1) & mask) {
      const e = table[i]!;
      if (e === 0) return -1;
      const s = e - 1;
      if (
        this.#hash[s] === hash && this.#sport[s] === sport && this.#dport[s] === dport &&
        this.#proto[s] === proto && this.#src[s] === src && this.#dst[s] === dst
      ) return s;
    }
  }

  #insert(s: number, hash: number): void {
    const table = this.#table;
    const mask = table.length - 1;
    let i = hash & mask;
    while (table[i] !== 0) i = (i + 1) & mask;
    table[i] = s + 1;
    this.#size++;
  }

  /** Removes slot `s` from the index, shifting back the cells that probed past it. */
  #remove(s: number): void {
    const table = this.#table;
    const mask = table.length - 1;
    let i = this.#hash[s]! & mask;
    while (table[i] !== s + 1) i = (i + 1) & mask;
    table[i] = 0;
    this.#size--;
    for (let j = (i + 1) & mask;; j = (j + 1) & mask) {
      const e = table[j]!;
      if (e === 0) return;
      const home = this.#hash[e - 1]! & mask;
      // Move the entry at j to the hole at i unless its home lies cyclically in (i, j].
      const stays = i <= j ? i < home && home <= j : i < home || home <= j;
      if (!stays) {
        table[i] = e;
        table[j] = 0;
        i = j;
      }
    }
  }

  #grow(capacity: number): void {
    const grow = <T extends Uint8Array | Uint16Array | Uint32Array | Int32Array | Float64Array>(
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
    this.#hash = grow(this.#hash, (n) => new Int32Array(n), 1);
    this.#capacity = capacity;
    // The index stays at most half full.
    this.#table = new Int32Array(capacity * 2);
    this.#size = 0;
    for (let s = 0; s < this.#top; s++) {
      if (this.#src[s] !== undefined) this.#insert(s, this.#hash[s]!);
    }
  }
}

/** Whether two metas hold the same values. */
function metaEquals(a: Meta, b: Meta): boolean {
  return a.sourcePodName === b.sourcePodName &&
    a.destinationPodName === b.destinationPodName &&
    a.sourcePodNamespace === b.sourcePodNamespace &&
    a.destinationPodNamespace === b.destinationPodNamespace &&
    a.sourceNodeName === b.sourceNodeName &&
    a.destinationNodeName === b.destinationNodeName &&
    a.destinationClusterIP === b.destinationClusterIP &&
    a.destinationServicePort === b.destinationServicePort &&
    a.destinationServicePortName === b.destinationServicePortName &&
    a.ingressNetworkPolicyName === b.ingressNetworkPolicyName &&
    a.ingressNetworkPolicyNamespace === b.ingressNetworkPolicyNamespace &&
    a.ingressNetworkPolicyRuleName === b.ingressNetworkPolicyRuleName &&
    a.ingressNetworkPolicyRuleAction === b.ingressNetworkPolicyRuleAction &&
    a.ingressNetworkPolicyType === b.ingressNetworkPolicyType &&
    a.egressNetworkPolicyName === b.egressNetworkPolicyName &&
    a.egressNetworkPolicyNamespace === b.egressNetworkPolicyNamespace &&
    a.egressNetworkPolicyRuleName === b.egressNetworkPolicyRuleName &&
    a.egressNetworkPolicyRuleAction === b.egressNetworkPolicyRuleAction &&
    a.egressNetworkPolicyType === b.egressNetworkPolicyType;
}

/** A 32-bit hash of a 5-tuple (FNV-1a over the address text, then the numbers). */
function flowHash(src: string, dst: string, sport: number, dport: number, proto: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < src.length; i++) h = Math.imul(h ^ src.charCodeAt(i), 0x01000193);
  h = Math.imul(h ^ 0x7c, 0x01000193);
  for (let i = 0; i < dst.length; i++) h = Math.imul(h ^ dst.charCodeAt(i), 0x01000193);
  h = Math.imul(h ^ sport, 0x01000193);
  h = Math.imul(h ^ dport, 0x01000193);
  h = Math.imul(h ^ proto, 0x01000193);
  // Final mix so that the low bits (the table index) depend on every input bit.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h | 0;
}

/** Bits per second of `octets` sent between two flow end times (seconds). */
function rate(octets: number, end: number, previousEnd: number): number {
  if (octets <= 0) return 0;
  return Math.floor((octets * 8) / Math.max(1, end - previousEnd));
}
