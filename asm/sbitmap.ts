// SPDX-License-Identifier: GPL-2.0-only
// The modern scalable bitmap: mirrors lib/sbitmap.c and include/linux/sbitmap.h
// (v6.18), the allocator behind blk-mq tags since v4.9. asm/tags.ts selects it
// for a tag map built with era "modern"; the 2015 bitmap lives in asm/tags.ts.
//
// Differences from the 2015 bitmap (BLKMQ-REFERENCE §1.2, §11.2–3): the hint
// picks only the word (non-round-robin), starts random per CPU, frees are
// deferred through a per-word `cleared` mask, and wake-ups are counted
// (`wake_batch` exclusive waiters once `completion_cnt - wakeup_cnt` reaches
// the batch). Shallow depths and batch allocation are not ported.
//
// This file also holds the word-level bit operations (the equivalent of
// include/asm-generic/bitops/atomic.h) that asm/tags.ts shares. With the
// threads feature (`asc --enable threads`) they are WebAssembly atomics, so the
// same code runs on a shared memory; without it they are plain loads and
// stores, which is exact for one thread.

// ---------------------------------------------------------------------------
// Bit operations on 64-bit words
// ---------------------------------------------------------------------------

/** `1 << bit` on a u64. */
@inline function bit_mask(bit: u32): u64 {
  return (<u64>1) << (<u64>bit);
}

/** READ_ONCE of a word. */
@inline export function word_load(p: usize): u64 {
  if (ASC_FEATURE_THREADS) return atomic.load<u64>(p);
  return load<u64>(p);
}

/** `test_and_set_bit()`: sets `bit`, @returns whether it was already set. */
@inline export function word_test_and_set_bit(p: usize, bit: u32): bool {
  const m = bit_mask(bit);
  if (ASC_FEATURE_THREADS) return (atomic.or<u64>(p, m) & m) != 0;
  const old = load<u64>(p);
  store<u64>(p, old | m);
  return (old & m) != 0;
}

/** `set_bit()`. */
@inline export function word_set_bits(p: usize, m: u64): void {
  if (ASC_FEATURE_THREADS) {
    atomic.or<u64>(p, m);
  } else {
    store<u64>(p, load<u64>(p) | m);
  }
}

/** `clear_bit()` / `atomic_long_andnot()`: clears the bits of `m`. */
@inline export function word_clear_bits(p: usize, m: u64): void {
  if (ASC_FEATURE_THREADS) {
    atomic.and<u64>(p, ~m);
  } else {
    store<u64>(p, load<u64>(p) & ~m);
  }
}

/** `xchg()` of a word. @returns the old value. */
@inline export function word_xchg(p: usize, v: u64): u64 {
  if (ASC_FEATURE_THREADS) return atomic.xchg<u64>(p, v);
  const old = load<u64>(p);
  store<u64>(p, v);
  return old;
}

/** `atomic_read()`. */
@inline export function atomic_read(p: usize): u32 {
  if (ASC_FEATURE_THREADS) return atomic.load<u32>(p);
  return load<u32>(p);
}

/** `atomic_set()`. */
@inline export function atomic_set(p: usize, v: u32): void {
  if (ASC_FEATURE_THREADS) {
    atomic.store<u32>(p, v);
  } else {
    store<u32>(p, v);
  }
}

/** `atomic_add_return()` (wrapping). @returns the new value. */
@inline export function atomic_add_return(p: usize, v: u32): u32 {
  if (ASC_FEATURE_THREADS) return atomic.add<u32>(p, v) + v;
  const n = load<u32>(p) + v;
  store<u32>(p, n);
  return n;
}

/** `atomic_cmpxchg()`. @returns the value found (equal to `old` on success). */
@inline export function atomic_cmpxchg(p: usize, old: u32, v: u32): u32 {
  if (ASC_FEATURE_THREADS) return atomic.cmpxchg<u32>(p, old, v);
  const cur = load<u32>(p);
  if (cur == old) store<u32>(p, v);
  return cur;
}

