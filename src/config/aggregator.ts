/**
 * The aggregator's configuration: the reference's flow-aggregator.conf keys
 * (activeFlowRecordTimeout, inactiveFlowRecordTimeout, aggregatorTransportProtocol,
 * flowAggregatorAddress, recordContents, apiServer, flowCollector, clickHouse) with the same
 * defaults, plus what flowvis adds (ClickHouse credentials, retention and spool, the embedded
 * store, the inventory, listen addresses, the TLS directory, correlation timeout, flow limit).
 *
 * @module
 */

import { parse as parseYaml } from "yaml";
import {
  DEFAULT_UDP_RECEIVE_BUFFER,
  formatHostPort,
  parseAddress,
  type Protocol,
  UDP_RECEIVE_BUFFER_RANGE,
} from "../ipfix/mod.ts";
import { parseIP } from "../net/mod.ts";
import { ConfigError, type Schema, validate } from "./schema.ts";

/** TLS versions of `apiServer.tlsMinVersion` (Go's crypto/tls constant names). */
export type TlsVersionName = "VersionTLS10" | "VersionTLS11" | "VersionTLS12" | "VersionTLS13";

/** A validated aggregator configuration; durations in milliseconds, sizes in bytes. */
export interface AggregatorConfig {
  activeFlowRecordTimeout: number;
  inactiveFlowRecordTimeout: number;
  aggregatorTransportProtocol: Protocol;
  /** DNS name or IP address the server certificate is made for (agents connect to it). */
  flowAggregatorAddress: string;
  recordContents: { podLabels: boolean };
  apiServer: {
    apiPort: number;
    bindAddress: string;
    /** Go / IANA cipher suite names; empty for the defaults (see {@link TLS_CIPHER_SUITES}). */
    tlsCipherSuites: string[];
    /** "" for the default. */
    tlsMinVersion: TlsVersionName | "";
  };
  flowCollector: {
    enable: boolean;
    /** `host:port:proto` with proto tcp or udp ("" when not set). */
    address: string;
    observationDomainID: number | undefined;
    recordFormat: "IPFIX" | "JSON";
  };
  clickHouse: {
    enable: boolean;
    database: string;
    /** `http(s)://host:port`, the port filled in when left out. */
    databaseURL: string;
    debug: boolean;
    compress: boolean;
    commitInterval: number;
    username: string;
    password: string;
    retention: number;
    spoolDir: string;
    spoolMaxSize: number;
  };
  embeddedStore: { enable: boolean; path: string; retention: number };
  kubeconfig: string | undefined;
  inventoryFile: string | undefined;
  /** Where the collecting process listens, as `host:port:proto` (proto from the transport). */
  collectorAddress: string;
  tls: {
    dir: string;
    caFile: string | undefined;
    certFile: string | undefined;
    keyFile: string | undefined;
  };
  correlationTimeout: number;
  maxFlows: number;
  /**
   * UDP socket receive buffer in octets (aggregatorTransportProtocol udp); 0 leaves the system's
   * (net.core.rmem_default).
   */
  udpReceiveBuffer: number;
}

/**
 * The TLS 1.0–1.2 cipher suites Go's crypto/tls knows, by Go (IANA) name, with their OpenSSL
 * names (what `node:tls` takes in `ciphers`). TLS 1.3 suites cannot be chosen.
 *
 * @example
 * ```ts
 * const c = parseAggregatorConfig('apiServer: { tlsCipherSuites: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" }');
 * c.apiServer.tlsCipherSuites.map((n) => TLS_CIPHER_SUITES[n]).join(":"); // "ECDHE-ECDSA-AES128-GCM-SHA256"
 * ```
 */
