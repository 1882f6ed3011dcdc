// SPDX-License-Identifier: GPL-2.0-only
/**
 * Tag maps: the per-hardware-queue tag allocator of blk-mq, with the v4.4
 * bitmap (block/blk-mq-tag.c) or the modern sbitmap (lib/sbitmap.c, v6.18)
 * behind one class. The bit work happens in WASM (asm/tags.ts,
 * asm/sbitmap.ts); this layer owns the memory, the wait queues' task lists,
 * argument checks and errors.
 *
 * Sleeping belongs to the scheduler. A tag map keeps the *state* of its 16
 * wait queues (ids 0–7 for the normal map, 8–15 for the reserved one) and the
 * tasks queued on each; every operation that frees or wakes returns a *wake
 * mask* (bit q = queue q had tasks woken), hands each woken {@link TagWaiter}
 * to the `onWake` callback and marks it `woken`. {@link getTagWait} is the
 * whole sleeping allocation (`bt_get()` / v6.18 `blk_mq_get_tag()`) over
 * those pieces for a generator-based scheduler.
 *
 * @example
 * ```ts
 * const core = instantiateCore("debug");
 * const tags = new BlkMqTags({ core, depth: 64, reserved: 1 }); // memory from kmalloc
 * const tag = tags.getTag(0);          // 1: normal tags follow the reserved one
 * tags.putTag(0, tag);                 // 0: nobody waits, nothing to wake
 * tags.destroy();
 * ```
 *
 * @module
 */

import { errnoName, KernelBug, KernelError } from "../errors.ts";
import type { CoreExports } from "../wasm/core.ts";

/** Which kernel the allocator follows: v4.4 bitmap tags or the v6.18 sbitmap. */
export type TagEra = "v4.4" | "modern";

/** `BLK_TAG_ALLOC_FIFO` (default) or `BLK_TAG_ALLOC_RR`. */
export type TagAllocPolicy = "fifo" | "rr";

/**
 * Where a tag map's memory comes from: addresses in the core's linear memory.
 * `alloc` returns an 8-byte aligned address, or 0 when out of memory.
 */
export interface TagMemory {
  alloc(bytes: number): number;
  free(ptr: number): void;
}

/** Largest kmalloc() size of the core (`KMALLOC_MAX_SIZE`); bigger maps take whole pages. */
const KMALLOC_MAX_SIZE = 8192;
const PAGE_SHIFT = 12;

/**
 * A {@link TagMemory} over the core's own allocators, as the kernel's
 * `blk_mq_init_tags()` uses `kzalloc_node()`: `kmalloc()` up to 8 KiB, whole
 * pages (`alloc_pages()`) above (a map of 10240 tags takes about 52 KiB).
 * Allocations show up in the slab/page counters and kmemleak like any other.
 *
 * @param site the kmalloc allocation-site id recorded for kmemleak (0: unknown)
 * @example
 * const tags = new BlkMqTags({ core, memory: kmallocTagMemory(core), depth: 64 });
 */
export function kmallocTagMemory(core: CoreExports, site = 0): TagMemory {
  const pageOrders = new Map<number, number>();
  return {
    alloc(bytes: number): number {
      if (bytes <= KMALLOC_MAX_SIZE) return core.kmalloc(bytes, site);
      let order = 0;
      while ((1 << (order + PAGE_SHIFT)) < bytes) order++;
      const addr = core.alloc_pages(order);
      if (addr > 0) pageOrders.set(addr, order);
      return addr;
    },
    free(ptr: number): void {
      const order = pageOrders.get(ptr);
      if (order === undefined) {
        core.kfree(ptr);
      } else {
        pageOrders.delete(ptr);
        core.free_pages(ptr, order);
      }
    },
  };
}

/** Mirrors `BLK_MQ_TAG_FAIL` (include/linux/blk-mq.h): -1U, exposed as -1. */
export const BLK_MQ_TAG_FAIL = -1;
/** Mirrors `BLK_MQ_MAX_DEPTH`: the deepest tag set. */
export const BLK_MQ_MAX_DEPTH = 10240;
/** Mirrors `BT_WAIT_QUEUES` / `SBQ_WAIT_QUEUES`: wait queues per bitmap. */
export const BT_WAIT_QUEUES = 8;
/** Mirrors `BLK_MQ_F_TAG_SHARED` (v4.4 value). */
export const BLK_MQ_F_TAG_SHARED = 1 << 1;

const ERA_CODE: Record<TagEra, number> = { "v4.4": 0, modern: 1 };
const POLICY_CODE: Record<TagAllocPolicy, number> = { fifo: 0, rr: 1 };
const NR_WAIT_IDS = 2 * BT_WAIT_QUEUES;
const U32_MAX = 0xffffffff;

/** Bitmap fields of `blk_mq_bt_stat`. */
const BT = { depth: 0, shift: 1, mapNr: 2, wakeBatch: 3, wakeIndex: 4, used: 5, waiting: 6, completion: 7, wakeups: 8 };

