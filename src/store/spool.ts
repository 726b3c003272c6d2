/**
 * A bounded on-disk spool of batches: what a sink could not deliver waits here, in order, until
 * the destination is back, and survives a restart. Each batch is one file named by a sequence
 * number (`0000000000000042.spool`) holding a 16-octet header and the payload:
 *
 * | octets | field |
 * |---|---|
 * | 0–3 | magic `FVS1` |
 * | 4–7 | rows in the batch (u32, big endian) |
 * | 8–11 | payload length (u32, big endian) |
 * | 12–15 | CRC-32 (IEEE) of the payload |
 *
 * A file is written as `….tmp`, synced, then renamed, so a crash leaves either a whole batch or a
 * temporary file that the next open removes. A file whose header, length or checksum is wrong is
 * renamed `….corrupt`, logged and counted, and the spool goes on with the next one. Not safe for
 * concurrent use: one owner calls it at a time.
 *
 * @example
 * ```ts
 * const spool = await Spool.open({ dir: "/var/lib/flowvis/spool", maxBytes: 1 << 30 });
 * await spool.append(new TextEncoder().encode("row 1\n"), 1);
 * const first = await spool.peek();
 * if (first) await spool.remove(first);
 * ```
 *
 * @module
 */

import { type Logger, silentLogger } from "../log/mod.ts";

/** Octets of a spool file's header. */
export const SPOOL_HEADER_LENGTH = 16;
const MAGIC = 0x46565331; // "FVS1"
const NAME = /^(\d{16})\.spool$/;

/** Options of {@link Spool.open}. */
export interface SpoolOptions {
  /** The spool's directory, created if missing. */
  dir: string;
  /** Most octets the spool files may take (headers included); a batch beyond is refused. */
  maxBytes: number;
  logger?: Logger;
}

/** One spooled batch. */
export interface SpoolEntry {
  readonly seq: number;
  readonly rows: number;
  readonly payload: Uint8Array;
}

interface Indexed {
  seq: number;
  rows: number;
  size: number;
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/**
 * CRC-32 (IEEE 802.3, as zlib computes it) of `data`.
 *
 * @example
 * ```ts
 * crc32(new TextEncoder().encode("123456789")); // 0xcbf43926
 * ```
 */
export function crc32(data: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** The header of a spool file holding `rows` rows in `payload`. */
function header(rows: number, payload: Uint8Array): Uint8Array {
  const h = new Uint8Array(SPOOL_HEADER_LENGTH);
  const v = new DataView(h.buffer);
  v.setUint32(0, MAGIC);
  v.setUint32(4, rows);
  v.setUint32(8, payload.length);
  v.setUint32(12, crc32(payload));
  return h;
}

/**
 * Parses a spool file's header; throws RangeError when truncated and SyntaxError when it is not
 * a spool file.
 */
export function parseSpoolHeader(
  bytes: Uint8Array,
): { rows: number; length: number; crc: number } {
  if (bytes.length < SPOOL_HEADER_LENGTH) {
    throw new RangeError(
      `Spool file truncated: ${bytes.length} octets, the header needs ${SPOOL_HEADER_LENGTH}`,
    );
  }
  const v = new DataView(bytes.buffer, bytes.byteOffset, SPOOL_HEADER_LENGTH);
  if (v.getUint32(0) !== MAGIC) throw new SyntaxError("Not a spool file: bad magic");
  return { rows: v.getUint32(4), length: v.getUint32(8), crc: v.getUint32(12) };
}

function fileName(seq: number): string {
  return `${String(seq).padStart(16, "0")}.spool`;
}

/** A bounded, ordered, crash-safe spool of batches in a directory. */
export class Spool {
  readonly dir: string;
  readonly maxBytes: number;
  #log: Logger;
  #files: Indexed[] = [];
  #next = 1;
  #bytes = 0;
  #rows = 0;
  #corruptFiles = 0;
  #corruptRows = 0;

  private constructor(options: SpoolOptions) {
    this.dir = options.dir;
    this.maxBytes = options.maxBytes;
    this.#log = options.logger ?? silentLogger;
  }

  /**
   * Opens (creating it if needed) the spool in `options.dir`: removes temporary files of an
   * interrupted write, indexes the batches left by a previous run in order, and sets aside
   * (renames `.corrupt`) files whose header or size is wrong.
   */
  static async open(options: SpoolOptions): Promise<Spool> {
    if (!(options.maxBytes > 0)) {
      throw new RangeError(`Spool size must be positive, got ${options.maxBytes}`);
    }
    const spool = new Spool(options);
    await Deno.mkdir(options.dir, { recursive: true });
    const found: number[] = [];
    for await (const e of Deno.readDir(options.dir)) {
      if (!e.isFile) continue;
      if (e.name.endsWith(".tmp")) {
        await Deno.remove(`${options.dir}/${e.name}`).catch(() => {});
        continue;
      }
      const m = NAME.exec(e.name);
      if (m) found.push(Number(m[1]));
    }
    found.sort((a, b) => a - b);
    for (const seq of found) {
      spool.#next = seq + 1;
      const path = spool.#path(seq);
      let rows: number | undefined;
      try {
        const size = (await Deno.stat(path)).size;
        const f = await Deno.open(path, { read: true });
        const head = new Uint8Array(SPOOL_HEADER_LENGTH);
        let got = 0;
        try {
          while (got < head.length) {
            const n = await f.read(head.subarray(got));
            if (n === null) break;
            got += n;
          }
        } finally {
          f.close();
        }
        const h = parseSpoolHeader(head.subarray(0, got));
        rows = h.rows;
        if (size !== SPOOL_HEADER_LENGTH + h.length) {
          throw new RangeError(
            `Spool file size is ${size} octets, its header says ${SPOOL_HEADER_LENGTH + h.length}`,
          );
        }
        spool.#files.push({ seq, rows: h.rows, size });
        spool.#bytes += size;
        spool.#rows += h.rows;
      } catch (err) {
        await spool.#setAside(seq, err, rows);
      }
    }
    if (spool.#files.length > 0) {
      spool.#log.info("Spool has batches from a previous run", {
        dir: spool.dir,
        files: spool.#files.length,
        rows: spool.#rows,
        bytes: spool.#bytes,
      });
    }
    return spool;
  }

