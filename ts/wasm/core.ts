// SPDX-License-Identifier: GPL-2.0-only
/**
 * Loads the WASM core from the embedded modules that build.ts generates.
 *
 * No fs, no fetch, no `import.meta.url`: the bytes are base64 strings in
 * ordinary ES modules, so this works unchanged in Deno, Node, bundlers and
 * `require(esm)`. Compilation is synchronous and happens once per variant per
 * process; each {@link instantiateCore} call gets a fresh instance (its own
 * linear memory), which is how simulated machines stay isolated.
 *
 * @module
 */

import { KernelBug } from "../errors.ts";
import { decodeBase64 } from "./_base64.ts";
import coverageB64 from "./_core_coverage.ts";
import debugB64 from "./_core_debug.ts";
import releaseB64 from "./_core_release.ts";

/** The three builds of asm/ (see build.ts). */
export type CoreVariant = "release" | "debug" | "coverage";

/** Every variant, in a stable order. */
export const CORE_VARIANTS: readonly CoreVariant[] = ["release", "debug", "coverage"];

/**
 * The exports of the WASM core. Integers in, integers out; addresses are
 * byte offsets into `memory`. A test checks that every variant provides each
 * one, so this list cannot drift from asm/index.ts unnoticed.
 */
export interface CoreExports {
  readonly memory: WebAssembly.Memory;
  /** Address of the host window (asm/hostbuf.ts). */
  hostbuf_ptr(): number;
  /** Size of the host window in bytes. */
  hostbuf_size(): number;
  /** Fuzz-pipeline smoke check: 1 when the input starts with "FUZZ" (asm/smoke.ts). */
  smoke_check(ptr: number, len: number): number;
  /** NR_CPUS, the most CPUs a CPU map covers (asm/cpumap.ts). */
  cpumap_nr_cpus(): number;
  /** MAX_HW_QUEUES, the most hardware queues a CPU map may name (asm/cpumap.ts). */
  cpumap_max_hw_queues(): number;
  /** Lowest CPU of `cpu`'s core; siblings 0 split, 1 adjacent; -22 if bad (asm/cpumap.ts). */
  cpumap_first_sibling(
    cpu: number,
    nrCpuIds: number,
    threadsPerCore: number,
    siblings: number,
  ): number;
  /** v4.4 `blk_mq_update_queue_map()` into `map` (u32 × nrCpuIds); 0 or -22 (asm/cpumap.ts). */
  cpumap_update_queue_map(
    map: number,
    nrCpuIds: number,
    nrQueues: number,
    online: number,
    threadsPerCore: number,
    siblings: number,
    linked: number,
  ): number;
  /** v6.18 `blk_mq_map_queues()` over `group_cpus_evenly()`; 0 or -22 (asm/cpumap.ts). */
  cpumap_map_queues(
    map: number,
    nrCpuIds: number,
    nrQueues: number,
    threadsPerCore: number,
    siblings: number,
  ): number;
  /** v4.4 `blk_mq_map_swqueue()`: fills nr_ctx, index_hw; ctxs attached or -22 (asm/cpumap.ts). */
  cpumap_map_swqueue(
    map: number,
    nrCpuIds: number,
    nrQueues: number,
    online: number,
    nrCtx: number,
    indexHw: number,
  ): number;
  /** Tag maps (asm/tags.ts, asm/sbitmap.ts); wake masks: bit q = wait queue q (0-7 normal, 8-15 reserved). */
  /** `blk_mq_alloc_tag_set()` depth rules: the depth to use, or -22 / -12. */
  blk_mq_tag_set_depth(queueDepth: number, reserved: number): number;
  /** Bytes a tag map needs (8-byte aligned), or -22. */
  blk_mq_tags_bytes(nrTags: number, reserved: number): number;
  /** `blk_mq_init_tags()`; policy 0 FIFO / 1 RR, era 0 v4.4 / 1 modern; 0 or -22. */
  blk_mq_init_tags(tags: number, nrTags: number, reserved: number, policy: number, era: number, seed: number): number;
  /** Initialises one ctx's hint word (v4.4: 0; modern: random below depth unless RR). */
  blk_mq_tag_init_hint(tags: number, hint: number, reserved: number): void;
  /** `blk_mq_get_tag()` (one attempt) + `__blk_mq_alloc_request()` accounting: the tag, or -1. */
  blk_mq_get_tag(tags: number, hctx: number, hint: number, reserved: number): number;
  /** `__blk_mq_free_request()` accounting + `blk_mq_put_tag()`: wake mask, or -22. */
  blk_mq_put_tag(tags: number, tag: number, hint: number): number;
  /** 1 when `tag` is allocated, 0 when not, -22 when >= nr_tags. */
  blk_mq_tag_allocated(tags: number, tag: number): number;
  /** `blk_mq_tag_busy()`: 1 when the hctx is tag-shared (and now active), else 0. */
  blk_mq_tag_busy(tags: number, hctx: number): number;
  /** `blk_mq_tag_idle()`: wake mask. */
  blk_mq_tag_idle(tags: number, hctx: number): number;
  /** `hctx_may_queue()`: 1 allowed, 0 not. */
  hctx_may_queue(tags: number, hctx: number, reserved: number): number;
  /** `blk_mq_tag_update_depth()` for an nr_requests write: wake mask, or -22. */
  blk_mq_tag_update_depth(tags: number, nr: number): number;
  /** `blk_mq_tag_wakeup_all()`: wake mask. */
  blk_mq_tag_wakeup_all(tags: number, includeReserve: number): number;
  /** Modern `sbitmap_queue_wake_up(bt, nr)`: wake mask, or -22 for v4.4. */
  blk_mq_tag_wake_up(tags: number, reserved: number, nr: number): number;
  /** `bt_wait_ptr()`: the wait-queue id for a sleeping allocation. */
  blk_mq_tag_wait_queue(tags: number, hctx: number, reserved: number): number;
  /** Waiter accounting of prepare/finish_wait: queued and active are -1, 0 or +1; 0 or -22. */
  blk_mq_tag_wait_account(tags: number, qid: number, queued: number, active: number): number;
  /** Bytes of an hctx's tag fields. */
  blk_mq_hctx_tags_bytes(): number;
  /** Initialises an hctx's tag fields with `flags` (2 = BLK_MQ_F_TAG_SHARED). */
  blk_mq_hctx_tags_init(hctx: number, flags: number): void;
  /** Sets an hctx's flags. */
  blk_mq_hctx_set_flags(hctx: number, flags: number): void;
  /** hctx field: 0 flags, 1 state, 2 nr_active, 3 wait_index; -22 otherwise. */
  blk_mq_hctx_stat(hctx: number, stat: number): number;
  /** Map field: 0 nr_tags, 1 nr_reserved, 2 active_queues, 3 policy, 4 era, 5 built depth; -22 otherwise. */
  blk_mq_tags_stat(tags: number, stat: number): number;
  /** Bitmap field: 0 depth, 1 shift, 2 map_nr, 3 wake batch, 4 wake_index, 5 used, 6 waiting, 7/8 completion/wakeup_cnt. */
  blk_mq_bt_stat(tags: number, reserved: number, stat: number): number;
  /** Wait queue field: 0 wait_cnt (v4.4), 1 tasks waiting; -22 otherwise. */
  blk_mq_bt_queue_stat(tags: number, qid: number, stat: number): number;
  /** Word field: 0 depth, 1 bits set, 2 bits in `cleared`; -22 out of range. */
  blk_mq_bt_word_stat(tags: number, reserved: number, index: number, stat: number): number;
  /** 1 when words are updated with WASM atomics (built with threads), 0 for plain ops. */
  blk_mq_tags_atomic(): number;
  /** Bench loop: get one, put the oldest of a FIFO ring, `iters` times; tag sum or -1. */
  blk_mq_tags_bench(tags: number, hint: number, ring: number, outstanding: number, iters: number): number;
  /** DEBUG builds: the next test-and-set of each bit of (hi:lo) loses a race; -38 in release. */
  tags_debug_race(lo: number, hi: number): number;
  /** Page allocator, slab, kmalloc, KASAN, kmemleak, mempool, failslab (asm/page_alloc.ts, asm/slab*.ts, asm/kasan.ts, asm/mempool.ts, asm/failslab.ts); ts/kernel/slab.ts wraps them. */
  /** `__get_free_pages()`: 2^order naturally aligned pages, or 0 (see mm_errno). */
  alloc_pages(order: number): number;
  /** `free_pages()`; a bad block is reported (KASAN ring) and left alone. */
  free_pages(addr: number, order: number): void;
  /** -errno of the last failed memory call (-12, -22, -16, -11); not cleared on success. */
  mm_errno(): number;
  /** Most pages allocated at once: the previous limit, or -22. */
  page_alloc_set_limit(nrPages: number): number;
  /** The current page limit. */
  page_alloc_limit(): number;
  /** Pages allocated now (page blocks and slabs). */
  page_alloc_nr_used(): number;
  /** Pages taken from memory.grow so far. */
  page_alloc_nr_managed(): number;
  /** Free blocks of one order, or -22. */
  page_alloc_nr_free(order: number): number;
  /** Bytes of mem_map sections and KASAN shadow. */
  page_alloc_meta_bytes(): number;
  /** failslab/fail_page_alloc probability mode; target = cache id, -1 failslab, -2 page alloc; 0 or -22. */
  fault_attr_set(target: number, probability: number, interval: number, times: number, seed: number): number;
  /** Makes the nth next allocation at target fail (0 cancels); 0 or -22. */
  fault_fail_nth(target: number, nth: number): number;
  /** Calls left before fail_nth fires (0 = disarmed), or -22. */
  fault_fail_nth_pending(target: number): number;
  /** Failures injected at target so far, or -22. */
  fault_injected(target: number): number;
  /** 1 when accesses are checked (DEBUG builds). */
  kasan_enabled(): number;
  /** Narrows an allocation to [addr, addr + size); the rest becomes redzone. 0 or -22. */
  kasan_guard(addr: number, size: number): number;
  /** `__asan_loadN()`: 0, -14 (reported) or -22. */
  kasan_load(addr: number, size: number, site: number): number;
  /** Checked byte load: 0..255 or -14. */
  kasan_load_u8(addr: number, site: number): number;
  /** Checked memcpy: 0, -14 (nothing written) or -22. */
  kasan_memcpy(dst: number, src: number, n: number, site: number): number;
  /** Checked memset: 0, -14 (nothing written) or -22. */
  kasan_memset(addr: number, value: number, n: number, site: number): number;
  /** Reports waiting in the ring. */
  kasan_report_count(): number;
  /** Reports overwritten unread. */
  kasan_report_lost(): number;
  /** Address of the oldest unread report record (48 bytes), or 0. */
  kasan_report_peek(): number;
  /** Drops the oldest unread report. */
  kasan_report_pop(): void;
  /** `__asan_storeN()`: 0, -14 (reported) or -22. */
  kasan_store(addr: number, size: number, site: number): number;
  /** Checked 32-bit store: 0 or -14 (nothing written). */
  kasan_store_u32(addr: number, value: number, site: number): number;
  /** Checked byte store: 0 or -14 (nothing written). */
  kasan_store_u8(addr: number, value: number, site: number): number;
  /** `kmem_cache_alloc()`: the object, or 0 (see mm_errno). */
  kmem_cache_alloc(cache: number, site: number): number;
  /** `kmem_cache_create()`: the cache id, -22 or -12. */
  kmem_cache_create(size: number, align: number, flags: number): number;
  /** `kmem_cache_destroy()`: 0, -16 (live objects) or -22. */
  kmem_cache_destroy(cache: number): number;
  /** `kmem_cache_free()`: 0 or -22 (reported). */
  kmem_cache_free(cache: number, ptr: number): number;
  /** Live objects of a cache, or -22. */
  kmem_cache_nr_live(cache: number): number;
  /** Slabs of a cache, or -22. */
  kmem_cache_nr_slabs(cache: number): number;
  /** Objects per slab, or -22. */
  kmem_cache_objects_per_slab(cache: number): number;
  /** Slab order, or -22. */
  kmem_cache_order(cache: number): number;
  /** `kmem_cache_shrink()`: empty slabs released (cache 0 = all caches); pages, or -22. */
  kmem_cache_shrink(cache: number): number;
  /** Object size of a cache, or -22. */
  kmem_cache_size(cache: number): number;
  /** Bytes between objects (with the DEBUG redzone), or -22. */
  kmem_cache_stride(cache: number): number;
  /** `kmem_cache_zalloc()`. */
  kmem_cache_zalloc(cache: number, site: number): number;
  /** `kfree()`; a bad pointer is reported (KASAN ring) and left alone. */
  kfree(ptr: number): void;
  /** `kmalloc()`: the object, 16 for size 0, or 0 (see mm_errno). */
  kmalloc(size: number, site: number): number;
  /** The kmalloc cache id serving `size`, or -22. */
  kmalloc_cache_id(size: number): number;
  /** `ksize()`, or -22. */
  ksize(ptr: number): number;
  /** `kzalloc()`. */
  kzalloc(size: number, site: number): number;
  /** 1 when allocations record site and size. */
  kmemleak_enabled(): number;
  /** First live slab object, or 0. */
  kmemleak_first(): number;
  /** Live object after `cursor`, or 0. */
  kmemleak_next(cursor: number): number;
  /** Switches tracking (release only); the state in effect. */
  kmemleak_set_enabled(on: number): number;
  /** First live object of one cache, or 0. */
  slab_cache_first_object(cache: number): number;
  /** Cache id of a live object, or -22. */
  slab_obj_cache(ptr: number): number;
  /** Allocation-site id of a live object (0 untracked), or -22. */
  slab_obj_site(ptr: number): number;
  /** Requested size of a live object, or -22. */
  slab_obj_size(ptr: number): number;
  /** Objects in the KASAN quarantine. */
  kasan_quarantine_count(): number;
  /** Releases every quarantined object to its slab. */
  kasan_quarantine_drain(): void;
  /** `mempool_alloc()` up to where it would sleep: element or 0 (mm_errno -11 = would sleep). */
  mempool_alloc(pool: number, gfp: number): number;
  /** The retry after sleeping (full gfp mask). */
  mempool_alloc_again(pool: number, gfp: number): number;
  /** `mempool_create()`; kind 1 slab, 2 kmalloc, 3 page: the pool, or 0. */
  mempool_create(kind: number, poolData: number, minNr: number, site: number): number;
  /** Reserve elements now, or -22. */
  mempool_curr_nr(pool: number): number;
  /** `mempool_destroy()`: 0 or -22. */
  mempool_destroy(pool: number): number;
  /** `mempool_free()`: 1 refilled the reserve (wake waiters), 0 freed, -22 rejected. */
  mempool_free(element: number, pool: number): number;
  /** Reserve size, or -22. */
  mempool_min_nr(pool: number): number;
  /** Allocations served from the reserve, or -22. */
  mempool_nr_reserve_used(pool: number): number;
  /** Bench: n bump alloc+free pairs; checksum or -12/-22. */
  bench_bump_pairs(size: number, n: number): number;
  /** Bench: n kmalloc+kfree pairs; checksum or -12. */
  bench_kmalloc_pairs(size: number, n: number): number;
  /** Bench: n kmem_cache_alloc+free pairs; checksum or -12. */
  bench_slab_pairs(cache: number, n: number): number;
  /** Bio records (asm/bio.ts); ts/block/bio.ts wraps them. -22 = freed bio or bad argument. */
  /** `bio_add_page()`: len, 0 full, -1 cloned bio, -22. */
  bio_add_page(bio: number, page: number, len: number, offset: number): number;
  /** `bio_advance()`: 0, -7 past bi_size (nothing changed), -22. */
  bio_advance(bio: number, bytes: number): number;
  /** The tail of `bio_alloc_bioset()`: init, pool, bvec class (15 = none), max_vecs, io_vec; 0 or -22. */
  bio_alloc_init(bio: number, bs: number, nrVecs: number, bvl: number, idx: number): number;
  /** `bio_alloc_bioset()` of 0..4 inline vecs without sleeping, from a live bio_set record: the bio, or 0 (mm_errno -11 would sleep, -12, -22). */
  bio_alloc_nowait(bs: number, gfp: number, nrVecs: number): number;
  /** `bio_chain()`: 0, or -22 (BUG_ON: bi_private/bi_end_io already set). */
  bio_chain(bio: number, parent: number): number;
  /** The offset of request field `i` in the order of ts/block/request_record.ts's RQ (asm/request.ts), or -22. */
  request_field_offset(i: number): number;
  /** `bio_endio()`: the chain walked, children put and end_io run through host calls; 0 or -22. */
  bio_endio(bio: number): number;
  /** One pass of `bio_endio()`: 0 stop, 1 call end_io, 2 chained (put, go on with the parent), -22. */
  bio_endio_step(bio: number): number;
  /** `bio_get()`: 0 or -22. */
  bio_get(bio: number): number;
  /** `bio_init()`: 0 or -22. */
  bio_init(bio: number): number;
  /** `bio_put()` minus the free: 1 free it now, 0 referenced, -22 freed already (KASAN report filed). */
  bio_put(bio: number): number;
  /** `bio_put()` with the free of an inline-vec bio of a bio_set: 0 done, 1 freed into the reserve (wake), 2 the TS side frees it, -22 freed already, -3 no live bio_set, -4 the pool refused it (KASAN report filed). */
  bio_put_free(bio: number): number;
  /** `bio_reset()`: 0 or -22. */
  bio_reset(bio: number): number;
  /** `bio_segments()`: the count, or -22. */
  bio_segments(bio: number): number;
  /** The record half of `bio_split()` on an allocated `split`: 0 or -22 (BUG_ON). */
  bio_split_init(split: number, bio: number, sectors: number): number;
  /** `sizeof(struct bio)`: 80. */
  bio_struct_size(): number;
  /** `sizeof(struct bio_vec)`: 12. */
  bio_vec_size(): number;
  /** `bvec_alloc()`'s size class of nr vecs: 0..5, or -22 outside 1..256. */
  bvec_idx(nr: number): number;
  /** `bvec_nr_vecs()`: vecs of a class, or -22. */
  bvec_nr_vecs(idx: number): number;
  /** `list_add_tail(rq, h)` when `tail` is 1, else `list_add(rq, h)` (asm/blk_mq_ctx.ts). */
  blk_list_add(rq: number, h: number, tail: number): void;
  /** `list_del_init(rq)`. */
  blk_list_del_init(rq: number): void;
  /** `INIT_LIST_HEAD(h)`. */
  blk_list_init(h: number): void;
  /** The first entry of `h`, taken off with `list_del_init()`; 0 when empty. */
  blk_list_pop(h: number): number;
  /** `list_splice_tail_init(list, h)` when `tail` is 1, else `list_splice_init(list, h)`. */
  blk_list_splice_init(list: number, h: number, tail: number): void;
  /** The per-CPU part of `blk_mq_init_cpu_queues()` on a zeroed ctx record. */
  blk_mq_ctx_init(ctx: number, cpu: number): void;
  /** `sizeof(struct blk_mq_ctx)`: 64. */
  blk_mq_ctx_struct_size(): number;
  /** `flush_busy_ctxs()`: every pending ctx's rq_list onto the tail of `list`. */
  blk_mq_flush_busy_ctxs(hctx: number, list: number): void;
  /** `blk_mq_hctx_clear_pending()`. */
  blk_mq_hctx_clear_pending(hctx: number, indexHw: number): void;
  /** `blk_mq_hctx_has_pending()`: 1 or 0. */
  blk_mq_hctx_has_pending(hctx: number): number;
  /** `blk_mq_hctx_mark_pending()`. */
  blk_mq_hctx_mark_pending(hctx: number, indexHw: number): void;
  /** The record part of `blk_mq_init_hctx()` on a zeroed hctx record. */
  blk_mq_hw_ctx_init(hctx: number, queueNum: number, ctxs: number, map: number, nrWords: number): void;
  /** `sizeof(struct blk_mq_hw_ctx)` (its request-path part): 192. */
  blk_mq_hw_ctx_struct_size(): number;
  /** `sizeof` part0's statistics record (asm/genhd.ts): 96. */
  part_stats_struct_size(): number;
  /** `part_round_stats()` at jiffies `now`: 0 or -22 (asm/genhd.ts). */
  part_round_stats(p: number, now: number): number;
  /** `blk_account_io_start()`: round + in_flight[rw]++ (newIo 1) or merges[rw]++ (0); 0 or -22. */
  blk_account_io_start(p: number, rw: number, newIo: number, now: number): number;
  /** `blk_account_io_completion()`: sectors[rw] += bytes >> 9; 0 or -22. */
  blk_account_io_completion(p: number, rw: number, bytes: number): number;
  /** `blk_account_io_done()`: ios, ticks += now - start, round, in_flight[rw]--; 0 or -22. */
  blk_account_io_done(p: number, rw: number, start: number, now: number): number;
  /** percpu_ref records (asm/percpu_ref.ts); ts/kernel/percpu_ref.ts wraps them. `cpu` is the current CPU. */
  /** `sizeof(struct percpu_ref)` with nr per-CPU counters inline: 16 + 8 × nr, or -22 outside 1..NR_CPUS. */
  percpu_ref_struct_size(nrCpuIds: number): number;
  /** The record half of `percpu_ref_init()` (PERCPU_REF_INIT_* flags); 0 or -22. */
  percpu_ref_init(ref: number, nrCpuIds: number, flags: number): number;
  /** `percpu_ref_get()`. */
  percpu_ref_get(ref: number, cpu: number): void;
  /** `percpu_ref_tryget()`: 1 taken, 0 the count is zero. */
  percpu_ref_tryget(ref: number, cpu: number): number;
  /** `percpu_ref_tryget_live()`: 1 taken, 0 dead or zero. */
  percpu_ref_tryget_live(ref: number, cpu: number): number;
  /** `percpu_ref_put()`: 1 the count reached zero (call release), else 0. */
  percpu_ref_put(ref: number, cpu: number): number;
  /** `percpu_ref_is_zero()`: 1 or 0. */
  percpu_ref_is_zero(ref: number): number;
  /** Sets __PERCPU_REF_DEAD. */
  percpu_ref_set_dead(ref: number): void;
  /** Clears __PERCPU_REF_DEAD. */
  percpu_ref_clear_dead(ref: number): void;
  /** Sets __PERCPU_REF_ATOMIC (a switch to atomic starts; the bias stays until the fold). */
  percpu_ref_set_atomic(ref: number): void;
  /** `percpu_ref_switch_to_atomic_rcu()`'s fold: 1 when the count is <= 0 after it (WARN), else 0. */
  percpu_ref_fold(ref: number): number;
  /** `__percpu_ref_switch_to_percpu()`'s record half: bias in, counters zeroed, ATOMIC cleared. */
  percpu_ref_set_percpu(ref: number): void;
  /** `blk_mq_map_queue()`: the hctx record address of `cpu`, 0 past nr_cpu_ids or without a map (asm/blk_queue.ts). */
  blk_mq_map_queue(q: number, cpu: number): number;
  /** The AS `blk_queue_*()` flag helpers, one bit each (0 nomerges … 8 poll). */
  blk_queue_flags_stat(q: number): number;
  /** The record part of `blk_alloc_queue_node()` on a zeroed queue record: `id`, `nr_cpu_ids`. */
  blk_queue_record_init(q: number, id: number, nrCpuIds: number): void;
  /** `sizeof(struct request_queue)` (its request-path part): 64. */
  request_queue_struct_size(): number;
  /** The end of a request (asm/blk_mq_end.ts); negatives are its END_FAULT_* codes. */
  /** `blk_update_request()` minus the printk: 1 bytes remain, 0 done, or a fault. */
  blk_update_request(rq: number, error: number, nrBytes: number): number;
  /** `__blk_mq_end_request()`: accounting, then rq end_io (host call) or the free; 0 or a fault. */
  __blk_mq_end_request(rq: number, error: number, now: number, tickNs: number, thisCpu: number): number;
  /** `blk_mq_end_request()`: update for all bytes, then `__blk_mq_end_request()`; 0 or a fault. */
  blk_mq_end_request(rq: number, error: number, now: number, tickNs: number, thisCpu: number): number;
  /** `blk_mq_free_request()`: rq_completed, then `__blk_mq_free_request()`; 0, -8 (no hctx) or -9 (tag not allocated). */
  blk_mq_free_request(rq: number, thisCpu: number): number;
  /**
   * `__blk_mq_free_request()` on hctx record `hctx` from ctx `cpu`: the tag put (in the core while the hctx
   * has a live map), the queue exit on `thisCpu` (the core's in percpu mode); 0 or -9 (tag not allocated).
   */
  __blk_mq_free_request(rq: number, hctx: number, cpu: number, thisCpu: number): number;
  /**
   * `blk_mq_rq_ctx_init()` + `hctx->queued++` on the record of a tag just had (asm/blk_mq_map.ts);
   * `now` in ns; 0 or -22.
   */
  blk_mq_rq_ctx_init(q: number, hctx: number, ctx: number, rq: number, biRw: number, tag: number, now: number): number;
  /** `blk_mq_bio_to_request()` (part0 accounting at `jiffies`); 0, -22 (bad record) or -14 (part0 refused). */
  blk_mq_bio_to_request(q: number, rq: number, bio: number, jiffies: number): number;
  /** One merge candidate: `blk_rq_merge_ok()`, `blk_try_merge()`, back/front merge; 0 none, 1 merged, 2 refused, -22, -14. */
  blk_rq_bio_merge(q: number, rq: number, bio: number, jiffies: number): number;
  /** `blk_mq_attempt_merge()` over the ctx's newest 8 requests; 1 merged, 0 not, -22, -14. */
  blk_mq_attempt_merge(q: number, ctx: number, bio: number, jiffies: number): number;
  /** `__blk_mq_insert_request()`: head or tail of `ctx->rq_list`, ctx marked pending; 0 or -22. */
  __blk_mq_insert_request(hctx: number, ctx: number, rq: number, atHead: number): number;
  /** `blk_mq_merge_queue_io()` under the caller's ctx lock; 1 merged (free `rq`), 0 inserted, -22, -14. */
  blk_mq_merge_queue_io(q: number, hctx: number, ctx: number, rq: number, bio: number, jiffies: number): number;
  /** `blk_add_timer()` (asm/blk_mq_dispatch.ts): deadline set, the queue timer armed through host_mod_timer when due; 0 or -22. */
  blk_add_timer(q: number, rq: number, jiffies: number, cpu: number, hz: number): number;
  /** `blk_mq_start_request()`: `blk_add_timer()` (none when `q` is 0), STARTED set, COMPLETE cleared; 0 or -22. */
  blk_mq_start_request(q: number, rq: number, jiffies: number, cpu: number, hz: number): number;
  /**
   * `__blk_mq_run_hw_queue()` after the STOPPED test on the current CPU `cpu` (clock `now` ns, `hz`, `tickNs`):
   * `queue_rq` through host_queue_rq, or the inline driver `drv` (BLK_MQ_INLINE_*); 1 rerun async, 0, or -22.
   */
  __blk_mq_run_hw_queue_dispatch(q: number, hctx: number, cpu: number, now: number, hz: number, tickNs: number, drv: number): number;
  /**
   * The make_request of a bio without sleeping, under the task's plug record `plug` (0 for none)
   * (asm/blk_mq_make_request.ts): the cookie, -1 (merged), -2 (would sleep; nothing done), -3 (not taken;
   * nothing done), or -22 / -14 (a record refused).
   */
  blk_mq_make_request_nowait(q: number, bio: number, plug: number, cpu: number, now: number, hz: number, tickNs: number, flags: number): number;
  /** `blk_flush_plug_list()` of a plug holding only `q`'s requests: 0, -3 (not the core's plug; nothing done), -22. */
  blk_mq_flush_plug_list_nowait(plug: number, q: number, fromSchedule: number, cpu: number, now: number, hz: number, tickNs: number, flags: number): number;
  /** A `struct blk_plug` record (asm/blk_plug.ts), `mq_list` empty; 0 when all are held. */
  blk_plug_alloc(): number;
  /** Gives a plug record back: 0, -22 (not a held record), -16 (requests still on it). */
  blk_plug_free(plug: number): number;
  /** Bytes of an aio context of `nrEvents` slots (asm/aio.ts): header, slots, completion and submission rings. */
  kioctx_size(nrEvents: number): number;
  /** `sizeof(struct aio_kiocb)` in the port (32). */
  aio_kiocb_size(): number;
  /** The context record at `ctx` (kioctx_size() bytes), every slot free: 0, or -22. */
  kioctx_init(ctx: number, nrEvents: number): number;
  /** Marks the context record dead: 0, or -22. */
  kioctx_exit(ctx: number): number;
  /** `aio_complete()` of the slot record `kiocb`: 0, -22 (no slot), -16 (not in flight; counted in nr_bad). */
  aio_complete(kiocb: number, error: number): number;
  /**
   * `do_io_submit()`'s loop for `n` taken slots from submission-ring position `pos`, bios from the
   * bio_set record `bs`, sent to the queue record `q` under `plug` (asm/aio.ts): the slots sent, or -22.
   */
  io_submit_nowait(ctx: number, pos: number, n: number, bs: number, q: number, plug: number, cpu: number, now: number, hz: number, tickNs: number, flags: number): number;
  /** `sizeof` the `struct dio` record (asm/dio.ts), 40. */
  dio_record_size(): number;
  /** The dio record at `dio`: flags, rw, refcount 1: 0, or -22. */
  dio_init(dio: number, flags: number, rw: number): number;
  /** Marks the dio record dead: 0, -22 (not live), -16 (bios out, unreaped or cached). */
  dio_exit(dio: number): number;
  /** `dio_bio_end_io()` of `bio`: 0, or -22 (bi_private names no live dio). */
  dio_bio_end_io(bio: number): number;
  /** Takes the head of `dio->bio_list`: the bio, 0 (empty), -22 (no live dio). */
  dio_bio_reap(dio: number): number;
  /** The seed's rule of `dio_bio_complete()` for an ended bio: the bio to put (0 none), or -22. */
  dio_bio_keep(dio: number, bio: number): number;
  /**
   * `do_blockdev_direct_IO()` of one buffer as one call (asm/dio.ts): nbytes or -5 when it ended,
   * -0x1001 (would sleep) / -0x1002 (fallback) with nothing done, -0x1003 in flight, or an error.
   */
  dio_rw_nowait(dio: number, bs: number, q: number, write: number, sector: number, buf: number, nbytes: number, cpu: number, now: number, hz: number, tickNs: number, flags: number): number;
}

