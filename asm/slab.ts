// The slab allocator: kmem_cache for fixed-size records (mm/slab_common.c,
// mm/slub.c in spirit), over slabs of 2^order pages from page_alloc.ts.
//
// A cache is a small integer id (the TS side keeps the name). Its slabs sit
// on two lists, partial (has a free slot) and full; allocation pops a slot
// index from the first partial slab's free stack and free pushes it back, so
// both are O(1) with no search. Empty slabs beyond MAX_EMPTY_SLABS go back to
// the page allocator.
//
// All bookkeeping lives in a management area at the start of the slab, never
// inside objects (unlike SLUB's in-object freelist), so a stray write into a
// freed object cannot corrupt the allocator, and a free can be validated in
// O(1) in every build: foreign pointer, interior pointer, wrong cache and
// double free are reported (KASAN report ring), never followed.
//
//   slab (PAGE_SIZE << order bytes, naturally aligned)
//   +--------+-----------+---------------+-------------+-------------+-----+-------+----+-------+----
//   | Slab   | state[n]  | free stack[n] | site[n]     | size[n]     | pad | obj 0 | rz | obj 1 | ...
//   | 24 B   | u8        | u16 slot idx  | u16 site id | u32 bytes   |     |<----- stride ---->|
//   +--------+-----------+---------------+-------------+-------------+-----+-------+----+-------+----
//
// state: SLOT_FREE, SLOT_LIVE (untracked), SLOT_TRACKED (site and size
// recorded: kmemleak), SLOT_QUARANTINE (DEBUG: freed, waiting in the
// quarantine). rz is the KASAN redzone, present only when DEBUG
// (optimal_redzone(), as in mm/kasan/generic.c); objects start 8-aligned.
// Every page of a slab has PG_SLAB in its struct page with head = the slab,
// which is how a pointer finds its slab (virt_to_head_page()).

import {
  __alloc_pages,
  __free_pages,
  EBUSY,
  EINVAL,
  ENOMEM,
  MAX_ORDER,
  PAGE_SIZE,
  page_state,
  PG_SLAB,
  set_errno,
  StructPage,
  virt_to_page,
  PG_ALLOC,
} from "./page_alloc";
import { fault_attr_reset, FAULT_MAX_CACHES, should_failslab } from "./failslab";
import {
  KASAN_FREE_PAGE,
  KASAN_KIND_DOUBLE_FREE,
  KASAN_KIND_INVALID_FREE,
  KASAN_KIND_WRONG_CACHE,
  KASAN_KMALLOC_FREE,
  KASAN_KMALLOC_REDZONE,
  kasan_poison,
  kasan_report_free,
  kasan_unpoison,
  KasanReport,
} from "./kasan";
import { quarantine_put, quarantine_remove_cache } from "./slab_quarantine";

/** Cache ids are 1 .. MAX_CACHES - 1; 0 is never a cache. */
export const MAX_CACHES: i32 = FAULT_MAX_CACHES;
/** kmalloc caches take ids 1 .. FIRST_USER_CACHE - 1 (slab_kmalloc.ts). */
export const FIRST_USER_CACHE: i32 = 12;
/** Mirrors `SLAB_HWCACHE_ALIGN` (include/linux/slab.h, v4.4). */
export const SLAB_HWCACHE_ALIGN: i32 = 0x2000;
const CACHE_LINE: u32 = 64;
/** Largest object a cache may hold (an order-10 slab holds one). */
export const SLAB_MAX_SIZE: i32 = 1 << 21;

export const CACHE_ACTIVE: u32 = 1;
export const CACHE_KMALLOC: u32 = 2;

export const SLOT_FREE: u8 = 0;
export const SLOT_LIVE: u8 = 1;
export const SLOT_TRACKED: u8 = 2;
export const SLOT_QUARANTINE: u8 = 3;

export const LIST_NONE: u16 = 0;
export const LIST_PARTIAL: u16 = 1;
export const LIST_FULL: u16 = 2;

const SLAB_MAGIC: u16 = 0x5ab1;
/** Empty slabs a cache keeps before returning pages (SLUB's min_partial, simplified). */
const MAX_EMPTY_SLABS: u32 = 2;

