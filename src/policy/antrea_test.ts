import { assertEquals } from "../../tests/_assert.ts";
import { policyRecordFields } from "./antrea.ts";

Deno.test("policyRecordFields: verdicts as Antrea record fields, 0 and empty without one", () => {
  assertEquals(policyRecordFields({}), {
    ingressNetworkPolicyName: "",
    ingressNetworkPolicyNamespace: "",
    ingressNetworkPolicyType: 0,
    ingressNetworkPolicyRuleName: "",
    ingressNetworkPolicyRuleAction: 0,
    egressNetworkPolicyName: "",
    egressNetworkPolicyNamespace: "",
    egressNetworkPolicyType: 0,
    egressNetworkPolicyRuleName: "",
    egressNetworkPolicyRuleAction: 0,
  });
  assertEquals(
    policyRecordFields({
      ingress: { action: 2, policyName: "deny", policyNamespace: "prod", policyType: 1 },
      egress: {
        action: 1,
        policyName: "allow-dns",
        policyNamespace: "web",
        policyType: 1,
        ruleName: "egress-1",
      },
    }),
    {
      ingressNetworkPolicyName: "deny",
      ingressNetworkPolicyNamespace: "prod",
      ingressNetworkPolicyType: 1,
      ingressNetworkPolicyRuleName: "",
      ingressNetworkPolicyRuleAction: 2,
      egressNetworkPolicyName: "allow-dns",
      egressNetworkPolicyNamespace: "web",
      egressNetworkPolicyType: 1,
      egressNetworkPolicyRuleName: "egress-1",
      egressNetworkPolicyRuleAction: 1,
    },
  );
});
