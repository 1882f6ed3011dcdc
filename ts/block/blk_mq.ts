// SPDX-License-Identifier: GPL-2.0-only
/**
 * blk-mq queue construction and teardown (block/blk-mq.c, v4.4): the ten
 * steps of `blk_mq_init_allocated_queue()`, hardware queue init/exit, the
 * CPU → hctx mapping and ctx attachment (`blk_mq_map_swqueue()`, which frees
 * the request map of an hctx that lost its CPUs and rebuilds it when it gets
 * some back), `blk_mq_free_queue()`, `blk_mq_release()` (where the memory
 * really goes) and `nr_requests` updates.
 *
 * @module
 */

import { KernelError } from "../errors.ts";
import type { ReadonlyCpuMask } from "../kernel/cpu.ts";
import type { Sleepable } from "../kernel/sched.ts";
import { WorkStruct } from "../kernel/workqueue.ts";
import { BlockMemory } from "./_mem.ts";
import { mapSwqueue, updateQueueMap } from "./cpumap.ts";
import { BLK_MQ_CTX_SIZE, BlkMqCtx } from "./ctx.ts";
import {
  BLK_MQ_CPU_WORK_BATCH,
  BLK_MQ_F_SG_MERGE,
  BLK_MQ_F_TAG_SHARED,
  BLK_MQ_HW_CTX_SIZE,
  blkMqAllocBitmap,
  CTX_MAP_BITS_PER_WORD,
  ctxMapWords,
  HCTX,
  blkMqFreeBitmap,
  BlkMqHwCtx,
  blkMqHwQueueMapped,
  hctxLiveTags,
  NUMA_NO_NODE,
} from "./hctx.ts";
import { blkMqHctxNotify } from "./hotplug.ts";
import {
  blkAllocQueueNode,
  blkCleanupQueue,
  blkQueueMakeRequest,
  blkQueueRqTimeout,
  QUEUE_FLAG_MQ_DEFAULT,
  QUEUE_FLAG_NO_SG_MERGE,
  type RequestQueue,
} from "./request_queue.ts";
import { requestRecordSize } from "./request_record.ts";
import { blkMqRqTimer } from "./blk_timeout.ts";
import { blkMqRequeueWork } from "./blk_mq_requeue.ts";
import { BlkFlushQueue } from "./blk_flush.ts";
import { blkMqAddQueueTagSet, blkMqDelQueueTagSet, blkMqFreeRqMap, blkMqInitRqMap, type BlkMqTagSet } from "./tag_set.ts";

/** The default request timeout: 30 s. */
const DEFAULT_TIMEOUT_SECS = 30;

/**
 * Mirrors `blk_mq_init_queue()` (v4.4): `blk_alloc_queue_node()` then
 * {@link blkMqInitAllocatedQueue}; on failure the half-built queue is
 * cleaned up and ENOMEM thrown. With `queuedata` it is v5.7's
 * `blk_mq_init_queue_data()`: `q->queuedata` is set before the hctxs are
 * initialized (null_blk's shared tag set needs it in `init_hctx`).
 *
 * @throws {KernelError} ENOMEM (also when a driver's `init_hctx` or the flush request's `init_request` fails)
 */
export function* blkMqInitQueue(set: BlkMqTagSet, queuedata: unknown = null): Sleepable<RequestQueue> {
  const q = blkAllocQueueNode(set.block, set.numaNode);
  q.queuedata = queuedata;
  try {
    return yield* blkMqInitAllocatedQueue(set, q);
  } catch (e) {
    if (!(e instanceof KernelError)) throw e;
    yield* blkCleanupQueue(q);
    throw e;
  }
}

