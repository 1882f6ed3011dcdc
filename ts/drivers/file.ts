// SPDX-License-Identifier: GPL-2.0-only
/**
 * A file-backed disk (drivers/block/loop.c, v4.4, which is blk-mq: one
 * queue, `loop_queue_rq()` hands each request to a worker that calls
 * `vfs_iter_read()` / `vfs_iter_write()` on the backing file and completes
 * it with `blk_mq_complete_request()`). Here the "worker" is the host: a
 * `node:fs/promises` FileHandle. `queue_rq` starts one positioned host read
 * or write per segment (in order, one request = one host operation at a
 * time), returns OK, and the request completes from the host callback, in
 * interrupt context on the request's submission CPU. In-flight requests
 * (hence host operations) are bounded by the tag set (`hw_queue_depth`).
 *
 * Host I/O needs a real event loop: the scheduler must be driven with
 * `sched.runAsync()` (every host operation is bracketed by
 * `externalBegin()` / `externalEnd()` so the run waits for it). A
 * `clock: "real"` kernel is the intended machine. The synchronous
 * `kernel.run()` returns "idle" while host I/O is due; the `openDisk()`
 * promise bridge of block/disk_io.ts then goes on with `runAsync()`.
 *
 * Decisions:
 * - open (modprobe / {@link fileDiskCreate}): the file is opened "r+"
 *   ("r" when `ro=1`); EACCES / EROFS on "r+" falls back to read-only as
 *   losetup does. A host error becomes the KernelError of its code (ENOENT
 *   for a missing file; EIO for a code the port has no errno for).
 * - capacity: file size / 512, rounded down (loop: `get_loop_size()`).
 * - a write to a read-only disk fails with -EROFS before the file is
 *   touched (v4.4 loop with a read-only file gets -EBADF from the VFS and
 *   ends the request -EIO; the port names the cause).
 * - a read past the end of the file zero-fills the rest, as loop's
 *   `lo_read_simple()` does (`zero_fill_bio()` on a short read).
 * - flush: a writable disk declares REQ_FLUSH (`blk_queue_flush()`, as
 *   `loop_set_fd()` does; no REQ_FUA, so FUA writes get a POSTFLUSH from
 *   the flush machinery). A REQ_FLUSH request — in practice the data-less
 *   flush request of ts/block/blk_flush.ts — is an `fdatasync()` (loop:
 *   `lo_req_flush()` → `vfs_fsync()`), before any data it might carry. A
 *   read-only disk declares nothing: flushes to it end before the driver.
 * - a host I/O error ends the request with that errno (EIO when unknown).
 *
 * @module
 */

import { open as fsOpen } from "node:fs/promises";
import { ERRNO, type ErrnoCode, KernelError } from "../errors.ts";
import type { Kernel } from "../kernel/kernel.ts";
import { Completion, type Sleepable } from "../kernel/sched.ts";
import { REQ_FLUSH, REQ_WRITE } from "../block/bio.ts";
import { blkQueueFlush } from "../block/blk_flush.ts";
import { blkMqInitQueue } from "../block/blk_mq.ts";
import { blkMqCompleteRequest, blkMqEndRequest, blkMqStartRequest } from "../block/blk_mq_request.ts";
import { addDriverDisk, delGendisk, type Gendisk, putDisk } from "../block/genhd.ts";
import { BLK_MQ_F_SHOULD_MERGE, type BlkMqHwCtx } from "../block/hctx.ts";
import { RQ, rqSegments, type Segment } from "../block/request_record.ts";
import { blkCleanupQueue, QUEUE_FLAG_ADD_RANDOM, type RequestQueue } from "../block/request_queue.ts";
import { blkMqAllocTagSet, blkMqFreeTagSet, blkMqMapQueue, type BlkMqQueueData, BLK_MQ_RQ_QUEUE_OK, type BlkMqTagSet } from "../block/tag_set.ts";
import type { KernelModule } from "./module.ts";
import { kstrtoint } from "./null_blk_params.ts";
import { MachineMap } from "../kernel/machine_map.ts";

