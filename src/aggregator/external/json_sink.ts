/**
 * The JSON sink of the external flow collector: one JSON object per aggregated flow, as lines
 * over TCP or as datagrams over UDP, with a bounded queue and reconnection with backoff.
 *
 * @module
 */

import { type Endpoint, formatHostPort, parseAddress, Reconnector } from "../../ipfix/mod.ts";
import { createLogger, type Logger } from "../../log/mod.ts";
import type { FlowRow, FlowSink, SinkStats } from "../../store/mod.ts";
import { jsonDatagrams, MIN_JSON_DATAGRAM, rowToJson } from "./json_record.ts";

/** Largest UDP payload over IPv4 (65535 − 20 − 8). */
export const MAX_UDP_PAYLOAD = 65507;

/** Options of a {@link JsonCollectorSink}. */
export interface JsonCollectorSinkOptions {
  /** `HOST:PORT[:tcp|udp]` (tcp when left out), or a parsed endpoint. */
  address: string | Endpoint;
  /** Rows that may wait while the collector is unreachable; older ones are dropped (65536). */
  queueLimit?: number;
  /**
   * Over UDP, the largest datagram (65507 by default; 1472 keeps IPv4 datagrams unfragmented on
   * a 1500 MTU path). A flow that does not fit is split, see {@link jsonDatagrams}.
   */
  maxDatagramSize?: number;
  /** First reconnect delay (1 s); it doubles up to `maxBackoffMs` (30 s). */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** How long `flush` waits for the queue to drain (30 s). */
  flushTimeoutMs?: number;
  /** How long `close` waits for the queue to drain before dropping what is left (5 s). */
  closeTimeoutMs?: number;
  /** Clock for rate-limiting drop logs. */
  clock?: () => number;
  logger?: Logger;
}

/** Rows (or lines) written per TCP write. */
const BATCH = 1024;
/** Drops are logged at most this often. */
const DROP_LOG_INTERVAL_MS = 10_000;

interface Item {
  /** One text per datagram (UDP), or the single line (TCP). */
  texts: string[];
}

const utf8 = new TextEncoder();

/**
 * Sends aggregated flows to a collector as JSON. Over TCP each flow is one line (`\n`-ended);
 * over UDP each flow is one datagram holding one object (split into parts when too large). The
 * objects are {@link rowToJson}'s.
 *
 * Rows are serialised when written and queued (at most `queueLimit`; the oldest are dropped,
 * counted and logged when it is full). A background loop connects, writes the queue, and
 * reconnects with exponential backoff when the collector is down or closes the connection; a
 * TCP write that fails puts its unwritten lines back in front of the queue (a line cut in the
 * middle is sent again whole). UDP datagrams that cannot be sent are lost, counted as dropped.
 *
 * @example
 * ```ts
 * import { emptyFlowRow } from "../../store/mod.ts";
 * const sink = new JsonCollectorSink({ address: "127.0.0.1:4740:tcp" });
 * sink.write([{ ...emptyFlowRow(), sourceIP: "10.0.0.1", destinationIP: "10.0.0.2" }]);
 * await sink.close();
 * ```
 */
export class JsonCollectorSink implements FlowSink {
  readonly name = "json";
  readonly endpoint: Endpoint;
  readonly #log: Logger;
  readonly #clock: () => number;
  readonly #queueLimit: number;
  readonly #maxDatagram: number;
  readonly #flushTimeout: number;
  readonly #closeTimeout: number;
  #queue: Item[] = [];
  #head = 0;
  #conn: Deno.Conn | null = null;
  #udp: Deno.DatagramConn | null = null;
  #pumping = false;
  #pumpDone: Promise<void> = Promise.resolve();
  #closed = false;
  #closing: Promise<void> | null = null;
  #everConnected = false;
  readonly #reconnector: Reconnector;
  #idle: (() => void)[] = [];
  #loop: Promise<void>;
  #lastDropLog = -Infinity;
  #written = 0;
  #dropped = 0;
  #failures = 0;

