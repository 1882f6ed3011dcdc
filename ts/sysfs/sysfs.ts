// SPDX-License-Identifier: GPL-2.0-only
/**
 * The virtual sysfs of one simulated kernel (fs/sysfs/, fs/kernfs/, v4.4):
 * directories that follow kobjects, attribute files whose show and store
 * handlers run as the kernel runs them, and the kernfs active references
 * that make removal wait for handlers in progress.
 *
 * - Directories: a kobject's directory exists while it is added
 *   (`KobjectTree` hooks). A parentless kobject appears at `/sys/<name>`,
 *   or where {@link Sysfs.mount} put it; static directories
 *   ({@link Sysfs.mkdir}) hold trees without kobjects such as
 *   /sys/devices/system/cpu.
 * - Reads: `kernfs_fop_open()`'s permission check (EACCES), a fresh
 *   guarded page ({@link SysfsPage}), the show handler under an active
 *   reference, `sysfs_kf_seq_show()`'s checks (-errno, "returned bad count").
 * - Writes: the permission check, at most PAGE_SIZE bytes, an empty write
 *   returns 0 without calling store (`sysfs_kf_write()`), the store's return
 *   as the write(2) result.
 * - Removal: `kernfs_remove()` deactivates the subtree (lookups fail, new
 *   active references cannot be taken), then drains each file: it waits for
 *   its active references to go, taking the file's "s_active" lockdep class
 *   as a writer, as the kernel does, so a show handler that takes a lock the
 *   remover holds is a lockdep report (and, when it happens, a hang). Only
 *   the generator forms ({@link Sysfs.kobjectDelSync},
 *   {@link Sysfs.removeFilesSync}) can wait; the synchronous ones
 *   (`Kobject.del()`, {@link Sysfs.removeFiles}) record the lockdep
 *   dependency and, if a handler is in progress, WARN instead of waiting.
 *
 * @module
 */

import { KernelError } from "../errors.ts";
import type { Kernel } from "../kernel/kernel.ts";
import { Kobject } from "../kernel/kobject.ts";
import { LockClass } from "../kernel/lockdep.ts";
import { type Sleepable, WaitQueue } from "../kernel/sched.ts";
import { PAGE_SIZE } from "../kernel/slab.ts";
import {
  DIR_MODE,
  type DirNode,
  errorFromReturn,
  type FileAttr,
  type FileNode,
  kernfsPath,
  newDir,
  postOrder,
  splitPath,
  type SysfsNode,
  walk,
} from "./_kernfs.ts";
import { type SysfsPage, SysfsPageBuffer } from "./_page.ts";
import { registerCpuSysfs } from "./cpu.ts";

export { type SysfsPage, SysfsPageBuffer } from "./_page.ts";
export { sysfsListShow, sysfsListShowUnfixed } from "./_list.ts";
export {
  BLK_MQ_MAX_DISPATCH_ORDER,
  CTX_ATTR_NAMES,
  CTX_PENDING_HEADER,
  ctxCompletedShow,
  ctxDispatchedShow,
  ctxMergedShow,
  diskInflightShow,
  diskStatShow,
  formatKernelPointer,
  HCTX_ATTR_NAMES,
  HCTX_PENDING_HEADER,
  hctxActiveShow,
  hctxCpuListShow,
  hctxDispatchedShow,
  hctxIoPollShow,
  hctxQueuedShow,
  hctxRunShow,
  hctxTagsShow,
  QUEUE_ATTRS,
  queueAttrShow,
  queueNomergesShow,
  queueRqAffinityShow,
  queueSchedulerShow,
  queueVarShow,
} from "./_format.ts";
export type { DiskStats, HctxTagsInfo, IoPollStats, QueueAttrName, QueueSysfsState, SyncAsync, Ulong } from "./_format.ts";
export { CPU_ONLINE_ATTR, CPU_ROOT_ATTRS, CPU_SYSFS_PATH, type CpuDevice } from "./cpu.ts";
export { kstrtoul, kstrtoull, kstrtouint, queueVarStore, strtobool } from "./kstrtox.ts";

