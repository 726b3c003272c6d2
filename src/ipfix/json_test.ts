import {
  assert,
  assertEquals,
  assertStrictEquals,
  assertStringIncludes,
  assertThrows,
} from "../../tests/_assert.ts";
import { compileTemplate } from "./compile.ts";
import { MessageEncoder } from "./encoder.ts";
import {
  baseName,
  fromJsonValue,
  type JsonValue,
  parseRecordLine,
  recordToJson,
  toJsonValue,
} from "./json.ts";
import { defaultRegistry } from "./registry.ts";
import { type DataType, DEFAULT_LENGTH, VARIABLE_LENGTH } from "./types.ts";

const INTEGER_TYPES: DataType[] = [
  "unsigned8",
  "unsigned16",
  "unsigned32",
  "unsigned64",
  "unsigned256",
  "signed8",
  "signed16",
  "signed32",
  "signed64",
  "dateTimeSeconds",
  "dateTimeMilliseconds",
  "dateTimeMicroseconds",
];
const HEX_TYPES: DataType[] = [
  "octetArray",
  "basicList",
  "subTemplateList",
  "subTemplateMultiList",
];
const TEXT_TYPES: DataType[] = ["string", "ipv4Address", "ipv6Address", "macAddress"];

Deno.test("toJsonValue: integers, bigints, floats, bytes, strings and booleans", () => {
  assertEquals(toJsonValue(0), 0);
  assertEquals(toJsonValue(1500), 1500);
  assertEquals(toJsonValue(-42), -42);
  assertEquals(toJsonValue(Number.MAX_SAFE_INTEGER), 9007199254740991);
  assertEquals(toJsonValue(2n ** 53n), "9007199254740992");
  assertStrictEquals(toJsonValue(2n ** 53n - 1n), 9007199254740991);
  assertStrictEquals(toJsonValue(-(2n ** 53n - 1n)), -9007199254740991);
  assertEquals(toJsonValue(-(2n ** 53n)), "-9007199254740992");
  assertStrictEquals(toJsonValue(5n), 5, "a small nanosecond time is a number");
  assertStrictEquals(toJsonValue(0n), 0);
  assertEquals(toJsonValue(2n ** 64n - 1n), "18446744073709551615");
  assertEquals(toJsonValue(-(2n ** 63n)), "-9223372036854775808");
  assertEquals(toJsonValue(1700000000123456789n), "1700000000123456789");
  assertEquals(toJsonValue(0.25), 0.25);
  assertEquals(toJsonValue(NaN), "NaN");
  assertEquals(toJsonValue(Infinity), "Infinity");
  assertEquals(toJsonValue(-Infinity), "-Infinity");
  assertEquals(toJsonValue(new Uint8Array([0, 1, 0xab, 0xff])), "0001abff");
  assertEquals(toJsonValue(new Uint8Array(0)), "");
  assertEquals(toJsonValue("fd00::1"), "fd00::1");
  assertEquals(toJsonValue("ünïcødé 🚀"), "ünïcødé 🚀");
  assertEquals(toJsonValue(true), true);
  assertEquals(toJsonValue(false), false);
});

Deno.test("recordToJson keeps field order and survives JSON.stringify", () => {
  const json = recordToJson({
    octetDeltaCount: 2n ** 64n - 1n,
    packetDeltaCount: 3,
    samplingProbability: NaN,
    mplsTopLabelStackSection: new Uint8Array([1, 2]),
    sourceIPv6Address: "fd00::1",
    "octetDeltaCount[1]": 7,
  });
  assertEquals(Object.keys(json), [
    "octetDeltaCount",
    "packetDeltaCount",
    "samplingProbability",
    "mplsTopLabelStackSection",
    "sourceIPv6Address",
    "octetDeltaCount[1]",
  ]);
  assertEquals(
    JSON.stringify(json),
    '{"octetDeltaCount":"18446744073709551615","packetDeltaCount":3,"samplingProbability":"NaN",' +
      '"mplsTopLabelStackSection":"0102","sourceIPv6Address":"fd00::1","octetDeltaCount[1]":7}',
  );
});

Deno.test("baseName strips the [n] suffix of repeated elements", () => {
  assertEquals(baseName("octetDeltaCount"), "octetDeltaCount");
  assertEquals(baseName("octetDeltaCount[1]"), "octetDeltaCount");
  assertEquals(baseName("interfaceName[12]"), "interfaceName");
});

