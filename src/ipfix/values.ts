/**
 * Conversions between wire bytes and values for the types whose wire form is not a plain
 * big-endian number: MAC addresses, strings, reduced-size and 64-bit integers, NTP timestamps.
 * IP addresses are the shared ones of `src/net`.
 *
 * @module
 */

import { MalformedError, TruncatedError } from "./errors.ts";

const TWO32 = 4294967296;
/** Seconds from the NTP epoch (1900) to the Unix epoch (1970). RFC 7011 §6.1.9 */
const NTP_UNIX_OFFSET = 2208988800;
const NTP_UNIX_OFFSET_N = 2208988800n;
const NANOS = 1_000_000_000n;
const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));
const utf8 = new TextDecoder("utf-8", { ignoreBOM: true });
const utf8Encoder = new TextEncoder();

/**
 * Reads an unsigned integer of 1–32 octets (reduced-size encoding, RFC 7011 §6.2; 32 octets are
 * unsigned256, RFC 9740): a number up to 2^53−1, a bigint above.
 */
export function readUnsigned(u8: Uint8Array, o: number, len: number): number | bigint {
  if (len > 8) {
    let b = 0n;
    for (let i = 0; i < len; i++) b = (b << 8n) | BigInt(u8[o + i]!);
    return b <= 9007199254740991n ? Number(b) : b;
  }
  if (len <= 6) {
    let v = 0;
    for (let i = 0; i < len; i++) v = v * 256 + u8[o + i]!;
    return v;
  }
  let hi = 0;
  const hiLen = len - 4;
  for (let i = 0; i < hiLen; i++) hi = hi * 256 + u8[o + i]!;
  const lo = ((u8[o + hiLen]! << 24) | (u8[o + hiLen + 1]! << 16) | (u8[o + hiLen + 2]! << 8) |
    u8[o + hiLen + 3]!) >>> 0;
  return hi < 0x200000 ? hi * TWO32 + lo : (BigInt(hi) << 32n) | BigInt(lo);
}

/** Reads a signed integer of 1–8 octets, sign-extended (RFC 7011 §6.2). */
export function readSigned(u8: Uint8Array, o: number, len: number): number | bigint {
  const u = readUnsigned(u8, o, len);
  const bits = len * 8;
  if (typeof u === "number" && len <= 6) {
    const half = 2 ** (bits - 1);
    return u >= half ? u - 2 * half : u;
  }
  const b = BigInt.asIntN(bits, BigInt(u));
  return b >= -9007199254740991n && b <= 9007199254740991n ? Number(b) : b;
}

/** Reads an unsigned64 as a number when it is at most 2^53−1, else as a bigint. */
export function readU64(dv: DataView, o: number): number | bigint {
  const hi = dv.getUint32(o);
  const lo = dv.getUint32(o + 4);
  return hi < 0x200000 ? hi * TWO32 + lo : (BigInt(hi) << 32n) | BigInt(lo);
}

/** Reads a signed64 as a number when it is within ±(2^53−1), else as a bigint. */
export function readI64(dv: DataView, o: number): number | bigint {
  const hi = dv.getInt32(o);
  const lo = dv.getUint32(o + 4);
  if (hi >= -0x200000 && hi < 0x200000) {
    const v = hi * TWO32 + lo;
    if (Number.isSafeInteger(v)) return v;
  }
  return (BigInt(hi) << 32n) | BigInt(lo);
}

/** Writes an unsigned integer (number or bigint) in `len` octets; throws if it does not fit. */
export function writeUnsigned(u8: Uint8Array, o: number, v: number | bigint, len: number): void {
  if (typeof v === "number") {
    if (!Number.isInteger(v) || v < 0 || v >= 2 ** (len * 8)) {
      throw new TypeError(`Value ${v} does not fit an unsigned integer of ${len} octets`);
    }
    if (v > Number.MAX_SAFE_INTEGER) v = BigInt(v);
  }
  if (typeof v === "bigint") {
    if (v < 0n || v >= 1n << BigInt(len * 8)) {
      throw new TypeError(`Value ${v} does not fit an unsigned integer of ${len} octets`);
    }
    for (let i = len - 1; i >= 0; i--) {
      u8[o + i] = Number(v & 0xffn);
      v >>= 8n;
    }
    return;
  }
  for (let i = len - 1; i >= 0; i--) {
    u8[o + i] = v % 256;
    v = Math.floor(v / 256);
  }
}

/** Writes a signed integer (number or bigint) in `len` octets, two's complement. */
export function writeSigned(u8: Uint8Array, o: number, v: number | bigint, len: number): void {
  const bits = BigInt(len * 8);
  if (typeof v === "number" && !Number.isInteger(v)) {
    throw new TypeError(`Value ${v} is not an integer`);
  }
  const b = BigInt(v);
  const lim = 1n << (bits - 1n);
  if (b < -lim || b >= lim) {
    throw new TypeError(`Value ${v} does not fit a signed integer of ${len} octets`);
  }
  writeUnsigned(u8, o, BigInt.asUintN(len * 8, b), len);
}

