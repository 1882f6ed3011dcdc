// SPDX-License-Identifier: GPL-2.0-only
/**
 * Loadable modules: what `insmod`/`modprobe` and `rmmod` call
 * (`struct module`'s init and exit, include/linux/module.h). The kernel
 * shell keeps the list of modules and which are loaded; each module keeps
 * its own per-machine state and refuses a second load (EEXIST) or an
 * unload while not loaded (ENOENT), as `load_module()` / `delete_module()` do.
 *
 * @module
 */

import type { Kernel } from "../kernel/kernel.ts";

/**
 * A loadable module. Both methods are generators run by a task (they may
 * sleep); each throws a {@link KernelError} where the kernel returns -errno.
 *
 * @example
 * k.sched.spawn("modprobe", function* () { yield* nullBlkModule.init(k, { nr_devices: "1" }); });
 * k.run();
 */
export interface KernelModule {
  /** The module name, as `lsmod` shows it (e.g. "null_blk"). */
  readonly name: string;
  /** `module_init()` after `parse_args()` of `params` (name → value as given; "" for a bare name). */
  init(kernel: Kernel, params: Record<string, string>): Generator<unknown, void>;
  /** `module_exit()`. */
  exit(kernel: Kernel): Generator<unknown, void>;
}
