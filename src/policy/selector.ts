/**
 * Kubernetes label selectors compiled into predicates.
 *
 * @module
 */

import type { LabelSelector } from "kubernetes-types/meta/v1.d.ts";

/** Labels of a pod or namespace. */
export type Labels = Readonly<Record<string, string>>;

/** A compiled label selector: whether a set of labels matches. */
export type LabelMatcher = (labels: Labels) => boolean;

/** Matches every set of labels: what an empty selector (`{}`) compiles to. */
export const matchAll: LabelMatcher = () => true;

const hasOwn = Object.prototype.hasOwnProperty;

/** A malformed label selector; `field` is the path of the offending field. */
export class SelectorError extends TypeError {
  readonly field: string;
  constructor(field: string, message: string) {
    super(message);
    this.name = "SelectorError";
    this.field = field;
  }
}

/**
 * Compiles a label selector: matchLabels and matchExpressions (In, NotIn, Exists, DoesNotExist),
 * all ANDed; an empty selector matches everything. NotIn and DoesNotExist match labels without
 * the key, as in Kubernetes. Throws a TypeError naming the offending field (relative to `field`)
 * when the selector is malformed: an unknown operator, values given to Exists or DoesNotExist, or
 * missing from In or NotIn.
 *
 * @example
 * ```ts
 * const m = compileSelector({
 *   matchLabels: { app: "db" },
 *   matchExpressions: [{ key: "tier", operator: "NotIn", values: ["test"] }],
 * });
 * m({ app: "db", tier: "prod" }); // true
 * m({ app: "db" }); // true: NotIn matches when the key is absent
 * m({ app: "web" }); // false
 * ```
 */
export function compileSelector(
  selector: LabelSelector | null | undefined,
  field = "selector",
): LabelMatcher {
  if (selector === undefined || selector === null) return matchAll;
  if (typeof selector !== "object" || Array.isArray(selector)) {
    throw new SelectorError(field, `${field} must be an object`);
  }
  const tests: LabelMatcher[] = [];
  const { matchLabels, matchExpressions } = selector;
  if (matchLabels !== undefined && matchLabels !== null) {
    if (typeof matchLabels !== "object" || Array.isArray(matchLabels)) {
      throw new SelectorError(
        `${field}.matchLabels`,
        `${field}.matchLabels must be an object of strings`,
      );
    }
    for (const [key, value] of Object.entries(matchLabels)) {
      if (typeof value !== "string") {
        throw new SelectorError(
          `${field}.matchLabels.${key}`,
          `${field}.matchLabels.${key} must be a string, not ${typeof value}`,
        );
      }
      tests.push((labels) => labels[key] === value && hasOwn.call(labels, key));
    }
  }
  if (matchExpressions !== undefined && matchExpressions !== null) {
    if (!Array.isArray(matchExpressions)) {
      throw new SelectorError(
        `${field}.matchExpressions`,
        `${field}.matchExpressions must be a list`,
      );
    }
    matchExpressions.forEach((req, i) => {
      const where = `${field}.matchExpressions[${i}]`;
      if (typeof req !== "object" || req === null) {
        throw new SelectorError(where, `${where} must be an object`);
      }
      const { key, operator } = req;
      const values = req.values ?? [];
      if (typeof key !== "string" || key === "") {
        throw new SelectorError(`${where}.key`, `${where}.key must be a non-empty string`);
      }
      if (!Array.isArray(values) || values.some((v) => typeof v !== "string")) {
        throw new SelectorError(`${where}.values`, `${where}.values must be a list of strings`);
      }
      const set = new Set(values);
      switch (operator) {
        case "In":
        case "NotIn":
          if (set.size === 0) {
            throw new SelectorError(
              `${where}.values`,
              `${where}.values must be non-empty for operator ${operator}`,
            );
          }
          tests.push(
            operator === "In"
              ? (labels) => hasOwn.call(labels, key) && set.has(labels[key]!)
              : (labels) => !hasOwn.call(labels, key) || !set.has(labels[key]!),
          );
          break;
        case "Exists":
        case "DoesNotExist":
          if (set.size !== 0) {
            throw new SelectorError(
              `${where}.values`,
              `${where}.values must be empty for operator ${operator}`,
            );
          }
          tests.push(
            operator === "Exists"
              ? (labels) => hasOwn.call(labels, key)
              : (labels) => !hasOwn.call(labels, key),
          );
          break;
        default:
          throw new SelectorError(
            `${where}.operator`,
            `${where}.operator ${
              JSON.stringify(operator)
            } is not one of In, NotIn, Exists, DoesNotExist`,
          );
      }
    });
  }
  if (tests.length === 0) return matchAll;
  if (tests.length === 1) return tests[0]!;
  return (labels) => {
    for (const t of tests) if (!t(labels)) return false;
    return true;
  };
}
