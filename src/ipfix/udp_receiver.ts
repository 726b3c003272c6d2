/**
 * A UDP receiver that takes many datagrams per call: `recvmmsg(2)` through FFI on Linux, with
 * `Deno.listenDatagram` as the fallback elsewhere or without `--allow-ffi`.
 *
 * One `await` per datagram caps `Deno.listenDatagram` well below what a collector must take on
 * one core; `recvmmsg` on a non-blocking socket drains up to `batch` datagrams per call, and
 * only a drained socket costs an `await`: a timer while datagrams gather, or a `poll(2)` on
 * Deno's blocking thread pool when the socket stays empty. A socket whose buffer is too small for
 * a timer's lateness, with datagrams at least every millisecond, is waited for on the receiving
 * thread instead (a `poll(2)`, or a `usleep(3)` while datagrams gather): that holds the event
 * loop for about 1 ms at a time (a few ms at worst), and every YIELD_MS timers and I/O get their
 * turn.
 *
 * @module
 */

import { setImmediate } from "node:timers";
import { formatHostPort } from "./address.ts";
import { formatIPv4, formatIPv6, parseIPv4Into, parseIPv6Into } from "../net/mod.ts";

/** One received datagram. */
export interface UdpDatagram {
  /**
   * The payload. With the recvmmsg receiver it is a view of the receiver's buffer, valid until the
   * next `receive()`: copy what must outlive it.
   */
  readonly data: Uint8Array;
  /** Sender as `ip:port`, IPv6 in brackets. */
  readonly address: string;
  /**
   * With the recvmmsg receiver, a DataView that starts where `data` does and covers at least it
   * (its buffer slot's, made once), valid as long as `data`: for `decodeMessage`, which would
   * otherwise make one per datagram.
   */
  readonly view?: DataView;
}

/** Options of {@link openUdpReceiver}. */
export interface UdpReceiverOptions {
  /** Local address to bind (an IP literal for the recvmmsg receiver). */
  hostname: string;
  /** Local port; 0 picks a free one. */
  port: number;
  /**
   * Socket receive buffer to ask for, in octets; the kernel doubles it for its bookkeeping and,
   * without CAP_NET_ADMIN, caps it at `net.core.rmem_max`. The system default
   * (`net.core.rmem_default`) otherwise. recvmmsg receiver only.
   */
  rcvbuf?: number;
  /** Most datagrams taken per call (64). */
  batch?: number;
  /** Largest datagram accepted; longer ones are counted in `truncated` and skipped (65535). */
  maxDatagramSize?: number;
  /** "auto" (default): recvmmsg when FFI is allowed on Linux; "recvmmsg" or "listenDatagram". */
  mode?: "auto" | "recvmmsg" | "listenDatagram";
}

/** A bound UDP socket that hands out datagrams in batches. */
export interface UdpReceiver {
  /** Which implementation is in use. */
  readonly kind: "recvmmsg" | "listenDatagram";
  /** The bound port. */
  readonly port: number;
  /** The effective socket receive buffer in octets (as the kernel reports it), when known. */
  readonly rcvbuf: number | undefined;
  /**
   * Datagrams the kernel dropped since the socket opened because its receive buffer was full
   * (the socket's drop counter, SO_MEMINFO), if known.
   */
  readonly drops: number | undefined;
  /** Datagrams longer than `maxDatagramSize`, skipped. */
  readonly truncated: number;
  /**
   * Waits for datagrams and resolves with every one waiting (at most `batch`), or with an empty
   * array once the receiver is closed. Not to be called again before it resolves. The recvmmsg
   * receiver reuses the array, its datagrams and their payloads at the next call: copy what must
   * outlive it.
   */
  receive(): Promise<readonly UdpDatagram[]>;
  /** Closes the socket; a pending `receive()` resolves with `[]`. Safe to call twice. */
  close(): void;
  [Symbol.dispose](): void;
}

/**
 * Opens a UDP receiver.
 *
 * @example
 * ```ts
 * const rx = openUdpReceiver({ hostname: "127.0.0.1", port: 0, rcvbuf: 4 << 20 });
 * const tx = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
 * await tx.send(new Uint8Array([1, 2, 3]), { transport: "udp", hostname: "127.0.0.1", port: rx.port });
 * for (const d of await rx.receive()) console.log(d.address, d.data.length); // 127.0.0.1:… 3
 * tx.close();
 * rx.close();
 * ```
 */
