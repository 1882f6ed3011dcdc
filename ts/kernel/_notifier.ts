// SPDX-License-Identifier: GPL-2.0-only
/**
 * The CPU hotplug notifier chain: constants, `notifier_block`, and the
 * priority-ordered chain with `nr_to_call` limits that the cancel paths use.
 * Private to ts/kernel/; re-exported by cpu.ts.
 *
 * @module
 */

import { ERRNO, type ErrnoCode } from "../errors.ts";
import type { Sleepable } from "./_task.ts";

/** Hotplug events (include/linux/cpu.h, v4.4). */
export const CPU_ONLINE = 0x0002;
export const CPU_UP_PREPARE = 0x0003;
export const CPU_UP_CANCELED = 0x0004;
export const CPU_DOWN_PREPARE = 0x0005;
export const CPU_DOWN_FAILED = 0x0006;
export const CPU_DEAD = 0x0007;
export const CPU_DYING = 0x0008;
export const CPU_POST_DEAD = 0x0009;
export const CPU_STARTING = 0x000a;
/** OR-ed into an event during suspend/resume; the port never sets it, but notifiers may mask it. */
export const CPU_TASKS_FROZEN = 0x0010;

const ACTION_NAMES: Record<number, string> = {
  [CPU_ONLINE]: "CPU_ONLINE",
  [CPU_UP_PREPARE]: "CPU_UP_PREPARE",
  [CPU_UP_CANCELED]: "CPU_UP_CANCELED",
  [CPU_DOWN_PREPARE]: "CPU_DOWN_PREPARE",
  [CPU_DOWN_FAILED]: "CPU_DOWN_FAILED",
  [CPU_DEAD]: "CPU_DEAD",
  [CPU_DYING]: "CPU_DYING",
  [CPU_POST_DEAD]: "CPU_POST_DEAD",
  [CPU_STARTING]: "CPU_STARTING",
};

/** The event's name, e.g. "CPU_UP_PREPARE" ("_FROZEN" appended when that bit is set). */
export function cpuActionName(action: number): string {
  const base = ACTION_NAMES[action & ~CPU_TASKS_FROZEN] ?? `0x${action.toString(16)}`;
  return action & CPU_TASKS_FROZEN ? `${base}_FROZEN` : base;
}

/** Notifier priorities the kernel's own CPU notifiers use (include/linux/cpu.h, v4.4). */
export const CPU_PRI_SCHED_ACTIVE = 0x7fffffff;
export const CPU_PRI_PERF = 20;
export const CPU_PRI_MIGRATION = 10;
export const CPU_PRI_SMPBOOT = 9;
export const CPU_PRI_WORKQUEUE_UP = 5;
export const CPU_PRI_WORKQUEUE_DOWN = -5;
export const CPU_PRI_SCHED_INACTIVE = -0x7fffffff;

/** Notifier return values (include/linux/notifier.h). */
export const NOTIFY_DONE = 0x0000;
export const NOTIFY_OK = 0x0001;
export const NOTIFY_STOP_MASK = 0x8000;
export const NOTIFY_BAD = NOTIFY_STOP_MASK | 0x0002;
export const NOTIFY_STOP = NOTIFY_OK | NOTIFY_STOP_MASK;

/**
 * Mirrors `notifier_from_errno()` (include/linux/notifier.h): the value a
 * notifier returns to veto an event with an errno.
 *
 * @example
 * cpus.registerCpuNotifier({ notifierCall: (a) => a === CPU_UP_PREPARE ? notifierFromErrno("EBUSY") : NOTIFY_OK });
 */
export function notifierFromErrno(code: ErrnoCode): number {
  return NOTIFY_STOP_MASK | (NOTIFY_OK + ERRNO[code]);
}

/** Mirrors `notifier_to_errno()`: 0 or a negative errno. */
export function notifierToErrno(ret: number): number {
  const r = ret & ~NOTIFY_STOP_MASK;
  return r > NOTIFY_OK ? NOTIFY_OK - r : 0;
}

