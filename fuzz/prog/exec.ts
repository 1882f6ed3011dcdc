// SPDX-License-Identifier: GPL-2.0-only
/**
 * Runs a program on a simulated machine and records what happened, for the
 * detectors (fuzz/detectors/).
 *
 * Each program task (`@task N`) becomes a kernel task that runs its calls in
 * program order, yielding between calls; the scheduler interleaves the tasks
 * with decisions from the program's `sched` bytes (then zeros, or a seeded
 * PRNG). A call's resource arguments are looked up when it runs: a resource
 * another task has freed meanwhile (or never produced) makes the call a
 * no-op. A typed error from the API (KernelError, RangeError, TypeError that
 * the API threw) is a refusal, not a finding; anything else thrown stops the
 * run as a crash.
 *
 * Teardown, syzkaller-style, so that only the kernel can cause a finding:
 *
 * 1. Every task, at its end, releases what only it may (held mutexes).
 * 2. When every program task is stuck (blocked, nothing else to run, and no
 *    call finished for 10 virtual seconds or no timer pending) while the
 *    program still holds non-container resources (tags, references), a
 *    teardown task releases those: a task may be waiting for a tag another
 *    holds. Repeated as long as there is something to release.
 * 3. When every program task has ended, a final teardown releases the rest,
 *    references before containers, each newest first, runs each area's
 *    teardown (rmmod ...) and waits for RCU callbacks (rcu_barrier).
 *
 * A task still blocked with nothing left to release is a hang; live objects
 * after step 3 are leaks.
 *
 * @module
 */

import { KernelBug, KernelError } from "../../ts/errors.ts";
import { CpuMask } from "../../ts/kernel/cpu.ts";
import { Kernel } from "../../ts/kernel/kernel.ts";
import type { KlogRecord } from "../../ts/kernel/klog.ts";
import type { LeakRecord } from "../../ts/kernel/kmemleak.ts";
import { ByteChoices, type ChoiceSource, type HungTask, PrngChoices, type RunResult, sleep, type Sleepable, type Task } from "../../ts/kernel/sched.ts";
import type { FuzzMachine } from "../machine.ts";
import type { Profile } from "./profile.ts";
import { type Area, type ExecCtx, findArea, opSpec, type OpSpec, resourceSpec, type Violation } from "./registry.ts";
import { isRef, type Prog } from "./types.ts";

/** How to run a program. */
export interface ExecOptions {
  profile: Profile;
  /** Named regressions (fuzz/regressions.ts) to switch on. */
  regressions?: readonly string[];
  /** After the sched bytes run out: 0 = always the default choice, else a seeded PRNG. Default 0. */
  seed?: number;
  /** The reusable machine; without one a fresh coverage-core Kernel is booted. */
  machine?: FuzzMachine | null;
  /** Scheduler steps before the run counts as a livelock. Default 200000. */
  maxSteps?: number;
}

/** Something thrown that is not an API refusal. */
export interface Crash {
  readonly error: unknown;
  /** The call that threw, or -1 (kernel context: a timer, a worker). */
  readonly call: number;
  /** Its op, or "teardown" / "kernel". */
  readonly op: string;
}

/** Tasks that did not finish. */
export interface Hang {
  /** "hang": all blocked; "watchdog": blocked past hung_task_timeout_secs; "steps": the step limit. */
  readonly reason: "hang" | "watchdog" | "steps";
  readonly tasks: readonly HungTask[];
}

/** What one run did. */
export interface ExecResult {
  readonly prog: Prog;
  readonly kernel: Kernel;
  /** Every kernel-log record of the run. */
  readonly records: readonly KlogRecord[];
  readonly crash: Crash | null;
  readonly hang: Hang | null;
  readonly violations: readonly Violation[];
  /** sysfs shows and their byte counts. */
  readonly sysfs: readonly { path: string; bytes: number }[];
  /** Live tracked objects after teardown (empty after a crash: teardown is skipped). */
  readonly leaks: readonly LeakRecord[];
  /** Calls that ran to completion. */
  readonly executed: number;
  /** Calls the API refused with a typed error. */
  readonly refused: number;
  /** Calls skipped because a resource was gone. */
  readonly skipped: number;
}

const STALL_NS = 10e9;
const DEFAULT_MAX_STEPS = 200_000;

