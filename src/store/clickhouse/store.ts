/**
 * The ClickHouse sink and store: rows go to the `flows` table of a ClickHouse server over HTTP
 * (`@clickhouse/client-web`), in RowBinary batches, without loss while the server is away.
 *
 * `write()` encodes rows into a bounded in-memory queue and returns. A loop commits the queue
 * every `commitIntervalMs` (sooner when a batch's worth or half of the queue is waiting): one
 * INSERT whose body streams the batches, and the rows handed over while it runs, as they are
 * encoded (two INSERTs side by side while rows keep coming fast). A batch the server does not
 * take is retried with exponential backoff, then moved to the on-disk spool after
 * `maxAttempts` tries. Spooled batches are replayed in order, before any newer row, as soon as
 * the server answers again, including batches left by a previous run. Rows are dropped only when
 * the queue or the spool is full (or, without a spool, at close): each drop is counted in
 * `stats().dropped` and logged.
 *
 * Delivery is at least once: a batch whose INSERT the server committed but whose answer was
 * lost (the server killed between the two) is sent again.
 *
 * @module
 */

import { type ClickHouseClient, createClient } from "@clickhouse/client-web";
import zlib from "node:zlib";
import type { Clock } from "../../ipfix/mod.ts";
import { type Logger, silentLogger } from "../../log/mod.ts";
import { Spool } from "../spool.ts";
import {
  FLOW_COLUMNS,
  type FlowQuery,
  type FlowRow,
  type FlowStore,
  type SinkStats,
  type StoredFlowRow,
} from "../types.ts";
import {
  checkDatabaseName,
  createDatabaseSql,
  createTableSql,
  PARTITION_SECONDS,
  quoteString,
  schemaMismatch,
  selectSql,
  TABLE,
} from "./sql.ts";
import { encodeRowBinary } from "./rowbinary.ts";
import { INSERT_COLUMNS } from "./tsv.ts";

/** Options of {@link ClickHouseStore}. */
export interface ClickHouseStoreOptions {
  /** `http://host:8123` or `https://host:8443` (the HTTP interface; `tcp://` is refused). */
  url: string;
  /** Database of the `flows` table, created if missing; "default" by default. */
  database?: string;
  username?: string;
  password?: string;
  /**
   * gzip the INSERT bodies (done here: the web client sends request bodies uncompressed) and ask
   * for gzip answers (the client's response compression). Off by default: on a fast link it
   * costs more CPU than it saves.
   */
  compress?: boolean;
  /** How often the queue is committed; 8000 ms by default. */
  commitIntervalMs?: number;
  /** Most rows held in memory (queued and failed batches); 200000 by default. */
  queueLimit?: number;
  /** Most rows in one batch (retry and spool unit); {@link DEFAULT_MAX_BATCH_ROWS} by default. */
  maxBatchRows?: number;
  /** Directory of the on-disk spool; without it, failed batches wait in memory only. */
  spoolDir?: string;
  /** Most octets of the spool; 1 GiB by default. */
  spoolMaxBytes?: number;
  /** Rows older than this (by insertion time) are dropped, a partition at a time; 12 h by default, 0 keeps everything. */
  retentionMs?: number;
  /** How often retention runs; 10 minutes by default. */
  retentionCheckMs?: number;
  /** Tries of a batch before it goes to the spool; 3 by default. */
  maxAttempts?: number;
  /** First retry delay, doubled after each failure up to `retryMaxMs`; 250 ms by default. */
  retryBaseMs?: number;
  /** Longest retry delay; 30 s by default. */
  retryMaxMs?: number;
  /** Timeout of one HTTP request; 30 s by default. */
  requestTimeoutMs?: number;
  /** Milliseconds since the epoch: retention and backoff. */
  clock?: Clock;
  logger?: Logger;
}

/**
 * Rows of one batch at most: the unit that a streaming INSERT takes at a time, that is retried,
 * and that goes to the spool as one file (25,000 RowBinary rows are ~13 MB).
 */
export const DEFAULT_MAX_BATCH_ROWS = 25_000;

/**
 * An INSERT's body stays open for more rows while they keep coming (none for STREAM_IDLE_MS ends
 * it), up to STREAM_MAX_ROWS rows (the server's max_insert_block_size: one part) or half the
 * queue's limit, and STREAM_MAX_MS.
 */
const STREAM_IDLE_MS = 25;
const STREAM_MAX_ROWS = 1_048_576;
const STREAM_MAX_MS = 2_000;
/** Rows of the first INSERT after which a second one runs beside it. */
const STREAM_SPLIT_ROWS = 65_536;

