import { assertEquals, assertThrows } from "../../tests/_assert.ts";
import {
  formatFlowRecordQuery,
  MAX_PARAMETER_LENGTH,
  MAX_QUERY_LENGTH,
  parseFlowRecordQuery,
  QueryParameterError,
} from "./flow_record_query.ts";

function refused(query: string, parameter: string | undefined, message: RegExp): void {
  const e = assertThrows(() => parseFlowRecordQuery(query), QueryParameterError);
  assertEquals(e.parameter, parameter, `parameter of ${query}`);
  if (!message.test(e.message)) throw new Error(`${query}: message ${e.message} !~ ${message}`);
}

Deno.test("parseFlowRecordQuery: every parameter, canonical values", () => {
  assertEquals(parseFlowRecordQuery(""), {});
  assertEquals(parseFlowRecordQuery("?"), {});
  assertEquals(
    parseFlowRecordQuery("?srcip=10.0.0.1&dstip=FD00:0:0::A&proto=6&srcport=0&dstport=65535"),
    { srcip: "10.0.0.1", dstip: "fd00::a", proto: 6, srcport: 0, dstport: 65535 },
  );
  // An IPv4-mapped IPv6 address is the IPv4 address.
  assertEquals(parseFlowRecordQuery("srcip=::ffff:10.1.2.3"), { srcip: "10.1.2.3" });
  // Percent-encoded text is decoded before parsing.
  assertEquals(parseFlowRecordQuery("dstip=fd00%3A%3A1"), { dstip: "fd00::1" });
});

Deno.test("parseFlowRecordQuery: protocol names and numbers", () => {
  const cases: [string, number][] = [
    ["tcp", 6],
    ["TCP", 6],
    ["udp", 17],
    ["sctp", 132],
    ["icmp", 1],
    ["icmpv6", 58],
    ["IcmpV6", 58],
    ["0", 0],
    ["255", 255],
    ["006", 6],
  ];
  for (const [text, n] of cases) assertEquals(parseFlowRecordQuery(`proto=${text}`), { proto: n });
});

Deno.test("parseFlowRecordQuery: empty values count as not given", () => {
  assertEquals(parseFlowRecordQuery("srcip=&proto=&dstport=80"), { dstport: 80 });
  assertEquals(parseFlowRecordQuery("srcip=&srcip=10.0.0.1"), { srcip: "10.0.0.1" });
});

Deno.test("parseFlowRecordQuery: repeats with the same meaning are fine, others refused", () => {
  assertEquals(parseFlowRecordQuery("proto=6&proto=tcp"), { proto: 6 });
  assertEquals(parseFlowRecordQuery("dstip=fd00::1&dstip=FD00:0::1"), { dstip: "fd00::1" });
  refused("proto=6&proto=udp", "proto", /given twice with different values: "6" and "17"/);
  refused("srcip=10.0.0.1&srcip=10.0.0.2", "srcip", /given twice/);
  refused("dstport=1&dstport=2", "dstport", /given twice/);
});

Deno.test("parseFlowRecordQuery: bad values name their parameter", () => {
  refused("srcip=10.0.0", "srcip", /^Invalid srcip "10\.0\.0": expected an IPv4 or IPv6 address$/);
  refused("srcip=010.0.0.1", "srcip", /Invalid srcip/);
  refused("dstip=fe80::1%25eth0", "dstip", /Invalid dstip "fe80::1%eth0"/);
  refused("dstip=[::1]", "dstip", /Invalid dstip/);
  refused("dstip=10.0.0.1/24", "dstip", /Invalid dstip/);
  refused("proto=256", "proto", /Invalid proto "256": expected a protocol number, .* 0 to 255/);
  refused("proto=-1", "proto", /Invalid proto/);
  refused("proto=http", "proto", /or one of icmp, tcp, udp, icmpv6, sctp/);
  refused("proto=__proto__", "proto", /Invalid proto/);
  refused("proto=6.0", "proto", /Invalid proto/);
  refused("srcport=65536", "srcport", /Invalid srcport "65536": expected a port, .* 0 to 65535/);
  refused("srcport=-1", "srcport", /Invalid srcport/);
  refused("dstport=1e3", "dstport", /Invalid dstport/);
  refused("dstport=0x50", "dstport", /Invalid dstport/);
  refused("dstport=%2B80", "dstport", /Invalid dstport "\+80"/);
  refused("dstport=80%20", "dstport", /Invalid dstport/);
  refused("dstport=000000080", "dstport", /Invalid dstport/);
});

Deno.test("parseFlowRecordQuery: unknown parameters are refused by name", () => {
  refused("srcip=10.0.0.1&limit=5", "limit", /^Unknown query parameter "limit": expected one of/);
  refused("SRCIP=10.0.0.1", "SRCIP", /Unknown query parameter "SRCIP"/);
  refused("=5", "", /Unknown query parameter ""/);
  // A long name is cut in the message.
  const name = "x".repeat(1000);
  const e = assertThrows(() => parseFlowRecordQuery(`${name}=1`), QueryParameterError);
  assertEquals(e.message.length < 200, true, e.message);
});

Deno.test("parseFlowRecordQuery: garbage and oversized input", () => {
  const long = "1".repeat(MAX_PARAMETER_LENGTH + 1);
  refused(`srcip=${long}`, "srcip", /Parameter srcip is 257 characters long, more than 256/);
  // A value at the limit is parsed (and refused for what it is, not for its length).
  refused(`srcport=${"1".repeat(MAX_PARAMETER_LENGTH)}`, "srcport", /Invalid srcport/);
  refused(`dstport=1&${"a=b&".repeat(MAX_QUERY_LENGTH / 4)}`, undefined, /more than 4096/);
  // Bad percent-encoding stays literal, then fails to parse.
  refused("srcip=%zz%", "srcip", /Invalid srcip "%zz%"/);
  refused("srcip=%00", "srcip", /Invalid srcip/);
  refused("proto=%F0%9F%92%A5", "proto", /Invalid proto "💥"/);
});

Deno.test("formatFlowRecordQuery: parse gives the filter back", () => {
  const filter = { srcip: "10.0.0.1", dstip: "fd00::a", proto: 17, srcport: 0, dstport: 53 };
  const text = formatFlowRecordQuery(filter);
  assertEquals(text, "srcip=10.0.0.1&dstip=fd00%3A%3Aa&proto=17&srcport=0&dstport=53");
  assertEquals(parseFlowRecordQuery(text), filter);
  assertEquals(formatFlowRecordQuery({}), "");
});
