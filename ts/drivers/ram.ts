// SPDX-License-Identifier: GPL-2.0-only
/**
 * A RAM disk (drivers/block/brd.c, v4.4), as a blk-mq driver: `modprobe
 * ram` creates `rd_nr` disks ram0.. of `rd_size` KiB each, whose data lives
 * in 4 KiB pages of the core's linear memory, allocated on the first write
 * to each page (`brd_insert_page()`: a sparse page tree, here a Map from page
 * index to page address) and freed by `rmmod` (`brd_free_pages()`).
 *
 * Differences from brd: v4.4's brd is bio-based (`brd_make_request()`);
 * this one is blk-mq (`queue_rq` copies between the request's bio_vecs and
 * the backing pages and ends the request inline), so it takes null_blk's
 * `hw_queue_depth` and `submit_queues`. `rd_nr` defaults to 1 (brd:
 * CONFIG_BLK_DEV_RAM_COUNT, 16); `rd_size` defaults to brd's
 * CONFIG_BLK_DEV_RAM_SIZE, 4096 KiB. No `max_part`, DAX, discard or
 * partitions. A queue_rq beyond the capacity ends the request with -EIO
 * (brd: `bio_end_sector() > get_capacity()` → `bio_io_error()`); a write
 * whose pages cannot be allocated ends with -EIO before any byte is copied
 * (brd: `copy_to_brd_setup()` -ENOSPC → `bio_io_error()`). As brd, the
 * queue declares no write cache (`blk_queue_flush()` is not called), so
 * flushes end before the driver; a zero-length request (a flush request,
 * should a user give the queue REQ_FLUSH) completes at once: RAM has no
 * volatile cache.
 *
 * @module
 */

import { KernelError } from "../errors.ts";
import type { Kernel } from "../kernel/kernel.ts";
import type { Sleepable } from "../kernel/sched.ts";
import { PAGE_SIZE } from "../kernel/slab.ts";
import { BlockMemory } from "../block/_mem.ts";
import { REQ_WRITE } from "../block/bio.ts";
import { blkMqInitQueue } from "../block/blk_mq.ts";
import { blkMqEndRequest, blkMqStartRequest } from "../block/blk_mq_request.ts";
import { addDriverDisk, delGendisk, type Gendisk, putDisk } from "../block/genhd.ts";
import { BLK_MQ_F_SHOULD_MERGE, type BlkMqHwCtx } from "../block/hctx.ts";
import { RQ, rqSegments, type Segment } from "../block/request_record.ts";
import { blkCleanupQueue, blkQueuePhysicalBlockSize, QUEUE_FLAG_ADD_RANDOM, QUEUE_FLAG_NONROT, type RequestQueue } from "../block/request_queue.ts";
import { blkMqAllocTagSet, blkMqFreeTagSet, blkMqMapQueue, type BlkMqOps, type BlkMqQueueData, BLK_MQ_RQ_QUEUE_OK, type BlkMqTagSet } from "../block/tag_set.ts";
import type { KernelModule } from "./module.ts";
import { kstrtoint } from "./null_blk_params.ts";
import { MachineMap } from "../kernel/machine_map.ts";

/** Mirrors `RAMDISK_MAJOR` (include/uapi/linux/major.h). */
export const RAMDISK_MAJOR = 1;
/** Mirrors `PAGE_SECTORS_SHIFT` / `PAGE_SECTORS` (drivers/block/brd.c). */
const PAGE_SECTORS_SHIFT = 3;
const PAGE_SECTORS = 1 << PAGE_SECTORS_SHIFT;
const SECTOR_SHIFT = 9;
const EIO = -5;
/** The most disks the port creates (brd: `rd_nr > 1UL << MINORBITS` is -EINVAL). */
export const RAM_MAX_DEVICES = 1024;
/** The largest `rd_size` the port takes, in KiB (1 GiB: the core's memory stops at 2 GiB, and writes past it end with EIO). */
export const RAM_MAX_SIZE_KB = 1 << 20;
/** Bytes kmemleak charges a `struct brd_device`. */
const BRD_DEVICE_SIZE = 512;

