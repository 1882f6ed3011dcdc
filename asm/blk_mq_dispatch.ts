// SPDX-License-Identifier: GPL-2.0-only
// Starting a request and running a hardware queue: `blk_mq_start_request()`
// with `blk_add_timer()` (block/blk-mq.c, block/blk-timeout.c, v4.4) and the
// dispatch loop of `__blk_mq_run_hw_queue()` after its STOPPED test, over the
// request, queue, ctx and hctx records.
//
// What only TypeScript can do is a host call (asm/host.ts): arming the queue
// timer (`mod_timer()`; the decision is made here from the queue record's
// mirror of the timer), the driver's `queue_rq` (the TS side builds the
// `bd` argument and reports an unknown return), and for now
// `blk_mq_end_request()` of a request the driver failed. The asynchronous
// rerun of a hw queue with leftovers is the caller's: the run returns
// BLK_MQ_DISPATCH_RERUN.
//
// The run's local list (`rq_list` on the kernel's stack) is a ring of the
// waiting requests without a head, held by a local: a run started while
// another run of the same hctx is inside `queue_rq` has a ring of its own,
// and the records need no head per nesting level. Jiffies are f64 (safe
// integers that never wrap), passed in by the caller with the current CPU
// and HZ. Nothing here allocates.

import { blk_mq_ctx_of, RequestQueue } from "./blk_queue";
import { blk_mq_flush_busy_ctxs, BLK_MQ_MAX_DISPATCH_ORDER, BlkMqCtx, BlkMqHwCtx, HCTX_DISPATCH, HCTX_RUN_LIST } from "./blk_mq_ctx";
import { BLK_MQ_INLINE_NULL_IRQ_NONE, null_queue_rq_irq_none } from "./null_blk";
import { list_add, list_del_init, list_empty, list_init, list_splice_init, LIST_NEXT, LIST_PREV } from "./list";
import { EINVAL } from "./page_alloc";
import { host_blk_mq_end_request, host_blk_mq_run_hw_queue_async, host_mod_timer, host_queue_rq } from "./host";
import { Request, REQ_ATOM_COMPLETE, REQ_ATOM_STARTED, REQ_NO_TIMEOUT } from "./request";

// ---------------------------------------------------------------------------
// Records (struct request: asm/request.ts)
// ---------------------------------------------------------------------------

const RQ_CMD_FLAGS: usize = offsetof<Request>("cmd_flags");
const RQ_ATOMIC_FLAGS: usize = offsetof<Request>("atomic_flags");
const RQ_ERRORS: usize = offsetof<Request>("errors");
const RQ_DEADLINE: usize = offsetof<Request>("deadline");
const RQ_TIMEOUT: usize = offsetof<Request>("timeout");

/** Offset of `hctx->dispatched[0]`. */
const HCTX_DISPATCHED: usize = offsetof<BlkMqHwCtx>("dispatched0");

/** `BLK_MAX_TIMEOUT` (block/blk.h): 5 * HZ. */
const BLK_MAX_TIMEOUT_SECS: i64 = 5;
const EIO: i32 = -5;

/** What `queue_rq` returns (include/linux/blk-mq.h, v4.4). */
export const BLK_MQ_RQ_QUEUE_OK: i32 = 0;
export const BLK_MQ_RQ_QUEUE_BUSY: i32 = 1;
export const BLK_MQ_RQ_QUEUE_ERROR: i32 = 2;

/**
 * `host_queue_rq()` flags: `bd->last`; `bd->list` is the run's driver list;
 * and that list is new (first use in this run). Above QUEUE_RQ_DEPTH_SHIFT:
 * the run's nesting depth on this hctx (1 for the outermost run), by which
 * the host finds the run's `bd`.
 */
export const QUEUE_RQ_LAST: u32 = 1;
export const QUEUE_RQ_LIST: u32 = 2;
export const QUEUE_RQ_LIST_NEW: u32 = 4;
export const QUEUE_RQ_DEPTH_SHIFT: u32 = 8;

/** The run's answer: requests were left on `hctx->dispatch`, run the hw queue again asynchronously. */
export const BLK_MQ_DISPATCH_RERUN: i32 = 1;

