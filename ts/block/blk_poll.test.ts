// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Kernel } from "../kernel/kernel.ts";
import { GFP_NOIO } from "../kernel/mempool.ts";
import type { Sleepable } from "../kernel/sched.ts";
import { nullBlkModule } from "../drivers/null_blk.ts";
import { boot, dropDisk, inTask, makeDisk, readSysfs, writeSysfs } from "./_testkit.ts";
import { bioAddPage, bioAlloc, bioExit, bioField, bioPut, bioSetDev, bioSetField, fsBioSet, registerBioEndIo } from "./bio.ts";
import { BLK_QC_T_NONE, blkMqCompleteRequest, blkMqStartRequest, rqField, submitBio } from "./blk_mq_request.ts";
import { blkPoll, blkQcTToQueueNum, blkQcTToTag } from "./blk_poll.ts";
import { RQ } from "./request_record.ts";
import { QUEUE_FLAG_POLL, type RequestQueue } from "./request_queue.ts";
import { blkMqAllocTagSet, blkMqMapQueue, type BlkMqOps, BLK_MQ_RQ_QUEUE_OK } from "./tag_set.ts";

const PAGE = 0x100000;

/**
 * A polled driver: requests stay in flight until `poll(hctx, tag)` has been
 * called `misses` times for them, then the poll completes the request and
 * reports one completion.
 */
function polledDriver(k: Kernel, misses: number, pollRet?: number) {
  const st = { inflight: new Map<number, number>(), polls: [] as { queueNum: number; tag: number }[] };
  const ops: BlkMqOps = {
    queueRq: (_hctx, bd) => {
      blkMqStartRequest(k, bd.rq);
      st.inflight.set(rqField(k, bd.rq, RQ.TAG), bd.rq);
      return BLK_MQ_RQ_QUEUE_OK;
    },
    mapQueue: blkMqMapQueue,
    poll: (hctx, tag) => {
      st.polls.push({ queueNum: hctx.queueNum, tag });
      if (pollRet !== undefined) return pollRet;
      const rq = st.inflight.get(tag);
      if (rq === undefined || st.polls.length <= misses) return 0;
      st.inflight.delete(tag);
      blkMqCompleteRequest(k, rq, 0);
      return 1;
    },
  };
  return { ops, st };
}

function* makeBio(k: Kernel, q: RequestQueue, endIo: number): Sleepable<number> {
  const bio = yield* bioAlloc(fsBioSet(k), GFP_NOIO, 1);
  assert.is(bioAddPage(k, bio, PAGE, 4096, 0), 4096);
  bioSetField(k, bio, "bi_end_io", endIo);
  bioSetDev(k, bio, q.id);
  return bio;
}

function setup(misses: number, pollRet?: number) {
  const k = boot({ cpus: 2 });
  const { ops, st } = polledDriver(k, misses, pollRet);
  const set = blkMqAllocTagSet(k.block, { ops, nrHwQueues: 2, queueDepth: 8 });
  const disk = inTask(k, () => makeDisk(set, "poll0"));
  const done: number[] = [];
  const endIo = registerBioEndIo(k, "poll_test_end_io", (bio, kk) => {
    done.push(bioField(kk, bio, "bi_error"));
    bioPut(kk, bio);
  });
  return { k, set, disk, q: disk.queue!, st, done, endIo };
}

function teardown(s: ReturnType<typeof setup>): void {
  for (const rq of s.st.inflight.values()) blkMqCompleteRequest(s.k, rq, 0);
  inTask(s.k, () => dropDisk(s.disk, s.set));
  bioExit(s.k);
  assert.is(s.k.liveObjects(), 0);
  s.k.assertClean();
}

