// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import { KernelError } from "../errors.ts";
import { boot, text } from "./_testkit.ts";
import {
  CPU_DEAD,
  CPU_DOWN_PREPARE,
  CPU_UP_PREPARE,
  cpuActionName,
  CpuMask,
  Cpus,
  NOTIFY_BAD,
  NOTIFY_OK,
  notifierFromErrno,
  notifierToErrno,
  PerCpu,
} from "./cpu.ts";
import { type Sleepable, sleep } from "./sched.ts";

const isRange = (e: unknown) => e instanceof RangeError;
const isKernel = (code: string, op?: string) => (e: unknown) => e instanceof KernelError && e.code === code && (op === undefined || e.op === op);

test("CpuMask sets, tests, counts and searches bits like the cpumask_*() helpers", () => {
  const m = new CpuMask(300, [0, 1, 2, 5, 31, 32, 299]);
  assert.is(m.weight(), 7);
  assert.ok(m.test(32) && !m.test(33));
  assert.is(m.first(), 0);
  assert.is(m.next(5), 31);
  assert.is(m.next(299), 300);
  assert.is(m.nth(4), 31);
  assert.is(m.nth(7), 300);
  assert.equal([...m], [0, 1, 2, 5, 31, 32, 299]);
  assert.is(m.toString(), "0-2,5,31-32,299");
  m.clear(299).clear(0);
  assert.is(m.first(), 1);
  assert.ok(new CpuMask(300).isEmpty());
  assert.is(new CpuMask(300).first(), 300);
});

test("CpuMask prints %*pb hex chunks most significant first", () => {
  assert.is(new CpuMask(8, [0, 1, 2, 5]).toHex(), "27");
  assert.is(new CpuMask(64, [0, 32]).toHex(), "00000001,00000001");
  assert.is(new CpuMask(36, [35]).toHex(), "8,00000000");
});

test("CpuMask and/or/copy/equals/intersects combine masks of one size only", () => {
  const a = new CpuMask(8, [0, 1, 2]);
  const b = new CpuMask(8, [2, 3]);
  assert.ok(a.intersects(b));
  assert.equal(a.copy().and(b).toArray(), [2]);
  assert.equal(a.copy().or(b).toArray(), [0, 1, 2, 3]);
  assert.ok(a.copy().equals(a));
  assert.not.ok(a.equals(new CpuMask(16, [0, 1, 2])));
  assert.throws(() => a.and(new CpuMask(16)), isRange);
  assert.throws(() => a.set(8), isRange);
  assert.throws(() => a.test(-1), isRange);
  assert.throws(() => new CpuMask(0), isRange);
});

test("Cpus defaults to 4 CPUs, all possible, present and online", () => {
  const cpus = new Cpus();
  assert.is(cpus.nrCpuIds, 4);
  assert.is(cpus.onlineMask.toString(), "0-3");
  assert.is(cpus.presentMask.toString(), "0-3");
  assert.is(cpus.possibleMask.toString(), "0-3");
  assert.is(cpus.numOnlineCpus(), 4);
  assert.is(cpus.smpProcessorId(), 0);
});

test("Cpus supports 256 CPUs with present and online subsets", () => {
  const cpus = new Cpus({ nrCpuIds: 256, present: 200, online: 128, threadsPerCore: 2 });
  assert.is(cpus.numOnlineCpus(), 128);
  assert.ok(cpus.cpuPresent(199) && !cpus.cpuPresent(200));
  assert.ok(cpus.cpuOnline(127) && !cpus.cpuOnline(128));
  assert.is(cpus.topologySiblingCpumask(0).toString(), "0"); // its sibling 128 is offline
});

test("split SMT numbering pairs cpu c with c + ncores", () => {
  const cpus = new Cpus({ nrCpuIds: 8, threadsPerCore: 2 });
  assert.is(cpus.topologySiblingCpumask(1).toString(), "1,5");
  assert.is(cpus.topologySiblingCpumask(5).toString(), "1,5");
  assert.is(cpus.firstSibling(5), 1);
  assert.is(cpus.topologyCoreId(6), 2);
  assert.equal(cpus.threadSiblings(3), [3, 7]);
});

