// SPDX-License-Identifier: GPL-2.0-only
/**
 * Bench `sched`: the cost of one context switch of the deterministic
 * scheduler (pick a task with a seeded choice, resume its generator, requeue
 * it), against a baseline measured in the same run: the same generators
 * resumed round-robin by a plain loop, with no scheduler at all.
 *
 * Cases:
 * - `yield`: 4 tasks that only `yield` (preemption points);
 * - `sleep`: 4 tasks that `yield sleep(1000)`: each switch also arms a timer,
 *   advances virtual time, fires it and wakes the task;
 * - `mutex`: 4 tasks contending one mutex (block, unlock, wake, lockdep off).
 *
 * @module
 */

import { VirtualClock } from "../ts/kernel/clock.ts";
import { Cpus } from "../ts/kernel/cpu.ts";
import { Klog } from "../ts/kernel/klog.ts";
import { Mutex } from "../ts/kernel/mutex.ts";
import { Scheduler, sleep } from "../ts/kernel/sched.ts";
import { TimerBase } from "../ts/kernel/timer.ts";
import { nsPerIter, round2 } from "./_timing.ts";

/** One result line. */
export interface SchedBenchResult {
  bench: "sched";
  case: "yield" | "sleep" | "mutex";
  tasks: number;
  switches_per_s: number;
  switch_ns: number;
  /** ns per resume of the same generators from a plain loop. */
  baseline_ns: number;
  /** switch_ns / baseline_ns: the scheduler's overhead factor. */
  ratio: number;
}

const TASKS = 4;

function machine(seed: number) {
  const clock = new VirtualClock();
  const log = new Klog(() => clock.now());
  const cpus = new Cpus({ nrCpuIds: 4 });
  const timers = new TimerBase({ clock, cpus, log });
  return { clock, sched: new Scheduler({ cpus, clock, timers, log, seed }) };
}

/** Runs `body` as TASKS tasks of `per` iterations each; returns the steps taken. */
function runTasks(per: number, kind: SchedBenchResult["case"]): number {
  const { sched } = machine(1);
  const m = new Mutex(sched, "bench");
  for (let t = 0; t < TASKS; t++) {
    sched.spawn(`b${t}`, function* () {
      if (kind === "yield") for (let i = 0; i < per; i++) yield;
      else if (kind === "sleep") for (let i = 0; i < per; i++) yield sleep(1000);
      else {
        for (let i = 0; i < per; i++) {
          yield* m.lock();
          yield;
          m.unlock();
        }
      }
    });
  }
  const r = sched.run();
  if (r.kind !== "done") throw new Error(`bench: run ended ${r.kind}`);
  return r.steps;
}

/** The same generators resumed round-robin by a plain loop. */
function baseline(per: number): number {
  const gens: Generator<undefined, void, unknown>[] = [];
  for (let t = 0; t < TASKS; t++) {
    gens.push((function* () {
      for (let i = 0; i < per; i++) yield;
    })());
  }
  let live = TASKS;
  let steps = 0;
  while (live > 0) {
    for (let t = 0; t < TASKS; t++) {
      const g = gens[t];
      if (g === null) continue;
      steps++;
      if (g.next().done) {
        gens[t] = null as never;
        live--;
      }
    }
  }
  return steps;
}

export function run(): SchedBenchResult[] {
  const iters = 400_000;
  const per = iters / TASKS;
  const base = nsPerIter(() => baseline(per), iters);
  const out: SchedBenchResult[] = [];
  for (const kind of ["yield", "sleep", "mutex"] as const) {
    const steps = runTasks(per, kind); // switches per run, for the per-switch figure
    const nsPerRun = nsPerIter(() => runTasks(per, kind), 1, 5);
    const switchNs = nsPerRun / steps;
    out.push({
      bench: "sched",
      case: kind,
      tasks: TASKS,
      switches_per_s: Math.round(1e9 / switchNs),
      switch_ns: round2(switchNs),
      baseline_ns: round2(base),
      ratio: round2(switchNs / base),
    });
  }
  return out;
}