/** Internal call sites, named by ts/kernel/slab.ts (ids 1..15 are reserved for mm). */
export const SITE_KFREE: i32 = 1;
export const SITE_KMEM_CACHE_FREE: i32 = 2;
export const SITE_FREE_PAGES: i32 = 3;
export const SITE_MEMPOOL_CREATE: i32 = 4;
export const SITE_MEMPOOL_FREE: i32 = 5;
export const SITE_BENCH: i32 = 6;

/**
 * Mirrors `struct kmem_cache` (include/linux/slub_def.h), 68 bytes (CACHE_BYTES apart).
 *
 *   0      4           8      12      16       20     24         28        32        36
 *   +------+-----------+------+-------+--------+------+----------+---------+---------+---------+
 *   |flags |object_size|align |stride |objects |order |off_stack |off_site |off_size |off_objs |
 *   +------+-----------+------+-------+--------+------+----------+---------+---------+---------+
 *   40       44     48        52       56        60               64
 *   +--------+------+---------+--------+---------+---------------+-------------+
 *   |partial |full  |nr_slabs |nr_live |nr_empty |nr_quarantined |stride_shift |
 *   +--------+------+---------+--------+---------+---------------+-------------+
 *   stride_shift = log2(stride) when stride is a power of two, else -1.
 */
@unmanaged
export class KmemCache {
  flags: u32;
  object_size: u32;
  align: u32;
  stride: u32;
  objects: u32;
  order: u32;
  off_stack: u32;
  off_site: u32;
  off_size: u32;
  off_objs: u32;
  partial: usize;
  full: usize;
  nr_slabs: u32;
  nr_live: u32;
  nr_empty: u32;
  nr_quarantined: u32;
  stride_shift: i32;
}

/**
 * Mirrors the slab fields of `struct page` (SLUB), kept at the start of the slab.
 *
 *   0      2      4      6         8     10     12     16     20
 *   +------+------+------+---------+-----+------+------+------+----------+
 *   |cache |magic |inuse |free_top |live |list  |next  |prev  |reserved  |
 *   +------+------+------+---------+-----+------+------+------+----------+
 *   inuse = live + quarantined slots; free_top = entries on the free stack.
 */
@unmanaged
export class Slab {
  cache: u16;
  magic: u16;
  inuse: u16;
  free_top: u16;
  live: u16;
  list: u16;
  next: usize;
  prev: usize;
  reserved: u32;
}

/** Size of the Slab header; the state array follows it. */
export const SLAB_HDR: usize = 24;
const CACHE_BYTES: usize = 80;
const CACHES: usize = memory.data(<i32>(CACHE_BYTES * <usize>MAX_CACHES), 16);

/** kmemleak tracking switch (release); DEBUG builds always track. */
export let kmemleak_on: bool = true;

/** Sets the kmemleak tracking switch (slab_kmemleak.ts). */
export function set_kmemleak_on(on: bool): void {
  kmemleak_on = on;
}
let next_user_id: i32 = FIRST_USER_CACHE;

// ---------------------------------------------------------------------------
// Helpers

@inline
function align_up(x: u32, a: u32): u32 {
  return (x + a - 1) & ~(a - 1);
}

/** The descriptor of cache `id` (active or not); id must be in range. */
@inline
export function cache_at(id: i32): KmemCache {
  return changetype<KmemCache>(CACHES + CACHE_BYTES * <usize>id);
}

/** @returns the descriptor of an active cache, or null */
@inline
export function cache_get(id: i32): KmemCache | null {
  if (<u32>id >= <u32>MAX_CACHES) return null;
  const c = cache_at(id);
  return (c.flags & CACHE_ACTIVE) != 0 ? c : null;
}

/** Mirrors `optimal_redzone()` (mm/kasan/generic.c). */
function optimal_redzone(size: u32): u32 {
  if (size <= 64 - 16) return 16;
  if (size <= 128 - 32) return 32;
  if (size <= 512 - 64) return 64;
  if (size <= 4096 - 128) return 128;
  if (size <= (1 << 14) - 256) return 256;
  if (size <= (1 << 15) - 512) return 512;
  if (size <= (1 << 16) - 1024) return 1024;
  return 2048;
}

