/**
 * `deno task bench conntrack`: the time of one agent poll of a 100k-entry conntrack table
 * (`Conntrack.dump()`, reading every field), next to `conntrack -L -o extended > /dev/null` on
 * the same table in the same run, and the agent's memory and CPU for that table.
 *
 * The table lives in a network namespace that the benchmark creates and deletes; its entries
 * are created with `conntrack -R` (the batch form of `conntrack -I`). The poller is a child
 * process inside the namespace: this file re-run with `--role poll`.
 *
 * @module
 */

import process from "node:process";
import { parseFlags } from "../_cli.ts";

const USAGE =
  `Usage: deno task bench conntrack [--entries N] [--rounds N] [--ips realistic|distinct]
                                 [--pin] [--json FILE]

Creates a network namespace with N conntrack entries (conntrack -R, the batch form of -I; all
IPv4, 80 % TCP ESTABLISHED, 20 % UDP, with marks; accounting and timestamps on), then, in
alternating rounds on the same table:
  poll      Conntrack.dump(): one agent poll reading every field of every entry (in-process time)
  scan      Conntrack.scan() reading only id, counters and TCP state (a poll of known entries)
  conntrack conntrack -L -o extended > /dev/null (process wall time, exec included)
and prints the medians of wall and CPU time, the ratios poll / conntrack (target <= 1.0), the
poll's CPU share at a 5 s poll interval, and the memory of holding one dump (heap, RSS).

  --entries  conntrack entries (default 100000)
  --rounds   measured rounds after 2 warm-up rounds (default 7)
  --ips      realistic (default): 250 pod addresses talking to 4096 peers;
             distinct: every entry has its own two addresses (worst case for address strings)
  --pin      pin the poller and conntrack to core 0 (taskset -c 0); off by default, as other
             pinned work on core 0 would slow both
  --json     also write every figure to FILE as JSON
  -h, --help this help

Needs root (network namespaces), conntrack (conntrack package), iproute2 and
libnetfilter-conntrack3.`;

const SELF = new URL(import.meta.url).pathname;
const decoder = new TextDecoder();
const encoder = new TextEncoder();

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

// ---------------------------------------------------------------------------------------------
// The poller (child process in the namespace): one command per stdin line, one JSON line back.

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

