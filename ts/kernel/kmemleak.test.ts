// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Klog } from "./klog.ts";
import { assertNoLeaks, hexDump, Kmemleak, type LeakRecord, type LeakSource } from "./kmemleak.ts";

function setup() {
  const ns = 2_000_000_000;
  const log = new Klog(() => ns);
  log.setContext(() => ({ cpu: 0, pid: 77, comm: "modprobe" }));
  return { log, kml: new Kmemleak(log) };
}

/** A stand-in for the WASM slab: a mutable list of live records. */
function slabSource(name = "slab"): LeakSource & { objs: LeakRecord[] } {
  const objs: LeakRecord[] = [];
  return { name, objs, live: () => objs };
}

const GOLDEN = [
  "unreferenced object 0xffff888001000000 (size 96):",
  '  comm "modprobe", pid 77, jiffies 2000',
  '  cache "blk_mq_tag_set", site "blk_mq_alloc_tag_set"',
  "  backtrace:",
  "    [<0000000000000000>] blk_mq_alloc_tag_set",
  "unreferenced object 0x0000000000012340 (size 256):",
  '  comm "kworker/1:0", pid 31, jiffies 104',
  '  cache "request", site "blk_mq_alloc_rqs"',
  "  hex dump (first 18 bytes):",
  "    6b 6b 6b 6b 00 01 02 03 61 62 63 64 7f 80 ff 20  kkkk....abcd... ",
  `    5a 5a${" ".repeat(44)}ZZ`,
  "  backtrace:",
  "    [<0000000000000000>] blk_mq_alloc_rqs",
].join("\n");

test("a deliberate leak is reported with its site and cache, in the kernel's shape", () => {
  const { log, kml } = setup();
  const slab = slabSource();
  kml.addSource(slab);
  const set = {};
  const rec = kml.track(set, { size: 96, cache: "blk_mq_tag_set", site: "blk_mq_alloc_tag_set" });
  assert.is(rec.addr, 0xffff888001000000n);
  assert.is(rec.jiffies, 2000);
  const head = new Uint8Array([
    0x6b,
    0x6b,
    0x6b,
    0x6b,
    0,
    1,
    2,
    3,
    0x61,
    0x62,
    0x63,
    0x64,
    0x7f,
    0x80,
    0xff,
    0x20,
    0x5a,
    0x5a,
  ]);
  slab.objs.push({
    addr: 0x12340,
    size: 256,
    cache: "request",
    site: "blk_mq_alloc_rqs",
    comm: "kworker/1:0",
    pid: 31,
    jiffies: 104,
    head,
  });
  const { count, report } = kml.scan();
  assert.is(count, 2);
  assert.is(report, `${GOLDEN}\n`);
  assert.equal(log.lines(), [
    "[    2.000000] kmemleak: 2 new suspected memory leaks (see /sys/kernel/debug/kmemleak)",
  ]);
  assert.not.ok(log.isClean());
});

test("scan() reports only leaks it has not reported before", () => {
  const { log, kml } = setup();
  const a = {};
  const b = {};
  kml.track(a, { size: 64, cache: "kobject", site: "first" });
  assert.is(kml.scan().count, 1);
  assert.equal(kml.scan(), { count: 0, report: "" });
  kml.track(b, { size: 64, cache: "kobject", site: "second" });
  const again = kml.scan();
  assert.is(again.count, 1);
  assert.match(again.report, /site "second"/);
  assert.not.match(again.report, /site "first"/);
  assert.is(log.lines().length, 2, "no log line for an empty scan");
  assert.match(kml.read(), /site "first"[\s\S]*site "second"/);
});

test("a freed object leaves the count, and assertNoLeaks() then passes", () => {
  const { log, kml } = setup();
  const q = {};
  kml.track(q, { size: 1024, cache: "request_queue", site: "blk_alloc_queue_node" });
  assert.is(kml.count(), 1);
  assert.ok(kml.tracked(q));
  kml.untrack(q);
  assert.is(kml.count(), 0);
  assert.equal(kml.live(), []);
  assertNoLeaks(kml);
  assert.ok(log.isClean());
});

test("assertNoLeaks() throws with the report and logs the scan", () => {
  const { log, kml } = setup();
  kml.track({}, { size: 48, cache: "blk_mq_ctx", site: "blk_mq_init_cpu_queues" });
  assert.throws(
    () => assertNoLeaks(kml),
    (e: unknown) =>
      e instanceof Error && /^kmemleak: 1 suspected memory leak\n/.test(e.message) &&
      e.message.includes('cache "blk_mq_ctx", site "blk_mq_init_cpu_queues"'),
  );
  assert.not.ok(log.isClean());
});

