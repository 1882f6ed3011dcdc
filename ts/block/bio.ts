// SPDX-License-Identifier: GPL-2.0-only
/**
 * Bios (block/bio.c, include/linux/bio.h, include/linux/blk_types.h, v4.4):
 * `struct bio` records in WASM linear memory (layout and record operations
 * in asm/bio.ts), allocated from a {@link BioSet}'s mempools, with end_io
 * callbacks kept here in a per-kernel table by integer id, since a WASM
 * record cannot hold a JS function.
 *
 * Allocation and freeing live on this side because mempools need a task to
 * sleep in and must wake their sleepers on free: {@link bioAlloc} is the
 * generator for sleeping callers (a mask with `__GFP_DIRECT_RECLAIM` never
 * gets 0: it falls back to the reserve, then sleeps until a bio is freed),
 * {@link bioAllocNowait} the non-blocking form.
 *
 * Each Kernel gets its bio state ({@link BioLayer}: the biovec slabs, the
 * "bio-N" slabs, the end_io table, `fs_bio_set`) on first use, kept in a
 * WeakMap. `fs_bio_set`'s reserve stays allocated like the kernel's, so a
 * test that used it calls {@link bioExit} before counting live objects.
 *
 * Memory views: anything that may allocate may grow linear memory, which
 * detaches `core.memory.buffer`; the accessors here take a fresh view
 * whenever the buffer changed.
 *
 * ```text
 * bio_set record (kzalloc'd, 16 bytes):
 *    0           4          8          12          16
 *    +-----------+----------+----------+-----------+
 *    | front_pad | bio_slab | bio_pool | bvec_pool |
 *    +-----------+----------+----------+-----------+
 *    bio_slab: the "bio-N" cache id; the pools: mempool records (0 = none)
 * ```
 *
 * @module
 */

import { KernelError } from "../errors.ts";
import type { Kernel } from "../kernel/kernel.ts";
import { __GFP_DIRECT_RECLAIM, Mempool } from "../kernel/mempool.ts";
import type { Sleepable } from "../kernel/sched.ts";
import { type KmemCache, SLAB_HWCACHE_ALIGN } from "../kernel/slab.ts";
import type { CoreExports } from "../wasm/core.ts";
import { getU64, setU64 } from "./_u64.ts";
import { MachineMap } from "../kernel/machine_map.ts";

/** Mirrors `BIO_INLINE_VECS`: bio_vecs kept inside the bio's slab object. */
export const BIO_INLINE_VECS = 4;
/** Mirrors `BIO_MAX_PAGES`. */
export const BIO_MAX_PAGES = 256;
/** Mirrors `BIO_POOL_SIZE`: the reserve of `fs_bio_set`. */
export const BIO_POOL_SIZE = 2;
/** Mirrors `BIOVEC_NR_POOLS`. */
export const BIOVEC_NR_POOLS = 6;
/** Mirrors `BIOVEC_MAX_IDX`: the mempool-backed class, biovec-256. */
export const BIOVEC_MAX_IDX = BIOVEC_NR_POOLS - 1;
/** Bytes of the port's `struct bio` (asm/bio.ts). */
export const BIO_SIZE = 80;
/** Bytes of the port's `struct bio_vec`. */
export const BVEC_SIZE = 12;
/** The vecs of each bvec class, "biovec-<n>" (`bvec_slabs[]`). */
export const BVEC_CLASSES: readonly number[] = [1, 4, 16, 64, 128, 256];

/** bi_flags bit numbers (include/linux/blk_types.h, v4.4). */
export const BIO_SEG_VALID = 1;
export const BIO_CLONED = 2;
export const BIO_BOUNCED = 3;
export const BIO_USER_MAPPED = 4;
export const BIO_NULL_MAPPED = 5;
export const BIO_QUIET = 6;
export const BIO_CHAIN = 7;
export const BIO_REFFED = 8;
export const BIO_RESET_BITS = 13;
export const BIO_OWNS_VEC = 13;
/** Mirrors `BIO_POOL_OFFSET`: the bvec class is `bi_flags >>> BIO_POOL_OFFSET`. */
export const BIO_POOL_OFFSET = 28;
/** Mirrors `BIO_POOL_NONE`. */
export const BIO_POOL_NONE = 15;

/** `REQ_*` masks of bi_rw / cmd_flags (enum rq_flag_bits, include/linux/blk_types.h, v4.4); bits 0..31. */
export const REQ_WRITE = 1 << 0;
export const REQ_FAILFAST_DEV = 1 << 1;
export const REQ_FAILFAST_TRANSPORT = 1 << 2;
export const REQ_FAILFAST_DRIVER = 1 << 3;
export const REQ_SYNC = 1 << 4;
export const REQ_META = 1 << 5;
export const REQ_PRIO = 1 << 6;
export const REQ_DISCARD = 1 << 7;
export const REQ_SECURE = 1 << 8;
export const REQ_WRITE_SAME = 1 << 9;
export const REQ_NOIDLE = 1 << 10;
export const REQ_INTEGRITY = 1 << 11;
export const REQ_FUA = 1 << 12;
export const REQ_FLUSH = 1 << 13;
export const REQ_RAHEAD = 1 << 14;
export const REQ_THROTTLED = 1 << 15;
export const REQ_SORTED = 1 << 16;
export const REQ_SOFTBARRIER = 1 << 17;
export const REQ_NOMERGE = 1 << 18;
export const REQ_STARTED = 1 << 19;
export const REQ_DONTPREP = 1 << 20;
export const REQ_QUEUED = 1 << 21;
export const REQ_ELVPRIV = 1 << 22;
export const REQ_FAILED = 1 << 23;
export const REQ_QUIET = 1 << 24;
export const REQ_PREEMPT = 1 << 25;
export const REQ_ALLOCED = 1 << 26;
export const REQ_COPY_USER = 1 << 27;
export const REQ_FLUSH_SEQ = 1 << 28;
export const REQ_IO_STAT = 1 << 29;
export const REQ_MIXED_MERGE = 1 << 30;
export const REQ_PM = 1 << 31;
/** Mirrors `WRITE_ODIRECT` (include/linux/fs.h, v4.4): a DIO write's `dio->rw` (`do_blockdev_direct_IO()`). */
export const WRITE_ODIRECT = REQ_WRITE | REQ_SYNC;
/** Mirrors `WRITE_FLUSH` (include/linux/fs.h, v4.4): `WRITE_SYNC | REQ_FLUSH`, as `blkdev_issue_flush()` and the flush request carry it. */
export const WRITE_FLUSH = REQ_WRITE | REQ_SYNC | REQ_NOIDLE | REQ_FLUSH;
/** Mirrors `REQ_NOMERGE_FLAGS` (v4.4). */
export const REQ_NOMERGE_FLAGS = REQ_NOMERGE | REQ_STARTED | REQ_SOFTBARRIER | REQ_FLUSH | REQ_FUA |
  REQ_FLUSH_SEQ;