/**
 * Mirrors `blk_mq_init_allocated_queue()` (block/blk-mq.c, v4.4), the ten
 * steps of the reference (§6.1): per-CPU ctxs, the hctx array and the CPU
 * map; each hctx; the timeout timer (30 s unless `set->timeout`); the queue
 * fields and QUEUE_FLAG_MQ_DEFAULT (+ NO_SG_MERGE without
 * BLK_MQ_F_SG_MERGE); the requeue work; `make_request_fn`; `nr_requests =
 * queue_depth`; the ctxs; every hctx through `blk_mq_init_hctx()`; and,
 * under `get_online_cpus()` and `all_q_mutex`, the queue joins `all_q_list`
 * and the tag set, and its ctxs are mapped to the online CPUs.
 *
 * On failure it undoes its own work and leaves `q` a plain queue. v4.4
 * left `q->mq_ops` set, so the caller's `blk_cleanup_queue()` then walked
 * freed hctxs, and leaked the `ctxs[]` arrays of the hctxs initialized
 * before the failure; the port does neither.
 *
 * @throws {KernelError} ENOMEM when a hardware queue cannot be initialized
 */
export function* blkMqInitAllocatedQueue(set: BlkMqTagSet, q: RequestQueue): Sleepable<RequestQueue> {
  const k = q.kernel;
  const nr = k.cpus.nrCpuIds;
  // 1. ctx = alloc_percpu() (the ctx records, one block), hctxs = kmalloc_node() (the hctx
  //    record addresses), map = blk_mq_make_queue_map(set); each failure is ENOMEM.
  const mem = new BlockMemory(k.slab, k.kmemleak, "blk_mq_init_allocated_queue");
  const ctxBlock = mem.kzalloc(BLK_MQ_CTX_SIZE * nr);
  const ctxs: BlkMqCtx[] = [];
  const hctxs: BlkMqHwCtx[] = [];
  let hctxArray = 0;
  let map = 0;
  try {
    hctxArray = mem.kzalloc(4 * set.nrHwQueues);
    map = blkMqMakeQueueMap(q, set.nrHwQueues, k.cpus.onlineMask);
  } catch (e) {
    undoAllocatedQueue(q, hctxs, ctxBlock, hctxArray, map);
    throw e;
  }
  // 2. the hctxs.
  for (let i = 0; i < set.nrHwQueues; i++) {
    let rec: number;
    try {
      rec = mem.kzalloc(BLK_MQ_HW_CTX_SIZE);
    } catch (e) {
      undoAllocatedQueue(q, hctxs, ctxBlock, hctxArray, map);
      throw e;
    }
    k.dv.setUint32(hctxArray + 4 * i, rec, true);
    const hctx = new BlkMqHwCtx(q, i, blkMqHctxNotify, rec);
    hctx.numaNode = NUMA_NO_NODE;
    hctxs.push(hctx);
  }
  // 3. the timeout timer.
  q.timeout.fn = () => blkMqRqTimer(q);
  blkQueueRqTimeout(q, set.timeout !== 0 ? set.timeout : DEFAULT_TIMEOUT_SECS * k.clock.HZ);
  // 4. the queue's blk-mq fields.
  q.nrQueues = nr;
  q.nrHwQueues = set.nrHwQueues;
  q.mqMapAddr = map;
  q.queueCtx = ctxs;
  q.queueCtxAddr = ctxBlock;
  q.queueHwCtx = hctxs;
  q.queueHwCtxAddr = hctxArray;
  q.mqOps = set.ops;
  q.queueFlags |= QUEUE_FLAG_MQ_DEFAULT;
  if (!(set.flags & BLK_MQ_F_SG_MERGE)) q.setFlag(QUEUE_FLAG_NO_SG_MERGE);
  // 5. the requeue work.
  q.requeueWork = new WorkStruct(() => blkMqRequeueWork(q), "(&q->requeue_work)");
  // 6. make_request_fn (the I/O path supplies the bodies).
  blkQueueMakeRequest(q, null);
  // 7. nr_requests (after blk_queue_make_request() set its default).
  q.nrRequests = set.queueDepth;
  // 8. blk_mq_init_cpu_queues().
  for (let cpu = 0; cpu < nr; cpu++) ctxs.push(new BlkMqCtx(q, cpu, ctxBlock + BLK_MQ_CTX_SIZE * cpu));
  // 9. blk_mq_init_hw_queues().
  let i = 0;
  for (; i < hctxs.length; i++) if (!blkMqInitHctx(q, set, hctxs[i], i)) break;
  if (i < hctxs.length) {
    blkMqExitHwQueues(q, set, i);
    undoAllocatedQueue(q, hctxs, ctxBlock, hctxArray, map);
    throw new KernelError("ENOMEM", "blk_mq_init_allocated_queue", `init of hctx ${i} failed`);
  }
  // 10. all_q_list, the tag set, the mapping.
  const block = q.block;
  yield* k.hotplug.getOnlineCpus();
  yield* block.allQMutex.lock("blk_mq_init_allocated_queue");
  block.allQList.push(q);
  yield* blkMqAddQueueTagSet(set, q);
  yield* blkMqMapSwqueue(q, k.cpus.onlineMask);
  block.allQMutex.unlock("blk_mq_init_allocated_queue");
  k.hotplug.putOnlineCpus();
  return q;
}

