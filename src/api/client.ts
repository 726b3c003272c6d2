/**
 * A client of the API server (what `flowctl` uses): fetch against a base URL, typed answers,
 * and errors that say which URL failed and how.
 *
 * @module
 */

import type { FlowRecordFilter, RecordMetrics } from "../aggregator/types.ts";
import type { FlowQuery, FlowRow, StoredFlowRow } from "../store/types.ts";
import { formatFlowQuery } from "./flow_query.ts";
import { formatFlowRecordQuery } from "./flow_record_query.ts";
import type { ErrorResponse, HealthzResponse } from "./types.ts";

/** The API server's default address (aggregator API port 10348 on this host). */
export const DEFAULT_API_URL = "http://127.0.0.1:10348";

/** The server could not be reached or did not answer in time; `cause` tells why. */
export class ApiUnreachableError extends Error {
  readonly url: string;

  constructor(url: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ApiUnreachableError";
    this.url = url;
  }
}

/** The server answered with an error status, or with a body that is not what was asked for. */
export class ApiResponseError extends Error {
  readonly url: string;
  /** HTTP status of the answer. */
  readonly status: number;
  /** The server's error message (`error` of a JSON error body, else the start of the body). */
  readonly serverMessage: string;

  constructor(url: string, status: number, serverMessage: string, message: string) {
    super(message);
    this.name = "ApiResponseError";
    this.url = url;
    this.status = status;
    this.serverMessage = serverMessage;
  }
}

/** Options of {@link ApiClient}. */
export interface ApiClientOptions {
  /** Give up on a request after this long; 30 s by default. */
  timeoutMs?: number;
  /** A Deno HTTP client, e.g. with the CA that signed the server's certificate. */
  httpClient?: Deno.HttpClient;
}

/**
 * Parses the server's base URL: http or https, no credentials, query or fragment; a path is kept
 * as a prefix.
 *
 * @throws {TypeError} when `text` is not such a URL
 *
 * @example
 * ```ts
 * parseApiUrl("https://flow-aggregator.flow-aggregator.svc:10348").href;
 * // "https://flow-aggregator.flow-aggregator.svc:10348/"
 * ```
 */
export function parseApiUrl(text: string): URL {
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== "http:" && url.protocol !== "https:")) {
    throw new TypeError(
      `Invalid server URL ${JSON.stringify(text)}: expected http://HOST:PORT or https://HOST:PORT`,
    );
  }
  if (url.username || url.password || url.search || url.hash) {
    throw new TypeError(
      `Invalid server URL ${JSON.stringify(text)}: no credentials, query or fragment expected`,
    );
  }
  if (!url.pathname.endsWith("/")) url.pathname += "/";
  return url;
}

/** At most `n` characters of `text`, on one line. */
function excerpt(text: string, n = 300): string {
  const line = text.replace(/\s+/g, " ").trim();
  return line.length > n ? `${line.slice(0, n)}…` : line;
}

/** Why a fetch failed: the deepest cause's message, without the URL it repeats. */
function reason(e: unknown): string {
  let inner = e;
  while (inner instanceof Error && inner.cause instanceof Error) inner = inner.cause;
  const text = inner instanceof Error ? inner.message : String(inner);
  return text.replace(/^error sending request for url \([^)]*\): /, "");
}

/**
 * Reads the aggregator's API.
 *
 * @example
 * ```ts
 * const api = new ApiClient("http://127.0.0.1:10348");
 * const rows = await api.flowRecords({ proto: 6, dstport: 443 });
 * const { numFlows } = await api.recordMetrics();
 * ```
 */
export class ApiClient {
  readonly baseUrl: URL;
  readonly #timeoutMs: number;
  readonly #httpClient: Deno.HttpClient | undefined;

  constructor(baseUrl: string | URL, options: ApiClientOptions = {}) {
    this.baseUrl = parseApiUrl(String(baseUrl));
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#httpClient = options.httpClient;
  }

  /** The cached flow records that match `filter`. */
  async flowRecords(filter: FlowRecordFilter = {}): Promise<FlowRow[]> {
    const query = formatFlowRecordQuery(filter);
    const { url, body } = await this.#get(`flowrecords${query ? `?${query}` : ""}`);
    const items = (body as { items?: unknown } | null)?.items;
    if (!Array.isArray(items)) {
      throw new ApiResponseError(url, 200, "", `Unexpected answer from ${url}: no items array`);
    }
    return items as FlowRow[];
  }

  /** The stored flows that match `q`, newest first. */
  async flows(q: FlowQuery = {}): Promise<StoredFlowRow[]> {
    const query = formatFlowQuery(q);
    const { url, body } = await this.#get(`flows${query ? `?${query}` : ""}`);
    const items = (body as { items?: unknown } | null)?.items;
    if (!Array.isArray(items)) {
      throw new ApiResponseError(url, 200, "", `Unexpected answer from ${url}: no items array`);
    }
    return items as StoredFlowRow[];
  }

  /** The aggregator's record counters. */
  async recordMetrics(): Promise<RecordMetrics> {
    const { url, body } = await this.#get("recordmetrics");
    if (typeof body !== "object" || body === null || Array.isArray(body)) {
      throw new ApiResponseError(url, 200, "", `Unexpected answer from ${url}: not an object`);
    }
    return body as RecordMetrics;
  }

  /** The health checks; a 503 answer is a result here, not an error. */
  async health(): Promise<HealthzResponse> {
    const { body } = await this.#get("healthz", [503]);
    return body as HealthzResponse;
  }

  async #get(path: string, alsoOk: number[] = []): Promise<{ url: string; body: unknown }> {
    const url = new URL(path, this.baseUrl).href;
    let res: Response;
    let text: string;
    try {
      res = await fetch(url, {
        headers: { Accept: "application/json" },
        signal: AbortSignal.timeout(this.#timeoutMs),
        ...(this.#httpClient ? { client: this.#httpClient } : {}),
      });
      text = await res.text();
    } catch (e) {
      const why = e instanceof DOMException && e.name === "TimeoutError"
        ? `no answer within ${this.#timeoutMs / 1000} s`
        : reason(e);
      throw new ApiUnreachableError(url, `Cannot reach the flow aggregator API at ${url}: ${why}`, {
        cause: e,
      });
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    if (!res.ok && !alsoOk.includes(res.status)) {
      const error = (body as ErrorResponse | undefined)?.error;
      const serverMessage = typeof error === "string" ? error : excerpt(text);
      throw new ApiResponseError(
        url,
        res.status,
        serverMessage,
        `${url} answered ${res.status} ${res.statusText}${
          serverMessage ? `: ${serverMessage}` : ""
        }`,
      );
    }
    if (body === undefined) {
      throw new ApiResponseError(
        url,
        res.status,
        excerpt(text),
        `Unexpected answer from ${url}: not JSON: ${excerpt(text, 100)}`,
      );
    }
    return { url, body };
  }
}
