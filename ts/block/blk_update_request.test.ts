// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Kernel } from "../kernel/kernel.ts";
import { nullBlkDevices, nullBlkModule } from "../drivers/null_blk.ts";
import { boot, dropDisk, inTask, makeDisk, makeSet, readSysfs, submitWrites } from "./_testkit.ts";
import { GFP_NOIO } from "../kernel/mempool.ts";
import { sleep } from "../kernel/sched.ts";
import { bioAddPage, bioAlloc, bioChain, bioEndio, bioExit, bioField, bioPut, bioSetDev, bioSetField, fsBioSet, registerBioEndIo, REQ_WRITE } from "./bio.ts";
import { blkMqEndRequest, blkMqFreeRequest, blkMqStartRequest, rqField, submitBio } from "./blk_mq_request.ts";
import { blkRqBytes, blkUpdateRequest } from "./blk_update_request.ts";
import { HCTX } from "./hctx.ts";
import { RQ } from "./request_record.ts";
import { blkMqFreeRqMap } from "./tag_set.ts";
import { registerRqEndIo } from "./_rq_end_io.ts";
import { BLK_MQ_RQ_QUEUE_OK } from "./tag_set.ts";

const EIO = -5;

interface Ended {
  bio: number;
  error: number;
  size: number;
}

function setup(k: Kernel): void {
  inTask(k, () => nullBlkModule.init(k, { nr_devices: "1", irqmode: "0" }), "modprobe");
}

function finish(k: Kernel): void {
  inTask(k, () => nullBlkModule.exit(k), "rmmod");
  bioExit(k);
  k.assertClean();
}

/** Async 4 KiB writes at `sectors` from one task on CPU 0: adjacent ones merge in the ctx. */
function writeMerged(k: Kernel, sectors: number[], ended: Ended[]): number[] {
  const endIo = registerBioEndIo(k, "update_test_end_io", (bio, kk) => {
    ended.push({ bio, error: bioField(kk, bio, "bi_error"), size: bioField(kk, bio, "bi_size") });
    bioPut(kk, bio);
  });
  return submitWrites(k, nullBlkDevices(k)[0].q!, sectors, endIo);
}

test("blkUpdateRequest() completes a 3-bio request in two steps; each bio ends once with its own bi_error", () => {
  const k = boot({ cpus: 2 });
  setup(k);
  const q = nullBlkDevices(k)[0].q!;
  const ops = q.mqOps!;
  const orig = ops.queueRq;
  const steps: { more: boolean; ended: number; len: number; sector: number; segs: number }[] = [];
  const ended: Ended[] = [];
  ops.queueRq = (_hctx, bd) => {
    blkMqStartRequest(k, bd.rq);
    assert.is(blkRqBytes(k, bd.rq), 12288, "three 4 KiB bios merged into one request");
    // Step 1: the first bio and half of the second (6 KiB).
    const more = blkUpdateRequest(k, bd.rq, 0, 6144);
    steps.push({ more, ended: ended.length, len: blkRqBytes(k, bd.rq), sector: Number(rqField(k, bd.rq, RQ.SECTOR)), segs: rqField(k, bd.rq, RQ.NR_PHYS_SEGMENTS) & 0xffff });
    // Step 2: the rest fails.
    blkMqEndRequest(k, bd.rq, EIO);
    return BLK_MQ_RQ_QUEUE_OK;
  };
  const bios = writeMerged(k, [100, 108, 116], ended);
  ops.queueRq = orig;
  assert.equal(steps, [{ more: true, ended: 1, len: 6144, sector: 112, segs: 2 }], "after 6 KiB: one bio ended, 6 KiB left from sector 112");
  assert.equal(ended.map((e) => e.bio), bios, "each bio ended once, in order");
  assert.equal(ended.map((e) => e.error), [0, EIO, EIO]);
  assert.ok(ended.every((e) => e.size === 0), "every bio was advanced over all its bytes");
  assert.ok(k.log.text().includes("blk_update_request: I/O error, dev nullb0, sector 112"), "the error names where the failed part starts");
  assert.is(readSysfs(k, "/sys/block/nullb0/inflight"), "       0        0\n");
  const stat = readSysfs(k, "/sys/block/nullb0/stat").trim().split(/\s+/).map(Number);
  assert.equal([stat[4], stat[6]], [1, 24], "one write I/O of 24 sectors, counted over both steps");
  finish(k);
});

