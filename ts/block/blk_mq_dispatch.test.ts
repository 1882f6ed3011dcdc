// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Kernel } from "../kernel/kernel.ts";
import { nullBlkDevices, nullBlkModule } from "../drivers/null_blk.ts";
import { boot, inTask, makeBio, modprobe, readSysfs, submitWrites } from "./_testkit.ts";
import { GFP_NOIO } from "../kernel/mempool.ts";
import { bioAddPage, bioAlloc, bioExit, bioPut, bioSetDev, bioSetField, fsBioSet, registerBioEndIo, REQ_WRITE } from "./bio.ts";
import { __blkMqRunHwQueueDispatch, blkMqEndRequest, blkMqQueueRqHost, blkMqStartRequest, submitBioTry } from "./blk_mq_request.ts";
import { RQ } from "./request_record.ts";
import { KernelBug } from "../errors.ts";
import { HCTX } from "./hctx.ts";
import { BLK_MQ_RQ_QUEUE_BUSY, BLK_MQ_RQ_QUEUE_ERROR, type BlkMqQueueData } from "./tag_set.ts";


interface Seen {
  run: number;
  list: number[] | null;
  last: boolean;
}

/** Async 4 KiB writes at `sectors` (far apart: no merges) from one task on CPU 0, then the machine runs idle. */
function writeAll(k: Kernel, sectors: number[]): void {
  submitWrites(k, nullBlkDevices(k)[0].q!, sectors, putEndIo(k));
}

/** The end_io of the tests' bios: the bio is put. */
const PUT_BIO = (bio: number, k: Kernel) => bioPut(k, bio);

function putEndIo(k: Kernel): number {
  return registerBioEndIo(k, "dispatch_test_end_io", PUT_BIO);
}

/** null_blk (one hw queue, irqmode=0) whose queue_rq records what it is handed; `answer` may override the result. */
function recording(k: Kernel, answer?: (i: number) => number | null): Seen[] {
  inTask(k, () => nullBlkModule.init(k, { nr_devices: "1", irqmode: "0" }), "modprobe");
  const ops = nullBlkDevices(k)[0].q!.mqOps!;
  const orig = ops.queueRq;
  const seen: Seen[] = [];
  ops.queueRq = (hctx, bd) => {
    seen.push({ run: hctx.run, list: bd.list, last: bd.last });
    const a = answer?.(seen.length - 1) ?? null;
    return a ?? orig(hctx, bd);
  };
  return seen;
}

function finish(k: Kernel): void {
  inTask(k, () => nullBlkModule.exit(k), "rmmod");
  bioExit(k);
  k.assertClean();
}

test("__blkMqRunHwQueueDispatch(): bd.list is null for runs of 1 and 2 requests; last marks the final one", () => {
  for (const n of [1, 2]) {
    const k = boot({ cpus: 2 });
    const seen = recording(k);
    writeAll(k, Array.from({ length: n }, (_, i) => 1000 * i));
    assert.is(seen.length, n);
    assert.ok(seen.every((s) => s.run === seen[0].run), "one run dispatched them all");
    assert.equal(seen.map((s) => s.list), new Array(n).fill(null));
    assert.equal(seen.map((s) => s.last), Array.from({ length: n }, (_, i) => i === n - 1));
    finish(k);
  }
});

test("__blkMqRunHwQueueDispatch(): in a run of 3, the 2nd and 3rd requests get the same driver list", () => {
  const k = boot({ cpus: 2 });
  const seen = recording(k);
  writeAll(k, [0, 1000, 2000]);
  assert.is(seen.length, 3);
  assert.ok(seen.every((s) => s.run === seen[0].run));
  assert.is(seen[0].list, null, "the first request goes out at once");
  assert.ok(Array.isArray(seen[1].list), "two still waited after the first: a driver list");
  assert.is(seen[2].list, seen[1].list, "once set it stays set");
  assert.equal(seen[1].list, [], "v4.4 keeps nothing on it");
  assert.equal(seen.map((s) => s.last), [false, false, true]);
  finish(k);
});

test("__blkMqRunHwQueueDispatch(): a failed request still counts as sent for the driver list", () => {
  const k = boot({ cpus: 2 });
  const seen = recording(k, (i) => (i === 0 ? BLK_MQ_RQ_QUEUE_ERROR : null));
  writeAll(k, [0, 1000, 2000, 3000]);
  assert.is(seen.length, 4);
  assert.equal(seen.map((s) => s.list === null), [true, false, false, false]);
  assert.ok(k.log.text().includes("I/O error, dev nullb0, sector 0"));
  inTask(k, () => nullBlkModule.exit(k), "rmmod");
  bioExit(k);
  assert.is(k.liveObjects(), 0);
});

