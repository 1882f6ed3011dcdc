// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import { KernelError } from "../errors.ts";
import { KasanBug } from "../kernel/kasan.ts";
import { Kernel } from "../kernel/kernel.ts";
import { Kobject } from "../kernel/kobject.ts";
import { Mutex } from "../kernel/mutex.ts";
import { sleep } from "../kernel/sched.ts";
import { HCTX_PENDING_HEADER } from "./_format.ts";
import { assertAllClean, code, drive, inTask } from "./_test_helpers.ts";
import { type SysfsAttribute, sysfsListShow, sysfsListShowUnfixed, type SysfsPage } from "./sysfs.ts";

const NOP = { release() {} };

/** A kobject added under `parent` (null: top level). */
function kobj(k: Kernel, parent: Kobject | null, name: string): Kobject {
  const o = new Kobject(k.kobjects);
  o.initAndAdd(NOP, parent, name);
  return o;
}

function gone(o: Kobject): void {
  o.del();
  o.put();
}

interface Counter {
  n: number;
}

const VALUE: SysfsAttribute<Counter> = { name: "value", mode: 0o644, show: (o, p) => p.sprintf(`${o.n}\n`), store: (o, b) => ((o.n = Number(b)), b.length) };
const RO: SysfsAttribute<Counter> = { name: "ro", mode: 0o444, show: (o, p) => p.sprintf(`${o.n}\n`), store: () => 1 };
const WO: SysfsAttribute<Counter> = { name: "wo", mode: 0o200, show: () => 0, store: (_o, b) => b.length };
const NO_SHOW: SysfsAttribute<Counter> = { name: "no_show", mode: 0o644 };

test("a kobject's directory appears at add and disappears at del, with its subtree", () => {
  const k = new Kernel();
  const top = kobj(k, null, "demo");
  const child = kobj(k, top, "0");
  const grand = kobj(k, child, "cpu1");
  assert.ok(k.sysfs.ls("/sys").includes("demo"));
  assert.equal(k.sysfs.ls("/sys/demo"), ["0"]);
  assert.equal(k.sysfs.ls("/sys/demo/0/"), ["cpu1"]);
  assert.equal(k.sysfs.stat("/sys/demo/0/cpu1"), { kind: "dir", mode: 0o755 });
  grand.del();
  assert.equal(k.sysfs.ls("/sys/demo/0"), []);
  kobj(k, child, "cpu2").put(); // added, then the last put implies del
  assert.equal(k.sysfs.ls("/sys/demo/0"), []);
  child.del();
  assert.is(code(() => k.sysfs.ls("/sys/demo/0")), "ENOENT");
  grand.put();
  child.put();
  gone(top);
  assert.not.ok(k.sysfs.ls("/sys").includes("demo"));
  assertAllClean(k);
});

test("deleting a parent removes the children's directories too; their own del is then a no-op", () => {
  const k = new Kernel();
  const top = kobj(k, null, "demo");
  const child = kobj(k, top, "0");
  k.sysfs.createFiles(child, { n: 1 }, [VALUE]);
  top.del();
  assert.is(code(() => k.sysfs.ls("/sys/demo")), "ENOENT");
  gone(child);
  top.put();
  assertAllClean(k);
});

test("ls() lists files and directories sorted; a file lists itself; a missing path is ENOENT", () => {
  const k = new Kernel();
  const top = kobj(k, null, "demo");
  const sub = kobj(k, top, "m");
  k.sysfs.createFiles(top, { n: 0 }, [VALUE, RO, WO]);
  assert.equal(k.sysfs.ls("/sys/demo"), ["m", "ro", "value", "wo"]);
  assert.equal(k.sysfs.ls("/sys/demo/ro"), ["ro"]);
  assert.equal(k.sysfs.ls("/sys/demo/m/../."), ["m", "ro", "value", "wo"]);
  assert.equal(k.sysfs.ls("/"), ["sys"]);
  assert.equal(k.sysfs.stat("/sys/demo/wo"), { kind: "file", mode: 0o200 });
  for (const p of ["/sys/nope", "/sys/demo/nope", "/sys/demo/m/x", "/proc"]) assert.is(code(() => k.sysfs.ls(p)), "ENOENT", p);
  assert.is(code(() => k.sysfs.ls("/sys/demo/ro/x")), "ENOTDIR");
  assert.throws(() => k.sysfs.ls("sys/demo"), RangeError);
  gone(sub);
  gone(top);
  assertAllClean(k);
});

