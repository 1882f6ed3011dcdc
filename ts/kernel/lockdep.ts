// SPDX-License-Identifier: GPL-2.0-only
/**
 * lockdep: the runtime locking correctness validator (kernel/locking/lockdep.c).
 *
 * Locks belong to classes (one static key shared by many lock instances).
 * Each task has a stack of held locks; acquiring `next` while holding `prev`
 * records the dependency prev → next. Before a new dependency is recorded the
 * graph is searched (BFS) for next → … → prev: such a path means two tasks can
 * deadlock, and it is reported the first time the inversion is seen, whether
 * or not this run actually deadlocked. As in the kernel, the first report
 * turns `debug_locks` off and later problems are not reported.
 *
 * Which held locks get an edge: the kernel's rule (`check_prevs_add()`): walk
 * the held stack from the most recent lock down, adding prev → next for each,
 * and stop after the first lock that was not a trylock. Older locks are
 * already connected through that lock's own edges. A trylock acquisition adds
 * no edge to itself, but locks taken while it is held depend on it.
 *
 * Cost per acquire: a map lookup per edge considered, and a BFS only when the
 * edge is new (the kernel's "dependency already present" fast path).
 *
 * @module
 */

import type { Klog } from "./klog.ts";

/** `MAX_LOCK_DEPTH` (include/linux/sched.h): most locks one task may hold. */
export const MAX_LOCK_DEPTH = 48;
/** `MAX_LOCKDEP_SUBCLASSES` (include/linux/lockdep.h). */
export const MAX_LOCKDEP_SUBCLASSES = 8;

/** The task doing a lock operation. */
export interface LockTask {
  pid: number;
  comm: string;
}

/** One recorded dependency: `to` was acquired while `from` was held. */
export interface LockDependency {
  readonly from: LockClass;
  readonly to: LockClass;
  /** Where `to` was acquired the first time this dependency was seen. */
  readonly where: string;
  readonly pid: number;
  readonly comm: string;
}

/**
 * Mirrors `struct lock_class_key` (include/linux/lockdep.h): the identity
 * every lock initialized at one site shares, named like the kernel names it
 * ("&q->sysfs_lock").
 */
export class LockClass {
  readonly name: string;
  readonly #subclasses: LockClass[] = [];

  /** @throws {TypeError} on an empty or non-string name */
  constructor(name: string) {
    if (typeof name !== "string" || name === "") {
      throw new TypeError("LockClass: name must be a non-empty string");
    }
    this.name = name;
  }

  /**
   * Mirrors the `subclass` of `mutex_lock_nested()` / `spin_lock_nested()`:
   * a distinct class "name/n" for deliberately nested locks of one class.
   * Subclass 0 is this class.
   *
   * @throws {RangeError} unless 0 ≤ n < MAX_LOCKDEP_SUBCLASSES
   */
  subclass(n: number): LockClass {
    if (!Number.isInteger(n) || n < 0 || n >= MAX_LOCKDEP_SUBCLASSES) {
      throw new RangeError(`LockClass.subclass: ${n} not in [0, ${MAX_LOCKDEP_SUBCLASSES})`);
    }
    if (n === 0) return this;
    return (this.#subclasses[n] ??= new LockClass(`${this.name}/${n}`));
  }
}

interface HeldLock {
  readonly cls: LockClass;
  readonly where: string;
  readonly trylock: boolean;
}

/** A BFS node: `cls`, reached from `parent` over `edge` (null at the root). */
interface PathEntry {
  readonly cls: LockClass;
  readonly edge: LockDependency | null;
  readonly parent: PathEntry | null;
}

/** `{+.+.}`: every class is used in process context with interrupts enabled, never for read. */
const USAGE = "{+.+.}";

function lockName(cls: LockClass): string {
  return ` (${cls.name})${USAGE}`;
}

/**
 * The lock-order checker of one simulated kernel.
 *
 * @example
 * const ld = new Lockdep(log);
 * const a = new LockClass("&a->lock"), b = new LockClass("&b->lock");
 * const t1 = { pid: 10, comm: "kworker/0:1" }, t2 = { pid: 20, comm: "fio" };
 * ld.acquire(t1, a, "f1"); ld.acquire(t1, b, "f1"); ld.release(t1, b, "f1"); ld.release(t1, a, "f1");
 * ld.acquire(t2, b, "f2"); ld.acquire(t2, a, "f2"); // logs the circular dependency report
 */
export class Lockdep {
  readonly #log: Klog;
  #debugLocks = true;
  #held = new Map<number, HeldLock[]>();
  #after = new Map<LockClass, Map<LockClass, LockDependency>>();
  #reported = new Map<LockClass, Set<LockClass>>();
  #reports = 0;

