// SPDX-License-Identifier: GPL-2.0-only
/**
 * Ops over the I/O path (ts/block/bio.ts, blk_mq_request.ts, blk_plug.ts,
 * blk_poll.ts, dio.ts) on the disks a loaded driver registered (nullbN from
 * `modprobe null_blk`, ramN from `modprobe ram`, whose lines are here and run
 * through the shell of fuzz/prog/ops/shell.ts, so a profile with these ops
 * needs a shell op too): bios built over fresh pages and handed to
 * `submitBio()`, optionally through a direct-I/O context (persistent or
 * not), per-task plugs, `blk_poll()` on a submission's cookie, and the
 * batch API (ts/block/aio.ts: `io_setup()`, `io_submit()` of several
 * iocbs under one plug, `io_getevents()`, `io_destroy()`).
 * Completions come from the driver (`irqmode`): at once, by softirq, or from
 * a timer `completion_nsec` later (`advance` lets it fire). Resources:
 * `ck` (a submission's cookie), `pl` (a plug the task holds), `dio` (a DIO
 * context, container), `aio` (an aio context, container).
 *
 * The callers' side of the contracts: a bio is built completely before it
 * is submitted, pages are freed when it ends; a plug is finished by the
 * task that started it (or at its end); a dio has at most one waiter.
 *
 * Checks (area "io", reported by the invariant detector): every submitted
 * bio ends exactly once ("bio ended twice" at the second end_io, "bio never
 * ended" after teardown, "bio never ended (submit_bio failed)" when
 * `submitBio()` throws after taking one), part0's in_flight counts never go
 * negative, the disks' queues keep q_usage_counter (a percpu_ref) balanced,
 * and, once every task has ended, their whole blk-mq state holds; every aio
 * iocb ends ("aio iocb never ended") with its byte count or a negative errno
 * ("aio result out of range").
 *
 * @module
 */

import { KernelError } from "../../../ts/errors.ts";
import type { Kernel } from "../../../ts/kernel/kernel.ts";
import { GFP_NOIO } from "../../../ts/kernel/mempool.ts";
import { sleep, type Sleepable, type Task } from "../../../ts/kernel/sched.ts";
import { PAGE_SIZE } from "../../../ts/kernel/slab.ts";
import {
  bioAddPage,
  bioAlloc,
  bioExit,
  bioField,
  bioIoError,
  bioPut,
  bioSetDev,
  bioSetField,
  fsBioSet,
  registerBioEndIo,
  REQ_DISCARD,
  REQ_FLUSH,
  REQ_FUA,
  REQ_NOIDLE,
  REQ_NOMERGE,
  REQ_QUIET,
  REQ_SYNC,
  REQ_WRITE,
} from "../../../ts/block/bio.ts";
import { getOrder } from "../../../ts/block/_mem.ts";
import { BLK_QC_T_NONE, submitBio } from "../../../ts/block/blk_mq_request.ts";
import { BlkPlug, blkFinishPlug, blkStartPlug } from "../../../ts/block/blk_plug.ts";
import { blkPoll } from "../../../ts/block/blk_poll.ts";
import { type AioContext, IOCB_CMD_PREAD, IOCB_CMD_PWRITE, ioSetup } from "../../../ts/block/aio.ts";
import {
  type Dio,
  dioAlloc,
  dioAwaitCompletion,
  dioBioAlloc,
  dioBioEndIo,
  dioBioSubmit,
  dioFree,
  dioPrepare,
  dioRw,
  dioRwTry,
  DIO_WOULD_SLEEP,
} from "../../../ts/block/dio.ts";
import { blkMqQueueInvariantViolations } from "../../../ts/block/blk_mq.ts";
import type { RequestQueue } from "../../../ts/block/request_queue.ts";
import { type ExecCtx, registerArea, registerOp, registerResource, type Violation } from "../registry.ts";
import type { ArgValue } from "../types.ts";
import { formatCommand } from "../../../ts/shell/parse.ts";
import { runLine, shellIfAny } from "./shell.ts";

const AREA = "io";
const SECTOR_SHIFT = 9;
const PAGE_SECTORS = PAGE_SIZE >> SECTOR_SHIFT;
/** How long the teardown waits for completions still due (timers) before judging. */
const DRAIN_NS = 1e9;
const DRAIN_STEP_NS = 1e6;

