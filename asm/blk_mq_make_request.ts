// SPDX-License-Identifier: GPL-2.0-only
// The make_request of a bio as one core call: `blk_queue_enter()`,
// `blk_mq_map_request()` with a tag that needs no waiting, and
// `blk_sq_make_request()` / the async no-plug branch of
// `blk_mq_make_request()` (block/blk-mq.c, v4.4): the plug merge and the
// request onto the task's plug (asm/blk_plug.ts), or without a plug the ctx
// merge or insert and the hw queue run, synchronous for a sync bio on a CPU
// of the hctx (the dispatch loop of asm/blk_mq_dispatch.ts, with the
// driver's queue_rq inline when it offers one, asm/null_blk.ts), else as a
// kblockd work (a host call). And `blk_flush_plug_list()` of a plug holding
// one queue's requests.
//
// It takes what the TypeScript path (ts/block/blk_mq_request.ts) would do
// without sleeping, and nothing else. The caller has made
// `generic_make_request_checks()`. What the core cannot decide it does not
// start: a FLUSH/FUA bio, a sync or plugged bio on a queue with several hw
// queues (the direct issue), an hctx without a live tag map or a CPU
// outside the queue's map leave nothing changed and return
// MAKE_REQUEST_FALLBACK; a frozen or dying queue or no free tag, where the
// TS path would sleep, return MAKE_REQUEST_WOULD_SLEEP with nothing changed
// but what the TS path's own plug scan redoes (a refused plug merge marks
// its request REQ_NOMERGE). Once it took the queue reference of
// `blk_queue_enter()`, a host call that throws leaves that reference to the
// caller, as the TS path's `finally` drops it.
//
// The caller passes the current CPU, the clock (ns), HZ and ns per jiffy,
// and in `flags` whether lockdep runs (then `ctx->lock` is taken and
// released by host calls, so the TS lock validates it) and the inline
// driver's code. It keeps preemption disabled around the call
// (`blk_mq_get_ctx()`'s `get_cpu()`), so a driver reached by a host call
// sees what it would see on the TS path.

import { blk_mq_hctx_mark_pending, BlkMqCtx, BlkMqHwCtx, CTX_RQ_LIST, HCTX_TAG_HCTX, HCTX_TAGS, HCTX_TAGS_HINTS, HCTX_TAGS_RQS, tag_hint } from "./blk_mq_ctx";
import { blk_mq_run_hw_queue, hctx_has_ctx } from "./blk_mq_dispatch";
import { __blk_mq_free_request } from "./blk_mq_end";
import { blk_mq_bio_to_request, blk_mq_merge_queue_io, blk_mq_rq_ctx_init, blk_rq_bio_merge, BLK_MERGE_DONE, blk_try_merge, ELEVATOR_NO_MERGE } from "./blk_mq_map";
import { blk_mq_ctx_of, blk_mq_map_queue, blk_queue_enter_live_try, blk_queue_exit, blk_queue_nomerges, RequestQueue } from "./blk_queue";
import { Bio } from "./bio";
import { host_blk_flush_plug_list, host_ctx_lock } from "./host";
import { list_add_tail, list_empty, list_init, LIST_NEXT, LIST_PREV } from "./list";
import { percpu_ref_get } from "./percpu_ref";
import { in_memory, Request, REQ_FLUSH, REQ_FUA, REQUEST_SIZE, rw_is_sync } from "./request";
import { blk_mq_get_tag } from "./tags";

/** `BLK_QC_T_NONE`: the bio merged; no request to poll. */
export const BLK_QC_T_NONE: i32 = -1;
/** Where the TS path would sleep (frozen or dying queue, no free tag); nothing was done. */
export const MAKE_REQUEST_WOULD_SLEEP: i32 = -2;
/** Not a bio this function takes; nothing was done. */
export const MAKE_REQUEST_FALLBACK: i32 = -3;

/** `flags`: lockdep runs; `ctx->lock` is the host's. */
export const MAKE_REQUEST_LOCKDEP: u32 = 1;
/** `flags`: the inline driver's code (BLK_MQ_INLINE_*, asm/null_blk.ts) from this bit up. */
export const MAKE_REQUEST_DRIVER_SHIFT: u32 = 8;

/** `BLK_QC_T_SHIFT`: the cookie is `tag | queue_num << 16`. */
const BLK_QC_T_SHIFT: u32 = 16;
/** Mirrors `BLK_MQ_F_DEFER_ISSUE`. */
const BLK_MQ_F_DEFER_ISSUE: u32 = 1 << 4;

