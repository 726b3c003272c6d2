import { assertEquals } from "../../../tests/_assert.ts";
import { emptyFlowRow, FLOW_COLUMNS, type FlowRow } from "../types.ts";
import { clampUnsigned, encodeRowBinary } from "./rowbinary.ts";

/** Reads RowBinary rows of FLOW_COLUMNS back, as the server would. */
function decode(octets: Uint8Array): Record<string, number | string>[] {
  const v = new DataView(octets.buffer, octets.byteOffset, octets.byteLength);
  const text = new TextDecoder("utf-8", { fatal: true });
  const rows: Record<string, number | string>[] = [];
  let p = 0;
  while (p < octets.length) {
    const row: Record<string, number | string> = {};
    for (const c of FLOW_COLUMNS) {
      switch (c.type) {
        case "String": {
          let len = 0;
          for (let shift = 0;; shift += 7) {
            const b = octets[p++]!;
            len += (b & 0x7f) * 2 ** shift;
            if (b < 0x80) break;
          }
          row[c.name] = text.decode(octets.subarray(p, p + len));
          p += len;
          break;
        }
        case "UInt8":
          row[c.name] = v.getUint8(p);
          p += 1;
          break;
        case "UInt16":
          row[c.name] = v.getUint16(p, true);
          p += 2;
          break;
        case "DateTime":
          row[c.name] = v.getUint32(p, true);
          p += 4;
          break;
        case "UInt64":
          row[c.name] = Number(v.getBigUint64(p, true));
          p += 8;
          break;
        default:
          throw new Error(`type ${c.type}`);
      }
    }
    if (p > octets.length) throw new Error("truncated row");
    rows.push(row);
  }
  return rows;
}

Deno.test("encodeRowBinary writes every column in FLOW_COLUMNS order, as the server reads it", () => {
  const a = emptyFlowRow();
  a.flowStartSeconds = 1700000000;
  a.flowEndSeconds = 4294967295;
  a.sourceIP = "fd00::1";
  a.packetTotalCount = 2 ** 53 - 1;
  a.octetTotalCount = 2 ** 32 + 5;
  a.sourceTransportPort = 65535;
  a.sourcePodLabels = '{"app":"a\tb"}';
  a.destinationPodName = "ünïcödé 中文 🚀\n\0";
  a.ingressNetworkPolicyName = "x".repeat(300); // a two-octet length
  a.flowType = 2;
  const b = emptyFlowRow();
  const got = decode(encodeRowBinary([a, b]));
  assertEquals(got, [a, b].map((r) => ({ ...r }) as unknown as Record<string, number | string>));
  assertEquals(encodeRowBinary([]).length, 0);
});

Deno.test("encodeRowBinary clamps values the column cannot hold instead of corrupting the batch", () => {
  const row = emptyFlowRow() as unknown as Record<string, unknown>;
  delete row.sourceIP;
  row.flowEndReason = "x";
  row.protocolIdentifier = 300;
  row.sourceTransportPort = -5;
  row.packetTotalCount = 2 ** 60;
  row.octetTotalCount = 3.9;
  row.reversePacketTotalCount = 12n;
  row.flowEndSeconds = Number.NaN;
  row.destinationIP = 17;
  const [got] = decode(encodeRowBinary([row as unknown as FlowRow]));
  assertEquals(got!.sourceIP, "");
  assertEquals(got!.flowEndReason, 0);
  assertEquals(got!.protocolIdentifier, 255);
  assertEquals(got!.sourceTransportPort, 0);
  assertEquals(got!.packetTotalCount, Number.MAX_SAFE_INTEGER);
  assertEquals(got!.octetTotalCount, 3);
  assertEquals(got!.reversePacketTotalCount, 12);
  assertEquals(got!.flowEndSeconds, 0);
  assertEquals(got!.destinationIP, "17");
  assertEquals(clampUnsigned(Infinity, 255), 255);
  assertEquals(clampUnsigned(-Infinity, 255), 0);
});

Deno.test("encodeRowBinary round-trips random integers and many distinct strings", () => {
  const rows: FlowRow[] = [];
  for (let i = 0; i < 70_000; i++) { // more distinct strings than the writer's cache keeps
    const r = emptyFlowRow();
    r.octetTotalCount = Math.floor(Math.random() * Number.MAX_SAFE_INTEGER);
    r.flowStartSeconds = Math.floor(Math.random() * 4294967296);
    r.destinationTransportPort = i % 65536;
    r.sourcePodName = `pod-${i}`;
    rows.push(r);
  }
  const got = decode(encodeRowBinary(rows));
  assertEquals(got.length, rows.length);
  for (let i = 0; i < rows.length; i += 997) {
    assertEquals(got[i]!.octetTotalCount, rows[i]!.octetTotalCount);
    assertEquals(got[i]!.flowStartSeconds, rows[i]!.flowStartSeconds);
    assertEquals(got[i]!.sourcePodName, `pod-${i}`);
  }
});

Deno.test("encodeRowBinary keeps encoding correctly after a batch larger than its buffer", () => {
  const big: FlowRow[] = [];
  for (let i = 0; i < 40_000; i++) {
    const r = emptyFlowRow();
    r.sourcePodLabels = "l".repeat(400) + i; // 40k rows of ~700 octets: past the 16 MiB reset
    big.push(r);
  }
  assertEquals(decode(encodeRowBinary(big)).length, big.length);
  const r = emptyFlowRow();
  r.sourcePodName = "after";
  r.octetTotalCount = 2 ** 40 + 3;
  const [got] = decode(encodeRowBinary([r]));
  assertEquals(got!.sourcePodName, "after");
  assertEquals(got!.octetTotalCount, 2 ** 40 + 3);
});
