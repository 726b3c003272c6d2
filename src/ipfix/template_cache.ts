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

/**
 * Field specifiers a cache holds at most, over every template of every session: about 20 000
 * Antrea templates (51 fields). One message can define templates of 16 000 fields each, so a count
 * of templates alone would not bound the memory an exporter can make a collector spend.
 */
export const MAX_CACHED_FIELDS = 1_000_000;

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
  /** Field specifiers held at most ({@link MAX_CACHED_FIELDS}); further templates are refused. */
  maxFields?: number;
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
  readonly #maxFields: number;
  #fields = 0;
  /** Templates refused because the cache held {@link MAX_CACHED_FIELDS} field specifiers. */
  refused = 0;

  constructor(options: TemplateCacheOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    this.#maxFields = options.maxFields ?? MAX_CACHED_FIELDS;
    if (typeof options.elements === "string") {
      throw new TypeError("elements: expected a list of element names, not a string");
    }
    this.#keep = options.elements ? new Set(options.elements) : undefined;
  }

  /**
   * Adds or replaces a template; `lifetimeMs` is Infinity for TCP/TLS sessions. Returns undefined
   * (and counts it in `refused`) when the cache is full: expired templates are dropped first.
   */
  set(
    session: SessionKey,
    domain: number,
    template: Template,
    lifetimeMs = Infinity,
  ): CompiledTemplate | undefined {
    let s = this.#sessions.get(session);
    const k = domain * 65536 + template.id;
    // Room left, counting the fields of the template this one replaces.
    const room = () =>
      this.#maxFields - this.#fields + (s?.get(k)?.compiled.template.fields.length ?? 0);
    if (template.fields.length > room()) {
      this.expire();
      s = this.#sessions.get(session); // expire() drops sessions it empties
      if (template.fields.length > room()) {
        // The template it would replace goes too: its records must not decode by the old one.
        if (s) this.#remove(s, k);
        this.refused++;
        return undefined;
      }
    }
    if (!s) this.#sessions.set(session, s = new Map());
    const compiled = compileTemplate(template, this.#keep);
    this.#remove(s, k);
    s.set(k, { compiled, expiresAt: this.#clock() + lifetimeMs });
    this.#fields += template.fields.length;
    return compiled;
  }

  #remove(s: Map<number, Entry>, k: number): boolean {
    const e = s.get(k);
    if (!e) return false;
    s.delete(k);
    this.#fields -= e.compiled.template.fields.length;
    return true;
  }

  /** The template, unless unknown, withdrawn or expired. */
  get(session: SessionKey, domain: number, id: number): CompiledTemplate | undefined {
    const s = this.#sessions.get(session);
    if (!s) return undefined;
    const k = domain * 65536 + id;
    const e = s.get(k);
    if (!e) return undefined;
    if (e.expiresAt !== Infinity && e.expiresAt <= this.#clock()) {
      this.#remove(s, k);
      return undefined;
    }
    return e.compiled;
  }

  /** Withdraws one template; true if it was known. RFC 7011 §8.1 */
  withdraw(session: SessionKey, domain: number, id: number): boolean {
    const s = this.#sessions.get(session);
    return s ? this.#remove(s, domain * 65536 + id) : false;
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
      this.#remove(s, k);
      n++;
    }
    return n;
  }

  /** Forgets every template of a session (the connection closed). */
  closeSession(session: SessionKey): void {
    const s = this.#sessions.get(session);
    if (!s) return;
    for (const e of s.values()) this.#fields -= e.compiled.template.fields.length;
    this.#sessions.delete(session);
  }

  /** Drops expired templates; returns how many. */
  expire(): number {
    const now = this.#clock();
    let n = 0;
    for (const [session, s] of this.#sessions) {
      for (const [k, e] of s) {
        if (e.expiresAt <= now) {
          this.#remove(s, k);
          n++;
        }
      }
      if (s.size === 0) this.#sessions.delete(session);
    }
    return n;
  }

  /** Field specifiers of the templates held (expired ones included until dropped). */
  get fields(): number {
    return this.#fields;
  }

  /** Number of templates held, expired ones included until looked up or expired. */
  get size(): number {
    let n = 0;
    for (const s of this.#sessions.values()) n += s.size;
    return n;
  }
}
