// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KernelError } from "../errors.ts";
import type { Kernel } from "../kernel/kernel.ts";
import type { Sleepable } from "../kernel/sched.ts";
import type { KernelModule } from "../drivers/module.ts";
import { fileDisks, fileModule } from "../drivers/file.ts";
import { nullBlkModule } from "../drivers/null_blk.ts";
import { ramModule, ramPagesAllocated } from "../drivers/ram.ts";
import { sleep } from "../kernel/sched.ts";
import { Timer } from "../kernel/timer.ts";
import { boot, dropDisk, inTask, makeDisk, modprobe, readSysfs } from "./_testkit.ts";
import { BIO_POOL_SIZE, bioExit, fsBioSet } from "./bio.ts";
import { blkMqCompleteRequest, blkMqStartRequest } from "./blk_mq_request.ts";
import { type BatchOp, type Disk, openDisk } from "./disk_io.ts";
import { setCapacity } from "./genhd.ts";
import { blkMqAllocTagSet, blkMqMapQueue, type BlkMqOps, BLK_MQ_RQ_QUEUE_OK } from "./tag_set.ts";
import { blkMqFreezeQueue, blkMqUnfreezeQueue } from "./request_queue.ts";
import { coreHost } from "../wasm/core.ts";

/** Closes `d`, removes `m`, and checks the machine is clean. */
function finish(k: Kernel, d: Disk, m: KernelModule): void {
  d.close();
  inTask(k, () => m.exit(k), "rmmod");
  bioExit(k);
  assert.is(k.liveObjects(), 0);
  k.assertClean();
}

/** A seeded xorshift PRNG. */
function prng(seed: number): (n: number) => number {
  let x = seed >>> 0 || 1;
  return (n) => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x % n;
  };
}

function randomBytes(rand: (n: number) => number, n: number): Uint8Array {
  return Uint8Array.from({ length: n }, () => rand(256));
}

/** `/sys/block/NAME/stat` as numbers. */
function stat(k: Kernel, name: string): number[] {
  return readSysfs(k, `/sys/block/${name}/stat`).trim().split(/\s+/).map(Number);
}

/** The promises' values in order, and the order they settled in. */
async function settled<T>(ps: Promise<T>[]): Promise<{ values: (T | Error)[]; order: number[] }> {
  const order: number[] = [];
  const values = await Promise.all(ps.map((p, i) => p.then((v) => v, (e: Error) => e).finally(() => order.push(i))));
  return { values, order };
}

/** Counts the scheduler runs of `k` from now on. */
function countRuns(k: Kernel): { n: number } {
  const c = { n: 0 };
  const run = k.run.bind(k);
  k.run = (o) => {
    c.n++;
    return run(o);
  };
  return c;
}

test("random writes at random sectors read back equal through read()/write(); unwritten sectors read zeros", async () => {
  const k = boot();
  modprobe(k, ramModule, { rd_size: "1024" }); // 2048 sectors
  const d = openDisk(k, "ram0");
  assert.is(d.capacity, 2048);
  const model = new Uint8Array(2048 * 512);
  const rand = prng(7);
  for (let i = 0; i < 40; i++) {
    const sectors = 1 + rand(24);
    const sector = rand(2048 - sectors + 1);
    const data = randomBytes(rand, sectors * 512);
    await d.write(sector, data);
    model.set(data, sector * 512);
    const back = await d.read(sector, sectors * 512);
    assert.equal(back, data);
  }
  const big = randomBytes(rand, 1200 * 512); // a write of several bios (max_sectors 255 → 31 pages each)
  await d.write(3, big);
  model.set(big, 3 * 512);
  const whole = await d.read(0, 2048 * 512); // several bios too
  assert.equal(whole, model);
  assert.ok(model.some((b) => b !== 0));
  assert.ok(ramPagesAllocated(k) < 256, "untouched pages were never allocated");
  finish(k, d, ramModule);
});

test("submitBatch() runs many writes and reads in one scheduler run and returns each result in order", async () => {
  const k = boot({ cpus: 4 });
  modprobe(k, ramModule, { rd_size: "512", submit_queues: "4", hw_queue_depth: "8" });
  const d = openDisk(k, "ram0");
  const rand = prng(99);
  const slots = [...Array(100).keys()].sort(() => rand(3) - 1).slice(0, 48);
  const writes: BatchOp[] = slots.map((s) => ({ op: "write", sector: s * 8 + rand(3), data: randomBytes(rand, 512 * (1 + rand(5))) }));
  const runs = countRuns(k);
  const wr = await d.submitBatch(writes);
  assert.is(runs.n, 1, "one run for the whole batch");
  assert.ok(wr.every((r) => r.ok && r.data === undefined));
  const reads: BatchOp[] = writes.map((w) => ({ op: "read", sector: w.sector, length: (w as { data: Uint8Array }).data.length }));
  reads.push({ op: "read", sector: 100 * 8, length: 4096 });
  const rr = await d.submitBatch(reads);
  assert.is(runs.n, 2);
  for (let i = 0; i < writes.length; i++) {
    const r = rr[i];
    assert.ok(r.ok);
    if (r.ok) assert.equal(r.data, (writes[i] as { data: Uint8Array }).data);
  }
  const last = rr[writes.length];
  assert.ok(last.ok && last.data!.every((b) => b === 0), "an unwritten region reads zeros");
  finish(k, d, ramModule);
});

