// SPDX-License-Identifier: GPL-2.0-only
// A bio becoming a request, merging into one, and requests going onto their
// software queue: blk_mq_rq_ctx_init(), blk_mq_bio_to_request() with
// init_request_from_bio(), blk_mq_attempt_merge() with blk_rq_merge_ok(),
// blk_try_merge() and bio_attempt_back_merge() / bio_attempt_front_merge(),
// and __blk_mq_insert_request() (block/blk-mq.c, block/blk-core.c,
// block/blk-merge.c, v4.4), over the request, queue (asm/blk_queue.ts),
// ctx and hctx (asm/blk_mq_ctx.ts), bio (asm/bio.ts) and part0
// (asm/genhd.ts) records.
//
// What stays TypeScript (ts/block/blk_mq_request.ts): the tag (the Tags
// wrapper hands over the request record of the tag it got), `ctx->lock` and
// its lockdep annotations (the caller holds it around
// blk_mq_merge_queue_io()), freeing the request a merge made useless, the
// offline-CPU ctx switch of blk_mq_insert_request() and the plug's list.
// Time comes in from the caller: `now` in ns for `rq->start_time`, jiffies
// for the part0 accounting, both f64.
//
// A record that does not lie in linear memory is refused with -EINVAL
// before anything is written (where the TypeScript code met a DataView
// RangeError); part0's accounting refusing its record is -EFAULT (a BUG on
// the TypeScript side, as blk_account_io_start() there). Nothing allocates.

import { BlkMqCtx, BlkMqHwCtx, CTX_RQ_LIST, blk_mq_hctx_mark_pending } from "./blk_mq_ctx";
import { blk_queue_io_stat, blk_queue_nomerges, queue_max_sectors, queue_max_segments, RequestQueue } from "./blk_queue";
import { Bio, BIO_SIZE } from "./bio";
import { blk_account_io_start } from "./genhd";
import { list_add, list_add_tail } from "./list";
import { EFAULT, EINVAL } from "./page_alloc";
import {
  in_memory,
  Request,
  REQ_COMMON_MASK,
  REQ_DISCARD,
  REQ_IO_STAT,
  REQ_NOMERGE,
  REQ_NOMERGE_FLAGS,
  REQ_SYNC,
  REQ_WRITE,
  REQ_WRITE_SAME,
  REQUEST_SIZE,
  rw_is_sync,
} from "./request";

/** `BLK_MQ_F_SHOULD_MERGE` (include/linux/blk-mq.h, v4.4): bit of `hctx->flags`. */
const BLK_MQ_F_SHOULD_MERGE: u32 = 1 << 0;
/** The ctx requests blk_mq_attempt_merge() looks at, newest first. */
export const BLK_MQ_MERGE_CHECKED: i32 = 8;

/** blk_rq_bio_merge()'s answers: not placed, merged, placed but refused by the limits. */
export const BLK_MERGE_NONE: i32 = 0;
export const BLK_MERGE_DONE: i32 = 1;
export const BLK_MERGE_REFUSED: i32 = 2;

// ---------------------------------------------------------------------------
// Layouts
// ---------------------------------------------------------------------------

/** The bytes blk_mq_rq_ctx_init() zeroes (up to `flush`). */
const REQUEST_RESET_BYTES: usize = offsetof<Request>("flush_seq");

// The bio fields this file reads or writes (asm/bio.ts's layout).
const BI_NEXT: usize = offsetof<Bio>("bi_next");
const BI_RW: usize = offsetof<Bio>("bi_rw");
const BI_SECTOR: usize = offsetof<Bio>("bi_sector");
const BI_SIZE: usize = offsetof<Bio>("bi_size");
const BI_VCNT: usize = offsetof<Bio>("bi_vcnt");

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/**
 * `blk_account_io_start(rq, new_io)` (block/blk-core.c, v4.4) after its
 * `blk_do_io_stat()`: REQ_IO_STAT on the request and a disk on the queue
 * (`part0` not 0).
 *
 * @returns 0, or -EFAULT when the part0 record refused (outside memory)
 */
