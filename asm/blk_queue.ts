// SPDX-License-Identifier: GPL-2.0-only
// The request queue as a record in linear memory: the fields of `struct
// request_queue` (include/linux/blkdev.h, v4.4) that the request path reads.
// The TypeScript class RequestQueue (ts/block/request_queue.ts) is a view of
// this record and keeps what only TypeScript uses (locks, kobjects, the
// usage counter, works, the driver's ops and data).
//
// `mq_map` points to nr_cpu_ids u32 hctx indexes, `queue_hw_ctx` to
// nr_hw_queues hctx record addresses (asm/blk_mq_ctx.ts) and `queue_ctx` to
// the block of nr_cpu_ids ctx records. `timeout_pending` and
// `timeout_expires` mirror the queue's timer (`q->timeout`, a TypeScript
// timer): the timer base updates them on every arm, delete and fire. Jiffies
// are f64 as `rq->deadline` (the port's jiffies are safe integers that never
// wrap). Nothing here allocates: the caller places the record and the arrays
// (kzalloc_node) and frees them.

import { BLK_MQ_CTX_SIZE } from "./blk_mq_ctx";
import { host_blk_queue_exit } from "./host";
import { percpu_ref_is_percpu, percpu_ref_put, percpu_ref_tryget_live } from "./percpu_ref";

// Queue flags: bit numbers of q->queue_flags (include/linux/blkdev.h, v4.4).
export const QUEUE_FLAG_QUEUED: u32 = 1;
export const QUEUE_FLAG_STOPPED: u32 = 2;
export const QUEUE_FLAG_SYNCFULL: u32 = 3;
export const QUEUE_FLAG_ASYNCFULL: u32 = 4;
export const QUEUE_FLAG_DYING: u32 = 5;
export const QUEUE_FLAG_BYPASS: u32 = 6;
export const QUEUE_FLAG_BIDI: u32 = 7;
export const QUEUE_FLAG_NOMERGES: u32 = 8;
export const QUEUE_FLAG_SAME_COMP: u32 = 9;
export const QUEUE_FLAG_FAIL_IO: u32 = 10;
export const QUEUE_FLAG_STACKABLE: u32 = 11;
export const QUEUE_FLAG_NONROT: u32 = 12;
export const QUEUE_FLAG_IO_STAT: u32 = 13;
export const QUEUE_FLAG_DISCARD: u32 = 14;
export const QUEUE_FLAG_NOXMERGES: u32 = 15;
export const QUEUE_FLAG_ADD_RANDOM: u32 = 16;
export const QUEUE_FLAG_SECDISCARD: u32 = 17;
export const QUEUE_FLAG_SAME_FORCE: u32 = 18;
export const QUEUE_FLAG_DEAD: u32 = 19;
export const QUEUE_FLAG_INIT_DONE: u32 = 20;
export const QUEUE_FLAG_NO_SG_MERGE: u32 = 21;
export const QUEUE_FLAG_POLL: u32 = 22;

/**
 * Mirrors the request-path part of `struct request_queue` (v4.4), 64 bytes.
 * `max_sectors` and `max_segments` are `q->limits.max_sectors` and
 * `q->limits.max_segments` (the limits the merge checks read). `part0` is
 * the address of the part0 statistics record (asm/genhd.ts) of the disk
 * `add_disk()` gave the queue, 0 before that and after the disk's release:
 * what v4.4 reaches as `rq->rq_disk->part0` (one disk per blk-mq queue).
 * `q_usage_counter` is the address of the queue's `struct percpu_ref`
 * record (asm/percpu_ref.ts), 0 once `percpu_ref_exit()` freed it.
 *
 *    0    4             8             12           16             20           24       28             32
 *    +----+-------------+-------------+------------+--------------+------------+--------+--------------+
 *    | id | queue_flags | flush_flags | rq_timeout | nr_hw_queues | nr_cpu_ids | mq_map | queue_hw_ctx |
 *    +----+-------------+-------------+------------+--------------+------------+--------+--------------+
 *    32          36            40             44                48                56      60                64
 *    +-----------+-------------+--------------+-----------------+-----------------+-------+-----------------+
 *    | queue_ctx | max_sectors | max_segments | timeout_pending | timeout_expires | part0 | q_usage_counter |
 *    +-----------+-------------+--------------+-----------------+-----------------+-------+-----------------+
 */
