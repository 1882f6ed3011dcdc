// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Kernel } from "../kernel/kernel.ts";
import { GFP_NOIO } from "../kernel/mempool.ts";
import { sleep, type Sleepable } from "../kernel/sched.ts";
import { nullBlkDevices, nullBlkModule } from "../drivers/null_blk.ts";
import { boot, inTask, readSysfs, writeSysfs } from "./_testkit.ts";
import { bioAddPage, bioAlloc, bioExit, bioField, bioPut, bioSetDev, bioSetField, fsBioSet, REQ_WRITE, registerBioEndIo } from "./bio.ts";
import { BLK_QC_T_NONE, rqField, submitBio } from "./blk_mq_request.ts";
import { BLK_MAX_REQUEST_COUNT, type BlkPlug, blkFinishPlug, blkStartPlug } from "./blk_plug.ts";
import type { RequestQueue } from "./request_queue.ts";
import { RQ } from "./request_record.ts";

const PAGE = 0x100000;

interface Issued {
  sector: number;
  bytes: number;
  last: boolean;
  /** The task that called queue_rq. */
  comm: string;
}

function load(k: Kernel, params: Record<string, string>): RequestQueue {
  inTask(k, () => nullBlkModule.init(k, params), "modprobe");
  return nullBlkDevices(k)[0].q!;
}

/** Wraps the driver's queue_rq to record every request that reaches it. */
function countQueueRq(k: Kernel, q: RequestQueue): Issued[] {
  const ops = q.mqOps!;
  const orig = ops.queueRq;
  const issued: Issued[] = [];
  ops.queueRq = (hctx, bd) => {
    const dv = new DataView(k.core.memory.buffer);
    issued.push({ sector: Number(dv.getBigUint64(bd.rq + RQ.SECTOR, true)), bytes: rqField(k, bd.rq, RQ.DATA_LEN), last: bd.last, comm: k.sched.current.comm });
    return orig(hctx, bd);
  };
  return issued;
}

/** An end_io that records each completed 4 KiB bio's start sector (it was advanced past its 8 sectors) and error, and puts the bio. */
function recorder(k: Kernel, done: { sector: number; error: number }[]): number {
  return registerBioEndIo(k, "plug_test_end_io", (bio, kk) => {
    done.push({ sector: bioField(kk, bio, "bi_sector") - 8, error: bioField(kk, bio, "bi_error") });
    bioPut(kk, bio);
  });
}

function* makeBio(k: Kernel, q: RequestQueue, sector: number, endIo: number): Sleepable<number> {
  const bio = yield* bioAlloc(fsBioSet(k), GFP_NOIO, 1);
  assert.is(bioAddPage(k, bio, PAGE, 4096, 0), 4096);
  bioSetField(k, bio, "bi_sector", sector);
  bioSetField(k, bio, "bi_rw", REQ_WRITE);
  bioSetField(k, bio, "bi_end_io", endIo);
  bioSetDev(k, bio, q.id);
  return bio;
}

/** Runs `body` as a task bound to CPU 0 until everything is idle. */
function onCpu0(k: Kernel, body: () => Sleepable<void>): void {
  let finished = false;
  k.sched.spawn("plugger", function* () {
    yield* body();
    finished = true;
  }, { cpu: 0, bound: true });
  const r = k.run();
  assert.is(r.kind, "done", k.log.text());
  assert.ok(finished);
}

function diskStat(k: Kernel): number[] {
  return readSysfs(k, "/sys/block/nullb0/stat").trim().split(/\s+/).map(Number);
}

function finish(k: Kernel): void {
  inTask(k, () => nullBlkModule.exit(k), "rmmod");
  bioExit(k);
  k.assertClean();
}

