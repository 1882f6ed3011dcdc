// SPDX-License-Identifier: GPL-2.0-only
/**
 * Direct-I/O contexts (`struct dio`, fs/direct-io.c, v4.4) with NeilBrown's
 * March 2015 patch "block_dev/DIO - cache one bio allocation when caching a
 * DIO": a persistent dio (DIO_PERSISTENT_DIO, the dio an mlockall() process
 * keeps across I/Os) holds one completed bio in `cache_bio` and takes it
 * again instead of calling bio_alloc(), so a device whose bios are stuck
 * (frozen) while holding all of `fs_bio_set`'s reserve cannot starve it.
 *
 * The rules, as the patch states them:
 * - {@link dioBioAlloc}: use the cached bio when present and
 *   `bi_max_vecs >= nr_vecs` (after `bio_reset()`), else `bio_alloc(GFP_KERNEL)`;
 * - {@link dioBioComplete}: keep the larger of the cached and the completed
 *   bio (by bi_max_vecs; the cached one on a tie), put the other;
 * - {@link dioFree}: put the cached bio.
 *
 * The guarantee covers one bio in flight at a time: a second bio while the
 * cached one is out comes from `fs_bio_set` like any other. Only the
 * synchronous path (`dio_bio_end_io()` + `dio_await_completion()`) is
 * modelled; there are no pages to dirty or release.
 *
 * @module
 */

import type { Kernel } from "../kernel/kernel.ts";
import { GFP_KERNEL } from "../kernel/mempool.ts";
import type { Sleepable, Task } from "../kernel/sched.ts";
import { Spinlock } from "../kernel/spinlock.ts";
import {
  bioAlloc,
  bioField,
  bioPut,
  bioReset,
  type BioSet,
  bioSetDev,
  bioSetField,
  fsBioSet,
  registerBioEndIo,
} from "./bio.ts";
import type { RequestQueue } from "./request_queue.ts";
import { MachineMap } from "../kernel/machine_map.ts";

/**
 * The flag of the seed's patch 1/2 ("DIO - cache a DIO structure") that
 * marks a dio kept across I/Os. Its value in that patch is unknown; the
 * port uses the first bit free in v4.4's `DIO_*` set.
 */
export const DIO_PERSISTENT_DIO = 0x10;
/** Bytes kmemleak charges a dio (v4.4 `struct dio` with its page array, cacheline aligned). */
const DIO_SIZE = 640;

/** How a dio hands a bio to the block layer (`submit_bio()`); the I/O path provides it. */
export type SubmitBio = (bio: number) => Sleepable<unknown>;

/** Options of {@link dioAlloc}. */
export interface DioOptions {
  /** DIO_PERSISTENT_DIO: keep one bio cached across I/Os. Default false. */
  persistent?: boolean;
  /** REQ_* bits for the bios (`dio->rw`, e.g. REQ_WRITE). Default 0 (read). */
  rw?: number;
  /** The bioset (default `fs_bio_set`, as `bio_alloc()` uses). */
  bs?: BioSet;
}

/** Mirrors `struct dio` (fs/direct-io.c, v4.4), the fields the bio path uses, plus the seed's `cache_bio`. */
export class Dio {
  readonly kernel: Kernel;
  /** The integer the bios carry in bi_private. */
  readonly handle: number;
  readonly bs: BioSet;
  /** `dio->flags` (DIO_PERSISTENT_DIO). */
  flags: number;
  /** `dio->rw`. */
  rw: number;
  /** `dio->refcount`: 1 for the submitter plus one per bio in flight. */
  refcount = 1;
  /** `dio->bio_list`: ended bios not yet reaped, linked through bi_private (0 = empty). */
  bioList = 0;
  /** `dio->waiter`: the task in {@link dioAwaitCompletion}. */
  waiter: Task | null = null;
  /** `dio->io_error`: -EIO once any bio failed. */
  ioError = 0;
  /** `dio->cache_bio` (the seed): the bio kept for the next allocation, 0 = none. */
  cacheBio = 0;
  /** `dio->bio_lock`. */
  readonly bioLock: Spinlock;
  #freed = false;

  /** @internal use {@link dioAlloc} */
  constructor(k: Kernel, handle: number, bs: BioSet, flags: number, rw: number) {
    this.kernel = k;
    this.handle = handle;
    this.bs = bs;
    this.flags = flags;
    this.rw = rw;
    this.bioLock = new Spinlock(k.sched, "&(&dio->bio_lock)->rlock");
  }

