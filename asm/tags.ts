// SPDX-License-Identifier: GPL-2.0-only
// Tag maps: mirrors block/blk-mq-tag.c and block/blk-mq-tag.h of Linux v4.4
// (struct blk_mq_tags, struct blk_mq_bitmap_tags, the bt_* functions), plus
// the tag accounting of __blk_mq_alloc_request() / __blk_mq_free_request().
// A map built with era "modern" keeps the same blk_mq_tags but allocates from
// asm/sbitmap.ts (v6.18 lib/sbitmap.c) and follows v6.18 blk-mq-tag.c.
//
// Every function works on caller-provided memory: blk_mq_tags_bytes() says
// how much, blk_mq_init_tags() lays it out. Hints (ctx->last_tag, or the
// modern per-CPU alloc_hint) are u32 words the caller owns, one per ctx.
// Nothing here allocates, and get/put touch only that memory.
//
// Sleeping is the caller's: the wait queues here hold only their *state*
// (wait_cnt, wake_index, how many tasks wait on each queue). Functions that
// wake return a mask of wait-queue ids: bits 0-7 are the normal map's
// queues, bits 8-15 the reserved map's. The TypeScript side keeps the tasks,
// tells this file when one starts or stops waiting (blk_mq_tag_wait_account)
// and, for each bit of a returned mask, wakes the tasks that left that queue.
//
// Words change through the bit operations of asm/sbitmap.ts: WASM atomics
// when the core is built with the threads feature, plain loads and stores
// otherwise. The common get and put (v4.4, normal tag) run as call-free
// inline fast paths with exact fallbacks, because V8 keeps values in
// registers only around code without calls (bench/tags.bench.ts).

import {
  atomic_add_return,
  atomic_cmpxchg,
  atomic_read,
  atomic_set,
  debug_race,
  find_next_zero_bit,
  SB_WORD_STRIDE_SHIFT,
  sbitmap_calculate_shift,
  sbitmap_get,
  sbitmap_init_hint,
  sbitmap_queue_clear,
  sbitmap_queue_init,
  sbitmap_queue_recalculate_wake_batch,
  sbitmap_queue_resize,
  sbitmap_queue_wake_all,
  sbitmap_queue_wake_up,
  sbitmap_stat,
  sbitmap_test_bit,
  sbitmap_wait_account,
  sbitmap_waiters,
  sbitmap_word_stat,
  sbitmap_words_bytes,
  sb_map_nr,
  SBQ_HDR_BYTES,
  sbq_wait_ptr,
  wait_index_atomic_inc,
  wait_index_inc,
  word_clear_bits,
  word_load,
  word_test_and_set_bit,
  word_weight,
} from "./sbitmap";

// ---------------------------------------------------------------------------
// Constants
// ---------------------------------------------------------------------------

const EINVAL: i32 = 22;
const ENOMEM: i32 = 12;

/** `BLK_MQ_TAG_FAIL` (-1U); returned as the i32 -1. */
export const BLK_MQ_TAG_FAIL: i32 = -1;
/** `BLK_MQ_MAX_DEPTH`: blk_mq_alloc_tag_set() caps queue_depth here. */
export const BLK_MQ_MAX_DEPTH: u32 = 10240;
/** `BT_WAIT_QUEUES`. */
const BT_WAIT_QUEUES: u32 = 8;
/** `BT_WAIT_BATCH`. */
const BT_WAIT_BATCH: u32 = 8;

/** `BLK_TAG_ALLOC_FIFO` / `BLK_TAG_ALLOC_RR` (include/linux/blkdev.h). */
export const BLK_TAG_ALLOC_FIFO: u32 = 0;
export const BLK_TAG_ALLOC_RR: u32 = 1;

/** Which kernel the map follows. */
export const TAGS_ERA_V4_4: u32 = 0;
export const TAGS_ERA_MODERN: u32 = 1;

/** `BLK_MQ_F_TAG_SHARED` (include/linux/blk-mq.h, v4.4). */
export const BLK_MQ_F_TAG_SHARED: u32 = 1 << 1;
/** `BLK_MQ_S_TAG_ACTIVE`: a bit number in hctx->state. */
const BLK_MQ_S_TAG_ACTIVE: u32 = 1;

/** Wait-queue ids of the reserved map start here in wake masks. */
const RESERVED_QUEUE_BASE: u32 = 8;

// ---------------------------------------------------------------------------
// Layout
// ---------------------------------------------------------------------------

/**
 * Mirrors `struct blk_mq_tags` (TAGS_HDR_BYTES = 64 reserved):
 *
 *    0         4             8               12             16    20        24          28     32
 *    +---------+-------------+---------------+--------------+-----+---------+-----------+------+
 *    | nr_tags | nr_reserved | active_queues | alloc_policy | era | rq_hctx | max_depth | prng |
 *    +---------+-------------+---------------+--------------+-----+---------+-----------+------+
 *
 * rq_hctx: address of u32[nr_tags], the hctx whose nr_active counts the tag:
 * the port's stand-in for rq->cmd_flags & REQ_MQ_INFLIGHT (0 = not counted).
 * max_depth: the normal depth at init (nr_tags - nr_reserved), the most a
 * resize may ask. prng: get_random_u32_below() state (modern hints).
 *
 * The block behind it; the two bitmap headers (blk_mq_bitmap_tags for v4.4,
 * sbitmap_queue for modern, 128 bytes each, `depth` at offset 0 in both) sit
 * at fixed offsets, as if embedded like the kernel's bitmap_tags and
 * breserved_tags:
 *   [blk_mq_tags][normal bitmap hdr][reserved bitmap hdr][rq_hctx]
 *   [pad to 64][normal words][reserved words]
 */
@unmanaged
class BlkMqTags {
  nr_tags: u32;
  nr_reserved_tags: u32;
  active_queues: u32;
  alloc_policy: u32;
  era: u32;
  rq_hctx: u32;
  max_depth: u32;
  prng: u32;
}

const TAGS_HDR_BYTES: u32 = 64;
const TAGS_NR_TAGS: usize = offsetof<BlkMqTags>("nr_tags");
const TAGS_NR_RESERVED: usize = offsetof<BlkMqTags>("nr_reserved_tags");
const TAGS_ACTIVE_QUEUES: usize = offsetof<BlkMqTags>("active_queues");
const TAGS_POLICY: usize = offsetof<BlkMqTags>("alloc_policy");
const TAGS_ERA: usize = offsetof<BlkMqTags>("era");
const TAGS_RQ_HCTX: usize = offsetof<BlkMqTags>("rq_hctx");
const TAGS_MAX_DEPTH: usize = offsetof<BlkMqTags>("max_depth");
const TAGS_PRNG: usize = offsetof<BlkMqTags>("prng");

/**
 * Mirrors `struct blk_mq_bitmap_tags` (v4.4; BT_HDR_BYTES = 128 reserved):
 *
 *    0       4          8       12       16           20    24           28         32 .. 96
 *    +-------+----------+-------+--------+------------+-----+------------+----------+----------------------------+
 *    | depth | wake_cnt | shift | map_nr | wake_index | map | nr_waiters | bit_mask | bs[8]: {wait_cnt, waiters} |
 *    +-------+----------+-------+--------+------------+-----+------------+----------+----------------------------+
 *
 * `shift` is the kernel's bits_per_word (a shift, not a count). bs[q].waiters
 * counts the tasks on wait queue q (waitqueue_active() is waiters != 0);
 * nr_waiters is their sum, so that a free with nobody waiting (the common
 * case) skips bt_wake_ptr()'s scan of 8 queues with one load. bit_mask is
 * `(1 << shift) - 1`, kept to spare the hot paths a variable shift.
 */
