/**
 * Serving the API app on a socket: Deno.serve over TCP, with TLS when given a certificate.
 *
 * @module
 */

import type { Hono } from "hono";
import { type Logger, silentLogger } from "../log/mod.ts";

/** Options of {@link serveApi}. */
export interface ServeApiOptions {
  /** Address to listen on, e.g. "0.0.0.0" or "::"; "127.0.0.1" by default. */
  hostname?: string;
  /** TCP port; 0 picks a free one (see {@link ApiServer.port}). */
  port: number;
  /** Aborting it stops the server: no new connections, requests in flight finish. */
  signal?: AbortSignal;
  /** PEM certificate chain and private key: serve HTTPS instead of HTTP. */
  tls?: { cert: string; key: string };
  logger?: Logger;
}

/** A running API server. */
export interface ApiServer {
  /** The address bound. */
  readonly hostname: string;
  /** The port bound (the one picked, for port 0). */
  readonly port: number;
  /** Base URL, e.g. "http://127.0.0.1:10348" (IPv6 in brackets). */
  readonly url: string;
  /** Resolves when the server has stopped. */
  readonly finished: Promise<void>;
  /** Stops the server gracefully; resolves when it has. */
  shutdown(): Promise<void>;
}

/**
 * Serves `app` with Deno.serve. Throws (synchronously) when the address cannot be bound, with a
 * message naming it.
 *
 * @example
 * ```ts
 * const ac = new AbortController();
 * const server = serveApi(createApp({ aggregator }), { port: 10348, signal: ac.signal });
 * // … later
 * ac.abort();
 * await server.finished;
 * ```
 */
export function serveApi(app: Hono, options: ServeApiOptions): ApiServer {
  const log = options.logger ?? silentLogger;
  const hostname = options.hostname ?? "127.0.0.1";
  if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65535) {
    throw new RangeError(`Invalid API port ${options.port}: expected an integer from 0 to 65535`);
  }
  const scheme = options.tls ? "https" : "http";
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({
      hostname,
      port: options.port,
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.tls ? { cert: options.tls.cert, key: options.tls.key } : {}),
      onListen: () => {},
      onError: (e) => {
        log.error("Request failed", { error: e });
        return new Response(JSON.stringify({ error: "Internal server error" }), {
          status: 500,
          headers: { "Content-Type": "application/json" },
        });
      },
    }, app.fetch);
  } catch (e) {
    const host = hostname.includes(":") ? `[${hostname}]` : hostname;
    throw new Error(
      `Cannot serve the API on ${host}:${options.port}: ${e instanceof Error ? e.message : e}`,
      { cause: e },
    );
  }
  const port = server.addr.port;
  const host = server.addr.hostname.includes(":")
    ? `[${server.addr.hostname}]`
    : server.addr.hostname;
  const url = `${scheme}://${host}:${port}`;
  log.info("API listening", { url });
  return {
    hostname: server.addr.hostname,
    port,
    url,
    finished: server.finished,
    shutdown: () => server.shutdown(),
  };
}