/**
 * The part of `node:fs/promises`' FileHandle the driver uses. Structural, so
 * the package's public .d.ts does not require @types/node of its consumers.
 */
export interface HostFile {
  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  write(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesWritten: number }>;
  datasync(): Promise<void>;
  stat(): Promise<{ size: number }>;
  close(): Promise<void>;
}

/** Mirrors `LOOP_MAJOR` (include/uapi/linux/major.h). */
export const LOOP_MAJOR = 7;
const SECTOR_SHIFT = 9;
const EIO = -ERRNO.EIO;
const EROFS = -ERRNO.EROFS;
/** Bytes kmemleak charges a `struct loop_device`. */
const LOOP_DEVICE_SIZE = 1024;

/** Options of {@link fileDiskCreate}. */
export interface FileDiskOptions {
  /** The backing file (must exist). */
  path: string;
  /** Open it read-only (loop's LO_FLAGS_READ_ONLY). Default false. */
  readOnly?: boolean;
  /** The disk name. Default `loop<N>` with the lowest free N. */
  name?: string;
  /** Tags of the hardware queue: the most requests (host operations) in flight. Default 128 (loop's). */
  hwQueueDepth?: number;
}

/** Mirrors `struct loop_device` (drivers/block/loop.h, v4.4), blk-mq. */
export class FileDisk {
  /** `lo_number`. */
  number = 0;
  /** `lo_file_name`. */
  path = "";
  /** `LO_FLAGS_READ_ONLY`. */
  readOnly = false;
  /** `lo_backing_file`. */
  fh: HostFile | null = null;
  q: RequestQueue | null = null;
  disk: Gendisk | null = null;
  tagSet: BlkMqTagSet | null = null;
  /** Requests whose host operation is running now. */
  inFlight = 0;
  /** The largest {@link FileDisk.inFlight} seen. */
  maxInFlight = 0;
  /** Host operations started (reads, writes, fdatasyncs). */
  hostOps = 0;
}

interface FileState {
  disks: FileDisk[];
  /** The disk the module form made. */
  moduleDisk: FileDisk | null;
}

const STATE = new MachineMap<FileState>("file");

function state(k: Kernel): FileState {
  let s = STATE.get(k);
  if (s === undefined) {
    s = { disks: [], moduleDisk: null };
    STATE.set(k, s);
  }
  return s;
}

/** The file disks of a machine, in creation order. */
export function fileDisks(k: Kernel): readonly FileDisk[] {
  return STATE.get(k)?.disks ?? [];
}

/** The KernelError code of a host (Node) error: its `code` when the port knows it, else EIO. */
function hostCode(e: unknown): ErrnoCode {
  const c = (e as { code?: unknown } | null)?.code;
  return typeof c === "string" && c in ERRNO ? c as ErrnoCode : "EIO";
}

/**
 * Runs the host operation `op` while the task sleeps: `externalBegin()`,
 * then a D-state wait on a completion the host callback completes.
 *
 * @throws {KernelError} the host error's code, from `fn`
 */
function* hostCall<T>(k: Kernel, fn: string, op: () => Promise<T>): Sleepable<T> {
  const done = new Completion(k.sched, fn);
  let result: { ok: true; v: T } | { ok: false; e: unknown } | null = null;
  k.sched.externalBegin();
  op().then((v) => { result = { ok: true, v }; }, (e) => { result = { ok: false, e }; }).finally(() => {
    done.complete();
    k.sched.externalEnd();
  });
  yield* done.waitForCompletion();
  const r = result as { ok: true; v: T } | { ok: false; e: unknown } | null;
  if (r === null) throw new KernelError("EIO", fn, "host operation did not settle");
  if (!r.ok) throw new KernelError(hostCode(r.e), fn, (r.e as Error)?.message);
  return r.v;
}

/** One segment of a request: `len` bytes at linear address `addr` for `sector`. */

/**
 * Mirrors `do_req_filebacked()` (v4.4) on the host: an optional fdatasync,
 * then each segment in order; a read copies into linear memory (a fresh
 * view: memory may have grown meanwhile) and zero-fills past EOF.
 *
 * @returns 0 or a negative errno
 */
