// KASAN-style checking (mm/kasan/): shadow memory, checked accessors, and the
// report ring through which every memory BUG leaves WASM.
//
// Scheme: generic KASAN's. One shadow byte describes 8 bytes of memory (a
// granule): 0 = all 8 accessible, 1..7 = only the first k, a negative value =
// none, and which negative value says why (freed page, page redzone, slab
// redzone, freed object). Shadow exists only for memory the page allocator
// manages: when it grows a 64 KiB chunk it allocates the chunk's 8 KiB of
// shadow from the metadata arena and files it in the mem_map section
// (page_alloc.ts), so the lookup is two loads and an add; anything else
// (static data, the host window, metadata) has no shadow and is not checked.
//
// Who writes shadow: alloc_pages() unpoisons, free_pages() poisons
// KASAN_FREE_PAGE; a new slab is all KASAN_KMALLOC_REDZONE, an allocated
// object is unpoisoned for exactly its requested size (so kmalloc(13) from
// kmalloc-32 faults at byte 13), a freed object becomes KASAN_KMALLOC_FREE and
// waits in the quarantine (slab.ts), so a use-after-free is caught until the
// slot is handed out again. kasan_guard() narrows an allocation to a bounded
// buffer: the rest of it turns into redzone.
//
// Only accesses made through the checked accessors below are checked (the
// kernel instruments every access at compile time; AssemblyScript cannot).
// A failing check writes a report and returns -EFAULT without touching the
// memory. All checks vanish in release (`if (DEBUG)`); the report ring itself
// stays, because double and invalid frees are caught in every build.

import {
  EFAULT,
  EINVAL,
  find_block_head,
  meta_alloc,
  PAGE_SIZE,
  page_order,
  page_state,
  PG_ALLOC,
  PG_BUDDY,
  PG_SLAB,
  SECTION_SHADOW_DIR,
  section_of,
  StructPage,
  virt_to_page,
} from "./page_alloc";
import { slab_describe, slab_guard } from "./slab";

/** Shadow values, as in mm/kasan/kasan.h (v4.4). */
export const KASAN_FREE_PAGE: u8 = 0xff;
export const KASAN_PAGE_REDZONE: u8 = 0xfe;
export const KASAN_KMALLOC_REDZONE: u8 = 0xfc;
export const KASAN_KMALLOC_FREE: u8 = 0xfb;

const GRANULE_SHIFT: usize = 3;
const GRANULE: usize = 1 << GRANULE_SHIFT;
const CHUNK_SHIFT: usize = 16;
const CHUNK_BYTES: usize = 1 << CHUNK_SHIFT;
const CHUNK_MASK: usize = CHUNK_BYTES - 1;
const CHUNK_SHADOW_BYTES: usize = CHUNK_BYTES >> GRANULE_SHIFT;
/**
 * Below this address an access is a NULL dereference: the kernel's
 * ZERO_OR_NULL_PTR() bound. Static data may start as low as 16 (the debug
 * build puts the host window there), so nothing larger is safe.
 */
export const NULL_LIMIT: usize = 16;

/** Report kinds; ts/kernel/kasan.ts maps them to the kernel's bug-type strings. */
export const KASAN_KIND_SLAB_OOB: u32 = 1;
export const KASAN_KIND_OOB: u32 = 2;
export const KASAN_KIND_UAF: u32 = 3;
export const KASAN_KIND_DOUBLE_FREE: u32 = 4;
export const KASAN_KIND_INVALID_FREE: u32 = 5;
export const KASAN_KIND_WRONG_CACHE: u32 = 6;
export const KASAN_KIND_NULL_DEREF: u32 = 7;
export const KASAN_KIND_WILD: u32 = 8;

/**
 * One report, read by ts/kernel/kasan.ts (offsets are part of the ABI).
 *
 *   0     4     8     12     16    20      24       28     32          36    40      44
 *   +-----+-----+-----+------+-----+-------+--------+------+-----------+-----+-------+-----+
 *   |kind |addr |size |write |site |object |obj_size|cache |alloc_site |arg  |shadow |seq  |
 *   +-----+-----+-----+------+-----+-------+--------+------+-----------+-----+-------+-----+
 *   addr = first bad byte; object = the nearest object or page block (0 =
 *   none), obj_size its accessible size; cache = 0 for page blocks;
 *   arg = expected cache (wrong cache) or page order (free_pages).
 */
