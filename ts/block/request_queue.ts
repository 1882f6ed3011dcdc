// SPDX-License-Identifier: GPL-2.0-only
/**
 * The request queue (`struct request_queue`, include/linux/blkdev.h, v4.4)
 * and its life outside blk-mq proper (block/blk-core.c, block/blk-settings.c):
 * allocation with `q_usage_counter` in atomic mode and bypass on, the queue
 * flags, limits, `blk_queue_enter()` / `blk_queue_exit()` for every
 * submitter, freezing (which blk-mq owns but every queue uses since
 * 3ef28e83ab), the dying state, `blk_cleanup_queue()` and the final release.
 *
 * blk-mq queues are built on top by ts/block/blk_mq.ts.
 *
 * The fields the request path reads (`id`, `queue_flags`, `flush_flags`,
 * `rq_timeout`, `nr_hw_queues`, `mq_map`, `queue_hw_ctx`, `queue_ctx`,
 * `limits.max_sectors`, `limits.max_segments`, and a mirror of the timeout
 * timer's state) are a record in the core's linear memory
 * (asm/blk_queue.ts); {@link RequestQueue} is its view and keeps the rest.
 *
 * @module
 */

import { ERRNO, KernelError } from "../errors.ts";
import type { Kernel } from "../kernel/kernel.ts";
import { Kobject } from "../kernel/kobject.ts";
import { Mutex } from "../kernel/mutex.ts";
import { PERCPU_REF_INIT_ATOMIC, PercpuRef } from "../kernel/percpu_ref.ts";
import { type Sleepable, WaitQueue } from "../kernel/sched.ts";
import { Spinlock } from "../kernel/spinlock.ts";
import { Timer } from "../kernel/timer.ts";
import type { WorkStruct } from "../kernel/workqueue.ts";
import { BlockMemory } from "./_mem.ts";
import type { BlockLayer } from "./blk_layer.ts";
import { blkMqFreeQueue, blkMqRelease, blkMqWakeWaiters } from "./blk_mq.ts";
import type { BlkMqCtx } from "./ctx.ts";
import { type BlkMqHwCtx, blkMqRunHwQueues } from "./hctx.ts";
import type { BlkMqOps, BlkMqTagSet } from "./tag_set.ts";

// Queue flags: bit numbers of q->queue_flags (include/linux/blkdev.h, v4.4).
export const QUEUE_FLAG_QUEUED = 1;
export const QUEUE_FLAG_STOPPED = 2;
export const QUEUE_FLAG_SYNCFULL = 3;
export const QUEUE_FLAG_ASYNCFULL = 4;
export const QUEUE_FLAG_DYING = 5;
export const QUEUE_FLAG_BYPASS = 6;
export const QUEUE_FLAG_BIDI = 7;
export const QUEUE_FLAG_NOMERGES = 8;
export const QUEUE_FLAG_SAME_COMP = 9;
export const QUEUE_FLAG_FAIL_IO = 10;
export const QUEUE_FLAG_STACKABLE = 11;
export const QUEUE_FLAG_NONROT = 12;
export const QUEUE_FLAG_IO_STAT = 13;
export const QUEUE_FLAG_DISCARD = 14;
export const QUEUE_FLAG_NOXMERGES = 15;
export const QUEUE_FLAG_ADD_RANDOM = 16;
export const QUEUE_FLAG_SECDISCARD = 17;
export const QUEUE_FLAG_SAME_FORCE = 18;
export const QUEUE_FLAG_DEAD = 19;
export const QUEUE_FLAG_INIT_DONE = 20;
export const QUEUE_FLAG_NO_SG_MERGE = 21;
export const QUEUE_FLAG_POLL = 22;

/** Mirrors `QUEUE_FLAG_DEFAULT` (legacy request queues). */
export const QUEUE_FLAG_DEFAULT = (1 << QUEUE_FLAG_IO_STAT) | (1 << QUEUE_FLAG_STACKABLE) |
  (1 << QUEUE_FLAG_SAME_COMP) | (1 << QUEUE_FLAG_ADD_RANDOM);
/** Mirrors `QUEUE_FLAG_MQ_DEFAULT`. */
export const QUEUE_FLAG_MQ_DEFAULT = (1 << QUEUE_FLAG_IO_STAT) | (1 << QUEUE_FLAG_STACKABLE) | (1 << QUEUE_FLAG_SAME_COMP);

const FLAG_NAMES: readonly string[] = [
  "", "QUEUED", "STOPPED", "SYNCFULL", "ASYNCFULL", "DYING", "BYPASS", "BIDI", "NOMERGES", "SAME_COMP",
  "FAIL_IO", "STACKABLE", "NONROT", "IO_STAT", "DISCARD", "NOXMERGES", "ADD_RANDOM", "SECDISCARD",
  "SAME_FORCE", "DEAD", "INIT_DONE", "NO_SG_MERGE", "POLL",
];

