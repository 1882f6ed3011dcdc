// SPDX-License-Identifier: GPL-2.0-only
/**
 * `/sys/block/<disk>/queue/` (block/blk-sysfs.c, v4.4): the queue
 * attributes in `default_attrs` order with their show and store semantics,
 * and `blk_register_queue()` / `blk_unregister_queue()`.
 *
 * Every show and store runs under `q->sysfs_lock` and returns -ENOENT once
 * the queue is dying (`queue_attr_show()` / `queue_attr_store()`). Integer
 * stores parse with `queue_var_store()`: `kstrtoul(page, 10)`, and anything
 * unparsable or above UINT_MAX is -EINVAL.
 *
 * @module
 */

import { ERRNO, KernelError } from "../errors.ts";
import type { Sleepable } from "../kernel/sched.ts";
import {
  QUEUE_ATTRS,
  type QueueAttrName,
  queueAttrShow,
  type QueueSysfsState,
  queueVarStore,
  type SysfsAttribute,
  type SysfsPage,
} from "../sysfs/sysfs.ts";
import { blkMqUpdateNrRequests } from "./blk_mq.ts";
import type { Gendisk } from "./genhd.ts";
import { blkMqRegisterDisk, blkMqUnregisterDisk } from "./mq_sysfs.ts";
import {
  BLKDEV_MIN_RQ,
  blkQueueBypassEnd,
  blkQueueFlagAssign,
  blkQueueSetNomerges,
  blkQueueSetRqAffinity,
  blkQueueSysfsLocked,
  QUEUE_FLAG_ADD_RANDOM,
  QUEUE_FLAG_INIT_DONE,
  QUEUE_FLAG_IO_STAT,
  QUEUE_FLAG_NOMERGES,
  QUEUE_FLAG_NONROT,
  QUEUE_FLAG_NOXMERGES,
  QUEUE_FLAG_POLL,
  QUEUE_FLAG_SAME_COMP,
  QUEUE_FLAG_SAME_FORCE,
  type RequestQueue,
} from "./request_queue.ts";

const EINVAL = -ERRNO.EINVAL;
/** `PAGE_CACHE_SHIFT - 10`. */
const RA_KB_SHIFT = 2;
/** `1 << (PAGE_CACHE_SHIFT - 10)`: the smallest `max_sectors_kb`. */
const PAGE_KB = 4;
const encoder = new TextEncoder();

/** The queue fields the shows read, for the formatters of ts/sysfs. */
function sysfsState(q: RequestQueue): QueueSysfsState {
  const l = q.limits;
  return {
    nrRequests: q.nrRequests,
    raPages: q.raPages,
    maxHwSectors: l.maxHwSectors,
    maxSectors: l.maxSectors,
    maxSegments: l.maxSegments,
    maxIntegritySegments: l.maxIntegritySegments,
    maxSegmentSize: l.maxSegmentSize,
    cluster: l.cluster,
    logicalBlockSize: l.logicalBlockSize,
    physicalBlockSize: l.physicalBlockSize,
    ioMin: l.ioMin,
    ioOpt: l.ioOpt,
    discardGranularity: l.discardGranularity,
    maxDiscardSectors: l.maxDiscardSectors,
    maxHwDiscardSectors: l.maxHwDiscardSectors,
    discardZeroesData: l.discardZeroesData,
    maxWriteSameSectors: l.maxWriteSameSectors,
    nonrot: q.testFlag(QUEUE_FLAG_NONROT),
    nomerges: q.testFlag(QUEUE_FLAG_NOMERGES),
    noxmerges: q.testFlag(QUEUE_FLAG_NOXMERGES),
    sameComp: q.testFlag(QUEUE_FLAG_SAME_COMP),
    sameForce: q.testFlag(QUEUE_FLAG_SAME_FORCE),
    ioStat: q.testFlag(QUEUE_FLAG_IO_STAT),
    addRandom: q.testFlag(QUEUE_FLAG_ADD_RANDOM),
    poll: q.testFlag(QUEUE_FLAG_POLL),
  };
}

/** A store: the value parsed by `queue_var_store()`, `count` returned on success. */
type Store = (q: RequestQueue, v: number, buf: string) => number | null;

/**
 * Mirrors `queue_requests_store()` (v4.4): -EINVAL for a queue with neither
 * `request_fn` nor `mq_ops`; values below BLKDEV_MIN_RQ become 4; blk-mq
 * resizes the tags (`blk_mq_update_nr_requests()`, -EINVAL above the set's depth).
 */
function nrRequestsStore(q: RequestQueue, v: number): number | null {
  const nr = v < BLKDEV_MIN_RQ ? BLKDEV_MIN_RQ : v;
  try {
    blkMqUpdateNrRequests(q, nr);
  } catch (e) {
    if (e instanceof KernelError) return e.errno;
    throw e;
  }
  return null;
}

/** Mirrors `queue_max_sectors_store()` (v4.4). */
function maxSectorsStore(q: RequestQueue, kb: number): number | null {
  const l = q.limits;
  let maxHwKb = Math.floor(l.maxHwSectors / 2);
  const devKb = Math.floor(l.maxDevSectors / 2);
  if (devKb !== 0 && (maxHwKb === 0 || devKb < maxHwKb)) maxHwKb = devKb;
  if (kb > maxHwKb || kb < PAGE_KB) return EINVAL;
  q.queueLock.lockIrq("queue_max_sectors_store");
  l.maxSectors = kb * 2;
  q.queueLock.unlockIrq("queue_max_sectors_store");
  return null;
}

