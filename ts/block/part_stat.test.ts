// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import { KernelBug, KernelError } from "../errors.ts";
import type { VirtualClock } from "../kernel/clock.ts";
import type { Kernel } from "../kernel/kernel.ts";
import type { Sleepable } from "../kernel/sched.ts";
import { FAILSLAB } from "../kernel/slab.ts";
import { CORE_VARIANTS } from "../wasm/core.ts";
import { boot, countingOps, inTask, makeBio, makeDisk, makeSet } from "./_testkit.ts";
import { bioExit, bioPut, REQ_WRITE, registerBioEndIo } from "./bio.ts";
import { blkMqEndRequest, blkMqStartRequest, submitBio } from "./blk_mq_request.ts";
import { addDisk, allocDisk, delGendisk, type Gendisk, putDisk } from "./genhd.ts";
import { blkAccountIoCompletion, blkAccountIoDone, blkAccountIoStart, PART, PART_STATS_SIZE, partRoundStatsNow } from "./part_stat.ts";
import { blkCleanupQueue } from "./request_queue.ts";
import { RQ } from "./request_record.ts";
import { BLK_MQ_F_SHOULD_MERGE } from "./hctx.ts";
import { BLK_MQ_RQ_QUEUE_OK, blkMqFreeTagSet } from "./tag_set.ts";

/** The records kmemleak sees at alloc_disk_node in the core's slab. */
function statRecords(k: Kernel): number {
  return k.slab.liveObjects().filter((r) => r.site === "alloc_disk_node" && r.size === PART_STATS_SIZE).length;
}

/** Moves the virtual clock on by `n` jiffies. */
function tick(k: Kernel, n: number): void {
  (k.clock as VirtualClock).advance(n * k.clock.tickNs);
}

/**
 * Runs `body` as a task without moving the clock (held requests keep their
 * timeout timers armed, which a plain run would fire).
 */
function now<T>(k: Kernel, body: () => Generator<unknown, T>): T {
  let out: { v: T } | undefined;
  k.sched.spawn("test", function* () {
    out = { v: yield* body() as Sleepable<T> };
  });
  const at = k.clock.now();
  const r = k.run({ deadline: at });
  if (out === undefined || k.clock.now() !== at) throw new Error(`now(): the run ended "${r.kind}" at ${k.clock.now()}`);
  return out.v;
}

/** A sysfs file of the disk read at this jiffy. */
function sysfs(k: Kernel, path: string): string {
  return now(k, () => k.sysfs.read(path));
}

test("part_stats_struct_size() is PART_STATS_SIZE and every field sits at its PART offset, in every core variant", () => {
  for (const v of CORE_VARIANTS) {
    const k = boot({ variant: v });
    assert.is(k.core.part_stats_struct_size(), PART_STATS_SIZE, v);
    const d = allocDisk(k.block, 1);
    const p = d.part0;
    blkAccountIoStart(k, p, 1, true); // in_flight[1] 1, stamp 0
    blkAccountIoStart(k, p, 0, false); // merges[0] 1
    blkAccountIoCompletion(k, p, 1, 3 * 512 + 511); // sectors[1] 3
    tick(k, 5);
    partRoundStatsNow(k, p); // io_ticks 5, time_in_queue 5, stamp 5
    blkAccountIoStart(k, p, 0, true); // in_flight[0] 1
    tick(k, 2);
    blkAccountIoDone(k, p, 0, 1); // ios[0] 1, ticks[0] 6, io_ticks 7, time_in_queue 9, stamp 7
    const dv = k.dv;
    const i64 = (off: number) => Number(dv.getBigInt64(p.ptr + off, true));
    assert.equal(
      [i64(PART.STAMP), dv.getInt32(p.ptr + PART.IN_FLIGHT, true), dv.getInt32(p.ptr + PART.IN_FLIGHT + 4, true)],
      [7, 0, 1],
      `${v}: stamp, in_flight`,
    );
    assert.equal([PART.SECTORS, PART.IOS, PART.MERGES, PART.TICKS].map((o) => [i64(o), i64(o + 8)]), [[0, 3], [1, 0], [1, 0], [6, 0]], v);
    assert.equal([i64(PART.IO_TICKS), i64(PART.TIME_IN_QUEUE)], [7, 9], v);
    assert.equal(
      { ios: p.ios, merges: p.merges, sectors: p.sectors, ticks: p.ticks, inFlight: p.inFlight, ioTicks: p.ioTicks, timeInQueue: p.timeInQueue, stamp: p.stamp },
      { ios: [1, 0], merges: [1, 0], sectors: [0, 3], ticks: [6, 0], inFlight: [0, 1], ioTicks: 7, timeInQueue: 9, stamp: 7 },
      `${v}: the view reads what the core wrote`,
    );
    putDisk(d);
    k.assertClean();
  }
});

