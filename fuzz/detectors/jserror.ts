// SPDX-License-Identifier: GPL-2.0-only
/**
 * An exception that is neither an API refusal (KernelError, or a
 * RangeError/TypeError the API threw on purpose) nor a KernelBug nor a trap:
 * a bug in the TypeScript model ("Cannot read properties of undefined", a
 * plain Error, a ReferenceError).
 *
 * Title: `<ErrorName>: <message, numbers elided> in <op>`.
 *
 * @module
 */

import { KernelBug } from "../../ts/errors.ts";
import { type Detector, errorText } from "./finding.ts";

export const jsErrorDetector: Detector = {
  name: "jserror",
  detect(r) {
    const c = r.crash;
    if (c === null || c.error instanceof WebAssembly.RuntimeError || c.error instanceof KernelBug) return null;
    const e = c.error;
    const name = e instanceof Error ? e.name : "throw";
    const msg = (e instanceof Error ? e.message : String(e)).split("\n")[0].replace(/\d+/g, "N");
    return { detector: "jserror", title: `${name}: ${msg} in ${c.op}`, report: `call ${c.call} (${c.op}):\n${errorText(e)}\n` };
  },
};
