import { assertEquals } from "../../tests/_assert.ts";
import { cidrContains, cidrStrictlyInside, parseCidr, parseIP } from "./_ip.ts";

Deno.test("parseIP: IPv4 and IPv6 forms", () => {
  const cases: [string, number[] | undefined][] = [
    ["10.0.0.1", [0x0a000001]],
    ["0.0.0.0", [0]],
    ["255.255.255.255", [0xffffffff]],
    ["010.1.1.1", [0x0a010101]],
    ["::", [0, 0, 0, 0]],
    ["::1", [0, 0, 0, 1]],
    ["1::", [0x00010000, 0, 0, 0]],
    ["fd00:1::10", [0xfd000001, 0, 0, 0x10]],
    ["FD00:0001:0:0:0:0:0:0010", [0xfd000001, 0, 0, 0x10]],
    ["2001:db8:0:0:1:0:0:1", [0x20010db8, 0, 0x00010000, 1]],
    ["64:ff9b::192.0.2.33", [0x0064ff9b, 0, 0, 0xc0000221]],
    ["::ffff:10.0.0.1", [0x0a000001]], // IPv4-mapped: the IPv4 address
    ["::ffff:a00:1", [0x0a000001]],
    ["", undefined],
    ["10.0.0", undefined],
    ["10.0.0.1.2", undefined],
    ["10.0.0.256", undefined],
    ["10..0.1", undefined],
    ["1000.0.0.1", undefined],
    [" 10.0.0.1", undefined],
    ["10.0.0.1/32", undefined],
    ["1:2:3:4:5:6:7", undefined],
    ["1:2:3:4:5:6:7:8:9", undefined],
    ["1::2::3", undefined],
    [":1", undefined],
    ["1:", undefined],
    [":::", undefined],
    ["12345::", undefined],
    ["g::1", undefined],
    ["fe80::1%eth0", undefined],
    ["1:2:3:4:5:6:7::", [0x00010002, 0x00030004, 0x00050006, 0x00070000]],
    ["1:2:3:4:5:6:1.2.3.4", [0x00010002, 0x00030004, 0x00050006, 0x01020304]],
    ["1:2:3:4:5:6:7:1.2.3.4", undefined],
    ["::1.2.3", undefined],
    ["1.2.3.4::", undefined],
  ];
  for (const [text, words] of cases) assertEquals(parseIP(text), words, text);
});

Deno.test("parseCidr and cidrContains", () => {
  assertEquals(parseCidr("10.1.2.3/8"), { words: [0x0a000000], prefix: 8 });
  assertEquals(parseCidr("0.0.0.0/0"), { words: [0], prefix: 0 });
  assertEquals(parseCidr("fd00:abcd:1234::1/36"), {
    words: [0xfd00abcd, 0x10000000, 0, 0],
    prefix: 36,
  });
  for (
    const bad of [
      "10.0.0.0",
      "10.0.0.0/",
      "10.0.0.0/08",
      "10.0.0.0/-1",
      "10.0.0.0/33",
      "::/129",
      "x/8",
      "10.0.0.0/8/8",
    ]
  ) {
    assertEquals(parseCidr(bad), undefined, bad);
  }
  const block = parseCidr("172.17.0.0/16")!;
  assertEquals(cidrContains(block, parseIP("172.17.255.1")!), true);
  assertEquals(cidrContains(block, parseIP("172.18.0.1")!), false);
  assertEquals(cidrContains(block, parseIP("fd00::1")!), false);
  assertEquals(cidrContains(parseCidr("0.0.0.0/0")!, parseIP("1.2.3.4")!), true);
  assertEquals(cidrContains(parseCidr("::/0")!, parseIP("1.2.3.4")!), false);
  assertEquals(cidrContains(parseCidr("10.0.0.7/32")!, parseIP("10.0.0.7")!), true);
  const v6 = parseCidr("fd00:abcd::/33")!;
  assertEquals(cidrContains(v6, parseIP("fd00:abcd:7fff::1")!), true);
  assertEquals(cidrContains(v6, parseIP("fd00:abcd:8000::1")!), false);
  assertEquals(cidrContains(parseCidr("fd00::1/128")!, parseIP("fd00::1")!), true);
  assertEquals(cidrContains(parseCidr("fd00::1/128")!, parseIP("fd00::2")!), false);
});

Deno.test("parseCidr: leading zeros are read as decimal, IPv4-mapped blocks stay IPv6", () => {
  assertEquals(parseCidr("010.1.2.3/16"), { words: [0x0a010000], prefix: 16 });
  assertEquals(parseCidr("::ffff:10.0.0.0/104"), {
    words: [0, 0, 0xffff, 0x0a000000],
    prefix: 104,
  });
  assertEquals(cidrContains(parseCidr("::ffff:10.0.0.0/104")!, parseIP("10.0.0.1")!), false);
});

Deno.test("cidrStrictlyInside", () => {
  const outer = parseCidr("10.0.0.0/8")!;
  assertEquals(cidrStrictlyInside(parseCidr("10.1.0.0/16")!, outer), true);
  assertEquals(cidrStrictlyInside(parseCidr("10.0.0.0/8")!, outer), false);
  assertEquals(cidrStrictlyInside(parseCidr("11.0.0.0/16")!, outer), false);
  assertEquals(cidrStrictlyInside(parseCidr("fd00::/16")!, outer), false);
});
