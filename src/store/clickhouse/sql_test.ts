import {
  assert,
  assertEquals,
  assertStringIncludes,
  assertThrows,
} from "../../../tests/_assert.ts";
import { FLOW_COLUMNS } from "../types.ts";
import {
  checkDatabaseName,
  createTableSql,
  quoteString,
  schemaMismatch,
  selectSql,
  whereClause,
} from "./sql.ts";
import { clickHouseErrorCode, ClickHouseStore } from "./store.ts";

Deno.test("quoteString escapes quotes, backslashes and control characters", () => {
  assertEquals(quoteString("plain"), "'plain'");
  assertEquals(quoteString("it's"), "'it\\'s'");
  assertEquals(quoteString("a\\' OR 1=1 --"), "'a\\\\\\' OR 1=1 --'");
  assertEquals(quoteString("x\ny\0z\t"), "'x\\ny\\0z\\t'");
  assertEquals(quoteString("é中"), "'é中'");
});

Deno.test("createTableSql: timeInserted, then FLOW_COLUMNS with their types, hourly partitions", () => {
  const sql = createTableSql("flowvis");
  assert(
    sql.startsWith(
      "CREATE TABLE IF NOT EXISTS flowvis.flows (\n  timeInserted DateTime DEFAULT now(),\n",
    ),
  );
  const cols = sql.split("\n").slice(2, 2 + FLOW_COLUMNS.length).map((l) =>
    l.trim().replace(/,$/, "")
  );
  assertEquals(cols, FLOW_COLUMNS.map((c) => `${c.name} ${c.type}`));
  assertStringIncludes(sql, "ENGINE = MergeTree\nPARTITION BY toStartOfHour(timeInserted)");
  assertStringIncludes(sql, "ORDER BY (timeInserted, flowEndSeconds)");
});

Deno.test("checkDatabaseName refuses anything but identifiers", () => {
  assertEquals(checkDatabaseName("flow_vis1"), "flow_vis1");
  for (const bad of ["", "1db", "a-b", "a;DROP", "a b", "`x`"]) {
    assertThrows(() => checkDatabaseName(bad), TypeError, "Invalid ClickHouse database name");
  }
});

Deno.test("selectSql: filters as escaped literals, newest first, limit", () => {
  const sql = selectSql("default", {
    srcip: "10.0.0.1",
    dstip: "fd00::2",
    proto: 6,
    srcport: 1234,
    dstport: 80,
    sourcePodNamespace: "it's",
    since: 1700000000,
    until: 1700003600,
    limit: 5,
  });
  assertStringIncludes(sql, "toUInt32(timeInserted) AS timeInserted");
  assertStringIncludes(sql, "toUInt32(flowEndSeconds) AS flowEndSeconds");
  assertStringIncludes(
    sql,
    " WHERE sourceIP = '10.0.0.1' AND destinationIP = 'fd00::2' AND protocolIdentifier = 6 AND sourceTransportPort = 1234 AND destinationTransportPort = 80 AND sourcePodNamespace = 'it\\'s' AND flowEndSeconds >= toDateTime(1700000000) AND flowEndSeconds < toDateTime(1700003600)",
  );
  assert(sql.endsWith(" ORDER BY flowEndSeconds DESC, timeInserted DESC LIMIT 5"));
  assert(
    selectSql("default", {}).endsWith(
      "FROM default.flows ORDER BY flowEndSeconds DESC, timeInserted DESC LIMIT 1000",
    ),
  );
  assertEquals(whereClause({}), "");
});

Deno.test("selectSql refuses values that are not what the field needs", () => {
  assertThrows(() => selectSql("default", { proto: 256 }), TypeError, "proto");
  assertThrows(() => selectSql("default", { srcport: 1.5 }), TypeError, "srcport");
  assertThrows(() => selectSql("default", { since: -1 }), TypeError, "since");
  assertThrows(() => selectSql("default", { dstport: "80 OR 1=1" as never }), TypeError);
  assertThrows(() => selectSql("default", { srcip: 1 as never }), TypeError, "string");
  assertThrows(() => selectSql("default", { limit: 0 }), RangeError, "limit");
  assertThrows(() => selectSql("default", { limit: 2_000_000 }), RangeError, "limit");
});

Deno.test("ClickHouseStore refuses a native-protocol URL and bad options", () => {
  assertThrows(
    () => new ClickHouseStore({ url: "tcp://clickhouse:9000" }),
    TypeError,
    "write http://clickhouse:8123",
  );
  assertThrows(
    () => new ClickHouseStore({ url: "not a url" }),
    TypeError,
    "Invalid ClickHouse URL",
  );
  assertThrows(() => new ClickHouseStore({ url: "ftp://x" }), TypeError, "http://");
  assertThrows(() => new ClickHouseStore({ url: "http://x:8123", database: "a-b" }), TypeError);
  assertThrows(() => new ClickHouseStore({ url: "http://x:8123", queueLimit: 0 }), RangeError);
});

Deno.test("clickHouseErrorCode reads the code of old and new server messages", () => {
  assertEquals(
    clickHouseErrorCode(
      new Error(
        "Code: 60, e.displayText() = DB::Exception: Table x doesn't exist., e.what() = DB::Exception",
      ),
    ),
    60,
  );
  assertEquals(
    clickHouseErrorCode(new Error("Code: 62. DB::Exception: Syntax error (SYNTAX_ERROR)")),
    62,
  );
  assertEquals(
    clickHouseErrorCode(new TypeError("error sending request: Connection refused")),
    undefined,
  );
});

Deno.test("schemaMismatch names missing columns and wire types RowBinary would misread", () => {
  const exact = FLOW_COLUMNS.map((c) => ({ name: c.name, type: c.type }));
  assertEquals(schemaMismatch([{ name: "timeInserted", type: "DateTime" }, ...exact]), []);
  const tolerant = exact.map((c) =>
    c.type === "DateTime"
      ? { ...c, type: "DateTime('Europe/Paris')" }
      : c.type === "String"
      ? { ...c, type: "LowCardinality(String)" }
      : c
  );
  assertEquals(schemaMismatch(tolerant), []);
  const bad = exact.filter((c) => c.name !== "tcpState").map((c) =>
    c.name === "octetTotalCount"
      ? { ...c, type: "Nullable(UInt64)" }
      : c.name === "sourceIP"
      ? { ...c, type: "IPv4" }
      : c
  );
  assertEquals(schemaMismatch(bad), [
    "column sourceIP is IPv4, flowvis writes String",
    "column octetTotalCount is Nullable(UInt64), flowvis writes UInt64",
    "column tcpState is missing",
  ]);
  assertEquals(schemaMismatch([]).length, FLOW_COLUMNS.length);
});
