/**
 * The exporting process: sends templates and data records to one collector over TLS, TCP or UDP,
 * reconnects with exponential backoff, and buffers records while disconnected. RFC 7011 §10
 *
 * @module
 */

import { lookup } from "node:dns/promises";
import { createLogger, type Logger } from "../log/mod.ts";
import { type Endpoint, formatHostPort, parseAddress } from "./address.ts";
import { type CompiledTemplate, compileTemplate } from "./compile.ts";
import { MAX_MESSAGE_SIZE, MessageEncoder, udpMessageSize } from "./encoder.ts";
import { Reconnector } from "./reconnect.ts";
import { type Clock, type DataRecord, systemClock, type Template } from "./types.ts";

/** Client side TLS settings. */
export interface TlsClientOptions {
  /** PEM CA certificates that may sign the collector's certificate (system roots otherwise). */
  caCerts?: string[];
  /** PEM client certificate, for collectors that require mutual TLS. */
  cert?: string;
  /** PEM private key of the client certificate. */
  key?: string;
}

/** Options of an {@link ExportingProcess}. */
export interface ExportingProcessOptions {
  /** Collector address `HOST:[PORT][:PROTO]` (default protocol tls), or a parsed endpoint. */
  address: string | Endpoint;
  observationDomainId: number;
  /** Templates to send first on every connection. More may be added with `addTemplate`. */
  templates?: Template[];
  tls?: TlsClientOptions;
  /** Path MTU for UDP (default 1500, at least 512). */
  mtu?: number;
  /**
   * Template resend interval over UDP, 600 s by default (RFC 7011 §8.4): the templates go out again
   * ahead of the first records sent this long after they last did.
   */
  templateRefreshMs?: number;
  /** Records that may wait while the collector is unreachable; older ones are dropped. */
  bufferLimit?: number;
  /** First reconnect delay (1 s); it doubles up to `maxBackoffMs` (30 s). */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  clock?: Clock;
  logger?: Logger;
  /**
   * Resolves the collector's host name for UDP: `node:dns` `lookup` (the system's resolver,
   * /etc/hosts included) by default. Tests pass their own.
   */
  resolve?: (host: string) => Promise<{ address: string; family: number }>;
}

/** Counters of an exporting process. */
export interface ExporterStats {
  connected: boolean;
  recordsSent: number;
  messagesSent: number;
  bytesSent: number;
  /** Records dropped because the buffer was full while disconnected. */
  recordsDropped: number;
  /** Records rejected because a value did not fit its element's type. */
  recordsInvalid: number;
  /** Records still buffered when the process was closed. */
  recordsUnsent: number;
  /** Records in UDP datagrams that could not be sent (lost; TCP/TLS records are resent). */
  recordsFailed: number;
  /** Connections re-established after one was lost. */
  reconnects: number;
  connectFailures: number;
  sendErrors: number;
  /** Records waiting to be sent. */
  queued: number;
}

interface Item {
  t: CompiledTemplate;
  r: DataRecord;
}

const BATCH = 4096;
/** Wait after a TLS handshake for a late refusal of the client certificate. */
const TLS_SETTLE_MS = 250;

/** Resolves when the peer ends the stream: collectors send nothing, so any read result is the end. */
async function watchEnd(conn: Deno.Conn): Promise<void> {
  const buf = new Uint8Array(512);
  try {
    while ((await conn.read(buf)) !== null) { /* discard */ }
  } catch {
    // Reset, or closed locally.
  }
}

/** Whether `p` settles within `ms`. */
function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    p.then(() => true),
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms))),
  ]).finally(() => clearTimeout(timer));
}

/**
 * An exporting process for one collector.
 *
 * @example
 * ```ts
 * import { antreaFlowTemplate } from "./antrea_templates.ts";
 * const exporter = new ExportingProcess({
 *   address: "127.0.0.1:4739:tcp",
 *   observationDomainId: 1,
 *   templates: [antreaFlowTemplate(4)],
 * });
 * exporter.start();
 * exporter.send(256, { sourceIPv4Address: "10.0.0.1", octetDeltaCount: 1500 });
 * await exporter.close();
 * ```
 */
