// SPDX-License-Identifier: GPL-2.0-only
// The software and hardware queue contexts of a blk-mq request queue as
// records in linear memory: the state of `struct blk_mq_ctx` (block/blk-mq.h,
// v4.4) and `struct blk_mq_hw_ctx` (include/linux/blk-mq.h, v4.4) that the
// request path touches. The TypeScript classes BlkMqCtx and BlkMqHwCtx
// (ts/block/ctx.ts, ts/block/hctx.ts) are views of these records and keep
// what only TypeScript uses (locks, kobjects, works, the driver's data).
//
// `ctx->rq_list` and `hctx->dispatch` are list heads (asm/list.ts) linking
// request records through their `queuelist` (offset 0). Counters are u64 as
// the kernel's unsigned long. Nothing here allocates: the caller places the
// records (alloc_percpu / kzalloc_node) and frees them.

import { list_add, list_add_tail, list_del_init, list_empty, list_init, list_splice_init, list_splice_tail_init } from "./list";

/**
 * Mirrors `struct blk_mq_ctx` (v4.4), 64 bytes (`____cacheline_aligned_in_smp`).
 * The sysfs counters are indexed as the kernel's arrays: [0] async, [1] sync.
 *
 *    0        4        8     12         16                 32          40                  56
 *    +--------+--------+-----+----------+------------------+-----------+-------------------+------+
 *    | rq_list         | cpu | index_hw | rq_dispatched[2] | rq_merged | rq_completed[2]   | pad  |
 *    +--------+--------+-----+----------+------------------+-----------+-------------------+------+
 */
@unmanaged
export class BlkMqCtx {
  rq_list_next: u32;
  rq_list_prev: u32;
  cpu: i32;
  index_hw: u32;
  rq_dispatched_async: u64;
  rq_dispatched_sync: u64;
  rq_merged: u64;
  rq_completed_async: u64;
  rq_completed_sync: u64;
  pad: u64;
}

/** Mirrors `BLK_MQ_MAX_DISPATCH_ORDER` (include/linux/blk-mq.h, v4.4). */
export const BLK_MQ_MAX_DISPATCH_ORDER: i32 = 10;

/**
 * Mirrors the request-path state of `struct blk_mq_hw_ctx` (v4.4), 192
 * bytes. `state` holds BLK_MQ_S_STOPPED (BLK_MQ_S_TAG_ACTIVE lives in the
 * tag map's hctx record, asm/tags.ts). `ctxs` points to nr_cpu_ids ctx
 * record addresses, the first `nr_ctx` attached; `ctx_map` is `struct
 * blk_mq_ctxmap`: `map` points to one u32 word per 8 CPUs
 * (`bits_per_word` = 8), `size` of them in use.
 *
 *    0         8       12      16          20       24     28             32            36
 *    +---------+-------+-------+-----------+--------+------+--------------+-------------+
 *    |dispatch | state | flags | queue_num | nr_ctx | ctxs | ctx_map.size | ctx_map.map |
 *    +---------+-------+-------+-----------+--------+------+--------------+-------------+
 *    36                   40         44               48       56    64                 144
 *    +--------------------+----------+----------------+--------+-----+------------------+
 *    |ctx_map.bits_per_word| next_cpu | next_cpu_batch| queued | run | dispatched[10]   |
 *    +--------------------+----------+----------------+--------+-----+------------------+
 *    144            152            160        168    172          176        180         184        188   192
 *    +--------------+--------------+----------+------+------------+----------+-----------+----------+-----+
 *    | poll_invoked | poll_success | run_list | tags | tags_hints | tag_hctx | run_depth | tags_rqs | pad |
 *    +--------------+--------------+----------+------+------------+----------+-----------+----------+-----+
 *
 * `run_list` is the port's: the local `rq_list` of `__blk_mq_run_hw_queue()`
 * (on the kernel's stack), emptied before the run calls out. `tags` is the
 * address of `hctx->tags`' tag map (asm/tags.ts) and `tags_hints` of its
 * per-ctx hint words (the TypeScript map's: two u32 a CPU, normal then
 * reserved), `tag_hctx` of the hctx's tag fields in that map (the
 * TypeScript TagHctx: BLK_MQ_F_TAG_SHARED, `nr_active`) and `tags_rqs` of
 * its `tags->rqs[]`, while the hctx holds a live map; all 0 without one or
 * once the map is freed (the TypeScript side then does what needs doing).
 * `run_depth` counts the runs of this hctx under way (a driver may run its
 * queue again from `queue_rq`): the host's `queue_rq` finds its run's `bd`
 * by it.
 */
