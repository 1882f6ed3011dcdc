// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import { KernelError } from "../errors.ts";
import { sleep } from "../kernel/sched.ts";
import type { SysfsPage } from "../sysfs/sysfs.ts";
import { boot, dropDisk, inTask, makeDisk, makeSet, readSysfs } from "./_testkit.ts";
import { BLK_MQ_CTX_ATTRS, BLK_MQ_HW_ATTRS } from "./mq_sysfs.ts";
import { blkMqInitQueue } from "./blk_mq.ts";
import { delGendisk } from "./genhd.ts";
import { blkCleanupQueue, blkSetQueueDying } from "./request_queue.ts";
import { blkMqFreeTagSet } from "./tag_set.ts";
import { listAdd, listDelInit } from "./_rq_list.ts";

test("mq/ holds a directory per mapped hctx and a cpu<N> per attached ctx, with the v4.4 attributes", () => {
  const k = boot({ cpus: 8, threadsPerCore: 2 });
  const set = makeSet(k, { nrHwQueues: 3, queueDepth: 64 });
  const d = inTask(k, () => makeDisk(set, "nullb0"));
  const mq = "/sys/block/nullb0/mq";
  assert.equal(k.sysfs.ls(mq), ["0", "1", "2"]);
  assert.equal(k.sysfs.ls(`${mq}/0`), ["active", "cpu0", "cpu1", "cpu4", "cpu5", "cpu_list", "dispatched", "io_poll", "pending", "queued", "run", "tags"]);
  assert.equal(k.sysfs.ls(`${mq}/0/cpu4`), ["completed", "dispatched", "merged", "rq_list"]);
  assert.equal(BLK_MQ_HW_ATTRS.map((a) => a.name), ["queued", "run", "dispatched", "pending", "tags", "cpu_list", "active", "io_poll"]);
  assert.equal(BLK_MQ_CTX_ATTRS.map((a) => a.name), ["dispatched", "merged", "completed", "rq_list"]);
  assert.ok([...BLK_MQ_HW_ATTRS, ...BLK_MQ_CTX_ATTRS].every((a) => a.mode === 0o444 && a.store === undefined));
  assert.is(k.sysfs.stat(`${mq}/0/queued`).mode, 0o444);
  assert.is(readSysfs(k, `${mq}/0/cpu_list`), "0, 1, 4, 5\n");
  assert.is(readSysfs(k, `${mq}/2/cpu_list`), "3, 7\n");
  assert.is(readSysfs(k, `${mq}/0/queued`), "0\n");
  assert.is(readSysfs(k, `${mq}/0/run`), "0\n");
  assert.is(readSysfs(k, `${mq}/0/active`), "0\n");
  assert.is(readSysfs(k, `${mq}/0/io_poll`), "invoked=0, success=0\n");
  assert.is(readSysfs(k, `${mq}/0/tags`), "nr_tags=64, reserved_tags=0, bits_per_word=4\nnr_free=64, nr_reserved=0\nactive_queues=0\n");
  assert.is(
    readSysfs(k, `${mq}/0/dispatched`),
    "       0\t0\n       1\t0\n       2\t0\n       4\t0\n       8\t0\n      16\t0\n      32\t0\n      64\t0\n     128\t0\n     256\t0\n",
  );
  assert.is(readSysfs(k, `${mq}/0/pending`), "HCTX pending:\n");
  assert.is(readSysfs(k, `${mq}/0/cpu4/dispatched`), "0 0\n");
  assert.is(readSysfs(k, `${mq}/0/cpu4/merged`), "0\n");
  assert.is(readSysfs(k, `${mq}/0/cpu4/completed`), "0 0\n");
  assert.is(readSysfs(k, `${mq}/0/cpu4/rq_list`), "CTX pending:\n");
  inTask(k, () => dropDisk(d, set));
  k.run();
  k.assertClean();
});

