/**
 * Helpers of the interop tests: finding third-party tools, registering tests that need them
 * (skipped loudly by hand, failed under CI), running commands with a timeout, background
 * processes that are always stopped, free loopback ports and temporary directories.
 *
 * @module
 */

/** Directories searched after PATH: Debian puts softflowd in /usr/sbin, off a user's PATH. */
const EXTRA_DIRS = ["/usr/local/sbin", "/usr/sbin", "/sbin"];

/** The path of an executable named `name` on PATH (or in an sbin directory), if any. */
export function toolPath(name: string): string | undefined {
  const dirs = [...(Deno.env.get("PATH") ?? "").split(":").filter((d) => d !== ""), ...EXTRA_DIRS];
  for (const dir of dirs) {
    const path = `${dir}/${name}`;
    try {
      const st = Deno.statSync(path);
      if (st.isFile && ((st.mode ?? 0o111) & 0o111) !== 0) return path;
    } catch {
      // Not there.
    }
  }
  return undefined;
}

/** Whether a tool is installed (on PATH, or in an sbin directory). */
export function requireTool(name: string): boolean {
  return toolPath(name) !== undefined;
}

/** The path of a tool that a test's prerequisites said is there. */
export function tool(name: string): string {
  const path = toolPath(name);
  if (!path) throw new Error(`${name} is not installed`);
  return path;
}

/** Something a test needs, and what to say when it is missing. */
export interface Prerequisite {
  readonly ok: boolean;
  readonly reason: string;
}

/** The Debian package of each tool, for the skip message. */
const PACKAGES: Record<string, string> = {
  tshark: "tshark",
  nfcapd: "nfdump",
  nfdump: "nfdump",
  softflowd: "softflowd",
  tcpdump: "tcpdump",
  unshare: "util-linux",
};

/** A prerequisite: the tool is installed. */
export function needsTool(name: string): Prerequisite {
  return {
    ok: requireTool(name),
    reason: `${name} is not installed (apt-get install ${PACKAGES[name] ?? name})`,
  };
}

/** A prerequisite: running as root (packet capture on `lo`). */
export function needsRoot(why: string): Prerequisite {
  let uid: number | null = null;
  try {
    uid = Deno.uid();
  } catch {
    // No --allow-sys: treated as not root.
  }
  return { ok: uid === 0, reason: `${why} needs root (uid is ${uid ?? "unknown"})` };
}

/** Whether the tests run under CI (CI=true), where a missing prerequisite is a failure. */
export function isCI(): boolean {
  return /^(true|1)$/i.test(Deno.env.get("CI") ?? "");
}

/**
 * Registers a test that needs third-party tools. When a prerequisite is missing the test is
 * ignored and a banner on stderr says why, unless CI=true: then the test runs and fails with
 * the same reason, so that CI never passes by skipping.
 */
export function interopTest(
  name: string,
  prerequisites: readonly Prerequisite[],
  fn: (t: Deno.TestContext) => Promise<void>,
): void {
  const missing = prerequisites.filter((p) => !p.ok).map((p) => p.reason);
  if (missing.length === 0) {
    Deno.test({ name, fn });
    return;
  }
  const why = missing.join("; ");
  if (isCI()) {
    Deno.test({
      name,
      fn() {
        throw new Error(`CI=true and a prerequisite of this interop test is missing: ${why}`);
      },
    });
    return;
  }
  const line = "!".repeat(78);
  console.error(
    `\n${line}\n!! SKIPPING interop test "${name}"\n!! because ${why}.\n!! Under CI=true this test fails instead.\n${line}\n`,
  );
  Deno.test({ name, ignore: true, fn });
}

/** The outcome of a command. */
export interface RunResult {
  code: number;
  signal: Deno.Signal | null;
  stdout: string;
  stderr: string;
  stdoutBytes: Uint8Array;
}

/** Options of {@link run}. */
export interface RunOptions {
  /** Killed (SIGKILL) after this long; 30 s by default. */
  timeoutMs?: number;
  cwd?: string;
  env?: Record<string, string>;
  /** A non-zero exit code is returned instead of thrown. */
  allowFailure?: boolean;
  /** Written to the command's stdin, which is then closed; without it, stdin is /dev/null. */
  stdin?: string | Uint8Array;
}

const decoder = new TextDecoder();

function describe(cmd: string, args: readonly string[]): string {
  return [cmd, ...args].map((a) => /^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a)).join(" ");
}

/** Starts `cmd` with its stdout and stderr piped, and its stdin piped when `options.stdin` is set. */
function spawn(cmd: string, args: readonly string[], options: RunOptions): Deno.ChildProcess {
  return new Deno.Command(cmd, {
    args: [...args],
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    ...(options.cwd ? { cwd: options.cwd } : {}),
    ...(options.env ? { env: options.env } : {}),
  }).spawn();
}

