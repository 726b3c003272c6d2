/**
 * The list+watch client against a local fake kube-apiserver that speaks the real protocol:
 * pagination, watch events into the cache indexes, bookmarks, reconnects, relists on 410 Gone
 * (HTTP status and ERROR event), bearer tokens (also rotating from a file), kubeconfig TLS with
 * client certificates, and a clean close.
 *
 * @module
 */

import type { Pod } from "kubernetes-types/core/v1.d.ts";
import { assert, assertEquals, assertStringIncludes } from "./_assert.ts";
import { testCerts } from "./_certs.ts";
import {
  FakeApiServer,
  type FakeApiServerOptions,
  type RecordedRequest,
} from "./_fake_apiserver.ts";
import { tempDir, waitFor } from "./_tools.ts";
import { silentLogger } from "../src/log/mod.ts";
import {
  type ClusterAccess,
  ClusterCache,
  ClusterWatcher,
  KubeClient,
  type ResourceKind,
  startClusterWatch,
} from "../src/k8s/mod.ts";

const FAST = { initialMs: 10, maxMs: 100 };

function pod(name: string, ip: string, extra: Partial<Pod["spec"]> = {}, ns = "default"): Pod {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: ns, uid: `uid-${name}`, labels: { app: name } },
    spec: { nodeName: "node-1", containers: [{ name: "c" }], ...extra },
    status: { phase: "Running", podIP: ip, podIPs: [{ ip }] },
  };
}

interface Env extends AsyncDisposable {
  server: FakeApiServer;
  client: KubeClient;
  cache: ClusterCache;
  watcher: ClusterWatcher;
}

async function setup(
  options: {
    server?: FakeApiServerOptions;
    kinds?: ResourceKind[];
    pageSize?: number;
    access?: Partial<ClusterAccess>;
    seed?: (s: FakeApiServer) => void;
  } = {},
): Promise<Env> {
  const server = await FakeApiServer.start(options.server);
  options.seed?.(server);
  const kinds = options.kinds ?? ["Pod"];
  const client = await KubeClient.create(
    { server: server.url, insecureSkipTlsVerify: false, source: "test", ...options.access },
    { logger: silentLogger },
  );
  const cache = new ClusterCache({ kinds, logger: silentLogger });
  const watcher = new ClusterWatcher(client, cache, {
    kinds,
    backoff: FAST,
    logger: silentLogger,
    ...(options.pageSize ? { pageSize: options.pageSize } : {}),
  });
  return {
    server,
    client,
    cache,
    watcher,
    async [Symbol.asyncDispose]() {
      await watcher.close();
      client.close();
      await server.close();
    },
  };
}

const isWatch = (kind: ResourceKind) => (r: RecordedRequest) => r.kind === kind && r.watch;
const isList = (kind: ResourceKind) => (r: RecordedRequest) => r.kind === kind && !r.watch;

Deno.test("k8s client: the initial list follows continue tokens and syncs the cache", async () => {
  await using env = await setup({
    pageSize: 3,
    seed: (s) => {
      for (let i = 0; i < 7; i++) s.put("Pod", pod(`p${i}`, `10.244.0.${i + 1}`));
    },
  });
  env.watcher.start();
  await env.cache.whenSynced(AbortSignal.timeout(5_000));
  assertEquals(env.cache.count("Pod"), 7);
  assertEquals(env.cache.podByIP("10.244.0.7")?.name, "p6");
  const lists = env.server.requests.filter(isList("Pod"));
  assertEquals(lists.map((r) => r.params.get("limit")), ["3", "3", "3"]);
  assertEquals(lists[0]!.params.has("continue"), false);
  assert(lists[1]!.params.get("continue") && lists[2]!.params.get("continue"));
  // The watch starts at the list's resourceVersion, with bookmarks and a timeout.
  const w = await env.server.waitForRequest(isWatch("Pod"));
  assertEquals(w.params.get("resourceVersion"), env.server.resourceVersion);
  assertEquals(w.params.get("allowWatchBookmarks"), "true");
  const timeout = Number(w.params.get("timeoutSeconds"));
  assert(timeout >= 300 && timeout < 600, `timeoutSeconds ${timeout}`);
  assertEquals(env.watcher.status("Pod")?.lists, 1);
});

