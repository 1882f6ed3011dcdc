// SPDX-License-Identifier: GPL-2.0-only
/**
 * Test helpers for ts/block/ and ts/drivers/: a machine, tasks that return
 * values, a module load, a driver's ops that count their callbacks, and one-call builders
 * for a tag set, a queue and a disk. Private to tests.
 *
 * @module
 */

import { KernelError } from "../errors.ts";
import { Kernel, type KernelOptions } from "../kernel/kernel.ts";
import { GFP_NOIO } from "../kernel/mempool.ts";
import type { Sleepable } from "../kernel/sched.ts";
import type { KernelModule } from "../drivers/module.ts";
import { bioAddPage, bioAlloc, bioSetDev, bioSetField, fsBioSet, REQ_WRITE } from "./bio.ts";
import { submitBio } from "./blk_mq_request.ts";
import { blkFinishPlug, blkStartPlug } from "./blk_plug.ts";
import { RQ } from "./request_record.ts";
import { blkMqInitQueue } from "./blk_mq.ts";
import { addDisk, allocDisk, delGendisk, type Gendisk, putDisk } from "./genhd.ts";
import { blkCleanupQueue, type RequestQueue } from "./request_queue.ts";
import {
  blkMqAllocTagSet,
  blkMqFreeTagSet,
  blkMqMapQueue,
  type BlkMqOps,
  BLK_MQ_RQ_QUEUE_OK,
  type BlkMqTagSet,
  type BlkMqTagSetOptions,
} from "./tag_set.ts";

/** A machine with small defaults (4 CPUs, 1 ms grace periods). */
export function boot(opts: KernelOptions = {}): Kernel {
  return new Kernel({ cpus: 4, ...opts });
}

/** `modprobe m params`: the module's init as a task, run until the machine is idle. */
export function modprobe(k: Kernel, m: KernelModule, params: Record<string, string>): void {
  inTask(k, () => m.init(k, params), "modprobe");
}

/** Runs `body` as a task until the machine is idle; returns its value or throws its error. */
export function inTask<T>(k: Kernel, body: () => Generator<unknown, T>, comm = "test"): T {
  let out: { ok: true; v: T } | { ok: false; e: unknown } | undefined;
  k.sched.spawn(comm, function* () {
    try {
      out = { ok: true, v: yield* body() as Sleepable<T> };
    } catch (e) {
      out = { ok: false, e };
    }
  });
  const r = k.run();
  if (r.kind !== "done") throw new Error(`inTask: the run ended "${r.kind}"\n${k.log.text()}`);
  if (out === undefined) throw new Error("inTask: the task did not finish");
  if (!out.ok) throw out.e;
  return out.v;
}

/** The KernelError code `fn` throws, or "ok". */
export function codeOf(fn: () => unknown): string {
  try {
    fn();
    return "ok";
  } catch (e) {
    if (e instanceof KernelError) return e.code;
    throw e;
  }
}

/** Driver ops whose callbacks count their calls (`calls`) and can be told to fail. */
export function countingOps(fail: { initHctx?: number; initRequest?: number } = {}) {
  const calls = { initHctx: 0, exitHctx: 0, initRequest: 0, exitRequest: 0, flushInit: [] as number[] };
  const live = new Set<number>();
  const ops: BlkMqOps = {
    queueRq: () => BLK_MQ_RQ_QUEUE_OK,
    mapQueue: blkMqMapQueue,
    initHctx: (_h, _d, idx) => {
      calls.initHctx++;
      return fail.initHctx === idx ? -12 : 0;
    },
    exitHctx: () => {
      calls.exitHctx++;
    },
    initRequest: (_d, rq) => {
      calls.initRequest++;
      if (fail.initRequest !== undefined && calls.initRequest === fail.initRequest) return -12;
      live.add(rq);
      return 0;
    },
    exitRequest: (_d, rq) => {
      calls.exitRequest++;
      live.delete(rq);
    },
  };
  return { ops, calls, live };
}

/** blk_mq_alloc_tag_set() with counting ops and the given fields. */
export function makeSet(k: Kernel, o: Partial<BlkMqTagSetOptions> = {}): BlkMqTagSet {
  return blkMqAllocTagSet(k.block, { ops: countingOps().ops, nrHwQueues: 2, queueDepth: 64, ...o });
}

