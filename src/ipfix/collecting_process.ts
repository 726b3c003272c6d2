/**
 * The collecting process: receives IPFIX over TLS (with optional mutual TLS), TCP and UDP from
 * many exporters at once, keeps templates per transport session, counts sequence gaps, and
 * survives any input. RFC 7011 §10
 *
 * @module
 */

import {
  createServer as createTlsServer,
  type Server as TlsServer,
  type TLSSocket,
} from "node:tls";
import { createLogger, type Logger } from "../log/mod.ts";
import { type Endpoint, formatHostPort, parseAddress } from "./address.ts";
import { type DecodedMessage, decodeMessage, type DecodeOptions } from "./decoder.ts";
import type { Registry } from "./registry.ts";
import { type SessionKey, TemplateCache, UDP_TEMPLATE_LIFETIME_MS } from "./template_cache.ts";
import { type Clock, IPFIX_VERSION, MESSAGE_HEADER_LENGTH, systemClock } from "./types.ts";
import { openUdpReceiver, type UdpReceiver } from "./udp_receiver.ts";

/** Server side TLS settings. */
export interface TlsServerOptions {
  /** PEM server certificate (chain). */
  cert: string;
  /** PEM private key. */
  key: string;
  /** PEM CA certificate: when set, exporters must present a client certificate it signed. */
  ca?: string;
}

/** Where a message came from. */
export interface ExporterInfo {
  /** `ip:port` of the exporter. */
  readonly address: string;
  readonly protocol: "tls" | "tcp" | "udp";
  /** Transport session: one connection, or one UDP source address. */
  readonly session: SessionKey;
}

/** Counters of one exporter (one transport session). */
export interface SessionStats {
  readonly address: string;
  readonly protocol: "tls" | "tcp" | "udp";
  messages: number;
  records: number;
  /** Records missing according to sequence numbers. RFC 7011 §3.1 */
  lost: number;
  /** Data sets skipped because their template was unknown. */
  unknownSets: number;
  errors: number;
  connectedAt: number;
  /** When its last message arrived (ms since the epoch); when it opened before the first. */
  lastMessageAt: number;
}

/** Counters of a collecting process. */
export interface CollectorStats {
  messages: number;
  records: number;
  templates: number;
  /** Malformed messages (a TCP/TLS session closed, or a UDP datagram dropped). */
  errors: number;
  /** UDP datagrams dropped as malformed. */
  datagramsDropped: number;
  /** TCP/TLS sessions closed because of malformed input. */
  sessionsClosed: number;
  /** TLS handshakes that failed (including client certificates refused). */
  tlsErrors: number;
  unknownSets: number;
  lost: number;
  sessionsOpened: number;
  activeSessions: number;
  /** UDP sessions forgotten after {@link UDP_SESSION_IDLE_MS} without a datagram. */
  sessionsExpired: number;
  /**
   * UDP datagrams dropped because they came from a new source while
   * {@link MAX_UDP_SESSIONS} sources were known.
   */
  udpSourcesRefused: number;
  /**
   * Templates not kept because the template cache was full (`MAX_CACHED_FIELDS` field
   * specifiers); their data sets count as unknown.
   */
  readonly templatesRefused: number;
  /**
   * UDP datagrams the kernel dropped because the socket buffer was full: the socket's counter,
   * read (one system call) each time this is read.
   */
  readonly udpBufferDrops: number;
}

/**
 * A UDP exporter (source address) silent this long is forgotten with its templates and sequence
 * state: its templates would have expired anyway (RFC 7011 §8.4), and an exporter that comes back
 * starts a new session. Without it, every restarted exporter's old port would stay for good.
 */
export const UDP_SESSION_IDLE_MS = UDP_TEMPLATE_LIFETIME_MS;

/** With every UDP session taken, sessions silent this long make room for new sources. */
export const UDP_SESSION_FULL_IDLE_MS = 5 * 60_000;

/**
 * UDP sources a collector keeps sessions for at once. Datagrams from further sources are dropped
 * and counted (`udpSourcesRefused`) until idle ones expire: a flood of spoofed source addresses
 * cannot grow the collector's memory without bound.
 */
