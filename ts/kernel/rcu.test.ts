// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import { boot, text } from "./_testkit.ts";
import { DEFAULT_GP_NS, Rcu } from "./rcu.ts";
import { sleep } from "./sched.ts";

test("synchronize_rcu() costs exactly the configured grace period of virtual time", () => {
  const { sched, rcu, clock } = boot({ gpNs: 3_000_000 });
  let took = -1;
  sched.spawn("killer", function* () {
    yield sleep(500);
    const t0 = clock.now();
    yield* rcu.synchronizeRcu();
    took = clock.now() - t0;
  });
  assert.is(sched.run().kind, "done");
  assert.is(took, 3_000_000);
  assert.is(rcu.completed, 1);
});

test("the default grace period is 1 ms", () => {
  const { rcu } = boot();
  assert.is(rcu.gpNs, DEFAULT_GP_NS);
  assert.is(DEFAULT_GP_NS, 1_000_000);
});

test("call_rcu() callbacks run after the grace period, in order, on the queuing CPU in softirq context", () => {
  const { sched, rcu, clock, cpus } = boot({ nrCpuIds: 4 });
  const seen: string[] = [];
  sched.spawn("q", function* () {
    rcu.callRcu(() => seen.push(`a@${clock.now()}:${cpus.current}:${sched.inInterrupt()}`));
    rcu.callRcuSched(() => seen.push(`b@${clock.now()}:${cpus.current}`));
    yield;
  }, { cpu: 2, bound: true });
  sched.run();
  assert.equal(seen, ["a@1000000:2:true", "b@1000000:2"]);
});

test("callbacks queued during a grace period wait for the next; those queued at its start share it", () => {
  const { sched, rcu, clock } = boot();
  const at: Record<string, number> = {};
  sched.spawn("q", function* () {
    rcu.callRcu(() => (at.first = clock.now()));
    rcu.callRcu(() => (at.sameInstant = clock.now()));
    yield sleep(10);
    rcu.callRcu(() => (at.later = clock.now()));
  });
  sched.run();
  assert.equal(at, { first: 1_000_000, sameInstant: 1_000_000, later: 2_000_000 });
  assert.is(rcu.completed, 2);
  assert.is(rcu.gpInProgress, false);
});

test("concurrent synchronize_rcu() callers starting together overlap in one grace period", () => {
  const { sched, rcu, clock } = boot({ nrCpuIds: 4 });
  const done: number[] = [];
  for (let i = 0; i < 4; i++) {
    sched.spawn(`freeze${i}`, function* () {
      yield* rcu.synchronizeRcu();
      done.push(clock.now());
    });
  }
  sched.run();
  assert.equal(done, [1e6, 1e6, 1e6, 1e6]);
  assert.is(rcu.completed, 1);
});

test("rcu_barrier() waits until every queued callback has run", () => {
  const { sched, rcu, clock } = boot();
  let ran = 0;
  let after = -1;
  sched.spawn("b", function* () {
    rcu.callRcu(() => ran++);
    yield sleep(5);
    rcu.callRcu(() => ran++);
    yield* rcu.rcuBarrier();
    after = ran;
  });
  sched.run();
  assert.is(after, 2);
  assert.is(clock.now(), 2_000_000);
  assert.is(rcu.pending, 0);
});

test("synchronize_rcu() returns at once with one CPU online", () => {
  const { sched, rcu, clock } = boot({ nrCpuIds: 2, online: 1 });
  sched.spawn("s", function* () {
    yield* rcu.synchronizeRcu();
  });
  sched.run();
  assert.is(clock.now(), 0);
});

test("synchronize_rcu_expedited() costs the expedited time", () => {
  const { sched, clock } = boot();
  const rcu = new Rcu({ sched, expeditedNs: 50_000 });
  sched.spawn("e", function* () {
    yield* rcu.synchronizeRcuExpedited();
  });
  sched.run();
  assert.is(clock.now(), 50_000);
});

test("synchronize_rcu() inside rcu_read_lock() is suspicious RCU usage and sleeping while atomic", () => {
  const { sched, rcu, log } = boot();
  sched.spawn("reader", function* () {
    rcu.rcuReadLock();
    assert.ok(rcu.rcuReadLockHeld());
    yield* rcu.synchronizeRcu();
    rcu.rcuReadUnlock();
  });
  sched.run();
  const lines = text(log);
  assert.ok(lines.includes("[ INFO: suspicious RCU usage. ]"));
  assert.ok(lines.includes("kernel/rcu/tree.c Illegal synchronize_rcu() in RCU read-side critical section"));
  assert.ok(lines.includes("BUG: sleeping function called from invalid context at kernel/rcu/tree.c"));
});

test("an unbalanced rcu_read_unlock() warns and changes nothing", () => {
  const { sched, rcu, log } = boot();
  sched.spawn("r", function* (me) {
    rcu.rcuReadUnlock();
    assert.is(me.rcuReadDepth, 0);
    assert.is(me.preemptCount, 0);
    yield;
  });
  sched.run();
  assert.ok(text(log).includes("rcu_read_unlock() without rcu_read_lock()"));
});

test("Rcu rejects bad costs and callbacks", () => {
  const { sched, rcu } = boot();
  assert.throws(() => new Rcu({ sched, gpNs: -1 }), (e: unknown) => e instanceof RangeError);
  assert.throws(() => new Rcu({ sched, gpNs: 1.5 }), (e: unknown) => e instanceof RangeError);
  assert.throws(() => rcu.callRcu(1 as never), (e: unknown) => e instanceof TypeError);
});

test.run();
