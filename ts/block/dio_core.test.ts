// SPDX-License-Identifier: GPL-2.0-only
/**
 * Tests for the synchronous direct I/O of one buffer (`dioRwTry()` /
 * `dioRw()`, `do_blockdev_direct_IO()`) and its core path (asm/dio.ts's
 * `dio_rw_nowait()`): the same seeded workload runs once with the core's
 * path and once down the TypeScript path (`BlockLayer#coreMakeRequest`
 * false), and what a user sees must match: every result, the data read
 * back, the disk's sysfs tree and the kernel log. Then the persistent
 * dio's cached bio on the core path, and the places where the try hands
 * the I/O to the sleeping path.
 *
 * @module
 */

import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Kernel, KernelOptions } from "../kernel/kernel.ts";
import { Prng, sleep } from "../kernel/sched.ts";
import type { KernelModule } from "../drivers/module.ts";
import { nullBlkModule } from "../drivers/null_blk.ts";
import { ramModule } from "../drivers/ram.ts";
import { coreHost } from "../wasm/core.ts";
import { boot, inTask, readSysfs, sysfsTree } from "./_testkit.ts";
import { BlockMemory } from "./_mem.ts";
import { bioExit } from "./bio.ts";
import { blkFinishPlug, blkStartPlug } from "./blk_plug.ts";
import { type Dio, DIO_WOULD_SLEEP, dioAlloc, dioFree, dioRw, dioRwTry } from "./dio.ts";
import { blkMqFreezeQueueStart, blkMqUnfreezeQueue } from "./request_queue.ts";

/** A machine, its driver and the driver's parameters. */
interface Setup {
  name: string;
  kernel?: KernelOptions;
  module: KernelModule;
  disk: string;
  params: Record<string, string>;
  /** The driver ends no bio inside the submission: every try leaves its I/O in flight. */
  async?: boolean;
  /** Several hw queues: the core path takes none. */
  fallback?: boolean;
}

/** What one run leaves for the comparison. */
interface Trace {
  /** Per I/O: task, sector, bytes, direction, result, and for a read the sum of its buffer. */
  ios: string[];
  sysfs: Record<string, string>;
  log: string;
  /** I/Os dioRwTry() ended without the sleeping path. */
  ended: number;
}

const SIZES = [512, 4096, 8192, 16384, 20480, 4096, 4096];

function sum(bytes: Uint8Array): number {
  let s = 0;
  for (const b of bytes) s = (s * 31 + b) >>> 0;
  return s;
}

/**
 * Two tasks on two CPUs, each with a dio (the first persistent) and a 32 KiB
 * buffer, do 40 I/Os each: reads and writes of 512 B to 20 KiB at random
 * sectors (a write's buffer holds a pattern of its index), now and then a
 * yield. Each I/O is dioRwTry(), then dioRw() when it says so.
 */
function run(setup: Setup, core: boolean, seed: number): Trace {
  const k = boot({ cpus: 2, ...setup.kernel });
  k.block.coreMakeRequest = core;
  inTask(k, () => setup.module.init(k, setup.params), "modprobe");
  const disk = k.block.disk(setup.disk)!;
  const q = disk.queue!;
  const cap = Number(disk.capacity);
  const trace: Trace = { ios: [], sysfs: {}, log: "", ended: 0 };
  const prng = new Prng(seed);
  const mem = new BlockMemory(k.slab, k.kmemleak, "dio-test");
  const bufs = [0, 1].map(() => mem.allocPages(3));
  const dios = [0, 1].map((t) => dioAlloc(k, { persistent: t === 0 }));
  for (let t = 0; t < 2; t++) {
    k.sched.spawn(`dio${t}`, function* () {
      for (let i = 0; i < 40; i++) {
        const bytes = SIZES[prng.next() % SIZES.length];
        let sector = (prng.next() % 512) * 8 + (prng.next() % 2) * (prng.next() % 8);
        if (sector + bytes / 512 > cap) sector = 0;
        const write = prng.next() % 2 === 0;
        bytesAt(k, bufs[t], bytes).fill(write ? (i * 7 + t) & 0xff : 0xee);
        let r = dioRwTry(dios[t], q, write, sector, bufs[t], bytes);
        if (r === DIO_WOULD_SLEEP) r = yield* dioRw(dios[t], q, write, sector, bufs[t], bytes);
        else trace.ended++;
        const data = write ? 0 : sum(bytesAt(k, bufs[t], bytes));
        trace.ios.push(`${t}:${sector}:${bytes}:${write ? "w" : "r"}:${r}:${data}`);
        if (prng.next() % 4 === 0) yield;
      }
    }, { cpu: t });
  }
  const r = k.run();
  assert.is(r.kind, "done", `${setup.name}: the workload ran to the end`);
  trace.sysfs = sysfsTree(k, `/sys/block/${setup.disk}`);
  trace.log = k.log.text();
  for (const dio of dios) dioFree(dio);
  for (const b of bufs) mem.freePages(b);
  inTask(k, () => setup.module.exit(k), "rmmod");
  bioExit(k);
  assert.is(k.liveObjects(), 0, "live objects");
  k.assertClean();
  return trace;
}