/** The disks a bio may name: null_blk's first four and the ram module's first two. */
export const IO_DISKS = ["nullb0", "nullb1", "nullb2", "nullb3", "ram0", "ram1"] as const;
/** The RAM disk module's name. */
const RAM = "ram";
/** The ram module's parameters as `modprobe ram` takes them, in text order. */
const RAM_PARAMS = ["rd_nr", "rd_size", "hw_queue_depth", "submit_queues"] as const;
/** The request kinds of `bio_submit(op=...)` and their bi_rw bits. */
const IO_KINDS: Readonly<Record<string, number>> = {
  read: 0,
  write: REQ_WRITE,
  flush: REQ_WRITE | REQ_SYNC | REQ_NOIDLE | REQ_FLUSH,
  fua: REQ_WRITE | REQ_SYNC | REQ_FUA,
  discard: REQ_WRITE | REQ_DISCARD,
};
/** `bio_submit` flags and their bi_rw bits, in argument order. */
const IO_FLAGS: readonly [string, number][] = [
  ["sync", REQ_SYNC],
  ["nomerge", REQ_NOMERGE],
  ["noidle", REQ_NOIDLE],
  ["quiet", REQ_QUIET],
];

/** One submitted bio, from submission to its end_io. */
interface BioRec {
  readonly bio: number;
  readonly disk: string;
  /** Program call that submitted it. */
  readonly call: string;
  readonly pages: number[];
  readonly dio: Dio | null;
  ends: number;
}

/** The run's I/O state. */
interface IoState {
  readonly kernel: Kernel;
  /** Submitted and not yet ended, by bio address. */
  readonly inflight: Map<number, BioRec>;
  /** The bi_end_io id of {@link IoState.endIo}, registered on first use. */
  endIoId: number;
  readonly endIo: (bio: number, k: Kernel) => void;
  /** A violation seen outside a call (in end_io), reported by the next check. */
  pending: Violation | null;
  /** Bios submitted in this run. */
  submitted: number;
  /** The run's aio contexts not yet destroyed, with the bytes each slot asked for. */
  readonly aios: Map<AioContext, Int32Array>;
}

interface CookieRes {
  readonly disk: string;
  readonly q: RequestQueue;
  readonly cookie: number;
}
interface PlugRes {
  readonly task: Task;
}
interface DioRes {
  readonly dio: Dio;
  /** A task sleeps in dio_await_completion() on it. */
  waiting: boolean;
}

function describe(k: Kernel, r: BioRec): string {
  return `bio ${r.bio} (${r.call}): bi_rw ${bioField(k, r.bio, "bi_rw").toString(16)} sector ${bioField(k, r.bio, "bi_sector")}`;
}

function newState(k: Kernel): IoState {
  const st: IoState = {
    kernel: k,
    inflight: new Map(),
    endIoId: 0,
    pending: null,
    submitted: 0,
    aios: new Map(),
    endIo(bio, kk) {
      const r = st.inflight.get(bio);
      if (r === undefined) {
        st.pending ??= {
          title: "bio ended twice",
          report: `bio_endio() ran the end_io of bio ${bio}, which had already ended (or was never submitted)\n`,
        };
        return;
      }
      st.inflight.delete(bio);
      r.ends++;
      for (const p of r.pages) kk.slab.freePages(p, 0);
      r.pages.length = 0;
      if (r.dio !== null) dioBioEndIo(bio, kk);
      else bioPut(kk, bio);
    },
  };
  return st;
}

function ioState(x: ExecCtx): IoState {
  return x.state<IoState>(AREA);
}

/** The bi_end_io id of the run's tracking end_io, registered on first use. */
function endIoId(st: IoState): number {
  if (st.endIoId === 0) st.endIoId = registerBioEndIo(st.kernel, "fuzz_bio_end_io", st.endIo);
  return st.endIoId;
}

/** Starts tracking a bio as submitted (its end_io must be the tracking one). */
function track(st: IoState, rec: BioRec): void {
  st.inflight.set(rec.bio, rec);
  st.submitted++;
}

/**
 * For detector tests: sets the tracking end_io on `bio` and records it as
 * submitted, as `bio_submit` does just before `submit_bio()`.
 * @internal
 */
