/**
 * Turning on the conntrack extensions that flow records need: packet and byte counters
 * (`nf_conntrack_acct`) and start/stop timestamps (`nf_conntrack_timestamp`).
 *
 * Deno opens files under /proc only to `--allow-all`, so the sysctls are read and written with
 * libc's stdio through the FFI binding: `--allow-ffi`, which reading conntrack needs anyway, is
 * the only permission this takes.
 *
 * @module
 */

import * as ffi from "./_ffi.ts";
import { errnoName } from "./errors.ts";

/** Where the sysctls of the current network namespace are. */
export const NETFILTER_SYSCTL_DIR = "/proc/sys/net/netfilter";

/** The outcome for one sysctl. */
export interface SysctlOutcome {
  /** The sysctl's name, e.g. "net.netfilter.nf_conntrack_acct". */
  readonly name: string;
  /** Its value before (undefined when it could not be read). */
  readonly before: boolean | undefined;
  /** Whether it is on now. */
  readonly on: boolean;
  /** Why it could not be read or turned on. */
  readonly error: string | undefined;
}

/** What {@link enableAccounting} did. */
export interface AccountingReport {
  /** Packet and byte counters. */
  readonly acct: SysctlOutcome;
  /** Start and stop timestamps. */
  readonly timestamp: SysctlOutcome;
  /**
   * One sentence per extension still off: what flow records will lack, why, and the command
   * that turns it on. Empty when both are on.
   */
  readonly missing: string[];
}

/**
 * How sysctl files are read and written. Failures throw an error with an `errno` property (or
 * Deno's NotFound and PermissionDenied errors).
 */
export interface SysctlIo {
  /** The content of the file at `path`. */
  read(path: string): string;
  /** Replaces the content of the file at `path` with `text`. */
  write(path: string, text: string): void;
}

/** Options of {@link enableAccounting}. */
export interface EnableAccountingOptions {
  /** The sysctl directory ({@link NETFILTER_SYSCTL_DIR}); another one in tests. */
  dir?: string;
  /** Where libnetfilter_conntrack is (as in `ConntrackOptions`). */
  libraryPath?: string;
  /** How to read and write the files: libc through FFI by default. */
  io?: SysctlIo;
}

const WHAT = {
  nf_conntrack_acct: "packet and byte counters",
  nf_conntrack_timestamp: "flow start and end timestamps",
} as const;

function ffiIo(libraryPath: string | undefined): SysctlIo {
  let s: ffi.Symbols | undefined;
  const symbols = () => s ??= ffi.load(libraryPath);
  return {
    read: (path) => ffi.readLine(symbols(), path),
    write: (path, text) => ffi.writeText(symbols(), path, text),
  };
}

function describe(e: unknown): string {
  const errno = (e as { errno?: unknown }).errno;
  if (e instanceof Deno.errors.NotFound || errno === 2) {
    return "not found (is the nf_conntrack module loaded?)";
  }
  if (e instanceof Deno.errors.PermissionDenied || errno === 13 || errno === 1) {
    return "permission denied (needs root, or CAP_NET_ADMIN in this network namespace)";
  }
  if (e instanceof ffi.LoadError) {
    return e.reason === "denied"
      ? "Deno needs --allow-ffi to change sysctls"
      : `cannot load libnetfilter_conntrack (${e.message}): apt-get install libnetfilter-conntrack3`;
  }
  const msg = e instanceof Error ? e.message : String(e);
  return typeof errno === "number" ? `${msg} (${errnoName(errno)})` : msg;
}

function turnOn(io: SysctlIo, dir: string, key: keyof typeof WHAT): SysctlOutcome {
  const name = `net.netfilter.${key}`;
  const path = `${dir}/${key}`;
  let before: boolean | undefined;
  try {
    before = io.read(path).trim() !== "0";
  } catch (e) {
    return { name, before: undefined, on: false, error: `cannot read ${path}: ${describe(e)}` };
  }
  if (before) return { name, before, on: true, error: undefined };
  try {
    io.write(path, "1\n");
    const now = io.read(path).trim() !== "0";
    return { name, before, on: now, error: now ? undefined : `${path} stayed 0 after writing 1` };
  } catch (e) {
    return { name, before, on: false, error: `cannot write ${path}: ${describe(e)}` };
  }
}

/**
 * Turns on `net.netfilter.nf_conntrack_acct` and `net.netfilter.nf_conntrack_timestamp` in the
 * current network namespace where it may (root or CAP_NET_ADMIN, and `--allow-ffi`), and
 * reports what it could not turn on. Either setting applies to connections that begin after
 * it: older entries lack counters or timestamps until they end.
 *
 * @example
 * ```ts
 * import { enableAccounting } from "./mod.ts";
 * const report = enableAccounting();
 * for (const line of report.missing) console.warn(line);
 * ```
 */
export function enableAccounting(options: EnableAccountingOptions = {}): AccountingReport {
  const dir = options.dir ?? NETFILTER_SYSCTL_DIR;
  const io = options.io ?? ffiIo(options.libraryPath);
  const acct = turnOn(io, dir, "nf_conntrack_acct");
  const timestamp = turnOn(io, dir, "nf_conntrack_timestamp");
  const missing: string[] = [];
  const outcomes = [["nf_conntrack_acct", acct], ["nf_conntrack_timestamp", timestamp]] as const;
  for (const [key, outcome] of outcomes) {
    if (outcome.on) continue;
    missing.push(
      `${outcome.name} is ${outcome.before === undefined ? "unknown" : "off"} and could not be ` +
        `turned on (${outcome.error}): flow records will ` +
        `lack ${WHAT[key]}; run \`sysctl -w ${outcome.name}=1\` as root`,
    );
  }
  return { acct, timestamp, missing };
}

/**
 * The kernel's limit on tracked connections (`net.netfilter.nf_conntrack_max`), or undefined when
 * it cannot be read.
 *
 * @example
 * ```ts
 * conntrackMax(); // 262144
 * ```
 */
export function conntrackMax(options: EnableAccountingOptions = {}): number | undefined {
  const io = options.io ?? ffiIo(options.libraryPath);
  try {
    const n = Number(io.read(`${options.dir ?? NETFILTER_SYSCTL_DIR}/nf_conntrack_max`).trim());
    return Number.isInteger(n) ? n : undefined;
  } catch {
    return undefined;
  }
}
