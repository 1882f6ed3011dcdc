// SPDX-License-Identifier: GPL-2.0-only
/**
 * String-to-integer conversion as sysfs store handlers do it: lib/kstrtox.c
 * (`kstrtoull()`, `kstrtoul()`, `kstrtouint()`) and `strtobool()`
 * (lib/string.c, v4.4), byte for byte in what they accept and reject.
 *
 * The rules of kstrtox.c: no leading whitespace, at most one trailing
 * newline, nothing else after the digits; a leading `+` is accepted (a `-`
 * is not, for the unsigned forms); base 0 picks 16 for "0x"/"0X" followed by
 * a hex digit, 8 for a leading 0, else 10; base 16 skips an optional "0x";
 * overflow beyond 2^64 - 1 is `-ERANGE` and wins over trailing junk. A NUL
 * ends the string, as in C.
 *
 * @module
 */

import { KernelError } from "../errors.ts";

const ULLONG_MAX = (1n << 64n) - 1n;
const UINT_MAX = 0xffffffff;

function checkArgs(op: string, s: unknown, base: unknown): void {
  if (typeof s !== "string") throw new TypeError(`${op}: s must be a string`);
  if (base !== 0 && !(Number.isInteger(base) && (base as number) >= 2 && (base as number) <= 16)) {
    throw new RangeError(`${op}: base must be 0 or 2..16, got ${String(base)}`);
  }
}

/** The value of one digit character (`_parse_integer()`'s test), or 16 for none. */
function digit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20; // _tolower()
  return l >= 0x61 && l <= 0x66 ? l - 0x61 + 10 : 16;
}

/** `isxdigit()`; NaN (past the end) is not. */
function isXdigit(c: number): boolean {
  return digit(c) < 16;
}

/** Mirrors `_kstrtoull()` (lib/kstrtox.c) on a NUL-free string; `op` names the caller. */
function kstrtoullInner(s: string, base: number, op: string): bigint {
  let i = 0;
  // _parse_integer_fixup_radix()
  if (base === 0) {
    if (s.charCodeAt(0) === 0x30) base = (s.charCodeAt(1) | 0x20) === 0x78 && isXdigit(s.charCodeAt(2)) ? 16 : 8;
    else base = 10;
  }
  if (base === 16 && s.charCodeAt(0) === 0x30 && (s.charCodeAt(1) | 0x20) === 0x78) i = 2;
  // _parse_integer()
  const b = BigInt(base);
  let res = 0n;
  let rv = 0;
  let overflow = false;
  for (; i < s.length; i++, rv++) {
    const v = digit(s.charCodeAt(i));
    if (v >= base) break;
    const val = BigInt(v);
    if (res > (ULLONG_MAX - val) / b) overflow = true;
    res = BigInt.asUintN(64, res * b + val);
  }
  if (overflow) throw new KernelError("ERANGE", op, `${JSON.stringify(s)} does not fit in 64 bits`);
  if (rv === 0) throw new KernelError("EINVAL", op, `no digits in ${JSON.stringify(s)}`);
  if (s.charCodeAt(i) === 0x0a) i++;
  if (i < s.length) throw new KernelError("EINVAL", op, `trailing characters in ${JSON.stringify(s)}`);
  return res;
}

/** C sees a string up to its first NUL. */
function cString(s: string): string {
  const nul = s.indexOf("\0");
  return nul < 0 ? s : s.slice(0, nul);
}

/**
 * Mirrors `kstrtoull()` (lib/kstrtox.c): the exact 64-bit value.
 *
 * @param base 0 (auto-detect), or 2..16; default 10
 * @throws {KernelError} EINVAL on no digits, a sign other than one leading
 *   `+`, whitespace or trailing characters (one trailing newline is fine);
 *   ERANGE above 2^64 - 1
 * @throws {TypeError} / {RangeError} on a non-string or a bad base
 * @example
 * kstrtoull("18446744073709551615\n"); // 18446744073709551615n
 */
export function kstrtoull(s: string, base = 10): bigint {
  checkArgs("kstrtoull", s, base);
  const c = cString(s);
  return kstrtoullInner(c.charCodeAt(0) === 0x2b ? c.slice(1) : c, base, "kstrtoull");
}

/**
 * Mirrors `kstrtoul()` (include/linux/kernel.h, 64-bit: `kstrtoull()`). Values
 * above 2^53 lose precision as a number but keep their order, so range checks
 * such as `queue_var_store()`'s `v > UINT_MAX` stay exact; use
 * {@link kstrtoull} for the exact value.
 *
 * @param base 0 (auto-detect), or 2..16; default 10 (what blk-sysfs.c passes)
 * @throws {KernelError} EINVAL / ERANGE exactly as {@link kstrtoull}, with op "kstrtoul"
 * @example
 * kstrtoul("128\n");     // 128
 * kstrtoul("0x80", 0);   // 128
 * kstrtoul(" 1");        // throws KernelError EINVAL
 */
export function kstrtoul(s: string, base = 10): number {
  checkArgs("kstrtoul", s, base);
  const c = cString(s);
  return Number(kstrtoullInner(c.charCodeAt(0) === 0x2b ? c.slice(1) : c, base, "kstrtoul"));
}

/**
 * Mirrors `kstrtouint()` (lib/kstrtox.c).
 *
 * @throws {KernelError} as {@link kstrtoul}; ERANGE above UINT_MAX
 */
export function kstrtouint(s: string, base = 10): number {
  checkArgs("kstrtouint", s, base);
  const c = cString(s);
  const v = kstrtoullInner(c.charCodeAt(0) === 0x2b ? c.slice(1) : c, base, "kstrtouint");
  if (v > BigInt(UINT_MAX)) throw new KernelError("ERANGE", "kstrtouint", `${v} > UINT_MAX`);
  return Number(v);
}

/**
 * Mirrors `strtobool()` (lib/string.c, v4.4): only the first character
 * counts; `y`, `Y`, `1` are true and `n`, `N`, `0` false. (v4.6's
 * `kstrtobool()` added "on"/"off"; v4.4 has not.)
 *
 * @throws {KernelError} EINVAL for any other first character, the empty string included
 * @example
 * strtobool("1\n"); // true
 * strtobool("yes"); // true: the rest is ignored
 */
export function strtobool(s: string): boolean {
  if (typeof s !== "string") throw new TypeError("strtobool: s must be a string");
  switch (s[0]) {
    case "y":
    case "Y":
    case "1":
      return true;
    case "n":
    case "N":
    case "0":
      return false;
    default:
      throw new KernelError("EINVAL", "strtobool", `${JSON.stringify(s)} is not a boolean`);
  }
}

/**
 * Mirrors `queue_var_store()` (block/blk-sysfs.c, v4.4), the parser behind
 * every integer store in queue/: `kstrtoul(page, 10)`, with any error or a
 * value above UINT_MAX turned into -EINVAL.
 *
 * @returns the value (0 .. UINT_MAX), or -22 (-EINVAL)
 * @example
 * queueVarStore("128\n"); // 128
 * queueVarStore("-1");    // -22
 */
export function queueVarStore(page: string): number {
  try {
    const v = kstrtoull(page, 10);
    return v > BigInt(UINT_MAX) ? -22 : Number(v);
  } catch (e) {
    if (e instanceof KernelError) return -22;
    throw e;
  }
}