/**
 * Mirrors `struct attribute` with its show/store (`struct kobj_attribute`,
 * the blk-mq `*_sysfs_entry` structs): one file in a kobject's directory.
 * Each attribute object is one lockdep class, like the kernel's static
 * attribute key.
 */
export interface SysfsAttribute<T> {
  readonly name: string;
  /** Permission bits: 0o444, 0o644, 0o200 ... The write bits decide EACCES, not the presence of store. */
  readonly mode: number;
  /** Fills `page`; returns its byte count or -errno. May be a generator (it may sleep). */
  show?(obj: T, page: SysfsPage): number | Generator<unknown, number>;
  /** Consumes `buf` (as written: `echo` appends "\n"); returns bytes consumed or -errno. May sleep. */
  store?(obj: T, buf: string): number | Generator<unknown, number>;
}

/** What {@link Sysfs.stat} tells about a path. */
export interface SysfsStat {
  readonly kind: "dir" | "file";
  readonly mode: number;
}

const S_IRUGO = 0o444;
const S_IWUGO = 0o222;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

function checkKobj(kobj: unknown, op: string): Kobject {
  if (!(kobj instanceof Kobject)) throw new TypeError(`${op}: kobj must be a Kobject`);
  return kobj;
}

function checkAttrs(attrs: unknown, op: string): readonly FileAttr[] {
  if (!Array.isArray(attrs)) throw new TypeError(`${op}: attrs must be an array`);
  for (const a of attrs as FileAttr[]) {
    if (a === null || typeof a !== "object") throw new TypeError(`${op}: an attribute must be an object`);
    if (typeof a.name !== "string" || a.name === "" || a.name.includes("/") || a.name === "." || a.name === "..") {
      throw new TypeError(`${op}: bad attribute name ${JSON.stringify(a.name)}`);
    }
    if (!Number.isInteger(a.mode) || a.mode < 0 || a.mode > 0o777) {
      throw new RangeError(`${op}: ${a.name}: mode must be in [0, 0o777], got ${String(a.mode)}`);
    }
    if (a.show !== undefined && typeof a.show !== "function") throw new TypeError(`${op}: ${a.name}.show must be a function`);
    if (a.store !== undefined && typeof a.store !== "function") throw new TypeError(`${op}: ${a.name}.store must be a function`);
  }
  return attrs as readonly FileAttr[];
}

function isGenerator(v: unknown): v is Generator<unknown, unknown> {
  return typeof (v as { next?: unknown } | null)?.next === "function";
}

/**
 * The sysfs of one kernel (`kernel.sysfs`). Construct it last in the
 * Kernel: it installs the kobject hooks and registers /sys/devices/system/cpu.
 *
 * @example
 * const k = new Kernel();
 * const kobj = new Kobject(k.kobjects);
 * kobj.initAndAdd({ release() {} }, null, "demo");
 * const attr = { name: "answer", mode: 0o444, show: (_o: null, p: SysfsPage) => p.sprintf("42\n") };
 * k.sysfs.createFiles(kobj, null, [attr]);
 * k.sysfs.ls("/sys/demo"); // ["answer"]
 * k.sched.spawn("cat", function* () { yield* k.sysfs.read("/sys/demo/answer"); }); // "42\n"
 * k.run();
 * kobj.del();
 * kobj.put();
 */
export class Sysfs {
  readonly #k: Kernel;
  readonly #root: DirNode;
  readonly #sys: DirNode;
  readonly #dirs = new Map<Kobject, DirNode>();
  readonly #mounts = new WeakMap<Kobject, string[]>();
  readonly #classes = new WeakMap<object, LockClass>();
  readonly #drainWq: WaitQueue;
  #nrClasses = 0;

