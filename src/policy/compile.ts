/**
 * NetworkPolicy objects compiled for fast evaluation: selectors become predicates, CIDRs become
 * words, protocols become IANA numbers, and the verdicts a policy can give are built once.
 * Malformed policies are refused here, with a {@link PolicyError} naming the policy and field.
 *
 * @module
 */

import type {
  IPBlock,
  NetworkPolicy,
  NetworkPolicyPeer,
  NetworkPolicyPort,
} from "kubernetes-types/networking/v1.d.ts";
import { type Cidr, cidrContains, cidrStrictlyInside, parseCidr, type Words } from "./_ip.ts";
import { compileSelector, type LabelMatcher, SelectorError } from "./selector.ts";

/** IANA protocol numbers of the protocols a NetworkPolicy port may name. */
export const PROTOCOL_NUMBERS: Readonly<Record<string, number>> = Object.freeze({
  TCP: 6,
  UDP: 17,
  SCTP: 132,
});

/** Rule actions, as Antrea's ingress/egressNetworkPolicyRuleAction elements (139, 140) carry them. */
export const RuleAction = Object.freeze({ None: 0, Allow: 1, Drop: 2, Reject: 3 } as const);

/** Policy types, as Antrea's ingress/egressNetworkPolicyType elements (115, 118) carry them. */
export const PolicyType = Object.freeze(
  {
    K8sNetworkPolicy: 1,
    AntreaNetworkPolicy: 2,
    AntreaClusterNetworkPolicy: 3,
    K8sClusterNetworkPolicy: 4,
  } as const,
);

/** Which policy decided a connection in one direction, and how. */
export interface Verdict {
  /** 1 Allow (a rule of `policyName` allowed it) or 2 Drop (the pod is isolated, nothing allowed it). */
  readonly action: typeof RuleAction.Allow | typeof RuleAction.Drop;
  readonly policyName: string;
  readonly policyNamespace: string;
  /** Always 1: a Kubernetes NetworkPolicy. */
  readonly policyType: typeof PolicyType.K8sNetworkPolicy;
  /** The allowing rule, `ingress-<index>` or `egress-<index>`; absent for Drop. */
  readonly ruleName?: string;
}

/** One `ports` entry: a protocol and a port, a range, a named port, or every port. */
export interface CompiledPort {
  /** IANA protocol number: 6 TCP (the default), 17 UDP, 132 SCTP. */
  readonly protocol: number;
  /** First port of the range; undefined with a named port or for every port. */
  readonly port?: number;
  /** Last port of the range (equal to `port` for a single port). */
  readonly endPort?: number;
  /** A container port name, looked up on the destination pod. */
  readonly name?: string;
}

/** An ipBlock: a CIDR minus its exceptions. */
export interface CompiledIPBlock {
  readonly cidr: Cidr;
  readonly except: readonly Cidr[];
}

/**
 * One `from`/`to` entry. For an ipBlock, `ipBlock` is set and the selectors are not. Otherwise
 * `pods` selects pods, in the policy's namespace when `namespaces` is undefined, else in the
 * namespaces whose labels `namespaces` matches.
 */
export interface CompiledPeer {
  readonly ipBlock?: CompiledIPBlock;
  readonly pods?: LabelMatcher;
  readonly namespaces?: LabelMatcher;
}

/** One ingress or egress rule. */
export interface CompiledRule {
  /** `ingress-<index>` or `egress-<index>`. */
  readonly name: string;
  /** Undefined when the rule names no peers: every peer. */
  readonly peers: readonly CompiledPeer[] | undefined;
  /** Undefined when the rule names no ports: every port of every protocol. */
  readonly ports: readonly CompiledPort[] | undefined;
  /** The verdict this rule gives when it allows a connection. */
  readonly allow: Verdict;
}

/** A NetworkPolicy ready for evaluation. */
export interface CompiledPolicy {
  readonly namespace: string;
  readonly name: string;
  /** The pods of `namespace` the policy applies to (spec.podSelector). */
  readonly selects: LabelMatcher;
  /** Ingress rules when the policy isolates for ingress, else undefined. Empty: deny all. */
  readonly ingress: readonly CompiledRule[] | undefined;
  /** Egress rules when the policy isolates for egress, else undefined. Empty: deny all. */
  readonly egress: readonly CompiledRule[] | undefined;
  /** The verdict when the policy isolates a pod and no rule allowed the connection. */
  readonly drop: Verdict;
  /** The object it was compiled from. */
  readonly source: NetworkPolicy;
}

/** A malformed NetworkPolicy: which one, and which field. */
export class PolicyError extends TypeError {
  /** `namespace/name` of the policy. */
  readonly policy: string;
  /** Path of the offending field, as `spec.ingress[0].from[1].ipBlock.cidr`. */
  readonly field: string;
  constructor(policy: string, field: string, message: string, options?: ErrorOptions) {
    super(`Invalid NetworkPolicy ${policy}: ${message}`, options);
    this.name = "PolicyError";
    this.policy = policy;
    this.field = field;
  }
}

/** A problem found while compiling, before the policy's name is attached. */
class FieldError extends TypeError {
  constructor(readonly field: string, message: string) {
    super(message);
  }
}

