// SPDX-License-Identifier: GPL-2.0-only
// The make_request of a bio as one core call: `blk_queue_enter()`,
// `blk_mq_map_request()` with a tag that needs no waiting, and the no-plug
// branch of `blk_sq_make_request()` / `blk_mq_make_request()` (block/blk-mq.c,
// v4.4): the ctx merge or insert, and the hw queue run, synchronous for a
// sync bio on a CPU of the hctx (the dispatch loop of asm/blk_mq_dispatch.ts,
// with the driver's queue_rq inline when it offers one, asm/null_blk.ts),
// else as a kblockd work (a host call).
//
// It takes what the TypeScript path (ts/block/blk_mq_request.ts) would do
// without sleeping and without a plug, and nothing else. The caller has
// made `generic_make_request_checks()` and knows the task has no plug. What
// the core cannot decide it does not start: a FLUSH/FUA bio, a sync bio on a
// queue with several hw queues (the direct issue), an hctx without a live
// tag map or a CPU outside the queue's map leave nothing changed and return
// MAKE_REQUEST_FALLBACK; a frozen or dying queue or no free tag, where the
// TS path would sleep, leave nothing changed either and return
// MAKE_REQUEST_WOULD_SLEEP. Once it took the queue reference of
// `blk_queue_enter()`, a host call that throws leaves that reference to the
// caller, as the TS path's `finally` drops it.
//
// The caller passes the current CPU, the clock (ns), HZ and ns per jiffy,
// and in `flags` whether lockdep runs (then `ctx->lock` is taken and
// released by host calls, so the TS lock validates it) and the inline
// driver's code. It keeps preemption disabled around the call
// (`blk_mq_get_ctx()`'s `get_cpu()`), so a driver reached by a host call
// sees what it would see on the TS path.

import { BlkMqCtx, BlkMqHwCtx, HCTX_TAG_HCTX, HCTX_TAGS, HCTX_TAGS_HINTS, HCTX_TAGS_RQS, tag_hint } from "./blk_mq_ctx";
import { __blk_mq_run_hw_queue_dispatch, BLK_MQ_DISPATCH_RERUN } from "./blk_mq_dispatch";
import { __blk_mq_free_request } from "./blk_mq_end";
import { blk_mq_merge_queue_io, blk_mq_rq_ctx_init } from "./blk_mq_map";
import { blk_mq_ctx_of, blk_mq_map_queue, blk_queue_enter_live_try, blk_queue_exit, RequestQueue } from "./blk_queue";
import { Bio } from "./bio";
import { host_blk_mq_run_hw_queue_async, host_ctx_lock } from "./host";
import { percpu_ref_get } from "./percpu_ref";
import { REQ_FLUSH, REQ_FUA, rw_is_sync } from "./request";
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
/** Mirrors `BLK_MQ_S_STOPPED` (a bit of `hctx->state`). */
const BLK_MQ_S_STOPPED: u32 = 0;
/** Mirrors `BLK_MQ_F_DEFER_ISSUE`. */
const BLK_MQ_F_DEFER_ISSUE: u32 = 1 << 4;

const BI_RW: usize = offsetof<Bio>("bi_rw");
const CTX_INDEX_HW: usize = offsetof<BlkMqCtx>("index_hw");

/**
 * Whether `cpu` is in `hctx->cpumask`. blk_mq_map_swqueue() sets exactly
 * the CPUs whose ctx it attaches, so this is: the CPU's ctx sits at its
 * `index_hw` among the hctx's first `nr_ctx` ctxs.
 */
@inline
function hctx_has_cpu(h: BlkMqHwCtx, ctx: usize): bool {
  const i = load<u32>(ctx + CTX_INDEX_HW);
  return i < h.nr_ctx && <usize>load<u32>(<usize>h.ctxs + (<usize>i << 2)) == ctx;
}

/**
 * Mirrors `blk_mq_run_hw_queue(hctx, async)` (v4.4) for the core, `run_async` its `async`: nothing
 * for a stopped or unmapped hctx; synchronously (`__blk_mq_run_hw_queue()`,
 * its leftovers rerun as a work) on a CPU of the hctx; otherwise as a work
 * on kblockd (host_blk_mq_run_hw_queue_async()).
 */
function blk_mq_run_hw_queue(q: usize, hctx: usize, run_async: bool, cpu: u32, now: f64, hz: u32, tick_ns: f64, drv: u32): void {
  const h = changetype<BlkMqHwCtx>(hctx);
  if ((h.state & (1 << BLK_MQ_S_STOPPED)) != 0 || h.nr_ctx == 0 || h.tags == 0) return;
  // Off the hctx's CPUs, or leftovers of the synchronous run: a work on kblockd.
  const sync_run = !run_async && hctx_has_cpu(h, blk_mq_ctx_of(q, cpu));
  if (!sync_run || __blk_mq_run_hw_queue_dispatch(q, hctx, cpu, now, hz, tick_ns, drv) == BLK_MQ_DISPATCH_RERUN) {
    host_blk_mq_run_hw_queue_async(<u32>q, <u32>hctx);
  }
}

/**
 * `generic_make_request()`'s queue part for a bio the checks let through,
 * without a plug and without sleeping: `blk_queue_enter()`,
 * `blk_mq_map_request()` (`blk_queue_enter_live()`, a tag from the CPU's
 * ctx and its hctx, `blk_mq_rq_ctx_init()`), then as `blk_sq_make_request()`
 * and an async bio of `blk_mq_make_request()` do without a plug:
 * `blk_mq_merge_queue_io()` under `ctx->lock` (a merged bio's request freed
 * at once), the hw queue run unless merged (asynchronous for an async bio),
 * and `blk_queue_exit()`.
 *
 * @param q the queue record
 * @param bio the bio (its `bi_bdev` names `q`)
 * @param cpu the current CPU (`blk_mq_get_ctx()`)
 * @param now the clock (ns)
 * @param hz `HZ`
 * @param tick_ns ns per jiffy
 * @param flags MAKE_REQUEST_LOCKDEP, and the inline driver's code above MAKE_REQUEST_DRIVER_SHIFT
 * @returns the cookie (`tag | queue_num << 16`, that of the freed request
 *   for a merged bio as in v4.4), MAKE_REQUEST_WOULD_SLEEP or
 *   MAKE_REQUEST_FALLBACK (nothing done), or the negative errno of
 *   asm/blk_mq_map.ts for a record it refused (-22 outside memory, -14 part0
 *   refused: the TS path's RangeError and BUG)
 */
export function blk_mq_make_request_nowait(q: usize, bio: usize, cpu: u32, now: f64, hz: u32, tick_ns: f64, flags: u32): i32 {
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
  if (tags == 0 || rqs == 0 || (r.nr_hw_queues > 1 && is_sync && (h.flags & BLK_MQ_F_DEFER_ISSUE) == 0)) {
    blk_queue_exit(q, cpu);
    return MAKE_REQUEST_FALLBACK;
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

  const jiffies = Math.floor(now / tick_ns);
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
