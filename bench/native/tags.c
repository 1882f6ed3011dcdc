// SPDX-License-Identifier: GPL-2.0-only
/*
 * Native baseline of bench `tags`: the v4.4 tag get/put path of asm/tags.ts
 * written the same way in C: blk_mq_get_tag() (its fast path, the first probe
 * of __bt_get(), and the finish over __bt_get_from() / __bt_get_word()),
 * blk_mq_put_tag() (allocated check, REQ_MQ_INFLIGHT slot, the clear, the
 * nr_waiters shortcut of bt_wake_ptr()), and blk_mq_tags_bench()'s two-level
 * loop; the same memory layout (one word per 64-byte line). Built by the bench
 * with `gcc -O2 -DTAGS_ATOMIC=0|1`, matching what the WASM release core does.
 *
 *   tags DEPTH ITERS ROUNDS   prints the fastest and the median round, in ns
 *                             per iteration
 *
 * Steady state: DEPTH/2 tags outstanding in a FIFO ring; each iteration gets
 * one tag and puts the oldest.
 */
#define _POSIX_C_SOURCE 199309L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef TAGS_ATOMIC
#define TAGS_ATOMIC 0
#endif

#define BT_WAIT_QUEUES 8
#define BT_WAIT_BATCH 8
#define BLK_TAG_ALLOC_RR 1

struct blk_align_bitmap {
	uint64_t word;
	uint32_t depth;
} __attribute__((aligned(64)));

struct bt_wait_state {
	int32_t wait_cnt;
	uint32_t waiters;
};

struct blk_mq_bitmap_tags {
	uint32_t depth, wake_cnt, shift, map_nr, wake_index;
	struct blk_align_bitmap *map;
	struct bt_wait_state bs[BT_WAIT_QUEUES];
	uint32_t nr_waiters, bit_mask;
};

struct hctx_tags {
	uint32_t flags, state, nr_active, wait_index;
};

struct blk_mq_tags {
	uint32_t nr_tags, nr_reserved, active_queues, alloc_policy, era, max_depth;
	struct blk_mq_bitmap_tags bitmap_tags, breserved_tags;
	struct hctx_tags **rq_hctx;
};

/* ---- bit operations, plain or atomic like the WASM build ---- */

static inline uint64_t word_load(uint64_t *p)
{
#if TAGS_ATOMIC
	return __atomic_load_n(p, __ATOMIC_SEQ_CST);
#else
	return *(volatile uint64_t *)p;
#endif
}

static inline int word_test_and_set_bit(uint64_t *p, unsigned bit)
{
	uint64_t m = 1ULL << bit;
#if TAGS_ATOMIC
	return (__atomic_fetch_or(p, m, __ATOMIC_SEQ_CST) & m) != 0;
#else
	uint64_t old = *p;
	*p = old | m;
	return (old & m) != 0;
#endif
}

static inline void word_clear_bits(uint64_t *p, uint64_t m)
{
#if TAGS_ATOMIC
	__atomic_fetch_and(p, ~m, __ATOMIC_SEQ_CST);
#else
	*p &= ~m;
#endif
}

/* off <= 63; a result >= depth means none (64 when nothing is clear from off), as WASM's i64.ctz. */
static inline uint32_t find_next_zero_bit(uint64_t word, uint32_t off)
{
	uint64_t free_bits = ~word & (~0ULL << off);
	return free_bits ? (uint32_t)__builtin_ctzll(free_bits) : 64;
}

/* ---- v4.4 bitmap ---- */

static unsigned calc_shift(unsigned depth)
{
	unsigned shift = 6;
	if (depth >= 4)
		while ((4u << shift) > depth)
			shift--;
	return shift;
}

