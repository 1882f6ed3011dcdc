// The page allocator: a binary buddy allocator over WASM linear memory,
// mirroring mm/page_alloc.c (__rmqueue_smallest(), expand(), __free_one_page()).
//
// Memory comes from memory.grow, whose return value is the only thing trusted:
// other modules (and the stub runtime, if anything ever used it) may grow
// memory too, so grown chunks need not be contiguous. Every chunk is carved
// into naturally aligned blocks (a block of order k starts at a multiple of
// PAGE_SIZE << k), so a block's buddy is `addr ^ (PAGE_SIZE << k)` and two free
// buddies always coalesce: the free lists stay O(1) per order (doubly linked,
// so a buddy leaves its list in O(1)) and a free merges at most MAX_ORDER - 1
// times.
//
// Allocator state never lives in the pages it hands out. Each 4 KiB page has
// a `struct page` in a mem_map section (one per 4 MiB of address space,
// allocated on first use from a never-freed metadata arena), so a stray write
// into a free page cannot corrupt the free lists, and any address can be
// classified in O(1): free (buddy head), allocated block head, slab page, or
// not ours.
//
//   SECTIONS (static, 1024 × u32): section address for addr >> 22, or 0
//   section (metadata arena, SECTION_BYTES):
//     +0      struct page × 1024        (16 bytes each, see StructPage)
//     +16384  shadow chunk ptr × 64     (DEBUG: KASAN shadow of each 64 KiB)
//
// A block of order k has one meaningful struct page, its head: flags say
// PG_BUDDY (free, on free_area[k]), PG_ALLOC (from alloc_pages()) or PG_SLAB;
// the other 2^k - 1 struct pages are zero, except for slabs, whose every page
// points at the slab (virt_to_head_page()).
//
// The limit (page_alloc_set_limit) caps pages handed out at once, so ENOMEM
// paths are testable; metadata (mem_map sections, KASAN shadow) is not
// counted, just as the kernel's mem_map is not part of totalram_pages.
//
// Single-threaded by design: one WASM instance, one thread, plain loads and
// stores (memory.grow is racy across threads anyway, TOOLCHAIN.md §1). The
// stub runtime's bump allocator assumes it owns everything above
// __heap_base, so a managed allocation (`new`, strings, arrays) anywhere in
// asm/ would overlap these pages: the no-managed-allocation rule is
// load-bearing here.

import { fault_should_fail, FAULT_PAGE_ALLOC } from "./failslab";
import {
  KASAN_FREE_PAGE,
  KASAN_KIND_DOUBLE_FREE,
  KASAN_KIND_INVALID_FREE,
  kasan_poison,
  kasan_report_free,
  kasan_shadow_init,
  kasan_unpoison,
} from "./kasan";

/** log2 of PAGE_SIZE. */
export const PAGE_SHIFT: i32 = 12;
/** Bytes per page, as on x86. */
export const PAGE_SIZE: i32 = 1 << PAGE_SHIFT;
/** Orders 0 .. MAX_ORDER - 1 exist (v4.4 default MAX_ORDER 11: blocks up to 4 MiB). */
export const MAX_ORDER: i32 = 11;

export const EINVAL: i32 = 22;
export const ENOMEM: i32 = 12;
export const EBUSY: i32 = 16;
export const EFAULT: i32 = 14;
export const EAGAIN: i32 = 11;

const WASM_PAGE_SHIFT: i32 = 16;
const SECTION_SHIFT: i32 = 22;
const NR_SECTIONS: i32 = 1024;
const PAGES_PER_SECTION: i32 = 1 << (SECTION_SHIFT - PAGE_SHIFT);
const STRUCT_PAGE_SHIFT: i32 = 4;
/** Offset in a section of its 64 shadow-chunk pointers (DEBUG). */
export const SECTION_SHADOW_DIR: usize = <usize>PAGES_PER_SECTION << STRUCT_PAGE_SHIFT;
const SECTION_BYTES: usize = SECTION_SHADOW_DIR + (DEBUG ? 64 * 4 : 0);
/** Smallest memory.grow for data pages: 256 KiB. */
const GROW_MIN_BYTES: u64 = 4 << WASM_PAGE_SHIFT;
/** Default limit: every page of the 2 GiB the module's memory may grow to (build.ts: addresses stay below 2^31). */
const DEFAULT_LIMIT: i32 = 1 << 19;

/** struct page state (low 4 bits of flags). */
export const PG_NONE: u32 = 0;
export const PG_BUDDY: u32 = 1;
export const PG_ALLOC: u32 = 2;
export const PG_SLAB: u32 = 3;
const PG_STATE_MASK: u32 = 0xf;
const PG_ORDER_SHIFT: u32 = 4;

