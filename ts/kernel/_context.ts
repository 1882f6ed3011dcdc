// SPDX-License-Identifier: GPL-2.0-only
/**
 * The execution context: who is `current`, and what it may do there
 * (preemption and interrupt state, `might_sleep()`, lock classes). The
 * scheduler extends it with the run loop. Private to ts/kernel/; sched.ts
 * exports the Scheduler.
 *
 * @module
 */

import { HARDIRQ_MASK, PREEMPT_OFFSET, SOFTIRQ_MASK, Task } from "./_task.ts";
import type { Clock } from "./clock.ts";
import type { Cpus } from "./cpu.ts";
import type { Klog } from "./klog.ts";
import { LockClass, type Lockdep } from "./lockdep.ts";

const X86_EFLAGS_IF = 0x200;

/** The part of the Scheduler every primitive uses; see sched.ts. */
export class ExecContext {
  readonly cpus: Cpus;
  readonly clock: Clock;
  readonly log: Klog;
  readonly lockdep: Lockdep | null;
  /** @internal the running task, or the CPU's idle task */
  protected curr: Task;
  /** @internal `swapper/N`, pid 0, one per CPU */
  protected readonly idle: Task[];
  readonly #classes = new Map<string, LockClass>();
  #mightSleepJiffy = -1;
  #rcuWarned = false;
  #debugLocks = true;

  constructor(cpus: Cpus, clock: Clock, log: Klog, lockdep: Lockdep | null) {
    this.cpus = cpus;
    this.clock = clock;
    this.log = log;
    this.lockdep = lockdep;
    this.idle = Array.from({ length: cpus.nrCpuIds }, (_, c) => {
      const t = new Task(0, `swapper/${c}`, c, true, null);
      t.state = "running";
      return t;
    });
    this.curr = this.idle[cpus.current];
    log.setContext(() => this.curr);
  }

  /** Mirrors `current`: the running task, or the CPU's idle task (pid 0) in interrupt context or outside a run. */
  get current(): Task {
    return this.curr;
  }

  /** Mirrors `smp_processor_id()`. */
  smpProcessorId(): number {
    return this.cpus.current;
  }

  /**
   * The lock class named `name`, created on first use (the kernel's static
   * `lock_class_key` per init site; e.g. every queue's "&q->sysfs_lock").
   */
  lockClass(name: string | LockClass): LockClass {
    if (name instanceof LockClass) return name;
    let c = this.#classes.get(name);
    if (c === undefined) this.#classes.set(name, (c = new LockClass(name)));
    return c;
  }

  /**
   * Mirrors `set_current_state(TASK_UNINTERRUPTIBLE / TASK_INTERRUPTIBLE)`:
   * the current task will block at its next `yield`. For primitives.
   *
   * @throws {TypeError} outside a task (interrupt context cannot sleep)
   */
  blockCurrent(waitPoint: string, interruptible: boolean): void {
    const t = this.curr;
    if (t.pid === 0) throw new TypeError(`${waitPoint}: cannot sleep outside a task (interrupt context or no run)`);
    t.state = "blocked";
    t.interruptible = interruptible;
    t.waitPoint = waitPoint;
  }

  /** Mirrors `__set_current_state(TASK_RUNNING)`. */
  setCurrentRunning(): void {
    const t = this.curr;
    if (t.pid !== 0 && t.state === "blocked") t.state = "running";
  }