function checkInt(name: string, v: unknown, min: number, max: number): number {
  if (typeof v !== "number") throw new TypeError(`${name} must be a number, got ${typeof v}`);
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new RangeError(`${name} must be an integer in [${min}, ${max}], got ${v}`);
  }
  return v;
}

/**
 * The queue-depth rules of `blk_mq_alloc_tag_set()` (block/blk-mq.c, v4.4).
 *
 * @param core any instance of the core
 * @param queueDepth `set->queue_depth`, total tags including reserved ones
 * @param reserved `set->reserved_tags`
 * @returns the depth used: `queueDepth` capped at {@link BLK_MQ_MAX_DEPTH}
 * @throws {RangeError} for a non-integer or negative argument
 * @throws {KernelError} EINVAL when `queueDepth` is 0 or below `reserved + 1`;
 *   ENOMEM when the cap leaves no normal tag (v4.4's halving retry gives up)
 * @example
 * tagSetDepth(core, 20000, 1); // 10240
 */
export function tagSetDepth(core: CoreExports, queueDepth: number, reserved = 0): number {
  checkInt("queueDepth", queueDepth, 0, U32_MAX);
  checkInt("reserved", reserved, 0, U32_MAX);
  const r = core.blk_mq_tag_set_depth(queueDepth, reserved);
  if (r < 0) throw new KernelError(errnoName(r), "blk_mq_alloc_tag_set");
  return r;
}

/**
 * A task's entry on a tag wait queue: mirrors `DEFINE_WAIT()` (v4.4) /
 * `DEFINE_SBQ_WAIT()` (modern). The scheduler creates one per sleeping
 * allocation; {@link getTagWait} does so itself.
 */
export class TagWaiter {
  /** The sleeping task, for the scheduler: handed back through `onWake`. */
  readonly task: unknown;
  /** The map whose queue (or `ws_active`) holds this waiter, or null. */
  tags: BlkMqTags | null = null;
  /** Wait-queue id (0–7 normal, 8–15 reserved) while queued, else -1. */
  queue = -1;
  /**
   * Modern: the wait-queue id through which the waiter is counted in its
   * bitmap's `ws_active` (`sbq_wait->sbq` set), or -1.
   */
  registered = -1;
  /**
   * Set by a wake-up (which also takes the waiter off its queue), cleared by
   * `prepareToWait()`. A sleep that begins after it was set must return at
   * once: that is the `prepare_to_wait()` guarantee against lost wake-ups.
   */
  woken = false;

  constructor(task: unknown = null) {
    this.task = task;
  }
}

/**
 * The tag fields of one hardware queue (`struct blk_mq_hw_ctx`: flags,
 * state, `nr_active`, `wait_index`), in WASM memory. Created by
 * {@link BlkMqTags.createHctx}; one per (request queue, hw queue index) that
 * uses the map.
 */
export class TagHctx {
  /** Address of the fields in linear memory (what WASM functions take). */
  readonly addr: number;
  /** The map this hctx allocates from (`hctx->tags`). */
  readonly tags: BlkMqTags;
  /** @internal Called by {@link BlkMqTags.destroy} before the fields are freed (the hctx forgets the map). */
  onDestroy: (() => void) | null = null;

  /** @internal use {@link BlkMqTags.createHctx} */
  constructor(tags: BlkMqTags, addr: number) {
    this.tags = tags;
    this.addr = addr;
  }

  /** `hctx->flags & BLK_MQ_F_TAG_SHARED`. */
  get shared(): boolean {
    return (this.tags.core.blk_mq_hctx_stat(this.addr, 0) & BLK_MQ_F_TAG_SHARED) !== 0;
  }

  /** `BLK_MQ_S_TAG_ACTIVE` in `hctx->state`: counted in `active_queues`. */
  get active(): boolean {
    return (this.tags.core.blk_mq_hctx_stat(this.addr, 1) & 2) !== 0;
  }

  /** `hctx->nr_active`: tags held by this hctx's requests (shared maps only). */
  get nrActive(): number {
    return this.tags.core.blk_mq_hctx_stat(this.addr, 2);
  }

  /** `hctx->wait_index`: the wait queue its next sleeper takes. */
  get waitIndex(): number {
    return this.tags.core.blk_mq_hctx_stat(this.addr, 3);
  }
}

/** A snapshot of one bitmap (the normal or the reserved tags). */
export interface TagBitmapInfo {
  /** `bt->depth` / `sb.depth`: usable bits (normal depth follows `nr_requests`). */
  depth: number;
  /** `bits_per_word` (v4.4) / `sb.shift`: a word holds `1 << shift` bits. */
  shift: number;
  /** Words in use. */
  mapNr: number;
  /** Valid bits of each word in use. */
  wordDepths: number[];
  /** `wake_cnt` (v4.4) / `wake_batch` (modern). */
  wakeBatch: number;
  /** `wake_index`. */
  wakeIndex: number;
  /** Allocated bits within depth. */
  used: number;
  /** `bt_unused_tags()`: `depth - used` in u32 arithmetic, as sysfs prints it. */
  free: number;
  /** Tasks waiting (v4.4: on the 8 queues; modern: `ws_active`). */
  waiting: number;
}

