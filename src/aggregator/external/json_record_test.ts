import { assertEquals, assertThrows } from "../../../tests/_assert.ts";
import { emptyFlowRow } from "../../store/mod.ts";
import { jsonDatagrams, type JsonFlow, rowToJson } from "./json_record.ts";
import { rowToRecord } from "./row_record.ts";

const utf8 = new TextEncoder();

Deno.test("rowToJson: the IPFIX record's fields and values, plus uncorrelated", () => {
  const row = {
    ...emptyFlowRow(),
    sourceIP: "10.0.0.1",
    destinationIP: "10.0.0.2",
    octetDeltaCount: 2 ** 40,
    sourcePodLabels: '{"app":"a"}',
    uncorrelated: 1,
  };
  const o = rowToJson(row);
  assertEquals(o, { ...rowToRecord(row), uncorrelated: 1 } as JsonFlow);
  const back = JSON.parse(JSON.stringify(o));
  assertEquals(back.octetDeltaCount, 2 ** 40, "numbers stay JSON numbers");
  assertEquals(back.sourcePodLabels, '{"app":"a"}', "labels stay a string");
});

function flowWith(extra: JsonFlow): JsonFlow {
  return {
    ...rowToJson({
      ...emptyFlowRow(),
      flowStartSeconds: 1_790_000_000,
      sourceIP: "10.0.0.1",
      destinationIP: "10.0.0.2",
      sourceTransportPort: 40_000,
      destinationTransportPort: 80,
      protocolIdentifier: 6,
      clusterUUID: "c1",
    }),
    ...extra,
  };
}

Deno.test("jsonDatagrams: a flow that fits is one object", () => {
  const f = flowWith({});
  assertEquals(jsonDatagrams(f, 65507), [JSON.stringify(f)]);
});

Deno.test("jsonDatagrams: a large flow is split into parts that each fit and carry the key", () => {
  const f = flowWith({
    sourcePodLabels: JSON.stringify({ a: "x".repeat(600) }),
    destinationPodLabels: JSON.stringify({ b: "é".repeat(300) }),
  });
  const parts = jsonDatagrams(f, 1000);
  assertEquals(parts.length > 1, true);
  const objs = parts.map((p) => JSON.parse(p));
  const joined: Record<string, unknown> = {};
  objs.forEach((o, i) => {
    assertEquals(utf8.encode(parts[i]!).length <= 1000, true, `part ${i} fits`);
    assertEquals([o.part, o.parts], [i + 1, parts.length]);
    for (const k of ["flowStartSeconds", "sourceIPv4Address", "destinationTransportPort"]) {
      assertEquals(o[k], f[k], `part ${i} carries ${k}`);
    }
    Object.assign(joined, o);
  });
  delete joined.part;
  delete joined.parts;
  assertEquals(joined, f, "the parts hold every field");
});

Deno.test("jsonDatagrams: a string too long for any datagram is cut and named", () => {
  const f = flowWith({ sourcePodLabels: "😀".repeat(1000) });
  const parts = jsonDatagrams(f, 600);
  const cut = parts.map((p) => JSON.parse(p)).find((o) => o.truncated);
  assertEquals(cut?.truncated, ["sourcePodLabels"]);
  assertEquals(cut.sourcePodLabels.length > 0, true);
  assertEquals(("😀".repeat(1000)).startsWith(cut.sourcePodLabels), true, "whole code points");
  for (const p of parts) assertEquals(utf8.encode(p).length <= 600, true);
});

Deno.test("jsonDatagrams refuses a datagram size below 512", () => {
  assertThrows(() => jsonDatagrams(flowWith({}), 511), RangeError, "Invalid datagram size");
});
