// SPDX-License-Identifier: GPL-2.0-only
/**
 * kref over refcount_t: a reference count that saturates instead of wrapping
 * and reports misuse with the kernel's `refcount_t:` warnings.
 *
 * v4.4's kref sits on a bare atomic_t and only catches a get from zero; the
 * port uses the later refcount_t checks (lib/refcount.c, v5.5+) so underflow
 * (a put too many) is a finding as well.
 *
 * @module
 */

import type { Klog } from "./klog.ts";

/** `REFCOUNT_SATURATED` (include/linux/refcount.h): INT_MIN / 2. */
export const REFCOUNT_SATURATED = -(2 ** 30);

/** `refcount_saturation_type`, with the lib/refcount.c line of its WARN_ONCE and its text. */
const SATURATION = {
  ADD_NOT_ZERO_OVF: ["lib/refcount.c:19 refcount_warn_saturate", "saturated; leaking memory"],
  ADD_OVF: ["lib/refcount.c:22 refcount_warn_saturate", "saturated; leaking memory"],
  ADD_UAF: ["lib/refcount.c:25 refcount_warn_saturate", "addition on 0; use-after-free"],
  SUB_UAF: ["lib/refcount.c:28 refcount_warn_saturate", "underflow; use-after-free"],
} as const;

const INT_MAX = 2 ** 31 - 1;

/**
 * Mirrors `struct kref` (include/linux/kref.h) over `refcount_t`.
 *
 * @example
 * const ref = new Kref(log);          // kref_init(): 1
 * ref.get();                          // 2
 * ref.put(() => free());              // 1, false
 * ref.put(() => free());              // 0, calls free(), true
 */
export class Kref {
  readonly #log: Klog;
  #refs: number;

  /**
   * @param log where refcount_t warnings go
   * @param refs the starting count: 1 as after `kref_init()`, 0 for zeroed memory
   * @throws {RangeError} when `refs` is not an integer in [0, INT_MAX]
   */
  constructor(log: Klog, refs = 1) {
    if (!Number.isInteger(refs) || refs < 0 || refs > INT_MAX) {
      throw new RangeError(`Kref: refs ${refs} out of range`);
    }
    this.#log = log;
    this.#refs = refs;
  }

  /** Mirrors `kref_init()` (include/linux/kref.h): the count becomes 1. */
  init(): void {
    this.#refs = 1;
  }

  /** Mirrors `kref_read()` (include/linux/kref.h); {@link REFCOUNT_SATURATED} once saturated. */
  read(): number {
    return this.#refs;
  }

  /**
   * Mirrors `kref_get()` → `refcount_inc()`: from 0 it warns
   * "refcount_t: addition on 0; use-after-free." and saturates.
   */
  get(): void {
    const old = this.#refs;
    if (old === 0) this.#saturate("ADD_UAF");
    else if (old < 0 || old === INT_MAX) this.#saturate("ADD_OVF");
    else this.#refs = old + 1;
  }

  /**
   * Mirrors `kref_get_unless_zero()` → `refcount_inc_not_zero()`.
   *
   * @returns false when the count was 0 (the object is on its way out)
   */
  getUnlessZero(): boolean {
    const old = this.#refs;
    if (old === 0) return false;
    if (old < 0 || old === INT_MAX) this.#saturate("ADD_NOT_ZERO_OVF");
    else this.#refs = old + 1;
    return true;
  }

  /**
   * Mirrors `kref_put()` → `refcount_dec_and_test()`: drops a reference and
   * calls `release` when it was the last. From 0 (or saturated) it warns
   * "refcount_t: underflow; use-after-free." and saturates instead.
   *
   * @returns true when `release` was called
   */
  put(release: () => void): boolean {
    if (typeof release !== "function") throw new TypeError("kref_put: release must be a function");
    const old = this.#refs;
    if (old === 1) {
      this.#refs = 0;
      release();
      return true;
    }
    if (old <= 0) {
      this.#saturate("SUB_UAF");
      return false;
    }
    this.#refs = old - 1;
    return false;
  }

  /** Mirrors `refcount_warn_saturate()` (lib/refcount.c): saturate, then WARN_ONCE per kind. */
  #saturate(kind: keyof typeof SATURATION): void {
    this.#refs = REFCOUNT_SATURATED;
    const [where, text] = SATURATION[kind];
    this.#log.warnOnce(where, `refcount_t: ${text}.`);
  }
}
