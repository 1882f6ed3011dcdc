// SPDX-License-Identifier: GPL-2.0-only
/**
 * null_blk, the kernel's reference block device (drivers/block/null_blk.c,
 * v4.4): `modprobe null_blk` creates `nr_devices` disks nullb0.. that
 * complete every request without touching data; `rmmod` tears them down in
 * the kernel's order. This issue builds and removes the devices (tag sets,
 * queues, disks, the driver's per-queue state); the request path is the I/O
 * issue's.
 *
 * Modes: `queue_mode=2` (blk-mq, default) and `queue_mode=0` (bio-based: a
 * plain queue with its own `make_request_fn`, which still takes
 * `q_usage_counter` references since 3ef28e83ab). `queue_mode=1`, the legacy
 * request path, is not modelled: the load fails as v5.0+ kernels fail it,
 * with "null_blk: legacy IO path is no longer available" and -EINVAL.
 * `shared_tags` (v4.12+: one tag set for every device) and `blocking`
 * (v4.13+: BLK_MQ_F_BLOCKING) come from later kernels.
 *
 * @module
 */

import { KernelError } from "../errors.ts";
import type { Kernel } from "../kernel/kernel.ts";
import { Mutex } from "../kernel/mutex.ts";
import type { Sleepable } from "../kernel/sched.ts";
import { PAGE_SIZE } from "../kernel/slab.ts";
import { BlockMemory } from "../block/_mem.ts";
import { blkMqInitQueue } from "../block/blk_mq.ts";
import { addDriverDisk, delGendisk, type Gendisk, GENHD_FL_SUPPRESS_PARTITION_INFO, putDisk } from "../block/genhd.ts";
import { BLK_MQ_F_BLOCKING, BLK_MQ_F_SHOULD_MERGE, type BlkMqHwCtx } from "../block/hctx.ts";
import {
  blkAllocQueueNode,
  blkCleanupQueue,
  blkQueueLogicalBlockSize,
  blkQueueMakeRequest,
  blkQueuePhysicalBlockSize,
  QUEUE_FLAG_ADD_RANDOM,
  QUEUE_FLAG_NONROT,
  type RequestQueue,
} from "../block/request_queue.ts";
import { blkMqAllocTagSet, blkMqFreeTagSet, blkMqMapQueue, type BlkMqOps, type BlkMqQueueData, BLK_MQ_RQ_QUEUE_OK, type BlkMqTagSet } from "../block/tag_set.ts";
import { BLK_MQ_INLINE_NULL_IRQ_NONE, blkMqCompleteRequest, blkMqEndRequest, blkMqStartRequest, rqField } from "../block/blk_mq_request.ts";
import { RQ } from "../block/request_record.ts";
import { Timer } from "../kernel/timer.ts";
import type { KernelModule } from "./module.ts";
import { NULL_IRQ_NONE, NULL_IRQ_SOFTIRQ, NULL_IRQ_TIMER, NULL_Q_MQ, NULL_Q_RQ, type NullBlkParams, parseNullBlkParams } from "./null_blk_params.ts";
import { MachineMap } from "../kernel/machine_map.ts";

/**
 * `sizeof(struct nullb_cmd)` on x86-64 in v4.4: list 16, ll_list 8, csd 32,
 * rq 8, bio 8, tag 4 (+4), nq 8, hrtimer 64. The tag set's `cmd_size`.
 */
export const NULLB_CMD_SIZE = 152;
/** `nr_online_nodes`: the port has one NUMA node. */
const NR_ONLINE_NODES = 1;
/**
 * The most devices the port creates. v4.4 compares `nr_devices` as an
 * unsigned int, so a negative value asks for billions of devices and the
 * load fails only when memory runs out; the port fails it at once with
 * -ENOMEM and a log line.
 */
export const NULLB_MAX_DEVICES = 1024;

/** Mirrors `struct nullb_queue` (v4.4): one per submit queue. */
export interface NullbQueue {
  /** `queue_depth`. */
  queueDepth: number;
  /** bio mode: the `cmds` array (NULLB_CMD_SIZE × depth bytes, WASM), 0 otherwise. */
  cmds: number;
  /** bio mode: the `tag_map` bitmap (WASM), 0 otherwise. */
  tagMap: number;
}