test("the attributes read the counters the I/O path keeps, sync before async", () => {
  const k = boot({ cpus: 2 });
  const set = makeSet(k, { nrHwQueues: 1 });
  const d = inTask(k, () => makeDisk(set, "d0"));
  const q = d.queue!;
  const h = q.queueHwCtx[0];
  const c = q.queueCtx[1];
  h.queued = 7;
  h.run = 3;
  h.setDispatched(0, 2);
  h.setDispatched(9, 5);
  h.pollInvoked = 11;
  h.pollSuccess = 4;
  c.setRqDispatched(0, 1);
  c.setRqDispatched(1, 9);
  c.rqMerged = 6;
  c.setRqCompleted(1, 8);
  const m = set.tags![0]!;
  for (const rq of [m.rq(0), m.rq(1)]) listAdd(k, rq, h.dispatchHead, true);
  listAdd(k, m.rq(2), c.rqListHead, true);
  const mq = "/sys/block/d0/mq/0";
  assert.is(readSysfs(k, `${mq}/queued`), "7\n");
  assert.is(readSysfs(k, `${mq}/run`), "3\n");
  const lines = readSysfs(k, `${mq}/dispatched`).split("\n");
  assert.is(lines[0], "       0\t2");
  assert.is(lines[9], "     256\t5");
  assert.is(readSysfs(k, `${mq}/io_poll`), "invoked=11, success=4\n");
  assert.is(readSysfs(k, `${mq}/cpu1/dispatched`), "9 1\n");
  assert.is(readSysfs(k, `${mq}/cpu1/merged`), "6\n");
  assert.is(readSysfs(k, `${mq}/cpu1/completed`), "8 0\n");
  const hex = (p: number) => p.toString(16).padStart(16, "0");
  assert.is(readSysfs(k, `${mq}/pending`), `HCTX pending:\n\t${hex(m.rq(0))}\n\t${hex(m.rq(1))}\n`);
  assert.is(readSysfs(k, `${mq}/cpu1/rq_list`), `CTX pending:\n\t${hex(m.rq(2))}\n`);
  for (const rq of [m.rq(0), m.rq(1), m.rq(2)]) listDelInit(k, rq);
  inTask(k, () => dropDisk(d, set));
  k.run();
  k.assertClean();
});

test("every mq attribute returns -ENOENT once the queue is dying", () => {
  const k = boot({ cpus: 2 });
  const set = makeSet(k, { nrHwQueues: 1 });
  const d = inTask(k, () => makeDisk(set, "d0"));
  blkSetQueueDying(d.queue!);
  const files = [
    ...BLK_MQ_HW_ATTRS.map((a) => `/sys/block/d0/mq/0/${a.name}`),
    ...BLK_MQ_CTX_ATTRS.map((a) => `/sys/block/d0/mq/0/cpu0/${a.name}`),
  ];
  for (const f of files) {
    assert.throws(() => readSysfs(k, f), (e: unknown) => e instanceof KernelError && e.code === "ENOENT", f);
  }
  inTask(k, () => dropDisk(d, set));
  k.run();
  k.assertClean();
});

test("registration takes a reference on the disk's device and unregistration drops every one it took (8515736604)", () => {
  const k = boot({ cpus: 2 });
  const set = makeSet(k, { nrHwQueues: 2 });
  inTask(k, function* () {
    const d = yield* makeDisk(set, "d0");
    const q = d.queue!;
    // device_initialize + queue/ (kobject_get + the add's parent ref) + mq/ (the same).
    assert.is(d.kobj.refcount(), 5);
    assert.ok(q.mqSysfsInitDone);
    assert.is(q.mqKobj.refcount(), 1 + 2, "its own + one per hctx directory");
    yield* delGendisk(d);
    assert.is(d.kobj.refcount(), 1);
    assert.not.ok(q.mqSysfsInitDone);
    assert.ok(q.mqKobj.released && q.queueHwCtx.every((h) => h.kobj.released));
    // The hctx record is a kzalloc_node() in the core's memory.
    const live = (addr: number) => k.slab.liveObjects().some((o) => o.addr === addr);
    const hctx0 = q.queueHwCtx[0].addr;
    assert.ok(live(hctx0), "the hctx memory stays until blk_mq_release() (74170118b2)");
    yield* blkCleanupQueue(q);
    assert.ok(live(hctx0), "the disk still holds the queue");
    d.kobj.put();
    assert.not.ok(live(hctx0));
  });
  blkMqFreeTagSet(set);
  k.run();
  k.assertClean();
});