@unmanaged
export class BlkMqHwCtx {
  dispatch_next: u32;
  dispatch_prev: u32;
  state: u32;
  flags: u32;
  queue_num: u32;
  nr_ctx: u32;
  ctxs: u32;
  ctx_map_size: u32;
  ctx_map_map: u32;
  ctx_map_bits_per_word: u32;
  next_cpu: i32;
  next_cpu_batch: i32;
  queued: u64;
  run: u64;
  dispatched0: u64;
  dispatched1: u64;
  dispatched2: u64;
  dispatched3: u64;
  dispatched4: u64;
  dispatched5: u64;
  dispatched6: u64;
  dispatched7: u64;
  dispatched8: u64;
  dispatched9: u64;
  poll_invoked: u64;
  poll_success: u64;
  run_list_next: u32;
  run_list_prev: u32;
  tags: u32;
  tags_hints: u32;
  tag_hctx: u32;
  run_depth: u32;
  tags_rqs: u32;
  pad: u32;
}

/** `sizeof(struct blk_mq_ctx)`. */
export const BLK_MQ_CTX_SIZE: usize = offsetof<BlkMqCtx>();
/** `sizeof(struct blk_mq_hw_ctx)` (the port's request-path part). */
export const BLK_MQ_HW_CTX_SIZE: usize = offsetof<BlkMqHwCtx>();
/** Offset of `ctx->rq_list`. */
export const CTX_RQ_LIST: usize = offsetof<BlkMqCtx>("rq_list_next");
/** Offset of `hctx->dispatch`. */
export const HCTX_DISPATCH: usize = offsetof<BlkMqHwCtx>("dispatch_next");
/** Offset of the run's local list head. */
export const HCTX_RUN_LIST: usize = offsetof<BlkMqHwCtx>("run_list_next");
/** Offset of the address of the hctx's live tag map (0: none). */
export const HCTX_TAGS: usize = offsetof<BlkMqHwCtx>("tags");
/** Offset of the address of that map's hint words. */
export const HCTX_TAGS_HINTS: usize = offsetof<BlkMqHwCtx>("tags_hints");
/** Offset of the address of the hctx's tag fields in that map. */
export const HCTX_TAG_HCTX: usize = offsetof<BlkMqHwCtx>("tag_hctx");
/** Offset of the address of that map's `rqs[]`. */
export const HCTX_TAGS_RQS: usize = offsetof<BlkMqHwCtx>("tags_rqs");

/**
 * The address of the hint word of ctx `cpu` among `tags_hints` (two u32 a
 * CPU: the normal map's, then the reserved map's, `reserved` 1).
 */
@inline
export function tag_hint(hints: usize, cpu: u32, reserved: usize): usize {
  return hints + ((((<usize>cpu) << 1) + reserved) << 2);
}
/** Bits of each ctx_map word (`bits_per_word`, v4.4). */
export const CTX_MAP_BITS_PER_WORD: u32 = 8;

/** Mirrors `sizeof(struct blk_mq_ctx)`, for the TypeScript layout check. */
export function blk_mq_ctx_struct_size(): i32 {
  return <i32>BLK_MQ_CTX_SIZE;
}

/** Mirrors `sizeof(struct blk_mq_hw_ctx)`, for the TypeScript layout check. */
export function blk_mq_hw_ctx_struct_size(): i32 {
  return <i32>BLK_MQ_HW_CTX_SIZE;
}

/**
 * Mirrors the per-CPU part of `blk_mq_init_cpu_queues()` (v4.4) on a zeroed
 * record: `ctx->cpu`, `INIT_LIST_HEAD(&ctx->rq_list)`.
 */
export function blk_mq_ctx_init(ctx: usize, cpu: i32): void {
  changetype<BlkMqCtx>(ctx).cpu = cpu;
  list_init(ctx + CTX_RQ_LIST);
}

/**
 * Mirrors the record part of `blk_mq_init_hctx()` (v4.4) on a zeroed
 * record: `queue_num`, `INIT_LIST_HEAD(&hctx->dispatch)` (and the run's
 * list), the `ctxs` array
 * and the ctx_map words (`blk_mq_alloc_bitmap()`: `size` = `nr_words`).
 */
