import { Rng } from "../random/mod.ts";
import {
  assert,
  assertEquals,
  assertStrictEquals,
  assertThrows,
  show,
} from "../../tests/_assert.ts";
import { hex } from "./_test_util.ts";
import { MalformedError } from "./errors.ts";
import {
  decodeBoolean,
  decodeString,
  encodeString,
  formatMac,
  fromHex,
  parseMacInto,
  readI64,
  readMicros,
  readNanos,
  readSigned,
  readU64,
  readUnsigned,
  toHex,
  utf8Length,
  writeMicros,
  writeNanos,
  writeSigned,
  writeUnsigned,
} from "./values.ts";

const MAX_SAFE = Number.MAX_SAFE_INTEGER; // 2^53 − 1

function dvOf(u8: Uint8Array): DataView {
  return new DataView(u8.buffer, u8.byteOffset, u8.byteLength);
}

function parseMac(s: string): Uint8Array | undefined {
  const out = new Uint8Array(6);
  return parseMacInto(s, out, 0) ? out : undefined;
}

// ---------------------------------------------------------------------------------------------
// MAC addresses

Deno.test("formatMac() and parseMacInto() handle six octets", () => {
  assertStrictEquals(formatMac(hex("0011 22aa bbff"), 0), "00:11:22:aa:bb:ff");
  assertStrictEquals(formatMac(hex("ff 000000000000"), 1), "00:00:00:00:00:00");
  assertEquals(parseMac("00:11:22:aa:bb:ff"), hex("001122aabbff"));
  assertEquals(parseMac("00:11:22:AA:BB:FF"), hex("001122aabbff"));
  assertEquals(parseMac("02-42-ac-11-00-02"), hex("0242ac110002"));
  const rng = new Rng(7);
  for (let i = 0; i < 1000; i++) {
    const b = rng.bytes(6);
    assertEquals(parseMac(formatMac(b, 0)), b);
  }
  for (
    const s of [
      "",
      "00:11:22:33:44",
      "00:11:22:33:44:55:66",
      "0:11:22:33:44:55",
      "001122334455",
      "00:11:22:33:44:gg",
      "00:11:22:33:44:55 ",
      "00.11.22.33.44.55",
      "00:11:22:33:44:555",
    ]
  ) {
    assertStrictEquals(parseMac(s), undefined, `accepted ${show(s)}`);
  }
});

// ---------------------------------------------------------------------------------------------
// Integers

/** The unsigned value of `len` octets as a bigint. */
function refUnsigned(b: Uint8Array, o: number, len: number): bigint {
  let v = 0n;
  for (let i = 0; i < len; i++) v = (v << 8n) | BigInt(b[o + i]!);
  return v;
}

/** The value as readUnsigned and friends return it: a number when safe, else a bigint. */
function asValue(v: bigint): number | bigint {
  return v >= -BigInt(MAX_SAFE) && v <= BigInt(MAX_SAFE) ? Number(v) : v;
}

