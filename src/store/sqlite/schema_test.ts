import { DatabaseSync } from "node:sqlite";
import { assertEquals, assertThrows } from "../../../tests/_assert.ts";
import { tempDir } from "../../../tests/_tools.ts";
import { FLOW_COLUMNS } from "../types.ts";
import { APPLICATION_ID, openFlowDatabase, SCHEMA_VERSION } from "./schema.ts";

function pragma(db: DatabaseSync, name: string): unknown {
  return (db.prepare(`PRAGMA ${name}`).get() as Record<string, unknown>)[name];
}

/** A real flow store file with `rows` rows in it, closed (checkpointed), as bytes. */
function storeBytes(path: string, rows: number): Uint8Array {
  const db = openFlowDatabase(path);
  const ins = db.prepare(
    "INSERT INTO flows (timeInserted, sourceIP, sourcePodLabels) VALUES (?, ?, ?)",
  );
  db.exec("BEGIN");
  for (let i = 0; i < rows; i++) ins.run(i, `10.0.${i >> 8 & 255}.${i & 255}`, "x".repeat(100));
  db.exec("COMMIT");
  db.close();
  return Deno.readFileSync(path);
}

Deno.test("openFlowDatabase creates parent directories, schema, version, WAL", async () => {
  await using dir = await tempDir("flowvis-sqlite-");
  const path = `${dir.path}/a/b/flows.db`;
  const db = openFlowDatabase(path);
  try {
    assertEquals(pragma(db, "user_version"), SCHEMA_VERSION);
    assertEquals(pragma(db, "application_id"), APPLICATION_ID);
    assertEquals(pragma(db, "journal_mode"), "wal");
    assertEquals(pragma(db, "synchronous"), 1); // NORMAL
    const cols = db.prepare("PRAGMA table_info(flows)").all() as {
      name: string;
      type: string;
      notnull: number;
      dflt_value: string;
    }[];
    assertEquals(
      cols.map((c) => [c.name, c.type, c.notnull, c.dflt_value]),
      [
        ["timeInserted", "INTEGER", 1, "0"],
        ...FLOW_COLUMNS.map((c) =>
          c.type === "String" ? [c.name, "TEXT", 1, "''"] : [c.name, "INTEGER", 1, "0"]
        ),
      ],
    );
    const indexes = (db.prepare("PRAGMA index_list(flows)").all() as { name: string }[])
      .map((r) => r.name).sort();
    assertEquals(indexes, [
      "flows_destinationIP",
      "flows_destinationPodName",
      "flows_flowEndSeconds",
      "flows_sourceIP",
      "flows_sourcePodName",
      "flows_timeInserted",
    ]);
  } finally {
    db.close();
  }
  // Opening again finds the same schema and does not migrate twice.
  openFlowDatabase(path).close();
});

Deno.test("openFlowDatabase accepts an empty file as a new store", async () => {
  await using dir = await tempDir("flowvis-sqlite-");
  const path = `${dir.path}/empty.db`;
  Deno.writeFileSync(path, new Uint8Array(0));
  const db = openFlowDatabase(path);
  assertEquals(pragma(db, "user_version"), SCHEMA_VERSION);
  db.close();
});

Deno.test("openFlowDatabase refuses garbage and text files", async () => {
  await using dir = await tempDir("flowvis-sqlite-");
  const cases: [string, Uint8Array][] = [
    ["text", new TextEncoder().encode("flowEndSeconds,sourceIP\n1,10.0.0.1\n".repeat(200))],
    ["short", new TextEncoder().encode("hello")],
    ["random", crypto.getRandomValues(new Uint8Array(8192))],
    ["almost", new TextEncoder().encode("SQLite format 4\0" + " ".repeat(4080))],
  ];
  for (const [name, bytes] of cases) {
    const path = `${dir.path}/${name}.db`;
    Deno.writeFileSync(path, bytes);
    assertThrows(() => openFlowDatabase(path), SyntaxError, "not an SQLite database", name);
    // The file is left as it was.
    assertEquals(Deno.readFileSync(path), bytes, name);
  }
});

Deno.test("openFlowDatabase refuses truncated store files with RangeError", async () => {
  await using dir = await tempDir("flowvis-sqlite-");
  const full = storeBytes(`${dir.path}/full.db`, 5000);
  assertEquals(full.length % 4096, 0);
  for (
    const n of [
      10,
      50,
      99,
      100,
      4096,
      3 * 4096,
      full.length >> 1,
      full.length - 4096,
      full.length - 1,
    ]
  ) {
    const path = `${dir.path}/cut-${n}.db`;
    Deno.writeFileSync(path, full.subarray(0, n));
    assertThrows(() => openFlowDatabase(path), RangeError, "truncated", `cut at ${n}`);
  }
  // The whole file still opens and keeps its rows.
  const path = `${dir.path}/whole.db`;
  Deno.writeFileSync(path, full);
  const db = openFlowDatabase(path);
  assertEquals((db.prepare("SELECT count(*) AS n FROM flows").get() as { n: number }).n, 5000);
  db.close();
});

Deno.test("openFlowDatabase refuses a page of garbage in the schema with a clear error", async () => {
  await using dir = await tempDir("flowvis-sqlite-");
  const bytes = storeBytes(`${dir.path}/full.db`, 100);
  // Page 1 holds the schema after the 100-octet header: overwrite it.
  bytes.set(crypto.getRandomValues(new Uint8Array(4096 - 100)), 100);
  const path = `${dir.path}/bad.db`;
  Deno.writeFileSync(path, bytes);
  assertThrows(() => openFlowDatabase(path), SyntaxError, `Cannot open flow store ${path}`);
});

Deno.test("openFlowDatabase refuses a newer schema version", async () => {
  await using dir = await tempDir("flowvis-sqlite-");
  const path = `${dir.path}/flows.db`;
  openFlowDatabase(path).close();
  const raw = new DatabaseSync(path);
  raw.exec(`PRAGMA user_version = ${SCHEMA_VERSION + 1}`);
  raw.close();
  assertThrows(
    () => openFlowDatabase(path),
    RangeError,
    `schema version ${SCHEMA_VERSION + 1} is newer than this flowvis knows (${SCHEMA_VERSION})`,
  );
});

Deno.test("openFlowDatabase refuses another application's SQLite database", async () => {
  await using dir = await tempDir("flowvis-sqlite-");
  const plain = `${dir.path}/plain.db`;
  let raw = new DatabaseSync(plain);
  raw.exec("CREATE TABLE notes (body TEXT)");
  raw.close();
  assertThrows(() => openFlowDatabase(plain), SyntaxError, "another application");

  const other = `${dir.path}/other.db`;
  raw = new DatabaseSync(other);
  raw.exec("PRAGMA application_id = 1234");
  raw.close();
  assertThrows(() => openFlowDatabase(other), SyntaxError, "application_id 1234");

  // Ours by its identity, but its flows table lacks columns: said, not silently used.
  const odd = `${dir.path}/odd.db`;
  raw = new DatabaseSync(odd);
  raw.exec(`PRAGMA application_id = ${APPLICATION_ID}`);
  raw.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
  raw.exec("CREATE TABLE flows (timeInserted INTEGER, sourceIP TEXT, extra TEXT)");
  raw.close();
  assertThrows(() => openFlowDatabase(odd), SyntaxError, "unexpected: extra");
});

Deno.test("openFlowDatabase checks its path argument", () => {
  assertThrows(() => openFlowDatabase(""), TypeError, "non-empty string");
});
