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
import type { Kernel } from "../kernel/kernel.ts";
import { Kobject } from "../kernel/kobject.ts";
import { Spinlock } from "../kernel/spinlock.ts";
import { DelayedWork, WORK_CPU_UNBOUND } from "../kernel/workqueue.ts";
import { BLK_MQ_MAX_DISPATCH_ORDER } from "../sysfs/sysfs.ts";
import { BlockMemory } from "./_mem.ts";
import { listEmpty, listEntries } from "./_rq_list.ts";
import { getU64, setU64 } from "./_u64.ts";
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
/** Bits of each ctx_map word (`bits_per_word`, v4.4). */
export const CTX_MAP_BITS_PER_WORD = 8;
/** Mirrors `NUMA_NO_NODE`. */
export const NUMA_NO_NODE = -1;

/**
 * Mirrors `struct blk_mq_ctxmap` (v4.4), read from the hctx record: one bit
 * per attached ctx (`index_hw`), `bits_per_word` = 8 bits in each of
 * `ceil(nr_cpu_ids / 8)` words (u32 in linear memory at `map`); `size` words
 * are in use (`ceil(nr_ctx / 8)` after mapping). `words` is a copy.
 */
export interface BlkMqCtxMap {
  readonly map: number;
  readonly size: number;
  readonly bitsPerWord: number;
  readonly words: readonly number[];
}

/** `sizeof(struct blk_mq_hw_ctx)` in the core (its request-path part, asm/blk_mq_ctx.ts); a test checks it. */
export const BLK_MQ_HW_CTX_SIZE = 192;

/** @internal One dispatch run's `queue_rq` argument and driver list (ts/block/blk_mq_request.ts). */
export interface BlkMqRunScratch {
  list: number[];
  readonly bd: BlkMqQueueData;
}

