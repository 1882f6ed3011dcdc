// SPDX-License-Identifier: GPL-2.0-only
/**
 * Tests for the core's make_request (asm/blk_mq_make_request.ts) and the
 * inline null_blk queue_rq (asm/null_blk.ts): the same seeded workload runs
 * once through the core and once down the TypeScript path
 * (`BlockLayer#coreMakeRequest` false), and everything a user can see must
 * match: each submit's cookie, the order and error of every bio end, the
 * whole sysfs tree of the disk and the kernel log. Then the core function's
 * answers on records made here.
 *
 * @module
 */

import { test } from "uvu";
import * as assert from "uvu/assert";
import { KernelError } from "../errors.ts";
import type { Kernel, KernelOptions } from "../kernel/kernel.ts";
import { Prng } from "../kernel/sched.ts";
import { coreHost } from "../wasm/core.ts";
import { nullBlkDevices, nullBlkModule } from "../drivers/null_blk.ts";
import { boot, inTask, makeBio, sysfsTree } from "./_testkit.ts";
import { bioExit, bioField, bioPut, REQ_FLUSH, REQ_FUA, REQ_SYNC, REQ_WRITE, registerBioEndIo } from "./bio.ts";
import { __blkMqRunHwQueueDispatch, BLK_QC_T_NONE, submitBio } from "./blk_mq_request.ts";
import { RQ } from "./request_record.ts";
import { BLK_MAX_REQUEST_COUNT, BLK_PLUG_MAX, blkFinishPlug, blkStartPlug } from "./blk_plug.ts";
import { blkMqFreezeQueueStart, blkMqFreezeQueueWait, blkMqUnfreezeQueue, type RequestQueue } from "./request_queue.ts";

/** A machine, null_blk's parameters, and how the workload treats the driver. */
interface Setup {
  name: string;
  kernel?: KernelOptions;
  params: Record<string, string>;
  /** Wrap queueRq (the core then calls the host's queue_rq, not its inline copy). */
  wrap?: boolean;
  /** A `queue/nomerges` value written before the workload. */
  nomerges?: string;
}

/** What one run leaves for the comparison. */
interface Trace {
  cookies: number[];
  ends: string[];
  sysfs: Record<string, string>;
  log: string;
  /** host_ctx_lock calls: the core's make_request took the ctx lock (only with lockdep). */
  ctxLocks: number;
  /** Requests the wrapped queueRq saw (with `wrap`). */
  wrapped: number;
}

/**
 * Three tasks on two CPUs submit 40 bios each over 512 KiB of the disk:
 * reads, async and sync writes, a third of them right behind the task's
 * previous bio (so plug and ctx merges happen), now and then a FLUSH or FUA
 * write, bursts of 1 to 20 bios under a plug (past BLK_MAX_REQUEST_COUNT
 * where the depth allows), yielding at random between submits (the
 * scheduler flushes the plug); a queue depth of 4 makes tasks wait for tags.
 */