test("blkMqEndRequest() BUGs when bytes would remain after blk_update_request()", () => {
  const k = boot({ cpus: 2 });
  setup(k);
  const q = nullBlkDevices(k)[0].q!;
  const ops = q.mqOps!;
  const orig = ops.queueRq;
  let bugged = "";
  ops.queueRq = (_hctx, bd) => {
    blkMqStartRequest(k, bd.rq);
    // A driver that lies about the size: __data_len short of the bios' bytes.
    new DataView(k.core.memory.buffer).setUint32(bd.rq + RQ.DATA_LEN, 4096, true);
    try {
      blkMqEndRequest(k, bd.rq, 0);
    } catch (e) {
      bugged = (e as { code?: string }).code ?? "";
      // The first bio was done; the true remainder is the second one's 4 KiB.
      assert.is(blkRqBytes(k, bd.rq), 0);
      new DataView(k.core.memory.buffer).setUint32(bd.rq + RQ.DATA_LEN, 4096, true);
      blkMqEndRequest(k, bd.rq, 0);
    }
    return BLK_MQ_RQ_QUEUE_OK;
  };
  const ended: Ended[] = [];
  writeMerged(k, [0, 8], ended);
  ops.queueRq = orig;
  assert.is(bugged, "BUG");
  assert.ok(k.log.text().includes("kernel BUG at block/blk-mq.c:blk_mq_end_request"));
  assert.is(ended.length, 2);
  assert.ok(ended.every((e) => e.error === 0));
  inTask(k, () => nullBlkModule.exit(k), "rmmod");
  bioExit(k);
  assert.is(k.liveObjects(), 0, "nothing leaked (the log holds the expected BUG)");
});

test("blkMqEndRequest() ends a chained bio's parent right after it, before the request's next bio", () => {
  const k = boot({ cpus: 2 });
  setup(k);
  const q = nullBlkDevices(k)[0].q!;
  const order: number[] = [];
  const endIo = registerBioEndIo(k, "update_test_order_end_io", (bio, kk) => {
    order.push(bio);
    bioPut(kk, bio);
  });
  const bios: number[] = [];
  let parent = 0;
  k.sched.spawn("writer", function* () {
    parent = yield* bioAlloc(fsBioSet(k), GFP_NOIO, 1);
    bioSetField(k, parent, "bi_end_io", endIo);
    for (const s of [200, 208, 216]) {
      const bio = yield* bioAlloc(fsBioSet(k), GFP_NOIO, 1);
      bioAddPage(k, bio, 0x100000, 4096, 0);
      bioSetField(k, bio, "bi_sector", s);
      bioSetField(k, bio, "bi_rw", REQ_WRITE);
      bioSetDev(k, bio, q.id);
      bios.push(bio);
    }
    bioSetField(k, bios[0], "bi_end_io", endIo);
    bioChain(k, bios[1], parent);
    bioSetField(k, bios[2], "bi_end_io", endIo);
    // The parent's own part is done: it now waits for its child only.
    bioEndio(k, parent);
    for (const b of bios) yield* submitBio(k, b);
  }, { cpu: 0, bound: true });
  assert.is(k.run().kind, "done");
  assert.equal(order, [bios[0], parent, bios[2]], "the child's end (inside the request's walk) ended its parent at once");
  assert.is(bioField(k, parent, "bi_error"), 0);
  finish(k);
});