@unmanaged
class BlkMqBitmapTags {
  depth: u32;
  wake_cnt: u32;
  bits_per_word: u32;
  map_nr: u32;
  wake_index: u32;
  map: u32;
  nr_waiters: u32;
  bit_mask: u32;
}

/** Mirrors `struct bt_wait_state`: `wait_cnt`, and the task count standing for its `wait` queue. */
@unmanaged
class BtWaitState {
  wait_cnt: i32;
  waiters: u32;
}

/**
 * Mirrors `struct blk_align_bitmap`, one per 64-byte line (as in v4.4):
 *
 *    0      8       12
 *    +------+-------+-------
 *    | word | depth | (pad)
 *    +------+-------+-------
 */
@unmanaged
class BlkAlignBitmap {
  word: u64;
  depth: u32;
}

/** Both eras' bitmap headers take the same 128-byte slot. */
const BT_HDR_BYTES: u32 = SBQ_HDR_BYTES;
const BT_DEPTH: usize = offsetof<BlkMqBitmapTags>("depth");
const BT_WAKE_CNT: usize = offsetof<BlkMqBitmapTags>("wake_cnt");
const BT_SHIFT: usize = offsetof<BlkMqBitmapTags>("bits_per_word");
const BT_MAP_NR: usize = offsetof<BlkMqBitmapTags>("map_nr");
const BT_WAKE_INDEX: usize = offsetof<BlkMqBitmapTags>("wake_index");
const BT_MAP: usize = offsetof<BlkMqBitmapTags>("map");
const BT_NR_WAITERS: usize = offsetof<BlkMqBitmapTags>("nr_waiters");
const BT_BIT_MASK: usize = offsetof<BlkMqBitmapTags>("bit_mask");
/** bs[8] follows the fields. */
const BT_BS: usize = offsetof<BlkMqBitmapTags>();
const BS_WAIT_CNT: usize = offsetof<BtWaitState>("wait_cnt");
const BS_WAITERS: usize = offsetof<BtWaitState>("waiters");
const BS_SHIFT: u32 = 3;

const BW_WORD: usize = offsetof<BlkAlignBitmap>("word");
const BW_DEPTH: usize = offsetof<BlkAlignBitmap>("depth");

/**
 * The tag fields of `struct blk_mq_hw_ctx` (HCTX_TAGS_BYTES = 16); a full
 * hctx record embeds them and passes their address:
 *
 *    0       4       8           12           16
 *    +-------+-------+-----------+------------+
 *    | flags | state | nr_active | wait_index |
 *    +-------+-------+-----------+------------+
 */
@unmanaged
class HctxTags {
  flags: u32;
  state: u32;
  nr_active: u32;
  wait_index: u32;
}

const HCTX_TAGS_BYTES: u32 = <u32>offsetof<HctxTags>();
const HCTX_FLAGS: usize = offsetof<HctxTags>("flags");
const HCTX_STATE: usize = offsetof<HctxTags>("state");
const HCTX_NR_ACTIVE: usize = offsetof<HctxTags>("nr_active");
const HCTX_WAIT_INDEX: usize = offsetof<HctxTags>("wait_index");

// ---------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------

/** The normal or reserved bitmap header: at fixed offsets behind blk_mq_tags (as if embedded). */
@inline function tags_bt(tags: usize, reserved: bool): usize {
  return tags + TAGS_HDR_BYTES + (reserved ? <usize>BT_HDR_BYTES : 0);
}

@inline function is_modern(tags: usize): bool {
  return load<u32>(tags, TAGS_ERA) == TAGS_ERA_MODERN;
}

@inline function bt_word(bt: usize, index: u32): usize {
  return <usize>load<u32>(bt, BT_MAP) + ((<usize>index) << SB_WORD_STRIDE_SHIFT);
}

@inline function bt_bs(bt: usize, q: u32): usize {
  return bt + BT_BS + ((<usize>q) << BS_SHIFT);
}

@inline function align_up(x: usize, a: usize): usize {
  return (x + a - 1) & ~(a - 1);
}

@inline function mask_to_queues(mask: u32, reserved: bool): u32 {
  return reserved ? mask << RESERVED_QUEUE_BASE : mask;
}

/** `1 << q` for a queue index, or 0 for -1. */
@inline function queue_bit(q: i32, reserved: bool): u32 {
  return q < 0 ? 0 : (<u32>1) << (<u32>q + (reserved ? RESERVED_QUEUE_BASE : 0));
}

// ---------------------------------------------------------------------------
// v4.4 bitmap: bt_alloc, bt_update_count
// ---------------------------------------------------------------------------

/**
 * Mirrors `bt_update_count()`: word depths, `wake_cnt = clamp(depth/8, 1, 8)`
 * and the depth. Quirk kept from v4.4: for depth 0 the word depths are left
 * as they were (the loop is guarded by `if (depth)`).
 */
function bt_update_count(bt: usize, depth: u32): void {
  const tags_per_word: u32 = (<u32>1) << load<u32>(bt, BT_SHIFT);
  if (depth != 0) {
    const map_nr = load<u32>(bt, BT_MAP_NR);
    let map_depth = depth;
    for (let i: u32 = 0; i < map_nr; i++) {
      const d = map_depth < tags_per_word ? map_depth : tags_per_word;
      store<u32>(bt_word(bt, i), d, BW_DEPTH);
      map_depth -= d;
    }
  }
  let wake_cnt = BT_WAIT_BATCH;
  if (wake_cnt > depth / BT_WAIT_QUEUES) {
    wake_cnt = depth / BT_WAIT_QUEUES;
    if (wake_cnt < 1) wake_cnt = 1;
  }
  store<u32>(bt, wake_cnt, BT_WAKE_CNT);
  store<u32>(bt, depth, BT_DEPTH);
}

/**
 * Mirrors `bt_alloc()` on caller memory: the shift (bits_per_word) starts at
 * 6 and, for depth >= 4, shrinks while `(1 << shift) * 4 > depth`; map_nr is
 * `ceil(depth >> shift)`; every wait queue starts with `wait_cnt = wake_cnt`.
 */
function bt_init(bt: usize, words: usize, depth: u32): void {
  const shift = sbitmap_calculate_shift(depth);
  const map_nr = sb_map_nr(depth, shift);
  store<u32>(bt, shift, BT_SHIFT);
  store<u32>(bt, ((<u32>1) << shift) - 1, BT_BIT_MASK);
  store<u32>(bt, map_nr, BT_MAP_NR);
  store<u32>(bt, <u32>words, BT_MAP);
  store<u32>(bt, 0, BT_WAKE_INDEX);
  memory.fill(words, 0, (<usize>map_nr) << SB_WORD_STRIDE_SHIFT);
  bt_update_count(bt, depth);
  const wake_cnt = load<u32>(bt, BT_WAKE_CNT);
  for (let q: u32 = 0; q < BT_WAIT_QUEUES; q++) {
    store<u32>(bt_bs(bt, q), wake_cnt, BS_WAIT_CNT);
    store<u32>(bt_bs(bt, q), 0, BS_WAITERS);
  }
  store<u32>(bt, 0, BT_NR_WAITERS);
}

/** `wake_up()` of queue q: its non-exclusive waiters all leave it (autoremove). */
@inline function bt_wake_queue(bt: usize, q: u32): void {
  const waiters = bt_bs(bt, q) + BS_WAITERS;
  atomic_add_return(bt + BT_NR_WAITERS, -atomic_read(waiters));
  atomic_set(waiters, 0);
}

// ---------------------------------------------------------------------------
// v4.4 bitmap: allocation
// ---------------------------------------------------------------------------

/**
 * Mirrors `hctx_may_queue()` (v4.4; v6.18 has the same arithmetic): whether
 * `hctx` may take another tag from bitmap `bt` of a shared map. Allowed at
 * once for a NULL hctx (reserved tags), an hctx that is not tag-shared or not
 * active, a bitmap of depth 1, or no active users; otherwise while
 * `nr_active < max((depth + users - 1) / users, 4)`.
 */
