/**
 * `deno task bench aggregator`: flow records per second through IPFIX decode + correlation +
 * aggregation + expiry on one core (target 500k/s), next to decode alone in the same run, and
 * the memory one cached flow costs with 1M flows (target 400 octets).
 *
 * The records are both halves of inter-node flows between the pods of a simulated cluster, as
 * two agents send them, over several export rounds with growing counters.
 *
 * @module
 */

import { AggregationProcess } from "../../src/aggregator/aggregation.ts";
import {
  antreaFlowTemplate,
  compileTemplate,
  type DataRecord,
  decodeMessage,
  type EncodedMessage,
  MessageEncoder,
  TemplateCache,
} from "../../src/ipfix/mod.ts";
import { Rng } from "../../src/random/mod.ts";
import { parseFlags } from "../_cli.ts";

const USAGE =
  `Usage: deno task bench aggregator [--flows N] [--rounds N] [--memory-flows N] [--quick]

Records/s through decode + correlate + aggregate + expire on one core, for --flows inter-node
flows (default 100000) whose two halves arrive over --rounds export rounds (default 4), next to
decode alone on the same messages; then the memory per cached flow with --memory-flows flows
(default 1000000), measured in a child process after garbage collection.`;

const TARGET_RATE = 500_000;
const TARGET_BYTES = 400;

/** A cluster: pods on nodes, and the pod pairs that talk (with their Service and policies). */
interface Edge {
  srcIP: string;
  dstIP: string;
  src: { name: string; namespace: string; node: string };
  dst: { name: string; namespace: string; node: string };
  clusterIP: string;
  servicePort: number;
  servicePortName: string;
  dport: number;
  ingress: string;
  egress: string;
}

export function cluster(pods: number, edges: number, seed: number): Edge[] {
  const rng = new Rng(seed);
  const int = (n: number) => Math.floor(rng.float() * n);
  const ps = Array.from({ length: pods }, (_, i) => ({
    name: `app-${i % 40}-7d9f8c6b5-${(i * 2654435761 >>> 0).toString(36).slice(0, 5)}`,
    namespace: `team-${i % 12}`,
    node: `k8s-worker-${(i % 20) + 1}`,
    ip: `10.${10 + (i % 20)}.${(i >> 8) & 255}.${(i & 255) || 1}`,
  }));
  const out: Edge[] = [];
  while (out.length < edges) {
    const a = ps[int(pods)]!;
    const b = ps[int(pods)]!;
    if (a.node === b.node) continue; // inter-node only: every flow needs correlation
    const svc = int(10) < 6;
    out.push({
      srcIP: a.ip,
      dstIP: b.ip,
      src: a,
      dst: b,
      clusterIP: svc ? `10.96.${int(4)}.${int(250) + 1}` : "0.0.0.0",
      servicePort: svc ? 80 : 0,
      servicePortName: svc ? `${b.namespace}/svc-${int(100)}:http` : "",
      dport: 8080 + int(4),
      ingress: int(10) < 3 ? `allow-${b.namespace}-ingress` : "",
      egress: int(10) < 2 ? `allow-${a.namespace}-egress` : "",
    });
  }
  return out;
}

/** The record one node sends for flow `i` at export round `round`. */
export function half(e: Edge, i: number, round: number, fromSource: boolean): DataRecord {
  const packets = 10 * (round + 1) + (i % 7);
  const rpackets = 8 * (round + 1);
  const start = 1_700_000_000;
  return {
    flowStartSeconds: start,
    flowEndSeconds: start + 60 * (round + 1),
    flowEndReason: 2,
    sourceTransportPort: 10000 + (i % 50000),
    destinationTransportPort: e.dport,
    protocolIdentifier: (i / 50000) & 1 ? 17 : 6,
    packetTotalCount: packets,
    octetTotalCount: packets * 1400,
    packetDeltaCount: round === 0 ? packets : 10,
    octetDeltaCount: round === 0 ? packets * 1400 : 14000,
    sourceIPv4Address: e.srcIP,
    destinationIPv4Address: e.dstIP,
    reversePacketTotalCount: rpackets,
    reverseOctetTotalCount: rpackets * 200,
    reversePacketDeltaCount: 8,
    reverseOctetDeltaCount: 1600,
    sourcePodName: fromSource ? e.src.name : "",
    sourcePodNamespace: fromSource ? e.src.namespace : "",
    sourceNodeName: fromSource ? e.src.node : "",
    destinationPodName: fromSource ? "" : e.dst.name,
    destinationPodNamespace: fromSource ? "" : e.dst.namespace,
    destinationNodeName: fromSource ? "" : e.dst.node,
    destinationClusterIPv4: fromSource ? e.clusterIP : "0.0.0.0",
    destinationServicePort: fromSource ? e.servicePort : 0,
    destinationServicePortName: fromSource ? e.servicePortName : "",
    ingressNetworkPolicyName: fromSource ? "" : e.ingress,
    ingressNetworkPolicyNamespace: fromSource || !e.ingress ? "" : e.dst.namespace,
    ingressNetworkPolicyType: fromSource || !e.ingress ? 0 : 1,
    ingressNetworkPolicyRuleName: "",
    ingressNetworkPolicyRuleAction: fromSource || !e.ingress ? 0 : 1,
    egressNetworkPolicyName: fromSource ? e.egress : "",
    egressNetworkPolicyNamespace: fromSource && e.egress ? e.src.namespace : "",
    egressNetworkPolicyType: fromSource && e.egress ? 1 : 0,
    egressNetworkPolicyRuleName: "",
    egressNetworkPolicyRuleAction: fromSource && e.egress ? 1 : 0,
    tcpState: (i / 50000) & 1 ? "" : "ESTABLISHED",
    flowType: 2,
  };
}