test("freeing twice logs a KASAN double-free; freeing an unknown object WARNs", () => {
  const { log, kml } = setup();
  const o = {};
  kml.track(o, { size: 64, cache: "kobject", site: "s" });
  kml.untrack(o);
  kml.untrack(o, "kobject_cleanup");
  assert.ok(
    log.lines().includes(
      "[    2.000000] BUG: KASAN: double-free or invalid-free in kobject_cleanup at addr ffff888001000000",
    ),
  );
  assert.ok(
    log.lines().includes("[    2.000000] Free of addr ffff888001000000 by task modprobe/77"),
  );
  const log2 = new Klog();
  const kml2 = new Kmemleak(log2);
  kml2.untrack({});
  assert.ok(
    log2.lines().some((l) => l.endsWith("kmemleak: Freeing unknown object at 0x0000000000000000")),
  );
  assert.not.ok(log2.isClean());
});

test("tracking an object twice WARNs and keeps the first record", () => {
  const { log, kml } = setup();
  const o = {};
  const first = kml.track(o, { size: 64, cache: "a", site: "a" });
  assert.is(kml.track(o, { size: 64, cache: "b", site: "b" }), first);
  assert.is(kml.count(), 1);
  assert.match(log.text(), /overlaps existing/);
});

test("addresses are deterministic per instance, distinct and kmalloc-aligned", () => {
  const addrs = () => {
    const kml = new Kmemleak(new Klog());
    return [8, 100, 64, 5000].map((size) => kml.track({}, { size, cache: "c", site: "s" }).addr);
  };
  const a = addrs();
  assert.equal(a, addrs());
  assert.equal(a, [
    0xffff888001000000n,
    0xffff888001000040n,
    0xffff8880010000c0n,
    0xffff888001000100n,
  ]);
  const kml = new Kmemleak(new Klog(), { base: 0x1000n });
  const o = {};
  assert.is(kml.addrOf(o), 0x1000n);
  assert.is(
    kml.track(o, { size: 64, cache: "c", site: "s" }).addr,
    0x1000n,
    "tracking keeps an address given earlier",
  );
});

test("a source's objects are reported once each and forgotten when freed", () => {
  const { kml } = setup();
  const slab = slabSource();
  kml.addSource(slab);
  const r = { addr: 0x100, size: 32, cache: "bio", site: "bio_alloc", jiffies: 1 };
  slab.objs.push(r);
  assert.is(kml.count(), 1);
  assert.is(kml.scan().count, 1);
  assert.is(kml.scan().count, 0);
  slab.objs.length = 0;
  assert.is(kml.scan().count, 0);
  slab.objs.push({ ...r });
  assert.is(kml.scan().count, 1, "an object allocated again at a freed address is new");
  kml.removeSource(slab);
  assert.is(kml.count(), 0);
  assert.throws(() => {
    kml.addSource(slab);
    kml.addSource(slabSource());
  }, (e: unknown) => e instanceof TypeError);
});

test("notLeak() objects stay live but are never counted or reported", () => {
  const { kml } = setup();
  const root = {};
  kml.track(root, { size: 64, cache: "kset", site: "kset_create_and_add" });
  kml.notLeak(root);
  assert.is(kml.count(), 0);
  assert.is(kml.live().length, 1);
  assert.is(kml.scan().count, 0);
  assertNoLeaks(kml);
  assert.throws(() => kml.notLeak({}), (e: unknown) => e instanceof TypeError);
});

test("clear() turns current suspects into non-leaks; later ones still count", () => {
  const { kml } = setup();
  const slab = slabSource();
  kml.addSource(slab);
  kml.track({}, { size: 64, cache: "a", site: "a" });
  slab.objs.push({ addr: 1, size: 8, cache: "x", site: "y" });
  kml.clear();
  assert.is(kml.count(), 0);
  kml.track({}, { size: 64, cache: "b", site: "b" });
  assert.is(kml.count(), 1);
  assert.is(kml.scan().count, 1);
});

test("hexDump() mirrors print_hex_dump with 16-byte rows and an ASCII column", () => {
  assert.equal(hexDump(new TextEncoder().encode("kobj"), "    "), [
    "    6b 6f 62 6a                                      kobj",
  ]);
  const full = hexDump(new Uint8Array(17).fill(0x41));
  assert.is(full[0], `${"41 ".repeat(15)}41  ${"A".repeat(16)}`);
  assert.is(full[1], `41${" ".repeat(47)}A`);
  assert.equal(hexDump(new Uint8Array(0)), []);
});

test("track() rejects bad arguments and changes nothing", () => {
  const { kml } = setup();
  assert.throws(
    () => kml.track({}, { size: -1, cache: "c", site: "s" }),
    (e: unknown) => e instanceof RangeError,
  );
  assert.throws(
    () => kml.track({}, { size: 1, cache: 3 as never, site: "s" }),
    (e: unknown) => e instanceof TypeError,
  );
  assert.throws(
    () => kml.track(5 as never, { size: 1, cache: "c", site: "s" }),
    (e: unknown) => e instanceof TypeError,
  );
  assert.is(kml.count(), 0);
});

test.run();