@unmanaged
export class KasanReport {
  kind: u32;
  addr: usize;
  size: u32;
  is_write: u32;
  site: u32;
  object: usize;
  obj_size: u32;
  cache: u32;
  alloc_site: u32;
  arg: i32;
  shadow: u32;
  seq: u32;
}

const REPORT_SIZE: usize = 48;
const REPORT_RING: u32 = 16;
const REPORTS: usize = memory.data(<i32>(REPORT_SIZE * REPORT_RING), 16);
let report_head: u32 = 0;
let report_count: u32 = 0;
let report_seq: u32 = 0;
let report_lost: u32 = 0;

// ---------------------------------------------------------------------------
// Shadow

/** Allocates and poisons (KASAN_FREE_PAGE) the shadow of a grown chunk [base, end). */
export function kasan_shadow_init(base: usize, end: usize): bool {
  for (let a = base; a < end; a += CHUNK_BYTES) {
    const chunk = meta_alloc(CHUNK_SHADOW_BYTES);
    if (chunk == 0) return false;
    memory.fill(chunk, KASAN_FREE_PAGE, CHUNK_SHADOW_BYTES);
    store<usize>(section_of(a) + SECTION_SHADOW_DIR + (((a >> CHUNK_SHIFT) & 63) << 2), chunk);
  }
  return true;
}

/** Mirrors `kasan_mem_to_shadow()`. @returns the shadow byte's address, or 0 for unshadowed memory */
@inline
function mem_to_shadow(addr: usize): usize {
  const sec = section_of(addr);
  if (sec == 0) return 0;
  const chunk = load<usize>(sec + SECTION_SHADOW_DIR + (((addr >> CHUNK_SHIFT) & 63) << 2));
  if (chunk == 0) return 0;
  return chunk + ((addr & CHUNK_MASK) >> GRANULE_SHIFT);
}

/** Sets the shadow of the granules covering [addr, addr + size) to `value`; addr 8-aligned. */
function shadow_fill(addr: usize, size: usize, value: u8): void {
  let g = (size + GRANULE - 1) >> GRANULE_SHIFT;
  while (g > 0) {
    const room = (CHUNK_BYTES - (addr & CHUNK_MASK)) >> GRANULE_SHIFT;
    const n = g < room ? g : room;
    const sp = mem_to_shadow(addr);
    if (sp != 0) memory.fill(sp, value, n);
    addr += n << GRANULE_SHIFT;
    g -= n;
  }
}

/** Mirrors `kasan_poison_shadow()`: [addr, addr + size) becomes `value` (addr 8-aligned). */
export function kasan_poison(addr: usize, size: usize, value: u8): void {
  if (DEBUG) shadow_fill(addr, size, value);
}

/** Mirrors `kasan_unpoison_shadow()`: exactly [addr, addr + size) becomes accessible (addr 8-aligned). */
export function kasan_unpoison(addr: usize, size: usize): void {
  if (!DEBUG) return;
  shadow_fill(addr, size & ~(GRANULE - 1), 0);
  if ((size & (GRANULE - 1)) != 0) {
    const sp = mem_to_shadow(addr + (size & ~(GRANULE - 1)));
    if (sp != 0) store<u8>(sp, <u8>(size & (GRANULE - 1)));
  }
}

/** @returns the shadow byte of `addr` (0 when unshadowed). */
@inline
function shadow_of(addr: usize): u8 {
  const sp = mem_to_shadow(addr);
  return sp == 0 ? 0 : load<u8>(sp);
}

/** Whether the single byte at `addr` is poisoned. */
@inline
function byte_poisoned(addr: usize): bool {
  const s = <i8>shadow_of(addr);
  return s != 0 && (s < 0 || <i8>(addr & (GRANULE - 1)) >= s);
}

/** Mirrors `memory_is_poisoned()`. @returns the first bad address, or 0 */
function first_bad_addr(addr: usize, size: usize): usize {
  const end = addr + size;
  let g = addr & ~(GRANULE - 1);
  while (g < end) {
    const s = <i8>shadow_of(g);
    if (s != 0) {
      const lo = g > addr ? g : addr;
      const hi = g + GRANULE < end ? g + GRANULE : end;
      if (s < 0) return lo;
      if (hi - g > <usize>s) return lo > g + <usize>s ? lo : g + <usize>s;
    }
    g += GRANULE;
  }
  return 0;
}