Deno.test("fromJsonValue: integer types take numbers and decimal strings, bigints above 2^53-1", () => {
  for (const type of INTEGER_TYPES) {
    assertEquals(fromJsonValue("f", type, 0), 0, type);
    assertEquals(fromJsonValue("f", type, 255), 255, type);
    assertEquals(fromJsonValue("f", type, -3), -3, type);
    assertEquals(fromJsonValue("f", type, "1500"), 1500, type);
    assertEquals(fromJsonValue("f", type, "9007199254740991"), 9007199254740991, type);
    assertEquals(fromJsonValue("f", type, "-9007199254740991"), -9007199254740991, type);
    assertEquals(fromJsonValue("f", type, "9007199254740992"), 9007199254740992n, type);
    assertEquals(fromJsonValue("f", type, "18446744073709551615"), 18446744073709551615n, type);
    assertEquals(fromJsonValue("f", type, "-9223372036854775808"), -9223372036854775808n, type);
  }
});

Deno.test("fromJsonValue: dateTimeNanoseconds is always a bigint", () => {
  assertEquals(
    fromJsonValue("f", "dateTimeNanoseconds", "1700000000123456789"),
    1700000000123456789n,
  );
  assertEquals(fromJsonValue("f", "dateTimeNanoseconds", 5), 5n);
  assertEquals(fromJsonValue("f", "dateTimeNanoseconds", "0"), 0n);
  assertThrows(
    () => fromJsonValue("f", "dateTimeNanoseconds", 1.5),
    TypeError,
    "expected an integer",
  );
});

Deno.test("fromJsonValue: integer types reject fractions, words, booleans and null by name", () => {
  const bad: JsonValue[] = [1.5, "1.5", "", " 1", "1e3", "0x10", "abc", "NaN", true, null];
  for (const type of [...INTEGER_TYPES, "dateTimeNanoseconds" as const]) {
    for (const v of bad) {
      const e = assertThrows(() => fromJsonValue("octetDeltaCount", type, v), TypeError);
      assertStringIncludes(e.message, "octetDeltaCount", `${type} ${JSON.stringify(v)}`);
      assertStringIncludes(e.message, "expected an integer");
      assertStringIncludes(e.message, JSON.stringify(v));
    }
  }
});

// JSON.parse has already rounded an integer number above 2^53-1 (9007199254740993 reads as
// 9007199254740992): accepting it would replay a different value than the line says.
Deno.test("fromJsonValue: integer numbers beyond 2^53-1 are rejected (they must be strings)", () => {
  const unsafe = JSON.parse("9007199254740993") as number;
  assertEquals(Number.isSafeInteger(unsafe), false);
  assertThrows(() => fromJsonValue("octetDeltaCount", "unsigned64", unsafe), TypeError);
  assertThrows(() => fromJsonValue("octetDeltaCount", "unsigned64", 2 ** 60), TypeError);
  assertThrows(
    () => fromJsonValue("flowStartNanoseconds", "dateTimeNanoseconds", 2 ** 62),
    TypeError,
  );
});

Deno.test("fromJsonValue: floats take numbers and the words NaN, Infinity, -Infinity", () => {
  for (const type of ["float32", "float64"] as const) {
    assertEquals(fromJsonValue("f", type, 0.1), 0.1);
    assertEquals(fromJsonValue("f", type, -2), -2);
    assertEquals(fromJsonValue("f", type, 1e300), 1e300);
    assertEquals(fromJsonValue("f", type, "NaN"), NaN);
    assertEquals(fromJsonValue("f", type, "Infinity"), Infinity);
    assertEquals(fromJsonValue("f", type, "-Infinity"), -Infinity);
    for (const v of ["0.1", "nan", "inf", "", true, null] as JsonValue[]) {
      const e = assertThrows(() => fromJsonValue("samplingProbability", type, v), TypeError);
      assertStringIncludes(e.message, "samplingProbability");
      assertStringIncludes(e.message, "expected a number");
    }
  }
});

// FLOAT_WORDS is a plain object, so `v in FLOAT_WORDS` is true for "constructor", "toString",
// "__proto__"…: fromJsonValue returns a function (or Object.prototype) as the value.
Deno.test("fromJsonValue: Object.prototype names are not float words", () => {
  for (const word of ["constructor", "toString", "__proto__", "hasOwnProperty", "valueOf"]) {
    assertThrows(
      () => fromJsonValue("samplingProbability", "float64", word),
      TypeError,
      "expected a number",
    );
  }
});

Deno.test("fromJsonValue: booleans are JSON booleans only", () => {
  assertEquals(fromJsonValue("f", "boolean", true), true);
  assertEquals(fromJsonValue("f", "boolean", false), false);
  for (const v of ["true", 1, 0, null] as JsonValue[]) {
    assertThrows(() => fromJsonValue("dataRecordsReliability", "boolean", v), TypeError, "boolean");
  }
});

