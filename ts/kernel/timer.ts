// SPDX-License-Identifier: GPL-2.0-only
/**
 * Kernel timers: `struct timer_list` and one timer base for all CPUs, kept in
 * a binary heap ordered by (expiry, sequence), so `add`/`mod`/`del` are
 * O(log n) and timers due at the same instant fire in the order they were
 * (re)armed.
 *
 * Jiffy timers fire on tick boundaries: `expires = j` fires at the start of
 * jiffy `j`, or at the next tick when `j` has already begun (the kernel runs
 * an expired timer at the next timer interrupt). Nanosecond timers
 * ({@link TimerBase.hrtimerStart}) fire exactly when asked; sleeps and RCU use them.
 *
 * A callback runs in softirq context "on" the timer's CPU (the CPU that armed
 * it, or the one given to `add_timer_on()`); timers of a CPU that goes
 * offline move to the CPU doing the hotplug, as `migrate_timers()` does.
 *
 * On a real clock the base arms a host `setTimeout` for its earliest timer
 * and fires due timers from it.
 *
 * @module
 */

import { KernelBug } from "../errors.ts";
import { CPU_DEAD, CPU_TASKS_FROZEN } from "./_notifier.ts";
import type { Clock } from "./clock.ts";
import type { Cpus } from "./cpu.ts";
import type { Klog } from "./klog.ts";

/** The callback of a {@link Timer}. */
export type TimerFn = (timer: Timer) => void;

/**
 * Mirrors `struct timer_list` (include/linux/timer.h), set up as by
 * `setup_timer()`.
 *
 * @example
 * const t = new Timer(() => console.log("fired"), "blk_mq_rq_timer");
 * timers.modTimer(t, clock.jiffies() + clock.msecsToJiffies(30_000));
 */
export class Timer {
  /** The callback (`function`). */
  fn: TimerFn;
  /** For traces. */
  readonly name: string;
  /** Expiry in jiffies (`expires`); meaningless for hrtimer-style arming. */
  expires = 0;
  /** The CPU whose base holds the timer and runs the callback. */
  cpu = 0;
  /** @internal expiry in ns, the heap key */
  ns = 0;
  /** @internal arming sequence, the tie-breaker */
  seq = 0;
  /** @internal index in the heap; -1 when not pending */
  idx = -1;
  /**
   * Called by the base after each change it makes to {@link Timer.pending}
   * or `expires`: arm, re-arm, delete, and fire (before the callback runs,
   * the timer already detached). A copy of the timer's state kept elsewhere
   * (a queue record's `timeout_pending` / `timeout_expires`) keeps up
   * through it.
   */
  onChange: TimerFn | null = null;

  constructor(fn: TimerFn, name = "timer") {
    if (typeof fn !== "function") throw new TypeError("setup_timer: fn must be a function");
    this.fn = fn;
    this.name = name;
  }

  /** Mirrors `timer_pending()`. */
  get pending(): boolean {
    return this.idx >= 0;
  }
}

/** Construction options. */
export interface TimerBaseOptions {
  clock: Clock;
  /** For the current CPU, interrupt context and hotplug migration; without it every timer is on CPU 0. */
  cpus?: Cpus;
  /** Where `BUG_ON()`s go; without it they only throw. */
  log?: Klog;
}

/**
 * All CPUs' timer bases (kernel/time/timer.c `tvec_base`) as one heap.
 *
 * @example
 * const timers = new TimerBase({ clock });
 * timers.addTimer(Object.assign(new Timer(() => {}), { expires: 5 }));
 * clock.advanceTo(timers.nextExpiry());
 * timers.runDue(); // 1
 */
export class TimerBase {
  readonly clock: Clock;
  readonly #cpus: Cpus | null;
  readonly #log: Klog | null;
  #heap: Timer[] = [];
  #seq = 0;
  #fired = 0;
  #host: ReturnType<typeof setTimeout> | null = null;
  #hostAt = Infinity;
  #listeners: (() => void)[] = [];

