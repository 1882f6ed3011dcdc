// SPDX-License-Identifier: GPL-2.0-only
/**
 * The slab allocator from TypeScript: kmem_cache objects with names, kmalloc,
 * the page allocator, fault injection (failslab), kmemleak listing, and the
 * kernel-log side of bad frees and busy caches. The allocator itself runs in
 * WASM (asm/slab.ts, asm/page_alloc.ts); this layer keeps the names (caches
 * and allocation sites are small integers there) and turns -errno returns
 * into typed errors.
 *
 * Memory views: any call that may allocate may grow linear memory, which
 * detaches `core.memory.buffer`; take a fresh view after each such call.
 *
 * @module
 */

import { KernelError } from "../errors.ts";
import type { CoreExports } from "../wasm/core.ts";
import { Kasan, type KasanNames } from "./kasan.ts";
import { formatPointer, Klog } from "./klog.ts";
import type { LeakRecord, LeakSource } from "./kmemleak.ts";

/** Bytes per page. */
export const PAGE_SIZE = 4096;
/** Orders 0 .. MAX_ORDER - 1 exist. */
export const MAX_ORDER = 11;
/** The kmalloc size classes, in cache-id order (ids 1 .. 11). */
export const KMALLOC_SIZES: readonly number[] = [32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192];
/** The largest kmalloc() size; bigger buffers come from {@link Slab.allocPages}. */
export const KMALLOC_MAX_SIZE = 8192;
/** Mirrors `ZERO_SIZE_PTR`: what kmalloc(0) returns. */
export const ZERO_SIZE_PTR = 16;
/** Mirrors `SLAB_HWCACHE_ALIGN` (include/linux/slab.h, v4.4). */
export const SLAB_HWCACHE_ALIGN = 0x2000;
/** Fault-injection target: every slab cache (`failslab`). */
export const FAILSLAB = "failslab";
/** Fault-injection target: the page allocator (`fail_page_alloc`). */
export const FAIL_PAGE_ALLOC = "fail_page_alloc";

/** Site ids the WASM mm code uses itself (asm/slab.ts SITE_*). */
const MM_SITES: readonly [number, string][] = [
  [1, "kfree"],
  [2, "kmem_cache_free"],
  [3, "free_pages"],
  [4, "mempool_create"],
  [5, "mempool_free"],
  [6, "bench"],
];
/** Site ids below this are for constants in asm code; TS interns names from here up. */
const FIRST_INTERNED_SITE = 4096;
const MAX_SITE = 0xffff;
const HEAD_BYTES = 32;
const ERRNO_NAMES: Record<number, "ENOMEM" | "EINVAL" | "EBUSY" | "EAGAIN"> = {
  [-12]: "ENOMEM",
  [-22]: "EINVAL",
  [-16]: "EBUSY",
  [-11]: "EAGAIN",
};

/**
 * The name tables of one core: cache ids → names, allocation-site ids ↔
 * names. Ids 1..15 are the mm's own sites, 16..4095 are for constants in
 * asm code ({@link SlabNames.defineSite}), names interned from TS get 4096 up.
 */
export class SlabNames implements KasanNames {
  readonly #caches = new Map<number, string>();
  readonly #sites = new Map<number, string>();
  readonly #siteIds = new Map<string, number>();
  #nextSite = FIRST_INTERNED_SITE;

