// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import { type CoreVariant, instantiateCore } from "../wasm/core.ts";
import { formatKasanReport, KasanBug, type KasanRecord, kasanLocation, readKasanReports } from "./kasan.ts";
import { formatPointer, Klog } from "./klog.ts";
import { Slab, SlabNames } from "./slab.ts";

function setup(variant: CoreVariant = "debug") {
  const core = instantiateCore(variant);
  const log = new Klog();
  return { core, log, slab: new Slab(core, { log }) };
}

/** Ends a test: no slab object may still be live, and no page allocated once empty slabs are shrunk. */
function assertClean(slab: Slab): void {
  assert.equal(slab.liveObjects(), [], "slab objects still live");
  slab.shrink();
  assert.is(slab.nrPagesUsed, 0, "pages still allocated");
}

/** Runs fn, which must throw a KasanBug, and returns its report. */
function caught(fn: () => void): KasanRecord {
  try {
    fn();
  } catch (e) {
    if (e instanceof KasanBug) return e.report;
    throw e;
  }
  throw new Error("no KasanBug was thrown");
}

test("a write one byte past a kmalloc object is a slab-out-of-bounds with offset and size, and writes nothing", () => {
  for (const v of ["debug", "coverage"] as const) {
    const { core, slab, log } = setup(v);
    const p = slab.kmalloc(13, "kmalloc_oob_right");
    const q = slab.kmalloc(13, "neighbour");
    const before = new Uint8Array(core.memory.buffer).slice(p, q + 32);
    const r = caught(() => slab.kasan.writeBytes(p + 13, new Uint8Array([0x41]), "oob_writer"));
    assert.is(r.kind, "slab-out-of-bounds", v);
    assert.is(r.addr, p + 13);
    assert.is(r.offset, 13);
    assert.is(r.size, 1);
    assert.ok(r.isWrite);
    assert.is(r.object, p);
    assert.is(r.objectSize, 13);
    assert.is(slab.names.cacheName(r.cache), "kmalloc-32");
    assert.is(slab.names.siteName(r.allocSite), "kmalloc_oob_right");
    assert.equal(new Uint8Array(core.memory.buffer).slice(p, q + 32), before, `${v}: memory changed`);
    const text = log.text();
    const a = formatPointer(p + 13);
    assert.ok(text.includes(`BUG: KASAN: slab-out-of-bounds in oob_writer at addr ${a}`), text);
    assert.ok(text.includes(`Write of size 1 at addr ${a} by task swapper/0/1`), text);
    assert.ok(text.includes(`The buggy address belongs to the object at ${formatPointer(p)}`));
    assert.ok(text.includes(" which belongs to the cache kmalloc-32 of size 32"));
    assert.ok(text.includes("The buggy address is located 0 bytes to the right of"));
    assert.ok(text.includes(` 13-byte region [${formatPointer(p)}, ${a})`));
    assert.ok(log.tainted().includes("B"));
    assert.not.ok(log.isClean());
    slab.kfree(p);
    slab.kfree(q);
    assertClean(slab);
  }
});

test("an access that straddles the end is reported at its first bad byte", () => {
  const { slab } = setup();
  const c = slab.createCache("rec", 20);
  const p = c.alloc();
  slab.kasan.load(p + 12, 8, "ok_read");
  const r = caught(() => slab.kasan.load(p + 16, 8, "straddle"));
  assert.is(r.addr, p + 20);
  assert.is(r.size, 8);
  assert.not.ok(r.isWrite);
  assert.is(r.kind, "slab-out-of-bounds");
  c.free(p);
  c.destroy();
  assertClean(slab);
});

test("an access before the first object of a slab is located to the left of it", () => {
  const { slab } = setup();
  const c = slab.createCache("left", 48);
  const p = c.alloc();
  const r = caught(() => slab.kasan.store(p - 1, 1, "underflow"));
  assert.is(r.kind, "slab-out-of-bounds");
  assert.is(r.offset, -1);
  assert.equal(kasanLocation(r), { rel: "to the left of", bytes: 1 });
  c.free(p);
  c.destroy();
  assertClean(slab);
});

