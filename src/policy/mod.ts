/**
 * NetworkPolicy attribution for any CNI: Kubernetes NetworkPolicy semantics evaluated for a
 * connection, telling which policy and rule allow it or which policy drops it, in each direction,
 * and the Antrea flow record fields that carry the answer.
 *
 * @example
 * ```ts
 * import { evaluate, policyRecordFields, StaticPolicyView } from "./mod.ts";
 * const view = new StaticPolicyView({
 *   pods: [{ metadata: { name: "db", namespace: "prod" }, status: { podIP: "10.0.0.3" } }],
 *   networkPolicies: [{
 *     metadata: { name: "default-deny-ingress", namespace: "prod" },
 *     spec: { podSelector: {}, policyTypes: ["Ingress"] },
 *   }],
 * });
 * const verdicts = evaluate(view, {
 *   sourceIP: "192.0.2.7", destinationIP: "10.0.0.3", protocol: 6, destinationPort: 5432,
 * });
 * // { ingress: { action: 2, policyName: "default-deny-ingress", policyNamespace: "prod", policyType: 1 } }
 * policyRecordFields(verdicts).ingressNetworkPolicyRuleAction; // 2 (Drop)
 * ```
 *
 * @module
 */

export {
  type CompiledIPBlock,
  type CompiledPeer,
  type CompiledPolicy,
  type CompiledPort,
  type CompiledRule,
  compilePolicy,
  PolicyError,
  PolicyType,
  PROTOCOL_NUMBERS,
  RuleAction,
  type Verdict,
} from "./compile.ts";
export { evaluate, type Flow, type FlowVerdicts } from "./evaluate.ts";
export { type PolicyRecordFields, policyRecordFields } from "./antrea.ts";
export {
  compileSelector,
  type LabelMatcher,
  type Labels,
  matchAll,
  SelectorError,
} from "./selector.ts";
export {
  type NamedPort,
  NAMESPACE_NAME_LABEL,
  type PodRef,
  podRef,
  type PolicyView,
  StaticPolicyView,
  type StaticPolicyViewInit,
  type StaticPolicyViewOptions,
} from "./view.ts";
export { benchmarkEvaluate, type BenchmarkOptions, type BenchmarkResult } from "./bench.ts";
export { ClusterPolicyView } from "./cluster_view.ts";
