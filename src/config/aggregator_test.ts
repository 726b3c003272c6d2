import { assert, assertEquals, assertStringIncludes, assertThrows } from "../../tests/_assert.ts";
import {
  type AggregatorConfig,
  ConfigError,
  parseAggregatorConfig,
  parseByteSize,
  TLS_CIPHER_SUITES,
} from "./mod.ts";
import { checkDatabaseName } from "../store/clickhouse/sql.ts";

/** The error of a config that must be refused; checks it names `key`. */
function refused(text: string, key: string): ConfigError {
  const e = assertThrows(() => parseAggregatorConfig(text), ConfigError, undefined, text);
  assertEquals(e.key, key, `key named for ${JSON.stringify(text)} (${e.message})`);
  if (key !== "") assert(e.message.startsWith(`${key}: `), e.message);
  return e;
}

Deno.test("aggregator config: the reference's defaults and flowvis's", () => {
  const c = parseAggregatorConfig("");
  const expected: AggregatorConfig = {
    activeFlowRecordTimeout: 60_000,
    inactiveFlowRecordTimeout: 90_000,
    aggregatorTransportProtocol: "tls",
    flowAggregatorAddress: "flow-aggregator.flow-aggregator.svc",
    recordContents: { podLabels: false },
    apiServer: { apiPort: 10348, bindAddress: "0.0.0.0", tlsCipherSuites: [], tlsMinVersion: "" },
    flowCollector: {
      enable: false,
      address: "",
      observationDomainID: undefined,
      recordFormat: "IPFIX",
    },
    clickHouse: {
      enable: false,
      database: "default",
      databaseURL: "http://clickhouse-clickhouse.flow-visibility.svc:8123",
      debug: false,
      compress: true,
      commitInterval: 8000,
      username: "default",
      password: "",
      retention: 12 * 3600_000,
      spoolDir: "flowvis-data/clickhouse-spool",
      spoolMaxSize: 1024 ** 3,
    },
    embeddedStore: { enable: true, path: "flowvis-data/flows.db", retention: 24 * 3600_000 },
    kubeconfig: undefined,
    inventoryFile: undefined,
    collectorAddress: "0.0.0.0:4739:tls",
    tls: { dir: "flowvis-data/pki", caFile: undefined, certFile: undefined, keyFile: undefined },
    correlationTimeout: 120_000,
    maxFlows: 2_000_000,
    udpReceiveBuffer: 4 * 1024 * 1024,
  };
  assertEquals(c, expected);
  // An empty document, a comment-only one and an empty map are the same.
  assertEquals(parseAggregatorConfig("# nothing\n"), expected);
  assertEquals(parseAggregatorConfig("{}"), expected);
});

Deno.test("aggregator config: the reference's example file is accepted, except its tcp:// URL", () => {
  const reference = `
activeFlowRecordTimeout: 60s
inactiveFlowRecordTimeout: 90s
aggregatorTransportProtocol: "tls"
flowAggregatorAddress: "flow-aggregator.flow-aggregator.svc"
recordContents:
  podLabels: false
apiServer:
  apiPort: 10348
  tlsCipherSuites: ""
  tlsMinVersion: ""
flowCollector:
  enable: false
  address: ""
  #observationDomainID:
  recordFormat: "IPFIX"
clickHouse:
  enable: false
  database: "default"
  databaseURL: "tcp://clickhouse-clickhouse.flow-visibility.svc:9000"
  debug: false
  compress: true
  commitInterval: "8s"
`;
  const e = refused(reference, "clickHouse.databaseURL");
  assertStringIncludes(e.message, "write http://clickhouse-clickhouse.flow-visibility.svc:8123");
  assertStringIncludes(e.message, "HTTP interface");
  const fixed = reference.replace(
    "tcp://clickhouse-clickhouse.flow-visibility.svc:9000",
    "http://clickhouse-clickhouse.flow-visibility.svc:8123",
  );
  assertEquals(parseAggregatorConfig(fixed), parseAggregatorConfig(""));
});

