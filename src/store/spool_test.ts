import { assert, assertEquals, assertRejects, assertThrows } from "../../tests/_assert.ts";
import type { Logger } from "../log/mod.ts";
import { crc32, parseSpoolHeader, Spool, SPOOL_HEADER_LENGTH } from "./spool.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A logger that keeps what it was told. */
function memoryLogger(): Logger & { lines: { level: string; msg: string; fields?: unknown }[] } {
  const lines: { level: string; msg: string; fields?: unknown }[] = [];
  const at = (level: string) => (msg: string, fields?: Record<string, unknown>) =>
    void lines.push({ level, msg, fields });
  return { lines, debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "flowvis-spool-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function drain(spool: Spool): Promise<string[]> {
  const out: string[] = [];
  for (let e = await spool.peek(); e; e = await spool.peek()) {
    out.push(dec.decode(e.payload));
    await spool.remove(e);
  }
  return out;
}

async function spoolFiles(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  return names.sort();
}

Deno.test("crc32 matches the IEEE check value", () => {
  assertEquals(crc32(enc.encode("123456789")), 0xcbf43926);
  assertEquals(crc32(new Uint8Array()), 0);
});

Deno.test("parseSpoolHeader: truncated and foreign input", () => {
  assertThrows(() => parseSpoolHeader(new Uint8Array(5)), RangeError, "truncated");
  assertThrows(() => parseSpoolHeader(new Uint8Array(16)), SyntaxError, "bad magic");
});

Deno.test("Spool keeps batches in order, across a reopen", async () => {
  await withDir(async (dir) => {
    const a = await Spool.open({ dir, maxBytes: 1 << 20 });
    for (let i = 1; i <= 12; i++) assert(await a.append(enc.encode(`batch ${i}\n`), i));
    assertEquals(a.files, 12);
    assertEquals(a.rows, 78);
    const first = await a.peek();
    assertEquals(dec.decode(first!.payload), "batch 1\n");
    assertEquals(first!.rows, 1);
    await a.remove(first!);
    // A second run finds the rest, in order, and appends after them.
    const b = await Spool.open({ dir, maxBytes: 1 << 20 });
    assertEquals(b.files, 11);
    assertEquals(b.rows, 77);
    assert(await b.append(enc.encode("batch 13\n"), 13));
    const got = await drain(b);
    assertEquals(got, Array.from({ length: 12 }, (_, i) => `batch ${i + 2}\n`));
    assertEquals([b.files, b.rows, b.bytes], [0, 0, 0]);
    assertEquals(await spoolFiles(dir), []);
  });
});

Deno.test("Spool refuses a batch beyond its size and counts bytes with headers", async () => {
  await withDir(async (dir) => {
    const spool = await Spool.open({ dir, maxBytes: 2 * (SPOOL_HEADER_LENGTH + 100) });
    const payload = new Uint8Array(100).fill(65);
    assert(await spool.append(payload, 1));
    assert(await spool.append(payload, 1));
    assertEquals(spool.bytes, 2 * (SPOOL_HEADER_LENGTH + 100));
    assertEquals(await spool.append(new Uint8Array(1), 1), false);
    assertEquals(spool.files, 2);
    await spool.remove((await spool.peek())!);
    assert(await spool.append(payload, 1));
  });
  await assertRejects(() => Spool.open({ dir: "/nonexistent", maxBytes: 0 }), RangeError);
});

Deno.test("Spool sets aside truncated, corrupt and foreign files and keeps the others", async () => {
  await withDir(async (dir) => {
    const a = await Spool.open({ dir, maxBytes: 1 << 20 });
    for (let i = 1; i <= 5; i++) assert(await a.append(enc.encode(`batch ${i}\n`), 10));
    const name = (seq: number) => `${dir}/${String(seq).padStart(16, "0")}.spool`;
    // 2: truncated payload; 3: a flipped payload octet; 4: garbage header; and a leftover .tmp.
    const two = await Deno.readFile(name(2));
    await Deno.writeFile(name(2), two.subarray(0, two.length - 3));
    const three = await Deno.readFile(name(3));
    three[three.length - 2] = three[three.length - 2]! ^ 0x20;
    await Deno.writeFile(name(3), three);
    await Deno.writeFile(name(4), enc.encode("garbage"));
    await Deno.writeFile(`${name(6)}.tmp`, enc.encode("half written"));
    await Deno.writeFile(`${dir}/notes.txt`, enc.encode("not mine"));

    const log = memoryLogger();
    const b = await Spool.open({ dir, maxBytes: 1 << 20, logger: log });
    // The truncated and the garbage file are caught by open, the flipped octet by peek.
    assertEquals(b.corruptFiles, 2);
    assertEquals(await drain(b), ["batch 1\n", "batch 5\n"]);
    assertEquals(b.corruptFiles, 3);
    assertEquals(b.corruptRows, 20); // 2 and 3 had readable headers, 4 did not
    const errors = log.lines.filter((l) => l.level === "error");
    assertEquals(errors.length, 3);
    assert(errors.every((e) => e.msg === "Spool file is corrupt, set aside"));
    assertEquals(await spoolFiles(dir), [
      "0000000000000002.spool.corrupt",
      "0000000000000003.spool.corrupt",
      "0000000000000004.spool.corrupt",
      "notes.txt",
    ]);
    // New batches get numbers after every file seen, so they sort after the old ones.
    assert(await b.append(enc.encode("batch 7\n"), 1));
    assertEquals(await drain(b), ["batch 7\n"]);
  });
});

Deno.test("Spool: a file removed behind its back is counted, not fatal", async () => {
  await withDir(async (dir) => {
    const log = memoryLogger();
    const spool = await Spool.open({ dir, maxBytes: 1 << 20, logger: log });
    assert(await spool.append(enc.encode("a"), 3));
    assert(await spool.append(enc.encode("b"), 4));
    await Deno.remove(`${dir}/0000000000000001.spool`);
    assertEquals(await drain(spool), ["b"]);
    assertEquals([spool.corruptFiles, spool.corruptRows], [1, 3]);
  });
});
