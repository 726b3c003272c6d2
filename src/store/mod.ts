/**
 * Flow stores and sinks: the row model shared by every sink, the embedded SQLite store and the
 * ClickHouse writer.
 *
 * @example
 * ```ts
 * import { emptyFlowRow, FLOW_COLUMNS } from "./mod.ts";
 * const row = emptyFlowRow();
 * row.sourceIP = "10.0.0.1";
 * console.log(FLOW_COLUMNS.length);
 * ```
 *
 * @module
 */

export {
  type Column,
  type ColumnType,
  emptyFlowRow,
  FLOW_COLUMNS,
  type FlowQuery,
  type FlowRow,
  type FlowSink,
  type FlowStore,
  type SinkStats,
  type StoredFlowRow,
} from "./types.ts";
export { SqliteStore, type SqliteStoreOptions } from "./sqlite/mod.ts";
export {
  type ClickHouseStats,
  ClickHouseStore,
  type ClickHouseStoreOptions,
} from "./clickhouse/mod.ts";
