// SPDX-License-Identifier: GPL-2.0-only
/**
 * FLUSH/FUA sequencing for blk-mq (block/blk-flush.c, v4.4).
 *
 * A queue says what its device honours with {@link blkQueueFlush}
 * (`q->flush_flags`: REQ_FLUSH for a volatile write cache that can be
 * flushed, plus REQ_FUA when writes can be made durable one by one). A
 * REQ_FLUSH / REQ_FUA request is cut into up to three steps by
 * {@link blkFlushPolicy}: PREFLUSH (a cache flush before the data), DATA,
 * POSTFLUSH (a flush after it, emulating FUA on a queue without REQ_FUA).
 * {@link blkInsertFlush} takes the request from `blk_mq_make_request()`:
 * nothing to do ends it at once; data alone goes down as a plain request
 * with the flush bits stripped; anything else is marked REQ_FLUSH_SEQ and
 * walked through the steps by {@link blkFlushCompleteSeq}.
 *
 * The flushes themselves are issued with the one flush request of the
 * hctx's flush queue ({@link BlkFlushQueue}, `fq->flush_rq`, allocated with
 * the hctx). `flush_queue[2]` with `flush_pending_idx` / `flush_running_idx`
 * double-buffer the waiters: while a flush runs, new PREFLUSH / POSTFLUSH
 * waiters gather on the other list, and the next flush serves all of them
 * at once (flush merging). The flush request borrows the tag of the first
 * waiter (`tags->rqs[tag]` points at it while it runs). Requests go to the
 * driver through the requeue list (ts/block/blk_mq_requeue.ts): the data
 * step at the head, flushes at the tail. `flush_end_io()` and
 * `mq_flush_data_end_io()` are `rq->end_io` hooks run by
 * `__blk_mq_end_request()` (ts/block/blk_update_request.ts).
 *
 * The filter of `generic_make_request_checks()` is here too
 * ({@link blkFlushCheckBio}): on a queue without `flush_flags` the flush
 * bits are dropped and an empty flush bio ends at once, successfully.
 *
 * v4.4 holds `fq->mq_flush_lock` around the sequencing; the port runs one
 * context at a time and nothing here sleeps, so there is no lock. The
 * waiter lists are arrays of request record addresses.
 *
 * @module
 */

import type { Kernel } from "../kernel/kernel.ts";
import { bioEndio, bioRw, bioSectors, bioSetField, REQ_FLUSH, REQ_FLUSH_SEQ, REQ_FUA, WRITE_FLUSH } from "./bio.ts";
import { blkMqEndRequest, blkMqInsertRequest, rqQueue } from "./blk_mq_request.ts";
import { blkMqAddToRequeueList, blkMqKickRequeueList } from "./blk_mq_requeue.ts";
import { type BlkMqHwCtx, blkMqRunHwQueue } from "./hctx.ts";
import type { RequestQueue } from "./request_queue.ts";
import { RQ } from "./request_record.ts";
import { registerRqEndIo } from "./_rq_end_io.ts";

/** Mirrors `REQ_FSEQ_PREFLUSH` (block/blk-flush.c, v4.4): the flush before the data. */
export const REQ_FSEQ_PREFLUSH = 1 << 0;
/** Mirrors `REQ_FSEQ_DATA`: the data write. */
export const REQ_FSEQ_DATA = 1 << 1;
/** Mirrors `REQ_FSEQ_POSTFLUSH`: the flush after the data (FUA emulation). */
export const REQ_FSEQ_POSTFLUSH = 1 << 2;
/** Mirrors `REQ_FSEQ_DONE`. */
export const REQ_FSEQ_DONE = 1 << 3;
/** Mirrors `REQ_FSEQ_ACTIONS`. */
export const REQ_FSEQ_ACTIONS = REQ_FSEQ_PREFLUSH | REQ_FSEQ_DATA | REQ_FSEQ_POSTFLUSH;
/** Mirrors `FLUSH_PENDING_TIMEOUT` (5 * HZ), in seconds. */
export const FLUSH_PENDING_TIMEOUT_SECS = 5;

/**
 * Mirrors `struct blk_flush_queue` (block/blk.h, v4.4): one per hctx, made
 * with it (`blk_alloc_flush_queue()`, ts/block/blk_mq.ts).
 */