export function trackSubmittedBio(x: ExecCtx, bio: number, call: string): void {
  const st = ioState(x);
  bioSetField(x.kernel, bio, "bi_end_io", endIoId(st));
  track(st, { bio, disk: "", call, pages: [], dio: null, ends: 0 });
}

registerArea({
  name: AREA,
  boot: (kernel) => newState(kernel),
  *taskExit(x) {
    // blk_finish_plug() of every plug the task still holds (do_exit() flushes it too).
    while (x.task.plug instanceof BlkPlug) blkFinishPlug(x.task);
  },
  *teardown(x) {
    const st = ioState(x);
    const k = x.kernel;
    yield* drainWhile(() => st.inflight.size > 0);
    yield* drainWhile(() => [...st.aios.keys()].some((c) => c.inFlight > 0));
    if (st.pending !== null) x.violate(st.pending);
    for (const c of [...st.aios.keys()]) {
      if (c.inFlight > 0) {
        x.violate({ title: "aio iocb never ended", report: `${c.inFlight} iocbs of the aio context on ${c.name} never ended\n` });
        continue;
      }
      destroyAio(st, c);
    }
    const out = [...st.inflight.values()];
    if (out.length > 0) {
      x.violate({
        title: "bio never ended",
        report: `${out.length} of ${st.submitted} submitted bios never ended, after every task and driver went:\n` +
          out.map((r) => `  ${describe(k, r)}\n`).join(""),
      });
    }
    // Unloading ram waits for its queues: not while a bio of a ram disk is still out.
    // Module code is task code typed loosely (Generator<unknown>); it yields what tasks yield.
    const sh = shellIfAny(x);
    const aioOut = [...st.aios.keys()].some((c) => c.name.startsWith("ram"));
    if (sh !== null && sh.modules.loaded(RAM) && !aioOut && !out.some((r) => r.disk.startsWith("ram"))) yield* (sh.modules.unload(RAM) as Sleepable);
    if (out.length > 0 || st.aios.size > 0) return;
    // fs_bio_set and the biovec slabs came with this run's first bio.
    try {
      bioExit(k);
    } catch (e) {
      if (!(e instanceof KernelError || e instanceof TypeError)) throw e;
    }
  },
  invariants(x, full) {
    const st = ioState(x);
    if (st.pending !== null) return st.pending;
    const k = x.kernel;
    for (const name of k.block.diskNames()) {
      const d = k.block.disk(name)!;
      const inf = d.part0.inFlight;
      if (inf[0] < 0 || inf[1] < 0) {
        return { title: "part0 in_flight negative", report: `${name}: in_flight read ${inf[0]} write ${inf[1]}\n` };
      }
      const q = d.queue;
      if (q === null) continue;
      const v = q.qUsageCounter.invariantViolations();
      if (v.length > 0) return { title: "q_usage_counter imbalance", report: `${name}: ${v.join("\n")}\n` };
      // Once every task has ended: the whole blk-mq queue (hctx maps, request maps, freeze depth).
      const all = full && q.mqOps !== null ? blkMqQueueInvariantViolations(q) : [];
      // Titled by the first violation as the queue ops' check does (fuzz/prog/ops/queue.ts).
      if (all.length > 0) return { title: `blk-mq queue state: ${all[0].replace(/\d+/g, "N")}`, report: `${name}: ${all.join("\n")}\n` };
    }
    return null;
  },
});

registerResource({
  kind: "cookie",
  prefix: "ck",
  *release() {},
});
registerResource({
  kind: "plug",
  prefix: "pl",
  // The plug belongs to its task, which finishes it when its calls end.
  *release() {},
});
registerResource({
  kind: "aio",
  prefix: "aio",
  final: true,
  *release(x, v) {
    // io_destroy() once its iocbs ended; one that never ends is the teardown's finding.
    const c = v as AioContext;
    const st = ioState(x);
    yield* drainWhile(() => c.inFlight > 0);
    if (c.inFlight > 0 || !st.aios.has(c)) return;
    destroyAio(st, c);
  },
});