  /**
   * Mirrors `___might_sleep()` (kernel/sched/core.c, v4.4): in atomic context
   * (preemption or interrupts disabled, interrupt context, idle task) logs
   * "BUG: sleeping function called from invalid context at <where>",
   * at most once per second of virtual time as the kernel rate-limits it.
   */
  mightSleep(where: string): void {
    const t = this.curr;
    if (t.rcuReadDepth > 0 && !this.#rcuWarned) {
      this.#rcuWarned = true;
      this.suspiciousRcu("include/linux/rcupdate.h", "Illegal context switch in RCU read-side critical section!");
    }
    if (t.preemptCount === 0 && !t.irqsOff && t.pid !== 0) return;
    const j = this.clock.jiffies();
    if (this.#mightSleepJiffy >= 0 && j < this.#mightSleepJiffy + this.clock.HZ) return;
    this.#mightSleepJiffy = j;
    const log = this.log;
    log.printk("err", `BUG: sleeping function called from invalid context at ${where}`);
    log.printk("err", `in_atomic(): ${t.preemptCount !== 0 ? 1 : 0}, irqs_disabled(): ${t.irqsOff ? 1 : 0}, pid: ${t.pid}, name: ${t.comm}`);
    this.showHeldLocks(t);
    log.dumpStack();
  }

  /** Mirrors `lockdep_rcu_suspicious()` (kernel/locking/lockdep.c): the "suspicious RCU usage" report. */
  suspiciousRcu(file: string, msg: string): void {
    const w = (s: string) => this.log.printk("warning", s);
    w("");
    w("===============================");
    w("[ INFO: suspicious RCU usage. ]");
    w(this.log.kernelIdent());
    w("-------------------------------");
    w(`${file} ${msg}`);
    w("");
    w("other info that might help us debug this:");
    w("");
    w(`rcu_scheduler_active = 1, debug_locks = ${this.#debugLocks ? 1 : 0}`);
    this.showHeldLocks(this.curr);
    this.log.dumpStack();
  }

  /**
   * Mirrors `debug_locks_off()` for the DEBUG_LOCKS_WARN_ON() checks of the
   * lock primitives: true only the first time (and only while lockdep has
   * not turned checking off), so only the first such problem is printed.
   */
  debugLocksOff(): boolean {
    if (!this.#debugLocks || this.lockdep?.debugLocks === false) return false;
    this.#debugLocks = false;
    return true;
  }

  /** Mirrors `preempt_disable()`. */
  preemptDisable(): void {
    this.curr.preemptCount += PREEMPT_OFFSET;
  }

  /** Mirrors `preempt_enable()`; the next yield is the preemption point. An underflow warns once. */
  preemptEnable(): void {
    const t = this.curr;
    if ((t.preemptCount & 0xff) === 0) {
      this.log.warnOnce("kernel/sched/core.c:preempt_count_sub", "DEBUG_LOCKS_WARN_ON(val > preempt_count())");
      return;
    }
    t.preemptCount -= PREEMPT_OFFSET;
  }

  /** Mirrors `get_cpu()`: preempt_disable() and the current CPU. */
  getCpu(): number {
    this.preemptDisable();
    return this.cpus.current;
  }

  /** Mirrors `put_cpu()`. */
  putCpu(): void {
    this.preemptEnable();
  }

  /** Mirrors `local_irq_save()`: x86 EFLAGS with IF (0x200) set when interrupts were on. */
  localIrqSave(): number {
    const t = this.curr;
    const flags = t.irqsOff ? 0 : X86_EFLAGS_IF;
    t.irqsOff = true;
    return flags;
  }

  /** Mirrors `local_irq_restore()`. */
  localIrqRestore(flags: number): void {
    this.curr.irqsOff = (flags & X86_EFLAGS_IF) === 0;
  }

  /** Mirrors `local_irq_disable()`. */
  localIrqDisable(): void {
    this.curr.irqsOff = true;
  }

  /** Mirrors `local_irq_enable()`. */
  localIrqEnable(): void {
    this.curr.irqsOff = false;
  }

  /** Mirrors `irqs_disabled()`. */
  irqsDisabled(): boolean {
    return this.curr.irqsOff;
  }

  /** Mirrors `in_interrupt()`: hardirq or softirq context (or bh disabled). */
  inInterrupt(): boolean {
    return (this.curr.preemptCount & (HARDIRQ_MASK | SOFTIRQ_MASK)) !== 0;
  }

  /** Mirrors `in_atomic()`. */
  inAtomic(): boolean {
    return this.curr.preemptCount !== 0;
  }

  /** Mirrors `debug_show_held_locks()`. */
  protected showHeldLocks(t: Task): void {
    if (this.lockdep === null) return;
    const held = this.lockdep.held(t);
    if (held.length === 0) return;
    this.log.printk("warning", `${held.length} lock${held.length > 1 ? "s" : ""} held by ${t.comm}/${t.pid}:`);
    held.forEach((c, i) => this.log.printk("warning", ` #${i}:  (${c.name})`));
  }
}
