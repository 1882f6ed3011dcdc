// SPDX-License-Identifier: GPL-2.0-only
/**
 * A sysfs show that returned PAGE_SIZE (4096) bytes or more: sysfs's own
 * `fill_read_buffer: <show> returned bad count` warning, or a show whose
 * output the program measured past 4095 bytes.
 *
 * Title: `sysfs: <show> returned more than PAGE_SIZE - 1 bytes`.
 *
 * @module
 */

import { type Detector, excerpt, findRecord } from "./finding.ts";

const BAD_COUNT = /fill_read_buffer: (\S+) returned bad count/;

export const sysfsDetector: Detector = {
  name: "sysfs",
  detect(r) {
    const i = findRecord(r.records, BAD_COUNT);
    if (i >= 0) {
      const show = BAD_COUNT.exec(r.records[i].text)![1];
      return { detector: "sysfs", title: `sysfs: ${show} returned more than PAGE_SIZE - 1 bytes`, report: excerpt(r.records, i - 2, 20) };
    }
    const big = r.sysfs.find((s) => s.bytes > 4095);
    if (big === undefined) return null;
    const attr = big.path.split("/").pop() ?? big.path;
    return {
      detector: "sysfs",
      title: `sysfs: ${attr}_show returned more than PAGE_SIZE - 1 bytes`,
      report: `${big.path}: read returned ${big.bytes} bytes\n`,
    };
  },
};
