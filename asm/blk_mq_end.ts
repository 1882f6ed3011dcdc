// SPDX-License-Identifier: GPL-2.0-only
// The end of a request: blk_update_request() and blk_account_io_done()
// (block/blk-core.c, v4.4), blk_mq_end_request(), __blk_mq_end_request(),
// blk_mq_free_request() and __blk_mq_free_request() (block/blk-mq.c, v4.4)
// over the request, queue, ctx and hctx records.
//
// What stays TypeScript is reached by host calls (asm/host.ts): a bio's
// end_io (through bio_endio()), the request's end_io (a callback id, the
// flush machinery's hooks), the tag put (the TS tag map checks the put,
// reports a freed map as KASAN does and wakes the tasks the put frees a tag
// for) and the queue reference drop (its release wakes freeze waiters).
// Each host call may re-enter the core (an end_io ends or frees other
// requests), so the records are consistent before one and read again after.
//
// Time is passed in: `now` in jiffies and the clock's nanoseconds per jiffy
// (the request's start_time is in ns, v4.4 keeps jiffies). The "I/O error"
// printk and the BUGs are the caller's: a failed step returns one of the
// END_FAULT_* codes below, having changed what the TypeScript code changed
// before the same BUG.

import { BlkMqCtx, BlkMqHwCtx, HCTX_TAGS, HCTX_TAGS_HINTS, tag_hint } from "./blk_mq_ctx";
import { blk_mq_ctx_of, blk_mq_map_queue, blk_queue_exit, RequestQueue } from "./blk_queue";
import { Bio, BIO_SIZE, bio_advance, bio_endio, bio_segments } from "./bio";
import { blk_account_io_completion, blk_account_io_done as part_account_io_done } from "./genhd";
import { host_blk_mq_put_tag, host_blk_mq_tag_wake, host_rq_end_io } from "./host";
import { EINVAL } from "./page_alloc";
import { blk_mq_put_tag, blk_mq_tag_allocated, blk_mq_tags_stat } from "./tags";
import { in_memory, Request, REQ_ATOM_STARTED, REQ_FLUSH_SEQ, REQ_IO_STAT, REQ_WRITE, rw_is_sync } from "./request";

// ---------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------

// struct request (asm/request.ts).
const RQ_MQ_CTX: usize = offsetof<Request>("mq_ctx");
const RQ_CMD_FLAGS: usize = offsetof<Request>("cmd_flags");
const RQ_ATOMIC_FLAGS: usize = offsetof<Request>("atomic_flags");
const RQ_TAG: usize = offsetof<Request>("tag");
const RQ_SECTOR: usize = offsetof<Request>("__sector");
const RQ_DATA_LEN: usize = offsetof<Request>("__data_len");
const RQ_ERRORS: usize = offsetof<Request>("errors");
const RQ_START_TIME: usize = offsetof<Request>("start_time");
const RQ_TIMEOUT: usize = offsetof<Request>("timeout");
const RQ_BIO: usize = offsetof<Request>("bio");
const RQ_NR_PHYS_SEGMENTS: usize = offsetof<Request>("nr_phys_segments");
const RQ_END_IO: usize = offsetof<Request>("end_io");
const RQ_QUEUE: usize = offsetof<Request>("queue");

// struct bio (asm/bio.ts's layout): the fields req_bio_endio() touches.
const BIO_NEXT: usize = offsetof<Bio>("bi_next");
const BIO_ERROR: usize = offsetof<Bio>("bi_error");
const BIO_SIZE_OFF: usize = offsetof<Bio>("bi_size");

// struct blk_mq_ctx / blk_mq_hw_ctx (asm/blk_mq_ctx.ts).
const CTX_RQ_COMPLETED: usize = offsetof<BlkMqCtx>("rq_completed_async");
const HCTX_QUEUE_NUM: usize = offsetof<BlkMqHwCtx>("queue_num");

// ---------------------------------------------------------------------------
// Faults: what the caller turns into the BUG the TypeScript path raised
// ---------------------------------------------------------------------------

