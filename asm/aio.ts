// SPDX-License-Identifier: GPL-2.0-only
// The block-device half of fs/aio.c and fs/direct-io.c (v4.4) under the
// batch API (ts/block/aio.ts): the context's records, the loop of
// `io_submit()` and the completion `aio_complete()`.
//
// A context (`struct kioctx`) is one block of linear memory the TS side
// places (pages, as the kernel's aio ring): a header, then nr_events iocb
// slots (`struct aio_kiocb`, the request and its buffer), then the
// completion ring (the slot numbers in completion order, `aio_ring`). A
// slot is FREE, PREPARED, IN_FLIGHT or DONE; the TS side frees it again
// when it reaps it. Prepared slots are chained through `next` in prep
// order (the user's iocb array): a submission takes a chain, and since a
// slot is prepared anew only after it was reaped, a chain that a sleeping
// submitter still walks is never rewritten under it. A slot's `buf` is the
// iocb's `aio_buf`: the TS side may set it per prep.
//
// A context with `notify` set tells the TS side when its completion ring
// turns non-empty (host_aio_notify(), `aio_complete()`'s wake-up of the
// ring's reader): one host call per batch of completions, whoever ends them
// (an interrupt on the host's time, say), and none per bio.
//
//    kioctx header, 48 bytes
//    0       4          8        12        16          20      24         28        32          36       40       44
//    +-------+----------+--------+---------+-----------+-------+----------+---------+-----------+--------+--------+----+
//    |magic  |nr_events |cq_head |nr_done  |in_flight  |nr_bad |stop_bio  |entered  |stop_slot  |stop_rc |notify  |pad |
//    +-------+----------+--------+---------+-----------+-------+----------+---------+-----------+--------+--------+----+
//
//    aio_kiocb slot, 32 bytes
//    0     4      8     12       16                24    28      29   30
//    +-----+------+-----+--------+-----------------+-----+-------+----+----+
//    |ctx  |next  |buf  |nbytes  |sector           |res  |state  |op  |pad |
//    +-----+------+-----+--------+-----------------+-----+-------+----+----+
//
// io_submit_nowait() is `do_io_submit()`'s loop for a chain of slots the
// caller took: per slot a bio from fs_bio_set's mempool (`bio_alloc()`), the
// buffer's pages added, and the bio sent through
// blk_mq_make_request_nowait() (asm/blk_mq_make_request.ts) under the
// caller's plug, as `do_blockdev_direct_IO()` sends one. It stops at the
// first slot it cannot finish without sleeping or without the TS path: the
// bio mempool would sleep (no bio made), or the make_request would sleep,
// falls back or refuses a record (the bio is made and left in `stop_bio`
// for the TS path). The caller sends that slot its own way and calls again
// for the rest.
//
// The bio's end_io is BIO_END_IO_AIO (asm/bio.ts's bio_endio() calls
// dio_bio_end_aio() for it, without a host call): `aio_complete()` on the
// slot that `bi_private` names, then `bio_put()`, the bio freed back to its
// mempool here. Only what TS must see leaves the core: a bio with vecs of
// its own (host_bio_free()), and a free that refilled the mempool's reserve
// (host_bio_pool_wake(): its waiters sleep on the TS side). A slot that
// ends twice is not completed again; nr_bad counts it for the TS side's BUG.

import { Bio, BIO_END_IO_AIO, BIO_INLINE_VECS, BIO_PUT_FREE_HOST, bio_add_page, bio_alloc_nowait, bio_put_free } from "./bio";
import { blk_mq_make_request_nowait, BLK_QC_T_NONE } from "./blk_mq_make_request";
import { RequestQueue } from "./blk_queue";
import { host_aio_notify, host_bio_free, host_bio_pool_wake } from "./host";
import { EINVAL, PAGE_SIZE } from "./page_alloc";
import { GFP_KERNEL, WRITE_ODIRECT } from "./dio";
import { in_memory } from "./request";

/** Slot states. */
export const AIO_FREE: u8 = 0;
export const AIO_PREPARED: u8 = 1;
export const AIO_IN_FLIGHT: u8 = 2;
export const AIO_DONE: u8 = 3;

/** The end of a chain of slots. */
export const AIO_NO_SLOT: u32 = 0xffffffff;

/** `IOCB_CMD_PWRITE` (include/uapi/linux/aio_abi.h); anything else here reads. */
const IOCB_CMD_PWRITE: u8 = 1;
const PAGE_BYTES: u32 = <u32>PAGE_SIZE;

const KIOCTX_MAGIC: u32 = 0x6b696f63; // "kioc"

