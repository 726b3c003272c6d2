/**
 * A real ClickHouse server for the tests and the benchmark: started from Debian's
 * `clickhouse-server` in a temporary directory (its own config.xml and users.xml, data, logs) on
 * free loopback ports, ready once `/ping` answers; it can be killed (SIGKILL) and started again
 * on the same directory and ports, and is stopped and removed at the end.
 *
 * @module
 */

import { Background, freeTcpPort, type Prerequisite, run, toolPath } from "./_tools.ts";

/** A prerequisite: clickhouse-server and clickhouse-client are installed. */
export function needsClickHouse(): Prerequisite {
  const missing = ["clickhouse-server", "clickhouse-client"].filter((t) => !toolPath(t));
  return {
    ok: missing.length === 0,
    reason: `${missing.join(" and ")} ${
      missing.length > 1 ? "are" : "is"
    } not installed (apt-get install clickhouse-server clickhouse-client)`,
  };
}

function configXml(dir: string, httpPort: number, tcpPort: number): string {
  return `<?xml version="1.0"?>
<yandex>
  <logger>
    <level>warning</level>
    <log>${dir}/log/server.log</log>
    <errorlog>${dir}/log/error.log</errorlog>
    <size>10M</size>
    <count>1</count>
  </logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>${httpPort}</http_port>
  <tcp_port>${tcpPort}</tcp_port>
  <path>${dir}/data/</path>
  <tmp_path>${dir}/tmp/</tmp_path>
  <user_files_path>${dir}/user_files/</user_files_path>
  <format_schema_path>${dir}/format_schemas/</format_schema_path>
  <users_config>users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>268435456</mark_cache_size>
  <uncompressed_cache_size>268435456</uncompressed_cache_size>
  <max_concurrent_queries>50</max_concurrent_queries>
  <keep_alive_timeout>10</keep_alive_timeout>
</yandex>
`;
}

const USERS_XML = `<?xml version="1.0"?>
<yandex>
  <profiles>
    <default>
      <max_memory_usage>4000000000</max_memory_usage>
    </default>
  </profiles>
  <users>
    <default>
      <password></password>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
  </users>
  <quotas>
    <default>
      <interval>
        <duration>3600</duration>
        <queries>0</queries>
        <errors>0</errors>
        <result_rows>0</result_rows>
        <read_rows>0</read_rows>
        <execution_time>0</execution_time>
      </interval>
    </default>
  </quotas>
</yandex>
`;

/** Options of {@link ClickHouseServer.start}. */
export interface ClickHouseServerOptions {
  /** The server's directory (kept at the end); a new temporary one (removed) by default. */
  dir?: string;
  /**
   * A command prefix that the server and `clickhouse-client` run under, e.g.
   * `["ip", "netns", "exec", ns]`: the server then listens on that namespace's loopback, which
   * only processes in the namespace reach.
   */
  prefix?: readonly string[];
}

/** A ClickHouse server of a test. */
export class ClickHouseServer implements AsyncDisposable {
  readonly dir: string;
  readonly httpPort: number;
  readonly tcpPort: number;
  /** The command prefix of the server and the client; empty for none. */
  readonly prefix: readonly string[];
  #proc: Background | undefined;
  #ownsDir: boolean;

  /** The server's process id while it runs. */
  get pid(): number | undefined {
    return this.#proc && !this.#proc.exited ? this.#proc.pid : undefined;
  }

  private constructor(
    dir: string,
    httpPort: number,
    tcpPort: number,
    ownsDir: boolean,
    prefix: readonly string[],
  ) {
    this.dir = dir;
    this.httpPort = httpPort;
    this.tcpPort = tcpPort;
    this.#ownsDir = ownsDir;
    this.prefix = prefix;
  }

  /** The HTTP interface's URL. */
  get url(): string {
    return `http://127.0.0.1:${this.httpPort}`;
  }