static void bt_init(struct blk_mq_bitmap_tags *bt, unsigned depth)
{
	unsigned shift = calc_shift(depth), tpw = 1u << shift, left = depth;
	bt->shift = shift;
	bt->bit_mask = tpw - 1;
	bt->map_nr = (depth + tpw - 1) >> shift;
	bt->map = aligned_alloc(64, (bt->map_nr ? bt->map_nr : 1) * sizeof(*bt->map));
	memset(bt->map, 0, bt->map_nr * sizeof(*bt->map));
	for (unsigned i = 0; i < bt->map_nr; i++) {
		bt->map[i].depth = left < tpw ? left : tpw;
		left -= bt->map[i].depth;
	}
	bt->wake_cnt = BT_WAIT_BATCH;
	if (bt->wake_cnt > depth / BT_WAIT_QUEUES)
		bt->wake_cnt = depth / BT_WAIT_QUEUES ? depth / BT_WAIT_QUEUES : 1;
	bt->depth = depth;
	bt->wake_index = 0;
	for (int q = 0; q < BT_WAIT_QUEUES; q++) {
		bt->bs[q].wait_cnt = (int32_t)bt->wake_cnt;
		bt->bs[q].waiters = 0;
	}
	bt->nr_waiters = 0;
}

static __attribute__((noinline)) int hctx_may_queue(struct blk_mq_tags *tags, struct hctx_tags *hctx,
						   struct blk_mq_bitmap_tags *bt)
{
	if (!hctx || !(hctx->flags & 2))
		return 1;
	if (!(hctx->state & 2))
		return 1;
	if (bt->depth == 1)
		return 1;
	unsigned users = tags->active_queues;
	if (!users)
		return 1;
	unsigned limit = (bt->depth + users - 1) / users;
	if (limit < 4)
		limit = 4;
	return hctx->nr_active < limit;
}

static inline int __bt_get_word(struct blk_align_bitmap *bm, unsigned last_tag, unsigned org_last_tag, int nowrap)
{
	unsigned depth = bm->depth;
	for (;;) {
		unsigned tag = find_next_zero_bit(word_load(&bm->word), last_tag);
		if (tag >= depth) {
			if (org_last_tag && last_tag && !nowrap) {
				last_tag = org_last_tag = 0;
				continue;
			}
			return -1;
		}
		if (!word_test_and_set_bit(&bm->word, tag))
			return (int)tag;
		last_tag = tag + 1;
		if (last_tag >= depth - 1)
			last_tag = 0;
	}
}

static inline void bt_update_hint_to(struct blk_mq_tags *tags, struct blk_mq_bitmap_tags *bt, uint32_t *hint,
				     unsigned tag, unsigned org_last_tag)
{
	if (tag != org_last_tag && tags->alloc_policy != BLK_TAG_ALLOC_RR)
		return;
	unsigned next = tag + 1;
	if (next >= bt->depth - 1)
		next = 0;
	*hint = next;
}

static inline void bt_update_hint(struct blk_mq_tags *tags, struct blk_mq_bitmap_tags *bt, uint32_t *hint,
				  unsigned tag, unsigned org_last_tag)
{
	if (hint)
		bt_update_hint_to(tags, bt, hint, tag, org_last_tag);
}

static __attribute__((noinline)) int __bt_get_from(struct blk_mq_tags *tags, struct blk_mq_bitmap_tags *bt,
						   uint32_t *hint, unsigned hint_value, unsigned index,
						   unsigned last_tag, unsigned org_last_tag)
{
	unsigned shift = bt->shift, map_nr = bt->map_nr;
	int rr = tags->alloc_policy == BLK_TAG_ALLOC_RR;
	for (unsigned i = 0; i < map_nr; i++) {
		int bit = __bt_get_word(&bt->map[index], last_tag, org_last_tag, rr);
		if (bit != -1) {
			unsigned tag = (unsigned)bit + (index << shift);
			bt_update_hint(tags, bt, hint, tag, hint_value);
			return (int)tag;
		}
		last_tag = org_last_tag = 0;
		if (++index >= map_nr)
			index = 0;
	}
	if (hint)
		*hint = 0;
	return -1;
}

