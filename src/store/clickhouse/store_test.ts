import { assert, assertEquals } from "../../../tests/_assert.ts";
import { tempDir } from "../../../tests/_tools.ts";
import { emptyFlowRow, type FlowRow } from "../types.ts";
import { ClickHouseStore } from "./store.ts";

/** A loopback port that nothing listens on (bound, then released): every request is refused. */
function closedPort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

function rows(n: number): FlowRow[] {
  return Array.from({ length: n }, (_, i) => {
    const r = emptyFlowRow();
    r.sourceIP = `10.0.0.${i + 1}`;
    r.destinationIP = "10.0.1.1";
    r.flowEndSeconds = 1_700_000_000;
    return r;
  });
}

Deno.test("ClickHouseStore: rows handed over while close() runs are spooled, not lost", async () => {
  await using dir = await tempDir("flowvis-ch-close-");
  const store = new ClickHouseStore({
    url: `http://127.0.0.1:${closedPort()}`,
    spoolDir: `${dir.path}/spool`,
    retentionMs: 0,
    maxAttempts: 2,
    retryBaseMs: 200,
  });
  await store.open();
  store.write(rows(3));
  let closed = false;
  const closing = store.close().then(() => closed = true);
  // The close cycle has taken the queue and waits for the refused server (then backs off).
  await new Promise((r) => setTimeout(r, 0));
  assert(!closed, "close() finished before the second write: the test proves nothing");
  store.write(rows(2));
  await closing;
  const st = store.stats();
  assertEquals(
    { queued: st.queued, spooled: st.spooledRows, dropped: st.dropped },
    { queued: 0, spooled: 5, dropped: 0 },
  );
});

Deno.test("ClickHouseStore: rows written after close() are counted as dropped", async () => {
  const store = new ClickHouseStore({ url: `http://127.0.0.1:${closedPort()}`, retentionMs: 0 });
  await store.close();
  store.write(rows(4));
  assertEquals(store.stats().dropped, 4);
  assertEquals(store.stats().queued, 0);
});