export const MAX_UDP_SESSIONS = 65536;

/** The UDP receive buffer sizes a collector may ask for, in octets (`udpReceiveBuffer`). */
export const UDP_RECEIVE_BUFFER_RANGE = { min: 4096, max: 2 ** 30 } as const;

/**
 * The UDP receive buffer the aggregator and `deno task collector` ask for unless told otherwise:
 * 4 MiB. Over UDP the kernel holds what arrives while the collector pauses; the system's 208 KiB
 * is 5 ms of 100k records/s. Without CAP_NET_ADMIN the kernel caps it at net.core.rmem_max.
 */
export const DEFAULT_UDP_RECEIVE_BUFFER = 4 * 1024 * 1024;

/** Options of a {@link CollectingProcess}. */
export interface CollectingProcessOptions {
  /** Listen address `HOST:PORT:PROTO` (protocol tcp when left out), or a parsed endpoint. */
  address: string | Endpoint;
  /** Required for tls. */
  tls?: TlsServerOptions;
  /**
   * Called for every decoded message, in arrival order per session. `exporter` is the same frozen
   * object for every message of a session.
   */
  onMessage: (message: DecodedMessage, exporter: ExporterInfo) => void;
  registry?: Registry;
  clock?: Clock;
  logger?: Logger;
  /** Largest message accepted on a stream before the session is closed (65535). */
  maxMessageSize?: number;
  /** UDP socket receive buffer in octets (SO_RCVBUF; SO_RCVBUFFORCE as root). */
  udpReceiveBuffer?: number;
  /**
   * Element names to decode; records hold only these, and other fields are length-checked and
   * skipped. Every element by default.
   */
  elements?: readonly string[] | ReadonlySet<string>;
  /** UDP sources with a session at once ({@link MAX_UDP_SESSIONS}). */
  maxUdpSessions?: number;
}

interface Sequence {
  expected: number;
  /** Unknown data sets in the last message hide how many records it held. */
  resync: boolean;
}

/**
 * What the collector keeps of one transport session, made when it opens: every message of the
 * session finds its counters, sequence state, decoder options and exporter info here instead of
 * in maps.
 */
interface Session {
  readonly key: SessionKey;
  readonly stats: SessionStats;
  /** Handed to `onMessage` with every message of the session. */
  readonly info: ExporterInfo;
  readonly decode: DecodeOptions;
  /** Sequence state per observation domain. */
  readonly domains: Map<number, Sequence>;
}

/** Where the two counters a collector reads from elsewhere come from. */
const COUNTER_SOURCE = Symbol("counter source");

interface CounterSource {
  refused(): number;
  drops(): number;
}

/**
 * Defines the counters read from elsewhere on a plain stats object: own enumerable getters (spread,
 * JSON and deep equality see them), the same two functions for every collector. A getter made per
 * collector would give each stats object its own hidden class, and from the second on a
 * dictionary, which turns every counter update into a hash lookup; an object literal with getters
 * is a dictionary from the start.
 */
const COUNTER_GETTERS: PropertyDescriptorMap = {
  [COUNTER_SOURCE]: { value: undefined, writable: true, enumerable: false },
  templatesRefused: {
    get(this: { [COUNTER_SOURCE]: CounterSource }) {
      return this[COUNTER_SOURCE].refused();
    },
    enumerable: true,
  },
  udpBufferDrops: {
    get(this: { [COUNTER_SOURCE]: CounterSource }) {
      return this[COUNTER_SOURCE].drops();
    },
    enumerable: true,
  },
};

function newStats(source: CounterSource): CollectorStats {
  const stats = {
    messages: 0,
    records: 0,
    templates: 0,
    errors: 0,
    datagramsDropped: 0,
    sessionsClosed: 0,
    tlsErrors: 0,
    unknownSets: 0,
    lost: 0,
    sessionsOpened: 0,
    activeSessions: 0,
    sessionsExpired: 0,
    udpSourcesRefused: 0,
  };
  Object.defineProperties(stats, COUNTER_GETTERS);
  (stats as unknown as { [COUNTER_SOURCE]: CounterSource })[COUNTER_SOURCE] = source;
  return stats as CollectorStats;
}

