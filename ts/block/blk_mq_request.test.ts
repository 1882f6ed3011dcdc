// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Kernel } from "../kernel/kernel.ts";
import { GFP_NOIO } from "../kernel/mempool.ts";
import { nullBlkDevices, nullBlkModule } from "../drivers/null_blk.ts";
import { boot, inTask, makeBio, readSysfs, submitWrites, writeSizes, writeSysfs } from "./_testkit.ts";
import { bioAlloc, bioExit, bioField, bioPut, bioSetDev, bioSetField, fsBioSet, REQ_WRITE, registerBioEndIo } from "./bio.ts";
import { BLK_QC_T_NONE, SUBMIT_WOULD_SLEEP, submitBio, submitBioTry } from "./blk_mq_request.ts";
import { blkMqFreezeQueue, blkMqUnfreezeQueue, blkSetQueueDying, type RequestQueue } from "./request_queue.ts";
import { BLK_MQ_RQ_QUEUE_BUSY, BLK_MQ_RQ_QUEUE_ERROR, BLK_MQ_RQ_QUEUE_OK } from "./tag_set.ts";
import { blkMqRequestStarted, blkMqStartRequest, rqField } from "./blk_mq_request.ts";
import { RQ } from "./request_record.ts";
import { blkFinishPlug, blkStartPlug } from "./blk_plug.ts";


interface Done {
  bio: number;
  error: number;
  cpu: number;
  size: number;
  sector: number;
}

/** modprobe null_blk with `params`; the devices. */
function load(k: Kernel, params: Record<string, string>): void {
  inTask(k, () => nullBlkModule.init(k, params), "modprobe");
}

function unload(k: Kernel): void {
  inTask(k, () => nullBlkModule.exit(k), "rmmod");
}

/** An end_io that records each completion and puts the bio. */
function recorder(k: Kernel, done: Done[]): number {
  return registerBioEndIo(k, "test_end_io", (bio, kk) => {
    done.push({ bio, error: bioField(kk, bio, "bi_error"), cpu: kk.cpus.current, size: bioField(kk, bio, "bi_size"), sector: bioField(kk, bio, "bi_sector") });
    bioPut(kk, bio);
  });
}

/** A machine of `cpus` CPUs with null_blk loaded with `params`: its first queue and a recording end_io. */
function nullbWithRecorder(cpus: number, params: Record<string, string>): { k: Kernel; q: RequestQueue; done: Done[]; endIo: number } {
  const k = boot({ cpus });
  load(k, params);
  const done: Done[] = [];
  return { k, q: nullBlkDevices(k)[0].q!, done, endIo: recorder(k, done) };
}

function finish(k: Kernel): void {
  unload(k);
  bioExit(k);
  k.assertClean();
}

test("a sync 4 KiB read on nullb0 (irqmode=0) completes once with error 0, and the counters add up after 5 I/Os", () => {
  const { k, q, done, endIo } = nullbWithRecorder(4, { nr_devices: "1", irqmode: "0" });
  let cpu = -1;
  const cookies = inTask(k, function* () {
    const out: number[] = [];
    cpu = k.cpus.current;
    for (let i = 0; i < 5; i++) {
      out.push(yield* submitBio(k, yield* makeBio(k, q, 8 * i, 0, endIo)));
      assert.is(done.length, i + 1, "completed inside submit_bio (irqmode=0, sync)");
    }
    return out;
  });
  assert.is(done.length, 5);
  for (const d of done) {
    assert.is(d.error, 0);
    assert.is(d.size, 0, "the bio was advanced over all its bytes");
    assert.is(d.cpu, cpu);
  }
  assert.equal(done.map((d) => d.sector), [8, 16, 24, 32, 40], "each bio once, in order");
  assert.ok(cookies.every((c) => c !== BLK_QC_T_NONE && c >>> 16 === 0 && c < 64));
  assert.is(readSysfs(k, "/sys/block/nullb0/mq/0/queued"), "5\n");
  assert.is(readSysfs(k, "/sys/block/nullb0/mq/0/run"), "5\n");
  assert.is(readSysfs(k, "/sys/block/nullb0/mq/0/dispatched"), "       0\t0\n       1\t5\n       2\t0\n       4\t0\n       8\t0\n      16\t0\n      32\t0\n      64\t0\n     128\t0\n     256\t0\n");
  assert.is(readSysfs(k, `/sys/block/nullb0/mq/0/cpu${cpu}/dispatched`), "5 0\n");
  assert.is(readSysfs(k, `/sys/block/nullb0/mq/0/cpu${cpu}/completed`), "5 0\n");
  assert.is(readSysfs(k, "/sys/block/nullb0/inflight"), "       0        0\n");
  const stat = readSysfs(k, "/sys/block/nullb0/stat").trim().split(/\s+/).map(Number);
  assert.equal([stat[0], stat[2], stat[4], stat[6], stat[8]], [5, 40, 0, 0, 0]);
  assert.is(q.queueHwCtx[0].tags!.tags.bitmap().used, 0, "every tag was put back");
  finish(k);
});

