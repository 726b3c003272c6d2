/**
 * A paced UDP sender for benchmarks: sends pre-encoded IPFIX messages with `sendmmsg(2)` through
 * FFI at a steady rate, fixing each message's sequence number on the way out so that the
 * receiver sees one unbroken stream.
 *
 * @module
 */

// Linux constants (x86_64 and aarch64).
const AF_INET = 2;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SO_SNDBUF = 7;
const EAGAIN = 11;
const ENOBUFS = 105;
const ECONNREFUSED = 111;
const MMSGHDR_SIZE = 64;
const IOVEC_SIZE = 16;

/** The libc functions the sender calls, each with its C prototype. */
const SYMBOLS = {
  /** int socket(int domain, int type, int protocol); */
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  /** int connect(int sockfd, const struct sockaddr *addr, socklen_t addrlen); */
  connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  /** int setsockopt(int sockfd, int level, int optname, const void *optval, socklen_t optlen); */
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  /** int sendmmsg(int sockfd, struct mmsghdr *msgvec, unsigned int vlen, int flags); */
  sendmmsg: { parameters: ["i32", "pointer", "u32", "i32"], result: "i32" },
  /** int close(int fd); */
  close: { parameters: ["i32"], result: "i32" },
  /** int *__errno_location(void); */
  __errno_location: { parameters: [], result: "pointer" },
} as const;

/** What a {@link UdpSender} did. */
export interface SendResult {
  datagrams: number;
  records: number;
  seconds: number;
  /** Datagrams the kernel refused (ENOBUFS, ECONNREFUSED); not counted as sent. */
  refused: number;
}

/**
 * Sends a fixed set of messages round and round to one IPv4 address.
 *
 * @example
 * ```ts
 * import { antreaFlowTemplate, compileTemplate, MessageEncoder } from "../../src/ipfix/mod.ts";
 * import { antreaRecords } from "./_antrea_records.ts";
 * const t = compileTemplate(antreaFlowTemplate(4));
 * const enc = new MessageEncoder({ observationDomainId: 1, maxMessageSize: 1452 });
 * enc.addTemplate(t.template);
 * for (const r of antreaRecords(100)) enc.addRecord(t, r);
 * const messages = enc.flush();
 * const tx = new UdpSender("127.0.0.1", 4739, messages.map((m) => m.bytes), messages.map((m) => m.recordCount));
 * const r = tx.send({ rate: 50_000, seconds: 2 }); // 100k datagrams, paced
 * console.log(r.datagrams / r.seconds);
 * tx.close();
 * ```
 */
export class UdpSender {
  readonly #lib: Deno.DynamicLibrary<typeof SYMBOLS>;
  readonly #fd: number;
  readonly #data: DataView;
  readonly #offsets: number[];
  readonly #counts: number[];
  readonly #ptrs: Deno.PointerValue[];
  #seq = 0;
  #next = 0;
  #closed = false;