  /** Whether `flags` has DIO_PERSISTENT_DIO. */
  get persistent(): boolean {
    return (this.flags & DIO_PERSISTENT_DIO) !== 0;
  }

  /** Whether {@link dioFree} has run. */
  get freed(): boolean {
    return this.#freed;
  }

  /** @internal */
  checkLive(op: string): void {
    if (this.#freed) throw new TypeError(`${op}: the dio was freed`);
  }

  /** @internal */
  markFreed(): void {
    this.#freed = true;
  }
}

interface DioTable {
  readonly dios: Map<number, Dio>;
  next: number;
}

const TABLES = new MachineMap<DioTable>("dio table");

function table(k: Kernel): DioTable {
  let t = TABLES.get(k);
  if (t === undefined) {
    t = { dios: new Map(), next: 1 };
    TABLES.set(k, t);
  }
  return t;
}

/**
 * Mirrors the dio allocation of `do_blockdev_direct_IO()` with the seed's
 * `dio->cache_bio = NULL` (`kmem_cache_alloc(dio_cache)`, tracked by
 * kmemleak as a "dio").
 */
export function dioAlloc(k: Kernel, opts: DioOptions = {}): Dio {
  const t = table(k);
  const bs = opts.bs ?? fsBioSet(k);
  const rw = opts.rw ?? 0;
  if (!Number.isInteger(rw) || rw < 0 || rw > 0xffffffff) {
    throw new RangeError(`dio: rw must be a u32, got ${String(rw)}`);
  }
  const dio = new Dio(k, t.next++, bs, opts.persistent === true ? DIO_PERSISTENT_DIO : 0, rw);
  k.kmemleak.track(dio, { size: DIO_SIZE, cache: "dio", site: "do_blockdev_direct_IO" });
  t.dios.set(dio.handle, dio);
  return dio;
}

/**
 * The `memset(dio, 0, offsetof(struct dio, pages))` of
 * `do_blockdev_direct_IO()` when a persistent dio starts its next I/O: the
 * per-I/O state starts over; `cache_bio` sits after `pages` and survives.
 * @throws {TypeError} while bios are in flight
 */
export function dioPrepare(dio: Dio): void {
  dio.checkLive("dio_prepare");
  if (dio.refcount !== 1 || dio.bioList !== 0) {
    throw new TypeError("dio_prepare: bios of the last I/O are still out");
  }
  dio.ioError = 0;
  dio.waiter = null;
}

/**
 * Mirrors `dio_bio_alloc()` (fs/direct-io.c) with the seed's cache: a
 * persistent dio takes its cached bio when it has `bi_max_vecs >= nrVecs`
 * (reset), everything else comes from `bio_alloc(GFP_KERNEL, nrVecs)`,
 * which may sleep but never fails. Sets bi_bdev, bi_sector and bi_end_io.
 *
 * @param q the target device's queue
 * @returns the bio
 */
export function* dioBioAlloc(
  dio: Dio,
  q: RequestQueue,
  firstSector: number,
  nrVecs: number,
): Sleepable<number> {
  dio.checkLive("dio_bio_alloc");
  const k = dio.kernel;
  let bio = 0;
  if (dio.persistent && dio.cacheBio !== 0) {
    dio.bioLock.lockIrq("dio_bio_alloc");
    if (dio.cacheBio !== 0 && bioField(k, dio.cacheBio, "bi_max_vecs") >= nrVecs) {
      bio = dio.cacheBio;
      dio.cacheBio = 0;
      bioReset(k, bio);
    }
    dio.bioLock.unlockIrq("dio_bio_alloc");
  }
  if (bio === 0) bio = yield* bioAlloc(dio.bs, GFP_KERNEL, nrVecs);
  if (bio === 0) {
    return k.log.bug("fs/direct-io.c:dio_bio_alloc", "bio_alloc(GFP_KERNEL) returned NULL");
  }
  bioSetDev(k, bio, q.id);
  bioSetField(k, bio, "bi_sector", firstSector);
  bioSetField(k, bio, "bi_end_io", registerBioEndIo(k, "dio_bio_end_io", dioBioEndIo));
  return bio;
}

/**
 * Mirrors `dio_bio_submit()` (fs/direct-io.c, v4.4): bi_private = the dio,
 * `dio->refcount++` under bio_lock, then `submit_bio(dio->rw, bio)`.
 */
export function* dioBioSubmit(dio: Dio, bio: number, submit: SubmitBio): Sleepable {
  dio.checkLive("dio_bio_submit");
  const k = dio.kernel;
  bioSetField(k, bio, "bi_private", dio.handle);
  const flags = dio.bioLock.lockIrqsave("dio_bio_submit");
  dio.refcount++;
  dio.bioLock.unlockIrqrestore(flags, "dio_bio_submit");
  bioSetField(k, bio, "bi_rw", (bioField(k, bio, "bi_rw") | dio.rw) >>> 0);
  yield* submit(bio);
}

/**
 * Mirrors `dio_bio_end_io()` (fs/direct-io.c, v4.4), the bi_end_io of a
 * synchronous dio's bios: the bio joins `dio->bio_list` (through
 * bi_private) and the waiter wakes when the last one is in.
 */
export function dioBioEndIo(bio: number, k: Kernel): void {
  const dio = table(k).dios.get(bioField(k, bio, "bi_private"));
  if (dio === undefined) {
    return k.log.bug("fs/direct-io.c:dio_bio_end_io", "bi_private is not a live dio");
  }
  const flags = dio.bioLock.lockIrqsave("dio_bio_end_io");
  bioSetField(k, bio, "bi_private", dio.bioList);
  dio.bioList = bio;
  if (--dio.refcount === 1 && dio.waiter !== null) k.sched.wakeUpProcess(dio.waiter);
  dio.bioLock.unlockIrqrestore(flags, "dio_bio_end_io");
}

/**
 * Mirrors `dio_await_one()`: sleeps (D state) while bios are in flight and
 * none has been reaped. @returns an ended bio, or 0 when all are reaped
 */
function* dioAwaitOne(dio: Dio): Sleepable<number> {
  const k = dio.kernel;
  let flags = dio.bioLock.lockIrqsave("dio_await_one");
  while (dio.refcount > 1 && dio.bioList === 0) {
    k.sched.blockCurrent("dio_await_one", false);
    dio.waiter = k.sched.current;
    dio.bioLock.unlockIrqrestore(flags, "dio_await_one");
    yield;
    flags = dio.bioLock.lockIrqsave("dio_await_one");
    dio.waiter = null;
  }
  const bio = dio.bioList;
  if (bio !== 0) dio.bioList = bioField(k, bio, "bi_private");
  dio.bioLock.unlockIrqrestore(flags, "dio_await_one");
  return bio;
}

/**
 * Mirrors `dio_await_completion()` (fs/direct-io.c): reaps every bio of the
 * dio with {@link dioBioComplete}, sleeping until all have ended.
 * @returns `dio->io_error` (0 or -EIO)
 */
export function* dioAwaitCompletion(dio: Dio): Sleepable<number> {
  dio.checkLive("dio_await_completion");
  for (;;) {
    const bio = yield* dioAwaitOne(dio);
    if (bio === 0) return dio.ioError;
    dioBioComplete(dio, bio);
  }
}

/**
 * Mirrors `dio_bio_complete()` (fs/direct-io.c, v4.4) with the seed's
 * cache: a failed bio sets `io_error` to -EIO; a persistent dio then keeps
 * the larger of its cached bio and this one (by bi_max_vecs) and puts the
 * other, any other dio puts the bio.
 * @returns the bio's bi_error
 */
export function dioBioComplete(dio: Dio, bio: number): number {
  const k = dio.kernel;
  const err = bioField(k, bio, "bi_error");
  if (err !== 0) dio.ioError = -5;
  let put = bio;
  if (dio.persistent) {
    dio.bioLock.lockIrq("dio_bio_complete");
    if (
      dio.cacheBio !== 0 &&
      bioField(k, dio.cacheBio, "bi_max_vecs") < bioField(k, bio, "bi_max_vecs")
    ) {
      bioPut(k, dio.cacheBio);
      dio.cacheBio = 0;
    }
    if (dio.cacheBio === 0) {
      dio.cacheBio = bio;
      put = 0;
    }
    dio.bioLock.unlockIrq("dio_bio_complete");
  }
  if (put !== 0) bioPut(k, put);
  return err;
}

/**
 * Mirrors `dio_free()` (the seed): puts the cached bio, then frees the dio.
 * @throws {TypeError} when already freed or while bios are in flight
 */
export function dioFree(dio: Dio): void {
  dio.checkLive("dio_free");
  if (dio.refcount !== 1 || dio.bioList !== 0) {
    throw new TypeError("dio_free: bios are still in flight or unreaped");
  }
  const k = dio.kernel;
  if (dio.cacheBio !== 0) {
    bioPut(k, dio.cacheBio);
    dio.cacheBio = 0;
  }
  dio.markFreed();
  table(k).dios.delete(dio.handle);
  k.kmemleak.untrack(dio, "dio_free");
}
