// SPDX-License-Identifier: GPL-2.0-only
/**
 * WARN(): `WARNING: CPU: c PID: p at <where>` in the log (lockdep's own
 * `WARNING: possible ...` headers belong to the lockdep detector).
 *
 * Title: `WARNING in <function>`.
 *
 * @module
 */

import { type Detector, excerpt, findRecord, siteFunction } from "./finding.ts";

const WARNING = /^WARNING: CPU: \d+ PID: \d+ at (.+)$/;

export const warnDetector: Detector = {
  name: "warn",
  detect(r) {
    const i = findRecord(r.records, WARNING);
    if (i < 0) return null;
    const where = WARNING.exec(r.records[i].text)![1];
    return { detector: "warn", title: `WARNING in ${siteFunction(where)}`, report: excerpt(r.records, i - 1, 30) };
  },
};
