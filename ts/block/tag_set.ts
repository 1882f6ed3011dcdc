// SPDX-License-Identifier: GPL-2.0-only
/**
 * Tag sets: what a blk-mq driver describes (`struct blk_mq_tag_set`,
 * include/linux/blk-mq.h, v4.4) and what `blk_mq_alloc_tag_set()` builds
 * from it: one tag map with its request records per hardware queue index
 * (`blk_mq_init_rq_map()`), and the list of queues sharing the set with the
 * v4.4 BLK_MQ_F_TAG_SHARED transitions.
 *
 * @module
 */

import { KernelError } from "../errors.ts";
import { CpuMask } from "../kernel/cpu.ts";
import { Mutex } from "../kernel/mutex.ts";
import { type Sleepable, Task } from "../kernel/sched.ts";
import { PAGE_SIZE } from "../kernel/slab.ts";
import { BlockMemory } from "./_mem.ts";
import { MAX_HW_QUEUES } from "./cpumap.ts";
import type { BlockLayer } from "./blk_layer.ts";
import { BLK_MQ_F_ALLOC_POLICY_START_BIT, BLK_MQ_F_TAG_SHARED, type BlkMqHwCtx, HCTX, NUMA_NO_NODE } from "./hctx.ts";
import type { RequestQueue } from "./request_queue.ts";
import { blkMqFreezeQueue, blkMqUnfreezeQueue } from "./request_queue.ts";
import { requestRecordSize } from "./request_record.ts";
import { BLK_MQ_MAX_DEPTH, BlkMqTags, type TagEra } from "./tags.ts";

/** Mirrors `BLK_MQ_TAG_MIN`: the fewest normal tags a set may have. */
export const BLK_MQ_TAG_MIN = 1;
/** Mirrors `BLK_MQ_RQ_QUEUE_OK` / `_BUSY` / `_ERROR`: what `queue_rq` returns. */
export const BLK_MQ_RQ_QUEUE_OK = 0;
export const BLK_MQ_RQ_QUEUE_BUSY = 1;
export const BLK_MQ_RQ_QUEUE_ERROR = 2;
/** `max_order` of `blk_mq_init_rq_map()`: request memory comes in blocks of at most 64 KiB. */
const RQ_MAP_MAX_ORDER = 4;
const U32_MAX = 0xffffffff;

/**
 * Mirrors `struct blk_mq_queue_data` (v4.4): what `queue_rq` gets besides
 * the hctx. Like the kernel's (on the dispatcher's stack), it is valid only
 * during the call: a run hands the same object, refilled, to each request.
 */
export interface BlkMqQueueData {
  /** The request record. */
  rq: number;
  /**
   * `bd->list`: null for the first request of a run (and for a direct
   * issue); once at least two requests still waited after one was sent, the
   * run's local driver list for every later request. v4.4 hands it out but
   * never looks at it again, and neither does the port.
   */
  list: number[] | null;
  /** Nothing more follows in this run. */
  last: boolean;
}

/**
 * Mirrors `struct blk_mq_ops` (include/linux/blk-mq.h, v4.4). `queueRq` and
 * `mapQueue` are required, as `blk_mq_alloc_tag_set()` checks; callbacks
 * that the kernel lets fail return 0 or a negative errno.
 */
