// SPDX-License-Identifier: GPL-2.0-only
// The synchronous block-device half of fs/direct-io.c (v4.4) with NeilBrown's
// March 2015 bio cache (seed 002): the `struct dio` record, its bio end_io,
// the cache rule of `dio_bio_complete()`, and `do_blockdev_direct_IO()` for
// one buffer as one core call (ts/block/dio.ts is the TS side).
//
// A dio is an object of the "dio" slab cache (`dio_cache`, as v4.4 allocates
// it); the record is its head. ts/block/dio.ts's Dio is a view of it and
// keeps what the core cannot hold: the waiting task and the lockdep view of
// `bio_lock`.
//
//    struct dio record, 44 bytes
//    0       4       8     12         16         20         24          28       32        36     40
//    +-------+-------+-----+----------+----------+----------+-----------+--------+---------+------+-----------+
//    |magic  |flags  |rw   |refcount  |bio_list  |io_error  |cache_bio  |waiter  |entered  |plug  |bio_cookie |
//    +-------+-------+-----+----------+----------+----------+-----------+--------+---------+------+-----------+
//
// `bio_cookie` is v4.4's (commit 05229beedd, seed 001): the make_request's
// answer for the last bio sent, which `dio_await_one()` polls for when the
// iocb is IOCB_HIPRI.
//
// `bio_list` chains ended bios through bi_private, as v4.4 does. `waiter` is
// non-zero while a task sleeps in `dio_await_one()`: the end of the bio that
// leaves only the submitter's reference wakes it (host_dio_wake()).
//
// dio_rw_nowait() is the common case of a synchronous DIO read or write of
// one buffer: the bio (the persistent dio's cached one when it is large
// enough, else `bio_alloc(GFP_KERNEL)` from fs_bio_set without sleeping),
// its pages, `dio_bio_submit()` under the plug `do_blockdev_direct_IO()`
// holds, `blk_finish_plug()`, and, when the driver ended the bio inside
// (null_blk irqmode=0, the RAM disk), `dio_await_completion()` without a
// sleep: no host call for the bio at all. Whatever would sleep or is not the
// core's is left to the TS path, with nothing done (DIO_RW_WOULD_SLEEP,
// DIO_RW_FALLBACK); a bio the driver ends later leaves the wait to the TS
// side (DIO_RW_QUEUED).

import { Bio, BIO_END_IO_DIO, BIO_INLINE_VECS, BIO_PUT_FREE_HOST, bio_add_page, bio_alloc_nowait, bio_put_free, bio_reset } from "./bio";
import { blk_mq_ctx_of, blk_mq_map_queue, RequestQueue } from "./blk_queue";
import { blk_mq_flush_plug_list_nowait, blk_mq_make_request_nowait, BLK_QC_T_NONE } from "./blk_mq_make_request";
import { hctx_has_ctx } from "./blk_mq_dispatch";
import { blk_plug_alloc, blk_plug_free } from "./blk_plug";
import { host_bio_free, host_bio_pool_wake, host_dio_wake } from "./host";
import { EINVAL, PAGE_SIZE } from "./page_alloc";
import { in_memory, REQ_SYNC, REQ_WRITE } from "./request";

/** `DIO_PERSISTENT_DIO` (the seed's patch 1/2): a dio kept across I/Os, which caches one bio. */
export const DIO_PERSISTENT_DIO: u32 = 0x10;

/** dio_rw_nowait(): a bio would need a sleeping allocation, a frozen queue or a tag; nothing was done. */
export const DIO_RW_WOULD_SLEEP: i32 = -0x1001;
/** dio_rw_nowait(): not the core's I/O (more than BIO_INLINE_VECS pages without a cached bio for them, a queue of several hw queues, a CPU without its hctx); nothing was done. */
export const DIO_RW_FALLBACK: i32 = -0x1002;
/** dio_rw_nowait(): the bio was sent and has not ended yet; the caller waits (`dio_await_completion()`). */
export const DIO_RW_QUEUED: i32 = -0x1003;