@unmanaged
export class RequestQueue {
  id: u32;
  queue_flags: u32;
  flush_flags: u32;
  rq_timeout: u32;
  nr_hw_queues: u32;
  nr_cpu_ids: u32;
  mq_map: u32;
  queue_hw_ctx: u32;
  queue_ctx: u32;
  max_sectors: u32;
  max_segments: u32;
  timeout_pending: u32;
  timeout_expires: f64;
  part0: u32;
  q_usage_counter: u32;
}

/** `sizeof(struct request_queue)` (the port's request-path part). */
export const REQUEST_QUEUE_SIZE: usize = offsetof<RequestQueue>();

/** Mirrors `sizeof(struct request_queue)`, for the TypeScript layout check. */
export function request_queue_struct_size(): i32 {
  return <i32>REQUEST_QUEUE_SIZE;
}

/**
 * The record part of `blk_alloc_queue_node()` (block/blk-core.c, v4.4) on a
 * zeroed record: `q->id`, and the port's `nr_cpu_ids` (the length of
 * `mq_map` and of the ctx block).
 */
export function blk_queue_record_init(q: usize, id: u32, nr_cpu_ids: u32): void {
  const r = changetype<RequestQueue>(q);
  r.id = id;
  r.nr_cpu_ids = nr_cpu_ids;
}

/**
 * Mirrors `blk_mq_map_queue()` (block/blk-mq.c, v4.4):
 * `q->queue_hw_ctx[q->mq_map[cpu]]`.
 *
 * @returns the hctx record address; 0 when `cpu` is not below nr_cpu_ids or
 *          the queue has no map (v4.4 reads out of bounds or through NULL)
 */
export function blk_mq_map_queue(q: usize, cpu: u32): usize {
  const r = changetype<RequestQueue>(q);
  const map = <usize>r.mq_map;
  if (cpu >= r.nr_cpu_ids || map == 0) return 0;
  const idx = load<u32>(map + (<usize>cpu << 2));
  if (DEBUG) assert(idx < r.nr_hw_queues, "mq_map entry past nr_hw_queues");
  return <usize>load<u32>(<usize>r.queue_hw_ctx + (<usize>idx << 2));
}

/** Mirrors `per_cpu_ptr(q->queue_ctx, cpu)`: the ctx record of `cpu` (no range check). */
@inline
export function blk_mq_ctx_of(q: usize, cpu: u32): usize {
  return <usize>changetype<RequestQueue>(q).queue_ctx + <usize>cpu * BLK_MQ_CTX_SIZE;
}

/** Mirrors `test_bit(flag, &q->queue_flags)`. */
@inline
export function queue_flag_test(q: usize, flag: u32): bool {
  return (changetype<RequestQueue>(q).queue_flags & (<u32>1 << flag)) != 0;
}

/** Mirrors `blk_queue_nomerges()` (include/linux/blkdev.h, v4.4). */
@inline
export function blk_queue_nomerges(q: usize): bool {
  return queue_flag_test(q, QUEUE_FLAG_NOMERGES);
}

/** Mirrors `blk_queue_noxmerges()`. */
@inline
export function blk_queue_noxmerges(q: usize): bool {
  return queue_flag_test(q, QUEUE_FLAG_NOXMERGES);
}

/** Mirrors `blk_queue_io_stat()`. */
@inline
export function blk_queue_io_stat(q: usize): bool {
  return queue_flag_test(q, QUEUE_FLAG_IO_STAT);
}

/** Mirrors `blk_queue_dying()`. */
@inline
export function blk_queue_dying(q: usize): bool {
  return queue_flag_test(q, QUEUE_FLAG_DYING);
}

