// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import { KernelBug, KernelError } from "../errors.ts";
import { CORE_VARIANTS } from "../wasm/core.ts";
import { Kernel } from "./kernel.ts";
import {
  __PERCPU_REF_ATOMIC,
  __PERCPU_REF_DEAD,
  PERCPU_REF,
  PERCPU_REF_BIASED,
  PERCPU_REF_INIT_ATOMIC,
  PERCPU_REF_INIT_DEAD,
  PercpuRef,
  percpuRefSize,
} from "./percpu_ref.ts";
import { FAILSLAB } from "./slab.ts";
import { type Sleepable, WaitQueue } from "./sched.ts";

const GP = 1_000_000;

function setup(cpus = 4) {
  const k = new Kernel({ cpus, rcuGpNs: GP });
  const wq = new WaitQueue(k.sched, "&q->mq_freeze_wq");
  let released = 0;
  const mk = (flags = 0) =>
    new PercpuRef({ sched: k.sched, rcu: k.rcu, slab: k.slab, kmemleak: k.kmemleak }, () => {
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
  const ctx = { sched: k.sched, rcu: k.rcu, slab: k.slab };
  assert.throws(() => new PercpuRef(ctx, null as never), (e: unknown) => e instanceof TypeError);
  assert.throws(() => new PercpuRef(ctx, () => {}, 4), (e: unknown) => e instanceof RangeError);
  assert.throws(() => new PercpuRef({} as never, () => {}), (e: unknown) => e instanceof TypeError);
});

const BIAS = 1n << 63n;

/** The record as the core holds it: the raw 64-bit count (bias included), the mode word, the per-CPU counters. */
function record(k: Kernel, ref: PercpuRef, cpus: number) {
  const dv = k.dv;
  return {
    count: dv.getBigInt64(ref.addr + PERCPU_REF.COUNT, true),
    flags: dv.getUint32(ref.addr + PERCPU_REF.FLAGS, true),
    nrCpuIds: dv.getUint32(ref.addr + PERCPU_REF.NR_CPU_IDS, true),
    percpu: Array.from({ length: cpus }, (_, c) => Number(dv.getBigInt64(ref.addr + PERCPU_REF.PERCPU_COUNT + 8 * c, true))),
  };
}

test("percpuRefSize() and PERCPU_REF agree with asm/percpu_ref.ts in every core variant", () => {
  for (const variant of CORE_VARIANTS) {
    const k = new Kernel({ cpus: 1, variant });
    for (const n of [1, 2, 4, 1022, 1023, 4096]) assert.is(k.core.percpu_ref_struct_size(n), percpuRefSize(n), `${variant} n=${n}`);
    assert.is(k.core.percpu_ref_struct_size(0), -22, variant);
    assert.is(k.core.percpu_ref_struct_size(4097), -22, variant);
    k.assertClean();
  }
});

test("the record holds the kernel's count (PERCPU_COUNT_BIAS while biased), the mode bits and one counter per CPU", () => {
  const { k, mk } = setup(3);
  const p = mk();
  const a = mk(PERCPU_REF_INIT_ATOMIC);
  const d = mk(PERCPU_REF_INIT_DEAD);
  assert.equal(record(k, p, 3), { count: BigInt.asIntN(64, BIAS + 1n), flags: PERCPU_REF_BIASED, nrCpuIds: 3, percpu: [0, 0, 0] });
  assert.equal(record(k, a, 3), { count: 1n, flags: __PERCPU_REF_ATOMIC, nrCpuIds: 3, percpu: [0, 0, 0] });
  assert.equal(record(k, d, 3), { count: 0n, flags: __PERCPU_REF_ATOMIC | __PERCPU_REF_DEAD, nrCpuIds: 3, percpu: [0, 0, 0] });
  assert.ok(p.addr !== a.addr && a.addr !== d.addr && p.addr > 0);
  assert.is(k.core.percpu_ref_init(p.addr, 3, 4), -22, "unknown init flags");
  for (const r of [p, a, d]) r.exit();
  k.assertClean();
});

test("get/put on several CPUs, kill, the switch to atomic and the last put: the record and the getters agree and release runs once", () => {
  const { k, mk, released } = setup(4);
  const ref = mk();
  const addr = ref.addr;
  const gets = [3, 0, 2, 1];
  const puts = [1, 0, 0, 3];
  gets.forEach((n, cpu) => {
    k.cpus.current = cpu;
    for (let i = 0; i < n; i++) ref.get();
  });
  puts.forEach((n, cpu) => {
    k.cpus.current = cpu;
    for (let i = 0; i < n; i++) ref.put();
  });
  k.cpus.current = 2;
  assert.ok(ref.tryget());
  assert.ok(ref.trygetLive());
  const counts = [2, 0, 4, -2];
  assert.equal(ref.percpuCounts, counts);
  assert.equal(record(k, ref, 4).percpu, counts);
  assert.is(ref.count, 1);
  assert.is(ref.value(), 5, "the initial reference and four more");
  assert.is(released(), 0, "puts in percpu mode never release");

  k.cpus.current = 1;
  ref.kill();
  assert.is(ref.mode, "atomic");
  assert.ok(ref.dead && ref.biased && ref.switching);
  assert.is(record(k, ref, 4).flags, __PERCPU_REF_ATOMIC | __PERCPU_REF_DEAD | PERCPU_REF_BIASED);
  assert.is(record(k, ref, 4).count, BigInt.asIntN(64, BIAS + 1n), "+1 for the switch, -1 for the kill");
  assert.not.ok(ref.trygetLive(), "dead: no new live references");
  k.run();
  assert.is(k.clock.now(), GP, "one grace period folded the counters");
  assert.not.ok(ref.biased || ref.switching);
  assert.is(ref.count, 4);
  assert.equal(record(k, ref, 4), { count: 4n, flags: __PERCPU_REF_ATOMIC | __PERCPU_REF_DEAD, nrCpuIds: 4, percpu: counts });
  for (let i = 0; i < 3; i++) {
    k.cpus.current = i;
    ref.put();
  }
  assert.is(released(), 0);
  assert.not.ok(ref.isZero());
  ref.put();
  assert.is(released(), 1, "release ran once, at the put that reached zero");
  assert.is(ref.releases, 1);
  assert.ok(ref.isZero());
  assert.is(record(k, ref, 4).count, 0n);
  assert.equal(ref.invariantViolations(), []);
  k.run();
  assert.is(released(), 1);
  assert.is(ref.addr, addr, "the record stays where it was until exit()");
  ref.exit();
  assert.is(ref.addr, 0);
  assert.is(ref.count, 0, "the last count stays readable");
  k.assertClean();
});

test("after exit() the ref reads as dead with its last count; tryget_live fails and using the record is a BUG", () => {
  const { k, mk } = setup();
  const ref = mk(PERCPU_REF_INIT_ATOMIC);
  ref.get();
  ref.exit();
  assert.is(k.liveObjects(), 0, "the record is freed");
  assert.ok(ref.exited && ref.dead && ref.isDying());
  assert.is(ref.mode, "atomic");
  assert.is(ref.count, 2);
  assert.is(ref.value(), 2);
  assert.equal(ref.percpuCounts, []);
  assert.not.ok(ref.isZero());
  assert.not.ok(ref.trygetLive());
  const bug = (op: string) => (e: unknown) => e instanceof KernelBug && e.where === `lib/percpu-refcount.c:${op}`;
  assert.throws(() => ref.get(), bug("percpu_ref_get"));
  assert.throws(() => ref.put(), bug("percpu_ref_put"));
  assert.throws(() => ref.tryget(), bug("percpu_ref_tryget"));
  assert.ok(k.log.text().includes("percpu_ref blk_queue_usage_counter_release used after percpu_ref_exit()"));
  const dead = mk(PERCPU_REF_INIT_DEAD);
  dead.exit();
  assert.not.ok(dead.tryget(), "a zero count fails tryget without touching the record");
});

test("a ref on a machine of more than 1022 CPUs keeps its record in a page block that kmemleak tracks", () => {
  const { k, mk } = setup(1100);
  const ref = mk();
  assert.is(k.liveObjects(), 1);
  k.cpus.current = 1099;
  ref.get();
  assert.is(ref.percpuCounts[1099], 1);
  assert.is(ref.value(), 2);
  const recs = k.kmemleak.live().filter((r) => r.site === "percpu_ref_init");
  assert.is(recs.length, 1);
  assert.equal([recs[0].cache, recs[0].site, recs[0].size], ["pages-order2", "percpu_ref_init", 16384], "16 + 8 × 1100 = 8816 bytes: an order-2 block");
  ref.exit();
  k.assertClean();
});

test("percpu_ref_init() fails with ENOMEM when the record cannot be allocated, leaving nothing behind", () => {
  const { k, mk } = setup();
  k.slab.failNth(FAILSLAB, 1);
  assert.throws(() => mk(), (e: unknown) => e instanceof KernelError && e.code === "ENOMEM");
  assert.is(k.liveObjects(), 0);
  const ref = mk();
  ref.exit();
  k.assertClean();
});

test.run();
