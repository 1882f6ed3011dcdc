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

import { KernelError } from "../errors.ts";
import type { Kernel } from "../kernel/kernel.ts";
import type { Task, TaskPlug } from "../kernel/sched.ts";
import { blkMqHctxMarkPending, blkMqRunHwQueue } from "./hctx.ts";
import { RQ } from "./request_record.ts";
import type { RequestQueue } from "./request_queue.ts";
import { getU64 } from "./_u64.ts";
import { listAdd, listAppendTo, listEmpty } from "./_rq_list.ts";
import { blkMqFlushPlugListCore } from "./blk_mq_request.ts";

/** Mirrors `BLK_MAX_REQUEST_COUNT`: `blk_sq_make_request()` flushes a plug holding this many of the queue's requests. */
export const BLK_MAX_REQUEST_COUNT = 16;

/** Tasks that may hold a plug at once (asm/blk_plug.ts's table of plug records). */
export const BLK_PLUG_MAX = 1024;

/**
 * Mirrors `struct blk_plug` (include/linux/blkdev.h, v4.4), the `mq_list`
 * part: a record in linear memory (asm/blk_plug.ts) whose list links the
 * plugged requests through their `queuelist`, oldest first, so the core's
 * make_request and flush work on it as the TypeScript path does.
 */
export class BlkPlug implements TaskPlug {
  /** Nested `blk_start_plug()` calls: only the outermost plug is installed and flushed. */
  depth = 1;

  /** @internal use {@link blkStartPlug} */
  constructor(readonly kernel: Kernel, readonly task: Task, readonly addr: number) {}

  /** Appends request `rq` to `mq_list` (`list_add_tail(&rq->queuelist, &plug->mq_list)`). */
  add(rq: number): void {
    listAdd(this.kernel, rq, this.addr, true);
  }

  /** The requests on `mq_list`, oldest first (a copy). */
  requests(): number[] {
    const out: number[] = [];
    listAppendTo(this.kernel, this.addr, out);
    return out;
  }

  /** Whether request `rq` is on `mq_list`. */
  holds(rq: number): boolean {
    const dv = this.kernel.dv;
    for (let e = dv.getUint32(this.addr, true); e !== this.addr; e = dv.getUint32(e, true)) if (e === rq) return true;
    return false;
  }

  needsFlush(): boolean {
    return !listEmpty(this.kernel, this.addr);
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
 * @throws {KernelError} EAGAIN when {@link BLK_PLUG_MAX} tasks hold a plug already (a port limit)
 * @throws {TypeError} when the task holds a plug of another kind
 */
export function blkStartPlug(k: Kernel, task: Task): BlkPlug {
  const cur = task.plug;
  if (cur !== null) {
    if (!(cur instanceof BlkPlug)) throw new TypeError(`blk_start_plug: task ${task.comm} has a foreign plug`);
    cur.depth++;
    return cur;
  }
  const addr = k.core.blk_plug_alloc();
  if (addr === 0) throw new KernelError("EAGAIN", "blk_start_plug", `${BLK_PLUG_MAX} tasks hold a plug already`);
  const plug = new BlkPlug(k, task, addr);
  task.plug = plug;
  return plug;
}

/**
 * Mirrors `blk_finish_plug()` (v4.4): the outermost finish flushes the plug
 * (`blk_flush_plug_list(plug, false)`, again while a flush's completions
 * plugged more) and clears `task->plug`.
 *
 * @throws {TypeError} when the task has no plug
 */
export function blkFinishPlug(task: Task): void {
  const plug = task.plug;
  if (!(plug instanceof BlkPlug)) throw new TypeError(`blk_finish_plug: task ${task.comm} has no plug`);
  if (--plug.depth > 0) return;
  while (plug.needsFlush()) blkFlushPlugList(plug, false);
  task.plug = null;
  const k = plug.kernel;
  if (k.core.blk_plug_free(plug.addr) !== 0) k.log.bug("block/blk-core.c:blk_finish_plug", `plug record ${plug.addr} was not held`);
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
  const dv = q.kernel.dv;
  let n = 0;
  for (let e = dv.getUint32(plug.addr, true); e !== plug.addr; e = dv.getUint32(e, true)) if (dv.getUint32(e + RQ.Q, true) === q.id) n++;
  return n;
}

/**
 * Mirrors `blk_flush_plug_list()` (v4.4): the mq list, when not empty; in
 * the core when it holds one queue's requests and that queue's path is the
 * core's ({@link blkMqFlushPlugListCore}), else {@link blkMqFlushPlugList}.
 */
export function blkFlushPlugList(plug: BlkPlug, fromSchedule: boolean): void {
  if (!plug.needsFlush() || blkMqFlushPlugListCore(plug, fromSchedule)) return;
  blkMqFlushPlugList(plug, fromSchedule);
}

/** A plugged request with what the flush sorts it by. */
interface PluggedRequest {
  rq: number;
  q: RequestQueue;
  cpu: number;
  sector: number;
}

/**
 * Mirrors `blk_mq_flush_plug_list()` (v4.4): the plugged requests taken off
 * the plug, sorted by (ctx, start sector) — ctx address order is queue then
 * CPU order here — and each run sharing a ctx inserted with
 * `blk_mq_insert_requests()`. (`list_sort()` with v4.4's `plug_ctx_cmp()`
 * is a stable merge sort; this sort is stable too.)
 */
export function blkMqFlushPlugList(plug: BlkPlug, fromSchedule: boolean): void {
  const k = plug.kernel;
  const dv = k.dv;
  const list: PluggedRequest[] = [];
  for (const rq of plug.requests()) {
    const q = k.block.queueById[dv.getUint32(rq + RQ.Q, true)]?.q;
    if (q === undefined) return k.log.bug("block/blk-mq.c:blk_mq_flush_plug_list", `BUG_ON(!rq->q): request ${rq}`);
    list.push({ rq, q, cpu: dv.getInt32(rq + RQ.MQ_CTX, true), sector: getU64(dv, rq + RQ.SECTOR) });
  }
  k.core.blk_list_init(plug.addr);
  sortPlugList(list);
  let i = 0;
  while (i < list.length) {
    const { q, cpu } = list[i];
    let j = i + 1;
    while (j < list.length && list[j].q === q && list[j].cpu === cpu) j++;
    blkMqInsertRequests(q, cpu, list, i, j, fromSchedule);
    i = j;
  }
}

/**
 * Sorts by {@link plugCtxCmp}, stably. A plug rarely holds more than
 * BLK_MAX_REQUEST_COUNT requests: an insertion sort then.
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
  return a.q.id - b.q.id || a.cpu - b.cpu || a.sector - b.sector;
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
