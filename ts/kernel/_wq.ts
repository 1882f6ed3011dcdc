// SPDX-License-Identifier: GPL-2.0-only
/**
 * Work items and workqueues: `struct work_struct`, `struct delayed_work` and
 * the queueing side of `struct workqueue_struct` (kernel/workqueue.c, v4.4).
 * Private to ts/kernel/; workqueue.ts is the API.
 *
 * @module
 */

import { NR_CPUS } from "./cpu.ts";
import { type PoolWork, PoolWorkqueue, type WorkerPool, WQ_HIGHPRI, WQ_UNBOUND } from "./_worker.ts";
import type { Sleepable } from "./_task.ts";
import type { LockClass } from "./lockdep.ts";
import { Timer } from "./timer.ts";
import type { Workqueues } from "./workqueue.ts";

/**
 * Mirrors `work_func_t`: called with the work item (a DelayedWork for delayed
 * work). A returned Sleepable (from a generator function) is run by the
 * worker; any other return value is ignored.
 */
export type WorkFunc = (work: any) => unknown;

/** `WORK_CPU_UNBOUND`: "any CPU" (the local one for per-CPU workqueues). */
export const WORK_CPU_UNBOUND = NR_CPUS;

/**
 * Mirrors `struct work_struct` set up by `INIT_WORK()`. The name is also the
 * lockdep class ("(name)"), shared by every work item initialized at one site.
 *
 * @example
 * const w = new WorkStruct(function* () { yield* m.lock(); m.unlock(); }, "&hctx->run_work");
 */
export class WorkStruct implements PoolWork {
  /** The work function; a generator function (returning a Sleepable) may sleep. */
  func: WorkFunc;
  readonly name: string;
  /** WORK_STRUCT_PENDING. */
  pending = false;
  /** @internal */ canceling = false;
  /** @internal */ pwq: PoolWorkqueue | null = null;
  /** @internal */ pool: WorkerPool | null = null;
  /** @internal */ delayed = false;
  /** @internal */ pendingInstance = 0;
  /** @internal */ doneInstance = 0;
  /** @internal */ wqSeq = 0;
  /** @internal */ lockClass: LockClass | null = null;

  constructor(func: WorkFunc, name = "work") {
    if (typeof func !== "function") throw new TypeError("INIT_WORK: func must be a function");
    this.func = func;
    this.name = name;
  }
}

/** Mirrors `struct delayed_work` set up by `INIT_DELAYED_WORK()`. */
export class DelayedWork extends WorkStruct {
  /** The timer that queues the work when it expires. */
  readonly timer: Timer;
  /** @internal where the timer will queue it */
  wq: Workqueue | null = null;
  /** @internal */ cpu = WORK_CPU_UNBOUND;

  constructor(func: WorkFunc, name = "dwork") {
    super(func, name);
    this.timer = new Timer(() => this.wq!.queueNow(this.cpu, this), `delayed_work_timer_fn(${name})`);
  }
}

/**
 * Mirrors `struct workqueue_struct`, made by {@link Workqueues.allocWorkqueue}.
 */
export class Workqueue {
  readonly name: string;
  readonly flags: number;
  /** `saved_max_active`. */
  readonly maxActive: number;
  readonly lockClass: LockClass;
  /** @internal */ readonly inflight = new Set<number>();
  readonly #sys: Workqueues;
  readonly #pwqs: (PoolWorkqueue | undefined)[] = [];
  #seq = 0;
  #draining = false;
  #destroyed = false;

  /** @internal use {@link Workqueues.allocWorkqueue} */
  constructor(sys: Workqueues, name: string, flags: number, maxActive: number) {
    this.#sys = sys;
    this.name = name;
    this.flags = flags;
    this.maxActive = maxActive;
    this.lockClass = sys.sched.lockClass(name);
  }

  /** Mirrors `queue_work()`: on the current CPU for a per-CPU workqueue. @returns false when already pending */
  queueWork(work: WorkStruct): boolean {
    return this.queueWorkOn(WORK_CPU_UNBOUND, work);
  }

  /**
   * Mirrors `queue_work_on()`.
   *
   * @returns false when the work was already pending
   * @throws {RangeError} on a bad CPU
   */
  queueWorkOn(cpu: number, work: WorkStruct): boolean {
    this.#checkCpu(cpu, "queue_work_on");
    if (work.pending) return false;
    work.pending = true;
    this.queueNow(cpu, work);
    return true;
  }

  /** Mirrors `queue_delayed_work()`. @returns false when already pending */
  queueDelayedWork(dwork: DelayedWork, delay: number): boolean {
    return this.queueDelayedWorkOn(WORK_CPU_UNBOUND, dwork, delay);
  }

  /**
   * Mirrors `queue_delayed_work_on()`: queues after `delay` jiffies (0: now).
   *
   * @returns false when already pending
   * @throws {RangeError} on a bad CPU or delay
   */
  queueDelayedWorkOn(cpu: number, dwork: DelayedWork, delay: number): boolean {
    this.#checkCpu(cpu, "queue_delayed_work_on");
    checkDelay(delay, "queue_delayed_work_on");
    if (dwork.pending) return false;
    dwork.pending = true;
    this.#queueDelayed(cpu, dwork, delay);
    return true;
  }