/**
 * `find_next_zero_bit(word, depth, off)` on one word, for `off <= 63` (every
 * caller's offset is an in-word bit below the word's depth, at most 63).
 * WASM's `i64.ctz` of 0 is 64, so no mask or branch is needed.
 *
 * @returns the first clear bit at or after `off`; a result `>= depth` means
 *   there is none below depth
 */
@inline export function find_next_zero_bit(word: u64, off: u32): u32 {
  if (DEBUG) assert(off < 64, "find_next_zero_bit: offset past the word");
  return <u32>ctz<u64>(~word & ((<u64>-1) << (<u64>off)));
}

/** `bitmap_weight(word, depth)`. */
@inline export function word_weight(word: u64, depth: u32): u32 {
  if (depth == 0) return 0;
  return <u32>popcnt<u64>(word & ((<u64>-1) >> (<u64>(64 - depth))));
}

/** Wraps `i + 1` modulo the 8 wait queues: `sbq_index_inc()` / `bt_index_inc()`. */
@inline export function wait_index_inc(i: u32): u32 {
  return (i + 1) & (SBQ_WAIT_QUEUES - 1);
}

/** `sbq_index_atomic_inc()` / `bt_index_atomic_inc()`: one cmpxchg, losing races on purpose. */
@inline export function wait_index_atomic_inc(p: usize): void {
  const old = atomic_read(p);
  atomic_cmpxchg(p, old, wait_index_inc(old));
}

// ---------------------------------------------------------------------------
// Lost-race injection (DEBUG builds only)
// ---------------------------------------------------------------------------

/**
 * Bits that "another CPU" claims just before this one's test-and-set, so that
 * the lost-race continuation of both bitmaps can be tested on one thread.
 * Bit b of the mask fires once, on the next test-and-set of bit b of any word.
 */
const DEBUG_RACE: usize = memory.data(8, 8);

/** Claims `bit` of the word at `p` first if a race on it was injected. */
@inline export function debug_race(p: usize, bit: u32): void {
  if (DEBUG) {
    const m = bit_mask(bit);
    const race = load<u64>(DEBUG_RACE);
    if ((race & m) != 0) {
      store<u64>(DEBUG_RACE, race & ~m);
      word_set_bits(p, m);
    }
  }
}

/**
 * Arms lost-race injection (DEBUG builds): the next test-and-set of each bit
 * in `(hi << 32) | lo` finds it already taken by "another CPU".
 * @returns 0, or -ENOSYS (-38) in release builds, where there is no injection
 */
export function tags_debug_race(lo: u32, hi: u32): i32 {
  if (!DEBUG) return -ENOSYS;
  store<u64>(DEBUG_RACE, ((<u64>hi) << 32) | <u64>lo);
  return 0;
}

const ENOSYS: i32 = 38;

// ---------------------------------------------------------------------------
// Deterministic randomness for the per-CPU start hints
// ---------------------------------------------------------------------------

/**
 * `get_random_u32_below(ceil)` from a caller-owned 32-bit state word
 * (mulberry32, then Lemire's multiply-shift without rejection: the bias is
 * below 2^-22 for every depth the port allows, and hints need no more).
 */
export function prng_below(state: usize, ceil: u32): u32 {
  const s = load<u32>(state) + 0x6d2b79f5;
  store<u32>(state, s);
  let t = (s ^ (s >>> 15)) * (s | 1);
  t ^= t + (t ^ (t >>> 7)) * (t | 61);
  t ^= t >>> 14;
  return <u32>((<u64>t * <u64>ceil) >>> 32);
}

// ---------------------------------------------------------------------------
// struct sbitmap_queue
// ---------------------------------------------------------------------------

