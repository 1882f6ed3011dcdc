// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import { KernelError } from "../errors.ts";
import { CORE_VARIANTS, type CoreVariant, instantiateCore } from "../wasm/core.ts";
import { VirtualClock } from "./clock.ts";
import { Cpus } from "./cpu.ts";
import { KasanBug } from "./kasan.ts";
import { Klog } from "./klog.ts";
import { GFP_ATOMIC, GFP_KERNEL, GFP_NOIO, GFP_NOWAIT, gfpflagsAllowBlocking, Mempool } from "./mempool.ts";
import { Scheduler, sleep } from "./sched.ts";
import { FAIL_PAGE_ALLOC, FAILSLAB, Slab } from "./slab.ts";
import { TimerBase } from "./timer.ts";

function setup(variant: CoreVariant = "debug", log = new Klog()) {
  const core = instantiateCore(variant);
  return { core, log, slab: new Slab(core, { log }) };
}

/** Ends a test: no slab object and no page may still be allocated. */
function assertClean(slab: Slab): void {
  assert.equal(slab.liveObjects(), [], "slab objects still live");
  slab.shrink();
  assert.is(slab.nrPagesUsed, 0, "pages still allocated");
}

const isBug = (kind: string) => (e: unknown) => e instanceof KasanBug && e.report.kind === kind;

test("mempool_create() preallocates min_nr elements from the backing cache", () => {
  for (const v of CORE_VARIANTS) {
    const { slab } = setup(v);
    const bios = slab.createCache("bio", 96);
    const pool = Mempool.createSlabPool(slab, 4, bios, "bioset_create");
    assert.is(pool.minNr, 4);
    assert.is(pool.currNr, 4);
    assert.is(bios.nrLive, 4);
    assert.equal(bios.liveObjects().map((o) => o.site), Array(4).fill("bioset_create"));
    pool.destroy();
    assert.is(bios.nrLive, 0);
    bios.destroy();
    assertClean(slab);
  }
});

test("alloc() uses the allocator first and the reserve only after the allocator fails", () => {
  const { slab } = setup();
  const bios = slab.createCache("bio", 96);
  const pool = Mempool.createSlabPool(slab, 2, bios);
  const a = pool.alloc(GFP_NOIO);
  const b = pool.alloc(GFP_ATOMIC);
  assert.is(pool.currNr, 2, "allocator served both");
  assert.is(pool.nrReserveUsed, 0);
  slab.failNth(bios, 1);
  const c = pool.alloc(GFP_ATOMIC);
  assert.ok(c !== 0);
  assert.is(pool.currNr, 1, "the failed allocation came from the reserve");
  assert.is(pool.nrReserveUsed, 1);
  const d = pool.alloc(GFP_ATOMIC);
  assert.is(pool.currNr, 1, "the allocator works again, reserve untouched");
  for (const p of [a, b, c, d]) pool.free(p);
  pool.destroy();
  bios.destroy();
  assertClean(slab);
});

test("free() refills the reserve first, then frees to the allocator", () => {
  const { slab } = setup();
  const bios = slab.createCache("bio", 96);
  const pool = Mempool.createSlabPool(slab, 2, bios);
  slab.setFaultAttr(bios, { probability: 100 });
  const x = pool.alloc(GFP_ATOMIC);
  const y = pool.alloc(GFP_ATOMIC);
  assert.is(pool.currNr, 0);
  assert.is(pool.alloc(GFP_ATOMIC), 0, "allocator and reserve both exhausted");
  assert.is(slab.core.mm_errno(), -12);
  slab.setFaultAttr(bios, { probability: 0 });
  const z = pool.alloc(GFP_ATOMIC);
  assert.is(bios.nrLive, 3);
  pool.free(x);
  assert.is(pool.currNr, 1);
  pool.free(y);
  assert.is(pool.currNr, 2);
  assert.is(bios.nrLive, 3, "both went into the reserve");
  pool.free(z);
  assert.is(pool.currNr, 2);
  assert.is(bios.nrLive, 2, "the third went back to the cache");
  pool.destroy();
  bios.destroy();
  assertClean(slab);
});

test("a mask that may block gets 0 with EAGAIN where the kernel would sleep; onWake() hears only refills", () => {
  const { slab } = setup();
  const pool = Mempool.createKmallocPool(slab, 1, 200);
  slab.setFaultAttr(FAILSLAB, { probability: 100 });
  const held = pool.alloc(GFP_NOIO);
  assert.ok(held !== 0);
  assert.is(pool.alloc(GFP_NOIO), 0);
  assert.is(slab.core.mm_errno(), -11);
  assert.is(pool.alloc(GFP_NOWAIT), 0);
  assert.is(slab.core.mm_errno(), -12);
  assert.ok(gfpflagsAllowBlocking(GFP_KERNEL) && !gfpflagsAllowBlocking(GFP_ATOMIC));
  let woken = 0;
  pool.onWake(() => woken++);
  assert.is(pool.nrWaiters, 1);
  pool.free(held);
  assert.is(woken, 1);
  assert.is(pool.nrWaiters, 0);
  assert.is(pool.allocAgain(GFP_NOIO), held);
  slab.setFaultAttr(FAILSLAB, { probability: 0 });
  const extra = pool.alloc(GFP_NOIO);
  pool.onWake(() => woken++);
  pool.free(held);
  pool.free(extra);
  assert.is(woken, 2, "only the refill woke");
  pool.destroy();
  assertClean(slab);
});