const EIO: i32 = 5;
const EBUSY: i32 = 16;
/** `WRITE_ODIRECT` (include/linux/fs.h, v4.4): what `do_blockdev_direct_IO()` sets as a write's `dio->rw` (asm/aio.ts's too). */
export const WRITE_ODIRECT: u32 = REQ_WRITE | REQ_SYNC;
/** `GFP_KERNEL`: what `dio_bio_alloc()` asks of fs_bio_set (may sleep: the core stops instead). */
export const GFP_KERNEL: i32 = 0x24000c0;
const PAGE_BYTES: usize = <usize>PAGE_SIZE;
const DIO_MAGIC: u32 = 0x64696f21; // "dio!"

/** Mirrors the fields of `struct dio` (fs/direct-io.c, v4.4) the bio path uses, plus the seed's `cache_bio`. */
@unmanaged
export class Dio {
  magic: u32;
  /** `dio->flags` (DIO_PERSISTENT_DIO). */
  flags: u32;
  /** `dio->rw`: REQ_* bits the bios carry (0 for a read, WRITE_ODIRECT for a write). */
  rw: u32;
  /** `dio->refcount`: 1 for the submitter plus one per bio in flight. */
  refcount: i32;
  /** `dio->bio_list`: ended bios not yet reaped, linked through bi_private (0 = empty). */
  bio_list: u32;
  /** `dio->io_error`: -EIO once a bio failed. */
  io_error: i32;
  /** `dio->cache_bio` (the seed): the bio kept for the next allocation, 0 = none. */
  cache_bio: u32;
  /** Non-zero while a task sleeps in `dio_await_one()` (`dio->waiter`; the task is the TS side's). */
  waiter: u32;
  /** 1 while dio_rw_nowait() is inside the make_request or the plug flush (it holds a queue reference in the first). */
  entered: u32;
  /** The plug record dio_rw_nowait() holds while it runs, else 0. */
  plug: u32;
  /** `dio->bio_cookie`: what the make_request of the last bio sent answered (BLK_QC_T_NONE: nothing to poll). */
  bio_cookie: i32;
}

const DIO_RECORD_SIZE: usize = offsetof<Dio>();

/** `sizeof` the record, for the TS side's layout check (44). */
export function dio_record_size(): i32 {
  return <i32>DIO_RECORD_SIZE;
}

/** The live dio at `dio`, or null. */
function dio_get(dio: usize): Dio | null {
  if (!in_memory(dio, DIO_RECORD_SIZE)) return null;
  const d = changetype<Dio>(dio);
  return d.magic == DIO_MAGIC ? d : null;
}

/**
 * The record part of `do_blockdev_direct_IO()`'s dio allocation (the dio
 * zeroed up to its pages, `cache_bio = NULL`): flags, rw, refcount 1.
 * @returns 0, or -22 for a record outside memory
 */
export function dio_init(dio: usize, flags: u32, rw: u32): i32 {
  if (!in_memory(dio, DIO_RECORD_SIZE)) return -EINVAL;
  memory.fill(dio, 0, DIO_RECORD_SIZE);
  const d = changetype<Dio>(dio);
  d.magic = DIO_MAGIC;
  d.flags = flags;
  d.rw = rw;
  d.refcount = 1;
  d.bio_cookie = BLK_QC_T_NONE;
  return 0;
}

/**
 * The record part of `dio_free()`: the magic cleared, so a late end_io
 * that names it is refused. The caller put the cached bio first.
 * @returns 0; -22 for no live dio; -16 (EBUSY) while bios are out, unreaped or cached
 */
export function dio_exit(dio: usize): i32 {
  const d = dio_get(dio);
  if (d === null) return -EINVAL;
  if (d.refcount != 1 || d.bio_list != 0 || d.cache_bio != 0) return -EBUSY;
  d.magic = 0;
  return 0;
}

/**
 * Mirrors `dio_bio_end_io()` (fs/direct-io.c, v4.4), the bi_end_io of a
 * synchronous dio's bios (BIO_END_IO_DIO; asm/bio.ts's bio_endio() calls it
 * without a host call): the bio joins `dio->bio_list` and the waiter wakes
 * when the last bio is in.
 * @returns 0, or -22 for a bi_private that names no live dio (the bio is left alone)
 */
export function dio_bio_end_io(bio: usize): i32 {
  const b = changetype<Bio>(bio);
  const dio = <usize>b.bi_private;
  const d = dio_get(dio);
  if (d === null) return -EINVAL;
  b.bi_private = d.bio_list;
  d.bio_list = <u32>bio;
  if (--d.refcount == 1 && d.waiter != 0) host_dio_wake(<u32>dio);
  return 0;
}