Deno.test("fromJsonValue: strings, addresses and MAC addresses are JSON strings", () => {
  for (const type of TEXT_TYPES) {
    assertEquals(fromJsonValue("f", type, "x"), "x");
    assertEquals(fromJsonValue("f", type, ""), "");
    for (const v of [1, true, null] as JsonValue[]) {
      const e = assertThrows(() => fromJsonValue("sourceIPv4Address", type, v), TypeError);
      assertStringIncludes(e.message, "sourceIPv4Address");
      assertStringIncludes(e.message, "expected a string");
    }
  }
  assertEquals(fromJsonValue("interfaceName", "string", "ünïcødé 🚀"), "ünïcødé 🚀");
});

Deno.test("fromJsonValue: octetArray and the list types are hex octets", () => {
  for (const type of HEX_TYPES) {
    assertEquals(fromJsonValue("f", type, ""), new Uint8Array(0));
    assertEquals(fromJsonValue("f", type, "00ff10"), new Uint8Array([0, 255, 16]));
    assertEquals(fromJsonValue("f", type, "ABcd"), new Uint8Array([0xab, 0xcd]));
    for (const v of ["abc", "zz", "0x00", "00 ff"]) {
      const e = assertThrows(() => fromJsonValue("mplsTopLabelStackSection", type, v), TypeError);
      assertStringIncludes(e.message, "mplsTopLabelStackSection");
      assertStringIncludes(e.message, "hex octets");
      assert(e.cause instanceof SyntaxError, "the hex error is the cause");
    }
    for (const v of [12, true, null] as JsonValue[]) {
      assertThrows(() => fromJsonValue("f", type, v), TypeError, "expected hex octets");
    }
  }
});

Deno.test("toJsonValue and fromJsonValue round-trip every data type through JSON text", () => {
  const cases: [DataType, unknown][] = [
    ["unsigned8", 255],
    ["unsigned16", 65535],
    ["unsigned32", 4294967295],
    ["unsigned64", 2n ** 64n - 1n],
    ["unsigned64", 9007199254740991],
    ["signed8", -128],
    ["signed16", -32768],
    ["signed32", -2147483648],
    ["signed64", -(2n ** 63n)],
    ["float32", 0.5],
    ["float64", -1e-300],
    ["float64", NaN],
    ["float64", Infinity],
    ["float64", -Infinity],
    ["boolean", false],
    ["macAddress", "02:42:ac:11:00:02"],
    ["string", 'quote " backslash \\ newline \n ünïcødé 🚀 \u0000'],
    ["dateTimeSeconds", 1700000000],
    ["dateTimeMilliseconds", 1700000000123],
    ["dateTimeMicroseconds", 1700000000123456],
    ["dateTimeNanoseconds", 1700000000123456789n],
    ["ipv4Address", "10.244.1.2"],
    ["ipv6Address", "fd00:10:244::5"],
    ["octetArray", new Uint8Array([0xde, 0xad, 0xbe, 0xef])],
    ["basicList", new Uint8Array([0xff, 0, 4])],
  ];
  for (const [type, value] of cases) {
    const text = JSON.stringify(toJsonValue(value as never));
    const back = fromJsonValue("f", type, JSON.parse(text) as JsonValue);
    assertEquals(back, value, `${type} via ${text}`);
  }
});

Deno.test("parseRecordLine: header fields, typed values and elements in line order", () => {
  const line = JSON.stringify({
    exportTime: 1700000000,
    observationDomainId: 7,
    sequenceNumber: 4294967295,
    templateId: 256,
    exporter: "[fd00::1]:40000",
    record: {
      sourceIPv6Address: "fd00::1",
      octetDeltaCount: "18446744073709551615",
      packetDeltaCount: 3,
      "octetDeltaCount[1]": 5,
      reverseOctetDeltaCount: 9,
      sourcePodName: "pod-ü",
      flowStartNanoseconds: "1700000000123456789",
      "unknown:4242:7": "cafe",
    },
  });
  const { header, elements, names, record } = parseRecordLine(line, defaultRegistry);
  assertEquals(header, {
    exportTime: 1700000000,
    observationDomainId: 7,
    sequenceNumber: 4294967295,
    templateId: 256,
    exporter: "[fd00::1]:40000",
  });
  assertEquals(names, [
    "sourceIPv6Address",
    "octetDeltaCount",
    "packetDeltaCount",
    "octetDeltaCount[1]",
    "reverseOctetDeltaCount",
    "sourcePodName",
    "flowStartNanoseconds",
    "unknown:4242:7",
  ]);
  assertEquals(elements.map((e) => [e.name, e.enterpriseId, e.id]), [
    ["sourceIPv6Address", 0, 27],
    ["octetDeltaCount", 0, 1],
    ["packetDeltaCount", 0, 2],
    ["octetDeltaCount", 0, 1],
    ["reverseOctetDeltaCount", 29305, 1],
    ["sourcePodName", 56506, 101],
    ["flowStartNanoseconds", 0, 156],
    ["unknown:4242:7", 4242, 7],
  ]);
  assertEquals(record, {
    sourceIPv6Address: "fd00::1",
    octetDeltaCount: 18446744073709551615n,
    packetDeltaCount: 3,
    "octetDeltaCount[1]": 5,
    reverseOctetDeltaCount: 9,
    sourcePodName: "pod-ü",
    flowStartNanoseconds: 1700000000123456789n,
    "unknown:4242:7": new Uint8Array([0xca, 0xfe]),
  });
});

