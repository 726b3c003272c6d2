import { assert, assertEquals, assertStrictEquals, show } from "../../tests/_assert.ts";
import { Rng } from "../random/mod.ts";
import {
  canonicalIP,
  formatIP,
  formatIPv4,
  formatIPv6,
  ipv4Text,
  isIPv4Mapped,
  parseIP,
  parseIPv4,
  parseIPv4Into,
  parseIPv6Into,
} from "./ip.ts";

const LENIENT = { leadingZeros: true } as const;

function toHex(u8: Uint8Array): string {
  return Array.from(u8, (x) => x.toString(16).padStart(2, "0")).join("");
}

function parse4(s: string): Uint8Array | undefined {
  const out = new Uint8Array(4);
  return parseIPv4Into(s, out, 0) ? out : undefined;
}

function parse6(s: string): Uint8Array | undefined {
  const out = new Uint8Array(16);
  return parseIPv6Into(s, out, 0) ? out : undefined;
}

/** 16 octets from eight 16-bit groups. */
function v6(...groups: number[]): Uint8Array {
  assert(groups.length === 8, "eight groups");
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

/** A second, naive implementation of RFC 5952 §4 and §5 to compare with. */
function referenceIPv6(u8: Uint8Array): string {
  const w = Array.from({ length: 8 }, (_, i) => (u8[2 * i]! << 8) | u8[2 * i + 1]!);
  if (w.slice(0, 5).every((x) => x === 0) && w[5] === 0xffff) {
    return `::ffff:${u8[12]}.${u8[13]}.${u8[14]}.${u8[15]}`;
  }
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; i++) {
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i >= 2 && j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
  }
  const h = w.map((x) => x.toString(16));
  if (best < 0) return h.join(":");
  return h.slice(0, best).join(":") + "::" + h.slice(best + bestLen).join(":");
}

// ---------------------------------------------------------------------------------------------
// IPv4

Deno.test("formatIPv4() formats dotted quads at an offset", () => {
  assertStrictEquals(formatIPv4(new Uint8Array([0, 0, 0, 0]), 0), "0.0.0.0");
  assertStrictEquals(formatIPv4(new Uint8Array([255, 255, 255, 255]), 0), "255.255.255.255");
  assertStrictEquals(formatIPv4(new Uint8Array([9, 9, 10, 0, 0, 1, 9]), 2), "10.0.0.1");
  assertStrictEquals(formatIPv4(new Uint8Array([192, 0, 2, 100]), 0), "192.0.2.100");
});

Deno.test("parseIPv4Into() parses dotted quads at an offset", () => {
  assertEquals(parse4("0.0.0.0"), new Uint8Array([0, 0, 0, 0]));
  assertEquals(parse4("255.255.255.255"), new Uint8Array([255, 255, 255, 255]));
  assertEquals(parse4("10.0.0.1"), new Uint8Array([10, 0, 0, 1]));
  assertEquals(parse4("100.200.0.10"), new Uint8Array([100, 200, 0, 10]));
  const out = new Uint8Array(8).fill(0xaa);
  assert(parseIPv4Into("1.2.3.4", out, 3));
  assertEquals(out, new Uint8Array([0xaa, 0xaa, 0xaa, 1, 2, 3, 4, 0xaa]));
});

Deno.test("parseIPv4Into() rejects what is not a dotted quad", () => {
  for (
    const s of [
      "",
      "1",
      "1.2.3",
      "1.2.3.4.5",
      "01.2.3.4",
      "1.2.3.04",
      "00.1.2.3",
      "1.2.3.00",
      "256.1.1.1",
      "1.2.3.256",
      "1.2.3.1000",
      "1.2.3.4.",
      ".1.2.3.4",
      "1..2.3",
      "1.2.3.-4",
      " 1.2.3.4",
      "1.2.3.4 ",
      "a.b.c.d",
      "0x1.2.3.4",
      "1.2.3.4/24",
      "1.2.3.4:80",
      "\uff11.2.3.4",
      "::1",
    ]
  ) {
    assertStrictEquals(parse4(s), undefined, `accepted ${show(s)}`);
  }
});