export function openUdpReceiver(options: UdpReceiverOptions): UdpReceiver {
  const mode = options.mode ?? "auto";
  if (mode === "listenDatagram") return new DatagramConnReceiver(options);
  if (mode === "recvmmsg") return new RecvmmsgReceiver(options);
  if (Deno.build.os === "linux" && ffiAllowed() && ipLiteral(options.hostname)) {
    try {
      return new RecvmmsgReceiver(options);
    } catch (e) {
      // Bad options and a port in use are the caller's to see; no libc means the fallback.
      if (
        e instanceof TypeError || e instanceof RangeError || e instanceof Deno.errors.AddrInUse ||
        e instanceof Deno.errors.PermissionDenied
      ) {
        throw e;
      }
    }
  }
  return new DatagramConnReceiver(options);
}

function ffiAllowed(): boolean {
  try {
    return Deno.permissions.querySync({ name: "ffi" }).state === "granted";
  } catch {
    return false;
  }
}

function ipLiteral(host: string): boolean {
  const scratch = new Uint8Array(16);
  return parseIPv4Into(host, scratch, 0) || parseIPv6Into(host, scratch, 0);
}

/** The fallback: one datagram per `await`. */
class DatagramConnReceiver implements UdpReceiver {
  readonly kind = "listenDatagram";
  readonly port: number;
  readonly rcvbuf = undefined;
  readonly drops = undefined;
  readonly truncated = 0;
  readonly #conn: Deno.DatagramConn;
  #closed = false;

