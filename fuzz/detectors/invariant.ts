// SPDX-License-Identifier: GPL-2.0-only
/**
 * A broken invariant reported by an area's check (fuzz/prog/ops/*.ts): tag
 * counts against bitmaps, in-flight counts, references.
 *
 * Title: `invariant: <what>`.
 *
 * @module
 */

import type { Detector } from "./finding.ts";

export const invariantDetector: Detector = {
  name: "invariant",
  detect(r) {
    const v = r.violations[0];
    if (v === undefined) return null;
    return { detector: "invariant", title: `invariant: ${v.title}`, report: `${v.report}\n` };
  },
};