export function blk_mq_hw_ctx_init(hctx: usize, queue_num: u32, ctxs: usize, map: usize, nr_words: u32): void {
  const h = changetype<BlkMqHwCtx>(hctx);
  h.queue_num = queue_num;
  h.ctxs = <u32>ctxs;
  h.ctx_map_map = <u32>map;
  h.ctx_map_size = nr_words;
  h.ctx_map_bits_per_word = CTX_MAP_BITS_PER_WORD;
  list_init(hctx + HCTX_DISPATCH);
  list_init(hctx + HCTX_RUN_LIST);
}

/** The ctx_map word of bit `index_hw` and the bit in it. */
@inline
function ctx_map_word(h: BlkMqHwCtx, index_hw: u32): usize {
  return <usize>h.ctx_map_map + ((<usize>(index_hw / h.ctx_map_bits_per_word)) << 2);
}

/** Mirrors `blk_mq_hctx_mark_pending()` (v4.4): bit `index_hw` of ctx_map set. */
export function blk_mq_hctx_mark_pending(hctx: usize, index_hw: u32): void {
  const h = changetype<BlkMqHwCtx>(hctx);
  const w = ctx_map_word(h, index_hw);
  store<u32>(w, load<u32>(w) | (1 << (index_hw % h.ctx_map_bits_per_word)));
}

/** Mirrors `blk_mq_hctx_clear_pending()` (v4.4). */
export function blk_mq_hctx_clear_pending(hctx: usize, index_hw: u32): void {
  const h = changetype<BlkMqHwCtx>(hctx);
  const w = ctx_map_word(h, index_hw);
  store<u32>(w, load<u32>(w) & ~(1 << (index_hw % h.ctx_map_bits_per_word)));
}

/** Mirrors `blk_mq_hctx_has_pending()` (v4.4): any bit in the first `size` words. */
export function blk_mq_hctx_has_pending(hctx: usize): bool {
  const h = changetype<BlkMqHwCtx>(hctx);
  const map = <usize>h.ctx_map_map;
  if (map == 0) return false;
  for (let i: usize = 0; i < <usize>h.ctx_map_size; i++) if (load<u32>(map + (i << 2)) != 0) return true;
  return false;
}

/**
 * Mirrors `flush_busy_ctxs()` (v4.4): every pending ctx's `rq_list`, in
 * `index_hw` order, spliced onto the tail of `list`, its bit cleared.
 */
export function blk_mq_flush_busy_ctxs(hctx: usize, list: usize): void {
  const h = changetype<BlkMqHwCtx>(hctx);
  const map = <usize>h.ctx_map_map;
  if (map == 0) return;
  const bpw = h.ctx_map_bits_per_word;
  for (let i: u32 = 0; i < h.nr_ctx; i++) {
    const w = map + ((<usize>(i / bpw)) << 2);
    const bit: u32 = 1 << (i % bpw);
    const word = load<u32>(w);
    if ((word & bit) == 0) continue;
    store<u32>(w, word & ~bit);
    const ctx = <usize>load<u32>(<usize>h.ctxs + (<usize>i << 2));
    list_splice_tail_init(ctx + CTX_RQ_LIST, list);
  }
}

// ---------------------------------------------------------------------------
// Lists of request records, for the TypeScript side (asm/list.ts inline)
// ---------------------------------------------------------------------------

/** `list_init(h)`. */
export function blk_list_init(h: usize): void {
  list_init(h);
}

/** `list_add_tail(rq, h)` when `tail`, else `list_add(rq, h)`. */
export function blk_list_add(rq: usize, h: usize, tail: bool): void {
  if (tail) list_add_tail(rq, h);
  else list_add(rq, h);
}

/** `list_del_init(rq)`. */
export function blk_list_del_init(rq: usize): void {
  list_del_init(rq);
}

/** `list_splice_tail_init(list, h)` when `tail`, else `list_splice_init(list, h)`. */
export function blk_list_splice_init(list: usize, h: usize, tail: bool): void {
  if (tail) list_splice_tail_init(list, h);
  else list_splice_init(list, h);
}

/** The first entry of `h` taken off (`list_del_init()`), or 0 when empty. */
export function blk_list_pop(h: usize): usize {
  if (list_empty(h)) return 0;
  const e = <usize>load<u32>(h);
  list_del_init(e);
  return e;
}
