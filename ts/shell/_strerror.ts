// SPDX-License-Identifier: GPL-2.0-only
// glibc's strerror() texts, by errno name: what cat, ls, bash and modprobe print after a failed call.

import { KernelError } from "../errors.ts";

const STRERROR: Readonly<Record<string, string>> = {
  EPERM: "Operation not permitted",
  ENOENT: "No such file or directory",
  EINTR: "Interrupted system call",
  EIO: "Input/output error",
  ENXIO: "No such device or address",
  E2BIG: "Argument list too long",
  ENOEXEC: "Exec format error",
  EAGAIN: "Resource temporarily unavailable",
  ENOMEM: "Cannot allocate memory",
  EACCES: "Permission denied",
  EFAULT: "Bad address",
  EBUSY: "Device or resource busy",
  EEXIST: "File exists",
  ENODEV: "No such device",
  ENOTDIR: "Not a directory",
  EISDIR: "Is a directory",
  EINVAL: "Invalid argument",
  ENOSPC: "No space left on device",
  EROFS: "Read-only file system",
  ERANGE: "Numerical result out of range",
  EDEADLK: "Resource deadlock avoided",
  ENOSYS: "Function not implemented",
  ENOTSUP: "Operation not supported",
  EOPNOTSUPP: "Operation not supported",
  ETIMEDOUT: "Connection timed out",
};

/**
 * Mirrors glibc `strerror()` for an errno name.
 *
 * @returns the text, or `Unknown error NAME` for a name outside the table
 * @example
 * strerror("EINVAL"); // "Invalid argument"
 */
export function strerror(code: string): string {
  return STRERROR[code] ?? `Unknown error ${code}`;
}

/** The errno names the table knows (tests check that every `ErrnoCode` is among them). */
export function strerrorNames(): string[] {
  return Object.keys(STRERROR);
}

/** The errno name of a KernelError, or null for any other thrown value. */
export function errnoOf(e: unknown): string | null {
  return e instanceof KernelError ? e.code : null;
}