  constructor(options: JsonCollectorSinkOptions) {
    this.endpoint = typeof options.address === "string"
      ? parseAddress(options.address, "tcp")
      : options.address;
    if (this.endpoint.protocol === "tls") {
      throw new TypeError(
        `Invalid JSON collector address "${this.address}": the protocol must be tcp or udp`,
      );
    }
    this.#log = options.logger ?? createLogger("json-collector-sink");
    this.#clock = options.clock ?? Date.now;
    this.#queueLimit = options.queueLimit ?? 65536;
    if (!Number.isInteger(this.#queueLimit) || this.#queueLimit < 1) {
      throw new RangeError(`Invalid queue limit ${this.#queueLimit}: expected a positive integer`);
    }
    this.#maxDatagram = options.maxDatagramSize ?? MAX_UDP_PAYLOAD;
    if (
      !Number.isInteger(this.#maxDatagram) || this.#maxDatagram < MIN_JSON_DATAGRAM ||
      this.#maxDatagram > MAX_UDP_PAYLOAD
    ) {
      throw new RangeError(
        `Invalid datagram size ${this.#maxDatagram}: expected an integer from ${MIN_JSON_DATAGRAM} to ${MAX_UDP_PAYLOAD}`,
      );
    }
    this.#flushTimeout = options.flushTimeoutMs ?? 30_000;
    this.#closeTimeout = options.closeTimeoutMs ?? 5_000;
    this.#reconnector = new Reconnector({
      initialBackoffMs: options.initialBackoffMs,
      maxBackoffMs: options.maxBackoffMs,
      clock: this.#clock,
      isClosed: () => this.#closed,
      connect: () => this.#connect(),
      disconnect: () => this.#dropConnection(),
      onConnected: () => void this.#pump(),
      onFailure: (error, retryInMs) => {
        this.#failures++;
        this.#log.warn("Cannot connect to the collector", {
          collector: this.address,
          error,
          retryInMs,
        });
      },
    });
    this.#loop = this.#reconnector.run();
  }

  /** The collector as `host:port:protocol`. */
  get address(): string {
    return `${formatHostPort(this.endpoint.host, this.endpoint.port)}:${this.endpoint.protocol}`;
  }

  #queued(): number {
    return this.#queue.length - this.#head;
  }

  write(rows: readonly FlowRow[]): void {
    let bad = 0;
    let error: unknown;
    let full = 0;
    for (const row of rows) {
      if (this.#closed) {
        bad++;
        error = new Error("The sink is closed");
        continue;
      }
      let item: Item;
      try {
        const o = rowToJson(row);
        item = {
          texts: this.endpoint.protocol === "udp"
            ? jsonDatagrams(o, this.#maxDatagram)
            : [JSON.stringify(o) + "\n"],
        };
      } catch (e) {
        bad++;
        error = e;
        continue;
      }
      if (this.#queued() >= this.#queueLimit) {
        this.#head++;
        full++;
      }
      this.#queue.push(item);
    }
    if (bad > 0) this.#drop(bad, "Rows not exportable", { error });
    if (full > 0) this.#drop(full, "Queue full, dropping oldest rows", { limit: this.#queueLimit });
    this.#compact();
    if (this.#connected() && !this.#pumping) void this.#pump();
  }

  flush(): Promise<void> {
    return this.#drain(this.#flushTimeout).then(() => {});
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    await this.#drain(this.#closeTimeout);
    this.#closed = true;
    this.#reconnector.wake();
    // A write still under way fails now and puts its lines back: they are counted below.
    this.#dropConnection();
    await this.#loop;
    await this.#pumpDone;
    const left = this.#queued();
    this.#queue = [];
    this.#head = 0;
    if (left > 0) this.#drop(left, "Closed with unsent rows", {}, true);
  }

  stats(): SinkStats {
    return {
      queued: this.#queued(),
      written: this.#written,
      dropped: this.#dropped,
      failures: this.#failures,
      spooledRows: 0,
      spoolBytes: 0,
    };
  }

  #drop(n: number, msg: string, fields: Record<string, unknown>, always = false): void {
    this.#dropped += n;
    const now = this.#clock();
    if (always || now - this.#lastDropLog >= DROP_LOG_INTERVAL_MS) {
      this.#lastDropLog = now;
      this.#log.warn(msg, { collector: this.address, rows: n, dropped: this.#dropped, ...fields });
    }
  }

  /** Resolves true once the queue is empty and nothing is being written, false after `ms`. */
  #drain(ms: number): Promise<boolean> {
    if (this.#queued() === 0 && !this.#pumping) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#idle = this.#idle.filter((f) => f !== done);
        resolve(false);
      }, ms);
      const done = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.#idle.push(done);
    });
  }

  #connected(): boolean {
    return this.#conn !== null || this.#udp !== null;
  }

  async #connect(): Promise<void> {
    const { host, port, protocol } = this.endpoint;
    if (protocol === "udp") {
      const local = host.includes(":") ? "::" : "0.0.0.0";
      this.#udp = Deno.listenDatagram({ transport: "udp", hostname: local, port: 0 });
    } else {
      const conn = await Deno.connect({ hostname: host, port, transport: "tcp" });
      if (this.#closed) {
        conn.close();
        return;
      }
      conn.setNoDelay(true);
      this.#conn = conn;
      // Collectors send nothing: any read result is the end of the connection.
      void (async () => {
        const buf = new Uint8Array(512);
        try {
          while ((await conn.read(buf)) !== null) { /* discard */ }
        } catch {
          // Reset, or closed locally.
        }
        if (this.#conn !== conn) return;
        if (!this.#closed) {
          this.#log.warn("Collector closed the connection", { collector: this.address });
        }
        this.#dropConnection();
      })();
    }
    this.#log.info(
      this.#everConnected ? "Reconnected to the collector" : "Connected to the collector",
      {
        collector: this.address,
      },
    );
    this.#everConnected = true;
  }

  #dropConnection(): void {
    try {
      this.#conn?.close();
    } catch {
      // Already closed.
    }
    try {
      this.#udp?.close();
    } catch {
      // Already closed.
    }
    this.#conn = null;
    this.#udp = null;
    this.#reconnector.lost();
  }

  #pump(): Promise<void> {
    if (this.#pumping) return this.#pumpDone;
    this.#pumping = true;
    this.#pumpDone = this.#pumpLoop();
    return this.#pumpDone;
  }

  async #pumpLoop(): Promise<void> {
    try {
      while (this.#connected() && this.#queued() > 0) {
        if (this.#udp) await this.#sendDatagrams(this.#udp);
        else if (this.#conn && !(await this.#sendLines(this.#conn))) return;
      }
    } finally {
      this.#pumping = false;
      if (this.#queued() === 0) {
        const waiters = this.#idle;
        this.#idle = [];
        for (const w of waiters) w();
      } else if (this.#connected()) {
        queueMicrotask(() => void this.#pump());
      }
    }
  }

  /** Sends the next item's datagrams; one that cannot be sent loses its row. */
  async #sendDatagrams(udp: Deno.DatagramConn): Promise<void> {
    const item = this.#queue[this.#head++]!;
    this.#compact();
    try {
      for (const text of item.texts) {
        await udp.send(utf8.encode(text), {
          transport: "udp",
          hostname: this.endpoint.host,
          port: this.endpoint.port,
        });
      }
      this.#written++;
    } catch (e) {
      this.#failures++;
      this.#drop(1, "Cannot send to the collector", { error: e });
    }
  }

  /** Writes a batch of lines; false (and the connection dropped) when the write fails. */
  async #sendLines(conn: Deno.Conn): Promise<boolean> {
    const n = Math.min(this.#queued(), BATCH);
    const batch = this.#queue.slice(this.#head, this.#head + n);
    this.#head += n;
    this.#compact();
    const lines = batch.map((it) => utf8.encode(it.texts[0]!));
    const bytes = new Uint8Array(lines.reduce((s, l) => s + l.length, 0));
    let o = 0;
    for (const l of lines) {
      bytes.set(l, o);
      o += l.length;
    }
    let off = 0;
    try {
      while (off < bytes.length) off += await conn.write(bytes.subarray(off));
    } catch (e) {
      // Lines written whole count; the rest go back in front of the queue.
      let sent = 0;
      let end = 0;
      for (const l of lines) {
        end += l.length;
        if (end > off) break;
        sent++;
      }
      this.#written += sent;
      this.#failures++;
      this.#requeue(batch.slice(sent));
      this.#log.warn("Connection lost", { collector: this.address, error: e });
      if (this.#conn === conn) this.#dropConnection();
      return false;
    }
    this.#written += n;
    return true;
  }

  #requeue(items: Item[]): void {
    this.#queue = [...items, ...this.#queue.slice(this.#head)];
    this.#head = 0;
    const over = this.#queued() - this.#queueLimit;
    if (over > 0) {
      this.#head += over;
      this.#drop(over, "Queue full, dropping oldest rows", { limit: this.#queueLimit });
    }
  }

  #compact(): void {
    if (this.#head > 4096 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
  }
}