const NULLB = { module: nullBlkModule, disk: "nullb0" };
const SETUPS: Setup[] = [
  { name: "null_blk irqmode 0, one hw queue of 4 tags", ...NULLB, params: { nr_devices: "1", irqmode: "0", hw_queue_depth: "4" } },
  { name: "null_blk irqmode 0, no lockdep", ...NULLB, kernel: { lockdep: false }, params: { nr_devices: "1", irqmode: "0" } },
  { name: "null_blk irqmode 1 (softirq: ended as the hw queue run returns)", ...NULLB, params: { nr_devices: "1", irqmode: "1" } },
  { name: "null_blk irqmode 2 (timer)", ...NULLB, params: { nr_devices: "1", irqmode: "2", completion_nsec: "20000" }, async: true },
  { name: "null_blk, two hw queues", ...NULLB, params: { nr_devices: "1", irqmode: "0", submit_queues: "2" }, fallback: true },
  { name: "ram disk (data)", module: ramModule, disk: "ram0", params: { rd_size: "4096" } },
];

for (const setup of SETUPS) {
  test(`a direct I/O through the core matches the TypeScript path: ${setup.name}`, () => {
    for (const seed of [1, 2, 3]) {
      const viaCore = run(setup, true, seed);
      const viaTs = run(setup, false, seed);
      assert.is(viaCore.ios.length, 80);
      assert.equal(viaCore.ios, viaTs.ios, `seed ${seed}: results and data`);
      assert.equal(viaCore.sysfs, viaTs.sysfs, `seed ${seed}: sysfs`);
      assert.is(viaCore.log, viaTs.log, `seed ${seed}: kernel log`);
      assert.is(viaTs.ended, 0, "the TS path ends no try");
      if (setup.async === true || setup.fallback === true) assert.is(viaCore.ended, 0, `seed ${seed}: no I/O ended inside the try`);
      else assert.ok(viaCore.ended >= 60, `seed ${seed}: the core ended most I/Os (${viaCore.ended}; 20 KiB ones need a cached bio of 5 vecs)`);
    }
  });
}

/** A one-CPU machine with `m` loaded, a 32 KiB buffer and a dio. */
function machine(m: KernelModule, params: Record<string, string>, opts: KernelOptions = {}) {
  const k = boot({ cpus: 1, ...opts });
  inTask(k, () => m.init(k, params), "modprobe");
  const disk = k.block.disk(m === ramModule ? "ram0" : "nullb0")!;
  const mem = new BlockMemory(k.slab, k.kmemleak, "dio-test");
  const buf = mem.allocPages(3);
  return { k, q: disk.queue!, mem, buf, dio: dioAlloc(k, { persistent: true }) };
}

function finish(k: Kernel, m: KernelModule, mem: BlockMemory, buf: number, dio: Dio): void {
  dioFree(dio);
  mem.freePages(buf);
  inTask(k, () => m.exit(k), "rmmod");
  bioExit(k);
  assert.is(k.liveObjects(), 0, "live objects");
  k.assertClean();
}

function stat(k: Kernel, disk: string): number[] {
  return readSysfs(k, `/sys/block/${disk}/stat`).trim().split(/\s+/).map(Number);
}

/** `n` bytes of linear memory at `addr` (a fresh view: memory may have grown). */
function bytesAt(k: Kernel, addr: number, n: number): Uint8Array {
  return new Uint8Array(k.core.memory.buffer, addr, n);
}

test("a persistent dio's I/Os on the ram disk take the core path with one cached bio: no host call per bio, data round-trips", () => {
  const { k, q, mem, buf, dio } = machine(ramModule, { rd_size: "1024" });
  const host = coreHost(k.core);
  const calls = { bioEndIo: 0, dioWake: 0 };
  const endIo = host.bioEndIo;
  const wake = host.dioWake;
  host.bioEndIo = (bio, id) => (calls.bioEndIo++, endIo(bio, id));
  host.dioWake = (d) => (calls.dioWake++, wake(d));
  const results: number[] = [];
  const cached: number[] = [];
  inTask(k, function* () {
    for (let i = 0; i < 16; i++) {
      bytesAt(k, buf, 8192).fill(i + 1);
      results.push(dioRwTry(dio, q, true, i * 16, buf, 8192));
      cached.push(dio.cacheBio);
    }
    for (let i = 0; i < 16; i++) {
      bytesAt(k, buf, 8192).fill(0);
      results.push(dioRwTry(dio, q, false, i * 16, buf, 8192));
      assert.ok(bytesAt(k, buf, 8192).every((b) => b === i + 1), `read ${i} sees write ${i}`);
    }
    yield;
  });
  assert.equal(results, Array(32).fill(8192), "every try ended its I/O");
  assert.ok(cached[0] !== 0 && cached.every((b) => b === cached[0]), "one bio, cached after each I/O and reused");
  assert.equal(calls, { bioEndIo: 0, dioWake: 0 }, "the bios ended in the core");
  const f = stat(k, "ram0");
  assert.equal([f[0], f[2], f[4], f[6], f[8]], [16, 256, 16, 256, 0], "one request per I/O, sectors counted, none in flight");
  finish(k, ramModule, mem, buf, dio);
});

