/**
 * The error of every failed conntrack operation, with a code to branch on and the errno that
 * the kernel or the library gave.
 *
 * @module
 */

/**
 * What went wrong:
 * - `library-missing`: libnetfilter_conntrack.so.3 cannot be loaded;
 * - `ffi-not-allowed`: Deno runs without `--allow-ffi`;
 * - `permission-denied`: the kernel refused (EPERM, EACCES): needs root or CAP_NET_ADMIN;
 * - `netlink-failure`: any other failure of the netlink socket or request, with its errno;
 * - `closed`: the handle was closed.
 */
export type ConntrackErrorCode =
  | "library-missing"
  | "ffi-not-allowed"
  | "permission-denied"
  | "netlink-failure"
  | "closed";

/**
 * A conntrack operation failed. A poll that throws it can be logged, counted and retried at the
 * next poll.
 *
 * @example
 * ```ts
 * import { Conntrack, ConntrackError } from "./mod.ts";
 * try {
 *   using ct = new Conntrack();
 *   ct.dump();
 * } catch (e) {
 *   if (e instanceof ConntrackError) console.error(e.code, e.errno, e.message);
 *   else throw e;
 * }
 * ```
 */
export class ConntrackError extends Error {
  /** What went wrong. */
  readonly code: ConntrackErrorCode;
  /** The errno value (Linux numbering), when the failure came with one. */
  readonly errno: number | undefined;
  /** An error of kind `code`; `errno` when the failure came with one. */
  constructor(
    code: ConntrackErrorCode,
    message: string,
    errno?: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "ConntrackError";
    this.code = code;
    this.errno = errno;
  }
}

/** Symbolic names of the errno values (Linux, all architectures flowvis runs on). */
const ERRNO_NAMES: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  4: "EINTR",
  5: "EIO",
  9: "EBADF",
  11: "EAGAIN",
  12: "ENOMEM",
  13: "EACCES",
  14: "EFAULT",
  16: "EBUSY",
  17: "EEXIST",
  19: "ENODEV",
  22: "EINVAL",
  24: "EMFILE",
  28: "ENOSPC",
  38: "ENOSYS",
  61: "ENODATA",
  71: "EPROTO",
  90: "EMSGSIZE",
  93: "EPROTONOSUPPORT",
  95: "EOPNOTSUPP",
  97: "EAFNOSUPPORT",
  105: "ENOBUFS",
  110: "ETIMEDOUT",
};

/** The symbolic name of an errno value ("EPERM"), or "errno N". */
export function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `errno ${errno}`;
}

/**
 * The error for a failed library call: `what` says what failed ("Cannot dump the conntrack
 * table"), `errno` is the errno right after the call and `description` libc's text for it.
 *
 * @example
 * ```ts
 * import { errorFromErrno } from "./errors.ts";
 * errorFromErrno("Cannot dump the conntrack table", 1, "Operation not permitted").message;
 * // "Cannot dump the conntrack table: Operation not permitted (EPERM): needs root or CAP_NET_ADMIN"
 * ```
 */
export function errorFromErrno(what: string, errno: number, description: string): ConntrackError {
  const detail = errno === 0
    ? "unknown error (errno not set)"
    : `${description} (${errnoName(errno)})`;
  if (errno === 1 || errno === 13) {
    return new ConntrackError(
      "permission-denied",
      `${what}: ${detail}: needs root or CAP_NET_ADMIN`,
      errno,
    );
  }
  return new ConntrackError("netlink-failure", `${what}: netlink failure: ${detail}`, errno);
}
