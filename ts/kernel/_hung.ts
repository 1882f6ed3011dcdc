// SPDX-License-Identifier: GPL-2.0-only
/**
 * The hung-task report (kernel/hung_task.c `check_hung_task()`, v4.4) and the
 * typed result callers match on. Private to ts/kernel/; re-exported by sched.ts.
 *
 * @module
 */

import type { Task } from "./_task.ts";
import type { Klog } from "./klog.ts";
import type { Lockdep } from "./lockdep.ts";

/** One task reported as hung. */
export interface HungTask {
  readonly pid: number;
  readonly comm: string;
  readonly cpu: number;
  /** Where it sleeps, e.g. "mutex_lock(&b)". */
  readonly waitPoint: string;
  /** Virtual ns it had been blocked when reported. */
  readonly blockedNs: number;
  /** Lock classes it held (from lockdep), oldest first. */
  readonly locksHeld: readonly string[];
}

/**
 * Thrown by `Scheduler.run({ throwOnHang: true })` when every remaining task
 * is blocked in D state and nothing can wake them.
 */
export class HungTaskError extends Error {
  /** Always "HUNG_TASK", for matching as with KernelError. */
  readonly code = "HUNG_TASK";
  readonly hung: readonly HungTask[];

  constructor(hung: readonly HungTask[]) {
    super(`hung tasks: ${hung.map((h) => `${h.comm}:${h.pid} in ${h.waitPoint}`).join("; ")}`);
    this.name = "HungTaskError";
    this.hung = hung;
  }
}

/**
 * Logs one task the way `check_hung_task()` does, followed by its wait point
 * as the call trace and its held locks (`debug_show_held_locks()`).
 */
export function reportHungTask(log: Klog, lockdep: Lockdep | null, t: Task, timeoutSecs: number, now: number): HungTask {
  const info = hungTaskInfo(lockdep, t, now);
  const held = info.locksHeld;
  const tainted = log.tainted();
  const ident = log.kernelIdent();
  const uname = ident.endsWith(` ${tainted}`) ? ident.slice(0, ident.length - tainted.length - 1) : ident;
  log.printk("err", `INFO: task ${t.comm}:${t.pid} blocked for more than ${timeoutSecs} seconds.`);
  log.printk("err", `      ${tainted} ${uname}`);
  log.printk("err", `"echo 0 > /proc/sys/kernel/hung_task_timeout_secs" disables this message.`);
  log.printk("info", `${t.comm.slice(0, 15).padEnd(15)} ${t.stateChar()} ${"0".padStart(5)} ${String(t.pid).padStart(5)} ${"1".padStart(6)} 0x00000000`);
  log.dumpStack(t, ["schedule+0x0/0x0", t.waitPoint]);
  if (held.length > 0) {
    log.printk("warning", `${held.length} lock${held.length > 1 ? "s" : ""} held by ${t.comm}/${t.pid}:`);
    held.forEach((n, i) => log.printk("warning", ` #${i}:  (${n})`));
  }
  return info;
}

/** What is known of a hung task at `now`, without logging it. */
function hungTaskInfo(lockdep: Lockdep | null, t: Task, now: number): HungTask {
  const locksHeld = lockdep ? lockdep.held(t).map((c) => c.name) : [];
  return { pid: t.pid, comm: t.comm, cpu: t.cpu, waitPoint: t.waitPoint, blockedNs: now - t.blockedSince, locksHeld };
}

/**
 * Mirrors khungtaskd (kernel/hung_task.c) on virtual time: knows the next
 * moment a D-state task could cross the timeout, and reports each block
 * episode once, at most `hung_task_warnings` times.
 */
export class HungTaskWatchdog {
  /** Virtual ns of the next check; Infinity when no D-state task is waiting. */
  checkAt = Infinity;
  /** Every watchdog report so far. */
  readonly reports: HungTask[] = [];
  #warnings: number;

  constructor(readonly timeoutSecs: number, warnings: number, readonly log: Klog, readonly lockdep: Lockdep | null) {
    this.#warnings = warnings;
  }

  /** A task just blocked at `now`. */
  noteBlocked(t: Task, now: number): void {
    if (t.interruptible || this.timeoutSecs <= 0) return;
    const due = now + this.timeoutSecs * 1e9;
    if (due < this.checkAt) this.checkAt = due;
  }

  /** Mirrors `check_hung_uninterruptible_tasks()` at a deadline. */
  check(tasks: Iterable<Task>, now: number): void {
    this.checkAt = Infinity;
    if (this.timeoutSecs <= 0) return;
    const limit = this.timeoutSecs * 1e9;
    for (const t of tasks) {
      if (t.state !== "blocked" || t.interruptible || t.hungReported) continue;
      const due = t.blockedSince + limit;
      if (due > now) {
        if (due < this.checkAt) this.checkAt = due;
        continue;
      }
      t.hungReported = true;
      if (this.#warnings <= 0) continue;
      this.#warnings--;
      this.reports.push(reportHungTask(this.log, this.lockdep, t, this.timeoutSecs, now));
    }
  }

  /**
   * Nothing can run or wake any more: reports every D-state task (by pid).
   *
   * @param advanceTo moves virtual time to when the watchdog would see them all (virtual clocks only)
   */
  finalHang(tasks: Iterable<Task>, now: number, advanceTo: ((ns: number) => void) | null): HungTask[] {
    const stuck = [...tasks].filter((t) => t.state === "blocked" && !t.interruptible).sort((a, b) => a.pid - b.pid);
    if (stuck.length === 0) return [];
    let at = now;
    if (advanceTo !== null && this.timeoutSecs > 0) {
      const latest = Math.max(...stuck.map((t) => t.blockedSince)) + this.timeoutSecs * 1e9;
      if (latest > now && Number.isSafeInteger(latest)) advanceTo((at = latest));
    }
    // A task the watchdog (or an earlier run's final check) already reported
    // is listed again but not logged again: one report per block episode.
    return stuck.map((t) => {
      if (t.hungReported) return hungTaskInfo(this.lockdep, t, at);
      t.hungReported = true;
      return reportHungTask(this.log, this.lockdep, t, this.timeoutSecs, at);
    });
  }
}