test("irqmode=1: rq_affinity=2 ends each bio on its submitting CPU; rq_affinity=1 on the CPU that ran queue_rq", () => {
  for (const aff of ["2", "1"]) {
    const k = boot({ cpus: 4 });
    load(k, { nr_devices: "1", irqmode: "1", submit_queues: "2" });
    const q = nullBlkDevices(k)[0].q!;
    assert.is(q.nrHwQueues, 2);
    assert.is(writeSysfs(k, "/sys/block/nullb0/queue/rq_affinity", aff), aff.length);
    const ops = q.mqOps!;
    const orig = ops.queueRq;
    const issuedOn = new Map<number, number>();
    ops.queueRq = (hctx, bd) => {
      issuedOn.set(rqField(k, bd.rq, RQ.BIO), k.cpus.current);
      return orig(hctx, bd);
    };
    const done: Done[] = [];
    const endIo = recorder(k, done);
    const submittedOn = new Map<number, number>();
    // Async writes: each hw queue runs from kblockd on the first CPU of its cpumask (blk_mq_hctx_next_cpu),
    // so the second CPU of each hctx has its queue_rq run elsewhere.
    for (let cpu = 0; cpu < 4; cpu++) {
      k.sched.spawn(`submit${cpu}`, function* () {
        const bio = yield* makeBio(k, q, 8 * cpu, REQ_WRITE, endIo);
        submittedOn.set(bio, k.cpus.current);
        yield* submitBio(k, bio);
      }, { cpu, bound: true });
    }
    assert.is(k.run().kind, "done");
    assert.is(done.length, 4);
    assert.ok([...submittedOn.keys()].some((b) => issuedOn.get(b) !== submittedOn.get(b)), "some queue_rq ran off the submitting CPU");
    for (const d of done) {
      assert.is(d.error, 0);
      assert.is(d.cpu, aff === "2" ? submittedOn.get(d.bio) : issuedOn.get(d.bio));
    }
    for (let cpu = 0; cpu < 4; cpu++) {
      const dir = `/sys/block/nullb0/mq/${q.mqMap![cpu]}/cpu${cpu}`;
      assert.is(readSysfs(k, `${dir}/dispatched`), "0 1\n");
      assert.is(readSysfs(k, `${dir}/completed`), "0 1\n");
    }
    ops.queueRq = orig;
    finish(k);
  }
});

test("out of tags: 5 submitters on a depth-2 device all complete (waiters are woken)", () => {
  const k = boot({ cpus: 4 });
  load(k, { nr_devices: "1", irqmode: "2", hw_queue_depth: "2", completion_nsec: "100000" });
  const q = nullBlkDevices(k)[0].q!;
  const ops = q.mqOps!;
  const orig = ops.queueRq;
  let inflight = 0;
  let maxInflight = 0;
  ops.queueRq = (hctx, bd) => {
    maxInflight = Math.max(maxInflight, ++inflight);
    return orig(hctx, bd);
  };
  const done: Done[] = [];
  const endIo = registerBioEndIo(k, "test_end_io_tags", (bio, kk) => {
    inflight--;
    done.push({ bio, error: bioField(kk, bio, "bi_error"), cpu: kk.cpus.current, size: 0, sector: 0 });
    bioPut(kk, bio);
  });
  for (let i = 0; i < 5; i++) {
    k.sched.spawn(`submit${i}`, function* () {
      yield* submitBio(k, yield* makeBio(k, q, 8 * i, 0, endIo));
    });
  }
  const r = k.run();
  assert.is(r.kind, "done", k.log.text());
  assert.is(done.length, 5);
  assert.is(maxInflight, 2, "never more requests than tags");
  assert.ok(k.clock.now() >= 3 * 100000, "three waves of completions: submitters waited for tags");
  ops.queueRq = orig;
  assert.is(readSysfs(k, "/sys/block/nullb0/mq/0/queued"), "5\n");
  assert.is(readSysfs(k, "/sys/block/nullb0/inflight"), "       0        0\n");
  finish(k);
});

