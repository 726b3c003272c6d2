/**
 * `deno task bench ipfix`: records per second of the IPFIX codec and of the collector over TCP
 * and UDP, next to nfcapd. The codec encodes and decodes the Antrea IPv4 flow record; the
 * collecting process ingests over loopback TCP and UDP, with nfcapd ingesting the same UDP
 * stream in the same run.
 *
 * Every measured process is pinned to core 0 (`taskset -c 0`); senders run on core 1. The
 * benchmark re-runs this file with `--role …` for each of those processes.
 *
 * @module
 */

import {
  antreaFlowTemplate,
  CollectingProcess,
  compileTemplate,
  decodeMessage,
  type EncodedMessage,
  MessageEncoder,
  TemplateCache,
  UDP_TEMPLATE_LIFETIME_MS,
  udpMessageSize,
} from "../../src/ipfix/mod.ts";
import { openUdpReceiver, type UdpReceiver } from "../../src/ipfix/udp_receiver.ts";
import { silentLogger } from "../../src/log/mod.ts";
import { parseFlags } from "../_cli.ts";
import { antreaRecords } from "./_antrea_records.ts";
import { UdpSender } from "./_udp_sender.ts";

const USAGE = `Usage: deno task bench ipfix [--quick] [--only codec,tcp,udp] [--udp RECEIVERS]
                             [--rcvbuf OCTETS] [--start RATE] [--json FILE]

Measures, on one core each (taskset -c 0; senders on core 1):
  codec  encode and decode of the Antrea IPv4 flow record (template 256, all 37 elements),
         10000 distinct records of a simulated cluster (1000 pods, 10 namespaces, 20 nodes),
         in 64 KiB (TCP/TLS) and 1452-octet (UDP, MTU 1500) messages; median of rounds,
         the four measures taking turns round by round; next to libfixbuf (C) encoding and
         decoding the same records and messages (tasks/bench/fixbuf_peer.c, built with gcc
         when pkg-config finds libfixbuf: Debian packages gcc, pkg-config, libfixbuf-dev),
         run before and after flowvis
  tcp    collector ingest over loopback TCP, a sender process writing pre-encoded messages
  udp    collector ingest over loopback UDP: the highest rate each receiver takes with under
         0.1 % loss (to within 5 %), from a paced sender of the same 1452-octet datagrams,
         next to nfcapd

  --quick    about one minute instead of about seven (fewer, shorter rounds and trials)
  --only     which parts to run (default codec,tcp,udp)
  --udp      UDP receivers, comma separated (default collector,collector-nf,nfcapd):
               collector      CollectingProcess as it is (its UDP path), every element decoded
               collector-nf   CollectingProcess decoding only the 12 elements nfcapd keeps of
                              this record (5-tuple, delta counters, end reason, flow times)
               collector-nostr
                              CollectingProcess decoding every element but the 14 strings:
                              what the strings cost, by difference with collector
               recvmmsg       udp_receiver.ts (recvmmsg through FFI) feeding decodeMessage
               nfcapd         nfcapd from nfdump
               listen-raw     Deno.listenDatagram, receive only (no decoding)
               dgram-raw      node:dgram, receive only
               recvmmsg-raw   udp_receiver.ts, receive only
               listen-decode  Deno.listenDatagram feeding decodeMessage, no collector around it
  --rcvbuf   socket receive buffer for every UDP receiver, set as net.core.rmem_default for the
             run and restored after (default 4194304; 0 leaves the system default)
  --start    the UDP search's first rate in records/s (default 25000, 50000 with --quick):
             start near the limits to spend the trials there
  --json     also write every figure to FILE as JSON
  -h, --help this help

Targets on one core: decode >= 1.5M records/s, encode >= 1M records/s,
collector ingest >= 1.0x nfcapd, judged twice: doing the same work (collector-nf: nfcapd
keeps 12 of the record's 37 elements) and decoding every element (collector). Needs taskset,
nfcapd and nfdump (nfdump package) for the full comparison, and root to change
net.core.rmem_default. The UDP sender sends with sendmmsg(2) and the UDP receivers may use
recvmmsg(2): their processes run with --allow-ffi. Traffic stays on 127.0.0.1; every process it
starts ends with it.`;

const SELF = new URL(import.meta.url).pathname;
const HOST = "127.0.0.1";
const TARGET_DECODE = 1_500_000;
const TARGET_ENCODE = 1_000_000;
const LOSS_LIMIT = 0.001;

/** Permissions of each child role, spelled out. */
const ROLE_FLAGS: Record<string, string[]> = {
  codec: [],
  "tcp-collector": [`--allow-net=${HOST}`],
  "tcp-sender": [`--allow-net=${HOST}`],
  "udp-receiver": [
    `--allow-net=${HOST}`,
    "--allow-ffi",
    "--unstable-net",
    "--v8-flags=--expose-gc",
  ],
  "udp-sender": ["--allow-ffi", "--v8-flags=--expose-gc"],
};

// ---------------------------------------------------------------------------------------------
// Shared: the records and their messages.

const template = compileTemplate(antreaFlowTemplate(4));

/** Records the codec measures encode and decode, and libfixbuf too. */
const CODEC_RECORDS = 10_000;
/** The codec's message size limits: TCP/TLS, and UDP at MTU 1500. */
const CODEC_SIZES = [65535, udpMessageSize(1500)];

function encodeAll(maxMessageSize: number, count = CODEC_RECORDS): EncodedMessage[] {
  const enc = new MessageEncoder({ observationDomainId: 1, maxMessageSize, clock: () => 0 });
  for (const r of antreaRecords(count)) enc.addRecord(template, r);
  return enc.flush();
}

