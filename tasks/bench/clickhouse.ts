/**
 * `deno task bench clickhouse`: rows per second from ClickHouseStore into a real ClickHouse
 * server, next to `clickhouse-client` inserting the same rows (TabSeparated and RowBinary) in the same run, and
 * the web client's JSONEachRow insert for comparison.
 *
 * @module
 */

import { createClient } from "@clickhouse/client-web";
import { createLogger, silentLogger } from "../../src/log/mod.ts";
import { Rng } from "../../src/random/mod.ts";
import {
  ClickHouseStore,
  DEFAULT_MAX_BATCH_ROWS,
  encodeRowBinary,
  encodeTsv,
} from "../../src/store/clickhouse/mod.ts";
import { createTableSql } from "../../src/store/clickhouse/sql.ts";
import { emptyFlowRow, FLOW_COLUMNS, type FlowRow } from "../../src/store/mod.ts";
import { ClickHouseServer, needsClickHouse } from "../../tests/_clickhouse.ts";
import { parseFlags } from "../_cli.ts";

const USAGE =
  `Usage: deno task bench clickhouse [--rows N] [--rounds N] [--batch-rows N] [--quick] [--json FILE]

Starts its own ClickHouse server (Debian's clickhouse-server, temporary directory, loopback),
generates N realistic flow rows (a simulated cluster: 1000 pods in 10 namespaces on 20 nodes,
Services, policies, labels), and inserts them into an empty flows table, round after round:

  store        ClickHouseStore: write() in chunks of 1000 rows, the event loop free every
               20000 rows (as the aggregator's export tick hands rows over), then flush();
               includes encoding the rows (RowBinary, one INSERT streaming them)
  store-gzip   the same with compress: true (gzip request bodies)
  client-tsv   clickhouse-client --query "INSERT INTO … FORMAT TabSeparated" fed the same
               rows as TabSeparated text (encoded beforehand, not timed), process start
               included
  client-rb    the same with the same rows in RowBinary
  web-tsv      the web client's command() carrying TabSeparated text (what the store sent
               before RowBinary): INSERTs of the store's size, two at once, encoding
               included
  json         @clickhouse/client-web insert() with format JSONEachRow, 100000-row inserts

  --rows     rows per round (default 500000)
  --rounds   rounds of each after a warm-up round, the median is reported (default 3)
  --batch-rows N   the store's maxBatchRows (its default: 25000)
  --quick    100000 rows, 2 rounds
  --json     also write the figures to FILE
  -h, --help this help

Target: store >= 0.8x the faster clickhouse-client run. Needs clickhouse-server and clickhouse-client.`;

const DB = "bench";

