import { assert, assertEquals, assertStringIncludes } from "../../tests/_assert.ts";
import type { Logger } from "../log/mod.ts";
import { PROMETHEUS_CONTENT_TYPE } from "../metrics/mod.ts";
import type { FlowRow } from "../store/types.ts";
import { MemoryAggregatorView } from "./_test_view.ts";
import { createApp } from "./app.ts";
import type { ErrorResponse, FlowRecordsResponse, HealthzResponse } from "./types.ts";

function setup() {
  const view = new MemoryAggregatorView();
  const logged: { msg: string; fields?: Record<string, unknown> }[] = [];
  const record = (msg: string, fields?: Record<string, unknown>) => logged.push({ msg, fields });
  const logger: Logger = { debug: record, info: record, warn: record, error: record };
  return { view, logged, app: createApp({ aggregator: view, logger }) };
}

async function items(res: Response): Promise<FlowRow[]> {
  assertEquals(res.status, 200);
  assertEquals(res.headers.get("content-type"), "application/json");
  return ((await res.json()) as FlowRecordsResponse).items;
}

async function badRequest(res: Response, parameter: string | undefined): Promise<string> {
  assertEquals(res.status, 400);
  const body = (await res.json()) as ErrorResponse;
  assertEquals(body.parameter, parameter);
  return body.error;
}

Deno.test("GET /flowrecords: every cached record without a filter", async () => {
  const { app, view } = setup();
  const got = await items(await app.request("/flowrecords"));
  assertEquals(got, view.rows);
  assertEquals(view.filters, [{}]);
});

Deno.test("GET /flowrecords: each filter, canonical values handed to the aggregator", async () => {
  const { app, view } = setup();
  const [tcp, udp6, icmp] = view.rows;
  assertEquals(await items(await app.request("/flowrecords?srcip=10.10.0.5")), [tcp]);
  assertEquals(await items(await app.request("/flowrecords?dstip=FD00:96:0::A")), [udp6]);
  assertEquals(await items(await app.request("/flowrecords?proto=icmp")), [icmp]);
  assertEquals(await items(await app.request("/flowrecords?proto=17")), [udp6]);
  assertEquals(await items(await app.request("/flowrecords?srcport=40312")), [tcp]);
  assertEquals(await items(await app.request("/flowrecords?dstport=53&proto=udp")), [udp6]);
  assertEquals(
    await items(await app.request("/flowrecords?srcip=10.10.0.5&dstip=10.10.1.7&dstport=8080")),
    [tcp],
  );
  assertEquals(await items(await app.request("/flowrecords?srcip=10.10.0.5&proto=udp")), []);
  assertEquals(view.filters[1], { dstip: "fd00:96::a" });
  assertEquals(view.filters[2], { proto: 1 });
});

Deno.test("GET /flowrecords: every validation error is 400 naming the parameter", async () => {
  const { app, view } = setup();
  const cases: [string, string | undefined, string][] = [
    ["srcip=10.0.0.256", "srcip", "Invalid srcip"],
    ["dstip=not-an-ip", "dstip", "Invalid dstip"],
    ["proto=300", "proto", "Invalid proto"],
    ["proto=gre", "proto", "Invalid proto"],
    ["srcport=65536", "srcport", "Invalid srcport"],
    ["dstport=-1", "dstport", "Invalid dstport"],
    ["dstport=8.5", "dstport", "Invalid dstport"],
    ["proto=tcp&proto=udp", "proto", "given twice"],
    ["srcip=10.0.0.1&srcip=10.0.0.2", "srcip", "given twice"],
    ["podname=x", "podname", "Unknown query parameter"],
    [`srcip=${"9".repeat(300)}`, "srcip", "300 characters long"],
    [`srcip=%ff%fe%00`, "srcip", "Invalid srcip"],
    ["srcip=%zz", "srcip", "Invalid srcip"],
    ["a=b&".repeat(2000), undefined, "more than 4096"],
  ];
  for (const [query, parameter, message] of cases) {
    const error = await badRequest(await app.request(`/flowrecords?${query}`), parameter);
    assertStringIncludes(error, message, query.slice(0, 80));
  }
  assertEquals(view.filters, [], "the aggregator is not asked for a refused query");
});