export interface BlkMqOps {
  /** `queue_rq`: returns BLK_MQ_RQ_QUEUE_OK / BUSY / ERROR (the I/O path calls it). */
  queueRq(hctx: BlkMqHwCtx, bd: BlkMqQueueData): number;
  /** `map_queue`: the hctx of a CPU; drivers pass {@link blkMqMapQueue}. */
  mapQueue(q: RequestQueue, cpu: number): BlkMqHwCtx;
  /** `init_hctx(hctx, set->driver_data, hctx_idx)`: nonzero fails the queue's creation. */
  initHctx?(hctx: BlkMqHwCtx, driverData: unknown, hctxIdx: number): number;
  /** `exit_hctx(hctx, hctx_idx)`. */
  exitHctx?(hctx: BlkMqHwCtx, hctxIdx: number): void;
  /** `init_request(driver_data, rq, hctx_idx, request_idx, numa_node)`: nonzero fails the map. */
  initRequest?(driverData: unknown, rq: number, hctxIdx: number, requestIdx: number, numaNode: number): number;
  /** `exit_request(driver_data, rq, hctx_idx, request_idx)`. */
  exitRequest?(driverData: unknown, rq: number, hctxIdx: number, requestIdx: number): void;
  /** `complete`: the softirq done function. */
  complete?(rq: number): void;
  /** `timeout(rq, reserved)`: a BLK_EH_* value. */
  timeout?(rq: number, reserved: boolean): number;
  /** `poll(hctx, tag)`. */
  poll?(hctx: BlkMqHwCtx, tag: number): number;
  /**
   * The port's: a `queue_rq` the core runs itself (asm/null_blk.ts), named
   * by its BLK_MQ_INLINE_* code, for as long as {@link BlkMqOps.queueRq} is
   * still `queueRq` here (a caller that wraps queueRq gets its wrapper
   * called).
   */
  inline?: BlkMqInlineQueueRq;
}

/** {@link BlkMqOps.inline}: the driver's `queue_rq` and the code of the core's copy of it. */
export interface BlkMqInlineQueueRq {
  readonly queueRq: BlkMqOps["queueRq"];
  /** A BLK_MQ_INLINE_* code (ts/block/blk_mq_request.ts). */
  readonly driver: number;
}

/** What a driver fills in before `blk_mq_alloc_tag_set()`. */
export interface BlkMqTagSetOptions {
  ops: BlkMqOps;
  /** `nr_hw_queues`: not capped to the CPUs in v4.4. */
  nrHwQueues: number;
  /** `queue_depth`: tags per hardware queue, reserved included. */
  queueDepth: number;
  /** `reserved_tags`; default 0. */
  reservedTags?: number;
  /** `cmd_size`: driver payload bytes behind each request; default 0. */
  cmdSize?: number;
  /** `numa_node`; default NUMA_NO_NODE. */
  numaNode?: number;
  /** `timeout` in jiffies; 0 (default) means 30 s. */
  timeout?: number;
  /** `flags` (BLK_MQ_F_*); default 0. */
  flags?: number;
  /** `driver_data`. */
  driverData?: unknown;
  /** The tag allocator's era; default "v4.4". */
  era?: TagEra;
}

/**
 * One hardware queue index's tag map and request memory: v4.4 keeps both in
 * `struct blk_mq_tags` (`tags->rqs[]`, `tags->page_list`, `tags->cpumask`);
 * the port wraps the {@link BlkMqTags} bitmap with them.
 */
export class BlkMqRqMap {
  /** The bitmap tags. */
  readonly tags: BlkMqTags;
  /** Address of `tags->rqs[]`: `nr_tags` u32 request record addresses (0: none). */
  readonly rqs: number;
  /** `tags->nr_tags`. */
  readonly nrTags: number;
  /** Bytes from one request record to the next. */
  readonly rqSize: number;
  /** `tags->page_list`: the page blocks holding the records. */
  readonly pages: number[] = [];
  /** `tags->cpumask`: every online CPU ever mapped to this index (never cleared in v4.4). */
  readonly cpumask: CpuMask;
  /** `blk_mq_free_rq_map()` has run: the memory is gone. */
  freed = false;
  readonly #memory: BlockMemory;
  #rqsBuf: ArrayBuffer = new ArrayBuffer(0);
  #rqs: Uint32Array = new Uint32Array(0);

  /** @internal use {@link blkMqInitRqMap} */
  constructor(tags: BlkMqTags, rqs: number, rqSize: number, nrCpuIds: number, memory: BlockMemory) {
    this.tags = tags;
    this.rqs = rqs;
    this.nrTags = tags.nrTags;
    this.rqSize = rqSize;
    this.cpumask = new CpuMask(nrCpuIds);
    this.#memory = memory;
  }

  /** `tags->rqs[i]`: the request record of tag `i`, 0 when none. */
  rq(i: number): number {
    if (!(Number.isInteger(i) && i >= 0 && i < this.nrTags)) throw new RangeError(`rq: tag ${i} out of range [0, ${this.nrTags})`);
    return this.#rqsView()[i];
  }