const PORT_NAME = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;

function isPortNumber(n: unknown): n is number {
  return typeof n === "number" && Number.isInteger(n) && n >= 1 && n <= 65535;
}

function compilePort(p: NetworkPolicyPort, where: string): CompiledPort {
  if (typeof p !== "object" || p === null) {
    throw new FieldError(where, `${where} must be an object`);
  }
  const protocolName = p.protocol ?? "TCP";
  const protocol = PROTOCOL_NUMBERS[protocolName];
  if (protocol === undefined || !Object.hasOwn(PROTOCOL_NUMBERS, protocolName)) {
    throw new FieldError(
      `${where}.protocol`,
      `${where}.protocol ${JSON.stringify(protocolName)} is not one of TCP, UDP, SCTP`,
    );
  }
  const { port, endPort } = p;
  if (port === undefined || port === null) {
    if (endPort !== undefined && endPort !== null) {
      throw new FieldError(`${where}.endPort`, `${where}.endPort needs a numeric port`);
    }
    return { protocol };
  }
  if (typeof port === "string") {
    if (endPort !== undefined && endPort !== null) {
      throw new FieldError(
        `${where}.endPort`,
        `${where}.endPort cannot be used with the named port ${JSON.stringify(port)}`,
      );
    }
    if (
      port.length > 15 || !PORT_NAME.test(port) || !/[a-z]/.test(port) || port.includes("--")
    ) {
      throw new FieldError(
        `${where}.port`,
        `${where}.port ${JSON.stringify(port)} is not a port name (1-15 lower-case letters, ` +
          `digits and inner hyphens, with at least one letter); write a number for a port number`,
      );
    }
    return { protocol, name: port };
  }
  if (!isPortNumber(port)) {
    throw new FieldError(`${where}.port`, `${where}.port ${port} is not a port in 1-65535`);
  }
  if (endPort === undefined || endPort === null) return { protocol, port, endPort: port };
  if (!isPortNumber(endPort) || endPort < port) {
    throw new FieldError(
      `${where}.endPort`,
      `${where}.endPort ${endPort} is not a port in ${port}-65535`,
    );
  }
  return { protocol, port, endPort };
}

function compileIPBlock(b: IPBlock, where: string): CompiledIPBlock {
  if (typeof b !== "object" || b === null) {
    throw new FieldError(where, `${where} must be an object`);
  }
  const cidr = parseCidr(b.cidr);
  if (cidr === undefined) {
    throw new FieldError(`${where}.cidr`, `${where}.cidr ${JSON.stringify(b.cidr)} is not a CIDR`);
  }
  const exceptList = b.except ?? [];
  if (!Array.isArray(exceptList)) {
    throw new FieldError(`${where}.except`, `${where}.except must be a list of CIDRs`);
  }
  const except = exceptList.map((text, i) => {
    const e = parseCidr(text);
    if (e === undefined) {
      throw new FieldError(
        `${where}.except[${i}]`,
        `${where}.except[${i}] ${JSON.stringify(text)} is not a CIDR`,
      );
    }
    if (!cidrStrictlyInside(e, cidr)) {
      throw new FieldError(
        `${where}.except[${i}]`,
        `${where}.except[${i}] ${text} is not a strict subset of cidr ${b.cidr}`,
      );
    }
    return e;
  });
  return { cidr, except };
}

function compilePeer(p: NetworkPolicyPeer, where: string): CompiledPeer {
  if (typeof p !== "object" || p === null) {
    throw new FieldError(where, `${where} must be an object`);
  }
  const hasPods = p.podSelector !== undefined && p.podSelector !== null;
  const hasNamespaces = p.namespaceSelector !== undefined && p.namespaceSelector !== null;
  if (p.ipBlock !== undefined && p.ipBlock !== null) {
    if (hasPods || hasNamespaces) {
      throw new FieldError(
        where,
        `${where} may not give ipBlock together with podSelector or namespaceSelector`,
      );
    }
    return { ipBlock: compileIPBlock(p.ipBlock, `${where}.ipBlock`) };
  }
  if (!hasPods && !hasNamespaces) {
    throw new FieldError(
      where,
      `${where} must give podSelector, namespaceSelector or ipBlock`,
    );
  }
  const pods = selectorAt(p.podSelector, `${where}.podSelector`);
  if (!hasNamespaces) return { pods };
  return { pods, namespaces: selectorAt(p.namespaceSelector, `${where}.namespaceSelector`) };
}

function selectorAt(s: Parameters<typeof compileSelector>[0], where: string): LabelMatcher {
  try {
    return compileSelector(s, where);
  } catch (e) {
    if (e instanceof SelectorError) throw new FieldError(e.field, e.message);
    throw e;
  }
}