/** Names of the function exports in {@link CoreExports}, for the drift test. */
export const CORE_FUNCTIONS = [
  "hostbuf_ptr",
  "hostbuf_size",
  "smoke_check",
  "cpumap_nr_cpus",
  "cpumap_max_hw_queues",
  "cpumap_first_sibling",
  "cpumap_update_queue_map",
  "cpumap_map_queues",
  "cpumap_map_swqueue",
  "blk_mq_tag_set_depth",
  "blk_mq_tags_bytes",
  "blk_mq_init_tags",
  "blk_mq_tag_init_hint",
  "blk_mq_get_tag",
  "blk_mq_put_tag",
  "blk_mq_tag_allocated",
  "blk_mq_tag_busy",
  "blk_mq_tag_idle",
  "hctx_may_queue",
  "blk_mq_tag_update_depth",
  "blk_mq_tag_wakeup_all",
  "blk_mq_tag_wake_up",
  "blk_mq_tag_wait_queue",
  "blk_mq_tag_wait_account",
  "blk_mq_hctx_tags_bytes",
  "blk_mq_hctx_tags_init",
  "blk_mq_hctx_set_flags",
  "blk_mq_hctx_stat",
  "blk_mq_tags_stat",
  "blk_mq_bt_stat",
  "blk_mq_bt_queue_stat",
  "blk_mq_bt_word_stat",
  "blk_mq_tags_atomic",
  "blk_mq_tags_bench",
  "tags_debug_race",
  "alloc_pages",
  "free_pages",
  "mm_errno",
  "page_alloc_set_limit",
  "page_alloc_limit",
  "page_alloc_nr_used",
  "page_alloc_nr_managed",
  "page_alloc_nr_free",
  "page_alloc_meta_bytes",
  "fault_attr_set",
  "fault_fail_nth",
  "fault_fail_nth_pending",
  "fault_injected",
  "kasan_enabled",
  "kasan_guard",
  "kasan_load",
  "kasan_load_u8",
  "kasan_memcpy",
  "kasan_memset",
  "kasan_report_count",
  "kasan_report_lost",
  "kasan_report_peek",
  "kasan_report_pop",
  "kasan_store",
  "kasan_store_u32",
  "kasan_store_u8",
  "kmem_cache_alloc",
  "kmem_cache_create",
  "kmem_cache_destroy",
  "kmem_cache_free",
  "kmem_cache_nr_live",
  "kmem_cache_nr_slabs",
  "kmem_cache_objects_per_slab",
  "kmem_cache_order",
  "kmem_cache_shrink",
  "kmem_cache_size",
  "kmem_cache_stride",
  "kmem_cache_zalloc",
  "kfree",
  "kmalloc",
  "kmalloc_cache_id",
  "ksize",
  "kzalloc",
  "kmemleak_enabled",
  "kmemleak_first",
  "kmemleak_next",
  "kmemleak_set_enabled",
  "slab_cache_first_object",
  "slab_obj_cache",
  "slab_obj_site",
  "slab_obj_size",
  "kasan_quarantine_count",
  "kasan_quarantine_drain",
  "mempool_alloc",
  "mempool_alloc_again",
  "mempool_create",
  "mempool_curr_nr",
  "mempool_destroy",
  "mempool_free",
  "mempool_min_nr",
  "mempool_nr_reserve_used",
  "bench_bump_pairs",
  "bench_kmalloc_pairs",
  "bench_slab_pairs",
  "bio_add_page",
  "bio_advance",
  "bio_alloc_init",
  "bio_alloc_nowait",
  "bio_chain",
  "bio_endio",
  "request_field_offset",
  "bio_endio_step",
  "bio_get",
  "bio_init",
  "bio_put",
  "bio_put_free",
  "bio_reset",
  "bio_segments",
  "bio_split_init",
  "bio_struct_size",
  "bio_vec_size",
  "bvec_idx",
  "bvec_nr_vecs",
  "blk_list_add",
  "blk_list_del_init",
  "blk_list_init",
  "blk_list_pop",
  "blk_list_splice_init",
  "blk_mq_ctx_init",
  "blk_mq_ctx_struct_size",
  "blk_mq_flush_busy_ctxs",
  "blk_mq_hctx_clear_pending",
  "blk_mq_hctx_has_pending",
  "blk_mq_hctx_mark_pending",
  "blk_mq_hw_ctx_init",
  "blk_mq_hw_ctx_struct_size",
  "part_stats_struct_size",
  "part_round_stats",
  "blk_account_io_start",
  "blk_account_io_completion",
  "blk_account_io_done",
  "percpu_ref_struct_size",
  "percpu_ref_init",
  "percpu_ref_get",
  "percpu_ref_tryget",
  "percpu_ref_tryget_live",
  "percpu_ref_put",
  "percpu_ref_is_zero",
  "percpu_ref_set_dead",
  "percpu_ref_clear_dead",
  "percpu_ref_set_atomic",
  "percpu_ref_fold",
  "percpu_ref_set_percpu",
  "blk_mq_map_queue",
  "blk_queue_flags_stat",
  "blk_queue_record_init",
  "request_queue_struct_size",
  "blk_update_request",
  "__blk_mq_end_request",
  "blk_mq_end_request",
  "blk_mq_free_request",
  "__blk_mq_free_request",
  "blk_mq_rq_ctx_init",
  "blk_mq_bio_to_request",
  "blk_rq_bio_merge",
  "blk_mq_attempt_merge",
  "__blk_mq_insert_request",
  "blk_mq_merge_queue_io",
  "blk_add_timer",
  "blk_mq_start_request",
  "__blk_mq_run_hw_queue_dispatch",
  "blk_mq_make_request_nowait",
  "blk_mq_flush_plug_list_nowait",
  "blk_plug_alloc",
  "blk_plug_free",
  "kioctx_size",
  "aio_kiocb_size",
  "kioctx_init",
  "kioctx_exit",
  "aio_complete",
  "io_submit_nowait",
  "dio_record_size",
  "dio_init",
  "dio_exit",
  "dio_bio_end_io",
  "dio_bio_reap",
  "dio_bio_keep",
  "dio_rw_nowait",
] as const;