  /** @internal */
  setRq(i: number, addr: number): void {
    this.#rqsView()[i] = addr;
  }

  /**
   * `tags->rqs[]` as a view, made again only after memory.grow() detached
   * the buffer it was made over (that buffer's byteLength is then 0): one
   * view per map instead of one per lookup.
   */
  #rqsView(): Uint32Array {
    if (this.#rqsBuf.byteLength === 0) {
      this.#rqsBuf = this.tags.core.memory.buffer;
      this.#rqs = new Uint32Array(this.#rqsBuf, this.rqs, this.nrTags);
    }
    return this.#rqs;
  }

  /** @internal */
  get memory(): BlockMemory {
    return this.#memory;
  }
}

/**
 * Mirrors `struct blk_mq_tag_set` (include/linux/blk-mq.h, v4.4), made by
 * {@link blkMqAllocTagSet}.
 */
export class BlkMqTagSet {
  readonly block: BlockLayer;
  readonly ops: BlkMqOps;
  /** `nr_hw_queues`. */
  readonly nrHwQueues: number;
  /** `queue_depth`: may be lowered by the allocation (capped, halved on ENOMEM). */
  queueDepth: number;
  /** `reserved_tags`. */
  readonly reservedTags: number;
  /** `cmd_size`. */
  readonly cmdSize: number;
  /** `numa_node`. */
  readonly numaNode: number;
  /** `timeout` (jiffies; 0: the 30 s default). */
  readonly timeout: number;
  /** `flags`: BLK_MQ_F_TAG_SHARED comes and goes with the queues. */
  flags: number;
  /** `driver_data`. */
  readonly driverData: unknown;
  readonly era: TagEra;
  /** `set->tags[]` (null entries for indexes whose map was freed); null after `blkMqFreeTagSet()`. */
  tags: (BlkMqRqMap | null)[] | null;
  /** `tag_list_lock`. */
  readonly tagListLock: Mutex;
  /** `tag_list`: the queues using the set, in the order they joined. */
  readonly tagList: RequestQueue[] = [];
  /** @internal where maps and records come from */
  readonly memory: BlockMemory;

  /** @internal use {@link blkMqAllocTagSet} */
  constructor(block: BlockLayer, o: Required<Omit<BlkMqTagSetOptions, "driverData">> & { driverData: unknown }) {
    this.block = block;
    this.ops = o.ops;
    this.nrHwQueues = o.nrHwQueues;
    this.queueDepth = o.queueDepth;
    this.reservedTags = o.reservedTags;
    this.cmdSize = o.cmdSize;
    this.numaNode = o.numaNode;
    this.timeout = o.timeout;
    this.flags = o.flags;
    this.driverData = o.driverData;
    this.era = o.era;
    this.tags = new Array<BlkMqRqMap | null>(o.nrHwQueues).fill(null);
    const k = block.kernel;
    this.tagListLock = new Mutex(k.sched, "&set->tag_list_lock");
    this.memory = new BlockMemory(k.slab, k.kmemleak, "blk_mq_init_rq_map");
  }

  /** Whether BLK_MQ_F_TAG_SHARED is set on the set. */
  get shared(): boolean {
    return (this.flags & BLK_MQ_F_TAG_SHARED) !== 0;
  }
}

/**
 * Mirrors `blk_mq_map_queue()` (block/blk-mq.c, v4.4):
 * `q->queue_hw_ctx[q->mq_map[cpu]]`, read from the queue record by the
 * core's `blk_mq_map_queue()` (asm/blk_queue.ts), the default `map_queue`.
 *
 * @throws {RangeError} when `cpu` is not below nr_cpu_ids or the queue has no CPU map (or was freed)
 */
export function blkMqMapQueue(q: RequestQueue, cpu: number): BlkMqHwCtx {
  const k = q.kernel;
  const addr = q.addr;
  const hctx = addr === 0 ? 0 : k.core.blk_mq_map_queue(addr, cpu);
  if (hctx === 0) throw new RangeError(`blk_mq_map_queue: queue ${q.id} has no hctx for cpu ${cpu}`);
  return q.queueHwCtx[k.dv.getUint32(hctx + HCTX.QUEUE_NUM, true)];
}

