import { assertEquals } from "../../../tests/_assert.ts";
import { emptyFlowRow, FLOW_COLUMNS } from "../types.ts";
import { encodeTsv, escapeTsv, INSERT_COLUMNS, unsignedText } from "./tsv.ts";

Deno.test("escapeTsv escapes what TabSeparated reads as special", () => {
  assertEquals(escapeTsv("plain é ü 中"), "plain é ü 中");
  assertEquals(escapeTsv("a\tb\nc\rd\\e\0f\bg\fh\vi'j"), "a\\tb\\nc\\rd\\\\e\\0f\\bg\\fh\\vi\\'j");
  assertEquals(escapeTsv("\\n"), "\\\\n"); // a backslash followed by n stays two characters
  assertEquals(escapeTsv(""), "");
});

Deno.test("unsignedText clamps and truncates instead of producing text the server refuses", () => {
  assertEquals(unsignedText(42, 255), "42");
  assertEquals(unsignedText(-1, 255), "0");
  assertEquals(unsignedText(Number.NaN, 255), "0");
  assertEquals(unsignedText(300, 255), "255");
  assertEquals(unsignedText(3.9, 255), "3");
  assertEquals(unsignedText(2 ** 60, Number.MAX_SAFE_INTEGER), String(Number.MAX_SAFE_INTEGER));
  assertEquals(unsignedText(12n, 255), "12");
  assertEquals(unsignedText(undefined, 255), "0");
  assertEquals(unsignedText("7", 255), "7");
});

Deno.test("encodeTsv writes one line per row, columns in FLOW_COLUMNS order", () => {
  const a = emptyFlowRow();
  a.flowStartSeconds = 1700000000;
  a.sourceIP = "fd00::1";
  a.packetTotalCount = 2 ** 53 - 1;
  a.sourcePodLabels = '{"app":"a\tb"}';
  a.flowType = 2;
  const b = emptyFlowRow();
  b.destinationPodName = "x\ny";
  const text = encodeTsv([a, b]);
  const lines = text.split("\n");
  assertEquals(lines.length, 3);
  assertEquals(lines[2], "");
  const fields = lines[0]!.split("\t");
  assertEquals(fields.length, FLOW_COLUMNS.length);
  const at = (name: string) => fields[FLOW_COLUMNS.findIndex((c) => c.name === name)];
  assertEquals(at("flowStartSeconds"), "1700000000");
  assertEquals(at("flowEndSeconds"), "0000000000"); // ten digits, see the module doc
  assertEquals(at("sourceIP"), "fd00::1");
  assertEquals(at("packetTotalCount"), "9007199254740991");
  assertEquals(at("sourcePodLabels"), '{"app":"a\\tb"}');
  assertEquals(at("flowType"), "2");
  assertEquals(lines[1]!.split("\t").length, FLOW_COLUMNS.length);
  assertEquals(encodeTsv([]), "");
  assertEquals(INSERT_COLUMNS.split(", ").length, FLOW_COLUMNS.length);
});

Deno.test("encodeTsv tolerates rows with missing or mistyped fields", () => {
  const row = emptyFlowRow() as unknown as Record<string, unknown>;
  delete row.sourceIP;
  row.flowEndReason = "x";
  row.destinationIP = 17;
  const fields = encodeTsv([row as never]).slice(0, -1).split("\t");
  assertEquals(fields[FLOW_COLUMNS.findIndex((c) => c.name === "sourceIP")], "");
  assertEquals(fields[FLOW_COLUMNS.findIndex((c) => c.name === "flowEndReason")], "0");
  assertEquals(fields[FLOW_COLUMNS.findIndex((c) => c.name === "destinationIP")], "17");
});

Deno.test("encodeTsv writes every integer as String() does, up to 2^53 - 1", () => {
  const values = [0, 1, 9, 10, 99, 100, 65535, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 1e15 + 7];
  for (let k = 0; k < 200; k++) values.push(Math.floor(Math.random() * Number.MAX_SAFE_INTEGER));
  values.push(Number.MAX_SAFE_INTEGER - 1, Number.MAX_SAFE_INTEGER);
  const rows = values.map((v, i) => {
    const r = emptyFlowRow();
    r.octetTotalCount = v;
    r.flowEndSeconds = v % 4294967296;
    r.sourcePodName = `pod-${i % 7}\t${i % 3}`; // some need escaping
    return r;
  });
  const lines = encodeTsv(rows).split("\n");
  const oc = FLOW_COLUMNS.findIndex((c) => c.name === "octetTotalCount");
  const fe = FLOW_COLUMNS.findIndex((c) => c.name === "flowEndSeconds");
  const pn = FLOW_COLUMNS.findIndex((c) => c.name === "sourcePodName");
  values.forEach((v, i) => {
    const f = lines[i]!.split("\t");
    assertEquals(f[oc], String(v));
    assertEquals(f[fe], String(v % 4294967296).padStart(10, "0"));
    assertEquals(f[pn], `pod-${i % 7}\\t${i % 3}`);
  });
});