registerResource({
  kind: "dio",
  prefix: "dio",
  final: true,
  *release(x, v) {
    const r = v as DioRes;
    // Wait as the io teardown does; a bio that does not end is its finding, not a hang here.
    const st = ioState(x);
    const out = () => [...st.inflight.values()].some((b) => b.dio === r.dio);
    yield* drainWhile(out);
    if (out()) return;
    yield* dioAwaitCompletion(r.dio);
    dioFree(r.dio);
  },
});

/**
 * Sleeps in DRAIN_STEP_NS steps while `busy()`, DRAIN_NS at the most:
 * completions already due (an hrtimer `completion_nsec` away) may still come.
 */
function* drainWhile(busy: () => boolean): Sleepable {
  for (let waited = 0; busy() && waited < DRAIN_NS; waited += DRAIN_STEP_NS) yield sleep(DRAIN_STEP_NS);
}

/**
 * io_destroy() of a context of the run, its ended iocbs reaped (and their
 * results checked) first.
 * @throws {KernelError} EBUSY while iocbs are in flight (io_destroy() would wait; the context stays the run's, for the teardown)
 */
function destroyAio(st: IoState, c: AioContext): void {
  if (c.inFlight === 0) reapAio(st, c);
  c.destroy();
  st.aios.delete(c);
}

/** The blk-mq queue of a registered disk. @throws {KernelError} ENXIO when there is none */
function diskQueue(k: Kernel, name: string): RequestQueue {
  const q = k.block.disk(name)?.queue ?? null;
  if (q === null) throw new KernelError("ENXIO", "blkdev_get", name);
  return q;
}

/** Pages for `sectors` sectors, added to the bio. */
function addPages(k: Kernel, bio: number, pages: number[], sectors: number): void {
  for (let left = sectors << SECTOR_SHIFT; left > 0; left -= PAGE_SIZE) {
    const page = k.slab.allocPages(0);
    pages.push(page);
    const len = Math.min(PAGE_SIZE, left);
    if (bioAddPage(k, bio, page, len, 0) !== len) k.log.bug("fuzz/io:bio_submit", "bio_add_page refused a page");
  }
}

/**
 * Builds and submits one bio. Until the block layer holds it (the submit
 * started) a failure puts the bio and frees its pages; a bio whose disk went
 * away meanwhile ends with -EIO, as `generic_make_request_checks()` ends it.
 */
function* submitOne(
  x: ExecCtx,
  dioRes: DioRes | null,
  disk: string,
  kind: string,
  sector: number,
  sectors: number,
  flags: number,
): Sleepable<CookieRes> {
  const k = x.kernel;
  const st = ioState(x);
  const q = diskQueue(k, disk);
  const dio = dioRes?.dio ?? null;
  dio?.checkLive("bio_submit");
  const rw = (IO_KINDS[kind] | flags) >>> 0;
  const n = kind === "flush" ? 0 : sectors;
  const nrVecs = Math.ceil(n / PAGE_SECTORS);
  const bio = dio !== null ? yield* dioBioAlloc(dio, q, sector, nrVecs) : yield* bioAlloc(fsBioSet(k), GFP_NOIO, nrVecs);
  if (bio === 0) throw new KernelError("ENOMEM", "bio_alloc");
  const pages: number[] = [];
  const rec: BioRec = { bio, disk, call: `${kind} of ${n} sectors at ${sector} on ${disk}`, pages, dio, ends: 0 };
  let handed = false;
  let cookie = BLK_QC_T_NONE;
  try {
    addPages(k, bio, pages, n);
    bioSetField(k, bio, "bi_sector", sector);
    bioSetField(k, bio, "bi_rw", rw);
    bioSetDev(k, bio, q.id);
    bioSetField(k, bio, "bi_end_io", endIoId(st));
    const submit = function* (b: number): Sleepable<number> {
      handed = true;
      track(st, rec);
      try {
        cookie = yield* submitBio(k, b);
      } catch (e) {
        // No blk-mq queue under bi_bdev any more: generic_make_request_checks() → bio_io_error().
        if (e instanceof KernelError && e.code === "ENODEV") bioIoError(k, b);
        else {
          // submit_bio() returns void: a bio it took must end, and this one never would. Report it,
          // then end it with -EIO in its stead, so the run goes on without its secondary effects
          // (a dio waiting for ever, the bio and its bioset leaked).
          if (st.inflight.get(b) === rec) {
            x.violate({
              title: "bio never ended (submit_bio failed)",
              report: `submit_bio() of ${describe(k, rec)} threw without ending it: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}\n`,
            });
            bioIoError(k, b);
          }
          throw e;
        }
      }
      return cookie;
    };
    if (dio !== null) yield* dioBioSubmit(dio, bio, submit);
    else yield* submit(bio);
  } catch (e) {
    if (!handed) {
      for (const p of pages) k.slab.freePages(p, 0);
      bioPut(k, bio);
    }
    throw e;
  }
  return { disk, q, cookie };
}

