// SPDX-License-Identifier: GPL-2.0-only
/**
 * The scheduler: deterministic tasks written as generators, one running at a
 * time, switched only where they yield. Every decision (which runnable task
 * or pending interrupt goes next, which CPU a waking task lands on) comes
 * from a {@link ChoiceSource}, so a seed or a fuzzer's byte stream replays an
 * interleaving bit-exactly.
 *
 * When every task waits for a timer, virtual time jumps to the next timer.
 * When every task is blocked in D state and nothing can wake them, the run
 * ends with the kernel's hung-task report. A virtual-time watchdog
 * (`hung_task_timeout_secs`, default 120) reports tasks blocked that long
 * while others keep running.
 *
 * @module
 */

import { KernelError } from "../errors.ts";
import { ExecContext } from "./_context.ts";
import { type HungTask, HungTaskError, HungTaskWatchdog } from "./_hung.ts";
import { CPU_DYING, CPU_PRI_MIGRATION, CPU_TASKS_FROZEN } from "./_notifier.ts";
import { allowedOnline, selectCpu, spawnAffinity } from "./_placement.ts";
import { type ChoiceSource, PrngChoices } from "./_prng.ts";
import { RunQueue } from "./_runqueue.ts";
import type { IrqSource, RunKind, RunOptions, RunResult, SchedulerOptions, SpawnOptions, TraceEvent } from "./_sched_types.ts";
import { HARDIRQ_OFFSET, SleepRequest, SOFTIRQ_OFFSET, type Sleepable, Task, type TaskBody, type TaskState, type Wait } from "./_task.ts";
import type { VirtualClock } from "./clock.ts";
import type { IrqKind, ReadonlyCpuMask } from "./cpu.ts";
import { Timer, type TimerBase } from "./timer.ts";

export { ByteChoices, type ChoiceSource, choiceWidth, Prng, PrngChoices, RecordingChoices } from "./_prng.ts";
export { type HungTask, HungTaskError } from "./_hung.ts";
export type { IrqSource, RunKind, RunOptions, RunResult, SchedulerOptions, SpawnOptions, TraceEvent } from "./_sched_types.ts";
export {
  HARDIRQ_OFFSET,
  PREEMPT_OFFSET,
  sleep,
  SleepRequest,
  SOFTIRQ_DISABLE_OFFSET,
  SOFTIRQ_OFFSET,
  type Sleepable,
  Task,
  type TaskBody,
  type TaskPlug,
  type TaskState,
  type Wait,
  type WorkerHooks,
} from "./_task.ts";
export { Completion, type WaitEntry, WaitQueue } from "./_waitqueue.ts";

const SOFT_LOCKUP_YIELDS = 1 << 20;

/**
 * The scheduler of one simulated kernel. The execution-context API it
 * inherits (`current`, `mightSleep()`, `preemptDisable()`, `localIrqSave()`,
 * `lockClass()`, ...) is documented in ts/kernel/_context.ts.
 *
 * @example
 * const sched = new Scheduler({ cpus, clock, timers, log, seed: 1 });
 * sched.spawn("a", function* () { yield; yield sleep(1000); });
 * sched.run().kind; // "done"
 */
export class Scheduler extends ExecContext {
  readonly timers: TimerBase;
  /** `hung_task_timeout_secs`. */
  readonly hungTaskTimeoutSecs: number;
  #choices: ChoiceSource;
  readonly #irq: IrqSource | null;
  readonly #rq = new RunQueue<Task>();
  readonly #tasks = new Map<number, Task>();
  readonly #migrate: boolean;
  readonly #stepNs: number;
  readonly #hung: HungTaskWatchdog;
  #nextPid = 1;
  #running = false;
  #trace: TraceEvent[] | null;
  #external = 0;
  /** The resolvers of every idle {@link Scheduler.runAsync} (two drivers may await at once). */
  #kicks: (() => void)[] = [];

