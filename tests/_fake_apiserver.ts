/**
 * A small local kube-apiserver for tests. It speaks the list/watch protocol of the real one for
 * Pods, Services, Nodes, NetworkPolicies and Namespaces, on 127.0.0.1 only:
 *
 * - LIST with `limit`/`continue` pagination over a snapshot, and the list's resourceVersion;
 * - WATCH (`watch=1`) from a resourceVersion: the events after it are replayed from history, then
 *   live ones follow as newline-delimited JSON; BOOKMARKs when asked and allowed; the stream
 *   ends after `timeoutSeconds` or when the test closes it;
 * - 410 Gone for a resourceVersion older than the last compaction (as an HTTP status or as an
 *   ERROR event with a Status object, as the test chooses) and for expired continue tokens;
 * - bearer token check (401), injected failures, and TLS with client certificates (through
 *   node:https, since Deno.serve cannot ask for client certificates).
 *
 * @module
 */

import https from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import {
  type KubeObject,
  objectKey,
  RESOURCE_KINDS,
  type ResourceKind,
  RESOURCES,
} from "../src/k8s/kinds.ts";

/** Options of {@link FakeApiServer.start}. */
export interface FakeApiServerOptions {
  /** The bearer token every request must carry; no check when unset. */
  token?: string;
  /** Serve HTTPS with this server certificate; `ca` + `requireClientCert` for mTLS. */
  tls?: { cert: string; key: string; ca?: string; requireClientCert?: boolean };
  /** How 410 Gone is told to a watch from a compacted resourceVersion; "event" by default. */
  goneAs?: "event" | "http";
}

/** A request the server received. */
export interface RecordedRequest {
  readonly kind: ResourceKind | undefined;
  readonly path: string;
  readonly params: URLSearchParams;
  readonly watch: boolean;
  readonly authorization: string | null;
  /** CN of the client certificate (TLS mode). */
  readonly clientCert: string | undefined;
  readonly status: number;
}

interface HistoryEvent {
  rv: number;
  kind: ResourceKind;
  type: "ADDED" | "MODIFIED" | "DELETED";
  object: KubeObject;
}

interface OpenWatch {
  kind: ResourceKind;
  bookmarks: boolean;
  send(line: unknown): void;
  end(): void;
}

interface Snapshot {
  rv: number;
  items: KubeObject[];
}

const encoder = new TextEncoder();

function statusObject(code: number, reason: string, message: string) {
  return {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message,
    reason,
    code,
  };
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json" },
  });
}

function clone<T>(o: T): T {
  return structuredClone(o);
}