/** `SBQ_WAIT_QUEUES`. */
export const SBQ_WAIT_QUEUES: u32 = 8;
/** `SBQ_WAKE_BATCH`. */
export const SBQ_WAKE_BATCH: u32 = 8;
/** ilog2(BITS_PER_LONG): the widest word is 64 bits. */
export const SB_MAX_SHIFT: u32 = 6;
/**
 * Each word sits on its own 64-byte line, as `____cacheline_aligned_in_smp`
 * does in both kernels. Measured against a 16-byte stride in bench `tags`
 * (depths 64-1024, one thread): no difference beyond noise (±2%); it costs
 * 48 bytes a word (768 bytes at depth 1024) and spares a shared memory false
 * sharing between words, so it stays.
 */
export const SB_WORD_STRIDE_SHIFT: u32 = 6;
/** Bytes of the sbitmap_queue header below. */
export const SBQ_HDR_BYTES: u32 = 128;

/**
 * Mirrors `struct sbitmap_queue` with its `struct sbitmap` embedded
 * (SBQ_HDR_BYTES = 128 reserved):
 *
 *    0        4       8        12            16     20           24
 *    +--------+-------+--------+-------------+------+------------+
 *    | depth  | shift | map_nr | round_robin | map  | wake_batch |
 *    +--------+-------+--------+-------------+------+------------+
 *    24           28          32              36           40           44
 *    +------------+-----------+---------------+------------+------------+
 *    | wake_index | ws_active | completion_cnt| wakeup_cnt | max_map_nr |
 *    +------------+-----------+---------------+------------+------------+
 *    44 .. 76: ws[8].waiters (u32 each: tasks on that wait queue)
 *
 * `max_map_nr` is the number of words allocated (a resize may use fewer);
 * `min_shallow_depth` is fixed at UINT_MAX and not stored. The per-CPU
 * `alloc_hint` lives in caller memory (one u32 per ctx), passed to each call.
 */
@unmanaged
class SbitmapQueue {
  depth: u32;
  shift: u32;
  map_nr: u32;
  round_robin: u32;
  map: u32;
  wake_batch: u32;
  wake_index: u32;
  ws_active: u32;
  completion_cnt: u32;
  wakeup_cnt: u32;
  max_map_nr: u32;
}

/**
 * Mirrors `struct sbitmap_word`, one per 64-byte line:
 *
 *    0        8          16
 *    +--------+----------+---------
 *    | word   | cleared  | (pad)
 *    +--------+----------+---------
 *
 * `swap_lock` is not needed: `cleared` is swapped with xchg and folded into
 * `word` with an atomic and-not, which is all the lock orders on one word.
 */
@unmanaged
class SbitmapWord {
  word: u64;
  cleared: u64;
}

const SB_DEPTH: usize = offsetof<SbitmapQueue>("depth");
const SB_SHIFT: usize = offsetof<SbitmapQueue>("shift");
const SB_MAP_NR: usize = offsetof<SbitmapQueue>("map_nr");
const SB_ROUND_ROBIN: usize = offsetof<SbitmapQueue>("round_robin");
const SB_MAP: usize = offsetof<SbitmapQueue>("map");
const SBQ_WAKE_BATCH_OFF: usize = offsetof<SbitmapQueue>("wake_batch");
const SBQ_WAKE_INDEX: usize = offsetof<SbitmapQueue>("wake_index");
const SBQ_WS_ACTIVE: usize = offsetof<SbitmapQueue>("ws_active");
const SBQ_COMPLETION_CNT: usize = offsetof<SbitmapQueue>("completion_cnt");
const SBQ_WAKEUP_CNT: usize = offsetof<SbitmapQueue>("wakeup_cnt");
const SB_MAX_MAP_NR: usize = offsetof<SbitmapQueue>("max_map_nr");
/** ws[8].waiters follow the fields. */
const SBQ_WS: usize = offsetof<SbitmapQueue>();

const SBW_WORD: usize = offsetof<SbitmapWord>("word");
const SBW_CLEARED: usize = offsetof<SbitmapWord>("cleared");

/** Address of word `index`. */
@inline function sb_word(sbq: usize, index: u32): usize {
  return <usize>load<u32>(sbq, SB_MAP) + ((<usize>index) << SB_WORD_STRIDE_SHIFT);
}

