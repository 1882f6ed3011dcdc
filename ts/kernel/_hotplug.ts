// SPDX-License-Identifier: GPL-2.0-only
/**
 * CPU hotplug operations (kernel/cpu.c, v4.4): `cpu_up()`, `cpu_down()` and
 * the `get_online_cpus()` read side, with the kernel's locks and notifier
 * sequence. Private to ts/kernel/; re-exported by cpu.ts.
 *
 * @module
 */

import { errnoName, KernelError } from "../errors.ts";
import {
  CPU_DEAD,
  CPU_DOWN_FAILED,
  CPU_DOWN_PREPARE,
  CPU_DYING,
  CPU_ONLINE,
  CPU_POST_DEAD,
  CPU_STARTING,
  CPU_UP_CANCELED,
  CPU_UP_PREPARE,
  notifierToErrno,
} from "./_notifier.ts";
import type { Sleepable, Task } from "./_task.ts";
import { WaitQueue } from "./_waitqueue.ts";
import type { Cpus } from "./cpu.ts";
import { Mutex } from "./mutex.ts";
import type { Scheduler } from "./sched.ts";

/** Construction options. */
export interface CpuHotplugOptions {
  sched: Scheduler;
  /** `cpu_down()` waits for a grace period after CPU_DOWN_PREPARE when given (an Rcu). */
  rcu?: { synchronizeRcu(): Sleepable } | null;
}

/**
 * CPU hotplug for one machine. Notifiers registered on `sched.cpus` see the
 * v4.4 sequence:
 *
 * - up: CPU_UP_PREPARE (may veto; then CPU_UP_CANCELED to those already
 *   called) → CPU_STARTING on the new CPU → online → CPU_ONLINE;
 * - down: CPU_DOWN_PREPARE (may veto; then CPU_DOWN_FAILED to those already
 *   called) → synchronize_rcu → CPU_DYING on the dying CPU, offline, tasks
 *   migrated → CPU_DEAD → CPU_POST_DEAD after the hotplug lock is dropped.
 *
 * @example
 * const hp = new CpuHotplug({ sched, rcu });
 * sched.spawn("hotplug", function* () { yield* hp.cpuDown(3); yield* hp.cpuUp(3); });
 */
export class CpuHotplug {
  readonly #s: Scheduler;
  readonly #cpus: Cpus;
  readonly #rcu: CpuHotplugOptions["rcu"];
  /** `cpu_add_remove_lock`: serializes hotplug operations. */
  readonly cpuAddRemoveLock: Mutex;
  /** `cpu_hotplug.lock`: held by the writer for the whole operation, briefly by readers. */
  readonly hotplugLock: Mutex;
  readonly #wq: WaitQueue;
  #activeWriter: Task | null = null;
  #refcount = 0;
  #disabled = 0;

