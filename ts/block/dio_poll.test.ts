// SPDX-License-Identifier: GPL-2.0-only
/**
 * Tests for polled direct I/O: a dio of an IOCB_HIPRI iocb
 * (`dioAlloc({ hipri: true })`) polls the queue of its last bio for that
 * bio's cookie (`blk_poll()` in `dio_await_one()`, v4.4's commit
 * 05229beedd, seed 001) before it sleeps. The driver here completes a
 * request from its `->poll` once polled `misses + 1` times, or from an
 * "interrupt" (a timer) {@link IRQ_NS} after `queue_rq`, whichever comes
 * first, as a polled NVMe queue does. Each case runs on one hw queue (the
 * core's `dio_rw_nowait()` leaves the bio in flight) and on two (the TS
 * path sends it).
 *
 * @module
 */

import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Kernel } from "../kernel/kernel.ts";
import { Timer } from "../kernel/timer.ts";
import { boot, dropDisk, inTask, makeDisk, readSysfs, writeSysfs } from "./_testkit.ts";
import { BlockMemory } from "./_mem.ts";
import { bioExit } from "./bio.ts";
import { BLK_QC_T_NONE, blkMqCompleteRequest, blkMqStartRequest, rqField } from "./blk_mq_request.ts";
import { blkQcTToQueueNum, blkQcTToTag } from "./blk_poll.ts";
import { dioAlloc, dioFree, dioRw } from "./dio.ts";
import { RQ } from "./request_record.ts";
import { blkMqAllocTagSet, blkMqMapQueue, type BlkMqOps, BLK_MQ_RQ_QUEUE_OK } from "./tag_set.ts";

/** When the driver's interrupt ends a request nobody polled to completion. */
const IRQ_NS = 200_000;

/** The polled driver: per tag, its request, its interrupt timer and how often it was polled. */
function polledDriver(k: Kernel, misses: number) {
  const inflight = new Map<number, { rq: number; irq: Timer; polls: number }>();
  const st = { polls: 0, byPoll: 0, byIrq: 0 };
  const end = (tag: number): void => {
    const e = inflight.get(tag)!;
    inflight.delete(tag);
    k.timers.delTimer(e.irq);
    blkMqCompleteRequest(k, e.rq, 0);
  };
  const ops: BlkMqOps = {
    queueRq: (_hctx, bd) => {
      blkMqStartRequest(k, bd.rq);
      const tag = rqField(k, bd.rq, RQ.TAG);
      const irq = new Timer(() => {
        if (!inflight.has(tag)) return;
        st.byIrq++;
        end(tag);
      }, "polled_irq");
      inflight.set(tag, { rq: bd.rq, irq, polls: 0 });
      k.timers.hrtimerStart(irq, k.clock.now() + IRQ_NS, k.sched.smpProcessorId());
      return BLK_MQ_RQ_QUEUE_OK;
    },
    mapQueue: blkMqMapQueue,
    poll: (_hctx, tag) => {
      st.polls++;
      const e = inflight.get(tag);
      if (e === undefined || e.polls++ < misses) return 0;
      st.byPoll++;
      end(tag);
      return 1;
    },
  };
  return { ops, st };
}

/** One read of 4 KiB by a dio on a polled disk of `nrHwQueues` hw queues, with `io_poll` as given. */
function run(o: { nrHwQueues: number; hipri: boolean; ioPoll: boolean; misses: number }) {
  const k = boot({ cpus: 2 });
  const { ops, st } = polledDriver(k, o.misses);
  const set = blkMqAllocTagSet(k.block, { ops, nrHwQueues: o.nrHwQueues, queueDepth: 8 });
  const disk = inTask(k, () => makeDisk(set, "poll0"));
  const q = disk.queue!;
  assert.is(writeSysfs(k, "/sys/block/poll0/queue/io_poll", o.ioPoll ? "1" : "0"), 1);
  const mem = new BlockMemory(k.slab, k.kmemleak, "dio-poll-test");
  const buf = mem.allocPages(0);
  const dio = dioAlloc(k, { persistent: true, hipri: o.hipri });
  const out = inTask(k, function* () {
    const t0 = k.clock.now();
    const r = yield* dioRw(dio, q, false, 64, buf, 4096);
    return { r, ns: k.clock.now() - t0, cookie: dio.bioCookie };
  });
  const counters = Array.from({ length: o.nrHwQueues }, (_, i) => readSysfs(k, `/sys/block/poll0/mq/${i}/io_poll`));
  dioFree(dio);
  mem.freePages(buf);
  inTask(k, () => dropDisk(disk, set));
  bioExit(k);
  assert.is(k.liveObjects(), 0);
  k.assertClean();
  return { ...out, st, counters, log: k.log.text() };
}

for (const nrHwQueues of [1, 2]) {
  const path = nrHwQueues === 1 ? "the core's path" : "the TS path";
  test(`a HIPRI dio polls its bio to completion before the interrupt (${path}): one miss, one hit, io_poll counts both`, () => {
    const o = run({ nrHwQueues, hipri: true, ioPoll: true, misses: 1 });
    assert.is(o.r, 4096);
    assert.ok(o.ns < IRQ_NS, `ended by the poll, ${o.ns} ns after the submission`);
    assert.equal(o.st, { polls: 2, byPoll: 1, byIrq: 0 });
    assert.ok(o.cookie !== BLK_QC_T_NONE, "the dio kept the bio's cookie");
    const qn = blkQcTToQueueNum(o.cookie);
    assert.ok(qn < nrHwQueues && blkQcTToTag(o.cookie) < 8);
    assert.is(o.counters[qn], "invoked=2, success=1\n", "the cookie's hctx was polled");
    o.counters.forEach((c, i) => i !== qn && assert.is(c, "invoked=0, success=0\n"));
    assert.not.match(o.log, /BUG|WARN/);
  });

  test(`without HIPRI, or with io_poll off, the dio sleeps until the interrupt and nothing polls (${path})`, () => {
    for (const [hipri, ioPoll] of [[false, true], [true, false]]) {
      const o = run({ nrHwQueues, hipri, ioPoll, misses: 0 });
      assert.is(o.r, 4096);
      assert.ok(o.ns >= IRQ_NS, `hipri ${hipri}, io_poll ${ioPoll}: slept ${o.ns} ns`);
      assert.equal(o.st, { polls: 0, byPoll: 0, byIrq: 1 });
      for (const c of o.counters) assert.is(c, "invoked=0, success=0\n");
    }
  });

  test(`a poll that keeps missing gives up at need_resched, and the dio sleeps until the interrupt (${path})`, () => {
    const o = run({ nrHwQueues, hipri: true, ioPoll: true, misses: 100 });
    assert.is(o.r, 4096);
    assert.ok(o.ns >= IRQ_NS, `slept ${o.ns} ns`);
    assert.equal(o.st, { polls: 2, byPoll: 0, byIrq: 1 }, "one blk_poll() (a poll, cpu_relax, a poll) before the sleep, none after the wake-up");
    assert.is(o.counters[blkQcTToQueueNum(o.cookie)], "invoked=2, success=0\n");
  });
}

test.run();