/** Extra exports of the coverage variant. */
export interface CoverageExports extends CoreExports {
  /** Number of edge counters; counter i is the byte at address i. */
  readonly __edge_cov_count: WebAssembly.Global;
}

const EMBEDDED: Record<CoreVariant, string> = {
  release: releaseB64,
  debug: debugB64,
  coverage: coverageB64,
};

const compiled = new Map<CoreVariant, WebAssembly.Module>();

/**
 * The embedded WebAssembly binary of a variant, decoded (a fresh copy each
 * call): for tools that patch the module before compiling it, such as the
 * fuzzer's snapshot machine.
 *
 * @throws {RangeError} for an unknown variant
 * @example
 * const bytes = coreBytes("coverage");
 * new WebAssembly.Module(bytes); // what coreModule("coverage") compiles
 */
export function coreBytes(variant: CoreVariant = "release"): Uint8Array<ArrayBuffer> {
  const b64 = EMBEDDED[variant];
  if (b64 === undefined) {
    throw new RangeError(`coreBytes: variant must be one of ${CORE_VARIANTS.join(", ")}, got ${variant}`);
  }
  return decodeBase64(b64) as Uint8Array<ArrayBuffer>;
}

/**
 * The compiled module of a variant, compiled on first use and cached.
 *
 * @throws {RangeError} for an unknown variant
 */
