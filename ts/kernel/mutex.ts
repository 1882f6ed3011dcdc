// SPDX-License-Identifier: GPL-2.0-only
/**
 * Sleeping mutexes with owner tracking, `CONFIG_DEBUG_MUTEXES` checks and
 * lockdep reporting.
 *
 * As in v4.4 (before the 4.10 hand-off rework), `mutex_unlock()` releases the
 * lock and wakes the first waiter, which then competes for it: a task that
 * arrives in between may take it first.
 *
 * @module
 */

import type { LockClass } from "./lockdep.ts";
import type { Sleepable, Task } from "./_task.ts";
import type { Scheduler } from "./sched.ts";

/** `might_sleep()` site of `mutex_lock()` (v4.1-era line, as the kernel prints it). */
const MUTEX_C = "kernel/locking/mutex.c:616";
/** The `DEBUG_LOCKS_WARN_ON()` of `debug_mutex_unlock()` (v4.2-v4.4). */
const MUTEX_DEBUG_UNLOCK = "kernel/locking/mutex-debug.c:80 debug_mutex_unlock()";

/**
 * Mirrors `struct mutex` (include/linux/mutex.h, kernel/locking/mutex.c).
 *
 * @example
 * const m = new Mutex(sched, "&q->sysfs_lock");
 * sched.spawn("t", function* () {
 *   yield* m.lock();
 *   // ... critical section, may sleep ...
 *   m.unlock();
 * });
 */
export class Mutex {
  /** The lockdep class; all mutexes initialized at one site share it. */
  readonly cls: LockClass;
  /** The holder, or null (`owner` under CONFIG_DEBUG_MUTEXES). */
  owner: Task | null = null;
  readonly #s: Scheduler;
  readonly #waiters: Task[] = [];
  readonly #waitPoint: string;

  /**
   * @param cls the lock class, or its name (looked up in the scheduler's registry)
   */
  constructor(sched: Scheduler, cls: LockClass | string) {
    this.#s = sched;
    this.cls = sched.lockClass(cls);
    this.#waitPoint = `mutex_lock(${this.cls.name})`;
  }

  /** Mirrors `mutex_is_locked()`. */
  isLocked(): boolean {
    return this.owner !== null;
  }

  /** Tasks sleeping in {@link Mutex.lock}, in arrival order. */
  get waiters(): readonly Task[] {
    return this.#waiters;
  }

  /**
   * Mirrors `mutex_lock()`: might_sleep, tells lockdep, then takes the lock
   * or sleeps in D state until an unlock lets it win the lock.
   *
   * @param where the call site for lockdep reports; default "mutex_lock"
   */
  *lock(where = "mutex_lock"): Sleepable {
    const s = this.#s;
    s.mightSleep(MUTEX_C);
    const cur = s.current;
    s.lockdep?.acquire(cur, this.cls, where);
    if (this.owner === null) {
      this.owner = cur;
      return;
    }
    this.#waiters.push(cur);
    try {
      do {
        s.blockCurrent(this.#waitPoint, false);
        yield;
      } while (this.owner !== null);
    } finally {
      const i = this.#waiters.indexOf(cur);
      if (i >= 0) this.#waiters.splice(i, 1);
    }
    this.owner = cur;
  }

  /**
   * Mirrors `mutex_trylock()`.
   *
   * @returns true when the lock was taken (the kernel's 1)
   */
  trylock(where = "mutex_trylock"): boolean {
    if (this.owner !== null) return false;
    const s = this.#s;
    this.owner = s.current;
    s.lockdep?.acquire(this.owner, this.cls, where, { trylock: true });
    return true;
  }

  /**
   * Mirrors `mutex_unlock()`. Unlocking a mutex the current task does not
   * hold logs `DEBUG_LOCKS_WARN_ON(lock->owner != current)` as
   * `debug_mutex_unlock()` does, and, unlike the kernel (which goes on to
   * release it), leaves the mutex untouched.
   */
  unlock(where = "mutex_unlock"): void {
    const s = this.#s;
    const cur = s.current;
    if (this.owner !== cur) {
      if (s.debugLocksOff()) s.log.warn(MUTEX_DEBUG_UNLOCK, "DEBUG_LOCKS_WARN_ON(lock->owner != current)");
      return;
    }
    s.lockdep?.release(cur, this.cls, where);
    this.owner = null;
    const first = this.#waiters[0];
    if (first !== undefined) s.wakeUpProcess(first);
  }

  /** Mirrors `mutex_destroy()`: warns when the mutex is still locked. */
  destroy(): void {
    if (this.owner !== null && this.#s.debugLocksOff()) {
      this.#s.log.warn("kernel/locking/mutex-debug.c mutex_destroy()", "DEBUG_LOCKS_WARN_ON(mutex_is_locked(lock))");
    }
  }
}
