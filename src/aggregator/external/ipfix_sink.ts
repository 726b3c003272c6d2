/**
 * The IPFIX sink of the external flow collector: aggregated flows as IPFIX data records of the
 * aggregator's templates, over TCP or UDP, through an {@link ExportingProcess}.
 *
 * @module
 */

import { type Endpoint, ExportingProcess, formatHostPort, parseAddress } from "../../ipfix/mod.ts";
import { createLogger, type Logger } from "../../log/mod.ts";
import type { FlowRow, FlowSink, SinkStats } from "../../store/mod.ts";
import {
  AGGREGATED_IPV4_TEMPLATE_ID,
  AGGREGATED_IPV6_TEMPLATE_ID,
  aggregatedTemplate,
} from "./aggregated_template.ts";
import { checkObservationDomainId, deriveObservationDomainId } from "./observation_domain.ts";
import { rowIpVersion, rowToRecord } from "./row_record.ts";

/** Options of an {@link IpfixCollectorSink}. */
export interface IpfixCollectorSinkOptions {
  /** `HOST:PORT[:tcp|udp]` (tcp when left out), or a parsed endpoint. */
  address: string | Endpoint;
  /** The configured observation domain ID (`flowCollector.observationDomainID`). */
  observationDomainId?: number;
  /**
   * Without an ID, it is derived from this seed ({@link deriveObservationDomainId}): the cluster
   * UUID if known, else something stable that names this aggregator. Default: the collector
   * address, stable across restarts.
   */
  observationDomainSeed?: string;
  /** Path MTU for UDP (1500 by default, at least 512): messages are sized to fit. */
  mtu?: number;
  /** Template resend interval over UDP (600 s). RFC 7011 §8.4 */
  templateRefreshMs?: number;
  /** Rows that may wait while the collector is unreachable; older ones are dropped (65536). */
  queueLimit?: number;
  /** First reconnect delay (1 s); it doubles up to `maxBackoffMs` (30 s). */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** How long `flush` waits for the queue to drain (30 s). */
  flushTimeoutMs?: number;
  /** How long `close` waits for the queue to drain before dropping what is left (5 s). */
  closeTimeoutMs?: number;
  clock?: () => number;
  logger?: Logger;
}

/** Drops are logged at most this often. */
const DROP_LOG_INTERVAL_MS = 10_000;

/**
 * The observation domain ID of the options: the configured one (checked), else derived from the
 * seed, else from the address.
 */
export function observationDomainOf(
  options: Pick<IpfixCollectorSinkOptions, "observationDomainId" | "observationDomainSeed">,
  address: string,
): number {
  if (options.observationDomainId !== undefined) {
    return checkObservationDomainId(options.observationDomainId);
  }
  return deriveObservationDomainId(options.observationDomainSeed || address);
}

/**
 * Sends aggregated flows to an IPFIX collector: templates 256 (IPv4) and 257 (IPv6) of
 * {@link aggregatedTemplate}, one data record per row ({@link rowToRecord}). The exporting
 * process queues at most `queueLimit` records while the collector is unreachable (dropping the
 * oldest, counted and logged), reconnects with exponential backoff and sends the templates again
 * on every connection; over UDP it resends them ahead of the first records `templateRefreshMs`
 * after they last went out, and sizes messages to the MTU.
 *
 * Stats: `written` is records written to the connection (TCP) or sent in a datagram (UDP);
 * `dropped` adds up rows dropped from a full queue, rows that cannot be a record (addresses of
 * two IP versions, a value out of its element's range), datagrams that could not be sent and
 * rows still queued at close; `failures` counts failed connection attempts and failed writes.
 *
 * @example
 * ```ts
 * import { emptyFlowRow } from "../../store/mod.ts";
 * const sink = new IpfixCollectorSink({ address: "127.0.0.1:4739:udp", observationDomainId: 7 });
 * sink.write([{ ...emptyFlowRow(), sourceIP: "10.0.0.1", destinationIP: "10.0.0.2" }]);
 * await sink.close();
 * ```
 */
export class IpfixCollectorSink implements FlowSink {
  readonly name = "ipfix";
  readonly endpoint: Endpoint;
  readonly observationDomainId: number;
  readonly #exporter: ExportingProcess;
  readonly #log: Logger;
  readonly #clock: () => number;
  readonly #flushTimeout: number;
  readonly #closeTimeout: number;
  #closing: Promise<void> | null = null;
  #closed = false;
  #rejected = 0;
  #lastDropLog = -Infinity;

  constructor(options: IpfixCollectorSinkOptions) {
    this.endpoint = typeof options.address === "string"
      ? parseAddress(options.address, "tcp")
      : options.address;
    if (this.endpoint.protocol === "tls") {
      throw new TypeError(
        `Invalid IPFIX collector address "${this.address}": the protocol must be tcp or udp`,
      );
    }
    this.observationDomainId = observationDomainOf(options, this.address);
    this.#log = options.logger ?? createLogger("ipfix-collector-sink");
    this.#clock = options.clock ?? Date.now;
    this.#flushTimeout = options.flushTimeoutMs ?? 30_000;
    this.#closeTimeout = options.closeTimeoutMs ?? 5_000;
    this.#exporter = new ExportingProcess({
      address: this.endpoint,
      observationDomainId: this.observationDomainId,
      templates: [aggregatedTemplate(4), aggregatedTemplate(6)],
      bufferLimit: options.queueLimit ?? 65536,
      logger: this.#log,
      clock: this.#clock,
      ...(options.mtu !== undefined ? { mtu: options.mtu } : {}),
      ...(options.templateRefreshMs !== undefined
        ? { templateRefreshMs: options.templateRefreshMs }
        : {}),
      ...(options.initialBackoffMs !== undefined
        ? { initialBackoffMs: options.initialBackoffMs }
        : {}),
      ...(options.maxBackoffMs !== undefined ? { maxBackoffMs: options.maxBackoffMs } : {}),
    });
    this.#exporter.start();
  }

  /** The collector as `host:port:protocol`. */
  get address(): string {
    return `${formatHostPort(this.endpoint.host, this.endpoint.port)}:${this.endpoint.protocol}`;
  }

  write(rows: readonly FlowRow[]): void {
    let bad = 0;
    let error: unknown;
    for (const row of rows) {
      if (this.#closed) {
        bad++;
        error = new Error("The sink is closed");
        continue;
      }
      try {
        const v = rowIpVersion(row);
        this.#exporter.send(
          v === 4 ? AGGREGATED_IPV4_TEMPLATE_ID : AGGREGATED_IPV6_TEMPLATE_ID,
          rowToRecord(row),
        );
      } catch (e) {
        bad++;
        error = e;
      }
    }
    if (bad > 0) {
      this.#rejected += bad;
      const now = this.#clock();
      if (now - this.#lastDropLog >= DROP_LOG_INTERVAL_MS) {
        this.#lastDropLog = now;
        this.#log.warn("Rows not exportable", {
          collector: this.address,
          rows: bad,
          dropped: this.stats().dropped,
          error,
        });
      }
    }
  }

  async flush(): Promise<void> {
    await this.#exporter.flush(this.#flushTimeout);
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#closed = true;
      await this.#exporter.close(this.#closeTimeout);
    })();
    return this.#closing;
  }

  stats(): SinkStats {
    const s = this.#exporter.stats;
    return {
      queued: s.queued,
      written: s.recordsSent,
      dropped: s.recordsDropped + s.recordsInvalid + s.recordsFailed + s.recordsUnsent +
        this.#rejected,
      failures: s.connectFailures + s.sendErrors,
      spooledRows: 0,
      spoolBytes: 0,
    };
  }
}