function __hctx_may_queue(tags: usize, hctx: usize, bt: usize): bool {
  if (hctx == 0 || (load<u32>(hctx, HCTX_FLAGS) & BLK_MQ_F_TAG_SHARED) == 0) return true;
  if ((atomic_read(hctx + HCTX_STATE) & (1 << BLK_MQ_S_TAG_ACTIVE)) == 0) return true;
  const depth = load<u32>(bt, BT_DEPTH);
  if (depth == 1) return true;
  const users = atomic_read(tags + TAGS_ACTIVE_QUEUES);
  if (users == 0) return true;
  let limit = (depth + users - 1) / users;
  if (limit < 4) limit = 4;
  return atomic_read(hctx + HCTX_NR_ACTIVE) < limit;
}

/**
 * Mirrors `__bt_get_word()`: the next clear bit at or after `last_tag` in one
 * word, claimed with test-and-set. When nothing is found and the search began
 * at a non-zero offset it restarts once from bit 0, unless `nowrap` (RR). A
 * lost race continues at `tag + 1`, reset to 0 when `>= depth - 1`.
 *
 * `org_last_tag` is the offset the word's search began at (equal to
 * `last_tag` on entry, unless a caller already made the first probe).
 */
@inline function __bt_get_word(w: usize, last_tag: u32, org_last_tag: u32, nowrap: bool): i32 {
  const depth = load<u32>(w, BW_DEPTH);
  while (true) {
    const tag = find_next_zero_bit(word_load(w + BW_WORD), last_tag);
    if (tag >= depth) {
      if (org_last_tag != 0 && last_tag != 0 && !nowrap) {
        last_tag = org_last_tag = 0;
        continue;
      }
      return -1;
    }
    debug_race(w + BW_WORD, tag);
    if (!word_test_and_set_bit(w + BW_WORD, tag)) return <i32>tag;
    last_tag = tag + 1;
    if (last_tag >= depth - 1) last_tag = 0;
  }
  return -1;
}

/**
 * The `done:` label of `__bt_get()`: the hint moves to `tag + 1` (0 once
 * `>= depth - 1`) only if the tag is the starting hint or the policy is RR.
 */
@inline function bt_update_hint(tags: usize, bt: usize, hint: usize, tag: u32, org_last_tag: u32): void {
  if (hint != 0) bt_update_hint_to(tags, bt, hint, tag, org_last_tag);
}

/** {@link bt_update_hint} for a hint word known to exist. */
@inline function bt_update_hint_to(tags: usize, bt: usize, hint: usize, tag: u32, org_last_tag: u32): void {
  if (tag != org_last_tag) {
    if (load<u32>(tags, TAGS_POLICY) != BLK_TAG_ALLOC_RR) return;
  }
  let next = tag + 1;
  if (next >= load<u32>(bt, BT_DEPTH) - 1) next = 0;
  store<u32>(hint, next);
}

/**
 * The loop of `__bt_get()` from a given point: `map_nr` words from `index`
 * (wrapping), the first searched by `__bt_get_word()` from the state
 * (`last_tag`, `org_last_tag`), the others from bit 0. On failure the hint
 * becomes 0.
 */
function __bt_get_from(tags: usize, bt: usize, hint: usize, hint_value: u32, index: u32, last_tag: u32, org_last_tag: u32): i32 {
  const shift = load<u32>(bt, BT_SHIFT);
  const map_nr = load<u32>(bt, BT_MAP_NR);
  const rr = load<u32>(tags, TAGS_POLICY) == BLK_TAG_ALLOC_RR;
  for (let i: u32 = 0; i < map_nr; i++) {
    const bit = __bt_get_word(bt_word(bt, index), last_tag, org_last_tag, rr);
    if (bit != -1) {
      const tag = <u32>bit + (index << shift);
      bt_update_hint(tags, bt, hint, tag, hint_value);
      return <i32>tag;
    }
    // Jump to the next word and reset the last tag to its first bit.
    last_tag = org_last_tag = 0;
    if (++index >= map_nr) index = 0;
  }
  if (hint != 0) store<u32>(hint, 0);
  return -1;
}

/**
 * Mirrors `__bt_get()`: the fairness check, then `map_nr` words from the
 * hint's word (wrapping), the first from the hint's bit. On failure the hint
 * becomes 0; on success it moves to `tag + 1` (0 once `>= depth - 1`) only if
 * the tag is the hint itself or the policy is RR.
 *
 * The first probe of the first word is made here, straight-line: when it
 * wins, that is all v4.4 does. Anything else (nothing free at or after the
 * offset, a lost race) continues in `__bt_get_from()` in the state the
 * kernel's loops would be in, so the result is the same.
 *
 * @param hint the ctx's `last_tag`, or 0 for a local zero hint (reserved tags)
 * @returns the bit in this bitmap, or -1
 */
@inline function __bt_get(tags: usize, hctx: usize, bt: usize, hint: usize): i32 {
  if (hctx != 0 && !__hctx_may_queue(tags, hctx, bt)) return -1;
  const shift = load<u32>(bt, BT_SHIFT);
  const hint_value: u32 = hint != 0 ? load<u32>(hint) : 0;
  const index = hint_value >> shift;
  if (index >= load<u32>(bt, BT_MAP_NR)) {
    if (load<u32>(bt, BT_MAP_NR) == 0) {
      if (hint != 0) store<u32>(hint, 0);
      return -1;
    }
    // Reachable only after a resize to depth 0 (bt_update_count keeps the
    // word depths, and tag + 1 never wraps): v4.4 would read bt->map[map_nr].
    if (DEBUG) assert(false, "__bt_get: last_tag is past bt->map (v4.4 reads out of bounds)");
    return __bt_get_from(tags, bt, hint, hint_value, 0, 0, 0);
  }
  const off = hint_value & load<u32>(bt, BT_BIT_MASK);
  const w = bt_word(bt, index);
  const depth = load<u32>(w, BW_DEPTH);
  const bit = find_next_zero_bit(word_load(w + BW_WORD), off);
  if (bit >= depth) return __bt_get_from(tags, bt, hint, hint_value, index, off, off);
  debug_race(w + BW_WORD, bit);
  if (word_test_and_set_bit(w + BW_WORD, bit)) {
    let last_tag = bit + 1;
    if (last_tag >= depth - 1) last_tag = 0;
    return __bt_get_from(tags, bt, hint, hint_value, index, last_tag, off);
  }
  const tag = bit + (index << shift);
  bt_update_hint(tags, bt, hint, tag, hint_value);
  return <i32>tag;
}

// ---------------------------------------------------------------------------
// v4.4 bitmap: freeing and wake-ups
// ---------------------------------------------------------------------------

/**
 * Mirrors `bt_wake_ptr()`: the first queue from `wake_index` with waiters;
 * `wake_index` moves there. @returns the queue, or -1 when nobody waits
 */
@inline function bt_wake_ptr(bt: usize): i32 {
  let wake_index = atomic_read(bt + BT_WAKE_INDEX);
  for (let i: u32 = 0; i < BT_WAIT_QUEUES; i++) {
    if (atomic_read(bt_bs(bt, wake_index) + BS_WAITERS) != 0) {
      const o = atomic_read(bt + BT_WAKE_INDEX);
      if (wake_index != o) atomic_cmpxchg(bt + BT_WAKE_INDEX, o, wake_index);
      return <i32>wake_index;
    }
    wake_index = wait_index_inc(wake_index);
  }
  return -1;
}