/**
 * Mirrors `struct page` (include/linux/mm_types.h), reduced to what the buddy
 * and slab allocators need.
 *
 *   0        4        8        12       16
 *   +--------+--------+--------+--------+
 *   | flags  | head   | next   | prev   |
 *   +--------+--------+--------+--------+
 *   flags = state | order << 4; head = address of the block (PG_BUDDY,
 *   PG_ALLOC: the page itself; PG_SLAB: the slab); next/prev link free_area.
 */
@unmanaged
export class StructPage {
  flags: u32;
  head: usize;
  next: usize;
  prev: usize;
}

/** Section address per 4 MiB of address space. */
const SECTIONS: usize = memory.data(NR_SECTIONS * 4, 16);
/** free_area[order]: head of the free list (a StructPage address). */
const FREE_HEAD: usize = memory.data(MAX_ORDER * 4, 16);
/** free_area[order].nr_free. */
const NR_FREE: usize = memory.data(MAX_ORDER * 4, 16);

let nr_used: i32 = 0;
let nr_managed: i32 = 0;
let nr_limit: i32 = DEFAULT_LIMIT;
let meta_cur: usize = 0;
let meta_end: usize = 0;
let meta_bytes: usize = 0;
let last_errno: i32 = 0;

// ---------------------------------------------------------------------------
// errno

/** Records the errno of a failed allocator call (positive). */
@inline
export function set_errno(e: i32): void {
  last_errno = -e;
}

/**
 * The -errno of the most recent failed memory call (alloc_pages, kmalloc,
 * kmem_cache_*, mempool_*), like the C library's `errno`: not cleared on
 * success. -12 ENOMEM, -22 EINVAL, -16 EBUSY, -11 EAGAIN (mempool would sleep).
 */
export function mm_errno(): i32 {
  return last_errno;
}

// ---------------------------------------------------------------------------
// Metadata arena and mem_map sections

/** Bump allocation of zeroed, never-freed metadata outside the buddy system. @returns 0 when memory cannot grow. */
export function meta_alloc(bytes: usize): usize {
  bytes = (bytes + 15) & ~(<usize>15);
  if (meta_end - meta_cur < bytes) {
    const n = <i32>((bytes + 0xffff) >> WASM_PAGE_SHIFT);
    const old = memory.grow(n);
    if (old < 0) return 0;
    meta_cur = (<usize>old) << WASM_PAGE_SHIFT;
    meta_end = meta_cur + ((<usize>n) << WASM_PAGE_SHIFT);
  }
  const p = meta_cur;
  meta_cur += bytes;
  meta_bytes += bytes;
  return p;
}

/** @returns the mem_map section covering `addr`, or 0 when none exists. */
@inline
export function section_of(addr: usize): usize {
  return load<usize>(SECTIONS + ((addr >> SECTION_SHIFT) << 2));
}

/** Mirrors `virt_to_page()`: the struct page of `addr`, or 0 when no section covers it. */
@inline
export function virt_to_page(addr: usize): usize {
  const sec = section_of(addr);
  if (sec == 0) return 0;
  return sec + (((addr >> PAGE_SHIFT) & (PAGES_PER_SECTION - 1)) << STRUCT_PAGE_SHIFT);
}

/** Creates the sections covering [start, end). @returns false when the arena cannot grow. */
function ensure_sections(start: usize, end: usize): bool {
  for (let s = start >> SECTION_SHIFT; s <= (end - 1) >> SECTION_SHIFT; s++) {
    const slot = SECTIONS + (s << 2);
    if (load<usize>(slot) != 0) continue;
    const sec = meta_alloc(SECTION_BYTES);
    if (sec == 0) return false;
    store<usize>(slot, sec);
  }
  return true;
}

// ---------------------------------------------------------------------------
// Free lists

@inline
function page_flags(state: u32, order: i32): u32 {
  return state | (<u32>order << PG_ORDER_SHIFT);
}

/** The order stored in a struct page's flags. */
@inline
export function page_order(sp: usize): i32 {
  return <i32>(changetype<StructPage>(sp).flags >> PG_ORDER_SHIFT);
}

/** The state (PG_*) stored in a struct page's flags. */
@inline
export function page_state(sp: usize): u32 {
  return changetype<StructPage>(sp).flags & PG_STATE_MASK;
}