@inline
function account_io_start(q: RequestQueue, flags: u32, new_io: i32, jiffies: f64): i32 {
  const part0 = <usize>q.part0;
  if ((flags & REQ_IO_STAT) == 0 || part0 == 0) return 0;
  return blk_account_io_start(part0, <i32>(flags & REQ_WRITE), new_io, jiffies) == 0 ? 0 : -EFAULT;
}

/**
 * Mirrors `init_request_from_bio()` (block/blk-core.c, v4.4) without the
 * ioprio (the port's bi_rw holds none): the bio's common flags, sector,
 * size, the bio as the request's only one, its vecs as the segments.
 */
@inline
function init_request_from_bio(r: Request, bio: usize): void {
  r.cmd_flags |= load<u32>(bio + BI_RW) & REQ_COMMON_MASK;
  r.__sector = load<u64>(bio + BI_SECTOR);
  r.__data_len = load<u32>(bio + BI_SIZE);
  r.bio = <u32>bio;
  r.biotail = <u32>bio;
  r.nr_phys_segments = load<u16>(bio + BI_VCNT);
}

/**
 * Mirrors `blk_rq_merge_ok()` (block/blk-merge.c, v4.4) for a bio of this
 * queue: both mergeable (`rq_mergeable()`, `bio_mergeable()`), the same
 * data direction, the same discard and write-same kind (the same disk holds:
 * the bio came to this queue; no integrity, no write-same payload page).
 */
@inline
function rq_merge_ok(flags: u32, rw: u32): bool {
  if ((flags & REQ_NOMERGE_FLAGS) != 0 || (rw & REQ_NOMERGE_FLAGS) != 0) return false;
  return ((flags ^ rw) & (REQ_WRITE | REQ_DISCARD | REQ_WRITE_SAME)) == 0;
}

/**
 * Mirrors `bio_attempt_back_merge()` / `bio_attempt_front_merge()`
 * (block/blk-core.c, v4.4) with `ll_back_merge_fn()` / `ll_front_merge_fn()`
 * (block/blk-merge.c): past `max_sectors` or `max_segments` (a bio's
 * segments are its `bi_vcnt`, as with QUEUE_FLAG_NO_SG_MERGE) the request is
 * marked REQ_NOMERGE and the merge refused; otherwise the bio is linked at
 * the tail (or the head, moving `__sector`), `__data_len` and
 * `nr_phys_segments` grow and the disk counts a merge
 * (`blk_account_io_start(rq, false)`).
 *
 * @returns BLK_MERGE_DONE or BLK_MERGE_REFUSED; -EINVAL for a bio of the
 *          request outside memory, -EFAULT when part0 refused
 */
function attempt_merge(q: RequestQueue, r: Request, bio: usize, back: bool, jiffies: f64): i32 {
  const size = load<u32>(bio + BI_SIZE);
  const segs = <u32>load<u16>(bio + BI_VCNT);
  const len = r.__data_len;
  const flags = r.cmd_flags;
  const rq_segs = <u32>r.nr_phys_segments;
  const q_ = changetype<usize>(q);
  if ((len >> 9) + (size >> 9) > queue_max_sectors(q_) || rq_segs + segs > queue_max_segments(q_)) {
    r.cmd_flags = flags | REQ_NOMERGE;
    return BLK_MERGE_REFUSED;
  }
  if (back) {
    const tail = <usize>r.biotail;
    if (!in_memory(tail, BIO_SIZE)) return -EINVAL;
    store<u32>(tail + BI_NEXT, <u32>bio);
    r.biotail = <u32>bio;
  } else {
    store<u32>(bio + BI_NEXT, r.bio);
    r.bio = <u32>bio;
    r.__sector = load<u64>(bio + BI_SECTOR);
  }
  r.__data_len = len + size;
  r.nr_phys_segments = <u16>(rq_segs + segs);
  const err = account_io_start(q, flags, 0, jiffies);
  return err != 0 ? err : BLK_MERGE_DONE;
}

