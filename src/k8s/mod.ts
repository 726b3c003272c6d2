/**
 * Cluster knowledge for flow enrichment: a list+watch client of the Kubernetes API (Pods,
 * Services, Nodes, NetworkPolicies, Namespaces) over fetch, or an inventory file when there is
 * no cluster, both feeding one in-memory {@link ClusterCache} whose indexes answer the questions
 * of the agent and the aggregator: which pod owns this IP, which Service port is this
 * ClusterIP:port, which node is this address on, is it a pod address, which labels has this
 * namespace, which policies apply in it.
 *
 * @example
 * ```ts
 * import { ClusterCache, loadInventory, startClusterWatch } from "./mod.ts";
 *
 * const cache = new ClusterCache();
 * // Without a cluster:
 * await loadInventory("testdata/k8s/cluster.yaml", cache);
 * // Or with one (kubeconfig, else the pod's service account):
 * // await using _w = await startClusterWatch(cache, { kubeconfig: "/root/.kube/config" });
 * // await cache.whenSynced();
 *
 * cache.podByIP("10.244.1.10")?.name; // "web-0"
 * cache.serviceByClusterIP("10.96.0.20", 80, "TCP")?.servicePortName; // "shop/web:http"
 * cache.nodeOfIP("10.244.2.7"); // "node-2"
 * cache.isPodCIDR("8.8.8.8"); // false
 * ```
 *
 * @module
 */

export {
  type CacheEvent,
  type ChangeType,
  ClusterCache,
  type ClusterCacheOptions,
  type ContainerPortInfo,
  NAMESPACE_NAME_LABEL,
  type NodeInfo,
  normalizeProtocol,
  type PodInfo,
  type Protocol,
  type ServicePortInfo,
} from "./cache.ts";
export { KubeClient, type KubeClientOptions, type RequestOptions } from "./client.ts";
export { ApiError, InventoryError, KubeconfigError } from "./errors.ts";
export {
  applyInventory,
  type Inventory,
  type InventoryObject,
  type InventoryOptions,
  type InventoryWatch,
  loadInventory,
  parseInventory,
  watchInventory,
} from "./inventory.ts";
export {
  isResourceKind,
  type KindMap,
  type KubeObject,
  objectKey,
  RESOURCE_KINDS,
  type ResourceInfo,
  type ResourceKind,
  RESOURCES,
} from "./kinds.ts";
export {
  type ClusterAccess,
  inClusterAccess,
  type InClusterOptions,
  type KubeconfigOptions,
  loadKubeconfig,
  parseKubeconfig,
  SERVICE_ACCOUNT_DIR,
} from "./kubeconfig.ts";
export {
  ClusterWatcher,
  type ClusterWatchOptions,
  type KindStatus,
  startClusterWatch,
  type WatcherOptions,
} from "./watcher.ts";
export { type ClusterSourceOptions, watchClusterSource } from "./source.ts";