/** Writes `input` to the child's stdin and closes it; a child that exits without reading is fine. */
async function feed(child: Deno.ChildProcess, input: string | Uint8Array): Promise<void> {
  const writer = child.stdin.getWriter();
  try {
    await writer.write(typeof input === "string" ? new TextEncoder().encode(input) : input);
    await writer.close();
  } catch {
    // The command exited without reading all of it (--help, a bad flag).
  }
}

/**
 * Runs a command to completion and collects its output. Throws when it runs longer than the
 * timeout (it is killed) or exits non-zero (unless `allowFailure`), with its stderr in the message.
 */
export async function run(
  cmd: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<RunResult> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const child = spawn(cmd, args, options);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
  }, timeoutMs);
  let out: Deno.CommandOutput;
  try {
    // Output is collected while the input is written, so that neither side blocks the other.
    const output = child.output();
    if (options.stdin !== undefined) await feed(child, options.stdin);
    out = await output;
  } finally {
    clearTimeout(timer);
  }
  const result: RunResult = {
    code: out.code,
    signal: out.signal,
    stdout: decoder.decode(out.stdout),
    stderr: decoder.decode(out.stderr),
    stdoutBytes: out.stdout,
  };
  if (timedOut) {
    throw new Error(
      `${describe(cmd, args)} did not finish within ${timeoutMs} ms and was killed\nstderr: ${
        result.stderr.slice(-2000)
      }`,
    );
  }
  if (result.code !== 0 && !options.allowFailure) {
    throw new Error(
      `${describe(cmd, args)} exited with ${result.code}${
        result.signal ? ` (${result.signal})` : ""
      }\nstderr: ${result.stderr.slice(-2000)}\nstdout: ${result.stdout.slice(-1000)}`,
    );
  }
  return result;
}

/**
 * Options of {@link Background.start}: stdin is /dev/null unless `stdin` is "piped" (then
 * `write` and `closeStdin` feed it), and it runs until stopped.
 */
export type BackgroundOptions = Pick<RunOptions, "cwd" | "env"> & { stdin?: "piped" };

/**
 * A process running in the background while a test talks to it; its stdout and stderr are
 * collected. `stop()` (or leaving an `await using` block) signals it, waits, and kills it if it
 * does not exit in time.
 */
export class Background implements AsyncDisposable {
  readonly command: string;
  #child: Deno.ChildProcess;
  #out = "";
  #err = "";
  #readers: Promise<void>;
  #status: Promise<Deno.CommandStatus>;
  #exited = false;
  #changed: (() => void)[] = [];
  #stdin: WritableStreamDefaultWriter<Uint8Array> | undefined;

