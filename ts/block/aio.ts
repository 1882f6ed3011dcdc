// SPDX-License-Identifier: GPL-2.0-only
/**
 * The synchronous batch API: what a process does with `io_setup()`,
 * `io_submit()` and `io_getevents()` (fs/aio.c, v4.4) on a block device
 * opened with O_DIRECT, for JavaScript callers that want many I/Os per call
 * and no JS object per I/O.
 *
 * An {@link AioContext} owns `nrEvents` iocb slots. Each slot has a data
 * buffer of `bufferBytes` in linear memory (the user pages a DIO pins); the
 * slots and the completion ring are a `struct kioctx` record in linear
 * memory (asm/aio.ts). {@link AioContext.prep} fills a slot and chains it
 * behind the slots prepared before it; {@link AioContext.submit} sends every prepared slot in
 * one task under one plug (`do_io_submit()` plugs its loop), one bio each
 * from `fs_bio_set` (`bi_private` names the slot record), and runs the
 * machine. The loop runs in the core (`io_submit_nowait()`) where the
 * queue's path is the core's; a slot it cannot finish without sleeping (no
 * bio at once, a frozen queue, no free tag) or on the TS path goes through
 * {@link submitBio}, the only place a generator is made. Each bio's end_io
 * (`dio_bio_end_aio()`, in the core) puts the slot's result (bytes done, or
 * -errno) and pushes it onto the completion ring, which
 * {@link AioContext.getEvents} empties into the caller's Int32Array.
 *
 * On the virtual clock `submit()` returns with every I/O ended. A
 * file-backed disk ends its I/Os on the host's time: they complete as the
 * caller drives the machine (`await kernel.sched.runAsync()`), or use the
 * promise API (ts/block/disk_io.ts).
 *
 * The promise API sends its one-page I/Os through contexts of its own
 * ({@link _ioSetupDisk}): each iocb names its buffer (`aio_buf`), the ring
 * tells it when completions arrive ({@link AioHooks.notify}), and it submits
 * without a plug, as one `pread()`/`pwrite()` per I/O would.
 *
 * @module
 */

import { ERRNO, KernelError } from "../errors.ts";
import type { Kernel } from "../kernel/kernel.ts";
import { GFP_KERNEL } from "../kernel/mempool.ts";
import type { Sleepable } from "../kernel/sched.ts";
import { PAGE_SIZE } from "../kernel/slab.ts";
import { BlockMemory, getOrder } from "./_mem.ts";
import { getU64, setU64 } from "./_u64.ts";
import {
  BIO_ALLOC_WOULD_SLEEP,
  BIO_MAX_PAGES,
  bioAddPage,
  bioAlloc,
  bioAllocTry,
  type BioSet,
  bioPut,
  bioSetDev,
  bioSetIo,
  fsBioSet,
  WRITE_ODIRECT,
} from "./bio.ts";
import { coreSubmitFlags, MAKE_REQUEST_FALLBACK, SUBMIT_WOULD_SLEEP, submitBio, submitBioTry } from "./blk_mq_request.ts";
import { blkFinishPlug, BlkPlug, blkStartPlug } from "./blk_plug.ts";
import { blkQueueExit } from "./request_queue.ts";
import type { Gendisk } from "./genhd.ts";
import { MachineMap } from "../kernel/machine_map.ts";

/** Mirrors `IOCB_CMD_PREAD` (include/uapi/linux/aio_abi.h). */
export const IOCB_CMD_PREAD = 0;
/** Mirrors `IOCB_CMD_PWRITE`. */
export const IOCB_CMD_PWRITE = 1;

/** The most slots one context may have (the default of /proc/sys/fs/aio-max-nr). */
export const AIO_MAX_EVENTS = 0x10000;

const SECTOR_SIZE = 512;

/** Mirrors `dio_bio_end_aio()`'s bi_end_io id, which the core runs itself (asm/bio.ts's BIO_END_IO_AIO). */
const BIO_END_IO_AIO = 2;

