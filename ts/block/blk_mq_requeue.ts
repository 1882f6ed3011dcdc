// SPDX-License-Identifier: GPL-2.0-only
/**
 * The requeue list of a blk-mq queue (block/blk-mq.c, v4.4): a driver that
 * cannot finish a request it already started hands it back with
 * {@link blkMqRequeueRequest} (STARTED cleared, onto the head of
 * `q->requeue_list` marked REQ_SOFTBARRIER), or any request goes onto the
 * list with {@link blkMqAddToRequeueList}; {@link blkMqKickRequeueList}
 * schedules `q->requeue_work` on kblockd, which moves the whole list back to
 * the requests' ctxs — the REQ_SOFTBARRIER ones at the head, the rest at the
 * tail — and restarts every hardware queue, stopped ones included
 * (`blk_mq_start_hw_queues()`). The flush machinery (ts/block/blk_flush.ts)
 * issues its requests this way too.
 *
 * v4.4 takes `q->requeue_lock` around the list; the port's machine runs one
 * context at a time between scheduling points, and none happens inside these
 * functions, so the list needs no lock.
 *
 * @module
 */

import type { Kernel } from "../kernel/kernel.ts";
import type { Sleepable } from "../kernel/sched.ts";
import { REQ_SOFTBARRIER } from "./bio.ts";
import { __blkMqRequeueRequest, blkMqInsertRequest, rqQueue } from "./blk_mq_request.ts";
import { blkMqStartHwQueues } from "./hctx.ts";
import type { RequestQueue } from "./request_queue.ts";
import { RQ } from "./request_record.ts";

function view(k: Kernel): DataView {
  return k.dv;
}

/**
 * Mirrors `blk_mq_requeue_request()` (v4.4): `__blk_mq_requeue_request()`
 * (REQ_ATOM_STARTED cleared), then onto the head of the requeue list. The
 * caller kicks the list when it wants the request to go out again.
 */
export function blkMqRequeueRequest(k: Kernel, rq: number): void {
  __blkMqRequeueRequest(k, rq);
  blkMqAddToRequeueList(k, rq, true);
}

/**
 * Mirrors `blk_mq_add_to_requeue_list()` (v4.4): at the head (marked
 * REQ_SOFTBARRIER, so the requeue work puts it at the head of its ctx too)
 * or at the tail of `q->requeue_list`.
 *
 * @throws {KernelBug} when the request already carries REQ_SOFTBARRIER (it is on the list)
 */
export function blkMqAddToRequeueList(k: Kernel, rq: number, atHead: boolean): void {
  const { q } = rqQueue(k, rq);
  const dv = view(k);
  const flags = dv.getUint32(rq + RQ.CMD_FLAGS, true);
  if ((flags & REQ_SOFTBARRIER) !== 0) {
    k.log.bug("block/blk-mq.c:blk_mq_add_to_requeue_list", `request ${rq} is already marked REQ_SOFTBARRIER`);
  }
  if (atHead) {
    dv.setUint32(rq + RQ.CMD_FLAGS, flags | REQ_SOFTBARRIER, true);
    q.requeueList.unshift(rq);
  } else {
    q.requeueList.push(rq);
  }
}

/** Mirrors `blk_mq_kick_requeue_list()` (v4.4): `kblockd_schedule_work(&q->requeue_work)`. */
export function blkMqKickRequeueList(q: RequestQueue): void {
  if (q.requeueWork !== null) q.block.kblockd.queueWork(q.requeueWork);
}

/**
 * Mirrors `blk_mq_cancel_requeue_work()` (v4.4): `cancel_work_sync()` of the
 * requeue work. In v4.4 only drivers call it (NVMe, when it stops its
 * queues); `blk_cleanup_queue()` does not.
 */
export function* blkMqCancelRequeueWork(q: RequestQueue): Sleepable {
  if (q.requeueWork !== null) yield* q.kernel.workqueues.cancelWorkSync(q.requeueWork);
}

/**
 * Mirrors `blk_mq_requeue_work()` (v4.4), the function of `q->requeue_work`:
 * the list is taken whole; in list order, each REQ_SOFTBARRIER request loses
 * the mark and is inserted at the head of its ctx (so the last of them ends
 * up first), then the others at the tail, none running the queue; then
 * `blk_mq_start_hw_queues()`.
 */
export function blkMqRequeueWork(q: RequestQueue): void {
  const k = q.kernel;
  const list = q.requeueList.splice(0);
  const rest: number[] = [];
  for (const rq of list) {
    const dv = view(k);
    const flags = dv.getUint32(rq + RQ.CMD_FLAGS, true);
    if ((flags & REQ_SOFTBARRIER) === 0) {
      rest.push(rq);
      continue;
    }
    dv.setUint32(rq + RQ.CMD_FLAGS, flags & ~REQ_SOFTBARRIER, true);
    blkMqInsertRequest(q, rq, true, false, false);
  }
  for (const rq of rest) blkMqInsertRequest(q, rq, false, false, false);
  blkMqStartHwQueues(q);
}