export function coreModule(variant: CoreVariant = "release"): WebAssembly.Module {
  let mod = compiled.get(variant);
  if (mod === undefined) {
    const b64 = EMBEDDED[variant];
    if (b64 === undefined) {
      throw new RangeError(`coreModule: variant must be one of ${CORE_VARIANTS.join(", ")}, got ${variant}`);
    }
    mod = new WebAssembly.Module(decodeBase64(b64) as Uint8Array<ArrayBuffer>);
    compiled.set(variant, mod);
  }
  return mod;
}

/**
 * Reads an AssemblyScript string (UTF-16, byte length in the header word
 * just before it) out of linear memory, for abort messages.
 */
function readAsString(memory: WebAssembly.Memory, ptr: number): string {
  if (ptr === 0) return "";
  const bytes = new Uint32Array(memory.buffer, ptr - 4, 1)[0];
  return String.fromCharCode(...new Uint16Array(memory.buffer, ptr, bytes >>> 1));
}

/**
 * A fresh instance of the core.
 *
 * A failed `assert()` inside WASM becomes a {@link KernelBug} naming the
 * AssemblyScript source location.
 *
 * @example
 * const core = instantiateCore("debug");
 * core.hostbuf_size(); // 65536
 */
export function instantiateCore(variant: "coverage"): CoverageExports;
export function instantiateCore(variant?: CoreVariant): CoreExports;
export function instantiateCore(variant: CoreVariant = "release"): CoreExports {
  return instantiateCoreModule(coreModule(variant)) as unknown as CoreExports;
}

