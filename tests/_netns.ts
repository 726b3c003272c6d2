/**
 * Network namespaces for integration tests: a {@link NetnsLab} creates namespaces with a unique
 * prefix, wires them with veth pairs, sets sysctls and nftables rules inside them, and deletes
 * them all (after killing what still runs in them) when disposed, also after a failure.
 *
 * Every command runs inside a namespace of the lab (`ip -n NS …`, `ip netns exec NS …`): veths
 * are created in a lab namespace and their peers moved straight to another one, so the root
 * namespace's links, addresses, routes, sysctls and rules are never touched.
 *
 * @module
 */

import { type Prerequisite, requireTool, run, type RunOptions, type RunResult } from "./_tools.ts";

const LIBRARY_DIRS = [
  "/usr/lib/x86_64-linux-gnu",
  "/usr/lib/aarch64-linux-gnu",
  "/usr/lib64",
  "/usr/lib",
  "/lib",
];

/** A prerequisite: libnetfilter_conntrack.so.3 is installed (the agent's conntrack FFI). */
export function needsConntrackLibrary(): Prerequisite {
  return {
    ok: LIBRARY_DIRS.some((d) => {
      try {
        return Deno.statSync(`${d}/libnetfilter_conntrack.so.3`).isFile;
      } catch {
        return false;
      }
    }),
    reason:
      "libnetfilter_conntrack.so.3 is not installed (apt-get install libnetfilter-conntrack3)",
  };
}

/** Prerequisites of a lab: ip (iproute2), nft (nftables) and sysctl (procps). */
export function needsNetnsTools(): Prerequisite[] {
  return [["ip", "iproute2"], ["nft", "nftables"], ["sysctl", "procps"]].map(([tool, pkg]) => ({
    ok: requireTool(tool!),
    reason: `${tool} is not installed (apt-get install ${pkg})`,
  }));
}

/** One end of a veth pair: its namespace, its name there, and optional addresses (CIDR). */
export interface VethEnd {
  readonly ns: string;
  readonly name: string;
  readonly addresses?: readonly string[];
}

/** Network namespaces named `<prefix>-<name>`, all deleted by {@link NetnsLab.close}. */
export class NetnsLab implements AsyncDisposable {
  /** `fv-<tag>-<random>`: unique per lab, so that parallel runs never collide. */
  readonly prefix: string;
  readonly #namespaces: string[] = [];
  #closed = false;

  constructor(tag: string) {
    const random = Array.from(crypto.getRandomValues(new Uint8Array(3)))
      .map((b) => b.toString(16).padStart(2, "0")).join("");
    this.prefix = `fv-${tag}-${random}`;
  }

  /** The namespaces created so far. */
  get namespaces(): readonly string[] {
    return this.#namespaces;
  }

  /** Creates the namespace `<prefix>-<name>` with its loopback up; returns its full name. */
  async add(name: string): Promise<string> {
    if (this.#closed) throw new TypeError("Cannot add a namespace to a closed lab");
    const ns = `${this.prefix}-${name}`;
    await run("ip", ["netns", "add", ns]);
    this.#namespaces.push(ns);
    await this.ip(ns, "link", "set", "lo", "up");
    return ns;
  }

  /** `ip -n ns …`. */
  async ip(ns: string, ...args: string[]): Promise<string> {
    this.#check(ns);
    return (await run("ip", ["-n", ns, ...args])).stdout;
  }

  /** The argv that runs `cmd args…` inside `ns` (for `run` or `Background.start`). */
  command(ns: string, cmd: string, args: readonly string[]): [string, string[]] {
    this.#check(ns);
    return ["ip", ["netns", "exec", ns, cmd, ...args]];
  }

  /** Runs `cmd args…` inside `ns` to completion. */
  exec(ns: string, cmd: string, args: readonly string[], options?: RunOptions): Promise<RunResult> {
    return run(...this.command(ns, cmd, args), options);
  }

  /** A veth pair from `a` to `b`, created in a's namespace, both ends up and addressed. */
  async veth(a: VethEnd, b: VethEnd): Promise<void> {
    this.#check(b.ns);
    await this.ip(
      a.ns,
      "link",
      "add",
      a.name,
      "type",
      "veth",
      "peer",
      "name",
      b.name,
      "netns",
      b.ns,
    );
    for (const end of [a, b]) {
      for (const addr of end.addresses ?? []) {
        await this.ip(end.ns, "addr", "add", addr, "dev", end.name);
      }
      await this.ip(end.ns, "link", "set", end.name, "up");
    }
  }

  /** `sysctl -w key=value` inside `ns` (net.* sysctls are per namespace). */
  async sysctl(ns: string, key: string, value: string | number): Promise<void> {
    await this.exec(ns, "sysctl", ["-q", "-w", `${key}=${value}`]);
  }

  /** Loads an nftables ruleset inside `ns`. */
  async nft(ns: string, ruleset: string): Promise<void> {
    await this.exec(ns, "nft", ["-f", "-"], { stdin: ruleset });
  }

  /**
   * Kills (SIGKILL) whatever still runs in the lab's namespaces, then deletes them. Never
   * throws; safe to call twice. Returns what could not be cleaned up.
   */
  async close(): Promise<string[]> {
    if (this.#closed) return [];
    this.#closed = true;
    const problems: string[] = [];
    for (const ns of [...this.#namespaces].reverse()) {
      const pids = await run("ip", ["netns", "pids", ns], { allowFailure: true, timeoutMs: 5_000 })
        .then((r) => r.stdout.split(/\s+/).filter((p) => /^\d+$/.test(p)).map(Number))
        .catch(() => [] as number[]);
      for (const pid of pids) {
        try {
          Deno.kill(pid, "SIGKILL");
        } catch {
          // Exited meanwhile.
        }
      }
      const r = await run("ip", ["netns", "del", ns], { allowFailure: true, timeoutMs: 10_000 })
        .catch((e: Error) => ({ code: -1, stderr: e.message }));
      if (r.code !== 0) problems.push(`ip netns del ${ns}: ${r.stderr.trim()}`);
    }
    this.#namespaces.length = 0;
    return problems;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    const problems = await this.close();
    for (const p of problems) console.error(`Cleanup: ${p}`);
  }

  #check(ns: string): void {
    if (!this.#namespaces.includes(ns)) {
      throw new TypeError(`Cannot use namespace ${ns}: not created by this lab`);
    }
  }
}
