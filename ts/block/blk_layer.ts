// SPDX-License-Identifier: GPL-2.0-only
/**
 * The block layer of one simulated kernel: the global state block/blk-core.c,
 * block/blk-mq.c, block/blk-mq-cpu.c and block/genhd.c keep in statics, as
 * one object per {@link Kernel} (`kernel.block`).
 *
 * - `all_q_list` / `all_q_mutex`: every blk-mq queue, for CPU hotplug;
 * - the CPU hotplug notifiers `blk_mq_init()` registers: the per-hctx chain
 *   (`blk_mq_main_cpu_notify`, under a raw spinlock) and
 *   `blk_mq_queue_reinit_notify` (ts/block/hotplug.ts);
 * - `kblockd`, the workqueue hardware queues run on;
 * - the `/sys/block` directory: a parentless kobject named "block" under
 *   which disks appear;
 * - queue ids (`blk_queue_ida`), block majors (`register_blkdev()`) and the
 *   names of the disks added.
 *
 * @module
 */

import { KernelError } from "../errors.ts";
import { type CpuHotplug, NOTIFY_OK } from "../kernel/cpu.ts";
import type { Kernel } from "../kernel/kernel.ts";
import { Kobject } from "../kernel/kobject.ts";
import { Mutex } from "../kernel/mutex.ts";
import { Spinlock } from "../kernel/spinlock.ts";
import { type Workqueue, WQ_HIGHPRI, WQ_MEM_RECLAIM } from "../kernel/workqueue.ts";
import type { Gendisk } from "./genhd.ts";
import type { BlkMqCpuNotifier } from "./hctx.ts";
import { blkMqQueueReinitNotify } from "./hotplug.ts";
import { bindBlockHostCalls } from "./_host.ts";
import { Q, type RequestQueue } from "./request_queue.ts";

/** Mirrors `BLKDEV_MAJOR_HASH_SIZE`: majors 1..254 can be registered (0 asks for a dynamic one). */
export const BLKDEV_MAJOR_HASH_SIZE = 255;
/** Mirrors `BLOCK_EXT_MAJOR`. */
export const BLOCK_EXT_MAJOR = 259;

/** Mirrors `struct ida` for small ids: the lowest free one. */
class Ida {
  readonly #used = new Set<number>();

