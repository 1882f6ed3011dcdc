// SPDX-License-Identifier: GPL-2.0-only
/**
 * The blk-mq request path (block/blk-core.c, block/blk-mq.c, v4.4): a bio
 * enters the queue (`generic_make_request()` → `blk_queue_enter()`), becomes
 * a request (`blk_mq_map_request()`: a tag of the current CPU's ctx → hctx),
 * is issued directly or queued on its ctx, dispatched by
 * `__blk_mq_run_hw_queue()` (installed as the queue's
 * {@link RequestQueue.dispatchHook} by the first {@link submitBio}), and completed
 * (`blk_mq_complete_request()`, rq_affinity via an IPI) and ended
 * (`blk_mq_end_request()`: bio end_io, accounting, tag and queue ref freed).
 *
 * Merging is the ctx's (`blk_mq_attempt_merge()`, the newest 8 requests) and
 * the task plug's (`blk_attempt_plug_merge()`; plugging is ts/block/blk_plug.ts).
 * FLUSH/FUA bios are never plugged or merged: they become requests for
 * `blk_insert_flush()` (ts/block/blk_flush.ts), after the flush filter of
 * `generic_make_request_checks()` (on a queue without `flush_flags` the
 * bits are dropped and an empty flush ends at once). Completing part of a
 * request is ts/block/blk_update_request.ts; the requeue list is
 * ts/block/blk_mq_requeue.ts. Not yet here: bounce/integrity/split and
 * `current->bio_list` recursion. Requests and bios are WASM records
 * addressed by integers; the lists (`ctx->rq_list`, `hctx->dispatch`) link
 * them through `queuelist`. The steps over the records run in the core
 * (asm/blk_mq_map.ts, asm/blk_mq_dispatch.ts, asm/blk_mq_end.ts); this file
 * keeps the control flow that may sleep, the plug, the locks and the host
 * side of the core's calls.
 *
 * `cpus_share_cache()`: the port's machine is one package with one
 * last-level cache, so every pair of CPUs shares it; with rq_affinity=1
 * (SAME_COMP) completions therefore stay local, and rq_affinity=2
 * (SAME_FORCE) sends them to the submitting CPU.
 *
 * @module
 */

import type { Kernel } from "../kernel/kernel.ts";
import type { Sleepable } from "../kernel/sched.ts";
import { CallSingleData } from "../kernel/softirq.ts";
import { bioDev, bioEndio, bioIoError, bioRw, bioSetField, bioSize, REQ_FLUSH, REQ_FUA, REQ_SYNC, REQ_WRITE } from "./bio.ts";
import type { BlkMqCtx } from "./ctx.ts";
import { GENHD_FL_UP, type Gendisk } from "./genhd.ts";
import {
  BLK_MQ_F_DEFER_ISSUE,
  blkMqRunHwQueue,
  type BlkMqHwCtx,
  type BlkMqRunScratch,
  HCTX,
  hctxLiveTags,
} from "./hctx.ts";
import { RQ } from "./request_record.ts";
import { BLK_MAX_REQUEST_COUNT, BlkPlug, blkFlushPlugList, blkPlugQueuedCount, currentPlug } from "./blk_plug.ts";
import { LIST_PREV, listDelInit } from "./_rq_list.ts";
import {
  blkQueueEnter,
  blkQueueEnterLive,
  blkQueueExit,
  QUEUE_FLAG_SAME_COMP,
  QUEUE_FLAG_SAME_FORCE,
  type RequestQueue,
} from "./request_queue.ts";
import { BLK_MQ_RQ_QUEUE_BUSY, BLK_MQ_RQ_QUEUE_ERROR, BLK_MQ_RQ_QUEUE_OK, blkMqMapQueue, type BlkMqOps, type BlkMqQueueData } from "./tag_set.ts";
import { BLK_MQ_TAG_FAIL, type GetTagOptions, type TagAllocData, getTagWait, type TagWaiter } from "./tags.ts";
import { KernelBug, KernelError } from "../errors.ts";
import { blkFlushCheckBio, blkInsertFlush } from "./blk_flush.ts";
import { blkEndFault, blkUpdateRequestLog } from "./blk_update_request.ts";

/** Mirrors `REQ_ATOM_COMPLETE`: bit of `rq->atomic_flags`. */
export const REQ_ATOM_COMPLETE = 0;
/** Mirrors `REQ_ATOM_STARTED`. */
export const REQ_ATOM_STARTED = 1;
/** Mirrors `BLK_QC_T_NONE`: no cookie. */
export const BLK_QC_T_NONE = -1;
/** Mirrors `BLK_QC_T_SHIFT`. */
export const BLK_QC_T_SHIFT = 16;
const EIO = -5;
const EINVAL = -22;

/** A queue and the disk it serves (null until `add_disk()`). */
export interface Lookup {
  readonly q: RequestQueue;
  disk: Gendisk | null;
}

/** Per queue: the `rq->csd` of each request record that needed an IPI. */
const CSDS = new WeakMap<RequestQueue, Map<number, CallSingleData<number>>>();

/** The view of linear memory (remade after growth: allocation may grow it). */
function view(k: Kernel): DataView {
  return k.dv;
}

/**
 * Mirrors `bdev_get_queue()` for the port's `bi_bdev` (a queue id): the
 * queue of an added disk (GENHD_FL_UP), or null.
 */
function lookup(k: Kernel, id: number): Lookup | null {
  const e = k.block.queueById[id];
  if (e === undefined || e.disk === null || (e.disk.flags & GENHD_FL_UP) === 0 || e.disk.queue !== e.q) return null;
  return e;
}

/** Mirrors `rw_is_sync()`: reads, and writes with REQ_SYNC. */
export function rwIsSync(rw: number): boolean {
  return (rw & REQ_WRITE) === 0 || (rw & REQ_SYNC) !== 0;
}

/**
 * The request record's queue and disk (`rq->q`, `rq->rq_disk`): the queue
 * is found from its allocation to its release, so requests still draining
 * after `del_gendisk()` (blk_cleanup_queue() waits for them) complete.
 */
export function rqQueue(k: Kernel, rq: number): Lookup {
  const e = k.block.queueById[view(k).getUint32(rq + RQ.Q, true)];
  if (e === undefined) k.log.bug("block/blk-mq.c:blk_mq_rq_queue", `request ${rq} has no live queue`);
  return e;
}

/** Mirrors `test_and_set_bit(nr, &rq->atomic_flags)`. */
function rqTestAndSet(dv: DataView, rq: number, nr: number): boolean {
  const f = dv.getUint32(rq + RQ.ATOMIC_FLAGS, true);
  dv.setUint32(rq + RQ.ATOMIC_FLAGS, f | (1 << nr), true);
  return (f & (1 << nr)) !== 0;
}

/** Mirrors `test_and_clear_bit(nr, &rq->atomic_flags)`. */
function rqTestAndClear(dv: DataView, rq: number, nr: number): boolean {
  const f = dv.getUint32(rq + RQ.ATOMIC_FLAGS, true);
  dv.setUint32(rq + RQ.ATOMIC_FLAGS, f & ~(1 << nr), true);
  return (f & (1 << nr)) !== 0;
}