function list_add(order: i32, sp: usize): void {
  const slot = FREE_HEAD + (<usize>order << 2);
  const head = load<usize>(slot);
  const p = changetype<StructPage>(sp);
  p.next = head;
  p.prev = 0;
  if (head != 0) changetype<StructPage>(head).prev = sp;
  store<usize>(slot, sp);
  store<i32>(NR_FREE + (<usize>order << 2), load<i32>(NR_FREE + (<usize>order << 2)) + 1);
}

function list_del(order: i32, sp: usize): void {
  const p = changetype<StructPage>(sp);
  if (p.prev != 0) changetype<StructPage>(p.prev).next = p.next;
  else store<usize>(FREE_HEAD + (<usize>order << 2), p.next);
  if (p.next != 0) changetype<StructPage>(p.next).prev = p.prev;
  p.next = 0;
  p.prev = 0;
  store<i32>(NR_FREE + (<usize>order << 2), load<i32>(NR_FREE + (<usize>order << 2)) - 1);
}

/** Mirrors `__free_one_page()`: merges with free buddies, then lists the result. */
function free_one_page(addr: usize, order: i32): void {
  changetype<StructPage>(virt_to_page(addr)).flags = 0;
  while (order < MAX_ORDER - 1) {
    const buddy = addr ^ ((<usize>PAGE_SIZE) << order);
    const bsp = virt_to_page(buddy);
    if (bsp == 0) break;
    const b = changetype<StructPage>(bsp);
    if (b.flags != page_flags(PG_BUDDY, order) || b.head != buddy) break;
    list_del(order, bsp);
    b.flags = 0;
    addr = addr < buddy ? addr : buddy;
    order++;
  }
  const sp = virt_to_page(addr);
  const p = changetype<StructPage>(sp);
  p.flags = page_flags(PG_BUDDY, order);
  p.head = addr;
  list_add(order, sp);
}

/** Mirrors `__rmqueue_smallest()` + `expand()`. @returns the block, or 0 when no list can serve it. */
function rmqueue(order: i32): usize {
  for (let o = order; o < MAX_ORDER; o++) {
    const sp = load<usize>(FREE_HEAD + (<usize>o << 2));
    if (sp == 0) continue;
    list_del(o, sp);
    const addr = changetype<StructPage>(sp).head;
    while (o > order) {
      o--;
      const half = addr + ((<usize>PAGE_SIZE) << o);
      const hsp = virt_to_page(half);
      const h = changetype<StructPage>(hsp);
      h.flags = page_flags(PG_BUDDY, o);
      h.head = half;
      list_add(o, hsp);
    }
    changetype<StructPage>(sp).flags = page_flags(PG_ALLOC, order);
    return addr;
  }
  return 0;
}

/** Adds [start, end) (64 KiB aligned) to the free lists as maximal naturally aligned blocks. */
function free_range(start: usize, end: usize): void {
  while (start < end) {
    let order = MAX_ORDER - 1;
    while (order > 0) {
      const size = (<usize>PAGE_SIZE) << order;
      if ((start & (size - 1)) == 0 && <u64>start + <u64>size <= <u64>end) break;
      order--;
    }
    free_one_page(start, order);
    start += (<usize>PAGE_SIZE) << order;
  }
}

/**
 * Grows memory so that a naturally aligned block of `order` becomes free.
 * @returns false when memory.grow or the metadata arena fails
 */
function grow(order: i32): bool {
  const size = (<u64>PAGE_SIZE) << order;
  const cur = (<u64>memory.size()) << WASM_PAGE_SHIFT;
  const start = (cur + size - 1) & ~(size - 1);
  let want = start + size - cur;
  if (want < GROW_MIN_BYTES) want = GROW_MIN_BYTES;
  if (cur + want > (<u64>1 << 32)) return false;
  const n = <i32>(want >> WASM_PAGE_SHIFT);
  const old = memory.grow(n);
  if (old < 0) return false;
  const base = (<usize>old) << WASM_PAGE_SHIFT;
  const end = base + ((<usize>n) << WASM_PAGE_SHIFT);
  if (!ensure_sections(base, end)) return false;
  if (DEBUG) {
    if (!kasan_shadow_init(base, end)) return false;
  }
  nr_managed += <i32>((end - base) >> PAGE_SHIFT);
  free_range(base, end);
  return true;
}

// ---------------------------------------------------------------------------
// Internal interface for the slab allocator

/**
 * Takes a block of 2^order pages out of the buddy system, honouring the limit
 * and fail_page_alloc. The head struct page is left PG_ALLOC; nothing is
 * poisoned or unpoisoned. @returns 0 with errno set on failure
 */