function run(setup: Setup, core: boolean, seed: number): Trace {
  const k = boot({ cpus: 2, ...setup.kernel });
  k.block.coreMakeRequest = core;
  inTask(k, () => nullBlkModule.init(k, setup.params), "modprobe");
  const q = nullBlkDevices(k)[0].q!;
  const trace: Trace = { cookies: [], ends: [], sysfs: {}, log: "", ctxLocks: 0, wrapped: 0 };
  const label = new Map<number, string>();
  const endIo = registerBioEndIo(k, "make_request_test_end_io", (bio, kk) => {
    trace.ends.push(`${label.get(bio)}:${bioField(kk, bio, "bi_error")}`);
    label.delete(bio);
    bioPut(kk, bio);
  });
  const host = coreHost(k.core);
  const ctxLock = host.ctxLock;
  host.ctxLock = (qa, cpu, lock) => {
    trace.ctxLocks++;
    ctxLock(qa, cpu, lock);
  };
  const ops = q.mqOps!;
  const orig = ops.queueRq;
  if (setup.wrap === true) {
    ops.queueRq = (hctx, bd) => {
      trace.wrapped++;
      return orig(hctx, bd);
    };
  }
  if (setup.nomerges !== undefined) inTask(k, () => k.sysfs.write("/sys/block/nullb0/queue/nomerges", setup.nomerges!), "echo");
  const prng = new Prng(seed);
  for (let t = 0; t < 3; t++) {
    k.sched.spawn(`io${t}`, function* () {
      const task = k.sched.current;
      let plugged = 0;
      let sector = 0;
      for (let i = 0; i < 40; i++) {
        if (plugged === 0 && prng.next() % 8 === 0) {
          blkStartPlug(k, task);
          plugged = 1 + (prng.next() % 20);
        }
        const c = prng.next() % 16;
        let rw = c < 6 ? 0 : c < 11 ? REQ_WRITE : c < 14 ? REQ_WRITE | REQ_SYNC : c < 15 ? REQ_WRITE | REQ_FUA : REQ_WRITE | REQ_FLUSH;
        if (rw === 0 && prng.next() % 2 === 0) rw = REQ_SYNC;
        // now and then right behind the task's last bio, so that plug and ctx merges happen
        sector = prng.next() % 3 === 0 ? (sector + 8) % 1024 : (prng.next() % 128) * 8;
        const bio = yield* makeBio(k, q, sector, rw, endIo);
        label.set(bio, `${t}.${i}`);
        trace.cookies.push(yield* submitBio(k, bio));
        if (plugged > 0 && --plugged === 0) blkFinishPlug(task);
        if (prng.next() % 3 === 0) yield;
      }
      if (plugged > 0) blkFinishPlug(task);
    }, { cpu: t % 2 });
  }
  const r = k.run();
  assert.is(r.kind, "done", `${setup.name}: the workload ran to the end`);
  assert.is(trace.ends.length, 120, `${setup.name}: every bio ended`);
  trace.sysfs = sysfsTree(k, "/sys/block/nullb0");
  trace.log = k.log.text();
  ops.queueRq = orig;
  inTask(k, () => nullBlkModule.exit(k), "rmmod");
  bioExit(k);
  k.assertClean();
  return trace;
}

const SETUPS: Setup[] = [
  { name: "irqmode 0, one hw queue (inline queue_rq)", params: { nr_devices: "1", irqmode: "0", hw_queue_depth: "4" } },
  { name: "irqmode 0, two hw queues", params: { nr_devices: "1", irqmode: "0", hw_queue_depth: "4", submit_queues: "2" } },
  { name: "irqmode 0, queueRq wrapped (the host's queue_rq)", params: { nr_devices: "1", irqmode: "0", hw_queue_depth: "4" }, wrap: true },
  { name: "irqmode 1 (softirq)", params: { nr_devices: "1", irqmode: "1", hw_queue_depth: "4" } },
  { name: "irqmode 2 (timer)", params: { nr_devices: "1", irqmode: "2", completion_nsec: "20000", hw_queue_depth: "4" } },
  { name: "irqmode 0, nomerges 2", params: { nr_devices: "1", irqmode: "0", hw_queue_depth: "4" }, nomerges: "2" },
  { name: "irqmode 0, no lockdep", kernel: { lockdep: false }, params: { nr_devices: "1", irqmode: "0", hw_queue_depth: "4" } },
  { name: "irqmode 0, depth 64", params: { nr_devices: "1", irqmode: "0" } },
];

