// SPDX-License-Identifier: GPL-2.0-only
/**
 * What a detector reports, and the helpers detectors share to read the
 * kernel log of a run.
 *
 * @module
 */

import type { KlogRecord } from "../../ts/kernel/klog.ts";
import type { ExecResult } from "../prog/exec.ts";

/** One finding: which detector, a stable syzkaller-like title, and the evidence. */
export interface Finding {
  /** The detector's name: "kasan", "lockdep", "hang", ... */
  readonly detector: string;
  /** Stable across runs of the same bug, e.g. "KASAN: slab-out-of-bounds in vsnprintf". */
  readonly title: string;
  /** The kernel's own report (log lines) or the detector's explanation. */
  readonly report: string;
}

/** A detector: looks at one run and says what it found, if anything. */
export interface Detector {
  readonly name: string;
  detect(r: ExecResult): Finding | null;
}

/** Index of the first record whose text matches. */
export function findRecord(records: readonly KlogRecord[], re: RegExp, from = 0): number {
  for (let i = from; i < records.length; i++) if (re.test(records[i].text)) return i;
  return -1;
}

/** The text of records [from, from + max), one per line, for a report. */
export function excerpt(records: readonly KlogRecord[], from: number, max = 60): string {
  return records.slice(Math.max(0, from), from + max).map((r) => `${r.text}\n`).join("");
}

/**
 * The function a kernel site string names: "kernel/cpu.c:put_online_cpus" →
 * "put_online_cpus"; "kernel/locking/mutex-debug.c:80 debug_mutex_unlock()" →
 * "debug_mutex_unlock"; "fs/sysfs/file.c:sysfs_kf_seq_show" → "sysfs_kf_seq_show".
 */
export function siteFunction(where: string): string {
  const call = /([A-Za-z_][A-Za-z0-9_]*)\s*\(/.exec(where);
  if (call) return call[1];
  const words = where.split(/[\s:]+/).filter((w) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(w));
  return words.length > 0 ? words[words.length - 1] : where.trim();
}

/** The error's stack, or its string form. */
export function errorText(e: unknown): string {
  if (e instanceof Error) return e.stack ?? `${e.name}: ${e.message}`;
  return String(e);
}