Deno.test("k8s client: watch events add, modify and delete in the indexes", async () => {
  await using env = await setup({
    kinds: ["Pod", "Service", "Node", "Namespace", "NetworkPolicy"],
    seed: (s) => s.put("Namespace", { metadata: { name: "shop", labels: { team: "a" } } }),
  });
  env.watcher.start();
  await env.cache.whenSynced(AbortSignal.timeout(5_000));
  await waitFor("5 watches", () => env.server.openWatches() === 5 ? true : undefined);
  const { server, cache } = env;
  server.put("Pod", pod("web-0", "10.244.1.10", {}, "shop"));
  server.put("Pod", pod("proxy", "192.168.56.11", { hostNetwork: true }, "kube-system"));
  server.put("Service", {
    metadata: { name: "web", namespace: "shop" },
    spec: { clusterIP: "10.96.0.20", ports: [{ name: "http", port: 80 }] },
  });
  server.put("Node", {
    metadata: { name: "node-1" },
    spec: { podCIDRs: ["10.244.1.0/24"] },
    status: { addresses: [{ type: "InternalIP", address: "192.168.56.11" }] },
  });
  server.put("NetworkPolicy", {
    metadata: { name: "deny", namespace: "shop" },
    spec: { podSelector: {} },
  });
  await waitFor("the objects", () => cache.networkPolicies("shop").length === 1 ? true : undefined);
  await waitFor("the node", () => cache.node("node-1"));
  await waitFor("the service", () => cache.serviceByClusterIP("10.96.0.20", 80, 6));
  await waitFor("the pod", () => cache.podByIP("10.244.1.10"));
  assertEquals(cache.serviceByClusterIP("10.96.0.20", 80, "TCP")?.servicePortName, "shop/web:http");
  assertEquals(cache.nodeOfIP("10.244.1.99"), "node-1");
  assertEquals(cache.podByIP("192.168.56.11"), undefined, "hostNetwork");
  assertEquals(cache.namespaceLabels("shop").team, "a");

  server.put("Pod", pod("web-0", "10.244.1.11", {}, "shop"));
  server.put("Namespace", { metadata: { name: "shop", labels: { team: "b" } } });
  await waitFor("the new pod IP", () => cache.podByIP("10.244.1.11"));
  await waitFor(
    "the new labels",
    () => cache.namespaceLabels("shop").team === "b" ? true : undefined,
  );
  assertEquals(cache.podByIP("10.244.1.10"), undefined);

  server.delete("Pod", "web-0", "shop");
  const podRV = server.resourceVersion;
  server.delete("Service", "web", "shop");
  await waitFor("the deletes", () =>
    cache.podByIP("10.244.1.11") === undefined &&
      cache.serviceByClusterIP("10.96.0.20", 80, 6) === undefined
      ? true
      : undefined);
  assertEquals(env.watcher.status("Pod")?.resourceVersion, podRV);
  assertEquals(env.watcher.status("Service")?.resourceVersion, server.resourceVersion);
  assertEquals(env.watcher.status("Pod")?.lists, 1);
});

Deno.test("k8s client: bookmarks advance the resourceVersion the next watch starts from", async () => {
  await using env = await setup();
  env.watcher.start();
  await env.server.waitForRequest(isWatch("Pod"));
  env.server.advance(50);
  const rv = env.server.bookmark("Pod");
  await waitFor(
    "the bookmark",
    () => env.watcher.status("Pod")?.resourceVersion === rv ? true : undefined,
  );
  assertEquals(env.watcher.status("Pod")?.bookmarks, 1);
  const from = env.server.requests.length;
  env.server.closeWatches("Pod");
  const next = await env.server.waitForRequest(isWatch("Pod"), from);
  assertEquals(next.params.get("resourceVersion"), rv);
  assertEquals(env.watcher.status("Pod")?.lists, 1, "no relist");
});

