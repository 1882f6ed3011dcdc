// SPDX-License-Identifier: GPL-2.0-only
/**
 * The hardware queue context of a request queue: `struct blk_mq_hw_ctx`
 * (include/linux/blk-mq.h, v4.4), its state bits and flags, the pending
 * bitmap of attached ctxs (`ctx_map`), and running it
 * (`blk_mq_run_hw_queue()`; the dispatch itself belongs to the I/O path,
 * which installs {@link RequestQueue.dispatchHook}).
 *
 * The tag fields v4.4 keeps inside the hctx (`state`'s TAG_ACTIVE bit,
 * `nr_active`, `wait_index`) live, in the port, in the WASM record of a
 * {@link TagHctx} owned by the tag map (ts/block/tags.ts). When an hctx's
 * map is freed (the hctx became unmapped), that record goes with it and a
 * remapped hctx starts idle; see {@link BlkMqHwCtx.setTags}.
 *
 * @module
 */

import { CpuMask } from "../kernel/cpu.ts";
import { kasanReport } from "../kernel/kasan.ts";
import type { Kmemleak } from "../kernel/kmemleak.ts";
import { Kobject } from "../kernel/kobject.ts";
import { Spinlock } from "../kernel/spinlock.ts";
import { DelayedWork, WORK_CPU_UNBOUND } from "../kernel/workqueue.ts";
import { BLK_MQ_MAX_DISPATCH_ORDER } from "../sysfs/sysfs.ts";
import type { BlkFlushQueue } from "./blk_flush.ts";
import type { BlkMqCtx } from "./ctx.ts";
import type { RequestQueue } from "./request_queue.ts";
import type { BlkMqQueueData, BlkMqRqMap } from "./tag_set.ts";
import { BLK_MQ_F_TAG_SHARED, type BlkMqTags, type TagHctx } from "./tags.ts";

export { BLK_MQ_F_TAG_SHARED };

/** Mirrors `BLK_MQ_F_SHOULD_MERGE` (include/linux/blk-mq.h, v4.4). */
export const BLK_MQ_F_SHOULD_MERGE = 1 << 0;
/** Mirrors `BLK_MQ_F_SG_MERGE`. */
export const BLK_MQ_F_SG_MERGE = 1 << 2;
/** Mirrors `BLK_MQ_F_DEFER_ISSUE`. */
export const BLK_MQ_F_DEFER_ISSUE = 1 << 4;
/** Mirrors `BLK_MQ_F_BLOCKING` (v4.13+, value of v4.13–v5.x; not in v4.4): `queue_rq` may sleep. */
export const BLK_MQ_F_BLOCKING = 1 << 5;
/** Mirrors `BLK_MQ_F_ALLOC_POLICY_START_BIT`. */
export const BLK_MQ_F_ALLOC_POLICY_START_BIT = 8;
/** Mirrors `BLK_MQ_S_STOPPED`: a bit number of `hctx->state`. */
export const BLK_MQ_S_STOPPED = 0;
/** Mirrors `BLK_MQ_S_TAG_ACTIVE`. */
export const BLK_MQ_S_TAG_ACTIVE = 1;
/** Mirrors `BLK_MQ_CPU_WORK_BATCH`. */
export const BLK_MQ_CPU_WORK_BATCH = 8;
/** Mirrors `NUMA_NO_NODE`. */
export const NUMA_NO_NODE = -1;

/**
 * Mirrors `struct blk_mq_ctxmap` (v4.4): one bit per attached ctx
 * (`index_hw`), `bits_per_word` = 8 bits in each of `ceil(nr_cpu_ids / 8)`
 * words; `size` words are in use (`ceil(nr_ctx / 8)` after mapping).
 */
export interface BlkMqCtxMap {
  size: number;
  readonly bitsPerWord: number;
  readonly words: Uint8Array;
}

/** Mirrors `struct blk_mq_cpu_notifier` (block/blk-mq-cpu.c). */
export interface BlkMqCpuNotifier {
  notify(data: BlkMqHwCtx, action: number, cpu: number): number;
  readonly data: BlkMqHwCtx;
}

export type { BlkFlushQueue };

/**
 * Mirrors `struct blk_mq_hw_ctx` (include/linux/blk-mq.h, v4.4).
 *
 * `dispatch` is `hctx->dispatch` (request record addresses); `ctxs` holds
 * the `nrCtx` attached ctxs in `index_hw` order.
 */
