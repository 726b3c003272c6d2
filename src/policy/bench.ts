/**
 * Policy evaluation throughput on a synthetic cluster. `main(args)` is the body of
 * `deno task bench policy`; {@link benchmarkEvaluate} returns the figures.
 *
 * @example
 * ```ts
 * const r = benchmarkEvaluate({ evaluations: 200_000 });
 * console.log(`${Math.round(r.perSecond)} evaluations/s`);
 * ```
 *
 * @module
 */

import type { Namespace, Pod } from "kubernetes-types/core/v1.d.ts";
import type { NetworkPolicy } from "kubernetes-types/networking/v1.d.ts";
import { Rng } from "../random/mod.ts";
import { evaluate, type Flow } from "./evaluate.ts";
import { StaticPolicyView } from "./view.ts";
import { parseIP } from "./_ip.ts";

/** Size of the synthetic cluster and of the run. */
export interface BenchmarkOptions {
  /** Namespaces (default 20). */
  readonly namespaces?: number;
  /** Pods per namespace (default 50). */
  readonly podsPerNamespace?: number;
  /** Flows evaluated (default 1,000,000). */
  readonly evaluations?: number;
  /** PRNG seed for the flows (default 1). */
  readonly seed?: number;
}

/** Figures of a run. */
export interface BenchmarkResult {
  readonly evaluations: number;
  readonly milliseconds: number;
  readonly perSecond: number;
  /** The floor: per second, for the same flows, two address parses and two pod lookups. */
  readonly lookupsPerSecond: number;
  readonly pods: number;
  readonly policies: number;
  /** Verdicts given, by direction and action. */
  readonly verdicts: {
    ingressAllow: number;
    ingressDrop: number;
    egressAllow: number;
    egressDrop: number;
  };
}

/** The policies of one synthetic namespace: a mix of every feature evaluation handles. */
function namespacePolicies(ns: string): NetworkPolicy[] {
  const meta = (name: string) => ({ name, namespace: ns });
  return [
    { metadata: meta("default-deny-ingress"), spec: { podSelector: {}, policyTypes: ["Ingress"] } },
    {
      metadata: meta("allow-same-app-http"),
      spec: {
        podSelector: {
          matchExpressions: [{ key: "app", operator: "In", values: ["app0", "app1"] }],
        },
        ingress: [{
          from: [{ podSelector: { matchLabels: { app: "app0" } } }],
          ports: [{ port: "http" }],
        }],
      },
    },
    {
      metadata: meta("allow-frontends-from-prod"),
      spec: {
        podSelector: { matchLabels: { role: "backend" } },
        ingress: [{
          from: [{
            namespaceSelector: { matchLabels: { env: "prod" } },
            podSelector: { matchLabels: { role: "frontend" } },
          }],
          ports: [{ protocol: "TCP", port: 8080, endPort: 8090 }],
        }],
      },
    },
    {
      metadata: meta("egress-internet"),
      spec: {
        podSelector: { matchLabels: { role: "frontend" } },
        policyTypes: ["Egress"],
        egress: [
          { to: [{ ipBlock: { cidr: "0.0.0.0/0", except: ["10.0.0.0/8", "192.168.0.0/16"] } }] },
          {
            to: [{
              namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "ns0" } },
            }],
            ports: [{ protocol: "UDP", port: 53 }, { protocol: "TCP", port: 53 }],
          },
          { to: [{ podSelector: { matchExpressions: [{ key: "tier", operator: "Exists" }] } }] },
          { to: [{ namespaceSelector: {}, podSelector: { matchLabels: { role: "backend" } } }] },
        ],
      },
    },
    {
      metadata: meta("monitoring"),
      spec: {
        podSelector: { matchExpressions: [{ key: "app", operator: "NotIn", values: ["app4"] }] },
        ingress: [{
          from: [{ namespaceSelector: { matchLabels: { team: "monitoring" } } }],
          ports: [{ port: 9100 }, { port: "metrics" }],
        }],
      },
    },
  ];
}