/** Mirrors `struct nullb` (v4.4). */
export class Nullb {
  /** `index`: the n of nullbN. */
  index = 0;
  /** `disk_name`. */
  diskName = "";
  /** `q`. */
  q: RequestQueue | null = null;
  /** `disk`. */
  disk: Gendisk | null = null;
  /** `tag_set` (the shared one with shared_tags). */
  tagSet: BlkMqTagSet | null = null;
  /** Whether `tagSet` is this device's own (freed with it). */
  ownTagSet = false;
  /** `queues[]`: `submit_queues` entries. */
  queues: NullbQueue[] = [];
  /** `nr_queues`: queues initialized (`null_init_hctx()` / `init_driver_queues()`). */
  nrQueues = 0;
  /** `queue_depth`. */
  queueDepth = 0;
}

/** The module's state on one machine: its globals while loaded. */
interface NullBlkState {
  params: NullBlkParams;
  major: number;
  /** `nullb_list`. */
  devices: Nullb[];
  /** `nullb_indexes`. */
  indexes: number;
  /** The module's `lock` mutex. */
  lock: Mutex;
  /** The shared tag set (`shared_tags=1`). */
  sharedSet: BlkMqTagSet | null;
  mem: BlockMemory;
}

const STATE = new MachineMap<NullBlkState>("null_blk");

/** The devices of a machine's loaded null_blk, in creation order (empty when not loaded). */
export function nullBlkDevices(k: Kernel): readonly Nullb[] {
  return STATE.get(k)?.devices ?? [];
}

/** The parameters in effect (as `/sys/module/null_blk/parameters/` shows them), or null when not loaded. */
export function nullBlkParams(k: Kernel): Readonly<NullBlkParams> | null {
  return STATE.get(k)?.params ?? null;
}

/** Mirrors `null_init_hctx()` (v4.4): the hctx drives `queues[index]`. */
function nullInitHctx(hctx: BlkMqHwCtx, data: unknown, index: number): number {
  const nullb = (data ?? hctx.queue.queuedata) as Nullb;
  const nq = nullb.queues[index];
  hctx.driverData = nq;
  nullInitQueue(nullb, nq);
  nullb.nrQueues++;
  return 0;
}

/** Mirrors `null_init_queue()`. */
function nullInitQueue(nullb: Nullb, nq: NullbQueue): void {
  nq.queueDepth = nullb.queueDepth;
}

/**
 * Mirrors `null_queue_rq()` (v4.4): starts the request and completes it per
 * `irqmode` (`null_handle_cmd()`): NULL_IRQ_NONE ends it at once
 * (`end_cmd()`), NULL_IRQ_SOFTIRQ goes through `blk_mq_complete_request()`
 * (rq_affinity decides the CPU of `null_softirq_done_fn()`), NULL_IRQ_TIMER
 * ends it from an hrtimer `completion_nsec` later. The data is not touched.
 */
function nullQueueRq(hctx: BlkMqHwCtx, bd: BlkMqQueueData): number {
  const k = hctx.queue.kernel;
  blkMqStartRequest(k, bd.rq);
  const p = STATE.get(k)?.params;
  const mode = p?.irqmode ?? NULL_IRQ_NONE;
  if (mode === NULL_IRQ_SOFTIRQ) blkMqCompleteRequest(k, bd.rq, rqField(k, bd.rq, RQ.ERRORS));
  else if (mode === NULL_IRQ_TIMER) {
    const rq = bd.rq;
    const t = new Timer(() => blkMqEndRequest(k, rq, 0), "null_cmd_timer_expired");
    k.timers.hrtimerStart(t, k.clock.now() + Math.max(0, p!.completion_nsec), k.sched.smpProcessorId());
  } else blkMqEndRequest(k, bd.rq, 0);
  return BLK_MQ_RQ_QUEUE_OK;
}

/**
 * Mirrors `null_mq_ops` (v4.4). `complete` is `null_softirq_done_fn()`
 * (mq mode: `end_cmd()` → `blk_mq_end_request(rq, 0)`); it needs the
 * machine, so each tag set gets its own ops object. With irqmode 0 (a
 * read-only parameter, as in v4.4) the core runs `null_queue_rq()` itself
 * (asm/null_blk.ts): the ops offer it as their inline `queue_rq`.
 */