async function rolePoll(): Promise<void> {
  const { Conntrack } = await import("../../src/conntrack/mod.ts");
  using ct = new Conntrack();
  let held: unknown[] | undefined;
  // Synchronous, so that no suspended frame keeps a dump alive after its answer.
  const handle = (cmd: string): unknown => {
    if (cmd === "poll") {
      const c0 = cpuMs();
      const t0 = performance.now();
      const entries = ct.dump();
      const ms = performance.now() - t0;
      return { ms, cpuMs: cpuMs() - c0, n: entries.length };
    }
    if (cmd === "scan") {
      let sum = 0;
      const t0 = performance.now();
      const n = ct.scan((v) => {
        sum += v.id + v.origPackets + v.origBytes + v.replyPackets + v.replyBytes +
          (v.tcpState === undefined ? 0 : 1);
      });
      return { ms: performance.now() - t0, n, sum };
    }
    if (cmd === "rss") {
      const before = Deno.memoryUsage();
      held = undefined;
      gc();
      const after = Deno.memoryUsage();
      return {
        rss: before.rss,
        heapUsed: before.heapUsed,
        rssAfterGc: after.rss,
        heapAfterGc: after.heapUsed,
      };
    }
    if (cmd === "mem") {
      held = undefined;
      gc();
      const before = Deno.memoryUsage();
      held = ct.dump();
      gc();
      const after = Deno.memoryUsage();
      return {
        n: held.length,
        rssBefore: before.rss,
        rssAfter: after.rss,
        heapBefore: before.heapUsed,
        heapAfter: after.heapUsed,
      };
    }
    return { error: `unknown command ${cmd}` };
  };
  let buf = "";
  for await (const chunk of Deno.stdin.readable) {
    buf += decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const cmd = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      Deno.stdout.writeSync(encoder.encode(JSON.stringify(handle(cmd)) + "\n"));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The benchmark.

async function sh(
  cmd: string,
  args: string[],
  stdin?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = new Deno.Command(cmd, {
    args,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(encoder.encode(stdin));
    await w.close();
  }
  const out = await child.output();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

async function must(cmd: string, args: string[], stdin?: string): Promise<string> {
  const r = await sh(cmd, args, stdin);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")} exited with ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** `conntrack -R` lines (the `-o save` format) for `n` entries. */
function entryLines(n: number, distinct: boolean): string {
  const lines: string[] = [];
  const ports = [443, 80, 53, 8080, 5432, 6379, 9092, 3306];
  for (let i = 0; i < n; i++) {
    let src: string, dst: string;
    if (distinct) {
      src = `10.${64 + (i >>> 16)}.${(i >>> 8) & 255}.${i & 255}`;
      dst = `172.${16 + (i >>> 16)}.${i & 255}.${(i >>> 8) & 255}`;
    } else {
      const pod = i % 250;
      const peer = Math.floor(i / 250) % 4096;
      src = `10.244.${pod >>> 8}.${(pod & 255) + 2}`;
      dst = peer < 2048
        ? `10.96.${peer >>> 8}.${peer & 255}`
        : `10.244.${16 + ((peer - 2048) >>> 8)}.${(peer - 2048) & 255}`;
    }
    const sport = 10000 + ((i * 7919) % 50000);
    const dport = ports[i % ports.length]!;
    const mark = i % 16 === 0 ? ` -m ${i & 0xffff}` : "";
    if (i % 5 === 4) {
      lines.push(
        `-A -t 3600 -u SEEN_REPLY${mark} -s ${src} -d ${dst} -p udp --sport ${sport} --dport ${dport}`,
      );
    } else {
      lines.push(
        `-A -t 3600 -u SEEN_REPLY,ASSURED${mark} -s ${src} -d ${dst} -p tcp --sport ${sport} ` +
          `--dport ${dport} --state ESTABLISHED`,
      );
    }
  }
  return lines.join("\n") + "\n";
}

class Poller {
  #child: Deno.ChildProcess;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #lines: AsyncIterator<string>;

  constructor(ns: string, pin: boolean) {
    const deno = [
      Deno.execPath(),
      "run",
      "--no-prompt",
      "--allow-ffi",
      "--v8-flags=--expose-gc",
      SELF,
      "--role",
      "poll",
    ];
    const args = ["netns", "exec", ns, ...(pin ? ["taskset", "-c", "0"] : []), ...deno];
    this.#child = new Deno.Command("ip", {
      args,
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#writer = this.#child.stdin.getWriter();
    this.#lines = this.#child.stdout
      .pipeThrough(new TextDecoderStream())
      .pipeThrough(lineSplitter())[Symbol.asyncIterator]();
  }

  async ask<T>(cmd: string): Promise<T> {
    await this.#writer.write(encoder.encode(cmd + "\n"));
    const r = await this.#lines.next();
    if (r.done) throw new Error(`The poller exited before answering "${cmd}"`);
    return JSON.parse(r.value) as T;
  }

  async close(): Promise<void> {
    await this.#writer.close().catch(() => {});
    const timer = setTimeout(() => this.#child.kill("SIGKILL"), 5000);
    await this.#child.status;
    clearTimeout(timer);
    await this.#lines.return?.();
  }
}

function lineSplitter(): TransformStream<string, string> {
  let buf = "";
  return new TransformStream({
    transform(chunk, ctl) {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        ctl.enqueue(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
    },
  });
}

/**
 * Wall time of `conntrack -L -o extended > /dev/null` in the namespace (exec included), and its
 * CPU time (user + system, in 10 ms ticks: the shell's cutime + cstime once it waited for it).
 */
async function timeConntrack(
  ns: string,
  pin: boolean,
  entries: number,
): Promise<{ ms: number; cpuMs: number }> {
  const script = 's=$(date +%s%N); conntrack -L -o extended >/dev/null 2>"$1"; e=$(date +%s%N); ' +
    'echo $((e - s)) $(cut -d" " -f16,17 /proc/$$/stat)';
  const tmp = await Deno.makeTempFile({ prefix: "flowvis-bench-ct-" });
  try {
    const out = await must("ip", [
      "netns",
      "exec",
      ns,
      ...(pin ? ["taskset", "-c", "0"] : []),
      "sh",
      "-c",
      script,
      "sh",
      tmp,
    ]);
    const said = await Deno.readTextFile(tmp);
    if (!said.includes(`${entries} flow entries have been shown`)) {
      throw new Error(`conntrack -L did not list ${entries} entries: ${said.trim()}`);
    }
    const [ns_, cutime, cstime] = out.trim().split(" ").map(Number);
    return { ms: ns_! / 1e6, cpuMs: (cutime! + cstime!) * 10 };
  } finally {
    await Deno.remove(tmp).catch(() => {});
  }
}

async function main(args: string[]): Promise<void> {
  if (args[0] === "--role" && args[1] === "poll") return await rolePoll();
  const flags = parseFlags(USAGE, {
    entries: { type: "string", default: "100000" },
    rounds: { type: "string", default: "7" },
    ips: { type: "string", default: "realistic" },
    pin: { type: "boolean" },
    json: { type: "string" },
  }, args);
  const entries = Number(flags.entries);
  const rounds = Number(flags.rounds);
  if (!Number.isInteger(entries) || entries < 1 || entries > 1_000_000) {
    console.error(`--entries must be an integer from 1 to 1000000\n\n${USAGE}`);
    Deno.exit(2);
  }
  if (!Number.isInteger(rounds) || rounds < 1) {
    console.error(`--rounds must be a positive integer\n\n${USAGE}`);
    Deno.exit(2);
  }
  if (flags.ips !== "realistic" && flags.ips !== "distinct") {
    console.error(`--ips must be realistic or distinct\n\n${USAGE}`);
    Deno.exit(2);
  }
  if (Deno.uid() !== 0) {
    console.error("deno task bench conntrack needs root (it creates a network namespace)");
    Deno.exit(1);
  }
  const pin = flags.pin === true && (await sh("taskset", ["-c", "0", "true"]).catch(() => null))
        ?.code === 0;
  const ns = `fvbench-ct-${Deno.pid}`;
  await must("ip", ["netns", "add", ns]);
  let poller: Poller | undefined;
  try {
    await must("ip", [
      "netns",
      "exec",
      ns,
      "sh",
      "-c",
      "echo 1 > /proc/sys/net/netfilter/nf_conntrack_acct && " +
      "echo 1 > /proc/sys/net/netfilter/nf_conntrack_timestamp",
    ]);
    // Deno reads /proc only with --allow-all: cat reads it.
    const max = Number(await must("cat", ["/proc/sys/net/netfilter/nf_conntrack_max"]));
    if (max < entries) {
      throw new Error(
        `net.netfilter.nf_conntrack_max is ${max}, below --entries ${entries}: raise it first`,
      );
    }
    const lines = entryLines(entries, flags.ips === "distinct");
    const t0 = performance.now();
    await must("ip", ["netns", "exec", ns, "conntrack", "-R", "-"], lines);
    const insertS = (performance.now() - t0) / 1000;
    const count = Number(await must("ip", ["netns", "exec", ns, "conntrack", "-C"]));
    if (count !== entries) throw new Error(`conntrack -C says ${count} entries, not ${entries}`);
    console.log(
      `${entries} entries (${flags.ips} addresses) created with conntrack -R in ${
        insertS.toFixed(1)
      } s; poller and conntrack ${pin ? "pinned to core 0" : "not pinned"}`,
    );

    poller = new Poller(ns, pin);
    // Memory first, in a fresh poller: RSS and heap before any dump, then holding one.
    const mem = await poller.ask<{
      n: number;
      rssBefore: number;
      rssAfter: number;
      heapBefore: number;
      heapAfter: number;
    }>("mem");
    const polls: number[] = [], pollCpus: number[] = [], scans: number[] = [];
    const cts: number[] = [], ctCpus: number[] = [];
    for (let r = 0; r < rounds + 2; r++) {
      const p = await poller.ask<{ ms: number; cpuMs: number; n: number }>("poll");
      if (p.n !== entries) throw new Error(`The poll returned ${p.n} entries, not ${entries}`);
      const s = await poller.ask<{ ms: number; n: number }>("scan");
      const c = await timeConntrack(ns, pin, entries);
      if (r < 2) continue;
      polls.push(p.ms);
      pollCpus.push(p.cpuMs);
      scans.push(s.ms);
      cts.push(c.ms);
      ctCpus.push(c.cpuMs);
    }
    const after = await poller.ask<
      { rss: number; heapUsed: number; rssAfterGc: number; heapAfterGc: number }
    >("rss");
    const figures = {
      entries,
      ips: flags.ips,
      pinned: pin,
      insertSeconds: insertS,
      rounds,
      pollMs: median(polls),
      scanMs: median(scans),
      conntrackMs: median(cts),
      ratio: median(polls) / median(cts),
      scanRatio: median(scans) / median(cts),
      pollCpuMs: median(pollCpus),
      conntrackCpuMs: median(ctCpus),
      cpuRatio: median(pollCpus) / median(ctCpus),
      cpuShareAt5s: median(pollCpus) / 5000,
      rssBeforeBytes: mem.rssBefore,
      heapBeforeBytes: mem.heapBefore,
      rssDeltaBytes: mem.rssAfter - mem.rssBefore,
      heapDeltaBytes: mem.heapAfter - mem.heapBefore,
      rssAfterRoundsBytes: after.rss,
      heapAfterRoundsBytes: after.heapUsed,
      rssAfterRoundsGcBytes: after.rssAfterGc,
      heapAfterRoundsGcBytes: after.heapAfterGc,
      samples: {
        pollMs: polls,
        pollCpuMs: pollCpus,
        scanMs: scans,
        conntrackMs: cts,
        conntrackCpuMs: ctCpus,
      },
    };
    const f = (x: number) => x.toFixed(1).padStart(7);
    const mb = (x: number) => (x / 1048576).toFixed(1);
    console.log(
      `
                                          median wall ms    ratio   median CPU ms   ratio
  poll: Conntrack.dump(), every field    ${f(figures.pollMs)}          ${
        figures.ratio.toFixed(2)
      }x  ${f(figures.pollCpuMs)}         ${figures.cpuRatio.toFixed(2)}x   (target <= 1.0)
  scan: id, counters, TCP state only     ${f(figures.scanMs)}          ${
        figures.scanRatio.toFixed(2)
      }x
  conntrack -L -o extended > /dev/null   ${f(figures.conntrackMs)}          1.00x  ${
        f(figures.conntrackCpuMs)
      }         1.00x

  CPU (user + system; conntrack's in 10 ms ticks); at a 5 s poll interval the poll takes ${
        (figures.cpuShareAt5s * 100).toFixed(1)
      } % of one core
  memory: poller RSS ${mb(mem.rssBefore)} MiB, heap ${
        mb(mem.heapBefore)
      } MiB before any dump; holding one dump of ${mem.n} ` +
        `entries: heap +${mb(figures.heapDeltaBytes)} MiB (${
          (figures.heapDeltaBytes / mem.n).toFixed(0)
        } B/entry), RSS +${mb(figures.rssDeltaBytes)} MiB
  after ${rounds + 2} more polls: RSS ${mb(after.rss)} MiB, heap ${mb(after.heapUsed)} MiB ` +
        `(garbage not yet collected); after a full GC: RSS ${mb(after.rssAfterGc)} MiB, heap ${
          mb(after.heapAfterGc)
        } MiB`,
    );
    if (typeof flags.json === "string") {
      await Deno.writeTextFile(flags.json, JSON.stringify(figures, null, 2) + "\n");
    }
  } finally {
    await poller?.close();
    await sh("ip", ["netns", "del", ns]);
  }
}

/** The benchmark's entry point, as `tasks/bench.ts` calls it. */
export { main, main as run };

if (import.meta.main) await main(Deno.args);