for (const submitQueues of [1, 2]) {
  const path = submitQueues === 1 ? "blk_sq_make_request" : "blk_mq_make_request";

  test(`${path}: sequential 4 KiB writes in a plug merge into one request (back and front), not counted in rq_merged`, () => {
    const k = boot({ cpus: 2 });
    const q = load(k, { nr_devices: "1", irqmode: "0", submit_queues: String(submitQueues) });
    const issued = countQueueRq(k, q);
    const done: { sector: number; error: number }[] = [];
    const endIo = recorder(k, done);
    const cookies: number[] = [];
    onCpu0(k, function* () {
      const task = k.sched.current;
      blkStartPlug(k, task);
      for (const s of [8, 16, 24, 32, 40, 48, 56, 0]) cookies.push(yield* submitBio(k, yield* makeBio(k, q, s, endIo)));
      assert.is(issued.length, 0, "nothing reaches the driver while plugged");
      assert.is(done.length, 0);
      blkFinishPlug(task);
      assert.is(task.plug, null);
    });
    assert.equal(issued, [{ sector: 0, bytes: 64 * 512, last: true, comm: "plugger" }], "one 32 KiB request from sector 0, run synchronously by blk_finish_plug()");
    assert.is(cookies[0] === BLK_QC_T_NONE, false, "the first bio got a request");
    for (const c of cookies.slice(1)) assert.is(c, BLK_QC_T_NONE, "plug-merged bios have no cookie");
    assert.equal(done.map((d) => d.sector), [0, 8, 16, 24, 32, 40, 48, 56], "each bio ended once, in request order");
    for (const d of done) assert.is(d.error, 0);
    assert.is(readSysfs(k, "/sys/block/nullb0/mq/0/cpu0/merged"), "0\n", "plug merges are not ctx merges");
    assert.equal(diskStat(k).slice(4, 7), [1, 7, 64], "write ios, merges, sectors");
    finish(k);
  });

  test(`${path}: nomerges=2 disables plug merges`, () => {
    const k = boot({ cpus: 2 });
    const q = load(k, { nr_devices: "1", irqmode: "0", submit_queues: String(submitQueues) });
    assert.is(writeSysfs(k, "/sys/block/nullb0/queue/nomerges", "2"), 1);
    const issued = countQueueRq(k, q);
    const done: { sector: number; error: number }[] = [];
    const endIo = recorder(k, done);
    onCpu0(k, function* () {
      const task = k.sched.current;
      blkStartPlug(k, task);
      for (const s of [0, 8, 16, 24]) assert.ok((yield* submitBio(k, yield* makeBio(k, q, s, endIo))) !== BLK_QC_T_NONE);
      blkFinishPlug(task);
    });
    assert.equal(issued.map((i) => i.sector), [0, 8, 16, 24]);
    for (const i of issued) assert.is(i.bytes, 4096);
    assert.is(done.length, 4);
    assert.equal(diskStat(k).slice(4, 6), [4, 0], "four write requests, no merges");
    finish(k);
  });

  test(`${path}: a task that sleeps with plugged requests flushes its plug (async run); the I/O completes while it sleeps`, () => {
    const k = boot({ cpus: 2 });
    const q = load(k, { nr_devices: "1", irqmode: "0", submit_queues: String(submitQueues) });
    const issued = countQueueRq(k, q);
    const done: { sector: number; error: number }[] = [];
    const endIo = recorder(k, done);
    onCpu0(k, function* () {
      const task = k.sched.current;
      const plug = blkStartPlug(k, task);
      yield* submitBio(k, yield* makeBio(k, q, 800, endIo));
      assert.is(plug.requests().length, 1);
      assert.is(done.length, 0);
      yield sleep(1_000_000);
      assert.is(plug.requests().length, 0, "blk_schedule_flush_plug() emptied the plug");
      assert.equal(done, [{ sector: 800, error: 0 }], "completed while the task slept");
      assert.is(task.plug, plug, "the plug stays installed until blk_finish_plug()");
      blkFinishPlug(task);
    });
    assert.is(issued.length, 1);
    assert.ok(issued[0].comm.startsWith("kworker"), `from_schedule: the hw queue ran from a worker, not ${issued[0].comm}`);
    finish(k);
  });
}

test("blk_mq_make_request: limited plugging issues the older same-queue request when a new one is plugged", () => {
  const k = boot({ cpus: 2 });
  const q = load(k, { nr_devices: "1", irqmode: "0", submit_queues: "2" });
  const issued = countQueueRq(k, q);
  const done: { sector: number; error: number }[] = [];
  const endIo = recorder(k, done);
  onCpu0(k, function* () {
    const task = k.sched.current;
    const plug = blkStartPlug(k, task);
    yield* submitBio(k, yield* makeBio(k, q, 0, endIo));
    assert.is(issued.length, 0, "the first request waits in the plug");
    yield* submitBio(k, yield* makeBio(k, q, 100, endIo));
    assert.equal(issued.map((i) => [i.sector, i.last]), [[0, true]], "the older one was issued directly");
    assert.equal(done.map((d) => d.sector), [0]);
    yield* submitBio(k, yield* makeBio(k, q, 200, endIo));
    assert.equal(issued.map((i) => i.sector), [0, 100]);
    assert.is(plug.requests().length, 1, "one request per queue waits");
    // A back merge still goes into the one plugged request.
    yield* submitBio(k, yield* makeBio(k, q, 208, endIo));
    assert.is(issued.length, 2);
    blkFinishPlug(task);
  });
  assert.equal(issued.map((i) => [i.sector, i.bytes]), [[0, 4096], [100, 4096], [200, 8192]]);
  assert.equal(done.map((d) => d.sector), [0, 100, 200, 208]);
  finish(k);
});

