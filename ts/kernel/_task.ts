// SPDX-License-Identifier: GPL-2.0-only
/**
 * `struct task_struct` and the yield protocol between tasks and the
 * scheduler. Private to ts/kernel/; re-exported by sched.ts.
 *
 * A task body is a generator. It yields at every point where the kernel
 * could switch tasks:
 *
 * - `yield;` is `cond_resched()` when the task is still TASK_RUNNING, and
 *   `schedule()` after a primitive set it blocked (the primitives do this, as
 *   the kernel's `set_current_state()` + `schedule()` pair does);
 * - `yield sleep(ns)` is `schedule_timeout_uninterruptible()` in nanoseconds;
 * - `yield* x` runs a {@link Sleepable} (a mutex lock, a wait, a grace period).
 *
 * @module
 */

import type { CpuMask } from "./_cpumask.ts";
import type { Timer } from "./timer.ts";

/** What a task yields: nothing (a scheduling point) or a {@link SleepRequest}. */
export type Wait = SleepRequest | undefined | void;

/**
 * A computation that may sleep, run with `yield*` from a task (the kernel's
 * "might_sleep" functions). Calling one without `yield*` does nothing.
 */
export type Sleepable<T = void> = Generator<Wait, T, unknown>;

/** A task body: `function* (task) { ... }`. Its return value becomes the exit code. */
export type TaskBody = (task: Task) => Generator<Wait, unknown, unknown>;

/** `yield sleep(ns)` asks the scheduler to block the task for `ns` virtual nanoseconds. */
export class SleepRequest {
  constructor(readonly ns: number) {}
}

/**
 * Mirrors `schedule_timeout_uninterruptible()` (kernel/time/timer.c) with a
 * nanosecond timeout (hrtimer precision, no jiffy rounding). Use as
 * `yield sleep(ns)`; the task is in D state meanwhile.
 *
 * @throws {RangeError} when ns is negative or not finite
 * @example
 * sched.spawn("t", function* () { yield sleep(1_000_000); }); // 1 ms
 */
export function sleep(ns: number): SleepRequest {
  if (!(ns >= 0 && ns <= Number.MAX_SAFE_INTEGER)) throw new RangeError(`sleep: ns must be a non-negative safe number, got ${ns}`);
  return new SleepRequest(ns);
}

/** The scheduler's view of a task's state (`TASK_RUNNING` split into running and runnable). */
export type TaskState = "running" | "runnable" | "blocked" | "exited";

/** Offsets in `preempt_count` (include/linux/preempt.h). */
export const PREEMPT_OFFSET = 1;
export const SOFTIRQ_OFFSET = 1 << 8;
export const SOFTIRQ_DISABLE_OFFSET = 2 * SOFTIRQ_OFFSET;
export const HARDIRQ_OFFSET = 1 << 16;
export const SOFTIRQ_MASK = 0xff << 8;
export const HARDIRQ_MASK = 0xf << 16;

/** Hooks a workqueue worker installs (mirrors `wq_worker_sleeping()` / `wq_worker_waking_up()`). */
export interface WorkerHooks {
  sleeping(task: Task): void;
  wakingUp(task: Task): void;
}

/**
 * The block layer's per-task plug as the scheduler sees it (`struct
 * blk_plug`, include/linux/blkdev.h): `sched_submit_work()` flushes it when a
 * task blocks.
 */
export interface TaskPlug {
  /** Mirrors `blk_needs_flush_plug()`: requests or callbacks are waiting. */
  needsFlush(): boolean;
  /** Mirrors `blk_schedule_flush_plug()`: `blk_flush_plug_list(plug, true)`. */
  scheduleFlush(): void;
}

/**
 * Mirrors `struct task_struct` (include/linux/sched.h), the fields the port
 * needs. Fields are written by the scheduler and the primitives; callers read
 * them.
 */
export class Task {
  /** The task id; 0 for the per-CPU idle tasks (`swapper/N`). */
  readonly pid: number;
  /** `comm`: the name in reports, e.g. "kworker/0:1". */
  comm: string;
  /** The CPU the task runs on (`task_cpu()`). */
  cpu: number;
  state: TaskState = "runnable";
  /** When blocked: TASK_INTERRUPTIBLE ("S") rather than TASK_UNINTERRUPTIBLE ("D"). */
  interruptible = false;
  /** When blocked: where, e.g. "mutex_lock(&q->sysfs_lock)". */
  waitPoint = "";
  /** Virtual ns when the task last blocked. */
  blockedSince = 0;
  /** `cpus_allowed`; null means every CPU. */
  affinity: CpuMask | null;
  /** A kernel thread (no `mm`) rather than a user process. */
  readonly kthread: boolean;
  /** `preempt_count()`: spinlocks, preempt_disable, bh and irq nesting. */
  preemptCount = 0;
  /** Local interrupts disabled (`irqs_disabled()`). */
  irqsOff = false;
  /** `rcu_read_lock()` nesting. */
  rcuReadDepth = 0;
  /** Context switches (`nvcsw + nivcsw`). */
  switches = 0;
  /** The body's return value once exited. */
  exitCode: unknown = undefined;
  /** Set by `kthread_stop()`. */
  shouldStop = false;
  /** @internal the body; null once exited */
  gen: Generator<Wait, unknown, unknown> | null = null;
  /** @internal the timer behind sleep() and timeouts */
  sleepTimer: Timer | null = null;
  /** @internal workqueue worker hooks */
  worker: WorkerHooks | null = null;
  /** @internal the hung-task watchdog already reported this block */
  hungReported = false;
  /** `current->plug`: set between `blk_start_plug()` and `blk_finish_plug()`. */
  plug: TaskPlug | null = null;
  /** @internal waiters for exit (kthread_stop) */
  exitWaiters: Task[] | null = null;

  constructor(pid: number, comm: string, cpu: number, kthread: boolean, affinity: CpuMask | null) {
    this.pid = pid;
    this.comm = comm;
    this.cpu = cpu;
    this.kthread = kthread;
    this.affinity = affinity;
  }

  /** The state letter `ps` shows: R, D, S or X. */
  stateChar(): string {
    if (this.state === "exited") return "X";
    if (this.state === "blocked") return this.interruptible ? "S" : "D";
    return "R";
  }

  /** `in_atomic()`: preemption disabled or interrupts off. */
  inAtomic(): boolean {
    return this.preemptCount !== 0 || this.irqsOff;
  }

  toString(): string {
    return `${this.comm}:${this.pid}`;
  }
}
