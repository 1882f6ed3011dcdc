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
 * The dio is an object of the "dio" slab cache (`dio_cache`); its head is
 * the core's record (asm/dio.ts), which {@link Dio} views, and its bios end
 * in the core (`dio_bio_end_io()`, bi_end_io BIO_END_IO_DIO). A synchronous
 * direct I/O of one buffer is {@link dioRwTry} / {@link dioRw}
 * (`do_blockdev_direct_IO()`): on a blk-mq queue of one hw queue whose path
 * is the core's, one core call allocates or reuses the bio, sends it under
 * the function's plug, and reaps it when the driver ended it inside.
 *
 * The guarantee covers one bio in flight at a time: a second bio while the
 * cached one is out comes from `fs_bio_set` like any other. Only the
 * synchronous path (`dio_bio_end_io()` + `dio_await_completion()`) is
 * modelled; there are no pages to dirty or release. A dio of an IOCB_HIPRI
 * iocb ({@link DioOptions.hipri}) polls its queue for the last bio's
 * cookie before it sleeps (`blk_poll()` in `dio_await_one()`, v4.4's
 * commit 05229beedd, seed 001). Lockdep sees
 * `bio_lock` where TypeScript takes it; the core's end_io and reap take no
 * lock (the port has no concurrency inside one core call).
 *
 * @module
 */

import { KernelError } from "../errors.ts";
import type { Kernel } from "../kernel/kernel.ts";
import { GFP_KERNEL } from "../kernel/mempool.ts";
import type { Sleepable, Task } from "../kernel/sched.ts";
import { type KmemCache, PAGE_SIZE } from "../kernel/slab.ts";
import { Spinlock } from "../kernel/spinlock.ts";
import { MachineMap } from "../kernel/machine_map.ts";
import {
  bioAddPage,
  bioAlloc,
  bioDev,
  bioField,
  bioIoError,
  bioPut,
  bioReset,
  type BioSet,
  bioSetDev,
  bioSetField,
  fsBioSet,
  WRITE_ODIRECT,
} from "./bio.ts";
import { blkQueueExit, type RequestQueue } from "./request_queue.ts";
import { BLK_QC_T_NONE, coreSubmitFlags, MAKE_REQUEST_FALLBACK, mapCheck, submitBio } from "./blk_mq_request.ts";
import { blkFinishPlug, blkStartPlug } from "./blk_plug.ts";
import { blkPoll } from "./blk_poll.ts";

/**
 * The flag of the seed's patch 1/2 ("DIO - cache a DIO structure") that
 * marks a dio kept across I/Os. Its value in that patch is unknown; the
 * port uses the first bit free in v4.4's `DIO_*` set.
 */
export const DIO_PERSISTENT_DIO = 0x10;
/** `sizeof(struct dio)` in v4.4 (its page array, cacheline aligned): the "dio" cache's object size. */
const DIO_SIZE = 640;
/** bi_end_io id of `dio_bio_end_io()`, which the core runs itself (asm/bio.ts's BIO_END_IO_DIO). */
const BIO_END_IO_DIO = 3;
/** Byte offsets of the `struct dio` record's fields (diagram in asm/dio.ts). */
const DIO = { flags: 4, rw: 8, refcount: 12, bioList: 16, ioError: 20, cacheBio: 24, waiter: 28, entered: 32, plug: 36, bioCookie: 40, size: 44 } as const;
/** The core's answers of `dio_rw_nowait()` beyond a result (asm/dio.ts). */
const DIO_RW_WOULD_SLEEP = -0x1001;
const DIO_RW_FALLBACK = -0x1002;
const DIO_RW_QUEUED = -0x1003;
const EIO = -5;
const EBUSY = -16;
/** The largest buffer of one {@link dioRw}: one bio of BIO_MAX_PAGES pages. */
const DIO_RW_MAX_BYTES = 256 * PAGE_SIZE;

/**
 * {@link dioRwTry}: the I/O needs the sleeping path; call {@link dioRw} with
 * the same arguments (it finishes an I/O the try left in flight).
 */