function templateMessage(maxMessageSize: number): Uint8Array {
  const enc = new MessageEncoder({ observationDomainId: 1, maxMessageSize, clock: () => 0 });
  enc.addTemplate(template.template);
  return enc.flush()[0]!.bytes;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function out(value: unknown): void {
  console.log(JSON.stringify(value));
}

async function stdinClosed(): Promise<void> {
  const buf = new Uint8Array(64);
  while ((await Deno.stdin.read(buf)) !== null) { /* wait for EOF */ }
}

// ---------------------------------------------------------------------------------------------
// Roles (child processes).

interface CodecFigures {
  messageSize: number;
  records: number;
  avgRecordOctets: number;
  recordsPerMessage: number;
  encode: number[];
  decode: number[];
}

/**
 * Encode and decode rounds; prints one JSON line per message size. The four measures take turns
 * round by round, so that a spell of the host's speed (it drifts up to 2x within a minute) falls
 * on all of them alike instead of on whichever ran through it.
 */
function roleCodec(quick: boolean): void {
  const rounds = quick ? 3 : 7;
  const warmup = quick ? 2 : 3;
  const roundMs = quick ? 400 : 800;
  const records = antreaRecords(CODEC_RECORDS);
  const runs = CODEC_SIZES.map((size) => {
    const enc = new MessageEncoder({ observationDomainId: 1, maxMessageSize: size });
    for (const r of records) enc.addRecord(template, r);
    const cache = new TemplateCache();
    decodeMessage(templateMessage(size), cache, { session: "bench" });
    return { size, enc, msgs: enc.flush(), cache, encode: [] as number[], decode: [] as number[] };
  });
  /** Records per second of `pass` (which returns the records it handled) over one round. */
  const round = (pass: () => number): number => {
    let n = 0;
    const t0 = performance.now();
    let t = t0;
    while (t - t0 < roundMs) {
      n += pass();
      t = performance.now();
    }
    return n / ((t - t0) / 1000);
  };
  for (let r = 0; r < warmup + rounds; r++) {
    for (const run of runs) {
      const encode = round(() => {
        for (let i = 0; i < records.length; i++) run.enc.addRecord(template, records[i]!);
        run.msgs = run.enc.flush();
        return records.length;
      });
      const decode = round(() => {
        let n = 0;
        for (let i = 0; i < run.msgs.length; i++) {
          n += decodeMessage(run.msgs[i]!.bytes, run.cache, { session: "bench" }).recordCount;
        }
        return n;
      });
      if (r >= warmup) {
        run.encode.push(encode);
        run.decode.push(decode);
      }
    }
  }
  for (const { size, msgs, encode, decode } of runs) {
    const octets = msgs.reduce((a, m) => a + m.bytes.length, 0);
    const figures: CodecFigures = {
      messageSize: size,
      records: records.length,
      avgRecordOctets: (octets - msgs.length * 20) / records.length,
      recordsPerMessage: records.length / msgs.length,
      encode,
      decode,
    };
    out(figures);
  }
}

/** A TCP collecting process; samples its record count until stdin closes. */
async function roleTcpCollector(): Promise<void> {
  const collector = new CollectingProcess({
    address: `${HOST}:0:tcp`,
    onMessage: () => {},
    logger: silentLogger,
  });
  await collector.listen();
  out({ port: collector.port });
  const samples: [number, number][] = [];
  const timer = setInterval(() => samples.push([performance.now(), collector.stats.records]), 100);
  await stdinClosed();
  clearInterval(timer);
  await collector.close();
  out({ rate: steadyRate(samples), records: collector.stats.records, stats: collector.stats });
}

/** Rate over the samples where the count grew, leaving out the first and last such interval. */
function steadyRate(samples: [number, number][]): number {
  const moving: number[] = [];
  for (let i = 1; i < samples.length; i++) {
    if (samples[i]![1] > samples[i - 1]![1]) moving.push(i);
  }
  if (moving.length < 3) return 0;
  const a = samples[moving[1]! - 1]!;
  const b = samples[moving[moving.length - 2]!]!;
  return (b[1] - a[1]) / ((b[0] - a[0]) / 1000);
}

/** Writes 64 KiB messages to a TCP collector as fast as it reads, for `seconds`. */
async function roleTcpSender(port: number, seconds: number): Promise<void> {
  const msgs = encodeAll(65535);
  const conn = await Deno.connect({ hostname: HOST, port, transport: "tcp" });
  const write = async (b: Uint8Array) => {
    let o = 0;
    while (o < b.length) o += await conn.write(b.subarray(o));
  };
  await write(templateMessage(65535));
  let seq = 0;
  let records = 0;
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    for (const m of msgs) {
      new DataView(m.bytes.buffer, m.bytes.byteOffset).setUint32(8, seq);
      seq = (seq + m.recordCount) >>> 0;
      records += m.recordCount;
      await write(m.bytes);
    }
  }
  conn.close();
  out({ records });
}

type UdpKind =
  | "collector"
  | "collector-nf"
  | "collector-nostr"
  | "recvmmsg"
  | "listen-raw"
  | "dgram-raw"
  | "recvmmsg-raw"
  | "listen-decode";

/** A UDP receiver of one kind; prints its port, then its counts once stdin closes. */
async function roleUdpReceiver(kind: UdpKind): Promise<void> {
  let records = () => 0;
  let datagrams = () => 0;
  let extra: () => Record<string, unknown> = () => ({});
  let stop: () => Promise<void>;
  if (kind === "collector" || kind === "collector-nf" || kind === "collector-nostr") {
    const collector = new CollectingProcess({
      address: `${HOST}:0:udp`,
      onMessage: () => {},
      logger: silentLogger,
      ...(kind === "collector-nf"
        ? { elements: NFCAPD_ELEMENTS }
        : kind === "collector-nostr"
        ? { elements: NON_STRING_ELEMENTS }
        : {}),
    });
    await collector.listen();
    out({ port: collector.port });
    records = () => collector.stats.records;
    datagrams = () => collector.stats.messages + collector.stats.datagramsDropped;
    extra = () => ({ lost: collector.stats.lost, unknownSets: collector.stats.unknownSets });
    stop = () => collector.close();
  } else if (kind === "dgram-raw") {
    const dgram = await import("node:dgram");
    const socket = dgram.createSocket("udp4");
    let n = 0;
    socket.on("message", () => n++);
    await new Promise<void>((resolve) => socket.bind(0, HOST, resolve));
    out({ port: socket.address().port });
    datagrams = () => n;
    stop = () => new Promise<void>((resolve) => socket.close(() => resolve()));
  } else if (kind === "listen-raw" || kind === "listen-decode") {
    const conn = Deno.listenDatagram({ transport: "udp", hostname: HOST, port: 0 });
    out({ port: (conn.addr as Deno.NetAddr).port });
    const decode = kind === "listen-decode";
    const cache = new TemplateCache();
    let n = 0;
    let r = 0;
    const loop = (async () => {
      try {
        while (true) {
          const [data, addr] = await conn.receive();
          n++;
          if (decode) {
            const a = addr as Deno.NetAddr;
            r += decodeMessage(data, cache, {
              session: `udp:${a.hostname}:${a.port}`,
              templateLifetimeMs: UDP_TEMPLATE_LIFETIME_MS,
            }).recordCount;
          }
        }
      } catch { /* closed */ }
    })();
    datagrams = () => n;
    records = () => r;
    stop = async () => {
      conn.close();
      await loop;
    };
  } else {
    const rx = openUdpReceiver({ hostname: HOST, port: 0, mode: "recvmmsg" });
    out({ port: rx.port });
    const decode = kind === "recvmmsg";
    const counts = { n: 0, r: 0, errors: 0 };
    const loop = ingest(rx, decode, counts);
    datagrams = () => counts.n;
    records = () => counts.r;
    extra = () => ({ rcvbuf: rx.rcvbuf, kernelDrops: rx.drops, errors: counts.errors });
    stop = async () => {
      rx.close();
      await loop;
    };
  }
  // A line on stdin (the warm-up is over, the sender waits) asks for the counts so far, after a
  // full garbage collection: a fresh process's first old-space collection would otherwise land
  // in the measured phase, where a long-running collector has it long behind it.
  const gc = (globalThis as { gc?: () => void }).gc;
  for await (const _ of stdinLines()) {
    gc?.();
    out({ records: records(), datagrams: datagrams() });
  }
  // End of stdin stops the receiver.
  await stop();
  out({ records: records(), datagrams: datagrams(), ...extra() });
}

