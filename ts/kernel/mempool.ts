// SPDX-License-Identifier: GPL-2.0-only
/**
 * Memory pools (mm/mempool.c, v4.4) over the WASM slab and page allocators:
 * `min_nr` elements kept in reserve and used only when the allocator fails.
 *
 * The non-blocking half runs in WASM (asm/mempool.ts). The sleeping half,
 * "wait on pool->wait for up to 5 s, then try again", needs a task, so it is
 * the generator {@link Mempool.allocWait}, run by a ts/kernel/sched.ts task;
 * {@link Mempool.free} wakes it exactly when the kernel does (when the
 * element refilled the reserve). Callers without a scheduler use
 * {@link Mempool.alloc}, which returns 0 where the kernel would sleep, and
 * {@link Mempool.onWake} to hear about refills.
 *
 * @module
 */

import { KernelError } from "../errors.ts";
import type { Sleepable } from "./_task.ts";
import { WaitQueue } from "./_waitqueue.ts";
import type { Scheduler } from "./sched.ts";
import type { KmemCache, Slab } from "./slab.ts";

/** gfp bits (include/linux/gfp.h, v4.4). */
export const __GFP_HIGH = 0x20;
export const __GFP_IO = 0x40;
export const __GFP_FS = 0x80;
export const __GFP_NOWARN = 0x200;
export const __GFP_NORETRY = 0x1000;
export const __GFP_MEMALLOC = 0x2000;
export const __GFP_ZERO = 0x8000;
export const __GFP_NOMEMALLOC = 0x10000;
export const __GFP_ATOMIC = 0x80000;
export const __GFP_DIRECT_RECLAIM = 0x400000;
export const __GFP_KSWAPD_RECLAIM = 0x2000000;
export const __GFP_RECLAIM = __GFP_DIRECT_RECLAIM | __GFP_KSWAPD_RECLAIM;
/** Mirrors `GFP_ATOMIC`: may not sleep, may use emergency reserves. */
export const GFP_ATOMIC = __GFP_HIGH | __GFP_ATOMIC | __GFP_KSWAPD_RECLAIM;
/** Mirrors `GFP_NOWAIT`: may not sleep. */
export const GFP_NOWAIT = __GFP_KSWAPD_RECLAIM;
/** Mirrors `GFP_NOIO`: may sleep, no I/O (the block layer's usual mask). */
export const GFP_NOIO = __GFP_RECLAIM;
/** Mirrors `GFP_NOFS`. */
export const GFP_NOFS = __GFP_RECLAIM | __GFP_IO;
/** Mirrors `GFP_KERNEL`. */
export const GFP_KERNEL = __GFP_RECLAIM | __GFP_IO | __GFP_FS;

/** Mirrors `gfpflags_allow_blocking()` (include/linux/gfp.h, v4.4). */
export function gfpflagsAllowBlocking(gfp: number): boolean {
  return (gfp & __GFP_DIRECT_RECLAIM) !== 0;
}

const MEMPOOL_SLAB = 1;
const MEMPOOL_KMALLOC = 2;
const MEMPOOL_PAGE = 3;
const MAX_MIN_NR = 2048;
/** mempool_alloc() sleeps at most 5 s before retrying (`io_schedule_timeout(5*HZ)`). */
const WAIT_SECS = 5;

function checkInt(v: unknown, op: string, what: string, min: number, max: number): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    throw new RangeError(`${op}: ${what} must be an integer in [${min}, ${max}], got ${String(v)}`);
  }
  return v;
}

/**
 * Mirrors `mempool_t` (include/linux/mempool.h) with the kernel's built-in
 * element allocators. The pool record lives in WASM (kmalloc'd, tracked).
 *
 * @example
 * const pool = Mempool.createSlabPool(slab, 2, bioCache, "bioset_create");
 * const bio = pool.alloc(GFP_NOIO); // from the slab; from the reserve only if that fails
 * pool.free(bio);
 * pool.destroy();
 */
export class Mempool {
  readonly slab: Slab;
  /** Address of the pool record in linear memory. */
  readonly ptr: number;
  /** Wake-up listeners (`pool->wait` without a scheduler). */
  readonly #listeners = new Set<() => void>();
  #wq: WaitQueue | null = null;
  #sched: Scheduler | null = null;
  /** Bumped by every wake-up, so a sleeper knows it was woken rather than timed out. */
  #wakeups = 0;
  #destroyed = false;

