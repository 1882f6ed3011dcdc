// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import { WORK_CPU_UNBOUND } from "../kernel/workqueue.ts";
import { KernelError } from "../errors.ts";
import { FAILSLAB } from "../kernel/slab.ts";
import { boot, inTask, makeSet } from "./_testkit.ts";
import { blkMqInitQueue, blkMqRqTimer } from "./blk_mq.ts";
import {
  BLK_MQ_HW_CTX_SIZE,
  BLK_MQ_S_TAG_ACTIVE,
  blkMqHctxClearPending,
  blkMqHctxHasPending,
  blkMqHctxMarkPending,
  blkMqHctxNextCpu,
  blkMqHwQueueMapped,
  blkMqRunHwQueue,
  blkMqRunHwQueues,
} from "./hctx.ts";
import { blkCleanupQueue, type RequestQueue } from "./request_queue.ts";
import { blkMqFreeTagSet, type BlkMqTagSet } from "./tag_set.ts";
import { BLK_MQ_CTX_SIZE } from "./ctx.ts";

function withQueue(cpus: number, nrHwQueues: number, body: (q: RequestQueue, set: BlkMqTagSet) => void): void {
  const k = boot({ cpus });
  const set = makeSet(k, { nrHwQueues });
  const q = inTask(k, () => blkMqInitQueue(set));
  body(q, set);
  inTask(k, () => blkCleanupQueue(q));
  blkMqFreeTagSet(set);
  k.run();
  k.assertClean();
}

test("the ctx and hctx records have the core's sizes", () => {
  const k = boot({ cpus: 1 });
  assert.is(k.core.blk_mq_ctx_struct_size(), BLK_MQ_CTX_SIZE);
  assert.is(k.core.blk_mq_hw_ctx_struct_size(), BLK_MQ_HW_CTX_SIZE);
  k.assertClean();
});

test("the records are freed with the queue", () => {
  const k = boot({ cpus: 4 });
  const set = makeSet(k, { nrHwQueues: 2 });
  const before = k.slab.liveObjects().length;
  const q = inTask(k, () => blkMqInitQueue(set));
  const addrs = [q.queueCtx[0].addr, ...q.queueHwCtx.map((h) => h.addr)];
  const live = () => k.slab.liveObjects().filter((o) => addrs.includes(o.addr as number)).length;
  assert.is(live(), 3, "the ctx block and two hctx records");
  inTask(k, () => blkCleanupQueue(q));
  k.run();
  assert.is(live(), 0);
  assert.is(k.slab.liveObjects().length, before);
  blkMqFreeTagSet(set);
  k.run();
  k.assertClean();
});

test("a slab failure anywhere in the queue init (ctx block, hctx records, ctxs[], ctx_map) fails it with ENOMEM and nothing left", () => {
  let failed = 0;
  for (let nth = 1; nth <= 24; nth++) {
    const k = boot({ cpus: 4 });
    const set = makeSet(k, { nrHwQueues: 2 });
    const before = k.slab.liveObjects().length;
    k.slab.failNth(FAILSLAB, nth);
    let q: RequestQueue | null = null;
    try {
      q = inTask(k, () => blkMqInitQueue(set));
    } catch (e) {
      if (!(e instanceof KernelError && e.code === "ENOMEM")) throw e;
      failed++;
    }
    k.slab.failNth(FAILSLAB, 0);
    if (q !== null) inTask(k, () => blkCleanupQueue(q!));
    k.run();
    assert.is(k.slab.liveObjects().length, before, `nth=${nth}`);
    blkMqFreeTagSet(set);
    k.run();
    k.assertClean();
  }
  assert.ok(failed >= 5, `the init's allocations were hit (${failed})`);
});

test("a slab failure in the queue record, q_usage_counter's, the ctx block, the hctx address array or mq_map fails blkMqInitQueue() with ENOMEM and nothing left", () => {
  for (let nth = 1; nth <= 5; nth++) {
    const k = boot({ cpus: 4 });
    const set = makeSet(k, { nrHwQueues: 2 });
    const before = k.slab.liveObjects().length;
    const ids = k.block.nrQueueIds;
    k.slab.failNth(FAILSLAB, nth);
    assert.throws(() => inTask(k, () => blkMqInitQueue(set)), (e: unknown) => e instanceof KernelError && e.code === "ENOMEM", `nth=${nth}`);
    k.slab.failNth(FAILSLAB, 0);
    k.run();
    assert.is(k.slab.liveObjects().length, before, `nth=${nth}`);
    assert.is(k.block.nrQueueIds, ids, `nth=${nth}: the queue id is back`);
    blkMqFreeTagSet(set);
    k.run();
    k.assertClean();
  }
});