const template = compileTemplate(antreaFlowTemplate(4));

/** The messages of one export round: both agents' records, 64 KiB messages (TLS/TCP). */
export function roundMessages(edges: Edge[], flows: number, round: number): EncodedMessage[] {
  const srcEnc = new MessageEncoder({ observationDomainId: 1, maxMessageSize: 65535 });
  const dstEnc = new MessageEncoder({ observationDomainId: 1, maxMessageSize: 65535 });
  for (let i = 0; i < flows; i++) {
    const e = edges[i % edges.length]!;
    srcEnc.addRecord(template, half(e, i, round, true));
    dstEnc.addRecord(template, half(e, i, round, false));
  }
  return [...srcEnc.flush(), ...dstEnc.flush()];
}

export function templateMessage(): Uint8Array {
  const enc = new MessageEncoder({ observationDomainId: 1, maxMessageSize: 65535 });
  enc.addTemplate(template.template);
  return enc.flush()[0]!.bytes;
}

interface Throughput {
  records: number;
  decodeMs: number;
  pipelineMs: number;
  rows: number;
  correlated: number;
}

function collectGarbage(): void {
  const gc = (globalThis as unknown as { gc?: () => void }).gc;
  if (!gc) throw new Error("Cannot measure: run with --v8-flags=--expose-gc");
  gc();
  gc();
}

/**
 * Decode alone (the peer), then decode + aggregate + expire, over the same pre-encoded rounds;
 * garbage from building the messages is collected before each timed pass.
 */
function throughput(flows: number, rounds: number, edgesCount: number): Throughput {
  const edges = cluster(1000, edgesCount, 7);
  const all = Array.from({ length: rounds }, (_, r) => roundMessages(edges, flows, r));
  collectGarbage();
  const cacheA = new TemplateCache();
  decodeMessage(templateMessage(), cacheA, { session: "a" });
  let records = 0;
  let t0 = performance.now();
  for (const msgs of all) {
    for (const m of msgs) records += decodeMessage(m.bytes, cacheA, { session: "a" }).recordCount;
  }
  const decodeMs = performance.now() - t0;
  collectGarbage();
  const agg = new AggregationProcess({ activeTimeoutMs: 60_000, inactiveTimeoutMs: 90_000 });
  const cacheB = new TemplateCache();
  decodeMessage(templateMessage(), cacheB, { session: "b" });
  let rows = 0;
  let now = 0;
  t0 = performance.now();
  for (const msgs of all) {
    for (const m of msgs) agg.addMessage(decodeMessage(m.bytes, cacheB, { session: "b" }), now);
    // Agents export every active timeout: each round, half the flows reach theirs.
    now += 30_000;
    rows += agg.expire(now).length;
  }
  const pipelineMs = performance.now() - t0;
  return { records, decodeMs, pipelineMs, rows, correlated: agg.stats().correlated };
}

interface Memory {
  flows: number;
  bytesPerFlow: number;
  columnBytesPerFlow: number;
  heapMB: number;
}