Deno.test("parseRecordLine: header fields are optional; a bare record is enough", () => {
  const { header, record } = parseRecordLine('{"record":{"octetDeltaCount":1}}', defaultRegistry);
  assertEquals(header, {});
  assertEquals(record, { octetDeltaCount: 1 });
});

Deno.test("parseRecordLine: garbage and truncated lines are SyntaxErrors", () => {
  const notJson = [
    "",
    "garbage",
    "\u0000\u0001\u0002",
    '{"record":{"octetDeltaCount":1',
    '{"record":{"octetDeltaCount":1}',
    '{"record":{"octetDeltaCount":',
    '{"record":{"octetDe',
    "{'record':{}}",
    '{"record":{"octetDeltaCount":1}}}',
  ];
  for (const line of notJson) {
    const e = assertThrows(
      () => parseRecordLine(line, defaultRegistry),
      SyntaxError,
      "Not valid JSON",
    );
    assert(e.cause instanceof SyntaxError, "the JSON error is the cause");
  }
  for (const line of ["null", "1", '"x"', "[]", '[{"record":{}}]']) {
    assertThrows(
      () => parseRecordLine(line, defaultRegistry),
      SyntaxError,
      "Expected a JSON object",
    );
  }
  for (const line of ["{}", '{"record":1}', '{"record":null}', '{"record":[1]}', '{"Record":{}}']) {
    assertThrows(
      () => parseRecordLine(line, defaultRegistry),
      SyntaxError,
      'Expected a "record" object',
    );
  }
  assertThrows(() => parseRecordLine('{"record":{}}', defaultRegistry), SyntaxError, "no fields");
});

Deno.test("parseRecordLine: bad fields are TypeErrors that name them", () => {
  for (
    const [record, message] of [
      ['{"octetCount":1}', 'Unknown information element "octetCount"'],
      ['{"__proto__":1}', 'Unknown information element "__proto__"'],
      ['{"octetDeltaCount":{"n":1}}', "octetDeltaCount: expected a JSON scalar"],
      ['{"octetDeltaCount":[1]}', "octetDeltaCount: expected a JSON scalar"],
      ['{"octetDeltaCount":"many"}', 'Invalid value "many" for octetDeltaCount'],
    ]
  ) {
    assertThrows(
      () => parseRecordLine(`{"record":${record}}`, defaultRegistry),
      TypeError,
      message,
    );
  }
  for (
    const [k, v] of [
      ["observationDomainId", "-1"],
      ["observationDomainId", "4294967296"],
      ["sequenceNumber", "1.5"],
      ["templateId", '"256"'],
      ["exportTime", "null"],
    ]
  ) {
    const e = assertThrows(
      () => parseRecordLine(`{"${k}":${v},"record":{"octetDeltaCount":1}}`, defaultRegistry),
      TypeError,
      `Invalid ${k}`,
    );
    assertStringIncludes(e.message, "unsigned 32-bit integer");
  }
});

Deno.test("parseRecordLine: an oversized line parses, and its record is refused by the encoder", () => {
  const big = "x".repeat(200_000);
  const { elements, names, record } = parseRecordLine(
    JSON.stringify({ record: { interfaceName: big, octetDeltaCount: 1 } }),
    defaultRegistry,
  );
  assertEquals((record.interfaceName as string).length, 200_000);
  const t = compileTemplate({
    id: 256,
    scopeFieldCount: 0,
    fields: elements.map((element) => ({
      element,
      length: DEFAULT_LENGTH[element.type] ?? VARIABLE_LENGTH,
    })),
  });
  assertEquals(t.names, names);
  const enc = new MessageEncoder({ observationDomainId: 1 });
  assertThrows(() => enc.addRecord(t, record), RangeError, "does not fit a message");
  assertEquals(enc.pending, false);
  // Just over a message: 65535 - 16 (message header) - 4 (set header) - 3 (length) - 8 + 1.
  const justOver = { interfaceName: "y".repeat(65535 - 16 - 4 - 3 - 8 + 1), octetDeltaCount: 1 };
  assertThrows(() => enc.addRecord(t, justOver), RangeError, "does not fit a message");
  const fits = { interfaceName: "y".repeat(65535 - 16 - 4 - 3 - 8), octetDeltaCount: 1 };
  enc.addRecord(t, fits);
  const [msg] = enc.flush();
  assertEquals(msg?.bytes.length, 65535);
});