/** The module parameters of `ram` (`/sys/module/ram/parameters/`). */
export interface RamParams {
  /** `rd_nr`: disks. Default 1 (brd: 16). */
  rd_nr: number;
  /** `rd_size`: each disk's size in KiB. Default 4096 (brd's CONFIG_BLK_DEV_RAM_SIZE). */
  rd_size: number;
  /** Tags per hardware queue (as null_blk's). Default 64. */
  hw_queue_depth: number;
  /** Hardware queues (as null_blk's; clamped to nr_cpu_ids, 0 made 1). Default 1. */
  submit_queues: number;
}

/** The defaults of {@link RamParams}. */
export const RAM_DEFAULTS: Readonly<RamParams> = Object.freeze({ rd_nr: 1, rd_size: 4096, hw_queue_depth: 64, submit_queues: 1 });

/** Mirrors `struct brd_device` (drivers/block/brd.c, v4.4) with a blk-mq tag set. */
export class BrdDevice {
  /** `brd_number`. */
  number = 0;
  /** `brd_queue`. */
  q: RequestQueue | null = null;
  /** `brd_disk`. */
  disk: Gendisk | null = null;
  /** The tag set (blk-mq; brd is bio-based). */
  tagSet: BlkMqTagSet | null = null;
  /** `brd_pages`: page index (sector >> 3) → page address in linear memory. */
  readonly pages = new Map<number, number>();
}

interface RamState {
  params: RamParams;
  devices: BrdDevice[];
  mem: BlockMemory;
}

const STATE = new MachineMap<RamState>("ram");

/** The disks of a machine's loaded ram module, in creation order (empty when not loaded). */
export function ramDevices(k: Kernel): readonly BrdDevice[] {
  return STATE.get(k)?.devices ?? [];
}

/** Backing pages allocated now on every ram disk of `k`. */
export function ramPagesAllocated(k: Kernel): number {
  let n = 0;
  for (const d of ramDevices(k)) n += d.pages.size;
  return n;
}

/**
 * Mirrors `parse_args("brd", ...)` for the ram module: known names through
 * `kstrtoint()`, unknown ones ignored with a warning.
 *
 * @throws {KernelError} EINVAL / ERANGE for a bad value (logged)
 */
export function parseRamParams(k: Kernel, params: Record<string, string>): RamParams {
  if (params === null || typeof params !== "object") throw new TypeError("ram: params must be an object");
  const p: RamParams = { ...RAM_DEFAULTS };
  for (const [rawName, val] of Object.entries(params)) {
    if (typeof val !== "string") throw new TypeError(`ram: the value of ${rawName} must be a string`);
    const name = rawName.replaceAll("-", "_");
    if (!(name in RAM_DEFAULTS)) {
      k.log.printk("warning", `ram: unknown parameter '${rawName}' ignored`);
      continue;
    }
    try {
      if (val === "") throw new KernelError("EINVAL", "param_set_int");
      (p as unknown as Record<string, number>)[name] = kstrtoint(val, 0);
    } catch (e) {
      if (!(e instanceof KernelError)) throw e;
      k.log.printk("err", `ram: \`${val}' invalid for parameter \`${rawName}'`);
      throw new KernelError(e.code, "parse_args", `${rawName}=${val}`);
    }
  }
  return p;
}

/** A fresh view of linear memory (allocation may grow it). */
function bytes(k: Kernel): Uint8Array {
  return new Uint8Array(k.core.memory.buffer);
}

/** One segment of a request: `len` bytes at linear address `addr` for `sector`. */

/**
 * Mirrors `copy_to_brd_setup()` (v4.4) for a whole request: every backing
 * page its segments touch exists afterwards (`brd_insert_page()`).
 *
 * @throws {KernelError} ENOMEM when a page cannot be had (pages inserted stay, as in brd)
 */
function brdSetupPages(s: RamState, brd: BrdDevice, segs: readonly Segment[]): void {
  for (const g of segs) {
    const first = Math.floor(g.sector / PAGE_SECTORS);
    const last = Math.floor((g.sector + (g.len >>> SECTOR_SHIFT) - 1) / PAGE_SECTORS);
    for (let i = first; i <= last; i++) {
      if (!brd.pages.has(i)) brd.pages.set(i, s.mem.allocPages(0));
    }
  }
}

/**
 * Mirrors `copy_to_brd()` / `copy_from_brd()` (v4.4): one segment between
 * the bio page and the backing pages, page by page; a page never written
 * reads as zeros.
 */