test("adjacent SMT numbering pairs 2k with 2k+1", () => {
  const cpus = new Cpus({ nrCpuIds: 8, threadsPerCore: 2, smtNumbering: "adjacent" });
  assert.is(cpus.topologySiblingCpumask(5).toString(), "4-5");
  assert.is(cpus.firstSibling(5), 4);
  assert.is(cpus.topologyCoreId(5), 2);
});

test("an offline CPU has an empty sibling mask and is its own first sibling", () => {
  const cpus = new Cpus({ nrCpuIds: 8, threadsPerCore: 2 });
  cpus.setCpuOnline(1, false);
  assert.ok(cpus.topologySiblingCpumask(1).isEmpty());
  assert.is(cpus.topologySiblingCpumask(5).toString(), "5");
  assert.is(cpus.firstSibling(1), 1);
  assert.is(cpus.firstSibling(5), 5);
  cpus.setCpuOnline(1, true);
  assert.is(cpus.topologySiblingCpumask(5).toString(), "1,5");
});

test("Cpus rejects inconsistent configurations and bad CPU numbers", () => {
  assert.throws(() => new Cpus({ nrCpuIds: 0 }), isRange);
  assert.throws(() => new Cpus({ nrCpuIds: 6, threadsPerCore: 4 }), isRange);
  assert.throws(() => new Cpus({ nrCpuIds: 4, present: 2, online: [0, 3] }), isRange);
  assert.throws(() => new Cpus({ nrCpuIds: 4, online: [1, 2] }), isRange);
  assert.throws(() => new Cpus({ smtNumbering: "zigzag" as never }), isRange);
  const cpus = new Cpus();
  assert.throws(() => cpus.cpuOnline(4), isRange);
  assert.throws(() => cpus.cpuOnline(-1), isRange);
  assert.throws(() => cpus.cpuOnline(1.5), isRange);
  assert.throws(() => cpus.setCpuPresent(1, false), isRange);
  cpus.setCpuOnline(3, false);
  cpus.setCpuPresent(3, false);
  assert.throws(() => cpus.setCpuOnline(3, true), isRange);
});

test("PerCpu holds one value per possible CPU and reads the current CPU's", () => {
  const cpus = new Cpus({ nrCpuIds: 4 });
  const v = new PerCpu(cpus, (c) => c * 10);
  cpus.current = 2;
  assert.is(v.thisCpu(), 20);
  v.set(2, 7);
  assert.is(v.get(2), 7);
  assert.equal([...v].map(([c]) => c), [0, 1, 2, 3]);
  assert.throws(() => v.get(4), isRange);
});

test("notifier_from_errno() and notifier_to_errno() round-trip; NOTIFY_BAD is -EPERM", () => {
  assert.is(notifierToErrno(notifierFromErrno("EBUSY")), -16);
  assert.is(notifierToErrno(NOTIFY_OK), 0);
  assert.is(notifierToErrno(NOTIFY_BAD), -1);
  assert.is(cpuActionName(CPU_UP_PREPARE), "CPU_UP_PREPARE");
  assert.is(cpuActionName(CPU_DEAD | 0x10), "CPU_DEAD_FROZEN");
});

/** Registers notifiers that record "<name>:<event>" and returns the record. */
function recorder(cpus: Cpus, specs: [string, number][]): string[] {
  const seen: string[] = [];
  for (const [name, priority] of specs) {
    cpus.hotcpuNotifier((action, cpu) => {
      seen.push(`${name}:${cpuActionName(action)}:${cpu}`);
    }, priority, name);
  }
  return seen;
}

