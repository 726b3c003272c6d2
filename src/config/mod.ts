/**
 * YAML configuration of the agent and the aggregator: the reference's keys and defaults,
 * validated so that a bad key or value stops the process at start with a message naming it.
 *
 * @example
 * ```ts
 * import { parseAgentConfig, parseDuration } from "./mod.ts";
 * parseDuration("1m30s"); // 90000
 * parseAgentConfig("nodeName: n1").flowPollInterval; // 5000
 * ```
 *
 * @module
 */

export { AGENT_SCHEMA, type AgentConfig, type AgentEnv, parseAgentConfig } from "./agent.ts";
export { formatDuration, parseDuration } from "./duration.ts";
export {
  type Config,
  ConfigError,
  type Field,
  parseByteSize,
  type Schema,
  validate,
} from "./schema.ts";
export {
  AGGREGATOR_SCHEMA,
  type AggregatorConfig,
  type AggregatorEnv,
  parseAggregatorConfig,
  TLS_CIPHER_SUITES,
  type TlsVersionName,
} from "./aggregator.ts";
