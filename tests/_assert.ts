/**
 * Assertions with nothing but Deno (JSR's `@std/assert` is not reachable here), with the names
 * and signatures of `@std/assert`: `assert`, `assertEquals`, `assertNotEquals`,
 * `assertStrictEquals`, `assertStringIncludes`, `assertMatch`, `assertThrows`, `assertRejects`,
 * `assertInstanceOf`, `assertExists`, `fail`. Deep equality tells a number from a bigint, a
 * Uint8Array from an Array and 0 from -0, and failures say where two values differ. Shared by
 * the unit tests of `src/` and the integration tests of `tests/`.
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

/** Renders a value for a failure message. */
export function show(v: unknown): string {
  return Deno.inspect(v, {
    depth: 8,
    colors: false,
    iterableLimit: 64,
    strAbbreviateSize: 300,
    sorted: true,
  });
}

/** `path` followed by the property `key`, as it would be written in code. */
function member(path: string, key: PropertyKey): string {
  if (typeof key === "string" && /^[A-Za-z_$][\w$]*$/.test(key)) return `${path}.${key}`;
  if (typeof key === "string" && /^(0|[1-9]\d*)$/.test(key)) return `${path}[${key}]`;
  return `${path}[${show(key)}]`;
}

/** The own enumerable keys of an object, symbols included. */
function enumerableKeys(o: object): PropertyKey[] {
  return Reflect.ownKeys(o).filter((k) => Object.prototype.propertyIsEnumerable.call(o, k));
}

/** The octets of an ArrayBuffer or DataView, to compare them like a Uint8Array. */
function octets(v: ArrayBufferLike | DataView): Uint8Array {
  return ArrayBuffer.isView(v)
    ? new Uint8Array(v.buffer, v.byteOffset, v.byteLength)
    : new Uint8Array(v);
}

/**
 * The path of the first difference between two values, or undefined when they are deeply equal.
 * Primitives compare with Object.is (so `1` ≠ `1n` and `0` ≠ `-0`); objects must have the same
 * prototype and the same own enumerable keys (symbols included); typed arrays, DataViews and
 * ArrayBuffers compare element by element; Maps and Sets by content; Dates by time; Errors by
 * name and message too. Cycles are followed once.
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
  if (
    actual instanceof DataView || actual instanceof ArrayBuffer ||
    actual instanceof SharedArrayBuffer
  ) {
    return difference(octets(actual), octets(expected as typeof actual), path, seen);
  }
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
  const a = actual as Record<PropertyKey, unknown>;
  const b = expected as Record<PropertyKey, unknown>;
  const ak = enumerableKeys(a);
  const bk = enumerableKeys(b);
  for (const k of ak) {
    if (!bk.includes(k)) return `${member(path, k)}: only in actual (${show(a[k])})`;
  }
  for (const k of bk) {
    if (!ak.includes(k)) return `${member(path, k)}: only in expected (${show(b[k])})`;
  }
  for (const k of ak) {
    const d = difference(a[k], b[k], member(path, k), seen);
    if (d) return d;
  }
  return undefined;
}

/** Whether two values are deeply equal, types included (see {@link difference}). */
export function equal(actual: unknown, expected: unknown): boolean {
  return difference(actual, expected) === undefined;
}

/** Throws unless `cond` is truthy. */
export function assert(cond: unknown, msg = "Assertion failed"): asserts cond {
  if (!cond) throw new AssertionError(msg);
}

/** Throws unless `actual` deep-equals `expected`, types included (see {@link difference}). */
export function assertEquals<T>(actual: T, expected: T, msg?: string): void {
  const d = difference(actual, expected);
  if (d === undefined) return;
  throw new AssertionError(
    `${msg ? msg + ": " : ""}values differ at ${d}\n  actual:   ${show(actual)}\n  expected: ${
      show(expected)
    }`,
  );
}

/** Throws if `actual` deep-equals `expected`. */
export function assertNotEquals<T>(actual: T, expected: T, msg?: string): void {
  if (!equal(actual, expected)) return;
  throw new AssertionError(`${msg ? msg + ": " : ""}expected a value other than ${show(actual)}`);
}

/** Throws unless `Object.is(actual, expected)`. */
export function assertStrictEquals<T>(actual: T, expected: T, msg?: string): void {
  if (Object.is(actual, expected)) return;
  throw new AssertionError(
    `${msg ? msg + ": " : ""}not the same value\n  actual:   ${show(actual)}\n  expected: ${
      show(expected)
    }`,
  );
}

/** Throws unless `actual` includes `expected`. */
export function assertStringIncludes(actual: string, expected: string, msg?: string): void {
  if (actual.includes(expected)) return;
  throw new AssertionError(
    `${msg ? msg + ": " : ""}${show(actual)} does not include ${show(expected)}`,
  );
}

/** Throws unless `actual` matches `expected`. */
export function assertMatch(actual: string, expected: RegExp, msg?: string): void {
  if (expected.test(actual)) return;
  throw new AssertionError(`${msg ? msg + ": " : ""}${show(actual)} does not match ${expected}`);
}

/** Throws when `actual` is null or undefined. */
export function assertExists<T>(actual: T, msg?: string): asserts actual is NonNullable<T> {
  if (actual === null || actual === undefined) {
    throw new AssertionError(`${msg ? msg + ": " : ""}value is ${actual}`);
  }
}

// deno-lint-ignore no-explicit-any
type ErrorClass<E extends Error> = abstract new (...args: any[]) => E;

/** Throws unless `actual` is an instance of `Class`. */
export function assertInstanceOf<T>(
  actual: unknown,
  // deno-lint-ignore no-explicit-any
  Class: abstract new (...args: any[]) => T,
  msg?: string,
): asserts actual is T {
  if (actual instanceof Class) return;
  throw new AssertionError(`${msg ? msg + ": " : ""}expected a ${Class.name}, got ${show(actual)}`);
}

function checkError<E extends Error>(
  e: unknown,
  Class: ErrorClass<E> | undefined,
  includes: string | undefined,
  prefix: string,
): E {
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
    return checkError(e, Class, includes, prefix);
  }
  throw new AssertionError(`${prefix}expected ${Class?.name ?? "an error"}, nothing was thrown`);
}

/** Like {@link assertThrows} for a function that returns a promise. */
export async function assertRejects<E extends Error = Error>(
  fn: () => PromiseLike<unknown>,
  Class?: ErrorClass<E>,
  includes?: string,
  msg?: string,
): Promise<E> {
  const prefix = msg ? msg + ": " : "";
  try {
    await fn();
  } catch (e) {
    return checkError(e, Class, includes, prefix);
  }
  throw new AssertionError(`${prefix}expected ${Class?.name ?? "a rejection"}, none came`);
}

/** Throws unconditionally. */
export function fail(msg: string): never {
  throw new AssertionError(msg);
}
