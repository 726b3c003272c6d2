import { DatabaseSync } from "node:sqlite";
import { assert, assertEquals, assertRejects, assertThrows } from "../../../tests/_assert.ts";
import { tempDir, waitFor } from "../../../tests/_tools.ts";
import type { Logger } from "../../log/mod.ts";
import {
  emptyFlowRow,
  FLOW_COLUMNS,
  type FlowQuery,
  type FlowRow,
  type StoredFlowRow,
} from "../types.ts";
import { SqliteStore, type SqliteStoreOptions } from "./sqlite_store.ts";

const T0 = 1_700_000_000_000; // ms

/** A logger that keeps what it is told, to check what the store logs. */
function recordingLogger(): Logger & { lines: { level: string; msg: string; fields?: object }[] } {
  const lines: { level: string; msg: string; fields?: object }[] = [];
  const at = (level: string) => (msg: string, fields?: Record<string, unknown>) => {
    lines.push({ level, msg, fields });
  };
  return { lines, debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

function open(options: Partial<SqliteStoreOptions> = {}): SqliteStore {
  return new SqliteStore({ path: ":memory:", logger: recordingLogger(), ...options });
}

/** A row of a simulated cluster: `i` picks its endpoints and times. */
function flowRow(i: number): FlowRow {
  const r = emptyFlowRow();
  r.flowStartSeconds = 1_700_000_000 + i;
  r.flowEndSeconds = 1_700_000_100 + (i % 50);
  r.sourceIP = `10.0.0.${i % 7}`;
  r.destinationIP = `10.0.1.${i % 5}`;
  r.sourceTransportPort = 40000 + (i % 3);
  r.destinationTransportPort = [80, 443, 53][i % 3]!;
  r.protocolIdentifier = i % 4 === 0 ? 17 : 6;
  r.sourcePodNamespace = `ns-${i % 2}`;
  r.sourcePodName = `client-${i % 4}`;
  r.destinationPodNamespace = `ns-${i % 3}`;
  r.destinationPodName = `server-${i % 6}`;
  r.packetTotalCount = i * 3;
  r.octetTotalCount = i * 1500;
  return r;
}

/** What the store should return for `rows` written in order at `timeInserted`. */
function stored(rows: FlowRow[], timeInserted: number): StoredFlowRow[] {
  return rows.map((r) => ({ timeInserted, ...r }));
}

/** The rows of `all` (in write order) that `q` selects, newest flowEndSeconds first. */
function expected(all: StoredFlowRow[], q: FlowQuery): StoredFlowRow[] {
  const match = all.map((r, i) => ({ r, i })).filter(({ r }) =>
    (q.srcip === undefined || r.sourceIP === q.srcip) &&
    (q.dstip === undefined || r.destinationIP === q.dstip) &&
    (q.proto === undefined || r.protocolIdentifier === q.proto) &&
    (q.srcport === undefined || r.sourceTransportPort === q.srcport) &&
    (q.dstport === undefined || r.destinationTransportPort === q.dstport) &&
    (q.sourcePodNamespace === undefined || r.sourcePodNamespace === q.sourcePodNamespace) &&
    (q.sourcePodName === undefined || r.sourcePodName === q.sourcePodName) &&
    (q.destinationPodNamespace === undefined ||
      r.destinationPodNamespace === q.destinationPodNamespace) &&
    (q.destinationPodName === undefined || r.destinationPodName === q.destinationPodName) &&
    (q.since === undefined || r.flowEndSeconds >= q.since) &&
    (q.until === undefined || r.flowEndSeconds < q.until)
  );
  match.sort((a, b) => b.r.flowEndSeconds - a.r.flowEndSeconds || b.i - a.i);
  return match.slice(0, q.limit ?? 1000).map(({ r }) => r);
}

Deno.test("SqliteStore round-trips every column with exact values", async () => {
  const store = open({ clock: () => T0 + 999 });
  try {
    const rows: FlowRow[] = [];
    const texts = [
      'it\'s "quoted"; DROP TABLE flows; --',
      "line one\nline two\r\n\ttabbed\\backslash",
      "ünïcødé 流量 🚦 \u{10FFFF}",
      "",
    ];
    for (let k = 0; k < texts.length; k++) {
      const r = emptyFlowRow() as unknown as Record<string, string | number>;
      FLOW_COLUMNS.forEach((c, j) => {
        if (c.type === "String") r[c.name] = `${texts[(k + j) % texts.length]}#${c.name}`;
        else if (c.type === "UInt64") r[c.name] = Number.MAX_SAFE_INTEGER - k * 1000 - j;
        else if (c.type === "DateTime") r[c.name] = 4_294_967_295 - k - j;
        else if (c.type === "UInt16") r[c.name] = 65535 - k - j;
        else r[c.name] = (255 - k - j) & 255;
      });
      rows.push(r as unknown as FlowRow);
    }
    rows.push(emptyFlowRow());
    store.write(rows);
    await store.flush();
    const got = await store.query({ limit: 10 });
    const want = expected(stored(rows, Math.floor((T0 + 999) / 1000)), {});
    assertEquals(got, want);
    // Keys in table order, like the ClickHouse columns.
    assertEquals(Object.keys(got[0]!), ["timeInserted", ...FLOW_COLUMNS.map((c) => c.name)]);
    assertEquals(store.stats(), {
      queued: 0,
      written: rows.length,
      dropped: 0,
      failures: 0,
      spooledRows: 0,
      spoolBytes: 0,
    });
  } finally {
    await store.close();
  }
});

Deno.test("SqliteStore stores odd values as integers and text, never failing the batch", async () => {
  const store = open({ clock: () => T0 });
  try {
    const r = emptyFlowRow() as unknown as Record<string, unknown>;
    r.packetTotalCount = 2 ** 60; // beyond 2^53: clamped
    r.octetTotalCount = 12.9; // truncated
    r.throughput = NaN;
    r.reverseThroughput = Infinity;
    r.packetDeltaCount = 5n;
    r.octetDeltaCount = -(2 ** 60);
    r.sourcePodName = undefined;
    r.destinationPodName = null;
    r.tcpState = 42;
    r.sourcePodLabels = "nul\0inside\0";
    store.write([r as unknown as FlowRow]);
    await store.flush();
    const [got] = await store.query({});
    assertEquals(got!.packetTotalCount, Number.MAX_SAFE_INTEGER);
    assertEquals(got!.octetTotalCount, 12);
    assertEquals(got!.throughput, 0);
    assertEquals(got!.reverseThroughput, 0);
    assertEquals(got!.packetDeltaCount, 5);
    assertEquals(got!.octetDeltaCount, -Number.MAX_SAFE_INTEGER);
    assertEquals(got!.sourcePodName, "");
    assertEquals(got!.destinationPodName, "");
    assertEquals(got!.tcpState, "42");
    assertEquals(got!.sourcePodLabels, "nul\uFFFDinside\uFFFD");
    assertEquals(store.stats().failures, 0);
  } finally {
    await store.close();
  }
});

Deno.test("SqliteStore query applies each filter and their combinations", async () => {
  const store = open({ clock: () => T0, batchRows: 37 });
  try {
    const rows = Array.from({ length: 300 }, (_, i) => flowRow(i));
    store.write(rows);
    await store.flush();
    const all = stored(rows, T0 / 1000);
    const queries: FlowQuery[] = [
      {},
      { srcip: "10.0.0.3" },
      { dstip: "10.0.1.4" },
      { proto: 17 },
      { proto: 6 },
      { srcport: 40001 },
      { dstport: 443 },
      { sourcePodNamespace: "ns-1" },
      { sourcePodName: "client-2" },
      { destinationPodNamespace: "ns-2" },
      { destinationPodName: "server-5" },
      { since: 1_700_000_140 },
      { until: 1_700_000_105 },
      { since: 1_700_000_110, until: 1_700_000_120 },
      { srcip: "10.0.0.1", dstport: 80, proto: 6 },
      { sourcePodNamespace: "ns-0", sourcePodName: "client-2", destinationPodName: "server-2" },
      { srcip: "10.0.0.2", since: 1_700_000_130, limit: 3 },
      { srcip: "10.9.9.9" }, // none
      { dstport: 8080 }, // none
      { srcip: "10.0.0.1' OR '1'='1" }, // bound, not spliced
    ];
    for (const q of queries) {
      const want = expected(all, q);
      assertEquals(await store.query(q), want, JSON.stringify(q));
    }
    // Every filter selects something, and not everything (the data set exercises them).
    for (const q of queries.slice(1, 16)) {
      const n = expected(all, q).length;
      assert(n > 0 && n < all.length, `${JSON.stringify(q)} selects ${n}`);
    }
    assertEquals(await store.count(), 300);
  } finally {
    await store.close();
  }
});

Deno.test("SqliteStore query: newest first, ties newest inserted first, default and given limits", async () => {
  let now = T0;
  const store = open({ clock: () => now });
  try {
    const rows = Array.from({ length: 1500 }, (_, i) => {
      const r = flowRow(i);
      r.flowEndSeconds = 1_700_000_000 + (i % 700);
      return r;
    });
    store.write(rows.slice(0, 750));
    await store.flush();
    now += 5000;
    store.write(rows.slice(750));
    await store.flush();
    const all = [
      ...stored(rows.slice(0, 750), T0 / 1000),
      ...stored(rows.slice(750), T0 / 1000 + 5),
    ];
    const def = await store.query({});
    assertEquals(def.length, 1000);
    assertEquals(def, expected(all, {}));
    for (let i = 1; i < def.length; i++) {
      assert(def[i - 1]!.flowEndSeconds >= def[i]!.flowEndSeconds, `order at ${i}`);
    }
    assertEquals(await store.query({ limit: 1 }), expected(all, { limit: 1 }));
    assertEquals((await store.query({ limit: 100_000 })).length, 1500);
    assertEquals(await store.query({ limit: 1234 }), expected(all, { limit: 1234 }));
  } finally {
    await store.close();
  }
});

Deno.test("SqliteStore query refuses bad limits and fields", async () => {
  const store = open();
  try {
    for (const limit of [0, -1, 1.5, 100_001, NaN, Infinity]) {
      await assertRejects(() => store.query({ limit }), RangeError, "limit", `limit ${limit}`);
    }
    await assertRejects(
      () => store.query({ limit: "10" as unknown as number }),
      RangeError,
      "limit",
    );
    await assertRejects(() => store.query({ srcport: 70000 }), RangeError, "srcport");
    await assertRejects(() => store.query({ proto: 256 }), RangeError, "proto");
    await assertRejects(() => store.query({ dstport: -1 }), RangeError, "dstport");
    await assertRejects(() => store.query({ since: Infinity }), RangeError, "since");
    await assertRejects(
      () => store.query({ srcip: 7 as unknown as string }),
      TypeError,
      "srcip must be a string",
    );
    await assertRejects(
      () => store.query({ until: "now" as unknown as number }),
      TypeError,
      "until must be a number",
    );
    await assertRejects(() => store.query(null as unknown as FlowQuery), TypeError, "object");
  } finally {
    await store.close();
  }
});

Deno.test("SqliteStore commits on its timer, in slices of batchRows", async () => {
  const store = open({ commitIntervalMs: 10, batchRows: 7 });
  try {
    store.write(Array.from({ length: 100 }, (_, i) => flowRow(i)));
    assertEquals(store.stats().queued, 100);
    await waitFor("the timer's commit", () => store.stats().written === 100 ? true : undefined);
    assertEquals(store.stats().queued, 0);
    assertEquals(await store.count(), 100);
  } finally {
    await store.close();
  }
});

Deno.test("SqliteStore purge and the retention job delete by insertion time", async () => {
  let now = T0;
  const logger = recordingLogger();
  const store = open({ clock: () => now, batchRows: 13, logger, retentionMs: 24 * 3600_000 });
  try {
    store.write(Array.from({ length: 100 }, (_, i) => flowRow(i)));
    await store.flush();
    now += 23 * 3600_000; // 23 h later
    store.write(Array.from({ length: 50 }, (_, i) => flowRow(100 + i)));
    await store.flush();
    assertEquals(await store.expire(), 0);
    now += 3600_000 + 1000; // the first rows are now 24 h + 1 s old
    assertEquals(await store.expire(), 100);
    assertEquals(await store.count(), 50);
    assert(logger.lines.some((l) => l.msg === "Expired rows deleted"));
    const left = await store.query({});
    assert(left.every((r) => r.timeInserted === (T0 + 23 * 3600_000) / 1000));
    // purge(before) takes Unix seconds and says how many went.
    assertEquals(await store.purge((T0 + 23 * 3600_000) / 1000), 0);
    assertEquals(await store.purge((T0 + 23 * 3600_000) / 1000 + 1), 50);
    assertEquals(await store.count(), 0);
    await assertRejects(() => store.purge(NaN), TypeError, "Unix seconds");
  } finally {
    await store.close();
  }
});

Deno.test("SqliteStore runs retention periodically", async () => {
  let now = T0;
  const store = open({ clock: () => now, retentionMs: 60_000, retentionCheckMs: 10 });
  try {
    store.write(Array.from({ length: 20 }, (_, i) => flowRow(i)));
    await store.flush();
    assertEquals(await store.count(), 20);
    now += 61_000;
    await waitFor("the retention job", async () => (await store.count()) === 0 ? true : undefined);
  } finally {
    await store.close();
  }
});

Deno.test("SqliteStore counts and logs queue overflow", async () => {
  const logger = recordingLogger();
  const store = open({ queueLimit: 10, logger, commitIntervalMs: 60_000 });
  try {
    store.write(Array.from({ length: 25 }, (_, i) => flowRow(i)));
    store.write([flowRow(99)]);
    assertEquals(store.stats().queued, 10);
    assertEquals(store.stats().dropped, 16);
    const warn = logger.lines.filter((l) => l.msg === "Queue full, rows dropped");
    assertEquals(warn.length, 1);
    assertEquals((warn[0]!.fields as { rows: number }).rows, 15);
    await store.flush();
    assertEquals(store.stats().written, 10);
    assertEquals(await store.count(), 10);
    // The first ten were kept, in order.
    assertEquals(
      (await store.query({})).map((r) => r.flowStartSeconds).sort(),
      Array.from({ length: 10 }, (_, i) => 1_700_000_000 + i),
    );
    store.write(Array.from({ length: 10 }, (_, i) => flowRow(i)));
    assertEquals(store.stats().dropped, 16);
  } finally {
    await store.close();
  }
});

Deno.test("SqliteStore keeps rows in a file across reopen", async () => {
  await using dir = await tempDir("flowvis-sqlite-");
  const path = `${dir.path}/data/flows.db`;
  const rows = Array.from({ length: 500 }, (_, i) => flowRow(i));
  let store = open({ path, clock: () => T0 });
  store.write(rows);
  await store.close(); // close flushes
  store = open({ path });
  try {
    assertEquals(await store.count(), 500);
    assertEquals(
      await store.query({ limit: 500 }),
      expected(stored(rows, T0 / 1000), { limit: 500 }),
    );
  } finally {
    await store.close();
  }
});

Deno.test("SqliteStore: close is safe twice; after it, writes are dropped and reads refused", async () => {
  const logger = recordingLogger();
  const store = open({ logger });
  store.write([flowRow(1)]);
  const first = store.close();
  const second = store.close();
  await first;
  await second;
  await store.close();
  assertEquals(store.stats().written, 1);
  store.write([flowRow(2), flowRow(3)]);
  assertEquals(store.stats().dropped, 2);
  assert(logger.lines.some((l) => l.level === "error" && l.msg.includes("after close")));
  await assertRejects(() => store.query({}), Error, "is closed");
  await assertRejects(() => store.count(), Error, "is closed");
  await assertRejects(() => store.purge(0), Error, "is closed");
  await store.flush(); // nothing left: resolves
});

Deno.test("SqliteStore keeps rows while the database is locked and retries with backoff", async () => {
  await using dir = await tempDir("flowvis-sqlite-");
  const path = `${dir.path}/flows.db`;
  const logger = recordingLogger();
  const store = open({ path, logger, commitIntervalMs: 5, maxBackoffMs: 40 });
  // Another connection (a second process would do the same) holds the write lock.
  const other = new DatabaseSync(path);
  other.exec("BEGIN IMMEDIATE");
  try {
    store.write(Array.from({ length: 50 }, (_, i) => flowRow(i)));
    const flushed = store.flush();
    await waitFor("failed commits", () => store.stats().failures >= 3 ? true : undefined);
    assertEquals(store.stats().queued, 50);
    assertEquals(store.stats().written, 0);
    assert(logger.lines.some((l) => l.msg === "Commit failed, rows kept for a retry"));
    other.exec("COMMIT");
    await flushed;
    assertEquals(store.stats().written, 50);
    assertEquals(store.stats().dropped, 0);
    assertEquals(await store.count(), 50);
  } finally {
    if (other.isTransaction) other.exec("ROLLBACK");
    other.close();
    await store.close();
  }
});

Deno.test("SqliteStore close gives up on a database locked for good, counting and logging", async () => {
  await using dir = await tempDir("flowvis-sqlite-");
  const path = `${dir.path}/flows.db`;
  const logger = recordingLogger();
  const store = open({ path, logger, commitIntervalMs: 5, maxBackoffMs: 10 });
  const other = new DatabaseSync(path);
  other.exec("BEGIN IMMEDIATE");
  try {
    store.write(Array.from({ length: 20 }, (_, i) => flowRow(i)));
    await store.close();
    const s = store.stats();
    assertEquals([s.queued, s.written, s.dropped], [0, 0, 20]);
    assert(s.failures >= 3, `failures ${s.failures}`);
    assert(logger.lines.some((l) => l.level === "error" && l.msg.includes("dropped")));
  } finally {
    other.exec("ROLLBACK");
    other.close();
  }
});

Deno.test("SqliteStore refuses bad options", () => {
  for (const k of ["retentionMs", "commitIntervalMs", "queueLimit", "batchRows"] as const) {
    for (const v of [0, -5, 1.5]) {
      assertThrows(() => open({ [k]: v }), RangeError, k, `${k} ${v}`);
    }
  }
  assertThrows(() => new SqliteStore(undefined as unknown as SqliteStoreOptions), TypeError);
});
