// SPDX-License-Identifier: GPL-2.0-only
/**
 * The synchronous batch API: what a process does with `io_setup()`,
 * `io_submit()` and `io_getevents()` (fs/aio.c, v4.4) on a block device
 * opened with O_DIRECT, for JavaScript callers that want many I/Os per call
 * and no JS object per I/O.
 *
 * An {@link AioContext} owns `nrEvents` iocb slots. Each slot has a data
 * buffer of `bufferBytes` in linear memory (the user pages a DIO pins) and
 * its state in typed arrays; {@link AioContext.prep} fills a slot,
 * {@link AioContext.submit} sends every prepared slot in one task under one
 * plug (`do_io_submit()` plugs its loop), one bio each from `fs_bio_set`
 * (`bi_private` names the context and slot), and runs the machine; each
 * bio's end_io puts the slot's result (bytes done, or -errno) and pushes the
 * slot onto the completion ring, which {@link AioContext.getEvents} empties
 * into the caller's Int32Array. Only a bio that must sleep (the queue is
 * frozen, tags or bios are exhausted) costs a generator.
 *
 * On the virtual clock `submit()` returns with every I/O ended. A
 * file-backed disk ends its I/Os on the host's time: they complete as the
 * caller drives the machine (`await kernel.sched.runAsync()`), or use the
 * promise API (ts/block/disk_io.ts).
 *
 * @module
 */

import { ERRNO, KernelError } from "../errors.ts";
import type { Kernel } from "../kernel/kernel.ts";
import { MachineMap } from "../kernel/machine_map.ts";
import { GFP_KERNEL } from "../kernel/mempool.ts";
import type { Sleepable } from "../kernel/sched.ts";
import { PAGE_SIZE } from "../kernel/slab.ts";
import { BlockMemory, getOrder } from "./_mem.ts";
import {
  BIO_ALLOC_WOULD_SLEEP,
  BIO_MAX_PAGES,
  bioAddPage,
  bioAlloc,
  bioAllocTry,
  bioError,
  bioPrivate,
  bioPut,
  bioSetDev,
  bioSetIo,
  fsBioSet,
  registerBioEndIo,
  REQ_WRITE,
} from "./bio.ts";
import { SUBMIT_WOULD_SLEEP, submitBio, submitBioTry } from "./blk_mq_request.ts";
import { blkFinishPlug, blkStartPlug } from "./blk_plug.ts";
import type { Gendisk } from "./genhd.ts";

/** Mirrors `IOCB_CMD_PREAD` (include/uapi/linux/aio_abi.h). */
export const IOCB_CMD_PREAD = 0;
/** Mirrors `IOCB_CMD_PWRITE`. */
export const IOCB_CMD_PWRITE = 1;

/** The most slots one context may have (the slot is the low 16 bits of `bi_private`). */
export const AIO_MAX_EVENTS = 0x10000;

const SECTOR_SIZE = 512;

/** Slot states. */
const FREE = 0;
const PREPARED = 1;
const IN_FLIGHT = 2;
const DONE = 3;

/** Options of {@link ioSetup}. */
export interface AioOptions {
  /** Slots (iocbs in flight or waiting to be reaped), 1..{@link AIO_MAX_EVENTS}. */
  nrEvents: number;
  /** Bytes of each slot's buffer: a positive multiple of 512, at most BIO_MAX_PAGES pages. Default 4096. */
  bufferBytes?: number;
}

/** The aio state of one machine: its live contexts by id (the high half of their bios' `bi_private`). */
interface AioMachine {
  ctxs: (AioContext | undefined)[];
}

const AIO = new MachineMap<AioMachine>("aio");

/** The slot's bio's end_io (`aio_complete()` via `dio_bio_end_aio()`, in spirit). */
function aioEndIo(bio: number, k: Kernel): void {
  const priv = bioPrivate(k, bio);
  const ctx = AIO.get(k)?.ctxs[priv >>> 16];
  if (ctx === undefined) return k.log.bug("block/aio:end_io", `bio ${bio}: bi_private ${priv} names no aio context`);
  ctx._complete(priv & 0xffff, bioError(k, bio));
  bioPut(k, bio);
}

/**
 * Mirrors `struct kioctx` (fs/aio.c, v4.4) for one block device: iocb slots
 * with buffers, and the completion ring. Make one with {@link ioSetup}.
 */
export class AioContext {
  readonly kernel: Kernel;
  /** The device's name (`/dev/<name>`). */
  readonly name: string;
  readonly nrEvents: number;
  readonly bufferBytes: number;
  /** Per slot: the result once reaped or done — bytes transferred, or a negative errno. */
  readonly res: Int32Array;
  readonly #disk: Gendisk;
  readonly #id: number;
  readonly #mem: BlockMemory;
  /** Per slot: the buffer's address in linear memory. */
  readonly #buf: Uint32Array;
  readonly #state: Uint8Array;
  readonly #op: Uint8Array;
  readonly #sector: Float64Array;
  readonly #bytes: Uint32Array;
  /** Free slots, a stack. */
  readonly #free: Int32Array;
  #nrFree: number;
  /** Prepared slots in prep order. */
  readonly #prepared: Int32Array;
  #nrPrepared = 0;
  /** The completion ring (`aio_ring`): slots in completion order. */
  readonly #ring: Int32Array;
  #head = 0;
  #nrDone = 0;
  #inFlight = 0;
  /** The end_io id of aioEndIo, registered by each submitFromTask(). */
  #endIo = 0;
  #destroyed = false;