/** Lays out n objects; fills the offsets of `c`. @returns the end offset of the last object */
function layout(c: KmemCache, n: u32): u32 {
  c.off_stack = align_up(<u32>SLAB_HDR + n, 2);
  c.off_site = c.off_stack + 2 * n;
  c.off_size = align_up(c.off_site + 2 * n, 4);
  c.off_objs = align_up(c.off_size + 4 * n, c.align);
  return c.off_objs + n * c.stride;
}

/** Mirrors `calculate_sizes()` + `calculate_order()` (mm/slub.c). @returns false when too big */
function calculate_sizes(c: KmemCache, size: u32, align: u32): bool {
  c.object_size = size;
  c.align = align;
  const rz: u32 = DEBUG ? optimal_redzone(size) : 0;
  c.stride = align_up(align_up(size, align) + rz, align);
  for (let order = 0; order < MAX_ORDER; order++) {
    const bytes = <u32>PAGE_SIZE << order;
    let n = (bytes - <u32>SLAB_HDR) / (c.stride + 9);
    if (n > 65535) n = 65535;
    while (n > 0 && layout(c, n) > bytes) n--;
    if (n >= 8 || (order >= 3 && n >= 1)) {
      c.objects = n;
      c.order = <u32>order;
      c.stride_shift = (c.stride & (c.stride - 1)) == 0 ? <i32>ctz(c.stride) : -1;
      layout(c, n);
      return true;
    }
  }
  return false;
}

/** Sets up descriptor `id`. @returns 0 or -22 */
export function cache_setup(id: i32, size: i32, align: i32, flags: i32, cflags: u32): i32 {
  if (size < 1 || size > SLAB_MAX_SIZE) return -EINVAL;
  if (align == 0) align = 8;
  if (align < 0 || align > PAGE_SIZE || (align & (align - 1)) != 0) return -EINVAL;
  let a = <u32>align;
  if (a < 8) a = 8;
  if ((flags & SLAB_HWCACHE_ALIGN) != 0) {
    let ralign = CACHE_LINE;
    while (<u32>size <= ralign / 2) ralign /= 2;
    if (ralign > a) a = ralign;
  }
  const c = cache_at(id);
  memory.fill(changetype<usize>(c), 0, CACHE_BYTES);
  if (!calculate_sizes(c, <u32>size, a)) {
    memory.fill(changetype<usize>(c), 0, CACHE_BYTES);
    return -EINVAL;
  }
  c.flags = CACHE_ACTIVE | cflags;
  fault_attr_reset(id);
  return 0;
}

function list_head_slot(c: KmemCache, which: u16): usize {
  return changetype<usize>(c) + (which == LIST_FULL ? offsetof<KmemCache>("full") : offsetof<KmemCache>("partial"));
}

function slab_list_add(c: KmemCache, sa: usize, which: u16): void {
  const slot = list_head_slot(c, which);
  const head = load<usize>(slot);
  const s = changetype<Slab>(sa);
  s.list = which;
  s.prev = 0;
  s.next = head;
  if (head != 0) changetype<Slab>(head).prev = sa;
  store<usize>(slot, sa);
}

function slab_list_del(c: KmemCache, sa: usize): void {
  const s = changetype<Slab>(sa);
  if (s.prev != 0) changetype<Slab>(s.prev).next = s.next;
  else store<usize>(list_head_slot(c, s.list), s.next);
  if (s.next != 0) changetype<Slab>(s.next).prev = s.prev;
  s.next = 0;
  s.prev = 0;
  s.list = LIST_NONE;
}

