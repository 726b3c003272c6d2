/**
 * Small helpers shared by the command-line entry points.
 *
 * @module
 */

import { parseArgs } from "node:util";

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
