/**
 * Structured logs: one JSON object per event, with a level, written to stderr.
 *
 * @example
 * ```ts
 * const log = createLogger("collector");
 * log.info("Listening", { address: "0.0.0.0:4739" });
 * // {"time":"…","level":"info","component":"collector","msg":"Listening","address":"0.0.0.0:4739"}
 * ```
 *
 * @module
 */

/** Log levels, in increasing severity. */
export type Level = "debug" | "info" | "warn" | "error";

const ORDER: Record<Level, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** A structured logger. */
export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

const encoder = new TextEncoder();

function minLevel(): Level {
  try {
    const v = Deno.env.get("FLOWVIS_LOG_LEVEL");
    if (v && v in ORDER) return v as Level;
  } catch {
    // No --allow-env: the default level.
  }
  return "info";
}

/** A logger that writes JSON lines for `component` to stderr at or above FLOWVIS_LOG_LEVEL. */
export function createLogger(component: string, level: Level = minLevel()): Logger {
  const min = ORDER[level];
  const write = (lvl: Level, msg: string, fields?: Record<string, unknown>) => {
    if (ORDER[lvl] < min) return;
    const line = JSON.stringify(
      { time: new Date().toISOString(), level: lvl, component, msg, ...fields },
      (_k, v) => typeof v === "bigint" ? v.toString() : v instanceof Error ? v.message : v,
    );
    Deno.stderr.writeSync(encoder.encode(line + "\n"));
  };
  return {
    debug: (m, f) => write("debug", m, f),
    info: (m, f) => write("info", m, f),
    warn: (m, f) => write("warn", m, f),
    error: (m, f) => write("error", m, f),
  };
}

/** A logger that drops everything (tests, benchmarks). */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};