/** Mirrors `BLK_MAX_REQUEST_COUNT`: blk_sq_make_request() flushes a plug holding this many of the queue's requests. */
const BLK_MAX_REQUEST_COUNT: u32 = 16;

const BI_RW: usize = offsetof<Bio>("bi_rw");
const RQ_QUEUE: usize = offsetof<Request>("queue");
const RQ_MQ_CTX: usize = offsetof<Request>("mq_ctx");
const RQ_SECTOR: usize = offsetof<Request>("__sector");

/**
 * `generic_make_request()`'s queue part for a bio the checks let through,
 * without sleeping: `blk_queue_enter()`, `blk_mq_map_request()`
 * (`blk_queue_enter_live()`, a tag from the CPU's ctx and its hctx,
 * `blk_mq_rq_ctx_init()`), then what `blk_sq_make_request()` and an async
 * bio of `blk_mq_make_request()` do, and `blk_queue_exit()`.
 *
 * Without a plug: `blk_mq_merge_queue_io()` under `ctx->lock` (a merged
 * bio's request freed at once), and unless merged the hw queue run
 * (asynchronous for an async bio). With one (`blk_sq_make_request()` only:
 * a queue of several hw queues with a plug falls back): first
 * `blk_attempt_plug_merge()` unless the queue has `nomerges` (the plug's
 * requests newest to oldest, those of this queue counted, the first that
 * takes the bio ends the call: BLK_QC_T_NONE), then bio → request, the plug
 * flushed when it held BLK_MAX_REQUEST_COUNT of this queue's requests
 * ({@link blk_mq_flush_plug_list_nowait}, or host_blk_flush_plug_list()
 * for a plug the core cannot flush), and the request onto `plug->mq_list`.
 *
 * @param q the queue record
 * @param bio the bio (its `bi_bdev` names `q`)
 * @param plug the task's plug record (asm/blk_plug.ts), 0 for none
 * @param cpu the current CPU (`blk_mq_get_ctx()`)
 * @param now the clock (ns)
 * @param hz `HZ`
 * @param tick_ns ns per jiffy
 * @param flags MAKE_REQUEST_LOCKDEP, and the inline driver's code above MAKE_REQUEST_DRIVER_SHIFT
 * @returns the cookie (`tag | queue_num << 16`, that of the freed request
 *   for a ctx-merged bio as in v4.4), BLK_QC_T_NONE for a plug merge,
 *   MAKE_REQUEST_WOULD_SLEEP or MAKE_REQUEST_FALLBACK (nothing done but
 *   what the TS path's own plug scan would redo), or the negative errno of
 *   asm/blk_mq_map.ts for a record it refused (-22 outside memory, -14 part0
 *   refused: the TS path's RangeError and BUG)
 */
