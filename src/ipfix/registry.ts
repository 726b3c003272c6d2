/**
 * Information element registries: IANA (enterprise 0), reverse elements (RFC 5103, enterprise
 * 29305) and Antrea's (enterprise 56506), looked up by (enterprise, ID) or by name.
 *
 * @module
 */

import { ANTREA_ELEMENTS } from "./antrea_elements.ts";
import { IANA_ELEMENTS } from "./iana.generated.ts";
import { ANTREA_PEN, type DataType, type InfoElement, REVERSE_PEN } from "./types.ts";

/**
 * IANA elements that have no reverse counterpart: process configuration and statistics, scope
 * and padding elements, and biflowDirection. RFC 5103 §6.1
 */
export const NON_REVERSIBLE_IDS: ReadonlySet<number> = new Set([
  // Process configuration (RFC 5102 §5.2)
  130,
  131,
  173,
  211,
  212,
  213,
  214,
  215,
  216,
  217,
  // Process statistics (RFC 5102 §5.3)
  40,
  41,
  42,
  163,
  164,
  165,
  166,
  167,
  168,
  // Scope (RFC 5102 §5.1)
  137,
  138,
  141,
  142,
  143,
  144,
  145,
  148,
  149,
  // Padding and biflow direction
  210,
  239,
]);

function key(enterpriseId: number, id: number): number {
  return enterpriseId * 65536 + id;
}

/** A set of information elements, looked up by (enterprise number, ID) or by name. */
export class Registry {
  readonly #byKey = new Map<number, InfoElement>();
  readonly #byName = new Map<string, InfoElement>();

  /**
   * Adds elements; an element whose name is taken keeps its (enterprise, ID) lookup but is not
   * found by name, so the first registered name wins.
   *
   * @example
   * ```ts
   * const r = new Registry();
   * r.add({ name: "myCounter", id: 1, enterpriseId: 4242, type: "unsigned64" });
   * r.byName("myCounter")?.id; // 1
   * ```
   */
  add(...elements: InfoElement[]): this {
    for (const e of elements) {
      this.#byKey.set(key(e.enterpriseId, e.id), e);
      if (!this.#byName.has(e.name)) this.#byName.set(e.name, e);
    }
    return this;
  }

  /** The element with this enterprise number and ID, if registered. */
  get(enterpriseId: number, id: number): InfoElement | undefined {
    return this.#byKey.get(key(enterpriseId, id));
  }

  /**
   * The element with this enterprise number and ID, or an octetArray element named
   * `unknown:<pen>:<id>` when it is not registered.
   */
  resolve(enterpriseId: number, id: number): InfoElement {
    return this.get(enterpriseId, id) ?? unknownElement(enterpriseId, id);
  }

  /** The element with this name; `unknown:<pen>:<id>` names resolve too. */
  byName(name: string): InfoElement | undefined {
    const found = this.#byName.get(name);
    if (found) return found;
    const m = /^unknown:(\d+):(\d+)$/.exec(name);
    if (!m) return undefined;
    const pen = Number(m[1]);
    const id = Number(m[2]);
    if (pen > 0xffffffff || id > 0x7fff) return undefined;
    return this.resolve(pen, id);
  }

  /** Number of registered elements. */
  get size(): number {
    return this.#byKey.size;
  }

  /** Every registered element. */
  elements(): IterableIterator<InfoElement> {
    return this.#byKey.values();
  }
}

/** The element an unregistered (enterprise number, ID) decodes as. */
export function unknownElement(enterpriseId: number, id: number): InfoElement {
  return { name: `unknown:${enterpriseId}:${id}`, id, enterpriseId, type: "octetArray" };
}

function reverseName(name: string): string {
  return "reverse" + name.charAt(0).toUpperCase() + name.slice(1);
}

function build(): Registry {
  const r = new Registry();
  const iana = IANA_ELEMENTS.map(([id, name, type]): InfoElement => ({
    name,
    id,
    enterpriseId: 0,
    type: type as DataType,
  }));
  r.add(...iana);
  r.add(
    ...iana.filter((e) => !NON_REVERSIBLE_IDS.has(e.id)).map((e): InfoElement => ({
      name: reverseName(e.name),
      id: e.id,
      enterpriseId: REVERSE_PEN,
      type: e.type,
    })),
  );
  r.add(
    ...ANTREA_ELEMENTS.map(([id, name, type]): InfoElement => ({
      name,
      id,
      enterpriseId: ANTREA_PEN,
      type,
    })),
  );
  return r;
}

/**
 * The default registry: every IANA element, their reverse elements and Antrea's elements.
 *
 * @example
 * ```ts
 * defaultRegistry.byName("reverseOctetDeltaCount"); // { id: 1, enterpriseId: 29305, … }
 * defaultRegistry.get(56506, 101)?.name; // "sourcePodName"
 * ```
 */
export const defaultRegistry: Registry = build();