/** V8's own TypeError/RangeError messages: a bug in the code, not a refusal by the API. */
const ENGINE_ERROR = new RegExp(
  [
    "Cannot read propert",
    "Cannot set propert",
    "is not a function",
    "is not iterable",
    "is not a constructor",
    "Cannot convert undefined or null",
    "Cannot destructure",
    "Assignment to constant",
    "Maximum call stack size exceeded",
    "Invalid array length",
    "Invalid typed array length",
    "Invalid string length",
    "Cannot mix BigInt",
    "outside the bounds of the DataView",
    "should be a multiple of",
  ].join("|"),
);

/**
 * Whether an error is the API refusing bad input: KernelError, or a
 * RangeError/TypeError with a message of the API's own (not V8's).
 */
export function isRefusal(e: unknown): boolean {
  if (e instanceof KernelError) return true;
  if (e instanceof KernelBug) return false;
  if (e instanceof RangeError || e instanceof TypeError) return !ENGINE_ERROR.test(e.message);
  return false;
}

/** Sched bytes first, then a seeded PRNG (or the default choice, 0). */
class ProgChoices implements ChoiceSource {
  readonly #bytes: ByteChoices;
  readonly #prng: PrngChoices | null;
  constructor(sched: readonly number[], seed: number) {
    this.#bytes = new ByteChoices(Uint8Array.from(sched));
    this.#prng = seed > 0 ? new PrngChoices(seed) : null;
  }
  choose(n: number): number {
    if (n === 1) return 0;
    if (!this.#bytes.exhausted) return this.#bytes.choose(n);
    return this.#prng === null ? 0 : this.#prng.choose(n);
  }
}

interface Live {
  readonly kind: string;
  readonly value: unknown;
}

/** One run's state; the ExecCtx of every task points back here. */
class ProgRun {
  readonly kernel: Kernel;
  readonly prog: Prog;
  readonly areas: Area[];
  readonly #states = new Map<string, unknown>();
  readonly #regressions: ReadonlySet<string>;
  readonly live = new Map<number, Live>();
  readonly violations: Violation[] = [];
  readonly sysfs: { path: string; bytes: number }[] = [];
  readonly programTasks: Task[] = [];
  crash: Crash | null = null;
  /** Virtual ns when a program call last finished (or a task ended). */
  lastProgress = 0;
  tasksLeft = 0;
  /** Program calls inside an op now (sleeping ones included). */
  inOp = 0;
  teardownActive = false;
  executed = 0;
  refused = 0;
  skipped = 0;

  constructor(kernel: Kernel, prog: Prog, profile: Profile, regressions: readonly string[]) {
    this.kernel = kernel;
    this.prog = prog;
    this.#regressions = new Set(regressions);
    const names = [...new Set(profile.ops.map((o) => opSpec(o).area))];
    this.areas = names.map(findArea).filter((a): a is Area => a !== undefined);
    const reg = (n: string) => this.#regressions.has(n);
    for (const a of this.areas) this.#states.set(a.name, a.boot?.(kernel, reg));
  }

  ctx(task: Task, taskNo: number): ExecCtx {
    const run = this;
    return {
      kernel: run.kernel,
      task,
      taskNo,
      state: <T>(area: string) => run.#states.get(area) as T,
      regression: (name: string) => run.#regressions.has(name),
      violate(v: Violation) {
        if (!run.violations.some((w) => w.title === v.title)) run.violations.push(v);
      },
      sysfsShow(path: string, bytes: number) {
        run.sysfs.push({ path, bytes });
      },
    };
  }

  setCrash(error: unknown, call: number, op: string): void {
    if (this.crash === null) this.crash = { error, call, op };
  }

