// SPDX-License-Identifier: GPL-2.0-only
/**
 * The small filesystems the shell mounts beside sysfs: debugfs with
 * kmemleak's control file, and a /dev holding `null`. Private to ts/shell/.
 *
 * @module
 */

import { KernelError } from "../errors.ts";
import type { Kmemleak } from "../kernel/kmemleak.ts";
import type { Rcu } from "../kernel/rcu.ts";
import { kstrtoul } from "../sysfs/kstrtox.ts";
import type { FileSystem } from "./_vfs.ts";

/** Where debugfs is mounted, as on every distribution. */
export const DEBUGFS = "/sys/kernel/debug";
const KMEMLEAK = `${DEBUGFS}/kmemleak`;

/**
 * debugfs with one file, `kmemleak` (mm/kmemleak.c). Reading it mirrors
 * `kmemleak_seq_show()`: every suspect the last scans reported that is still
 * live. Writing mirrors `kmemleak_write()` (v4.4), which matches commands by
 * prefix: `clear`, `scan`, and `scan=on` / `scan=off` / `scan=<secs>` /
 * `stack=on` / `stack=off`, accepted without effect because the port has no
 * scan thread and no stacks. `off` and `dump=` are not modelled: -EINVAL,
 * like any other text.
 *
 * A scan first waits for the RCU callbacks already queued (`rcu_barrier()`):
 * the kernel's scan finds an object whose free is queued still referenced
 * from the callback list, and the port, which scans no references, would
 * report it (`rmmod null_blk` frees its queues in an RCU callback).
 */
export function debugFs(kmemleak: Kmemleak, rcu: Rcu): FileSystem {
  return {
    // deno-lint-ignore require-yield
    *read(path) {
      if (path !== KMEMLEAK) throw new KernelError("ENOENT", "debugfs_open");
      return kmemleak.read();
    },
    *write(path, value) {
      if (path !== KMEMLEAK) throw new KernelError("ENOENT", "debugfs_open");
      const buf = value.slice(0, 63);
      if (buf.startsWith("scan") && !buf.startsWith("scan=")) yield* rcu.rcuBarrier();
      kmemleakWrite(kmemleak, buf);
      return value.length;
    },
    ls(path) {
      if (path === DEBUGFS) return ["kmemleak"];
      if (path === KMEMLEAK) return ["kmemleak"];
      throw new KernelError("ENOENT", "iterate_dir");
    },
    stat(path) {
      if (path === DEBUGFS) return { kind: "dir" };
      if (path === KMEMLEAK) return { kind: "file" };
      throw new KernelError("ENOENT", "vfs_stat");
    },
  };
}

/** Settings that only the scan thread or stack scanning would read: accepted, no effect. */
const KMEMLEAK_NO_EFFECT = ["stack=on", "stack=off", "scan=on", "scan=off"];

/** `kmemleak_write()`'s prefix matching (mm/kmemleak.c, v4.4), on the first 63 bytes. */
function kmemleakWrite(kmemleak: Kmemleak, buf: string): void {
  if (buf.startsWith("clear")) kmemleak.clear();
  else if (KMEMLEAK_NO_EFFECT.some((c) => buf.startsWith(c))) return;
  else if (buf.startsWith("scan=")) kstrtoul(buf.slice(5), 0); // a scan period: EINVAL unless a number
  else if (buf.startsWith("scan")) kmemleak.scan();
  else throw new KernelError("EINVAL", "kmemleak_write");
}

/**
 * A /dev with `null` and `zero` (drivers/char/mem.c): writes are swallowed;
 * reads of `null` return nothing. `zero` is there for `dd if=/dev/zero`
 * (which makes its zeroes itself); the shell's whole-file read of it
 * returns nothing too, where Linux would stream zeroes forever. Block
 * disks are opened by name by `dd` and `fio`, not through this table.
 */
export function devFs(): FileSystem {
  const check = (path: string) => {
    if (path !== "/dev/null" && path !== "/dev/zero") throw new KernelError("ENOENT", "chrdev_open");
  };
  return {
    // deno-lint-ignore require-yield
    *read(path) {
      check(path);
      return "";
    },
    // deno-lint-ignore require-yield
    *write(path, value) {
      check(path);
      return value.length;
    },
    ls(path) {
      if (path === "/dev") return ["null", "zero"];
      check(path);
      return [path.slice(5)];
    },
    stat(path) {
      if (path === "/dev") return { kind: "dir" };
      check(path);
      return { kind: "file" };
    },
  };
}
