// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  ctxCompletedShow,
  ctxDispatchedShow,
  ctxMergedShow,
  diskInflightShow,
  diskStatShow,
  formatKernelPointer,
  hctxActiveShow,
  hctxCpuListShow,
  hctxDispatchedShow,
  hctxIoPollShow,
  hctxQueuedShow,
  hctxRunShow,
  hctxTagsShow,
  QUEUE_ATTRS,
  queueAttrShow,
  type QueueSysfsState,
  queueVarShow,
} from "./_format.ts";

test("hctxDispatchedShow() prints ten right-aligned buckets 0, 1, 2, 4 … 256 with a tab", () => {
  const want = "       0\t5\n" +
    "       1\t3\n" +
    "       2\t0\n" +
    "       4\t0\n" +
    "       8\t0\n" +
    "      16\t0\n" +
    "      32\t0\n" +
    "      64\t0\n" +
    "     128\t0\n" +
    "     256\t1\n";
  assert.is(hctxDispatchedShow([5, 3, 0, 0, 0, 0, 0, 0, 0, 1]), want);
  assert.throws(() => hctxDispatchedShow([1, 2, 3]), RangeError);
});

test("hctxTagsShow() prints the three tag lines with bits_per_word as the shift, and nothing without tags", () => {
  assert.is(
    hctxTagsShow({ nrTags: 64, nrReservedTags: 1, bitsPerWord: 4, nrFree: 60, nrReserved: 1, activeQueues: 2 }),
    "nr_tags=64, reserved_tags=1, bits_per_word=4\nnr_free=60, nr_reserved=1\nactive_queues=2\n",
  );
  assert.is(hctxTagsShow(null), "");
});

test("hctxCpuListShow() joins CPUs with \", \" and always ends in a newline", () => {
  assert.is(hctxCpuListShow([0, 4]), "0, 4\n");
  assert.is(hctxCpuListShow([3]), "3\n");
  assert.is(hctxCpuListShow([]), "\n");
  assert.is(hctxCpuListShow(new Set([1, 2, 3])), "1, 2, 3\n");
});

test("the one-counter hctx and ctx shows print %lu or %u and a newline", () => {
  assert.is(hctxQueuedShow(12), "12\n");
  assert.is(hctxRunShow(0), "0\n");
  assert.is(hctxActiveShow(7), "7\n");
  assert.is(ctxMergedShow(3), "3\n");
  assert.is(queueVarShow(128), "128\n");
  assert.is(hctxIoPollShow({ invoked: 3, success: 2 }), "invoked=3, success=2\n");
});

test("ctx dispatched and completed print sync ([1]) before async ([0])", () => {
  assert.is(ctxDispatchedShow({ sync: 7, async: 2 }), "7 2\n");
  assert.is(ctxCompletedShow({ sync: 0, async: 9 }), "0 9\n");
});

test("%u wraps modulo 2^32 and %lu takes bigints modulo 2^64, as C's conversions do", () => {
  assert.is(hctxActiveShow(2 ** 32 + 5), "5\n");
  assert.is(ctxMergedShow((1n << 64n) - 1n), "18446744073709551615\n");
  assert.is(ctxMergedShow(1n << 64n), "0\n");
  assert.is(hctxQueuedShow(Number.MAX_SAFE_INTEGER), "9007199254740991\n");
  assert.throws(() => hctxQueuedShow(-1), RangeError);
  assert.throws(() => hctxActiveShow(1.5), RangeError);
});

test("diskInflightShow() prints reads and writes as %8u %8u", () => {
  assert.is(diskInflightShow({ read: 1, write: 22 }), "       1       22\n");
  assert.is(diskInflightShow({ read: 0, write: 0 }), "       0        0\n");
  assert.is(diskInflightShow({ read: 123456789, write: 0 }), "123456789        0\n");
});

test("diskStatShow() prints the eleven v4.4 fields, each at least 8 wide", () => {
  const s = diskStatShow({
    readIos: 1,
    readMerges: 2,
    readSectors: 3,
    readTicksMs: 4,
    writeIos: 5,
    writeMerges: 6,
    writeSectors: 7,
    writeTicksMs: 8,
    inFlight: 9,
    ioTicksMs: 10,
    timeInQueueMs: 11,
  });
  assert.is(s, "       1        2        3        4        5        6        7        8        9       10       11\n");
  const wide = diskStatShow({
    readIos: 123456789012,
    readMerges: 0,
    readSectors: 2n ** 40n,
    readTicksMs: 0,
    writeIos: 0,
    writeMerges: 0,
    writeSectors: 0,
    writeTicksMs: 0,
    inFlight: 0,
    ioTicksMs: 0,
    timeInQueueMs: 0,
  });
  assert.is(wide.split(" ").filter((f) => f !== "").length, 11);
  assert.ok(wide.startsWith("123456789012        0 1099511627776 "), wide);
});

