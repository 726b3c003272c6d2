/**
 * Octet helpers of the tests: hex literals, the hex test vectors of `testdata/`, concatenation.
 * The assertions are in `tests/_assert.ts`.
 *
 * @module
 */

/** Octets of a hex string; whitespace and `#…` comments to the end of a line are ignored. */
export function hex(...parts: string[]): Uint8Array {
  const s = parts.join("\n").replace(/#[^\n]*/g, "").replace(/\s+/g, "");
  if (s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) {
    throw new SyntaxError(`Invalid hex in test: ${s.slice(0, 60)}`);
  }
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Reads a test vector of `testdata/`: one hex string, whitespace allowed, nothing else. */
export async function readVector(name: string): Promise<Uint8Array> {
  const text = await Deno.readTextFile(new URL(`../../testdata/${name}`, import.meta.url));
  if (text.includes("#")) throw new SyntaxError(`Test vector ${name} is not plain hex`);
  return hex(text);
}

/** The octets of `parts`, one after the other. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
