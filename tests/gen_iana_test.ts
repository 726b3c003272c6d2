import { assertEquals, assertThrows } from "./_assert.ts";
import { generateIana, IANA_CSV_HEADER as HEADER } from "../tasks/gen_iana.ts";
import { IANA_ELEMENTS } from "../src/ipfix/iana.generated.ts";

const CSV = new URL("../src/ipfix/data/iana_elements.csv", import.meta.url);
const GENERATED = new URL("../src/ipfix/iana.generated.ts", import.meta.url);

Deno.test("gen:iana: the committed iana.generated.ts is what the committed CSV makes", async () => {
  const { source, count } = generateIana(await Deno.readTextFile(CSV));
  assertEquals(source, await Deno.readTextFile(GENERATED), "run deno task gen:iana");
  assertEquals(count, IANA_ELEMENTS.length);
});

Deno.test("gen:iana: rows become [ID, name, type, semantics]; blank lines are ignored", () => {
  const { source, count } = generateIana(
    `${HEADER}\n1,octetDeltaCount,unsigned64,deltaCounter,current,octets\n\n` +
      `8,sourceIPv4Address,ipv4Address,default,current,\n`,
  );
  assertEquals(count, 2);
  assertEquals(
    source.split("\n").filter((l) => l.startsWith("  [")),
    [
      '  [1, "octetDeltaCount", "unsigned64", "deltaCounter"],',
      '  [8, "sourceIPv4Address", "ipv4Address", "default"],',
    ],
  );
});

Deno.test("gen:iana: a bad CSV is refused with the line at fault", () => {
  const row = "1,octetDeltaCount,unsigned64,deltaCounter,current,octets";
  const cases: [string, string][] = [
    ["", "Line 1: unexpected CSV header"],
    ["garbage\x00\xff", "Line 1: unexpected CSV header"],
    [`${HEADER}\n${row}\n${row}`, 'Line 3: invalid or unordered element ID "1"'],
    [`${HEADER}\n0x10,a,unsigned8,default,,`, 'Line 2: invalid or unordered element ID "0x10"'],
    [`${HEADER}\n40000,a,unsigned8,default,,`, 'Line 2: invalid or unordered element ID "40000"'],
    [`${HEADER}\n,a,unsigned8,default,,`, 'Line 2: invalid or unordered element ID ""'],
    [`${HEADER}\n5,a-b,unsigned8,default,,`, 'Line 2: invalid name "a-b"'],
    [`${HEADER}\n5`, 'Line 2: invalid name ""'],
    [`${HEADER}\n5,abc,unsigned128,default,,`, 'Line 2: invalid data type "unsigned128"'],
    [`${HEADER}\n5,abc`, 'Line 2: invalid data type ""'],
    // Blank lines count: the line number is the one an editor shows.
    [`${HEADER}\n\n${row}\n\n5,abc,unsigned128,,,`, 'Line 5: invalid data type "unsigned128"'],
  ];
  for (const [csv, message] of cases) {
    assertThrows(() => generateIana(csv), SyntaxError, message, JSON.stringify(csv));
  }
  // Truncated anywhere: either a valid prefix or an error naming a line, never anything else.
  const text = `${HEADER}\n${row}\n8,sourceIPv4Address,ipv4Address,default,current,\n`;
  for (let n = 0; n < text.length; n++) {
    try {
      generateIana(text.slice(0, n));
    } catch (e) {
      assertEquals(e instanceof SyntaxError && /^Line \d+: /.test(e.message), true, String(e));
    }
  }
});
