// SPDX-License-Identifier: GPL-2.0-only
/**
 * The text of every blk-mq sysfs attribute, as pure functions of typed
 * inputs, byte for byte as v4.4 prints it: block/blk-mq-sysfs.c (hctx and
 * ctx directories), block/blk-mq-tag.c (`tags`), block/blk-sysfs.c
 * (`queue/`), block/genhd.c and block/partition-generic.c (`inflight`,
 * `stat`). The `pending` / `rq_list` lists need a page and live in
 * _list.ts. Private to ts/sysfs/; sysfs.ts re-exports.
 *
 * printf conversions: `%u` prints its argument modulo 2^32 (a C `unsigned
 * int`), `%lu` / `%llu` as given (numbers up to 2^53, or a bigint modulo
 * 2^64); `%8u` right-aligns in 8 columns and never truncates.
 *
 * @module
 */

import { formatPointer } from "../kernel/klog.ts";

/** A `%lu` / `%llu` argument: a non-negative integer number, or a bigint taken modulo 2^64. */
export type Ulong = number | bigint;

function checkUint(v: unknown, what: string): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
    throw new RangeError(`${what} must be a non-negative safe integer, got ${String(v)}`);
  }
  return v;
}

/** `%u`. */
function u(v: number, what: string): string {
  return String(checkUint(v, what) % 0x1_0000_0000);
}

/** `%lu` / `%llu`. */
function lu(v: Ulong, what: string): string {
  if (typeof v === "bigint") return BigInt.asUintN(64, v).toString();
  return String(checkUint(v, what));
}

/** `%8...`: right-aligned in 8 columns. */
function w8(s: string): string {
  return s.padStart(8, " ");
}

/**
 * Mirrors printk's `%p` in the kernel the port models (64-bit, unhashed as in
 * v4.4): 16 lowercase hex digits, zero-padded, no `0x`. 18 bytes with the
 * `\t` and `\n` of a `pending` line.
 *
 * @throws {RangeError} when p is not a non-negative safe integer
 * @example
 * formatKernelPointer(0x41a00); // "0000000000041a00"
 */
export function formatKernelPointer(p: number): string {
  return formatPointer(checkUint(p, "formatKernelPointer: p"));
}

// ---------------------------------------------------------------------------
// /sys/block/<disk>/mq/<n>/ (block/blk-mq-sysfs.c, default_hw_ctx_attrs)

/** hctx attribute names in `default_hw_ctx_attrs` order (v4.4); all mode 0444. */
export const HCTX_ATTR_NAMES: readonly string[] = [
  "queued",
  "run",
  "dispatched",
  "pending",
  "tags",
  "cpu_list",
  "active",
  "io_poll",
];

/** ctx attribute names in `default_ctx_attrs` order (v4.4); all mode 0444. */
export const CTX_ATTR_NAMES: readonly string[] = ["dispatched", "merged", "completed", "rq_list"];

/** `BLK_MQ_MAX_DISPATCH_ORDER` (include/linux/blk-mq.h, v4.4): buckets of `hctx->dispatched[]`. */
export const BLK_MQ_MAX_DISPATCH_ORDER = 10;

/** The header `sysfs_list_show()` prints for `hctx->dispatch` ("%s:\n" of "HCTX pending"), 14 bytes. */
export const HCTX_PENDING_HEADER = "HCTX pending:\n";

/** The header for `ctx->rq_list` ("CTX pending"), 13 bytes. */
export const CTX_PENDING_HEADER = "CTX pending:\n";

/** Mirrors `queue_var_show()` (block/blk-sysfs.c) and the one-counter shows: `"%lu\n"`. */
export function queueVarShow(v: Ulong): string {
  return `${lu(v, "queue_var_show")}\n`;
}

/** Mirrors `blk_mq_hw_sysfs_queued_show()`: `hctx->queued` as `"%lu\n"`. */
export function hctxQueuedShow(queued: Ulong): string {
  return `${lu(queued, "hctx queued")}\n`;
}

/** Mirrors `blk_mq_hw_sysfs_run_show()`: `hctx->run` as `"%lu\n"`. */
export function hctxRunShow(run: Ulong): string {
  return `${lu(run, "hctx run")}\n`;
}