/** Whether REQ_ATOM_STARTED is set on `rq` (`blk_mq_request_started()`). */
export function blkMqRequestStarted(k: Kernel, rq: number): boolean {
  return (view(k).getUint32(rq + RQ.ATOMIC_FLAGS, true) & (1 << REQ_ATOM_STARTED)) !== 0;
}

/** Reads a 32-bit field of a request record (RQ offsets). */
export function rqField(k: Kernel, rq: number, off: number): number {
  return view(k).getInt32(rq + off, true);
}

/** Mirrors `blk_tag_to_qc_t()`. */
function tagToCookie(tag: number, queueNum: number): number {
  return tag | (queueNum << BLK_QC_T_SHIFT);
}

/**
 * {@link submitBioTry}'s answer for a bio that needs the sleeping path (its
 * queue is frozen or dying, or no tag is free): nothing was done, the caller
 * goes on with {@link submitBio} from a task. Never a cookie (those are
 * >= 0) nor {@link BLK_QC_T_NONE}.
 */
export const SUBMIT_WOULD_SLEEP = -2;

/**
 * Mirrors `generic_make_request()` (block/blk-core.c, v4.4) for one bio:
 * the flush filter of `generic_make_request_checks()` (an empty flush to a
 * queue without `flush_flags` ends here, successfully),
 * `blk_queue_enter()` (sleeping while the queue is frozen), the queue's
 * make_request (blk-mq: {@link blkMqMakeRequest} or
 * {@link blkSqMakeRequest}), `blk_queue_exit()`. When entering fails (the
 * queue is dying) the bio ends with -EIO. A bio without data that is no
 * flush (neither REQ_FLUSH nor REQ_FUA) ends with -EINVAL (v4.4 would
 * BUG() once it merged behind a request).
 *
 * The common case runs as {@link submitBioTry}, which creates no JS
 * object; only a bio that must sleep continues in a generator.
 *
 * @returns the cookie (`tag | queue_num << 16`) or {@link BLK_QC_T_NONE}
 * @throws {KernelError} ENODEV when `bi_bdev` names no blk-mq queue
 */
export function* submitBio(k: Kernel, bio: number): Sleepable<number> {
  const cookie = submitBioTry(k, bio);
  return cookie !== SUBMIT_WOULD_SLEEP ? cookie : yield* submitBioSleeping(k, bio);
}

/**
 * {@link submitBio} without sleeping, for a caller that submits many bios
 * from a task (the sync batch path): where `generic_make_request()` would
 * sleep — a frozen or dying queue in `blk_queue_enter()`, no free tag in
 * `blk_mq_map_request()` — it undoes the queue references it took and
 * returns {@link SUBMIT_WOULD_SLEEP}, and the caller continues with
 * `yield* submitBio(k, bio)`. Nothing else can run in between (no yield), so
 * that retry sees the state this attempt saw.
 *
 * @returns the cookie, {@link BLK_QC_T_NONE} (merged, or ended), or {@link SUBMIT_WOULD_SLEEP}
 * @throws {KernelError} ENODEV when `bi_bdev` names no blk-mq queue
 */
export function submitBioTry(k: Kernel, bio: number): number {
  const q = genericMakeRequestChecks(k, bio);
  if (q === null) return BLK_QC_T_NONE;
  if (k.block.coreMakeRequest && q.mqOps!.mapQueue === blkMqMapQueue && q.dispatchHook === __blkMqRunHwQueueDispatch) {
    const r = blkMqMakeRequestCore(k, q, bio);
    if (r !== MAKE_REQUEST_FALLBACK) return r;
  }
  // blk_queue_enter()'s first step: only a frozen or dying queue needs the sleeping path.
  if (!q.qUsageCounter.trygetLive()) return SUBMIT_WOULD_SLEEP;
  try {
    return makeRequestTry(q, bio);
  } catch (err) {
    return noTagsIoError(k, bio, err);
  } finally {
    blkQueueExit(q);
  }
}

/** The core's answers (asm/blk_mq_make_request.ts): the TS path would sleep; not taken. Nothing was done. */
const MAKE_REQUEST_WOULD_SLEEP = -2;
export const MAKE_REQUEST_FALLBACK = -3;
/** The core's `flags`: lockdep runs (the ctx lock is the host's); the inline driver's code from bit 8. */
const MAKE_REQUEST_LOCKDEP = 1;
const MAKE_REQUEST_DRIVER_SHIFT = 8;

/**
 * {@link submitBioTry}'s common case as one core call,
 * `blk_mq_make_request_nowait()` (asm/blk_mq_make_request.ts): for a task
 * without a plug, `blk_queue_enter()`, the map with a tag had at once, the
 * ctx merge or insert and the hw queue run (with the driver's `queue_rq`
 * inline when its ops offer one, {@link BlkMqOps.inline}), what
 * {@link blkSqMakeRequest} and an async bio of {@link blkMqMakeRequest} do
 * there; under a plug, the plug merge and the request onto the plug
 * ({@link blkSqMakeRequest} with a plug). Preemption stays disabled around
 * it, as `blk_mq_get_ctx()` keeps it in v4.4.
 *
 * @returns the cookie, {@link BLK_QC_T_NONE} (merged), {@link SUBMIT_WOULD_SLEEP},
 *   or MAKE_REQUEST_FALLBACK: not the core's bio, nothing done
 */
function blkMqMakeRequestCore(k: Kernel, q: RequestQueue, bio: number): number {
  const s = k.sched;
  const flags = coreFlags(k, q, false);
  if (flags < 0) return MAKE_REQUEST_FALLBACK;
  const plug = s.current.plug;
  if (plug !== null && !(plug instanceof BlkPlug)) return MAKE_REQUEST_FALLBACK;
  const plugAddr = plug === null ? 0 : plug.addr;
  const clock = k.clock;
  const cpu = s.getCpu();
  let r: number;
  try {
    r = k.core.blk_mq_make_request_nowait(q.addr, bio, plugAddr, cpu, clock.now(), clock.HZ, clock.tickNs, flags);
  } catch (err) {
    // A host call threw after the core's blk_queue_enter(): the TS path's finally drops that reference.
    blkQueueExit(q);
    throw err;
  } finally {
    s.putCpu();
  }
  if (r >= BLK_QC_T_NONE || r === MAKE_REQUEST_FALLBACK) return r;
  if (r === MAKE_REQUEST_WOULD_SLEEP) return SUBMIT_WOULD_SLEEP;
  mapCheck(q, r, "blk_mq_make_request");
  return r;
}

/**
 * The `flags` of the core's make_request and plug flush for `q`, or -1
 * when `q`'s path is not the core's: the core path is off
 * ({@link BlockLayer.coreMakeRequest}), the queue maps or dispatches its
 * own way, or without lockdep a task holds a ctx lock the core would take
 * (the current CPU's, or with `allCtxs` any of the queue's): the TS path
 * then reports it. With lockdep the ctx lock is the host's and validated.
 */
