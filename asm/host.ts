// SPDX-License-Identifier: GPL-2.0-only
// Host calls: what the core asks of the TypeScript kernel that owns it.
//
// The request path runs in WASM over records in linear memory, but some of
// what it does belongs to TypeScript: a bio's end_io callback (a TS function
// kept in a table by id), the free of a bio (its mempool may wake a sleeper),
// a driver's queue_rq, the queue timer. Each is an import of module "env",
// which ts/wasm/core.ts's instantiateCoreModule() provides from a per-instance
// slot table (CoreHost) that the instance's Kernel fills in.
//
// A host call may re-enter the core (an end_io callback frees its bio, which
// calls bio_put()), so a caller makes its records consistent before it makes
// one, and reads them again after. A host call may throw (a BUG on the TS
// side): the exception unwinds through the WASM frames unchanged.
//
// Only imports that some core function calls end up in the module (the
// compiler drops the others), so adding one here costs nothing until used.

/** `bio->bi_end_io(bio)` for the end_io id `id` (ts/block/bio.ts's table; never 0). */
@external("env", "host_bio_end_io")
export declare function host_bio_end_io(bio: u32, id: u32): void;

/**
 * `bio_put()` of a chained child whose part of `bio_endio()` is over: the
 * TS side drops the reference and frees the bio to its bio_set.
 */
@external("env", "host_bio_put")
export declare function host_bio_put(bio: u32): void;

/**
 * `bio_free()` of a bio whose last reference the core dropped but cannot
 * free itself (asm/bio.ts's bio_put_free(): vecs of its own, or no bio_set):
 * the TS side frees its vecs and the bio.
 */
@external("env", "host_bio_free")
export declare function host_bio_free(bio: u32): void;

/**
 * `wake_up(&pool->wait)` of the bio_pool of bio_set `bs` (its record): a
 * bio the core freed refilled the reserve, and tasks sleeping for a bio
 * wait on the TS side.
 */
@external("env", "host_bio_pool_wake")
export declare function host_bio_pool_wake(bs: u32): void;

/**
 * The wake-up of a kioctx's ring reader (`aio_complete()`'s
 * `wake_up(&ctx->wait)`): the completion ring of the context record `ctx`,
 * which asked for it (its `notify`), turned non-empty.
 */
@external("env", "host_aio_notify")
export declare function host_aio_notify(ctx: u32): void;

/**
 * `wake_up_process(dio->waiter)` of `dio_bio_end_io()`: the last bio in
 * flight of the dio record `dio` ended while a task sleeps in
 * `dio_await_one()` (the task is the TS side's).
 */
@external("env", "host_dio_wake")
export declare function host_dio_wake(dio: u32): void;

/**
 * `rq->end_io(rq, error)` for the request end_io id `id` (never 0;
 * ts/block/_rq_end_io.ts's table). An id the table does not know frees the
 * request instead, as a request without end_io.
 */
@external("env", "host_rq_end_io")
export declare function host_rq_end_io(rq: u32, id: u32, error: i32): void;

/**
 * The tag put of `__blk_mq_free_request()`: `blk_mq_put_tag()` of `tag` on
 * the map of hctx `hctx_num` of queue `q` (its id), from the ctx of `cpu`.
 * The TS tag map checks the put (a double put is reported), a freed map is
 * a KASAN report, and the waiters the put frees a tag for are woken.
 */
@external("env", "host_blk_mq_put_tag")
export declare function host_blk_mq_put_tag(q: u32, hctx_num: u32, cpu: u32, tag: i32): void;

/**
 * The wake-ups of a tag put the core made on the live map of hctx
 * `hctx_num` of queue `q` (its id): the tasks waiting on the wait queues in
 * `mask` are handed to the scheduler.
 */
@external("env", "host_blk_mq_tag_wake")
export declare function host_blk_mq_tag_wake(q: u32, hctx_num: u32, mask: u32): void;

/** `blk_queue_exit()` of queue `q` (its id): `percpu_ref_put(&q->q_usage_counter)`, release included. */
@external("env", "host_blk_queue_exit")
export declare function host_blk_queue_exit(q: u32): void;

/**
 * `mod_timer(&q->timeout, expires)` for the queue record `q`: the TS side
 * arms the queue's timer, whose `onChange` hook updates the record's
 * `timeout_pending` / `timeout_expires` mirror before this returns.
 */
@external("env", "host_mod_timer")
export declare function host_mod_timer(q: u32, expires: f64): void;

/**
 * `q->mq_ops->queue_rq(hctx, &bd)` for the queue record `q` and hctx record
 * `hctx`: the TS side builds `bd` (`rq`; `last` from QUEUE_RQ_LAST; `list`
 * the run's driver list with QUEUE_RQ_LIST, a new one with
 * QUEUE_RQ_LIST_NEW, else null; asm/blk_mq_dispatch.ts) and calls the
 * driver. It logs an answer other than OK, BUSY or ERROR
 * ("blk-mq: bad return on queue") and passes it on as ERROR.
 */
@external("env", "host_queue_rq")
export declare function host_queue_rq(q: u32, hctx: u32, rq: u32, flags: u32): i32;

/** `blk_mq_end_request(rq, error)`: the TS side's, until the end path runs in the core. */
@external("env", "host_blk_mq_end_request")
export declare function host_blk_mq_end_request(rq: u32, error: i32): void;

/**
 * The BUG of a step of the end path the core ran on its own (the inline
 * driver's `blk_mq_end_request()`, asm/null_blk.ts): `rc` is an END_FAULT_*
 * code of asm/blk_mq_end.ts. The TS side raises what its own end path
 * raises for it, so this does not return.
 */
@external("env", "host_blk_end_fault")
export declare function host_blk_end_fault(rq: u32, rc: i32): void;

/**
 * `blk_mq_run_hw_queue(hctx, true)` for the queue record `q` and hctx record
 * `hctx`: the run as a work on kblockd (the TS workqueue), after the same
 * STOPPED and mapped tests.
 */
@external("env", "host_blk_mq_run_hw_queue_async")
export declare function host_blk_mq_run_hw_queue_async(q: u32, hctx: u32): void;

/**
 * `spin_lock(&ctx->lock)` (`lock` 1) or `spin_unlock()` (0) of the ctx of
 * `cpu` of the queue record `q`, made by the core only while lockdep runs:
 * the TS lock validates the order and reports misuse. Without lockdep the
 * core's section makes no host call, so nothing can observe the lock.
 */
@external("env", "host_ctx_lock")
export declare function host_ctx_lock(q: u32, cpu: u32, lock: u32): void;

/**
 * `blk_flush_plug_list(plug, from_schedule)` by the TS flush
 * (ts/block/blk_plug.ts), for a plug the core's make_request must flush
 * but cannot itself: one holding another queue's requests, or a request of
 * an offline CPU's ctx.
 */
@external("env", "host_blk_flush_plug_list")
export declare function host_blk_flush_plug_list(plug: u32, from_schedule: u32): void;