test("a frozen queue holds submitters in blk_queue_enter until it is unfrozen", () => {
  const { k, q, done, endIo } = nullbWithRecorder(2, { nr_devices: "1", irqmode: "0" });
  inTask(k, () => blkMqFreezeQueue(q));
  let entered = false;
  const t = k.sched.spawn("submit", function* () {
    const bio = yield* makeBio(k, q, 0, 0, endIo);
    entered = true;
    yield* submitBio(k, bio);
  });
  k.run();
  assert.ok(entered);
  assert.is(done.length, 0, "the submitter sleeps in blk_queue_enter while frozen");
  assert.ok(k.sched.tasks().includes(t));
  inTask(k, () => blkMqUnfreezeQueue(q));
  assert.is(done.length, 1);
  assert.is(done[0].error, 0);
  finish(k);
});

test("submitBioTry() returns SUBMIT_WOULD_SLEEP on a frozen queue, leaving queue and bio untouched; submitBio() then waits", () => {
  const { k, q, done, endIo } = nullbWithRecorder(2, { nr_devices: "1", irqmode: "0" });
  const first = inTask(k, function* () {
    return submitBioTry(k, yield* makeBio(k, q, 0, 0, endIo));
  });
  assert.ok(first >= 0 && first !== SUBMIT_WOULD_SLEEP, "a free queue: the cookie");
  assert.is(done.length, 1, "completed inside the call (irqmode=0)");
  inTask(k, () => blkMqFreezeQueue(q));
  const refs = q.qUsageCounter.count;
  k.sched.spawn("submit", function* () {
    const bio = yield* makeBio(k, q, 8, 0, endIo);
    assert.is(submitBioTry(k, bio), SUBMIT_WOULD_SLEEP);
    assert.is(q.qUsageCounter.count, refs, "no queue reference kept");
    assert.is(bioField(k, bio, "bi_error"), 0);
    assert.is(done.length, 1, "not ended");
    yield* submitBio(k, bio);
  });
  k.run();
  assert.is(done.length, 1, "the sleeping path waits in blk_queue_enter");
  inTask(k, () => blkMqUnfreezeQueue(q));
  assert.is(done.length, 2);
  assert.is(done[1].error, 0);
  assert.is(readSysfs(k, "/sys/block/nullb0/mq/0/queued"), "2\n", "each bio made one request");
  finish(k);
});

test("submitBioTry() returns SUBMIT_WOULD_SLEEP when no tag is free, with tags and queue references unchanged", () => {
  const { k, q, done, endIo } = nullbWithRecorder(1, { nr_devices: "1", irqmode: "2", hw_queue_depth: "1", completion_nsec: "100000" });
  const tags = q.queueHwCtx[0].tags!.tags;
  k.sched.spawn("submit", function* () {
    const a = yield* makeBio(k, q, 0, 0, endIo);
    const b = yield* makeBio(k, q, 64, 0, endIo);
    assert.ok(submitBioTry(k, a) >= 0);
    assert.is(tags.bitmap().used, 1);
    const refs = q.qUsageCounter.count;
    assert.is(submitBioTry(k, b), SUBMIT_WOULD_SLEEP);
    assert.is(tags.bitmap().used, 1, "no tag taken");
    assert.is(q.qUsageCounter.count, refs, "no queue reference kept");
    assert.is(q.queueHwCtx[0].queued, 1, "no request made");
    yield* submitBio(k, b); // sleeps in bt_get until the first completes
    assert.ok(k.clock.now() >= 100000, "it waited for the first request's tag");
  });
  assert.is(k.run().kind, "done", k.log.text());
  assert.equal(done.map((d) => [d.sector, d.error]), [[8, 0], [72, 0]], "both ended, in order (bi_sector advanced over the 8 sectors)");
  assert.is(readSysfs(k, "/sys/block/nullb0/mq/0/queued"), "2\n");
  finish(k);
});

