// SPDX-License-Identifier: GPL-2.0-only
/**
 * Request timeouts for blk-mq (block/blk-timeout.c and the timeout part of
 * block/blk-mq.c, v4.4).
 *
 * `blk_mq_start_request()` calls {@link blkAddTimer}: the request's deadline
 * is `jiffies + rq->timeout` (the queue's `rq_timeout` when the request has
 * none), and the queue's one timer (`q->timeout`) is moved to
 * `blk_rq_timeout(round_jiffies_up(deadline))` when that is earlier by at
 * least HZ/2 (or the timer is not pending). The timer ({@link blkMqRqTimer})
 * scans the busy tags of the queue's mapped hctxs: a started request past its
 * deadline is marked complete (REQ_ATOM_COMPLETE, so a racing
 * `blk_mq_complete_request()` is ignored) and handed to the driver's
 * `timeout` (default BLK_EH_RESET_TIMER); the earliest pending deadline
 * re-arms the timer, and with none pending every mapped hctx goes idle
 * (`blk_mq_tag_idle()`). `blk_sync_queue()` (ts/block/request_queue.ts)
 * stops the timer on cleanup. The queue record (asm/blk_queue.ts) mirrors the
 * timer's `pending` and `expires` through its `onChange` hook, so code in the
 * core can make {@link blkAddTimer}'s decision without calling out.
 *
 * Jiffies in the port are plain numbers that do not wrap, so
 * `time_after()` and friends are ordinary comparisons.
 *
 * @module
 */

import type { Kernel } from "../kernel/kernel.ts";
import { blkMqHwQueueMapped, type BlkMqHwCtx, hctxLiveTags } from "./hctx.ts";
import { __blkMqCompleteRequest, blkMqEndRequest, blkMqRequestStarted, clearRqComplete, markRqComplete } from "./blk_mq_request.ts";
import { RQ } from "./request_record.ts";
import { blkQueueExit, type RequestQueue } from "./request_queue.ts";

/** Mirrors `BLK_EH_NOT_HANDLED` (enum blk_eh_timer_return, v4.4). */
export const BLK_EH_NOT_HANDLED = 0;
/** Mirrors `BLK_EH_HANDLED`. */
export const BLK_EH_HANDLED = 1;
/** Mirrors `BLK_EH_RESET_TIMER`. */
export const BLK_EH_RESET_TIMER = 2;
/** Mirrors `BLK_MAX_TIMEOUT` (block/blk.h): 5 s, in seconds here (× HZ at use). */
export const BLK_MAX_TIMEOUT_SECS = 5;
/** Mirrors `REQ_NO_TIMEOUT` (include/linux/blk_types.h, v4.4: `1ULL << __REQ_NO_TIMEOUT`, bit 31). */
export const REQ_NO_TIMEOUT = 1 << 31;
const EIO = -5;

function view(k: Kernel): DataView {
  return k.dv;
}

/**
 * Mirrors `round_jiffies_up()` → `round_jiffies_common(j, cpu, true)`
 * (kernel/time/timer.c, v4.4): skewed by `cpu * 3`, rounded up to the next
 * whole second (a value already on a second still moves one second on),
 * unskewed; `j` itself when the result would not be in the future
 * (`now`: the caller's reading of jiffies).
 */
export function roundJiffiesUp(k: Kernel, j: number, cpu = k.cpus.current, now = k.clock.jiffies()): number {
  const HZ = k.clock.HZ;
  const original = j;
  j += cpu * 3;
  const rem = j % HZ;
  j = j - rem + HZ;
  j -= cpu * 3;
  return j > now ? j : original;
}

/** Mirrors `blk_rq_timeout()` (block/blk-timeout.c, v4.4): capped at `round_jiffies_up(jiffies + BLK_MAX_TIMEOUT)` (`now`: jiffies as the caller read it). */
export function blkRqTimeout(k: Kernel, timeout: number, now = k.clock.jiffies()): number {
  const maxt = roundJiffiesUp(k, now + BLK_MAX_TIMEOUT_SECS * k.clock.HZ, k.cpus.current, now);
  return timeout > maxt ? maxt : timeout;
}

/** The request's `deadline` (jiffies). */
export function rqDeadline(k: Kernel, rq: number): number {
  return view(k).getFloat64(rq + RQ.DEADLINE, true);
}

/**
 * Mirrors `blk_add_timer()` (block/blk-timeout.c, v4.4) for blk-mq: skips
 * REQ_NO_TIMEOUT requests; `rq->timeout` defaults to `q->rq_timeout`;
 * `deadline = jiffies + timeout`; the queue timer moves to the rounded,
 * capped expiry when it is not pending, or when the new expiry is earlier
 * by at least HZ/2. The core's `blk_add_timer()` (asm/blk_mq_dispatch.ts)
 * does it from the queue record's mirror of the timer and arms it through
 * {@link blkQueueModTimer}.
 *
 * @throws {KernelBug} for a queue whose record is freed
 */
export function blkAddTimer(q: RequestQueue, rq: number): void {
  if (q.mqOps === null) return;
  const k = q.kernel;
  // one reading of jiffies for the deadline and both roundings, as the kernel's one `jiffies`
  if (k.core.blk_add_timer(q.addr, rq, k.clock.jiffies(), k.cpus.current, k.clock.HZ) < 0) {
    k.log.bug("block/blk-timeout.c:blk_add_timer", `queue ${q.id}: no record`);
  }
}