/**
 * Mirrors `blk_mq_hw_sysfs_dispatched_show()`: ten lines, `"%8u\t%lu\n"`
 * for bucket 0 (runs that queued nothing), then `"%8lu\t%lu\n"` labelled
 * 1, 2, 4, … 256 (bucket i counts runs with 2^(i-1) ≤ n < 2^i).
 *
 * @param dispatched `hctx->dispatched[0..9]`
 * @throws {RangeError} unless exactly 10 counters
 * @example
 * hctxDispatchedShow([5, 3, 0, 0, 0, 0, 0, 0, 0, 1]).split("\n")[0]; // "       0\t5"
 */
export function hctxDispatchedShow(dispatched: readonly Ulong[]): string {
  if (!Array.isArray(dispatched) || dispatched.length !== BLK_MQ_MAX_DISPATCH_ORDER) {
    throw new RangeError(`hctx dispatched: need ${BLK_MQ_MAX_DISPATCH_ORDER} counters`);
  }
  let s = `${w8("0")}\t${lu(dispatched[0], "dispatched[0]")}\n`;
  for (let i = 1; i < BLK_MQ_MAX_DISPATCH_ORDER; i++) {
    s += `${w8(String(2 ** (i - 1)))}\t${lu(dispatched[i], `dispatched[${i}]`)}\n`;
  }
  return s;
}

/** What `blk_mq_tag_sysfs_show()` prints about one `struct blk_mq_tags`. */
export interface HctxTagsInfo {
  /** `tags->nr_tags`: the tag set's depth, reserved tags included. */
  nrTags: number;
  /** `tags->nr_reserved_tags`. */
  nrReservedTags: number;
  /** `bitmap_tags.bits_per_word`: the shift (e.g. 4 for depth 64), not 1 << shift. */
  bitsPerWord: number;
  /** `bt_unused_tags(&tags->bitmap_tags)`: depth minus set bits. */
  nrFree: number;
  /** `bt_unused_tags(&tags->breserved_tags)`. */
  nrReserved: number;
  /** `tags->active_queues`. */
  activeQueues: number;
}

/**
 * Mirrors `blk_mq_tag_sysfs_show()` (block/blk-mq-tag.c, v4.4), via
 * `blk_mq_hw_sysfs_tags_show()`: three lines; "" for an hctx without tags.
 *
 * @example
 * hctxTagsShow({ nrTags: 64, nrReservedTags: 0, bitsPerWord: 4, nrFree: 64, nrReserved: 0, activeQueues: 0 });
 * // "nr_tags=64, reserved_tags=0, bits_per_word=4\nnr_free=64, nr_reserved=0\nactive_queues=0\n"
 */
export function hctxTagsShow(tags: HctxTagsInfo | null): string {
  if (tags === null) return "";
  return `nr_tags=${u(tags.nrTags, "nrTags")}, reserved_tags=${u(tags.nrReservedTags, "nrReservedTags")}, ` +
    `bits_per_word=${u(tags.bitsPerWord, "bitsPerWord")}\n` +
    `nr_free=${u(tags.nrFree, "nrFree")}, nr_reserved=${u(tags.nrReserved, "nrReserved")}\n` +
    `active_queues=${u(tags.activeQueues, "activeQueues")}\n`;
}

/**
 * Mirrors `blk_mq_hw_sysfs_cpus_show()`: the CPUs of `hctx->cpumask` as
 * `"%u"` then `", %u"`, and `"\n"` (just "\n" when empty). Unbounded, as in
 * v4.4: 4096 CPUs print past the page.
 *
 * @param cpus CPU numbers in ascending order (a CpuMask iterates so)
 * @example
 * hctxCpuListShow([0, 4]); // "0, 4\n"
 */
export function hctxCpuListShow(cpus: Iterable<number>): string {
  const parts: string[] = [];
  for (const c of cpus) parts.push(u(c, "cpu"));
  return `${parts.join(", ")}\n`;
}

/** Mirrors `blk_mq_hw_sysfs_active_show()`: `hctx->nr_active` as `"%u\n"`. */
export function hctxActiveShow(nrActive: number): string {
  return `${u(nrActive, "nr_active")}\n`;
}

/** The counters `blk_poll()` bumps (v4.4 `hctx->poll_invoked`, `poll_success`). */
export interface IoPollStats {
  invoked: Ulong;
  success: Ulong;
}

