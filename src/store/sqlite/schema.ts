/**
 * The SQLite schema of the embedded flow store: the `flows` table (the ClickHouse columns, same
 * names and order), its indexes, the schema version kept in `PRAGMA user_version` with the
 * migrations that reach it, and the checks made before a file is trusted.
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import { FLOW_COLUMNS } from "../types.ts";

/** Schema version this code writes and reads (`PRAGMA user_version`). */
export const SCHEMA_VERSION = 1;

/** `PRAGMA application_id` of a flowvis flow store: "FLOW" in ASCII. */
export const APPLICATION_ID = 0x464c4f57;

/** The SQLite declaration of each ClickHouse column type. */
function sqlType(type: string): string {
  return type === "String" ? "TEXT NOT NULL DEFAULT ''" : "INTEGER NOT NULL DEFAULT 0";
}

/**
 * Indexes of schema 1, chosen by measurement (`deno task bench sqlite`, 2 shared cores):
 * `flowEndSeconds` serves "newest first" and `since`/`until`, and, scanned backwards, the
 * filters on ports, protocol and namespaces, which match many rows so that the limit is reached
 * early; `timeInserted` serves retention; `(sourceIP, flowEndSeconds)`,
 * `(destinationIP, flowEndSeconds)` and the same for pod names serve the selective filters. A
 * selective filter without its index scans the table while the event loop waits (a pod name on
 * 200k rows: ~230 ms, under 2 ms with its index). The two IP indexes cost about a quarter of the
 * insert rate, the two pod-name indexes about a fifth of the rest.
 */
const INDEXES_V1: readonly (readonly [string, string])[] = [
  ["flows_flowEndSeconds", "flowEndSeconds"],
  ["flows_timeInserted", "timeInserted"],
  ["flows_sourceIP", "sourceIP, flowEndSeconds"],
  ["flows_destinationIP", "destinationIP, flowEndSeconds"],
  ["flows_sourcePodName", "sourcePodName, flowEndSeconds"],
  ["flows_destinationPodName", "destinationPodName, flowEndSeconds"],
];

/** The statements that create schema 1 in an empty database. */
export function schemaV1(): string[] {
  const cols = FLOW_COLUMNS.map((c) => `  ${c.name} ${sqlType(c.type)}`).join(",\n");
  return [
    `CREATE TABLE flows (\n  timeInserted INTEGER NOT NULL DEFAULT 0,\n${cols}\n)`,
    ...INDEXES_V1.map(([name, cols]) => `CREATE INDEX ${name} ON flows (${cols})`),
  ];
}

/**
 * Migrations: entry `i` takes a database from version `i` to version `i + 1`, so entry 0
 * creates schema 1. A new version appends an entry (e.g. `ALTER TABLE flows ADD COLUMN …` when
 * FLOW_COLUMNS grows) and bumps SCHEMA_VERSION.
 */
export const MIGRATIONS: readonly (() => string[])[] = [schemaV1];

/** The octets of the SQLite file header. https://www.sqlite.org/fileformat.html §1.3 */
const HEADER_LENGTH = 100;
const MAGIC = "SQLite format 3\0";

/**
 * Checks the file header before SQLite opens the file: a missing or empty file is a new store;
 * anything else must start with the SQLite magic string and be as long as its header says.
 * SQLite itself trusts a file cut in the middle of its last page, which this catches.
 *
 * @throws {SyntaxError} the file is not an SQLite database
 * @throws {RangeError} the file is truncated
 */
export function checkHeader(path: string): void {
  let size: number;
  try {
    size = Deno.statSync(path).size;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw e;
  }
  if (size === 0) return;
  const header = new Uint8Array(HEADER_LENGTH);
  let got = 0;
  const file = Deno.openSync(path, { read: true });
  try {
    while (got < HEADER_LENGTH) {
      const n = file.readSync(header.subarray(got));
      if (n === null) break;
      got += n;
    }
  } finally {
    file.close();
  }
  const magic = new TextDecoder().decode(header.subarray(0, Math.min(got, MAGIC.length)));
  if (!MAGIC.startsWith(magic) || (got >= MAGIC.length && magic !== MAGIC)) {
    throw new SyntaxError(`Cannot open flow store ${path}: not an SQLite database`);
  }
  if (got < HEADER_LENGTH) {
    throw new RangeError(
      `Cannot open flow store ${path}: truncated SQLite file (${size} octets, the header alone is ${HEADER_LENGTH})`,
    );
  }
  const view = new DataView(header.buffer);
  const rawPageSize = view.getUint16(16);
  const pageSize = rawPageSize === 1 ? 65536 : rawPageSize;
  if (pageSize < 512 || (pageSize & (pageSize - 1)) !== 0) {
    throw new SyntaxError(`Cannot open flow store ${path}: bad SQLite page size ${rawPageSize}`);
  }
  // The page count at offset 28 is valid when "version-valid-for" (92) equals the change
  // counter (24). https://www.sqlite.org/fileformat.html §1.3.7
  const pages = view.getUint32(92) === view.getUint32(24) ? view.getUint32(28) : 0;
  if (size % pageSize !== 0 || size < pages * pageSize) {
    throw new RangeError(
      `Cannot open flow store ${path}: truncated SQLite file (${size} octets, expected ${
        Math.max(pages, Math.ceil(size / pageSize)) * pageSize
      } in pages of ${pageSize})`,
    );
  }
}