/**
 * The wake half of `bt_clear_tag()`: counts one free against the first queue
 * with waiters; every `wake_cnt` frees that queue is woken whole (waiters are
 * non-exclusive and leave the queue: `waiters` drops to 0) and `wake_index`
 * advances. @returns the queue to wake (0-7), or -1
 */
function bt_wake_count(bt: usize): i32 {
  const q = bt_wake_ptr(bt);
  if (q < 0) return -1;
  const bs = bt_bs(bt, <u32>q);
  let wait_cnt = <i32>atomic_add_return(bs + BS_WAIT_CNT, <u32>-1);
  if (wait_cnt < 0) wait_cnt = <i32>atomic_add_return(bs + BS_WAIT_CNT, 1);
  if (wait_cnt == 0) {
    atomic_add_return(bs + BS_WAIT_CNT, load<u32>(bt, BT_WAKE_CNT));
    wait_index_atomic_inc(bt + BT_WAKE_INDEX);
    bt_wake_queue(bt, <u32>q);
    return q;
  }
  return -1;
}

/**
 * Mirrors `bt_clear_tag()`: clears the bit, then runs the wake logic
 * ({@link bt_wake_count}) unless nobody waits, in which case
 * `bt_wake_ptr()` would find no queue. The full barrier after the clear is
 * implicit: WASM atomics are sequentially consistent.
 *
 * @returns the queue to wake (0-7), or -1
 */
@inline function bt_clear_tag(bt: usize, bit: u32): i32 {
  const shift = load<u32>(bt, BT_SHIFT);
  word_clear_bits(bt_word(bt, bit >> shift) + BW_WORD, (<u64>1) << (<u64>(bit & ((1 << shift) - 1))));
  if (atomic_read(bt + BT_NR_WAITERS) == 0) return -1;
  return bt_wake_count(bt);
}

/** Whether bit `bit` of a v4.4 bitmap is set (any allocated word; depth ignored). */
@inline function bt_test_bit(bt: usize, bit: u32): bool {
  const shift = load<u32>(bt, BT_SHIFT);
  const index = bit >> shift;
  if (index >= load<u32>(bt, BT_MAP_NR)) return false;
  return (word_load(bt_word(bt, index) + BW_WORD) & ((<u64>1) << (<u64>(bit & ((1 << shift) - 1))))) != 0;
}

/** Wake-all of one v4.4 bitmap: every queue with waiters, from `wake_index`. */
function bt_wake_all(bt: usize): u32 {
  let mask: u32 = 0;
  let wake_index = atomic_read(bt + BT_WAKE_INDEX);
  for (let i: u32 = 0; i < BT_WAIT_QUEUES; i++) {
    if (atomic_read(bt_bs(bt, wake_index) + BS_WAITERS) != 0) {
      bt_wake_queue(bt, wake_index);
      mask |= 1 << wake_index;
    }
    wake_index = wait_index_inc(wake_index);
  }
  return mask;
}

/** Mirrors `bt_unused_tags()`'s count: set bits within each word's depth. */
function bt_used(bt: usize): u32 {
  const map_nr = load<u32>(bt, BT_MAP_NR);
  let used: u32 = 0;
  for (let i: u32 = 0; i < map_nr; i++) {
    const w = bt_word(bt, i);
    used += word_weight(word_load(w + BW_WORD), load<u32>(w, BW_DEPTH));
  }
  return used;
}

// ---------------------------------------------------------------------------
// blk_mq_tags: set-up
// ---------------------------------------------------------------------------

/**
 * The queue-depth rules of `blk_mq_alloc_tag_set()` (v4.4) for one map:
 * rejects depth 0 and `queue_depth < reserved + BLK_MQ_TAG_MIN`, caps at
 * `BLK_MQ_MAX_DEPTH` (10240). A cap that leaves no normal tag ends in
 * -ENOMEM, as v4.4's halving retry in `blk_mq_alloc_rq_maps()` does.
 *
 * @returns the depth to use, or -EINVAL (-22) / -ENOMEM (-12)
 */
export function blk_mq_tag_set_depth(queue_depth: u32, reserved: u32): i32 {
  if (queue_depth == 0 || reserved >= queue_depth) return -EINVAL;
  const depth = queue_depth > BLK_MQ_MAX_DEPTH ? BLK_MQ_MAX_DEPTH : queue_depth;
  if (reserved >= depth) return -ENOMEM;
  return <i32>depth;
}

/** Whether (nr_tags, reserved) is a map this port lays out. */
@inline function tags_args_ok(nr_tags: u32, reserved: u32): bool {
  return nr_tags >= 1 && nr_tags <= BLK_MQ_MAX_DEPTH && reserved < nr_tags;
}

/** Bytes before the words: headers, rq_hctx, and slack to align the words to 64. */
@inline function tags_words_offset(nr_tags: u32): usize {
  return <usize>(TAGS_HDR_BYTES + 2 * BT_HDR_BYTES) + align_up((<usize>nr_tags) << 2, 8);
}

/**
 * Bytes a map of `nr_tags` tags (`reserved` of them reserved) needs, for
 * either era, from an 8-byte aligned address.
 *
 * @returns the size, or -EINVAL when not 1 <= nr_tags <= 10240 and reserved < nr_tags
 */
export function blk_mq_tags_bytes(nr_tags: u32, reserved: u32): i32 {
  if (!tags_args_ok(nr_tags, reserved)) return -EINVAL;
  return <i32>(tags_words_offset(nr_tags) + 56 + <usize>sbitmap_words_bytes(nr_tags - reserved) +
    <usize>sbitmap_words_bytes(reserved));
}

/**
 * Mirrors `blk_mq_init_tags()` + `blk_mq_init_bitmap_tags()` (v4.4) or
 * `blk_mq_init_bitmaps()` (v6.18) on `blk_mq_tags_bytes()` bytes at `tags`.
 * The memory need not be zeroed. Hints are set up separately
 * ({@link blk_mq_tag_init_hint}).
 *
 * @param policy BLK_TAG_ALLOC_FIFO (0) or BLK_TAG_ALLOC_RR (1)
 * @param era TAGS_ERA_V4_4 (0) or TAGS_ERA_MODERN (1)
 * @param seed state of the random start hints (modern)
 * @returns 0, or -EINVAL for bad sizes, policy, era, or an address not 8-byte aligned
 */
export function blk_mq_init_tags(tags: usize, nr_tags: u32, reserved: u32, policy: u32, era: u32, seed: u32): i32 {
  if (!tags_args_ok(nr_tags, reserved) || policy > BLK_TAG_ALLOC_RR || era > TAGS_ERA_MODERN) return -EINVAL;
  if ((tags & 7) != 0 || tags == 0) return -EINVAL;
  const depth = nr_tags - reserved;
  const normal = tags_bt(tags, false);
  const res = tags_bt(tags, true);
  const rq_hctx = res + BT_HDR_BYTES;
  const words = align_up(tags + tags_words_offset(nr_tags), 64);
  const res_words = words + <usize>sbitmap_words_bytes(depth);
  store<u32>(tags, nr_tags, TAGS_NR_TAGS);
  store<u32>(tags, reserved, TAGS_NR_RESERVED);
  store<u32>(tags, 0, TAGS_ACTIVE_QUEUES);
  store<u32>(tags, policy, TAGS_POLICY);
  store<u32>(tags, era, TAGS_ERA);
  store<u32>(tags, <u32>rq_hctx, TAGS_RQ_HCTX);
  store<u32>(tags, depth, TAGS_MAX_DEPTH);
  store<u32>(tags, seed, TAGS_PRNG);
  memory.fill(rq_hctx, 0, (<usize>nr_tags) << 2);
  if (era == TAGS_ERA_MODERN) {
    const rr = policy == BLK_TAG_ALLOC_RR;
    sbitmap_queue_init(normal, words, depth, rr);
    sbitmap_queue_init(res, res_words, reserved, rr);
  } else {
    bt_init(normal, words, depth);
    bt_init(res, res_words, reserved);
  }
  return 0;
}

