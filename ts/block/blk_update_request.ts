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
 * @module
 */

import type { Kernel } from "../kernel/kernel.ts";
import { bioAdvance, bioEndio, bioNext, bioSegments, bioSetField, bioSize, REQ_FLUSH_SEQ, REQ_IO_STAT, REQ_QUIET, REQ_WRITE } from "./bio.ts";
import { blkMqFreeRequest, rqQueue } from "./blk_mq_request.ts";
import type { Gendisk } from "./genhd.ts";
import { blkAccountIoCompletion, blkAccountIoDone as partAccountIoDone } from "./part_stat.ts";
import { RQ } from "./request_record.ts";
import { rqEndIoFn } from "./_rq_end_io.ts";
import { getU64, setU64 } from "./_u64.ts";

function view(k: Kernel): DataView {
  return k.dv;
}

/** Mirrors `blk_do_io_stat()`: the request has a disk and REQ_IO_STAT (every port request is REQ_TYPE_FS). */
function blkDoIoStat(disk: Gendisk | null, flags: number): disk is Gendisk {
  return disk !== null && (flags & REQ_IO_STAT) !== 0;
}

/** Mirrors `blk_rq_bytes()`: `__data_len`. */
export function blkRqBytes(k: Kernel, rq: number): number {
  return view(k).getUint32(rq + RQ.DATA_LEN, true);
}

/**
 * Mirrors `req_bio_endio()` (block/blk-core.c, v4.4): the error recorded on
 * the bio, the bio advanced by `nbytes`, and ended once nothing is left —
 * unless the request is part of a flush sequence.
 */
function reqBioEndio(k: Kernel, flags: number, bio: number, nbytes: number, error: number): void {
  if (error !== 0) bioSetField(k, bio, "bi_error", error);
  if (nbytes > 0) bioAdvance(k, bio, nbytes);
  if (bioSize(k, bio) === 0 && (flags & REQ_FLUSH_SEQ) === 0) {
    bioSetField(k, bio, "bi_next", 0);
    bioEndio(k, bio);
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
 * is counted again.
 *
 * @returns true when bytes remain (the request is not finished), false when done
 */
export function blkUpdateRequest(k: Kernel, rq: number, error: number, nrBytes: number): boolean {
  let dv = view(k);
  if (dv.getUint32(rq + RQ.BIO, true) === 0) return false;
  dv.setInt32(rq + RQ.ERRORS, 0, true);
  const flags = dv.getUint32(rq + RQ.CMD_FLAGS, true);
  const { disk } = rqQueue(k, rq);
  if (error !== 0 && (flags & REQ_QUIET) === 0) {
    const sector = getU64(dv, rq + RQ.SECTOR);
    k.log.printk("err", `blk_update_request: I/O error, dev ${disk?.diskName ?? "?"}, sector ${sector}`);
  }
  if (blkDoIoStat(disk, flags)) blkAccountIoCompletion(k, disk.part0, flags & REQ_WRITE, nrBytes);
  let total = 0;
  for (;;) {
    const bio = view(k).getUint32(rq + RQ.BIO, true);
    if (bio === 0) break;
    const size = bioSize(k, bio);
    const bioBytes = Math.min(size, nrBytes);
    if (bioBytes === size) view(k).setUint32(rq + RQ.BIO, bioNext(k, bio), true);
    reqBioEndio(k, flags, bio, bioBytes, error);
    total += bioBytes;
    nrBytes -= bioBytes;
    if (nrBytes === 0) break;
  }
  dv = view(k);
  let bio = dv.getUint32(rq + RQ.BIO, true);
  if (bio === 0) {
    // Completely done: a stacking driver reads the remaining bytes as 0.
    dv.setUint32(rq + RQ.DATA_LEN, 0, true);
    return false;
  }
  dv.setUint32(rq + RQ.DATA_LEN, dv.getUint32(rq + RQ.DATA_LEN, true) - total, true);
  setU64(dv, rq + RQ.SECTOR, getU64(dv, rq + RQ.SECTOR) + (total >>> 9));
  // blk_recalc_rq_segments(): what is left of each bio.
  let segs = 0;
  for (; bio !== 0; bio = bioNext(k, bio)) segs += bioSegments(k, bio);
  view(k).setUint16(rq + RQ.NR_PHYS_SEGMENTS, segs, true);
  return true;
}

/**
 * Mirrors `blk_account_io_done()` (block/blk-core.c, v4.4): the disk counts
 * one finished I/O, its ticks and one fewer in flight (asm/genhd.ts) — not
 * for a request still inside a flush sequence (it is counted when the
 * sequence ends).
 */
function blkAccountIoDone(k: Kernel, disk: Gendisk | null, rq: number): void {
  const dv = view(k);
  const flags = dv.getUint32(rq + RQ.CMD_FLAGS, true);
  if (!blkDoIoStat(disk, flags) || (flags & REQ_FLUSH_SEQ) !== 0) return;
  const rw = flags & REQ_WRITE;
  const start = dv.getFloat64(rq + RQ.START_TIME, true);
  partAccountIoDone(k, disk.part0, rw, Math.floor(start / k.clock.tickNs));
}

/**
 * Mirrors `__blk_mq_end_request()` (block/blk-mq.c, v4.4), for a request
 * whose bytes are all done: `blk_account_io_done()`, then `rq->end_io(rq,
 * error)` when the request has one (it then owns the request), else the
 * request is freed ({@link blkMqFreeRequest}). No bidi (`next_rq`).
 */
export function __blkMqEndRequest(k: Kernel, rq: number, error: number): void {
  const { q, disk } = rqQueue(k, rq);
  blkAccountIoDone(k, disk, rq);
  const endIo = rqEndIoFn(view(k).getUint32(rq + RQ.END_IO, true));
  if (endIo !== null) endIo(k, rq, error);
  else blkMqFreeRequest(q, rq);
}
