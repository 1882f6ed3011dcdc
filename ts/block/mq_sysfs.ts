// SPDX-License-Identifier: GPL-2.0-only
/**
 * `/sys/block/<disk>/mq/` (block/blk-mq-sysfs.c, v4.4): the `mq` kobject
 * under the disk, one `<n>` directory per MAPPED hctx (67aec14ce8) and a
 * `cpu<N>` directory per ctx attached to it, with the v4.4 attributes.
 *
 * Lifetimes as in v4.4 (the use-after-free fix 76d697d107 was reverted by
 * 74170118b2): every kobject here has an empty release; the memory goes in
 * `blk_mq_release()`. `blk_mq_sysfs_init()` initializes the kobjects of
 * every possible CPU's ctx, not only the online ones (06a41a99d1), so a CPU
 * that comes online later can be added. Registration takes a reference on
 * the disk's device kobject and unregistration drops it with every other
 * reference registration took (8515736604). `mq_sysfs_init_done` says,
 * under `all_q_mutex`, whether hotplug may touch the directories
 * (4593fdbe7a). Show handlers take only `q->sysfs_lock` (60de074ba1) and
 * return -ENOENT once the queue is dying.
 *
 * @module
 */

import { errnoName, KernelError } from "../errors.ts";
import type { Kobject } from "../kernel/kobject.ts";
import type { Sleepable } from "../kernel/sched.ts";
import {
  ctxCompletedShow,
  ctxDispatchedShow,
  ctxMergedShow,
  CTX_PENDING_HEADER,
  hctxActiveShow,
  hctxCpuListShow,
  hctxDispatchedShow,
  hctxIoPollShow,
  HCTX_PENDING_HEADER,
  hctxQueuedShow,
  hctxRunShow,
  hctxTagsShow,
  type Sysfs,
  type SysfsAttribute,
  sysfsListShow,
  type SysfsPage,
} from "../sysfs/sysfs.ts";
import type { BlkMqCtx } from "./ctx.ts";
import type { Gendisk } from "./genhd.ts";
import { type BlkMqHwCtx, hctxLiveTags } from "./hctx.ts";
import { blkQueueSysfsLocked, type RequestQueue } from "./request_queue.ts";

/** `blk_mq_sysfs_release()`: nothing; the memory is freed in `blk_mq_release()`. */
const blkMqKtype = { release: () => {} };

function hctxAttr(name: string, show: (hctx: BlkMqHwCtx, page: SysfsPage) => number): SysfsAttribute<BlkMqHwCtx> {
  return { name, mode: 0o444, show: (hctx, page) => blkQueueSysfsLocked(hctx.queue, () => show(hctx, page)) };
}

function ctxAttr(name: string, show: (ctx: BlkMqCtx, page: SysfsPage) => number): SysfsAttribute<BlkMqCtx> {
  return { name, mode: 0o444, show: (ctx, page) => blkQueueSysfsLocked(ctx.queue, () => show(ctx, page)) };
}

/**
 * Mirrors `blk_mq_hw_sysfs_tags_show()` → `blk_mq_tag_sysfs_show()`: nothing
 * without tags. A map freed under the hctx (another queue of a shared set
 * unmapped this index first during a hotplug remap, and this queue's
 * directories are not yet rebuilt) is read after free in v4.4: reported as
 * KASAN does.
 */
function hctxTagsAttrShow(hctx: BlkMqHwCtx, page: SysfsPage): number {
  const tags = hctxLiveTags(hctx, "blk_mq_tag_sysfs_show");
  if (tags === null) return page.sprintf(hctxTagsShow(null));
  const bt = tags.bitmap(false);
  const br = tags.bitmap(true);
  return page.sprintf(hctxTagsShow({
    nrTags: tags.nrTags,
    nrReservedTags: tags.nrReserved,
    bitsPerWord: bt.shift,
    nrFree: bt.free,
    nrReserved: br.free,
    activeQueues: tags.activeQueues,
  }));
}

