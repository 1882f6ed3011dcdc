// Memory pools (mm/mempool.c, v4.4): an allocator with a reserve of min_nr
// elements that is used only when the backing allocator fails.
//
// The pool record and its elements array are kmalloc'd (so they are tracked
// like the kernel's). Backing allocators are the kernel's three helpers:
// MEMPOOL_SLAB (mempool_alloc_slab: pool_data = cache id), MEMPOOL_KMALLOC
// (mempool_kmalloc: pool_data = size) and MEMPOOL_PAGE (mempool_alloc_pages:
// pool_data = order).
//
//   0      4       8       12        16    20         24    28          32
//   +------+-------+-------+---------+-----+----------+-----+-----------+--------+
//   |magic |min_nr |curr_nr|elements |kind |pool_data |site |nr_reserve |nr_fail |
//   +------+-------+-------+---------+-----+----------+-----+-----------+--------+
//
// WASM cannot sleep. mempool_alloc() runs the kernel's loop up to the point
// where it would call io_schedule_timeout(): then it returns 0 with
// mm_errno() = -EAGAIN when the mask allows direct reclaim (the caller should
// wait on the pool and retry with mempool_alloc_again()), or -ENOMEM when it
// does not. mempool_free() returns 1 when the element refilled the reserve,
// which is exactly when the kernel calls wake_up(&pool->wait).
//
// Reserve elements stay live objects of their allocator; in DEBUG builds they
// are poisoned while in the reserve (kasan_poison_element()), so a use of an
// element after mempool_free() is reported even when it went to the reserve.

import {
  alloc_pages,
  EAGAIN,
  EINVAL,
  ENOMEM,
  free_pages,
  MAX_ORDER,
  PAGE_SIZE,
  PG_ALLOC,
  set_errno,
  StructPage,
  virt_to_page,
} from "./page_alloc";
import {
  KASAN_FREE_PAGE,
  KASAN_KIND_DOUBLE_FREE,
  KASAN_KMALLOC_FREE,
  kasan_poison,
  kasan_report_free,
  kasan_unpoison,
} from "./kasan";
import {
  cache_at,
  cache_get,
  kmem_cache_alloc,
  SITE_MEMPOOL_CREATE,
  SITE_MEMPOOL_FREE,
  slab_free,
  slab_guard,
} from "./slab";
import { kfree, kmalloc, kmalloc_cache_id, KMALLOC_MAX_SIZE } from "./slab_kmalloc";
import { slab_obj_cache } from "./slab_kmemleak";

export const MEMPOOL_SLAB: i32 = 1;
export const MEMPOOL_KMALLOC: i32 = 2;
export const MEMPOOL_PAGE: i32 = 3;
/** Largest min_nr: the elements array must fit in kmalloc-8192. */
export const MEMPOOL_MAX_MIN_NR: i32 = 2048;

/** gfp bits mempool_alloc() looks at (include/linux/gfp.h, v4.4). */
const __GFP_IO: i32 = 0x40;
const __GFP_DIRECT_RECLAIM: i32 = 0x400000;

const MEMPOOL_MAGIC: u32 = 0x4d504f4c;

/** Mirrors `mempool_t` (include/linux/mempool.h); see the diagram above. */
@unmanaged
class Mempool {
  magic: u32;
  min_nr: i32;
  curr_nr: i32;
  elements: usize;
  kind: i32;
  pool_data: i32;
  site: i32;
  nr_reserve: u32;
  nr_fail: u32;
}

/** @returns the pool at `ptr` when it is a live pool record, else null */
function pool_get(ptr: usize): Mempool | null {
  if (ptr == 0 || slab_obj_cache(ptr) < 0) return null;
  const p = changetype<Mempool>(ptr);
  return p.magic == MEMPOOL_MAGIC ? p : null;
}

function alloc_element(p: Mempool): usize {
  if (p.kind == MEMPOOL_SLAB) return kmem_cache_alloc(p.pool_data, p.site);
  if (p.kind == MEMPOOL_KMALLOC) return kmalloc(p.pool_data, p.site);
  return alloc_pages(p.pool_data);
}

/** Frees through the backing allocator, which validates (and reports) the element. @returns 0 or -22 */
function free_element(p: Mempool, e: usize): i32 {
  if (p.kind == MEMPOOL_SLAB) return slab_free(p.pool_data, e, SITE_MEMPOOL_FREE);
  if (p.kind == MEMPOOL_KMALLOC) return slab_free(kmalloc_cache_id(p.pool_data), e, SITE_MEMPOOL_FREE);
  if (!page_ok(p, e)) {
    free_pages(e, p.pool_data);
    return -EINVAL;
  }
  free_pages(e, p.pool_data);
  return 0;
}

@inline
function page_ok(p: Mempool, e: usize): bool {
  const sp = (e & (<usize>PAGE_SIZE - 1)) == 0 ? virt_to_page(e) : 0;
  return sp != 0 && changetype<StructPage>(sp).flags == (PG_ALLOC | (<u32>p.pool_data << 4));
}

