// SPDX-License-Identifier: GPL-2.0-only
/**
 * Fuzz target `smoke`: proves the pipe from WASM edge counters to libFuzzer.
 *
 * `smoke_check` (asm/smoke.ts) hides a branch behind four exact bytes. With
 * the counters bridged, libFuzzer climbs the prefix one byte at a time and
 * reaches it in about a second; without them it practically never does
 * (TOOLCHAIN.md §4 measured 26M runs in 60 s with no hit). Reaching it throws
 * {@link PlantedBranchReached}, which the campaign counts as the expected
 * finding of this target. There is deliberately no dictionary and no seed
 * sharing the prefix: either would find the branch without WASM coverage and
 * so hide a broken pipe.
 *
 * @module
 */

import { instantiateCore } from "../ts/wasm/core.ts";
import { bridgeCoverage } from "./_coverage.ts";

/** Thrown when the planted branch is reached. */
export class PlantedBranchReached extends Error {
  constructor() {
    super("smoke: planted branch reached (input starts with FUZZ)");
    this.name = "PlantedBranchReached";
  }
}

const core = instantiateCore("coverage");
const coverage = bridgeCoverage(core);
const window = core.hostbuf_ptr();
const windowSize = core.hostbuf_size();

// Tell the campaign how WASM coverage reaches libFuzzer (it prints this in its summary).
if ("Fuzzer" in globalThis) console.error(`blkmq-fuzz: coverage ${coverage.mode} ${coverage.edges} edges`);

/** Runs one input through the smoke check. @returns true when the gated branch was reached. */
export function runSmoke(data: Uint8Array): boolean {
  const len = Math.min(data.length, windowSize);
  new Uint8Array(core.memory.buffer).set(data.subarray(0, len), window);
  coverage.begin();
  try {
    return core.smoke_check(window, len) === 1;
  } finally {
    coverage.end();
  }
}

/** The Jazzer.js entry point. */
export function fuzz(data: Uint8Array): void {
  if (runSmoke(data)) throw new PlantedBranchReached();
}
