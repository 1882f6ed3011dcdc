// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Kernel } from "../kernel/kernel.ts";
import { nullBlkDevices, nullBlkModule } from "../drivers/null_blk.ts";
import { boot, inTask, submitWrites } from "./_testkit.ts";
import { bioExit, bioField, bioPut, REQ_SOFTBARRIER, registerBioEndIo } from "./bio.ts";
import { blkMqRequestStarted, blkMqStartRequest, rqField } from "./blk_mq_request.ts";
import { blkMqAddToRequeueList, blkMqCancelRequeueWork, blkMqKickRequeueList, blkMqRequeueRequest } from "./blk_mq_requeue.ts";
import { blkMqStopHwQueue } from "./hctx.ts";
import { RQ } from "./request_record.ts";
import type { RequestQueue } from "./request_queue.ts";
import { BLK_MQ_RQ_QUEUE_OK } from "./tag_set.ts";


interface Seen {
  bio: number;
  run: number;
  started: boolean;
  softbarrier: boolean;
}

function setup(k: Kernel): RequestQueue {
  inTask(k, () => nullBlkModule.init(k, { nr_devices: "1", irqmode: "0" }), "modprobe");
  return nullBlkDevices(k)[0].q!;
}

function finish(k: Kernel): void {
  inTask(k, () => nullBlkModule.exit(k), "rmmod");
  bioExit(k);
  k.assertClean();
}

/** Async 4 KiB writes at `sectors` (no merges) from one task on CPU 0; `ended` collects each bio once. */
function writeAll(k: Kernel, q: RequestQueue, sectors: number[], ended: number[]): number[] {
  const endIo = registerBioEndIo(k, "requeue_test_end_io", (bio, kk) => {
    assert.is(bioField(kk, bio, "bi_error"), 0);
    ended.push(bio);
    bioPut(kk, bio);
  });
  return submitWrites(k, q, sectors, endIo);
}

/**
 * Wraps queue_rq: records each call; `first` handles a bio's first attempt
 * (true: done with it). A held request is not started: its timeout would
 * keep the machine busy.
 */
function wrap(k: Kernel, q: RequestQueue, first: (rq: number) => boolean): Seen[] {
  const ops = q.mqOps!;
  const orig = ops.queueRq;
  const seen: Seen[] = [];
  const tried = new Set<number>();
  ops.queueRq = (hctx, bd) => {
    const bio = rqField(k, bd.rq, RQ.BIO);
    const flags = rqField(k, bd.rq, RQ.CMD_FLAGS);
    seen.push({ bio, run: hctx.run, started: blkMqRequestStarted(k, bd.rq), softbarrier: (flags & REQ_SOFTBARRIER) !== 0 });
    if (!tried.has(bio)) {
      tried.add(bio);
      if (first(bd.rq)) return BLK_MQ_RQ_QUEUE_OK;
    }
    return orig(hctx, bd);
  };
  return seen;
}

test("blkMqRequeueRequest() + kick: a request requeued on its first attempt goes out again, unstarted, and its bio ends once", () => {
  const k = boot({ cpus: 2 });
  const q = setup(k);
  const seen = wrap(k, q, (rq) => {
    blkMqStartRequest(k, rq);
    blkMqRequeueRequest(k, rq);
    assert.is(blkMqRequestStarted(k, rq), false, "STARTED cleared");
    assert.ok((rqField(k, rq, RQ.CMD_FLAGS) & REQ_SOFTBARRIER) !== 0, "marked REQ_SOFTBARRIER on the list");
    assert.equal(q.requeueList, [rq]);
    blkMqKickRequeueList(q);
    return true;
  });
  const ended: number[] = [];
  const bios = writeAll(k, q, [0], ended);
  assert.equal(seen.map((s) => s.bio), [bios[0], bios[0]], "queue_rq twice for the one request");
  assert.ok(seen[1].run > seen[0].run, "the second time from a later run (the requeue work's start_hw_queues)");
  assert.equal([seen[1].started, seen[1].softbarrier], [false, false], "unstarted, and the mark is gone");
  assert.equal(ended, bios);
  assert.equal(q.requeueList, []);
  finish(k);
});

test("blk_mq_requeue_work(): REQ_SOFTBARRIER requests go to the ctx head (the last one first), the others to the tail", () => {
  const k = boot({ cpus: 2 });
  const q = setup(k);
  const held: number[] = [];
  const seen = wrap(k, q, (rq) => {
    held.push(rq);
    return true;
  });
  const ended: number[] = [];
  const [a, b, c] = writeAll(k, q, [0, 1000, 2000], ended);
  assert.is(held.length, 3, "the driver holds all three");
  assert.equal(ended, []);
  const [ra, rb, rc] = held;
  blkMqAddToRequeueList(k, ra, false);
  blkMqRequeueRequest(k, rb);
  blkMqRequeueRequest(k, rc);
  assert.equal(q.requeueList, [rc, rb, ra]);
  blkMqKickRequeueList(q);
  assert.is(k.run().kind, "done");
  assert.equal(seen.slice(3).map((s) => s.bio), [b, c, a], "b then c (each inserted at the head in list order), a at the tail");
  assert.equal(ended, [b, c, a]);
  finish(k);
});

test("the requeue work restarts a stopped hardware queue (blk_mq_start_hw_queues)", () => {
  const k = boot({ cpus: 2 });
  const q = setup(k);
  const hctx = q.queueHwCtx[0];
  const seen = wrap(k, q, (rq) => {
    blkMqStartRequest(k, rq);
    blkMqStopHwQueue(hctx);
    blkMqRequeueRequest(k, rq);
    blkMqKickRequeueList(q);
    return true;
  });
  const ended: number[] = [];
  const bios = writeAll(k, q, [0], ended);
  assert.is(seen.length, 2);
  assert.is(hctx.stopped, false);
  assert.equal(ended, bios);
  finish(k);
});

test("blkMqCancelRequeueWork() takes back a kick; the list waits for the next one", () => {
  const k = boot({ cpus: 2 });
  const q = setup(k);
  let held = 0;
  const seen = wrap(k, q, (rq) => {
    held = rq;
    return true;
  });
  const ended: number[] = [];
  const bios = writeAll(k, q, [0], ended);
  inTask(k, function* () {
    blkMqRequeueRequest(k, held);
    blkMqKickRequeueList(q);
    yield* blkMqCancelRequeueWork(q);
  });
  assert.is(seen.length, 1, "cancelled before it ran");
  assert.equal(q.requeueList, [held]);
  blkMqKickRequeueList(q);
  assert.is(k.run().kind, "done");
  assert.is(seen.length, 2);
  assert.equal(ended, bios);
  finish(k);
});

test.run();