/** Address of `ws[q].waiters`. */
@inline function sbq_ws(sbq: usize, q: u32): usize {
  return sbq + SBQ_WS + ((<usize>q) << 2);
}

/**
 * Mirrors `sbitmap_calculate_shift()`: start at 6 and, for depth >= 4, shrink
 * while `(4 << shift) > depth` so small maps spread over at least ~4 words.
 */
export function sbitmap_calculate_shift(depth: u32): u32 {
  let shift = SB_MAX_SHIFT;
  if (depth >= 4) {
    while (((<u32>4) << shift) > depth) shift--;
  }
  return shift;
}

/** `DIV_ROUND_UP(depth, 1 << shift)`. */
@inline export function sb_map_nr(depth: u32, shift: u32): u32 {
  return (depth + (1 << shift) - 1) >> shift;
}

/** Bytes the words of a `depth`-bit sbitmap take (the header is separate). */
export function sbitmap_words_bytes(depth: u32): u32 {
  return sb_map_nr(depth, sbitmap_calculate_shift(depth)) << SB_WORD_STRIDE_SHIFT;
}

/** Mirrors `__map_depth()`: every word is full but the last. */
@inline function map_depth(sbq: usize, index: u32): u32 {
  const shift = load<u32>(sbq, SB_SHIFT);
  if (index == load<u32>(sbq, SB_MAP_NR) - 1) return load<u32>(sbq, SB_DEPTH) - (index << shift);
  return 1 << shift;
}

/** Mirrors `sbq_calc_wake_batch()` with `min_shallow_depth == UINT_MAX`. */
@inline function sbq_calc_wake_batch(depth: u32): u32 {
  const b = depth / SBQ_WAIT_QUEUES;
  return b < 1 ? 1 : b > SBQ_WAKE_BATCH ? SBQ_WAKE_BATCH : b;
}

/**
 * Mirrors `sbitmap_queue_init_node()` (without the per-CPU hints, which the
 * caller initialises with {@link sbitmap_init_hint}). Every field and word is
 * written: the memory need not be zeroed.
 *
 * @param sbq header, 8-byte aligned, {@link SBQ_HDR_BYTES}
 * @param words {@link sbitmap_words_bytes}(depth) bytes, 8-byte aligned
 */
export function sbitmap_queue_init(sbq: usize, words: usize, depth: u32, round_robin: bool): void {
  const shift = sbitmap_calculate_shift(depth);
  const map_nr = sb_map_nr(depth, shift);
  store<u32>(sbq, depth, SB_DEPTH);
  store<u32>(sbq, shift, SB_SHIFT);
  store<u32>(sbq, map_nr, SB_MAP_NR);
  store<u32>(sbq, round_robin ? 1 : 0, SB_ROUND_ROBIN);
  store<u32>(sbq, <u32>words, SB_MAP);
  store<u32>(sbq, sbq_calc_wake_batch(depth), SBQ_WAKE_BATCH_OFF);
  store<u32>(sbq, 0, SBQ_WAKE_INDEX);
  store<u32>(sbq, 0, SBQ_WS_ACTIVE);
  store<u32>(sbq, 0, SBQ_COMPLETION_CNT);
  store<u32>(sbq, 0, SBQ_WAKEUP_CNT);
  store<u32>(sbq, map_nr, SB_MAX_MAP_NR);
  for (let q: u32 = 0; q < SBQ_WAIT_QUEUES; q++) store<u32>(sbq_ws(sbq, q), 0);
  memory.fill(words, 0, (<usize>map_nr) << SB_WORD_STRIDE_SHIFT);
}

/**
 * Mirrors `init_alloc_hint()` for one CPU: a random start below depth unless
 * round-robin (which starts at 0).
 */
