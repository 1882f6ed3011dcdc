// SPDX-License-Identifier: GPL-2.0-only
/**
 * Per-task plugging (block/blk-core.c, block/blk-mq.c, v4.4): between
 * {@link blkStartPlug} and {@link blkFinishPlug} a task's blk-mq requests
 * wait on its plug (`plug->mq_list`) instead of going to their ctx, so later
 * bios can merge into them (`blk_attempt_plug_merge()`, in
 * ts/block/blk_mq_request.ts). The plug is flushed by `blk_finish_plug()`
 * and, through {@link TaskPlug.scheduleFlush}, by the scheduler when the task
 * blocks (`sched_submit_work()` → `blk_schedule_flush_plug()`).
 *
 * Only `mq_list` exists: the port has no legacy request_fn queues and no
 * unplug callbacks (`cb_list`).
 *
 * @module
 */

import type { Task, TaskPlug } from "../kernel/sched.ts";
import { blkMqHctxMarkPending, blkMqRunHwQueue } from "./hctx.ts";
import { RQ } from "./request_record.ts";
import type { RequestQueue } from "./request_queue.ts";
import { getU64 } from "./_u64.ts";

/** Mirrors `BLK_MAX_REQUEST_COUNT`: `blk_sq_make_request()` flushes a plug holding this many of the queue's requests. */
export const BLK_MAX_REQUEST_COUNT = 16;

/** One request waiting on a plug (`rq->queuelist` on `plug->mq_list`, with `rq->q`). */
export interface PluggedRequest {
  rq: number;
  q: RequestQueue;
}

/** Mirrors `struct blk_plug` (include/linux/blkdev.h, v4.4), the `mq_list` part. */
export class BlkPlug implements TaskPlug {
  /** `plug->mq_list`, oldest first. */
  readonly mqList: PluggedRequest[] = [];
  /** Nested `blk_start_plug()` calls: only the outermost plug is installed and flushed. */
  depth = 1;

  constructor(readonly task: Task) {}

  needsFlush(): boolean {
    return this.mqList.length > 0;
  }

  scheduleFlush(): void {
    blkFlushPlugList(this, true);
  }
}

/**
 * Mirrors `blk_start_plug()` (v4.4): installs a plug as `task->plug` unless
 * one is already there (a nested plug adds to the outer one).
 *
 * @returns the task's plug
 */
export function blkStartPlug(task: Task): BlkPlug {
  const cur = task.plug;
  if (cur !== null) {
    if (!(cur instanceof BlkPlug)) throw new TypeError(`blk_start_plug: task ${task.comm} has a foreign plug`);
    cur.depth++;
    return cur;
  }
  const plug = new BlkPlug(task);
  task.plug = plug;
  return plug;
}

/**
 * Mirrors `blk_finish_plug()` (v4.4): the outermost finish flushes the plug
 * (`blk_flush_plug_list(plug, false)`) and clears `task->plug`.
 *
 * @throws {TypeError} when the task has no plug
 */
export function blkFinishPlug(task: Task): void {
  const plug = task.plug;
  if (!(plug instanceof BlkPlug)) throw new TypeError(`blk_finish_plug: task ${task.comm} has no plug`);
  if (--plug.depth > 0) return;
  blkFlushPlugList(plug, false);
  task.plug = null;
}

/** The current task's plug (`current->plug`), or null. */
export function currentPlug(q: RequestQueue): BlkPlug | null {
  const p = q.kernel.sched.current.plug;
  return p instanceof BlkPlug ? p : null;
}

/** Mirrors `blk_plug_queued_count()` (v4.4): `q`'s requests on the current task's plug. */
export function blkPlugQueuedCount(q: RequestQueue): number {
  const plug = currentPlug(q);
  if (plug === null) return 0;
  let n = 0;
  for (const e of plug.mqList) if (e.q === q) n++;
  return n;
}

/** Mirrors `blk_flush_plug_list()` (v4.4): the mq list, when not empty. */
export function blkFlushPlugList(plug: BlkPlug, fromSchedule: boolean): void {
  if (plug.mqList.length > 0) blkMqFlushPlugList(plug, fromSchedule);
}

/**
 * Mirrors `blk_mq_flush_plug_list()` (v4.4): the plugged requests sorted by
 * (ctx, start sector) — ctx address order is queue then CPU order here — and
 * each run sharing a ctx inserted with `blk_mq_insert_requests()`.
 * (`list_sort()` with v4.4's `plug_ctx_cmp()` may reorder requests with the same
 * ctx and sector; this sort keeps them in plug order.)
 */
export function blkMqFlushPlugList(plug: BlkPlug, fromSchedule: boolean): void {
  const list = plug.mqList.splice(0);
  const key = list.map((e) => {
    const dv = e.q.kernel.dv;
    return { e, cpu: dv.getInt32(e.rq + RQ.MQ_CTX, true), pos: getU64(dv, e.rq + RQ.SECTOR) };
  });
  key.sort((a, b) => a.e.q.id - b.e.q.id || a.cpu - b.cpu || a.pos - b.pos);
  let i = 0;
  while (i < key.length) {
    let j = i + 1;
    while (j < key.length && key[j].e.q === key[i].e.q && key[j].cpu === key[i].cpu) j++;
    blkMqInsertRequests(key[i].e.q, key[i].cpu, key.slice(i, j).map((x) => x.e.rq), fromSchedule);
    i = j;
  }
}

/**
 * Mirrors `blk_mq_insert_requests()` (v4.4): onto the tail of the ctx of
 * `cpu` (the current CPU's when that one is offline, `rq->mq_ctx` updated),
 * marked pending, then the hw queue runs (`async = from_schedule`).
 */
function blkMqInsertRequests(q: RequestQueue, cpu: number, rqs: number[], fromSchedule: boolean): void {
  const k = q.kernel;
  let ctx = q.queueCtx[cpu];
  if (!k.cpus.cpuOnline(ctx.cpu)) ctx = q.queueCtx[k.sched.smpProcessorId()];
  const hctx = q.mqOps!.mapQueue(q, ctx.cpu);
  ctx.lock.lock("blk_mq_insert_requests");
  for (const rq of rqs) {
    k.dv.setInt32(rq + RQ.MQ_CTX, ctx.cpu, true);
    ctx.rqList.push(rq);
  }
  blkMqHctxMarkPending(hctx, ctx);
  ctx.lock.unlock("blk_mq_insert_requests");
  blkMqRunHwQueue(hctx, fromSchedule);
}
