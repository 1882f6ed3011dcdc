// SPDX-License-Identifier: GPL-2.0-only
/**
 * Worker pools and kworker threads (kernel/workqueue.c, v4.4): the part of
 * the workqueue machinery that executes work. Private to ts/kernel/;
 * workqueue.ts is the API.
 *
 * Concurrency management as in the kernel: a per-CPU pool keeps one worker
 * running at a time and wakes (or creates) another only when the running one
 * blocks. Unbound pools, and per-CPU pools whose CPU went offline
 * ("disassociated"), are not managed: every pending work item gets a worker.
 * Idle workers wait in S state, which the hung-task detector ignores.
 *
 * @module
 */

import type { Sleepable, Task, WorkerHooks } from "./_task.ts";
import type { WaitQueue } from "./_waitqueue.ts";
import { CpuMask } from "./_cpumask.ts";
import type { LockClass } from "./lockdep.ts";
import type { Scheduler } from "./sched.ts";

/** `alloc_workqueue()` flags (include/linux/workqueue.h, v4.4). */
export const WQ_UNBOUND = 1 << 1;
export const WQ_FREEZABLE = 1 << 2;
export const WQ_MEM_RECLAIM = 1 << 3;
export const WQ_HIGHPRI = 1 << 4;
export const WQ_CPU_INTENSIVE = 1 << 5;
export const WQ_SYSFS = 1 << 6;
export const WQ_POWER_EFFICIENT = 1 << 7;
export const __WQ_ORDERED = 1 << 17;
/** `WQ_MAX_ACTIVE`, `WQ_DFL_ACTIVE`. */
export const WQ_MAX_ACTIVE = 512;
export const WQ_DFL_ACTIVE = WQ_MAX_ACTIVE / 2;
/** `work_busy()` bits. */
export const WORK_BUSY_PENDING = 1 << 0;
export const WORK_BUSY_RUNNING = 1 << 1;

/** What the pools need to know about a work item (workqueue.ts's WorkStruct). */
export interface PoolWork {
  func: (work: any) => unknown;
  readonly name: string;
  pending: boolean;
  /** @internal the pwq it is queued on (worklist or delayed list), or null */
  pwq: PoolWorkqueue | null;
  /** @internal the pool it last went to */
  pool: WorkerPool | null;
  /** @internal on pwq.delayed rather than the pool's worklist */
  delayed: boolean;
  /** @internal instance numbers: of the queued instance, of the last finished (or cancelled) one */
  pendingInstance: number;
  doneInstance: number;
  /** @internal the workqueue-wide sequence of the queued instance, for flush_workqueue() */
  wqSeq: number;
  /** @internal lockdep class "(name)" */
  lockClass: LockClass | null;
}

/** What the pools need of a workqueue. */
export interface PoolWq {
  readonly name: string;
  readonly flags: number;
  readonly lockClass: LockClass;
  /** @internal sequences of queued, unfinished instances */
  readonly inflight: Set<number>;
}

/** Shared state of the workqueue subsystem. */
export interface WqContext {
  readonly sched: Scheduler;
  /** Woken whenever a work item finishes or is cancelled (flushers re-check). */
  readonly flushWq: WaitQueue;
}

/** Mirrors `struct pool_workqueue`: one workqueue's share of one pool. */
export class PoolWorkqueue {
  nrActive = 0;
  readonly delayedWorks: PoolWork[] = [];

  constructor(readonly wq: PoolWq, readonly pool: WorkerPool, readonly maxActive: number) {}

  /** Mirrors `pwq_dec_nr_in_flight()` + `pwq_activate_first_delayed()`. */
  decNrActive(): void {
    this.nrActive--;
    if (this.delayedWorks.length > 0 && this.nrActive < this.maxActive) {
      const w = this.delayedWorks.shift()!;
      w.delayed = false;
      this.nrActive++;
      this.pool.worklist.push(w);
      this.pool.kick();
    }
  }
}

/** Mirrors `struct worker`. */
export class Worker implements WorkerHooks {
  task!: Task;
  /** Woken to work (or working); false while idle. */
  active = true;
  current: PoolWork | null = null;
  currentPwq: PoolWorkqueue | null = null;
  readonly scheduled: PoolWork[] = [];

  constructor(readonly pool: WorkerPool, readonly id: number) {}

  /** Mirrors `wq_worker_sleeping()`: the pool may need another worker. */
  sleeping(): void {
    const p = this.pool;
    if (!this.active || !p.managed) return;
    p.nrRunning--;
    p.kick();
  }

  /** Mirrors `wq_worker_waking_up()`. */
  wakingUp(): void {
    if (this.active && this.pool.managed) this.pool.nrRunning++;
  }
}

/** Mirrors `struct worker_pool`. */
export class WorkerPool {
  readonly worklist: PoolWork[] = [];
  readonly workers: Worker[] = [];
  /** Idle workers; the most recently idle is woken first (the kernel's idle_list head). */
  readonly idle: Worker[] = [];
  /** Which worker executes which work item (`busy_hash`). */
  readonly busy = new Map<PoolWork, Worker>();
  /** Workers counted as running (`nr_running`); only meaningful when managed. */
  nrRunning = 0;
  /** POOL_DISASSOCIATED: the CPU is offline; workers may run anywhere. */
  disassociated: boolean;
  #nextId = 0;

