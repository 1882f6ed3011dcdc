// SPDX-License-Identifier: GPL-2.0-only
/**
 * Workqueues (kernel/workqueue.c, v4.4): work items, delayed work, per-CPU
 * and unbound workqueues, flushing and cancelling, run by kworker tasks of
 * the scheduler. Work functions may be plain functions or generator
 * functions (which may sleep).
 *
 * The kernel's guarantees hold: a work item is pending at most once, never
 * runs on two workers at once, a requeue while running runs it again
 * afterwards, `flush_work()` waits for the last queued instance, and
 * `cancel_work_sync()` keeps it from being requeued while it waits. lockdep
 * sees the workqueue and the work item as locks held around the work
 * function, and `flush_work()` / `flush_workqueue()` as acquiring them, so
 * flushing under a lock the work takes is reported.
 *
 * @module
 */

import {
  __WQ_ORDERED,
  type PoolWorkqueue,
  type WqContext,
  WORK_BUSY_PENDING,
  WORK_BUSY_RUNNING,
  WorkerPool,
  WQ_DFL_ACTIVE,
  WQ_HIGHPRI,
  WQ_MAX_ACTIVE,
  WQ_UNBOUND,
} from "./_worker.ts";
import { DelayedWork, Workqueue, type WorkStruct } from "./_wq.ts";
import { CPU_DOWN_FAILED, CPU_DOWN_PREPARE, CPU_ONLINE, CPU_PRI_WORKQUEUE_DOWN, CPU_PRI_WORKQUEUE_UP, CPU_TASKS_FROZEN } from "./_notifier.ts";
import type { Sleepable } from "./_task.ts";
import { WaitQueue } from "./_waitqueue.ts";
import type { Scheduler } from "./sched.ts";

export { DelayedWork, WORK_CPU_UNBOUND, type WorkFunc, Workqueue, WorkStruct } from "./_wq.ts";
export {
  __WQ_ORDERED,
  WORK_BUSY_PENDING,
  WORK_BUSY_RUNNING,
  WQ_CPU_INTENSIVE,
  WQ_DFL_ACTIVE,
  WQ_FREEZABLE,
  WQ_HIGHPRI,
  WQ_MAX_ACTIVE,
  WQ_MEM_RECLAIM,
  WQ_POWER_EFFICIENT,
  WQ_SYSFS,
  WQ_UNBOUND,
} from "./_worker.ts";

/**
 * The workqueue subsystem of one kernel: the worker pools, the system
 * workqueues and the work-item operations (`flush_work()`, `cancel_*()`).
 *
 * @example
 * const wqs = new Workqueues({ sched });
 * const kblockd = wqs.allocWorkqueue("kblockd", WQ_MEM_RECLAIM | WQ_HIGHPRI, 0);
 * const work = new WorkStruct(() => { ran++; }, "&q->requeue_work");
 * kblockd.queueWork(work);
 * sched.run(); // a kworker/0:0H runs it
 */
export class Workqueues implements WqContext {
  readonly sched: Scheduler;
  /** @internal */ readonly flushWq: WaitQueue;
  /** `system_wq` ("events"). */
  readonly systemWq: Workqueue;
  /** `system_highpri_wq` ("events_highpri"). */
  readonly systemHighpriWq: Workqueue;
  /** `system_long_wq` ("events_long"). */
  readonly systemLongWq: Workqueue;
  /** `system_unbound_wq` ("events_unbound"). */
  readonly systemUnboundWq: Workqueue;
  readonly #cpuPools: (WorkerPool | undefined)[] = [];
  readonly #unboundPools: (WorkerPool | undefined)[] = [];
  readonly #cancelWq: WaitQueue;