/* __bt_get(): the first probe straight-line, the rest in __bt_get_from(). */
static inline int __bt_get(struct blk_mq_tags *tags, struct hctx_tags *hctx, struct blk_mq_bitmap_tags *bt,
			   uint32_t *hint)
{
	if (hctx && !hctx_may_queue(tags, hctx, bt))
		return -1;
	unsigned shift = bt->shift;
	unsigned hint_value = hint ? *hint : 0;
	unsigned index = hint_value >> shift;
	if (index >= bt->map_nr) {
		if (!bt->map_nr) {
			if (hint)
				*hint = 0;
			return -1;
		}
		return __bt_get_from(tags, bt, hint, hint_value, 0, 0, 0);
	}
	unsigned off = hint_value & ((1u << shift) - 1);
	struct blk_align_bitmap *bm = &bt->map[index];
	unsigned depth = bm->depth;
	unsigned bit = find_next_zero_bit(word_load(&bm->word), off);
	if (bit >= depth)
		return __bt_get_from(tags, bt, hint, hint_value, index, off, off);
	if (word_test_and_set_bit(&bm->word, bit)) {
		unsigned last_tag = bit + 1;
		if (last_tag >= depth - 1)
			last_tag = 0;
		return __bt_get_from(tags, bt, hint, hint_value, index, last_tag, off);
	}
	unsigned tag = bit + (index << shift);
	bt_update_hint(tags, bt, hint, tag, hint_value);
	return (int)tag;
}

static inline int bt_wake_ptr(struct blk_mq_bitmap_tags *bt)
{
	unsigned wake_index = bt->wake_index;
	for (int i = 0; i < BT_WAIT_QUEUES; i++) {
		if (bt->bs[wake_index].waiters) {
			if (wake_index != bt->wake_index)
				bt->wake_index = wake_index;
			return (int)wake_index;
		}
		wake_index = (wake_index + 1) & (BT_WAIT_QUEUES - 1);
	}
	return -1;
}

/* The wake half of bt_clear_tag(). */
static __attribute__((noinline)) int bt_wake_count(struct blk_mq_bitmap_tags *bt)
{
	int q = bt_wake_ptr(bt);
	if (q < 0)
		return -1;
	struct bt_wait_state *bs = &bt->bs[q];
	int wait_cnt = --bs->wait_cnt;
	if (wait_cnt < 0)
		wait_cnt = ++bs->wait_cnt;
	if (wait_cnt == 0) {
		bs->wait_cnt += (int32_t)bt->wake_cnt;
		bt->wake_index = (bt->wake_index + 1) & (BT_WAIT_QUEUES - 1);
		bt->nr_waiters -= bs->waiters;
		bs->waiters = 0;
		return q;
	}
	return -1;
}

static inline int bt_clear_tag(struct blk_mq_bitmap_tags *bt, unsigned bit)
{
	unsigned shift = bt->shift;
	word_clear_bits(&bt->map[bit >> shift].word, 1ULL << (bit & ((1u << shift) - 1)));
	if (!bt->nr_waiters)
		return -1;
	return bt_wake_count(bt);
}

static int bt_test_bit(struct blk_mq_bitmap_tags *bt, unsigned bit)
{
	unsigned shift = bt->shift, index = bit >> shift;
	if (index >= bt->map_nr)
		return 0;
	return (word_load(&bt->map[index].word) >> (bit & ((1u << shift) - 1))) & 1;
}

/* ---- blk_mq_tags ---- */

static __attribute__((noinline)) int __blk_mq_get_tag_all(struct blk_mq_tags *tags, struct hctx_tags *hctx,
							 uint32_t *hint, int reserved)
{
	int tag;
	if (reserved) {
		if (!tags->nr_reserved)
			return -1;
		tag = __bt_get(tags, NULL, &tags->breserved_tags, NULL);
	} else {
		tag = __bt_get(tags, hctx, &tags->bitmap_tags, hint);
		if (tag >= 0)
			tag += (int)tags->nr_reserved;
	}
	if (tag < 0)
		return -1;
	if (hctx && (hctx->flags & 2)) {
		hctx->state |= 2;
		hctx->nr_active++;
		tags->rq_hctx[tag] = hctx;
	}
	return tag;
}

#define FAST_OTHER (-2)
#define FAST_NOT_FOUND (-3)
#define FAST_LOST_RACE (-4)
#define FAST_WAKE (-3)