Deno.test("aggregator config: every key", () => {
  const c = parseAggregatorConfig(
    `
activeFlowRecordTimeout: 30s
inactiveFlowRecordTimeout: 1m30s
aggregatorTransportProtocol: tcp
flowAggregatorAddress: 10.96.0.20
recordContents: { podLabels: true }
apiServer:
  apiPort: 10349
  bindAddress: "::1"
  tlsCipherSuites: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"
  tlsMinVersion: VersionTLS12
flowCollector:
  enable: true
  address: 192.0.2.10:4739:udp
  observationDomainID: 4294967295
  recordFormat: JSON
clickHouse:
  enable: true
  database: flows_db
  databaseURL: https://ch.example.com:8443
  debug: true
  compress: false
  commitInterval: 1s
  username: writer
  password: s3cret
  retention: 6h
  spoolDir: /var/spool/flowvis
  spoolMaxSize: 512Mi
embeddedStore:
  enable: true
  path: /var/lib/flowvis/flows.db
  retention: 48h
inventoryFile: /etc/flowvis/inventory.yaml
collectorAddress: "[::]:14739"
tls:
  dir: /var/lib/flowvis/pki
  caFile: ca.crt
  certFile: server.crt
  keyFile: server.key
correlationTimeout: 30s
maxFlows: 1000
udpReceiveBuffer: 8Mi
`,
    { CH_USERNAME: "env-user", CH_PASSWORD: "env-pass" },
  );
  const expected: AggregatorConfig = {
    activeFlowRecordTimeout: 30_000,
    inactiveFlowRecordTimeout: 90_000,
    aggregatorTransportProtocol: "tcp",
    flowAggregatorAddress: "10.96.0.20",
    recordContents: { podLabels: true },
    apiServer: {
      apiPort: 10349,
      bindAddress: "::1",
      tlsCipherSuites: [
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
      ],
      tlsMinVersion: "VersionTLS12",
    },
    flowCollector: {
      enable: true,
      address: "192.0.2.10:4739:udp",
      observationDomainID: 4294967295,
      recordFormat: "JSON",
    },
    clickHouse: {
      enable: true,
      database: "flows_db",
      databaseURL: "https://ch.example.com:8443",
      debug: true,
      compress: false,
      commitInterval: 1000,
      username: "writer",
      password: "s3cret",
      retention: 6 * 3600_000,
      spoolDir: "/var/spool/flowvis",
      spoolMaxSize: 512 * 1024 ** 2,
    },
    embeddedStore: { enable: true, path: "/var/lib/flowvis/flows.db", retention: 48 * 3600_000 },
    kubeconfig: undefined,
    inventoryFile: "/etc/flowvis/inventory.yaml",
    collectorAddress: "[::]:14739:tcp",
    tls: {
      dir: "/var/lib/flowvis/pki",
      caFile: "ca.crt",
      certFile: "server.crt",
      keyFile: "server.key",
    },
    correlationTimeout: 30_000,
    maxFlows: 1000,
    udpReceiveBuffer: 8 * 1024 * 1024,
  };
  assertEquals(c, expected);
  assertEquals(
    parseAggregatorConfig("kubeconfig: /root/.kube/config").kubeconfig,
    "/root/.kube/config",
  );
});

Deno.test("aggregator config: ClickHouse credentials from the file, then CH_USERNAME/CH_PASSWORD", () => {
  const env = { CH_USERNAME: "u", CH_PASSWORD: "p" };
  assertEquals(parseAggregatorConfig("", env).clickHouse.username, "u");
  assertEquals(parseAggregatorConfig("", env).clickHouse.password, "p");
  const c = parseAggregatorConfig("clickHouse: { username: a, password: b }", env);
  assertEquals([c.clickHouse.username, c.clickHouse.password], ["a", "b"]);
  // An empty password in the file is a password.
  assertEquals(parseAggregatorConfig("clickHouse: { password: '' }", env).clickHouse.password, "");
});

