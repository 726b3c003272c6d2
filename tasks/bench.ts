/**
 * `deno task bench <name> [flags]`: runs one benchmark, `tasks/bench/<name>.ts`. Each prints its
 * figures next to a peer measured in the same run; `deno task bench <name> --help` says what it
 * measures. A benchmark is a module that exports `main(args: string[])` and whose module doc
 * starts with "`deno task bench <name>`: <summary>.".
 *
 * @module
 */

const DIR = new URL("./bench/", import.meta.url);

/** Benchmark names and their summaries, from the files in tasks/bench/. */
async function benchmarks(): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  for await (const e of Deno.readDir(DIR)) {
    if (!e.isFile || !e.name.endsWith(".ts") || e.name.startsWith("_")) continue;
    if (e.name.endsWith("_test.ts")) continue;
    const name = e.name.slice(0, -3);
    const text = await Deno.readTextFile(new URL(e.name, DIR));
    found.set(name, summaryOf(text));
  }
  return new Map([...found].sort(([a], [b]) => a.localeCompare(b)));
}

/** The first sentence after "`deno task bench <name>`:" in the module doc. */
function summaryOf(text: string): string {
  const doc = /\/\*\*([^]*?)\*\//.exec(text)?.[1] ?? "";
  const prose = doc.split("\n").map((l) => l.replace(/^\s*\*\s?/, "")).join(" ");
  const m = /`deno task bench [\w-]+`:\s*(.*?)(?:\.\s|\.$|\s@module|$)/.exec(prose);
  return (m?.[1] ?? "").replace(/\s+/g, " ").trim();
}

async function usage(): Promise<string> {
  const list = [...(await benchmarks())]
    .map(([n, s]) => `  ${n.padEnd(11)} ${s.length > 86 ? s.slice(0, 85) + "…" : s}`)
    .join("\n");
  return `Usage: deno task bench <name> [flags]

Benchmarks (tasks/bench/<name>.ts):
${list}

  deno task bench <name> --help   what a benchmark measures, and its flags
  -h, --help                      this help

Figures, the commands that produced them and the machine are recorded in BENCHMARKS.md.`;
}

const [name, ...rest] = Deno.args.filter((a) => a !== "--");
if (name === undefined || name === "-h" || name === "--help") {
  console.log(await usage());
  Deno.exit(name === undefined ? 2 : 0);
}
if (!(await benchmarks()).has(name)) {
  console.error(`Unknown benchmark "${name}"\n\n${await usage()}`);
  Deno.exit(2);
}
const bench = await import(new URL(`${name}.ts`, DIR).href) as {
  main?: (args: string[]) => Promise<void>;
};
if (typeof bench.main !== "function") {
  console.error(`tasks/bench/${name}.ts does not export main(args)`);
  Deno.exit(1);
}
await bench.main(rest);