Deno.test("GET /recordmetrics: the aggregator's counters", async () => {
  const { app, view } = setup();
  view.counters = {
    numRecordsExported: 12,
    numRecordsReceived: 40,
    numRecordsDropped: 1,
    numFlows: 0,
    numConnToCollector: 2,
    withClickHouseExporter: true,
    withEmbeddedStore: true,
    withFlowCollector: false,
  };
  const res = await app.request("/recordmetrics");
  assertEquals(res.status, 200);
  assertEquals(await res.json(), { ...view.counters, numFlows: 3 });
});

Deno.test("GET /metrics: Prometheus text of the aggregator's metrics", async () => {
  const { app, view } = setup();
  view.metricList = [
    {
      name: "flowvis_aggregator_records_received_total",
      help: "Flow records received from agents.",
      type: "counter",
      value: 40,
    },
    {
      name: "flowvis_sink_queued_rows",
      help: "Rows queued in a sink.",
      type: "gauge",
      samples: [{ labels: { sink: "sqlite" }, value: 3 }, {
        labels: { sink: 'cl"ick' },
        value: 0,
      }],
    },
  ];
  const res = await app.request("/metrics");
  assertEquals(res.status, 200);
  assertEquals(res.headers.get("content-type"), PROMETHEUS_CONTENT_TYPE);
  assertEquals(
    await res.text(),
    [
      "# HELP flowvis_aggregator_records_received_total Flow records received from agents.",
      "# TYPE flowvis_aggregator_records_received_total counter",
      "flowvis_aggregator_records_received_total 40",
      "# HELP flowvis_sink_queued_rows Rows queued in a sink.",
      "# TYPE flowvis_sink_queued_rows gauge",
      'flowvis_sink_queued_rows{sink="sqlite"} 3',
      'flowvis_sink_queued_rows{sink="cl\\"ick"} 0',
      "",
    ].join("\n"),
  );
});

Deno.test("GET /healthz: 200 when every check passes, 503 naming the failing ones", async () => {
  const { app, view } = setup();
  let res = await app.request("/healthz");
  assertEquals(res.status, 200);
  assertEquals(await res.json(), { status: "ok", failing: [], checks: view.checks });

  view.checks = [
    { name: "collector", ok: true },
    { name: "sink:clickhouse", ok: false, detail: "connection refused" },
    { name: "sink:sqlite", ok: true },
    { name: "k8s", ok: false },
  ];
  res = await app.request("/healthz");
  assertEquals(res.status, 503);
  const body = (await res.json()) as HealthzResponse;
  assertEquals(body.status, "unhealthy");
  assertEquals(body.failing, ["sink:clickhouse", "k8s"]);
  assertEquals(body.checks, view.checks);
});

Deno.test("Unknown paths are 404 JSON", async () => {
  const { app } = setup();
  for (const path of ["/", "/flowrecord", "/flowrecords/x", "/metrics/", "/%00", "/../etc"]) {
    const res = await app.request(path);
    assertEquals(res.status, 404, path);
    assertEquals(res.headers.get("content-type"), "application/json", path);
    assertStringIncludes(((await res.json()) as ErrorResponse).error, "No such path", path);
  }
});

Deno.test("Other methods are 405 with Allow; HEAD answers as GET without a body", async () => {
  const { app, view } = setup();
  for (const path of ["/flowrecords", "/recordmetrics", "/metrics", "/healthz"]) {
    const res = await app.request(path, { method: "POST", body: "x" });
    assertEquals(res.status, 405, path);
    assertEquals(res.headers.get("allow"), "GET, HEAD");
    assertStringIncludes(((await res.json()) as ErrorResponse).error, `POST is not allowed`);
  }
  const res = await app.request("/flowrecords?proto=tcp", { method: "HEAD" });
  assertEquals(res.status, 200);
  assertEquals(await res.text(), "");
  assertEquals(view.filters, [{ proto: 6 }]);
});

Deno.test("An aggregator that throws gives 500 without details, and is logged", async () => {
  const { app, view, logged } = setup();
  view.failure = new Error("secret internal state");
  for (const path of ["/flowrecords", "/recordmetrics", "/metrics", "/healthz"]) {
    const res = await app.request(path);
    assertEquals(res.status, 500, path);
    assertEquals(await res.json(), { error: "Internal server error" });
  }
  assertEquals(logged.length, 4);
  assert(logged.every((l) => l.msg === "Request failed" && l.fields?.error === view.failure));
  assertEquals(logged.map((l) => l.fields?.path), [
    "/flowrecords",
    "/recordmetrics",
    "/metrics",
    "/healthz",
  ]);
});
