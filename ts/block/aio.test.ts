// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Kernel } from "../kernel/kernel.ts";
import type { KernelModule } from "../drivers/module.ts";
import { nullBlkDevices, nullBlkModule } from "../drivers/null_blk.ts";
import { ramModule } from "../drivers/ram.ts";
import { boot, codeOf, inTask, modprobe, readSysfs } from "./_testkit.ts";
import { bioExit } from "./bio.ts";
import { type AioContext, IOCB_CMD_PREAD, IOCB_CMD_PWRITE, ioSetup } from "./aio.ts";
import { blkMqFreezeQueue, blkMqUnfreezeQueue } from "./request_queue.ts";

/** Destroys `ctx`, removes `m`, and checks the machine is clean. */
function finish(k: Kernel, ctx: AioContext, m: KernelModule): void {
  ctx.destroy();
  inTask(k, () => m.exit(k), "rmmod");
  bioExit(k);
  assert.is(k.liveObjects(), 0);
  k.assertClean();
}

function reapAll(ctx: AioContext): number[] {
  const out = new Int32Array(ctx.nrEvents);
  return Array.from(out.subarray(0, ctx.getEvents(out)));
}

test("128 reads on nullb0 end within one submit(); getEvents() reaps them all with res 4096 and frees the slots", () => {
  const k = boot({ cpus: 1 });
  modprobe(k, nullBlkModule, { nr_devices: "1", irqmode: "0", hw_queue_depth: "128" });
  const ctx = ioSetup(k, "nullb0", { nrEvents: 128 });
  for (let i = 0; i < 128; i++) ctx.prep(IOCB_CMD_PREAD, i * 1000, 4096);
  assert.is(ctx.available, 0);
  assert.is(ctx.submit(), 128);
  assert.is(ctx.inFlight, 0);
  assert.is(ctx.completed, 128);
  const slots = reapAll(ctx);
  assert.is(slots.length, 128);
  assert.is(new Set(slots).size, 128, "every slot once");
  assert.ok(slots.every((s) => ctx.res[s] === 4096));
  assert.is(ctx.available, 128);
  assert.is(ctx.completed, 0);
  assert.is(readSysfs(k, "/sys/block/nullb0/mq/0/queued"), "128\n");
  const runs = Number(readSysfs(k, "/sys/block/nullb0/mq/0/run"));
  assert.is(runs, 8, "one plug: a hw queue run per 16 requests (BLK_MAX_REQUEST_COUNT)");
  assert.is(ctx.submit(), 0, "nothing prepared, nothing sent");
  finish(k, ctx, nullBlkModule);
});

test("writes then reads through the slots' buffers round-trip on ram0", () => {
  const k = boot();
  modprobe(k, ramModule, { rd_size: "1024" });
  const ctx = ioSetup(k, "ram0", { nrEvents: 8, bufferBytes: 8192 });
  const data = (i: number) => Uint8Array.from({ length: 8192 }, (_, j) => (i * 31 + j) & 0xff);
  for (let i = 0; i < 8; i++) {
    const slot = ctx.prep(IOCB_CMD_PWRITE, i * 16, 8192);
    ctx.buffer(slot).set(data(i));
  }
  ctx.submit();
  assert.ok(reapAll(ctx).every((s) => ctx.res[s] === 8192));
  const at = new Map<number, number>();
  for (let i = 7; i >= 0; i--) {
    const slot = ctx.prep(IOCB_CMD_PREAD, i * 16, 8192);
    ctx.buffer(slot).fill(0);
    at.set(slot, i);
  }
  ctx.submit();
  const slots = reapAll(ctx);
  assert.is(slots.length, 8);
  for (const s of slots) {
    assert.is(ctx.res[s], 8192);
    assert.equal(ctx.buffer(s), data(at.get(s)!), `slot ${s} holds what was written at ${at.get(s)! * 16}`);
  }
  finish(k, ctx, ramModule);
});

test("getEvents() hands out completions in order, as many as fit in out", () => {
  const k = boot();
  modprobe(k, nullBlkModule, { nr_devices: "1", irqmode: "0" });
  const ctx = ioSetup(k, "nullb0", { nrEvents: 5 });
  const sent = [0, 1, 2, 3, 4].map((i) => ctx.prep(IOCB_CMD_PREAD, i * 8, 512));
  ctx.submit();
  const out = new Int32Array(2);
  const got: number[] = [];
  for (let n = ctx.getEvents(out); n > 0; n = ctx.getEvents(out)) got.push(...out.subarray(0, n));
  assert.equal(got, sent, "sync reads end in submission order");
  assert.ok(got.every((s) => ctx.res[s] === 512));
  // The ring wraps: the freed slots serve a second round.
  const again = [0, 1, 2].map((i) => ctx.prep(IOCB_CMD_PREAD, i * 8, 512));
  ctx.submit();
  assert.equal(reapAll(ctx), again);
  finish(k, ctx, nullBlkModule);
});

