// SPDX-License-Identifier: GPL-2.0-only
/**
 * Completing a request's bytes and ending it (block/blk-core.c and
 * block/blk-mq.c, v4.4). {@link blkUpdateRequest} completes the first
 * `nr_bytes` of a request: whole bios are advanced and ended, a bio cut in
 * the middle is only advanced (`bio_advance()`), and the request moves on
 * (`__sector`, `__data_len`); it tells whether bytes remain, so a driver can
 * complete a request in pieces. {@link __blkMqEndRequest} finishes a request
 * whose bytes are done: `blk_account_io_done()`, then `rq->end_io` when set
 * (the flush machinery's hooks, ts/block/blk_flush.ts) or the request freed.
 * `blk_mq_end_request()` (ts/block/blk_mq_request.ts) is the two together.
 *
 * Bios of a request in a flush sequence (`REQ_FLUSH_SEQ`) are advanced but
 * not ended: the flush machinery ends them once the whole sequence is over.
 *
 * The work is the core's (asm/blk_mq_end.ts): each function here is one call
 * into it, with the "I/O error" printk before and the BUG a failed step
 * calls for after. The core reaches what only TypeScript does through host
 * calls bound in ts/block/_host.ts: a request's `end_io`
 * ({@link rqEndIoHost}), the wake-ups of a tag put ({@link blkMqTagWakeHost};
 * the put itself is the core's while the hctx holds a live map, else
 * {@link blkMqPutTagHost}) and the queue reference drop
 * ({@link blkQueueExitHost}).
 *
 * @module
 */

import type { Kernel } from "../kernel/kernel.ts";
import { REQ_QUIET } from "./bio.ts";
import { blkMqFreeRequest, rqQueue } from "./blk_mq_request.ts";
import type { Gendisk } from "./genhd.ts";
import { hctxLiveTags } from "./hctx.ts";
import { RQ } from "./request_record.ts";
import { blkQueueExit, type RequestQueue } from "./request_queue.ts";
import { rqEndIoFn } from "./_rq_end_io.ts";
import { getU64 } from "./_u64.ts";

// The core's END_FAULT_* codes (asm/blk_mq_end.ts).
const END_FAULT_BIO_ADVANCE = -2;
const END_FAULT_BIO_ENDIO = -3;
const END_FAULT_BIO_SEGMENTS = -4;
const END_FAULT_PART_COMPLETION = -5;
const END_FAULT_PART_DONE = -6;
const END_FAULT_BYTES_LEFT = -7;
const END_FAULT_NO_HCTX = -8;
const END_FAULT_TAG_NOT_ALLOCATED = -9;

/** Mirrors `blk_rq_bytes()`: `__data_len`. */
export function blkRqBytes(k: Kernel, rq: number): number {
  return k.dv.getUint32(rq + RQ.DATA_LEN, true);
}

function checkError(op: string, error: number): void {
  if ((error | 0) !== error) throw new RangeError(`${op}: error must be an int32, got ${error}`);
}

/**
 * The printk of `blk_update_request()`: an error on a request with bios is
 * logged with where its unfinished part starts, unless REQ_QUIET.
 */
export function blkUpdateRequestLog(k: Kernel, rq: number, error: number, disk: Gendisk | null): void {
  const dv = k.dv;
  if (error === 0 || dv.getUint32(rq + RQ.BIO, true) === 0 || (dv.getUint32(rq + RQ.CMD_FLAGS, true) & REQ_QUIET) !== 0) return;
  const sector = getU64(dv, rq + RQ.SECTOR);
  k.log.printk("err", `blk_update_request: I/O error, dev ${disk?.diskName ?? "?"}, sector ${sector}`);
}

/**
 * Raises what the TypeScript path raised where the core's end of a request
 * stopped with the END_FAULT_* code `rc`: a BUG of the step that refused
 * (a freed bio, a freed part0 record, bytes left by `blk_mq_end_request()`),
 * or the RangeError of a request whose ctx maps to no hctx or whose tag is
 * not allocated (a double free).
 */
export function blkEndFault(k: Kernel, rq: number, rc: number): never {
  switch (rc) {
    case END_FAULT_BIO_ADVANCE:
      return k.log.bug("block/bio.c:bio_advance", "bio_advance: freed bio");
    case END_FAULT_BIO_ENDIO:
      return k.log.bug("block/bio.c:bio_endio", "bio_endio: freed bio or BUG_ON(atomic_read(&bio->__bi_remaining) <= 0)");
    case END_FAULT_BIO_SEGMENTS:
      return k.log.bug("block/bio.c:bio_segments", "bio_segments: freed bio");
    case END_FAULT_PART_COMPLETION:
    case END_FAULT_PART_DONE: {
      const fn = rc === END_FAULT_PART_DONE ? "blk_account_io_done" : "blk_account_io_completion";
      return k.log.bug(`block/blk-core.c:${fn}`, `${fn}: part stats ${rqQueue(k, rq).q.part0Addr} refused`);
    }
    case END_FAULT_BYTES_LEFT:
      return k.log.bug("block/blk-mq.c:blk_mq_end_request", `request ${rq}: bytes remain after blk_update_request`);
    case END_FAULT_NO_HCTX: {
      const cpu = k.dv.getInt32(rq + RQ.MQ_CTX, true);
      throw new RangeError(`blk_mq_map_queue: queue ${rqQueue(k, rq).q.id} has no hctx for cpu ${cpu}`);
    }
    case END_FAULT_TAG_NOT_ALLOCATED:
      throw new RangeError(`putTag: tag ${k.dv.getInt32(rq + RQ.TAG, true)} is not allocated`);
    default:
      return k.log.bug("block/blk-mq.c:blk_mq_end_request", `request ${rq}: the core returned ${rc}`);
  }
}

