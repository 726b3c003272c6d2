/**
 * The external flow collector sink of the aggregator's `flowCollector` configuration: IPFIX or
 * JSON records to a third-party collector.
 *
 * @module
 */

import { parseAddress } from "../../ipfix/mod.ts";
import type { Logger } from "../../log/mod.ts";
import type { FlowSink } from "../../store/mod.ts";
import { IpfixCollectorSink } from "./ipfix_sink.ts";
import { JsonCollectorSink } from "./json_sink.ts";

/** `flowCollector.recordFormat`. */
export type RecordFormat = "IPFIX" | "JSON";

/** Options of {@link createCollectorSink}: the `flowCollector` keys and tuning knobs. */
export interface CollectorSinkOptions {
  /** `flowCollector.address`: `HOST:PORT[:tcp|udp]`, tcp when left out. */
  address: string;
  /** `flowCollector.recordFormat`: "IPFIX" (default) or "JSON". */
  recordFormat?: RecordFormat;
  /** `flowCollector.observationDomainID` (IPFIX). */
  observationDomainId?: number;
  /** Seed of a derived observation domain ID (IPFIX): the cluster UUID if known. */
  observationDomainSeed?: string;
  /** Path MTU for IPFIX over UDP (1500). */
  mtu?: number;
  /** Largest JSON datagram over UDP (65507). */
  maxDatagramSize?: number;
  /** Rows queued while the collector is unreachable (65536). */
  queueLimit?: number;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  flushTimeoutMs?: number;
  closeTimeoutMs?: number;
  clock?: () => number;
  logger?: Logger;
}

/**
 * The sink of a `flowCollector` configuration. Throws a TypeError naming the key for a bad
 * address (tls is refused: the reference allows tcp and udp) or record format, a RangeError for
 * an observation domain ID out of range.
 *
 * @example
 * ```ts
 * const sink = createCollectorSink({ address: "192.0.2.10:4739:udp", recordFormat: "IPFIX" });
 * sink.name; // "ipfix"
 * await sink.close();
 * ```
 */
export function createCollectorSink(options: CollectorSinkOptions): FlowSink {
  const format = options.recordFormat ?? "IPFIX";
  if (format !== "IPFIX" && format !== "JSON") {
    throw new TypeError(
      `Invalid flowCollector.recordFormat "${format}": expected "IPFIX" or "JSON"`,
    );
  }
  let endpoint;
  try {
    endpoint = parseAddress(options.address, "tcp");
  } catch (cause) {
    throw new TypeError(
      `Invalid flowCollector.address "${options.address}": expected HOST:PORT[:tcp|udp]`,
      { cause },
    );
  }
  if (endpoint.protocol === "tls") {
    throw new TypeError(
      `Invalid flowCollector.address "${options.address}": the protocol must be tcp or udp`,
    );
  }
  const common = {
    address: endpoint,
    ...(options.queueLimit !== undefined ? { queueLimit: options.queueLimit } : {}),
    ...(options.initialBackoffMs !== undefined
      ? { initialBackoffMs: options.initialBackoffMs }
      : {}),
    ...(options.maxBackoffMs !== undefined ? { maxBackoffMs: options.maxBackoffMs } : {}),
    ...(options.flushTimeoutMs !== undefined ? { flushTimeoutMs: options.flushTimeoutMs } : {}),
    ...(options.closeTimeoutMs !== undefined ? { closeTimeoutMs: options.closeTimeoutMs } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
  };
  if (format === "JSON") {
    return new JsonCollectorSink({
      ...common,
      ...(options.maxDatagramSize !== undefined
        ? { maxDatagramSize: options.maxDatagramSize }
        : {}),
    });
  }
  return new IpfixCollectorSink({
    ...common,
    ...(options.observationDomainId !== undefined
      ? { observationDomainId: options.observationDomainId }
      : {}),
    ...(options.observationDomainSeed !== undefined
      ? { observationDomainSeed: options.observationDomainSeed }
      : {}),
    ...(options.mtu !== undefined ? { mtu: options.mtu } : {}),
  });
}
