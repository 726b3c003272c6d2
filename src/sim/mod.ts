/**
 * The simulated cluster: virtual nodes, pods, Services and NetworkPolicies loaded into a real
 * cluster cache, synthetic conntrack tables whose connections evolve over time, and one real
 * flow exporter agent per virtual node exporting to a collector. `deno task simulate` runs it;
 * the demo, the benchmarks and the tests use it to make realistic flow records without a
 * cluster.
 *
 * @example
 * ```ts
 * import { simulatedCluster, Simulator } from "./mod.ts";
 * simulatedCluster({ nodes: 2, seed: 7 }).pods.length; // 20
 * const sim = new Simulator({ collector: "127.0.0.1:4739:tcp", records: 5_000, seed: 7 });
 * // const summary = await sim.run(); // exactly 5000 records sent, as fast as possible
 * ```
 *
 * @module
 */

export { BudgetedExportingProcess, RecordBudget } from "./budget.ts";
export {
  type ClusterObjects,
  loadCluster,
  type SimCluster,
  type SimClusterOptions,
  type SimNode,
  type SimPod,
  type SimPort,
  type SimService,
  type SimServicePort,
  simulatedCluster,
  WEB_NODE_PORT,
  type WorkloadName,
} from "./cluster.ts";
export { clusterInventory } from "./inventory.ts";
export { Random } from "./random.ts";
export {
  type NodeSummary,
  type SimulationSummary,
  Simulator,
  type SimulatorOptions,
} from "./simulator.ts";
export {
  type ScenarioName,
  SCENARIOS,
  type SimConnectionSource,
  type SimFlowType,
  TrafficGenerator,
  type TrafficOptions,
  type TrafficStats,
} from "./traffic.ts";
