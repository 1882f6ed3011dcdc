// SPDX-License-Identifier: GPL-2.0-only
/**
 * Disks (`struct gendisk`, include/linux/genhd.h; block/genhd.c, v4.4):
 * `alloc_disk()`, `add_disk()` (the device under /sys/block, then
 * `blk_register_queue()`), `del_gendisk()`, `put_disk()`, and the disk's own
 * attributes `size`, `stat` and `inflight` with the counters behind them
 * (`part0`, which the I/O path fills).
 *
 * @module
 */

import { KernelError } from "../errors.ts";
import { Kobject } from "../kernel/kobject.ts";
import type { Sleepable } from "../kernel/sched.ts";
import { diskInflightShow, diskStatShow, type SysfsAttribute, type SysfsPage } from "../sysfs/sysfs.ts";
import type { BlockLayer } from "./blk_layer.ts";
import { blkRegisterQueue, blkUnregisterQueue } from "./blk_sysfs.ts";
import { partRoundStatsNow, partStatSetAll, partStatsAlloc, partStatsFree, type PartStatsView } from "./part_stat.ts";
import { blkGetQueue, blkPutQueue, type RequestQueue } from "./request_queue.ts";

export type { PartStats } from "./part_stat.ts";

/** Mirrors `GENHD_FL_*` (include/linux/genhd.h, v4.4). */
export const GENHD_FL_REMOVABLE = 1;
export const GENHD_FL_MEDIA_CHANGE_NOTIFY = 4;
export const GENHD_FL_CD = 8;
export const GENHD_FL_UP = 16;
export const GENHD_FL_SUPPRESS_PARTITION_INFO = 32;
export const GENHD_FL_EXT_DEVT = 64;
/** Mirrors `DISK_NAME_LEN`. */
export const DISK_NAME_LEN = 32;

/**
 * Mirrors `struct gendisk` (include/linux/genhd.h, v4.4) with its part0
 * device: `kobj` is `disk_to_dev(disk)->kobj`, `/sys/block/<disk_name>`
 * while added.
 */
export class Gendisk {
  readonly block: BlockLayer;
  /** `disk_name`. */
  diskName = "";
  /** `major`. */
  major = 0;
  /** `first_minor`. */
  firstMinor = 0;
  /** `minors`. */
  readonly minors: number;
  /** `flags` (GENHD_FL_*). */
  flags = 0;
  #capacity = 0n;
  #nrSects = 0;
  /** `part0.nr_sects`: capacity in 512-byte sectors (`set_capacity()`). */
  get capacity(): bigint {
    return this.#capacity;
  }
  set capacity(sectors: bigint) {
    this.#capacity = sectors;
    this.#nrSects = Number(sectors);
  }
  /** {@link Gendisk.capacity} as a number (exact below 2^53 sectors): the per-I/O range checks' copy, no BigInt conversion per I/O. */
  get nrSects(): number {
    return this.#nrSects;
  }
  /** `queue`. */
  queue: RequestQueue | null = null;
  /** `private_data`. */
  privateData: unknown = null;
  /**
   * The driver moves no data: a read leaves the bio's pages as they were
   * (v4.4's null_blk has no storage; later kernels call this
   * `memory_backed=0`). No v4.4 field: the port's hint to the promise API
   * (ts/block/disk_io.ts), which then copies nothing out, as the kernel
   * leaves the user's buffer an O_DIRECT read of such a disk lands in.
   */
  dataless = false;
  /**
   * `part0`'s statistics: a view of their record in linear memory
   * (ts/block/part_stat.ts), allocated with the disk and freed with it.
   */
  readonly part0: PartStatsView;
  /** The device kobject (`part0.__dev.kobj`). */
  readonly kobj: Kobject<Gendisk>;

  /** @internal use {@link allocDisk} */
  constructor(block: BlockLayer, minors: number) {
    this.block = block;
    this.minors = minors;
    this.part0 = partStatsAlloc(block.kernel);
    this.kobj = new Kobject<Gendisk>(block.kernel.kobjects, { container: this, size: 1024, cache: "gendisk", site: "alloc_disk_node" });
  }