/**
 * The orchestrator's lines (ASCII) on stdin, read as bytes. Not through TextDecoderStream: its
 * first chunk changed a prototype that the collector's optimized string decoder depends on
 * ("dependent prototype chain changed"), so every trial began with that decoder thrown out of
 * optimized code (back to the interpreter when the trial started, optimized again 10–20 ms
 * later). Only the flowvis receivers read stdin; nfcapd never paid for it.
 */
async function* stdinLines(): AsyncGenerator<string> {
  const chunk = new Uint8Array(4096);
  let buf = "";
  while (true) {
    const n = await Deno.stdin.read(chunk);
    if (n === null) return;
    for (let k = 0; k < n; k++) buf += String.fromCharCode(chunk[k]!);
    let i;
    while ((i = buf.indexOf("\n")) >= 0) {
      yield buf.slice(0, i);
      buf = buf.slice(i + 1);
    }
  }
}

/** The collector's UDP path over a batch receiver: decode every datagram, count records. */
async function ingest(
  rx: UdpReceiver,
  decode: boolean,
  counts: { n: number; r: number; errors: number },
): Promise<void> {
  const cache = new TemplateCache();
  while (true) {
    const batch = await rx.receive();
    if (batch.length === 0) return;
    counts.n += batch.length;
    if (!decode) continue;
    for (const d of batch) {
      try {
        counts.r += decodeMessage(d.data, cache, {
          session: `udp:${d.address}`,
          templateLifetimeMs: UDP_TEMPLATE_LIFETIME_MS,
        }, d.view).recordCount;
      } catch {
        counts.errors++;
      }
    }
  }
}

/**
 * The warm-up runs at half the trial's rate, at least this many records/s. It lets the receivers'
 * JIT compile the code that runs at that rate: warmed up at 50k records/s only, a fresh collector
 * met a 20-fold step in its first 100 ms at the new rate still running code compiled for the
 * slow paths (socket often empty, short batches), and lost up to 0.5 % at 1M records/s in trials
 * it took without loss after a warm-up at 500k.
 */
const WARMUP_MIN_RATE = 50_000;

/**
 * Sends the template, warms the receiver up, waits for a line on stdin, then sends the data
 * messages at `rate` records/s for `seconds`.
 */
async function roleUdpSender(
  port: number,
  rate: number,
  seconds: number,
  warmSeconds: number,
): Promise<void> {
  const size = udpMessageSize(1500);
  const msgs = encodeAll(size);
  const perDatagram = msgs.reduce((a, m) => a + m.recordCount, 0) / msgs.length;
  // The template leads every round of messages, as an exporter refreshes it over UDP.
  const tx = new UdpSender(
    HOST,
    port,
    [templateMessage(size), ...msgs.map((m) => m.bytes)],
    [0, ...msgs.map((m) => m.recordCount)],
  );
  const datagramRate = (r: number) => (r / perDatagram) * (msgs.length + 1) / msgs.length;
  try {
    const first = tx.sendNext(1);
    await new Promise((r) => setTimeout(r, 100));
    const warm = tx.send({
      rate: datagramRate(Math.max(WARMUP_MIN_RATE, rate / 2)),
      seconds: warmSeconds,
    });
    out({ ...warm, datagrams: warm.datagrams + first });
    for await (const _ of stdinLines()) break;
    (globalThis as { gc?: () => void }).gc?.();
    out(tx.send({ rate: datagramRate(rate), seconds }));
  } finally {
    tx.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Orchestration.

let taskset = true;

/** Every child still running, so that a signal or an error can end them. */
const children = new Set<Deno.ChildProcess>();

/** `argv` run on `core` (through taskset, when there is one). */
function pinned(argv: string[], core: number): string[] {
  return taskset ? ["taskset", "-c", String(core), ...argv] : argv;
}

function spawnRole(role: string, core: number | null, args: string[]): Deno.ChildProcess {
  const deno = [Deno.execPath(), "run", "--no-prompt", ...ROLE_FLAGS[role]!, SELF, "--role", role];
  const argv = core !== null ? pinned(deno, core) : deno;
  const child = new Deno.Command(argv[0]!, {
    args: [...argv.slice(1), ...args],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  children.add(child);
  return child;
}

/** Reads JSON lines from a child's stdout. */
class Lines {
  readonly #reader: ReadableStreamDefaultReader<string>;
  #buf = "";
  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  }
  async next<T>(timeoutMs: number): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#buf.includes("\n")) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error("Timed out waiting for a child process")),
          Math.max(0, deadline - Date.now()),
        );
      });
      try {
        const { value, done } = await Promise.race([this.#reader.read(), timeout]);
        if (done) throw new Error("A child process ended without answering");
        this.#buf += value;
      } finally {
        clearTimeout(timer);
      }
    }
    const i = this.#buf.indexOf("\n");
    const line = this.#buf.slice(0, i);
    this.#buf = this.#buf.slice(i + 1);
    return JSON.parse(line) as T;
  }
  async rest(): Promise<string> {
    let s = this.#buf;
    while (true) {
      const { value, done } = await this.#reader.read();
      if (done) return s;
      s += value;
    }
  }
}

/** Kills a child if it is still running. */
function kill(child: Deno.ChildProcess): void {
  children.delete(child);
  try {
    child.kill("SIGKILL");
  } catch { /* already gone */ }
}

async function closeStdin(child: Deno.ChildProcess): Promise<void> {
  try {
    await child.stdin.close();
  } catch { /* already closed */ }
}

function fmtRate(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : `${(n / 1e3).toFixed(0)}k`;
}