  /** @internal use {@link ioSetup} */
  constructor(kernel: Kernel, disk: Gendisk, id: number, nrEvents: number, bufferBytes: number) {
    this.kernel = kernel;
    this.name = disk.diskName;
    this.nrEvents = nrEvents;
    this.bufferBytes = bufferBytes;
    this.#disk = disk;
    this.#id = id;
    this.#mem = new BlockMemory(kernel.slab, kernel.kmemleak, "aio");
    this.res = new Int32Array(nrEvents);
    this.#buf = new Uint32Array(nrEvents);
    this.#state = new Uint8Array(nrEvents);
    this.#op = new Uint8Array(nrEvents);
    this.#sector = new Float64Array(nrEvents);
    this.#bytes = new Uint32Array(nrEvents);
    this.#free = new Int32Array(nrEvents);
    this.#prepared = new Int32Array(nrEvents);
    this.#ring = new Int32Array(nrEvents);
    const order = getOrder(bufferBytes);
    let i = 0;
    try {
      for (; i < nrEvents; i++) this.#buf[i] = this.#mem.allocPages(order);
    } catch (e) {
      for (let j = 0; j < i; j++) this.#mem.freePages(this.#buf[j]);
      throw e;
    }
    for (let s = 0; s < nrEvents; s++) this.#free[s] = nrEvents - 1 - s;
    this.#nrFree = nrEvents;
  }

