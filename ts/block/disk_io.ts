// SPDX-License-Identifier: GPL-2.0-only
/**
 * The promise API on a disk: what a process does with `open("/dev/ram0",
 * O_DIRECT)`, `pread`/`pwrite` and `fsync` (fs/block_dev.c, fs/direct-io.c),
 * for JavaScript callers.
 *
 * The I/Os issued in one synchronous stretch (several promises, or one
 * {@link Disk.submitBatch}) are queued on the machine and handed over by one
 * microtask to one task, which submits them in order (`io_submit()` of an
 * iocb array: one task, one `submit_bio()` per chunk; no plug) over data
 * pages of linear memory (copied in from, or out to, the caller's
 * Uint8Array). The microtask then drives the scheduler: `kernel.run()`,
 * synchronous on the virtual clock, until every I/O it handed over has
 * settled and its task has exited (timers due later, such as the request
 * timeout's, stay pending for the next run: a closed loop of promises does
 * not leap the clock to them); when that run goes idle because host
 * I/O is due (a file-backed disk, a real clock) it continues with
 * `sched.runAsync()`, and I/Os issued while that run awaits the host join
 * it as another task. Promises settle as their bios end. A run that ends
 * otherwise (a hang, a thrown bug) rejects the I/Os it left unfinished.
 *
 * Flush: {@link Disk.flush} sends a zero-length WRITE_FLUSH bio
 * (`blkdev_issue_flush()`). On a queue that declares no cache
 * (`blk_queue_flush()` never called: null_blk, the RAM disk) it ends at once
 * in `generic_make_request_checks()`; on one with REQ_FLUSH (a writable
 * file-backed disk) the flush machinery (ts/block/blk_flush.ts) sends a
 * flush request to the driver (`fdatasync()`). Neither counts in `stat`.
 *
 * Errors: a bad argument is a RangeError / TypeError before anything is
 * queued; a failed I/O rejects with a {@link KernelError} of its errno
 * (`bi_error`), a failed read never returns partial data, and a failed
 * {@link Disk.readInto} leaves the caller's buffer as it was.
 *
 * The aio lane: an I/O of one page or less (a read or a write) is an iocb
 * of an aio context the bridge keeps per disk while it is busy
 * (ts/block/aio.ts's `_ioSetupDisk()`; the kernel's `io_submit()` of it,
 * without a plug): the hand-over's task prepares a chain of them and sends
 * it with one core call (`io_submit_nowait()`), the bio's end is the core's
 * `dio_bio_end_aio()`, and the completion ring announces itself once per
 * batch (`host_aio_notify()`), when the bridge reaps it and settles the
 * promises. Nothing is made per bio on the TS side, and no host call is
 * made per bio. Larger I/Os and flushes take the bio path below; the lane's
 * chain is sent before such an I/O, so the task still submits in order.
 *
 * Cost: per I/O, one Io record and its promise (and a read()'s result);
 * per bio, no record on the JS heap: a slot index in `bi_private` names its
 * entry in the bridge's parallel arrays, and its data pages are read back
 * from its vecs. (A read copies out of a view the bridge keeps per data
 * page, or, for a read() of one page or less, slices its result out; a
 * write of more than one page copies in through a short-lived view.) The
 * hand-over's task is the one generator of a batch: its bios are made and
 * sent with plain calls (`bioAllocTry()`, `submitBioTry()`), and only an
 * I/O whose bio must sleep (an exhausted bio pool, no free tag, a frozen
 * queue) goes on in a generator of its own.
 * {@link Disk.readInto} allocates no buffer per read.
 *
 * A disk whose driver moves no data (`Gendisk.dataless`: null_blk) has
 * nothing to copy: its reads' pages are not zeroed and nothing is copied
 * out, so readInto() leaves the caller's buffer as it was (the kernel's
 * O_DIRECT read of /dev/nullb0 leaves the user's pages alone) and read()
 * resolves with a fresh, zeroed buffer.
 *
 * @module
 */

import { ERRNO, type ErrnoCode, errnoName, KernelError } from "../errors.ts";
import type { Kernel } from "../kernel/kernel.ts";
import type { LeakRecord, LeakSource } from "../kernel/kmemleak.ts";
import { GFP_NOIO } from "../kernel/mempool.ts";
import type { Sleepable, Task } from "../kernel/sched.ts";
import { PAGE_SIZE } from "../kernel/slab.ts";
import {
  BIO,
  BIO_ALLOC_WOULD_SLEEP,
  BIO_MAX_PAGES,
  type BioEndIo,
  bioAddPage,
  bioAlloc,
  bioAllocTry,
  bioError,
  type BioLayer,
  bioLayer,
  bioPrivate,
  bioPut,
  bioSetDev,
  bioSetIo,
  bioVcnt,
  BVEC_SIZE,
  fsBioSet,
  registerBioEndIo,
  WRITE_FLUSH,
  WRITE_ODIRECT,
} from "./bio.ts";
import { SUBMIT_WOULD_SLEEP, submitBio, submitBioTry } from "./blk_mq_request.ts";
import type { Gendisk } from "./genhd.ts";
import { MachineMap } from "../kernel/machine_map.ts";
import { _ioSetupDisk, type AioContext, IOCB_CMD_PREAD, IOCB_CMD_PWRITE } from "./aio.ts";

/** Bytes of a sector. */
export const SECTOR_SIZE = 512;
/** The slots of a disk's aio lane: I/Os of one page or less in flight or ended and not yet reaped; more go the bio path. */
const LANE_SLOTS = 256;

/** One I/O of {@link Disk.submitBatch}. */
export type BatchOp =
  | { op: "read"; sector: number; length: number }
  | { op: "write"; sector: number; data: Uint8Array };