// ---------------------------------------------------------------------------
// Report ring

function report_slot(): KasanReport {
  if (report_count == REPORT_RING) {
    report_head = (report_head + 1) % REPORT_RING;
    report_count--;
    report_lost++;
  }
  const i = (report_head + report_count) % REPORT_RING;
  report_count++;
  const r = changetype<KasanReport>(REPORTS + REPORT_SIZE * <usize>i);
  memory.fill(changetype<usize>(r), 0, REPORT_SIZE);
  r.seq = ++report_seq;
  return r;
}

/**
 * Files a "double-free or invalid-free" (or wrong-cache) report for a free of
 * `addr` by `site`. Slab objects are described by slab_describe().
 */
export function kasan_report_free(kind: u32, addr: usize, site: i32, expect_cache: i32, arg: i32): void {
  const r = report_slot();
  r.kind = kind;
  r.addr = addr;
  r.site = <u32>site;
  r.arg = kind == KASAN_KIND_WRONG_CACHE ? expect_cache : arg;
  describe(r, addr);
}

/** Fills the object fields of a report from the allocation containing `addr`. */
function describe(r: KasanReport, addr: usize): void {
  if (slab_describe(changetype<usize>(r), addr)) return;
  const sp = find_block_head(addr);
  if (sp == 0) return;
  const head = changetype<StructPage>(sp).head;
  const bytes = (<usize>PAGE_SIZE) << page_order(sp);
  r.object = head;
  if (page_state(sp) == PG_ALLOC) {
    let n: usize = 0;
    if (DEBUG) {
      while (n < bytes && !byte_poisoned(head + n)) n++;
    } else {
      n = bytes;
    }
    r.obj_size = <u32>n;
  } else {
    r.obj_size = <u32>bytes;
  }
  if (r.arg == 0) r.arg = page_order(sp);
}

/** Mirrors `kasan_report()`: classifies a bad access by its shadow, as report_generic.c does. */
function report_access(bad: usize, size: usize, is_write: bool, site: i32): void {
  const r = report_slot();
  r.addr = bad;
  r.size = <u32>size;
  r.is_write = is_write ? 1 : 0;
  r.site = <u32>site;
  if (bad < NULL_LIMIT) {
    r.kind = KASAN_KIND_NULL_DEREF;
    return;
  }
  let s = shadow_of(bad);
  if (s > 0 && s < <u8>GRANULE) s = shadow_of((bad & ~(GRANULE - 1)) + GRANULE);
  r.shadow = s;
  const sp = virt_to_page(bad);
  const slab = sp != 0 && page_state(sp) == PG_SLAB;
  if (s == KASAN_KMALLOC_FREE || s == KASAN_FREE_PAGE) r.kind = KASAN_KIND_UAF;
  else r.kind = slab ? KASAN_KIND_SLAB_OOB : KASAN_KIND_OOB;
  describe(r, bad);
  if (sp != 0 && page_state(sp) == PG_BUDDY) r.kind = KASAN_KIND_UAF;
}

/** @returns the number of reports waiting to be read. */
export function kasan_report_count(): i32 {
  return <i32>report_count;
}

/** @returns the address of the oldest unread report (see KasanReport), or 0. */
export function kasan_report_peek(): usize {
  if (report_count == 0) return 0;
  return REPORTS + REPORT_SIZE * <usize>report_head;
}

/** Drops the oldest unread report. */
export function kasan_report_pop(): void {
  if (report_count == 0) return;
  report_head = (report_head + 1) % REPORT_RING;
  report_count--;
}

/** @returns reports overwritten before anyone read them. */
export function kasan_report_lost(): i32 {
  return <i32>report_lost;
}

/** @returns 1 when this build checks accesses (DEBUG), 0 in release. */
export function kasan_enabled(): i32 {
  return DEBUG ? 1 : 0;
}

// ---------------------------------------------------------------------------
// Checked accesses

/**
 * Mirrors `check_memory_region()` (mm/kasan/kasan.c): checks an access of
 * `size` bytes at `addr` made by `site`.
 * @returns 0 when allowed (always in release), -14 EFAULT after filing a
 *   report, -22 for a negative size
 */