export class BlkFlushQueue {
  /** `fq->flush_rq`: address of the flush request record (REQUEST_SIZE + cmd_size, rounded to 64). */
  readonly flushRq: number;
  /** `fq->flush_pending_idx`: the list new waiters join. */
  flushPendingIdx = 0;
  /** `fq->flush_running_idx`: the list the running flush serves (equal to pending: none runs). */
  flushRunningIdx = 0;
  /** `fq->flush_pending_since` (jiffies): when the pending list stopped being empty. */
  flushPendingSince = 0;
  /** `fq->flush_queue[2]`: requests waiting for a PREFLUSH or POSTFLUSH. */
  readonly flushQueue: [number[], number[]] = [[], []];
  /** `fq->flush_data_in_flight`: requests whose DATA step is out. */
  readonly flushDataInFlight: number[] = [];
  /** `fq->orig_rq`: the request whose tag the running flush borrowed (0: none). */
  origRq = 0;

  constructor(flushRq: number) {
    this.flushRq = flushRq;
  }
}

function view(k: Kernel): DataView {
  return k.dv;
}

/**
 * Mirrors `blk_queue_flush()` (block/blk-settings.c, v4.4): what the device
 * honours, REQ_FLUSH and optionally REQ_FUA. Other bits WARN and are
 * dropped; REQ_FUA without REQ_FLUSH WARNs and is dropped.
 */
export function blkQueueFlush(q: RequestQueue, flush: number): void {
  const log = q.kernel.log;
  if ((flush & ~(REQ_FLUSH | REQ_FUA)) !== 0) log.warnOnce("block/blk-settings.c:blk_queue_flush", "WARN_ON_ONCE(flush & ~(REQ_FLUSH | REQ_FUA))");
  if ((flush & REQ_FLUSH) === 0 && (flush & REQ_FUA) !== 0) {
    log.warnOnce("block/blk-settings.c:blk_queue_flush", "WARN_ON_ONCE(!(flush & REQ_FLUSH) && (flush & REQ_FUA))");
    flush &= ~REQ_FUA;
  }
  q.flushFlags = flush & (REQ_FLUSH | REQ_FUA);
}

/**
 * The flush part of `generic_make_request_checks()` (block/blk-core.c,
 * v4.4): on a queue without `flush_flags`, REQ_FLUSH and REQ_FUA are taken
 * off the bio, and a bio without data is ended at once with no error.
 *
 * @returns true when the bio was ended (the caller returns BLK_QC_T_NONE)
 */
export function blkFlushCheckBio(q: RequestQueue, bio: number): boolean {
  const k = q.kernel;
  const rw = bioRw(k, bio);
  if ((rw & (REQ_FLUSH | REQ_FUA)) === 0 || q.flushFlags !== 0) return false;
  bioSetField(k, bio, "bi_rw", rw & ~(REQ_FLUSH | REQ_FUA));
  if (bioSectors(k, bio) !== 0) return false;
  bioSetField(k, bio, "bi_error", 0);
  bioEndio(k, bio);
  return true;
}

/**
 * Mirrors `blk_flush_policy()` (v4.4): DATA when the request has sectors;
 * with REQ_FLUSH in `fflags`, PREFLUSH for a REQ_FLUSH request and
 * POSTFLUSH for a REQ_FUA one when the queue lacks REQ_FUA.
 */
export function blkFlushPolicy(fflags: number, k: Kernel, rq: number): number {
  const dv = view(k);
  const flags = dv.getUint32(rq + RQ.CMD_FLAGS, true);
  let policy = 0;
  if (dv.getUint32(rq + RQ.DATA_LEN, true) >>> 9 !== 0) policy |= REQ_FSEQ_DATA;
  if ((fflags & REQ_FLUSH) !== 0) {
    if ((flags & REQ_FLUSH) !== 0) policy |= REQ_FSEQ_PREFLUSH;
    if ((fflags & REQ_FUA) === 0 && (flags & REQ_FUA) !== 0) policy |= REQ_FSEQ_POSTFLUSH;
  }
  return policy;
}

/** Mirrors `blk_flush_cur_seq()`: the first step not done yet (`1 << ffz(seq)`). */
function blkFlushCurSeq(seq: number): number {
  return ~seq & (seq + 1);
}