/** The counters of {@link ClickHouseStore}. */
export interface ClickHouseStats extends SinkStats {
  /** Spool files found corrupt and set aside (their rows, when known, are in `dropped`). */
  corruptSpoolFiles: number;
  /** Whether the last request to the server failed. */
  down: boolean;
}

/** One batch taken from the queue, waiting to be sent (again). */
interface Batch {
  /** RowBinary rows. */
  data: Uint8Array;
  rows: number;
  attempts: number;
}

type SendResult = "ok" | "retry" | "rejected";

/**
 * ClickHouse error codes after which resending the same batch cannot help (the data or the
 * statement is wrong): the batch is dropped and counted instead of blocking those behind it.
 * CANNOT_PARSE_* (6, 26, 27, 38, 41, 72), CANNOT_READ_ALL_DATA (33: a RowBinary body that ends
 * inside a row), SYNTAX_ERROR (62), TYPE_MISMATCH (53), ARGUMENT_OUT_OF_BOUND (69),
 * INCORRECT_DATA (117), TOO_LARGE_STRING_SIZE (131).
 */
const PERMANENT_CODES = new Set([6, 26, 27, 33, 38, 41, 53, 62, 69, 72, 117, 131]);
/** UNKNOWN_TABLE (60), UNKNOWN_DATABASE (81): the schema is created again. */
const SCHEMA_CODES = new Set([60, 81]);

/** The `flows` table exists with columns that cannot take flowvis's rows. */
export class SchemaMismatchError extends Error {
  override name = "SchemaMismatchError";
}

/** The ClickHouse error code in an error's message ("Code: 60, …" or "Code: 60. …"). */
export function clickHouseErrorCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown })?.code;
  if (typeof code === "string" && /^\d+$/.test(code)) return Number(code);
  const m = /\bCode: (\d+)[.,]/.exec(err instanceof Error ? err.message : String(err));
  return m ? Number(m[1]) : undefined;
}

const INSERT_QUERY = (db: string) =>
  `INSERT INTO ${db}.${TABLE} (${INSERT_COLUMNS}) FORMAT RowBinary`;

/** Columns read back as numbers. */
const NUMERIC = new Set<string>([
  "timeInserted",
  ...FLOW_COLUMNS.filter((c) => c.type !== "String").map((c) => c.name),
]);

const encoder = new TextEncoder();

/**
 * The first octets of a spooled batch: its format. A spool left by an earlier version (whose
 * batches were TabSeparated text) must not be sent as RowBinary.
 */
const SPOOL_TAG = encoder.encode("RB01");

/**
 * gzip at level 1: a quarter of the CPU of CompressionStream's default level (110 against 450 ms
 * for a 50,000-row batch of 26 MB here) for a body 29 % larger (7.7 against 6.0 MB).
 */
function gzip(data: Uint8Array): Promise<Uint8Array<ArrayBuffer>> {
  return new Promise((resolve, reject) => {
    zlib.gzip(data, { level: 1 }, (err, out) => {
      if (err) reject(err);
      else resolve(new Uint8Array(out.buffer as ArrayBuffer, out.byteOffset, out.byteLength));
    });
  });
}

/**
 * `src` gzipped at level 1 as it comes. When fetch cancels the result (the connection broke),
 * `src` is cancelled too, so that its writer sees the failure, and zlib's later output is
 * ignored rather than thrown from an event callback (which would end the process).
 */
function gzipStream(src: ReadableStream<Uint8Array>): ReadableStream<Uint8Array<ArrayBuffer>> {
  const gz = zlib.createGzip({ level: 1 });
  const reader = src.getReader();
  let done = false;
  return new ReadableStream({
    start(c) {
      gz.on("data", (chunk: Uint8Array) => {
        if (done) return;
        c.enqueue(new Uint8Array(chunk.buffer as ArrayBuffer, chunk.byteOffset, chunk.byteLength));
      });
      gz.on("end", () => {
        if (done) return;
        done = true;
        c.close();
      });
      gz.on("error", (e: Error) => {
        if (done) return;
        done = true;
        c.error(e);
      });
      (async () => {
        try {
          while (true) {
            const { value, done: end } = await reader.read();
            if (end) break;
            if (!gz.write(value)) await new Promise((r) => gz.once("drain", r));
          }
          gz.end();
        } catch (e) {
          gz.destroy(e instanceof Error ? e : new Error(String(e)));
        }
      })();
    },
    cancel(reason) {
      done = true;
      gz.destroy();
      return reader.cancel(reason);
    },
  });
}

