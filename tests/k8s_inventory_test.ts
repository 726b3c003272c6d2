/**
 * The inventory file: `kind: List` and multi-document YAML as kubectl prints them, loaded into
 * the cluster cache; clear errors for bad input; reload on change.
 *
 * @module
 */

import { assert, assertEquals, assertRejects, assertThrows } from "./_assert.ts";
import { tempDir, waitFor } from "./_tools.ts";
import { silentLogger } from "../src/log/mod.ts";
import {
  applyInventory,
  ClusterCache,
  InventoryError,
  loadInventory,
  parseInventory,
  watchInventory,
} from "../src/k8s/mod.ts";

const DATA = new URL("../testdata/k8s/", import.meta.url);

function newCache(): ClusterCache {
  return new ClusterCache({ logger: silentLogger });
}

Deno.test("inventory: a kind: List as kubectl prints it fills every index", async () => {
  const cache = newCache();
  const path = new URL("cluster.yaml", DATA).pathname;
  const inv = await loadInventory(path, cache, { logger: silentLogger });
  assertEquals(inv.warnings, []);
  assertEquals(inv.objects.length, 11);
  assert(cache.synced);
  const web = cache.podByIP("10.244.1.10");
  assertEquals([web?.namespace, web?.name, web?.nodeName], ["shop", "web-0", "node-1"]);
  assertEquals(web?.labels, { app: "web", "apps.kubernetes.io/pod-index": "0" });
  assertEquals(web?.ports.map((p) => [p.name, p.containerPort]), [["http", 8080], [
    undefined,
    9090,
  ]]);
  assertEquals(web?.pod.metadata?.managedFields, undefined);
  assertEquals(cache.podByIP("fd00:10:244:1::a")?.name, "web-0", "dual-stack");
  assertEquals(cache.podByIP("192.168.56.11"), undefined, "hostNetwork");
  assertEquals(cache.pod("kube-system", "kube-proxy-x7k2p")?.hostNetwork, true);
  assertEquals(cache.serviceByClusterIP("10.96.0.20", 80, "TCP")?.servicePortName, "shop/web:http");
  assertEquals(cache.serviceByClusterIP("fd00:10:96::20", 80, 6)?.servicePortName, "shop/web:http");
  assertEquals(
    cache.serviceByClusterIP("10.96.0.10", 53, 17)?.servicePortName,
    "kube-system/kube-dns:dns",
  );
  assertEquals(cache.serviceByClusterIP("10.96.0.10", 53, 6)?.portName, "dns-tcp");
  assertEquals(cache.get("Service", "db", "shop")?.spec?.clusterIP, "None");
  assertEquals(cache.nodeOfIP("10.244.2.7"), "node-2");
  assertEquals(cache.nodeOfIP("10.244.2.200"), "node-2");
  assertEquals(cache.nodeOfIP("fd00:10:244:1::99"), "node-1");
  assertEquals(cache.nodeOfIP("192.168.56.11"), "node-1");
  assertEquals(cache.nodeOfIP("203.0.113.12"), "node-2");
  assert(cache.isPodCIDR("10.244.1.200"));
  assert(!cache.isPodCIDR("8.8.8.8"));
  assertEquals(cache.node("node-1")?.internalIPs, ["192.168.56.11", "fd00:56::11"]);
  assertEquals(cache.namespaceLabels("shop"), {
    "kubernetes.io/metadata.name": "shop",
    team: "shop",
  });
  assertEquals(cache.networkPolicies("shop").map((p) => p.metadata?.name), ["db-allow-web"]);
});

