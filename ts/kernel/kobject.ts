// SPDX-License-Identifier: GPL-2.0-only
/**
 * kobject: the reference-counted, named, parented object under everything
 * that shows up in sysfs (lib/kobject.c, include/linux/kobject.h).
 *
 * A {@link KobjectTree} holds what the kobjects of one simulated kernel share:
 * the log, kmemleak, the top-level names and the hooks a sysfs layer installs
 * ({@link KobjectHooks}: `onAdd` where the kernel calls `create_dir()`,
 * `onDel` where it calls `sysfs_remove_dir()`). sysfs itself is not here.
 *
 * Lifetimes follow the kernel: `add()` takes a reference on the parent,
 * `del()` (explicit, or implied by the final `put()`) drops it, and a child's
 * release runs before its parent's reference goes. Each kobject is tracked by
 * kmemleak from `init()` until its release.
 *
 * @module
 */

import { ERRNO, type ErrnoCode, KernelError } from "../errors.ts";
import { kasanReport } from "./kasan.ts";
import { formatPointer, type Klog } from "./klog.ts";
import type { Kmemleak } from "./kmemleak.ts";
import { Kref } from "./kref.ts";

/** Mirrors `struct kobj_type` (include/linux/kobject.h): what to do on the last put. */
export interface KobjType<C = unknown> {
  /** Frees the container; the kernel complains when it is missing. */
  release?(kobj: Kobject<C>): void;
}

/** Callbacks a sysfs layer installs on a {@link KobjectTree}. */
export interface KobjectHooks {
  /**
   * Called by `add()` once name and parent are set, where the kernel calls
   * `create_dir()`. Throw a {@link KernelError} to fail the add; it is undone.
   */
  onAdd?(kobj: Kobject): void;
  /** Called by `del()` before the kobject leaves its parent, where the kernel calls `sysfs_remove_dir()`. */
  onDel?(kobj: Kobject): void;
}

/** What {@link Kobject}'s constructor takes besides the tree. */
export interface KobjectOptions<C> {
  /** The object this kobject is embedded in (the kernel's `container_of()`). */
  container?: C;
  /** Bytes kmemleak reports; default 64 (`sizeof(struct kobject)` on x86-64). */
  size?: number;
  /** kmemleak cache name; default "kobject". */
  cache?: string;
  /** kmemleak allocation site; default "kobject_init". */
  site?: string;
}

/**
 * The top-level directory of a tree, for {@link Kobject} only. A field of the
 * tree rather than a module-level WeakMap: a WeakMap keyed by machines keeps
 * every short-lived machine's objects alive through minor GCs (a fuzzer boots
 * one per run).
 */
let rootsOf: (tree: KobjectTree) => Map<string, Kobject>;

/**
 * The kobjects of one simulated kernel: their log, kmemleak, top-level
 * directory and sysfs hooks.
 */
export class KobjectTree {
  readonly log: Klog;
  readonly kmemleak: Kmemleak;
  #hooks: KobjectHooks = {};
  readonly #roots = new Map<string, Kobject>();

  static {
    rootsOf = (tree) => tree.#roots;
  }

  constructor(log: Klog, kmemleak: Kmemleak) {
    this.log = log;
    this.kmemleak = kmemleak;
  }

  /** The installed hooks (an empty object when none). */
  get hooks(): KobjectHooks {
    return this.#hooks;
  }

  /** Installs the sysfs layer's hooks, replacing any before. */
  setHooks(hooks: KobjectHooks): void {
    if (hooks === null || typeof hooks !== "object") {
      throw new TypeError("KobjectTree.setHooks: hooks must be an object");
    }
    this.#hooks = hooks;
  }

