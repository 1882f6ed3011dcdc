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
  blkQueueFlagAssign,
  blkQueueSetNomerges,
  blkQueueSetRqAffinity,
  blkSetQueueDying,
  Q,
  QUEUE_FLAG_BYPASS,
  QUEUE_FLAG_DEAD,
  QUEUE_FLAG_DYING,
  QUEUE_FLAG_IO_STAT,
  QUEUE_FLAG_POLL,
  queueFlagNames,
  REQUEST_QUEUE_SIZE,
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

test("the queue record has the core's size; id and nr_cpu_ids are where the view reads them", () => {
  const k = boot({ cpus: 3 });
  assert.is(k.core.request_queue_struct_size(), REQUEST_QUEUE_SIZE);
  const a = blkAllocQueueNode(k.block);
  const b = blkAllocQueueNode(k.block);
  assert.is.not(a.id, b.id);
  for (const q of [a, b]) {
    assert.is(k.dv.getUint32(q.addr + Q.ID, true), q.id);
    assert.is(k.dv.getUint32(q.addr + Q.NR_CPU_IDS, true), 3);
    assert.is(k.dv.getUint32(q.addr + Q.QUEUE_FLAGS, true), 1 << QUEUE_FLAG_BYPASS, "the flag word is the record's");
  }
  inTask(k, function* () {
    yield* blkCleanupQueue(a);
    yield* blkCleanupQueue(b);
  });
  k.assertClean();
});

test("the core's blk_queue_*() helpers read the bits that the TypeScript flag setters write", () => {
  const k = boot();
  const q = blkAllocQueueNode(k.block);
  const stat = () => k.core.blk_queue_flags_stat(q.addr);
  // bits: 0 nomerges, 1 noxmerges, 2 io_stat, 3 dying, 4 dead, 5 bypass, 6 same_comp, 7 same_force, 8 poll
  assert.is(stat(), 1 << 5, "bypass from blk_alloc_queue_node()");
  blkQueueSetNomerges(q, 2);
  assert.is(stat(), 1 << 5 | 1 << 0);
  blkQueueSetNomerges(q, 1);
  assert.is(stat(), 1 << 5 | 1 << 1);
  blkQueueSetNomerges(q, 0);
  blkQueueSetRqAffinity(q, 2);
  assert.is(stat(), 1 << 5 | 1 << 6 | 1 << 7);
  blkQueueSetRqAffinity(q, 0);
  blkQueueFlagAssign(q, QUEUE_FLAG_IO_STAT, true);
  blkQueueFlagAssign(q, QUEUE_FLAG_POLL, true);
  assert.is(stat(), 1 << 5 | 1 << 2 | 1 << 8);
  q.queueFlags = 0;
  q.setFlag(QUEUE_FLAG_DEAD);
  blkSetQueueDying(q);
  assert.is(stat(), 1 << 3 | 1 << 4);
  assert.ok(q.testFlag(QUEUE_FLAG_DYING) && q.dead && !q.bypass);
  q.clearFlag(QUEUE_FLAG_DEAD);
  assert.is(stat(), 1 << 3);
  inTask(k, () => blkCleanupQueue(q));
  k.assertClean();
});

test("the record's fields reject what does not fit an unsigned int", () => {
  const k = boot();
  const q = blkAllocQueueNode(k.block);
  blkQueueMakeRequest(q, null);
  for (const bad of [-1, 2 ** 32, 1.5, NaN]) {
    assert.throws(() => (q.rqTimeout = bad), RangeError);
    assert.throws(() => (q.limits.maxSectors = bad), RangeError);
    assert.throws(() => (q.limits.maxSegments = bad), RangeError);
    assert.throws(() => (q.nrHwQueues = bad), RangeError);
  }
  assert.is(q.limits.maxSectors, 255, "unchanged");
  q.limits.maxSectors = 0xffffffff;
  assert.is(k.dv.getUint32(q.addr + Q.MAX_SECTORS, true), 0xffffffff);
  assert.is(q.limits.maxSegments, 128);
  inTask(k, () => blkCleanupQueue(q));
  k.assertClean();
});

test("blkAllocQueueNode() fails with ENOMEM when its record or q_usage_counter's cannot be allocated, leaving nothing and taking no queue id", () => {
  const k = boot();
  const ids = k.block.nrQueueIds;
  const live = k.slab.liveObjects().length;
  for (const nth of [1, 2]) {
    k.slab.failNth(FAILSLAB, nth);
    assert.throws(() => blkAllocQueueNode(k.block), (e: unknown) => e instanceof KernelError && e.code === "ENOMEM", `nth=${nth}`);
    k.slab.failNth(FAILSLAB, 0);
    assert.is(k.block.nrQueueIds, ids, `nth=${nth}`);
    assert.is(k.slab.liveObjects().length, live, `nth=${nth}`);
  }
  const q = blkAllocQueueNode(k.block);
  assert.is(k.block.nrQueueIds, ids + 1);
  inTask(k, () => blkCleanupQueue(q));
  k.assertClean();
});

test("the record is freed a grace period after the last put; a stale view then reads its last state", () => {
  const k = boot();
  const q = blkAllocQueueNode(k.block);
  const addr = q.addr;
  const id = q.id;
  const isLive = () => k.slab.liveObjects().some((o) => o.addr === addr);
  assert.ok(isLive());
  inTask(k, function* () {
    yield* blkCleanupQueue(q);
    assert.ok(isLive(), "still there until blk_free_queue_rcu");
    assert.is(q.addr, addr);
  });
  assert.not.ok(isLive());
  assert.ok(q.freed);
  assert.is(q.addr, 0);
  assert.is(q.id, id);
  assert.equal(queueFlagNames(q.queueFlags), ["DYING", "BYPASS", "NOMERGES", "NOXMERGES", "DEAD"]);
  assert.is(q.mqMap, null);
  k.assertClean();
});

test.run();
