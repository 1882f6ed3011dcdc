// SPDX-License-Identifier: GPL-2.0-only
// Bios: the records of block/bio.c, include/linux/bio.h and
// include/linux/blk_types.h (Linux v4.4) in linear memory. struct bio with
// BIO_INLINE_VECS inline bio_vecs after it, bio_vec arrays from the bvec
// slabs, and the functions that only touch those records: init/reset, the
// tail of bio_alloc_bioset(), bvec size classes, add_page, segments, advance,
// chain/endio (bi_remaining), get/put (bi_cnt) and the clone half of split.
//
// Allocation and freeing mostly go through the TypeScript side
// (ts/block/bio.ts): mempools must wake their sleepers, and only TS can
// sleep. So bio_put() here only drops the reference and says when the bio is
// to be freed, and bio_endio_step() does one step of bio_endio()'s loop,
// leaving the end_io callbacks (TS functions, kept in a table by id) and the
// put of a chained child to the caller. bio_put_free() is bio_put() with the
// free of a bio whose vecs are inline: back to its bio_set's mempool, the
// caller told when that refilled the reserve (its waiters sleep on the TS
// side); a bio with vecs of its own is left to the TS side's bio_free(),
// which knows the bvec slabs. The aio DIO bio (asm/aio.ts) ends here: its
// end_io, BIO_END_IO_AIO, runs in the core and puts the bio that way; so
// does a synchronous dio's (BIO_END_IO_DIO, asm/dio.ts), which lists it.
//
// A bio whose __bi_cnt is 0 has been freed: bio_put() clears it when it
// drops the last reference (the kernel leaves it alone), so a second put is
// caught in every build and reported as KASAN's "double-free or
// invalid-free" instead of freeing twice; the other functions return -EINVAL
// (a BUG on the TS side). Pointers are range-checked first, so no call traps.

import { EINVAL, set_errno } from "./page_alloc";
import { KASAN_KIND_DOUBLE_FREE, kasan_report_free } from "./kasan";
import { atomic_add_return, atomic_read, atomic_set } from "./sbitmap";
import { host_bio_end_io, host_bio_put } from "./host";
import { in_memory } from "./request";
import { dio_bio_end_aio } from "./aio";
import { dio_bio_end_io } from "./dio";
import { mempool_alloc_owned, mempool_free_owned, mempool_live } from "./mempool";

// ---------------------------------------------------------------------------
// Constants (include/linux/bio.h, include/linux/blk_types.h, block/bio.c, v4.4)
// ---------------------------------------------------------------------------

/** `BIO_INLINE_VECS`: bio_vecs that live right after the bio in its slab object. */
export const BIO_INLINE_VECS: i32 = 4;
/** `BIO_MAX_PAGES`: the most bio_vecs one bio can hold. */
export const BIO_MAX_PAGES: i32 = 256;
/** `BIOVEC_NR_POOLS`: bvec size classes 1, 4, 16, 64, 128, 256. */
export const BIOVEC_NR_POOLS: i32 = 6;
/** `BIOVEC_MAX_IDX`: the class that is also mempool backed (biovec-256). */
export const BIOVEC_MAX_IDX: i32 = BIOVEC_NR_POOLS - 1;

// bi_flags bits (v4.4; bit 0 was BIO_UPTODATE before v4.3).
export const BIO_SEG_VALID: u32 = 1;
export const BIO_CLONED: u32 = 2;
export const BIO_BOUNCED: u32 = 3;
export const BIO_USER_MAPPED: u32 = 4;
export const BIO_NULL_MAPPED: u32 = 5;
export const BIO_QUIET: u32 = 6;
export const BIO_CHAIN: u32 = 7;
export const BIO_REFFED: u32 = 8;
/** `BIO_RESET_BITS`: bio_reset() keeps flag bits from here up. */
export const BIO_RESET_BITS: u32 = 13;
/** `BIO_OWNS_VEC`: bio_free() must free bi_io_vec. */
export const BIO_OWNS_VEC: u32 = 13;
/** `BIO_POOL_BITS`, `BIO_POOL_OFFSET`: the bvec class sits in the top 4 bits. */
export const BIO_POOL_BITS: u32 = 4;
export const BIO_POOL_OFFSET: u32 = 32 - BIO_POOL_BITS;
/** `BIO_POOL_NONE`: no bvec class (inline vecs or none). */
export const BIO_POOL_NONE: u32 = (1 << BIO_POOL_BITS) - 1;