function checkUint(op: string, name: string, v: unknown, max: number): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > max) {
    throw new RangeError(`${op}: ${name} must be an integer in [0, ${max}], got ${String(v)}`);
  }
  return v;
}

/**
 * Mirrors `blk_mq_alloc_tag_set()` (block/blk-mq.c, v4.4): validates the
 * set, caps `queue_depth` at BLK_MQ_MAX_DEPTH (logging "blk-mq: reduced tag
 * depth to 10240"), and builds a tag map with request records for every
 * hardware queue index, halving the depth while memory is short. As in v4.4
 * `nr_hw_queues` is not capped to the CPUs: indexes no CPU maps to lose their
 * map when a queue is created (`blk_mq_map_swqueue()`).
 *
 * @throws {TypeError} / {RangeError} on malformed options (not integers, ops
 *   missing, more than MAX_HW_QUEUES = 4096 hardware queues: the CPU map's limit)
 * @throws {KernelError} EINVAL when `nr_hw_queues` or `queue_depth` is 0,
 *   `queue_depth < reserved_tags + 1`, or `queue_rq` / `map_queue` is
 *   missing; ENOMEM when no depth fits in memory (or `init_request` fails)
 */
export function blkMqAllocTagSet(block: BlockLayer, opts: BlkMqTagSetOptions): BlkMqTagSet {
  const op = "blk_mq_alloc_tag_set";
  if (opts === null || typeof opts !== "object") throw new TypeError(`${op}: options must be an object`);
  if (opts.ops === null || typeof opts.ops !== "object") throw new TypeError(`${op}: ops must be an object`);
  const nrHwQueues = checkUint(op, "nrHwQueues", opts.nrHwQueues, MAX_HW_QUEUES);
  let queueDepth = checkUint(op, "queueDepth", opts.queueDepth, U32_MAX);
  const reservedTags = checkUint(op, "reservedTags", opts.reservedTags ?? 0, U32_MAX);
  const cmdSize = checkUint(op, "cmdSize", opts.cmdSize ?? 0, 1 << 20);
  const timeout = checkUint(op, "timeout", opts.timeout ?? 0, U32_MAX);
  const flags = checkUint(op, "flags", opts.flags ?? 0, U32_MAX);
  const numaNode = opts.numaNode ?? NUMA_NO_NODE;
  if (!Number.isInteger(numaNode)) throw new RangeError(`${op}: numaNode must be an integer`);
  const era = opts.era ?? "v4.4";
  if (nrHwQueues === 0) throw new KernelError("EINVAL", op, "nr_hw_queues is 0");
  if (queueDepth === 0) throw new KernelError("EINVAL", op, "queue_depth is 0");
  if (queueDepth < reservedTags + BLK_MQ_TAG_MIN) throw new KernelError("EINVAL", op, "queue_depth < reserved_tags + BLK_MQ_TAG_MIN");
  if (typeof opts.ops.queueRq !== "function" || typeof opts.ops.mapQueue !== "function") {
    throw new KernelError("EINVAL", op, "queue_rq and map_queue are required");
  }
  const log = block.kernel.log;
  if (queueDepth > BLK_MQ_MAX_DEPTH) {
    log.printk("info", `blk-mq: reduced tag depth to ${BLK_MQ_MAX_DEPTH}`);
    queueDepth = BLK_MQ_MAX_DEPTH;
  }
  const set = new BlkMqTagSet(block, {
    ops: opts.ops,
    nrHwQueues,
    queueDepth,
    reservedTags,
    cmdSize,
    numaNode,
    timeout,
    flags,
    driverData: opts.driverData ?? null,
    era,
  });
  // set->tags = kmalloc_node(nr_hw_queues * sizeof(struct blk_mq_tags *))
  block.kernel.kmemleak.track(set.tags!, { size: 8 * nrHwQueues, cache: "kmalloc", site: op });
  if (!blkMqAllocRqMaps(set)) {
    block.kernel.kmemleak.untrack(set.tags!, "kfree");
    set.tags = null;
    throw new KernelError("ENOMEM", op);
  }
  return set;
}

