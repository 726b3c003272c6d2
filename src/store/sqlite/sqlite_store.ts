/**
 * The embedded flow store: aggregated rows in an SQLite file (`node:sqlite`), the default store
 * when ClickHouse is off. Rows wait in a bounded queue and a timer commits them in short
 * transactions; a periodic job forgets rows older than the retention.
 *
 * @module
 */

import type { DatabaseSync, StatementSync } from "node:sqlite";
import type { Clock } from "../../ipfix/mod.ts";
import { createLogger, type Logger } from "../../log/mod.ts";
import {
  FLOW_COLUMNS,
  type FlowQuery,
  type FlowRow,
  type FlowStore,
  type SinkStats,
  type StoredFlowRow,
} from "../types.ts";
import { compileQuery, SELECT_COLUMNS } from "./query.ts";
import { openFlowDatabase } from "./schema.ts";

/** Options of a {@link SqliteStore}. */
export interface SqliteStoreOptions {
  /** The database file (parent directories are created), or `":memory:"`. */
  path: string;
  /** Rows inserted longer ago than this are deleted; 24 h by default. */
  retentionMs?: number;
  /** How often the retention job runs; 60 s by default. */
  retentionCheckMs?: number;
  /** How often queued rows are committed; 1 s by default. */
  commitIntervalMs?: number;
  /** Rows that may wait in memory; more are dropped, counted and logged. 500 000 by default. */
  queueLimit?: number;
  /**
   * Rows inserted (or deleted) in one synchronous transaction before the event loop gets a turn;
   * 2000 by default (20–40 ms on a loaded 2-core machine, see `deno task bench sqlite`).
   */
  batchRows?: number;
  /** The retry delay after a failed commit starts at `commitIntervalMs` and doubles up to this. */
  maxBackoffMs?: number;
  /** Milliseconds since the epoch: `timeInserted` and the retention cut-off come from it. */
  clock?: Clock;
  logger?: Logger;
}

const DAY_MS = 24 * 60 * 60 * 1000;
/** Commit attempts `close()` makes before it gives up on the rows still queued. */
const CLOSE_ATTEMPTS = 3;
const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const MAX_SAFE_BIG = BigInt(MAX_SAFE);

const COLUMN_NAMES = FLOW_COLUMNS.map((c) => c.name);
const IS_TEXT = FLOW_COLUMNS.map((c) => c.type === "String");

/**
 * A value for an INTEGER column: integers as they are; fractions truncated; NaN, infinities and
 * anything not a number as 0; magnitudes beyond 2^53 − 1 clamped (SQLite could store them, but
 * `node:sqlite` refuses to read them back as numbers).
 */
function toInteger(v: unknown): number {
  if (typeof v === "number") {
    if (Number.isSafeInteger(v)) return v;
    if (!Number.isFinite(v)) return 0;
    const t = Math.trunc(v);
    return t > MAX_SAFE ? MAX_SAFE : t < -MAX_SAFE ? -MAX_SAFE : t;
  }
  if (typeof v === "bigint") {
    return v > MAX_SAFE_BIG ? MAX_SAFE : v < -MAX_SAFE_BIG ? -MAX_SAFE : Number(v);
  }
  if (typeof v === "boolean") return v ? 1 : 0;
  return 0;
}

/**
 * A value for a TEXT column: strings as they are, null and undefined as "", NUL characters as
 * U+FFFD (SQLite ends text at NUL in its functions, and `node:sqlite` reads it back cut there).
 */
function toText(v: unknown): string {
  const s = typeof v === "string" ? v : v === undefined || v === null ? "" : String(v);
  return s.includes("\0") ? s.replaceAll("\0", "\uFFFD") : s;
}

function checkCount(name: string, v: number | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 1) {
    throw new RangeError(`SqliteStore option ${name} must be a positive integer: ${v}`);
  }
  return v;
}

/**
 * A turn of the event loop for timers and I/O. setTimeout is the way that lets I/O in here
 * (node:timers setImmediate and MessageChannel only let timers and messages run); nested, it
 * costs ~2 ms, once per slice.
 */