test("hotplug runs the v4.4 event sequence, notifiers by priority then registration order", () => {
  const { sched, cpus, hotplug, log } = boot({ nrCpuIds: 4 });
  const seen = recorder(cpus, [["low", -1], ["a", 0], ["high", 10], ["b", 0]]);
  sched.spawn("hp", function* () {
    yield* hotplug.cpuDown(2);
    yield* hotplug.cpuUp(2);
  });
  assert.is(sched.run().kind, "done");
  const order = (ev: string) => seen.filter((s) => s.includes(`:${ev}:`)).map((s) => s.split(":")[0]);
  assert.equal(order("CPU_DOWN_PREPARE"), ["high", "a", "b", "low"]);
  assert.equal([...new Set(seen.filter((s) => s.startsWith("a:")).map((s) => s.split(":")[1]))], [
    "CPU_DOWN_PREPARE",
    "CPU_DYING",
    "CPU_DEAD",
    "CPU_POST_DEAD",
    "CPU_UP_PREPARE",
    "CPU_STARTING",
    "CPU_ONLINE",
  ]);
  assert.ok(cpus.cpuOnline(2));
  assert.ok(log.text().includes("smpboot: CPU 2 is now offline"), "native_cpu_die()'s line, between CPU_DYING and CPU_DEAD");
});

test("a CPU_UP_PREPARE veto fails cpu_up() with its errno and cancels only the notifiers already called", () => {
  const { sched, cpus, hotplug, log } = boot({ nrCpuIds: 4, online: 3 });
  const seen = recorder(cpus, [["first", 5]]);
  cpus.hotcpuNotifier((a) => (a === CPU_UP_PREPARE ? notifierFromErrno("EBUSY") : NOTIFY_OK), 3, "vetoer");
  const after = recorder(cpus, [["after", 1]]);
  let err: unknown;
  sched.spawn("hp", function* () {
    try {
      yield* hotplug.cpuUp(3);
    } catch (e) {
      err = e;
    }
  });
  sched.run();
  assert.ok(isKernel("EBUSY", "_cpu_up")(err));
  assert.equal(seen, ["first:CPU_UP_PREPARE:3", "first:CPU_UP_CANCELED:3"]);
  assert.equal(after, []);
  assert.not.ok(cpus.cpuOnline(3));
  assert.ok(text(log).includes("_cpu_up: attempt to bring up CPU 3 failed"));
});

test("a CPU_DOWN_PREPARE veto fails cpu_down() and sends CPU_DOWN_FAILED to those already called", () => {
  const { sched, cpus, hotplug } = boot({ nrCpuIds: 4 });
  const seen = recorder(cpus, [["first", 5]]);
  cpus.hotcpuNotifier((a) => (a === CPU_DOWN_PREPARE ? NOTIFY_BAD : NOTIFY_OK), 3, "vetoer");
  let err: unknown;
  sched.spawn("hp", function* () {
    try {
      yield* hotplug.cpuDown(1);
    } catch (e) {
      err = e;
    }
  });
  sched.run();
  assert.ok(isKernel("EPERM", "_cpu_down")(err));
  assert.equal(seen, ["first:CPU_DOWN_PREPARE:1", "first:CPU_DOWN_FAILED:1"]);
  assert.ok(cpus.cpuOnline(1));
});

test("bad hotplug requests fail the kernel's way", () => {
  const { sched, hotplug } = boot({ nrCpuIds: 4, present: 3, online: 2 });
  const errs: unknown[] = [];
  const attempt = function* (op: Sleepable) {
    try {
      yield* op;
    } catch (e) {
      errs.push(e);
    }
  };
  sched.spawn("hp", function* () {
    yield* attempt(hotplug.cpuUp(3)); // not present
    yield* attempt(hotplug.cpuUp(1)); // already online
    yield* attempt(hotplug.cpuDown(2)); // not online
    yield* attempt(hotplug.cpuUp(4)); // out of range
    yield* hotplug.cpuDown(1);
    yield* attempt(hotplug.cpuDown(0)); // the last online CPU
  });
  sched.run();
  assert.ok(isKernel("EINVAL", "_cpu_up")(errs[0]));
  assert.ok(isKernel("EINVAL", "_cpu_up")(errs[1]));
  assert.ok(isKernel("EINVAL", "_cpu_down")(errs[2]));
  assert.ok(isRange(errs[3]));
  assert.ok(isKernel("EBUSY", "_cpu_down")(errs[4]));
});

