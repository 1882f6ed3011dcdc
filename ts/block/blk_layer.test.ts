// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import { KernelError } from "../errors.ts";
import { boot, codeOf, dropDisk, inTask, makeDisk, makeSet } from "./_testkit.ts";
import { blkMqInitQueue } from "./blk_mq.ts";
import { addDisk, allocDisk, putDisk } from "./genhd.ts";
import { blkCleanupQueue } from "./request_queue.ts";
import { blkMqFreeTagSet } from "./tag_set.ts";

test("a booted kernel has an empty /sys/block, no queues and no leaks", () => {
  const k = boot();
  assert.equal(k.sysfs.ls("/sys/block"), []);
  assert.is(k.block.allQList.length, 0);
  assert.is(k.block.root.path(), "/block");
  assert.is(k.liveObjects(), 0, "the /sys/block kobject lives as long as the kernel");
  k.assertClean();
});

test("registerBlkdev() hands out dynamic majors from 254 down and refuses taken ones", () => {
  const k = boot();
  assert.is(k.block.registerBlkdev(0, "nullb"), 254);
  assert.is(k.block.registerBlkdev(0, "ram"), 253);
  assert.is(k.block.registerBlkdev(8, "sd"), 8);
  assert.is(codeOf(() => k.block.registerBlkdev(8, "sd2")), "EBUSY");
  assert.is(k.block.majorName(254), "nullb");
  k.block.unregisterBlkdev(254, "nullb");
  assert.is(k.block.registerBlkdev(0, "again"), 254);
  assert.throws(() => k.block.registerBlkdev(255, "x"), (e: unknown) => e instanceof RangeError);
  k.assertClean();
  k.block.unregisterBlkdev(253, "wrong-name");
  assert.ok(k.log.lines().some((l) => l.includes("unregister_blkdev")));
});

test("queue ids come from an ida: the lowest free id, returned when a queue is released", () => {
  const k = boot();
  const set = makeSet(k, { nrHwQueues: 1 });
  inTask(k, function* () {
    const a = yield* blkMqInitQueue(set);
    const b = yield* blkMqInitQueue(set);
    assert.is(a.id, 0);
    assert.is(b.id, 1);
    yield* blkCleanupQueue(a);
    const c = yield* blkMqInitQueue(set);
    assert.is(c.id, 0);
    yield* blkCleanupQueue(b);
    yield* blkCleanupQueue(c);
  });
  blkMqFreeTagSet(set);
  k.run();
  assert.is(k.block.nrQueueIds, 0);
  k.assertClean();
});

test("all_q_list holds every blk-mq queue from init to blk_mq_free_queue()", () => {
  const k = boot();
  const set = makeSet(k);
  const disk = inTask(k, () => makeDisk(set, "d0"));
  assert.equal(k.block.allQList, [disk.queue]);
  assert.is(k.block.nrCpuNotifiers, 2, "one per hctx");
  inTask(k, () => dropDisk(disk, set));
  k.run();
  assert.is(k.block.allQList.length, 0);
  assert.is(k.block.nrCpuNotifiers, 0);
  k.assertClean();
});

test("CPU hotplug without queues runs the blk-mq notifiers cleanly", () => {
  const k = boot({ cpus: 4 });
  inTask(k, function* () {
    yield* k.hotplug.cpuDown(2);
    yield* k.hotplug.cpuUp(2);
  });
  k.run();
  k.assertClean();
});

test("disk names are claimed once: a second disk of the same name is refused with EEXIST", () => {
  const k = boot();
  const set = makeSet(k, { nrHwQueues: 1 });
  const d = inTask(k, () => makeDisk(set, "dup"));
  assert.equal(k.block.diskNames(), ["dup"]);
  let err: unknown;
  inTask(k, function* () {
    const q = yield* blkMqInitQueue(set);
    const disk = allocDisk(k.block, 1);
    disk.diskName = "dup";
    disk.major = 1;
    disk.queue = q;
    try {
      yield* addDisk(disk);
    } catch (e) {
      err = e;
    }
    disk.queue = null; // no queue reference was taken
    putDisk(disk);
    yield* blkCleanupQueue(q);
  });
  assert.ok(err instanceof KernelError && err.code === "EEXIST");
  assert.equal(k.sysfs.ls("/sys/block"), ["dup"]);
  inTask(k, () => dropDisk(d, set));
  k.run();
  k.assertClean();
});

test.run();