test("kmalloc and page pools refill and free through their allocators", () => {
  const { slab } = setup();
  const kp = Mempool.createKmallocPool(slab, 3, 100, "kmalloc_pool");
  const pp = Mempool.createPagePool(slab, 2, 1, "page_pool");
  assert.is(slab.nrPagesUsed > 4, true);
  const k = kp.alloc();
  const p = pp.alloc();
  assert.is(slab.ksize(k), 128);
  assert.is(p % 8192, 0);
  slab.failNth(FAIL_PAGE_ALLOC, 1);
  const p2 = pp.alloc(GFP_ATOMIC);
  assert.is(pp.currNr, 1);
  pp.free(p2);
  pp.free(p);
  kp.free(k);
  kp.destroy();
  pp.destroy();
  assertClean(slab);
});

test("mempool_create() that cannot fill its reserve throws ENOMEM and leaves nothing behind", () => {
  for (const v of CORE_VARIANTS) {
    const { slab } = setup(v);
    const c = slab.createCache("rq", 256);
    slab.failNth(c, 3);
    assert.throws(() => Mempool.createSlabPool(slab, 4, c), (e: unknown) => e instanceof KernelError && e.code === "ENOMEM");
    assert.is(c.nrLive, 0);
    assert.throws(() => Mempool.createSlabPool(slab, 4096, c), RangeError);
    c.destroy();
    assertClean(slab);
  }
});

test("freeing an element twice into the reserve, or one from another cache, is a BUG that changes nothing", () => {
  for (const v of CORE_VARIANTS) {
    const { slab } = setup(v);
    const a = slab.createCache("a", 64);
    const b = slab.createCache("b", 64);
    const pool = Mempool.createSlabPool(slab, 2, a);
    const e = pool.alloc();
    const stranger = b.alloc();
    slab.failNth(a, 1);
    const r = pool.alloc(GFP_ATOMIC);
    pool.free(r);
    assert.throws(() => pool.free(r), isBug("double-free"), v);
    assert.throws(() => pool.free(stranger), isBug("wrong-cache"), v);
    assert.is(pool.currNr, 2);
    b.free(stranger);
    pool.free(e);
    pool.destroy();
    assert.throws(() => pool.destroy(), TypeError);
    assert.throws(() => pool.alloc(), TypeError);
    a.destroy();
    b.destroy();
    assertClean(slab);
  }
});

test("an element used after mempool_free() into the reserve is a use-after-free (debug)", () => {
  const { slab } = setup("debug");
  const c = slab.createCache("elem", 48);
  const pool = Mempool.createSlabPool(slab, 1, c);
  slab.failNth(c, 1);
  const e = pool.alloc(GFP_ATOMIC);
  slab.kasan.store(e, 48, "owner");
  pool.free(e);
  assert.throws(() => slab.kasan.store(e, 4, "late_user"), isBug("use-after-free"));
  slab.failNth(c, 1);
  assert.is(pool.alloc(GFP_ATOMIC), e);
  slab.kasan.store(e, 48, "new_owner");
  pool.free(e);
  pool.destroy();
  c.destroy();
  assertClean(slab);
});

/** A one-CPU machine with a virtual clock. */
function machine(log: Klog) {
  const clock = new VirtualClock();
  const cpus = new Cpus({ nrCpuIds: 1 });
  const timers = new TimerBase({ clock, cpus, log });
  return { clock, sched: new Scheduler({ cpus, clock, timers, log, seed: 1 }) };
}

test("allocWait() sleeps on pool->wait until free() refills the reserve, then takes that element", () => {
  const log = new Klog();
  const { slab } = setup("debug", log);
  const { clock, sched } = machine(log);
  const c = slab.createCache("bio", 96);
  const pool = Mempool.createSlabPool(slab, 1, c);
  slab.setFaultAttr(c, { probability: 100 });
  const first = pool.alloc(GFP_ATOMIC);
  let got = -1;
  let gotAt = -1;
  sched.spawn("dio", function* () {
    got = yield* pool.allocWait(GFP_NOIO, sched);
    gotAt = clock.now();
  });
  sched.spawn("completion", function* () {
    yield sleep(1_000_000);
    assert.is(pool.nrWaiters, 1, "dio sleeps on the pool");
    pool.free(first);
  });
  const r = sched.run();
  assert.is(r.kind, "done");
  assert.is(got, first, "the refilled element went to the sleeper");
  assert.is(gotAt, 1_000_000, "woken by the free, not by the timeout");
  slab.setFaultAttr(c, { probability: 0 });
  pool.free(got);
  pool.destroy();
  c.destroy();
  assertClean(slab);
});

test("allocWait() retries after 5 s even without a wake-up, and returns 0 at once for GFP_ATOMIC", () => {
  const log = new Klog();
  const { slab } = setup("release", log);
  const { clock, sched } = machine(log);
  const c = slab.createCache("bio", 96);
  const pool = Mempool.createSlabPool(slab, 0, c);
  slab.setFaultAttr(c, { probability: 100 });
  let atomic = -1;
  sched.spawn("atomic", function* () {
    atomic = yield* pool.allocWait(GFP_ATOMIC, sched);
  });
  assert.is(sched.run().kind, "done");
  assert.is(atomic, 0);
  assert.is(clock.now(), 0, "no sleep");
  slab.setFaultAttr(c, { probability: 100, times: 2 });
  let got = 0;
  let gotAt = -1;
  sched.spawn("dio", function* () {
    got = yield* pool.allocWait(GFP_NOIO, sched);
    gotAt = clock.now();
  });
  assert.is(sched.run().kind, "done");
  assert.ok(got !== 0);
  assert.is(gotAt, 5 * 1_000_000_000, "io_schedule_timeout(5*HZ)");
  pool.free(got);
  pool.destroy();
  c.destroy();
  assertClean(slab);
});

test.run();