test("a use after free is caught, also after other frees, until the slot is handed out again", () => {
  const { core, slab, log } = setup();
  const c = slab.createCache("uaf", 64);
  const p = c.alloc("uaf_alloc");
  c.free(p);
  const r = caught(() => slab.kasan.load(p + 8, 4, "uaf_reader"));
  assert.is(r.kind, "use-after-free");
  assert.is(r.object, p);
  assert.is(r.offset, 8);
  assert.ok(log.text().includes("BUG: KASAN: use-after-free in uaf_reader at addr"));
  const others = Array.from({ length: 40 }, () => c.alloc());
  assert.not.ok(others.includes(p), "a quarantined object is not reused");
  for (const o of others) c.free(o);
  assert.is(caught(() => slab.kasan.store(p, 1, "uaf_writer")).kind, "use-after-free");
  core.kasan_quarantine_drain();
  assert.is(caught(() => slab.kasan.store(p, 1, "after_drain")).kind, "use-after-free", "free slots stay poisoned");
  const again: number[] = [];
  while (!again.includes(p)) again.push(c.alloc());
  slab.kasan.store(p, 64, "recycled");
  for (const o of again) c.free(o);
  c.destroy();
  assertClean(slab);
});

test("kfree() into the quarantine, then kmalloc() of another size, reports by the new object's size", () => {
  const { core, slab } = setup();
  const p = slab.kmalloc(30, "first");
  slab.kfree(p);
  core.kasan_quarantine_drain();
  let q = slab.kmalloc(10, "second");
  const held: number[] = [];
  while (q !== p) {
    held.push(q);
    q = slab.kmalloc(10, "second");
  }
  const r = caught(() => slab.kasan.store(p + 12, 1, "stale_size"));
  assert.is(r.kind, "slab-out-of-bounds");
  assert.is(r.objectSize, 10);
  slab.kfree(q);
  for (const h of held) slab.kfree(h);
  assertClean(slab);
});

test("the release build compiles the checks away: the same overflow is not reported", () => {
  const { core, slab, log } = setup("release");
  assert.not.ok(slab.kasan.enabled);
  const p = slab.kmalloc(13, "kmalloc_oob_right");
  slab.kasan.writeBytes(p + 13, new Uint8Array([0x41]), "oob_writer");
  slab.kfree(p);
  slab.kasan.load(p, 8, "uaf_reader");
  assert.is(core.kasan_report_count(), 0);
  assert.ok(log.isClean());
  assertClean(slab);
});

test("kasan_guard() turns the rest of a page block into a redzone: a sysfs PAGE_SIZE buffer overrun is caught", () => {
  const { slab } = setup();
  const buf = slab.allocPages(1);
  slab.kasan.guard(buf, 4096);
  slab.kasan.writeBytes(buf + 4000, new Uint8Array(96), "sysfs_show");
  const r = caught(() => slab.kasan.writeBytes(buf + 4090, new Uint8Array(10), "sysfs_show"));
  assert.is(r.kind, "out-of-bounds");
  assert.is(r.addr, buf + 4096);
  assert.is(r.object, buf);
  assert.is(r.objectSize, 4096);
  assert.is(r.arg, 1, "order");
  assert.ok(slab.log.text().includes("The buggy address belongs to the page block at"));
  slab.freePages(buf, 1);
  assertClean(slab);
});

test("kasan_guard() narrows a slab object, and rejects what is not an allocation start", () => {
  const { slab } = setup();
  const p = slab.kmalloc(64, "guarded");
  slab.kasan.guard(p, 10);
  const r = caught(() => slab.kasan.store(p + 10, 1, "past_guard"));
  assert.is(r.objectSize, 10);
  assert.is(slab.liveObjects()[0].size, 10);
  assert.throws(() => slab.kasan.guard(p + 8, 4), RangeError);
  assert.throws(() => slab.kasan.guard(p, 65), RangeError);
  assert.throws(() => slab.kasan.guard(slab.core.hostbuf_ptr(), 4), RangeError);
  slab.kfree(p);
  assertClean(slab);
});

