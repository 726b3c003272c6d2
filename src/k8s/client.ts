/**
 * A minimal API server client over fetch: TLS (custom CA, client certificate) through
 * `Deno.createHttpClient`, bearer tokens re-read from their file as they rotate, and API errors
 * turned into {@link ApiError}s with the server's message.
 *
 * @module
 */

import { createLogger, type Logger } from "../log/mod.ts";
import { ApiError } from "./errors.ts";
import type { ClusterAccess } from "./kubeconfig.ts";

/** Options of {@link KubeClient.create}. */
export interface KubeClientOptions {
  /** How long a token read from a file is used before it is read again; 60 s by default. */
  tokenRefreshMs?: number;
  /** The clock, in milliseconds (tests). */
  now?: () => number;
  logger?: Logger;
}

/** Options of one request. */
export interface RequestOptions {
  signal?: AbortSignal;
}

async function readFile(path: string, what: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    throw new TypeError(`Cannot read the ${what} ${path}: ${e instanceof Error ? e.message : e}`, {
      cause: e,
    });
  }
}

/**
 * Talks to one API server. Create it with {@link KubeClient.create}; close it to release its
 * connections.
 *
 * @example
 * ```ts
 * import { loadKubeconfig } from "./kubeconfig.ts";
 * const client = await KubeClient.create(await loadKubeconfig("/root/.kube/config"));
 * const res = await client.get("/api/v1/namespaces?limit=1");
 * (await res.json()).items.length; // 1
 * client.close();
 * ```
 */
export class KubeClient implements Disposable {
  /** The API server's base URL. */
  readonly server: string;
  /** Where the access settings came from. */
  readonly source: string;
  #access: ClusterAccess;
  #http: Deno.HttpClient;
  #log: Logger;
  #token: string | undefined;
  #tokenReadAt = -Infinity;
  #refreshMs: number;
  #now: () => number;
  #closed = false;

  private constructor(access: ClusterAccess, http: Deno.HttpClient, options: KubeClientOptions) {
    this.server = access.server;
    this.source = access.source;
    this.#access = access;
    this.#http = http;
    this.#log = options.logger ?? createLogger("k8s");
    this.#refreshMs = options.tokenRefreshMs ?? 60_000;
    this.#now = options.now ?? Date.now;
    this.#token = access.token;
    if (access.insecureSkipTlsVerify) {
      this.#log.warn(
        "insecure-skip-tls-verify is set, but Deno verifies server certificates unless started with --unsafely-ignore-certificate-errors",
        { server: access.server },
      );
    }
  }

  /** Reads the access's CA, certificate and key files (the token file is read per request). */
  static async create(access: ClusterAccess, options: KubeClientOptions = {}): Promise<KubeClient> {
    const ca = access.caData ??
      (access.caFile ? await readFile(access.caFile, "certificate authority") : undefined);
    const cert = access.certData ??
      (access.certFile ? await readFile(access.certFile, "client certificate") : undefined);
    const key = access.keyData ??
      (access.keyFile ? await readFile(access.keyFile, "client key") : undefined);
    const http = Deno.createHttpClient({
      ...(ca ? { caCerts: [ca] } : {}),
      ...(cert && key ? { cert, key } : {}),
    });
    const client = new KubeClient(access, http, options);
    if (access.tokenFile) await client.#bearer(true);
    return client;
  }

  /** The Authorization header value, reading the token file when due. */
  async #bearer(force = false): Promise<string | undefined> {
    const a = this.#access;
    if (
      a.tokenFile !== undefined && (force || this.#now() - this.#tokenReadAt >= this.#refreshMs)
    ) {
      const t = (await readFile(a.tokenFile, "token file")).trim();
      this.#tokenReadAt = this.#now();
      if (t !== this.#token && this.#token !== undefined) {
        this.#log.info("Bearer token changed", { tokenFile: a.tokenFile });
      }
      this.#token = t;
    }
    if (this.#token) return `Bearer ${this.#token}`;
    if (a.username !== undefined) return `Basic ${btoa(`${a.username}:${a.password ?? ""}`)}`;
    return undefined;
  }

  /**
   * GETs `pathAndQuery` (`/api/v1/pods?limit=500`) and returns the response when it is a
   * success. A 401 with a token file re-reads the token and retries once. Other failures throw an
   * {@link ApiError} carrying the server's Status message, or a TypeError for network errors.
   */
  async get(pathAndQuery: string, options: RequestOptions = {}): Promise<Response> {
    if (this.#closed) throw new TypeError("The Kubernetes client is closed");
    let res = await this.#fetch(pathAndQuery, await this.#bearer(), options);
    if (res.status === 401 && this.#access.tokenFile !== undefined) {
      await res.body?.cancel();
      res = await this.#fetch(pathAndQuery, await this.#bearer(true), options);
    }
    if (res.ok) return res;
    throw await apiError(res, pathAndQuery);
  }

  async #fetch(
    pathAndQuery: string,
    auth: string | undefined,
    options: RequestOptions,
  ): Promise<Response> {
    const headers: Record<string, string> = {
      accept: "application/json",
      "user-agent": "flowvis",
    };
    if (auth !== undefined) headers.authorization = auth;
    try {
      return await fetch(`${this.server}${pathAndQuery}`, {
        headers,
        client: this.#http,
        ...(options.signal ? { signal: options.signal } : {}),
      });
    } catch (e) {
      if (options.signal?.aborted) throw e;
      const msg = e instanceof Error ? e.message : String(e);
      const hint = this.#access.insecureSkipTlsVerify && this.server.startsWith("https:")
        ? " (insecure-skip-tls-verify needs deno --unsafely-ignore-certificate-errors)"
        : "";
      throw new TypeError(`Cannot reach the API server ${this.server}: ${msg}${hint}`, {
        cause: e,
      });
    }
  }

  /** Releases the connections; safe to call twice. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#http.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** The ApiError of a failed response, with the message of its Status body when there is one. */
async function apiError(res: Response, path: string): Promise<ApiError> {
  let text = "";
  try {
    text = await res.text();
  } catch {
    // The body broke off: the status says enough.
  }
  let message = text.slice(0, 300).trim();
  let reason: string | undefined;
  try {
    const status = JSON.parse(text) as { message?: unknown; reason?: unknown };
    if (typeof status.message === "string") message = status.message;
    if (typeof status.reason === "string") reason = status.reason;
  } catch {
    // Not a Status object.
  }
  const hint = res.status === 401
    ? " (check the token or client certificate)"
    : res.status === 403
    ? " (the service account needs RBAC list and watch on this resource)"
    : "";
  return new ApiError(
    `GET ${path.split("?")[0]}: ${res.status} ${res.statusText}${
      message ? `: ${message}` : ""
    }${hint}`,
    res.status,
    reason,
  );
}