test("a dying queue fails the bio with -EIO", () => {
  const { k, q, done, endIo } = nullbWithRecorder(2, { nr_devices: "1", irqmode: "0" });
  inTask(k, function* () {
    const bio = yield* makeBio(k, q, 0, 0, endIo);
    yield* blkMqFreezeQueue(q);
    blkSetQueueDying(q);
    assert.is(yield* submitBio(k, bio), BLK_QC_T_NONE);
  });
  assert.is(done.length, 1);
  assert.is(done[0].error, -5);
  finish(k);
});

test("a bio without data that is no flush ends with -EINVAL; plugged after a read of the sectors before it, the read still completes (fuzzer find)", () => {
  const { k, q, done, endIo } = nullbWithRecorder(2, { nr_devices: "1", irqmode: "0" });
  inTask(k, function* () {
    const task = k.sched.current;
    blkStartPlug(k, task);
    yield* submitBio(k, yield* makeBio(k, q, 128, 0, endIo));
    const empty = yield* bioAlloc(fsBioSet(k), GFP_NOIO, 0);
    bioSetField(k, empty, "bi_sector", 136);
    bioSetField(k, empty, "bi_end_io", endIo);
    bioSetDev(k, empty, q.id);
    assert.is(yield* submitBio(k, empty), BLK_QC_T_NONE);
    blkFinishPlug(task);
  });
  assert.equal(done.map((d) => [d.sector, d.error]), [[136, -22], [136, 0]], "the empty bio at once; the read (advanced to its end) after the plug");
  finish(k);
});

for (const submitQueues of [1, 2]) {
  const path = submitQueues === 1 ? "blk_sq_make_request: dispatch" : "blk_mq_make_request: direct issue";
  test(`${path}: driver BUSY requeues onto hctx->dispatch and the async rerun issues it; ERROR ends the bio with -EIO`, () => {
    const k = boot({ cpus: 2 });
    load(k, { nr_devices: "1", irqmode: "0", submit_queues: String(submitQueues) });
    const q = nullBlkDevices(k)[0].q!;
    const ops = q.mqOps!;
    const orig = ops.queueRq;
    const answers = [BLK_MQ_RQ_QUEUE_BUSY, BLK_MQ_RQ_QUEUE_OK, BLK_MQ_RQ_QUEUE_ERROR];
    const calls: { run: number; last: boolean; started: boolean }[] = [];
    ops.queueRq = (hctx, bd) => {
      const a = answers[calls.length];
      calls.push({ run: hctx.run, last: bd.last, started: blkMqRequestStarted(k, bd.rq) });
      if (a === BLK_MQ_RQ_QUEUE_OK) return orig(hctx, bd);
      blkMqStartRequest(k, bd.rq);
      return a;
    };
    const done: Done[] = [];
    const endIo = recorder(k, done);
    let cpu = -1;
    const cookie = inTask(k, function* () {
      cpu = k.cpus.current;
      const c = yield* submitBio(k, yield* makeBio(k, q, 0, 0, endIo));
      assert.is(done.length, 0, "BUSY: not completed yet");
      const hctx = q.queueHwCtx[q.mqMap![cpu]];
      // sq: back on hctx->dispatch; mq direct issue: inserted into the ctx, marked pending.
      assert.is(hctx.dispatch.length + q.queueCtx[cpu].rqList.length, 1);
      return c;
    });
    const hctxNum = q.mqMap![cpu];
    assert.is(cookie >>> 16, hctxNum, "cookie = tag | queue_num << 16");
    assert.is(calls.length, 2, "BUSY, then the async rerun: OK");
    assert.is(calls[1].started, false, "STARTED was cleared on requeue");
    assert.is(calls[1].last, true);
    assert.is(done.length, 1);
    assert.is(done[0].error, 0);
    assert.is(q.queueHwCtx[hctxNum].dispatch.length, 0);
    const cookie2 = inTask(k, function* () {
      return yield* submitBio(k, yield* makeBio(k, q, 8, 0, endIo));
    });
    assert.is(calls.length, 3);
    assert.is(done.length, 2);
    assert.is(done[1].error, -5);
    if (submitQueues === 2) assert.is(cookie2, BLK_QC_T_NONE, "a direct issue that failed has no cookie");
    assert.ok(k.log.text().includes("blk_update_request: I/O error, dev nullb0, sector 8"));
    ops.queueRq = orig;
    assert.is(readSysfs(k, "/sys/block/nullb0/inflight"), "       0        0\n");
    const stat = readSysfs(k, "/sys/block/nullb0/stat").trim().split(/\s+/).map(Number);
    assert.equal([stat[0], stat[2]], [2, 16], "both reads accounted, the failed one too");
    finish(k);
  });
}

