// SPDX-License-Identifier: GPL-2.0-only
/**
 * Per-CPU reference counts (lib/percpu-refcount.c, include/linux/percpu-refcount.h, v4.4).
 *
 * A ref is in one of two modes. In **percpu** mode `get`/`put` touch only the
 * current CPU's counter and the shared count carries `PERCPU_COUNT_BIAS`, so
 * it can never reach zero. In **atomic** mode every operation goes to the
 * shared count and the put that reaches zero calls `release`.
 *
 * Going from percpu to atomic (a switch, or a kill) cannot fold the per-CPU
 * counters at once: a CPU may still be inside an RCU-sched read section doing
 * a per-CPU increment. The fold is therefore an `call_rcu_sched()` callback
 * and costs ONE grace period of virtual time; the ref holds an extra
 * reference meanwhile so it cannot reach zero early. A ref that is already
 * atomic pays nothing: `kill()` just sets DEAD and drops the base reference.
 * That is why blk-mq starts `q_usage_counter` atomic and switches it to
 * percpu only when the queue registers (17497acbdc): probing and tearing
 * down many never-registered queues then costs no grace period at all.
 *
 * The counters live in a record in the WASM core's linear memory
 * (asm/percpu_ref.ts: the shared count, the mode bits, one counter per
 * possible CPU; {@link PERCPU_REF} below), and get/tryget/put and the record
 * halves of the switches are WASM functions this class calls, so a request
 * path in WASM can take and drop queue references on the same record
 * ({@link PercpuRef.addr}). The record is allocated by the constructor
 * (`percpu_ref_init()`) and freed by `exit()` (`percpu_ref_exit()`).
 *
 * The record's count holds the bias as the kernel's does; the readers keep it
 * out of the number (`count` is the shared count without it, `biased` says
 * whether it is there), so the true number of references is
 * `count + (biased ? sum of per-CPU counters : 0)`; see
 * {@link PercpuRef.value}. {@link PercpuRef.invariantViolations} checks that
 * the pieces agree, for tests and the fuzzer.
 *
 * @module
 */

import { KernelBug } from "../errors.ts";
import type { CoreExports } from "../wasm/core.ts";
import type { Kmemleak } from "./kmemleak.ts";
import type { Rcu } from "./rcu.ts";
import type { Scheduler } from "./sched.ts";
import { type Sleepable, WaitQueue } from "./sched.ts";
import { KMALLOC_MAX_SIZE, PAGE_SIZE, type Slab } from "./slab.ts";

/** Mirrors `PERCPU_REF_INIT_ATOMIC`: start (and stay, until switched) in atomic mode. */
export const PERCPU_REF_INIT_ATOMIC = 1 << 0;
/** Mirrors `PERCPU_REF_INIT_DEAD`: start killed with a count of 0 (implies atomic). */
export const PERCPU_REF_INIT_DEAD = 1 << 1;
/** Mirrors `__PERCPU_REF_ATOMIC`, the low bit of `percpu_count_ptr`. */
export const __PERCPU_REF_ATOMIC = 1 << 0;
/** Mirrors `__PERCPU_REF_DEAD`. */
export const __PERCPU_REF_DEAD = 1 << 1;
/** The port's bit beside them in the record's mode word: PERCPU_COUNT_BIAS is in the count. */
export const PERCPU_REF_BIASED = 1 << 2;

/**
 * Field offsets of the percpu_ref record (asm/percpu_ref.ts), 16 + 8 ×
 * nr_cpu_ids bytes, little-endian:
 *
 * ```text
 *  off size field                  kernel (struct percpu_ref, v4.4)
 *    0   8  count                  count (atomic_long_t), PERCPU_COUNT_BIAS included while BIASED
 *    8   4  flags                  the low bits of percpu_count_ptr: ATOMIC 1, DEAD 2; the port's BIASED 4
 *   12   4  nr_cpu_ids             (the port's: slots in percpu_count[])
 *   16  8n  percpu_count[n]        *per_cpu_ptr(percpu_count, cpu) (unsigned long), inline
 * ```
 */
export const PERCPU_REF = {
  COUNT: 0,
  FLAGS: 8,
  NR_CPU_IDS: 12,
  PERCPU_COUNT: 16,
} as const;