/** The outcome of one batch I/O: `data` for a read; `error` when it failed. */
export type BatchResult = { ok: true; data?: Uint8Array } | { ok: false; error: Error };

/** What an I/O does. */
type IoKind = "read" | "write" | "flush";

/**
 * One queued I/O: the state of one promise (or one batch op) from the call
 * to its settling. Its bios find it through the bridge's slot table.
 */
class Io {
  readonly disk: Gendisk;
  readonly kind: IoKind;
  readonly sector: number;
  readonly length: number;
  /**
   * The write's data; a read's destination: {@link EMPTY} until its first
   * bio ends with data (then the result, or readInto()'s staging buffer),
   * or readInto()'s own buffer when one bio covers the read.
   */
  buf: Uint8Array;
  /** readInto()'s buffer, null otherwise. */
  readonly into: Uint8Array | null;
  /** Bios not yet ended. */
  outstanding = 0;
  /** Whether the submitting task has finished submitting. */
  submitted = false;
  /** The first error (negative errno), 0 for none. */
  error = 0;
  /** Set when the I/O cannot be described by an errno (a bug, a hang). */
  failure: unknown = undefined;
  /** The promise's resolve: with the data (read), nothing, or a {@link BatchResult} when `batch`. */
  resolve: (v: Uint8Array | BatchResult | undefined) => void = NOOP;
  reject: (e: Error) => void = NOOP;
  batch = false;
  settled = false;
  /** Its index in the bridge's `active` array while handed over and unsettled, else -1. */
  activeIdx = -1;
  /** The byte offset of the next chunk to submit. */
  off = 0;
  /** The bytes of one bio, 0 until its task begins submitting it (then its queue id and end_io id are set too). */
  chunk = 0;
  qid = 0;
  endIo = 0;

  constructor(disk: Gendisk, kind: IoKind, sector: number, length: number, buf: Uint8Array, into: Uint8Array | null) {
    this.disk = disk;
    this.kind = kind;
    this.sector = sector;
    this.length = length;
    this.buf = buf;
    this.into = into;
  }
}

const EMPTY = new Uint8Array(0);
const NOOP = (): void => {};

/**
 * The resolving functions of the last promise made with {@link capture} as
 * its executor: a promise per I/O without an executor closure per I/O.
 */
let capturedResolve: Io["resolve"] = NOOP;
let capturedReject: Io["reject"] = NOOP;
function capture(resolve: Io["resolve"], reject: Io["reject"]): void {
  capturedResolve = resolve;
  capturedReject = reject;
}

/** A promise settled by `io` (see {@link settleIo}). */
function promiseOf<T>(io: Io): Promise<T> {
  const p = new Promise<T>(capture as (res: (v: T) => void, rej: (e: Error) => void) => void);
  io.resolve = capturedResolve;
  io.reject = capturedReject;
  capturedResolve = capturedReject = NOOP;
  return p;
}

/** Settles `io` once: resolved without `error`, else rejected (a batch op resolves with its {@link BatchResult}). */
function settleIo(b: Bridge, io: Io, error: Error | null): void {
  if (io.settled) return;
  io.settled = true;
  if (io.activeIdx >= 0) {
    const last = b.active.pop()!;
    if (last !== io) {
      b.active[io.activeIdx] = last;
      last.activeIdx = io.activeIdx;
    }
    io.activeIdx = -1;
  }
  const data = io.into ?? io.buf;
  if (io.batch) io.resolve(error !== null ? { ok: false, error } : io.kind === "read" ? { ok: true, data } : { ok: true });
  else if (error !== null) io.reject(error);
  else io.resolve(io.kind === "read" ? data : undefined);
}

/**
 * The bridge state of one machine. A bio in flight owns a slot of the
 * parallel `slot*` arrays, whose index it carries in `bi_private` (as
 * `dio_bio_submit()` stores its dio there): no object per bio, and a slot
 * freed by an ended bio serves the next one.
 */
interface Bridge {
  /** I/Os queued since the last hand-over. */
  pending: Io[];
  /** A hand-over microtask is queued. */
  scheduled: boolean;
  /** An async run (`sched.runAsync()`) is driving the machine. */
  running: boolean;
  /** The hand-over tasks not known to have exited (`quiet` drops the exited ones). */
  tasks: Task[];
  /** The runs' `until`: every handed-over I/O settled and every hand-over task gone. */
  quiet: () => boolean;
  /** Handed-over I/Os not yet settled, in no order (each knows its index: O(1) removal). */
  active: Io[];
  pages: DataPages;
  /** The I/O of the bio in each slot; null for a free slot. */
  slotIo: (Io | null)[];
  /** The bio in each slot (end_io checks it: a stray bio is a BUG, not someone else's I/O). */
  slotBio: number[];
  /** The byte offset in its I/O of the bio in each slot. */
  slotOff: number[];
  /** Free slot indices. */
  freeSlots: number[];
  /** The data pages of the chunk being submitted (BIO_MAX_PAGES entries, reused: no array per bio). */
  chunkPages: number[];
  /** The end_io callback: one function per machine. */
  endIo: BioEndIo;
  /** Its bi_end_io id, valid while `layer` is the machine's bio layer (bioExit() drops the table). */
  endIoId: number;
  layer: BioLayer | null;
  /** The aio lane of each disk with I/O on it while it is open (see {@link releaseIdle}). */
  lanes: Map<Gendisk, Lane>;
  /** The open {@link Disk} handles of each disk. */
  open: Map<Gendisk, number>;
  /** The slots {@link reapLane} takes off a ring at once. */
  reaped: Int32Array;
}

/** A disk's aio lane: its context and, per slot, the I/O and its data page. */
interface Lane {
  disk: Gendisk;
  ctx: AioContext;
  io: (Io | null)[];
  page: number[];
}