test("read() runs show on a fresh page and write() passes the buffer as written", () => {
  const k = new Kernel();
  const top = kobj(k, null, "demo");
  const obj = { n: 7 };
  k.sysfs.createFiles(top, obj, [VALUE]);
  assert.is(drive(k.sysfs.read("/sys/demo/value")), "7\n");
  let seen = "";
  const spy: SysfsAttribute<Counter> = { name: "spy", mode: 0o200, store: (_o, b) => ((seen = b), 3) };
  k.sysfs.createFiles(top, obj, [spy]);
  assert.is(drive(k.sysfs.write("/sys/demo/spy", "12\n")), 3, "the store's return is the result");
  assert.is(seen, "12\n");
  assert.is(drive(k.sysfs.write("/sys/demo/value", "42\n")), 3);
  assert.is(drive(k.sysfs.read("/sys/demo/value")), "42\n");
  gone(top);
  assertAllClean(k);
});

test("an empty write returns 0 without calling store; a write is cut at PAGE_SIZE bytes", () => {
  const k = new Kernel();
  const top = kobj(k, null, "demo");
  const bufs: string[] = [];
  const spy: SysfsAttribute<null> = { name: "spy", mode: 0o200, store: (_o, b) => (bufs.push(b), b.length) };
  k.sysfs.createFiles(top, null, [spy]);
  assert.is(drive(k.sysfs.write("/sys/demo/spy", "")), 0);
  assert.is(drive(k.sysfs.write("/sys/demo/spy", "y".repeat(5000))), 4096);
  assert.equal(bufs.map((b) => b.length), [4096]);
  gone(top);
  assertAllClean(k);
});

test("a store returning 0 makes the write return 0 (the caller decides whether to retry)", () => {
  const k = new Kernel();
  const top = kobj(k, null, "demo");
  let calls = 0;
  const lazy: SysfsAttribute<null> = { name: "lazy", mode: 0o200, store: () => (calls++, 0) };
  k.sysfs.createFiles(top, null, [lazy]);
  assert.is(drive(k.sysfs.write("/sys/demo/lazy", "1\n")), 0);
  assert.is(calls, 1);
  gone(top);
  assertAllClean(k);
});

test("permission bits decide at open: write to 0444 and read of 0200 are EACCES; a directory is EISDIR", () => {
  const k = new Kernel();
  const top = kobj(k, null, "demo");
  k.sysfs.createFiles(top, { n: 0 }, [RO, WO]);
  const e = (fn: () => unknown) => {
    try {
      fn();
    } catch (err) {
      assert.instance(err, KernelError);
      return { code: (err as KernelError).code as string, errno: (err as KernelError).errno, op: (err as KernelError).op };
    }
    return null;
  };
  assert.equal(e(() => drive(k.sysfs.write("/sys/demo/ro", "1\n"))), { code: "EACCES", errno: -13, op: "kernfs_fop_open" });
  assert.equal(e(() => drive(k.sysfs.read("/sys/demo/wo"))), { code: "EACCES", errno: -13, op: "kernfs_fop_open" });
  assert.equal(e(() => drive(k.sysfs.read("/sys/demo"))), { code: "EISDIR", errno: -21, op: "generic_read_dir" });
  assert.is(code(() => drive(k.sysfs.write("/sys/demo", "1"))), "EISDIR");
  assert.is(code(() => drive(k.sysfs.read("/sys/demo/missing"))), "ENOENT");
  assert.is(code(() => drive(k.sysfs.write("/sys/demo/missing", "1"))), "ENOENT");
  gone(top);
  assertAllClean(k);
});