for (const setup of SETUPS) {
  test(`the core's make_request matches the TypeScript path: ${setup.name}`, () => {
    for (const seed of [1, 2, 3]) {
      const viaCore = run(setup, true, seed);
      const viaTs = run(setup, false, seed);
      assert.equal(viaCore.cookies, viaTs.cookies, `seed ${seed}: cookies`);
      assert.equal(viaCore.ends, viaTs.ends, `seed ${seed}: bio ends`);
      assert.equal(viaCore.sysfs, viaTs.sysfs, `seed ${seed}: sysfs`);
      assert.is(viaCore.log, viaTs.log, `seed ${seed}: kernel log`);
      assert.is(viaCore.wrapped, viaTs.wrapped, `seed ${seed}: requests the wrapped queueRq saw`);
      assert.is(viaTs.ctxLocks, 0, "the TS path takes the ctx lock itself");
      if (setup.kernel?.lockdep !== false) assert.ok(viaCore.ctxLocks > 0, `seed ${seed}: the core's make_request ran`);
    }
  });
}

/** null_blk irqmode 0 with one queue of `depth` tags on a 2-CPU machine, and a bio builder. */
function device(depth: number): { k: Kernel; q: RequestQueue; bio: (rw: number, at?: number) => number; ended: number[] } {
  const k = boot({ cpus: 2 });
  inTask(k, () => nullBlkModule.init(k, { nr_devices: "1", irqmode: "0", hw_queue_depth: String(depth) }), "modprobe");
  const q = nullBlkDevices(k)[0].q!;
  q.dispatchHook = __blkMqRunHwQueueDispatch; // as the first submitBio() does
  const ended: number[] = [];
  const endIo = registerBioEndIo(k, "make_request_core_end_io", (bio, kk) => {
    ended.push(bioField(kk, bio, "bi_error"));
    bioPut(kk, bio);
  });
  let sector = 0;
  return { k, q, ended, bio: (rw, at = (sector += 8)) => inTask(k, () => makeBio(k, q, at, rw, endIo), "alloc") };
}

function teardown(k: Kernel): void {
  inTask(k, () => nullBlkModule.exit(k), "rmmod");
  bioExit(k);
  k.assertClean();
}

/** The core's answers (asm/blk_mq_make_request.ts). */
const WOULD_SLEEP = -2;
const FALLBACK = -3;

/** `blk_mq_make_request_nowait()` as submitBioTry() calls it, lockdep off, no inline driver. */
function makeRequest(k: Kernel, q: RequestQueue, bio: number, driver = 0, plug = 0): number {
  return k.core.blk_mq_make_request_nowait(q.addr, bio, plug, 0, k.clock.now(), k.clock.HZ, k.clock.tickNs, driver << 8);
}

test("blk_mq_make_request_nowait() ends a read at once with null_blk inline, and returns its cookie", () => {
  const { k, q, bio, ended } = device(4);
  const usage = q.qUsageCounter.value();
  const b = bio(0);
  const cookie = makeRequest(k, q, b, 1);
  assert.is(cookie, 0, "tag 0 of hctx 0");
  assert.equal(ended, [0], "the bio ended inside the call");
  assert.is(q.qUsageCounter.value(), usage, "the request's and the submit's queue references are both dropped");
  assert.is(q.queueHwCtx[0].tags!.tags.isAllocated(0), false, "the tag went back");
  teardown(k);
});