/** Field offsets of the hctx record (asm/blk_mq_ctx.ts). */
export const HCTX = {
  DISPATCH: 0,
  STATE: 8,
  FLAGS: 12,
  QUEUE_NUM: 16,
  NR_CTX: 20,
  CTXS: 24,
  CTX_MAP_SIZE: 28,
  CTX_MAP_MAP: 32,
  CTX_MAP_BITS_PER_WORD: 36,
  NEXT_CPU: 40,
  NEXT_CPU_BATCH: 44,
  QUEUED: 48,
  RUN: 56,
  /** `dispatched[BLK_MQ_MAX_DISPATCH_ORDER]`: u64 each. */
  DISPATCHED: 64,
  POLL_INVOKED: 144,
  POLL_SUCCESS: 152,
  /** The port's: the local `rq_list` of `__blk_mq_run_hw_queue()` (a list head). */
  RUN_LIST: 160,
  /** The live tag map's address (`hctx->tags->...`, asm/tags.ts), 0 without one. */
  TAGS: 168,
  /** The address of that map's per-ctx hint words. */
  TAGS_HINTS: 172,
  /** The address of this hctx's tag fields in that map (its TagHctx), 0 without one. */
  TAG_HCTX: 176,
  /** The runs of this hctx under way (the core counts them; the host's queue_rq finds its run's `bd` by it). */
  RUN_DEPTH: 180,
  /** The address of that map's `rqs[]`, 0 without one. */
  TAGS_RQS: 184,
} as const;

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
  /** The record's address in linear memory. */
  readonly addr: number;
  /** `hctx->numa_node`. */
  numaNode = NUMA_NO_NODE;
  /** `hctx->cpumask`. */
  readonly cpumask: CpuMask;
  /** `hctx->ctxs[]`: the first `nrCtx` entries are attached (the record's `ctxs` holds their addresses). */
  readonly ctxs: BlkMqCtx[] = [];
  /** `hctx->tags`: the tag set's map for this index, or null (unmapped). */
  #tags: BlkMqRqMap | null = null;
  /** The WASM tag fields on `#tags`. */
  #tagHctx: TagHctx | null = null;
  /** `hctx->lock`. */
  readonly lock: Spinlock;
  /** `hctx->driver_data`. */
  driverData: unknown = null;
  /** `hctx->fq`; null outside init_hctx .. exit_hctx. */
  fq: BlkFlushQueue | null = null;
  /**
   * @internal the dispatch runs' `queue_rq` argument and driver list (`bd->list`, new for each
   * run that hands one out), one per nesting depth (index depth - 1), reused by the next run at
   * that depth (ts/block/blk_mq_request.ts).
   */
  readonly runScratch: BlkMqRunScratch[] = [];
  /** `hctx->run_work`. */
  readonly runWork: DelayedWork;
  /** `hctx->delay_work`. */
  readonly delayWork: DelayedWork;
  /** `hctx->cpu_notifier`. */
  readonly cpuNotifier: BlkMqCpuNotifier;
  /** `hctx->kobj`: `mq/<queue_num>` while mapped and registered. */
  readonly kobj: Kobject<BlkMqHwCtx>;
  readonly #k: Kernel;

  /**
   * The first fields of `blk_mq_init_allocated_queue()` step 2, on the
   * zeroed record at `addr` (the caller's `kzalloc_node()`).
   */
  constructor(queue: RequestQueue, queueNum: number, notify: BlkMqCpuNotifier["notify"], addr: number) {
    this.queue = queue;
    this.queueNum = queueNum;
    this.addr = addr;
    const k = queue.kernel;
    this.#k = k;
    const dv = k.dv;
    dv.setUint32(addr + HCTX.QUEUE_NUM, queueNum, true);
    dv.setInt32(addr + HCTX.NEXT_CPU_BATCH, BLK_MQ_CPU_WORK_BATCH, true);
    k.core.blk_list_init(addr + HCTX.DISPATCH);
    k.core.blk_list_init(addr + HCTX.RUN_LIST);
    this.cpumask = new CpuMask(k.cpus.nrCpuIds);
    this.lock = new Spinlock(k.sched, "&(&hctx->lock)->rlock");
    this.runWork = new DelayedWork(() => blkMqRunWorkFn(this), "(&(&hctx->run_work)->work)");
    this.delayWork = new DelayedWork(() => blkMqDelayWorkFn(this), "(&(&hctx->delay_work)->work)");
    this.cpuNotifier = { notify, data: this };
    this.kobj = new Kobject<BlkMqHwCtx>(k.kobjects, { container: this, site: "blk_mq_sysfs_init" });
  }

  #u32(off: number): number {
    return this.#k.dv.getUint32(this.addr + off, true);
  }

  #setU32(off: number, v: number): void {
    this.#k.dv.setUint32(this.addr + off, v, true);
  }

  /** `hctx->flags` (BLK_MQ_F_*). */
  get flags(): number {
    return this.#u32(HCTX.FLAGS);
  }

  set flags(v: number) {
    this.#setU32(HCTX.FLAGS, v);
  }

  /** @internal The dispatch runs of this hctx under way (the record's `run_depth`, counted by the core). */
  get runDepth(): number {
    return this.#u32(HCTX.RUN_DEPTH);
  }

  set runDepth(v: number) {
    this.#setU32(HCTX.RUN_DEPTH, v);
  }

  /** `hctx->nr_ctx`. */
  get nrCtx(): number {
    return this.#u32(HCTX.NR_CTX);
  }

  set nrCtx(v: number) {
    this.#setU32(HCTX.NR_CTX, v);
  }

  /** Address of `hctx->dispatch`, the list head of request records waiting for the driver. */
  get dispatchHead(): number {
    return this.addr + HCTX.DISPATCH;
  }

  /** `hctx->dispatch`: request record addresses, first to last (a copy). */
  get dispatch(): readonly number[] {
    return listEntries(this.#k, this.dispatchHead);
  }

  /** `hctx->ctx_map`; null outside init_hctx .. exit_hctx. */
  get ctxMap(): BlkMqCtxMap | null {
    const map = this.#u32(HCTX.CTX_MAP_MAP);
    if (map === 0) return null;
    const dv = this.#k.dv;
    const bitsPerWord = this.#u32(HCTX.CTX_MAP_BITS_PER_WORD);
    const words: number[] = [];
    for (let i = 0; i < Math.ceil(this.#k.cpus.nrCpuIds / bitsPerWord); i++) words.push(dv.getUint32(map + 4 * i, true));
    return { map, size: this.#u32(HCTX.CTX_MAP_SIZE), bitsPerWord, words };
  }

  /**
   * The attach step of `blk_mq_map_swqueue()`: `hctx->ctxs[]` = `ctxs` (in
   * `index_hw` order) and `nr_ctx`, in the record as well (its `ctxs` array
   * of record addresses, from `blk_mq_init_hctx()`).
   */
  setCtxs(ctxs: readonly BlkMqCtx[]): void {
    this.ctxs.length = 0;
    this.ctxs.push(...ctxs);
    this.nrCtx = ctxs.length;
    const arr = this.#u32(HCTX.CTXS);
    if (arr === 0) return;
    const dv = this.#k.dv;
    for (let i = 0; i < ctxs.length; i++) dv.setUint32(arr + 4 * i, ctxs[i].addr, true);
  }

  /** Sets `hctx->ctx_map.size` (words in use). */
  setCtxMapSize(size: number): void {
    this.#setU32(HCTX.CTX_MAP_SIZE, size);
  }

  /** `hctx->next_cpu`. */
  get nextCpu(): number {
    return this.#k.dv.getInt32(this.addr + HCTX.NEXT_CPU, true);
  }

  set nextCpu(v: number) {
    this.#k.dv.setInt32(this.addr + HCTX.NEXT_CPU, v, true);
  }

  /** `hctx->next_cpu_batch`. */
  get nextCpuBatch(): number {
    return this.#k.dv.getInt32(this.addr + HCTX.NEXT_CPU_BATCH, true);
  }

  set nextCpuBatch(v: number) {
    this.#k.dv.setInt32(this.addr + HCTX.NEXT_CPU_BATCH, v, true);
  }

  /** `hctx->queued`. */
  get queued(): number {
    return getU64(this.#k.dv, this.addr + HCTX.QUEUED);
  }

  set queued(v: number) {
    setU64(this.#k.dv, this.addr + HCTX.QUEUED, v);
  }

  /** `hctx->run`. */
  get run(): number {
    return getU64(this.#k.dv, this.addr + HCTX.RUN);
  }

  set run(v: number) {
    setU64(this.#k.dv, this.addr + HCTX.RUN, v);
  }

  /** `hctx->dispatched[BLK_MQ_MAX_DISPATCH_ORDER]` (a copy). */
  get dispatched(): readonly number[] {
    const dv = this.#k.dv;
    const out: number[] = [];
    for (let i = 0; i < BLK_MQ_MAX_DISPATCH_ORDER; i++) out.push(getU64(dv, this.addr + HCTX.DISPATCHED + 8 * i));
    return out;
  }

  /** Sets `hctx->dispatched[i]`. */
  setDispatched(i: number, v: number): void {
    if (!(Number.isInteger(i) && i >= 0 && i < BLK_MQ_MAX_DISPATCH_ORDER)) throw new RangeError(`dispatched: no bucket ${i}`);
    setU64(this.#k.dv, this.addr + HCTX.DISPATCHED + 8 * i, v);
  }

  /** `hctx->poll_invoked` (v4.4). */
  get pollInvoked(): number {
    return getU64(this.#k.dv, this.addr + HCTX.POLL_INVOKED);
  }

  set pollInvoked(v: number) {
    setU64(this.#k.dv, this.addr + HCTX.POLL_INVOKED, v);
  }

  /** `hctx->poll_success` (v4.4). */
  get pollSuccess(): number {
    return getU64(this.#k.dv, this.addr + HCTX.POLL_SUCCESS);
  }

  set pollSuccess(v: number) {
    setU64(this.#k.dv, this.addr + HCTX.POLL_SUCCESS, v);
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
    return this.#u32(HCTX.STATE) | active;
  }

  /** `atomic_read(&hctx->nr_active)`. */
  get nrActive(): number {
    return this.tagHctx?.nrActive ?? 0;
  }

  /** Whether BLK_MQ_S_STOPPED is set. */
  get stopped(): boolean {
    return (this.#u32(HCTX.STATE) & (1 << BLK_MQ_S_STOPPED)) !== 0;
  }

  /** Sets or clears BLK_MQ_S_STOPPED (`blk_mq_stop_hw_queue()` / `blk_mq_start_hw_queue()` set it; the I/O path runs). */
  setStopped(stopped: boolean): void {
    const st = this.#u32(HCTX.STATE);
    this.#setU32(HCTX.STATE, stopped ? st | (1 << BLK_MQ_S_STOPPED) : st & ~(1 << BLK_MQ_S_STOPPED));
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
    if (th === null) return;
    // The core gets and puts tags on this map itself while it lives (asm/blk_mq_make_request.ts, asm/blk_mq_end.ts).
    this.#setTagsRecord(th.tags.addr, th.tags.hintsAddr, th.addr, map!.rqs);
    th.onDestroy = () => {
      if (this.#tagHctx === th) this.#setTagsRecord(0, 0, 0, 0);
    };
  }

  /** The record's `tags`, `tags_hints`, `tag_hctx` and `tags_rqs`: the map the core may get and put tags on. */
  #setTagsRecord(tags: number, hints: number, tagHctx: number, rqs: number): void {
    this.#setU32(HCTX.TAGS, tags);
    this.#setU32(HCTX.TAGS_HINTS, hints);
    this.#setU32(HCTX.TAG_HCTX, tagHctx);
    this.#setU32(HCTX.TAGS_RQS, rqs);
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
    this.#setTagsRecord(0, 0, 0, 0);
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

/**
 * Mirrors `blk_mq_alloc_bitmap()` (block/blk-mq.c, v4.4): zeroed ctx_map
 * words, 8 bits a word for every possible CPU, in linear memory.
 *
 * @returns the words' address (`blk_mq_init_hctx()` records it in the hctx)
 * @throws {KernelError} ENOMEM
 */
export function blkMqAllocBitmap(k: Kernel): number {
  return new BlockMemory(k.slab, k.kmemleak, "blk_mq_alloc_bitmap").kzalloc(4 * ctxMapWords(k));
}

/** Mirrors `blk_mq_free_bitmap()`: frees {@link blkMqAllocBitmap}'s words (0 is ignored). */
export function blkMqFreeBitmap(k: Kernel, map: number): void {
  new BlockMemory(k.slab, k.kmemleak, "blk_mq_alloc_bitmap").kfree(map);
}

/** Words of a ctx_map: `ceil(nr_cpu_ids / bits_per_word)`. */
export function ctxMapWords(k: Kernel): number {
  return Math.ceil(k.cpus.nrCpuIds / CTX_MAP_BITS_PER_WORD);
}

/** Mirrors `blk_mq_hctx_mark_pending()`: sets bit `ctx->index_hw` of the hctx's ctx_map. */
export function blkMqHctxMarkPending(hctx: BlkMqHwCtx, ctx: BlkMqCtx): void {
  hctx.queue.kernel.core.blk_mq_hctx_mark_pending(hctx.addr, ctx.indexHw);
}

/** Mirrors `blk_mq_hctx_clear_pending()`. */
export function blkMqHctxClearPending(hctx: BlkMqHwCtx, ctx: BlkMqCtx): void {
  hctx.queue.kernel.core.blk_mq_hctx_clear_pending(hctx.addr, ctx.indexHw);
}

/** Mirrors `blk_mq_hctx_has_pending()`: any bit in the first `size` words of ctx_map. */
export function blkMqHctxHasPending(hctx: BlkMqHwCtx): boolean {
  return hctx.queue.kernel.core.blk_mq_hctx_has_pending(hctx.addr) !== 0;
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
    if ((!blkMqHctxHasPending(hctx) && listEmpty(q.kernel, hctx.dispatchHead)) || hctx.stopped) continue;
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
