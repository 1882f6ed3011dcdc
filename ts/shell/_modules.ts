// SPDX-License-Identifier: GPL-2.0-only
/**
 * The modules a shell can load, and which of them are loaded: what kmod
 * reads from /lib/modules and /sys/module before it calls into the kernel,
 * and the kernel's side of loading and unloading (kernel/module.c): each
 * module's `enum module_state` and `module_wq`, so that loads and unloads
 * racing from several tasks are serialized as `load_module()` and
 * `delete_module()` serialize them. Private to ts/shell/.
 *
 * @module
 */

import type { Kernel } from "../kernel/kernel.ts";
import { type Sleepable, WaitQueue } from "../kernel/sched.ts";
import type { KernelModule } from "../drivers/module.ts";
import { KernelError } from "../errors.ts";

/** kmod's `modname_normalize()`: `-` and `_` are the same in module names. */
export function normalizeModuleName(name: string): string {
  return name.replaceAll("-", "_");
}

/**
 * Mirrors `enum module_state` (include/linux/module.h) for a module in the
 * kernel's list: "coming" while its init runs (`MODULE_STATE_COMING`; the
 * port folds `MODULE_STATE_UNFORMED` into it), "live" once it returned,
 * "going" while its exit runs. A module not in the list has no state.
 */
export type ModuleState = "coming" | "live" | "going";

/** The module registry of one shell (one machine). */
export class ModuleList {
  readonly #kernel: Kernel;
  readonly #known = new Map<string, KernelModule>();
  /** The kernel's `modules` list: name → state. */
  readonly #state = new Map<string, ModuleState>();
  /** Mirrors `module_wq`: loads waiting for a module that is coming. */
  readonly #wq: WaitQueue;

  /** @throws {TypeError} on a module without a name or init/exit, or two of one name */
  constructor(kernel: Kernel, modules: Iterable<KernelModule>) {
    this.#kernel = kernel;
    this.#wq = new WaitQueue(kernel.sched, "module_wq");
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

  /**
   * Whether it is in the kernel as kmod's `module_is_inkernel()` sees it:
   * live, or coming (its init is running).
   */
  loaded(name: string): boolean {
    const st = this.#state.get(normalizeModuleName(name));
    return st === "live" || st === "coming";
  }

  /** Its `/sys/module/NAME/initstate`, or undefined when it is not in the kernel. */
  state(name: string): ModuleState | undefined {
    return this.#state.get(normalizeModuleName(name));
  }

  /**
   * Loads a module: `finit_module()` → `load_module()` → the module's init.
   * As `add_unformed_module()`: while another load of it is coming, wait on
   * `module_wq` for that load to finish, then look again; a live or going
   * module fails with EEXIST. A
   * module whose init reports EEXIST (loaded through another list) counts
   * as live.
   *
   * @throws {RangeError} for a name the list does not know
   * @throws {KernelError} EEXIST when it is live or going; the init's error
   *   (the module leaves the list, and waiting loads try again)
   */
  *load(name: string, params: Record<string, string>): Sleepable<void> {
    const n = normalizeModuleName(name);
    const m = this.#get(n);
    while (this.#state.get(n) === "coming") {
      // finished_loading(): gone, live or going.
      yield* this.#wq.waitEventInterruptible(() => this.#state.get(n) !== "coming", "add_unformed_module");
    }
    if (this.#state.has(n)) throw new KernelError("EEXIST", "load_module", `${n} is ${this.#state.get(n)}`);
    this.#state.set(n, "coming");
    try {
      yield* m.init(this.#kernel, params) as Sleepable; // module code is task code
    } catch (e) {
      if (!(e instanceof KernelError && e.code === "EEXIST")) {
        this.#state.delete(n); // do_init_module()'s failure path: free_module()
        this.#wq.wakeUpAll();
        throw e;
      }
    }
    this.#state.set(n, "live");
    this.#wq.wakeUpAll();
  }

  /**
   * Unloads a module: `delete_module()` → the module's exit. Only a live
   * module goes: one not in the list is ENOENT, one coming or already going
   * is EBUSY (the kernel's "already dying"). While the exit runs the module
   * is going, so a second rmmod cannot run it again.
   *
   * @throws {RangeError} for a name the list does not know
   * @throws {KernelError} ENOENT when not in the kernel (or the module says it
   *   is not loaded); EBUSY when not live, or the exit's EBUSY while in use
   *   (the module stays live)
   */
  *unload(name: string): Sleepable<void> {
    const n = normalizeModuleName(name);
    const m = this.#get(n);
    const st = this.#state.get(n);
    if (st === undefined) throw new KernelError("ENOENT", "delete_module", `${n} is not loaded`);
    if (st !== "live") throw new KernelError("EBUSY", "delete_module", `${n} is ${st}`);
    this.#state.set(n, "going");
    try {
      yield* m.exit(this.#kernel) as Sleepable;
    } catch (e) {
      if (e instanceof KernelError && e.code === "ENOENT") this.#state.delete(n);
      else this.#state.set(n, "live");
      this.#wq.wakeUpAll();
      throw e;
    }
    this.#state.delete(n); // free_module()
    this.#wq.wakeUpAll();
  }

  #get(n: string): KernelModule {
    const m = this.#known.get(n);
    if (m === undefined) throw new RangeError(`no module named ${n}`);
    return m;
  }
}
