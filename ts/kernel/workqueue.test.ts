// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import { boot, text } from "./_testkit.ts";
import { Mutex } from "./mutex.ts";
import { sleep, WaitQueue } from "./sched.ts";
import {
  DelayedWork,
  WORK_BUSY_PENDING,
  WORK_BUSY_RUNNING,
  WorkStruct,
  WQ_CPU_INTENSIVE,
  WQ_HIGHPRI,
  WQ_UNBOUND,
} from "./workqueue.ts";

test("queue_work_on() runs the work on that CPU's kworker; a pending work is not queued twice", () => {
  const { sched, wqs, cpus } = boot({ nrCpuIds: 4 });
  const seen: string[] = [];
  const work = new WorkStruct(() => seen.push(`${sched.current.comm}@${cpus.current}`), "&hctx->run_work");
  assert.ok(wqs.systemWq.queueWorkOn(2, work));
  assert.not.ok(wqs.systemWq.queueWorkOn(2, work));
  assert.is(wqs.workBusy(work), WORK_BUSY_PENDING);
  assert.is(sched.run().kind, "done");
  assert.equal(seen, ["kworker/2:0@2"]);
  assert.not.ok(work.pending);
  assert.is(wqs.workBusy(work), 0);
});

test("worker names follow the kernel: H for highpri pools, u<pool> for unbound ones", () => {
  const { sched, wqs } = boot({ nrCpuIds: 4 });
  const names: string[] = [];
  const rec = () => names.push(sched.current.comm);
  const kblockd = wqs.allocWorkqueue("kblockd", WQ_HIGHPRI, 0);
  kblockd.queueWorkOn(1, new WorkStruct(rec, "a"));
  wqs.allocWorkqueue("u", WQ_UNBOUND, 0).queueWork(new WorkStruct(rec, "b"));
  sched.run();
  assert.equal(names.sort(), ["kworker/1:0H", "kworker/u8:0"]);
});

test("queue_work() uses the current CPU for a per-CPU workqueue", () => {
  const { sched, wqs, cpus } = boot({ nrCpuIds: 4 });
  let ran = -1;
  sched.spawn("submitter", function* () {
    wqs.scheduleWork(new WorkStruct(() => (ran = cpus.current), "w"));
    yield;
  }, { cpu: 3, bound: true });
  sched.run();
  assert.is(ran, 3);
});

test("flush_work() waits for a running work and returns false for an idle one", () => {
  const { sched, wqs, clock } = boot();
  const work = new WorkStruct(function* () {
    yield sleep(700);
  }, "slow");
  let flushed: [boolean, number] | null = null;
  let idle: boolean | null = null;
  sched.spawn("flusher", function* () {
    wqs.systemWq.queueWork(work);
    flushed = [yield* wqs.flushWork(work), clock.now()];
    idle = yield* wqs.flushWork(work);
  });
  sched.run();
  assert.equal(flushed, [true, 700]);
  assert.is(idle, false);
});

test("a work requeued while running runs again afterwards, never on two workers at once", () => {
  const { sched, wqs } = boot({ nrCpuIds: 4, seed: 8 });
  let running = 0;
  let maxRunning = 0;
  let runs = 0;
  const work = new WorkStruct(function* () {
    running++;
    maxRunning = Math.max(maxRunning, running);
    runs++;
    yield sleep(100);
    running--;
  }, "reentrant");
  sched.spawn("requeuer", function* () {
    for (let i = 0; i < 6; i++) {
      wqs.systemUnboundWq.queueWorkOn(i % 4, work);
      yield sleep(60);
    }
  });
  sched.run();
  assert.is(maxRunning, 1);
  assert.ok(runs >= 3, `ran ${runs} times`);
});

test("cancel_work_sync() removes a pending work and waits for a running one; queueing meanwhile fails", () => {
  const { sched, wqs, clock } = boot();
  let runs = 0;
  const work = new WorkStruct(function* () {
    runs++;
    yield sleep(300);
  }, "cancel_me");
  const results: unknown[] = [];
  sched.spawn("canceler", function* () {
    wqs.systemWq.queueWork(work);
    results.push(yield* wqs.cancelWorkSync(work)); // still pending: removed
    wqs.systemWq.queueWork(work);
    yield sleep(10); // now running
    results.push(wqs.workBusy(work) === WORK_BUSY_RUNNING);
    results.push(yield* wqs.cancelWorkSync(work));
    results.push(clock.now());
  });
  sched.spawn("requeuer", function* () {
    yield sleep(20);
    results.push(wqs.systemWq.queueWork(work)); // during the cancel
  });
  sched.run();
  assert.equal(results, [true, true, false, false, 300]); // started at 0, slept 300
  assert.is(runs, 1);
  assert.not.ok(work.pending);
});

