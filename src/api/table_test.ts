import { assertEquals } from "../../tests/_assert.ts";
import { row, sampleRows } from "./_test_view.ts";
import { flowRecordsTable, formatTable, recordMetricsTable } from "./table.ts";

Deno.test("formatTable: columns as wide as their widest cell, no trailing spaces", () => {
  assertEquals(formatTable(["A", "BB"], [["1", "2"], ["333", ""]]), "A    BB\n1    2\n333\n");
  assertEquals(formatTable(["ONLY"], []), "ONLY\n");
});

Deno.test("formatTable: control characters cannot reach the terminal", () => {
  assertEquals(formatTable(["X"], [["a\u001b[2Jb\nc\u009bd"]]), "X\na?[2Jb?c?d\n");
});

Deno.test("flowRecordsTable: antctl's columns, one flow per line", () => {
  assertEquals(
    flowRecordsTable(sampleRows()),
    [
      "SRC_IP         DST_IP      SPORT  DPORT  PROTO  SRC_POD      DST_POD    SRC_NS   DST_NS       SERVICE",
      "10.10.0.5      10.10.1.7   40312  8080   6      client-7d9f  backend-0  shop     shop",
      "fd00:10:10::5  fd00:96::a  53011  53     17     client-7d9f  coredns-1  shop     kube-system  kube-system/kube-dns:dns",
      "10.10.0.6      192.0.2.80  0      0      1      pinger                  default",
      "",
    ].join("\n"),
  );
  assertEquals(
    flowRecordsTable([]),
    "SRC_IP  DST_IP  SPORT  DPORT  PROTO  SRC_POD  DST_POD  SRC_NS  DST_NS  SERVICE\n",
  );
  assertEquals(
    flowRecordsTable([row({ sourceIP: "::1" })]).split("\n")[1],
    "::1             0      0      0",
  );
});

Deno.test("recordMetricsTable: counters and sink flags", () => {
  assertEquals(
    recordMetricsTable({
      numRecordsExported: 12,
      numRecordsReceived: 40,
      numRecordsDropped: 1,
      numFlows: 3,
      numConnToCollector: 2,
      withClickHouseExporter: true,
      withEmbeddedStore: false,
      withFlowCollector: true,
    }),
    [
      "RECORDS-EXPORTED  RECORDS-RECEIVED  RECORDS-DROPPED  FLOWS  EXPORTERS-CONNECTED  CLICKHOUSE-EXPORTER  EMBEDDED-STORE  FLOW-COLLECTOR",
      "12                40                1                3      2                    true                 false           true",
      "",
    ].join("\n"),
  );
});