test("concurrent read()/write() promises issued together share one run and all resolve with the right data", async () => {
  const k = boot({ cpus: 2 });
  modprobe(k, ramModule, { rd_size: "256", submit_queues: "2" });
  const d = openDisk(k, "ram0");
  const rand = prng(3);
  const a = randomBytes(rand, 8192);
  await d.write(0, a);
  const runs = countRuns(k);
  const bufs = [1, 2, 3, 4, 5, 6].map(() => randomBytes(rand, 4096));
  const [r0, ...rest] = await Promise.all([
    d.read(0, 8192),
    ...bufs.map((b, i) => d.write(64 + i * 8, b)),
    d.read(4, 1024),
  ]);
  assert.is(runs.n, 1);
  assert.equal(r0, a);
  assert.equal(rest[rest.length - 1], a.subarray(2048, 3072));
  const back = await Promise.all(bufs.map((_, i) => d.read(64 + i * 8, 4096)));
  assert.is(runs.n, 2);
  for (let i = 0; i < bufs.length; i++) assert.equal(back[i], bufs[i]);
  finish(k, d, ramModule);
});

test("300 writes then 300 reads in flight at once on ram0 each get their own data (bio slots are reused, never shared)", async () => {
  const k = boot({ cpus: 2 });
  modprobe(k, ramModule, { rd_size: "4096", submit_queues: "2", hw_queue_depth: "16" }); // 8192 sectors
  const d = openDisk(k, "ram0");
  const rand = prng(300);
  // Disjoint extents of 1..40 sectors: some reads take two bios (max_sectors 255 → 31 pages each).
  const extents: { sector: number; data: Uint8Array }[] = [];
  for (let i = 0, sector = 0; i < 300; i++) {
    const sectors = i % 50 === 0 ? 260 : 1 + rand(16);
    if (sector + sectors > 8192) break;
    extents.push({ sector, data: randomBytes(rand, sectors * 512) });
    sector += sectors;
  }
  assert.ok(extents.length > 250);
  const runs = countRuns(k);
  await Promise.all(extents.map((e) => d.write(e.sector, e.data)));
  const back = await Promise.all(extents.map((e) => d.read(e.sector, e.data.length)));
  assert.is(runs.n, 2, "each wave is one run");
  for (let i = 0; i < extents.length; i++) assert.equal(back[i], extents[i].data, `extent ${i}`);
  // bioExit() drops the end_io table; the next I/O registers the bridge's end_io again.
  d.close();
  bioExit(k);
  const d2 = openDisk(k, "ram0");
  assert.equal(await d2.read(extents[7].sector, extents[7].data.length), extents[7].data);
  finish(k, d2, ramModule);
});

test("readInto() fills the caller's buffer with what write() put on ram0 and resolves with that same buffer", async () => {
  const k = boot();
  modprobe(k, ramModule, { rd_size: "1024" }); // 2048 sectors
  const d = openDisk(k, "ram0");
  const rand = prng(11);
  const a = randomBytes(rand, 4096);
  const big = randomBytes(rand, 600 * 512); // three bios (max_sectors 255 → 31 pages each)
  await d.write(8, a);
  await d.write(100, big);
  const buf = new Uint8Array(4096).fill(0xee);
  const r = await d.readInto(8, buf);
  assert.ok(r === buf, "resolves with the caller's buffer");
  assert.equal(buf, a);
  assert.equal(await d.readInto(9, buf.subarray(0, 1024)), a.subarray(512, 1536), "a view reads into its own window");
  assert.equal(buf.subarray(1024), a.subarray(1024), "and nothing past it");
  const into = new Uint8Array(big.length);
  assert.ok(await d.readInto(100, into) === into);
  assert.equal(into, big);
  const [x, y] = await Promise.all([d.readInto(8, new Uint8Array(4096)), d.readInto(1000, new Uint8Array(2048))]);
  assert.equal(x, a);
  assert.equal(y, new Uint8Array(2048), "an unwritten region reads zeros");
  finish(k, d, ramModule);
});

