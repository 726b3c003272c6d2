/**
 * Go-style duration strings ("300ms", "1.5h", "2h45m"), as the reference's configuration uses.
 *
 * @module
 */

const UNITS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  "µs": 1e-3, // U+00B5 micro sign
  "μs": 1e-3, // U+03BC Greek mu
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/**
 * Parses a Go duration into milliseconds (fractions of a millisecond kept). Valid units are ns,
 * us (or µs), ms, s, m, h; "0" needs none. Throws a SyntaxError naming what is wrong.
 *
 * @example
 * ```ts
 * parseDuration("5s"); // 5000
 * parseDuration("1m30s"); // 90000
 * parseDuration("1.5h"); // 5400000
 * ```
 */
export function parseDuration(text: string): number {
  if (typeof text !== "string") throw new SyntaxError(`Invalid duration ${JSON.stringify(text)}`);
  let s = text.trim();
  let sign = 1;
  if (s.startsWith("-") || s.startsWith("+")) {
    if (s[0] === "-") sign = -1;
    s = s.slice(1);
  }
  if (s === "0") return 0;
  if (s === "") throw new SyntaxError(`Invalid duration "${text}"`);
  const re = /^(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/;
  let total = 0;
  while (s.length > 0) {
    const m = re.exec(s);
    if (!m) {
      const hint = /^\d+(\.\d+)?$/.test(s) ? ": missing unit (ns, us, ms, s, m, h)" : "";
      throw new SyntaxError(`Invalid duration "${text}"${hint}`);
    }
    total += Number(m[1]) * UNITS[m[2]!]!;
    s = s.slice(m[0].length);
  }
  return sign * total;
}

/**
 * Formats milliseconds as a Go-style duration.
 *
 * @example
 * ```ts
 * formatDuration(90_000); // "1m30s"
 * ```
 */
export function formatDuration(ms: number): string {
  if (ms === 0) return "0s";
  const sign = ms < 0 ? "-" : "";
  let rest = Math.abs(ms);
  if (rest < 1) return `${sign}${Math.round(rest * 1e6)}ns`;
  if (rest < 1000) return `${sign}${rest}ms`;
  let out = "";
  const h = Math.floor(rest / 3_600_000);
  if (h) out += `${h}h`;
  rest -= h * 3_600_000;
  const m = Math.floor(rest / 60_000);
  if (m || h) out += `${m}m`;
  rest -= m * 60_000;
  out += `${rest / 1000}s`;
  return sign + out;
}