/** {@link blk_try_merge}'s answers (`ELEVATOR_NO_MERGE`, `ELEVATOR_FRONT_MERGE`, `ELEVATOR_BACK_MERGE`). */
export const ELEVATOR_NO_MERGE: i32 = 0;
export const ELEVATOR_FRONT_MERGE: i32 = 1;
export const ELEVATOR_BACK_MERGE: i32 = 2;

/**
 * Mirrors `blk_try_merge()` (block/blk-merge.c, v4.4) for a bio of
 * `nr_sectors` at `sector`: right behind the request (back), right before
 * it (front), or neither. Pure, as in the kernel.
 */
@inline
export function blk_try_merge(r: Request, sector: u64, nr_sectors: u64): i32 {
  const pos = r.__sector;
  if (pos + <u64>(r.__data_len >> 9) == sector) return ELEVATOR_BACK_MERGE;
  // blk_rq_pos(rq) - bio_sectors(bio): the port's sectors are below 2^53, so no wrap is a match.
  if (pos >= nr_sectors && pos - nr_sectors == sector) return ELEVATOR_FRONT_MERGE;
  return ELEVATOR_NO_MERGE;
}

/**
 * `blk_rq_merge_ok()`, then {@link blk_try_merge}: the bio right behind
 * the request (back merge) or right before it (front merge) goes through
 * {@link attempt_merge}.
 */
function rq_bio_merge(q: RequestQueue, r: Request, bio: usize, jiffies: f64): i32 {
  const rw = load<u32>(bio + BI_RW);
  if (!rq_merge_ok(r.cmd_flags, rw)) return BLK_MERGE_NONE;
  const where = blk_try_merge(r, load<u64>(bio + BI_SECTOR), <u64>(load<u32>(bio + BI_SIZE) >> 9));
  if (where == ELEVATOR_NO_MERGE) return BLK_MERGE_NONE;
  return attempt_merge(q, r, bio, where == ELEVATOR_BACK_MERGE, jiffies);
}

/** Mirrors `blk_mq_attempt_merge()` (block/blk-mq.c, v4.4); see {@link blk_mq_attempt_merge}. */
function attempt_ctx_merge(q: RequestQueue, c: BlkMqCtx, bio: usize, jiffies: f64): i32 {
  const head = changetype<usize>(c) + CTX_RQ_LIST;
  let checked = BLK_MQ_MERGE_CHECKED;
  // list_for_each_entry_reverse(rq, &ctx->rq_list, queuelist)
  for (let rq = <usize>c.rq_list_prev; rq != head; rq = <usize>changetype<Request>(rq).queuelist_prev) {
    if (!checked--) break;
    const ret = rq_bio_merge(q, changetype<Request>(rq), bio, jiffies);
    if (ret == BLK_MERGE_NONE) continue;
    if (ret == BLK_MERGE_DONE) {
      c.rq_merged++;
      return 1;
    }
    return ret == BLK_MERGE_REFUSED ? 0 : ret;
  }
  return 0;
}

// ---------------------------------------------------------------------------
// Exports
// ---------------------------------------------------------------------------

/**
 * Mirrors `blk_mq_rq_ctx_init()` (block/blk-mq.c, v4.4) with the rest of
 * `blk_mq_map_request()`'s work once a tag was had: `hctx->queued++`, the
 * request record reset (its first 96 bytes) and set up: the queue (`q` id
 * and record address), `mq_ctx`, `cmd_flags` = the data direction, REQ_SYNC
 * when `rw_is_sync(bi_rw)` and REQ_IO_STAT when the queue has
 * QUEUE_FLAG_IO_STAT, the tag, `cpu` -1, `start_time` = `now`, the hctx's
 * queue_num, and `ctx->rq_dispatched[rw_is_sync]++`.
 *
 * @param bi_rw the bio's `bi_rw`
 * @param now ns (`rq->start_time`; jiffies in v4.4)
 * @returns 0, or -22 for a record outside memory (nothing written)
 */