/** Whether e is a live element of the pool's allocator (so it may enter the reserve). */
function element_ok(p: Mempool, e: usize): bool {
  if (p.kind == MEMPOOL_SLAB) return slab_obj_cache(e) == p.pool_data;
  if (p.kind == MEMPOOL_KMALLOC) return slab_obj_cache(e) == kmalloc_cache_id(p.pool_data);
  return page_ok(p, e);
}

/** Mirrors `kasan_poison_element()`. */
function poison_element(p: Mempool, e: usize): void {
  if (!DEBUG) return;
  if (p.kind == MEMPOOL_PAGE) {
    kasan_poison(e, (<usize>PAGE_SIZE) << p.pool_data, KASAN_FREE_PAGE);
  } else {
    const id = p.kind == MEMPOOL_SLAB ? p.pool_data : kmalloc_cache_id(p.pool_data);
    kasan_poison(e, (cache_at(id).object_size + 7) & ~7, KASAN_KMALLOC_FREE);
  }
}

/** Mirrors `kasan_unpoison_element()`. */
function unpoison_element(p: Mempool, e: usize): void {
  if (!DEBUG) return;
  if (p.kind == MEMPOOL_PAGE) kasan_unpoison(e, (<usize>PAGE_SIZE) << p.pool_data);
  else if (p.kind == MEMPOOL_SLAB) slab_guard(e, <i32>cache_at(p.pool_data).object_size);
  else slab_guard(e, p.pool_data);
}

function add_element(p: Mempool, e: usize): void {
  poison_element(p, e);
  store<usize>(p.elements + (<usize>p.curr_nr << 2), e);
  p.curr_nr++;
}

function remove_element(p: Mempool): usize {
  p.curr_nr--;
  const e = load<usize>(p.elements + (<usize>p.curr_nr << 2));
  unpoison_element(p, e);
  return e;
}

function in_reserve(p: Mempool, e: usize): bool {
  for (let i = 0; i < p.curr_nr; i++) {
    if (load<usize>(p.elements + (<usize>i << 2)) == e) return true;
  }
  return false;
}

/**
 * Mirrors `mempool_create()` with the kernel's built-in element allocators
 * (`mempool_create_slab_pool()`, `mempool_create_kmalloc_pool()`,
 * `mempool_create_page_pool()`): preallocates min_nr elements.
 *
 * @param kind MEMPOOL_SLAB (1), MEMPOOL_KMALLOC (2) or MEMPOOL_PAGE (3)
 * @param pool_data cache id, element size (1 .. KMALLOC_MAX_SIZE) or page order
 * @param min_nr reserved elements, 0 .. MEMPOOL_MAX_MIN_NR
 * @param site allocation-site id recorded for the elements
 * @returns the pool, or 0 (mm_errno(): -22 bad argument, -12 the reserve could not be filled)
 */
export function mempool_create(kind: i32, pool_data: i32, min_nr: i32, site: i32): usize {
  const ok = min_nr >= 0 && min_nr <= MEMPOOL_MAX_MIN_NR && (
    (kind == MEMPOOL_SLAB && cache_get(pool_data) !== null) ||
    (kind == MEMPOOL_KMALLOC && pool_data >= 1 && pool_data <= KMALLOC_MAX_SIZE) ||
    (kind == MEMPOOL_PAGE && pool_data >= 0 && pool_data < MAX_ORDER));
  if (!ok) {
    set_errno(EINVAL);
    return 0;
  }
  const pa = kmalloc(offsetof<Mempool>(), SITE_MEMPOOL_CREATE);
  if (pa == 0) return 0;
  const elements = kmalloc((min_nr > 0 ? min_nr : 1) << 2, SITE_MEMPOOL_CREATE);
  if (elements == 0) {
    kfree(pa);
    return 0;
  }
  const p = changetype<Mempool>(pa);
  memory.fill(pa, 0, offsetof<Mempool>());
  p.magic = MEMPOOL_MAGIC;
  p.min_nr = min_nr;
  p.elements = elements;
  p.kind = kind;
  p.pool_data = pool_data;
  p.site = site;
  while (p.curr_nr < min_nr) {
    const e = alloc_element(p);
    if (e == 0) {
      mempool_destroy(pa);
      set_errno(ENOMEM);
      return 0;
    }
    add_element(p, e);
  }
  return pa;
}

/** One pass of mempool_alloc()'s loop from `repeat_alloc`. */
function alloc_pass(p: Mempool, gfp: i32, first: bool): usize {
  let gfp_temp = first ? gfp & ~(__GFP_DIRECT_RECLAIM | __GFP_IO) : gfp;
  while (true) {
    const e = alloc_element(p);
    if (e != 0) return e;
    if (p.curr_nr > 0) {
      p.nr_reserve++;
      return remove_element(p);
    }
    if (gfp_temp == gfp) break;
    gfp_temp = gfp;
  }
  p.nr_fail++;
  set_errno((gfp & __GFP_DIRECT_RECLAIM) != 0 ? EAGAIN : ENOMEM);
  return 0;
}

