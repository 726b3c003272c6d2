/**
 * The agent's configuration: the reference's keys (featureGates.FlowExporter, flowCollectorAddr,
 * flowPollInterval, activeFlowExportTimeout, idleFlowExportTimeout) with the same defaults, plus
 * what flowvis adds (node name, cluster source, zones, TLS files, limits, metrics address).
 *
 * @module
 */

import { parse as parseYaml } from "yaml";
import { parseAddress } from "../ipfix/mod.ts";
import { ConfigError, type Schema, validate } from "./schema.ts";

/** A validated agent configuration; durations in milliseconds. */
export interface AgentConfig {
  featureGates: { FlowExporter: boolean };
  flowCollectorAddr: string;
  flowPollInterval: number;
  activeFlowExportTimeout: number;
  idleFlowExportTimeout: number;
  nodeName: string;
  kubeconfig: string | undefined;
  inventoryFile: string | undefined;
  conntrackZones: number[] | undefined;
  maxConnections: number;
  tls: { caFile: string | undefined; certFile: string | undefined; keyFile: string | undefined };
  metricsAddress: string;
  exportBufferLimit: number;
}

/** The keys of the agent configuration file. */
export const AGENT_SCHEMA: Schema = {
  featureGates: {
    type: "object",
    fields: { FlowExporter: { type: "boolean", default: true } },
  },
  flowCollectorAddr: {
    type: "string",
    default: "flow-aggregator.flow-aggregator.svc:4739:tls",
    check: (v) => void parseAddress(v, "tls"),
  },
  flowPollInterval: { type: "duration", default: "5s", minMs: 1000 },
  activeFlowExportTimeout: { type: "duration", default: "60s", minMs: 1000 },
  idleFlowExportTimeout: { type: "duration", default: "15s", minMs: 1000 },
  nodeName: { type: "string" },
  kubeconfig: { type: "string" },
  inventoryFile: { type: "string" },
  conntrackZones: { type: "integerList", min: 0, max: 65535 },
  maxConnections: { type: "integer", default: 1_000_000, min: 1 },
  tls: {
    type: "object",
    fields: {
      caFile: { type: "string" },
      certFile: { type: "string" },
      keyFile: { type: "string" },
    },
  },
  metricsAddress: { type: "string", default: "0.0.0.0:10350" },
  exportBufferLimit: { type: "integer", default: 100_000, min: 1 },
};

/** Where the node name comes from when the file does not say. */
export interface AgentEnv {
  nodeNameEnv?: string | undefined;
  hostname?: string | undefined;
}

/**
 * Parses and validates an agent configuration file's text. Unknown keys and bad values throw a
 * {@link ConfigError} naming the key.
 *
 * @example
 * ```ts
 * const c = parseAgentConfig("flowPollInterval: 1s\nnodeName: node-1\n");
 * c.flowPollInterval; // 1000
 * c.activeFlowExportTimeout; // 60000
 * ```
 */
export function parseAgentConfig(text: string, env: AgentEnv = {}): AgentConfig {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw new ConfigError("", `Not valid YAML: ${(e as Error).message}`, { cause: e });
  }
  const c = validate(doc, AGENT_SCHEMA) as AgentConfig;
  if (c.kubeconfig && c.inventoryFile) {
    throw new ConfigError("inventoryFile", "set either kubeconfig or inventoryFile, not both");
  }
  if ((c.tls.certFile === undefined) !== (c.tls.keyFile === undefined)) {
    throw new ConfigError("tls.certFile", "tls.certFile and tls.keyFile go together");
  }
  try {
    parseAddress(c.metricsAddress, "tcp");
  } catch (e) {
    throw new ConfigError("metricsAddress", (e as Error).message);
  }
  const nodeName = c.nodeName ?? env.nodeNameEnv ?? env.hostname;
  if (!nodeName) {
    throw new ConfigError("nodeName", "not set, and neither NODE_NAME nor a hostname is known");
  }
  return { ...c, nodeName };
}
