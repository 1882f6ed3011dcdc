// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import { KernelError } from "../errors.ts";
import { boot, text } from "./_testkit.ts";
import { RealClock } from "./clock.ts";
import { CpuMask, Cpus } from "./cpu.ts";
import { Klog } from "./klog.ts";
import { Mutex } from "./mutex.ts";
import {
  ByteChoices,
  Completion,
  HungTaskError,
  PrngChoices,
  RecordingChoices,
  Scheduler,
  sleep,
  type TraceEvent,
  WaitQueue,
} from "./sched.ts";
import { Timer, TimerBase } from "./timer.ts";

/** Three tasks that yield, sleep and contend a mutex: a workload with many decisions. */
function workload(opts: Parameters<typeof boot>[0] = {}): readonly TraceEvent[] {
  const k = boot({ nrCpuIds: 4, trace: true, ...opts });
  const m = new Mutex(k.sched, "&m");
  for (const name of ["a", "b", "c"]) {
    k.sched.spawn(name, function* () {
      for (let i = 0; i < 4; i++) {
        yield;
        yield* m.lock();
        yield;
        m.unlock();
        if (i === 2) yield sleep(1000);
      }
    });
  }
  assert.is(k.sched.run().kind, "done");
  return k.sched.trace!;
}

test("spawn() runs generator tasks to completion and keeps their exit codes", () => {
  const { sched } = boot();
  const t = sched.spawn("worker", function* () {
    yield;
    return 7;
  });
  assert.is(t.pid, 1);
  assert.is(t.state, "runnable");
  const r = sched.run();
  assert.is(r.kind, "done");
  assert.is(t.state, "exited");
  assert.is(t.exitCode, 7);
  assert.equal(r.hung, []);
  assert.is(sched.tasks().length, 0);
});

test("the same seed gives an identical trace", () => {
  assert.equal(workload({ seed: 11 }), workload({ seed: 11 }));
});

test("different seeds give different interleavings (at least 2 of 10 differ)", () => {
  const base = JSON.stringify(workload({ seed: 0 }));
  let differ = 0;
  for (let seed = 1; seed <= 10; seed++) if (JSON.stringify(workload({ seed })) !== base) differ++;
  assert.ok(differ >= 2, `only ${differ} of 10 seeds differed`);
});

test("a recorded choice stream replays a seeded run's trace bit-exactly", () => {
  const rec = new RecordingChoices(new PrngChoices(99));
  const seeded = workload({ choices: rec });
  assert.ok(rec.count > 10);
  const replayed = workload({ choices: new ByteChoices(rec.bytes()) });
  assert.equal(replayed, seeded);
  assert.equal(seeded, workload({ seed: 99 }));
});

test("an exhausted byte stream schedules round-robin, so spinning tasks still progress", () => {
  const { sched } = boot({ nrCpuIds: 1, choices: new ByteChoices(new Uint8Array(0)) });
  let flag = false;
  const order: string[] = [];
  sched.spawn("spinner", function* () {
    while (!flag) {
      order.push("s");
      yield;
    }
  });
  sched.spawn("setter", function* () {
    order.push("x");
    yield;
    flag = true;
  });
  assert.is(sched.run().kind, "done");
  assert.equal(order, ["s", "x", "s"]);
});

test("sleep(ns) blocks for exactly that much virtual time and then the task runs on", () => {
  const { sched, clock } = boot();
  const seen: number[] = [];
  sched.spawn("sleeper", function* () {
    yield sleep(2500);
    seen.push(clock.now());
    yield sleep(0);
    seen.push(clock.now());
  });
  const r = sched.run();
  assert.is(r.kind, "done");
  assert.equal(seen, [2500, 2500]);
});