/** Mirrors `new_slab()` (mm/slub.c). @returns the slab, or 0 with errno set */
function new_slab(c: KmemCache, id: i32): usize {
  const order = <i32>c.order;
  const sa = __alloc_pages(order);
  if (sa == 0) return 0;
  const npages = 1 << order;
  for (let i = 0; i < npages; i++) {
    const sp = changetype<StructPage>(virt_to_page(sa + (<usize>i << 12)));
    sp.flags = PG_SLAB | (<u32>order << 4);
    sp.head = sa;
  }
  const n = c.objects;
  memory.fill(sa, 0, <usize>c.off_objs);
  const s = changetype<Slab>(sa);
  s.cache = <u16>id;
  s.magic = SLAB_MAGIC;
  s.free_top = <u16>n;
  for (let i: u32 = 0; i < n; i++) store<u16>(sa + c.off_stack + (i << 1), <u16>(n - 1 - i));
  if (DEBUG) kasan_poison(sa, (<usize>PAGE_SIZE) << order, KASAN_KMALLOC_REDZONE);
  slab_list_add(c, sa, LIST_PARTIAL);
  c.nr_slabs++;
  c.nr_empty++;
  return sa;
}

/** Mirrors `discard_slab()`: returns an empty slab's pages. */
function discard_slab(c: KmemCache, sa: usize): void {
  slab_list_del(c, sa);
  c.nr_slabs--;
  c.nr_empty--;
  const order = <i32>c.order;
  changetype<Slab>(sa).magic = 0;
  for (let i = 1; i < (1 << order); i++) {
    changetype<StructPage>(virt_to_page(sa + (<usize>i << 12))).flags = 0;
  }
  changetype<StructPage>(virt_to_page(sa)).flags = PG_ALLOC | (<u32>order << 4);
  if (DEBUG) kasan_poison(sa, (<usize>PAGE_SIZE) << order, KASAN_FREE_PAGE);
  __free_pages(sa, order);
}

/** @returns the object at slot idx of slab sa. */
@inline
export function slot_addr(c: KmemCache, sa: usize, idx: u32): usize {
  return sa + c.off_objs + <usize>idx * c.stride;
}

/** @returns the slab holding `ptr` (a slab page with a valid header), or 0 */
export function slab_of(ptr: usize): usize {
  const sp = virt_to_page(ptr);
  if (sp == 0 || page_state(sp) != PG_SLAB) return 0;
  const sa = changetype<StructPage>(sp).head;
  if (changetype<Slab>(sa).magic != SLAB_MAGIC) return 0;
  return sa;
}

/** @returns the slot index of the object that starts exactly at ptr, or -1 */
export function obj_index(c: KmemCache, sa: usize, ptr: usize): i32 {
  const objs = sa + c.off_objs;
  if (ptr < objs) return -1;
  const off = <u32>(ptr - objs);
  const idx = c.stride_shift >= 0 ? off >> <u32>c.stride_shift : off / c.stride;
  if (idx >= c.objects || idx * c.stride != off) return -1;
  return <i32>idx;
}

@inline
export function slot_state(sa: usize, idx: u32): u8 {
  return load<u8>(sa + SLAB_HDR + idx);
}

// ---------------------------------------------------------------------------
// Allocation and free

/** Mirrors `slab_alloc()` (mm/slub.c). @returns the object, or 0 with errno set */
export function slab_alloc(c: KmemCache, id: i32, site: i32, size: u32): usize {
  if (should_failslab(id)) {
    set_errno(ENOMEM);
    return 0;
  }
  let sa = c.partial;
  if (sa == 0) {
    sa = new_slab(c, id);
    if (sa == 0) return 0;
  }
  const s = changetype<Slab>(sa);
  const top = <u32>s.free_top - 1;
  const idx = <u32>load<u16>(sa + c.off_stack + (top << 1));
  s.free_top = <u16>top;
  if (s.inuse == 0) c.nr_empty--;
  s.inuse++;
  s.live++;
  c.nr_live++;
  if (top == 0) {
    slab_list_del(c, sa);
    slab_list_add(c, sa, LIST_FULL);
  }
  if (DEBUG || kmemleak_on) {
    store<u8>(sa + SLAB_HDR + idx, SLOT_TRACKED);
    store<u16>(sa + c.off_site + (idx << 1), <u16>site);
    store<u32>(sa + c.off_size + (idx << 2), size);
  } else {
    store<u8>(sa + SLAB_HDR + idx, SLOT_LIVE);
  }
  const obj = sa + c.off_objs + <usize>idx * c.stride;
  if (DEBUG) {
    kasan_poison(obj, align_up(c.object_size, 8), KASAN_KMALLOC_REDZONE);
    kasan_unpoison(obj, size);
  }
  return obj;
}

