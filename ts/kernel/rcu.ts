// SPDX-License-Identifier: GPL-2.0-only
/**
 * RCU as a cost model: a grace period is a fixed stretch of virtual time
 * (default {@link DEFAULT_GP_NS} = 1 ms; real kernels of the v4.4 era take a
 * few to tens of milliseconds, depending on HZ and load). Later code measures
 * in grace periods, e.g. "killing a percpu_ref costs one grace period".
 *
 * Model (Tree RCU, !CONFIG_PREEMPT, v4.4):
 * - A grace period starts when a callback is queued and none is running.
 *   Callbacks queued while one runs wait for the next one, except those
 *   queued at the very instant it started, which join it (the kernel starts
 *   a grace period lazily, so callbacks queued together share it).
 * - Callbacks run in softirq context on the CPU that queued them (or, if that
 *   CPU went offline, on the CPU ending the grace period), in queue order.
 * - `rcu_read_lock()` disables preemption, so a reader that sleeps is
 *   reported by might_sleep; readers are not otherwise tracked.
 * - `synchronize_rcu()` returns at once with one CPU online
 *   (`rcu_blocking_is_gp()`), as in the kernel.
 *
 * @module
 */

import { PREEMPT_OFFSET, type Sleepable } from "./_task.ts";
import { Completion } from "./_waitqueue.ts";
import type { Scheduler } from "./sched.ts";
import { Timer } from "./timer.ts";

/** Default cost of one grace period: 1 ms of virtual time. */
export const DEFAULT_GP_NS = 1_000_000;
/** Default cost of an expedited grace period: 100 µs. */
export const DEFAULT_EXPEDITED_NS = 100_000;

interface RcuCallback {
  fn: () => void;
  cpu: number;
}

/** Construction options. */
export interface RcuOptions {
  sched: Scheduler;
  /** Virtual ns per grace period; default {@link DEFAULT_GP_NS}. */
  gpNs?: number;
  /** Virtual ns per expedited grace period; default {@link DEFAULT_EXPEDITED_NS}. */
  expeditedNs?: number;
}

/**
 * One RCU flavour (rcu_sched and rcu are the same here).
 *
 * @example
 * const rcu = new Rcu({ sched, gpNs: 2_000_000 });
 * sched.spawn("t", function* () { yield* rcu.synchronizeRcu(); }); // returns 2 ms later
 */
export class Rcu {
  readonly gpNs: number;
  readonly expeditedNs: number;
  /** Grace periods completed (`rcu_state.completed`). */
  completed = 0;
  readonly #s: Scheduler;
  readonly #timer: Timer;
  #cur: RcuCallback[] = [];
  #next: RcuCallback[] = [];
  #gpStart = -1;

  /** @throws {RangeError} on a negative or non-integer cost */
  constructor(opts: RcuOptions) {
    if (!opts?.sched) throw new TypeError("Rcu: opts.sched is required");
    this.#s = opts.sched;
    this.gpNs = checkNs(opts.gpNs ?? DEFAULT_GP_NS, "gpNs");
    this.expeditedNs = checkNs(opts.expeditedNs ?? DEFAULT_EXPEDITED_NS, "expeditedNs");
    this.#timer = new Timer(() => this.#gpEnd(), "rcu_gp");
  }

  /** Whether a grace period is in progress. */
  get gpInProgress(): boolean {
    return this.#gpStart >= 0;
  }

  /** Callbacks queued and not yet invoked. */
  get pending(): number {
    return this.#cur.length + this.#next.length;
  }

