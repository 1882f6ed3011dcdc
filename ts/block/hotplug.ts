// SPDX-License-Identifier: GPL-2.0-only
/**
 * blk-mq and CPU hotplug (block/blk-mq.c, v4.4).
 *
 * - `blk_mq_hctx_notify()`, one per hctx on the block layer's per-hctx
 *   chain: at CPU_DEAD the dead CPU's ctx hands its queued requests to the
 *   ctx of the CPU running the notifier.
 * - `blk_mq_queue_reinit_notify()`: at CPU_UP_PREPARE (with the arriving CPU
 *   counted online, so the mapping exists before it can queue I/O), CPU_DEAD
 *   and CPU_UP_CANCELED, under `all_q_mutex`: start freezing every queue,
 *   wait for each (the grace periods overlap) and stop its timer, rebuild each
 *   queue's mapping and sysfs (`blk_mq_queue_reinit()`), unfreeze them all.
 *
 * @module
 */

import { CPU_DEAD, CPU_TASKS_FROZEN, CPU_UP_CANCELED, CPU_UP_PREPARE, CpuMask, NOTIFY_OK, type NotifierResult, type ReadonlyCpuMask } from "../kernel/cpu.ts";
import type { Sleepable } from "../kernel/sched.ts";
import type { BlockLayer } from "./blk_layer.ts";
import { blkMqMapSwqueue, blkMqUpdateQueueMap } from "./blk_mq.ts";
import { blkMqHctxClearPending, blkMqHctxMarkPending, type BlkMqHwCtx, blkMqRunHwQueue } from "./hctx.ts";
import { blkMqSysfsRegister, blkMqSysfsUnregister } from "./mq_sysfs.ts";
import { blkMqFreezeQueueStart, blkMqFreezeQueueWait, blkMqUnfreezeQueue, type RequestQueue } from "./request_queue.ts";
import { RQ } from "./request_record.ts";
import { listAdd, listEmpty } from "./_rq_list.ts";

/**
 * Mirrors `blk_mq_hctx_notify()` (v4.4): only CPU_DEAD matters (tags are
 * reallocated by the remap, not here).
 */
export function blkMqHctxNotify(hctx: BlkMqHwCtx, action: number, cpu: number): number {
  if ((action & ~CPU_TASKS_FROZEN) === CPU_DEAD) return blkMqHctxCpuOffline(hctx, cpu);
  return NOTIFY_OK;
}

/**
 * Mirrors `blk_mq_hctx_cpu_offline()` (v4.4): splices the dead CPU's
 * `rq_list` out (clearing its pending bit in the notifier's own hctx, which
 * v4.4 does whatever hctx that ctx was attached to), moves the requests to
 * the current CPU's ctx (rewriting `rq->mq_ctx`), marks that ctx pending on
 * its hctx and runs the hctx asynchronously.
 */
function blkMqHctxCpuOffline(hctx: BlkMqHwCtx, cpu: number): number {
  const q = hctx.queue;
  const k = q.kernel;
  let ctx = q.queueCtx[cpu];
  let tmp: readonly number[] = [];
  ctx.lock.lock("blk_mq_hctx_cpu_offline");
  if (!listEmpty(k, ctx.rqListHead)) {
    // list_splice_init(&ctx->rq_list, &tmp): the port's tmp is an array of the entries.
    tmp = ctx.rqList;
    k.core.blk_list_init(ctx.rqListHead);
    if (hctx.ctxMap !== null) blkMqHctxClearPending(hctx, ctx);
  }
  ctx.lock.unlock("blk_mq_hctx_cpu_offline");
  if (tmp.length === 0) return NOTIFY_OK;

  ctx = q.queueCtx[k.sched.getCpu()];
  ctx.lock.lock("blk_mq_hctx_cpu_offline");
  const mem = k.dv;
  for (const rq of tmp) {
    mem.setInt32(rq + RQ.MQ_CTX, ctx.cpu, true);
    listAdd(k, rq, ctx.rqListHead, true);
  }
  const target = q.mqOps!.mapQueue(q, ctx.cpu);
  if (target.ctxMap !== null) blkMqHctxMarkPending(target, ctx);
  ctx.lock.unlock("blk_mq_hctx_cpu_offline");
  blkMqRunHwQueue(target, true);
  k.sched.putCpu();
  return NOTIFY_OK;
}

/**
 * Mirrors `blk_mq_queue_reinit_notify()` (v4.4). Returns NOTIFY_OK at once
 * for the events it ignores, a Sleepable for the three it handles.
 */
export function blkMqQueueReinitNotify(block: BlockLayer, action: number, cpu: number): NotifierResult {
  const cpus = block.kernel.cpus;
  const online = new CpuMask(cpus.nrCpuIds);
  switch (action & ~CPU_TASKS_FROZEN) {
    case CPU_DEAD:
    case CPU_UP_CANCELED:
      online.assign(cpus.onlineMask);
      break;
    case CPU_UP_PREPARE:
      online.assign(cpus.onlineMask).set(cpu);
      break;
    default:
      return NOTIFY_OK;
  }
  return reinitAllQueues(block, online);
}

/** The body of `blk_mq_queue_reinit_notify()` under `all_q_mutex`. */
function* reinitAllQueues(block: BlockLayer, online: ReadonlyCpuMask): Sleepable<number> {
  const timers = block.kernel.timers;
  yield* block.allQMutex.lock("blk_mq_queue_reinit_notify");
  const queues = [...block.allQList];
  for (const q of queues) blkMqFreezeQueueStart(q);
  for (const q of queues) {
    yield* blkMqFreezeQueueWait(q);
    timers.delTimerSync(q.timeout);
  }
  for (const q of queues) yield* blkMqQueueReinit(q, online);
  for (const q of queues) yield* blkMqUnfreezeQueue(q);
  block.allQMutex.unlock("blk_mq_queue_reinit_notify");
  return NOTIFY_OK;
}

/**
 * Mirrors `blk_mq_queue_reinit()` (v4.4), on a frozen queue: its hctx/ctx
 * directories go, the CPU map is rebuilt for `online`, the ctxs are
 * re-attached (freeing or re-creating request maps), the directories return.
 */
export function* blkMqQueueReinit(q: RequestQueue, online: ReadonlyCpuMask): Sleepable {
  if (q.mqFreezeDepth === 0) q.kernel.log.warnOnce("block/blk-mq.c:blk_mq_queue_reinit", "WARN_ON_ONCE(!atomic_read(&q->mq_freeze_depth))");
  yield* blkMqSysfsUnregister(q);
  blkMqUpdateQueueMap(q, q.mqMapAddr, q.nrHwQueues, online);
  yield* blkMqMapSwqueue(q, online);
  blkMqSysfsRegister(q);
}