test("an AB/BA deadlock is reported as a hang naming both wait points", () => {
  const { sched, log, clock } = boot({ seed: 3 });
  const a = new Mutex(sched, "A");
  const b = new Mutex(sched, "B");
  sched.spawn("t1", function* () {
    yield* a.lock();
    yield sleep(10);
    yield* b.lock();
  });
  sched.spawn("t2", function* () {
    yield* b.lock();
    yield sleep(10);
    yield* a.lock();
  });
  const r = sched.run();
  assert.is(r.kind, "hang");
  assert.equal(r.hung.map((h) => [h.comm, h.pid, h.waitPoint]), [["t1", 1, "mutex_lock(B)"], ["t2", 2, "mutex_lock(A)"]]);
  const lines = text(log);
  assert.ok(lines.includes("INFO: task t1:1 blocked for more than 120 seconds."));
  assert.ok(lines.includes("INFO: task t2:2 blocked for more than 120 seconds."));
  assert.ok(lines.includes(" mutex_lock(B)") && lines.includes(" mutex_lock(A)"));
  assert.ok(lines.includes("WARNING: possible circular locking dependency detected"));
  assert.is(clock.now(), 10 + 120e9);
  assert.is(log.isClean(), false);
});

test("a hung task is reported once per block episode, however often run() is called", () => {
  const { sched, log } = boot();
  const wq = new WaitQueue(sched, "&never");
  sched.spawn("stuck", function* () {
    yield* wq.waitEvent(() => false);
  });
  const reports = () => text(log).filter((l) => l.startsWith("INFO: task stuck:")).length;
  const first = sched.run();
  assert.is(first.kind, "hang");
  assert.is(reports(), 1);
  const second = sched.run();
  assert.is(second.kind, "hang");
  assert.equal(second.hung.map((h) => h.comm), ["stuck"], "still listed as hung");
  assert.is(reports(), 1, "but not logged again");
});

test("run({ throwOnHang }) throws a HungTaskError with code HUNG_TASK", () => {
  const { sched } = boot();
  const wq = new WaitQueue(sched, "&never");
  sched.spawn("stuck", function* () {
    yield* wq.waitEvent(() => false);
  });
  try {
    sched.run({ throwOnHang: true });
    assert.unreachable("should throw");
  } catch (e) {
    assert.instance(e, HungTaskError);
    assert.is((e as HungTaskError).code, "HUNG_TASK");
    assert.is((e as HungTaskError).hung[0].waitPoint, "wait_event(&never)");
  }
});

test("the watchdog reports a task blocked longer than hung_task_timeout_secs while others run", () => {
  const { sched, log, clock } = boot({ hungTaskTimeoutSecs: 5 });
  const wq = new WaitQueue(sched, "&q->mq_freeze_wq");
  let frozen = true;
  const stuck = sched.spawn("blkid", function* () {
    yield* wq.waitEvent(() => !frozen);
  });
  sched.spawn("ticker", function* () {
    for (let i = 0; i < 8; i++) yield sleep(1e9);
    frozen = false;
    wq.wakeUpAll();
  });
  const r = sched.run();
  assert.is(r.kind, "done");
  assert.is(stuck.state, "exited");
  assert.equal(r.watchdog.map((h) => [h.comm, h.blockedNs]), [["blkid", 5e9]]);
  assert.ok(log.lines().some((l) => l === "[    5.000000] INFO: task blkid:1 blocked for more than 5 seconds."));
  assert.is(clock.now(), 8e9);
});

test("tasks sleeping in S state do not make a hang", () => {
  const { sched } = boot();
  const wq = new WaitQueue(sched, "idle");
  sched.spawn("daemon", function* () {
    yield* wq.waitEventInterruptible(() => false);
  });
  assert.is(sched.run().kind, "done");
  assert.equal(sched.tasks().map((t) => t.stateChar()), ["S"]);
});