/** Bytes of the record of a ref on a machine of `nrCpuIds` possible CPUs (`percpu_ref_struct_size()`). */
export function percpuRefSize(nrCpuIds: number): number {
  return PERCPU_REF.PERCPU_COUNT + 8 * nrCpuIds;
}

/** Mirrors `percpu_ref_func_t`: the release and confirmation callbacks. */
export type PercpuRefFunc = (ref: PercpuRef) => void;

/** What a ref needs from the machine. */
export interface PercpuRefContext {
  sched: Scheduler;
  rcu: Rcu;
  /** The core's allocators (`Kernel.slab`): the record is allocated there. */
  slab: Slab;
  /**
   * kmemleak of the machine. A record that fits a kmalloc class is a slab
   * object, which the slab's own leak source lists; a bigger one (more than
   * 1022 possible CPUs) is a page block, tracked here when given.
   */
  kmemleak?: Kmemleak;
  /**
   * The machine's `percpu_ref_switch_waitq` (`Kernel.percpuRefSwitchWaitq`),
   * shared by every ref of the machine as the kernel's static one is. Without
   * it the ref waits on a queue of its own (fewer spurious wake-ups, same outcome).
   */
  switchWaitq?: WaitQueue;
}

/** Options of {@link PercpuRef}. */
export interface PercpuRefOptions {
  /** The release function's name, as `%pf` prints it in warnings; default "release". */
  name?: string;
  /** kmemleak allocation site of the record; default "percpu_ref_init". */
  site?: string;
}

const FILE = "lib/percpu-refcount.c";
const TWO_32 = 0x1_0000_0000;

const noopConfirmSwitch: PercpuRefFunc = () => {};

/** A record too big for kmalloc: a page block, tracked by kmemleak as `kmalloc_large()` would be. */
interface RecordPages {
  readonly addr: number;
  readonly order: number;
}

/**
 * Mirrors `struct percpu_ref` and its API (lib/percpu-refcount.c, v4.4).
 * Construction is `percpu_ref_init()`.
 *
 * @example
 * const ref = new PercpuRef(k, () => wq.wakeUpAll(), PERCPU_REF_INIT_ATOMIC);
 * ref.get(); ref.put();
 * ref.kill();          // atomic: no grace period; the count drops to 0 and release runs
 * ref.isZero();        // true
 * ref.exit();
 */
export class PercpuRef {
  /** The release function's name, for messages. */
  readonly name: string;
  readonly #sched: Scheduler;
  readonly #rcu: Rcu;
  readonly #slab: Slab;
  readonly #core: CoreExports;
  readonly #kmemleak: Kmemleak | null;
  /** The static `percpu_ref_switch_waitq` (one per machine, from the context). */
  readonly #switchWaitq: WaitQueue;
  readonly #release: PercpuRefFunc;
  readonly #nrCpuIds: number;
  /** The record; 0 after exit(). */
  #addr: number;
  /** The record's page block when it is too big for kmalloc, else null. */
  #pages: RecordPages | null = null;
  #buf: ArrayBuffer;
  #dv: DataView;
  /** After exit(): the shared count and bias the record held (the kernel's struct outlives its per-CPU part). */
  #exitCount = 0;
  #exitBiased = false;
  #forceAtomic = false;
  /** Non-null while a switch to atomic (or a confirmation) waits for its grace period. */
  #confirmSwitch: PercpuRefFunc | null = null;
  #releases = 0;
  /** Releases since init or the last reinit: more than one is a broken count. */
  #lifeReleases = 0;