async function runCodec(quick: boolean): Promise<CodecFigures[]> {
  const child = spawnRole("codec", 0, quick ? ["--quick"] : []);
  const lines = new Lines(child.stdout);
  try {
    await closeStdin(child);
    const a = await lines.next<CodecFigures>(120_000);
    const b = await lines.next<CodecFigures>(120_000);
    await child.status;
    return [a, b];
  } finally {
    kill(child);
  }
}

/** libfixbuf's figures for one message size, like {@link CodecFigures}'. */
interface PeerFigures {
  messageSize: number;
  encode: number[];
  decode: number[];
}

const FIXBUF_PEER_SOURCE = new URL("./fixbuf_peer.c", import.meta.url).pathname;

/**
 * Builds the libfixbuf peer in `dir` and writes its inputs there: the template's fields and,
 * per message size, the codec role's messages (template first). Resolves with the peer's
 * version, or with why it cannot run.
 */
async function prepareFixbufPeer(
  dir: string,
  sizes: number[],
): Promise<{ version: string } | { missing: string }> {
  const flags = await commandOutput("pkg-config", ["--cflags", "--libs", "libfixbuf"]);
  const version = await commandOutput("pkg-config", ["--modversion", "libfixbuf"]);
  if (flags === undefined || version === undefined) {
    return {
      missing: "pkg-config does not find libfixbuf (apt-get install pkg-config libfixbuf-dev)",
    };
  }
  const built = await new Deno.Command("gcc", {
    args: ["-O2", "-o", `${dir}/fixbuf_peer`, FIXBUF_PEER_SOURCE, ...flags.split(/\s+/)],
    stdout: "piped",
    stderr: "piped",
  }).output().catch(() => undefined);
  if (!built?.success) {
    const lines = built ? new TextDecoder().decode(built.stderr).trim().split("\n") : ["no gcc"];
    const why = lines.find((l) => l.includes("error:")) ?? lines[0];
    return { missing: `cannot build tasks/bench/fixbuf_peer.c: ${why}` };
  }
  const spec = template.template.fields.map((f) =>
    `${f.element.enterpriseId} ${f.element.id} ${f.length} ${f.element.type} ${f.element.name}`
  );
  await Deno.writeTextFile(`${dir}/spec`, spec.join("\n") + "\n");
  for (const size of sizes) {
    const msgs = [templateMessage(size), ...encodeAll(size).map((m) => m.bytes)];
    const all = new Uint8Array(msgs.reduce((a, m) => a + m.length, 0));
    let o = 0;
    for (const m of msgs) {
      all.set(m, o);
      o += m.length;
    }
    await Deno.writeFile(`${dir}/messages-${size}`, all);
  }
  return { version };
}

/** One run of the libfixbuf peer on core 0: `rounds` of each measure after `warmup`. */
async function runFixbufPeer(
  dir: string,
  size: number,
  warmup: number,
  rounds: number,
  roundMs: number,
): Promise<{ records: number; encode: number[]; decode: number[] }> {
  const argv = pinned([
    `${dir}/fixbuf_peer`,
    `${dir}/spec`,
    `${dir}/messages-${size}`,
    String(size),
    String(warmup),
    String(rounds),
    String(roundMs),
  ], 0);
  const child = new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  children.add(child);
  let o: Deno.CommandOutput;
  try {
    o = await child.output();
  } finally {
    children.delete(child);
  }
  if (!o.success) {
    throw new Error(`fixbuf_peer failed: ${new TextDecoder().decode(o.stderr).trim()}`);
  }
  const text = new TextDecoder().decode(o.stdout).trim().split("\n").at(-1) ?? "";
  return JSON.parse(text);
}

async function runTcp(seconds: number): Promise<{ rate: number; records: number }> {
  const collector = spawnRole("tcp-collector", 0, []);
  const cl = new Lines(collector.stdout);
  let sender: Deno.ChildProcess | undefined;
  try {
    const { port } = await cl.next<{ port: number }>(20_000);
    sender = spawnRole("tcp-sender", 1, ["--port", String(port), "--seconds", String(seconds)]);
    const sl = new Lines(sender.stdout);
    await closeStdin(sender);
    const sent = await sl.next<{ records: number }>((seconds + 30) * 1000);
    await sender.status;
    await new Promise((r) => setTimeout(r, 300));
    await closeStdin(collector);
    const got = await cl.next<{ rate: number; records: number }>(20_000);
    await collector.status;
    return { rate: got.rate, records: Math.min(got.records, sent.records) };
  } finally {
    kill(collector);
    if (sender) kill(sender);
  }
}

interface Trial {
  rate: number;
  sentRecords: number;
  receivedRecords: number;
  loss: number;
  achievedRate: number;
  rcvbufErrors: number;
  /** The receiver's CPU time over the paced phase, as a share of one core. */
  cpu: number;
  extra?: Record<string, unknown>;
}

/** CPU seconds (user and system, every thread) a process has used, from /proc/PID/stat. */
async function processCpu(pid: number): Promise<number> {
  const stat = await readProc(`/proc/${pid}/stat`);
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / 100; // clock ticks of 10 ms (USER_HZ)
}

/** Reads a file under /proc: Deno asks for --allow-all to read /proc itself, so `cat` does. */
async function readProc(path: string): Promise<string> {
  const o = await new Deno.Command("cat", { args: [path], stdout: "piped", stderr: "null" })
    .output();
  return new TextDecoder().decode(o.stdout);
}

async function readUdpCounters(): Promise<{ rcvbufErrors: number }> {
  try {
    const lines = (await readProc("/proc/net/snmp")).split("\n").filter((l) =>
      l.startsWith("Udp:")
    );
    const names = lines[0]!.split(/\s+/);
    const values = lines[1]!.split(/\s+/);
    return { rcvbufErrors: Number(values[names.indexOf("RcvbufErrors")]) };
  } catch {
    return { rcvbufErrors: NaN };
  }
}

interface SendResult {
  records: number;
  datagrams: number;
  seconds: number;
}

/**
 * One UDP trial: a fresh receiver, a warm-up at half of `rate`, then the sender at `rate`
 * records/s for `seconds`. Loss counts only the second phase.
 */
