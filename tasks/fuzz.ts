/**
 * `deno task fuzz`: a long run of the IPFIX decoder against mutated messages and garbage, the
 * same cases as `src/ipfix/fuzz_test.ts` but many more of them. The decoder must return or throw
 * a TruncatedError or MalformedError: any other error, or a case that hangs, fails the run.
 *
 * The cases run in a worker so that a hang is caught: the main thread watches the worker's
 * progress and names the case that stopped it.
 *
 * @module
 */

import {
  type CaseFailure,
  describeFailure,
  type FuzzCase,
  fuzzCase,
  garbageCase,
  newStats,
  runCase,
  type RunStats,
  truncationCases,
} from "../src/ipfix/_fuzz_corpus.ts";
import { toHex } from "../src/ipfix/values.ts";
import { createLogger } from "../src/log/mod.ts";
import { parseFlags } from "./_cli.ts";

const USAGE = `Usage: deno task fuzz [-- [--iterations N] [--seed S] [--timeout SECONDS]]
       deno task fuzz -- --seed S (--case I | --garbage I)
       deno task fuzz -- --truncation I

Decodes mutated IPFIX messages (the Antrea IPv4 and IPv6 flow templates with realistic records,
an all-types template, options templates, template-only and withdrawal messages) and random
garbage. Every case must decode or throw TruncatedError or MalformedError; any other error or a
hang is a failure, reported with the seed and case that reproduce it.

  --iterations N   mutation cases to run (default 5000000); N/10 garbage cases and every
                   truncation of every corpus message run too
  --seed S         seed of the run, an unsigned 32-bit integer (default: random, printed)
  --timeout SEC    seconds without progress that count as a hang (default 10)
  --case I         replay mutation case I of seed S and print it
  --garbage I      replay garbage case I of seed S and print it
  --truncation I   replay truncation case I and print it
  -h, --help       this help

Progress goes to stderr as JSON lines, the summary to stdout. Exit status: 0 when every case
passed, 1 on a failure or hang, 2 on a bad flag.`;

const WORKER_NAME = "flowvis-fuzz-worker";

/** Phases of a run, in order; the index is what the worker reports. */
const PHASES = ["truncation", "garbage", "random"] as const;
type Phase = typeof PHASES[number];

/** Messages from the worker. */
type FromWorker =
  | { type: "progress"; phase: Phase; done: number; stats: RunStats }
  | { type: "failure"; text: string }
  | { type: "done"; stats: RunStats; failures: number; foreign: number };

interface Job {
  seed: number;
  iterations: number;
  /** Shared with the main thread: [phase index, case index being decoded]. */
  current: SharedArrayBuffer;
}

/** How many failures are printed in full. */
const MAX_PRINTED = 10;

function isWorker(): boolean {
  return (globalThis as unknown as { name?: string }).name === WORKER_NAME;
}

// ---------------------------------------------------------------------------------------------
// Worker side

function workerMain(): void {
  const scope = globalThis as unknown as {
    postMessage(message: FromWorker): void;
    onmessage: ((e: MessageEvent<Job>) => void) | null;
    close(): void;
  };
  scope.onmessage = (e) => {
    const { seed, iterations } = e.data;
    const current = new Int32Array(e.data.current);
    const stats = newStats();
    let failures = 0;
    let foreign = 0;
    let lastReport = performance.now();
    const report = (phase: Phase, done: number) => {
      const now = performance.now();
      if (now - lastReport < 1000) return;
      lastReport = now;
      scope.postMessage({ type: "progress", phase, done, stats: { ...stats } });
    };
    const one = (phase: Phase, c: FuzzCase, done: number) => {
      Atomics.store(current, 0, PHASES.indexOf(phase));
      Atomics.store(current, 1, c.index);
      const f: CaseFailure | undefined = runCase(c, stats);
      if (f) {
        failures++;
        if (f.foreign) foreign++;
        if (failures <= MAX_PRINTED) {
          scope.postMessage({ type: "failure", text: describeFailure(seed, f) });
        }
      }
      if ((done & 1023) === 0) report(phase, done);
    };
    let n = 0;
    for (const c of truncationCases()) one("truncation", c, n++);
    const garbage = Math.ceil(iterations / 10);
    for (let i = 0; i < garbage; i++) one("garbage", garbageCase(seed, i), i);
    for (let i = 0; i < iterations; i++) one("random", fuzzCase(seed, i), i);
    scope.postMessage({ type: "done", stats, failures, foreign });
    scope.close();
  };
}

// ---------------------------------------------------------------------------------------------
// Main side

function parseUint(flag: string, v: string | boolean | undefined, max: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== "string" || !/^\d+$/.test(v) || !Number.isSafeInteger(n) || n > max) {
    console.error(`Invalid ${flag} ${v}: expected an integer from 0 to ${max}\n\n${USAGE}`);
    Deno.exit(2);
  }
  return n;
}

