// SPDX-License-Identifier: GPL-2.0-only
/**
 * Time: nanoseconds since boot and jiffies, from a virtual clock (tests, the
 * fuzzer: time moves only when the scheduler or a caller advances it) or from
 * the wall clock (a file-backed driver). Both implement {@link Clock}.
 *
 * Time is a plain JS number of nanoseconds. Numbers are exact up to 2^53 ns,
 * which is about 104 days of virtual time; advancing past that throws.
 *
 * Jiffies count from 0 at boot: the kernel's `INITIAL_JIFFIES` (-5 minutes,
 * to catch wrap bugs) is not modelled, and jiffies never wrap.
 *
 * @module
 */

/** Nanoseconds per second / millisecond / microsecond (include/linux/time64.h). */
export const NSEC_PER_SEC = 1_000_000_000;
export const NSEC_PER_MSEC = 1_000_000;
export const NSEC_PER_USEC = 1_000;
/** The default tick rate, `CONFIG_HZ_1000`. */
export const DEFAULT_HZ = 1000;

/** A source of kernel time; virtual and real clocks share it. */
export interface Clock {
  /** "virtual": moved by advance(); "real": follows performance.now(). */
  readonly kind: "virtual" | "real";
  /** Ticks per second. */
  readonly HZ: number;
  /** Nanoseconds per jiffy (`TICK_NSEC`, rounded down for HZ that do not divide 1e9). */
  readonly tickNs: number;
  /** Mirrors `ktime_get_ns()`: integer nanoseconds since boot. */
  now(): number;
  /** Mirrors `jiffies`: whole ticks since boot. */
  jiffies(): number;
  /** Nanoseconds at which jiffy `j` begins. */
  jiffiesToNs(j: number): number;
  /** Mirrors `msecs_to_jiffies()`: rounds up. */
  msecsToJiffies(ms: number): number;
  /** Mirrors `usecs_to_jiffies()`: rounds up. */
  usecsToJiffies(us: number): number;
  /** Mirrors `nsecs_to_jiffies()`: rounds down. */
  nsecsToJiffies(ns: number): number;
  /** Mirrors `jiffies_to_msecs()`. */
  jiffiesToMsecs(j: number): number;
  /** Mirrors `jiffies_to_usecs()`. */
  jiffiesToUsecs(j: number): number;
}

function checkHz(hz: number): number {
  if (!(Number.isInteger(hz) && hz >= 1 && hz <= NSEC_PER_SEC)) throw new RangeError(`Clock: HZ must be an integer in [1, 1e9], got ${hz}`);
  return hz;
}

/** The jiffy conversions both clocks share. */
abstract class JiffyClock implements Clock {
  abstract readonly kind: "virtual" | "real";
  readonly HZ: number;
  readonly tickNs: number;

  constructor(hz: number) {
    this.HZ = checkHz(hz);
    this.tickNs = Math.floor(NSEC_PER_SEC / hz);
  }

  abstract now(): number;

  jiffies(): number {
    return Math.floor(this.now() / this.tickNs);
  }
  jiffiesToNs(j: number): number {
    return j * this.tickNs;
  }
  msecsToJiffies(ms: number): number {
    return Math.ceil((ms * this.HZ) / 1000);
  }
  usecsToJiffies(us: number): number {
    return Math.ceil((us * this.HZ) / 1_000_000);
  }
  nsecsToJiffies(ns: number): number {
    return Math.floor(ns / this.tickNs);
  }
  jiffiesToMsecs(j: number): number {
    return Math.floor((j * 1000) / this.HZ);
  }
  jiffiesToUsecs(j: number): number {
    return Math.floor((j * 1_000_000) / this.HZ);
  }
}

/**
 * Virtual time: starts at 0 and moves only through {@link VirtualClock.advance}
 * / {@link VirtualClock.advanceTo} (the scheduler does this when every task
 * waits for a timer).
 *
 * @example
 * const clock = new VirtualClock({ HZ: 250 });
 * clock.advance(10_000_000); // 10 ms
 * clock.jiffies();           // 2
 */
export class VirtualClock extends JiffyClock {
  readonly kind = "virtual";
  #now = 0;

  /** @throws {RangeError} on a bad HZ or start time */
  constructor(opts: { HZ?: number; startNs?: number } = {}) {
    super(opts.HZ ?? DEFAULT_HZ);
    const start = opts.startNs ?? 0;
    if (!(Number.isSafeInteger(start) && start >= 0)) throw new RangeError(`VirtualClock: startNs must be a non-negative safe integer, got ${start}`);
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  /**
   * Moves time forward to `ns` (no-op when already there).
   *
   * @throws {RangeError} when ns is earlier than now, not an integer, or beyond 2^53
   */
  advanceTo(ns: number): void {
    if (!Number.isSafeInteger(ns)) throw new RangeError(`VirtualClock.advanceTo: ${ns} is not a safe integer (time is limited to 2^53 ns, about 104 days)`);
    if (ns < this.#now) throw new RangeError(`VirtualClock.advanceTo: ${ns} is before now (${this.#now}); time does not go back`);
    this.#now = ns;
  }

  /** Moves time forward by `ns`. @throws {RangeError} as advanceTo, or when ns is negative */
  advance(ns: number): void {
    if (!(ns >= 0)) throw new RangeError(`VirtualClock.advance: ns must be non-negative, got ${ns}`);
    this.advanceTo(this.#now + ns);
  }
}

/**
 * Wall-clock time from `performance.now()`, counted from the clock's creation
 * ("boot"), rounded to whole nanoseconds. Timers on a real clock fire from
 * host `setTimeout`s (see TimerBase).
 */
export class RealClock extends JiffyClock {
  readonly kind = "real";
  readonly #t0: number;

  constructor(opts: { HZ?: number } = {}) {
    super(opts.HZ ?? DEFAULT_HZ);
    this.#t0 = performance.now();
  }

  now(): number {
    return Math.round((performance.now() - this.#t0) * NSEC_PER_MSEC);
  }
}