async function udpTrial(
  receiver: string,
  rate: number,
  seconds: number,
  warmSeconds: number,
): Promise<Trial> {
  const rx = receiver === "nfcapd" ? await startNfcapd() : await startDenoReceiver(receiver);
  let sender: Deno.ChildProcess | undefined;
  try {
    sender = spawnRole("udp-sender", 1, [
      "--port",
      String(rx.port),
      "--rate",
      String(rate),
      "--seconds",
      String(seconds),
      "--warmup",
      String(warmSeconds),
    ]);
    const sl = new Lines(sender.stdout);
    const warm = await sl.next<SendResult>((warmSeconds + 30) * 1000);
    await new Promise((r) => setTimeout(r, 300));
    const snap = await rx.snapshot(warm);
    const before = await readUdpCounters();
    const cpu0 = await processCpu(rx.pid);
    const t0 = performance.now();
    const w = sender.stdin.getWriter();
    await w.write(new TextEncoder().encode("go\n"));
    await w.close();
    const sent = await sl.next<SendResult>((seconds * 3 + 30) * 1000);
    await sender.status;
    const cpu = (await processCpu(rx.pid) - cpu0) / ((performance.now() - t0) / 1000);
    // Let the receiver drain its socket buffer.
    await new Promise((r) => setTimeout(r, 400));
    const after = await readUdpCounters();
    const got = await rx.stop();
    // Receive-only receivers count datagrams, not records.
    const raw = got.records === undefined;
    const loss = raw
      ? 1 - ((got.datagrams ?? 0) - snap.datagrams) / sent.datagrams
      : 1 - (got.records! - snap.records) / sent.records;
    return {
      rate,
      sentRecords: sent.records,
      receivedRecords: raw ? NaN : got.records! - snap.records,
      loss: Math.max(0, loss),
      achievedRate: sent.records / sent.seconds,
      rcvbufErrors: after.rcvbufErrors - before.rcvbufErrors,
      cpu,
      ...(got.extra ? { extra: got.extra } : {}),
    };
  } finally {
    rx.kill();
    if (sender) kill(sender);
  }
}

interface RunningReceiver {
  port: number;
  /** The receiver's process. */
  pid: number;
  /** Counts so far (nfcapd cannot tell: what was sent stands for them). */
  snapshot(warm: SendResult): Promise<{ records: number; datagrams: number }>;
  stop(): Promise<{ records?: number; datagrams?: number; extra?: Record<string, unknown> }>;
  kill(): void;
}

async function startDenoReceiver(kind: string): Promise<RunningReceiver> {
  const child = spawnRole("udp-receiver", 0, ["--kind", kind]);
  const lines = new Lines(child.stdout);
  try {
    const { port } = await lines.next<{ port: number }>(20_000);
    const stdin = child.stdin.getWriter();
    return {
      port,
      pid: child.pid,
      async snapshot() {
        await stdin.write(new TextEncoder().encode("snap\n"));
        return await lines.next<{ records: number; datagrams: number }>(20_000);
      },
      async stop() {
        await stdin.close().catch(() => {});
        const r = await lines.next<{ records: number; datagrams: number }>(20_000);
        await child.status;
        const { records, datagrams, ...extra } = r;
        return kind.endsWith("-raw") ? { datagrams, extra } : { records, extra };
      },
      kill: () => kill(child),
    };
  } catch (e) {
    kill(child);
    throw e;
  }
}

function freeUdpPort(): number {
  const s = Deno.listenDatagram({ transport: "udp", hostname: HOST, port: 0 });
  const port = (s.addr as Deno.NetAddr).port;
  s.close();
  return port;
}

async function udpPortBound(port: number): Promise<boolean> {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  const table = await readProc("/proc/net/udp");
  return table.split("\n").some((l) => l.trim().split(/\s+/)[1]?.endsWith(hex));
}

/**
 * A fresh directory for nfcapd's files: in RAM (/dev/shm) when there is one, so the disk does not
 * set nfcapd's pace. Deno asks for --allow-all to touch /dev/shm, so mktemp and rm do.
 */
async function nfcapdDir(): Promise<string> {
  const shm = await commandOutput("mktemp", [
    "-d",
    "-p",
    "/dev/shm",
    "flowvis-bench-nfcapd-XXXXXX",
  ]);
  nfcapdFiles = shm ? "/dev/shm" : Deno.env.get("TMPDIR") ?? "/tmp";
  return shm?.trim() || await Deno.makeTempDir({ prefix: "flowvis-bench-nfcapd-" });
}

let nfcapdFiles = "";

async function startNfcapd(): Promise<RunningReceiver> {
  const dir = await nfcapdDir();
  const port = freeUdpPort();
  const args = ["-b", HOST, "-p", String(port), "-w", dir, "-t", "3600"];
  const argv = pinned(["nfcapd", ...args], 0);
  const child = new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  children.add(child);
  const output = Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
  ]);
  const cleanup = async () => {
    kill(child);
    await commandOutput("rm", ["-rf", "--", dir]);
  };
  try {
    const deadline = Date.now() + 10_000;
    while (!(await udpPortBound(port))) {
      if (Date.now() > deadline) throw new Error("nfcapd did not bind its port");
      await new Promise((r) => setTimeout(r, 50));
    }
  } catch (e) {
    await cleanup();
    const [stdout, stderr] = await output;
    throw new Error(`${e instanceof Error ? e.message : e}: ${stdout}${stderr}`);
  }
  return {
    port,
    pid: child.pid,
    snapshot: (warm) => Promise.resolve({ records: warm.records, datagrams: warm.datagrams }),
    async stop() {
      child.kill("SIGTERM");
      await child.status;
      const [stdout, stderr] = await output;
      const text = stdout + stderr;
      const m = /Flows: (\d+)[^\n]*Sequence Errors: (\d+)/.exec(text);
      // The flows in the files nfcapd wrote; what it printed when there is no file.
      const info = await commandOutput("nfdump", ["-R", dir, "-I"]);
      const f = info ? /^Flows: (\d+)/m.exec(info) : null;
      const fileFlows = f ? Number(f[1]) : undefined;
      const printed = m ? Number(m[1]) : undefined;
      await cleanup();
      return {
        records: fileFlows ?? printed ?? 0,
        extra: { printedFlows: printed, sequenceErrors: m ? Number(m[2]) : undefined },
      };
    },
    kill: () => void cleanup(),
  };
}

interface UdpResult {
  receiver: string;
  /** Highest rate (records/s) with under 0.1 % loss; 0 when even the lowest failed. */
  maxRate: number;
  /** Lowest rate that lost 0.1 % or more (0 when none did): the limit lies in between. */
  lossRate: number;
  /** True when the sender could not reach a higher rate: the receiver may take more. */
  senderLimited: boolean;
  trials: Trial[];
}

interface SearchOptions {
  start: number;
  max: number;
  seconds: number;
  warmSeconds: number;
  /** Bisections stop once the limit is known to within this fraction of the rate... */
  precision: number;
  /** ...or after this many. */
  bisections: number;
  retry: boolean;
}

