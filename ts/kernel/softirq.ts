// SPDX-License-Identifier: GPL-2.0-only
/**
 * Softirqs and IPIs: work "raised on" a CPU and run later in interrupt
 * context on that CPU. The scheduler delivers it between task steps, and
 * which CPU's pending work goes next, or whether a task runs first, is a
 * scheduling choice like any other (choice 0 delivers interrupts first).
 *
 * One delivery on a CPU mirrors an interrupt: every queued IPI callback runs
 * (hardirq context), then pending softirqs in number order (softirq context),
 * restarting at most `MAX_SOFTIRQ_RESTART` times like `__do_softirq()`.
 *
 * @module
 */

import { KernelError } from "../errors.ts";
import { CPU_DYING, CPU_TASKS_FROZEN } from "./_notifier.ts";
import type { Cpus } from "./cpu.ts";
import type { Klog } from "./klog.ts";
import type { IrqSource } from "./sched.ts";

/** Softirq numbers (include/linux/interrupt.h, v4.4). */
export const HI_SOFTIRQ = 0;
export const TIMER_SOFTIRQ = 1;
export const NET_TX_SOFTIRQ = 2;
export const NET_RX_SOFTIRQ = 3;
export const BLOCK_SOFTIRQ = 4;
export const BLOCK_IOPOLL_SOFTIRQ = 5;
export const TASKLET_SOFTIRQ = 6;
export const SCHED_SOFTIRQ = 7;
export const HRTIMER_SOFTIRQ = 8;
export const RCU_SOFTIRQ = 9;
export const NR_SOFTIRQS = 10;
/** `softirq_to_name[]` (kernel/softirq.c). */
export const SOFTIRQ_NAMES: readonly string[] = ["HI", "TIMER", "NET_TX", "NET_RX", "BLOCK", "BLOCK_IOPOLL", "TASKLET", "SCHED", "HRTIMER", "RCU"];
/** `MAX_SOFTIRQ_RESTART` (kernel/softirq.c). */
export const MAX_SOFTIRQ_RESTART = 10;

const CSD_FLAG_LOCK = 0x01;

/**
 * Mirrors `struct call_single_data` (include/linux/smp.h): a callback sent to
 * another CPU. It is "locked" (in flight) from sending until it has run.
 */
export class CallSingleData<T = unknown> {
  /** `flags`: CSD_FLAG_LOCK (1) while in flight. */
  flags = 0;

  constructor(public func: (info: T) => void, public info: T) {
    if (typeof func !== "function") throw new TypeError("CallSingleData: func must be a function");
  }
}

/**
 * The softirq vector and the per-CPU IPI queues (kernel/softirq.c, kernel/smp.c).
 *
 * @example
 * const softirq = new Softirq({ cpus, log });
 * softirq.openSoftirq(BLOCK_SOFTIRQ, () => completeDoneList());
 * softirq.smpCallFunctionSingleAsync(2, new CallSingleData(() => softirq.raiseSoftirq(BLOCK_SOFTIRQ), null));
 */
export class Softirq implements IrqSource {
  readonly #cpus: Cpus;
  readonly #log: Klog;
  readonly #actions: ((() => void) | null)[] = new Array(NR_SOFTIRQS).fill(null);
  readonly #softPending: Uint16Array;
  readonly #ipis: CallSingleData<any>[][];
  readonly #listed: Uint8Array;
  #order: number[] = [];
  #kick: (() => void) | null = null;
  #raised = 0;

  constructor(opts: { cpus: Cpus; log: Klog }) {
    if (!opts?.cpus || !opts.log) throw new TypeError("Softirq: opts.cpus and opts.log are required");
    this.#cpus = opts.cpus;
    this.#log = opts.log;
    const n = opts.cpus.nrCpuIds;
    this.#softPending = new Uint16Array(n);
    this.#ipis = Array.from({ length: n }, () => []);
    this.#listed = new Uint8Array(n);
    opts.cpus.hotcpuNotifier((action, cpu) => {
      if ((action & ~CPU_TASKS_FROZEN) !== CPU_DYING) return;
      this.#flushCpu(cpu);
      this.#relist(cpu);
    }, 0, "hotplug_cfd");
  }

  /** How many CPUs have work pending. */
  get nrPending(): number {
    return this.#order.length;
  }

  /** How many softirqs have been raised (a cheap activity counter). */
  get raised(): number {
    return this.#raised;
  }

  /** Mirrors `local_softirq_pending()` of `cpu`: the bitmask of pending softirqs. */
  pendingSoftirqs(cpu: number): number {
    this.#cpus.checkCpu(cpu, "local_softirq_pending");
    return this.#softPending[cpu];
  }

  /** IPI callbacks queued for `cpu`. */
  pendingIpis(cpu: number): number {
    this.#cpus.checkCpu(cpu, "call_single_queue");
    return this.#ipis[cpu].length;
  }

  /** Mirrors `open_softirq()`. @throws {RangeError} on a bad number */
  openSoftirq(nr: number, action: () => void): void {
    this.#checkNr(nr, "open_softirq");
    if (typeof action !== "function") throw new TypeError("open_softirq: action must be a function");
    this.#actions[nr] = action;
  }

  /** Mirrors `raise_softirq()`: marks `nr` pending on the current CPU. */
  raiseSoftirq(nr: number): void {
    this.#checkNr(nr, "raise_softirq");
    const cpu = this.#cpus.current;
    this.#softPending[cpu] |= 1 << nr;
    this.#raised++;
    this.#list(cpu);
  }