  /**
   * Mirrors `call_rcu()` (kernel/rcu/tree.c): `fn` runs after a full grace
   * period, in softirq context on the current CPU.
   */
  callRcu(fn: () => void): void {
    if (typeof fn !== "function") throw new TypeError("call_rcu: fn must be a function");
    const s = this.#s;
    const cb: RcuCallback = { fn, cpu: s.cpus.current };
    const now = s.clock.now();
    if (this.#gpStart < 0) {
      this.#cur.push(cb);
      this.#startGp(now);
    } else if (this.#gpStart === now) this.#cur.push(cb);
    else this.#next.push(cb);
  }

  /** Mirrors `call_rcu_sched()`: the same flavour here. */
  callRcuSched(fn: () => void): void {
    this.callRcu(fn);
  }

  /**
   * Mirrors `synchronize_rcu()`: sleeps (D state) for a grace period. Called
   * inside a read-side critical section it reports suspicious RCU usage.
   */
  *synchronizeRcu(): Sleepable {
    const s = this.#s;
    if (s.current.rcuReadDepth > 0) s.suspiciousRcu("kernel/rcu/tree.c", "Illegal synchronize_rcu() in RCU read-side critical section");
    s.mightSleep("kernel/rcu/tree.c");
    if (s.cpus.numOnlineCpus() <= 1) return;
    const done = new Completion(s, "rcu_synchronize");
    this.callRcu(() => done.complete());
    yield* done.waitForCompletion("synchronize_rcu");
  }

  /** Mirrors `synchronize_sched()`. */
  *synchronizeSched(): Sleepable {
    yield* this.synchronizeRcu();
  }

  /** Mirrors `synchronize_rcu_expedited()`: sleeps for {@link Rcu.expeditedNs}. */
  *synchronizeRcuExpedited(): Sleepable {
    const s = this.#s;
    s.mightSleep("kernel/rcu/tree.c");
    if (s.cpus.numOnlineCpus() <= 1) return;
    const done = new Completion(s, "rcu_exp");
    const t = new Timer(() => done.complete(), "rcu_exp_gp");
    s.timers.hrtimerStart(t, s.clock.now() + this.expeditedNs);
    yield* done.waitForCompletion("synchronize_rcu_expedited");
  }

  /** Mirrors `rcu_barrier()`: sleeps until every callback queued before it has run. */
  *rcuBarrier(): Sleepable {
    const s = this.#s;
    s.mightSleep("kernel/rcu/tree.c");
    if (this.pending === 0) return;
    const done = new Completion(s, "rcu_barrier");
    this.callRcu(() => done.complete());
    yield* done.waitForCompletion("rcu_barrier");
  }

  /** Mirrors `rcu_read_lock()` (and `rcu_read_lock_sched()`): preemption off. */
  rcuReadLock(): void {
    const t = this.#s.current;
    t.rcuReadDepth++;
    t.preemptCount += PREEMPT_OFFSET;
  }

  /** Mirrors `rcu_read_unlock()`. An unbalanced unlock warns once and changes nothing. */
  rcuReadUnlock(): void {
    const t = this.#s.current;
    if (t.rcuReadDepth === 0) {
      this.#s.log.warnOnce("include/linux/rcupdate.h:rcu_read_unlock", "rcu_read_unlock() without rcu_read_lock()");
      return;
    }
    t.rcuReadDepth--;
    t.preemptCount -= PREEMPT_OFFSET;
  }

  /** Mirrors `rcu_read_lock_held()`. */
  rcuReadLockHeld(): boolean {
    return this.#s.current.rcuReadDepth > 0;
  }

  #startGp(now: number): void {
    this.#gpStart = now;
    this.#s.timers.hrtimerStart(this.#timer, now + this.gpNs);
  }

  #gpEnd(): void {
    const s = this.#s;
    this.completed++;
    const batch = this.#cur;
    this.#cur = this.#next;
    this.#next = [];
    this.#gpStart = -1;
    if (this.#cur.length > 0) this.#startGp(s.clock.now());
    const online = s.cpus.onlineMask;
    for (const cb of batch) {
      const cpu = online.test(cb.cpu) ? cb.cpu : s.cpus.current;
      s.cpus.runIrq(cpu, "softirq", cb.fn, undefined);
    }
  }
}

function checkNs(v: number, name: string): number {
  if (!(Number.isSafeInteger(v) && v >= 0)) throw new RangeError(`Rcu: ${name} must be a non-negative integer of ns, got ${v}`);
  return v;
}