Deno.test("formatIPv4() and parseIPv4Into() round trip random addresses", () => {
  // More addresses than the text cache has slots (4096): evicted and shared slots included, and
  // the first ones formatted again after all the others.
  const rng = new Rng(4);
  const all = Array.from({ length: 10_000 }, () => rng.bytes(4));
  for (const b of [...all, ...all.slice(0, 500)]) {
    const s = formatIPv4(b, 0);
    assertEquals(parse4(s), b, s);
  }
});

Deno.test("ipv4Text() is formatIPv4() of the address as a 32-bit number, cached or not", () => {
  assertStrictEquals(ipv4Text(0), "0.0.0.0");
  assertStrictEquals(ipv4Text(0xffffffff), "255.255.255.255");
  assertStrictEquals(ipv4Text(0xc0000201), "192.0.2.1");
  assertStrictEquals(ipv4Text(0x0a000001), "10.0.0.1");
  const rng = new Rng(5);
  const all = Array.from({ length: 10_000 }, () => rng.bytes(4));
  for (const b of [...all, ...all.slice(0, 500).reverse()]) {
    const key = new DataView(b.buffer).getUint32(0);
    assertStrictEquals(ipv4Text(key), formatIPv4(b, 0));
  }
});

// ---------------------------------------------------------------------------------------------
// IPv6

Deno.test("formatIPv6() follows RFC 5952", () => {
  const cases: [Uint8Array, string][] = [
    [v6(0, 0, 0, 0, 0, 0, 0, 0), "::"],
    [v6(0, 0, 0, 0, 0, 0, 0, 1), "::1"],
    [v6(1, 0, 0, 0, 0, 0, 0, 0), "1::"],
    [v6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1), "2001:db8::1"],
    // §4.1: leading zeros are omitted. §4.3: lowercase.
    [v6(0x2001, 0x0db8, 0, 0, 0, 0, 0xabcd, 0x0001), "2001:db8::abcd:1"],
    [v6(0xfe80, 0, 0, 0, 0x0211, 0x22ff, 0xfe33, 0x4455), "fe80::211:22ff:fe33:4455"],
    // §4.2.1: the longest run is compressed.
    [v6(0x2001, 0, 0, 1, 0, 0, 0, 1), "2001:0:0:1::1"],
    [v6(1, 0, 0, 2, 0, 0, 0, 3), "1:0:0:2::3"],
    [v6(1, 2, 3, 4, 5, 0, 0, 0), "1:2:3:4:5::"],
    // §4.2.3: the first of equal runs.
    [v6(0x2001, 0xdb8, 0, 0, 1, 0, 0, 1), "2001:db8::1:0:0:1"],
    [v6(0, 0, 1, 1, 0, 0, 1, 1), "::1:1:0:0:1:1"],
    // §4.2.2: a single zero group is not compressed.
    [v6(0x2001, 0xdb8, 0, 1, 1, 1, 1, 1), "2001:db8:0:1:1:1:1:1"],
    [v6(0, 1, 2, 3, 4, 5, 6, 7), "0:1:2:3:4:5:6:7"],
    [v6(1, 2, 3, 4, 5, 6, 7, 0), "1:2:3:4:5:6:7:0"],
    [v6(1, 0, 2, 0, 3, 0, 4, 0), "1:0:2:0:3:0:4:0"],
    [
      v6(0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff),
      "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    ],
    // §5: IPv4-mapped addresses keep the dotted quad.
    [v6(0, 0, 0, 0, 0, 0xffff, 0x0102, 0x0304), "::ffff:1.2.3.4"],
    [v6(0, 0, 0, 0, 0, 0xffff, 0, 0), "::ffff:0.0.0.0"],
    [v6(0, 0, 0, 0, 0, 0xffff, 0xc000, 0x0201), "::ffff:192.0.2.1"],
    // Not mapped: plain hex.
    [v6(0, 0, 0, 0, 0, 0, 0x0102, 0x0304), "::102:304"],
    [v6(0, 0, 0, 0, 0xffff, 0, 0x0102, 0x0304), "::ffff:0:102:304"],
    [v6(0, 0, 0, 0, 1, 0xffff, 0x0102, 0x0304), "::1:ffff:102:304"],
  ];
  for (const [bytes, want] of cases) {
    assertStrictEquals(formatIPv6(bytes, 0), want);
    assertEquals(parse6(want), bytes, want);
  }
  const padded = new Uint8Array(20).fill(0xee);
  padded.set(v6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1), 3);
  assertStrictEquals(formatIPv6(padded, 3), "2001:db8::1");
});