test("a try whose bio the driver ends later leaves it to dioRw(), which must be called with the same I/O; the waiter is woken by the core's end_io", () => {
  const { k, q, mem, buf, dio } = machine(nullBlkModule, { nr_devices: "1", irqmode: "2", completion_nsec: "50000" });
  let woken = 0;
  const host = coreHost(k.core);
  const wake = host.dioWake;
  host.dioWake = (d) => (woken++, wake(d));
  let r = 0;
  let t1 = 0;
  const t0 = k.clock.now();
  inTask(k, function* () {
    assert.is(dioRwTry(dio, q, false, 64, buf, 4096), DIO_WOULD_SLEEP);
    assert.is(dio.refcount, 2, "the bio is in flight");
    assert.throws(() => dioRwTry(dio, q, false, 64, buf, 4096), TypeError, "a second try before the finish");
    let err: unknown;
    try {
      yield* dioRw(dio, q, false, 72, buf, 4096);
    } catch (e) {
      err = e;
    }
    assert.instance(err, TypeError, "dioRw() of another I/O is refused");
    r = yield* dioRw(dio, q, false, 64, buf, 4096);
    t1 = k.clock.now();
  });
  assert.is(r, 4096);
  assert.ok(t1 - t0 >= 50000, `the task slept until the timer ended the bio (${t1 - t0} ns)`);
  assert.is(woken, 1, "host_dio_wake() once");
  assert.is(dio.refcount, 1);
  assert.ok(dio.cacheBio !== 0, "the persistent dio keeps the bio");
  finish(k, nullBlkModule, mem, buf, dio);
});

test("bad arguments are refused with state intact; a frozen queue makes the try step aside with nothing done, and dioRw() sleeps until the unfreeze", () => {
  const { k, q, mem, buf, dio } = machine(nullBlkModule, { nr_devices: "1", irqmode: "0" });
  inTask(k, function* () {
    assert.throws(() => dioRwTry(dio, q, false, 0, buf + 100, 4096), RangeError, "unaligned buffer");
    assert.throws(() => dioRwTry(dio, q, false, 0, buf, 1000), RangeError, "length not a multiple of 512");
    assert.throws(() => dioRwTry(dio, q, false, -8, buf, 4096), RangeError, "negative sector");
    assert.throws(() => dioRwTry(dio, q, false, 0, buf, 2 * 1024 * 1024), RangeError, "longer than one bio");
    assert.is(dioRwTry(dio, q, false, 0, buf, 4096), 4096, "the dio still works");
    yield;
  });
  const before = stat(k, "nullb0")[0];
  blkMqFreezeQueueStart(q);
  let r = 0;
  let t1 = 0;
  k.sched.spawn("dio", function* () {
    assert.is(dioRwTry(dio, q, false, 8, buf, 4096), DIO_WOULD_SLEEP);
    assert.is(dio.refcount, 1, "nothing was sent");
    r = yield* dioRw(dio, q, false, 8, buf, 4096);
    t1 = k.clock.now();
  });
  k.sched.spawn("unfreeze", function* () {
    yield sleep(5_000_000); // past the freeze's RCU grace period: q_usage_counter is zero by then
    yield* blkMqUnfreezeQueue(q);
  });
  const t0 = k.clock.now();
  assert.is(k.run().kind, "done");
  assert.is(r, 4096);
  assert.ok(t1 - t0 >= 5_000_000, "the read waited for the unfreeze");
  assert.is(stat(k, "nullb0")[0], before + 1);
  finish(k, nullBlkModule, mem, buf, dio);
});

test("a task that holds a plug does its direct I/O on the TS path under that plug, which its sleep flushes", () => {
  const { k, q, mem, buf, dio } = machine(ramModule, { rd_size: "1024" });
  const results: number[] = [];
  inTask(k, function* () {
    const task = k.sched.current;
    blkStartPlug(k, task);
    results.push(dioRwTry(dio, q, true, 0, buf, 4096));
    results.push(yield* dioRw(dio, q, true, 0, buf, 4096));
    blkFinishPlug(task);
  });
  assert.equal(results, [DIO_WOULD_SLEEP, 4096]);
  finish(k, ramModule, mem, buf, dio);
});
test.run();