  private constructor(cmd: string, args: readonly string[], options: BackgroundOptions) {
    this.command = describe(cmd, args);
    const { stdin, ...rest } = options;
    this.#child = spawn(cmd, args, stdin === "piped" ? { ...rest, stdin: "" } : rest);
    if (stdin === "piped") this.#stdin = this.#child.stdin.getWriter();
    this.#status = this.#child.status.then((s) => {
      this.#exited = true;
      this.#notify();
      return s;
    });
    this.#readers = Promise.all([
      this.#read(this.#child.stdout, (s) => this.#out += s),
      this.#read(this.#child.stderr, (s) => this.#err += s),
    ]).then(() => {});
  }

  /** Starts `cmd`. */
  static start(cmd: string, args: readonly string[], options: BackgroundOptions = {}): Background {
    return new Background(cmd, args, options);
  }

  async #read(stream: ReadableStream<Uint8Array>, add: (s: string) => void): Promise<void> {
    const dec = new TextDecoder();
    try {
      for await (const chunk of stream) {
        add(dec.decode(chunk, { stream: true }));
        this.#notify();
      }
    } catch {
      // The process was killed.
    }
  }

  #notify(): void {
    const waiters = this.#changed;
    this.#changed = [];
    for (const w of waiters) w();
  }

  /** Everything written to stdout so far. */
  get stdout(): string {
    return this.#out;
  }

  /** Everything written to stderr so far. */
  get stderr(): string {
    return this.#err;
  }

  /** The process ID. */
  get pid(): number {
    return this.#child.pid;
  }

  /** Writes `text` to the process's stdin (started with `stdin: "piped"`). */
  async write(text: string): Promise<void> {
    if (!this.#stdin) throw new TypeError(`${this.command} was started without a piped stdin`);
    await this.#stdin.write(new TextEncoder().encode(text));
  }

  /** Closes the process's stdin (end of input); a process that exited already is fine. */
  async closeStdin(): Promise<void> {
    await this.#stdin?.close().catch(() => {});
    this.#stdin = undefined;
  }

  /**
   * Waits up to `timeoutMs` for the process to exit by itself, then kills it. Resolves like
   * {@link stop}.
   */
  wait(
    timeoutMs = 10_000,
  ): Promise<{ status: Deno.CommandStatus; stdout: string; stderr: string }> {
    return this.#finish(undefined, timeoutMs);
  }

  /** Whether the process has exited. */
  get exited(): boolean {
    return this.#exited;
  }

  /**
   * Resolves with the output once stdout or stderr matches `re`; rejects when the process exits
   * first or after `timeoutMs`.
   */
  async waitForOutput(re: RegExp, timeoutMs = 10_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const text = this.#out + this.#err;
      if (re.test(text)) return text;
      if (this.#exited) {
        throw new Error(
          `${this.command} exited before printing ${re}\nstdout: ${
            this.#out.slice(-1500)
          }\nstderr: ${this.#err.slice(-1500)}`,
        );
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(
          `${this.command} did not print ${re} within ${timeoutMs} ms\nstdout: ${
            this.#out.slice(-1500)
          }\nstderr: ${this.#err.slice(-1500)}`,
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, Math.min(left, 250));
        function done() {
          clearTimeout(timer);
          resolve();
        }
        this.#changed.push(done);
      });
    }
  }

  /**
   * Sends `signal` (unless the process already exited), waits up to `timeoutMs`, then kills it.
   * Resolves with its exit status and output; safe to call more than once.
   */
  stop(
    signal: Deno.Signal = "SIGTERM",
    timeoutMs = 5_000,
  ): Promise<{ status: Deno.CommandStatus; stdout: string; stderr: string }> {
    return this.#finish(signal, timeoutMs);
  }

  async #finish(
    signal: Deno.Signal | undefined,
    timeoutMs: number,
  ): Promise<{ status: Deno.CommandStatus; stdout: string; stderr: string }> {
    // Not awaited before the timeout: a process that does not read could keep a write pending.
    const closing = this.closeStdin();
    if (signal && !this.#exited) {
      try {
        this.#child.kill(signal);
      } catch {
        // Exited meanwhile.
      }
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const killed = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        try {
          this.#child.kill("SIGKILL");
        } catch {
          // Exited meanwhile.
        }
        resolve();
      }, timeoutMs);
    });
    await Promise.race([this.#status, killed]);
    clearTimeout(timer);
    const status = await this.#status;
    await closing;
    await this.#readers;
    return { status, stdout: this.#out, stderr: this.#err };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop("SIGKILL", 2_000);
  }
}

/** A UDP port on 127.0.0.1 that was free a moment ago (bound to port 0, then closed). */
export function freeUdpPort(hostname = "127.0.0.1"): number {
  const s = Deno.listenDatagram({ transport: "udp", hostname, port: 0 });
  const port = (s.addr as Deno.NetAddr).port;
  s.close();
  return port;
}

/** A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then closed). */
export function freeTcpPort(hostname = "127.0.0.1"): number {
  const l = Deno.listen({ transport: "tcp", hostname, port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** A temporary directory removed (with its content) when the `await using` block ends. */
export interface TempDir extends AsyncDisposable {
  readonly path: string;
}

/** Makes a temporary directory whose name starts with `prefix`. */
export async function tempDir(prefix: string): Promise<TempDir> {
  const path = await Deno.makeTempDir({ prefix });
  return {
    path,
    async [Symbol.asyncDispose]() {
      await Deno.remove(path, { recursive: true }).catch(() => {});
    },
  };
}

/** Polls `check` every 20 ms until it returns a value other than undefined, or throws. */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Waits `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A UDP receiver on a free loopback port that keeps every datagram with its source port. */
export class DatagramSink implements AsyncDisposable {
  readonly port: number;
  readonly datagrams: { payload: Uint8Array; srcPort: number; src: string }[] = [];
  #conn: Deno.DatagramConn;
  #loop: Promise<void>;

  constructor(hostname = "127.0.0.1") {
    const conn = Deno.listenDatagram({ transport: "udp", hostname, port: 0 });
    this.#conn = conn;
    this.port = (conn.addr as Deno.NetAddr).port;
    this.#loop = (async () => {
      try {
        while (true) {
          const [payload, addr] = await conn.receive();
          const a = addr as Deno.NetAddr;
          this.datagrams.push({ payload, srcPort: a.port, src: a.hostname });
        }
      } catch {
        // Closed.
      }
    })();
  }

  /** Waits until at least `n` datagrams arrived. */
  async waitFor(n: number, timeoutMs = 10_000): Promise<void> {
    await waitFor(
      `${n} datagrams on port ${this.port}`,
      () => this.datagrams.length >= n ? true : undefined,
      timeoutMs,
    );
  }

  async close(): Promise<void> {
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
    await this.#loop;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
