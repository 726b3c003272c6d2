/**
 * Templates known to a collecting process, keyed by (session, observation domain, template ID).
 * RFC 7011 §8
 *
 * @module
 */

import { type CompiledTemplate, compileTemplate, type ElementSelection } from "./compile.ts";
import { type Clock, systemClock, type Template } from "./types.ts";

/** Identifies a transport session: one TCP/TLS connection, or one UDP exporter address. */
export type SessionKey = string | number;

/** Lifetime of a template received over UDP unless it is refreshed. RFC 7011 §8.4 */
export const UDP_TEMPLATE_LIFETIME_MS = 1800_000;

interface Entry {
  compiled: CompiledTemplate;
  expiresAt: number;
}

/** Options of a {@link TemplateCache}. */
export interface TemplateCacheOptions {
  /** Time source for template expiry; the system clock by default. */
  clock?: Clock;
  /**
   * Names of the elements to decode; records then hold only these, and every other field is
   * checked for length and skipped without decoding its value (as a collector that stores a fixed
   * set of elements does). Every element by default.
   */
  elements?: readonly string[] | ReadonlySet<string>;
}

/**
 * The template cache. Decoders take it as a parameter; it holds no other state.
 *
 * @example
 * ```ts
 * const cache = new TemplateCache();
 * // decodeMessage(bytes, cache, { session: "10.0.0.1:4739" }) fills it as templates arrive.
 * cache.size; // 0
 * ```
 */
export class TemplateCache {
  readonly #sessions = new Map<SessionKey, Map<number, Entry>>();
  readonly #clock: Clock;
  readonly #keep: ElementSelection | undefined;

  constructor(options: TemplateCacheOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    if (typeof options.elements === "string") {
      throw new TypeError("elements: expected a list of element names, not a string");
    }
    this.#keep = options.elements ? new Set(options.elements) : undefined;
  }

  /** Adds or replaces a template; `lifetimeMs` is Infinity for TCP/TLS sessions. */
  set(
    session: SessionKey,
    domain: number,
    template: Template,
    lifetimeMs = Infinity,
  ): CompiledTemplate {
    let s = this.#sessions.get(session);
    if (!s) this.#sessions.set(session, s = new Map());
    const compiled = compileTemplate(template, this.#keep);
    s.set(domain * 65536 + template.id, { compiled, expiresAt: this.#clock() + lifetimeMs });
    return compiled;
  }

  /** The template, unless unknown, withdrawn or expired. */
  get(session: SessionKey, domain: number, id: number): CompiledTemplate | undefined {
    const s = this.#sessions.get(session);
    if (!s) return undefined;
    const k = domain * 65536 + id;
    const e = s.get(k);
    if (!e) return undefined;
    if (e.expiresAt !== Infinity && e.expiresAt <= this.#clock()) {
      s.delete(k);
      return undefined;
    }
    return e.compiled;
  }

  /** Withdraws one template; true if it was known. RFC 7011 §8.1 */
  withdraw(session: SessionKey, domain: number, id: number): boolean {
    return this.#sessions.get(session)?.delete(domain * 65536 + id) ?? false;
  }

  /**
   * Withdraws every template (`options` false) or every options template (`options` true) of a
   * domain; returns how many. RFC 7011 §8.1
   */
  withdrawAll(session: SessionKey, domain: number, options: boolean): number {
    const s = this.#sessions.get(session);
    if (!s) return 0;
    let n = 0;
    for (const [k, e] of s) {
      if (Math.floor(k / 65536) !== domain) continue;
      if ((e.compiled.template.scopeFieldCount > 0) !== options) continue;
      s.delete(k);
      n++;
    }
    return n;
  }

  /** Forgets every template of a session (the connection closed). */
  closeSession(session: SessionKey): void {
    this.#sessions.delete(session);
  }

  /** Drops expired templates; returns how many. */
  expire(): number {
    const now = this.#clock();
    let n = 0;
    for (const s of this.#sessions.values()) {
      for (const [k, e] of s) {
        if (e.expiresAt <= now) {
          s.delete(k);
          n++;
        }
      }
    }
    return n;
  }

  /** Number of templates held, expired ones included until looked up or expired. */
  get size(): number {
    let n = 0;
    for (const s of this.#sessions.values()) n += s.size;
    return n;
  }
}