/** Mirrors `BLKDEV_MIN_RQ`: the smallest `nr_requests`. */
export const BLKDEV_MIN_RQ = 4;
/** Mirrors `BLKDEV_MAX_RQ`: the default `nr_requests` of a non-mq queue. */
export const BLKDEV_MAX_RQ = 128;
/** Mirrors `BLK_SAFE_MAX_SECTORS`. */
export const BLK_SAFE_MAX_SECTORS = 255;
/** Mirrors `BLK_MAX_SEGMENTS`. */
export const BLK_MAX_SEGMENTS = 128;
/** Mirrors `BLK_MAX_SEGMENT_SIZE`. */
export const BLK_MAX_SEGMENT_SIZE = 65536;
/** Mirrors `VM_MAX_READAHEAD * 1024 / PAGE_CACHE_SIZE`: the default `ra_pages` (128 KiB). */
export const DEFAULT_RA_PAGES = 32;

/** The names of the set flags, e.g. ["BYPASS", "IO_STAT"] (for messages and tests). */
export function queueFlagNames(flags: number): string[] {
  const out: string[] = [];
  for (let b = 0; b < FLAG_NAMES.length; b++) if (flags & (1 << b)) out.push(FLAG_NAMES[b]);
  return out;
}

/** Mirrors `struct queue_limits` (include/linux/blkdev.h, v4.4): the fields the port shows or uses. */
export interface QueueLimits {
  maxHwSectors: number;
  maxDevSectors: number;
  maxSectors: number;
  maxSegments: number;
  maxIntegritySegments: number;
  maxSegmentSize: number;
  segBoundaryMask: number;
  logicalBlockSize: number;
  physicalBlockSize: number;
  ioMin: number;
  ioOpt: number;
  alignmentOffset: number;
  discardGranularity: number;
  maxDiscardSectors: number;
  maxHwDiscardSectors: number;
  discardZeroesData: boolean;
  maxWriteSameSectors: number;
  cluster: boolean;
}

/** `sizeof(struct request_queue)` in the core (its request-path part, asm/blk_queue.ts); a test checks it. */
export const REQUEST_QUEUE_SIZE = 64;

/** Field offsets of the queue record (asm/blk_queue.ts); all u32 but `TIMEOUT_EXPIRES` (f64 jiffies). */
export const Q = {
  ID: 0,
  QUEUE_FLAGS: 4,
  FLUSH_FLAGS: 8,
  RQ_TIMEOUT: 12,
  NR_HW_QUEUES: 16,
  /** The length of `mq_map` and of the ctx block. */
  NR_CPU_IDS: 20,
  /** `q->mq_map`: the address of nr_cpu_ids u32 hctx indexes. */
  MQ_MAP: 24,
  /** `q->queue_hw_ctx`: the address of nr_hw_queues hctx record addresses. */
  QUEUE_HW_CTX: 28,
  /** `q->queue_ctx`: the address of the nr_cpu_ids ctx records. */
  QUEUE_CTX: 32,
  /** `q->limits.max_sectors`. */
  MAX_SECTORS: 36,
  /** `q->limits.max_segments`. */
  MAX_SEGMENTS: 40,
  /** `timer_pending(&q->timeout)`, 1 or 0, kept by the timer base. */
  TIMEOUT_PENDING: 44,
  /** `q->timeout.expires`, kept by the timer base. */
  TIMEOUT_EXPIRES: 48,
  /** The added disk's part0 statistics record (`rq->rq_disk->part0`), 0 without one. */
  PART0: 56,
  /** `&q->q_usage_counter`: its percpu_ref record (asm/percpu_ref.ts), 0 once exited. */
  Q_USAGE_COUNTER: 60,
} as const;

/** `v`, checked to fit a u32 field of the queue record. @throws {RangeError} */
function u32(name: string, v: number): number {
  if (!(Number.isInteger(v) && v >= 0 && v <= 0xffffffff)) throw new RangeError(`${name}: ${v} is not an unsigned int`);
  return v;
}

/**
 * `q->limits`: `maxSectors` and `maxSegments` (the limits the request path
 * reads) are the queue record's, the rest plain fields.
 */
class QueueRecordLimits implements QueueLimits {
  maxHwSectors = 0;
  maxDevSectors = 0;
  maxIntegritySegments = 0;
  maxSegmentSize = 0;
  segBoundaryMask = 0;
  logicalBlockSize = 0;
  physicalBlockSize = 0;
  ioMin = 0;
  ioOpt = 0;
  alignmentOffset = 0;
  discardGranularity = 0;
  maxDiscardSectors = 0;
  maxHwDiscardSectors = 0;
  discardZeroesData = false;
  maxWriteSameSectors = 0;
  cluster = false;
  readonly #q: RequestQueue;