Deno.test("inventory: multi-document YAML with a typed list; other kinds are warnings", async () => {
  const cache = newCache();
  const path = new URL("multi.yaml", DATA).pathname;
  const inv = await loadInventory(path, cache, { logger: silentLogger });
  assertEquals(inv.objects.map((o) => `${o.kind} ${o.object.metadata?.name} @${o.document}`), [
    "Node node-a @1",
    "Pod client @2",
    "Pod server @2",
    "Service server @4",
  ]);
  assertEquals(inv.warnings, [
    `${path}: document 3 (Deployment default/server): kind Deployment is not used; ignored`,
  ]);
  assertEquals(cache.podByIP("10.1.0.6")?.ports[0]?.name, "http");
  assertEquals(
    cache.serviceByClusterIP("10.2.0.80", 8080, "TCP")?.servicePortName,
    "default/server:",
  );
  assertEquals(cache.nodeOfIP("10.1.0.5"), "node-a");
});

Deno.test("inventory: JSON (kubectl get -o json) is YAML too", () => {
  const inv = parseInventory(JSON.stringify({
    apiVersion: "v1",
    kind: "List",
    items: [{
      apiVersion: "v1",
      kind: "Node",
      metadata: { name: "n" },
      spec: { podCIDR: "10.0.0.0/24" },
    }],
  }));
  assertEquals(inv.objects.length, 1);
});

Deno.test("inventory: reused pod IPs, duplicates and deletes across reloads", () => {
  const text = (extra: string) => `
apiVersion: v1
kind: Pod
metadata: {name: old, namespace: a, creationTimestamp: "2024-01-01T00:00:00Z"}
spec: {nodeName: n1}
status: {phase: Succeeded, podIP: 10.0.0.5}
---
apiVersion: v1
kind: Pod
metadata: {name: new, namespace: a, creationTimestamp: "2024-01-02T00:00:00Z"}
spec: {nodeName: n2}
status: {phase: Running, podIP: 10.0.0.5}
${extra}`;
  const cache = newCache();
  const inv = parseInventory(
    text(`---
apiVersion: v1
kind: Pod
metadata: {name: new, namespace: a, creationTimestamp: "2024-01-02T00:00:00Z"}
spec: {nodeName: n3}
status: {phase: Running, podIP: 10.0.0.5}`),
    "inv.yaml",
  );
  assertEquals(inv.warnings, [
    "inv.yaml: document 3: Pod a/new is also in document 2; the later one is used",
  ]);
  applyInventory(cache, inv);
  assertEquals(cache.podByIP("10.0.0.5")?.nodeName, "n3");
  // Reloaded without the new pod: the finished one owns the IP again; without both: nobody.
  applyInventory(cache, parseInventory(text("").replace(/---\n[\s\S]*$/, "")));
  assertEquals(cache.podByIP("10.0.0.5")?.name, "old");
  applyInventory(cache, parseInventory(""));
  assertEquals(cache.podByIP("10.0.0.5"), undefined);
  assertEquals(cache.count("Pod"), 0);
});

