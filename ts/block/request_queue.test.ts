// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import { KernelError } from "../errors.ts";
import { FAILSLAB } from "../kernel/slab.ts";
import { sleep } from "../kernel/sched.ts";
import { boot, dropDisk, inTask, makeDisk, makeSet } from "./_testkit.ts";
import { blkMqInitQueue } from "./blk_mq.ts";
import {
  blkAllocQueueNode,
  blkCleanupQueue,
  blkMqFreezeQueue,
  blkMqUnfreezeQueue,
  blkQueueEnter,
  blkQueueExit,
  blkQueueMakeRequest,
  BLKDEV_MAX_RQ,
  queueFlagNames,
} from "./request_queue.ts";
import { blkMqFreeTagSet } from "./tag_set.ts";

const GP = 1_000_000;

test("blkAllocQueueNode() throws ENOMEM and gives its queue id back when percpu_ref_init() cannot allocate", () => {
  const k = boot();
  const ids = k.block.nrQueueIds;
  k.slab.failNth(FAILSLAB, 1);
  assert.throws(() => blkAllocQueueNode(k.block), (e: unknown) => e instanceof KernelError && e.code === "ENOMEM");
  assert.is(k.block.nrQueueIds, ids, "fail_id: the id is free again");
  const q = blkAllocQueueNode(k.block);
  assert.ok(q.qUsageCounter.addr > 0);
  inTask(k, () => blkCleanupQueue(q));
  assert.is(q.qUsageCounter.addr, 0, "blk_cleanup_queue() exits q_usage_counter");
  k.run();
  assert.is(k.block.nrQueueIds, ids);
  k.assertClean();
});

test("blkAllocQueueNode() starts in bypass with q_usage_counter atomic", () => {
  const k = boot();
  const q = blkAllocQueueNode(k.block);
  assert.equal(queueFlagNames(q.queueFlags), ["BYPASS"]);
  assert.is(q.bypassDepth, 1);
  assert.is(q.qUsageCounter.mode, "atomic");
  assert.ok(q.qUsageCounter.forceAtomic);
  assert.is(q.raPages, 32);
  blkQueueMakeRequest(q, null);
  assert.is(q.nrRequests, BLKDEV_MAX_RQ);
  assert.is(q.limits.maxHwSectors, 255);
  inTask(k, function* () {
    yield* blkCleanupQueue(q);
    assert.not.ok(q.freed, "freed only after a grace period (blk_free_queue_rcu)");
  });
  assert.ok(q.dying && q.dead);
  assert.equal(queueFlagNames(q.queueFlags), ["DYING", "BYPASS", "NOMERGES", "NOXMERGES", "DEAD"]);
  assert.is(q.bypassDepth, 2);
  assert.ok(q.freed);
  k.assertClean();
});

test("a blk-mq queue gets QUEUE_FLAG_MQ_DEFAULT and NO_SG_MERGE; registration sets INIT_DONE, percpu mode, ends bypass", () => {
  const k = boot();
  const set = makeSet(k);
  inTask(k, function* () {
    const q = yield* blkMqInitQueue(set);
    assert.equal(queueFlagNames(q.queueFlags), ["BYPASS", "SAME_COMP", "STACKABLE", "IO_STAT", "NO_SG_MERGE"]);
    assert.is(q.nrRequests, 64);
    assert.is(q.rqTimeout, 30 * k.clock.HZ);
    yield* blkCleanupQueue(q);
    const d = yield* makeDisk(set, "d0");
    const r = d.queue!;
    assert.ok(r.initDone);
    assert.not.ok(r.bypass);
    assert.is(r.qUsageCounter.mode, "percpu");
    yield* dropDisk(d);
  });
  blkMqFreeTagSet(set);
  k.run();
  k.assertClean();
});

test("tearing down N never-registered queues costs no virtual time; N registered ones cost N grace periods", () => {
  const n = 6;
  for (const register of [false, true]) {
    const k = boot({ cpus: 2, rcuGpNs: GP });
    const sets = Array.from({ length: n }, () => makeSet(k, { nrHwQueues: 1 }));
    let took = -1;
    inTask(k, function* () {
      const disks = [];
      const queues = [];
      for (const set of sets) {
        if (register) disks.push(yield* makeDisk(set, `d${disks.length}`));
        else queues.push(yield* blkMqInitQueue(set));
      }
      const t0 = k.clock.now();
      for (const d of disks) yield* dropDisk(d);
      for (const q of queues) yield* blkCleanupQueue(q);
      took = k.clock.now() - t0;
    });
    // A registered queue's q_usage_counter is percpu: its cleanup's freeze waits a grace period.
    assert.is(took, register ? n * GP : 0, register ? "registered" : "never registered");
    for (const set of sets) blkMqFreeTagSet(set);
    k.run();
    k.assertClean();
  }
});

