import { assert, assertEquals, assertStrictEquals } from "../../tests/_assert.ts";
import { cidrContains, maskBytes, networkKey, parseCidr } from "./cidr.ts";
import { parseIP } from "./ip.ts";

const AS_KUBERNETES = { mappedAsIPv4: true } as const;

Deno.test("parseCidr(): masked, canonical text", () => {
  assertEquals(parseCidr("10.244.1.7/24")?.text, "10.244.1.0/24");
  assertEquals(parseCidr("fd00:10:244:1::/64")?.text, "fd00:10:244:1::/64");
  assertEquals(parseCidr("FD00:ABCD:1234::1/36")?.text, "fd00:abcd:1000::/36");
  assertEquals(parseCidr("10.1.2.3/8"), {
    family: 4,
    bytes: new Uint8Array([10, 0, 0, 0]),
    prefix: 8,
    text: "10.0.0.0/8",
  });
  assertEquals(parseCidr("0.0.0.0/0")?.text, "0.0.0.0/0");
  assertEquals(parseCidr("10.0.0.7/32")?.text, "10.0.0.7/32");
  assertEquals(parseCidr("::/0")?.text, "::/0");
  assertEquals(parseCidr("fd00::1/128")?.text, "fd00::1/128");
});

Deno.test("parseCidr() refuses what is not ADDRESS/PREFIX", () => {
  for (
    const bad of [
      "10.0.0.0",
      "10.0.0.0/",
      "10.0.0.0/08",
      "10.0.0.0/024",
      "10.0.0.0/-1",
      "10.0.0.0/+8",
      "10.0.0.0/33",
      "fd00::/129",
      "x/8",
      "/8",
      "10.0.0.0/8/8",
      "010.0.0.0/8",
      "fe80::%eth0/64",
    ]
  ) {
    assertStrictEquals(parseCidr(bad), undefined, bad);
  }
  assertStrictEquals(parseCidr(42 as unknown as string), undefined);
});

Deno.test("parseCidr() options: leading zeros, IPv4-mapped prefixes", () => {
  assertEquals(parseCidr("010.0.0.0/8", { leadingZeros: true })?.text, "10.0.0.0/8");
  // By default an IPv4-mapped prefix stays IPv6.
  const mapped = parseCidr("::ffff:10.0.0.0/104")!;
  assertEquals([mapped.family, mapped.prefix, mapped.text], [6, 104, "::ffff:10.0.0.0/104"]);
  // As Kubernetes reads it, it is the IPv4 prefix it covers; one under 96 bits is refused.
  assertEquals(parseCidr("::ffff:10.0.0.0/104", AS_KUBERNETES)?.text, "10.0.0.0/8");
  assertEquals(parseCidr("::ffff:0:0/96", AS_KUBERNETES)?.text, "0.0.0.0/0");
  assertStrictEquals(parseCidr("::ffff:0:0/95", AS_KUBERNETES), undefined);
  assertEquals(parseCidr("::ffff:0:0/95")?.text, "::fffe:0:0/95");
  assertEquals(parseCidr("fd00::/8", AS_KUBERNETES)?.text, "fd00::/8");
});

Deno.test("cidrContains(): same family, same leading bits", () => {
  const c = parseCidr("10.244.1.0/24")!;
  assert(cidrContains(c, parseIP("10.244.1.255")!));
  assert(!cidrContains(c, parseIP("10.244.2.1")!));
  assert(!cidrContains(c, parseIP("fd00::1")!));
  assert(cidrContains(c, parseIP("::ffff:10.244.1.9")!));
  const v6 = parseCidr("fd00:10:244:1::/64")!;
  assert(cidrContains(v6, parseIP("fd00:10:244:1:ffff::1")!));
  assert(!cidrContains(v6, parseIP("fd00:10:244:2::1")!));
  assert(cidrContains(parseCidr("0.0.0.0/0")!, parseIP("1.2.3.4")!));
  assert(!cidrContains(parseCidr("::/0")!, parseIP("1.2.3.4")!));
  const odd = parseCidr("fd00:abcd::/33")!;
  assert(cidrContains(odd, parseIP("fd00:abcd:7fff::1")!));
  assert(!cidrContains(odd, parseIP("fd00:abcd:8000::1")!));
  assert(cidrContains(parseCidr("fd00::1/128")!, parseIP("fd00::1")!));
  assert(!cidrContains(parseCidr("fd00::1/128")!, parseIP("fd00::2")!));
});

Deno.test("maskBytes() and networkKey()", () => {
  assertEquals(maskBytes(new Uint8Array([10, 244, 1, 99]), 20), new Uint8Array([10, 244, 0, 0]));
  assertEquals(maskBytes(new Uint8Array([255, 255, 255, 255]), 0), new Uint8Array(4));
  assertEquals(maskBytes(new Uint8Array([255, 255, 255, 255]), 32), new Uint8Array(4).fill(255));
  assertEquals(
    networkKey(parseIP("10.244.1.99")!.bytes, 24),
    networkKey(parseCidr("10.244.1.0/24")!.bytes, 24),
  );
  assertEquals(networkKey(parseIP("10.244.1.99")!.bytes, 25), "4/25/0af40100");
  assertEquals(
    networkKey(parseIP("fd00::1")!.bytes, 16),
    "6/16/fd000000000000000000000000000000",
  );
});