/**
 * Takes the bio at the head of `dio->bio_list`, the last to end (the list
 * part of `dio_await_one()`).
 * @returns the bio, 0 when none is listed, -22 for no live dio
 */
export function dio_bio_reap(dio: usize): i32 {
  const d = dio_get(dio);
  if (d === null) return -EINVAL;
  const bio = <usize>d.bio_list;
  if (bio != 0) d.bio_list = changetype<Bio>(bio).bi_private;
  return <i32>bio;
}

/**
 * The seed's part of `dio_bio_complete()` for an ended `bio`: a failed bio
 * sets `io_error` to -EIO; a persistent dio keeps the larger of its cached
 * bio and this one (by bi_max_vecs; the cached one on a tie).
 * @returns the bio the caller puts (0: none), or -22 for no live dio
 */
export function dio_bio_keep(dio: usize, bio: usize): i32 {
  const d = dio_get(dio);
  if (d === null) return -EINVAL;
  const b = changetype<Bio>(bio);
  if (b.bi_error != 0) d.io_error = -EIO;
  if ((d.flags & DIO_PERSISTENT_DIO) == 0) return <i32>bio;
  let put: usize = bio;
  if (d.cache_bio != 0 && changetype<Bio>(<usize>d.cache_bio).bi_max_vecs < b.bi_max_vecs) {
    put = <usize>d.cache_bio;
    d.cache_bio = 0;
  }
  if (d.cache_bio == 0) {
    d.cache_bio = <u32>bio;
    if (put == bio) put = 0;
  }
  return <i32>put;
}

/** `bio_put()` of a bio the core is done with; what it cannot free goes to the TS side. */
function put_bio(bio: usize): void {
  const bs = changetype<Bio>(bio).bi_pool;
  const freed = bio_put_free(bio);
  if (freed == BIO_PUT_FREE_HOST) host_bio_free(<u32>bio);
  else if (freed == 1) host_bio_pool_wake(bs);
}

/** Takes the dio's plug back after the submission and gives its record back. */
@inline
function unplug(d: Dio, plug: usize): void {
  d.plug = 0;
  blk_plug_free(plug);
}

/**
 * Mirrors `do_blockdev_direct_IO()` (fs/direct-io.c, v4.4) for one buffer
 * of `nbytes` at `buf` (linear memory, 512-byte aligned), to or from
 * `sector` (an f64: a u64 parameter would cost the JS caller a BigInt) of
 * the queue record `q`, as one call: `dio->rw` from `write`,
 * the bio from `dio_bio_alloc()` (the cached bio of a persistent dio with
 * `bi_max_vecs` for the pages, reset; else `bio_alloc(GFP_KERNEL)` from the
 * bio_set `bs` without sleeping, up to BIO_INLINE_VECS pages), the pages
 * added, `dio_bio_submit()` under the plug the function holds (the core's
 * make_request with a plug record of its own), `blk_finish_plug()` (the
 * core's plug flush: the hw queue runs), then, when every bio has ended,
 * `dio_await_completion()`: each ended bio through `dio_bio_complete()`.
 * The task holds no plug of its own (the caller checks); `cpu`, `now`,
 * `hz`, `tick_ns` and `flags` are the make_request's.
 *
 * @returns `nbytes`, or `io_error` (-5), when the I/O ended here;
 *   DIO_RW_QUEUED when the bio is in flight (the dio counts it); nothing
 *   done for DIO_RW_WOULD_SLEEP and DIO_RW_FALLBACK; -22 for no live dio,
 *   an empty or unaligned buffer; -16 (EBUSY) when bios of an earlier I/O
 *   are out or unreaped; another negative answer of the make_request (a
 *   refused record) with the bio put and nothing sent, or of the plug
 *   flush (a bug: the request stays on the plug record `plug` names)
 */