Deno.test("aggregator config: the embedded store is on by default only without ClickHouse", () => {
  assertEquals(parseAggregatorConfig("").embeddedStore.enable, true);
  assertEquals(parseAggregatorConfig("clickHouse: { enable: true }").embeddedStore.enable, false);
  const both = parseAggregatorConfig(
    "clickHouse: { enable: true }\nembeddedStore: { enable: true }",
  );
  assertEquals([both.clickHouse.enable, both.embeddedStore.enable], [true, true]);
  const fc = parseAggregatorConfig(
    "embeddedStore: { enable: false }\nflowCollector: { enable: true, address: '10.0.0.1:4739' }",
  );
  assertEquals(fc.embeddedStore.enable, false);
  assertEquals(fc.flowCollector.address, "10.0.0.1:4739:tcp", "tcp when no protocol is given");
  const e = refused("embeddedStore: { enable: false }", "embeddedStore.enable");
  assertStringIncludes(e.message, "no flow sink");
});

Deno.test("aggregator config: addresses are normalized", () => {
  const addr = (text: string) => parseAggregatorConfig(text).collectorAddress;
  assertEquals(addr("aggregatorTransportProtocol: udp"), "0.0.0.0:4739:udp");
  assertEquals(addr("collectorAddress: 127.0.0.1:0"), "127.0.0.1:0:tls");
  assertEquals(addr("collectorAddress: 127.0.0.1:5000:tls"), "127.0.0.1:5000:tls");
  assertEquals(addr("collectorAddress: localhost"), "localhost:4739:tls");
  assertEquals(addr("collectorAddress: '[fd00::1]:4740'"), "[fd00::1]:4740:tls");
  const fc = (a: string) =>
    parseAggregatorConfig(`flowCollector: { enable: true, address: "${a}" }`).flowCollector.address;
  assertEquals(fc("[fd00::2]:2055:udp"), "[fd00::2]:2055:udp");
  assertEquals(fc("collector.example:4739:TCP"), "collector.example:4739:tcp");
  const url = (u: string) =>
    parseAggregatorConfig(`clickHouse: { databaseURL: "${u}" }`).clickHouse.databaseURL;
  assertEquals(url("http://ch"), "http://ch:8123");
  assertEquals(url("http://ch/"), "http://ch:8123");
  assertEquals(url("https://ch"), "https://ch:8443");
  assertEquals(url("http://[fd00::3]"), "http://[fd00::3]:8123");
  assertEquals(url("HTTP://CH:9123"), "http://ch:9123");
  assertEquals(url("https://proxy.example/clickhouse/"), "https://proxy.example:8443/clickhouse/");
});

Deno.test("aggregator config: every cipher suite name Go knows is accepted", () => {
  const all = Object.keys(TLS_CIPHER_SUITES);
  const c = parseAggregatorConfig(`apiServer: { tlsCipherSuites: "${all.join(",")}" }`);
  assertEquals(c.apiServer.tlsCipherSuites, all);
  for (const v of ["VersionTLS10", "VersionTLS11", "VersionTLS12", "VersionTLS13"]) {
    assertEquals(
      parseAggregatorConfig(`apiServer: { tlsMinVersion: ${v} }`).apiServer.tlsMinVersion,
      v,
    );
  }
});