/** Mirrors `blk_get_flush_queue()` for blk-mq: the flush queue of the hctx that `ctx` maps to. */
function blkGetFlushQueue(q: RequestQueue, ctxCpu: number): { fq: BlkFlushQueue; hctx: BlkMqHwCtx } {
  const hctx = q.mqOps!.mapQueue(q, ctxCpu);
  if (hctx.fq === null) q.kernel.log.bug("block/blk.h:blk_get_flush_queue", `hctx ${hctx.queueNum} has no flush queue`);
  return { fq: hctx.fq, hctx };
}

/** `list_del_init(&rq->flush.list)`: off whichever flush list holds it. */
function flushListDel(fq: BlkFlushQueue, rq: number): void {
  for (const l of [fq.flushQueue[0], fq.flushQueue[1], fq.flushDataInFlight]) {
    const i = l.indexOf(rq);
    if (i >= 0) l.splice(i, 1);
  }
}

/** `list_move_tail(&rq->flush.list, to)`. */
function flushListMoveTail(fq: BlkFlushQueue, rq: number, to: number[]): void {
  flushListDel(fq, rq);
  to.push(rq);
}

/**
 * Mirrors `blk_flush_restore_request()` (v4.4): the data step left
 * `rq->bio` empty; `biotail` still is the one bio. REQ_FLUSH_SEQ off, the
 * saved `end_io` back.
 */
function blkFlushRestoreRequest(k: Kernel, rq: number): void {
  const dv = view(k);
  dv.setUint32(rq + RQ.BIO, dv.getUint32(rq + RQ.BIOTAIL, true), true);
  dv.setUint32(rq + RQ.CMD_FLAGS, dv.getUint32(rq + RQ.CMD_FLAGS, true) & ~REQ_FLUSH_SEQ, true);
  dv.setUint32(rq + RQ.END_IO, dv.getUint32(rq + RQ.FLUSH_SAVED_END_IO, true), true);
}

/**
 * Mirrors `blk_flush_queue_rq()` for blk-mq (v4.4): onto the requeue list
 * (at the head for a data step) and kick it.
 *
 * @returns false: nothing was put on a dispatch list directly
 */
function blkFlushQueueRq(k: Kernel, rq: number, addFront: boolean): boolean {
  blkMqAddToRequeueList(k, rq, addFront);
  blkMqKickRequeueList(rqQueue(k, rq).q);
  return false;
}

/**
 * Mirrors `blk_flush_complete_seq()` (v4.4): `seq` (a mask of steps, may be
 * 0) is done for `rq`; on an error the sequence is over. The next step
 * decides: a flush → wait on the pending list; DATA → out through the
 * requeue list, on `flush_data_in_flight`; DONE → the request is restored
 * and ended with `error`. Then {@link blkKickFlush}.
 *
 * @returns whether a flush was issued or a request queued (for the caller's kick)
 * @throws {KernelBug} when a step in `seq` was already done
 */
function blkFlushCompleteSeq(k: Kernel, rq: number, fq: BlkFlushQueue, seq: number, error: number): boolean {
  const q = rqQueue(k, rq).q;
  const pending = fq.flushQueue[fq.flushPendingIdx];
  const dv = view(k);
  const done = dv.getUint32(rq + RQ.FLUSH_SEQ, true);
  if ((done & seq) !== 0) k.log.bug("block/blk-flush.c:blk_flush_complete_seq", `request ${rq}: step ${seq} already done`);
  dv.setUint32(rq + RQ.FLUSH_SEQ, done | seq, true);
  const next = error === 0 ? blkFlushCurSeq(done | seq) : REQ_FSEQ_DONE;
  let queued = false;
  switch (next) {
    case REQ_FSEQ_PREFLUSH:
    case REQ_FSEQ_POSTFLUSH:
      if (pending.length === 0) fq.flushPendingSince = k.clock.jiffies();
      flushListMoveTail(fq, rq, pending);
      break;
    case REQ_FSEQ_DATA:
      flushListMoveTail(fq, rq, fq.flushDataInFlight);
      queued = blkFlushQueueRq(k, rq, true);
      break;
    case REQ_FSEQ_DONE:
      flushListDel(fq, rq);
      blkFlushRestoreRequest(k, rq);
      blkMqEndRequest(k, rq, error);
      break;
    default:
      k.log.bug("block/blk-flush.c:blk_flush_complete_seq", `request ${rq}: bad step ${next}`);
  }
  const kicked = blkKickFlush(q, fq);
  return kicked || queued;
}