/**
 * The `err_hctxs` / `err_map` / `err_percpu` path, leaving `q` a plain
 * queue (0 stands for what was not allocated).
 */
function undoAllocatedQueue(q: RequestQueue, hctxs: BlkMqHwCtx[], ctxBlock: number, hctxArray: number, map: number): void {
  const k = q.kernel;
  const mem = new BlockMemory(k.slab, k.kmemleak, "blk_mq_init_allocated_queue");
  blkMqFreeQueueMap(q, map);
  for (const h of hctxs) {
    freeHctxCtxs(h); // v4.4 leaks these here
    mem.kfree(h.addr);
  }
  mem.kfree(hctxArray);
  mem.kfree(ctxBlock);
  q.mqOps = null;
  q.mqMapAddr = 0;
  q.queueHwCtx = [];
  q.queueHwCtxAddr = 0;
  q.queueCtx = [];
  q.queueCtxAddr = 0;
  q.nrHwQueues = 0;
}

/**
 * Mirrors `blk_mq_make_queue_map()` (block/blk-mq-cpumap.c, v4.4): a zeroed
 * map of nr_cpu_ids u32 entries in linear memory, filled by
 * `blk_mq_update_queue_map()`.
 *
 * @returns the map's address
 * @throws {KernelError} ENOMEM (v4.4 returns NULL; its caller, ENOMEM)
 */
function blkMqMakeQueueMap(q: RequestQueue, nrHwQueues: number, online: ReadonlyCpuMask): number {
  const k = q.kernel;
  const map = new BlockMemory(k.slab, k.kmemleak, "blk_mq_make_queue_map").kzalloc(4 * k.cpus.nrCpuIds);
  blkMqUpdateQueueMap(q, map, nrHwQueues, online);
  return map;
}

/** `kfree(q->mq_map)` of a {@link blkMqMakeQueueMap} map (0 is ignored). */
function blkMqFreeQueueMap(q: RequestQueue, map: number): void {
  const k = q.kernel;
  new BlockMemory(k.slab, k.kmemleak, "blk_mq_make_queue_map").kfree(map);
}

/**
 * Mirrors `blk_mq_update_queue_map()` (v4.4) into the nr_cpu_ids u32
 * entries at `map` (`q->mq_map`) for the online CPUs `online` (the mask
 * about to be in effect). SMT siblings are those linked now: a CPU being
 * brought up is not yet linked (ts/block/cpumap.ts).
 *
 * @param map the address of the map in linear memory
 * @throws {RangeError} when `map` is 0 (the queue has no map)
 */
export function blkMqUpdateQueueMap(q: RequestQueue, map: number, nrHwQueues: number, online: ReadonlyCpuMask): void {
  if (map === 0) throw new RangeError(`blk_mq_update_queue_map: queue ${q.id} has no mq_map`);
  const cpus = q.kernel.cpus;
  const m = updateQueueMap({
    nrCpus: cpus.nrCpuIds,
    nrQueues: nrHwQueues,
    threadsPerCore: cpus.threadsPerCore,
    siblings: cpus.smtNumbering,
    onlineMask: online,
    linkedMask: cpus.onlineMask,
  });
  const dv = q.kernel.dv;
  for (let c = 0; c < m.length; c++) dv.setUint32(map + 4 * c, m[c], true);
}