/**
 * The host calls a core instance makes (asm/host.ts): one slot per import,
 * filled in by the {@link Kernel} that boots on the instance (its block
 * layer binds them; a core reused by the next Kernel is bound again). Until
 * then each slot throws a {@link KernelBug}: a core function that needs its
 * kernel was called without one.
 */
export interface CoreHost {
  /** `bio->bi_end_io(bio)` for end_io id `id` (never 0). */
  bioEndIo(bio: number, id: number): void;
  /** `bio_put()` of a chained child `bio_endio()` is done with. */
  bioPut(bio: number): void;
  /** `rq->end_io(rq, error)` for request end_io id `id` (never 0); an unknown id frees the request. */
  rqEndIo(rq: number, id: number, error: number): void;
  /** The tag put of `__blk_mq_free_request()`: `tag` on hctx `hctxNum` of queue `q` (an id), from ctx `cpu`. */
  blkMqPutTag(q: number, hctxNum: number, cpu: number, tag: number): void;
  /** The wake-ups (`mask`) of a tag put the core made on the live map of hctx `hctxNum` of queue `q` (an id). */
  blkMqTagWake(q: number, hctxNum: number, mask: number): void;
  /** `blk_queue_exit()` of queue `q` (an id). */
  blkQueueExit(q: number): void;
  /** `mod_timer(&q->timeout, expires)` for the queue record `q`. */
  modTimer(q: number, expires: number): void;
  /** `q->mq_ops->queue_rq(hctx, &bd)` for the queue and hctx records: the driver's answer (OK, BUSY, ERROR). */
  queueRq(q: number, hctx: number, rq: number, flags: number): number;
  /** `blk_mq_end_request(rq, error)`. */
  blkMqEndRequest(rq: number, error: number): void;
  /** The BUG of END_FAULT_* code `rc` in an end path the core ran itself: raises it. */
  blkEndFault(rq: number, rc: number): void;
  /** `blk_mq_run_hw_queue(hctx, true)` for the queue and hctx records. */
  blkMqRunHwQueueAsync(q: number, hctx: number): void;
  /** `spin_lock()` (`lock` 1) / `spin_unlock()` (0) of ctx `cpu`'s lock of the queue record `q`, while lockdep runs. */
  ctxLock(q: number, cpu: number, lock: number): void;
  /** `blk_flush_plug_list(plug, from_schedule)` of the plug record `plug`, by the TS flush. */
  blkFlushPlugList(plug: number, fromSchedule: number): void;
  /** `bio_free()` of a bio the core put but cannot free (vecs of its own, no bio_set). */
  bioFree(bio: number): void;
  /** `wake_up(&pool->wait)` of the bio_pool of the bio_set record `bs`: a core free refilled its reserve. */
  bioPoolWake(bs: number): void;
  /** The completion ring of the kioctx record `ctx` (which set its `notify`) turned non-empty. */
  aioNotify(ctx: number): void;
  /** `wake_up_process(dio->waiter)`: the last bio in flight of the dio record `dio` ended while a task waits on it. */
  dioWake(dio: number): void;
}