function nullMqOps(k: Kernel, p: NullBlkParams): BlkMqOps {
  const ops: BlkMqOps = {
    queueRq: nullQueueRq,
    mapQueue: blkMqMapQueue,
    initHctx: nullInitHctx,
    complete: (rq: number) => blkMqEndRequest(k, rq, 0),
  };
  if (p.irqmode === NULL_IRQ_NONE) ops.inline = { queueRq: nullQueueRq, driver: BLK_MQ_INLINE_NULL_IRQ_NONE };
  return ops;
}

/** Mirrors the tag set `null_add_dev()` (or, shared, `null_init()`) fills. */
function nullInitTagSet(k: Kernel, p: NullBlkParams, nullb: Nullb | null): BlkMqTagSet {
  return blkMqAllocTagSet(k.block, {
    ops: nullMqOps(k, p),
    nrHwQueues: p.submit_queues,
    queueDepth: p.hw_queue_depth >>> 0,
    numaNode: p.home_node,
    cmdSize: NULLB_CMD_SIZE,
    flags: BLK_MQ_F_SHOULD_MERGE | (p.blocking ? BLK_MQ_F_BLOCKING : 0),
    driverData: nullb,
  });
}

/** Mirrors `setup_queues()`: `queues[submit_queues]` (a negative count is a huge kzalloc: -ENOMEM). */
function setupQueues(k: Kernel, nullb: Nullb, p: NullBlkParams): void {
  if (p.submit_queues < 0) throw new KernelError("ENOMEM", "setup_queues");
  nullb.queues = Array.from({ length: p.submit_queues }, () => ({ queueDepth: 0, cmds: 0, tagMap: 0 }));
  k.kmemleak.track(nullb.queues, { size: 64 * p.submit_queues, cache: "kmalloc", site: "setup_queues" });
  nullb.queueDepth = p.hw_queue_depth >>> 0;
}

/** Mirrors `cleanup_queues()`: each queue's commands, then the array. */
function cleanupQueues(k: Kernel, s: NullBlkState, nullb: Nullb): void {
  for (let i = 0; i < nullb.nrQueues; i++) cleanupQueue(s, nullb.queues[i]);
  k.kmemleak.untrack(nullb.queues, "kfree");
}

/** Mirrors `cleanup_queue()`: bio mode's `tag_map` and `cmds`. */
function cleanupQueue(s: NullBlkState, nq: NullbQueue): void {
  s.mem.kfree(nq.tagMap);
  s.mem.kfree(nq.cmds);
  nq.tagMap = 0;
  nq.cmds = 0;
}

/** Mirrors `setup_commands()`: the queue's `cmds` and `tag_map`. @throws {KernelError} ENOMEM */
function setupCommands(s: NullBlkState, nq: NullbQueue): void {
  nq.cmds = s.mem.kzalloc(nq.queueDepth * NULLB_CMD_SIZE);
  try {
    nq.tagMap = s.mem.kzalloc(Math.ceil(nq.queueDepth / 64) * 8);
  } catch (e) {
    s.mem.kfree(nq.cmds);
    nq.cmds = 0;
    throw e;
  }
}

/** Mirrors `init_driver_queues()` (bio and rq modes). @throws {KernelError} ENOMEM */
function initDriverQueues(s: NullBlkState, nullb: Nullb): void {
  for (const nq of nullb.queues) {
    nullInitQueue(nullb, nq);
    setupCommands(s, nq);
    nullb.nrQueues++;
  }
}

/** Mirrors `null_queue_bio()` (bio mode's `make_request_fn`): the I/O path's. */
function nullQueueBio(): void {}

/** Mirrors the capacity of `null_add_dev()`: `gb * 1024 * 1024 * 1024ULL` (int arithmetic first, as C does) `>> 9`. */
export function nullCapacitySectors(gb: number): bigint {
  const g = Math.imul(Math.imul(gb, 1024), 1024);
  return BigInt.asUintN(64, BigInt(g) * 1024n) >> 9n;
}

/**
 * Mirrors `null_add_dev()` (v4.4): the queues, the tag set and queue (mq) or
 * a bio queue, NONROT set and ADD_RANDOM cleared, the index, the block
 * size, and the disk nullbN with its capacity. On failure everything built
 * is undone in the kernel's label order.
 */
