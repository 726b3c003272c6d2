/**
 * src/conntrack against the real kernel: entries made in network namespaces (real TCP and UDP
 * traffic between two namespaces joined by a veth, and `conntrack -I` entries of every kind),
 * dumped through libnetfilter_conntrack and compared field by field with what `conntrack -L`
 * prints for the same table. Also: the zone and family filters, and the error paths (library
 * missing, no --allow-ffi, not root).
 *
 * Deno cannot enter a network namespace itself, so everything that reads conntrack runs in a
 * child process: this file, run with `--role …` under `ip netns exec`.
 *
 * @module
 */

import { assert, assertEquals, assertExists, assertStringIncludes, fail } from "./_assert.ts";
import {
  Background,
  interopTest,
  needsRoot,
  needsTool,
  type Prerequisite,
  requireTool,
  run,
  tempDir,
} from "./_tools.ts";
import type { ConnEntry } from "../src/conntrack/mod.ts";

const SELF = new URL(import.meta.url).pathname;

// ---------------------------------------------------------------------------------------------
// Child roles.

/** A ConnEntry as the dump child prints it: bigints as decimal strings, undefined as null. */
interface JsonEntry extends Omit<ConnEntry, "labels" | "startNs" | "stopNs" | "icmp" | "tcpState"> {
  labels: string;
  startNs: string | null;
  stopNs: string | null;
  icmp: { type: number; code: number; id: number } | null;
  tcpState: string | null;
}

/** What the dump child prints. */
type DumpResult =
  | { ok: true; entries: JsonEntry[] }
  | { ok: false; error: { name: string; code?: string; errno?: number; message: string } };

function toJson(e: ConnEntry): JsonEntry {
  return {
    ...e,
    labels: e.labels.toString(),
    startNs: e.startNs?.toString() ?? null,
    stopNs: e.stopNs?.toString() ?? null,
    icmp: e.icmp ?? null,
    tcpState: e.tcpState ?? null,
  };
}

function errorJson(e: unknown) {
  if (!(e instanceof Error)) return { name: "unknown", message: String(e) };
  const c = e as Error & { code?: string; errno?: number };
  return { name: e.name, code: c.code, errno: c.errno, message: e.message };
}

async function roleDump(args: string[]): Promise<void> {
  const { Conntrack } = await import("../src/conntrack/mod.ts");
  const options = JSON.parse(args[0] ?? "{}");
  const library = args[1];
  let result: DumpResult;
  try {
    using ct = new Conntrack(library ? { libraryPath: library } : {});
    result = { ok: true, entries: ct.dump(options).map(toJson) };
  } catch (e) {
    result = { ok: false, error: errorJson(e) };
  }
  console.log(JSON.stringify(result));
}

async function roleEnable(): Promise<void> {
  const { enableAccounting } = await import("../src/conntrack/mod.ts");
  console.log(JSON.stringify(enableAccounting()));
}

/** The handle's contract: close twice, use after close, visitors that throw or nest. */
async function roleApi(): Promise<void> {
  const { Conntrack } = await import("../src/conntrack/mod.ts");
  const out: Record<string, unknown> = {};
  const attempt = (name: string, f: () => unknown) => {
    try {
      out[name] = { ok: true, value: f() };
    } catch (e) {
      out[name] = { ok: false, error: errorJson(e) };
    }
  };
  const ct = new Conntrack();
  const all = ct.dump();
  out.count = all.length;
  attempt("scanCount", () => ct.scan(() => {}));
  attempt("scanStop", () => ct.scan(() => false));
  attempt("scanFields", () => {
    // The names of the view's properties that differ from toEntry()'s, per entry.
    const differ: string[][] = [];
    ct.scan((v) => {
      const e = v.toEntry();
      const same: Record<string, boolean> = {
        id: v.id === e.id,
        family: v.family === e.family,
        protocol: v.protocol === e.protocol,
        zone: v.zone === e.zone,
        status: v.status === e.status,
        mark: v.mark === e.mark,
        tcpState: v.tcpState === e.tcpState,
        hasCounters: v.hasCounters === e.hasCounters,
        origPackets: v.origPackets === e.original.packets,
        origBytes: v.origBytes === e.original.bytes,
        replyPackets: v.replyPackets === e.reply.packets,
        replyBytes: v.replyBytes === e.reply.bytes,
        stopNs: v.stopNs === e.stopNs,
        timeout: Math.abs(v.timeout - e.timeout) <= 1,
      };
      differ.push(Object.keys(same).filter((k) => !same[k]));
    });
    return differ;
  });
  attempt("visitorThrows", () =>
    ct.scan(() => {
      throw new SyntaxError("from the visitor");
    }));
  attempt("afterThrow", () => ct.dump().length);
  let kept: { id: number } | undefined;
  attempt("viewAfterVisit", () => {
    ct.scan((v) => {
      kept = v;
      return false;
    });
    return kept!.id;
  });
  attempt("nested", () => ct.scan(() => void ct.dump()));
  attempt("badZone", () => ct.dump({ zones: [70000] }));
  attempt("badFamily", () => ct.dump({ family: 5 as 4 }));
  ct.close();
  attempt("closeTwice", () => ct.close());
  attempt("dumpAfterClose", () => ct.dump());
  attempt("closed", () => ct.closed);
  console.log(JSON.stringify(out));
}

