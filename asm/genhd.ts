// SPDX-License-Identifier: GPL-2.0-only
// A disk's I/O statistics: the accounting half of `struct hd_struct`
// (include/linux/genhd.h, v4.4) for part0 in linear memory, and the
// functions of block/blk-core.c that keep it: part_round_stats(),
// blk_account_io_start(), blk_account_io_completion() and
// blk_account_io_done().
//
// The record is allocated by the TypeScript side with the disk
// (alloc_disk_node(), ts/block/genhd.ts) and freed by disk_release(); the
// caller decides blk_do_io_stat() and passes the request's data direction,
// size and times. Time is in jiffies of the machine's clock, passed as f64
// (whole numbers below 2^53, the clock's range: a JS number crosses the
// boundary without a BigInt) and kept as i64.
//
// The counters are 64-bit signed words where v4.4 has unsigned long: they
// hold every integer the port's JavaScript counters held exactly, and a
// negative in_flight (an accounting bug the fuzzer looks for) lowers
// time_in_queue instead of wrapping it, as those counters did.

import { EINVAL } from "./page_alloc";
import { in_memory } from "./request";
import { atomic_add_return, atomic_read } from "./sbitmap";

/** The largest jiffies value a time argument may hold (2^53, the clock's limit). */
const MAX_JIFFIES: f64 = 9007199254740992;
/** `READ`, `WRITE`: the data directions that index the [2] arrays. */
const WRITE: i32 = 1;

// ---------------------------------------------------------------------------
// Layout
// ---------------------------------------------------------------------------

/**
 * Mirrors the statistics of `struct hd_struct` (include/linux/genhd.h,
 * v4.4): `stamp`, `in_flight[2]` and `struct disk_stats` (the non-SMP
 * `dkstats`: one copy, not per CPU), 96 bytes, little-endian. Arrays are
 * indexed by data direction, [0] READ and [1] WRITE; stamp and the ticks
 * are jiffies.
 *
 *    0        8               12              16
 *    +--------+---------------+---------------+
 *    | stamp  | in_flight[0]  | in_flight[1]  |
 *    +--------+---------------+---------------+
 *    16            32        48           64          80         88              96
 *    +-------------+---------+------------+-----------+----------+---------------+
 *    | sectors[2]  | ios[2]  | merges[2]  | ticks[2]  | io_ticks | time_in_queue |   struct disk_stats
 *    +-------------+---------+------------+-----------+----------+---------------+
 *
 * in_flight changes atomically (atomic_t in v4.4); the rest is written by
 * the accounting functions only.
 */
@unmanaged
class PartStats {
  stamp: i64;
  in_flight_read: i32;
  in_flight_write: i32;
  sectors_read: i64;
  sectors_write: i64;
  ios_read: i64;
  ios_write: i64;
  merges_read: i64;
  merges_write: i64;
  ticks_read: i64;
  ticks_write: i64;
  io_ticks: i64;
  time_in_queue: i64;
}

/** `sizeof` the record. */
const PART_STATS_SIZE: usize = offsetof<PartStats>();
const OFF_IN_FLIGHT: usize = offsetof<PartStats>("in_flight_read");
const OFF_SECTORS: usize = offsetof<PartStats>("sectors_read");
const OFF_IOS: usize = offsetof<PartStats>("ios_read");
const OFF_MERGES: usize = offsetof<PartStats>("merges_read");
const OFF_TICKS: usize = offsetof<PartStats>("ticks_read");

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/** The record at `p` when it lies in linear memory above the NULL page, else null. */
@inline
function part_at(p: usize): PartStats | null {
  if (!in_memory(p, PART_STATS_SIZE)) return null;
  return changetype<PartStats>(p);
}

/** Whether `rw` is READ or WRITE. */
@inline
function rw_ok(rw: i32): bool {
  return <u32>rw <= <u32>WRITE;
}

/** Whether `t` is a jiffies value: a whole number in [0, 2^53]. */
@inline
function jiffies_ok(t: f64): bool {
  return t >= 0 && t <= MAX_JIFFIES && t == Math.floor(t);
}

/** `part_stat_add(cpu, part, field[rw], v)` on the one copy: the i64 of the [2] array at `off`. */
@inline
function stat_add(p: usize, off: usize, rw: i32, v: i64): void {
  const at = p + off + (<usize>rw << 3);
  store<i64>(at, load<i64>(at) + v);
}