Deno.test("aggregator config: unknown keys and bad values are refused, naming the key", () => {
  const cases: [string, string][] = [
    ["activeFlowRecordTimeout: 60", "activeFlowRecordTimeout"],
    ["udpReceiveBuffer: 100", "udpReceiveBuffer"],
    ["udpReceiveBuffer: 2Gi", "udpReceiveBuffer"],
    ["udpReceiveBuffer: -1", "udpReceiveBuffer"],
    ["udpReceiveBuffer: lots", "udpReceiveBuffer"],
    ["activeFlowRecordTimeout: 500ms", "activeFlowRecordTimeout"],
    ["activeFlowRecordTimeout: soon", "activeFlowRecordTimeout"],
    ["inactiveFlowRecordTimeout: -1s", "inactiveFlowRecordTimeout"],
    ["inactiveFlowRecordTimeout: [1s]", "inactiveFlowRecordTimeout"],
    ["aggregatorTransportProtocol: sctp", "aggregatorTransportProtocol"],
    ["aggregatorTransportProtocol: TLS", "aggregatorTransportProtocol"],
    ["aggregatorTransportProtocol: 1", "aggregatorTransportProtocol"],
    ["flowAggregatorAddress: ''", "flowAggregatorAddress"],
    ["flowAggregatorAddress: 'flow aggregator'", "flowAggregatorAddress"],
    ["flowAggregatorAddress: 'a..b'", "flowAggregatorAddress"],
    ["flowAggregatorAddress: '-a.svc'", "flowAggregatorAddress"],
    ["recordContents: { podLabels: 'yes' }", "recordContents.podLabels"],
    ["recordContents: { podLabel: true }", "recordContents.podLabel"],
    ["recordContents: true", "recordContents"],
    ["apiServer: { apiPort: 70000 }", "apiServer.apiPort"],
    ["apiServer: { apiPort: -1 }", "apiServer.apiPort"],
    ["apiServer: { apiPort: '10348' }", "apiServer.apiPort"],
    ["apiServer: { apiPort: 1.5 }", "apiServer.apiPort"],
    ["apiServer: { bindAddress: localhost }", "apiServer.bindAddress"],
    ["apiServer: { bindAddress: 10.0.0.256 }", "apiServer.bindAddress"],
    ["apiServer: { tlsCipherSuites: TLS_NOT_A_SUITE }", "apiServer.tlsCipherSuites"],
    ["apiServer: { tlsCipherSuites: 'TLS_AES_128_GCM_SHA256' }", "apiServer.tlsCipherSuites"],
    ["apiServer: { tlsCipherSuites: [TLS_RSA_WITH_AES_128_CBC_SHA] }", "apiServer.tlsCipherSuites"],
    ["apiServer: { tlsMinVersion: VersionTLS14 }", "apiServer.tlsMinVersion"],
    ["apiServer: { tlsMinVersion: '1.2' }", "apiServer.tlsMinVersion"],
    ["apiServer: { port: 1 }", "apiServer.port"],
    ["flowCollector: { enable: 1 }", "flowCollector.enable"],
    ["flowCollector: { enable: true }", "flowCollector.address"],
    ["flowCollector: { enable: true, address: '' }", "flowCollector.address"],
    ["flowCollector: { address: '10.0.0.1' }", "flowCollector.address"],
    ["flowCollector: { address: '10.0.0.1:4739:tls' }", "flowCollector.address"],
    ["flowCollector: { address: '10.0.0.1:4739:sctp' }", "flowCollector.address"],
    ["flowCollector: { address: '10.0.0.1:99999' }", "flowCollector.address"],
    ["flowCollector: { address: 'fd00::1:4739' }", "flowCollector.address"],
    ["flowCollector: { observationDomainID: -1 }", "flowCollector.observationDomainID"],
    ["flowCollector: { observationDomainID: 4294967296 }", "flowCollector.observationDomainID"],
    ["flowCollector: { observationDomainID: abc }", "flowCollector.observationDomainID"],
    ["flowCollector: { recordFormat: json }", "flowCollector.recordFormat"],
    ["flowCollector: { recordFormat: CSV }", "flowCollector.recordFormat"],
    ["clickHouse: { enable: 'true' }", "clickHouse.enable"],
    ["clickHouse: { database: '' }", "clickHouse.database"],
    ["clickHouse: { database: 'flows; DROP TABLE flows' }", "clickHouse.database"],
    ["clickHouse: { database: 1db }", "clickHouse.database"],
    ["clickHouse: { databaseURL: 'tcp://ch:9000' }", "clickHouse.databaseURL"],
    ["clickHouse: { databaseURL: 'ch:8123' }", "clickHouse.databaseURL"],
    ["clickHouse: { databaseURL: 'not a url' }", "clickHouse.databaseURL"],
    ["clickHouse: { databaseURL: 'http://u:p@ch:8123' }", "clickHouse.databaseURL"],
    ["clickHouse: { databaseURL: 'http://ch:99999' }", "clickHouse.databaseURL"],
    ["clickHouse: { debug: on }", "clickHouse.debug"],
    ["clickHouse: { compress: 0 }", "clickHouse.compress"],
    ["clickHouse: { commitInterval: 500ms }", "clickHouse.commitInterval"],
    ["clickHouse: { commitInterval: 8 }", "clickHouse.commitInterval"],
    ["clickHouse: { username: 1 }", "clickHouse.username"],
    ["clickHouse: { password: [a] }", "clickHouse.password"],
    ["clickHouse: { retention: forever }", "clickHouse.retention"],
    ["clickHouse: { spoolDir: {} }", "clickHouse.spoolDir"],
    ["clickHouse: { spoolMaxSize: 1KB }", "clickHouse.spoolMaxSize"],
    ["clickHouse: { spoolMaxSize: lots }", "clickHouse.spoolMaxSize"],
    ["clickHouse: { spoolMaxSize: 1.5 }", "clickHouse.spoolMaxSize"],
    ["clickHouse: { spoolMaxSize: 1Qi }", "clickHouse.spoolMaxSize"],
    ["clickHouse: { spoolMaxSize: 99999999999T }", "clickHouse.spoolMaxSize"],
    ["clickHouse: { table: flows }", "clickHouse.table"],
    ["embeddedStore: { enable: null, path: 1 }", "embeddedStore.path"],
    ["embeddedStore: { retention: 0 }", "embeddedStore.retention"],
    ["embeddedStore: { enable: maybe }", "embeddedStore.enable"],
    ["kubeconfig: a\ninventoryFile: b", "inventoryFile"],
    ["kubeconfig: 1", "kubeconfig"],
    ["collectorAddress: 0.0.0.0:4739:udp", "collectorAddress"],
    ["collectorAddress: ':4739'", "collectorAddress"],
    ["collectorAddress: 'example.com:4739'", "collectorAddress"],
    ["collectorAddress: '0.0.0.0:65536'", "collectorAddress"],
    ["tls: { dir: [] }", "tls.dir"],
    ["tls: { certFile: a, keyFile: b }", "tls.caFile"],
    ["tls: { caFile: a, keyFile: b }", "tls.certFile"],
    ["tls: { caFile: a, certFile: b }", "tls.keyFile"],
    ["tls: { crtFile: a }", "tls.crtFile"],
    ["correlationTimeout: 999ms", "correlationTimeout"],
    ["correlationTimeout: 2", "correlationTimeout"],
    ["maxFlows: 0", "maxFlows"],
    ["maxFlows: 1e3x", "maxFlows"],
    ["flowCollectorAddr: a:4739", "flowCollectorAddr"],
    ["- a\n- b", ""],
    ["just a string", ""],
    ["42", ""],
    ["activeFlowRecordTimeout: [", ""],
  ];
  for (const [text, key] of cases) refused(text, key);
  assertStringIncludes(refused("bogus: 1", "bogus").message, "known keys");
  assertStringIncludes(
    refused("collectorAddress: 0.0.0.0:4739:udp", "collectorAddress").message,
    "aggregatorTransportProtocol",
  );
  assertStringIncludes(
    refused("apiServer: { tlsCipherSuites: 'TLS_AES_128_GCM_SHA256' }", "apiServer.tlsCipherSuites")
      .message,
    "TLS 1.3",
  );
});