  constructor(opts: { sched: Scheduler }) {
    if (!opts?.sched) throw new TypeError("Workqueues: opts.sched is required");
    const s = (this.sched = opts.sched);
    this.flushWq = new WaitQueue(s, "wq_flush");
    this.#cancelWq = new WaitQueue(s, "cancel_waitq");
    s.cpus.hotcpuNotifier((action, cpu) => {
      const a = action & ~CPU_TASKS_FROZEN;
      if (a === CPU_ONLINE || a === CPU_DOWN_FAILED) for (const p of this.#poolsOf(cpu)) p.rebind();
    }, CPU_PRI_WORKQUEUE_UP, "workqueue_cpu_up_callback");
    s.cpus.hotcpuNotifier((action, cpu) => {
      if ((action & ~CPU_TASKS_FROZEN) === CPU_DOWN_PREPARE) for (const p of this.#poolsOf(cpu)) p.unbind();
    }, CPU_PRI_WORKQUEUE_DOWN, "workqueue_cpu_down_callback");
    this.systemWq = this.allocWorkqueue("events", 0, 0);
    this.systemHighpriWq = this.allocWorkqueue("events_highpri", WQ_HIGHPRI, 0);
    this.systemLongWq = this.allocWorkqueue("events_long", 0, 0);
    this.systemUnboundWq = this.allocWorkqueue("events_unbound", WQ_UNBOUND, WQ_MAX_ACTIVE);
  }

  /**
   * Mirrors `alloc_workqueue()`.
   *
   * @param maxActive 0 for the default (256); clamped to [1, 512] with the kernel's warning
   * @throws {TypeError} on an empty name
   */
  allocWorkqueue(name: string, flags = 0, maxActive = 0): Workqueue {
    if (typeof name !== "string" || name === "") throw new TypeError("alloc_workqueue: name must be a non-empty string");
    if (!(Number.isInteger(maxActive) && maxActive >= 0)) throw new RangeError(`alloc_workqueue: max_active must be a non-negative integer, got ${maxActive}`);
    const lim = flags & WQ_UNBOUND ? Math.max(WQ_MAX_ACTIVE, 4 * this.sched.cpus.nrCpuIds) : WQ_MAX_ACTIVE;
    let active = maxActive || WQ_DFL_ACTIVE;
    if (active > lim) {
      this.sched.log.printk("warning", `workqueue: max_active ${active} requested for ${name} is out of range, clamping between 1 and ${lim}`);
      active = lim;
    }
    return new Workqueue(this, name, flags, active);
  }

  /** Mirrors `alloc_ordered_workqueue()`: unbound, one work at a time, in queue order. */
  allocOrderedWorkqueue(name: string, flags = 0): Workqueue {
    return this.allocWorkqueue(name, WQ_UNBOUND | __WQ_ORDERED | flags, 1);
  }

  /** Mirrors `schedule_work()`: on system_wq. */
  scheduleWork(work: WorkStruct): boolean {
    return this.systemWq.queueWork(work);
  }

  /** Mirrors `schedule_delayed_work()`: on system_wq. */
  scheduleDelayedWork(dwork: DelayedWork, delay: number): boolean {
    return this.systemWq.queueDelayedWork(dwork, delay);
  }

  /** Mirrors `work_pending()`. */
  workPending(work: WorkStruct): boolean {
    return work.pending;
  }

  /** Mirrors `delayed_work_pending()`. */
  delayedWorkPending(dwork: DelayedWork): boolean {
    return dwork.pending;
  }

  /** Mirrors `work_busy()`: WORK_BUSY_PENDING | WORK_BUSY_RUNNING. */
  workBusy(work: WorkStruct): number {
    let r = work.pending ? WORK_BUSY_PENDING : 0;
    if (work.pool?.busy.has(work)) r |= WORK_BUSY_RUNNING;
    return r;
  }

  /** Mirrors `current_work()`: the work item the current task executes, or null. */
  currentWork(): WorkStruct | null {
    const w = this.sched.current.worker as { current?: WorkStruct | null } | null;
    return w?.current ?? null;
  }

  /**
   * Mirrors `flush_work()`: waits until the last queued instance of `work`
   * has finished (or was cancelled).
   *
   * @returns false when the work was idle (neither pending nor running)
   */
  *flushWork(work: WorkStruct): Sleepable<boolean> {
    const s = this.sched;
    s.mightSleep("kernel/workqueue.c");
    const running = work.pool?.busy.has(work) ?? false;
    if (work.pwq === null && !running) return false; // idle, or only its timer is pending
    const cls = (work.lockClass ??= s.lockClass(`(${work.name})`));
    s.lockdep?.acquire(s.current, cls, "flush_work");
    s.lockdep?.release(s.current, cls, "flush_work");
    const target = work.pendingInstance; // the queued instance, else the running one
    yield* this.flushWq.waitEvent(() => work.doneInstance >= target, `flush_work(${work.name})`);
    return true;
  }

  /** Mirrors `flush_delayed_work()`: a pending timer fires now, then flush_work(). */
  *flushDelayedWork(dwork: DelayedWork): Sleepable<boolean> {
    if (this.sched.timers.delTimerSync(dwork.timer)) dwork.wq!.queueNow(dwork.cpu, dwork);
    return yield* this.flushWork(dwork);
  }

  /**
   * Mirrors `cancel_work_sync()`: removes a pending instance, waits for a
   * running one, and keeps the work from being queued meanwhile.
   *
   * @returns whether the work was pending
   */
  *cancelWorkSync(work: WorkStruct): Sleepable<boolean> {
    const s = this.sched;
    s.mightSleep("kernel/workqueue.c");
    while (work.canceling) yield* this.#cancelWq.waitEvent(() => !work.canceling, `cancel_work_sync(${work.name})`);
    const was = this.grabPending(work);
    work.pending = true; // mark_work_canceling(): queueing fails until we are done
    work.canceling = true;
    try {
      if (work.pool !== null && work.pool.busy.has(work)) {
        const cls = (work.lockClass ??= s.lockClass(`(${work.name})`));
        s.lockdep?.acquire(s.current, cls, "flush_work");
        s.lockdep?.release(s.current, cls, "flush_work");
        const pool = work.pool;
        yield* this.flushWq.waitEvent(() => !pool.busy.has(work), `cancel_work_sync(${work.name})`);
      }
    } finally {
      work.pending = false;
      work.canceling = false;
      this.#cancelWq.wakeUpAll();
    }
    return was;
  }

  /** Mirrors `cancel_delayed_work_sync()`. */
  *cancelDelayedWorkSync(dwork: DelayedWork): Sleepable<boolean> {
    return yield* this.cancelWorkSync(dwork);
  }

  /**
   * Mirrors `cancel_delayed_work()`: stops the timer or removes the queued
   * work; does not wait for a running instance.
   *
   * @returns whether it was pending (false while another cancel is in progress)
   */
  cancelDelayedWork(dwork: DelayedWork): boolean {
    if (dwork.canceling) return false;
    const was = this.grabPending(dwork);
    dwork.pending = false;
    return was;
  }

  /**
   * @internal `try_to_grab_pending()`: takes a pending instance off its timer
   * or list (counting it as finished for flushers). Afterwards the work is
   * marked pending, owned by the caller.
   *
   * @returns whether it was pending
   */
  grabPending(work: WorkStruct): boolean {
    if (work instanceof DelayedWork && this.sched.timers.delTimer(work.timer)) return true;
    if (!work.pending) {
      work.pending = true;
      return false;
    }
    const pwq = work.pwq;
    if (pwq !== null) {
      const pool = pwq.pool;
      let list = work.delayed ? pwq.delayedWorks : pool.worklist;
      let i = list.indexOf(work);
      if (i < 0) {
        for (const w of pool.workers) {
          i = w.scheduled.indexOf(work);
          if (i >= 0) {
            list = w.scheduled;
            break;
          }
        }
      }
      if (i >= 0) list.splice(i, 1);
      work.pwq = null;
      pwq.wq.inflight.delete(work.wqSeq);
      if (work.pendingInstance > work.doneInstance) work.doneInstance = work.pendingInstance;
      if (work.delayed) work.delayed = false;
      else pwq.decNrActive();
      this.flushWq.wakeUpAll();
    }
    return true;
  }

  /** @internal `is_chained_work()`: the current task is a worker running a work of `wq`. */
  isChainedWork(wq: Workqueue): boolean {
    const w = this.sched.current.worker as { currentPwq?: PoolWorkqueue | null } | null;
    return w?.currentPwq?.wq === wq;
  }

  /** @internal the per-CPU pool (normal or highpri) of `cpu`. */
  cpuPool(cpu: number, highpri: boolean): WorkerPool {
    const i = 2 * cpu + (highpri ? 1 : 0);
    return (this.#cpuPools[i] ??= new WorkerPool(this, cpu, highpri, i));
  }

  /** @internal the unbound pool (normal or highpri). */
  unboundPool(highpri: boolean): WorkerPool {
    const i = highpri ? 1 : 0;
    return (this.#unboundPools[i] ??= new WorkerPool(this, -1, highpri, 2 * this.sched.cpus.nrCpuIds + i));
  }

  #poolsOf(cpu: number): WorkerPool[] {
    return [this.#cpuPools[2 * cpu], this.#cpuPools[2 * cpu + 1]].filter((p): p is WorkerPool => p !== undefined);
  }
}