  constructor() {
    KMALLOC_SIZES.forEach((s, i) => this.#caches.set(i + 1, `kmalloc-${s}`));
    for (const [id, name] of MM_SITES) this.defineSite(id, name);
  }

  /** The name of a cache id ("cache#<id>" when unknown). */
  cacheName(id: number): string {
    return this.#caches.get(id) ?? `cache#${id}`;
  }

  /** Names cache `id` (done by {@link Slab.createCache}). */
  setCacheName(id: number, name: string): void {
    this.#caches.set(id, name);
  }

  /** Forgets a destroyed cache's name. */
  dropCache(id: number): void {
    this.#caches.delete(id);
  }

  /** The name of a site id ("unknown" for 0, "site#<id>" when never named). */
  siteName(id: number): string {
    if (id === 0) return "unknown";
    return this.#sites.get(id) ?? `site#${id}`;
  }

  /**
   * The id of a site name, interned on first use.
   * @throws {RangeError} when the 16-bit id space is exhausted
   * @throws {TypeError} for an empty name
   */
  siteId(name: string): number {
    let id = this.#siteIds.get(name);
    if (id !== undefined) return id;
    if (typeof name !== "string" || name === "") throw new TypeError("site: name must be a non-empty string");
    if (this.#nextSite > MAX_SITE) throw new RangeError("site: all 16-bit site ids are taken");
    id = this.#nextSite++;
    this.#sites.set(id, name);
    this.#siteIds.set(name, id);
    return id;
  }

  /**
   * Names a site id that asm code passes as a constant.
   * @throws {RangeError} for an id outside 1 .. 4095
   */
  defineSite(id: number, name: string): void {
    if (!Number.isInteger(id) || id < 1 || id >= FIRST_INTERNED_SITE) {
      throw new RangeError(`defineSite: id must be an integer in [1, ${FIRST_INTERNED_SITE - 1}], got ${id}`);
    }
    this.#sites.set(id, name);
    this.#siteIds.set(name, id);
  }
}

/**
 * Mirrors kmemleak's object list for the WASM slab: every live slab object as
 * a {@link LeakRecord} (cache and site by name, the first 32 bytes as `head`),
 * for `Kmemleak.addSource()`, so one scan covers TS and WASM objects.
 *
 * @example
 * kmemleak.addSource(slabLeakSource(core, names));
 */
export function slabLeakSource(core: CoreExports, names: SlabNames, name = "slab"): LeakSource {
  return { name, live: () => liveSlabObjects(core, names) };
}

/** Lists live slab objects, optionally of one cache. */
function liveSlabObjects(core: CoreExports, names: SlabNames, cache = 0): LeakRecord[] {
  const out: LeakRecord[] = [];
  let p = cache === 0 ? core.kmemleak_first() : core.slab_cache_first_object(cache);
  while (p !== 0) {
    const id = core.slab_obj_cache(p);
    if (cache !== 0 && id !== cache) break;
    const size = core.slab_obj_size(p);
    const head = new Uint8Array(core.memory.buffer, p, Math.min(HEAD_BYTES, size)).slice();
    out.push({ addr: p, size, cache: names.cacheName(id), site: names.siteName(core.slab_obj_site(p)), head });
    p = core.kmemleak_next(p);
  }
  return out;
}

/** Construction options of {@link Slab}. */
export interface SlabOptions {
  /** Where BUG reports go; default a fresh Klog. */
  log?: Klog;
  /** Name tables; default a fresh one. */
  names?: SlabNames;
}

/** A fault-injection target: a cache, every cache, or the page allocator. */
export type FaultTarget = KmemCache | typeof FAILSLAB | typeof FAIL_PAGE_ALLOC;

/** The probability/interval mode of a fault_attr (lib/fault-inject.c). */
export interface FaultAttr {
  /** Percent of eligible calls that fail, 0..100 (0 turns the mode off). */
  probability: number;
  /** Only every interval-th call is eligible; default 1. */
  interval?: number;
  /** Most failures, -1 (default) for no limit. */
  times?: number;
  /** Seed of the deterministic PRNG; default 1. */
  seed?: number;
}

function checkInt(v: unknown, op: string, what: string, min: number, max: number): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    throw new RangeError(`${op}: ${what} must be an integer in [${min}, ${max}], got ${String(v)}`);
  }
  return v;
}

function checkPtr(v: unknown, op: string): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 0xffffffff) {
    throw new TypeError(`${op}: pointer must be a linear-memory address, got ${String(v)}`);
  }
  return v;
}

/**
 * The memory allocators of one core instance.
 *
 * @example
 * const slab = new Slab(instantiateCore("debug"), { log });
 * const bios = slab.createCache("bio", 96);
 * const bio = bios.alloc("bio_alloc");
 * bios.free(bio);
 * bios.destroy();
 */
export class Slab {
  readonly core: CoreExports;
  readonly names: SlabNames;
  readonly log: Klog;
  readonly kasan: Kasan;
  readonly #caches = new Map<number, KmemCache>();

  constructor(core: CoreExports, opts: SlabOptions = {}) {
    this.core = core;
    this.names = opts.names ?? new SlabNames();
    this.log = opts.log ?? new Klog();
    this.kasan = new Kasan(core, this.names, this.log);
  }

  /** The kmemleak source of this core's slab objects (see {@link slabLeakSource}). */
  leakSource(name = "slab"): LeakSource {
    return slabLeakSource(this.core, this.names, name);
  }

  /** Every live slab object, kmalloc included. */
  liveObjects(): LeakRecord[] {
    return liveSlabObjects(this.core, this.names);
  }

  /** Whether allocations record site and size (always true in debug builds). */
  get tracking(): boolean {
    return this.core.kmemleak_enabled() === 1;
  }

