// SPDX-License-Identifier: GPL-2.0-only
// Per-CPU reference counts: the record of `struct percpu_ref` and the fast
// paths of include/linux/percpu-refcount.h and lib/percpu-refcount.c (Linux
// v4.4) that only touch it: init, get, tryget, tryget_live, put, is_zero, and
// the record halves of the mode switches (set ATOMIC/DEAD, the fold of the
// per-CPU counters after the grace period, the return to percpu mode).
//
// Everything that can sleep or calls back stays in TypeScript
// (ts/kernel/percpu_ref.ts): the RCU callback, the switch wait queue, the
// release and confirmation functions. So percpu_ref_put() here returns 1
// when the count reached zero and the caller runs `release`, exactly where
// the kernel calls ref->release(ref).
//
// The count is the kernel's `atomic_long_t`: 64 bits, holding
// PERCPU_COUNT_BIAS (1 << 63) while the per-CPU counters hold unfolded
// references, so in percpu mode it cannot reach zero. The port adds one bit
// to the mode word, PERCPU_REF_BIASED, saying the bias is there: the kernel
// knows it from its mode and switching state, the TS readers (`count`,
// `biased`, `value()`) need it spelled out.
//
// The record is allocated and freed by the TS side (percpu_ref_init() and
// percpu_ref_exit() there). Addresses and CPUs are trusted on the fast path
// (DEBUG builds assert them): the TS side passes its own record and the
// scheduler's current CPU.

import { NR_CPUS } from "./cpumap";
import { EINVAL } from "./page_alloc";

// ---------------------------------------------------------------------------
// Constants (include/linux/percpu-refcount.h, lib/percpu-refcount.c, v4.4)
// ---------------------------------------------------------------------------

/** `PERCPU_REF_INIT_ATOMIC`: start in atomic mode. */
export const PERCPU_REF_INIT_ATOMIC: i32 = 1 << 0;
/** `PERCPU_REF_INIT_DEAD`: start killed with a count of 0 (implies atomic). */
export const PERCPU_REF_INIT_DEAD: i32 = 1 << 1;
/** `__PERCPU_REF_ATOMIC`: get/put go to the shared count. */
export const __PERCPU_REF_ATOMIC: u32 = 1 << 0;
/** `__PERCPU_REF_DEAD`: killed; tryget_live fails. */
export const __PERCPU_REF_DEAD: u32 = 1 << 1;
/** The port's: PERCPU_COUNT_BIAS is in `count`. */
export const PERCPU_REF_BIASED: u32 = 1 << 2;
/** `PERCPU_COUNT_BIAS`: `1LU << (BITS_PER_LONG - 1)` on a 64-bit kernel. */
const PERCPU_COUNT_BIAS: i64 = i64.MIN_VALUE;

// ---------------------------------------------------------------------------
// Layout
// ---------------------------------------------------------------------------

/**
 * Mirrors `struct percpu_ref` (include/linux/percpu-refcount.h, v4.4) with
 * its per-CPU counters inline, 16 + 8 × nr_cpu_ids bytes, little-endian:
 *
 *    0                8          12            16
 *    +----------------+----------+-------------+-------------------------------+
 *    | count          | flags    | nr_cpu_ids  | percpu_count[nr_cpu_ids]      |
 *    | atomic_long_t  | u32      | u32         | unsigned long × nr_cpu_ids    |
 *    +----------------+----------+-------------+-------------------------------+
 *
 * count: `ref->count`, PERCPU_COUNT_BIAS included while PERCPU_REF_BIASED is
 * set. flags: the low bits of `ref->percpu_count_ptr` (__PERCPU_REF_ATOMIC,
 * __PERCPU_REF_DEAD) plus the port's PERCPU_REF_BIASED. percpu_count: what
 * `alloc_percpu(unsigned long)` gives the kernel, one slot per possible CPU,
 * in the same allocation (one address for the fast path, no pointer to
 * follow). Not here: `release`, `confirm_switch`, `force_atomic` and the
 * rcu_head, which only the TS side uses.
 */
@unmanaged
class PercpuRef {
  count: i64;
  flags: u32;
  nr_cpu_ids: u32;
}

/** Bytes before percpu_count[]. */
const PERCPU_REF_HEAD: usize = offsetof<PercpuRef>();

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

@inline
function ref_at(ref: usize): PercpuRef {
  if (DEBUG) assert(ref != 0, "percpu_ref: NULL record");
  return changetype<PercpuRef>(ref);
}

/** `per_cpu_ptr(percpu_count, cpu)`. */
@inline
function percpu_slot(ref: usize, cpu: u32): usize {
  if (DEBUG) assert(cpu < changetype<PercpuRef>(ref).nr_cpu_ids, "percpu_ref: cpu out of range");
  return ref + PERCPU_REF_HEAD + (<usize>cpu << 3);
}