export function dio_rw_nowait(dio: usize, bs: usize, q: usize, write: u32, sector: f64, buf: usize, nbytes: u32, cpu: u32, now: f64, hz: u32, tick_ns: f64, flags: u32): i32 {
  const d = dio_get(dio);
  if (d === null || nbytes == 0 || (nbytes & 511) != 0 || (buf & 511) != 0 || !in_memory(buf, <usize>nbytes) || !(sector >= 0) || sector != Math.floor(sector) || sector >= 9007199254740992) return -EINVAL;
  if (d.refcount != 1 || d.bio_list != 0) return -EBUSY;
  const r = changetype<RequestQueue>(q);
  // The plug path of one hw queue only, on a CPU whose ctx is attached (so the flush below is the core's).
  if (r.nr_hw_queues != 1 || cpu >= r.nr_cpu_ids) return DIO_RW_FALLBACK;
  const hctx = blk_mq_map_queue(q, cpu);
  if (hctx == 0 || !hctx_has_ctx(hctx, blk_mq_ctx_of(q, cpu))) return DIO_RW_FALLBACK;
  const first = buf & ~(PAGE_BYTES - 1);
  const nr_pages = <i32>((buf + <usize>nbytes - first + PAGE_BYTES - 1) / PAGE_BYTES);

  // dio_bio_alloc(): the seed's cache first.
  let bio: usize = 0;
  if ((d.flags & DIO_PERSISTENT_DIO) != 0 && d.cache_bio != 0 && <i32>changetype<Bio>(<usize>d.cache_bio).bi_max_vecs >= nr_pages) {
    bio = <usize>d.cache_bio;
    d.cache_bio = 0;
    bio_reset(bio);
  } else {
    if (nr_pages > BIO_INLINE_VECS) return DIO_RW_FALLBACK;
    bio = bio_alloc_nowait(bs, GFP_KERNEL, nr_pages);
    if (bio == 0) return DIO_RW_WOULD_SLEEP;
  }
  const plug = blk_plug_alloc();
  if (plug == 0) {
    give_back(d, bio);
    return DIO_RW_FALLBACK;
  }
  d.plug = <u32>plug;
  d.io_error = 0;
  d.rw = write != 0 ? WRITE_ODIRECT : 0;
  let page = first;
  let off = <u32>(buf - first);
  let left = nbytes;
  while (left != 0) {
    const len = left < <u32>PAGE_BYTES - off ? left : <u32>PAGE_BYTES - off;
    bio_add_page(bio, <u32>page, len, off);
    left -= len;
    page += PAGE_BYTES;
    off = 0;
  }
  const b = changetype<Bio>(bio);
  b.bi_bdev = r.id + 1;
  b.bi_sector = <u64>sector;
  b.bi_end_io = BIO_END_IO_DIO;
  // dio_bio_submit()
  b.bi_private = <u32>dio;
  d.refcount++;
  b.bi_rw |= d.rw;
  d.entered = 1;
  const rc = blk_mq_make_request_nowait(q, bio, plug, cpu, now, hz, tick_ns, flags);
  d.entered = 0;
  d.bio_cookie = rc < BLK_QC_T_NONE ? BLK_QC_T_NONE : rc;
  if (rc < BLK_QC_T_NONE) {
    // Nothing was sent (the map would sleep for a tag, or refused a record): undone.
    d.refcount--;
    unplug(d, plug);
    give_back(d, bio);
    return rc == -2 ? DIO_RW_WOULD_SLEEP : rc == -3 ? DIO_RW_FALLBACK : rc;
  }
  // blk_finish_plug(): one request of q, from an attached ctx: the core's flush.
  d.entered = 1;
  const f = blk_mq_flush_plug_list_nowait(plug, q, 0, cpu, now, hz, tick_ns, flags);
  d.entered = 0;
  if (f != 0) return f; // checked above: a bug; the request stays on d.plug
  unplug(d, plug);
  if (d.refcount != 1) return DIO_RW_QUEUED;
  // dio_await_completion(), with nothing to wait for.
  for (let ended = dio_bio_reap(dio); ended > 0; ended = dio_bio_reap(dio)) {
    const put = <usize>dio_bio_keep(dio, <usize>ended);
    if (put != 0) put_bio(put);
  }
  return d.io_error != 0 ? d.io_error : <i32>nbytes;
}

/** A bio dio_rw_nowait() made or took but did not send: back into the cache it came from, or put. */
function give_back(d: Dio, bio: usize): void {
  if ((d.flags & DIO_PERSISTENT_DIO) != 0 && d.cache_bio == 0) d.cache_bio = <u32>bio;
  else put_bio(bio);
}