  constructor(log: Klog) {
    this.#log = log;
  }

  /** `debug_locks`: false once a report has been printed, until {@link Lockdep.enable} or {@link Lockdep.reset}. */
  get debugLocks(): boolean {
    return this.#debugLocks;
  }

  /** How many reports were printed since construction or {@link Lockdep.reset}. */
  reportCount(): number {
    return this.#reports;
  }

  /**
   * Mirrors `lock_acquire()` (kernel/locking/lockdep.c) with `__lock_acquire()`'s
   * checks: depth limit, recursive locking, then new dependencies against the
   * graph. The lock is recorded as held in every case, also after a report.
   *
   * @param where the acquiring site, printed in reports
   * @param opts.trylock a successful trylock: checked for nothing and adds no edge to itself
   * @throws {TypeError} on a bad task, class or site
   */
  acquire(task: LockTask, cls: LockClass, where: string, opts?: { trylock?: boolean }): void {
    checkArgs("lock_acquire", task, cls, where);
    let stack = this.#held.get(task.pid);
    if (stack === undefined) {
      stack = [];
      this.#held.set(task.pid, stack);
    }
    const next: HeldLock = { cls, where, trylock: opts?.trylock === true };
    if (this.#debugLocks) {
      if (stack.length >= MAX_LOCK_DEPTH) this.#printMaxDepthBug(task, stack, where);
      else if (!next.trylock) this.#validate(task, stack, next);
    }
    stack.push(next);
  }