test("the accounting functions refuse a bad address, direction or time with -22 and change nothing", () => {
  const k = boot();
  const d = allocDisk(k.block, 1);
  const p = d.part0.ptr;
  const before = k.u8.slice(p, p + PART_STATS_SIZE);
  const c = k.core;
  assert.equal(
    [
      c.part_round_stats(0, 1),
      c.part_round_stats(k.core.memory.buffer.byteLength - 8, 1),
      c.part_round_stats(p, -1),
      c.part_round_stats(p, 1.5),
      c.part_round_stats(p, NaN),
      c.part_round_stats(p, 2 ** 53 + 2),
      c.blk_account_io_start(p, 2, 1, 1),
      c.blk_account_io_start(p, -1, 0, 1),
      c.blk_account_io_completion(p, 2, 4096),
      c.blk_account_io_completion(8, 0, 4096),
      c.blk_account_io_done(p, 0, Infinity, 1),
      c.blk_account_io_done(p, 0, 0, -1),
    ],
    Array(12).fill(-22),
  );
  assert.equal(k.u8.slice(p, p + PART_STATS_SIZE), before);
  putDisk(d);
  k.assertClean();
});

test("sysfs stat counts I/Os, merges, sectors, ticks, io_ticks and time_in_queue across virtual time", () => {
  const k = boot({ cpus: 2 });
  const held: number[] = [];
  const set = makeSet(k, {
    nrHwQueues: 1,
    flags: BLK_MQ_F_SHOULD_MERGE,
    ops: {
      ...countingOps().ops,
      queueRq: (_hctx, bd) => {
        blkMqStartRequest(k, bd.rq);
        held.push(bd.rq);
        return BLK_MQ_RQ_QUEUE_OK;
      },
    },
  });
  const d = inTask(k, () => makeDisk(set, "d0"));
  const q = d.queue!;
  let ended = 0;
  const endIo = registerBioEndIo(k, "part_stat_test_end_io", (bio, kk) => {
    ended++;
    bioPut(kk, bio);
  });
  // At jiffy 0: async writes at 0 and 8 (one request, one merge), then a sync read at 1000.
  k.sched.spawn("io", function* () {
    const bios: number[] = [];
    for (const [sector, rw] of [[0, REQ_WRITE], [8, REQ_WRITE], [1000, 0]]) bios.push(yield* makeBio(k, q, sector, rw, endIo));
    for (const b of bios) yield* submitBio(k, b);
  }, { cpu: 0, bound: true });
  k.run({ deadline: 0 });
  assert.is(held.length, 2, "one write request (two bios), one read request");
  assert.is(k.clock.jiffies(), 0);
  const write = held.find((rq) => (k.dv.getUint32(rq + RQ.CMD_FLAGS, true) & REQ_WRITE) !== 0)!;
  const read = held.find((rq) => rq !== write)!;
  const end = (rq: number) =>
    now(k, function* () {
      blkMqEndRequest(k, rq, 0);
    });

  // Two in flight for 3 jiffies: io_ticks 3, time_in_queue 6; sectors count at completion.
  tick(k, 3);
  assert.is(sysfs(k, "/sys/block/d0/inflight"), "       1        1\n");
  assert.is(sysfs(k, "/sys/block/d0/stat"), "       0        0        0        0        0        1        0        0        2        3        6\n");
  // The write ends at 3 (3 jiffies); the read alone for 4 more, ending at 7 (7 jiffies).
  end(write);
  tick(k, 4);
  end(read);
  assert.equal(d.part0.stamp, 7, "the last round moved the stamp");
  // Nothing in flight for 5 jiffies: io_ticks and time_in_queue stay.
  tick(k, 5);
  assert.is(
    sysfs(k, "/sys/block/d0/stat"),
    "       1        0        8        7        1        1       16        3        0        7       10\n",
  );
  assert.equal(d.part0.stamp, 12, "stat rounds first");
  assert.is(ended, 3);

  inTask(k, function* () {
    yield* delGendisk(d);
  });
  assert.equal(
    [d.part0.ios, d.part0.merges, d.part0.sectors, d.part0.ticks, d.part0.inFlight, d.part0.ioTicks, d.part0.timeInQueue, d.part0.stamp],
    [[0, 0], [0, 0], [0, 0], [0, 0], [0, 0], 0, 0, 0],
    "del_gendisk() clears the statistics",
  );
  inTask(k, () => blkCleanupQueue(q));
  blkMqFreeTagSet(set);
  putDisk(d);
  assert.throws(() => d.part0.ios, (e: unknown) => e instanceof TypeError, "the record went with the disk");
  assert.throws(() => blkAccountIoStart(k, d.part0, 0, true), (e: unknown) => e instanceof KernelBug);
  k.log.clear();
  bioExit(k);
  k.run();
  assert.is(k.liveObjects(), 0);
  k.assertClean();
});

