// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Kernel } from "../kernel/kernel.ts";
import { GFP_NOIO } from "../kernel/mempool.ts";
import type { Sleepable } from "../kernel/sched.ts";
import { nullBlkDevices, nullBlkModule } from "../drivers/null_blk.ts";
import { ramDevices, ramModule } from "../drivers/ram.ts";
import { boot, inTask, readSysfs } from "./_testkit.ts";
import {
  bioAddPage,
  bioAlloc,
  bioExit,
  bioField,
  bioPut,
  bioSetDev,
  bioSetField,
  fsBioSet,
  REQ_FLUSH,
  REQ_FLUSH_SEQ,
  REQ_FUA,
  REQ_SYNC,
  REQ_WRITE,
  registerBioEndIo,
} from "./bio.ts";
import { blkFlushPolicy, blkQueueFlush, REQ_FSEQ_DATA, REQ_FSEQ_POSTFLUSH, REQ_FSEQ_PREFLUSH } from "./blk_flush.ts";
import { blkMqEndRequest, rqField, submitBio } from "./blk_mq_request.ts";
import { RQ } from "./request_record.ts";
import type { RequestQueue } from "./request_queue.ts";
import { BLK_MQ_RQ_QUEUE_OK } from "./tag_set.ts";

const PAGE = 0x100000;
const EIO = -5;
const WRITE_SYNC = REQ_WRITE | REQ_SYNC;

/** What the driver was handed: "FLUSH" (a data-less flush request) or "DATA <flags>". */
interface Issued {
  rq: number;
  kind: "FLUSH" | "DATA";
  fua: boolean;
  flushSeq: boolean;
  len: number;
}

interface Ended {
  bio: number;
  error: number;
}

function loadNull(k: Kernel, flush: number): RequestQueue {
  inTask(k, () => nullBlkModule.init(k, { nr_devices: "1", irqmode: "0" }), "modprobe");
  const q = nullBlkDevices(k)[0].q!;
  blkQueueFlush(q, flush);
  return q;
}

function finishNull(k: Kernel): void {
  inTask(k, () => nullBlkModule.exit(k), "rmmod");
  bioExit(k);
  k.assertClean();
}

/** Wraps queue_rq to record each request; `hold` keeps a request (unstarted) instead of passing it on. */
function recordIssued(k: Kernel, q: RequestQueue, hold?: (i: Issued) => boolean): Issued[] {
  const ops = q.mqOps!;
  const orig = ops.queueRq;
  const issued: Issued[] = [];
  ops.queueRq = (hctx, bd) => {
    const flags = rqField(k, bd.rq, RQ.CMD_FLAGS);
    const len = rqField(k, bd.rq, RQ.DATA_LEN);
    const i: Issued = { rq: bd.rq, kind: (flags & REQ_FLUSH) !== 0 ? "FLUSH" : "DATA", fua: (flags & REQ_FUA) !== 0, flushSeq: (flags & REQ_FLUSH_SEQ) !== 0, len };
    issued.push(i);
    if (hold?.(i) === true) return BLK_MQ_RQ_QUEUE_OK;
    return orig(hctx, bd);
  };
  return issued;
}

function endRecorder(k: Kernel, ended: Ended[]): number {
  return registerBioEndIo(k, "flush_test_end_io", (bio, kk) => {
    ended.push({ bio, error: bioField(kk, bio, "bi_error") });
    bioPut(kk, bio);
  });
}

/** A bio of `bytes` (0 or 4096) at `sector` with flags `rw`. */
function* makeBio(k: Kernel, q: RequestQueue, sector: number, rw: number, bytes: number, endIo: number, page = PAGE): Sleepable<number> {
  const bio = yield* bioAlloc(fsBioSet(k), GFP_NOIO, 1);
  if (bytes > 0) bioAddPage(k, bio, page, bytes, 0);
  bioSetField(k, bio, "bi_sector", sector);
  bioSetField(k, bio, "bi_rw", rw);
  bioSetField(k, bio, "bi_end_io", endIo);
  bioSetDev(k, bio, q.id);
  return bio;
}