test("async writes merge into ctx requests at the back and the front; every bio still ends once", () => {
  const { k, q, done, endIo } = nullbWithRecorder(2, { nr_devices: "1", irqmode: "0" });
  // 0: new; 8: back merge into [0,8); 24: new; 16: front merge into [24,32) (the newest request is tried first).
  const sizes = writeSizes(k, q, [0, 8, 24, 16], endIo);
  assert.equal(sizes, [8192, 8192], "two requests of two bios each");
  assert.is(done.length, 4);
  assert.ok(done.every((d) => d.error === 0 && d.size === 0));
  assert.is(readSysfs(k, "/sys/block/nullb0/mq/0/cpu0/merged"), "2\n");
  assert.is(readSysfs(k, "/sys/block/nullb0/mq/0/cpu0/dispatched"), "0 4\n", "a request was allocated for each bio");
  assert.is(readSysfs(k, "/sys/block/nullb0/mq/0/cpu0/completed"), "0 2\n");
  assert.is(readSysfs(k, "/sys/block/nullb0/mq/0/queued"), "4\n");
  const stat = readSysfs(k, "/sys/block/nullb0/stat").trim().split(/\s+/).map(Number);
  assert.equal(stat.slice(4, 9), [2, 2, 32, 0, 0], "write ios, merges, sectors, ticks, in_flight");
  assert.is(q.queueHwCtx[0].tags!.tags.bitmap().used, 0);
  finish(k);
});

test("blk_mq_attempt_merge() looks at the newest 8 ctx requests only", () => {
  const { k, q, done, endIo } = nullbWithRecorder(2, { nr_devices: "1", irqmode: "0" });
  // Nine requests at 0, 100, ..., 800; 108 joins the 8th newest ([100,108)); 8 would join the 9th: no merge.
  submitWrites(k, q, [0, 100, 200, 300, 400, 500, 600, 700, 800, 108, 8], endIo);
  assert.is(done.length, 11);
  assert.is(readSysfs(k, "/sys/block/nullb0/mq/0/cpu0/merged"), "1\n");
  assert.is(readSysfs(k, "/sys/block/nullb0/mq/0/cpu0/completed"), "0 10\n");
  finish(k);
});

test("no merges with nomerges=2, across data directions, or past max_sectors_kb", () => {
  const { k, q, done, endIo } = nullbWithRecorder(2, { nr_devices: "1", irqmode: "0" });
  assert.is(writeSysfs(k, "/sys/block/nullb0/queue/nomerges", "2"), 1);
  submitWrites(k, q, [0, 8], endIo);
  assert.is(readSysfs(k, "/sys/block/nullb0/mq/0/cpu0/merged"), "0\n");
  assert.is(writeSysfs(k, "/sys/block/nullb0/queue/nomerges", "0"), 1);
  // A read after a write at the next sector: different direction (the read is sync, so it goes to the ctx on sq too).
  k.sched.spawn("mixed", function* () {
    const w = yield* makeBio(k, q, 1000, REQ_WRITE, endIo);
    const r = yield* makeBio(k, q, 1008, 0, endIo);
    yield* submitBio(k, w);
    yield* submitBio(k, r);
  }, { cpu: 0, bound: true });
  assert.is(k.run().kind, "done");
  assert.is(readSysfs(k, "/sys/block/nullb0/mq/0/cpu0/merged"), "0\n");
  // max_sectors 8 (4 KiB): two 4 KiB bios cannot share a request.
  assert.is(writeSysfs(k, "/sys/block/nullb0/queue/max_sectors_kb", "4"), 1);
  submitWrites(k, q, [2000, 2008], endIo);
  assert.is(readSysfs(k, "/sys/block/nullb0/mq/0/cpu0/merged"), "0\n");
  assert.is(writeSysfs(k, "/sys/block/nullb0/queue/max_sectors_kb", "127"), 3);
  submitWrites(k, q, [3000, 3008], endIo);
  assert.is(readSysfs(k, "/sys/block/nullb0/mq/0/cpu0/merged"), "1\n", "the control: merging works again");
  assert.is(done.length, 8);
  finish(k);
});

test.run();
