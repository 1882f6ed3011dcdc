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

export const klogDetector: Detector = {
  name: "klog",
  detect(r) {
    const i = r.records.findIndex((rec) => rec.finding && !/kmemleak: \d+ new suspected/.test(rec.text) && !/^INFO: task .* blocked for more than/.test(rec.text));
    if (i < 0) return null;
    return { detector: "klog", title: r.records[i].text.replace(/\d+/g, "N").trim(), report: excerpt(r.records, i - 1, 30) };
  },
};
