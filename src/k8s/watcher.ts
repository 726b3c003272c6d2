/**
 * List+watch of the cluster's Pods, Services, Nodes, NetworkPolicies and Namespaces into a
 * {@link ClusterCache}, speaking kube-apiserver's protocol the way client-go's reflector does:
 * a paginated LIST (`limit`/`continue`) whose resourceVersion starts a WATCH
 * (`watch=1&resourceVersion=…&allowWatchBookmarks=true&timeoutSeconds=…`) of newline-delimited
 * JSON events; the resourceVersion of every event, bookmarks included, is where the next watch
 * resumes; a watch that ends is reopened (with backoff when it brought nothing), and 410 Gone
 * (HTTP status or ERROR event) means a relist.
 *
 * @module
 */

import { createLogger, type Logger } from "../log/mod.ts";
import type { ClusterCache } from "./cache.ts";
import { type ClusterAccess, inClusterAccess, loadKubeconfig } from "./kubeconfig.ts";
import { KubeClient, type KubeClientOptions } from "./client.ts";
import { ApiError } from "./errors.ts";
import { type KubeObject, RESOURCE_KINDS, type ResourceKind, RESOURCES } from "./kinds.ts";

/** Options of {@link ClusterWatcher}. */
export interface WatcherOptions {
  /** The kinds to list and watch; all of them by default (give the cache the same list). */
  kinds?: readonly ResourceKind[];
  /** Objects per LIST page; 500 by default, as client-go. */
  pageSize?: number;
  /**
   * The server ends each watch after this long, plus a random part up to as much again so that
   * agents do not reconnect in step; 300 s by default.
   */
  watchTimeoutSeconds?: number;
  /** Retry delays after failures: doubled from `initialMs` up to `maxMs` (250 ms, 30 s). */
  backoff?: { initialMs?: number; maxMs?: number };
  /** Closes the watcher when it aborts (the process's shutdown signal). */
  signal?: AbortSignal;
  /** Close the client with the watcher ({@link startClusterWatch} sets it). */
  closeClient?: boolean;
  logger?: Logger;
}

/** What the watcher has done for one kind (for metrics and tests). */
export interface KindStatus {
  /** Where the next watch resumes. */
  resourceVersion: string | undefined;
  synced: boolean;
  /** Completed LISTs, the initial one included. */
  lists: number;
  /** WATCH requests opened. */
  watches: number;
  /** Events applied (ADDED, MODIFIED, DELETED). */
  events: number;
  bookmarks: number;
  /** 410 Gone answers (HTTP or ERROR event), each followed by a relist. */
  gone: number;
  /** Failed requests and broken streams. */
  errors: number;
  lastError: string | undefined;
}

/** A watch stream line longer than this is refused (the largest object etcd stores is 1.5 MiB). */
const MAX_LINE = 16 * 1024 * 1024;

/** A watch that brought events or lasted this long ended normally: reopen at once. */
const PRODUCTIVE_MS = 5_000;

interface WatchEvent {
  type?: unknown;
  object?: {
    metadata?: { resourceVersion?: unknown };
    code?: unknown;
    reason?: unknown;
    message?: unknown;
  };
}

/**
 * Keeps a {@link ClusterCache} in step with the API server until closed.
 *
 * @example
 * ```ts
 * import { ClusterCache } from "./cache.ts";
 * import { KubeClient } from "./client.ts";
 * import { loadKubeconfig } from "./kubeconfig.ts";
 * const cache = new ClusterCache();
 * const client = await KubeClient.create(await loadKubeconfig("/root/.kube/config"));
 * const watcher = new ClusterWatcher(client, cache).start();
 * await cache.whenSynced();
 * cache.podByIP("10.244.1.5");
 * await watcher.close();
 * client.close();
 * ```
 */
export class ClusterWatcher implements AsyncDisposable {
  #client: KubeClient;
  #cache: ClusterCache;
  #kinds: readonly ResourceKind[];
  #pageSize: number;
  #timeout: number;
  #initialMs: number;
  #maxMs: number;
  #log: Logger;
  #abort = new AbortController();
  #loops: Promise<void>[] = [];
  #status = new Map<ResourceKind, KindStatus>();
  #closeClient: boolean;
  #external: AbortSignal | undefined;
  #onExternalAbort = () => void this.close();