export class BlkMqHwCtx {
  /** `hctx->queue`. */
  readonly queue: RequestQueue;
  /** `hctx->queue_num`. */
  readonly queueNum: number;
  /** `hctx->numa_node`. */
  numaNode = NUMA_NO_NODE;
  /** `hctx->flags` (BLK_MQ_F_*). */
  flags = 0;
  /** `hctx->state` bits other than TAG_ACTIVE (see {@link BlkMqHwCtx.state}). */
  #state = 0;
  /** `hctx->cpumask`. */
  readonly cpumask: CpuMask;
  /** `hctx->nr_ctx`. */
  nrCtx = 0;
  /** `hctx->ctxs[]`: the first `nrCtx` entries are attached. */
  readonly ctxs: BlkMqCtx[] = [];
  /** `hctx->ctx_map`; null outside init_hctx .. exit_hctx. */
  ctxMap: BlkMqCtxMap | null = null;
  /** `hctx->tags`: the tag set's map for this index, or null (unmapped). */
  #tags: BlkMqRqMap | null = null;
  /** The WASM tag fields on `#tags`. */
  #tagHctx: TagHctx | null = null;
  /** `hctx->dispatch`: request record addresses. */
  readonly dispatch: number[] = [];
  /** `hctx->lock`. */
  readonly lock: Spinlock;
  /** `hctx->queued`. */
  queued = 0;
  /** `hctx->run`. */
  run = 0;
  /** `hctx->dispatched[BLK_MQ_MAX_DISPATCH_ORDER]`. */
  readonly dispatched: number[] = new Array<number>(BLK_MQ_MAX_DISPATCH_ORDER).fill(0);
  /** `hctx->poll_invoked` (v4.4). */
  pollInvoked = 0;
  /** `hctx->poll_success` (v4.4). */
  pollSuccess = 0;
  /** `hctx->next_cpu`. */
  nextCpu = 0;
  /** `hctx->next_cpu_batch`. */
  nextCpuBatch = BLK_MQ_CPU_WORK_BATCH;
  /** `hctx->driver_data`. */
  driverData: unknown = null;
  /** `hctx->fq`; null outside init_hctx .. exit_hctx. */
  fq: BlkFlushQueue | null = null;
  /** @internal the dispatch run's reused list and `queue_rq` argument (ts/block/blk_mq_request.ts). */
  runScratch: { list: number[]; bd: BlkMqQueueData; busy: boolean } | null = null;
  /** `hctx->run_work`. */
  readonly runWork: DelayedWork;
  /** `hctx->delay_work`. */
  readonly delayWork: DelayedWork;
  /** `hctx->cpu_notifier`. */
  readonly cpuNotifier: BlkMqCpuNotifier;
  /** `hctx->kobj`: `mq/<queue_num>` while mapped and registered. */
  readonly kobj: Kobject<BlkMqHwCtx>;

  /** The `kzalloc_node()` + first fields of `blk_mq_init_allocated_queue()` step 2. */
  constructor(queue: RequestQueue, queueNum: number, notify: BlkMqCpuNotifier["notify"]) {
    this.queue = queue;
    this.queueNum = queueNum;
    const k = queue.kernel;
    this.cpumask = new CpuMask(k.cpus.nrCpuIds);
    this.lock = new Spinlock(k.sched, "&(&hctx->lock)->rlock");
    this.runWork = new DelayedWork(() => blkMqRunWorkFn(this), "(&(&hctx->run_work)->work)");
    this.delayWork = new DelayedWork(() => blkMqDelayWorkFn(this), "(&(&hctx->delay_work)->work)");
    this.cpuNotifier = { notify, data: this };
    this.kobj = new Kobject<BlkMqHwCtx>(k.kobjects, { container: this, site: "blk_mq_sysfs_init" });
  }

  /** `hctx->tags`. */
  get tags(): BlkMqRqMap | null {
    return this.#tags;
  }

  /** The WASM tag fields (nr_active, TAG_ACTIVE), or null without tags. */
  get tagHctx(): TagHctx | null {
    return this.#tagHctx !== null && this.#tags !== null && !this.#tags.freed ? this.#tagHctx : null;
  }

  /** `hctx->state`: BLK_MQ_S_STOPPED and, from the tag fields, BLK_MQ_S_TAG_ACTIVE. */
  get state(): number {
    const active = this.tagHctx?.active === true ? 1 << BLK_MQ_S_TAG_ACTIVE : 0;
    return this.#state | active;
  }

  /** `atomic_read(&hctx->nr_active)`. */
  get nrActive(): number {
    return this.tagHctx?.nrActive ?? 0;
  }

