import { assertEquals } from "../../tests/_assert.ts";
import { silentLogger } from "../log/mod.ts";
import { emptyFlowRow, type FlowRow } from "../store/mod.ts";
import { SqliteStore } from "../store/sqlite/mod.ts";
import { MemoryAggregatorView } from "./_test_view.ts";
import { createApp } from "./app.ts";

function row(i: number, over: Partial<FlowRow> = {}): FlowRow {
  return {
    ...emptyFlowRow(),
    flowStartSeconds: 1_700_000_000,
    flowEndSeconds: 1_700_000_000 + i,
    sourceIP: "10.10.1.5",
    destinationIP: `10.10.2.${i}`,
    sourceTransportPort: 40000 + i,
    destinationTransportPort: 443,
    protocolIdentifier: 6,
    sourcePodNamespace: "shop",
    sourcePodName: "web-0",
    destinationPodNamespace: i % 2 ? "db" : "cache",
    destinationPodName: `pod-${i}`,
    octetDeltaCount: 100 * i,
    ...over,
  };
}

Deno.test("GET /flows: the stored flows that match, newest first, from a real SQLite store", async () => {
  await using store = new SqliteStore({ path: ":memory:", logger: silentLogger });
  store.write(Array.from({ length: 10 }, (_, i) => row(i + 1)));
  await store.flush();
  const app = createApp({ aggregator: new MemoryAggregatorView(), store });
  let res = await app.request("/flows?destinationPodNamespace=db&limit=3");
  assertEquals(res.status, 200);
  let { items } = await res.json();
  assertEquals(items.map((r: FlowRow) => r.destinationPodName), ["pod-9", "pod-7", "pod-5"]);
  res = await app.request("/flows?dstip=10.10.2.4&proto=tcp");
  ({ items } = await res.json());
  assertEquals(items.length, 1);
  assertEquals(items[0].octetDeltaCount, 400);
  res = await app.request(`/flows?since=${1_700_000_000 + 9}`);
  ({ items } = await res.json());
  assertEquals(items.length, 2);
  res = await app.request("/flows");
  ({ items } = await res.json());
  assertEquals(items.length, 10);
});

Deno.test("GET /flows: bad parameters are 400 naming them; no store or a failing one is 503", async () => {
  const view = new MemoryAggregatorView();
  let res = await createApp({ aggregator: view }).request("/flows?limit=0");
  assertEquals([res.status, (await res.json()).parameter], [400, "limit"]);
  res = await createApp({ aggregator: view }).request("/flows");
  assertEquals(res.status, 503);
  const failing = {
    query: () => Promise.reject(new Error("connection refused")),
  };
  res = await createApp({ aggregator: view, store: failing }).request("/flows");
  assertEquals(res.status, 503);
  assertEquals((await res.json()).error, "Cannot query the flow store: connection refused");
  res = await createApp({ aggregator: view, store: failing }).request("/flows", { method: "POST" });
  assertEquals(res.status, 405);
});