test("every possible CPU's ctx kobject is initialized, so a CPU onlined after registration gets its cpu<N> (06a41a99d1)", () => {
  const k = boot({ cpus: 4 });
  const set = makeSet(k, { nrHwQueues: 2 });
  inTask(k, () => k.hotplug.cpuDown(3));
  const d = inTask(k, () => makeDisk(set, "d0"));
  const q = d.queue!;
  assert.ok(q.queueCtx.every((c) => c.kobj.initialized));
  assert.not.ok(q.queueCtx[3].kobj.inSysfs);
  inTask(k, () => k.hotplug.cpuUp(3));
  assert.equal(k.sysfs.ls("/sys/block/d0/mq/1"), ["active", "cpu2", "cpu3", "cpu_list", "dispatched", "io_poll", "pending", "queued", "run", "tags"]);
  inTask(k, () => k.hotplug.cpuDown(1));
  inTask(k, () => dropDisk(d, set));
  k.run();
  k.assertClean(); // the offline CPU 1's ctx kobject was put by blk_mq_release()
});

test("hotplug leaves the directories alone before registration and after unregistration (4593fdbe7a)", () => {
  const k = boot({ cpus: 4 });
  const set = makeSet(k, { nrHwQueues: 4 });
  inTask(k, function* () {
    const q = yield* blkMqInitQueue(set);
    yield* k.hotplug.cpuDown(2);
    assert.not.ok(q.mqKobj.initialized);
    assert.ok(q.queueHwCtx.every((h) => !h.kobj.initialized));
    yield* blkCleanupQueue(q);
    yield* k.hotplug.cpuUp(2);
    const d = yield* makeDisk(set, "d0");
    yield* delGendisk(d);
    yield* k.hotplug.cpuDown(2);
    assert.ok(d.queue!.queueHwCtx.every((h) => !h.kobj.inSysfs));
    yield* k.hotplug.cpuUp(2);
    yield* blkCleanupQueue(d.queue!);
    d.kobj.put();
  });
  blkMqFreeTagSet(set);
  k.run();
  k.assertClean();
});

test("reading cpu_list while CPUs come and go is lockdep-clean: shows take only q->sysfs_lock (60de074ba1)", () => {
  const k = boot({ cpus: 4, seed: 7 });
  const set = makeSet(k, { nrHwQueues: 2 });
  const d = inTask(k, () => makeDisk(set, "d0"));
  const seen = new Set<string>();
  let done = false;
  k.sched.spawn("hotplug", function* () {
    for (let i = 0; i < 6; i++) {
      yield* k.hotplug.cpuDown(1 + (i % 3));
      yield* k.hotplug.cpuUp(1 + (i % 3));
    }
    done = true;
  });
  k.sched.spawn("cat", function* () {
    while (!done) {
      for (const n of ["0", "1"]) {
        try {
          seen.add(yield* k.sysfs.read(`/sys/block/d0/mq/${n}/cpu_list`));
        } catch (e) {
          if (!(e instanceof KernelError && (e.code === "ENOENT" || e.code === "ENODEV"))) throw e;
        }
      }
      yield sleep(50_000);
    }
  });
  assert.is(k.run().kind, "done");
  assert.ok(seen.size >= 2, `several mappings were seen: ${[...seen].join(" | ")}`);
  for (const s of seen) assert.match(s, /^(\d+(, \d+)*)?\n$/);
  inTask(k, () => dropDisk(d, set));
  k.run();
  k.assertClean();
});

test("a show that takes all_q_mutex (the v4.1 cpu_list) is the circular dependency lockdep reports", () => {
  const k = boot({ cpus: 2 });
  const set = makeSet(k, { nrHwQueues: 1 });
  const d = inTask(k, () => makeDisk(set, "d0"));
  const h = d.queue!.queueHwCtx[0];
  const bad = {
    name: "cpu_list_v41",
    mode: 0o444,
    *show(hctx: typeof h, page: SysfsPage) {
      yield* k.block.allQMutex.lock("blk_mq_disable_hotplug");
      const n = page.sprintf(`${hctx.cpumask.toArray().join(", ")}\n`);
      k.block.allQMutex.unlock("blk_mq_enable_hotplug");
      return n;
    },
  };
  k.sysfs.createFiles(h.kobj, h, [bad]);
  assert.is(readSysfs(k, "/sys/block/d0/mq/0/cpu_list_v41"), "0, 1\n");
  inTask(k, () => k.hotplug.cpuDown(1)); // all_q_mutex → removal of the hctx directory (its files' s_active)
  assert.ok(k.log.lines().some((l) => l.includes("possible circular locking dependency detected")));
});

test.run();