/** Mirrors `struct kioctx`: the header of a context's block. */
@unmanaged
export class Kioctx {
  magic: u32;
  nr_events: u32;
  /** The completion ring's oldest entry. */
  cq_head: u32;
  /** Ended slots not yet reaped. */
  nr_done: u32;
  in_flight: u32;
  /** Completions of a slot not in flight (ended twice): not applied, counted. */
  nr_bad: u32;
  /** The bio io_submit_nowait() made for the slot it stopped at, or 0. */
  stop_bio: u32;
  /** 1 while io_submit_nowait() is inside a make_request (it holds a queue reference then). */
  entered: u32;
  /** The slot io_submit_nowait() stopped at, or after its last the `next` of that one. */
  stop_slot: u32;
  /** The make_request's answer for `stop_bio` (MAKE_REQUEST_WOULD_SLEEP, _FALLBACK or a refusal), else 0. */
  stop_rc: i32;
  /** Non-zero: aio_complete() calls host_aio_notify() when the ring turns non-empty. */
  notify: u32;
  pad: u32;
}

/** Mirrors `struct aio_kiocb`: one iocb slot. */
@unmanaged
export class AioKiocb {
  ctx: u32;
  /** The next prepared slot of its chain (AIO_NO_SLOT for none). */
  next: u32;
  buf: u32;
  nbytes: u32;
  sector: u64;
  res: i32;
  state: u8;
  op: u8;
  pad: u16;
}

const KIOCTX_SIZE: usize = offsetof<Kioctx>();
const KIOCB_SIZE: usize = offsetof<AioKiocb>();

/** The slot `i` of context `ctx`. */
@inline
function kiocb_at(ctx: usize, i: u32): usize {
  return ctx + KIOCTX_SIZE + KIOCB_SIZE * <usize>i;
}

/** Entry `i` of the completion ring. */
@inline
function cq_at(ctx: usize, nr: u32, i: u32): usize {
  return ctx + KIOCTX_SIZE + KIOCB_SIZE * <usize>nr + (<usize>i << 2);
}

/** The live context at `ctx`, or null. */
function kioctx_get(ctx: usize): Kioctx | null {
  if (!in_memory(ctx, KIOCTX_SIZE)) return null;
  const c = changetype<Kioctx>(ctx);
  return c.magic == KIOCTX_MAGIC ? c : null;
}

/** Bytes of a context of `nr_events` slots: the header, the slots and the completion ring. */
export function kioctx_size(nr_events: i32): i32 {
  return <i32>(KIOCTX_SIZE + (KIOCB_SIZE + 4) * <usize>nr_events);
}

/** `sizeof(struct aio_kiocb)` in the port (32), for the TS side's layout check. */
export function aio_kiocb_size(): i32 {
  return <i32>KIOCB_SIZE;
}

/**
 * The record part of `ioctx_alloc()`: a context of `nr_events` slots at
 * `ctx` (kioctx_size() bytes the caller placed), every slot FREE, the rings
 * empty. The caller then sets each slot's `buf`.
 * @returns 0, or -22 for no slots or a block outside memory
 */
export function kioctx_init(ctx: usize, nr_events: u32): i32 {
  if (nr_events == 0 || nr_events > 0x10000 || !in_memory(ctx, <usize>kioctx_size(nr_events))) return -EINVAL;
  memory.fill(ctx, 0, <usize>kioctx_size(nr_events));
  const c = changetype<Kioctx>(ctx);
  c.magic = KIOCTX_MAGIC;
  c.nr_events = nr_events;
  for (let i: u32 = 0; i < nr_events; i++) {
    const k = changetype<AioKiocb>(kiocb_at(ctx, i));
    k.ctx = <u32>ctx;
    k.next = AIO_NO_SLOT;
  }
  return 0;
}

/**
 * The record part of `ioctx_free()`: the magic cleared, so a late
 * completion that names a slot of it is refused.
 * @returns 0, or -22 for no live context
 */
export function kioctx_exit(ctx: usize): i32 {
  const c = kioctx_get(ctx);
  if (c === null) return -EINVAL;
  c.magic = 0;
  return 0;
}

/**
 * Mirrors `aio_complete()` (fs/aio.c, v4.4) for a block-device DIO: the
 * slot's result (`res`: the bytes it asked for when `error` is 0, else
 * `error`) and the slot onto the completion ring.
 * @returns 0; -22 for no slot of a live context; -16 (EBUSY) for a slot
 *   not in flight (counted in nr_bad, nothing else changes)
 */