Deno.test("readUnsigned() reads every reduced size from 1 to 8 octets", () => {
  for (let len = 1; len <= 8; len++) {
    const max = (1n << BigInt(8 * len)) - 1n;
    const ones = new Uint8Array(len).fill(0xff);
    assertStrictEquals(readUnsigned(ones, 0, len), asValue(max), `max of ${len}`);
    assertStrictEquals(readUnsigned(new Uint8Array(len), 0, len), 0, `zero of ${len}`);
    const one = new Uint8Array(len);
    one[len - 1] = 1;
    assertStrictEquals(readUnsigned(one, 0, len), 1);
    const top = new Uint8Array(len);
    top[0] = 0x80;
    assertStrictEquals(readUnsigned(top, 0, len), asValue(1n << BigInt(8 * len - 1)));
  }
  // Numbers up to 2^53 − 1, bigints above, in 7 and 8 octets.
  assertStrictEquals(readUnsigned(hex("1fffffffffffff"), 0, 7), MAX_SAFE);
  assertStrictEquals(readUnsigned(hex("20000000000000"), 0, 7), 9007199254740992n);
  assertStrictEquals(readUnsigned(hex("001fffffffffffff"), 0, 8), MAX_SAFE);
  assertStrictEquals(readUnsigned(hex("0020000000000000"), 0, 8), 9007199254740992n);
  assertStrictEquals(readUnsigned(hex("ffffffffffffffff"), 0, 8), 18446744073709551615n);
  assertStrictEquals(readUnsigned(hex("ff ffffffffffff ff"), 1, 6), 281474976710655);
  const rng = new Rng(8);
  for (let i = 0; i < 20000; i++) {
    const len = rng.range(1, 8);
    const b = rng.bytes(len + 3);
    if (rng.chance(0.3)) b[1] = rng.pick([0, 0x1f, 0x20]);
    assertStrictEquals(readUnsigned(b, 1, len), asValue(refUnsigned(b, 1, len)), toHex(b));
  }
});

Deno.test("readSigned() sign-extends every reduced size from 1 to 8 octets", () => {
  for (let len = 1; len <= 8; len++) {
    const bits = BigInt(8 * len);
    assertStrictEquals(readSigned(new Uint8Array(len).fill(0xff), 0, len), -1, `-1 in ${len}`);
    const min = new Uint8Array(len);
    min[0] = 0x80;
    assertStrictEquals(readSigned(min, 0, len), asValue(-(1n << (bits - 1n))), `min of ${len}`);
    const max = new Uint8Array(len).fill(0xff);
    max[0] = 0x7f;
    assertStrictEquals(readSigned(max, 0, len), asValue((1n << (bits - 1n)) - 1n), `max ${len}`);
    assertStrictEquals(readSigned(new Uint8Array(len), 0, len), 0);
  }
  assertStrictEquals(readSigned(hex("fe"), 0, 1), -2);
  assertStrictEquals(readSigned(hex("ff38"), 0, 2), -200);
  assertStrictEquals(readSigned(hex("fffe1dc0"), 0, 4), -123456);
  assertStrictEquals(readSigned(hex("ffffff"), 0, 3), -1);
  assertStrictEquals(readSigned(hex("800000"), 0, 3), -8388608);
  // ±(2^53 − 1) are numbers, beyond are bigints.
  assertStrictEquals(readSigned(hex("e0000000000001"), 0, 7), -MAX_SAFE);
  assertStrictEquals(readSigned(hex("e0000000000000"), 0, 7), -9007199254740992n);
  assertStrictEquals(readSigned(hex("1fffffffffffff"), 0, 7), MAX_SAFE);
  assertStrictEquals(readSigned(hex("20000000000000"), 0, 7), 9007199254740992n);
  assertStrictEquals(readSigned(hex("ffe0000000000001"), 0, 8), -MAX_SAFE);
  assertStrictEquals(readSigned(hex("ffe0000000000000"), 0, 8), -9007199254740992n);
  assertStrictEquals(readSigned(hex("8000000000000000"), 0, 8), -9223372036854775808n);
  assertStrictEquals(readSigned(hex("7fffffffffffffff"), 0, 8), 9223372036854775807n);
  const rng = new Rng(9);
  for (let i = 0; i < 20000; i++) {
    const len = rng.range(1, 8);
    const b = rng.bytes(len + 2);
    if (rng.chance(0.3)) b[2] = rng.pick([0, 0xff, 0x1f, 0xe0, 0x20, 0xdf]);
    const want = BigInt.asIntN(8 * len, refUnsigned(b, 2, len));
    assertStrictEquals(readSigned(b, 2, len), asValue(want), toHex(b));
  }
});

