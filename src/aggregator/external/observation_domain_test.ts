import { assertEquals, assertThrows } from "../../../tests/_assert.ts";
import { fnv1_32 } from "../../exporter/mod.ts";
import { checkObservationDomainId, deriveObservationDomainId } from "./observation_domain.ts";

Deno.test("deriveObservationDomainId is FNV-1 32 of the seed, the same on every call", () => {
  const uuid = "2b9c1f3e-6b5a-4e0f-9a53-0e6f1b3c2d10";
  assertEquals(deriveObservationDomainId("a"), 84696446);
  assertEquals(deriveObservationDomainId(uuid), fnv1_32(uuid));
  assertEquals(deriveObservationDomainId(uuid), deriveObservationDomainId(uuid));
});

Deno.test("deriveObservationDomainId never gives 0", () => {
  // A seed whose FNV-1 32 is 0 (found by a meet-in-the-middle search over a–z strings).
  assertEquals(fnv1_32("woqjabry"), 0);
  assertEquals(deriveObservationDomainId("woqjabry"), 1);
});

Deno.test("deriveObservationDomainId refuses an empty seed", () => {
  assertThrows(() => deriveObservationDomainId(""), TypeError, "empty seed");
});

Deno.test("checkObservationDomainId takes 32-bit unsigned integers only", () => {
  assertEquals(checkObservationDomainId(0), 0);
  assertEquals(checkObservationDomainId(0xffffffff), 0xffffffff);
  for (const bad of [-1, 2 ** 32, 1.5, NaN]) {
    assertThrows(() => checkObservationDomainId(bad), RangeError, "Invalid observation domain ID");
  }
});