// ---------------------------------------------------------------------------
// Starting a request
// ---------------------------------------------------------------------------

/**
 * Mirrors `round_jiffies_up()` → `round_jiffies_common(j, cpu, true)`
 * (kernel/time/timer.c, v4.4): skewed by `cpu * 3`, up to the next whole
 * second (one already on a second still moves on), unskewed; `j` itself
 * when that would not be after `now`.
 */
@inline
function round_jiffies_up(j: f64, cpu: u32, now: f64, hz: u32): f64 {
  const skew = <i64>cpu * 3;
  let r = <i64>j + skew;
  r = r - r % <i64>hz + <i64>hz;
  const v = <f64>(r - skew);
  return v > now ? v : j;
}

/** Mirrors `blk_rq_timeout()` (block/blk-timeout.c, v4.4): capped at `round_jiffies_up(jiffies + BLK_MAX_TIMEOUT)`. */
@inline
function blk_rq_timeout(timeout: f64, cpu: u32, now: f64, hz: u32): f64 {
  const maxt = round_jiffies_up(now + <f64>(BLK_MAX_TIMEOUT_SECS * <i64>hz), cpu, now, hz);
  return timeout > maxt ? maxt : timeout;
}

/** The work of {@link blk_add_timer} on trusted arguments. */
function __blk_add_timer(q: usize, rq: usize, now: f64, cpu: u32, hz: u32): void {
  if ((load<u32>(rq + RQ_CMD_FLAGS) & REQ_NO_TIMEOUT) != 0) return;
  const r = changetype<RequestQueue>(q);
  let timeout = load<u32>(rq + RQ_TIMEOUT);
  if (timeout == 0) {
    timeout = r.rq_timeout;
    store<u32>(rq + RQ_TIMEOUT, timeout);
  }
  const deadline = now + <f64>timeout;
  store<f64>(rq + RQ_DEADLINE, deadline);
  const expiry = blk_rq_timeout(round_jiffies_up(deadline, cpu, now, hz), cpu, now, hz);
  const pending = r.timeout_pending != 0;
  if (!pending || expiry < r.timeout_expires) {
    const diff = r.timeout_expires - expiry;
    if (!pending || diff >= <f64>hz / 2) host_mod_timer(<u32>q, expiry);
  }
}

/**
 * Mirrors `blk_add_timer()` (block/blk-timeout.c, v4.4) for blk-mq: nothing
 * for a REQ_NO_TIMEOUT request; `rq->timeout` defaults to `q->rq_timeout`;
 * `rq->deadline = jiffies + rq->timeout`; the queue timer is armed
 * (host_mod_timer) at the rounded, capped expiry when it is not pending, or
 * when that is earlier by at least HZ/2. Whether it is pending and when it
 * expires come from the queue record's mirror of the timer.
 *
 * @param now jiffies, read once by the caller (the kernel's one `jiffies`)
 * @param cpu the current CPU (`round_jiffies_up()` skews by it)
 * @returns 0, or -22 for a null record or HZ 0
 */
export function blk_add_timer(q: usize, rq: usize, now: f64, cpu: u32, hz: u32): i32 {
  if (q == 0 || rq == 0 || hz == 0) return -EINVAL;
  __blk_add_timer(q, rq, now, cpu, hz);
  return 0;
}

/**
 * Mirrors `blk_mq_start_request()` (block/blk-mq.c, v4.4): `blk_add_timer()`,
 * then REQ_ATOM_STARTED set and REQ_ATOM_COMPLETE cleared (a requeue may
 * have raced with the timeout). `q` 0 stands for a queue without `mq_ops`,
 * which the port's `blk_add_timer()` does not serve.
 *
 * @returns 0, or -22 for a null request or HZ 0 (nothing done)
 */
export function blk_mq_start_request(q: usize, rq: usize, now: f64, cpu: u32, hz: u32): i32 {
  if (rq == 0 || hz == 0) return -EINVAL;
  if (q != 0) __blk_add_timer(q, rq, now, cpu, hz);
  const p = rq + RQ_ATOMIC_FLAGS;
  store<u32>(p, (load<u32>(p) | (1 << REQ_ATOM_STARTED)) & ~(<u32>1 << REQ_ATOM_COMPLETE));
  return 0;
}

