import { assertEquals, assertStringIncludes, assertThrows, show } from "../../tests/_assert.ts";
import { formatHostPort, parseAddress, type Protocol } from "./address.ts";
import { IPFIX_PORT } from "./types.ts";

/** Each `[text, default protocol, expected host, port, protocol]` parses as expected. */
function assertParses(cases: [string, Protocol | undefined, string, number, Protocol][]): void {
  for (const [text, defaultProtocol, host, port, protocol] of cases) {
    assertEquals(parseAddress(text, defaultProtocol), { host, port, protocol }, show(text));
  }
}

Deno.test("parseAddress: host alone gets port 4739 and the caller's default protocol", () => {
  assertEquals(IPFIX_PORT, 4739);
  assertParses([
    ["collector.example", undefined, "collector.example", 4739, "tls"],
    ["10.0.0.1", "tcp", "10.0.0.1", 4739, "tcp"],
    ["10.0.0.1", "udp", "10.0.0.1", 4739, "udp"],
  ]);
});

Deno.test("parseAddress: HOST:PORT, HOST::PROTO and HOST:PORT:PROTO", () => {
  assertParses([
    ["10.0.0.1:4740", "tcp", "10.0.0.1", 4740, "tcp"],
    ["10.0.0.1::udp", "tls", "10.0.0.1", 4739, "udp"],
    ["localhost:0:tcp", undefined, "localhost", 0, "tcp"],
    ["localhost:65535:tls", "udp", "localhost", 65535, "tls"],
    // Protocol names are case-insensitive; surrounding blanks are ignored.
    ["  agg.flowvis.svc:4739:UDP \n", undefined, "agg.flowvis.svc", 4739, "udp"],
    // HOST: with an empty port and protocol is the host alone.
    ["10.0.0.1:", "tcp", "10.0.0.1", 4739, "tcp"],
  ]);
});

Deno.test("parseAddress: IPv6 hosts in brackets", () => {
  assertParses([
    ["[::1]:4740:udp", undefined, "::1", 4740, "udp"],
    ["[fd00::1]", undefined, "fd00::1", 4739, "tls"],
    ["[fd00::1]:", "tcp", "fd00::1", 4739, "tcp"],
    ["[fd00::1]::tcp", undefined, "fd00::1", 4739, "tcp"],
    ["[2001:db8:0:1::a]:9995", "udp", "2001:db8:0:1::a", 9995, "udp"],
    ["[::ffff:10.0.0.1]:4739:tcp", undefined, "::ffff:10.0.0.1", 4739, "tcp"],
  ]);
});

Deno.test("parseAddress: malformed brackets are TypeErrors that say what is wrong", () => {
  assertThrows(() => parseAddress("[fd00::1:4739"), TypeError, 'missing "]"');
  assertThrows(() => parseAddress("[fd00::1]4739"), TypeError, 'expected ":" after "]"');
  assertThrows(() => parseAddress("[]:4739"), TypeError, "the host is empty");
  assertThrows(() => parseAddress("[::1]:4739:tcp:x"), TypeError, 'too many ":" parts');
});

Deno.test("parseAddress: a bare IPv6 address with many groups is rejected with a hint", () => {
  const e = assertThrows(() => parseAddress("fd00:10:244::5"), TypeError, "brackets");
  assertStringIncludes(e.message, "[fd00:10:244::5]:4739:tcp");
  assertThrows(() => parseAddress("2001:db8::1:4739"), TypeError, "brackets");
  assertThrows(() => parseAddress("fe80::1:2:3:4"), TypeError, "brackets");
});

// `::1` and `fd00::1` split into three ":" parts, like HOST:PORT:PROTO, so they fail with
// "the host is empty" and 'protocol "1" is not tls, tcp or udp' instead of the hint.
Deno.test("parseAddress: short bare IPv6 addresses (::1, fd00::1) also get the bracket hint", () => {
  assertThrows(() => parseAddress("::1"), TypeError, "brackets");
  assertThrows(() => parseAddress("fd00::1"), TypeError, "brackets");
  assertThrows(() => parseAddress("fd00::1", "udp"), TypeError, "brackets");
});

Deno.test("parseAddress: bad ports are TypeErrors naming the port", () => {
  for (const port of ["65536", "99999", "123456", "-1", "abc", "47 39", "4739x", "0x10", "1e3"]) {
    const e = assertThrows(() => parseAddress(`10.0.0.1:${port}:tcp`), TypeError, `"${port}"`);
    assertStringIncludes(e.message, "0–65535");
    assertEquals(e.message.startsWith("Invalid address"), true, e.message);
  }
});

Deno.test("parseAddress: unknown protocols are TypeErrors naming the protocol", () => {
  for (const proto of ["sctp", "http", "dtls", "t cp"]) {
    const e = assertThrows(
      () => parseAddress(`10.0.0.1:4739:${proto}`),
      TypeError,
      `protocol "${proto}"`,
    );
    assertStringIncludes(e.message, "tls, tcp or udp");
  }
});

Deno.test("parseAddress: an empty host is rejected", () => {
  assertThrows(() => parseAddress(""), TypeError, "the host is empty");
  assertThrows(() => parseAddress("   "), TypeError, "the host is empty");
  assertThrows(() => parseAddress(":4739:tcp"), TypeError, "the host is empty");
});

Deno.test("formatHostPort puts IPv6 hosts in brackets and round-trips with parseAddress", () => {
  assertEquals(formatHostPort("10.0.0.1", 4739), "10.0.0.1:4739");
  assertEquals(formatHostPort("::1", 4740), "[::1]:4740");
  assertEquals(formatHostPort("localhost", 0), "localhost:0");
  for (const host of ["10.0.0.1", "::1", "fd00:10:244::5", "collector.example"]) {
    for (const protocol of ["tls", "tcp", "udp"] as const) {
      const text = `${formatHostPort(host, 12345)}:${protocol}`;
      assertEquals(parseAddress(text), { host, port: 12345, protocol });
    }
  }
});
