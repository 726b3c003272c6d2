import { assertEquals, assertRejects, assertThrows } from "../../tests/_assert.ts";
import { testCerts } from "../../tests/_certs.ts";
import { MemoryAggregatorView } from "./_test_view.ts";
import { createApp } from "./app.ts";
import { ApiClient, ApiResponseError, ApiUnreachableError, parseApiUrl } from "./client.ts";
import { type ApiServer, serveApi } from "./serve.ts";

async function withServer(
  fn: (server: ApiServer, view: MemoryAggregatorView) => Promise<void>,
  tls?: { cert: string; key: string },
): Promise<void> {
  const view = new MemoryAggregatorView();
  const server = serveApi(createApp({ aggregator: view }), { port: 0, ...(tls ? { tls } : {}) });
  try {
    await fn(server, view);
  } finally {
    await server.shutdown();
  }
}

/** A port that nothing listens on (bound, then released). */
function closedPort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

Deno.test("parseApiUrl: http(s) base URLs only, path kept as a prefix", () => {
  assertEquals(parseApiUrl("http://127.0.0.1:10348").href, "http://127.0.0.1:10348/");
  assertEquals(parseApiUrl("https://[::1]:8443/fa").href, "https://[::1]:8443/fa/");
  const expected = "expected http://HOST:PORT or https://HOST:PORT";
  assertThrows(() => parseApiUrl("127.0.0.1:10348"), TypeError, expected);
  assertThrows(() => parseApiUrl("localhost:10348"), TypeError, expected);
  assertThrows(() => parseApiUrl("not a url"), TypeError, expected);
  assertThrows(() => parseApiUrl("ftp://host/"), TypeError, expected);
  assertThrows(() => parseApiUrl("http://u:p@host/"), TypeError, "no credentials");
  assertThrows(() => parseApiUrl("http://host/?a=1"), TypeError, "query");
});

Deno.test("ApiClient: flow records with a filter, record metrics, health", async () => {
  await withServer(async (server, view) => {
    const api = new ApiClient(server.url);
    assertEquals(await api.flowRecords(), view.rows);
    assertEquals(await api.flowRecords({ dstip: "fd00:96::a", proto: 17 }), [view.rows[1]!]);
    assertEquals(view.filters.at(-1), { dstip: "fd00:96::a", proto: 17 });
    assertEquals((await api.recordMetrics()).numFlows, 3);
    assertEquals((await api.health()).status, "ok");
    view.checks = [{ name: "collector", ok: false }];
    assertEquals((await api.health()).failing, ["collector"]);
  });
});

Deno.test("ApiClient: an HTTP error carries the status and the server's message", async () => {
  await withServer(async (server, view) => {
    const api = new ApiClient(`${server.url}/nowhere`);
    const e = await assertRejects(() => api.recordMetrics(), ApiResponseError);
    assertEquals(e.status, 404);
    assertEquals(e.serverMessage, "No such path: /nowhere/recordmetrics");
    assertEquals(
      e.message,
      `${server.url}/nowhere/recordmetrics answered 404 Not Found: No such path: /nowhere/recordmetrics`,
    );
    view.failure = new Error("boom");
    const e2 = await assertRejects(() => new ApiClient(server.url).flowRecords(), ApiResponseError);
    assertEquals(e2.status, 500);
    assertEquals(e2.serverMessage, "Internal server error");
  });
});

Deno.test("ApiClient: an unreachable server names the URL", async () => {
  const url = `http://127.0.0.1:${closedPort()}`;
  const e = await assertRejects(
    () => new ApiClient(url).recordMetrics(),
    ApiUnreachableError,
    `Cannot reach the flow aggregator API at ${url}/recordmetrics: `,
  );
  assertEquals(e.url, `${url}/recordmetrics`);
});

Deno.test("ApiClient: a server that does not answer in time", async () => {
  // Accepts connections and never answers.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const c of listener) held.push(c);
  })();
  try {
    const url = `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`;
    await assertRejects(
      () => new ApiClient(url, { timeoutMs: 200 }).recordMetrics(),
      ApiUnreachableError,
      "no answer within 0.2 s",
    );
  } finally {
    listener.close();
    for (const c of held) c.close();
    await accepting.catch(() => {});
  }
});

Deno.test("ApiClient: a server that is not the flow aggregator API", async () => {
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen() {} },
    (req) =>
      new URL(req.url).pathname === "/flowrecords"
        ? Response.json({ rows: [] })
        : new Response("<html>hello</html>"),
  );
  try {
    const api = new ApiClient(`http://127.0.0.1:${server.addr.port}`);
    await assertRejects(() => api.flowRecords(), ApiResponseError, "no items array");
    await assertRejects(
      () => api.recordMetrics(),
      ApiResponseError,
      "not JSON: <html>hello</html>",
    );
  } finally {
    ac.abort();
    await server.finished;
  }
});

Deno.test("ApiClient: HTTPS with the CA of the server's certificate, refused without", async () => {
  const certs = await testCerts();
  await withServer(async (server) => {
    const httpClient = Deno.createHttpClient({ caCerts: [certs.ca] });
    try {
      assertEquals((await new ApiClient(server.url, { httpClient }).recordMetrics()).numFlows, 3);
    } finally {
      httpClient.close();
    }
    await assertRejects(() => new ApiClient(server.url).recordMetrics(), ApiUnreachableError);
  }, certs.server);
});