test("bad input is refused with its code and changes nothing: EAGAIN when full, RangeError, TypeError", () => {
  const k = boot();
  modprobe(k, nullBlkModule, { nr_devices: "1", irqmode: "0" });
  const cap = Number(k.block.disk("nullb0")!.capacity);
  const ctx = ioSetup(k, "nullb0", { nrEvents: 2 });
  assert.throws(() => ctx.prep(7, 0, 512), TypeError);
  assert.throws(() => ctx.prep(IOCB_CMD_PREAD, 0, 100), RangeError, "not a multiple of 512");
  assert.throws(() => ctx.prep(IOCB_CMD_PREAD, 0, 8192), RangeError, "beyond the 4 KiB buffer");
  assert.throws(() => ctx.prep(IOCB_CMD_PREAD, cap - 1, 1024), RangeError, "beyond the capacity");
  assert.throws(() => ctx.prep(IOCB_CMD_PREAD, -8, 512), RangeError);
  assert.is(ctx.available, 2, "no slot was taken");
  ctx.prep(IOCB_CMD_PREAD, 0, 512);
  ctx.prep(IOCB_CMD_PREAD, 8, 512);
  assert.is(codeOf(() => ctx.prep(IOCB_CMD_PREAD, 16, 512)), "EAGAIN");
  assert.is(ctx.submit(), 2, "the two prepared before the refusal still go");
  assert.is(codeOf(() => ctx.prep(IOCB_CMD_PREAD, 16, 512)), "EAGAIN", "ended but not reaped: still busy");
  assert.is(reapAll(ctx).length, 2);
  assert.throws(() => ctx.getEvents([] as unknown as Int32Array), TypeError);
  assert.throws(() => ctx.buffer(2), RangeError);
  assert.throws(() => ioSetup(k, "nullb0", { nrEvents: 0 }), RangeError);
  assert.throws(() => ioSetup(k, "nullb0", { nrEvents: 1, bufferBytes: 1000 }), RangeError);
  assert.is(codeOf(() => ioSetup(k, "nullb9", { nrEvents: 1 })), "ENXIO");
  finish(k, ctx, nullBlkModule);
  assert.throws(() => ctx.prep(IOCB_CMD_PREAD, 0, 512), TypeError, "destroyed");
});

test("on a frozen queue submit() leaves the I/Os in flight and destroy() is EBUSY; they end once it is unfrozen", () => {
  const k = boot();
  modprobe(k, nullBlkModule, { nr_devices: "1", irqmode: "0" });
  const q = nullBlkDevices(k)[0].q!;
  const ctx = ioSetup(k, "nullb0", { nrEvents: 4 });
  inTask(k, () => blkMqFreezeQueue(q));
  ctx.prep(IOCB_CMD_PREAD, 0, 4096);
  ctx.prep(IOCB_CMD_PREAD, 64, 4096);
  assert.is(ctx.submit(), 2);
  assert.is(ctx.inFlight, 2, "both taken: the first sleeps in blk_queue_enter, the second waits behind it");
  assert.is(ctx.completed, 0);
  assert.is(codeOf(() => ctx.destroy()), "EBUSY");
  inTask(k, () => blkMqUnfreezeQueue(q));
  assert.is(ctx.inFlight, 0);
  assert.is(reapAll(ctx).length, 2);
  finish(k, ctx, nullBlkModule);
});

test("timer completions (irqmode=2) end on the virtual clock within submit(), which stops once they have", () => {
  const k = boot({ cpus: 2 });
  modprobe(k, nullBlkModule, { nr_devices: "1", irqmode: "2", completion_nsec: "50000", hw_queue_depth: "4" });
  const ctx = ioSetup(k, "nullb0", { nrEvents: 16 });
  for (let i = 0; i < 16; i++) ctx.prep(IOCB_CMD_PREAD, i * 64, 4096); // apart: no plug merge
  const t0 = k.clock.now();
  ctx.submit();
  assert.is(ctx.inFlight, 0);
  // One hw queue of 4 tags: four waves of 50 us. The request timeout's timer (null_blk's 5 s,
  // rounded up) is still pending: the run does not leap the clock to it once the I/Os have ended.
  assert.is(k.clock.now() - t0, 4 * 50000, "16 I/Os through 4 tags: four waves of completions, and no more time");
  const timer = k.block.disk("nullb0")!.queue!.timeout;
  assert.ok(timer.pending && timer.expires - k.clock.jiffies() > 4 * k.clock.HZ, "blk_add_timer()'s timer is left for a later run");
  assert.ok(reapAll(ctx).every((s) => ctx.res[s] === 4096));
  finish(k, ctx, nullBlkModule);
});

test("a slab failure while the first iocb makes fs_bio_set ends that iocb with -ENOMEM; the rest of the batch goes", () => {
  const k = boot();
  modprobe(k, ramModule, { rd_size: "64" });
  const ctx = ioSetup(k, "ram0", { nrEvents: 2 });
  const first = ctx.prep(IOCB_CMD_PREAD, 0, 4096);
  const second = ctx.prep(IOCB_CMD_PREAD, 8, 4096);
  k.slab.failNth("failslab", 1);
  assert.is(ctx.submit(), 2);
  assert.is(ctx.inFlight, 0, "nothing left in flight");
  assert.equal(reapAll(ctx), [first, second]);
  assert.is(ctx.res[first], -12);
  assert.is(ctx.res[second], 4096);
  finish(k, ctx, ramModule);
});

test("an I/O to a disk whose driver was removed ends with -ENODEV in res; the context still holds and frees the disk", () => {
  const k = boot();
  modprobe(k, nullBlkModule, { nr_devices: "1", irqmode: "0" });
  const ctx = ioSetup(k, "nullb0", { nrEvents: 2 });
  ctx.prep(IOCB_CMD_PREAD, 0, 4096);
  inTask(k, () => nullBlkModule.exit(k), "rmmod");
  ctx.submit();
  const [slot] = reapAll(ctx);
  assert.is(ctx.res[slot], -19, "-ENODEV: the bio names a queue that is no blk-mq queue any more");
  ctx.destroy();
  bioExit(k);
  k.run(); // the queue's last reference went with the disk: its release runs after an RCU grace period
  k.assertClean();
  assert.is(k.liveObjects(), 0);
});

test.run();