/** Submits one bio from a task on `cpu` and runs the machine idle; returns the bio. */
function submitOne(k: Kernel, q: RequestQueue, sector: number, rw: number, bytes: number, endIo: number, cpu = 0): number {
  let bio = 0;
  k.sched.spawn("submit", function* () {
    bio = yield* makeBio(k, q, sector, rw, bytes, endIo);
    yield* submitBio(k, bio);
  }, { cpu, bound: true });
  assert.is(k.run().kind, "done", k.log.text());
  return bio;
}

function kinds(issued: Issued[]): string[] {
  return issued.map((i) => i.kind + (i.fua ? "+FUA" : ""));
}

test("blkQueueFlush() keeps REQ_FLUSH / REQ_FUA only and refuses FUA without FLUSH", () => {
  const k = boot({ cpus: 2 });
  const q = loadNull(k, 0);
  assert.is(q.flushFlags, 0, "null_blk (v4.4) declares no write cache");
  blkQueueFlush(q, REQ_FLUSH | REQ_FUA);
  assert.is(q.flushFlags, REQ_FLUSH | REQ_FUA);
  blkQueueFlush(q, REQ_FUA);
  assert.is(q.flushFlags, 0);
  assert.ok(k.log.text().includes("WARN_ON_ONCE(!(flush & REQ_FLUSH) && (flush & REQ_FUA))"));
  inTask(k, () => nullBlkModule.exit(k), "rmmod");
  assert.is(k.liveObjects(), 0);
});

test("blkFlushPolicy(): DATA for sectors, PREFLUSH for REQ_FLUSH, POSTFLUSH for REQ_FUA without queue FUA", () => {
  const k = boot({ cpus: 2 });
  const q = loadNull(k, 0);
  const rq = q.queueHwCtx[0].tags!.rq(0);
  const dv = new DataView(k.core.memory.buffer);
  const policy = (fflags: number, flags: number, len: number): number => {
    dv.setUint32(rq + RQ.CMD_FLAGS, flags, true);
    dv.setUint32(rq + RQ.DATA_LEN, len, true);
    return blkFlushPolicy(fflags, k, rq);
  };
  assert.is(policy(0, REQ_FLUSH | REQ_FUA, 4096), REQ_FSEQ_DATA, "no write cache: data only");
  assert.is(policy(REQ_FLUSH, REQ_FLUSH, 0), REQ_FSEQ_PREFLUSH);
  assert.is(policy(REQ_FLUSH, REQ_FUA, 4096), REQ_FSEQ_DATA | REQ_FSEQ_POSTFLUSH);
  assert.is(policy(REQ_FLUSH, REQ_FLUSH | REQ_FUA, 4096), REQ_FSEQ_PREFLUSH | REQ_FSEQ_DATA | REQ_FSEQ_POSTFLUSH);
  assert.is(policy(REQ_FLUSH | REQ_FUA, REQ_FLUSH | REQ_FUA, 4096), REQ_FSEQ_PREFLUSH | REQ_FSEQ_DATA);
  assert.is(policy(REQ_FLUSH | REQ_FUA, REQ_FUA, 0), 0, "an empty FUA on a FUA device: nothing");
  dv.setUint32(rq + RQ.CMD_FLAGS, 0, true);
  dv.setUint32(rq + RQ.DATA_LEN, 0, true);
  finishNull(k);
});