/** Mirrors `blk_mq_hw_sysfs_poll_show()` (v4.4): `"invoked=%lu, success=%lu\n"`. */
export function hctxIoPollShow(s: IoPollStats): string {
  return `invoked=${lu(s.invoked, "invoked")}, success=${lu(s.success, "success")}\n`;
}

// ---------------------------------------------------------------------------
// /sys/block/<disk>/mq/<n>/cpu<m>/ (block/blk-mq-sysfs.c, default_ctx_attrs)

/** A ctx counter pair, indexed as the kernel's `[2]` arrays: sync is `[1]`, async `[0]`. */
export interface SyncAsync {
  sync: Ulong;
  async: Ulong;
}

/** Mirrors `blk_mq_sysfs_dispatched_show()`: `"%lu %lu\n"` of `rq_dispatched[1]` (sync), `[0]` (async). */
export function ctxDispatchedShow(d: SyncAsync): string {
  return `${lu(d.sync, "sync")} ${lu(d.async, "async")}\n`;
}

/** Mirrors `blk_mq_sysfs_merged_show()`: `rq_merged` as `"%lu\n"`. */
export function ctxMergedShow(merged: Ulong): string {
  return `${lu(merged, "rq_merged")}\n`;
}

/** Mirrors `blk_mq_sysfs_completed_show()`: `"%lu %lu\n"` of `rq_completed[1]` (sync), `[0]` (async). */
export function ctxCompletedShow(c: SyncAsync): string {
  return `${lu(c.sync, "sync")} ${lu(c.async, "async")}\n`;
}

// ---------------------------------------------------------------------------
// /sys/block/<disk>/queue/ (block/blk-sysfs.c, v4.4)

/** Queue attribute names in `default_attrs` order (v4.4, `io_poll` last). */
export type QueueAttrName =
  | "nr_requests"
  | "read_ahead_kb"
  | "max_hw_sectors_kb"
  | "max_sectors_kb"
  | "max_segments"
  | "max_integrity_segments"
  | "max_segment_size"
  | "scheduler"
  | "hw_sector_size"
  | "logical_block_size"
  | "physical_block_size"
  | "minimum_io_size"
  | "optimal_io_size"
  | "discard_granularity"
  | "discard_max_bytes"
  | "discard_max_hw_bytes"
  | "discard_zeroes_data"
  | "write_same_max_bytes"
  | "rotational"
  | "nomerges"
  | "rq_affinity"
  | "iostats"
  | "add_random"
  | "io_poll";

/** Every queue attribute with its v4.4 mode, in `default_attrs` order. */
export const QUEUE_ATTRS: readonly { readonly name: QueueAttrName; readonly mode: number }[] = [
  { name: "nr_requests", mode: 0o644 },
  { name: "read_ahead_kb", mode: 0o644 },
  { name: "max_hw_sectors_kb", mode: 0o444 },
  { name: "max_sectors_kb", mode: 0o644 },
  { name: "max_segments", mode: 0o444 },
  { name: "max_integrity_segments", mode: 0o444 },
  { name: "max_segment_size", mode: 0o444 },
  { name: "scheduler", mode: 0o644 },
  { name: "hw_sector_size", mode: 0o444 },
  { name: "logical_block_size", mode: 0o444 },
  { name: "physical_block_size", mode: 0o444 },
  { name: "minimum_io_size", mode: 0o444 },
  { name: "optimal_io_size", mode: 0o444 },
  { name: "discard_granularity", mode: 0o444 },
  { name: "discard_max_bytes", mode: 0o644 },
  { name: "discard_max_hw_bytes", mode: 0o444 },
  { name: "discard_zeroes_data", mode: 0o444 },
  { name: "write_same_max_bytes", mode: 0o444 },
  { name: "rotational", mode: 0o644 },
  { name: "nomerges", mode: 0o644 },
  { name: "rq_affinity", mode: 0o644 },
  { name: "iostats", mode: 0o644 },
  { name: "add_random", mode: 0o644 },
  { name: "io_poll", mode: 0o644 },
];