export const TLS_CIPHER_SUITES: Readonly<Record<string, string>> = {
  TLS_RSA_WITH_RC4_128_SHA: "RC4-SHA",
  TLS_RSA_WITH_3DES_EDE_CBC_SHA: "DES-CBC3-SHA",
  TLS_RSA_WITH_AES_128_CBC_SHA: "AES128-SHA",
  TLS_RSA_WITH_AES_256_CBC_SHA: "AES256-SHA",
  TLS_RSA_WITH_AES_128_CBC_SHA256: "AES128-SHA256",
  TLS_RSA_WITH_AES_128_GCM_SHA256: "AES128-GCM-SHA256",
  TLS_RSA_WITH_AES_256_GCM_SHA384: "AES256-GCM-SHA384",
  TLS_ECDHE_ECDSA_WITH_RC4_128_SHA: "ECDHE-ECDSA-RC4-SHA",
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA: "ECDHE-ECDSA-AES128-SHA",
  TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA: "ECDHE-ECDSA-AES256-SHA",
  TLS_ECDHE_RSA_WITH_RC4_128_SHA: "ECDHE-RSA-RC4-SHA",
  TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA: "ECDHE-RSA-DES-CBC3-SHA",
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA: "ECDHE-RSA-AES128-SHA",
  TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA: "ECDHE-RSA-AES256-SHA",
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256: "ECDHE-ECDSA-AES128-SHA256",
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256: "ECDHE-RSA-AES128-SHA256",
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: "ECDHE-RSA-AES128-GCM-SHA256",
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: "ECDHE-ECDSA-AES128-GCM-SHA256",
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: "ECDHE-RSA-AES256-GCM-SHA384",
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: "ECDHE-ECDSA-AES256-GCM-SHA384",
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: "ECDHE-RSA-CHACHA20-POLY1305",
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: "ECDHE-ECDSA-CHACHA20-POLY1305",
  // Go's older names of the two above.
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305: "ECDHE-RSA-CHACHA20-POLY1305",
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305: "ECDHE-ECDSA-CHACHA20-POLY1305",
};

const TLS13_SUITES = new Set([
  "TLS_AES_128_GCM_SHA256",
  "TLS_AES_256_GCM_SHA384",
  "TLS_CHACHA20_POLY1305_SHA256",
]);

const CLICKHOUSE_HTTP_PORT = 8123;
const CLICKHOUSE_HTTPS_PORT = 8443;

/** Splits `apiServer.tlsCipherSuites`; throws naming an unknown or TLS 1.3 suite. */
function cipherSuites(text: string): string[] {
  const out: string[] = [];
  for (const raw of text.split(",")) {
    const name = raw.trim();
    if (name === "") continue;
    if (TLS13_SUITES.has(name)) {
      throw new TypeError(
        `"${name}" is a TLS 1.3 cipher suite, which cannot be listed (TLS 1.3 suites are always preferred)`,
      );
    }
    if (!Object.hasOwn(TLS_CIPHER_SUITES, name)) {
      throw new TypeError(
        `unknown cipher suite "${name}" (write Go names such as TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256)`,
      );
    }
    out.push(name);
  }
  return out;
}

/** Whether `s` is a DNS name: dot-separated labels of letters, digits and inner hyphens. */
function isDnsName(s: string): boolean {
  if (s.length === 0 || s.length > 253) return false;
  const labels = (s.endsWith(".") ? s.slice(0, -1) : s).split(".");
  return labels.every((l) => /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(l));
}

function checkHost(v: string): void {
  if (parseIP(v) === undefined && !isDnsName(v)) {
    throw new TypeError(`"${v}" is neither a DNS name nor an IP address`);
  }
}

/** Checks `flowCollector.address`: `host:port[:tcp|udp]`, returned with its protocol. */
function flowCollectorAddress(v: string): string {
  const hasProto = /:(tcp|udp|tls)$/i.test(v);
  const ep = parseAddress(v, "tcp");
  if (ep.protocol === "tls") {
    throw new TypeError(`Invalid address "${v}": the protocol is tcp or udp`);
  }
  if (!hasProto && !/:\d+$/.test(v)) {
    throw new TypeError(`Invalid address "${v}": write <IP>:<port>[:<proto>]`);
  }
  return `${formatHostPort(ep.host, ep.port)}:${ep.protocol}`;
}

/**
 * Checks `clickHouse.databaseURL` and fills in the port: flowvis speaks ClickHouse's HTTP
 * interface, so the native protocol's `tcp://…:9000` gets an error that says what to write.
 */