test("NULL-page and beyond-memory accesses are reported, never trapping", () => {
  const { core, slab } = setup();
  assert.is(caught(() => slab.kasan.load(8, 4, "null_deref")).kind, "null-ptr-deref");
  const end = core.memory.buffer.byteLength;
  assert.is(caught(() => slab.kasan.store(end - 2, 4, "wild")).kind, "wild-memory-access");
  assert.is(core.kasan_store_u8(end + 100, 1, 0), -14);
  assert.is(readKasanReports(core).length, 1);
  assertClean(slab);
});

test("memory outside the allocators (the host window) is not checked", () => {
  const { core, slab } = setup();
  const h = core.hostbuf_ptr();
  slab.kasan.writeBytes(h, new Uint8Array([1, 2, 3]), "hostbuf");
  assert.equal([...slab.kasan.readBytes(h, 3, "hostbuf")], [1, 2, 3]);
  assert.is(core.kasan_report_count(), 0);
  assertClean(slab);
});

test("the checked WASM helpers store and load only when the check passes", () => {
  const { core, slab } = setup();
  const p = slab.kmalloc(8, "helpers");
  assert.is(core.kasan_store_u32(p + 4, 0xdeadbeef, 0), 0);
  assert.is(core.kasan_store_u32(p + 6, 0x11111111, 0), -14);
  assert.is(new DataView(core.memory.buffer).getUint32(p + 4, true), 0xdeadbeef);
  assert.is(core.kasan_load_u8(p + 4, 0), 0xef);
  assert.is(core.kasan_memset(p, 0x55, 9, 0), -14);
  assert.is(core.kasan_memset(p, 0x55, 8, 0), 0);
  assert.is(core.kasan_memcpy(core.hostbuf_ptr(), p, 8, 0), 0);
  assert.is(core.kasan_memcpy(p, core.hostbuf_ptr(), 9, 0), -14);
  assert.is(core.kasan_load(p, -1, 0), -22);
  assert.is(readKasanReports(core).length, 3);
  slab.kfree(p);
  assertClean(slab);
});

test("the report ring keeps the newest 16 reports and counts the lost ones", () => {
  const { core, slab } = setup();
  const p = slab.kmalloc(8, "ring");
  for (let i = 0; i < 20; i++) core.kasan_load(p + 8, 1, i + 1);
  const recs = readKasanReports(core);
  assert.is(recs.length, 16);
  assert.is(recs[0].site, 5);
  assert.is(core.kasan_report_lost(), 4);
  slab.kfree(p);
  assertClean(slab);
});

test("formatKasanReport() lays a record out in the kernel's report shape", () => {
  const names = new SlabNames();
  const r: KasanRecord = {
    kind: "slab-out-of-bounds",
    addr: 0x1040,
    size: 4,
    isWrite: false,
    site: names.siteId("blk_mq_get_tag"),
    object: 0x1000,
    objectSize: 64,
    cache: 2,
    allocSite: names.siteId("blk_mq_init_tags"),
    offset: 0x40,
    arg: 0,
    shadow: 0xfc,
    seq: 1,
  };
  const { head, tail } = formatKasanReport(r, names, { comm: "kworker/0:1", pid: 7 }, () => 64);
  assert.equal(head.slice(1), [
    "BUG: KASAN: slab-out-of-bounds in blk_mq_get_tag at addr 0000000000001040",
    "Read of size 4 at addr 0000000000001040 by task kworker/0:1/7",
  ]);
  assert.equal(tail, [
    "",
    "Allocated in blk_mq_init_tags",
    "",
    "The buggy address belongs to the object at 0000000000001000",
    " which belongs to the cache kmalloc-64 of size 64",
    "The buggy address is located 0 bytes to the right of",
    " 64-byte region [0000000000001000, 0000000000001040)",
    "==================================================================",
  ]);
});

test.run();
