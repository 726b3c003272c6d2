/**
 * `deno task flowctl` as a user runs it: a subprocess with the task's permissions against the
 * real API server (serveApi on a loopback port) over an in-memory aggregator view.
 *
 * @module
 */

import { parse as parseYaml } from "yaml";
import { MemoryAggregatorView } from "../src/api/_test_view.ts";
import { type ApiServer, createApp, serveApi } from "../src/api/mod.ts";
import type { RecordMetrics } from "../src/aggregator/types.ts";
import type { FlowRow } from "../src/store/types.ts";
import { assert, assertEquals, assertStringIncludes } from "./_assert.ts";
import { writeTestCerts } from "./_certs.ts";
import { run, type RunResult } from "./_tools.ts";

const ROOT = decodeURIComponent(new URL("..", import.meta.url).pathname);
/** The permissions of `deno task flowctl`. */
const RUN = ["run", "--allow-net", "--allow-read", "--allow-env", `${ROOT}tasks/flowctl.ts`];

const METRICS: RecordMetrics = {
  numRecordsExported: 120,
  numRecordsReceived: 345,
  numRecordsDropped: 2,
  numFlows: 0,
  numConnToCollector: 2,
  withClickHouseExporter: true,
  withEmbeddedStore: true,
  withFlowCollector: false,
};

/** Runs flowctl with `args`; FLOWCTL_SERVER is `server` unless given in `env`. */
function flowctl(args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  return run(Deno.execPath(), [...RUN, ...args], {
    cwd: ROOT,
    env: { NO_COLOR: "1", FLOWCTL_SERVER: "", ...env },
    allowFailure: true,
  });
}

function ok(r: RunResult): string {
  assertEquals(r.code, 0, `flowctl failed: ${r.stderr}`);
  return r.stdout;
}

async function withServer(
  fn: (server: ApiServer, view: MemoryAggregatorView) => Promise<void>,
  tls?: { cert: string; key: string },
): Promise<void> {
  const view = new MemoryAggregatorView();
  view.counters = METRICS;
  const server = serveApi(createApp({ aggregator: view }), { port: 0, ...(tls ? { tls } : {}) });
  try {
    await fn(server, view);
  } finally {
    await server.shutdown();
  }
}

/** A loopback port that nothing listens on (bound, then released). */
function closedPort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

Deno.test("flowctl get flowrecords: antctl's table", async () => {
  await withServer(async (server) => {
    const out = ok(await flowctl(["get", "flowrecords", "--server", server.url]));
    assertEquals(out.split("\n"), [
      "SRC_IP         DST_IP      SPORT  DPORT  PROTO  SRC_POD      DST_POD    SRC_NS   DST_NS       SERVICE",
      "10.10.0.5      10.10.1.7   40312  8080   6      client-7d9f  backend-0  shop     shop",
      "fd00:10:10::5  fd00:96::a  53011  53     17     client-7d9f  coredns-1  shop     kube-system  kube-system/kube-dns:dns",
      "10.10.0.6      192.0.2.80  0      0      1      pinger                  default",
      "",
    ]);
  });
});

Deno.test("flowctl get flowrecords: filters reach the server, json and yaml give every field", async () => {
  await withServer(async (server, view) => {
    const env = { FLOWCTL_SERVER: server.url };
    const json = ok(
      await flowctl(
        [
          "get",
          "flowrecords",
          "--dstip",
          "FD00:96:0::A",
          "--proto",
          "UDP",
          "--dstport=53",
          "-o",
          "json",
        ],
        env,
      ),
    );
    assertEquals(JSON.parse(json) as FlowRow[], [view.rows[1]!]);
    assertEquals(view.filters.at(-1), { dstip: "fd00:96::a", proto: 17, dstport: 53 });

    const yaml = ok(
      await flowctl(
        ["get", "flowrecords", "--srcip", "10.10.0.5", "--srcport", "40312", "-oyaml"],
        env,
      ),
    );
    assertEquals(parseYaml(yaml) as FlowRow[], [view.rows[0]!]);
    assertStringIncludes(yaml, "- flowStartSeconds: 1700000000\n  flowEndSeconds: 1700000060\n");
    assertEquals(view.filters.at(-1), { srcip: "10.10.0.5", srcport: 40312 });

    // No match: a header only (table), an empty list (json, yaml).
    const args = ["get", "flowrecords", "--proto", "sctp"];
    assertEquals(ok(await flowctl(args, env)).split("\n").length, 2);
    assertEquals(JSON.parse(ok(await flowctl([...args, "--output", "json"], env))), []);
    assertEquals(parseYaml(ok(await flowctl([...args, "-o", "yaml"], env))), []);
  });
});