  /** @throws {TypeError} / {RangeError} on missing or bad options */
  constructor(opts: SchedulerOptions) {
    for (const k of ["cpus", "clock", "timers", "log"] as const) {
      if (!opts?.[k]) throw new TypeError(`Scheduler: opts.${k} is required`);
    }
    super(opts.cpus, opts.clock, opts.log, opts.lockdep ?? null);
    this.timers = opts.timers;
    this.#irq = opts.softirq ?? null;
    if (opts.choices !== undefined && typeof opts.choices?.choose !== "function") throw new TypeError("Scheduler: opts.choices must have choose(n)");
    this.#choices = opts.choices ?? new PrngChoices(opts.seed ?? 0);
    const hung = opts.hungTaskTimeoutSecs ?? 120;
    if (!(Number.isSafeInteger(hung) && hung >= 0)) throw new RangeError(`Scheduler: hungTaskTimeoutSecs must be a non-negative integer, got ${hung}`);
    this.hungTaskTimeoutSecs = hung;
    this.#hung = new HungTaskWatchdog(hung, opts.hungTaskWarnings ?? 10, this.log, this.lockdep);
    this.#trace = opts.trace ? [] : null;
    this.#migrate = opts.migrate ?? true;
    const stepNs = opts.stepNs ?? 0;
    if (!(Number.isSafeInteger(stepNs) && stepNs >= 0)) throw new RangeError(`Scheduler: stepNs must be a non-negative integer, got ${stepNs}`);
    if (stepNs > 0 && this.clock.kind !== "virtual") throw new RangeError("Scheduler: stepNs needs a virtual clock");
    this.#stepNs = stepNs;
    this.cpus.setIrqRunner((cpu, kind, fn, arg) => this.#runIrq(cpu, kind, fn, arg));
    this.cpus.hotcpuNotifier((action, cpu) => {
      if ((action & ~CPU_TASKS_FROZEN) === CPU_DYING) this.#migrateTasks(cpu);
    }, CPU_PRI_MIGRATION, "migration_call");
    this.#irq?.setKick?.(() => this.#wake());
    if (this.clock.kind === "real") this.timers.onHostFire(() => this.#wake());
  }

  /** Replaces the choice source (e.g. a fuzzer switching streams between phases). */
  setChoices(choices: ChoiceSource): void {
    if (typeof choices?.choose !== "function") throw new TypeError("setChoices: choices must have choose(n)");
    this.#choices = choices;
  }

  /** The live tasks (not exited, not idle), by pid. */
  tasks(): Task[] {
    return [...this.#tasks.values()];
  }

  /** The trace so far, or null when tracing is off. */
  get trace(): readonly TraceEvent[] | null {
    return this.#trace;
  }

  /** Turns tracing on (clearing any earlier trace) or off. */
  setTrace(on: boolean): void {
    this.#trace = on ? [] : null;
  }

  /** The trace as lines "ns cpu pid event". */
  formatTrace(): string[] {
    return (this.#trace ?? []).map(([ns, cpu, pid, ev]) => `${ns} ${cpu} ${pid} ${ev}`);
  }

  /**
   * Mirrors `kthread_run()` / `fork()`: a new task, runnable at once.
   *
   * @throws {TypeError} when body is not a generator function
   * @throws {RangeError} on a bad CPU or affinity
   */
  spawn(comm: string, body: TaskBody, opts: SpawnOptions = {}): Task {
    if (typeof comm !== "string" || comm === "") throw new TypeError("spawn: comm must be a non-empty string");
    if (typeof body !== "function") throw new TypeError("spawn: body must be a generator function");
    const aff = spawnAffinity(this.cpus, opts);
    const t = new Task(this.#nextPid++, comm, opts.cpu ?? this.cpus.current, opts.kthread ?? true, aff);
    const gen = body(t);
    if (typeof gen?.next !== "function") throw new TypeError(`spawn: body of ${comm} did not return a generator (use function*)`);
    t.gen = gen;
    if (opts.cpu === undefined || !allowedOnline(this.cpus, t, t.cpu)) t.cpu = selectCpu(this.cpus, this.#choices, this.log, t, this.#migrate);
    this.#tasks.set(t.pid, t);
    this.#rq.push(t);
    if (this.#trace) this.#ev(t.cpu, t.pid, `fork ${comm}`);
    if (!this.#running) this.#wake();
    return t;
  }

  /** Mirrors `kthread_should_stop()` for the current task. */
  kthreadShouldStop(): boolean {
    return this.curr.shouldStop;
  }

  /**
   * Mirrors `kthread_stop()`: sets should-stop, wakes the task and waits for it to exit.
   *
   * @returns the task's exit code
   */
  *kthreadStop(t: Task): Sleepable<unknown> {
    t.shouldStop = true;
    this.wakeUpProcess(t);
    yield* this.waitTaskExit(t, `kthread_stop(${t.comm})`);
    return t.exitCode;
  }

  /** Sleeps (D state) until `t` has exited. */
  *waitTaskExit(t: Task, waitPoint = `wait_task_exit(${t.comm})`): Sleepable {
    this.mightSleep("kernel/exit.c");
    while (t.state !== "exited") {
      (t.exitWaiters ??= []).push(this.curr);
      this.blockCurrent(waitPoint, false);
      yield;
    }
  }

  /**
   * Mirrors `set_cpus_allowed_ptr()`: a task not on an allowed CPU moves at its next wake-up
   * (a runnable task at once).
   *
   * @throws {RangeError} when the mask's size is not nr_cpu_ids
   * @throws {KernelError} EINVAL when no CPU of the mask is online
   */
  setCpusAllowed(t: Task, mask: ReadonlyCpuMask | null): void {
    if (mask !== null) {
      if (mask.nbits !== this.cpus.nrCpuIds) throw new RangeError(`set_cpus_allowed_ptr: mask has ${mask.nbits} bits`);
      if (!mask.intersects(this.cpus.onlineMask)) throw new KernelError("EINVAL", "set_cpus_allowed_ptr", "no online CPU in the mask");
    }
    t.affinity = mask === null ? null : mask.copy();
    if (t.state === "runnable" && !allowedOnline(this.cpus, t, t.cpu)) {
      const from = t.cpu;
      t.cpu = selectCpu(this.cpus, this.#choices, this.log, t, this.#migrate);
      if (this.#trace) this.#ev(t.cpu, t.pid, `migrate ${from}->${t.cpu}`);
    }
  }

  /**
   * Mirrors `try_to_wake_up()` / `wake_up_process()`: a blocked task becomes
   * runnable (maybe on another allowed CPU, by choice); the current task
   * that has set itself blocked but not yet yielded just stays running.
   *
   * @returns false when the task was not blocked
   */
  wakeUpProcess(t: Task): boolean {
    if (t.state !== "blocked") return false;
    if (t.sleepTimer !== null && t.sleepTimer.idx >= 0) this.timers.delTimer(t.sleepTimer);
    t.hungReported = false;
    if (t === this.curr) {
      t.state = "running";
      return true;
    }
    const from = t.cpu;
    if (this.#migrate || !allowedOnline(this.cpus, t, from)) t.cpu = selectCpu(this.cpus, this.#choices, this.log, t, this.#migrate);
    t.state = "runnable";
    if (t.worker !== null) t.worker.wakingUp(t);
    this.#rq.push(t);
    if (this.#trace) this.#ev(t.cpu, t.pid, from === t.cpu ? "wake" : `wake ${from}->${t.cpu}`);
    if (!this.#running) this.#wake();
    return true;
  }

  /** Arms the current task's timer to wake it at absolute virtual `ns` (`schedule_timeout()`'s timer). */
  armWakeup(ns: number): void {
    const t = this.curr;
    if (t.pid === 0) throw new TypeError("schedule_timeout: outside a task");
    this.timers.hrtimerStart(this.#sleepTimer(t), ns, t.cpu);
  }

  /** Cancels {@link Scheduler.armWakeup}. */
  cancelWakeup(): void {
    const st = this.curr.sleepTimer;
    if (st !== null && st.idx >= 0) this.timers.delTimer(st);
  }

  /** Keeps {@link Scheduler.runAsync} from declaring a hang while an outside event (host I/O) is due. */
  externalBegin(): void {
    this.#external++;
  }

  /** Ends {@link Scheduler.externalBegin}; resumes an idle async run. */
  externalEnd(): void {
    if (this.#external === 0) throw new RangeError("externalEnd: no matching externalBegin");
    this.#external--;
    this.#wake();
  }

  /**
   * Runs tasks, interrupts and timers until nothing is left to do or a limit
   * is hit. On a virtual clock, time jumps to the next timer whenever nothing
   * is runnable. Exceptions thrown by a task body propagate (the task is then
   * exited).
   *
   * @throws {HungTaskError} on a hang when `throwOnHang` is set
   * @throws {TypeError} when called from inside a task
   */
  run(opts: RunOptions = {}): RunResult {
    if (this.#running) throw new TypeError("Scheduler.run: already running (called from a task or callback?)");
    const maxSteps = opts.maxSteps ?? Infinity;
    const deadline = opts.deadline ?? Infinity;
    const until = opts.until ?? null;
    const clock = this.clock;
    const vclock = clock.kind === "virtual" ? (clock as VirtualClock) : null;
    const timers = this.timers;
    const rq = this.#rq;
    const irq = this.#irq;
    const stepNs = this.#stepNs;
    const watchStart = this.#hung.reports.length;
    let steps = 0;
    const result = (kind: RunKind, hung: readonly HungTask[] = []): RunResult => ({
      kind,
      steps,
      now: clock.now(),
      hung,
      watchdog: this.#hung.reports.slice(watchStart),
    });
    this.#running = true;
    try {
      for (;;) {
        const now = clock.now();
        if (now >= this.#hung.checkAt) this.#hung.check(this.#tasks.values(), now);
        if (timers.nextExpiry() <= now) {
          if (steps >= maxSteps) return result("limit");
          steps++;
          timers.runDue(now);
          continue;
        }
        if (until !== null && until()) return result("stopped");
        const nIrq = irq === null ? 0 : irq.nrPending;
        const n = rq.length + nIrq;
        if (n > 0) {
          if (steps >= maxSteps) return result("limit");
          steps++;
          const i = n === 1 ? 0 : this.#choices.choose(n);
          if (i < nIrq) irq!.deliver(i);
          else this.#runTask(rq.take(i - nIrq));
          if (stepNs !== 0) {
            vclock!.advance(stepNs);
            if (vclock!.now() >= deadline) return result("deadline");
          }
          continue;
        }
        let next = timers.nextExpiry();
        if (next === Infinity || vclock === null) {
          if (this.#external > 0 || (next !== Infinity && vclock === null)) return result("idle");
          const hung = this.#hung.finalHang(this.#tasks.values(), now, vclock === null ? null : (ns) => vclock.advanceTo(ns));
          if (hung.length === 0) return result("done");
          if (opts.throwOnHang) throw new HungTaskError(hung);
          return result("hang", hung);
        }
        if (this.#hung.checkAt < next) next = this.#hung.checkAt;
        if (next > deadline) {
          if (deadline > now) vclock.advanceTo(deadline);
          return result("deadline");
        }
        if (next > now) vclock.advanceTo(next);
      }
    } finally {
      this.#running = false;
    }
  }

  /**
   * {@link Scheduler.run} for real clocks and outside events: whenever the
   * run goes idle it awaits the next host timer, wake-up or
   * {@link Scheduler.externalEnd}, then continues.
   */
  async runAsync(opts: RunOptions = {}): Promise<RunResult> {
    let steps = 0;
    const watchdog: HungTask[] = [];
    for (;;) {
      const left = (opts.maxSteps ?? Infinity) - steps;
      const r = this.run({ ...opts, maxSteps: left });
      steps += r.steps;
      watchdog.push(...r.watchdog);
      if (r.kind !== "idle") return { ...r, steps, watchdog };
      await new Promise<void>((resolve) => {
        this.#kicks.push(resolve);
      });
    }
  }

  /**
   * Wakes an idle {@link Scheduler.runAsync} after work was added from
   * outside (a task spawned by a promise bridge while the run awaits).
   */
  wake(): void {
    this.#wake();
  }

  #wake(): void {
    if (this.#kicks.length === 0) return;
    const ks = this.#kicks;
    this.#kicks = [];
    for (const k of ks) k();
  }

  #runTask(t: Task): void {
    const cpus = this.cpus;
    this.curr = t;
    t.state = "running";
    t.switches++;
    cpus.current = t.cpu;
    if (this.#trace) this.#ev(t.cpu, t.pid, "run");
    const gen = t.gen!;
    let r: IteratorResult<Wait, unknown>;
    try {
      r = gen.next();
      if (t.preemptCount !== 0 || t.irqsOff) r = this.#atomicYields(t, gen, r);
      if (!r.done && r.value !== undefined) this.#request(t, r.value);
      // sched_submit_work(): a task about to block flushes its plug, still as current.
      if (!r.done && (t.state as TaskState) === "blocked" && t.plug !== null && t.plug.needsFlush()) t.plug.scheduleFlush();
    } catch (e) {
      this.curr = this.idle[t.cpu];
      this.#exit(t, undefined);
      throw e;
    }
    this.curr = this.idle[t.cpu];
    if (r.done) this.#exit(t, r.value);
    else if (t.state === "running") {
      t.state = "runnable";
      this.#rq.push(t);
    } else if (t.state === "blocked") this.#blocked(t);
  }

  /** A yield with preemption off is a preemption point not taken: the task keeps running. */
  #atomicYields(t: Task, gen: Generator<Wait, unknown, unknown>, r: IteratorResult<Wait, unknown>): IteratorResult<Wait, unknown> {
    let n = 0;
    while (!r.done && r.value === undefined && t.state === "running" && (t.preemptCount !== 0 || t.irqsOff)) {
      if (++n === SOFT_LOCKUP_YIELDS) {
        this.log.printk("emerg", `NMI watchdog: BUG: soft lockup - CPU#${t.cpu} stuck for 22s! [${t.comm}:${t.pid}]`);
        this.log.bug("kernel/watchdog.c:watchdog_timer_fn", "soft lockup: a task spins with preemption disabled");
      }
      r = gen.next();
    }
    return r;
  }

  #request(t: Task, v: Wait): void {
    if (v instanceof SleepRequest) {
      this.mightSleep("kernel/time/timer.c");
      this.blockCurrent("schedule_timeout_uninterruptible", false);
      this.timers.hrtimerStart(this.#sleepTimer(t), this.clock.now() + v.ns, t.cpu);
      return;
    }
    const hint = typeof (v as unknown as { next?: unknown })?.next === "function" ? " (a generator: use yield* to run it)" : "";
    throw new TypeError(`task ${t.comm}:${t.pid} yielded ${String(v)}${hint}; yield nothing, sleep(ns), or yield* a Sleepable`);
  }

  #blocked(t: Task): void {
    const now = this.clock.now();
    if (t.preemptCount !== 0 || t.irqsOff) {
      this.log.printk("err", `BUG: scheduling while atomic: ${t.comm}/${t.pid}/0x${(t.preemptCount >>> 0).toString(16).padStart(8, "0")}`);
      this.showHeldLocks(t);
      this.log.dumpStack(t);
      this.log.addTaint("W");
    }
    t.blockedSince = now;
    this.#hung.noteBlocked(t, now);
    if (t.worker !== null) t.worker.sleeping(t);
    if (this.#trace) this.#ev(t.cpu, t.pid, `block ${t.waitPoint}`);
  }

  #exit(t: Task, code: unknown): void {
    t.state = "exited";
    t.exitCode = code;
    t.gen = null;
    if (t.sleepTimer !== null && t.sleepTimer.idx >= 0) this.timers.delTimer(t.sleepTimer);
    this.#tasks.delete(t.pid);
    if (this.#trace) this.#ev(t.cpu, t.pid, "exit");
    this.lockdep?.checkNoLocksHeld(t);
    if (t.preemptCount !== 0) this.log.printk("info", `note: ${t.comm}[${t.pid}] exited with preempt_count ${t.preemptCount}`);
    const waiters = t.exitWaiters;
    t.exitWaiters = null;
    if (waiters !== null) for (const w of waiters) this.wakeUpProcess(w);
  }

  #sleepTimer(t: Task): Timer {
    return (t.sleepTimer ??= new Timer(() => {
      this.wakeUpProcess(t);
    }, `wakeup ${t.comm}`));
  }

  #runIrq<A>(cpu: number, kind: IrqKind, fn: (arg: A) => void, arg: A): void {
    const prev = this.curr;
    const idle = this.idle[cpu];
    const off = kind === "hardirq" ? HARDIRQ_OFFSET : SOFTIRQ_OFFSET;
    this.curr = idle;
    this.cpus.current = cpu;
    idle.preemptCount += off;
    if (this.#trace) this.#ev(cpu, 0, kind);
    try {
      fn(arg);
    } finally {
      idle.preemptCount -= off;
      this.curr = prev;
      this.cpus.current = prev.cpu;
    }
  }

  /** Mirrors `migrate_tasks()` at CPU_DYING: every task on the dying CPU moves. */
  #migrateTasks(dead: number): void {
    for (const t of this.#tasks.values()) {
      if (t.cpu !== dead) continue;
      t.cpu = selectCpu(this.cpus, this.#choices, this.log, t, this.#migrate);
      if (this.#trace) this.#ev(t.cpu, t.pid, `migrate ${dead}->${t.cpu}`);
    }
  }

  #ev(cpu: number, pid: number, ev: string): void {
    this.#trace!.push([this.clock.now(), cpu, pid, ev]);
  }
}