/** What the queue/ shows read from `struct request_queue` and `q->limits` (v4.4 names in the docs). */
export interface QueueSysfsState {
  /** `q->nr_requests`. */
  nrRequests: number;
  /** `q->backing_dev_info.ra_pages`. */
  raPages: number;
  /** `queue_max_hw_sectors(q)`, 512-byte sectors. */
  maxHwSectors: number;
  /** `queue_max_sectors(q)`, 512-byte sectors. */
  maxSectors: number;
  /** `queue_max_segments(q)`. */
  maxSegments: number;
  /** `q->limits.max_integrity_segments`. */
  maxIntegritySegments: number;
  /** `queue_max_segment_size(q)`. */
  maxSegmentSize: number;
  /** `blk_queue_cluster(q)`: without it max_segment_size shows PAGE_CACHE_SIZE. */
  cluster: boolean;
  /** `queue_logical_block_size(q)` (also hw_sector_size). */
  logicalBlockSize: number;
  /** `queue_physical_block_size(q)`. */
  physicalBlockSize: number;
  /** `queue_io_min(q)`. */
  ioMin: number;
  /** `queue_io_opt(q)`. */
  ioOpt: number;
  /** `q->limits.discard_granularity`. */
  discardGranularity: number;
  /** `q->limits.max_discard_sectors`. */
  maxDiscardSectors: number;
  /** `q->limits.max_hw_discard_sectors`. */
  maxHwDiscardSectors: number;
  /** `queue_discard_zeroes_data(q)`. */
  discardZeroesData: boolean;
  /** `q->limits.max_write_same_sectors`. */
  maxWriteSameSectors: number;
  /** QUEUE_FLAG_NONROT (rotational shows its inverse). */
  nonrot: boolean;
  /** QUEUE_FLAG_NOMERGES. */
  nomerges: boolean;
  /** QUEUE_FLAG_NOXMERGES. */
  noxmerges: boolean;
  /** QUEUE_FLAG_SAME_COMP. */
  sameComp: boolean;
  /** QUEUE_FLAG_SAME_FORCE. */
  sameForce: boolean;
  /** QUEUE_FLAG_IO_STAT. */
  ioStat: boolean;
  /** QUEUE_FLAG_ADD_RANDOM. */
  addRandom: boolean;
  /** QUEUE_FLAG_POLL. */
  poll: boolean;
}

/** `PAGE_CACHE_SHIFT - 10`: ra_pages to KiB. */
const RA_KB_SHIFT = 2;
/** `PAGE_CACHE_SIZE`. */
const PAGE_CACHE_SIZE = 4096;

/** `(unsigned long long)sectors << 9` as `"%llu\n"`. */
function bytesOfSectors(sectors: number, what: string): string {
  return `${BigInt.asUintN(64, BigInt(checkUint(sectors, what)) << 9n)}\n`;
}

/** Mirrors `queue_rq_affinity_show()`: `SAME_COMP << SAME_FORCE`, so 0, 1 or 2 (and 0 for FORCE alone). */
export function queueRqAffinityShow(f: { sameComp: boolean; sameForce: boolean }): string {
  return `${(f.sameComp ? 1 : 0) << (f.sameForce ? 1 : 0)}\n`;
}

/** Mirrors `queue_nomerges_show()`: `(NOMERGES << 1) | NOXMERGES`. */
export function queueNomergesShow(f: { nomerges: boolean; noxmerges: boolean }): string {
  return `${((f.nomerges ? 1 : 0) << 1) | (f.noxmerges ? 1 : 0)}\n`;
}

/** Mirrors `elv_iosched_show()` for blk-mq in v4.4 (no elevator): `"none\n"`. */
export function queueSchedulerShow(): string {
  return "none\n";
}

/**
 * The show of one queue/ attribute (block/blk-sysfs.c, v4.4: `queue_var_show()`
 * callers, `queue_ra_show()`, `queue_max_sectors_show()`, `queue_discard_max_show()`,
 * `queue_show_nonrot()`, `queue_poll_show()`, `elv_iosched_show()`, …).
 *
 * @throws {RangeError} on an unknown name or a bad value
 * @example
 * queueAttrShow("max_sectors_kb", { ...state, maxSectors: 255 }); // "127\n"
 */