export function blk_mq_make_request_nowait(q: usize, bio: usize, plug: usize, cpu: u32, now: f64, hz: u32, tick_ns: f64, flags: u32): i32 {
  const r = changetype<RequestQueue>(q);
  // blk_queue_enter(): a frozen or dying queue sleeps. First, as on the TS path, so that
  // whatever raises below (a host call, an assertion) leaves this reference to the caller.
  if (!blk_queue_enter_live_try(q, cpu)) return MAKE_REQUEST_WOULD_SLEEP;
  const rw = load<u32>(bio + BI_RW);
  const hctx = (rw & (REQ_FLUSH | REQ_FUA)) != 0 || cpu >= r.nr_cpu_ids ? 0 : blk_mq_map_queue(q, cpu);
  const h = changetype<BlkMqHwCtx>(hctx);
  const is_sync = rw_is_sync(rw);
  const tags = hctx == 0 ? 0 : <usize>load<u32>(hctx, HCTX_TAGS);
  const rqs = hctx == 0 ? 0 : <usize>load<u32>(hctx, HCTX_TAGS_RQS);
  if (tags == 0 || rqs == 0 || (r.nr_hw_queues > 1 && (plug != 0 || (is_sync && (h.flags & BLK_MQ_F_DEFER_ISSUE) == 0)))) {
    blk_queue_exit(q, cpu);
    return MAKE_REQUEST_FALLBACK;
  }
  const jiffies = Math.floor(now / tick_ns);
  // blk_attempt_plug_merge()
  let request_count: u32 = 0;
  if (plug != 0 && !blk_queue_nomerges(q)) {
    const sector = changetype<Bio>(bio).bi_sector;
    const nr_sectors = <u64>(changetype<Bio>(bio).bi_size >> 9);
    for (let e = <usize>load<u32>(plug, LIST_PREV); e != plug; e = <usize>load<u32>(e, LIST_PREV)) {
      if (<usize>load<u32>(e + RQ_QUEUE) != q) continue;
      request_count++;
      // blk_try_merge() before blk_rq_merge_ok(): both are pure, and a request the bio touches
      // at neither end cannot take it, so most of a random plug costs no merge call.
      if (in_memory(e, REQUEST_SIZE) && blk_try_merge(changetype<Request>(e), sector, nr_sectors) == ELEVATOR_NO_MERGE) continue;
      const m = blk_rq_bio_merge(q, e, bio, jiffies);
      if (m == BLK_MERGE_DONE || m < 0) {
        blk_queue_exit(q, cpu);
        return m < 0 ? m : BLK_QC_T_NONE;
      }
    }
  }
  // blk_mq_map_request(): blk_queue_enter_live(), then a tag without waiting.
  percpu_ref_get(<usize>r.q_usage_counter, cpu);
  const tag = blk_mq_get_tag(tags, <usize>load<u32>(hctx, HCTX_TAG_HCTX), tag_hint(<usize>load<u32>(hctx, HCTX_TAGS_HINTS), cpu, 0), 0);
  if (tag < 0) {
    blk_queue_exit(q, cpu);
    blk_queue_exit(q, cpu);
    return MAKE_REQUEST_WOULD_SLEEP;
  }
  const ctx = blk_mq_ctx_of(q, cpu);
  const rq = <usize>load<u32>(rqs + (<usize>tag << 2));
  let rc = blk_mq_rq_ctx_init(q, hctx, ctx, rq, rw, tag, now);
  if (rc < 0) {
    blk_queue_exit(q, cpu); // the TS path's refusal keeps the map's reference and the tag, as this does
    return rc;
  }
  const cookie = tag | <i32>(h.queue_num << BLK_QC_T_SHIFT);

  if (plug != 0) {
    rc = blk_mq_bio_to_request(q, rq, bio, jiffies);
    if (rc < 0) {
      blk_queue_exit(q, cpu);
      return rc;
    }
    if (request_count >= BLK_MAX_REQUEST_COUNT && blk_mq_flush_plug_list_nowait(plug, q, 0, cpu, now, hz, tick_ns, flags) == MAKE_REQUEST_FALLBACK) {
      host_blk_flush_plug_list(<u32>plug, 0);
    }
    list_add_tail(rq, plug);
    blk_queue_exit(q, cpu);
    return cookie;
  }

  const lockdep = (flags & MAKE_REQUEST_LOCKDEP) != 0;
  if (lockdep) host_ctx_lock(<u32>q, cpu, 1);
  rc = blk_mq_merge_queue_io(q, hctx, ctx, rq, bio, jiffies);
  if (lockdep) host_ctx_lock(<u32>q, cpu, 0);
  if (rc < 0) {
    blk_queue_exit(q, cpu);
    return rc;
  }
  if (rc != 0) __blk_mq_free_request(rq, hctx, cpu, cpu);
  else blk_mq_run_hw_queue(q, hctx, !is_sync, cpu, now, hz, tick_ns, flags >> MAKE_REQUEST_DRIVER_SHIFT);
  blk_queue_exit(q, cpu);
  return cookie;
}

/** `plug_ctx_cmp()`'s order among one queue's requests: `a` before `b` by ctx (its CPU), then start sector. */
@inline
function plug_before(a: usize, b: usize): bool {
  const ca = load<i32>(a + RQ_MQ_CTX);
  const cb = load<i32>(b + RQ_MQ_CTX);
  return ca < cb || (ca == cb && load<u64>(a + RQ_SECTOR) < load<u64>(b + RQ_SECTOR));
}

/**
 * `list_sort(NULL, &list, plug_ctx_cmp)` over a chain of requests linked by
 * `queuelist.next` and ended by 0, stably (requests with the same ctx and
 * sector keep their plug order, as the TS flush's sort does; v4.4's merge
 * sort is stable too). An insertion sort: a plug holds few requests, mostly
 * in order already.
 *
 * @returns the sorted chain's first request
 */