  /** Added kobjects without a parent, in the order they were added. */
  roots(): readonly Kobject[] {
    return [...this.#roots.values()];
  }

  /**
   * Finds an added kobject by its `kobject_get_path()` path.
   *
   * @example
   * tree.lookup("/block/nullb0/mq"); // the mq kobject, or undefined
   */
  lookup(path: string): Kobject | undefined {
    const parts = path.split("/").filter((p) => p !== "");
    if (parts.length === 0) return undefined;
    let kobj = this.#roots.get(parts[0]);
    for (let i = 1; kobj && i < parts.length; i++) kobj = kobj.child(parts[i]);
    return kobj;
  }
}

/**
 * Mirrors `struct kobject` (include/linux/kobject.h). `new Kobject(tree)` is
 * zeroed memory: call {@link Kobject.init} before anything else.
 *
 * @example
 * const kobj = new Kobject(tree);
 * kobj.initAndAdd({ release: () => {} }, null, "block");
 * kobj.del();
 * kobj.put(); // release runs, kmemleak stops tracking
 */
export class Kobject<C = unknown> {
  readonly tree: KobjectTree;
  /** The object this kobject is embedded in, if given. */
  readonly container: C | undefined;
  /** Synthetic kernel address (kmemleak's), printed as `%p` in messages. */
  readonly addr: bigint;
  readonly #leak: { size: number; cache: string; site: string };
  readonly #kref: Kref;
  #ktype: KobjType<C> | null = null;
  #name: string | null = null;
  #parent: Kobject | null = null;
  #children = new Map<string, Kobject>();
  #initialized = false;
  #inSysfs = false;
  #released = false;

  /** @throws {TypeError} when `tree` is not a KobjectTree */
  constructor(tree: KobjectTree, opts: KobjectOptions<C> = {}) {
    if (!(tree instanceof KobjectTree)) throw new TypeError("Kobject: tree must be a KobjectTree");
    this.tree = tree;
    this.container = opts.container;
    this.#leak = {
      size: opts.size ?? 64,
      cache: opts.cache ?? "kobject",
      site: opts.site ?? "kobject_init",
    };
    this.addr = tree.kmemleak.addrOf(this, this.#leak.size);
    this.#kref = new Kref(tree.log, 0);
  }

  /** Mirrors `kobject_name()` (include/linux/kobject.h); null before the first add. */
  get name(): string | null {
    return this.#name;
  }

  /** The parent set by `add()`, null at top level or after `del()`. */
  get parent(): Kobject | null {
    return this.#parent;
  }

  get ktype(): KobjType<C> | null {
    return this.#ktype;
  }

  /** `state_initialized`: init() was called (it stays set after release, as in the kernel). */
  get initialized(): boolean {
    return this.#initialized;
  }

  /** `state_in_sysfs`: added and not deleted. */
  get inSysfs(): boolean {
    return this.#inSysfs;
  }

  /** The last reference was put and release ran. */
  get released(): boolean {
    return this.#released;
  }

  /** Mirrors `kref_read(&kobj->kref)`. */
  refcount(): number {
    return this.#kref.read();
  }

