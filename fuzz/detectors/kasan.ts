// SPDX-License-Identifier: GPL-2.0-only
/**
 * KASAN: a report in the kernel log (`BUG: KASAN: <kind> in <site>`), filed
 * by the WASM core's shadow checks or the TS side of kmemleak: a redzone or
 * freed memory touched, a double or invalid free, a sysfs show running past
 * its page.
 *
 * Title: `KASAN: <kind> in <site>` (syzkaller drops the `BUG: `).
 *
 * @module
 */

import { type Detector, excerpt, findRecord } from "./finding.ts";

const BANNER = /^BUG: KASAN: (.+?) in (\S+)/;

export const kasanDetector: Detector = {
  name: "kasan",
  detect(r) {
    const i = findRecord(r.records, BANNER);
    if (i < 0) return null;
    const m = BANNER.exec(r.records[i].text)!;
    return { detector: "kasan", title: `KASAN: ${m[1]} in ${m[2]}`, report: excerpt(r.records, i - 1, 40) };
  },
};