  constructor(opts: TimerBaseOptions) {
    if (!opts?.clock) throw new TypeError("TimerBase: opts.clock is required");
    this.clock = opts.clock;
    this.#cpus = opts.cpus ?? null;
    this.#log = opts.log ?? null;
    if (this.#cpus) {
      const cpus = this.#cpus;
      cpus.hotcpuNotifier((action, cpu) => {
        if ((action & ~CPU_TASKS_FROZEN) === CPU_DEAD) this.#migrate(cpu, cpus.current);
      }, 0, "timer_cpu_notify");
    }
  }

  /** How many timers are pending. */
  get size(): number {
    return this.#heap.length;
  }

  /** How many callbacks have run. */
  get fired(): number {
    return this.#fired;
  }

  /** The earliest pending expiry in ns, or Infinity. */
  nextExpiry(): number {
    return this.#heap.length > 0 ? this.#heap[0].ns : Infinity;
  }

  /** Mirrors `add_timer()`: arms at `timer.expires` on the current CPU. @throws {KernelBug} when already pending */
  addTimer(timer: Timer): void {
    if (timer.pending) this.#bug("add_timer", "timer already pending");
    this.modTimer(timer, timer.expires);
  }

  /** Mirrors `add_timer_on()`: arms at `timer.expires` on `cpu`. @throws {KernelBug} when already pending */
  addTimerOn(timer: Timer, cpu: number): void {
    if (timer.pending) this.#bug("add_timer_on", "timer already pending");
    this.#cpus?.checkCpu(cpu, "add_timer_on");
    this.#arm(timer, this.#jiffyNs(timer.expires), cpu);
  }

  /**
   * Mirrors `mod_timer()`: (re)arms at jiffy `expires` on the current CPU.
   * A pending timer already at `expires` is left alone, keeping its place.
   *
   * @returns whether the timer was pending before
   * @throws {RangeError} when expires is not a safe integer
   */
  modTimer(timer: Timer, expires: number): boolean {
    if (!Number.isSafeInteger(expires)) throw new RangeError(`mod_timer: expires must be a safe integer (jiffies), got ${expires}`);
    const was = timer.pending;
    if (was && timer.expires === expires) return true;
    timer.expires = expires;
    this.#arm(timer, this.#jiffyNs(expires), this.#cpus ? this.#cpus.current : 0);
    return was;
  }

  /** Mirrors `mod_timer_pending()`: modifies only a pending timer. @returns whether it was pending */
  modTimerPending(timer: Timer, expires: number): boolean {
    return timer.pending ? this.modTimer(timer, expires) : false;
  }

  /**
   * Mirrors `hrtimer_start()` with an absolute time: fires at exactly `ns`
   * (or now, if that has passed). Re-arms a pending timer.
   *
   * @param cpu default: the current CPU
   * @throws {RangeError} when ns is not a safe integer
   */
  hrtimerStart(timer: Timer, ns: number, cpu?: number): void {
    if (!Number.isSafeInteger(ns)) throw new RangeError(`hrtimer_start: ns must be a safe integer, got ${ns}`);
    if (cpu !== undefined) this.#cpus?.checkCpu(cpu, "hrtimer_start");
    this.#arm(timer, Math.max(ns, this.clock.now()), cpu ?? (this.#cpus ? this.#cpus.current : 0));
  }