test("a readable file without show and a writable one without store are EIO", () => {
  const k = new Kernel();
  const top = kobj(k, null, "demo");
  k.sysfs.createFiles(top, { n: 0 }, [NO_SHOW]);
  for (const fn of [() => drive(k.sysfs.read("/sys/demo/no_show")), () => drive(k.sysfs.write("/sys/demo/no_show", "1"))]) {
    try {
      fn();
      assert.unreachable();
    } catch (e) {
      assert.instance(e, KernelError);
      assert.is((e as KernelError).code, "EIO");
    }
  }
  gone(top);
  assertAllClean(k);
});

test("a -errno from show or store is a KernelError named after the attribute", () => {
  const k = new Kernel();
  const top = kobj(k, null, "demo");
  const dying: SysfsAttribute<null> = { name: "nr_requests", mode: 0o644, show: () => -2, store: () => -22 };
  k.sysfs.createFiles(top, null, [dying]);
  for (const [fn, c, op] of [
    [() => drive(k.sysfs.read("/sys/demo/nr_requests")), "ENOENT", "nr_requests_show"],
    [() => drive(k.sysfs.write("/sys/demo/nr_requests", "8\n")), "EINVAL", "nr_requests_store"],
  ] as const) {
    try {
      fn();
      assert.unreachable();
    } catch (e) {
      assert.instance(e, KernelError);
      assert.is((e as KernelError).code, c);
      assert.is((e as KernelError).op, op);
    }
  }
  assert.is(k.sysfs.activeRefs("/sys/demo/nr_requests"), 0);
  gone(top);
  assertAllClean(k);
});

test("a show returning PAGE_SIZE or more is fill_read_buffer's bad count: a WARN and 4095 bytes", () => {
  const k = new Kernel({ variant: "release" });
  const top = kobj(k, null, "demo");
  const pending: SysfsAttribute<number[]> = { name: "pending", mode: 0o444, show: (rqs, p) => sysfsListShowUnfixed(p, HCTX_PENDING_HEADER, rqs) };
  k.sysfs.createFiles(top, Array.from({ length: 300 }, (_, i) => 0x41a00 + 0x100 * i), [pending]);
  const text = drive(k.sysfs.read("/sys/demo/pending"));
  assert.is(text.length, 4095);
  assert.ok(text.startsWith("HCTX pending:\n\t0000000000041a00\n"));
  const log = k.log.text();
  assert.ok(log.includes("fill_read_buffer: pending_show returned bad count"), log);
  assert.ok(log.includes("WARNING: CPU: 0 PID: 0 at fs/sysfs/file.c:sysfs_kf_seq_show"), log);
  assert.not.ok(log.includes("KASAN"));
  gone(top);
  k.slab.shrink();
  assert.is(k.slab.nrPagesUsed, 0);
  assert.is(k.liveObjects(), 0);
});

test("the unfixed pending list is a KASAN report from read() in the debug build; page and reference are released", () => {
  const k = new Kernel();
  const top = kobj(k, null, "demo");
  const pending: SysfsAttribute<number[]> = { name: "pending", mode: 0o444, show: (rqs, p) => sysfsListShowUnfixed(p, HCTX_PENDING_HEADER, rqs) };
  k.sysfs.createFiles(top, Array.from({ length: 300 }, (_, i) => 0x41a00 + 0x100 * i), [pending]);
  assert.throws(() => drive(k.sysfs.read("/sys/demo/pending")), (e: unknown) => e instanceof KasanBug && e.report.kind === "out-of-bounds");
  assert.ok(k.log.text().includes("BUG: KASAN: out-of-bounds in vsnprintf"));
  assert.is(k.sysfs.activeRefs("/sys/demo/pending"), 0);
  gone(top);
  k.slab.shrink();
  assert.is(k.slab.nrPagesUsed, 0);
  assert.is(k.liveObjects(), 0);
});

