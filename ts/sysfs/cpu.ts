// SPDX-License-Identifier: GPL-2.0-only
/**
 * /sys/devices/system/cpu (drivers/base/cpu.c, drivers/base/core.c, v4.4 x86):
 * the `online`, `possible`, `present`, `offline` and `kernel_max` files of the
 * cpu subsystem, and a `cpuN/` directory per present CPU whose `online` file
 * runs CPU hotplug.
 *
 * Choices, as the v4.4 x86 kernel makes them:
 * - `cpu0/` has no `online` file: `arch_register_cpu()` leaves CPU 0 not
 *   hotpluggable (no CONFIG_BOOTPARAM_HOTPLUG_CPU0), so `register_cpu()`
 *   sets `offline_disabled` and `device_add_attrs()` skips the file;
 * - writes are parsed by `strtobool()` (first character y/Y/1 or n/N/0;
 *   anything else -EINVAL), as `online_store()` does in v4.4;
 * - `lock_device_hotplug_sysfs()` is a trylock of `device_hotplug_lock`; on
 *   contention it sleeps 5 ms and retries (the kernel restarts the syscall);
 * - writing the state a CPU is already in succeeds and changes nothing
 *   (`device_online()` / `device_offline()` return 1);
 * - a failed `cpu_up()` / `cpu_down()` is the write's error (EBUSY for the
 *   last online CPU or while hotplug is disabled, EINVAL, a notifier's errno).
 *
 * The directories are static: they follow the present mask at boot, and
 * `cpuN/online` reads the CPU's real state (the kernel's `dev->offline` is
 * only updated by sysfs writes; the port has no such stale state).
 *
 * @module
 */

import { KernelError } from "../errors.ts";
import type { Kernel } from "../kernel/kernel.ts";
import { type Cpus, NR_CPUS } from "../kernel/cpu.ts";
import { Mutex } from "../kernel/mutex.ts";
import { type Sleepable, sleep } from "../kernel/sched.ts";
import type { ReadonlyCpuMask } from "../kernel/cpu.ts";
import type { Sysfs, SysfsAttribute } from "./sysfs.ts";
import type { SysfsPage } from "./_page.ts";
import { strtobool } from "./kstrtox.ts";

/** Where the cpu subsystem's files live. */
export const CPU_SYSFS_PATH = "/sys/devices/system/cpu";

/** `lock_device_hotplug_sysfs()`'s back-off before the syscall restarts: 5 ms. */
const RESTART_NS = 5_000_000;

/** What a `cpuN/` attribute reads: one `struct cpu` device. */
export interface CpuDevice {
  readonly cpu: number;
  readonly k: Kernel;
  readonly deviceHotplugLock: Mutex;
}

/**
 * Mirrors `print_cpus_attr()` / `cpumap_print_to_pagebuf(true, ...)`: the
 * mask in cpulist form ("0,2-3") and a newline.
 */
function cpusAttr(name: string, mask: (cpus: Cpus) => ReadonlyCpuMask): SysfsAttribute<Cpus> {
  return { name, mode: 0o444, show: (cpus: Cpus, page: SysfsPage) => page.scnprintf(`${mask(cpus).toString()}\n`) };
}

/** Mirrors `print_cpus_offline()`: possible but not online (no CPUs beyond nr_cpu_ids on x86). */
function offlineShow(cpus: Cpus, page: SysfsPage): number {
  const list: number[] = [];
  for (const c of cpus.possibleMask) if (!cpus.onlineMask.test(c)) list.push(c);
  return page.scnprintf(`${cpulist(list)}\n`);
}

/** The cpulist form of ascending CPU numbers ("0,2-3"). */
function cpulist(cpus: readonly number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < cpus.length;) {
    let j = i;
    while (j + 1 < cpus.length && cpus[j + 1] === cpus[j] + 1) j++;
    parts.push(j === i ? `${cpus[i]}` : `${cpus[i]}-${cpus[j]}`);
    i = j + 1;
  }
  return parts.join(",");
}

/** The subsystem's own files (`cpu_root_attrs`), mode 0444. */
export const CPU_ROOT_ATTRS: readonly SysfsAttribute<Cpus>[] = [
  cpusAttr("online", (c) => c.onlineMask),
  cpusAttr("possible", (c) => c.possibleMask),
  cpusAttr("present", (c) => c.presentMask),
  { name: "offline", mode: 0o444, show: offlineShow },
  { name: "kernel_max", mode: 0o444, show: (_c: Cpus, page: SysfsPage) => page.sprintf(`${NR_CPUS - 1}\n`) },
];

/** Mirrors `online_show()` (drivers/base/core.c): `"%u\n"` of !offline. */
function onlineShow(dev: CpuDevice, page: SysfsPage): number {
  return page.sprintf(`${dev.k.cpus.cpuOnline(dev.cpu) ? 1 : 0}\n`);
}

/**
 * Mirrors `online_store()` (drivers/base/core.c, v4.4) with
 * `device_online()` / `device_offline()` and `cpu_subsys_online()` /
 * `cpu_subsys_offline()` (drivers/base/cpu.c): `cpu_up()` or `cpu_down()`.
 */
function* onlineStore(dev: CpuDevice, buf: string): Sleepable<number> {
  let on: boolean;
  try {
    on = strtobool(buf);
  } catch (e) {
    if (e instanceof KernelError) return e.errno;
    throw e;
  }
  while (!dev.deviceHotplugLock.trylock("lock_device_hotplug_sysfs")) yield sleep(RESTART_NS);
  let ret = 0;
  try {
    const { cpus, hotplug } = dev.k;
    if (cpus.cpuOnline(dev.cpu) === on) ret = 1;
    else yield* on ? hotplug.cpuUp(dev.cpu) : hotplug.cpuDown(dev.cpu);
  } catch (e) {
    if (!(e instanceof KernelError)) throw e;
    ret = e.errno;
  } finally {
    dev.deviceHotplugLock.unlock("unlock_device_hotplug");
  }
  return ret < 0 ? ret : new TextEncoder().encode(buf).length;
}

/** `dev_attr_online`: one attribute (one lockdep class) for every cpuN. */
export const CPU_ONLINE_ATTR: SysfsAttribute<CpuDevice> = { name: "online", mode: 0o644, show: onlineShow, store: onlineStore };

/**
 * Mirrors `cpu_dev_init()` + x86 `topology_init()` / `arch_register_cpu()`:
 * the subsystem files and one `cpuN/` per present CPU. Sysfs calls this.
 */
export function registerCpuSysfs(sysfs: Sysfs, k: Kernel): void {
  sysfs.createFilesAt(CPU_SYSFS_PATH, k.cpus, CPU_ROOT_ATTRS);
  const deviceHotplugLock = new Mutex(k.sched, "device_hotplug_lock");
  for (const cpu of k.cpus.presentMask) {
    const path = `${CPU_SYSFS_PATH}/cpu${cpu}`;
    if (cpu === 0) sysfs.mkdir(path);
    else sysfs.createFilesAt(path, { cpu, k, deviceHotplugLock }, [CPU_ONLINE_ATTR]);
  }
}