/** bi_end_io id 0: no end_io. */
export const BIO_END_IO_NONE = 0;
/** bi_end_io id of `bio_chain_endio()`, set by {@link bioChain}. */
export const BIO_END_IO_CHAIN = 1;

/** Byte offsets of the `struct bio` fields (diagram in asm/bio.ts). */
export const BIO = {
  bi_next: 0,
  bi_bdev: 4,
  bi_flags: 8,
  bi_error: 12,
  bi_rw: 16,
  bi_phys_segments: 20,
  bi_sector: 24,
  bi_size: 32,
  bi_idx: 36,
  bi_bvec_done: 40,
  bi_seg_front_size: 44,
  bi_seg_back_size: 48,
  __bi_remaining: 52,
  bi_end_io: 56,
  bi_private: 60,
  bi_vcnt: 64,
  bi_max_vecs: 66,
  __bi_cnt: 68,
  bi_io_vec: 72,
  bi_pool: 76,
} as const;

/** A `struct bio` field name. */
export type BioField = keyof typeof BIO;

/** One `struct bio_vec`. */
export interface BioVec {
  /** Linear-memory address of the page (the port's `struct page *`). */
  bvPage: number;
  bvLen: number;
  bvOffset: number;
}

/** An end_io callback (`bio_end_io_t`): runs once the bio and all its chained children completed. */
export type BioEndIo = (bio: number, k: Kernel) => void;

const SITE_BIO_PUT = 32;
/** How each field is stored: 0 u32, 1 u16, 2 s32, 3 u64 (bi_sector). */
const KIND: Readonly<Record<BioField, 0 | 1 | 2 | 3>> = {
  bi_next: 0,
  bi_bdev: 0,
  bi_flags: 0,
  bi_error: 2,
  bi_rw: 0,
  bi_phys_segments: 0,
  bi_sector: 3,
  bi_size: 0,
  bi_idx: 0,
  bi_bvec_done: 0,
  bi_seg_front_size: 0,
  bi_seg_back_size: 0,
  __bi_remaining: 2,
  bi_end_io: 0,
  bi_private: 0,
  bi_vcnt: 1,
  bi_max_vecs: 1,
  __bi_cnt: 2,
  bi_io_vec: 0,
  bi_pool: 0,
};
const BIOSET_BYTES = 16;
const MAX_POOL_SIZE = 2048;
const MAX_FRONT_PAD = 4096;

function checkU32(v: unknown, op: string, what: string): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 0xffffffff) {
    throw new RangeError(`${op}: ${what} must be a u32, got ${String(v)}`);
  }
  return v;
}

function checkRange(v: unknown, op: string, what: string, min: number, max: number): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    throw new RangeError(`${op}: ${what} must be an integer in [${min}, ${max}], got ${String(v)}`);
  }
  return v;
}

/**
 * The bio state of one Kernel, made by `init_bio()` on first use
 * ({@link bioLayer}): the biovec slabs, the "bio-N" slabs shared by biosets
 * of one size, the live biosets, the end_io table and `fs_bio_set`.
 */
export class BioLayer {
  readonly kernel: Kernel;
  readonly core: CoreExports;
  /** `bvec_slabs[i].slab`, "biovec-1" … "biovec-256". */
  readonly bvecSlabs: readonly KmemCache[];
  readonly #bioSlabs: ({ cache: KmemCache; ref: number; size: number } | null)[] = [];
  readonly #biosets = new Map<number, BioSet>();
  /** By id; 0 is none, 1 `bio_chain_endio()`, 2 `dio_bio_end_aio()` and 3 `dio_bio_end_io()`, the core's own. */
  readonly #endIo: (BioEndIo | null)[] = [null, null, null, null];
  readonly #endIoIds = new Map<string, number>();
  #fs: BioSet | null = null;

  /** @internal use {@link bioLayer} */
  constructor(k: Kernel) {
    this.kernel = k;
    this.core = k.core;
    k.slab.names.defineSite(SITE_BIO_PUT, "bio_put");
    // biovec_init_slabs(); v4.4 makes no slab for classes up to BIO_INLINE_VECS.
    this.bvecSlabs = BVEC_CLASSES.map((n) =>
      k.slab.createCache(`biovec-${n}`, n * BVEC_SIZE, { flags: SLAB_HWCACHE_ALIGN })
    );
  }

