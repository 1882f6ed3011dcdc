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
 * The port keeps the bias out of the number (`count` is the shared count
 * without it, `biased` says whether it is there), so the true number of
 * references is `count + (biased ? sum of per-CPU counters : 0)`; see
 * {@link PercpuRef.value}. {@link PercpuRef.invariantViolations} checks that
 * the pieces agree, for tests and the fuzzer.
 *
 * @module
 */

import { KernelBug } from "../errors.ts";
import type { Kmemleak } from "./kmemleak.ts";
import type { Rcu } from "./rcu.ts";
import type { Scheduler } from "./sched.ts";
import { type Sleepable, WaitQueue } from "./sched.ts";

/** Mirrors `PERCPU_REF_INIT_ATOMIC`: start (and stay, until switched) in atomic mode. */
export const PERCPU_REF_INIT_ATOMIC = 1 << 0;
/** Mirrors `PERCPU_REF_INIT_DEAD`: start killed with a count of 0 (implies atomic). */
export const PERCPU_REF_INIT_DEAD = 1 << 1;
/** Mirrors `__PERCPU_REF_ATOMIC`, the low bit of `percpu_count_ptr`. */
export const __PERCPU_REF_ATOMIC = 1 << 0;
/** Mirrors `__PERCPU_REF_DEAD`. */
export const __PERCPU_REF_DEAD = 1 << 1;

/** Mirrors `percpu_ref_func_t`: the release and confirmation callbacks. */
export type PercpuRefFunc = (ref: PercpuRef) => void;

/** What a ref needs from the machine. */
export interface PercpuRefContext {
  sched: Scheduler;
  rcu: Rcu;
  /** When given, the per-CPU counters are tracked as an allocation until `exit()`. */
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
  /** kmemleak allocation site of the per-CPU counters; default "percpu_ref_init". */
  site?: string;
}

const FILE = "lib/percpu-refcount.c";

const noopConfirmSwitch: PercpuRefFunc = () => {};

