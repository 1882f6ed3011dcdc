// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { KernelModule } from "../drivers/module.ts";
import { KernelError } from "../errors.ts";
import { Kernel } from "../kernel/kernel.ts";
import { type Sleepable, sleep } from "../kernel/sched.ts";
import { ModuleList } from "./_modules.ts";

/** A module whose init and exit sleep 1 ms; counts how often each ran and can fail its init. */
function slowModule(failInit = false) {
  const calls = { init: 0, exit: 0, live: 0 };
  const m: KernelModule = {
    name: "slow",
    *init() {
      calls.init++;
      yield sleep(1e6);
      if (failInit) throw new KernelError("ENOMEM", "slow_init");
      if (calls.live !== 0) throw new Error("init of a live module");
      calls.live++;
    },
    *exit() {
      calls.exit++;
      yield sleep(1e6);
      if (calls.live !== 1) throw new Error("exit of a module that is not live");
      calls.live--;
    },
  };
  return { m, calls };
}

/** Runs `bodies` as tasks, task i starting after i µs; returns each one's error code or "ok". */
function race(k: Kernel, bodies: (() => Sleepable<void>)[]): string[] {
  const out: string[] = bodies.map(() => "");
  bodies.forEach((b, i) =>
    k.sched.spawn(`t${i}`, function* () {
      if (i > 0) yield sleep(i * 1000);
      try {
        yield* b();
        out[i] = "ok";
      } catch (e) {
        if (!(e instanceof KernelError)) throw e;
        out[i] = e.code;
      }
    })
  );
  k.run();
  return out;
}

test("ModuleList: two concurrent unloads run the exit once; the second is EBUSY while the module is going", () => {
  const k = new Kernel({ cpus: 2 });
  const { m, calls } = slowModule();
  const l = new ModuleList(k, [m]);
  assert.equal(race(k, [() => l.load("slow", {})]), ["ok"]);
  assert.is(l.state("slow"), "live");
  assert.equal(race(k, [() => l.unload("slow"), () => l.unload("slow")]), ["ok", "EBUSY"]);
  assert.equal([calls.exit, l.state("slow"), l.loaded("slow")], [1, undefined, false]);
  k.assertClean();
});

test("ModuleList: a load while another is coming waits for it, then fails with EEXIST", () => {
  const k = new Kernel({ cpus: 2 });
  const { m, calls } = slowModule();
  const l = new ModuleList(k, [m]);
  assert.equal(race(k, [() => l.load("slow", {}), () => l.load("slow", {})]), ["ok", "EEXIST"]);
  assert.equal([calls.init, l.state("slow")], [1, "live"]);
  assert.equal(race(k, [() => l.unload("slow")]), ["ok"]);
  k.assertClean();
});

test("ModuleList: a load waiting for a coming module whose init fails loads it itself", () => {
  const k = new Kernel({ cpus: 2 });
  let n = 0;
  const m: KernelModule = {
    name: "flaky",
    *init() {
      yield sleep(1e6);
      if (n++ === 0) throw new KernelError("ENOMEM", "flaky_init");
    },
    *exit() {},
  };
  const l = new ModuleList(k, [m]);
  assert.equal(race(k, [() => l.load("flaky", {}), () => l.load("flaky", {})]), ["ENOMEM", "ok"]);
  assert.is(l.state("flaky"), "live");
  k.assertClean();
});

test("ModuleList: an unload while the module is coming is EBUSY; a load while it is going is EEXIST", () => {
  const k = new Kernel({ cpus: 2 });
  const { m, calls } = slowModule();
  const l = new ModuleList(k, [m]);
  assert.equal(race(k, [() => l.load("slow", {}), () => l.unload("slow")]), ["ok", "EBUSY"]);
  assert.is(l.loaded("slow"), true);
  assert.equal(race(k, [() => l.unload("slow"), () => l.load("slow", {})]), ["ok", "EEXIST"]);
  assert.equal([calls.init, calls.exit, l.state("slow")], [1, 1, undefined]);
  assert.equal(race(k, [() => l.unload("slow")]), ["ENOENT"]);
  k.assertClean();
});

test("ModuleList: an exit that refuses (EBUSY, in use) leaves the module live", () => {
  const k = new Kernel({ cpus: 2 });
  const m: KernelModule = {
    name: "busy",
    *init() {},
    *exit() {
      throw new KernelError("EBUSY", "busy_exit");
    },
  };
  const l = new ModuleList(k, [m]);
  assert.equal(race(k, [() => l.load("busy", {}), () => l.unload("busy")]), ["ok", "EBUSY"]);
  assert.is(l.state("busy"), "live");
  k.assertClean();
});

test.run();
