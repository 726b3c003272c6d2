import { assertEquals, assertThrows } from "../../tests/_assert.ts";
import { ConnectionStore, type ExportItem, FlowEndReason } from "./connection_store.ts";
import { entry } from "./_test_entries.ts";

function store(opts: { max?: number } = {}) {
  let now = 0;
  const s = new ConnectionStore<{ n: number }>(
    (e) => e.original.src.startsWith("192.") ? undefined : { n: e.original.srcPort },
    {
      activeTimeoutMs: 60_000,
      idleTimeoutMs: 15_000,
      clock: () => now,
      ...(opts.max ? { maxConnections: opts.max } : {}),
    },
  );
  return {
    s,
    at(ms: number) {
      now = ms;
    },
  };
}

const brief = (items: ExportItem<unknown>[]) =>
  items.map((i) => ({
    key: i.conn.key,
    reason: i.reason,
    at: i.at,
    totals: i.totals,
    deltas: i.deltas,
  }));

const KEY = "0|6|10.0.0.1|40000|10.0.1.2|80";

Deno.test("store: an active connection is exported every active timeout with deltas", () => {
  const { s, at } = store();
  for (let t = 0; t <= 125_000; t += 5_000) {
    at(t);
    const n = t / 5_000 + 1;
    s.update([entry({ packets: n, bytes: 100 * n, rpackets: n, rbytes: 1000 * n })]);
    const due = brief(s.due());
    if (t === 60_000) {
      assertEquals(due, [{
        key: KEY,
        reason: FlowEndReason.ACTIVE,
        at: 60_000,
        totals: { packets: 13, bytes: 1300, reversePackets: 13, reverseBytes: 13000 },
        // The first deltas equal the totals.
        deltas: { packets: 13, bytes: 1300, reversePackets: 13, reverseBytes: 13000 },
      }]);
    } else if (t === 120_000) {
      assertEquals(due, [{
        key: KEY,
        reason: FlowEndReason.ACTIVE,
        at: 120_000,
        totals: { packets: 25, bytes: 2500, reversePackets: 25, reverseBytes: 25000 },
        deltas: { packets: 12, bytes: 1200, reversePackets: 12, reverseBytes: 12000 },
      }]);
    } else {
      assertEquals(due, [], `at ${t}`);
    }
  }
});

Deno.test("store: a connection idle for the idle timeout is exported once, then again when active", () => {
  const { s, at } = store();
  at(0);
  s.update([entry({ packets: 3, bytes: 300 })]);
  at(10_000);
  s.update([entry({ packets: 3, bytes: 300 })]);
  assertEquals(s.due(), []);
  at(15_000);
  s.update([entry({ packets: 3, bytes: 300 })]);
  assertEquals(brief(s.due()).map((d) => [d.reason, d.deltas.packets]), [[FlowEndReason.IDLE, 3]]);
  for (let t = 20_000; t <= 200_000; t += 5_000) {
    at(t);
    s.update([entry({ packets: 3, bytes: 300 })]);
    assertEquals(s.due(), [], `idle stays quiet at ${t}`);
  }
  at(205_000);
  s.update([entry({ packets: 5, bytes: 500 })]);
  assertEquals(s.due(), []);
  at(220_000);
  s.update([entry({ packets: 5, bytes: 500 })]);
  assertEquals(brief(s.due()).map((d) => [d.reason, d.deltas.packets, d.deltas.bytes]), [
    [FlowEndReason.IDLE, 2, 200],
  ]);
});

Deno.test("store: TIME_WAIT ends a flow at once; it is not exported again until gone", () => {
  const { s, at } = store();
  at(0);
  s.update([entry({ packets: 10, bytes: 1000 })]);
  at(5_000);
  s.update([entry({ packets: 12, bytes: 1100, tcpState: "TIME_WAIT" })]);
  assertEquals(brief(s.due()).map((d) => [d.reason, d.deltas.packets, d.totals.packets]), [
    [FlowEndReason.END_OF_FLOW, 12, 12],
  ]);
  at(65_000);
  s.update([entry({ packets: 12, bytes: 1100, tcpState: "TIME_WAIT" })]);
  assertEquals(s.due(), []);
  assertEquals(s.size, 1);
  at(70_000);
  s.update([]);
  assertEquals(s.due(), []);
  assertEquals(s.size, 0);
});

Deno.test("store: a connection gone from conntrack is exported with its final counters", () => {
  const { s, at } = store();
  at(0);
  s.update([entry({ protocol: 17, packets: 4, bytes: 400, rpackets: 2, rbytes: 80 })]);
  at(5_000);
  s.update([]);
  const [d] = brief(s.due());
  assertEquals(d, {
    key: "0|17|10.0.0.1|40000|10.0.1.2|80",
    reason: FlowEndReason.END_OF_FLOW,
    at: 5_000,
    totals: { packets: 4, bytes: 400, reversePackets: 2, reverseBytes: 80 },
    deltas: { packets: 4, bytes: 400, reversePackets: 2, reverseBytes: 80 },
  });
  assertEquals(s.size, 0);
});