Deno.test("k8s client: a watch that ends is reopened from the last event, without a relist", async () => {
  await using env = await setup({ seed: (s) => s.put("Pod", pod("a", "10.0.0.1")) });
  env.watcher.start();
  await env.cache.whenSynced(AbortSignal.timeout(5_000));
  await env.server.waitForRequest(isWatch("Pod"));
  env.server.put("Pod", pod("b", "10.0.0.2"));
  await waitFor("b", () => env.cache.podByIP("10.0.0.2"));
  const rvAfterB = env.server.resourceVersion;
  // The stream ends (server timeout); changes made meanwhile are replayed on the new watch.
  const from = env.server.requests.length;
  env.server.closeWatches();
  env.server.put("Pod", pod("c", "10.0.0.3"));
  const next = await env.server.waitForRequest(isWatch("Pod"), from);
  assertEquals(next.params.get("resourceVersion"), rvAfterB);
  await waitFor("c", () => env.cache.podByIP("10.0.0.3"));
  // Twice more, with nothing in between: the empty watches are retried with backoff.
  for (let i = 0; i < 2; i++) {
    const n = env.server.requests.length;
    await waitFor("an open watch", () => env.server.openWatches() === 1 ? true : undefined);
    env.server.closeWatches();
    await env.server.waitForRequest(isWatch("Pod"), n);
  }
  assertEquals(env.watcher.status("Pod")?.lists, 1);
  assert(env.watcher.status("Pod")!.watches >= 4);
  assertEquals(env.cache.count("Pod"), 3);
});

Deno.test("k8s client: 410 Gone as an ERROR event relists and reconciles missed changes", async () => {
  await using env = await setup({
    seed: (s) => {
      s.put("Pod", pod("keep", "10.0.0.1"));
      s.put("Pod", pod("gone", "10.0.0.2"));
    },
  });
  env.watcher.start();
  await env.cache.whenSynced(AbortSignal.timeout(5_000));
  await env.server.waitForRequest(isWatch("Pod"));
  // Changes the watcher misses, then the watch cache tells it its resourceVersion is too old.
  env.server.delete("Pod", "gone", "default", { silent: true });
  env.server.put("Pod", pod("new", "10.0.0.3"), { silent: true });
  env.server.compact();
  const from = env.server.requests.length;
  env.server.sendError(410, "Pod");
  await env.server.waitForRequest(isList("Pod"), from);
  await waitFor("the relist", () => env.cache.podByIP("10.0.0.3"));
  assertEquals(env.cache.podByIP("10.0.0.2"), undefined);
  assertEquals(env.cache.podByIP("10.0.0.1")?.name, "keep");
  const st = env.watcher.status("Pod")!;
  assertEquals([st.lists, st.gone], [2, 1]);
  const w = await env.server.waitForRequest(isWatch("Pod"), from);
  assertEquals(w.params.get("resourceVersion"), env.server.resourceVersion);
});

Deno.test("k8s client: a watch from a compacted resourceVersion relists (ERROR event or HTTP 410)", async () => {
  for (const goneAs of ["event", "http"] as const) {
    await using env = await setup({
      server: { goneAs },
      seed: (s) => s.put("Pod", pod("a", "10.0.0.1")),
    });
    env.watcher.start();
    await env.server.waitForRequest(isWatch("Pod"));
    env.server.put("Pod", pod("b", "10.0.0.2"), { silent: true });
    env.server.compact();
    const from = env.server.requests.length;
    env.server.closeWatches();
    const refused = await env.server.waitForRequest(isWatch("Pod"), from);
    assertEquals(refused.status, goneAs === "http" ? 410 : 200, goneAs);
    await env.server.waitForRequest(isList("Pod"), from);
    await waitFor(`b after ${goneAs} 410`, () => env.cache.podByIP("10.0.0.2"));
    assertEquals(env.watcher.status("Pod")?.gone, 1, goneAs);
    await env.server.waitForRequest(
      (r) => isWatch("Pod")(r) && r.params.get("resourceVersion") === env.server.resourceVersion,
      from,
    );
  }
});

Deno.test("k8s client: an expired continue token restarts the list from the first page", async () => {
  await using env = await setup({
    pageSize: 2,
    seed: (s) => {
      for (let i = 0; i < 5; i++) s.put("Pod", pod(`p${i}`, `10.0.1.${i + 1}`));
    },
  });
  env.server.failNext(410, "Pod", false, (p) => p.has("continue"));
  env.watcher.start();
  await env.cache.whenSynced(AbortSignal.timeout(5_000));
  assertEquals(env.cache.count("Pod"), 5);
  const lists = env.server.requests.filter(isList("Pod"));
  assertEquals(lists.map((r) => [r.status, r.params.has("continue")]), [
    [200, false],
    [410, true],
    [200, false],
    [200, true],
    [200, true],
  ]);
  assertEquals(env.watcher.status("Pod")?.gone, 1);
});

