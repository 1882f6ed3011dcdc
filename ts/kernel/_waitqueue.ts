// SPDX-License-Identifier: GPL-2.0-only
/**
 * Wait queues and completions, the two ways a task sleeps until another
 * wakes it. Private to ts/kernel/; re-exported by sched.ts.
 *
 * There are no lost wake-ups to guard against: between a task's check of its
 * condition and its `yield` nothing else runs.
 *
 * @module
 */

import type { Sleepable, Task } from "./_task.ts";
import type { Scheduler } from "./sched.ts";

/** Mirrors `wait_queue_t`: one sleeping task's entry. */
export interface WaitEntry {
  task: Task;
  queued: boolean;
  exclusive: boolean;
}

const WAIT_H = "include/linux/wait.h";

/**
 * Mirrors `wait_queue_head_t` and the `wait_event*()` / `wake_up*()` family
 * (include/linux/wait.h, kernel/sched/wait.c).
 *
 * @example
 * const wq = new WaitQueue(sched, "&q->mq_freeze_wq");
 * sched.spawn("waiter", function* () { yield* wq.waitEvent(() => done); });
 * sched.spawn("waker", function* () { done = true; wq.wakeUpAll(); });
 */
export class WaitQueue {
  readonly name: string;
  readonly #s: Scheduler;
  readonly #desc: string;
  #waiters: WaitEntry[] = [];

  constructor(sched: Scheduler, name: string) {
    this.#s = sched;
    this.name = name;
    this.#desc = `wait_event(${name})`;
  }

  /** Mirrors `waitqueue_active()`. */
  waitqueueActive(): boolean {
    return this.#waiters.length > 0;
  }

  /** How many entries are queued. */
  get length(): number {
    return this.#waiters.length;
  }

  /** A new entry for the current task (`DEFINE_WAIT()`). */
  entry(exclusive = false): WaitEntry {
    return { task: this.#s.current, queued: false, exclusive };
  }

  /**
   * Mirrors `prepare_to_wait()` / `prepare_to_wait_exclusive()`: queues the
   * entry if needed (exclusive entries at the tail, others at the head) and
   * sets the current task blocked; the caller then re-checks its condition
   * and yields.
   */
  prepareToWait(e: WaitEntry, interruptible = false, waitPoint = this.#desc): void {
    if (!e.queued) {
      e.queued = true;
      if (e.exclusive) this.#waiters.push(e);
      else this.#waiters.unshift(e);
    }
    this.#s.blockCurrent(waitPoint, interruptible);
  }

  /** Mirrors `finish_wait()`: the task is running again and its entry is gone. */
  finishWait(e: WaitEntry): void {
    this.#s.setCurrentRunning();
    if (e.queued) this.#unqueue(e);
  }

  /**
   * Mirrors `wait_event()`: sleeps in D state until `cond()` is true.
   *
   * @param waitPoint how the hung-task report names this wait; default "wait_event(<name>)"
   */
  *waitEvent(cond: () => boolean, waitPoint = this.#desc): Sleepable {
    this.#s.mightSleep(WAIT_H);
    if (cond()) return;
    const e = this.entry();
    for (;;) {
      this.prepareToWait(e, false, waitPoint);
      if (cond()) break;
      yield;
    }
    this.finishWait(e);
  }

  /**
   * Mirrors `wait_event_interruptible()`: as waitEvent but in S state, which
   * the hung-task detector ignores. There are no signals, so it returns 0.
   */
  *waitEventInterruptible(cond: () => boolean, waitPoint = this.#desc): Sleepable<number> {
    this.#s.mightSleep(WAIT_H);
    if (cond()) return 0;
    const e = this.entry();
    for (;;) {
      this.prepareToWait(e, true, waitPoint);
      if (cond()) break;
      yield;
    }
    this.finishWait(e);
    return 0;
  }

  /**
   * Mirrors `wait_event_timeout()`: sleeps until `cond()` or `timeout` jiffies pass.
   *
   * @returns 0 when the time ran out with cond false; otherwise the jiffies left, at least 1
   * @throws {RangeError} when timeout is not a non-negative integer
   */
  *waitEventTimeout(cond: () => boolean, timeout: number, waitPoint = this.#desc): Sleepable<number> {
    if (!(Number.isSafeInteger(timeout) && timeout >= 0)) throw new RangeError(`wait_event_timeout: timeout must be a non-negative integer of jiffies, got ${timeout}`);
    this.#s.mightSleep(WAIT_H);
    const s = this.#s;
    const clock = s.clock;
    if (cond()) return Math.max(1, timeout);
    const deadline = clock.now() + timeout * clock.tickNs;
    const e = this.entry();
    let ok = false;
    for (;;) {
      this.prepareToWait(e, false, waitPoint);
      if (cond()) {
        ok = true;
        break;
      }
      if (clock.now() >= deadline) break;
      s.armWakeup(deadline);
      yield;
    }
    s.cancelWakeup();
    this.finishWait(e);
    const left = Math.ceil((deadline - clock.now()) / clock.tickNs);
    return ok ? Math.max(1, left) : cond() ? 1 : 0;
  }

  /** Mirrors `wake_up()`: wakes every non-exclusive waiter and one exclusive. @returns how many woke */
  wakeUp(): number {
    return this.wakeUpNr(1);
  }

  /** Mirrors `wake_up_all()`. @returns how many woke */
  wakeUpAll(): number {
    return this.wakeUpNr(0);
  }

  /** Mirrors `wake_up_nr()`: `nr` exclusive waiters at most (0: all). @returns how many woke */
  wakeUpNr(nr: number): number {
    let woken = 0;
    let left = nr;
    const list = this.#waiters.slice();
    for (const e of list) {
      if (this.#s.wakeUpProcess(e.task)) {
        this.#unqueue(e);
        woken++;
        if (e.exclusive && --left === 0) break;
      }
    }
    return woken;
  }

  #unqueue(e: WaitEntry): void {
    const i = this.#waiters.indexOf(e);
    if (i >= 0) this.#waiters.splice(i, 1);
    e.queued = false;
  }
}