function compileRules(
  rules: unknown,
  direction: "ingress" | "egress",
  namespace: string,
  name: string,
): CompiledRule[] {
  if (rules === undefined || rules === null) return [];
  if (!Array.isArray(rules)) {
    throw new FieldError(`spec.${direction}`, `spec.${direction} must be a list of rules`);
  }
  const peerKey = direction === "ingress" ? "from" : "to";
  return rules.map((rule, i): CompiledRule => {
    const where = `spec.${direction}[${i}]`;
    if (typeof rule !== "object" || rule === null) {
      throw new FieldError(where, `${where} must be an object`);
    }
    const peerList = (rule as Record<string, unknown>)[peerKey];
    const portList = (rule as Record<string, unknown>).ports;
    if (peerList !== undefined && peerList !== null && !Array.isArray(peerList)) {
      throw new FieldError(`${where}.${peerKey}`, `${where}.${peerKey} must be a list`);
    }
    if (portList !== undefined && portList !== null && !Array.isArray(portList)) {
      throw new FieldError(`${where}.ports`, `${where}.ports must be a list`);
    }
    const peers = peerList?.length
      ? peerList.map((p: NetworkPolicyPeer, j: number) =>
        compilePeer(p, `${where}.${peerKey}[${j}]`)
      )
      : undefined;
    const ports = portList?.length
      ? portList.map((p: NetworkPolicyPort, j: number) => compilePort(p, `${where}.ports[${j}]`))
      : undefined;
    const ruleName = `${direction}-${i}`;
    return {
      name: ruleName,
      peers,
      ports,
      allow: Object.freeze({
        action: RuleAction.Allow,
        policyName: name,
        policyNamespace: namespace,
        policyType: PolicyType.K8sNetworkPolicy,
        ruleName,
      }),
    };
  });
}

/**
 * Compiles a NetworkPolicy. policyTypes default as the API server defaults them when missing or
 * empty: Ingress always, Egress when the policy has egress rules. A policy without metadata.namespace is in "default".
 * Throws a {@link PolicyError} (a TypeError) naming the policy and the offending field: a bad
 * CIDR or except, an unknown selector operator or protocol, a port out of range, an endPort
 * below its port or with a named port, a peer with nothing or too much in it, an unknown policy
 * type.
 *
 * @example
 * ```ts
 * const p = compilePolicy({
 *   metadata: { name: "default-deny-ingress", namespace: "prod" },
 *   spec: { podSelector: {}, policyTypes: ["Ingress"] },
 * });
 * p.ingress; // []: isolates every pod of "prod" for ingress, allows nothing
 * p.egress; // undefined: not an egress policy
 * ```
 */
export function compilePolicy(policy: NetworkPolicy): CompiledPolicy {
  const name = policy?.metadata?.name;
  const namespace = policy?.metadata?.namespace || "default";
  const id = `${namespace}/${typeof name === "string" && name !== "" ? name : "(unnamed)"}`;
  try {
    if (typeof policy !== "object" || policy === null) {
      throw new FieldError("", "a NetworkPolicy must be an object");
    }
    if (typeof name !== "string" || name === "") {
      throw new FieldError("metadata.name", "metadata.name must be a non-empty string");
    }
    const spec = policy.spec;
    if (typeof spec !== "object" || spec === null) {
      throw new FieldError("spec", "spec must be an object");
    }
    const selects = selectorAt(spec.podSelector ?? {}, "spec.podSelector");
    const hasEgressRules = Array.isArray(spec.egress) && spec.egress.length > 0;
    let types: readonly string[];
    // The API server defaults an empty list as it defaults a missing one.
    if (
      spec.policyTypes === undefined || spec.policyTypes === null ||
      (Array.isArray(spec.policyTypes) && spec.policyTypes.length === 0)
    ) {
      types = hasEgressRules ? ["Ingress", "Egress"] : ["Ingress"];
    } else {
      if (!Array.isArray(spec.policyTypes)) {
        throw new FieldError("spec.policyTypes", "spec.policyTypes must be a list");
      }
      types = spec.policyTypes;
      types.forEach((t, i) => {
        if (t !== "Ingress" && t !== "Egress") {
          throw new FieldError(
            `spec.policyTypes[${i}]`,
            `spec.policyTypes[${i}] ${JSON.stringify(t)} is not Ingress or Egress`,
          );
        }
      });
    }
    // Rules of a type the policy does not declare are ignored, but must still be well formed.
    const ingress = compileRules(spec.ingress, "ingress", namespace, name);
    const egress = compileRules(spec.egress, "egress", namespace, name);
    return {
      namespace,
      name,
      selects,
      ingress: types.includes("Ingress") ? ingress : undefined,
      egress: types.includes("Egress") ? egress : undefined,
      drop: Object.freeze({
        action: RuleAction.Drop,
        policyName: name,
        policyNamespace: namespace,
        policyType: PolicyType.K8sNetworkPolicy,
      }),
      source: policy,
    };
  } catch (e) {
    if (e instanceof FieldError) throw new PolicyError(id, e.field, e.message, { cause: e });
    throw new PolicyError(id, "", (e as Error)?.message ?? String(e), { cause: e });
  }
}

/** Whether `address` is in the block and in none of its exceptions. */
export function ipBlockContains(block: CompiledIPBlock, address: Words): boolean {
  if (!cidrContains(block.cidr, address)) return false;
  for (const e of block.except) if (cidrContains(e, address)) return false;
  return true;
}