export function aio_complete(kiocb: usize, error: i32): i32 {
  if (!in_memory(kiocb, KIOCB_SIZE)) return -EINVAL;
  const k = changetype<AioKiocb>(kiocb);
  const c = kioctx_get(<usize>k.ctx);
  if (c === null || kiocb < <usize>k.ctx + KIOCTX_SIZE) return -EINVAL;
  const off = kiocb - <usize>k.ctx - KIOCTX_SIZE;
  const index = <u32>(off / KIOCB_SIZE);
  if (off % KIOCB_SIZE != 0 || index >= c.nr_events) return -EINVAL;
  if (k.state != AIO_IN_FLIGHT) {
    c.nr_bad++;
    return -16;
  }
  k.state = AIO_DONE;
  k.res = error != 0 ? error : <i32>k.nbytes;
  c.in_flight--;
  let tail = c.cq_head + c.nr_done;
  if (tail >= c.nr_events) tail -= c.nr_events;
  store<u32>(cq_at(<usize>k.ctx, c.nr_events, tail), index);
  if (c.nr_done++ == 0 && c.notify != 0) host_aio_notify(k.ctx);
  return 0;
}

/**
 * The bio end of an aio DIO, `dio_bio_end_aio()` (fs/direct-io.c) with one
 * bio per iocb: `aio_complete()` with the bio's error, then `bio_put()`.
 * The bio is freed here (bio_put_free()) unless it owns vecs; a free that
 * refills the bio_set's reserve wakes its waiters on the TS side.
 * @returns 0, or -22 for a bio_private that names no slot (the bio is left alone)
 */
export function dio_bio_end_aio(bio: usize): i32 {
  const b = changetype<Bio>(bio);
  const rc = aio_complete(<usize>b.bi_private, b.bi_error);
  if (rc == -EINVAL) return rc;
  const bs = b.bi_pool;
  const freed = bio_put_free(bio);
  if (freed == BIO_PUT_FREE_HOST) host_bio_free(<u32>bio);
  else if (freed == 1) host_bio_pool_wake(bs);
  return 0;
}

/**
 * `do_io_submit()`'s loop (fs/aio.c) for `n` slots the caller took, the
 * chain from slot `first`: per slot `bio_alloc(GFP_KERNEL)` from the
 * bio_set `bs` (a slot of at most BIO_INLINE_VECS pages, so the vecs are the
 * bio's own), its pages added, its sector and direction, bi_end_io =
 * BIO_END_IO_AIO, bi_private = the slot, bi_bdev = the queue, then
 * blk_mq_make_request_nowait() with the task's `plug`. The slots must be
 * IN_FLIGHT; `q`, `plug`, `cpu`, `now`, `hz`, `tick_ns` and `flags` are the
 * make_request's.
 *
 * @returns the slots sent (0..n); `stop_slot` is the slot after them. When
 *   it is less than n, that slot stopped the loop: `stop_bio` 0 when the
 *   mempool would sleep or the slot has more pages (nothing done for it),
 *   else the bio made for it, not sent, and `stop_rc` why (the
 *   make_request would sleep, falls back, or refused a record). -22 for no live context, or a chain that
 *   leaves it or meets a slot not in flight.
 */
export function io_submit_nowait(ctx: usize, first: u32, n: u32, bs: usize, q: usize, plug: usize, cpu: u32, now: f64, hz: u32, tick_ns: f64, flags: u32): i32 {
  const c = kioctx_get(ctx);
  if (c === null) return -EINVAL;
  const nr = c.nr_events;
  const bdev = changetype<RequestQueue>(q).id + 1;
  c.stop_bio = 0;
  c.stop_rc = 0;
  let slot = first;
  for (let i: u32 = 0; i < n; i++) {
    c.stop_slot = slot;
    if (slot >= nr) return -EINVAL;
    const kiocb = kiocb_at(ctx, slot);
    const k = changetype<AioKiocb>(kiocb);
    if (k.state != AIO_IN_FLIGHT) return -EINVAL;
    const nr_pages = (k.nbytes + PAGE_BYTES - 1) / PAGE_BYTES;
    if (nr_pages > <u32>BIO_INLINE_VECS) return <i32>i;
    const bio = bio_alloc_nowait(bs, GFP_KERNEL, <i32>nr_pages);
    if (bio == 0) return <i32>i;
    for (let off: u32 = 0; off < k.nbytes; off += PAGE_BYTES) {
      const left = k.nbytes - off;
      bio_add_page(bio, k.buf + off, left < PAGE_BYTES ? left : PAGE_BYTES, 0);
    }
    const b = changetype<Bio>(bio);
    b.bi_sector = k.sector;
    b.bi_rw = k.op == IOCB_CMD_PWRITE ? WRITE_ODIRECT : 0;
    b.bi_end_io = BIO_END_IO_AIO;
    b.bi_private = <u32>kiocb;
    b.bi_bdev = bdev;
    // Read before the send: the slot may end, and be reaped and prepared anew, inside it.
    const next = k.next;
    c.entered = 1;
    const r = blk_mq_make_request_nowait(q, bio, plug, cpu, now, hz, tick_ns, flags);
    c.entered = 0;
    if (r < BLK_QC_T_NONE) {
      c.stop_bio = <u32>bio;
      c.stop_rc = r;
      return <i32>i;
    }
    slot = next;
  }
  c.stop_slot = slot;
  return <i32>n;
}
