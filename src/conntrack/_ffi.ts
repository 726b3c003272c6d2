/**
 * The FFI binding to libnetfilter_conntrack.so.3: the only `Deno.dlopen` of flowvis.
 *
 * Every symbol is declared with its C prototype. Symbols take and return plain numbers and
 * pointers and are synchronous (`nonblocking: false`), so V8 can use fast calls for the
 * per-entry getters. `__errno_location` and `strerror` come from libc through the same handle:
 * `dlsym` on a library handle also searches that library's dependencies (libc is one), so no
 * second `dlopen` is needed to read errno.
 *
 * Enum values are those of libnetfilter_conntrack's public header
 * (include/libnetfilter_conntrack/libnetfilter_conntrack.h) and of the kernel's
 * include/uapi/linux/netfilter/nf_conntrack_common.h and nf_conntrack_tcp.h; each was checked
 * against entries created with `conntrack -I` and listed with `conntrack -L` (tests/conntrack_test.ts).
 *
 * @module
 */

/** The library's soname, as the Debian package libnetfilter-conntrack3 installs it. */
export const LIBRARY_NAME = "libnetfilter_conntrack.so.3";

const SYMBOLS = {
  // struct nfct_handle *nfct_open(uint8_t subsys_id, unsigned int subscriptions);
  nfct_open: { parameters: ["u8", "u32"], result: "pointer", nonblocking: false },
  // int nfct_close(struct nfct_handle *cth);
  nfct_close: { parameters: ["pointer"], result: "i32", nonblocking: false },
  // int nfct_callback_register(struct nfct_handle *h, enum nf_conntrack_msg_type type,
  //     int (*cb)(enum nf_conntrack_msg_type type, struct nf_conntrack *ct, void *data),
  //     void *data);
  nfct_callback_register: {
    parameters: ["pointer", "u32", "function", "pointer"],
    result: "i32",
    nonblocking: false,
  },
  // int nfct_query(struct nfct_handle *h, const enum nf_conntrack_query query, const void *data);
  // Runs the registered callback synchronously, once per entry, before it returns.
  nfct_query: { parameters: ["pointer", "u32", "buffer"], result: "i32", nonblocking: false },
  // uint8_t nfct_get_attr_u8(const struct nf_conntrack *ct, const enum nf_conntrack_attr type);
  nfct_get_attr_u8: { parameters: ["pointer", "u32"], result: "u8", nonblocking: false },
  // uint16_t nfct_get_attr_u16(const struct nf_conntrack *ct, const enum nf_conntrack_attr type);
  nfct_get_attr_u16: { parameters: ["pointer", "u32"], result: "u16", nonblocking: false },
  // uint32_t nfct_get_attr_u32(const struct nf_conntrack *ct, const enum nf_conntrack_attr type);
  nfct_get_attr_u32: { parameters: ["pointer", "u32"], result: "u32", nonblocking: false },
  // uint64_t nfct_get_attr_u64(const struct nf_conntrack *ct, const enum nf_conntrack_attr type);
  nfct_get_attr_u64: { parameters: ["pointer", "u32"], result: "u64", nonblocking: false },
  // const void *nfct_get_attr(const struct nf_conntrack *ct, const enum nf_conntrack_attr type);
  // NULL (errno ENODATA) when the attribute is not set.
  nfct_get_attr: { parameters: ["pointer", "u32"], result: "pointer", nonblocking: false },
  // int nfct_get_attr_grp(const struct nf_conntrack *ct, const enum nf_conntrack_attr_grp type,
  //     void *data);
  // Copies a group of attributes into `data`; -1 (errno ENODATA) unless all of them are set.
  nfct_get_attr_grp: {
    parameters: ["pointer", "u32", "buffer"],
    result: "i32",
    nonblocking: false,
  },
  // int nfct_attr_is_set(const struct nf_conntrack *ct, const enum nf_conntrack_attr type);
  nfct_attr_is_set: { parameters: ["pointer", "u32"], result: "i32", nonblocking: false },
  // From libc, a dependency of the library. int *__errno_location(void);
  __errno_location: { parameters: [], result: "pointer", nonblocking: false },
  // From libc. char *strerror(int errnum);
  strerror: { parameters: ["i32"], result: "pointer", nonblocking: false },
  // From libc, for the sysctls under /proc/sys, which Deno's file API opens only to
  // --allow-all. FILE *fopen(const char *pathname, const char *mode);
  fopen: { parameters: ["buffer", "buffer"], result: "pointer", nonblocking: false },
  // char *fgets(char *s, int size, FILE *stream);
  fgets: { parameters: ["buffer", "i32", "pointer"], result: "pointer", nonblocking: false },
  // int fputs(const char *s, FILE *stream);
  fputs: { parameters: ["buffer", "pointer"], result: "i32", nonblocking: false },
  // int fclose(FILE *stream);
  fclose: { parameters: ["pointer"], result: "i32", nonblocking: false },
} as const satisfies Deno.ForeignLibraryInterface;

