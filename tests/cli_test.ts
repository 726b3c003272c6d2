/**
 * Tests of the command-line tools as a user runs them: `tasks/collector.ts` and `tasks/replay.ts`
 * in subprocesses, with the permissions their tasks in deno.json grant, on loopback ports.
 *
 * @module
 */

import {
  antreaFlowTemplate,
  type DataRecord,
  ExportingProcess,
  parseAddress,
  templateOf,
} from "../src/ipfix/mod.ts";
import { silentLogger } from "../src/log/mod.ts";
import { assert, assertEquals, assertStringIncludes } from "./_assert.ts";
import { writeTestCerts } from "./_certs.ts";
import { Background, run, type RunResult, sleep } from "./_tools.ts";

const ROOT = decodeURIComponent(new URL("..", import.meta.url).pathname);
const DENO = Deno.execPath();
/** The permissions of `deno task replay`. */
const RUN = ["run", "--allow-net", "--allow-read", "--unstable-net"];
/** As `deno task collector` runs it: FFI for the recvmmsg UDP receiver. */
const COLLECTOR_RUN = [...RUN, "--allow-ffi"];
const COLLECTOR = `${ROOT}tasks/collector.ts`;
const REPLAY = `${ROOT}tasks/replay.ts`;
/** The "Listening" log line tells the port bound for port 0. */
const ENV = { FLOWVIS_LOG_LEVEL: "info", NO_COLOR: "1" };
const WAIT_MS = 30_000;

// ---------------------------------------------------------------------------------------------
// Harness

interface Line {
  exportTime: number;
  observationDomainId: number;
  sequenceNumber: number;
  templateId: number;
  exporter: string;
  record: Record<string, unknown>;
}

/** A collector subprocess on a port of its own choosing. */
class CollectorProcess {
  /** The port bound, from the "Listening" log line. */
  readonly port: number;

  constructor(readonly bg: Background) {
    this.port = parseAddress(this.listening.address as string).port;
  }

  /** Starts `tasks/collector.ts` with `args` (an --address with port 0 among them). */
  static async start(args: string[]): Promise<CollectorProcess> {
    const bg = Background.start(DENO, [...COLLECTOR_RUN, COLLECTOR, ...args], {
      cwd: ROOT,
      env: ENV,
    });
    try {
      await bg.waitForOutput(/"msg":"Listening".*\n/, WAIT_MS);
      return new CollectorProcess(bg);
    } catch (e) {
      await bg.stop("SIGKILL");
      throw e;
    }
  }

  /** The fields of the collector's "Listening" log line. */
  get listening(): Record<string, unknown> {
    const line = this.bg.stderr.split("\n").find((l) => l.includes('"msg":"Listening"'))!;
    return JSON.parse(line);
  }

  /** Complete stdout lines so far. */
  get lines(): string[] {
    const out = this.bg.stdout;
    return out.slice(0, out.lastIndexOf("\n") + 1).split("\n").filter((l) => l !== "");
  }

  /** Parsed JSON lines so far. */
  get records(): Line[] {
    return this.lines.map((l) => JSON.parse(l) as Line);
  }