/** A fake kube-apiserver; `await using` it, or call {@link close}. */
export class FakeApiServer implements AsyncDisposable {
  /** Base URL (`http://127.0.0.1:PORT` or `https://127.0.0.1:PORT`). */
  url = "";
  /** Every request, in order. */
  readonly requests: RecordedRequest[] = [];
  /** The required token (change it to simulate rotation). */
  token: string | undefined;
  /** How Gone is told to watches; may be changed between tests. */
  goneAs: "event" | "http";
  #rv = 100;
  #compactedRV = 0;
  #objects = new Map<ResourceKind, Map<string, KubeObject>>(
    RESOURCE_KINDS.map((k) => [k, new Map()]),
  );
  #history: HistoryEvent[] = [];
  #watches = new Set<OpenWatch>();
  #snapshots = new Map<string, Snapshot>();
  #nextSnapshot = 1;
  #failures: {
    kind: ResourceKind | undefined;
    watch: boolean | undefined;
    status: number;
    when: ((params: URLSearchParams) => boolean) | undefined;
  }[] = [];
  #requestWaiters: (() => void)[] = [];
  #server: Deno.HttpServer | undefined;
  #node: https.Server | undefined;
  #nodeSockets = new Set<{ destroy(): void }>();
  #closed = false;

  private constructor(options: FakeApiServerOptions) {
    this.token = options.token;
    this.goneAs = options.goneAs ?? "event";
  }

  /** Starts a server on 127.0.0.1 and a free port. */
  static async start(options: FakeApiServerOptions = {}): Promise<FakeApiServer> {
    const s = new FakeApiServer(options);
    if (options.tls) await s.#startTls(options.tls);
    else s.#startPlain();
    return s;
  }

  #startPlain(): void {
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      (req) => this.#handle(req, undefined),
    );
    this.#server = server;
    this.url = `http://127.0.0.1:${server.addr.port}`;
  }

  async #startTls(tls: NonNullable<FakeApiServerOptions["tls"]>): Promise<void> {
    const server = https.createServer({
      cert: tls.cert,
      key: tls.key,
      ...(tls.ca ? { ca: tls.ca } : {}),
      requestCert: tls.requireClientCert === true,
      rejectUnauthorized: tls.requireClientCert === true,
    }, (req, res) => void this.#bridge(req, res));
    server.on("connection", (sock: { destroy(): void; on(ev: string, f: () => void): void }) => {
      this.#nodeSockets.add(sock);
      sock.on("close", () => this.#nodeSockets.delete(sock));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
    this.#node = server;
    this.url = `https://127.0.0.1:${(server.address() as { port: number }).port}`;
  }

  /** Serves a node:https request with the web-standard handler. */
  async #bridge(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // deno-lint-ignore no-explicit-any
    const peer = (req.socket as any).getPeerCertificate?.();
    const cn = typeof peer?.subject?.CN === "string" ? peer.subject.CN : undefined;
    const ac = new AbortController();
    res.on("close", () => ac.abort());
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers)) {
      if (typeof v === "string") headers.set(k, v);
    }
    const request = new Request(`${this.url}${req.url}`, { headers, signal: ac.signal });
    const response = await this.#handle(request, cn);
    res.writeHead(response.status, Object.fromEntries(response.headers));
    if (response.body === null) {
      res.end();
      return;
    }
    const reader = response.body.getReader();
    ac.signal.addEventListener("abort", () => reader.cancel().catch(() => {}), { once: true });
    try {
      while (true) {
        const { value, done } = await reader.read();
        if (done) break;
        res.write(value);
      }
    } catch {
      // The client went away.
    }
    res.end();
  }

  // --- state --------------------------------------------------------------------------------

  /** The current resourceVersion (of the last change). */
  get resourceVersion(): string {
    return String(this.#rv);
  }

  /**
   * Adds (or replaces) an object; open watches get ADDED (or MODIFIED), unless `silent`: then the
   * change is kept out of open watches and history, as if a client missed it (only a relist
   * finds it). Returns its stored copy.
   */
  put<T extends KubeObject>(kind: ResourceKind, object: T, options: { silent?: boolean } = {}): T {
    const key = objectKey(kind, object);
    if (key === undefined) throw new TypeError("The object has no name");
    const store = this.#objects.get(kind)!;
    const type = store.has(key) ? "MODIFIED" : "ADDED";
    const rv = ++this.#rv;
    const stored = clone(object);
    stored.metadata = { ...stored.metadata, resourceVersion: String(rv) };
    if (RESOURCES[kind].namespaced) stored.metadata.namespace ??= "default";
    store.set(key, stored);
    if (!options.silent) this.#record({ rv, kind, type, object: stored });
    return clone(stored) as T;
  }

  /** Deletes an object; open watches get DELETED (unless `silent`, see {@link put}). */
  delete(
    kind: ResourceKind,
    name: string,
    namespace = "default",
    options: { silent?: boolean } = {},
  ): boolean {
    const key = RESOURCES[kind].namespaced ? `${namespace}/${name}` : name;
    const store = this.#objects.get(kind)!;
    const old = store.get(key);
    if (old === undefined) return false;
    store.delete(key);
    const rv = ++this.#rv;
    const object = clone(old);
    object.metadata = { ...object.metadata, resourceVersion: String(rv) };
    if (!options.silent) this.#record({ rv, kind, type: "DELETED", object });
    return true;
  }

  /**
   * Moves the resourceVersion on without any change of `kind` (as changes of other objects do
   * in a real cluster); returns the new one. Open watches see nothing until a bookmark.
   */
  advance(by = 1): string {
    this.#rv += by;
    return this.resourceVersion;
  }

  /** Sends a BOOKMARK with the current resourceVersion to open watches (of `kind`, or all). */
  bookmark(kind?: ResourceKind): string {
    for (const w of this.#watches) {
      if ((kind === undefined || w.kind === kind) && w.bookmarks) {
        w.send({
          type: "BOOKMARK",
          object: {
            kind: RESOURCES[w.kind].kind,
            apiVersion: RESOURCES[w.kind].apiVersion,
            metadata: { resourceVersion: this.resourceVersion },
          },
        });
      }
    }
    return this.resourceVersion;
  }

  /** Forgets history up to now: a watch from an older resourceVersion gets 410 Gone. */
  compact(): void {
    this.#compactedRV = this.#rv;
    this.#history = [];
  }

  /** Makes outstanding continue tokens expire (410, reason Expired). */
  expireContinueTokens(): void {
    this.#snapshots.clear();
  }

  /** Sends an ERROR event with a Status of `code` to open watches (of `kind`, or all). */
  sendError(
    code: number,
    kind?: ResourceKind,
    reason = code === 410 ? "Expired" : "InternalError",
  ) {
    const message = code === 410 ? "too old resource version" : "injected error";
    for (const w of this.#watches) {
      if (kind === undefined || w.kind === kind) {
        w.send({ type: "ERROR", object: statusObject(code, reason, message) });
      }
    }
  }

  /** Writes a raw line (garbage, for tests) to open watches of `kind`. */
  sendRaw(kind: ResourceKind, text: string): void {
    for (const w of this.#watches) if (w.kind === kind) w.send(text);
  }

  /** Ends open watch streams (of `kind`, or all), as the server does at timeoutSeconds. */
  closeWatches(kind?: ResourceKind): void {
    for (const w of [...this.#watches]) if (kind === undefined || w.kind === kind) w.end();
  }

  /** The number of open watch streams (of `kind`, or all). */
  openWatches(kind?: ResourceKind): number {
    return [...this.#watches].filter((w) => kind === undefined || w.kind === kind).length;
  }

  /**
   * Answers the next request matching `kind`, list or watch, and `when` (on its query) with
   * `status`.
   */
  failNext(
    status: number,
    kind?: ResourceKind,
    watch?: boolean,
    when?: (params: URLSearchParams) => boolean,
  ): void {
    this.#failures.push({ kind, watch, status, when });
  }

  /** Resolves with the first request (from index `from`) that satisfies `pred`. */
  async waitForRequest(
    pred: (r: RecordedRequest) => boolean,
    from = 0,
    timeoutMs = 5_000,
  ): Promise<RecordedRequest> {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const hit = this.requests.slice(from).find(pred);
      if (hit) return hit;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(
          `No matching request within ${timeoutMs} ms; got:\n${
            this.requests.slice(from).map((r) => `${r.path}?${r.params}`).join("\n")
          }`,
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, Math.min(left, 100));
        function done() {
          clearTimeout(timer);
          resolve();
        }
        this.#requestWaiters.push(done);
      });
    }
  }

  /** Ends every watch and stops the server; safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.closeWatches();
    if (this.#server) await this.#server.shutdown();
    if (this.#node) {
      const node = this.#node;
      const closed = new Promise<void>((resolve) => node.close(() => resolve()));
      for (const s of this.#nodeSockets) s.destroy();
      await closed;
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #record(ev: HistoryEvent): void {
    this.#history.push(ev);
    for (const w of this.#watches) {
      if (w.kind === ev.kind) w.send({ type: ev.type, object: ev.object });
    }
  }

  // --- HTTP ---------------------------------------------------------------------------------

  #handle(req: Request, clientCert: string | undefined): Response {
    const url = new URL(req.url);
    const kind = RESOURCE_KINDS.find((k) => RESOURCES[k].path === url.pathname);
    const watch = url.searchParams.get("watch") === "1" ||
      url.searchParams.get("watch") === "true";
    const authorization = req.headers.get("authorization");
    const respond = (res: Response) => {
      this.requests.push({
        kind,
        path: url.pathname,
        params: url.searchParams,
        watch,
        authorization,
        clientCert,
        status: res.status,
      });
      const waiters = this.#requestWaiters;
      this.#requestWaiters = [];
      for (const w of waiters) w();
      return res;
    };
    if (this.token !== undefined && authorization !== `Bearer ${this.token}`) {
      return respond(json(401, statusObject(401, "Unauthorized", "Unauthorized")));
    }
    if (req.method !== "GET") {
      return respond(json(405, statusObject(405, "MethodNotAllowed", "only GET is served")));
    }
    if (kind === undefined) {
      return respond(
        json(404, statusObject(404, "NotFound", `the server could not find ${url.pathname}`)),
      );
    }
    const fi = this.#failures.findIndex((f) =>
      (f.kind === undefined || f.kind === kind) && (f.watch === undefined || f.watch === watch) &&
      (f.when === undefined || f.when(url.searchParams))
    );
    if (fi >= 0) {
      const [f] = this.#failures.splice(fi, 1);
      return respond(
        json(
          f!.status,
          statusObject(f!.status, f!.status === 410 ? "Expired" : "Injected", "injected failure"),
        ),
      );
    }
    return respond(
      watch ? this.#watch(kind, url.searchParams) : this.#list(kind, url.searchParams),
    );
  }

  #list(kind: ResourceKind, params: URLSearchParams): Response {
    const limit = Number(params.get("limit") ?? "0");
    const cont = params.get("continue");
    let snap: Snapshot;
    let offset = 0;
    if (cont) {
      let id: string;
      try {
        ({ id, offset } = JSON.parse(atob(cont)) as { id: string; offset: number });
      } catch {
        return json(400, statusObject(400, "BadRequest", "invalid continue token"));
      }
      const s = this.#snapshots.get(id);
      if (s === undefined) {
        return json(
          410,
          statusObject(410, "Expired", "The provided continue parameter is too old"),
        );
      }
      snap = s;
    } else {
      const items = [...this.#objects.get(kind)!.entries()]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([, o]) => clone(o));
      snap = { rv: this.#rv, items };
    }
    const end = limit > 0 ? Math.min(offset + limit, snap.items.length) : snap.items.length;
    const page = snap.items.slice(offset, end);
    const metadata: Record<string, string> = { resourceVersion: String(snap.rv) };
    if (end < snap.items.length) {
      const id = String(this.#nextSnapshot++);
      this.#snapshots.set(id, snap);
      metadata.continue = btoa(JSON.stringify({ id, offset: end }));
    }
    return json(200, {
      kind: RESOURCES[kind].listKind,
      apiVersion: RESOURCES[kind].apiVersion,
      metadata,
      // The real server leaves kind and apiVersion out of list items.
      items: page.map((o) => {
        const { kind: _k, apiVersion: _a, ...rest } = o as KubeObject & Record<string, unknown>;
        return rest;
      }),
    });
  }

  #watch(kind: ResourceKind, params: URLSearchParams): Response {
    const rvText = params.get("resourceVersion") ?? "";
    const from = rvText === "" || rvText === "0" ? undefined : Number(rvText);
    if (from !== undefined && (!Number.isInteger(from) || from < this.#compactedRV)) {
      if (this.goneAs === "http") {
        return json(
          410,
          statusObject(410, "Gone", `too old resource version: ${rvText} (${this.#compactedRV})`),
        );
      }
    }
    const timeout = Number(params.get("timeoutSeconds") ?? "0");
    const bookmarks = params.get("allowWatchBookmarks") === "true";
    let timer: ReturnType<typeof setTimeout> | undefined;
    let watch: OpenWatch | undefined;
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        let open = true;
        const end = () => {
          if (!open) return;
          open = false;
          clearTimeout(timer);
          if (watch) this.#watches.delete(watch);
          try {
            controller.close();
          } catch {
            // Already cancelled.
          }
        };
        const w: OpenWatch = {
          kind,
          bookmarks,
          send: (line) => {
            if (!open) return;
            const text = typeof line === "string" ? line : JSON.stringify(line);
            controller.enqueue(encoder.encode(text + "\n"));
          },
          end,
        };
        watch = w;
        if (from !== undefined && from < this.#compactedRV) {
          // The watch cache's answer: 200, then an ERROR event with a 410 Status.
          w.send({
            type: "ERROR",
            object: statusObject(
              410,
              "Expired",
              `too old resource version: ${from} (${this.#compactedRV})`,
            ),
          });
          end();
          return;
        }
        this.#watches.add(w);
        if (from === undefined) {
          for (const o of this.#objects.get(kind)!.values()) w.send({ type: "ADDED", object: o });
        } else {
          for (const ev of this.#history) {
            if (ev.kind === kind && ev.rv > from) w.send({ type: ev.type, object: ev.object });
          }
        }
        if (timeout > 0) timer = setTimeout(end, timeout * 1000);
      },
      cancel: () => watch?.end(),
    });
    return new Response(body, {
      status: 200,
      headers: { "content-type": "application/json" },
    });
  }
}