/** Mirrors `__blk_mq_alloc_rq_maps()`: a map for every index, or none. */
function allocRqMapsOnce(set: BlkMqTagSet): boolean {
  const tags = set.tags!;
  for (let i = 0; i < set.nrHwQueues; i++) {
    tags[i] = blkMqInitRqMap(set, i);
    if (tags[i] === null) {
      while (--i >= 0) {
        blkMqFreeRqMap(set, tags[i]!, i);
        tags[i] = null;
      }
      return false;
    }
  }
  return true;
}

/**
 * Mirrors `blk_mq_alloc_rq_maps()` (v4.4): on failure halve `queue_depth`
 * and retry while it stays at least `reserved_tags + 1`.
 */
function blkMqAllocRqMaps(set: BlkMqTagSet): boolean {
  const log = set.block.kernel.log;
  const depth = set.queueDepth;
  let ok = false;
  do {
    if (allocRqMapsOnce(set)) {
      ok = true;
      break;
    }
    set.queueDepth >>>= 1;
    if (set.queueDepth < set.reservedTags + BLK_MQ_TAG_MIN) break;
  } while (set.queueDepth !== 0);
  if (!ok) {
    log.printk("err", "blk-mq: failed to allocate request map");
    return false;
  }
  if (depth !== set.queueDepth) log.printk("info", `blk-mq: reduced tag depth (${depth} -> ${set.queueDepth})`);
  return true;
}

/** Mirrors `BLK_MQ_FLAG_TO_ALLOC_POLICY()`. */
function allocPolicy(flags: number): "fifo" | "rr" {
  return ((flags >>> BLK_MQ_F_ALLOC_POLICY_START_BIT) & 1) === 1 ? "rr" : "fifo";
}

/**
 * Mirrors `blk_mq_init_rq_map()` (block/blk-mq.c, v4.4): the tag map of index
 * `hctxIdx`, the `rqs[]` array, and the request records, carved from zeroed
 * page blocks of at most order 4 (falling back to smaller orders while a
 * block still holds a record), each handed to the driver's `init_request`.
 *
 * @returns the map, or null when memory (or `init_request`) fails; nothing is left allocated then
 */
export function blkMqInitRqMap(set: BlkMqTagSet, hctxIdx: number): BlkMqRqMap | null {
  const k = set.block.kernel;
  const mem = set.memory;
  let tags: BlkMqTags;
  try {
    tags = new BlkMqTags({
      core: k.core,
      memory: mem,
      depth: set.queueDepth,
      reserved: set.reservedTags,
      nrCtx: k.cpus.nrCpuIds,
      era: set.era,
      policy: allocPolicy(set.flags),
      onWake: (w) => {
        if (w.task instanceof Task) k.sched.wakeUpProcess(w.task);
      },
    });
  } catch (e) {
    if (e instanceof KernelError && e.code === "ENOMEM") return null;
    throw e;
  }
  const depth = set.queueDepth;
  const rqs = mem.alloc(depth * 4);
  if (rqs === 0) {
    tags.destroy();
    return null;
  }
  const rqSize = requestRecordSize(set.cmdSize);
  const map = new BlkMqRqMap(tags, rqs, rqSize, k.cpus.nrCpuIds, mem);
  let left = rqSize * depth;
  for (let i = 0; i < depth;) {
    let order = RQ_MAP_MAX_ORDER;
    while (order > 0 && left < (PAGE_SIZE << (order - 1))) order--;
    let page = 0;
    for (;;) {
      try {
        page = mem.allocPages(order);
        break;
      } catch (e) {
        if (!(e instanceof KernelError && e.code === "ENOMEM")) throw e;
        if (order-- === 0 || (PAGE_SIZE << order) < rqSize) break;
      }
    }
    if (page === 0) {
      blkMqFreeRqMap(set, map, hctxIdx);
      return null;
    }
    map.pages.push(page);
    const perBlock = Math.floor((PAGE_SIZE << order) / rqSize);
    const toDo = Math.min(perBlock, depth - i);
    left -= toDo * rqSize;
    for (let j = 0; j < toDo; j++, i++) {
      const rq = page + j * rqSize;
      map.setRq(i, rq);
      if (set.ops.initRequest && set.ops.initRequest(set.driverData, rq, hctxIdx, i, set.numaNode) !== 0) {
        map.setRq(i, 0);
        blkMqFreeRqMap(set, map, hctxIdx);
        return null;
      }
    }
  }
  return map;
}