/** The names of {@link CoreHost}'s slots, each imported by the core as `env.host_<snake_case>`. */
const HOST_SLOTS = ["bioEndIo", "bioPut", "rqEndIo", "blkMqPutTag", "blkMqTagWake", "blkQueueExit", "modTimer", "queueRq", "blkMqEndRequest", "blkEndFault", "blkMqRunHwQueueAsync", "ctxLock", "blkFlushPlugList", "bioFree", "bioPoolWake", "aioNotify", "dioWake"] as const satisfies readonly (keyof CoreHost)[];

const HOSTS = new WeakMap<object, CoreHost>();

/**
 * The host-call slots of a core instance (from {@link instantiateCore} or
 * {@link instantiateCoreModule}); assign to them to bind the instance to a
 * kernel.
 *
 * @throws {TypeError} for an object that is no core instance's exports
 */
export function coreHost(core: CoreExports | WebAssembly.Exports): CoreHost {
  const h = HOSTS.get(core);
  if (h === undefined) throw new TypeError("coreHost: not the exports of a core instance");
  return h;
}

function unbound(name: string): () => never {
  return () => {
    throw new KernelBug(`host call ${name} on a core no kernel is bound to`, "ts/wasm/core.ts:coreHost");
  };
}

/** `bioEndIo` → `host_bio_end_io`. */
function importName(slot: string): string {
  return "host_" + slot.replace(/[A-Z]/g, (c) => "_" + c.toLowerCase());
}