/** TCP and UDP servers on each address: read to EOF then answer, echo a sized datagram. */
async function roleServer(args: string[]): Promise<void> {
  const cfg = JSON.parse(args[0]!) as {
    addrs: string[];
    tcpPort: number;
    udpPort: number;
    tcpReply: number;
    udpReply: number;
  };
  const tasks: Promise<void>[] = [];
  for (const hostname of cfg.addrs) {
    const l = Deno.listen({ hostname, port: cfg.tcpPort, transport: "tcp" });
    tasks.push((async () => {
      for await (const conn of l) {
        const buf = new Uint8Array(65536);
        while ((await conn.read(buf)) !== null) { /* read to EOF */ }
        await conn.write(new Uint8Array(cfg.tcpReply));
        conn.close();
      }
    })());
    const u = Deno.listenDatagram({ hostname, port: cfg.udpPort, transport: "udp" });
    tasks.push((async () => {
      while (true) {
        const [, from] = await u.receive();
        await u.send(new Uint8Array(cfg.udpReply), from);
      }
    })());
  }
  console.log("ready");
  await Promise.all(tasks);
}

/** One TCP exchange and one UDP exchange with each peer; prints the local ports used. */
async function roleClient(args: string[]): Promise<void> {
  const cfg = JSON.parse(args[0]!) as {
    peers: { local: string; peer: string }[];
    tcpPort: number;
    udpPort: number;
    tcpSend: number;
    udpSend: number;
  };
  const out: { peer: string; tcpPort: number; tcpReceived: number; udpPort: number }[] = [];
  for (const { local, peer } of cfg.peers) {
    const conn = await Deno.connect({ hostname: peer, port: cfg.tcpPort, transport: "tcp" });
    const tcpPort = (conn.localAddr as Deno.NetAddr).port;
    await conn.write(new Uint8Array(cfg.tcpSend));
    await conn.closeWrite();
    let tcpReceived = 0;
    const buf = new Uint8Array(65536);
    for (let n; (n = await conn.read(buf)) !== null;) tcpReceived += n;
    conn.close();
    const u = Deno.listenDatagram({ hostname: local, port: 0, transport: "udp" });
    const udpPort = (u.addr as Deno.NetAddr).port;
    await u.send(new Uint8Array(cfg.udpSend), {
      hostname: peer,
      port: cfg.udpPort,
      transport: "udp",
    });
    const timer = setTimeout(() => u.close(), 5000);
    await u.receive();
    clearTimeout(timer);
    u.close();
    out.push({ peer, tcpPort, tcpReceived, udpPort });
  }
  console.log(JSON.stringify(out));
}

if (import.meta.main) {
  // A child: no test is registered (their prerequisites would need permissions it lacks).
  const [flag, role, ...rest] = Deno.args;
  if (flag !== "--role") throw new Error(`Usage: ${SELF} --role dump|enable|api|server|client …`);
  const roles: Record<string, () => Promise<void>> = {
    dump: () => roleDump(rest),
    enable: roleEnable,
    api: roleApi,
    server: () => roleServer(rest),
    client: () => roleClient(rest),
  };
  await roles[role!]!();
}

// ---------------------------------------------------------------------------------------------
// Helpers of the tests.

const LIBRARY_DIRS = [
  "/usr/lib/x86_64-linux-gnu",
  "/usr/lib/aarch64-linux-gnu",
  "/usr/lib64",
  "/usr/lib",
  "/lib",
];

const needsLibrary: Prerequisite = {
  ok: LIBRARY_DIRS.some((d) => {
    try {
      return Deno.statSync(`${d}/libnetfilter_conntrack.so.3`).isFile;
    } catch {
      return false;
    }
  }),
  reason: "libnetfilter_conntrack.so.3 is not installed (apt-get install libnetfilter-conntrack3)",
};