function coreFlags(k: Kernel, q: RequestQueue, allCtxs: boolean): number {
  if (!k.block.coreMakeRequest || q.mqOps!.mapQueue !== blkMqMapQueue || q.dispatchHook !== __blkMqRunHwQueueDispatch) return -1;
  const flags = inlineDriver(q) << MAKE_REQUEST_DRIVER_SHIFT;
  const s = k.sched;
  if (s.lockdep !== null) return flags | MAKE_REQUEST_LOCKDEP;
  if (!allCtxs) return q.queueCtx[s.cpus.current].lock.owner === null ? flags : -1;
  for (const ctx of q.queueCtx) if (ctx.lock.owner !== null) return -1;
  return flags;
}

/**
 * For a caller that sends its own bios to `q` in the core (the aio loop,
 * `io_submit_nowait()` of asm/aio.ts, which calls the core's make_request
 * per bio): the checks of `generic_make_request_checks()` that concern the
 * queue (a blk-mq queue of an added disk) and {@link coreFlags} under the
 * task's plug. Bios without data or with FLUSH/FUA are the caller's to
 * keep out.
 *
 * @returns the make_request's `flags`, or -1 when those bios take the TS path
 */
export function coreSubmitFlags(k: Kernel, q: RequestQueue): number {
  if (q.mqOps === null || lookup(k, q.id)?.q !== q) return -1;
  if (q.dispatchHook === null) q.dispatchHook = __blkMqRunHwQueueDispatch;
  const plug = k.sched.current.plug;
  if (plug !== null && !(plug instanceof BlkPlug)) return -1;
  return coreFlags(k, q, false);
}

/**
 * `blk_flush_plug_list()` in the core (`blk_mq_flush_plug_list_nowait()`,
 * asm/blk_mq_make_request.ts) when every request on the plug is of one
 * queue whose path is the core's and whose ctxs are all attached.
 *
 * @returns whether the core flushed it (else nothing was done)
 */
export function blkMqFlushPlugListCore(plug: BlkPlug, fromSchedule: boolean): boolean {
  const k = plug.kernel;
  const dv = view(k);
  const q = k.block.queueById[dv.getUint32(dv.getUint32(plug.addr, true) + RQ.Q, true)]?.q;
  if (q === undefined || q.mqOps === null) return false;
  const flags = coreFlags(k, q, true);
  if (flags < 0) return false;
  const s = k.sched;
  const clock = k.clock;
  const cpu = s.getCpu();
  let r: number;
  try {
    r = k.core.blk_mq_flush_plug_list_nowait(plug.addr, q.addr, fromSchedule ? 1 : 0, cpu, clock.now(), clock.HZ, clock.tickNs, flags);
  } finally {
    s.putCpu();
  }
  return r === 0;
}

/** The TS flush the core's make_request asks for (host_blk_flush_plug_list): the current task's plug at `plugAddr`. */
export function blkFlushPlugListHost(k: Kernel, plugAddr: number, fromSchedule: number): void {
  const plug = k.sched.current.plug;
  if (!(plug instanceof BlkPlug) || plug.addr !== plugAddr) return k.log.bug("block/blk-core.c:blk_flush_plug_list", `plug ${plugAddr} is not the current task's`);
  blkFlushPlugList(plug, fromSchedule !== 0);
}

/**
 * The sleeping path of {@link submitBio}, after {@link submitBioTry} found it
 * needed: `blk_queue_enter()` may wait for the queue to unfreeze, the
 * make_request may wait for a tag.
 */
function* submitBioSleeping(k: Kernel, bio: number): Sleepable<number> {
  const q = genericMakeRequestChecks(k, bio);
  if (q === null) return BLK_QC_T_NONE;
  try {
    yield* blkQueueEnter(q);
  } catch (err) {
    if (!(err instanceof KernelError)) throw err;
    bioIoError(k, bio);
    return BLK_QC_T_NONE;
  }
  try {
    return q.nrHwQueues > 1 ? yield* blkMqMakeRequest(q, bio) : yield* blkSqMakeRequest(q, bio);
  } catch (err) {
    return noTagsIoError(k, bio, err);
  } finally {
    blkQueueExit(q);
  }
}

/**
 * The checks of `generic_make_request_checks()` the port makes: a blk-mq
 * queue behind `bi_bdev`, the flush filter, and no data without a flush.
 *
 * @returns the queue, or null when the bio was ended here
 * @throws {KernelError} ENODEV when `bi_bdev` names no blk-mq queue
 */
function genericMakeRequestChecks(k: Kernel, bio: number): RequestQueue | null {
  const e = lookup(k, bioDev(k, bio));
  if (e === null || e.q.mqOps === null) throw new KernelError("ENODEV", "generic_make_request", `bio ${bio}: no blk-mq queue`);
  const q = e.q;
  if (q.dispatchHook === null) q.dispatchHook = __blkMqRunHwQueueDispatch;
  if (blkFlushCheckBio(q, bio)) return null;
  if (bioSize(k, bio) === 0 && (bioRw(k, bio) & (REQ_FLUSH | REQ_FUA)) === 0) {
    // A bio without data that is no flush: v4.4 takes it, and when it merges behind a request
    // the request's bytes run out before its last bio, so blk_mq_end_request() BUG()s. The
    // port ends it here with -EINVAL, as a check of generic_make_request_checks() would.
    bioSetField(k, bio, "bi_error", EINVAL);
    bioEndio(k, bio);
    return null;
  }
  return q;
}

/**
 * blk_mq_map_request() met an hctx without tags (another queue of a shared
 * set freed them in a hotplug remap; v4.4 would use the freed map, which
 * hctxLiveTags() reports as KASAN): the bio, not yet in any request, ends
 * with -EIO like one to a dying queue instead of being dropped. Any other
 * error is rethrown.
 */
function noTagsIoError(k: Kernel, bio: number, err: unknown): number {
  if (!(err instanceof KernelError) || err.op !== NO_TAGS_OP) throw err;
  bioIoError(k, bio);
  return BLK_QC_T_NONE;
}

/** The ctx of the current CPU (`blk_mq_get_ctx()`; the port does not disable preemption). */
function currentCtx(q: RequestQueue): BlkMqCtx {
  return q.queueCtx[q.kernel.sched.smpProcessorId()];
}

/** The op of the error {@link noTags} makes, which {@link submitBio} turns into -EIO on the bio. */
const NO_TAGS_OP = "blk_mq_map_request";

/**
 * `blk_mq_map_request()` met an hctx without tags (another queue of a shared
 * set freed them in a hotplug remap); the map drops its queue reference
 * before the error leaves it.
 */
function noTags(): KernelError {
  return new KernelError("EIO", NO_TAGS_OP, "hctx has no tags");
}

/** What {@link blkMqTryMapRequest} hands back: the request and where it was mapped. */
interface MappedRequest {
  rq: number;
  hctx: BlkMqHwCtx;
  ctx: BlkMqCtx;
}

/**
 * The one result object of the non-sleeping map: filled by
 * {@link blkMqTryMapRequest} and read by its caller before anything else can
 * run (no yield in between), so the fast path allocates nothing.
 */