Deno.test("store: a tuple reused by a new conntrack entry ends the old connection", () => {
  const { s, at } = store();
  at(0);
  s.update([entry({ id: 1, packets: 10, bytes: 1000 })]);
  at(5_000);
  s.update([entry({ id: 2, packets: 1, bytes: 60 })]);
  const due = brief(s.due());
  assertEquals(due.map((d) => [d.reason, d.totals.packets]), [[FlowEndReason.END_OF_FLOW, 10]]);
  assertEquals(s.get(KEY)?.entry.id, 2);
  at(65_000);
  s.update([entry({ id: 2, packets: 30, bytes: 1860 })]);
  assertEquals(brief(s.due()).map((d) => [d.reason, d.deltas.packets]), [[
    FlowEndReason.ACTIVE,
    30,
  ]]);
});

Deno.test("store: counters that go down restarted; deltas are never negative", () => {
  const { s, at } = store();
  at(0);
  s.update([entry({ packets: 100, bytes: 10000 })]);
  at(60_000);
  s.update([entry({ packets: 150, bytes: 15000 })]);
  assertEquals(brief(s.due())[0]?.deltas.packets, 150);
  at(65_000);
  s.update([entry({ packets: 7, bytes: 700 })]);
  at(120_000);
  s.update([entry({ packets: 9, bytes: 900 })]);
  assertEquals(brief(s.due())[0]?.deltas, {
    packets: 9,
    bytes: 900,
    reversePackets: 0,
    reverseBytes: 0,
  });
});

Deno.test("store: zones and directions make distinct keys; ignored entries stay untracked", () => {
  const { s, at } = store();
  at(0);
  s.update([
    entry({ zone: 0 }),
    entry({ zone: 7 }),
    entry({ src: "10.0.1.2", dst: "10.0.0.1", sport: 80, dport: 40000 }),
    entry({ src: "192.168.0.1" }),
  ]);
  assertEquals(s.size, 3);
  assertEquals(s.stats.ignored, 1);
});

Deno.test("store: the cap refuses new connections and counts them", () => {
  const { s, at } = store({ max: 2 });
  at(0);
  s.update([entry({ sport: 1 }), entry({ sport: 2 }), entry({ sport: 3 })]);
  assertEquals(s.size, 2);
  assertEquals(s.stats.refused, 1);
  // When one ends, the next poll admits the refused one.
  at(5_000);
  s.update([entry({ sport: 2 }), entry({ sport: 3 })]);
  s.due();
  at(10_000);
  s.update([entry({ sport: 2 }), entry({ sport: 3 })]);
  assertEquals([...s.connections()].map((c) => c.entry.original.srcPort).sort(), [2, 3]);
});

Deno.test("store: nextDue follows the earliest connection", () => {
  const { s, at } = store();
  at(1_000);
  s.update([entry({ packets: 1 })]);
  assertEquals(s.nextDue(), 16_000);
  at(2_000);
  s.update([entry({ packets: 2 })]);
  assertEquals(s.nextDue(), 17_000);
});

Deno.test("store: bad options are refused", () => {
  assertThrows(() => new ConnectionStore(() => ({}), { activeTimeoutMs: 0 }), RangeError);
  assertThrows(() => new ConnectionStore(() => ({}), { idleTimeoutMs: -1 }), RangeError);
  assertThrows(() => new ConnectionStore(() => ({}), { maxConnections: 0 }), RangeError);
});

Deno.test("store: refused counts each connection once, and never one the classifier declines", () => {
  const { s, at } = store({ max: 1 });
  const local = entry({ id: 1, sport: 1 });
  const refused = entry({ id: 2, sport: 2 });
  // Host traffic: the classifier declines it, so a full store refuses nothing for it.
  const host = entry({ id: 3, src: "192.168.0.1", dst: "192.168.0.2" });
  for (let t = 0; t < 30_000; t += 5_000) {
    at(t);
    s.update([local, refused, host]);
  }
  assertEquals(s.size, 1);
  assertEquals(s.stats.ignored, 1);
  assertEquals(s.stats.refused, 1);
});

Deno.test("store: forgetIgnored lets declined entries be classified again", () => {
  let known = false;
  const s = new ConnectionStore<{ ok: true }>(() => known ? { ok: true } : undefined, {
    clock: () => 0,
  });
  s.update([entry()]);
  assertEquals(s.size, 0);
  known = true;
  s.update([entry()]);
  assertEquals(s.size, 0, "declined once, not classified again while nothing changed");
  s.forgetIgnored();
  s.update([entry()]);
  assertEquals(s.size, 1);
});
