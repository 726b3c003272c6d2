/**
 * The agent's connection store: conntrack entries keyed by their original 5-tuple and zone, with
 * an expiry priority queue that says when each connection is next due for export: after the
 * active timeout, after the idle timeout, or at once when the connection ends.
 *
 * @module
 */

import type { ConnEntry } from "../conntrack/mod.ts";
import { type Clock, systemClock } from "../ipfix/mod.ts";
import { ExpiryQueue } from "./expiry_queue.ts";

/** flowEndReason values (IANA 136). */
export const FlowEndReason = { IDLE: 1, ACTIVE: 2, END_OF_FLOW: 3 } as const;
/** A flowEndReason value. */
export type FlowEndReason = typeof FlowEndReason[keyof typeof FlowEndReason];

/** Packet and byte counters of both directions. */
export interface Counters {
  packets: number;
  bytes: number;
  reversePackets: number;
  reverseBytes: number;
}

const ZERO: Counters = Object.freeze({ packets: 0, bytes: 0, reversePackets: 0, reverseBytes: 0 });

/** Where a tracked connection is in its life. */
type State =
  /** Counters moved within the idle timeout. */
  | "active"
  /** Exported for idleness; not due again until its counters move. */
  | "idle"
  /** Ended (TCP TIME_WAIT/CLOSE, gone from conntrack, or its tuple reused): export now. */
  | "ended"
  /** Ended and exported; kept until conntrack forgets it so that it is not tracked anew. */
  | "done";

/** A tracked connection. */
export interface Connection<M> {
  readonly key: string;
  /** The latest conntrack entry. */
  entry: ConnEntry;
  /** What the classifier says about it: when first seen, and after {@link ConnectionStore.reclassify}. */
  meta: M;
  readonly firstSeenMs: number;
  lastActivityMs: number;
  lastExportMs: number;
  /** Start of the current active period: the last export, or the end of an idle spell. */
  periodStartMs: number;
  /** Totals at the last export (the baseline of the next deltas). */
  exported: Counters;
  state: State;
  /** Whether it was missing from the latest poll. */
  gone: boolean;
  /** Poll generation that last saw it. */
  seen: number;
}

/** A connection due for export, with its counters. */
export interface ExportItem<M> {
  readonly conn: Connection<M>;
  readonly reason: FlowEndReason;
  readonly totals: Counters;
  /** Since the previous export; never negative, and equal to the totals on the first export. */
  readonly deltas: Counters;
  /** When the export was decided, ms. */
  readonly at: number;
}

/** Options of a {@link ConnectionStore}. */
export interface ConnectionStoreOptions {
  /** Export an active connection at least this often (60 s). */
  activeTimeoutMs?: number;
  /** Export a connection whose counters did not move for this long (15 s). */
  idleTimeoutMs?: number;
  /** Connections tracked at most; new ones beyond are refused and counted. */
  maxConnections?: number;
  clock?: Clock;
}

/** Counters of a store. */
export interface ConnectionStoreStats {
  /** Connections tracked now. */
  tracked: number;
  /** Connections refused because the store was full (each counted once, at its first refusal). */
  refused: number;
  /** Entries the classifier declined (no local pod endpoint), in the latest poll. */
  ignored: number;
  /** Exports by reason. */
  exportedIdle: number;
  exportedActive: number;
  exportedEnd: number;
}

/** The original-direction 5-tuple and zone of an entry. */
export function connectionKey(e: ConnEntry): string {
  const o = e.original;
  return `${e.zone}|${e.protocol}|${o.src}|${o.srcPort}|${o.dst}|${o.dstPort}`;
}

function totalsOf(e: ConnEntry): Counters {
  return {
    packets: e.original.packets,
    bytes: e.original.bytes,
    reversePackets: e.reply.packets,
    reverseBytes: e.reply.bytes,
  };
}

function delta(total: number, base: number): number {
  // Counters that went down were restarted: everything counted since is new.
  return total >= base ? total - base : total;
}

function ended(e: ConnEntry): boolean {
  return e.tcpState === "TIME_WAIT" || e.tcpState === "CLOSE";
}