test("blk_sq_make_request: the plug is flushed, sorted by sector, before a 17th request of the queue is added", () => {
  const k = boot({ cpus: 2 });
  const q = load(k, { nr_devices: "1", irqmode: "0", submit_queues: "1" });
  const issued = countQueueRq(k, q);
  const done: { sector: number; error: number }[] = [];
  const endIo = recorder(k, done);
  const sectors = Array.from({ length: BLK_MAX_REQUEST_COUNT + 1 }, (_, i) => 10_000 - 100 * i);
  onCpu0(k, function* () {
    const task = k.sched.current;
    const plug: BlkPlug = blkStartPlug(k, task);
    for (let i = 0; i < BLK_MAX_REQUEST_COUNT; i++) yield* submitBio(k, yield* makeBio(k, q, sectors[i], endIo));
    assert.is(issued.length, 0);
    assert.is(plug.requests().length, BLK_MAX_REQUEST_COUNT);
    yield* submitBio(k, yield* makeBio(k, q, sectors[BLK_MAX_REQUEST_COUNT], endIo));
    assert.is(issued.length, BLK_MAX_REQUEST_COUNT, "the 16 plugged requests were flushed and run");
    assert.equal(issued.map((i) => i.sector), sectors.slice(0, BLK_MAX_REQUEST_COUNT).reverse(), "sorted by start sector");
    assert.is(plug.requests().length, 1, "the 17th waits in the plug");
    blkFinishPlug(task);
  });
  assert.is(issued.length, BLK_MAX_REQUEST_COUNT + 1);
  assert.is(done.length, BLK_MAX_REQUEST_COUNT + 1);
  finish(k);
});

test("blk_sq_make_request: with nomerges the plug scan does not run, so nothing counts toward the flush at 16", () => {
  const k = boot({ cpus: 2 });
  const q = load(k, { nr_devices: "1", irqmode: "0", submit_queues: "1" });
  assert.is(writeSysfs(k, "/sys/block/nullb0/queue/nomerges", "2"), 1);
  const issued = countQueueRq(k, q);
  const done: { sector: number; error: number }[] = [];
  const endIo = recorder(k, done);
  onCpu0(k, function* () {
    const task = k.sched.current;
    blkStartPlug(k, task);
    for (let i = 0; i <= BLK_MAX_REQUEST_COUNT; i++) yield* submitBio(k, yield* makeBio(k, q, 100 * i, endIo));
    assert.is(issued.length, 0);
    blkFinishPlug(task);
  });
  assert.is(issued.length, BLK_MAX_REQUEST_COUNT + 1);
  assert.is(done.length, BLK_MAX_REQUEST_COUNT + 1);
  finish(k);
});

test("a nested blk_start_plug() shares the outer plug; only the outermost blk_finish_plug() flushes", () => {
  const k = boot({ cpus: 2 });
  const q = load(k, { nr_devices: "1", irqmode: "0", submit_queues: "1" });
  const issued = countQueueRq(k, q);
  const done: { sector: number; error: number }[] = [];
  const endIo = recorder(k, done);
  onCpu0(k, function* () {
    const task = k.sched.current;
    const outer = blkStartPlug(k, task);
    assert.is(blkStartPlug(k, task), outer);
    yield* submitBio(k, yield* makeBio(k, q, 0, endIo));
    blkFinishPlug(task);
    assert.is(issued.length, 0);
    assert.is(task.plug, outer);
    blkFinishPlug(task);
    assert.is(issued.length, 1);
    assert.is(task.plug, null);
    assert.throws(() => blkFinishPlug(task), (e: unknown) => e instanceof TypeError);
  });
  assert.is(done.length, 1);
  finish(k);
});

test("the scheduler flushes a task's plug when the task blocks, not when it only yields or has nothing plugged", () => {
  const k = boot({ cpus: 1 });
  const flushes: string[] = [];
  let pending = true;
  k.sched.spawn("t", function* () {
    const task = k.sched.current;
    task.plug = { needsFlush: () => pending, scheduleFlush: () => flushes.push(`${k.sched.current.comm}:${task.state}`) };
    yield;
    assert.equal(flushes, [], "a plain yield keeps the plug");
    yield sleep(1000);
    assert.equal(flushes, ["t:blocked"], "flushed once, as the task itself, when it went to sleep");
    pending = false;
    yield sleep(1000);
    assert.is(flushes.length, 1, "blk_needs_flush_plug() false: no flush");
    task.plug = null;
  });
  assert.is(k.run().kind, "done");
  assert.is(flushes.length, 1);
  k.assertClean();
});

test("blk_sq_make_request: a task out of tags while its plug holds them all flushes the plug itself in bt_get's io_schedule()", () => {
  const k = boot({ cpus: 2 });
  const q = load(k, { nr_devices: "1", irqmode: "0", submit_queues: "1", hw_queue_depth: "2" });
  const issued = countQueueRq(k, q);
  const done: { sector: number; error: number }[] = [];
  const endIo = recorder(k, done);
  onCpu0(k, function* () {
    const task = k.sched.current;
    const plug = blkStartPlug(k, task);
    for (const s of [0, 100]) yield* submitBio(k, yield* makeBio(k, q, s, endIo));
    assert.is(issued.length, 0);
    const switches = task.switches;
    yield* submitBio(k, yield* makeBio(k, q, 200, endIo));
    assert.equal(issued.map((i) => [i.sector, i.comm]), [[0, "plugger"], [100, "plugger"]], "blk_flush_plug(current) ran the queue synchronously, in the task");
    assert.is(task.switches, switches, "a tag was freed before the task had to sleep");
    assert.is(plug.requests().length, 1);
    blkFinishPlug(task);
  });
  assert.equal(done.map((d) => d.sector), [0, 100, 200]);
  finish(k);
});

test.run();