  constructor(options: UdpReceiverOptions) {
    this.#conn = Deno.listenDatagram({
      transport: "udp",
      hostname: options.hostname,
      port: options.port,
    });
    this.port = (this.#conn.addr as Deno.NetAddr).port;
  }

  async receive(): Promise<readonly UdpDatagram[]> {
    if (this.#closed) return [];
    try {
      const [data, addr] = await this.#conn.receive();
      const a = addr as Deno.NetAddr;
      return [{ data, address: formatHostPort(a.hostname, a.port) }];
    } catch (e) {
      if (this.#closed) return [];
      throw e;
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

// Linux constants (x86_64 and aarch64 agree on all of these).
const AF_INET = 2;
const AF_INET6 = 10;
const SOCK_DGRAM = 2;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SO_RCVBUF = 8;
const SO_RCVBUFFORCE = 33;
/** getsockopt: the socket's memory counters, `u32[SK_MEMINFO_VARS]` (Linux 4.12). */
const SO_MEMINFO = 55;
/** Index of the drop counter in SO_MEMINFO's array. */
const SK_MEMINFO_DROPS = 8;
/** SO_MEMINFO's array: 9 counters of 4 octets. */
const MEMINFO_SIZE = 36;
const MSG_DONTWAIT = 0x40;
const MSG_TRUNC = 0x20;
const SHUT_RDWR = 2;
const POLLIN = 1;
const EINTR = 4;
const EAGAIN = 11;
const EADDRINUSE = 98;
const EACCES = 13;
/**
 * Longest stretch of batches (and of waits on the receiving thread) before `receive()` yields to
 * the event loop.
 */
const YIELD_MS = 5;
/**
 * The shortest time `receive()` lets datagrams gather after it found the socket drained (a batch
 * short of full, or none at all), before it asks again: a timer's resolution. Also the shortest
 * time the current arrival rate is counted over.
 */
const GATHER_MS = 1;
/**
 * The longest wait for datagrams to gather: what a lightly loaded socket adds to a record's
 * latency (a quiet one waits in poll(2) and adds nothing).
 */
const MAX_GATHER_MS = 8;
/**
 * Empty asks in a row (each after a gathering wait, or a wait on the receiving thread) before
 * `receive()` waits in `poll(2)` on Deno's blocking pool instead: a quiet socket costs nothing,
 * a busy one seldom pays for that `poll`.
 */
const IDLE_ASKS = 20;
/**
 * Milliseconds of the current arrival rate the socket buffer keeps free beyond a wait to gather
 * datagrams: for a timer that fires late and a pause of the collector's own. A 1 ms timer fires
 * after about 2.1 ms here, and now and then after 4 to 7 ms (a sleeping vCPU woken late): the
 * rarest of those can still overflow a buffer kept at this margin, and GATHER_FILL then stops
 * the gathering until the stretches are short again.
 */
const GATHER_HEADROOM_MS = 5;
/**
 * Gathering also needs the datagrams taken between the last two drained asks (the most the
 * socket buffer held, at least) to have filled at most this share of the buffer: it counts the
 * asks' own delays (a timer that fired late, the decoding of the last batches), which the rate
 * alone does not.
 */
const GATHER_FILL = 0.5;
/**
 * Datagrams per millisecond from which a drained socket too busy for a gathering timer is waited
 * for on the receiving thread (a poll(2) or a short sleep of at most SHORT_GATHER_MAX_US), not in
 * poll(2) on Deno's blocking pool: a wake there costs ~17 µs of CPU in thread hand-offs, a wake
 * on the thread itself what it costs any C collector.
 */
const WAIT_HERE_RATE_PER_MS = 1;
/**
 * The longest the receiving thread sleeps (usleep) to let datagrams gather: the event loop waits
 * meanwhile.
 */
const SHORT_GATHER_MAX_US = 1000;
/**
 * Milliseconds of the arrival rate the socket buffer keeps free beyond a short sleep: a 1 ms
 * usleep(3) lasts 1.08 ms at the median here, 1.27 ms at the 99th percentile and up to 4.5 ms.
 * The rare longest can overflow a buffer kept at this margin; GATHER_FILL then stops the short
 * sleeps until the stretches are short again.
 */
const SHORT_GATHER_HEADROOM_MS = 2;
/** Arrival rate window. */
const RATE_WINDOW_MS = 50;

/**
 * Entries of the cache of IPv6 senders' text, in sets of two: room for the exporters of a
 * cluster of hundreds of nodes up to a couple of thousand (beyond, a few sets keep evicting).
 */
const V6_CACHE_SIZE = 4096;
/** A cache entry's key: 16 octets of address, 2 of port, a used mark, padding. */
const V6_KEY_SIZE = 20;

/** struct mmsghdr: struct msghdr (56 octets) + unsigned int msg_len, padded to 64. */
const MMSGHDR_SIZE = 64;
/** Octets of each datagram kept in the dense receive slots: an Ethernet frame fits. */
const SLOT = 2048;
/** struct iovec: void *iov_base; size_t iov_len. */
const IOVEC_SIZE = 16;
/** sockaddr_in6 (28 octets) rounded up. */
const NAME_SIZE = 32;

/** The libc functions the receiver calls, each with its C prototype. */
const LIBC_SYMBOLS = {
  /** int socket(int domain, int type, int protocol); */
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  /** int bind(int sockfd, const struct sockaddr *addr, socklen_t addrlen); */
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  /** int getsockname(int sockfd, struct sockaddr *addr, socklen_t *addrlen); */
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  /** int setsockopt(int sockfd, int level, int optname, const void *optval, socklen_t optlen); */
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  /** int getsockopt(int sockfd, int level, int optname, void *optval, socklen_t *optlen); */
  getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
  /**
   * int recvmmsg(int sockfd, struct mmsghdr *msgvec, unsigned int vlen, int flags,
   *              struct timespec *timeout);
   */
  recvmmsg: { parameters: ["i32", "buffer", "u32", "i32", "pointer"], result: "i32" },
  /** int poll(struct pollfd *fds, nfds_t nfds, int timeout); run on a blocking thread. */
  poll: { parameters: ["buffer", "u64", "i32"], result: "i32", nonblocking: true },
  /** The same poll(2), on the calling thread. */
  pollHere: { name: "poll", parameters: ["buffer", "u64", "i32"], result: "i32" },
  /** int usleep(useconds_t usec); on the calling thread. */
  usleep: { parameters: ["u32"], result: "i32" },
  /** int shutdown(int sockfd, int how); wakes a pending poll, even on a UDP socket. */
  shutdown: { parameters: ["i32", "i32"], result: "i32" },
  /** int close(int fd); */
  close: { parameters: ["i32"], result: "i32" },
  /** int *__errno_location(void); */
  __errno_location: { parameters: [], result: "pointer" },
} as const;

type Libc = Deno.DynamicLibrary<typeof LIBC_SYMBOLS>["symbols"];
let libc: Libc | undefined;

function openLibc(): Libc {
  libc ??= Deno.dlopen("libc.so.6", LIBC_SYMBOLS).symbols;
  return libc;
}

function errno(c: Libc): number {
  const p = c.__errno_location();
  return p ? new Deno.UnsafePointerView(p).getInt32() : 0;
}

function sysError(c: Libc, what: string): Error {
  const code = errno(c);
  const message = `${what} failed: errno ${code}`;
  if (code === EADDRINUSE) return new Deno.errors.AddrInUse(message);
  if (code === EACCES) return new Deno.errors.PermissionDenied(message);
  return new Error(message);
}

function ptrValue(buf: ArrayBuffer): bigint {
  return BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(buf)));
}

/**
 * Datagrams of `length` octets that a socket buffer of `rcvbuf` octets (as SO_RCVBUF reports it)
 * holds: the kernel charges each its allocation (a power of two at least 512 octets more than
 * the payload) and about 512 octets of bookkeeping.
 */
export function socketBufferCapacity(rcvbuf: number, length: number): number {
  let alloc = 1024;
  while (alloc < length + 512) alloc *= 2;
  return Math.floor(rcvbuf / (alloc + 512));
}

/**
 * How long (ms) a receiver that found its socket drained can let datagrams gather before it asks
 * again, for a socket buffer of `capacity` datagrams, an arrival rate of `ratePerMs` datagrams per
 * millisecond, and `lastFill` datagrams taken between the last two drained asks: 0 (ask again at
 * once) to MAX_GATHER_MS.
 */
export function gatherWaitMs(capacity: number, ratePerMs: number, lastFill: number): number {
  if (!(lastFill <= GATHER_FILL * capacity)) return 0;
  // The buffer holds `span` ms of the current rate. The wait leaves GATHER_HEADROOM_MS of it
  // for a late timer and the decoding, and half of the rest unused.
  const span = capacity / ratePerMs;
  if (!(span >= GATHER_HEADROOM_MS + 2 * GATHER_MS)) return 0;
  return Math.min(MAX_GATHER_MS, Math.floor((span - GATHER_HEADROOM_MS) / 2));
}

/**
 * How long (µs) a receiver whose socket buffer is too small for a gathering timer can sleep on
 * its own thread to let datagrams gather, with the same arguments as {@link gatherWaitMs}: half
 * of what the buffer holds beyond SHORT_GATHER_HEADROOM_MS, at most SHORT_GATHER_MAX_US; 0 when
 * that is under a quarter of a millisecond (then it waits for the next datagram instead).
 */
export function shortGatherUs(capacity: number, ratePerMs: number, lastFill: number): number {
  if (!(lastFill <= GATHER_FILL * capacity)) return 0;
  const us = (capacity / ratePerMs - SHORT_GATHER_HEADROOM_MS) * 500;
  if (!(us >= 250)) return 0;
  return Math.min(SHORT_GATHER_MAX_US, Math.floor(us));
}

/** Whether datagrams come often enough to be waited for on the receiving thread. */
function waitsHere(ratePerMs: number): boolean {
  return Number.isFinite(ratePerMs) && ratePerMs >= WAIT_HERE_RATE_PER_MS;
}

/**
 * recvmmsg on a non-blocking socket; a timer, or a short sleep on its thread, lets datagrams
 * gather in its buffer; poll(2) waits when it stays empty.
 */
class RecvmmsgReceiver implements UdpReceiver {
  readonly kind = "recvmmsg";
  readonly port: number;
  readonly rcvbuf: number | undefined;
  truncated = 0;
  readonly #c: Libc;
  readonly #fd: number;
  readonly #batch: number;
  readonly #max: number;
  readonly #data: Uint8Array;
  readonly #overflow: Uint8Array;
  readonly #names: Uint8Array;
  readonly #hdrs: Uint8Array;
  readonly #hdrView: DataView;
  /** SO_MEMINFO's answer and its length. */
  readonly #meminfo = new Uint8Array(new ArrayBuffer(MEMINFO_SIZE));
  readonly #meminfoView = new DataView(this.#meminfo.buffer);
  readonly #meminfoLen = new Uint8Array(new ArrayBuffer(8));
  readonly #meminfoLenView = new DataView(this.#meminfoLen.buffer);
  #hasMeminfo: boolean;
  #lastDrops = 0;
  /** The iovecs: only the kernel reads them, but they must live as long as the headers. */
  readonly #iov: DataView;
  readonly #pollfd: Uint8Array;
  readonly #addresses = new Map<number, string>();
  /** IPv6 senders seen lately: address, port and a used mark per entry, and their text. */
  readonly #v6Keys = new Uint8Array(V6_CACHE_SIZE * V6_KEY_SIZE);
  readonly #v6Text: string[] = Array.from({ length: V6_CACHE_SIZE }, () => "");
  /**
   * What `receive()` hands out, reused from batch to batch (a busy collector takes hundreds of
   * thousands of datagrams a second, and each new object or view is garbage to collect): the
   * array, a datagram per slot, and each slot's last payload view, kept while datagrams there
   * have its length.
   */
  readonly #out: UdpDatagram[] = [];
  readonly #slots: { data: Uint8Array; address: string; view: DataView | undefined }[];
  readonly #views: Uint8Array[];
  /** A DataView of each slot, made once. */
  readonly #slotViews: DataView[];
  #polling: Promise<number> | null = null;
  #lastYield = 0;
  /** The last ask left the socket empty: let datagrams gather (gatherWaitMs) before the next. */
  #drained = false;
  /** When the socket was last found drained. */
  #drainedAt = 0;
  /** Empty asks in a row. */
  #idle = 0;
  /** Datagrams taken since the socket was last found drained, and in the last such stretch. */
  #fill = 0;
  #lastFill = 0;
  /**
   * Datagrams per millisecond lately (Infinity: unknown, until a window with datagrams has been
   * counted, and again after a quiet spell), and the window being counted.
   */
  #ratePerMs = Infinity;
  #windowStart = performance.now();
  #windowCount = 0;
  /**
   * Mean length of the datagrams lately: that of a batch of longer ones at once, a slow decay
   * towards shorter ones (a short template datagram does not make the buffer seem larger).
   */
  #meanLength = 1500;

  #closed = false;
  #fdClosed = false;

  constructor(options: UdpReceiverOptions) {
    this.#batch = options.batch ?? 64;
    this.#max = options.maxDatagramSize ?? 65535;
    if (!Number.isInteger(this.#batch) || this.#batch < 1 || this.#batch > 1024) {
      throw new RangeError(`Invalid batch ${this.#batch}: expected 1 to 1024`);
    }
    if (!Number.isInteger(this.#max) || this.#max < 1 || this.#max > 65535) {
      throw new RangeError(`Invalid datagram size ${this.#max}: expected 1 to 65535`);
    }
    const addr = new Uint8Array(new ArrayBuffer(NAME_SIZE));
    const adv = new DataView(addr.buffer);
    let family: number;
    let addrLen: number;
    if (parseIPv4Into(options.hostname, addr, 4)) {
      family = AF_INET;
      addrLen = 16;
    } else if (parseIPv6Into(options.hostname, addr, 8)) {
      family = AF_INET6;
      addrLen = 28;
    } else {
      throw new TypeError(`Invalid address "${options.hostname}": expected an IP address`);
    }
    if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65535) {
      throw new RangeError(`Invalid port ${options.port}: expected 0 to 65535`);
    }
    const c = openLibc();
    this.#c = c;
    adv.setUint16(0, family, true);
    adv.setUint16(2, options.port);
    const fd = c.socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) throw sysError(c, "socket");
    this.#fd = fd;
    try {
      const opt = new Uint8Array(new ArrayBuffer(8));
      const optView = new DataView(opt.buffer);
      if (options.rcvbuf !== undefined) {
        optView.setInt32(0, options.rcvbuf, true);
        // SO_RCVBUFFORCE passes net.core.rmem_max with CAP_NET_ADMIN; SO_RCVBUF otherwise.
        if (
          c.setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, opt, 4) < 0 &&
          c.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, opt, 4) < 0
        ) {
          throw sysError(c, "setsockopt");
        }
      }
      if (c.bind(fd, addr, addrLen) < 0) throw sysError(c, "bind");
      const len = new Uint8Array(new ArrayBuffer(8));
      new DataView(len.buffer).setUint32(0, NAME_SIZE, true);
      if (c.getsockname(fd, addr, len) < 0) throw sysError(c, "getsockname");
      this.port = adv.getUint16(2);
      new DataView(len.buffer).setUint32(0, 4, true);
      this.rcvbuf = c.getsockopt(fd, SOL_SOCKET, SO_RCVBUF, opt, len) === 0
        ? optView.getInt32(0, true)
        : undefined;
      this.#hasMeminfo = this.#readDrops(c, fd);
    } catch (e) {
      c.close(fd);
      throw e;
    }
    const n = this.#batch;
    // Each region is its own ArrayBuffer: off-heap, so its address never moves.
    // Datagrams land in dense slots of SLOT octets; the rest of a longer one goes to an overflow
    // slot of its own (address space only until used). Slots 64 KiB apart would all map to the
    // same CPU cache sets.
    const over = Math.max(0, this.#max - SLOT);
    this.#data = new Uint8Array(new ArrayBuffer(n * SLOT));
    this.#overflow = new Uint8Array(new ArrayBuffer(Math.max(1, n * over)));
    this.#names = new Uint8Array(new ArrayBuffer(n * NAME_SIZE));
    const iov = new DataView(new ArrayBuffer(n * 2 * IOVEC_SIZE));
    this.#iov = iov;
    this.#hdrs = new Uint8Array(new ArrayBuffer(n * MMSGHDR_SIZE));
    this.#views = Array.from({ length: n }, (_, i) => this.#data.subarray(i * SLOT, i * SLOT));
    this.#slotViews = this.#views.map((v) => new DataView(v.buffer, v.byteOffset, SLOT));
    this.#slots = this.#views.map((data) => ({ data, address: "", view: undefined }));
    this.#hdrView = new DataView(this.#hdrs.buffer);
    const dataPtr = ptrValue(this.#data.buffer as ArrayBuffer);
    const overPtr = ptrValue(this.#overflow.buffer as ArrayBuffer);
    const namePtr = ptrValue(this.#names.buffer as ArrayBuffer);
    const iovPtr = ptrValue(iov.buffer as ArrayBuffer);
    const h = this.#hdrView;
    for (let i = 0; i < n; i++) {
      const v = 2 * i * IOVEC_SIZE;
      iov.setBigUint64(v, dataPtr + BigInt(i * SLOT), true);
      iov.setBigUint64(v + 8, BigInt(Math.min(SLOT, this.#max)), true);
      iov.setBigUint64(v + 16, overPtr + BigInt(i * over), true);
      iov.setBigUint64(v + 24, BigInt(over), true);
      const m = i * MMSGHDR_SIZE;
      h.setBigUint64(m, namePtr + BigInt(i * NAME_SIZE), true); // msg_name
      h.setUint32(m + 8, NAME_SIZE, true); // msg_namelen
      h.setBigUint64(m + 16, iovPtr + BigInt(2 * i * IOVEC_SIZE), true); // msg_iov
      h.setBigUint64(m + 24, over > 0 ? 2n : 1n, true); // msg_iovlen
      // msg_control and msg_controllen stay 0: the drop counter is read with SO_MEMINFO, not
      // from a control message per datagram (that cost ~3 % of a busy collector's CPU).
    }
    this.#pollfd = new Uint8Array(new ArrayBuffer(8));
    const pv = new DataView(this.#pollfd.buffer);
    pv.setInt32(0, fd, true);
    pv.setInt16(4, POLLIN, true);
  }

  async receive(): Promise<readonly UdpDatagram[]> {
    const c = this.#c;
    while (!this.#closed) {
      // A busy socket would never let `receive()` wait: every YIELD_MS, give timers and other
      // I/O their turn (#yield).
      //
      // A socket found drained is asked again a few milliseconds later (gatherWaitMs), when the
      // datagrams of that time can be taken in a few calls: waking from poll(2) on Deno's
      // blocking pool for every few datagrams cost more than decoding them (a collector taking
      // 300k records/s spent 17 µs of CPU a datagram, 88 % of its core, waking; 500k took the
      // whole core). Only while the socket buffer holds the wait with room to spare (a default
      // 208 KiB buffer holds ~80 full-size datagrams). A buffer too small for a timer's
      // lateness, with datagrams coming at least every millisecond, is waited for on this thread:
      // a usleep(3) of at most 1 ms while datagrams gather if the buffer allows it, else a
      // poll(2) that returns with the next datagram (at most 1 ms); so is a socket found empty.
      // Otherwise an empty socket is waited for in poll(2) on Deno's blocking pool.
      if (this.#drained) {
        this.#drained = false;
        const rate = this.#rate();
        const capacity = this.#capacity();
        // The time the caller took since the socket was found drained counts towards the wait.
        const elapsed = performance.now() - this.#drainedAt;
        const wait = gatherWaitMs(capacity, rate, this.#lastFill) - elapsed;
        if (wait > 0) {
          await new Promise((resolve) =>
            setTimeout(resolve, Math.max(GATHER_MS, Math.floor(wait)))
          );
          this.#lastYield = performance.now();
          continue;
        }
        if (waitsHere(rate)) {
          // A wait that would end past the next turn of the event loop yields first.
          if (this.#turnDue(1)) {
            this.#drained = true;
            await this.#yield();
            continue;
          }
          const us = shortGatherUs(capacity, rate, this.#lastFill) - elapsed * 1000;
          if (us >= 100) c.usleep(Math.floor(us));
          else c.pollHere(this.#pollfd, 1n, 1);
        }
      }
      if (this.#turnDue(0)) {
        await this.#yield();
        continue;
      }
      const n = c.recvmmsg(this.#fd, this.#hdrs, this.#batch, MSG_DONTWAIT, null);
      if (n > 0) {
        this.#idle = 0;
        this.#fill += n;
        if (n < this.#batch) this.#markDrained();
        const got = this.#collect(n);
        // A batch of only over-long datagrams (skipped) is not the end: [] means closed.
        if (got.length > 0) return got;
        continue;
      }
      const code = n < 0 ? errno(c) : EAGAIN;
      if (code === EINTR) continue;
      if (code !== EAGAIN) {
        if (this.#closed) break;
        throw new Error(`recvmmsg failed: errno ${code}`);
      }
      this.#endStretch();
      if (++this.#idle <= IDLE_ASKS) {
        const rate = this.#rate();
        if (gatherWaitMs(this.#capacity(), rate, this.#lastFill) > 0) {
          this.#markDrained();
          continue;
        }
        if (waitsHere(rate)) {
          if (this.#turnDue(1)) {
            await this.#yield();
            continue;
          }
          // A millisecond without a datagram: the rate counted says nothing any more.
          if (c.pollHere(this.#pollfd, 1n, 1) > 0) continue;
        }
      }
      this.#idle = 0;
      const waitStart = performance.now();
      this.#polling = c.poll(this.#pollfd, 1n, 1000);
      await this.#polling;
      this.#polling = null;
      this.#lastYield = performance.now();
      if (this.#lastYield - waitStart >= RATE_WINDOW_MS) {
        // After a quiet spell the rate counted before it says nothing of what comes next.
        this.#ratePerMs = Infinity;
        this.#windowStart = this.#lastYield;
        this.#windowCount = 0;
      }
    }
    this.#closeFd();
    return [];
  }

  /**
   * Gives timers and I/O their turn. An awaited FFI call on Deno's blocking pool lets I/O in (a
   * setImmediate turn alone does not: an HTTP request to the same process took 0.9 s while a
   * loop yielded with setImmediate every 5 ms, 16 ms with this), and setImmediate lets timers in.
   * About 0.3 ms.
   */
  async #yield(): Promise<void> {
    this.#polling = this.#c.poll(this.#pollfd, 1n, 0);
    await this.#polling;
    this.#polling = null;
    if (!this.#closed) await new Promise((resolve) => setImmediate(resolve));
    this.#lastYield = performance.now();
  }

  /** Datagrams per millisecond lately: the last window's rate or the current one's, the higher. */
  #rate(): number {
    const now = performance.now();
    if (now - this.#windowStart >= RATE_WINDOW_MS) {
      // A window without datagrams: a quiet spell, after which the rate is unknown.
      this.#ratePerMs = this.#windowCount === 0
        ? Infinity
        : this.#windowCount / (now - this.#windowStart);
      this.#windowStart = now;
      this.#windowCount = 0;
    }
    const current = this.#windowCount / Math.max(now - this.#windowStart, GATHER_MS);
    return Math.max(this.#ratePerMs, current);
  }

  /** Whether the event loop's turn is due within `aheadMs` (YIELD_MS after the last). */
  #turnDue(aheadMs: number): boolean {
    return performance.now() + aheadMs - this.#lastYield >= YIELD_MS;
  }

  /** Datagrams the socket buffer holds lately (0 when its size is unknown: no gathering). */
  #capacity(): number {
    return this.rcvbuf === undefined ? 0 : socketBufferCapacity(this.rcvbuf, this.#meanLength);
  }

  /** The socket was found drained: let datagrams gather before the next ask. */
  #markDrained(): void {
    this.#drained = true;
    this.#drainedAt = performance.now();
    this.#endStretch();
  }

  /** The stretch of datagrams taken since the socket was last found drained ends. */
  #endStretch(): void {
    if (this.#fill > 0) {
      this.#lastFill = this.#fill;
      this.#fill = 0;
    }
  }

  /** One getsockopt(2) per read, until the socket is closed; the last count after. */
  get drops(): number | undefined {
    if (!this.#hasMeminfo) return undefined;
    if (!this.#fdClosed) this.#readDrops(this.#c, this.#fd);
    return this.#lastDrops;
  }

  /** Reads the socket's drop counter into #lastDrops; false when SO_MEMINFO fails. */
  #readDrops(c: Libc, fd: number): boolean {
    this.#meminfoLenView.setUint32(0, MEMINFO_SIZE, true);
    if (c.getsockopt(fd, SOL_SOCKET, SO_MEMINFO, this.#meminfo, this.#meminfoLen) !== 0) {
      return false;
    }
    this.#lastDrops = this.#meminfoView.getUint32(4 * SK_MEMINFO_DROPS, true);
    return true;
  }

  #collect(n: number): UdpDatagram[] {
    this.#windowCount += n;
    let octets = 0;
    const h = this.#hdrView;
    const names = this.#names;
    const out = this.#out;
    let kept = 0;
    for (let i = 0; i < n; i++) {
      const m = i * MMSGHDR_SIZE;
      const len = h.getUint32(m + 56, true);
      const flags = h.getInt32(m + 48, true);
      h.setUint32(m + 8, NAME_SIZE, true);
      octets += len;
      if (flags & MSG_TRUNC) {
        this.truncated++;
        continue;
      }
      const d = this.#slots[i]!;
      d.data = this.#payload(i, len);
      d.address = this.#address(i, names);
      d.view = len <= SLOT ? this.#slotViews[i] : undefined;
      out[kept++] = d;
    }
    out.length = kept;
    const mean = octets / n;
    this.#meanLength = Math.max(mean, this.#meanLength - (this.#meanLength - mean) / 16);
    return out;
  }

  #payload(i: number, len: number): Uint8Array {
    const start = i * SLOT;
    if (len <= SLOT) {
      const last = this.#views[i]!;
      if (last.length === len) return last;
      return this.#views[i] = this.#data.subarray(start, start + len);
    }
    const whole = new Uint8Array(len);
    whole.set(this.#data.subarray(start, start + SLOT));
    const over = this.#max - SLOT;
    whole.set(this.#overflow.subarray(i * over, i * over + len - SLOT), SLOT);
    return whole;
  }

  #address(i: number, names: Uint8Array): string {
    const o = i * NAME_SIZE;
    const family = names[o]! | (names[o + 1]! << 8);
    const port = (names[o + 2]! << 8) | names[o + 3]!;
    if (family !== AF_INET) return this.#address6(names, o, port);
    const key = (((names[o + 4]! << 24) | (names[o + 5]! << 16) | (names[o + 6]! << 8) |
          names[o + 7]!) >>> 0) * 65536 + port;
    let s = this.#addresses.get(key);
    if (s === undefined) {
      if (this.#addresses.size >= 65536) this.#addresses.clear();
      s = `${formatIPv4(names, o + 4)}:${port}`;
      this.#addresses.set(key, s);
    }
    return s;
  }

  /**
   * The text of an IPv6 sender (sockaddr_in6 at `o`), from a two-way set associative cache keyed
   * by its address and port (the most recently added entry of a set first): formatting one costs
   * more than decoding a record.
   */
  #address6(names: Uint8Array, o: number, port: number): string {
    let h = port;
    for (let k = o + 8; k < o + 24; k += 4) {
      h = Math.imul(
        h ^ (names[k]! | (names[k + 1]! << 8) | (names[k + 2]! << 16) | (names[k + 3]! << 24)),
        0x01000193,
      );
    }
    const idx = (h ^ (h >>> 16)) & (V6_CACHE_SIZE - 2);
    if (this.#v6Holds(idx, names, o)) return this.#v6Text[idx]!;
    if (this.#v6Holds(idx + 1, names, o)) return this.#v6Text[idx + 1]!;
    const s = formatHostPort(formatIPv6(names, o + 8), port);
    const keys = this.#v6Keys;
    const base = idx * V6_KEY_SIZE;
    keys.copyWithin(base + V6_KEY_SIZE, base, base + V6_KEY_SIZE);
    this.#v6Text[idx + 1] = this.#v6Text[idx]!;
    keys.set(names.subarray(o + 8, o + 24), base);
    keys[base + 16] = names[o + 2]!;
    keys[base + 17] = names[o + 3]!;
    keys[base + 18] = 1;
    this.#v6Text[idx] = s;
    return s;
  }

  /** Whether cache entry `idx` holds the address and port of the sockaddr_in6 at `o`. */
  #v6Holds(idx: number, names: Uint8Array, o: number): boolean {
    const keys = this.#v6Keys;
    const base = idx * V6_KEY_SIZE;
    if (
      keys[base + 18] !== 1 || keys[base + 16] !== names[o + 2] ||
      keys[base + 17] !== names[o + 3]
    ) {
      return false;
    }
    for (let k = 0; k < 16; k++) if (keys[base + k] !== names[o + 8 + k]) return false;
    return true;
  }

  close(): void {
    if (this.#closed) return;
    // The count as it stands at close stays readable.
    void this.drops;
    this.#closed = true;
    // Wakes a poll in flight; the receive loop then closes the descriptor.
    this.#c.shutdown(this.#fd, SHUT_RDWR);
    if (!this.#polling) this.#closeFd();
  }

  #closeFd(): void {
    if (this.#fdClosed) return;
    this.#fdClosed = true;
    this.#c.close(this.#fd);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