  constructor(q: RequestQueue) {
    this.#q = q;
  }

  /** `q->limits.max_sectors`. */
  get maxSectors(): number {
    return this.#q.recordU32(Q.MAX_SECTORS);
  }

  set maxSectors(v: number) {
    this.#q.setRecordU32(Q.MAX_SECTORS, u32("max_sectors", v));
  }

  /** `q->limits.max_segments`. */
  get maxSegments(): number {
    return this.#q.recordU32(Q.MAX_SEGMENTS);
  }

  set maxSegments(v: number) {
    this.#q.setRecordU32(Q.MAX_SEGMENTS, u32("max_segments", v));
  }
}

/** The zeroed limits of a fresh `kzalloc`ed queue. */
function zeroLimits(): QueueLimits {
  return {
    maxHwSectors: 0,
    maxDevSectors: 0,
    maxSectors: 0,
    maxSegments: 0,
    maxIntegritySegments: 0,
    maxSegmentSize: 0,
    segBoundaryMask: 0,
    logicalBlockSize: 0,
    physicalBlockSize: 0,
    ioMin: 0,
    ioOpt: 0,
    alignmentOffset: 0,
    discardGranularity: 0,
    maxDiscardSectors: 0,
    maxHwDiscardSectors: 0,
    discardZeroesData: false,
    maxWriteSameSectors: 0,
    cluster: false,
  };
}

/** Mirrors `blk_set_default_limits()` (block/blk-settings.c, v4.4). */
export function blkSetDefaultLimits(lim: QueueLimits): void {
  Object.assign(lim, zeroLimits(), {
    maxSegments: BLK_MAX_SEGMENTS,
    segBoundaryMask: 0xffffffff,
    maxSegmentSize: BLK_MAX_SEGMENT_SIZE,
    maxSectors: BLK_SAFE_MAX_SECTORS,
    maxHwSectors: BLK_SAFE_MAX_SECTORS,
    logicalBlockSize: 512,
    physicalBlockSize: 512,
    ioMin: 512,
    cluster: true,
  });
}

/** Mirrors `make_request_fn`: the bio entry point of a queue (the I/O path defines what it does). */
export type MakeRequestFn = (q: RequestQueue, bio: number) => unknown;

/**
 * Mirrors `struct request_queue` (include/linux/blkdev.h, v4.4): a view of
 * the record at {@link RequestQueue.addr} for the fields the request path
 * reads. Create one with {@link blkAllocQueueNode} (bio-based drivers) or
 * `blkMqInitQueue()` (ts/block/blk_mq.ts).
 *
 * Once the queue is freed (`blk_free_queue_rcu`) the record is gone: a stale
 * view reads, and writes, a copy of its last state, as it does its
 * TypeScript fields.
 */
export class RequestQueue {
  readonly kernel: Kernel;
  readonly block: BlockLayer;
  /** `q->id` (from `blk_queue_ida`): the record's, kept here as well since it never changes (the hot path reads it). */
  readonly id: number;
  /** The record's address; 0 once freed. */
  #addr: number;
  /** The record's last state, after the free. */
  #last: DataView | null = null;
  /** `q->bypass_depth`. */
  bypassDepth = 0;
  /** `q->nr_requests`. */
  nrRequests = 0;
  /** `q->limits` (`maxSectors` and `maxSegments` in the record). */
  readonly limits: QueueLimits = new QueueRecordLimits(this);
  /** `q->backing_dev_info.ra_pages`. */
  raPages = DEFAULT_RA_PAGES;
  /** `q->sysfs_lock`. */
  readonly sysfsLock: Mutex;
  /** `q->__queue_lock` (`q->queue_lock` points at it for blk-mq). */
  readonly queueLock: Spinlock;
  /** `q->mq_freeze_wq`. */
  readonly mqFreezeWq: WaitQueue;
  /** `q->mq_freeze_depth`. */
  mqFreezeDepth = 0;
  /** `q->q_usage_counter`. */
  readonly qUsageCounter: PercpuRef;
  /** `q->kobj`: `queue/` under the disk; its release frees the queue. */
  readonly kobj: Kobject<RequestQueue>;
  /** `q->mq_kobj`: `mq/` under the disk. */
  readonly mqKobj: Kobject<RequestQueue>;
  /** `q->mq_sysfs_init_done` (under all_q_mutex, 4593fdbe7a). */
  mqSysfsInitDone = false;
  /** `q->timeout`: the blk-mq request timer (`blk_mq_rq_timer`). */
  readonly timeout: Timer;
  /** `q->make_request_fn`. */
  makeRequestFn: MakeRequestFn | null = null;
  /** `q->queuedata`: the driver's. */
  queuedata: unknown = null;
  /** `q->mq_ops`; null for a bio-based queue. */
  mqOps: BlkMqOps | null = null;
  /** `q->tag_set`. */
  tagSet: BlkMqTagSet | null = null;
  /** `q->queue_hw_ctx[]` (the record's `queue_hw_ctx` holds their record addresses). */
  queueHwCtx: BlkMqHwCtx[] = [];
  /** `q->queue_ctx`: one ctx per possible CPU (the record's `queue_ctx` is their block). */
  queueCtx: BlkMqCtx[] = [];
  /** `q->nr_queues` (nr_cpu_ids for blk-mq). */
  nrQueues = 0;
  /** `q->requeue_work`. */
  requeueWork: WorkStruct | null = null;
  /** `q->requeue_list`: request record addresses. */
  readonly requeueList: number[] = [];
  /**
   * The I/O path's `__blk_mq_run_hw_queue()` body (dispatch). Null until an
   * I/O path installs it: then running a hardware queue does nothing.
   */
  dispatchHook: ((hctx: BlkMqHwCtx) => void) | null = null;