/**
 * A collecting process.
 *
 * @example
 * ```ts
 * const collector = new CollectingProcess({
 *   address: "127.0.0.1:0:tcp",
 *   onMessage: (msg, from) => console.log(from.address, msg.recordCount),
 * });
 * await collector.listen();
 * console.log(collector.port);
 * await collector.close();
 * ```
 */
export class CollectingProcess {
  readonly endpoint: Endpoint;
  readonly cache: TemplateCache;
  readonly stats: CollectorStats;
  /** Counters per session, by session key. */
  readonly sessions = new Map<SessionKey, SessionStats>();
  readonly #opts: CollectingProcessOptions;
  readonly #log: Logger;
  readonly #clock: Clock;
  /**
   * The session of each UDP source address (the recvmmsg receiver hands out the same string for
   * each sender, from its caches): one entry per UDP session, added and removed with it.
   */
  readonly #udpSessions = new Map<string, Session>();
  #refusedLoggedAt = -Infinity;
  #fullSweepAt = -Infinity;
  #droppedLoggedAt = -Infinity;
  #droppedUnlogged = 0;
  /** The time of the message being handled (or of the last sweep). */
  #now = 0;
  #templatesRefusedLoggedAt = -Infinity;
  #listener: Deno.Listener | null = null;
  #udp: UdpReceiver | null = null;
  #tlsServer: TlsServer | null = null;
  #conns = new Set<{ close(): void }>();
  #tasks: Promise<void>[] = [];
  #nextSession = 1;
  #port = 0;
  #closed = false;
  #expiry: ReturnType<typeof setInterval> | undefined;

  constructor(options: CollectingProcessOptions) {
    this.#opts = options;
    this.endpoint = typeof options.address === "string"
      ? parseAddress(options.address, "tcp")
      : options.address;
    if (this.endpoint.protocol === "tls" && !options.tls) {
      throw new TypeError("A TLS collector needs a certificate and a key");
    }
    this.#log = options.logger ?? createLogger("ipfix-collector");
    this.#clock = options.clock ?? systemClock;
    this.stats = newStats({
      refused: () => this.cache.refused,
      drops: () => this.#udp?.drops ?? 0,
    });
    // The template cache reads the time of the message being decoded, taken once per batch of
    // datagrams or per stream message: not a clock call for every data set.
    this.cache = new TemplateCache({
      clock: () => this.#now,
      ...(options.elements ? { elements: options.elements } : {}),
    });
  }

  /** The bound port (useful with port 0). */
  get port(): number {
    return this.#port;
  }

