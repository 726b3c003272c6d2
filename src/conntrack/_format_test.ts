import { assertEquals } from "../../tests/_assert.ts";
import { formatIPv4Le, formatIPv6 } from "./_format.ts";

// 16 octets in hex and what glibc's inet_ntop(AF_INET6) (as conntrack -L prints) gives for them.
const IPV6: [string, string][] = [
  ["00000000000000000000000000000000", "::"],
  ["00000000000000000000000000000001", "::1"],
  ["00000000000000000000ffff01020304", "::ffff:1.2.3.4"],
  ["00000000000000000000000001020304", "::1.2.3.4"],
  ["00000000000000000000ffff00000000", "::ffff:0.0.0.0"],
  ["00000000000000000000000000000002", "::2"],
  ["20010db8000000000001000000000001", "2001:db8::1:0:0:1"],
  ["fd000000000000000000000000000001", "fd00::1"],
  ["00010000000000000000000000000000", "1::"],
  ["00010000000100000001000000010000", "1:0:1:0:1:0:1:0"],
  ["00000000000100000000000000000000", "0:0:1::"],
  ["20010db8000000010001000100010001", "2001:db8:0:1:1:1:1:1"],
  ["00000000000000000000ffff00010002", "::ffff:0.1.0.2"],
  ["00000000000000000000fffe01020304", "::fffe:102:304"],
  ["ffff0000000000000000000000000000", "ffff::"],
  ["00010002000300040005000600070008", "1:2:3:4:5:6:7:8"],
  ["00000002000300040005000600070008", "0:2:3:4:5:6:7:8"],
  ["00000000000000000000000100000000", "::1:0:0"],
  ["0064ff9b000000000000000001020304", "64:ff9b::102:304"],
  ["fe8000000000000a000000000000000b", "fe80:0:0:a::b"],
];

function hex(s: string): Uint8Array {
  return Uint8Array.from(s.match(/../g)!, (h) => parseInt(h, 16));
}

Deno.test("formatIPv6 writes what glibc inet_ntop writes", () => {
  for (const [h, text] of IPV6) assertEquals(formatIPv6(hex(h), 0), text, h);
});

Deno.test("formatIPv6 reads at an offset", () => {
  const buf = new Uint8Array(32);
  buf.set(hex("fd000000000000000000000000000001"), 16);
  assertEquals(formatIPv6(buf, 16), "fd00::1");
  assertEquals(formatIPv6(buf, 0), "::");
});

Deno.test("formatIPv4Le takes the library's network-order u32 on a little-endian host", () => {
  assertEquals(formatIPv4Le(0x0100000a), "10.0.0.1");
  assertEquals(formatIPv4Le(0xfffefdfc), "252.253.254.255");
  assertEquals(formatIPv4Le(0), "0.0.0.0");
  assertEquals(formatIPv4Le(0xffffffff), "255.255.255.255");
  assertEquals(formatIPv4Le(0xffffffff), "255.255.255.255");
  // More addresses than cache slots (65536) share slots, whatever the hash: each still gets its
  // own string, the first time and again after the others.
  const text = (u: number) => `${u & 255}.${(u >>> 8) & 255}.${(u >>> 16) & 255}.${u >>> 24}`;
  const addresses = Array.from({ length: 150_000 }, (_, i) => (Math.imul(i, 0x2545f491) ^ i) >>> 0);
  for (const u of addresses) assertStrictEqualsFast(formatIPv4Le(u), text(u));
  for (const u of addresses.slice(0, 1000)) assertStrictEqualsFast(formatIPv4Le(u), text(u));
});

/** assertEquals, without its cost on the success path of a loop of 150k. */
function assertStrictEqualsFast(actual: string, expected: string): void {
  if (actual !== expected) assertEquals(actual, expected);
}