async function doReqFilebacked(k: Kernel, lo: FileDisk, fh: HostFile, flush: boolean, write: boolean, segs: readonly Segment[]): Promise<number> {
  try {
    if (flush) {
      lo.hostOps++;
      await fh.datasync();
    }
    for (const g of segs) {
      const pos = g.sector * 512;
      lo.hostOps++;
      if (write) {
        const data = new Uint8Array(k.core.memory.buffer, g.addr, g.len).slice();
        let off = 0;
        while (off < data.length) {
          const { bytesWritten } = await fh.write(data, off, data.length - off, pos + off);
          if (bytesWritten <= 0) return EIO;
          off += bytesWritten;
        }
      } else {
        const buf = new Uint8Array(g.len);
        let off = 0;
        while (off < buf.length) {
          const { bytesRead } = await fh.read(buf, off, buf.length - off, pos + off);
          if (bytesRead <= 0) break; // EOF: the rest stays zero (zero_fill_bio)
          off += bytesRead;
        }
        new Uint8Array(k.core.memory.buffer).set(buf, g.addr);
      }
    }
    return 0;
  } catch (e) {
    return -ERRNO[hostCode(e)];
  }
}

/**
 * `queue_rq` of the file disk (`loop_queue_rq()` + the worker): start the
 * request, refuse what cannot be done (beyond the capacity: -EIO; a write
 * to a read-only disk: -EROFS), else start the host I/O and return OK; the
 * host callback completes the request.
 */
function fileQueueRq(hctx: BlkMqHwCtx, bd: BlkMqQueueData): number {
  const q = hctx.queue;
  const k = q.kernel;
  const rq = bd.rq;
  const lo = q.queuedata as FileDisk;
  blkMqStartRequest(k, rq);
  const dv = k.dv;
  const flags = dv.getUint32(rq + RQ.CMD_FLAGS, true);
  const write = (flags & REQ_WRITE) !== 0;
  const flush = (flags & REQ_FLUSH) !== 0;
  const sector = dv.getBigUint64(rq + RQ.SECTOR, true);
  const len = dv.getUint32(rq + RQ.DATA_LEN, true);
  const fh = lo.fh;
  if (fh === null) {
    blkMqEndRequest(k, rq, EIO);
    return BLK_MQ_RQ_QUEUE_OK;
  }
  if (write && len !== 0 && lo.readOnly) {
    blkMqEndRequest(k, rq, EROFS);
    return BLK_MQ_RQ_QUEUE_OK;
  }
  // A zero-length request has no range (the flush request's __sector is (sector_t)-1).
  if (len !== 0 && sector + BigInt(len >>> SECTOR_SHIFT) > (lo.disk?.capacity ?? 0n)) {
    blkMqEndRequest(k, rq, EIO);
    return BLK_MQ_RQ_QUEUE_OK;
  }
  if (len === 0 && !flush) {
    blkMqEndRequest(k, rq, 0);
    return BLK_MQ_RQ_QUEUE_OK;
  }
  const segs = len === 0 ? [] : rqSegments(k, rq);
  const cpu = dv.getInt32(rq + RQ.MQ_CTX, true);
  lo.inFlight++;
  if (lo.inFlight > lo.maxInFlight) lo.maxInFlight = lo.inFlight;
  k.sched.externalBegin();
  void doReqFilebacked(k, lo, fh, flush, write, segs).then((err) => {
    lo.inFlight--;
    try {
      // The host's "interrupt": complete on the submission CPU (blk_mq_complete_request()).
      k.cpus.runIrq(cpu >= 0 ? cpu : 0, "hardirq", (r: number) => blkMqCompleteRequest(k, r, err), rq);
    } finally {
      k.sched.externalEnd();
    }
  });
  return BLK_MQ_RQ_QUEUE_OK;
}

function lowestFreeNumber(s: FileState): number {
  let n = 0;
  while (s.disks.some((d) => d.number === n)) n++;
  return n;
}