test("allocDisk() takes the record at alloc_disk_node; putDisk() of a disk never added frees it", () => {
  const k = boot();
  const d = allocDisk(k.block, 1);
  assert.is(statRecords(k), 1);
  assert.ok(d.part0.ptr !== 0);
  putDisk(d);
  assert.is(statRecords(k), 0);
  assert.is(d.part0.ptr, 0);
  assert.is(k.liveObjects(), 0);
  k.assertClean();
});

test("allocDisk() throws ENOMEM and leaves nothing when the record cannot be allocated", () => {
  const k = boot();
  k.slab.failNth(FAILSLAB, 1);
  assert.throws(() => allocDisk(k.block, 1), (e: unknown) => e instanceof KernelError && e.code === "ENOMEM");
  assert.is(k.liveObjects(), 0);
  k.assertClean();
});

test("a disk whose addDisk() fails (name in use) frees its record at putDisk()", () => {
  const k = boot({ cpus: 2 });
  const set = makeSet(k, { nrHwQueues: 1 });
  const d0 = inTask(k, () => makeDisk(set, "d0"));
  let d1: Gendisk | null = null;
  const code = inTask(k, function* () {
    const q = d0.queue!;
    d1 = allocDisk(k.block, 1);
    d1.diskName = "d0";
    d1.major = 252;
    d1.firstMinor = 1;
    d1.queue = q;
    try {
      yield* addDisk(d1);
      return "ok";
    } catch (e) {
      return e instanceof KernelError ? e.code : String(e);
    }
  });
  assert.is(code, "EEXIST");
  assert.is(statRecords(k), 2);
  d1!.queue = null;
  putDisk(d1);
  assert.is(statRecords(k), 1);
  inTask(k, function* () {
    const q = d0.queue!;
    yield* delGendisk(d0);
    yield* blkCleanupQueue(q);
  });
  blkMqFreeTagSet(set);
  putDisk(d0);
  k.run();
  assert.is(k.liveObjects(), 0);
  k.assertClean();
});

test.run();