Deno.test("flowctl get recordmetrics: table, json, yaml", async () => {
  await withServer(async (server) => {
    const env = { FLOWCTL_SERVER: server.url };
    assertEquals(ok(await flowctl(["get", "recordmetrics"], env)).split("\n"), [
      "RECORDS-EXPORTED  RECORDS-RECEIVED  RECORDS-DROPPED  FLOWS  EXPORTERS-CONNECTED  CLICKHOUSE-EXPORTER  EMBEDDED-STORE  FLOW-COLLECTOR",
      "120               345               2                3      2                    true                 true            false",
      "",
    ]);
    const expected = { ...METRICS, numFlows: 3 };
    assertEquals(
      JSON.parse(ok(await flowctl(["get", "recordmetrics", "-o", "json"], env))),
      expected,
    );
    assertEquals(
      parseYaml(ok(await flowctl(["get", "recordmetrics", "-o", "yaml"], env))),
      expected,
    );
  });
});

Deno.test("flowctl: --server wins over FLOWCTL_SERVER; https with --ca", async () => {
  const certs = await writeTestCerts();
  try {
    const cert = await Deno.readTextFile(certs.path("server.pem"));
    const key = await Deno.readTextFile(certs.path("server-key.pem"));
    await withServer(async (server) => {
      const env = { FLOWCTL_SERVER: `http://127.0.0.1:${closedPort()}` };
      const out = ok(
        await flowctl(
          [
            "get",
            "recordmetrics",
            "--server",
            server.url,
            "--ca",
            certs.path("ca.pem"),
            "-o",
            "json",
          ],
          env,
        ),
      );
      assertEquals((JSON.parse(out) as RecordMetrics).numRecordsReceived, 345);
      // Without the CA the certificate is not trusted.
      const r = await flowctl(["get", "recordmetrics", "--server", server.url]);
      assertEquals(r.code, 1);
      assertStringIncludes(r.stderr, `Cannot reach the flow aggregator API at ${server.url}/`);
    }, { cert, key });
  } finally {
    await Deno.remove(certs.dir, { recursive: true });
  }
});

Deno.test("flowctl: an unreachable server is named, exit 1", async () => {
  const url = `http://127.0.0.1:${closedPort()}`;
  const ways: [string[], Record<string, string>][] = [
    [["get", "flowrecords"], { FLOWCTL_SERVER: url }],
    [["get", "flowrecords", "--server", url], {}],
  ];
  for (const [args, env] of ways) {
    const r = await flowctl(args, env);
    assertEquals(r.code, 1);
    assertEquals(r.stdout, "");
    assertStringIncludes(r.stderr, `Cannot reach the flow aggregator API at ${url}/flowrecords: `);
    assertStringIncludes(r.stderr, "Connection refused");
  }
});

Deno.test("flowctl: HTTP errors show the server's message, exit 1", async () => {
  await withServer(async (server, view) => {
    let r = await flowctl(["get", "recordmetrics", "--server", `${server.url}/prefix`]);
    assertEquals(r.code, 1);
    assertEquals(
      r.stderr.trim(),
      `${server.url}/prefix/recordmetrics answered 404 Not Found: No such path: /prefix/recordmetrics`,
    );
    view.failure = new Error("disk on fire");
    r = await flowctl(["get", "flowrecords", "--server", server.url]);
    assertEquals(r.code, 1);
    assertEquals(
      r.stderr.trim(),
      `${server.url}/flowrecords answered 500 Internal Server Error: Internal server error`,
    );
  });
});

