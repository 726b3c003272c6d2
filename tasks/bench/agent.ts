/**
 * `deno task bench agent`: the agent's connection store with 100k tracked connections: store
 * updates per second (a poll's worth of entries with moving counters), the cost of a 5 s poll
 * cycle on one core, and the memory the store holds.
 *
 * No root needed: the entries are synthetic, shaped as `Conntrack.dump()` returns them; the
 * conntrack read itself is `deno task bench conntrack`.
 *
 * @module
 */

import type { ConnEntry } from "../../src/conntrack/mod.ts";
import {
  classifyConnection,
  type ClusterKnowledge,
  ConnectionStore,
  type FlowMeta,
  flowRecord,
} from "../../src/exporter/mod.ts";
import { parseFlags } from "../_cli.ts";

const USAGE = `Usage: deno task bench agent [--connections N] [--polls N]

Store updates/s with N tracked connections (default 100000) over --polls polls (default 16, so that active timeouts fire),
the CPU share of one core a 5 s poll interval costs, and the store's memory.`;

function entries(n: number, round: number): ConnEntry[] {
  const out: ConnEntry[] = new Array(n);
  for (let i = 0; i < n; i++) {
    // Local pods 10.244.1.0/24 talk to pods on other nodes and to the outside.
    const src = `10.244.1.${(i % 250) + 2}`;
    const dst = i % 5 === 0
      ? `93.184.${(i >> 8) & 255}.${i & 255}`
      : `10.244.${2 + (i % 20)}.${(i >> 5) % 250 + 2}`;
    const sport = 10000 + (i % 50000);
    const grow = round * (1 + (i % 7));
    out[i] = {
      id: i + 1,
      family: 4,
      protocol: i % 4 === 0 ? 17 : 6,
      original: {
        src,
        dst,
        srcPort: sport,
        dstPort: 8080,
        packets: 10 + grow,
        bytes: 1500 * (10 + grow),
      },
      reply: {
        src: dst,
        dst: src,
        srcPort: 8080,
        dstPort: sport,
        packets: 8 + grow,
        bytes: 900 * (8 + grow),
      },
      icmp: undefined,
      tcpState: i % 4 === 0 ? undefined : "ESTABLISHED",
      status: 0b1110,
      mark: 0,
      zone: 0,
      labels: 0n,
      timeout: 120,
      hasCounters: true,
      startNs: 1_800_000_000_000_000_000n,
      stopNs: undefined,
    };
  }
  return out;
}

const pods = new Map<string, { namespace: string; name: string; nodeName: string }>();
const cluster: ClusterKnowledge = {
  podByIP(ip) {
    if (!ip.startsWith("10.244.")) return undefined;
    let p = pods.get(ip);
    if (!p) {
      const node = `node-${ip.split(".")[2]}`;
      p = { namespace: "shop", name: `pod-${ip.replaceAll(".", "-")}`, nodeName: node };
      pods.set(ip, p);
    }
    return p;
  },
  serviceByClusterIP: () => undefined,
  isPodCIDR: (ip) => ip.startsWith("10.244."),
};

function mb(n: number): string {
  return `${(n / 1048576).toFixed(1)} MiB`;
}

/** Runs the benchmark. */
export async function main(args: string[]): Promise<void> {
  const flags = parseFlags(USAGE, {
    connections: { type: "string", default: "100000" },
    polls: { type: "string", default: "16" },
  }, args);
  const n = Number(flags.connections);
  const polls = Number(flags.polls);
  if (!(n > 0) || !(polls > 1)) {
    console.error(USAGE);
    Deno.exit(2);
  }
  let now = 1_800_000_000_000;
  const store = new ConnectionStore<FlowMeta>(
    (e) => classifyConnection(e, { nodeName: "node-1", cluster }),
    { clock: () => now, maxConnections: 2 * n },
  );
  const rounds = Array.from({ length: polls }, (_, r) => entries(n, r));
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const before = Deno.memoryUsage();
  const t0 = performance.now();
  store.update(rounds[0]!, now);
  const first = performance.now() - t0;
  gc?.();
  const after = Deno.memoryUsage();
  const times: number[] = [];
  let records = 0;
  for (let r = 1; r < polls; r++) {
    now += 5_000;
    const t = performance.now();
    store.update(rounds[r]!, now);
    for (const item of store.due(now)) {
      flowRecord(item, "node-1");
      records++;
    }
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)]!;
  console.log(`Agent connection store, ${n} tracked connections, ${polls} polls 5 s apart`);
  console.log(`  first poll (classify ${n} new connections): ${first.toFixed(0)} ms`);
  console.log(
    `  steady poll (update all, export what is due): median ${median.toFixed(0)} ms, ` +
      `${Math.round(n / median * 1000)} store updates/s`,
  );
  console.log(
    `  CPU share of one core at a 5 s poll interval: ${(median / 5000 * 100).toFixed(1)} %`,
  );
  console.log(`  flow records built: ${records}`);
  console.log(
    `  memory held by the store: heap +${mb(after.heapUsed - before.heapUsed)} ` +
      `(${Math.round((after.heapUsed - before.heapUsed) / n)} octets per connection), process RSS ${
        mb(after.rss)
      } (with the synthetic polls it holds)` +
      (gc ? "" : " (run with --v8-flags=--expose-gc for exact heap figures)"),
  );
  await Promise.resolve();
}
