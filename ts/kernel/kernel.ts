// SPDX-License-Identifier: GPL-2.0-only
/**
 * One simulated machine: the substrate every blk-mq object lives in, wired
 * the way start_kernel() brings the kernel up. Each Kernel owns its WASM
 * core instance (its own linear memory), its clock, CPUs, scheduler, log and
 * sanitizers, so any number of machines can exist in one process and a test
 * or fuzz program never sees another's state.
 *
 * @module
 */

import { BlockLayer } from "../block/blk_layer.ts";
import { Sysfs } from "../sysfs/sysfs.ts";
import { type CoreExports, type CoreVariant, instantiateCore } from "../wasm/core.ts";
import type { ChoiceSource } from "./_prng.ts";
import { type Clock, RealClock, VirtualClock } from "./clock.ts";
import { CpuHotplug, Cpus, type SmtNumbering } from "./cpu.ts";
import { Klog } from "./klog.ts";
import { Kmemleak } from "./kmemleak.ts";
import { KobjectTree } from "./kobject.ts";
import { Lockdep } from "./lockdep.ts";
import { Rcu } from "./rcu.ts";
import type { RunResult } from "./_sched_types.ts";
import { Scheduler, WaitQueue } from "./sched.ts";
import { Slab } from "./slab.ts";
import { Softirq } from "./softirq.ts";
import { TimerBase } from "./timer.ts";
import { Workqueues } from "./workqueue.ts";

/** Boot parameters of a simulated machine; every field has a default. */
export interface KernelOptions {
  /** Possible CPUs (nr_cpu_ids). Default 4. */
  cpus?: number;
  /** SMT threads per core. Default 1. */
  threadsPerCore?: number;
  /** Sibling numbering: "split" (x86) or "adjacent". Default "split". */
  smtNumbering?: SmtNumbering;
  /** Scheduler seed; ignored when `choices` is given. Default 1. */
  seed?: number;
  /** An explicit choice stream for the scheduler (the fuzzer's input). */
  choices?: ChoiceSource;
  /** WASM build: "debug" (default: KASAN checks and asserts on), "release" or "coverage". */
  variant?: CoreVariant;
  /** "virtual" (default, deterministic) or "real" (wall clock, for real I/O). */
  clock?: "virtual" | "real";
  /** Timer frequency. Default 1000. */
  HZ?: number;
  /** Virtual cost of one RCU grace period in ns. Default 1 ms. */
  rcuGpNs?: number;
  /** hung_task_timeout_secs. Default 120. */
  hungTaskTimeoutSecs?: number;
  /** Record a scheduler trace. Default false. */
  trace?: boolean;
  /**
   * Lock validation (CONFIG_PROVE_LOCKING): the scheduler's locks report
   * to {@link Kernel.lockdep}. Default true; false is the production
   * configuration the speed benchmarks use (locks still track owners and
   * report misuse such as recursion or a bad unlock).
   */
  lockdep?: boolean;
  /**
   * An existing core instance to boot on instead of a fresh one of `variant`
   * (the fuzzer restores one instance from a snapshot for every run). It must
   * hold no live allocations, like a fresh instance; the caller vouches that it
   * is of `variant`.
   */
  core?: CoreExports;
}

/**
 * A booted simulated machine.
 *
 * @example
 * const k = new Kernel({ cpus: 2 });
 * k.sched.spawn("hello", function* () { yield* k.rcu.synchronizeRcu(); });
 * k.run();
 * k.assertClean(); // no WARN/BUG in the log, no leaked objects
 */
export class Kernel {
  readonly options: Readonly<Required<Omit<KernelOptions, "choices" | "core">>>;
  readonly core: CoreExports;
  readonly clock: Clock;
  readonly log: Klog;
  readonly lockdep: Lockdep;
  readonly kmemleak: Kmemleak;
  readonly kobjects: KobjectTree;
  readonly slab: Slab;
  readonly cpus: Cpus;
  readonly timers: TimerBase;
  readonly softirq: Softirq;
  readonly sched: Scheduler;
  readonly rcu: Rcu;
  readonly hotplug: CpuHotplug;
  readonly workqueues: Workqueues;
  /** The static `percpu_ref_switch_waitq` (lib/percpu-refcount.c), one per machine. */
  readonly percpuRefSwitchWaitq: WaitQueue;
  /** The virtual /sys: kobject directories, attribute files, /sys/devices/system/cpu. */
  readonly sysfs: Sysfs;
  /** The block layer: all_q_list, the blk-mq hotplug notifiers, /sys/block, majors. */
  readonly block: BlockLayer;
  /** @internal Per-machine state of modules outside this class, one slot per {@link MachineMap}. */
  readonly slots: unknown[] = [];
  #buf: ArrayBuffer;
  #u8: Uint8Array;
  #dv: DataView;