Deno.test("flowctl: bad usage exits 2 and says what is wrong", async () => {
  const cases: [string[], string][] = [
    [[], "Missing command"],
    [["--srcip", "10.0.0.1"], "Expected a command before --srcip"],
    [["list"], 'Unknown command "list": expected get'],
    [["get"], "Missing resource: flowrecords, recordmetrics or flows"],
    [["get", "flow"], 'Unknown resource "flow"'],
    [["get", "flowrecords", "extra"], 'Unexpected argument "extra"'],
    [["get", "flowrecords", "--srcip", "10.0.0"], 'Invalid --srcip "10.0.0": expected an IPv4'],
    [["get", "flowrecords", "--dstip", "fe80::1%eth0"], "Invalid --dstip"],
    [["get", "flowrecords", "--proto", "300"], 'Invalid --proto "300"'],
    [["get", "flowrecords", "--proto", "gre"], "or one of icmp, tcp, udp, icmpv6, sctp"],
    [["get", "flowrecords", "--srcport", "65536"], 'Invalid --srcport "65536"'],
    [["get", "flowrecords", "--dstport", "-1"], "--dstport"],
    [["get", "flowrecords", "--dstport", "x".repeat(300)], "--dstport is 300 characters long"],
    [["get", "flowrecords", "--srcip", ""], "Empty --srcip"],
    [["get", "flowrecords", "--proto", "6", "--proto", "17"], "--proto is given 2 times"],
    [["get", "flowrecords", "-o", "xml"], 'Invalid --output "xml": expected table, json or yaml'],
    [["get", "flowrecords", "--limit", "5"], "Unknown option '--limit'"],
    [["get", "recordmetrics", "--srcip", "10.0.0.1"], "Unknown option '--srcip'"],
    [["get", "recordmetrics", "--server", "127.0.0.1:10348"], "expected http://HOST:PORT"],
    [["get", "recordmetrics", "--ca", "/nonexistent/ca.pem"], "Cannot read --ca"],
  ];
  for (const [args, message] of cases) {
    const r = await flowctl(args);
    assertEquals(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assertEquals(r.stdout, "", args.join(" "));
    assertStringIncludes(r.stderr, message, args.join(" "));
  }
  const r = await flowctl(["get", "recordmetrics"], { FLOWCTL_SERVER: "ftp://x" });
  assertEquals(r.code, 2);
  assertStringIncludes(
    r.stderr,
    '"ftp://x": expected http://HOST:PORT or https://HOST:PORT (from FLOWCTL_SERVER)',
  );
});

Deno.test("flowctl: --help at every level, exit 0", async () => {
  const cases: [string[], string][] = [
    [["--help"], "Commands:"],
    [["get", "-h"], "Resources:"],
    [["get", "flowrecords", "--help"], "--srcport N"],
    [["get", "recordmetrics", "--help"], "agents connected"],
  ];
  for (const [args, text] of cases) {
    const out = ok(await flowctl(args));
    assert(out.startsWith("Usage: deno task flowctl"), out);
    assertStringIncludes(out, text);
  }
});

/** Control characters a terminal would act on (C0 but newline, DEL, C1). */
// deno-lint-ignore no-control-regex
const TERMINAL_CONTROLS = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;

Deno.test("flowctl: a server's error message cannot drive the terminal", async () => {
  const evil = "\u001b]0;owned\u0007\u001b[2J\u009b31mgone";
  const answers = [
    { body: JSON.stringify({ error: evil }), type: "application/json" },
    { body: `<html>${evil}</html>`, type: "text/html" },
  ];
  for (const { body, type } of answers) {
    const ac = new AbortController();
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen: () => {} },
      () => new Response(body, { status: 502, headers: { "Content-Type": type } }),
    );
    try {
      const r = await flowctl([
        "get",
        "recordmetrics",
        "--server",
        `http://127.0.0.1:${server.addr.port}`,
      ]);
      assertEquals(r.code, 1);
      assertStringIncludes(r.stderr, "answered 502");
      assertStringIncludes(r.stderr, "owned");
      assert(
        !TERMINAL_CONTROLS.test(r.stderr),
        `raw control characters: ${JSON.stringify(r.stderr)}`,
      );
    } finally {
      ac.abort();
      await server.finished;
    }
  }
});

