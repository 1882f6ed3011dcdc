// SPDX-License-Identifier: GPL-2.0-only
/**
 * part0's I/O statistics (`struct hd_struct`'s `stamp`, `in_flight[2]` and
 * `struct disk_stats`, include/linux/genhd.h, v4.4) as a 96-byte record in
 * WASM linear memory (asm/genhd.ts), kept by the core's accounting
 * functions, and {@link PartStatsView}, the TypeScript face of the record
 * that `Gendisk.part0` is.
 *
 * The record is allocated with the disk (`alloc_disk_node()`) and freed
 * with it (`disk_release()`). The I/O path calls the core's
 * `blk_account_io_*()` through the functions here (one implementation: the
 * one in asm/genhd.ts); sysfs, fio and the tests read it through the view.
 * All fields are little-endian; the [2] arrays are [0] READ, [1] WRITE;
 * stamp and ticks are jiffies; the 64-bit words are signed.
 *
 * ```text
 *  off size field              kernel field (struct hd_struct, v4.4)
 *    0   8  stamp              stamp
 *    8   4  in_flight[0]       in_flight[0] (atomic_t)
 *   12   4  in_flight[1]       in_flight[1]
 *   16  16  sectors[2]         dkstats.sectors[2]
 *   32  16  ios[2]             dkstats.ios[2]
 *   48  16  merges[2]          dkstats.merges[2]
 *   64  16  ticks[2]           dkstats.ticks[2]
 *   80   8  io_ticks           dkstats.io_ticks
 *   88   8  time_in_queue      dkstats.time_in_queue
 *   96      (end)
 * ```
 *
 * @module
 */

import type { Kernel } from "../kernel/kernel.ts";
import { getI64 } from "./_u64.ts";

/** Bytes of the statistics record (`part_stats_struct_size()`). */
export const PART_STATS_SIZE = 96;

/** Field offsets in the statistics record (see the module doc). */
export const PART = {
  STAMP: 0,
  IN_FLIGHT: 8,
  SECTORS: 16,
  IOS: 32,
  MERGES: 48,
  TICKS: 64,
  IO_TICKS: 80,
  TIME_IN_QUEUE: 88,
} as const;

/** The kmemleak site of the record, as the gendisk's own. */
const SITE = "alloc_disk_node";

/**
 * What part0's statistics read as: the counters of `struct disk_stats`,
 * `in_flight` and `stamp`. Arrays are [READ, WRITE]; ticks are jiffies.
 * Read-only: the block layer's accounting functions are the only writers.
 */
export interface PartStats {
  readonly ios: readonly [number, number];
  readonly merges: readonly [number, number];
  readonly sectors: readonly [number, number];
  readonly ticks: readonly [number, number];
  readonly ioTicks: number;
  readonly timeInQueue: number;
  readonly inFlight: readonly [number, number];
  /** `part->stamp`: the jiffy of the last `part_round_stats()`. */
  readonly stamp: number;
}

/**
 * A view of one statistics record: each getter reads the record now
 * (through `Kernel.dv`), the pairs as fresh arrays. Once the disk is
 * released the record is gone and reading throws.
 */
export class PartStatsView implements PartStats {
  readonly #k: Kernel;
  #ptr: number;

  /** @internal use {@link partStatsAlloc} */
  constructor(k: Kernel, ptr: number) {
    this.#k = k;
    this.#ptr = ptr;
  }

  /** The record's address; 0 once freed. */
  get ptr(): number {
    return this.#ptr;
  }