function databaseURL(v: string): string {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(v)?.[1]?.toLowerCase();
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    throw new TypeError(`"${v}" is not a URL (write http://<host>:${CLICKHOUSE_HTTP_PORT})`);
  }
  if (scheme !== "http" && scheme !== "https") {
    const host = url.hostname || "<host>";
    throw new TypeError(
      `"${v}": flowvis talks to ClickHouse over its HTTP interface, not the native ${
        scheme ?? url.protocol.replace(":", "")
      } protocol: write http://${host}:${CLICKHOUSE_HTTP_PORT} (or https://) instead`,
    );
  }
  if (url.hostname === "") throw new TypeError(`"${v}": the host is empty`);
  if (url.username !== "" || url.password !== "") {
    throw new TypeError(
      `"${v}": put credentials in clickHouse.username and clickHouse.password, not in the URL`,
    );
  }
  if (url.port === "") {
    url.port = String(scheme === "https" ? CLICKHOUSE_HTTPS_PORT : CLICKHOUSE_HTTP_PORT);
  }
  // A bare origin without the "/" URL adds.
  return url.pathname === "/" && url.search === "" && url.hash === ""
    ? `${url.protocol}//${url.host}`
    : url.toString();
}

/** The keys of the aggregator configuration file. */
export const AGGREGATOR_SCHEMA: Schema = {
  activeFlowRecordTimeout: { type: "duration", default: "60s", minMs: 1000 },
  inactiveFlowRecordTimeout: { type: "duration", default: "90s", minMs: 1000 },
  aggregatorTransportProtocol: { type: "string", default: "tls", oneOf: ["tls", "tcp", "udp"] },
  flowAggregatorAddress: {
    type: "string",
    default: "flow-aggregator.flow-aggregator.svc",
    check: checkHost,
  },
  recordContents: {
    type: "object",
    fields: { podLabels: { type: "boolean", default: false } },
  },
  apiServer: {
    type: "object",
    fields: {
      apiPort: { type: "integer", default: 10348, min: 0, max: 65535 },
      bindAddress: {
        type: "string",
        default: "0.0.0.0",
        check: (v) => {
          if (parseIP(v) === undefined) throw new TypeError(`"${v}" is not an IP address`);
        },
      },
      tlsCipherSuites: { type: "string", default: "", check: (v) => void cipherSuites(v) },
      tlsMinVersion: {
        type: "string",
        default: "",
        oneOf: ["", "VersionTLS10", "VersionTLS11", "VersionTLS12", "VersionTLS13"],
      },
    },
  },
  flowCollector: {
    type: "object",
    fields: {
      enable: { type: "boolean", default: false },
      address: {
        type: "string",
        default: "",
        check: (v) => void (v === "" || flowCollectorAddress(v)),
      },
      observationDomainID: { type: "integer", min: 0, max: 0xffff_ffff },
      recordFormat: { type: "string", default: "IPFIX", oneOf: ["IPFIX", "JSON"] },
    },
  },
  clickHouse: {
    type: "object",
    fields: {
      enable: { type: "boolean", default: false },
      database: {
        type: "string",
        default: "default",
        check: (v) => {
          if (!/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(v)) {
            throw new TypeError(
              `"${v}" is not a database name (1 to 64 letters, digits and "_", not starting with a digit)`,
            );
          }
        },
      },
      databaseURL: {
        type: "string",
        default: "http://clickhouse-clickhouse.flow-visibility.svc:8123",
        check: (v) => void databaseURL(v),
      },
      debug: { type: "boolean", default: false },
      compress: { type: "boolean", default: true },
      commitInterval: { type: "duration", default: "8s", minMs: 1000 },
      username: { type: "string" },
      password: { type: "string" },
      retention: { type: "duration", default: "12h", minMs: 1000 },
      spoolDir: { type: "string", default: "flowvis-data/clickhouse-spool" },
      spoolMaxSize: { type: "bytes", default: 2 ** 30, min: 1 << 20 },
    },
  },
  embeddedStore: {
    type: "object",
    fields: {
      enable: { type: "boolean" },
      path: { type: "string", default: "flowvis-data/flows.db" },
      retention: { type: "duration", default: "24h", minMs: 1000 },
    },
  },
  kubeconfig: { type: "string" },
  inventoryFile: { type: "string" },
  collectorAddress: { type: "string", default: "0.0.0.0:4739" },
  tls: {
    type: "object",
    fields: {
      dir: { type: "string", default: "flowvis-data/pki" },
      caFile: { type: "string" },
      certFile: { type: "string" },
      keyFile: { type: "string" },
    },
  },
  correlationTimeout: { type: "duration", default: "2m", minMs: 1000 },
  maxFlows: { type: "integer", default: 2_000_000, min: 1 },
  udpReceiveBuffer: {
    type: "bytes",
    default: DEFAULT_UDP_RECEIVE_BUFFER,
    max: UDP_RECEIVE_BUFFER_RANGE.max,
  },
};