/** Mirrors `default_hw_ctx_attrs` (v4.4), in order: `mq/<n>/` files, all 0444. */
export const BLK_MQ_HW_ATTRS: readonly SysfsAttribute<BlkMqHwCtx>[] = [
  hctxAttr("queued", (h, p) => p.sprintf(hctxQueuedShow(h.queued))),
  hctxAttr("run", (h, p) => p.sprintf(hctxRunShow(h.run))),
  hctxAttr("dispatched", (h, p) => p.sprintf(hctxDispatchedShow(h.dispatched))),
  hctxAttr("pending", (h, p) => {
    h.lock.lock("blk_mq_hw_sysfs_rq_list_show");
    try {
      return sysfsListShow(p, HCTX_PENDING_HEADER, h.dispatch);
    } finally {
      h.lock.unlock("blk_mq_hw_sysfs_rq_list_show");
    }
  }),
  hctxAttr("tags", hctxTagsAttrShow),
  hctxAttr("cpu_list", (h, p) => p.sprintf(hctxCpuListShow(h.cpumask))),
  hctxAttr("active", (h, p) => p.sprintf(hctxActiveShow(h.nrActive))),
  hctxAttr("io_poll", (h, p) => p.sprintf(hctxIoPollShow({ invoked: h.pollInvoked, success: h.pollSuccess }))),
];

/** Mirrors `default_ctx_attrs` (v4.4), in order: `mq/<n>/cpu<N>/` files, all 0444. */
export const BLK_MQ_CTX_ATTRS: readonly SysfsAttribute<BlkMqCtx>[] = [
  ctxAttr("dispatched", (c, p) => p.sprintf(ctxDispatchedShow({ sync: c.rqDispatched[1], async: c.rqDispatched[0] }))),
  ctxAttr("merged", (c, p) => p.sprintf(ctxMergedShow(c.rqMerged))),
  ctxAttr("completed", (c, p) => p.sprintf(ctxCompletedShow({ sync: c.rqCompleted[1], async: c.rqCompleted[0] }))),
  ctxAttr("rq_list", (c, p) => {
    c.lock.lock("blk_mq_sysfs_rq_list_show");
    try {
      return sysfsListShow(p, CTX_PENDING_HEADER, c.rqList);
    } finally {
      c.lock.unlock("blk_mq_sysfs_rq_list_show");
    }
  }),
];

/**
 * `kobject_add()` plus the ktype's default attributes, as
 * `kobject_add_internal()` → `populate_dir()` creates them.
 *
 * @returns 0 or -errno
 */
function addWithAttrs<T>(sysfs: Sysfs, kobj: Kobject, parent: Kobject, name: string, obj: T, attrs: readonly SysfsAttribute<T>[]): number {
  try {
    kobj.add(parent, name);
    if (attrs.length > 0) sysfs.createFiles(kobj, obj, attrs);
    return 0;
  } catch (e) {
    if (e instanceof KernelError) return e.errno;
    throw e;
  }
}

/** Mirrors `blk_mq_register_hctx()` (v4.4): nothing for an unmapped hctx. @returns 0 or -errno */
function blkMqRegisterHctx(hctx: BlkMqHwCtx): number {
  if (hctx.nrCtx === 0) return 0;
  const sysfs = hctx.queue.kernel.sysfs;
  let ret = addWithAttrs(sysfs, hctx.kobj, hctx.queue.mqKobj, `${hctx.queueNum}`, hctx, BLK_MQ_HW_ATTRS);
  if (ret !== 0) return ret;
  for (let i = 0; i < hctx.nrCtx; i++) {
    const ctx = hctx.ctxs[i];
    ret = addWithAttrs(sysfs, ctx.kobj, hctx.kobj, `cpu${ctx.cpu}`, ctx, BLK_MQ_CTX_ATTRS);
    if (ret !== 0) break;
  }
  return ret;
}

/** Mirrors `blk_mq_unregister_hctx()` (v4.4): `kobject_del()` the ctxs, then the hctx; waits for shows in progress. */
function* blkMqUnregisterHctx(hctx: BlkMqHwCtx): Sleepable {
  if (hctx.nrCtx === 0) return;
  const sysfs = hctx.queue.kernel.sysfs;
  for (let i = 0; i < hctx.nrCtx; i++) yield* sysfs.kobjectDelSync(hctx.ctxs[i].kobj);
  yield* sysfs.kobjectDelSync(hctx.kobj);
}