/**
 * Mirrors `blk_mq_init_hctx()` (v4.4): works, lock, flags = set flags minus
 * TAG_SHARED, the per-hctx CPU notifier, `hctx->tags = set->tags[i]`, the
 * `ctxs[]` array and `ctx_map`, the driver's `init_hctx`, the flush queue
 * with its request, and `init_request` on it with tag `queue_depth + i`.
 *
 * @returns false on failure, everything it did undone
 */
function blkMqInitHctx(q: RequestQueue, set: BlkMqTagSet, hctx: BlkMqHwCtx, idx: number): boolean {
  const k = q.kernel;
  const flushStartTag = set.queueDepth;
  if (hctx.numaNode === NUMA_NO_NODE) hctx.numaNode = set.numaNode;
  hctx.flags = set.flags & ~BLK_MQ_F_TAG_SHARED;
  q.block.registerCpuNotifier(hctx.cpuNotifier);
  try {
    // A pointer assignment in v4.4; here the hctx's tag record is allocated and can fail.
    hctx.setTags(set.tags![idx]);
  } catch (e) {
    q.block.unregisterCpuNotifier(hctx.cpuNotifier);
    if (e instanceof KernelError && e.code === "ENOMEM") return false;
    throw e;
  }
  const undo = (stage: number): false => {
    if (stage >= 2) set.ops.exitHctx?.(hctx, idx);
    freeCtxMap(hctx);
    freeHctxCtxs(hctx);
    hctx.exitTags();
    q.block.unregisterCpuNotifier(hctx.cpuNotifier);
    return false;
  };
  // hctx->ctxs = kmalloc_node(nr_cpu_ids * sizeof(void *)), then blk_mq_alloc_bitmap().
  const nr = k.cpus.nrCpuIds;
  let ctxsArray = 0;
  let ctxMap = 0;
  try {
    ctxsArray = new BlockMemory(k.slab, k.kmemleak, "blk_mq_init_hctx").kzalloc(4 * nr);
    ctxMap = blkMqAllocBitmap(k);
  } catch (e) {
    if (!(e instanceof KernelError && e.code === "ENOMEM")) throw e;
    new BlockMemory(k.slab, k.kmemleak, "blk_mq_init_hctx").kfree(ctxsArray);
    return undo(0);
  }
  k.core.blk_mq_hw_ctx_init(hctx.addr, idx, ctxsArray, ctxMap, ctxMapWords(k));
  hctx.nrCtx = 0;
  if (set.ops.initHctx && set.ops.initHctx(hctx, set.driverData, idx) !== 0) return undo(1);
  const mem = new BlockMemory(k.slab, k.kmemleak, "blk_alloc_flush_queue");
  let flushRq: number;
  try {
    flushRq = mem.kzalloc(requestRecordSize(set.cmdSize));
  } catch (e) {
    if (e instanceof KernelError && e.code === "ENOMEM") return undo(2);
    throw e;
  }
  const fq = new BlkFlushQueue(flushRq);
  k.kmemleak.track(fq, { size: 64, cache: "kmalloc-64", site: "blk_alloc_flush_queue" });
  hctx.fq = fq;
  if (set.ops.initRequest && set.ops.initRequest(set.driverData, flushRq, idx, flushStartTag + idx, hctx.numaNode) !== 0) {
    blkFreeFlushQueue(hctx);
    return undo(2);
  }
  return true;
}

/** Mirrors `blk_free_flush_queue()`. */
function blkFreeFlushQueue(hctx: BlkMqHwCtx): void {
  const fq = hctx.fq;
  if (fq === null) return;
  const k = hctx.queue.kernel;
  new BlockMemory(k.slab, k.kmemleak, "blk_alloc_flush_queue").kfree(fq.flushRq);
  k.kmemleak.untrack(fq, "kfree");
  hctx.fq = null;
}

/**
 * Mirrors `blk_mq_exit_hctx()` (v4.4): idle the tags, `exit_request` for the
 * flush request, the driver's `exit_hctx`, unregister the CPU notifier, free
 * the flush queue and `ctx_map`.
 */