export function sbitmap_init_hint(sbq: usize, hint: usize, prng: usize): void {
  const depth = load<u32>(sbq, SB_DEPTH);
  store<u32>(hint, depth != 0 && load<u32>(sbq, SB_ROUND_ROBIN) == 0 ? prng_below(prng, depth) : 0);
}

// ---------------------------------------------------------------------------
// Allocation
// ---------------------------------------------------------------------------

/**
 * Mirrors `__sbitmap_get_word()`: the first clear bit at or after `hint`,
 * claimed with test-and-set. Restarts from 0 once when `wrap` and the start
 * was not 0; a lost race continues at `nr + 1`, reset to 0 at `depth - 1`.
 */
function __sbitmap_get_word(w: usize, depth: u32, hint: u32, wrap: bool): i32 {
  wrap = wrap && hint != 0;
  while (true) {
    const nr = find_next_zero_bit(word_load(w + SBW_WORD), hint);
    if (nr >= depth) {
      if (hint != 0 && wrap) {
        hint = 0;
        continue;
      }
      return -1;
    }
    debug_race(w + SBW_WORD, nr);
    if (!word_test_and_set_bit(w + SBW_WORD, nr)) return <i32>nr;
    hint = nr + 1;
    if (hint >= depth - 1) hint = 0;
  }
  return -1;
}

/**
 * Mirrors `sbitmap_deferred_clear()`: folds `cleared` into `word`. With
 * nothing to fold it reports whether a retry could still find a free bit (at
 * or above `alloc_hint` when not wrapping).
 */
function sbitmap_deferred_clear(w: usize, depth: u32, alloc_hint: u32, wrap: bool): bool {
  if (word_load(w + SBW_CLEARED) == 0) {
    if (depth == 0) return false;
    let word_mask: u64 = (<u64>-1) >> (<u64>(64 - depth));
    if (!wrap && alloc_hint != 0) word_mask &= ~(bit_mask(alloc_hint) - 1);
    return (word_load(w + SBW_WORD) & word_mask) != word_mask;
  }
  const mask = word_xchg(w + SBW_CLEARED, 0);
  word_clear_bits(w + SBW_WORD, mask);
  return true;
}

/** Mirrors `sbitmap_find_bit_in_word()`. */
@inline function sbitmap_find_bit_in_word(w: usize, depth: u32, alloc_hint: u32, wrap: bool): i32 {
  let nr: i32;
  do {
    nr = __sbitmap_get_word(w, depth, alloc_hint, wrap);
    if (nr != -1) break;
  } while (sbitmap_deferred_clear(w, depth, alloc_hint, wrap));
  return nr;
}

/**
 * Mirrors `__sbitmap_get()` + `sbitmap_find_bit()`: the hint picks the word;
 * round-robin also keeps the in-word offset (and does not wrap in it), the
 * default starts every word at bit 0.
 */
function __sbitmap_get(sbq: usize, alloc_hint: u32): i32 {
  const shift = load<u32>(sbq, SB_SHIFT);
  const map_nr = load<u32>(sbq, SB_MAP_NR);
  const rr = load<u32>(sbq, SB_ROUND_ROBIN) != 0;
  let index = alloc_hint >> shift;
  let bit = rr ? alloc_hint & ((1 << shift) - 1) : 0;
  for (let i: u32 = 0; i < map_nr; i++) {
    const nr = sbitmap_find_bit_in_word(sb_word(sbq, index), map_depth(sbq, index), bit, !rr);
    if (nr != -1) return nr + <i32>(index << shift);
    bit = 0;
    if (++index >= map_nr) index = 0;
  }
  return -1;
}

/**
 * Mirrors `sbitmap_get()` with `update_alloc_hint_before_get()` and
 * `update_alloc_hint_after_get()` on the caller's per-CPU hint word.
 *
 * @param hint this CPU's `alloc_hint` (u32)
 * @param prng state word for `get_random_u32_below()`
 * @returns the bit, or -1 when the map is full
 */