test("cpu_down() migrates the dying CPU's tasks and costs a grace period", () => {
  const { sched, cpus, hotplug, clock } = boot({ nrCpuIds: 4, gpNs: 2_000_000 });
  const victim = sched.spawn("victim", function* () {
    yield sleep(10_000_000);
  }, { cpu: 3 });
  let took = -1;
  sched.spawn("hp", function* () {
    yield sleep(1);
    const t0 = clock.now();
    yield* hotplug.cpuDown(3);
    took = clock.now() - t0;
  }, { cpu: 0, bound: true });
  sched.run();
  assert.is(took, 2_000_000);
  assert.not.equal(victim.cpu, 3);
  assert.not.ok(cpus.cpuOnline(3));
});

test("a bound user process whose CPU goes away loses its affinity, as select_fallback_rq() does", () => {
  const { sched, hotplug, log } = boot({ nrCpuIds: 2 });
  const p = sched.spawn("fio", function* () {
    yield sleep(5_000_000);
  }, { cpu: 1, bound: true, kthread: false });
  sched.spawn("hp", function* () {
    yield* hotplug.cpuDown(1);
  }, { cpu: 0, bound: true });
  sched.run();
  assert.is(p.affinity, null);
  assert.is(p.cpu, 0);
  assert.ok(text(log).includes("process 1 (fio) no longer affine to cpu1"));
});

test("get_online_cpus() holds off cpu_down() until put_online_cpus()", () => {
  const { sched, hotplug, clock } = boot({ nrCpuIds: 4 });
  let downAt = -1;
  sched.spawn("reader", function* () {
    yield* hotplug.getOnlineCpus();
    yield* hotplug.getOnlineCpus(); // nests
    yield sleep(5_000_000);
    hotplug.putOnlineCpus();
    hotplug.putOnlineCpus();
  });
  sched.spawn("hp", function* () {
    yield sleep(1);
    yield* hotplug.cpuDown(2);
    downAt = clock.now();
  });
  sched.run();
  assert.is(downAt, 5_000_000 + 1_000_000); // after the put, plus one grace period
  assert.is(hotplug.refcount, 0);
});

test("cpu_hotplug_disable() makes cpu_up/cpu_down fail with EBUSY", () => {
  const { sched, hotplug } = boot({ nrCpuIds: 4 });
  let err: unknown;
  sched.spawn("hp", function* () {
    yield* hotplug.cpuHotplugDisable();
    try {
      yield* hotplug.cpuDown(1);
    } catch (e) {
      err = e;
    }
    yield* hotplug.cpuHotplugEnable();
    yield* hotplug.cpuDown(1);
  });
  sched.run();
  assert.ok(isKernel("EBUSY", "cpu_down")(err));
});

test("a notifier may sleep in CPU_DOWN_PREPARE but not in CPU_DYING", () => {
  const { sched, cpus, hotplug, clock } = boot({ nrCpuIds: 4, gpNs: 0 });
  cpus.hotcpuNotifier(function* (action: number) {
    if (action === CPU_DOWN_PREPARE) yield sleep(1000);
    return NOTIFY_OK;
  } as never, 0, "sleepy");
  sched.spawn("hp", function* () {
    yield* hotplug.cpuDown(1);
  });
  sched.run();
  assert.is(clock.now(), 1000);
  const bad = boot({ nrCpuIds: 4 });
  bad.cpus.hotcpuNotifier(function* () {
    yield;
  } as never, 0, "bad");
  bad.sched.spawn("hp", function* () {
    yield* bad.hotplug.cpuDown(1);
  });
  assert.throws(() => bad.sched.run(), (e: unknown) => e instanceof TypeError && /CPU_DYING/.test((e as Error).message));
});

test.run();