/** Options of {@link ioSetup}. */
export interface AioOptions {
  /** Slots (iocbs in flight or waiting to be reaped), 1..{@link AIO_MAX_EVENTS}. */
  nrEvents: number;
  /** Bytes of each slot's buffer: a positive multiple of 512, at most BIO_MAX_PAGES pages. Default 4096. */
  bufferBytes?: number;
}

/** Slot states (asm/aio.ts). */
const FREE = 0;
const PREPARED = 1;
const IN_FLIGHT = 2;
const DONE = 3;

/** `struct kioctx`'s header fields (asm/aio.ts), byte offsets. */
const KIOCTX = { cqHead: 8, nrDone: 12, inFlight: 16, nrBad: 20, stopBio: 24, entered: 28, stopSlot: 32, stopRc: 36, notify: 40, size: 48 } as const;
/** `struct aio_kiocb`'s fields (asm/aio.ts), byte offsets in a slot. */
const KIOCB = { next: 4, buf: 8, nbytes: 12, sector: 16, res: 24, state: 28, op: 29, size: 32 } as const;
/** The end of a chain of prepared slots (`next`). */
const NO_SLOT = 0xffffffff;

/**
 * @internal What the promise API (ts/block/disk_io.ts) asks of a context it
 * makes with {@link _ioSetupDisk}.
 */
export interface AioHooks {
  /**
   * Completions are on the ring (`aio_complete()`'s wake-up of its
   * reader): called once per batch of them, as they arrive, whoever ended
   * them. Never while the context's own core loop runs: that batch is
   * announced once the loop returns.
   */
  notify(): void;
  /** Slot `slot` was not sent: a submission threw `why` (a bug); the slot ends with -EIO next. */
  abandoned(slot: number, why: unknown): void;
}

/** Per machine, the contexts with hooks, by record address: host_aio_notify() finds them here. */
const NOTIFIED = new MachineMap<Map<number, AioContext>>("aio notify");

/**
 * Mirrors `struct kioctx` (fs/aio.c, v4.4) for one block device: iocb slots
 * with buffers, the chain of prepared slots and the completion ring. Make
 * one with {@link ioSetup}.
 */
export class AioContext {
  readonly kernel: Kernel;
  /** The device's name (`/dev/<name>`). */
  readonly name: string;
  readonly nrEvents: number;
  readonly bufferBytes: number;
  /** Per slot: its result as of its last reaping by {@link AioContext.getEvents} — bytes transferred, or a negative errno. */
  readonly res: Int32Array;
  readonly #disk: Gendisk;
  readonly #mem: BlockMemory;
  /** The `struct kioctx` record. */
  readonly #ctx: number;
  /** Per slot: the buffer's address in linear memory. */
  readonly #buf: Uint32Array;
  /** Free slots, a stack. */
  readonly #free: Int32Array;
  #nrFree: number;
  /** The chain of prepared slots (through their `next`): first, last, and how many. */
  #firstPrepared = NO_SLOT;
  #lastPrepared = NO_SLOT;
  #nrPrepared = 0;
  /** The record's nr_bad already reported. */
  #nrBad = 0;
  /** Slots the core's loop sent. */
  #sentByCore = 0;
  /** When the core's loop threw: the slots of that call it had handed to a make_request (set by #submitCore). */
  #handedOnThrow = 0;
  #destroyed = false;
  /** The promise API's hooks; null for a context of {@link ioSetup}, which owns its slots' buffers and plugs its submissions. */
  readonly #hooks: AioHooks | null;

