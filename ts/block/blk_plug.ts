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
import { listAdd } from "./_rq_list.ts";

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
  /** Entries of flushed requests, reused by {@link BlkPlug.add} (a plug's requests then allocate nothing). */
  readonly spare: PluggedRequest[] = [];
  /** Nested `blk_start_plug()` calls: only the outermost plug is installed and flushed. */
  depth = 1;

  constructor(readonly task: Task) {}

  /** Appends `rq` of `q` to `mq_list` (`list_add_tail(&rq->queuelist, &plug->mq_list)`). */
  add(rq: number, q: RequestQueue): void {
    const e = this.spare.pop();
    if (e === undefined) {
      this.mqList.push({ rq, q });
      return;
    }
    e.rq = rq;
    e.q = q;
    this.mqList.push(e);
  }

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
 * ctx and sector; this sort, stable, keeps them in plug order.) The entries
 * go back to the plug's spares for the next requests.
 */
export function blkMqFlushPlugList(plug: BlkPlug, fromSchedule: boolean): void {
  const list = plug.mqList.splice(0);
  sortPlugList(list);
  let i = 0;
  while (i < list.length) {
    const q = list[i].q;
    const cpu = q.kernel.dv.getInt32(list[i].rq + RQ.MQ_CTX, true);
    let j = i + 1;
    while (j < list.length && list[j].q === q && q.kernel.dv.getInt32(list[j].rq + RQ.MQ_CTX, true) === cpu) j++;
    blkMqInsertRequests(q, cpu, list, i, j, fromSchedule);
    i = j;
  }
  for (const e of list) plug.spare.push(e);
}

/**
 * Sorts by {@link plugCtxCmp}, stably. A plug rarely holds more than
 * BLK_MAX_REQUEST_COUNT requests: an insertion sort then, which allocates
 * nothing (Array.prototype.sort copies into a work array on every call).
 */
function sortPlugList(list: PluggedRequest[]): void {
  if (list.length > 4 * BLK_MAX_REQUEST_COUNT) {
    list.sort(plugCtxCmp);
    return;
  }
  for (let i = 1; i < list.length; i++) {
    const e = list[i];
    let j = i - 1;
    while (j >= 0 && plugCtxCmp(list[j], e) > 0) {
      list[j + 1] = list[j];
      j--;
    }
    list[j + 1] = e;
  }
}

/** v4.4's `plug_ctx_cmp()`: by ctx (queue, then CPU), then by start sector. */
function plugCtxCmp(a: PluggedRequest, b: PluggedRequest): number {
  if (a.q !== b.q) return a.q.id - b.q.id;
  const dv = a.q.kernel.dv;
  return dv.getInt32(a.rq + RQ.MQ_CTX, true) - dv.getInt32(b.rq + RQ.MQ_CTX, true) || getU64(dv, a.rq + RQ.SECTOR) - getU64(dv, b.rq + RQ.SECTOR);
}

/**
 * Mirrors `blk_mq_insert_requests()` (v4.4) for `list[from..to)`: onto the
 * tail of the ctx of `cpu` (the current CPU's when that one is offline,
 * `rq->mq_ctx` updated), marked pending, then the hw queue runs
 * (`async = from_schedule`).
 */
function blkMqInsertRequests(q: RequestQueue, cpu: number, list: readonly PluggedRequest[], from: number, to: number, fromSchedule: boolean): void {
  const k = q.kernel;
  let ctx = q.queueCtx[cpu];
  if (!k.cpus.cpuOnline(ctx.cpu)) ctx = q.queueCtx[k.sched.smpProcessorId()];
  const hctx = q.mqOps!.mapQueue(q, ctx.cpu);
  ctx.lock.lock("blk_mq_insert_requests");
  for (let i = from; i < to; i++) {
    const rq = list[i].rq;
    k.dv.setInt32(rq + RQ.MQ_CTX, ctx.cpu, true);
    listAdd(k, rq, ctx.rqListHead, true);
  }
  blkMqHctxMarkPending(hctx, ctx);
  ctx.lock.unlock("blk_mq_insert_requests");
  blkMqRunHwQueue(hctx, fromSchedule);
}