const BRIDGES = new MachineMap<Bridge>("disk_io bridge");

/** Freed data pages kept for the next I/Os (a closed loop reuses one page per I/O in flight). */
const MAX_CACHED_PAGES = 256;

/**
 * The bridge's data pages (the user pages a DIO pins, in the kernel): a page
 * freed by a finished I/O waits for the next one, up to
 * {@link MAX_CACHED_PAGES}, while a disk of the machine is open; they all go
 * back ({@link DataPages.drain}) once the bridge is idle and no disk is open
 * (`releaseIdle()`), so a machine with no open disk holds none. Kept across
 * runs, a page also keeps its view ({@link DataPages.view}): a closed loop
 * of promises, idle between its batches, allocates neither per batch.
 *
 * It is the kmemleak source of the pages it holds (cached or in a bio), as
 * "pages-order0" objects of site "disk_io": a Set entry per page rather than
 * a tracked object per allocation (`BlockMemory`'s way, ~2 µs an
 * alloc/free pair).
 */
class DataPages implements LeakSource {
  readonly name = "disk_io";
  readonly #k: Kernel;
  readonly #free: number[] = [];
  readonly #held = new Set<number>();
  /** A view of each page held, made on first use ({@link DataPages.view}). */
  readonly #views = new Map<number, Uint8Array>();

  constructor(k: Kernel) {
    this.#k = k;
    k.kmemleak.addSource(this);
  }

  /** A page, zeroed when `zero` (a read's: null_blk leaves it as it is). @throws {KernelError} ENOMEM */
  get(zero: boolean): number {
    let p = this.#free.pop();
    if (p === undefined) {
      p = this.#k.slab.allocPages(0);
      this.#held.add(p);
    }
    if (zero) this.#k.u8.fill(0, p, p + PAGE_SIZE);
    return p;
  }