test("readInto() with a bad buffer, sector or length throws at the call and queues nothing", async () => {
  const k = boot();
  modprobe(k, ramModule, { rd_size: "4" }); // 8 sectors
  const d = openDisk(k, "ram0");
  const before = readSysfs(k, "/sys/block/ram0/stat");
  assert.throws(() => d.readInto(0, [0, 0] as unknown as Uint8Array), TypeError);
  assert.throws(() => d.readInto(0, new Uint16Array(256) as unknown as Uint8Array), TypeError);
  assert.throws(() => d.readInto(0, undefined as unknown as Uint8Array), TypeError);
  assert.throws(() => d.readInto(0, new Uint8Array(0)), RangeError);
  assert.throws(() => d.readInto(0, new Uint8Array(100)), RangeError);
  assert.throws(() => d.readInto(-1, new Uint8Array(512)), RangeError);
  assert.throws(() => d.readInto(0.5, new Uint8Array(512)), RangeError);
  assert.throws(() => d.readInto(7, new Uint8Array(1024)), RangeError);
  await Promise.resolve();
  assert.is(readSysfs(k, "/sys/block/ram0/stat"), before, "nothing was submitted");
  d.close();
  assert.throws(() => d.readInto(0, new Uint8Array(512)), TypeError);
  finish(k, d, ramModule);
});

test("a failed readInto() rejects with a KernelError and leaves the buffer untouched, even when some of its bios completed", async () => {
  const k = boot();
  // Timer completions: the read's first bio is still in flight while its second one allocates.
  modprobe(k, nullBlkModule, { nr_devices: "1", irqmode: "2", completion_nsec: "20000" });
  // Marked as moving data, as a driver that fills its pages is: the bridge zeroes the read's pages
  // and stages them (a dataless disk copies nothing, so a buffer it leaves alone would prove nothing).
  k.block.disk("nullb0")!.dataless = false;
  const d = openDisk(k, "nullb0");
  const reads = () => Number(readSysfs(k, "/sys/block/nullb0/stat").trim().split(/\s+/)[0]);
  let failed = 0;
  let partial = 0;
  // 40 pages: bios of 31 and 9 pages (max_sectors 255). Each step lets the bridge take one page
  // more, so the read fails at each of its allocations in turn, then succeeds.
  for (let spare = 0; ; spare++) {
    assert.ok(spare < 64, "the read succeeds with enough pages");
    const r0 = reads();
    const buf = new Uint8Array(40 * 4096).fill(0xee);
    const limit = k.slab.setPageLimit(k.slab.nrPagesUsed + spare);
    let err: unknown = null;
    try {
      assert.ok(await d.readInto(0, buf) === buf);
    } catch (e) {
      err = e;
    }
    k.slab.setPageLimit(limit);
    if (err === null) {
      assert.ok(buf.every((b) => b === 0), "null_blk leaves the read's zeroed pages as they are");
      break;
    }
    assert.instance(err, KernelError);
    assert.is((err as KernelError).code, "ENOMEM");
    assert.ok(buf.every((b) => b === 0xee), `spare ${spare}: the buffer is untouched`);
    failed++;
    if (reads() > r0) partial++; // its first bio completed, with data
  }
  assert.ok(failed > 0 && partial > 0, `failed ${failed}, of which with a completed bio ${partial}`);
  finish(k, d, nullBlkModule);
});

test("readInto() whose buffer is transferred while in flight rejects with EFAULT and the machine stays sound", async () => {
  const k = boot();
  modprobe(k, ramModule, { rd_size: "1024" });
  const d = openDisk(k, "ram0");
  for (const bytes of [4096, 3 * 4096, 300 * 512]) { // the lane, one bio (straight in), three bios (staged)
    const buf = new Uint8Array(bytes);
    const p = d.readInto(0, buf);
    structuredClone(buf.buffer, { transfer: [buf.buffer] });
    assert.is(buf.length, 0);
    try {
      await p;
      assert.unreachable();
    } catch (e) {
      assert.instance(e, KernelError);
      assert.is((e as KernelError).code, "EFAULT");
    }
  }
  assert.equal(await d.read(0, 512), new Uint8Array(512));
  finish(k, d, ramModule);
});

/** Runs `body` as a task under `runAsync()` (a file disk's host I/O needs the event loop). */
async function inTaskAsync(k: Kernel, body: () => Generator<unknown, void>, comm: string): Promise<void> {
  let done = false;
  k.sched.spawn(comm, function* () {
    yield* body() as Sleepable<void>;
    done = true;
  });
  // `until`: a real clock would otherwise wait out pending timers (the 30 s request timeout) in wall time.
  const r = await k.sched.runAsync({ until: () => done });
  if (!done || (r.kind !== "done" && r.kind !== "stopped")) throw new Error(`inTaskAsync: the run ended "${r.kind}"`);
}