  constructor(client: KubeClient, cache: ClusterCache, options: WatcherOptions = {}) {
    this.#client = client;
    this.#cache = cache;
    this.#kinds = options.kinds ?? RESOURCE_KINDS;
    this.#pageSize = options.pageSize ?? 500;
    this.#timeout = options.watchTimeoutSeconds ?? 300;
    this.#initialMs = options.backoff?.initialMs ?? 250;
    this.#maxMs = options.backoff?.maxMs ?? 30_000;
    this.#log = options.logger ?? createLogger("k8s");
    this.#closeClient = options.closeClient ?? false;
    this.#external = options.signal;
    if (!Number.isInteger(this.#pageSize) || this.#pageSize < 1) {
      throw new RangeError(`Invalid pageSize ${this.#pageSize}: expected a positive integer`);
    }
    for (const kind of this.#kinds) {
      this.#status.set(kind, {
        resourceVersion: undefined,
        synced: false,
        lists: 0,
        watches: 0,
        events: 0,
        bookmarks: 0,
        gone: 0,
        errors: 0,
        lastError: undefined,
      });
    }
  }

  /** Starts listing and watching every kind; returns this. */
  start(): this {
    if (this.#loops.length > 0 || this.#abort.signal.aborted) return this;
    if (this.#external?.aborted) {
      void this.close();
      return this;
    }
    this.#external?.addEventListener("abort", this.#onExternalAbort, { once: true });
    this.#loops = this.#kinds.map((kind) => this.#run(kind));
    return this;
  }

  /** What the watcher has done for `kind`, or undefined when it does not watch it. */
  status(kind: ResourceKind): Readonly<KindStatus> | undefined {
    const s = this.#status.get(kind);
    return s ? { ...s } : undefined;
  }

  /**
   * Stops every request and waits for the loops to end; closes the client when `closeClient`.
   * Safe to call twice.
   */
  async close(): Promise<void> {
    this.#external?.removeEventListener("abort", this.#onExternalAbort);
    this.#abort.abort(new DOMException("The cluster watcher is closed", "AbortError"));
    await Promise.allSettled(this.#loops);
    if (this.#closeClient) this.#client.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #run(kind: ResourceKind): Promise<void> {
    const signal = this.#abort.signal;
    const st = this.#status.get(kind)!;
    let needList = true;
    let delay = this.#initialMs;
    let goneInARow = 0;
    while (!signal.aborted) {
      try {
        if (needList) {
          st.resourceVersion = await this.#list(kind, st);
          needList = false;
        }
        const productive = await this.#watch(kind, st);
        goneInARow = 0;
        if (productive) {
          delay = this.#initialMs;
          continue;
        }
        await this.#sleep(delay);
        delay = Math.min(delay * 2, this.#maxMs);
      } catch (e) {
        if (signal.aborted) break;
        if (e instanceof ApiError && e.gone) {
          st.gone++;
          needList = true;
          this.#log.info("Resource version gone, relisting", {
            kind,
            resourceVersion: st.resourceVersion,
            reason: e.reason,
          });
          // One relist at once; a server that keeps answering Gone gets the backoff.
          if (goneInARow++ === 0) continue;
        } else {
          st.errors++;
          st.lastError = e instanceof Error ? e.message : String(e);
          this.#log.warn(needList ? "List failed" : "Watch failed", {
            kind,
            error: st.lastError,
            retryInMs: delay,
          });
        }
        await this.#sleep(delay);
        delay = Math.min(delay * 2, this.#maxMs);
      }
    }
  }

  /** Lists every page of `kind` into the cache; returns the list's resourceVersion. */
  async #list(kind: ResourceKind, st: KindStatus): Promise<string> {
    const r = RESOURCES[kind];
    const items: KubeObject[] = [];
    let cont: string | undefined;
    let rv: string | undefined;
    do {
      const q = new URLSearchParams({ limit: String(this.#pageSize) });
      if (cont !== undefined) q.set("continue", cont);
      const res = await this.#client.get(`${r.path}?${q}`, { signal: this.#abort.signal });
      let body: { items?: unknown; metadata?: { resourceVersion?: unknown; continue?: unknown } };
      try {
        body = await res.json();
      } catch (e) {
        throw new SyntaxError(`LIST ${r.path} returned invalid JSON`, { cause: e });
      }
      if (body === null || typeof body !== "object") {
        throw new SyntaxError(`LIST ${r.path} returned no ${r.listKind}`);
      }
      const page = body.items ?? [];
      if (!Array.isArray(page)) throw new SyntaxError(`LIST ${r.path}: items is not a list`);
      items.push(...(page as KubeObject[]));
      const meta = body.metadata ?? {};
      if (typeof meta.resourceVersion === "string") rv = meta.resourceVersion;
      cont = typeof meta.continue === "string" && meta.continue !== "" ? meta.continue : undefined;
    } while (cont !== undefined);
    if (rv === undefined) throw new SyntaxError(`LIST ${r.path} returned no resourceVersion`);
    this.#cache.replace(kind, items);
    st.lists++;
    st.synced = true;
    this.#cache.markSynced(kind);
    this.#log.info("Listed", { kind, count: items.length, resourceVersion: rv });
    return rv;
  }

  /**
   * Watches `kind` from the current resourceVersion until the stream ends; returns whether the
   * watch was productive (brought events or lasted a while). Throws ApiError 410 for Gone.
   */
  async #watch(kind: ResourceKind, st: KindStatus): Promise<boolean> {
    const r = RESOURCES[kind];
    const timeout = this.#timeout + Math.floor(Math.random() * this.#timeout);
    const q = new URLSearchParams({
      watch: "1",
      resourceVersion: st.resourceVersion ?? "",
      allowWatchBookmarks: "true",
      timeoutSeconds: String(timeout),
    });
    // A server that goes silent past its own timeout is given up on.
    const idle = new AbortController();
    const timer = setTimeout(
      () => idle.abort(new DOMException("Watch went silent", "TimeoutError")),
      (timeout + 30) * 1000,
    );
    const signal = AbortSignal.any([this.#abort.signal, idle.signal]);
    const started = Date.now();
    let events = 0;
    st.watches++;
    try {
      const res = await this.#client.get(`${r.path}?${q}`, { signal });
      if (res.body === null) return false;
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = "";
      try {
        while (true) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          let nl: number;
          while ((nl = buf.indexOf("\n")) >= 0) {
            const line = buf.slice(0, nl);
            buf = buf.slice(nl + 1);
            if (line.trim() !== "") events += this.#event(kind, st, line);
          }
          if (buf.length > MAX_LINE) {
            throw new RangeError(`Watch of ${r.path} sent a line over ${MAX_LINE} bytes`);
          }
        }
        if (buf.trim() !== "") events += this.#event(kind, st, buf);
      } finally {
        await reader.cancel().catch(() => {});
      }
    } catch (e) {
      if (!idle.signal.aborted || this.#abort.signal.aborted) throw e;
      this.#log.warn("Watch went silent; reopening", { kind });
    } finally {
      clearTimeout(timer);
    }
    return events > 0 || Date.now() - started >= PRODUCTIVE_MS;
  }

  /** Applies one event line; returns 1 for an object event, 0 for a bookmark. */
  #event(kind: ResourceKind, st: KindStatus, line: string): number {
    let ev: WatchEvent;
    try {
      ev = JSON.parse(line);
    } catch (e) {
      throw new SyntaxError(`Watch of ${RESOURCES[kind].path} sent invalid JSON`, { cause: e });
    }
    const obj = ev?.object;
    const rv = obj?.metadata?.resourceVersion;
    switch (ev?.type) {
      case "ADDED":
      case "MODIFIED":
      case "DELETED":
        if (obj === null || typeof obj !== "object") {
          throw new SyntaxError(`Watch of ${RESOURCES[kind].path} sent an event without object`);
        }
        this.#cache.apply(kind, ev.type, obj as KubeObject);
        if (typeof rv === "string" && rv !== "") st.resourceVersion = rv;
        st.events++;
        return 1;
      case "BOOKMARK":
        if (typeof rv === "string" && rv !== "") st.resourceVersion = rv;
        st.bookmarks++;
        return 0;
      case "ERROR": {
        const code = typeof obj?.code === "number" ? obj.code : 500;
        const reason = typeof obj?.reason === "string" ? obj.reason : undefined;
        const message = typeof obj?.message === "string" ? obj.message : "watch error";
        throw new ApiError(`Watch of ${RESOURCES[kind].path}: ${message}`, code, reason);
      }
      default:
        this.#log.warn("Ignored a watch event of unknown type", { kind, type: ev?.type });
        return 0;
    }
  }

  /** Waits `ms` (0.5–1× for jitter), or less when the watcher closes. */
  #sleep(ms: number): Promise<void> {
    const signal = this.#abort.signal;
    if (signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms * (0.5 + Math.random() / 2));
      signal.addEventListener("abort", done, { once: true });
    });
  }
}

