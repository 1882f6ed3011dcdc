// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Kernel } from "../kernel/kernel.ts";
import { nullBlkDevices, nullBlkModule } from "../drivers/null_blk.ts";
import { boot, inTask, submitWrites } from "./_testkit.ts";
import { bioExit, bioPut, registerBioEndIo } from "./bio.ts";
import { __blkMqRunHwQueueDispatch } from "./blk_mq_request.ts";
import { BLK_MQ_RQ_QUEUE_BUSY, BLK_MQ_RQ_QUEUE_ERROR } from "./tag_set.ts";


interface Seen {
  run: number;
  list: number[] | null;
  last: boolean;
}

/** Async 4 KiB writes at `sectors` (far apart: no merges) from one task on CPU 0, then the machine runs idle. */
function writeAll(k: Kernel, sectors: number[]): void {
  const endIo = registerBioEndIo(k, "dispatch_test_end_io", (bio, kk) => bioPut(kk, bio));
  submitWrites(k, nullBlkDevices(k)[0].q!, sectors, endIo);
}

/** null_blk (one hw queue, irqmode=0) whose queue_rq records what it is handed; `answer` may override the result. */
function recording(k: Kernel, answer?: (i: number) => number | null): Seen[] {
  inTask(k, () => nullBlkModule.init(k, { nr_devices: "1", irqmode: "0" }), "modprobe");
  const ops = nullBlkDevices(k)[0].q!.mqOps!;
  const orig = ops.queueRq;
  const seen: Seen[] = [];
  ops.queueRq = (hctx, bd) => {
    seen.push({ run: hctx.run, list: bd.list, last: bd.last });
    const a = answer?.(seen.length - 1) ?? null;
    return a ?? orig(hctx, bd);
  };
  return seen;
}

function finish(k: Kernel): void {
  inTask(k, () => nullBlkModule.exit(k), "rmmod");
  bioExit(k);
  k.assertClean();
}

test("__blkMqRunHwQueueDispatch(): bd.list is null for runs of 1 and 2 requests; last marks the final one", () => {
  for (const n of [1, 2]) {
    const k = boot({ cpus: 2 });
    const seen = recording(k);
    writeAll(k, Array.from({ length: n }, (_, i) => 1000 * i));
    assert.is(seen.length, n);
    assert.ok(seen.every((s) => s.run === seen[0].run), "one run dispatched them all");
    assert.equal(seen.map((s) => s.list), new Array(n).fill(null));
    assert.equal(seen.map((s) => s.last), Array.from({ length: n }, (_, i) => i === n - 1));
    finish(k);
  }
});

test("__blkMqRunHwQueueDispatch(): in a run of 3, the 2nd and 3rd requests get the same driver list", () => {
  const k = boot({ cpus: 2 });
  const seen = recording(k);
  writeAll(k, [0, 1000, 2000]);
  assert.is(seen.length, 3);
  assert.ok(seen.every((s) => s.run === seen[0].run));
  assert.is(seen[0].list, null, "the first request goes out at once");
  assert.ok(Array.isArray(seen[1].list), "two still waited after the first: a driver list");
  assert.is(seen[2].list, seen[1].list, "once set it stays set");
  assert.equal(seen[1].list, [], "v4.4 keeps nothing on it");
  assert.equal(seen.map((s) => s.last), [false, false, true]);
  finish(k);
});

test("__blkMqRunHwQueueDispatch(): a failed request still counts as sent for the driver list", () => {
  const k = boot({ cpus: 2 });
  const seen = recording(k, (i) => (i === 0 ? BLK_MQ_RQ_QUEUE_ERROR : null));
  writeAll(k, [0, 1000, 2000, 3000]);
  assert.is(seen.length, 4);
  assert.equal(seen.map((s) => s.list === null), [true, false, false, false]);
  assert.ok(k.log.text().includes("I/O error, dev nullb0, sector 0"));
  inTask(k, () => nullBlkModule.exit(k), "rmmod");
  bioExit(k);
  assert.is(k.liveObjects(), 0);
});

test("__blkMqRunHwQueueDispatch(): BUSY on the 2nd of 4 puts the 2nd to 4th back on hctx->dispatch in order, and the rerun sends them", () => {
  const k = boot({ cpus: 2 });
  const order: number[] = [];
  const seen = recording(k, (i) => (i === 1 ? BLK_MQ_RQ_QUEUE_BUSY : null));
  const ops = nullBlkDevices(k)[0].q!.mqOps!;
  const inner = ops.queueRq;
  ops.queueRq = (hctx, bd) => {
    order.push(bd.rq);
    return inner(hctx, bd);
  };
  writeAll(k, [0, 1000, 2000, 3000]);
  assert.is(seen.length, 5, "4 requests, the busy one sent twice");
  assert.is(order[1], order[2], "the busy request goes first in the rerun");
  assert.is(new Set(order).size, 4, "each request in order, none lost or doubled");
  assert.ok(seen[2].run > seen[1].run, "the rest went out in a later run");
  finish(k);
});

test("__blkMqRunHwQueueDispatch(): a run of the same hctx started inside queue_rq has its own list; the outer run still sends the rest once", () => {
  const k = boot({ cpus: 2 });
  const order: number[] = [];
  let nested = 0;
  const seen = recording(k);
  const ops = nullBlkDevices(k)[0].q!.mqOps!;
  const inner = ops.queueRq;
  ops.queueRq = (hctx, bd) => {
    order.push(bd.rq);
    if (nested++ === 0) __blkMqRunHwQueueDispatch(hctx); // nothing is pending for it
    return inner(hctx, bd);
  };
  writeAll(k, [0, 1000, 2000]);
  assert.is(order.length, 3, "three requests, each sent once");
  assert.is(new Set(order).size, 3);
  assert.equal(seen.map((s) => s.last), [false, false, true], "the outer run's list was not disturbed");
  finish(k);
});

test.run();