test("an empty flush on a queue without flush capability ends at once with success; a FUA write goes down plain", () => {
  const k = boot({ cpus: 2 });
  const q = loadNull(k, 0);
  const issued = recordIssued(k, q);
  const ended: Ended[] = [];
  const endIo = endRecorder(k, ended);
  const flush = submitOne(k, q, 0, WRITE_SYNC | REQ_FLUSH, 0, endIo);
  assert.equal(ended, [{ bio: flush, error: 0 }]);
  assert.equal(issued, [], "the driver saw nothing");
  assert.is(readSysfs(k, "/sys/block/nullb0/mq/0/queued"), "0\n", "no request was even allocated");
  const fua = submitOne(k, q, 8, WRITE_SYNC | REQ_FUA, 4096, endIo);
  assert.equal(kinds(issued), ["DATA"], "REQ_FUA was dropped");
  assert.is(issued[0].flushSeq, false);
  assert.equal(ended[1], { bio: fua, error: 0 });
  finishNull(k);
});

test("blkInsertFlush() with nothing to do (an empty FUA bio on a FLUSH|FUA queue) ends the request at once", () => {
  const k = boot({ cpus: 2 });
  const q = loadNull(k, REQ_FLUSH | REQ_FUA);
  const issued = recordIssued(k, q);
  const ended: Ended[] = [];
  const endIo = endRecorder(k, ended);
  const bio = submitOne(k, q, 0, WRITE_SYNC | REQ_FUA, 0, endIo);
  assert.equal(ended, [{ bio, error: 0 }]);
  assert.equal(issued, []);
  assert.is(readSysfs(k, "/sys/block/nullb0/mq/0/queued"), "1\n", "a request was made, then ended by blk_insert_flush");
  assert.is(readSysfs(k, "/sys/block/nullb0/inflight"), "       0        0\n");
  finishNull(k);
});

test("a FUA write on a REQ_FLUSH-only queue runs DATA, then a POSTFLUSH; the bio ends once, after both", () => {
  for (const submitQueues of ["1", "2"]) {
    const k = boot({ cpus: 2 });
    inTask(k, () => nullBlkModule.init(k, { nr_devices: "1", irqmode: "0", submit_queues: submitQueues }), "modprobe");
    const q = nullBlkDevices(k)[0].q!;
    blkQueueFlush(q, REQ_FLUSH);
    const ended: Ended[] = [];
    const endIo = endRecorder(k, ended);
    const issued = recordIssued(k, q, () => {
      assert.equal(ended, [], "the bio waits for the whole sequence");
      return false;
    });
    const bio = submitOne(k, q, 8, WRITE_SYNC | REQ_FUA, 4096, endIo);
    assert.equal(kinds(issued), ["DATA", "FLUSH"], `submit_queues=${submitQueues}`);
    assert.equal([issued[0].len, issued[0].flushSeq], [4096, true], "the data step: REQ_FUA off, REQ_FLUSH_SEQ on");
    assert.equal([issued[1].len, issued[1].flushSeq], [0, true], "the flush request carries no data");
    assert.is(issued[1].rq, q.queueHwCtx[q.mqMap![0]].fq!.flushRq, "the hctx's own flush request");
    assert.equal(ended, [{ bio, error: 0 }]);
    const stat = readSysfs(k, "/sys/block/nullb0/stat").trim().split(/\s+/).map(Number);
    assert.equal([stat[4], stat[6], stat[8]], [1, 8, 0], "one write of 8 sectors, counted once; none in flight");
    assert.is(readSysfs(k, `/sys/block/nullb0/mq/${q.mqMap![0]}/cpu0/completed`), "1 0\n", "one sync request freed: the flush request never is");
    finishNull(k);
  }
});

