// The KASAN quarantine (mm/kasan/quarantine.c), simplified to one FIFO.
//
// In DEBUG builds a freed slab object is poisoned (KASAN_KMALLOC_FREE) and
// parked here instead of going back to its slab, so a use-after-free through
// a checked accessor hits poison rather than a new owner's object. When the
// FIFO holds QUARANTINE_MAX objects or QUARANTINE_MAX_BYTES, the oldest goes
// back to its slab's free stack (still poisoned until it is handed out again).
// Release builds never call in here.
//
//   RING (static): QUARANTINE_MAX object addresses, oldest at q_head

import { quarantine_release, slab_cache_of } from "./slab";

const QUARANTINE_MAX: u32 = 256;
const QUARANTINE_MAX_BYTES: usize = 1 << 20;
const RING: usize = memory.data(<i32>(QUARANTINE_MAX * 4), 16);

let q_head: u32 = 0;
let q_count: u32 = 0;
let q_bytes: usize = 0;

@inline
function ring_at(i: u32): usize {
  return RING + (<usize>((q_head + i) % QUARANTINE_MAX) << 2);
}

function evict_oldest(): void {
  const ptr = load<usize>(ring_at(0));
  q_head = (q_head + 1) % QUARANTINE_MAX;
  q_count--;
  q_bytes -= quarantine_release(ptr);
}

/** Mirrors `quarantine_put()`: parks a freed object of `bytes` (its slot stride). */
export function quarantine_put(ptr: usize, bytes: u32): void {
  while (q_count == QUARANTINE_MAX || (q_count > 0 && q_bytes + bytes > QUARANTINE_MAX_BYTES)) evict_oldest();
  store<usize>(ring_at(q_count), ptr);
  q_count++;
  q_bytes += bytes;
}

/** Mirrors `quarantine_remove_cache()`: releases every parked object of one cache, keeping the others in order. */
export function quarantine_remove_cache(cache: i32): void {
  let kept: u32 = 0;
  const n = q_count;
  for (let i: u32 = 0; i < n; i++) {
    const ptr = load<usize>(ring_at(i));
    if (slab_cache_of(ptr) == cache) {
      q_bytes -= quarantine_release(ptr);
    } else {
      store<usize>(ring_at(kept), ptr);
      kept++;
    }
  }
  q_count = kept;
}

/** Releases every quarantined object (tests use it to recycle slots on purpose). */
export function kasan_quarantine_drain(): void {
  while (q_count > 0) evict_oldest();
}

/** @returns objects waiting in the quarantine (always 0 in release). */
export function kasan_quarantine_count(): i32 {
  return <i32>q_count;
}
