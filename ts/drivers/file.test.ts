// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KernelError } from "../errors.ts";
import type { Kernel } from "../kernel/kernel.ts";
import { GFP_NOIO } from "../kernel/mempool.ts";
import { Completion, type Sleepable } from "../kernel/sched.ts";
import { bioAddPage, bioAlloc, bioExit, bioField, bioPut, bioSetDev, bioSetField, fsBioSet, REQ_FLUSH, REQ_FUA, REQ_WRITE, registerBioEndIo } from "../block/bio.ts";
import { submitBio } from "../block/blk_mq_request.ts";
import { openDisk } from "../block/disk_io.ts";
import { boot } from "../block/_testkit.ts";
import { KernelShell } from "../shell/shell.ts";
import { type FileDisk, fileDiskCreate, fileDiskRemove, fileDisks, fileModule } from "./file.ts";

const DIR = mkdtempSync(join(tmpdir(), "blkmq-file-test-"));
let nFiles = 0;

/** A fresh temp file of `bytes` bytes (filled by `fill`). */
function tempFile(bytes: number, fill: (i: number) => number = () => 0): string {
  const p = join(DIR, `disk${nFiles++}.img`);
  writeFileSync(p, new Uint8Array(bytes).map((_, i) => fill(i)));
  return p;
}

/** Runs `body` as a task under `runAsync()` (host I/O needs the event loop); its value or its error. */
async function inTaskAsync<T>(k: Kernel, body: () => Generator<unknown, T>, comm = "test"): Promise<T> {
  let out: { ok: true; v: T } | { ok: false; e: unknown } | undefined;
  k.sched.spawn(comm, function* () {
    try {
      out = { ok: true, v: yield* body() as Sleepable<T> };
    } catch (e) {
      out = { ok: false, e };
    }
  });
  // `until`: a real clock would otherwise wait out pending timers (the 30 s request timeout) in wall time.
  const r = await k.sched.runAsync({ until: () => out !== undefined });
  if (r.kind !== "done" && r.kind !== "stopped") throw new Error(`inTaskAsync: the run ended "${r.kind}"\n${k.log.text()}`);
  if (out === undefined) throw new Error("inTaskAsync: the task did not finish");
  if (!out.ok) throw out.e;
  return out.v;
}

async function codeOfAsync(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "ok";
  } catch (e) {
    if (e instanceof KernelError) return e.code;
    throw e;
  }
}

type Op = { op: "read"; sector: number; length: number } | { op: "write" | "flush" | "fua"; sector: number; data: Uint8Array };
type Res = { error: number; data?: Uint8Array };
type EndIo = (bio: number, k: Kernel) => void;
/** One end_io function per machine (a name registers to one function); it calls the current run's handler. */
const END_IO = new WeakMap<Kernel, EndIo>();
const HANDLER = new WeakMap<Kernel, EndIo>();

/**
 * The test's real-clock I/O path: one task per op, each a single bio of at
 * most one page, all submitted in one async run; every task waits for its
 * bio's end_io. The reads' bytes come back.
 */
async function submitAll(k: Kernel, lo: FileDisk, ops: readonly Op[]): Promise<Res[]> {
  const q = lo.q!;
  const res: Res[] = ops.map(() => ({ error: 1 }));
  const waits = new Map<number, { c: Completion; i: number; page: number; len: number }>();
  let fn = END_IO.get(k);
  if (fn === undefined) {
    fn = (bio, kk) => HANDLER.get(kk)!(bio, kk);
    END_IO.set(k, fn);
  }
  HANDLER.set(k, (bio, kk) => {
    const w = waits.get(bio)!;
    waits.delete(bio);
    res[w.i].error = bioField(kk, bio, "bi_error");
    if (ops[w.i].op === "read") res[w.i].data = new Uint8Array(kk.core.memory.buffer, w.page, w.len).slice();
    bioPut(kk, bio);
    w.c.complete();
  });
  const endIo = registerBioEndIo(k, "file_test_end_io", fn);
  ops.forEach((o, i) => {
    k.sched.spawn(`io${i}`, function* () {
      const len = o.op === "read" ? o.length : o.data.length;
      const page = k.slab.allocPages(0);
      if (o.op !== "read") new Uint8Array(k.core.memory.buffer, page, len).set(o.data);
      const bio = yield* bioAlloc(fsBioSet(k), GFP_NOIO, 1);
      if (len > 0) bioAddPage(k, bio, page, len, 0);
      bioSetField(k, bio, "bi_sector", o.sector);
      bioSetField(k, bio, "bi_rw", o.op === "read" ? 0 : o.op === "write" ? REQ_WRITE : o.op === "fua" ? REQ_WRITE | REQ_FUA : REQ_WRITE | REQ_FLUSH);
      bioSetField(k, bio, "bi_end_io", endIo);
      bioSetDev(k, bio, q.id);
      const c = new Completion(k.sched, `io${i}`);
      waits.set(bio, { c, i, page, len });
      yield* submitBio(k, bio);
      yield* c.waitForCompletion();
      k.slab.freePages(page, 0);
      left--;
    });
  });
  let left = ops.length;
  const r = await k.sched.runAsync({ until: () => left === 0 });
  if (r.kind !== "done" && r.kind !== "stopped") throw new Error(`submitAll: the run ended "${r.kind}"\n${k.log.text()}`);
  return res;
}