/**
 * For every receiver, the highest rate with under 0.1 % loss: the rate doubles until a trial
 * loses more, then bisects until the limit is known to within `precision` (a coarse search
 * would put receivers a few percent apart on the same rate). The receivers take turns at each
 * step, so that a slow spell of the host falls on all of them rather than on one.
 */
async function searchUdp(receivers: string[], opts: SearchOptions): Promise<UdpResult[]> {
  const state = receivers.map((receiver) => ({
    receiver,
    good: 0,
    bad: 0,
    senderLimited: false,
    done: false,
    trials: [] as Trial[],
  }));
  const once = async (s: (typeof state)[number], rate: number) => {
    const t = await udpTrial(s.receiver, rate, opts.seconds, opts.warmSeconds);
    s.trials.push(t);
    const ok = t.loss < LOSS_LIMIT;
    const extra = t.extra ? ` ${JSON.stringify(t.extra)}` : "";
    console.error(
      `  ${s.receiver.padEnd(14)} ${fmtRate(rate).padStart(6)}/s offered, ${
        fmtRate(t.achievedRate).padStart(6)
      }/s sent: loss ${(t.loss * 100).toFixed(3)} % ${ok ? "ok" : "LOSS"}, cpu ${
        (t.cpu * 100).toFixed(0)
      } %` + ` (kernel rcvbuf drops ${t.rcvbufErrors})${extra}`,
    );
    return t;
  };
  // A failed trial gets a second chance: this host's speed varies from second to second.
  const run = async (s: (typeof state)[number], rate: number) => {
    const t = await once(s, rate);
    return t.loss < LOSS_LIMIT || !opts.retry ? t : await once(s, rate);
  };
  for (let rate = opts.start; rate <= opts.max; rate *= 2) {
    const active = state.filter((s) => !s.done);
    if (active.length === 0) break;
    for (const s of active) {
      const t = await run(s, rate);
      if (t.loss >= LOSS_LIMIT) {
        s.bad = rate;
        s.done = true;
      } else if (t.achievedRate < rate * 0.97) {
        // The sender fell short: the receiver took all it got.
        s.good = t.achievedRate;
        s.senderLimited = true;
        s.done = true;
      } else {
        s.good = rate;
      }
    }
  }
  for (const s of state) if (s.bad === 0) s.senderLimited = true;
  for (let i = 0; i < opts.bisections; i++) {
    const open = state.filter((s) =>
      s.bad > 0 && !s.senderLimited && s.bad - s.good > opts.precision * s.good
    );
    if (open.length === 0) break;
    for (const s of open) {
      const mid = Math.round((s.good + s.bad) / 2);
      const t = await run(s, mid);
      if (t.loss < LOSS_LIMIT) s.good = mid;
      else s.bad = mid;
    }
  }
  return state.map((s) => ({
    receiver: s.receiver,
    maxRate: s.good,
    lossRate: s.bad,
    senderLimited: s.senderLimited,
    trials: s.trials,
  }));
}

async function sysctl(name: string): Promise<string | undefined> {
  return (await commandOutput("sysctl", ["-n", name]))?.trim() || undefined;
}

async function setSysctl(name: string, value: string): Promise<boolean> {
  await commandOutput("sysctl", ["-w", `${name}=${value}`]);
  return (await sysctl(name)) === value;
}

async function commandOutput(cmd: string, args: string[]): Promise<string | undefined> {
  try {
    const o = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
    if (!o.success) return undefined;
    return (new TextDecoder().decode(o.stdout) + new TextDecoder().decode(o.stderr)).trim();
  } catch {
    return undefined;
  }
}

async function machine(): Promise<Record<string, string | number>> {
  const cpuinfo = await readProc("/proc/cpuinfo").catch(() => "");
  return {
    date: new Date().toISOString(),
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    os: `${Deno.build.os} ${Deno.osRelease()} ${Deno.build.arch}`,
    cpu: /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1] ?? "unknown",
    cores: navigator.hardwareConcurrency,
  };
}

