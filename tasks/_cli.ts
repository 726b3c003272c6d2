/**
 * Small helpers shared by the command-line entry points.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { formatDuration, parseDuration } from "../src/config/duration.ts";

/** A flag that takes a value, with an optional default. */
export interface FlagSpec {
  type: "string" | "boolean";
  default?: string;
  short?: string;
}

/**
 * Parses flags with node:util's parseArgs; prints `usage` and exits 0 on --help, prints the error
 * and the usage and exits 2 on a bad flag.
 */
export function parseFlags(
  usage: string,
  options: Record<string, FlagSpec>,
  args: string[] = Deno.args,
): Record<string, string | boolean | undefined> {
  try {
    const parsed = parseArgs({
      args: args.filter((a) => a !== "--"),
      options: { ...options, help: { type: "boolean", short: "h" } },
      strict: true,
      allowPositionals: false,
    });
    if (parsed.values.help) {
      console.log(usage);
      Deno.exit(0);
    }
    return parsed.values as Record<string, string | boolean | undefined>;
  } catch (e) {
    console.error(`${e instanceof Error ? e.message : e}\n\n${usage}`);
    Deno.exit(2);
  }
}

/** Reads a file named by a flag, or exits 2 with a message naming the flag. */
export function readFlagFile(flag: string, path: string | undefined): string | undefined {
  if (path === undefined) return undefined;
  try {
    return Deno.readTextFileSync(path);
  } catch (e) {
    console.error(`Cannot read ${flag} ${path}: ${e instanceof Error ? e.message : e}`);
    Deno.exit(2);
  }
}

/**
 * The milliseconds of a duration flag (Go syntax: 30s, 10m), undefined when it is absent. One that
 * is not a duration, or is below `minMs`, goes to `fail` (by default: printed, exit 2) with a
 * message naming the flag.
 */
export function durationFlag(
  flag: string,
  text: string | undefined,
  minMs?: number,
  fail: (message: string) => never = exit2,
): number | undefined {
  if (text === undefined) return undefined;
  let ms: number;
  try {
    ms = parseDuration(text);
  } catch (e) {
    fail(`Invalid --${flag}: ${e instanceof Error ? e.message : e}`);
  }
  if (minMs !== undefined && !(ms >= minMs)) {
    fail(`Invalid --${flag} "${text}": at least ${formatDuration(minMs)}`);
  }
  return ms;
}

function exit2(message: string): never {
  console.error(message);
  Deno.exit(2);
}

/** Runs `stop` once on SIGINT or SIGTERM. */
export function onSignal(stop: () => void | Promise<void>): void {
  let stopping = false;
  const handler = () => {
    if (stopping) return;
    stopping = true;
    void stop();
  };
  Deno.addSignalListener("SIGINT", handler);
  Deno.addSignalListener("SIGTERM", handler);
}
