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
 * synchronous on the virtual clock; when that run goes idle because host
 * I/O is due (a file-backed disk, a real clock) it continues with
 * `sched.runAsync()`, and I/Os issued while that run awaits the host join
 * it as another task. Promises settle as their bios end. A run that does
 * not end "done" (a hang, a thrown bug) rejects the I/Os it left
 * unfinished.
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
 * (`bi_error`), and a failed read never returns partial data.
 *
 * @module
 */

import { type ErrnoCode, errnoName, KernelError } from "../errors.ts";
import type { Kernel } from "../kernel/kernel.ts";
import { GFP_NOIO } from "../kernel/mempool.ts";
import type { Sleepable } from "../kernel/sched.ts";
import { PAGE_SIZE } from "../kernel/slab.ts";
import { BlockMemory } from "./_mem.ts";
import {
  BIO_MAX_PAGES,
  type BioEndIo,
  bioAddPage,
  bioAlloc,
  bioField,
  bioPut,
  bioSetDev,
  bioSetField,
  bioVec,
  fsBioSet,
  registerBioEndIo,
  REQ_FLUSH,
  REQ_NOIDLE,
  REQ_SYNC,
  REQ_WRITE,
} from "./bio.ts";
import { submitBio } from "./blk_mq_request.ts";
import type { Gendisk } from "./genhd.ts";
import { MachineMap } from "../kernel/machine_map.ts";

/** Bytes of a sector. */
export const SECTOR_SIZE = 512;
/** Mirrors `WRITE_SYNC` (include/linux/fs.h, v4.4). */
const WRITE_SYNC = REQ_WRITE | REQ_SYNC | REQ_NOIDLE;
/** Mirrors `WRITE_FLUSH`. */
const WRITE_FLUSH = WRITE_SYNC | REQ_FLUSH;

/** One I/O of {@link Disk.submitBatch}. */
export type BatchOp =
  | { op: "read"; sector: number; length: number }
  | { op: "write"; sector: number; data: Uint8Array };

/** The outcome of one batch I/O: `data` for a read; `error` when it failed. */
export type BatchResult = { ok: true; data?: Uint8Array } | { ok: false; error: Error };

/** One queued I/O. */
interface Io {
  disk: Gendisk;
  kind: "read" | "write" | "flush";
  sector: number;
  length: number;
  /** The write's data, or the read's result (made when its first bio ends: {@link EMPTY} until then). */
  buf: Uint8Array;
  /** Bios not yet ended. */
  outstanding: number;
  /** Whether the submitting task has finished submitting. */
  submitted: boolean;
  /** The first error (negative errno), 0 for none. */
  error: number;
  /** Set when the I/O cannot be described by an errno (a bug, a hang). */
  failure: unknown;
  /** The promise's resolve: with the data (read), nothing, or a {@link BatchResult} when `batch`. */
  resolve: (v: Uint8Array | BatchResult | undefined) => void;
  reject: (e: Error) => void;
  batch: boolean;
  settled: boolean;
  /** Set while handed over: the bridge whose `active` set holds it. */
  bridge: Bridge | null;
}

const EMPTY = new Uint8Array(0);
const NOOP = (): void => {};

/** Settles `io` once: resolved without `error`, else rejected (a batch op resolves with its {@link BatchResult}). */
function settleIo(io: Io, error: Error | null): void {
  if (io.settled) return;
  io.settled = true;
  if (io.bridge !== null) io.bridge.active.delete(io);
  if (io.batch) io.resolve(error !== null ? { ok: false, error } : io.kind === "read" ? { ok: true, data: io.buf } : { ok: true });
  else if (error !== null) io.reject(error);
  else io.resolve(io.kind === "read" ? io.buf : undefined);
}

/** One bio in flight: its I/O, its byte offset in that I/O, its data pages. */
interface BioCtx {
  io: Io;
  offset: number;
  pages: number[];
}

/** The bridge state of one machine. */
interface Bridge {
  /** I/Os queued since the last hand-over. */
  pending: Io[];
  /** A hand-over microtask is queued. */
  scheduled: boolean;
  /** An async run (`sched.runAsync()`) is driving the machine. */
  running: boolean;
  /** Handed-over I/Os not yet settled. */
  active: Set<Io>;
  pages: DataPages;
  bios: Map<number, BioCtx>;
  /** The end_io callback, registered again per I/O (bioExit() drops the table). */
  endIo: BioEndIo;
}