test("the fixed pending list reads 4087 bytes for 300 requests and the kernel stays clean", () => {
  const k = new Kernel();
  const top = kobj(k, null, "demo");
  const pending: SysfsAttribute<number[]> = { name: "pending", mode: 0o444, show: (rqs, p) => sysfsListShow(p, HCTX_PENDING_HEADER, rqs) };
  k.sysfs.createFiles(top, Array.from({ length: 300 }, (_, i) => 0x41a00 + 0x100 * i), [pending]);
  const text = drive(k.sysfs.read("/sys/demo/pending"));
  assert.is(text.length, 4087);
  assert.ok(text.endsWith("\t...\n"));
  gone(top);
  assertAllClean(k);
});

test("createFiles() is all or nothing: a taken name is sysfs_warn_dup's WARN and EEXIST", () => {
  const k = new Kernel();
  const top = kobj(k, null, "demo");
  kobj(k, top, "value").put(); // a directory named "value" exists... until this put
  const sub = kobj(k, top, "sub");
  const other: SysfsAttribute<Counter> = { name: "other", mode: 0o444, show: () => 0 };
  const clash: SysfsAttribute<Counter> = { name: "sub", mode: 0o444, show: () => 0 };
  assert.is(code(() => k.sysfs.createFiles(top, { n: 0 }, [other, clash])), "EEXIST");
  assert.equal(k.sysfs.ls("/sys/demo"), ["sub"]);
  assert.ok(k.log.text().includes("sysfs: cannot create duplicate filename '/demo/sub'"), k.log.text());
  gone(sub);
  gone(top);
  assert.is(k.liveObjects(), 0);
});

test("createFiles() on a kobject without a directory WARNs and fails with EINVAL", () => {
  const k = new Kernel();
  const o = new Kobject(k.kobjects);
  o.init(NOP);
  assert.is(code(() => k.sysfs.createFiles(o, { n: 0 }, [VALUE])), "EINVAL");
  assert.ok(k.log.text().includes("WARN_ON(!kobj || !kobj->sd || !attr)"));
  o.put();
  assert.is(k.liveObjects(), 0);
});

test("removeFiles() removes by name and ignores names that are not there", () => {
  const k = new Kernel();
  const top = kobj(k, null, "demo");
  k.sysfs.createFiles(top, { n: 0 }, [VALUE, RO]);
  k.sysfs.removeFiles(top, [RO, WO]);
  assert.equal(k.sysfs.ls("/sys/demo"), ["value"]);
  k.sysfs.createFiles(top, { n: 0 }, [RO]);
  assert.equal(k.sysfs.ls("/sys/demo"), ["ro", "value"]);
  gone(top);
  assertAllClean(k);
});

test("removeFiles() after the directory is gone is kernfs's \"no directory\" WARN", () => {
  const k = new Kernel();
  const top = kobj(k, null, "demo");
  k.sysfs.createFiles(top, { n: 0 }, [VALUE]);
  top.del();
  k.sysfs.removeFiles(top, [VALUE]);
  assert.ok(k.log.text().includes("kernfs: can not remove 'value', no directory"));
  top.put();
  assert.is(k.liveObjects(), 0);
});

test("a top-level kobject named like a static directory fails to add with EEXIST", () => {
  const k = new Kernel();
  const o = new Kobject(k.kobjects);
  o.init(NOP);
  assert.is(code(() => o.add(null, "devices")), "EEXIST");
  assert.ok(k.log.text().includes("sysfs: cannot create duplicate filename '/devices'"));
  o.put();
  assert.is(k.liveObjects(), 0);
});