const MAPPED: MappedRequest = { rq: 0, hctx: null as unknown as BlkMqHwCtx, ctx: null as unknown as BlkMqCtx };
/** The reused `getTag()` options of the fast path. */
const GET_TAG: GetTagOptions = { hctx: null };

/**
 * Mirrors `blk_mq_map_request()` (v4.4): a queue reference, a tag from the
 * current CPU's ctx and its hctx, `hctx->queued++`, and the request
 * initialized (`blk_mq_rq_ctx_init()`). This is the GFP_ATOMIC attempt: it
 * returns the mapped request ({@link MAPPED}), or null with the queue
 * reference held and `MAPPED.ctx`/`MAPPED.hctx` naming where it failed;
 * the caller then goes on with {@link blkMqMapRequestWait}, which sleeps in
 * `bt_get()` after running the hw queue. So only a request that must wait
 * makes a generator.
 */
function blkMqTryMapRequest(q: RequestQueue, bio: number): MappedRequest | null {
  blkQueueEnterLive(q);
  const ctx = currentCtx(q);
  const hctx = q.mqOps!.mapQueue(q, ctx.cpu);
  const tags = hctxLiveTags(hctx, "blk_mq_get_tag");
  if (tags === null) {
    blkQueueExit(q);
    throw noTags();
  }
  GET_TAG.hctx = hctx.tagHctx;
  const tag = tags.getTag(ctx.cpu, GET_TAG);
  MAPPED.ctx = ctx;
  MAPPED.hctx = hctx;
  if (tag === BLK_MQ_TAG_FAIL) return null;
  return blkMqRqCtxInit(q, bio, hctx, ctx, tag);
}

/**
 * The sleeping half of `blk_mq_map_request()`: the hw queue run directly,
 * ctx and hctx taken again, and `bt_get()` with `__GFP_WAIT` (which may
 * move the task, hence ctx and hctx).
 */
function* blkMqMapRequestWait(q: RequestQueue, bio: number): Sleepable<MappedRequest> {
  const k = q.kernel;
  __blkMqRunHwQueueDispatchIfRunning(MAPPED.hctx);
  let ctx = currentCtx(q);
  let hctx = q.mqOps!.mapQueue(q, ctx.cpu);
  const tags = hctxLiveTags(hctx, "blk_mq_get_tag");
  if (tags === null) {
    blkQueueExit(q);
    throw noTags();
  }
  const s = k.sched;
  let r: TagAllocData & { tag: number };
  try {
    r = yield* getTagWait({ tags, ctx: ctx.cpu, hctx: hctx.tagHctx }, {}, {
      task: s.current,
      runHwQueue: () => blkMqRunHwQueue(hctx, false),
      *ioSchedule(w: TagWaiter) {
        // io_schedule() → blk_flush_plug(current): the plug's requests (and tags) go out first.
        const plug = currentPlug(q);
        if (plug !== null) blkFlushPlugList(plug, false);
        if (w.woken) return;
        s.blockCurrent("bt_get", false);
        yield;
      },
      remap() {
        ctx = currentCtx(q);
        hctx = q.mqOps!.mapQueue(q, ctx.cpu);
        const t = hctxLiveTags(hctx, "bt_get");
        // The hctx the task woke up on lost its tags (a shared set remapped under a CPU going down).
        if (t === null) throw noTags();
        return { tags: t, ctx: ctx.cpu, hctx: hctx.tagHctx };
      },
    });
  } catch (e) {
    blkQueueExit(q);
    throw e;
  }
  ctx = q.queueCtx[r.ctx];
  return blkMqRqCtxInit(q, bio, hctx, ctx, r.tag);
}

/**
 * Mirrors `blk_mq_rq_ctx_init()` after a tag was had, with `hctx->queued++`:
 * the record of `tag` reset and set up in the core (asm/blk_mq_map.ts).
 */
function blkMqRqCtxInit(q: RequestQueue, bio: number, hctx: BlkMqHwCtx, ctx: BlkMqCtx, tag: number): MappedRequest {
  const k = q.kernel;
  const birw = bioRw(k, bio);
  const rq = hctx.tags!.rq(tag);
  mapCheck(q, k.core.blk_mq_rq_ctx_init(q.addr, hctx.addr, ctx.addr, rq, birw, tag, k.clock.now()), "blk_mq_rq_ctx_init");
  MAPPED.rq = rq;
  MAPPED.hctx = hctx;
  MAPPED.ctx = ctx;
  return MAPPED;
}

/** `-EFAULT`: part0's statistics refused the accounting (asm/blk_mq_map.ts). */
const EFAULT = -14;

/**
 * Raises what the request path in the core refused: a record outside
 * memory (-EINVAL) as the `RangeError` a DataView access would have thrown,
 * part0's statistics refusing the accounting (-EFAULT) as the BUG of
 * `blk_account_io_start()`.
 */
export function mapCheck(q: RequestQueue, ret: number, op: string): void {
  if (ret >= 0) return;
  if (ret === EFAULT) {
    q.kernel.log.bug("block/blk-core.c:blk_account_io_start", `blk_account_io_start: part stats ${q.part0Addr} refused`);
  }
  throw new RangeError(`${op}: a request or bio record lies outside memory (${ret})`);
}

/** The run of `blk_mq_map_request()`'s retry path: `__blk_mq_run_hw_queue()`. */
function __blkMqRunHwQueueDispatchIfRunning(hctx: BlkMqHwCtx): void {
  if (!hctx.stopped) __blkMqRunHwQueueDispatch(hctx);
}

/**
 * Mirrors `blk_mq_bio_to_request()` (v4.4): `init_request_from_bio()` (the
 * bio's sector, size and flags) and `blk_account_io_start(rq, true)` on the
 * queue's disk (the queue record's `part0`), in the core.
 */
function blkMqBioToRequest(q: RequestQueue, rq: number, bio: number, _disk: Gendisk | null): void {
  const k = q.kernel;
  mapCheck(q, k.core.blk_mq_bio_to_request(q.addr, rq, bio, k.clock.jiffies()), "blk_mq_bio_to_request");
}

/**
 * Mirrors `blk_mq_make_request()` (v4.4): unless FLUSH/FUA or `nomerges`,
 * {@link blkAttemptPlugMerge} first (a hit returns {@link BLK_QC_T_NONE}).
 * With a plug (and merges allowed) or for a sync bio, and no
 * `BLK_MQ_F_DEFER_ISSUE`: with a plug the request is appended to it and the
 * plug's older request of this queue, if any, is taken off and issued
 * directly ("limited plugging": one request per queue waits); without one a
 * sync request is issued directly ({@link blkMqDirectIssueRequest}; BUSY →
 * inserted, async run). Otherwise the bio is merged into a ctx request or
 * goes to its ctx, and unless merged the hw queue runs asynchronously for an
 * async bio. As in v4.4 the cookie of a ctx-merged bio is that of the freed
 * request. FLUSH/FUA bios are not plugged: their request goes to
 * `blk_insert_flush()` and the hw queue runs asynchronously.
 */