Deno.test("formatIPv6() agrees with a reference on random addresses rich in zero groups", () => {
  const rng = new Rng(6);
  for (let i = 0; i < 20000; i++) {
    const groups = Array.from(
      { length: 8 },
      () => rng.chance(0.5) ? 0 : rng.pick([1, 0xf, 0xff, 0xfff, 0xffff, rng.int(0x10000)]),
    );
    if (rng.chance(0.05)) groups.splice(0, 6, 0, 0, 0, 0, 0, 0xffff);
    const b = v6(...groups);
    const s = formatIPv6(b, 0);
    assertStrictEquals(s, referenceIPv6(b), toHex(b));
    assertStrictEquals(s, s.toLowerCase());
    assert(!s.includes(":::"), s);
    assertEquals(parse6(s), b, s);
  }
});

Deno.test("parseIPv6Into() parses RFC 4291 text forms", () => {
  const db8 = v6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
  assertEquals(parse6("2001:0db8:0000:0000:0000:0000:0000:0001"), db8);
  assertEquals(parse6("2001:db8:0:0:0:0:0:1"), db8);
  assertEquals(parse6("2001:DB8::1"), db8);
  assertEquals(parse6("2001:db8::0:1"), db8);
  assertEquals(parse6("::"), v6(0, 0, 0, 0, 0, 0, 0, 0));
  assertEquals(parse6("::1"), v6(0, 0, 0, 0, 0, 0, 0, 1));
  assertEquals(parse6("1::"), v6(1, 0, 0, 0, 0, 0, 0, 0));
  assertEquals(parse6("1:2:3:4:5:6:7::"), v6(1, 2, 3, 4, 5, 6, 7, 0));
  assertEquals(parse6("::2:3:4:5:6:7:8"), v6(0, 2, 3, 4, 5, 6, 7, 8));
  assertEquals(parse6("1:2:3::6:7:8"), v6(1, 2, 3, 0, 0, 6, 7, 8));
  assertEquals(parse6("::ffff:1.2.3.4"), v6(0, 0, 0, 0, 0, 0xffff, 0x0102, 0x0304));
  assertEquals(parse6("::FFFF:10.0.0.1"), v6(0, 0, 0, 0, 0, 0xffff, 0x0a00, 0x0001));
  assertEquals(parse6("1:2:3:4:5:6:1.2.3.4"), v6(1, 2, 3, 4, 5, 6, 0x0102, 0x0304));
  assertEquals(parse6("::1.2.3.4"), v6(0, 0, 0, 0, 0, 0, 0x0102, 0x0304));
  assertEquals(
    parse6("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"),
    v6(0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff),
  );
  const out = new Uint8Array(20).fill(0xaa);
  assert(parseIPv6Into("::1", out, 2));
  assertEquals(out, new Uint8Array([0xaa, 0xaa, ...v6(0, 0, 0, 0, 0, 0, 0, 1), 0xaa, 0xaa]));
});

