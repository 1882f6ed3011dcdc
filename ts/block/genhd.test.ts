// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { VirtualClock } from "../kernel/clock.ts";
import { boot, dropDisk, inTask, makeDisk, makeSet, readSysfs } from "./_testkit.ts";
import { blkMqInitQueue } from "./blk_mq.ts";
import { addDisk, allocDisk, delGendisk, GENHD_FL_UP, putDisk, setCapacity } from "./genhd.ts";
import { PART } from "./part_stat.ts";
import { blkCleanupQueue } from "./request_queue.ts";
import { setU64 } from "./_u64.ts";
import { blkMqFreeTagSet } from "./tag_set.ts";

test("addDisk() puts the disk under /sys/block with size, stat, inflight, queue/ and mq/", () => {
  const k = boot({ cpus: 2 });
  const set = makeSet(k, { nrHwQueues: 1 });
  inTask(k, function* () {
    const q = yield* blkMqInitQueue(set);
    const d = allocDisk(k.block, 1);
    d.diskName = "nullb0";
    d.major = 252;
    d.queue = q;
    setCapacity(d, 524288000n);
    yield* addDisk(d);
    assert.ok(d.flags & GENHD_FL_UP);
    assert.is(d.devt, "252:0");
    assert.equal(k.sysfs.ls("/sys/block/nullb0"), ["inflight", "mq", "queue", "size", "stat"]);
    assert.is(q.kobj.refcount(), 2, "blk_alloc_queue_node's + add_disk's");
    assert.ok(d.part0.ptr !== 0 && q.part0Addr === d.part0.ptr, "the queue record points at part0's statistics");
    yield* delGendisk(d);
    assert.is(q.part0Addr, d.part0.ptr, "kept after del_gendisk(): draining requests still account");
    assert.equal(k.sysfs.ls("/sys/block"), []);
    assert.is(d.capacity, 0n);
    assert.not.ok(d.flags & GENHD_FL_UP);
    yield* blkCleanupQueue(q);
    assert.not.ok(q.kobj.released, "the disk still holds its queue reference");
    const q0 = q.part0Addr;
    putDisk(d);
    assert.ok(q.kobj.released && d.kobj.released);
    assert.ok(q0 !== 0 && q.part0Addr === 0, "cleared before the statistics are freed");
  });
  blkMqFreeTagSet(set);
  k.run();
  k.assertClean();
});

test("size, stat and inflight print part0 as v4.4 does, rounding the stats first", () => {
  const k = boot({ cpus: 2 });
  const set = makeSet(k, { nrHwQueues: 1 });
  const d = inTask(k, () => makeDisk(set, "d0"));
  setCapacity(d, 1234n);
  assert.is(readSysfs(k, "/sys/block/d0/size"), "1234\n");
  assert.is(readSysfs(k, "/sys/block/d0/inflight"), "       0        0\n");
  // The record as a run of I/Os would leave it (written directly: this checks the formatting).
  const at = d.part0.ptr;
  const dv = k.dv;
  const set2 = (off: number, read: number, write: number) => {
    setU64(dv, at + off, read);
    setU64(dv, at + off + 8, write);
  };
  set2(PART.IOS, 10, 20);
  set2(PART.MERGES, 1, 2);
  set2(PART.SECTORS, 80, 160);
  set2(PART.TICKS, 5, 7);
  dv.setInt32(at + PART.IN_FLIGHT, 2, true);
  dv.setInt32(at + PART.IN_FLIGHT + 4, 1, true);
  setU64(dv, at + PART.STAMP, k.clock.jiffies());
  // 3 requests in flight for the next 4 jiffies: io_ticks 4, time_in_queue 12.
  (k.clock as VirtualClock).advance(4 * k.clock.tickNs);
  assert.is(readSysfs(k, "/sys/block/d0/inflight"), "       2        1\n");
  assert.is(readSysfs(k, "/sys/block/d0/stat"), "      10        1       80        5       20        2      160        7        3        4       12\n");
  assert.equal(d.part0.inFlight, [2, 1]);
  k.dv.setInt32(at + PART.IN_FLIGHT, 0, true);
  k.dv.setInt32(at + PART.IN_FLIGHT + 4, 0, true);
  inTask(k, () => dropDisk(d, set));
  k.run();
  k.assertClean();
});

test("allocDisk() rejects a bad minors count; putDisk(null) does nothing", () => {
  const k = boot();
  assert.throws(() => allocDisk(k.block, -1), (e: unknown) => e instanceof RangeError);
  putDisk(null);
  const d = allocDisk(k.block, 1);
  putDisk(d);
  assert.ok(d.kobj.released);
  k.assertClean();
});

test.run();