// bi_rw bits this file looks at (enum rq_flag_bits, v4.4).
const REQ_DISCARD: u32 = 1 << 7;
const REQ_WRITE_SAME: u32 = 1 << 9;

/** bi_end_io id of `bio_chain_endio()`; 0 is "no end_io"; TS numbers the rest from 4. */
export const BIO_END_IO_CHAIN: u32 = 1;
/** bi_end_io id of `dio_bio_end_aio()` (asm/aio.ts), which the core runs itself. */
export const BIO_END_IO_AIO: u32 = 2;
/** bi_end_io id of `dio_bio_end_io()` (asm/dio.ts), which the core runs itself. */
export const BIO_END_IO_DIO: u32 = 3;

// The bio_set record ts/block/bio.ts writes: front_pad, the bio slab's id,
// bio_pool and bvec_pool (include/linux/bio.h's struct bio_set, in part).
export const BIOSET_FRONT_PAD: usize = 0;
export const BIOSET_BIO_POOL: usize = 8;

/** bio_add_page() on a cloned bio (the kernel WARNs and returns 0). */
const ADD_CLONED: i32 = -1;
/** bio_advance() past bi_size (the kernel WARNs, then loops forever). */
const E2BIG: i32 = 7;

/** Allocation-site ids of this file's reports (named by ts/block/bio.ts). */
export const SITE_BIO_PUT: i32 = 32;

// ---------------------------------------------------------------------------
// Layout
// ---------------------------------------------------------------------------

/**
 * Mirrors `struct bio` (include/linux/blk_types.h, v4.4), BIO_SIZE = 80
 * bytes, pointers 32-bit, little-endian. Differences: bi_bdev holds the
 * target queue's id + 1 (0 = none, as NULL); bi_rw holds the REQ_* bits
 * 0..31 and no I/O priority; bi_phys_segments moves before bi_iter so the
 * 64-bit sector is 8-aligned; bi_end_io is a callback id; no bi_ioc,
 * bi_css or bi_integrity.
 *
 *    0        4        8         12        16     20                24
 *    +--------+--------+---------+---------+------+-----------------+
 *    |bi_next |bi_bdev |bi_flags |bi_error |bi_rw |bi_phys_segments |
 *    +--------+--------+---------+---------+------+-----------------+
 *    24                  32        36       40            44
 *    +-------------------+---------+--------+-------------+
 *    | bi_iter.bi_sector | bi_size | bi_idx | bi_bvec_done|     struct bvec_iter
 *    +-------------------+---------+--------+-------------+
 *    44                 48                52              56          60
 *    +------------------+-----------------+---------------+-----------+
 *    |bi_seg_front_size |bi_seg_back_size |__bi_remaining |bi_end_io  |
 *    +------------------+-----------------+---------------+-----------+
 *    60          64       66            68        72          76        80
 *    +-----------+--------+-------------+---------+-----------+---------+----------------
 *    |bi_private |bi_vcnt |bi_max_vecs  |__bi_cnt |bi_io_vec  |bi_pool  | bi_inline_vecs[]
 *    +-----------+--------+-------------+---------+-----------+---------+----------------
 *
 * BIO_RESET_BYTES = offsetof(bi_max_vecs) = 66: bio_reset() zeroes
 * everything before it. __bi_remaining and __bi_cnt change atomically.
 */
@unmanaged
export class Bio {
  bi_next: u32;
  bi_bdev: u32;
  bi_flags: u32;
  bi_error: i32;
  bi_rw: u32;
  bi_phys_segments: u32;
  bi_sector: u64;
  bi_size: u32;
  bi_idx: u32;
  bi_bvec_done: u32;
  bi_seg_front_size: u32;
  bi_seg_back_size: u32;
  bi_remaining: i32;
  bi_end_io: u32;
  bi_private: u32;
  bi_vcnt: u16;
  bi_max_vecs: u16;
  bi_cnt: i32;
  bi_io_vec: u32;
  bi_pool: u32;
}