test("mount() places a parentless kobject's directory, before or after it is added", () => {
  const k = new Kernel();
  const bus = new Kobject(k.kobjects);
  bus.init(NOP);
  k.sysfs.mount(bus, "/sys/class/demo_bus");
  bus.add(null, "demo_bus");
  const dev = kobj(k, bus, "dev0");
  assert.equal(k.sysfs.ls("/sys/class/demo_bus"), ["dev0"]);
  assert.not.ok(k.sysfs.ls("/sys").includes("demo_bus"));
  k.sysfs.mount(bus, "/sys/bus/demo");
  assert.equal(k.sysfs.ls("/sys/bus/demo"), ["dev0"]);
  assert.equal(k.sysfs.ls("/sys/class"), [], "the static parent stays");
  const other = kobj(k, null, "other");
  assert.is(code(() => k.sysfs.mount(other, "/sys/bus/demo")), "EEXIST");
  assert.throws(() => k.sysfs.mount(dev, "/sys/dev"), TypeError);
  assert.throws(() => k.sysfs.mount(bus, "/proc/demo"), RangeError);
  assert.throws(() => k.sysfs.mount(bus, "/sys/bus/demo/dev0/x"), RangeError);
  gone(other);
  gone(dev);
  bus.del();
  assert.is(code(() => k.sysfs.ls("/sys/bus/demo")), "ENOENT");
  bus.add(null, "demo_bus");
  assert.equal(k.sysfs.ls("/sys/bus/demo"), [], "the mount lasts for the kobject's lifetime");
  gone(bus);
  assertAllClean(k);
});

test("mkdir() and createFilesAt() build static trees; an attribute per definition is one lockdep class", () => {
  const k = new Kernel();
  k.sysfs.createFilesAt("/sys/kernel/demo/a", { n: 1 }, [VALUE]);
  k.sysfs.createFilesAt("/sys/kernel/demo/b", { n: 2 }, [VALUE]);
  k.sysfs.mkdir("/sys/kernel/demo/c");
  assert.equal(k.sysfs.ls("/sys/kernel/demo"), ["a", "b", "c"]);
  assert.is(drive(k.sysfs.read("/sys/kernel/demo/b/value")), "2\n");
  assert.ok(k.sysfs.lockClassOf(VALUE as SysfsAttribute<never>)?.name.startsWith("s_active"));
  assert.is(code(() => k.sysfs.mkdir("/sys/kernel/demo/a/value")), "EEXIST");
  assertAllClean(k);
});

/** A show that sleeps `ns` before printing, to hold its active reference across a yield. */
function slowAttr(ns: number, log: string[]): SysfsAttribute<null> {
  return {
    name: "slow",
    mode: 0o444,
    *show(_o: null, p: SysfsPage) {
      log.push("show begins");
      yield sleep(ns);
      log.push("show ends");
      return p.sprintf("done\n");
    },
  };
}

test("kobjectDelSync() waits for a show in progress, and the file vanishes for new readers at once", () => {
  const k = new Kernel({ cpus: 2 });
  const top = kobj(k, null, "demo");
  const events: string[] = [];
  k.sysfs.createFiles(top, null, [slowAttr(1_000_000, events)]);
  let text = "";
  k.sched.spawn("cat", function* () {
    text = yield* k.sysfs.read("/sys/demo/slow");
  });
  k.sched.spawn("rm", function* () {
    while (k.sysfs.activeRefs("/sys/demo/slow") === 0) yield;
    yield* k.sysfs.kobjectDelSync(top);
    events.push("deleted");
  });
  k.sched.spawn("late", function* () {
    while (events.length === 0) yield;
    yield sleep(1000);
    events.push(`late reader: ${code(() => drive(k.sysfs.read("/sys/demo/slow")))}`);
  });
  assert.is(k.run().kind, "done");
  assert.is(text, "done\n");
  assert.equal(events, ["show begins", "late reader: ENOENT", "show ends", "deleted"]);
  top.put();
  assertAllClean(k);
});