  #path(seq: number): string {
    return `${this.dir}/${fileName(seq)}`;
  }

  /** Renames a bad file `.corrupt`, logs and counts it. */
  async #setAside(seq: number, err: unknown, rows: number | undefined): Promise<void> {
    this.#corruptFiles++;
    if (rows !== undefined) this.#corruptRows += rows;
    const path = this.#path(seq);
    await Deno.rename(path, `${path}.corrupt`).catch(() => Deno.remove(path).catch(() => {}));
    this.#log.error("Spool file is corrupt, set aside", {
      file: `${path}.corrupt`,
      error: err instanceof Error ? err.message : String(err),
      ...(rows !== undefined ? { rows } : {}),
    });
  }

  /** Batches in the spool. */
  get files(): number {
    return this.#files.length;
  }

  /** Rows in the spool. */
  get rows(): number {
    return this.#rows;
  }

  /** Octets of the spool files. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Files found corrupt (set aside) since open, this run's and those left by earlier runs. */
  get corruptFiles(): number {
    return this.#corruptFiles;
  }

  /** Rows in corrupt files whose header could still be read (lost). */
  get corruptRows(): number {
    return this.#corruptRows;
  }

  /**
   * Appends a batch after every other. Resolves false, writing nothing, when it would take the
   * spool past `maxBytes`; rejects when the disk write fails.
   */
  async append(payload: Uint8Array, rows: number): Promise<boolean> {
    const size = SPOOL_HEADER_LENGTH + payload.length;
    if (this.#bytes + size > this.maxBytes) return false;
    const seq = this.#next++;
    const path = this.#path(seq);
    const tmp = `${path}.tmp`;
    const f = await Deno.open(tmp, { write: true, create: true, truncate: true });
    try {
      await writeAll(f, header(rows, payload));
      await writeAll(f, payload);
      await f.syncData();
    } catch (err) {
      f.close();
      await Deno.remove(tmp).catch(() => {});
      throw err;
    }
    f.close();
    await Deno.rename(tmp, path);
    this.#files.push({ seq, rows, size });
    this.#bytes += size;
    this.#rows += rows;
    return true;
  }

  /**
   * The oldest batch, read and checked; undefined when the spool is empty. A file that fails its
   * check is set aside (logged, counted) and the next one is tried.
   */
  async peek(): Promise<SpoolEntry | undefined> {
    while (this.#files.length > 0) {
      const f = this.#files[0]!;
      let rows: number | undefined;
      try {
        const bytes = await Deno.readFile(this.#path(f.seq));
        const h = parseSpoolHeader(bytes);
        rows = h.rows;
        if (bytes.length !== SPOOL_HEADER_LENGTH + h.length) {
          throw new RangeError(
            `Spool file truncated: ${bytes.length} octets, its header says ${
              SPOOL_HEADER_LENGTH + h.length
            }`,
          );
        }
        const payload = bytes.subarray(SPOOL_HEADER_LENGTH);
        if (crc32(payload) !== h.crc) throw new SyntaxError("Spool file checksum mismatch");
        return { seq: f.seq, rows: h.rows, payload };
      } catch (err) {
        this.#forget(f);
        if (err instanceof Deno.errors.NotFound) {
          this.#corruptFiles++;
          this.#log.error("Spool file vanished", { file: this.#path(f.seq), rows: f.rows });
          this.#corruptRows += f.rows;
          continue;
        }
        await this.#setAside(f.seq, err, rows ?? f.rows);
      }
    }
    return undefined;
  }

  #forget(f: Indexed): void {
    const i = this.#files.indexOf(f);
    if (i < 0) return;
    this.#files.splice(i, 1);
    this.#bytes -= f.size;
    this.#rows -= f.rows;
  }

  /** Removes a batch that was delivered. */
  async remove(entry: Pick<SpoolEntry, "seq">): Promise<void> {
    const f = this.#files.find((x) => x.seq === entry.seq);
    if (!f) return;
    await Deno.remove(this.#path(f.seq)).catch((err) => {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    });
    this.#forget(f);
  }
}

async function writeAll(f: Deno.FsFile, data: Uint8Array): Promise<void> {
  let o = 0;
  while (o < data.length) o += await f.write(data.subarray(o));
}