/** Realistic rows of a simulated cluster, the same for every seed. */
export function benchRows(n: number, seed = 1): FlowRow[] {
  const rng = new Rng(seed);
  const namespaces = Array.from({ length: 10 }, (_, i) => `team-${i}`);
  const nodes = Array.from({ length: 20 }, (_, i) => `worker-${String(i).padStart(2, "0")}`);
  const apps = ["web", "api", "db", "cache", "queue", "auth", "search", "billing"];
  const pods = Array.from({ length: 1000 }, (_, i) => {
    const app = apps[i % apps.length]!;
    return {
      name: `${app}-${(i * 2654435761 >>> 0).toString(36).slice(0, 10)}-${i.toString(36)}`,
      ns: namespaces[i % namespaces.length]!,
      node: nodes[i % nodes.length]!,
      ip: `10.244.${i % 20}.${2 + (i >> 2) % 250}`,
      labels: JSON.stringify({ app, "pod-template-hash": (i * 40503).toString(16) }),
    };
  });
  const services = Array.from({ length: 50 }, (_, i) => ({
    ip: `10.96.${i >> 4}.${10 + i}`,
    port: [80, 443, 5432, 6379, 8080][i % 5]!,
    name: `${namespaces[i % 10]}/${apps[i % apps.length]}:http`,
  }));
  const t0 = 1_700_000_000;
  const rows: FlowRow[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const src = rng.pick(pods);
    const dst = rng.pick(pods);
    const svc = rng.chance(0.6) ? rng.pick(services) : undefined;
    const r = emptyFlowRow();
    const end = t0 + (i >> 4);
    r.flowStartSeconds = end - rng.int(3600);
    r.flowEndSeconds = end;
    r.flowEndSecondsFromSourceNode = end;
    r.flowEndSecondsFromDestinationNode = src.node === dst.node ? end : end - rng.int(3);
    r.flowEndReason = rng.pick([1, 2, 3]);
    r.sourceIP = src.ip;
    r.destinationIP = dst.ip;
    r.sourceTransportPort = rng.range(32768, 60999);
    r.destinationTransportPort = svc?.port ?? rng.pick([53, 80, 443, 8080]);
    r.protocolIdentifier = rng.chance(0.9) ? 6 : 17;
    r.packetTotalCount = rng.int(1_000_000);
    r.octetTotalCount = r.packetTotalCount * rng.range(60, 1500);
    r.packetDeltaCount = rng.int(10_000);
    r.octetDeltaCount = r.packetDeltaCount * rng.range(60, 1500);
    r.reversePacketTotalCount = rng.int(1_000_000);
    r.reverseOctetTotalCount = r.reversePacketTotalCount * rng.range(60, 1500);
    r.reversePacketDeltaCount = rng.int(10_000);
    r.reverseOctetDeltaCount = r.reversePacketDeltaCount * rng.range(60, 1500);
    r.sourcePodName = src.name;
    r.sourcePodNamespace = src.ns;
    r.sourceNodeName = src.node;
    r.destinationPodName = dst.name;
    r.destinationPodNamespace = dst.ns;
    r.destinationNodeName = dst.node;
    if (svc) {
      r.destinationClusterIP = svc.ip;
      r.destinationServicePort = svc.port;
      r.destinationServicePortName = svc.name;
    }
    if (rng.chance(0.3)) {
      r.ingressNetworkPolicyName = `allow-${dst.ns}`;
      r.ingressNetworkPolicyNamespace = dst.ns;
      r.ingressNetworkPolicyRuleName = "ingress-0";
      r.ingressNetworkPolicyRuleAction = 1;
      r.ingressNetworkPolicyType = 1;
    }
    r.tcpState = r.protocolIdentifier === 6 ? rng.pick(["ESTABLISHED", "TIME_WAIT", "CLOSE"]) : "";
    r.flowType = src.node === dst.node ? 1 : 2;
    r.sourcePodLabels = src.labels;
    r.destinationPodLabels = dst.labels;
    r.throughput = rng.int(10_000_000_000);
    r.reverseThroughput = rng.int(10_000_000_000);
    r.throughputFromSourceNode = r.throughput;
    r.throughputFromDestinationNode = r.throughput;
    r.reverseThroughputFromSourceNode = r.reverseThroughput;
    r.reverseThroughputFromDestinationNode = r.reverseThroughput;
    r.clusterUUID = "6f0b2a4e-3c1d-4e5f-8a9b-0c1d2e3f4a5b";
    rows[i] = r;
  }
  return rows;
}

/**
 * CPU seconds so far of this process with its finished children (clickhouse-client), and of the
 * server: user and system time from /proc (read with cat: Deno wants --allow-all for /proc).
 */