/** Mirrors `blk_queue_dead()`. */
@inline
export function blk_queue_dead(q: usize): bool {
  return queue_flag_test(q, QUEUE_FLAG_DEAD);
}

/** Mirrors `blk_queue_bypass()`. */
@inline
export function blk_queue_bypass(q: usize): bool {
  return queue_flag_test(q, QUEUE_FLAG_BYPASS);
}

/** `test_bit(QUEUE_FLAG_SAME_COMP, &q->queue_flags)` (rq_affinity ≥ 1; `__blk_mq_complete_request()`). */
@inline
export function blk_queue_same_comp(q: usize): bool {
  return queue_flag_test(q, QUEUE_FLAG_SAME_COMP);
}

/** `test_bit(QUEUE_FLAG_SAME_FORCE, &q->queue_flags)` (rq_affinity = 2). */
@inline
export function blk_queue_same_force(q: usize): bool {
  return queue_flag_test(q, QUEUE_FLAG_SAME_FORCE);
}

/** `test_bit(QUEUE_FLAG_POLL, &q->queue_flags)` (`blk_poll()`). */
@inline
export function blk_queue_poll(q: usize): bool {
  return queue_flag_test(q, QUEUE_FLAG_POLL);
}

/** Mirrors `queue_max_sectors()`: `q->limits.max_sectors`. */
@inline
export function queue_max_sectors(q: usize): u32 {
  return changetype<RequestQueue>(q).max_sectors;
}

/** Mirrors `queue_max_segments()`: `q->limits.max_segments`. */
@inline
export function queue_max_segments(q: usize): u32 {
  return changetype<RequestQueue>(q).max_segments;
}

/** Mirrors `timer_pending(&q->timeout)`, from the record's mirror of the timer. */
@inline
export function blk_queue_timer_pending(q: usize): bool {
  return changetype<RequestQueue>(q).timeout_pending != 0;
}

/**
 * The flag helpers above, one bit each (for the TypeScript check that the
 * bit numbers agree): 0 nomerges, 1 noxmerges, 2 io_stat, 3 dying, 4 dead,
 * 5 bypass, 6 same_comp, 7 same_force, 8 poll.
 */
export function blk_queue_flags_stat(q: usize): u32 {
  return (<u32>blk_queue_nomerges(q)) |
    (<u32>blk_queue_noxmerges(q) << 1) |
    (<u32>blk_queue_io_stat(q) << 2) |
    (<u32>blk_queue_dying(q) << 3) |
    (<u32>blk_queue_dead(q) << 4) |
    (<u32>blk_queue_bypass(q) << 5) |
    (<u32>blk_queue_same_comp(q) << 6) |
    (<u32>blk_queue_same_force(q) << 7) |
    (<u32>blk_queue_poll(q) << 8);
}

/**
 * Mirrors `blk_queue_enter()`'s first step, `percpu_ref_tryget_live(&q->q_usage_counter)`
 * on the current CPU: fails on a frozen or dying queue (DEAD set) and once
 * the counter was exited (`q_usage_counter` 0), where the caller takes the
 * sleeping path.
 *
 * @returns whether a reference was taken
 */
export function blk_queue_enter_live_try(q: usize, cpu: u32): bool {
  const ref = <usize>changetype<RequestQueue>(q).q_usage_counter;
  return ref != 0 && percpu_ref_tryget_live(ref, cpu) != 0;
}

/**
 * Mirrors `blk_queue_exit()`: `percpu_ref_put(&q->q_usage_counter)` on the
 * current CPU. In percpu mode the put is the core's; in atomic mode (a
 * freeze draining the queue), where the put may reach zero and run the
 * release that wakes the freezer, and after the counter was exited (the TS
 * side reports it), it is the host's (host_blk_queue_exit()).
 */
export function blk_queue_exit(q: usize, cpu: u32): void {
  const r = changetype<RequestQueue>(q);
  const ref = <usize>r.q_usage_counter;
  if (ref != 0 && percpu_ref_is_percpu(ref)) percpu_ref_put(ref, cpu);
  else host_blk_queue_exit(r.id);
}