/** Mirrors `__ref_is_percpu()`: get/put use the per-CPU counters. */
@inline
function ref_is_percpu(r: PercpuRef): bool {
  return (r.flags & __PERCPU_REF_ATOMIC) == 0;
}

/** `this_cpu_add(*percpu_count, d)`. */
@inline
function this_cpu_add(ref: usize, cpu: u32, d: i64): void {
  const p = percpu_slot(ref, cpu);
  store<i64>(p, load<i64>(p) + d);
}

/** `atomic_long_add()`. */
@inline
function atomic_long_add(ref: usize, d: i64): void {
  if (ASC_FEATURE_THREADS) atomic.add<i64>(ref, d);
  else store<i64>(ref, load<i64>(ref) + d);
}

/** `atomic_long_sub_and_test()`: true when the count became zero. */
@inline
function atomic_long_dec_and_test(ref: usize): bool {
  if (ASC_FEATURE_THREADS) return atomic.sub<i64>(ref, 1) == 1;
  const n = load<i64>(ref) - 1;
  store<i64>(ref, n);
  return n == 0;
}

/** `atomic_long_inc_not_zero()`. */
@inline
function atomic_long_inc_not_zero(ref: usize): bool {
  if (!ASC_FEATURE_THREADS) {
    const n = load<i64>(ref);
    if (n == 0) return false;
    store<i64>(ref, n + 1);
    return true;
  }
  let c = atomic.load<i64>(ref);
  while (c != 0) {
    const old = atomic.cmpxchg<i64>(ref, c, c + 1);
    if (old == c) return true;
    c = old;
  }
  return false;
}

/** `atomic_long_read()`. */
@inline
function atomic_long_read(ref: usize): i64 {
  if (ASC_FEATURE_THREADS) return atomic.load<i64>(ref);
  return load<i64>(ref);
}

// ---------------------------------------------------------------------------
// Exports
// ---------------------------------------------------------------------------

/**
 * `sizeof(struct percpu_ref)` with `nr_cpu_ids` per-CPU counters inline:
 * 16 + 8 × nr_cpu_ids, for the TS side's allocation and layout check.
 * @returns the size, or -22 for nr_cpu_ids outside 1..NR_CPUS
 */
export function percpu_ref_struct_size(nr_cpu_ids: i32): i32 {
  if (nr_cpu_ids < 1 || nr_cpu_ids > NR_CPUS) return -EINVAL;
  return <i32>PERCPU_REF_HEAD + (nr_cpu_ids << 3);
}

/**
 * Mirrors the record half of `percpu_ref_init()` (lib/percpu-refcount.c) on
 * zeroed memory of percpu_ref_struct_size(nr_cpu_ids) bytes: percpu mode
 * with count = PERCPU_COUNT_BIAS + 1; PERCPU_REF_INIT_ATOMIC: atomic with
 * count 1; PERCPU_REF_INIT_DEAD: atomic and dead with count 0.
 * (`force_atomic` is the caller's.)
 * @returns 0, or -22 for a bad nr_cpu_ids or unknown flags
 */
export function percpu_ref_init(ref: usize, nr_cpu_ids: i32, flags: i32): i32 {
  if (nr_cpu_ids < 1 || nr_cpu_ids > NR_CPUS) return -EINVAL;
  if ((flags & ~(PERCPU_REF_INIT_ATOMIC | PERCPU_REF_INIT_DEAD)) != 0) return -EINVAL;
  const r = ref_at(ref);
  let start: i64 = 0;
  let f: u32 = 0;
  if ((flags & (PERCPU_REF_INIT_ATOMIC | PERCPU_REF_INIT_DEAD)) != 0) {
    f |= __PERCPU_REF_ATOMIC;
  } else {
    start += PERCPU_COUNT_BIAS;
    f |= PERCPU_REF_BIASED;
  }
  if ((flags & PERCPU_REF_INIT_DEAD) != 0) f |= __PERCPU_REF_DEAD;
  else start++;
  r.nr_cpu_ids = <u32>nr_cpu_ids;
  r.flags = f;
  memory.fill(ref + PERCPU_REF_HEAD, 0, <usize>nr_cpu_ids << 3);
  r.count = start;
  return 0;
}

/** Mirrors `percpu_ref_get()`: this CPU's counter in percpu mode, else the shared count. */
export function percpu_ref_get(ref: usize, cpu: u32): void {
  if (ref_is_percpu(ref_at(ref))) this_cpu_add(ref, cpu, 1);
  else atomic_long_add(ref, 1);
}

/**
 * Mirrors `percpu_ref_tryget()`: always succeeds in percpu mode, else
 * `atomic_long_inc_not_zero()`.
 * @returns 1 when a reference was taken, 0 when the count is zero
 */
export function percpu_ref_tryget(ref: usize, cpu: u32): i32 {
  if (ref_is_percpu(ref_at(ref))) {
    this_cpu_add(ref, cpu, 1);
    return 1;
  }
  return atomic_long_inc_not_zero(ref) ? 1 : 0;
}