/** Mirrors `blk_mq_tag_set_rq()` (block/blk-mq-tag.h, v4.4): `hctx->tags->rqs[tag] = rq`. */
function blkMqTagSetRq(hctx: BlkMqHwCtx, tag: number, rq: number): void {
  hctx.tags?.setRq(tag, rq);
}

/**
 * Mirrors `flush_end_io()` (v4.4), the flush request's `end_io`: the
 * borrowed tag goes back to its request, the running list is done with
 * (`flush_running_idx` flips), and every request on it moves to its next
 * step with the flush's error. The list is walked as it was when the flush
 * ended (see docs/MAPPING.md).
 */
function flushEndIo(k: Kernel, flushRq: number, error: number): void {
  const q = rqQueue(k, flushRq).q;
  const dv = view(k);
  const { fq, hctx } = blkGetFlushQueue(q, dv.getInt32(flushRq + RQ.MQ_CTX, true));
  blkMqTagSetRq(hctx, dv.getInt32(flushRq + RQ.TAG, true), fq.origRq);
  dv.setInt32(flushRq + RQ.TAG, -1, true);
  const running = fq.flushQueue[fq.flushRunningIdx];
  if (fq.flushPendingIdx === fq.flushRunningIdx) k.log.bug("block/blk-flush.c:flush_end_io", "no flush was running");
  fq.flushRunningIdx ^= 1;
  for (const rq of running.slice()) {
    const seq = blkFlushCurSeq(view(k).getUint32(rq + RQ.FLUSH_SEQ, true));
    if (seq !== REQ_FSEQ_PREFLUSH && seq !== REQ_FSEQ_POSTFLUSH) k.log.bug("block/blk-flush.c:flush_end_io", `request ${rq} waits for step ${seq}`);
    blkFlushCompleteSeq(k, rq, fq, seq, error);
  }
}
const FLUSH_END_IO = registerRqEndIo(flushEndIo);

/**
 * Mirrors `blk_rq_init()` (block/blk-core.c, v4.4) for the flush request:
 * the record zeroed, `q`, no CPU, `__sector` = (sector_t)-1, no tag, the
 * start time.
 */
function blkRqInit(q: RequestQueue, rq: number): void {
  const k = q.kernel;
  const dv = view(k);
  for (let off = 0; off < 104; off += 4) dv.setUint32(rq + off, 0, true);
  dv.setUint32(rq + RQ.Q, q.id, true);
  dv.setUint32(rq + RQ.QUEUE, q.addr, true);
  dv.setInt32(rq + RQ.CPU, -1, true);
  dv.setBigUint64(rq + RQ.SECTOR, 0xffffffffffffffffn, true);
  dv.setInt32(rq + RQ.TAG, -1, true);
  dv.setFloat64(rq + RQ.START_TIME, k.clock.now(), true);
}

/**
 * Mirrors `blk_kick_flush()` (v4.4): issues the flush request for the
 * pending list when no flush runs (C1) and, while data steps are out, only
 * once the list has waited FLUSH_PENDING_TIMEOUT (C2, C3; until then the
 * data's completion kicks again). The pending index flips (a flush is now
 * running), the flush request is made afresh (WRITE_FLUSH | REQ_FLUSH_SEQ,
 * `end_io` = `flush_end_io`) on the first waiter's ctx with its tag (and
 * `tags->rqs[tag]` pointing at it), and goes to the requeue list's tail.
 *
 * @returns whether a flush was issued
 */