/** Mirrors `queue_discard_max_store()` (v4.4): a multiple of the granularity (u32 arithmetic), capped at the hardware limit. */
function discardMaxStore(q: RequestQueue, bytes: number): number | null {
  const l = q.limits;
  const mask = (l.discardGranularity - 1) >>> 0;
  if (Number(BigInt(bytes) & BigInt(mask)) !== 0) return EINVAL;
  let sectors = Math.floor(bytes / 512);
  if (sectors > 0xffffffff) return EINVAL;
  if (sectors > l.maxHwDiscardSectors) sectors = l.maxHwDiscardSectors;
  l.maxDiscardSectors = sectors;
  return null;
}

/** Mirrors `queue_poll_store()` (v4.4): -EINVAL unless the driver has `mq_ops->poll`. */
function pollStore(q: RequestQueue, v: number): number | null {
  blkQueueFlagAssign(q, QUEUE_FLAG_POLL, v !== 0);
  return null;
}

const STORES: Partial<Record<QueueAttrName, Store>> = {
  nr_requests: nrRequestsStore,
  read_ahead_kb: (q, kb) => {
    q.raPages = Math.floor(kb / 2 ** RA_KB_SHIFT);
    return null;
  },
  max_sectors_kb: maxSectorsStore,
  discard_max_bytes: discardMaxStore,
  rotational: (q, v) => (blkQueueFlagAssign(q, QUEUE_FLAG_NONROT, v === 0), null),
  nomerges: (q, v) => (blkQueueSetNomerges(q, v), null),
  rq_affinity: (q, v) => (blkQueueSetRqAffinity(q, v), null),
  iostats: (q, v) => (blkQueueFlagAssign(q, QUEUE_FLAG_IO_STAT, v !== 0), null),
  add_random: (q, v) => (blkQueueFlagAssign(q, QUEUE_FLAG_ADD_RANDOM, v !== 0), null),
  io_poll: pollStore,
};

/** Checks a store must make before parsing (v4.4 order): @returns -errno, or null to go on. */
function preStore(name: QueueAttrName, q: RequestQueue): number | null {
  if (name === "nr_requests" && !q.isMq) return EINVAL; // no request_fn and no mq_ops: a bio queue
  if (name === "io_poll" && (q.mqOps === null || q.mqOps.poll === undefined)) return EINVAL;
  return null;
}

function storeHandler(name: QueueAttrName, fn: Store): (q: RequestQueue, buf: string) => Sleepable<number> {
  return (q, buf) =>
    blkQueueSysfsLocked(q, () => {
      const pre = preStore(name, q);
      if (pre !== null) return pre;
      const count = encoder.encode(buf).length;
      const v = queueVarStore(buf);
      if (v < 0) return v;
      return fn(q, v, buf) ?? count;
    });
}

/**
 * Mirrors `default_attrs` of block/blk-sysfs.c (v4.4): the `queue/` files in
 * order, with v4.4 modes. `scheduler` accepts any write silently (blk-mq and
 * bio queues have no elevator in v4.4).
 */
export const BLK_QUEUE_ATTRS: readonly SysfsAttribute<RequestQueue>[] = QUEUE_ATTRS.map(({ name, mode }) => {
  const show = (q: RequestQueue, page: SysfsPage) => blkQueueSysfsLocked(q, () => page.sprintf(queueAttrShow(name, sysfsState(q))));
  const fn = STORES[name];
  if (name === "scheduler") {
    return { name, mode, show, store: (q: RequestQueue, buf: string) => blkQueueSysfsLocked(q, () => encoder.encode(buf).length) };
  }
  return fn === undefined ? { name, mode, show } : { name, mode, show, store: storeHandler(name, fn) };
});

/**
 * Mirrors `blk_register_queue()` (block/blk-sysfs.c, v4.4). The first
 * registration sets QUEUE_FLAG_INIT_DONE, switches `q_usage_counter` to
 * percpu mode (17497acbdc: from now on every freeze costs a grace period)
 * and ends the initial bypass. Then `queue/` is added under the disk (with
 * a reference on the disk's device) and, for blk-mq, `mq/`
 * (`blk_mq_register_disk()`, whose failure v4.4 ignores).
 *
 * @returns 0, or -errno when `queue/` cannot be added (v4.4 then keeps the device reference)
 */
export function* blkRegisterQueue(disk: Gendisk): Sleepable<number> {
  const q = disk.queue;
  if (q === null) {
    disk.block.kernel.log.warn("block/blk-sysfs.c:blk_register_queue", "WARN_ON(!q)");
    return -ERRNO.ENXIO;
  }
  if (!q.initDone) {
    q.setFlag(QUEUE_FLAG_INIT_DONE);
    yield* q.qUsageCounter.switchToPercpu();
    blkQueueBypassEnd(q);
  }
  try {
    q.kobj.add(disk.kobj.get(), "queue");
    q.kernel.sysfs.createFiles(q.kobj, q, BLK_QUEUE_ATTRS);
  } catch (e) {
    if (e instanceof KernelError) return e.errno;
    throw e;
  }
  if (q.isMq) {
    try {
      yield* blkMqRegisterDisk(disk);
    } catch (e) {
      if (!(e instanceof KernelError)) throw e;
    }
  }
  return 0;
}

/**
 * Mirrors `blk_unregister_queue()` (v4.4): `mq/` for blk-mq
 * (`blk_mq_unregister_disk()`), then `queue/` (waiting for shows and stores
 * in progress), and the device reference registration took.
 */
export function* blkUnregisterQueue(disk: Gendisk): Sleepable {
  const q = disk.queue;
  if (q === null) {
    disk.block.kernel.log.warn("block/blk-sysfs.c:blk_unregister_queue", "WARN_ON(!q)");
    return;
  }
  if (q.isMq) yield* blkMqUnregisterDisk(disk);
  yield* q.kernel.sysfs.kobjectDelSync(q.kobj);
  disk.kobj.put();
}