  get ios(): readonly [number, number] {
    return this.#pair(PART.IOS);
  }
  get merges(): readonly [number, number] {
    return this.#pair(PART.MERGES);
  }
  get sectors(): readonly [number, number] {
    return this.#pair(PART.SECTORS);
  }
  get ticks(): readonly [number, number] {
    return this.#pair(PART.TICKS);
  }
  get ioTicks(): number {
    return getI64(this.#k.dv, this.#at(PART.IO_TICKS));
  }
  get timeInQueue(): number {
    return getI64(this.#k.dv, this.#at(PART.TIME_IN_QUEUE));
  }
  get inFlight(): readonly [number, number] {
    const at = this.#at(PART.IN_FLIGHT);
    const dv = this.#k.dv;
    return [dv.getInt32(at, true), dv.getInt32(at + 4, true)];
  }
  get stamp(): number {
    return getI64(this.#k.dv, this.#at(PART.STAMP));
  }

  #at(off: number): number {
    if (this.#ptr === 0) throw new TypeError("part0: the disk's statistics were freed with the disk");
    return this.#ptr + off;
  }

  #pair(off: number): [number, number] {
    const at = this.#at(off);
    const dv = this.#k.dv;
    return [getI64(dv, at), getI64(dv, at + 8)];
  }

  /** @internal {@link partStatsFree}'s mark. */
  detach(): void {
    this.#ptr = 0;
  }
}

/**
 * Mirrors `init_part_stats()` (include/linux/genhd.h, v4.4) for the disk
 * `alloc_disk_node()` makes: a zeroed record (kmemleak site
 * "alloc_disk_node").
 *
 * @throws {KernelError} ENOMEM when memory (or an injected fault) says no
 */
export function partStatsAlloc(k: Kernel): PartStatsView {
  return new PartStatsView(k, k.slab.kzalloc(PART_STATS_SIZE, SITE));
}

/** Mirrors `free_part_stats()` (include/linux/genhd.h): frees the record; the view reads no more. */
export function partStatsFree(k: Kernel, p: PartStatsView): void {
  const ptr = p.ptr;
  p.detach();
  k.slab.kfree(ptr);
}

/**
 * Mirrors `part_stat_set_all(part, 0)` and `part->stamp = 0` of
 * `del_gendisk()` (block/genhd.c, v4.4), and clears `in_flight` too, as the
 * port always has (v4.4 leaves it).
 */
export function partStatSetAll(k: Kernel, p: PartStatsView): void {
  const at = p.ptr;
  if (at === 0) throw new TypeError("part_stat_set_all: the disk's statistics were freed");
  k.u8.fill(0, at, at + PART_STATS_SIZE);
}

/** A BUG for an accounting call the core refused (a freed record, a bad direction or time). */
function partBug(k: Kernel, fn: string, p: PartStatsView): never {
  return k.log.bug(`block/blk-core.c:${fn}`, `${fn}: part stats ${p.ptr} refused`);
}

/**
 * Mirrors `part_round_stats()` (block/blk-core.c, v4.4) on part0 at the
 * current jiffy: io_ticks and time_in_queue accrue up to now.
 *
 * @throws {KernelBug} when the record was freed
 */
export function partRoundStatsNow(k: Kernel, p: PartStatsView): void {
  if (k.core.part_round_stats(p.ptr, k.clock.jiffies()) !== 0) partBug(k, "part_round_stats", p);
}

/**
 * Mirrors `blk_account_io_start()` (block/blk-core.c, v4.4) after
 * `blk_do_io_stat()`: a new I/O (stats rounded, one more in flight) or a
 * bio merged into a request (one more merge).
 *
 * @param rw 0 READ, 1 WRITE (`rq_data_dir()`)
 * @throws {KernelBug} when the record was freed
 */
export function blkAccountIoStart(k: Kernel, p: PartStatsView, rw: number, newIo: boolean): void {
  if (k.core.blk_account_io_start(p.ptr, rw, newIo ? 1 : 0, k.clock.jiffies()) !== 0) partBug(k, "blk_account_io_start", p);
}

/**
 * Mirrors `blk_account_io_completion()` (block/blk-core.c, v4.4) after
 * `blk_do_io_stat()`: `bytes >> 9` more sectors (bytes taken as u32).
 *
 * @throws {KernelBug} when the record was freed
 */
export function blkAccountIoCompletion(k: Kernel, p: PartStatsView, rw: number, bytes: number): void {
  if (k.core.blk_account_io_completion(p.ptr, rw, bytes) !== 0) partBug(k, "blk_account_io_completion", p);
}

/**
 * Mirrors `blk_account_io_done()` (block/blk-core.c, v4.4) after the
 * `blk_do_io_stat()` and REQ_FLUSH_SEQ checks: one more I/O, `now - start`
 * more ticks, stats rounded, one fewer in flight.
 *
 * @param startJiffies the request's start time in jiffies
 * @throws {KernelBug} when the record was freed
 */
export function blkAccountIoDone(k: Kernel, p: PartStatsView, rw: number, startJiffies: number): void {
  if (k.core.blk_account_io_done(p.ptr, rw, startJiffies, k.clock.jiffies()) !== 0) partBug(k, "blk_account_io_done", p);
}