  /** Starts listening; resolves once the socket is bound. */
  listen(): Promise<void> {
    const { host, port, protocol } = this.endpoint;
    if (protocol === "udp") {
      this.#udp = openUdpReceiver({
        hostname: host,
        port,
        ...(this.#opts.udpReceiveBuffer ? { rcvbuf: this.#opts.udpReceiveBuffer } : {}),
      });
      this.#port = this.#udp.port;
      this.#tasks.push(this.#serveUdp(this.#udp));
      this.#expiry = setInterval(() => this.expire(), 60_000);
    } else if (protocol === "tls" && this.#opts.tls?.ca) {
      return this.#listenMutualTls();
    } else {
      const tls = this.#opts.tls;
      this.#listener = protocol === "tls" && tls
        ? Deno.listenTls({ hostname: host, port, cert: tls.cert, key: tls.key })
        : Deno.listen({ hostname: host, port, transport: "tcp" });
      this.#port = (this.#listener.addr as Deno.NetAddr).port;
      this.#tasks.push(this.#accept(this.#listener, protocol as "tls" | "tcp"));
    }
    this.#log.info("Listening", {
      address: `${formatHostPort(host, this.#port)}:${protocol}`,
      ...(this.#udp ? { udpReceiver: this.#udp.kind, rcvbuf: this.#udp.rcvbuf } : {}),
    });
    const asked = this.#opts.udpReceiveBuffer;
    if (this.#udp?.rcvbuf !== undefined && asked && this.#udp.rcvbuf < 2 * asked) {
      // The kernel doubles the size it grants (for its bookkeeping); without CAP_NET_ADMIN it
      // caps the size at net.core.rmem_max first.
      this.#log.warn("UDP socket buffer smaller than asked for", {
        asked,
        rcvbuf: this.#udp.rcvbuf,
        hint: "raise net.core.rmem_max, or run with CAP_NET_ADMIN",
      });
    }
    return Promise.resolve();
  }

  /** Stops listening and closes every session. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#expiry);
    try {
      this.#listener?.close();
    } catch { /* already closed */ }
    try {
      this.#udp?.close();
    } catch { /* already closed */ }
    for (const c of this.#conns) {
      try {
        c.close();
      } catch { /* already closed */ }
    }
    if (this.#tlsServer) {
      const server = this.#tlsServer;
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    await Promise.allSettled(this.#tasks);
  }

  /**
   * Drops expired templates and forgets UDP sessions idle for {@link UDP_SESSION_IDLE_MS}; returns
   * how many sessions it forgot. Runs every minute on a UDP collector.
   */
  expire(): number {
    const now = this.#now = this.#clock();
    this.cache.expire();
    return this.#forgetIdleUdpSessions(now, UDP_SESSION_IDLE_MS, true);
  }

  /** Closes the UDP sessions silent for `idleMs` (counted in `sessionsExpired`); returns how many. */
  #forgetIdleUdpSessions(now: number, idleMs: number, log: boolean): number {
    let n = 0;
    for (const session of this.#udpSessions.values()) {
      const s = session.stats;
      if (now - s.lastMessageAt < idleMs) continue;
      this.#closeSession(session);
      this.stats.sessionsExpired++;
      n++;
      if (!log) continue;
      this.#log.info("UDP session expired", {
        exporter: s.address,
        idleSeconds: Math.round((now - s.lastMessageAt) / 1000),
        records: s.records,
      });
    }
    return n;
  }

  #openSession(address: string, protocol: "tls" | "tcp" | "udp"): Session {
    const key = protocol === "udp" ? `udp:${address}` : this.#nextSession++;
    const now = this.#clock();
    const stats: SessionStats = {
      address,
      protocol,
      messages: 0,
      records: 0,
      lost: 0,
      unknownSets: 0,
      errors: 0,
      connectedAt: now,
      lastMessageAt: now,
    };
    const session: Session = {
      key,
      stats,
      info: Object.freeze({ address, protocol, session: key }),
      decode: {
        session: key,
        templateLifetimeMs: protocol === "udp" ? UDP_TEMPLATE_LIFETIME_MS : Infinity,
        ...(this.#opts.registry ? { registry: this.#opts.registry } : {}),
      },
      domains: new Map(),
    };
    this.sessions.set(key, stats);
    if (protocol === "udp") this.#udpSessions.set(address, session);
    this.stats.sessionsOpened++;
    this.stats.activeSessions++;
    return session;
  }

  #closeSession(session: Session): void {
    if (!this.sessions.delete(session.key)) return;
    if (session.stats.protocol === "udp") this.#udpSessions.delete(session.stats.address);
    this.stats.activeSessions--;
    this.cache.closeSession(session.key);
  }

  async #accept(listener: Deno.Listener, protocol: "tls" | "tcp"): Promise<void> {
    try {
      for await (const conn of listener) {
        this.#tasks.push(this.#serveConn(conn, protocol));
      }
    } catch (e) {
      if (!this.#closed) this.#log.error("Listener failed", { error: e });
    }
  }

  async #serveConn(conn: Deno.Conn, protocol: "tls" | "tcp"): Promise<void> {
    const remote = conn.remoteAddr as Deno.NetAddr;
    const address = formatHostPort(remote.hostname, remote.port);
    this.#conns.add(conn);
    if (protocol === "tls") {
      try {
        await (conn as Deno.TlsConn).handshake();
      } catch (e) {
        this.stats.tlsErrors++;
        this.#log.warn("TLS handshake failed", { exporter: address, error: e });
        this.#conns.delete(conn);
        try {
          conn.close();
        } catch { /* closed */ }
        return;
      }
    }
    const session = this.#openSession(address, protocol);
    const framer = new StreamFramer(this.#opts.maxMessageSize ?? 65535);
    const buf = new Uint8Array(256 * 1024);
    let reason = "end of stream";
    try {
      while (true) {
        const n = await conn.read(buf);
        if (n === null) break;
        const err = framer.push(
          buf.subarray(0, n),
          (msg) => this.#handle(msg, session, this.#clock()),
        );
        if (err) {
          reason = err;
          this.#malformed(session, err, false);
          break;
        }
      }
    } catch (e) {
      if (!this.#closed) reason = `read failed: ${e instanceof Error ? e.message : e}`;
    }
    if (framer.buffered > 0 && reason === "end of stream") {
      reason = `stream ended inside a message (${framer.buffered} octets)`;
      this.#malformed(session, reason, false);
    }
    this.#conns.delete(conn);
    try {
      conn.close();
    } catch { /* closed */ }
    this.#log.info("Session closed", { exporter: address, reason });
    this.#closeSession(session);
  }

  #listenMutualTls(): Promise<void> {
    const tls = this.#opts.tls!;
    const { host, port } = this.endpoint;
    const server = createTlsServer({
      cert: tls.cert,
      key: tls.key,
      ca: tls.ca,
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: "TLSv1.2",
    });
    this.#tlsServer = server;
    server.on("secureConnection", (socket: TLSSocket) => this.#serveNodeSocket(socket));
    server.on("tlsClientError", (err: Error, socket: { remoteAddress?: string }) => {
      this.stats.tlsErrors++;
      this.#log.warn("TLS handshake failed", { exporter: socket?.remoteAddress, error: err });
    });
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => {
        server.off("error", reject);
        const addr = server.address();
        this.#port = typeof addr === "object" && addr ? addr.port : port;
        this.#log.info("Listening", {
          address: `${formatHostPort(host, this.#port)}:tls`,
          mutualTls: true,
        });
        resolve();
      });
    });
  }

  #serveNodeSocket(socket: TLSSocket): void {
    const address = formatHostPort(socket.remoteAddress ?? "?", socket.remotePort ?? 0);
    const session = this.#openSession(address, "tls");
    const framer = new StreamFramer(this.#opts.maxMessageSize ?? 65535);
    const handle = { close: () => socket.destroy() };
    this.#conns.add(handle);
    let done = false;
    const finish = (reason: string) => {
      if (done) return;
      done = true;
      this.#conns.delete(handle);
      this.#log.info("Session closed", { exporter: address, reason });
      this.#closeSession(session);
    };
    socket.on("data", (chunk: Uint8Array) => {
      if (done) return;
      const err = framer.push(
        chunk,
        (msg) => this.#handle(msg, session, this.#clock()),
      );
      if (err) {
        this.#malformed(session, err, false);
        socket.destroy();
        finish(err);
      }
    });
    socket.on("error", (e: Error) => finish(`socket error: ${e.message}`));
    socket.on("close", () => {
      if (!done && framer.buffered > 0) {
        const reason = `stream ended inside a message (${framer.buffered} octets)`;
        this.#malformed(session, reason, false);
        finish(reason);
      }
      finish("end of stream");
    });
  }

  async #serveUdp(udp: UdpReceiver): Promise<void> {
    try {
      while (!this.#closed) {
        // Many datagrams per call (recvmmsg) where FFI is allowed; views valid until the next.
        const batch = await udp.receive();
        if (batch.length === 0) break;
        const now = this.#clock();
        for (const { data, address, view } of batch) {
          let session = this.#udpSessions.get(address);
          if (session === undefined) {
            // A new source gets a session for an IPFIX message only: anything else is dropped
            // without taking one of the sessions' places.
            if (!looksLikeMessage(data)) {
              this.#malformedSource(address, data);
              continue;
            }
            if (!this.#roomForUdpSession(now)) {
              this.#refuseSource(address, now);
              continue;
            }
            session = this.#openSession(address, "udp");
          }
          const err = this.#handle(data, session, now, view);
          if (err) this.#malformed(session, err, true);
        }
      }
    } catch (e) {
      if (!this.#closed) this.#log.error("UDP receive failed", { error: e });
    }
  }

  /**
   * Whether a new UDP session fits. When the table is full, sessions idle for
   * {@link UDP_SESSION_FULL_IDLE_MS} go first (looked for at most every 10 s).
   */
  #roomForUdpSession(now: number): boolean {
    const max = this.#opts.maxUdpSessions ?? MAX_UDP_SESSIONS;
    if (this.#udpSessions.size < max) return true;
    if (now - this.#fullSweepAt < 10_000) return false;
    this.#fullSweepAt = now;
    this.#forgetIdleUdpSessions(now, UDP_SESSION_FULL_IDLE_MS, false);
    return this.#udpSessions.size < max;
  }

  #malformedSource(address: string, data: Uint8Array): void {
    this.stats.errors++;
    this.stats.datagramsDropped++;
    this.#warnDropped(address, `not an IPFIX message (${data.length} octets)`);
  }

  /**
   * Logs a dropped datagram: the first of each second, with how many were dropped since the last
   * line (a flood of junk must not become a flood of log lines; the counters have them all).
   */
  #warnDropped(address: string, reason: string): void {
    const now = this.#clock();
    if (now - this.#droppedLoggedAt < 1000) {
      this.#droppedUnlogged++;
      return;
    }
    this.#droppedLoggedAt = now;
    const unlogged = this.#droppedUnlogged;
    this.#droppedUnlogged = 0;
    this.#log.warn("Malformed datagram dropped", {
      exporter: address,
      reason,
      ...(unlogged > 0 ? { droppedUnlogged: unlogged } : {}),
    });
  }

  #refuseSource(address: string, now: number): void {
    this.stats.udpSourcesRefused++;
    if (now - this.#refusedLoggedAt < 60_000) return;
    this.#refusedLoggedAt = now;
    this.#log.warn("Too many UDP exporters, datagram dropped", {
      exporter: address,
      sessions: this.#udpSessions.size,
      refused: this.stats.udpSourcesRefused,
      hint: `sources silent for ${UDP_SESSION_IDLE_MS / 60_000} minutes are forgotten`,
    });
  }

  #malformed(session: Session, reason: string, datagram: boolean): void {
    this.stats.errors++;
    session.stats.errors++;
    const address = session.stats.address;
    if (datagram) {
      this.stats.datagramsDropped++;
      this.#warnDropped(address, reason);
    } else {
      this.stats.sessionsClosed++;
      this.#log.warn("Malformed message, closing the session", { exporter: address, reason });
    }
  }

  /** Decodes one message; returns the reason it is malformed, or undefined. */
  #handle(bytes: Uint8Array, session: Session, now: number, view?: DataView): string | undefined {
    this.#now = now;
    const s = session.stats;
    // A datagram holds exactly one message (RFC 7011 §10.3.3): one that does not is dropped
    // before anything in it (its templates) is taken.
    if (s.protocol === "udp") {
      const length = ipfixLength(bytes);
      if (length !== undefined && length !== bytes.length) {
        return `datagram of ${bytes.length} octets holds a message of ${length}`;
      }
    }
    let msg: DecodedMessage;
    const refused = this.cache.refused;
    try {
      msg = decodeMessage(bytes, this.cache, session.decode, view);
    } catch (e) {
      if (e instanceof RangeError || e instanceof SyntaxError) return e.message;
      throw e;
    }
    if (this.cache.refused !== refused && now - this.#templatesRefusedLoggedAt >= 60_000) {
      this.#templatesRefusedLoggedAt = now;
      this.#log.warn("Template cache full, templates refused", {
        exporter: s.address,
        refused: this.cache.refused,
        fields: this.cache.fields,
      });
    }
    s.lastMessageAt = now;
    this.stats.messages++;
    this.stats.records += msg.recordCount;
    this.stats.templates += msg.templates.length;
    this.stats.unknownSets += msg.unknownSets.length;
    s.messages++;
    s.records += msg.recordCount;
    s.unknownSets += msg.unknownSets.length;
    this.#checkSequence(session, msg);
    try {
      this.#opts.onMessage(msg, session.info);
    } catch (e) {
      this.#log.error("Message handler failed", { exporter: s.address, error: e });
    }
    return undefined;
  }

  /** Sequence numbers count the data records sent before a message. RFC 7011 §3.1 */
  #checkSequence(session: Session, msg: DecodedMessage): void {
    const s = session.stats;
    const domains = session.domains;
    const seq = domains.get(msg.observationDomainId);
    const next = (msg.sequenceNumber + msg.recordCount) >>> 0;
    const resync = msg.unknownSets.length > 0;
    if (!seq) {
      domains.set(msg.observationDomainId, { expected: next, resync });
      return;
    }
    if (!seq.resync && msg.sequenceNumber !== seq.expected) {
      const gap = (msg.sequenceNumber - seq.expected) >>> 0;
      if (gap >= 0x80000000) {
        // A step backwards is a late message (UDP reordering): neither lost nor a new position.
        if (resync) seq.resync = true;
        return;
      }
      this.stats.lost += gap;
      s.lost += gap;
    }
    seq.expected = next;
    seq.resync = resync;
  }
}

