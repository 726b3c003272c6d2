import { assertEquals } from "../../tests/_assert.ts";
import { ConnStatus, statusNames, TCP_STATES } from "./types.ts";

Deno.test("TCP_STATES follows the kernel's enum tcp_conntrack", () => {
  // Checked against `conntrack -I --state NAME` then `conntrack -L` in tests/conntrack_test.ts.
  assertEquals(TCP_STATES.indexOf("ESTABLISHED"), 3);
  assertEquals(TCP_STATES.indexOf("TIME_WAIT"), 7);
  assertEquals(TCP_STATES.indexOf("SYN_SENT2"), 9);
  assertEquals(TCP_STATES.length, 10);
});

Deno.test("statusNames lists the bits set, lowest first", () => {
  assertEquals(statusNames(0), []);
  assertEquals(statusNames(14), ["SEEN_REPLY", "ASSURED", "CONFIRMED"]);
  assertEquals(statusNames(ConnStatus.FIXED_TIMEOUT | ConnStatus.DST_NAT), [
    "DST_NAT",
    "FIXED_TIMEOUT",
  ]);
  assertEquals(statusNames(0xffff).length, 16);
});
