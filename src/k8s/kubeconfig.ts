/**
 * How to reach the API server: from a kubeconfig file (current context or a named one) or from
 * the service account of the pod flowvis runs in.
 *
 * @module
 */

import { KubeconfigError } from "./errors.ts";
import { fieldPath, parseYaml, position } from "./_yaml.ts";

/**
 * The address and credentials of an API server. PEM material is either inline (`…Data`) or in
 * a file (`…File`, absolute), read when the client is created; a token file is re-read while
 * the client runs, since bound service account tokens rotate.
 */
export interface ClusterAccess {
  /** Base URL, without a trailing slash (`https://10.96.0.1:443`). */
  readonly server: string;
  readonly caData?: string;
  readonly caFile?: string;
  readonly certData?: string;
  readonly certFile?: string;
  readonly keyData?: string;
  readonly keyFile?: string;
  readonly token?: string;
  readonly tokenFile?: string;
  readonly username?: string;
  readonly password?: string;
  /** kubeconfig `insecure-skip-tls-verify` (Deno can only honor it process-wide, see KubeClient). */
  readonly insecureSkipTlsVerify: boolean;
  /** The context's namespace, or the pod's own namespace in the cluster. */
  readonly namespace?: string;
  /** Where this came from, for logs and errors (`kubeconfig /root/.kube/config, context kind`). */
  readonly source: string;
}

/** Options of {@link parseKubeconfig}. */
export interface KubeconfigOptions {
  /** The context to use instead of current-context. */
  context?: string;
  /** The file's path: named in errors, and relative file references resolve against its folder. */
  path?: string;
}

type Path = (string | number)[];

function dirname(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? "." : i === 0 ? "/" : path.slice(0, i);
}