  /**
   * Switches kmemleak tracking for later allocations (release builds only;
   * debug builds always track). @returns the state now in effect
   */
  setTracking(on: boolean): boolean {
    return this.core.kmemleak_set_enabled(on ? 1 : 0) === 1;
  }

  /**
   * Mirrors `kmem_cache_create()` (mm/slab_common.c).
   *
   * @param size object size in bytes, 1 .. 2 MiB
   * @param opts.align 0 (default, 8) or a power of two ≤ PAGE_SIZE
   * @param opts.flags SLAB_HWCACHE_ALIGN is honoured
   * @throws {RangeError} on a bad size or alignment
   * @throws {KernelError} ENOMEM when every cache id is taken
   */
  createCache(name: string, size: number, opts: { align?: number; flags?: number } = {}): KmemCache {
    if (typeof name !== "string" || name === "") throw new TypeError("kmem_cache_create: name must be a non-empty string");
    checkInt(size, "kmem_cache_create", "size", 1, 1 << 21);
    const align = opts.align ?? 0;
    checkInt(align, "kmem_cache_create", "align", 0, PAGE_SIZE);
    if (align & (align - 1)) throw new RangeError(`kmem_cache_create: align must be a power of two, got ${align}`);
    const id = this.core.kmem_cache_create(size, align, opts.flags ?? 0);
    if (id === -12) throw new KernelError("ENOMEM", "kmem_cache_create", "all cache ids in use");
    if (id < 0) throw new RangeError(`kmem_cache_create: cannot hold ${size}-byte objects aligned to ${align}`);
    this.names.setCacheName(id, name);
    const c = new KmemCache(this, id, name, size);
    this.#caches.set(id, c);
    return c;
  }

