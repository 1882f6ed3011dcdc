// SPDX-License-Identifier: GPL-2.0-only
/**
 * CPUs: `nr_cpu_ids`, the possible / present / online masks, SMT topology,
 * the hotplug notifier chain, per-CPU data, and "the current CPU".
 *
 * The hotplug operations themselves (`cpu_up()`, `cpu_down()`, which take
 * locks and sleep) are {@link CpuHotplug}; this file is the state they change.
 *
 * @module
 */

import { type ReadonlyCpuMask, CpuMask } from "./_cpumask.ts";
import { type NotifierBlock, NotifierChain } from "./_notifier.ts";

export { CpuMask } from "./_cpumask.ts";
export type { ReadonlyCpuMask } from "./_cpumask.ts";
export * from "./_notifier.ts";
export { CpuHotplug } from "./_hotplug.ts";
export type { CpuHotplugOptions } from "./_hotplug.ts";

/** The largest `nr_cpu_ids` the port accepts (`CONFIG_NR_CPUS`); the same 4096 as ts/block/cpumap.ts. */
export const NR_CPUS = 4096;

/**
 * SMT numbering. "split" is what x86 firmware usually enumerates: with `C`
 * cores, CPU `c` and `c + C` are siblings. "adjacent" makes CPUs `2k` and
 * `2k+1` siblings (most arm64 / POWER layouts, and some x86 BIOSes).
 */
export type SmtNumbering = "split" | "adjacent";

/** How interrupt-context work is entered (the scheduler installs its own). */
export type IrqKind = "hardirq" | "softirq";
export type IrqRunner = <A>(cpu: number, kind: IrqKind, fn: (arg: A) => void, arg: A) => void;

/** Construction options. */
export interface CpusOptions {
  /** `nr_cpu_ids` (= possible CPUs); default 4. */
  nrCpuIds?: number;
  /** How many CPUs are present, or which; default all possible. */
  present?: number | Iterable<number>;
  /** How many CPUs boot online, or which; default all present. CPU 0 must be online. */
  online?: number | Iterable<number>;
  /** `smp_num_siblings`: hardware threads per core; default 1. Must divide nrCpuIds. */
  threadsPerCore?: number;
  /** Default "split". */
  smtNumbering?: SmtNumbering;
}

function maskFrom(n: number, spec: number | Iterable<number>, what: string): CpuMask {
  if (typeof spec === "number") {
    if (!(Number.isInteger(spec) && spec >= 1 && spec <= n)) throw new RangeError(`Cpus: ${what} must be an integer in [1, ${n}], got ${spec}`);
    const m = new CpuMask(n);
    for (let c = 0; c < spec; c++) m.set(c);
    return m;
  }
  return new CpuMask(n, spec);
}

/**
 * The machine's CPUs. Mirrors the `cpu_*_mask` globals (kernel/cpu.c,
 * include/linux/cpumask.h), x86's `cpu_sibling_map` (arch/x86/kernel/smpboot.c)
 * and the CPU notifier chain (`register_cpu_notifier()`, kernel/cpu.c).
 *
 * Sibling masks follow x86: an online CPU's mask holds itself and its online
 * siblings; an offline CPU's mask is empty (`remove_siblinginfo()`).
 *
 * @example
 * const cpus = new Cpus({ nrCpuIds: 8, threadsPerCore: 2 }); // split: 0&4, 1&5, ...
 * cpus.topologySiblingCpumask(1).toString(); // "1,5"
 * cpus.firstSibling(5);                       // 1
 */
export class Cpus {
  /** `nr_cpu_ids`. */
  readonly nrCpuIds: number;
  /** `smp_num_siblings`. */
  readonly threadsPerCore: number;
  readonly smtNumbering: SmtNumbering;
  /** `raw_smp_processor_id()`: the CPU the running context is on. Written by the scheduler. */
  current = 0;
  readonly #possible: CpuMask;
  readonly #present: CpuMask;
  readonly #online: CpuMask;
  readonly #siblings: CpuMask[];
  readonly #chain = new NotifierChain();
  #onlineCount: number;
  #irqRunner: IrqRunner | null = null;

