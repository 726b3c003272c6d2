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
 * Field specifiers a cache holds at most, over every template of every session: about 27 000
 * Antrea flow templates (37 fields). One message can define templates of 16 000 fields each, so a
 * count of templates alone would not bound the memory an exporter can make a collector spend.
 */
export const MAX_CACHED_FIELDS = 1_000_000;

/**
 * Field specifiers one session (one exporter) holds at most: its share, so that one exporter
 * cannot fill the cache and starve the others (1700 Antrea flow templates).
 */
export const MAX_SESSION_FIELDS = 65_536;

/** A full cache looks for expired templates to make room at most this often. */
const FULL_SWEEP_INTERVAL_MS = 1000;

interface Entry {
  compiled: CompiledTemplate;
  expiresAt: number;
}

interface Session {
  readonly templates: Map<number, Entry>;
  fields: number;
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
  /** Field specifiers one session holds at most ({@link MAX_SESSION_FIELDS}). */
  maxSessionFields?: number;
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
  readonly #sessions = new Map<SessionKey, Session>();
  readonly #clock: Clock;
  readonly #keep: ElementSelection | undefined;
  readonly #maxFields: number;
  readonly #maxSessionFields: number;
  #fields = 0;
  /** The earliest expiry of a template held (an expired one may still be held until a sweep). */
  #nextExpiry = Infinity;
  #lastFullSweep = -Infinity;
  /**
   * Templates refused because the cache ({@link MAX_CACHED_FIELDS}) or their session
   * ({@link MAX_SESSION_FIELDS}) had no room for their field specifiers.
   */
  refused = 0;

  constructor(options: TemplateCacheOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    this.#maxFields = options.maxFields ?? MAX_CACHED_FIELDS;
    this.#maxSessionFields = options.maxSessionFields ?? MAX_SESSION_FIELDS;
    if (typeof options.elements === "string") {
      throw new TypeError("elements: expected a list of element names, not a string");
    }
    this.#keep = options.elements ? new Set(options.elements) : undefined;
  }

  /**
   * Adds or replaces a template; `lifetimeMs` is Infinity for TCP/TLS sessions. Returns undefined
   * (and counts it in `refused`) when the cache or the session has no room for its fields; expired
   * templates are dropped first to make room (looked for at most once a second).
   */
  set(
    session: SessionKey,
    domain: number,
    template: Template,
    lifetimeMs = Infinity,
  ): CompiledTemplate | undefined {
    const k = domain * 65536 + template.id;
    const n = template.fields.length;
    let s = this.#sessions.get(session);
    // The template this one replaces gives its fields back.
    const replaced = () => s?.templates.get(k)?.compiled.template.fields.length ?? 0;
    const fitsNow = () =>
      (s ? s.fields : 0) - replaced() + n <= this.#maxSessionFields &&
      this.#fields - replaced() + n <= this.#maxFields;
    let fits = fitsNow();
    if (!fits) {
      const now = this.#clock();
      if (now >= this.#nextExpiry && now - this.#lastFullSweep >= FULL_SWEEP_INTERVAL_MS) {
        this.#lastFullSweep = now;
        this.expire();
        s = this.#sessions.get(session); // expire() drops the sessions it empties
        fits = fitsNow();
      }
    }
    if (!fits) {
      // The template it would replace goes too: its records must not decode by the old one.
      if (s) this.#remove(session, s, k);
      this.refused++;
      return undefined;
    }
    if (!s) this.#sessions.set(session, s = { templates: new Map(), fields: 0 });
    const compiled = compileTemplate(template, this.#keep);
    const delta = n - replaced();
    const expiresAt = this.#clock() + lifetimeMs;
    s.templates.set(k, { compiled, expiresAt });
    s.fields += delta;
    this.#fields += delta;
    if (expiresAt < this.#nextExpiry) this.#nextExpiry = expiresAt;
    return compiled;
  }

  #remove(session: SessionKey, s: Session, k: number): boolean {
    const e = s.templates.get(k);
    if (!e) return false;
    s.templates.delete(k);
    const n = e.compiled.template.fields.length;
    s.fields -= n;
    this.#fields -= n;
    if (s.templates.size === 0) this.#sessions.delete(session);
    return true;
  }

  /** The template, unless unknown, withdrawn or expired. */
  get(session: SessionKey, domain: number, id: number): CompiledTemplate | undefined {
    const s = this.#sessions.get(session);
    if (!s) return undefined;
    const k = domain * 65536 + id;
    const e = s.templates.get(k);
    if (!e) return undefined;
    if (e.expiresAt !== Infinity && e.expiresAt <= this.#clock()) {
      this.#remove(session, s, k);
      return undefined;
    }
    return e.compiled;
  }

  /** Withdraws one template; true if it was known. RFC 7011 §8.1 */
  withdraw(session: SessionKey, domain: number, id: number): boolean {
    const s = this.#sessions.get(session);
    return s ? this.#remove(session, s, domain * 65536 + id) : false;
  }

  /**
   * Withdraws every template (`options` false) or every options template (`options` true) of a
   * domain; returns how many. RFC 7011 §8.1
   */
  withdrawAll(session: SessionKey, domain: number, options: boolean): number {
    const s = this.#sessions.get(session);
    if (!s) return 0;
    let n = 0;
    for (const [k, e] of s.templates) {
      if (Math.floor(k / 65536) !== domain) continue;
      if ((e.compiled.template.scopeFieldCount > 0) !== options) continue;
      this.#remove(session, s, k);
      n++;
    }
    return n;
  }

  /** Forgets every template of a session (the connection closed). */
  closeSession(session: SessionKey): void {
    const s = this.#sessions.get(session);
    if (!s) return;
    this.#fields -= s.fields;
    this.#sessions.delete(session);
  }

  /** Drops expired templates; returns how many. */
  expire(): number {
    const now = this.#clock();
    let n = 0;
    let next = Infinity;
    for (const [session, s] of this.#sessions) {
      for (const [k, e] of s.templates) {
        if (e.expiresAt <= now) {
          this.#remove(session, s, k);
          n++;
        } else if (e.expiresAt < next) next = e.expiresAt;
      }
    }
    this.#nextExpiry = next;
    return n;
  }

  /** Field specifiers of the templates held (expired ones included until dropped). */
  get fields(): number {
    return this.#fields;
  }

  /** Number of templates held, expired ones included until looked up or expired. */
  get size(): number {
    let n = 0;
    for (const s of this.#sessions.values()) n += s.templates.size;
    return n;
  }
}