function pragmaNumber(db: DatabaseSync, name: string): number {
  const row = db.prepare(`PRAGMA ${name}`).get() as Record<string, unknown> | undefined;
  return Number(row?.[name] ?? 0);
}

/**
 * Opens (creating it and its parent directories if needed) the flow store at `path`, checks
 * that it is a flowvis store this code understands, migrates it to SCHEMA_VERSION and sets WAL
 * journaling with synchronous=NORMAL. `":memory:"` gives a private in-memory store.
 *
 * @example
 * ```ts
 * const db = openFlowDatabase(":memory:");
 * db.prepare("SELECT count(*) AS n FROM flows").get(); // { n: 0 }
 * db.close();
 * ```
 *
 * @throws {SyntaxError} not an SQLite database, a corrupt one, or another application's
 * @throws {RangeError} a truncated file, or one written by a newer schema version
 */
export function openFlowDatabase(path: string): DatabaseSync {
  if (typeof path !== "string" || path === "") {
    throw new TypeError("Flow store path must be a non-empty string");
  }
  const memory = path === ":memory:";
  if (!memory) {
    const slash = path.lastIndexOf("/");
    if (slash > 0) Deno.mkdirSync(path.slice(0, slash), { recursive: true });
    checkHeader(path);
  }
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(path);
  } catch (e) {
    throw new SyntaxError(`Cannot open flow store ${path}: ${(e as Error).message}`, { cause: e });
  }
  try {
    prepare(db, path);
  } catch (e) {
    db.close();
    if (e instanceof RangeError || e instanceof SyntaxError) throw e;
    throw new SyntaxError(`Cannot open flow store ${path}: ${(e as Error).message}`, { cause: e });
  }
  return db;
}

/** Checks identity and version, migrates, sets the pragmas. */
function prepare(db: DatabaseSync, path: string): void {
  const version = pragmaNumber(db, "user_version");
  const appId = pragmaNumber(db, "application_id");
  const objects = Number(
    (db.prepare("SELECT count(*) AS n FROM sqlite_schema").get() as { n: number }).n,
  );
  if (appId !== APPLICATION_ID && (appId !== 0 || objects > 0)) {
    throw new SyntaxError(
      `Cannot open flow store ${path}: an SQLite database of another application (application_id ${appId}, user_version ${version})`,
    );
  }
  if (version > SCHEMA_VERSION) {
    throw new RangeError(
      `Cannot open flow store ${path}: schema version ${version} is newer than this flowvis knows (${SCHEMA_VERSION})`,
    );
  }
  db.exec("PRAGMA journal_mode = WAL");
  db.exec("PRAGMA synchronous = NORMAL");
  // 32 MiB of page cache (default 2 MiB): index pages stay in memory between commits.
  db.exec("PRAGMA cache_size = -32768");
  // Checkpoint every 10 000 pages (~40 MiB of WAL) instead of 1000: index pages written by many
  // commits are copied back once, which measured 23k → 35k rows/s with the same longest commit.
  db.exec("PRAGMA wal_autocheckpoint = 10000");
  db.exec(`PRAGMA journal_size_limit = ${64 * 1024 * 1024}`);
  for (let v = version; v < SCHEMA_VERSION; v++) {
    const steps = MIGRATIONS[v]!();
    db.exec("BEGIN IMMEDIATE");
    try {
      for (const s of steps) db.exec(s);
      db.exec(`PRAGMA application_id = ${APPLICATION_ID}`);
      db.exec(`PRAGMA user_version = ${v + 1}`);
      db.exec("COMMIT");
    } catch (e) {
      db.exec("ROLLBACK");
      throw e;
    }
  }
  const cols = (db.prepare("PRAGMA table_info(flows)").all() as { name: string }[])
    .map((r) => r.name);
  const want = ["timeInserted", ...FLOW_COLUMNS.map((c) => c.name)];
  if (cols.join(",") !== want.join(",")) {
    const missing = want.filter((c) => !cols.includes(c));
    const extra = cols.filter((c) => !want.includes(c));
    throw new SyntaxError(
      `Cannot open flow store ${path}: table flows does not have the columns of schema version ${SCHEMA_VERSION} (missing: ${
        missing.join(", ") || "none"
      }; unexpected: ${extra.join(", ") || "none"})`,
    );
  }
}
