import { assertEquals, assertStringIncludes, assertThrows } from "../../tests/_assert.ts";
import { ConfigError, formatDuration, parseAgentConfig, parseDuration } from "./mod.ts";

Deno.test("parseDuration: Go duration strings", () => {
  const cases: [string, number][] = [
    ["5s", 5000],
    ["0", 0],
    ["1m30s", 90_000],
    ["1.5h", 5_400_000],
    ["300ms", 300],
    ["1500us", 1.5],
    ["1500µs", 1.5],
    ["1500μs", 1.5],
    ["2000000ns", 2],
    ["-1s", -1000],
    [".5s", 500],
    ["1h2m3s4ms", 3_723_004],
  ];
  for (const [text, ms] of cases) assertEquals(parseDuration(text), ms, text);
});

Deno.test("parseDuration: garbage is a SyntaxError that says what is wrong", () => {
  for (const bad of ["", "5", "s", "5x", "5 s", "1..5s", "--1s", "5s5", "1e3s", "\u0000"]) {
    assertThrows(() => parseDuration(bad), SyntaxError);
  }
  assertThrows(() => parseDuration("5"), SyntaxError, "missing unit");
});

Deno.test("formatDuration: round trips whole values", () => {
  for (const ms of [0, 500, 1000, 90_000, 5_400_000, 3_723_004]) {
    assertEquals(parseDuration(formatDuration(ms)), ms);
  }
});

Deno.test("agent config: the reference's defaults", () => {
  const c = parseAgentConfig("", { hostname: "host-1" });
  assertEquals(c.featureGates.FlowExporter, true);
  assertEquals(c.flowCollectorAddr, "flow-aggregator.flow-aggregator.svc:4739:tls");
  assertEquals(c.flowPollInterval, 5000);
  assertEquals(c.activeFlowExportTimeout, 60_000);
  assertEquals(c.idleFlowExportTimeout, 15_000);
  assertEquals(c.nodeName, "host-1");
  assertEquals(c.metricsAddress, "0.0.0.0:10350");
});

Deno.test("agent config: node name from the file, then NODE_NAME, then the hostname", () => {
  assertEquals(parseAgentConfig("nodeName: a", { nodeNameEnv: "b", hostname: "c" }).nodeName, "a");
  assertEquals(parseAgentConfig("", { nodeNameEnv: "b", hostname: "c" }).nodeName, "b");
  assertThrows(() => parseAgentConfig("", {}), ConfigError, "nodeName");
});

Deno.test("agent config: every key of the reference and flowvis", () => {
  const c = parseAgentConfig(
    `
featureGates:
  FlowExporter: false
flowCollectorAddr: "[fd00::1]:14739:tcp"
flowPollInterval: 2s
activeFlowExportTimeout: 30s
idleFlowExportTimeout: 10s
nodeName: worker-1
inventoryFile: /etc/flowvis/inventory.yaml
conntrackZones: [0, 7]
maxConnections: 5000
tls: { caFile: ca.pem, certFile: c.pem, keyFile: k.pem }
metricsAddress: 127.0.0.1:10350
exportBufferLimit: 1000
`,
  );
  assertEquals(c.featureGates.FlowExporter, false);
  assertEquals(c.flowCollectorAddr, "[fd00::1]:14739:tcp");
  assertEquals([c.flowPollInterval, c.activeFlowExportTimeout, c.idleFlowExportTimeout], [
    2000,
    30_000,
    10_000,
  ]);
  assertEquals(c.conntrackZones, [0, 7]);
  assertEquals(c.tls, { caFile: "ca.pem", certFile: "c.pem", keyFile: "k.pem" });
});

Deno.test("agent config: unknown keys and bad values are refused, naming the key", () => {
  const cases: [string, string][] = [
    ["flowPolInterval: 5s", "flowPolInterval"],
    ["flowPollInterval: 500ms", "flowPollInterval"],
    ["flowPollInterval: 5", "flowPollInterval"],
    ["flowPollInterval: soon", "flowPollInterval"],
    ["activeFlowExportTimeout: true", "activeFlowExportTimeout"],
    ["featureGates: { FlowExporter: yes please }", "featureGates.FlowExporter"],
    ["featureGates: { Other: true }", "featureGates.Other"],
    ["flowCollectorAddr: fd00::1:4739", "flowCollectorAddr"],
    ["flowCollectorAddr: host:4739:sctp", "flowCollectorAddr"],
    ["conntrackZones: [70000]", "conntrackZones"],
    ["maxConnections: 0", "maxConnections"],
    ["tls: { certFile: c.pem }", "tls.certFile"],
    ["kubeconfig: a\ninventoryFile: b", "inventoryFile"],
    ["metricsAddress: ':99999'", "metricsAddress"],
    ["- a\n- b", ""],
    ["flowPollInterval: [", ""],
  ];
  for (const [text, key] of cases) {
    const e = assertThrows(() => parseAgentConfig(text, { hostname: "h" }), ConfigError);
    assertEquals((e as ConfigError).key, key, text);
  }
  assertStringIncludes(
    (assertThrows(() => parseAgentConfig("flowPolInterval: 5s", { hostname: "h" })) as Error)
      .message,
    "known keys",
  );
});

Deno.test("agent config: truncated, oversized and garbage files give a ConfigError", () => {
  const full = "featureGates:\n  FlowExporter: true\nflowPollInterval: 5s\nnodeName: n1\n";
  for (let i = 0; i < full.length; i++) {
    try {
      parseAgentConfig(full.slice(0, i), { hostname: "h" });
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
    }
  }
  assertThrows(
    () => parseAgentConfig(`nodeName: ${"x".repeat(1 << 20)}\nbogus: 1\n`, { hostname: "h" }),
    ConfigError,
    "bogus",
  );
  let seed = 7;
  for (let i = 0; i < 300; i++) {
    let s = "";
    for (let j = 0; j < 64; j++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      s += String.fromCharCode(seed % 128);
    }
    try {
      parseAgentConfig(s, { hostname: "h" });
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
    }
  }
});