  /** @internal use {@link blkAllocQueueNode}; `addr` is the zeroed record */
  constructor(block: BlockLayer, id: number, addr: number) {
    const k = block.kernel;
    this.kernel = k;
    this.block = block;
    this.id = id;
    this.#addr = addr;
    k.core.blk_queue_record_init(addr, id, k.cpus.nrCpuIds);
    this.sysfsLock = new Mutex(k.sched, "&q->sysfs_lock");
    this.queueLock = new Spinlock(k.sched, "&(&q->__queue_lock)->rlock");
    this.mqFreezeWq = new WaitQueue(k.sched, "&q->mq_freeze_wq");
    try {
      this.qUsageCounter = new PercpuRef(
        { sched: k.sched, rcu: k.rcu, slab: k.slab, kmemleak: k.kmemleak, switchWaitq: k.percpuRefSwitchWaitq },
        () => this.mqFreezeWq.wakeUpAll(),
        PERCPU_REF_INIT_ATOMIC,
        { name: "blk_queue_usage_counter_release", site: "blk_alloc_queue_node" },
      );
    } catch (e) {
      block.freeQueueId(id); // blk_alloc_queue_node()'s fail_id: percpu_ref_init() failed (-ENOMEM)
      throw e;
    }
    // The core takes and drops the request path's references itself (asm/blk_mq_make_request.ts).
    this.setRecordU32(Q.Q_USAGE_COUNTER, this.qUsageCounter.addr);
    this.kobj = new Kobject<RequestQueue>(k.kobjects, { container: this, site: "blk_alloc_queue_node" });
    this.mqKobj = new Kobject<RequestQueue>(k.kobjects, { container: this, site: "blk_mq_sysfs_init" });
    this.timeout = new Timer(() => {}, "blk_rq_timed_out_timer");
    this.timeout.onChange = (t) => this.#mirrorTimer(t);
  }

  /** The record's address in linear memory; 0 once the queue is freed. */
  get addr(): number {
    return this.#addr;
  }