function plug_sort(first: usize): usize {
  let sorted: usize = 0;
  let tail: usize = 0;
  while (first != 0) {
    const e = first;
    first = <usize>load<u32>(e, LIST_NEXT);
    if (sorted == 0 || !plug_before(e, tail)) {
      // after every request it does not precede: here, the tail
      store<u32>(e, 0, LIST_NEXT);
      if (sorted == 0) sorted = e;
      else store<u32>(tail, <u32>e, LIST_NEXT);
      tail = e;
      continue;
    }
    let prev: usize = 0;
    let cur = sorted;
    while (!plug_before(e, cur)) {
      prev = cur;
      cur = <usize>load<u32>(cur, LIST_NEXT);
    }
    store<u32>(e, <u32>cur, LIST_NEXT);
    if (prev == 0) sorted = e;
    else store<u32>(prev, <u32>e, LIST_NEXT);
  }
  return sorted;
}

/**
 * Mirrors `blk_flush_plug_list(plug, from_schedule)` (block/blk-core.c,
 * v4.4) for a plug whose requests are all of `q`: `blk_mq_flush_plug_list()`
 * takes `plug->mq_list` (the plug is empty from here on), sorts it by ctx
 * and sector, and hands each run of one ctx to `blk_mq_insert_requests()`:
 * onto the tail of `ctx->rq_list` under `ctx->lock`, the ctx marked
 * pending, then the hw queue run (asynchronous when `from_schedule`).
 *
 * A plug holding another queue's request, or a request whose ctx is
 * attached to no hctx (its CPU went offline: v4.4 moves such requests to
 * the current ctx), is left as it is for the TS flush.
 *
 * @param flags as {@link blk_mq_make_request_nowait}'s, for `q`
 * @returns 0 (flushed, or nothing plugged), MAKE_REQUEST_FALLBACK (nothing done), -22 for no plug
 */
export function blk_mq_flush_plug_list_nowait(plug: usize, q: usize, from_schedule: i32, cpu: u32, now: f64, hz: u32, tick_ns: f64, flags: u32): i32 {
  if (plug == 0 || q == 0) return -22;
  const r = changetype<RequestQueue>(q);
  for (let e = <usize>load<u32>(plug, LIST_NEXT); e != plug; e = <usize>load<u32>(e, LIST_NEXT)) {
    if (<usize>load<u32>(e + RQ_QUEUE) != q) return MAKE_REQUEST_FALLBACK;
    const c = <u32>load<i32>(e + RQ_MQ_CTX);
    if (c >= r.nr_cpu_ids) return MAKE_REQUEST_FALLBACK;
    const hctx = blk_mq_map_queue(q, c);
    if (hctx == 0 || !hctx_has_ctx(hctx, blk_mq_ctx_of(q, c))) return MAKE_REQUEST_FALLBACK;
  }
  if (list_empty(plug)) return 0;
  // list_splice_init(&plug->mq_list, &list): a chain ended by 0, held by a local (a flush this
  // one's runs start, through an end_io that plugs again, has its own).
  store<u32>(<usize>load<u32>(plug, LIST_PREV), 0, LIST_NEXT);
  let first = plug_sort(<usize>load<u32>(plug, LIST_NEXT));
  list_init(plug);
  const lockdep = (flags & MAKE_REQUEST_LOCKDEP) != 0;
  const drv = flags >> MAKE_REQUEST_DRIVER_SHIFT;
  while (first != 0) {
    // blk_mq_insert_requests() for the run of one ctx
    const c = <u32>load<i32>(first + RQ_MQ_CTX);
    const ctx = blk_mq_ctx_of(q, c);
    const hctx = blk_mq_map_queue(q, c);
    if (lockdep) host_ctx_lock(<u32>q, c, 1);
    while (first != 0 && <u32>load<i32>(first + RQ_MQ_CTX) == c) {
      const e = first;
      first = <usize>load<u32>(e, LIST_NEXT);
      list_add_tail(e, ctx + CTX_RQ_LIST);
    }
    blk_mq_hctx_mark_pending(hctx, changetype<BlkMqCtx>(ctx).index_hw);
    if (lockdep) host_ctx_lock(<u32>q, c, 0);
    blk_mq_run_hw_queue(q, hctx, from_schedule != 0, cpu, now, hz, tick_ns, drv);
  }
  return 0;
}