test("blk_mq_make_request_nowait() leaves FLUSH/FUA bios, a frozen queue and no free tag to the TS path, changing nothing", () => {
  const { k, q, bio, ended } = device(1);
  const usage = q.qUsageCounter.value();
  const flush = bio(REQ_WRITE | REQ_FLUSH);
  assert.is(makeRequest(k, q, flush), FALLBACK, "a flush");
  const fua = bio(REQ_WRITE | REQ_FUA);
  assert.is(makeRequest(k, q, fua), FALLBACK, "a FUA write");
  assert.is(q.qUsageCounter.value(), usage);
  // The one tag taken by a request the driver holds (no inline driver: the host's queue_rq keeps it).
  const ops = q.mqOps!;
  const orig = ops.queueRq;
  const held: number[] = [];
  ops.queueRq = (_hctx, bd) => {
    held.push(bd.rq);
    return 0;
  };
  const first = bio(0);
  assert.is(makeRequest(k, q, first), 0);
  assert.equal(held.length, 1);
  const second = bio(0);
  const hctx = q.queueHwCtx[0];
  const queued = hctx.queued;
  assert.is(makeRequest(k, q, second), WOULD_SLEEP, "no free tag");
  assert.is(hctx.queued, queued, "nothing counted");
  assert.is(q.qUsageCounter.value(), usage + 1, "only the held request's reference remains");
  blkMqFreezeQueueStart(q);
  assert.is(makeRequest(k, q, second), WOULD_SLEEP, "a frozen queue");
  assert.is(hctx.queued, queued, "nothing counted");
  ops.queueRq = orig;
  // Give the held request back, thaw, and let the two waiting bios through the TS path.
  inTask(k, function* () {
    nullEnd(k, held[0]); // its queue reference was the last: the freeze completes
    yield* blkMqFreezeQueueWait(q);
    yield* blkMqUnfreezeQueue(q);
    yield* submitBio(k, second);
    yield* submitBio(k, flush);
    yield* submitBio(k, fua);
  });
  assert.equal(ended, [0, 0, 0, 0]);
  assert.is(q.qUsageCounter.value(), usage, "every reference dropped");
  teardown(k);
});

test("blk_mq_make_request_nowait() under a plug: plug merges, the request onto the plug, the flush at 16", () => {
  const { k, q, bio, ended } = device(64);
  const usage = q.qUsageCounter.value();
  // Bios made beforehand: 8 and 16 adjacent, then 16 more with gaps between them (no merges).
  const bios = [bio(0, 8), bio(0, 16), ...Array.from({ length: 16 }, (_, i) => bio(0, 1024 + 32 * i))];
  inTask(k, function* () {
    const plug = blkStartPlug(k, k.sched.current);
    assert.is(makeRequest(k, q, bios[0], 1, plug.addr), 0, "tag 0's cookie");
    assert.is(plug.requests().length, 1, "the request waits on the plug");
    assert.equal(ended, [], "nothing dispatched");
    assert.is(makeRequest(k, q, bios[1], 1, plug.addr), BLK_QC_T_NONE, "the next sector merged into the plugged request");
    assert.is(plug.requests().length, 1);
    assert.is(k.dv.getUint32(plug.requests()[0] + RQ.DATA_LEN, true), 2 * 4096, "the request holds both bios");
    for (let i = 2; i < 17; i++) makeRequest(k, q, bios[i], 1, plug.addr);
    assert.is(plug.requests().length, BLK_MAX_REQUEST_COUNT);
    assert.equal(ended, [], "still nothing dispatched");
    makeRequest(k, q, bios[17], 1, plug.addr);
    assert.is(ended.length, 17, "the 17th request flushed the 16 plugged ones (17 bios), which ended inline");
    assert.is(plug.requests().length, 1, "the 17th waits on the plug");
    blkFinishPlug(k.sched.current);
    assert.is(ended.length, 18);
    yield* [];
  }, "plugged");
  assert.ok(ended.every((e) => e === 0));
  assert.is(q.qUsageCounter.value(), usage);
  teardown(k);
});