const yieldToLoop = () => new Promise<void>((resolve) => setTimeout(resolve, 0));
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * A {@link FlowStore} in an SQLite file. `write()` only queues (bounded, never throws); a timer
 * commits the queue every `commitIntervalMs` with one prepared INSERT, in transactions of at
 * most `batchRows` rows with a turn of the event loop between them. A failed commit (disk full,
 * database locked) keeps its rows, counts a failure and is retried with exponential backoff.
 *
 * @example
 * ```ts
 * const store = new SqliteStore({ path: "/var/lib/flowvis/flows.db" });
 * store.write([row]);
 * await store.flush();
 * const newest = await store.query({ srcip: "10.10.0.5", limit: 10 });
 * await store.close();
 * ```
 */
export class SqliteStore implements FlowStore {
  readonly name = "sqlite";
  /** The database file, as given. */
  readonly path: string;

  readonly #db: DatabaseSync;
  readonly #insert: StatementSync;
  readonly #purge: StatementSync;
  readonly #count: StatementSync;
  readonly #retentionMs: number;
  readonly #commitIntervalMs: number;
  readonly #queueLimit: number;
  readonly #batchRows: number;
  readonly #maxBackoffMs: number;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #args: (string | number)[];

  /** Rows waiting; those before #head are already written. */
  #queue: FlowRow[] = [];
  #head = 0;
  /** Rows ever accepted into the queue, and those that left it (written, or dropped at close). */
  #accepted = 0;
  #settled = 0;
  #written = 0;
  #dropped = 0;
  #failures = 0;
  #consecutiveFailures = 0;
  /** performance.now() before which no commit is tried after a failure. */
  #retryAt = 0;
  /** Whether an overflow was logged since the last tick, and rows dropped after that line. */
  #overflowLogged = false;
  #droppedUnlogged = 0;
  #committing: Promise<boolean> | null = null;
  #expiring: Promise<number> | null = null;
  #commitTimer: ReturnType<typeof setInterval>;
  #retentionTimer: ReturnType<typeof setInterval>;
  #closing: Promise<void> | null = null;