/* The common case of blk_mq_get_tag(); no call. Returns the tag or FAST_*. */
static inline int blk_mq_get_tag_fast(struct blk_mq_tags *tags, struct hctx_tags *hctx, uint32_t *hint, int reserved)
{
	if (reserved)
		return FAST_OTHER;
	if (tags->era == 1)
		return FAST_OTHER;
	if (hctx && (hctx->flags & 2))
		return FAST_OTHER;
	struct blk_mq_bitmap_tags *bt = &tags->bitmap_tags;
	unsigned shift = bt->shift, hint_value = *hint, index = hint_value >> shift;
	if (index >= bt->map_nr)
		return FAST_OTHER;
	unsigned off = hint_value & bt->bit_mask;
	struct blk_align_bitmap *bm = &bt->map[index];
	unsigned depth = bm->depth;
	unsigned bit = find_next_zero_bit(word_load(&bm->word), off);
	if (bit >= depth)
		return FAST_NOT_FOUND;
	if (word_test_and_set_bit(&bm->word, bit))
		return FAST_LOST_RACE - (int)bit;
	unsigned tag = bit + (index << shift);
	bt_update_hint_to(tags, bt, hint, tag, hint_value);
	return (int)(tag + tags->nr_reserved);
}

static __attribute__((noinline)) int blk_mq_get_tag_finish(struct blk_mq_tags *tags, struct hctx_tags *hctx,
							   uint32_t *hint, int reserved, int r)
{
	if (r == FAST_OTHER)
		return __blk_mq_get_tag_all(tags, hctx, hint, reserved);
	struct blk_mq_bitmap_tags *bt = &tags->bitmap_tags;
	unsigned shift = bt->shift, hint_value = *hint, index = hint_value >> shift;
	unsigned off = hint_value & bt->bit_mask, last_tag = off;
	if (r != FAST_NOT_FOUND) {
		last_tag = (unsigned)(FAST_LOST_RACE - r) + 1;
		if (last_tag >= bt->map[index].depth - 1)
			last_tag = 0;
	}
	int bit = __bt_get_from(tags, bt, hint, hint_value, index, last_tag, off);
	return bit < 0 ? -1 : bit + (int)tags->nr_reserved;
}

static inline int blk_mq_get_tag(struct blk_mq_tags *tags, struct hctx_tags *hctx, uint32_t *hint, int reserved)
{
	int r = blk_mq_get_tag_fast(tags, hctx, hint, reserved);
	return r >= 0 ? r : blk_mq_get_tag_finish(tags, hctx, hint, reserved, r);
}

static __attribute__((noinline)) int __blk_mq_put_tag_all(struct blk_mq_tags *tags, unsigned tag, uint32_t *hint)
{
	if (tag >= tags->nr_tags)
		return -22;
	int reserved = tag < tags->nr_reserved;
	unsigned bit = reserved ? tag : tag - tags->nr_reserved;
	struct blk_mq_bitmap_tags *bt = reserved ? &tags->breserved_tags : &tags->bitmap_tags;
	if (!bt_test_bit(bt, bit))
		return -22;
	struct hctx_tags *hctx = tags->rq_hctx[tag];
	if (hctx) {
		tags->rq_hctx[tag] = NULL;
		hctx->nr_active--;
	}
	int q = bt_clear_tag(bt, bit);
	if (!reserved && tags->alloc_policy == 0)
		*hint = bit;
	return q < 0 ? 0 : 1 << (q + (reserved ? 8 : 0));
}

/* The common case of blk_mq_put_tag(); no call. Returns 0, FAST_WAKE or FAST_OTHER. */
static inline int blk_mq_put_tag_fast(struct blk_mq_tags *tags, unsigned tag, uint32_t *hint)
{
	unsigned bit = tag - tags->nr_reserved;
	if (bit >= tags->max_depth)
		return FAST_OTHER;
	if (tags->era == 1)
		return FAST_OTHER;
	struct blk_mq_bitmap_tags *bt = &tags->bitmap_tags;
	unsigned shift = bt->shift, index = bit >> shift;
	if (index >= bt->map_nr)
		return FAST_OTHER;
	uint64_t m = 1ULL << (bit & bt->bit_mask);
	uint64_t *w = &bt->map[index].word;
	if (!(word_load(w) & m))
		return FAST_OTHER;
	struct hctx_tags *hctx = tags->rq_hctx[tag];
	if (hctx) {
		tags->rq_hctx[tag] = NULL;
		hctx->nr_active--;
	}
	word_clear_bits(w, m);
	if (tags->alloc_policy == 0)
		*hint = bit;
	return bt->nr_waiters ? FAST_WAKE : 0;
}