  /** Writes the configuration in a new temporary directory (or `dir`) and starts the server. */
  static async start(options: ClickHouseServerOptions = {}): Promise<ClickHouseServer> {
    const ownsDir = options.dir === undefined;
    const dir = options.dir ?? await Deno.makeTempDir({ prefix: "flowvis-clickhouse-" });
    // Ports free in this namespace; a fresh namespace behind a prefix has every port free.
    const server = new ClickHouseServer(
      dir,
      freeTcpPort(),
      freeTcpPort(),
      ownsDir,
      options.prefix ?? [],
    );
    try {
      for (const sub of ["data", "tmp", "log", "user_files", "format_schemas"]) {
        await Deno.mkdir(`${dir}/${sub}`, { recursive: true });
      }
      await Deno.writeTextFile(
        `${dir}/config.xml`,
        configXml(dir, server.httpPort, server.tcpPort),
      );
      await Deno.writeTextFile(`${dir}/users.xml`, USERS_XML);
      await server.restart();
    } catch (err) {
      await server.stop();
      throw err;
    }
    return server;
  }

  /** Starts the server (again) on the same directory and ports; resolves once /ping answers. */
  async restart(timeoutMs = 60_000): Promise<void> {
    if (this.#proc && !this.#proc.exited) throw new Error("ClickHouse server is running");
    this.#proc = Background.start(
      ...this.#command(toolPath("clickhouse-server")!, [`--config-file=${this.dir}/config.xml`]),
      { cwd: this.dir },
    );
    const deadline = Date.now() + timeoutMs;
    while (true) {
      if (await this.#ready()) return;
      if (this.#proc.exited) {
        const log = await Deno.readTextFile(`${this.dir}/log/error.log`).catch(() => "");
        throw new Error(
          `clickhouse-server exited at start\nstderr: ${this.#proc.stderr.slice(-1500)}\nlog: ${
            log.slice(-1500)
          }`,
        );
      }
      if (Date.now() > deadline) {
        throw new Error(`clickhouse-server did not answer /ping within ${timeoutMs} ms`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Whether the server answers: `/ping`, or `SELECT 1` through the prefix. */
  async #ready(): Promise<boolean> {
    if (this.prefix.length === 0) {
      try {
        const r = await fetch(`${this.url}/ping`, { signal: AbortSignal.timeout(1000) });
        const text = await r.text();
        return r.ok && text.startsWith("Ok");
      } catch {
        return false; // Not listening yet.
      }
    }
    const r = await run(
      ...this.#command(toolPath("clickhouse-client")!, [
        "--host",
        "127.0.0.1",
        "--port",
        String(this.tcpPort),
        "--query",
        "SELECT 1",
      ]),
      { allowFailure: true, timeoutMs: 10_000 },
    ).catch(() => undefined);
    return r?.code === 0 && r.stdout.trim() === "1";
  }

  /** `cmd args…` under the prefix. */
  #command(cmd: string, args: readonly string[]): [string, string[]] {
    const [first, ...rest] = this.prefix;
    return first === undefined ? [cmd, [...args]] : [first, [...rest, cmd, ...args]];
  }

  /** Kills the server with SIGKILL (no clean shutdown) and waits for it to exit. */
  async kill(): Promise<void> {
    await this.#proc?.stop("SIGKILL", 5_000);
  }

  /** Runs `clickhouse-client` against the server: a query, with `stdin` as its data. */
  async client(query: string, stdin?: string | Uint8Array, timeoutMs = 120_000): Promise<string> {
    const r = await run(
      ...this.#command(
        toolPath("clickhouse-client")!,
        ["--host", "127.0.0.1", "--port", String(this.tcpPort), "--query", query],
      ),
      { timeoutMs, ...(stdin !== undefined ? { stdin } : {}) },
    );
    return r.stdout;
  }

  /** Stops the server (SIGTERM, then SIGKILL) and removes its directory if it made it. */
  async stop(): Promise<void> {
    await this.#proc?.stop("SIGTERM", 3_000);
    if (this.#ownsDir) await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