Deno.test("parseIPv6Into() rejects what is not an IPv6 address", () => {
  for (
    const s of [
      "",
      ":",
      ":::",
      "::::",
      "1",
      "1:2:3:4:5:6:7",
      "1:2:3:4:5:6:7:8:9",
      "1::2::3",
      "::1::",
      "1:2:3:4:5:6:7:8:",
      ":1:2:3:4:5:6:7:8",
      "1:2:3:4:5:6:7:8::",
      "::1:2:3:4:5:6:7:8",
      "1::2:",
      "1:",
      ":1",
      "1:::2",
      "12345::",
      "g::1",
      "2001:db8::-1",
      "::1 ",
      " ::1",
      "fe80::1%eth0",
      "1.2.3.4",
      "::ffff:1.2.3",
      "::ffff:1.2.3.4:5",
      "::ffff:1.2.3.4.5",
      "::ffff:01.2.3.4",
      "::ffff:256.2.3.4",
      "1:2:3:4:5:6:7:1.2.3.4",
      "1.2.3.4::",
      "[::1]",
      "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255x",
    ]
  ) {
    assertStrictEquals(parse6(s), undefined, `accepted ${show(s)}`);
  }
});

Deno.test("parseIPv6Into() writes nothing when the text is not an address", () => {
  const out = new Uint8Array(20).fill(0xaa);
  for (const s of ["1:2:3:4:5:6:7:8:9", "1::2::3", "::ffff:1.2.3", "1.2.3.4.5"]) {
    assert(!parseIPv6Into(s, out, 2), s);
    assert(!parseIPv4Into(s, out, 2), s);
  }
  assertEquals(out, new Uint8Array(20).fill(0xaa));
});

// ---------------------------------------------------------------------------------------------
// Options

Deno.test("parseIPv4() gives the address as a uint32, first octet most significant", () => {
  assertStrictEquals(parseIPv4("10.0.0.1"), 0x0a000001);
  assertStrictEquals(parseIPv4("0.0.0.0"), 0);
  assertStrictEquals(parseIPv4("255.255.255.255"), 0xffffffff);
  assertStrictEquals(parseIPv4("192.0.2.33"), 0xc0000221);
  assertStrictEquals(parseIPv4("10.0.0"), undefined);
  assertStrictEquals(parseIPv4("010.0.0.1"), undefined);
});

Deno.test("leadingZeros reads IPv4 octets with leading zeros as decimal, also in IPv6", () => {
  assertStrictEquals(parseIPv4("010.0.0.1", LENIENT), 0x0a000001);
  assertStrictEquals(parseIPv4("000.00.0.255", LENIENT), 0xff);
  // Still at most three digits and at most 255.
  assertStrictEquals(parseIPv4("0010.0.0.1", LENIENT), undefined);
  assertStrictEquals(parseIPv4("0256.0.0.1", LENIENT), undefined);
  assertStrictEquals(parseIPv4("10..0.1", LENIENT), undefined);
  const out = new Uint8Array(16);
  assert(!parseIPv6Into("::ffff:010.0.0.1", out, 0));
  assert(parseIPv6Into("::ffff:010.0.0.1", out, 0, LENIENT));
  assertStrictEquals(formatIPv6(out, 0), "::ffff:10.0.0.1");
  assertStrictEquals(canonicalIP("010.0.0.1"), undefined);
  assertStrictEquals(canonicalIP("010.0.0.1", LENIENT), "10.0.0.1");
});

