import { assert } from "../../tests/_assert.ts";
import { benchmarkEvaluate } from "./bench.ts";

Deno.test("benchmarkEvaluate: a small run gives verdicts of every kind", () => {
  const r = benchmarkEvaluate({ namespaces: 4, podsPerNamespace: 20, evaluations: 50_000 });
  const v = r.verdicts;
  assert(v.ingressAllow > 0 && v.ingressDrop > 0 && v.egressAllow > 0 && v.egressDrop > 0);
  assert(v.ingressAllow + v.ingressDrop <= r.evaluations);
  assert(v.egressAllow + v.egressDrop <= r.evaluations);
  // Figures for the reader; no assertion on time.
  console.log(`policy evaluation: ${Math.round(r.perSecond)} evaluations/s (${r.pods} pods)`);
});