Deno.test("inventory: bad input is an InventoryError naming the document, field and line", () => {
  const pod = (body: string) => `apiVersion: v1\nkind: Pod\n${body}`;
  const cases: [string, string, string | undefined, number | undefined][] = [
    [
      "kind: List\nitems: [\n  - a: 1\n",
      "document 1 is not valid YAML (line 3, column 3)",
      undefined,
      3,
    ],
    [
      "a: 1\n---\nkind: Pod\nmetadata: {name: x}\n  bad: indent",
      "document 2 is not valid YAML",
      undefined,
      5,
    ],
    ["\u0000\u0001\u0002\u0003", "is not valid YAML", undefined, 1],
    ["just some text", 'document 1 is "just some text", not a Kubernetes object', undefined, 1],
    ["- a\n- b", "document 1 is a list, not a Kubernetes object", undefined, 1],
    ["metadata: {name: x}", "document 1, line 1: kind is required", "kind", 1],
    [pod("spec: {}"), "document 1 (Pod (no name)), line 1: metadata is required", "metadata", 1],
    [
      pod("metadata:\n  namespace: a\n"),
      "(Pod a/(no name)), line 4: metadata.name is required",
      "metadata.name",
      4,
    ],
    [pod('metadata: {name: ""}'), "metadata.name must not be empty", "metadata.name", 3],
    [
      pod("metadata:\n  name: x\n  labels:\n    version: 1\n"),
      "line 6: metadata.labels.version must be a string, got 1 (quote it in YAML)",
      "metadata.labels.version",
      6,
    ],
    [
      pod("metadata: {name: x}\nstatus:\n  podIPs:\n  - ip: 10.0.0.1\n  - ip: 10.0.0.300\n"),
      'line 7: status.podIPs[1].ip "10.0.0.300" is not an IP address',
      "status.podIPs[1].ip",
      7,
    ],
    [
      pod("metadata: {name: x}\nspec: {hostNetwork: yes}"),
      'spec.hostNetwork must be true or false, got "yes"',
      "spec.hostNetwork",
      4,
    ],
    [
      pod(
        "metadata: {name: x}\nspec:\n  containers:\n  - name: c\n    ports: [{containerPort: 70000}]",
      ),
      "spec.containers[0].ports[0].containerPort must be a port number (1-65535), got 70000",
      "spec.containers[0].ports[0].containerPort",
      7,
    ],
    [
      "apiVersion: v1\nkind: List\nitems:\n- kind: Service\n  metadata: {name: s}\n  spec:\n    clusterIP: 10.96.0.1\n    ports: [{port: 80, protocol: tcp}]\n",
      'document 1, items[0] (Service s), line 8: spec.ports[0].protocol must be TCP, UDP or SCTP, got "tcp"',
      "items[0].spec.ports[0].protocol",
      8,
    ],
    [
      "kind: List\nitems:\n- kind: Service\n  metadata: {name: s}\n  spec: {clusterIPs: [10.96.0.1, nope]}\n",
      'items[0] (Service s), line 5: spec.clusterIPs[1] "nope" is not an IP address',
      "items[0].spec.clusterIPs[1]",
      5,
    ],
    [
      "kind: List\nitems:\n- metadata: {name: x}\n",
      "document 1, items[0], line 3: kind is required",
      "items[0].kind",
      3,
    ],
    ["kind: PodList\nitems: 5", "items must be a list, got 5", "items", 2],
    [
      "kind: NodeList\nitems:\n- metadata: {name: n}\n  spec: {podCIDRs: [10.0.0.0/24, 10.1.0.0]}\n",
      'items[0] (Node n), line 4: spec.podCIDRs[1] "10.1.0.0" is not a CIDR (ADDRESS/PREFIX)',
      "items[0].spec.podCIDRs[1]",
      4,
    ],
    [
      "kind: Node\nmetadata: {name: n}\nstatus:\n  addresses:\n  - {type: InternalIP, address: node-1}\n",
      'status.addresses[0].address "node-1" is not an IP address',
      "status.addresses[0].address",
      5,
    ],
    [
      "kind: NetworkPolicy\nmetadata: {name: p}\nspec:\n  podSelector: {}\n  ingress:\n  - from:\n    - ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/33]}\n",
      'spec.ingress[0].from[0].ipBlock.except[0] "10.1.0.0/33" is not a CIDR',
      "spec.ingress[0].from[0].ipBlock.except[0]",
      7,
    ],
    [
      "kind: NetworkPolicy\nmetadata: {name: p}\nspec: {podSelector: {matchExpressions: [{key: a, operator: Is}]}}\n",
      'spec.podSelector.matchExpressions[0].operator must be In, NotIn, Exists or DoesNotExist, got "Is"',
      "spec.podSelector.matchExpressions[0].operator",
      3,
    ],
    ["kind: NetworkPolicy\nmetadata: {name: p}\n", "spec is required", "spec", 1],
  ];
  for (const [text, includes, field, line] of cases) {
    const e = assertThrows(
      () => parseInventory(text, "inv.yaml"),
      InventoryError,
      includes,
      includes,
    );
    assertEquals(e.source, "inv.yaml");
    assert(e.message.startsWith("inv.yaml: document "), e.message);
    assertEquals(e.field, field, includes);
    assertEquals(e.line, line, `${includes}: ${e.message}`);
    assert(e instanceof SyntaxError);
  }
});