  /** Mirrors `del_timer()`. @returns whether the timer was pending */
  delTimer(timer: Timer): boolean {
    const i = timer.idx;
    if (i < 0) return false;
    if (this.#heap[i] !== timer) throw new TypeError("del_timer: timer belongs to another TimerBase");
    const last = this.#heap.pop()!;
    timer.idx = -1;
    if (last !== timer) {
      this.#heap[i] = last;
      last.idx = i;
      this.#siftDown(i);
      this.#siftUp(last.idx);
    }
    if (i === 0) this.#rearmHost();
    timer.onChange?.(timer);
    return true;
  }

  /**
   * Mirrors `del_timer_sync()`. Callbacks run to completion atomically here,
   * so no callback can be running on another CPU: this is `del_timer()`.
   */
  delTimerSync(timer: Timer): boolean {
    return this.delTimer(timer);
  }

  /**
   * Fires, in (expiry, sequence) order, every timer due at `now` (default the
   * clock's now), including timers armed by callbacks that are already due.
   *
   * @returns how many fired
   */
  runDue(now = this.clock.now()): number {
    let n = 0;
    while (this.#heap.length > 0 && this.#heap[0].ns <= now) {
      this.#fire(this.#popMin());
      n++;
    }
    if (n > 0) this.#rearmHost();
    return n;
  }

  /** Fires the single earliest due timer. @returns false when none is due */
  runOne(now = this.clock.now()): boolean {
    if (this.#heap.length === 0 || this.#heap[0].ns > now) return false;
    this.#fire(this.#popMin());
    this.#rearmHost();
    return true;
  }

  /** Real clocks only: `fn` runs after host-fired timers, so an async scheduler can resume. @returns unsubscribe */
  onHostFire(fn: () => void): () => void {
    this.#listeners.push(fn);
    return () => {
      this.#listeners = this.#listeners.filter((f) => f !== fn);
    };
  }

  /** Real clocks only: cancels the host timeout (the base stops firing on its own until next armed). */
  stopHost(): void {
    if (this.#host !== null) clearTimeout(this.#host);
    this.#host = null;
    this.#hostAt = Infinity;
  }

  /** Mirrors `BUG_ON(timer_pending(timer))`. */
  #bug(fn: string, msg: string): never {
    const where = `kernel/time/timer.c:${fn}`;
    if (this.#log) this.#log.bug(where, `${fn}: ${msg}`);
    throw new KernelBug(`${fn}: ${msg}`, where);
  }

  #jiffyNs(expires: number): number {
    const c = this.clock;
    const at = c.jiffiesToNs(expires);
    const now = c.now();
    return at > now ? at : (Math.floor(now / c.tickNs) + 1) * c.tickNs;
  }

  #fire(t: Timer): void {
    this.#fired++;
    t.onChange?.(t);
    if (this.#cpus) this.#cpus.runIrq(t.cpu, "softirq", t.fn, t);
    else t.fn(t);
  }

  #arm(t: Timer, ns: number, cpu: number): void {
    if (t.idx >= 0 && this.#heap[t.idx] !== t) throw new TypeError("mod_timer: timer belongs to another TimerBase");
    t.ns = ns;
    t.seq = ++this.#seq;
    t.cpu = cpu;
    if (t.idx < 0) {
      t.idx = this.#heap.length;
      this.#heap.push(t);
      this.#siftUp(t.idx);
    } else {
      // A re-armed timer takes a new sequence number, so it goes after its ties.
      this.#siftUp(t.idx);
      this.#siftDown(t.idx);
    }
    if (t.idx === 0 || this.#heap[0].ns < this.#hostAt) this.#rearmHost();
    t.onChange?.(t);
  }

  #migrate(from: number, to: number): void {
    for (const t of this.#heap) if (t.cpu === from) t.cpu = to;
  }

  #popMin(): Timer {
    const h = this.#heap;
    const top = h[0];
    const last = h.pop()!;
    top.idx = -1;
    if (last !== top) {
      h[0] = last;
      last.idx = 0;
      this.#siftDown(0);
    }
    return top;
  }

  #less(a: Timer, b: Timer): boolean {
    return a.ns < b.ns || (a.ns === b.ns && a.seq < b.seq);
  }

  #siftUp(i: number): void {
    const h = this.#heap;
    const t = h[i];
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.#less(t, h[p])) break;
      h[i] = h[p];
      h[i].idx = i;
      i = p;
    }
    h[i] = t;
    t.idx = i;
  }

  #siftDown(i: number): void {
    const h = this.#heap;
    const n = h.length;
    const t = h[i];
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && this.#less(h[r], h[l]) ? r : l;
      if (!this.#less(h[c], t)) break;
      h[i] = h[c];
      h[i].idx = i;
      i = c;
    }
    h[i] = t;
    t.idx = i;
  }

  #rearmHost(): void {
    if (this.clock.kind !== "real") return;
    const next = this.nextExpiry();
    if (next === this.#hostAt) return;
    this.stopHost();
    if (next === Infinity) return;
    this.#hostAt = next;
    const delayMs = Math.max(0, Math.ceil((next - this.clock.now()) / 1e6));
    this.#host = setTimeout(() => {
      this.#host = null;
      this.#hostAt = Infinity;
      const fired = this.runDue();
      this.#rearmHost();
      if (fired > 0) for (const fn of this.#listeners) fn();
    }, delayMs);
  }
}