  put(p: number): void {
    if (this.#free.length < MAX_CACHED_PAGES) this.#free.push(p);
    else this.#freePage(p);
  }

  drain(): void {
    for (const p of this.#free) this.#freePage(p);
    this.#free.length = 0;
  }

  /** The first `len` bytes of page `p` as a view: one kept per page (made anew once memory grew), not one per copy. */
  view(p: number, len: number): Uint8Array {
    let v = this.#views.get(p);
    if (v === undefined || v.byteLength === 0) this.#views.set(p, v = new Uint8Array(this.#k.core.memory.buffer, p, PAGE_SIZE));
    return len === PAGE_SIZE ? v : v.subarray(0, len);
  }

  /** {@link LeakSource}: the pages held now. */
  *live(): Iterable<LeakRecord> {
    for (const addr of this.#held) yield { addr, size: PAGE_SIZE, cache: "pages-order0", site: "disk_io" };
  }

  #freePage(p: number): void {
    this.#held.delete(p);
    this.#views.delete(p);
    this.#k.slab.freePages(p, 0);
  }
}

function bridge(k: Kernel): Bridge {
  let b = BRIDGES.get(k);
  if (b === undefined) {
    const nb: Bridge = {
      pending: [],
      scheduled: false,
      running: false,
      tasks: [],
      quiet: () => nb.active.length === 0 && allExited(nb.tasks),
      active: [],
      pages: new DataPages(k),
      slotIo: [],
      slotBio: [],
      slotOff: [],
      freeSlots: [],
      chunkPages: new Array<number>(BIO_MAX_PAGES).fill(0),
      endIo: (bio, kk) => diskIoEndIo(kk, nb, bio),
      endIoId: 0,
      layer: null,
      lanes: new Map(),
      open: new Map(),
      reaped: new Int32Array(LANE_SLOTS),
    };
    BRIDGES.set(k, b = nb);
  }
  return b;
}

/** The bi_end_io id of the bridge's end_io, registered again only after bioExit() made a new bio layer. */
function endIoId(k: Kernel, b: Bridge): number {
  const l = bioLayer(k);
  if (b.layer !== l) {
    b.endIoId = registerBioEndIo(k, "disk_io_end_io", b.endIo);
    b.layer = l;
  }
  return b.endIoId;
}

/** A slot for `bio` of `io` at byte `off`. */
function slotGet(b: Bridge, io: Io, bio: number, off: number): number {
  const s = b.freeSlots.pop();
  if (s === undefined) {
    b.slotIo.push(io);
    b.slotBio.push(bio);
    b.slotOff.push(off);
    return b.slotIo.length - 1;
  }
  b.slotIo[s] = io;
  b.slotBio[s] = bio;
  b.slotOff[s] = off;
  return s;
}

function slotPut(b: Bridge, s: number): void {
  b.slotIo[s] = null;
  b.slotBio[s] = 0;
  b.freeSlots.push(s);
}

/** Gives the data pages of `bio` (one per vec: each was added at offset 0) back to the bridge. */
function putBioPages(k: Kernel, b: Bridge, bio: number): void {
  const dv = k.dv;
  const vecs = dv.getUint32(bio + BIO.bi_io_vec, true);
  for (let i = 0, n = bioVcnt(k, bio); i < n; i++) b.pages.put(dv.getUint32(vecs + i * BVEC_SIZE, true));
}

/**
 * Copies a read bio's data to its I/O's buffer (the kernel has no such
 * step: a DIO bio's pages are the user's own; here the caller's bytes live
 * on the JS heap, out of the bios' reach): one `slice()` when
 * the bio is the whole read of one page, else into the caller's buffer or
 * a result made on the first bio. A buffer that shrank under the read (its
 * ArrayBuffer transferred) takes nothing ({@link finishIfDone} fails the
 * read with -EFAULT, as copy_to_user()).
 */
function copyOut(k: Kernel, b: Bridge, io: Io, bio: number, off: number): void {
  const m = k.u8;
  const dv = k.dv;
  const vecs = dv.getUint32(bio + BIO.bi_io_vec, true);
  const n = bioVcnt(k, bio);
  if (io.buf === EMPTY) {
    const len0 = dv.getUint32(vecs + 4, true);
    if (n === 1 && off === 0 && len0 === io.length) {
      const at = dv.getUint32(vecs, true) + dv.getUint32(vecs + 8, true);
      io.buf = m.slice(at, at + len0); // the whole read in one page: one copy, no zeroing
      return;
    }
    io.buf = new Uint8Array(io.length);
  } else if (io.buf.length !== io.length) return;
  for (let i = 0; i < n; i++) {
    const v = vecs + i * BVEC_SIZE;
    const len = dv.getUint32(v + 4, true);
    io.buf.set(b.pages.view(dv.getUint32(v, true), len), off); // each page was added at offset 0
    off += len;
  }
}

/**
 * The bios' end_io (`dio_bio_end_io()` in spirit): finds the bio's slot
 * through `bi_private`, records the error, copies a read's data out, frees
 * the pages, the slot and the bio, and finishes the I/O when it was its last
 * bio.
 */
function diskIoEndIo(k: Kernel, b: Bridge, bio: number): void {
  const s = bioPrivate(k, bio);
  const io = s < b.slotIo.length && b.slotBio[s] === bio ? b.slotIo[s] : null;
  if (io === null) return k.log.bug("block/disk_io:end_io", `bio ${bio} is not a disk_io bio`);
  const off = b.slotOff[s];
  slotPut(b, s);
  const err = bioError(k, bio);
  if (err !== 0 && io.error === 0) io.error = err;
  if (err === 0 && io.kind === "read" && !io.disk.dataless) copyOut(k, b, io, bio, off);
  putBioPages(k, b, bio);
  bioPut(k, bio);
  io.outstanding--;
  finishIfDone(b, io);
}

function finishIfDone(b: Bridge, io: Io): void {
  if (!io.submitted || io.outstanding > 0) return;
  if (io.failure !== undefined) return;
  if (io.error === 0 && io.into !== null) {
    if (io.into.length !== io.length) io.error = -ERRNO.EFAULT; // its ArrayBuffer was transferred: copy_to_user() fails
    // Staged (several bios): the caller's buffer takes the data only now that every bio succeeded.
    else if (io.buf !== io.into) io.into.set(io.buf);
  }
  if (io.error !== 0) {
    let code: ErrnoCode;
    try {
      code = errnoName(io.error);
    } catch {
      code = "EIO";
    }
    settleIo(b, io, new KernelError(code, "submit_bio", `${io.kind} of ${io.length} bytes at sector ${io.sector} on ${io.disk.diskName}`));
  } else {
    if (io.kind === "read" && io.buf === EMPTY) io.buf = new Uint8Array(io.length); // a dataless disk's read() (no bio copied data out)
    settleIo(b, io, null);
  }
}

/** The largest bio the submitter builds: BIO_MAX_PAGES pages, and no more than the queue's max_sectors. */
function bioBytes(disk: Gendisk): number {
  const maxSectors = disk.queue?.limits.maxSectors ?? 0;
  const cap = Math.floor((maxSectors * SECTOR_SIZE) / PAGE_SIZE) * PAGE_SIZE;
  return Math.max(PAGE_SIZE, Math.min(BIO_MAX_PAGES * PAGE_SIZE, cap));
}

/** Copies `len` bytes of a write's data at byte `off` to `page` (a write of one page without a view). */
function copyIn(k: Kernel, io: Io, page: number, off: number, len: number): void {
  k.u8.set(len === io.buf.length ? io.buf : io.buf.subarray(off, off + len), page);
}

/** {@link submitIoTry}'s answer once the I/O is submitted: every bio handed over, or it stopped on an error. */
const IO_SUBMITTED = -1;
/**
 * {@link submitIoTry}'s answer when the bio of the chunk at `io.off` must
 * sleep to be allocated: its data pages wait in the bridge's `chunkPages`.
 * (Any other answer is a slot, >= 0, whose bio must sleep in `submitBio()`.)
 */
const IO_ALLOC_WOULD_SLEEP = -2;

/**
 * Submits one I/O (`do_blockdev_direct_IO()` in spirit) as far as it can
 * without sleeping, creating no JS object: for each chunk from `io.off` a
 * bio over fresh data pages (a write's bytes copied in), from
 * {@link bioAllocTry}, sent with {@link submitBioTry}. An error stops the
 * submission (the bios already submitted still complete) and ends it.
 *
 * @returns {@link IO_SUBMITTED}; or where the task must go on sleeping
 *   ({@link IO_ALLOC_WOULD_SLEEP}, or the slot of a bio to send with
 *   `submitBio()`) — see {@link submitIoSleeping}
 */
function submitIoTry(k: Kernel, b: Bridge, io: Io): number {
  try {
    if (io.chunk === 0) submitIoBegin(k, b, io);
    do {
      const n = Math.min(io.chunk, io.length - io.off);
      const nPages = Math.ceil(n / PAGE_SIZE);
      const pages = b.chunkPages;
      getPages(b, io, pages, nPages);
      let bio: number;
      try {
        bio = bioAllocTry(fsBioSet(k), GFP_NOIO, nPages);
      } catch (e) {
        putPages(b, pages, nPages);
        throw e;
      }
      if (bio === BIO_ALLOC_WOULD_SLEEP) return IO_ALLOC_WOULD_SLEEP;
      const s = fillBio(k, b, io, bio, pages, n);
      let cookie: number;
      try {
        cookie = submitBioTry(k, bio);
      } catch (e) {
        refused(k, b, io, s, bio);
        throw e;
      }
      if (cookie === SUBMIT_WOULD_SLEEP) return s;
      io.off += n;
    } while (io.off < io.length);
  } catch (e) {
    submitIoFailed(io, e);
  }
  submitIoEnd(b, io);
  return IO_SUBMITTED;
}

/**
 * {@link submitIoTry} from where it had to stop (`at`, its answer): the
 * chunk at `io.off` with the same pages, or the same bio and slot, goes on
 * with the sleeping `bioAlloc()` / `submitBio()` (which try once more first:
 * nothing ran in between), then the rest of the I/O without sleeping.
 *
 * @returns as {@link submitIoTry}
 */
function* submitIoSleeping(k: Kernel, b: Bridge, io: Io, at: number): Sleepable<number> {
  try {
    const n = Math.min(io.chunk, io.length - io.off);
    let s = at;
    if (at === IO_ALLOC_WOULD_SLEEP) {
      const nPages = Math.ceil(n / PAGE_SIZE);
      const pages = b.chunkPages.slice(0, nPages); // another task may use chunkPages while this one sleeps
      let bio: number;
      try {
        bio = yield* bioAlloc(fsBioSet(k), GFP_NOIO, nPages);
      } catch (e) {
        putPages(b, pages, nPages);
        throw e;
      }
      s = fillBio(k, b, io, bio, pages, n);
    }
    const bio = b.slotBio[s];
    try {
      yield* submitBio(k, bio);
    } catch (e) {
      refused(k, b, io, s, bio);
      throw e;
    }
    io.off += n;
  } catch (e) {
    submitIoFailed(io, e);
    submitIoEnd(b, io);
    return IO_SUBMITTED;
  }
  if (io.off < io.length) return submitIoTry(k, b, io);
  submitIoEnd(b, io);
  return IO_SUBMITTED;
}

/** What stays fixed while one I/O is submitted: its queue, bio size and end_io. @throws {KernelError} ENXIO when the disk has no queue */
function submitIoBegin(k: Kernel, b: Bridge, io: Io): void {
  const q = io.disk.queue;
  if (q === null) throw new KernelError("ENXIO", "submit_bio", `${io.disk.diskName} has no queue`);
  io.qid = q.id;
  io.chunk = bioBytes(io.disk);
  io.endIo = endIoId(k, b);
  // One bio can end only all right or all wrong: it copies straight into readInto()'s buffer
  // (and a dataless disk's bios copy nothing, however many).
  if (io.into !== null && (io.length <= io.chunk || io.disk.dataless)) io.buf = io.into;
}

/** `nPages` data pages for a chunk of `io` into `pages` (zeroed for a read that copies out). @throws {KernelError} ENOMEM, having put back those it took */
function getPages(b: Bridge, io: Io, pages: number[], nPages: number): void {
  const zero = io.kind === "read" && !io.disk.dataless;
  let i = 0;
  try {
    for (; i < nPages; i++) pages[i] = b.pages.get(zero);
  } catch (e) {
    putPages(b, pages, i);
    throw e;
  }
}

function putPages(b: Bridge, pages: number[], nPages: number): void {
  for (let i = 0; i < nPages; i++) b.pages.put(pages[i]);
}

/**
 * Fills `bio` with the chunk of `io` at `io.off` (`n` bytes over `pages`, a
 * write's data copied in) and gives it a slot: it is outstanding from now on.
 *
 * @returns the slot
 * @throws {KernelError} ENOMEM for no bio (0), the pages put back
 */
function fillBio(k: Kernel, b: Bridge, io: Io, bio: number, pages: number[], n: number): number {
  const nPages = Math.ceil(n / PAGE_SIZE);
  if (bio === 0) {
    putPages(b, pages, nPages);
    throw new KernelError("ENOMEM", "bio_alloc");
  }
  const off = io.off;
  for (let i = 0; i < nPages; i++) {
    const p = pages[i];
    const len = Math.min(PAGE_SIZE, n - i * PAGE_SIZE);
    if (io.kind === "write") copyIn(k, io, p, off + i * PAGE_SIZE, len);
    if (bioAddPage(k, bio, p, len, 0) !== len) k.log.bug("block/disk_io:submit", "bio_add_page refused a page");
  }
  const s = slotGet(b, io, bio, off);
  bioSetIo(k, bio, io.sector + off / SECTOR_SIZE, io.kind === "read" ? 0 : io.kind === "write" ? WRITE_ODIRECT : WRITE_FLUSH, io.endIo, s);
  bioSetDev(k, bio, io.qid);
  io.outstanding++;
  return s;
}

/** After a submission threw: a bio refused before the queue took it is ended by nobody, so its slot, pages and bio go back here. */
function refused(k: Kernel, b: Bridge, io: Io, s: number, bio: number): void {
  if (b.slotIo[s] !== io || b.slotBio[s] !== bio) return; // taken, and ended already
  slotPut(b, s);
  putBioPages(k, b, bio);
  bioPut(k, bio);
  io.outstanding--;
}

/** Records what stopped a submission: a KernelError's errno, anything else as the I/O's failure. */
function submitIoFailed(io: Io, e: unknown): void {
  if (e instanceof KernelError) {
    if (io.error === 0) io.error = e.errno;
  } else io.failure = e;
}

/** The I/O is submitted: it settles now on a failure, else once its last bio ends. */
function submitIoEnd(b: Bridge, io: Io): void {
  io.submitted = true;
  if (io.failure !== undefined) {
    settleIo(b, io, io.failure instanceof Error ? io.failure : new Error(String(io.failure)));
    return;
  }
  finishIfDone(b, io);
}

/**
 * The aio lane of `disk`, made on its first use since the bridge was idle;
 * null when the I/O must take the bio path (no queue, no memory for the
 * context).
 */
function laneOf(k: Kernel, b: Bridge, disk: Gendisk): Lane | null {
  let lane = b.lanes.get(disk);
  if (lane !== undefined) return lane;
  if (disk.queue === null) return null;
  const ios = new Array<Io | null>(LANE_SLOTS).fill(null);
  let ctx: AioContext;
  try {
    ctx = _ioSetupDisk(k, disk, LANE_SLOTS, PAGE_SIZE, {
      notify: () => reapLane(k, b, made), // nothing ends before the context's first submission
      abandoned: (slot, why) => {
        const io = ios[slot];
        if (io !== null && io.failure === undefined) io.failure = why ?? new Error("disk_io: the submission stopped");
      },
    });
  } catch (e) {
    if (e instanceof KernelError) return null; // ENOMEM: the bio path fails the I/O the same way, or finds memory
    throw e;
  }
  const made: Lane = { disk, ctx, io: ios, page: new Array<number>(LANE_SLOTS).fill(0) };
  b.lanes.set(disk, made);
  return made;
}

/**
 * Prepares `io` (one page or less) as an iocb of `lane` over a data page of
 * the bridge (a write's bytes copied in, a read's page zeroed unless its disk is dataless).
 * @returns false when it must take the bio path instead: no free slot, or no page
 */
function lanePrep(k: Kernel, b: Bridge, lane: Lane, io: Io): boolean {
  const read = io.kind === "read";
  let page: number;
  try {
    page = b.pages.get(read && !io.disk.dataless);
  } catch (e) {
    if (e instanceof KernelError) return false; // ENOMEM: the bio path ends the I/O with it
    throw e;
  }
  const slot = lane.ctx._prepAt(read ? IOCB_CMD_PREAD : IOCB_CMD_PWRITE, io.sector, io.length, page);
  if (slot < 0) {
    b.pages.put(page);
    return false;
  }
  if (!read) k.u8.set(io.buf, page);
  lane.io[slot] = io;
  lane.page[slot] = page;
  io.outstanding = 1;
  io.submitted = true;
  return true;
}

/**
 * Reaps `lane`'s completion ring (`io_getevents()`): each ended slot's data
 * copied out (a read's), its page back to the bridge, its I/O settled.
 */
function reapLane(k: Kernel, b: Bridge, lane: Lane): void {
  const out = b.reaped;
  for (;;) {
    const n = lane.ctx.getEvents(out);
    for (let i = 0; i < n; i++) {
      const slot = out[i];
      const io = lane.io[slot];
      const page = lane.page[slot];
      lane.io[slot] = null;
      if (io !== null) laneEnd(k, b, io, page, lane.ctx.res[slot]);
      b.pages.put(page);
    }
    if (n < out.length) return;
  }
}

/** The end of a lane I/O with result `res` (bytes, or -errno): a read's data out of `page`, then {@link submitIoEnd}'s settling. */
function laneEnd(k: Kernel, b: Bridge, io: Io, page: number, res: number): void {
  io.outstanding = 0;
  if (io.failure !== undefined) return submitIoEnd(b, io);
  if (res < 0) io.error = res;
  else if (io.kind === "read") {
    const into = io.into;
    const copy = !io.disk.dataless;
    if (into === null) io.buf = copy ? k.u8.slice(page, page + io.length) : new Uint8Array(io.length);
    else if (into.length === io.length) { // else transferred: finishIfDone() fails it with EFAULT
      if (copy) into.set(b.pages.view(page, io.length));
      io.buf = into;
    }
  }
  submitIoEnd(b, io);
}

/** Reaps every lane (before the I/Os a stopped run left are failed: those that ended settle as they ended). */
function reapLanes(k: Kernel, b: Bridge): void {
  for (const lane of b.lanes.values()) reapLane(k, b, lane);
}

/**
 * What an idle bridge gives back: the lane of each disk no {@link Disk}
 * has open any more, and the cached data pages once no disk of the machine
 * is open. While a disk is open its lane and the pages stay for its next
 * I/Os (a closed loop of promises goes idle between its batches).
 */
function releaseIdle(k: Kernel, b: Bridge): void {
  if (b.running || b.scheduled || b.active.length !== 0) return;
  for (const [disk, lane] of b.lanes) {
    if (b.open.has(disk)) continue;
    reapLane(k, b, lane);
    if (lane.ctx.inFlight !== 0) continue; // a run that stopped with I/O in flight: kept until it ends
    // Slots a thrown bug left prepared and never sent: their I/Os are failed by failActive(), their pages come back.
    for (let slot = 0; slot < LANE_SLOTS; slot++) {
      if (lane.io[slot] === null) continue;
      lane.io[slot] = null;
      b.pages.put(lane.page[slot]);
    }
    lane.ctx.destroy();
    b.lanes.delete(disk);
  }
  if (b.open.size === 0) b.pages.drain();
}

/** Whether `io` takes the aio lane: a read or write of one page or less (one bio, inline vecs). */
function laneable(io: Io): boolean {
  return io.kind !== "flush" && io.length <= PAGE_SIZE;
}

/**
 * `io_submit()` of a batch: one task submitting each I/O in order. An I/O
 * of one page or less joins its disk's lane chain, sent with one core call
 * before any other I/O is submitted; the others go as far as they can with
 * plain calls ({@link submitIoTry}), continued by a generator only where
 * they must sleep.
 */
function* ioSubmitTask(k: Kernel, b: Bridge, ios: Io[]): Sleepable {
  let chained: Lane | null = null;
  for (let i = 0; i < ios.length; i++) {
    const io = ios[i];
    if (laneable(io)) {
      const lane: Lane | null = chained !== null && chained.disk === io.disk ? chained : laneOf(k, b, io.disk);
      if (lane !== null) {
        if (chained !== null && chained !== lane) yield* chained.ctx.submitFromTask();
        chained = lane;
        if (lanePrep(k, b, lane, io)) continue;
        // Every slot busy: send the chain, reap, and try once more.
        yield* lane.ctx.submitFromTask();
        reapLane(k, b, lane);
        if (lanePrep(k, b, lane, io)) continue;
      }
    }
    if (chained !== null) {
      yield* chained.ctx.submitFromTask();
      chained = null;
    }
    let at = submitIoTry(k, b, io);
    while (at !== IO_SUBMITTED) at = yield* submitIoSleeping(k, b, io, at);
  }
  if (chained !== null) yield* chained.ctx.submitFromTask();
}

/** Whether every task of `tasks` has exited; the exited ones are dropped. */
function allExited(tasks: Task[]): boolean {
  let n = 0;
  for (const t of tasks) if (t.state !== "exited") tasks[n++] = t;
  tasks.length = n;
  return n === 0;
}

/** Hands the queued I/Os to one task of the machine; they become active until settled. */
function startPending(k: Kernel, b: Bridge): void {
  const ios = b.pending;
  if (ios.length === 0) return;
  b.pending = [];
  for (const io of ios) {
    io.activeIdx = b.active.length;
    b.active.push(io);
  }
  b.tasks.push(k.sched.spawn(ios.length === 1 ? `disk_io/${ios[0].kind}` : "disk_io/io_submit", () => ioSubmitTask(k, b, ios)));
}

/** Rejects every active I/O (the run that should have finished them stopped). */
function failActive(b: Bridge, why: unknown): void {
  if (b.active.length === 0) return;
  const error = why instanceof Error ? why : new Error(`disk_io: the I/O did not complete${why === undefined ? "" : `: ${String(why)}`}`);
  for (const io of [...b.active]) settleIo(b, io, error);
}

/**
 * The hand-over microtask: the queued I/Os go to a task; the machine runs
 * synchronously until they have settled, or asynchronously once host I/O is due. While an
 * async run drives the machine, it is only woken for the new task.
 */
function flushPending(k: Kernel, b: Bridge): void {
  b.scheduled = false;
  startPending(k, b);
  if (b.running) {
    k.sched.wake();
    return;
  }
  let why: unknown;
  try {
    const r = k.run({ until: b.quiet });
    if (r.kind === "idle") {
      void driveAsync(k, b);
      return;
    }
    if (r.kind !== "stopped" && r.kind !== "done") why = new Error(`disk_io: the scheduler run ended "${r.kind}"`);
  } catch (e) {
    why = e;
  }
  reapLanes(k, b);
  failActive(b, why);
  releaseIdle(k, b);
}

/** Drives the machine with `sched.runAsync()` until no active I/O is left. */
async function driveAsync(k: Kernel, b: Bridge): Promise<void> {
  b.running = true;
  let why: unknown;
  try {
    for (;;) {
      const r = await k.sched.runAsync({ until: b.quiet });
      // I/Os handed over while the stopped run's answer was on its way need another run.
      if (r.kind === "stopped") {
        if (b.quiet()) break;
        continue;
      }
      if (r.kind !== "done") {
        why = new Error(`disk_io: the scheduler run ended "${r.kind}"`);
        break;
      }
      // I/Os that arrived as the run ended are tasks not run yet; a run with no step cannot finish the rest.
      if (b.active.length === 0 || r.steps === 0) break;
    }
  } catch (e) {
    why = e;
  } finally {
    b.running = false;
  }
  reapLanes(k, b);
  failActive(b, why);
  releaseIdle(k, b);
}

/** Queues `io` on its machine; the first queued I/O of a synchronous stretch schedules the hand-over. */
function enqueue(k: Kernel, io: Io): void {
  const b = bridge(k);
  b.pending.push(io);
  if (!b.scheduled) {
    b.scheduled = true;
    queueMicrotask(() => flushPending(k, b));
  }
}

/**
 * An open disk: reads, writes and flushes as promises. Get one with
 * {@link openDisk}; {@link Disk.close} it when done.
 */
export class Disk {
  readonly kernel: Kernel;
  readonly name: string;
  readonly #disk: Gendisk;
  #open = true;

  /** @internal use {@link openDisk} */
  constructor(kernel: Kernel, disk: Gendisk) {
    this.kernel = kernel;
    this.#disk = disk;
    this.name = disk.diskName;
  }

  /** The capacity in 512-byte sectors (0 once the disk is deleted). */
  get capacity(): number {
    return this.#disk.nrSects;
  }

  /** Whether {@link Disk.close} has not run yet. */
  get isOpen(): boolean {
    return this.#open;
  }

  /**
   * Reads `length` bytes from `sector` into a new Uint8Array.
   * @throws {RangeError} (synchronously) for a sector or length not a multiple of 512 bytes or beyond the capacity
   * @throws {TypeError} once closed
   * @returns the bytes; rejects with a {@link KernelError} when the I/O fails
   */
  read(sector: number, length: number): Promise<Uint8Array> {
    const io = this.#io("read", sector, length, null);
    const p = promiseOf<Uint8Array>(io);
    enqueue(this.kernel, io);
    return p;
  }

  /**
   * Reads `into.length` bytes from `sector` into `into` (`pread()` into the
   * caller's buffer): no buffer allocated per read, unlike {@link Disk.read}.
   *
   * `into` is written only once the whole read has succeeded: a rejected
   * readInto leaves it as it was. (A read of one bio, up to the queue's
   * max_sectors, copies straight into it as the bio ends; a larger one goes
   * through a staging buffer, one copy more.) Should `into`'s ArrayBuffer be
   * transferred while the read is in flight, the read rejects with EFAULT.
   * A machine that breaks (a KernelBug, a hang) rejects the read with that
   * error, and `into` may then hold the data of a bio that had completed.
   *
   * @throws {TypeError} (synchronously) when `into` is not a Uint8Array, or once closed
   * @throws {RangeError} (synchronously) as {@link Disk.read}, for `into.length`
   * @returns `into`, filled; rejects with a {@link KernelError} when the I/O fails
   * @example
   * const buf = new Uint8Array(4096);
   * await d.readInto(8, buf); // buf holds sectors 8..15; the next readInto may reuse it
   */
  readInto(sector: number, into: Uint8Array): Promise<Uint8Array> {
    if (!(into instanceof Uint8Array)) throw new TypeError("readInto: into must be a Uint8Array");
    const io = this.#io("read", sector, into.length, null, "readInto", into);
    const p = promiseOf<Uint8Array>(io);
    enqueue(this.kernel, io);
    return p;
  }

  /**
   * Writes `data` (a multiple of 512 bytes) at `sector`. The bytes are
   * copied at the call: `data` may change as soon as it returns.
   * @throws {RangeError} (synchronously) as {@link Disk.read}
   * @returns resolves once the data is on the device; rejects with a {@link KernelError}
   */
  write(sector: number, data: Uint8Array): Promise<void> {
    const io = this.#io("write", sector, data?.length, data);
    const p = promiseOf<void>(io);
    enqueue(this.kernel, io);
    return p;
  }

  /** Sends a zero-length WRITE_FLUSH bio (see the module notes). */
  flush(): Promise<void> {
    this.#checkOpen("flush");
    const io = new Io(this.#disk, "flush", 0, 0, EMPTY, null);
    const p = promiseOf<void>(io);
    enqueue(this.kernel, io);
    return p;
  }

  /**
   * Submits many I/Os in one scheduler run (the fast path). Every op is
   * checked before any is queued.
   * @throws {RangeError} / {@link TypeError} (synchronously) for a bad op; nothing is submitted then
   * @returns one result per op, in order; a failed op does not fail the others
   */
  submitBatch(ops: readonly BatchOp[]): Promise<BatchResult[]> {
    if (!Array.isArray(ops)) throw new TypeError("submitBatch: ops must be an array");
    const ios = ops.map((o, i) => {
      if (o?.op === "read") return this.#io("read", o.sector, o.length, null, `ops[${i}]`);
      if (o?.op === "write") return this.#io("write", o.sector, o.data?.length, o.data, `ops[${i}]`);
      throw new TypeError(`submitBatch: ops[${i}].op must be "read" or "write"`);
    });
    return Promise.all(ios.map((io) => {
      io.batch = true;
      const p = promiseOf<BatchResult>(io);
      enqueue(this.kernel, io);
      return p;
    }));
  }

  /** Mirrors `blkdev_put()`: drops the disk reference {@link openDisk} took. Idempotent. */
  close(): void {
    if (!this.#open) return;
    this.#open = false;
    const b = bridge(this.kernel);
    const n = b.open.get(this.#disk)! - 1;
    if (n === 0) b.open.delete(this.#disk);
    else b.open.set(this.#disk, n);
    releaseIdle(this.kernel, b);
    this.#disk.kobj.put();
  }

  #checkOpen(op: string): void {
    if (!this.#open) throw new TypeError(`${op}: ${this.name} is closed`);
  }

  #io(
    kind: "read" | "write",
    sector: number,
    length: number | undefined,
    data: Uint8Array | null,
    what: string = kind,
    into: Uint8Array | null = null,
  ): Io {
    this.#checkOpen(what);
    if (data !== null && !(data instanceof Uint8Array)) throw new TypeError(`${what}: data must be a Uint8Array`);
    if (typeof sector !== "number" || !Number.isSafeInteger(sector) || sector < 0) {
      throw new RangeError(`${what}: sector must be a non-negative integer, got ${String(sector)}`);
    }
    if (typeof length !== "number" || !Number.isSafeInteger(length) || length <= 0 || length % SECTOR_SIZE !== 0) {
      throw new RangeError(`${what}: length must be a positive multiple of ${SECTOR_SIZE}, got ${String(length)}`);
    }
    if (sector + length / SECTOR_SIZE > this.capacity) {
      throw new RangeError(`${what}: sectors [${sector}, ${sector + length / SECTOR_SIZE}) are beyond ${this.name}'s ${this.capacity}`);
    }
    return new Io(this.#disk, kind, sector, length, data !== null ? data.slice() : EMPTY, into);
  }
}

/**
 * Mirrors `blkdev_get_by_path()` for /dev/`name`: a handle on an added disk,
 * holding a reference on it (`get_disk()`) until {@link Disk.close}.
 *
 * @throws {KernelError} ENXIO when no disk of that name is added
 * @example
 * const d = openDisk(k, "ram0");
 * await d.write(8, new Uint8Array(4096).fill(7));
 * const back = await d.read(8, 4096);
 * d.close();
 */
export function openDisk(kernel: Kernel, name: string): Disk {
  if (typeof name !== "string") throw new TypeError("openDisk: name must be a string");
  const disk = kernel.block.disk(name);
  if (disk === undefined || disk.queue === null) throw new KernelError("ENXIO", "blkdev_get", name);
  disk.kobj.get();
  const b = bridge(kernel);
  b.open.set(disk, (b.open.get(disk) ?? 0) + 1);
  return new Disk(kernel, disk);
}