export function blkMqExitHctx(q: RequestQueue, set: BlkMqTagSet, hctx: BlkMqHwCtx, idx: number): void {
  hctx.tagIdle();
  if (set.ops.exitRequest && hctx.fq !== null) set.ops.exitRequest(set.driverData, hctx.fq.flushRq, idx, set.queueDepth + idx);
  set.ops.exitHctx?.(hctx, idx);
  q.block.unregisterCpuNotifier(hctx.cpuNotifier);
  blkFreeFlushQueue(hctx);
  freeCtxMap(hctx);
  hctx.exitTags();
}

/** `blk_mq_free_bitmap(&hctx->ctx_map)`: the words freed and the record's map emptied (nothing if none). */
function freeCtxMap(hctx: BlkMqHwCtx): void {
  const k = hctx.queue.kernel;
  const dv = k.dv;
  const map = dv.getUint32(hctx.addr + HCTX.CTX_MAP_MAP, true);
  dv.setUint32(hctx.addr + HCTX.CTX_MAP_MAP, 0, true);
  dv.setUint32(hctx.addr + HCTX.CTX_MAP_SIZE, 0, true);
  blkMqFreeBitmap(k, map);
}

/** `kfree(hctx->ctxs)`: the record's ctx address array (nothing if none). */
function freeHctxCtxs(hctx: BlkMqHwCtx): void {
  const k = hctx.queue.kernel;
  const dv = k.dv;
  const ctxs = dv.getUint32(hctx.addr + HCTX.CTXS, true);
  dv.setUint32(hctx.addr + HCTX.CTXS, 0, true);
  new BlockMemory(k.slab, k.kmemleak, "blk_mq_init_hctx").kfree(ctxs);
}

/** Mirrors `blk_mq_exit_hw_queues()`: the first `nrQueue` hctxs. */
function blkMqExitHwQueues(q: RequestQueue, set: BlkMqTagSet, nrQueue: number): void {
  q.queueHwCtx.forEach((hctx, i) => {
    if (i < nrQueue) blkMqExitHctx(q, set, hctx, i);
  });
}

/**
 * Mirrors `blk_mq_free_queue()` (v4.4): leave `all_q_list` under
 * `all_q_mutex`, leave the tag set (maybe ending its sharing, with a freeze
 * of the queue left), exit every hctx. The hctx memory stays until
 * `blk_mq_release()`.
 */
export function* blkMqFreeQueue(q: RequestQueue): Sleepable {
  const set = q.tagSet!;
  const block = q.block;
  yield* block.allQMutex.lock("blk_mq_free_queue");
  const i = block.allQList.indexOf(q);
  if (i >= 0) block.allQList.splice(i, 1);
  block.allQMutex.unlock("blk_mq_free_queue");
  yield* blkMqDelQueueTagSet(q);
  blkMqExitHwQueues(q, set, set.nrHwQueues);
}

/**
 * Mirrors `blk_mq_release()` (v4.4), from the queue kobject's release: the
 * hctx structs and their `ctxs[]`, `mq_map`, the hctx array and the per-CPU
 * ctxs are freed here and only here (the hctx/ctx kobjects have empty
 * releases, 74170118b2). A ctx kobject still holding its `kobject_init()`
 * reference (v4.4 initializes every possible CPU's but puts only attached
 * ones) is put here, the port's equivalent of freeing the memory it is
 * embedded in.
 */
export function blkMqRelease(q: RequestQueue): void {
  const k = q.kernel;
  const km = k.kmemleak;
  const mem = new BlockMemory(k.slab, km, "blk_mq_init_allocated_queue");
  for (const hctx of q.queueHwCtx) {
    freeHctxCtxs(hctx);
    mem.kfree(hctx.addr);
  }
  blkMqFreeQueueMap(q, q.mqMapAddr);
  q.mqMapAddr = 0;
  mem.kfree(q.queueHwCtxAddr);
  q.queueHwCtxAddr = 0;
  for (const ctx of q.queueCtx) {
    if (ctx.kobj.initialized && !ctx.kobj.released && ctx.kobj.refcount() === 1 && !ctx.kobj.inSysfs) ctx.kobj.put();
  }
  // free_percpu(q->queue_ctx)
  mem.kfree(q.queueCtxAddr);
  q.queueCtxAddr = 0;
}