/** Formats 6 octets as `aa:bb:cc:dd:ee:ff`. */
export function formatMac(u8: Uint8Array, o: number): string {
  return HEX[u8[o]!] + ":" + HEX[u8[o + 1]!] + ":" + HEX[u8[o + 2]!] + ":" + HEX[u8[o + 3]!] +
    ":" + HEX[u8[o + 4]!] + ":" + HEX[u8[o + 5]!];
}

/** Parses `aa:bb:cc:dd:ee:ff` (or `-` separated) into 6 octets at `o`; false when invalid. */
export function parseMacInto(s: string, u8: Uint8Array, o: number): boolean {
  if (!/^[0-9a-fA-F]{2}([:-][0-9a-fA-F]{2}){5}$/.test(s)) return false;
  for (let i = 0; i < 6; i++) u8[o + i] = parseInt(s.slice(3 * i, 3 * i + 2), 16);
  return true;
}

/** Lowercase hex of `len` octets. */
export function toHex(u8: Uint8Array, o = 0, len = u8.length - o): string {
  let s = "";
  for (let i = 0; i < len; i++) s += HEX[u8[o + i]!];
  return s;
}

/** Octets of a hex string; throws SyntaxError when it is not hex. */
export function fromHex(s: string): Uint8Array {
  if (s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) {
    throw new SyntaxError(`Invalid hex string "${s.length > 40 ? s.slice(0, 40) + "…" : s}"`);
  }
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

// Flow records repeat the same short strings (pod, namespace, node and policy names) over and
// over: a small cache of decoded strings saves an allocation per field, and hands out the same
// string object each time (whose hash a Map computes once). Two-way set associative: a pair of
// neighbouring slots per set, the most recently added string first.
const STRING_CACHE_SIZE = 8192;
const MAX_CACHED_LENGTH = 96;
const slab = new Uint8Array(STRING_CACHE_SIZE * MAX_CACHED_LENGTH);
const slabLengths = new Uint8Array(STRING_CACHE_SIZE);
// Built element by element: a large `new Array(n)` would be a slow dictionary array.
const cacheValues: string[] = Array.from({ length: STRING_CACHE_SIZE }, () => "");

const slabView = new DataView(slab.buffer);

/**
 * Whether cache slot `idx` holds the `len` octets at `o`, compared four at a time. Octets are
 * read little-endian (the host's order: no byte swap) here and in the hash.
 */
function slotHolds(idx: number, dv: DataView, o: number, len: number): boolean {
  if (slabLengths[idx] !== len) return false;
  const base = idx * MAX_CACHED_LENGTH;
  if (len < 4) {
    for (let i = 0; i < len; i++) if (slab[base + i] !== dv.getUint8(o + i)) return false;
    return true;
  }
  // The last word first (it overlaps the others when the length is not a multiple of four):
  // names that share a prefix differ at their end.
  const last = len - 4;
  if (slabView.getUint32(base + last, true) !== dv.getUint32(o + last, true)) return false;
  for (let i = 0; i < last; i += 4) {
    if (slabView.getUint32(base + i, true) !== dv.getUint32(o + i, true)) return false;
  }
  return true;
}

/**
 * Decodes the UTF-8 string of `len` octets at `o` of `dv` (`u8` over the same octets);
 * invalid sequences become U+FFFD. Short strings come from a cache, hashed and compared four
 * octets at a time.
 */
export function decodeStringAt(dv: DataView, u8: Uint8Array, o: number, len: number): string {
  if (len === 0) return "";
  if (len > MAX_CACHED_LENGTH) return utf8.decode(u8.subarray(o, o + len));
  let h = len;
  if (len >= 8) {
    // The first and the last eight octets (four when shorter than 16): names differ there
    // (namespaces, prefixes, counters, generated suffixes); slotHolds compares every octet.
    h = Math.imul(h ^ dv.getUint32(o, true), 0x01000193);
    h = Math.imul(h ^ dv.getUint32(o + len - 4, true), 0x01000193);
    if (len >= 16) {
      h = Math.imul(h ^ dv.getUint32(o + 4, true), 0x01000193);
      h = Math.imul(h ^ dv.getUint32(o + len - 8, true), 0x01000193);
    }
  } else {
    for (let i = 0; i < len; i++) h = Math.imul(h ^ u8[o + i]!, 0x01000193);
  }
  // Keys live in one slab, a slot per entry: one memory region to compare against.
  const idx = (h ^ (h >>> 15)) & (STRING_CACHE_SIZE - 2);
  if (slotHolds(idx, dv, o, len)) return cacheValues[idx]!;
  if (slotHolds(idx + 1, dv, o, len)) return cacheValues[idx + 1]!;
  // A flat string straight away (a string built by += would be a rope to flatten later).
  const s = utf8.decode(u8.subarray(o, o + len));
  // The first slot's string moves to the second, the new one takes the first.
  const base = idx * MAX_CACHED_LENGTH;
  slab.copyWithin(base + MAX_CACHED_LENGTH, base, base + slabLengths[idx]!);
  slabLengths[idx + 1] = slabLengths[idx]!;
  cacheValues[idx + 1] = cacheValues[idx]!;
  slab.set(u8.subarray(o, o + len), base);
  slabLengths[idx] = len;
  cacheValues[idx] = s;
  return s;
}

/** Decodes UTF-8; invalid sequences become U+FFFD. */
export function decodeString(u8: Uint8Array, o: number, len: number): string {
  return decodeStringAt(new DataView(u8.buffer, u8.byteOffset, u8.byteLength), u8, o, len);
}

/**
 * Writes `s` as UTF-8 at `o`, at most `max` octets, and returns the number of octets written;
 * throws a RangeError when it does not fit.
 */
export function encodeString(s: string, u8: Uint8Array, o: number, max: number): number {
  const n = s.length;
  if (n <= max) {
    let i = 0;
    for (; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c > 127) break;
      u8[o + i] = c;
    }
    if (i === n) return n;
  }
  const r = utf8Encoder.encodeInto(s, u8.subarray(o, o + max));
  if (r.read !== n) throw new RangeError(`String of ${n} characters does not fit ${max} octets`);
  return r.written;
}