/**
 * The `fetch` the web client calls. The client sends a statement as a text body and cannot carry
 * binary data, so an INSERT is sent as a statement with a `query_id` found in `payloads`: the
 * statement moves to the URL's `query` parameter and the body becomes the batch's RowBinary
 * octets (the server reads the statement from the URL and the data from the body). With
 * `compress`, bodies of 1 KiB or more are gzipped (ClickHouse reads `Content-Encoding: gzip`
 * bodies, 18.16 included; the web client itself sends bodies uncompressed).
 */
function storeFetch(
  payloads: Map<string, Uint8Array | ReadableStream<Uint8Array>>,
  compress: boolean,
): typeof fetch {
  return async (input, init) => {
    let body = init?.body;
    if (typeof input === "string" || input instanceof URL) {
      const url = new URL(input);
      const id = url.searchParams.get("query_id");
      const data = id === null ? undefined : payloads.get(id);
      if (data !== undefined && typeof body === "string") {
        url.searchParams.set("query", body);
        input = url;
        if (data instanceof ReadableStream) {
          // Sent as it comes (chunked): the request starts before its last rows exist.
          const stream = compress ? gzipStream(data) : data;
          const headers = new Headers(init!.headers);
          if (compress) headers.set("Content-Encoding", "gzip");
          // `duplex` (a stream body) is not in Deno's RequestInit type yet.
          const streamed = { ...init, headers, body: stream, duplex: "half" };
          return fetch(input, streamed as unknown as RequestInit);
        }
        body = data as Uint8Array<ArrayBuffer>;
      }
    }
    if (compress && body != null && (typeof body === "string" || body instanceof Uint8Array)) {
      const size = typeof body === "string" ? body.length : body.length;
      if (size >= 1024) {
        body = await gzip(typeof body === "string" ? encoder.encode(body) : body);
        const headers = new Headers(init!.headers);
        headers.set("Content-Encoding", "gzip");
        return fetch(input, { ...init, body, headers });
      }
    }
    return fetch(input, { ...init, body });
  };
}

/** Checks the URL: http(s) only, with a clear word for `tcp://` (the native protocol). */
function checkUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new TypeError(`Invalid ClickHouse URL ${JSON.stringify(url)}`);
  }
  if (u.protocol === "http:" || u.protocol === "https:") return url;
  if (u.protocol === "tcp:" || u.protocol === "clickhouse:") {
    throw new TypeError(
      `ClickHouse URL ${url} names the native TCP protocol, which this client does not speak: ` +
        `write http://${u.hostname}:8123 (or https://${u.hostname}:8443)`,
    );
  }
  throw new TypeError(`ClickHouse URL ${url} must start with http:// or https://`);
}

function positive(name: string, v: number | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (!Number.isFinite(v) || v <= 0) throw new RangeError(`${name} must be positive, got ${v}`);
  return v;
}

/**
 * Writes flow rows to ClickHouse and reads them back.
 *
 * @example
 * ```ts
 * const store = new ClickHouseStore({ url: "http://127.0.0.1:8123", spoolDir: "/var/lib/flowvis/spool" });
 * await store.open();
 * store.write(rows);
 * await store.flush();
 * const recent = await store.query({ srcip: "10.10.0.5", limit: 20 });
 * await store.close();
 * ```
 */
export class ClickHouseStore implements FlowStore {
  readonly name = "clickhouse";
  readonly database: string;
  #client: ClickHouseClient;
  #log: Logger;
  #clock: Clock;
  #insertQuery: string;
  /** RowBinary bodies of the INSERTs in flight, by query id (see storeFetch). */
  readonly #payloads = new Map<string, Uint8Array | ReadableStream<Uint8Array>>();
  #interval: number;
  #queueLimit: number;
  #maxBatchRows: number;
  #spoolDir: string | undefined;
  #spoolMaxBytes: number;
  #retentionMs: number;
  #retentionCheckMs: number;
  #maxAttempts: number;
  #retryBase: number;
  #retryMax: number;
  readonly #requestTimeout: number;

  #queue: { data: Uint8Array; rows: number }[] = [];
  #queueRows = 0;
  #held: Batch[] = [];
  #heldRows = 0;
  #spool: Spool | undefined;

  #written = 0;
  #dropped = 0;
  #failures = 0;
  #consecutive = 0;
  #retryAt = 0;
  #nextCommitAt = 0;
  #schemaReady = false;
  #lastDropLog = -Infinity;
  #unloggedDrops = 0;

  #opened = false;
  #closed = false;
  #closing: Promise<void> | undefined;
  #lock: Promise<void> = Promise.resolve();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #retentionTimer: ReturnType<typeof setInterval> | undefined;
  #urgent = false;
  #tickQueued = false;
  /** Set while an INSERT's body waits for more rows: write() calls it. */
  #wake: (() => void) | undefined;