registerOp({
  name: "bio_submit",
  area: AREA,
  doc: "a bio (read/write/flush/fua/discard, sector, length, REQ_ flags) to a disk, optionally through a dio: submit_bio()",
  args: [
    { kind: "res", name: "dio", res: "dio", optional: true },
    { kind: "enum", name: "disk", values: IO_DISKS },
    { kind: "enum", name: "op", values: Object.keys(IO_KINDS) },
    { kind: "int", name: "sector", min: 0, max: 1 << 24, special: [0, 1, 8, 64, 1024] },
    { kind: "int", name: "sectors", min: 0, max: 128, special: [8, 1, 0, 16, 64, 128] },
    ...IO_FLAGS.map(([name]) => ({ kind: "flag", name }) as const),
  ],
  produces: "cookie",
  *exec(x, [d, disk, kind, sector, sectors, ...flags]) {
    const dioRes = d as DioRes | null;
    let rw = 0;
    IO_FLAGS.forEach(([, bit], i) => {
      if (flags[i] === true) rw |= bit;
    });
    return yield* submitOne(x, dioRes, disk as string, kind as string, sector as number, sectors as number, rw);
  },
});

registerOp({
  name: "blk_poll",
  area: AREA,
  doc: "blk_poll() on the cookie of an earlier submission (io_poll is a queue sysfs file)",
  args: [{ kind: "res", name: "cookie", res: "cookie" }],
  *exec(x, [v]) {
    const c = v as CookieRes;
    if (x.kernel.block.disk(c.disk)?.queue !== c.q) throw new RangeError(`blk_poll: ${c.disk} has another queue now`);
    yield* blkPoll(c.q, c.cookie);
  },
});

registerOp({
  name: "block_core_path",
  area: AREA,
  doc: "turns the request path in the core on or off (BlockLayer#coreMakeRequest), so one program runs both paths",
  args: [{ kind: "flag", name: "on" }],
  *exec(x, [on]) {
    x.kernel.block.coreMakeRequest = on === true;
  },
});

registerOp({
  name: "blk_start_plug",
  area: AREA,
  doc: "blk_start_plug() in the task (nested plugs add to the outer one)",
  args: [],
  produces: "plug",
  *exec(x) {
    blkStartPlug(x.kernel, x.task);
    return { task: x.task } satisfies PlugRes;
  },
});

registerOp({
  name: "blk_finish_plug",
  area: AREA,
  doc: "blk_finish_plug() of a plug the same task started: the outermost one flushes",
  args: [{ kind: "res", name: "plug", res: "plug", consume: true }],
  *exec(x, [v]) {
    const p = v as PlugRes;
    if (p.task !== x.task) throw new RangeError("blk_finish_plug: the plug is another task's");
    if (!(x.task.plug instanceof BlkPlug)) return; // finished at a task exit already
    blkFinishPlug(x.task);
  },
});

registerOp({
  name: "dio_alloc",
  area: AREA,
  doc: "a DIO context (persistent: DIO_PERSISTENT_DIO, keeps one bio cached across I/Os; hipri: an IOCB_HIPRI iocb's, which polls its last bio's queue before it sleeps)",
  args: [{ kind: "flag", name: "persistent" }, { kind: "flag", name: "hipri" }],
  produces: "dio",
  *exec(x, [persistent, hipri]) {
    return { dio: dioAlloc(x.kernel, { persistent: persistent as boolean, hipri: hipri as boolean }), waiting: false } satisfies DioRes;
  },
});

