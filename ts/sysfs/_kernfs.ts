// SPDX-License-Identifier: GPL-2.0-only
/**
 * The node tree under the virtual sysfs: `struct kernfs_node` reduced to
 * what the port needs (fs/kernfs/dir.c, v4.4), path resolution, and the
 * errors of the file operations. Private to ts/sysfs/.
 *
 * A node is active from creation until its removal begins
 * (`kernfs_deactivate()`); an inactive node is invisible to lookups, as
 * `kernfs_dop_revalidate()` makes it. File nodes count their active
 * references (`kn->active`): a show or store in progress.
 *
 * @module
 */

import { errnoName, KernelError } from "../errors.ts";
import type { Kobject } from "../kernel/kobject.ts";
import type { LockClass } from "../kernel/lockdep.ts";

/** A directory: a kobject's, a mount point's parent, or a static one (`kobj` null). */
export interface DirNode {
  readonly kind: "dir";
  /** Changes only when a mount moves a kobject's directory. */
  name: string;
  parent: DirNode | null;
  readonly children: Map<string, SysfsNode>;
  readonly kobj: Kobject | null;
  active: boolean;
}

/** An attribute file. */
export interface FileNode {
  readonly kind: "file";
  readonly name: string;
  parent: DirNode | null;
  readonly attr: FileAttr;
  readonly obj: unknown;
  /** The lockdep class of `kn->dep_map` ("s_active"), one per attribute definition. */
  readonly cls: LockClass;
  /** Active references: shows and stores in progress (`kn->active` without the bias). */
  refs: number;
  active: boolean;
  /** kernfs_drain() already waited for this node. */
  drained: boolean;
}

/** The attribute shape the tree stores (sysfs.ts's SysfsAttribute, unparameterized). */
export interface FileAttr {
  readonly name: string;
  readonly mode: number;
  show?(obj: unknown, page: never): unknown;
  store?(obj: unknown, buf: string): unknown;
}

export type SysfsNode = DirNode | FileNode;

/** Permission bits of a sysfs directory (`S_IRWXU | S_IRUGO | S_IXUGO`). */
export const DIR_MODE = 0o755;

export function newDir(name: string, parent: DirNode | null, kobj: Kobject | null): DirNode {
  const d: DirNode = { kind: "dir", name, parent, children: new Map(), kobj, active: true };
  parent?.children.set(name, d);
  return d;
}

/**
 * Splits an absolute path into its components, resolving "." and "..".
 *
 * @throws {TypeError} when path is not a string; {RangeError} when it is not absolute
 */
export function splitPath(path: string, op: string): string[] {
  if (typeof path !== "string") throw new TypeError(`${op}: path must be a string`);
  if (!path.startsWith("/")) throw new RangeError(`${op}: path must be absolute, got ${JSON.stringify(path)}`);
  const out: string[] = [];
  for (const p of path.split("/")) {
    if (p === "" || p === ".") continue;
    if (p === "..") out.pop();
    else out.push(p);
  }
  return out;
}

/** The active node at `parts` below `root`, or undefined. */
export function walk(root: DirNode, parts: readonly string[]): SysfsNode | undefined {
  let n: SysfsNode = root;
  for (const p of parts) {
    if (n.kind !== "dir") return undefined;
    const c: SysfsNode | undefined = n.children.get(p);
    if (c === undefined || !c.active) return undefined;
    n = c;
  }
  return n;
}

/** Every node below `dir` and `dir` itself, children before parents (`kernfs_next_descendant_post()`). */
export function postOrder(dir: DirNode): SysfsNode[] {
  const out: SysfsNode[] = [];
  const visit = (d: DirNode): void => {
    for (const c of d.children.values()) {
      if (c.kind === "dir") visit(c);
      else out.push(c);
    }
    out.push(d);
  };
  visit(dir);
  return out;
}

/**
 * Mirrors `kernfs_path()`: the path below the sysfs root ("/block/nullb0"),
 * "" for the root itself (as kobject.ts prints parents).
 */
export function kernfsPath(n: SysfsNode, sysRoot: DirNode): string {
  const parts: string[] = [];
  for (let c: SysfsNode | null = n; c !== null && c !== sysRoot; c = c.parent) parts.push(c.name);
  return parts.length === 0 ? "" : `/${parts.reverse().join("/")}`;
}

/**
 * The error for a handler's `-errno` return.
 *
 * @throws {RangeError} when the value is no errno sysfs knows
 */
export function errorFromReturn(ret: number, op: string): KernelError {
  try {
    return new KernelError(errnoName(ret), op);
  } catch {
    throw new RangeError(`${op} returned ${ret}, which is no known -errno`);
  }
}