/** null_blk's v4.4 queue: queue_mode=2, hw_queue_depth=64, 512-byte blocks. */
const NULLB: QueueSysfsState = {
  nrRequests: 64,
  raPages: 32,
  maxHwSectors: 255,
  maxSectors: 255,
  maxSegments: 128,
  maxIntegritySegments: 0,
  maxSegmentSize: 65536,
  cluster: true,
  logicalBlockSize: 512,
  physicalBlockSize: 512,
  ioMin: 512,
  ioOpt: 0,
  discardGranularity: 0,
  maxDiscardSectors: 0,
  maxHwDiscardSectors: 0,
  discardZeroesData: false,
  maxWriteSameSectors: 0,
  nonrot: true,
  nomerges: false,
  noxmerges: false,
  sameComp: true,
  sameForce: false,
  ioStat: true,
  addRandom: false,
  poll: false,
};

test("queueAttrShow() prints every v4.4 queue attribute of a null_blk queue", () => {
  const want: Record<string, string> = {
    nr_requests: "64\n",
    read_ahead_kb: "128\n",
    max_hw_sectors_kb: "127\n",
    max_sectors_kb: "127\n",
    max_segments: "128\n",
    max_integrity_segments: "0\n",
    max_segment_size: "65536\n",
    scheduler: "none\n",
    hw_sector_size: "512\n",
    logical_block_size: "512\n",
    physical_block_size: "512\n",
    minimum_io_size: "512\n",
    optimal_io_size: "0\n",
    discard_granularity: "0\n",
    discard_max_bytes: "0\n",
    discard_max_hw_bytes: "0\n",
    discard_zeroes_data: "0\n",
    write_same_max_bytes: "0\n",
    rotational: "0\n",
    nomerges: "0\n",
    rq_affinity: "1\n",
    iostats: "1\n",
    add_random: "0\n",
    io_poll: "0\n",
  };
  assert.equal(QUEUE_ATTRS.map((a) => a.name), Object.keys(want));
  for (const { name } of QUEUE_ATTRS) assert.is(queueAttrShow(name, NULLB), want[name], name);
});

test("queue attribute modes match v4.4: the limits are read-only, the tunables 0644", () => {
  const rw = QUEUE_ATTRS.filter((a) => a.mode === 0o644).map((a) => a.name);
  assert.equal(rw, [
    "nr_requests",
    "read_ahead_kb",
    "max_sectors_kb",
    "scheduler",
    "discard_max_bytes",
    "rotational",
    "nomerges",
    "rq_affinity",
    "iostats",
    "add_random",
    "io_poll",
  ]);
  assert.ok(QUEUE_ATTRS.every((a) => a.mode === 0o644 || a.mode === 0o444));
});

test("rq_affinity shows SAME_COMP << SAME_FORCE and nomerges (NOMERGES << 1) | NOXMERGES", () => {
  const s = (f: Partial<QueueSysfsState>, n: "rq_affinity" | "nomerges") => queueAttrShow(n, { ...NULLB, ...f });
  assert.is(s({ sameComp: false, sameForce: false }, "rq_affinity"), "0\n");
  assert.is(s({ sameComp: true, sameForce: false }, "rq_affinity"), "1\n");
  assert.is(s({ sameComp: true, sameForce: true }, "rq_affinity"), "2\n");
  assert.is(s({ sameComp: false, sameForce: true }, "rq_affinity"), "0\n");
  assert.is(s({ nomerges: false, noxmerges: true }, "nomerges"), "1\n");
  assert.is(s({ nomerges: true, noxmerges: false }, "nomerges"), "2\n");
  assert.is(s({ nomerges: true, noxmerges: true }, "nomerges"), "3\n");
});

test("byte limits shift sectors by 9 in 64 bits; max_segment_size is PAGE_CACHE_SIZE without clustering", () => {
  const q = { ...NULLB, maxDiscardSectors: 0xffffffff, maxHwDiscardSectors: 8, maxWriteSameSectors: 2 ** 40, cluster: false };
  assert.is(queueAttrShow("discard_max_bytes", q), "2199023255040\n");
  assert.is(queueAttrShow("discard_max_hw_bytes", q), "4096\n");
  assert.is(queueAttrShow("write_same_max_bytes", q), "562949953421312\n");
  assert.is(queueAttrShow("max_segment_size", q), "4096\n");
  assert.is(queueAttrShow("rotational", { ...NULLB, nonrot: false }), "1\n");
  assert.throws(() => queueAttrShow("bogus" as "scheduler", NULLB), RangeError);
});

test("formatKernelPointer() prints 16 zero-padded lowercase hex digits", () => {
  assert.is(formatKernelPointer(0x41a00), "0000000000041a00");
  assert.is(formatKernelPointer(0), "0000000000000000");
  assert.is(formatKernelPointer(0xdeadbeef), "00000000deadbeef");
  assert.throws(() => formatKernelPointer(-1), RangeError);
});

test.run();