/**
 * Initialises one ctx's hint word for the normal (or reserved) map. v4.4:
 * `last_tag` starts at 0 (the ctx is zeroed; `blk_mq_tag_init_last_tag()` is
 * never called). Modern: `init_alloc_hint()`, a random value below depth
 * unless round-robin.
 */
export function blk_mq_tag_init_hint(tags: usize, hint: usize, reserved: i32): void {
  if (is_modern(tags)) {
    sbitmap_init_hint(tags_bt(tags, reserved != 0), hint, tags + TAGS_PRNG);
  } else {
    store<u32>(hint, 0);
  }
}

// ---------------------------------------------------------------------------
// blk_mq_tags: get and put
// ---------------------------------------------------------------------------

/**
 * Mirrors `__blk_mq_tag_busy()` behind `blk_mq_tag_busy()`: on a tag-shared
 * hctx, test-and-set BLK_MQ_S_TAG_ACTIVE and count the hctx in
 * `active_queues` the first time (modern also recomputes `wake_batch` for
 * the new number of users).
 *
 * @returns 1 when the hctx is tag-shared (the caller counts the request in
 *   nr_active), 0 when not
 */
export function blk_mq_tag_busy(tags: usize, hctx: usize): i32 {
  if ((load<u32>(hctx, HCTX_FLAGS) & BLK_MQ_F_TAG_SHARED) == 0) return 0;
  const active: u32 = 1 << BLK_MQ_S_TAG_ACTIVE;
  if ((atomic_read(hctx + HCTX_STATE) & active) != 0) return 1;
  // test_and_set_bit
  while (true) {
    const old = atomic_read(hctx + HCTX_STATE);
    if ((old & active) != 0) return 1;
    if (atomic_cmpxchg(hctx + HCTX_STATE, old, old | active) == old) break;
  }
  const users = atomic_add_return(tags + TAGS_ACTIVE_QUEUES, 1);
  if (is_modern(tags)) update_wake_batch(tags, users);
  return 1;
}

/** Mirrors v6.18 `blk_mq_update_wake_batch()`. */
function update_wake_batch(tags: usize, users: u32): void {
  if (users == 0) return;
  sbitmap_queue_recalculate_wake_batch(tags_bt(tags, false), users);
  sbitmap_queue_recalculate_wake_batch(tags_bt(tags, true), users);
}

/**
 * Mirrors `blk_mq_get_tag()` (v4.4: `__blk_mq_get_tag` / `__blk_mq_get_reserved_tag`
 * over `__bt_get`; modern: v6.18 `__blk_mq_get_tag` over `sbitmap_get`) for one
 * attempt that does not sleep, plus the tag accounting of
 * `__blk_mq_alloc_request()`: on a tag-shared hctx the tag is counted in
 * `nr_active` (REQ_MQ_INFLIGHT). v4.4 marks the hctx busy **after** a tag was
 * won; v6.18 before trying.
 *
 * The fairness check (`hctx_may_queue`) applies to normal tags only; v4.4
 * searches reserved tags from a local zero hint.
 *
 * The common case (v4.4, a normal tag, no tag-shared hctx) runs here; every
 * other case in {@link __blk_mq_get_tag_all}, which handles all of them.
 * Calls sit in tail position so that the fast path keeps its values in
 * registers.
 *
 * @param hctx the hctx's tag fields (HCTX_TAGS_BYTES), or 0 for none
 * @param hint the ctx's hint word for the map asked (v4.4 ignores it for reserved)
 * @returns the tag (reserved tags first, normal tags from nr_reserved), or -1
 */
export function blk_mq_get_tag(tags: usize, hctx: usize, hint: usize, reserved: i32): i32 {
  const r = blk_mq_get_tag_fast(tags, hctx, hint, reserved);
  return r >= 0 ? r : blk_mq_get_tag_finish(tags, hctx, hint, reserved, r);
}

// The fast paths below make no call, so that a loop around them (the bench)
// keeps its values in registers. Besides a result they return one of these;
// the matching *_finish function then completes the operation exactly.

/** Not the common case (nothing was done): run the function for every case. */
const FAST_OTHER: i32 = -2;
/** get: the first probe found no clear bit at or after the hint's offset. */
const FAST_NOT_FOUND: i32 = -3;
/** get: the first probe lost the race for bit b; returned as FAST_LOST_RACE - b. */
const FAST_LOST_RACE: i32 = -4;
/** put: the tag is freed and tasks wait: run the wake logic. */
const FAST_WAKE: i32 = -3;

/**
 * The common case of {@link blk_mq_get_tag}: v4.4, a normal tag, no tag-shared
 * hctx (for others `hctx_may_queue` and `blk_mq_tag_busy` do nothing), a hint
 * inside the map; and of `__bt_get()` only its first probe, which is all v4.4
 * does when that probe wins.
 *
 * @returns the tag, or a FAST_* value (nothing changed)
 */
@inline function blk_mq_get_tag_fast(tags: usize, hctx: usize, hint: usize, reserved: i32): i32 {
  if (reserved != 0) return FAST_OTHER;
  if (is_modern(tags)) return FAST_OTHER;
  if (hctx != 0) {
    if ((load<u32>(hctx, HCTX_FLAGS) & BLK_MQ_F_TAG_SHARED) != 0) return FAST_OTHER;
  }
  const bt = tags_bt(tags, false);
  const shift = load<u32>(bt, BT_SHIFT);
  const hint_value = load<u32>(hint);
  const index = hint_value >> shift;
  if (index >= load<u32>(bt, BT_MAP_NR)) return FAST_OTHER;
  const off = hint_value & load<u32>(bt, BT_BIT_MASK);
  const w = bt_word(bt, index);
  const depth = load<u32>(w, BW_DEPTH);
  const bit = find_next_zero_bit(word_load(w + BW_WORD), off);
  if (bit >= depth) return FAST_NOT_FOUND;
  debug_race(w + BW_WORD, bit);
  if (word_test_and_set_bit(w + BW_WORD, bit)) return FAST_LOST_RACE - <i32>bit;
  const tag = bit + (index << shift);
  bt_update_hint_to(tags, bt, hint, tag, hint_value);
  return <i32>(tag + load<u32>(tags, TAGS_NR_RESERVED));
}

/**
 * Completes {@link blk_mq_get_tag} after its fast path returned `r`: the
 * search goes on in the state `__bt_get()`'s loops would be in.
 */
function blk_mq_get_tag_finish(tags: usize, hctx: usize, hint: usize, reserved: i32, r: i32): i32 {
  if (r == FAST_OTHER) return __blk_mq_get_tag_all(tags, hctx, hint, reserved);
  const bt = tags_bt(tags, false);
  const shift = load<u32>(bt, BT_SHIFT);
  const hint_value = load<u32>(hint);
  const index = hint_value >> shift;
  const off = hint_value & load<u32>(bt, BT_BIT_MASK);
  let last_tag = off;
  if (r != FAST_NOT_FOUND) {
    // __bt_get_word() continues at the lost bit + 1, reset at depth - 1.
    last_tag = <u32>(FAST_LOST_RACE - r) + 1;
    if (last_tag >= load<u32>(bt_word(bt, index), BW_DEPTH) - 1) last_tag = 0;
  }
  const bit = __bt_get_from(tags, bt, hint, hint_value, index, last_tag, off);
  return bit < 0 ? BLK_MQ_TAG_FAIL : bit + <i32>load<u32>(tags, TAGS_NR_RESERVED);
}