export class ExportingProcess {
  readonly endpoint: Endpoint;
  readonly observationDomainId: number;
  readonly #opts: ExportingProcessOptions;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #templates = new Map<number, CompiledTemplate>();
  readonly #maxMessageSize: number;
  readonly #bufferLimit: number;
  readonly #templateRefreshMs: number;
  #queue: Item[] = [];
  #head = 0;
  #conn: Deno.Conn | null = null;
  #udp: Deno.DatagramConn | null = null;
  /**
   * The collector's address, resolved at connect and at each template refresh: a name is not
   * looked up for each datagram.
   */
  #udpTarget: Deno.NetAddr | null = null;
  #encoder: MessageEncoder | null = null;
  #needTemplates = false;
  #pumping = false;
  #started = false;
  #closed = false;
  #everConnected = false;
  readonly #reconnector: Reconnector;
  /** When the templates last went out (UDP refreshes them after `templateRefreshMs`). */
  #templatesSentAt = -Infinity;
  #resolvedAt = -Infinity;
  readonly #resolve: (host: string) => Promise<{ address: string; family: number }>;
  #idle: (() => void)[] = [];
  #loop: Promise<void> | null = null;
  #lastDropLog = 0;
  readonly stats: ExporterStats = {
    connected: false,
    recordsSent: 0,
    messagesSent: 0,
    bytesSent: 0,
    recordsDropped: 0,
    recordsInvalid: 0,
    recordsUnsent: 0,
    recordsFailed: 0,
    reconnects: 0,
    connectFailures: 0,
    sendErrors: 0,
    queued: 0,
  };

