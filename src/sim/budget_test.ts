import { assertEquals, assertThrows } from "../../tests/_assert.ts";
import { antreaFlowTemplate, type DataRecord, ExportingProcess } from "../ipfix/mod.ts";
import { silentLogger } from "../log/mod.ts";
import { BudgetedExportingProcess, RecordBudget } from "./budget.ts";

const exporter = (budget?: RecordBudget) =>
  new BudgetedExportingProcess({
    address: "127.0.0.1:9:tcp",
    observationDomainId: 1,
    templates: [antreaFlowTemplate(4)],
    logger: silentLogger,
  }, budget);

const flow = (port: number, reason = 2) => ({
  sourceIPv4Address: "10.244.1.2",
  sourceTransportPort: port,
  destinationIPv4Address: "10.244.2.3",
  destinationTransportPort: 80,
  protocolIdentifier: 6,
  flowStartSeconds: 1_700_000_000,
  flowEndReason: reason,
});

Deno.test("budget: a shared budget lets exactly its total through", () => {
  const budget = new RecordBudget(3);
  const a = exporter(budget);
  const b = exporter(budget);
  for (let i = 0; i < 4; i++) {
    a.send(256, flow(1000 + i));
    b.send(256, flow(2000 + i));
  }
  assertEquals(a.stats.queued + b.stats.queued, 3);
  assertEquals(a.skipped + b.skipped, 5);
  assertEquals(budget.exhausted, true);
  // A send that fails gives its record back.
  const c = exporter(new RecordBudget(1));
  assertThrows(() => c.send(999, flow(1)), TypeError);
  assertEquals(c.budget!.left, 1);
  assertThrows(() => new RecordBudget(-1), RangeError);
});

Deno.test("budget: a flow dropped while paused comes back with deltas equal to its totals", () => {
  const sent: DataRecord[] = [];
  const e = exporter();
  // Look at what goes to the queue.
  const send = ExportingProcess.prototype.send;
  ExportingProcess.prototype.send = function (_t, r) {
    sent.push(r);
  };
  try {
    const counters = (total: number, delta: number) => ({
      packetTotalCount: total,
      packetDeltaCount: delta,
      octetTotalCount: total * 100,
      octetDeltaCount: delta * 100,
      reversePacketTotalCount: total,
      reversePacketDeltaCount: delta,
      reverseOctetTotalCount: total * 1000,
      reverseOctetDeltaCount: delta * 1000,
    });
    e.paused = true;
    e.send(256, { ...flow(1), ...counters(5, 5) });
    e.send(256, { ...flow(3, 3), ...counters(2, 2) }); // ended while paused: forgotten
    assertEquals(sent.length, 0);
    e.paused = false;
    e.send(256, { ...flow(1), ...counters(8, 3) });
    e.send(256, { ...flow(1, 3), ...counters(9, 1) });
    e.send(256, { ...flow(2), ...counters(4, 4) });
    assertEquals(sent.map((r) => [r.sourceTransportPort, r.packetDeltaCount, r.octetDeltaCount]), [
      [1, 8, 800],
      [1, 1, 100],
      [2, 4, 400],
    ]);
    assertEquals(sent[0]!.reverseOctetDeltaCount, 8000);
  } finally {
    ExportingProcess.prototype.send = send;
  }
});