  /** Mirrors `mod_delayed_work()`. */
  modDelayedWork(dwork: DelayedWork, delay: number): boolean {
    return this.modDelayedWorkOn(WORK_CPU_UNBOUND, dwork, delay);
  }

  /**
   * Mirrors `mod_delayed_work_on()`: (re)queues after `delay` jiffies whether
   * or not it was pending. While a cancel is in progress it does nothing and
   * returns true (the kernel returns -ENOENT, which callers read as true).
   *
   * @returns whether the work was pending
   */
  modDelayedWorkOn(cpu: number, dwork: DelayedWork, delay: number): boolean {
    this.#checkCpu(cpu, "mod_delayed_work_on");
    checkDelay(delay, "mod_delayed_work_on");
    if (dwork.canceling) return true;
    const was = this.#sys.grabPending(dwork);
    this.#queueDelayed(cpu, dwork, delay);
    return was;
  }

  /** Mirrors `flush_workqueue()`: waits until every work queued so far has finished. */
  *flush(): Sleepable {
    const s = this.#sys.sched;
    s.mightSleep("kernel/workqueue.c");
    s.lockdep?.acquire(s.current, this.lockClass, "flush_workqueue");
    s.lockdep?.release(s.current, this.lockClass, "flush_workqueue");
    const target = this.#seq;
    const busy = () => {
      for (const q of this.inflight) if (q <= target) return true;
      return false;
    };
    yield* this.#sys.flushWq.waitEvent(() => !busy(), `flush_workqueue(${this.name})`);
  }

  /** Mirrors `drain_workqueue()`: flushes until empty; only its own work items may queue meanwhile. */
  *drain(): Sleepable {
    this.#draining = true;
    try {
      while (this.inflight.size > 0) yield* this.flush();
    } finally {
      this.#draining = false;
    }
  }

  /** Mirrors `destroy_workqueue()`: drains, then refuses further work. */
  *destroy(): Sleepable {
    yield* this.drain();
    this.#destroyed = true;
  }

  /** @internal `__queue_work()`: the work is pending; put it on a pool. */
  queueNow(reqCpu: number, work: WorkStruct): void {
    const sys = this.#sys;
    const s = sys.sched;
    if (this.#destroyed || (this.#draining && !sys.isChainedWork(this))) {
      s.log.warnOnce("kernel/workqueue.c:__queue_work", `workqueue: cannot queue ${work.name} on ${this.#destroyed ? "destroyed" : "draining"} workqueue ${this.name}`);
      return;
    }
    const cpu = reqCpu === WORK_CPU_UNBOUND ? s.cpus.current : reqCpu;
    let pwq = this.#pwq(cpu);
    const last = work.pool;
    if (last !== null && last !== pwq.pool) {
      const worker = last.busy.get(work);
      if (worker !== undefined && worker.currentPwq?.wq === this) pwq = worker.currentPwq;
    }
    work.pwq = pwq;
    work.pool = pwq.pool;
    work.pendingInstance++;
    work.wqSeq = ++this.#seq;
    this.inflight.add(work.wqSeq);
    if (pwq.nrActive < pwq.maxActive) {
      pwq.nrActive++;
      work.delayed = false;
      pwq.pool.worklist.push(work);
      pwq.pool.kick();
    } else {
      work.delayed = true;
      pwq.delayedWorks.push(work);
    }
  }

  /** `__queue_delayed_work()`. */
  #queueDelayed(cpu: number, dwork: DelayedWork, delay: number): void {
    dwork.wq = this;
    dwork.cpu = cpu;
    if (delay === 0) {
      this.queueNow(cpu, dwork);
      return;
    }
    const timers = this.#sys.sched.timers;
    dwork.timer.expires = this.#sys.sched.clock.jiffies() + delay;
    if (cpu !== WORK_CPU_UNBOUND) timers.addTimerOn(dwork.timer, cpu);
    else timers.addTimer(dwork.timer);
  }

  #pwq(cpu: number): PoolWorkqueue {
    const sys = this.#sys;
    const hi = (this.flags & WQ_HIGHPRI) !== 0;
    const key = this.flags & WQ_UNBOUND ? 0 : cpu;
    return (this.#pwqs[key] ??= new PoolWorkqueue(this, this.flags & WQ_UNBOUND ? sys.unboundPool(hi) : sys.cpuPool(cpu, hi), this.maxActive));
  }

  #checkCpu(cpu: number, op: string): void {
    if (cpu !== WORK_CPU_UNBOUND) this.#sys.sched.cpus.checkCpu(cpu, op);
  }
}

function checkDelay(delay: number, op: string): void {
  if (!(Number.isSafeInteger(delay) && delay >= 0)) throw new RangeError(`${op}: delay must be a non-negative integer of jiffies, got ${delay}`);
}