registerOp({
  name: "dio_rw",
  area: AREA,
  doc: "a synchronous direct read or write of one buffer through a dio: dioRwTry() (the core's do_blockdev_direct_IO()), then dioRw() when it would sleep",
  args: [
    { kind: "res", name: "dio", res: "dio" },
    { kind: "enum", name: "disk", values: IO_DISKS },
    { kind: "flag", name: "write" },
    { kind: "int", name: "sector", min: 0, max: 1 << 24, special: [0, 8, 64, 1024] },
    { kind: "int", name: "sectors", min: 1, max: 64, special: [8, 1, 16, 40, 64] },
  ],
  *exec(x, [v, disk, write, sector, sectors]) {
    const r = v as DioRes;
    const k = x.kernel;
    const q = diskQueue(k, disk as string);
    const n = (sectors as number) * 512;
    const order = getOrder(n);
    if (r.waiting) throw new RangeError("dio_rw: another task waits on the dio");
    const buf = k.slab.allocPages(order);
    r.waiting = true;
    try {
      let res = dioRwTry(r.dio, q, write === true, sector as number, buf, n);
      if (res === DIO_WOULD_SLEEP) res = yield* dioRw(r.dio, q, write === true, sector as number, buf, n);
      if (res !== n && res !== -5) {
        x.violate({ title: "direct I/O result out of range", report: `dio_rw of ${n} bytes at ${sector} on ${disk} returned ${res}\n` });
      }
    } finally {
      r.waiting = false;
      if (r.dio.refcount === 1) k.slab.freePages(buf, order); // else a bio still points at it: leaked, not freed under it
    }
  },
});

/** dio_await_completion() by the dio's one waiter. */
function* awaitDio(r: DioRes): Sleepable<void> {
  if (r.waiting) throw new RangeError("dio_await_completion: another task waits on the dio");
  r.waiting = true;
  try {
    yield* dioAwaitCompletion(r.dio);
  } finally {
    r.waiting = false;
  }
}

registerOp({
  name: "dio_wait",
  area: AREA,
  doc: "dio_await_completion(): reaps every bio of the dio (a persistent one caches one), then readies it for the next I/O",
  args: [{ kind: "res", name: "dio", res: "dio" }],
  *exec(_x, [v]) {
    const r = v as DioRes;
    yield* awaitDio(r);
    dioPrepare(r.dio);
  },
});

registerOp({
  name: "dio_free",
  area: AREA,
  doc: "waits for the dio's bios, then dio_free() (puts the cached bio)",
  args: [{ kind: "res", name: "dio", res: "dio", consume: true }],
  *exec(_x, [v]) {
    const r = v as DioRes;
    yield* awaitDio(r);
    dioFree(r.dio);
  },
});

/**
 * io_getevents() of every ended iocb of `c`, each result checked: the bytes
 * its slot asked for, or a negative errno.
 */
function reapAio(st: IoState, c: AioContext): number {
  const asked = st.aios.get(c)!;
  const out = new Int32Array(c.nrEvents);
  const n = c.getEvents(out);
  for (let i = 0; i < n; i++) {
    const slot = out[i];
    const res = c.res[slot];
    if (res !== asked[slot] && !(res < 0 && res >= -4095)) {
      st.pending ??= {
        title: "aio result out of range",
        report: `iocb slot ${slot} on ${c.name} asked for ${asked[slot]} bytes and ended with ${res}\n`,
      };
    }
  }
  return n;
}

registerOp({
  name: "aio_setup",
  area: AREA,
  doc: "io_setup() on a disk: an aio context of nr_events iocb slots with buffers of buffer_kib KiB",
  args: [
    { kind: "enum", name: "disk", values: IO_DISKS },
    { kind: "int", name: "nr_events", min: 1, max: 64, special: [1, 16, 32, 64] },
    { kind: "int", name: "buffer_kib", min: 1, max: 64, special: [4, 1, 64] },
  ],
  produces: "aio",
  *exec(x, [disk, nr, kib]) {
    const c = ioSetup(x.kernel, disk as string, { nrEvents: nr as number, bufferBytes: (kib as number) * 1024 });
    ioState(x).aios.set(c, new Int32Array(c.nrEvents));
    return c;
  },
});