function needs(tool: string, pkg: string): Prerequisite {
  return { ok: requireTool(tool), reason: `${tool} is not installed (apt-get install ${pkg})` };
}

/** Permissions of each role. */
const ROLE_FLAGS: Record<string, string[]> = {
  dump: ["--allow-ffi"],
  api: ["--allow-ffi"],
  enable: ["--allow-ffi"],
  server: ["--allow-net", "--unstable-net"],
  client: ["--allow-net", "--unstable-net"],
};

interface ChildOptions {
  /** Run inside this network namespace. */
  ns?: string;
  /** Run as nobody (setpriv), with this DENO_DIR. */
  nobodyDenoDir?: string;
  /** The deno binary and this test file to run, when not the running ones (copies nobody can read). */
  denoPath?: string;
  self?: string;
  /** Deno permission flags instead of the role's. */
  flags?: string[];
}

function childCommand(role: string, args: string[], o: ChildOptions): [string, string[]] {
  const deno = [
    o.denoPath ?? Deno.execPath(),
    "run",
    "--no-prompt",
    ...(o.nobodyDenoDir ? ["--no-lock"] : []),
    ...(o.flags ?? ROLE_FLAGS[role]!),
    o.self ?? SELF,
    "--role",
    role,
    ...args,
  ];
  const user = o.nobodyDenoDir
    ? [
      "setpriv",
      "--reuid=nobody",
      "--regid=nogroup",
      "--clear-groups",
      "env",
      `DENO_DIR=${o.nobodyDenoDir}`,
      `HOME=${o.nobodyDenoDir}`,
      ...deno,
    ]
    : deno;
  const cmd = o.ns ? ["ip", "netns", "exec", o.ns, ...user] : user;
  return [cmd[0]!, cmd.slice(1)];
}