/**
 * Mirrors `mempool_alloc()` (mm/mempool.c) up to the point where it would
 * sleep: the backing allocator first, the reserve only when it fails.
 *
 * @param gfp the kernel's gfp mask (only __GFP_DIRECT_RECLAIM and __GFP_IO matter)
 * @returns an element, or 0 (mm_errno(): -11 EAGAIN = would sleep, wait for a
 *   wake-up and call mempool_alloc_again(); -12 = cannot sleep; -22 = bad pool)
 */
export function mempool_alloc(pool: usize, gfp: i32): usize {
  const p = pool_get(pool);
  if (p === null) {
    set_errno(EINVAL);
    return 0;
  }
  return alloc_pass(p, gfp, true);
}

/**
 * mempool_alloc()'s first pass for a core caller that read `pool` from a
 * live record it owns (a bio_set's bio_pool, whose set the caller checked):
 * no pool_get() lookup, which costs a slab search per call. Returns like
 * mempool_alloc().
 */
export function mempool_alloc_owned(pool: usize, gfp: i32): usize {
  return alloc_pass(changetype<Mempool>(pool), gfp, true);
}

/**
 * Whether `pool`, read from a record the caller trusts to have held a pool
 * (a bio's bio_set), still names one: in memory and its magic intact
 * (mempool_destroy() clears it). Cheaper than pool_get()'s slab lookup,
 * which guards the exports against any address at all.
 */
export function mempool_live(pool: usize): bool {
  if (pool == 0 || (pool & 3) != 0 || pool + offsetof<Mempool>() > (<usize>memory.size() << 16)) return false;
  return changetype<Mempool>(pool).magic == MEMPOOL_MAGIC;
}

/** The retry after io_schedule_timeout(): the loop resumes with the full mask. Returns like mempool_alloc(). */
export function mempool_alloc_again(pool: usize, gfp: i32): usize {
  const p = pool_get(pool);
  if (p === null) {
    set_errno(EINVAL);
    return 0;
  }
  return alloc_pass(p, gfp, false);
}

/**
 * Mirrors `mempool_free()` (mm/mempool.c): refills the reserve while it is
 * below min_nr, else frees to the backing allocator. NULL is ignored.
 *
 * @returns 1 when the element refilled the reserve (wake the pool's waiters),
 *   0 when it was freed, -22 for a bad pool or an element the allocator
 *   rejects or the reserve already holds (reported; nothing changes)
 */
export function mempool_free(element: usize, pool: usize): i32 {
  if (element == 0) return 0;
  const p = pool_get(pool);
  if (p === null) return -EINVAL;
  return free_to(p, element);
}

/** mempool_free() of a non-NULL element to a pool the caller checked with {@link mempool_live} (no second lookup). */
export function mempool_free_owned(element: usize, pool: usize): i32 {
  return free_to(changetype<Mempool>(pool), element);
}

function free_to(p: Mempool, element: usize): i32 {
  if (in_reserve(p, element)) {
    kasan_report_free(KASAN_KIND_DOUBLE_FREE, element, SITE_MEMPOOL_FREE, 0, 0);
    set_errno(EINVAL);
    return -EINVAL;
  }
  if (p.curr_nr < p.min_nr) {
    if (!element_ok(p, element)) {
      free_element(p, element);
      set_errno(EINVAL);
      return -EINVAL;
    }
    add_element(p, element);
    return 1;
  }
  return free_element(p, element);
}

/**
 * Mirrors `mempool_destroy()`: frees the reserve, the elements array and the
 * pool. Elements still out with callers are theirs to free. NULL is ignored.
 * @returns 0, or -22 for something that is not a pool
 */
export function mempool_destroy(pool: usize): i32 {
  if (pool == 0) return 0;
  const p = pool_get(pool);
  if (p === null) return -EINVAL;
  while (p.curr_nr > 0) free_element(p, remove_element(p));
  kfree(p.elements);
  p.magic = 0;
  kfree(pool);
  return 0;
}

/** @returns elements in the reserve (curr_nr), or -22 */
export function mempool_curr_nr(pool: usize): i32 {
  const p = pool_get(pool);
  return p === null ? -EINVAL : p.curr_nr;
}

/** @returns the reserve size (min_nr), or -22 */
export function mempool_min_nr(pool: usize): i32 {
  const p = pool_get(pool);
  return p === null ? -EINVAL : p.min_nr;
}

/** @returns allocations served from the reserve so far, or -22 */
export function mempool_nr_reserve_used(pool: usize): i32 {
  const p = pool_get(pool);
  return p === null ? -EINVAL : <i32>p.nr_reserve;
}
