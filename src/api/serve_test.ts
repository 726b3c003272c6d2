import { assertEquals, assertMatch, assertThrows } from "../../tests/_assert.ts";
import { testCerts } from "../../tests/_certs.ts";
import { MemoryAggregatorView } from "./_test_view.ts";
import { createApp } from "./app.ts";
import { serveApi } from "./serve.ts";
import type { FlowRecordsResponse } from "./types.ts";

Deno.test("serveApi: port 0 on loopback, answers over HTTP, stops on abort", async () => {
  const ac = new AbortController();
  const server = serveApi(createApp({ aggregator: new MemoryAggregatorView() }), {
    port: 0,
    signal: ac.signal,
  });
  try {
    assertEquals(server.hostname, "127.0.0.1");
    assertEquals(server.url, `http://127.0.0.1:${server.port}`);
    const res = await fetch(`${server.url}/flowrecords?proto=tcp`);
    assertEquals(res.status, 200);
    const body = (await res.json()) as FlowRecordsResponse;
    assertEquals(body.items.map((r) => r.sourceIP), ["10.10.0.5"]);
  } finally {
    ac.abort();
    await server.finished;
  }
  // Nothing listens any more.
  let refused = false;
  try {
    await (await fetch(`${server.url}/healthz`)).body?.cancel();
  } catch (e) {
    refused = e instanceof TypeError;
  }
  assertEquals(refused, true, "connection refused after abort");
});

Deno.test("serveApi: IPv6 loopback and shutdown()", async () => {
  const server = serveApi(createApp({ aggregator: new MemoryAggregatorView() }), {
    hostname: "::1",
    port: 0,
  });
  try {
    assertEquals(server.url, `http://[::1]:${server.port}`);
    const res = await fetch(`${server.url}/healthz`);
    assertEquals(await res.json(), {
      status: "ok",
      failing: [],
      checks: [{ name: "collector", ok: true }],
    });
  } finally {
    await server.shutdown();
    await server.finished;
  }
});

Deno.test("serveApi: HTTPS with the given certificate", async () => {
  const certs = await testCerts();
  const ac = new AbortController();
  const server = serveApi(createApp({ aggregator: new MemoryAggregatorView() }), {
    port: 0,
    signal: ac.signal,
    tls: certs.server,
  });
  const client = Deno.createHttpClient({ caCerts: [certs.ca] });
  try {
    assertEquals(server.url, `https://127.0.0.1:${server.port}`);
    const res = await fetch(`${server.url}/recordmetrics`, { client });
    assertEquals(res.status, 200);
    assertEquals(((await res.json()) as { numFlows: number }).numFlows, 3);
  } finally {
    client.close();
    ac.abort();
    await server.finished;
  }
});

Deno.test("serveApi: a port in use or out of range is refused with a clear error", async () => {
  const app = createApp({ aggregator: new MemoryAggregatorView() });
  const first = serveApi(app, { port: 0 });
  try {
    const e = assertThrows(() => serveApi(app, { port: first.port }));
    assertMatch(e.message, new RegExp(`^Cannot serve the API on 127\\.0\\.0\\.1:${first.port}: `));
  } finally {
    await first.shutdown();
  }
  assertThrows(() => serveApi(app, { port: 65536 }), RangeError, "Invalid API port 65536");
  assertThrows(() => serveApi(app, { port: -1 }), RangeError, "Invalid API port -1");
});