  constructor(options: ClickHouseStoreOptions) {
    const url = checkUrl(options.url);
    this.database = checkDatabaseName(options.database ?? "default");
    this.#log = options.logger ?? silentLogger;
    this.#clock = options.clock ?? Date.now;
    this.#insertQuery = INSERT_QUERY(this.database);
    this.#interval = positive("commitIntervalMs", options.commitIntervalMs, 8000);
    this.#queueLimit = positive("queueLimit", options.queueLimit, 200_000);
    this.#maxBatchRows = positive("maxBatchRows", options.maxBatchRows, DEFAULT_MAX_BATCH_ROWS);
    this.#spoolDir = options.spoolDir;
    this.#spoolMaxBytes = positive("spoolMaxBytes", options.spoolMaxBytes, 1 << 30);
    this.#retentionMs = options.retentionMs ?? 12 * 3600_000;
    if (!(this.#retentionMs >= 0)) {
      throw new RangeError(`retentionMs must be 0 or more, got ${this.#retentionMs}`);
    }
    this.#retentionCheckMs = positive("retentionCheckMs", options.retentionCheckMs, 600_000);
    this.#maxAttempts = positive("maxAttempts", options.maxAttempts, 3);
    this.#retryBase = positive("retryBaseMs", options.retryBaseMs, 250);
    this.#retryMax = positive("retryMaxMs", options.retryMaxMs, 30_000);
    this.#requestTimeout = positive("requestTimeoutMs", options.requestTimeoutMs, 30_000);
    this.#client = createClient({
      url,
      username: options.username ?? "default",
      password: options.password ?? "",
      request_timeout: this.#requestTimeout,
      compression: { response: options.compress === true },
      log: { level: 127 }, // OFF: failures are logged here, once, with their context
      fetch: storeFetch(this.#payloads, options.compress === true),
    });
  }