  get(): number {
    let id = 0;
    while (this.#used.has(id)) id++;
    this.#used.add(id);
    return id;
  }

  remove(id: number): void {
    if (!this.#used.delete(id)) throw new RangeError(`ida_simple_remove: id ${id} is not allocated`);
  }

  get size(): number {
    return this.#used.size;
  }
}

/**
 * The block layer's global state, one per kernel. Created by the Kernel
 * after its sysfs, so /sys/block exists from boot.
 *
 * @example
 * const k = new Kernel({ cpus: 4 });
 * k.block.allQList.length;     // 0
 * k.sysfs.ls("/sys/block");    // []
 */
export class BlockLayer {
  readonly kernel: Kernel;
  /** `all_q_list`: every blk-mq queue between init and `blk_mq_free_queue()`. */
  readonly allQList: RequestQueue[] = [];
  /** `all_q_mutex`: taken by hotplug reinit, queue init/free and disk (un)registration; never by a show. */
  readonly allQMutex: Mutex;
  /** The `/sys/block` kobject: disks are added under it. */
  readonly root: Kobject<BlockLayer>;
  /** `kblockd_workqueue` (WQ_MEM_RECLAIM | WQ_HIGHPRI). */
  readonly kblockd: Workqueue;
  /** `blk_mq_cpu_notify_lock`: a raw spinlock around the per-hctx notifier list. */
  readonly cpuNotifyLock: Spinlock;
  /**
   * @internal Queue id → the queue, from `blk_alloc_queue_node()` until its
   * id is freed (what `rq->q` and `bdev_get_queue()` find), and the disk
   * `add_disk()` gave it (`rq->rq_disk`; kept after `del_gendisk()`, since
   * the kernel's gendisk outlives the requests that drain afterwards).
   */
  readonly queueById: ({ readonly q: RequestQueue; disk: Gendisk | null } | undefined)[] = [];
  /**
   * Whether `submitBioTry()` (ts/block/blk_mq_request.ts) hands a bio it may to the core's
   * make_request (asm/blk_mq_make_request.ts), one call per bio; false sends
   * every bio down the TypeScript path, which the tests compare it with.
   */
  coreMakeRequest = true;
  readonly #cpuNotifyList: BlkMqCpuNotifier[] = [];
  readonly #queueIds = new Ida();
  readonly #majors = new Map<number, string>();
  readonly #disks = new Map<string, Gendisk>();

  constructor(kernel: Kernel) {
    this.kernel = kernel;
    bindBlockHostCalls(kernel);
    const s = kernel.sched;
    this.allQMutex = new Mutex(s, "all_q_mutex");
    this.cpuNotifyLock = new Spinlock(s, "blk_mq_cpu_notify_lock");
    this.kblockd = kernel.workqueues.allocWorkqueue("kblockd", WQ_MEM_RECLAIM | WQ_HIGHPRI, 0);
    this.root = new Kobject<BlockLayer>(kernel.kobjects, { container: this, site: "genhd_device_init" });
    this.root.initAndAdd({ release: () => {} }, null, "block");
    kernel.kmemleak.notLeak(this.root);
    // blk_mq_init(): blk_mq_cpu_init() first, then the reinit notifier, both priority 0.
    kernel.cpus.hotcpuNotifier((action, cpu) => this.#mainCpuNotify(action, cpu), 0, "blk_mq_main_cpu_notify");
    kernel.cpus.hotcpuNotifier((action, cpu) => blkMqQueueReinitNotify(this, action, cpu), 0, "blk_mq_queue_reinit_notify");
  }

  /** The machine's CPU hotplug (for the reinit notifier's users). */
  get hotplug(): CpuHotplug {
    return this.kernel.hotplug;
  }

  // ---- queue ids ------------------------------------------------------------

  /** Mirrors `ida_simple_get(&blk_queue_ida)`. */
  allocQueueId(): number {
    return this.#queueIds.get();
  }

  /** @internal blk_alloc_queue_node() records its queue under its id. */
  registerQueue(q: RequestQueue): void {
    this.queueById[q.id] = { q, disk: null };
  }

  /** Mirrors `ida_simple_remove(&blk_queue_ida)`. */
  freeQueueId(id: number): void {
    this.queueById[id] = undefined;
    this.#queueIds.remove(id);
  }

  /** Queue ids in use: queues allocated and not yet released. */
  get nrQueueIds(): number {
    return this.#queueIds.size;
  }

  // ---- the per-hctx CPU notifiers (block/blk-mq-cpu.c) -----------------------

  /** Mirrors `blk_mq_register_cpu_notifier()`. */
  registerCpuNotifier(n: BlkMqCpuNotifier): void {
    this.cpuNotifyLock.lock("blk_mq_register_cpu_notifier");
    this.#cpuNotifyList.push(n);
    this.cpuNotifyLock.unlock("blk_mq_register_cpu_notifier");
  }

  /** Mirrors `blk_mq_unregister_cpu_notifier()`. */
  unregisterCpuNotifier(n: BlkMqCpuNotifier): void {
    this.cpuNotifyLock.lock("blk_mq_unregister_cpu_notifier");
    const i = this.#cpuNotifyList.indexOf(n);
    if (i >= 0) this.#cpuNotifyList.splice(i, 1);
    this.cpuNotifyLock.unlock("blk_mq_unregister_cpu_notifier");
  }

  /** How many per-hctx notifiers are registered (one per live hctx). */
  get nrCpuNotifiers(): number {
    return this.#cpuNotifyList.length;
  }

  /** Mirrors `blk_mq_main_cpu_notify()`: each hctx's notifier in turn, under the raw spinlock, until one is not NOTIFY_OK. */
  #mainCpuNotify(action: number, cpu: number): number {
    let ret = NOTIFY_OK;
    this.cpuNotifyLock.lock("blk_mq_main_cpu_notify");
    try {
      for (const n of [...this.#cpuNotifyList]) {
        ret = n.notify(n.data, action, cpu);
        if (ret !== NOTIFY_OK) break;
      }
    } finally {
      this.cpuNotifyLock.unlock("blk_mq_main_cpu_notify");
    }
    return ret;
  }

  // ---- majors and disk names (block/genhd.c) --------------------------------

  /**
   * Mirrors `register_blkdev()` (v4.4): major 0 takes the highest free
   * dynamic major (254 down to 1).
   *
   * @returns the major
   * @throws {KernelError} EBUSY when the major (or every dynamic one) is taken
   * @throws {RangeError} for a major outside [0, 254]
   */
  registerBlkdev(major: number, name: string): number {
    if (!(Number.isInteger(major) && major >= 0 && major < BLKDEV_MAJOR_HASH_SIZE)) {
      throw new RangeError(`register_blkdev: major ${major} out of range [0, ${BLKDEV_MAJOR_HASH_SIZE - 1}]`);
    }
    if (major === 0) {
      for (let m = BLKDEV_MAJOR_HASH_SIZE - 1; m > 0; m--) {
        if (!this.#majors.has(m)) {
          major = m;
          break;
        }
      }
      if (major === 0) {
        this.kernel.log.printk("warning", `register_blkdev: failed to get major for ${name}`);
        throw new KernelError("EBUSY", "register_blkdev");
      }
    } else if (this.#majors.has(major)) {
      this.kernel.log.printk("warning", `register_blkdev: cannot get major ${major} for ${name}`);
      throw new KernelError("EBUSY", "register_blkdev");
    }
    this.#majors.set(major, name);
    return major;
  }

  /** Mirrors `unregister_blkdev()`: WARNs when `major` is not registered under `name`. */
  unregisterBlkdev(major: number, name: string): void {
    if (this.#majors.get(major) !== name) {
      this.kernel.log.warn("block/genhd.c:unregister_blkdev", "WARN_ON(strcmp(p->name, name))");
      return;
    }
    this.#majors.delete(major);
  }

  /** The name a major is registered under, if any (`/proc/devices`). */
  majorName(major: number): string | undefined {
    return this.#majors.get(major);
  }

  /** The added disk called `name` (`/sys/block/<name>`). */
  disk(name: string): Gendisk | undefined {
    return this.#disks.get(name);
  }

  /** The names of the added disks, in the order they were added. */
  diskNames(): string[] {
    return [...this.#disks.keys()];
  }

  /**
   * The live queue whose record is at `addr` (what the core names a queue
   * by in its host calls), or undefined: the record's id leads to the
   * queue, which must still own that record.
   */
  queueByRecord(addr: number): RequestQueue | undefined {
    const e = this.queueById[this.kernel.dv.getUint32(addr + Q.ID, true)];
    return e !== undefined && e.q.addr === addr ? e.q : undefined;
  }

  /** @internal add_disk() claims a name. @throws {KernelError} EEXIST when taken */
  claimDiskName(disk: Gendisk): void {
    if (this.#disks.has(disk.diskName)) throw new KernelError("EEXIST", "add_disk", disk.diskName);
    this.#disks.set(disk.diskName, disk);
    const e = disk.queue === null ? undefined : this.queueById[disk.queue.id];
    if (e !== undefined && e.q === disk.queue) {
      e.disk = disk;
      e.q.part0Addr = disk.part0.ptr;
    }
  }

  /** @internal del_gendisk() releases it. */
  releaseDiskName(disk: Gendisk): void {
    if (this.#disks.get(disk.diskName) === disk) this.#disks.delete(disk.diskName);
  }
}
