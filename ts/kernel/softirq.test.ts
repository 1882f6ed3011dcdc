// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import { KernelError } from "../errors.ts";
import { boot, text } from "./_testkit.ts";
import { CPU_DOWN_PREPARE, CpuHotplug } from "./cpu.ts";
import { ByteChoices, sleep } from "./sched.ts";
import { BLOCK_SOFTIRQ, CallSingleData, HI_SOFTIRQ, MAX_SOFTIRQ_RESTART, TIMER_SOFTIRQ } from "./softirq.ts";

test("raise_softirq() runs the action later, in softirq context on the raising CPU", () => {
  const { sched, softirq, cpus } = boot({ nrCpuIds: 4 });
  const seen: string[] = [];
  softirq.openSoftirq(BLOCK_SOFTIRQ, () => seen.push(`${cpus.current}:${sched.current.comm}:${sched.inInterrupt()}`));
  sched.spawn("raiser", function* () {
    softirq.raiseSoftirq(BLOCK_SOFTIRQ);
    assert.is(softirq.pendingSoftirqs(2), 1 << BLOCK_SOFTIRQ);
    yield;
  }, { cpu: 2, bound: true });
  sched.run();
  assert.equal(seen, ["2:swapper/2:true"]);
  assert.is(softirq.nrPending, 0);
  assert.is(softirq.raised, 1);
});

test("pending softirqs run in number order within one delivery", () => {
  const { sched, softirq } = boot();
  const seen: number[] = [];
  for (const nr of [HI_SOFTIRQ, TIMER_SOFTIRQ, BLOCK_SOFTIRQ]) softirq.openSoftirq(nr, () => seen.push(nr));
  softirq.raiseSoftirq(BLOCK_SOFTIRQ);
  softirq.raiseSoftirq(HI_SOFTIRQ);
  softirq.raiseSoftirq(TIMER_SOFTIRQ);
  sched.run();
  assert.equal(seen, [0, 1, 4]);
});

test("smp_call_function_single_async() runs the callback on the target CPU in hardirq context", () => {
  const { sched, softirq, cpus } = boot({ nrCpuIds: 4 });
  const seen: string[] = [];
  const csd = new CallSingleData((info: string) => seen.push(`${info}@${cpus.current}:${sched.inInterrupt()}`), "rq1");
  sched.spawn("completer", function* () {
    softirq.smpCallFunctionSingleAsync(3, csd);
    assert.is(csd.flags, 1);
    assert.is(softirq.pendingIpis(3), 1);
    yield;
  }, { cpu: 0, bound: true });
  sched.run();
  assert.equal(seen, ["rq1@3:true"]);
  assert.is(csd.flags, 0);
});

test("an IPI to the current CPU runs at once", () => {
  const { softirq, cpus } = boot();
  let ran = -1;
  cpus.current = 1;
  softirq.smpCallFunctionSingleAsync(1, new CallSingleData(() => (ran = cpus.current), null));
  assert.is(ran, 1);
  assert.is(softirq.nrPending, 0);
});

test("an IPI to an offline CPU is ENXIO", () => {
  const { softirq } = boot({ nrCpuIds: 4, online: 2 });
  assert.throws(
    () => softirq.smpCallFunctionSingleAsync(3, new CallSingleData(() => {}, null)),
    (e: unknown) => e instanceof KernelError && e.code === "ENXIO" && e.op === "smp_call_function_single_async",
  );
  assert.throws(() => softirq.smpCallFunctionSingle(9, () => {}, null, true), (e: unknown) => e instanceof RangeError);
});

test("resending a csd still in flight warns once and delivers the first send before", () => {
  const { sched, softirq, log } = boot({ nrCpuIds: 2 });
  const runs: number[] = [];
  let n = 0;
  const csd = new CallSingleData(() => runs.push(++n), null);
  softirq.smpCallFunctionSingleAsync(1, csd);
  softirq.smpCallFunctionSingleAsync(1, csd);
  assert.equal(runs, [1]);
  sched.run();
  assert.equal(runs, [1, 2]);
  assert.ok(text(log).some((l) => l.includes("at kernel/smp.c:smp_call_function_single_async")));
});

