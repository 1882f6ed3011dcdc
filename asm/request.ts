// SPDX-License-Identifier: GPL-2.0-only
// The request record and the request flags: the port's `struct request`
// (include/linux/blkdev.h, v4.4), the REQ_* bits of `bi_rw` and
// `rq->cmd_flags` (enum rq_flag_bits, include/linux/blk_types.h, v4.4) and
// the REQ_ATOM_* bits of `rq->atomic_flags` (block/blk.h), shared by the
// request path's modules (asm/blk_mq_map.ts, asm/blk_mq_dispatch.ts,
// asm/blk_mq_end.ts). ts/block/request_record.ts has the same layout for
// TypeScript (its RQ offsets); a test checks the two agree.

import { NULL_LIMIT } from "./kasan";

/**
 * The port's `struct request` (v4.4), 128 bytes before the driver payload,
 * little-endian, pointers 32-bit. `q` is the queue's id, `queue` its
 * record's address; `mq_ctx` the ctx's CPU and `hctx` the hctx's queue_num.
 * The first 96 bytes are what blk_mq_rq_ctx_init() resets.
 *
 *    0          8    12       16         20            24    28    32         40           44
 *    +----------+----+--------+----------+-------------+-----+-----+----------+------------+
 *    |queuelist | q  | mq_ctx | cmd_flags| atomic_flags| tag | cpu | __sector | __data_len |
 *    +----------+----+--------+----------+-------------+-----+-----+----------+------------+
 *    44       48           56         64        68    72        76                78
 *    +--------+------------+----------+---------+-----+---------+-----------------+--------+
 *    | errors | start_time | deadline | timeout | bio | biotail | nr_phys_segments| ioprio |
 *    +--------+------------+----------+---------+-----+---------+-----------------+--------+
 *    80       84            88        92     96         100                 104     108   128
 *    +--------+-------------+---------+------+----------+-------------------+-------+-----+
 *    | end_io | end_io_data | next_rq | hctx | flush.seq| flush.saved_end_io| queue | ... |
 *    +--------+-------------+---------+------+----------+-------------------+-------+-----+
 */
@unmanaged
export class Request {
  queuelist_next: u32;
  queuelist_prev: u32;
  q: u32;
  mq_ctx: i32;
  cmd_flags: u32;
  atomic_flags: u32;
  tag: i32;
  cpu: i32;
  __sector: u64;
  __data_len: u32;
  errors: i32;
  start_time: f64;
  deadline: f64;
  timeout: u32;
  bio: u32;
  biotail: u32;
  nr_phys_segments: u16;
  ioprio: u16;
  end_io: u32;
  end_io_data: u32;
  next_rq: u32;
  hctx: i32;
  flush_seq: u32;
  flush_saved_end_io: u32;
  queue: u32;
}

/** `sizeof(struct request)` in the port, before the driver payload. */
export const REQUEST_SIZE: usize = 128;

// REQ_* bits of bi_rw and rq->cmd_flags (enum rq_flag_bits, v4.4).
export const REQ_WRITE: u32 = 1 << 0;
export const REQ_SYNC: u32 = 1 << 4;
export const REQ_DISCARD: u32 = 1 << 7;
export const REQ_WRITE_SAME: u32 = 1 << 9;
export const REQ_FUA: u32 = 1 << 12;
export const REQ_FLUSH: u32 = 1 << 13;
export const REQ_SOFTBARRIER: u32 = 1 << 17;
export const REQ_NOMERGE: u32 = 1 << 18;
export const REQ_STARTED: u32 = 1 << 19;
export const REQ_FLUSH_SEQ: u32 = 1 << 28;
export const REQ_IO_STAT: u32 = 1 << 29;
/** `REQ_NO_TIMEOUT` (bit 31 of the low word). */
export const REQ_NO_TIMEOUT: u32 = 1 << 31;
/** Mirrors `REQ_NOMERGE_FLAGS` (include/linux/blk_types.h, v4.4). */
export const REQ_NOMERGE_FLAGS: u32 = REQ_NOMERGE | REQ_STARTED | REQ_SOFTBARRIER | REQ_FLUSH | REQ_FUA | REQ_FLUSH_SEQ;
/**
 * Mirrors `REQ_COMMON_MASK` (v4.4): the bio flags a request takes. WRITE,
 * FAILFAST_DEV/TRANSPORT/DRIVER, SYNC, META, PRIO, DISCARD, SECURE,
 * WRITE_SAME, NOIDLE, FUA, FLUSH.
 */
export const REQ_COMMON_MASK: u32 = 0x1 | 0x2 | 0x4 | 0x8 | 0x10 | 0x20 | 0x40 | 0x80 | 0x100 | 0x200 | 0x400 | 0x1000 | 0x2000;

/** `REQ_ATOM_COMPLETE`, `REQ_ATOM_STARTED`: bit numbers of `rq->atomic_flags`. */
export const REQ_ATOM_COMPLETE: u32 = 0;
export const REQ_ATOM_STARTED: u32 = 1;

/** Mirrors `rw_is_sync()`: reads, and writes with REQ_SYNC. */
@inline
export function rw_is_sync(rw: u32): bool {
  return (rw & REQ_WRITE) == 0 || (rw & REQ_SYNC) != 0;
}

/** Whether the record [p, p + n) lies in linear memory above the NULL page. */
@inline
export function in_memory(p: usize, n: usize): bool {
  return p >= NULL_LIMIT && <u64>p + <u64>n <= (<u64>memory.size() << 16);
}

/** The offset of each request field, in the order of ts/block/request_record.ts's RQ, for its layout test. */
export function request_field_offset(i: i32): i32 {
  switch (i) {
    case 0: return <i32>offsetof<Request>("queuelist_next");
    case 1: return <i32>offsetof<Request>("queuelist_prev");
    case 2: return <i32>offsetof<Request>("q");
    case 3: return <i32>offsetof<Request>("mq_ctx");
    case 4: return <i32>offsetof<Request>("cmd_flags");
    case 5: return <i32>offsetof<Request>("atomic_flags");
    case 6: return <i32>offsetof<Request>("tag");
    case 7: return <i32>offsetof<Request>("cpu");
    case 8: return <i32>offsetof<Request>("__sector");
    case 9: return <i32>offsetof<Request>("__data_len");
    case 10: return <i32>offsetof<Request>("errors");
    case 11: return <i32>offsetof<Request>("start_time");
    case 12: return <i32>offsetof<Request>("deadline");
    case 13: return <i32>offsetof<Request>("timeout");
    case 14: return <i32>offsetof<Request>("bio");
    case 15: return <i32>offsetof<Request>("biotail");
    case 16: return <i32>offsetof<Request>("nr_phys_segments");
    case 17: return <i32>offsetof<Request>("ioprio");
    case 18: return <i32>offsetof<Request>("end_io");
    case 19: return <i32>offsetof<Request>("end_io_data");
    case 20: return <i32>offsetof<Request>("next_rq");
    case 21: return <i32>offsetof<Request>("hctx");
    case 22: return <i32>offsetof<Request>("flush_seq");
    case 23: return <i32>offsetof<Request>("flush_saved_end_io");
    case 24: return <i32>offsetof<Request>("queue");
    default: return -22;
  }
}