/** Replays one case in this thread and prints it; returns the exit status. */
function replay(seed: number | undefined, kind: FuzzCase["kind"], index: number): number {
  let c: FuzzCase | undefined;
  if (kind === "truncation") {
    let i = 0;
    for (const t of truncationCases()) {
      if (i++ === index) {
        c = t;
        break;
      }
    }
    if (!c) {
      console.error(`No truncation case ${index}: there are ${i}`);
      return 2;
    }
  } else {
    if (seed === undefined) {
      console.error(`--${kind === "random" ? "case" : kind} needs --seed\n\n${USAGE}`);
      return 2;
    }
    c = kind === "random" ? fuzzCase(seed, index) : garbageCase(seed, index);
  }
  console.log(`${kind} case ${index}${seed === undefined ? "" : ` of seed ${seed}`}`);
  console.log(`  ${c.description}`);
  console.log(`  primed with templates ${c.prime.map((t) => t.id).join(", ") || "none"}`);
  c.messages.forEach((m, i) => console.log(`  message ${i} (${m.length} octets): ${toHex(m)}`));
  const stats = newStats();
  const f = runCase(c, stats);
  if (f) {
    console.log(describeFailure(seed ?? 0, f));
    return 1;
  }
  console.log(
    `  ok: ${stats.decoded} decoded (${stats.records} records), ${stats.truncated} truncated, ` +
      `${stats.malformed} malformed`,
  );
  return 0;
}

async function main(): Promise<number> {
  const flags = parseFlags(USAGE, {
    iterations: { type: "string" },
    seed: { type: "string" },
    timeout: { type: "string" },
    case: { type: "string" },
    garbage: { type: "string" },
    truncation: { type: "string" },
  });
  const seedFlag = parseUint("--seed", flags.seed, 0xffffffff);
  const replays = (["case", "garbage", "truncation"] as const).filter((k) =>
    flags[k] !== undefined
  );
  if (replays.length > 1) {
    console.error(`Give one of --case, --garbage and --truncation\n\n${USAGE}`);
    return 2;
  }
  if (replays.length === 1) {
    const k = replays[0]!;
    const index = parseUint(`--${k}`, flags[k], 0x7fffffff)!;
    return replay(seedFlag, k === "case" ? "random" : k, index);
  }
  const iterations = parseUint("--iterations", flags.iterations, 0x7fffffff) ?? 5_000_000;
  const timeoutMs = (parseUint("--timeout", flags.timeout, 86400) ?? 10) * 1000;
  const seed = seedFlag ?? crypto.getRandomValues(new Uint32Array(1))[0]!;
  const log = createLogger("fuzz");
  log.info("Fuzzing the IPFIX decoder", { seed, iterations, garbage: Math.ceil(iterations / 10) });

  const current = new SharedArrayBuffer(8);
  const cur = new Int32Array(current);
  const worker = new Worker(import.meta.url, { type: "module", name: WORKER_NAME });
  worker.postMessage({ seed, iterations, current } satisfies Job);
  const started = performance.now();
  let lastProgress = started;
  let lastSeen = "";
  let failures = 0;
  let foreign = 0;
  const result = await new Promise<{ stats?: RunStats; hang?: string; crash?: string }>(
    (resolve) => {
      const watchdog = setInterval(() => {
        const seen = `${Atomics.load(cur, 0)}:${Atomics.load(cur, 1)}`;
        if (seen !== lastSeen) {
          lastSeen = seen;
          lastProgress = performance.now();
          return;
        }
        if (performance.now() - lastProgress > timeoutMs) {
          clearInterval(watchdog);
          worker.terminate();
          const phase = PHASES[Atomics.load(cur, 0)] ?? "truncation";
          const index = Atomics.load(cur, 1);
          const how = phase === "truncation"
            ? `--truncation ${index}`
            : `--seed ${seed} --${phase === "random" ? "case" : phase} ${index}`;
          resolve({
            hang: `${phase} case ${index} made no progress for ${timeoutMs / 1000} s: ` +
              `deno task fuzz -- ${how}`,
          });
        }
      }, 250);
      worker.onmessage = (e: MessageEvent<FromWorker>) => {
        const m = e.data;
        if (m.type === "progress") {
          const s = (performance.now() - started) / 1000;
          log.info("Progress", {
            phase: m.phase,
            done: m.done,
            of: m.phase === "random" ? iterations : undefined,
            seconds: Math.round(s),
            failures,
            ...m.stats,
          });
        } else if (m.type === "failure") {
          failures++;
          console.log(m.text + "\n");
        } else {
          clearInterval(watchdog);
          failures = m.failures;
          foreign = m.foreign;
          resolve({ stats: m.stats });
        }
      };
      worker.onerror = (e) => {
        e.preventDefault();
        clearInterval(watchdog);
        worker.terminate();
        resolve({ crash: e.message });
      };
    },
  );
  const seconds = (performance.now() - started) / 1000;
  if (result.hang || result.crash) {
    console.log(`FAIL (seed ${seed}): ${result.hang ?? `worker crashed: ${result.crash}`}`);
    return 1;
  }
  const s = result.stats!;
  console.log(
    [
      `${failures === 0 ? "ok" : "FAIL"}: seed ${seed}, ${s.cases} cases in ${
        seconds.toFixed(1)
      } s ` +
      `(${Math.round(s.cases / seconds)}/s)`,
      `  decoded ${s.decoded} messages with ${s.records} records; ` +
      `${s.truncated} TruncatedError, ${s.malformed} MalformedError`,
      `  unexpected outcomes: ${failures}` +
      (foreign ? ` (${foreign} RangeError or SyntaxError not from the codec)` : "") +
      (failures > MAX_PRINTED ? `; the first ${MAX_PRINTED} are printed above` : ""),
    ].join("\n"),
  );
  return failures === 0 ? 0 : 1;
}

if (isWorker()) workerMain();
else if (import.meta.main) Deno.exit(await main());
