import { assert, assertEquals, assertNotEquals, assertThrows } from "../../tests/_assert.ts";
import { Random } from "./random.ts";

Deno.test("random: the same seed gives the same sequence, another seed another one", () => {
  const draw = (seed: number) => {
    const r = new Random(seed);
    return Array.from({ length: 8 }, () => r.uint32());
  };
  assertEquals(draw(7), draw(7));
  assertNotEquals(draw(7), draw(8));
  assertEquals(draw(2 ** 32 + 7), draw(7));
  assertThrows(() => new Random(NaN), TypeError);
});

Deno.test("random: draws stay in their ranges and follow their distributions", () => {
  const r = new Random(1);
  let sum = 0;
  let lnSum = 0;
  let paretoMin = Infinity;
  const n = 20_000;
  for (let i = 0; i < n; i++) {
    const x = r.next();
    assert(x >= 0 && x < 1);
    const k = r.int(3, 5);
    assert(k >= 3 && k <= 5 && Number.isInteger(k));
    sum += r.exponential(2);
    lnSum += Math.log(r.logNormal(100, 0.5));
    paretoMin = Math.min(paretoMin, r.pareto(10, 1.2));
  }
  assert(Math.abs(sum / n - 2) < 0.1, `exponential mean ${sum / n}`);
  assert(Math.abs(Math.exp(lnSum / n) - 100) < 3, `log-normal median ${Math.exp(lnSum / n)}`);
  assert(paretoMin >= 10);
  const counts = { a: 0, b: 0 };
  for (let i = 0; i < 10_000; i++) {
    counts[r.weighted(["a", "b"] as const, (x) => x === "a" ? 3 : 1)]++;
  }
  assert(counts.a > 7000 && counts.a < 8000, `weighted ${counts.a}`);
  assertEquals(r.shuffle([1, 2, 3, 4, 5]).sort(), [1, 2, 3, 4, 5]);
  assertEquals(r.token(5).length, 5);
  assertThrows(() => r.pick([]), RangeError);
});