/** Child process (run with --expose-gc): the memory of `flows` correlated flows. */
function memoryChild(flows: number, edgesCount: number): void {
  const edges = cluster(1000, edgesCount, 7);
  const used = () => {
    collectGarbage();
    const m = Deno.memoryUsage();
    return m.heapUsed + m.external;
  };
  const before = used();
  const agg = new AggregationProcess({ maxFlows: flows + 1 });
  for (let i = 0; i < flows; i++) {
    const e = edges[i % edges.length]!;
    // Distinct 5-tuples: the port pair varies with i beyond what one edge repeats.
    const a = half(e, i, 0, true);
    const b = half(e, i, 0, false);
    const sport = 1024 + (i % 60000);
    const dport = 1 + Math.floor(i / 60000);
    a.sourceTransportPort = b.sourceTransportPort = sport;
    a.destinationTransportPort = b.destinationTransportPort = dport;
    agg.add(a, 0);
    agg.add(b, 0);
  }
  const after = used();
  if (agg.size !== flows) throw new Error(`Expected ${flows} flows, got ${agg.size}`);
  const out: Memory = {
    flows,
    bytesPerFlow: (after - before) / flows,
    columnBytesPerFlow: agg.columnBytes() / flows,
    heapMB: (after - before) / 2 ** 20,
  };
  console.log(JSON.stringify(out));
}

/** Runs this module in a child process with the garbage collector exposed. */
async function child<T>(args: string[]): Promise<T> {
  const cmd = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--v8-flags=--expose-gc,--max-old-space-size=4096",
      "--allow-read",
      new URL(import.meta.url).pathname,
      ...args,
    ],
    stdout: "piped",
    stderr: "inherit",
  });
  const out = await cmd.output();
  if (!out.success) throw new Error(`Benchmark child ${args.join(" ")} failed`);
  return JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!);
}

const fmt = (n: number) => Math.round(n).toLocaleString("en-US");

export async function main(args: string[]): Promise<void> {
  const flags = parseFlags(USAGE, {
    flows: { type: "string" },
    rounds: { type: "string" },
    "memory-flows": { type: "string" },
    edges: { type: "string" },
    quick: { type: "boolean" },
    "memory-child": { type: "boolean" },
    "throughput-child": { type: "boolean" },
  }, args);
  const quick = flags.quick === true;
  const flows = Number(flags.flows ?? (quick ? 20_000 : 100_000));
  const rounds = Number(flags.rounds ?? (quick ? 2 : 4));
  const memFlows = Number(flags["memory-flows"] ?? (quick ? 100_000 : 1_000_000));
  // Pod pairs that talk; many connections share one pair (new source ports), as in clusters.
  const edges = Number(flags.edges ?? 20_000);
  for (
    const [k, v] of [["flows", flows], ["rounds", rounds], ["memory-flows", memFlows]] as const
  ) {
    if (!Number.isInteger(v) || v <= 0) throw new TypeError(`--${k} must be a positive integer`);
  }
  if (flags["memory-child"]) return memoryChild(memFlows, edges);
  if (flags["throughput-child"]) {
    // Warm-up on a smaller set so that the measured pass runs optimized code.
    throughput(Math.min(flows, 20_000), 2, edges);
    console.log(JSON.stringify(throughput(flows, rounds, edges)));
    return;
  }

  console.log(
    `aggregator: ${fmt(flows)} inter-node flows × 2 halves × ${rounds} rounds, ` +
      `${fmt(edges)} talking pod pairs among 1,000 pods; 64 KiB messages`,
  );
  const common = ["--edges", String(edges)];
  const t = await child<Throughput>([
    "--throughput-child",
    "--flows",
    String(flows),
    "--rounds",
    String(rounds),
    ...common,
  ]);
  const decodeRate = t.records / (t.decodeMs / 1000);
  const rate = t.records / (t.pipelineMs / 1000);
  console.log(`  decode alone (peer)                     ${fmt(decodeRate)} records/s`);
  console.log(
    `  decode + correlate + aggregate + expire ${fmt(rate)} records/s ` +
      `(${(rate / decodeRate).toFixed(2)}x decode alone; target ${fmt(TARGET_RATE)}: ` +
      `${(rate / TARGET_RATE).toFixed(2)}x)`,
  );
  console.log(
    `  ${fmt(t.records)} records, ${fmt(t.correlated)} flows correlated, ${
      fmt(t.rows)
    } rows exported`,
  );
  const m = await child<Memory>(["--memory-child", "--memory-flows", String(memFlows), ...common]);
  console.log(
    `  memory: ${fmt(m.flows)} cached flows hold ${m.heapMB.toFixed(1)} MiB: ` +
      `${m.bytesPerFlow.toFixed(0)} octets per flow (columns ${m.columnBytesPerFlow.toFixed(0)}; ` +
      `target ${TARGET_BYTES}: ${(m.bytesPerFlow / TARGET_BYTES).toFixed(2)}x)`,
  );
}

if (import.meta.main) await main(Deno.args);