registerOp({
  name: "aio_submit",
  area: AREA,
  doc: "io_submit() of n iocbs (read/write of sectors each, from sector on, stride apart) from the task, under one plug",
  args: [
    { kind: "res", name: "aio", res: "aio" },
    { kind: "enum", name: "op", values: ["read", "write"] },
    { kind: "int", name: "sector", min: 0, max: 1 << 24, special: [0, 8, 64, 1024] },
    { kind: "int", name: "sectors", min: 1, max: 128, special: [8, 1, 16, 128] },
    { kind: "int", name: "n", min: 1, max: 64, special: [1, 2, 16, 17, 32] },
    { kind: "int", name: "stride", min: 0, max: 4096, special: [8, 0, 16, 1000] },
  ],
  *exec(x, [v, op, sector, sectors, n, stride]) {
    const c = v as AioContext;
    const st = ioState(x);
    const asked = st.aios.get(c);
    if (asked === undefined) throw new RangeError("io_submit: the aio context was destroyed");
    const bytes = (sectors as number) << SECTOR_SHIFT;
    const cmd = op === "write" ? IOCB_CMD_PWRITE : IOCB_CMD_PREAD;
    // io_submit() returns how many it took before the first bad iocb; only a first bad one is its error.
    let refused: unknown = null;
    let i = 0;
    for (; i < (n as number); i++) {
      try {
        asked[c.prep(cmd, (sector as number) + i * (stride as number), bytes)] = bytes;
      } catch (e) {
        refused = e;
        break;
      }
    }
    yield* c.submitFromTask();
    if (i === 0) throw refused;
  },
});

registerOp({
  name: "aio_getevents",
  area: AREA,
  doc: "io_getevents() without waiting: reaps the ended iocbs of an aio context, checking each result",
  args: [{ kind: "res", name: "aio", res: "aio" }],
  *exec(x, [v]) {
    const c = v as AioContext;
    const st = ioState(x);
    if (!st.aios.has(c)) throw new RangeError("io_getevents: the aio context was destroyed");
    reapAio(st, c);
  },
});

registerOp({
  name: "aio_destroy",
  area: AREA,
  doc: "io_destroy(): EBUSY while iocbs are in flight, else reaps and frees the context",
  args: [{ kind: "res", name: "aio", res: "aio", consume: true }],
  *exec(x, [v]) {
    const c = v as AioContext;
    const st = ioState(x);
    if (st.aios.has(c)) destroyAio(st, c);
  },
});

registerOp({
  name: "ram_modprobe",
  area: AREA,
  doc: "`modprobe ram rd_nr=N rd_size=KiB hw_queue_depth=N submit_queues=N`: RAM disks ram0.. whose requests copy data",
  args: [
    { kind: "int", name: "rd_nr", min: 0, max: 2, special: [1, 2] },
    { kind: "int", name: "rd_size", min: 0, max: 256, special: [64, 4, 256] },
    { kind: "int", name: "hw_queue_depth", min: 0, max: 64, special: [4, 1, 64] },
    { kind: "int", name: "submit_queues", min: 0, max: 4, special: [1, 2, 4] },
  ],
  syntax: {
    format: (args) => `modprobe ram ${RAM_PARAMS.map((n, i) => `${n}=${args[i]}`).join(" ")}`,
    parse(body) {
      const m = /^modprobe ram rd_nr=(\d+) rd_size=(\d+) hw_queue_depth=(\d+) submit_queues=(\d+)$/.exec(body);
      if (!m) return null;
      const v: ArgValue[] = m.slice(1).map(Number);
      return v[0] as number > 2 || v[1] as number > 256 || v[2] as number > 64 || v[3] as number > 4 ? null : v;
    },
  },
  // Through the run's shell: its module list serializes loads and unloads (module states, module_wq).
  *exec(x, args) {
    yield* runLine(x, formatCommand({ argv: ["modprobe", RAM, ...RAM_PARAMS.map((n, i) => `${n}=${args[i]}`)], redirects: [] }));
  },
});

registerOp({
  name: "ram_rmmod",
  area: AREA,
  doc: "`rmmod ram`: its disks and their pages go",
  args: [],
  syntax: {
    format: () => "rmmod ram",
    parse: (body) => (body.trim() === "rmmod ram" ? [] : null),
  },
  *exec(x) {
    yield* runLine(x, `rmmod ${RAM}`);
  },
});