export const DIO_WOULD_SLEEP = -0x1001;

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
  /**
   * IOCB_HIPRI on the iocb of every I/O of the dio: `dio_await_one()`
   * polls the queue of the last bio (`blk_poll()` for its cookie) before it
   * sleeps, and sleeps only when the poll finds nothing (no `->poll`, io_poll
   * off, or need_resched). Default false.
   */
  hipri?: boolean;
}

/**
 * Mirrors `struct dio` (fs/direct-io.c, v4.4), the fields the bio path uses,
 * plus the seed's `cache_bio`: a view of the core's record, with what the
 * core cannot hold (the waiting task, `bio_lock` for lockdep).
 */
export class Dio {
  readonly kernel: Kernel;
  /** The record's address, which the bios carry in bi_private. */
  readonly handle: number;
  readonly bs: BioSet;
  /** `dio->iocb->ki_flags & IOCB_HIPRI` ({@link DioOptions.hipri}). */
  readonly hipri: boolean;
  /** The queue of `dio->bio_bdev`: where the last bio went (null before the first). */
  bioQueue: RequestQueue | null = null;
  /** `dio->waiter`: the task in {@link dioAwaitCompletion}. */
  waiter: Task | null = null;
  /** `dio->bio_lock`. */
  readonly bioLock: Spinlock;
  #freed = false;
  /** @internal The I/O {@link dioRwTry} left in flight, which {@link dioRw} finishes: its bytes (-1: none), sector and direction. */
  queuedBytes = -1;
  /** @internal */
  queuedSector = 0;
  /** @internal */
  queuedWrite = false;

  /** @internal use {@link dioAlloc} */
  constructor(k: Kernel, handle: number, bs: BioSet, hipri = false) {
    this.kernel = k;
    this.handle = handle;
    this.bs = bs;
    this.hipri = hipri;
    this.bioLock = new Spinlock(k.sched, "&(&dio->bio_lock)->rlock");
  }

  /** `dio->flags` (DIO_PERSISTENT_DIO). */
  get flags(): number {
    return this.kernel.dv.getUint32(this.handle + DIO.flags, true);
  }

  /** `dio->rw`. */
  get rw(): number {
    return this.kernel.dv.getUint32(this.handle + DIO.rw, true);
  }

  set rw(v: number) {
    this.kernel.dv.setUint32(this.handle + DIO.rw, v, true);
  }

  /** `dio->refcount`: 1 for the submitter plus one per bio in flight. */
  get refcount(): number {
    return this.kernel.dv.getInt32(this.handle + DIO.refcount, true);
  }

  set refcount(v: number) {
    this.kernel.dv.setInt32(this.handle + DIO.refcount, v, true);
  }

  /** `dio->bio_list`: ended bios not yet reaped, linked through bi_private (0 = empty). */
  get bioList(): number {
    return this.kernel.dv.getUint32(this.handle + DIO.bioList, true);
  }

  /** `dio->io_error`: -EIO once any bio failed. */
  get ioError(): number {
    return this.kernel.dv.getInt32(this.handle + DIO.ioError, true);
  }

  set ioError(v: number) {
    this.kernel.dv.setInt32(this.handle + DIO.ioError, v, true);
  }

  /** `dio->bio_cookie`: the make_request's answer for the last bio sent (BLK_QC_T_NONE: nothing to poll). */
  get bioCookie(): number {
    return this.kernel.dv.getInt32(this.handle + DIO.bioCookie, true);
  }

  set bioCookie(v: number) {
    this.kernel.dv.setInt32(this.handle + DIO.bioCookie, v, true);
  }

  /** `dio->cache_bio` (the seed): the bio kept for the next allocation, 0 = none. */
  get cacheBio(): number {
    return this.kernel.dv.getUint32(this.handle + DIO.cacheBio, true);
  }