function* nullAddDev(k: Kernel, s: NullBlkState): Sleepable {
  const p = s.params;
  const nullb = new Nullb();
  k.kmemleak.track(nullb, { size: 1024, cache: "kmalloc-1024", site: "null_add_dev" });
  try {
    setupQueues(k, nullb, p);
  } catch (e) {
    k.kmemleak.untrack(nullb, "kfree");
    throw e;
  }
  let q: RequestQueue | null = null;
  try {
    if (p.queue_mode === NULL_Q_MQ) {
      if (s.sharedSet !== null) nullb.tagSet = s.sharedSet;
      else {
        nullb.tagSet = nullInitTagSet(k, p, nullb);
        nullb.ownTagSet = true;
      }
      try {
        q = yield* blkMqInitQueue(nullb.tagSet, nullb);
      } catch (e) {
        if (!(e instanceof KernelError)) throw e;
        throw new KernelError("ENOMEM", "null_add_dev");
      }
    } else {
      q = blkAllocQueueNode(k.block, p.home_node);
      blkQueueMakeRequest(q, nullQueueBio);
      initDriverQueues(s, nullb);
    }
    nullb.q = q;
    q.queuedata = nullb;
    q.setFlag(QUEUE_FLAG_NONROT);
    q.clearFlag(QUEUE_FLAG_ADD_RANDOM);

    yield* s.lock.lock("null_add_dev");
    nullb.index = s.indexes++;
    s.lock.unlock("null_add_dev");

    blkQueueLogicalBlockSize(q, p.bs);
    blkQueuePhysicalBlockSize(q, p.bs);
    nullb.diskName = `nullb${nullb.index}`;

    nullb.disk = yield* addDriverDisk(q, {
      minors: 1,
      major: s.major,
      firstMinor: nullb.index,
      flags: GENHD_FL_SUPPRESS_PARTITION_INFO,
      name: nullb.diskName,
      capacity: nullCapacitySectors(p.gb),
      privateData: nullb,
      dataless: true, // null_handle_cmd() touches no page
    });
  } catch (e) {
    if (q !== null) yield* blkCleanupQueue(q); // out_cleanup_blk_queue
    if (nullb.ownTagSet && nullb.tagSet !== null) blkMqFreeTagSet(nullb.tagSet); // out_cleanup_tags
    cleanupQueues(k, s, nullb); // out_cleanup_queues
    k.kmemleak.untrack(nullb, "kfree"); // out_free_nullb
    throw e;
  }
  yield* s.lock.lock("null_add_dev");
  s.devices.push(nullb);
  s.lock.unlock("null_add_dev");
}

/**
 * Mirrors `null_del_dev()` (v4.4), the teardown order of §6.4:
 * `del_gendisk()`, `blk_cleanup_queue()`, `blk_mq_free_tag_set()` (its own
 * set only), `put_disk()`, then the driver's queues and the nullb.
 */
function* nullDelDev(k: Kernel, s: NullBlkState, nullb: Nullb): Sleepable {
  const i = s.devices.indexOf(nullb);
  if (i >= 0) s.devices.splice(i, 1);
  yield* delGendisk(nullb.disk!);
  yield* blkCleanupQueue(nullb.q!);
  if (nullb.ownTagSet) blkMqFreeTagSet(nullb.tagSet!);
  putDisk(nullb.disk);
  cleanupQueues(k, s, nullb);
  k.kmemleak.untrack(nullb, "kfree");
}

/**
 * Mirrors `null_init()` (v4.4, with v4.12+'s shared tag set): the
 * parameters' treatment (bs above PAGE_SIZE reset with two warnings;
 * `submit_queues` forced to the node count with `use_per_node_hctx`, else
 * clamped to nr_cpu_ids silently, 0 made 1), the major, `nr_devices`
 * devices, and "null: module loaded".
 *
 * @throws {KernelError} EEXIST when already loaded; the parameters' error;
 *   EINVAL for queue_mode=1; ENOMEM for too many devices; a device's error
 *   (every device created is removed again)
 */