/** A synthetic cluster and flows between its pods and the outside. */
export function syntheticCluster(options: BenchmarkOptions = {}) {
  const nsCount = options.namespaces ?? 20;
  const perNs = options.podsPerNamespace ?? 50;
  const flowCount = Math.min(options.evaluations ?? 1_000_000, 65_536);
  // Seeded, so runs are comparable.
  const rng = new Rng(options.seed ?? 1);
  const random = () => rng.float();
  const namespaces: Namespace[] = [];
  const pods: Pod[] = [];
  const networkPolicies: NetworkPolicy[] = [];
  const ips: string[] = [];
  for (let n = 0; n < nsCount; n++) {
    const ns = `ns${n}`;
    namespaces.push({
      metadata: {
        name: ns,
        labels: { env: n % 2 === 0 ? "prod" : "dev", team: n % 5 === 0 ? "monitoring" : "apps" },
      },
    });
    networkPolicies.push(...namespacePolicies(ns));
    for (let i = 0; i < perNs; i++) {
      const ip = `10.${1 + (n >> 8)}.${n & 255}.${1 + i}`;
      ips.push(ip);
      pods.push({
        metadata: {
          name: `pod-${i}`,
          namespace: ns,
          labels: {
            app: `app${i % 5}`,
            role: i % 3 === 0 ? "frontend" : "backend",
            ...(i % 7 === 0 ? { tier: "cache" } : {}),
          },
        },
        spec: {
          nodeName: `node-${i % 4}`,
          containers: [{
            name: "main",
            ports: [
              { name: "http", containerPort: 8080 },
              { name: "metrics", containerPort: 9090 },
              { name: "dns", containerPort: 53, protocol: "UDP" },
            ],
          }],
        },
        status: { podIP: ip, phase: "Running" },
      });
    }
  }
  const ports = [8080, 8085, 9090, 9100, 53, 443, 5432, 22];
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  const external = () =>
    `${1 + Math.floor(random() * 200)}.${Math.floor(random() * 256)}.${
      Math.floor(random() * 256)
    }.${1 + Math.floor(random() * 254)}`;
  const flows: Flow[] = [];
  for (let k = 0; k < flowCount; k++) {
    const r = random();
    const sourceIP = r < 0.1 ? external() : pick(ips);
    const destinationIP = r > 0.9 ? external() : pick(ips);
    const destinationPort = pick(ports);
    const protocol = destinationPort === 53 && random() < 0.7 ? 17 : 6;
    flows.push({ sourceIP, destinationIP, protocol, destinationPort });
  }
  return { namespaces, pods, networkPolicies, flows };
}

/**
 * Builds a synthetic cluster (default 20 namespaces × 50 pods, 5 policies per namespace using
 * selectors of every kind, ipBlocks with except, named ports and port ranges) and evaluates
 * flows between its pods and external addresses, timing the whole run.
 */
export function benchmarkEvaluate(options: BenchmarkOptions = {}): BenchmarkResult {
  const evaluations = options.evaluations ?? 1_000_000;
  const cluster = syntheticCluster(options);
  const view = new StaticPolicyView(cluster);
  const flows = cluster.flows;
  const verdicts = { ingressAllow: 0, ingressDrop: 0, egressAllow: 0, egressDrop: 0 };
  // Warm up, then measure.
  for (let k = 0; k < Math.min(evaluations, 20_000); k++) evaluate(view, flows[k % flows.length]!);
  const start = performance.now();
  for (let k = 0; k < evaluations; k++) {
    const v = evaluate(view, flows[k % flows.length]!);
    if (v.ingress) v.ingress.action === 1 ? verdicts.ingressAllow++ : verdicts.ingressDrop++;
    if (v.egress) v.egress.action === 1 ? verdicts.egressAllow++ : verdicts.egressDrop++;
  }
  const milliseconds = performance.now() - start;
  const lookupStart = performance.now();
  for (let k = 0; k < evaluations; k++) {
    const f = flows[k % flows.length]!;
    if (parseIP(f.sourceIP) && parseIP(f.destinationIP)) {
      view.podByIP(f.sourceIP);
      view.podByIP(f.destinationIP);
    }
  }
  const lookupMs = performance.now() - lookupStart;
  return {
    evaluations,
    milliseconds,
    perSecond: evaluations / (milliseconds / 1000),
    lookupsPerSecond: evaluations / (lookupMs / 1000),
    pods: cluster.pods.length,
    policies: cluster.networkPolicies.length,
    verdicts,
  };
}

/** `deno task bench policy [--namespaces N] [--pods-per-namespace N] [--evaluations N]`. */
export function main(args: string[]): Promise<void> {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(
      `Usage: deno task bench policy [--namespaces N] [--pods-per-namespace N] [--evaluations N]

Evaluates NetworkPolicies for flows of a synthetic cluster (default 20 namespaces × 50 pods,
5 policies each) and prints evaluations per second, next to the floor of two address parses and
two pod lookups per flow measured in the same run.`,
    );
    return Promise.resolve();
  }
  const flag = (name: string): number | undefined => {
    const i = args.indexOf(name);
    if (i < 0) return undefined;
    const n = Number(args[i + 1]);
    if (!Number.isInteger(n) || n <= 0) {
      throw new TypeError(`${name} needs a positive integer, not ${args[i + 1]}`);
    }
    return n;
  };
  const r = benchmarkEvaluate({
    namespaces: flag("--namespaces"),
    podsPerNamespace: flag("--pods-per-namespace"),
    evaluations: flag("--evaluations"),
  });
  console.log(
    `policy evaluation: ${r.pods} pods, ${r.policies} policies, ${r.evaluations} flows in ` +
      `${r.milliseconds.toFixed(0)} ms: ${Math.round(r.perSecond)} evaluations/s ` +
      `(lookups alone: ${Math.round(r.lookupsPerSecond)}/s, ratio ${
        (r.lookupsPerSecond / r.perSecond).toFixed(2)
      }×)\nverdicts: ${JSON.stringify(r.verdicts)}`,
  );
  return Promise.resolve();
}

if (import.meta.main) await main(Deno.args);
