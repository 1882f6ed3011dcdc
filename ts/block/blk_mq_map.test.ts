// SPDX-License-Identifier: GPL-2.0-only
/**
 * Tests for the request path's map, merge and insert steps in the core
 * (asm/blk_mq_map.ts): through submitBio() on null_blk, and the exports on
 * records made here.
 *
 * @module
 */

import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Kernel } from "../kernel/kernel.ts";
import { GFP_NOIO } from "../kernel/mempool.ts";
import { nullBlkDevices, nullBlkModule } from "../drivers/null_blk.ts";
import { boot, inTask, readSysfs, TEST_PAGE as PAGE, writeSizes } from "./_testkit.ts";
import { bioAddPage, bioAlloc, bioExit, bioField, bioPut, bioSetField, fsBioSet, REQ_IO_STAT, REQ_NOMERGE, REQ_WRITE, registerBioEndIo } from "./bio.ts";
import { rqField } from "./blk_mq_request.ts";
import { Q, QUEUE_FLAG_IO_STAT, type RequestQueue } from "./request_queue.ts";
import { RQ } from "./request_record.ts";
import { getU64 } from "./_u64.ts";

const EINVAL = -22;
const EFAULT = -14;
/** blk_rq_bio_merge()'s answers. */
const NONE = 0;
const DONE = 1;
const REFUSED = 2;

/** null_blk (one device, irqmode=0) on a 2-CPU machine, with an end_io that counts and puts. */
function nullb(): { k: Kernel; q: RequestQueue; ended: number[]; endIo: number } {
  const k = boot({ cpus: 2 });
  inTask(k, () => nullBlkModule.init(k, { nr_devices: "1", irqmode: "0" }), "modprobe");
  const ended: number[] = [];
  const endIo = registerBioEndIo(k, "map_test_end_io", (bio, kk) => {
    ended.push(bioField(kk, bio, "bi_error"));
    bioPut(kk, bio);
  });
  return { k, q: nullBlkDevices(k)[0].q!, ended, endIo };
}

function finish(k: Kernel): void {
  inTask(k, () => nullBlkModule.exit(k), "rmmod");
  bioExit(k);
  k.assertClean();
}

/** The write merges of /sys/block/nullb0/stat. */
function writeMerges(k: Kernel): number {
  return Number(readSysfs(k, "/sys/block/nullb0/stat").trim().split(/\s+/)[5]);
}

test("a ctx back merge refused by max_segments marks the request REQ_NOMERGE and ends the search", () => {
  const { k, q, ended, endIo } = nullb();
  q.limits.maxSegments = 2;
  // [124,132); [100,116) of two bios; 116 fits behind [100,116) (refused: 3 segments) and before
  // [124,132), which is not tried: the refusal ends blk_mq_attempt_merge(). 92 would fit before
  // [100,116) again, but the refusal left that request REQ_NOMERGE.
  const sizes = writeSizes(k, q, [124, 100, 108, 116, 92], endIo, false);
  assert.equal(sizes, [4096, 8192, 4096, 4096], "one merge, four requests");
  assert.is(readSysfs(k, "/sys/block/nullb0/mq/0/cpu0/merged"), "1\n");
  assert.is(writeMerges(k), 1);
  assert.is(ended.length, 5);
  assert.ok(ended.every((e) => e === 0));
  q.limits.maxSegments = 128;
  finish(k);
});

test("a ctx merge refused by max_sectors leaves a request of its own; within the limit it merges", () => {
  const { k, q, ended, endIo } = nullb();
  q.limits.maxSectors = 16;
  // 0 + 8 make 16 sectors; 16 would make 24.
  const sizes = writeSizes(k, q, [0, 8, 16], endIo, false);
  assert.equal(sizes, [8192, 4096]);
  assert.is(readSysfs(k, "/sys/block/nullb0/mq/0/cpu0/merged"), "1\n");
  assert.is(ended.length, 3);
  q.limits.maxSectors = 255;
  finish(k);
});

test("a plug merge refused by max_segments goes on to older plugged requests, counted by the disk only", () => {
  const { k, q, ended, endIo } = nullb();
  q.limits.maxSegments = 2;
  // The plug holds every request of the one-hw-queue device: 116 is refused behind [100,116) and
  // joins [124,132) at its front (the plug scan does not stop at a refusal).
  const sizes = writeSizes(k, q, [124, 100, 108, 116], endIo, true);
  assert.equal(sizes.slice().sort((a, b) => a - b), [8192, 8192]);
  assert.is(writeMerges(k), 2);
  assert.is(readSysfs(k, "/sys/block/nullb0/mq/0/cpu0/merged"), "0\n", "plug merges are not the ctx's");
  assert.is(ended.length, 4);
  q.limits.maxSegments = 128;
  finish(k);
});