async function main(args: string[]): Promise<void> {
  const flags = parseFlags(USAGE, {
    quick: { type: "boolean" },
    only: { type: "string", default: "codec,tcp,udp" },
    udp: { type: "string", default: "collector,collector-nf,nfcapd" },
    rcvbuf: { type: "string", default: "4194304" },
    json: { type: "string" },
    role: { type: "string" },
    kind: { type: "string" },
    port: { type: "string" },
    rate: { type: "string" },
    seconds: { type: "string" },
    warmup: { type: "string" },
    start: { type: "string" },
  }, args);
  const quick = flags.quick === true;
  switch (flags.role) {
    case undefined:
      break;
    case "codec":
      return roleCodec(quick);
    case "tcp-collector":
      return await roleTcpCollector();
    case "tcp-sender":
      return await roleTcpSender(Number(flags.port), Number(flags.seconds));
    case "udp-receiver":
      return await roleUdpReceiver(flags.kind as UdpKind);
    case "udp-sender":
      return await roleUdpSender(
        Number(flags.port),
        Number(flags.rate),
        Number(flags.seconds),
        Number(flags.warmup),
      );
    default:
      throw new TypeError(`Unknown role ${flags.role}`);
  }

  const parts = new Set((flags.only as string).split(",").map((s) => s.trim()));
  const receivers = (flags.udp as string).split(",").map((s) => s.trim()).filter((s) => s);
  for (const r of receivers) {
    if (!UDP_RECEIVERS.includes(r)) {
      console.error(`Unknown UDP receiver "${r}"\n\n${USAGE}`);
      Deno.exit(2);
    }
  }
  const rcvbuf = Number(flags.rcvbuf);
  const startRate = flags.start === undefined ? undefined : Number(flags.start);
  if (startRate !== undefined && !(Number.isInteger(startRate) && startRate >= 1000)) {
    console.error(
      `Invalid --start "${flags.start}": expected records/s, at least 1000\n\n${USAGE}`,
    );
    Deno.exit(2);
  }
  const facts = await machine();
  taskset = (await commandOutput("taskset", ["-c", "0", "true"])) !== undefined;
  const nfcapdVersion = (await commandOutput("nfcapd", ["-V"]))?.split("\n")[0];
  const command = `deno task bench ipfix ${args.join(" ")}`.trim();
  const report: Record<string, unknown> = { command, machine: facts };
  const busyBefore = await busyPercent(1000);
  const steal0 = await cpuTimes();
  console.log(`flowvis bench ipfix — ${facts.date}`);
  console.log(`$ ${command}`);
  console.log(
    `Deno ${facts.deno} (V8 ${facts.v8}), ${facts.os}, ${facts.cores} cores: ${facts.cpu}`,
  );
  console.log(
    taskset
      ? "Measured processes pinned to core 0 (taskset -c 0), senders to core 1."
      : "taskset not found: processes are not pinned to cores.",
  );
  report.busyBeforePercent = busyBefore;
  console.log(
    `CPU busy before the run: ${busyBefore?.toFixed(0) ?? "?"} %` +
      ((busyBefore ?? 0) > 10 ? " — other work on this machine will skew the figures" : ""),
  );

  if (parts.has("codec")) {
    console.log(
      "\nCodec, one core: Antrea IPv4 flow record (template 256, 37 elements), 10000 distinct" +
        " records; median of rounds, the four measures taking turns",
    );
    // libfixbuf runs half its rounds before flowvis and half after: a spell of the host's speed
    // (it drifts up to 2x within a minute) then weighs on both alike.
    const peerDir = await Deno.makeTempDir({ prefix: "flowvis-bench-fixbuf-" });
    // Ctrl-C must not leave the peer's directory behind, nor its process or the codec role's.
    const removePeerDir = () => {
      try {
        Deno.removeSync(peerDir, { recursive: true });
      } catch {
        // Already gone.
      }
    };
    const onCodecSignal = () => {
      for (const c of children) kill(c);
      removePeerDir();
      Deno.exit(130);
    };
    Deno.addSignalListener("SIGINT", onCodecSignal);
    Deno.addSignalListener("SIGTERM", onCodecSignal);
    const peer: PeerFigures[] = CODEC_SIZES.map((messageSize) => ({
      messageSize,
      encode: [],
      decode: [],
    }));
    let codec: CodecFigures[];
    let peerVersion: string | undefined;
    try {
      const prepared = await prepareFixbufPeer(peerDir, CODEC_SIZES);
      // A peer that fails is reported; flowvis's figures stand without it.
      let failed: string | undefined;
      const half = async () => {
        if (!("version" in prepared) || failed) return;
        for (const p of peer) {
          try {
            const r = await runFixbufPeer(
              peerDir,
              p.messageSize,
              1,
              quick ? 2 : 4,
              quick ? 400 : 800,
            );
            if (r.records !== CODEC_RECORDS) {
              throw new Error(`it decoded ${r.records} records, not ${CODEC_RECORDS}`);
            }
            p.encode.push(...r.encode);
            p.decode.push(...r.decode);
          } catch (e) {
            failed = e instanceof Error ? e.message : String(e);
            return;
          }
        }
      };
      await half();
      codec = await runCodec(quick);
      await half();
      if (failed) console.log(`  libfixbuf peer failed: ${failed}`);
      else if ("version" in prepared) peerVersion = prepared.version;
      else console.log(`  libfixbuf peer not run: ${prepared.missing}`);
    } finally {
      Deno.removeSignalListener("SIGINT", onCodecSignal);
      Deno.removeSignalListener("SIGTERM", onCodecSignal);
      removePeerDir();
    }
    report.codec = codec;
    if (peerVersion) report.codecPeer = { library: `libfixbuf ${peerVersion}`, figures: peer };
    for (const c of codec) {
      const label = c.messageSize === 65535 ? "64 KiB messages" : `${c.messageSize}-octet messages`;
      console.log(
        `  ${label} (${c.recordsPerMessage.toFixed(1)} records each, ${
          c.avgRecordOctets.toFixed(0)
        } octets/record)`,
      );
      for (
        const [what, rounds, target] of [
          ["encode", c.encode, TARGET_ENCODE],
          ["decode", c.decode, TARGET_DECODE],
        ] as const
      ) {
        const m = median(rounds);
        console.log(
          `    ${what} ${fmtRate(m).padStart(6)} records/s  ${verdict(m / target)} target ≥ ${
            fmtRate(target)
          }  (rounds ${rounds.map(fmtRate).join(" ")})`,
        );
        const p = peer.find((p) => p.messageSize === c.messageSize)?.[what];
        if (peerVersion && p && p.length > 0) {
          const pm = median(p);
          console.log(
            `      libfixbuf ${peerVersion} (C) ${fmtRate(pm).padStart(6)} records/s, flowvis ${
              (m / pm).toFixed(2)
            }x  (rounds ${p.map(fmtRate).join(" ")})`,
          );
        }
      }
    }
  }

  if (parts.has("tcp")) {
    const seconds = quick ? 3 : 6;
    console.log(
      `\nCollector ingest, loopback TCP, one core: 64 KiB messages from a sender process, ${seconds} s`,
    );
    const tcp = await runTcp(seconds);
    report.tcp = tcp;
    console.log(`  CollectingProcess (tcp)  ${fmtRate(tcp.rate).padStart(6)} records/s`);
  }

  if (parts.has("udp")) {
    const seconds = quick ? 1 : 2;
    const original = await sysctl("net.core.rmem_default");
    let raised = false;
    const restore = async () => {
      if (raised && original !== undefined) {
        raised = !(await setSysctl("net.core.rmem_default", original));
      }
    };
    // Ctrl-C must not leave the system setting changed.
    const onSignal = () => {
      for (const c of children) kill(c);
      void restore().finally(() => Deno.exit(130));
    };
    Deno.addSignalListener("SIGINT", onSignal);
    Deno.addSignalListener("SIGTERM", onSignal);
    try {
      if (rcvbuf > 0 && original !== undefined && original !== String(rcvbuf)) {
        raised = await setSysctl("net.core.rmem_default", String(rcvbuf));
      }
      const effective = await sysctl("net.core.rmem_default");
      console.log(
        `\nCollector ingest, loopback UDP, one core: the same 1452-octet datagrams, paced, ${seconds} s` +
          ` per trial after a warm-up at half the rate; highest rate with < 0.1 % loss`,
      );
      console.log(
        raised
          ? `  net.core.rmem_default set to ${effective} for every receiver (was ${original}; restored after)`
          : `  net.core.rmem_default ${effective} for every receiver (left as it was)`,
      );
      if (nfcapdVersion) {
        await commandOutput("rm", ["-rf", "--", await nfcapdDir()]);
        console.log(`  nfcapd: ${nfcapdVersion}, files in ${nfcapdFiles}`);
      }
      const available = receivers.filter((r) => {
        if (r === "nfcapd" && nfcapdVersion === undefined) {
          console.log("  nfcapd not found (Debian package nfdump): skipped");
          return false;
        }
        return true;
      });
      const results = await searchUdp(available, {
        start: startRate ?? (quick ? 50_000 : 25_000),
        max: 3_200_000,
        seconds,
        warmSeconds: quick ? 0.5 : 1,
        precision: quick ? 0.25 : 0.05,
        bisections: quick ? 1 : 5,
        retry: !quick,
      });
      report.udp = { rmemDefault: effective, raised, nfcapd: nfcapdVersion, results };
      const nf = results.find((r) => r.receiver === "nfcapd");
      for (const r of results) {
        const ratio = nf && nf.maxRate > 0 && r !== nf
          ? `  ${(r.maxRate / nf.maxRate).toFixed(2)}x nfcapd`
          : "";
        const limit = r.senderLimited
          ? " (sender limit)"
          : r.lossRate > 0
          ? ` (lost at ${fmtRate(r.lossRate)})`
          : "";
        console.log(
          `  ${(UDP_LABELS[r.receiver] ?? r.receiver).padEnd(44)} ${
            fmtRate(r.maxRate).padStart(6)
          } records/s${limit}${ratio}`,
        );
      }
      // CPU at the rates every receiver took without loss: what ingest costs below the limit.
      const rates = [...new Set(results.flatMap((r) => r.trials.map((t) => t.rate)))]
        .filter((rate) =>
          results.every((r) => r.trials.some((t) => t.rate === rate && t.loss < LOSS_LIMIT))
        ).sort((a, b) => a - b);
      if (rates.length > 0) {
        console.log("  CPU of one core at the same rates (no loss), µs of CPU per record:");
        for (const r of results) {
          const cells = rates.map((rate) => {
            const t = r.trials.find((t) => t.rate === rate && t.loss < LOSS_LIMIT)!;
            return `${fmtRate(rate)}/s ${(t.cpu * 100).toFixed(0)} % ${
              (t.cpu / t.achievedRate * 1e6).toFixed(2)
            }`;
          });
          console.log(
            `    ${(UDP_LABELS[r.receiver] ?? r.receiver).padEnd(42)} ${cells.join(", ")}`,
          );
        }
      }
      // nfcapd keeps 12 of the record's 37 elements and drops the rest (every string among
      // them): one verdict for the collector doing that same work, one for it decoding all.
      const same = results.find((r) => r.receiver === "collector-nf");
      const collector = results.find((r) => r.receiver === "collector");
      if (nf && nf.maxRate > 0 && (same || collector)) {
        console.log("  target collector ingest ≥ 1.0x nfcapd:");
        for (
          const [r, what] of [
            [same, `the same work (the ${NFCAPD_ELEMENTS.length} elements nfcapd keeps)`],
            [collector, `every element decoded (${template.template.fields.length})`],
          ] as const
        ) {
          if (r) console.log(`    ${what}: ${verdict(r.maxRate / nf.maxRate)}`);
        }
      }
    } finally {
      for (const c of children) kill(c);
      await restore();
      Deno.removeSignalListener("SIGINT", onSignal);
      Deno.removeSignalListener("SIGTERM", onSignal);
    }
  }

  const steal1 = await cpuTimes();
  const busyAfter = await busyPercent(1000);
  report.busyAfterPercent = busyAfter;
  console.log(`\nCPU busy after the run: ${busyAfter?.toFixed(0) ?? "?"} %`);
  if (steal0 && steal1) {
    const pct = 100 * (steal1.steal - steal0.steal) / Math.max(1, steal1.total - steal0.total);
    report.stealPercent = pct;
    console.log(`Host steal time during the run: ${pct.toFixed(1)} %`);
  }
  if (flags.json) await Deno.writeTextFile(flags.json as string, JSON.stringify(report, null, 2));
}