  /**
   * Opens the spool, creates the database and the `flows` table if missing, and starts the
   * commit loop and retention. A server that cannot be reached is logged and tried again by the
   * loop (rows meanwhile queue and spool); a server that answers with an error (bad password,
   * no rights) makes it reject.
   */
  async open(): Promise<void> {
    if (this.#opened) return;
    if (this.#closed) throw new Error("ClickHouse store is closed");
    if (this.#spoolDir !== undefined) {
      this.#spool = await Spool.open({
        dir: this.#spoolDir,
        maxBytes: this.#spoolMaxBytes,
        logger: this.#log,
      });
    }
    this.#opened = true;
    try {
      await this.#createSchema();
    } catch (err) {
      if (err instanceof SchemaMismatchError) {
        this.#opened = false;
        throw err;
      }
      if (clickHouseErrorCode(err) !== undefined) {
        this.#opened = false;
        throw new Error(`ClickHouse refused to create the flows table: ${message(err)}`, {
          cause: err,
        });
      }
      this.#failed(err, "create the flows table");
    }
    this.#nextCommitAt = this.#clock() + this.#interval;
    if (this.#retentionMs > 0) {
      this.#retentionTimer = setInterval(() => {
        this.retention().catch((err) =>
          this.#log.warn("Retention failed", { error: message(err) })
        );
      }, this.#retentionCheckMs);
      if (this.#schemaReady) {
        await this.retention().catch((err) =>
          this.#log.warn("Retention failed", { error: message(err) })
        );
      }
    }
    this.#urgent = (this.#spool?.files ?? 0) > 0;
    this.#schedule();
  }

  async #createSchema(): Promise<void> {
    await this.#client.command({ query: createDatabaseSql(this.database) });
    await this.#client.command({ query: createTableSql(this.database) });
    // A table left by something else (or another flowvis version) would take RowBinary rows
    // column by column in the wrong shape: refuse it rather than store garbage.
    const rs = await this.#client.query({
      query: `DESCRIBE TABLE ${this.database}.${TABLE}`,
      format: "JSONEachRow",
    });
    const problems = schemaMismatch(await rs.json<{ name: string; type: string }>());
    if (problems.length > 0) {
      throw new SchemaMismatchError(
        `The table ${this.database}.${TABLE} in ClickHouse does not match the rows flowvis writes ` +
          `(${problems.slice(0, 5).join("; ")}${problems.length > 5 ? "; …" : ""}): ` +
          `drop it, rename it, or set another database (clickHouse.database)`,
      );
    }
    this.#schemaReady = true;
  }

  /** Hands rows over: encoded and queued at once; never blocks, never throws. */
  write(rows: readonly FlowRow[]): void {
    if (rows.length === 0) return;
    if (this.#closed) {
      this.#drop(rows.length, "store is closed");
      return;
    }
    const room = this.#queueLimit - this.#queueRows - this.#heldRows;
    let take = rows;
    if (rows.length > room) {
      take = room > 0 ? rows.slice(0, room) : [];
      this.#drop(rows.length - take.length, "queue full");
      if (take.length === 0) return;
    }
    let data: Uint8Array;
    try {
      data = encodeRowBinary(take);
    } catch (err) {
      this.#drop(take.length, `rows cannot be encoded: ${message(err)}`);
      return;
    }
    this.#queue.push({ data, rows: take.length });
    this.#queueRows += take.length;
    this.#wake?.();
    if (
      this.#opened &&
      (this.#queueRows >= this.#maxBatchRows || this.#queueRows * 2 >= this.#queueLimit)
    ) {
      this.#urgent = true;
      this.#schedule(0);
    }
  }

  /** Commits now: resolves when every row handed over so far is written, spooled or dropped. */
  flush(): Promise<void> {
    return this.#run("flush");
  }

  /** Flushes, then stops the loop and the client; rows that still fail go to the spool. */
  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closing = (async () => {
      clearTimeout(this.#timer);
      // Rows handed over while a close cycle runs wait in the queue: one more cycle takes them
      // (to the server, the spool or the drop count), until none came in meanwhile.
      if (this.#opened) {
        do await this.#run("close"); while (this.#queueRows > 0);
      }
      this.#closed = true;
      clearTimeout(this.#timer);
      clearInterval(this.#retentionTimer);
      if (!this.#opened && this.#queueRows > 0) {
        const n = this.#queueRows;
        this.#queue = [];
        this.#queueRows = 0;
        this.#drop(n, "store closed before it was opened");
      }
      await this.#client.close();
    })();
    return this.#closing;
  }

  /** The sink's counters. */
  stats(): ClickHouseStats {
    return {
      queued: this.#queueRows + this.#heldRows,
      written: this.#written,
      dropped: this.#dropped + (this.#spool?.corruptRows ?? 0),
      failures: this.#failures,
      spooledRows: this.#spool?.rows ?? 0,
      spoolBytes: this.#spool?.bytes ?? 0,
      corruptSpoolFiles: this.#spool?.corruptFiles ?? 0,
      down: this.#consecutive > 0,
    };
  }

  // -------------------------------------------------------------------------------------------
  // The commit loop.

  /** Runs one cycle after those already running. */
  #run(mode: "tick" | "flush" | "close"): Promise<void> {
    const next = this.#lock.then(() => this.#cycle(mode)).catch((err) => {
      this.#log.error("ClickHouse commit cycle failed", { error: message(err) });
    });
    this.#lock = next;
    return next.finally(() => {
      if (!this.#closed && mode !== "close") this.#schedule();
    });
  }

  /** Arms the loop's timer: the next commit, or the next retry when the server is down. */
  #schedule(delay?: number): void {
    if (this.#closed || this.#closing) return;
    clearTimeout(this.#timer);
    if (delay === undefined) {
      const now = this.#clock();
      let at = this.#nextCommitAt;
      if (this.#urgent) at = now;
      else if (this.#consecutive > 0 && this.#hasBacklog()) at = Math.min(at, this.#retryAt);
      delay = Math.max(0, at - now);
    }
    this.#timer = setTimeout(() => {
      if (this.#tickQueued) return;
      this.#tickQueued = true;
      void this.#run("tick");
    }, delay);
  }

  #hasBacklog(): boolean {
    return this.#held.length > 0 || (this.#spool?.files ?? 0) > 0;
  }

  async #cycle(mode: "tick" | "flush" | "close"): Promise<void> {
    if (mode === "tick") this.#tickQueued = false;
    const now = this.#clock();
    const urgent = this.#urgent;
    this.#urgent = false;
    if (mode !== "tick" || urgent || now >= this.#nextCommitAt) {
      this.#takeQueue();
      this.#nextCommitAt = now + this.#interval;
    }
    if (mode === "tick") {
      if (this.#consecutive === 0 || now >= this.#retryAt) await this.#deliver();
    } else {
      // flush and close try harder: retries with backoff, then the spool.
      for (let attempt = 1; attempt <= this.#maxAttempts; attempt++) {
        if (await this.#deliver()) break;
        if (attempt < this.#maxAttempts) await sleep(this.#backoff());
      }
    }
    await this.#spoolHeld(mode);
  }

  /** Moves the queue into batches of at most `maxBatchRows` rows at the end of `#held`. */
  #takeQueue(): void {
    if (this.#queueRows === 0) return;
    let chunks: Uint8Array[] = [];
    let rows = 0;
    for (const chunk of this.#queue) {
      if (rows > 0 && rows + chunk.rows > this.#maxBatchRows) {
        this.#held.push({ data: concat(chunks), rows, attempts: 0 });
        chunks = [];
        rows = 0;
      }
      chunks.push(chunk.data);
      rows += chunk.rows;
    }
    if (rows > 0) this.#held.push({ data: concat(chunks), rows, attempts: 0 });
    this.#heldRows += this.#queueRows;
    this.#queue = [];
    this.#queueRows = 0;
  }

  /**
   * Sends the spool's batches, oldest first, then the held batches; stops at the first failure.
   * Resolves true when nothing is left to send.
   */
  async #deliver(): Promise<boolean> {
    if (!this.#schemaReady) {
      try {
        await this.#createSchema();
      } catch (err) {
        this.#failed(err, "create the flows table");
        if (this.#held[0]) this.#held[0].attempts++;
        return false;
      }
    }
    const spool = this.#spool;
    while (spool && spool.files > 0) {
      const entry = await spool.peek();
      if (!entry) break;
      const p = entry.payload;
      if (p.length < SPOOL_TAG.length || SPOOL_TAG.some((b, i) => p[i] !== b)) {
        await spool.remove(entry);
        this.#drop(entry.rows, "a spooled batch in a format this version does not write");
        continue;
      }
      const result = await this.#send(
        p.subarray(SPOOL_TAG.length),
        () => entry.rows,
        "spooled batch",
      );
      if (result === "retry") return false;
      await spool.remove(entry);
      if (result === "ok") this.#written += entry.rows;
      else this.#drop(entry.rows, "the server refused a spooled batch");
    }
    while (this.#held.length > 0) {
      let retry = false;
      for (const { result, batches } of await this.#stream()) {
        if (result === "retry") {
          for (const b of batches) b.attempts++;
          retry = true;
        } else if (result === "rejected" && batches.length > 1) {
          // One INSERT a batch, to drop only what the server refuses.
          for (const b of batches) {
            const one = retry ? "retry" : await this.#send(b.data, () => b.rows, "batch");
            if (one === "retry") {
              b.attempts++;
              retry = true;
            } else this.#settle([b], one);
          }
        } else {
          this.#settle(batches, result);
        }
      }
      if (retry) return false;
    }
    return true;
  }

  /** Takes `batches`, the first of `#held`, out of it as written or refused. */
  #settle(batches: readonly Batch[], result: "ok" | "rejected"): void {
    for (const b of batches) {
      this.#held.splice(this.#held.indexOf(b), 1);
      this.#heldRows -= b.rows;
      if (result === "ok") this.#written += b.rows;
      else this.#drop(b.rows, "the server refused a batch");
    }
  }

  /**
   * INSERTs whose bodies stream the held batches, then the rows handed over while they run,
   * until none came for STREAM_IDLE_MS or they hold STREAM_MAX_ROWS rows. The server parses
   * while the rest is still being encoded, and writes one part (and merges none) for what would
   * have been many INSERTs: `deno task bench clickhouse` measured half the server's CPU of
   * 25,000-row INSERTs. Once the first holds STREAM_SPLIT_ROWS and rows keep coming, a second
   * INSERT takes every other batch: the server parses each in its own thread.
   */
  async #stream(): Promise<{ result: SendResult; batches: Batch[] }[]> {
    interface Lane {
      controller: ReadableStreamDefaultController<Uint8Array>;
      batches: Batch[];
      rows: number;
      open: boolean;
      sent: Promise<SendResult>;
    }
    const lanes: Lane[] = [];
    const openLane = (): Lane => {
      let controller!: ReadableStreamDefaultController<Uint8Array>;
      const body = new ReadableStream<Uint8Array>({ start: (c) => void (controller = c) });
      const lane: Lane = { controller, batches: [], rows: 0, open: true, sent: undefined! };
      lane.sent = this.#send(body, () => lane.rows, "streamed batch").finally(() =>
        lane.open = false
      );
      lanes.push(lane);
      return lane;
    };
    const splitRows = Math.min(STREAM_SPLIT_ROWS, Math.floor(this.#queueLimit / 8));
    // Rows in flight stay held (for a retry) and count against the queue's limit: half of it
    // is left for the rows that come in meanwhile. The body must also end well before the
    // request's timeout, which counts from its first octet.
    const maxRows = Math.min(STREAM_MAX_ROWS, Math.floor(this.#queueLimit / 2));
    const maxMs = Math.min(STREAM_MAX_MS, this.#requestTimeout / 4);
    let fed = 0; // held batches handed to a lane
    let rows = 0;
    const feed = () => {
      for (let b = this.#held[fed]; b && rows < maxRows; b = this.#held[fed]) {
        let lane = lanes.length === 0
          ? openLane()
          : lanes.length === 1 && lanes[0]!.rows >= splitRows
          ? openLane()
          : lanes.reduce((a, l) => (l.rows < a.rows ? l : a));
        if (!lane.open) {
          const open = lanes.find((l) => l.open);
          if (!open) return;
          lane = open;
        }
        try {
          lane.controller.enqueue(b.data);
        } catch {
          lane.open = false; // the request failed and cancelled its body
          continue;
        }
        lane.batches.push(b);
        lane.rows += b.rows;
        rows += b.rows;
        fed++;
      }
    };
    feed();
    const started = this.#clock();
    const anyOpen = () => lanes.some((l) => l.open);
    while (anyOpen() && rows < maxRows && this.#clock() - started < maxMs) {
      if (this.#queueRows === 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, STREAM_IDLE_MS);
          this.#wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.#wake = undefined;
        if (this.#queueRows === 0) break;
      }
      this.#takeQueue();
      feed();
    }
    for (const lane of lanes) {
      try {
        lane.controller.close();
      } catch { /* already failed */ }
    }
    const results = await Promise.all(lanes.map((l) => l.sent));
    return lanes.map((l, i) => ({ result: results[i]!, batches: l.batches }));
  }

  /**
   * One INSERT. `rows` is read when the outcome is logged: a streaming body's count is known
   * only once it is complete.
   */
  async #send(
    data: Uint8Array | ReadableStream<Uint8Array>,
    rows: () => number,
    what: string,
  ): Promise<SendResult> {
    const id = crypto.randomUUID();
    this.#payloads.set(id, data);
    try {
      await this.#client.command({ query: this.#insertQuery, query_id: id });
      if (this.#consecutive > 0) {
        this.#log.info("ClickHouse takes rows again", { after: this.#consecutive });
      }
      this.#consecutive = 0;
      return "ok";
    } catch (err) {
      const code = clickHouseErrorCode(err);
      if (code !== undefined && SCHEMA_CODES.has(code)) this.#schemaReady = false;
      if (code !== undefined && PERMANENT_CODES.has(code)) {
        this.#failures++;
        this.#log.error("ClickHouse refused a batch for good", {
          what,
          rows: rows(),
          error: message(err),
        });
        return "rejected";
      }
      this.#failed(err, `insert a ${what} of ${rows()} rows`);
      return "retry";
    } finally {
      this.#payloads.delete(id);
    }
  }

  /** Counts a failed request and pushes the next retry back (exponential backoff). */
  #failed(err: unknown, what: string): void {
    this.#failures++;
    this.#consecutive++;
    const delay = this.#backoff();
    this.#retryAt = this.#clock() + delay;
    const fields = { error: message(err), failures: this.#consecutive, retryInMs: delay };
    if (this.#consecutive === 1) this.#log.warn(`Cannot ${what} in ClickHouse`, fields);
    else this.#log.debug(`Cannot ${what} in ClickHouse`, fields);
  }

  #backoff(): number {
    const n = Math.max(0, this.#consecutive - 1);
    return Math.min(this.#retryBase * 2 ** Math.min(n, 30), this.#retryMax);
  }

  /**
   * Moves failed batches to the spool, in order, after what is already there: all of them when
   * the first has had its tries, when the spool's own batches cannot be sent (newer rows wait
   * behind them anyway), or on flush and close. Without a spool they stay in memory, except at
   * close, where they are dropped.
   */
  async #spoolHeld(mode: "tick" | "flush" | "close"): Promise<void> {
    if (this.#held.length === 0) return;
    const spool = this.#spool;
    if (!spool) {
      if (mode === "close") {
        const n = this.#heldRows;
        this.#held = [];
        this.#heldRows = 0;
        this.#drop(n, "the server is unreachable at close and there is no spool");
      }
      return;
    }
    const first = this.#held[0]!;
    if (mode === "tick" && first.attempts < this.#maxAttempts && spool.files === 0) return;
    while (this.#held.length > 0) {
      const b = this.#held.shift()!;
      this.#heldRows -= b.rows;
      let ok = false;
      try {
        ok = await spool.append(concat([SPOOL_TAG, b.data]), b.rows);
      } catch (err) {
        this.#log.error("Cannot write to the spool", { dir: spool.dir, error: message(err) });
      }
      if (!ok) this.#drop(b.rows, "spool full");
    }
  }

  #drop(rows: number, why: string): void {
    this.#dropped += rows;
    this.#unloggedDrops += rows;
    const now = this.#clock();
    if (now - this.#lastDropLog >= 10_000 || why !== "queue full") {
      this.#log.error("ClickHouse sink dropped rows", {
        rows: this.#unloggedDrops,
        reason: why,
        droppedTotal: this.#dropped,
      });
      this.#lastDropLog = now;
      this.#unloggedDrops = 0;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Queries and retention.

  /** Rows matching `q`, newest `flowEndSeconds` first, at most `q.limit` (1000 by default). */
  async query(q: FlowQuery): Promise<StoredFlowRow[]> {
    const rs = await this.#client.query({
      query: selectSql(this.database, q),
      format: "JSONEachRow",
    });
    const raw = await rs.json<Record<string, unknown>>();
    return raw.map((r) => {
      const row: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(r)) row[k] = NUMERIC.has(k) ? Number(v) : v;
      return row as unknown as StoredFlowRow;
    });
  }

  /** Rows in the table. */
  async count(): Promise<number> {
    return Number(await this.#scalar(`SELECT count() AS n FROM ${this.database}.${TABLE}`));
  }

  async #scalar(sql: string): Promise<unknown> {
    const rs = await this.#client.query({ query: sql, format: "JSONEachRow" });
    const rows = await rs.json<{ n: unknown }>();
    return rows[0]?.n;
  }

  /** The hour partitions of the table (their Unix start times). */
  async #partitions(): Promise<number[]> {
    const rs = await this.#client.query({
      query: `SELECT DISTINCT partition_id AS id FROM system.parts WHERE database = ${
        quoteString(this.database)
      } AND table = ${quoteString(TABLE)} AND active`,
      format: "JSONEachRow",
    });
    const rows = await rs.json<{ id: string }>();
    return rows.map((r) => r.id).filter((id) => /^\d+$/.test(id)).map(Number).sort((a, b) => a - b);
  }

  /** Drops the partitions whose every row was inserted before `before` (Unix seconds). */
  async #dropPartitionsBefore(before: number): Promise<number> {
    let n = 0;
    for (const start of await this.#partitions()) {
      if (start + PARTITION_SECONDS > before) continue;
      await this.#client.command({
        query: `ALTER TABLE ${this.database}.${TABLE} DROP PARTITION ID '${start}'`,
      });
      n++;
    }
    return n;
  }

  /**
   * Applies retention now: drops the partitions entirely older than `retentionMs`. Runs every
   * `retentionCheckMs` by itself; resolves with the number of partitions dropped.
   */
  async retention(): Promise<number> {
    if (this.#retentionMs <= 0) return 0;
    const cutoff = Math.floor((this.#clock() - this.#retentionMs) / 1000);
    const n = await this.#dropPartitionsBefore(cutoff);
    if (n > 0) this.#log.info("Retention dropped partitions", { partitions: n, before: cutoff });
    return n;
  }

  /**
   * Deletes rows inserted before `before` (Unix seconds): whole partitions are dropped, the rest
   * deleted with a mutation that this waits for (up to 60 s). Resolves with the rows deleted.
   */
  async purge(before: number): Promise<number> {
    if (!Number.isInteger(before) || before < 0 || before > 4294967295) {
      throw new TypeError(`purge() needs Unix seconds, got ${before}`);
    }
    const where = `timeInserted < toDateTime(${before})`;
    const table = `${this.database}.${TABLE}`;
    const n = Number(await this.#scalar(`SELECT count() AS n FROM ${table} WHERE ${where}`));
    if (n === 0) return 0;
    await this.#dropPartitionsBefore(before);
    const left = Number(await this.#scalar(`SELECT count() AS n FROM ${table} WHERE ${where}`));
    if (left > 0) {
      await this.#client.command({ query: `ALTER TABLE ${table} DELETE WHERE ${where}` });
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline) {
        const pending = Number(
          await this.#scalar(
            `SELECT count() AS n FROM system.mutations WHERE database = ${
              quoteString(this.database)
            } AND table = ${quoteString(TABLE)} AND is_done = 0`,
          ),
        );
        if (pending === 0) break;
        await sleep(50);
      }
    }
    return n;
  }
}

/** The octets of `parts`, one after the other (the part itself when there is one). */
function concat(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  n = 0;
  for (const p of parts) {
    out.set(p, n);
    n += p.length;
  }
  return out;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