  private constructor(slab: Slab, ptr: number) {
    this.slab = slab;
    this.ptr = ptr;
  }

  /**
   * Mirrors `mempool_create_slab_pool()`: elements from `cache`.
   * @throws {RangeError} on a bad min_nr; {@link KernelError} ENOMEM when the reserve cannot be filled
   */
  static createSlabPool(slab: Slab, minNr: number, cache: KmemCache, site: string | number = "mempool_alloc_slab"): Mempool {
    cache.checkLive("mempool_create_slab_pool");
    return Mempool.#create(slab, MEMPOOL_SLAB, cache.id, minNr, site);
  }

  /** Mirrors `mempool_create_kmalloc_pool()`: elements of `size` bytes from kmalloc. */
  static createKmallocPool(slab: Slab, minNr: number, size: number, site: string | number = "mempool_kmalloc"): Mempool {
    checkInt(size, "mempool_create_kmalloc_pool", "size", 1, 8192);
    return Mempool.#create(slab, MEMPOOL_KMALLOC, size, minNr, site);
  }

  /** Mirrors `mempool_create_page_pool()`: elements of 2^order pages. */
  static createPagePool(slab: Slab, minNr: number, order: number, site: string | number = "mempool_alloc_pages"): Mempool {
    checkInt(order, "mempool_create_page_pool", "order", 0, 10);
    return Mempool.#create(slab, MEMPOOL_PAGE, order, minNr, site);
  }