/**
 * Mirrors `struct bio_vec` (include/linux/bvec.h), 12 bytes: bv_page is the
 * linear-memory address of the page (the port has no struct page for data),
 * the data is at bv_page + bv_offset.
 *
 *    0         4        8           12
 *    +---------+--------+-----------+
 *    | bv_page | bv_len | bv_offset |
 *    +---------+--------+-----------+
 */
@unmanaged
class BioVec {
  bv_page: u32;
  bv_len: u32;
  bv_offset: u32;
}

/** `sizeof(struct bio)`. */
export const BIO_SIZE: usize = offsetof<Bio>();
/** `sizeof(struct bio_vec)`. */
export const BVEC_SIZE: usize = offsetof<BioVec>();
/** `BIO_RESET_BYTES`. */
const BIO_RESET_BYTES: usize = offsetof<Bio>("bi_max_vecs");
const OFF_REMAINING: usize = offsetof<Bio>("bi_remaining");
const OFF_CNT: usize = offsetof<Bio>("bi_cnt");

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/** A bio that is in memory and not freed (__bi_cnt != 0), or null. */
@inline
function live(bio: usize): Bio | null {
  if (!in_memory(bio, BIO_SIZE)) return null;
  return atomic_read(bio + OFF_CNT) != 0 ? changetype<Bio>(bio) : null;
}

@inline
function flagged(b: Bio, bit: u32): bool {
  return (b.bi_flags & (1 << bit)) != 0;
}

@inline
function vec_at(b: Bio, i: u32): BioVec {
  return changetype<BioVec>(<usize>b.bi_io_vec + BVEC_SIZE * <usize>i);
}

/** Mirrors `bvec_iter_len()`: bytes of the current segment. */
@inline
function iter_len(b: Bio): u32 {
  const left = vec_at(b, b.bi_idx).bv_len - b.bi_bvec_done;
  return left < b.bi_size ? left : b.bi_size;
}

/**
 * Whether bvec idx of the bio's array lies in memory, so reading it cannot
 * trap. Not bi_max_vecs: a clone walks its parent's array with none of its own.
 */
@inline
function vec_ok(b: Bio, idx: u32): bool {
  return in_memory(<usize>b.bi_io_vec, BVEC_SIZE * (<usize>idx + 1));
}

/** Mirrors `bio_advance_iter()` on the bio's own iterator; the caller checked bytes <= bi_size. */
function advance_iter(b: Bio, bytes: u32): void {
  b.bi_sector += <u64>(bytes >> 9);
  if ((b.bi_rw & (REQ_DISCARD | REQ_WRITE_SAME)) != 0) {
    b.bi_size -= bytes;
    return;
  }
  while (bytes != 0) {
    if (!vec_ok(b, b.bi_idx)) {
      // A vec array shorter than bi_size: the kernel would read past it.
      b.bi_size -= bytes;
      return;
    }
    const seg = iter_len(b);
    const len = bytes < seg ? bytes : seg;
    bytes -= len;
    b.bi_size -= len;
    b.bi_bvec_done += len;
    if (b.bi_bvec_done == vec_at(b, b.bi_idx).bv_len) {
      b.bi_bvec_done = 0;
      b.bi_idx++;
    }
  }
}

// ---------------------------------------------------------------------------
// Exports
// ---------------------------------------------------------------------------

/** `sizeof(struct bio)` (80), for the TS side's layout check. */
export function bio_struct_size(): i32 {
  return <i32>BIO_SIZE;
}

/** `sizeof(struct bio_vec)` (12). */
export function bio_vec_size(): i32 {
  return <i32>BVEC_SIZE;
}

/**
 * Mirrors `bio_init()` (block/bio.c): zeroes the bio (not its inline vecs)
 * and sets __bi_remaining and __bi_cnt to 1.
 * @returns 0, or -22 for an address outside memory
 */
