// SPDX-License-Identifier: GPL-2.0-only
// The I/O checks of fuzz/prog/ops/io.ts, each shown firing on a planted violation
// (test ops that break the kernel's side on purpose) and silent on clean programs.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { bioAlloc, bioGet, bioEndio, bioPut, fsBioSet } from "../../ts/block/bio.ts";
import { blkMqFreezeQueue, blkMqUnfreezeQueue } from "../../ts/block/request_queue.ts";
import type { AioContext } from "../../ts/block/aio.ts";
import { blkMqStartRequest } from "../../ts/block/blk_mq_request.ts";
import { blkAccountIoDone } from "../../ts/block/part_stat.ts";
import { BLK_MQ_RQ_QUEUE_OK } from "../../ts/block/tag_set.ts";
import { GFP_NOIO } from "../../ts/kernel/mempool.ts";
import type { Sleepable } from "../../ts/kernel/sched.ts";
import "../_test_ops.ts";
import { trackSubmittedBio } from "../prog/ops/io.ts";
import type { Profile } from "../prog/profile.ts";
import { type ExecCtx, findOp, registerOp } from "../prog/registry.ts";
import { parseProg } from "../prog/text.ts";
import { runProg } from "../runner.ts";
import { programProfile } from "../targets.ts";
import { detectAll } from "./index.ts";

function op(name: string, exec: (x: ExecCtx) => Sleepable): void {
  if (findOp(name) === undefined) registerOp({ name, area: "test", doc: name, args: [], exec });
}

function nullb0(x: ExecCtx) {
  const d = x.kernel.block.disk("nullb0");
  if (d === undefined || d.queue === null) throw new RangeError("no nullb0");
  return d;
}

// A driver that ends one bio twice: bio_endio() runs its end_io again after it completed.
op("test_io_end_twice", function* (x) {
  const bio = yield* bioAlloc(fsBioSet(x.kernel), GFP_NOIO, 0);
  trackSubmittedBio(x, bio, "test_io_end_twice");
  bioGet(x.kernel, bio); // keeps the bio alive across the first end_io's put
  bioEndio(x.kernel, bio);
  bioEndio(x.kernel, bio);
  bioPut(x.kernel, bio);
});
// A driver that loses a bio: submitted, never ended.
op("test_io_lose_bio", function* (x) {
  const bio = yield* bioAlloc(fsBioSet(x.kernel), GFP_NOIO, 0);
  trackSubmittedBio(x, bio, "test_io_lose_bio");
});
// An accounting bug: one more blk_account_io_done() than blk_account_io_start().
op("test_io_inflight_underflow", function* (x) {
  blkAccountIoDone(x.kernel, nullb0(x).part0, 0, x.kernel.clock.jiffies());
});
// A blk_queue_exit() without its blk_queue_enter(), seen while the queue is frozen
// (atomic mode: in percpu mode the count only shows at the next switch, as in the kernel).
op("test_io_queue_exit_unbalanced", function* (x) {
  const q = nullb0(x).queue!;
  yield* blkMqFreezeQueue(q);
  q.qUsageCounter.put();
});
// Puts the reference back and unfreezes, so the run ends cleanly.
op("test_io_queue_rebalance", function* (x) {
  const q = nullb0(x).queue!;
  q.qUsageCounter.get();
  yield* blkMqUnfreezeQueue(q);
});

// A driver that loses requests: queue_rq starts them and never completes them.
op("test_io_lose_requests", function* (x) {
  nullb0(x).queue!.mqOps!.queueRq = (_hctx, bd) => {
    blkMqStartRequest(x.kernel, bd.rq);
    return BLK_MQ_RQ_QUEUE_OK;
  };
});
// A completion that reports a byte count no iocb asked for.
if (findOp("test_aio_bad_result") === undefined) {
  registerOp({
    name: "test_aio_bad_result",
    area: "test",
    doc: "test_aio_bad_result",
    args: [{ kind: "res", name: "aio", res: "aio" }],
    *exec(_x, [v]) {
      (v as AioContext)._overwriteResults(3);
    },
  });
}

const IO_OPS = programProfile("blk").ops.filter((o) => findOp(o)!.area === "io");
const PROFILE: Profile = {
  name: "io-test",
  ops: [...IO_OPS, "sh_modprobe", "sh_rmmod", "sh_echo", "advance", "test_io_end_twice", "test_io_lose_bio", "test_io_inflight_underflow", "test_io_queue_exit_unbalanced", "test_io_queue_rebalance", "test_io_lose_requests", "test_aio_bad_result"],
  cpus: 2,
};
const LOAD = "modprobe null_blk nr_devices=1 irqmode=2 completion_nsec=4096";

function run(lines: string[]) {
  return runProg(parseProg(lines.join("\n")), { profile: PROFILE });
}