export function __alloc_pages(order: i32): usize {
  if (order < 0 || order >= MAX_ORDER) {
    set_errno(EINVAL);
    return 0;
  }
  if (fault_should_fail(FAULT_PAGE_ALLOC) || nr_used + (1 << order) > nr_limit) {
    set_errno(ENOMEM);
    return 0;
  }
  let addr = rmqueue(order);
  if (addr == 0) {
    if (!grow(order)) {
      set_errno(ENOMEM);
      return 0;
    }
    addr = rmqueue(order);
    if (DEBUG) assert(addr != 0);
  }
  nr_used += 1 << order;
  return addr;
}

/** Returns a block taken with __alloc_pages() (already validated) to the buddy system. */
export function __free_pages(addr: usize, order: i32): void {
  nr_used -= 1 << order;
  free_one_page(addr, order);
}

// ---------------------------------------------------------------------------
// Exports

/**
 * Mirrors `__get_free_pages()` (mm/page_alloc.c): 2^order contiguous pages,
 * naturally aligned, contents undefined.
 *
 * @param order 0 .. MAX_ORDER - 1
 * @returns the address, or 0 (mm_errno(): -22 bad order, -12 limit reached,
 *   fault injected or memory cannot grow)
 */
export function alloc_pages(order: i32): usize {
  const addr = __alloc_pages(order);
  if (addr == 0) return 0;
  if (DEBUG) kasan_unpoison(addr, (<usize>PAGE_SIZE) << order);
  return addr;
}

/**
 * Mirrors `free_pages()` (mm/page_alloc.c). NULL is ignored. A block that is
 * already free, was not allocated by alloc_pages(), or is freed with another
 * order is not touched: it is reported as "double-free or invalid-free"
 * through the KASAN report ring (in every build) and mm_errno() is -22.
 */
export function free_pages(addr: usize, order: i32): void {
  if (addr == 0) return;
  const sp = (addr & (<usize>PAGE_SIZE - 1)) == 0 ? virt_to_page(addr) : 0;
  if (sp == 0 || order < 0 || order >= MAX_ORDER || changetype<StructPage>(sp).flags != page_flags(PG_ALLOC, order)) {
    const dbl = sp != 0 && page_state(sp) == PG_BUDDY && changetype<StructPage>(sp).head == addr;
    kasan_report_free(dbl ? KASAN_KIND_DOUBLE_FREE : KASAN_KIND_INVALID_FREE, addr, 3, 0, order);
    set_errno(EINVAL);
    return;
  }
  if (DEBUG) kasan_poison(addr, (<usize>PAGE_SIZE) << order, KASAN_FREE_PAGE);
  __free_pages(addr, order);
}

/**
 * Sets the most pages that may be allocated at once (slab pages included).
 * @param nr_pages 0 .. 2^19
 * @returns the previous limit, or -22 for a bad value
 */
export function page_alloc_set_limit(nr_pages: i32): i32 {
  if (nr_pages < 0 || nr_pages > DEFAULT_LIMIT) return -EINVAL;
  const old = nr_limit;
  nr_limit = nr_pages;
  return old;
}

/** @returns the current limit on allocated pages. */
export function page_alloc_limit(): i32 {
  return nr_limit;
}

/** @returns pages currently allocated (alloc_pages blocks and slab pages). */
export function page_alloc_nr_used(): i32 {
  return nr_used;
}

/** @returns pages the allocator has taken from memory.grow so far. */
export function page_alloc_nr_managed(): i32 {
  return nr_managed;
}

/** Mirrors `free_area[order].nr_free`. @returns free blocks of `order`, or -22 */
export function page_alloc_nr_free(order: i32): i32 {
  if (order < 0 || order >= MAX_ORDER) return -EINVAL;
  return load<i32>(NR_FREE + (<usize>order << 2));
}

/** @returns bytes of allocator metadata (mem_map sections, KASAN shadow). */
export function page_alloc_meta_bytes(): i32 {
  return <i32>meta_bytes;
}

/**
 * The allocated block containing `addr` (head struct page with PG_ALLOC or
 * PG_BUDDY whose extent covers it), found by walking back at most 2^10 pages.
 * For reports only. @returns the struct page, or 0
 */
export function find_block_head(addr: usize): usize {
  const page = addr & ~(<usize>PAGE_SIZE - 1);
  for (let i: usize = 0; i < (<usize>1 << (MAX_ORDER - 1)); i++) {
    const a = page - (i << PAGE_SHIFT);
    if (a > page) break;
    const sp = virt_to_page(a);
    if (sp == 0) return 0;
    const st = page_state(sp);
    if (st != PG_NONE) {
      if (changetype<StructPage>(sp).head != a) return 0;
      if (i >= (<usize>1 << page_order(sp))) return 0;
      return sp;
    }
  }
  return 0;
}