Deno.test("readU64() and readI64() switch to bigint beyond 2^53 − 1", () => {
  const u = (h: string) => readU64(dvOf(hex(h)), 0);
  const i = (h: string) => readI64(dvOf(hex(h)), 0);
  assertStrictEquals(u("0000000000000000"), 0);
  assertStrictEquals(u("00000000ffffffff"), 4294967295);
  assertStrictEquals(u("0000000100000000"), 4294967296);
  assertStrictEquals(u("001fffffffffffff"), MAX_SAFE);
  assertStrictEquals(u("0020000000000000"), 9007199254740992n);
  assertStrictEquals(u("0020000000000001"), 9007199254740993n);
  assertStrictEquals(u("ffffffffffffffff"), 18446744073709551615n);
  assertStrictEquals(i("0000000000000000"), 0);
  assertStrictEquals(i("ffffffffffffffff"), -1);
  assertStrictEquals(i("ffffffff00000000"), -4294967296);
  assertStrictEquals(i("001fffffffffffff"), MAX_SAFE);
  assertStrictEquals(i("0020000000000000"), 9007199254740992n);
  assertStrictEquals(i("ffe0000000000001"), -MAX_SAFE);
  assertStrictEquals(i("ffe0000000000000"), -9007199254740992n);
  assertStrictEquals(i("ffdfffffffffffff"), -9007199254740993n);
  assertStrictEquals(i("7fffffffffffffff"), 9223372036854775807n);
  assertStrictEquals(i("8000000000000000"), -9223372036854775808n);
  const rng = new Rng(10);
  const buf = new Uint8Array(8);
  for (let k = 0; k < 20000; k++) {
    buf.set(rng.bytes(8));
    if (rng.chance(0.5)) buf[0] = rng.pick([0, 0xff]);
    if (rng.chance(0.5)) buf[1] = rng.pick([0x1f, 0x20, 0xe0, 0xdf]);
    const ref = refUnsigned(buf, 0, 8);
    assertStrictEquals(readU64(dvOf(buf), 0), asValue(ref));
    assertStrictEquals(readI64(dvOf(buf), 0), asValue(BigInt.asIntN(64, ref)));
  }
});

Deno.test("writeUnsigned() and writeSigned() round trip every size", () => {
  const rng = new Rng(11);
  for (let len = 1; len <= 8; len++) {
    const bits = 8 * len;
    const b = new Uint8Array(len);
    const maxU = (1n << BigInt(bits)) - 1n;
    for (const v of [0n, 1n, maxU, maxU - 1n, rng.bigint(bits), rng.bigint(bits)]) {
      writeUnsigned(b, 0, v, len);
      assertStrictEquals(readUnsigned(b, 0, len), asValue(v));
      if (v <= BigInt(MAX_SAFE)) {
        b.fill(0);
        writeUnsigned(b, 0, Number(v), len);
        assertStrictEquals(readUnsigned(b, 0, len), Number(v));
      }
      const s = BigInt.asIntN(bits, v);
      writeSigned(b, 0, s, len);
      assertStrictEquals(readSigned(b, 0, len), asValue(s));
      if (s >= -BigInt(MAX_SAFE) && s <= BigInt(MAX_SAFE)) {
        b.fill(0);
        writeSigned(b, 0, Number(s), len);
        assertStrictEquals(readSigned(b, 0, len), Number(s));
      }
    }
    assertThrows(() => writeUnsigned(b, 0, maxU + 1n, len), TypeError);
    assertThrows(() => writeUnsigned(b, 0, -1, len), TypeError);
    assertThrows(() => writeUnsigned(b, 0, -1n, len), TypeError);
    assertThrows(() => writeUnsigned(b, 0, 0.5, len), TypeError);
    assertThrows(() => writeUnsigned(b, 0, NaN, len), TypeError);
    assertThrows(() => writeSigned(b, 0, 1n << BigInt(bits - 1), len), TypeError);
    assertThrows(() => writeSigned(b, 0, -(1n << BigInt(bits - 1)) - 1n, len), TypeError);
    assertThrows(() => writeSigned(b, 0, 1.5, len), TypeError);
  }
  const b = new Uint8Array(8);
  writeUnsigned(b, 0, 2 ** 53, 8); // an unsafe number that is still exact
  assertEquals(b, hex("0020000000000000"));
  writeSigned(b, 0, -1, 8);
  assertEquals(b, hex("ffffffffffffffff"));
  writeSigned(b, 0, -9223372036854775808n, 8);
  assertEquals(b, hex("8000000000000000"));
  assertThrows(() => writeUnsigned(b, 0, 256, 1), TypeError, "256");
  assertThrows(() => writeSigned(b, 0, 128, 1), TypeError, "128");
  assertThrows(() => writeSigned(b, 0, -129, 1), TypeError, "-129");
});