  /** Runs one call in the current task. */
  *call(x: ExecCtx, i: number): Sleepable {
    const c = this.prog.calls[i];
    const spec: OpSpec = opSpec(c.op);
    // Move first: resources are looked up after the last scheduling point before the call.
    const sched = this.kernel.sched;
    let pinned = false;
    if (c.cpu !== null) {
      try {
        sched.setCpusAllowed(x.task, new CpuMask(this.kernel.cpus.nrCpuIds, [c.cpu]));
        pinned = true;
        if (x.task.cpu !== c.cpu) yield sleep(0);
      } catch (e) {
        if (!isRefusal(e)) throw e;
      }
    }
    const args: unknown[] = [];
    for (let j = 0; j < spec.args.length; j++) {
      const a = spec.args[j];
      const v = c.args[j];
      if (a.kind !== "res") args.push(v);
      else if (!isRef(v)) args.push(null);
      else {
        const r = this.live.get(v.ref);
        if (r === undefined) {
          this.skipped++;
          if (pinned) sched.setCpusAllowed(x.task, null);
          return;
        }
        args.push(r.value);
      }
    }
    // A consumed resource leaves the table before the call runs, so no other
    // task can free it too while this call sleeps; a refusal puts it back.
    const taken: [number, Live][] = [];
    spec.args.forEach((a, j) => {
      const v = c.args[j];
      if (a.kind === "res" && a.consume && isRef(v)) {
        taken.push([v.ref, this.live.get(v.ref)!]);
        this.live.delete(v.ref);
      }
    });
    this.inOp++;
    try {
      const ret = yield* spec.exec(x, args);
      if (spec.produces !== undefined && ret !== undefined) this.live.set(i, { kind: spec.produces, value: ret });
      this.executed++;
    } catch (e) {
      for (const [ref, r] of taken) this.live.set(ref, r);
      if (isRefusal(e)) this.refused++;
      else this.setCrash(e, i, c.op);
    } finally {
      this.inOp--;
    }
    if (pinned) sched.setCpusAllowed(x.task, null);
    this.lastProgress = this.kernel.clock.now();
    // Only between operations: another task halfway through one (a queue's
    // init sleeping on a mutex) may legitimately show a half-done state.
    if (this.inOp === 0) this.checkInvariants(x, false);
  }

  checkInvariants(x: ExecCtx, full: boolean): void {
    for (const a of this.areas) {
      if (a.invariants === undefined) continue;
      try {
        const v = a.invariants(x, full);
        if (v !== null) x.violate(v);
      } catch (e) {
        if (!isRefusal(e)) this.setCrash(e, -1, "invariant");
      }
    }
  }

  /** A program task's body. */
  *programTask(x: ExecCtx, calls: number[]): Sleepable {
    for (const i of calls) {
      if (this.crash !== null) break;
      yield* this.call(x, i);
      yield;
    }
    for (const a of this.areas) {
      if (a.taskExit === undefined || this.crash !== null) continue;
      try {
        yield* a.taskExit(x);
      } catch (e) {
        if (!isRefusal(e)) this.setCrash(e, -1, `${a.name} task exit`);
      }
    }
    this.tasksLeft--;
    this.lastProgress = this.kernel.clock.now();
  }

  /** Releases live resources (all, or only non-containers), newest first; on `final`, area teardowns too. */
  *teardown(x: ExecCtx, final: boolean): Sleepable {
    if (final && this.tasksLeft === 0) this.checkInvariants(x, true);
    // References and held objects first (newest first), containers after: a
    // container's release may wait for references on another container (a
    // queue leaving a shared tag set freezes the queues left).
    for (const containers of final ? [false, true] : [false]) {
      const refs = [...this.live.keys()].sort((a, b) => b - a);
      for (const ref of refs) {
        if (this.crash !== null) break;
        const r = this.live.get(ref);
        if (r === undefined) continue;
        const spec = resourceSpec(r.kind);
        if ((spec.final === true) !== containers) continue;
        this.live.delete(ref);
        try {
          yield* spec.release(x, r.value);
        } catch (e) {
          if (!isRefusal(e)) this.setCrash(e, ref, `teardown ${r.kind}`);
        }
      }
    }
    if (final) {
      for (const a of this.areas) {
        if (a.teardown === undefined || this.crash !== null) continue;
        try {
          yield* a.teardown(x);
        } catch (e) {
          if (!isRefusal(e)) this.setCrash(e, -1, `${a.name} teardown`);
        }
      }
      // Objects freed from RCU callbacks (a queue's struct) are gone only after a grace period.
      if (this.crash === null) yield* this.kernel.rcu.rcuBarrier();
    }
    this.teardownActive = false;
  }

  /** Whether a release teardown would free anything. */
  releasable(): boolean {
    for (const r of this.live.values()) if (!resourceSpec(r.kind).final) return true;
    return false;
  }