// ---------------------------------------------------------------------------
// Running a hardware queue
// ---------------------------------------------------------------------------

/** `hctx->dispatched[i]++`. */
@inline
function dispatched_inc(hctx: usize, i: i32): void {
  const p = hctx + HCTX_DISPATCHED + (<usize>i << 3);
  store<u64>(p, load<u64>(p) + 1);
}

/** The ring's first entry taken off: the next one, or 0 when `rq` was the last. */
@inline
function ring_take(rq: usize): usize {
  const next = <usize>load<u32>(rq, LIST_NEXT);
  if (next == rq) return 0;
  list_del_init(rq);
  return next;
}

/** `rq` put back in front of the ring that starts at `first` (0: empty); @returns the new first. */
@inline
function ring_push_front(rq: usize, first: usize): usize {
  if (first != 0) list_add(rq, <usize>load<u32>(first, LIST_PREV)); // before first: after its prev
  return rq;
}

/** The ring that starts at `first` spliced, in order, at the head of the list `h` (`list_splice()`). */
@inline
function ring_splice_head(first: usize, h: usize): void {
  const last = <usize>load<u32>(first, LIST_PREV);
  const next = <usize>load<u32>(h, LIST_NEXT);
  store<u32>(first, <u32>h, LIST_PREV);
  store<u32>(h, <u32>first, LIST_NEXT);
  store<u32>(last, <u32>next, LIST_NEXT);
  store<u32>(next, <u32>last, LIST_PREV);
}

/**
 * Mirrors `__blk_mq_run_hw_queue()` (block/blk-mq.c, v4.4) after the STOPPED
 * test: `run++`; `hctx->dispatch` and then every pending ctx's `rq_list`
 * (`flush_busy_ctxs()`) taken as the run's list; each request sent to the
 * driver: the inline driver `drv` when it is one (asm/null_blk.ts), else the
 * host's queue_rq (host_queue_rq with `bd->last`, and `bd->list` once two
 * or more still waited after one was sent, and the run's depth on this
 * hctx): OK counted, BUSY puts it back in front (STARTED cleared) and stops,
 * ERROR or anything else ends it with `rq->errors = -EIO`
 * (host_blk_mq_end_request); the `dispatched` histogram; what is left back
 * at the head of `hctx->dispatch`, in order.
 *
 * @param cpu the current CPU, `now` (ns), `hz` and `tick_ns`: what an inline driver needs
 * @param drv BLK_MQ_INLINE_* (asm/null_blk.ts): the driver's queue_rq the core runs itself, or none
 * @returns {@link BLK_MQ_DISPATCH_RERUN} when requests were left (the caller
 *          runs the hw queue again asynchronously), 0 otherwise, -22 for a
 *          null record
 */
