/**
 * An aggregator view for tests: real flow rows in memory, filtered as the aggregator's contract
 * says (each given field must match), with settable metrics and health checks.
 *
 * @module
 */

import type {
  AggregatorView,
  FlowRecordFilter,
  HealthCheck,
  RecordMetrics,
} from "../aggregator/types.ts";
import type { Metric } from "../metrics/mod.ts";
import { emptyFlowRow, type FlowRow } from "../store/types.ts";

/** A flow row with the given fields, zero elsewhere. */
export function row(fields: Partial<FlowRow>): FlowRow {
  return { ...emptyFlowRow(), ...fields };
}

/** Three flows: pod to pod TCP, pod to Service UDP over IPv6, ICMP to an external address. */
export function sampleRows(): FlowRow[] {
  return [
    row({
      flowStartSeconds: 1_700_000_000,
      flowEndSeconds: 1_700_000_060,
      sourceIP: "10.10.0.5",
      destinationIP: "10.10.1.7",
      sourceTransportPort: 40312,
      destinationTransportPort: 8080,
      protocolIdentifier: 6,
      packetTotalCount: 120,
      octetTotalCount: 98_000,
      sourcePodName: "client-7d9f",
      sourcePodNamespace: "shop",
      sourceNodeName: "node-a",
      destinationPodName: "backend-0",
      destinationPodNamespace: "shop",
      destinationNodeName: "node-b",
      tcpState: "ESTABLISHED",
      flowType: 2,
    }),
    row({
      flowStartSeconds: 1_700_000_010,
      flowEndSeconds: 1_700_000_070,
      sourceIP: "fd00:10:10::5",
      destinationIP: "fd00:96::a",
      sourceTransportPort: 53011,
      destinationTransportPort: 53,
      protocolIdentifier: 17,
      sourcePodName: "client-7d9f",
      sourcePodNamespace: "shop",
      destinationPodName: "coredns-1",
      destinationPodNamespace: "kube-system",
      destinationClusterIP: "fd00:96::a",
      destinationServicePort: 53,
      destinationServicePortName: "kube-system/kube-dns:dns",
      flowType: 1,
    }),
    row({
      sourceIP: "10.10.0.6",
      destinationIP: "192.0.2.80",
      protocolIdentifier: 1,
      sourcePodName: "pinger",
      sourcePodNamespace: "default",
      flowType: 3,
    }),
  ];
}

function matches(r: FlowRow, f: FlowRecordFilter): boolean {
  return (f.srcip === undefined || r.sourceIP === f.srcip) &&
    (f.dstip === undefined || r.destinationIP === f.dstip) &&
    (f.proto === undefined || r.protocolIdentifier === f.proto) &&
    (f.srcport === undefined || r.sourceTransportPort === f.srcport) &&
    (f.dstport === undefined || r.destinationTransportPort === f.dstport);
}

/** An in-memory {@link AggregatorView}; `filters` records every filter asked for. */
export class MemoryAggregatorView implements AggregatorView {
  rows: FlowRow[];
  metricList: Metric[] = [];
  checks: HealthCheck[] = [{ name: "collector", ok: true }];
  counters: RecordMetrics = {
    numRecordsExported: 0,
    numRecordsReceived: 0,
    numRecordsDropped: 0,
    numFlows: 0,
    numConnToCollector: 0,
    withClickHouseExporter: false,
    withEmbeddedStore: true,
    withFlowCollector: false,
  };
  /** When set, every method throws it (the aggregator failing). */
  failure: Error | undefined;
  readonly filters: FlowRecordFilter[] = [];

  constructor(rows: FlowRow[] = sampleRows()) {
    this.rows = rows;
  }

  #check(): void {
    if (this.failure) throw this.failure;
  }

  flowRecords(filter: FlowRecordFilter): FlowRow[] {
    this.#check();
    this.filters.push(filter);
    return this.rows.filter((r) => matches(r, filter));
  }

  recordMetrics(): RecordMetrics {
    this.#check();
    return { ...this.counters, numFlows: this.rows.length };
  }

  metrics(): Metric[] {
    this.#check();
    return this.metricList;
  }

  health(): HealthCheck[] {
    this.#check();
    return this.checks;
  }
}