async function cpuSeconds(
  serverPid: number | undefined,
): Promise<{ client: number; server: number }> {
  const stat = async (pid: number) => {
    const o = await new Deno.Command("cat", { args: [`/proc/${pid}/stat`], stdout: "piped" })
      .output();
    const t = new TextDecoder().decode(o.stdout);
    return t.slice(t.lastIndexOf(")") + 2).split(" ").map(Number);
  };
  const own = await stat(Deno.pid);
  // Fields 14-17 of stat(5): utime, stime, cutime, cstime, in clock ticks of 10 ms.
  const client = (own[11]! + own[12]! + own[13]! + own[14]!) / 100;
  const srv = serverPid === undefined ? [] : await stat(serverPid);
  return { client, server: serverPid === undefined ? 0 : (srv[11]! + srv[12]!) / 100 };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const fmt = (n: number) => Math.round(n).toLocaleString("en-US");

/** Runs the benchmark. */
export async function main(args: string[]): Promise<void> {
  const flags = parseFlags(USAGE, {
    rows: { type: "string" },
    rounds: { type: "string" },
    quick: { type: "boolean" },
    json: { type: "string" },
    "batch-rows": { type: "string" },
  }, args);
  const batchRows = flags["batch-rows"] === undefined ? undefined : Number(flags["batch-rows"]);
  const quick = flags.quick === true;
  const n = Number(flags.rows ?? (quick ? 100_000 : 500_000));
  const rounds = Number(flags.rounds ?? (quick ? 2 : 3));
  if (!Number.isInteger(n) || n < 1 || !Number.isInteger(rounds) || rounds < 1) {
    console.error(`--rows and --rounds must be positive integers\n\n${USAGE}`);
    Deno.exit(2);
  }
  const pre = needsClickHouse();
  if (!pre.ok) {
    console.error(`Cannot run: ${pre.reason}`);
    Deno.exit(1);
  }

  console.log(`Generating ${fmt(n)} rows…`);
  const rows = benchRows(n);
  const tsv = new TextEncoder().encode(encodeTsv(rows));
  const rb = encodeRowBinary(rows);
  console.log(
    `TabSeparated: ${(tsv.length / n).toFixed(0)} octets a row; RowBinary: ${
      (rb.length / n).toFixed(0)
    }`,
  );

  await using server = await ClickHouseServer.start();
  const version = (await server.client("SELECT version()")).trim();
  const table = `${DB}.flows`;
  const cols = FLOW_COLUMNS.map((c) => c.name).join(", ");
  await server.client(`CREATE DATABASE IF NOT EXISTS ${DB}`);
  await server.client(createTableSql(DB));

  const reset = () => server.client(`TRUNCATE TABLE ${table}`);
  const check = async (what: string) => {
    const c = Number((await server.client(`SELECT count() FROM ${table}`)).trim());
    if (c !== n) throw new Error(`${what}: ${c} rows in the table, expected ${n}`);
  };

  const web = createClient({ url: server.url, log: { level: 127 } });
  // JSONEachRow: DateTime columns as Unix seconds in quoted, ten-digit strings (18.16 reads
  // those; see tsv.ts).
  const dateCols = FLOW_COLUMNS.filter((c) => c.type === "DateTime").map((c) => c.name);
  const jsonRows = rows.map((r) => {
    const o: Record<string, unknown> = { ...r };
    for (const c of dateCols) o[c] = String(r[c]).padStart(10, "0");
    return o;
  });

  const runs: Record<string, () => Promise<void>> = {
    "client-tsv": async () => {
      await server.client(`INSERT INTO ${table} (${cols}) FORMAT TabSeparated`, tsv, 600_000);
    },
    "client-rb": async () => {
      await server.client(`INSERT INTO ${table} (${cols}) FORMAT RowBinary`, rb, 600_000);
    },
    "web-tsv": async () => {
      const head = `INSERT INTO ${table} (${cols}) FORMAT TabSeparated\n`;
      const inFlight: Promise<unknown>[] = [];
      const size = batchRows ?? DEFAULT_MAX_BATCH_ROWS;
      for (let i = 0; i < n; i += size) {
        const end = Math.min(n, i + size);
        let text = "";
        for (let j = i; j < end; j += 1000) {
          text += encodeTsv(rows.slice(j, Math.min(j + 1000, end)));
        }
        if (inFlight.length >= 2) await inFlight.shift();
        inFlight.push(web.command({ query: head + text }));
        await new Promise((r) => setTimeout(r, 0));
      }
      await Promise.all(inFlight);
    },
    store: () => viaStore(false),
    "store-gzip": () => viaStore(true),
    json: async () => {
      for (let i = 0; i < n; i += 100_000) {
        await web.insert({
          table,
          values: jsonRows.slice(i, i + 100_000),
          format: "JSONEachRow",
          columns: FLOW_COLUMNS.map((c) => c.name) as [string, ...string[]],
        });
      }
    },
  };
  async function viaStore(compress: boolean): Promise<void> {
    const store = new ClickHouseStore({
      url: server.url,
      database: DB,
      compress,
      ...(batchRows ? { maxBatchRows: batchRows } : {}),
      queueLimit: n + 1,
      commitIntervalMs: 3_600_000,
      retentionMs: 0,
      requestTimeoutMs: 600_000,
      logger: Deno.env.get("BENCH_LOG") ? createLogger("bench") : silentLogger,
    });
    await store.open();
    const t0 = performance.now();
    // As the aggregator hands rows over: slices of its export tick, the event loop free in
    // between, so that the store sends full batches while later rows are still being encoded.
    for (let i = 0; i < n; i += 1000) {
      store.write(rows.slice(i, i + 1000));
      if ((i + 1000) % 20_000 === 0) await new Promise((r) => setTimeout(r, 0));
    }
    const t1 = performance.now();
    await store.flush();
    phases.push({ compress, writeMs: t1 - t0, flushMs: performance.now() - t1 });
    const st = store.stats();
    await store.close();
    if (st.written !== n || st.dropped !== 0 || st.failures !== 0) {
      throw new Error(`store: ${JSON.stringify(st)}`);
    }
  }

  const rates: Record<string, number[]> = {};
  const cpus: Record<string, { client: number; server: number }[]> = {};
  const phases: { compress: boolean; writeMs: number; flushMs: number }[] = [];
  // Round 0 warms up every path (the JIT of the store's encoder, the server's caches) and is
  // printed but not counted: the aggregator is a long-running process.
  for (let round = 0; round <= rounds; round++) {
    for (const [name, fn] of Object.entries(runs)) {
      await reset();
      const c0 = await cpuSeconds(server.pid);
      const t0 = performance.now();
      await fn();
      const s = (performance.now() - t0) / 1000;
      const c1 = await cpuSeconds(server.pid);
      const cpu = { client: c1.client - c0.client, server: c1.server - c0.server };
      (cpus[name] ??= []).push(cpu);
      await check(name);
      if (round > 0) (rates[name] ??= []).push(n / s);
      const ph = name.startsWith("store") ? phases[phases.length - 1] : undefined;
      console.log(
        `  ${round === 0 ? "warm-up" : `round ${round}`} ${name.padEnd(10)} ${
          fmt(n / s).padStart(10)
        } rows/s${ph ? `  (write() ${fmt(ph.writeMs)} ms, flush() ${fmt(ph.flushMs)} ms)` : ""}` +
          `  cpu: client ${cpu.client.toFixed(2)} s, server ${cpu.server.toFixed(2)} s`,
      );
    }
  }
  const figures = Object.fromEntries(Object.entries(rates).map(([k, v]) => [k, median(v)]));
  const peer = Math.max(figures["client-tsv"]!, figures["client-rb"]!);
  const cpuMedian = (name: string) => {
    const c = cpus[name]!.slice(1); // without the warm-up round
    return `client ${median(c.map((x) => x.client)).toFixed(2)} s, server ${
      median(c.map((x) => x.server)).toFixed(2)
    } s`;
  };
  const ratio = figures.store! / peer;
  console.log(`
ClickHouse ${version}, ${fmt(n)} rows a round, median of ${rounds} rounds:
  ClickHouseStore (RowBinary)        ${fmt(figures.store!).padStart(10)} rows/s
  ClickHouseStore (RowBinary, gzip)  ${fmt(figures["store-gzip"]!).padStart(10)} rows/s
  clickhouse-client (TabSeparated)   ${fmt(figures["client-tsv"]!).padStart(10)} rows/s
  clickhouse-client (RowBinary)      ${fmt(figures["client-rb"]!).padStart(10)} rows/s
  client-web command() TabSeparated  ${fmt(figures["web-tsv"]!).padStart(10)} rows/s
  client-web insert() JSONEachRow    ${fmt(figures.json!).padStart(10)} rows/s
  store / faster clickhouse-client   ${ratio.toFixed(2)}x (target >= 0.8x: ${
    ratio >= 0.8 ? "met" : "NOT met"
  }); ${(figures.store! / figures["client-tsv"]!).toFixed(2)}x TabSeparated, ${
    (figures.store! / figures["client-rb"]!).toFixed(2)
  }x RowBinary
  store / JSONEachRow                ${(figures.store! / figures.json!).toFixed(1)}x
  store / TabSeparated command()     ${(figures.store! / figures["web-tsv"]!).toFixed(2)}x
CPU per round (median; client = this process and clickhouse-client):
${Object.keys(runs).map((k) => `  ${k.padEnd(11)} ${cpuMedian(k)}`).join("\n")}`);
  if (typeof flags.json === "string") {
    await Deno.writeTextFile(
      flags.json,
      JSON.stringify({ version, rows: n, rounds, rates, figures, ratio, phases }, null, 2) + "\n",
    );
  }
  await web.close();
}
