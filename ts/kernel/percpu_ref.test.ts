// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import { KernelBug } from "../errors.ts";
import { Kernel } from "./kernel.ts";
import { PERCPU_REF_INIT_ATOMIC, PERCPU_REF_INIT_DEAD, PercpuRef } from "./percpu_ref.ts";
import { type Sleepable, WaitQueue } from "./sched.ts";

const GP = 1_000_000;

function setup(cpus = 4) {
  const k = new Kernel({ cpus, rcuGpNs: GP });
  const wq = new WaitQueue(k.sched, "&q->mq_freeze_wq");
  let released = 0;
  const mk = (flags = 0) =>
    new PercpuRef({ sched: k.sched, rcu: k.rcu, kmemleak: k.kmemleak }, () => {
      released++;
      wq.wakeUpAll();
    }, flags, { name: "blk_queue_usage_counter_release" });
  return { k, wq, mk, released: () => released };
}

/** Runs `body` as a task to completion and returns its result. */
function inTask<T>(k: Kernel, body: () => Sleepable<T>): T {
  let out: T | undefined;
  k.sched.spawn("test", function* () {
    out = yield* body();
  });
  k.run();
  return out as T;
}

test("an atomic ref counts in the shared count and release runs at zero after kill()", () => {
  const { k, mk, released } = setup();
  const ref = mk(PERCPU_REF_INIT_ATOMIC);
  assert.is(ref.mode, "atomic");
  assert.ok(ref.forceAtomic);
  ref.get();
  assert.is(ref.count, 2);
  ref.kill();
  assert.ok(ref.dead);
  assert.is(released(), 0);
  assert.not.ok(ref.trygetLive(), "tryget_live fails once dead");
  assert.ok(ref.tryget(), "tryget still succeeds while references remain");
  ref.put();
  ref.put();
  assert.is(released(), 1);
  assert.ok(ref.isZero());
  assert.is(k.rcu.pending, 0, "killing an atomic ref queues no RCU callback");
  assert.equal(ref.invariantViolations(), []);
  ref.exit();
  k.run();
  assert.is(k.clock.now(), 0, "no virtual time passed");
  k.assertClean();
});

test("a percpu ref counts per CPU; kill() folds the counters after one grace period", () => {
  const { k, mk, released } = setup();
  const ref = mk();
  assert.is(ref.mode, "percpu");
  assert.ok(ref.biased);
  k.cpus.current = 1;
  ref.get();
  ref.get();
  k.cpus.current = 3;
  ref.put(); // a put on another CPU: counters may go negative, the sum is what counts
  assert.equal(ref.percpuCounts, [0, 2, 0, -1]);
  assert.is(ref.value(), 2);
  assert.not.ok(ref.isZero(), "is_zero is false in percpu mode");
  k.cpus.current = 0;
  ref.kill();
  assert.is(ref.mode, "atomic");
  assert.ok(ref.switching);
  assert.not.ok(ref.isZero());
  assert.is(ref.value(), 2, "the kill's put is offset by the switch's extra reference");
  k.run();
  assert.is(k.clock.now(), GP, "one grace period");
  assert.not.ok(ref.switching);
  assert.not.ok(ref.biased);
  assert.is(ref.count, 1);
  assert.is(released(), 0);
  ref.put();
  assert.is(released(), 1);
  assert.ok(ref.isZero());
  ref.exit();
  k.assertClean();
});

test("kill() of a percpu ref with no holders releases at the end of the grace period", () => {
  const { k, wq, mk, released } = setup();
  const ref = mk();
  let when = -1;
  inTask(k, function* () {
    ref.kill();
    yield* wq.waitEvent(() => ref.isZero());
    when = k.clock.now();
  });
  assert.is(released(), 1);
  assert.is(when, GP);
  ref.exit();
  k.assertClean();
});

test("switchToAtomic() costs one grace period and confirms; switchToPercpu() costs none", () => {
  const { k, mk } = setup();
  const ref = mk();
  let confirmed = -1;
  inTask(k, function* () {
    yield* ref.switchToAtomic(() => {
      confirmed = k.clock.now();
    });
    assert.is(ref.mode, "atomic");
    assert.ok(ref.forceAtomic);
  });
  assert.is(confirmed, GP);
  assert.is(ref.count, 1);
  const t0 = k.clock.now();
  inTask(k, function* () {
    yield* ref.switchToPercpu();
  });
  assert.is(ref.mode, "percpu");
  assert.not.ok(ref.forceAtomic);
  assert.is(k.clock.now(), t0, "no grace period to go back to percpu");
  assert.is(ref.value(), 1);
  ref.exit();
  k.assertClean();
});

test("switchToPercpu() waits for a switch in progress", () => {
  const { k, mk } = setup();
  const ref = mk();
  let done = -1;
  k.sched.spawn("switcher", function* () {
    yield* ref.switchToAtomic();
    yield* ref.switchToPercpu();
    done = k.clock.now();
  });
  k.run();
  assert.is(done, GP);
  assert.is(ref.mode, "percpu");
  ref.exit();
  k.assertClean();
});