/**
 * Mirrors `blk_mq_free_rq_map()` (v4.4): `exit_request` for every record,
 * then the page blocks, `rqs[]` and the tag map (`blk_mq_free_tags()`).
 */
export function blkMqFreeRqMap(set: BlkMqTagSet, map: BlkMqRqMap, hctxIdx: number): void {
  if (map.freed) throw new RangeError(`blk_mq_free_rq_map: the map of hctx ${hctxIdx} was already freed`);
  if (set.ops.exitRequest) {
    for (let i = 0; i < map.nrTags; i++) {
      const rq = map.rq(i);
      if (rq === 0) continue;
      set.ops.exitRequest(set.driverData, rq, hctxIdx, i);
      map.setRq(i, 0);
    }
  }
  for (const p of map.pages.splice(0)) map.memory.freePages(p);
  map.memory.kfree(map.rqs);
  map.tags.destroy();
  map.freed = true;
}

/**
 * Mirrors `blk_mq_free_tag_set()` (v4.4): frees every index's map that
 * still exists. Queues still using the set are not checked, as in v4.4.
 *
 * @throws {RangeError} when the set was already freed
 */
export function blkMqFreeTagSet(set: BlkMqTagSet): void {
  const tags = set.tags;
  if (tags === null) throw new RangeError("blk_mq_free_tag_set: the set was already freed");
  for (let i = 0; i < set.nrHwQueues; i++) {
    const m = tags[i];
    if (m !== null) blkMqFreeRqMap(set, m, i);
    tags[i] = null;
  }
  set.block.kernel.kmemleak.untrack(tags, "kfree");
  set.tags = null;
}

/** Mirrors `queue_set_hctx_shared()` (v4.4). */
export function queueSetHctxShared(q: RequestQueue, shared: boolean): void {
  for (const hctx of q.queueHwCtx) hctx.setShared(shared);
}

/** Mirrors `blk_mq_update_tag_set_depth()` (v4.4): freeze, flag, unfreeze each queue on the list. */
function* blkMqUpdateTagSetDepth(set: BlkMqTagSet, shared: boolean): Sleepable {
  for (const q of set.tagList) {
    yield* blkMqFreezeQueue(q);
    queueSetHctxShared(q, shared);
    yield* blkMqUnfreezeQueue(q);
  }
}

/**
 * Mirrors `blk_mq_add_queue_tag_set()` (v4.4): on the 1 → 2 transition the
 * set becomes shared and the queue already there is frozen, flagged and
 * unfrozen; a queue joining a shared set is flagged too.
 */
export function* blkMqAddQueueTagSet(set: BlkMqTagSet, q: RequestQueue): Sleepable {
  q.tagSet = set;
  yield* set.tagListLock.lock("blk_mq_add_queue_tag_set");
  if (set.tagList.length > 0 && !set.shared) {
    set.flags |= BLK_MQ_F_TAG_SHARED;
    yield* blkMqUpdateTagSetDepth(set, true);
  }
  if (set.shared) queueSetHctxShared(q, true);
  set.tagList.push(q);
  set.tagListLock.unlock("blk_mq_add_queue_tag_set");
}

/**
 * Mirrors `blk_mq_del_queue_tag_set()` (v4.4): when one queue remains the
 * set stops being shared and that queue is frozen, unflagged and unfrozen.
 */
export function* blkMqDelQueueTagSet(q: RequestQueue): Sleepable {
  const set = q.tagSet!;
  yield* set.tagListLock.lock("blk_mq_del_queue_tag_set");
  const i = set.tagList.indexOf(q);
  if (i >= 0) set.tagList.splice(i, 1);
  if (set.tagList.length === 1) {
    set.flags &= ~BLK_MQ_F_TAG_SHARED;
    yield* blkMqUpdateTagSetDepth(set, false);
  }
  set.tagListLock.unlock("blk_mq_del_queue_tag_set");
}