test("the core's plug flush sorts by ctx and sector, and leaves a plug with another queue's request to the TS flush", () => {
  const k = boot({ cpus: 2 });
  inTask(k, () => nullBlkModule.init(k, { nr_devices: "2", irqmode: "0", hw_queue_depth: "64" }), "modprobe");
  const [a, b] = nullBlkDevices(k).map((d) => d.q!);
  for (const q of [a, b]) q.dispatchHook = __blkMqRunHwQueueDispatch; // as the first submitBio() does
  const label = new Map<number, string>();
  const order: string[] = [];
  const endIo = registerBioEndIo(k, "plug_sort_end_io", (bio, kk) => {
    order.push(label.get(bio)!);
    bioPut(kk, bio);
  });
  const make = (q: RequestQueue, sector: number) =>
    inTask(k, function* () {
      const bio = yield* makeBio(k, q, sector, 0, endIo);
      label.set(bio, `${q === a ? "a" : "b"}${sector}`);
      return bio;
    }, "alloc");
  const flushA = (plug: number) => k.core.blk_mq_flush_plug_list_nowait(plug, a.addr, 0, 0, k.clock.now(), k.clock.HZ, k.clock.tickNs, 1 << 8);
  const first = [48, 16, 32, 0].map((s) => make(a, s));
  const mixed = [make(a, 64), make(b, 0)];
  inTask(k, function* () {
    const plug = blkStartPlug(k, k.sched.current);
    for (const bio of first) makeRequest(k, a, bio, 1, plug.addr);
    assert.equal(order, []);
    assert.is(flushA(plug.addr), 0);
    assert.equal(order, ["a0", "a16", "a32", "a48"], "dispatched in sector order");
    assert.is(plug.requests().length, 0);
    makeRequest(k, a, mixed[0], 1, plug.addr);
    makeRequest(k, b, mixed[1], 1, plug.addr);
    const held = plug.requests();
    assert.is(held.length, 2);
    assert.is(flushA(plug.addr), FALLBACK);
    assert.equal(plug.requests(), held, "untouched");
    blkFinishPlug(k.sched.current); // the TS flush, queue by queue
    assert.equal(order, ["a0", "a16", "a32", "a48", "a64", "b0"]);
    yield* [];
  }, "plugged");
  teardown(k);
});

test("blk_mq_make_request_nowait() leaves a plugged bio on several hw queues to the TS path", () => {
  const k = boot({ cpus: 2 });
  inTask(k, () => nullBlkModule.init(k, { nr_devices: "1", irqmode: "0", submit_queues: "2" }), "modprobe");
  const q = nullBlkDevices(k)[0].q!;
  const endIo = registerBioEndIo(k, "plug_mq_end_io", (bio, kk) => bioPut(kk, bio));
  inTask(k, function* () {
    const plug = blkStartPlug(k, k.sched.current);
    const b = yield* makeBio(k, q, 0, 0, endIo);
    assert.is(makeRequest(k, q, b, 1, plug.addr), FALLBACK);
    assert.is(plug.requests().length, 0);
    yield* submitBio(k, b);
    blkFinishPlug(k.sched.current);
  }, "plugged");
  teardown(k);
});

test("plug records: BLK_PLUG_MAX tasks may hold one; a record is given back once, and only when empty", () => {
  const k = boot({ cpus: 1 });
  const held: number[] = [];
  for (let i = 0; i < BLK_PLUG_MAX; i++) held.push(k.core.blk_plug_alloc());
  assert.is(new Set(held).size, BLK_PLUG_MAX);
  assert.ok(held.every((p) => p > 0));
  assert.is(k.core.blk_plug_alloc(), 0, "all held");
  assert.throws(() => blkStartPlug(k, k.sched.current), (e: unknown) => e instanceof KernelError && e.code === "EAGAIN");
  assert.is(k.sched.current.plug, null, "no plug installed");
  k.dv.setUint32(held[0], held[1], true); // a request on it, as far as the list says
  assert.is(k.core.blk_plug_free(held[0]), -16, "busy");
  k.core.blk_list_init(held[0]);
  for (const p of held) assert.is(k.core.blk_plug_free(p), 0);
  assert.is(k.core.blk_plug_free(held[0]), -22, "already free");
  assert.is(k.core.blk_plug_free(held[0] + 4), -22, "no record");
  const p = k.core.blk_plug_alloc();
  assert.ok(held.includes(p));
  assert.is(k.core.blk_plug_free(p), 0);
  k.assertClean();
});

/** The driver ends the request it held. */
function nullEnd(k: Kernel, rq: number): void {
  assert.is(k.core.blk_mq_end_request(rq, 0, k.clock.jiffies(), k.clock.tickNs, k.sched.cpus.current), 0);
}

test.run();
