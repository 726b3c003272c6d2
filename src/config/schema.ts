/**
 * A small declarative validator for YAML configuration files: every key known, every value
 * checked, defaults filled in, and errors that name the key.
 *
 * @module
 */

import { parseDuration } from "./duration.ts";

/** A configuration error; `key` is the dotted path of the offending key. */
export class ConfigError extends SyntaxError {
  readonly key: string;
  constructor(key: string, message: string, options?: ErrorOptions) {
    super(key ? `${key}: ${message}` : message, options);
    this.name = "ConfigError";
    this.key = key;
  }
}

/** How one key is read. */
export type Field =
  | { type: "string"; default?: string; oneOf?: readonly string[]; check?: (v: string) => void }
  | { type: "boolean"; default?: boolean }
  | { type: "integer"; default?: number; min?: number; max?: number }
  | { type: "duration"; default?: string; minMs?: number }
  | { type: "bytes"; default?: number; min?: number; max?: number }
  | { type: "stringList"; default?: readonly string[] }
  | { type: "integerList"; default?: readonly number[]; min?: number; max?: number }
  | { type: "object"; fields: Schema };

/** Keys of an object and how each is read. */
export type Schema = Readonly<Record<string, Field>>;

/** A validated value: durations become milliseconds, sizes bytes. */
// deno-lint-ignore no-explicit-any
export type Config = Record<string, any>;

const SIZE_UNITS: Record<string, number> = {
  "": 1,
  B: 1,
  K: 1e3,
  KB: 1e3,
  M: 1e6,
  MB: 1e6,
  G: 1e9,
  GB: 1e9,
  T: 1e12,
  TB: 1e12,
  Ki: 2 ** 10,
  KiB: 2 ** 10,
  Mi: 2 ** 20,
  MiB: 2 ** 20,
  Gi: 2 ** 30,
  GiB: 2 ** 30,
  Ti: 2 ** 40,
  TiB: 2 ** 40,
};

/**
 * Parses a size in bytes: a whole number, or a number with a decimal (K, M, G, T; KB…) or
 * binary (Ki, Mi, Gi, Ti; KiB…) unit. Throws a SyntaxError naming what is wrong.
 *
 * @example
 * ```ts
 * parseByteSize("1Gi"); // 1073741824
 * parseByteSize("512MB"); // 512000000
 * parseByteSize("4096"); // 4096
 * ```
 */
export function parseByteSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$/.exec(text);
  const unit = m ? SIZE_UNITS[m[2]!] : undefined;
  if (!m || unit === undefined) {
    throw new SyntaxError(
      `Invalid size "${text}" (write bytes, or a number with K, M, G, T, Ki, Mi, Gi or Ti)`,
    );
  }
  return Math.floor(Number(m[1]) * unit);
}

function describe(v: unknown): string {
  return v === null
    ? "null"
    : Array.isArray(v)
    ? "a list"
    : typeof v === "object"
    ? "a map"
    : JSON.stringify(v);
}

/**
 * Validates `input` (parsed YAML) against `schema`: unknown keys and bad values throw a
 * {@link ConfigError} naming the key; missing keys take their defaults.
 *
 * @example
 * ```ts
 * const c = validate({ flowPollInterval: "1s" }, { flowPollInterval: { type: "duration", default: "5s" } });
 * c.flowPollInterval; // 1000
 * ```
 */
export function validate(input: unknown, schema: Schema, path = ""): Config {
  if (input === null || input === undefined) input = {};
  if (typeof input !== "object" || Array.isArray(input)) {
    throw new ConfigError(path, `expected a map of settings, got ${describe(input)}`);
  }
  const obj = input as Record<string, unknown>;
  for (const k of Object.keys(obj)) {
    if (!Object.hasOwn(schema, k)) {
      const known = Object.keys(schema).join(", ");
      throw new ConfigError(path ? `${path}.${k}` : k, `unknown key (known keys: ${known})`);
    }
  }
  const out: Config = {};
  for (const [k, f] of Object.entries(schema)) {
    const key = path ? `${path}.${k}` : k;
    const v = obj[k];
    out[k] = readField(key, f, v);
  }
  return out;
}

function readField(key: string, f: Field, v: unknown): unknown {
  if (f.type === "object") return validate(v, f.fields, key);
  if (v === undefined || v === null) {
    if (f.type === "duration") {
      return f.default === undefined ? undefined : parseDuration(f.default);
    }
    return f.default;
  }
  switch (f.type) {
    case "string":
      if (typeof v !== "string") {
        throw new ConfigError(key, `expected a string, got ${describe(v)}`);
      }
      if (f.oneOf && !f.oneOf.includes(v)) {
        throw new ConfigError(key, `expected one of ${f.oneOf.join(", ")}, got "${v}"`);
      }
      if (f.check) {
        try {
          f.check(v);
        } catch (e) {
          throw new ConfigError(key, e instanceof Error ? e.message : String(e), { cause: e });
        }
      }
      return v;
    case "boolean":
      if (typeof v !== "boolean") {
        throw new ConfigError(key, `expected true or false, got ${describe(v)}`);
      }
      return v;
    case "integer":
      if (typeof v !== "number" || !Number.isInteger(v)) {
        throw new ConfigError(key, `expected an integer, got ${describe(v)}`);
      }
      if ((f.min !== undefined && v < f.min) || (f.max !== undefined && v > f.max)) {
        throw new ConfigError(
          key,
          `expected an integer from ${f.min ?? "-∞"} to ${f.max ?? "∞"}, got ${v}`,
        );
      }
      return v;
    case "duration": {
      if (typeof v !== "string") {
        throw new ConfigError(key, `expected a duration string such as "5s", got ${describe(v)}`);
      }
      let ms: number;
      try {
        ms = parseDuration(v);
      } catch (e) {
        throw new ConfigError(
          key,
          (e as Error).message + ' (valid units: "ns", "us" or "µs", "ms", "s", "m", "h")',
        );
      }
      if (f.minMs !== undefined && ms < f.minMs) {
        throw new ConfigError(key, `must be at least ${f.minMs / 1000}s, got "${v}"`);
      }
      return ms;
    }
    case "bytes": {
      let n: number;
      if (typeof v === "number") {
        if (!Number.isInteger(v)) {
          throw new ConfigError(key, `expected a whole number of bytes, got ${describe(v)}`);
        }
        n = v;
      } else if (typeof v === "string") {
        try {
          n = parseByteSize(v);
        } catch (e) {
          throw new ConfigError(key, (e as Error).message, { cause: e });
        }
      } else {
        throw new ConfigError(key, `expected a size such as "1Gi", got ${describe(v)}`);
      }
      if (!Number.isSafeInteger(n) || n < (f.min ?? 0) || (f.max !== undefined && n > f.max)) {
        throw new ConfigError(
          key,
          `expected a size from ${f.min ?? 0} to ${f.max ?? "∞"} bytes, got ${n}`,
        );
      }
      return n;
    }
    case "stringList":
      if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) {
        throw new ConfigError(key, `expected a list of strings, got ${describe(v)}`);
      }
      return v;
    case "integerList":
      if (
        !Array.isArray(v) ||
        v.some((x) =>
          typeof x !== "number" || !Number.isInteger(x) || (f.min !== undefined && x < f.min) ||
          (f.max !== undefined && x > f.max)
        )
      ) {
        throw new ConfigError(
          key,
          `expected a list of integers from ${f.min ?? "-∞"} to ${f.max ?? "∞"}, got ${
            describe(v)
          }`,
        );
      }
      return v;
  }
}