test("blkMqEndRequest() calls rq->end_io after the disk's accounting; an end_io id nobody registered frees the request", () => {
  const k = boot({ cpus: 2 });
  setup(k);
  const q = nullBlkDevices(k)[0].q!;
  const ops = q.mqOps!;
  const orig = ops.queueRq;
  const part0 = nullBlkDevices(k)[0].disk!.part0;
  const calls: { rq: number; error: number; ios: number; tag: number }[] = [];
  const id = registerRqEndIo((kk, rq, error) => {
    calls.push({ rq, error, ios: part0.ios[1], tag: rqField(kk, rq, RQ.TAG) });
    blkMqFreeRequest(q, rq);
  });
  const rqs: number[] = [];
  let n = 0;
  ops.queueRq = (_hctx, bd) => {
    blkMqStartRequest(k, bd.rq);
    rqs.push(bd.rq);
    new DataView(k.core.memory.buffer).setUint32(bd.rq + RQ.END_IO, n++ === 0 ? id : 0x7fff, true);
    blkMqEndRequest(k, bd.rq, EIO);
    return BLK_MQ_RQ_QUEUE_OK;
  };
  const ended: Ended[] = [];
  writeMerged(k, [0, 64], ended);
  ops.queueRq = orig;
  assert.is(rqs.length, 2, "two requests (not adjacent)");
  assert.equal(calls.map((c) => [c.rq, c.error, c.ios]), [[rqs[0], EIO, 1]], "end_io ran once, after blk_account_io_done() counted the write");
  assert.ok(calls[0].tag >= 0, "the request still held its tag in end_io");
  assert.equal(ended.map((e) => e.error), [EIO, EIO], "both requests' bios ended first");
  const stat = readSysfs(k, "/sys/block/nullb0/stat").trim().split(/\s+/).map(Number);
  assert.is(stat[4], 2, "both writes counted");
  finish(k);
});

test("blkMqFreeRequest() of a request already freed reports the double put as before and keeps the queue reference", () => {
  const k = boot({ cpus: 2 });
  setup(k);
  const q = nullBlkDevices(k)[0].q!;
  const ops = q.mqOps!;
  const orig = ops.queueRq;
  let thrown: unknown = null;
  ops.queueRq = (_hctx, bd) => {
    blkMqStartRequest(k, bd.rq);
    blkMqEndRequest(k, bd.rq, 0);
    new DataView(k.core.memory.buffer).setUint32(bd.rq + RQ.CMD_FLAGS, REQ_WRITE, true);
    try {
      blkMqFreeRequest(q, bd.rq);
    } catch (e) {
      thrown = e;
    }
    assert.is(rqField(k, bd.rq, RQ.CMD_FLAGS), 0, "the record was reset before the put");
    return BLK_MQ_RQ_QUEUE_OK;
  };
  const ended: Ended[] = [];
  writeMerged(k, [0], ended);
  ops.queueRq = orig;
  assert.instance(thrown, RangeError, "the tag map's double-put check");
  assert.is(ended.length, 1);
  // A second queue reference dropped would make blk_cleanup_queue()'s drain hang.
  finish(k);
});

test("blkMqEndRequest() on an hctx whose map was freed under it reports KASAN's use-after-free in blk_mq_put_tag, puts nothing and drops the queue reference", () => {
  const k = boot({ cpus: 2 });
  const set = makeSet(k, { nrHwQueues: 1, queueDepth: 8 });
  const held: number[] = [];
  set.ops.queueRq = (_hctx, bd) => {
    blkMqStartRequest(k, bd.rq);
    held.push(bd.rq);
    return BLK_MQ_RQ_QUEUE_OK;
  };
  const disk = inTask(k, () => makeDisk(set, "uaf"));
  const q = disk.queue!;
  const hctx = q.queueHwCtx[0];
  const map = set.tags![0]!;
  assert.is(k.dv.getUint32(hctx.addr + HCTX.TAGS, true), map.tags.addr, "the record holds the live map");
  const ended: Ended[] = [];
  const endIo = registerBioEndIo(k, "update_test_uaf_end_io", (bio, kk) => {
    ended.push({ bio, error: bioField(kk, bio, "bi_error"), size: 0 });
    bioPut(kk, bio);
  });
  let recordTags = -1;
  k.sched.spawn("remap", function* () {
    yield sleep(1_000_000);
    assert.is(held.length, 1);
    // What a hotplug remap of another queue of a shared set does (ts/block/hotplug.test.ts).
    blkMqFreeRqMap(set, map, 0);
    set.tags![0] = null;
    recordTags = k.dv.getUint32(hctx.addr + HCTX.TAGS, true);
    blkMqEndRequest(k, held[0], 0);
  });
  submitWrites(k, q, [0], endIo);
  assert.is(recordTags, 0, "the record forgot the freed map");
  assert.is(ended.length, 1, "the bio ended");
  assert.ok(k.log.lines().some((l) => l.includes("BUG: KASAN: use-after-free in blk_mq_put_tag")));
  // blk_cleanup_queue() waits for q_usage_counter to drain: the request's reference was dropped.
  inTask(k, () => dropDisk(disk, set));
  bioExit(k);
  assert.is(k.liveObjects(), 0);
});

test.run();