/** The bound symbols. */
export type Symbols = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

// enum { CONNTRACK = NFNL_SUBSYS_CTNETLINK } (linux/netfilter/nfnetlink.h: NFNL_SUBSYS_CTNETLINK 1)
export const CONNTRACK = 1;

// enum nf_conntrack_query
export const NFCT_Q_DUMP = 5;

// enum nf_conntrack_msg_type
export const NFCT_T_ALL = 7; // NFCT_T_NEW | NFCT_T_UPDATE | NFCT_T_DESTROY

// Callback verdict: go on with the dump (the callback never stops one, see conntrack.ts).
export const NFCT_CB_CONTINUE = 1;

// enum nf_conntrack_attr: the attributes flowvis reads.
export const ATTR_ORIG_IPV4_SRC = 0; // u32, network byte order
export const ATTR_ORIG_IPV4_DST = 1;
export const ATTR_REPL_IPV4_SRC = 2;
export const ATTR_REPL_IPV4_DST = 3;
export const ATTR_ORIG_PORT_SRC = 8; // u16, network byte order
export const ATTR_ORIG_PORT_DST = 9;
export const ATTR_REPL_PORT_SRC = 10;
export const ATTR_REPL_PORT_DST = 11;
export const ATTR_ICMP_TYPE = 12; // u8
export const ATTR_ICMP_CODE = 13; // u8
export const ATTR_ICMP_ID = 14; // u16, network byte order
export const ATTR_ORIG_L3PROTO = 15; // u8: AF_INET 2, AF_INET6 10
export const ATTR_ORIG_L4PROTO = 17; // u8: IPPROTO_*
export const ATTR_TCP_STATE = 19; // u8: enum tcp_conntrack
export const ATTR_TIMEOUT = 24; // u32, seconds
export const ATTR_MARK = 25; // u32
export const ATTR_ID = 31; // u32
export const ATTR_STATUS = 32; // u32: IPS_* bits
export const ATTR_ZONE = 61; // u16
export const ATTR_TIMESTAMP_START = 63; // u64, ns since the epoch
export const ATTR_TIMESTAMP_STOP = 64; // u64
export const ATTR_CONNLABELS = 66; // struct nfct_bitmask { unsigned int words; uint32_t bits[]; }

// enum nf_conntrack_attr_grp: groups copied in one call.
export const ATTR_GRP_ORIG_IPV4 = 0; // struct nfct_attr_grp_ipv4 { uint32_t src, dst; }
export const ATTR_GRP_REPL_IPV4 = 1;
export const ATTR_GRP_ORIG_IPV6 = 2; // struct nfct_attr_grp_ipv6 { uint32_t src[4], dst[4]; }
export const ATTR_GRP_REPL_IPV6 = 3;
export const ATTR_GRP_ORIG_PORT = 4; // struct nfct_attr_grp_port { uint16_t sport, dport; }
export const ATTR_GRP_REPL_PORT = 5;
// struct nfct_attr_grp_ctrs { uint64_t packets, bytes; }: ATTR_{ORIG,REPL}_COUNTER_{PACKETS,BYTES}
export const ATTR_GRP_ORIG_COUNTERS = 10;
export const ATTR_GRP_REPL_COUNTERS = 11;

