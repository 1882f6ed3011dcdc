// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import { KernelError } from "../errors.ts";
import { boot, dropDisk, inTask, makeDisk, makeSet, readSysfs, writeSysfs } from "./_testkit.ts";
import { BLK_QUEUE_ATTRS } from "./blk_sysfs.ts";
import { addDisk, allocDisk, delGendisk, putDisk } from "./genhd.ts";
import { blkAllocQueueNode, blkCleanupQueue, blkQueueMakeRequest, blkSetQueueDying } from "./request_queue.ts";

const Q = "/sys/block/d0/queue";

function withDisk(body: (k: ReturnType<typeof boot>) => void): void {
  const k = boot({ cpus: 2 });
  const set = makeSet(k, { nrHwQueues: 2, queueDepth: 64 });
  const d = inTask(k, () => makeDisk(set, "d0"));
  body(k);
  inTask(k, () => dropDisk(d, set));
  k.run();
  k.assertClean();
}

test("queue/ has the v4.4 default_attrs, in order, with their modes", () => {
  assert.equal(BLK_QUEUE_ATTRS.map((a) => a.name), [
    "nr_requests", "read_ahead_kb", "max_hw_sectors_kb", "max_sectors_kb", "max_segments",
    "max_integrity_segments", "max_segment_size", "scheduler", "hw_sector_size", "logical_block_size",
    "physical_block_size", "minimum_io_size", "optimal_io_size", "discard_granularity", "discard_max_bytes",
    "discard_max_hw_bytes", "discard_zeroes_data", "write_same_max_bytes", "rotational", "nomerges",
    "rq_affinity", "iostats", "add_random", "io_poll",
  ]);
  for (const a of BLK_QUEUE_ATTRS) assert.is(a.store !== undefined, a.mode === 0o644, a.name);
});

test("a blk-mq queue shows the v4.4 defaults", () => {
  withDisk((k) => {
    const want: Record<string, string> = {
      nr_requests: "64", read_ahead_kb: "128", max_hw_sectors_kb: "127", max_sectors_kb: "127", max_segments: "128",
      max_integrity_segments: "0", max_segment_size: "65536", scheduler: "none", hw_sector_size: "512",
      logical_block_size: "512", physical_block_size: "512", minimum_io_size: "512", optimal_io_size: "0",
      discard_granularity: "0", discard_max_bytes: "0", discard_max_hw_bytes: "0", discard_zeroes_data: "0",
      write_same_max_bytes: "0", rotational: "1", nomerges: "0", rq_affinity: "1", iostats: "1", add_random: "0",
      io_poll: "0",
    };
    for (const [name, v] of Object.entries(want)) assert.is(readSysfs(k, `${Q}/${name}`), `${v}\n`, name);
  });
});

test("rq_affinity stores 2, 1, 0 and ignores other values; nomerges stores 2 and any non-zero", () => {
  withDisk((k) => {
    const rw = (name: string, v: string) => (writeSysfs(k, `${Q}/${name}`, v), readSysfs(k, `${Q}/${name}`));
    assert.is(rw("rq_affinity", "2"), "2\n");
    assert.is(rw("rq_affinity", "7"), "2\n", "other values change nothing but succeed");
    assert.is(writeSysfs(k, `${Q}/rq_affinity`, "7"), 1);
    assert.is(rw("rq_affinity", "1"), "1\n");
    assert.is(rw("rq_affinity", "0"), "0\n");
    assert.is(rw("nomerges", "2"), "2\n");
    assert.is(rw("nomerges", "5"), "1\n");
    assert.is(rw("nomerges", "0"), "0\n");
    assert.is(writeSysfs(k, `${Q}/nomerges`, "-1"), "EINVAL");
  });
});

test("the other stores: read_ahead_kb, max_sectors_kb bounds, discard_max_bytes, flags, scheduler, io_poll", () => {
  withDisk((k) => {
    assert.is(writeSysfs(k, `${Q}/read_ahead_kb`, "9"), 1);
    assert.is(readSysfs(k, `${Q}/read_ahead_kb`), "8\n", "whole pages");
    assert.is(writeSysfs(k, `${Q}/max_sectors_kb`, "3"), "EINVAL", "below a page");
    assert.is(writeSysfs(k, `${Q}/max_sectors_kb`, "128"), "EINVAL", "above max_hw_sectors_kb");
    assert.is(writeSysfs(k, `${Q}/max_sectors_kb`, "64"), 2);
    assert.is(readSysfs(k, `${Q}/max_sectors_kb`), "64\n");
    assert.is(writeSysfs(k, `${Q}/discard_max_bytes`, "512"), "EINVAL", "granularity 0: every bit is a misalignment");
    assert.is(writeSysfs(k, `${Q}/discard_max_bytes`, "0"), 1);
    assert.is(writeSysfs(k, `${Q}/rotational`, "0"), 1);
    assert.is(readSysfs(k, `${Q}/rotational`), "0\n");
    assert.is(writeSysfs(k, `${Q}/iostats`, "0"), 1);
    assert.is(readSysfs(k, `${Q}/iostats`), "0\n");
    assert.is(writeSysfs(k, `${Q}/add_random`, "1"), 1);
    assert.is(readSysfs(k, `${Q}/add_random`), "1\n");
    assert.is(writeSysfs(k, `${Q}/scheduler`, "deadline\n"), 9, "accepted silently: no elevator");
    assert.is(readSysfs(k, `${Q}/scheduler`), "none\n");
    assert.is(writeSysfs(k, `${Q}/io_poll`, "1"), "EINVAL", "no mq_ops->poll");
    assert.is(writeSysfs(k, `${Q}/max_segments`, "1"), "EACCES");
  });
});

test("every queue attribute returns -ENOENT once the queue is dying, shows and stores alike", () => {
  withDisk((k) => {
    blkSetQueueDying(k.block.disk("d0")!.queue!);
    for (const a of BLK_QUEUE_ATTRS) {
      assert.throws(() => readSysfs(k, `${Q}/${a.name}`), (e: unknown) => e instanceof KernelError && e.code === "ENOENT", a.name);
      if (a.store) assert.is(writeSysfs(k, `${Q}/${a.name}`, "1"), "ENOENT", a.name);
    }
  });
});

test("a bio-based queue: nr_requests shows 128 and refuses writes; its disk registers and goes", () => {
  const k = boot({ cpus: 2 });
  const q = blkAllocQueueNode(k.block);
  blkQueueMakeRequest(q, () => {});
  const d = allocDisk(k.block, 1);
  d.diskName = "bio0";
  d.major = 7;
  d.queue = q;
  inTask(k, () => addDisk(d));
  assert.equal(k.sysfs.ls("/sys/block/bio0"), ["inflight", "queue", "size", "stat"]);
  assert.is(q.qUsageCounter.mode, "percpu");
  assert.is(readSysfs(k, "/sys/block/bio0/queue/nr_requests"), "128\n");
  assert.is(writeSysfs(k, "/sys/block/bio0/queue/nr_requests", "64"), "EINVAL");
  assert.is(readSysfs(k, "/sys/block/bio0/queue/iostats"), "0\n", "no QUEUE_FLAG_DEFAULT for bio queues");
  inTask(k, function* () {
    yield* delGendisk(d);
    yield* blkCleanupQueue(q);
    putDisk(d);
  });
  k.run();
  k.assertClean();
});

test.run();
