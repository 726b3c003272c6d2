/**
 * The decoder against mutated and random input: it returns, or throws a TruncatedError
 * (RangeError) or MalformedError (SyntaxError); nothing else. A failure prints the seed and the
 * case; `deno task fuzz -- --seed S --case I` replays it, `deno task fuzz` runs longer.
 */

import { Rng } from "../random/mod.ts";
import {
  applyMutation,
  buildCorpus,
  type CaseFailure,
  describeFailure,
  type FuzzCase,
  fuzzCase,
  garbageCase,
  lengthFields,
  MUTATIONS,
  newStats,
  runCase,
  type RunStats,
  TEST_REGISTRY,
  truncationCases,
} from "./_fuzz_corpus.ts";
import { assert, assertEquals, AssertionError } from "../../tests/_assert.ts";
import { decodeMessage } from "./decoder.ts";
import { TemplateCache } from "./template_cache.ts";

/** The seed of this test's runs; change it to explore, keep it fixed to reproduce. */
const SEED = 0x1f2e3d4c;
const RANDOM_CASES = 100_000;
const GARBAGE_CASES = 10_000;

/** Runs cases; throws with the first few failures described. */
function run(cases: Iterable<FuzzCase>, seed: number): RunStats {
  const stats = newStats();
  const failures: CaseFailure[] = [];
  for (const c of cases) {
    const f = runCase(c, stats);
    if (f) failures.push(f);
    if (failures.length >= 5) break;
  }
  if (failures.length > 0) {
    throw new AssertionError(
      `${failures.length} unexpected outcome(s) after ${stats.cases} cases\n\n` +
        failures.map((f) => describeFailure(seed, f)).join("\n\n"),
    );
  }
  return stats;
}

function* generate<T>(n: number, make: (i: number) => T): Generator<T> {
  for (let i = 0; i < n; i++) yield make(i);
}

Deno.test("fuzz corpus: every seed message is valid and decodes", () => {
  const corpus = buildCorpus();
  assert(corpus.length >= 8, `${corpus.length} seeds`);
  let records = 0;
  for (const seed of corpus) {
    const cache = new TemplateCache();
    for (const t of seed.prime) cache.set("s", 1, t);
    const d = decodeMessage(seed.bytes, cache, { session: "s", registry: TEST_REGISTRY });
    assertEquals(d.unknownSets.length, seed.name === "mixed sets" ? 1 : 0, seed.name);
    records += d.recordCount;
    const fields = lengthFields(seed.bytes, seed.templates);
    assert(fields.u16.length >= 2, `${seed.name}: length fields found`);
  }
  assert(records >= 20, `${records} records in the corpus`);
});

Deno.test("fuzz corpus: cases are a pure function of (seed, index)", () => {
  for (let i = 0; i < 200; i++) {
    const a = fuzzCase(SEED, i);
    const b = fuzzCase(SEED, i);
    assertEquals(a.messages, b.messages);
    assertEquals(a.description, b.description);
    assertEquals(garbageCase(SEED, i).messages, garbageCase(SEED, i).messages);
  }
  // Different indexes, different cases.
  const distinct = new Set<string>();
  for (let i = 0; i < 200; i++) distinct.add(fuzzCase(SEED, i).description);
  assert(distinct.size > 190, `${distinct.size} distinct of 200`);
});

Deno.test("fuzz corpus: every mutation operator changes its input", () => {
  const corpus = buildCorpus();
  const rng = new Rng(SEED);
  for (const op of MUTATIONS) {
    let changed = 0;
    for (const seed of corpus) {
      const fields = lengthFields(seed.bytes, seed.templates);
      for (let k = 0; k < 20; k++) {
        const { bytes } = applyMutation(rng, op, seed.bytes.slice(), fields, corpus);
        if (bytes.length !== seed.bytes.length || bytes.some((b, i) => b !== seed.bytes[i])) {
          changed++;
        }
      }
    }
    assert(changed > corpus.length * 10, `${op} changed ${changed} inputs`);
  }
});

Deno.test("fuzz: every truncation of every corpus message", () => {
  const stats = run(truncationCases(), SEED);
  const total = buildCorpus().reduce((n, s) => n + 2 * (s.bytes.length + 1), 0);
  assertEquals(stats.cases, total);
  assert(stats.truncated > 0);
});

