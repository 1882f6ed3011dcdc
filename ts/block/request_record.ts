// SPDX-License-Identifier: GPL-2.0-only
/**
 * The request record: the port's `struct request` (include/linux/blkdev.h,
 * v4.4) as a fixed 128-byte record in WASM linear memory, followed by the
 * driver payload of `cmd_size` bytes (`blk_mq_rq_to_pdu()`).
 *
 * Records are carved by `blk_mq_init_rq_map()` (ts/block/tag_set.ts) from
 * zeroed page blocks, `rq_size = round_up(REQUEST_SIZE + cmd_size, 64)`
 * apart, one per tag of a hardware queue index; each hctx's flush request is
 * one more record of the same size. This issue only allocates them (and
 * hands them to the driver's `init_request` / `exit_request`); the I/O path
 * fills the fields. All fields are little-endian; pointers are 32-bit
 * linear-memory addresses; "none" is 0 for pointers, -1 for numbers.
 *
 * ```text
 *  off size field              kernel field (struct request, v4.4)
 *    0   4  queuelist.next     queuelist: ctx->rq_list / hctx->dispatch link
 *    4   4  queuelist.prev
 *    8   4  q                  q: the queue's id (q->id)
 *   12   4  mq_ctx             mq_ctx: the ctx's CPU, -1 none
 *   16   4  cmd_flags          cmd_flags (REQ_* bits, low word)
 *   20   4  atomic_flags       atomic_flags (REQ_ATOM_COMPLETE 0, REQ_ATOM_STARTED 1)
 *   24   4  tag                tag, -1 none
 *   28   4  cpu                cpu (completion CPU), -1 none
 *   32   8  __sector           __sector
 *   40   4  __data_len         __data_len
 *   44   4  errors             errors
 *   48   8  start_time         start_time (ns here, jiffies in v4.4)
 *   56   8  deadline           deadline (jiffies)
 *   64   4  timeout            timeout (jiffies)
 *   68   4  bio                bio
 *   72   4  biotail            biotail
 *   76   2  nr_phys_segments   nr_phys_segments
 *   78   2  ioprio             ioprio
 *   80   4  end_io             end_io (a callback id, 0 none)
 *   84   4  end_io_data        end_io_data
 *   88   4  next_rq            next_rq (bidi)
 *   92   4  hctx               the hctx's queue_num (the port's; v4.4 maps mq_ctx again)
 *   96   4  flush.seq          flush.seq (REQ_FSEQ_* steps done)
 *  100   4  flush.saved_end_io flush.saved_end_io
 *  104   4  queue              q: the queue record's address (asm/blk_queue.ts)
 *  108  20  (reserved for the I/O path)
 *  128  ..  driver payload     blk_mq_rq_to_pdu(rq)
 * ```
 *
 * @module
 */

import { BIO } from "./bio.ts";
import type { Kernel } from "../kernel/kernel.ts";
import { getU64 } from "./_u64.ts";

/** Bytes of the port's `struct request`, before the driver payload. */
export const REQUEST_SIZE = 128;
/** `cache_line_size()`: records are rounded up to it. */
export const CACHE_LINE_SIZE = 64;

/** Field offsets in the request record (see the module doc). */
export const RQ = {
  QUEUELIST_NEXT: 0,
  QUEUELIST_PREV: 4,
  Q: 8,
  MQ_CTX: 12,
  CMD_FLAGS: 16,
  ATOMIC_FLAGS: 20,
  TAG: 24,
  CPU: 28,
  SECTOR: 32,
  DATA_LEN: 40,
  ERRORS: 44,
  START_TIME: 48,
  DEADLINE: 56,
  TIMEOUT: 64,
  BIO: 68,
  BIOTAIL: 72,
  NR_PHYS_SEGMENTS: 76,
  IOPRIO: 78,
  END_IO: 80,
  END_IO_DATA: 84,
  NEXT_RQ: 88,
  HCTX: 92,
  FLUSH_SEQ: 96,
  FLUSH_SAVED_END_IO: 100,
  /** The queue record's address (`rq->q` as the core follows it; `Q` holds its id). */
  QUEUE: 104,
} as const;

/** Mirrors `round_up(sizeof(struct request) + cmd_size, cache_line_size())`. */
export function requestRecordSize(cmdSize: number): number {
  return Math.ceil((REQUEST_SIZE + cmdSize) / CACHE_LINE_SIZE) * CACHE_LINE_SIZE;
}

/** Mirrors `blk_mq_rq_to_pdu()`: the driver payload of the record at `rq`. */
export function blkMqRqToPdu(rq: number): number {
  return rq + REQUEST_SIZE;
}

/** One data segment of a request: `len` bytes at linear address `addr`, for `sector`. */
export interface Segment {
  addr: number;
  len: number;
  sector: number;
}

/**
 * Mirrors `rq_for_each_segment()`: the segments of every bio of `rq`, from
 * each bio's current iterator (`bi_idx`, `bi_bvec_done`) over `bi_size` bytes.
 */
export function rqSegments(k: Kernel, rq: number): Segment[] {
  const out: Segment[] = [];
  const dv = k.dv;
  let bio = dv.getUint32(rq + RQ.BIO, true);
  while (bio !== 0) {
    let sector = getU64(dv, bio + BIO.bi_sector);
    let left = dv.getUint32(bio + BIO.bi_size, true);
    let idx = dv.getUint32(bio + BIO.bi_idx, true);
    let done = dv.getUint32(bio + BIO.bi_bvec_done, true);
    const vecs = dv.getUint32(bio + BIO.bi_io_vec, true);
    while (left > 0) {
      const at = vecs + 12 * idx;
      const page = dv.getUint32(at, true);
      const bvLen = dv.getUint32(at + 4, true);
      const bvOff = dv.getUint32(at + 8, true);
      const len = Math.min(bvLen - done, left);
      out.push({ addr: page + bvOff + done, len, sector });
      sector += len >>> 9; // SECTOR_SHIFT
      left -= len;
      idx++;
      done = 0;
    }
    bio = dv.getUint32(bio + BIO.bi_next, true);
  }
  return out;
}