  /** A DataView of linear memory, fresh after growth ({@link Kernel.dv}). */
  get view(): DataView {
    return this.kernel.dv;
  }

  /** `fs_bio_set`, created on first use with `bioset_create(BIO_POOL_SIZE, 0)`. */
  get fsBioSet(): BioSet {
    this.#fs ??= bioSetCreate(this.kernel, BIO_POOL_SIZE, 0);
    return this.#fs;
  }

  /** Whether `fs_bio_set` exists. */
  get hasFsBioSet(): boolean {
    return this.#fs !== null;
  }

  /**
   * Registers an end_io callback under `name` and returns its id for
   * `bi_end_io`. The same name and function give the same id again.
   * @throws {TypeError} when `name` is taken by another function
   */
  registerEndIo(name: string, fn: BioEndIo): number {
    if (typeof fn !== "function") throw new TypeError("registerEndIo: fn must be a function");
    const id = this.#endIoIds.get(name);
    if (id !== undefined) {
      if (this.#endIo[id] !== fn) {
        throw new TypeError(`registerEndIo: ${name} is registered to another function`);
      }
      return id;
    }
    this.#endIo.push(fn);
    this.#endIoIds.set(name, this.#endIo.length - 1);
    return this.#endIo.length - 1;
  }

  /** The callback of an end_io id, or null. */
  endIo(id: number): BioEndIo | null {
    return this.#endIo[id] ?? null;
  }

  /** The live bioset whose record is at `ptr`. */
  bioset(ptr: number): BioSet | undefined {
    return this.#biosets.get(ptr);
  }

  /** Live biosets, `fs_bio_set` included. */
  get nrBiosets(): number {
    return this.#biosets.size;
  }

  /** @internal Mirrors `bio_find_or_create_slab()` (block/bio.c): "bio-<entry>", shared by size. */
  findOrCreateSlab(size: number): KmemCache {
    let entry = -1;
    for (let i = 0; i < this.#bioSlabs.length; i++) {
      const s = this.#bioSlabs[i];
      if (s === null) {
        if (entry === -1) entry = i;
      } else if (s.size === size) {
        s.ref++;
        return s.cache;
      }
    }
    if (entry === -1) entry = this.#bioSlabs.length;
    const cache = this.kernel.slab.createCache(`bio-${entry}`, size, { flags: SLAB_HWCACHE_ALIGN });
    this.#bioSlabs[entry] = { cache, ref: 1, size };
    return cache;
  }

  /** @internal Mirrors `bio_put_slab()`: the last user destroys the cache. */
  putSlab(cache: KmemCache): void {
    const i = this.#bioSlabs.findIndex((s) => s?.cache === cache);
    if (i < 0) {
      this.kernel.log.warn("block/bio.c:bio_put_slab", "bio: unable to find slab!");
      return;
    }
    const s = this.#bioSlabs[i]!;
    if (--s.ref > 0) return;
    s.cache.destroy();
    this.#bioSlabs[i] = null;
  }

  /** @internal */
  addBioset(bs: BioSet): void {
    this.#biosets.set(bs.ptr, bs);
  }

  /** @internal */
  dropBioset(bs: BioSet): void {
    this.#biosets.delete(bs.ptr);
    if (this.#fs === bs) this.#fs = null;
  }
}

/** The bio layer of each machine (`init_bio()` state); gone after {@link bioExit}. */
const LAYERS = new MachineMap<BioLayer>("bio layer");

/** The bio state of `k`, made on first use (mirrors `init_bio()` without `fs_bio_set`, which {@link fsBioSet} makes). */
export function bioLayer(k: Kernel): BioLayer {
  let l = LAYERS.get(k);
  if (l === undefined) LAYERS.set(k, l = new BioLayer(k));
  return l;
}

/** Mirrors `fs_bio_set` (block/bio.c): the kernel's shared bioset (`BIO_POOL_SIZE` reserved bios), made on first use. */
export function fsBioSet(k: Kernel): BioSet {
  return bioLayer(k).fsBioSet;
}

/**
 * Frees `fs_bio_set` and the biovec slabs of `k` (a project addition: the
 * kernel keeps them for ever), so a test can end with zero live objects.
 * The next use makes them again.
 *
 * @throws {TypeError} while another bioset is live
 * @throws {KernelError} EBUSY when bios are still out (the cache stays)
 */
export function bioExit(k: Kernel): void {
  const l = LAYERS.get(k);
  if (l === undefined) return;
  const own = l.hasFsBioSet ? 1 : 0;
  if (l.nrBiosets > own) throw new TypeError(`bioExit: ${l.nrBiosets - own} bioset(s) still live`);
  if (own) bioSetFree(l.fsBioSet);
  for (const c of l.bvecSlabs) c.destroy();
  LAYERS.delete(k);
}

/**
 * Mirrors `struct bio_set` (include/linux/bio.h, v4.4): a bio mempool over
 * a "bio-N" slab of `front_pad + bio + BIO_INLINE_VECS` bytes and a
 * biovec-256 mempool. Create with {@link bioSetCreate}. No rescuer
 * workqueue yet: it serves `current->bio_list`, which arrives with
 * generic_make_request().
 */
export class BioSet {
  readonly layer: BioLayer;
  readonly kernel: Kernel;
  /** Address of the bio_set record (the bios' `bi_pool`). */
  readonly ptr: number;
  /** `bs->front_pad`: bytes before each bio in its slab object. */
  readonly frontPad: number;
  /** The reserve size of both pools. */
  readonly poolSize: number;
  /** `bs->bio_slab`. */
  readonly bioSlab: KmemCache;
  /** `bs->bio_pool`. */
  readonly bioPool: Mempool;
  /** `bs->bvec_pool` (biovec-256), or null for {@link bioSetCreateNobvec}. */
  readonly bvecPool: Mempool | null;
  #freed = false;