Deno.test("ipv4Compatible ends ::a.b.c.d in a dotted quad, as inet_ntop does", () => {
  const cases: [Uint8Array, string, string][] = [
    [v6(0, 0, 0, 0, 0, 0, 0x0102, 0x0304), "::102:304", "::1.2.3.4"],
    [v6(0, 0, 0, 0, 0, 0, 0x0001, 0x0000), "::1:0", "::0.1.0.0"],
    // Only when the seventh group is not zero: ::1 and ::2 stay hex.
    [v6(0, 0, 0, 0, 0, 0, 0, 1), "::1", "::1"],
    [v6(0, 0, 0, 0, 0, 0, 0, 2), "::2", "::2"],
    [v6(0, 0, 0, 0, 0, 0, 0, 0), "::", "::"],
    [v6(0, 0, 0, 0, 0, 0xffff, 0x0102, 0x0304), "::ffff:1.2.3.4", "::ffff:1.2.3.4"],
    [v6(0, 0, 0, 0, 0, 0xfffe, 0x0102, 0x0304), "::fffe:102:304", "::fffe:102:304"],
    [v6(0x64, 0xff9b, 0, 0, 0, 0, 0x0102, 0x0304), "64:ff9b::102:304", "64:ff9b::102:304"],
  ];
  for (const [bytes, rfc5952, inetNtop] of cases) {
    assertStrictEquals(formatIPv6(bytes, 0), rfc5952);
    assertStrictEquals(formatIPv6(bytes, 0, { ipv4Compatible: true }), inetNtop);
  }
});

// ---------------------------------------------------------------------------------------------
// Parsed addresses

Deno.test("canonicalIP(): IPv4, IPv6 (RFC 5952) and IPv4-mapped addresses", () => {
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
    ["fd00:0001:0:0:0:0:0:0010", "fd00:1::10"],
    ["1:0:0:2:0:0:0:3", "1:0:0:2::3"],
    ["1:0:2:3:4:5:6:7", "1:0:2:3:4:5:6:7"],
    ["2001:DB8::", "2001:db8::"],
    ["::ffff:10.1.2.3", "10.1.2.3"],
    ["::ffff:a01:203", "10.1.2.3"],
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

Deno.test("parseIP() gives the family, the octets and the text", () => {
  assertEquals(parseIP("10.0.0.1"), {
    family: 4,
    bytes: new Uint8Array([10, 0, 0, 1]),
    text: "10.0.0.1",
  });
  assertEquals(parseIP("::FFFF:10.0.0.1"), {
    family: 4,
    bytes: new Uint8Array([10, 0, 0, 1]),
    text: "10.0.0.1",
  });
  assertEquals(parseIP("2001:DB8::1"), {
    family: 6,
    bytes: v6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1),
    text: "2001:db8::1",
  });
});

Deno.test("isIPv4Mapped() and formatIP()", () => {
  assert(isIPv4Mapped(v6(0, 0, 0, 0, 0, 0xffff, 0x0a00, 1), 0));
  assert(isIPv4Mapped(v6(0, 0, 0, 0, 0, 0xffff, 0, 0), 0));
  assert(!isIPv4Mapped(v6(0, 0, 0, 0, 0, 0, 0x0a00, 1), 0));
  assert(!isIPv4Mapped(v6(0, 0, 0, 0, 1, 0xffff, 0x0a00, 1), 0));
  assert(!isIPv4Mapped(v6(0x64, 0xff9b, 0, 0, 0, 0xffff, 0x0a00, 1), 0));
  const padded = new Uint8Array(18);
  padded.set(v6(0, 0, 0, 0, 0, 0xffff, 0x0a00, 1), 2);
  assert(isIPv4Mapped(padded, 2));
  assertStrictEquals(formatIP(new Uint8Array([192, 0, 2, 1])), "192.0.2.1");
  assertStrictEquals(formatIP(v6(0xfd00, 0, 0, 0, 0, 0, 0, 1)), "fd00::1");
});

Deno.test("garbage never throws: what is not a string is not an address", () => {
  const out = new Uint8Array(16);
  for (const v of [undefined, null, 42, 0x0a000001n, {}, ["10.0.0.1"], new Uint8Array(4)]) {
    const s = v as unknown as string;
    assertStrictEquals(parseIPv4(s), undefined, show(v));
    assertStrictEquals(parseIPv4Into(s, out, 0), false, show(v));
    assertStrictEquals(parseIPv6Into(s, out, 0), false, show(v));
    assertStrictEquals(parseIP(s), undefined, show(v));
    assertStrictEquals(canonicalIP(s), undefined, show(v));
  }
});