  /** Added children, in the order they were added. */
  children(): readonly Kobject[] {
    return [...this.#children.values()];
  }

  /** The added child called `name`. */
  child(name: string): Kobject | undefined {
    return this.#children.get(name);
  }

  /**
   * Mirrors `kobject_get_path()` (lib/kobject.c): "/parent/.../name".
   *
   * @returns null while this kobject or an ancestor has no name
   */
  path(): string | null {
    if (this.#name === null) return null;
    if (this.#parent === null) return `/${this.#name}`;
    const above = this.#parent.path();
    return above === null ? null : `${above}/${this.#name}`;
  }

  /**
   * Mirrors `kobject_init()` (lib/kobject.c): one reference, no name, not in
   * sysfs; kmemleak starts tracking. Initializing a live initialized object
   * logs the kernel's complaint (as a WARN) and resets the count to 1, as the
   * kernel does. A released kobject may be initialized again (reused memory).
   *
   * @throws {TypeError} when `ktype` is missing
   */
  init(ktype: KobjType<C>): void {
    if (ktype === null || typeof ktype !== "object") {
      throw new TypeError(
        `kobject (${this.#ptr()}): must have a ktype to be initialized properly!`,
      );
    }
    if (ktype.release !== undefined && typeof ktype.release !== "function") {
      throw new TypeError("kobject_init: ktype.release must be a function");
    }
    if (this.#initialized && !this.#released) {
      this.tree.log.warn(
        "lib/kobject.c:kobject_init",
        `kobject (${this.#ptr()}): tried to init an initialized object, something is seriously wrong.`,
      );
      this.#kref.init();
      this.#ktype = ktype;
      return;
    }
    this.#kref.init();
    this.#ktype = ktype;
    this.#initialized = true;
    this.#released = false;
    this.tree.kmemleak.track(this, this.#leak);
  }

  /**
   * Mirrors `kobject_add()` (lib/kobject.c): names the kobject, takes a
   * reference on `parent` and enters its directory (`null`: top level).
   * A "/" in the name becomes "!" as in `kobject_set_name_vargs()`.
   *
   * @param name the formatted name (the kernel's `fmt, ...`)
   * @throws {KernelError} EINVAL when not initialized, released or the name is
   *   empty; EEXIST when the parent has a child of that name or this kobject is
   *   already added; ENOENT when the parent is not in sysfs; a hook's code.
   *   Each logs the kernel's message; nothing changes.
   * @throws {TypeError} on a parent from another tree or a non-string name
   */
  add(parent: Kobject | null, name: string): void {
    if (parent !== null && (!(parent instanceof Kobject) || parent.tree !== this.tree)) {
      throw new TypeError("kobject_add: parent must be a Kobject of the same tree, or null");
    }
    if (typeof name !== "string") throw new TypeError("kobject_add: name must be a string");
    const log = this.tree.log;
    if (this.#released) {
      this.#useAfterFree("kobject_add");
      throw new KernelError("EINVAL", "kobject_add", "use after release");
    }
    if (!this.#initialized) {
      log.warn(
        "lib/kobject.c:kobject_add",
        `kobject '${
          this.#name ?? "(null)"
        }' (${this.#ptr()}): tried to add an uninitialized object, something is seriously wrong.`,
      );
      throw new KernelError("EINVAL", "kobject_add", "uninitialized object");
    }
    const fixed = name.replaceAll("/", "!");
    if (this.#inSysfs) {
      log.warn(
        "lib/kobject.c:kobject_add_internal",
        `kobject_add_internal failed for ${fixed} with -EEXIST, don't try to register things with the same name in the same directory.`,
      );
      throw new KernelError("EEXIST", "kobject_add", "already added");
    }
    if (fixed === "") {
      log.warn(
        "lib/kobject.c:kobject_add_internal",
        `kobject: (${this.#ptr()}): attempted to be registered with empty name!`,
      );
      throw new KernelError("EINVAL", "kobject_add", "empty name");
    }
    const oldName = this.#name;
    this.#name = fixed;
    this.#parent = parent;
    parent?.get();
    const dir = parent ? parent.#children : rootsOf(this.tree);
    let code: ErrnoCode | undefined;
    if (parent && !parent.#inSysfs) code = "ENOENT";
    else if (dir.has(fixed)) {
      log.warn(
        "fs/sysfs/dir.c:sysfs_warn_dup",
        `sysfs: cannot create duplicate filename '${parent?.path() ?? ""}/${fixed}'`,
      );
      code = "EEXIST";
    } else {
      dir.set(fixed, this);
      try {
        this.tree.hooks.onAdd?.(this);
      } catch (e) {
        dir.delete(fixed);
        if (!(e instanceof KernelError)) {
          this.#undoAdd(parent, oldName);
          throw e;
        }
        code = e.code;
      }
    }
    if (code === undefined) {
      this.#inSysfs = true;
      return;
    }
    this.#undoAdd(parent, oldName);
    log.warn(
      "lib/kobject.c:kobject_add_internal",
      code === "EEXIST"
        ? `kobject_add_internal failed for ${fixed} with -EEXIST, don't try to register things with the same name in the same directory.`
        : `kobject_add_internal failed for ${fixed} (error: -${ERRNO[code]} parent: ${
          parent ? parent.#name ?? "(null)" : "'none'"
        })`,
    );
    throw new KernelError(code, "kobject_add");
  }

  /**
   * Mirrors `kobject_init_and_add()` (lib/kobject.c). As in the kernel, a
   * failed add leaves the kobject initialized: the caller must `put()` it.
   *
   * @throws as {@link Kobject.init} and {@link Kobject.add}
   */
  initAndAdd(ktype: KobjType<C>, parent: Kobject | null, name: string): void {
    this.init(ktype);
    this.add(parent, name);
  }

  /**
   * Mirrors `kobject_del()` (lib/kobject.c): leaves sysfs and drops the
   * reference on the parent. A no-op when not added; on a released kobject
   * it logs a KASAN use-after-free report.
   */
  del(): void {
    if (this.#released) {
      this.#useAfterFree("kobject_del");
      return;
    }
    if (!this.#inSysfs) return;
    const parent = this.#parent;
    this.#unlink();
    parent?.put();
  }

  /**
   * Mirrors `kobject_get()` (lib/kobject.c). On a kobject never initialized
   * it WARNs; on a released one refcount_t reports "addition on 0".
   *
   * @returns this
   */
  get(): this {
    if (!this.#initialized) {
      this.tree.log.warn(
        "lib/kobject.c:kobject_get",
        `kobject: '${
          this.#name ?? "(null)"
        }' (${this.#ptr()}): is not initialized, yet kobject_get() is being called.`,
      );
    }
    this.#kref.get();
    return this;
  }

  /**
   * Mirrors `kobject_put()` (lib/kobject.c): the last reference runs
   * `kobject_cleanup()`: an implied `del()` if still added, the ktype's
   * release, kmemleak untracking, then the put of the parent. A put too many
   * is refcount_t's "underflow; use-after-free" WARN.
   */
  put(): void {
    if (!this.#initialized) {
      this.tree.log.warn(
        "lib/kobject.c:kobject_put",
        `kobject: '${
          this.#name ?? "(null)"
        }' (${this.#ptr()}): is not initialized, yet kobject_put() is being called.`,
      );
    }
    this.#kref.put(() => this.#cleanup());
  }

  /** Mirrors `kobject_cleanup()` (lib/kobject.c, v5.9+ order: parent put after release). */
  #cleanup(): void {
    const t = this.#ktype;
    if (t && !t.release) {
      this.tree.log.printk(
        "err",
        `kobject: '${
          this.#name ?? "(null)"
        }' (${this.#ptr()}): does not have a release() function, it is broken and must be fixed.`,
      );
    }
    let parent: Kobject | null = null;
    if (this.#inSysfs) {
      parent = this.#parent;
      this.#unlink();
    }
    this.#released = true;
    try {
      t?.release?.(this);
    } finally {
      this.#name = null;
      this.tree.kmemleak.untrack(this, "kobject_cleanup");
      parent?.put();
    }
  }

  /** Mirrors `__kobject_del()`: sysfs removal and leaving the parent, without the parent put. */
  #unlink(): void {
    this.tree.hooks.onDel?.(this);
    const dir = this.#parent ? this.#parent.#children : rootsOf(this.tree);
    if (dir.get(this.#name!) === this) dir.delete(this.#name!);
    this.#inSysfs = false;
    this.#parent = null;
  }

  #undoAdd(parent: Kobject | null, oldName: string | null): void {
    this.#name = oldName;
    this.#parent = null;
    parent?.put();
  }

  #useAfterFree(where: string): void {
    const { size, cache } = this.#leak;
    kasanReport(this.tree.log, {
      kind: "use-after-free",
      where,
      addr: this.addr,
      access: "read",
      size: 8,
      object: { addr: this.addr, cache, size },
    });
  }

  #ptr(): string {
    return formatPointer(this.addr);
  }
}