// ---------------------------------------------------------------------------------------------
// NTP timestamps

/** Unix seconds of the NTP era 1 start (2036-02-07T06:28:16Z). */
const ERA1_UNIX = 2 ** 32 - 2208988800;
/** The timestamps readMicros and readNanos return: from 1968-01-20T03:14:08Z … */
const NTP_MIN_UNIX = 2 ** 31 - 2208988800;
/** … to 2104-02-26T09:42:23Z. */
const NTP_MAX_UNIX = 2 ** 32 + 2 ** 31 - 1 - 2208988800;

function micros(us: number): number {
  const b = new Uint8Array(8);
  writeMicros(dvOf(b), 0, us);
  return readMicros(dvOf(b), 0);
}

function nanos(ns: bigint | number): bigint {
  const b = new Uint8Array(8);
  writeNanos(dvOf(b), 0, ns);
  return readNanos(dvOf(b), 0);
}

Deno.test("writeMicros() writes NTP timestamps of RFC 7011 §6.1.9", () => {
  const b = new Uint8Array(8);
  writeMicros(dvOf(b), 0, 0);
  assertEquals(b, hex("83aa7e80 00000000")); // 1970 is 2208988800 s after 1900
  writeMicros(dvOf(b), 0, 500_000);
  assertEquals(b, hex("83aa7e80 80000000"));
  writeMicros(dvOf(b), 0, 1_700_000_000_000_000);
  assertEquals(b, hex("e8fe6f80 00000000"));
  writeMicros(dvOf(b), 0, ERA1_UNIX * 1e6);
  assertEquals(b, hex("00000000 00000000"));
  assertStrictEquals(readMicros(dvOf(hex("83aa7e80 00000000")), 0), 0);
  assertStrictEquals(readMicros(dvOf(hex("83aa7e80 80000000")), 0), 500_000);
  assertStrictEquals(readMicros(dvOf(hex("83aa7e80 ffffffff")), 0), 999_999);
  assertStrictEquals(readMicros(dvOf(hex("00000000 00000000")), 0), ERA1_UNIX * 1e6);
  assertStrictEquals(readMicros(dvOf(hex("7fffffff 00000000")), 0), NTP_MAX_UNIX * 1e6);
  assertStrictEquals(readMicros(dvOf(hex("80000000 00000000")), 0), NTP_MIN_UNIX * 1e6);
  assertStrictEquals(readNanos(dvOf(hex("83aa7e80 00000001")), 0), 0n);
  assertStrictEquals(readNanos(dvOf(hex("83aa7e80 00000005")), 0), 1n);
  assertStrictEquals(readNanos(dvOf(hex("83aa7e80 ffffffff")), 0), 999_999_999n);
  assertStrictEquals(readNanos(dvOf(hex("00000000 00000000")), 0), BigInt(ERA1_UNIX) * 10n ** 9n);
});