  /** @throws {RangeError} on inconsistent sizes or masks */
  constructor(opts: CpusOptions = {}) {
    const n = opts.nrCpuIds ?? 4;
    if (!(Number.isInteger(n) && n >= 1 && n <= NR_CPUS)) throw new RangeError(`Cpus: nrCpuIds must be an integer in [1, ${NR_CPUS}], got ${n}`);
    const tpc = opts.threadsPerCore ?? 1;
    if (!(Number.isInteger(tpc) && tpc >= 1 && n % tpc === 0)) {
      throw new RangeError(`Cpus: threadsPerCore must be a positive integer dividing nrCpuIds (${n}), got ${tpc}`);
    }
    const numbering = opts.smtNumbering ?? "split";
    if (numbering !== "split" && numbering !== "adjacent") throw new RangeError(`Cpus: smtNumbering must be "split" or "adjacent"`);
    this.nrCpuIds = n;
    this.threadsPerCore = tpc;
    this.smtNumbering = numbering;
    this.#possible = maskFrom(n, n, "nrCpuIds");
    this.#present = maskFrom(n, opts.present ?? n, "present");
    const online = maskFrom(n, opts.online ?? this.#present.weight(), "online");
    for (const c of online) if (!this.#present.test(c)) throw new RangeError(`Cpus: online CPU ${c} is not present`);
    if (!online.test(0)) throw new RangeError("Cpus: the boot CPU 0 must be online");
    this.#online = new CpuMask(n);
    this.#siblings = Array.from({ length: n }, () => new CpuMask(n));
    this.#onlineCount = 0;
    for (const c of online) this.setCpuOnline(c, true);
  }

  /** `cpu_possible_mask` (live; read-only). */
  get possibleMask(): ReadonlyCpuMask {
    return this.#possible;
  }
  /** `cpu_present_mask` (live; read-only). */
  get presentMask(): ReadonlyCpuMask {
    return this.#present;
  }
  /** `cpu_online_mask` (live; read-only). */
  get onlineMask(): ReadonlyCpuMask {
    return this.#online;
  }

  /** @throws {RangeError} naming `op` when cpu is not in [0, nr_cpu_ids) */
  checkCpu(cpu: number, op: string): void {
    if (!(cpu >= 0 && cpu < this.nrCpuIds && Number.isInteger(cpu))) {
      throw new RangeError(`${op}: cpu ${cpu} out of range [0, ${this.nrCpuIds})`);
    }
  }

  /** Mirrors `cpu_possible()`. */
  cpuPossible(cpu: number): boolean {
    this.checkCpu(cpu, "cpu_possible");
    return true;
  }
  /** Mirrors `cpu_present()`. */
  cpuPresent(cpu: number): boolean {
    this.checkCpu(cpu, "cpu_present");
    return this.#present.test(cpu);
  }
  /** Mirrors `cpu_online()`. */
  cpuOnline(cpu: number): boolean {
    this.checkCpu(cpu, "cpu_online");
    return this.#online.test(cpu);
  }
  /** Mirrors `num_online_cpus()`. */
  numOnlineCpus(): number {
    return this.#onlineCount;
  }
  /** Mirrors `smp_processor_id()`. */
  smpProcessorId(): number {
    return this.current;
  }

  /** The core a CPU belongs to (`topology_core_id()`), counting cores from 0. */
  topologyCoreId(cpu: number): number {
    this.checkCpu(cpu, "topology_core_id");
    const cores = this.nrCpuIds / this.threadsPerCore;
    return this.smtNumbering === "split" ? cpu % cores : Math.floor(cpu / this.threadsPerCore);
  }

  /** Every CPU of `cpu`'s core, online or not, ascending. */
  threadSiblings(cpu: number): number[] {
    const core = this.topologyCoreId(cpu);
    const cores = this.nrCpuIds / this.threadsPerCore;
    const out: number[] = [];
    for (let t = 0; t < this.threadsPerCore; t++) {
      out.push(this.smtNumbering === "split" ? core + t * cores : core * this.threadsPerCore + t);
    }
    return out;
  }

  /** Mirrors `topology_sibling_cpumask()` (x86 `cpu_sibling_map`); live, read-only, empty when offline. */
  topologySiblingCpumask(cpu: number): ReadonlyCpuMask {
    this.checkCpu(cpu, "topology_sibling_cpumask");
    return this.#siblings[cpu];
  }

  /** Mirrors `get_first_sibling()` (block/blk-mq-cpumap.c): the lowest sibling, or cpu itself when its mask is empty. */
  firstSibling(cpu: number): number {
    const m = this.topologySiblingCpumask(cpu);
    const f = m.first();
    return f < this.nrCpuIds ? f : cpu;
  }

  /** Mirrors `set_cpu_present()`: hot-add or hot-remove a CPU. @throws {RangeError} when removing an online CPU */
  setCpuPresent(cpu: number, present: boolean): void {
    this.checkCpu(cpu, "set_cpu_present");
    if (!present && this.#online.test(cpu)) throw new RangeError(`set_cpu_present: cpu ${cpu} is online`);
    if (present) this.#present.set(cpu);
    else this.#present.clear(cpu);
  }

  /**
   * Mirrors `set_cpu_online()` plus x86's `set_cpu_sibling_map()` /
   * `remove_siblinginfo()`. No notifiers run: this is the raw state change
   * {@link CpuHotplug} makes at the right moment, also usable to configure a
   * machine before anything runs.
   *
   * @throws {RangeError} on a non-present CPU
   */
  setCpuOnline(cpu: number, online: boolean): void {
    this.checkCpu(cpu, "set_cpu_online");
    if (online === this.#online.test(cpu)) return;
    if (online) {
      if (!this.#present.test(cpu)) throw new RangeError(`set_cpu_online: cpu ${cpu} is not present`);
      this.#online.set(cpu);
      this.#onlineCount++;
      const mine = this.#siblings[cpu].clearAll().set(cpu);
      for (const s of this.threadSiblings(cpu)) {
        if (s !== cpu && this.#online.test(s)) {
          mine.set(s);
          this.#siblings[s].set(cpu);
        }
      }
    } else {
      this.#online.clear(cpu);
      this.#onlineCount--;
      for (const s of this.#siblings[cpu]) if (s !== cpu) this.#siblings[s].clear(cpu);
      this.#siblings[cpu].clearAll();
    }
  }

  /** Mirrors `register_cpu_notifier()` (kernel/cpu.c). */
  registerCpuNotifier(nb: NotifierBlock): NotifierBlock {
    this.#chain.register(nb);
    return nb;
  }

  /** Mirrors the `hotcpu_notifier(fn, pri)` macro: registers a block around a function. */
  hotcpuNotifier(fn: NotifierBlock["notifierCall"], priority = 0, name?: string): NotifierBlock {
    return this.registerCpuNotifier({ notifierCall: fn, priority, name });
  }

  /** Mirrors `unregister_cpu_notifier()`. @returns false when nb was not registered */
  unregisterCpuNotifier(nb: NotifierBlock): boolean {
    return this.#chain.unregister(nb);
  }

  /** @internal the chain, for {@link CpuHotplug} */
  get chain(): NotifierChain {
    return this.#chain;
  }

  /**
   * Runs `fn(arg)` "on" `cpu` in interrupt context (irq_enter/irq_exit):
   * `smp_processor_id()` is `cpu` meanwhile. The scheduler installs a runner
   * that also switches `current` to that CPU's idle task.
   */
  runIrq<A>(cpu: number, kind: IrqKind, fn: (arg: A) => void, arg: A): void {
    if (this.#irqRunner !== null) return this.#irqRunner(cpu, kind, fn, arg);
    const saved = this.current;
    this.current = cpu;
    try {
      fn(arg);
    } finally {
      this.current = saved;
    }
  }

  /** @internal installs the scheduler's runner (one per Cpus). */
  setIrqRunner(runner: IrqRunner): void {
    if (this.#irqRunner !== null) throw new TypeError("Cpus: an irq runner is already installed (one scheduler per Cpus)");
    this.#irqRunner = runner;
  }
}

/**
 * Mirrors `DEFINE_PER_CPU()` and its accessors (include/linux/percpu-defs.h):
 * one value per possible CPU.
 *
 * @example
 * const counts = new PerCpu(cpus, () => 0);
 * counts.set(cpus.current, counts.thisCpu() + 1); // this_cpu_inc()
 */
export class PerCpu<T> {
  readonly #cpus: Cpus;
  readonly #values: T[];

  constructor(cpus: Cpus, init: (cpu: number) => T) {
    this.#cpus = cpus;
    this.#values = Array.from({ length: cpus.nrCpuIds }, (_, c) => init(c));
  }

  /** Mirrors `per_cpu(var, cpu)`. @throws {RangeError} on a bad CPU */
  get(cpu: number): T {
    this.#cpus.checkCpu(cpu, "per_cpu");
    return this.#values[cpu];
  }

  /** Assigns `per_cpu(var, cpu)`. @throws {RangeError} on a bad CPU */
  set(cpu: number, value: T): void {
    this.#cpus.checkCpu(cpu, "per_cpu");
    this.#values[cpu] = value;
  }

  /** Mirrors `this_cpu_read()` / `*this_cpu_ptr()`: the value of the current CPU. */
  thisCpu(): T {
    return this.#values[this.#cpus.current];
  }

  /** Mirrors `for_each_possible_cpu()`: [cpu, value] pairs. */
  *[Symbol.iterator](): Iterator<[number, T]> {
    for (let c = 0; c < this.#values.length; c++) yield [c, this.#values[c]];
  }
}
