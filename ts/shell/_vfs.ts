// SPDX-License-Identifier: GPL-2.0-only
/**
 * The shell's view of the file tree: pseudo filesystems mounted at absolute
 * paths (sysfs at /sys, debugfs at /sys/kernel/debug, a /dev with `null`),
 * resolved by longest prefix like the kernel's mount table. Private to
 * ts/shell/.
 *
 * @module
 */

import { KernelError } from "../errors.ts";
import type { Sleepable } from "../kernel/sched.ts";

/**
 * What a mounted filesystem offers the shell: the calls `cat`, `echo >`
 * and `ls` end in. `ts/sysfs/sysfs.ts`'s `Sysfs` has this shape. Paths are
 * absolute and normalized (`/sys/block/nullb0/size`).
 */
export interface FileSystem {
  /** `open()` + `read()` of a whole file; may sleep. @throws {KernelError} on -errno */
  read(path: string): Sleepable<string>;
  /** `open(O_WRONLY)` + one `write()`; may sleep. @returns bytes accepted @throws {KernelError} on -errno */
  write(path: string, value: string): Sleepable<number>;
  /** The names in a directory. @throws {KernelError} ENOENT */
  ls(path: string): string[];
  /** What is at `path` (`stat(2)`). @throws {KernelError} ENOENT */
  stat(path: string): { readonly kind: FileKind };
}

/** What a path names. */
export type FileKind = "dir" | "file";

/**
 * Makes a path absolute (relative paths start at `/`, the shell's only
 * working directory) and drops empty, `.` and trailing components; `..` is
 * resolved by name.
 *
 * @example
 * normalizePath("sys//block/./nullb0/"); // "/sys/block/nullb0"
 */
export function normalizePath(path: string): string {
  const parts: string[] = [];
  for (const p of path.split("/")) {
    if (p === "" || p === ".") continue;
    if (p === "..") parts.pop();
    else parts.push(p);
  }
  return `/${parts.join("/")}`;
}

/** A mount table of {@link FileSystem}s. */
export class Vfs {
  /** Mount points, longest first. */
  #mounts: { at: string; fs: FileSystem }[] = [];

  /**
   * Mounts `fs` at the absolute path `at` (over whatever was there).
   *
   * @throws {TypeError} when `at` is not an absolute path
   */
  mount(at: string, fs: FileSystem): void {
    if (typeof at !== "string" || !at.startsWith("/")) throw new TypeError(`mount: ${String(at)} is not an absolute path`);
    const p = normalizePath(at);
    this.#mounts = [...this.#mounts.filter((m) => m.at !== p), { at: p, fs }].sort((a, b) => b.at.length - a.at.length);
  }

  /** @throws {KernelError} as the filesystem's read does; ENOENT outside every mount */
  *read(path: string): Sleepable<string> {
    const p = normalizePath(path);
    return yield* this.#fs(p, "vfs_read").read(p);
  }

  /** @throws {KernelError} as the filesystem's write does; ENOENT outside every mount */
  *write(path: string, value: string): Sleepable<number> {
    const p = normalizePath(path);
    return yield* this.#fs(p, "vfs_write").write(p, value);
  }

  /**
   * The names in a directory, sorted bytewise, with the mount points under it.
   *
   * @throws {KernelError} ENOENT when nothing is there; ENOTDIR for a file
   */
  ls(path: string): string[] {
    const p = normalizePath(path);
    const names = new Set(this.#children(p));
    const m = this.#mountOf(p);
    if (m !== null) {
      try {
        for (const n of m.fs.ls(p)) names.add(n);
      } catch (e) {
        if (names.size === 0) throw e;
      }
    } else if (names.size === 0) throw new KernelError("ENOENT", "iterate_dir");
    return [...names].sort(byteOrder);
  }

  /** Whether a path is a directory, a file, or nothing (`stat()`). */
  kind(path: string): FileKind | null {
    if (path === "") return null;
    const p = normalizePath(path);
    if (p === "/" || this.#children(p).length > 0) return "dir";
    const m = this.#mountOf(p);
    if (m === null) return null;
    try {
      return m.fs.stat(p).kind;
    } catch (e) {
      if (e instanceof KernelError) return null;
      throw e;
    }
  }

  /** Names of mount points directly under `p`, or on the way to one. */
  #children(p: string): string[] {
    const prefix = p === "/" ? "/" : `${p}/`;
    const out: string[] = [];
    for (const m of this.#mounts) {
      if (m.at.startsWith(prefix) && m.at !== p) out.push(m.at.slice(prefix.length).split("/")[0]);
    }
    return out;
  }

  #mountOf(p: string): { at: string; fs: FileSystem } | null {
    for (const m of this.#mounts) if (p === m.at || p.startsWith(`${m.at}/`) || m.at === "/") return m;
    return null;
  }

  #fs(p: string, op: string): FileSystem {
    const m = this.#mountOf(p);
    if (m === null) throw new KernelError("ENOENT", op);
    return m.fs;
  }
}

/** `LC_ALL=C` collation, as `ls` sorts in the C locale. */
function byteOrder(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