test("switchToPercpu() of a dead ref only clears force_atomic; reinit() then goes percpu", () => {
  const { k, mk } = setup();
  const ref = mk(PERCPU_REF_INIT_ATOMIC);
  ref.kill();
  inTask(k, function* () {
    yield* ref.switchToPercpu();
    assert.is(ref.mode, "atomic");
    assert.not.ok(ref.forceAtomic);
    yield* ref.reinit();
  });
  assert.is(ref.mode, "percpu");
  assert.not.ok(ref.dead);
  assert.is(ref.value(), 1);
  ref.exit();
  k.assertClean();
});

test("reinit() of a zero ref takes one reference and keeps force_atomic refs atomic", () => {
  const { k, mk, released } = setup();
  const ref = mk(PERCPU_REF_INIT_ATOMIC);
  ref.kill();
  assert.is(released(), 1);
  inTask(k, function* () {
    yield* ref.reinit();
  });
  assert.is(ref.mode, "atomic");
  assert.ok(ref.trygetLive());
  ref.put();
  assert.is(ref.count, 1);
  assert.equal(ref.invariantViolations(), []);
  ref.exit();
  k.assertClean();
});

test("reinit() of a ref that is not zero WARNs once", () => {
  const { k, mk } = setup();
  const ref = mk(PERCPU_REF_INIT_ATOMIC);
  inTask(k, function* () {
    yield* ref.reinit();
  });
  assert.ok(k.log.lines().some((l) => l.includes("percpu_ref_reinit")));
  assert.not.ok(k.log.isClean());
  ref.exit();
});

test("killing twice WARNs with the kernel's message", () => {
  const { k, mk } = setup();
  const ref = mk(PERCPU_REF_INIT_ATOMIC);
  ref.get();
  ref.kill();
  ref.kill();
  assert.ok(k.log.lines().some((l) => l.endsWith("percpu_ref_kill_and_confirm called more than once on blk_queue_usage_counter_release!")));
  ref.exit();
});

test("killAndConfirm() of an atomic ref confirms after a grace period", () => {
  const { k, mk, released } = setup();
  const ref = mk(PERCPU_REF_INIT_ATOMIC);
  let confirmed = -1;
  inTask(k, function* () {
    yield* ref.killAndConfirm(() => {
      confirmed = k.clock.now();
    });
    assert.not.ok(ref.isZero(), "the confirmation holds a reference");
  });
  assert.is(confirmed, GP);
  assert.is(released(), 1);
  ref.exit();
  k.assertClean();
});

test("PERCPU_REF_INIT_DEAD starts dead with no reference", () => {
  const { k, mk } = setup();
  const ref = mk(PERCPU_REF_INIT_DEAD);
  assert.ok(ref.dead);
  assert.ok(ref.isZero());
  assert.not.ok(ref.tryget());
  assert.not.ok(ref.forceAtomic, "INIT_DEAD alone does not force atomic");
  inTask(k, function* () {
    yield* ref.reinit();
  });
  assert.is(ref.mode, "percpu");
  assert.is(ref.value(), 1);
  ref.exit();
  k.assertClean();
});

test("invariantViolations() reports a put too many", () => {
  const { mk } = setup();
  const ref = mk(PERCPU_REF_INIT_ATOMIC);
  ref.put();
  ref.put();
  assert.ok(ref.invariantViolations().some((v) => v.includes("negative")));
  assert.throws(() => ref.assertInvariants(), (e: unknown) => e instanceof KernelBug);
  ref.exit();
});

test("exit() frees the per-CPU counters: an exited ref leaks nothing, a forgotten one is a leak", () => {
  const { k, mk } = setup();
  const ref = mk();
  assert.is(k.liveObjects(), 1);
  ref.exit();
  ref.exit();
  assert.ok(ref.exited);
  assert.is(ref.mode, "atomic");
  k.assertClean();
  mk();
  assert.throws(() => k.assertClean(), /percpu_ref_init/);
});

test("killing N atomic refs costs no time; killing and draining N percpu refs one by one costs N grace periods", () => {
  for (const flags of [PERCPU_REF_INIT_ATOMIC, 0]) {
    const { k, wq, mk } = setup();
    const n = 8;
    const refs = Array.from({ length: n }, () => mk(flags));
    let took = -1;
    inTask(k, function* () {
      const t0 = k.clock.now();
      for (const r of refs) {
        r.kill();
        yield* wq.waitEvent(() => r.isZero());
      }
      took = k.clock.now() - t0;
    });
    assert.is(took, flags === 0 ? n * GP : 0);
    for (const r of refs) r.exit();
    k.assertClean();
  }
});

test("constructor rejects misuse with typed errors", () => {
  const { k } = setup();
  const ctx = { sched: k.sched, rcu: k.rcu };
  assert.throws(() => new PercpuRef(ctx, null as never), (e: unknown) => e instanceof TypeError);
  assert.throws(() => new PercpuRef(ctx, () => {}, 4), (e: unknown) => e instanceof RangeError);
  assert.throws(() => new PercpuRef({} as never, () => {}), (e: unknown) => e instanceof TypeError);
});

test.run();
