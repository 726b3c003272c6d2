/**
 * The embedded flow store: aggregated flow rows in an SQLite file through `node:sqlite`, the
 * default store when ClickHouse is off. Same `flows` columns as ClickHouse, a schema version for
 * migrations, WAL journaling, bounded write queue, sliced commits and retention.
 *
 * @example
 * ```ts
 * import { SqliteStore } from "./mod.ts";
 * const store = new SqliteStore({ path: "/var/lib/flowvis/flows.db", retentionMs: 3_600_000 });
 * store.write(rows);
 * await store.flush();
 * console.log(await store.count(), await store.query({ dstport: 443, limit: 20 }));
 * await store.close();
 * ```
 *
 * @module
 */

export { SqliteStore, type SqliteStoreOptions } from "./sqlite_store.ts";
export { type CompiledQuery, compileQuery, DEFAULT_QUERY_LIMIT, MAX_QUERY_LIMIT } from "./query.ts";
export { APPLICATION_ID, openFlowDatabase, SCHEMA_VERSION } from "./schema.ts";