test("delayed work runs after its delay; mod_delayed_work re-arms; cancel_delayed_work stops it", () => {
  const { sched, wqs, clock } = boot();
  const at: number[] = [];
  const dwork = new DelayedWork(() => at.push(clock.jiffies()), "&hctx->delay_work");
  assert.ok(wqs.systemWq.queueDelayedWork(dwork, 5));
  assert.not.ok(wqs.systemWq.queueDelayedWork(dwork, 1));
  assert.ok(wqs.delayedWorkPending(dwork));
  assert.ok(wqs.systemWq.modDelayedWork(dwork, 8));
  sched.run();
  assert.equal(at, [8]);
  assert.not.ok(wqs.systemWq.modDelayedWork(dwork, 3));
  assert.ok(wqs.cancelDelayedWork(dwork));
  assert.not.ok(wqs.cancelDelayedWork(dwork));
  sched.run();
  assert.equal(at, [8]);
  wqs.systemWq.queueDelayedWorkOn(1, dwork, 0);
  sched.run();
  assert.equal(at, [8, 8]);
});

test("flush_delayed_work() fires a pending timer now and waits; cancel_delayed_work_sync() stops it", () => {
  const { sched, wqs, clock } = boot();
  let ran = 0;
  const d1 = new DelayedWork(() => ran++, "d1");
  const d2 = new DelayedWork(() => ran++, "d2");
  const res: unknown[] = [];
  sched.spawn("f", function* () {
    wqs.systemWq.queueDelayedWork(d1, 1000);
    wqs.systemWq.queueDelayedWork(d2, 1000);
    res.push(yield* wqs.flushDelayedWork(d1));
    res.push(yield* wqs.cancelDelayedWorkSync(d2));
    res.push(clock.now());
  });
  sched.run();
  assert.equal(res, [true, true, 0]);
  assert.is(ran, 1);
});

test("flush_workqueue() waits for every work queued before it", () => {
  const { sched, wqs, clock } = boot({ nrCpuIds: 2 });
  const wq = wqs.allocWorkqueue("test", 0, 0);
  const done: string[] = [];
  const mk = (name: string, ns: number) => new WorkStruct(function* () {
    yield sleep(ns);
    done.push(name);
  }, name);
  let at = -1;
  sched.spawn("flusher", function* () {
    wq.queueWorkOn(0, mk("a", 50));
    wq.queueWorkOn(1, mk("b", 80));
    yield* wq.flush();
    at = clock.now();
  });
  sched.run();
  assert.equal(done.sort(), ["a", "b"]);
  assert.is(at, 80);
});

test("concurrency management: a blocking work lets the next one run on a second worker", () => {
  const { sched, wqs } = boot({ nrCpuIds: 1 });
  const gate = new WaitQueue(sched, "gate");
  let open = false;
  const log: string[] = [];
  wqs.systemWq.queueWork(new WorkStruct(function* () {
    log.push(`blocker on ${sched.current.comm}`);
    yield* gate.waitEvent(() => open);
  }, "blocker"));
  wqs.systemWq.queueWork(new WorkStruct(() => {
    log.push(`opener on ${sched.current.comm}`);
    open = true;
    gate.wakeUpAll();
  }, "opener"));
  assert.is(sched.run().kind, "done");
  assert.equal(log, ["blocker on kworker/0:0", "opener on kworker/0:1"]);
});

test("concurrency management: works that do not block share one worker", () => {
  const { sched, wqs } = boot({ nrCpuIds: 1, seed: 3 });
  const comms = new Set<string>();
  for (let i = 0; i < 5; i++) wqs.systemWq.queueWork(new WorkStruct(function* () {
    comms.add(sched.current.comm);
    yield; // a preemption point, not a sleep
  }, `w${i}`));
  sched.run();
  assert.equal([...comms], ["kworker/0:0"]);
});

test("an unbound or CPU-intensive workqueue gives every pending work its own worker", () => {
  const { sched, wqs } = boot({ nrCpuIds: 1 });
  const comms = new Set<string>();
  const wq = wqs.allocWorkqueue("intensive", WQ_CPU_INTENSIVE, 0);
  for (let i = 0; i < 3; i++) wq.queueWork(new WorkStruct(function* () {
    comms.add(sched.current.comm);
    yield;
  }, `w${i}`));
  sched.run();
  assert.ok(comms.size > 1);
});