export function queueAttrShow(name: QueueAttrName, q: QueueSysfsState): string {
  switch (name) {
    case "nr_requests":
      return queueVarShow(q.nrRequests);
    case "read_ahead_kb":
      return queueVarShow(checkUint(q.raPages, "raPages") * 2 ** RA_KB_SHIFT);
    case "max_hw_sectors_kb":
      return queueVarShow(Math.floor(checkUint(q.maxHwSectors, "maxHwSectors") / 2));
    case "max_sectors_kb":
      return queueVarShow(Math.floor(checkUint(q.maxSectors, "maxSectors") / 2));
    case "max_segments":
      return queueVarShow(q.maxSegments);
    case "max_integrity_segments":
      return queueVarShow(q.maxIntegritySegments);
    case "max_segment_size":
      return queueVarShow(q.cluster ? q.maxSegmentSize : PAGE_CACHE_SIZE);
    case "scheduler":
      return queueSchedulerShow();
    case "hw_sector_size":
    case "logical_block_size":
      return queueVarShow(q.logicalBlockSize);
    case "physical_block_size":
      return queueVarShow(q.physicalBlockSize);
    case "minimum_io_size":
      return queueVarShow(q.ioMin);
    case "optimal_io_size":
      return queueVarShow(q.ioOpt);
    case "discard_granularity":
      return queueVarShow(q.discardGranularity);
    case "discard_max_bytes":
      return bytesOfSectors(q.maxDiscardSectors, "maxDiscardSectors");
    case "discard_max_hw_bytes":
      return bytesOfSectors(q.maxHwDiscardSectors, "maxHwDiscardSectors");
    case "discard_zeroes_data":
      return queueVarShow(q.discardZeroesData ? 1 : 0);
    case "write_same_max_bytes":
      return bytesOfSectors(q.maxWriteSameSectors, "maxWriteSameSectors");
    case "rotational":
      return queueVarShow(q.nonrot ? 0 : 1);
    case "nomerges":
      return queueNomergesShow(q);
    case "rq_affinity":
      return queueRqAffinityShow(q);
    case "iostats":
      return queueVarShow(q.ioStat ? 1 : 0);
    case "add_random":
      return queueVarShow(q.addRandom ? 1 : 0);
    case "io_poll":
      return queueVarShow(q.poll ? 1 : 0);
    default:
      throw new RangeError(`queueAttrShow: unknown queue attribute ${String(name)}`);
  }
}

// ---------------------------------------------------------------------------
// /sys/block/<disk>/ (block/genhd.c, block/partition-generic.c)

/** Mirrors `part_inflight_show()`: `"%8u %8u\n"` of `in_flight[0]` (reads) and `[1]` (writes). */
export function diskInflightShow(inFlight: { read: number; write: number }): string {
  return `${w8(u(inFlight.read, "in_flight[0]"))} ${w8(u(inFlight.write, "in_flight[1]"))}\n`;
}

/** The eleven fields of `part_stat_show()`, ticks already in milliseconds (`jiffies_to_msecs()`). */
export interface DiskStats {
  readIos: Ulong;
  readMerges: Ulong;
  readSectors: Ulong;
  readTicksMs: number;
  writeIos: Ulong;
  writeMerges: Ulong;
  writeSectors: Ulong;
  writeTicksMs: number;
  /** `part_in_flight()`: reads plus writes. */
  inFlight: number;
  ioTicksMs: number;
  timeInQueueMs: number;
}

/**
 * Mirrors `part_stat_show()` (block/partition-generic.c, v4.4): 11 fields,
 * `"%8lu %8lu %8llu %8u %8lu %8lu %8llu %8u %8u %8u %8u\n"`.
 */
export function diskStatShow(s: DiskStats): string {
  const f = [
    lu(s.readIos, "readIos"),
    lu(s.readMerges, "readMerges"),
    lu(s.readSectors, "readSectors"),
    u(s.readTicksMs, "readTicksMs"),
    lu(s.writeIos, "writeIos"),
    lu(s.writeMerges, "writeMerges"),
    lu(s.writeSectors, "writeSectors"),
    u(s.writeTicksMs, "writeTicksMs"),
    u(s.inFlight, "inFlight"),
    u(s.ioTicksMs, "ioTicksMs"),
    u(s.timeInQueueMs, "timeInQueueMs"),
  ];
  return `${f.map(w8).join(" ")}\n`;
}

