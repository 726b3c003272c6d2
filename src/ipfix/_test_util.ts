/**
 * Assertions for the tests of this folder, with nothing but Deno: deep equality that tells a
 * number from a bigint, a Uint8Array from an Array, 0 from -0, and says where two values differ.
 *
 * @module
 */

/** A failed assertion. */
export class AssertionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AssertionError";
  }
}

/** Renders a value for an assertion message. */
export function show(v: unknown): string {
  return Deno.inspect(v, {
    depth: 8,
    colors: false,
    iterableLimit: 64,
    strAbbreviateSize: 300,
    sorted: true,
  });
}

/**
 * The path of the first difference between two values, or undefined when they are deeply equal.
 * Primitives compare with Object.is (so `1` ≠ `1n` and `0` ≠ `-0`); objects must have the same
 * prototype; typed arrays compare element by element.
 */
export function difference(
  actual: unknown,
  expected: unknown,
  path = "",
  seen: Map<object, object> = new Map(),
): string | undefined {
  const here = path === "" ? "(root)" : path;
  if (Object.is(actual, expected)) return undefined;
  if (typeof actual !== typeof expected) {
    return `${here}: ${typeof actual} ${show(actual)} vs ${typeof expected} ${show(expected)}`;
  }
  if (
    typeof actual !== "object" || typeof expected !== "object" || actual === null ||
    expected === null
  ) {
    return `${here}: ${show(actual)} vs ${show(expected)}`;
  }
  if (Object.getPrototypeOf(actual) !== Object.getPrototypeOf(expected)) {
    return `${here}: ${actual.constructor?.name} vs ${expected.constructor?.name}`;
  }
  if (seen.get(actual) === expected) return undefined;
  seen.set(actual, expected);
  if (ArrayBuffer.isView(actual) && ArrayBuffer.isView(expected)) {
    const a = actual as unknown as ArrayLike<unknown>;
    const b = expected as unknown as ArrayLike<unknown>;
    if (a.length !== b.length) return `${here}: length ${a.length} vs ${b.length}`;
    for (let i = 0; i < a.length; i++) {
      if (!Object.is(a[i], b[i])) return `${path}[${i}]: ${show(a[i])} vs ${show(b[i])}`;
    }
    return undefined;
  }
  if (actual instanceof Date && expected instanceof Date) {
    return actual.getTime() === expected.getTime()
      ? undefined
      : `${here}: ${show(actual)} vs ${show(expected)}`;
  }
  if (actual instanceof Map && expected instanceof Map) {
    if (actual.size !== expected.size) return `${here}: size ${actual.size} vs ${expected.size}`;
    for (const [k, v] of actual) {
      if (!expected.has(k)) return `${here}: key ${show(k)} only in actual`;
      const d = difference(v, expected.get(k), `${path}.get(${show(k)})`, seen);
      if (d) return d;
    }
    return undefined;
  }
  if (actual instanceof Set && expected instanceof Set) {
    if (actual.size !== expected.size) return `${here}: size ${actual.size} vs ${expected.size}`;
    for (const k of actual) if (!expected.has(k)) return `${here}: ${show(k)} only in actual`;
    return undefined;
  }
  if (actual instanceof Error && expected instanceof Error) {
    if (actual.name !== expected.name || actual.message !== expected.message) {
      return `${here}: ${actual.name}: ${actual.message} vs ${expected.name}: ${expected.message}`;
    }
  }
  if (Array.isArray(actual) && Array.isArray(expected) && actual.length !== expected.length) {
    return `${here}: length ${actual.length} vs ${expected.length}`;
  }
  const ak = Reflect.ownKeys(actual).filter((k) =>
    Object.prototype.propertyIsEnumerable.call(actual, k)
  );
  const bk = Reflect.ownKeys(expected).filter((k) =>
    Object.prototype.propertyIsEnumerable.call(expected, k)
  );
  for (const k of ak) {
    if (!bk.includes(k)) return `${here}: key ${String(k)} only in actual`;
  }
  for (const k of bk) {
    if (!ak.includes(k)) return `${here}: key ${String(k)} only in expected`;
  }
  for (const k of ak) {
    const d = difference(
      (actual as Record<PropertyKey, unknown>)[k],
      (expected as Record<PropertyKey, unknown>)[k],
      typeof k === "string" && /^[A-Za-z_$][\w$]*$/.test(k)
        ? `${path}.${k}`
        : `${path}[${show(k)}]`,
      seen,
    );
    if (d) return d;
  }
  return undefined;
}