/**
 * Mirrors `loop_add()` + `loop_set_fd()` (v4.4), blk-mq: opens the file,
 * sizes the disk from it, makes the tag set, queue and disk, adds it. On
 * failure everything made is undone and the file closed.
 *
 * @throws {TypeError} / {@link RangeError} for bad options
 * @throws {KernelError} the host error's code when the file cannot be opened
 *   (ENOENT for a missing file); EEXIST for a name in use; a disk error
 */
export function* fileDiskCreate(k: Kernel, opts: FileDiskOptions): Sleepable<FileDisk> {
  if (opts === null || typeof opts !== "object") throw new TypeError("fileDiskCreate: opts must be an object");
  if (typeof opts.path !== "string" || opts.path === "") throw new TypeError("fileDiskCreate: opts.path must be a non-empty string");
  if (opts.name !== undefined && (typeof opts.name !== "string" || opts.name === "")) throw new TypeError("fileDiskCreate: opts.name must be a non-empty string");
  const depth = opts.hwQueueDepth ?? 128;
  if (!Number.isSafeInteger(depth) || depth < 1) throw new RangeError(`fileDiskCreate: opts.hwQueueDepth must be a positive integer, got ${String(depth)}`);
  const s = state(k);
  const lo = new FileDisk();
  lo.number = lowestFreeNumber(s);
  lo.path = opts.path;
  lo.readOnly = opts.readOnly === true;
  const name = opts.name ?? `loop${lo.number}`;
  if (k.block.disk(name) !== undefined) throw new KernelError("EEXIST", "loop_add", name);
  let fh: HostFile;
  try {
    fh = yield* hostCall(k, "loop_set_fd", () => fsOpen(opts.path, lo.readOnly ? "r" : "r+"));
  } catch (e) {
    if (!(e instanceof KernelError) || lo.readOnly || (e.code !== "EACCES" && e.code !== "EROFS")) throw e;
    lo.readOnly = true; // losetup: a file that cannot be written is set up read-only
    fh = yield* hostCall(k, "loop_set_fd", () => fsOpen(opts.path, "r"));
  }
  lo.fh = fh;
  k.kmemleak.track(lo, { size: LOOP_DEVICE_SIZE, cache: "kmalloc-1024", site: "loop_add" });
  let q: RequestQueue | null = null;
  try {
    const st = yield* hostCall(k, "get_loop_size", () => fh.stat());
    lo.tagSet = blkMqAllocTagSet(k.block, {
      ops: { queueRq: fileQueueRq, mapQueue: blkMqMapQueue },
      nrHwQueues: 1,
      queueDepth: depth,
      numaNode: -1,
      cmdSize: 0,
      flags: BLK_MQ_F_SHOULD_MERGE,
      driverData: lo,
    });
    q = yield* blkMqInitQueue(lo.tagSet, lo);
    q.queuedata = lo;
    lo.q = q;
    q.clearFlag(QUEUE_FLAG_ADD_RANDOM);
    // loop_set_fd(): a writable backing file can be fsync()ed; no FUA (emulated by a POSTFLUSH).
    if (!lo.readOnly) blkQueueFlush(q, REQ_FLUSH);
    lo.disk = yield* addDriverDisk(q, {
      minors: 0,
      major: LOOP_MAJOR,
      firstMinor: lo.number,
      name,
      capacity: BigInt(Math.floor(st.size / 512)),
      privateData: lo,
    });
  } catch (e) {
    if (q !== null) yield* blkCleanupQueue(q);
    if (lo.tagSet !== null) blkMqFreeTagSet(lo.tagSet);
    k.kmemleak.untrack(lo, "kfree");
    lo.fh = null;
    try {
      yield* hostCall(k, "fput", () => fh.close());
    } catch { /* the first error wins */ }
    throw e;
  }
  s.disks.push(lo);
  k.log.printk("info", `loop: ${name} backed by ${lo.path}${lo.readOnly ? " (read-only)" : ""}`);
  return lo;
}

/**
 * Mirrors `loop_clr_fd()` + `loop_remove()` (v4.4): deletes the disk (its
 * in-flight requests drain first), cleans up the queue and tag set, closes
 * the file.
 *
 * @throws {KernelError} ENXIO when `lo` is not a live file disk of `k`; the host error of the close
 */