Deno.test("aggregator config: tcp:// URLs get a message that says what to write", () => {
  const cases: [string, string][] = [
    [
      "tcp://clickhouse-clickhouse.flow-visibility.svc:9000",
      "http://clickhouse-clickhouse.flow-visibility.svc:8123",
    ],
    ["tcp://10.0.0.5:9000", "http://10.0.0.5:8123"],
    ["tcp://[fd00::5]:9000", "http://[fd00::5]:8123"],
    ["clickhouse://ch:9000", "http://ch:8123"],
  ];
  for (const [given, advice] of cases) {
    const e = refused(`clickHouse: { databaseURL: "${given}" }`, "clickHouse.databaseURL");
    assertStringIncludes(e.message, `write ${advice}`);
  }
});

Deno.test("parseByteSize: bytes, decimal and binary units; garbage is a SyntaxError", () => {
  const cases: [string, number][] = [
    ["0", 0],
    ["4096", 4096],
    ["1K", 1000],
    ["1KB", 1000],
    ["1Ki", 1024],
    ["1KiB", 1024],
    ["512Mi", 512 * 2 ** 20],
    ["1.5Gi", 1.5 * 2 ** 30],
    ["2GB", 2e9],
    ["1Ti", 2 ** 40],
    ["10 MiB", 10 * 2 ** 20],
    ["7B", 7],
  ];
  for (const [text, n] of cases) assertEquals(parseByteSize(text), n, text);
  for (const bad of ["", "Gi", "-1Gi", "1 G i", "1Gb", "1e3", "1,000", "0x10"]) {
    assertThrows(() => parseByteSize(bad), SyntaxError, undefined, bad);
  }
  const sized = (v: string) => parseAggregatorConfig(`clickHouse: { spoolMaxSize: ${v} }`);
  assertEquals(sized("1048576").clickHouse.spoolMaxSize, 2 ** 20);
  assertEquals(sized("2Gi").clickHouse.spoolMaxSize, 2 * 2 ** 30);
});