  /**
   * Opens (or creates) the store; see {@link openFlowDatabase} for the errors of a bad file.
   *
   * @throws {TypeError} a bad path
   * @throws {RangeError} a bad option, a truncated file, or a newer schema version
   * @throws {SyntaxError} a file that is not a flowvis SQLite store
   */
  constructor(options: SqliteStoreOptions) {
    if (typeof options !== "object" || options === null) {
      throw new TypeError("SqliteStore options must be an object");
    }
    this.#retentionMs = checkCount("retentionMs", options.retentionMs, DAY_MS);
    const retentionCheckMs = checkCount("retentionCheckMs", options.retentionCheckMs, 60_000);
    this.#commitIntervalMs = checkCount("commitIntervalMs", options.commitIntervalMs, 1000);
    this.#queueLimit = checkCount("queueLimit", options.queueLimit, 500_000);
    this.#batchRows = checkCount("batchRows", options.batchRows, 2000);
    this.#maxBackoffMs = checkCount("maxBackoffMs", options.maxBackoffMs, 30_000);
    this.#clock = options.clock ?? Date.now;
    this.#log = options.logger ?? createLogger("store.sqlite");
    this.path = options.path;
    this.#db = openFlowDatabase(options.path);
    const cols = ["timeInserted", ...COLUMN_NAMES];
    this.#insert = this.#db.prepare(
      `INSERT INTO flows (${cols.join(", ")}) VALUES (${cols.map(() => "?").join(", ")})`,
    );
    this.#purge = this.#db.prepare(
      "DELETE FROM flows WHERE rowid IN " +
        "(SELECT rowid FROM flows WHERE timeInserted < ? ORDER BY timeInserted LIMIT ?)",
    );
    this.#count = this.#db.prepare("SELECT count(*) AS n FROM flows");
    this.#args = new Array(cols.length).fill(0);
    this.#commitTimer = setInterval(() => this.#tick(), this.#commitIntervalMs);
    this.#retentionTimer = setInterval(() => {
      this.expire().catch((e) => this.#log.warn("Retention failed", { path: this.path, error: e }));
    }, retentionCheckMs);
  }

  /** Queues rows for the next commit; beyond `queueLimit` they are dropped, counted and logged. */
  write(rows: readonly FlowRow[]): void {
    if (this.#closing !== null) {
      this.#dropped += rows.length;
      this.#log.error("Rows written after close dropped", { path: this.path, rows: rows.length });
      return;
    }
    const room = this.#queueLimit - (this.#queue.length - this.#head);
    const take = Math.min(room, rows.length);
    for (let i = 0; i < take; i++) this.#queue.push(rows[i]!);
    this.#accepted += take;
    const lost = rows.length - take;
    if (lost > 0) {
      this.#dropped += lost;
      if (this.#overflowLogged) {
        this.#droppedUnlogged += lost;
      } else {
        this.#overflowLogged = true;
        this.#log.warn("Queue full, rows dropped", {
          path: this.path,
          rows: lost,
          queueLimit: this.#queueLimit,
        });
      }
    }
  }

  /** Resolves when every row written so far is committed (retrying failed commits). */
  async flush(): Promise<void> {
    const target = this.#accepted;
    while (this.#settled < target && this.#db.isOpen) {
      const wait = this.#retryAt - performance.now();
      if (wait > 0) await sleep(wait);
      await this.#commitNow();
    }
  }

  /**
   * Commits what is queued (a few attempts if commits fail; rows still queued after them are
   * dropped, counted and logged) and closes the database. Safe to call twice.
   */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  stats(): SinkStats {
    return {
      queued: this.#queue.length - this.#head,
      written: this.#written,
      dropped: this.#dropped,
      failures: this.#failures,
      spooledRows: 0,
      spoolBytes: 0,
    };
  }

  /**
   * Stored rows matching every given field, newest `flowEndSeconds` first.
   *
   * @throws {TypeError} a query field of the wrong type
   * @throws {RangeError} a port, protocol or limit out of range (limit 1 to 100 000)
   */
  query(q: FlowQuery): Promise<StoredFlowRow[]> {
    try {
      const { sql, params } = compileQuery(q);
      this.#checkOpen();
      const raw = this.#db.prepare(sql).all(...params) as Record<string, unknown>[];
      // Plain objects with the columns in table order (SQLite gives null-prototype ones).
      const out: StoredFlowRow[] = new Array(raw.length);
      for (let i = 0; i < raw.length; i++) {
        const values = raw[i]!;
        const row: Record<string, unknown> = {};
        for (const c of SELECT_COLUMNS) row[c] = values[c];
        out[i] = row as unknown as StoredFlowRow;
      }
      return Promise.resolve(out);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  count(): Promise<number> {
    try {
      this.#checkOpen();
      return Promise.resolve(Number((this.#count.get() as { n: number }).n));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Deletes rows inserted before `before` (Unix seconds), `batchRows` at a time with a turn of
   * the event loop between; resolves to how many went.
   *
   * @throws {TypeError} `before` is not a number
   */
  async purge(before: number): Promise<number> {
    if (typeof before !== "number" || Number.isNaN(before)) {
      throw new TypeError(`Purge cut-off must be a number of Unix seconds: ${before}`);
    }
    this.#checkOpen();
    let total = 0;
    for (;;) {
      const n = Number(this.#purge.run(before, this.#batchRows).changes);
      total += n;
      if (n < this.#batchRows || !this.#db.isOpen || this.#closing !== null) break;
      await yieldToLoop();
      if (!this.#db.isOpen) break;
    }
    return total;
  }

  /**
   * Runs the retention job now: deletes rows inserted longer than `retentionMs` ago (by the
   * clock); resolves to how many went. The store runs it every `retentionCheckMs`.
   */
  expire(): Promise<number> {
    if (this.#expiring === null) {
      const cutoff = Math.floor((this.#clock() - this.#retentionMs) / 1000);
      this.#expiring = this.purge(cutoff).then((n) => {
        if (n > 0) this.#log.info("Expired rows deleted", { path: this.path, rows: n, cutoff });
        return n;
      }).finally(() => this.#expiring = null);
    }
    return this.#expiring;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #checkOpen(): void {
    if (!this.#db.isOpen || this.#closing !== null) {
      throw new Error(`Flow store ${this.path} is closed`);
    }
  }

  #tick(): void {
    if (this.#droppedUnlogged > 0) {
      this.#log.warn("Queue full, more rows dropped", {
        path: this.path,
        rows: this.#droppedUnlogged,
        dropped: this.#dropped,
      });
    }
    this.#droppedUnlogged = 0;
    this.#overflowLogged = false;
    if (this.#head < this.#queue.length && performance.now() >= this.#retryAt) {
      void this.#commitNow();
    }
  }

  /** Commits the whole queue (one run at a time); false when a commit failed. */
  #commitNow(): Promise<boolean> {
    this.#committing ??= this.#commitSlices().finally(() => this.#committing = null);
    return this.#committing;
  }

  async #commitSlices(): Promise<boolean> {
    while (this.#head < this.#queue.length) {
      if (!this.#db.isOpen || !this.#commitSlice()) return false;
      if (this.#head < this.#queue.length) await yieldToLoop();
    }
    return true;
  }

  /** One transaction of at most `batchRows` rows from the head of the queue. */
  #commitSlice(): boolean {
    const db = this.#db;
    const queue = this.#queue;
    const start = this.#head;
    const end = Math.min(queue.length, start + this.#batchRows);
    const args = this.#args;
    args[0] = Math.floor(this.#clock() / 1000);
    try {
      db.exec("BEGIN IMMEDIATE");
      for (let i = start; i < end; i++) {
        const row = queue[i] as unknown as Record<string, unknown>;
        for (let c = 0; c < COLUMN_NAMES.length; c++) {
          const v = row[COLUMN_NAMES[c]!];
          args[c + 1] = IS_TEXT[c] ? toText(v) : toInteger(v);
        }
        this.#insert.run(...args);
      }
      db.exec("COMMIT");
    } catch (e) {
      try {
        if (db.isTransaction) db.exec("ROLLBACK");
      } catch {
        // SQLite rolls back by itself after the errors where ROLLBACK fails.
      }
      this.#failures++;
      this.#consecutiveFailures++;
      const delay = Math.min(
        this.#commitIntervalMs * 2 ** Math.min(this.#consecutiveFailures - 1, 30),
        this.#maxBackoffMs,
      );
      this.#retryAt = performance.now() + delay;
      this.#log.warn("Commit failed, rows kept for a retry", {
        path: this.path,
        rows: end - start,
        queued: queue.length - start,
        retryInMs: delay,
        error: e,
      });
      return false;
    }
    const n = end - start;
    this.#head = end;
    this.#written += n;
    this.#settled += n;
    this.#consecutiveFailures = 0;
    this.#retryAt = 0;
    if (this.#head === queue.length) {
      this.#queue = [];
      this.#head = 0;
    } else if (this.#head > 65536 && this.#head * 2 > queue.length) {
      this.#queue = queue.slice(this.#head);
      this.#head = 0;
    }
    return true;
  }

  async #shutdown(): Promise<void> {
    clearInterval(this.#commitTimer);
    clearInterval(this.#retentionTimer);
    await this.#expiring?.catch(() => 0);
    for (let attempt = 1; this.#head < this.#queue.length; attempt++) {
      const wait = Math.min(this.#retryAt - performance.now(), this.#commitIntervalMs);
      if (wait > 0) await sleep(wait);
      if (await this.#commitNow()) break;
      if (attempt >= CLOSE_ATTEMPTS) {
        const lost = this.#queue.length - this.#head;
        this.#dropped += lost;
        this.#settled += lost;
        this.#queue = [];
        this.#head = 0;
        this.#log.error("Closing with rows that could not be committed: dropped", {
          path: this.path,
          rows: lost,
          attempts: attempt,
        });
      }
    }
    await this.#committing;
    this.#db.close();
  }
}
