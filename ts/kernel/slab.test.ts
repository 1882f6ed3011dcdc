// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import { KernelError } from "../errors.ts";
import { CORE_VARIANTS, type CoreVariant, instantiateCore } from "../wasm/core.ts";
import { KasanBug } from "./kasan.ts";
import { Klog } from "./klog.ts";
import { assertNoLeaks, Kmemleak } from "./kmemleak.ts";
import {
  FAILSLAB,
  KMALLOC_MAX_SIZE,
  KMALLOC_SIZES,
  type KmemCache,
  Slab,
  SLAB_HWCACHE_ALIGN,
  slabLeakSource,
  SlabNames,
  ZERO_SIZE_PTR,
} from "./slab.ts";

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

const isBug = (kind: string) => (e: unknown) => e instanceof KasanBug && e.code === "BUG" && e.report.kind === kind;
const isErr = (code: string) => (e: unknown) => e instanceof KernelError && e.code === code;

test("a cache hands out distinct, aligned objects and takes them back", () => {
  for (const v of CORE_VARIANTS) {
    const { slab } = setup(v);
    const c = slab.createCache("bio", 100, { align: 32 });
    const objs = Array.from({ length: 200 }, () => c.alloc());
    assert.is(new Set(objs).size, 200, v);
    for (const p of objs) assert.is(p % 32, 0, `${v} alignment`);
    const sorted = [...objs].sort((a, b) => a - b);
    for (let i = 1; i < sorted.length; i++) assert.ok(sorted[i] - sorted[i - 1] >= 100, `${v} overlap`);
    assert.is(c.nrLive, 200);
    assert.ok(c.nrSlabs >= Math.ceil(200 / c.objectsPerSlab));
    for (const p of objs) c.free(p);
    assert.is(c.nrLive, 0);
    c.destroy();
    assert.ok(c.destroyed);
    assertClean(slab);
  }
});

test("SLAB_HWCACHE_ALIGN aligns objects to the cache line, halved for small objects as the kernel does", () => {
  const { slab } = setup("release");
  const big = slab.createCache("big", 100, { flags: SLAB_HWCACHE_ALIGN });
  const small = slab.createCache("small", 20, { flags: SLAB_HWCACHE_ALIGN });
  const a = big.alloc();
  const b = small.alloc();
  assert.is(a % 64, 0);
  assert.is(b % 32, 0);
  assert.is(slab.core.kmem_cache_stride(big.id), 128);
  big.free(a);
  small.free(b);
  big.destroy();
  small.destroy();
  assertClean(slab);
});

test("createCache() rejects bad sizes and alignments with RangeError", () => {
  const { slab } = setup();
  assert.throws(() => slab.createCache("x", 0), RangeError);
  assert.throws(() => slab.createCache("x", -5), RangeError);
  assert.throws(() => slab.createCache("x", (1 << 21) + 1), RangeError);
  assert.throws(() => slab.createCache("x", 64, { align: 48 }), RangeError);
  assert.throws(() => slab.createCache("x", 64, { align: 8192 }), RangeError);
  assert.throws(() => slab.createCache("", 64), TypeError);
  assertClean(slab);
});

test("createCache() throws ENOMEM once every cache id is taken, and ids are reusable after destroy", () => {
  const { slab } = setup("release");
  const caches: KmemCache[] = [];
  let err: unknown;
  try {
    for (;;) caches.push(slab.createCache(`c${caches.length}`, 16));
  } catch (e) {
    err = e;
  }
  assert.ok(isErr("ENOMEM")(err));
  assert.is(caches.length, 256 - 12);
  caches.pop()!.destroy();
  caches.push(slab.createCache("again", 16));
  for (const c of caches) c.destroy();
  assertClean(slab);
});

test("kmalloc() serves each size from the smallest class that fits (kmalloc-32 … kmalloc-8192)", () => {
  const { slab } = setup();
  const ptrs: number[] = [];
  for (const [size, want] of [[1, 32], [32, 32], [33, 64], [96, 96], [97, 128], [150, 192], [257, 512], [4097, 8192], [8192, 8192]]) {
    const p = slab.kmalloc(size, "kmalloc_test");
    assert.is(slab.ksize(p), want, `size ${size}`);
    assert.is(slab.liveObjects().find((o) => o.addr === p)?.cache, `kmalloc-${want}`);
    ptrs.push(p);
  }
  for (let i = 0; i < KMALLOC_SIZES.length; i++) assert.is(slab.core.kmem_cache_size(i + 1), KMALLOC_SIZES[i]);
  for (const p of ptrs) slab.kfree(p);
  assertClean(slab);
});