/**
 * Tracks conntrack entries between polls and decides when each connection is exported.
 * `classify` runs once per new connection; returning undefined leaves it untracked.
 *
 * @example
 * ```ts
 * const store = new ConnectionStore((e) => ({ local: true }), { activeTimeoutMs: 60_000 });
 * // every poll:
 * store.update([]);
 * for (const item of store.due()) {
 *   // build and send a flow record for item.conn with item.deltas and item.reason
 * }
 * ```
 */
export class ConnectionStore<M> {
  readonly #classify: (entry: ConnEntry) => M | undefined;
  readonly #conns = new Map<string, Connection<M>>();
  readonly #queue = new ExpiryQueue<Connection<M>>();
  /** Tuples the classifier declined, by key → conntrack ID, so they are not classified again. */
  #ignored = new Map<string, number>();
  /** Tuples refused for want of room at the latest poll, by key → conntrack ID (counted once). */
  #refused = new Map<string, number>();
  readonly #active: number;
  readonly #idle: number;
  readonly #max: number;
  readonly #clock: Clock;
  #gen = 0;
  /** Exports decided during update (a tuple reused by a new connection). */
  #pending: ExportItem<M>[] = [];
  readonly stats: ConnectionStoreStats = {
    tracked: 0,
    refused: 0,
    ignored: 0,
    exportedIdle: 0,
    exportedActive: 0,
    exportedEnd: 0,
  };