  constructor(opts: CpuHotplugOptions) {
    if (!opts?.sched) throw new TypeError("CpuHotplug: opts.sched is required");
    this.#s = opts.sched;
    this.#cpus = opts.sched.cpus;
    this.#rcu = opts.rcu ?? null;
    this.cpuAddRemoveLock = new Mutex(this.#s, "cpu_add_remove_lock");
    this.hotplugLock = new Mutex(this.#s, "cpu_hotplug.lock");
    this.#wq = new WaitQueue(this.#s, "cpu_hotplug.wq");
  }

  /** `cpu_hotplug.refcount`: readers inside get_online_cpus(). */
  get refcount(): number {
    return this.#refcount;
  }

  /** Mirrors `get_online_cpus()`: keeps CPUs from coming or going until put. */
  *getOnlineCpus(): Sleepable {
    const s = this.#s;
    s.mightSleep("kernel/cpu.c");
    if (this.#activeWriter === s.current) return;
    yield* this.hotplugLock.lock("get_online_cpus");
    this.#refcount++;
    this.hotplugLock.unlock("get_online_cpus");
  }

  /** Mirrors `put_online_cpus()`. An unbalanced put warns and changes nothing. */
  putOnlineCpus(): void {
    const s = this.#s;
    if (this.#activeWriter === s.current) return;
    if (this.#refcount <= 0) {
      s.log.warn("kernel/cpu.c:put_online_cpus", "WARN_ON(refcount < 0)");
      return;
    }
    if (--this.#refcount === 0) this.#wq.wakeUpAll();
  }

  /** Mirrors `cpu_hotplug_disable()`: cpu_up/cpu_down fail with EBUSY until enabled. */
  *cpuHotplugDisable(): Sleepable {
    yield* this.cpuAddRemoveLock.lock("cpu_hotplug_disable");
    this.#disabled++;
    this.cpuAddRemoveLock.unlock("cpu_hotplug_disable");
  }

  /** Mirrors `cpu_hotplug_enable()`; an unbalanced enable warns. */
  *cpuHotplugEnable(): Sleepable {
    yield* this.cpuAddRemoveLock.lock("cpu_hotplug_enable");
    if (this.#disabled === 0) this.#s.log.warnOnce("kernel/cpu.c:cpu_hotplug_enable", "WARN_ON(--cpu_hotplug_disabled < 0)");
    else this.#disabled--;
    this.cpuAddRemoveLock.unlock("cpu_hotplug_enable");
  }

  /**
   * Mirrors `cpu_up()`: brings `cpu` online.
   *
   * @throws {RangeError} when cpu is not a possible CPU number
   * @throws {KernelError} EINVAL when the CPU is not present or already online;
   *   EBUSY while hotplug is disabled; a notifier's errno when it vetoed CPU_UP_PREPARE
   */
  *cpuUp(cpu: number): Sleepable {
    this.#cpus.checkCpu(cpu, "cpu_up");
    yield* this.cpuAddRemoveLock.lock("cpu_maps_update_begin");
    try {
      if (this.#disabled > 0) throw new KernelError("EBUSY", "cpu_up", "cpu hotplug is disabled");
      yield* this.#cpuUp(cpu);
    } finally {
      this.cpuAddRemoveLock.unlock("cpu_maps_update_done");
    }
  }

  /**
   * Mirrors `cpu_down()`: takes `cpu` offline.
   *
   * @throws {RangeError} when cpu is not a possible CPU number
   * @throws {KernelError} EBUSY for the last online CPU or while hotplug is
   *   disabled; EINVAL when it is not online; a notifier's errno when it vetoed CPU_DOWN_PREPARE
   */
  *cpuDown(cpu: number): Sleepable {
    this.#cpus.checkCpu(cpu, "cpu_down");
    yield* this.cpuAddRemoveLock.lock("cpu_maps_update_begin");
    try {
      if (this.#disabled > 0) throw new KernelError("EBUSY", "cpu_down", "cpu hotplug is disabled");
      yield* this.#cpuDown(cpu);
    } finally {
      this.cpuAddRemoveLock.unlock("cpu_maps_update_done");
    }
  }

  /** `_cpu_up()`. */
  *#cpuUp(cpu: number): Sleepable {
    const cpus = this.#cpus;
    yield* this.#hotplugBegin();
    let err = 0;
    try {
      if (cpus.cpuOnline(cpu) || !cpus.cpuPresent(cpu)) {
        throw new KernelError("EINVAL", "_cpu_up", cpus.cpuOnline(cpu) ? `cpu ${cpu} is already online` : `cpu ${cpu} is not present`);
      }
      const prep = yield* cpus.chain.call(CPU_UP_PREPARE, cpu);
      err = notifierToErrno(prep.ret);
      if (err !== 0) {
        this.#s.log.printk("warning", `_cpu_up: attempt to bring up CPU ${cpu} failed`);
        yield* cpus.chain.call(CPU_UP_CANCELED, cpu, prep.nrCalls - 1);
        throw new KernelError(errnoName(err), "_cpu_up", `a CPU_UP_PREPARE notifier returned ${err}`);
      }
      // __cpu_up(): the new CPU runs CPU_STARTING with interrupts off, then marks itself online.
      cpus.runIrq(cpu, "hardirq", () => cpus.chain.callAtomic(CPU_STARTING, cpu), undefined);
      cpus.setCpuOnline(cpu, true);
      yield* cpus.chain.call(CPU_ONLINE, cpu);
    } finally {
      this.#hotplugDone();
    }
  }

  /** `_cpu_down()`. */
  *#cpuDown(cpu: number): Sleepable {
    const cpus = this.#cpus;
    if (cpus.numOnlineCpus() === 1 && cpus.cpuOnline(cpu)) throw new KernelError("EBUSY", "_cpu_down", "the last online CPU");
    if (!cpus.cpuOnline(cpu)) throw new KernelError("EINVAL", "_cpu_down", `cpu ${cpu} is not online`);
    yield* this.#hotplugBegin();
    let ok = false;
    try {
      const prep = yield* cpus.chain.call(CPU_DOWN_PREPARE, cpu);
      const err = notifierToErrno(prep.ret);
      if (err !== 0) {
        yield* cpus.chain.call(CPU_DOWN_FAILED, cpu, prep.nrCalls - 1);
        this.#s.log.printk("warning", `_cpu_down: attempt to take down CPU ${cpu} failed`);
        throw new KernelError(errnoName(err), "_cpu_down", `a CPU_DOWN_PREPARE notifier returned ${err}`);
      }
      if (this.#rcu) yield* this.#rcu.synchronizeRcu();
      // stop_machine(take_cpu_down): on the dying CPU, atomically.
      cpus.runIrq(cpu, "hardirq", () => {
        cpus.setCpuOnline(cpu, false);
        cpus.chain.callAtomic(CPU_DYING, cpu);
      }, undefined);
      // __cpu_die() → native_cpu_die() (arch/x86/kernel/smpboot.c, v4.4).
      this.#s.log.printk("info", `smpboot: CPU ${cpu} is now offline`);
      yield* cpus.chain.call(CPU_DEAD, cpu);
      ok = true;
    } finally {
      this.#hotplugDone();
    }
    if (ok) yield* cpus.chain.call(CPU_POST_DEAD, cpu);
  }

  /** Mirrors `cpu_hotplug_begin()`: waits until no reader holds the CPUs, keeping the lock. */
  *#hotplugBegin(): Sleepable {
    const s = this.#s;
    this.#activeWriter = s.current;
    const e = this.#wq.entry();
    for (;;) {
      yield* this.hotplugLock.lock("cpu_hotplug_begin");
      this.#wq.prepareToWait(e, false, "cpu_hotplug_begin");
      if (this.#refcount === 0) break;
      this.hotplugLock.unlock("cpu_hotplug_begin");
      yield;
    }
    this.#wq.finishWait(e);
  }

  /** Mirrors `cpu_hotplug_done()`. */
  #hotplugDone(): void {
    this.#activeWriter = null;
    this.hotplugLock.unlock("cpu_hotplug_done");
  }
}