  constructor(options: ExportingProcessOptions) {
    this.#opts = options;
    this.endpoint = typeof options.address === "string"
      ? parseAddress(options.address, "tls")
      : options.address;
    this.observationDomainId = options.observationDomainId;
    this.#log = options.logger ?? createLogger("ipfix-exporter");
    this.#clock = options.clock ?? systemClock;
    this.#maxMessageSize = this.endpoint.protocol === "udp"
      ? udpMessageSize(options.mtu)
      : MAX_MESSAGE_SIZE;
    this.#bufferLimit = options.bufferLimit ?? 65536;
    this.#templateRefreshMs = options.templateRefreshMs ?? 600_000;
    this.#resolve = options.resolve ?? ((host) => lookup(host));
    if (!Number.isInteger(this.#bufferLimit) || this.#bufferLimit < 1) {
      throw new RangeError(`Invalid buffer limit ${this.#bufferLimit}`);
    }
    if (!Number.isFinite(this.#templateRefreshMs) || this.#templateRefreshMs <= 0) {
      throw new RangeError(
        `Invalid template refresh interval ${this.#templateRefreshMs} ms: expected more than 0`,
      );
    }
    this.#reconnector = new Reconnector({
      initialBackoffMs: options.initialBackoffMs,
      maxBackoffMs: options.maxBackoffMs,
      clock: this.#clock,
      isClosed: () => this.#closed,
      connect: () => this.#connect(),
      disconnect: () => this.#dropConnection(),
      onConnected: () => void this.#pump(),
      onFailure: (error, retryInMs) => {
        this.stats.connectFailures++;
        this.#log.warn("Cannot connect to the collector", {
          collector: this.address,
          error,
          retryInMs,
        });
      },
    });
    for (const t of options.templates ?? []) this.addTemplate(t);
  }

  /** Registers a template; it is sent before any record that uses it, and after each reconnect. */
  addTemplate(template: Template): CompiledTemplate {
    const c = compileTemplate(template);
    this.#templates.set(template.id, c);
    this.#needTemplates = true;
    if (this.#connected()) void this.#pump();
    return c;
  }

  /** The collector as `host:port:protocol`. */
  get address(): string {
    return `${formatHostPort(this.endpoint.host, this.endpoint.port)}:${this.endpoint.protocol}`;
  }

  /**
   * Queues a record for sending. When the buffer is full, the oldest record is dropped and
   * counted in `stats.recordsDropped`.
   */
  send(template: number | CompiledTemplate, record: DataRecord): void {
    const t = typeof template === "number" ? this.#templates.get(template) : template;
    if (!t) throw new TypeError(`Unknown template ${template}: add it with addTemplate first`);
    if (this.#closed) throw new TypeError("The exporting process is closed");
    if (this.stats.queued >= this.#bufferLimit) {
      this.#head++;
      this.stats.queued--;
      this.stats.recordsDropped++;
      const now = this.#clock();
      if (now - this.#lastDropLog > 10_000) {
        this.#lastDropLog = now;
        this.#log.warn("Buffer full, dropping oldest records", {
          collector: this.address,
          dropped: this.stats.recordsDropped,
          limit: this.#bufferLimit,
        });
      }
    }
    this.#queue.push({ t, r: record });
    this.stats.queued++;
    if (this.#connected() && !this.#pumping) void this.#pump();
  }

  /** Starts connecting (and reconnecting) in the background. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#loop = this.#reconnector.run();
  }

  /** Resolves when every queued record has been written, or after `timeoutMs`; true if drained. */
  flush(timeoutMs = 30_000): Promise<boolean> {
    if (this.stats.queued === 0 && !this.#pumping) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#idle = this.#idle.filter((f) => f !== done);
        resolve(false);
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.#idle.push(done);
    });
  }

  /**
   * Sends what is queued (waiting at most `timeoutMs`), then closes the connection. Records still
   * queued are counted in `stats.recordsUnsent`.
   */
  async close(timeoutMs = 5_000): Promise<void> {
    if (this.#closed) return;
    // Also while a batch is being written (queued is 0 then): closing under it would fail it.
    if (this.#started) await this.flush(timeoutMs);
    this.#closed = true;
    this.stats.recordsUnsent += this.stats.queued;
    if (this.stats.recordsUnsent > 0) {
      this.#log.warn("Closed with unsent records", {
        collector: this.address,
        unsent: this.stats.recordsUnsent,
      });
    }
    this.#queue = [];
    this.#head = 0;
    this.stats.queued = 0;
    this.#reconnector.wake();
    this.#dropConnection();
    await this.#loop;
  }

  #connected(): boolean {
    return this.#conn !== null || this.#udp !== null;
  }

  async #connect(): Promise<void> {
    const { host, port, protocol } = this.endpoint;
    if (protocol === "udp") {
      // A name is resolved at connect and again with each template refresh, not for every
      // datagram (as Deno would), and the socket takes the family of the address it resolves to.
      const { address, family } = await this.#resolve(host);
      this.#resolvedAt = this.#clock();
      this.#udpTarget = { transport: "udp", hostname: address, port };
      this.#udp = udpSocket(family);
    } else {
      let conn: Deno.Conn | undefined;
      try {
        if (protocol === "tls") {
          const tls = this.#opts.tls ?? {};
          const c = await Deno.connectTls({
            hostname: host,
            port,
            ...(tls.caCerts ? { caCerts: tls.caCerts } : {}),
            ...(tls.cert && tls.key ? { cert: tls.cert, key: tls.key } : {}),
          });
          conn = c;
          await c.handshake();
        } else {
          const c = await Deno.connect({ hostname: host, port, transport: "tcp" });
          conn = c;
          c.setNoDelay(true);
        }
        const ended = watchEnd(conn);
        if (protocol === "tls") {
          // Under TLS 1.3 a collector that refuses our client certificate says so only after
          // the handshake: give it a moment before trusting the connection with records.
          if (await settlesWithin(ended, TLS_SETTLE_MS)) {
            throw new Error(
              "The collector closed the connection after the TLS handshake: is the client certificate accepted?",
            );
          }
        }
        this.#conn = conn;
        void ended.then(() => {
          if (this.#conn !== conn) return;
          if (!this.#closed) {
            this.#log.warn("Collector closed the connection", { collector: this.address });
          }
          this.#dropConnection();
        });
      } catch (e) {
        try {
          conn?.close();
        } catch {
          // Already closed.
        }
        throw e;
      }
    }
    if (this.#everConnected) this.stats.reconnects++;
    this.#everConnected = true;
    this.stats.connected = true;
    this.#encoder = new MessageEncoder({
      observationDomainId: this.observationDomainId,
      maxMessageSize: this.#maxMessageSize,
      clock: this.#clock,
    });
    this.#needTemplates = true;
    this.#log.info("Connected to the collector", { collector: this.address });
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
    this.#encoder = null;
    this.stats.connected = false;
    this.#reconnector.lost();
  }

  /** Looks the UDP collector's name up again; a failure keeps the address it had. */
  async #reresolve(now: number): Promise<void> {
    this.#resolvedAt = now;
    const old = this.#udpTarget;
    try {
      const { address, family } = await this.#resolve(this.endpoint.host);
      if (!this.#udp || !old || address === old.hostname) return;
      if ((family === 6) !== old.hostname.includes(":")) {
        const udp = this.#udp;
        this.#udp = udpSocket(family);
        udp.close();
      }
      this.#udpTarget = { ...old, hostname: address };
      this.#log.info("Collector address changed", {
        collector: this.address,
        from: old.hostname,
        to: address,
      });
    } catch (e) {
      this.#log.warn("Cannot resolve the collector, keeping its last address", {
        collector: this.address,
        address: old?.hostname,
        error: e,
      });
    }
  }

  async #write(bytes: Uint8Array): Promise<void> {
    if (this.#udp) {
      await this.#udp.send(bytes, this.#udpTarget!);
      return;
    }
    const conn = this.#conn;
    if (!conn) throw new Error("Not connected");
    let off = 0;
    while (off < bytes.length) off += await conn.write(bytes.subarray(off));
  }

  async #pump(): Promise<void> {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (this.#encoder && (this.#needTemplates || this.stats.queued > 0)) {
        const enc = this.#encoder;
        const now = this.#clock();
        // Over UDP the templates go out again ahead of the first records after the refresh
        // interval (RFC 7011 §8.4): a collector that restarted or expired them learns them anew.
        if (this.#udp && now - this.#templatesSentAt >= this.#templateRefreshMs) {
          this.#needTemplates = true;
          // The name may point elsewhere by now (a collector moved): look it up again.
          if (now - this.#resolvedAt >= this.#templateRefreshMs) await this.#reresolve(now);
          if (this.#encoder !== enc) continue;
        }
        if (this.#needTemplates) {
          this.#needTemplates = false;
          this.#templatesSentAt = now;
          for (const t of this.#templates.values()) enc.addTemplate(t.template);
        }
        const n = Math.min(this.stats.queued, BATCH);
        const added: Item[] = [];
        for (let i = 0; i < n; i++) {
          const item = this.#queue[this.#head++]!;
          try {
            enc.addRecord(item.t, item.r);
            added.push(item);
          } catch (e) {
            this.stats.recordsInvalid++;
            this.#log.warn("Record not sent", { templateId: item.t.template.id, error: e });
          }
        }
        this.stats.queued -= n;
        this.#compact();
        let done = 0;
        for (const m of enc.flush()) {
          try {
            await this.#write(m.bytes);
          } catch (e) {
            this.stats.sendErrors++;
            if (this.#udp) {
              this.#log.warn("Cannot send to the collector", { collector: this.address, error: e });
              this.stats.recordsFailed += m.recordCount;
              done += m.recordCount;
              continue;
            }
            // Put what was not written back in front of the queue, then reconnect.
            this.#requeue(added.slice(done));
            this.#log.warn("Connection lost", { collector: this.address, error: e });
            this.#dropConnection();
            return;
          }
          done += m.recordCount;
          this.stats.recordsSent += m.recordCount;
          this.stats.messagesSent++;
          this.stats.bytesSent += m.bytes.length;
        }
      }
    } finally {
      this.#pumping = false;
      if (this.stats.queued === 0) {
        const waiters = this.#idle;
        this.#idle = [];
        for (const w of waiters) w();
      } else if (this.#encoder) {
        queueMicrotask(() => void this.#pump());
      }
    }
  }

  #requeue(items: Item[]): void {
    this.#queue = [...items, ...this.#queue.slice(this.#head)];
    this.#head = 0;
    this.stats.queued += items.length;
    while (this.stats.queued > this.#bufferLimit) {
      this.#head++;
      this.stats.queued--;
      this.stats.recordsDropped++;
    }
  }

  #compact(): void {
    if (this.#head > 65536 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
  }
}

/** A UDP socket on an ephemeral port of the address family (4 or 6) of the collector's address. */
function udpSocket(family: number): Deno.DatagramConn {
  return Deno.listenDatagram({
    transport: "udp",
    hostname: family === 6 ? "::" : "0.0.0.0",
    port: 0,
  });
}
