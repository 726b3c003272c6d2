/**
 * Pieces of Antrea flow records shared by the unit tests of `src/ipfix` and the integration tests
 * of `tests/`.
 *
 * @module
 */

/** The ingress policy fields of an Antrea flow record that no ingress policy applies to. */
export const NO_INGRESS_POLICY = {
  ingressNetworkPolicyName: "",
  ingressNetworkPolicyNamespace: "",
  ingressNetworkPolicyType: 0,
  ingressNetworkPolicyRuleName: "",
  ingressNetworkPolicyRuleAction: 0,
} as const;

/** The egress policy fields of an Antrea flow record that no egress policy applies to. */
export const NO_EGRESS_POLICY = {
  egressNetworkPolicyName: "",
  egressNetworkPolicyNamespace: "",
  egressNetworkPolicyType: 0,
  egressNetworkPolicyRuleName: "",
  egressNetworkPolicyRuleAction: 0,
} as const;
