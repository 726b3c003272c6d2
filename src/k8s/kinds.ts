/**
 * The Kubernetes resources flowvis reads, with their API paths and list kinds.
 *
 * @module
 */

import type { Namespace, Node, Pod, Service } from "kubernetes-types/core/v1.d.ts";
import type { NetworkPolicy } from "kubernetes-types/networking/v1.d.ts";

/** The kinds of object the cluster cache holds. */
export type ResourceKind = "Namespace" | "Node" | "Pod" | "Service" | "NetworkPolicy";

/** The object type of each kind. */
export interface KindMap {
  Namespace: Namespace;
  Node: Node;
  Pod: Pod;
  Service: Service;
  NetworkPolicy: NetworkPolicy;
}

/** Any object the cluster cache holds. */
export type KubeObject = KindMap[ResourceKind];

/** How a resource is reached on the API server. */
export interface ResourceInfo {
  readonly kind: ResourceKind;
  /** The kind of its list (`PodList`). */
  readonly listKind: string;
  /** `v1` or `networking.k8s.io/v1`. */
  readonly apiVersion: string;
  /** The path that lists it across all namespaces (`/api/v1/pods`). */
  readonly path: string;
  /** Whether its objects live in a namespace. */
  readonly namespaced: boolean;
}

/**
 * Every kind, in the order the watcher lists them: namespaces and nodes first, so that pods and
 * policies find their context.
 */
export const RESOURCE_KINDS: readonly ResourceKind[] = [
  "Namespace",
  "Node",
  "Pod",
  "Service",
  "NetworkPolicy",
];

/**
 * API paths and list kinds of each resource.
 *
 * @example
 * ```ts
 * RESOURCES.NetworkPolicy.path; // "/apis/networking.k8s.io/v1/networkpolicies"
 * ```
 */
export const RESOURCES: Readonly<Record<ResourceKind, ResourceInfo>> = {
  Namespace: {
    kind: "Namespace",
    listKind: "NamespaceList",
    apiVersion: "v1",
    path: "/api/v1/namespaces",
    namespaced: false,
  },
  Node: {
    kind: "Node",
    listKind: "NodeList",
    apiVersion: "v1",
    path: "/api/v1/nodes",
    namespaced: false,
  },
  Pod: {
    kind: "Pod",
    listKind: "PodList",
    apiVersion: "v1",
    path: "/api/v1/pods",
    namespaced: true,
  },
  Service: {
    kind: "Service",
    listKind: "ServiceList",
    apiVersion: "v1",
    path: "/api/v1/services",
    namespaced: true,
  },
  NetworkPolicy: {
    kind: "NetworkPolicy",
    listKind: "NetworkPolicyList",
    apiVersion: "networking.k8s.io/v1",
    path: "/apis/networking.k8s.io/v1/networkpolicies",
    namespaced: true,
  },
};

/** Whether `kind` is one of the kinds the cache holds. */
export function isResourceKind(kind: unknown): kind is ResourceKind {
  return typeof kind === "string" && Object.hasOwn(RESOURCES, kind);
}

/**
 * The cache key of an object: `namespace/name` for namespaced kinds (namespace `default` when
 * unset, as kubectl assumes), `name` otherwise; undefined when it has no name.
 *
 * @example
 * ```ts
 * objectKey("Pod", { metadata: { namespace: "web", name: "api-0" } }); // "web/api-0"
 * objectKey("Node", { metadata: { name: "node-1" } }); // "node-1"
 * ```
 */
export function objectKey(kind: ResourceKind, obj: KubeObject): string | undefined {
  const name = obj.metadata?.name;
  if (typeof name !== "string" || name === "") return undefined;
  if (!RESOURCES[kind].namespaced) return name;
  return `${obj.metadata?.namespace || "default"}/${name}`;
}
