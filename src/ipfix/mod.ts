/**
 * The IPFIX protocol library: RFC 7011 codec, information element registries (IANA, RFC 5103
 * reverse, Antrea), template cache, and the exporting and collecting processes.
 *
 * @example
 * ```ts
 * import { antreaFlowTemplate, compileTemplate, decodeMessage, MessageEncoder, TemplateCache } from "./mod.ts";
 * const t = compileTemplate(antreaFlowTemplate(4));
 * const enc = new MessageEncoder({ observationDomainId: 1 });
 * enc.addTemplate(t.template);
 * enc.addRecord(t, { sourceIPv4Address: "10.0.0.1", octetDeltaCount: 100 });
 * const [msg] = enc.flush();
 * const decoded = decodeMessage(msg!.bytes, new TemplateCache(), { session: "s" });
 * decoded.dataSets[0]!.records[0]!.sourceIPv4Address; // "10.0.0.1"
 * ```
 *
 * @module
 */

export * from "./types.ts";
export * from "./errors.ts";
export { defaultRegistry, NON_REVERSIBLE_IDS, Registry, unknownElement } from "./registry.ts";
export { type CompiledTemplate, compileTemplate, fieldNames } from "./compile.ts";
export {
  type DecodedDataSet,
  type DecodedMessage,
  decodeHeader,
  decodeMessage,
  type DecodeOptions,
  type MessageHeader,
} from "./decoder.ts";
export {
  DEFAULT_MTU,
  type EncodedMessage,
  MAX_MESSAGE_SIZE,
  MessageEncoder,
  type MessageEncoderOptions,
  MIN_MTU,
  udpMessageSize,
} from "./encoder.ts";
export {
  MAX_CACHED_FIELDS,
  type SessionKey,
  TemplateCache,
  type TemplateCacheOptions,
  UDP_TEMPLATE_LIFETIME_MS,
} from "./template_cache.ts";
export {
  ANTREA_IPV4_TEMPLATE_ID,
  ANTREA_IPV6_TEMPLATE_ID,
  antreaFlowElementNames,
  antreaFlowTemplate,
  templateOf,
} from "./antrea_templates.ts";
export { fromHex, toHex } from "./values.ts";
export { formatIPv4, formatIPv6 } from "../net/mod.ts";
export { type Endpoint, formatHostPort, parseAddress, type Protocol } from "./address.ts";
export {
  baseName,
  fromJsonValue,
  type JsonValue,
  parseRecordLine,
  type RecordLine,
  recordToJson,
  toJsonValue,
} from "./json.ts";
export { formatMessageText } from "./text.ts";
export { Reconnector, type ReconnectorOptions } from "./reconnect.ts";
export {
  type ExporterStats,
  ExportingProcess,
  type ExportingProcessOptions,
  type TlsClientOptions,
} from "./exporting_process.ts";
export {
  CollectingProcess,
  type CollectingProcessOptions,
  type CollectorStats,
  DEFAULT_UDP_RECEIVE_BUFFER,
  type ExporterInfo,
  MAX_UDP_SESSIONS,
  type SessionStats,
  StreamFramer,
  type TlsServerOptions,
  UDP_RECEIVE_BUFFER_RANGE,
  UDP_SESSION_IDLE_MS,
} from "./collecting_process.ts";