  /**
   * @param cpu the pool's CPU, or -1 for the unbound pool
   * @param id the pool id, used in unbound worker names ("kworker/u<id>:<n>")
   */
  constructor(readonly ctx: WqContext, readonly cpu: number, readonly highpri: boolean, readonly id: number) {
    this.disassociated = cpu < 0 || !ctx.sched.cpus.cpuOnline(cpu);
  }

  /** Concurrency-managed: a per-CPU pool on an online CPU. */
  get managed(): boolean {
    return !this.disassociated;
  }

  /** Mirrors `insert_work()`'s `wake_up_worker()` plus the manager's `maybe_create_worker()`. */
  kick(): void {
    if (this.worklist.length === 0) return;
    if (this.managed && this.nrRunning > 0) return;
    const w = this.idle.pop();
    if (w !== undefined) {
      w.active = true; // wakingUp() counts it in nr_running
      this.ctx.sched.wakeUpProcess(w.task);
    } else this.#createWorker();
  }

  /** Mirrors `unbind_workers()` (CPU_DOWN_PREPARE): workers may run anywhere, no concurrency management. */
  unbind(): void {
    if (this.cpu < 0 || this.disassociated) return;
    this.disassociated = true;
    for (const w of this.workers) this.ctx.sched.setCpusAllowed(w.task, null);
    this.kick();
  }

  /** Mirrors `rebind_workers()` (CPU_ONLINE / CPU_DOWN_FAILED). */
  rebind(): void {
    if (this.cpu < 0 || !this.disassociated) return;
    this.disassociated = false;
    const mask = new CpuMask(this.ctx.sched.cpus.nrCpuIds, [this.cpu]);
    let running = 0;
    for (const w of this.workers) {
      if (w.task.state === "exited") continue;
      this.ctx.sched.setCpusAllowed(w.task, mask);
      if (w.active && w.task.state !== "blocked") running++;
    }
    this.nrRunning = running;
  }

  /** Mirrors `create_worker()`: a new worker, already active. */
  #createWorker(): void {
    const id = this.#nextId++;
    const w = new Worker(this, id);
    const s = this.ctx.sched;
    const comm = this.cpu >= 0 ? `kworker/${this.cpu}:${id}${this.highpri ? "H" : ""}` : `kworker/u${this.id}:${id}`;
    if (this.managed) this.nrRunning++;
    const opts = this.cpu >= 0 && !this.disassociated ? { cpu: this.cpu, bound: true } : this.cpu >= 0 ? { cpu: this.cpu } : {};
    w.task = s.spawn(comm, () => workerThread(w), opts);
    w.task.worker = w;
    this.workers.push(w);
  }
}

/** Mirrors `worker_thread()`. */
function* workerThread(w: Worker): Sleepable {
  const pool = w.pool;
  const s = pool.ctx.sched;
  for (;;) {
    while (pool.worklist.length > 0 && (!pool.managed || pool.nrRunning <= 1)) {
      yield* processOneWork(w, pool.worklist.shift()!);
      while (w.scheduled.length > 0) yield* processOneWork(w, w.scheduled.shift()!);
    }
    w.active = false;
    if (pool.managed) pool.nrRunning--;
    pool.idle.push(w);
    s.blockCurrent("worker_thread", true);
    yield;
    if (!w.active) {
      // Woken by something other than kick(): take ourselves off the idle list.
      const i = pool.idle.indexOf(w);
      if (i >= 0) pool.idle.splice(i, 1);
      w.active = true;
      if (pool.managed) pool.nrRunning++;
    }
  }
}

function isSleepable(x: unknown): x is Sleepable<void> {
  return typeof x === "object" && x !== null && typeof (x as { next?: unknown }).next === "function";
}

/** Mirrors `process_one_work()`. */
function* processOneWork(w: Worker, work: PoolWork): Sleepable {
  const pool = w.pool;
  const other = pool.busy.get(work);
  if (other !== undefined && other !== w) {
    other.scheduled.push(work); // never run one work item on two workers at once
    return;
  }
  const pwq = work.pwq!;
  const s = pool.ctx.sched;
  const task = w.task;
  const instance = work.pendingInstance;
  const wqSeq = work.wqSeq;
  pool.busy.set(work, w);
  w.current = work;
  w.currentPwq = pwq;
  work.pwq = null;
  work.pending = false;
  const intensive = (pwq.wq.flags & WQ_CPU_INTENSIVE) !== 0 && pool.managed;
  if (intensive) pool.nrRunning--;
  pool.kick();
  const cls = (work.lockClass ??= s.lockClass(`(${work.name})`));
  s.lockdep?.acquire(task, pwq.wq.lockClass, "process_one_work");
  s.lockdep?.acquire(task, cls, "process_one_work");
  const r = work.func(work);
  if (isSleepable(r)) yield* r;
  s.lockdep?.release(task, cls, "process_one_work");
  s.lockdep?.release(task, pwq.wq.lockClass, "process_one_work");
  if (task.inAtomic() || (s.lockdep !== null && s.lockdep.held(task).length > 0)) {
    s.log.printk("err", `BUG: workqueue leaked lock or atomic: ${task.comm}/0x${task.preemptCount.toString(16).padStart(8, "0")}/${task.pid}`);
    s.log.printk("err", `    last function: ${work.name}`);
    s.log.dumpStack(task);
  }
  if (intensive) pool.nrRunning++;
  pool.busy.delete(work);
  w.current = null;
  w.currentPwq = null;
  if (instance > work.doneInstance) work.doneInstance = instance;
  pwq.wq.inflight.delete(wqSeq);
  pwq.decNrActive();
  pool.ctx.flushWq.wakeUpAll();
}