function blkKickFlush(q: RequestQueue, fq: BlkFlushQueue): boolean {
  const k = q.kernel;
  const pending = fq.flushQueue[fq.flushPendingIdx];
  if (fq.flushPendingIdx !== fq.flushRunningIdx || pending.length === 0) return false;
  if (fq.flushDataInFlight.length > 0 && k.clock.jiffies() < fq.flushPendingSince + FLUSH_PENDING_TIMEOUT_SECS * k.clock.HZ) return false;
  fq.flushPendingIdx ^= 1;
  const first = pending[0];
  const flushRq = fq.flushRq;
  blkRqInit(q, flushRq);
  const dv = view(k);
  const ctxCpu = dv.getInt32(first + RQ.MQ_CTX, true);
  const tag = dv.getInt32(first + RQ.TAG, true);
  dv.setInt32(flushRq + RQ.MQ_CTX, ctxCpu, true);
  dv.setInt32(flushRq + RQ.HCTX, dv.getInt32(first + RQ.HCTX, true), true);
  dv.setInt32(flushRq + RQ.TAG, tag, true);
  fq.origRq = first;
  blkMqTagSetRq(q.mqOps!.mapQueue(q, ctxCpu), tag, flushRq);
  dv.setUint32(flushRq + RQ.CMD_FLAGS, WRITE_FLUSH | REQ_FLUSH_SEQ, true);
  dv.setUint32(flushRq + RQ.END_IO, FLUSH_END_IO, true);
  return blkFlushQueueRq(k, flushRq, false);
}

/**
 * Mirrors `mq_flush_data_end_io()` (v4.4), the data step's `end_io`: DATA
 * is done; when that queued something, the hctx runs asynchronously.
 */
function mqFlushDataEndIo(k: Kernel, rq: number, error: number): void {
  const q = rqQueue(k, rq).q;
  const { fq, hctx } = blkGetFlushQueue(q, view(k).getInt32(rq + RQ.MQ_CTX, true));
  if (blkFlushCompleteSeq(k, rq, fq, REQ_FSEQ_DATA, error)) blkMqRunHwQueue(hctx, true);
}
const MQ_FLUSH_DATA_END_IO = registerRqEndIo(mqFlushDataEndIo);

/**
 * Mirrors `blk_insert_flush()` (v4.4) for blk-mq, for a REQ_FLUSH / REQ_FUA
 * request just made from its bio: REQ_FLUSH is taken off (and REQ_FUA when
 * the queue lacks it), then by {@link blkFlushPolicy}: nothing to do → ended
 * with success; only DATA → inserted on its ctx as a plain request (the
 * caller runs the queue); otherwise REQ_FLUSH_SEQ, `end_io` saved and set to
 * `mq_flush_data_end_io`, and the sequence started with the steps it skips
 * marked done.
 *
 * @throws {KernelBug} for a request of more than one bio
 */
export function blkInsertFlush(k: Kernel, rq: number): void {
  const q = rqQueue(k, rq).q;
  const fflags = q.flushFlags;
  const policy = blkFlushPolicy(fflags, k, rq);
  let dv = view(k);
  const { fq } = blkGetFlushQueue(q, dv.getInt32(rq + RQ.MQ_CTX, true));
  let flags = dv.getUint32(rq + RQ.CMD_FLAGS, true) & ~REQ_FLUSH;
  if ((fflags & REQ_FUA) === 0) flags &= ~REQ_FUA;
  dv.setUint32(rq + RQ.CMD_FLAGS, flags, true);
  if (policy === 0) {
    blkMqEndRequest(k, rq, 0);
    return;
  }
  dv = view(k);
  if (dv.getUint32(rq + RQ.BIO, true) !== dv.getUint32(rq + RQ.BIOTAIL, true)) {
    k.log.bug("block/blk-flush.c:blk_insert_flush", `request ${rq} has more than one bio`);
  }
  if ((policy & REQ_FSEQ_DATA) !== 0 && (policy & (REQ_FSEQ_PREFLUSH | REQ_FSEQ_POSTFLUSH)) === 0) {
    blkMqInsertRequest(q, rq, false, false, true);
    return;
  }
  dv.setUint32(rq + RQ.FLUSH_SEQ, 0, true);
  dv.setUint32(rq + RQ.CMD_FLAGS, flags | REQ_FLUSH_SEQ, true);
  dv.setUint32(rq + RQ.FLUSH_SAVED_END_IO, dv.getUint32(rq + RQ.END_IO, true), true);
  dv.setUint32(rq + RQ.END_IO, MQ_FLUSH_DATA_END_IO, true);
  blkFlushCompleteSeq(k, rq, fq, REQ_FSEQ_ACTIONS & ~policy, 0);
}