test("kmalloc(0) returns ZERO_SIZE_PTR, which kfree() ignores; bad sizes throw RangeError", () => {
  const { slab, core } = setup();
  assert.is(slab.kmalloc(0), ZERO_SIZE_PTR);
  slab.kfree(ZERO_SIZE_PTR);
  slab.kfree(0);
  assert.throws(() => slab.kmalloc(-1), RangeError);
  assert.throws(() => slab.kmalloc(KMALLOC_MAX_SIZE + 1), RangeError);
  assert.throws(() => slab.kmalloc(2.5), RangeError);
  assert.is(core.kmalloc(-1, 0), 0);
  assert.is(core.mm_errno(), -22);
  assertClean(slab);
});

test("kzalloc() and zalloc() return zeroed memory even when the slot was dirty", () => {
  const { slab, core } = setup("release");
  const p = slab.kmalloc(64);
  new Uint8Array(core.memory.buffer).fill(0xee, p, p + 64);
  slab.kfree(p);
  const q = slab.kzalloc(64);
  assert.is(q, p, "LIFO reuse of the same slot");
  assert.ok(new Uint8Array(core.memory.buffer, q, 64).every((b) => b === 0));
  slab.kfree(q);
  const c = slab.createCache("z", 40);
  const r = c.zalloc();
  assert.ok(new Uint8Array(core.memory.buffer, r, 40).every((b) => b === 0));
  c.free(r);
  c.destroy();
  assertClean(slab);
});

test("a deliberate leak is reported by kmemleak with the right site and cache", () => {
  const { core, log, slab } = setup();
  const kml = new Kmemleak(log);
  kml.addSource(slabLeakSource(core, slab.names));
  const bios = slab.createCache("bio", 96);
  const leak = bios.alloc("bio_alloc");
  const buf = slab.kmalloc(40, "blk_mq_alloc_tag_set");
  new Uint8Array(core.memory.buffer).set(new TextEncoder().encode("leaked!"), buf);
  const { count, report } = kml.scan();
  assert.is(count, 2);
  assert.ok(report.includes('cache "bio", site "bio_alloc"'), report);
  assert.ok(report.includes('cache "kmalloc-64", site "blk_mq_alloc_tag_set"'), report);
  assert.ok(report.includes(`unreferenced object 0x${leak.toString(16).padStart(16, "0")} (size 96)`), report);
  assert.ok(report.includes("leaked!"), "hex dump of the head");
  assert.ok(log.text().includes("kmemleak: 2 new suspected memory leaks"));
  assert.throws(() => assertNoLeaks(kml), /2 suspected memory leaks/);
  bios.free(leak);
  slab.kfree(buf);
  bios.destroy();
  assertNoLeaks(kml);
  assertClean(slab);
});

test("destroy() with live objects logs the BUG naming each object, throws EBUSY and keeps the cache", () => {
  for (const v of CORE_VARIANTS) {
    const { slab, log } = setup(v);
    const c = slab.createCache("request", 200);
    const a = c.alloc("blk_mq_alloc_request");
    const b = c.alloc("blk_mq_alloc_request");
    const freed = c.alloc("never_mind");
    c.free(freed);
    assert.throws(() => c.destroy(), isErr("EBUSY"), v);
    const text = log.text();
    assert.ok(text.includes("kmem_cache_destroy request: Slab cache still has objects"), v);
    assert.ok(text.includes("BUG request (Not tainted): Objects remaining in request on kmem_cache_close()"), v);
    for (const p of [a, b]) assert.ok(text.includes(`INFO: Object 0x${p.toString(16).padStart(16, "0")} size=200`), v);
    assert.ok(text.includes("INFO: Allocated in blk_mq_alloc_request"), v);
    assert.not.ok(text.includes("never_mind"), `${v}: freed objects are not listed`);
    assert.not.ok(c.destroyed);
    const d = c.alloc();
    for (const p of [a, b, d]) c.free(p);
    c.destroy();
    assert.throws(() => c.destroy(), TypeError, `${v}: destroy twice`);
    assert.throws(() => c.alloc(), TypeError, `${v}: alloc after destroy`);
    assertClean(slab);
  }
});

test("kmem_cache_destroy() refuses kmalloc caches and unknown ids with -EINVAL", () => {
  const { core, slab } = setup();
  assert.is(core.kmem_cache_destroy(1), -22);
  assert.is(core.kmem_cache_destroy(200), -22);
  assert.is(core.kmem_cache_destroy(-3), -22);
  assert.is(core.kmem_cache_alloc(200, 0), 0);
  assert.is(core.mm_errno(), -22);
  assertClean(slab);
});

