// SPDX-License-Identifier: GPL-2.0-only
/**
 * BUG(): `kernel BUG at <where>!` in the log (Klog.bug), a KernelBug thrown
 * without one (a failed assert inside the WASM core), or another `BUG:` line
 * (scheduling while atomic, soft lockup, MAX_LOCK_DEPTH).
 *
 * Titles: `kernel BUG at <where>` (a WASM assert: `kernel BUG at <file>:
 * <message>`, without the line that moves with every edit), `BUG: <what>`
 * (up to the first colon or dash, without numbers).
 *
 * @module
 */

import { KernelBug } from "../../ts/errors.ts";
import { type Detector, errorText, excerpt, findRecord } from "./finding.ts";

const KERNEL_BUG = /^kernel BUG at (.+?)!?$/;
const OTHER_BUG = /^(?:NMI watchdog: )?BUG: (?!KASAN:)(.+)$/;

export const bugDetector: Detector = {
  name: "bug",
  detect(r) {
    const i = findRecord(r.records, KERNEL_BUG);
    if (i >= 0) {
      const m = KERNEL_BUG.exec(r.records[i].text)!;
      return { detector: "bug", title: `kernel BUG at ${m[1]}`, report: excerpt(r.records, i - 1, 40) };
    }
    const c = r.crash;
    if (c !== null && c.error instanceof KernelBug && c.error.name === "KernelBug") {
      // A failed assert inside WASM: "file:line:col" moves with every edit of asm/, so the
      // title keeps the file and the assertion's message instead.
      const file = (c.error.where || c.op).replace(/:\d+(:\d+)?$/, "");
      const what = c.error.message.replace(/^kernel BUG(?: at \S+)?: /, "");
      return { detector: "bug", title: `kernel BUG at ${file}: ${what}`, report: `call ${c.call} (${c.op}):\n${errorText(c.error)}\n` };
    }
    const j = findRecord(r.records, OTHER_BUG);
    if (j >= 0) {
      const what = OTHER_BUG.exec(r.records[j].text)![1].split(/:| - /)[0].replace(/\d+/g, "N").trim();
      return { detector: "bug", title: `BUG: ${what}`, report: excerpt(r.records, j, 40) };
    }
    return null;
  },
};