function* nullInit(k: Kernel, params: Record<string, string>): Sleepable {
  if (STATE.has(k)) throw new KernelError("EEXIST", "load_module", "null_blk is already loaded");
  const log = k.log;
  const p = parseNullBlkParams(log, params);
  if (p.bs < 0 || p.bs > PAGE_SIZE) {
    log.printk("warning", "null_blk: invalid block size");
    log.printk("warning", `null_blk: defaults block size to ${PAGE_SIZE}`);
    p.bs = PAGE_SIZE;
  }
  if (p.queue_mode === NULL_Q_MQ && p.use_per_node_hctx) {
    if (p.submit_queues < NR_ONLINE_NODES) {
      log.printk("warning", `null_blk: submit_queues param is set to ${NR_ONLINE_NODES}.`);
      p.submit_queues = NR_ONLINE_NODES;
    }
  } else if (p.submit_queues > k.cpus.nrCpuIds) p.submit_queues = k.cpus.nrCpuIds;
  else if (p.submit_queues === 0) p.submit_queues = 1;
  // One hw queue per node, whatever was asked above nr_online_nodes (the
  // per-device rule of later kernels). Settled here, before the shared tag
  // set is sized, so shared_tags=1 and every device agree on the count.
  if (p.queue_mode === NULL_Q_MQ && p.use_per_node_hctx) p.submit_queues = NR_ONLINE_NODES;
  if (p.queue_mode === NULL_Q_RQ) {
    log.printk("err", "null_blk: legacy IO path is no longer available");
    throw new KernelError("EINVAL", "null_init", "queue_mode=1 is not modelled");
  }
  if (p.nr_devices >>> 0 > NULLB_MAX_DEVICES) {
    log.printk("err", `null_blk: nr_devices ${p.nr_devices >>> 0} is beyond the port's ${NULLB_MAX_DEVICES}`);
    throw new KernelError("ENOMEM", "null_init", "too many devices");
  }
  const s: NullBlkState = {
    params: p,
    major: 0,
    devices: [],
    indexes: 0,
    lock: new Mutex(k.sched, "null_blk_lock"),
    sharedSet: null,
    mem: new BlockMemory(k.slab, k.kmemleak, "setup_commands"),
  };
  if (p.queue_mode === NULL_Q_MQ && p.shared_tags) s.sharedSet = nullInitTagSet(k, p, null);
  try {
    s.major = k.block.registerBlkdev(0, "nullb");
  } catch (e) {
    if (s.sharedSet !== null) blkMqFreeTagSet(s.sharedSet);
    throw e;
  }
  STATE.set(k, s);
  try {
    for (let i = 0; i < p.nr_devices >>> 0; i++) yield* nullAddDev(k, s);
  } catch (e) {
    while (s.devices.length > 0) yield* nullDelDev(k, s, s.devices[0]);
    k.block.unregisterBlkdev(s.major, "nullb");
    if (s.sharedSet !== null) blkMqFreeTagSet(s.sharedSet);
    STATE.delete(k);
    throw e;
  }
  log.printk("info", "null: module loaded");
}

/**
 * Mirrors `null_exit()` (v4.4): the major goes first, then, under the
 * module's lock, every device (`null_del_dev()`), then the shared tag set.
 *
 * @throws {KernelError} ENOENT when not loaded
 */
function* nullExit(k: Kernel): Sleepable {
  const s = STATE.get(k);
  if (s === undefined) throw new KernelError("ENOENT", "delete_module", "null_blk is not loaded");
  k.block.unregisterBlkdev(s.major, "nullb");
  yield* s.lock.lock("null_exit");
  while (s.devices.length > 0) yield* nullDelDev(k, s, s.devices[0]);
  s.lock.unlock("null_exit");
  if (s.sharedSet !== null) blkMqFreeTagSet(s.sharedSet);
  STATE.delete(k);
}

/**
 * The null_blk module, for the kernel shell's `modprobe` / `rmmod`.
 *
 * @example
 * k.sched.spawn("modprobe", function* () { yield* nullBlkModule.init(k, { nr_devices: "1" }); });
 * k.run();
 * k.sysfs.ls("/sys/block"); // ["nullb0"]
 */
export const nullBlkModule: KernelModule = {
  name: "null_blk",
  init: nullInit,
  exit: nullExit,
};