test("a REQ_FLUSH|REQ_FUA write runs PREFLUSH, DATA, POSTFLUSH on a REQ_FLUSH-only queue; PREFLUSH, DATA+FUA on a FUA queue", () => {
  for (const [fflags, want] of [[REQ_FLUSH, ["FLUSH", "DATA", "FLUSH"]], [REQ_FLUSH | REQ_FUA, ["FLUSH", "DATA+FUA"]]] as const) {
    const k = boot({ cpus: 2 });
    const q = loadNull(k, fflags);
    const issued = recordIssued(k, q);
    const ended: Ended[] = [];
    const endIo = endRecorder(k, ended);
    const bio = submitOne(k, q, 16, WRITE_SYNC | REQ_FLUSH | REQ_FUA, 4096, endIo);
    assert.equal(kinds(issued), [...want]);
    assert.equal(ended, [{ bio, error: 0 }]);
    // A plain FUA write on the FUA queue needs no sequencing at all.
    if (fflags & REQ_FUA) {
      submitOne(k, q, 24, WRITE_SYNC | REQ_FUA, 4096, endIo);
      assert.equal(kinds(issued.slice(2)), ["DATA+FUA"]);
      assert.is(issued[2].flushSeq, false, "an ordinary request");
    }
    finishNull(k);
  }
});

/** Three empty flushes: A while nothing runs, then B and C while A's flush is held by the driver. */
function threeFlushes(k: Kernel, q: RequestQueue, ended: Ended[]) {
  const held: Issued[] = [];
  const issued = recordIssued(k, q, (i) => {
    if (i.kind !== "FLUSH") return false;
    held.push(i);
    return true;
  });
  const endIo = endRecorder(k, ended);
  const a = submitOne(k, q, 0, WRITE_SYNC | REQ_FLUSH, 0, endIo);
  const fq = q.queueHwCtx[0].fq!;
  assert.is(held.length, 1, "A's flush is out");
  assert.equal([fq.flushPendingIdx, fq.flushRunningIdx], [1, 0], "a flush is running");
  const rqA = fq.origRq;
  const tagA = rqField(k, rqA, RQ.TAG);
  assert.is(rqField(k, fq.flushRq, RQ.TAG), tagA, "the flush request borrowed A's tag");
  assert.is(q.queueHwCtx[0].tags!.rq(tagA), fq.flushRq, "and tags->rqs[tag] points at it");
  const b = submitOne(k, q, 0, WRITE_SYNC | REQ_FLUSH, 0, endIo);
  const c = submitOne(k, q, 0, WRITE_SYNC | REQ_FLUSH, 0, endIo);
  assert.is(held.length, 1, "B and C wait: a flush is running");
  assert.is(fq.flushQueue[1].length, 2);
  assert.equal(ended, []);
  blkMqEndRequest(k, held[0].rq, 0);
  assert.is(q.queueHwCtx[0].tags!.rq(tagA), rqA, "flush_end_io gave the tag back to A's request");
  assert.is.not(rqField(k, fq.flushRq, RQ.TAG), tagA, "the next flush borrowed B's tag");
  assert.is(k.run().kind, "done");
  assert.equal(ended, [{ bio: a, error: 0 }], "A is done; B and C share the next flush");
  assert.is(held.length, 2);
  return { held, issued, bios: [a, b, c] };
}

test("two flushes that arrive while one runs share the next flush request (flush merging)", () => {
  const k = boot({ cpus: 2 });
  const q = loadNull(k, REQ_FLUSH);
  const ended: Ended[] = [];
  const { held, issued, bios } = threeFlushes(k, q, ended);
  blkMqEndRequest(k, held[1].rq, 0);
  assert.is(k.run().kind, "done");
  assert.equal(ended.map((e) => e.bio), bios, "each bio ended once");
  assert.ok(ended.every((e) => e.error === 0));
  assert.equal(kinds(issued), ["FLUSH", "FLUSH"], "three flush bios, two flush requests");
  const fq = q.queueHwCtx[0].fq!;
  assert.equal([fq.flushPendingIdx, fq.flushRunningIdx], [0, 0], "no flush running");
  assert.is(rqField(k, fq.flushRq, RQ.TAG), -1, "the tag went back");
  assert.is(q.queueHwCtx[0].tags!.tags.bitmap().used, 0, "every tag was put back");
  finishNull(k);
});

