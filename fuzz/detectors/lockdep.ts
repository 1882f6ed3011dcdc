// SPDX-License-Identifier: GPL-2.0-only
/**
 * lockdep: a possible circular locking dependency, recursive locking, or a
 * bad unlock balance, from the validator's report in the log. It fires
 * whether or not the run deadlocked.
 *
 * Titles: `possible deadlock in <primitive> (<lock A> / <lock B>)`, the two
 * classes sorted so either order of discovery gives the same title (the same
 * class twice for recursive locking); `WARNING: bad unlock balance in <site>`.
 *
 * @module
 */

import type { KlogRecord } from "../../ts/kernel/klog.ts";
import { type Detector, excerpt, findRecord, siteFunction } from "./finding.ts";

const DEADLOCK = /^WARNING: possible (circular locking dependency|recursive locking) detected/;
const LOCK_LINE = /^ \((.+)\)\{[^}]*\}, at: (.*)$/;
const UNLOCK = /^WARNING: bad unlock balance detected!/;

/** The lock and site on the line after the first record matching `header`, from `from`. */
function lockAfter(records: readonly KlogRecord[], from: number, header: RegExp): { cls: string; at: string } | null {
  const i = findRecord(records, header, from);
  if (i < 0 || i + 1 >= records.length) return null;
  const m = LOCK_LINE.exec(records[i + 1].text);
  return m ? { cls: m[1], at: m[2] } : null;
}

function primitive(site: string): string {
  return /spin/.test(site) ? "spin_lock" : "mutex_lock";
}

export const lockdepDetector: Detector = {
  name: "lockdep",
  detect(r) {
    const rec = r.records;
    const i = findRecord(rec, DEADLOCK);
    if (i >= 0) {
      const next = lockAfter(rec, i, /is trying to acquire lock:$/);
      const prev = lockAfter(rec, i, /^but task is already holding lock:$/);
      const pair = [prev?.cls ?? "?", next?.cls ?? "?"].sort();
      return {
        detector: "lockdep",
        title: `possible deadlock in ${primitive(next?.at ?? "")} (${pair[0]} / ${pair[1]})`,
        report: excerpt(rec, i - 1, 80),
      };
    }
    const j = findRecord(rec, UNLOCK);
    if (j >= 0) {
      const at = /^\[<[0-9a-f]+>\] (.*)$/.exec(rec[j + 5]?.text ?? "")?.[1] ?? "unknown";
      return { detector: "lockdep", title: `WARNING: bad unlock balance in ${siteFunction(at)}`, report: excerpt(rec, j - 1, 40) };
    }
    return null;
  },
};