test("ctx_map marks, clears and reports pending ctxs by index_hw", () => {
  withQueue(4, 1, (q) => {
    const h = q.queueHwCtx[0];
    assert.is(h.ctxMap!.size, 1);
    assert.not.ok(blkMqHctxHasPending(h));
    blkMqHctxMarkPending(h, q.queueCtx[2]);
    assert.is(h.ctxMap!.words[0], 1 << 2);
    assert.ok(blkMqHctxHasPending(h));
    blkMqHctxClearPending(h, q.queueCtx[2]);
    assert.not.ok(blkMqHctxHasPending(h));
  });
});

test("blkMqHctxNextCpu() is WORK_CPU_UNBOUND with one hw queue, else round-robin every 8 calls", () => {
  withQueue(4, 1, (q) => assert.is(blkMqHctxNextCpu(q.queueHwCtx[0]), WORK_CPU_UNBOUND));
  withQueue(4, 2, (q) => {
    const h = q.queueHwCtx[0];
    assert.equal(h.cpumask.toArray(), [0, 1]);
    const seq = Array.from({ length: 17 }, () => blkMqHctxNextCpu(h));
    assert.equal(seq, [0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0]);
  });
});

test("running a hw queue calls the I/O path's dispatch: inline on a mapped CPU, else on kblockd; never when stopped", () => {
  const k = boot({ cpus: 2 });
  const set = makeSet(k, { nrHwQueues: 2 });
  const ran: string[] = [];
  inTask(k, function* () {
    const q = yield* blkMqInitQueue(set);
    q.dispatchHook = (h) => ran.push(`hctx${h.queueNum} on cpu${k.sched.smpProcessorId()}`);
    k.cpus.current = 0;
    blkMqRunHwQueue(q.queueHwCtx[0], false);
    blkMqRunHwQueue(q.queueHwCtx[1], false); // CPU 0 is not in hctx 1's mask: kblockd on CPU 1
    q.queueHwCtx[0].setStopped(true);
    blkMqRunHwQueue(q.queueHwCtx[0], true);
    q.queueHwCtx[0].setStopped(false);
    blkMqRunHwQueues(q, true); // nothing pending: nothing runs
    yield* k.workqueues.flushDelayedWork(q.queueHwCtx[1].runWork);
    yield* blkCleanupQueue(q);
  });
  assert.equal(ran, ["hctx0 on cpu0", "hctx1 on cpu1"]);
  blkMqFreeTagSet(set);
  k.run();
  k.assertClean();
});

test("an hctx's tag state follows its map: shared flag, TAG_ACTIVE, nr_active, idled by the timer", () => {
  withQueue(2, 2, (q) => {
    const h = q.queueHwCtx[0];
    assert.ok(blkMqHwQueueMapped(h));
    h.setShared(true);
    const th = h.tagHctx!;
    assert.ok(th.shared);
    const tag = h.tags!.tags.getTag(0, { hctx: th });
    assert.is(h.nrActive, 1);
    assert.is(h.state & (1 << BLK_MQ_S_TAG_ACTIVE), 1 << BLK_MQ_S_TAG_ACTIVE);
    assert.is(h.tags!.tags.activeQueues, 1);
    h.tags!.tags.putTag(0, tag);
    assert.is(h.nrActive, 0);
    blkMqRqTimer(q);
    assert.is(h.state, 0);
    assert.is(h.tags!.tags.activeQueues, 0);
    h.setShared(false);
  });
});

test("every possible CPU has a ctx; ctxs of offline CPUs are attached nowhere", () => {
  const k = boot({ cpus: 4 });
  const set = makeSet(k, { nrHwQueues: 2 });
  inTask(k, () => k.hotplug.cpuDown(1));
  inTask(k, function* () {
    const q = yield* blkMqInitQueue(set);
    assert.equal(q.queueCtx.map((c) => c.cpu), [0, 1, 2, 3]);
    assert.ok(q.queueHwCtx.every((h) => !h.cpumask.test(1)));
    // Three CPUs online, two queues: the v4.4 map counts online CPUs only (0, 2 → 0; 3 → 1).
    assert.equal(q.queueHwCtx.map((h) => h.ctxs.map((c) => c.cpu)), [[0, 2], [3]]);
    assert.equal(q.queueCtx.map((c) => [c.rqDispatched, c.rqMerged, c.rqCompleted]), Array(4).fill([[0, 0], 0, [0, 0]]));
    yield* blkCleanupQueue(q);
    yield* k.hotplug.cpuUp(1);
  });
  blkMqFreeTagSet(set);
  k.run();
  k.assertClean();
});

test.run();