function resolvePath(base: string | undefined, p: string): string {
  if (p.startsWith("/") || base === undefined) return p;
  return `${dirname(base)}/${p}`;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Parses a kubeconfig and resolves its context into a {@link ClusterAccess}. Pure: referenced
 * files are not read. Throws a {@link KubeconfigError} naming the file and the field for
 * anything that cannot work: not YAML, no such context, cluster or user, no server, bad base64
 * or PEM in a `…-data` field, exec or auth-provider credentials (not supported).
 *
 * @example
 * ```ts
 * const access = parseKubeconfig(`
 * apiVersion: v1
 * kind: Config
 * current-context: dev
 * contexts: [{ name: dev, context: { cluster: c, user: u, namespace: web } }]
 * clusters: [{ name: c, cluster: { server: "https://127.0.0.1:6443" } }]
 * users: [{ name: u, user: { token: abc } }]
 * `);
 * access.server; // "https://127.0.0.1:6443"
 * access.token; // "abc"
 * ```
 */
export function parseKubeconfig(text: string, options: KubeconfigOptions = {}): ClusterAccess {
  const source = options.path ?? "kubeconfig";
  const fail = (msg: string, path?: Path, cause?: unknown): never => {
    const field = path ? fieldPath(path) : undefined;
    throw new KubeconfigError(
      `Invalid kubeconfig ${source}${field ? `: ${field}` : ""}: ${msg}`,
      source,
      field,
      cause === undefined ? undefined : { cause },
    );
  };
  const docs = parseYaml(text);
  if (!Array.isArray(docs)) {
    return fail(`not valid YAML${position(docs)}: ${docs.message}`);
  }
  const root = docs[0]?.value;
  if (!isRecord(root)) {
    return fail(
      root === undefined || root === null
        ? "the file is empty"
        : `expected a mapping with clusters, contexts and users, got ${describe(root)}`,
    );
  }
  if (root.kind !== undefined && root.kind !== "Config") {
    fail(`expected kind Config, got ${JSON.stringify(root.kind)}`, ["kind"]);
  }

  const str = (o: Record<string, unknown>, key: string, path: Path): string | undefined => {
    const v = o[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "string") fail(`must be a string, got ${describe(v)}`, [...path, key]);
    return v as string;
  };
  const find = (listKey: string, inner: string, name: string, why: Path) => {
    const list = root[listKey];
    if (list !== undefined && list !== null && !Array.isArray(list)) {
      fail(`must be a list, got ${describe(list)}`, [listKey]);
    }
    const items = (list ?? []) as unknown[];
    for (let i = 0; i < items.length; i++) {
      const item = items[i];
      if (!isRecord(item)) fail(`must be a mapping with name and ${inner}`, [listKey, i]);
      const it = item as Record<string, unknown>;
      if (it.name !== name) continue;
      const body = it[inner] ?? {};
      if (!isRecord(body)) fail(`must be a mapping, got ${describe(body)}`, [listKey, i, inner]);
      return { body: body as Record<string, unknown>, path: [listKey, i, inner] as Path };
    }
    return fail(`${listKey.slice(0, -1)} ${JSON.stringify(name)} is not defined`, why);
  };

  const contextName = options.context ?? str(root, "current-context", []);
  if (contextName === undefined || contextName === "") {
    fail("current-context is not set and no context was given", ["current-context"]);
  }
  const ctx = find(
    "contexts",
    "context",
    contextName!,
    options.context !== undefined ? ["contexts"] : ["current-context"],
  );
  const clusterName = str(ctx.body, "cluster", ctx.path);
  if (!clusterName) fail("names no cluster", [...ctx.path, "cluster"]);
  const cluster = find("clusters", "cluster", clusterName!, [...ctx.path, "cluster"]);
  const userName = str(ctx.body, "user", ctx.path);
  const user = userName ? find("users", "user", userName, [...ctx.path, "user"]) : undefined;

  const serverText = str(cluster.body, "server", cluster.path);
  if (!serverText) fail("is required", [...cluster.path, "server"]);
  const server = parseServer(serverText!, (m) => fail(m, [...cluster.path, "server"]));

  const pem = (
    o: Record<string, unknown>,
    key: string,
    path: Path,
    label: "CERTIFICATE" | "PRIVATE KEY",
  ): string | undefined => {
    const b64 = str(o, key, path);
    if (b64 === undefined) return undefined;
    const text = decodeBase64(b64, (m) => fail(m, [...path, key]));
    if (!hasPem(text, label)) {
      fail(
        `does not hold a PEM ${label === "CERTIFICATE" ? "certificate" : "private key"} (${
          text.includes("-----BEGIN") ? "truncated?" : "expected base64 of a PEM file"
        })`,
        [...path, key],
      );
    }
    return text;
  };
  const file = (o: Record<string, unknown>, key: string, path: Path) => {
    const p = str(o, key, path);
    return p ? resolvePath(options.path, p) : undefined;
  };

  const c = cluster.body;
  const insecure = c["insecure-skip-tls-verify"];
  if (insecure !== undefined && typeof insecure !== "boolean") {
    fail(`must be true or false, got ${describe(insecure)}`, [
      ...cluster.path,
      "insecure-skip-tls-verify",
    ]);
  }
  const caData = pem(c, "certificate-authority-data", cluster.path, "CERTIFICATE");
  const access: Record<string, unknown> = {
    server,
    insecureSkipTlsVerify: insecure === true,
    source: `kubeconfig ${source}, context ${contextName}`,
    caData,
    caFile: caData ? undefined : file(c, "certificate-authority", cluster.path),
    namespace: str(ctx.body, "namespace", ctx.path) || undefined,
  };
  if (user) {
    const u = user.body;
    for (const unsupported of ["exec", "auth-provider"]) {
      if (u[unsupported] !== undefined && u[unsupported] !== null) {
        fail(
          `${unsupported} credential plugins are not supported: use a token, tokenFile or client certificate`,
          [...user.path, unsupported],
        );
      }
    }
    access.certData = pem(u, "client-certificate-data", user.path, "CERTIFICATE");
    access.certFile = access.certData ? undefined : file(u, "client-certificate", user.path);
    access.keyData = pem(u, "client-key-data", user.path, "PRIVATE KEY");
    access.keyFile = access.keyData ? undefined : file(u, "client-key", user.path);
    access.token = str(u, "token", user.path) || undefined;
    access.tokenFile = access.token ? undefined : file(u, "tokenFile", user.path);
    access.username = str(u, "username", user.path) || undefined;
    access.password = str(u, "password", user.path) || undefined;
    const hasCert = access.certData !== undefined || access.certFile !== undefined;
    const hasKey = access.keyData !== undefined || access.keyFile !== undefined;
    if (hasCert !== hasKey) {
      fail(
        hasCert
          ? "a client certificate needs its key (client-key or client-key-data)"
          : "a client key needs its certificate (client-certificate or client-certificate-data)",
        user.path,
      );
    }
  }
  for (const k of Object.keys(access)) if (access[k] === undefined) delete access[k];
  return access as unknown as ClusterAccess;
}

/**
 * Reads and parses the kubeconfig at `path` (see {@link parseKubeconfig}); file references
 * resolve against its folder.
 *
 * @example
 * ```ts
 * const access = await loadKubeconfig(`${Deno.env.get("HOME")}/.kube/config`);
 * ```
 */
export async function loadKubeconfig(
  path: string,
  options: { context?: string } = {},
): Promise<ClusterAccess> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new KubeconfigError(
      `Cannot read kubeconfig ${path}: ${e instanceof Error ? e.message : e}`,
      path,
      undefined,
      { cause: e },
    );
  }
  return parseKubeconfig(text, { ...options, path });
}