/** A queue record, a request record and a bio of `k` for the export tests; `free()` gives them back. */
function records(k: Kernel): { q: number; rq: number; bio: number; free(): void } {
  const q = k.slab.kzalloc(64, "map_test_q");
  const rq = k.slab.kzalloc(128, "map_test_rq");
  const bio = inTask(k, () => bioAlloc(fsBioSet(k), GFP_NOIO, 1));
  assert.is(bioAddPage(k, bio, PAGE, 4096, 0), 4096);
  const dv = k.dv;
  dv.setUint32(q + Q.MAX_SECTORS, 255, true);
  dv.setUint32(q + Q.MAX_SEGMENTS, 128, true);
  return {
    q,
    rq,
    bio,
    free() {
      bioPut(k, bio);
      k.slab.kfree(rq);
      k.slab.kfree(q);
    },
  };
}

test("blk_rq_bio_merge() answers none, done (back and front) and refused, and marks a refusal REQ_NOMERGE", () => {
  const k = boot({ cpus: 1 });
  const { q, rq, bio, free } = records(k);
  const core = k.core;
  const other = inTask(k, () => bioAlloc(fsBioSet(k), GFP_NOIO, 1));
  assert.is(bioAddPage(k, other, PAGE, 4096, 0), 4096);
  bioSetField(k, bio, "bi_sector", 8);
  assert.is(core.blk_mq_bio_to_request(q, rq, bio, 0), 0);
  bioSetField(k, other, "bi_sector", 100);
  assert.is(core.blk_rq_bio_merge(q, rq, other, 0), NONE, "not adjacent");
  bioSetField(k, other, "bi_sector", 16);
  bioSetField(k, other, "bi_rw", REQ_WRITE);
  assert.is(core.blk_rq_bio_merge(q, rq, other, 0), NONE, "another data direction");
  bioSetField(k, other, "bi_rw", 0);
  assert.is(core.blk_rq_bio_merge(q, rq, other, 0), DONE, "back merge");
  assert.is(rqField(k, rq, RQ.BIOTAIL), other);
  assert.is(bioField(k, bio, "bi_next"), other);
  assert.is(rqField(k, rq, RQ.DATA_LEN), 8192);
  assert.is(k.dv.getUint16(rq + RQ.NR_PHYS_SEGMENTS, true), 2);
  // Front: a third bio at 0 before [8,24), once within 2 segments (refused), then with room.
  const front = inTask(k, () => bioAlloc(fsBioSet(k), GFP_NOIO, 1));
  assert.is(bioAddPage(k, front, PAGE, 4096, 0), 4096);
  k.dv.setUint32(q + Q.MAX_SEGMENTS, 2, true);
  assert.is(core.blk_rq_bio_merge(q, rq, front, 0), REFUSED);
  assert.is(rqField(k, rq, RQ.CMD_FLAGS) & REQ_NOMERGE, REQ_NOMERGE);
  assert.is(rqField(k, rq, RQ.DATA_LEN), 8192, "a refused merge changes nothing else");
  k.dv.setUint32(q + Q.MAX_SEGMENTS, 128, true);
  assert.is(core.blk_rq_bio_merge(q, rq, front, 0), NONE, "REQ_NOMERGE sticks");
  k.dv.setUint32(rq + RQ.CMD_FLAGS, 0, true);
  assert.is(core.blk_rq_bio_merge(q, rq, front, 0), DONE, "front merge");
  assert.is(rqField(k, rq, RQ.BIO), front);
  assert.is(bioField(k, front, "bi_next"), bio);
  assert.is(getU64(k.dv, rq + RQ.SECTOR), 0);
  assert.is(rqField(k, rq, RQ.DATA_LEN), 12288);
  for (const b of [bio, other, front]) bioSetField(k, b, "bi_next", 0);
  bioPut(k, front);
  bioPut(k, other);
  free();
  bioExit(k);
  k.assertClean();
});

test("the map exports refuse records outside memory with -EINVAL and write nothing", () => {
  const k = boot({ cpus: 1 });
  const { q, rq, bio, free } = records(k);
  const core = k.core;
  const end = core.memory.buffer.byteLength;
  bioSetField(k, bio, "bi_sector", 8);
  assert.is(core.blk_mq_bio_to_request(q, rq, end - 8, 0), EINVAL);
  assert.is(core.blk_mq_bio_to_request(q, 0, bio, 0), EINVAL);
  assert.is(core.blk_rq_bio_merge(q, rq, end, 0), EINVAL);
  assert.is(core.blk_mq_attempt_merge(q, 4, bio, 0), EINVAL);
  assert.is(core.__blk_mq_insert_request(end, rq, rq, 0), EINVAL);
  assert.is(core.blk_mq_rq_ctx_init(q, 0, 0, rq, 0, 0, 0), EINVAL);
  assert.is(core.blk_mq_merge_queue_io(q, 0, 0, rq, bio, 0), EINVAL);
  assert.is(rqField(k, rq, RQ.BIO), 0, "the request was not touched");
  // A back merge whose request's tail bio lies outside memory: refused before anything is linked.
  assert.is(core.blk_mq_bio_to_request(q, rq, bio, 0), 0);
  k.dv.setUint32(rq + RQ.BIOTAIL, end - 4, true);
  const other = inTask(k, () => bioAlloc(fsBioSet(k), GFP_NOIO, 1));
  assert.is(bioAddPage(k, other, PAGE, 4096, 0), 4096);
  bioSetField(k, other, "bi_sector", 16);
  assert.is(core.blk_rq_bio_merge(q, rq, other, 0), EINVAL);
  assert.is(rqField(k, rq, RQ.DATA_LEN), 4096);
  bioPut(k, other);
  free();
  bioExit(k);
  k.assertClean();
});