/** {@link blk_mq_get_tag} for every case. */
function __blk_mq_get_tag_all(tags: usize, hctx: usize, hint: usize, reserved: i32): i32 {
  const modern = is_modern(tags);
  if (modern && hctx != 0) blk_mq_tag_busy(tags, hctx);
  let tag: i32;
  if (reserved != 0) {
    if (load<u32>(tags, TAGS_NR_RESERVED) == 0) return BLK_MQ_TAG_FAIL; // WARN_ON_ONCE in the kernel
    const bt = tags_bt(tags, true);
    tag = modern ? sbitmap_get(bt, hint, tags + TAGS_PRNG) : __bt_get(tags, 0, bt, 0);
  } else {
    const bt = tags_bt(tags, false);
    if (modern) {
      tag = __hctx_may_queue(tags, hctx, bt) ? sbitmap_get(bt, hint, tags + TAGS_PRNG) : -1;
    } else {
      tag = __bt_get(tags, hctx, bt, hint);
    }
    if (tag >= 0) tag += <i32>load<u32>(tags, TAGS_NR_RESERVED);
  }
  if (tag < 0) return BLK_MQ_TAG_FAIL;
  if (hctx != 0 && (modern || blk_mq_tag_busy(tags, hctx) != 0)) {
    if ((load<u32>(hctx, HCTX_FLAGS) & BLK_MQ_F_TAG_SHARED) != 0) {
      atomic_add_return(hctx + HCTX_NR_ACTIVE, 1);
      store<u32>(<usize>load<u32>(tags, TAGS_RQ_HCTX) + ((<usize>tag) << 2), <u32>hctx);
    }
  }
  return tag;
}

/**
 * Whether `tag` is allocated: its bit is set (modern: and not pending in
 * `cleared`). @returns 1, 0, or -EINVAL for tag >= nr_tags
 */
export function blk_mq_tag_allocated(tags: usize, tag: u32): i32 {
  if (tag >= load<u32>(tags, TAGS_NR_TAGS)) return -EINVAL;
  const nr_reserved = load<u32>(tags, TAGS_NR_RESERVED);
  const reserved = tag < nr_reserved;
  return tag_test(tags, tags_bt(tags, reserved), reserved ? tag : tag - nr_reserved) ? 1 : 0;
}

/** Whether `bit` of bitmap `bt` is allocated, for either era. */
@inline function tag_test(tags: usize, bt: usize, bit: u32): bool {
  return is_modern(tags) ? sbitmap_test_bit(bt, bit) : bt_test_bit(bt, bit);
}

/**
 * Mirrors the tag part of `__blk_mq_free_request()` then `blk_mq_put_tag()`:
 * drops the request from its hctx's `nr_active` if it was counted, clears the
 * bit and runs the wake logic. v4.4 FIFO: the freeing ctx's hint becomes the
 * freed bit (normal tags); RR leaves it. Modern: deferred clear, counted
 * wake-up, and the hint update of `sbitmap_update_cpu_hint()`.
 *
 * Putting a tag that is not allocated is a BUG in DEBUG builds and -EINVAL in
 * release builds; nothing changes in either case.
 *
 * The common case (v4.4, an allocated normal tag) runs here; every other
 * case in {@link __blk_mq_put_tag_all}. The hint is written right after the
 * clear instead of after the wake logic, which never reads it.
 *
 * @param hint the freeing ctx's hint word for the map the tag belongs to
 * @returns a mask of wait queues to wake (bits 0-7 normal, 8-15 reserved),
 *   or -EINVAL (-22)
 */
export function blk_mq_put_tag(tags: usize, tag: u32, hint: usize): i32 {
  const r = blk_mq_put_tag_fast(tags, tag, hint);
  return r >= 0 ? r : blk_mq_put_tag_finish(tags, tag, hint, r);
}

/**
 * The common case of {@link blk_mq_put_tag}: v4.4, an allocated normal tag.
 * @returns 0 (done, nobody waits), FAST_WAKE (freed; run the wake logic) or
 *   FAST_OTHER (nothing changed)
 */
@inline function blk_mq_put_tag_fast(tags: usize, tag: u32, hint: usize): i32 {
  // One compare for nr_reserved <= tag < nr_tags: below, the u32 wraps.
  const bit = tag - load<u32>(tags, TAGS_NR_RESERVED);
  if (bit >= load<u32>(tags, TAGS_MAX_DEPTH)) return FAST_OTHER;
  if (is_modern(tags)) return FAST_OTHER;
  const bt = tags_bt(tags, false);
  const shift = load<u32>(bt, BT_SHIFT);
  const index = bit >> shift;
  if (index >= load<u32>(bt, BT_MAP_NR)) return FAST_OTHER;
  const m: u64 = (<u64>1) << (<u64>(bit & load<u32>(bt, BT_BIT_MASK)));
  const w = bt_word(bt, index) + BW_WORD;
  if ((word_load(w) & m) == 0) return FAST_OTHER;
  const slot = <usize>load<u32>(tags, TAGS_RQ_HCTX) + ((<usize>tag) << 2);
  const hctx = <usize>load<u32>(slot);
  if (hctx != 0) {
    store<u32>(slot, 0);
    atomic_add_return(hctx + HCTX_NR_ACTIVE, <u32>-1);
  }
  word_clear_bits(w, m);
  if (load<u32>(tags, TAGS_POLICY) == BLK_TAG_ALLOC_FIFO) store<u32>(hint, bit);
  return atomic_read(bt + BT_NR_WAITERS) == 0 ? 0 : FAST_WAKE;
}

/** Completes {@link blk_mq_put_tag} after its fast path returned `r`. */
function blk_mq_put_tag_finish(tags: usize, tag: u32, hint: usize, r: i32): i32 {
  if (r == FAST_OTHER) return __blk_mq_put_tag_all(tags, tag, hint);
  return <i32>queue_bit(bt_wake_count(tags_bt(tags, false)), false);
}

/** {@link blk_mq_put_tag} for every case. */
function __blk_mq_put_tag_all(tags: usize, tag: u32, hint: usize): i32 {
  const nr_reserved = load<u32>(tags, TAGS_NR_RESERVED);
  const reserved = tag < nr_reserved;
  const bit = reserved ? tag : tag - nr_reserved;
  const bt = tags_bt(tags, reserved);
  if (tag >= load<u32>(tags, TAGS_NR_TAGS) || !tag_test(tags, bt, bit)) {
    if (DEBUG) assert(false, "blk_mq_put_tag: the tag is not allocated");
    return -EINVAL;
  }
  const slot = <usize>load<u32>(tags, TAGS_RQ_HCTX) + ((<usize>tag) << 2);
  const hctx = <usize>load<u32>(slot);
  if (hctx != 0) {
    store<u32>(slot, 0);
    atomic_add_return(hctx + HCTX_NR_ACTIVE, <u32>-1);
  }
  if (is_modern(tags)) return <i32>mask_to_queues(sbitmap_queue_clear(bt, bit, hint), reserved);
  const q = bt_clear_tag(bt, bit);
  if (!reserved && load<u32>(tags, TAGS_POLICY) == BLK_TAG_ALLOC_FIFO) store<u32>(hint, bit);
  return <i32>queue_bit(q, reserved);
}

// ---------------------------------------------------------------------------
// blk_mq_tags: shared-map accounting, wake-ups, resize
// ---------------------------------------------------------------------------

/**
 * Mirrors `blk_mq_tag_wakeup_all()`: every normal queue with waiters, from
 * `wake_index`, and reserved queue 0 if asked (v4.4). Modern wakes one
 * exclusive waiter per queue (`sbitmap_queue_wake_all`), all 8 reserved
 * queues if asked.
 *
 * @returns a mask of wait queues to wake
 */