export function bio_init(bio: usize): i32 {
  if (!in_memory(bio, BIO_SIZE)) return -EINVAL;
  memory.fill(bio, 0, BIO_SIZE);
  atomic_set(bio + OFF_REMAINING, 1);
  atomic_set(bio + OFF_CNT, 1);
  return 0;
}

/**
 * The tail of `bio_alloc_bioset()` (block/bio.c, v4.4) on memory the caller
 * took from the bio mempool: bio_init(), then bi_pool, the bvec class in the
 * top flag bits (BIO_OWNS_VEC when `idx` names one), bi_max_vecs =
 * `nr_vecs` (not the class size, as in v4.4) and bi_io_vec = `bvl`, or the
 * inline vecs when `bvl` is 0 and nr_vecs is 1..BIO_INLINE_VECS.
 *
 * @param idx the bvec class of `bvl` (0..5), or BIO_POOL_NONE
 * @returns 0, or -22 for a bad address, count or class
 */
export function bio_alloc_init(bio: usize, bs: u32, nr_vecs: i32, bvl: u32, idx: u32): i32 {
  if (nr_vecs < 0 || nr_vecs > BIO_MAX_PAGES) return -EINVAL;
  if (idx != BIO_POOL_NONE && idx >= <u32>BIOVEC_NR_POOLS) return -EINVAL;
  if ((idx == BIO_POOL_NONE) != (bvl == 0) || (bvl == 0 && nr_vecs > BIO_INLINE_VECS)) return -EINVAL;
  if (bio_init(bio) < 0) return -EINVAL;
  const b = changetype<Bio>(bio);
  if (idx != BIO_POOL_NONE) b.bi_flags |= 1 << BIO_OWNS_VEC;
  b.bi_pool = bs;
  b.bi_flags |= idx << BIO_POOL_OFFSET;
  b.bi_max_vecs = <u16>nr_vecs;
  b.bi_io_vec = bvl != 0 ? bvl : nr_vecs > 0 ? <u32>(bio + BIO_SIZE) : 0;
  return 0;
}

/**
 * Mirrors `bio_reset()` (block/bio.c): zeroes the first BIO_RESET_BYTES,
 * keeps the flag bits from BIO_RESET_BITS up (BIO_OWNS_VEC, the bvec class)
 * and sets __bi_remaining to 1. bi_max_vecs, __bi_cnt, bi_io_vec and bi_pool
 * survive.
 * @returns 0, or -22 for a freed bio
 */
export function bio_reset(bio: usize): i32 {
  const b = live(bio);
  if (b === null) return -EINVAL;
  const keep = b.bi_flags & (<u32>-1 << BIO_RESET_BITS);
  memory.fill(bio, 0, BIO_RESET_BYTES);
  b.bi_flags = keep;
  atomic_set(bio + OFF_REMAINING, 1);
  return 0;
}

/**
 * Mirrors the size switch of `bvec_alloc()` (block/bio.c): the bvec class
 * for nr vecs: 1 → 0, 2..4 → 1, 5..16 → 2, 17..64 → 3, 65..128 → 4,
 * 129..256 → 5.
 * @returns the class, or -22 outside 1..BIO_MAX_PAGES (the kernel returns NULL)
 */
export function bvec_idx(nr: i32): i32 {
  if (nr < 1 || nr > BIO_MAX_PAGES) return -EINVAL;
  if (nr == 1) return 0;
  if (nr <= 4) return 1;
  if (nr <= 16) return 2;
  if (nr <= 64) return 3;
  if (nr <= 128) return 4;
  return 5;
}

/** Mirrors `bvec_nr_vecs()`: the vecs of class idx (1, 4, 16, 64, 128, 256), or -22. */
export function bvec_nr_vecs(idx: i32): i32 {
  if (idx < 0 || idx >= BIOVEC_NR_POOLS) return -EINVAL;
  if (idx == BIOVEC_MAX_IDX) return BIO_MAX_PAGES;
  return idx == 4 ? 128 : 1 << (2 * idx);
}

/**
 * Mirrors `bio_add_page()` (block/bio.c, v4.4): appends (page, len, offset)
 * as a new bio_vec, or grows the last one when the range continues it;
 * bi_size grows by len.
 * @returns len; 0 when the bio is full; -1 for a cloned bio (the kernel
 *   WARNs once and returns 0); -22 for a freed bio
 */