export function __blk_mq_run_hw_queue_dispatch(q: usize, hctx: usize, cpu: u32, now: f64, hz: u32, tick_ns: f64, drv: u32): i32 {
  if (q == 0 || hctx == 0) return -EINVAL;
  const h = changetype<BlkMqHwCtx>(hctx);
  h.run++;
  // The run's list: hctx->dispatch first, then the ctxs in index_hw order; as a headless ring.
  const list = hctx + HCTX_RUN_LIST;
  list_splice_init(hctx + HCTX_DISPATCH, list);
  blk_mq_flush_busy_ctxs(hctx, list);
  let first: usize = 0;
  if (!list_empty(list)) {
    first = <usize>load<u32>(list, LIST_NEXT);
    const last = <usize>load<u32>(list, LIST_PREV);
    store<u32>(first, <u32>last, LIST_PREV);
    store<u32>(last, <u32>first, LIST_NEXT);
    list_init(list);
  }
  const depth = ++h.run_depth;
  let queued: u32 = 0;
  let dptr: u32 = 0; // QUEUE_RQ_LIST once the driver list is handed out
  while (first != 0) {
    const rq = first;
    first = ring_take(rq);
    let ret: i32;
    if (drv == BLK_MQ_INLINE_NULL_IRQ_NONE) {
      ret = null_queue_rq_irq_none(q, rq, cpu, now, hz, tick_ns);
    } else {
      let flags = dptr | (depth << QUEUE_RQ_DEPTH_SHIFT);
      if (first == 0) flags |= QUEUE_RQ_LAST;
      ret = host_queue_rq(<u32>q, <u32>hctx, <u32>rq, flags);
    }
    if (ret == BLK_MQ_RQ_QUEUE_OK) {
      queued++;
    } else if (ret == BLK_MQ_RQ_QUEUE_BUSY) {
      first = ring_push_front(rq, first);
      const p = rq + RQ_ATOMIC_FLAGS; // __blk_mq_requeue_request()
      store<u32>(p, load<u32>(p) & ~(<u32>1 << REQ_ATOM_STARTED));
      break;
    } else {
      // BLK_MQ_RQ_QUEUE_ERROR, or an unknown answer (the host call reported it)
      store<i32>(rq + RQ_ERRORS, EIO);
      host_blk_mq_end_request(<u32>rq, EIO);
    }
    // The first request went out: with two or more still waiting, hand out the driver list.
    if (dptr == 0 && first != 0 && <usize>load<u32>(first, LIST_NEXT) != first) dptr = QUEUE_RQ_LIST | QUEUE_RQ_LIST_NEW;
    else dptr &= ~QUEUE_RQ_LIST_NEW;
  }
  h.run_depth = depth - 1;
  if (queued == 0) dispatched_inc(hctx, 0);
  else if (queued < <u32>(1 << (BLK_MQ_MAX_DISPATCH_ORDER - 1))) dispatched_inc(hctx, 32 - <i32>clz(queued));
  if (first == 0) return 0;
  ring_splice_head(first, hctx + HCTX_DISPATCH);
  return BLK_MQ_DISPATCH_RERUN;
}

/** Mirrors `BLK_MQ_S_STOPPED` (a bit of `hctx->state`). */
const BLK_MQ_S_STOPPED: u32 = 0;
const CTX_INDEX_HW: usize = offsetof<BlkMqCtx>("index_hw");

/**
 * Whether the CPU of the ctx record `ctx` is in `hctx->cpumask`.
 * blk_mq_map_swqueue() sets exactly the CPUs whose ctx it attaches, so this
 * is: the ctx sits at its `index_hw` among the hctx's first `nr_ctx` ctxs.
 * An offline CPU's ctx is attached nowhere.
 */
@inline
export function hctx_has_ctx(hctx: usize, ctx: usize): bool {
  const h = changetype<BlkMqHwCtx>(hctx);
  const i = load<u32>(ctx + CTX_INDEX_HW);
  return i < h.nr_ctx && <usize>load<u32>(<usize>h.ctxs + (<usize>i << 2)) == ctx;
}

/**
 * Mirrors `blk_mq_run_hw_queue(hctx, async)` (block/blk-mq.c, v4.4) for the
 * core, `run_async` its `async`: nothing for a stopped or unmapped hctx;
 * synchronously (`__blk_mq_run_hw_queue()`, its leftovers rerun as a work)
 * on a CPU of the hctx; otherwise as a work on kblockd
 * (host_blk_mq_run_hw_queue_async()).
 */
export function blk_mq_run_hw_queue(q: usize, hctx: usize, run_async: bool, cpu: u32, now: f64, hz: u32, tick_ns: f64, drv: u32): void {
  const h = changetype<BlkMqHwCtx>(hctx);
  if ((h.state & (1 << BLK_MQ_S_STOPPED)) != 0 || h.nr_ctx == 0 || h.tags == 0) return;
  // Off the hctx's CPUs, or leftovers of the synchronous run: a work on kblockd.
  const sync_run = !run_async && hctx_has_ctx(hctx, blk_mq_ctx_of(q, cpu));
  if (!sync_run || __blk_mq_run_hw_queue_dispatch(q, hctx, cpu, now, hz, tick_ns, drv) == BLK_MQ_DISPATCH_RERUN) {
    host_blk_mq_run_hw_queue_async(<u32>q, <u32>hctx);
  }
}