/** The service account folder of a pod. */
export const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

/** Options of {@link inClusterAccess}; both exist for tests. */
export interface InClusterOptions {
  /** Environment lookups; Deno.env by default. */
  env?: (name: string) => string | undefined;
  /** The service account folder. */
  dir?: string;
}

/**
 * The API server of the cluster this pod runs in: KUBERNETES_SERVICE_HOST and
 * KUBERNETES_SERVICE_PORT, with the service account's token (re-read as it rotates), CA and
 * namespace. Throws a TypeError that says what is missing when not in a pod.
 *
 * @example
 * ```ts
 * const access = await inClusterAccess();
 * access.server; // "https://10.96.0.1:443"
 * ```
 */
export async function inClusterAccess(options: InClusterOptions = {}): Promise<ClusterAccess> {
  const env = options.env ?? ((n: string) => Deno.env.get(n));
  const dir = options.dir ?? SERVICE_ACCOUNT_DIR;
  const host = env("KUBERNETES_SERVICE_HOST");
  const port = env("KUBERNETES_SERVICE_PORT");
  if (!host || !port) {
    throw new TypeError(
      "Not running in a Kubernetes pod: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set (set kubeconfig or inventoryFile instead)",
    );
  }
  const tokenFile = `${dir}/token`;
  try {
    await Deno.stat(tokenFile);
  } catch (e) {
    throw new TypeError(`Cannot use the pod's service account: ${tokenFile} is missing`, {
      cause: e,
    });
  }
  let namespace: string | undefined;
  try {
    namespace = (await Deno.readTextFile(`${dir}/namespace`)).trim() || undefined;
  } catch {
    // Optional.
  }
  const hostPart = host.includes(":") ? `[${host}]` : host;
  return {
    server: `https://${hostPart}:${port}`,
    caFile: `${dir}/ca.crt`,
    tokenFile,
    insecureSkipTlsVerify: false,
    ...(namespace ? { namespace } : {}),
    source: "in-cluster service account",
  };
}

function parseServer(text: string, fail: (m: string) => never): string {
  // client-go assumes https when the scheme is left out.
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `https://${text}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    return fail(`${JSON.stringify(text)} is not a URL`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    fail(`${JSON.stringify(text)}: only https:// and http:// servers are supported`);
  }
  if (url.search || url.hash) fail(`${JSON.stringify(text)} must not have a query or fragment`);
  return `${url.origin}${url.pathname.replace(/\/+$/, "")}`;
}

function decodeBase64(b64: string, fail: (m: string) => never): string {
  const clean = b64.replace(/\s+/g, "");
  if (clean === "" || !/^[A-Za-z0-9+/]*={0,2}$/.test(clean) || clean.length % 4 === 1) {
    return fail("is not valid base64");
  }
  let bin: string;
  try {
    bin = atob(clean);
  } catch {
    return fail("is not valid base64");
  }
  const bytes = Uint8Array.from(bin, (ch) => ch.charCodeAt(0));
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return fail("does not decode to text (expected base64 of a PEM file)");
  }
}

function hasPem(text: string, label: "CERTIFICATE" | "PRIVATE KEY"): boolean {
  const re = label === "CERTIFICATE"
    ? /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/
    : /-----BEGIN ([A-Z]+ )?PRIVATE KEY-----[\s\S]+?-----END ([A-Z]+ )?PRIVATE KEY-----/;
  return re.test(text);
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  if (typeof v === "string") {
    return `the string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + "…" : v)}`;
  }
  return `${typeof v} ${String(v)}`;
}