export function blk_mq_tag_wakeup_all(tags: usize, include_reserve: i32): i32 {
  if (is_modern(tags)) {
    let mask = sbitmap_queue_wake_all(tags_bt(tags, false));
    if (include_reserve != 0) mask |= mask_to_queues(sbitmap_queue_wake_all(tags_bt(tags, true)), true);
    return <i32>mask;
  }
  let mask = bt_wake_all(tags_bt(tags, false));
  if (include_reserve != 0) {
    const res = tags_bt(tags, true);
    if (atomic_read(bt_bs(res, 0) + BS_WAITERS) != 0) {
      bt_wake_queue(res, 0);
      mask |= 1 << RESERVED_QUEUE_BASE;
    }
  }
  return <i32>mask;
}

/**
 * Mirrors `__blk_mq_tag_idle()` behind `blk_mq_tag_idle()`: on a tag-shared
 * hctx, test-and-clear BLK_MQ_S_TAG_ACTIVE; if it was set, leave
 * `active_queues` and wake every normal waiter.
 *
 * @returns a mask of wait queues to wake
 */
export function blk_mq_tag_idle(tags: usize, hctx: usize): i32 {
  if ((load<u32>(hctx, HCTX_FLAGS) & BLK_MQ_F_TAG_SHARED) == 0) return 0;
  const active: u32 = 1 << BLK_MQ_S_TAG_ACTIVE;
  while (true) {
    const old = atomic_read(hctx + HCTX_STATE);
    if ((old & active) == 0) return 0;
    if (atomic_cmpxchg(hctx + HCTX_STATE, old, old & ~active) == old) break;
  }
  const users = atomic_add_return(tags + TAGS_ACTIVE_QUEUES, <u32>-1);
  if (is_modern(tags)) update_wake_batch(tags, users);
  return blk_mq_tag_wakeup_all(tags, 0);
}

/** `hctx_may_queue()` for a normal (reserved = 0) or reserved allocation. @returns 1 or 0 */
export function hctx_may_queue(tags: usize, hctx: usize, reserved: i32): i32 {
  return reserved != 0 || __hctx_may_queue(tags, hctx, tags_bt(tags, false)) ? 1 : 0;
}

/**
 * Mirrors `blk_mq_tag_update_depth()` for an `nr_requests` write: the normal
 * depth becomes `nr - nr_reserved`; rejected with -EINVAL above `nr_tags`
 * (v4.4's check) or above the depth the map was built with (the port's:
 * there are no words beyond it). v4.4 recomputes word depths and wake_cnt,
 * keeps map_nr, shift and every wait_cnt, and wakes all normal waiters.
 * Modern runs `sbitmap_queue_resize()` (map_nr follows the depth) and wakes
 * nobody.
 *
 * @returns a mask of wait queues to wake, or -EINVAL (-22)
 */
export function blk_mq_tag_update_depth(tags: usize, nr: u32): i32 {
  const tdepth = nr - load<u32>(tags, TAGS_NR_RESERVED);
  if (tdepth > load<u32>(tags, TAGS_NR_TAGS) || tdepth > load<u32>(tags, TAGS_MAX_DEPTH)) return -EINVAL;
  if (is_modern(tags)) {
    sbitmap_queue_resize(tags_bt(tags, false), tdepth);
    return 0;
  }
  bt_update_count(tags_bt(tags, false), tdepth);
  return blk_mq_tag_wakeup_all(tags, 0);
}

/**
 * Modern only: `sbitmap_queue_wake_up(bt, nr)` on one map, the fake wake-up
 * v6.18 `blk_mq_get_tag()` sends to the previous map when a sleeper moved to
 * another hctx. @returns a mask of wait queues to wake, or -EINVAL for v4.4
 */
export function blk_mq_tag_wake_up(tags: usize, reserved: i32, nr: u32): i32 {
  if (!is_modern(tags)) return -EINVAL;
  return <i32>mask_to_queues(sbitmap_queue_wake_up(tags_bt(tags, reserved != 0), nr), reserved != 0);
}

// ---------------------------------------------------------------------------
// Waiting: the state half of bt_get() / blk_mq_get_tag()'s sleep loop
// ---------------------------------------------------------------------------

/**
 * Mirrors `bt_wait_ptr()` (v4.4) / `bt_wait_ptr()` + `sbq_wait_ptr()` (v6.18):
 * the wait queue for a sleeping allocation, `hctx->wait_index` advancing
 * round-robin. v4.4 reserved allocations (NULL hctx) always use queue 0 of
 * the reserved map; v6.18 rotates through the hctx for both maps.
 *
 * @returns a wait-queue id (0-7 normal, 8-15 reserved)
 */
export function blk_mq_tag_wait_queue(tags: usize, hctx: usize, reserved: i32): i32 {
  const base: u32 = reserved != 0 ? RESERVED_QUEUE_BASE : 0;
  if (hctx == 0 || (reserved != 0 && !is_modern(tags))) return <i32>base;
  return <i32>(base + sbq_wait_ptr(hctx + HCTX_WAIT_INDEX));
}

/**
 * Waiter accounting for `prepare_to_wait()` / `finish_wait()` (v4.4) and
 * `sbitmap_prepare_to_wait()` / `sbitmap_finish_wait()` (modern): `queued`
 * +1 when a task joins wait queue `qid`, -1 when it leaves without having
 * been woken (a wake-up already took it off); `active` +1 / -1 registers
 * the task in the map's `ws_active` (modern; must be 0 for v4.4).
 *
 * @returns 0, or -EINVAL for a bad id or a count that would go negative
 */
export function blk_mq_tag_wait_account(tags: usize, qid: u32, queued: i32, active: i32): i32 {
  if (qid >= 2 * RESERVED_QUEUE_BASE || queued < -1 || queued > 1 || active < -1 || active > 1) return -EINVAL;
  const reserved = qid >= RESERVED_QUEUE_BASE;
  const q = qid & (RESERVED_QUEUE_BASE - 1);
  const bt = tags_bt(tags, reserved);
  if (is_modern(tags)) return sbitmap_wait_account(bt, q, queued, active);
  if (active != 0) return -EINVAL;
  const waiters = bt_bs(bt, q) + BS_WAITERS;
  if (queued < 0 && atomic_read(waiters) == 0) return -EINVAL;
  if (queued != 0) {
    atomic_add_return(waiters, <u32>queued);
    atomic_add_return(bt + BT_NR_WAITERS, <u32>queued);
  }
  return 0;
}

// ---------------------------------------------------------------------------
// The hctx tag fields
// ---------------------------------------------------------------------------

/** Bytes of the hctx tag fields record. */
export function blk_mq_hctx_tags_bytes(): i32 {
  return <i32>HCTX_TAGS_BYTES;
}

/** Initialises an hctx's tag fields: `flags`, state 0 (idle), nr_active 0, wait_index 0. */
export function blk_mq_hctx_tags_init(hctx: usize, flags: u32): void {
  store<u32>(hctx, flags, HCTX_FLAGS);
  store<u32>(hctx, 0, HCTX_STATE);
  store<u32>(hctx, 0, HCTX_NR_ACTIVE);
  store<u32>(hctx, 0, HCTX_WAIT_INDEX);
}

/** Sets an hctx's flags (e.g. BLK_MQ_F_TAG_SHARED, as `queue_set_hctx_shared()` does). */
export function blk_mq_hctx_set_flags(hctx: usize, flags: u32): void {
  store<u32>(hctx, flags, HCTX_FLAGS);
}

/** One hctx tag field: 0 flags, 1 state, 2 nr_active, 3 wait_index. @returns -22 otherwise */
export function blk_mq_hctx_stat(hctx: usize, stat: i32): i32 {
  switch (stat) {
    case 0: return <i32>load<u32>(hctx, HCTX_FLAGS);
    case 1: return <i32>atomic_read(hctx + HCTX_STATE);
    case 2: return <i32>atomic_read(hctx + HCTX_NR_ACTIVE);
    case 3: return <i32>atomic_read(hctx + HCTX_WAIT_INDEX);
  }
  return -EINVAL;
}