  /**
   * Mirrors `percpu_ref_init()`: percpu mode with one reference, or atomic
   * mode (`PERCPU_REF_INIT_ATOMIC`, which also sets `force_atomic`), or dead
   * with no reference (`PERCPU_REF_INIT_DEAD`). Allocates the record.
   *
   * @throws {TypeError} on a missing context or release function
   * @throws {RangeError} on unknown flags
   * @throws {KernelError} ENOMEM when the record cannot be allocated (as `percpu_ref_init()` returns -ENOMEM)
   */
  constructor(ctx: PercpuRefContext, release: PercpuRefFunc, flags = 0, opts: PercpuRefOptions = {}) {
    if (!ctx?.sched || !ctx.rcu || !ctx.slab) throw new TypeError("percpu_ref_init: ctx.sched, ctx.rcu and ctx.slab are required");
    if (typeof release !== "function") throw new TypeError("percpu_ref_init: release must be a function");
    if (!Number.isInteger(flags) || (flags & ~(PERCPU_REF_INIT_ATOMIC | PERCPU_REF_INIT_DEAD)) !== 0) {
      throw new RangeError(`percpu_ref_init: unknown flags 0x${Number(flags).toString(16)}`);
    }
    this.#sched = ctx.sched;
    this.#rcu = ctx.rcu;
    this.#slab = ctx.slab;
    this.#core = ctx.slab.core;
    this.#kmemleak = ctx.kmemleak ?? null;
    this.#switchWaitq = ctx.switchWaitq ?? new WaitQueue(ctx.sched, "percpu_ref_switch_waitq");
    this.#release = release;
    this.name = opts.name ?? "release";
    this.#nrCpuIds = ctx.sched.cpus.nrCpuIds;
    this.#addr = this.#allocRecord(opts.site ?? "percpu_ref_init");
    this.#buf = this.#core.memory.buffer;
    this.#dv = new DataView(this.#buf);
    if (this.#core.percpu_ref_init(this.#addr, this.#nrCpuIds, flags) !== 0) {
      this.#freeRecord();
      throw new KernelBug(`percpu_ref_init: the core refused nr_cpu_ids ${this.#nrCpuIds}, flags ${flags}`, FILE);
    }
    this.#forceAtomic = (flags & PERCPU_REF_INIT_ATOMIC) !== 0;
  }

  // ---- state ----------------------------------------------------------------

  /**
   * The record's address in the core's linear memory, for WASM code that
   * calls `percpu_ref_tryget_live()` / `percpu_ref_put()` itself; 0 after exit().
   */
  get addr(): number {
    return this.#addr;
  }

  /** "percpu" when get/put use the per-CPU counters (`__ref_is_percpu()`), else "atomic". */
  get mode(): "percpu" | "atomic" {
    return this.#flags() & __PERCPU_REF_ATOMIC ? "atomic" : "percpu";
  }