test("__blkMqRunHwQueueDispatch(): BUSY on the 2nd of 4 puts the 2nd to 4th back on hctx->dispatch in order, and the rerun sends them", () => {
  const k = boot({ cpus: 2 });
  const order: number[] = [];
  const seen = recording(k, (i) => (i === 1 ? BLK_MQ_RQ_QUEUE_BUSY : null));
  const ops = nullBlkDevices(k)[0].q!.mqOps!;
  const inner = ops.queueRq;
  ops.queueRq = (hctx, bd) => {
    order.push(bd.rq);
    return inner(hctx, bd);
  };
  writeAll(k, [0, 1000, 2000, 3000]);
  assert.is(seen.length, 5, "4 requests, the busy one sent twice");
  assert.is(order[1], order[2], "the busy request goes first in the rerun");
  assert.is(new Set(order).size, 4, "each request in order, none lost or doubled");
  assert.ok(seen[2].run > seen[1].run, "the rest went out in a later run");
  finish(k);
});

test("__blkMqRunHwQueueDispatch(): a run of the same hctx started inside queue_rq has its own list; the outer run still sends the rest once", () => {
  const k = boot({ cpus: 2 });
  const order: number[] = [];
  let nested = 0;
  const seen = recording(k);
  const ops = nullBlkDevices(k)[0].q!.mqOps!;
  const inner = ops.queueRq;
  ops.queueRq = (hctx, bd) => {
    order.push(bd.rq);
    if (nested++ === 0) __blkMqRunHwQueueDispatch(hctx); // nothing is pending for it
    return inner(hctx, bd);
  };
  writeAll(k, [0, 1000, 2000]);
  assert.is(order.length, 3, "three requests, each sent once");
  assert.is(new Set(order).size, 3);
  assert.equal(seen.map((s) => s.last), [false, false, true], "the outer run's list was not disturbed");
  finish(k);
});

test("__blkMqRunHwQueueDispatch(): each run that hands out a driver list hands out a new one", () => {
  const k = boot({ cpus: 2 });
  const seen = recording(k);
  writeAll(k, [0, 1000, 2000]);
  writeAll(k, [3000, 4000, 5000]);
  assert.is(seen.length, 6);
  assert.ok(seen[3].run > seen[0].run, "two runs");
  assert.is(seen[2].list, seen[1].list);
  assert.is(seen[5].list, seen[4].list);
  assert.ok(Array.isArray(seen[4].list) && seen[4].list !== seen[1].list, "the second run's list is not the first's");
  finish(k);
});

test("__blkMqRunHwQueueDispatch(): an unknown queue_rq answer is logged, the request ends with -EIO, and the run goes on", () => {
  for (const bad of [7, undefined as unknown as number]) {
    const k = boot({ cpus: 2 });
    recording(k);
    const q = nullBlkDevices(k)[0].q!;
    const ops = q.mqOps!;
    const inner = ops.queueRq;
    const runs: number[] = [];
    ops.queueRq = (hctx, bd) => {
      runs.push(hctx.run);
      return runs.length === 1 ? bad : inner(hctx, bd); // the first request never reaches the driver
    };
    writeAll(k, [0, 1000]);
    assert.is(runs.length, 2, "the second request still went out in the same run");
    assert.is(runs[1], runs[0]);
    const text = k.log.text();
    assert.ok(text.includes(`blk-mq: bad return on queue: ${bad}`), text);
    assert.ok(text.indexOf("bad return on queue") < text.indexOf("I/O error, dev nullb0, sector 0"), "logged before the request ended");
    const hctx = q.queueHwCtx[0];
    assert.is(k.dv.getBigUint64(hctx.addr + HCTX.DISPATCHED + 8, true), 1n, "one request queued: dispatched[1]");
    inTask(k, () => nullBlkModule.exit(k), "rmmod");
    bioExit(k);
    assert.is(k.liveObjects(), 0);
  }
});

test("__blkMqRunHwQueueDispatch(): a run that sends a request inside queue_rq has a bd of its own; the outer driver's bd is left as it was", () => {
  const k = boot({ cpus: 2 });
  const seen = recording(k);
  const q = nullBlkDevices(k)[0].q!;
  const endIo = putEndIo(k);
  const extra = inTask(k, function* () {
    const bio = yield* bioAlloc(fsBioSet(k), GFP_NOIO, 1);
    bioAddPage(k, bio, 0x100000, 4096, 0);
    bioSetField(k, bio, "bi_sector", 9000);
    bioSetField(k, bio, "bi_rw", REQ_WRITE);
    bioSetField(k, bio, "bi_end_io", endIo);
    bioSetDev(k, bio, q.id);
    return bio;
  });
  const ops = q.mqOps!;
  const inner = ops.queueRq;
  const bds: BlkMqQueueData[] = [];
  let kept: boolean | null = null;
  let runs = 0;
  ops.queueRq = (hctx, bd) => {
    bds.push(bd);
    if (bds.length === 1) {
      const { rq, list, last } = bd;
      const run = hctx.run;
      submitBioTry(k, extra); // onto the ctx, pending
      __blkMqRunHwQueueDispatch(hctx); // sends it
      runs = hctx.run - run;
      kept = bd.rq === rq && bd.list === list && bd.last === last;
    }
    return inner(hctx, bd);
  };
  writeAll(k, [0, 1000, 2000]);
  assert.is(seen.length, 4, "three requests and the one sent by the inner run, each once");
  assert.is(new Set(bds.map((bd, i) => (i === 1 ? "inner" : bd))).size, 2, "the outer run's calls share one bd");
  assert.is.not(bds[1], bds[0], "the inner run's bd is its own");
  assert.is(kept, true, "rq, list and last of the outer bd survived the inner run");
  // seen is recorded inside: the inner run's request first, then the outer run's three
  assert.equal(seen.map((s) => s.last), [true, false, false, true]);
  assert.equal(seen.map((s) => s.list === null), [true, true, false, false]);
  assert.is(runs, 1, "the inner run counted");
  finish(k);
});