/** Puts a free (or quarantine-released) slot back on its slab's free stack. */
export function release_slot(c: KmemCache, sa: usize, idx: u32): void {
  const s = changetype<Slab>(sa);
  store<u8>(sa + SLAB_HDR + idx, SLOT_FREE);
  store<u16>(sa + c.off_stack + (<u32>s.free_top << 1), <u16>idx);
  s.free_top++;
  s.inuse--;
  if (s.list == LIST_FULL) {
    slab_list_del(c, sa);
    slab_list_add(c, sa, LIST_PARTIAL);
  }
  if (s.inuse == 0) {
    c.nr_empty++;
    if (c.nr_empty > MAX_EMPTY_SLABS) discard_slab(c, sa);
  }
}

/**
 * Mirrors `slab_free()` with SLUB's debug checks (free_debug_processing())
 * and KASAN's invalid-free detection, in every build.
 *
 * @param expect the cache the caller names, or 0 (kfree: any cache)
 * @returns 0, or -22 after filing a report (nothing is changed)
 */
export function slab_free(expect: i32, ptr: usize, site: i32): i32 {
  if (ptr == 0) return 0;
  const sa = slab_of(ptr);
  if (sa == 0) return bad_free(KASAN_KIND_INVALID_FREE, ptr, site, expect);
  const id = <i32>changetype<Slab>(sa).cache;
  if (expect != 0 && expect != id) return bad_free(KASAN_KIND_WRONG_CACHE, ptr, site, expect);
  const c = cache_at(id);
  const i = obj_index(c, sa, ptr);
  if (i < 0) return bad_free(KASAN_KIND_INVALID_FREE, ptr, site, expect);
  const idx = <u32>i;
  const st = slot_state(sa, idx);
  if (st == SLOT_FREE || st == SLOT_QUARANTINE) return bad_free(KASAN_KIND_DOUBLE_FREE, ptr, site, expect);
  changetype<Slab>(sa).live--;
  c.nr_live--;
  if (DEBUG) {
    store<u8>(sa + SLAB_HDR + idx, SLOT_QUARANTINE);
    kasan_poison(ptr, align_up(c.object_size, 8), KASAN_KMALLOC_FREE);
    c.nr_quarantined++;
    quarantine_put(ptr, c.stride);
  } else {
    release_slot(c, sa, idx);
  }
  return 0;
}

function bad_free(kind: u32, ptr: usize, site: i32, expect: i32): i32 {
  kasan_report_free(kind, ptr, site, expect, 0);
  set_errno(EINVAL);
  return -EINVAL;
}

/** Releases a quarantined object to its slab (slab_quarantine.ts). @returns its stride, 0 if it was not quarantined */
export function quarantine_release(ptr: usize): u32 {
  const sa = slab_of(ptr);
  if (sa == 0) return 0;
  const c = cache_at(<i32>changetype<Slab>(sa).cache);
  const i = obj_index(c, sa, ptr);
  if (i < 0 || slot_state(sa, <u32>i) != SLOT_QUARANTINE) return 0;
  c.nr_quarantined--;
  const stride = c.stride;
  release_slot(c, sa, <u32>i);
  return stride;
}

/** @returns the cache id of the slab holding ptr, or 0 */
export function slab_cache_of(ptr: usize): i32 {
  const sa = slab_of(ptr);
  return sa == 0 ? 0 : <i32>changetype<Slab>(sa).cache;
}

// ---------------------------------------------------------------------------
// KASAN support

/**
 * Fills a report's object fields when addr lies in a slab: the nearest
 * object (the slot whose object or right redzone holds addr; slot 0 for the
 * management area), its recorded size and allocation site.
 * @returns false when addr is not in a slab
 */
