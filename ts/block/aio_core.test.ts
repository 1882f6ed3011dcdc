// SPDX-License-Identifier: GPL-2.0-only
/**
 * Tests for the aio batch's loop in the core (asm/aio.ts): the same seeded
 * aio workload runs once with the core's loop and once down the TypeScript
 * path (`BlockLayer#coreMakeRequest` false), and what a user sees must
 * match: the order and result of every reaped iocb, the data read back, the
 * whole sysfs tree of the disk and the kernel log. Then the places where
 * the core's loop hands a slot to the TS path: a slot of more pages than a
 * bio's inline vecs, a bio mempool that would sleep, a queue out of tags.
 *
 * @module
 */

import { test } from "uvu";
import * as assert from "uvu/assert";
import { KernelBug } from "../errors.ts";
import type { Kernel, KernelOptions } from "../kernel/kernel.ts";
import { Prng, sleep } from "../kernel/sched.ts";
import type { KernelModule } from "../drivers/module.ts";
import { nullBlkModule } from "../drivers/null_blk.ts";
import { ramModule } from "../drivers/ram.ts";
import { boot, inTask, sysfsTree } from "./_testkit.ts";
import { bioExit, fsBioSet } from "./bio.ts";
import { type AioContext, IOCB_CMD_PREAD, IOCB_CMD_PWRITE, ioSetup } from "./aio.ts";

/** A machine, its driver and the driver's parameters. */
interface Setup {
  name: string;
  kernel?: KernelOptions;
  module: KernelModule;
  disk: string;
  params: Record<string, string>;
  /** The make_request falls back for every plugged bio (several hw queues): the core's loop sends none. */
  fallback?: boolean;
}

/** What one run leaves for the comparison. */
interface Trace {
  /** Per reaped iocb: task, slot, result, and for a read the sum of its buffer's bytes. */
  reaps: string[];
  sysfs: Record<string, string>;
  log: string;
  sentByCore: number;
}

const SIZES = [512, 4096, 8192, 16384, 20480];

/** The reaps of `ctx` as trace lines; a read's buffer is summed (its data, on a disk that stores it). */
function reap(ctx: AioContext, t: number, reads: Set<number>, out: string[]): void {
  const got = new Int32Array(ctx.nrEvents);
  const n = ctx.getEvents(got);
  for (let i = 0; i < n; i++) {
    const slot = got[i];
    let sum = 0;
    if (reads.has(slot)) for (const b of ctx.buffer(slot).subarray(0, Math.max(0, ctx.res[slot]))) sum = (sum * 31 + b) >>> 0;
    reads.delete(slot);
    out.push(`${t}:${slot}:${ctx.res[slot]}:${sum}`);
  }
}

/**
 * Two tasks on two CPUs, one aio context each (24 slots of 20 KiB), run 6
 * rounds: reap, prepare 1 to 24 iocbs (reads and writes of 512 B to 20 KiB,
 * a third of them right behind the task's previous one, so that plug
 * merges happen; a write's buffer holds a pattern of its round), submit
 * them from the task, and now and then yield.
 */
function run(setup: Setup, core: boolean, seed: number): Trace {
  const k = boot({ cpus: 2, ...setup.kernel });
  k.block.coreMakeRequest = core;
  inTask(k, () => setup.module.init(k, setup.params), "modprobe");
  const cap = Number(k.block.disk(setup.disk)!.capacity);
  const trace: Trace = { reaps: [], sysfs: {}, log: "", sentByCore: 0 };
  const prng = new Prng(seed);
  const ctxs = [0, 1].map(() => ioSetup(k, setup.disk, { nrEvents: 24, bufferBytes: 20480 }));
  for (let t = 0; t < 2; t++) {
    const ctx = ctxs[t];
    k.sched.spawn(`aio${t}`, function* () {
      const reads = new Set<number>();
      let sector = 0;
      for (let round = 0; round < 6; round++) {
        reap(ctx, t, reads, trace.reaps);
        const m = 1 + (prng.next() % Math.max(1, ctx.available));
        for (let i = 0; i < m && ctx.available > 0; i++) {
          const bytes = SIZES[prng.next() % SIZES.length];
          sector = prng.next() % 3 === 0 ? sector + 8 : (prng.next() % 256) * 8;
          if (sector + bytes / 512 > cap) sector = 0;
          const write = prng.next() % 2 === 0;
          const slot = ctx.prep(write ? IOCB_CMD_PWRITE : IOCB_CMD_PREAD, sector, bytes);
          if (write) ctx.buffer(slot).fill((round * 7 + i + t) & 0xff);
          else reads.add(slot);
        }
        yield* ctx.submitFromTask();
        if (prng.next() % 2 === 0) yield;
      }
      while (ctx.inFlight > 0) yield sleep(10000);
      reap(ctx, t, reads, trace.reaps);
    }, { cpu: t });
  }
  const r = k.run();
  assert.is(r.kind, "done", `${setup.name}: the workload ran to the end`);
  trace.sysfs = sysfsTree(k, `/sys/block/${setup.disk}`);
  trace.log = k.log.text();
  trace.sentByCore = ctxs[0]._sentByCore + ctxs[1]._sentByCore;
  for (const ctx of ctxs) ctx.destroy();
  inTask(k, () => setup.module.exit(k), "rmmod");
  bioExit(k);
  k.assertClean();
  return trace;
}