/** `UINT_MAX / 2`: what `complete_all()` adds to `done`. */
const COMPLETE_ALL = 0x7fffffff;

/**
 * Mirrors `struct completion` (include/linux/completion.h, kernel/sched/completion.c).
 *
 * @example
 * const done = new Completion(sched, "rcu.completion");
 * sched.spawn("waiter", function* () { yield* done.waitForCompletion(); });
 * done.complete();
 */
export class Completion {
  readonly name: string;
  /** `done`: completions not yet consumed. */
  done = 0;
  readonly #wq: WaitQueue;
  readonly #s: Scheduler;
  readonly #desc: string;

  constructor(sched: Scheduler, name: string) {
    this.#s = sched;
    this.name = name;
    this.#wq = new WaitQueue(sched, name);
    this.#desc = `wait_for_completion(${name})`;
  }

  /** Mirrors `complete()`: one waiter may proceed. */
  complete(): void {
    if (this.done !== COMPLETE_ALL) this.done++;
    this.#wq.wakeUpNr(1);
  }

  /** Mirrors `complete_all()`: every waiter, now and later, proceeds. */
  completeAll(): void {
    this.done = COMPLETE_ALL;
    this.#wq.wakeUpAll();
  }

  /** Mirrors `reinit_completion()`. */
  reinit(): void {
    this.done = 0;
  }

  /** Mirrors `completion_done()`: whether a wait would not block. */
  completionDone(): boolean {
    return this.done > 0;
  }

  /** Mirrors `try_wait_for_completion()`. @returns false instead of blocking */
  tryWaitForCompletion(): boolean {
    if (this.done === 0) return false;
    if (this.done !== COMPLETE_ALL) this.done--;
    return true;
  }

  /** Mirrors `wait_for_completion()`: D state until completed. */
  *waitForCompletion(waitPoint = this.#desc): Sleepable {
    this.#s.mightSleep("kernel/sched/completion.c");
    if (this.done === 0) {
      const e = this.#wq.entry(true);
      do {
        this.#wq.prepareToWait(e, false, waitPoint);
        if (this.done !== 0) break;
        yield;
      } while (this.done === 0);
      this.#wq.finishWait(e);
    }
    if (this.done !== COMPLETE_ALL) this.done--;
  }
}