/** What a CPU notifier returns: a NOTIFY_* value, nothing (NOTIFY_DONE), or a Sleepable of either. */
export type NotifierResult = number | void | Sleepable<number | void>;

/**
 * Mirrors `struct notifier_block` (include/linux/notifier.h). Higher
 * `priority` runs first; equal priorities run in registration order.
 * `notifierCall` may return a {@link Sleepable} for the events that run in
 * process context (all but CPU_STARTING and CPU_DYING).
 */
export interface NotifierBlock {
  notifierCall(action: number, cpu: number): NotifierResult;
  priority?: number;
  /** For traces and errors. */
  name?: string;
}

function isGenerator(x: unknown): x is Sleepable<number | void> {
  return typeof x === "object" && x !== null && typeof (x as { next?: unknown }).next === "function";
}

/** Result of one walk of the chain. */
export interface ChainResult {
  /** The last notifier's NOTIFY_* value. */
  ret: number;
  /** How many notifiers were called (the kernel's `nr_calls`). */
  nrCalls: number;
}

/** A raw notifier chain sorted by priority (kernel/notifier.c). */
export class NotifierChain {
  #blocks: NotifierBlock[] = [];

  /** Mirrors `notifier_chain_register()`. @throws {TypeError} on a block without notifierCall */
  register(nb: NotifierBlock): void {
    if (typeof nb?.notifierCall !== "function") throw new TypeError("register_cpu_notifier: nb.notifierCall must be a function");
    const pri = nb.priority ?? 0;
    if (!Number.isInteger(pri)) throw new TypeError(`register_cpu_notifier: priority must be an integer, got ${pri}`);
    let i = 0;
    while (i < this.#blocks.length && (this.#blocks[i].priority ?? 0) >= pri) i++;
    this.#blocks = [...this.#blocks.slice(0, i), nb, ...this.#blocks.slice(i)];
  }

  /** Mirrors `notifier_chain_unregister()`. @returns false when nb was not registered */
  unregister(nb: NotifierBlock): boolean {
    const i = this.#blocks.indexOf(nb);
    if (i < 0) return false;
    this.#blocks = this.#blocks.filter((b) => b !== nb);
    return true;
  }

  get length(): number {
    return this.#blocks.length;
  }

  /**
   * Mirrors `__raw_notifier_call_chain()`: calls up to `nrToCall` blocks
   * (-1: all) in order, stopping at a return with NOTIFY_STOP_MASK. Blocks
   * registered during the walk take part from the next walk on.
   */
  *call(action: number, cpu: number, nrToCall = -1): Sleepable<ChainResult> {
    let ret = NOTIFY_DONE;
    let nrCalls = 0;
    for (const nb of this.#blocks) {
      if (nrToCall === 0) break;
      const r = nb.notifierCall(action, cpu);
      const v = isGenerator(r) ? yield* r : r;
      ret = typeof v === "number" ? v : NOTIFY_DONE;
      nrCalls++;
      if ((ret & NOTIFY_STOP_MASK) === NOTIFY_STOP_MASK) break;
      nrToCall--;
    }
    return { ret, nrCalls };
  }

  /**
   * The same walk for the atomic events (CPU_STARTING, CPU_DYING), which run
   * with interrupts off on the CPU concerned.
   *
   * @throws {TypeError} when a notifier tries to sleep (yields): it may not here
   */
  callAtomic(action: number, cpu: number): ChainResult {
    let ret = NOTIFY_DONE;
    let nrCalls = 0;
    for (const nb of this.#blocks) {
      let r = nb.notifierCall(action, cpu);
      if (isGenerator(r)) {
        // A generator-function notifier: fine as long as it does not sleep here.
        const step = r.next();
        if (!step.done) throw new TypeError(`${nb.name ?? "notifier"}: ${cpuActionName(action)} runs atomically; the notifier may not sleep`);
        r = step.value;
      }
      ret = typeof r === "number" ? r : NOTIFY_DONE;
      nrCalls++;
      if ((ret & NOTIFY_STOP_MASK) === NOTIFY_STOP_MASK) break;
    }
    return { ret, nrCalls };
  }
}