test("removeFilesSync() waits too; the synchronous removeFiles() cannot and WARNs", () => {
  const k = new Kernel();
  const top = kobj(k, null, "demo");
  const events: string[] = [];
  const slow = slowAttr(1_000_000, events);
  k.sysfs.createFiles(top, null, [slow]);
  k.sched.spawn("cat", function* () {
    yield* k.sysfs.read("/sys/demo/slow");
  });
  k.sched.spawn("rm", function* () {
    while (k.sysfs.activeRefs("/sys/demo/slow") === 0) yield;
    yield* k.sysfs.removeFilesSync(top, [slow]);
    events.push("removed");
  });
  assert.is(k.run().kind, "done");
  assert.equal(events, ["show begins", "show ends", "removed"]);
  assert.ok(k.log.isClean());

  k.sysfs.createFiles(top, null, [slow]);
  k.sched.spawn("cat", function* () {
    yield* k.sysfs.read("/sys/demo/slow");
  });
  k.sched.spawn("rm", function* () {
    while (k.sysfs.activeRefs("/sys/demo/slow") === 0) yield;
    k.sysfs.removeFiles(top, [slow]);
  });
  assert.is(k.run().kind, "done");
  assert.ok(k.log.text().includes("kernfs: removing '/demo/slow' with 1 active reference"), k.log.text());
  gone(top);
  assert.is(k.liveObjects(), 0);
});

/**
 * 60de074ba1 in miniature: the v4.1.5 cpu_list show takes all_q_mutex; the
 * hotplug reinit holds all_q_mutex while it removes the hctx directory.
 */
function cpuListDeadlock(k: Kernel, raceWindow: boolean) {
  const allQ = new Mutex(k.sched, "all_q_mutex");
  const hctx = kobj(k, null, "hctx");
  const cpuList: SysfsAttribute<null> = {
    name: "cpu_list",
    mode: 0o444,
    *show(_o: null, p: SysfsPage) {
      yield* allQ.lock("blk_mq_hw_sysfs_cpus_show");
      const n = p.sprintf("0, 1\n");
      allQ.unlock("blk_mq_hw_sysfs_cpus_show");
      return n;
    },
  };
  k.sysfs.createFiles(hctx, null, [cpuList]);
  // With the race window, the reader opens cpu_list while reinit holds all_q_mutex;
  // without it, the reader is long done when reinit starts.
  k.sched.spawn("cat", function* () {
    if (raceWindow) yield sleep(1000);
    yield* k.sysfs.read("/sys/hctx/cpu_list");
  });
  k.sched.spawn("cpuhp", function* () {
    if (!raceWindow) yield sleep(1_000_000);
    yield* allQ.lock("blk_mq_queue_reinit_notify");
    for (let i = 0; raceWindow && i < 10 && k.sysfs.activeRefs("/sys/hctx/cpu_list") === 0; i++) yield sleep(1000);
    yield* k.sysfs.kobjectDelSync(hctx);
    allQ.unlock("blk_mq_queue_reinit_notify");
  });
  return { hctx, cpuList };
}

test("60de074ba1: a show taking all_q_mutex against removal under all_q_mutex hangs, and lockdep says why", () => {
  const k = new Kernel({ cpus: 2, seed: 7 });
  const { hctx, cpuList } = cpuListDeadlock(k, true);
  const r = k.run();
  assert.is(r.kind, "hang");
  assert.equal(r.hung.map((h) => `${h.comm} ${h.waitPoint}`).sort(), ["cat mutex_lock(all_q_mutex)", "cpuhp kernfs_drain"]);
  const log = k.log.text();
  const sActive = k.sysfs.lockClassOf(cpuList as SysfsAttribute<never>)!.name;
  assert.ok(log.includes("WARNING: possible circular locking dependency detected"), log);
  assert.ok(log.includes(`lock(${sActive});`) && log.includes("lock(all_q_mutex);"), log);
  assert.ok(log.includes("INFO: task cpuhp:2 blocked for more than 120 seconds."), log);
  // Tear down what the stuck tasks hold: the directory goes without its drain.
  gone(hctx);
  assert.is(k.liveObjects(), 0);
});