/** Options of {@link BlkMqTags}. */
export interface BlkMqTagsOptions {
  /** The core instance whose memory holds the map. */
  core: CoreExports;
  /** Where the map's memory comes from. Default: {@link kmallocTagMemory} of `core`. */
  memory?: TagMemory;
  /** `set->queue_depth`: total tags including reserved (capped at 10240). */
  depth: number;
  /** `set->reserved_tags`, numbered 0 .. reserved-1. Default 0. */
  reserved?: number;
  /** Software queues (ctx, one per CPU), each with its own hint. Default 1. */
  nrCtx?: number;
  /** Default "v4.4". */
  era?: TagEra;
  /** Default "fifo". */
  policy?: TagAllocPolicy;
  /** Seed of the modern era's random start hints (`get_random_u32_below`). Default 0. */
  seed?: number;
  /** Called once for each waiter a wake-up takes off a queue (`wake_up` → the task). */
  onWake?: (waiter: TagWaiter) => void;
}

/** Options of {@link BlkMqTags.getTag}. */
export interface GetTagOptions {
  /** The allocating hctx (fairness and shared accounting); null for none. */
  hctx?: TagHctx | null;
  /** `BLK_MQ_REQ_RESERVED`: take a reserved tag. */
  reserved?: boolean;
}

/**
 * One hardware queue's tag map: mirrors `struct blk_mq_tags` with
 * `blk_mq_init_tags()`, `blk_mq_get_tag()`, `blk_mq_put_tag()` and friends
 * (block/blk-mq-tag.c, v4.4; era "modern" follows v6.18 over lib/sbitmap.c).
 *
 * Tags are numbered reserved first (0 .. reserved-1), then normal
 * (reserved .. nrTags-1). Each ctx (0 .. nrCtx-1) has its own hint word.
 *
 * @example
 * ```ts
 * const tags = new BlkMqTags({ core, depth: 4, nrCtx: 2 });
 * const a = tags.getTag(0), b = tags.getTag(0);  // 0, 1
 * tags.putTag(1, a);                             // ctx 1's hint is now bit 0
 * tags.getTag(1);                                // 0 again: LIFO-like reuse per CPU
 * ```
 */
export class BlkMqTags {
  /** The core instance. */
  readonly core: CoreExports;
  /** Allocator era. */
  readonly era: TagEra;
  /** Allocation policy. */
  readonly policy: TagAllocPolicy;
  /** `tags->nr_tags`: total tags, reserved included. */
  readonly nrTags: number;
  /** `tags->nr_reserved_tags`. */
  readonly nrReserved: number;
  /** Number of ctx hints. */
  readonly nrCtx: number;
  /** Address of `struct blk_mq_tags` in linear memory (what WASM functions take). */
  readonly addr: number;

  #memory: TagMemory;
  #hints: number;
  #queues: TagWaiter[][] = [];
  #hctxs = new Set<TagHctx>();
  #onWake?: (waiter: TagWaiter) => void;
  #alive = true;

  /**
   * Mirrors `blk_mq_init_tags()` (with the depth rules of
   * `blk_mq_alloc_tag_set()`) and the zeroed `ctx->last_tag` of each ctx
   * (modern: `init_alloc_hint()`).
   *
   * @throws {TypeError} / {RangeError} for bad options
   * @throws {KernelError} EINVAL / ENOMEM from the depth rules; ENOMEM when
   *   `memory.alloc` returns 0
   */
  constructor(options: BlkMqTagsOptions) {
    if (typeof options !== "object" || options === null) throw new TypeError("options must be an object");
    const { core } = options;
    if (typeof core?.blk_mq_init_tags !== "function") throw new TypeError("options.core must be a core instance");
    const memory = options.memory ?? kmallocTagMemory(core);
    if (typeof memory?.alloc !== "function" || typeof memory.free !== "function") {
      throw new TypeError("options.memory must have alloc() and free()");
    }
    const era = options.era ?? "v4.4";
    const policy = options.policy ?? "fifo";
    if (!(era in ERA_CODE)) throw new RangeError(`options.era must be "v4.4" or "modern", got ${era}`);
    if (!(policy in POLICY_CODE)) throw new RangeError(`options.policy must be "fifo" or "rr", got ${policy}`);
    const reserved = checkInt("options.reserved", options.reserved ?? 0, 0, U32_MAX);
    const nrCtx = checkInt("options.nrCtx", options.nrCtx ?? 1, 1, 4096);
    const seed = checkInt("options.seed", options.seed ?? 0, 0, U32_MAX);
    const depth = tagSetDepth(core, checkInt("options.depth", options.depth, 0, U32_MAX), reserved);
    if (options.onWake !== undefined && typeof options.onWake !== "function") {
      throw new TypeError("options.onWake must be a function");
    }

    const bytes = core.blk_mq_tags_bytes(depth, reserved);
    if (bytes < 0) throw new KernelError(errnoName(bytes), "blk_mq_init_tags");
    const addr = memory.alloc(bytes);
    if (addr <= 0) throw new KernelError("ENOMEM", "blk_mq_init_tags");
    const hints = memory.alloc(nrCtx * 8);
    if (hints <= 0) {
      memory.free(addr);
      throw new KernelError("ENOMEM", "blk_mq_init_tags");
    }
    const r = core.blk_mq_init_tags(addr, depth, reserved, POLICY_CODE[policy], ERA_CODE[era], seed);
    if (r < 0) {
      memory.free(hints);
      memory.free(addr);
      throw new KernelError(errnoName(r), "blk_mq_init_tags");
    }
    this.core = core;
    this.era = era;
    this.policy = policy;
    this.nrTags = depth;
    this.nrReserved = reserved;
    this.nrCtx = nrCtx;
    this.addr = addr;
    this.#memory = memory;
    this.#hints = hints;
    this.#onWake = options.onWake;
    for (let q = 0; q < NR_WAIT_IDS; q++) this.#queues.push([]);
    for (const res of [0, 1]) {
      for (let c = 0; c < nrCtx; c++) core.blk_mq_tag_init_hint(addr, this.#hintAddr(c, res === 1), res);
    }
  }

  /**
   * @internal Address of the hint words, two u32 a ctx (normal, reserved):
   * what the core's `blk_mq_free_request()` passes to `blk_mq_put_tag()`.
   */
  get hintsAddr(): number {
    return this.#hints;
  }

  /**
   * @internal Wakes the waiters of the wait queues in `mask`, the wake mask
   * of a `blk_mq_put_tag()` the core made itself (as {@link putTag} does
   * with its own).
   */
  deliverWake(mask: number): void {
    this.#deliver(mask);
  }

  #hintAddr(ctx: number, reserved: boolean): number {
    return this.#hints + (ctx * 2 + (reserved ? 1 : 0)) * 4;
  }