  /**
   * Every program task blocked, nothing else runnable, and either no timer
   * pending or no call finished for STALL_NS (a task may poll, as
   * mempool_alloc() retries every 5 s, without getting anywhere).
   */
  stalled(): boolean {
    let any = false;
    for (const t of this.programTasks) {
      if (t.state === "exited") continue;
      if (t.state !== "blocked") return false;
      any = true;
    }
    if (!any) return false;
    const k = this.kernel;
    if (k.softirq.nrPending !== 0) return false;
    if (k.sched.tasks().some((t) => t.state !== "blocked")) return false;
    return k.timers.nextExpiry() === Infinity || k.clock.now() - this.lastProgress >= STALL_NS;
  }
}

/**
 * The fuzz machine's memory: 32 MiB of pages (slabs included). Like a
 * syzkaller VM's RAM it bounds what one program can allocate, so a load
 * such as `modprobe null_blk nr_devices=64 hw_queue_depth=-1` (millions of
 * request records: seconds of work, a Jazzer timeout) meets ENOMEM — and its
 * unwinding paths — at once instead.
 */
export const FUZZ_RAM_PAGES = (32 << 20) / 4096;

/**
 * Runs a program and collects everything the detectors look at. Never
 * throws for anything the program or the kernel does.
 */
export function execProg(prog: Prog, o: ExecOptions): ExecResult {
  const choices = new ProgChoices(prog.sched, o.seed ?? 0);
  const cpus = o.profile.cpus;
  const kernel = o.machine ? o.machine.boot({ cpus, choices }) : new Kernel({ cpus, variant: "coverage", choices });
  kernel.slab.setPageLimit(FUZZ_RAM_PAGES);
  // What boot allocated lives as long as the machine: `echo clear > /sys/kernel/debug/kmemleak`,
  // as syzkaller does after boot, so only the program's allocations can be reported.
  kernel.kmemleak.clear();
  const bootObjects = kernel.kmemleak.live();
  const records: KlogRecord[] = [];
  kernel.log.subscribe((r) => records.push(r));
  const run = new ProgRun(kernel, prog, o.profile, o.regressions ?? []);
  const byTask = new Map<number, number[]>();
  prog.calls.forEach((c, i) => {
    let list = byTask.get(c.task);
    if (list === undefined) byTask.set(c.task, (list = []));
    list.push(i);
  });
  const sched = kernel.sched;
  for (const n of [...byTask.keys()].sort((a, b) => a - b)) {
    run.tasksLeft++;
    run.programTasks.push(sched.spawn(`prog${n}`, (t) => run.programTask(run.ctx(t, n), byTask.get(n)!), { kthread: false }));
  }
  let hang: Hang | null = null;
  let steps = o.maxSteps ?? DEFAULT_MAX_STEPS;
  let finalDone = false;
  const spawnTeardown = (final: boolean) => {
    run.teardownActive = true;
    sched.spawn(final ? "teardown" : "release", (t) => run.teardown(run.ctx(t, -1), final));
  };
  for (let round = 0; round < 64 && run.crash === null; round++) {
    let r: RunResult;
    try {
      r = kernel.run({
        maxSteps: steps,
        until: () =>
          run.crash !== null ||
          (!run.teardownActive && (run.tasksLeft === 0 || (run.stalled() && run.releasable()))),
      });
    } catch (e) {
      run.setCrash(e, -1, "kernel");
      break;
    }
    steps -= r.steps;
    if (r.watchdog.length > 0 && hang === null) hang = { reason: "watchdog", tasks: r.watchdog };
    if (r.kind === "hang") {
      hang = { reason: "hang", tasks: r.hung };
      break;
    }
    if (r.kind === "limit") {
      hang = { reason: "steps", tasks: [] };
      break;
    }
    if (run.crash !== null) break;
    if (run.tasksLeft > 0 && run.releasable()) {
      spawnTeardown(false);
      continue;
    }
    // Every task ended, or the rest sleep interruptibly with nothing to wake them: clean up.
    if (finalDone) break;
    finalDone = true;
    spawnTeardown(true);
  }
  let leaks: LeakRecord[] = [];
  if (run.crash === null && hang === null && finalDone && kernel.kmemleak.count() > 0) {
    kernel.kmemleak.scan();
    const key = (l: LeakRecord) => `${l.addr}\0${l.site}\0${l.cache}`;
    const boot = new Set(bootObjects.map(key));
    leaks = kernel.kmemleak.live().filter((l) => !boot.has(key(l)));
  }
  return {
    prog,
    kernel,
    records,
    crash: run.crash,
    hang,
    violations: run.violations,
    sysfs: run.sysfs,
    leaks,
    executed: run.executed,
    refused: run.refused,
    skipped: run.skipped,
  };
}