/** Mirrors `part_in_flight()` (include/linux/genhd.h, v4.4): reads plus writes. */
@inline
function part_in_flight(p: PartStats): i32 {
  const at = changetype<usize>(p) + OFF_IN_FLIGHT;
  return <i32>atomic_read(at) + <i32>atomic_read(at + 4);
}

/** Mirrors `part_inc_in_flight()` / `part_dec_in_flight()` (include/linux/genhd.h): atomic ±1. */
@inline
function part_add_in_flight(p: PartStats, rw: i32, v: i32): void {
  atomic_add_return(changetype<usize>(p) + OFF_IN_FLIGHT + (<usize>rw << 2), <u32>v);
}

/**
 * Mirrors `part_round_stats_single()` (block/blk-core.c, v4.4): unless the
 * stamp is `now` already, time_in_queue grows by in_flight × the jiffies
 * since the stamp and io_ticks by those jiffies (both only while something
 * is in flight), and the stamp moves to `now`.
 */
@inline
function round_stats(p: PartStats, now: i64): void {
  if (now == p.stamp) return;
  const inflight = part_in_flight(p);
  if (inflight != 0) {
    p.time_in_queue += <i64>inflight * (now - p.stamp);
    p.io_ticks += now - p.stamp;
  }
  p.stamp = now;
}

// ---------------------------------------------------------------------------
// Exports
// ---------------------------------------------------------------------------

/** The record's size (96), for the TS side's layout check. */
export function part_stats_struct_size(): i32 {
  return <i32>PART_STATS_SIZE;
}

/**
 * Mirrors `part_round_stats()` (block/blk-core.c, v4.4) on part0 (no
 * partitions, so no second round for a partition's disk).
 *
 * @param now jiffies
 * @returns 0, or -22 for an address outside memory or a bad time
 */
export function part_round_stats(p: usize, now: f64): i32 {
  const s = part_at(p);
  if (s === null || !jiffies_ok(now)) return -EINVAL;
  round_stats(s, <i64>now);
  return 0;
}

/**
 * Mirrors `blk_account_io_start()` (block/blk-core.c, v4.4) once
 * `blk_do_io_stat()` said yes: a new I/O rounds the stats and counts one
 * more in flight; a merge into a request counts a merge (and, as in v4.4,
 * does not round).
 *
 * @param rw 0 READ or 1 WRITE (`rq_data_dir()`)
 * @param new_io 1 for a new request, 0 for a bio merged into one
 * @param now jiffies
 * @returns 0, or -22 for an address outside memory, a bad rw or time
 */
export function blk_account_io_start(p: usize, rw: i32, new_io: i32, now: f64): i32 {
  const s = part_at(p);
  if (s === null || !rw_ok(rw) || !jiffies_ok(now)) return -EINVAL;
  if (new_io == 0) {
    stat_add(p, OFF_MERGES, rw, 1);
    return 0;
  }
  round_stats(s, <i64>now);
  part_add_in_flight(s, rw, 1);
  return 0;
}

/**
 * Mirrors `blk_account_io_completion()` (block/blk-core.c, v4.4) once
 * `blk_do_io_stat()` said yes: `bytes >> 9` more sectors.
 *
 * @param rw 0 READ or 1 WRITE
 * @param bytes the bytes completed (`nr_bytes` of blk_update_request())
 * @returns 0, or -22 for an address outside memory or a bad rw
 */
export function blk_account_io_completion(p: usize, rw: i32, bytes: u32): i32 {
  if (part_at(p) === null || !rw_ok(rw)) return -EINVAL;
  stat_add(p, OFF_SECTORS, rw, <i64>(bytes >> 9));
  return 0;
}

/**
 * Mirrors `blk_account_io_done()` (block/blk-core.c, v4.4) once the caller
 * checked `blk_do_io_stat()` and REQ_FLUSH_SEQ: one more I/O, its duration
 * (`now - start`) added to the ticks, the stats rounded, one fewer in flight.
 *
 * @param rw 0 READ or 1 WRITE
 * @param start the request's `start_time` in jiffies
 * @param now jiffies
 * @returns 0, or -22 for an address outside memory, a bad rw or time
 */
export function blk_account_io_done(p: usize, rw: i32, start: f64, now: f64): i32 {
  const s = part_at(p);
  if (s === null || !rw_ok(rw) || !jiffies_ok(start) || !jiffies_ok(now)) return -EINVAL;
  stat_add(p, OFF_IOS, rw, 1);
  stat_add(p, OFF_TICKS, rw, <i64>now - <i64>start);
  round_stats(s, <i64>now);
  part_add_in_flight(s, rw, -1);
  return 0;
}
