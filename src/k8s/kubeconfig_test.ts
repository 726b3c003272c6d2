import { assertEquals, assertRejects, assertThrows } from "../../tests/_assert.ts";
import { KubeconfigError } from "./errors.ts";
import { inClusterAccess, parseKubeconfig } from "./kubeconfig.ts";

const CERT = "-----BEGIN CERTIFICATE-----\nMIIBcert\n-----END CERTIFICATE-----\n";
const KEY = "-----BEGIN EC PRIVATE KEY-----\nMHckey\n-----END EC PRIVATE KEY-----\n";
const b64 = (s: string) => btoa(s);

function config(user: string, cluster = 'server: "https://127.0.0.1:6443"'): string {
  return `apiVersion: v1
kind: Config
current-context: dev
preferences: {}
contexts:
- name: other
  context: {cluster: c2, user: u2}
- name: dev
  context:
    cluster: c1
    user: u1
    namespace: shop
clusters:
- name: c2
  cluster: {server: "https://10.0.0.2:6443"}
- name: c1
  cluster:
    ${cluster}
users:
- name: u2
  user: {token: other-token}
- name: u1
  user:
    ${user}
`;
}

Deno.test("kubeconfig: current-context, token, namespace", () => {
  const a = parseKubeconfig(config("token: abc"), { path: "/home/me/.kube/config" });
  assertEquals(a, {
    server: "https://127.0.0.1:6443",
    insecureSkipTlsVerify: false,
    source: "kubeconfig /home/me/.kube/config, context dev",
    namespace: "shop",
    token: "abc",
  });
});

Deno.test("kubeconfig: a named context instead of current-context", () => {
  const a = parseKubeconfig(config("token: abc"), { context: "other" });
  assertEquals(a.server, "https://10.0.0.2:6443");
  assertEquals(a.token, "other-token");
  assertEquals(a.namespace, undefined);
});

Deno.test("kubeconfig: client certificate, key and CA as -data fields", () => {
  const a = parseKubeconfig(
    config(
      `client-certificate-data: ${b64(CERT)}\n    client-key-data: ${b64(KEY)}`,
      `server: https://k8s.example:443\n    certificate-authority-data: ${b64(CERT)}`,
    ),
  );
  assertEquals(a.server, "https://k8s.example");
  assertEquals(a.caData, CERT);
  assertEquals(a.certData, CERT);
  assertEquals(a.keyData, KEY);
  assertEquals(a.token, undefined);
});

Deno.test("kubeconfig: file references resolve against the kubeconfig's folder", () => {
  const a = parseKubeconfig(
    config(
      "client-certificate: certs/me.crt\n    client-key: /abs/me.key\n    tokenFile: token",
      "server: 10.0.0.1:6443\n    certificate-authority: ca.crt\n    insecure-skip-tls-verify: true",
    ),
    { path: "/etc/flowvis/kubeconfig" },
  );
  assertEquals(a.server, "https://10.0.0.1:6443", "https is assumed");
  assertEquals(a.caFile, "/etc/flowvis/ca.crt");
  assertEquals(a.certFile, "/etc/flowvis/certs/me.crt");
  assertEquals(a.keyFile, "/abs/me.key");
  assertEquals(a.tokenFile, "/etc/flowvis/token");
  assertEquals(a.insecureSkipTlsVerify, true);
});

Deno.test("kubeconfig: a server path prefix is kept; basic auth is read", () => {
  const a = parseKubeconfig(
    config(
      "username: admin\n    password: s3cret",
      "server: https://rancher.example/k8s/clusters/c-1/",
    ),
  );
  assertEquals(a.server, "https://rancher.example/k8s/clusters/c-1");
  assertEquals([a.username, a.password], ["admin", "s3cret"]);
});