function fires(lines: string[], title: string) {
  const o = run(lines);
  assert.ok(o.finding, `no finding for:\n${lines.join("\n")}`);
  assert.is(o.finding!.detector, "invariant", o.finding!.title);
  assert.is(o.finding!.title, title);
  assert.ok(o.finding!.report.length > 0);
}

test("a bio whose end_io runs twice is 'bio ended twice'", () => {
  fires(["test_io_end_twice()"], "invariant: bio ended twice");
});

test("a submitted bio that never ends is 'bio never ended', judged after teardown", () => {
  fires(["test_io_lose_bio()"], "invariant: bio never ended");
});

test("a negative part0 in_flight count is a finding", () => {
  fires([LOAD, "test_io_inflight_underflow()"], "invariant: part0 in_flight negative");
});

test("a put too many on a disk's q_usage_counter is a finding", () => {
  fires([LOAD, "test_io_queue_exit_unbalanced()", "test_io_queue_rebalance()"], "invariant: q_usage_counter imbalance");
});

test("an aio iocb whose request the driver loses is 'aio iocb never ended' (beside the hang of the rmmod that waits for it)", () => {
  const o = run([LOAD, "test_io_lose_requests()", "aio0 = aio_setup(disk=nullb0, nr_events=4, buffer_kib=4)", "aio_submit(aio0, op=read, sector=0, sectors=8, n=2, stride=64)"]);
  const titles = detectAll(o.exec).map((f) => f.title);
  assert.ok(titles.includes("invariant: aio iocb never ended"), titles.join("\n"));
});

test("an aio result that is neither the iocb's bytes nor an errno is 'aio result out of range'", () => {
  fires(
    ["modprobe null_blk nr_devices=1 irqmode=0", "aio0 = aio_setup(disk=nullb0, nr_events=4, buffer_kib=4)", "aio_submit(aio0, op=read, sector=0, sectors=8, n=2, stride=64)", "test_aio_bad_result(aio0)", "aio_getevents(aio0)"],
    "invariant: aio result out of range",
  );
});

test("the I/O checks stay silent on clean programs: every irqmode, plugs, polls, DIOs, bios left in flight", () => {
  for (const irqmode of [0, 1, 2]) {
    const o = run([
      `modprobe null_blk nr_devices=2 irqmode=${irqmode} completion_nsec=4096 submit_queues=2`,
      "ck0 = bio_submit(disk=nullb0, op=write, sector=8, sectors=8, sync)",
      "pl0 = blk_start_plug()",
      "ck1 = bio_submit(disk=nullb0, op=read, sector=64, sectors=8)",
      "ck2 = bio_submit(disk=nullb0, op=read, sector=72, sectors=8)",
      "blk_finish_plug(pl0)",
      "echo 1 > /sys/block/nullb0/queue/io_poll",
      "blk_poll(ck0)",
      "dio0 = dio_alloc(persistent)",
      "ck3 = bio_submit(dio0, disk=nullb1, op=write, sector=0, sectors=16, sync)",
      "dio_wait(dio0)",
      "ck4 = bio_submit(dio0, disk=nullb1, op=fua, sector=0, sectors=8)",
      "@task 1 ck5 = bio_submit(disk=nullb1, op=discard, sector=0, sectors=8)",
      "@task 1 pl1 = blk_start_plug()",
      "@task 1 ck6 = bio_submit(disk=nullb1, op=flush, sector=0, sectors=0)",
      "dio1 = dio_alloc()",
      "ck7 = bio_submit(dio1, disk=nullb0, op=read, sector=0, sectors=1)",
      "aio0 = aio_setup(disk=nullb1, nr_events=8, buffer_kib=4)",
      "aio_submit(aio0, op=write, sector=0, sectors=8, n=8, stride=8)",
      "aio_getevents(aio0)",
      "@task 1 aio_submit(aio0, op=read, sector=0, sectors=8, n=4, stride=8)",
      "",
    ]);
    assert.equal(detectAll(o.exec), [], `irqmode=${irqmode}`);
    assert.is(o.exec.refused, 1, "only the io_poll write (null_blk has no poll)");
    assert.is(o.exec.kernel.liveObjects(), 0);
  }
});

test("a bio to a disk that is not there is refused before anything is allocated", () => {
  const o = run(["ck0 = bio_submit(disk=nullb0, op=read, sector=0, sectors=8)", ""]);
  assert.is(o.finding, null);
  assert.is(o.exec.refused, 1);
  assert.is(o.exec.kernel.liveObjects(), 0);
});

test("a bio to a bio-mode null_blk (no blk-mq queue) ends with -EIO, once", () => {
  const o = run(["modprobe null_blk nr_devices=1 queue_mode=0", "dio0 = dio_alloc()", "ck0 = bio_submit(dio0, disk=nullb0, op=read, sector=0, sectors=8)", "dio_wait(dio0)", ""]);
  assert.equal(detectAll(o.exec), []);
  assert.is(o.exec.refused, 0);
});

test.run();