Deno.test("writeMicros() then readMicros() gives back the exact value", () => {
  for (let us = 0; us <= 5000; us++) assertStrictEquals(micros(us), us);
  for (let us = 999_000; us <= 1_001_000; us++) assertStrictEquals(micros(us), us);
  for (let us = -2000; us < 0; us++) assertStrictEquals(micros(us), us);
  for (
    const us of [
      NTP_MIN_UNIX * 1e6,
      NTP_MIN_UNIX * 1e6 + 1,
      ERA1_UNIX * 1e6 - 1,
      ERA1_UNIX * 1e6,
      ERA1_UNIX * 1e6 + 1,
      NTP_MAX_UNIX * 1e6 + 999_999,
    ]
  ) {
    assertStrictEquals(micros(us), us);
  }
  const rng = new Rng(12);
  const span = (NTP_MAX_UNIX - NTP_MIN_UNIX) * 1e6;
  for (let i = 0; i < 100_000; i++) {
    const us = i % 2 === 0
      ? NTP_MIN_UNIX * 1e6 + rng.int(span)
      : 1_600_000_000_000_000 + rng.int(400_000_000_000_000);
    assertStrictEquals(micros(us), us);
  }
  assertThrows(() => micros(1.5), TypeError);
  assertThrows(() => micros(NaN), TypeError);
});

Deno.test("writeNanos() then readNanos() gives back the exact value", () => {
  for (let ns = 0n; ns <= 5000n; ns++) assertStrictEquals(nanos(ns), ns);
  for (let ns = 999_999_000n; ns <= 1_000_001_000n; ns++) assertStrictEquals(nanos(ns), ns);
  for (let ns = -2000n; ns < 0n; ns++) assertStrictEquals(nanos(ns), ns);
  assertStrictEquals(nanos(123), 123n);
  assertStrictEquals(nanos(1_700_000_000_123_456_789n), 1_700_000_000_123_456_789n);
  const lo = BigInt(NTP_MIN_UNIX) * 10n ** 9n;
  const hi = BigInt(NTP_MAX_UNIX) * 10n ** 9n + 999_999_999n;
  for (const ns of [lo, lo + 1n, hi - 1n, hi, BigInt(ERA1_UNIX) * 10n ** 9n - 1n]) {
    assertStrictEquals(nanos(ns), ns);
  }
  const rng = new Rng(13);
  for (let i = 0; i < 50_000; i++) {
    const ns = lo + rng.bigint(64) % (hi - lo + 1n);
    assertStrictEquals(nanos(ns), ns);
  }
  assertThrows(() => nanos(0.5), TypeError);
});

Deno.test("writeMicros() and writeNanos() refuse timestamps they cannot read back", () => {
  // The reader maps NTP seconds below 2^31 to era 1 (after 2036), so a writer that accepts
  // a timestamp before 1968-01-20 or after 2104-02-26 must throw, not write another time.
  const outside = [
    NTP_MIN_UNIX - 1,
    -2208988800, // 1900-01-01, NTP second 0 of era 0
    -1_000_000_000,
    NTP_MAX_UNIX + 1,
    NTP_MAX_UNIX + 1_000_000,
  ];
  for (const sec of outside) {
    const b = new Uint8Array(8);
    let wrote = true;
    try {
      writeMicros(dvOf(b), 0, sec * 1e6);
    } catch (e) {
      assert(e instanceof TypeError, String(e));
      wrote = false;
    }
    if (wrote) {
      assertStrictEquals(readMicros(dvOf(b), 0), sec * 1e6, `${sec} s written as ${toHex(b)}`);
    }
    wrote = true;
    try {
      writeNanos(dvOf(b), 0, BigInt(sec) * 10n ** 9n);
    } catch (e) {
      assert(e instanceof TypeError, String(e));
      wrote = false;
    }
    if (wrote) {
      assertStrictEquals(
        readNanos(dvOf(b), 0),
        BigInt(sec) * 10n ** 9n,
        `${sec} s written as ${toHex(b)}`,
      );
    }
  }
});

// ---------------------------------------------------------------------------------------------
// Hex, booleans