export function sbitmap_get(sbq: usize, hint: usize, prng: usize): i32 {
  const depth = load<u32>(sbq, SB_DEPTH);
  let h = load<u32>(hint);
  if (h >= depth) {
    h = depth != 0 ? prng_below(prng, depth) : 0;
    store<u32>(hint, h);
  }
  const nr = __sbitmap_get(sbq, h);
  if (nr == -1) {
    store<u32>(hint, 0);
  } else if (<u32>nr == h || load<u32>(sbq, SB_ROUND_ROBIN) != 0) {
    let next = <u32>nr + 1;
    if (next >= depth - 1) next = 0;
    store<u32>(hint, next);
  }
  return nr;
}

// ---------------------------------------------------------------------------
// Freeing and wake-ups
// ---------------------------------------------------------------------------

/**
 * Whether bit `nr` is allocated: set in `word` and not pending in `cleared`.
 * Any bit of the allocated words may be asked, also past a reduced depth.
 */
export function sbitmap_test_bit(sbq: usize, nr: u32): bool {
  const shift = load<u32>(sbq, SB_SHIFT);
  const index = nr >> shift;
  if (index >= load<u32>(sbq, SB_MAX_MAP_NR)) return false;
  const w = sb_word(sbq, index);
  const m = bit_mask(nr & ((1 << shift) - 1));
  return (word_load(w + SBW_WORD) & m) != 0 && (word_load(w + SBW_CLEARED) & m) == 0;
}

/**
 * Mirrors `__sbitmap_queue_wake_up()`: wakes up to `nr` exclusive waiters,
 * advancing `wake_index` before looking at each queue. Woken waiters leave
 * their queue at once (`autoremove_wake_function`), so `waiters` drops here.
 *
 * @returns a mask of the wait queues (bit q for ws[q]) that had waiters woken
 */
function __sbitmap_queue_wake_up(sbq: usize, nr: u32): u32 {
  if (atomic_read(sbq + SBQ_WS_ACTIVE) == 0) return 0;
  let mask: u32 = 0;
  let wake_index = atomic_read(sbq + SBQ_WAKE_INDEX);
  for (let i: u32 = 0; i < SBQ_WAIT_QUEUES; i++) {
    const q = wake_index;
    wake_index = wait_index_inc(wake_index);
    const waiters = atomic_read(sbq_ws(sbq, q));
    if (waiters != 0) {
      const woken = waiters < nr ? waiters : nr;
      atomic_set(sbq_ws(sbq, q), waiters - woken);
      mask |= 1 << q;
      if (woken == nr) break;
      nr -= woken;
    }
  }
  if (wake_index != atomic_read(sbq + SBQ_WAKE_INDEX)) atomic_set(sbq + SBQ_WAKE_INDEX, wake_index);
  return mask;
}

/**
 * Mirrors `sbitmap_queue_wake_up()`: counts `nr` completions and, each time
 * `completion_cnt - wakeup_cnt` reaches `wake_batch`, wakes a batch.
 *
 * @returns a mask of the wait queues that had waiters woken
 */
export function sbitmap_queue_wake_up(sbq: usize, nr: u32): u32 {
  const wake_batch = load<u32>(sbq, SBQ_WAKE_BATCH_OFF);
  if (atomic_read(sbq + SBQ_WS_ACTIVE) == 0) return 0;
  atomic_add_return(sbq + SBQ_COMPLETION_CNT, nr);
  let wakeups = atomic_read(sbq + SBQ_WAKEUP_CNT);
  while (true) {
    if (atomic_read(sbq + SBQ_COMPLETION_CNT) - wakeups < wake_batch) return 0;
    const found = atomic_cmpxchg(sbq + SBQ_WAKEUP_CNT, wakeups, wakeups + wake_batch);
    if (found == wakeups) break;
    wakeups = found;
  }
  return __sbitmap_queue_wake_up(sbq, wake_batch);
}

/**
 * Mirrors `sbitmap_queue_wake_all()`: `wake_up()` on each queue with waiters.
 * Waiters are exclusive, so that wakes **one** task per queue.
 *
 * @returns a mask of the wait queues that had a waiter woken
 */