  /** @internal use {@link bioSetCreate} */
  constructor(
    layer: BioLayer,
    ptr: number,
    frontPad: number,
    poolSize: number,
    bioSlab: KmemCache,
    bioPool: Mempool,
    bvecPool: Mempool | null,
  ) {
    this.layer = layer;
    this.kernel = layer.kernel;
    this.ptr = ptr;
    this.frontPad = frontPad;
    this.poolSize = poolSize;
    this.bioSlab = bioSlab;
    this.bioPool = bioPool;
    this.bvecPool = bvecPool;
  }

  /** Whether {@link bioSetFree} has run. */
  get freed(): boolean {
    return this.#freed;
  }

  /** @internal @throws {TypeError} once freed */
  checkLive(op: string): void {
    if (this.#freed) throw new TypeError(`${op}: the bio_set was freed`);
  }

  /** @internal */
  markFreed(): void {
    this.#freed = true;
  }
}

/**
 * Mirrors `bioset_create()` (block/bio.c, v4.4): `pool_size` reserved bios
 * and biovec-256 arrays.
 *
 * @param frontPad bytes the caller keeps before each bio (`container_of()` space), 0..4096
 * @throws {RangeError} on a bad size; {@link KernelError} ENOMEM when memory is short (nothing is left behind)
 * @example
 * const bs = bioSetCreate(k, 4, 0);
 * const bio = bioAllocNowait(bs, GFP_ATOMIC, 1);
 * bioPut(k, bio);
 * bioSetFree(bs);
 */
export function bioSetCreate(k: Kernel, poolSize: number, frontPad: number): BioSet {
  return createBioset(k, poolSize, frontPad, true);
}

/** Mirrors `bioset_create_nobvec()`: a bioset for bios without vecs (clones, splits). */
export function bioSetCreateNobvec(k: Kernel, poolSize: number, frontPad: number): BioSet {
  return createBioset(k, poolSize, frontPad, false);
}

function createBioset(k: Kernel, poolSize: number, frontPad: number, bvecs: boolean): BioSet {
  checkRange(poolSize, "bioset_create", "pool_size", 0, MAX_POOL_SIZE);
  checkRange(frontPad, "bioset_create", "front_pad", 0, MAX_FRONT_PAD);
  const l = bioLayer(k);
  const slab = k.slab;
  const ptr = slab.kzalloc(BIOSET_BYTES, "bioset_create");
  let bioSlab: KmemCache | null = null;
  let bioPool: Mempool | null = null;
  try {
    bioSlab = l.findOrCreateSlab(frontPad + BIO_SIZE + BIO_INLINE_VECS * BVEC_SIZE);
    bioPool = Mempool.createSlabPool(slab, poolSize, bioSlab, "bio_alloc_bioset");
    const bvecPool = bvecs
      ? Mempool.createSlabPool(slab, poolSize, l.bvecSlabs[BIOVEC_MAX_IDX], "bvec_alloc")
      : null;
    const dv = l.view;
    dv.setUint32(ptr, frontPad, true);
    dv.setUint32(ptr + 4, bioSlab.id, true);
    dv.setUint32(ptr + 8, bioPool.ptr, true);
    dv.setUint32(ptr + 12, bvecPool?.ptr ?? 0, true);
    const bs = new BioSet(l, ptr, frontPad, poolSize, bioSlab, bioPool, bvecPool);
    l.addBioset(bs);
    return bs;
  } catch (e) {
    bioPool?.destroy();
    if (bioSlab !== null) l.putSlab(bioSlab);
    slab.kfree(ptr);
    throw e;
  }
}

/**
 * Mirrors `bioset_free()` (block/bio.c): destroys both mempools (their
 * reserves), drops the "bio-N" slab and frees the record.
 *
 * @throws {TypeError} when already freed
 * @throws {KernelError} EBUSY (and a SLUB report) when this was the slab's last user and bios are still out
 */
export function bioSetFree(bs: BioSet): void {
  bs.checkLive("bioset_free");
  bs.bioPool.destroy();
  bs.bvecPool?.destroy();
  bs.markFreed();
  bs.layer.dropBioset(bs);
  bs.kernel.slab.kfree(bs.ptr);
  bs.layer.putSlab(bs.bioSlab);
}

/**
 * Mirrors `bvec_alloc()` (block/bio.c, v4.4): the class slab without
 * sleeping first (classes below biovec-256), then, when the mask may block,
 * the biovec-256 mempool.
 *
 * @returns [bvl, class], bvl 0 when nothing could be had
 */
function* bvecAlloc(bs: BioSet, gfp: number, nr: number): Sleepable<readonly [number, number]> {
  const l = bs.layer;
  const idx = l.core.bvec_idx(nr);
  if (idx < 0) return [0, BIO_POOL_NONE];
  if (idx !== BIOVEC_MAX_IDX) {
    const slab = l.kernel.slab;
    const bvl = l.core.kmem_cache_alloc(l.bvecSlabs[idx].id, slab.site("bvec_alloc"));
    if (bvl !== 0 || (gfp & __GFP_DIRECT_RECLAIM) === 0) return [bvl, idx];
  }
  const bvl = yield* bs.bvecPool!.allocWait(gfp, l.kernel.sched);
  return [bvl, BIOVEC_MAX_IDX];
}

/**
 * Mirrors `bio_alloc_bioset()` (block/bio.c, v4.4) for a task of the
 * kernel's scheduler: a bio with room for `nrVecs` bio_vecs (up to
 * BIO_INLINE_VECS inline, more from a bvec class). With
 * `__GFP_DIRECT_RECLAIM` (GFP_NOIO, GFP_KERNEL) it never returns 0 for
 * 0..BIO_MAX_PAGES vecs: the allocator first, then the reserve, then it
 * sleeps until a bio is freed (`mempool_alloc()`).
 *
 * @returns the bio, or 0 (NULL) for a mask that cannot sleep when memory is
 *   short, for nrVecs > BIO_MAX_PAGES, or vecs asked of a nobvec set (WARN)
 * @example
 * k.sched.spawn("dio", function* () { const bio = yield* bioAlloc(fsBioSet(k), GFP_NOIO, 16); bioPut(k, bio); });
 */
export function* bioAlloc(bs: BioSet, gfp: number, nrVecs: number): Sleepable<number> {
  if (nrVecs <= BIO_INLINE_VECS) {
    const bio = bioAllocTry(bs, gfp, nrVecs);
    if (bio !== BIO_ALLOC_WOULD_SLEEP) return bio;
    const p = yield* bs.bioPool.allocSlow(gfp, bs.kernel.sched);
    return p === 0 ? 0 : bioAllocInit(bs, p, nrVecs, 0, BIO_POOL_NONE);
  }
  if (!bioAllocChecks(bs, gfp, nrVecs)) return 0;
  const p = yield* bs.bioPool.allocWait(gfp, bs.kernel.sched);
  if (p === 0) return 0;
  const [bvl, idx] = yield* bvecAlloc(bs, gfp, nrVecs);
  if (bvl === 0) {
    bs.bioPool.free(p);
    return 0;
  }
  return bioAllocInit(bs, p, nrVecs, bvl, idx);
}

/**
 * {@link bioAllocTry}'s answer when the allocation must sleep (a mask with
 * `__GFP_DIRECT_RECLAIM`, allocator and reserve exhausted): nothing was
 * allocated; go on with {@link bioAlloc} from a task.
 */
export const BIO_ALLOC_WOULD_SLEEP = -1;

/**
 * {@link bioAlloc} up to where it would sleep, creating no JS object: the
 * bio mempool's allocator then its reserve, and for more than
 * BIO_INLINE_VECS vecs `bvec_alloc()` without sleeping. The sync batch path
 * calls it first and falls back to `yield* bioAlloc()` only on
 * {@link BIO_ALLOC_WOULD_SLEEP}.
 *
 * @returns the bio; 0 (NULL) where {@link bioAlloc} returns it (a mask that
 *   cannot sleep and no memory, too many vecs, vecs of a nobvec set); or
 *   {@link BIO_ALLOC_WOULD_SLEEP}
 */
export function bioAllocTry(bs: BioSet, gfp: number, nrVecs: number): number {
  if (!bioAllocChecks(bs, gfp, nrVecs)) return 0;
  const blocking = (gfp & __GFP_DIRECT_RECLAIM) !== 0;
  if (nrVecs <= BIO_INLINE_VECS) {
    const bio = bs.layer.core.bio_alloc_nowait(bs.ptr, gfp, nrVecs); // the pool's first pass and bio_init() in one call
    return bio !== 0 ? bio : blocking ? BIO_ALLOC_WOULD_SLEEP : 0;
  }
  const p = bs.bioPool.alloc(gfp);
  if (p === 0) return blocking ? BIO_ALLOC_WOULD_SLEEP : 0;
  const l = bs.layer;
  const idx = l.core.bvec_idx(nrVecs);
  let bvl = 0;
  if (idx >= 0 && idx !== BIOVEC_MAX_IDX) {
    bvl = l.core.kmem_cache_alloc(l.bvecSlabs[idx].id, l.kernel.slab.site("bvec_alloc"));
    if (bvl !== 0) return bioAllocInit(bs, p, nrVecs, bvl, idx);
  }
  if (idx >= 0 && (idx === BIOVEC_MAX_IDX || blocking)) {
    bvl = bs.bvecPool!.alloc(gfp); // bvec_alloc()'s mempool: its first attempt
    if (bvl !== 0) return bioAllocInit(bs, p, nrVecs, bvl, BIOVEC_MAX_IDX);
  }
  bs.bioPool.free(p);
  return idx >= 0 && blocking ? BIO_ALLOC_WOULD_SLEEP : 0;
}

/** The argument checks of `bio_alloc_bioset()`; false after the WARN for vecs of a nobvec set. */
function bioAllocChecks(bs: BioSet, gfp: number, nrVecs: number): boolean {
  bs.checkLive("bio_alloc_bioset");
  checkRange(gfp, "bio_alloc_bioset", "gfp", 0, 0x7fffffff);
  checkRange(nrVecs, "bio_alloc_bioset", "nr_iovecs", 0, 0x7fffffff);
  if (bs.bvecPool === null && nrVecs > 0) {
    bs.kernel.log.warnOnce("block/bio.c:bio_alloc_bioset", "WARN_ON_ONCE(!bs->bvec_pool && nr_iovecs > 0)");
    return false;
  }
  return true;
}

/** `bio_init()` of a bio_alloc_bioset(): the record at `p + front_pad` with its vecs. */
function bioAllocInit(bs: BioSet, p: number, nrVecs: number, bvl: number, idx: number): number {
  const bio = p + bs.frontPad;
  const k = bs.kernel;
  if (k.core.bio_alloc_init(bio, bs.ptr, nrVecs, bvl, idx) < 0) {
    k.log.bug("block/bio.c:bio_alloc_bioset", "bio_alloc_init failed");
  }
  return bio;
}

/**
 * {@link bioAlloc} for callers that cannot sleep (GFP_ATOMIC, GFP_NOWAIT):
 * the allocator, then the reserve, never a sleep.
 *
 * @returns the bio, or 0 (NULL, ENOMEM) when memory and reserve are exhausted
 * @throws {RangeError} for a mask with `__GFP_DIRECT_RECLAIM` (use {@link bioAlloc} from a task)
 */
export function bioAllocNowait(bs: BioSet, gfp: number, nrVecs: number): number {
  if ((gfp & __GFP_DIRECT_RECLAIM) !== 0) {
    throw new RangeError("bio_alloc_bioset: a mask that may sleep needs bioAlloc() from a task");
  }
  return bioAllocTry(bs, gfp, nrVecs);
}

/** A KernelBug for a record call that returned -EINVAL. */
function bioBug(k: Kernel, fn: string, what: string): never {
  return k.log.bug(`block/bio.c:${fn}`, `${fn}: ${what}`);
}

/**
 * Mirrors `bio_free()` (block/bio.c, v4.4): the bvecs to their class (or
 * the bvec mempool), the bio minus front_pad to its bio mempool; a bio
 * without bi_pool was kmalloc'd (`bio_kmalloc()`) and is kfree'd.
 */
function bioFree(l: BioLayer, bio: number): void {
  const dv = l.view;
  const pool = dv.getUint32(bio + BIO.bi_pool, true);
  if (pool === 0) {
    l.kernel.slab.kfree(bio);
    return;
  }
  const bs = l.bioset(pool);
  if (bs === undefined) bioBug(l.kernel, "bio_free", `bi_pool ${pool} is not a live bio_set`);
  const flags = dv.getUint32(bio + BIO.bi_flags, true);
  if (flags & (1 << BIO_OWNS_VEC)) {
    const idx = flags >>> BIO_POOL_OFFSET;
    const bvl = dv.getUint32(bio + BIO.bi_io_vec, true);
    if (idx >= BIOVEC_NR_POOLS) bioBug(l.kernel, "bvec_free", "BIO_BUG_ON(idx >= BIOVEC_NR_POOLS)");
    if (idx === BIOVEC_MAX_IDX) bs.bvecPool!.free(bvl);
    else l.bvecSlabs[idx].free(bvl);
  }
  bs.bioPool.free(bio - bs.frontPad);
}

/** `bio_free()` of a bio the core put and left to TS (host_bio_free: vecs of its own, or kmalloc'd). */
export function bioFreeHost(k: Kernel, bio: number): void {
  bioFree(bioLayer(k), bio);
}

/**
 * The wake-up of `mempool_free()` for a bio the core freed to the bio_pool
 * of bio_set record `bs` and that refilled its reserve (host_bio_pool_wake).
 * @throws {KernelBug} when `bs` is no live bio_set
 */
export function bioPoolWakeHost(k: Kernel, bs: number): void {
  const set = bioLayer(k).bioset(bs);
  if (set === undefined) bioBug(k, "bio_free", `bi_pool ${bs} is not a live bio_set`);
  set.bioPool._wakeUp();
}

/**
 * Mirrors `bio_put()` (block/bio.c, v4.4): drops a reference; the last one
 * frees the bio to its bio_set (waking a task sleeping for one when the
 * bio refills the reserve).
 *
 * @throws {KasanBug} for a bio already freed: "double-free or invalid-free in bio_put" (logged; nothing changes)
 */
export function bioPut(k: Kernel, bio: number): void {
  checkU32(bio, "bio_put", "bio");
  // bi_pool (the bio_set record) is read while the bio is still ours: the wake after a refill needs it.
  const dv = k.dv;
  const set = bio <= dv.byteLength - BIO_SIZE ? dv.getUint32(bio + BIO.bi_pool, true) : 0;
  const rc = k.core.bio_put_free(bio); // a bio with inline vecs goes back to its pool in the core
  if (rc === 0) return;
  if (rc === 1) bioPoolWakeHost(k, set);
  else if (rc === BIO_PUT_FREE_HOST) bioFree(bioLayer(k), bio);
  else if (rc === BIO_PUT_BAD_SET) bioBug(k, "bio_free", `bi_pool ${set} is not a live bio_set`);
  else {
    k.slab.kasan.raise(); // the double free (-22), or the element the pool refused
    bioBug(k, "bio_put", rc === BIO_PUT_POOL_REFUSED ? "mempool_free refused the bio" : "freed bio");
  }
}

/** {@link bioPut}'s answers from the core's `bio_put_free()` (asm/bio.ts) beyond 0 (done) and 1 (freed into the reserve). */
const BIO_PUT_FREE_HOST = 2;
const BIO_PUT_BAD_SET = -3;
const BIO_PUT_POOL_REFUSED = -4;

/** Mirrors `bio_get()`: takes a reference (BIO_REFFED). @throws {KernelBug} for a freed bio */
export function bioGet(k: Kernel, bio: number): void {
  if (k.core.bio_get(checkU32(bio, "bio_get", "bio")) < 0) bioBug(k, "bio_get", "freed bio");
}

/** Mirrors `bio_reset()`: clears the I/O state, keeping the allocation (vecs, pool, refcount). @throws {KernelBug} for a freed bio */
export function bioReset(k: Kernel, bio: number): void {
  if (k.core.bio_reset(checkU32(bio, "bio_reset", "bio")) < 0) bioBug(k, "bio_reset", "freed bio");
}

/**
 * Mirrors `bio_chain()` (block/bio.c): `parent` completes only after `bio`
 * does too, and inherits its error when it has none.
 * @throws {KernelBug} for BUG_ON(bio->bi_private || bio->bi_end_io) or a freed bio
 */
export function bioChain(k: Kernel, bio: number, parent: number): void {
  checkU32(bio, "bio_chain", "bio");
  checkU32(parent, "bio_chain", "parent");
  if (k.core.bio_chain(bio, parent) < 0) {
    bioBug(k, "bio_chain", "BUG_ON(bio->bi_private || bio->bi_end_io)");
  }
}

/**
 * Mirrors `bio_endio()` (block/bio.c, v4.4): ends the bio; a chained bio
 * passes its error on to its parent, is put, and ends the parent once all
 * of the parent's children have ended; otherwise the end_io callback runs.
 * The error is set beforehand in `bi_error` ({@link bioIoError} for -EIO).
 *
 * @throws {KernelBug} for a freed bio or BUG_ON(__bi_remaining <= 0)
 */
export function bioEndio(k: Kernel, bio: number): void {
  checkU32(bio, "bio_endio", "bio");
  if (k.core.bio_endio(bio) < 0) {
    bioBug(k, "bio_endio", "freed bio or BUG_ON(atomic_read(&bio->__bi_remaining) <= 0)");
  }
}

/**
 * Runs the end_io callback `id` of `bio`, for the core's `bio_endio()`
 * (host_bio_end_io).
 *
 * @throws {KernelBug} when no callback is registered under `id`
 */
export function bioEndIoCallback(k: Kernel, bio: number, id: number): void {
  const fn = bioLayer(k).endIo(id);
  if (fn === null) bioBug(k, "bio_endio", `bi_end_io ${id} is not registered`);
  fn(bio, k);
}

/** Mirrors `bio_io_error()`: bi_error = -EIO, then {@link bioEndio}. */
export function bioIoError(k: Kernel, bio: number): void {
  bioSetField(k, bio, "bi_error", -5);
  bioEndio(k, bio);
}

/**
 * Mirrors `bio_add_page()` (block/bio.c, v4.4): appends a bio_vec, or grows
 * the last one when `page`/`offset` continue it.
 * @returns len, or 0 when the bio is full (or cloned: WARN_ON_ONCE)
 * @throws {KernelBug} for a freed bio
 */
export function bioAddPage(
  k: Kernel,
  bio: number,
  page: number,
  len: number,
  offset: number,
): number {
  checkU32(page, "bio_add_page", "page");
  checkU32(len, "bio_add_page", "len");
  checkU32(offset, "bio_add_page", "offset");
  const rc = k.core.bio_add_page(checkU32(bio, "bio_add_page", "bio"), page, len, offset);
  if (rc === -1) {
    k.log.warnOnce("block/bio.c:bio_add_page", "WARN_ON_ONCE(bio_flagged(bio, BIO_CLONED))");
    return 0;
  }
  if (rc < 0) bioBug(k, "bio_add_page", "freed bio");
  return rc >>> 0;
}

/** Mirrors `bio_segments()`: segments left from the current iterator. @throws {KernelBug} for a freed bio */
export function bioSegments(k: Kernel, bio: number): number {
  const rc = k.core.bio_segments(checkU32(bio, "bio_segments", "bio"));
  if (rc < 0) bioBug(k, "bio_segments", "freed bio");
  return rc;
}

/**
 * Mirrors `bio_advance()`: moves the iterator `bytes` on.
 * Past bi_size the kernel WARNs and spins; the port WARNs once and changes nothing.
 * @throws {KernelBug} for a freed bio
 */
export function bioAdvance(k: Kernel, bio: number, bytes: number): void {
  const rc = k.core.bio_advance(
    checkU32(bio, "bio_advance", "bio"),
    checkU32(bytes, "bio_advance", "bytes"),
  );
  if (rc === -7) {
    k.log.warnOnce(
      "include/linux/bio.h:bvec_iter_advance",
      "Attempted to advance past end of bvec iter",
    );
  } else if (rc < 0) bioBug(k, "bio_advance", "freed bio");
}

/** Mirrors `bio_sectors()`: bi_size in 512-byte sectors. */
export function bioSectors(k: Kernel, bio: number): number {
  return bioField(k, bio, "bi_size") >>> 9;
}

/**
 * Mirrors `bio_split()` (block/bio.c, v4.4): a new bio from `bs` for the
 * first `sectors` of `bio` (sharing its vecs, BIO_CLONED), and `bio`
 * advanced past them. The caller usually chains them ({@link bioChain}).
 *
 * @returns the split, or 0 for a mask that cannot sleep when memory is short
 * @throws {KernelBug} for BUG_ON(sectors <= 0) or BUG_ON(sectors >= bio_sectors(bio))
 */
export function* bioSplit(
  k: Kernel,
  bio: number,
  sectors: number,
  gfp: number,
  bs: BioSet,
): Sleepable<number> {
  checkU32(bio, "bio_split", "bio");
  if (!Number.isInteger(sectors) || sectors <= 0) bioBug(k, "bio_split", "BUG_ON(sectors <= 0)");
  if (sectors >= bioSectors(k, bio)) bioBug(k, "bio_split", "BUG_ON(sectors >= bio_sectors(bio))");
  const split = yield* bioAlloc(bs, gfp, 0);
  if (split === 0) return 0;
  if (k.core.bio_split_init(split, bio, sectors) < 0) {
    bioPut(k, split);
    bioBug(k, "bio_split", "freed bio");
  }
  return split;
}

/** {@link bioSplit} for callers that cannot sleep. @returns the split, or 0 */
export function bioSplitNowait(
  k: Kernel,
  bio: number,
  sectors: number,
  gfp: number,
  bs: BioSet,
): number {
  if ((gfp & __GFP_DIRECT_RECLAIM) !== 0) {
    throw new RangeError("bio_split: a mask that may sleep needs bioSplit() from a task");
  }
  const r = bioSplit(k, bio, sectors, gfp, bs).next();
  if (!r.done) throw new Error("bioSplitNowait: slept with a non-blocking mask");
  return r.value;
}

/** Reads one `struct bio` field (bi_sector as a number, exact below 2^53). */
export function bioField(k: Kernel, bio: number, f: BioField): number {
  const dv = k.dv;
  const at = bio + BIO[f];
  switch (KIND[f]) {
    case 0:
      return dv.getUint32(at, true);
    case 1:
      return dv.getUint16(at, true);
    case 2:
      return dv.getInt32(at, true);
    default:
      return getU64(dv, at);
  }
}

/** `bio->bi_rw` (the hot path's reader: {@link bioField} with the offset known). */
export function bioRw(k: Kernel, bio: number): number {
  return k.dv.getUint32(bio + BIO.bi_rw, true);
}

/** `bio->bi_iter.bi_size`. */
export function bioSize(k: Kernel, bio: number): number {
  return k.dv.getUint32(bio + BIO.bi_size, true);
}

/** `bio->bi_iter.bi_sector`. */
export function bioSector(k: Kernel, bio: number): number {
  return getU64(k.dv, bio + BIO.bi_sector);
}

/** `bio->bi_vcnt`. */
export function bioVcnt(k: Kernel, bio: number): number {
  return k.dv.getUint16(bio + BIO.bi_vcnt, true);
}

/** `bio->bi_next`. */
export function bioNext(k: Kernel, bio: number): number {
  return k.dv.getUint32(bio + BIO.bi_next, true);
}

/** `bio->bi_error`. */
export function bioError(k: Kernel, bio: number): number {
  return k.dv.getInt32(bio + BIO.bi_error, true);
}

/** `bio->bi_private`. */
export function bioPrivate(k: Kernel, bio: number): number {
  return k.dv.getUint32(bio + BIO.bi_private, true);
}

/**
 * The fields a submitter sets before `submit_bio()` (`bi_iter.bi_sector`,
 * `bi_rw`, `bi_end_io`, `bi_private`), as the hot path writes them: one
 * call, fixed offsets, the same range checks as {@link bioSetField}.
 * @throws {RangeError} for a value a field cannot hold
 */
export function bioSetIo(k: Kernel, bio: number, sector: number, rw: number, endIo: number, priv: number): void {
  checkRange(sector, "bio", "bi_sector", 0, Number.MAX_SAFE_INTEGER);
  checkU32(rw, "bio", "bi_rw");
  checkU32(endIo, "bio", "bi_end_io");
  checkU32(priv, "bio", "bi_private");
  const dv = k.dv;
  setU64(dv, bio + BIO.bi_sector, sector);
  dv.setUint32(bio + BIO.bi_rw, rw, true);
  dv.setUint32(bio + BIO.bi_end_io, endIo, true);
  dv.setUint32(bio + BIO.bi_private, priv, true);
}

/**
 * Writes one `struct bio` field.
 * @throws {RangeError} for a value the field cannot hold
 */
export function bioSetField(k: Kernel, bio: number, f: BioField, v: number): void {
  const dv = k.dv;
  const at = bio + BIO[f];
  switch (KIND[f]) {
    case 0:
      dv.setUint32(at, checkU32(v, "bio", f), true);
      return;
    case 1:
      dv.setUint16(at, checkRange(v, "bio", f, 0, 0xffff), true);
      return;
    case 2:
      dv.setInt32(at, checkRange(v, "bio", f, -0x80000000, 0x7fffffff), true);
      return;
    default:
      checkRange(v, "bio", f, 0, Number.MAX_SAFE_INTEGER);
      setU64(dv, at, v);
  }
}

/** Every field of a bio, for tests and dumps. */
export function bioSnapshot(k: Kernel, bio: number): Record<BioField, number> {
  const out = {} as Record<BioField, number>;
  for (const f of Object.keys(BIO) as BioField[]) out[f] = bioField(k, bio, f);
  return out;
}

/** `bio->bi_io_vec[i]`. */
export function bioVec(k: Kernel, bio: number, i: number): BioVec {
  const dv = k.dv;
  const at = dv.getUint32(bio + BIO.bi_io_vec, true) + BVEC_SIZE * i;
  return {
    bvPage: dv.getUint32(at, true),
    bvLen: dv.getUint32(at + 4, true),
    bvOffset: dv.getUint32(at + 8, true),
  };
}

/** Sets `bi_bdev` to the queue with id `queueId` (stored + 1; -1 clears it). */
export function bioSetDev(k: Kernel, bio: number, queueId: number): void {
  bioSetField(k, bio, "bi_bdev", checkRange(queueId, "bio_set_dev", "queueId", -1, 0xfffffffe) + 1);
}

/** The queue id in `bi_bdev`, or -1 for none. */
export function bioDev(k: Kernel, bio: number): number {
  return k.dv.getUint32(bio + BIO.bi_bdev, true) - 1;
}

/** Registers an end_io callback of `k` (see {@link BioLayer.registerEndIo}). @returns its id for bi_end_io */
export function registerBioEndIo(k: Kernel, name: string, fn: BioEndIo): number {
  return bioLayer(k).registerEndIo(name, fn);
}

/** Mirrors the switch of `bvec_alloc()`: the bvec class of nr vecs. @throws {KernelError} EINVAL outside 1..BIO_MAX_PAGES */
export function bvecIdx(k: Kernel, nr: number): number {
  const idx = k.core.bvec_idx(checkRange(nr, "bvec_alloc", "nr", -0x80000000, 0x7fffffff));
  if (idx < 0) throw new KernelError("EINVAL", "bvec_alloc", `nr ${nr}`);
  return idx;
}