Deno.test("toHex() and fromHex() convert octets", () => {
  assertStrictEquals(toHex(new Uint8Array(0)), "");
  assertStrictEquals(toHex(hex("00 0f f0 ff 7f 80")), "000ff0ff7f80");
  assertStrictEquals(toHex(hex("0102030405"), 1, 3), "020304");
  assertStrictEquals(toHex(hex("0102030405"), 3), "0405");
  assertEquals(fromHex(""), new Uint8Array(0));
  assertEquals(fromHex("000ff0FF7f80"), hex("000ff0ff7f80"));
  assertThrows(() => fromHex("abc"), SyntaxError);
  assertThrows(() => fromHex("zz"), SyntaxError);
  assertThrows(() => fromHex("0x00"), SyntaxError);
  assertThrows(() => fromHex("00 11"), SyntaxError);
  const rng = new Rng(14);
  for (let i = 0; i < 500; i++) {
    const b = rng.bytes(rng.int(64));
    assertEquals(fromHex(toHex(b)), b);
  }
});

Deno.test("decodeBoolean() accepts 1 and 2 only", () => {
  assertStrictEquals(decodeBoolean(1, 0), true);
  assertStrictEquals(decodeBoolean(2, 0), false);
  for (const v of [0, 3, 127, 255]) {
    const e = assertThrows(() => decodeBoolean(v, 42), MalformedError, `${v}`);
    assert(e instanceof SyntaxError);
    assertStrictEquals(e.offset, 42);
  }
});

// ---------------------------------------------------------------------------------------------
// Strings

const utf8 = new TextEncoder();
const reference = new TextDecoder("utf-8", { ignoreBOM: true });

function encoded(s: string): Uint8Array {
  return utf8.encode(s);
}

Deno.test("encodeString() writes UTF-8 and returns its length", () => {
  for (
    const s of ["", "a", "eth0", "é", "日本語", "😀", "frontend-日本-😀", "x".repeat(300)]
  ) {
    const want = encoded(s);
    const b = new Uint8Array(want.length + 4).fill(0xaa);
    assertStrictEquals(encodeString(s, b, 2, want.length), want.length, s);
    assertEquals(b.subarray(2, 2 + want.length), want, s);
    assertStrictEquals(b[0], 0xaa);
    assertStrictEquals(b[2 + want.length], 0xaa, "writes nothing past its length");
    assertStrictEquals(utf8Length(s), want.length);
  }
  const b = new Uint8Array(16);
  assertThrows(() => encodeString("abcdef", b, 0, 5), RangeError);
  assertThrows(() => encodeString("ééé", b, 0, 5), RangeError);
  assertThrows(() => encodeString("😀", b, 0, 3), RangeError);
  assertStrictEquals(encodeString("ééé", b, 0, 6), 6);
});

Deno.test("decodeString() decodes UTF-8, with U+FFFD for invalid sequences", () => {
  const cases: [string, string][] = [
    ["", ""],
    ["61", "a"],
    ["c3a9", "é"],
    ["e697a5e69cac", "日本"],
    ["f09f9880", "😀"],
    ["ff", "\ufffd"],
    ["61ff62", "a\ufffdb"],
    ["c0af", "\ufffd\ufffd"], // overlong "/"
    ["e697", "\ufffd"], // truncated sequence
    ["eda080", "\ufffd\ufffd\ufffd"], // a UTF-16 surrogate
    ["f4908080", "\ufffd\ufffd\ufffd\ufffd"], // beyond U+10FFFF
    ["00", "\0"],
  ];
  for (const [h, want] of cases) {
    const b = hex(h);
    assertStrictEquals(decodeString(b, 0, b.length), want, h);
    // The same past the string cache's length limit.
    const long = hex("61".repeat(100) + h);
    assertStrictEquals(decodeString(long, 0, long.length), "a".repeat(100) + want, h);
    // And at an offset.
    const framed = hex("ee" + h + "ee");
    assertStrictEquals(decodeString(framed, 1, b.length), want, h);
  }
});

