// kmalloc(): size-class caches kmalloc-32 … kmalloc-8192 (mm/slab_common.c,
// include/linux/slab.h), created when the instance starts, ids 1..11 in
// size order. Objects are 8-aligned (ARCH_KMALLOC_MINALIGN).
//
// Differences from v4.4 SLUB: no kmalloc-8/-16 (the smallest class is 32),
// and sizes above KMALLOC_MAX_SIZE = 8192 (KMALLOC_MAX_CACHE_SIZE) fail with
// EINVAL instead of falling through to the page allocator; use alloc_pages()
// for larger buffers.

import { EINVAL, set_errno } from "./page_alloc";
import { cache_at, cache_setup, CACHE_KMALLOC, slab_alloc, slab_cache_of, slab_free, SITE_KFREE } from "./slab";

/** The largest kmalloc() size. */
export const KMALLOC_MAX_SIZE: i32 = 8192;
/** Mirrors `ZERO_SIZE_PTR`: what kmalloc(0) returns; kfree() ignores it. */
export const ZERO_SIZE_PTR: usize = 16;
/** Number of kmalloc caches; their ids are 1 .. NR_KMALLOC_CACHES. */
export const NR_KMALLOC_CACHES: i32 = 11;

const SIZES: usize = memory.data<u16>([32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192]);

/** Mirrors `kmem_cache_init()`'s create_kmalloc_caches(): runs once, at instantiation. */
function create_kmalloc_caches(): void {
  for (let i = 0; i < NR_KMALLOC_CACHES; i++) {
    cache_setup(i + 1, <i32>load<u16>(SIZES + (<usize>i << 1)), 8, 0, CACHE_KMALLOC);
  }
}
create_kmalloc_caches();

/** Mirrors `kmalloc_index()`: the cache id serving `size` (1 ≤ size ≤ KMALLOC_MAX_SIZE). */
@inline
function kmalloc_index(size: i32): i32 {
  if (size <= 32) return 1;
  if (size <= 64) return 2;
  if (size <= 96) return 3;
  if (size <= 128) return 4;
  if (size <= 192) return 5;
  if (size <= 256) return 6;
  return 32 - clz<i32>(size - 1) - 9 + 7;
}

/**
 * Mirrors `kmalloc()` (include/linux/slab.h).
 *
 * @param size bytes, 0 .. KMALLOC_MAX_SIZE
 * @param site allocation-site id recorded for kmemleak
 * @returns the object; ZERO_SIZE_PTR for size 0; 0 on failure (mm_errno():
 *   -22 negative or too large, -12 no memory or fault injected)
 */
export function kmalloc(size: i32, site: i32): usize {
  if (size < 0 || size > KMALLOC_MAX_SIZE) {
    set_errno(EINVAL);
    return 0;
  }
  if (size == 0) return ZERO_SIZE_PTR;
  const id = kmalloc_index(size);
  return slab_alloc(cache_at(id), id, site, <u32>size);
}

/** Mirrors `kzalloc()`: kmalloc() with the `size` bytes zeroed. */
export function kzalloc(size: i32, site: i32): usize {
  const p = kmalloc(size, site);
  if (p > ZERO_SIZE_PTR) memory.fill(p, 0, <usize>size);
  return p;
}

/**
 * Mirrors `kfree()` (mm/slub.c). NULL and ZERO_SIZE_PTR are ignored. A
 * foreign, interior or already freed pointer is reported ("double-free or
 * invalid-free", KASAN report ring, every build), mm_errno() becomes -22, and
 * nothing is changed.
 */
export function kfree(ptr: usize): void {
  if (ptr <= ZERO_SIZE_PTR) return;
  slab_free(0, ptr, SITE_KFREE);
}

/** Mirrors `ksize()`: the usable size of the object's slot. @returns bytes, or -22 when ptr is not in a slab */
export function ksize(ptr: usize): i32 {
  const id = slab_cache_of(ptr);
  return id == 0 ? -EINVAL : <i32>cache_at(id).object_size;
}

/** @returns the kmalloc cache id that serves `size`, or -22 (for the TS name table) */
export function kmalloc_cache_id(size: i32): i32 {
  if (size < 1 || size > KMALLOC_MAX_SIZE) return -EINVAL;
  return kmalloc_index(size);
}