  /** `messages` are IPFIX messages; `records[i]` is the number of data records in message i. */
  constructor(host: string, port: number, messages: Uint8Array[], records: number[]) {
    if (messages.length === 0 || messages.length !== records.length) {
      throw new RangeError("Expected one or more messages, each with its record count");
    }
    this.#lib = Deno.dlopen("libc.so.6", SYMBOLS);
    const c = this.#lib.symbols;
    const total = messages.reduce((n, m) => n + m.length, 0);
    const data = new Uint8Array(new ArrayBuffer(total));
    this.#data = new DataView(data.buffer);
    this.#offsets = [];
    let o = 0;
    for (const m of messages) {
      data.set(m, o);
      this.#offsets.push(o);
      o += m.length;
    }
    this.#counts = records;
    const n = messages.length;
    const iov = new DataView(new ArrayBuffer(n * IOVEC_SIZE));
    this.#iov = iov;
    // One extra batch of headers past the end, repeating the first ones, so a batch never wraps.
    const hdrs = new DataView(new ArrayBuffer((n + 64) * MMSGHDR_SIZE));
    const dataPtr = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(data.buffer)));
    const iovPtr = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(iov.buffer)));
    for (let i = 0; i < n; i++) {
      iov.setBigUint64(i * IOVEC_SIZE, dataPtr + BigInt(this.#offsets[i]!), true);
      iov.setBigUint64(i * IOVEC_SIZE + 8, BigInt(messages[i]!.length), true);
    }
    for (let i = 0; i < n + 64; i++) {
      const m = i * MMSGHDR_SIZE;
      hdrs.setBigUint64(m + 16, iovPtr + BigInt((i % n) * IOVEC_SIZE), true);
      hdrs.setBigUint64(m + 24, 1n, true);
    }
    // A pointer to each header, made once: the send loop allocates nothing.
    const hdrBase = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(hdrs.buffer)));
    this.#ptrs = Array.from(
      { length: n },
      (_, i) => Deno.UnsafePointer.create(hdrBase + BigInt(i * MMSGHDR_SIZE)),
    );
    this.#hdrs = hdrs;
    const parts = host.split(".").map(Number);
    if (parts.length !== 4 || parts.some((p) => !(p >= 0 && p <= 255))) {
      this.#lib.close();
      throw new TypeError(`Invalid IPv4 address "${host}"`);
    }
    const fd = c.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      const e = this.#errno();
      this.#lib.close();
      throw new Error(`socket failed: errno ${e}`);
    }
    this.#fd = fd;
    const opt = new Uint8Array(new ArrayBuffer(8));
    new DataView(opt.buffer).setInt32(0, 4 << 20, true);
    c.setsockopt(fd, SOL_SOCKET, SO_SNDBUF, opt, 4);
    const sa = new Uint8Array(new ArrayBuffer(16));
    const sv = new DataView(sa.buffer);
    sv.setUint16(0, AF_INET, true);
    sv.setUint16(2, port);
    parts.forEach((p, i) => (sa[4 + i] = p));
    if (c.connect(fd, sa, 16) < 0) {
      const e = this.#errno();
      this.close();
      throw new Error(`connect failed: errno ${e}`);
    }
  }

  // Only the kernel reads these, through pointers: keep them alive as long as the sender.
  readonly #hdrs: DataView;
  readonly #iov: DataView;

  /** Sends the next `count` messages as fast as the socket takes them; returns how many went. */
  sendNext(count: number): number {
    let sent = 0;
    while (sent < count) {
      const k = this.#sendBatch(Math.min(64, count - sent));
      if (k > 0) sent += k;
    }
    return sent;
  }

  /**
   * Sends `rate × seconds` messages at `rate` per second, in batches of at most `batch` (16),
   * spinning between batches to keep the pace even. A late sender catches up, so `seconds` in
   * the result may be longer than asked: the achieved rate is `datagrams / seconds`.
   */
  send(opts: { rate: number; seconds: number; batch?: number }): SendResult {
    const batch = opts.batch ?? 16;
    const total = Math.round(opts.rate * opts.seconds);
    const perMs = opts.rate / 1000;
    const counts = this.#counts;
    const n = counts.length;
    let done = 0;
    let records = 0;
    let refused = 0;
    const start = performance.now();
    while (done < total) {
      const due = Math.min(Math.floor((performance.now() - start) * perMs), total) - done;
      if (due <= 0) continue;
      const want = due < batch ? due : batch;
      const first = this.#next;
      const k = this.#sendBatch(want);
      if (k > 0) {
        done += k;
        for (let i = 0; i < k; i++) records += counts[(first + i) % n]!;
      } else {
        done += want;
        refused += want;
      }
    }
    return {
      datagrams: done - refused,
      records,
      refused,
      seconds: (performance.now() - start) / 1000,
    };
  }

  /** Sends up to `want` messages from the current position; returns how many went, or -1. */
  #sendBatch(want: number): number {
    const n = this.#offsets.length;
    const first = this.#next;
    let seq = this.#seq;
    for (let i = 0; i < want; i++) {
      const j = (first + i) % n;
      this.#data.setUint32(this.#offsets[j]! + 8, seq);
      seq = (seq + this.#counts[j]!) >>> 0;
    }
    const k = this.#lib.symbols.sendmmsg(this.#fd, this.#ptrs[first]!, want, 0);
    if (k < 0) {
      const e = this.#errno();
      if (e !== EAGAIN && e !== ENOBUFS && e !== ECONNREFUSED) {
        throw new Error(`sendmmsg failed: errno ${e}`);
      }
      // Skip these messages: the sequence numbers then show the gap to the receiver.
      for (let i = 0; i < want; i++) this.#seq = (this.#seq + this.#counts[(first + i) % n]!) >>> 0;
      this.#next = (first + want) % n;
      return -1;
    }
    for (let i = 0; i < k; i++) this.#seq = (this.#seq + this.#counts[(first + i) % n]!) >>> 0;
    this.#next = (first + k) % n;
    return k;
  }

  #errno(): number {
    const p = this.#lib.symbols.__errno_location();
    return p ? new Deno.UnsafePointerView(p).getInt32() : 0;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#lib.symbols.close(this.#fd);
    this.#lib.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