test("blk_mq_bio_to_request() accounts on the queue's part0 only with REQ_IO_STAT, and a refused part0 is -EFAULT", () => {
  const k = boot({ cpus: 1 });
  const { q, rq, bio, free } = records(k);
  const core = k.core;
  const part0 = k.slab.kzalloc(96, "map_test_part0");
  bioSetField(k, bio, "bi_sector", 8);
  k.dv.setUint32(q + Q.PART0, part0, true);
  assert.is(core.blk_mq_bio_to_request(q, rq, bio, 5), 0);
  assert.is(k.dv.getInt32(part0 + 8, true), 0, "no REQ_IO_STAT: not in flight");
  k.dv.setUint32(rq + RQ.CMD_FLAGS, REQ_IO_STAT, true);
  assert.is(core.blk_mq_bio_to_request(q, rq, bio, 5), 0);
  assert.is(k.dv.getInt32(part0 + 8, true), 1, "a new read in flight");
  assert.is(getU64(k.dv, part0), 5, "the stamp moved to now");
  k.dv.setInt32(part0 + 8, 0, true);
  k.dv.setUint32(q + Q.PART0, 8, true);
  assert.is(core.blk_mq_bio_to_request(q, rq, bio, 5), EFAULT);
  k.dv.setUint32(q + Q.PART0, 0, true);
  assert.is(core.blk_mq_bio_to_request(q, rq, bio, 5), 0, "no disk: nothing accounted");
  k.slab.kfree(part0);
  free();
  bioExit(k);
  k.assertClean();
});

test("blk_mq_rq_ctx_init() resets the first 96 bytes and sets up the request, counting queued and dispatched", () => {
  const k = boot({ cpus: 1 });
  const { q, rq, free } = records(k);
  const core = k.core;
  const hctx = k.slab.kzalloc(192, "map_test_hctx");
  const ctx = k.slab.kzalloc(64, "map_test_ctx");
  const dv = k.dv;
  dv.setUint32(q, 7, true);
  dv.setUint32(q + Q.QUEUE_FLAGS, 1 << QUEUE_FLAG_IO_STAT, true);
  dv.setUint32(hctx + 16, 3, true);
  dv.setInt32(ctx + 8, 1, true);
  k.u8.fill(0xff, rq, rq + 128);
  assert.is(core.blk_mq_rq_ctx_init(q, hctx, ctx, rq, REQ_WRITE, 5, 1234), 0);
  assert.is(rqField(k, rq, RQ.Q), 7);
  assert.is(rqField(k, rq, RQ.QUEUE), q);
  assert.is(rqField(k, rq, RQ.MQ_CTX), 1);
  assert.is(rqField(k, rq, RQ.CMD_FLAGS), REQ_WRITE | REQ_IO_STAT, "an async write: no REQ_SYNC");
  assert.is(rqField(k, rq, RQ.TAG), 5);
  assert.is(rqField(k, rq, RQ.CPU), -1);
  assert.is(dv.getFloat64(rq + RQ.START_TIME, true), 1234);
  assert.is(rqField(k, rq, RQ.HCTX), 3);
  assert.is(rqField(k, rq, RQ.ERRORS), 0);
  assert.is(rqField(k, rq, RQ.BIO), 0);
  assert.is(rqField(k, rq, RQ.FLUSH_SEQ), -1, "flush.seq is not reset");
  assert.is(getU64(dv, hctx + 48), 1, "hctx->queued");
  assert.equal([getU64(dv, ctx + 16), getU64(dv, ctx + 24)], [1, 0], "rq_dispatched [async, sync]");
  dv.setUint32(q + Q.QUEUE_FLAGS, 0, true);
  assert.is(core.blk_mq_rq_ctx_init(q, hctx, ctx, rq, 0, 6, 1300), 0);
  assert.is(rqField(k, rq, RQ.CMD_FLAGS), 1 << 4, "a read is sync (REQ_SYNC); no IO_STAT without the flag");
  assert.equal([getU64(dv, ctx + 16), getU64(dv, ctx + 24)], [1, 1]);
  k.slab.kfree(ctx);
  k.slab.kfree(hctx);
  free();
  bioExit(k);
  k.assertClean();
});

test.run();