Deno.test("aggregator config: truncated, oversized and garbage files give a ConfigError", () => {
  const full = `activeFlowRecordTimeout: 60s
apiServer:
  apiPort: 10348
  tlsCipherSuites: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"
flowCollector:
  enable: true
  address: "10.0.0.1:4739:udp"
clickHouse:
  enable: true
  databaseURL: "http://ch:8123"
  spoolMaxSize: 2Gi
tls: { dir: pki }
`;
  parseAggregatorConfig(full);
  let accepted = 0;
  for (let i = 0; i < full.length; i++) {
    try {
      parseAggregatorConfig(full.slice(0, i));
      accepted++;
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
    }
  }
  assert(accepted > 0 && accepted < full.length, `some truncations accepted: ${accepted}`);
  const big = "x".repeat(1 << 20);
  assertEquals(parseAggregatorConfig(`embeddedStore: { path: ${big} }`).embeddedStore.path, big);
  refused(`embeddedStore: { path: ${big} }\nbogus: 1\n`, "bogus");
  refused(`flowAggregatorAddress: ${big}`, "flowAggregatorAddress");
  let seed = 11;
  for (let i = 0; i < 300; i++) {
    let s = "";
    for (let j = 0; j < 64; j++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      s += String.fromCharCode(seed % 128);
    }
    try {
      parseAggregatorConfig(s);
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
    }
  }
  // Binary garbage, NUL bytes and a deeply nested document.
  for (const s of ["\u0000\u0001\u0002", "\uFFFD".repeat(100), "[".repeat(10_000), "a: &x [*x]"]) {
    try {
      parseAggregatorConfig(s);
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
    }
  }
});

Deno.test("aggregator config: a clickHouse.database the store would refuse is refused here, by key", () => {
  const name = "d".repeat(65);
  const e = refused(`clickHouse: { enable: true, database: ${name} }`, "clickHouse.database");
  assertStringIncludes(e.message, name);
  // The longest name the ClickHouse store takes is accepted.
  const c = parseAggregatorConfig(`clickHouse: { enable: true, database: ${"d".repeat(64)} }`);
  assertEquals(c.clickHouse.database.length, 64);
  assertEquals(checkDatabaseName(c.clickHouse.database), c.clickHouse.database);
});