test("readInto() of a read the driver fails (a file disk whose host file was closed) rejects with EIO and leaves the buffer untouched", async () => {
  const dir = mkdtempSync(join(tmpdir(), "blkmq-disk-io-test-"));
  try {
    const path = join(dir, "disk.img");
    writeFileSync(path, new Uint8Array(512 * 512).fill(0x11));
    const k = boot({ clock: "real" });
    await inTaskAsync(k, () => fileModule.init(k, { path }), "modprobe");
    const d = openDisk(k, "loop0");
    const buf = new Uint8Array(4096);
    assert.equal(await d.readInto(8, buf), new Uint8Array(4096).fill(0x11));
    const lo = fileDisks(k)[0];
    const fh = lo.fh!;
    await fh.close(); // closed under the disk: the host read fails (EBADF, EIO in the port)
    for (const bytes of [4096, 400 * 512]) { // one page, 50 pages
      const into = new Uint8Array(bytes).fill(0xee);
      try {
        await d.readInto(0, into);
        assert.unreachable();
      } catch (e) {
        assert.instance(e, KernelError);
        assert.is((e as KernelError).code, "EIO");
      }
      assert.ok(into.every((b) => b === 0xee), `${bytes} bytes: the buffer is untouched`);
    }
    d.close();
    lo.fh = null; // already closed
    await inTaskAsync(k, () => fileModule.exit(k), "rmmod");
    const r = await k.sched.runAsync();
    assert.is(r.kind, "done");
    bioExit(k);
    assert.is(k.liveObjects(), 0);
    k.assertClean();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("bad sectors and lengths are RangeErrors at the call, and a bad batch submits nothing", async () => {
  const k = boot();
  modprobe(k, ramModule, { rd_size: "4" }); // 8 sectors
  const d = openDisk(k, "ram0");
  assert.throws(() => d.read(-1, 512), RangeError);
  assert.throws(() => d.read(1.5, 512), RangeError);
  assert.throws(() => d.read(0, 100), RangeError);
  assert.throws(() => d.read(0, 0), RangeError);
  assert.throws(() => d.read(8, 512), RangeError);
  assert.throws(() => d.read(4, 4096), RangeError);
  assert.throws(() => d.write(0, new Uint8Array(513)), RangeError);
  assert.throws(() => d.write(7, new Uint8Array(1024)), RangeError);
  assert.throws(() => d.write(0, [1, 2] as unknown as Uint8Array), TypeError);
  const before = readSysfs(k, "/sys/block/ram0/stat");
  assert.throws(() => d.submitBatch([{ op: "write", sector: 0, data: new Uint8Array(512) }, { op: "read", sector: 8, length: 512 }]), RangeError);
  await Promise.resolve();
  assert.is(readSysfs(k, "/sys/block/ram0/stat"), before, "nothing was submitted");
  assert.equal(await d.read(0, 512), new Uint8Array(512));
  assert.is(ramPagesAllocated(k), 0);
  finish(k, d, ramModule);
});

test("openDisk() of a missing disk is ENXIO and a closed disk refuses I/O", () => {
  const k = boot();
  try {
    openDisk(k, "ram0");
    assert.unreachable();
  } catch (e) {
    assert.instance(e, KernelError);
    assert.is((e as KernelError).code, "ENXIO");
  }
  modprobe(k, ramModule, { rd_size: "4" });
  const d = openDisk(k, "ram0");
  d.close();
  assert.not.ok(d.isOpen);
  assert.throws(() => d.read(0, 512), TypeError);
  assert.throws(() => d.flush(), TypeError);
  finish(k, d, ramModule);
});

test("a failed write in a batch is a KernelError EIO while the other I/Os of the batch succeed", async () => {
  const k = boot();
  modprobe(k, ramModule, { rd_size: "64" });
  const d = openDisk(k, "ram0");
  const keep = new Uint8Array(4096).fill(5);
  await d.write(0, keep);
  // One page to spare: whichever task runs first, the write's backing page finds none.
  const limit = k.slab.setPageLimit(k.slab.nrPagesUsed + 1);
  const res = await d.submitBatch([
    { op: "read", sector: 0, length: 4096 },
    { op: "write", sector: 16, data: new Uint8Array(512).fill(9) },
  ]);
  k.slab.setPageLimit(limit);
  assert.ok(res[0].ok);
  if (res[0].ok) assert.equal(res[0].data, keep);
  assert.not.ok(res[1].ok);
  if (!res[1].ok) {
    assert.instance(res[1].error, KernelError);
    assert.is((res[1].error as KernelError).code, "EIO");
  }
  assert.equal(await d.read(16, 512), new Uint8Array(512), "the failed write left no data");
  finish(k, d, ramModule);
});

test("stat counts the reads and writes: ios and sectors per direction, nothing in flight", async () => {
  const k = boot();
  modprobe(k, ramModule, { rd_size: "256" });
  const d = openDisk(k, "ram0");
  await d.write(0, new Uint8Array(4096));
  await d.write(8, new Uint8Array(1024));
  await d.submitBatch([{ op: "read", sector: 0, length: 512 }, { op: "read", sector: 16, length: 2048 }, { op: "read", sector: 40, length: 4096 }]);
  const f = readSysfs(k, "/sys/block/ram0/stat").trim().split(/\s+/).map(Number);
  assert.equal([f[0], f[2], f[4], f[6], f[8]], [3, 1 + 4 + 8, 2, 8 + 2, 0]);
  finish(k, d, ramModule);
});

test("flush() resolves on a ram disk and on null_blk", async () => {
  const k = boot();
  modprobe(k, ramModule, { rd_size: "4" });
  const d = openDisk(k, "ram0");
  await d.flush();
  finish(k, d, ramModule);
  // The same machine: nullb0's queue reuses ram0's freed queue id.
  modprobe(k, nullBlkModule, { nr_devices: "1" });
  const n = openDisk(k, "nullb0");
  await n.flush();
  finish(k, n, nullBlkModule);
});

test("after rmmod of one driver, I/O to a new disk whose queue reuses the freed queue id reaches the new queue", async () => {
  const k = boot();
  modprobe(k, ramModule, { rd_size: "4" });
  const r = openDisk(k, "ram0");
  await r.write(0, new Uint8Array(512).fill(1));
  finish(k, r, ramModule);
  modprobe(k, nullBlkModule, { nr_devices: "1" });
  const n = openDisk(k, "nullb0");
  await n.write(0, new Uint8Array(512).fill(2));
  assert.equal(await n.read(0, 512), new Uint8Array(512), "served by null_blk, not the dead ram queue");
  finish(k, n, nullBlkModule);
});

test("a batch whose bio allocations sleep mid-I/O (fs_bio_set's pool exhausted, refilled as bios end) goes on from that chunk: each bio sent once, every I/O right and in order", async () => {
  const k = boot();
  modprobe(k, nullBlkModule, { nr_devices: "1", irqmode: "2", completion_nsec: "20000" });
  const d = openDisk(k, "nullb0");
  const bs = fsBioSet(k);
  // The slab fails every bio: only the pool's reserve serves, and a third bio in flight sleeps in bio_alloc().
  k.slab.setFaultAttr(bs.bioSlab, { probability: 100 });
  const big = new Uint8Array(600 * 512).fill(0xee); // 75 pages: bios of 31, 31 and 13 (max_sectors 255)
  const into = new Uint8Array(40 * 4096).fill(0xee); // bios of 31 and 9
  const t0 = k.clock.now();
  const { values, order } = await settled<Uint8Array | void>([
    d.write(0, new Uint8Array(4096).fill(1)),
    d.readInto(1000, into),
    d.write(2000, big.fill(2)),
    d.read(3000, 600 * 512),
    d.flush(),
    d.read(4000, 4096),
  ]);
  k.slab.setFaultAttr(bs.bioSlab, { probability: 0 });
  assert.equal(order.filter((i) => i !== 4), [0, 1, 2, 3, 5], "in submission order (the flush ends as it is sent)");
  assert.is(values[0], undefined);
  assert.ok(values[1] === into && into.every((b) => b === 0xee), "null_blk moves no data: readInto() leaves the buffer as it was");
  assert.is(values[2], undefined);
  assert.equal(values[3], new Uint8Array(600 * 512));
  assert.is(values[4], undefined);
  assert.equal(values[5], new Uint8Array(4096));
  // 12 bios (the flush ends before the driver) through 2 bios at a time: at least 6 waves of completions.
  assert.ok(k.clock.now() - t0 >= 5 * 20000, `the allocations slept (${k.clock.now() - t0} ns)`);
  assert.ok(k.slab.faultsInjected(bs.bioSlab) >= 12);
  assert.is(bs.bioPool.nrWaiters, 0);
  assert.is(bs.bioPool.currNr, BIO_POOL_SIZE, "the reserve is full again");
  const f = stat(k, "nullb0");
  assert.equal([f[2], f[6], f[8]], [40 * 8 + 600 + 8, 8 + 600, 0], "each chunk read or written once");
  finish(k, d, nullBlkModule);
});

test("a batch that must wait for tags mid-I/O (null_blk, hw_queue_depth=2, timer completions) sends each waiting bio once and goes on with the next chunk", async () => {
  const k = boot();
  modprobe(k, nullBlkModule, { nr_devices: "1", irqmode: "2", completion_nsec: "20000", submit_queues: "1", hw_queue_depth: "2" });
  const d = openDisk(k, "nullb0");
  const into = new Uint8Array(600 * 512).fill(0xee); // bios of 31, 31 and 13 pages: the third waits for a tag
  const t0 = k.clock.now();
  const { values, order } = await settled<Uint8Array | void>([
    d.readInto(0, into),
    d.write(1000, new Uint8Array(300 * 512).fill(3)),
    d.read(2000, 4096),
    d.write(3000, new Uint8Array(4096).fill(4)),
  ]);
  assert.equal(order, [0, 1, 2, 3]);
  assert.ok(values[0] === into && into.every((b) => b === 0xee), "null_blk moves no data: the buffer is as it was");
  assert.equal(values[2], new Uint8Array(4096));
  assert.is(values[1], undefined);
  assert.is(values[3], undefined);
  assert.ok(k.clock.now() - t0 >= 3 * 20000, "7 requests through 2 tags: at least 4 waves");
  const f = stat(k, "nullb0");
  assert.equal([f[0], f[2], f[4], f[6], f[8]], [4, 600 + 8, 3, 300 + 8, 0], "each chunk sent once");
  finish(k, d, nullBlkModule);
});

test("a batch submitted to a frozen queue sleeps in blk_queue_enter() and goes on once a task unfreezes it: every I/O right and in order", async () => {
  const k = boot();
  modprobe(k, ramModule, { rd_size: "1024" }); // 2048 sectors
  const d = openDisk(k, "ram0");
  const rand = prng(17);
  const old = randomBytes(rand, 8192);
  await d.write(0, old);
  const big = randomBytes(rand, 600 * 512); // 3 bios (max_sectors 255 → 31 pages each)
  const small = randomBytes(rand, 1024);
  const q = k.block.disk("ram0")!.queue!;
  inTask(k, () => blkMqFreezeQueue(q));
  const t0 = k.clock.now();
  let unfrozenAt = -1;
  k.sched.spawn("unfreeze", function* () {
    yield sleep(1_000_000);
    unfrozenAt = k.clock.now();
    yield* blkMqUnfreezeQueue(q);
  });
  const into = new Uint8Array(600 * 512);
  const { values, order } = await settled<Uint8Array | void>([
    d.flush(), // ends before the queue is entered
    d.write(100, big), // its first bio sleeps on the frozen queue
    d.read(0, 8192),
    d.readInto(100, into), // sees the write before it
    d.write(1000, small),
    d.read(1000, 1024),
  ]);
  assert.ok(unfrozenAt - t0 >= 1_000_000, "unfrozen in the same run");
  assert.equal(order, [0, 1, 2, 3, 4, 5]);
  assert.equal(values, [undefined, undefined, old, big, undefined, small]);
  assert.ok(values[3] === into);
  const f = stat(k, "ram0");
  assert.equal([f[0], f[2], f[4], f[6], f[8]], [1 + 3 + 1, 16 + 600 + 2, 1 + 3 + 1, 16 + 600 + 2, 0], "each chunk sent once");
  finish(k, d, ramModule);
});

/** Counts the core's host calls of bio end_io and of aio ring notifications from now on. */
function countHostCalls(k: Kernel): { bioEndIo: number; aioNotify: number } {
  const c = { bioEndIo: 0, aioNotify: 0 };
  const host = coreHost(k.core);
  const endIo = host.bioEndIo;
  const notify = host.aioNotify;
  host.bioEndIo = (bio, id) => {
    c.bioEndIo++;
    endIo(bio, id);
  };
  host.aioNotify = (ctx) => {
    c.aioNotify++;
    notify(ctx);
  };
  return c;
}

test("I/Os of one page or less take the aio lane: no end_io host call per bio, and a ring that completions fill inline announces itself once, after the core's loop", async () => {
  const k = boot();
  modprobe(k, ramModule, { rd_size: "256" });
  const d = openDisk(k, "ram0");
  const rand = prng(5);
  const datas = [...Array(64).keys()].map((i) => randomBytes(rand, i % 2 === 0 ? 4096 : 512 * (1 + rand(8))));
  const calls = countHostCalls(k);
  await Promise.all(datas.map((data, i) => d.write(i * 8, data)));
  const back = await Promise.all(datas.map((data, i) => d.read(i * 8, data.length)));
  for (let i = 0; i < datas.length; i++) assert.equal(back[i], datas[i], `I/O ${i}`);
  assert.equal(calls, { bioEndIo: 0, aioNotify: 0 }, "the ram disk ends each I/O inside the core's loop");
  await d.read(0, 8192); // two pages: the bio path
  assert.is(calls.bioEndIo, 1);
  const f = stat(k, "ram0");
  assert.equal([f[0], f[4], f[8]], [65, 64, 0], "each I/O one request");
  finish(k, d, ramModule);
});

test("lane and bio-path I/Os of one stretch are submitted in order: each read sees the writes issued before it", async () => {
  const k = boot();
  modprobe(k, ramModule, { rd_size: "256" });
  const d = openDisk(k, "ram0");
  const rand = prng(8);
  const a = randomBytes(rand, 4096);
  const b = randomBytes(rand, 3 * 4096);
  const c = randomBytes(rand, 1024);
  const vals = await Promise.all([
    d.write(0, a), // lane
    d.read(0, 4096), // lane: a
    d.write(0, b), // bio path
    d.read(0, 4096), // lane: b's first page
    d.write(8, c), // lane
    d.read(0, 3 * 4096), // bio path: b with c over its second page
  ]);
  assert.equal(vals[1], a);
  assert.equal(vals[3], b.subarray(0, 4096));
  const want = b.slice();
  want.set(c, 4096);
  assert.equal(vals[5], want);
  finish(k, d, ramModule);
});

test("more one-page I/Os in one stretch than the lane has slots (null_blk, timer completions): the rest take the bio path, and each ends once", async () => {
  const k = boot();
  modprobe(k, nullBlkModule, { nr_devices: "1", irqmode: "2", completion_nsec: "20000", hw_queue_depth: "512" });
  const d = openDisk(k, "nullb0");
  const calls = countHostCalls(k);
  const n = 300;
  const into = [...Array(n).keys()].map(() => new Uint8Array(4096).fill(0xee));
  const vals = await Promise.all(into.map((buf, i) => i % 3 === 0 ? d.write(i * 8, buf) : d.readInto(i * 8, buf)));
  for (let i = 0; i < n; i++) {
    if (i % 3 === 0) assert.is(vals[i], undefined);
    else assert.ok(vals[i] === into[i] && into[i].every((x) => x === 0xee), `read ${i}: null_blk moves no data, the buffer is as it was`);
  }
  // Nothing ends before the timers fire: 256 slots in flight, the other 44 I/Os as bios.
  assert.is(calls.bioEndIo, n - 256, "the overflow took the bio path");
  assert.ok(calls.aioNotify > 0 && calls.aioNotify <= 256, `the lane's completions were announced by the ring (${calls.aioNotify} notifications)`);
  const f = stat(k, "nullb0");
  assert.equal([f[0], f[4], f[8]], [200, 100, 0], "each I/O one request, none in flight");
  finish(k, d, nullBlkModule);
});

test("I/Os that must wait for tags in the lane (null_blk, 64 tags, timer completions) sleep and go on as slots are reaped: 300 one-page I/Os, none on the bio path", async () => {
  const k = boot();
  modprobe(k, nullBlkModule, { nr_devices: "1", irqmode: "2", completion_nsec: "20000", hw_queue_depth: "64" });
  const d = openDisk(k, "nullb0");
  const calls = countHostCalls(k);
  const t0 = k.clock.now();
  const vals = await Promise.all([...Array(300).keys()].map((i) => d.read(i * 8, 4096)));
  assert.ok(vals.every((v) => v.length === 4096 && v.every((x) => x === 0)));
  assert.ok(k.clock.now() - t0 >= 4 * 20000, "300 requests through 64 tags: at least 5 waves");
  assert.is(calls.bioEndIo, 0, "the completions freed lane slots before the task needed them");
  assert.is(calls.aioNotify, 300, "each timer completion was announced as it ended (the ring is reaped on each)");
  assert.is(stat(k, "nullb0")[0], 300);
  finish(k, d, nullBlkModule);
});

test("each hand-over's run stops once its I/Os have settled: rounds of timer completions cost their own time, not a leap to the request timeout", async () => {
  const k = boot();
  modprobe(k, nullBlkModule, { nr_devices: "1", irqmode: "2", completion_nsec: "20000" });
  const d = openDisk(k, "nullb0");
  const t0 = k.clock.now();
  for (let round = 0; round < 3; round++) {
    const vals = await Promise.all([...Array(64).keys()].map((i) => d.read(i * 64, 4096)));
    assert.is(vals.length, 64);
  }
  assert.is(k.clock.now() - t0, 3 * 20000, "three rounds of one wave each (64 tags)");
  assert.ok(k.block.disk("nullb0")!.queue!.timeout.pending, "blk_add_timer()'s timer is left for a later run");
  assert.is(stat(k, "nullb0")[0], 192);
  finish(k, d, nullBlkModule); // rmmod's run deletes the timer
});

test("a driver that throws from queue_rq in the middle of the lane's chain: every promise of the hand-over rejects with that error, the I/Os it had taken end once, the rest are never sent", async () => {
  const k = boot({ cpus: 1 });
  const bug = new Error("a driver bug in queue_rq");
  let calls = 0;
  const ops: BlkMqOps = {
    // Takes the request (its "interrupt" 10 us later ends it), then the third call throws.
    queueRq: (_hctx, bd) => {
      const rq = bd.rq;
      blkMqStartRequest(k, rq);
      k.timers.hrtimerStart(new Timer(() => blkMqCompleteRequest(k, rq, 0), "thr_irq"), k.clock.now() + 10_000, 0);
      if (++calls === 3) throw bug;
      return BLK_MQ_RQ_QUEUE_OK;
    },
    mapQueue: blkMqMapQueue,
  };
  const set = blkMqAllocTagSet(k.block, { ops, nrHwQueues: 1, queueDepth: 16 });
  const disk = inTask(k, () => makeDisk(set, "thr0"));
  setCapacity(disk, 1024n);
  const d = openDisk(k, "thr0");
  const got = await settled([...Array(6).keys()].map((i) => d.readInto(i * 64, new Uint8Array(4096))));
  // The first three were taken by the driver, the last three never sent (AioHooks.abandoned gave them the error).
  assert.ok(got.values.every((v) => v === bug), "the machine broke: each promise rejects with the driver's error");
  assert.is(calls, 3);
  // The next hand-over's run ends the three the driver took, each once (a second end would be a BUG).
  const buf = new Uint8Array(4096);
  assert.is(await d.readInto(512, buf), buf);
  assert.is(calls, 4);
  const f = stat(k, "thr0");
  assert.equal([f[0], f[8]], [4, 0], "four reads ended, none is in flight");
  assert.not.match(k.log.text(), /BUG|WARN/);
  assert.match(k.log.text(), "blk-mq: queue_rq of hctx 0 threw on tag ", "the throw is in the log, with the request it was handed");
  d.close();
  inTask(k, () => dropDisk(disk, set));
  bioExit(k);
  assert.is(k.liveObjects(), 0);
  k.assertClean();
});

test("an open disk keeps its lane and the bridge's data pages between I/Os; closing the last handle gives them back", async () => {
  const k = boot();
  modprobe(k, ramModule, { rd_size: "64" });
  const first = openDisk(k, "ram0");
  // Makes fs_bio_set, which the machine keeps, and the ram disk's backing pages.
  await Promise.all([first.write(0, new Uint8Array(4096).fill(1)), first.write(8, new Uint8Array(4096).fill(2))]);
  first.close();
  const base = k.liveObjects();
  const d = openDisk(k, "ram0");
  const d2 = openDisk(k, "ram0");
  assert.equal(await Promise.all([d.read(0, 4096), d2.read(8, 4096)]), [new Uint8Array(4096).fill(1), new Uint8Array(4096).fill(2)]);
  const held = k.liveObjects();
  assert.ok(held > base, "the lane's context and the pages stay while the disk is open");
  assert.equal(await d.read(0, 4096), new Uint8Array(4096).fill(1));
  assert.is(k.liveObjects(), held, "the next I/Os reuse them");
  d.close();
  assert.is(k.liveObjects(), held, "another handle is still open");
  d2.close();
  assert.is(k.liveObjects(), base);
  inTask(k, () => ramModule.exit(k), "rmmod");
  bioExit(k);
  assert.is(k.liveObjects(), 0);
  k.assertClean();
});

for (const irqmode of ["0", "1", "2"]) {
  test(`null_blk (irqmode=${irqmode}) through the same API: I/Os complete, nothing is stored, stat counts them`, async () => {
    const k = boot();
    modprobe(k, nullBlkModule, { nr_devices: "1", irqmode, completion_nsec: "20000" });
    const d = openDisk(k, "nullb0");
    assert.is(d.capacity, 250 * 2 ** 21, "gb=250 by default");
    const data = new Uint8Array(8192).fill(0x5a);
    await d.write(100, data);
    const back = await d.read(100, 8192);
    assert.equal(back, new Uint8Array(8192), "null_blk does not touch data: read() resolves with a fresh, zeroed buffer");
    assert.ok(k.block.disk("nullb0")!.dataless);
    // readInto(): the caller's buffer as it was (the kernel leaves a DIO's user pages alone), on
    // the lane (one page), one bio (three pages) and several bios (40 pages, max_sectors 255).
    for (const bytes of [4096, 3 * 4096, 40 * 4096]) {
      const into = new Uint8Array(bytes).fill(0x77);
      assert.ok(await d.readInto(8, into) === into);
      assert.ok(into.every((x) => x === 0x77), `${bytes} bytes: the buffer is as it was`);
    }
    const res = await d.submitBatch([{ op: "write", sector: 0, data }, { op: "read", sector: 16, length: 512 }]);
    assert.ok(res.every((r) => r.ok));
    const f = readSysfs(k, "/sys/block/nullb0/stat").trim().split(/\s+/).map(Number);
    assert.equal([f[0], f[2], f[4], f[6], f[8]], [2 + 4, 17 + 8 + 24 + 320, 2, 32, 0], "reads: read(), the batch's, and readInto()'s 1 + 1 + 2 bios");
    finish(k, d, nullBlkModule);
  });
}

test.run();