/** Options of {@link startClusterWatch}. */
export interface ClusterWatchOptions extends WatcherOptions, KubeClientOptions {
  /** A kubeconfig file; without it, the pod's service account (in-cluster). */
  kubeconfig?: string;
  /** The kubeconfig context instead of current-context. */
  context?: string;
  /** Ready-made access settings, instead of kubeconfig or in-cluster. */
  access?: ClusterAccess;
}

/**
 * Connects to the cluster (explicit access, else the kubeconfig, else in-cluster) and starts a
 * watcher that owns its client. Await `cache.whenSynced()` for the initial lists.
 *
 * @example
 * ```ts
 * import { ClusterCache } from "./cache.ts";
 * const cache = new ClusterCache();
 * await using _watch = await startClusterWatch(cache, { kubeconfig: "/root/.kube/config" });
 * await cache.whenSynced(AbortSignal.timeout(30_000));
 * ```
 */
export async function startClusterWatch(
  cache: ClusterCache,
  options: ClusterWatchOptions = {},
): Promise<ClusterWatcher> {
  const access = options.access ??
    (options.kubeconfig !== undefined
      ? await loadKubeconfig(options.kubeconfig, {
        ...(options.context !== undefined ? { context: options.context } : {}),
      })
      : await inClusterAccess());
  const client = await KubeClient.create(access, options);
  (options.logger ?? createLogger("k8s")).info("Watching the cluster", {
    server: access.server,
    source: access.source,
  });
  return new ClusterWatcher(client, cache, { ...options, closeClient: true }).start();
}
