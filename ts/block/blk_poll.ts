// SPDX-License-Identifier: GPL-2.0-only
/**
 * Block polling (block/blk-core.c `blk_poll()`, v4.4; commit 05229beedd
 * "block: add block polling support"). A submitter holding the cookie of its
 * request (`tag | hctx->queue_num << 16`, from `submit_bio()`) spins on the
 * driver's `poll(hctx, tag)` instead of sleeping for the interrupt, when the
 * queue has QUEUE_FLAG_POLL (`queue/io_poll`, which only drivers with
 * `mq_ops->poll` accept). Each call counts in the hctx's `poll_invoked`,
 * each hit in `poll_success` (`mq/<n>/io_poll`). Its caller, as in v4.4,
 * is a direct I/O of an IOCB_HIPRI iocb waiting for its bio
 * (ts/block/dio.ts's `dio_await_one()`).
 *
 * `need_resched()`: on the port's virtual clock no tick interrupts a spinning
 * task, so the spin is modeled as poll, one `cpu_relax()` scheduling point
 * (`yield`, where interrupts and other tasks may run, e.g. the driver's
 * completion), poll again, after which need_resched is taken as set: the
 * poll is called at most twice per `blk_poll()`.
 *
 * @module
 */

import type { Sleepable } from "../kernel/sched.ts";
import { BLK_QC_T_NONE, BLK_QC_T_SHIFT } from "./blk_mq_request.ts";
import { blkFlushPlugList, currentPlug } from "./blk_plug.ts";
import { QUEUE_FLAG_POLL, type RequestQueue } from "./request_queue.ts";

/** Mirrors `blk_qc_t_valid()`. */
export function blkQcTValid(cookie: number): boolean {
  return cookie !== BLK_QC_T_NONE;
}

/** Mirrors `blk_qc_t_to_queue_num()`. */
export function blkQcTToQueueNum(cookie: number): number {
  return cookie >>> BLK_QC_T_SHIFT;
}

/** Mirrors `blk_qc_t_to_tag()`. */
export function blkQcTToTag(cookie: number): number {
  return cookie & ((1 << BLK_QC_T_SHIFT) - 1);
}

/**
 * Mirrors `blk_poll()` (block/blk-core.c, v4.4): false unless the driver has
 * `poll`, the cookie is valid and QUEUE_FLAG_POLL is set; otherwise flushes
 * the current task's plug and spins on `poll(hctx, tag)`: `poll_invoked++`
 * per call; a result > 0 counts `poll_success` and returns true; < 0 stops
 * the spin. See the module doc for `need_resched()`.
 *
 * @returns whether a completion was found
 * @throws {RangeError} when the cookie's queue number names no hctx of `q`
 */
export function* blkPoll(q: RequestQueue, cookie: number): Sleepable<boolean> {
  const ops = q.mqOps;
  if (ops === null || ops.poll === undefined || !blkQcTValid(cookie) || !q.testFlag(QUEUE_FLAG_POLL)) return false;
  const queueNum = blkQcTToQueueNum(cookie);
  const hctx = q.queueHwCtx[queueNum];
  if (hctx === undefined) throw new RangeError(`blk_poll: cookie ${cookie} names hw queue ${queueNum}, the queue has ${q.queueHwCtx.length}`);
  const plug = currentPlug(q);
  if (plug !== null) blkFlushPlugList(plug, false);
  let relaxed = false;
  for (;;) {
    hctx.pollInvoked++;
    const ret = ops.poll(hctx, blkQcTToTag(cookie));
    if (ret > 0) {
      hctx.pollSuccess++;
      return true;
    }
    if (ret < 0) break;
    if (relaxed) break; // need_resched(): set by the one scheduling point below
    yield; // cpu_relax(): a scheduling point in the port
    relaxed = true;
  }
  return false;
}