  /** `disk_devt()` as "major:minor". */
  get devt(): string {
    return `${this.major}:${this.firstMinor}`;
  }
}

/**
 * Mirrors `alloc_disk_node()` (block/genhd.c, v4.4): a disk with its
 * statistics record (`init_part_stats()`) whose device is initialized
 * (`device_initialize()`, one reference) but not added.
 *
 * @param minors `minors` (1 for a disk without partitions)
 * @throws {RangeError} when minors is not a non-negative integer
 * @throws {KernelError} ENOMEM when the statistics record cannot be allocated (nothing is left behind)
 */
export function allocDisk(block: BlockLayer, minors: number): Gendisk {
  if (!(Number.isInteger(minors) && minors >= 0)) throw new RangeError(`alloc_disk: minors must be a non-negative integer, got ${minors}`);
  const disk = new Gendisk(block, minors);
  disk.kobj.init({ release: () => diskRelease(disk) });
  return disk;
}

/**
 * Mirrors `disk_release()`: the statistics record (`free_part_stats()`), the
 * queue reference `add_disk()` took, then the disk's memory (with its kobject).
 */
function diskRelease(disk: Gendisk): void {
  // The queue's record stops pointing at the statistics before they go.
  if (disk.queue !== null && disk.queue.part0Addr === disk.part0.ptr) disk.queue.part0Addr = 0;
  partStatsFree(disk.block.kernel, disk.part0);
  if (disk.queue !== null) blkPutQueue(disk.queue);
}

/** Mirrors `set_capacity()`. */
export function setCapacity(disk: Gendisk, sectors: bigint): void {
  disk.capacity = BigInt.asUintN(64, sectors);
}

/**
 * Mirrors `part_round_stats()` (block/blk-core.c, v4.4) for part0: accrues
 * `io_ticks` and `time_in_queue` up to now (asm/genhd.ts).
 *
 * @throws {KernelBug} once the disk was released
 */
export function partRoundStats(disk: Gendisk): void {
  partRoundStatsNow(disk.block.kernel, disk.part0);
}

/**
 * Mirrors `disk_attrs` of block/genhd.c (v4.4), the subset the port keeps:
 * `size` (`part_size_show()`), `stat` (`part_stat_show()`, after
 * `part_round_stats()`), `inflight` (`part_inflight_show()`). As in v4.4
 * they take no queue lock and work on a dying queue's disk.
 */
export const DISK_ATTRS: readonly SysfsAttribute<Gendisk>[] = [
  { name: "size", mode: 0o444, show: (d: Gendisk, page: SysfsPage) => page.sprintf(`${d.capacity}\n`) },
  {
    name: "stat",
    mode: 0o444,
    show: (d: Gendisk, page: SysfsPage) => {
      partRoundStats(d);
      const p = d.part0;
      const ms = (j: number) => d.block.kernel.clock.jiffiesToMsecs(j);
      const [ios, merges, sectors, ticks, inFlight] = [p.ios, p.merges, p.sectors, p.ticks, p.inFlight];
      return page.sprintf(diskStatShow({
        readIos: ios[0],
        readMerges: merges[0],
        readSectors: sectors[0],
        readTicksMs: ms(ticks[0]),
        writeIos: ios[1],
        writeMerges: merges[1],
        writeSectors: sectors[1],
        writeTicksMs: ms(ticks[1]),
        inFlight: inFlight[0] + inFlight[1],
        ioTicksMs: ms(p.ioTicks),
        timeInQueueMs: ms(p.timeInQueue),
      }));
    },
  },
  {
    name: "inflight",
    mode: 0o444,
    show: (d: Gendisk, page: SysfsPage) => {
      const [read, write] = d.part0.inFlight;
      return page.sprintf(diskInflightShow({ read, write }));
    },
  },
];

/**
 * Mirrors `add_disk()` (block/genhd.c, v4.4): marks the disk up, sets its
 * devt, adds its device under /sys/block (`register_disk()`), registers the
 * queue (`blk_register_queue()`: on the first registration
 * `q_usage_counter` goes percpu) and takes the queue reference that
 * `disk_release()` drops.
 *
 * A name already in use is refused before anything changes (v4.4 goes on
 * with a device that failed to register and a queue directory that cannot
 * be created).
 *
 * @throws {KernelError} EEXIST when a disk of that name is added
 * @throws {TypeError} when the disk has no queue or no name
 */