test("60de074ba1: lockdep reports the inversion even when the reader finished before the removal", () => {
  const k = new Kernel({ cpus: 2, seed: 7 });
  const { hctx } = cpuListDeadlock(k, false);
  assert.is(k.run().kind, "done");
  assert.is(k.lockdep.reportCount(), 1);
  assert.ok(k.log.text().includes("WARNING: possible circular locking dependency detected"));
  assert.ok(k.log.text().includes("kernfs_drain"));
  hctx.put();
  assert.is(k.liveObjects(), 0);
  k.slab.shrink();
  assert.is(k.slab.nrPagesUsed, 0);
});

test("the 60de074ba1 fix (the show takes only the queue's sysfs_lock) is quiet", () => {
  const k = new Kernel({ cpus: 2, seed: 7 });
  const allQ = new Mutex(k.sched, "all_q_mutex");
  const sysfsLock = new Mutex(k.sched, "&q->sysfs_lock");
  const hctx = kobj(k, null, "hctx");
  const cpuList: SysfsAttribute<null> = {
    name: "cpu_list",
    mode: 0o444,
    *show(_o: null, p: SysfsPage) {
      yield* sysfsLock.lock("blk_mq_hw_sysfs_show");
      yield sleep(1000);
      const n = p.sprintf("0, 1\n");
      sysfsLock.unlock("blk_mq_hw_sysfs_show");
      return n;
    },
  };
  k.sysfs.createFiles(hctx, null, [cpuList]);
  let text = "";
  k.sched.spawn("cat", function* () {
    text = yield* k.sysfs.read("/sys/hctx/cpu_list");
  });
  k.sched.spawn("cpuhp", function* () {
    yield* allQ.lock("blk_mq_queue_reinit_notify");
    while (k.sysfs.activeRefs("/sys/hctx/cpu_list") === 0) yield;
    yield* sysfsLock.lock("blk_mq_map_swqueue");
    sysfsLock.unlock("blk_mq_map_swqueue");
    yield* k.sysfs.kobjectDelSync(hctx);
    allQ.unlock("blk_mq_queue_reinit_notify");
  });
  assert.is(k.run().kind, "done");
  assert.is(text, "0, 1\n");
  hctx.put();
  assertAllClean(k);
});

test("a store that removes its own file waits for itself: lockdep's recursive locking, then a hang", () => {
  const k = new Kernel();
  const top = kobj(k, null, "demo");
  const del: SysfsAttribute<Kobject> = {
    name: "delete",
    mode: 0o200,
    *store(o: Kobject, b: string) {
      yield* k.sysfs.kobjectDelSync(o);
      return b.length;
    },
  };
  k.sysfs.createFiles(top, top, [del]);
  k.sched.spawn("sh", function* () {
    yield* k.sysfs.write("/sys/demo/delete", "1\n");
  });
  assert.is(k.run().kind, "hang");
  assert.ok(k.log.text().includes("WARNING: possible recursive locking detected"), k.log.text());
  gone(top);
  assert.is(k.liveObjects(), 0);
});

test("sysfs errors are ordinary KernelErrors with a stable errno", () => {
  const k = new Kernel();
  try {
    drive(k.sysfs.read("/sys/nope"));
    assert.unreachable();
  } catch (e) {
    assert.instance(e, KernelError);
    assert.is((e as KernelError).code, "ENOENT");
    assert.is((e as KernelError).errno, -2);
    assert.is((e as KernelError).op, "kernfs_iop_lookup");
  }
  assert.is(inTask(k, () => k.sysfs.read("/sys/devices/system/cpu/possible")), "0-3\n");
  assertAllClean(k);
});

test.run();