test("blkMqQueueRqHost() outside a run of its hctx is a KernelBug", () => {
  const k = boot({ cpus: 2 });
  recording(k);
  const q = nullBlkDevices(k)[0].q!;
  const hctx = q.queueHwCtx[0];
  assert.throws(() => blkMqQueueRqHost(k, q.addr, hctx.addr, 0, 0), (e: unknown) => e instanceof KernelBug);
  assert.throws(() => blkMqQueueRqHost(k, q.addr, hctx.addr + 4, 0, 0), (e: unknown) => e instanceof KernelBug);
  inTask(k, () => nullBlkModule.exit(k), "rmmod");
  bioExit(k);
  assert.is(k.liveObjects(), 0);
});

test("the core's __blk_mq_run_hw_queue_dispatch() returns -22 for a null record and counts no run", () => {
  const k = boot({ cpus: 2 });
  recording(k);
  const q = nullBlkDevices(k)[0].q!;
  const hctx = q.queueHwCtx[0];
  const run = hctx.run;
  assert.is(k.core.__blk_mq_run_hw_queue_dispatch(0, hctx.addr, 0, 0, 100, 1e7, 0), -22);
  assert.is(k.core.__blk_mq_run_hw_queue_dispatch(q.addr, 0, 0, 0, 100, 1e7, 0), -22);
  assert.is(hctx.run, run);
  inTask(k, () => nullBlkModule.exit(k), "rmmod");
  bioExit(k);
  assert.is(k.liveObjects(), 0);
});

for (const submitQueues of ["1", "2"]) {
  const path = submitQueues === "1" ? "the core's dispatch run" : "the direct issue of a sync bio on several hw queues";
  test(`a queue_rq that throws (${path}): the submitter gets the driver's error, the log names the request's tag, and the request stays the driver's until it ends it`, () => {
    const k = boot({ cpus: 2 });
    modprobe(k, nullBlkModule, { nr_devices: "1", irqmode: "0", submit_queues: submitQueues });
    const q = nullBlkDevices(k)[0].q!;
    const bug = new Error("a driver bug in queue_rq");
    let held = 0;
    const ops = q.mqOps!;
    const inner = ops.queueRq;
    ops.queueRq = (hctx, bd) => {
      if (held !== 0) return inner(hctx, bd);
      held = bd.rq; // kept without being started: the driver's bug
      throw bug;
    };
    const endIo = putEndIo(k);
    let caught: unknown;
    k.sched.spawn("reader", function* () {
      const bio = yield* makeBio(k, q, 0, 0, endIo); // a read: sync, so it is sent inside the submission
      try {
        submitBioTry(k, bio);
      } catch (e) {
        caught = e;
      }
    }, { cpu: 0, bound: true });
    assert.is(k.run().kind, "done");
    assert.is(caught, bug, "the driver's own error, not a stand-in");
    const tag = k.dv.getInt32(held + RQ.TAG, true);
    assert.match(k.log.text(), new RegExp(`blk-mq: queue_rq of hctx \\d threw on tag ${tag}, which stays with the driver: Error: a driver bug in queue_rq`));
    assert.not.match(k.log.text(), /BUG|WARN/, "a driver's exception is not the machine's BUG");
    const inflight = () => readSysfs(k, "/sys/block/nullb0/inflight").trim().split(/\s+/).join(" ");
    assert.is(inflight(), "1 0", "its read is still in flight");
    // The driver ends it after all: the queue can go.
    inTask(k, function* () {
      blkMqStartRequest(k, held);
      blkMqEndRequest(k, held, 0);
    });
    assert.is(inflight(), "0 0");
    inTask(k, () => nullBlkModule.exit(k), "rmmod");
    bioExit(k);
    assert.is(k.liveObjects(), 0);
    k.assertClean();
  });
}

test.run();