Deno.test("k8s client: failures are retried with backoff; garbage resumes from the last event", async () => {
  await using env = await setup();
  env.server.failNext(500, "Pod", false);
  env.server.failNext(503, "Pod", true);
  env.watcher.start();
  await env.cache.whenSynced(AbortSignal.timeout(5_000));
  await waitFor("a watch", () => env.server.openWatches() === 1 ? true : undefined);
  let st = env.watcher.status("Pod")!;
  assertEquals(st.errors, 2);
  assertStringIncludes(st.lastError ?? "", "503");
  env.server.put("Pod", pod("a", "10.0.0.1"));
  await waitFor("a", () => env.cache.podByIP("10.0.0.1"));
  const rv = env.server.resourceVersion;
  const from = env.server.requests.length;
  env.server.sendRaw("Pod", "{not json");
  const next = await env.server.waitForRequest(isWatch("Pod"), from);
  assertEquals(next.params.get("resourceVersion"), rv);
  st = env.watcher.status("Pod")!;
  assertEquals([st.lists, st.errors], [1, 3]);
  assertStringIncludes(st.lastError ?? "", "invalid JSON");
  // An ERROR event other than 410 is retried the same way.
  env.server.sendError(500, "Pod");
  await waitFor("a retry", () => env.watcher.status("Pod")!.errors === 4 ? true : undefined);
  await waitFor("a watch again", () => env.server.openWatches() === 1 ? true : undefined);
  assertEquals(env.watcher.status("Pod")?.lists, 1);
});

Deno.test("k8s client: the bearer token is sent; a wrong one is a 401 that never syncs", async () => {
  {
    await using env = await setup({ server: { token: "s3cret" }, access: { token: "s3cret" } });
    env.watcher.start();
    await env.cache.whenSynced(AbortSignal.timeout(5_000));
    await env.server.waitForRequest(isWatch("Pod"));
    assert(env.server.requests.every((r) => r.authorization === "Bearer s3cret"));
  }
  {
    await using env = await setup({ server: { token: "s3cret" }, access: { token: "wrong" } });
    env.watcher.start();
    await waitFor("two refusals", () => env.server.requests.length >= 2 ? true : undefined);
    assert(env.server.requests.every((r) => r.status === 401));
    assert(!env.cache.synced);
    assertStringIncludes(env.watcher.status("Pod")?.lastError ?? "", "401 Unauthorized");
  }
});

Deno.test("k8s client: a rotated token file is re-read on schedule and after a 401", async () => {
  await using dir = await tempDir("flowvis-token-");
  const tokenFile = `${dir.path}/token`;
  await Deno.writeTextFile(tokenFile, "t1\n");
  let now = 0;
  const server = await FakeApiServer.start({ token: "t1" });
  const client = await KubeClient.create(
    { server: server.url, tokenFile, insecureSkipTlsVerify: false, source: "test" },
    { logger: silentLogger, tokenRefreshMs: 60_000, now: () => now },
  );
  try {
    (await client.get("/api/v1/pods")).body?.cancel();
    // Rotated on disk: used once the refresh period is over.
    await Deno.writeTextFile(tokenFile, "t2\n");
    server.token = "t2";
    now = 61_000;
    (await client.get("/api/v1/pods")).body?.cancel();
    // Rotated again, within the period: the 401 makes the client read it at once.
    await Deno.writeTextFile(tokenFile, "t3\n");
    server.token = "t3";
    now = 62_000;
    (await client.get("/api/v1/pods")).body?.cancel();
    assertEquals(server.requests.map((r) => [r.authorization, r.status]), [
      ["Bearer t1", 200],
      ["Bearer t2", 200],
      ["Bearer t2", 401],
      ["Bearer t3", 200],
    ]);
  } finally {
    client.close();
    await server.close();
  }
});