  constructor(
    classify: (entry: ConnEntry) => M | undefined,
    options: ConnectionStoreOptions = {},
  ) {
    this.#classify = classify;
    this.#active = options.activeTimeoutMs ?? 60_000;
    this.#idle = options.idleTimeoutMs ?? 15_000;
    this.#max = options.maxConnections ?? 1_000_000;
    this.#clock = options.clock ?? systemClock;
    for (const [name, v] of [["activeTimeoutMs", this.#active], ["idleTimeoutMs", this.#idle]]) {
      if (typeof v !== "number" || !(v > 0)) throw new RangeError(`Invalid ${name} ${v}`);
    }
    if (!Number.isInteger(this.#max) || this.#max < 1) {
      throw new RangeError(`Invalid maxConnections ${this.#max}`);
    }
  }

  /** Number of tracked connections. */
  get size(): number {
    return this.#conns.size;
  }

  /** The tracked connection with this key. */
  get(key: string): Connection<M> | undefined {
    return this.#conns.get(key);
  }

  /** Every tracked connection. */
  connections(): IterableIterator<Connection<M>> {
    return this.#conns.values();
  }

  /**
   * Forgets which entries the classifier declined, so that the next {@link update} classifies
   * them again: call it when what the classifier knows has changed (a pod's IP became known).
   */
  forgetIgnored(): void {
    this.#ignored = new Map();
  }

  /**
   * Classifies again the tracked connections `retry` picks (say, those with an endpoint the
   * classifier did not know), keeping what it said before when it now declines one. Returns how
   * many changed.
   */
  reclassify(retry: (conn: Connection<M>) => boolean): number {
    let changed = 0;
    for (const c of this.#conns.values()) {
      if (c.state === "done" || !retry(c)) continue;
      const meta = this.#classify(c.entry);
      if (meta !== undefined) {
        c.meta = meta;
        changed++;
      }
    }
    return changed;
  }

  /** When the next connection is due, ms (Infinity when none). */
  nextDue(): number {
    return this.#pending.length > 0 ? this.#clock() : this.#queue.peekTime();
  }

  /**
   * Applies one poll: every entry conntrack holds now. Connections missing from it have ended
   * and are due at once with their last counters.
   */
  update(entries: Iterable<ConnEntry>, now: number = this.#clock()): void {
    const gen = ++this.#gen;
    const ignored = new Map<string, number>();
    const refused = new Map<string, number>();
    for (const e of entries) {
      const key = connectionKey(e);
      let c = this.#conns.get(key);
      if (c && c.entry.id !== e.id && e.id !== 0) {
        // The tuple now belongs to a new connection: the old one ended with its last counters.
        if (c.state !== "done") this.#pending.push(this.#export(c, FlowEndReason.END_OF_FLOW, now));
        this.#remove(c);
        c = undefined;
      }
      if (!c) {
        if (this.#ignored.get(key) === e.id) {
          ignored.set(key, e.id);
          continue;
        }
        const full = this.#conns.size >= this.#max;
        if (full && this.#refused.get(key) === e.id) {
          // Refused at the previous poll already: counted once, not classified again.
          refused.set(key, e.id);
          continue;
        }
        const meta = this.#classify(e);
        if (meta === undefined) {
          ignored.set(key, e.id);
          continue;
        }
        if (full) {
          this.stats.refused++;
          refused.set(key, e.id);
          continue;
        }
        c = {
          key,
          entry: e,
          meta,
          firstSeenMs: now,
          lastActivityMs: now,
          lastExportMs: now,
          periodStartMs: now,
          exported: ZERO,
          state: ended(e) ? "ended" : "active",
          gone: false,
          seen: gen,
        };
        this.#conns.set(key, c);
        this.#reschedule(c, now);
        continue;
      }
      c.seen = gen;
      if (c.state === "done") {
        c.entry = e;
        continue;
      }
      const before = c.entry;
      c.entry = e;
      if (
        e.original.packets !== before.original.packets ||
        e.reply.packets !== before.reply.packets ||
        e.original.bytes !== before.original.bytes || e.reply.bytes !== before.reply.bytes
      ) {
        c.lastActivityMs = now;
        if (c.state === "idle") {
          c.state = "active";
          c.periodStartMs = now;
        }
      }
      if (ended(e) && c.state !== "ended") c.state = "ended";
      this.#reschedule(c, now);
    }
    this.#ignored = ignored;
    this.#refused = refused;
    this.stats.ignored = ignored.size;
    for (const c of this.#conns.values()) {
      if (c.seen === gen) continue;
      c.gone = true;
      if (c.state === "done") this.#remove(c);
      else if (c.state !== "ended") {
        c.state = "ended";
        this.#reschedule(c, now);
      }
    }
    this.stats.tracked = this.#conns.size;
  }

  /** Removes and returns every export due at `now`. */
  due(now: number = this.#clock()): ExportItem<M>[] {
    const out = this.#pending;
    this.#pending = [];
    for (const c of this.#queue.popDue(now)) {
      if (c.state === "ended") {
        out.push(this.#export(c, FlowEndReason.END_OF_FLOW, now));
        if (c.gone) this.#remove(c);
        else c.state = "done";
      } else if (c.state === "active" && now >= c.lastActivityMs + this.#idle) {
        out.push(this.#export(c, FlowEndReason.IDLE, now));
        c.state = "idle";
      } else {
        out.push(this.#export(c, FlowEndReason.ACTIVE, now));
        this.#reschedule(c, now);
      }
    }
    this.stats.tracked = this.#conns.size;
    return out;
  }

  #export(c: Connection<M>, reason: FlowEndReason, now: number): ExportItem<M> {
    const totals = totalsOf(c.entry);
    const b = c.exported;
    const deltas: Counters = {
      packets: delta(totals.packets, b.packets),
      bytes: delta(totals.bytes, b.bytes),
      reversePackets: delta(totals.reversePackets, b.reversePackets),
      reverseBytes: delta(totals.reverseBytes, b.reverseBytes),
    };
    c.exported = totals;
    c.lastExportMs = now;
    c.periodStartMs = now;
    if (reason === FlowEndReason.IDLE) this.stats.exportedIdle++;
    else if (reason === FlowEndReason.ACTIVE) this.stats.exportedActive++;
    else this.stats.exportedEnd++;
    return { conn: c, reason, totals, deltas, at: now };
  }

  #reschedule(c: Connection<M>, now: number): void {
    if (c.state === "ended") return this.#queue.schedule(c, now);
    if (c.state !== "active") return this.#queue.cancel(c);
    this.#queue.schedule(
      c,
      Math.min(c.periodStartMs + this.#active, c.lastActivityMs + this.#idle),
    );
  }

  #remove(c: Connection<M>): void {
    this.#queue.cancel(c);
    this.#conns.delete(c.key);
  }
}
