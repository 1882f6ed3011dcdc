// SPDX-License-Identifier: GPL-2.0-only
/**
 * The modules a shell can load, and which of them are loaded: what kmod
 * reads from /lib/modules and /sys/module before it calls into the kernel.
 * Private to ts/shell/.
 *
 * @module
 */

import type { Kernel } from "../kernel/kernel.ts";
import type { Sleepable } from "../kernel/sched.ts";
import type { KernelModule } from "../drivers/module.ts";
import { KernelError } from "../errors.ts";

/** kmod's `modname_normalize()`: `-` and `_` are the same in module names. */
export function normalizeModuleName(name: string): string {
  return name.replaceAll("-", "_");
}

/** The module registry of one shell (one machine). */
export class ModuleList {
  readonly #kernel: Kernel;
  readonly #known = new Map<string, KernelModule>();
  readonly #loaded = new Set<string>();

  /** @throws {TypeError} on a module without a name or init/exit, or two of one name */
  constructor(kernel: Kernel, modules: Iterable<KernelModule>) {
    this.#kernel = kernel;
    for (const m of modules) {
      if (typeof m?.name !== "string" || typeof m.init !== "function" || typeof m.exit !== "function") {
        throw new TypeError("ModuleList: a module needs name, init() and exit()");
      }
      const name = normalizeModuleName(m.name);
      if (this.#known.has(name)) throw new TypeError(`ModuleList: two modules named ${name}`);
      this.#known.set(name, m);
    }
  }

  /** The names modprobe can find, sorted. */
  names(): string[] {
    return [...this.#known.keys()].sort();
  }

  /** Whether a module of that name exists (`modprobe` would find it). */
  has(name: string): boolean {
    return this.#known.has(normalizeModuleName(name));
  }

  /** Whether it is loaded (`/sys/module/NAME` exists). */
  loaded(name: string): boolean {
    return this.#loaded.has(normalizeModuleName(name));
  }

  /**
   * Loads a module: `finit_module()` → `load_module()` → the module's init.
   * A module that reports EEXIST counts as loaded.
   *
   * @throws {RangeError} for a name the list does not know
   * @throws {KernelError} the init's error; the module stays unloaded
   */
  *load(name: string, params: Record<string, string>): Sleepable<void> {
    const n = normalizeModuleName(name);
    const m = this.#get(n);
    try {
      yield* m.init(this.#kernel, params) as Sleepable; // module code is task code
    } catch (e) {
      if (!(e instanceof KernelError && e.code === "EEXIST")) throw e;
    }
    this.#loaded.add(n);
  }

  /**
   * Unloads a module: `delete_module()` → the module's exit.
   *
   * @throws {RangeError} for a name the list does not know
   * @throws {KernelError} the exit's error (EBUSY while in use; the module stays loaded),
   *   or ENOENT when the module says it is not loaded
   */
  *unload(name: string): Sleepable<void> {
    const n = normalizeModuleName(name);
    const m = this.#get(n);
    try {
      yield* m.exit(this.#kernel) as Sleepable;
    } catch (e) {
      if (e instanceof KernelError && e.code === "ENOENT") this.#loaded.delete(n);
      throw e;
    }
    this.#loaded.delete(n);
  }

  #get(n: string): KernelModule {
    const m = this.#known.get(n);
    if (m === undefined) throw new RangeError(`no module named ${n}`);
    return m;
  }
}