static __attribute__((noinline)) int blk_mq_put_tag_finish(struct blk_mq_tags *tags, unsigned tag, uint32_t *hint, int r)
{
	if (r == FAST_OTHER)
		return __blk_mq_put_tag_all(tags, tag, hint);
	int q = bt_wake_count(&tags->bitmap_tags);
	return q < 0 ? 0 : 1 << q;
}

static inline int blk_mq_put_tag(struct blk_mq_tags *tags, unsigned tag, uint32_t *hint)
{
	int r = blk_mq_put_tag_fast(tags, tag, hint);
	return r >= 0 ? r : blk_mq_put_tag_finish(tags, tag, hint, r);
}

/* The bench ring: head and the state of a step the fast loop left, then the tags. */
struct ring {
	uint32_t head;
	int32_t got, put;
	uint32_t *slot;
	uint32_t tags[];
};

/* tags_bench_fast() of asm/tags.ts: fast paths only until left runs out or one cannot finish. */
static __attribute__((noinline)) unsigned long tags_bench_fast(struct blk_mq_tags *tags, uint32_t *hint,
							       struct ring *ring, unsigned outstanding,
							       unsigned long left)
{
	unsigned head = ring->head;
	ring->got = 0;
	ring->put = 0;
	while (left) {
		int got = blk_mq_get_tag_fast(tags, NULL, hint, 0);
		if (got < 0) {
			ring->got = got;
			break;
		}
		uint32_t *slot = &ring->tags[head];
		head = head + 1 == outstanding ? 0 : head + 1;
		left--;
		int put = blk_mq_put_tag_fast(tags, *slot, hint);
		if (put < 0) {
			ring->got = got;
			ring->put = put;
			ring->slot = slot;
			break;
		}
		*slot = (uint32_t)got;
	}
	ring->head = head;
	return left;
}

/* blk_mq_tags_bench() of asm/tags.ts. */
static __attribute__((noinline)) int tags_bench(struct blk_mq_tags *tags, uint32_t *hint, struct ring *ring,
						unsigned outstanding, unsigned long iters)
{
	unsigned long left = iters;
	while (left) {
		left = tags_bench_fast(tags, hint, ring, outstanding, left);
		if (ring->got < 0) {
			int tag = blk_mq_get_tag_finish(tags, NULL, hint, 0, ring->got);
			if (tag < 0)
				return -1;
			uint32_t *slot = &ring->tags[ring->head];
			ring->head = ring->head + 1 == outstanding ? 0 : ring->head + 1;
			left--;
			blk_mq_put_tag(tags, *slot, hint);
			*slot = (uint32_t)tag;
		} else if (ring->put < 0) {
			blk_mq_put_tag_finish(tags, *ring->slot, hint, ring->put);
			*ring->slot = (uint32_t)ring->got;
		}
	}
	return (int)ring->head;
}

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: %s DEPTH ITERS ROUNDS\n", argv[0]);
		return 2;
	}
	unsigned depth = (unsigned)atoi(argv[1]);
	long iters = atol(argv[2]);
	int rounds = atoi(argv[3]);
	if (depth < 2 || iters < 1 || rounds < 1 || rounds > 99)
		return 2;

	struct blk_mq_tags tags = { .nr_tags = depth, .nr_reserved = 0, .alloc_policy = 0, .max_depth = depth };
	bt_init(&tags.bitmap_tags, depth);
	bt_init(&tags.breserved_tags, 0);
	tags.rq_hctx = calloc(depth, sizeof(*tags.rq_hctx));
	uint32_t hint = 0;
	unsigned outstanding = depth / 2;
	struct ring *ring = malloc(sizeof(*ring) + outstanding * sizeof(uint32_t));
	ring->head = 0;
	for (unsigned i = 0; i < outstanding; i++)
		ring->tags[i] = (uint32_t)blk_mq_get_tag(&tags, NULL, &hint, 0);

	double samples[100];
	for (int r = -1; r < rounds; r++) {
		double t0 = now_ns();
		if (tags_bench(&tags, &hint, ring, outstanding, (unsigned long)iters) < 0)
			return 1;
		if (r >= 0)
			samples[r] = (now_ns() - t0) / (double)iters;
	}
	qsort(samples, (size_t)rounds, sizeof(double), cmp_double);
	printf("%.3f %.3f\n", samples[0], samples[rounds / 2]);
	return 0;
}
