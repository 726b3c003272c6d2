/**
 * The aggregator's external flow collector (`flowCollector` in the aggregator configuration):
 * aggregated flows to a third-party collector as IPFIX over TCP or UDP (templates 256/257: the
 * agent's elements plus Antrea 120–135, 143–154 and 158), or as JSON, one object per line over
 * TCP or per datagram over UDP.
 *
 * @example
 * ```ts
 * import { emptyFlowRow } from "../../store/mod.ts";
 * import { createCollectorSink, rowToRecord } from "./mod.ts";
 * const row = { ...emptyFlowRow(), sourceIP: "10.0.0.1", destinationIP: "10.0.0.2", flowType: 1 };
 * rowToRecord(row).sourceIPv4Address; // "10.0.0.1"
 * const sink = createCollectorSink({ address: "127.0.0.1:4739:tcp", recordFormat: "IPFIX" });
 * sink.write([row]);
 * await sink.close();
 * ```
 *
 * @module
 */

export {
  AGGREGATED_IPV4_TEMPLATE_ID,
  AGGREGATED_IPV6_TEMPLATE_ID,
  aggregatedElementNames,
  aggregatedTemplate,
  PER_NODE_COUNTER_ELEMENTS,
} from "./aggregated_template.ts";
export { rowIpVersion, rowToRecord } from "./row_record.ts";
export { checkObservationDomainId, deriveObservationDomainId } from "./observation_domain.ts";
export { jsonDatagrams, type JsonFlow, MIN_JSON_DATAGRAM, rowToJson } from "./json_record.ts";
export {
  IpfixCollectorSink,
  type IpfixCollectorSinkOptions,
  observationDomainOf,
} from "./ipfix_sink.ts";
export { JsonCollectorSink, type JsonCollectorSinkOptions, MAX_UDP_PAYLOAD } from "./json_sink.ts";
export {
  type CollectorSinkOptions,
  createCollectorSink,
  type RecordFormat,
} from "./collector_sink.ts";
