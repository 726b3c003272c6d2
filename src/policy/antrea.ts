/**
 * Verdicts as the values of Antrea's flow record elements.
 *
 * @module
 */

import type { Verdict } from "./compile.ts";
import type { FlowVerdicts } from "./evaluate.ts";

/**
 * The policy elements of an Antrea flow record (enterprise 56506): names and namespaces (110–113),
 * types (115, 118: 1 K8s NetworkPolicy), rule actions (139, 140: 0 none, 1 Allow, 2 Drop) and
 * rule names (141, 142).
 */
export interface PolicyRecordFields {
  ingressNetworkPolicyName: string;
  ingressNetworkPolicyNamespace: string;
  ingressNetworkPolicyType: number;
  ingressNetworkPolicyRuleName: string;
  ingressNetworkPolicyRuleAction: number;
  egressNetworkPolicyName: string;
  egressNetworkPolicyNamespace: string;
  egressNetworkPolicyType: number;
  egressNetworkPolicyRuleName: string;
  egressNetworkPolicyRuleAction: number;
}

/**
 * The record fields for a connection's verdicts; a direction without a verdict gets 0 and "".
 *
 * @example
 * ```ts
 * policyRecordFields({
 *   ingress: { action: 2, policyName: "deny-all", policyNamespace: "prod", policyType: 1 },
 * });
 * // { ingressNetworkPolicyName: "deny-all", ingressNetworkPolicyNamespace: "prod",
 * //   ingressNetworkPolicyType: 1, ingressNetworkPolicyRuleName: "",
 * //   ingressNetworkPolicyRuleAction: 2, egressNetworkPolicyName: "", …, egressNetworkPolicyRuleAction: 0 }
 * ```
 */
export function policyRecordFields(verdicts: FlowVerdicts): PolicyRecordFields {
  const i: Verdict | undefined = verdicts.ingress;
  const e: Verdict | undefined = verdicts.egress;
  return {
    ingressNetworkPolicyName: i?.policyName ?? "",
    ingressNetworkPolicyNamespace: i?.policyNamespace ?? "",
    ingressNetworkPolicyType: i?.policyType ?? 0,
    ingressNetworkPolicyRuleName: i?.ruleName ?? "",
    ingressNetworkPolicyRuleAction: i?.action ?? 0,
    egressNetworkPolicyName: e?.policyName ?? "",
    egressNetworkPolicyNamespace: e?.policyNamespace ?? "",
    egressNetworkPolicyType: e?.policyType ?? 0,
    egressNetworkPolicyRuleName: e?.ruleName ?? "",
    egressNetworkPolicyRuleAction: e?.action ?? 0,
  };
}