  #check(): void {
    if (!this.#alive) throw new RangeError("the tag map was destroyed");
  }

  #checkCtx(ctx: number): void {
    checkInt("ctx", ctx, 0, this.nrCtx - 1);
  }

  #checkHctx(hctx: TagHctx | null | undefined): number {
    if (hctx === null || hctx === undefined) return 0;
    if (!(hctx instanceof TagHctx) || hctx.tags !== this || !this.#hctxs.has(hctx)) {
      throw new RangeError("hctx must be a live TagHctx of this tag map");
    }
    return hctx.addr;
  }

  #checkQueue(queue: number): void {
    checkInt("queue", queue, 0, NR_WAIT_IDS - 1);
  }

  /**
   * Takes the waiters that a wake-up removed in WASM off the task lists, marks
   * them woken and hands them to `onWake`.
   */
  #deliver(mask: number): void {
    for (let q = 0; mask !== 0; q++, mask >>>= 1) {
      if ((mask & 1) === 0) continue;
      const left = this.core.blk_mq_bt_queue_stat(this.addr, q, 1);
      const list = this.#queues[q];
      if (left > list.length) throw new KernelBug(`tag wait queue ${q}: ${left} waiters in WASM, ${list.length} tasks`);
      for (const w of list.splice(0, list.length - left)) {
        w.queue = -1;
        w.woken = true;
        this.#onWake?.(w);
      }
    }
  }

  // ---- allocation ---------------------------------------------------------

  /**
   * One allocation attempt that never sleeps: mirrors `blk_mq_get_tag()` with
   * `BLK_MQ_REQ_NOWAIT` (v4.4: `__bt_get()` via `bt_get()`'s non-blocking exit;
   * modern: v6.18 `__blk_mq_get_tag()`), plus the accounting of
   * `__blk_mq_alloc_request()`: on a tag-shared hctx the tag counts in
   * `nr_active`, and the hctx becomes active (v4.4 after the tag is won,
   * v6.18 before trying). The fairness check `hctx_may_queue()` applies to
   * normal tags only.
   *
   * A caller that may sleep continues with the wait loop when this fails:
   * see {@link getTagWait}.
   *
   * @param ctx the allocating software queue (its hint is used and updated)
   * @returns the tag, or -1 ({@link BLK_MQ_TAG_FAIL}): no tag now, fairness
   *   limit reached, or a reserved tag asked of a map without any (the kernel
   *   also WARNs)
   * @throws {RangeError} for a bad ctx or hctx
   */
  getTag(ctx: number, options: GetTagOptions = {}): number {
    this.#check();
    this.#checkCtx(ctx);
    const reserved = options.reserved === true;
    const hctx = this.#checkHctx(options.hctx);
    return this.core.blk_mq_get_tag(this.addr, hctx, this.#hintAddr(ctx, reserved), reserved ? 1 : 0);
  }

  /**
   * Frees a tag: mirrors the tag part of `__blk_mq_free_request()` (drop from
   * `nr_active` if counted) and `blk_mq_put_tag()`: clear the bit, run the
   * wake logic, and (v4.4 FIFO, normal tags) make the freed bit `ctx`'s hint;
   * modern: deferred clear, counted wake-up, hint of `ctx`'s CPU.
   *
   * @param ctx the request's software queue (`rq->mq_ctx`)
   * @returns the wake mask (v4.4: at most one bit); the woken waiters have
   *   been handed to `onWake`
   * @throws {RangeError} for a bad ctx, a tag outside [0, nrTags), or a tag
   *   that is not allocated (caller misuse: a double put). With a DEBUG core
   *   the WASM side would raise a {@link KernelBug} for the same put; this
   *   check runs first so the error is the same with every core.
   */
  putTag(ctx: number, tag: number): number {
    this.#check();
    this.#checkCtx(ctx);
    checkInt("tag", tag, 0, this.nrTags - 1);
    if (this.core.blk_mq_tag_allocated(this.addr, tag) !== 1) {
      throw new RangeError(`putTag: tag ${tag} is not allocated`);
    }
    const r = this.core.blk_mq_put_tag(this.addr, tag, this.#hintAddr(ctx, tag < this.nrReserved));
    if (r < 0) throw new KernelError(errnoName(r), "blk_mq_put_tag");
    this.#deliver(r);
    return r;
  }

  /** Whether `tag` is allocated. @throws {RangeError} outside [0, nrTags) */
  isAllocated(tag: number): boolean {
    this.#check();
    checkInt("tag", tag, 0, this.nrTags - 1);
    return this.core.blk_mq_tag_allocated(this.addr, tag) === 1;
  }

  /**
   * A ctx's hint word: v4.4 `ctx->last_tag` (a bit index into the normal
   * map); modern the per-CPU `alloc_hint` of the normal or reserved map.
   */
  hint(ctx: number, reserved = false): number {
    this.#check();
    this.#checkCtx(ctx);
    return new Uint32Array(this.core.memory.buffer, this.#hintAddr(ctx, reserved), 1)[0];
  }

  /**
   * Overwrites a ctx's hint word, for tests and fuzz programs that start a
   * search at a chosen bit. Bounded by the depth the map was built with.
   */
  setHint(ctx: number, value: number, reserved = false): void {
    this.#check();
    this.#checkCtx(ctx);
    const max = reserved ? this.nrReserved : this.core.blk_mq_tags_stat(this.addr, 5);
    checkInt("value", value, 0, Math.max(0, max - 1));
    new Uint32Array(this.core.memory.buffer, this.#hintAddr(ctx, reserved), 1)[0] = value;
  }

  // ---- geometry and counters ---------------------------------------------

  /** The normal bitmap's depth: `nr_requests - nr_reserved` after a resize. */
  get depth(): number {
    this.#check();
    return this.core.blk_mq_bt_stat(this.addr, 0, BT.depth);
  }

  /** `tags->active_queues`: hctxs marked active on this (shared) map. */
  get activeQueues(): number {
    this.#check();
    return this.core.blk_mq_tags_stat(this.addr, 2);
  }

  /** A snapshot of the normal (or reserved) bitmap. */
  bitmap(reserved = false): TagBitmapInfo {
    this.#check();
    const r = reserved ? 1 : 0;
    const stat = (s: number) => this.core.blk_mq_bt_stat(this.addr, r, s);
    const mapNr = stat(BT.mapNr);
    const wordDepths: number[] = [];
    for (let i = 0; i < mapNr; i++) wordDepths.push(this.core.blk_mq_bt_word_stat(this.addr, r, i, 0));
    const depth = stat(BT.depth);
    const used = stat(BT.used);
    return {
      depth,
      shift: stat(BT.shift),
      mapNr,
      wordDepths,
      wakeBatch: stat(BT.wakeBatch),
      wakeIndex: stat(BT.wakeIndex),
      used,
      free: (depth - used) >>> 0,
      waiting: stat(BT.waiting),
    };
  }

  /**
   * One wait queue's state: `waitCnt` (v4.4 `bs->wait_cnt`: frees left before
   * it is woken; null for modern) and the tasks on it.
   */
  waitQueueState(queue: number): { waitCnt: number | null; waiters: number } {
    this.#check();
    this.#checkQueue(queue);
    const waitCnt = this.core.blk_mq_bt_queue_stat(this.addr, queue, 0);
    return { waitCnt: waitCnt < 0 && this.era === "modern" ? null : waitCnt, waiters: this.#queues[queue].length };
  }

  // ---- hardware queues and fairness --------------------------------------

  /**
   * Tag fields for a new hctx that allocates from this map (the
   * `hctx->tags = set->tags[i]` of `blk_mq_init_hctx()`).
   *
   * @param options.shared BLK_MQ_F_TAG_SHARED, set when the tag set serves
   *   more than one queue
   * @throws {KernelError} ENOMEM when `memory.alloc` returns 0
   */
  createHctx(options: { shared?: boolean } = {}): TagHctx {
    this.#check();
    const addr = this.#memory.alloc(this.core.blk_mq_hctx_tags_bytes());
    if (addr <= 0) throw new KernelError("ENOMEM", "blk_mq_init_hctx");
    this.core.blk_mq_hctx_tags_init(addr, options.shared === true ? BLK_MQ_F_TAG_SHARED : 0);
    const h = new TagHctx(this, addr);
    this.#hctxs.add(h);
    return h;
  }

  /**
   * Sets or clears BLK_MQ_F_TAG_SHARED on an hctx, as
   * `queue_set_hctx_shared()` does (under a queue freeze in the kernel).
   */
  setShared(hctx: TagHctx, shared: boolean): void {
    this.#check();
    const addr = this.#checkHctx(hctx);
    const flags = this.core.blk_mq_hctx_stat(addr, 0);
    this.core.blk_mq_hctx_set_flags(addr, shared ? flags | BLK_MQ_F_TAG_SHARED : flags & ~BLK_MQ_F_TAG_SHARED);
  }

  /**
   * Releases an hctx's tag fields, idling it first as `blk_mq_exit_hctx()`
   * does. @returns the wake mask of the idle
   * @throws {RangeError} when its requests still hold tags (nr_active > 0)
   */
  destroyHctx(hctx: TagHctx): number {
    this.#check();
    const addr = this.#checkHctx(hctx);
    if (hctx.nrActive !== 0) throw new RangeError(`destroyHctx: ${hctx.nrActive} tags still counted on the hctx`);
    const mask = this.tagIdle(hctx);
    this.#hctxs.delete(hctx);
    this.#memory.free(addr);
    return mask;
  }

  /**
   * Mirrors `blk_mq_tag_busy()`: marks a tag-shared hctx active, counting it
   * in `active_queues` the first time. getTag() calls it already.
   * @returns whether the hctx is tag-shared
   */
  tagBusy(hctx: TagHctx): boolean {
    this.#check();
    return this.core.blk_mq_tag_busy(this.addr, this.#checkHctx(hctx)) === 1;
  }

  /**
   * Mirrors `blk_mq_tag_idle()`: an active tag-shared hctx leaves
   * `active_queues` and every normal waiter is woken (the timeout handler
   * does this in the kernel once the hctx has been quiet).
   * @returns the wake mask
   */
  tagIdle(hctx: TagHctx): number {
    this.#check();
    const mask = this.core.blk_mq_tag_idle(this.addr, this.#checkHctx(hctx));
    this.#deliver(mask);
    return mask;
  }

  /** Mirrors `hctx_may_queue()`: whether `hctx` may take another normal tag now. */
  mayQueue(hctx: TagHctx | null, reserved = false): boolean {
    this.#check();
    return this.core.hctx_may_queue(this.addr, this.#checkHctx(hctx), reserved ? 1 : 0) === 1;
  }

  // ---- depth changes and wake-ups ----------------------------------------

  /**
   * Mirrors `blk_mq_tag_update_depth()` for an `nr_requests` write: the
   * normal depth becomes `nrRequests - nrReserved`. v4.4 recomputes word
   * depths and `wake_cnt` (map_nr, shift and every `wait_cnt` stay) and wakes
   * every normal waiter; modern resizes the sbitmap and wakes nobody (v6.18
   * resizes under a queue freeze, when nobody can sleep on the map).
   *
   * Modern rejects `nrRequests <= nrReserved` first, as v4.11+
   * `blk_mq_tag_update_depth()` does (`if (tdepth <= tags->nr_reserved_tags)
   * return -EINVAL`): a zero-depth sbitmap would leave every later sleeper
   * asleep for good. v4.4 has no such check (a depth of 0 is its bug).
   *
   * @returns the wake mask
   * @throws {RangeError} when nrRequests is not an integer in [0, 2^32)
   * @throws {KernelError} EINVAL when the new depth exceeds nr_tags (v4.4) or
   *   the depth the map was built with (the port: no words exist beyond it),
   *   including nrRequests < nrReserved (the u32 difference wraps); modern
   *   also when no normal tag would be left
   */
  resize(nrRequests: number): number {
    this.#check();
    checkInt("nrRequests", nrRequests, 0, U32_MAX);
    if (this.era === "modern" && nrRequests <= this.nrReserved) {
      throw new KernelError("EINVAL", "blk_mq_tag_update_depth");
    }
    const r = this.core.blk_mq_tag_update_depth(this.addr, nrRequests);
    if (r < 0) throw new KernelError(errnoName(r), "blk_mq_tag_update_depth");
    this.#deliver(r);
    return r;
  }

  /**
   * Mirrors `blk_mq_tag_wakeup_all()`: v4.4 wakes every normal queue with
   * waiters (and reserved queue 0 if asked); modern wakes one exclusive
   * waiter per queue. @returns the wake mask
   */
  wakeupAll(includeReserved = false): number {
    this.#check();
    const mask = this.core.blk_mq_tag_wakeup_all(this.addr, includeReserved ? 1 : 0);
    this.#deliver(mask);
    return mask;
  }

  /**
   * Modern only: `sbitmap_queue_wake_up(bt, nr)`, the compensating wake-up
   * v6.18 sends to the previous map when a sleeper moved to another hctx.
   * @returns the wake mask
   * @throws {RangeError} for a v4.4 map
   */
  wakeUp(reserved: boolean, nr = 1): number {
    this.#check();
    checkInt("nr", nr, 1, U32_MAX);
    if (this.era !== "modern") throw new RangeError("wakeUp() exists only for era \"modern\"");
    const mask = this.core.blk_mq_tag_wake_up(this.addr, reserved ? 1 : 0, nr);
    this.#deliver(mask);
    return mask;
  }

  // ---- waiting ------------------------------------------------------------

  /**
   * Mirrors `bt_wait_ptr()`: the wait queue for the next sleep of an
   * allocation on `hctx`; `hctx->wait_index` advances round-robin. v4.4
   * reserved allocations always use queue 8 (the reserved map's `bs[0]`).
   *
   * @returns a wait-queue id (0–7 normal, 8–15 reserved)
   */
  waitQueue(hctx: TagHctx | null, reserved = false): number {
    this.#check();
    return this.core.blk_mq_tag_wait_queue(this.addr, this.#checkHctx(hctx), reserved ? 1 : 0);
  }

  /**
   * Mirrors `prepare_to_wait()` (v4.4: non-exclusive) /
   * `sbitmap_prepare_to_wait()` (modern: exclusive, and the first call
   * registers in `ws_active`): queues the waiter on `queue` unless it is
   * already there, and clears `woken` (the task is now "about to sleep").
   *
   * @throws {RangeError} when the waiter is queued elsewhere or registered
   *   with another map (call finishWait there first)
   */
  prepareToWait(waiter: TagWaiter, queue: number): void {
    this.#check();
    this.#checkQueue(queue);
    if (!(waiter instanceof TagWaiter)) throw new TypeError("waiter must be a TagWaiter");
    if (waiter.tags !== null && waiter.tags !== this) throw new RangeError("the waiter waits on another tag map");
    if (waiter.queue !== -1 && waiter.queue !== queue) throw new RangeError("the waiter is on another wait queue");
    if (waiter.registered !== -1 && (waiter.registered >= BT_WAIT_QUEUES) !== (queue >= BT_WAIT_QUEUES)) {
      throw new RangeError("the waiter is registered with the other bitmap");
    }
    waiter.woken = false;
    const join = waiter.queue === -1 ? 1 : 0;
    const register = this.era === "modern" && waiter.registered === -1 ? 1 : 0;
    if (join === 0 && register === 0) return;
    const r = this.core.blk_mq_tag_wait_account(this.addr, queue, join, register);
    if (r < 0) throw new KernelBug(`blk_mq_tag_wait_account(${queue}, ${join}, ${register}) = ${r}`);
    if (join) this.#queues[queue].push(waiter);
    waiter.queue = queue;
    if (register === 1) waiter.registered = queue;
    waiter.tags = this;
  }

  /**
   * Mirrors `finish_wait()` / `sbitmap_finish_wait()`: takes the waiter off its
   * queue if no wake-up did already, and drops its `ws_active` registration.
   * A no-op for a waiter that is neither queued nor registered.
   *
   * @throws {RangeError} when the waiter belongs to another map
   */
  finishWait(waiter: TagWaiter): void {
    this.#check();
    if (!(waiter instanceof TagWaiter)) throw new TypeError("waiter must be a TagWaiter");
    if (waiter.tags === null) return;
    if (waiter.tags !== this) throw new RangeError("the waiter waits on another tag map");
    const leave = waiter.queue !== -1 ? -1 : 0;
    const unregister = waiter.registered !== -1 ? -1 : 0;
    // A waiter registers through the queue it first joined; it only ever
    // joins queues of that same bitmap (reserved and normal sleeps differ).
    const qid = leave ? waiter.queue : waiter.registered;
    if (leave !== 0 || unregister !== 0) {
      const r = this.core.blk_mq_tag_wait_account(this.addr, qid, leave, unregister);
      if (r < 0) throw new KernelBug(`blk_mq_tag_wait_account(${qid}, ${leave}, ${unregister}) = ${r}`);
    }
    if (leave) {
      const list = this.#queues[waiter.queue];
      list.splice(list.indexOf(waiter), 1);
    }
    waiter.queue = -1;
    waiter.registered = -1;
    waiter.tags = null;
  }

  // ---- teardown -----------------------------------------------------------

  /**
   * Frees the map, its hints and any hctx fields still attached (the tags of
   * `blk_mq_free_tags()`). Outstanding tags are not checked, as in the
   * kernel. Idempotent.
   */
  destroy(): void {
    if (!this.#alive) return;
    this.#alive = false;
    for (const h of this.#hctxs) {
      h.onDestroy?.();
      this.#memory.free(h.addr);
    }
    this.#hctxs.clear();
    this.#memory.free(this.#hints);
    this.#memory.free(this.addr);
  }
}

/** Where an allocation runs: the map, the ctx (CPU) and its hctx. */
export interface TagAllocData {
  tags: BlkMqTags;
  ctx: number;
  hctx: TagHctx | null;
}

/** What {@link getTagWait} needs from the scheduler and the queue. */
export interface TagWaitHooks<Y> {
  /** The current task, carried by the waiter to `onWake`. */
  task?: unknown;
  /** `blk_mq_run_hw_queue(hctx, false)`: dispatch, which may complete requests. */
  runHwQueue(hctx: TagHctx): void;
  /**
   * `io_schedule()`: suspend the task until `waiter.woken`, returning at once
   * when it already is (a wake-up came after prepareToWait).
   */
  ioSchedule(waiter: TagWaiter): Generator<Y, void, unknown>;
  /**
   * `blk_mq_get_ctx()` + `map_queue()` after the sleep: the ctx, hctx and map
   * of the CPU the task now runs on (it may have migrated).
   */
  remap(): TagAllocData;
  /** `WARN_ON_ONCE()` into the kernel log (`where` is "file:function"); default none. */
  warnOnce?(where: string, msg: string): void;
}

/**
 * The sleeping allocation: mirrors v4.4 `bt_get()` (era "v4.4") or v6.18
 * `blk_mq_get_tag()` (era "modern") on top of the methods of
 * {@link BlkMqTags}, for a generator-based scheduler (`yield*` it from a task).
 *
 * v4.4 loop: try once; with `nowait` fail at once. Otherwise pick a wait queue
 * (`waitQueue`, advancing `hctx->wait_index`), then repeat: `prepareToWait` →
 * try → run the hw queue synchronously (normal tags only) → try →
 * `ioSchedule` → `remap` → `finishWait` on the old queue → pick the new
 * map's wait queue. On success `finishWait`. No timeout, no dying-queue check.
 *
 * Modern loop: repeat: run the hw queue → try → `prepareToWait` (exclusive)
 * → try → `ioSchedule` → `finishWait` → `remap`; if the map changed, one fake
 * wake-up on the previous map (`wakeUp(reserved, 1)`); pick the new queue.
 * The BLK_MQ_S_INACTIVE retry of v6.18 is not modelled.
 *
 * Wiring with the kernel's `Scheduler` (ts/kernel/sched.ts): create the
 * map with `onWake: (w) => sched.wakeUpProcess(w.task)`, pass the running
 * task as `hooks.task`, and sleep with
 * `*ioSchedule(w) { if (w.woken) return; sched.blockCurrent("bt_get", false); yield; }`
 * (the `woken` test covers a wake-up that came, for instance from a
 * completion inside `runHwQueue`, after `prepareToWait`); `remap` returns
 * the ctx of `task.cpu` and its hctx and map. A wake-up empties the task off
 * its queue before the task runs, as `autoremove_wake_function` does, so
 * `finishWait` after a wake-up only drops the modern `ws_active` count.
 *
 * A reserved tag asked of a map without reserved tags fails at once, sleeping
 * or not, with a `WARN_ON_ONCE(1)`: v4.4 `__blk_mq_get_reserved_tag()` and
 * v6.18 `blk_mq_get_tag()` both check `nr_reserved_tags` first (there is
 * nothing a wait could bring).
 *
 * @returns the tag (or -1 with `nowait`, or for a reserved tag of a map
 *   without any) and where it was allocated
 */
export function* getTagWait<Y>(
  data: TagAllocData,
  options: { reserved?: boolean; nowait?: boolean },
  hooks: TagWaitHooks<Y>,
): Generator<Y, TagAllocData & { tag: number }, unknown> {
  const reserved = options.reserved === true;
  if (reserved && data.tags.nrReserved === 0) {
    const where = data.tags.era === "modern" ? "block/blk-mq-tag.c:blk_mq_get_tag" : "block/blk-mq-tag.c:__blk_mq_get_reserved_tag";
    hooks.warnOnce?.(where, "WARN_ON_ONCE(1)");
    return { ...data, tag: BLK_MQ_TAG_FAIL };
  }
  const tryGet = () => data.tags.getTag(data.ctx, { hctx: data.hctx, reserved });
  let tag = tryGet();
  if (tag !== BLK_MQ_TAG_FAIL || options.nowait === true) return { ...data, tag };
  const waiter = new TagWaiter(hooks.task ?? null);
  const modern = data.tags.era === "modern";
  let queue = data.tags.waitQueue(data.hctx, reserved);
  for (;;) {
    if (modern && data.hctx) hooks.runHwQueue(data.hctx);
    if (modern && (tag = tryGet()) !== BLK_MQ_TAG_FAIL) break;
    data.tags.prepareToWait(waiter, queue);
    if ((tag = tryGet()) !== BLK_MQ_TAG_FAIL) break;
    if (!modern) {
      if (!reserved && data.hctx) hooks.runHwQueue(data.hctx);
      if ((tag = tryGet()) !== BLK_MQ_TAG_FAIL) break;
    }
    const prev = data.tags;
    yield* hooks.ioSchedule(waiter);
    if (modern) prev.finishWait(waiter);
    try {
      data = hooks.remap();
    } catch (e) {
      if (!modern) prev.finishWait(waiter); // no waiter is left behind on a failed remap
      throw e;
    }
    if (!modern) prev.finishWait(waiter);
    if (modern && data.tags !== prev) prev.wakeUp(reserved, 1);
    queue = data.tags.waitQueue(data.hctx, reserved);
  }
  data.tags.finishWait(waiter);
  return { ...data, tag };
}
