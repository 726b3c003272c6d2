/**
 * `deno task bench sqlite`: rows per second of the embedded flow store (SqliteStore) writing
 * flow rows to a file, next to the `sqlite3` CLI importing the same rows into the same schema in
 * one transaction, and the longest event-loop stall while the store commits.
 *
 * @module
 */

import { silentLogger } from "../../src/log/mod.ts";
import { openFlowDatabase, SqliteStore } from "../../src/store/sqlite/mod.ts";
import { emptyFlowRow, FLOW_COLUMNS, type FlowRow } from "../../src/store/types.ts";
import { parseFlags } from "../_cli.ts";

const USAGE = `Usage: deno task bench sqlite [--rows N] [--batch LIST] [--rounds N] [--json FILE]

Writes N flow rows (a simulated cluster: 1000 pods in 10 namespaces on 20 nodes, labels,
policies) to a new SQLite file in a temporary directory, in the same schema (flows table,
6 indexes, WAL, synchronous=NORMAL), with:
  store    SqliteStore: write() in chunks of 1000 rows, then flush(); the store commits in
           transactions of --batch rows with a turn of the event loop between. Also measured:
           the longest event-loop stall (a 1 ms interval timer's largest gap) during the commits
  sqlite3  the sqlite3 CLI: .import --csv of the same rows into the same empty schema, one
           transaction (process wall time, start included)
then queries the store's file (newest 1000; by source IP; by destination port; by pod) and
prints the medians of rounds and the ratio store / sqlite3.

  --rows     rows per round (default 200000)
  --batch    batchRows values to compare, comma separated (default 1000,2000,5000)
  --rounds   rounds of each (default 3)
  --json     also write every figure to FILE as JSON
  -h, --help this help

Needs the sqlite3 CLI (Debian package sqlite3).`;

/** Rows of a simulated cluster; `i` picks endpoints, times and counters. */
function flowRows(n: number): FlowRow[] {
  const rows: FlowRow[] = new Array(n);
  const uuid = "3f0b7c1e-2a4d-4c8e-9b1f-6d2e8a7c5b40";
  for (let i = 0; i < n; i++) {
    const r = emptyFlowRow();
    const src = (i * 7919) % 1000;
    const dst = (i * 104729 + 13) % 1000;
    r.flowStartSeconds = 1_700_000_000 + (i >> 3);
    r.flowEndSeconds = r.flowStartSeconds + 5 + (i % 60);
    r.flowEndSecondsFromSourceNode = r.flowEndSeconds;
    r.flowEndSecondsFromDestinationNode = r.flowEndSeconds;
    r.flowEndReason = 3;
    r.sourceIP = `10.244.${src >> 6}.${(src & 63) + 2}`;
    r.destinationIP = `10.244.${dst >> 6}.${(dst & 63) + 2}`;
    r.sourceTransportPort = 32768 + (i % 28000);
    r.destinationTransportPort = [80, 443, 8080, 53, 5432][i % 5]!;
    r.protocolIdentifier = i % 5 === 3 ? 17 : 6;
    r.packetTotalCount = 10 + (i % 10_000);
    r.octetTotalCount = r.packetTotalCount * 900;
    r.packetDeltaCount = i % 100;
    r.octetDeltaCount = (i % 100) * 900;
    r.reversePacketTotalCount = 8 + (i % 9000);
    r.reverseOctetTotalCount = r.reversePacketTotalCount * 1200;
    r.sourcePodName = `app-${src % 100}-7d9f8c6b5-${src.toString(36).padStart(5, "x")}`;
    r.sourcePodNamespace = `team-${src % 10}`;
    r.sourceNodeName = `node-${src % 20}`;
    r.destinationPodName = `svc-${dst % 100}-5c7b9d8f6-${dst.toString(36).padStart(5, "y")}`;
    r.destinationPodNamespace = `team-${dst % 10}`;
    r.destinationNodeName = `node-${dst % 20}`;
    r.destinationClusterIP = i % 2 === 0 ? `10.96.${dst >> 8}.${dst & 255}` : "";
    r.destinationServicePort = i % 2 === 0 ? r.destinationTransportPort : 0;
    r.destinationServicePortName = i % 2 === 0 ? `team-${dst % 10}/svc-${dst % 100}:http` : "";
    r.ingressNetworkPolicyName = i % 4 === 0 ? `allow-${dst % 30}` : "";
    r.ingressNetworkPolicyNamespace = i % 4 === 0 ? `team-${dst % 10}` : "";
    r.ingressNetworkPolicyRuleAction = i % 4 === 0 ? 1 : 0;
    r.ingressNetworkPolicyType = i % 4 === 0 ? 1 : 0;
    r.tcpState = r.protocolIdentifier === 6 ? "ESTABLISHED" : "";
    r.flowType = src % 20 === dst % 20 ? 1 : 2;
    r.sourcePodLabels = `{"app":"app-${src % 100}","pod-template-hash":"7d9f8c6b5"}`;
    r.destinationPodLabels = `{"app":"svc-${dst % 100}","tier":"backend"}`;
    r.throughput = (i % 1000) * 8000;
    r.reverseThroughput = (i % 700) * 9000;
    r.clusterUUID = uuid;
    rows[i] = r;
  }
  return rows;
}