export function blk_mq_rq_ctx_init(q: usize, hctx: usize, ctx: usize, rq: usize, bi_rw: u32, tag: i32, now: f64): i32 {
  if (
    !in_memory(rq, REQUEST_SIZE) || !in_memory(q, offsetof<RequestQueue>()) ||
    !in_memory(hctx, offsetof<BlkMqHwCtx>()) || !in_memory(ctx, offsetof<BlkMqCtx>())
  ) return -EINVAL;
  const rw: u32 = (bi_rw & REQ_WRITE) | (rw_is_sync(bi_rw) ? REQ_SYNC : 0);
  const h = changetype<BlkMqHwCtx>(hctx);
  const c = changetype<BlkMqCtx>(ctx);
  const qr = changetype<RequestQueue>(q);
  const r = changetype<Request>(rq);
  memory.fill(rq, 0, REQUEST_RESET_BYTES);
  h.queued++;
  r.q = qr.id;
  r.queue = <u32>q;
  r.mq_ctx = c.cpu;
  r.cmd_flags = rw | (blk_queue_io_stat(q) ? REQ_IO_STAT : 0);
  r.tag = tag;
  r.cpu = -1;
  r.start_time = now;
  r.hctx = <i32>h.queue_num;
  if (rw_is_sync(rw)) c.rq_dispatched_sync++;
  else c.rq_dispatched_async++;
  return 0;
}

/**
 * Mirrors `blk_mq_bio_to_request()` (block/blk-mq.c, v4.4):
 * `init_request_from_bio()` and `blk_account_io_start(rq, true)` on the
 * queue's disk (none while `part0` is 0).
 *
 * @param jiffies now, for the part0 accounting
 * @returns 0; -22 for a request or bio outside memory (nothing written);
 *          -14 when part0 refused the accounting (the request is set up)
 */
export function blk_mq_bio_to_request(q: usize, rq: usize, bio: usize, jiffies: f64): i32 {
  if (!in_memory(rq, REQUEST_SIZE) || !in_memory(bio, BIO_SIZE) || !in_memory(q, offsetof<RequestQueue>())) return -EINVAL;
  const r = changetype<Request>(rq);
  init_request_from_bio(r, bio);
  return account_io_start(changetype<RequestQueue>(q), r.cmd_flags, 1, jiffies);
}

/**
 * `blk_rq_merge_ok()`, `blk_try_merge()` and the back or front merge of
 * `bio` into `rq` (block/blk-merge.c, block/blk-core.c, v4.4): one
 * candidate of `blk_attempt_plug_merge()` or `blk_mq_attempt_merge()`.
 *
 * @param jiffies now, for the part0 accounting
 * @returns BLK_MERGE_NONE (0) when the request does not take the bio,
 *          BLK_MERGE_DONE (1) when it did, BLK_MERGE_REFUSED (2) when the
 *          bio fit but the limits refused it (the request is now
 *          REQ_NOMERGE); -22 for a record outside memory, -14 when part0
 *          refused the accounting (the bio is merged)
 */
export function blk_rq_bio_merge(q: usize, rq: usize, bio: usize, jiffies: f64): i32 {
  if (!in_memory(rq, REQUEST_SIZE) || !in_memory(bio, BIO_SIZE) || !in_memory(q, offsetof<RequestQueue>())) return -EINVAL;
  return rq_bio_merge(changetype<RequestQueue>(q), changetype<Request>(rq), bio, jiffies);
}

/**
 * Mirrors `blk_mq_attempt_merge()` (block/blk-mq.c, v4.4): the newest
 * BLK_MQ_MERGE_CHECKED requests of `ctx->rq_list`, newest first; the first
 * one that takes the bio at its back or front decides: merged counts
 * `ctx->rq_merged`, refused by the limits ends the search. The caller holds
 * `ctx->lock`.
 *
 * @returns 1 merged, 0 not; -22 or -14 as {@link blk_rq_bio_merge}
 */