const BRIDGES = new MachineMap<Bridge>("disk_io bridge");

/** Freed data pages kept for the next bios of a hand-over (a closed loop reuses one page per I/O in flight). */
const MAX_CACHED_PAGES = 256;

/**
 * The bridge's data pages (the user pages a DIO pins, in the kernel): a page
 * freed by a finished bio waits for the next bio while I/O is active, and
 * they all go back ({@link DataPages.drain}) once the bridge is idle, so an
 * idle machine holds none.
 */
class DataPages {
  readonly #k: Kernel;
  readonly #mem: BlockMemory;
  readonly #free: number[] = [];

  constructor(k: Kernel) {
    this.#k = k;
    this.#mem = new BlockMemory(k.slab, k.kmemleak, "disk_io");
  }

  /** A page, zeroed when `zero` (a read's: null_blk leaves it as it is). @throws {KernelError} ENOMEM */
  get(zero: boolean): number {
    const p = this.#free.pop();
    if (p === undefined) return this.#mem.allocPages(0);
    if (zero) this.#k.u8.fill(0, p, p + PAGE_SIZE);
    return p;
  }

  put(p: number): void {
    if (this.#free.length < MAX_CACHED_PAGES) this.#free.push(p);
    else this.#mem.freePages(p);
  }

  drain(): void {
    for (const p of this.#free) this.#mem.freePages(p);
    this.#free.length = 0;
  }
}

function bridge(k: Kernel): Bridge {
  let b = BRIDGES.get(k);
  if (b === undefined) {
    const bios = new Map<number, BioCtx>();
    const pages = new DataPages(k);
    b = {
      pending: [],
      scheduled: false,
      running: false,
      active: new Set(),
      pages,
      bios,
      endIo: (bio, kk) => diskIoEndIo(kk, bios, pages, bio),
    };
    BRIDGES.set(k, b);
  }
  return b;
}

/**
 * The bios' end_io (`dio_bio_end_io()` in spirit): records the error, copies
 * a read's pages out, frees the pages and the bio, and finishes the I/O when
 * it was its last bio.
 */
function diskIoEndIo(k: Kernel, bios: Map<number, BioCtx>, pages: DataPages, bio: number): void {
  const c = bios.get(bio);
  if (c === undefined) return k.log.bug("block/disk_io:end_io", `bio ${bio} is not a disk_io bio`);
  bios.delete(bio);
  const io = c.io;
  const err = bioField(k, bio, "bi_error");
  if (err !== 0 && io.error === 0) io.error = err;
  if (err === 0 && io.kind === "read") {
    const m = k.u8;
    const v0 = bioVec(k, bio, 0);
    if (c.pages.length === 1 && c.offset === 0 && v0.bvLen === io.length) {
      io.buf = m.slice(v0.bvPage + v0.bvOffset, v0.bvPage + v0.bvOffset + v0.bvLen); // the whole read in one page: one copy, no zeroing
    } else {
      if (io.buf === EMPTY) io.buf = new Uint8Array(io.length);
      let off = c.offset;
      for (let i = 0; i < c.pages.length; i++) {
        const v = bioVec(k, bio, i);
        io.buf.set(m.subarray(v.bvPage + v.bvOffset, v.bvPage + v.bvOffset + v.bvLen), off);
        off += v.bvLen;
      }
    }
  }
  for (const p of c.pages) pages.put(p);
  bioPut(k, bio);
  io.outstanding--;
  finishIfDone(io);
}

function finishIfDone(io: Io): void {
  if (!io.submitted || io.outstanding > 0) return;
  if (io.failure !== undefined) return;
  if (io.error !== 0) {
    let code: ErrnoCode;
    try {
      code = errnoName(io.error);
    } catch {
      code = "EIO";
    }
    settleIo(io, new KernelError(code, "submit_bio", `${io.kind} of ${io.length} bytes at sector ${io.sector} on ${io.disk.diskName}`));
  } else {
    if (io.kind === "read" && io.buf === EMPTY) io.buf = new Uint8Array(io.length); // no bio ended with data (cannot happen without an error)
    settleIo(io, null);
  }
}

/** The largest bio the submitter builds: BIO_MAX_PAGES pages, and no more than the queue's max_sectors. */
function bioBytes(disk: Gendisk): number {
  const maxSectors = disk.queue?.limits.maxSectors ?? 0;
  const cap = Math.floor((maxSectors * SECTOR_SIZE) / PAGE_SIZE) * PAGE_SIZE;
  return Math.max(PAGE_SIZE, Math.min(BIO_MAX_PAGES * PAGE_SIZE, cap));
}

/**
 * Submits one I/O (`do_blockdev_direct_IO()` in spirit): for each chunk a
 * bio over fresh data pages (a write's bytes copied in), submitted with
 * `submitBio()`. An allocation failure stops the submission with that
 * error; the bios already submitted still complete.
 */
function* submitIo(k: Kernel, b: Bridge, io: Io): Sleepable {
  try {
    const q = io.disk.queue;
    if (q === null) throw new KernelError("ENXIO", "submit_bio", `${io.disk.diskName} has no queue`);
    const rw = io.kind === "read" ? 0 : io.kind === "write" ? WRITE_SYNC : WRITE_FLUSH;
    const chunk = bioBytes(io.disk);
    const endIo = registerBioEndIo(k, "disk_io_end_io", b.endIo);
    let off = 0;
    do {
      const n = Math.min(chunk, io.length - off);
      const nPages = Math.ceil(n / PAGE_SIZE);
      const pages: number[] = [];
      let bio = 0;
      try {
        for (let i = 0; i < nPages; i++) pages.push(b.pages.get(io.kind === "read"));
        bio = yield* bioAlloc(fsBioSet(k), GFP_NOIO, nPages);
        if (bio === 0) throw new KernelError("ENOMEM", "bio_alloc");
      } catch (e) {
        for (const p of pages) b.pages.put(p);
        throw e;
      }
      for (let i = 0; i < nPages; i++) {
        const len = Math.min(PAGE_SIZE, n - i * PAGE_SIZE);
        if (io.kind === "write") {
          new Uint8Array(k.core.memory.buffer, pages[i], len).set(io.buf.subarray(off + i * PAGE_SIZE, off + i * PAGE_SIZE + len));
        }
        if (bioAddPage(k, bio, pages[i], len, 0) !== len) k.log.bug("block/disk_io:submit", "bio_add_page refused a page");
      }
      bioSetField(k, bio, "bi_sector", io.sector + off / SECTOR_SIZE);
      bioSetField(k, bio, "bi_rw", rw);
      bioSetField(k, bio, "bi_end_io", endIo);
      bioSetDev(k, bio, q.id);
      b.bios.set(bio, { io, offset: off, pages });
      io.outstanding++;
      try {
        yield* submitBio(k, bio);
      } catch (e) {
        if (b.bios.delete(bio)) { // refused before the queue took it: nobody will end it
          for (const p of pages) b.pages.put(p);
          bioPut(k, bio);
          io.outstanding--;
        }
        throw e;
      }
      off += n;
    } while (off < io.length);
  } catch (e) {
    if (e instanceof KernelError) {
      if (io.error === 0) io.error = e.errno;
    } else io.failure = e;
  }
  io.submitted = true;
  if (io.failure !== undefined) {
    settleIo(io, io.failure instanceof Error ? io.failure : new Error(String(io.failure)));
    return;
  }
  finishIfDone(io);
}

/** `io_submit()` of a batch: one task submitting each I/O in order. */
function* ioSubmitTask(k: Kernel, b: Bridge, ios: Io[]): Sleepable {
  for (const io of ios) yield* submitIo(k, b, io);
}

/** Hands the queued I/Os to one task of the machine; they become active until settled. */
function startPending(k: Kernel, b: Bridge): void {
  const ios = b.pending;
  if (ios.length === 0) return;
  b.pending = [];
  for (const io of ios) {
    io.bridge = b;
    b.active.add(io);
  }
  k.sched.spawn(ios.length === 1 ? `disk_io/${ios[0].kind}` : "disk_io/io_submit", () => ioSubmitTask(k, b, ios));
}

/** Rejects every active I/O (the run that should have finished them stopped). */
function failActive(b: Bridge, why: unknown): void {
  if (b.active.size === 0) return;
  const error = why instanceof Error ? why : new Error(`disk_io: the I/O did not complete${why === undefined ? "" : `: ${String(why)}`}`);
  for (const io of [...b.active]) settleIo(io, error);
}

/**
 * The hand-over microtask: the queued I/Os go to a task; the machine runs
 * synchronously until done, or asynchronously once host I/O is due. While an
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
    const r = k.run();
    if (r.kind === "idle") {
      void driveAsync(k, b);
      return;
    }
    if (r.kind !== "done") why = new Error(`disk_io: the scheduler run ended "${r.kind}"`);
  } catch (e) {
    why = e;
  }
  failActive(b, why);
  b.pages.drain();
}

/** Drives the machine with `sched.runAsync()` until no active I/O is left. */
async function driveAsync(k: Kernel, b: Bridge): Promise<void> {
  b.running = true;
  let why: unknown;
  try {
    for (;;) {
      const r = await k.sched.runAsync();
      if (r.kind !== "done") {
        why = new Error(`disk_io: the scheduler run ended "${r.kind}"`);
        break;
      }
      // I/Os that arrived as the run ended are tasks not run yet; a run with no step cannot finish the rest.
      if (b.active.size === 0 || r.steps === 0) break;
    }
  } catch (e) {
    why = e;
  } finally {
    b.running = false;
  }
  failActive(b, why);
  b.pages.drain();
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
    return Number(this.#disk.capacity);
  }

  /** Whether {@link Disk.close} has not run yet. */
  get isOpen(): boolean {
    return this.#open;
  }

  /**
   * Reads `length` bytes from `sector`.
   * @throws {RangeError} (synchronously) for a sector or length not a multiple of 512 bytes or beyond the capacity
   * @throws {TypeError} once closed
   * @returns the bytes; rejects with a {@link KernelError} when the I/O fails
   */
  read(sector: number, length: number): Promise<Uint8Array> {
    const io = this.#io("read", sector, length, null);
    const p = new Promise<Uint8Array>((resolve, reject) => {
      io.resolve = resolve as Io["resolve"];
      io.reject = reject;
    });
    enqueue(this.kernel, io);
    return p;
  }

  /**
   * Writes `data` (a multiple of 512 bytes) at `sector`.
   * @throws {RangeError} (synchronously) as {@link Disk.read}
   * @returns resolves once the data is on the device; rejects with a {@link KernelError}
   */
  write(sector: number, data: Uint8Array): Promise<void> {
    const io = this.#io("write", sector, data?.length, data);
    const p = new Promise<void>((resolve, reject) => {
      io.resolve = resolve as Io["resolve"];
      io.reject = reject;
    });
    enqueue(this.kernel, io);
    return p;
  }

  /** Sends a zero-length WRITE_FLUSH bio (see the module notes). */
  flush(): Promise<void> {
    this.#checkOpen("flush");
    const io = newIo(this.#disk, "flush", 0, 0, EMPTY);
    const p = new Promise<void>((resolve, reject) => {
      io.resolve = resolve as Io["resolve"];
      io.reject = reject;
    });
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
    return Promise.all(ios.map((io) =>
      new Promise<BatchResult>((resolve) => {
        io.batch = true;
        io.resolve = resolve as Io["resolve"];
        enqueue(this.kernel, io);
      })
    ));
  }

  /** Mirrors `blkdev_put()`: drops the disk reference {@link openDisk} took. Idempotent. */
  close(): void {
    if (!this.#open) return;
    this.#open = false;
    this.#disk.kobj.put();
  }

  #checkOpen(op: string): void {
    if (!this.#open) throw new TypeError(`${op}: ${this.name} is closed`);
  }

  #io(kind: "read" | "write", sector: number, length: number | undefined, data: Uint8Array | null, what: string = kind): Io {
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
    return newIo(this.#disk, kind, sector, length, data !== null ? data.slice() : EMPTY);
  }
}

function newIo(disk: Gendisk, kind: Io["kind"], sector: number, length: number, buf: Uint8Array): Io {
  return {
    disk,
    kind,
    sector,
    length,
    buf,
    outstanding: 0,
    submitted: false,
    error: 0,
    failure: undefined,
    resolve: NOOP,
    reject: NOOP,
    batch: false,
    settled: false,
    bridge: null,
  };
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
  return new Disk(kernel, disk);
}