/**
 * Mirrors `percpu_ref_tryget_live()`: as percpu_ref_tryget(), but fails
 * once __PERCPU_REF_DEAD is set even while references remain.
 * @returns 1 when a reference was taken, else 0
 */
export function percpu_ref_tryget_live(ref: usize, cpu: u32): i32 {
  const r = ref_at(ref);
  if (ref_is_percpu(r)) {
    this_cpu_add(ref, cpu, 1);
    return 1;
  }
  if ((r.flags & __PERCPU_REF_DEAD) != 0) return 0;
  return atomic_long_inc_not_zero(ref) ? 1 : 0;
}

/**
 * Mirrors `percpu_ref_put()`: this CPU's counter in percpu mode, else the
 * shared count. A put too many is not caught (as in v4.4).
 * @returns 1 when the shared count reached zero: the caller must call
 *   `release` (the kernel's `ref->release(ref)`); else 0
 */
export function percpu_ref_put(ref: usize, cpu: u32): i32 {
  if (ref_is_percpu(ref_at(ref))) {
    this_cpu_add(ref, cpu, -1);
    return 0;
  }
  return atomic_long_dec_and_test(ref) ? 1 : 0;
}

/**
 * Mirrors `__ref_is_percpu()` for a caller outside this file: get and put
 * use the per-CPU counters, so a put cannot reach zero (no `release`).
 */
@inline
export function percpu_ref_is_percpu(ref: usize): bool {
  return ref_is_percpu(ref_at(ref));
}

/** Mirrors `percpu_ref_is_zero()`: 0 in percpu mode, else whether the count is 0. */
export function percpu_ref_is_zero(ref: usize): i32 {
  if (ref_is_percpu(ref_at(ref))) return 0;
  return atomic_long_read(ref) == 0 ? 1 : 0;
}

/** `ref->percpu_count_ptr |= __PERCPU_REF_DEAD` (`percpu_ref_kill_and_confirm()`). */
export function percpu_ref_set_dead(ref: usize): void {
  ref_at(ref).flags |= __PERCPU_REF_DEAD;
}

/** `ref->percpu_count_ptr &= ~__PERCPU_REF_DEAD` (`percpu_ref_reinit()`). */
export function percpu_ref_clear_dead(ref: usize): void {
  ref_at(ref).flags &= ~__PERCPU_REF_DEAD;
}

/**
 * `ref->percpu_count_ptr |= __PERCPU_REF_ATOMIC`, the start of the percpu →
 * atomic half of `__percpu_ref_switch_to_atomic()`: from here get/put go to
 * the shared count, which keeps the bias until percpu_ref_fold().
 */
export function percpu_ref_set_atomic(ref: usize): void {
  ref_at(ref).flags |= __PERCPU_REF_ATOMIC;
}

/**
 * The fold of `percpu_ref_switch_to_atomic_rcu()` (lib/percpu-refcount.c,
 * v4.4), run after the grace period: adds the per-CPU counters to the
 * shared count and takes PERCPU_COUNT_BIAS out
 * (`atomic_long_add((long)count - PERCPU_COUNT_BIAS, &ref->count)`). The
 * per-CPU counters keep their values, as in the kernel (the switch back to
 * percpu zeroes them).
 * @returns 1 when the count is <= 0 afterwards (the kernel's WARN_ONCE), else 0
 */
export function percpu_ref_fold(ref: usize): i32 {
  const r = ref_at(ref);
  if (DEBUG) assert((r.flags & PERCPU_REF_BIASED) != 0, "percpu_ref_fold: no bias to take out");
  let count: i64 = 0;
  const n = r.nr_cpu_ids;
  for (let cpu: u32 = 0; cpu < n; cpu++) count += load<i64>(percpu_slot(ref, cpu));
  atomic_long_add(ref, count - PERCPU_COUNT_BIAS);
  r.flags &= ~PERCPU_REF_BIASED;
  return atomic_long_read(ref) <= 0 ? 1 : 0;
}

/**
 * The record half of `__percpu_ref_switch_to_percpu()` (lib/percpu-refcount.c,
 * v4.4), once no switch is in progress: adds PERCPU_COUNT_BIAS, zeroes every
 * per-CPU counter, then clears __PERCPU_REF_ATOMIC.
 */
export function percpu_ref_set_percpu(ref: usize): void {
  const r = ref_at(ref);
  if (DEBUG) assert((r.flags & PERCPU_REF_BIASED) == 0, "percpu_ref_set_percpu: already biased");
  atomic_long_add(ref, PERCPU_COUNT_BIAS);
  r.flags |= PERCPU_REF_BIASED;
  memory.fill(ref + PERCPU_REF_HEAD, 0, <usize>r.nr_cpu_ids << 3);
  r.flags &= ~__PERCPU_REF_ATOMIC;
}
