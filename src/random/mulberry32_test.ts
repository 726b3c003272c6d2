import { assert, assertEquals } from "../../tests/_assert.ts";
import { mulberry32, Rng } from "./mulberry32.ts";

Deno.test("mulberry32() gives a fixed sequence, so seeded runs repeat everywhere", () => {
  const one = mulberry32(1);
  assertEquals([one(), one(), one()], [2693262067, 11749833, 2265367787]);
  const zero = mulberry32(0);
  assertEquals([zero(), zero()], [1144304738, 1416247]);
  // The seed is taken modulo 2^32.
  const wrapped = mulberry32(2 ** 32 + 1);
  assertEquals(wrapped(), 2693262067);
});

Deno.test("Rng.float() is the next uint32 over 2^32", () => {
  const a = new Rng(9);
  const b = mulberry32(9);
  for (let i = 0; i < 100; i++) assertEquals(a.float(), b() / 2 ** 32);
});

Deno.test("Rng helpers stay in range", () => {
  const rng = new Rng(3);
  for (let i = 0; i < 10_000; i++) {
    const n = rng.int(7);
    assert(Number.isInteger(n) && n >= 0 && n < 7, `int ${n}`);
    const r = rng.range(-3, 3);
    assert(Number.isInteger(r) && r >= -3 && r <= 3, `range ${r}`);
    const big = rng.int(2 ** 40);
    assert(Number.isInteger(big) && big >= 0 && big < 2 ** 40, `int ${big}`);
    const f = rng.float();
    assert(f >= 0 && f < 1, `float ${f}`);
    assert(rng.bigint(70) < 1n << 70n);
  }
  assertEquals(rng.bytes(5).length, 5);
  assertEquals(rng.pick(["only"]), "only");
  assertEquals(new Rng(5).bytes(8), new Rng(5).bytes(8));
});