// ---------------------------------------------------------------------------
// Introspection (sysfs `tags`, tests)
// ---------------------------------------------------------------------------

/**
 * One blk_mq_tags field: 0 nr_tags, 1 nr_reserved_tags, 2 active_queues,
 * 3 alloc_policy, 4 era, 5 the depth the map was built with. @returns -22 otherwise
 */
export function blk_mq_tags_stat(tags: usize, stat: i32): i32 {
  switch (stat) {
    case 0: return <i32>load<u32>(tags, TAGS_NR_TAGS);
    case 1: return <i32>load<u32>(tags, TAGS_NR_RESERVED);
    case 2: return <i32>atomic_read(tags + TAGS_ACTIVE_QUEUES);
    case 3: return <i32>load<u32>(tags, TAGS_POLICY);
    case 4: return <i32>load<u32>(tags, TAGS_ERA);
    case 5: return <i32>load<u32>(tags, TAGS_MAX_DEPTH);
  }
  return -EINVAL;
}

/**
 * One field of the normal (reserved = 0) or reserved bitmap: 0 depth,
 * 1 shift (bits_per_word), 2 map_nr, 3 wake_cnt / wake_batch, 4 wake_index,
 * 5 used (set bits within depth), 6 waiting tasks (v4.4: on all 8 queues;
 * modern: ws_active), 7 completion_cnt and 8 wakeup_cnt (modern).
 * @returns -22 for a field the era lacks
 */
export function blk_mq_bt_stat(tags: usize, reserved: i32, stat: i32): i32 {
  const bt = tags_bt(tags, reserved != 0);
  if (is_modern(tags)) return sbitmap_stat(bt, stat);
  switch (stat) {
    case 0: return <i32>load<u32>(bt, BT_DEPTH);
    case 1: return <i32>load<u32>(bt, BT_SHIFT);
    case 2: return <i32>load<u32>(bt, BT_MAP_NR);
    case 3: return <i32>load<u32>(bt, BT_WAKE_CNT);
    case 4: return <i32>atomic_read(bt + BT_WAKE_INDEX);
    case 5: return <i32>bt_used(bt);
    case 6: return <i32>atomic_read(bt + BT_NR_WAITERS);
  }
  return -EINVAL;
}

/**
 * One wait queue (id 0-7 normal, 8-15 reserved): stat 0 `wait_cnt` (v4.4),
 * 1 tasks waiting on it. @returns -22 otherwise
 */
export function blk_mq_bt_queue_stat(tags: usize, qid: u32, stat: i32): i32 {
  if (qid >= 2 * RESERVED_QUEUE_BASE) return -EINVAL;
  const bt = tags_bt(tags, qid >= RESERVED_QUEUE_BASE);
  const q = qid & (RESERVED_QUEUE_BASE - 1);
  if (is_modern(tags)) return stat == 1 ? <i32>sbitmap_waiters(bt, q) : -EINVAL;
  if (stat == 0) return <i32>atomic_read(bt_bs(bt, q) + BS_WAIT_CNT);
  if (stat == 1) return <i32>atomic_read(bt_bs(bt, q) + BS_WAITERS);
  return -EINVAL;
}

/**
 * One word of a bitmap: stat 0 its depth, 1 bits set in `word`, 2 bits
 * pending in `cleared` (modern). @returns -22 for a word or stat out of range
 */
export function blk_mq_bt_word_stat(tags: usize, reserved: i32, index: u32, stat: i32): i32 {
  const bt = tags_bt(tags, reserved != 0);
  if (is_modern(tags)) return sbitmap_word_stat(bt, index, stat);
  if (index >= load<u32>(bt, BT_MAP_NR)) return -EINVAL;
  const w = bt_word(bt, index);
  if (stat == 0) return <i32>load<u32>(w, BW_DEPTH);
  if (stat == 1) return <i32>popcnt<u64>(word_load(w + BW_WORD));
  if (stat == 2) return 0;
  return -EINVAL;
}

/** 1 when this build updates words with WASM atomics (`--enable threads`), 0 for plain ops. */
export function blk_mq_tags_atomic(): i32 {
  return ASC_FEATURE_THREADS ? 1 : 0;
}

// ---------------------------------------------------------------------------
// Benchmark loop (bench/tags.bench.ts)
// ---------------------------------------------------------------------------

/** Bytes of the bench ring's header: head, then the state of a step the fast loop left. */
const RING_HDR: usize = 16;
const RING_HEAD: usize = 0;
const RING_GOT: usize = 4;
const RING_PUT: usize = 8;
const RING_SLOT: usize = 12;

/**
 * The fast loop of {@link blk_mq_tags_bench}: iterations on the fast paths
 * only (no call, so V8 need not save the loop's values around one) until
 * `left` runs out or a fast path cannot finish; that step's state goes to the
 * ring header.
 * @returns the iterations left (an unfinished put counted as done)
 */
function tags_bench_fast(tags: usize, hint: usize, ring: usize, outstanding: u32, left: u32): u32 {
  let head = load<u32>(ring, RING_HEAD);
  store<u32>(ring, 0, RING_GOT);
  store<u32>(ring, 0, RING_PUT);
  while (left != 0) {
    const got = blk_mq_get_tag_fast(tags, 0, hint, 0);
    if (got < 0) {
      store<u32>(ring, <u32>got, RING_GOT);
      break;
    }
    const slot = ring + RING_HDR + ((<usize>head) << 2);
    head = head + 1 == outstanding ? 0 : head + 1;
    left--;
    const put = blk_mq_put_tag_fast(tags, load<u32>(slot), hint);
    if (put < 0) {
      store<u32>(ring, <u32>got, RING_GOT);
      store<u32>(ring, <u32>put, RING_PUT);
      store<u32>(ring, <u32>slot, RING_SLOT);
      break;
    }
    store<u32>(slot, <u32>got);
  }
  store<u32>(ring, head, RING_HEAD);
  return left;
}

/**
 * The steady state of bench `tags` inside WASM: `outstanding` tags wait in a
 * FIFO ring; each iteration gets a tag (normal, no hctx) and puts the oldest.
 * A fast loop runs the fast paths; when one of them cannot finish, this
 * function completes that step exactly and resumes.
 *
 * @param ring 16 header bytes (u32 head, then scratch), then u32[outstanding]
 *   tags the caller got first
 * @returns the new head, or -1 if a get failed
 */
export function blk_mq_tags_bench(tags: usize, hint: usize, ring: usize, outstanding: u32, iters: u32): i32 {
  let left = iters;
  while (left != 0) {
    left = tags_bench_fast(tags, hint, ring, outstanding, left);
    const got = <i32>load<u32>(ring, RING_GOT);
    const put = <i32>load<u32>(ring, RING_PUT);
    if (got < 0) {
      // This iteration's get needs the rest of the search.
      const tag = blk_mq_get_tag_finish(tags, 0, hint, 0, got);
      if (tag < 0) return -1;
      const head = load<u32>(ring, RING_HEAD);
      const slot = ring + RING_HDR + ((<usize>head) << 2);
      store<u32>(ring, head + 1 == outstanding ? 0 : head + 1, RING_HEAD);
      left--;
      blk_mq_put_tag(tags, load<u32>(slot), hint);
      store<u32>(slot, <u32>tag);
    } else if (put < 0) {
      const slot = <usize>load<u32>(ring, RING_SLOT);
      blk_mq_put_tag_finish(tags, load<u32>(slot), hint, put);
      store<u32>(slot, <u32>got);
    }
  }
  return <i32>load<u32>(ring, RING_HEAD);
}
