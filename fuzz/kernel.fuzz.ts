// SPDX-License-Identifier: GPL-2.0-only
/**
 * Fuzz target `kernel`: see its entry in fuzz/targets.ts.
 *
 * @module
 */

import { programTarget } from "./_program_target.ts";

/** The Jazzer.js entry point. */
export const fuzz: (data: Uint8Array) => void = programTarget("kernel");