  static #create(slab: Slab, kind: number, data: number, minNr: number, site: string | number): Mempool {
    checkInt(minNr, "mempool_create", "min_nr", 0, MAX_MIN_NR);
    const p = slab.core.mempool_create(kind, data, minNr, slab.site(site));
    if (p === 0) {
      slab.kasan.raise();
      const e = slab.core.mm_errno();
      throw new KernelError(e === -22 ? "EINVAL" : "ENOMEM", "mempool_create");
    }
    return new Mempool(slab, p);
  }

  /** `pool->min_nr`. */
  get minNr(): number {
    this.#checkLive("mempool_min_nr");
    return this.slab.core.mempool_min_nr(this.ptr);
  }

  /** `pool->curr_nr`: elements in the reserve now. */
  get currNr(): number {
    this.#checkLive("mempool_curr_nr");
    return this.slab.core.mempool_curr_nr(this.ptr);
  }

  /** Allocations the reserve has served. */
  get nrReserveUsed(): number {
    this.#checkLive("mempool_nr_reserve_used");
    return this.slab.core.mempool_nr_reserve_used(this.ptr);
  }

  /**
   * Mirrors `mempool_alloc()` (mm/mempool.c) for a caller that does not
   * sleep here: the allocator first, the reserve only when it fails.
   *
   * @returns an element, or 0 when both failed; with a mask that allows
   *   blocking, 0 means "the kernel would sleep now": wait for a wake-up
   *   ({@link Mempool.onWake}) and call {@link Mempool.allocAgain}, or use
   *   {@link Mempool.allocWait} from a task
   */
  alloc(gfp: number = GFP_NOIO): number {
    checkInt(gfp, "mempool_alloc", "gfp", 0, 0x7fffffff);
    this.#checkLive("mempool_alloc");
    return this.slab.core.mempool_alloc(this.ptr, gfp);
  }

  /** The retry after a sleep: mempool_alloc()'s loop resumes with the full mask. Returns as {@link Mempool.alloc}. */
  allocAgain(gfp: number = GFP_NOIO): number {
    checkInt(gfp, "mempool_alloc", "gfp", 0, 0x7fffffff);
    this.#checkLive("mempool_alloc");
    return this.slab.core.mempool_alloc_again(this.ptr, gfp);
  }

  /**
   * Mirrors all of `mempool_alloc()`, sleeping included, for a task of
   * `sched`: when the allocator and the reserve both fail and `gfp` allows
   * blocking, sleeps uninterruptibly on `pool->wait` until {@link Mempool.free}
   * refills the reserve or 5 s (`5*HZ`) pass, then tries again. Without
   * __GFP_DIRECT_RECLAIM it returns 0 like the kernel.
   *
   * @example
   * sched.spawn("dio", function* () { const bio = yield* pool.allocWait(GFP_NOIO, sched); });
   */
  *allocWait(gfp: number, sched: Scheduler): Sleepable<number> {
    this.#waitQueue(sched);
    const e = this.alloc(gfp);
    return e !== 0 || !gfpflagsAllowBlocking(gfp) ? e : yield* this.allocSlow(gfp, sched);
  }

  /**
   * The rest of {@link Mempool.allocWait} after its first attempt
   * ({@link Mempool.alloc}) failed: for a mask that may block, sleep until a
   * refill or the timeout, then {@link Mempool.allocAgain}, until an element
   * is had. A caller that tried {@link Mempool.alloc} without sleeping goes
   * on here, so the pool sees the same attempts as one allocWait().
   *
   * @returns the element, or 0 for a mask that cannot block
   */
  *allocSlow(gfp: number, sched: Scheduler): Sleepable<number> {
    const wq = this.#waitQueue(sched);
    let e = 0;
    while (e === 0 && gfpflagsAllowBlocking(gfp)) {
      const seen = this.#wakeups;
      yield* wq.waitEventTimeout(() => this.#wakeups !== seen, WAIT_SECS * sched.clock.HZ, "mempool_alloc");
      e = this.allocAgain(gfp);
    }
    return e;
  }

  /**
   * Mirrors `mempool_free()`: refills the reserve while it is below min_nr
   * (and then wakes `pool->wait`), else frees to the allocator. 0 is ignored.
   *
   * @throws {KasanBug} for an element the allocator rejects or the reserve already holds (logged; nothing changes)
   */
  free(element: number): void {
    if (typeof element !== "number" || !Number.isInteger(element) || element < 0) {
      throw new TypeError(`mempool_free: element must be a linear-memory address, got ${String(element)}`);
    }
    const k = this.slab.kasan;
    k.drain();
    this.#checkLive("mempool_free");
    const rc = this.slab.core.mempool_free(element, this.ptr);
    k.raise();
    if (rc === 1) this.#wakeUp();
  }

  /**
   * Registers a one-shot wake-up listener, the scheduler-free form of
   * `prepare_to_wait(&pool->wait)`: it runs at the next refill of the reserve.
   *
   * @returns the `finish_wait()`: removes the listener if it has not run
   */
  onWake(fn: () => void): () => void {
    if (typeof fn !== "function") throw new TypeError("mempool: onWake needs a function");
    this.#listeners.add(fn);
    return () => void this.#listeners.delete(fn);
  }

  /** Tasks sleeping in {@link Mempool.allocWait} plus listeners from {@link Mempool.onWake}. */
  get nrWaiters(): number {
    return this.#listeners.size + (this.#wq?.length ?? 0);
  }

  /**
   * Mirrors `mempool_destroy()`: frees the reserve and the pool. Elements
   * still out with callers stay theirs to free.
   * @throws {TypeError} when already destroyed or while tasks wait on it
   */
  destroy(): void {
    if (this.#destroyed) throw new TypeError("mempool_destroy: pool already destroyed");
    if ((this.#wq?.length ?? 0) > 0) throw new TypeError("mempool_destroy: tasks are waiting on the pool");
    this.slab.core.mempool_destroy(this.ptr);
    this.#destroyed = true;
    this.slab.kasan.raise();
  }

  /** @internal `wake_up(&pool->wait)` after an element the core freed itself refilled the reserve. */
  _wakeUp(): void {
    this.#wakeUp();
  }

  /** Mirrors `wake_up(&pool->wait)`. */
  #wakeUp(): void {
    this.#wakeups++;
    this.#wq?.wakeUp();
    const fns = [...this.#listeners];
    this.#listeners.clear();
    for (const fn of fns) fn();
  }

  #waitQueue(sched: Scheduler): WaitQueue {
    if (this.#sched !== null && this.#sched !== sched) throw new TypeError("mempool: allocWait from a second scheduler");
    this.#sched = sched;
    this.#wq ??= new WaitQueue(sched, "&pool->wait");
    return this.#wq;
  }

  /** @throws {TypeError} once the pool was destroyed (its memory is gone). */
  #checkLive(op: string): void {
    if (this.#destroyed) throw new TypeError(`${op}: pool was destroyed`);
  }

}
