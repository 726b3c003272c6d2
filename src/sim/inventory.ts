/**
 * The simulated cluster as an inventory file: a YAML `kind: List` of its Kubernetes objects, as
 * `kubectl get -o yaml` prints them, which the agent's and the aggregator's `inventoryFile`
 * reads. With it an aggregator knows the simulated pods (for their labels) without a cluster.
 *
 * @module
 */

import { stringify } from "yaml";
import type { SimCluster } from "./cluster.ts";

/**
 * The cluster's Namespaces, Nodes, Pods, Services and NetworkPolicies as one YAML List.
 *
 * @example
 * ```ts
 * import { simulatedCluster } from "./cluster.ts";
 * const yaml = clusterInventory(simulatedCluster({ nodes: 2, seed: 1 }));
 * yaml.startsWith("apiVersion: v1\nkind: List\n"); // true
 * ```
 */
export function clusterInventory(cluster: SimCluster): string {
  const o = cluster.objects;
  return stringify({
    apiVersion: "v1",
    kind: "List",
    items: [...o.namespaces, ...o.nodes, ...o.pods, ...o.services, ...o.networkPolicies],
  }, { lineWidth: 0 });
}