/** Runs what teardown left (RCU callbacks, deferred frees) until nothing is pending. */
async function drain(k: Kernel): Promise<void> {
  const r = await k.sched.runAsync();
  if (r.kind !== "done") throw new Error(`drain: the run ended "${r.kind}"\n${k.log.text()}`);
}

async function finish(k: Kernel, lo: FileDisk): Promise<void> {
  await inTaskAsync(k, () => fileDiskRemove(k, lo), "rmmod");
  await drain(k);
  bioExit(k);
  assert.is(k.liveObjects(), 0);
  k.assertClean();
}

/** A deterministic byte source (xorshift32). */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

test("a file disk's capacity is the file size / 512, rounded down, and rmmod leaves nothing", async () => {
  const k = boot({ clock: "real" });
  const path = tempFile(64 * 512 + 100);
  const lo = await inTaskAsync(k, () => fileDiskCreate(k, { path }));
  assert.is(lo.disk!.diskName, "loop0");
  assert.is(lo.disk!.capacity, 64n);
  assert.equal(k.sysfs.ls("/sys/block"), ["loop0"]);
  await finish(k, lo);
  assert.equal(k.sysfs.ls("/sys/block"), []);
  assert.is(fileDisks(k).length, 0);
});

test("random writes at random sectors read back, and the file holds the same bytes", async () => {
  const k = boot({ clock: "real" });
  const sectors = 256;
  const path = tempFile(sectors * 512);
  const lo = await inTaskAsync(k, () => fileDiskCreate(k, { path, hwQueueDepth: 8 }));
  const rnd = prng(0x5eed);
  const model = new Uint8Array(sectors * 512);
  for (let round = 0; round < 4; round++) {
    // Non-overlapping writes in one run (their order is the scheduler's): distinct 8-sector slots.
    const slots = new Set<number>();
    while (slots.size < 12) slots.add(rnd() % (sectors / 8));
    const ops: Op[] = [...slots].map((s) => {
      const n = 1 + (rnd() % 8);
      const data = new Uint8Array(n * 512).map(() => rnd() & 0xff);
      return { op: "write", sector: s * 8 + (rnd() % (9 - n)), data };
    });
    const wr = await submitAll(k, lo, ops);
    assert.equal(wr.map((r) => r.error), ops.map(() => 0));
    for (const o of ops) if (o.op === "write") model.set(o.data, o.sector * 512);
    const reads: Op[] = Array.from({ length: 16 }, () => {
      const n = 1 + (rnd() % 8);
      return { op: "read", sector: rnd() % (sectors - n + 1), length: n * 512 };
    });
    const rd = await submitAll(k, lo, reads);
    reads.forEach((o, i) => {
      assert.is(rd[i].error, 0);
      if (o.op === "read") assert.equal(rd[i].data, model.subarray(o.sector * 512, o.sector * 512 + o.length));
    });
  }
  assert.equal(new Uint8Array(readFileSync(path)), model, "the file itself");
  assert.ok(lo.maxInFlight >= 1 && lo.maxInFlight <= 8);
  await finish(k, lo);
});

test("host bytes written to the file show through a read, and a flush is an fdatasync", async () => {
  const k = boot({ clock: "real" });
  const path = tempFile(16 * 512, (i) => (i * 31 + 7) & 0xff);
  const lo = await inTaskAsync(k, () => fileDiskCreate(k, { path }));
  const [r] = await submitAll(k, lo, [{ op: "read", sector: 3, length: 2048 }]);
  assert.equal(r.data, new Uint8Array(readFileSync(path)).subarray(3 * 512, 3 * 512 + 2048));
  const ops0 = lo.hostOps;
  const [f] = await submitAll(k, lo, [{ op: "flush", sector: 0, data: new Uint8Array(0) }]);
  assert.is(f.error, 0);
  assert.is(lo.hostOps - ops0, 1, "one host operation: the fdatasync");
  await finish(k, lo);
});

