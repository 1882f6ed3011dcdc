// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import { boot, text } from "./_testkit.ts";
import { LockClass } from "./lockdep.ts";
import { Mutex } from "./mutex.ts";
import { ByteChoices, sleep } from "./sched.ts";
import { Spinlock } from "./spinlock.ts";

test("mutex_lock() takes a free mutex and records the owner; unlock() frees it", () => {
  const { sched, lockdep, log } = boot();
  const m = new Mutex(sched, "&q->sysfs_lock");
  let ownerSeen: unknown;
  const t = sched.spawn("t", function* (me) {
    yield* m.lock();
    ownerSeen = m.owner === me;
    assert.equal(lockdep.held(me).map((c) => c.name), ["&q->sysfs_lock"]);
    m.unlock();
  });
  assert.is(sched.run().kind, "done");
  assert.is(ownerSeen, true);
  assert.is(m.isLocked(), false);
  assert.equal(lockdep.held(t), []);
  assert.ok(log.isClean());
});

test("mutexes initialized with one name share the lock class", () => {
  const { sched } = boot();
  const a = new Mutex(sched, "&q->sysfs_lock");
  const b = new Mutex(sched, "&q->sysfs_lock");
  const cls = new LockClass("explicit");
  assert.is(a.cls, b.cls);
  assert.is(new Mutex(sched, cls).cls, cls);
});

test("a contended mutex_lock() sleeps in D state until the holder unlocks", () => {
  const { sched, clock } = boot({ nrCpuIds: 1, choices: new ByteChoices(new Uint8Array(0)) });
  const m = new Mutex(sched, "m");
  const got: [string, number][] = [];
  sched.spawn("holder", function* () {
    yield* m.lock();
    yield sleep(500);
    m.unlock();
  });
  const waiter = sched.spawn("waiter", function* () {
    yield* m.lock();
    got.push(["waiter", clock.now()]);
    m.unlock();
  });
  sched.run({ maxSteps: 2 });
  assert.is(waiter.stateChar(), "D");
  assert.is(waiter.waitPoint, "mutex_lock(m)");
  assert.equal(m.waiters, [waiter]);
  sched.run();
  assert.equal(got, [["waiter", 500]]);
  assert.equal(m.waiters, []);
});

test("mutex_trylock() fails on a held mutex and succeeds on a free one", () => {
  const { sched } = boot();
  const m = new Mutex(sched, "m");
  const r: boolean[] = [];
  sched.spawn("a", function* () {
    r.push(m.trylock());
    r.push(m.trylock());
    m.unlock();
    r.push(m.trylock());
    m.unlock();
    yield;
  });
  sched.run();
  assert.equal(r, [true, false, true]);
});

test("as in v4.4, a task arriving after unlock may take the mutex before the woken waiter", () => {
  const { sched } = boot({ nrCpuIds: 1, choices: new ByteChoices(new Uint8Array(0)) });
  const m = new Mutex(sched, "m");
  const order: string[] = [];
  sched.spawn("holder", function* () {
    yield* m.lock();
    yield; // the waiter queues
    m.unlock(); // wakes the waiter, which goes to the run-queue tail
    yield* m.lock(); // and the holder takes it again first
    order.push("holder again");
    m.unlock();
  });
  sched.spawn("waiter", function* () {
    yield* m.lock();
    order.push("waiter");
    m.unlock();
  });
  sched.run();
  assert.equal(order, ["holder again", "waiter"]);
});

test("unlocking a mutex the task does not hold WARNs and changes nothing", () => {
  const { sched, log } = boot();
  const m = new Mutex(sched, "m");
  const holder = sched.spawn("holder", function* () {
    yield* m.lock();
    yield sleep(100);
    m.unlock();
  });
  sched.spawn("intruder", function* () {
    yield sleep(10);
    m.unlock();
    assert.is(m.owner, holder);
  });
  assert.is(sched.run().kind, "done");
  const lines = text(log);
  const i = lines.indexOf("DEBUG_LOCKS_WARN_ON(lock->owner != current)");
  assert.ok(i > 0);
  assert.match(lines[i - 1], /^WARNING: CPU: \d+ PID: 2 at kernel\/locking\/mutex-debug\.c:80 debug_mutex_unlock\(\)$/);
  assert.is(m.isLocked(), false); // the holder's own unlock worked
});

test("unlocking a free mutex WARNs once (debug_locks goes off) and leaves it free", () => {
  const { sched, log } = boot();
  const m = new Mutex(sched, "m");
  sched.spawn("t", function* () {
    m.unlock();
    m.unlock();
    yield;
  });
  sched.run();
  assert.is(text(log).filter((l) => l === "DEBUG_LOCKS_WARN_ON(lock->owner != current)").length, 1);
  assert.is(m.owner, null);
});

test("ABBA lock order across two tasks is reported by lockdep although the run does not deadlock", () => {
  const { sched, log } = boot();
  const a = new Mutex(sched, "&a->lock");
  const b = new Mutex(sched, "&b->lock");
  sched.spawn("first", function* () {
    yield* a.lock("first_fn");
    yield* b.lock("first_fn");
    b.unlock();
    a.unlock();
  });
  sched.spawn("second", function* () {
    yield sleep(1000); // strictly after: no deadlock possible
    yield* b.lock("second_fn");
    yield* a.lock("second_fn");
    a.unlock();
    b.unlock();
  });
  assert.is(sched.run().kind, "done");
  const lines = text(log);
  assert.ok(lines.includes("WARNING: possible circular locking dependency detected"));
  assert.ok(lines.includes("second/2 is trying to acquire lock:"));
  assert.ok(!lines.some((l) => l.startsWith("INFO: task")));
});

test("mutex_lock() with a spinlock held is a sleeping-function-in-atomic BUG", () => {
  const { sched, log } = boot();
  const s = new Spinlock(sched, "&ctx->lock");
  const m = new Mutex(sched, "m");
  sched.spawn("bad", function* () {
    s.lock();
    yield* m.lock();
    m.unlock();
    s.unlock();
  });
  sched.run();
  const lines = text(log);
  assert.ok(lines.includes("BUG: sleeping function called from invalid context at kernel/locking/mutex.c:616"));
  assert.ok(lines.some((l) => /^in_atomic\(\): 1, irqs_disabled\(\): 0, pid: 1, name: bad$/.test(l)));
});

test("a task exiting with a mutex held is reported by lockdep", () => {
  const { sched, log } = boot();
  const m = new Mutex(sched, "m");
  sched.spawn("leaker", function* () {
    yield* m.lock();
  });
  sched.run();
  assert.ok(text(log).includes("WARNING: leaker/1 still has locks held!"));
});

test("mutex_destroy() of a locked mutex warns", () => {
  const { sched, log } = boot();
  const m = new Mutex(sched, "m");
  assert.ok(m.trylock());
  m.destroy();
  assert.ok(text(log).includes("DEBUG_LOCKS_WARN_ON(mutex_is_locked(lock))"));
});

test.run();