/** Whether two values are deeply equal, types included (see {@link difference}). */
export function equal(actual: unknown, expected: unknown): boolean {
  return difference(actual, expected) === undefined;
}

/** Throws unless `actual` and `expected` are deeply equal, types included. */
export function assertEquals<T>(actual: T, expected: T, msg?: string): void {
  const d = difference(actual, expected);
  if (d === undefined) return;
  throw new AssertionError(
    `${msg ? msg + ": " : ""}values differ at ${d}\n  actual:   ${show(actual)}\n  expected: ${
      show(expected)
    }`,
  );
}

/** Throws unless `actual` and `expected` are not deeply equal. */
export function assertNotEquals<T>(actual: T, expected: T, msg?: string): void {
  if (!equal(actual, expected)) return;
  throw new AssertionError(`${msg ? msg + ": " : ""}values are equal: ${show(actual)}`);
}

/** Throws unless `Object.is(actual, expected)`. */
export function assertStrictEquals<T>(actual: T, expected: T, msg?: string): void {
  if (Object.is(actual, expected)) return;
  throw new AssertionError(
    `${msg ? msg + ": " : ""}${typeof actual} ${show(actual)} is not ${typeof expected} ${
      show(expected)
    }`,
  );
}

/** Throws unless `cond` is truthy. */
export function assert(cond: unknown, msg = "assertion failed"): asserts cond {
  if (!cond) throw new AssertionError(msg);
}

// deno-lint-ignore no-explicit-any
type ErrorClass<E extends Error> = abstract new (...args: any[]) => E;

/**
 * Calls `fn` and returns what it throws; fails when it returns normally, when the error is not
 * an instance of `Class`, or when its message does not include `includes`.
 */
export function assertThrows<E extends Error = Error>(
  fn: () => unknown,
  Class?: ErrorClass<E>,
  includes?: string,
  msg?: string,
): E {
  const prefix = msg ? msg + ": " : "";
  try {
    fn();
  } catch (e) {
    if (Class && !(e instanceof Class)) {
      throw new AssertionError(
        `${prefix}expected ${Class.name}, got ${e instanceof Error ? e.name : typeof e}: ${
          e instanceof Error ? e.message : show(e)
        }`,
      );
    }
    if (!(e instanceof Error)) throw new AssertionError(`${prefix}thrown value ${show(e)}`);
    if (includes !== undefined && !e.message.includes(includes)) {
      throw new AssertionError(
        `${prefix}expected message to include ${show(includes)}, got ${show(e.message)}`,
      );
    }
    return e as E;
  }
  throw new AssertionError(`${prefix}expected ${Class?.name ?? "an error"}, nothing was thrown`);
}

/** Octets of a hex string; whitespace and `#…` comments to the end of a line are ignored. */
export function hex(...parts: string[]): Uint8Array {
  const s = parts.join("\n").replace(/#[^\n]*/g, "").replace(/\s+/g, "");
  if (s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) {
    throw new SyntaxError(`Invalid hex in test: ${s.slice(0, 60)}`);
  }
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Reads a test vector of `testdata/`: one hex string, whitespace allowed, nothing else. */
export async function readVector(name: string): Promise<Uint8Array> {
  const text = await Deno.readTextFile(new URL(`../../testdata/${name}`, import.meta.url));
  if (text.includes("#")) throw new SyntaxError(`Test vector ${name} is not plain hex`);
  return hex(text);
}