  /** @internal use {@link ioSetup} */
  constructor(kernel: Kernel, disk: Gendisk, nrEvents: number, bufferBytes: number, hooks: AioHooks | null = null) {
    this.kernel = kernel;
    this.name = disk.diskName;
    this.nrEvents = nrEvents;
    this.bufferBytes = bufferBytes;
    this.#disk = disk;
    this.#hooks = hooks;
    this.#mem = new BlockMemory(kernel.slab, kernel.kmemleak, "aio");
    this.res = new Int32Array(nrEvents);
    this.#buf = new Uint32Array(nrEvents);
    this.#free = new Int32Array(nrEvents);
    const core = kernel.core;
    this.#ctx = this.#mem.allocPages(getOrder(core.kioctx_size(nrEvents)));
    const order = getOrder(bufferBytes);
    let i = 0;
    try {
      if (hooks === null) for (; i < nrEvents; i++) this.#buf[i] = this.#mem.allocPages(order);
    } catch (e) {
      for (let j = 0; j < i; j++) this.#mem.freePages(this.#buf[j]);
      this.#mem.freePages(this.#ctx);
      throw e;
    }
    if (core.kioctx_init(this.#ctx, nrEvents) !== 0) kernel.log.bug("block/aio:ioctx_alloc", "kioctx_init refused its block");
    const dv = kernel.dv;
    for (let s = 0; s < nrEvents; s++) {
      dv.setUint32(this.#kiocb(s) + KIOCB.buf, this.#buf[s], true);
      this.#free[s] = nrEvents - 1 - s;
    }
    this.#nrFree = nrEvents;
    if (hooks !== null) {
      dv.setUint32(this.#ctx + KIOCTX.notify, 1, true);
      let m = NOTIFIED.get(kernel);
      if (m === undefined) NOTIFIED.set(kernel, m = new Map());
      m.set(this.#ctx, this);
    }
  }

  /** Slots submitted and not yet ended. */
  get inFlight(): number {
    return this.#destroyed ? 0 : this.kernel.dv.getUint32(this.#ctx + KIOCTX.inFlight, true);
  }

  /** Slots ended and not yet reaped by {@link AioContext.getEvents}. */
  get completed(): number {
    return this.#destroyed ? 0 : this.kernel.dv.getUint32(this.#ctx + KIOCTX.nrDone, true);
  }

  /** @internal Slots the core's loop sent (io_submit_nowait()), for the tests that compare it with the TS path. */
  get _sentByCore(): number {
    return this.#sentByCore;
  }

  /** Slots free for {@link AioContext.prep}. */
  get available(): number {
    return this.#nrFree;
  }

  /**
   * The buffer of `slot`: a view of linear memory (fill it before submitting
   * a write; read it after a read was reaped). Take it again after the
   * machine's memory grew: an older view is then empty.
   * @throws {RangeError} for a slot outside 0..nrEvents-1
   */
  buffer(slot: number): Uint8Array {
    this.#checkSlot(slot, "buffer");
    return new Uint8Array(this.kernel.core.memory.buffer, this.#buf[slot], this.bufferBytes);
  }

  /**
   * Takes a free slot and prepares an iocb in it (`io_prep_pread()` /
   * `io_prep_pwrite()`): `bytes` at `sector`, through the slot's buffer.
   *
   * @returns the slot
   * @throws {KernelError} EAGAIN when every slot is prepared, in flight or waiting to be reaped
   * @throws {RangeError} for a sector or length not a multiple of 512 bytes, beyond the buffer or the capacity
   * @throws {TypeError} for another op, or once destroyed
   */
  prep(op: number, sector: number, bytes: number): number {
    this.#checkLive("io_submit");
    if (op !== IOCB_CMD_PREAD && op !== IOCB_CMD_PWRITE) throw new TypeError(`io_submit: op must be IOCB_CMD_PREAD or IOCB_CMD_PWRITE, got ${String(op)}`);
    if (typeof bytes !== "number" || !Number.isInteger(bytes) || bytes <= 0 || bytes % SECTOR_SIZE !== 0 || bytes > this.bufferBytes) {
      throw new RangeError(`io_submit: bytes must be a positive multiple of ${SECTOR_SIZE} up to ${this.bufferBytes}, got ${String(bytes)}`);
    }
    const capacity = this.#disk.nrSects;
    if (typeof sector !== "number" || !Number.isSafeInteger(sector) || sector < 0 || sector + bytes / SECTOR_SIZE > capacity) {
      throw new RangeError(`io_submit: sectors from ${String(sector)} for ${bytes} bytes are outside ${this.name}'s ${capacity}`);
    }
    if (this.#nrFree === 0) throw new KernelError("EAGAIN", "io_submit", `all ${this.nrEvents} slots are busy; reap with getEvents()`);
    return this.#prepSlot(op, sector, bytes);
  }

  /**
   * @internal {@link AioContext.prep} for the promise API, whose caller
   * checked the op, sector and length (up to {@link AioContext.bufferBytes}):
   * the iocb's buffer is `buf` (`aio_buf`, linear memory).
   *
   * @returns the slot, or -1 when every slot is busy
   */
  _prepAt(op: number, sector: number, bytes: number, buf: number): number {
    if (this.#nrFree === 0) return -1;
    const slot = this.#prepSlot(op, sector, bytes);
    this.#buf[slot] = buf;
    this.kernel.dv.setUint32(this.#kiocb(slot) + KIOCB.buf, buf, true);
    return slot;
  }

  /** Takes a free slot (there is one) for `bytes` at `sector` and chains it behind the prepared ones. */
  #prepSlot(op: number, sector: number, bytes: number): number {
    const slot = this.#free[--this.#nrFree];
    const dv = this.kernel.dv;
    const at = this.#kiocb(slot);
    dv.setUint32(at + KIOCB.nbytes, bytes, true);
    setU64(dv, at + KIOCB.sector, sector);
    dv.setInt32(at + KIOCB.res, 0, true);
    dv.setUint8(at + KIOCB.state, PREPARED);
    dv.setUint8(at + KIOCB.op, op);
    dv.setUint32(at + KIOCB.next, NO_SLOT, true);
    if (this.#nrPrepared++ === 0) this.#firstPrepared = slot;
    else dv.setUint32(this.#kiocb(this.#lastPrepared) + KIOCB.next, slot, true);
    this.#lastPrepared = slot;
    return slot;
  }

  /**
   * Mirrors `io_submit()` for every prepared slot: one task submits them in
   * prep order under one plug, then the machine runs (on the virtual clock,
   * until that task has exited and every I/O has ended; timers due later,
   * such as the request timeout's, stay pending). When the run stops before that task is done
   * (its queue is frozen), the rest go out as the machine runs again: they
   * count in {@link AioContext.inFlight} meanwhile.
   *
   * @returns the number of iocbs prepared when it was called (the task takes them all)
   * @throws {TypeError} from inside a task (use {@link AioContext.submitFromTask}) or once destroyed
   */
  submit(): number {
    this.#checkLive("io_submit");
    const n = this.#nrPrepared;
    if (n === 0) return 0;
    const t = this.kernel.sched.spawn("aio/io_submit", () => this.submitFromTask());
    this.kernel.run({ until: () => t.state === "exited" && this.inFlight === 0 });
    return n;
  }

  /**
   * {@link AioContext.submit} for a caller that is a task of the machine:
   * the prepared slots are taken at once (in flight from now on) and
   * submitted under the task's plug (the promise API's: without one); they
   * end as the machine runs. A slot
   * whose bio cannot be made or sent ends at once with the errno (ENOMEM,
   * ENODEV, …).
   *
   * @returns the number of iocbs taken
   */
  *submitFromTask(): Sleepable<number> {
    this.#checkLive("io_submit");
    const n = this.#nrPrepared;
    if (n === 0) return 0;
    // Take the chain: its slots are this task's until it sent them (a slot is prepared anew only once reaped).
    const first = this.#firstPrepared;
    this.#firstPrepared = this.#lastPrepared = NO_SLOT;
    this.#nrPrepared = 0;
    const k = this.kernel;
    let dv = k.dv;
    for (let i = 0, s = first; i < n; i++, s = this.#next(s)) dv.setUint8(this.#kiocb(s) + KIOCB.state, IN_FLIGHT);
    dv.setUint32(this.#ctx + KIOCTX.inFlight, dv.getUint32(this.#ctx + KIOCTX.inFlight, true) + n, true);
    const task = k.sched.current;
    // Slots from `slot` on, n - done of them, are still this loop's: not yet ended here nor handed to a make_request.
    let slot = first;
    let done = 0;
    let viaCore = true;
    const plugged = this.#hooks === null;
    if (plugged) blkStartPlug(k, task);
    let why: unknown;
    try {
      while (done < n) {
        let bs: BioSet;
        try {
          bs = fsBioSet(k);
        } catch (e) {
          if (!(e instanceof KernelError)) throw e;
          const s = slot;
          slot = this.#next(s);
          done++;
          this._complete(s, e.errno); // e.g. ENOMEM making fs_bio_set on first use
          continue;
        }
        let sent: number;
        try {
          sent = viaCore ? this.#submitCore(bs, slot, n - done) : -1;
        } catch (e) {
          // The slots the core's loop handed to a make_request before it threw are the block layer's.
          for (let i = this.#handedOnThrow; i > 0; i--, done++) slot = this.#next(slot);
          throw e;
        }
        let bio = 0;
        if (sent < 0) viaCore = false; // the queue's path is the TS one for this batch
        else {
          done += sent;
          this.#sentByCore += sent;
          dv = k.dv;
          slot = dv.getUint32(this.#ctx + KIOCTX.stopSlot, true);
          if (done === n) break;
          bio = dv.getUint32(this.#ctx + KIOCTX.stopBio, true);
          // No bio of this queue under this plug is the core's (several hw queues): the rest go the TS way.
          if (dv.getInt32(this.#ctx + KIOCTX.stopRc, true) === MAKE_REQUEST_FALLBACK) viaCore = false;
        }
        // The slot the core stopped at (its bio made or not), or each slot when the path is the TS one.
        const s = slot;
        slot = this.#next(s);
        done++;
        if (bio === 0) {
          bio = this.#allocBio(bs, s);
          if (bio === BIO_ALLOC_WOULD_SLEEP) bio = this.#fillBio(s, yield* bioAlloc(bs, GFP_KERNEL, this.#nrPages(s)));
        }
        if (bio === 0 || !this.#send(s, bio)) continue;
        try {
          yield* submitBio(k, bio);
        } catch (e) {
          this.#refused(s, bio, e);
        }
      }
    } catch (e) {
      why = e;
      throw e;
    } finally {
      // A bug thrown above: the slots not reached end with -EIO instead of staying in flight.
      dv = k.dv;
      for (let s = slot; done < n; done++) {
        const next = this.#next(s);
        if (dv.getUint8(this.#kiocb(s) + KIOCB.state) === IN_FLIGHT) {
          this.#hooks?.abandoned(s, why);
          this._complete(s, -ERRNO.EIO);
        }
        s = next;
      }
      if (plugged) blkFinishPlug(task);
    }
    this.#checkBad();
    return n;
  }

  /**
   * `io_submit_nowait()` (asm/aio.ts) for `n` taken slots, the chain from
   * `first`, bios from `bs`, where the disk's queue takes the core's path.
   *
   * @returns the slots sent (KIOCTX.stopSlot is the slot after them; for a
   *   shorter count, KIOCTX.stopBio the bio made for it, or 0); -1 for the
   *   TS path (nothing done)
   */
  #submitCore(bs: BioSet, first: number, n: number): number {
    this.#handedOnThrow = 0;
    const k = this.kernel;
    const q = this.#disk.queue;
    if (q === null) return -1;
    const flags = coreSubmitFlags(k, q);
    if (flags < 0) return -1;
    const s = k.sched;
    const plug = s.current.plug as BlkPlug | null;
    const clock = k.clock;
    const cpu = s.getCpu();
    const hooks = this.#hooks;
    // The completions of the loop itself are announced once, after it (see AioHooks.notify).
    if (hooks !== null) k.dv.setUint32(this.#ctx + KIOCTX.notify, 0, true);
    let r: number;
    try {
      r = k.core.io_submit_nowait(this.#ctx, first, n, bs.ptr, q.addr, plug === null ? 0 : plug.addr, cpu, clock.now(), clock.HZ, clock.tickNs, flags);
    } catch (err) {
      const dv = k.dv;
      // A host call threw inside a make_request, after its blk_queue_enter(): drop that reference.
      const entered = dv.getUint32(this.#ctx + KIOCTX.entered, true) !== 0;
      if (entered) {
        dv.setUint32(this.#ctx + KIOCTX.entered, 0, true);
        blkQueueExit(q);
      }
      // The slots before KIOCTX.stopSlot went through their make_requests, and that one was in its own.
      const stop = dv.getUint32(this.#ctx + KIOCTX.stopSlot, true);
      let handed = 0;
      for (let s = first; s !== stop && handed < n; s = this.#next(s)) handed++;
      this.#handedOnThrow = entered ? handed + 1 : handed;
      throw err;
    } finally {
      s.putCpu();
      if (hooks !== null) k.dv.setUint32(this.#ctx + KIOCTX.notify, 1, true);
    }
    k.slab.kasan.raise(); // a bio the completions freed to a pool that refused it
    if (r < 0) k.log.bug("block/aio:io_submit", `io_submit_nowait refused its slots (${r})`);
    if (hooks !== null && this.completed > 0) hooks.notify();
    return r;
  }

  #nrPages(slot: number): number {
    return Math.ceil(this.kernel.dv.getUint32(this.#kiocb(slot) + KIOCB.nbytes, true) / PAGE_SIZE);
  }

  /**
   * The slot's bio without sleeping: {@link bioAllocTry} from `fs_bio_set`,
   * filled by {@link AioContext.#fillBio}.
   *
   * @returns the bio; 0 when the slot ended (ENXIO, ENOMEM); or BIO_ALLOC_WOULD_SLEEP
   */
  #allocBio(bs: BioSet, slot: number): number {
    if (this.#disk.queue === null) {
      this._complete(slot, -ERRNO.ENXIO); // the disk lost its queue
      return 0;
    }
    const bio = bioAllocTry(bs, GFP_KERNEL, this.#nrPages(slot));
    return bio === BIO_ALLOC_WOULD_SLEEP ? bio : this.#fillBio(slot, bio);
  }

  /** The slot's buffer, sector, op, end_io and queue into `bio`, as the core's loop fills it. @returns bio; 0 (the slot ended with ENOMEM) for no bio */
  #fillBio(slot: number, bio: number): number {
    if (bio === 0) {
      this._complete(slot, -ERRNO.ENOMEM);
      return 0;
    }
    const k = this.kernel;
    const at = this.#kiocb(slot);
    const bytes = k.dv.getUint32(at + KIOCB.nbytes, true);
    const buf = this.#buf[slot];
    for (let off = 0; off < bytes; off += PAGE_SIZE) {
      const len = Math.min(PAGE_SIZE, bytes - off);
      if (bioAddPage(k, bio, buf + off, len, 0) !== len) k.log.bug("block/aio:io_submit", "bio_add_page refused a page");
    }
    const dv = k.dv;
    const write = dv.getUint8(at + KIOCB.op) === IOCB_CMD_PWRITE;
    bioSetIo(k, bio, getU64(dv, at + KIOCB.sector), write ? WRITE_ODIRECT : 0, BIO_END_IO_AIO, at);
    bioSetDev(k, bio, this.#disk.queue!.id);
    return bio;
  }

  /** {@link submitBioTry}. @returns whether the bio still has to go through the sleeping `submitBio()` */
  #send(slot: number, bio: number): boolean {
    try {
      return submitBioTry(this.kernel, bio) === SUBMIT_WOULD_SLEEP;
    } catch (e) {
      this.#refused(slot, bio, e);
      return false;
    }
  }

  /** A bio refused before the queue took it (ENODEV: the queue is gone): nobody else ends it. */
  #refused(slot: number, bio: number, e: unknown): void {
    if (!(e instanceof KernelError)) throw e;
    bioPut(this.kernel, bio);
    this._complete(slot, e.errno);
  }

  /**
   * Mirrors `io_getevents()` without waiting: moves up to `out.length`
   * ended slots, in completion order, into `out`; their results are in
   * {@link AioContext.res} and the slots are free again (read a read's
   * buffer before preparing its slot anew).
   *
   * @returns how many were written to `out`
   */
  getEvents(out: Int32Array): number {
    if (!(out instanceof Int32Array)) throw new TypeError("io_getevents: out must be an Int32Array");
    if (this.#destroyed) return 0;
    this.#checkBad();
    const dv = this.kernel.dv;
    const ctx = this.#ctx;
    const nrDone = dv.getUint32(ctx + KIOCTX.nrDone, true);
    const n = Math.min(out.length, nrDone);
    const nr = this.nrEvents;
    let head = dv.getUint32(ctx + KIOCTX.cqHead, true);
    const ring = ctx + KIOCTX.size + KIOCB.size * nr;
    for (let i = 0; i < n; i++) {
      const slot = dv.getUint32(ring + head * 4, true);
      head = head + 1 === nr ? 0 : head + 1;
      out[i] = slot;
      const at = this.#kiocb(slot);
      this.res[slot] = dv.getInt32(at + KIOCB.res, true);
      dv.setUint8(at + KIOCB.state, FREE);
      this.#free[this.#nrFree++] = slot;
    }
    dv.setUint32(ctx + KIOCTX.cqHead, head, true);
    dv.setUint32(ctx + KIOCTX.nrDone, nrDone - n, true);
    return n;
  }

  /**
   * Mirrors `io_destroy()`: frees the buffers and the context record and
   * drops the device reference. Slots prepared and not submitted are dropped.
   * @throws {KernelError} EBUSY while I/Os are in flight (nothing changes)
   */
  destroy(): void {
    if (this.#destroyed) return;
    const inFlight = this.inFlight;
    if (inFlight > 0) throw new KernelError("EBUSY", "io_destroy", `${inFlight} I/Os in flight on ${this.name}`);
    this.#checkBad();
    this.#destroyed = true;
    this.kernel.core.kioctx_exit(this.#ctx);
    if (this.#hooks === null) for (let s = 0; s < this.nrEvents; s++) this.#mem.freePages(this.#buf[s]);
    else NOTIFIED.get(this.kernel)?.delete(this.#ctx);
    this.#mem.freePages(this.#ctx);
    this.#disk.kobj.put();
  }

  /** @internal host_aio_notify() for this context: its hooks hear of it. */
  _notify(): void {
    this.#hooks?.notify();
  }

  /** @internal the end of a slot's I/O on the TS side (`aio_complete()`): its result, onto the completion ring. */
  _complete(slot: number, error: number): void {
    if (this.kernel.core.aio_complete(this.#kiocb(slot), error) !== 0) this.#checkBad();
  }

  /** @internal A broken completion, for the fuzzer's detector test: every slot ended and not yet reaped gets `res`. */
  _overwriteResults(res: number): void {
    const dv = this.kernel.dv;
    for (let s = 0; s < this.nrEvents; s++) {
      const at = this.#kiocb(s);
      if (dv.getUint8(at + KIOCB.state) === DONE) dv.setInt32(at + KIOCB.res, res, true);
    }
  }

  /** The slot record of `slot`. */
  #kiocb(slot: number): number {
    return this.#ctx + KIOCTX.size + KIOCB.size * slot;
  }

  /** The slot after `slot` in its chain of prepared slots. */
  #next(slot: number): number {
    return this.kernel.dv.getUint32(this.#kiocb(slot) + KIOCB.next, true);
  }

  /** A completion of a slot that was not in flight (ended twice) is a BUG. */
  #checkBad(): void {
    const bad = this.kernel.dv.getUint32(this.#ctx + KIOCTX.nrBad, true);
    if (bad === this.#nrBad) return;
    this.#nrBad = bad;
    this.kernel.log.bug("block/aio:aio_complete", `a slot of ${this.name} ended twice`);
  }

  #checkSlot(slot: number, op: string): void {
    if (!Number.isInteger(slot) || slot < 0 || slot >= this.nrEvents) throw new RangeError(`${op}: slot must be in [0, ${this.nrEvents}), got ${String(slot)}`);
  }

  #checkLive(op: string): void {
    if (this.#destroyed) throw new TypeError(`${op}: the aio context of ${this.name} was destroyed`);
  }
}

/**
 * The host side of `host_aio_notify()` (asm/aio.ts): the ring of the
 * context record `ctx` turned non-empty. A record no live context with
 * hooks owns is a BUG.
 */
export function aioNotifyHost(k: Kernel, ctx: number): void {
  const c = NOTIFIED.get(k)?.get(ctx);
  if (c === undefined) return k.log.bug("block/aio:aio_complete", `kioctx ${ctx} asked for a notification nobody waits for`);
  c._notify();
}

/**
 * @internal `io_setup()` for the promise API (ts/block/disk_io.ts) on
 * `disk`: `nrEvents` slots of up to `maxBytes` each, over buffers its preps
 * name ({@link AioContext._prepAt}), announcing completions to `hooks`, and
 * submitting without a plug. Holds a disk reference until destroyed.
 *
 * @throws {KernelError} ENOMEM when the record's memory cannot be had
 */
export function _ioSetupDisk(k: Kernel, disk: Gendisk, nrEvents: number, maxBytes: number, hooks: AioHooks): AioContext {
  disk.kobj.get();
  try {
    return new AioContext(k, disk, nrEvents, maxBytes, hooks);
  } catch (e) {
    disk.kobj.put();
    throw e;
  }
}

/**
 * Mirrors `io_setup()` on an open block device (`blkdev_get_by_path()` for
 * /dev/`name`, holding a disk reference until {@link AioContext.destroy}).
 *
 * @throws {KernelError} ENXIO when no disk of that name is added; ENOMEM when its memory cannot be had
 * @throws {RangeError} for nrEvents or bufferBytes out of range
 * @example
 * const ctx = ioSetup(k, "nullb0", { nrEvents: 128 });
 * for (let i = 0; i < 128; i++) ctx.prep(IOCB_CMD_PREAD, i * 8, 4096);
 * ctx.submit();
 * const done = new Int32Array(128);
 * ctx.getEvents(done); // 128 slots, ctx.res[slot] === 4096
 * ctx.destroy();
 */
export function ioSetup(k: Kernel, name: string, opts: AioOptions): AioContext {
  if (typeof name !== "string") throw new TypeError("io_setup: name must be a string");
  const nr = opts?.nrEvents;
  if (typeof nr !== "number" || !Number.isInteger(nr) || nr < 1 || nr > AIO_MAX_EVENTS) {
    throw new RangeError(`io_setup: nrEvents must be an integer in [1, ${AIO_MAX_EVENTS}], got ${String(nr)}`);
  }
  const bytes = opts.bufferBytes ?? PAGE_SIZE;
  if (typeof bytes !== "number" || !Number.isInteger(bytes) || bytes <= 0 || bytes % SECTOR_SIZE !== 0 || bytes > BIO_MAX_PAGES * PAGE_SIZE) {
    throw new RangeError(`io_setup: bufferBytes must be a positive multiple of ${SECTOR_SIZE} up to ${BIO_MAX_PAGES * PAGE_SIZE}, got ${String(bytes)}`);
  }
  const disk = k.block.disk(name);
  if (disk === undefined || disk.queue === null) throw new KernelError("ENXIO", "io_setup", name);
  disk.kobj.get();
  try {
    return new AioContext(k, disk, nr, bytes);
  } catch (e) {
    disk.kobj.put();
    throw e;
  }
}