test("a writable file disk declares REQ_FLUSH only: a FUA write is the write, then an fdatasync (POSTFLUSH)", async () => {
  const k = boot({ clock: "real" });
  const path = tempFile(16 * 512);
  const lo = await inTaskAsync(k, () => fileDiskCreate(k, { path }));
  assert.is(lo.q!.flushFlags, REQ_FLUSH);
  const ops0 = lo.hostOps;
  const data = new Uint8Array(1024).fill(0x5a);
  const [w] = await submitAll(k, lo, [{ op: "fua", sector: 2, data }]);
  assert.is(w.error, 0);
  assert.is(lo.hostOps - ops0, 2, "the write, then the fdatasync of the flush request");
  assert.equal(new Uint8Array(readFileSync(path)).subarray(1024, 2048), data);
  await finish(k, lo);
});

test("a read-only file disk declares no flush: an empty flush ends before the driver", async () => {
  const k = boot({ clock: "real" });
  const path = tempFile(16 * 512);
  const lo = await inTaskAsync(k, () => fileDiskCreate(k, { path, readOnly: true }));
  assert.is(lo.q!.flushFlags, 0);
  const ops0 = lo.hostOps;
  const [f] = await submitAll(k, lo, [{ op: "flush", sector: 0, data: new Uint8Array(0) }]);
  assert.is(f.error, 0);
  assert.is(lo.hostOps - ops0, 0);
  await finish(k, lo);
});

test("a missing file is ENOENT at create and at modprobe, with nothing left behind", async () => {
  const k = boot({ clock: "real" });
  const path = join(DIR, "does-not-exist.img");
  assert.is(await codeOfAsync(inTaskAsync(k, () => fileDiskCreate(k, { path }))), "ENOENT");
  assert.is(await codeOfAsync(inTaskAsync(k, () => fileModule.init(k, { path }))), "ENOENT");
  assert.is(await codeOfAsync(inTaskAsync(k, () => fileModule.init(k, {}))), "EINVAL");
  assert.is(await codeOfAsync(inTaskAsync(k, () => fileModule.exit(k))), "ENOENT");
  assert.equal(k.sysfs.ls("/sys/block"), []);
  await drain(k);
  bioExit(k);
  assert.is(k.liveObjects(), 0);
  k.assertClean();
});

test("a read-only disk fails writes with EROFS and leaves the file unchanged; reads still work", async () => {
  const k = boot({ clock: "real" });
  const path = tempFile(32 * 512, (i) => i & 0xff);
  const before = readFileSync(path);
  await inTaskAsync(k, () => fileModule.init(k, { path, ro: "1" }), "modprobe");
  const lo = fileDisks(k)[0];
  assert.ok(lo.readOnly);
  const res = await submitAll(k, lo, [
    { op: "write", sector: 0, data: new Uint8Array(4096).fill(0xee) },
    { op: "write", sector: 20, data: new Uint8Array(512).fill(0xee) },
    { op: "read", sector: 4, length: 1024 },
  ]);
  assert.equal(res.map((r) => r.error), [-30, -30, 0]);
  assert.equal(res[2].data, new Uint8Array(before).subarray(2048, 3072));
  assert.equal(readFileSync(path), before);
  assert.is(await codeOfAsync(inTaskAsync(k, () => fileModule.init(k, { path }))), "EEXIST");
  await inTaskAsync(k, () => fileModule.exit(k), "rmmod");
  await drain(k);
  bioExit(k);
  assert.is(k.liveObjects(), 0);
  k.assertClean();
});

test("a read past the end of the file zero-fills; one beyond the capacity is EIO", async () => {
  const k = boot({ clock: "real" });
  const path = tempFile(8 * 512, () => 0x5a);
  const lo = await inTaskAsync(k, () => fileDiskCreate(k, { path }));
  const [a] = await submitAll(k, lo, [{ op: "read", sector: 4, length: 2048 }]);
  assert.equal(a.data, new Uint8Array(2048).fill(0x5a));
  writeFileSync(path, new Uint8Array(5 * 512).fill(0x5a)); // shrunk under the disk
  const [b, c] = await submitAll(k, lo, [{ op: "read", sector: 4, length: 2048 }, { op: "read", sector: 6, length: 2048 }]);
  assert.is(b.error, 0);
  assert.equal(b.data, new Uint8Array(2048).fill(0x5a, 0, 512), "bytes past EOF read as zeros");
  assert.is(c.error, -5);
  await finish(k, lo);
});

