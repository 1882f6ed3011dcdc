// SPDX-License-Identifier: GPL-2.0-only
/**
 * Every detector, in the order findings are preferred when a run trips
 * several (a trap or KASAN report explains later WARNs, not the reverse).
 *
 * @module
 */

import type { ExecResult } from "../prog/exec.ts";
import { bugDetector } from "./bug.ts";
import type { Detector, Finding } from "./finding.ts";
import { hangDetector } from "./hang.ts";
import { invariantDetector } from "./invariant.ts";
import { jsErrorDetector } from "./jserror.ts";
import { kasanDetector } from "./kasan.ts";
import { klogDetector } from "./klog.ts";
import { kmemleakDetector } from "./kmemleak.ts";
import { lockdepDetector } from "./lockdep.ts";
import { sysfsDetector } from "./sysfs.ts";
import { trapDetector } from "./trap.ts";
import { warnDetector } from "./warn.ts";

export type { Detector, Finding } from "./finding.ts";

/** The detectors, highest priority first. */
export const DETECTORS: readonly Detector[] = [
  trapDetector,
  kasanDetector,
  bugDetector,
  lockdepDetector,
  sysfsDetector,
  warnDetector,
  hangDetector,
  invariantDetector,
  jsErrorDetector,
  klogDetector,
  kmemleakDetector,
];

/** Every finding of a run, highest priority first (at most one per detector). */
export function detectAll(r: ExecResult): Finding[] {
  const out: Finding[] = [];
  for (const d of DETECTORS) {
    const f = d.detect(r);
    if (f !== null) out.push(f);
  }
  return out;
}

/**
 * The finding of a run: the first one whose title no `ignore` pattern
 * matches, or null.
 */
export function detect(r: ExecResult, ignore: readonly RegExp[] = []): Finding | null {
  for (const d of DETECTORS) {
    const f = d.detect(r);
    if (f !== null && !ignore.some((re) => re.test(f.title))) return f;
  }
  return null;
}