export function* fileDiskRemove(k: Kernel, lo: FileDisk): Sleepable {
  const s = STATE.get(k);
  const i = s === undefined ? -1 : s.disks.indexOf(lo);
  if (i < 0) throw new KernelError("ENXIO", "loop_remove", "not a file disk of this machine");
  s!.disks.splice(i, 1);
  if (s!.moduleDisk === lo) s!.moduleDisk = null;
  yield* delGendisk(lo.disk!);
  yield* blkCleanupQueue(lo.q!);
  blkMqFreeTagSet(lo.tagSet!);
  putDisk(lo.disk);
  k.kmemleak.untrack(lo, "kfree");
  const fh = lo.fh;
  lo.fh = null;
  if (fh !== null) yield* hostCall(k, "fput", () => fh.close());
}

/** The parameters of the `file` module. */
export interface FileParams {
  /** `path=`: the backing file. Required. */
  path: string;
  /** `ro=`: 1 for read-only. Default 0. */
  ro: number;
  /** Tags of the hardware queue. Default 128. */
  hw_queue_depth: number;
}

/**
 * `parse_args("file", ...)`: `path` as a string, `ro` and `hw_queue_depth`
 * through `kstrtoint()`; unknown names ignored with a warning.
 *
 * @throws {KernelError} EINVAL for a missing path or a bad value (logged)
 */
export function parseFileParams(k: Kernel, params: Record<string, string>): FileParams {
  if (params === null || typeof params !== "object") throw new TypeError("file: params must be an object");
  const p: FileParams = { path: "", ro: 0, hw_queue_depth: 128 };
  for (const [rawName, val] of Object.entries(params)) {
    if (typeof val !== "string") throw new TypeError(`file: the value of ${rawName} must be a string`);
    const name = rawName.replaceAll("-", "_");
    if (name === "path") {
      p.path = val;
      continue;
    }
    if (name !== "ro" && name !== "hw_queue_depth") {
      k.log.printk("warning", `file: unknown parameter '${rawName}' ignored`);
      continue;
    }
    try {
      if (val === "") throw new KernelError("EINVAL", "param_set_int");
      p[name] = kstrtoint(val, 0);
    } catch (e) {
      if (!(e instanceof KernelError)) throw e;
      k.log.printk("err", `file: \`${val}' invalid for parameter \`${rawName}'`);
      throw new KernelError(e.code, "parse_args", `${rawName}=${val}`);
    }
  }
  if (p.path === "") throw new KernelError("EINVAL", "loop_init", "path= is required");
  if (p.hw_queue_depth < 1) throw new KernelError("EINVAL", "loop_init", `hw_queue_depth ${p.hw_queue_depth}`);
  return p;
}

function* fileInit(k: Kernel, params: Record<string, string>): Sleepable {
  if (STATE.get(k)?.moduleDisk) throw new KernelError("EEXIST", "load_module", "file is already loaded");
  const p = parseFileParams(k, params);
  const lo = yield* fileDiskCreate(k, { path: p.path, readOnly: p.ro !== 0, hwQueueDepth: p.hw_queue_depth });
  state(k).moduleDisk = lo;
}

function* fileExit(k: Kernel): Sleepable {
  const lo = STATE.get(k)?.moduleDisk;
  if (!lo) throw new KernelError("ENOENT", "delete_module", "file is not loaded");
  yield* fileDiskRemove(k, lo);
}

/**
 * The file module (a blk-mq loop device on one host file): `modprobe file
 * path=/tmp/img [ro=1] [hw_queue_depth=N]` makes loopN. Needs an async
 * scheduler run (`sched.runAsync()`), as the shell does.
 *
 * @example
 * const k = new Kernel({ clock: "real" });
 * k.sched.spawn("modprobe", function* () { yield* fileModule.init(k, { path: "/tmp/disk.img" }); });
 * await k.sched.runAsync();
 */
export const fileModule: KernelModule = {
  name: "file",
  init: fileInit,
  exit: fileExit,
};
