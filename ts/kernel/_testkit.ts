// SPDX-License-Identifier: GPL-2.0-only
/**
 * Test helper: boots the kernel substrate (clock, log, lockdep, CPUs,
 * timers, softirqs, scheduler, RCU, hotplug, workqueues) with small defaults.
 * Private to ts/kernel/ tests; the composed "Kernel" object of the port lives
 * elsewhere.
 *
 * @module
 */

import type { ChoiceSource } from "./_prng.ts";
import { VirtualClock } from "./clock.ts";
import { CpuHotplug, Cpus, type CpusOptions } from "./cpu.ts";
import { Klog } from "./klog.ts";
import { Lockdep } from "./lockdep.ts";
import { Rcu } from "./rcu.ts";
import { Scheduler, type SchedulerOptions } from "./sched.ts";
import { Softirq } from "./softirq.ts";
import { TimerBase } from "./timer.ts";
import { Workqueues } from "./workqueue.ts";

export interface BootOptions extends CpusOptions {
  seed?: number;
  choices?: ChoiceSource;
  trace?: boolean;
  HZ?: number;
  gpNs?: number;
  hungTaskTimeoutSecs?: number;
  migrate?: boolean;
  stepNs?: number;
}

/** Everything a test needs, wired as a kernel would be. */
export function boot(opts: BootOptions = {}) {
  const clock = new VirtualClock({ HZ: opts.HZ });
  const log = new Klog(() => clock.now());
  const lockdep = new Lockdep(log);
  const cpus = new Cpus(opts);
  const timers = new TimerBase({ clock, cpus, log });
  const softirq = new Softirq({ cpus, log });
  const sopts: SchedulerOptions = { cpus, clock, timers, log, lockdep, softirq, seed: opts.seed, choices: opts.choices, trace: opts.trace };
  if (opts.hungTaskTimeoutSecs !== undefined) sopts.hungTaskTimeoutSecs = opts.hungTaskTimeoutSecs;
  if (opts.migrate !== undefined) sopts.migrate = opts.migrate;
  if (opts.stepNs !== undefined) sopts.stepNs = opts.stepNs;
  const sched = new Scheduler(sopts);
  const rcu = new Rcu({ sched, gpNs: opts.gpNs });
  const hotplug = new CpuHotplug({ sched, rcu });
  const wqs = new Workqueues({ sched });
  return { clock, log, lockdep, cpus, timers, softirq, sched, rcu, hotplug, wqs };
}

/** Log lines without their timestamps. */
export function text(log: Klog): string[] {
  return log.lines().map((l) => l.replace(/^\[[ \d.]+\] /, ""));
}