/** Where ClickHouse credentials come from when the file does not say. */
export interface AggregatorEnv {
  CH_USERNAME?: string | undefined;
  CH_PASSWORD?: string | undefined;
}

/** Runs `fn`; a thrown error becomes a {@link ConfigError} naming `key`. */
function at<T>(key: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw new ConfigError(key, (e as Error).message, { cause: e });
  }
}

/**
 * Parses and validates an aggregator configuration file's text (flow-aggregator.conf). Unknown
 * keys and bad values throw a {@link ConfigError} naming the key. ClickHouse credentials not in
 * the file come from `env` (CH_USERNAME, CH_PASSWORD), else "default" and "".
 *
 * @example
 * ```ts
 * const c = parseAggregatorConfig("activeFlowRecordTimeout: 30s\n");
 * c.activeFlowRecordTimeout; // 30000
 * c.collectorAddress; // "0.0.0.0:4739:tls"
 * c.embeddedStore.enable; // true (ClickHouse is off)
 * ```
 */
export function parseAggregatorConfig(text: string, env: AggregatorEnv = {}): AggregatorConfig {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw new ConfigError("", `Not valid YAML: ${(e as Error).message}`, { cause: e });
  }
  const c = validate(doc, AGGREGATOR_SCHEMA);
  if (c.kubeconfig && c.inventoryFile) {
    throw new ConfigError("inventoryFile", "set either kubeconfig or inventoryFile, not both");
  }
  const t = c.tls;
  const given = [t.caFile, t.certFile, t.keyFile].filter((f) => f !== undefined).length;
  if (given !== 0 && given !== 3) {
    throw new ConfigError(
      t.caFile === undefined
        ? "tls.caFile"
        : t.certFile === undefined
        ? "tls.certFile"
        : "tls.keyFile",
      "tls.caFile, tls.certFile and tls.keyFile go together (or leave all three out to use tls.dir)",
    );
  }
  const protocol = c.aggregatorTransportProtocol as Protocol;
  const collectorAddress = at("collectorAddress", () => {
    const ep = parseAddress(c.collectorAddress, protocol);
    if (ep.protocol !== protocol) {
      throw new TypeError(
        `the protocol is aggregatorTransportProtocol's (${protocol}), not ${ep.protocol}`,
      );
    }
    if (parseIP(ep.host) === undefined && ep.host !== "localhost") {
      throw new TypeError(`"${ep.host}" is not an IP address to listen on`);
    }
    return `${formatHostPort(ep.host, ep.port)}:${protocol}`;
  });
  const fc = c.flowCollector;
  if (fc.enable && fc.address === "") {
    throw new ConfigError(
      "flowCollector.address",
      "required when flowCollector.enable is true (write <IP>:<port>[:tcp|udp])",
    );
  }
  const { min, max } = UDP_RECEIVE_BUFFER_RANGE;
  if (c.udpReceiveBuffer !== 0 && c.udpReceiveBuffer < min) {
    throw new ConfigError(
      "udpReceiveBuffer",
      `expected 0 (the system's) or a size from ${min} to ${max} bytes, got ${c.udpReceiveBuffer}`,
    );
  }
  const ch = c.clickHouse;
  const embeddedEnable: boolean = c.embeddedStore.enable ?? !ch.enable;
  if (!embeddedEnable && !ch.enable && !fc.enable) {
    throw new ConfigError(
      "embeddedStore.enable",
      "no flow sink is enabled: enable embeddedStore, clickHouse or flowCollector",
    );
  }
  return {
    ...c,
    aggregatorTransportProtocol: protocol,
    apiServer: { ...c.apiServer, tlsCipherSuites: cipherSuites(c.apiServer.tlsCipherSuites) },
    flowCollector: {
      ...fc,
      address: fc.address === "" ? "" : flowCollectorAddress(fc.address),
    },
    clickHouse: {
      ...ch,
      databaseURL: databaseURL(ch.databaseURL),
      username: ch.username ?? env.CH_USERNAME ?? "default",
      password: ch.password ?? env.CH_PASSWORD ?? "",
    },
    embeddedStore: { ...c.embeddedStore, enable: embeddedEnable },
    collectorAddress,
  } as AggregatorConfig;
}