  /** Whether BLK_MQ_S_STOPPED is set. */
  get stopped(): boolean {
    return (this.#state & (1 << BLK_MQ_S_STOPPED)) !== 0;
  }

  /** Sets or clears BLK_MQ_S_STOPPED (`blk_mq_stop_hw_queue()` / `blk_mq_start_hw_queue()` set it; the I/O path runs). */
  setStopped(stopped: boolean): void {
    if (stopped) this.#state |= 1 << BLK_MQ_S_STOPPED;
    else this.#state &= ~(1 << BLK_MQ_S_STOPPED);
  }

  /**
   * `hctx->tags = map`. The port also moves the hctx's WASM tag fields: off
   * the old map (idled, as `blk_mq_exit_hctx()` idles; nothing to do if that
   * map was already freed) and onto the new one, carrying BLK_MQ_F_TAG_SHARED.
   */
  setTags(map: BlkMqRqMap | null): void {
    if (map === this.#tags && (map === null || this.#tagHctx !== null)) return;
    // Made first: when it fails (ENOMEM) nothing has changed.
    const th = map === null ? null : map.tags.createHctx({ shared: (this.flags & BLK_MQ_F_TAG_SHARED) !== 0 });
    this.#dropTagHctx();
    this.#tags = map;
    this.#tagHctx = th;
  }

  /** Mirrors the hctx side of `queue_set_hctx_shared()`: sets or clears BLK_MQ_F_TAG_SHARED. */
  setShared(shared: boolean): void {
    if (shared) this.flags |= BLK_MQ_F_TAG_SHARED;
    else this.flags &= ~BLK_MQ_F_TAG_SHARED;
    const th = this.tagHctx;
    if (th !== null) th.tags.setShared(th, shared);
  }

  /** Mirrors `blk_mq_tag_idle()`: an active hctx leaves its map's `active_queues`. */
  tagIdle(): void {
    const th = this.tagHctx;
    if (th !== null && th.active) th.tags.tagIdle(th);
  }

  /** The tag-fields part of `blk_mq_exit_hctx()`: idle and free them. */
  exitTags(): void {
    this.#dropTagHctx();
  }

  #dropTagHctx(): void {
    const th = this.#tagHctx;
    this.#tagHctx = null;
    if (th !== null && this.#tags !== null && !this.#tags.freed) th.tags.destroyHctx(th);
  }
}

/**
 * `hctx->tags` for a function about to use the tag map: null without one;
 * when the map was freed under the hctx it is v4.4's use-after-free (another
 * queue of a shared set unmapped this index during a hotplug remap, and this
 * queue is not remapped yet): reported as KASAN reports it, and null.
 *
 * @param where the kernel function that reads the map, for the report
 */
export function hctxLiveTags(hctx: BlkMqHwCtx, where: string): BlkMqTags | null {
  const m = hctx.tags;
  if (m === null) return null;
  if (!m.freed) return m.tags;
  kasanReport(hctx.queue.kernel.log, { kind: "use-after-free", where, addr: m.tags.addr, access: "read", size: 4 });
  return null;
}

/** Mirrors `blk_mq_alloc_bitmap()` (block/blk-mq.c, v4.4): 8 bits a word for every possible CPU. */
export function blkMqAllocBitmap(nrCpuIds: number, kmemleak: Kmemleak): BlkMqCtxMap {
  const bitsPerWord = 8;
  const nr = Math.ceil(nrCpuIds / bitsPerWord);
  const map: BlkMqCtxMap = { size: nr, bitsPerWord, words: new Uint8Array(nr) };
  kmemleak.track(map, { size: nr * 64, cache: "kmalloc", site: "blk_mq_alloc_bitmap" });
  return map;
}

/** Mirrors `blk_mq_free_bitmap()`. */
export function blkMqFreeBitmap(map: BlkMqCtxMap, kmemleak: Kmemleak): void {
  kmemleak.untrack(map, "blk_mq_free_bitmap");
}

/** Mirrors `blk_mq_hctx_mark_pending()`: sets bit `ctx->index_hw` of the hctx's ctx_map. */
export function blkMqHctxMarkPending(hctx: BlkMqHwCtx, ctx: BlkMqCtx): void {
  const m = hctx.ctxMap!;
  m.words[Math.floor(ctx.indexHw / m.bitsPerWord)] |= 1 << (ctx.indexHw % m.bitsPerWord);
}

/** Mirrors `blk_mq_hctx_clear_pending()`. */
export function blkMqHctxClearPending(hctx: BlkMqHwCtx, ctx: BlkMqCtx): void {
  const m = hctx.ctxMap!;
  m.words[Math.floor(ctx.indexHw / m.bitsPerWord)] &= ~(1 << (ctx.indexHw % m.bitsPerWord));
}

/** Mirrors `blk_mq_hctx_has_pending()`: any bit in the first `size` words of ctx_map. */
export function blkMqHctxHasPending(hctx: BlkMqHwCtx): boolean {
  const m = hctx.ctxMap;
  if (m === null) return false;
  for (let i = 0; i < m.size; i++) if (m.words[i] !== 0) return true;
  return false;
}

/** Mirrors `blk_mq_hw_queue_mapped()`: ctxs attached and tags present. */
export function blkMqHwQueueMapped(hctx: BlkMqHwCtx): boolean {
  return hctx.nrCtx > 0 && hctx.tags !== null;
}

/**
 * Mirrors `blk_mq_hctx_next_cpu()` (v4.4): with one hw queue WORK_CPU_UNBOUND;
 * otherwise round-robin over `hctx->cpumask`, moving on every
 * BLK_MQ_CPU_WORK_BATCH calls.
 */
export function blkMqHctxNextCpu(hctx: BlkMqHwCtx): number {
  if (hctx.queue.nrHwQueues === 1) return WORK_CPU_UNBOUND;
  if (--hctx.nextCpuBatch <= 0) {
    let next = hctx.cpumask.next(hctx.nextCpu);
    if (next >= hctx.cpumask.nbits) next = hctx.cpumask.first();
    hctx.nextCpu = next;
    hctx.nextCpuBatch = BLK_MQ_CPU_WORK_BATCH;
  }
  return hctx.nextCpu;
}

/**
 * Mirrors `__blk_mq_run_hw_queue()`: a stopped hctx is left alone; the rest
 * is the I/O path's ({@link RequestQueue.dispatchHook}), which counts `run`.
 */
export function __blkMqRunHwQueue(hctx: BlkMqHwCtx): void {
  if (hctx.stopped) return;
  hctx.queue.dispatchHook?.(hctx);
}

/**
 * Mirrors `blk_mq_run_hw_queue()` (v4.4): nothing for a stopped or unmapped
 * hctx; synchronously on a CPU of its cpumask; otherwise `run_work` on kblockd.
 */
export function blkMqRunHwQueue(hctx: BlkMqHwCtx, async: boolean): void {
  if (hctx.stopped || !blkMqHwQueueMapped(hctx)) return;
  const s = hctx.queue.kernel.sched;
  if (!async) {
    const cpu = s.getCpu();
    if (hctx.cpumask.test(cpu)) {
      __blkMqRunHwQueue(hctx);
      s.putCpu();
      return;
    }
    s.putCpu();
  }
  hctx.queue.block.kblockd.queueDelayedWorkOn(blkMqHctxNextCpu(hctx), hctx.runWork, 0);
}

/**
 * Mirrors `blk_mq_run_hw_queues()`: every hctx with pending ctxs or a
 * non-empty dispatch list that is not stopped.
 */
export function blkMqRunHwQueues(q: RequestQueue, async: boolean): void {
  for (const hctx of q.queueHwCtx) {
    if ((!blkMqHctxHasPending(hctx) && hctx.dispatch.length === 0) || hctx.stopped) continue;
    blkMqRunHwQueue(hctx, async);
  }
}

/** Mirrors `blk_mq_run_work_fn()`. */
function blkMqRunWorkFn(hctx: BlkMqHwCtx): void {
  __blkMqRunHwQueue(hctx);
}

/** Mirrors `blk_mq_delay_work_fn()`: clears STOPPED, then runs. */
function blkMqDelayWorkFn(hctx: BlkMqHwCtx): void {
  hctx.setStopped(false);
  __blkMqRunHwQueue(hctx);
}

/**
 * Mirrors `blk_mq_stop_hw_queue()` (block/blk-mq.c, v4.4): the pending run
 * and delay works are cancelled (not waited for) and STOPPED is set; a
 * driver that returns BUSY usually calls this first.
 */
export function blkMqStopHwQueue(hctx: BlkMqHwCtx): void {
  const wqs = hctx.queue.kernel.workqueues;
  wqs.cancelDelayedWork(hctx.runWork);
  wqs.cancelDelayedWork(hctx.delayWork);
  hctx.setStopped(true);
}

/** Mirrors `blk_mq_start_hw_queue()` (v4.4): STOPPED cleared, then a synchronous run. */
export function blkMqStartHwQueue(hctx: BlkMqHwCtx): void {
  hctx.setStopped(false);
  blkMqRunHwQueue(hctx, false);
}

/** Mirrors `blk_mq_start_hw_queues()` (v4.4): {@link blkMqStartHwQueue} on every hctx, stopped or not. */
export function blkMqStartHwQueues(q: RequestQueue): void {
  for (const hctx of q.queueHwCtx) blkMqStartHwQueue(hctx);
}