function brdCopy(k: Kernel, brd: BrdDevice, g: Segment, write: boolean): void {
  const mem = bytes(k);
  let sector = g.sector;
  let addr = g.addr;
  let left = g.len;
  while (left > 0) {
    const offset = (sector & (PAGE_SECTORS - 1)) << SECTOR_SHIFT;
    const n = Math.min(left, PAGE_SIZE - offset);
    const page = brd.pages.get(Math.floor(sector / PAGE_SECTORS));
    if (write) mem.copyWithin(page! + offset, addr, addr + n);
    else if (page === undefined) mem.fill(0, addr, addr + n);
    else mem.copyWithin(addr, page + offset, page + offset + n);
    sector += n >>> SECTOR_SHIFT;
    addr += n;
    left -= n;
  }
}

/**
 * `queue_rq` of the ram disk (`brd_make_request()` + `brd_do_bvec()` for a
 * request): start it, check the range against the capacity, for a write
 * make every page first, copy each segment, end it inline.
 */
function ramQueueRq(hctx: BlkMqHwCtx, bd: BlkMqQueueData): number {
  const q = hctx.queue;
  const k = q.kernel;
  const rq = bd.rq;
  const brd = q.queuedata as BrdDevice;
  const s = STATE.get(k)!;
  blkMqStartRequest(k, rq);
  const dv = k.dv;
  const write = (dv.getUint32(rq + RQ.CMD_FLAGS, true) & REQ_WRITE) !== 0;
  const sector = dv.getBigUint64(rq + RQ.SECTOR, true);
  const len = dv.getUint32(rq + RQ.DATA_LEN, true);
  if (len === 0) {
    blkMqEndRequest(k, rq, 0);
    return BLK_MQ_RQ_QUEUE_OK;
  }
  if (sector + BigInt(len >>> SECTOR_SHIFT) > (brd.disk?.capacity ?? 0n)) {
    blkMqEndRequest(k, rq, EIO);
    return BLK_MQ_RQ_QUEUE_OK;
  }
  const segs = rqSegments(k, rq);
  if (write) {
    try {
      brdSetupPages(s, brd, segs);
    } catch (e) {
      if (!(e instanceof KernelError)) throw e;
      blkMqEndRequest(k, rq, EIO);
      return BLK_MQ_RQ_QUEUE_OK;
    }
  }
  for (const g of segs) brdCopy(k, brd, g, write);
  blkMqEndRequest(k, rq, 0);
  return BLK_MQ_RQ_QUEUE_OK;
}

function ramMqOps(): BlkMqOps {
  return { queueRq: ramQueueRq, mapQueue: blkMqMapQueue };
}

/** Mirrors `brd_free_pages()`: every backing page back to the page allocator. */
function brdFreePages(s: RamState, brd: BrdDevice): void {
  for (const p of brd.pages.values()) s.mem.freePages(p);
  brd.pages.clear();
}

/**
 * Mirrors `brd_alloc()` + `add_disk()` (v4.4), blk-mq: the tag set and
 * queue, NONROT, no ADD_RANDOM, PAGE_SIZE physical blocks, the disk ramN of
 * `rd_size * 2` sectors. On failure everything built is undone.
 */
function* brdAlloc(k: Kernel, s: RamState, i: number): Sleepable<BrdDevice> {
  const p = s.params;
  const brd = new BrdDevice();
  brd.number = i;
  k.kmemleak.track(brd, { size: BRD_DEVICE_SIZE, cache: "kmalloc-512", site: "brd_alloc" });
  let q: RequestQueue | null = null;
  try {
    brd.tagSet = blkMqAllocTagSet(k.block, {
      ops: ramMqOps(),
      nrHwQueues: p.submit_queues,
      queueDepth: p.hw_queue_depth >>> 0,
      numaNode: -1,
      cmdSize: 0,
      flags: BLK_MQ_F_SHOULD_MERGE,
      driverData: brd,
    });
    q = yield* blkMqInitQueue(brd.tagSet, brd);
    q.queuedata = brd;
    brd.q = q;
    blkQueuePhysicalBlockSize(q, PAGE_SIZE);
    q.setFlag(QUEUE_FLAG_NONROT);
    q.clearFlag(QUEUE_FLAG_ADD_RANDOM);
    brd.disk = yield* addDriverDisk(q, {
      minors: 0,
      major: RAMDISK_MAJOR,
      firstMinor: i,
      name: `ram${i}`,
      capacity: BigInt(p.rd_size) * 2n,
      privateData: brd,
    });
  } catch (e) {
    if (q !== null) yield* blkCleanupQueue(q);
    if (brd.tagSet !== null) blkMqFreeTagSet(brd.tagSet);
    k.kmemleak.untrack(brd, "kfree");
    throw e;
  }
  return brd;
}

