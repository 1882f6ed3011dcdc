// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import { KernelBug } from "../errors.ts";
import { boot, text } from "./_testkit.ts";
import { ByteChoices, sleep } from "./sched.ts";
import { Spinlock } from "./spinlock.ts";
import { Timer } from "./timer.ts";

test("spin_lock() disables preemption and records owner and CPU until spin_unlock()", () => {
  const { sched, log, lockdep } = boot();
  const l = new Spinlock(sched, "&hctx->lock");
  sched.spawn("t", function* (me) {
    l.lock();
    assert.is(me.preemptCount, 1);
    assert.is(l.owner, me);
    assert.is(l.ownerCpu, me.cpu);
    assert.equal(lockdep.held(me).map((c) => c.name), ["&hctx->lock"]);
    l.unlock();
    assert.is(me.preemptCount, 0);
    assert.ok(l.trylock());
    assert.not.ok(l.trylock());
    l.unlock();
    yield;
  });
  sched.run();
  assert.ok(log.isClean());
});

test("spin_lock_irqsave() returns the flags to restore, and nests", () => {
  const { sched } = boot();
  const a = new Spinlock(sched, "a");
  const b = new Spinlock(sched, "b");
  sched.spawn("t", function* (me) {
    const f1 = a.lockIrqsave();
    const f2 = b.lockIrqsave();
    assert.is(f1, 0x200);
    assert.is(f2, 0);
    assert.ok(sched.irqsDisabled());
    b.unlockIrqrestore(f2);
    assert.ok(sched.irqsDisabled());
    a.unlockIrqrestore(f1);
    assert.not.ok(sched.irqsDisabled());
    a.lockIrq();
    a.unlockIrq();
    a.lockBh();
    assert.ok(sched.inInterrupt()); // bh disabled counts, as in_interrupt() does
    a.unlockBh();
    assert.is(me.preemptCount, 0);
    yield;
  });
  sched.run();
});

test("yields while holding a spinlock do not let another task run", () => {
  const { sched } = boot({ nrCpuIds: 1, choices: new ByteChoices(new Uint8Array(0)) });
  const l = new Spinlock(sched, "l");
  const order: string[] = [];
  sched.spawn("holder", function* () {
    l.lock();
    for (let i = 0; i < 3; i++) {
      order.push("h");
      yield;
    }
    l.unlock();
    yield;
    order.push("h-done");
  });
  sched.spawn("other", function* () {
    order.push("o");
    l.lock();
    l.unlock();
    yield;
  });
  sched.run();
  assert.equal(order, ["h", "h", "h", "o", "h-done"]);
});

test("sleeping while holding a spinlock logs the might_sleep BUG and scheduling while atomic", () => {
  const { sched, log } = boot();
  const l = new Spinlock(sched, "&q->queue_lock");
  sched.spawn("sleeper", function* () {
    l.lock();
    yield sleep(1000);
    l.unlock();
  });
  assert.is(sched.run().kind, "done");
  const lines = text(log);
  assert.ok(lines.includes("BUG: sleeping function called from invalid context at kernel/time/timer.c"));
  assert.ok(lines.includes("in_atomic(): 1, irqs_disabled(): 0, pid: 1, name: sleeper"));
  assert.ok(lines.includes("BUG: scheduling while atomic: sleeper/1/0x00000001"));
  assert.ok(lines.includes(" #0:  (&q->queue_lock)"));
});

test("taking a spinlock twice is a spinlock recursion BUG", () => {
  const { sched, log } = boot();
  const l = new Spinlock(sched, "l");
  sched.spawn("twice", function* () {
    l.lock();
    l.lock();
    yield;
  });
  assert.throws(() => sched.run(), (e: unknown) => e instanceof KernelBug);
  const lines = text(log);
  assert.ok(lines.some((l) => /^BUG: spinlock recursion on CPU#\d+, twice\/1$/.test(l)));
  assert.ok(lines.includes("WARNING: possible recursive locking detected"));
  assert.ok(lines.some((l) => l.startsWith("kernel BUG at kernel/locking/spinlock_debug.c")));
});

test("contending a spinlock whose holder slept is a lockup BUG", () => {
  const { sched, log } = boot({ nrCpuIds: 2, seed: 4 });
  const l = new Spinlock(sched, "l");
  sched.spawn("holder", function* () {
    l.lock();
    yield sleep(1000);
    l.unlock();
  }, { cpu: 0, bound: true });
  sched.spawn("victim", function* () {
    yield sleep(10);
    l.lock();
  }, { cpu: 1, bound: true });
  assert.throws(() => sched.run(), (e: unknown) => e instanceof KernelBug);
  assert.ok(text(log).includes("BUG: spinlock lockup suspected on CPU#1, victim/2"));
});

test("spin_unlock() of a lock not held is reported and changes nothing", () => {
  const { sched, log } = boot();
  const l = new Spinlock(sched, "l");
  const holder = sched.spawn("holder", function* () {
    l.lock();
    yield sleep(100);
  });
  sched.spawn("stranger", function* (me) {
    yield sleep(10);
    l.unlock();
    assert.is(me.preemptCount, 0);
  });
  sched.run();
  assert.ok(text(log).some((line) => /^BUG: spinlock wrong owner on CPU#\d+, stranger\/2$/.test(line)));
  assert.is(l.owner, holder);
});

test("a spinlock taken in interrupt context is owned by the CPU's idle task", () => {
  const { sched, timers, log } = boot();
  const l = new Spinlock(sched, "irq-lock");
  const seen: string[] = [];
  timers.hrtimerStart(new Timer(() => {
    const f = l.lockIrqsave();
    seen.push(`${l.owner?.comm}:${l.owner?.pid}:${sched.inInterrupt()}`);
    l.unlockIrqrestore(f);
  }), 5, 1);
  sched.run();
  assert.equal(seen, ["swapper/1:0:true"]);
  assert.ok(log.isClean());
});

test.run();