Deno.test("k8s client: kubeconfig with CA, client certificate and key data over mTLS", async () => {
  const certs = await testCerts();
  await using server = await FakeApiServer.start({
    token: "tls-token",
    tls: { ...certs.server, ca: certs.ca, requireClientCert: true },
  });
  server.put("Pod", pod("a", "10.0.0.1"));
  await using dir = await tempDir("flowvis-kubeconfig-");
  const b64 = (s: string) => btoa(s);
  const kubeconfig = `${dir.path}/config`;
  await Deno.writeTextFile(
    kubeconfig,
    `apiVersion: v1
kind: Config
current-context: test
contexts: [{name: test, context: {cluster: fake, user: agent}}]
clusters:
- name: fake
  cluster:
    server: ${server.url}
    certificate-authority-data: ${b64(certs.ca)}
users:
- name: agent
  user:
    client-certificate-data: ${b64(certs.client.cert)}
    client-key-data: ${b64(certs.client.key)}
    tokenFile: token
`,
  );
  await Deno.writeTextFile(`${dir.path}/token`, "tls-token");
  const cache = new ClusterCache({ kinds: ["Pod"], logger: silentLogger });
  const watcher = await startClusterWatch(cache, {
    kubeconfig,
    kinds: ["Pod"],
    backoff: FAST,
    logger: silentLogger,
  });
  try {
    await cache.whenSynced(AbortSignal.timeout(5_000));
    assertEquals(cache.podByIP("10.0.0.1")?.name, "a");
    await server.waitForRequest(isWatch("Pod"));
    server.put("Pod", pod("b", "10.0.0.2"));
    await waitFor("b over TLS", () => cache.podByIP("10.0.0.2"));
    assert(server.requests.every((r) => r.clientCert === "exporter-1" && r.status === 200));
    assert(server.requests.every((r) => r.authorization === "Bearer tls-token"));
  } finally {
    await watcher.close();
  }
});

Deno.test("k8s client: a server certificate from another CA is refused with a clear error", async () => {
  const certs = await testCerts();
  await using server = await FakeApiServer.start({ tls: { ...certs.server } });
  const client = await KubeClient.create(
    { server: server.url, caData: certs.otherCa, insecureSkipTlsVerify: false, source: "test" },
    { logger: silentLogger },
  );
  try {
    let message = "";
    try {
      await client.get("/api/v1/pods");
    } catch (e) {
      message = (e as Error).message;
    }
    assertStringIncludes(message, `Cannot reach the API server ${server.url}`);
    assertEquals(server.requests.length, 0);
  } finally {
    client.close();
  }
});

Deno.test("k8s client: close stops every list and watch, and is safe twice", async () => {
  await using env = await setup({
    kinds: ["Pod", "Service", "Node", "Namespace", "NetworkPolicy"],
  });
  env.watcher.start();
  await env.cache.whenSynced(AbortSignal.timeout(5_000));
  await waitFor("5 watches", () => env.server.openWatches() === 5 ? true : undefined);
  await env.watcher.close();
  await env.watcher.close();
  await waitFor("the watches to end", () => env.server.openWatches() === 0 ? true : undefined);
  const n = env.server.requests.length;
  env.server.put("Pod", pod("late", "10.0.0.9"));
  await new Promise((r) => setTimeout(r, 50));
  assertEquals(env.server.requests.length, n, "no request after close");
  assertEquals(env.cache.podByIP("10.0.0.9"), undefined);
});

Deno.test("k8s client: a watcher that cannot reach the server keeps retrying until closed", async () => {
  const server = await FakeApiServer.start();
  const url = server.url;
  await server.close();
  const client = await KubeClient.create(
    { server: url, insecureSkipTlsVerify: false, source: "test" },
    { logger: silentLogger },
  );
  const cache = new ClusterCache({ kinds: ["Pod"], logger: silentLogger });
  const watcher = new ClusterWatcher(client, cache, {
    kinds: ["Pod"],
    backoff: FAST,
    logger: silentLogger,
  }).start();
  await waitFor("retries", () => watcher.status("Pod")!.errors >= 3 ? true : undefined);
  assertStringIncludes(watcher.status("Pod")?.lastError ?? "", "Cannot reach the API server");
  assert(!cache.synced);
  await watcher.close();
  client.close();
});

Deno.test("k8s client: aborting the watcher's signal stops it like close()", async () => {
  const server = await FakeApiServer.start();
  const ac = new AbortController();
  const cache = new ClusterCache({ kinds: ["Pod", "Node"], logger: silentLogger });
  const watcher = await startClusterWatch(cache, {
    access: { server: server.url, insecureSkipTlsVerify: false, source: "test" },
    kinds: ["Pod", "Node"],
    signal: ac.signal,
    backoff: FAST,
    logger: silentLogger,
  });
  try {
    await cache.whenSynced(AbortSignal.timeout(5_000));
    await waitFor("2 watches", () => server.openWatches() === 2 ? true : undefined);
    ac.abort();
    await waitFor("the watches to end", () => server.openWatches() === 0 ? true : undefined);
  } finally {
    await watcher.close();
    await server.close();
  }
});