  /** Waits until stdout holds at least `n` lines. */
  async waitLines(n: number): Promise<string[]> {
    const deadline = Date.now() + WAIT_MS;
    while (this.lines.length < n) {
      if (this.bg.exited) throw new Error(`The collector exited:\n${this.bg.stderr}`);
      if (Date.now() > deadline) {
        throw new Error(
          `Timed out waiting for ${n} lines, got ${this.lines.length}\nstderr: ${
            this.bg.stderr.slice(-3000)
          }`,
        );
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.lines;
  }

  /** SIGTERM; resolves with the exit code and the counters printed on stderr. */
  async stop(signal: Deno.Signal = "SIGTERM"): Promise<{
    code: number;
    counters: Record<string, number>;
    stderr: string;
  }> {
    const { status, stderr } = await this.bg.stop(signal, 10_000);
    const last = stderr.trim().split("\n").at(-1) ?? "";
    let counters: Record<string, number> = {};
    try {
      counters = JSON.parse(last);
    } catch {
      // Reported by the caller's assertions.
    }
    return { code: status.code, counters, stderr };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.bg.stop("SIGKILL", 2_000);
  }
}

/** Runs a tool with `input` on stdin; killed after 60 s. A non-zero exit is returned. */
function runTool(script: string, args: string[], input = ""): Promise<RunResult> {
  return run(DENO, [...(script === COLLECTOR ? COLLECTOR_RUN : RUN), script, ...args], {
    cwd: ROOT,
    env: ENV,
    stdin: input,
    timeoutMs: 60_000,
    allowFailure: true,
  });
}

function replay(args: string[], input = ""): Promise<RunResult> {
  return runTool(REPLAY, args, input);
}

/** The summary replay prints last on stderr. */
function summary(stderr: string): Record<string, number> {
  return JSON.parse(stderr.trim().split("\n").at(-1) ?? "{}");
}

function jsonLines(objects: unknown[]): string {
  return objects.map((o) => JSON.stringify(o) + "\n").join("");
}

// ---------------------------------------------------------------------------------------------
// Flags

Deno.test("cli: collector and replay answer --help (and -h) with the usage and exit 0", async () => {
  for (const [script, name] of [[COLLECTOR, "collector"], [REPLAY, "replay"]]) {
    for (const flag of ["--help", "-h"]) {
      const out = await runTool(script!, [flag]);
      assertEquals(out.code, 0, `${name} ${flag}: ${out.stderr}`);
      assertStringIncludes(out.stdout, `Usage: deno task ${name}`);
    }
  }
});

Deno.test("cli: bad flags exit 2 with a message and the usage", async () => {
  const cases: [string, string[], string][] = [
    [COLLECTOR, ["--bogus"], "Unknown option '--bogus'"],
    [COLLECTOR, ["--format", "xml"], 'Invalid --format "xml"'],
    [COLLECTOR, ["--address"], "--address"],
    [COLLECTOR, ["--cert", "/nonexistent/cert.pem", "--key", "/nonexistent/key.pem"], "--cert"],
    [COLLECTOR, ["--cert", `${ROOT}deno.json`], "--cert and --key go together"],
    [COLLECTOR, ["--rcvbuf", "lots"], 'Invalid --rcvbuf "lots"'],
    [COLLECTOR, ["--rcvbuf", "100"], 'Invalid --rcvbuf "100"'],
    [COLLECTOR, ["--rcvbuf", "1e12"], 'Invalid --rcvbuf "1e12"'],
    [COLLECTOR, ["--rcvbuf=-1"], 'Invalid --rcvbuf "-1"'],
    [COLLECTOR, ["--rcvbuf", ""], 'Invalid --rcvbuf ""'],
    [COLLECTOR, ["--elements", "sourcePodName,podName"], "no element named podName"],
    [COLLECTOR, ["--elements", " , "], 'Invalid --elements " , "'],
    [COLLECTOR, ["--elements", "unknown:0:8"], "no element named unknown:0:8"],
    [COLLECTOR, ["--elements", "unknown:04242:7"], "no element named unknown:04242:7"],
    [COLLECTOR, ["--elements", "unknown:1:99999"], "no element named unknown:1:99999"],
    [REPLAY, ["--bogus"], "Unknown option '--bogus'"],
    [REPLAY, [], "--collector is required"],
    [REPLAY, ["--collector", "fd00:10:244::5"], "brackets"],
    [REPLAY, ["--collector", "127.0.0.1:99999:tcp"], 'port "99999"'],
    [REPLAY, ["--collector", "127.0.0.1:4739:sctp"], 'protocol "sctp"'],
    [REPLAY, ["--collector", "127.0.0.1:1:tls", "--ca", "/nonexistent/ca.pem"], "--ca"],
    [
      REPLAY,
      ["--collector", "127.0.0.1:1:udp", "--template-refresh", "0"],
      'refresh "0": at least',
    ],
    [REPLAY, ["--collector", "127.0.0.1:1:udp", "--template-refresh", "soon"], 'duration "soon"'],
    [REPLAY, ["--collector", "127.0.0.1:1:udp", "--template-refresh", "600"], "missing unit"],
    [REPLAY, ["--collector", "127.0.0.1:1:udp", "--template-refresh", ""], 'duration ""'],
    [REPLAY, ["--collector", "127.0.0.1:1:udp", "--template-refresh=-1s"], "at least 1ms"],
  ];
  for (const [script, args, message] of cases) {
    const out = await runTool(script, args);
    const what = `${script === COLLECTOR ? "collector" : "replay"} ${args.join(" ")}`;
    assertEquals(out.code, 2, `${what}: exit code; stderr: ${out.stderr}`);
    assertStringIncludes(out.stderr, message, what);
  }
  // Unknown options print the usage after the message.
  assertStringIncludes((await runTool(REPLAY, ["--bogus"])).stderr, "Usage: deno task replay");
});

// The collector reports a bad --address as "Cannot start the collector" with exit status 1,
// unlike every other bad flag (2), and unlike replay's --collector.
Deno.test("cli: collector exits 2 for an invalid --address, like other bad flags", async () => {
  for (const address of ["127.0.0.1:99999:tcp", "127.0.0.1:4739:sctp", "fd00:10:244::5"]) {
    const out = await runTool(COLLECTOR, ["--address", address]);
    assertEquals(out.code, 2, `--address ${address}: ${out.stderr}`);
  }
});

// replay turns --mtu into a number without checking it: "abc" becomes NaN, and the error only
// shows up on each line (as "line N: Invalid MTU NaN…"), or not at all when stdin is empty.
Deno.test("cli: replay exits 2 for an invalid --mtu", async () => {
  for (const mtu of ["abc", "100", "1e9"]) {
    const out = await replay(["--collector", "127.0.0.1:1:udp", "--mtu", mtu]);
    assertEquals(out.code, 2, `--mtu ${mtu}: ${out.stderr}`);
    assertStringIncludes(out.stderr, "MTU");
  }
});

// ---------------------------------------------------------------------------------------------
// Pipelines

Deno.test("cli: collector --elements prints only the named elements (udp)", async () => {
  await using c = await CollectorProcess.start([
    "--address",
    "127.0.0.1:0:udp",
    "--elements",
    "sourcePodName,octetDeltaCount,unknown:32473:7",
  ]);
  const input = [
    { record: { sourceIPv4Address: "10.0.0.1", octetDeltaCount: 1500, sourcePodName: "web-1" } },
    { record: { sourceIPv4Address: "10.0.0.2", tcpState: "ESTABLISHED", interfaceName: "eth0" } },
  ];
  const out = await replay(["--collector", `127.0.0.1:${c.port}:udp`], jsonLines(input));
  assertEquals(out.code, 0, out.stderr);
  await c.waitLines(2);
  assertEquals(c.records.map((l) => l.record), [
    { octetDeltaCount: 1500, sourcePodName: "web-1" },
    {},
  ]);
  const { code, counters } = await c.stop();
  assertEquals(code, 0);
  assertEquals([counters.records, counters.errors], [2, 0]);
});

Deno.test("cli: replay → collector (tcp, json): records, headers, counters on SIGTERM", async () => {
  await using c = await CollectorProcess.start([
    "--address",
    "127.0.0.1:0:tcp",
    "--format",
    "json",
  ]);
  const input = [
    {
      observationDomainId: 1,
      templateId: 256,
      record: { sourceIPv4Address: "10.0.0.1", octetDeltaCount: 1500, sourcePodName: "web-1" },
    },
    {
      observationDomainId: 1,
      templateId: 256,
      record: { sourceIPv4Address: "10.0.0.2", octetDeltaCount: 3000, sourcePodName: "web-2" },
    },
    {
      observationDomainId: 1,
      templateId: 300,
      record: { sourceIPv6Address: "fd00::2", packetDeltaCount: "18446744073709551615" },
    },
    { observationDomainId: 2, templateId: 256, record: { interfaceName: "eth0", flowType: 1 } },
    { record: { octetDeltaCount: 1 } },
    // The same set of names as the first two, in another order: their template (256), not 257.
    {
      observationDomainId: 1,
      templateId: 256,
      record: { sourcePodName: "web-3", octetDeltaCount: 4500, sourceIPv4Address: "10.0.0.3" },
    },
  ];
  const out = await replay(["--collector", `127.0.0.1:${c.port}:tcp`], jsonLines(input));
  assertEquals(out.code, 0, out.stderr);
  assertEquals(summary(out.stderr), { lines: 6, records: 6, sent: 6, skipped: 0, dropped: 0 });
  await c.waitLines(6);
  const got = c.records;
  // Records of a domain keep their order; domains are separate exporters.
  for (const domain of [0, 1, 2]) {
    assertEquals(
      got.filter((l) => l.observationDomainId === domain).map((l) => [l.templateId, l.record]),
      input.filter((l) => (l.observationDomainId ?? 0) === domain).map((l) => [
        l.templateId ?? 256,
        l.record,
      ]),
      `domain ${domain}`,
    );
  }
  for (const l of got) {
    assert(/^127\.0\.0\.1:\d+$/.test(l.exporter), l.exporter);
    assert(Number.isInteger(l.exportTime) && l.exportTime > 1_600_000_000, `${l.exportTime}`);
    assert(Number.isInteger(l.sequenceNumber), `${l.sequenceNumber}`);
    assertEquals(Object.keys(l), [
      "exportTime",
      "observationDomainId",
      "sequenceNumber",
      "templateId",
      "exporter",
      "record",
    ]);
  }
  const { code, counters } = await c.stop();
  assertEquals(code, 0);
  assertEquals(counters.records, 6);
  assertEquals(counters.errors, 0);
  assertEquals(counters.lost, 0);
  assertEquals(counters.unknownSets, 0);
  assertEquals(counters.sessions, 3, "one exporter per observation domain");
  assert(counters.messages! >= 3 && counters.templates! >= 4, JSON.stringify(counters));
});

/** Records with a value of every data type the registries have. */
const EVERY_TYPE = templateOf(256, [
  "mplsTopLabelStackSection", // octetArray (variable length)
  "mplsLabelStackSection2", // octetArray, empty
  "protocolIdentifier", // unsigned8
  "sourceTransportPort", // unsigned16
  "ingressInterface", // unsigned32
  "octetDeltaCount", // unsigned64 above 2^53
  "packetDeltaCount", // unsigned64 just above 2^53
  "octetTotalCount", // unsigned64 at 2^53-1
  "ingressNetworkPolicyRulePriority", // signed32 (Antrea)
  "samplingProbability", // float64
  "absoluteError", // float64 NaN
  "relativeError", // float64 -Infinity
  "dataRecordsReliability", // boolean
  "hashDigestOutput", // boolean
  "sourceMacAddress", // macAddress
  "interfaceName", // string
  "interfaceDescription", // string, empty
  "sourcePodName", // string (Antrea)
  "flowStartSeconds", // dateTimeSeconds
  "flowStartMilliseconds", // dateTimeMilliseconds
  "flowStartMicroseconds", // dateTimeMicroseconds
  "flowStartNanoseconds", // dateTimeNanoseconds
  "sourceIPv4Address", // ipv4Address
  "sourceIPv6Address", // ipv6Address
  "destinationIPv6Address", // ipv6Address, IPv4-mapped
  "reverseOctetDeltaCount", // reverse element (RFC 5103), unsigned64
  "unknown:4242:7", // an element no registry knows: octetArray
  "octetDeltaCount", // a repeated element: octetDeltaCount[1]
]);

function everyType(i: number): DataRecord {
  return {
    mplsTopLabelStackSection: new Uint8Array([0xde, 0xad, 0xbe, 0xef, i]),
    mplsLabelStackSection2: new Uint8Array(0),
    protocolIdentifier: 17,
    sourceTransportPort: 65535 - i,
    ingressInterface: 4294967295,
    octetDeltaCount: 2n ** 64n - 1n - BigInt(i),
    packetDeltaCount: 2n ** 53n + 1n,
    octetTotalCount: Number.MAX_SAFE_INTEGER,
    ingressNetworkPolicyRulePriority: -2147483648 + i,
    samplingProbability: 0.1 * (i + 1),
    absoluteError: NaN,
    relativeError: -Infinity,
    dataRecordsReliability: true,
    hashDigestOutput: false,
    sourceMacAddress: `02:42:ac:11:00:${(i + 2).toString(16).padStart(2, "0")}`,
    interfaceName: `eth${i} ünïcødé 🚀 日本語 "quoted" \\ tab\t nul\u0000 ${"x".repeat(300)}`,
    interfaceDescription: "",
    sourcePodName: `pod-${i}`,
    flowStartSeconds: 1700000000 + i,
    flowStartMilliseconds: 1700000000123 + i,
    flowStartMicroseconds: 1700000000123456 + i,
    flowStartNanoseconds: 1700000000123456789n + BigInt(i),
    sourceIPv4Address: `10.244.1.${i}`,
    sourceIPv6Address: `fd00:10:244::${(i + 5).toString(16)}`,
    destinationIPv6Address: "::ffff:10.0.0.1",
    reverseOctetDeltaCount: 2n ** 63n,
    "unknown:4242:7": new Uint8Array([0xca, 0xfe, i]),
    "octetDeltaCount[1]": i,
  };
}

Deno.test("cli: lossless round trip of every data type: collector JSON → replay → collector JSON", async () => {
  await using first = await CollectorProcess.start(["--address", "127.0.0.1:0:tcp"]);
  await using second = await CollectorProcess.start(["--address", "127.0.0.1:0:tcp"]);
  const n = 20;
  // First run: records of every type from an exporting process, and Antrea flow records.
  const exporters = [11, 12].map((domain) =>
    new ExportingProcess({
      address: `127.0.0.1:${first.port}:tcp`,
      observationDomainId: domain,
      templates: [EVERY_TYPE, antreaFlowTemplate(6)],
      logger: silentLogger,
    })
  );
  try {
    for (const ex of exporters) {
      ex.start();
      for (let i = 0; i < n; i++) {
        ex.send(256, everyType(i));
        ex.send(257, {
          sourceIPv6Address: `fd00::${i + 1}`,
          destinationIPv6Address: "2001:db8::1",
          octetTotalCount: 2n ** 60n,
          sourcePodName: "ünï",
        });
      }
      assert(await ex.flush(WAIT_MS));
    }
  } finally {
    for (const ex of exporters) await ex.close();
  }
  const firstLines = await first.waitLines(4 * n);
  const firstRun = first.records;
  // Values as JSON: integers above 2^53-1 as decimal strings, floats' specials as words.
  const sample = firstRun.find((l) => l.templateId === 256 && l.record.sourcePodName === "pod-3")!;
  assertEquals(sample.record.octetDeltaCount, "18446744073709551612");
  assertEquals(sample.record.packetDeltaCount, "9007199254740993");
  assertEquals(sample.record.octetTotalCount, 9007199254740991);
  assertEquals(sample.record.absoluteError, "NaN");
  assertEquals(sample.record.relativeError, "-Infinity");
  assertEquals(sample.record.flowStartNanoseconds, "1700000000123456792");
  assertEquals(sample.record.mplsTopLabelStackSection, "deadbeef03");
  assertEquals(sample.record.mplsLabelStackSection2, "");
  assertEquals(sample.record["unknown:4242:7"], "cafe03");
  assertEquals(sample.record["octetDeltaCount[1]"], 3);
  assertEquals(sample.record.sourceIPv6Address, "fd00:10:244::8");
  assertEquals(sample.record.destinationIPv6Address, "::ffff:10.0.0.1");
  assertEquals(sample.record.interfaceName, everyType(3).interfaceName);

  // Second run: the first run's output, replayed.
  const out = await replay(["--collector", `127.0.0.1:${second.port}:tcp`], firstLines.join("\n"));
  assertEquals(out.code, 0, out.stderr);
  assertEquals(summary(out.stderr).sent, 4 * n);
  await second.waitLines(4 * n);
  const secondRun = second.records;
  const key = (l: Line) => `${l.observationDomainId}/${l.templateId}`;
  for (const k of ["11/256", "11/257", "12/256", "12/257"]) {
    const a = firstRun.filter((l) => key(l) === k).map((l) => JSON.stringify(l.record));
    const b = secondRun.filter((l) => key(l) === k).map((l) => JSON.stringify(l.record));
    assertEquals(a.length, n, k);
    assertEquals(b, a, `records of ${k}, byte for byte`);
  }
  const c1 = await first.stop();
  const c2 = await second.stop();
  assertEquals(c1.counters.records, 4 * n);
  assertEquals(c2.counters.records, 4 * n);
  assertEquals(c2.counters.errors, 0);
});

Deno.test("cli: replay reports a bad line with its number, skips it, and exits 1", async () => {
  await using c = await CollectorProcess.start(["--address", "127.0.0.1:0:tcp"]);
  const good = (i: number) =>
    JSON.stringify({ record: { octetDeltaCount: i, interfaceName: `if${i}` } });
  const input = [
    good(1),
    "garbage",
    good(2),
    JSON.stringify({ record: { sourceIPv4Address: "999.1.1.1" } }),
    JSON.stringify({ record: { noSuchElement: 1 } }),
    "",
    good(3),
    JSON.stringify({ record: { octetDeltaCount: -5 } }),
    JSON.stringify({ observationDomainId: -1, record: { octetDeltaCount: 5 } }),
    '{"record":{"octetDeltaCount":1', // truncated, last line without a newline
  ].join("\n");
  const out = await replay(["--collector", `127.0.0.1:${c.port}:tcp`], input);
  assertEquals(out.code, 1, out.stderr);
  const errors = out.stderr.split("\n").filter((l) => l.startsWith("line "));
  assertEquals(errors.map((l) => l.slice(0, l.indexOf(":"))), [
    "line 2",
    "line 4",
    "line 5",
    "line 8",
    "line 9",
    "line 10",
  ]);
  assertStringIncludes(errors[0]!, "Not valid JSON");
  assertStringIncludes(errors[1]!, "999.1.1.1");
  assertStringIncludes(errors[2]!, "noSuchElement");
  assertStringIncludes(errors[3]!, "octetDeltaCount");
  assertStringIncludes(errors[4]!, "observationDomainId");
  assertEquals(summary(out.stderr), { lines: 10, records: 3, sent: 3, skipped: 6, dropped: 0 });
  await c.waitLines(3);
  assertEquals(c.records.map((l) => l.record.octetDeltaCount), [1, 2, 3]);
});

Deno.test("cli: replay skips a line longer than 4 MiB without holding it, and reports its number", async () => {
  await using c = await CollectorProcess.start(["--address", "127.0.0.1:0:tcp"]);
  const good = (i: number) => JSON.stringify({ record: { octetDeltaCount: i } });
  const huge = `{"record":{"interfaceName":"${"a".repeat(5 * 1024 * 1024)}"}}`;
  // The second huge line is the last, without a newline.
  const out = await replay(
    ["--collector", `127.0.0.1:${c.port}:tcp`],
    [good(1), huge, good(2), huge].join("\n"),
  );
  assertEquals(out.code, 1, out.stderr);
  const errors = out.stderr.split("\n").filter((l) => l.startsWith("line "));
  assertEquals(errors, [
    "line 2: longer than 4194304 characters, skipped",
    "line 4: longer than 4194304 characters, skipped",
  ]);
  assertEquals(summary(out.stderr), { lines: 4, records: 2, sent: 2, skipped: 2, dropped: 0 });
  await c.waitLines(2);
  assertEquals(c.records.map((l) => l.record.octetDeltaCount), [1, 2]);
});

// A record too large for a message (65535 octets over TCP, udpMessageSize(mtu) over UDP) is a bad
// line like any other: reported with its line number, skipped, and nothing else is lost.
Deno.test("cli: replay reports a record too large for a message with its line number", async () => {
  await using tcp = await CollectorProcess.start(["--address", "127.0.0.1:0:tcp"]);
  await using udp = await CollectorProcess.start(["--address", "127.0.0.1:0:udp"]);
  const unreported: string[] = [];
  for (
    const [c, args, size] of [
      [tcp, [`127.0.0.1:${tcp.port}:tcp`], 65520],
      [udp, [`127.0.0.1:${udp.port}:udp`, "--mtu", "576"], 1000],
    ] as const
  ) {
    const input = jsonLines([
      { record: { interfaceName: "small", octetDeltaCount: 1 } },
      { record: { interfaceName: "x".repeat(size), octetDeltaCount: 2 } },
      { record: { interfaceName: "small", octetDeltaCount: 3 } },
    ]);
    const out = await replay(["--collector", ...args], input);
    assertEquals(out.code, 1, out.stderr);
    await c.waitLines(2);
    assertEquals(c.records.map((l) => l.record.octetDeltaCount), [1, 3]);
    assertEquals(summary(out.stderr).skipped, 1);
    assertEquals(summary(out.stderr).dropped, 0);
    if (!out.stderr.split("\n").some((l) => l.startsWith("line 2:"))) {
      unreported.push(`${args[0]}:\n${out.stderr}`);
    }
  }
  assertEquals(unreported, [], 'every oversized record reported as "line 2: …"');
});

Deno.test("cli: collector --format text prints messages, templates and records", async () => {
  await using c = await CollectorProcess.start([
    "--address",
    "127.0.0.1:0:tcp",
    "--format",
    "text",
  ]);
  const input = jsonLines([
    { observationDomainId: 3, record: { sourceIPv4Address: "10.0.0.1", octetDeltaCount: 1500 } },
    {
      observationDomainId: 3,
      record: { sourceIPv4Address: "10.0.0.2", octetDeltaCount: "18446744073709551615" },
    },
  ]);
  const out = await replay(["--collector", `127.0.0.1:${c.port}:tcp`], input);
  assertEquals(out.code, 0, out.stderr);
  await c.waitLines(8);
  const text = c.bg.stdout;
  assert(
    /^IPFIX message from 127\.0\.0\.1:\d+: domain 3, sequence 0, exported \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ, 2 records$/m
      .test(text),
    text,
  );
  assertStringIncludes(text, "  template 256: sourceIPv4Address(4) octetDeltaCount(8)\n");
  assertStringIncludes(text, "  template 256 record 1\n");
  assertStringIncludes(text, '    sourceIPv4Address: "10.0.0.1"\n');
  assertStringIncludes(text, "    octetDeltaCount: 1500\n");
  assertStringIncludes(text, "  template 256 record 2\n");
  assertStringIncludes(text, '    octetDeltaCount: "18446744073709551615"\n');
  const { code, counters } = await c.stop();
  assertEquals(code, 0);
  assertEquals(counters.records, 2);
});

Deno.test("cli: udp collector (--rcvbuf) and replay", async () => {
  await using c = await CollectorProcess.start([
    "--address",
    "127.0.0.1:0:udp",
    "--rcvbuf",
    "1048576",
  ]);
  const input = jsonLines(
    Array.from(
      { length: 50 },
      (_, i) => ({ record: { octetDeltaCount: i, interfaceName: `if${i}` } }),
    ),
  );
  const out = await replay(["--collector", `127.0.0.1:${c.port}:udp`, "--mtu", "576"], input);
  assertEquals(out.code, 0, out.stderr);
  await c.waitLines(50);
  assertEquals(
    c.records.map((l) => l.record.octetDeltaCount),
    Array.from({ length: 50 }, (_, i) => i),
  );
  const { counters } = await c.stop();
  assertEquals(counters.records, 50);
  assert(counters.messages! > 1, "several datagrams");
  assertEquals(counters.kernelDrops, 0);
});

Deno.test("cli: replay --template-refresh sends the templates again over udp", async () => {
  await using c = await CollectorProcess.start(["--address", "127.0.0.1:0:udp"]);
  await using r = Background.start(
    DENO,
    [...RUN, REPLAY, "--collector", `127.0.0.1:${c.port}:udp`, "--template-refresh", "100ms"],
    { cwd: ROOT, env: ENV, stdin: "piped" },
  );
  const line = (i: number) => jsonLines([{ record: { octetDeltaCount: i } }]);
  await r.write(line(1));
  await c.waitLines(1);
  // More than the 100 ms refresh interval later, the next record comes after the templates.
  await sleep(250);
  await r.write(line(2));
  await c.waitLines(2);
  await r.closeStdin();
  const out = await r.wait();
  assertEquals(out.status.code, 0, out.stderr);
  const { counters } = await c.stop();
  assertEquals([counters.records, counters.templates, counters.errors], [2, 2, 0]);
});

Deno.test({
  name: "cli: a udp collector asks for a 4 MiB socket buffer; --rcvbuf 0 keeps the system's",
  // The recvmmsg receiver (Linux) reports the buffer the kernel granted.
  ignore: Deno.build.os !== "linux",
  async fn() {
    // Reading /proc takes --allow-all in Deno; cat does not.
    const cat = async (path: string) => {
      const out = await new Deno.Command("cat", { args: [path] }).output();
      assert(out.success, `cat ${path}`);
      return new TextDecoder().decode(out.stdout);
    };
    const system = Number(await cat("/proc/sys/net/core/rmem_default"));
    const max = Number(await cat("/proc/sys/net/core/rmem_max"));
    // CAP_NET_ADMIN (bit 12 of the effective set) passes rmem_max with SO_RCVBUFFORCE; without
    // it the kernel caps the ask at rmem_max. Either way it doubles what it grants.
    const capEff = /CapEff:\s*([0-9a-f]+)/.exec(await cat("/proc/self/status"))![1]!;
    const netAdmin = (BigInt(`0x${capEff}`) & (1n << 12n)) !== 0n;
    const granted = (asked: number) => 2 * (netAdmin ? asked : Math.min(asked, max));
    const cases: [string[], number][] = [
      [[], granted(4 << 20)],
      [["--rcvbuf", "0"], system],
      [["--rcvbuf", "65536"], granted(65536)],
    ];
    for (const [args, expected] of cases) {
      await using c = await CollectorProcess.start(["--address", "127.0.0.1:0:udp", ...args]);
      assertEquals(c.listening.udpReceiver, "recvmmsg");
      assertEquals(c.listening.rcvbuf, expected, `rcvbuf with ${JSON.stringify(args)}`);
    }
  },
});

Deno.test("cli: tls collector (--cert/--key) and replay --ca; mutual TLS with --ca and --cert/--key", async () => {
  const certs = await writeTestCerts();
  try {
    const p = certs.path;
    const server = [
      "--address",
      "127.0.0.1:0:tls",
      "--cert",
      p("server.pem"),
      "--key",
      p("server-key.pem"),
    ];
    const input = jsonLines([
      { record: { sourcePodName: "a", octetDeltaCount: 1 } },
      { record: { sourcePodName: "b", octetDeltaCount: 2 } },
    ]);
    {
      await using c = await CollectorProcess.start(server);
      const out = await replay(["--collector", `localhost:${c.port}`, "--ca", p("ca.pem")], input);
      assertEquals(out.code, 0, out.stderr);
      await c.waitLines(2);
      assertEquals(c.records.map((l) => l.record), [
        { sourcePodName: "a", octetDeltaCount: 1 },
        { sourcePodName: "b", octetDeltaCount: 2 },
      ]);
      const { counters } = await c.stop();
      assertEquals(counters.records, 2);
    }
    {
      await using c = await CollectorProcess.start([...server, "--ca", p("ca.pem")]);
      const out = await replay([
        "--collector",
        `127.0.0.1:${c.port}:tls`,
        "--ca",
        p("ca.pem"),
        "--cert",
        p("client.pem"),
        "--key",
        p("client-key.pem"),
      ], input);
      assertEquals(out.code, 0, out.stderr);
      await c.waitLines(2);
      assertEquals(c.records.map((l) => l.record.sourcePodName), ["a", "b"]);
      const { counters } = await c.stop("SIGINT");
      assertEquals(counters.records, 2);
    }
  } finally {
    await Deno.remove(certs.dir, { recursive: true });
  }
});