/** A registered disk `name` on a new queue of `set`. */
export function* makeDisk(set: BlkMqTagSet, name: string): Sleepable<Gendisk> {
  const q = yield* blkMqInitQueue(set);
  const disk = allocDisk(set.block, 1);
  disk.diskName = name;
  disk.major = 252;
  disk.firstMinor = set.block.diskNames().length;
  disk.queue = q;
  yield* addDisk(disk);
  return disk;
}

/** The null_blk teardown order: del_gendisk, blk_cleanup_queue, (tag set), put_disk. */
export function* dropDisk(disk: Gendisk, set?: BlkMqTagSet): Sleepable {
  const q = disk.queue as RequestQueue;
  yield* delGendisk(disk);
  yield* blkCleanupQueue(q);
  if (set !== undefined) blkMqFreeTagSet(set);
  putDisk(disk);
}

/** Reads a sysfs file from a task. */
export function readSysfs(k: Kernel, path: string): string {
  return inTask(k, () => k.sysfs.read(path), "cat");
}

/** Every readable file under `dir`, by path (a show that fails is recorded by its error). */
export function sysfsTree(k: Kernel, dir: string, out: Record<string, string> = {}): Record<string, string> {
  for (const name of k.sysfs.ls(dir)) {
    const path = `${dir}/${name}`;
    const st = k.sysfs.stat(path);
    if (st.kind === "dir") sysfsTree(k, path, out);
    else if ((st.mode & 0o444) !== 0) {
      try {
        out[path] = readSysfs(k, path);
      } catch (e) {
        out[path] = `error: ${(e as Error).message}`;
      }
    }
  }
  return out;
}

/** Writes a sysfs file from a task; returns the count or the error code. */
export function writeSysfs(k: Kernel, path: string, value: string): number | string {
  try {
    return inTask(k, () => k.sysfs.write(path, value), "echo");
  } catch (e) {
    if (e instanceof KernelError) return e.code;
    throw e;
  }
}

/**
 * One 4 KiB write bio per sector ({@link makeBio}: a driver that moves no
 * data, like null_blk, never reads its page) with end_io `endIo`, all
 * allocated and then submitted in order from one task bound to CPU 0,
 * under a plug when `plugged`; the machine runs until it is done.
 *
 * @returns the bios, in submission order
 * @throws {Error} when the run does not end "done"
 */
export function submitWrites(k: Kernel, q: RequestQueue, sectors: readonly number[], endIo: number, plugged = false): number[] {
  const bios: number[] = [];
  k.sched.spawn("writer", function* () {
    for (const s of sectors) bios.push(yield* makeBio(k, q, s, REQ_WRITE, endIo));
    const task = k.sched.current;
    if (plugged) blkStartPlug(k, task);
    for (const b of bios) yield* submitBio(k, b);
    if (plugged) blkFinishPlug(task);
  }, { cpu: 0, bound: true });
  const r = k.run();
  if (r.kind !== "done") throw new Error(`submitWrites: the run ended "${r.kind}"\n${k.log.text()}`);
  return bios;
}

/**
 * {@link submitWrites} while `q`'s `queue_rq` is wrapped to record the
 * size of each request it is handed (`rq->__data_len`), in order.
 *
 * @returns those sizes
 */
export function writeSizes(k: Kernel, q: RequestQueue, sectors: readonly number[], endIo: number, plugged = false): number[] {
  const sizes: number[] = [];
  const ops = q.mqOps!;
  const orig = ops.queueRq;
  ops.queueRq = (hctx, bd) => {
    sizes.push(k.dv.getUint32(bd.rq + RQ.DATA_LEN, true));
    return orig(hctx, bd);
  };
  try {
    submitWrites(k, q, sectors, endIo, plugged);
  } finally {
    ops.queueRq = orig;
  }
  return sizes;
}

/** The page address the request-path tests give their bios (null_blk moves no data). */
export const TEST_PAGE = 0x100000;

/** A 4 KiB bio (one page, {@link TEST_PAGE}) at `sector` for `q`, flags `rw`, with end_io `endIo`. */
export function* makeBio(k: Kernel, q: RequestQueue, sector: number, rw: number, endIo: number): Sleepable<number> {
  const bio = yield* bioAlloc(fsBioSet(k), GFP_NOIO, 1);
  if (bioAddPage(k, bio, TEST_PAGE, 4096, 0) !== 4096) throw new Error("makeBio: bio_add_page refused the page");
  bioSetField(k, bio, "bi_sector", sector);
  bioSetField(k, bio, "bi_rw", rw);
  bioSetField(k, bio, "bi_end_io", endIo);
  bioSetDev(k, bio, q.id);
  return bio;
}
