// SPDX-License-Identifier: GPL-2.0-only
/**
 * The per-CPU software queue of a request queue: `struct blk_mq_ctx`
 * (block/blk-mq.h, v4.4). One per possible CPU, created with the queue and
 * freed in `blk_mq_release()`; only online CPUs' ctxs are attached to an
 * hctx by `blk_mq_map_swqueue()`.
 *
 * @module
 */

import { Kobject } from "../kernel/kobject.ts";
import { Spinlock } from "../kernel/spinlock.ts";
import type { RequestQueue } from "./request_queue.ts";

/**
 * Mirrors `struct blk_mq_ctx` (block/blk-mq.h, v4.4).
 *
 * `rqList` is `ctx->rq_list`: the addresses of the request records queued
 * here, oldest first (the I/O path fills it). The sysfs counters are
 * indexed as the kernel's arrays: `[0]` async, `[1]` sync.
 */
export class BlkMqCtx {
  /** `ctx->cpu`. */
  readonly cpu: number;
  /** `ctx->queue`. */
  readonly queue: RequestQueue;
  /** `ctx->index_hw`: position in its hctx's `ctxs[]` (meaningful while attached). */
  indexHw = 0;
  /** `ctx->rq_list`: request record addresses. */
  readonly rqList: number[] = [];
  /** `ctx->lock`. */
  readonly lock: Spinlock;
  /** `ctx->rq_dispatched[2]`: requests allocated here, [async, sync]. */
  readonly rqDispatched: [number, number] = [0, 0];
  /** `ctx->rq_merged`. */
  rqMerged = 0;
  /** `ctx->rq_completed[2]`: [async, sync]. */
  readonly rqCompleted: [number, number] = [0, 0];
  /** `ctx->kobj`: `cpu<N>` under its hctx's directory while attached and registered. */
  readonly kobj: Kobject<BlkMqCtx>;

  /** Mirrors the per-CPU part of `blk_mq_init_cpu_queues()`. */
  constructor(queue: RequestQueue, cpu: number) {
    this.queue = queue;
    this.cpu = cpu;
    const k = queue.kernel;
    this.lock = new Spinlock(k.sched, "&(&ctx->lock)->rlock");
    this.kobj = new Kobject<BlkMqCtx>(k.kobjects, { container: this, site: "blk_mq_sysfs_init" });
  }
}