  constructor(opts: KernelOptions = {}) {
    const o = withDefaults(opts);
    this.options = o;
    this.clock = o.clock === "real" ? new RealClock({ HZ: o.HZ }) : new VirtualClock({ HZ: o.HZ });
    const clock = this.clock;
    this.log = new Klog(() => clock.now());
    this.lockdep = new Lockdep(this.log);
    this.kmemleak = new Kmemleak(this.log, { jiffies: () => clock.jiffies() });
    this.kobjects = new KobjectTree(this.log, this.kmemleak);
    this.core = opts.core ?? instantiateCore(o.variant);
    this.#buf = this.core.memory.buffer;
    this.#u8 = new Uint8Array(this.#buf);
    this.#dv = new DataView(this.#buf);
    this.slab = new Slab(this.core, { log: this.log });
    this.kmemleak.addSource(this.slab.leakSource());
    this.cpus = new Cpus({ nrCpuIds: o.cpus, threadsPerCore: o.threadsPerCore, smtNumbering: o.smtNumbering });
    this.timers = new TimerBase({ clock, cpus: this.cpus, log: this.log });
    this.softirq = new Softirq({ cpus: this.cpus, log: this.log });
    this.sched = new Scheduler({
      cpus: this.cpus,
      clock,
      timers: this.timers,
      log: this.log,
      lockdep: o.lockdep ? this.lockdep : undefined,
      softirq: this.softirq,
      seed: o.seed,
      choices: opts.choices,
      trace: o.trace,
      hungTaskTimeoutSecs: o.hungTaskTimeoutSecs,
    });
    this.rcu = new Rcu({ sched: this.sched, gpNs: o.rcuGpNs });
    this.hotplug = new CpuHotplug({ sched: this.sched, rcu: this.rcu });
    this.workqueues = new Workqueues({ sched: this.sched });
    this.percpuRefSwitchWaitq = new WaitQueue(this.sched, "percpu_ref_switch_waitq");
    // Last: sysfs installs the kobject hooks and registers the cpu devices (hotplug, sched).
    this.sysfs = new Sysfs(this);
    // After sysfs, so /sys/block has its directory from boot.
    this.block = new BlockLayer(this);
  }

  /**
   * A DataView of the core's linear memory, made again only after
   * `memory.grow` (which detaches the old buffer: its byteLength reads 0;
   * that test is several times cheaper than one on a typed array's).
   * The hot path reads records through it instead of a fresh view per call.
   */
  get dv(): DataView {
    if (this.#buf.byteLength === 0) this.#remap();
    return this.#dv;
  }

  /** The linear memory as bytes (see {@link Kernel.dv}). */
  get u8(): Uint8Array {
    if (this.#buf.byteLength === 0) this.#remap();
    return this.#u8;
  }

  #remap(): void {
    const b = this.core.memory.buffer;
    this.#buf = b;
    this.#u8 = new Uint8Array(b);
    this.#dv = new DataView(b);
  }

  /** Runs the scheduler until every task exits or it stops (see Scheduler.run). */
  run(opts?: Parameters<Scheduler["run"]>[0]): RunResult {
    return this.sched.run(opts);
  }

  /** Live tracked objects, WASM slab and TypeScript alike. */
  liveObjects(): number {
    return this.kmemleak.count();
  }

  /**
   * Throws when the machine is not clean: a finding line in the log
   * (WARNING:, BUG:, lockdep, hung task, KASAN, kmemleak) or any live tracked
   * object. The error message carries the log findings and the kmemleak
   * report. Tests end with this.
   */
  assertClean(): void {
    const problems: string[] = [];
    if (!this.log.isClean()) problems.push(`kernel log:\n${this.log.findings().join("\n")}`);
    if (this.kmemleak.count() > 0) problems.push(this.kmemleak.scan().report);
    if (problems.length > 0) throw new Error(`kernel is not clean:\n${problems.join("\n")}`);
  }
}

function positiveInt(name: string, v: unknown, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 1) {
    throw new RangeError(`Kernel: ${name} must be a positive integer, got ${String(v)}`);
  }
  return v;
}

function withDefaults(o: KernelOptions): Readonly<Required<Omit<KernelOptions, "choices" | "core">>> {
  if (o === null || typeof o !== "object") throw new TypeError("Kernel: options must be an object");
  if (o.lockdep !== undefined && typeof o.lockdep !== "boolean") {
    throw new TypeError(`Kernel: lockdep must be a boolean, got ${String(o.lockdep)}`);
  }
  const clock = o.clock ?? "virtual";
  if (clock !== "virtual" && clock !== "real") {
    throw new RangeError(`Kernel: clock must be "virtual" or "real", got ${String(clock)}`);
  }
  return {
    cpus: positiveInt("cpus", o.cpus, 4),
    threadsPerCore: positiveInt("threadsPerCore", o.threadsPerCore, 1),
    smtNumbering: o.smtNumbering ?? "split",
    seed: o.seed ?? 1,
    variant: o.variant ?? "debug",
    clock,
    HZ: positiveInt("HZ", o.HZ, 1000),
    rcuGpNs: o.rcuGpNs ?? 1_000_000,
    hungTaskTimeoutSecs: positiveInt("hungTaskTimeoutSecs", o.hungTaskTimeoutSecs, 120),
    trace: o.trace ?? false,
    lockdep: o.lockdep ?? true,
  };
}
