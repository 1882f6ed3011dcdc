// SPDX-License-Identifier: GPL-2.0-only
/**
 * A raw WASM trap (`WebAssembly.RuntimeError`: unreachable, out-of-bounds
 * memory access, division by zero, stack overflow) escaping the core. The
 * TypeScript API turns every failure it knows into a typed error, so a trap
 * is always a bug.
 *
 * Title: `WASM trap: <message> in <op>`.
 *
 * @module
 */

import { type Detector, errorText } from "./finding.ts";

export const trapDetector: Detector = {
  name: "trap",
  detect(r) {
    const c = r.crash;
    if (c === null || !(c.error instanceof WebAssembly.RuntimeError)) return null;
    const msg = c.error.message.replace(/\d+/g, "N");
    return {
      detector: "trap",
      title: `WASM trap: ${msg} in ${c.op}`,
      report: `call ${c.call} (${c.op}) trapped:\n${errorText(c.error)}\n`,
    };
  },
};
