// Entry point of the WASM core: re-exports every module's exports.
// Integers in, integers out; no managed objects cross this boundary.

export { hostbuf_ptr, hostbuf_size } from "./hostbuf";
export { smoke_check } from "./smoke";
export {
  cpumap_first_sibling,
  cpumap_map_queues,
  cpumap_map_swqueue,
  cpumap_max_hw_queues,
  cpumap_nr_cpus,
  cpumap_update_queue_map,
} from "./cpumap";
export { tags_debug_race } from "./sbitmap";
export {
  blk_mq_bt_queue_stat,
  blk_mq_bt_stat,
  blk_mq_bt_word_stat,
  blk_mq_get_tag,
  blk_mq_hctx_set_flags,
  blk_mq_hctx_stat,
  blk_mq_hctx_tags_bytes,
  blk_mq_hctx_tags_init,
  blk_mq_init_tags,
  blk_mq_put_tag,
  blk_mq_tag_allocated,
  blk_mq_tag_busy,
  blk_mq_tag_idle,
  blk_mq_tag_init_hint,
  blk_mq_tag_set_depth,
  blk_mq_tag_update_depth,
  blk_mq_tag_wait_account,
  blk_mq_tag_wait_queue,
  blk_mq_tag_wake_up,
  blk_mq_tag_wakeup_all,
  blk_mq_tags_atomic,
  blk_mq_tags_bench,
  blk_mq_tags_bytes,
  blk_mq_tags_stat,
  hctx_may_queue,
} from "./tags";
export {
  alloc_pages,
  free_pages,
  mm_errno,
  page_alloc_limit,
  page_alloc_meta_bytes,
  page_alloc_nr_free,
  page_alloc_nr_managed,
  page_alloc_nr_used,
  page_alloc_set_limit,
} from "./page_alloc";
export { fault_attr_set, fault_fail_nth, fault_fail_nth_pending, fault_injected } from "./failslab";
export {
  kasan_enabled,
  kasan_guard,
  kasan_load,
  kasan_load_u8,
  kasan_memcpy,
  kasan_memset,
  kasan_report_count,
  kasan_report_lost,
  kasan_report_peek,
  kasan_report_pop,
  kasan_store,
  kasan_store_u32,
  kasan_store_u8,
} from "./kasan";
export {
  kmem_cache_alloc,
  kmem_cache_create,
  kmem_cache_destroy,
  kmem_cache_free,
  kmem_cache_nr_live,
  kmem_cache_nr_slabs,
  kmem_cache_objects_per_slab,
  kmem_cache_order,
  kmem_cache_shrink,
  kmem_cache_size,
  kmem_cache_stride,
  kmem_cache_zalloc,
} from "./slab";
export { kfree, kmalloc, kmalloc_cache_id, ksize, kzalloc } from "./slab_kmalloc";
export {
  kmemleak_enabled,
  kmemleak_first,
  kmemleak_next,
  kmemleak_set_enabled,
  slab_cache_first_object,
  slab_obj_cache,
  slab_obj_site,
  slab_obj_size,
} from "./slab_kmemleak";
export { kasan_quarantine_count, kasan_quarantine_drain } from "./slab_quarantine";
export {
  mempool_alloc,
  mempool_alloc_again,
  mempool_create,
  mempool_curr_nr,
  mempool_destroy,
  mempool_free,
  mempool_min_nr,
  mempool_nr_reserve_used,
} from "./mempool";
export { bench_bump_pairs, bench_kmalloc_pairs, bench_slab_pairs } from "./slab_bench";
export {
  bio_add_page,
  bio_advance,
  bio_alloc_init,
  bio_alloc_nowait,
  bio_chain,
  bio_endio,
  bio_endio_step,
  bio_get,
  bio_init,
  bio_put,
  bio_put_free,
  bio_reset,
  bio_segments,
  bio_split_init,
  bio_struct_size,
  bio_vec_size,
  bvec_idx,
  bvec_nr_vecs,
} from "./bio";
export {
  blk_list_add,
  blk_list_del_init,
  blk_list_init,
  blk_list_pop,
  blk_list_splice_init,
  blk_mq_ctx_init,
  blk_mq_ctx_struct_size,
  blk_mq_flush_busy_ctxs,
  blk_mq_hctx_clear_pending,
  blk_mq_hctx_has_pending,
  blk_mq_hctx_mark_pending,
  blk_mq_hw_ctx_init,
  blk_mq_hw_ctx_struct_size,
} from "./blk_mq_ctx";
export {
  blk_account_io_completion,
  blk_account_io_done,
  blk_account_io_start,
  part_round_stats,
  part_stats_struct_size,
} from "./genhd";
export {
  percpu_ref_clear_dead,
  percpu_ref_fold,
  percpu_ref_get,
  percpu_ref_init,
  percpu_ref_is_zero,
  percpu_ref_put,
  percpu_ref_set_atomic,
  percpu_ref_set_dead,
  percpu_ref_set_percpu,
  percpu_ref_struct_size,
  percpu_ref_tryget,
  percpu_ref_tryget_live,
} from "./percpu_ref";
export { blk_mq_map_queue, blk_queue_flags_stat, blk_queue_record_init, request_queue_struct_size } from "./blk_queue";
export {
  __blk_mq_end_request,
  __blk_mq_free_request,
  blk_mq_end_request,
  blk_mq_free_request,
  blk_update_request,
} from "./blk_mq_end";
export {
  __blk_mq_insert_request,
  blk_mq_attempt_merge,
  blk_mq_bio_to_request,
  blk_mq_merge_queue_io,
  blk_mq_rq_ctx_init,
  blk_rq_bio_merge,
} from "./blk_mq_map";
export {
  __blk_mq_run_hw_queue_dispatch,
  blk_add_timer,
  blk_mq_start_request,
} from "./blk_mq_dispatch";
export { blk_mq_flush_plug_list_nowait, blk_mq_make_request_nowait } from "./blk_mq_make_request";
export { blk_plug_alloc, blk_plug_free } from "./blk_plug";
export { aio_complete, aio_kiocb_size, io_submit_nowait, kioctx_exit, kioctx_init, kioctx_size } from "./aio";
export { dio_bio_end_io, dio_bio_keep, dio_bio_reap, dio_exit, dio_init, dio_record_size, dio_rw_nowait } from "./dio";
export { request_field_offset } from "./request";
