// SPDX-License-Identifier: GPL-2.0-only
/**
 * The two error classes of the port.
 *
 * Misuse by a caller (a wrong type, an out-of-range argument) throws the
 * platform's `TypeError` / `RangeError`. A failure the kernel itself would
 * report with a negative errno throws {@link KernelError}, whose `code` is the
 * errno name and `op` the kernel function, so tests and the fuzzer match on
 * `code`, never on message text. A broken internal invariant is a
 * {@link KernelBug}: the fuzzer treats it as a finding.
 *
 * @module
 */

/** errno values the port uses, by their kernel names (include/uapi/asm-generic/errno-base.h). */
export const ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  EIO: 5,
  ENXIO: 6,
  E2BIG: 7,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  ENOSPC: 28,
  EROFS: 30,
  ERANGE: 34,
  EDEADLK: 35,
  ENOSYS: 38,
  ETIMEDOUT: 110,
} as const;

/** An errno name such as `"EINVAL"`. */
export type ErrnoCode = keyof typeof ERRNO;

const BY_NUMBER = new Map<number, ErrnoCode>(
  Object.entries(ERRNO).map(([name, n]) => [n, name as ErrnoCode]),
);

/**
 * Maps a negative errno returned by WASM or a kernel-style function to its name.
 *
 * @param negErrno a value such as -22
 * @returns the name, e.g. `"EINVAL"`
 * @throws {RangeError} when the value is not a known negative errno
 * @example
 * errnoName(-22); // "EINVAL"
 */
export function errnoName(negErrno: number): ErrnoCode {
  const name = BY_NUMBER.get(-negErrno);
  if (name === undefined) throw new RangeError(`errnoName: ${negErrno} is not a known -errno`);
  return name;
}

/**
 * A failure reported the way the kernel reports it: an errno from a named
 * kernel function. State is left as it was before the call.
 *
 * @example
 * try { throw new KernelError("EINVAL", "blk_mq_update_nr_requests"); }
 * catch (e) { if (e instanceof KernelError && e.code === "EINVAL") {} }
 */
export class KernelError extends Error {
  /** The errno name, stable across releases. */
  readonly code: ErrnoCode;
  /** The kernel function that failed, e.g. `"blk_mq_alloc_tag_set"`. */
  readonly op: string;
  /** The negative errno number, e.g. -22. */
  readonly errno: number;

  constructor(code: ErrnoCode, op: string, detail?: string) {
    super(`${op}: ${code}${detail ? ` (${detail})` : ""}`);
    this.name = "KernelError";
    this.code = code;
    this.op = op;
    this.errno = -ERRNO[code];
  }
}

/**
 * A broken invariant inside the port: the equivalent of a kernel `BUG()`.
 * Raised, for instance, when an assertion inside the WASM core fails.
 */
export class KernelBug extends Error {
  /** Always `"BUG"`, so callers can match on `code` as with KernelError. */
  readonly code = "BUG";
  /** Where it happened, `file:line:column` when known. */
  readonly where: string;

  constructor(message: string, where = "") {
    super(`kernel BUG${where ? ` at ${where}` : ""}: ${message}`);
    this.name = "KernelBug";
    this.where = where;
  }
}