test("blkPoll() spins on the driver's poll with the cookie's hctx and tag, finds the completion, and bumps io_poll", () => {
  const s = setup(1);
  const { k, q, st, done } = s;
  assert.is(readSysfs(k, "/sys/block/poll0/queue/io_poll"), "0\n");
  assert.is(writeSysfs(k, "/sys/block/poll0/queue/io_poll", "1"), 1);
  assert.is(readSysfs(k, "/sys/block/poll0/queue/io_poll"), "1\n");
  const res = inTask(k, function* () {
    const cookie = yield* submitBio(k, yield* makeBio(k, q, s.endIo));
    assert.is(done.length, 0, "still in flight after submit");
    const found = yield* blkPoll(q, cookie);
    return { cookie, found, doneAfter: done.length };
  });
  assert.ok(res.cookie !== BLK_QC_T_NONE);
  assert.is(res.found, true);
  assert.is(res.doneAfter, 1, "completed by the poll, before blk_poll returned");
  const qn = blkQcTToQueueNum(res.cookie);
  assert.equal(st.polls, [{ queueNum: qn, tag: blkQcTToTag(res.cookie) }, { queueNum: qn, tag: blkQcTToTag(res.cookie) }], "one miss, one hit");
  assert.equal(done, [0]);
  assert.is(readSysfs(k, `/sys/block/poll0/mq/${qn}/io_poll`), "invoked=2, success=1\n");
  assert.is(readSysfs(k, `/sys/block/poll0/mq/${1 - qn}/io_poll`), "invoked=0, success=0\n");
  teardown(s);
});

test("blkPoll() returns false without calling poll when io_poll is off or the cookie is BLK_QC_T_NONE", () => {
  const s = setup(0);
  const { k, q, st } = s;
  const out = inTask(k, function* () {
    const cookie = yield* submitBio(k, yield* makeBio(k, q, s.endIo));
    const off = yield* blkPoll(q, cookie);
    q.setFlag(QUEUE_FLAG_POLL);
    const none = yield* blkPoll(q, BLK_QC_T_NONE);
    const on = yield* blkPoll(q, cookie);
    return [off, none, on];
  });
  assert.equal(out, [false, false, true]);
  assert.is(st.polls.length, 1, "only the last call polled");
  teardown(s);
});

test("blkPoll() gives up when poll keeps finding nothing (need_resched) and stops at once on an error", () => {
  for (const [ret, calls] of [[0, 2], [-5, 1]]) {
    const s = setup(0, ret);
    const { k, q, st } = s;
    assert.is(writeSysfs(k, "/sys/block/poll0/queue/io_poll", "1"), 1);
    const found = inTask(k, function* () {
      const cookie = yield* submitBio(k, yield* makeBio(k, q, s.endIo));
      const r = yield* blkPoll(q, cookie);
      // Finish it here: left in flight, the queue timer would re-arm forever (RESET_TIMER).
      for (const rq of st.inflight.values()) blkMqCompleteRequest(k, rq, 0);
      st.inflight.clear();
      return r;
    });
    assert.is(found, false);
    assert.is(st.polls.length, calls);
    const qn = st.polls[0].queueNum;
    assert.is(readSysfs(k, `/sys/block/poll0/mq/${qn}/io_poll`), `invoked=${calls}, success=0\n`);
    teardown(s);
  }
});

test("io_poll on null_blk (no ->poll in v4.4): the store fails with EINVAL and the flag stays off", () => {
  const k = boot({ cpus: 2 });
  inTask(k, () => nullBlkModule.init(k, { nr_devices: "1" }), "modprobe");
  assert.is(writeSysfs(k, "/sys/block/nullb0/queue/io_poll", "1"), "EINVAL");
  assert.is(readSysfs(k, "/sys/block/nullb0/queue/io_poll"), "0\n");
  assert.is(readSysfs(k, "/sys/block/nullb0/mq/0/io_poll"), "invoked=0, success=0\n");
  inTask(k, () => nullBlkModule.exit(k), "rmmod");
  bioExit(k);
  assert.is(k.liveObjects(), 0);
  k.assertClean();
});

test.run();