test("a double free is a KASAN double-free BUG, not a trap, and leaves the allocator intact, in every variant", () => {
  for (const v of CORE_VARIANTS) {
    const { slab, log } = setup(v);
    const c = slab.createCache("dbl", 64);
    const p = c.alloc();
    c.free(p);
    assert.throws(() => c.free(p), isBug("double-free"), v);
    assert.throws(() => c.free(p), isBug("double-free"), `${v} again`);
    const q = slab.kmalloc(20);
    slab.kfree(q);
    assert.throws(() => slab.kfree(q), isBug("double-free"), `${v} kfree`);
    assert.ok(log.text().includes("BUG: KASAN: double-free or invalid-free in kmem_cache_free at addr"), v);
    assert.ok(log.text().includes("BUG: KASAN: double-free or invalid-free in kfree at addr"), v);
    const objs = Array.from({ length: 50 }, () => c.alloc());
    assert.is(new Set(objs).size, 50, `${v}: no slot handed out twice`);
    for (const o of objs) c.free(o);
    c.destroy();
    assertClean(slab);
  }
});

test("freeing a foreign or interior pointer is an invalid-free BUG and frees nothing, in every variant", () => {
  for (const v of CORE_VARIANTS) {
    const { core, slab } = setup(v);
    const c = slab.createCache("inv", 64);
    const p = c.alloc();
    assert.throws(() => c.free(core.hostbuf_ptr()), isBug("invalid-free"), `${v} hostbuf`);
    assert.throws(() => c.free(p + 8), isBug("invalid-free"), `${v} interior`);
    assert.throws(() => slab.kfree(0x7ffffff0), isBug("invalid-free"), `${v} beyond memory`);
    const page = slab.allocPages(0);
    assert.throws(() => slab.kfree(page), isBug("invalid-free"), `${v} page`);
    slab.freePages(page, 0);
    assert.is(c.nrLive, 1);
    c.free(p);
    c.destroy();
    assertClean(slab);
  }
});

test("freeing to the wrong cache is reported with both cache names and frees nothing", () => {
  const { slab, log } = setup("release");
  const a = slab.createCache("cache-a", 64);
  const b = slab.createCache("cache-b", 64);
  const p = a.alloc();
  assert.throws(() => b.free(p), isBug("wrong-cache"));
  assert.ok(log.text().includes("cache_from_obj: Wrong slab cache. cache-b but object is from cache-a"));
  assert.is(a.nrLive, 1);
  a.free(p);
  a.destroy();
  b.destroy();
  assertClean(slab);
});

test("failNth() makes exactly the nth allocation of a cache fail, once", () => {
  for (const v of CORE_VARIANTS) {
    const { slab } = setup(v);
    const c = slab.createCache("fail", 32);
    const other = slab.createCache("other", 32);
    slab.failNth(c, 4);
    const got: (number | string)[] = [];
    for (let i = 1; i <= 6; i++) {
      try {
        got.push(c.alloc());
        other.free(other.alloc());
      } catch (e) {
        assert.ok(isErr("ENOMEM")(e));
        got.push(`fail@${i}`);
      }
    }
    assert.equal(got.filter((x) => typeof x === "string"), ["fail@4"], v);
    assert.is(slab.faultsInjected(c), 1);
    assert.is(slab.failNthPending(c), 0);
    for (const p of got) if (typeof p === "number") c.free(p);
    c.destroy();
    other.destroy();
    assertClean(slab);
  }
});

test("failNth(failslab) counts allocations from every cache, kmalloc included", () => {
  const { slab } = setup();
  const c = slab.createCache("any", 32);
  slab.failNth(FAILSLAB, 3);
  const a = c.alloc();
  const b = slab.kmalloc(10);
  assert.throws(() => c.alloc(), isErr("ENOMEM"));
  const d = slab.kmalloc(10);
  c.free(a);
  slab.kfree(b);
  slab.kfree(d);
  c.destroy();
  assertClean(slab);
});