export function* addDisk(disk: Gendisk): Sleepable {
  const k = disk.block.kernel;
  if (disk.queue === null) throw new TypeError("add_disk: disk.queue must be set");
  if (disk.diskName === "") throw new TypeError("add_disk: disk.diskName must be set");
  if (disk.minors !== 0 && disk.major === 0 && disk.firstMinor === 0) {
    k.log.warn("block/genhd.c:add_disk", "WARN_ON(disk->minors && !(disk->major || disk->first_minor))");
  }
  if (disk.minors === 0 && !(disk.flags & GENHD_FL_EXT_DEVT)) {
    k.log.warn("block/genhd.c:add_disk", "WARN_ON(!disk->minors && !(disk->flags & GENHD_FL_EXT_DEVT))");
  }
  disk.block.claimDiskName(disk);
  disk.flags |= GENHD_FL_UP;
  try {
    disk.kobj.add(disk.block.root, disk.diskName);
    k.sysfs.createFiles(disk.kobj, disk, DISK_ATTRS);
  } catch (e) {
    disk.block.releaseDiskName(disk);
    disk.flags &= ~GENHD_FL_UP;
    if (e instanceof KernelError && disk.kobj.inSysfs) disk.kobj.del();
    throw e;
  }
  yield* blkRegisterQueue(disk);
  if (!blkGetQueue(disk.queue)) k.log.warnOnce("block/genhd.c:add_disk", "WARN_ON_ONCE(!blk_get_queue(disk->queue))");
}

/** What {@link addDriverDisk} builds a disk from. */
export interface DriverDiskOptions {
  /** `disk->minors` (0 with GENHD_FL_EXT_DEVT: no partitions of its own). */
  minors: number;
  major: number;
  firstMinor: number;
  /** GENHD_FL_* bits besides GENHD_FL_EXT_DEVT, which is always set. */
  flags?: number;
  name: string;
  capacity: bigint;
  privateData: unknown;
  /** {@link Gendisk.dataless}: false unless given. */
  dataless?: boolean;
}

/**
 * The end of a blk-mq driver's add-device (`null_add_dev()`, `brd_alloc()`,
 * `loop_add()`): `alloc_disk()`, the disk's numbers, name, capacity and
 * `private_data` over `q`, then `add_disk()`. When `add_disk()` fails the
 * disk is put without its queue (it took no queue reference for
 * `disk_release()` to drop) and the error is rethrown: the queue is still
 * the caller's to clean up.
 */
export function* addDriverDisk(q: RequestQueue, o: DriverDiskOptions): Sleepable<Gendisk> {
  const disk = allocDisk(q.block, o.minors);
  disk.major = o.major;
  disk.firstMinor = o.firstMinor;
  disk.flags |= GENHD_FL_EXT_DEVT | (o.flags ?? 0);
  disk.privateData = o.privateData;
  disk.dataless = o.dataless ?? false;
  disk.queue = q;
  disk.diskName = o.name;
  setCapacity(disk, o.capacity);
  try {
    yield* addDisk(disk);
  } catch (e) {
    disk.queue = null;
    putDisk(disk);
    throw e;
  }
  return disk;
}

/**
 * Mirrors `del_gendisk()` (block/genhd.c, v4.4): capacity 0, not up,
 * `blk_unregister_queue()`, statistics cleared, the device removed from
 * /sys/block (waiting for shows in progress).
 */
export function* delGendisk(disk: Gendisk): Sleepable {
  setCapacity(disk, 0n);
  disk.flags &= ~GENHD_FL_UP;
  yield* blkUnregisterQueue(disk);
  partStatSetAll(disk.block.kernel, disk.part0);
  yield* disk.block.kernel.sysfs.kobjectDelSync(disk.kobj);
  disk.block.releaseDiskName(disk);
}

/** Mirrors `put_disk()`: drops a reference; the last one releases the disk (and its queue reference). */
export function putDisk(disk: Gendisk | null): void {
  if (disk !== null) disk.kobj.put();
}