  /** `__PERCPU_REF_DEAD` is set: killed and not reinitialized. */
  get dead(): boolean {
    return (this.#flags() & __PERCPU_REF_DEAD) !== 0;
  }

  /** `force_atomic`: stays atomic across kill/reinit until `switchToPercpu()`. */
  get forceAtomic(): boolean {
    return this.#forceAtomic;
  }

  /** A switch to atomic (or a confirmation) is waiting for its grace period (`confirm_switch != NULL`). */
  get switching(): boolean {
    return this.#confirmSwitch !== null;
  }

  /** The shared count without the bias (`atomic_long_read(&ref->count)` minus PERCPU_COUNT_BIAS when biased). */
  get count(): number {
    if (this.#addr === 0) return this.#exitCount;
    const dv = this.#view();
    const at = this.#addr + PERCPU_REF.COUNT;
    // Taking out the bias (1 << 63) flips the top bit; then the signed value, exact below 2^53.
    const hi = dv.getInt32(at + 4, true) ^ (this.biased ? 0x8000_0000 : 0);
    return hi * TWO_32 + dv.getUint32(at, true);
  }

  /** PERCPU_COUNT_BIAS is in the shared count. */
  get biased(): boolean {
    if (this.#addr === 0) return this.#exitBiased;
    return (this.#flags() & PERCPU_REF_BIASED) !== 0;
  }

  /** The per-CPU counters (a copy); empty after exit(). */
  get percpuCounts(): number[] {
    const out: number[] = [];
    if (this.#addr === 0) return out;
    const dv = this.#view();
    const base = this.#addr + PERCPU_REF.PERCPU_COUNT;
    for (let cpu = 0; cpu < this.#nrCpuIds; cpu++) {
      const at = base + 8 * cpu;
      out.push(dv.getInt32(at + 4, true) * TWO_32 + dv.getUint32(at, true));
    }
    return out;
  }

  /** How many times `release` has run. */
  get releases(): number {
    return this.#releases;
  }

  /** `percpu_ref_exit()` has run. */
  get exited(): boolean {
    return this.#addr === 0;
  }

  /**
   * The true number of references held: the shared count plus, while the
   * per-CPU counters are not yet folded in, their sum. Not a kernel
   * function (reading it in percpu mode is racy there); for checks.
   */
  value(): number {
    return this.count + (this.biased ? this.#sum() : 0);
  }

  /** Mirrors `percpu_ref_is_zero()`: false in percpu mode, else whether the count is 0. */
  isZero(): boolean {
    if (this.#addr === 0) return this.#exitCount === 0 && !this.#exitBiased;
    return this.#core.percpu_ref_is_zero(this.#addr) !== 0;
  }

  /** Mirrors `percpu_ref_is_dying()`: DEAD is set. */
  isDying(): boolean {
    return this.dead;
  }

  // ---- get / put ------------------------------------------------------------

  /**
   * Mirrors `percpu_ref_get()`: this CPU's counter in percpu mode, else the shared count.
   * @throws {KernelBug} after exit() (the record is gone)
   */
  get(): void {
    this.#core.percpu_ref_get(this.#live("percpu_ref_get"), this.#sched.cpus.current);
  }

  /**
   * Mirrors `percpu_ref_tryget()`: always succeeds in percpu mode; in atomic
   * mode `atomic_long_inc_not_zero()`. After exit() it fails on a zero count.
   * @throws {KernelBug} after exit() on a count that is not zero
   */
  tryget(): boolean {
    if (this.#addr === 0 && this.isZero()) return false;
    return this.#core.percpu_ref_tryget(this.#live("percpu_ref_tryget"), this.#sched.cpus.current) !== 0;
  }

  /**
   * Mirrors `percpu_ref_tryget_live()`: as `tryget()`, but fails once DEAD is
   * set even while references remain (a frozen or dying queue), and after exit().
   */
  trygetLive(): boolean {
    const addr = this.#addr;
    if (addr === 0) return false;
    return this.#core.percpu_ref_tryget_live(addr, this.#sched.cpus.current) !== 0;
  }

  /**
   * Mirrors `percpu_ref_put()`: this CPU's counter in percpu mode; in atomic
   * mode the shared count, calling `release` when it reaches zero. As in the
   * kernel, a put too many is not detected here (the count goes negative);
   * {@link PercpuRef.invariantViolations} reports it.
   * @throws {KernelBug} after exit() (the record is gone)
   */
  put(): void {
    if (this.#core.percpu_ref_put(this.#live("percpu_ref_put"), this.#sched.cpus.current) !== 0) this.#doRelease();
  }

  // ---- mode switches ----------------------------------------------------------

  /**
   * Mirrors `percpu_ref_switch_to_atomic()`: sets `force_atomic` and starts
   * the switch; `confirm` runs after the grace period that ends it. On a ref
   * already atomic a `confirm` waits for any switch in progress and then
   * for a grace period of its own.
   */
  *switchToAtomic(confirm?: PercpuRefFunc): Sleepable {
    this.#forceAtomic = true;
    yield* this.#switchToAtomic(confirm ?? null);
  }

  /**
   * Mirrors `percpu_ref_switch_to_percpu()`: clears `force_atomic` and, unless
   * DEAD, waits for any switch in progress, adds the bias, zeroes the per-CPU
   * counters and clears ATOMIC. Costs no grace period.
   */
  *switchToPercpu(): Sleepable {
    this.#forceAtomic = false;
    if (!this.dead) yield* this.#switchToPercpu();
  }

  /**
   * Mirrors `percpu_ref_kill()`: sets DEAD, switches to atomic (one grace
   * period from percpu mode, none from atomic mode) and puts the initial
   * reference. Never sleeps. Killing twice WARNs.
   */
  kill(): void {
    this.#warnKilledTwice();
    this.#core.percpu_ref_set_dead(this.#live("percpu_ref_kill_and_confirm"));
    if (this.mode === "percpu") this.#startSwitch(noopConfirmSwitch);
    this.put();
  }

  /**
   * Mirrors `percpu_ref_kill_and_confirm()`: as `kill()`, and `confirm` runs
   * once every CPU sees the ref dead (after a grace period; on an atomic ref,
   * after waiting for any switch in progress).
   */
  *killAndConfirm(confirm: PercpuRefFunc | null): Sleepable {
    this.#warnKilledTwice();
    this.#core.percpu_ref_set_dead(this.#live("percpu_ref_kill_and_confirm"));
    yield* this.#switchToAtomic(confirm);
    this.put();
  }

  /**
   * Mirrors `percpu_ref_reinit()`: WARNs unless the count is zero; clears
   * DEAD, takes the initial reference and, unless `force_atomic`, goes back
   * to percpu mode.
   */
  *reinit(): Sleepable {
    if (!this.isZero()) this.#sched.log.warnOnce(`${FILE}:percpu_ref_reinit`, "WARN_ON_ONCE(!percpu_ref_is_zero(ref))");
    this.#core.percpu_ref_clear_dead(this.#live("percpu_ref_reinit"));
    this.#lifeReleases = 0;
    this.get();
    if (!this.#forceAtomic) yield* this.#switchToPercpu();
  }

  /**
   * Mirrors `percpu_ref_exit()`: frees the record and leaves the ref atomic
   * and dead, its last count readable. Safe to call twice.
   */
  exit(): void {
    if (this.#addr === 0) return;
    this.#exitCount = this.count;
    this.#exitBiased = this.biased;
    this.#freeRecord();
  }

  // ---- invariants -------------------------------------------------------------

  /**
   * The port's consistency check, for tests and the fuzzer: an empty list
   * when mode, bias, count, confirmation and releases agree.
   */
  invariantViolations(): string[] {
    const out: string[] = [];
    const atomic = this.mode === "atomic";
    const biased = this.biased;
    if (this.dead && !atomic) out.push("DEAD without ATOMIC");
    if (!atomic && !biased) out.push("percpu mode without PERCPU_COUNT_BIAS");
    if (this.#confirmSwitch !== null && !atomic) out.push("a switch is in progress in percpu mode");
    if (biased && atomic && this.#confirmSwitch === null) out.push("atomic with the bias still in the count and no switch in progress");
    const v = this.value();
    if (v < 0) out.push(`negative reference count ${v} (a put too many)`);
    if (v > 0 && this.#lifeReleases > 0 && this.dead) out.push(`released while ${v} references are still held`);
    if (this.#lifeReleases > 1) out.push(`released ${this.#lifeReleases} times without reinit`);
    if (this.#addr === 0 && biased) out.push("exited in percpu mode");
    return out;
  }

  /** @throws {KernelBug} listing every violated invariant */
  assertInvariants(): void {
    const v = this.invariantViolations();
    if (v.length > 0) throw new KernelBug(`percpu_ref ${this.name}: ${v.join("; ")}`, FILE);
  }

  // ---- internals ----------------------------------------------------------------

  /** A DataView of linear memory, made again after `memory.grow` detached the old one. */
  #view(): DataView {
    if (this.#buf.byteLength === 0) {
      this.#buf = this.#core.memory.buffer;
      this.#dv = new DataView(this.#buf);
    }
    return this.#dv;
  }

  /** The record's mode word; ATOMIC | DEAD after exit() (`__PERCPU_REF_ATOMIC_DEAD`). */
  #flags(): number {
    if (this.#addr === 0) return __PERCPU_REF_ATOMIC | __PERCPU_REF_DEAD;
    return this.#view().getUint32(this.#addr + PERCPU_REF.FLAGS, true);
  }

  /** The sum of the per-CPU counters; 0 after exit(). */
  #sum(): number {
    let s = 0;
    for (const c of this.percpuCounts) s += c;
    return s;
  }

  /**
   * The record, for an operation that changes it. After exit() there is
   * none: the kernel's doc makes that the caller's bug ("no longer in active
   * use"), and here it is reported as one.
   */
  #live(op: string): number {
    const addr = this.#addr;
    if (addr === 0) this.#sched.log.bug(`${FILE}:${op}`, `percpu_ref ${this.name} used after percpu_ref_exit()`);
    return addr;
  }

  /** kzalloc() of the record, or a zeroed page block when it is bigger than KMALLOC_MAX_SIZE. */
  #allocRecord(site: string): number {
    const size = percpuRefSize(this.#nrCpuIds);
    if (size <= KMALLOC_MAX_SIZE) return this.#slab.kzalloc(size, site);
    let order = 0;
    while (PAGE_SIZE * 2 ** order < size) order++;
    const addr = this.#slab.allocPages(order);
    new Uint8Array(this.#core.memory.buffer, addr, PAGE_SIZE << order).fill(0);
    const pages: RecordPages = { addr, order };
    this.#kmemleak?.track(pages, { size: PAGE_SIZE << order, cache: `pages-order${order}`, site });
    this.#pages = pages;
    return addr;
  }

  #freeRecord(): void {
    const addr = this.#addr;
    const pages = this.#pages;
    this.#addr = 0;
    this.#pages = null;
    if (pages === null) {
      this.#slab.kfree(addr);
      return;
    }
    this.#kmemleak?.untrack(pages, "percpu_ref_exit");
    this.#slab.freePages(addr, pages.order);
  }

  #doRelease(): void {
    this.#releases++;
    this.#lifeReleases++;
    this.#release(this);
  }

  #warnKilledTwice(): void {
    if (this.dead) {
      this.#sched.log.warnOnce(`${FILE}:percpu_ref_kill_and_confirm`, `percpu_ref_kill_and_confirm called more than once on ${this.name}!`);
    }
  }

  /** `__percpu_ref_switch_to_atomic()`. */
  *#switchToAtomic(confirm: PercpuRefFunc | null): Sleepable {
    if (this.mode === "percpu") {
      this.#startSwitch(confirm ?? noopConfirmSwitch);
      return;
    }
    if (confirm === null) return;
    yield* this.#switchWaitq.waitEvent(() => this.#confirmSwitch === null, "wait_event(percpu_ref_switch_waitq)");
    this.#confirmSwitch = confirm;
    this.get(); // put after confirmation
    this.#rcu.callRcuSched(() => this.#callConfirm());
  }

  /** The percpu → atomic half of `__percpu_ref_switch_to_atomic()`. */
  #startSwitch(confirm: PercpuRefFunc): void {
    this.#core.percpu_ref_set_atomic(this.#live("__percpu_ref_switch_to_atomic"));
    if (this.#confirmSwitch !== null) this.#sched.log.warnOnce(`${FILE}:__percpu_ref_switch_to_atomic`, "WARN_ON_ONCE(ref->confirm_switch)");
    this.#confirmSwitch = confirm;
    this.get(); // put after confirmation
    this.#rcu.callRcuSched(() => this.#switchToAtomicRcu());
  }

  /** `percpu_ref_switch_to_atomic_rcu()`: fold the per-CPU counters, drop the bias, confirm. */
  #switchToAtomicRcu(): void {
    if (this.#core.percpu_ref_fold(this.#live("percpu_ref_switch_to_atomic_rcu")) !== 0) {
      this.#sched.log.warnOnce(
        `${FILE}:percpu_ref_switch_to_atomic_rcu`,
        `percpu ref (${this.name}) <= 0 (${this.count}) after switching to atomic`,
      );
    }
    this.#callConfirm();
  }

  /** `percpu_ref_call_confirm_rcu()`. */
  #callConfirm(): void {
    const confirm = this.#confirmSwitch!;
    confirm(this);
    this.#confirmSwitch = null;
    this.#switchWaitq.wakeUpAll();
    this.put(); // the reference taken when the switch started
  }

  /** `__percpu_ref_switch_to_percpu()`. */
  *#switchToPercpu(): Sleepable {
    if (this.#addr === 0) this.#sched.log.bug(`${FILE}:__percpu_ref_switch_to_percpu`, "BUG_ON(!percpu_count)");
    if (this.mode === "percpu") return;
    yield* this.#switchWaitq.waitEvent(() => this.#confirmSwitch === null, "wait_event(percpu_ref_switch_waitq)");
    this.#core.percpu_ref_set_percpu(this.#live("__percpu_ref_switch_to_percpu"));
  }
}