/**
 * Whether a datagram starts with an IPFIX message header whose length is the datagram's: what a new
 * source must send to get a session.
 */
function looksLikeMessage(d: Uint8Array): boolean {
  return d.length >= MESSAGE_HEADER_LENGTH && ipfixLength(d) === d.length;
}

/** The length field of octets that start as an IPFIX message (version 10); undefined otherwise. */
function ipfixLength(d: Uint8Array): number | undefined {
  return d.length >= 4 && d[0] === 0 && d[1] === IPFIX_VERSION ? (d[2]! << 8) | d[3]! : undefined;
}

/** Splits a byte stream into messages by their length field. */
export class StreamFramer {
  #buf = new Uint8Array(0);
  #len = 0;
  readonly #max: number;

  constructor(maxMessageSize = 65535) {
    this.#max = maxMessageSize;
  }

  /** Octets of an incomplete message held back. */
  get buffered(): number {
    return this.#len;
  }

  /**
   * Appends a chunk and calls `onMessage` for each complete message; returns the reason the
   * stream is malformed (the caller closes it), or undefined.
   */
  push(chunk: Uint8Array, onMessage: (msg: Uint8Array) => string | undefined): string | undefined {
    let data: Uint8Array;
    if (this.#len === 0) {
      data = chunk;
    } else {
      if (this.#buf.length < this.#len + chunk.length) {
        const grown = new Uint8Array(Math.max(this.#len + chunk.length, this.#buf.length * 2));
        grown.set(this.#buf.subarray(0, this.#len));
        this.#buf = grown;
      }
      this.#buf.set(chunk, this.#len);
      this.#len += chunk.length;
      data = this.#buf.subarray(0, this.#len);
    }
    let off = 0;
    while (data.length - off >= 4) {
      const version = (data[off]! << 8) | data[off + 1]!;
      const length = (data[off + 2]! << 8) | data[off + 3]!;
      if (version !== IPFIX_VERSION) {
        return `unsupported version ${version} at stream offset ${off}`;
      }
      if (length < MESSAGE_HEADER_LENGTH || length > this.#max) {
        return `invalid message length ${length}`;
      }
      if (data.length - off < length) break;
      const err = onMessage(data.subarray(off, off + length));
      if (err) return err;
      off += length;
    }
    const rest = data.length - off;
    if (rest === 0) {
      this.#len = 0;
    } else if (data === chunk) {
      if (this.#buf.length < rest) this.#buf = new Uint8Array(Math.max(rest, 65536));
      this.#buf.set(chunk.subarray(off));
      this.#len = rest;
    } else {
      this.#buf.copyWithin(0, off, this.#len);
      this.#len = rest;
    }
    return undefined;
  }
}
