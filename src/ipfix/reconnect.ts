/**
 * The reconnect loop of an exporter: connect, use the connection until it is lost, wait with
 * exponential backoff, connect again, until closed.
 *
 * @module
 */

import type { Clock } from "./types.ts";

/** A connection that lasted this long resets the reconnect backoff. */
const STABLE_CONNECTION_MS = 10_000;

/** What a {@link Reconnector} does at each step. */
export interface ReconnectorOptions {
  /** First wait after a failure (it doubles up to `maxBackoffMs`); 1 s by default. */
  initialBackoffMs?: number;
  /** Longest wait between connects; 30 s by default. */
  maxBackoffMs?: number;
  clock: Clock;
  /**
   * Waits `ms` between connects: a timer by default (which {@link Reconnector.wake} ends early).
   * Tests pass their own to run the backoff without waiting; `wake` does not end such a wait.
   */
  sleep?: (ms: number) => Promise<void>;
  /** Whether the owner is closed: the loop ends. */
  isClosed(): boolean;
  /** Opens the connection; throws when it cannot. */
  connect(): Promise<void>;
  /** Drops a connection opened while the owner was closing. */
  disconnect(): void;
  /** Starts using the open connection (its loss is reported with {@link Reconnector.lost}). */
  onConnected(): void;
  /** A failed connect, and the wait before the next. */
  onFailure(error: unknown, retryInMs: number): void;
}

/**
 * Keeps one connection open for its owner. The owner calls {@link lost} when the connection
 * ends and {@link wake} when it closes, so that a backoff wait ends at once.
 *
 * @example
 * ```ts
 * // const r = new Reconnector({ clock: Date.now,
 * //   isClosed: () => closed, connect, disconnect, onConnected: () => void pump(),
 * //   onFailure: (e, ms) => log.warn("Cannot connect", { error: e, retryInMs: ms }) });
 * // const loop = r.run(); … closed = true; r.wake(); await loop;
 * ```
 */
export class Reconnector {
  readonly #o: ReconnectorOptions;
  #wake: (() => void) | null = null;
  #lost: (() => void) | null = null;

  constructor(options: ReconnectorOptions) {
    this.#o = options;
  }

  /** Reports that the open connection is gone. */
  lost(): void {
    this.#lost?.();
    this.#lost = null;
  }

  /** Ends a backoff wait at once (the owner is closing). */
  wake(): void {
    this.#wake?.();
  }

  /** Runs until the owner is closed. */
  async run(): Promise<void> {
    const o = this.#o;
    const initial = o.initialBackoffMs ?? 1000;
    const max = o.maxBackoffMs ?? 30_000;
    let backoff = initial;
    while (!o.isClosed()) {
      try {
        await o.connect();
        if (o.isClosed()) {
          // Closed while connecting: nobody would report this connection lost.
          o.disconnect();
          break;
        }
        const since = o.clock();
        const lost = new Promise<void>((resolve) => (this.#lost = resolve));
        o.onConnected();
        await lost;
        // A connection that did not last is no reason to hammer the collector again.
        if (o.clock() - since >= STABLE_CONNECTION_MS) backoff = initial;
      } catch (e) {
        o.onFailure(e, backoff);
      }
      if (o.isClosed()) break;
      await this.#sleep(backoff);
      backoff = Math.min(backoff * 2, max);
    }
  }

  #sleep(ms: number): Promise<void> {
    if (this.#o.sleep) return this.#o.sleep(ms);
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.#wake = null;
        resolve();
      }, ms);
      this.#wake = () => {
        clearTimeout(timer);
        this.#wake = null;
        resolve();
      };
    });
  }
}