test("maxSteps, deadline and until() stop a run early", () => {
  const { sched, clock } = boot();
  sched.spawn("forever", function* () {
    for (;;) yield sleep(1000);
  });
  assert.is(sched.run({ maxSteps: 10 }).kind, "limit");
  const r = sched.run({ deadline: 50_000 });
  assert.is(r.kind, "deadline");
  assert.is(clock.now(), 50_000);
  assert.is(sched.run({ until: () => clock.now() >= 60_000 }).kind, "stopped");
  assert.is(clock.now(), 60_000);
});

test("stepNs makes each step cost virtual time, so a task spinning on a timer finishes", () => {
  const { sched, timers, clock } = boot({ stepNs: 100 });
  let flag = false;
  timers.hrtimerStart(new Timer(() => (flag = true)), 1000);
  let spins = 0;
  sched.spawn("spinner", function* () {
    while (!flag) {
      spins++;
      yield;
    }
  });
  assert.is(sched.run().kind, "done");
  assert.is(spins, 10);
  assert.is(clock.now(), 1100); // ten spinning steps, then the step that sees the flag
  sched.spawn("forever", function* () {
    for (;;) yield;
  });
  assert.is(sched.run({ deadline: 5000 }).kind, "deadline");
  assert.is(clock.now(), 5000);
});

test("the trace records forks, runs, blocks, wake-ups and exits as 'ns cpu pid event'", () => {
  const { sched } = boot({ nrCpuIds: 1, trace: true });
  sched.spawn("t", function* () {
    yield sleep(5);
  });
  sched.run();
  assert.equal(sched.formatTrace(), [
    "0 0 1 fork t",
    "0 0 1 run",
    "0 0 1 block schedule_timeout_uninterruptible",
    "5 0 0 softirq",
    "5 0 1 wake",
    "5 0 1 run",
    "5 0 1 exit",
  ]);
  sched.setTrace(false);
  assert.is(sched.trace, null);
});

test("get_cpu()/put_cpu() and local_irq_save()/restore() nest; an unbalanced preempt_enable() warns", () => {
  const { sched, log } = boot();
  sched.spawn("t", function* (me) {
    const cpu = sched.getCpu();
    assert.is(cpu, me.cpu);
    assert.ok(sched.inAtomic());
    const f = sched.localIrqSave();
    assert.is(f, 0x200);
    assert.is(sched.localIrqSave(), 0);
    sched.localIrqRestore(0);
    assert.ok(sched.irqsDisabled());
    sched.localIrqRestore(f);
    assert.not.ok(sched.irqsDisabled());
    sched.putCpu();
    assert.not.ok(sched.inAtomic());
    sched.preemptEnable();
    assert.is(me.preemptCount, 0);
    yield;
  });
  sched.run();
  assert.ok(text(log).includes("DEBUG_LOCKS_WARN_ON(val > preempt_count())"));
});

test("yielding a generator instead of yield* is a TypeError that names the mistake", () => {
  const { sched } = boot();
  const m = new Mutex(sched, "m");
  sched.spawn("oops", function* () {
    yield m.lock() as never;
  });
  assert.throws(() => sched.run(), (e: unknown) => e instanceof TypeError && /yield\*/.test((e as Error).message));
});

test("an exception in a task propagates out of run() and the task is gone", () => {
  const { sched } = boot();
  const t = sched.spawn("thrower", function* () {
    yield;
    throw new Error("boom");
  });
  assert.throws(() => sched.run(), /boom/);
  assert.is(t.state, "exited");
  assert.is(sched.run().kind, "done");
});

test("current and smp_processor_id() follow the running task; affinity pins it", () => {
  const { sched, cpus } = boot({ nrCpuIds: 4, seed: 5 });
  const seen: string[] = [];
  const pinned = sched.spawn("pinned", function* (t) {
    for (let i = 0; i < 20; i++) {
      seen.push(`${sched.current === t}:${sched.smpProcessorId() === t.cpu}:${t.cpu}`);
      yield sleep(10);
    }
  }, { affinity: [2] });
  sched.spawn("free", function* () {
    for (let i = 0; i < 20; i++) yield sleep(10);
  });
  assert.is(sched.run().kind, "done");
  assert.ok(seen.every((s) => s === "true:true:2"));
  assert.is(pinned.cpu, 2);
  assert.is(cpus.current, sched.current.cpu);
  assert.is(sched.current.pid, 0);
});