  /**
   * Mirrors `smp_call_function_single_async()` (kernel/smp.c, v4.4): queues
   * `csd` for `cpu`; on the current CPU it runs at once. Sending a csd that is
   * still in flight warns once and first waits for it (runs that CPU's queue).
   *
   * @throws {KernelError} ENXIO when the CPU is offline (the kernel's -ENXIO)
   * @throws {RangeError} on a bad CPU number
   */
  smpCallFunctionSingleAsync<T>(cpu: number, csd: CallSingleData<T>): void {
    this.#cpus.checkCpu(cpu, "smp_call_function_single_async");
    if (csd.flags & CSD_FLAG_LOCK) {
      this.#log.warnOnce("kernel/smp.c:smp_call_function_single_async", undefined);
      for (let c = 0; c < this.#ipis.length && csd.flags & CSD_FLAG_LOCK; c++) {
        if (this.#ipis[c].includes(csd)) this.#runIpis(c);
      }
    }
    if (cpu === this.#cpus.current) {
      this.#cpus.runIrq(cpu, "hardirq", csd.func, csd.info);
      return;
    }
    if (!this.#cpus.cpuOnline(cpu)) throw new KernelError("ENXIO", "smp_call_function_single_async", `cpu ${cpu} is offline`);
    csd.flags = CSD_FLAG_LOCK;
    this.#ipis[cpu].push(csd);
    this.#list(cpu);
  }

  /**
   * Mirrors `smp_call_function_single()`: runs `func(info)` on `cpu`. With
   * `wait` the caller spins until it ran, which here means it runs now, on that CPU.
   *
   * @throws {KernelError} ENXIO when the CPU is offline
   */
  smpCallFunctionSingle<T>(cpu: number, func: (info: T) => void, info: T, wait: boolean): void {
    this.#cpus.checkCpu(cpu, "smp_call_function_single");
    if (cpu !== this.#cpus.current && !this.#cpus.cpuOnline(cpu)) throw new KernelError("ENXIO", "smp_call_function_single", `cpu ${cpu} is offline`);
    if (wait || cpu === this.#cpus.current) this.#cpus.runIrq(cpu, "hardirq", func, info);
    else this.smpCallFunctionSingleAsync(cpu, new CallSingleData(func, info));
  }

  /** Delivers the interrupt work of the i-th CPU with work pending (the scheduler calls this). */
  deliver(i: number): void {
    const cpu = this.#order[i];
    if (cpu === undefined) throw new RangeError(`Softirq.deliver: index ${i} out of range [0, ${this.#order.length})`);
    this.#order.splice(i, 1);
    this.#listed[cpu] = 0;
    this.#flushCpu(cpu);
    this.#relist(cpu);
  }

  /** @internal the scheduler's wake hook */
  setKick(fn: () => void): void {
    this.#kick = fn;
  }

  #flushCpu(cpu: number): void {
    if (this.#ipis[cpu].length > 0) this.#runIpis(cpu);
    if (this.#softPending[cpu] !== 0) this.#doSoftirq(cpu);
  }

  /** Mirrors `flush_smp_call_function_queue()`: the queue as it stands, in order. */
  #runIpis(cpu: number): void {
    const batch = this.#ipis[cpu];
    this.#ipis[cpu] = [];
    for (const csd of batch) {
      csd.flags &= ~CSD_FLAG_LOCK; // csd_unlock() before func: func may resend it
      this.#cpus.runIrq(cpu, "hardirq", csd.func, csd.info);
    }
  }

  /** Mirrors `__do_softirq()`. */
  #doSoftirq(cpu: number): void {
    let restart = MAX_SOFTIRQ_RESTART;
    let pending = this.#softPending[cpu];
    while (pending !== 0) {
      this.#softPending[cpu] = 0;
      for (let nr = 0; nr < NR_SOFTIRQS; nr++) {
        if ((pending & (1 << nr)) === 0) continue;
        const action = this.#actions[nr];
        if (action === null) {
          this.#log.printk("err", `irq ${nr}: nobody cared (softirq ${SOFTIRQ_NAMES[nr]} has no action)`);
          continue;
        }
        this.#cpus.runIrq(cpu, "softirq", action, undefined);
      }
      pending = this.#softPending[cpu];
      if (--restart === 0) break;
    }
  }

  /** Lists `cpu` exactly when it has work left (work raised during a delivery may already be done). */
  #relist(cpu: number): void {
    const busy = this.#ipis[cpu].length > 0 || this.#softPending[cpu] !== 0;
    if (busy) this.#list(cpu);
    else if (this.#listed[cpu] !== 0) {
      this.#order.splice(this.#order.indexOf(cpu), 1);
      this.#listed[cpu] = 0;
    }
  }

  #list(cpu: number): void {
    if (this.#listed[cpu] === 0) {
      this.#listed[cpu] = 1;
      this.#order.push(cpu);
    }
    if (this.#kick !== null) this.#kick();
  }

  #checkNr(nr: number, op: string): void {
    if (!(Number.isInteger(nr) && nr >= 0 && nr < NR_SOFTIRQS)) throw new RangeError(`${op}: softirq ${nr} out of range [0, ${NR_SOFTIRQS})`);
  }
}
