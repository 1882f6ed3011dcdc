// SPDX-License-Identifier: GPL-2.0-only
/**
 * The catch-all: any other line the kernel log counts as a finding
 * (KLOG_FINDING_PATTERNS: Oops, general protection fault, suspicious RCU
 * usage, ...). The specific detectors run first.
 *
 * Title: the line, numbers elided.
 *
 * @module
 */

import { type Detector, excerpt } from "./finding.ts";

/**
 * Lines a specific detector titles (kasan, bug, warn and lockdep, sysfs,
 * hang, kmemleak): when a campaign ignores that detector's finding as known,
 * the same line must not come back here under another title.
 */
const OWNED = [
  /^BUG: KASAN: /,
  /^kernel BUG at /,
  /^(?:NMI watchdog: )?BUG: /,
  /^WARNING: /,
  /fill_read_buffer: \S+ returned bad count/,
  /^INFO: task .* blocked for more than/,
  /kmemleak: \d+ new suspected/,
];

export const klogDetector: Detector = {
  name: "klog",
  detect(r) {
    const i = r.records.findIndex((rec) => rec.finding && !OWNED.some((re) => re.test(rec.text)));
    if (i < 0) return null;
    return { detector: "klog", title: r.records[i].text.replace(/\d+/g, "N").trim(), report: excerpt(r.records, i - 1, 30) };
  },
};