export function bio_add_page(bio: usize, page: u32, len: u32, offset: u32): i32 {
  const b = live(bio);
  if (b === null) return -EINVAL;
  if (flagged(b, BIO_CLONED)) return ADD_CLONED;
  if (b.bi_vcnt > 0) {
    const bv = vec_at(b, <u32>b.bi_vcnt - 1);
    if (page == bv.bv_page && offset == bv.bv_offset + bv.bv_len) {
      bv.bv_len += len;
      b.bi_size += len;
      return <i32>len;
    }
  }
  if (b.bi_vcnt >= b.bi_max_vecs) return 0;
  const bv = vec_at(b, b.bi_vcnt);
  bv.bv_page = page;
  bv.bv_len = len;
  bv.bv_offset = offset;
  b.bi_vcnt++;
  b.bi_size += len;
  return <i32>len;
}

/**
 * Mirrors `bio_segments()` (include/linux/bio.h, v4.4): the segments
 * `bio_for_each_segment()` visits from the current iterator (1 for
 * REQ_DISCARD and REQ_WRITE_SAME).
 * @returns the count, or -22 for a freed bio
 */
export function bio_segments(bio: usize): i32 {
  const b = live(bio);
  if (b === null) return -EINVAL;
  if ((b.bi_rw & (REQ_DISCARD | REQ_WRITE_SAME)) != 0) return 1;
  let idx = b.bi_idx;
  let done = b.bi_bvec_done;
  let size = b.bi_size;
  let segs = 0;
  while (size != 0 && vec_ok(b, idx)) {
    const left = vec_at(b, idx).bv_len - done;
    const len = left < size ? left : size;
    if (len == 0) break;
    segs++;
    size -= len;
    idx++;
    done = 0;
  }
  return segs;
}

/**
 * Mirrors `bio_advance()` (block/bio.c): moves the iterator `bytes` on
 * (sector, size, idx, bvec_done).
 * @returns 0; -7 when bytes > bi_size (the kernel WARNs "Attempted to
 *   advance past end of bvec iter"; here nothing changes); -22 for a freed bio
 */
export function bio_advance(bio: usize, bytes: u32): i32 {
  const b = live(bio);
  if (b === null) return -EINVAL;
  if (bytes > b.bi_size) return -E2BIG;
  advance_iter(b, bytes);
  return 0;
}

/**
 * Mirrors `bio_chain()` (block/bio.c, v4.4): `bio`'s completion becomes one
 * of `parent`'s: bi_private = parent, bi_end_io = bio_chain_endio and
 * `bio_inc_remaining(parent)` (BIO_CHAIN set, __bi_remaining + 1).
 * @returns 0, or -22 for BUG_ON(bio->bi_private || bio->bi_end_io) or a freed bio
 */
export function bio_chain(bio: usize, parent: usize): i32 {
  const b = live(bio);
  const p = live(parent);
  if (b === null || p === null || bio == parent) return -EINVAL;
  if (b.bi_private != 0 || b.bi_end_io != 0) return -EINVAL;
  b.bi_private = <u32>parent;
  b.bi_end_io = BIO_END_IO_CHAIN;
  p.bi_flags |= 1 << BIO_CHAIN;
  atomic_add_return(parent + OFF_REMAINING, 1);
  return 0;
}

/**
 * One pass of `bio_endio()`'s loop (block/bio.c): `bio_remaining_done()`,
 * then the chain step. For a chained bio the parent inherits the error when
 * it has none yet (the first error wins, as after the 2016 fix "block: don't
 * unecessarily clobber bi_error for chained bios"; v4.4.0 copied it always).
 *
 * @returns 0: more chained completions are due, stop; 1: call the bio's
 *   end_io (bi_end_io id, 0 = none); 2: chained: the caller puts the bio and
 *   continues with bi_private, the parent; -22: a freed bio, a freed parent,
 *   or BUG_ON(__bi_remaining <= 0)
 */
