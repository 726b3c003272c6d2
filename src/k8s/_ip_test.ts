import { assert, assertEquals } from "../../tests/_assert.ts";
import { canonicalIP, cidrContains, networkKey, parseCIDR, parseIP } from "./_ip.ts";

Deno.test("ip: canonical text of IPv4, IPv6 (RFC 5952) and IPv4-mapped addresses", () => {
  const cases: [string, string | undefined][] = [
    ["10.0.0.1", "10.0.0.1"],
    ["255.255.255.255", "255.255.255.255"],
    ["FD00:0:0:0:0:0:0:A", "fd00::a"],
    ["fd00:10:244:1::a", "fd00:10:244:1::a"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
    ["0:0:0:0:0:0:0:0", "::"],
    ["::1", "::1"],
    ["1::", "1::"],
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"],
    ["::ffff:10.1.2.3", "10.1.2.3"],
    ["64:ff9b::10.1.2.3", "64:ff9b::a01:203"],
    ["10.0.0.256", undefined],
    ["010.0.0.1", undefined],
    ["10.0.0", undefined],
    ["1:2:3:4:5:6:7:8:9", undefined],
    ["1::2::3", undefined],
    [":::", undefined],
    [":1", undefined],
    ["fe80::1%eth0", undefined],
    ["12345::", undefined],
    ["", undefined],
    ["None", undefined],
  ];
  for (const [input, want] of cases) assertEquals(canonicalIP(input), want, input);
});

Deno.test("ip: CIDRs are masked, canonical, and contain what they should", () => {
  assertEquals(parseCIDR("10.244.1.7/24")?.text, "10.244.1.0/24");
  assertEquals(parseCIDR("fd00:10:244:1::/64")?.text, "fd00:10:244:1::/64");
  assertEquals(parseCIDR("::ffff:10.0.0.0/104")?.text, "10.0.0.0/8");
  assertEquals(parseCIDR("10.0.0.0/33"), undefined);
  assertEquals(parseCIDR("10.0.0.0"), undefined);
  assertEquals(parseCIDR("10.0.0.0/024"), undefined);
  assertEquals(parseCIDR("fd00::/129"), undefined);
  const c = parseCIDR("10.244.1.0/24")!;
  assert(cidrContains(c, parseIP("10.244.1.255")!));
  assert(!cidrContains(c, parseIP("10.244.2.1")!));
  assert(!cidrContains(c, parseIP("fd00::1")!));
  const v6 = parseCIDR("fd00:10:244:1::/64")!;
  assert(cidrContains(v6, parseIP("fd00:10:244:1:ffff::1")!));
  assert(!cidrContains(v6, parseIP("fd00:10:244:2::1")!));
  assert(cidrContains(parseCIDR("0.0.0.0/0")!, parseIP("1.2.3.4")!));
  assertEquals(
    networkKey(parseIP("10.244.1.99")!.bytes, 24),
    networkKey(parseCIDR("10.244.1.0/24")!.bytes, 24),
  );
  assertEquals(networkKey(parseIP("10.244.1.99")!.bytes, 25), "4/25/0af40100");
});
