/**
 * A {@link PolicyView} over the live cluster cache of src/k8s: pods, namespace labels and
 * NetworkPolicies as the watch keeps them, with policies compiled once per change.
 *
 * @module
 */

import type { NetworkPolicy } from "kubernetes-types/networking/v1.d.ts";
import type { ClusterCache } from "../k8s/mod.ts";
import { createLogger, type Logger } from "../log/mod.ts";
import { type CompiledPolicy, compilePolicy, PolicyError } from "./compile.ts";
import type { Labels } from "./selector.ts";
import { type PodRef, podRef, type PolicyView } from "./view.ts";

/**
 * Policy evaluation's view of a {@link ClusterCache}. Invalid policies are logged once and left
 * out, as a cluster would not have admitted them.
 *
 * @example
 * ```ts
 * import { ClusterCache } from "../k8s/mod.ts";
 * import { evaluate } from "./evaluate.ts";
 * const view = new ClusterPolicyView(new ClusterCache());
 * evaluate(view, { sourceIP: "10.0.0.1", destinationIP: "10.0.0.2", protocol: 6, destinationPort: 80 }); // {}
 * ```
 */
export class ClusterPolicyView implements PolicyView {
  readonly #cache: ClusterCache;
  readonly #log: Logger;
  readonly #pods = new WeakMap<object, PodRef | undefined>();
  readonly #compiled = new WeakMap<NetworkPolicy, CompiledPolicy | null>();
  #byNamespace = new Map<string, readonly CompiledPolicy[]>();
  #generation = -1;

  constructor(cache: ClusterCache, logger?: Logger) {
    this.#cache = cache;
    this.#log = logger ?? createLogger("policy");
  }

  podByIP(ip: string): PodRef | undefined {
    const info = this.#cache.podByIP(ip);
    if (!info) return undefined;
    if (this.#pods.has(info)) return this.#pods.get(info);
    const ref = podRef(info.pod);
    this.#pods.set(info, ref);
    return ref;
  }

  /** The node whose own address this is: traffic from a pod's node into it is always allowed. */
  nodeByIP(ip: string): string | undefined {
    return this.#cache.nodeByAddress(ip);
  }

  namespaceLabels(namespace: string): Labels | undefined {
    return this.#cache.namespaceLabels(namespace);
  }

  policies(namespace: string): readonly CompiledPolicy[] {
    if (this.#cache.generation !== this.#generation) {
      this.#generation = this.#cache.generation;
      this.#byNamespace = new Map();
    }
    let list = this.#byNamespace.get(namespace);
    if (!list) {
      list = this.#cache.networkPolicies(namespace).map((np) => this.#compile(np)).filter((
        p,
      ): p is CompiledPolicy => p !== null);
      this.#byNamespace.set(namespace, list);
    }
    return list;
  }

  #compile(np: NetworkPolicy): CompiledPolicy | null {
    let c = this.#compiled.get(np);
    if (c !== undefined) return c;
    try {
      c = compilePolicy(np);
    } catch (e) {
      if (!(e instanceof PolicyError)) throw e;
      this.#log.warn("Invalid NetworkPolicy left out", { error: e.message });
      c = null;
    }
    this.#compiled.set(np, c);
    return c;
  }
}