/**
 * The elements of the Antrea record that nfcapd 1.7 keeps (`nfdump -o raw` of its file shows the
 * 5-tuple, the forward and reverse delta counters and the end reason; it drops the enterprise
 * elements, the total counters and, with these templates, even the flow times), plus the two flow
 * times, which nfcapd's record has room for.
 */
const NFCAPD_ELEMENTS = [
  "sourceIPv4Address",
  "destinationIPv4Address",
  "sourceTransportPort",
  "destinationTransportPort",
  "protocolIdentifier",
  "packetDeltaCount",
  "octetDeltaCount",
  "reversePacketDeltaCount",
  "reverseOctetDeltaCount",
  "flowEndReason",
  "flowStartSeconds",
  "flowEndSeconds",
];

/** Every element of the record but its strings: what the strings cost, by difference. */
const NON_STRING_ELEMENTS = template.template.fields.filter((f) => f.element.type !== "string")
  .map((f) => f.element.name);

const UDP_RECEIVERS = [
  "collector",
  "collector-nf",
  "collector-nostr",
  "recvmmsg",
  "nfcapd",
  "listen-raw",
  "dgram-raw",
  "recvmmsg-raw",
  "listen-decode",
];

const UDP_LABELS: Record<string, string> = {
  collector: "flowvis CollectingProcess (udp)",
  "collector-nf": "flowvis CollectingProcess, nfcapd's elements",
  "collector-nostr": "flowvis CollectingProcess, all but strings",
  recvmmsg: "flowvis udp_receiver (recvmmsg) + decodeMessage",
  nfcapd: "nfcapd",
  "listen-raw": "Deno.listenDatagram, receive only",
  "dgram-raw": "node:dgram, receive only",
  "recvmmsg-raw": "udp_receiver (recvmmsg), receive only",
  "listen-decode": "Deno.listenDatagram + decodeMessage",
};

function verdict(ratio: number): string {
  return `${ratio >= 1 ? "met" : "NOT met"} (${ratio.toFixed(2)}x)`;
}

/** Aggregate CPU times from /proc/stat (steal is what the hypervisor gave to others). */
async function cpuTimes(): Promise<{ steal: number; idle: number; total: number } | undefined> {
  const line = (await readProc("/proc/stat").catch(() => "")).split("\n")[0] ?? "";
  if (!line.startsWith("cpu ")) return undefined;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  return {
    steal: v[7] ?? 0,
    idle: (v[3] ?? 0) + (v[4] ?? 0),
    total: v.slice(0, 8).reduce((a, b) => a + b, 0),
  };
}

/** Share of all cores busy over `ms` (while this benchmark does nothing). */
async function busyPercent(ms: number): Promise<number | undefined> {
  const a = await cpuTimes();
  await new Promise((r) => setTimeout(r, ms));
  const b = await cpuTimes();
  if (!a || !b || b.total === a.total) return undefined;
  return 100 * (1 - (b.idle - a.idle) / (b.total - a.total));
}

if (import.meta.main) await main(Deno.args);

export { main };