  /** @internal the u32 at `off` of the record (its copy once freed) */
  recordU32(off: number): number {
    const last = this.#last;
    return last === null ? this.kernel.dv.getUint32(this.#addr + off, true) : last.getUint32(off, true);
  }

  /** @internal sets the u32 at `off` of the record (its copy once freed) */
  setRecordU32(off: number, v: number): void {
    const last = this.#last;
    if (last === null) this.kernel.dv.setUint32(this.#addr + off, v, true);
    else last.setUint32(off, v, true);
  }

  /** The timer base's hook on `q->timeout`: the record's `timeout_pending` and `timeout_expires` follow it. */
  #mirrorTimer(t: Timer): void {
    const last = this.#last;
    const dv = last ?? this.kernel.dv;
    const at = last === null ? this.#addr : 0;
    dv.setUint32(at + Q.TIMEOUT_PENDING, t.pending ? 1 : 0, true);
    dv.setFloat64(at + Q.TIMEOUT_EXPIRES, t.expires, true);
  }

  /** `q->queue_flags` (bits numbered by QUEUE_FLAG_*). */
  get queueFlags(): number {
    return this.recordU32(Q.QUEUE_FLAGS);
  }

  set queueFlags(v: number) {
    if (!(Number.isInteger(v) && v >= -0x80000000 && v <= 0xffffffff)) throw new RangeError(`queue_flags: ${v} is not a flag word`);
    this.setRecordU32(Q.QUEUE_FLAGS, v >>> 0);
  }

  /** `q->flush_flags`: REQ_FLUSH / REQ_FUA the device honours (`blk_queue_flush()`, ts/block/blk_flush.ts). */
  get flushFlags(): number {
    return this.recordU32(Q.FLUSH_FLAGS);
  }

  set flushFlags(v: number) {
    this.setRecordU32(Q.FLUSH_FLAGS, u32("flush_flags", v));
  }

  /** `q->rq_timeout` in jiffies. */
  get rqTimeout(): number {
    return this.recordU32(Q.RQ_TIMEOUT);
  }

  set rqTimeout(v: number) {
    this.setRecordU32(Q.RQ_TIMEOUT, u32("rq_timeout", v));
  }

  /** `q->nr_hw_queues`. */
  get nrHwQueues(): number {
    return this.recordU32(Q.NR_HW_QUEUES);
  }

  set nrHwQueues(v: number) {
    this.setRecordU32(Q.NR_HW_QUEUES, u32("nr_hw_queues", v));
  }

  /** The address of `q->mq_map` (nr_cpu_ids u32 hctx indexes), 0 without one. */
  get mqMapAddr(): number {
    return this.recordU32(Q.MQ_MAP);
  }

  set mqMapAddr(v: number) {
    this.setRecordU32(Q.MQ_MAP, u32("mq_map", v));
  }

  /**
   * `q->mq_map[cpu]`, the hctx index of each CPU: a view of the map in
   * linear memory (writes go to it), or null without one. Made afresh on
   * each read; do not keep it across anything that can allocate (memory
   * growth detaches it).
   */
  get mqMap(): Uint32Array | null {
    const map = this.mqMapAddr;
    return map === 0 ? null : new Uint32Array(this.kernel.dv.buffer, map, this.recordU32(Q.NR_CPU_IDS));
  }

  /** The address of `q->queue_hw_ctx` (nr_hw_queues hctx record addresses), 0 without one. */
  get queueHwCtxAddr(): number {
    return this.recordU32(Q.QUEUE_HW_CTX);
  }

  set queueHwCtxAddr(v: number) {
    this.setRecordU32(Q.QUEUE_HW_CTX, u32("queue_hw_ctx", v));
  }

  /** The address of `q->queue_ctx` (the block of nr_cpu_ids ctx records), 0 without one. */
  get queueCtxAddr(): number {
    return this.recordU32(Q.QUEUE_CTX);
  }

  set queueCtxAddr(v: number) {
    this.setRecordU32(Q.QUEUE_CTX, u32("queue_ctx", v));
  }

  /**
   * The address of the part0 statistics record of the disk `add_disk()`
   * gave this queue (what the request path accounts to), 0 without one.
   */
  get part0Addr(): number {
    return this.recordU32(Q.PART0);
  }

  set part0Addr(v: number) {
    this.setRecordU32(Q.PART0, u32("part0", v));
  }

  /** The record's mirror of `timer_pending(&q->timeout)`. */
  get timeoutPending(): boolean {
    return this.recordU32(Q.TIMEOUT_PENDING) !== 0;
  }

  /** The record's mirror of `q->timeout.expires` (jiffies). */
  get timeoutExpires(): number {
    const last = this.#last;
    return last === null ? this.kernel.dv.getFloat64(this.#addr + Q.TIMEOUT_EXPIRES, true) : last.getFloat64(Q.TIMEOUT_EXPIRES, true);
  }

  /** `test_bit(flag, &q->queue_flags)`. */
  testFlag(flag: number): boolean {
    return (this.recordU32(Q.QUEUE_FLAGS) & (1 << flag)) !== 0;
  }

  /** `queue_flag_set()`. */
  setFlag(flag: number): void {
    this.setRecordU32(Q.QUEUE_FLAGS, (this.recordU32(Q.QUEUE_FLAGS) | (1 << flag)) >>> 0);
  }

  /** `queue_flag_clear()`. */
  clearFlag(flag: number): void {
    this.setRecordU32(Q.QUEUE_FLAGS, (this.recordU32(Q.QUEUE_FLAGS) & ~(1 << flag)) >>> 0);
  }

  /** Mirrors `blk_queue_dying()`. */
  get dying(): boolean {
    return this.testFlag(QUEUE_FLAG_DYING);
  }

  /** Mirrors `blk_queue_dead()`. */
  get dead(): boolean {
    return this.testFlag(QUEUE_FLAG_DEAD);
  }

  /** Mirrors `blk_queue_init_done()`: the queue has been registered once. */
  get initDone(): boolean {
    return this.testFlag(QUEUE_FLAG_INIT_DONE);
  }

  /** Mirrors `blk_queue_bypass()`. */
  get bypass(): boolean {
    return this.testFlag(QUEUE_FLAG_BYPASS);
  }

  /** Mirrors `blk_queue_nomerges()`. */
  get nomerges(): boolean {
    return this.testFlag(QUEUE_FLAG_NOMERGES);
  }

  /** `q->mq_ops != NULL`. */
  get isMq(): boolean {
    return this.mqOps !== null;
  }

  /** The queue's struct has been freed (after `blk_release_queue()` and its grace period). */
  get freed(): boolean {
    return this.#last !== null;
  }

  /**
   * @internal The free of `blk_free_queue_rcu()`: the record goes back to
   * the slab, the view keeps a copy of its last state.
   */
  freeRecord(): void {
    if (this.#last !== null) throw new RangeError(`blk_free_queue_rcu: queue ${this.id} was already freed`);
    const k = this.kernel;
    const last = new DataView(k.u8.slice(this.#addr, this.#addr + REQUEST_QUEUE_SIZE).buffer);
    new BlockMemory(k.slab, k.kmemleak, "blk_alloc_queue_node").kfree(this.#addr);
    this.#last = last;
    this.#addr = 0;
  }
}

/**
 * Mirrors `blk_alloc_queue_node()` (block/blk-core.c, v4.4): a zeroed queue
 * (its record a `kzalloc_node()` in the core's slab) in bypass mode
 * (`bypass_depth` 1) whose `q_usage_counter` starts in atomic mode (so
 * tearing down a queue that never registers costs no RCU grace period,
 * 17497acbdc), with its kobject initialized.
 *
 * @param _node the NUMA node (the port has one)
 * @throws {KernelError} ENOMEM when the queue's record or `q_usage_counter`'s (`percpu_ref_init()`) cannot be allocated (v4.4 returns NULL; its callers, ENOMEM)
 */
export function blkAllocQueueNode(block: BlockLayer, _node = -1): RequestQueue {
  const k = block.kernel;
  const mem = new BlockMemory(k.slab, k.kmemleak, "blk_alloc_queue_node");
  const addr = mem.kzalloc(REQUEST_QUEUE_SIZE);
  let q: RequestQueue;
  try {
    q = new RequestQueue(block, block.allocQueueId(), addr);
  } catch (e) {
    mem.kfree(addr); // fail_q: kmem_cache_free()
    throw e;
  }
  block.registerQueue(q);
  q.bypassDepth = 1;
  q.setFlag(QUEUE_FLAG_BYPASS);
  q.kobj.init({ release: () => blkReleaseQueue(q) });
  return q;
}

/**
 * Mirrors `blk_queue_make_request()` (block/blk-settings.c, v4.4): the
 * queue's bio entry point, `nr_requests = BLKDEV_MAX_RQ` and the default limits.
 */
export function blkQueueMakeRequest(q: RequestQueue, fn: MakeRequestFn | null): void {
  q.nrRequests = BLKDEV_MAX_RQ;
  q.makeRequestFn = fn;
  blkSetDefaultLimits(q.limits);
}

/** Mirrors `blk_queue_logical_block_size()` (an `unsigned short` in v4.4). */
export function blkQueueLogicalBlockSize(q: RequestQueue, size: number): void {
  const l = q.limits;
  l.logicalBlockSize = size & 0xffff;
  if (l.physicalBlockSize < l.logicalBlockSize) l.physicalBlockSize = l.logicalBlockSize;
  if (l.ioMin < l.physicalBlockSize) l.ioMin = l.physicalBlockSize;
}

/** Mirrors `blk_queue_physical_block_size()`. */
export function blkQueuePhysicalBlockSize(q: RequestQueue, size: number): void {
  const l = q.limits;
  l.physicalBlockSize = size >>> 0;
  if (l.physicalBlockSize < l.logicalBlockSize) l.physicalBlockSize = l.logicalBlockSize;
  if (l.ioMin < l.physicalBlockSize) l.ioMin = l.physicalBlockSize;
}

/** Mirrors `blk_queue_rq_timeout()`. */
export function blkQueueRqTimeout(q: RequestQueue, timeout: number): void {
  q.rqTimeout = timeout;
}

/** Mirrors `blk_queue_bypass_end()`: the last end clears QUEUE_FLAG_BYPASS. */
export function blkQueueBypassEnd(q: RequestQueue): void {
  q.queueLock.lockIrq("blk_queue_bypass_end");
  if (--q.bypassDepth === 0) q.clearFlag(QUEUE_FLAG_BYPASS);
  if (q.bypassDepth < 0) q.kernel.log.warnOnce("block/blk-core.c:blk_queue_bypass_end", "WARN_ON_ONCE(q->bypass_depth < 0)");
  q.queueLock.unlockIrq("blk_queue_bypass_end");
}

/** Options of {@link blkQueueEnter}. */
export interface BlkQueueEnterOptions {
  /** The caller cannot block (a gfp without `__GFP_DIRECT_RECLAIM`): fail with EBUSY instead of waiting. */
  nowait?: boolean;
}

/**
 * Mirrors `blk_queue_enter()` (block/blk-core.c, v4.4): takes a live
 * `q_usage_counter` reference, or, while the queue is frozen, waits
 * (interruptibly: S state) until it is unfrozen or dying and retries.
 * Every submitter enters, bio-based queues included (3ef28e83ab).
 * The port has no signals, so the wait never fails with -ERESTARTSYS.
 *
 * @throws {KernelError} EBUSY when frozen and `nowait`; ENODEV once dying
 */
export function* blkQueueEnter(q: RequestQueue, opts: BlkQueueEnterOptions = {}): Sleepable {
  for (;;) {
    if (q.qUsageCounter.trygetLive()) return;
    if (opts.nowait === true) throw new KernelError("EBUSY", "blk_queue_enter");
    yield* q.mqFreezeWq.waitEventInterruptible(() => q.mqFreezeDepth === 0 || q.dying, "blk_queue_enter");
    if (q.dying) throw new KernelError("ENODEV", "blk_queue_enter");
  }
}

/** Mirrors `blk_queue_exit()`: drops the reference {@link blkQueueEnter} took. */
export function blkQueueExit(q: RequestQueue): void {
  q.qUsageCounter.put();
}

/** Mirrors `blk_queue_enter_live()`: a reference on a queue the caller already holds live. */
export function blkQueueEnterLive(q: RequestQueue): void {
  q.qUsageCounter.get();
}

/**
 * Mirrors `blk_mq_freeze_queue_start()` (v4.4): the first freeze kills
 * `q_usage_counter` (one RCU grace period to drain in percpu mode, none in
 * atomic mode) and runs the hardware queues. Freezes nest.
 */
export function blkMqFreezeQueueStart(q: RequestQueue): void {
  if (++q.mqFreezeDepth === 1) {
    q.qUsageCounter.kill();
    blkMqRunHwQueues(q, false);
  }
}

/** Mirrors `blk_mq_freeze_queue_wait()`: sleeps until `q_usage_counter` is zero. */
export function* blkMqFreezeQueueWait(q: RequestQueue): Sleepable {
  yield* q.mqFreezeWq.waitEvent(() => q.qUsageCounter.isZero(), "blk_mq_freeze_queue_wait");
}

/** Mirrors `blk_freeze_queue()` / `blk_mq_freeze_queue()`: start, then wait. */
export function* blkMqFreezeQueue(q: RequestQueue): Sleepable {
  blkMqFreezeQueueStart(q);
  yield* blkMqFreezeQueueWait(q);
}

/**
 * Mirrors `blk_mq_unfreeze_queue()` (v4.4): the last unfreeze reinits
 * `q_usage_counter` (back to percpu mode once registered) and wakes the
 * waiters. Unfreezing an unfrozen queue WARNs once.
 */
export function* blkMqUnfreezeQueue(q: RequestQueue): Sleepable {
  const depth = --q.mqFreezeDepth;
  if (depth < 0) {
    q.kernel.log.warnOnce("block/blk-mq.c:blk_mq_unfreeze_queue", "WARN_ON_ONCE(freeze_depth < 0)");
    return;
  }
  if (depth === 0) {
    yield* q.qUsageCounter.reinit();
    q.mqFreezeWq.wakeUpAll();
  }
}

/**
 * Mirrors `blk_set_queue_dying()` (block/blk-core.c, v4.4): sets DYING; a
 * blk-mq queue also wakes every tag waiter and `mq_freeze_wq`.
 */
export function blkSetQueueDying(q: RequestQueue): void {
  q.setFlag(QUEUE_FLAG_DYING);
  if (q.isMq) blkMqWakeWaiters(q);
}

/** Mirrors `blk_get_queue()`: a reference on `q->kobj`, refused once dying. */
export function blkGetQueue(q: RequestQueue): boolean {
  if (q.dying) return false;
  q.kobj.get();
  return true;
}

/** Mirrors `blk_put_queue()`. */
export function blkPutQueue(q: RequestQueue): void {
  q.kobj.put();
}

/**
 * Mirrors `blk_sync_queue()` (v4.4): stops the timeout timer and waits out
 * the hardware queues' run and delay works.
 */
export function* blkSyncQueue(q: RequestQueue): Sleepable {
  q.kernel.timers.delTimerSync(q.timeout);
  const wqs = q.kernel.workqueues;
  for (const hctx of q.queueHwCtx) {
    yield* wqs.cancelDelayedWorkSync(hctx.runWork);
    yield* wqs.cancelDelayedWorkSync(hctx.delayWork);
  }
}

/**
 * Mirrors `blk_cleanup_queue()` (block/blk-core.c, v4.4), in its order:
 * under `sysfs_lock` mark the queue dying (waking waiters), bypass, NOMERGES
 * and NOXMERGES; freeze and drain every `q_usage_counter` reference; mark it
 * DEAD; stop the timer and works; `blk_mq_free_queue()`; `percpu_ref_exit()`;
 * put the queue (the last put frees it, in `blk_release_queue()`).
 */
export function* blkCleanupQueue(q: RequestQueue): Sleepable {
  yield* q.sysfsLock.lock("blk_cleanup_queue");
  blkSetQueueDying(q);
  q.queueLock.lockIrq("blk_cleanup_queue");
  q.bypassDepth++;
  q.setFlag(QUEUE_FLAG_BYPASS);
  q.setFlag(QUEUE_FLAG_NOMERGES);
  q.setFlag(QUEUE_FLAG_NOXMERGES);
  q.setFlag(QUEUE_FLAG_DYING);
  q.queueLock.unlockIrq("blk_cleanup_queue");
  q.sysfsLock.unlock("blk_cleanup_queue");

  yield* blkMqFreezeQueue(q);
  q.queueLock.lockIrq("blk_cleanup_queue");
  q.setFlag(QUEUE_FLAG_DEAD);
  q.queueLock.unlockIrq("blk_cleanup_queue");

  yield* blkSyncQueue(q);
  if (q.isMq) yield* blkMqFreeQueue(q);
  q.setRecordU32(Q.Q_USAGE_COUNTER, 0); // before the record goes: the core no longer reaches it
  q.qUsageCounter.exit();
  blkPutQueue(q);
}

/**
 * Mirrors `blk_release_queue()` (block/blk-sysfs.c, v4.4), the release of
 * `q->kobj`: `blk_mq_release()` for blk-mq queues, the id back to the ida,
 * and the struct freed after an RCU grace period (`blk_free_queue_rcu`).
 */
export function blkReleaseQueue(q: RequestQueue): void {
  if (q.isMq) blkMqRelease(q);
  q.block.freeQueueId(q.id);
  q.kernel.rcu.callRcu(() => q.freeRecord()); // blk_free_queue_rcu
}

/**
 * The frame of every queue and blk-mq sysfs handler (`queue_attr_show()`,
 * `queue_attr_store()`, `blk_mq_sysfs_show()`, `blk_mq_hw_sysfs_show()`,
 * v4.4): `fn` under `q->sysfs_lock`, -ENOENT instead once the queue is dying.
 */
export function* blkQueueSysfsLocked(q: RequestQueue, fn: () => number): Sleepable<number> {
  yield* q.sysfsLock.lock("queue_attr_show");
  try {
    return q.dying ? -ERRNO.ENOENT : fn();
  } finally {
    q.sysfsLock.unlock("queue_attr_show");
  }
}

/**
 * The flag part of `queue_rq_affinity_store()` (block/blk-sysfs.c, v4.4):
 * 2 sets SAME_COMP and SAME_FORCE, 1 sets SAME_COMP only, 0 clears both,
 * anything else changes nothing.
 */
export function blkQueueSetRqAffinity(q: RequestQueue, val: number): void {
  q.queueLock.lockIrq("queue_rq_affinity_store");
  if (val === 2) {
    q.setFlag(QUEUE_FLAG_SAME_COMP);
    q.setFlag(QUEUE_FLAG_SAME_FORCE);
  } else if (val === 1) {
    q.setFlag(QUEUE_FLAG_SAME_COMP);
    q.clearFlag(QUEUE_FLAG_SAME_FORCE);
  } else if (val === 0) {
    q.clearFlag(QUEUE_FLAG_SAME_COMP);
    q.clearFlag(QUEUE_FLAG_SAME_FORCE);
  }
  q.queueLock.unlockIrq("queue_rq_affinity_store");
}

/**
 * The flag part of `queue_nomerges_store()` (v4.4): clears NOMERGES and
 * NOXMERGES, then 2 sets NOMERGES and any other non-zero value NOXMERGES.
 */
export function blkQueueSetNomerges(q: RequestQueue, nm: number): void {
  q.queueLock.lockIrq("queue_nomerges_store");
  q.clearFlag(QUEUE_FLAG_NOMERGES);
  q.clearFlag(QUEUE_FLAG_NOXMERGES);
  if (nm === 2) q.setFlag(QUEUE_FLAG_NOMERGES);
  else if (nm !== 0) q.setFlag(QUEUE_FLAG_NOXMERGES);
  q.queueLock.unlockIrq("queue_nomerges_store");
}

/** `queue_flag_set()` / `queue_flag_clear()` under `queue_lock`, as the QUEUE_SYSFS_BIT_FNS stores do. */
export function blkQueueFlagAssign(q: RequestQueue, flag: number, on: boolean): void {
  q.queueLock.lockIrq("queue_store_bit");
  if (on) q.setFlag(flag);
  else q.clearFlag(flag);
  q.queueLock.unlockIrq("queue_store_bit");
}