export function* blkMqMakeRequest(q: RequestQueue, bio: number): Sleepable<number> {
  if (blkMqPlugScan(q, bio, true)) return BLK_QC_T_NONE;
  const sameQueueRq = PLUG_SCAN.sameQueueRq;
  const m = blkMqTryMapRequest(q, bio) ?? (yield* blkMqMapRequestWait(q, bio));
  return blkMqQueueRequest(q, bio, m, sameQueueRq);
}

/**
 * The queue's make_request ({@link blkMqMakeRequest} for several hw queues,
 * else {@link blkSqMakeRequest}) without sleeping, for {@link submitBioTry}:
 * {@link SUBMIT_WOULD_SLEEP}, the map's queue reference dropped, where the
 * map would wait for a tag.
 */
function makeRequestTry(q: RequestQueue, bio: number): number {
  const mq = q.nrHwQueues > 1;
  if (blkMqPlugScan(q, bio, mq)) return BLK_QC_T_NONE;
  const { requestCount, sameQueueRq } = PLUG_SCAN;
  const m = blkMqTryMapRequest(q, bio);
  if (m === null) {
    blkQueueExit(q); // the map's reference: the retry takes it again
    return SUBMIT_WOULD_SLEEP;
  }
  return mq ? blkMqQueueRequest(q, bio, m, sameQueueRq) : blkSqQueueRequest(q, bio, m, requestCount);
}

/**
 * The plug-merge step both make_request variants begin with: {@link PLUG_SCAN}
 * zeroed, then unless the bio is FLUSH/FUA or the queue has `nomerges`,
 * {@link blkAttemptPlugMerge}, which counts into it.
 *
 * @returns whether the bio merged into a plugged request
 */
function blkMqPlugScan(q: RequestQueue, bio: number, mq: boolean): boolean {
  PLUG_SCAN.requestCount = 0;
  PLUG_SCAN.sameQueueRq = 0;
  if ((bioRw(q.kernel, bio) & (REQ_FLUSH | REQ_FUA)) !== 0 || q.nomerges) return false;
  return blkAttemptPlugMerge(q, bio, blkDisk(q), mq);
}

/** The disk of `q` while it is added, else null (accounting skips it). */
function blkDisk(q: RequestQueue): Gendisk | null {
  return q.kernel.block.queueById[q.id]?.disk ?? null;
}

/** What {@link blkMqMakeRequest} does once the request is mapped. */
function blkMqQueueRequest(q: RequestQueue, bio: number, m: MappedRequest, sameQueueRq: number): number {
  const { rq, hctx, ctx } = m;
  const k = q.kernel;
  const birw = bioRw(k, bio);
  const isSync = rwIsSync(birw);
  const disk = blkDisk(q);
  let cookie = tagToCookie(view(k).getInt32(rq + RQ.TAG, true), hctx.queueNum);
  if ((birw & (REQ_FLUSH | REQ_FUA)) !== 0) return blkMqInsertFlush(q, hctx, rq, bio, disk, cookie);
  const plug = currentPlug(q);
  if (((plug !== null && !q.nomerges) || isSync) && (hctx.flags & BLK_MQ_F_DEFER_ISSUE) === 0) {
    blkMqBioToRequest(q, rq, bio, disk);
    let oldRq: number | null = null;
    if (plug !== null) {
      // The plug may have been flushed while the map slept: then same_queue_rq is gone (v4.4 tests
      // for an empty list; the port also sees a plug that filled up again, and takes it off only if there).
      if (sameQueueRq !== 0 && plug.holds(sameQueueRq)) {
        listDelInit(k, sameQueueRq);
        oldRq = sameQueueRq;
      }
      plug.add(rq);
    } else {
      oldRq = rq;
    }
    if (oldRq === null) return cookie;
    const r = blkMqDirectIssueRequest(q, oldRq);
    if (r === null) blkMqInsertRequest(q, oldRq, false, true, true);
    else cookie = r;
    return cookie;
  }
  if (!blkMqMergeQueueIo(q, hctx, ctx, rq, bio, disk)) blkMqRunHwQueue(hctx, !isSync);
  return cookie;
}

/**
 * Mirrors `blk_sq_make_request()` (v4.4): unless FLUSH/FUA or `nomerges`,
 * {@link blkAttemptPlugMerge} first (a hit returns {@link BLK_QC_T_NONE}).
 * With a plug the request is appended to it, the plug flushed first when it
 * already holds {@link BLK_MAX_REQUEST_COUNT} of this queue's requests (as
 * counted by the plug merge scan: with `nomerges` nothing counts). Without a
 * plug the bio merges into a ctx request or its request goes to the ctx;
 * unless merged the hw queue runs (asynchronously for an async bio).
 * FLUSH/FUA bios go to `blk_insert_flush()`, as in the mq variant.
 */
export function* blkSqMakeRequest(q: RequestQueue, bio: number): Sleepable<number> {
  if (blkMqPlugScan(q, bio, false)) return BLK_QC_T_NONE;
  const requestCount = PLUG_SCAN.requestCount;
  const m = blkMqTryMapRequest(q, bio) ?? (yield* blkMqMapRequestWait(q, bio));
  return blkSqQueueRequest(q, bio, m, requestCount);
}

/** What {@link blkSqMakeRequest} does once the request is mapped. */
function blkSqQueueRequest(q: RequestQueue, bio: number, m: MappedRequest, requestCount: number): number {
  const { rq, hctx, ctx } = m;
  const k = q.kernel;
  const birw = bioRw(k, bio);
  const disk = blkDisk(q);
  const cookie = tagToCookie(view(k).getInt32(rq + RQ.TAG, true), hctx.queueNum);
  if ((birw & (REQ_FLUSH | REQ_FUA)) !== 0) return blkMqInsertFlush(q, hctx, rq, bio, disk, cookie);
  const plug = currentPlug(q);
  if (plug !== null) {
    blkMqBioToRequest(q, rq, bio, disk);
    if (requestCount >= BLK_MAX_REQUEST_COUNT) blkFlushPlugList(plug, false);
    plug.add(rq);
    return cookie;
  }
  if (!blkMqMergeQueueIo(q, hctx, ctx, rq, bio, disk)) blkMqRunHwQueue(hctx, !rwIsSync(birw));
  return cookie;
}

/**
 * The FLUSH/FUA branch of `blk_mq_make_request()` / `blk_sq_make_request()`
 * (v4.4): bio → request, `blk_insert_flush()` (ts/block/blk_flush.ts), and
 * the hw queue run asynchronously.
 *
 * @returns `cookie`
 */
function blkMqInsertFlush(q: RequestQueue, hctx: BlkMqHwCtx, rq: number, bio: number, disk: Gendisk | null, cookie: number): number {
  blkMqBioToRequest(q, rq, bio, disk);
  blkInsertFlush(q.kernel, rq);
  blkMqRunHwQueue(hctx, true);
  return cookie;
}

/**
 * Mirrors `blk_attempt_plug_merge()` (block/blk-core.c, v4.4): the current
 * task's plug, newest to oldest; each request of `q` is counted
 * (`request_count`) and, for the mq variant, remembered (`same_queue_rq`,
 * ending as the oldest one scanned); a mergeable one (`blk_rq_merge_ok()`)
 * that the bio extends at the back or front takes it (one
 * {@link bioAttemptMerge} per request). A refused merge does not end the scan. Plug
 * merges do not count in the ctx's `rq_merged` (the disk counts them).
 * Without a plug the mq variant's count is `blk_plug_queued_count()` (0).
 *
 * @returns whether the bio merged; the counts are left in {@link PLUG_SCAN}
 */