export function bio_endio_step(bio: usize): i32 {
  const b = live(bio);
  if (b === null) return -EINVAL;
  if (flagged(b, BIO_CHAIN)) {
    if (atomic_read(bio + OFF_REMAINING) <= 0) return -EINVAL;
    if (<i32>atomic_add_return(bio + OFF_REMAINING, <u32>-1) != 0) return 0;
    b.bi_flags &= ~(1 << BIO_CHAIN);
  }
  if (b.bi_end_io != BIO_END_IO_CHAIN) return 1;
  const p = live(<usize>b.bi_private);
  if (p === null) return -EINVAL;
  if (p.bi_error == 0) p.bi_error = b.bi_error;
  return 2;
}

/**
 * Mirrors `bio_endio()` (block/bio.c, v4.4): bio_endio_step() until the
 * chain is done; a chained child is put (host_bio_put(): the TS side frees
 * it to its bio_set) and its parent ended next; a bio at the top of its
 * chain runs its end_io callback (host_bio_end_io()), if it has one.
 *
 * @returns 0, or -22 for a freed bio or BUG_ON(__bi_remaining <= 0) (the
 *   bio named is the one that failed the step; nothing was done to it)
 */
export function bio_endio(bio: usize): i32 {
  for (;;) {
    const rc = bio_endio_step(bio);
    if (rc <= 0) return rc;
    const b = changetype<Bio>(bio);
    if (rc == 2) {
      const parent = <usize>b.bi_private;
      host_bio_put(<u32>bio);
      bio = parent;
      continue;
    }
    const id = b.bi_end_io;
    if (id == BIO_END_IO_AIO) return dio_bio_end_aio(bio);
    if (id == BIO_END_IO_DIO) return dio_bio_end_io(bio);
    if (id != 0) host_bio_end_io(<u32>bio, id);
    return 0;
  }
}

/**
 * Mirrors `bio_get()` (include/linux/bio.h, v4.4): sets BIO_REFFED and takes
 * a reference.
 * @returns 0, or -22 for a freed bio
 */
export function bio_get(bio: usize): i32 {
  const b = live(bio);
  if (b === null) return -EINVAL;
  b.bi_flags |= 1 << BIO_REFFED;
  atomic_add_return(bio + OFF_CNT, 1);
  return 0;
}

/**
 * Mirrors `bio_put()` (block/bio.c, v4.4) without the free: a bio never
 * bio_get()'d (no BIO_REFFED) goes at once, a reffed one when __bi_cnt
 * drops to 0. __bi_cnt is left 0 either way, marking the bio freed.
 *
 * @returns 1: free it now (bio_free(): bvecs, then the bio, to its bio_set);
 *   0: references remain; -22: the bio was already freed (a KASAN
 *   double-free report is filed) or lies outside memory
 */
export function bio_put(bio: usize): i32 {
  if (!in_memory(bio, BIO_SIZE)) {
    kasan_report_free(KASAN_KIND_DOUBLE_FREE, bio, SITE_BIO_PUT, 0, 0);
    return -EINVAL;
  }
  const b = live(bio);
  if (b === null) {
    kasan_report_free(KASAN_KIND_DOUBLE_FREE, bio, SITE_BIO_PUT, 0, 0);
    return -EINVAL;
  }
  if (!flagged(b, BIO_REFFED)) {
    atomic_set(bio + OFF_CNT, 0);
    return 1;
  }
  return atomic_add_return(bio + OFF_CNT, <u32>-1) == 0 ? 1 : 0;
}

/** {@link bio_put_free}: the last reference is gone, but the TS side frees the bio (vecs of its own, or no bio_set). */
export const BIO_PUT_FREE_HOST: i32 = 2;
/** {@link bio_put_free}: the last reference is gone, but bi_pool names no live bio_set (the bio is left as it is). */
export const BIO_PUT_BAD_SET: i32 = -3;
/** {@link bio_put_free}: the pool refused the bio (a KASAN report is filed). */
export const BIO_PUT_POOL_REFUSED: i32 = -4;