Deno.test(`fuzz: ${RANDOM_CASES} random mutations of valid messages`, () => {
  const stats = run(generate(RANDOM_CASES, (i) => fuzzCase(SEED, i)), SEED);
  assertEquals(stats.cases, RANDOM_CASES);
  // The mutations reach past the header: many decode, all three outcomes occur.
  assert(stats.decoded > RANDOM_CASES / 5, `only ${stats.decoded} decoded`);
  assert(stats.records > RANDOM_CASES / 2, `only ${stats.records} records`);
  assert(stats.truncated > RANDOM_CASES / 10, `only ${stats.truncated} truncated`);
  assert(stats.malformed > RANDOM_CASES / 20, `only ${stats.malformed} malformed`);
});

Deno.test(`fuzz: ${GARBAGE_CASES} random garbage buffers of 0 to 2000 octets`, () => {
  const stats = run(generate(GARBAGE_CASES, (i) => garbageCase(SEED, i)), SEED);
  assertEquals(stats.cases, GARBAGE_CASES);
  assert(stats.malformed > 0 && stats.truncated > 0);
});

/** What a decode came to, without the compiled templates (functions): comparable. */
function outcome(decode: () => ReturnType<typeof decodeMessage>): unknown {
  try {
    const d = decode();
    return {
      header: [d.length, d.exportTime, d.sequenceNumber, d.observationDomainId],
      sets: d.dataSets.map((s) => [s.templateId, s.records]),
      templates: d.templates.map((t) => [t.id, t.scopeFieldCount, t.fields.length]),
      withdrawals: d.withdrawals,
      unknownSets: d.unknownSets,
      reservedSets: d.reservedSets,
    };
  } catch (e) {
    return e instanceof Error ? [e.name, e.message] : e;
  }
}

Deno.test("fuzz: a receiver's view that runs past the message decodes exactly as the message alone", () => {
  // The recvmmsg receiver passes its slot's DataView, which goes on past the datagram (other
  // datagrams' leftovers): no decoder may read there. Each message is decoded alone and again
  // inside a larger buffer of random octets, with a view to that buffer's end.
  const rng = new Rng(SEED ^ 0x5eed);
  const cases = [
    ...generate(20_000, (i) => fuzzCase(SEED, i)),
    ...generate(2_000, (i) => garbageCase(SEED, i)),
    ...truncationCases(),
  ];
  let compared = 0;
  for (const c of cases) {
    const alone = new TemplateCache({ clock: () => 0 });
    const inSlot = new TemplateCache({ clock: () => 0 });
    for (const t of c.prime) {
      alone.set("fuzz", 1, t);
      inSlot.set("fuzz", 1, t);
    }
    for (const m of c.messages) {
      const at = rng.int(64);
      const slot = new Uint8Array(at + m.length + 1 + rng.int(2048));
      for (let i = 0; i < slot.length; i++) slot[i] = rng.int(256);
      slot.set(m, at);
      const view = new DataView(slot.buffer, at);
      const options = { session: "fuzz", registry: TEST_REGISTRY };
      const want = outcome(() => decodeMessage(m.slice(), alone, options));
      const got = outcome(() =>
        decodeMessage(slot.subarray(at, at + m.length), inSlot, options, view)
      );
      assertEquals(got, want, `${c.kind} case ${c.index}: ${c.description}`);
      compared++;
    }
  }
  assert(compared > 20_000, `${compared} messages compared`);
});

Deno.test("decodeMessage ignores a view that is not of the message's octets", () => {
  const seed = buildCorpus().find((s) => s.prime.length > 0)!;
  const decode = (bytes: Uint8Array, view?: DataView) => {
    const cache = new TemplateCache({ clock: () => 0 });
    for (const t of seed.prime) cache.set("s", 1, t);
    return outcome(() =>
      decodeMessage(bytes, cache, { session: "s", registry: TEST_REGISTRY }, view)
    );
  };
  const want = decode(seed.bytes);
  const other = new Uint8Array(seed.bytes.length + 16);
  for (
    const view of [
      new DataView(other.buffer), // another buffer
      new DataView(seed.bytes.buffer, seed.bytes.byteOffset, 4), // too short
    ]
  ) {
    assertEquals(decode(seed.bytes, view), want);
  }
  // Another start: the message 8 octets into its buffer, a view from the buffer's start.
  const shifted = new Uint8Array(seed.bytes.length + 8);
  shifted.set(seed.bytes, 8);
  assertEquals(decode(shifted.subarray(8), new DataView(shifted.buffer)), want);
});