/**
 * Mirrors `blk_mq_map_swqueue()` (block/blk-mq.c, v4.4):
 *
 * 1. under `q->sysfs_lock` (60de074ba1: no show sees a half-built cpumask),
 *    clear every hctx's cpumask and ctxs, then attach each CPU of `online`
 *    to the hctx the driver's `map_queue` names, with `index_hw = nr_ctx++`
 *    (the arithmetic is `mapSwqueue()`, ts/block/cpumap.ts);
 * 2. an hctx left without ctxs frees its request map (`set->tags[i] = NULL`,
 *    `hctx->tags = NULL`); a mapped one without a map gets a new one
 *    (`blk_mq_init_rq_map()`), then `ctx_map.size`, `next_cpu` and
 *    `next_cpu_batch` are set;
 * 3. each online CPU's bit is set in its hctx's `tags->cpumask` (never cleared).
 *
 * If a new map cannot be allocated v4.4 WARNs and then dereferences NULL;
 * the port WARNs and leaves that hctx without tags (unmapped).
 */
export function* blkMqMapSwqueue(q: RequestQueue, online: ReadonlyCpuMask): Sleepable {
  const set = q.tagSet!;
  const mapQueue = q.mqOps!.mapQueue;
  // The driver's map_queue for each online CPU; the attachment itself is ts/block/cpumap.ts's.
  const map = q.queueCtx.map((ctx) => (online.test(ctx.cpu) ? mapQueue(q, ctx.cpu).queueNum : 0));
  const m = mapSwqueue(map, online, q.nrHwQueues);
  yield* q.sysfsLock.lock("blk_mq_map_swqueue");
  q.queueHwCtx.forEach((hctx, i) => {
    const hm = m.hctxs[i];
    hctx.cpumask.clearAll();
    for (const cpu of hm.cpus) hctx.cpumask.set(cpu);
    hctx.setCtxs(hm.cpus.map((cpu) => q.queueCtx[cpu]));
  });
  m.ctxs.forEach((cm, cpu) => {
    if (cm !== null) q.queueCtx[cpu].indexHw = cm.indexHw;
  });
  q.sysfsLock.unlock("blk_mq_map_swqueue");

  const setTags = set.tags!;
  q.queueHwCtx.forEach((hctx, i) => {
    if (hctx.nrCtx === 0) {
      const m = setTags[i];
      if (m !== null) {
        blkMqFreeRqMap(set, m, i);
        setTags[i] = null;
      }
      hctx.setTags(null);
      return;
    }
    if (setTags[i] === null) setTags[i] = blkMqInitRqMap(set, i);
    try {
      hctx.setTags(setTags[i]);
    } catch (e) {
      // The port's per-hctx tag fields are an allocation the kernel does not make
      // (`hctx->tags = set->tags[i]` cannot fail there): failing, the hctx is left
      // without tags, as when the map itself could not be allocated.
      if (!(e instanceof KernelError)) throw e;
      hctx.setTags(null);
    }
    if (hctx.tags === null) {
      q.kernel.log.warn("block/blk-mq.c:blk_mq_map_swqueue", "WARN_ON(!hctx->tags)");
      return;
    }
    hctx.setCtxMapSize(Math.ceil(hctx.nrCtx / CTX_MAP_BITS_PER_WORD));
    hctx.nextCpu = hctx.cpumask.first();
    hctx.nextCpuBatch = BLK_MQ_CPU_WORK_BATCH;
  });
  for (const ctx of q.queueCtx) {
    if (!online.test(ctx.cpu)) continue;
    const hctx = mapQueue(q, ctx.cpu);
    hctx.tags?.cpumask.set(ctx.cpu);
  }
}

/**
 * Mirrors `blk_mq_wake_waiters()` (v4.4): every mapped hctx's tag waiters
 * (reserved ones too) and `mq_freeze_wq`.
 */
export function blkMqWakeWaiters(q: RequestQueue): void {
  for (const hctx of q.queueHwCtx) {
    if (blkMqHwQueueMapped(hctx)) hctxLiveTags(hctx, "blk_mq_tag_wakeup_all")?.wakeupAll(true);
  }
  q.mqFreezeWq.wakeUpAll();
}