Deno.test("decodeString() keeps a leading U+FEFF", () => {
  // A byte order mark is a character of the string: dropping it breaks the round trip.
  for (const s of ["\ufeffabc", "\ufeff", "\ufeff" + "x".repeat(120)]) {
    const b = encoded(s);
    assertStrictEquals(decodeString(b, 0, b.length), s, toHex(b.subarray(0, 8)));
  }
});

Deno.test("utf8Length() agrees with TextEncoder, lone surrogates included", () => {
  const rng = new Rng(15);
  const units = [0x41, 0x7f, 0x80, 0x7ff, 0x800, 0xfffd, 0xd83d, 0xde00, 0xdbff, 0xdc00];
  for (let i = 0; i < 20000; i++) {
    let s = "";
    const n = rng.int(12);
    for (let k = 0; k < n; k++) {
      s += String.fromCharCode(rng.chance(0.7) ? rng.pick(units) : rng.int(0x10000));
    }
    assertStrictEquals(utf8Length(s), encoded(s).length, show(s));
  }
});

Deno.test("decodeString() cache: the same bytes give the same string", () => {
  const b = encoded("kube-system");
  const first = decodeString(b, 0, b.length);
  for (let i = 0; i < 10; i++) assertStrictEquals(decodeString(b, 0, b.length), first);
  // Another buffer with the same bytes.
  const copy = new Uint8Array([0, ...b]);
  assertStrictEquals(decodeString(copy, 1, b.length), "kube-system");
  // The cache keeps its own copy: changing the buffer changes the result.
  const buf = encoded("pod-aaaa");
  assertStrictEquals(decodeString(buf, 0, buf.length), "pod-aaaa");
  buf[7] = 0x62;
  assertStrictEquals(decodeString(buf, 0, buf.length), "pod-aaab");
  buf[7] = 0x61;
  assertStrictEquals(decodeString(buf, 0, buf.length), "pod-aaaa");
});

Deno.test("decodeString() cache: many distinct strings of the same lengths never mix up", () => {
  const rng = new Rng(16);
  // 30,000 distinct strings over few lengths: far more than the cache's slots, so that many
  // share a slot and a length, and ones that differ only in their last octet.
  const all: Uint8Array[] = [];
  const seen = new Set<string>();
  while (all.length < 30000) {
    const len = rng.pick([1, 2, 3, 8, 16, 17, 64, 96]);
    const b = new Uint8Array(len);
    for (let i = 0; i < len; i++) {
      b[i] = rng.chance(0.9) ? 0x61 + rng.int(4) : rng.pick([0x00, 0xc3, 0xa9, 0xff, 0x80]);
    }
    const k = toHex(b);
    if (seen.has(k)) continue;
    seen.add(k);
    all.push(b);
    const near = b.slice();
    near[len - 1] = near[len - 1]! ^ 1;
    if (!seen.has(toHex(near))) {
      seen.add(toHex(near));
      all.push(near);
    }
  }
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < all.length; i++) {
      const b = all[round === 1 ? all.length - 1 - i : (i * 7919) % all.length]!;
      const framed = new Uint8Array(b.length + 2);
      framed.set(b, 1);
      assertStrictEquals(decodeString(framed, 1, b.length), reference.decode(b), toHex(b));
    }
  }
});

Deno.test("decodeString() cache: strings that differ only in the middle never mix up", () => {
  // The cache hashes a string's first and last eight octets; these all hash alike.
  const names = Array.from(
    { length: 200 },
    (_, i) => `shop/svc-${String(i).padStart(3, "0")}x:http`,
  );
  const bytes = names.map((n) => new TextEncoder().encode(n));
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < bytes.length; i++) {
      const k = round === 1 ? bytes.length - 1 - i : (i * 37) % bytes.length;
      assertStrictEquals(decodeString(bytes[k]!, 0, bytes[k]!.length), names[k]);
    }
  }
});