/**
 * Instantiates a compiled core module (the embedded one, or one a tool
 * patched, such as the fuzzer's snapshot machine) with the imports every
 * core needs: `env.abort`, which raises an assertion as a {@link KernelBug},
 * and the host calls, which go to the instance's {@link coreHost} slots.
 *
 * @returns the instance's exports
 */
export function instantiateCoreModule(module: WebAssembly.Module): WebAssembly.Exports {
  let memory: WebAssembly.Memory | undefined;
  const host = {} as CoreHost;
  for (const slot of HOST_SLOTS) host[slot] = unbound(slot);
  const env: Record<string, (...args: number[]) => unknown> = {
    abort(msg: number, file: number, line: number, column: number): never {
      const m = memory ? readAsString(memory, msg) : "";
      const f = memory ? readAsString(memory, file) : "";
      throw new KernelBug(m || "assertion failed", `${f}:${line}:${column}`);
    },
    // One small forwarder per slot, so a kernel can rebind a slot at any time.
    host_bio_end_io: (bio, id) => host.bioEndIo(bio, id),
    host_bio_put: (bio) => host.bioPut(bio),
    host_rq_end_io: (rq, id, error) => host.rqEndIo(rq, id, error),
    host_blk_mq_put_tag: (q, hctxNum, cpu, tag) => host.blkMqPutTag(q, hctxNum, cpu, tag),
    host_blk_mq_tag_wake: (q, hctxNum, mask) => host.blkMqTagWake(q, hctxNum, mask),
    host_blk_queue_exit: (q) => host.blkQueueExit(q),
    host_mod_timer: (q, expires) => host.modTimer(q, expires),
    host_queue_rq: (q, hctx, rq, flags) => host.queueRq(q, hctx, rq, flags),
    host_blk_mq_end_request: (rq, error) => host.blkMqEndRequest(rq, error),
    host_blk_end_fault: (rq, rc) => host.blkEndFault(rq, rc),
    host_blk_mq_run_hw_queue_async: (q, hctx) => host.blkMqRunHwQueueAsync(q, hctx),
    host_ctx_lock: (q, cpu, lock) => host.ctxLock(q, cpu, lock),
    host_blk_flush_plug_list: (plug, fromSchedule) => host.blkFlushPlugList(plug, fromSchedule),
    host_bio_free: (bio) => host.bioFree(bio),
    host_bio_pool_wake: (bs) => host.bioPoolWake(bs),
    host_aio_notify: (ctx) => host.aioNotify(ctx),
    host_dio_wake: (dio) => host.dioWake(dio),
  };
  const exports = new WebAssembly.Instance(module, { env }).exports;
  memory = exports.memory as WebAssembly.Memory;
  HOSTS.set(exports, host);
  return exports;
}

/** @internal For the test that checks every slot has its import: `bioEndIo` → `host_bio_end_io`. */
export const HOST_IMPORTS: readonly string[] = HOST_SLOTS.map(importName);