  /** Slots submitted and not yet ended. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Slots ended and not yet reaped by {@link AioContext.getEvents}. */
  get completed(): number {
    return this.#nrDone;
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
    const capacity = Number(this.#disk.capacity);
    if (typeof sector !== "number" || !Number.isSafeInteger(sector) || sector < 0 || sector + bytes / SECTOR_SIZE > capacity) {
      throw new RangeError(`io_submit: sectors from ${String(sector)} for ${bytes} bytes are outside ${this.name}'s ${capacity}`);
    }
    if (this.#nrFree === 0) throw new KernelError("EAGAIN", "io_submit", `all ${this.nrEvents} slots are busy; reap with getEvents()`);
    const slot = this.#free[--this.#nrFree];
    this.#state[slot] = PREPARED;
    this.#op[slot] = op;
    this.#sector[slot] = sector;
    this.#bytes[slot] = bytes;
    this.res[slot] = 0;
    this.#prepared[this.#nrPrepared++] = slot;
    return slot;
  }

  /**
   * Mirrors `io_submit()` for every prepared slot: one task submits them in
   * prep order under one plug, then the machine runs (on the virtual clock,
   * until every I/O has ended). When the run stops before that task is done
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
    this.kernel.sched.spawn("aio/io_submit", () => this.submitFromTask());
    this.kernel.run();
    return n;
  }

  /**
   * {@link AioContext.submit} for a caller that is a task of the machine:
   * the prepared slots are taken at once (in flight from now on) and
   * submitted under the task's plug; they end as the machine runs. A slot
   * whose bio cannot be made or sent ends at once with the errno (ENOMEM,
   * ENODEV, …).
   *
   * @returns the number of iocbs taken
   */
  *submitFromTask(): Sleepable<number> {
    this.#checkLive("io_submit");
    const n = this.#nrPrepared;
    if (n === 0) return 0;
    const slots = this.#prepared.slice(0, n); // one array per batch: the slots this task owns
    this.#nrPrepared = 0;
    for (let i = 0; i < n; i++) this.#state[slots[i]] = IN_FLIGHT;
    this.#inFlight += n;
    const k = this.kernel;
    const task = k.sched.current;
    this.#endIo = registerBioEndIo(k, "aio_end_io", aioEndIo); // per batch: bioExit() drops the table
    // Slots [done, n) are still this loop's: not yet ended here nor handed to submit_bio().
    let done = 0;
    blkStartPlug(k, task);
    try {
      for (let i = 0; i < n; i++) {
        // Plain calls for the common case; a generator only where the bio or the submission must sleep.
        const slot = slots[i];
        let bio: number;
        try {
          bio = this.#allocBio(slot);
          if (bio === BIO_ALLOC_WOULD_SLEEP) bio = this.#fillBio(slot, yield* bioAlloc(fsBioSet(k), GFP_KERNEL, this.#nrPages(slot)));
        } catch (e) {
          if (!(e instanceof KernelError)) throw e;
          this._complete(slot, e.errno); // e.g. ENOMEM making fs_bio_set on first use
          done = i + 1;
          continue;
        }
        done = i + 1;
        if (bio === 0 || !this.#send(slot, bio)) continue;
        try {
          yield* submitBio(k, bio);
        } catch (e) {
          this.#refused(slot, bio, e);
        }
      }
    } finally {
      // A bug thrown above: the slots not reached end with -EIO instead of staying in flight.
      for (let j = done; j < n; j++) if (this.#state[slots[j]] === IN_FLIGHT) this._complete(slots[j], -ERRNO.EIO);
      blkFinishPlug(task);
    }
    return n;
  }

  #nrPages(slot: number): number {
    return Math.ceil(this.#bytes[slot] / PAGE_SIZE);
  }

  /**
   * The slot's bio without sleeping: {@link bioAllocTry} from `fs_bio_set`,
   * filled by {@link AioContext.#fillBio}.
   *
   * @returns the bio; 0 when the slot ended (ENXIO, ENOMEM); or BIO_ALLOC_WOULD_SLEEP
   */
  #allocBio(slot: number): number {
    if (this.#disk.queue === null) {
      this._complete(slot, -ERRNO.ENXIO); // the disk lost its queue
      return 0;
    }
    const bio = bioAllocTry(fsBioSet(this.kernel), GFP_KERNEL, this.#nrPages(slot));
    return bio === BIO_ALLOC_WOULD_SLEEP ? bio : this.#fillBio(slot, bio);
  }

  /** The slot's buffer, sector, op, end_io and queue into `bio`. @returns bio; 0 (the slot ended with ENOMEM) for no bio */
  #fillBio(slot: number, bio: number): number {
    if (bio === 0) {
      this._complete(slot, -ERRNO.ENOMEM);
      return 0;
    }
    const k = this.kernel;
    const bytes = this.#bytes[slot];
    const buf = this.#buf[slot];
    for (let off = 0; off < bytes; off += PAGE_SIZE) {
      const len = Math.min(PAGE_SIZE, bytes - off);
      if (bioAddPage(k, bio, buf + off, len, 0) !== len) k.log.bug("block/aio:io_submit", "bio_add_page refused a page");
    }
    bioSetIo(k, bio, this.#sector[slot], this.#op[slot] === IOCB_CMD_PWRITE ? REQ_WRITE : 0, this.#endIo, this.#id * 0x10000 + slot);
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
    const n = Math.min(out.length, this.#nrDone);
    const ring = this.#ring;
    for (let i = 0; i < n; i++) {
      const slot = ring[this.#head];
      this.#head = this.#head + 1 === this.nrEvents ? 0 : this.#head + 1;
      out[i] = slot;
      this.#state[slot] = FREE;
      this.#free[this.#nrFree++] = slot;
    }
    this.#nrDone -= n;
    return n;
  }

  /**
   * Mirrors `io_destroy()`: frees the buffers and drops the device
   * reference. Slots prepared and not submitted are dropped.
   * @throws {KernelError} EBUSY while I/Os are in flight (nothing changes)
   */
  destroy(): void {
    if (this.#destroyed) return;
    if (this.#inFlight > 0) throw new KernelError("EBUSY", "io_destroy", `${this.#inFlight} I/Os in flight on ${this.name}`);
    this.#destroyed = true;
    for (let s = 0; s < this.nrEvents; s++) this.#mem.freePages(this.#buf[s]);
    const m = AIO.get(this.kernel)!;
    m.ctxs[this.#id] = undefined;
    this.#disk.kobj.put();
  }

  /** @internal the end of a slot's I/O: its result, onto the completion ring. */
  _complete(slot: number, error: number): void {
    if (this.#state[slot] !== IN_FLIGHT) return this.kernel.log.bug("block/aio:aio_complete", `slot ${slot} ended twice`);
    this.#state[slot] = DONE;
    this.res[slot] = error !== 0 ? error : this.#bytes[slot];
    this.#inFlight--;
    const tail = this.#head + this.#nrDone;
    this.#ring[tail >= this.nrEvents ? tail - this.nrEvents : tail] = slot;
    this.#nrDone++;
  }

  #checkSlot(slot: number, op: string): void {
    if (!Number.isInteger(slot) || slot < 0 || slot >= this.nrEvents) throw new RangeError(`${op}: slot must be in [0, ${this.nrEvents}), got ${String(slot)}`);
  }

  #checkLive(op: string): void {
    if (this.#destroyed) throw new TypeError(`${op}: the aio context of ${this.name} was destroyed`);
  }
}

/**
 * Mirrors `io_setup()` on an open block device (`blkdev_get_by_path()` for
 * /dev/`name`, holding a disk reference until {@link AioContext.destroy}).
 *
 * @throws {KernelError} ENXIO when no disk of that name is added; EAGAIN past 0xffff live contexts of the machine
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
  const m = AIO.get(k) ?? AIO.set(k, { ctxs: [] }).get(k)!;
  let id = m.ctxs.indexOf(undefined);
  if (id < 0) id = m.ctxs.length;
  if (id > 0xffff) throw new KernelError("EAGAIN", "io_setup", "too many aio contexts");
  disk.kobj.get();
  let ctx: AioContext;
  try {
    ctx = new AioContext(k, disk, id, nr, bytes);
  } catch (e) {
    disk.kobj.put();
    throw e;
  }
  m.ctxs[id] = ctx;
  return ctx;
}