// Address families (linux/socket.h).
export const AF_UNSPEC = 0;
export const AF_INET = 2;
export const AF_INET6 = 10;

/** Why the library could not be loaded. */
export class LoadError extends Error {
  /** "missing": no such library (or unusable); "denied": no --allow-ffi. */
  readonly reason: "missing" | "denied";
  constructor(reason: "missing" | "denied", message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "LoadError";
    this.reason = reason;
  }
}

const loaded = new Map<string, Symbols>();

/**
 * Opens the library at `path` (the soname, found by the dynamic loader, by default) once per
 * process and returns its symbols. Throws {@link LoadError}.
 */
export function load(path: string = LIBRARY_NAME): Symbols {
  const cached = loaded.get(path);
  if (cached) return cached;
  let lib: Deno.DynamicLibrary<typeof SYMBOLS>;
  try {
    lib = Deno.dlopen(path, SYMBOLS);
  } catch (e) {
    if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) {
      throw new LoadError("denied", e.message, { cause: e });
    }
    throw new LoadError("missing", e instanceof Error ? e.message : String(e), { cause: e });
  }
  loaded.set(path, lib.symbols);
  return lib.symbols;
}

/** The calling thread's errno, read right after a failed call. */
export function errno(s: Symbols): number {
  const p = s.__errno_location();
  return p === null ? 0 : new Deno.UnsafePointerView(p).getInt32();
}

/** libc's description of an errno value ("Operation not permitted"). */
export function strerror(s: Symbols, code: number): string {
  const p = s.strerror(code);
  return p === null ? `errno ${code}` : Deno.UnsafePointerView.getCString(p);
}

/** A libc call failed with `errno`. */
export class SysError extends Error {
  readonly errno: number;
  constructor(message: string, errno: number) {
    super(message);
    this.name = "SysError";
    this.errno = errno;
  }
}

const encoder = new TextEncoder();

function cString(text: string): Uint8Array {
  return encoder.encode(text + "\0");
}

function fail(s: Symbols, what: string): never {
  const n = errno(s);
  throw new SysError(`${what}: ${strerror(s, n)}`, n);
}

/** The first line of a small file (a sysctl), through libc. Throws {@link SysError}. */
export function readLine(s: Symbols, path: string): string {
  const f = s.fopen(cString(path), cString("r"));
  if (f === null) fail(s, `Cannot open ${path}`);
  const buf = new Uint8Array(256);
  const got = s.fgets(buf, buf.length, f);
  const n = got === null ? errno(s) : 0;
  s.fclose(f);
  if (got === null) throw new SysError(`Cannot read ${path}: ${strerror(s, n)}`, n);
  const end = buf.indexOf(0);
  return new TextDecoder().decode(buf.subarray(0, end < 0 ? buf.length : end));
}

/** Writes `text` to a small file (a sysctl), through libc. Throws {@link SysError}. */
export function writeText(s: Symbols, path: string, text: string): void {
  const f = s.fopen(cString(path), cString("w"));
  if (f === null) fail(s, `Cannot open ${path}`);
  if (s.fputs(cString(text), f) < 0) {
    const n = errno(s);
    s.fclose(f);
    throw new SysError(`Cannot write ${path}: ${strerror(s, n)}`, n);
  }
  // The write reaches the kernel when the stream is flushed, here.
  if (s.fclose(f) !== 0) fail(s, `Cannot write ${path}`);
}
