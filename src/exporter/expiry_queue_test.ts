import { assertEquals } from "../../tests/_assert.ts";
import { ExpiryQueue } from "./expiry_queue.ts";
import { fnv1_32 } from "./fnv.ts";

Deno.test("ExpiryQueue: pops due items in time order, honouring reschedules and cancels", () => {
  const q = new ExpiryQueue<string>();
  q.schedule("a", 30);
  q.schedule("b", 10);
  q.schedule("c", 20);
  q.schedule("a", 5);
  q.cancel("c");
  assertEquals(q.size, 2);
  assertEquals(q.peekTime(), 5);
  assertEquals(q.popDue(9), ["a"]);
  assertEquals(q.popDue(100), ["b"]);
  assertEquals(q.popDue(1000), []);
  assertEquals(q.peekTime(), Infinity);
});

Deno.test("ExpiryQueue: matches a sorted reference under many random operations", () => {
  let seed = 42;
  const rand = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const q = new ExpiryQueue<number>();
  const ref = new Map<number, number>();
  let now = 0;
  for (let i = 0; i < 20000; i++) {
    const item = Math.floor(rand() * 500);
    const op = rand();
    if (op < 0.6) {
      const at = now + Math.floor(rand() * 1000);
      q.schedule(item, at);
      ref.set(item, at);
    } else if (op < 0.7) {
      q.cancel(item);
      ref.delete(item);
    } else {
      now += Math.floor(rand() * 100);
      const got = q.popDue(now);
      const want = [...ref].filter(([, at]) => at <= now).sort((x, y) => x[1] - y[1]);
      assertEquals(got.map((g) => ref.get(g)), want.map(([, at]) => at));
      assertEquals(new Set(got), new Set(want.map(([k]) => k)));
      for (const k of got) ref.delete(k);
    }
    assertEquals(q.size, ref.size);
  }
});

Deno.test("fnv1_32: FNV-1 (not 1a) of the node name", () => {
  assertEquals(fnv1_32(""), 0x811c9dc5);
  assertEquals(fnv1_32("a"), 0x050c5d7e);
  assertEquals(fnv1_32("k8s-node-1"), 870192098);
});