export function slab_describe(report: usize, addr: usize): bool {
  const sa = slab_of(addr);
  if (sa == 0) return false;
  const id = <i32>changetype<Slab>(sa).cache;
  const c = cache_at(id);
  const objs = sa + c.off_objs;
  let idx: u32 = addr < objs ? 0 : <u32>((addr - objs) / c.stride);
  if (idx >= c.objects) idx = c.objects - 1;
  const r = changetype<KasanReport>(report);
  r.cache = <u32>id;
  r.object = slot_addr(c, sa, idx);
  const st = slot_state(sa, idx);
  const recorded = DEBUG || st == SLOT_TRACKED;
  r.obj_size = recorded ? load<u32>(sa + c.off_size + (idx << 2)) : c.object_size;
  r.alloc_site = recorded ? <u32>load<u16>(sa + c.off_site + (idx << 1)) : 0;
  return true;
}

/**
 * kasan_guard() for slab objects: records `size` as the object's size and,
 * when DEBUG, makes everything past it redzone.
 * @returns 0, -22 (not a live object start, or too big), or 1 when ptr is not in a slab
 */
export function slab_guard(ptr: usize, size: i32): i32 {
  const sa = slab_of(ptr);
  if (sa == 0) return 1;
  const c = cache_at(<i32>changetype<Slab>(sa).cache);
  const i = obj_index(c, sa, ptr);
  if (i < 0) return -EINVAL;
  const st = slot_state(sa, <u32>i);
  if ((st != SLOT_LIVE && st != SLOT_TRACKED) || <u32>size > c.object_size) return -EINVAL;
  store<u32>(sa + c.off_size + (<u32>i << 2), <u32>size);
  if (DEBUG) {
    kasan_poison(ptr, align_up(c.object_size, 8), KASAN_KMALLOC_REDZONE);
    kasan_unpoison(ptr, <usize>size);
  }
  return 0;
}

// ---------------------------------------------------------------------------
// Exports

/**
 * Mirrors `kmem_cache_create()` (mm/slab_common.c). The name stays on the TS
 * side; objects are at least 8-aligned.
 *
 * @param size object size in bytes, 1 .. SLAB_MAX_SIZE
 * @param align 0 (default 8) or a power of two ≤ PAGE_SIZE
 * @param flags SLAB_HWCACHE_ALIGN is honoured; other bits are ignored
 * @returns the cache id (≥ FIRST_USER_CACHE), -22 for a bad argument, -12 when all ids are taken
 */
export function kmem_cache_create(size: i32, align: i32, flags: i32): i32 {
  let id = next_user_id;
  for (let tries = FIRST_USER_CACHE; tries < MAX_CACHES; tries++) {
    if ((cache_at(id).flags & CACHE_ACTIVE) == 0) {
      const e = cache_setup(id, size, align, flags, 0);
      if (e < 0) return e;
      next_user_id = id + 1 < MAX_CACHES ? id + 1 : FIRST_USER_CACHE;
      return id;
    }
    id = id + 1 < MAX_CACHES ? id + 1 : FIRST_USER_CACHE;
  }
  return -ENOMEM;
}

/**
 * Mirrors `kmem_cache_alloc()` (mm/slub.c).
 * @param site allocation-site id recorded for kmemleak (names live in TS)
 * @returns the object, or 0 (mm_errno(): -22 unknown cache, -12 no memory or fault injected)
 */
export function kmem_cache_alloc(cache: i32, site: i32): usize {
  const c = cache_get(cache);
  if (c === null) {
    set_errno(EINVAL);
    return 0;
  }
  return slab_alloc(c, cache, site, c.object_size);
}

/** Mirrors `kmem_cache_zalloc()`. @returns a zeroed object, or 0 like kmem_cache_alloc() */
export function kmem_cache_zalloc(cache: i32, site: i32): usize {
  const p = kmem_cache_alloc(cache, site);
  if (p != 0) memory.fill(p, 0, cache_at(cache).object_size);
  return p;
}

/**
 * Mirrors `kmem_cache_free()` (mm/slub.c). NULL is ignored.
 * @returns 0; -22 for an unknown cache or a foreign, interior, wrong-cache or
 *   already freed pointer (reported through the KASAN ring; nothing changes)
 */
