/**
 * The growing output buffer that the RowBinary and TabSeparated row writers share.
 *
 * @module
 */

/** Octets written so far in `buf[0..pos)`, with a DataView over the same buffer. */
export class ByteWriter {
  buf: Uint8Array = new Uint8Array(1 << 20);
  dv: DataView = new DataView(this.buf.buffer);
  pos = 0;

  /** Room for at least `n` more octets: the buffer doubles until they fit. */
  room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const b = new Uint8Array(size);
    b.set(this.buf.subarray(0, this.pos));
    this.buf = b;
    this.dv = new DataView(b.buffer);
  }

  /** Lets a buffer grown past 16 MiB by a large batch go. */
  shrink(): void {
    if (this.buf.length <= 1 << 24) return;
    this.buf = new Uint8Array(1 << 20);
    this.dv = new DataView(this.buf.buffer);
  }
}