/** The UTF-8 length of `s`. */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

/** Decodes a boolean: 1 is true, 2 is false (RFC 7011 §6.1.5); anything else is malformed. */
export function decodeBoolean(v: number, o: number): boolean {
  if (v === 1) return true;
  if (v === 2) return false;
  throw new MalformedError(`Invalid boolean value ${v}`, o);
}

/** NTP seconds since 1900 to seconds since 1970, wrapping into era 1 after 2036 (RFC 4330 §3). */
function ntpSeconds(sec: number): number {
  return (sec < 0x80000000 ? sec + TWO32 : sec) - NTP_UNIX_OFFSET;
}

function unixToNtpSeconds(sec: number): number {
  const n = sec + NTP_UNIX_OFFSET;
  // Readable range: era 0 from 1968-01-20 (0x80000000) to era 1 up to 2104-02-26.
  if (n < 0x80000000 || n >= TWO32 + 0x80000000) return -1;
  return n >= TWO32 ? n - TWO32 : n;
}

/** Reads dateTimeMicroseconds (NTP format) as microseconds since the Unix epoch. RFC 7011 §6.1.9 */
export function readMicros(dv: DataView, o: number): number {
  const sec = ntpSeconds(dv.getUint32(o));
  const frac = dv.getUint32(o + 4);
  return sec * 1e6 + Math.floor((frac * 1e6) / TWO32);
}

/** Writes microseconds since the Unix epoch as an NTP timestamp that reads back exactly. */
export function writeMicros(dv: DataView, o: number, us: number): void {
  if (!Number.isSafeInteger(us)) throw new TypeError(`Value ${us} is not an integer`);
  const sec = Math.floor(us / 1e6);
  const rest = us - sec * 1e6;
  const ntp = unixToNtpSeconds(sec);
  if (ntp < 0 || ntp >= TWO32) throw new TypeError(`Timestamp ${us} µs is out of range`);
  dv.setUint32(o, ntp);
  dv.setUint32(o + 4, Math.floor((rest * TWO32 + 999999) / 1e6));
}

/** Reads dateTimeNanoseconds (NTP format) as nanoseconds since the Unix epoch. */
export function readNanos(dv: DataView, o: number): bigint {
  const sec = BigInt(ntpSeconds(dv.getUint32(o)));
  const frac = BigInt(dv.getUint32(o + 4));
  return sec * NANOS + ((frac * NANOS) >> 32n);
}

/** Writes nanoseconds since the Unix epoch as an NTP timestamp that reads back exactly. */
export function writeNanos(dv: DataView, o: number, ns: bigint | number): void {
  if (typeof ns === "number" && !Number.isInteger(ns)) {
    throw new TypeError(`Value ${ns} is not an integer`);
  }
  const n = BigInt(ns);
  let sec = n / NANOS;
  let rest = n % NANOS;
  if (rest < 0n) {
    rest += NANOS;
    sec -= 1n;
  }
  let ntp = sec + NTP_UNIX_OFFSET_N;
  if (ntp < 0x80000000n || ntp >= (1n << 32n) + 0x80000000n) {
    throw new TypeError(`Timestamp ${ns} ns is out of range`);
  }
  if (ntp >= 1n << 32n) ntp -= 1n << 32n;
  dv.setUint32(o, Number(ntp));
  dv.setUint32(o + 4, Number(((rest << 32n) + NANOS - 1n) / NANOS));
}

/** Throws the error for a structure that runs past `end`. */
export function truncated(what: string, o: number): never {
  throw new TruncatedError(`Truncated ${what} at offset ${o}`, o);
}