function blkAttemptPlugMerge(q: RequestQueue, bio: number, _disk: Gendisk | null, mq: boolean): boolean {
  const k = q.kernel;
  const plug = currentPlug(q);
  const out = PLUG_SCAN; // zeroed by blkMqPlugScan(), its one caller
  if (plug === null) {
    if (mq) out.requestCount = blkPlugQueuedCount(q);
    return false;
  }
  const jiffies = k.clock.jiffies();
  const dv = view(k);
  for (let e = dv.getUint32(plug.addr + LIST_PREV, true); e !== plug.addr; e = dv.getUint32(e + LIST_PREV, true)) {
    if (dv.getUint32(e + RQ.Q, true) !== q.id) continue;
    out.requestCount++;
    if (mq) out.sameQueueRq = e;
    if (bioAttemptMerge(q, e, bio, jiffies) === BLK_MERGE_DONE) return true;
  }
  return false;
}

/**
 * The counts of the last plug scan ({@link blkAttemptPlugMerge}), one reused
 * object read by the make_request before anything else can run.
 */
const PLUG_SCAN = { requestCount: 0, sameQueueRq: 0 };

/**
 * Mirrors `blk_mq_merge_queue_io()` (v4.4), in the core under `ctx->lock`
 * (asm/blk_mq_map.ts): when the hctx allows merges (`BLK_MQ_F_SHOULD_MERGE`,
 * not `nomerges`) and the bio is mergeable, `blk_mq_attempt_merge()` (the
 * newest 8 requests of `ctx->rq_list`, newest first; the first that takes the
 * bio at its back or front decides, a merge counts `rq_merged`, a refusal by
 * the limits ends the search); a hit frees the new request
 * (`__blk_mq_free_request()`: no `rq_completed`). Otherwise bio → request,
 * onto the ctx tail, marked pending. One lock section, as v4.4 for a
 * mergeable bio; for one that is not, bio → request also runs inside it (v4.4
 * does it just before taking the lock; it takes no lock itself).
 *
 * @returns whether the bio was merged
 */
function blkMqMergeQueueIo(q: RequestQueue, hctx: BlkMqHwCtx, ctx: BlkMqCtx, rq: number, bio: number, _disk: Gendisk | null): boolean {
  const k = q.kernel;
  ctx.lock.lock("blk_mq_merge_queue_io");
  const ret = k.core.blk_mq_merge_queue_io(q.addr, hctx.addr, ctx.addr, rq, bio, k.clock.jiffies());
  ctx.lock.unlock("blk_mq_merge_queue_io");
  mapCheck(q, ret, "blk_mq_merge_queue_io");
  if (ret === 0) return false;
  __blkMqFreeRequest(q, hctx, ctx, rq);
  return true;
}

/** ctx requests `blk_mq_attempt_merge()` looks at, newest first. */
export const BLK_MQ_MERGE_CHECKED = 8;

/** {@link bioAttemptMerge}: the request took the bio. */
const BLK_MERGE_DONE = 1;

/**
 * One candidate of `blk_attempt_plug_merge()` in the core
 * (`blk_rq_bio_merge()`, asm/blk_mq_map.ts): `blk_rq_merge_ok()`,
 * `blk_try_merge()`, and `bio_attempt_back_merge()` /
 * `bio_attempt_front_merge()` with the `ll_back_merge_fn()` /
 * `ll_front_merge_fn()` limits (refused past `max_sectors` or
 * `max_segments`, marking the request REQ_NOMERGE; a bio's segments are
 * its `bi_vcnt`) and `blk_account_io_start(rq, false)`.
 *
 * @returns 0 not placed, {@link BLK_MERGE_DONE}, or 2 refused by the limits
 */
function bioAttemptMerge(q: RequestQueue, rq: number, bio: number, jiffies: number): number {
  const ret = q.kernel.core.blk_rq_bio_merge(q.addr, rq, bio, jiffies);
  mapCheck(q, ret, "blk_rq_bio_merge");
  return ret;
}

/**
 * Mirrors `blk_mq_direct_issue_request()` (v4.4): `queue_rq` with
 * `last = true`. OK → the cookie; ERROR → the request ends with -EIO and the
 * cookie is NONE; BUSY → STARTED cleared and null (the caller inserts it).
 */
function blkMqDirectIssueRequest(q: RequestQueue, rq: number): number | null {
  const k = q.kernel;
  const dv = view(k);
  const hctx = q.mqOps!.mapQueue(q, dv.getInt32(rq + RQ.MQ_CTX, true));
  const cookie = tagToCookie(dv.getInt32(rq + RQ.TAG, true), hctx.queueNum);
  const ret = driverQueueRq(k, hctx, { rq, list: null, last: true });
  if (ret === BLK_MQ_RQ_QUEUE_OK) return cookie;
  __blkMqRequeueRequest(k, rq);
  if (ret === BLK_MQ_RQ_QUEUE_ERROR) {
    view(k).setInt32(rq + RQ.ERRORS, EIO, true);
    blkMqEndRequest(k, rq, EIO);
    return BLK_QC_T_NONE;
  }
  return null;
}

/** Mirrors `__blk_mq_requeue_request()`: clears REQ_ATOM_STARTED. */
export function __blkMqRequeueRequest(k: Kernel, rq: number): void {
  rqTestAndClear(view(k), rq, REQ_ATOM_STARTED);
}

/**
 * Mirrors `blk_mq_insert_request()` (v4.4): onto the ctx (the current one if
 * the request's CPU went offline), head or tail, marked pending
 * (`__blk_mq_insert_request()` in the core); optionally runs the hw queue.
 */
export function blkMqInsertRequest(q: RequestQueue, rq: number, atHead: boolean, runQueue: boolean, async: boolean): void {
  const k = q.kernel;
  const dv = view(k);
  let ctx = q.queueCtx[dv.getInt32(rq + RQ.MQ_CTX, true)];
  if (!k.cpus.cpuOnline(ctx.cpu)) {
    ctx = currentCtx(q);
    dv.setInt32(rq + RQ.MQ_CTX, ctx.cpu, true);
  }
  const hctx = q.mqOps!.mapQueue(q, ctx.cpu);
  mapCheck(q, k.core.__blk_mq_insert_request(hctx.addr, ctx.addr, rq, atHead ? 1 : 0), "__blk_mq_insert_request");
  if (runQueue) blkMqRunHwQueue(hctx, async);
}

/**
 * Mirrors `blk_mq_start_request()` (v4.4): `blk_add_timer()` (the deadline
 * and the queue timer, ts/block/blk_timeout.ts), then STARTED set and
 * COMPLETE cleared (a requeue may have raced with the timeout).
 */
