// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import { KernelError } from "../errors.ts";
import { CPU_DOWN_PREPARE, notifierFromErrno, NOTIFY_OK } from "../kernel/cpu.ts";
import { Kernel } from "../kernel/kernel.ts";
import { assertAllClean, drive, inTask } from "./_test_helpers.ts";

const CPU = "/sys/devices/system/cpu";

/** Runs one sysfs write in a task: the result, or the error's code. */
function echo(k: Kernel, value: string, file: string): number | string {
  try {
    return inTask(k, () => k.sysfs.write(`${CPU}/${file}`, value));
  } catch (e) {
    if (e instanceof KernelError) return e.code;
    throw e;
  }
}

function cat(k: Kernel, file: string): string {
  return drive(k.sysfs.read(`${CPU}/${file}`));
}

test("/sys/devices/system/cpu lists a cpuN per present CPU and the subsystem files", () => {
  const k = new Kernel({ cpus: 4 });
  assert.equal(k.sysfs.ls(CPU), ["cpu0", "cpu1", "cpu2", "cpu3", "kernel_max", "offline", "online", "possible", "present"]);
  assert.equal(k.sysfs.ls(`${CPU}/cpu0`), [], "cpu0 is not hotpluggable on v4.4 x86: no online file");
  for (const c of [1, 2, 3]) assert.equal(k.sysfs.ls(`${CPU}/cpu${c}`), ["online"]);
  assert.equal(k.sysfs.stat(`${CPU}/cpu1/online`), { kind: "file", mode: 0o644 });
  assert.equal(k.sysfs.stat(`${CPU}/online`), { kind: "file", mode: 0o444 });
  assertAllClean(k);
});

test("the subsystem files print cpulists, an empty offline list and NR_CPUS - 1", () => {
  const k = new Kernel({ cpus: 4 });
  assert.is(cat(k, "online"), "0-3\n");
  assert.is(cat(k, "possible"), "0-3\n");
  assert.is(cat(k, "present"), "0-3\n");
  assert.is(cat(k, "offline"), "\n");
  assert.is(cat(k, "kernel_max"), "4095\n");
  assert.is(cat(k, "cpu2/online"), "1\n");
  assertAllClean(k);
});

test("writing 0 and 1 to cpuN/online runs cpu_down and cpu_up and returns the byte count", () => {
  const k = new Kernel({ cpus: 4 });
  assert.is(echo(k, "0\n", "cpu1/online"), 2);
  assert.not.ok(k.cpus.cpuOnline(1));
  assert.is(cat(k, "cpu1/online"), "0\n");
  assert.is(cat(k, "online"), "0,2-3\n");
  assert.is(cat(k, "offline"), "1\n");
  assert.is(echo(k, "0", "cpu2/online"), 1);
  assert.is(cat(k, "online"), "0,3\n");
  assert.is(cat(k, "offline"), "1-2\n");
  assert.is(echo(k, "1\n", "cpu1/online"), 2);
  assert.is(echo(k, "y", "cpu2/online"), 1);
  assert.ok(k.cpus.cpuOnline(1) && k.cpus.cpuOnline(2));
  assert.is(cat(k, "online"), "0-3\n");
  assertAllClean(k);
});

test("writing the state a CPU is already in succeeds and changes nothing", () => {
  const k = new Kernel({ cpus: 2 });
  assert.is(echo(k, "1\n", "cpu1/online"), 2);
  assert.ok(k.cpus.cpuOnline(1));
  assert.is(echo(k, "0\n", "cpu1/online"), 2);
  assert.is(echo(k, "n\n", "cpu1/online"), 2);
  assert.not.ok(k.cpus.cpuOnline(1));
  assert.is(echo(k, "1\n", "cpu1/online"), 2);
  assertAllClean(k);
});

test("values strtobool() rejects are EINVAL and leave the CPU alone; an empty write is 0", () => {
  const k = new Kernel({ cpus: 2 });
  for (const v of ["2\n", "on", "off", " 1", "-1", "\n", "true"]) assert.is(echo(k, v, "cpu1/online"), "EINVAL", JSON.stringify(v));
  assert.ok(k.cpus.cpuOnline(1));
  assert.is(echo(k, "", "cpu1/online"), 0);
  assert.is(echo(k, "1", "online"), "EACCES");
  assertAllClean(k);
});

test("offlining the last online CPU fails with EBUSY from cpu_down", () => {
  const k = new Kernel({ cpus: 2 });
  inTask(k, () => k.hotplug.cpuDown(0));
  assert.is(cat(k, "online"), "1\n");
  assert.is(echo(k, "0\n", "cpu1/online"), "EBUSY");
  assert.ok(k.cpus.cpuOnline(1));
  inTask(k, () => k.hotplug.cpuUp(0));
  assertAllClean(k);
});

test("EBUSY while hotplug is disabled, and a CPU_DOWN_PREPARE veto's errno", () => {
  const k = new Kernel({ cpus: 4 });
  inTask(k, () => k.hotplug.cpuHotplugDisable());
  assert.is(echo(k, "0\n", "cpu3/online"), "EBUSY");
  inTask(k, () => k.hotplug.cpuHotplugEnable());
  const nb = k.cpus.hotcpuNotifier((action) => (action === CPU_DOWN_PREPARE ? notifierFromErrno("ENOMEM") : NOTIFY_OK), 0, "veto");
  assert.is(echo(k, "0\n", "cpu3/online"), "ENOMEM");
  assert.ok(k.cpus.cpuOnline(3));
  k.cpus.unregisterCpuNotifier(nb);
  assert.ok(k.log.text().includes("_cpu_down: attempt to take down CPU 3 failed"));
  assert.is(k.liveObjects(), 0);
});

test("concurrent writers serialize on device_hotplug_lock, backing off 5 ms as the syscall restarts", () => {
  const k = new Kernel({ cpus: 4, seed: 3 });
  const results: number[] = [];
  for (const c of [1, 2, 3]) {
    k.sched.spawn(`sh${c}`, function* () {
      results.push(yield* k.sysfs.write(`${CPU}/cpu${c}/online`, "0\n"));
    });
  }
  assert.is(k.run().kind, "done");
  assert.equal(results, [2, 2, 2]);
  assert.is(cat(k, "online"), "0\n");
  assert.ok(k.clock.now() >= 5_000_000, "somebody backed off");
  for (const c of [1, 2, 3]) assert.is(echo(k, "1\n", `cpu${c}/online`), 2);
  assertAllClean(k);
});

test("each kernel's cpu files belong to it alone", () => {
  const a = new Kernel({ cpus: 2 });
  const b = new Kernel({ cpus: 8 });
  assert.is(cat(a, "possible"), "0-1\n");
  assert.is(cat(b, "possible"), "0-7\n");
  assert.is(b.sysfs.ls(CPU).filter((n) => n.startsWith("cpu")).length, 8);
  assertAllClean(a);
  assertAllClean(b);
});

test.run();
