// SPDX-License-Identifier: GPL-2.0-only
/**
 * The scheduler's option and result types. Private to ts/kernel/;
 * re-exported by sched.ts.
 *
 * @module
 */

import type { HungTask } from "./_hung.ts";
import type { ChoiceSource } from "./_prng.ts";
import type { Clock } from "./clock.ts";
import type { Cpus, ReadonlyCpuMask } from "./cpu.ts";
import type { Klog } from "./klog.ts";
import type { Lockdep } from "./lockdep.ts";
import type { TimerBase } from "./timer.ts";

/** Interrupt work the scheduler delivers between task steps (softirq.ts implements it). */
export interface IrqSource {
  /** How many CPUs have interrupt work pending. */
  readonly nrPending: number;
  /** Runs the pending work of the i-th such CPU (0 ≤ i < nrPending). */
  deliver(i: number): void;
  /** The scheduler's hook to resume an idle async run when work is raised from outside. */
  setKick?(fn: () => void): void;
}

/** One trace record: virtual ns, CPU, pid (0 for interrupt context), event. */
export type TraceEvent = readonly [ns: number, cpu: number, pid: number, event: string];

/** Construction options of the Scheduler. */
export interface SchedulerOptions {
  cpus: Cpus;
  clock: Clock;
  timers: TimerBase;
  log: Klog;
  lockdep?: Lockdep | null;
  /** Pending IPIs and softirqs (a Softirq). */
  softirq?: IrqSource | null;
  /** Where decisions come from; default `new PrngChoices(seed)`. */
  choices?: ChoiceSource;
  /** Seed for the default choice source; default 0. */
  seed?: number;
  /** `hung_task_timeout_secs`; default 120; 0 turns the watchdog off (hangs are still reported). */
  hungTaskTimeoutSecs?: number;
  /** `hung_task_warnings`: most watchdog reports; default 10. */
  hungTaskWarnings?: number;
  /** Record a trace of events; default false. */
  trace?: boolean;
  /** Let the choice source move waking tasks to another allowed CPU; default true. */
  migrate?: boolean;
  /** Virtual ns each step costs (0: steps are instantaneous); default 0. */
  stepNs?: number;
}

/** How a run ended. */
export type RunKind =
  | "done" // nothing runnable or pending; no task in D state (S-state sleepers may remain)
  | "hang" // tasks in D state and nothing that could wake them
  | "limit" // maxSteps reached
  | "deadline" // virtual time reached the deadline
  | "stopped" // until() returned true
  | "idle"; // waiting for wall-clock time or outside events (real clock / external holds)

/** The result of `Scheduler.run()`. */
export interface RunResult {
  readonly kind: RunKind;
  /** Steps taken in this call (task steps, interrupt deliveries, timer batches). */
  readonly steps: number;
  /** Virtual ns at the end. */
  readonly now: number;
  /** For "hang": the tasks reported; otherwise empty. */
  readonly hung: readonly HungTask[];
  /** Watchdog reports made during this call. */
  readonly watchdog: readonly HungTask[];
}

/** Options of `Scheduler.run()`. */
export interface RunOptions {
  /** Stop after this many steps (kind "limit"); default Infinity. */
  maxSteps?: number;
  /** Stop when virtual time would pass this ns (kind "deadline"). */
  deadline?: number;
  /** Checked before each step; true stops the run (kind "stopped"). */
  until?: () => boolean;
  /** Throw HungTaskError instead of returning kind "hang". */
  throwOnHang?: boolean;
}

/** Options of `Scheduler.spawn()`. */
export interface SpawnOptions {
  /** The CPU to start on; default the spawner's (or a choice among allowed online CPUs). */
  cpu?: number;
  /** `cpus_allowed`; default every CPU. */
  affinity?: ReadonlyCpuMask | readonly number[];
  /** Bind to `cpu` (`kthread_bind()`); needs `cpu`. */
  bound?: boolean;
  /** A kernel thread (default) or a user process (false). */
  kthread?: boolean;
}