/**
 * Mirrors `blk_mq_update_nr_requests()` (v4.4): EINVAL above the set's
 * depth; otherwise every hctx's normal tag depth becomes `nr - reserved`
 * (waking its waiters) and `q->nr_requests = nr`, without freezing the queue
 * (v6.18 freezes). The caller (the `nr_requests` store) has already raised
 * values below BLKDEV_MIN_RQ.
 *
 * v4.4 dereferences `hctx->tags` of every hctx, NULL on an unmapped one (a
 * hole of the CPU map): an oops. The port skips unmapped hctxs, as later
 * kernels do (`if (!hctx->tags) continue;`). Such an hctx, once remapped, gets
 * a fresh map of the set's full depth, as v4.4's `blk_mq_init_rq_map()`
 * builds it, not of `nr_requests`.
 *
 * @throws {KernelError} EINVAL when `nr` exceeds `set->queue_depth` or the queue has no tag set
 */
export function blkMqUpdateNrRequests(q: RequestQueue, nr: number): void {
  const set = q.tagSet;
  if (set === null || nr > set.queueDepth) throw new KernelError("EINVAL", "blk_mq_update_nr_requests");
  for (const hctx of q.queueHwCtx) hctxLiveTags(hctx, "blk_mq_tag_update_depth")?.resize(nr);
  q.nrRequests = nr;
}

/** `blk_mq_rq_timer()` lives in ts/block/blk_timeout.ts (the scan of started requests, then re-arm or idle). */
export { blkMqRqTimer };

/**
 * The port's consistency check of a live blk-mq queue (on `all_q_list`),
 * for tests and the fuzzer; call it while no hotplug remap is in progress.
 * Returns an empty list when `q_usage_counter`, the freeze depth, the CPU
 * mapping (`online`: default the online CPUs), the request maps, the shared
 * flag and the sysfs directories agree.
 */
export function blkMqQueueInvariantViolations(q: RequestQueue, online: ReadonlyCpuMask = q.kernel.cpus.onlineMask): string[] {
  const out = q.qUsageCounter.invariantViolations().map((v) => `q_usage_counter: ${v}`);
  if (q.mqFreezeDepth < 0) out.push(`mq_freeze_depth ${q.mqFreezeDepth}`);
  const set = q.tagSet;
  const mqMap = q.mqMap;
  if (set === null || set.tags === null || mqMap === null) return out;
  for (const ctx of q.queueCtx) {
    const owners = q.queueHwCtx.filter((h) => h.cpumask.test(ctx.cpu));
    if (!online.test(ctx.cpu)) {
      if (owners.length > 0) out.push(`offline cpu ${ctx.cpu} is attached to hctx ${owners[0].queueNum}`);
      continue;
    }
    const h = q.queueHwCtx[mqMap[ctx.cpu]];
    if (owners.length !== 1 || owners[0] !== h) out.push(`cpu ${ctx.cpu} is not attached to hctx ${h.queueNum} alone`);
    else if (h.ctxs[ctx.indexHw] !== ctx) out.push(`hctx ${h.queueNum}: ctxs[${ctx.indexHw}] is not cpu ${ctx.cpu}'s ctx`);
  }
  q.queueHwCtx.forEach((h, i) => {
    if (h.nrCtx !== h.cpumask.weight()) out.push(`hctx ${i}: nr_ctx ${h.nrCtx} but ${h.cpumask.weight()} CPUs`);
    if ((h.nrCtx > 0) !== (h.tags !== null)) out.push(`hctx ${i}: ${h.nrCtx} ctxs but ${h.tags === null ? "no" : "a"} request map`);
    if (h.tags !== set.tags![i]) out.push(`hctx ${i}: hctx->tags is not set->tags[${i}]`);
    if (h.tags?.freed) out.push(`hctx ${i}: its request map was freed`);
    if (set.tagList.includes(q) && ((h.flags & BLK_MQ_F_TAG_SHARED) !== 0) !== set.shared) out.push(`hctx ${i}: TAG_SHARED differs from the set's`);
    if (q.mqSysfsInitDone && h.kobj.inSysfs !== h.nrCtx > 0) out.push(`hctx ${i}: mq/${i} ${h.kobj.inSysfs ? "exists unmapped" : "is missing"}`);
  });
  return out;
}