Deno.test("kubeconfig: unusable files are KubeconfigErrors naming the field", () => {
  const cases: [string, string, string | undefined][] = [
    ["", "the file is empty", undefined],
    ["just a string", "expected a mapping with clusters, contexts and users", undefined],
    ["apiVersion: v1\nclusters: [\n  - name: x\n", "not valid YAML (line", undefined],
    ["\u0000\u0001\u0002garbage: [", "not valid YAML", undefined],
    ["kind: Pod", "expected kind Config", "kind"],
    ["kind: Config\ncontexts: []", "current-context is not set", "current-context"],
    ["current-context: nope\ncontexts: []", 'context "nope" is not defined', "current-context"],
    [
      config("token: a").replace("cluster: c1", "cluster: c9"),
      'cluster "c9" is not defined',
      "contexts[1].context.cluster",
    ],
    [
      config("token: a").replace("user: u1", "user: u9"),
      'user "u9" is not defined',
      "contexts[1].context.user",
    ],
    [
      config("token: a", "insecure-skip-tls-verify: true"),
      "is required",
      "clusters[1].cluster.server",
    ],
    [
      config("token: a", "server: ftp://x"),
      "only https:// and http://",
      "clusters[1].cluster.server",
    ],
    [config("token: a", "server: 'https://'"), "is not a URL", "clusters[1].cluster.server"],
    [config("token: 42"), "must be a string, got number 42", "users[1].user.token"],
    [
      config("token: a", `server: https://x\n    certificate-authority-data: "not base64!"`),
      "is not valid base64",
      "clusters[1].cluster.certificate-authority-data",
    ],
    [
      config(
        `client-certificate-data: ${b64(CERT)}\n    client-key-data: ${b64(KEY).slice(0, 40)}`,
      ),
      "does not hold a PEM private key (truncated?)",
      "users[1].user.client-key-data",
    ],
    [
      config(`client-certificate-data: ${b64("hello")}\n    client-key-data: ${b64(KEY)}`),
      "does not hold a PEM certificate (expected base64 of a PEM file)",
      "users[1].user.client-certificate-data",
    ],
    [
      config(`client-certificate-data: ${b64(CERT)}`),
      "a client certificate needs its key",
      "users[1].user",
    ],
    [
      config("exec: {command: aws, args: [eks, get-token]}"),
      "exec credential plugins are not supported",
      "users[1].user.exec",
    ],
    [config("token: a").replace("contexts:", "contexts: 7\nx:"), "must be a list", "contexts"],
  ];
  for (const [text, includes, field] of cases) {
    const e = assertThrows(
      () => parseKubeconfig(text, { path: "/k" }),
      KubeconfigError,
      includes,
      includes,
    );
    assertEquals(e.field, field, includes);
    assertEquals(e.source, "/k");
    assertEquals(e.message.startsWith("Invalid kubeconfig /k"), true, e.message);
    if (field) assertEquals(e.message.includes(field), true, e.message);
  }
});

Deno.test("kubeconfig: a truncated file names what is missing", () => {
  const full = config(`client-certificate-data: ${b64(CERT)}\n    client-key-data: ${b64(KEY)}`);
  // Cut inside the users list: the context's user is gone.
  const cut = full.slice(0, full.indexOf("- name: u1"));
  assertThrows(() => parseKubeconfig(cut), KubeconfigError, 'user "u1" is not defined');
  // Cut inside the key's base64.
  const mid = full.slice(0, full.length - 30);
  assertThrows(() => parseKubeconfig(mid), KubeconfigError, "client-key-data");
});

Deno.test("in-cluster: service host and port, token file, CA and namespace", async () => {
  const dir = await Deno.makeTempDir({ prefix: "flowvis-sa-" });
  try {
    await Deno.writeTextFile(`${dir}/token`, "tok\n");
    await Deno.writeTextFile(`${dir}/namespace`, "flowvis\n");
    const env: Record<string, string> = {
      KUBERNETES_SERVICE_HOST: "fd00:10:96::1",
      KUBERNETES_SERVICE_PORT: "443",
    };
    const a = await inClusterAccess({ env: (n) => env[n], dir });
    assertEquals(a, {
      server: "https://[fd00:10:96::1]:443",
      caFile: `${dir}/ca.crt`,
      tokenFile: `${dir}/token`,
      insecureSkipTlsVerify: false,
      namespace: "flowvis",
      source: "in-cluster service account",
    });
    await assertRejects(
      () => inClusterAccess({ env: () => undefined, dir }),
      TypeError,
      "KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set",
    );
    await assertRejects(
      () => inClusterAccess({ env: (n) => env[n], dir: `${dir}/missing` }),
      TypeError,
      "token is missing",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