Deno.test("inventory: an empty file loads nothing, with a warning", () => {
  const inv = parseInventory("# nothing here\n---\n", "empty.yaml");
  assertEquals(inv.objects, []);
  assertEquals(inv.warnings, [
    "empty.yaml: no Pods, Services, Nodes, NetworkPolicies or Namespaces",
  ]);
});

Deno.test("inventory: a missing file or a bad one leaves the cache as it was", async () => {
  const cache = newCache();
  await loadInventory(new URL("multi.yaml", DATA).pathname, cache, { logger: silentLogger });
  await assertRejects(
    () => loadInventory("/nonexistent/inventory.yaml", cache, { logger: silentLogger }),
    InventoryError,
    "Cannot read inventory /nonexistent/inventory.yaml",
  );
  await using dir = await tempDir("flowvis-inv-");
  await Deno.writeTextFile(`${dir.path}/bad.yaml`, "kind: Pod\nmetadata: {}\n");
  await assertRejects(
    () => loadInventory(`${dir.path}/bad.yaml`, cache, { logger: silentLogger }),
    InventoryError,
    "metadata.name is required",
  );
  // A binary file (gzip) pointed at by mistake.
  await Deno.writeFile(
    `${dir.path}/inventory.yaml.gz`,
    new Uint8Array([0x1f, 0x8b, 8, 0, 0xde, 0xad]),
  );
  await assertRejects(
    () => loadInventory(`${dir.path}/inventory.yaml.gz`, cache, { logger: silentLogger }),
    InventoryError,
    "is not valid YAML (line 1, column 1): control character U+001F (a binary file?)",
  );
  assertEquals(cache.count("Pod"), 2);
});

Deno.test("inventory: an alias bomb is refused, not expanded", () => {
  const levels = ["a: &a [x, x, x, x, x, x, x, x, x, x]"];
  for (let i = 1; i < 9; i++) {
    const prev = String.fromCharCode(96 + i);
    const cur = String.fromCharCode(97 + i);
    levels.push(`${cur}: &${cur} [${Array(10).fill(`*${prev}`).join(", ")}]`);
  }
  assertThrows(
    () => parseInventory(`kind: Pod\nmetadata: {name: p}\n${levels.join("\n")}\n`),
    InventoryError,
    "alias",
  );
});

Deno.test("inventory: watchInventory reloads on change and keeps the last good content", async () => {
  await using dir = await tempDir("flowvis-inv-");
  const path = `${dir.path}/inventory.yaml`;
  const podYaml = (name: string, ip: string) =>
    `kind: Pod\napiVersion: v1\nmetadata: {name: ${name}}\nstatus: {podIP: ${ip}}\n`;
  await Deno.writeTextFile(path, podYaml("a", "10.0.0.1"));
  const cache = newCache();
  await using w = await watchInventory(path, cache, { logger: silentLogger, debounceMs: 20 });
  assertEquals(cache.podByIP("10.0.0.1")?.name, "a");
  await Deno.writeTextFile(path, podYaml("b", "10.0.0.2"));
  await waitFor("the reload", () => cache.podByIP("10.0.0.2"));
  assertEquals(cache.podByIP("10.0.0.1"), undefined);
  // A broken edit is logged and ignored; the next good one is taken.
  await Deno.writeTextFile(path, "kind: Pod\nmetadata: [\n");
  await new Promise((r) => setTimeout(r, 150));
  assertEquals(cache.podByIP("10.0.0.2")?.name, "b");
  await Deno.writeTextFile(`${path}.tmp`, podYaml("c", "10.0.0.3"));
  await Deno.rename(`${path}.tmp`, path);
  await waitFor("the reload after a rename", () => cache.podByIP("10.0.0.3"));
  assert(w.reloads >= 2);
  await w.close();
});
