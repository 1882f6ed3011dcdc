// SPDX-License-Identifier: GPL-2.0-only
/**
 * The per-CPU software queue of a request queue: `struct blk_mq_ctx`
 * (block/blk-mq.h, v4.4). One per possible CPU, created with the queue and
 * freed in `blk_mq_release()`; only online CPUs' ctxs are attached to an
 * hctx by `blk_mq_map_swqueue()`.
 *
 * The state the request path touches (`rq_list`, `index_hw`, the sysfs
 * counters) is a record in the core's linear memory (asm/blk_mq_ctx.ts),
 * one of the queue's per-CPU block; {@link BlkMqCtx} is its view and keeps
 * what only TypeScript uses (the lock, the kobject).
 *
 * @module
 */

import type { Kernel } from "../kernel/kernel.ts";
import { Kobject } from "../kernel/kobject.ts";
import { Spinlock } from "../kernel/spinlock.ts";
import { getU64, setU64 } from "./_u64.ts";
import { listEntries } from "./_rq_list.ts";
import type { RequestQueue } from "./request_queue.ts";

/** `sizeof(struct blk_mq_ctx)` in the core (asm/blk_mq_ctx.ts); a test checks it. */
export const BLK_MQ_CTX_SIZE = 64;

/** Field offsets of the ctx record (asm/blk_mq_ctx.ts). */
export const CTX = {
  RQ_LIST: 0,
  CPU: 8,
  INDEX_HW: 12,
  /** `rq_dispatched[2]`: u64 [async, sync]. */
  RQ_DISPATCHED: 16,
  RQ_MERGED: 32,
  /** `rq_completed[2]`: u64 [async, sync]. */
  RQ_COMPLETED: 40,
} as const;

/**
 * Mirrors `struct blk_mq_ctx` (block/blk-mq.h, v4.4): a view of the record
 * at {@link BlkMqCtx.addr}. The sysfs counters are indexed as the kernel's
 * arrays: `[0]` async, `[1]` sync.
 */
export class BlkMqCtx {
  /** `ctx->cpu`. */
  readonly cpu: number;
  /** `ctx->queue`. */
  readonly queue: RequestQueue;
  /** The record's address in linear memory. */
  readonly addr: number;
  /** `ctx->lock`. */
  readonly lock: Spinlock;
  /** `ctx->kobj`: `cpu<N>` under its hctx's directory while attached and registered. */
  readonly kobj: Kobject<BlkMqCtx>;
  readonly #k: Kernel;

  /** Mirrors the per-CPU part of `blk_mq_init_cpu_queues()` on the zeroed record at `addr`. */
  constructor(queue: RequestQueue, cpu: number, addr: number) {
    this.queue = queue;
    this.cpu = cpu;
    this.addr = addr;
    const k = queue.kernel;
    this.#k = k;
    k.core.blk_mq_ctx_init(addr, cpu);
    this.lock = new Spinlock(k.sched, "&(&ctx->lock)->rlock");
    this.kobj = new Kobject<BlkMqCtx>(k.kobjects, { container: this, site: "blk_mq_sysfs_init" });
  }

  /** Address of `ctx->rq_list`, the list head of the request records queued here. */
  get rqListHead(): number {
    return this.addr + CTX.RQ_LIST;
  }

  /** `ctx->rq_list`: the request record addresses, oldest first (a copy). */
  get rqList(): readonly number[] {
    return listEntries(this.#k, this.rqListHead);
  }

  /** `ctx->index_hw`: position in its hctx's `ctxs[]` (meaningful while attached). */
  get indexHw(): number {
    return this.#k.dv.getUint32(this.addr + CTX.INDEX_HW, true);
  }

  set indexHw(v: number) {
    this.#k.dv.setUint32(this.addr + CTX.INDEX_HW, v, true);
  }

  /** `ctx->rq_dispatched[2]`: requests allocated here, [async, sync]. */
  get rqDispatched(): readonly [number, number] {
    const dv = this.#k.dv;
    return [getU64(dv, this.addr + CTX.RQ_DISPATCHED), getU64(dv, this.addr + CTX.RQ_DISPATCHED + 8)];
  }

  /** Sets `ctx->rq_dispatched[i]`. */
  setRqDispatched(i: 0 | 1, v: number): void {
    setU64(this.#k.dv, this.addr + CTX.RQ_DISPATCHED + 8 * i, v);
  }

  /** `ctx->rq_merged`. */
  get rqMerged(): number {
    return getU64(this.#k.dv, this.addr + CTX.RQ_MERGED);
  }

  set rqMerged(v: number) {
    setU64(this.#k.dv, this.addr + CTX.RQ_MERGED, v);
  }

  /** `ctx->rq_completed[2]`: [async, sync]. */
  get rqCompleted(): readonly [number, number] {
    const dv = this.#k.dv;
    return [getU64(dv, this.addr + CTX.RQ_COMPLETED), getU64(dv, this.addr + CTX.RQ_COMPLETED + 8)];
  }

  /** Sets `ctx->rq_completed[i]`. */
  setRqCompleted(i: 0 | 1, v: number): void {
    setU64(this.#k.dv, this.addr + CTX.RQ_COMPLETED + 8 * i, v);
  }
}
