// SPDX-License-Identifier: GPL-2.0-only
/**
 * Test helpers for ts/shell/: a small loadable module with sysfs files that
 * exercise every path of the shell (sleeping stores, -errno shows, read-only
 * and write-only files, EBUSY on unload), independent of the real drivers.
 * Private to ts/shell/ tests.
 *
 * @module
 */

import { KernelError } from "../errors.ts";
import type { Kernel } from "../kernel/kernel.ts";
import { Kobject } from "../kernel/kobject.ts";
import { Mutex } from "../kernel/mutex.ts";
import { sleep } from "../kernel/sched.ts";
import type { SysfsAttribute, SysfsPage } from "../sysfs/sysfs.ts";
import { kstrtoul } from "../sysfs/kstrtox.ts";
import type { KernelModule } from "../drivers/module.ts";
import { KernelShell, type KernelShellOptions } from "./shell.ts";

interface FakeState {
  kobj: Kobject;
  lock: Mutex;
  depth: number;
  busy: boolean;
}

const EINVAL = -22;

/** /sys/fake_blk's files. */
const ATTRS: readonly SysfsAttribute<FakeState>[] = [
  { name: "depth", mode: 0o644, show: (s: FakeState, p: SysfsPage) => p.sprintf(`${s.depth}\n`), store: storeDepth },
  { name: "ro", mode: 0o444, show: (_s: FakeState, p: SysfsPage) => p.sprintf("ro\n") },
  { name: "wo", mode: 0o200, store: (_s: FakeState, buf: string) => buf.length },
  { name: "broken", mode: 0o644, show: () => -5, store: () => -19 },
  { name: "short", mode: 0o200, store: storeShort },
  { name: "warn", mode: 0o200, store: storeWarn },
  { name: "bug", mode: 0o200, store: storeBug },
];

/** Sleeps under the module's mutex, as blk-mq stores do under sysfs_lock; 0 is -EINVAL. */
function* storeDepth(s: FakeState, buf: string): Generator<unknown, number> {
  let v: number;
  try {
    v = kstrtoul(buf);
  } catch (e) {
    if (e instanceof KernelError) return e.errno;
    throw e;
  }
  if (v === 0) return EINVAL;
  yield* s.lock.lock("fake_depth_store");
  yield sleep(1_000_000);
  s.depth = v;
  s.lock.unlock("fake_depth_store");
  return buf.length;
}

/** Takes at most two bytes a write, and logs them. */
function storeShort(s: FakeState, buf: string): number {
  const n = Math.min(buf.length, 2);
  s.kobj.tree.log.printk("info", `fake_blk: short took ${JSON.stringify(buf.slice(0, n))}`);
  return n;
}

function storeWarn(s: FakeState, buf: string): number {
  s.kobj.tree.log.warn("drivers/block/fake_blk.c:warn_store", `fake_blk: told to warn: ${buf.trim()}`);
  return buf.length;
}

function storeBug(s: FakeState): number {
  return s.kobj.tree.log.bug("drivers/block/fake_blk.c:42");
}

/**
 * A module "fake_blk" with parameters `depth` (a positive integer, default
 * 64) and `busy` (1: rmmod fails with EBUSY); unknown parameters are warned
 * about and ignored, as v4.4's `load_module()` does. Loaded, it adds
 * /sys/fake_blk with the files of {@link ATTRS}.
 */
export function fakeModule(): KernelModule {
  let state: FakeState | null = null;
  return {
    name: "fake_blk",
    *init(k: Kernel, params: Record<string, string>) {
      if (state !== null) throw new KernelError("EEXIST", "load_module");
      let depth = 64;
      let busy = false;
      for (const [key, value] of Object.entries(params)) {
        if (key === "depth") {
          const v = /^\d+$/.test(value) ? Number(value) : 0;
          if (v === 0) {
            k.log.printk("err", `fake_blk: \`${value}' invalid for parameter \`depth'`);
            throw new KernelError("EINVAL", "parse_args");
          }
          depth = v;
        } else if (key === "busy") busy = value === "1";
        else k.log.printk("warning", `fake_blk: unknown parameter '${key}' ignored`);
      }
      yield sleep(10_000);
      const kobj = new Kobject(k.kobjects);
      kobj.initAndAdd({ release() {} }, null, "fake_blk");
      state = { kobj, lock: new Mutex(k.sched, "fake_lock"), depth, busy };
      k.sysfs.createFiles(kobj, state, ATTRS);
      k.log.printk("info", `fake_blk: module loaded, depth ${depth}`);
    },
    *exit(k: Kernel) {
      if (state === null) throw new KernelError("ENOENT", "delete_module");
      if (state.busy) throw new KernelError("EBUSY", "delete_module");
      yield* k.sysfs.kobjectDelSync(state.kobj);
      state.kobj.put();
      state = null;
      k.log.printk("info", "fake_blk: module unloaded");
    },
  };
}

/** A shell with fake_blk on a small machine; `run(text)` runs a script synchronously. */
export function fakeShell(opts: KernelShellOptions = {}): KernelShell {
  return new KernelShell({ cpus: 2, modules: [fakeModule()], ...opts });
}