export function blk_mq_attempt_merge(q: usize, ctx: usize, bio: usize, jiffies: f64): i32 {
  if (!in_memory(bio, BIO_SIZE) || !in_memory(q, offsetof<RequestQueue>()) || !in_memory(ctx, offsetof<BlkMqCtx>())) return -EINVAL;
  return attempt_ctx_merge(changetype<RequestQueue>(q), changetype<BlkMqCtx>(ctx), bio, jiffies);
}

/**
 * Mirrors `__blk_mq_insert_request()` (block/blk-mq.c, v4.4): `rq` at the
 * head or tail of `ctx->rq_list`, and the ctx marked pending on `hctx`
 * (`blk_mq_hctx_mark_pending()`). The caller holds `ctx->lock`.
 *
 * @returns 0, or -22 for a record outside memory (nothing written)
 */
export function __blk_mq_insert_request(hctx: usize, ctx: usize, rq: usize, at_head: i32): i32 {
  if (!in_memory(rq, REQUEST_SIZE) || !in_memory(hctx, offsetof<BlkMqHwCtx>()) || !in_memory(ctx, offsetof<BlkMqCtx>())) return -EINVAL;
  const head = ctx + CTX_RQ_LIST;
  if (at_head != 0) list_add(rq, head);
  else list_add_tail(rq, head);
  blk_mq_hctx_mark_pending(hctx, changetype<BlkMqCtx>(ctx).index_hw);
  return 0;
}

/**
 * Mirrors `blk_mq_merge_queue_io()` (block/blk-mq.c, v4.4) inside
 * `ctx->lock`, which the caller holds: when the hctx merges
 * (BLK_MQ_F_SHOULD_MERGE), the queue allows it (not QUEUE_FLAG_NOMERGES)
 * and the bio is mergeable, {@link blk_mq_attempt_merge}; a merge leaves
 * the new request `rq` for the caller to free (`__blk_mq_free_request()`).
 * Otherwise the bio becomes `rq` ({@link blk_mq_bio_to_request}) and `rq`
 * goes to the tail of `ctx->rq_list`, the ctx marked pending.
 *
 * @param jiffies now, for the part0 accounting
 * @returns 1 merged (free `rq`), 0 inserted; -22 for a record outside
 *          memory (nothing written), -14 when part0 refused the accounting
 *          (the request is set up but not inserted)
 */
export function blk_mq_merge_queue_io(q: usize, hctx: usize, ctx: usize, rq: usize, bio: usize, jiffies: f64): i32 {
  if (
    !in_memory(rq, REQUEST_SIZE) || !in_memory(bio, BIO_SIZE) || !in_memory(q, offsetof<RequestQueue>()) ||
    !in_memory(hctx, offsetof<BlkMqHwCtx>()) || !in_memory(ctx, offsetof<BlkMqCtx>())
  ) return -EINVAL;
  const qr = changetype<RequestQueue>(q);
  const c = changetype<BlkMqCtx>(ctx);
  if (
    (changetype<BlkMqHwCtx>(hctx).flags & BLK_MQ_F_SHOULD_MERGE) != 0 && !blk_queue_nomerges(q) &&
    (load<u32>(bio + BI_RW) & REQ_NOMERGE_FLAGS) == 0
  ) {
    const merged = attempt_ctx_merge(qr, c, bio, jiffies);
    if (merged != 0) return merged;
  }
  const r = changetype<Request>(rq);
  init_request_from_bio(r, bio);
  const err = account_io_start(qr, r.cmd_flags, 1, jiffies);
  if (err != 0) return err;
  list_add_tail(rq, ctx + CTX_RQ_LIST);
  blk_mq_hctx_mark_pending(hctx, c.index_hw);
  return 0;
}
