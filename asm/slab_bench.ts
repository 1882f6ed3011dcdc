// Benchmark loops for bench/slab.bench.ts, run entirely inside WASM so the
// figures measure the allocator, not the JS → WASM call. Each loop touches
// the object it got (one byte store) and folds its address into the result,
// so the optimizer keeps every allocation.
//
// The baseline is a plain bump allocator over one 64 KiB block: alloc bumps a
// pointer (wrapping at the end), free pops it when it was the last one.

import { alloc_pages } from "./page_alloc";
import { kmem_cache_alloc, kmem_cache_free, SITE_BENCH } from "./slab";
import { kfree, kmalloc } from "./slab_kmalloc";

const BUMP_ORDER: i32 = 4;
let bump_start: usize = 0;
let bump_end: usize = 0;
let bump_top: usize = 0;

@inline
function bump_alloc(size: usize): usize {
  let p = bump_top;
  if (p + size > bump_end) p = bump_start;
  bump_top = p + size;
  return p;
}

@inline
function bump_free(p: usize, size: usize): void {
  if (p + size == bump_top) bump_top = p;
}

/** n kmem_cache_alloc() + kmem_cache_free() pairs on one cache. @returns a checksum, or -12 when an allocation fails */
export function bench_slab_pairs(cache: i32, n: i32): i32 {
  let acc: usize = 0;
  for (let i = 0; i < n; i++) {
    const p = kmem_cache_alloc(cache, SITE_BENCH);
    if (p == 0) return -12;
    store<u8>(p, <u8>i);
    acc += p;
    kmem_cache_free(cache, p);
  }
  return <i32>acc;
}

/** n kmalloc(size) + kfree() pairs. @returns a checksum, or -12 */
export function bench_kmalloc_pairs(size: i32, n: i32): i32 {
  let acc: usize = 0;
  for (let i = 0; i < n; i++) {
    const p = kmalloc(size, SITE_BENCH);
    if (p == 0) return -12;
    store<u8>(p, <u8>i);
    acc += p;
    kfree(p);
  }
  return <i32>acc;
}

/** n bump alloc + free pairs of `size` bytes (1 .. 65536). @returns a checksum, or -12 / -22 */
export function bench_bump_pairs(size: i32, n: i32): i32 {
  if (size < 1 || size > (4096 << BUMP_ORDER)) return -22;
  if (bump_start == 0) {
    bump_start = alloc_pages(BUMP_ORDER);
    if (bump_start == 0) return -12;
    bump_end = bump_start + (4096 << BUMP_ORDER);
    bump_top = bump_start;
  }
  let acc: usize = 0;
  for (let i = 0; i < n; i++) {
    const p = bump_alloc(<usize>size);
    store<u8>(p, <u8>i);
    acc += p;
    bump_free(p, <usize>size);
  }
  return <i32>acc;
}