test("freezes nest: the queue stays frozen until the last unfreeze, and an extra unfreeze WARNs", () => {
  const k = boot();
  const set = makeSet(k);
  inTask(k, function* () {
    const q = yield* blkMqInitQueue(set);
    yield* blkMqFreezeQueue(q);
    yield* blkMqFreezeQueue(q);
    assert.is(q.mqFreezeDepth, 2);
    yield* blkMqUnfreezeQueue(q);
    assert.not.ok(q.qUsageCounter.trygetLive(), "still frozen at depth 1");
    yield* blkMqUnfreezeQueue(q);
    assert.ok(q.qUsageCounter.trygetLive());
    blkQueueExit(q);
    assert.ok(k.log.isClean());
    yield* blkMqUnfreezeQueue(q);
    assert.ok(k.log.lines().some((l) => l.includes("blk_mq_unfreeze_queue")));
    q.mqFreezeDepth = 0;
    yield* blkCleanupQueue(q);
  });
  blkMqFreeTagSet(set);
});

test("blkQueueEnter() during a freeze sleeps interruptibly until the unfreeze; nowait fails with EBUSY", () => {
  const k = boot();
  const set = makeSet(k);
  const events: string[] = [];
  inTask(k, function* () {
    const d = yield* makeDisk(set, "d0");
    const q = d.queue!;
    yield* blkMqFreezeQueue(q);
    try {
      yield* blkQueueEnter(q, { nowait: true });
    } catch (e) {
      events.push(`nowait ${(e as KernelError).code}`);
    }
    const t = k.sched.spawn("submitter", function* () {
      yield* blkQueueEnter(q);
      events.push(`entered at ${k.clock.now()}`);
      blkQueueExit(q);
    });
    yield sleep(5_000_000);
    events.push(`submitter ${t.stateChar()}`);
    yield* blkMqUnfreezeQueue(q);
    yield* k.sched.waitTaskExit(t);
    yield* dropDisk(d);
  });
  assert.equal(events.slice(0, 2), ["nowait EBUSY", "submitter S"]);
  assert.match(events[2], /^entered at /);
  blkMqFreeTagSet(set);
  k.run();
  k.assertClean();
});

test("blkQueueEnter() on a dying queue fails with ENODEV: blk_cleanup_queue() wakes a waiter of the freeze", () => {
  const k = boot();
  const set = makeSet(k);
  let err: unknown;
  let woke = -1;
  inTask(k, function* () {
    const q = yield* blkMqInitQueue(set);
    yield* blkMqFreezeQueue(q);
    const t = k.sched.spawn("submitter", function* () {
      try {
        yield* blkQueueEnter(q);
      } catch (e) {
        err = e;
        woke = k.clock.now();
      }
    });
    yield sleep(1000);
    yield* blkCleanupQueue(q); // still frozen: the cleanup's freeze nests
    yield* k.sched.waitTaskExit(t);
  });
  assert.ok(err instanceof KernelError && err.code === "ENODEV");
  assert.is(woke, 1000);
  blkMqFreeTagSet(set);
  k.run();
  k.assertClean();
});

test("a bio-based queue counts submitters too: blk_cleanup_queue() waits for their exit (3ef28e83ab)", () => {
  const k = boot();
  const q = blkAllocQueueNode(k.block);
  blkQueueMakeRequest(q, () => {});
  let cleaned = -1;
  let exited = -1;
  inTask(k, function* () {
    yield* blkQueueEnter(q);
    k.sched.spawn("rmmod", function* () {
      yield* blkCleanupQueue(q);
      cleaned = k.clock.now();
    });
    yield sleep(3_000_000);
    exited = k.clock.now();
    blkQueueExit(q);
  });
  assert.is(exited, 3_000_000);
  assert.is(cleaned, 3_000_000, "the cleanup drained until the submitter's exit");
  k.run();
  k.assertClean();
});

test.run();