export function kasan_check(addr: usize, size: i32, is_write: bool, site: i32): i32 {
  if (!DEBUG) return 0;
  if (size < 0) return -EINVAL;
  if (size == 0) return 0;
  if (addr < NULL_LIMIT) {
    report_access(addr, <usize>size, is_write, site);
    return -EFAULT;
  }
  const end = <u64>addr + <u64>size;
  if (end > (<u64>memory.size() << 16)) {
    const r = report_slot();
    r.kind = KASAN_KIND_WILD;
    r.addr = addr;
    r.size = <u32>size;
    r.is_write = is_write ? 1 : 0;
    r.site = <u32>site;
    return -EFAULT;
  }
  const bad = first_bad_addr(addr, <usize>size);
  if (bad == 0) return 0;
  report_access(bad, <usize>size, is_write, site);
  return -EFAULT;
}

/** Mirrors `__asan_loadN()`. @returns 0, -14 (reported) or -22 */
export function kasan_load(addr: usize, size: i32, site: i32): i32 {
  return kasan_check(addr, size, false, site);
}

/** Mirrors `__asan_storeN()`. @returns 0, -14 (reported) or -22 */
export function kasan_store(addr: usize, size: i32, site: i32): i32 {
  return kasan_check(addr, size, true, site);
}

/** Checked byte store: writes only when the check passes. @returns 0 or -14 */
export function kasan_store_u8(addr: usize, value: i32, site: i32): i32 {
  const e = kasan_check(addr, 1, true, site);
  if (e < 0) return e;
  store<u8>(addr, <u8>value);
  return 0;
}

/** Checked 32-bit store: writes only when the check passes. @returns 0 or -14 */
export function kasan_store_u32(addr: usize, value: u32, site: i32): i32 {
  const e = kasan_check(addr, 4, true, site);
  if (e < 0) return e;
  store<u32>(addr, value);
  return 0;
}

/** Checked byte load. @returns the byte 0..255, or -14 */
export function kasan_load_u8(addr: usize, site: i32): i32 {
  const e = kasan_check(addr, 1, false, site);
  if (e < 0) return e;
  return <i32>load<u8>(addr);
}

/** Checked `memset()`. @returns 0, -14 (nothing written) or -22 */
export function kasan_memset(addr: usize, value: i32, n: i32, site: i32): i32 {
  const e = kasan_check(addr, n, true, site);
  if (e < 0) return e;
  memory.fill(addr, <u8>value, <usize>n);
  return 0;
}

/** Checked `memcpy()` (source read, then destination write). @returns 0, -14 (nothing written) or -22 */
export function kasan_memcpy(dst: usize, src: usize, n: i32, site: i32): i32 {
  let e = kasan_check(src, n, false, site);
  if (e < 0) return e;
  e = kasan_check(dst, n, true, site);
  if (e < 0) return e;
  memory.copy(dst, src, <usize>n);
  return 0;
}

/**
 * Guards a bounded buffer: exactly [addr, addr + size) of the allocation that
 * starts at `addr` stays accessible and the rest of it becomes redzone, so an
 * overrun is reported (slab-out-of-bounds for a slab object, out-of-bounds for
 * an alloc_pages() block). For a slab object it also becomes the object's
 * recorded size. E.g. a sysfs PAGE_SIZE buffer: alloc_pages(1), then
 * kasan_guard(buf, 4096).
 *
 * @param addr a live slab object, or a block from alloc_pages()
 * @param size 0 .. the allocation's size
 * @returns 0, or -22 when addr starts no live allocation or size does not fit
 */
export function kasan_guard(addr: usize, size: i32): i32 {
  if (size < 0 || addr == 0) return -EINVAL;
  const g = slab_guard(addr, size);
  if (g != 1) return g;
  if ((addr & (<usize>PAGE_SIZE - 1)) != 0) return -EINVAL;
  const sp = virt_to_page(addr);
  if (sp == 0 || page_state(sp) != PG_ALLOC) return -EINVAL;
  const bytes = (<usize>PAGE_SIZE) << page_order(sp);
  if (<usize>size > bytes) return -EINVAL;
  if (DEBUG) {
    kasan_poison(addr, bytes, KASAN_PAGE_REDZONE);
    kasan_unpoison(addr, <usize>size);
  }
  return 0;
}
