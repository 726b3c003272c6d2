import { assertEquals, assertThrows } from "../../tests/_assert.ts";
import type { LabelSelector } from "kubernetes-types/meta/v1.d.ts";
import { compileSelector, matchAll, SelectorError } from "./selector.ts";

const CASES: [string, LabelSelector | undefined, Record<string, string>, boolean][] = [
  ["empty selector", {}, {}, true],
  ["undefined selector", undefined, { a: "1" }, true],
  ["matchLabels hit", { matchLabels: { a: "1" } }, { a: "1", b: "2" }, true],
  ["matchLabels wrong value", { matchLabels: { a: "1" } }, { a: "2" }, false],
  ["matchLabels missing key", { matchLabels: { a: "1" } }, {}, false],
  ["matchLabels all ANDed", { matchLabels: { a: "1", b: "2" } }, { a: "1" }, false],
  ["empty matchLabels", { matchLabels: {} }, {}, true],
  [
    "In hit",
    { matchExpressions: [{ key: "a", operator: "In", values: ["1", "2"] }] },
    { a: "2" },
    true,
  ],
  [
    "In miss",
    { matchExpressions: [{ key: "a", operator: "In", values: ["1"] }] },
    { a: "3" },
    false,
  ],
  ["In absent", { matchExpressions: [{ key: "a", operator: "In", values: ["1"] }] }, {}, false],
  [
    "NotIn hit",
    { matchExpressions: [{ key: "a", operator: "NotIn", values: ["1"] }] },
    { a: "1" },
    false,
  ],
  ["NotIn other", { matchExpressions: [{ key: "a", operator: "NotIn", values: ["1"] }] }, {
    a: "2",
  }, true],
  [
    "NotIn absent",
    { matchExpressions: [{ key: "a", operator: "NotIn", values: ["1"] }] },
    {},
    true,
  ],
  ["Exists", { matchExpressions: [{ key: "a", operator: "Exists" }] }, { a: "" }, true],
  [
    "Exists absent",
    { matchExpressions: [{ key: "a", operator: "Exists", values: [] }] },
    {},
    false,
  ],
  [
    "DoesNotExist",
    { matchExpressions: [{ key: "a", operator: "DoesNotExist" }] },
    { b: "1" },
    true,
  ],
  ["DoesNotExist present", { matchExpressions: [{ key: "a", operator: "DoesNotExist" }] }, {
    a: "1",
  }, false],
  [
    "inherited keys are not labels",
    { matchExpressions: [{ key: "toString", operator: "Exists" }] },
    {},
    false,
  ],
  [
    "inherited keys are not labels (NotIn)",
    { matchExpressions: [{ key: "constructor", operator: "NotIn", values: ["x"] }] },
    {},
    true,
  ],
  [
    "matchLabels AND matchExpressions",
    {
      matchLabels: { app: "db" },
      matchExpressions: [{ key: "tier", operator: "In", values: ["prod"] }],
    },
    { app: "db", tier: "dev" },
    false,
  ],
  [
    "several expressions ANDed",
    {
      matchExpressions: [
        { key: "a", operator: "Exists" },
        { key: "b", operator: "DoesNotExist" },
        { key: "c", operator: "NotIn", values: ["x"] },
      ],
    },
    { a: "1", c: "y" },
    true,
  ],
];

Deno.test("compileSelector: Kubernetes label selector semantics", () => {
  for (const [what, selector, labels, expected] of CASES) {
    assertEquals(compileSelector(selector)(labels), expected, what);
  }
  assertEquals(compileSelector({}) === matchAll, true);
  assertEquals(compileSelector(null) === matchAll, true);
});

Deno.test("compileSelector: malformed selectors throw a SelectorError naming the field", () => {
  const e = assertThrows(
    () => compileSelector({ matchExpressions: [{ key: "a", operator: "in", values: ["1"] }] }, "s"),
    SelectorError,
    's.matchExpressions[0].operator "in" is not one of In, NotIn, Exists, DoesNotExist',
  );
  assertEquals(e instanceof TypeError, true);
  assertEquals(e.field, "s.matchExpressions[0].operator");
  assertThrows(
    () => compileSelector({ matchExpressions: [{ key: "", operator: "Exists" }] }),
    SelectorError,
    "key",
  );
  assertThrows(
    () => compileSelector({ matchExpressions: [{ key: "a", operator: "NotIn", values: [] }] }),
    SelectorError,
    "non-empty",
  );
  assertThrows(
    () => compileSelector({ matchExpressions: {} as never }),
    SelectorError,
    "must be a list",
  );
  assertThrows(() => compileSelector([] as never), SelectorError, "must be an object");
});
