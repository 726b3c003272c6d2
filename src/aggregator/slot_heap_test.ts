import { assertEquals } from "../../tests/_assert.ts";
import { mulberry32 } from "../random/mod.ts";
import { SlotHeap } from "./slot_heap.ts";

Deno.test("SlotHeap: pops slots in deadline order, grows past its capacity", () => {
  const heap = new SlotHeap(4);
  const rnd = mulberry32(7);
  const entries: [number, number][] = [];
  for (let slot = 0; slot < 1000; slot++) {
    const at = Math.floor(rnd() * 10_000);
    entries.push([at, slot]);
    heap.push(at, slot);
  }
  assertEquals(heap.size, 1000);
  const popped: number[] = [];
  let last = -Infinity;
  let ordered = true;
  while (heap.size > 0) {
    const at = heap.peekDeadline();
    if (at < last) ordered = false;
    last = at;
    popped.push(heap.pop());
  }
  assertEquals(ordered, true);
  assertEquals(popped.sort((a, b) => a - b), entries.map(([, s]) => s));
  assertEquals(heap.pop(), -1);
  assertEquals(heap.peekDeadline(), Infinity);
  assertEquals(heap.peekSlot(), -1);
});