/**
 * `mod_timer(&q->timeout, expires)` for the core (host_mod_timer): the
 * queue whose record is at `qAddr`.
 *
 * @throws {KernelBug} when no live queue has that record
 */
export function blkQueueModTimer(k: Kernel, qAddr: number, expires: number): void {
  const q = k.block.queueByRecord(qAddr);
  if (q === undefined) k.log.bug("block/blk-timeout.c:blk_add_timer", `no live queue has the record at ${qAddr}`);
  k.timers.modTimer(q.timeout, expires);
}

/**
 * Mirrors `blk_mq_rq_timed_out()` (block/blk-mq.c, v4.4), entered with
 * REQ_ATOM_COMPLETE already set: ignored if no longer STARTED (a completion
 * raced); otherwise the driver's `timeout` (default BLK_EH_RESET_TIMER):
 * HANDLED completes the request (`__blk_mq_complete_request()`, with the
 * `rq->errors` the driver left), RESET_TIMER re-arms it and clears COMPLETE,
 * NOT_HANDLED leaves it to the driver (COMPLETE stays set).
 */
export function blkMqRqTimedOut(q: RequestQueue, rq: number, reserved: boolean): void {
  const k = q.kernel;
  if (!blkMqRequestStarted(k, rq)) return;
  const ops = q.mqOps!;
  const ret = ops.timeout !== undefined ? ops.timeout(rq, reserved) : BLK_EH_RESET_TIMER;
  switch (ret) {
    case BLK_EH_HANDLED:
      __blkMqCompleteRequest(q, rq);
      break;
    case BLK_EH_RESET_TIMER:
      blkAddTimer(q, rq);
      clearRqComplete(k, rq);
      break;
    case BLK_EH_NOT_HANDLED:
      break;
    default:
      k.log.printk("err", `block: bad eh return: ${ret}`);
  }
}

/** The callback of {@link blkMqQueueTagBusyIter} (`busy_iter_fn`). */
export type BusyIterFn = (hctx: BlkMqHwCtx, rq: number, reserved: boolean) => void;

/**
 * Mirrors `blk_mq_queue_tag_busy_iter()` → `bt_for_each()` (block/blk-mq-tag.c,
 * v4.4): for every mapped hctx, each allocated tag (reserved ones first)
 * whose request belongs to `q` (tag maps are shared between the queues of a
 * tag set).
 */
export function blkMqQueueTagBusyIter(q: RequestQueue, fn: BusyIterFn): void {
  for (const hctx of q.queueHwCtx) {
    if (!blkMqHwQueueMapped(hctx)) continue;
    const map = hctx.tags!;
    const tags = hctxLiveTags(hctx, "blk_mq_queue_tag_busy_iter");
    if (tags === null) continue;
    for (let tag = 0; tag < map.nrTags; tag++) {
      if (!tags.isAllocated(tag)) continue;
      const rq = map.rq(tag);
      if (rq === 0 || view(q.kernel).getUint32(rq + RQ.Q, true) !== q.id) continue;
      fn(hctx, rq, tag < tags.nrReserved);
    }
  }
}

/**
 * Mirrors `blk_mq_rq_timer()` with `blk_mq_check_expired()` (block/blk-mq.c,
 * v4.4): enters the queue without waiting (`blk_queue_enter(q, GFP_NOWAIT)`;
 * a frozen or dead queue is left alone), then for each busy request: not
 * started on a dying queue → ended with -EIO; REQ_NO_TIMEOUT → skipped;
 * past its deadline and not yet complete → marked complete and timed out;
 * otherwise its deadline is a candidate for the next expiry. The timer is
 * re-armed to the earliest one (rounded up, capped at 5 s from now); with
 * none, every mapped hctx goes idle.
 */
export function blkMqRqTimer(q: RequestQueue): void {
  const k = q.kernel;
  if (!q.qUsageCounter.trygetLive()) return;
  let next = 0;
  let nextSet = false;
  blkMqQueueTagBusyIter(q, (_hctx, rq, reserved) => {
    const dv = view(k);
    if (!blkMqRequestStarted(k, rq)) {
      if (q.dying) {
        dv.setInt32(rq + RQ.ERRORS, EIO, true);
        blkMqEndRequest(k, rq, EIO);
      }
      return;
    }
    if ((dv.getUint32(rq + RQ.CMD_FLAGS, true) & REQ_NO_TIMEOUT) !== 0) return;
    const deadline = dv.getFloat64(rq + RQ.DEADLINE, true);
    if (k.clock.jiffies() >= deadline) {
      if (!markRqComplete(k, rq)) blkMqRqTimedOut(q, rq, reserved);
    } else if (!nextSet || next > deadline) {
      next = deadline;
      nextSet = true;
    }
  });
  if (nextSet) k.timers.modTimer(q.timeout, blkRqTimeout(k, roundJiffiesUp(k, next)));
  else for (const hctx of q.queueHwCtx) if (blkMqHwQueueMapped(hctx)) hctx.tagIdle();
  blkQueueExit(q);
}