  /** @throws {TypeError} when the kernel lacks the substrate sysfs uses */
  constructor(kernel: Kernel) {
    for (const f of ["kobjects", "slab", "sched", "log", "cpus", "hotplug"] as const) {
      if (!kernel?.[f]) throw new TypeError(`Sysfs: kernel.${f} is required (construct Sysfs last)`);
    }
    this.#k = kernel;
    this.#root = newDir("", null, null);
    this.#sys = newDir("sys", this.#root, null);
    this.#drainWq = new WaitQueue(kernel.sched, "kernfs_root->deactivate_waitq");
    kernel.kobjects.setHooks({ onAdd: (kobj) => this.#onAdd(kobj), onDel: (kobj) => this.#onDel(kobj) });
    registerCpuSysfs(this, kernel);
  }

  /**
   * Mirrors `sysfs_create_files()` (fs/sysfs/file.c): the attributes appear
   * in kobj's directory and read `obj`. All or nothing.
   *
   * @throws {KernelError} EINVAL (after the kernel's WARN) when kobj has no
   *   directory; ENOENT while it is being removed; EEXIST (after
   *   `sysfs_warn_dup()`'s WARN) when a name is taken
   * @throws {TypeError} / {RangeError} on a malformed attribute
   */
  createFiles<T>(kobj: Kobject, obj: T, attrs: readonly SysfsAttribute<T>[]): void {
    checkKobj(kobj, "sysfs_create_files");
    const list = checkAttrs(attrs, "sysfs_create_files");
    const dir = this.#dirs.get(kobj);
    if (dir === undefined) {
      this.#k.log.warn("fs/sysfs/file.c:sysfs_create_files", "WARN_ON(!kobj || !kobj->sd || !attr)");
      throw new KernelError("EINVAL", "sysfs_create_files", `kobject '${kobj.name ?? "(null)"}' has no directory`);
    }
    this.#addFiles(dir, obj, list, "sysfs_create_files");
  }

  /**
   * Mirrors `sysfs_remove_files()`: removes the named files without
   * sleeping. A name that is not there is ignored. A file whose handler is
   * in progress cannot be waited for here: that WARNs (use
   * {@link Sysfs.removeFilesSync} from a task). Without a directory, each
   * name is the kernel's "can not remove ..., no directory" WARN.
   */
  removeFiles(kobj: Kobject, attrs: readonly SysfsAttribute<unknown>[]): void {
    checkKobj(kobj, "sysfs_remove_files");
    for (const f of this.#filesOf(kobj, checkAttrs(attrs, "sysfs_remove_files"))) {
      this.#deactivate(f);
      this.#drainNow(f);
      this.#unlink(f);
    }
  }

  /**
   * Mirrors `sysfs_remove_files()` as the kernel runs it: deactivates the
   * files, then sleeps until the shows and stores in progress on them end
   * (`kernfs_drain()`, holding each file's "s_active" class for lockdep).
   */
  *removeFilesSync(kobj: Kobject, attrs: readonly SysfsAttribute<unknown>[]): Sleepable {
    checkKobj(kobj, "sysfs_remove_files");
    const files = this.#filesOf(kobj, checkAttrs(attrs, "sysfs_remove_files"));
    for (const f of files) this.#deactivate(f);
    for (const f of files) yield* this.#drain(f);
    for (const f of files) this.#unlink(f);
  }

  /**
   * Mirrors `kobject_del()` with `sysfs_remove_dir()` → `kernfs_remove()`
   * as the kernel runs it: deactivates kobj's directory tree, sleeps until
   * every show and store in progress under it ends, then `kobj.del()`.
   * A show that waits for a lock the caller holds makes this hang: the
   * deadlock of 60de074ba1 (and lockdep reports it either way).
   */
  *kobjectDelSync(kobj: Kobject): Sleepable {
    checkKobj(kobj, "kobject_del");
    const dir = this.#dirs.get(kobj);
    if (dir !== undefined) {
      const nodes = postOrder(dir);
      for (const n of nodes) this.#deactivate(n);
      for (const n of nodes) if (n.kind === "file") yield* this.#drain(n);
    }
    kobj.del();
  }

  /**
   * Places a parentless kobject's directory at `path` instead of
   * `/sys/<name>` (e.g. the block layer's "block" kobject at /sys/block);
   * missing directories above it are created static. Lasts for the kobject's
   * lifetime; an added kobject's directory moves there now.
   *
   * @throws {TypeError} when kobj has a parent; {RangeError} for a path not below /sys
   * @throws {KernelError} EEXIST when something is at `path`
   */
  mount(kobj: Kobject, path: string): void {
    checkKobj(kobj, "sysfs_mount");
    if (kobj.parent !== null) throw new TypeError("sysfs_mount: only a parentless kobject can be mounted");
    const parts = this.#sysParts(path, "sysfs_mount");
    const dir = this.#dirs.get(kobj);
    const name = parts[parts.length - 1];
    const above = parts.slice(0, -1);
    const at = walk(this.#sys, parts);
    if (at !== undefined && at === dir) {
      this.#mounts.set(kobj, parts);
      return;
    }
    const parentNow = walk(this.#sys, above);
    if (at !== undefined || (parentNow?.kind === "dir" && parentNow.children.has(name))) {
      throw new KernelError("EEXIST", "sysfs_mount", path);
    }
    if (dir !== undefined) {
      for (let i = 1; i <= above.length; i++) {
        if (walk(this.#sys, above.slice(0, i)) === dir) throw new RangeError(`sysfs_mount: ${path} is inside the kobject's own directory`);
      }
    }
    const parent = this.#mkdirp(above, "sysfs_mount");
    this.#mounts.set(kobj, parts);
    if (dir === undefined) return;
    this.#unlink(dir);
    dir.name = name;
    dir.parent = parent;
    parent.children.set(name, dir);
  }

  /**
   * A directory that belongs to no kobject (`sysfs_create_mount_point()`),
   * with any missing parents (`mkdir -p`); for kernel-lifetime trees.
   *
   * @throws {KernelError} EEXIST when a file (or a directory being removed) is in the way
   */
  mkdir(path: string): void {
    this.#mkdirp(this.#sysParts(path, "sysfs_create_mount_point"), "sysfs_create_mount_point");
  }

  /**
   * As {@link Sysfs.createFiles}, into the static directory at `path`
   * (created as by {@link Sysfs.mkdir}).
   */
  createFilesAt<T>(path: string, obj: T, attrs: readonly SysfsAttribute<T>[]): void {
    const list = checkAttrs(attrs, "sysfs_create_files");
    const dir = this.#mkdirp(this.#sysParts(path, "sysfs_create_files"), "sysfs_create_files");
    this.#addFiles(dir, obj, list, "sysfs_create_files");
  }

  /**
   * Mirrors `read(2)` of a sysfs file from offset 0: open (permission
   * check), one show into a fresh page (`sysfs_kf_seq_show()`), close.
   *
   * @returns the show's text: its first `count` bytes
   * @throws {KernelError} ENOENT (no such file), EISDIR, EACCES (no read bit),
   *   ENOMEM (no page), EIO (no show handler), the show's -errno with op
   *   "<name>_show"; a KasanBug when the show overruns the page (debug builds)
   */
  *read(path: string): Sleepable<string> {
    const f = this.#open(path, S_IRUGO, "read");
    const page = SysfsPageBuffer.alloc(this.#k.slab);
    const op = `${f.attr.name}_show`;
    try {
      this.#getActive(f, "kernfs_seq_start");
    } catch (e) {
      page.free();
      throw e;
    }
    try {
      if (f.attr.show === undefined) throw new KernelError("EIO", op, "no show handler");
      let ret = f.attr.show(f.obj, page as never);
      if (isGenerator(ret)) ret = yield* ret as Sleepable<unknown>;
      if (typeof ret !== "number" || !Number.isSafeInteger(ret)) {
        throw new TypeError(`${op} returned ${String(ret)}, not a byte count`);
      }
      if (ret < 0) throw errorFromReturn(ret, op);
      if (ret >= PAGE_SIZE) {
        this.#k.log.warn("fs/sysfs/file.c:sysfs_kf_seq_show", `fill_read_buffer: ${op} returned bad count`);
      }
      return page.text(Math.min(ret, PAGE_SIZE - 1));
    } finally {
      this.#putActive(f, "kernfs_seq_stop");
      page.free();
    }
  }

  /**
   * Mirrors `write(2)` of a sysfs file at offset 0 (`kernfs_fop_write()`,
   * `sysfs_kf_write()`): at most PAGE_SIZE bytes reach the store; an empty
   * write returns 0 without calling it. A store that returns 0 for a
   * non-empty write makes write(2) return 0 (a shell's `echo` would retry
   * forever); it is returned as is.
   *
   * @param value the bytes as written, e.g. "1\n" for `echo 1 > file`
   * @returns what the store returned: the bytes consumed
   * @throws {KernelError} ENOENT, EISDIR, EACCES (no write bit), EIO (no
   *   store handler), the store's -errno with op "<name>_store"
   */
  *write(path: string, value: string): Sleepable<number> {
    if (typeof value !== "string") throw new TypeError("sysfs write: value must be a string");
    const f = this.#open(path, S_IWUGO, "write");
    const bytes = encoder.encode(value);
    if (bytes.length === 0) return 0;
    const buf = bytes.length > PAGE_SIZE ? decoder.decode(bytes.subarray(0, PAGE_SIZE)) : value;
    const op = `${f.attr.name}_store`;
    this.#getActive(f, "kernfs_fop_write");
    try {
      if (f.attr.store === undefined) throw new KernelError("EIO", op, "no store handler");
      let ret = f.attr.store(f.obj, buf);
      if (isGenerator(ret)) ret = yield* ret as Sleepable<unknown>;
      if (typeof ret !== "number" || !Number.isSafeInteger(ret)) {
        throw new TypeError(`${op} returned ${String(ret)}, not a byte count`);
      }
      if (ret < 0) throw errorFromReturn(ret, op);
      return ret;
    } finally {
      this.#putActive(f, "kernfs_fop_write");
    }
  }

  /**
   * The names in a directory, sorted (`ls`); for a file, its own name.
   *
   * @throws {KernelError} ENOENT when nothing is at `path`
   */
  ls(path: string): string[] {
    const n = this.#lookup(path, "ls");
    if (n.kind === "file") return [n.name];
    return [...n.children.values()].filter((c) => c.active).map((c) => c.name).sort();
  }

  /**
   * Kind and permission bits of the node at `path` (`stat(2)`).
   *
   * @throws {KernelError} ENOENT when nothing is at `path`
   */
  stat(path: string): SysfsStat {
    const n = this.#lookup(path, "stat");
    return { kind: n.kind, mode: n.kind === "dir" ? DIR_MODE : n.attr.mode };
  }

  /** A fresh zeroed page as read() gives show handlers; the caller frees it. */
  allocPage(): SysfsPageBuffer {
    return SysfsPageBuffer.alloc(this.#k.slab);
  }

  /** The lockdep class ("s_active", "s_active#2", ...) of an attribute's files, once created. */
  lockClassOf(attr: SysfsAttribute<never>): LockClass | undefined {
    return this.#classes.get(attr);
  }

  /** Shows and stores in progress on the file at `path` (its active references). */
  activeRefs(path: string): number {
    const n = this.#lookup(path, "activeRefs");
    return n.kind === "file" ? n.refs : 0;
  }

  // -------------------------------------------------------------------------
  // kobject hooks

  /** Mirrors `sysfs_create_dir_ns()` (fs/sysfs/dir.c). */
  #onAdd(kobj: Kobject): void {
    const name = kobj.name!;
    if (name === "." || name === "..") throw new KernelError("EINVAL", "sysfs_create_dir_ns", `name ${name}`);
    let parent: DirNode;
    let dirName = name;
    if (kobj.parent !== null) {
      const p = this.#dirs.get(kobj.parent);
      if (p === undefined || !p.active) throw new KernelError("ENOENT", "sysfs_create_dir_ns", "parent has no directory");
      parent = p;
    } else {
      const m = this.#mounts.get(kobj);
      parent = m === undefined ? this.#sys : this.#mkdirp(m.slice(0, -1), "sysfs_create_dir_ns");
      if (m !== undefined) dirName = m[m.length - 1];
    }
    if (parent.children.has(dirName)) {
      this.#warnDup(parent, dirName);
      throw new KernelError("EEXIST", "sysfs_create_dir_ns", dirName);
    }
    this.#dirs.set(kobj, newDir(dirName, parent, kobj));
  }

  /** Mirrors `sysfs_remove_dir()` → `kernfs_remove()`, without sleeping. */
  #onDel(kobj: Kobject): void {
    const dir = this.#dirs.get(kobj);
    if (dir === undefined) return;
    const nodes = postOrder(dir);
    for (const n of nodes) this.#deactivate(n);
    for (const n of nodes) {
      if (n.kind === "file") this.#drainNow(n);
      else if (n.kobj !== null) this.#dirs.delete(n.kobj);
    }
    this.#unlink(dir);
  }

  // -------------------------------------------------------------------------
  // nodes

  #addFiles(dir: DirNode, obj: unknown, attrs: readonly FileAttr[], op: string): void {
    if (!dir.active) throw new KernelError("ENOENT", op, "directory is being removed");
    const added: FileNode[] = [];
    for (const attr of attrs) {
      if (dir.children.has(attr.name)) {
        for (const f of added) dir.children.delete(f.name);
        this.#warnDup(dir, attr.name);
        throw new KernelError("EEXIST", op, attr.name);
      }
      const f: FileNode = {
        kind: "file",
        name: attr.name,
        parent: dir,
        attr,
        obj,
        cls: this.#classOf(attr),
        refs: 0,
        active: true,
        drained: false,
      };
      dir.children.set(attr.name, f);
      added.push(f);
    }
  }

  /** One lockdep class per attribute definition, named as lockdep names kernfs's ("s_active#N"). */
  #classOf(attr: FileAttr): LockClass {
    let c = this.#classes.get(attr);
    if (c === undefined) {
      const n = ++this.#nrClasses;
      c = new LockClass(n === 1 ? "s_active" : `s_active#${n}`);
      this.#classes.set(attr, c);
    }
    return c;
  }

  /** The files named by `attrs` in kobj's directory; without one, the kernel's WARN per name. */
  #filesOf(kobj: Kobject, attrs: readonly FileAttr[]): FileNode[] {
    const dir = this.#dirs.get(kobj);
    if (dir === undefined) {
      for (const a of attrs) {
        this.#k.log.warn("fs/kernfs/dir.c:kernfs_remove_by_name_ns", `kernfs: can not remove '${a.name}', no directory`);
      }
      return [];
    }
    const out: FileNode[] = [];
    for (const a of attrs) {
      const f = dir.children.get(a.name);
      if (f?.kind === "file" && !out.includes(f)) out.push(f);
    }
    return out;
  }

  /** Mirrors `kernfs_deactivate()` for one node: no new lookups or active references. */
  #deactivate(n: SysfsNode): void {
    n.active = false;
  }

  /** Mirrors `kernfs_drain()`: waits for the file's active references, as a lockdep writer of its class. */
  *#drain(f: FileNode): Sleepable {
    if (f.drained) return;
    const s = this.#k.sched;
    const cur = s.current;
    s.lockdep?.acquire(cur, f.cls, "kernfs_drain");
    try {
      if (f.refs > 0) yield* this.#drainWq.waitEvent(() => f.refs === 0, "kernfs_drain");
    } finally {
      s.lockdep?.release(cur, f.cls, "kernfs_drain");
    }
    f.drained = true;
  }

  /** kernfs_drain() where the caller cannot sleep: the lockdep dependency, and a WARN if a handler is in progress. */
  #drainNow(f: FileNode): void {
    if (f.drained) return;
    const s = this.#k.sched;
    const cur = s.current;
    s.lockdep?.acquire(cur, f.cls, "kernfs_drain");
    s.lockdep?.release(cur, f.cls, "kernfs_drain");
    f.drained = true;
    if (f.refs > 0) {
      this.#k.log.warn(
        "fs/kernfs/dir.c:kernfs_drain",
        `kernfs: removing '${kernfsPath(f, this.#sys)}' with ${f.refs} active reference${f.refs > 1 ? "s" : ""} ` +
          "from a caller that cannot sleep (use yield* sysfs.kobjectDelSync() or removeFilesSync())",
      );
    }
  }

  #unlink(n: SysfsNode): void {
    const p = n.parent;
    if (p !== null && p.children.get(n.name) === n) p.children.delete(n.name);
    n.parent = null;
  }

  /** Mirrors `kernfs_get_active()`: an active reference, taken as a trylock read of the file's class. */
  #getActive(f: FileNode, where: string): void {
    if (!f.active) throw new KernelError("ENODEV", where, "file is being removed");
    f.refs++;
    const s = this.#k.sched;
    s.lockdep?.acquire(s.current, f.cls, where, { trylock: true });
  }

  /** Mirrors `kernfs_put_active()`: the last reference of a deactivated file wakes the remover. */
  #putActive(f: FileNode, where: string): void {
    const s = this.#k.sched;
    s.lockdep?.release(s.current, f.cls, where);
    if (--f.refs === 0 && !f.active) this.#drainWq.wakeUpAll();
  }

  /** `open(2)`: the file at path, checked as `kernfs_fop_open()` does. */
  #open(path: string, need: number, what: "read" | "write"): FileNode {
    const n = this.#lookup(path, what);
    if (n.kind === "dir") throw new KernelError("EISDIR", what === "read" ? "generic_read_dir" : "may_open", path);
    if ((n.attr.mode & need) === 0) throw new KernelError("EACCES", "kernfs_fop_open", `${path} is not open for ${what}`);
    return n;
  }

  /** Path lookup: ENOENT for a missing (or deactivated) node, ENOTDIR through a file. */
  #lookup(path: string, op: string): SysfsNode {
    const parts = splitPath(path, op);
    const n = walk(this.#root, parts);
    if (n !== undefined) return n;
    for (let i = 1; i < parts.length; i++) {
      if (walk(this.#root, parts.slice(0, i))?.kind === "file") throw new KernelError("ENOTDIR", "link_path_walk", path);
    }
    throw new KernelError("ENOENT", "kernfs_iop_lookup", path);
  }

  /** The components of a path below /sys (at least one). */
  #sysParts(path: string, op: string): string[] {
    const parts = splitPath(path, op);
    if (parts[0] !== "sys" || parts.length < 2) throw new RangeError(`${op}: path must be below /sys, got ${JSON.stringify(path)}`);
    return parts.slice(1);
  }

  /** The static directory at `parts` below /sys, created with any missing parents; nothing changes on EEXIST. */
  #mkdirp(parts: readonly string[], op: string): DirNode {
    let d = this.#sys;
    let i = 0;
    for (; i < parts.length; i++) {
      const c = d.children.get(parts[i]);
      if (c === undefined) break;
      if (c.kind !== "dir" || !c.active) {
        throw new KernelError("EEXIST", op, `${kernfsPath(c, this.#sys)} is ${c.active ? "a file" : "being removed"}`);
      }
      d = c;
    }
    for (; i < parts.length; i++) d = newDir(parts[i], d, null);
    return d;
  }

  /** Mirrors `sysfs_warn_dup()` (fs/sysfs/dir.c). */
  #warnDup(parent: DirNode, name: string): void {
    this.#k.log.warn(
      "fs/sysfs/dir.c:sysfs_warn_dup",
      `sysfs: cannot create duplicate filename '${kernfsPath(parent, this.#sys)}/${name}'`,
    );
  }
}