export function kmem_cache_free(cache: i32, ptr: usize): i32 {
  if (cache_get(cache) === null) {
    if (ptr == 0) return 0;
    return bad_free(KASAN_KIND_WRONG_CACHE, ptr, SITE_KMEM_CACHE_FREE, cache);
  }
  return slab_free(cache, ptr, SITE_KMEM_CACHE_FREE);
}

/**
 * Mirrors `kmem_cache_destroy()` (mm/slab_common.c). Quarantined objects of
 * the cache are flushed first. A cache that still has live objects is left
 * intact: the TS wrapper logs the kernel's "Slab cache still has objects" BUG.
 *
 * @returns 0, -16 EBUSY (live objects remain), -22 (not a live user cache)
 */
export function kmem_cache_destroy(cache: i32): i32 {
  const c = cache_get(cache);
  if (c === null || (c.flags & CACHE_KMALLOC) != 0) return -EINVAL;
  if (DEBUG) quarantine_remove_cache(cache);
  if (c.nr_live != 0) return -EBUSY;
  while (c.partial != 0) {
    if (DEBUG) assert(changetype<Slab>(c.partial).inuse == 0);
    discard_slab(c, c.partial);
  }
  if (DEBUG) assert(c.full == 0 && c.nr_slabs == 0);
  fault_attr_reset(cache);
  memory.fill(changetype<usize>(c), 0, CACHE_BYTES);
  return 0;
}

/** Releases a cache's empty slabs (and, when DEBUG, its quarantined objects first). @returns pages released */
function shrink_one(id: i32): i32 {
  const c = cache_at(id);
  if (DEBUG) quarantine_remove_cache(id);
  let pages = 0;
  let sa = c.partial;
  while (sa != 0) {
    const next = changetype<Slab>(sa).next;
    if (changetype<Slab>(sa).inuse == 0) {
      discard_slab(c, sa);
      pages += 1 << <i32>c.order;
    }
    sa = next;
  }
  return pages;
}

/**
 * Mirrors `kmem_cache_shrink()` (mm/slab_common.c): returns the empty slabs
 * a cache keeps for reuse to the page allocator.
 *
 * @param cache a cache id, or 0 for every cache (kmalloc caches included)
 * @returns pages released, or -22 for an unknown cache
 */
export function kmem_cache_shrink(cache: i32): i32 {
  if (cache != 0) return cache_get(cache) === null ? -EINVAL : shrink_one(cache);
  let pages = 0;
  for (let id = 1; id < MAX_CACHES; id++) {
    if (cache_get(id) !== null) pages += shrink_one(id);
  }
  return pages;
}

/** @returns the object size given at creation, or -22 for an unknown cache */
export function kmem_cache_size(cache: i32): i32 {
  const c = cache_get(cache);
  return c === null ? -EINVAL : <i32>c.object_size;
}

/** @returns live (allocated, not freed) objects of the cache, or -22 */
export function kmem_cache_nr_live(cache: i32): i32 {
  const c = cache_get(cache);
  return c === null ? -EINVAL : <i32>c.nr_live;
}

/** @returns slabs the cache holds, or -22 */
export function kmem_cache_nr_slabs(cache: i32): i32 {
  const c = cache_get(cache);
  return c === null ? -EINVAL : <i32>c.nr_slabs;
}

/** @returns objects per slab (SLUB's oo_objects()), or -22 */
export function kmem_cache_objects_per_slab(cache: i32): i32 {
  const c = cache_get(cache);
  return c === null ? -EINVAL : <i32>c.objects;
}

/** @returns the slab order, or -22 */
export function kmem_cache_order(cache: i32): i32 {
  const c = cache_get(cache);
  return c === null ? -EINVAL : <i32>c.order;
}

/** @returns distance between objects in bytes (object, padding, DEBUG redzone), or -22 */
export function kmem_cache_stride(cache: i32): i32 {
  const c = cache_get(cache);
  return c === null ? -EINVAL : <i32>c.stride;
}
