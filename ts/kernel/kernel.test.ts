// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Kernel } from "./kernel.ts";
import { Mutex } from "./mutex.ts";
import { sleep } from "./sched.ts";

test("a booted Kernel runs tasks on its CPUs and ends clean", () => {
  const k = new Kernel({ cpus: 2, seed: 3 });
  let done = 0;
  for (const comm of ["a", "b"]) {
    k.sched.spawn(comm, function* () {
      yield sleep(1000);
      done++;
    });
  }
  assert.is(k.run().kind, "done");
  assert.is(done, 2);
  assert.is(k.clock.now(), 1000);
  k.assertClean();
});

test("assertClean() fails on a leaked slab object and names its site", () => {
  const k = new Kernel();
  const cache = k.slab.createCache("widget", 48);
  const p = cache.alloc("widget_alloc");
  assert.throws(() => k.assertClean(), /widget_alloc/);
  cache.free(p);
  cache.destroy();
  assert.is(k.liveObjects(), 0);
  // The scan's "kmemleak: 1 new suspected memory leaks" stays in dmesg, as in the kernel.
  assert.throws(() => k.assertClean(), /kmemleak: 1 new suspected memory leaks/);
});

test("assertClean() fails on an ABBA lock inversion even when the run completes", () => {
  const k = new Kernel({ cpus: 2, seed: 1 });
  const a = new Mutex(k.sched, "lock_a");
  const b = new Mutex(k.sched, "lock_b");
  k.sched.spawn("t1", function* () {
    yield* a.lock();
    yield* b.lock();
    b.unlock();
    a.unlock();
  });
  k.sched.spawn("t2", function* () {
    yield sleep(1_000_000);
    yield* b.lock();
    yield* a.lock();
    a.unlock();
    b.unlock();
  });
  assert.is(k.run().kind, "done");
  assert.throws(() => k.assertClean(), /possible circular locking dependency detected/);
});

test("two Kernels are isolated: separate memory, clocks and logs", () => {
  const k1 = new Kernel();
  const k2 = new Kernel();
  assert.is.not(k1.core.memory, k2.core.memory);
  k1.log.printk("info", "only in k1");
  assert.ok(k1.log.lines().some((l) => l.endsWith("only in k1")));
  assert.not.ok(k2.log.lines().some((l) => l.endsWith("only in k1")));
});

test("Kernel rejects bad boot options with typed errors", () => {
  assert.throws(() => new Kernel({ cpus: 0 }), (e: unknown) => e instanceof RangeError);
  assert.throws(() => new Kernel({ cpus: 1.5 }), (e: unknown) => e instanceof RangeError);
  // @ts-expect-error: deliberately wrong clock
  assert.throws(() => new Kernel({ clock: "sundial" }), (e: unknown) => e instanceof RangeError);
});

test("k.dv and k.u8 follow linear memory across memory.grow and stay the same objects until then", () => {
  const k = new Kernel({ cpus: 1 });
  const dv = k.dv;
  assert.is(k.dv, dv, "cached");
  const before = k.core.memory.buffer.byteLength;
  const pages: number[] = [];
  while (k.core.memory.buffer.byteLength === before) pages.push(k.slab.allocPages(4));
  assert.is.not(k.dv, dv, "remade after growth");
  assert.is(k.dv.byteLength, k.core.memory.buffer.byteLength);
  assert.is(k.u8.length, k.core.memory.buffer.byteLength);
  const last = pages[pages.length - 1];
  k.u8[last] = 0xa5;
  assert.is(k.dv.getUint8(last), 0xa5, "the views see the grown memory");
  for (const p of pages) k.slab.freePages(p, 4);
  k.assertClean();
});

test("lockdep: false boots without lock validation: an AB-BA order is not reported; by default it is", () => {
  for (const lockdep of [true, false]) {
    const k = new Kernel({ cpus: 1, lockdep });
    const a = new Mutex(k.sched, "lock_a");
    const b = new Mutex(k.sched, "lock_b");
    k.sched.spawn("ab", function* () {
      yield* a.lock();
      yield* b.lock();
      b.unlock();
      a.unlock();
      yield* b.lock();
      yield* a.lock();
      a.unlock();
      b.unlock();
    });
    assert.is(k.run().kind, "done");
    assert.is(k.log.text().includes("possible circular locking dependency"), lockdep, `lockdep ${lockdep}`);
  }
  // @ts-expect-error: deliberately wrong type
  assert.throws(() => new Kernel({ lockdep: "no" }), (e: unknown) => e instanceof TypeError);
});

test.run();