/**
 * Mirrors `blk_update_request()` (block/blk-core.c, v4.4): completes
 * `nrBytes` of `rq`. A request without bios has nothing to do. Otherwise
 * `rq->errors` is reset, an error is logged (unless REQ_QUIET), the disk
 * counts the sectors (`blk_account_io_completion()`), and the bios are
 * walked from `rq->bio`: each is advanced by what of `nrBytes` falls in it
 * and taken off the request (and ended) when that was all of it. When bios
 * remain, `__data_len` shrinks, `__sector` moves on and `nr_phys_segments`
 * is counted again. The core's `blk_update_request()` does all but the log.
 *
 * @returns true when bytes remain (the request is not finished), false when done
 * @throws {RangeError} for an `error` that is not an int32 or `nrBytes` that is not a u32
 * @throws {KernelBug} for a freed bio or part0 record
 */
export function blkUpdateRequest(k: Kernel, rq: number, error: number, nrBytes: number): boolean {
  checkError("blk_update_request", error);
  if (nrBytes >>> 0 !== nrBytes) throw new RangeError(`blk_update_request: nr_bytes must be a u32, got ${nrBytes}`);
  if (k.dv.getUint32(rq + RQ.BIO, true) === 0) return false;
  blkUpdateRequestLog(k, rq, error, rqQueue(k, rq).disk);
  const rc = k.core.blk_update_request(rq, error, nrBytes);
  if (rc < 0) blkEndFault(k, rq, rc);
  return rc === 1;
}

/**
 * Mirrors `__blk_mq_end_request()` (block/blk-mq.c, v4.4), for a request
 * whose bytes are all done: `blk_account_io_done()` (not for a request
 * inside a flush sequence), then `rq->end_io(rq, error)` when the request
 * has one (it then owns the request), else the request is freed
 * ({@link blkMqFreeRequest}). No bidi (`next_rq`). One core call.
 *
 * @throws {KernelBug} for a freed part0 record
 */
export function __blkMqEndRequest(k: Kernel, rq: number, error: number): void {
  checkError("__blk_mq_end_request", error);
  rqQueue(k, rq);
  const rc = k.core.__blk_mq_end_request(rq, error, k.clock.jiffies(), k.clock.tickNs, k.sched.cpus.current);
  if (rc < 0) blkEndFault(k, rq, rc);
}

/** The queue of id `qid` a core function named for a request it holds. */
function heldQueue(k: Kernel, qid: number): RequestQueue {
  const e = k.block.queueById[qid];
  if (e === undefined) k.log.bug("block/blk-mq.c:blk_mq_rq_queue", `queue ${qid} of a request is not live`);
  return e.q;
}

/**
 * `rq->end_io(rq, error)` for the core (host_rq_end_io): the function of
 * end_io id `id` (ts/block/_rq_end_io.ts); an unknown id frees the request,
 * as `__blk_mq_end_request()` does for a request without one.
 */
export function rqEndIoHost(k: Kernel, rq: number, id: number, error: number): void {
  const fn = rqEndIoFn(id);
  if (fn !== null) fn(k, rq, error);
  else blkMqFreeRequest(rqQueue(k, rq).q, rq);
}

/**
 * The tag put of `__blk_mq_free_request()` for the core
 * (host_blk_mq_put_tag): `tag` back to the map of hctx `hctxNum` of queue
 * `qid` from the ctx of `cpu` (its hint), with the tag map's checks (a
 * double put is a RangeError), a KASAN report when that map was freed, and
 * the waiters it frees a tag for woken.
 */
export function blkMqPutTagHost(k: Kernel, qid: number, hctxNum: number, cpu: number, tag: number): void {
  const tags = hctxLiveTags(heldQueue(k, qid).queueHwCtx[hctxNum], "blk_mq_put_tag");
  if (tags !== null) tags.putTag(cpu, tag);
}

/**
 * The wake-ups of a tag put the core made (host_blk_mq_tag_wake): the
 * waiters of the wait queues in `mask` of hctx `hctxNum`'s map handed to
 * the scheduler, as {@link BlkMqTags.putTag} hands them.
 */
export function blkMqTagWakeHost(k: Kernel, qid: number, hctxNum: number, mask: number): void {
  const m = heldQueue(k, qid).queueHwCtx[hctxNum].tags;
  if (m === null || m.freed) k.log.bug("block/blk-mq-tag.c:blk_mq_put_tag", `hctx ${hctxNum} of queue ${qid} woke waiters of no live map`);
  m.tags.deliverWake(mask);
}

/** `blk_queue_exit()` for the core (host_blk_queue_exit): the request's queue reference dropped. */
export function blkQueueExitHost(k: Kernel, qid: number): void {
  blkQueueExit(heldQueue(k, qid));
}