/** Mirrors `blk_mq_sysfs_init()` (v4.4): `kobject_init()` of mq, every hctx and every possible CPU's ctx. */
function blkMqSysfsInit(q: RequestQueue): void {
  q.mqKobj.init(blkMqKtype);
  for (const hctx of q.queueHwCtx) hctx.kobj.init(blkMqKtype);
  for (const ctx of q.queueCtx) ctx.kobj.init(blkMqKtype);
}

/**
 * Mirrors `blk_mq_register_disk()` (v4.4), under `all_q_mutex`
 * (`blk_mq_disable_hotplug()`): initializes the kobjects, adds `mq` under the
 * disk's device (taking a reference on it), then every mapped hctx and its
 * ctxs. On success `mq_sysfs_init_done` is set. As in v4.4, a failed `mq` add
 * keeps the device reference, and a failed hctx add calls
 * `blk_mq_unregister_disk()`, which takes `all_q_mutex` again (a
 * self-deadlock lockdep reports).
 *
 * @throws {KernelError} the failed kobject_add's code
 */
export function* blkMqRegisterDisk(disk: Gendisk): Sleepable {
  const q = disk.queue!;
  const block = q.block;
  yield* block.allQMutex.lock("blk_mq_register_disk");
  let ret = 0;
  try {
    blkMqSysfsInit(q);
    ret = addWithAttrs(q.kernel.sysfs, q.mqKobj, disk.kobj.get(), "mq", q, []);
    if (ret === 0) {
      for (const hctx of q.queueHwCtx) {
        ret = blkMqRegisterHctx(hctx);
        if (ret !== 0) break;
      }
      if (ret !== 0) yield* blkMqUnregisterDisk(disk);
      else q.mqSysfsInitDone = true;
    }
  } finally {
    block.allQMutex.unlock("blk_mq_register_disk");
  }
  if (ret !== 0) throw new KernelError(errnoName(ret), "blk_mq_register_disk");
}

/**
 * Mirrors `blk_mq_unregister_disk()` (v4.4), under `all_q_mutex`: removes
 * each hctx's directories (waiting for shows in progress), puts every
 * attached ctx's and every hctx's kobject, removes and puts `mq`, and drops
 * the device reference registration took; `mq_sysfs_init_done` becomes false.
 */
export function* blkMqUnregisterDisk(disk: Gendisk): Sleepable {
  const q = disk.queue!;
  const block = q.block;
  const sysfs = q.kernel.sysfs;
  yield* block.allQMutex.lock("blk_mq_unregister_disk");
  for (const hctx of q.queueHwCtx) {
    yield* blkMqUnregisterHctx(hctx);
    for (let i = 0; i < hctx.nrCtx; i++) hctx.ctxs[i].kobj.put();
    hctx.kobj.put();
  }
  yield* sysfs.kobjectDelSync(q.mqKobj);
  q.mqKobj.put();
  disk.kobj.put();
  q.mqSysfsInitDone = false;
  block.allQMutex.unlock("blk_mq_unregister_disk");
}

/** Mirrors `blk_mq_sysfs_unregister()` (v4.4): the hctx/ctx directories only, and only once registered. */
export function* blkMqSysfsUnregister(q: RequestQueue): Sleepable {
  if (!q.mqSysfsInitDone) return;
  for (const hctx of q.queueHwCtx) yield* blkMqUnregisterHctx(hctx);
}

/**
 * Mirrors `blk_mq_sysfs_register()` (v4.4): the mapped hctxs' directories
 * again, after a remap.
 *
 * @returns 0 or the first failed add's -errno (hotplug ignores it, as v4.4 does)
 */
export function blkMqSysfsRegister(q: RequestQueue): number {
  if (!q.mqSysfsInitDone) return 0;
  for (const hctx of q.queueHwCtx) {
    const ret = blkMqRegisterHctx(hctx);
    if (ret !== 0) return ret;
  }
  return 0;
}