test("waking tasks migrate among allowed CPUs by choice, or stay with migrate off", () => {
  const cpusUsed = (migrate: boolean) => {
    const { sched } = boot({ nrCpuIds: 4, seed: 2, migrate });
    const used = new Set<number>();
    sched.spawn("hopper", function* (t) {
      for (let i = 0; i < 40; i++) {
        used.add(t.cpu);
        yield sleep(1);
      }
    }, { cpu: 1 });
    sched.run();
    return used.size;
  };
  assert.ok(cpusUsed(true) > 1);
  assert.is(cpusUsed(false), 1);
});

test("set_cpus_allowed_ptr() with no online CPU is EINVAL", () => {
  const { sched } = boot({ nrCpuIds: 4, online: 2 });
  const t = sched.spawn("t", function* () {});
  assert.throws(() => sched.setCpusAllowed(t, new CpuMask(4, [3])), (e: unknown) => e instanceof KernelError && e.code === "EINVAL");
  assert.throws(() => sched.setCpusAllowed(t, new CpuMask(8, [1])), (e: unknown) => e instanceof RangeError);
  sched.setCpusAllowed(t, new CpuMask(4, [1]));
  assert.is(t.cpu, 1);
});

test("a yield with preemption disabled is a preemption point not taken", () => {
  const { sched, log } = boot({ seed: 1 });
  const order: string[] = [];
  sched.spawn("atomic", function* () {
    sched.preemptDisable();
    for (let i = 0; i < 5; i++) {
      order.push("a");
      yield;
    }
    sched.preemptEnable();
  });
  sched.spawn("other", function* () {
    for (let i = 0; i < 5; i++) {
      order.push("o");
      yield;
    }
  });
  sched.run();
  const first = order.indexOf("a");
  assert.equal(order.slice(first, first + 5), ["a", "a", "a", "a", "a"]);
  assert.ok(log.isClean());
});

test("kthread_stop() wakes the thread, waits for it and returns its exit code", () => {
  const { sched } = boot();
  const wq = new WaitQueue(sched, "kthread");
  const kt = sched.spawn("kthreadd", function* () {
    while (!sched.kthreadShouldStop()) yield* wq.waitEventInterruptible(() => sched.kthreadShouldStop());
    return 42;
  });
  let code: unknown;
  sched.spawn("stopper", function* () {
    yield sleep(5);
    code = yield* sched.kthreadStop(kt);
  });
  assert.is(sched.run().kind, "done");
  assert.is(code, 42);
});

test("wake_up() wakes non-exclusive waiters and one exclusive waiter", () => {
  const { sched } = boot({ nrCpuIds: 1, choices: new ByteChoices(new Uint8Array(0)) });
  const wq = new WaitQueue(sched, "wq");
  let go = false;
  const woke: string[] = [];
  for (const [name, ex] of [["n1", false], ["x1", true], ["x2", true], ["n2", false]] as const) {
    sched.spawn(name, function* () {
      const e = wq.entry(ex);
      wq.prepareToWait(e);
      yield;
      wq.finishWait(e);
      woke.push(name);
    });
  }
  sched.run();
  assert.is(wq.length, 4);
  go = true;
  assert.is(wq.wakeUp(), 3);
  sched.run();
  assert.equal(woke.sort(), ["n1", "n2", "x1"]);
  assert.ok(go);
  assert.is(wq.wakeUpAll(), 1);
  sched.run();
  assert.is(woke.length, 4);
});