  /**
   * Mirrors `lock_release()` (kernel/locking/lockdep.c): removes the most
   * recent held lock of `cls` (out-of-order release is allowed). Releasing a
   * class the task does not hold prints "bad unlock balance".
   *
   * @throws {TypeError} on a bad task, class or site
   */
  release(task: LockTask, cls: LockClass, where: string): void {
    checkArgs("lock_release", task, cls, where);
    const stack = this.#held.get(task.pid);
    if (stack) {
      for (let i = stack.length - 1; i >= 0; i--) {
        if (stack[i].cls !== cls) continue;
        if (i === stack.length - 1) stack.pop();
        else stack.splice(i, 1);
        if (stack.length === 0) this.#held.delete(task.pid);
        return;
      }
    }
    if (this.#debugLocks) this.#printUnlockImbalanceBug(task, cls, where);
  }

  /** The classes `task` holds, oldest first. */
  held(task: { pid: number }): readonly LockClass[] {
    return (this.#held.get(task.pid) ?? []).map((h) => h.cls);
  }

  /** Mirrors `lock_is_held()` (kernel/locking/lockdep.c) by class. */
  isHeld(task: { pid: number }, cls: LockClass): boolean {
    return (this.#held.get(task.pid) ?? []).some((h) => h.cls === cls);
  }

  /**
   * Mirrors `lockdep_assert_held()` (include/linux/lockdep.h):
   * `WARN_ON(debug_locks && !lockdep_is_held(l))`.
   *
   * @returns true when the lock is held (or checking is off)
   */
  assertHeld(task: { pid: number }, cls: LockClass, where: string): boolean {
    if (!this.#debugLocks || this.isHeld(task, cls)) return true;
    this.#log.warn(where);
    return false;
  }

  /**
   * Mirrors `debug_check_no_locks_held()` (kernel/locking/lockdep.c), called
   * when a task exits or returns to user space: holding any lock is reported.
   *
   * @returns true when the task holds no lock
   */
  checkNoLocksHeld(task: LockTask): boolean {
    const stack = this.#held.get(task.pid);
    if (!stack || stack.length === 0) return true;
    if (!this.#off()) return false;
    const log = this.#log;
    log.printk("warning", "");
    log.printk("warning", "====================================");
    log.printk("warning", `WARNING: ${task.comm}/${task.pid} still has locks held!`);
    log.printk("warning", log.kernelIdent());
    log.printk("warning", "------------------------------------");
    this.#printHeldLocks(task, stack);
    this.#printBacktrace(task, []);
    return false;
  }

  /** Turns `debug_locks` back on after a report, keeping the graph (tests). Pairs already reported stay silent. */
  enable(): void {
    this.#debugLocks = true;
  }

  /** Forgets every dependency, held lock and report, and turns `debug_locks` back on. */
  reset(): void {
    this.#debugLocks = true;
    this.#held.clear();
    this.#after.clear();
    this.#reported.clear();
    this.#reports = 0;
  }

  /** Every recorded dependency, in the order they were first seen per class. */
  dependencies(): LockDependency[] {
    const out: LockDependency[] = [];
    for (const edges of this.#after.values()) out.push(...edges.values());
    return out;
  }

  /** Whether the direct dependency from → to is recorded. */
  dependsOn(from: LockClass, to: LockClass): boolean {
    return this.#after.get(from)?.has(to) ?? false;
  }

  /** Whether a path of one or more dependencies leads from `from` to `to`. */
  reachable(from: LockClass, to: LockClass): boolean {
    return this.#bfs(from, to) !== null;
  }

  /** Mirrors `validate_chain()`: `check_deadlock()` then `check_prevs_add()`. */
  #validate(task: LockTask, stack: HeldLock[], next: HeldLock): void {
    for (const prev of stack) {
      if (prev.cls === next.cls) {
        this.#printDeadlockBug(task, stack, prev, next);
        return;
      }
    }
    for (let i = stack.length - 1; i >= 0; i--) {
      const prev = stack[i];
      if (!this.#checkPrevAdd(task, stack, prev, next)) return;
      if (!prev.trylock) break;
    }
  }

  /** Mirrors `check_prev_add()`: the edge prev → next, unless next → … → prev exists. @returns false after a report */
  #checkPrevAdd(task: LockTask, stack: HeldLock[], prev: HeldLock, next: HeldLock): boolean {
    let edges = this.#after.get(prev.cls);
    if (edges?.has(next.cls)) return true;
    const target = this.#bfs(next.cls, prev.cls);
    if (target !== null) {
      let pairs = this.#reported.get(prev.cls);
      if (!pairs) this.#reported.set(prev.cls, pairs = new Set());
      if (!pairs.has(next.cls)) {
        pairs.add(next.cls);
        this.#printCircularBug(task, stack, prev, next, target);
      }
      return false;
    }
    if (!edges) this.#after.set(prev.cls, edges = new Map());
    edges.set(next.cls, {
      from: prev.cls,
      to: next.cls,
      where: next.where,
      pid: task.pid,
      comm: task.comm,
    });
    return true;
  }

  /** Mirrors `check_noncircular()`'s `__bfs_forwards()`: the shortest path from → … → to, or null. */
  #bfs(from: LockClass, to: LockClass): PathEntry | null {
    const seen = new Set<LockClass>([from]);
    let level: PathEntry[] = [{ cls: from, edge: null, parent: null }];
    while (level.length > 0) {
      const nextLevel: PathEntry[] = [];
      for (const entry of level) {
        const edges = this.#after.get(entry.cls);
        if (!edges) continue;
        for (const [cls, edge] of edges) {
          const e: PathEntry = { cls, edge, parent: entry };
          if (cls === to) return e;
          if (seen.has(cls)) continue;
          seen.add(cls);
          nextLevel.push(e);
        }
      }
      level = nextLevel;
    }
    return null;
  }

  /** Mirrors `debug_locks_off()`: @returns true when this call turned checking off (so may report). */
  #off(): boolean {
    if (!this.#debugLocks) return false;
    this.#debugLocks = false;
    this.#reports++;
    return true;
  }

  /**
   * The opening both acquire reports share (`print_circular_bug_header()`,
   * the start of `print_deadlock_bug()`): the title between rules as wide as
   * it, the kernel line, the lock being taken and the one held.
   *
   * @returns the line printer the report goes on with
   */
  #printAcquireHeader(title: string, task: LockTask, prev: HeldLock, next: HeldLock): (s: string) => void {
    const log = this.#log;
    const w = (s: string) => log.printk("warning", s);
    w("");
    w("=".repeat(title.length));
    w(title);
    w(log.kernelIdent());
    w("-".repeat(title.length));
    w(`${task.comm}/${task.pid} is trying to acquire lock:`);
    w(printLock(next));
    w("");
    w("but task is already holding lock:");
    w(printLock(prev));
    w("");
    return w;
  }

  /** Mirrors `print_circular_bug()` with its header, chain entries and scenario. */
  #printCircularBug(
    task: LockTask,
    stack: HeldLock[],
    prev: HeldLock,
    next: HeldLock,
    target: PathEntry,
  ): void {
    if (!this.#off()) return;
    const w = this.#printAcquireHeader("WARNING: possible circular locking dependency detected", task, prev, next);
    w("which lock already depends on the new lock.");
    w("");
    w("");
    w("the existing dependency chain (in reverse order) is:");
    let depth = 0;
    for (let e = target.parent; e; e = e.parent) depth++;
    for (let e: PathEntry | null = target; e; e = e.parent, depth--) {
      w("");
      w(`-> #${depth}${lockName(e.cls)}:`);
      const site = e.edge ?? { where: next.where, comm: task.comm, pid: task.pid };
      w(`       ${site.where}`);
      w(`       by task ${site.comm}/${site.pid}`);
    }
    w("");
    w("other info that might help us debug this:");
    w("");
    // print_circular_lock_scenario(): source = next, target = prev, parent = the class just before prev on the path.
    const source = next.cls.name;
    const tgt = prev.cls.name;
    const parentCls = target.parent!.cls;
    const parent = parentCls.name;
    if (parentCls !== next.cls) {
      w("Chain exists of:");
      w(`  ${source} --> ${parent} --> ${tgt}`);
      w("");
    }
    w(" Possible unsafe locking scenario:");
    w("");
    w("       CPU0                    CPU1");
    w("       ----                    ----");
    w(`  lock(${tgt});`);
    w(`                               lock(${parent});`);
    w(`                               lock(${tgt});`);
    w(`  lock(${source});`);
    w("");
    w(" *** DEADLOCK ***");
    w("");
    this.#printHeldLocks(task, stack);
    this.#printBacktrace(task, [next.where]);
  }

  /** Mirrors `print_deadlock_bug()`: the same class acquired twice by one task. */
  #printDeadlockBug(task: LockTask, stack: HeldLock[], prev: HeldLock, next: HeldLock): void {
    if (!this.#off()) return;
    const w = this.#printAcquireHeader("WARNING: possible recursive locking detected", task, prev, next);
    w("other info that might help us debug this:");
    w(" Possible unsafe locking scenario:");
    w("");
    w("       CPU0");
    w("       ----");
    w(`  lock(${prev.cls.name});`);
    w(`  lock(${next.cls.name});`);
    w("");
    w(" *** DEADLOCK ***");
    w("");
    w(" May be due to missing lock nesting notation");
    w("");
    this.#printHeldLocks(task, stack);
    this.#printBacktrace(task, [next.where]);
  }

  /** Mirrors `print_unlock_imbalance_bug()`. */
  #printUnlockImbalanceBug(task: LockTask, cls: LockClass, where: string): void {
    if (!this.#off()) return;
    const log = this.#log;
    const w = (s: string) => log.printk("warning", s);
    w("");
    w("=====================================");
    w("WARNING: bad unlock balance detected!");
    w(log.kernelIdent());
    w("-------------------------------------");
    w(`${task.comm}/${task.pid} is trying to release lock (${cls.name}) at:`);
    w(`[<0000000000000000>] ${where}`);
    w("but there are no more locks to release!");
    w("");
    w("other info that might help us debug this:");
    this.#printHeldLocks(task, this.#held.get(task.pid) ?? []);
    this.#printBacktrace(task, [where]);
  }

  /** Mirrors `__lock_acquire()`'s MAX_LOCK_DEPTH check and `print_lockdep_off()`. */
  #printMaxDepthBug(task: LockTask, stack: HeldLock[], where: string): void {
    if (!this.#off()) return;
    const log = this.#log;
    log.printk("debug", "BUG: MAX_LOCK_DEPTH too low!");
    log.printk("debug", "turning off the locking correctness validator.");
    log.printk("debug", `depth: ${stack.length}  max: ${MAX_LOCK_DEPTH}!`);
    this.#printHeldLocks(task, stack);
    log.dumpStack(task, [where]);
  }

  /** Mirrors `lockdep_print_held_locks()` (v4.4 `print_lock()` shape, no instance address). */
  #printHeldLocks(task: LockTask, stack: readonly HeldLock[]): void {
    const log = this.#log;
    if (stack.length === 0) {
      log.printk("warning", `no locks held by ${task.comm}/${task.pid}.`);
      return;
    }
    log.printk(
      "warning",
      `${stack.length} lock${stack.length > 1 ? "s" : ""} held by ${task.comm}/${task.pid}:`,
    );
    stack.forEach((h, i) => log.printk("warning", ` #${i}: ${printLock(h)}`));
  }

  #printBacktrace(task: LockTask, frames: readonly string[]): void {
    this.#log.printk("warning", "");
    this.#log.printk("warning", "stack backtrace:");
    this.#log.dumpStack(task, frames);
  }
}

/** Mirrors `print_lock()` (v4.4): " (name){usage}, at: site". */
function printLock(h: HeldLock): string {
  return `${lockName(h.cls)}, at: ${h.where}`;
}

function checkArgs(op: string, task: LockTask, cls: LockClass, where: string): void {
  if (
    task === null || typeof task !== "object" || !Number.isInteger(task.pid) ||
    typeof task.comm !== "string"
  ) {
    throw new TypeError(`${op}: task must be { pid: integer, comm: string }`);
  }
  if (!(cls instanceof LockClass)) throw new TypeError(`${op}: cls must be a LockClass`);
  if (typeof where !== "string") throw new TypeError(`${op}: where must be a string`);
}