Deno.test("flowctl: json and yaml output escape C1 controls and DEL, and still parse back", async () => {
  await withServer(async (server, view) => {
    const row = { ...view.rows[0]!, sourcePodName: "web\u009b2J\u007f\u0085-0\u001b[31m" };
    view.rows = [row];
    for (const format of ["json", "yaml"]) {
      const out = ok(await flowctl(["get", "flowrecords", "--server", server.url, "-o", format]));
      assert(!TERMINAL_CONTROLS.test(out), `${format}: raw control characters in ${out}`);
      const back = (format === "json" ? JSON.parse(out) : parseYaml(out)) as FlowRow[];
      assertEquals(back, [row]);
    }
  });
});

Deno.test("flowctl get flows: the stored flows, filtered, as a table, json and yaml", async () => {
  const { SqliteStore } = await import("../src/store/sqlite/mod.ts");
  const { emptyFlowRow } = await import("../src/store/mod.ts");
  const { silentLogger } = await import("../src/log/mod.ts");
  await using store = new SqliteStore({ path: ":memory:", logger: silentLogger });
  const now = Math.floor(Date.now() / 1000);
  store.write([1, 2, 3].map((i) => ({
    ...emptyFlowRow(),
    flowStartSeconds: now - 600,
    flowEndSeconds: now - 100 * i,
    sourceIP: "10.10.1.5",
    destinationIP: "10.10.2.7",
    sourceTransportPort: 40000 + i,
    destinationTransportPort: 5432,
    protocolIdentifier: 6,
    sourcePodNamespace: "shop",
    sourcePodName: "web-0",
    destinationPodNamespace: "db",
    destinationPodName: `pg-${i}`,
    destinationServicePortName: "db/pg:sql",
    octetDeltaCount: 1000 * i,
    reverseOctetDeltaCount: 10 * i,
  })));
  await store.flush();
  const server = serveApi(createApp({ aggregator: new MemoryAggregatorView(), store }), {
    port: 0,
  });
  try {
    const env = { FLOWCTL_SERVER: server.url };
    const table = ok(await flowctl(["get", "flows", "--dst-ns", "db", "--since", "4m"], env));
    const lines = table.trimEnd().split("\n");
    assertEquals(lines.length, 3, table); // header, pg-1 (100 s ago), pg-2 (200 s ago)
    assertStringIncludes(lines[0]!, "END");
    assertStringIncludes(lines[0]!, "REV_BYTES");
    assertStringIncludes(lines[1]!, "pg-1");
    assertStringIncludes(lines[1]!, "db/pg:sql");
    assertStringIncludes(lines[2]!, "pg-2");
    const json = JSON.parse(ok(await flowctl(["get", "flows", "--limit", "1", "-o", "json"], env)));
    assertEquals(json.map((r: FlowRow) => r.destinationPodName), ["pg-1"]);
    const yaml = parseYaml(
      ok(await flowctl(["get", "flows", "--src-pod", "web-0", "-o", "yaml"], env)),
    );
    assertEquals((yaml as FlowRow[]).length, 3);
    const bad = await flowctl(["get", "flows", "--limit", "0"], env);
    assertEquals(bad.code, 2);
    assertStringIncludes(bad.stderr, "--limit");
    const badSince = await flowctl(["get", "flows", "--since", "yesterday"], env);
    assertEquals(badSince.code, 2);
    assertStringIncludes(badSince.stderr, "--since");
  } finally {
    await server.shutdown();
  }
});
