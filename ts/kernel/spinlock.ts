// SPDX-License-Identifier: GPL-2.0-only
/**
 * Spinlocks with `CONFIG_DEBUG_SPINLOCK` checks and lockdep reporting.
 *
 * Taking a spinlock disables preemption (and, for the irq variants, local
 * interrupts), so the holder's `yield`s are preemption points not taken and
 * the lock can only be found held by someone else if its holder blocked while
 * holding it, which the scheduler reports as "BUG: sleeping function called
 * from invalid context" / "BUG: scheduling while atomic". A contended
 * acquisition therefore cannot end (the holder would never run on this
 * cooperative machine): it logs the kernel's spinlock-lockup or recursion
 * report and throws {@link KernelBug} through `BUG()`.
 *
 * @module
 */

import type { LockClass } from "./lockdep.ts";
import { SOFTIRQ_DISABLE_OFFSET, type Task } from "./_task.ts";
import type { Scheduler } from "./sched.ts";

const SPINLOCK_MAGIC = 0xdead4ead;
const X86_EFLAGS_IF = 0x200;
const DEBUG_C = "kernel/locking/spinlock_debug.c";

/**
 * Mirrors `spinlock_t` and the `spin_*()` API (include/linux/spinlock.h,
 * kernel/locking/spinlock_debug.c).
 *
 * @example
 * const l = new Spinlock(sched, "&hctx->lock");
 * const flags = l.lockIrqsave();
 * // ... no yield that blocks in here ...
 * l.unlockIrqrestore(flags);
 */
export class Spinlock {
  readonly cls: LockClass;
  /** The holder, or null (`owner`). */
  owner: Task | null = null;
  /** The holder's CPU, or -1 (`owner_cpu`). */
  ownerCpu = -1;
  readonly #s: Scheduler;

  constructor(sched: Scheduler, cls: LockClass | string) {
    this.#s = sched;
    this.cls = sched.lockClass(cls);
  }

  /** Mirrors `spin_is_locked()`. */
  isLocked(): boolean {
    return this.owner !== null;
  }

  /** Mirrors `spin_lock()`: preempt_disable(), then the lock. @throws {KernelBug} when it would spin forever */
  lock(where = "spin_lock"): void {
    this.#s.current.preemptCount += 1;
    this.#acquire(where);
  }

  /** Mirrors `spin_unlock()`. */
  unlock(where = "spin_unlock"): void {
    if (this.#release(where)) this.#s.current.preemptCount -= 1;
  }

  /** Mirrors `spin_trylock()`. @returns whether the lock was taken */
  trylock(where = "spin_trylock"): boolean {
    if (this.owner !== null) return false;
    const cur = this.#s.current;
    cur.preemptCount += 1;
    this.#take(cur);
    this.#s.lockdep?.acquire(cur, this.cls, where, { trylock: true });
    return true;
  }

  /** Mirrors `spin_lock_irqsave()`: @returns the flags to restore (x86 EFLAGS, IF = 0x200) */
  lockIrqsave(where = "spin_lock_irqsave"): number {
    const cur = this.#s.current;
    const flags = cur.irqsOff ? 0 : X86_EFLAGS_IF;
    cur.irqsOff = true;
    cur.preemptCount += 1;
    this.#acquire(where);
    return flags;
  }

  /** Mirrors `spin_unlock_irqrestore()`. */
  unlockIrqrestore(flags: number, where = "spin_unlock_irqrestore"): void {
    if (!this.#release(where)) return;
    const cur = this.#s.current;
    cur.irqsOff = (flags & X86_EFLAGS_IF) === 0;
    cur.preemptCount -= 1;
  }

  /** Mirrors `spin_lock_irq()`. */
  lockIrq(where = "spin_lock_irq"): void {
    const cur = this.#s.current;
    cur.irqsOff = true;
    cur.preemptCount += 1;
    this.#acquire(where);
  }

  /** Mirrors `spin_unlock_irq()`. */
  unlockIrq(where = "spin_unlock_irq"): void {
    if (!this.#release(where)) return;
    const cur = this.#s.current;
    cur.irqsOff = false;
    cur.preemptCount -= 1;
  }

  /** Mirrors `spin_lock_bh()`: bottom halves off (`local_bh_disable()`). */
  lockBh(where = "spin_lock_bh"): void {
    this.#s.current.preemptCount += SOFTIRQ_DISABLE_OFFSET;
    this.#acquire(where);
  }

  /** Mirrors `spin_unlock_bh()`. */
  unlockBh(where = "spin_unlock_bh"): void {
    if (this.#release(where)) this.#s.current.preemptCount -= SOFTIRQ_DISABLE_OFFSET;
  }

  /** `do_raw_spin_lock()` with `debug_spin_lock_before()`. */
  #acquire(where: string): void {
    const s = this.#s;
    const cur = s.current;
    s.lockdep?.acquire(cur, this.cls, where);
    if (this.owner === null) {
      this.#take(cur);
      return;
    }
    const what = this.owner === cur ? "recursion" : this.ownerCpu === s.cpus.current ? "cpu recursion" : "lockup suspected";
    this.#dump(what);
    s.log.bug(`${DEBUG_C}:${what === "lockup suspected" ? "__spin_lock_debug" : "debug_spin_lock_before"}`, `spinlock ${what} on ${this.cls.name}`);
  }

  #take(cur: Task): void {
    this.owner = cur;
    this.ownerCpu = this.#s.cpus.current;
  }

  /**
   * `do_raw_spin_unlock()` with `debug_spin_unlock()`: a lock not held, or
   * held by another task or CPU, is reported and, unlike the kernel, left as it is.
   *
   * @returns whether the lock was released
   */
  #release(where: string): boolean {
    const s = this.#s;
    const cur = s.current;
    const bad = this.owner === null ? "already unlocked" : this.owner !== cur ? "wrong owner" : this.ownerCpu !== s.cpus.current ? "wrong CPU" : null;
    if (bad !== null) {
      if (s.debugLocksOff()) this.#dump(bad);
      return false;
    }
    s.lockdep?.release(cur, this.cls, where);
    this.owner = null;
    this.ownerCpu = -1;
    return true;
  }

  /** Mirrors `spin_dump()`. */
  #dump(msg: string): void {
    const s = this.#s;
    const cur = s.current;
    const o = this.owner;
    s.log.printk("emerg", `BUG: spinlock ${msg} on CPU#${s.cpus.current}, ${cur.comm}/${cur.pid}`);
    s.log.printk(
      "emerg",
      ` lock: ${this.cls.name}, .magic: ${SPINLOCK_MAGIC.toString(16)}, .owner: ${o ? o.comm : "<none>"}/${o ? o.pid : -1}, .owner_cpu: ${this.ownerCpu}`,
    );
    s.log.dumpStack();
  }
}
