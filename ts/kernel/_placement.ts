// SPDX-License-Identifier: GPL-2.0-only
/**
 * Where a task runs: `select_task_rq()` / `select_fallback_rq()` driven by
 * the choice source. Private to ts/kernel/.
 *
 * @module
 */

import { CpuMask, type ReadonlyCpuMask } from "./_cpumask.ts";
import type { ChoiceSource } from "./_prng.ts";
import type { SpawnOptions } from "./_sched_types.ts";
import type { Task } from "./_task.ts";
import type { Cpus } from "./cpu.ts";
import type { Klog } from "./klog.ts";

/** Whether `cpu` is online and allowed for `t`. */
export function allowedOnline(cpus: Cpus, t: Task, cpu: number): boolean {
  const w = cpus.onlineMask.words;
  if ((w[cpu >>> 5] & (1 << (cpu & 31))) === 0) return false;
  return t.affinity === null || t.affinity.test(cpu);
}

function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24;
}

/**
 * Mirrors `select_task_rq()` / `select_fallback_rq()` (kernel/sched/core.c):
 * choice 0 keeps the task's CPU when it is allowed and online; the others
 * pick among the allowed online CPUs in increasing order. With none online the
 * affinity is broken (set to every CPU), with the kernel's message for user
 * processes.
 *
 * @param migrate false: keep an allowed CPU without asking the choice source
 */
export function selectCpu(cpus: Cpus, choices: ChoiceSource, log: Klog, t: Task, migrate: boolean): number {
  const online = cpus.onlineMask;
  let aff = t.affinity;
  let n = aff === null ? cpus.numOnlineCpus() : 0;
  if (aff !== null) for (let i = 0; i < aff.words.length; i++) n += popcount(aff.words[i] & online.words[i]);
  if (n === 0) {
    if (!t.kthread) log.printk("info", `process ${t.pid} (${t.comm}) no longer affine to cpu${t.cpu}`);
    t.affinity = aff = null;
    n = cpus.numOnlineCpus();
  }
  const prev = t.cpu;
  const prevOk = allowedOnline(cpus, t, prev);
  if (!migrate && prevOk) return prev;
  const c = n === 1 ? 0 : choices.choose(n);
  if (prevOk && c === 0) return prev;
  let k = prevOk ? c - 1 : c;
  for (let cpu = online.first(); cpu < online.nbits; cpu = online.next(cpu)) {
    if (aff !== null && !aff.test(cpu)) continue;
    if (prevOk && cpu === prev) continue;
    if (k-- === 0) return cpu;
  }
  return prev; // unreachable: n counts the candidates
}

/**
 * The `cpus_allowed` of a new task from spawn options: null (every CPU), the
 * one CPU of `bound`, or a copy of `affinity`.
 *
 * @throws {TypeError} for `bound` without `cpu`
 * @throws {RangeError} on a bad CPU, a mask of the wrong size, or an empty one
 */
export function spawnAffinity(cpus: Cpus, opts: SpawnOptions): CpuMask | null {
  if (opts.cpu !== undefined) cpus.checkCpu(opts.cpu, "spawn");
  if (opts.bound) {
    if (opts.cpu === undefined) throw new TypeError("spawn: bound needs cpu");
    return new CpuMask(cpus.nrCpuIds, [opts.cpu]);
  }
  if (opts.affinity === undefined) return null;
  const aff = Array.isArray(opts.affinity)
    ? new CpuMask(cpus.nrCpuIds, opts.affinity as readonly number[])
    : (opts.affinity as ReadonlyCpuMask).copy();
  if (aff.nbits !== cpus.nrCpuIds) throw new RangeError(`spawn: affinity has ${aff.nbits} bits, nr_cpu_ids is ${cpus.nrCpuIds}`);
  if (aff.isEmpty()) throw new RangeError("spawn: affinity is empty");
  return aff;
}