/**
 * Mirrors `struct percpu_ref` and its API (lib/percpu-refcount.c, v4.4).
 * Construction is `percpu_ref_init()`.
 *
 * @example
 * const ref = new PercpuRef(ctx, () => wq.wakeUpAll(), PERCPU_REF_INIT_ATOMIC);
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
  readonly #kmemleak: Kmemleak | null;
  /** The static `percpu_ref_switch_waitq` (one per machine, from the context). */
  readonly #switchWaitq: WaitQueue;
  readonly #site: string;
  readonly #release: PercpuRefFunc;
  /** The shared count, without PERCPU_COUNT_BIAS. */
  #count = 0;
  /** PERCPU_COUNT_BIAS is in the shared count: the per-CPU counters hold unfolded references. */
  #biased = false;
  /** __PERCPU_REF_ATOMIC | __PERCPU_REF_DEAD. */
  #flags = 0;
  /** The per-CPU counters; null after exit(). */
  #percpu: number[] | null;
  #forceAtomic = false;
  /** Non-null while a switch to atomic (or a confirmation) waits for its grace period. */
  #confirmSwitch: PercpuRefFunc | null = null;
  #releases = 0;
  /** Releases since init or the last reinit: more than one is a broken count. */
  #lifeReleases = 0;

  /**
   * Mirrors `percpu_ref_init()`: percpu mode with one reference, or atomic
   * mode (`PERCPU_REF_INIT_ATOMIC`, which also sets `force_atomic`), or dead
   * with no reference (`PERCPU_REF_INIT_DEAD`).
   *
   * @throws {TypeError} on a missing context or release function
   * @throws {RangeError} on unknown flags
   */
  constructor(ctx: PercpuRefContext, release: PercpuRefFunc, flags = 0, opts: PercpuRefOptions = {}) {
    if (!ctx?.sched || !ctx.rcu) throw new TypeError("percpu_ref_init: ctx.sched and ctx.rcu are required");
    if (typeof release !== "function") throw new TypeError("percpu_ref_init: release must be a function");
    if (!Number.isInteger(flags) || (flags & ~(PERCPU_REF_INIT_ATOMIC | PERCPU_REF_INIT_DEAD)) !== 0) {
      throw new RangeError(`percpu_ref_init: unknown flags 0x${Number(flags).toString(16)}`);
    }
    this.#sched = ctx.sched;
    this.#rcu = ctx.rcu;
    this.#kmemleak = ctx.kmemleak ?? null;
    this.#switchWaitq = ctx.switchWaitq ?? new WaitQueue(ctx.sched, "percpu_ref_switch_waitq");
    this.#release = release;
    this.name = opts.name ?? "release";
    this.#site = opts.site ?? "percpu_ref_init";
    this.#percpu = new Array<number>(ctx.sched.cpus.nrCpuIds).fill(0);
    this.#kmemleak?.track(this.#percpu, { size: 8 * ctx.sched.cpus.nrCpuIds, cache: "percpu", site: this.#site });
    this.#forceAtomic = (flags & PERCPU_REF_INIT_ATOMIC) !== 0;
    if (flags & (PERCPU_REF_INIT_ATOMIC | PERCPU_REF_INIT_DEAD)) this.#flags |= __PERCPU_REF_ATOMIC;
    else this.#biased = true;
    if (flags & PERCPU_REF_INIT_DEAD) this.#flags |= __PERCPU_REF_DEAD;
    else this.#count = 1;
  }

  // ---- state ----------------------------------------------------------------

  /** "percpu" when get/put use the per-CPU counters (`__ref_is_percpu()`), else "atomic". */
  get mode(): "percpu" | "atomic" {
    return this.#flags & __PERCPU_REF_ATOMIC ? "atomic" : "percpu";
  }

  /** `__PERCPU_REF_DEAD` is set: killed and not reinitialized. */
  get dead(): boolean {
    return (this.#flags & __PERCPU_REF_DEAD) !== 0;
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
    return this.#count;
  }

  /** PERCPU_COUNT_BIAS is in the shared count. */
  get biased(): boolean {
    return this.#biased;
  }

  /** The per-CPU counters (a copy); empty after exit(). */
  get percpuCounts(): number[] {
    return this.#percpu === null ? [] : [...this.#percpu];
  }

  /** How many times `release` has run. */
  get releases(): number {
    return this.#releases;
  }

  /** `percpu_ref_exit()` has run. */
  get exited(): boolean {
    return this.#percpu === null;
  }

  /**
   * The true number of references held: the shared count plus, while the
   * per-CPU counters are not yet folded in, their sum. Not a kernel
   * function (reading it in percpu mode is racy there); for checks.
   */
  value(): number {
    return this.#count + (this.#biased ? this.#sum() : 0);
  }

  /** Mirrors `percpu_ref_is_zero()`: false in percpu mode, else whether the count is 0. */
  isZero(): boolean {
    if (this.mode === "percpu") return false;
    return this.#count === 0 && !this.#biased;
  }

  /** Mirrors `percpu_ref_is_dying()`: DEAD is set. */
  isDying(): boolean {
    return this.dead;
  }

  // ---- get / put ------------------------------------------------------------

  /** Mirrors `percpu_ref_get()`: this CPU's counter in percpu mode, else the shared count. */
  get(): void {
    if (this.mode === "percpu") this.#percpu![this.#sched.cpus.current]++;
    else this.#count++;
  }

  /**
   * Mirrors `percpu_ref_tryget()`: always succeeds in percpu mode; in atomic
   * mode `atomic_long_inc_not_zero()`.
   */
  tryget(): boolean {
    if (this.mode === "percpu") {
      this.#percpu![this.#sched.cpus.current]++;
      return true;
    }
    if (this.#count === 0 && !this.#biased) return false;
    this.#count++;
    return true;
  }

  /**
   * Mirrors `percpu_ref_tryget_live()`: as `tryget()`, but fails once DEAD is
   * set even while references remain (a frozen or dying queue).
   */
  trygetLive(): boolean {
    if (this.mode === "percpu") {
      this.#percpu![this.#sched.cpus.current]++;
      return true;
    }
    if (this.dead) return false;
    if (this.#count === 0 && !this.#biased) return false;
    this.#count++;
    return true;
  }

  /**
   * Mirrors `percpu_ref_put()`: this CPU's counter in percpu mode; in atomic
   * mode the shared count, calling `release` when it reaches zero. As in the
   * kernel, a put too many is not detected here (the count goes negative);
   * {@link PercpuRef.invariantViolations} reports it.
   */
  put(): void {
    if (this.mode === "percpu") {
      this.#percpu![this.#sched.cpus.current]--;
      return;
    }
    this.#count--;
    if (this.#count === 0 && !this.#biased) this.#doRelease();
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
    this.#flags |= __PERCPU_REF_DEAD;
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
    this.#flags |= __PERCPU_REF_DEAD;
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
    this.#flags &= ~__PERCPU_REF_DEAD;
    this.#lifeReleases = 0;
    this.get();
    if (!this.#forceAtomic) yield* this.#switchToPercpu();
  }

  /**
   * Mirrors `percpu_ref_exit()`: frees the per-CPU counters and leaves the
   * ref atomic and dead. Safe to call twice.
   */
  exit(): void {
    if (this.#percpu === null) return;
    this.#kmemleak?.untrack(this.#percpu, "percpu_ref_exit");
    this.#percpu = null;
    this.#flags = __PERCPU_REF_ATOMIC | __PERCPU_REF_DEAD;
  }

  // ---- invariants -------------------------------------------------------------

  /**
   * The port's consistency check, for tests and the fuzzer: an empty list
   * when mode, bias, count, confirmation and releases agree.
   */
  invariantViolations(): string[] {
    const out: string[] = [];
    const atomic = this.mode === "atomic";
    if (this.dead && !atomic) out.push("DEAD without ATOMIC");
    if (!atomic && !this.#biased) out.push("percpu mode without PERCPU_COUNT_BIAS");
    if (this.#confirmSwitch !== null && !atomic) out.push("a switch is in progress in percpu mode");
    if (this.#biased && atomic && this.#confirmSwitch === null) out.push("atomic with the bias still in the count and no switch in progress");
    const v = this.value();
    if (v < 0) out.push(`negative reference count ${v} (a put too many)`);
    if (v > 0 && this.#lifeReleases > 0 && this.dead) out.push(`released while ${v} references are still held`);
    if (this.#lifeReleases > 1) out.push(`released ${this.#lifeReleases} times without reinit`);
    if (this.#percpu === null && this.#biased) out.push("exited in percpu mode");
    return out;
  }

  /** @throws {KernelBug} listing every violated invariant */
  assertInvariants(): void {
    const v = this.invariantViolations();
    if (v.length > 0) throw new KernelBug(`percpu_ref ${this.name}: ${v.join("; ")}`, FILE);
  }

  // ---- internals ----------------------------------------------------------------

  #sum(): number {
    let s = 0;
    if (this.#percpu !== null) for (const c of this.#percpu) s += c;
    return s;
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
    this.#flags |= __PERCPU_REF_ATOMIC;
    if (this.#confirmSwitch !== null) this.#sched.log.warnOnce(`${FILE}:__percpu_ref_switch_to_atomic`, "WARN_ON_ONCE(ref->confirm_switch)");
    this.#confirmSwitch = confirm;
    this.get(); // put after confirmation
    this.#rcu.callRcuSched(() => this.#switchToAtomicRcu());
  }

  /** `percpu_ref_switch_to_atomic_rcu()`: fold the per-CPU counters, drop the bias, confirm. */
  #switchToAtomicRcu(): void {
    this.#count += this.#sum();
    this.#biased = false;
    if (this.#count <= 0) {
      this.#sched.log.warnOnce(
        `${FILE}:percpu_ref_switch_to_atomic_rcu`,
        `percpu ref (${this.name}) <= 0 (${this.#count}) after switching to atomic`,
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
    if (this.#percpu === null) this.#sched.log.bug(`${FILE}:__percpu_ref_switch_to_percpu`, "BUG_ON(!percpu_count)");
    if (this.mode === "percpu") return;
    yield* this.#switchWaitq.waitEvent(() => this.#confirmSwitch === null, "wait_event(percpu_ref_switch_waitq)");
    this.#biased = true;
    this.#percpu!.fill(0);
    this.#flags &= ~__PERCPU_REF_ATOMIC;
  }
}