export function sbitmap_queue_wake_all(sbq: usize): u32 {
  let mask: u32 = 0;
  let wake_index = atomic_read(sbq + SBQ_WAKE_INDEX);
  for (let i: u32 = 0; i < SBQ_WAIT_QUEUES; i++) {
    const waiters = atomic_read(sbq_ws(sbq, wake_index));
    if (waiters != 0) {
      atomic_set(sbq_ws(sbq, wake_index), waiters - 1);
      mask |= 1 << wake_index;
    }
    wake_index = wait_index_inc(wake_index);
  }
  return mask;
}

/**
 * Mirrors `sbitmap_queue_clear()`: a deferred clear (the bit goes to
 * `cleared` and stays set in `word` until that word is swept), the counted
 * wake-up, then `sbitmap_update_cpu_hint()`: unless round-robin, the freeing
 * CPU's hint becomes the freed bit.
 *
 * The caller has checked that `nr` is allocated ({@link sbitmap_test_bit}).
 *
 * @returns a mask of the wait queues that had waiters woken
 */
export function sbitmap_queue_clear(sbq: usize, nr: u32, hint: usize): u32 {
  const shift = load<u32>(sbq, SB_SHIFT);
  word_set_bits(sb_word(sbq, nr >> shift) + SBW_CLEARED, bit_mask(nr & ((1 << shift) - 1)));
  const mask = sbitmap_queue_wake_up(sbq, 1);
  if (load<u32>(sbq, SB_ROUND_ROBIN) == 0 && nr < load<u32>(sbq, SB_DEPTH)) store<u32>(hint, nr);
  return mask;
}

// ---------------------------------------------------------------------------
// Depth changes, waiter accounting, introspection
// ---------------------------------------------------------------------------

/**
 * Mirrors `sbitmap_queue_resize()`: recomputes `wake_batch`, sweeps every
 * word's deferred clears, and sets the new depth and `map_nr`. The caller
 * keeps `depth` within the words allocated.
 */
export function sbitmap_queue_resize(sbq: usize, depth: u32): void {
  const wake_batch = sbq_calc_wake_batch(depth);
  if (load<u32>(sbq, SBQ_WAKE_BATCH_OFF) != wake_batch) store<u32>(sbq, wake_batch, SBQ_WAKE_BATCH_OFF);
  const map_nr = load<u32>(sbq, SB_MAP_NR);
  for (let i: u32 = 0; i < map_nr; i++) sbitmap_deferred_clear(sb_word(sbq, i), 0, 0, false);
  store<u32>(sbq, depth, SB_DEPTH);
  store<u32>(sbq, sb_map_nr(depth, load<u32>(sbq, SB_SHIFT)), SB_MAP_NR);
}

/** Mirrors `sbitmap_queue_recalculate_wake_batch()` (users > 0). */
export function sbitmap_queue_recalculate_wake_batch(sbq: usize, users: u32): void {
  const depth = (load<u32>(sbq, SB_DEPTH) + users - 1) / users;
  store<u32>(sbq, sbq_calc_wake_batch(depth), SBQ_WAKE_BATCH_OFF);
}

/** Mirrors `sbq_wait_ptr()`: the queue at `*wait_index`, which then advances. */
export function sbq_wait_ptr(wait_index: usize): u32 {
  const q = atomic_read(wait_index);
  wait_index_atomic_inc(wait_index);
  return q;
}

/**
 * Waiter accounting of `sbitmap_prepare_to_wait()` / `sbitmap_finish_wait()`:
 * `queued` adds (1) or removes (-1) one task on ws[q]; `active` does the same
 * for `ws_active` (a waiter registers once, on its first prepare).
 *
 * @returns 0, or -EINVAL when a count would drop below zero (nothing changes)
 */