  set cacheBio(v: number) {
    this.kernel.dv.setUint32(this.handle + DIO.cacheBio, v, true);
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
  /** By record address. */
  readonly dios: Map<number, Dio>;
  /** `dio_cache`, made on first use (`dio_init()` makes it at boot). */
  cache: KmemCache | null;
}

const TABLES = new MachineMap<DioTable>("dio table");

function table(k: Kernel): DioTable {
  let t = TABLES.get(k);
  if (t === undefined) {
    if (k.core.dio_record_size() !== DIO.size) k.log.bug("fs/direct-io.c:dio_init", `the core's dio record is ${k.core.dio_record_size()} bytes, the TS layout ${DIO.size}`);
    t = { dios: new Map(), cache: null };
    TABLES.set(k, t);
  }
  return t;
}

/**
 * Mirrors the dio allocation of `do_blockdev_direct_IO()` with the seed's
 * `dio->cache_bio = NULL`: `kmem_cache_alloc(dio_cache)`, the record
 * initialized (asm/dio.ts's `dio_init()`).
 *
 * @throws {KernelError} ENOMEM when the slab says no (fault injection)
 */
export function dioAlloc(k: Kernel, opts: DioOptions = {}): Dio {
  const rw = opts.rw ?? 0;
  if (!Number.isInteger(rw) || rw < 0 || rw > 0xffffffff) {
    throw new RangeError(`dio: rw must be a u32, got ${String(rw)}`);
  }
  const bs = opts.bs ?? fsBioSet(k);
  const t = table(k);
  t.cache ??= k.slab.createCache("dio", DIO_SIZE);
  const addr = t.cache.alloc("do_blockdev_direct_IO");
  if (k.core.dio_init(addr, opts.persistent === true ? DIO_PERSISTENT_DIO : 0, rw) !== 0) {
    t.cache.free(addr);
    return k.log.bug("fs/direct-io.c:do_blockdev_direct_IO", `dio record ${addr} lies outside memory`);
  }
  const dio = new Dio(k, addr, bs, opts.hipri === true);
  t.dios.set(addr, dio);
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
  dio.bioCookie = BLK_QC_T_NONE;
}

/**
 * Mirrors `dio_bio_alloc()` (fs/direct-io.c) with the seed's cache: a
 * persistent dio takes its cached bio when it has `bi_max_vecs >= nrVecs`
 * (reset), everything else comes from `bio_alloc(GFP_KERNEL, nrVecs)`,
 * which may sleep but never fails. Sets bi_bdev, bi_sector and bi_end_io
 * (`dio_bio_end_io()`, which the core runs).
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
    const cached = dio.cacheBio;
    if (cached !== 0 && bioField(k, cached, "bi_max_vecs") >= nrVecs) {
      bio = cached;
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
  bioSetField(k, bio, "bi_end_io", BIO_END_IO_DIO);
  return bio;
}

/**
 * Mirrors `dio_bio_submit()` (fs/direct-io.c, v4.4): bi_private = the dio,
 * `dio->refcount++` under bio_lock, `dio->bio_bdev` (here its queue), then
 * `dio->bio_cookie = submit_bio(dio->rw, bio)` (BLK_QC_T_NONE when `submit`
 * answers no number).
 */
export function* dioBioSubmit(dio: Dio, bio: number, submit: SubmitBio): Sleepable {
  dio.checkLive("dio_bio_submit");
  const k = dio.kernel;
  bioSetField(k, bio, "bi_private", dio.handle);
  const flags = dio.bioLock.lockIrqsave("dio_bio_submit");
  dio.refcount++;
  dio.bioLock.unlockIrqrestore(flags, "dio_bio_submit");
  dio.bioQueue = k.block.queueById[bioDev(k, bio)]?.q ?? null;
  bioSetField(k, bio, "bi_rw", (bioField(k, bio, "bi_rw") | dio.rw) >>> 0);
  const cookie = yield* submit(bio);
  if (!dio.freed) dio.bioCookie = typeof cookie === "number" ? cookie : BLK_QC_T_NONE;
}

/**
 * Mirrors `dio_bio_end_io()` (fs/direct-io.c, v4.4), the bi_end_io of a
 * synchronous dio's bios, for an end_io of the caller's own that passes its
 * bio on (the core runs it for bi_end_io BIO_END_IO_DIO): the bio joins
 * `dio->bio_list` (through bi_private) and the waiter wakes when the last
 * one is in.
 */
export function dioBioEndIo(bio: number, k: Kernel): void {
  const dio = table(k).dios.get(bioField(k, bio, "bi_private"));
  if (dio === undefined) {
    return k.log.bug("fs/direct-io.c:dio_bio_end_io", "bi_private is not a live dio");
  }
  const flags = dio.bioLock.lockIrqsave("dio_bio_end_io");
  try {
    if (k.core.dio_bio_end_io(bio) !== 0) k.log.bug("fs/direct-io.c:dio_bio_end_io", "bi_private is not a live dio");
  } finally {
    dio.bioLock.unlockIrqrestore(flags, "dio_bio_end_io");
  }
}

/**
 * The host side of `host_dio_wake()` (asm/dio.ts): `wake_up_process(dio->waiter)`.
 * @throws {KernelBug} when the record is no live dio
 */
export function dioWakeHost(k: Kernel, addr: number): void {
  const dio = table(k).dios.get(addr);
  if (dio === undefined) return k.log.bug("fs/direct-io.c:dio_bio_end_io", `no dio at ${addr}`);
  if (dio.waiter !== null) k.sched.wakeUpProcess(dio.waiter);
}

/**
 * Mirrors `dio_await_one()`: sleeps (D state) while bios are in flight and
 * none has been reaped; a HIPRI dio first polls the last bio's queue
 * (`blk_poll()` for `bio_cookie`) and sleeps only when the poll finds
 * nothing. (v4.4 sets the task's state and `waiter` before it polls; here
 * the poll runs first, and the condition is checked again under bio_lock
 * before the task blocks, which loses no wake-up either.)
 * @returns an ended bio, or 0 when all are reaped
 */
function* dioAwaitOne(dio: Dio): Sleepable<number> {
  const k = dio.kernel;
  const waiterAt = dio.handle + DIO.waiter;
  let flags = dio.bioLock.lockIrqsave("dio_await_one");
  let polled = false;
  while (dio.refcount > 1 && dio.bioList === 0) {
    const q = dio.bioQueue;
    if (dio.hipri && !polled && q !== null) {
      dio.bioLock.unlockIrqrestore(flags, "dio_await_one");
      const found = yield* blkPoll(q, dio.bioCookie);
      flags = dio.bioLock.lockIrqsave("dio_await_one");
      polled = !found; // found: a completion (maybe not ours); look, and poll again if need be
      continue;
    }
    polled = false;
    k.sched.blockCurrent("dio_await_one", false);
    dio.waiter = k.sched.current;
    k.dv.setUint32(waiterAt, 1, true);
    dio.bioLock.unlockIrqrestore(flags, "dio_await_one");
    yield;
    flags = dio.bioLock.lockIrqsave("dio_await_one");
    dio.waiter = null;
    k.dv.setUint32(waiterAt, 0, true);
  }
  const bio = k.core.dio_bio_reap(dio.handle);
  dio.bioLock.unlockIrqrestore(flags, "dio_await_one");
  if (bio < 0) return k.log.bug("fs/direct-io.c:dio_await_one", `dio ${dio.handle} is not live`);
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
  dio.bioLock.lockIrq("dio_bio_complete");
  const put = k.core.dio_bio_keep(dio.handle, bio);
  dio.bioLock.unlockIrq("dio_bio_complete");
  if (put < 0) return k.log.bug("fs/direct-io.c:dio_bio_complete", `dio ${dio.handle} is not live`);
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
  const cached = dio.cacheBio;
  if (cached !== 0) {
    dio.cacheBio = 0;
    bioPut(k, cached);
  }
  if (k.core.dio_exit(dio.handle) !== 0) k.log.bug("fs/direct-io.c:dio_free", `dio ${dio.handle} is not live`);
  dio.markFreed();
  const t = table(k);
  t.dios.delete(dio.handle);
  t.cache!.free(dio.handle);
}

function checkRw(dio: Dio, sector: number, buf: number, nbytes: number): void {
  dio.checkLive("dio_rw");
  if (!Number.isInteger(sector) || sector < 0 || sector > Number.MAX_SAFE_INTEGER) {
    throw new RangeError(`dio_rw: sector must be an integer in [0, 2^53), got ${String(sector)}`);
  }
  if (!Number.isInteger(buf) || buf < 0 || buf > 0xffffffff || buf % 512 !== 0) {
    throw new RangeError(`dio_rw: buf must be a 512-byte aligned address, got ${String(buf)}`);
  }
  if (!Number.isInteger(nbytes) || nbytes <= 0 || nbytes % 512 !== 0 || nbytes > DIO_RW_MAX_BYTES) {
    throw new RangeError(`dio_rw: nbytes must be a multiple of 512 in [512, ${DIO_RW_MAX_BYTES}], got ${String(nbytes)}`);
  }
  if (buf + nbytes > dio.kernel.dv.byteLength) throw new RangeError(`dio_rw: buffer ${buf}+${nbytes} lies outside memory`);
}

/**
 * {@link dioRw} without sleeping: `do_blockdev_direct_IO()` of one buffer
 * as one core call (asm/dio.ts's `dio_rw_nowait()`) when the task holds no
 * plug, `q` is a blk-mq queue of one hw queue whose path is the core's,
 * and the bio needs no sleep (a persistent dio's cached bio, or a bio of at
 * most 4 pages from the dio's bio_set, `fs_bio_set` by default, at once).
 * No JS object is made.
 *
 * @param write a write (`dio->rw` = WRITE_ODIRECT) instead of a read
 * @param buf the buffer's linear-memory address, 512-byte aligned
 * @returns `nbytes`, or -EIO when a bio failed; {@link DIO_WOULD_SLEEP}:
 *   finish with {@link dioRw} and the same arguments (nothing was done, or
 *   the bio is in flight and the dio remembers it)
 * @throws {RangeError} for a bad sector, buffer or length
 * @throws {TypeError} for a freed dio, one with bios of an earlier I/O
 *   out, or an I/O of an earlier try still to finish
 */
export function dioRwTry(dio: Dio, q: RequestQueue, write: boolean, sector: number, buf: number, nbytes: number): number {
  checkRw(dio, sector, buf, nbytes);
  if (dio.queuedBytes >= 0) throw new TypeError("dio_rw: an I/O of an earlier try is in flight: finish it with dioRw()");
  return dioRwCore(dio, q, write, sector, buf, nbytes);
}

/** {@link dioRwTry} after its checks: the core's `dio_rw_nowait()` where the path is the core's. */
function dioRwCore(dio: Dio, q: RequestQueue, write: boolean, sector: number, buf: number, nbytes: number): number {
  const k = dio.kernel;
  const s = k.sched;
  if (s.current.plug !== null) return DIO_WOULD_SLEEP; // a nested plug: the TS path uses the task's
  const flags = coreSubmitFlags(k, q);
  const bs = dio.bs;
  if (flags < 0 || bs.freed) return DIO_WOULD_SLEEP; // a freed bio_set: bio_alloc() reports it on the TS path
  const clock = k.clock;
  const cpu = s.getCpu();
  let r: number;
  try {
    r = k.core.dio_rw_nowait(dio.handle, bs.ptr, q.addr, write ? 1 : 0, sector, buf, nbytes, cpu, clock.now(), clock.HZ, clock.tickNs, flags);
  } catch (err) {
    // A host call threw inside the make_request, after its blk_queue_enter(): drop that reference.
    const dv = k.dv;
    if (dv.getUint32(dio.handle + DIO.entered, true) !== 0) {
      dv.setUint32(dio.handle + DIO.entered, 0, true);
      blkQueueExit(q);
    }
    throw err;
  } finally {
    s.putCpu();
  }
  k.slab.kasan.raise(); // a bio the reap freed to a pool that refused it
  if (r >= 0 || r === EIO || r === DIO_RW_WOULD_SLEEP || r === DIO_RW_FALLBACK) return r === DIO_RW_FALLBACK ? DIO_WOULD_SLEEP : r;
  if (r === DIO_RW_QUEUED) {
    dio.bioQueue = q; // the core set bio_cookie
    dio.queuedBytes = nbytes;
    dio.queuedSector = sector;
    dio.queuedWrite = write;
    return DIO_WOULD_SLEEP;
  }
  if (r === EBUSY) throw new TypeError("dio_rw: bios of the last I/O are still out");
  if (r === MAKE_REQUEST_FALLBACK) {
    return k.log.bug("fs/direct-io.c:do_blockdev_direct_IO", `the core's plug flush refused the request it had just mapped (plug record ${k.dv.getUint32(dio.handle + DIO.plug, true)})`);
  }
  mapCheck(q, r, "do_blockdev_direct_IO");
  return k.log.bug("fs/direct-io.c:do_blockdev_direct_IO", `the core refused the I/O (${r})`);
}

/**
 * Mirrors `do_blockdev_direct_IO()` (fs/direct-io.c, v4.4) for one buffer
 * of `nbytes` at `buf`, from or to `sector` of `q`: `dio->rw` per I/O, the
 * bio from {@link dioBioAlloc} (the seed's cache), its pages,
 * {@link dioBioSubmit} under the task's plug (its own when it holds none:
 * `blk_start_plug()` ... `blk_finish_plug()`), then
 * {@link dioAwaitCompletion}. Takes {@link dioRwTry}'s path first and
 * sleeps only where it must (a bio, a frozen queue, a tag, the driver's
 * completion).
 *
 * @returns `nbytes`, or -EIO when a bio failed
 * @throws as {@link dioRwTry}, and {@link TypeError} when an I/O of an
 *   earlier try is in flight and the arguments are not that I/O's
 */
export function* dioRw(dio: Dio, q: RequestQueue, write: boolean, sector: number, buf: number, nbytes: number): Sleepable<number> {
  checkRw(dio, sector, buf, nbytes);
  if (dio.queuedBytes < 0) {
    const r = dioRwCore(dio, q, write, sector, buf, nbytes);
    if (r !== DIO_WOULD_SLEEP) return r;
  } else if (dio.queuedBytes !== nbytes || dio.queuedSector !== sector || dio.queuedWrite !== write) {
    throw new TypeError(`dio_rw: the I/O in flight is ${dio.queuedBytes} bytes at sector ${dio.queuedSector}, not this one`);
  }
  if (dio.queuedBytes < 0) yield* dioRwSubmit(dio, q, write, sector, buf, nbytes);
  dio.queuedBytes = -1;
  const err = yield* dioAwaitCompletion(dio);
  return err !== 0 ? err : nbytes;
}

/** The submission half of {@link dioRw} on the TS path: the bio made, filled and sent under a plug. */
function* dioRwSubmit(dio: Dio, q: RequestQueue, write: boolean, sector: number, buf: number, nbytes: number): Sleepable {
  dioPrepare(dio);
  const k = dio.kernel;
  dio.rw = write ? WRITE_ODIRECT : 0;
  const first = buf - (buf % PAGE_SIZE);
  const nrVecs = Math.ceil((buf + nbytes - first) / PAGE_SIZE);
  const task = k.sched.current;
  const plugged = task.plug === null;
  if (plugged) blkStartPlug(k, task);
  try {
    const bio = yield* dioBioAlloc(dio, q, sector, nrVecs);
    for (let page = first, off = buf - first, left = nbytes; left > 0; page += PAGE_SIZE, off = 0) {
      const len = Math.min(left, PAGE_SIZE - off);
      bioAddPage(k, bio, page, len, off);
      left -= len;
    }
    yield* dioBioSubmit(dio, bio, function* (b) {
      try {
        return yield* submitBio(k, b);
      } catch (e) {
        // No blk-mq queue under bi_bdev (the disk went away): generic_make_request_checks() → bio_io_error().
        if (!(e instanceof KernelError) || e.code !== "ENODEV") throw e;
        bioIoError(k, b);
        return BLK_QC_T_NONE;
      }
    });
  } finally {
    if (plugged) blkFinishPlug(task);
  }
}