test("an ordered workqueue runs one work at a time in queue order", () => {
  const { sched, wqs } = boot({ nrCpuIds: 4, seed: 6 });
  const wq = wqs.allocOrderedWorkqueue("ordered");
  const order: string[] = [];
  let running = 0;
  for (const name of ["a", "b", "c", "d"]) {
    wq.queueWork(new WorkStruct(function* () {
      assert.is(++running, 1);
      order.push(name);
      yield sleep(10);
      running--;
    }, name));
  }
  sched.run();
  assert.equal(order, ["a", "b", "c", "d"]);
});

test("flush_work() under a mutex the work takes is reported by lockdep", () => {
  const { sched, wqs, log } = boot();
  const m = new Mutex(sched, "&q->sysfs_lock");
  const work = new WorkStruct(function* () {
    yield* m.lock();
    m.unlock();
  }, "&q->requeue_work");
  sched.spawn("t", function* () {
    wqs.systemWq.queueWork(work);
    yield sleep(10); // the work ran once: (work) -> lock recorded
    wqs.systemWq.queueWork(work);
    yield* m.lock();
    yield* wqs.flushWork(work);
    m.unlock();
  });
  sched.run();
  const lines = text(log);
  assert.ok(lines.includes("WARNING: possible circular locking dependency detected"));
  assert.ok(lines.some((l) => l.includes("(&q->requeue_work)")));
});

test("queueing on a destroyed workqueue warns and does not run the work", () => {
  const { sched, wqs, log } = boot();
  const wq = wqs.allocWorkqueue("dying", 0, 0);
  let ran = 0;
  sched.spawn("d", function* () {
    wq.queueWork(new WorkStruct(() => ran++, "before"));
    yield* wq.destroy();
    wq.queueWork(new WorkStruct(() => ran++, "after"));
  });
  sched.run();
  assert.is(ran, 1);
  assert.ok(text(log).includes("workqueue: cannot queue after on destroyed workqueue dying"));
});

test("a work leaking a lock is reported as the kernel does", () => {
  const { sched, wqs, log } = boot();
  const m = new Mutex(sched, "leaked");
  wqs.systemWq.queueWork(new WorkStruct(function* () {
    yield* m.lock();
  }, "leaky"));
  sched.run();
  assert.ok(text(log).some((l) => l.startsWith("BUG: workqueue leaked lock or atomic: kworker/")));
});

test("CPU hotplug unbinds a dying CPU's workers, whose pending work still runs, and rebinds them", () => {
  const { sched, wqs, hotplug, cpus } = boot({ nrCpuIds: 4 });
  const ranOn: number[] = [];
  const work = new WorkStruct(() => ranOn.push(cpus.current), "percpu");
  sched.spawn("hp", function* () {
    wqs.systemWq.queueWorkOn(3, work);
    yield sleep(1);
    yield* hotplug.cpuDown(3);
    wqs.systemWq.queueWorkOn(3, work);
    yield sleep(1);
    yield* hotplug.cpuUp(3);
    wqs.systemWq.queueWorkOn(3, work);
  }, { cpu: 0, bound: true });
  assert.is(sched.run().kind, "done");
  assert.is(ranOn.length, 3);
  assert.is(ranOn[0], 3);
  assert.not.equal(ranOn[1], 3);
  assert.is(ranOn[2], 3);
  const kworker = sched.tasks().find((t) => t.comm === "kworker/3:0")!;
  assert.equal(kworker.affinity?.toArray(), [3]);
});

test("alloc_workqueue() clamps max_active and rejects bad arguments", () => {
  const { wqs, log } = boot();
  assert.is(wqs.allocWorkqueue("big", 0, 100_000).maxActive, 512);
  assert.ok(text(log).includes("workqueue: max_active 100000 requested for big is out of range, clamping between 1 and 512"));
  assert.is(wqs.allocWorkqueue("dfl").maxActive, 256);
  assert.throws(() => wqs.allocWorkqueue(""), (e: unknown) => e instanceof TypeError);
  assert.throws(() => wqs.systemWq.queueWorkOn(99, new WorkStruct(() => {})), (e: unknown) => e instanceof RangeError);
  assert.throws(() => wqs.systemWq.queueDelayedWork(new DelayedWork(() => {}), -1), (e: unknown) => e instanceof RangeError);
  assert.throws(() => new WorkStruct(null as never), (e: unknown) => e instanceof TypeError);
});

test.run();