export function sbitmap_wait_account(sbq: usize, q: u32, queued: i32, active: i32): i32 {
  const ws = sbq_ws(sbq, q);
  if ((queued < 0 && atomic_read(ws) == 0) || (active < 0 && atomic_read(sbq + SBQ_WS_ACTIVE) == 0)) {
    return -22;
  }
  if (queued != 0) atomic_add_return(ws, <u32>queued);
  if (active != 0) atomic_add_return(sbq + SBQ_WS_ACTIVE, <u32>active);
  return 0;
}

/** Mirrors `sbitmap_weight()`: bits set minus bits pending in `cleared`, within depth. */
export function sbitmap_weight(sbq: usize): u32 {
  const map_nr = load<u32>(sbq, SB_MAP_NR);
  let weight: u32 = 0;
  for (let i: u32 = 0; i < map_nr; i++) {
    const w = sb_word(sbq, i);
    const d = map_depth(sbq, i);
    weight += word_weight(word_load(w + SBW_WORD), d) - word_weight(word_load(w + SBW_CLEARED), d);
  }
  return weight;
}

/** `SBQ_STAT_*`: the fields {@link sbitmap_stat} reads. */
export const SBQ_STAT_DEPTH: i32 = 0;
export const SBQ_STAT_SHIFT: i32 = 1;
export const SBQ_STAT_MAP_NR: i32 = 2;
export const SBQ_STAT_WAKE_BATCH: i32 = 3;
export const SBQ_STAT_WAKE_INDEX: i32 = 4;
export const SBQ_STAT_USED: i32 = 5;
export const SBQ_STAT_WS_ACTIVE: i32 = 6;
export const SBQ_STAT_COMPLETION_CNT: i32 = 7;
export const SBQ_STAT_WAKEUP_CNT: i32 = 8;

/** One field of the sbitmap_queue header (see the SBQ_STAT_* numbers). @returns -22 for an unknown field */
export function sbitmap_stat(sbq: usize, stat: i32): i32 {
  switch (stat) {
    case SBQ_STAT_DEPTH: return <i32>load<u32>(sbq, SB_DEPTH);
    case SBQ_STAT_SHIFT: return <i32>load<u32>(sbq, SB_SHIFT);
    case SBQ_STAT_MAP_NR: return <i32>load<u32>(sbq, SB_MAP_NR);
    case SBQ_STAT_WAKE_BATCH: return <i32>load<u32>(sbq, SBQ_WAKE_BATCH_OFF);
    case SBQ_STAT_WAKE_INDEX: return <i32>atomic_read(sbq + SBQ_WAKE_INDEX);
    case SBQ_STAT_USED: return <i32>sbitmap_weight(sbq);
    case SBQ_STAT_WS_ACTIVE: return <i32>atomic_read(sbq + SBQ_WS_ACTIVE);
    case SBQ_STAT_COMPLETION_CNT: return <i32>atomic_read(sbq + SBQ_COMPLETION_CNT);
    case SBQ_STAT_WAKEUP_CNT: return <i32>atomic_read(sbq + SBQ_WAKEUP_CNT);
  }
  return -22;
}

/** Tasks on ws[q]. */
export function sbitmap_waiters(sbq: usize, q: u32): u32 {
  return atomic_read(sbq_ws(sbq, q));
}

/**
 * One word, for tests and sysfs: `stat` 0 its depth (`__map_depth`, 0 past
 * `map_nr`), 1 the weight of `word`, 2 the weight of `cleared` (over the
 * word's full width).
 */
export function sbitmap_word_stat(sbq: usize, index: u32, stat: i32): i32 {
  if (index >= load<u32>(sbq, SB_MAX_MAP_NR)) return -22;
  const w = sb_word(sbq, index);
  if (stat == 0) return index < load<u32>(sbq, SB_MAP_NR) ? <i32>map_depth(sbq, index) : 0;
  if (stat == 1) return <i32>popcnt<u64>(word_load(w + SBW_WORD));
  if (stat == 2) return <i32>popcnt<u64>(word_load(w + SBW_CLEARED));
  return -22;
}