export function blkMqStartRequest(k: Kernel, rq: number): void {
  const q = rqQueue(k, rq).q;
  // The core's blk_mq_start_request() (asm/blk_mq_dispatch.ts); a queue without mq_ops gets no timer (q 0).
  if (k.core.blk_mq_start_request(q.mqOps === null ? 0 : q.addr, rq, k.clock.jiffies(), k.cpus.current, k.clock.HZ) < 0) {
    k.log.bug("block/blk-mq.c:blk_mq_start_request", `request ${rq}: bad record`);
  }
}

/** Mirrors `blk_mark_rq_complete()`: sets REQ_ATOM_COMPLETE; @returns whether it already was set. */
export function markRqComplete(k: Kernel, rq: number): boolean {
  return rqTestAndSet(view(k), rq, REQ_ATOM_COMPLETE);
}

/** Mirrors `blk_clear_rq_complete()`: clears REQ_ATOM_COMPLETE. */
export function clearRqComplete(k: Kernel, rq: number): void {
  rqTestAndClear(view(k), rq, REQ_ATOM_COMPLETE);
}

/** The dispatch loop's drivers in the core (asm/null_blk.ts): none (the host's queue_rq); null_blk with irqmode 0. */
export const BLK_MQ_INLINE_NONE = 0;
export const BLK_MQ_INLINE_NULL_IRQ_NONE = 1;

/**
 * The BLK_MQ_INLINE_* code the core's dispatch loop runs for `q`: its ops'
 * inline `queue_rq` ({@link BlkMqOps.inline}) while `queueRq` is still that
 * function, else none (the driver's `queueRq`, maybe a caller's wrapper,
 * through {@link blkMqQueueRqHost}).
 */
function inlineDriver(q: RequestQueue): number {
  const ops = q.mqOps!;
  const il = ops.inline;
  return il !== undefined && ops.queueRq === il.queueRq ? il.driver : BLK_MQ_INLINE_NONE;
}

/**
 * The `queue_rq` argument and driver list of a run at nesting depth `depth`
 * (1 for the outermost; a driver may run its queue again from `queue_rq`),
 * kept on the hctx and reused by the next run at that depth, so the sync
 * path allocates nothing per run.
 */
function dispatchScratch(hctx: BlkMqHwCtx, depth: number): BlkMqRunScratch {
  const all = hctx.runScratch;
  while (all.length < depth) all.push({ list: [], bd: { rq: 0, list: null, last: false } });
  return all[depth - 1];
}

/**
 * Mirrors `__blk_mq_run_hw_queue()` (v4.4) after the STOPPED test (which
 * ts/block/hctx.ts does), as the core's `__blk_mq_run_hw_queue_dispatch()`
 * (asm/blk_mq_dispatch.ts): `run++`, `hctx->dispatch` and the pending ctxs
 * (`flush_busy_ctxs()`) taken, `queue_rq` for each (the inline driver's in
 * the core, else through {@link blkMqQueueRqHost}: OK counted, BUSY puts it
 * back and stops, ERROR or unknown ends it with -EIO; `bd.list` null until
 * two or more requests wait after one was sent, then a local driver list),
 * the `dispatched` histogram, and what is left back at the head of
 * `hctx->dispatch`; then the async rerun here.
 */
export function __blkMqRunHwQueueDispatch(hctx: BlkMqHwCtx): void {
  const q = hctx.queue;
  const k = q.kernel;
  const depth = hctx.runDepth;
  let ret: number;
  try {
    const clock = k.clock;
    ret = k.core.__blk_mq_run_hw_queue_dispatch(q.addr, hctx.addr, k.sched.cpus.current, clock.now(), clock.HZ, clock.tickNs, inlineDriver(q));
  } catch (err) {
    hctx.runDepth = depth; // the run's frames are gone, and with them its depth
    throw err;
  }
  if (ret < 0) k.log.bug("block/blk-mq.c:__blk_mq_run_hw_queue", `queue ${q.id}: no record`);
  if (ret === BLK_MQ_DISPATCH_RERUN) blkMqRunHwQueue(hctx, true);
}

/** `__blk_mq_run_hw_queue_dispatch()`'s answer: requests were left on `hctx->dispatch`. */
const BLK_MQ_DISPATCH_RERUN = 1;
/**
 * `host_queue_rq()`'s flags (asm/blk_mq_dispatch.ts): `bd->last`; `bd->list`
 * set; a new driver list; the run's depth from bit 8.
 */
const QUEUE_RQ_LAST = 1;
const QUEUE_RQ_LIST = 2;
const QUEUE_RQ_LIST_NEW = 4;
const QUEUE_RQ_DEPTH_SHIFT = 8;

/** The live hctx of the queue record `qAddr` whose record is at `hctxAddr`, as the host calls name one. */
function hctxByRecord(k: Kernel, qAddr: number, hctxAddr: number): BlkMqHwCtx | undefined {
  const hctx = k.block.queueByRecord(qAddr)?.queueHwCtx[view(k).getUint32(hctxAddr + HCTX.QUEUE_NUM, true)];
  return hctx !== undefined && hctx.addr === hctxAddr ? hctx : undefined;
}

/**
 * `hctx->queue->mq_ops->queue_rq(hctx, bd)`. A driver that throws has a bug
 * (in the kernel, an oops in its queue_rq): the error goes to the kernel log
 * with the request's tag, then on to the caller. The request stays the
 * driver's (it may have ended it or handed it on before throwing), so
 * nothing here ends it; should the driver never end it, its tag and queue
 * reference stay taken and a teardown of the queue waits for them, which
 * the log line explains. A {@link KernelBug} was logged where it was raised.
 */
function driverQueueRq(k: Kernel, hctx: BlkMqHwCtx, bd: BlkMqQueueData): number {
  try {
    return hctx.queue.mqOps!.queueRq(hctx, bd);
  } catch (e) {
    if (!(e instanceof KernelBug)) {
      const tag = view(k).getInt32(bd.rq + RQ.TAG, true);
      k.log.printk("err", `blk-mq: queue_rq of hctx ${hctx.queueNum} threw on tag ${tag}, which stays with the driver: ${String(e)}`);
    }
    throw e;
  }
}

/**
 * The driver's `queue_rq` for the core's dispatch run (host_queue_rq): the
 * hctx of the queue and hctx records, `bd` from the scratch of the run's
 * depth (`list` its driver list, made anew when the run first hands it
 * out). An answer other than OK, BUSY or ERROR is logged ("blk-mq: bad
 * return on queue") and passed on as ERROR.
 *
 * @throws {KernelBug} when the records name no live hctx or no run of it is under way
 */
export function blkMqQueueRqHost(k: Kernel, qAddr: number, hctxAddr: number, rq: number, flags: number): number {
  const hctx = hctxByRecord(k, qAddr, hctxAddr);
  const depth = flags >>> QUEUE_RQ_DEPTH_SHIFT;
  if (hctx === undefined || depth === 0 || depth > hctx.runDepth) {
    k.log.bug("block/blk-mq.c:__blk_mq_run_hw_queue", `queue_rq for hctx ${hctxAddr} outside its run`);
  }
  const sc = dispatchScratch(hctx, depth);
  const bd = sc.bd;
  bd.rq = rq;
  if ((flags & QUEUE_RQ_LIST_NEW) !== 0) sc.list = [];
  bd.list = (flags & QUEUE_RQ_LIST) !== 0 ? sc.list : null;
  bd.last = (flags & QUEUE_RQ_LAST) !== 0;
  const ret = driverQueueRq(k, hctx, bd);
  if (ret === BLK_MQ_RQ_QUEUE_OK || ret === BLK_MQ_RQ_QUEUE_BUSY || ret === BLK_MQ_RQ_QUEUE_ERROR) return ret;
  k.log.printk("err", `blk-mq: bad return on queue: ${ret}`);
  return BLK_MQ_RQ_QUEUE_ERROR;
}