const NULLB = { module: nullBlkModule, disk: "nullb0" };
const SETUPS: Setup[] = [
  { name: "null_blk irqmode 0, one hw queue of 4 tags", ...NULLB, params: { nr_devices: "1", irqmode: "0", hw_queue_depth: "4" } },
  { name: "null_blk irqmode 0, depth 64, no lockdep", ...NULLB, kernel: { lockdep: false }, params: { nr_devices: "1", irqmode: "0" } },
  { name: "null_blk irqmode 1 (softirq)", ...NULLB, params: { nr_devices: "1", irqmode: "1", hw_queue_depth: "4" } },
  { name: "null_blk irqmode 2 (timer)", ...NULLB, params: { nr_devices: "1", irqmode: "2", completion_nsec: "20000", hw_queue_depth: "4" } },
  { name: "null_blk, two hw queues", ...NULLB, params: { nr_devices: "1", irqmode: "0", submit_queues: "2" }, fallback: true },
  { name: "ram disk (data)", module: ramModule, disk: "ram0", params: { rd_size: "1024" } },
];

for (const setup of SETUPS) {
  test(`the core's aio loop matches the TypeScript path: ${setup.name}`, () => {
    for (const seed of [1, 2, 3]) {
      const viaCore = run(setup, true, seed);
      const viaTs = run(setup, false, seed);
      assert.ok(viaCore.reaps.length > 20, `seed ${seed}: iocbs were reaped`);
      assert.equal(viaCore.reaps, viaTs.reaps, `seed ${seed}: reaps`);
      assert.equal(viaCore.sysfs, viaTs.sysfs, `seed ${seed}: sysfs`);
      assert.is(viaCore.log, viaTs.log, `seed ${seed}: kernel log`);
      assert.is(viaTs.sentByCore, 0, "the TS path sends every slot itself");
      if (setup.fallback === true) assert.is(viaCore.sentByCore, 0, `seed ${seed}: a plugged bio on several hw queues falls back`);
      else assert.ok(viaCore.sentByCore > viaCore.reaps.length / 2, `seed ${seed}: the core's loop sent most slots (${viaCore.sentByCore})`);
    }
  });
}

/** null_blk irqmode 0 with one hw queue on a one-CPU machine and a context of `nr` slots. */
function nullb(nr: number, params: Record<string, string> = {}, bufferBytes = 4096): { k: Kernel; ctx: AioContext } {
  const k = boot({ cpus: 1 });
  inTask(k, () => nullBlkModule.init(k, { nr_devices: "1", irqmode: "0", ...params }), "modprobe");
  return { k, ctx: ioSetup(k, "nullb0", { nrEvents: nr, bufferBytes }) };
}

function reapAll(ctx: AioContext): number[] {
  const out = new Int32Array(ctx.nrEvents);
  return Array.from(out.subarray(0, ctx.getEvents(out)));
}

function finish(k: Kernel, ctx: AioContext): void {
  ctx.destroy();
  inTask(k, () => nullBlkModule.exit(k), "rmmod");
  bioExit(k);
  assert.is(k.liveObjects(), 0);
  k.assertClean();
}