test("choice 0 delivers interrupts before runnable tasks; other choices let tasks go first", () => {
  const order = (bytes: number[]) => {
    const { sched, softirq } = boot({ nrCpuIds: 2, migrate: false, choices: new ByteChoices(new Uint8Array(bytes)) });
    const seen: string[] = [];
    softirq.openSoftirq(BLOCK_SOFTIRQ, () => seen.push("irq"));
    sched.spawn("task", function* () {
      seen.push("task");
      yield;
    }, { cpu: 1 });
    softirq.raiseSoftirq(BLOCK_SOFTIRQ);
    sched.run();
    return seen;
  };
  assert.equal(order([]), ["irq", "task"]);
  assert.equal(order([1]), ["task", "irq"]);
});

test("a softirq raised again by its handler runs in the same delivery and leaves nothing pending", () => {
  const { sched, softirq } = boot({ nrCpuIds: 1 });
  let runs = 0;
  softirq.openSoftirq(TIMER_SOFTIRQ, () => {
    if (++runs === 1) softirq.raiseSoftirq(TIMER_SOFTIRQ);
  });
  softirq.raiseSoftirq(TIMER_SOFTIRQ);
  const r = sched.run();
  assert.is(r.kind, "done");
  assert.is(r.steps, 1);
  assert.is(runs, 2);
  assert.is(softirq.nrPending, 0);
});

test("a softirq that keeps raising itself stops after MAX_SOFTIRQ_RESTART rounds per delivery", () => {
  const { sched, softirq } = boot({ nrCpuIds: 1 });
  let runs = 0;
  softirq.openSoftirq(HI_SOFTIRQ, () => {
    runs++;
    softirq.raiseSoftirq(HI_SOFTIRQ);
  });
  softirq.raiseSoftirq(HI_SOFTIRQ);
  assert.is(sched.run({ maxSteps: 1 }).kind, "limit");
  assert.is(runs, MAX_SOFTIRQ_RESTART);
  assert.is(softirq.nrPending, 1);
});

test("pending IPIs of a CPU going offline run on it at CPU_DYING", () => {
  const { sched, softirq, cpus } = boot({ nrCpuIds: 4 });
  const hotplug = new CpuHotplug({ sched }); // no RCU: nothing sleeps between DOWN_PREPARE and DYING
  const seen: string[] = [];
  cpus.hotcpuNotifier((action, cpu) => {
    if (action !== CPU_DOWN_PREPARE) return;
    softirq.smpCallFunctionSingleAsync(cpu, new CallSingleData(() => seen.push(`${cpus.current}:${cpus.cpuOnline(3)}`), null));
  });
  sched.spawn("hotplug", function* () {
    yield* hotplug.cpuDown(3);
  }, { cpu: 0, bound: true });
  sched.run();
  assert.equal(seen, ["3:false"]); // run by the dying CPU itself, after it left the online mask
  assert.is(softirq.nrPending, 0);
});

test("open_softirq() and raise_softirq() reject bad numbers", () => {
  const { softirq } = boot();
  assert.throws(() => softirq.openSoftirq(10, () => {}), (e: unknown) => e instanceof RangeError);
  assert.throws(() => softirq.raiseSoftirq(-1), (e: unknown) => e instanceof RangeError);
  assert.throws(() => softirq.openSoftirq(1, 5 as never), (e: unknown) => e instanceof TypeError);
  assert.throws(() => new CallSingleData(null as never, 1), (e: unknown) => e instanceof TypeError);
});

test("a delivery can be interleaved between sleeps of a task on another CPU", () => {
  const { sched, softirq, clock } = boot({ nrCpuIds: 2 });
  const seen: number[] = [];
  softirq.openSoftirq(BLOCK_SOFTIRQ, () => seen.push(clock.now()));
  sched.spawn("io", function* () {
    yield sleep(100);
    softirq.raiseSoftirq(BLOCK_SOFTIRQ);
    yield sleep(100);
  });
  sched.run();
  assert.equal(seen, [100]);
});

test.run();
