/**
 * Where the agent and the aggregator learn about the cluster: an inventory file (watched for
 * changes), or the API server through a kubeconfig or the in-cluster service account.
 *
 * @module
 */

import { createLogger, type Logger } from "../log/mod.ts";
import type { ClusterCache } from "./cache.ts";
import { watchInventory } from "./inventory.ts";
import { startClusterWatch } from "./watcher.ts";

/** Options of {@link watchClusterSource}. */
export interface ClusterSourceOptions {
  /** A YAML file of Kubernetes objects; wins over `kubeconfig`. */
  inventoryFile?: string;
  /** A kubeconfig file; neither: the in-cluster service account. */
  kubeconfig?: string;
  /** How long to wait for the API server's first lists (60 s). */
  syncTimeoutMs?: number;
  logger?: Logger;
}

/**
 * Fills `cache` from the configured source and keeps it current; resolves once the cache holds
 * the cluster (the inventory loaded, or every first list done). Call `close()` to stop.
 *
 * @example
 * ```ts
 * // const cache = new ClusterCache();
 * // const source = await watchClusterSource(cache, { inventoryFile: "inventory.yaml" });
 * // cache.podByIP("10.244.1.5");
 * // await source.close();
 * ```
 */
export async function watchClusterSource(
  cache: ClusterCache,
  options: ClusterSourceOptions = {},
): Promise<{ close(): Promise<void> }> {
  const logger = options.logger ?? createLogger("k8s");
  if (options.inventoryFile) {
    const w = await watchInventory(options.inventoryFile, cache, { logger });
    return { close: () => w.close() };
  }
  const w = await startClusterWatch(cache, {
    ...(options.kubeconfig ? { kubeconfig: options.kubeconfig } : {}),
    logger,
  });
  try {
    await cache.whenSynced(AbortSignal.timeout(options.syncTimeoutMs ?? 60_000));
  } catch (e) {
    await w.close();
    throw e;
  }
  return { close: () => w.close() };
}