test("a slot of more pages than a bio's inline vecs goes the TS way inside a core batch; its bio (vecs of its own) is freed once it ends", () => {
  const { k, ctx } = nullb(6, {}, 20480);
  const sizes = [4096, 20480, 16384, 20480, 512, 8192];
  const slots = sizes.map((b, i) => ctx.prep(IOCB_CMD_PREAD, i * 64, b));
  assert.is(ctx.submit(), 6);
  assert.is(ctx._sentByCore, 4, "the two 5-page slots went through submitBio()");
  const got = reapAll(ctx);
  assert.equal([...got].sort(), [...slots].sort());
  for (let i = 0; i < 6; i++) assert.is(ctx.res[slots[i]], sizes[i], `slot ${slots[i]}`);
  finish(k, ctx); // the leak check: the biovec-16 arrays went back to their slab
});

test("a bio mempool that would sleep stops the core's loop; the task sleeps for a bio until a freed one refills the reserve, then the core goes on", () => {
  const { k, ctx } = nullb(6);
  const pool = fsBioSet(k).bioPool;
  const reserve = pool.minNr;
  assert.ok(reserve >= 1 && reserve < 6, `fs_bio_set keeps ${reserve} bios`);
  for (let i = 0; i < 6; i++) ctx.prep(IOCB_CMD_PREAD, i * 64, 4096);
  k.slab.setFaultAttr("failslab", { probability: 100 });
  const t0 = k.clock.now();
  let sent = 0;
  let t1 = 0;
  inTask(k, function* () {
    sent = yield* ctx.submitFromTask();
    t1 = k.clock.now();
    k.slab.setFaultAttr("failslab", { probability: 0 });
  }, "aio");
  assert.is(sent, 6);
  assert.ok(k.slab.faultsInjected("failslab") >= 6, "no slab bio for any slot: the reserve served them");
  assert.is(ctx.inFlight, 0);
  assert.ok(reapAll(ctx).every((s) => ctx.res[s] === 4096));
  assert.ok(t1 - t0 < 1e9, `woken by the refills (host_bio_pool_wake), not by mempool_alloc's 5 s timeout (${t1 - t0} ns)`);
  assert.ok(ctx._sentByCore >= 6 - reserve, `the core sent the slots after each wait (${ctx._sentByCore})`);
  assert.is(pool.nrWaiters, 0);
  finish(k, ctx);
});

test("a queue out of tags stops the core's loop with the bio made; the TS path sleeps for a tag and sends it", () => {
  const { k, ctx } = nullb(8, { hw_queue_depth: "2", irqmode: "2", completion_nsec: "10000" });
  for (let i = 0; i < 8; i++) ctx.prep(IOCB_CMD_PREAD, i * 64, 4096);
  assert.is(ctx.submit(), 8);
  assert.is(ctx.inFlight, 0);
  const got = reapAll(ctx);
  assert.is(got.length, 8);
  assert.ok(got.every((s) => ctx.res[s] === 4096));
  assert.ok(ctx._sentByCore >= 2 && ctx._sentByCore < 8, `the core sent some, the TS path the ones that waited (${ctx._sentByCore})`);
  finish(k, ctx);
});

test("a completion of a slot that is not in flight is a BUG and changes nothing", () => {
  const { k, ctx } = nullb(2);
  const slot = ctx.prep(IOCB_CMD_PREAD, 0, 4096);
  ctx.submit();
  assert.is(ctx.completed, 1);
  assert.throws(() => ctx._complete(slot, 0), (e: unknown) => e instanceof KernelBug && e.where === "block/aio:aio_complete");
  assert.match(k.log.text(), "kernel BUG at block/aio:aio_complete!");
  k.log.clear();
  assert.is(ctx.completed, 1, "not onto the ring again");
  assert.equal(reapAll(ctx), [slot]);
  assert.is(ctx.res[slot], 4096);
  finish(k, ctx);
});

test("the context record's layout is the core's", () => {
  const k = boot({ cpus: 1 });
  assert.is(k.core.aio_kiocb_size(), 32);
  assert.is(k.core.kioctx_size(1), 48 + 36);
  assert.is(k.core.kioctx_size(128), 48 + 36 * 128);
  assert.is(k.core.kioctx_init(0, 1), -22, "NULL");
  assert.is(k.core.kioctx_exit(0), -22);
  assert.is(k.core.aio_complete(0, 0), -22);
  k.assertClean();
});

test.run();