test("an error in the flush request fails every bio waiting on it with that errno", () => {
  const k = boot({ cpus: 2 });
  const q = loadNull(k, REQ_FLUSH);
  const ended: Ended[] = [];
  const { held, bios } = threeFlushes(k, q, ended);
  blkMqEndRequest(k, held[1].rq, EIO);
  assert.is(k.run().kind, "done");
  assert.equal(ended, [{ bio: bios[0], error: 0 }, { bio: bios[1], error: EIO }, { bio: bios[2], error: EIO }]);
  assert.is(readSysfs(k, "/sys/block/nullb0/inflight"), "       0        0\n");
  inTask(k, () => nullBlkModule.exit(k), "rmmod");
  bioExit(k);
  assert.is(k.liveObjects(), 0, "nothing leaked (the log holds the expected I/O errors)");
});

test("a failed POSTFLUSH fails the FUA write after its data went down", () => {
  const k = boot({ cpus: 2 });
  const q = loadNull(k, REQ_FLUSH);
  const ops = q.mqOps!;
  const orig = ops.queueRq;
  ops.queueRq = (hctx, bd) => {
    if ((rqField(k, bd.rq, RQ.CMD_FLAGS) & REQ_FLUSH) === 0) return orig(hctx, bd);
    blkMqEndRequest(k, bd.rq, EIO);
    return BLK_MQ_RQ_QUEUE_OK;
  };
  const ended: Ended[] = [];
  const bio = submitOne(k, q, 0, WRITE_SYNC | REQ_FUA, 4096, endRecorder(k, ended));
  assert.equal(ended, [{ bio, error: EIO }]);
  inTask(k, () => nullBlkModule.exit(k), "rmmod");
  bioExit(k);
  assert.is(k.liveObjects(), 0);
});

test("data written through PREFLUSH/DATA/POSTFLUSH to a RAM disk reads back intact", () => {
  const k = boot({ cpus: 2 });
  inTask(k, () => ramModule.init(k, { rd_size: "64" }), "modprobe");
  const q = ramDevices(k)[0].q!;
  assert.is(q.flushFlags, 0, "brd declares no write cache");
  blkQueueFlush(q, REQ_FLUSH); // as a device with a volatile cache would
  const issued = recordIssued(k, q);
  const ended: Ended[] = [];
  const endIo = endRecorder(k, ended);
  const src = k.slab.allocPages(0);
  const dst = k.slab.allocPages(0);
  const mem = () => new Uint8Array(k.core.memory.buffer);
  for (let i = 0; i < 4096; i++) mem()[src + i] = (i * 7 + 3) & 0xff;
  mem().fill(0, dst, dst + 4096);
  k.sched.spawn("io", function* () {
    yield* submitBio(k, yield* makeBio(k, q, 40, WRITE_SYNC | REQ_FLUSH | REQ_FUA, 4096, endIo, src));
    yield* submitBio(k, yield* makeBio(k, q, 0, WRITE_SYNC | REQ_FLUSH, 0, endIo));
  }, { cpu: 0, bound: true });
  assert.is(k.run().kind, "done");
  k.sched.spawn("io", function* () {
    yield* submitBio(k, yield* makeBio(k, q, 40, 0, 4096, endIo, dst));
  }, { cpu: 0, bound: true });
  assert.is(k.run().kind, "done");
  // The empty flush came while the write's PREFLUSH ran and waited (C2: data in flight) until
  // the write's POSTFLUSH: one flush request served both.
  assert.equal(kinds(issued), ["FLUSH", "DATA", "FLUSH", "DATA"]);
  assert.is(ended.length, 3);
  assert.ok(ended.every((e) => e.error === 0));
  assert.equal(mem().slice(dst, dst + 4096), mem().slice(src, src + 4096));
  k.slab.freePages(src, 0);
  k.slab.freePages(dst, 0);
  inTask(k, () => ramModule.exit(k), "rmmod");
  bioExit(k);
  k.assertClean();
});

test.run();