test("a host I/O error (the file closed under the disk) fails the request with an errno", async () => {
  const k = boot({ clock: "real" });
  const path = tempFile(16 * 512, () => 1);
  const lo = await inTaskAsync(k, () => fileDiskCreate(k, { path }));
  const fh = lo.fh!;
  await fh.close();
  const res = await submitAll(k, lo, [{ op: "read", sector: 0, length: 512 }, { op: "write", sector: 0, data: new Uint8Array(512) }]);
  assert.equal(res.map((r) => r.error), [-5, -5], "EBADF has no errno in the port: EIO");
  assert.equal(new Uint8Array(readFileSync(path)), new Uint8Array(16 * 512).fill(1));
  lo.fh = null; // already closed
  await finish(k, lo);
});

test("requests in flight on the host never exceed hw_queue_depth", async () => {
  const k = boot({ clock: "real" });
  const path = tempFile(512 * 512);
  const lo = await inTaskAsync(k, () => fileDiskCreate(k, { path, hwQueueDepth: 4 }));
  const ops: Op[] = Array.from({ length: 64 }, (_, i) => ({ op: "write", sector: i * 8, data: new Uint8Array(4096).fill(i) }));
  const res = await submitAll(k, lo, ops);
  assert.equal(res.map((r) => r.error), ops.map(() => 0));
  assert.ok(lo.maxInFlight >= 2, `some concurrency: ${lo.maxInFlight}`);
  assert.ok(lo.maxInFlight <= 4, `bounded: ${lo.maxInFlight}`);
  const file = readFileSync(path);
  for (let i = 0; i < 64; i++) assert.is(file[i * 4096 + 17], i & 0xff);
  await finish(k, lo);
});

test("the promise API drives a file disk on the real clock: writes land in the file, reads return them, flush resolves", async () => {
  const k = boot({ clock: "real" });
  const path = tempFile(64 * 512, (i) => (i * 7) & 0xff);
  const before = readFileSync(path);
  const lo = await inTaskAsync(k, () => fileDiskCreate(k, { path }));
  const d = openDisk(k, "loop0");
  assert.equal(await d.read(8, 1024), new Uint8Array(before).subarray(8 * 512, 10 * 512));
  const data = Uint8Array.from({ length: 8192 }, (_, i) => (i * 13 + 5) & 0xff);
  const w = d.write(16, data);
  // Issued while the first write's async run awaits the host: it joins that run.
  const later = new Promise<Uint8Array>((resolve, reject) => setTimeout(() => d.read(0, 512).then(resolve, reject), 0));
  await w;
  await d.flush();
  assert.equal(new Uint8Array(readFileSync(path)).subarray(16 * 512, 16 * 512 + 8192), data, "on the host file");
  assert.equal(await d.read(16, 8192), data, "read back through the disk");
  assert.equal(await later, new Uint8Array(before).subarray(0, 512));
  const res = await d.submitBatch([{ op: "read", sector: 60, length: 2048 }, { op: "read", sector: 56, length: 2048 }]);
  assert.ok(res[0].ok && res[1].ok);
  if (res[0].ok) assert.equal(res[0].data, new Uint8Array(before).subarray(60 * 512, 64 * 512));
  d.close();
  await finish(k, lo);
});

test("the promise API on a read-only file disk rejects a write with KernelError EROFS and leaves the file as it was", async () => {
  const k = boot({ clock: "real" });
  const path = tempFile(16 * 512, () => 0x11);
  const before = readFileSync(path);
  await inTaskAsync(k, () => fileModule.init(k, { path, ro: "1" }), "modprobe");
  const d = openDisk(k, "loop0");
  assert.is(await codeOfAsync(d.write(0, new Uint8Array(512).fill(0xee))), "EROFS");
  assert.equal(await d.read(0, 512), new Uint8Array(512).fill(0x11), "reads still work");
  assert.equal(readFileSync(path), before);
  d.close();
  await inTaskAsync(k, () => fileModule.exit(k), "rmmod");
  await drain(k);
  bioExit(k);
  assert.is(k.liveObjects(), 0);
  k.assertClean();
});

test("the default shell loads the file module and rmmod unloads it", async () => {
  const path = tempFile(40 * 512);
  const shell = new KernelShell({ kernel: boot({ cpus: 2, clock: "real" }) });
  const r = await shell.run(`modprobe file path=${path}\ncat /sys/block/loop0/size\nrmmod file\n`);
  assert.equal([r.output, r.status], ["40\n", 0]);
  await drain(shell.kernel); // the shell's run stops when rmmod exits; deferred frees are left
  assert.is(shell.kernel.liveObjects(), 0);
  shell.kernel.assertClean();
});

test("cleanup: the temp files are removed", () => {
  rmSync(DIR, { recursive: true, force: true });
  assert.not.ok(existsSync(DIR));
});

test.run();
