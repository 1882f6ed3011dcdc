// kmemleak-style tracking of live slab objects (mm/kmemleak.c, in miniature).
//
// Each allocation records its site id and requested size in its slab's
// management area (slab.ts). DEBUG builds always record; release records
// while kmemleak_set_enabled(1) (the default) and otherwise marks objects
// SLOT_LIVE without site or size. There is no scanning for references: the
// TS side lists live objects with kmemleak_first()/kmemleak_next() and decides
// what is a leak (at teardown, everything still live is one).
//
// Iteration order: caches by id, then each cache's full slabs, then its
// partial slabs, then slots by index. Allocating or freeing in between may
// skip or repeat objects; collect a listing in one go.

import { EINVAL } from "./page_alloc";
import {
  cache_at,
  cache_get,
  KmemCache,
  kmemleak_on,
  set_kmemleak_on,
  LIST_FULL,
  MAX_CACHES,
  obj_index,
  Slab,
  slab_of,
  slot_addr,
  slot_state,
  SLOT_LIVE,
  SLOT_TRACKED,
} from "./slab";

@inline
function is_live(st: u8): bool {
  return st == SLOT_LIVE || st == SLOT_TRACKED;
}

/** First live object at slot ≥ from in slab sa, then in the slabs after it. */
function scan_cache_from(c: KmemCache, sa: usize, from: u32): usize {
  while (sa != 0) {
    for (let i = from; i < c.objects; i++) {
      if (is_live(slot_state(sa, i))) return slot_addr(c, sa, i);
    }
    const s = changetype<Slab>(sa);
    sa = s.next != 0 ? s.next : (s.list == LIST_FULL ? c.partial : 0);
    from = 0;
  }
  return 0;
}

@inline
function first_slab(c: KmemCache): usize {
  return c.full != 0 ? c.full : c.partial;
}

function scan_from_cache(id: i32): usize {
  for (; id < MAX_CACHES; id++) {
    const c = cache_get(id);
    if (c === null) continue;
    const p = scan_cache_from(c, first_slab(c), 0);
    if (p != 0) return p;
  }
  return 0;
}

/** Mirrors the kmemleak object list walk: @returns the first live object, or 0 */
export function kmemleak_first(): usize {
  return scan_from_cache(1);
}

/** @returns the live object after `cursor` (a value kmemleak_first/next returned), or 0 at the end or for a stale cursor */
export function kmemleak_next(cursor: usize): usize {
  const sa = slab_of(cursor);
  if (sa == 0) return 0;
  const id = <i32>changetype<Slab>(sa).cache;
  const c = cache_at(id);
  const i = obj_index(c, sa, cursor);
  if (i < 0) return 0;
  const p = scan_cache_from(c, sa, <u32>i + 1);
  return p != 0 ? p : scan_from_cache(id + 1);
}

/** @returns the first live object of one cache, or 0 (then continue with kmemleak_next while slab_obj_cache matches) */
export function slab_cache_first_object(cache: i32): usize {
  const c = cache_get(cache);
  return c === null ? 0 : scan_cache_from(c, first_slab(c), 0);
}

/** The slot index of a live object, or -1; sets `found_sa`. */
let found_sa: usize = 0;
function live_index(ptr: usize): i32 {
  const sa = slab_of(ptr);
  if (sa == 0) return -1;
  const i = obj_index(cache_at(<i32>changetype<Slab>(sa).cache), sa, ptr);
  if (i < 0 || !is_live(slot_state(sa, <u32>i))) return -1;
  found_sa = sa;
  return i;
}

/** @returns the cache id of a live object, or -22 */
export function slab_obj_cache(ptr: usize): i32 {
  return live_index(ptr) < 0 ? -EINVAL : <i32>changetype<Slab>(found_sa).cache;
}

/** @returns the recorded (requested) size of a live object; the cache's object size when untracked; or -22 */
export function slab_obj_size(ptr: usize): i32 {
  const i = live_index(ptr);
  if (i < 0) return -EINVAL;
  const c = cache_at(<i32>changetype<Slab>(found_sa).cache);
  if (slot_state(found_sa, <u32>i) != SLOT_TRACKED) return <i32>c.object_size;
  return <i32>load<u32>(found_sa + c.off_size + (<u32>i << 2));
}

/** @returns the allocation-site id of a live object (0 = untracked), or -22 */
export function slab_obj_site(ptr: usize): i32 {
  const i = live_index(ptr);
  if (i < 0) return -EINVAL;
  if (slot_state(found_sa, <u32>i) != SLOT_TRACKED) return 0;
  const c = cache_at(<i32>changetype<Slab>(found_sa).cache);
  return <i32>load<u16>(found_sa + c.off_site + (<u32>i << 1));
}

/**
 * Switches tracking for later allocations (release builds; DEBUG always tracks).
 * @returns the state now in effect, 1 or 0
 */
export function kmemleak_set_enabled(on: i32): i32 {
  if (!DEBUG) set_kmemleak_on(on != 0);
  return kmemleak_enabled();
}

/** @returns 1 when allocations are being tracked. */
export function kmemleak_enabled(): i32 {
  return DEBUG || kmemleak_on ? 1 : 0;
}