/** RFC 4180 CSV of the rows, `timeInserted` first, as `.import --csv` reads it. */
function toCsv(rows: FlowRow[], timeInserted: number): string {
  const names = FLOW_COLUMNS.map((c) => c.name);
  const text = FLOW_COLUMNS.map((c) => c.type === "String");
  const parts: string[] = [];
  for (const row of rows) {
    const r = row as unknown as Record<string, string | number>;
    let line = String(timeInserted);
    for (let c = 0; c < names.length; c++) {
      const v = r[names[c]!]!;
      if (text[c]) {
        const s = v as string;
        line += /[",\n\r]/.test(s) ? `,"${s.replaceAll('"', '""')}"` : `,${s}`;
      } else {
        line += `,${v}`;
      }
    }
    parts.push(line);
  }
  return parts.join("\n") + "\n";
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

async function removeDb(path: string): Promise<void> {
  for (const p of [path, `${path}-wal`, `${path}-shm`]) {
    await Deno.remove(p).catch(() => {});
  }
}

interface StoreRun {
  rowsPerSecond: number;
  maxStallMs: number;
}

/** One round of SqliteStore: write in chunks of 1000, flush, close. */
async function storeRound(path: string, rows: FlowRow[], batchRows: number): Promise<StoreRun> {
  await removeDb(path);
  const store = new SqliteStore({
    path,
    batchRows,
    queueLimit: rows.length,
    commitIntervalMs: 1000,
    logger: silentLogger,
  });
  let last = performance.now();
  let maxStall = 0;
  const probe = setInterval(() => {
    const now = performance.now();
    maxStall = Math.max(maxStall, now - last);
    last = now;
  }, 1);
  const t0 = performance.now();
  for (let i = 0; i < rows.length; i += 1000) store.write(rows.slice(i, i + 1000));
  last = performance.now();
  await store.flush();
  const dt = (performance.now() - t0) / 1000;
  clearInterval(probe);
  const stats = store.stats();
  await store.close();
  if (stats.written !== rows.length) {
    throw new Error(`SqliteStore wrote ${stats.written} of ${rows.length} rows`);
  }
  return { rowsPerSecond: rows.length / dt, maxStallMs: maxStall };
}

/** One round of the sqlite3 CLI importing the CSV into the same empty schema. */
async function cliRound(path: string, csvPath: string, rows: number): Promise<number> {
  await removeDb(path);
  openFlowDatabase(path).close(); // the same schema, pragmas, indexes
  const script = [
    "PRAGMA synchronous = NORMAL;",
    "PRAGMA cache_size = -32768;",
    "PRAGMA wal_autocheckpoint = 10000;",
    `.import --csv ${csvPath} flows`,
    "SELECT count(*) FROM flows;",
  ].join("\n");
  const t0 = performance.now();
  const child = new Deno.Command("sqlite3", {
    args: ["-batch", path],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(script + "\n"));
  await w.close();
  const out = await child.output();
  const dt = (performance.now() - t0) / 1000;
  const text = new TextDecoder().decode(out.stdout).trim().split("\n").at(-1);
  if (!out.success || text !== String(rows)) {
    throw new Error(
      `sqlite3 import failed (${out.code}): ${new TextDecoder().decode(out.stderr)} ${text}`,
    );
  }
  return rows / dt;
}

/** Query latencies on a filled store file, median of 5 runs each (ms). */
async function queryTimes(path: string, rows: FlowRow[]): Promise<Record<string, number>> {
  const store = new SqliteStore({ path, logger: silentLogger });
  const mid = rows[rows.length >> 1]!;
  const queries = {
    "newest 1000": {},
    "srcip": { srcip: mid.sourceIP },
    "dstport 443": { dstport: 443 },
    "sourcePodName": { sourcePodName: mid.sourcePodName },
    "srcip none": { srcip: "192.0.2.1" },
  };
  const out: Record<string, number> = {};
  try {
    for (const [name, q] of Object.entries(queries)) {
      const ts: number[] = [];
      for (let i = 0; i < 5; i++) {
        const t0 = performance.now();
        await store.query(q);
        ts.push(performance.now() - t0);
      }
      out[name] = median(ts);
    }
    const t0 = performance.now();
    await store.count();
    out["count"] = performance.now() - t0;
  } finally {
    await store.close();
  }
  return out;
}

export async function main(args: string[]): Promise<void> {
  const flags = parseFlags(USAGE, {
    rows: { type: "string", default: "200000" },
    batch: { type: "string", default: "1000,2000,5000" },
    rounds: { type: "string", default: "3" },
    json: { type: "string" },
  }, args);
  const n = Number(flags.rows);
  const rounds = Number(flags.rounds);
  const batches = String(flags.batch).split(",").map(Number);
  if (!Number.isInteger(n) || n < 1000 || !Number.isInteger(rounds) || rounds < 1) {
    console.error(`--rows must be an integer >= 1000 and --rounds >= 1\n\n${USAGE}`);
    Deno.exit(2);
  }
  if (batches.some((b) => !Number.isInteger(b) || b < 1)) {
    console.error(`--batch takes positive integers\n\n${USAGE}`);
    Deno.exit(2);
  }
  try {
    await new Deno.Command("sqlite3", { args: ["-version"], stdout: "null" }).output();
  } catch {
    console.error("sqlite3 is not installed (apt-get install sqlite3)");
    Deno.exit(1);
  }

  const dir = await Deno.makeTempDir({ prefix: "flowvis-bench-sqlite-" });
  try {
    const rows = flowRows(n);
    const path = `${dir}/flows.db`;
    const csvPath = `${dir}/flows.csv`;
    await Deno.writeTextFile(csvPath, toCsv(rows, 1_700_000_000));
    console.log(`${fmt(n)} rows per round, ${rounds} rounds, file in ${dir}`);

    const cli: number[] = [];
    const store = new Map<number, StoreRun[]>(batches.map((b) => [b, []]));
    for (let r = 0; r < rounds; r++) {
      // Alternate the contenders so drift on a shared machine hits both.
      cli.push(await cliRound(path, csvPath, n));
      for (const b of batches) store.get(b)!.push(await storeRound(path, rows, b));
    }
    const cliRate = median(cli);
    console.log(`\nsqlite3 CLI .import (one transaction): ${fmt(cliRate)} rows/s`);
    console.log("SqliteStore:");
    const figures: Record<string, unknown> = { rows: n, rounds, sqlite3RowsPerSecond: cliRate };
    const storeFigures: Record<string, unknown> = {};
    for (const [b, runs] of store) {
      const rate = median(runs.map((x) => x.rowsPerSecond));
      const stall = median(runs.map((x) => x.maxStallMs));
      console.log(
        `  batchRows ${String(b).padStart(5)}: ${fmt(rate).padStart(9)} rows/s, ` +
          `${(rate / cliRate).toFixed(2)}x sqlite3, longest event-loop stall ${
            stall.toFixed(1)
          } ms`,
      );
      storeFigures[b] = { rowsPerSecond: rate, ratio: rate / cliRate, maxStallMs: stall };
    }
    figures.store = storeFigures;

    // The last round left a store file with n rows: query it.
    const q = await queryTimes(path, rows);
    console.log(`Queries on ${fmt(n)} rows (median of 5, ms):`);
    for (const [name, ms] of Object.entries(q)) {
      console.log(`  ${name.padEnd(14)} ${ms.toFixed(2)}`);
    }
    figures.queryMs = q;
    if (typeof flags.json === "string") {
      await Deno.writeTextFile(flags.json, JSON.stringify(figures, null, 2) + "\n");
    }
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