/** bio_advance() refused a bio of the request (freed). */
export const END_FAULT_BIO_ADVANCE: i32 = -2;
/** bio_endio() refused a bio of the request (freed, or `__bi_remaining` <= 0). */
export const END_FAULT_BIO_ENDIO: i32 = -3;
/** bio_segments() refused a bio left on the request (freed). */
export const END_FAULT_BIO_SEGMENTS: i32 = -4;
/** blk_account_io_completion() refused the disk's part0 record. */
export const END_FAULT_PART_COMPLETION: i32 = -5;
/** blk_account_io_done() refused the disk's part0 record. */
export const END_FAULT_PART_DONE: i32 = -6;
/** blk_mq_end_request(): bytes remain after blk_update_request(). */
export const END_FAULT_BYTES_LEFT: i32 = -7;
/** blk_mq_map_queue() found no hctx for the request's ctx. */
export const END_FAULT_NO_HCTX: i32 = -8;
/** The request's tag is not allocated in its hctx's map (a double put). */
export const END_FAULT_TAG_NOT_ALLOCATED: i32 = -9;

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/** `rq->rq_disk->part0` when `blk_do_io_stat()` says yes, else 0. */
@inline
function io_stat_part(rq: usize, flags: u32): usize {
  if ((flags & REQ_IO_STAT) == 0) return 0;
  return <usize>changetype<RequestQueue>(<usize>load<u32>(rq, RQ_QUEUE)).part0;
}

/**
 * Mirrors `req_bio_endio()` (block/blk-core.c, v4.4): the error recorded on
 * the bio, the bio advanced by `nbytes`, and ended once nothing is left —
 * unless the request is part of a flush sequence (its bios are ended when
 * the sequence is over).
 */
function req_bio_endio(flags: u32, bio: usize, nbytes: u32, error: i32): i32 {
  if (!in_memory(bio, BIO_SIZE)) return nbytes > 0 ? END_FAULT_BIO_ADVANCE : END_FAULT_BIO_ENDIO;
  if (error != 0) store<i32>(bio, error, BIO_ERROR);
  // bio_advance() past bi_size (-7) cannot happen: nbytes <= bi_size.
  if (nbytes > 0 && bio_advance(bio, nbytes) == -EINVAL) return END_FAULT_BIO_ADVANCE;
  if (load<u32>(bio, BIO_SIZE_OFF) == 0 && (flags & REQ_FLUSH_SEQ) == 0) {
    store<u32>(bio, 0, BIO_NEXT);
    if (bio_endio(bio) < 0) return END_FAULT_BIO_ENDIO;
  }
  return 0;
}

// ---------------------------------------------------------------------------
// Completing bytes
// ---------------------------------------------------------------------------

/**
 * Mirrors `blk_update_request()` (block/blk-core.c, v4.4) without the "I/O
 * error" printk (the caller's): completes `nr_bytes` of `rq`. A request
 * without bios has nothing to do. Otherwise `rq->errors` is reset, part0
 * counts the sectors (`blk_account_io_completion()`, when the request has
 * REQ_IO_STAT and its queue a disk), and the bios are walked from `rq->bio`:
 * each takes what of `nr_bytes` falls in it (req_bio_endio()) and leaves the
 * request first when that is all of it. When bios remain, `__data_len`
 * shrinks, `__sector` moves on and `nr_phys_segments` is counted again
 * (`blk_recalc_rq_segments()`); when none do, `__data_len` is 0.
 *
 * @returns 1 when bytes remain, 0 when the request is done, or an
 *   END_FAULT_* code (the bios before the failing one were ended)
 */