test("wait_event_timeout() returns 0 on timeout and the jiffies left on success", () => {
  const { sched, clock } = boot();
  const wq = new WaitQueue(sched, "wq");
  let cond = false;
  const got: number[] = [];
  sched.spawn("waiter", function* () {
    got.push(yield* wq.waitEventTimeout(() => cond, 10));
    got.push(clock.now());
    got.push(yield* wq.waitEventTimeout(() => cond, 10));
    got.push(clock.now());
  });
  sched.spawn("waker", function* () {
    yield sleep(13_500_000);
    cond = true;
    wq.wakeUp();
  });
  sched.run();
  assert.equal(got, [0, 10_000_000, 7, 13_500_000]);
});

test("complete() releases one waiter, complete_all() every waiter", () => {
  const { sched } = boot();
  const c = new Completion(sched, "done");
  let finished = 0;
  for (let i = 0; i < 3; i++) {
    sched.spawn(`w${i}`, function* () {
      yield* c.waitForCompletion();
      finished++;
    });
  }
  sched.run();
  c.complete();
  sched.run();
  assert.is(finished, 1);
  c.completeAll();
  const r = sched.run();
  assert.is(finished, 3);
  assert.is(r.kind, "done");
  assert.ok(c.tryWaitForCompletion());
});

test("runAsync() waits for wall-clock timers on a real clock", async () => {
  const clock = new RealClock();
  const cpus = new Cpus({ nrCpuIds: 2 });
  const log = new Klog(() => clock.now());
  const timers = new TimerBase({ clock, cpus, log });
  const sched = new Scheduler({ cpus, clock, timers, log });
  let woke = -1;
  sched.spawn("io", function* () {
    yield sleep(2_000_000);
    woke = clock.now();
  });
  const first = sched.run(); // "idle" unless the 2 ms already passed on a loaded machine
  assert.ok(first.kind === "idle" || first.kind === "done");
  const r = await sched.runAsync();
  assert.is(r.kind, "done");
  assert.ok(woke >= 2_000_000);
});

test("externalBegin() keeps an async run waiting until externalEnd()", async () => {
  const { sched } = boot();
  const wq = new WaitQueue(sched, "io");
  let done = false;
  sched.spawn("submitter", function* () {
    yield* wq.waitEvent(() => done);
  });
  sched.externalBegin();
  const p = sched.runAsync();
  setTimeout(() => {
    done = true;
    wq.wakeUp();
    sched.externalEnd();
  }, 1);
  assert.is((await p).kind, "done");
  assert.throws(() => sched.externalEnd(), (e: unknown) => e instanceof RangeError);
});

test("two async runs awaiting the same outside event both wake, and wake() lets an idle run take a task spawned from outside", async () => {
  const { sched } = boot();
  sched.externalBegin();
  const a = sched.runAsync();
  const b = sched.runAsync();
  let ran = false;
  setTimeout(() => {
    sched.spawn("late", function* () {
      ran = true;
    });
    sched.wake();
    setTimeout(() => sched.externalEnd(), 1);
  }, 1);
  const [ra, rb] = await Promise.all([a, b]);
  assert.equal([ra.kind, rb.kind, ran], ["done", "done", true]);
});

test("Scheduler and spawn() reject bad arguments", () => {
  const { sched } = boot();
  assert.throws(() => new Scheduler({} as never), (e: unknown) => e instanceof TypeError);
  assert.throws(() => sched.spawn("", function* () {}), (e: unknown) => e instanceof TypeError);
  assert.throws(() => sched.spawn("x", (() => 1) as never), (e: unknown) => e instanceof TypeError);
  assert.throws(() => sched.spawn("x", function* () {}, { cpu: 99 }), (e: unknown) => e instanceof RangeError);
  assert.throws(() => sched.spawn("x", function* () {}, { affinity: [] }), (e: unknown) => e instanceof RangeError);
  assert.throws(() => sched.blockCurrent("nowhere", false), (e: unknown) => e instanceof TypeError);
});

test.run();