/**
 * The hw queue run the core's make_request asks for (host_blk_mq_run_hw_queue_async):
 * {@link blkMqRunHwQueue} with `async`, for the queue and hctx records.
 *
 * @throws {KernelBug} when the records name no live hctx
 */
export function blkMqRunHwQueueAsyncHost(k: Kernel, qAddr: number, hctxAddr: number): void {
  const hctx = hctxByRecord(k, qAddr, hctxAddr);
  if (hctx === undefined) k.log.bug("block/blk-mq.c:blk_mq_run_hw_queue", `no hctx at ${hctxAddr}`);
  blkMqRunHwQueue(hctx, true);
}

/**
 * `ctx->lock` of CPU `cpu` of the queue record, taken (`lock` 1) or released
 * by the core's make_request while lockdep runs (host_ctx_lock), at the
 * kernel function whose section it is.
 *
 * @throws {KernelBug} when the record names no live queue
 */
export function ctxLockHost(k: Kernel, qAddr: number, cpu: number, lock: number): void {
  const q = k.block.queueByRecord(qAddr);
  if (q === undefined) k.log.bug("block/blk-mq.c:blk_mq_merge_queue_io", `no queue at ${qAddr}`);
  const l = q.queueCtx[cpu].lock;
  if (lock !== 0) l.lock("blk_mq_merge_queue_io");
  else l.unlock("blk_mq_merge_queue_io");
}

/**
 * Mirrors `blk_mq_complete_request()` (v4.4): the first completion of a
 * request (REQ_ATOM_COMPLETE test-and-set) records the error and either
 * ends it (no `ops.complete`) or goes through `blk_mq_ipi_complete_request()`.
 *
 * @returns whether this call completed it (false: it already was)
 */
export function blkMqCompleteRequest(k: Kernel, rq: number, error: number): boolean {
  const dv = view(k);
  if (rqTestAndSet(dv, rq, REQ_ATOM_COMPLETE)) return false;
  dv.setInt32(rq + RQ.ERRORS, error, true);
  __blkMqCompleteRequest(rqQueue(k, rq).q, rq);
  return true;
}

/**
 * Mirrors `__blk_mq_complete_request()` (v4.4), for a request already marked
 * complete (by {@link blkMqCompleteRequest} or the timeout handler): ended
 * with `rq->errors` when the driver has no `complete`, else
 * `blk_mq_ipi_complete_request()`.
 */
export function __blkMqCompleteRequest(q: RequestQueue, rq: number): void {
  if (q.mqOps!.complete === undefined) blkMqEndRequest(q.kernel, rq, view(q.kernel).getInt32(rq + RQ.ERRORS, true));
  else blkMqIpiCompleteRequest(q, rq);
}

/** Mirrors `cpus_share_cache()`: the port's machine has one last-level cache. */
function cpusShareCache(_a: number, _b: number): boolean {
  return true;
}

/**
 * Mirrors `blk_mq_ipi_complete_request()` (v4.4): without SAME_COMP the done
 * function runs here; otherwise on the submitting CPU (`ctx->cpu`) through
 * `smp_call_function_single_async()` when that CPU differs, does not share
 * the cache (always "does not" with SAME_FORCE) and is online.
 */
function blkMqIpiCompleteRequest(q: RequestQueue, rq: number): void {
  const k = q.kernel;
  const done = q.mqOps!.complete!;
  if (!q.testFlag(QUEUE_FLAG_SAME_COMP)) {
    done(rq);
    return;
  }
  const ctxCpu = view(k).getInt32(rq + RQ.MQ_CTX, true);
  const cpu = k.sched.getCpu();
  let shared = false;
  if (!q.testFlag(QUEUE_FLAG_SAME_FORCE)) shared = cpusShareCache(cpu, ctxCpu);
  if (cpu !== ctxCpu && !shared && k.cpus.cpuOnline(ctxCpu)) {
    let m = CSDS.get(q);
    if (m === undefined) CSDS.set(q, m = new Map());
    let csd = m.get(rq);
    if (csd === undefined) {
      csd = new CallSingleData<number>((r) => done(r), rq);
      m.set(rq, csd);
    }
    csd.flags = 0;
    k.softirq.smpCallFunctionSingleAsync(ctxCpu, csd);
  } else {
    done(rq);
  }
  k.sched.putCpu();
}

/**
 * Mirrors `blk_mq_end_request()` (v4.4): {@link blkUpdateRequest} for all
 * bytes (sectors accounted, every bio advanced and ended with `bi_error` =
 * error; bytes left over are a BUG), then {@link __blkMqEndRequest}:
 * `blk_account_io_done()` and `rq->end_io` or the request freed
 * ({@link blkMqFreeRequest}). One core call (asm/blk_mq_end.ts) after the
 * "I/O error" printk.
 */
export function blkMqEndRequest(k: Kernel, rq: number, error: number): void {
  if ((error | 0) !== error) throw new RangeError(`blk_mq_end_request: error must be an int32, got ${error}`);
  blkUpdateRequestLog(k, rq, error, rqQueue(k, rq).disk);
  const rc = k.core.blk_mq_end_request(rq, error, k.clock.jiffies(), k.clock.tickNs, k.sched.cpus.current);
  if (rc < 0) blkEndFault(k, rq, rc);
}

/**
 * Mirrors `blk_mq_free_request()` → `blk_mq_free_hctx_request()` (v4.4):
 * `rq_completed[sync]++` on the request's ctx, then {@link __blkMqFreeRequest}
 * on the hctx that ctx maps to now. One core call (asm/blk_mq_end.ts).
 *
 * @throws {RangeError} when the request's ctx maps to no hctx
 */
export function blkMqFreeRequest(q: RequestQueue, rq: number): void {
  const k = q.kernel;
  const rc = k.core.blk_mq_free_request(rq, k.sched.cpus.current);
  if (rc < 0) blkEndFault(k, rq, rc);
}

/**
 * Mirrors `__blk_mq_free_request()` (v4.4): flags reset, STARTED cleared,
 * the tag put on `hctx`'s map (its `nr_active` share dropped, a waiter
 * woken), and the request's queue reference dropped. One core call; the tag
 * put and the queue reference are host calls back (ts/block/_host.ts).
 */
function __blkMqFreeRequest(q: RequestQueue, hctx: BlkMqHwCtx, ctx: BlkMqCtx, rq: number): void {
  q.kernel.core.__blk_mq_free_request(rq, hctx.addr, ctx.cpu, q.kernel.sched.cpus.current);
}