export function blk_update_request(rq: usize, error: i32, nr_bytes: u32): i32 {
  if (load<u32>(rq, RQ_BIO) == 0) return 0;
  store<i32>(rq, 0, RQ_ERRORS);
  const flags = load<u32>(rq, RQ_CMD_FLAGS);
  const part = io_stat_part(rq, flags);
  if (part != 0 && blk_account_io_completion(part, <i32>(flags & REQ_WRITE), nr_bytes) != 0) {
    return END_FAULT_PART_COMPLETION;
  }
  let total: u32 = 0;
  for (;;) {
    const bio = <usize>load<u32>(rq, RQ_BIO);
    if (bio == 0) break;
    const size = in_memory(bio, BIO_SIZE) ? load<u32>(bio, BIO_SIZE_OFF) : 0;
    const bytes = size < nr_bytes ? size : nr_bytes;
    if (bytes == size) store<u32>(rq, in_memory(bio, BIO_SIZE) ? load<u32>(bio, BIO_NEXT) : 0, RQ_BIO);
    const rc = req_bio_endio(flags, bio, bytes, error);
    if (rc < 0) return rc;
    total += bytes;
    nr_bytes -= bytes;
    if (nr_bytes == 0) break;
  }
  let bio = <usize>load<u32>(rq, RQ_BIO);
  if (bio == 0) {
    // Completely done: a stacking driver reads the remaining bytes as 0.
    store<u32>(rq, 0, RQ_DATA_LEN);
    return 0;
  }
  store<u32>(rq, load<u32>(rq, RQ_DATA_LEN) - total, RQ_DATA_LEN);
  store<u64>(rq, load<u64>(rq, RQ_SECTOR) + <u64>(total >> 9), RQ_SECTOR);
  let segs: u32 = 0;
  for (; bio != 0; bio = <usize>load<u32>(bio, BIO_NEXT)) {
    const n = bio_segments(bio);
    if (n < 0) return END_FAULT_BIO_SEGMENTS;
    segs += <u32>n;
  }
  store<u16>(rq, <u16>segs, RQ_NR_PHYS_SEGMENTS);
  return 1;
}

// ---------------------------------------------------------------------------
// Ending and freeing
// ---------------------------------------------------------------------------

/**
 * Mirrors `blk_account_io_done()` (block/blk-core.c, v4.4): part0 counts one
 * finished I/O, its ticks and one fewer in flight — not for a request still
 * inside a flush sequence (it is counted when the sequence ends).
 */
function account_io_done(rq: usize, now: f64, tick_ns: f64): i32 {
  const flags = load<u32>(rq, RQ_CMD_FLAGS);
  if ((flags & REQ_FLUSH_SEQ) != 0) return 0;
  const part = io_stat_part(rq, flags);
  if (part == 0) return 0;
  const start = Math.floor(load<f64>(rq, RQ_START_TIME) / tick_ns);
  return part_account_io_done(part, <i32>(flags & REQ_WRITE), start, now) == 0 ? 0 : END_FAULT_PART_DONE;
}

/**
 * Mirrors `__blk_mq_end_request()` (block/blk-mq.c, v4.4), for a request
 * whose bytes are all done: `blk_account_io_done()`, then `rq->end_io(rq,
 * error)` when the request has one (host_rq_end_io(); it then owns the
 * request, and an id TypeScript does not know frees it), else the request
 * freed (blk_mq_free_request()). No bidi (`next_rq`).
 *
 * @param now jiffies
 * @param tick_ns nanoseconds per jiffy (`rq->start_time` is in ns)
 * @param this_cpu the current CPU (the queue reference is dropped there)
 * @returns 0, or an END_FAULT_* code
 */
export function __blk_mq_end_request(rq: usize, error: i32, now: f64, tick_ns: f64, this_cpu: u32): i32 {
  const rc = account_io_done(rq, now, tick_ns);
  if (rc < 0) return rc;
  const id = load<u32>(rq, RQ_END_IO);
  if (id != 0) {
    host_rq_end_io(<u32>rq, id, error);
    return 0;
  }
  return blk_mq_free_request(rq, this_cpu);
}

/**
 * Mirrors `blk_mq_end_request()` (block/blk-mq.c, v4.4): blk_update_request()
 * for all of `__data_len` (bytes left over are the kernel's BUG()), then
 * __blk_mq_end_request().
 *
 * @returns 0, or an END_FAULT_* code (END_FAULT_BYTES_LEFT: nothing was ended)
 */
export function blk_mq_end_request(rq: usize, error: i32, now: f64, tick_ns: f64, this_cpu: u32): i32 {
  const rc = blk_update_request(rq, error, load<u32>(rq, RQ_DATA_LEN));
  if (rc < 0) return rc;
  if (rc != 0) return END_FAULT_BYTES_LEFT;
  return __blk_mq_end_request(rq, error, now, tick_ns, this_cpu);
}