test("the probability/interval mode is deterministic: the same seed fails the same calls", () => {
  const pattern = (seed: number) => {
    const { slab } = setup("release");
    const c = slab.createCache("p", 16);
    slab.setFaultAttr(c, { probability: 30, seed });
    const out: number[] = [];
    const live: number[] = [];
    for (let i = 0; i < 200; i++) {
      try {
        live.push(c.alloc());
      } catch {
        out.push(i);
      }
    }
    for (const p of live) c.free(p);
    c.destroy();
    assertClean(slab);
    return out;
  };
  const a = pattern(42);
  assert.equal(pattern(42), a);
  assert.not.equal(pattern(7), a);
  assert.ok(a.length > 30 && a.length < 100, `30% of 200 failed ${a.length} times`);
});

test("interval and times limit the probability mode like lib/fault-inject.c", () => {
  const { slab } = setup("release");
  const c = slab.createCache("iv", 16);
  slab.setFaultAttr(c, { probability: 100, interval: 3, times: 2 });
  const failed: number[] = [];
  const live: number[] = [];
  for (let i = 1; i <= 12; i++) {
    try {
      live.push(c.alloc());
    } catch {
      failed.push(i);
    }
  }
  assert.equal(failed, [3, 6]);
  slab.setFaultAttr(c, { probability: 0 });
  for (const p of live) c.free(p);
  c.destroy();
  assertClean(slab);
});

test("100k alloc/free cycles do not grow memory (O(1) free stacks, empty slabs reused)", () => {
  for (const v of ["release", "debug"] as const) {
    const { core, slab } = setup(v);
    const c = slab.createCache("cycle", 128);
    const held = Array.from({ length: 100 }, () => c.alloc());
    for (let i = 0; i < 2000; i++) c.free(c.alloc());
    const bytes = core.memory.buffer.byteLength;
    const pages = slab.nrPagesUsed;
    for (let i = 0; i < 100_000; i++) {
      const p = core.kmem_cache_alloc(c.id, 1);
      core.kmem_cache_free(c.id, p);
    }
    assert.is(core.memory.buffer.byteLength, bytes, `${v}: memory grew`);
    assert.is(slab.nrPagesUsed, pages, `${v}: pages grew`);
    for (const p of held) c.free(p);
    c.destroy();
    assertClean(slab);
  }
});

test("tracking is switchable in release: untracked objects are listed without site, at the cache's size", () => {
  const { slab } = setup("release");
  assert.ok(slab.tracking, "on by default");
  const t = slab.kmalloc(13, "tracked_site");
  assert.is(slab.setTracking(false), false);
  const u = slab.kmalloc(13, "untracked_site");
  const live = slab.liveObjects();
  assert.equal(live.find((o) => o.addr === t)?.site, "tracked_site");
  assert.equal(live.find((o) => o.addr === t)?.size, 13);
  assert.equal(live.find((o) => o.addr === u)?.site, "unknown");
  assert.equal(live.find((o) => o.addr === u)?.size, 32);
  assert.is(slab.setTracking(true), true);
  slab.kfree(t);
  slab.kfree(u);
  assertClean(slab);
});

test("tracking cannot be switched off in the debug build", () => {
  const { slab } = setup("debug");
  assert.is(slab.setTracking(false), true);
  const p = slab.kmalloc(10, "always");
  assert.is(slab.liveObjects()[0].site, "always");
  slab.kfree(p);
  assertClean(slab);
});

test("a cache keeps two empty slabs for reuse, and shrink() returns them to the page allocator", () => {
  const { slab } = setup("release");
  const c = slab.createCache("keep", 1000);
  const objs = Array.from({ length: 5 * c.objectsPerSlab }, () => c.alloc());
  assert.is(c.nrSlabs, 5);
  for (const p of objs) c.free(p);
  assert.is(c.nrSlabs, 2, "MAX_EMPTY_SLABS");
  const pages = slab.nrPagesUsed;
  assert.is(c.shrink(), 2 << c.order);
  assert.is(c.nrSlabs, 0);
  assert.is(slab.nrPagesUsed, pages - (2 << c.order));
  c.destroy();
  assertClean(slab);
});

test("SlabNames interns sites from 4096 up, names asm constants, and names unknown ids", () => {
  const n = new SlabNames();
  const id = n.siteId("bio_alloc");
  assert.is(id, 4096);
  assert.is(n.siteId("bio_alloc"), id);
  assert.is(n.siteName(id), "bio_alloc");
  n.defineSite(42, "blk_mq_init_tags");
  assert.is(n.siteName(42), "blk_mq_init_tags");
  assert.is(n.siteName(0), "unknown");
  assert.is(n.siteName(999), "site#999");
  assert.is(n.cacheName(1), "kmalloc-32");
  assert.throws(() => n.defineSite(5000, "x"), RangeError);
});

test.run();