/** Mirrors `brd_del_one()` + `brd_free()`: del_gendisk, cleanup queue, tag set, put_disk, pages, the device. */
function* brdDelOne(k: Kernel, s: RamState, brd: BrdDevice): Sleepable {
  const i = s.devices.indexOf(brd);
  if (i >= 0) s.devices.splice(i, 1);
  yield* delGendisk(brd.disk!);
  yield* blkCleanupQueue(brd.q!);
  blkMqFreeTagSet(brd.tagSet!);
  putDisk(brd.disk);
  brdFreePages(s, brd);
  k.kmemleak.untrack(brd, "kfree");
}

/**
 * Mirrors `brd_init()` (v4.4): the parameters, `register_blkdev(RAMDISK_MAJOR,
 * "ramdisk")`, `rd_nr` disks, "brd: module loaded".
 *
 * @throws {KernelError} EEXIST when loaded; EINVAL for a bad parameter or
 *   too many or too large disks; EIO when the major is taken; a disk's error
 */
function* ramInit(k: Kernel, params: Record<string, string>): Sleepable {
  if (STATE.has(k)) throw new KernelError("EEXIST", "load_module", "ram is already loaded");
  const p = parseRamParams(k, params);
  if (p.rd_nr < 0 || p.rd_nr > RAM_MAX_DEVICES) throw new KernelError("EINVAL", "brd_init", `rd_nr ${p.rd_nr}`);
  if (p.rd_size < 0 || p.rd_size > RAM_MAX_SIZE_KB) throw new KernelError("EINVAL", "brd_init", `rd_size ${p.rd_size}`);
  if (p.hw_queue_depth < 1) throw new KernelError("EINVAL", "brd_init", `hw_queue_depth ${p.hw_queue_depth}`);
  if (p.submit_queues < 0) throw new KernelError("EINVAL", "brd_init", `submit_queues ${p.submit_queues}`);
  if (p.submit_queues > k.cpus.nrCpuIds) p.submit_queues = k.cpus.nrCpuIds;
  else if (p.submit_queues === 0) p.submit_queues = 1;
  try {
    k.block.registerBlkdev(RAMDISK_MAJOR, "ramdisk");
  } catch (e) {
    if (!(e instanceof KernelError)) throw e;
    throw new KernelError("EIO", "brd_init", "major 1 is taken");
  }
  const s: RamState = { params: p, devices: [], mem: new BlockMemory(k.slab, k.kmemleak, "brd_insert_page") };
  STATE.set(k, s);
  try {
    for (let i = 0; i < p.rd_nr; i++) s.devices.push(yield* brdAlloc(k, s, i));
  } catch (e) {
    while (s.devices.length > 0) yield* brdDelOne(k, s, s.devices[0]);
    k.block.unregisterBlkdev(RAMDISK_MAJOR, "ramdisk");
    STATE.delete(k);
    throw e;
  }
  k.log.printk("info", "brd: module loaded");
}

/**
 * Mirrors `brd_exit()` (v4.4): every disk removed (its pages freed), then
 * the major.
 *
 * @throws {KernelError} ENOENT when not loaded
 */
function* ramExit(k: Kernel): Sleepable {
  const s = STATE.get(k);
  if (s === undefined) throw new KernelError("ENOENT", "delete_module", "ram is not loaded");
  while (s.devices.length > 0) yield* brdDelOne(k, s, s.devices[0]);
  k.block.unregisterBlkdev(RAMDISK_MAJOR, "ramdisk");
  STATE.delete(k);
  k.log.printk("info", "brd: module unloaded");
}

/**
 * The ram module (a blk-mq brd), for the kernel shell's `modprobe` / `rmmod`.
 *
 * @example
 * k.sched.spawn("modprobe", function* () { yield* ramModule.init(k, { rd_size: "1024" }); });
 * k.run();
 * k.sysfs.ls("/sys/block"); // ["ram0"]
 */
export const ramModule: KernelModule = {
  name: "ram",
  init: ramInit,
  exit: ramExit,
};