/**
 * Mirrors `blk_mq_free_request()` → `blk_mq_free_hctx_request()` (v4.4):
 * `rq_completed[rw_is_sync()]++` on the request's ctx, then
 * __blk_mq_free_request() on the hctx that ctx maps to now.
 *
 * @returns 0, or END_FAULT_NO_HCTX (nothing changed)
 */
export function blk_mq_free_request(rq: usize, this_cpu: u32): i32 {
  const q = <usize>load<u32>(rq, RQ_QUEUE);
  const cpu = load<u32>(rq, RQ_MQ_CTX);
  const hctx = q == 0 ? 0 : blk_mq_map_queue(q, cpu);
  if (hctx == 0) return END_FAULT_NO_HCTX;
  const at = blk_mq_ctx_of(q, cpu) + CTX_RQ_COMPLETED + (rw_is_sync(load<u32>(rq, RQ_CMD_FLAGS)) ? 8 : 0);
  store<u64>(at, load<u64>(at) + 1);
  return __blk_mq_free_request(rq, hctx, cpu, this_cpu);
}

/**
 * Mirrors `blk_mq_put_tag()` (block/blk-mq-tag.c, v4.4) as the TypeScript
 * map's putTag() calls it: the tag must be allocated (a double put changes
 * nothing and is reported), the hint is the freeing ctx's word for the
 * bitmap the tag belongs to.
 *
 * @returns the wake mask (wait queues to wake), or END_FAULT_TAG_NOT_ALLOCATED
 */
function put_tag(tags: usize, hints: usize, cpu: u32, tag: u32): i32 {
  if (blk_mq_tag_allocated(tags, tag) != 1) return END_FAULT_TAG_NOT_ALLOCATED;
  const reserved: usize = tag < <u32>blk_mq_tags_stat(tags, 1) ? 1 : 0;
  const r = blk_mq_put_tag(tags, tag, tag_hint(hints, cpu, reserved));
  return r < 0 ? END_FAULT_TAG_NOT_ALLOCATED : r;
}

/**
 * Mirrors `__blk_mq_free_request()` (v4.4): flags reset, STARTED cleared,
 * the tag put on `hctx`'s map by the freeing ctx `cpu` (`nr_active`
 * dropped; the waiters it frees a tag for woken by host_blk_mq_tag_wake())
 * and the request's queue reference dropped on the current CPU `this_cpu`
 * (blk_queue_exit(): the core's in percpu mode, else the host's). An
 * hctx whose record holds no live map (none, or freed by a hotplug remap of
 * a shared set) leaves the put to host_blk_mq_put_tag(), which reports it.
 * v4.4 zeroes `rq->timeout` in `blk_mq_rq_ctx_init()`; the port does it when
 * the record goes back.
 *
 * @returns 0, or END_FAULT_TAG_NOT_ALLOCATED (the record was reset, the
 *   queue reference kept)
 */
export function __blk_mq_free_request(rq: usize, hctx: usize, cpu: u32, this_cpu: u32): i32 {
  const tag = load<i32>(rq, RQ_TAG);
  store<u32>(rq, 0, RQ_CMD_FLAGS);
  store<u32>(rq, 0, RQ_TIMEOUT);
  atomic.and<u32>(rq + RQ_ATOMIC_FLAGS, ~(<u32>1 << REQ_ATOM_STARTED));
  const q = <usize>load<u32>(rq, RQ_QUEUE);
  const qid = changetype<RequestQueue>(q).id;
  const tags = <usize>load<u32>(hctx, HCTX_TAGS);
  if (tags == 0) {
    host_blk_mq_put_tag(qid, load<u32>(hctx, HCTX_QUEUE_NUM), cpu, tag);
  } else {
    const mask = put_tag(tags, <usize>load<u32>(hctx, HCTX_TAGS_HINTS), cpu, <u32>tag);
    if (mask < 0) return mask;
    if (mask != 0) host_blk_mq_tag_wake(qid, load<u32>(hctx, HCTX_QUEUE_NUM), mask);
  }
  blk_queue_exit(q, this_cpu);
  return 0;
}