/**
 * Mirrors `bio_put()` (block/bio.c, v4.4) with the free, for a bio of a
 * bio_set that uses its inline vecs: one call where {@link bio_put} and the
 * TS side's bio_free() took several. Other bios (vecs of their own,
 * kmalloc'd) are left to the TS side once their last reference is gone.
 *
 * @returns 0 (references remain, or freed); 1 freed and it refilled the
 *   pool's reserve (wake its waiters); BIO_PUT_FREE_HOST; -22 the bio was
 *   already freed (a KASAN double-free report is filed); BIO_PUT_BAD_SET;
 *   BIO_PUT_POOL_REFUSED
 */
export function bio_put_free(bio: usize): i32 {
  const rc = bio_put(bio);
  if (rc != 1) return rc;
  const b = changetype<Bio>(bio);
  const bs = <usize>b.bi_pool;
  if (bs == 0 || flagged(b, BIO_OWNS_VEC)) return BIO_PUT_FREE_HOST;
  if (!in_memory(bs, BIOSET_BIO_POOL + 4)) return BIO_PUT_BAD_SET;
  const pool = <usize>load<u32>(bs + BIOSET_BIO_POOL);
  if (!mempool_live(pool)) return BIO_PUT_BAD_SET;
  const freed = mempool_free_owned(bio - <usize>load<u32>(bs + BIOSET_FRONT_PAD), pool);
  return freed < 0 ? BIO_PUT_POOL_REFUSED : freed;
}

/**
 * Mirrors `bio_alloc_bioset()` (block/bio.c, v4.4) for up to
 * BIO_INLINE_VECS vecs, without sleeping: mempool_alloc()'s first pass on
 * the set's bio_pool (the allocator, then the reserve), then
 * {@link bio_alloc_init} with the inline vecs. The caller vouches for `bs`
 * (a live bio_set: the TS side checked it), so the pool is not looked up.
 *
 * @returns the bio, or 0 (mm_errno(): -11 the allocation would sleep, -12
 *   it cannot sleep, -22 more than BIO_INLINE_VECS vecs)
 */
export function bio_alloc_nowait(bs: usize, gfp: i32, nr_vecs: i32): usize {
  if (nr_vecs < 0 || nr_vecs > BIO_INLINE_VECS) {
    set_errno(EINVAL);
    return 0;
  }
  const p = mempool_alloc_owned(<usize>load<u32>(bs + BIOSET_BIO_POOL), gfp);
  if (p == 0) return 0;
  const bio = p + <usize>load<u32>(bs + BIOSET_FRONT_PAD);
  bio_alloc_init(bio, <u32>bs, nr_vecs, 0, BIO_POOL_NONE);
  return bio;
}

/**
 * The record half of `bio_split()` (block/bio.c, v4.4) on `split`, a bio
 * the caller allocated from a bio_set with no vecs: `__bio_clone_fast()`
 * (bi_bdev, BIO_CLONED, bi_rw, bi_iter, bi_io_vec shared), bi_size cut to
 * `sectors` << 9, then `bio_advance(bio, ...)` past the split part.
 * REQ_DISCARD bios are cloned the same way (v4.4 uses bio_clone_bioset()).
 *
 * @returns 0, or -22 for BUG_ON(sectors <= 0), BUG_ON(sectors >= bio_sectors(bio)),
 *   BUG_ON(split has a bvec class), or a freed bio
 */
export function bio_split_init(split: usize, bio: usize, sectors: i32): i32 {
  const s = live(split);
  const b = live(bio);
  if (s === null || b === null || split == bio) return -EINVAL;
  if (sectors <= 0 || <u32>sectors >= (b.bi_size >> 9)) return -EINVAL;
  if (s.bi_pool != 0 && (s.bi_flags >> BIO_POOL_OFFSET) != BIO_POOL_NONE) return -EINVAL;
  s.bi_bdev = b.bi_bdev;
  s.bi_flags |= 1 << BIO_CLONED;
  s.bi_rw = b.bi_rw;
  s.bi_sector = b.bi_sector;
  s.bi_size = <u32>sectors << 9;
  s.bi_idx = b.bi_idx;
  s.bi_bvec_done = b.bi_bvec_done;
  s.bi_io_vec = b.bi_io_vec;
  advance_iter(b, s.bi_size);
  return 0;
}