async function child<T>(role: string, args: string[] = [], o: ChildOptions = {}): Promise<T> {
  const [cmd, a] = childCommand(role, args, o);
  const r = await run(cmd, a, { timeoutMs: 60_000 });
  const last = r.stdout.trim().split("\n").pop() ?? "";
  try {
    return JSON.parse(last) as T;
  } catch {
    throw new Error(`The ${role} child printed no JSON\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  }
}

async function dump(ns: string, options: object = {}): Promise<JsonEntry[]> {
  const r = await child<DumpResult>("dump", [JSON.stringify(options)], { ns });
  if (!r.ok) fail(`The dump failed: ${JSON.stringify(r.error)}`);
  return r.entries;
}

async function ip(...args: string[]): Promise<string> {
  return (await run("ip", args)).stdout;
}

/** Two namespaces joined by a veth (10.77.0.1/fd77::1 and 10.77.0.2/fd77::2), deleted after. */
async function namespacePair(): Promise<{ a: string; b: string } & AsyncDisposable> {
  const a = `fvct-${Deno.pid}-a`;
  const b = `fvct-${Deno.pid}-b`;
  const cleanup = async () => {
    for (const ns of [a, b]) await run("ip", ["netns", "del", ns], { allowFailure: true });
  };
  try {
    await ip("netns", "add", a);
    await ip("netns", "add", b);
    await ip("link", "add", "fva", "netns", a, "type", "veth", "peer", "name", "fvb", "netns", b);
    for (const [ns, dev, n] of [[a, "fva", 1], [b, "fvb", 2]] as const) {
      await ip("-n", ns, "addr", "add", `10.77.0.${n}/24`, "dev", dev);
      await ip("-n", ns, "-6", "addr", "add", `fd77::${n}/64`, "dev", dev, "nodad");
      await ip("-n", ns, "link", "set", dev, "up");
      await ip("-n", ns, "link", "set", "lo", "up");
    }
  } catch (e) {
    await cleanup();
    throw e;
  }
  return { a, b, [Symbol.asyncDispose]: cleanup };
}

/**
 * Runs conntrack in `ns` with a label map (labels l0 … l127 for bits 0 … 127) that only it
 * sees: /etc is overlaid in a private mount namespace, the host's /etc is left alone.
 */
async function conntrack(ns: string, labelDir: string, args: string[]): Promise<string> {
  const script = 'mount -t overlay overlay -o "lowerdir=/etc,upperdir=$1/upper,workdir=$1/work" ' +
    '/etc && shift && exec conntrack "$@"';
  const r = await run("ip", [
    "netns",
    "exec",
    ns,
    "unshare",
    "-m",
    "sh",
    "-c",
    script,
    "sh",
    labelDir,
    ...args,
  ]);
  return r.stdout;
}

async function labelMap(dir: string): Promise<void> {
  await Deno.mkdir(`${dir}/upper/xtables`, { recursive: true });
  await Deno.mkdir(`${dir}/work`, { recursive: true });
  const lines = Array.from({ length: 128 }, (_, i) => `${i} l${i}`).join("\n");
  await Deno.writeTextFile(`${dir}/upper/xtables/connlabel.conf`, lines + "\n");
}

/** One line of `conntrack -L -o extended,id,labels`, split into its parts. */
interface CliEntry {
  line: string;
  family: 4 | 6;
  protocol: number;
  timeout: number;
  state: string | undefined;
  tuples: [Record<string, string>, Record<string, string>];
  meta: Record<string, string>;
  flags: string[];
}

const META_KEYS = new Set(["mark", "secctx", "secmark", "zone", "delta-time", "use", "labels"]);

function parseExtended(text: string): CliEntry[] {
  return text.split("\n").filter((l) => l.trim() !== "").map((line) => {
    const t = line.trim().split(/\s+/);
    const e: CliEntry = {
      line,
      family: t[0] === "ipv6" ? 6 : 4,
      protocol: Number(t[3]),
      timeout: Number(t[4]),
      state: undefined,
      tuples: [{}, {}],
      meta: {},
      flags: [],
    };
    let i = 5;
    if (t[5] !== undefined && !t[5].includes("=") && !t[5].startsWith("[")) e.state = t[i++];
    let dir = -1;
    let inMeta = false;
    for (; i < t.length; i++) {
      const tok = t[i]!;
      if (tok.startsWith("[")) {
        e.flags.push(tok.slice(1, -1));
        continue;
      }
      const eq = tok.indexOf("=");
      const key = tok.slice(0, eq), value = tok.slice(eq + 1);
      if (META_KEYS.has(key)) inMeta = true;
      if (!inMeta && key === "src") dir++;
      if (!inMeta && (dir === 0 || dir === 1)) e.tuples[dir][key] = value;
      else e.meta[key] = value;
    }
    return e;
  });
}

/** id → start/stop timestamps from `conntrack -L -o xml,id,ktimestamp`. */
function parseXmlTimestamps(xml: string): Map<number, { start?: string; stop?: string }> {
  const m = new Map<number, { start?: string; stop?: string }>();
  for (const flow of xml.match(/<flow>.*?<\/flow>/gs) ?? []) {
    const id = Number(/<id>(\d+)<\/id>/.exec(flow)?.[1]);
    m.set(id, {
      start: /<start>(\d+)<\/start>/.exec(flow)?.[1],
      stop: /<stop>(\d+)<\/stop>/.exec(flow)?.[1],
    });
  }
  return m;
}

/** Status names of `conntrack -L -o save` lines (the -u option), by a tuple-and-zone key. */
function parseSave(text: string): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const line of text.split("\n").filter((l) => l.startsWith("-A"))) {
    const t = line.split(/\s+/);
    const opt = (name: string) => {
      const i = t.indexOf(name);
      return i < 0 ? undefined : t[i + 1];
    };
    const key = [
      opt("-s"),
      opt("-d"),
      opt("-p"),
      opt("--sport") ?? opt("--icmp-type") ?? opt("--icmpv6-type"),
      opt("--dport") ?? opt("--icmp-id") ?? opt("--icmpv6-id"),
      opt("-w") ?? "0",
    ].join(" ");
    const u = opt("-u")!;
    m.set(key, u === "UNSET" ? [] : u.split(","));
  }
  return m;
}

const PROTO_NAMES: Record<number, string> = { 1: "icmp", 6: "tcp", 17: "udp", 58: "icmpv6" };

function saveKey(e: JsonEntry): string {
  const icmp = e.icmp !== null;
  return [
    e.original.src,
    e.original.dst,
    PROTO_NAMES[e.protocol] ?? String(e.protocol),
    icmp ? e.icmp!.type : e.original.srcPort,
    icmp ? e.icmp!.id : e.original.dstPort,
    e.zone,
  ].join(" ");
}

/** The status names that `conntrack -o save` prints. */
const SAVE_STATUS = ["EXPECTED", "SEEN_REPLY", "ASSURED", "FIXED_TIMEOUT"] as const;
const STATUS_BITS: Record<string, number> = {
  EXPECTED: 1,
  SEEN_REPLY: 2,
  ASSURED: 4,
  FIXED_TIMEOUT: 1024,
  OFFLOAD: 1 << 14,
  HW_OFFLOAD: 1 << 15,
};

function labelsFromNames(names: string | undefined): bigint {
  let v = 0n;
  for (const n of names?.split(",") ?? []) v |= 1n << BigInt(n.slice(1));
  return v;
}

/** Compares one dumped entry with conntrack's line for it, field by field. */
function assertMatches(e: JsonEntry, c: CliEntry): void {
  const where = `entry ${e.id} (${c.line.trim()})`;
  assertEquals(e.family, c.family, `${where}: family`);
  assertEquals(e.protocol, c.protocol, `${where}: protocol`);
  assert(Math.abs(e.timeout - c.timeout) <= 2, `${where}: timeout ${e.timeout} vs ${c.timeout}`);
  assertEquals(e.tcpState, c.state ?? null, `${where}: TCP state`);
  const icmp = e.protocol === 1 || e.protocol === 58;
  for (
    const [mine, theirs, dir] of [[e.original, c.tuples[0], "original"], [
      e.reply,
      c.tuples[1],
      "reply",
    ]] as const
  ) {
    assertEquals(mine.src, theirs.src, `${where}: ${dir} src`);
    assertEquals(mine.dst, theirs.dst, `${where}: ${dir} dst`);
    assertEquals(mine.srcPort, icmp ? 0 : Number(theirs.sport), `${where}: ${dir} sport`);
    assertEquals(mine.dstPort, icmp ? 0 : Number(theirs.dport), `${where}: ${dir} dport`);
    assertEquals(mine.packets, Number(theirs.packets ?? 0), `${where}: ${dir} packets`);
    assertEquals(mine.bytes, Number(theirs.bytes ?? 0), `${where}: ${dir} bytes`);
    assertEquals(e.hasCounters, theirs.packets !== undefined, `${where}: ${dir} has counters`);
  }
  if (icmp) {
    assertExists(e.icmp, `${where}: icmp`);
    assertEquals(e.icmp.type, Number(c.tuples[0].type), `${where}: icmp type`);
    assertEquals(e.icmp.code, Number(c.tuples[0].code), `${where}: icmp code`);
    assertEquals(e.icmp.id, Number(c.tuples[0].id), `${where}: icmp id`);
    assertEquals(e.icmp.id, Number(c.tuples[1].id), `${where}: reply icmp id`);
  } else {
    assertEquals(e.icmp, null, `${where}: icmp`);
  }
  assertEquals(e.mark, Number(c.meta.mark ?? 0), `${where}: mark`);
  assertEquals(e.zone, Number(c.meta.zone ?? 0), `${where}: zone`);
  assertEquals(e.id, Number(c.meta.id), `${where}: id`);
  assertEquals(e.labels, labelsFromNames(c.meta.labels).toString(), `${where}: labels`);
  assertEquals(
    c.flags.includes("UNREPLIED"),
    (e.status & STATUS_BITS.SEEN_REPLY!) === 0,
    `${where}: [UNREPLIED] vs status ${e.status}`,
  );
  for (const flag of ["ASSURED", "OFFLOAD", "HW_OFFLOAD"]) {
    assertEquals(
      c.flags.includes(flag),
      (e.status & STATUS_BITS[flag]!) !== 0,
      `${where}: [${flag}] vs status ${e.status}`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// The tests.

const TCP_SEND = 3000, TCP_REPLY = 2000, UDP_SEND = 1000, UDP_REPLY = 500;
const TCP_PORT = 5001, UDP_PORT = 5002;

const TCP_STATE_NAMES = [
  "NONE",
  "SYN_SENT",
  "SYN_RECV",
  "ESTABLISHED",
  "FIN_WAIT",
  "CLOSE_WAIT",
  "LAST_ACK",
  "TIME_WAIT",
  "CLOSE",
  "SYN_SENT2",
];

if (!import.meta.main) registerTests();

function registerTests(): void {
  interopTest(
    "conntrack: a dump matches conntrack -L field by field, with zone and family filters",
    [
      needsRoot("Creating network namespaces"),
      needs("ip", "iproute2"),
      needsTool("conntrack"),
      needs("nft", "nftables"),
      needs("unshare", "util-linux"),
      needsLibrary,
    ],
    async (t) => {
      await using pair = await namespacePair();
      const { a, b } = pair;
      await using labels = await tempDir("flowvis-ct-labels-");
      await labelMap(labels.path);

      // Counters and timestamps, turned on by the library's own function, inside namespace a.
      const report = await child<
        { acct: { on: boolean }; timestamp: { on: boolean }; missing: string[] }
      >(
        "enable",
        [],
        { ns: a },
      );
      assertEquals([report.acct.on, report.timestamp.on, report.missing], [true, true, []]);

      // Conntrack is active in a once a rule uses it: marks for UDP, labels 3 and 127 for TCP.
      const rules = `table inet flowvis_test {
  chain out {
    type filter hook output priority 0; policy accept;
    ct state new meta l4proto udp ct mark set 42;
    ct state new meta l4proto tcp ct label set 3 ct label set 127;
  }
}
`;
      const rulesFile = `${labels.path}/rules.nft`;
      await Deno.writeTextFile(rulesFile, rules);
      await run("ip", ["netns", "exec", a, "nft", "-f", rulesFile]);

      // Real traffic from a to b, IPv4 and IPv6: TCP to its end (TIME_WAIT), UDP request/answer.
      await using server = Background.start(...childCommand("server", [JSON.stringify({
        addrs: ["10.77.0.2", "fd77::2"],
        tcpPort: TCP_PORT,
        udpPort: UDP_PORT,
        tcpReply: TCP_REPLY,
        udpReply: UDP_REPLY,
      })], { ns: b }));
      await server.waitForOutput(/ready/, 30_000);
      const startMs = Date.now();
      const flows = await child<
        { peer: string; tcpPort: number; tcpReceived: number; udpPort: number }[]
      >(
        "client",
        [JSON.stringify({
          peers: [{ local: "10.77.0.1", peer: "10.77.0.2" }, { local: "fd77::1", peer: "fd77::2" }],
          tcpPort: TCP_PORT,
          udpPort: UDP_PORT,
          tcpSend: TCP_SEND,
          udpSend: UDP_SEND,
        })],
        { ns: a },
      );
      await server.stop();
      assertEquals(flows.map((f) => f.tcpReceived), [TCP_REPLY, TCP_REPLY]);

      // Entries of every other kind, made with conntrack -I.
      const inserts: string[][] = [
        "-s 10.0.0.1 -d 10.0.0.3 -p icmp --icmp-type 8 --icmp-code 0 --icmp-id 77",
        "-s fd00::1 -d fd00::2 -p icmpv6 --icmpv6-type 128 --icmpv6-code 0 --icmpv6-id 5 " +
        "-u SEEN_REPLY",
        ...TCP_STATE_NAMES.map((state, i) =>
          `-s 10.0.1.1 -d 10.0.1.2 -p tcp --sport ${2000 + i} --dport 80 --state ${state}`
        ),
        "-s 10.0.2.1 -d 10.0.2.2 -p udp --sport 53 --dport 5353 -w 7 -m 4660",
        "-s 10.0.2.1 -d 10.0.2.2 -p udp --sport 53 --dport 5353 -w 9",
        "-s 2001:db8::1:0:0:1 -d ::1.2.3.4 -p tcp --sport 1 --dport 2 --state ESTABLISHED " +
        "-u SEEN_REPLY,ASSURED --label-add l0,l64,l127 -m 4294967295",
        "-s ::ffff:10.1.2.3 -d fd00::3 -p udp --sport 7 --dport 8 -u FIXED_TIMEOUT",
      ].map((line) => line.split(" "));
      for (const args of inserts) await conntrack(a, labels.path, ["-I", ...args, "-t", "300"]);

      const mine = await dump(a);
      const cli: CliEntry[] = [];
      const starts = new Map<number, { start?: string; stop?: string }>();
      const saved = new Map<string, string[]>();
      for (const f of ["ipv4", "ipv6"]) {
        cli.push(
          ...parseExtended(
            await conntrack(a, labels.path, ["-L", "-f", f, "-o", "extended,id,labels"]),
          ),
        );
        for (
          const [k, v] of parseXmlTimestamps(
            await conntrack(a, labels.path, ["-L", "-f", f, "-o", "xml,id,ktimestamp"]),
          )
        ) {
          starts.set(k, v);
        }
        for (
          const [k, v] of parseSave(await conntrack(a, labels.path, ["-L", "-f", f, "-o", "save"]))
        ) {
          saved.set(k, v);
        }
      }
      const endMs = Date.now();

      await t.step("every entry conntrack lists, and no other, with every field equal", () => {
        // 4 from traffic + 2 ICMP + 10 TCP states + 2 zones + 1 IPv6 TCP + 1 IPv4-mapped UDP
        assertEquals(mine.length, 20, JSON.stringify(mine.map((e) => e.original)));
        assertEquals(
          mine.map((e) => e.id).sort(),
          cli.map((c) => Number(c.meta.id)).sort(),
          "entry IDs",
        );
        const byId = new Map(cli.map((c) => [Number(c.meta.id), c]));
        for (const e of mine) assertMatches(e, byId.get(e.id)!);
      });

      await t.step("status bits as conntrack -o save names them", () => {
        for (const e of mine) {
          const names = saved.get(saveKey(e));
          assertExists(names, `save line of ${saveKey(e)}`);
          const expected = SAVE_STATUS.filter((n) => (e.status & STATUS_BITS[n]!) !== 0);
          assertEquals(names, expected, `status ${e.status} of ${saveKey(e)}`);
        }
      });

      await t.step("start timestamps equal the kernel's, in ns; no stop on live entries", () => {
        for (const e of mine) {
          const ts = starts.get(e.id);
          assertExists(ts?.start, `timestamp of ${e.id}`);
          assertEquals(e.startNs, ts.start, `start of ${e.id}`);
          const startMs_ = Number(BigInt(e.startNs!) / 1_000_000n);
          assert(
            startMs_ >= startMs - 5000 && startMs_ <= endMs + 1000,
            `start ${startMs_} of ${e.id}`,
          );
          assertEquals(e.stopNs, ts.stop ?? null);
        }
      });

      await t.step("TCP states and their names as conntrack -I set them", () => {
        for (const [i, s] of TCP_STATE_NAMES.entries()) {
          const e = mine.find((x) =>
            x.original.src === "10.0.1.1" && x.original.srcPort === 2000 + i
          );
          assertEquals(e?.tcpState, s);
        }
      });

      await t.step(
        "counters of real traffic: known sizes for UDP, at least the payload for TCP",
        () => {
          for (const f of flows) {
            const v6 = f.peer.includes(":");
            const header = v6 ? 40 : 20;
            const udp = mine.find((e) =>
              e.protocol === 17 && e.original.srcPort === f.udpPort && e.original.dst === f.peer
            );
            assertExists(udp, `UDP entry to ${f.peer}`);
            assertEquals(
              [udp.original.packets, udp.original.bytes, udp.reply.packets, udp.reply.bytes],
              [1, header + 8 + UDP_SEND, 1, header + 8 + UDP_REPLY],
              `UDP counters to ${f.peer}`,
            );
            assertEquals([udp.mark, udp.labels], [42, "0"]);
            const tcp = mine.find((e) =>
              e.protocol === 6 && e.original.srcPort === f.tcpPort && e.original.dst === f.peer
            );
            assertExists(tcp, `TCP entry to ${f.peer}`);
            assertEquals(tcp.tcpState, "TIME_WAIT");
            assertEquals(tcp.labels, ((1n << 3n) | (1n << 127n)).toString());
            assert(
              tcp.original.bytes >= TCP_SEND + 5 * header,
              `TCP original bytes ${tcp.original.bytes}`,
            );
            assert(tcp.reply.bytes >= TCP_REPLY + 4 * header, `TCP reply bytes ${tcp.reply.bytes}`);
            assert(tcp.original.packets >= 4 && tcp.reply.packets >= 3, "TCP packets");
            assertEquals([tcp.reply.src, tcp.reply.dst, tcp.reply.srcPort], [
              f.peer,
              tcp.original.src,
              TCP_PORT,
            ]);
          }
        },
      );

      await t.step("zone filter: one zone, several, zone 0", async () => {
        const inZone = (z: number) =>
          cli.filter((c) => Number(c.meta.zone ?? 0) === z).map((c) => Number(c.meta.id)).sort();
        const ids = (es: JsonEntry[]) => es.map((e) => e.id).sort();
        const z7 = await dump(a, { zones: [7] });
        assertEquals(ids(z7), inZone(7));
        assertEquals(z7.map((e) => [e.zone, e.mark]), [[7, 4660]]);
        assertEquals(ids(await dump(a, { zones: [7, 9] })), [...inZone(7), ...inZone(9)].sort());
        assertEquals(ids(await dump(a, { zones: [0] })), inZone(0));
        assertEquals((await dump(a, { zones: [0] })).length, 18);
        assertEquals(await dump(a, { zones: [1234] }), []);
        assertEquals(ids(await dump(a, { zones: [] })), ids(mine));
      });

      await t.step("family filter", async () => {
        const v4 = await dump(a, { family: 4 });
        const v6 = await dump(a, { family: 6 });
        assert(v4.every((e) => e.family === 4) && v6.every((e) => e.family === 6));
        assertEquals(v4.length, cli.filter((c) => c.family === 4).length);
        assertEquals(v6.length, cli.filter((c) => c.family === 6).length);
        assertEquals(v4.length + v6.length, mine.length);
        const v6z = await dump(a, { family: 6, zones: [0] });
        assertEquals(v6z.length, v6.length);
      });

      await t.step("the handle: scan, stopping, errors from visitors, close", async () => {
        // deno-lint-ignore no-explicit-any
        const r = await child<Record<string, any>>("api", [], { ns: a });
        assertEquals(r.count, 20);
        assertEquals(r.scanCount, { ok: true, value: 20 });
        assertEquals(r.scanStop, { ok: true, value: 1 });
        assertEquals(r.scanFields, { ok: true, value: Array.from({ length: 20 }, () => []) });
        assertEquals(r.visitorThrows.error.name, "SyntaxError");
        assertEquals(r.afterThrow, { ok: true, value: 20 });
        assertEquals(r.viewAfterVisit.error.name, "TypeError");
        assertStringIncludes(r.viewAfterVisit.error.message, "after its visitor returned");
        assertEquals(r.nested.error.name, "TypeError");
        assertEquals(r.badZone.error.name, "RangeError");
        assertEquals(r.badFamily.error.name, "TypeError");
        assertEquals(r.closeTwice, { ok: true });
        assertEquals(r.dumpAfterClose.error.code, "closed");
        assertEquals(r.closed, { ok: true, value: true });
      });
    },
  );

  Deno.test("conntrack: a missing library is a clear error", async () => {
    const r = await child<DumpResult>("dump", ["{}", "/nonexistent/libnetfilter_conntrack.so.3"]);
    assert(!r.ok, "the dump should fail");
    assertEquals([r.error.name, r.error.code], ["ConntrackError", "library-missing"]);
    assertStringIncludes(r.error.message, "/nonexistent/libnetfilter_conntrack.so.3");
    assertStringIncludes(r.error.message, "apt-get install libnetfilter-conntrack3");
  });

  Deno.test("conntrack: without --allow-ffi the error says so", async () => {
    const r = await child<DumpResult>("dump", ["{}"], { flags: [] });
    assert(!r.ok, "the dump should fail");
    assertEquals([r.error.name, r.error.code], ["ConntrackError", "ffi-not-allowed"]);
    assertStringIncludes(r.error.message, "--allow-ffi");
  });

  interopTest(
    "conntrack: not root: the dump and enableAccounting say root or CAP_NET_ADMIN is needed",
    [
      needsRoot("Switching to the user nobody"),
      needs("setpriv", "util-linux"),
      needs("ip", "iproute2"),
      needsLibrary,
    ],
    async () => {
      const ns = `fvct-${Deno.pid}-nobody`;
      await ip("netns", "add", ns);
      try {
        await using denoDir = await tempDir("flowvis-ct-nobody-");
        await Deno.chmod(denoDir.path, 0o777);
        // nobody may not be able to read the deno binary or the checkout (under /root, as with
        // npx or a clone in root's home): give it copies of both.
        const denoPath = `${denoDir.path}/deno`;
        await Deno.copyFile(Deno.execPath(), denoPath);
        await Deno.chmod(denoPath, 0o755);
        const root = new URL("../", import.meta.url).pathname;
        const repo = `${denoDir.path}/repo`;
        await Deno.mkdir(repo);
        await run("cp", ["-r", `${root}src`, `${root}tests`, `${root}deno.json`, repo]);
        await run("chmod", ["-R", "a+rX", repo]);
        const as = {
          ns,
          nobodyDenoDir: denoDir.path,
          denoPath,
          self: `${repo}/tests/conntrack_test.ts`,
        };
        const r = await child<DumpResult>("dump", ["{}"], as);
        assert(!r.ok, "the dump should fail");
        assertEquals([r.error.name, r.error.code], ["ConntrackError", "permission-denied"]);
        assertEquals(r.error.errno, 1);
        assertStringIncludes(r.error.message, "needs root or CAP_NET_ADMIN");
        type Outcome = { name: string; before: boolean; on: boolean; error: string };
        const report = await child<{ acct: Outcome; timestamp: Outcome; missing: string[] }>(
          "enable",
          [],
          as,
        );
        // A new namespace starts with both off (unless the kernel's defaults say otherwise).
        const off = [report.acct, report.timestamp].filter((o) => o.before === false);
        for (const o of off) {
          assertEquals(o.on, false, o.name);
          assertStringIncludes(o.error, "permission denied (needs root, or CAP_NET_ADMIN");
        }
        assertEquals(report.missing.length, off.length);
        for (const [i, o] of off.entries()) {
          assertStringIncludes(report.missing[i]!, `run \`sysctl -w ${o.name}=1\` as root`);
        }
      } finally {
        await run("ip", ["netns", "del", ns], { allowFailure: true });
      }
    },
  );
}