  /** The live cache with this name, if any. */
  findCache(name: string): KmemCache | undefined {
    for (const c of this.#caches.values()) if (c.name === name) return c;
    return undefined;
  }

  /**
   * Mirrors `kmalloc()` (include/linux/slab.h).
   *
   * @param size 0 .. KMALLOC_MAX_SIZE (0 gives ZERO_SIZE_PTR)
   * @param site the allocation site, for kmemleak and KASAN reports
   * @returns the object's address
   * @throws {RangeError} on a bad size
   * @throws {KernelError} ENOMEM when memory (or an injected fault) says no
   */
  kmalloc(size: number, site: string | number = "kmalloc"): number {
    checkInt(size, "kmalloc", "size", 0, KMALLOC_MAX_SIZE);
    return this.#alloc(this.core.kmalloc(size, this.#site(site)), "kmalloc");
  }

  /** Mirrors `kzalloc()`: as {@link Slab.kmalloc}, zeroed. */
  kzalloc(size: number, site: string | number = "kzalloc"): number {
    checkInt(size, "kzalloc", "size", 0, KMALLOC_MAX_SIZE);
    return this.#alloc(this.core.kzalloc(size, this.#site(site)), "kzalloc");
  }

  /**
   * Mirrors `kfree()` (mm/slub.c). 0 and ZERO_SIZE_PTR are ignored.
   * @throws {KasanBug} for a foreign, interior or already freed pointer (logged; nothing freed)
   */
  kfree(ptr: number): void {
    checkPtr(ptr, "kfree");
    this.kasan.drain();
    this.core.kfree(ptr);
    this.kasan.raise();
  }

  /** Mirrors `ksize()`. @throws {TypeError} when ptr is not a slab object */
  ksize(ptr: number): number {
    const n = this.core.ksize(checkPtr(ptr, "ksize"));
    if (n < 0) throw new TypeError(`ksize: ${formatPointer(ptr)} is not a slab object`);
    return n;
  }

  /**
   * Mirrors `__get_free_pages()`: 2^order naturally aligned pages.
   * @throws {RangeError} on a bad order
   * @throws {KernelError} ENOMEM at the page limit, on an injected fault, or when memory cannot grow
   */
  allocPages(order: number): number {
    checkInt(order, "alloc_pages", "order", 0, MAX_ORDER - 1);
    const p = this.core.alloc_pages(order);
    if (p === 0) throw new KernelError("ENOMEM", "alloc_pages", `order ${order}`);
    return p;
  }

  /**
   * Mirrors `free_pages()`. 0 is ignored.
   * @throws {KasanBug} for a block that is free, foreign or of another order (logged; nothing freed)
   */
  freePages(addr: number, order: number): void {
    checkPtr(addr, "free_pages");
    checkInt(order, "free_pages", "order", 0, MAX_ORDER - 1);
    this.kasan.drain();
    this.core.free_pages(addr, order);
    this.kasan.raise();
  }

  /**
   * Caps the pages allocated at once (slabs included), so ENOMEM paths are testable.
   * @returns the previous limit
   */
  setPageLimit(nrPages: number): number {
    checkInt(nrPages, "page_alloc_set_limit", "nrPages", 0, 1 << 19);
    return this.core.page_alloc_set_limit(nrPages);
  }

  /**
   * Mirrors `kmem_cache_shrink()` for every cache, kmalloc included: empty
   * slabs (and, in debug builds, quarantined objects) go back to the page
   * allocator. Tests call it before checking {@link Slab.nrPagesUsed}.
   * @returns pages released
   */
  shrink(): number {
    return this.core.kmem_cache_shrink(0);
  }

  /** Pages allocated now (page blocks and slabs). */
  get nrPagesUsed(): number {
    return this.core.page_alloc_nr_used();
  }

  /**
   * Makes the nth allocation at `target` from now fail (1 = the next);
   * 0 disarms. Mirrors /proc/<pid>/fail-nth, per target.
   */
  failNth(target: FaultTarget, nth: number): void {
    checkInt(nth, "fail_nth", "nth", 0, 0x7fffffff);
    this.core.fault_fail_nth(this.#target(target), nth);
  }

  /** Calls still to go before fail_nth fires at `target` (0 = disarmed). */
  failNthPending(target: FaultTarget): number {
    return this.core.fault_fail_nth_pending(this.#target(target));
  }

  /**
   * Sets the probability/interval mode of `target` (debugfs `probability`,
   * `interval`, `times`), driven by a seeded PRNG so runs replay exactly.
   * `{ probability: 0 }` turns it off.
   */
  setFaultAttr(target: FaultTarget, attr: FaultAttr): void {
    const probability = checkInt(attr.probability, "fault_attr", "probability", 0, 100);
    const interval = checkInt(attr.interval ?? 1, "fault_attr", "interval", 1, 0x7fffffff);
    const times = checkInt(attr.times ?? -1, "fault_attr", "times", -1, 0x7fffffff);
    const seed = checkInt(attr.seed ?? 1, "fault_attr", "seed", 0, 0xffffffff);
    this.core.fault_attr_set(this.#target(target), probability, interval, times, seed | 0);
  }

  /** Failures injected at `target` so far. */
  faultsInjected(target: FaultTarget): number {
    return this.core.fault_injected(this.#target(target));
  }

  /** @internal the site id of a name or id. */
  site(site: string | number): number {
    return this.#site(site);
  }

  /** @internal forgets a destroyed cache. */
  forget(c: KmemCache): void {
    this.#caches.delete(c.id);
    this.names.dropCache(c.id);
  }

  /** @internal turns a failed allocation into an error. */
  allocResult(p: number, op: string): number {
    return this.#alloc(p, op);
  }

  /** @internal lists one cache's live objects. */
  liveObjectsOf(cache: number): LeakRecord[] {
    return liveSlabObjects(this.core, this.names, cache);
  }

  #alloc(p: number, op: string): number {
    if (p !== 0) return p;
    const e = this.core.mm_errno();
    throw new KernelError(ERRNO_NAMES[e] ?? "ENOMEM", op);
  }

  #site(site: string | number): number {
    if (typeof site === "number") return checkInt(site, "site", "id", 0, MAX_SITE);
    return this.names.siteId(site);
  }

  #target(t: FaultTarget): number {
    if (t === FAILSLAB) return -1;
    if (t === FAIL_PAGE_ALLOC) return -2;
    if (t instanceof KmemCache) {
      t.checkLive("fault injection");
      return t.id;
    }
    throw new TypeError(`fault injection: target must be a KmemCache, "${FAILSLAB}" or "${FAIL_PAGE_ALLOC}"`);
  }
}

/**
 * Mirrors `struct kmem_cache` (mm/slab_common.c, mm/slub.c): a cache of
 * fixed-size objects in WASM memory. Create with {@link Slab.createCache}.
 */
export class KmemCache {
  readonly slab: Slab;
  /** The asm cache id. */
  readonly id: number;
  readonly name: string;
  /** Object size as created. */
  readonly size: number;
  #destroyed = false;

  /** @internal use {@link Slab.createCache} */
  constructor(slab: Slab, id: number, name: string, size: number) {
    this.slab = slab;
    this.id = id;
    this.name = name;
    this.size = size;
  }

  /** Whether {@link KmemCache.destroy} has succeeded. */
  get destroyed(): boolean {
    return this.#destroyed;
  }

  /** @internal @throws {TypeError} once destroyed */
  checkLive(op: string): void {
    if (this.#destroyed) throw new TypeError(`${op}: cache ${this.name} was destroyed`);
  }

  /**
   * Mirrors `kmem_cache_alloc()`.
   * @param site the allocation site for kmemleak/KASAN (default the cache name)
   * @throws {KernelError} ENOMEM when memory (or an injected fault) says no
   */
  alloc(site: string | number = this.name): number {
    this.checkLive("kmem_cache_alloc");
    const s = this.slab;
    return s.allocResult(s.core.kmem_cache_alloc(this.id, s.site(site)), "kmem_cache_alloc");
  }

  /** Mirrors `kmem_cache_zalloc()`. */
  zalloc(site: string | number = this.name): number {
    this.checkLive("kmem_cache_zalloc");
    const s = this.slab;
    return s.allocResult(s.core.kmem_cache_zalloc(this.id, s.site(site)), "kmem_cache_zalloc");
  }

  /**
   * Mirrors `kmem_cache_free()`. 0 is ignored.
   * @throws {KasanBug} for a foreign, interior, already freed or other-cache pointer (logged; nothing freed)
   */
  free(ptr: number): void {
    this.checkLive("kmem_cache_free");
    checkPtr(ptr, "kmem_cache_free");
    const k = this.slab.kasan;
    k.drain();
    this.slab.core.kmem_cache_free(this.id, ptr);
    k.raise();
  }

  /**
   * Mirrors `kmem_cache_destroy()` (mm/slab_common.c, v4.4). With objects
   * still live, logs SLUB's report naming each of them and the kernel's
   * "Slab cache still has objects" line, and leaves the cache usable.
   *
   * @throws {KernelError} EBUSY when objects are still live
   * @throws {TypeError} when already destroyed
   */
  destroy(): void {
    this.checkLive("kmem_cache_destroy");
    const s = this.slab;
    const rc = s.core.kmem_cache_destroy(this.id);
    if (rc === -16) {
      this.#reportBusy();
      throw new KernelError("EBUSY", "kmem_cache_destroy", `${this.name} still has objects`);
    }
    if (rc < 0) throw new TypeError(`kmem_cache_destroy: ${this.name} is not a live cache`);
    this.#destroyed = true;
    s.forget(this);
  }

  /** Live objects now. */
  get nrLive(): number {
    this.checkLive("kmem_cache_nr_live");
    return this.slab.core.kmem_cache_nr_live(this.id);
  }

  /** Slabs the cache holds now. */
  get nrSlabs(): number {
    this.checkLive("kmem_cache_nr_slabs");
    return this.slab.core.kmem_cache_nr_slabs(this.id);
  }

  /** Objects per slab (`oo_objects()`). */
  get objectsPerSlab(): number {
    this.checkLive("kmem_cache_objects_per_slab");
    return this.slab.core.kmem_cache_objects_per_slab(this.id);
  }

  /** Mirrors `kmem_cache_shrink()`: releases this cache's empty slabs. @returns pages released */
  shrink(): number {
    this.checkLive("kmem_cache_shrink");
    return this.slab.core.kmem_cache_shrink(this.id);
  }

  /** Pages per slab, as an order. */
  get order(): number {
    this.checkLive("kmem_cache_order");
    return this.slab.core.kmem_cache_order(this.id);
  }

  /** This cache's live objects, as kmemleak records. */
  liveObjects(): LeakRecord[] {
    this.checkLive("kmem_cache_live");
    return this.slab.liveObjectsOf(this.id);
  }

  /** Mirrors `slab_err()` + `list_slab_objects()` (mm/slub.c) and kmem_cache_destroy's pr_err. */
  #reportBusy(): void {
    const log = this.slab.log;
    const objs = this.liveObjects();
    log.printk("err", "=============================================================================");
    log.printk("err", `BUG ${this.name} (${log.tainted()}): Objects remaining in ${this.name} on kmem_cache_close()`);
    log.printk("err", "-----------------------------------------------------------------------------");
    log.printk("err", "");
    for (const o of objs) {
      log.printk("err", `INFO: Object 0x${formatPointer(o.addr)} size=${o.size}`);
      log.printk("err", `INFO: Allocated in ${o.site}`);
    }
    log.printk("err", `kmem_cache_destroy ${this.name}: Slab cache still has objects`);
    log.dumpStack();
    log.addTaint("B");
  }
}
