/**
 * The ClickHouse store: flow rows to a ClickHouse server's `flows` table over HTTP, batched as
 * RowBinary, spooled to disk while the server is away, queried back.
 *
 * @example
 * ```ts
 * import { ClickHouseStore } from "./mod.ts";
 * const store = new ClickHouseStore({ url: "http://127.0.0.1:8123", spoolDir: "/var/lib/flowvis/spool" });
 * await store.open();
 * store.write([]);
 * await store.close();
 * ```
 *
 * @module
 */

export {
  clickHouseErrorCode,
  type ClickHouseStats,
  ClickHouseStore,
  type ClickHouseStoreOptions,
  DEFAULT_MAX_BATCH_ROWS,
  SchemaMismatchError,
} from "./store.ts";
export { createTableSql, quoteString, selectSql } from "./sql.ts";
export { encodeRowBinary } from "./rowbinary.ts";
export { encodeTsv, escapeTsv } from "./tsv.ts";
