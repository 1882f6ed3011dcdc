// SPDX-License-Identifier: GPL-2.0-only
/**
 * Feeds the coverage build's WASM edge counters to libFuzzer.
 *
 * Jazzer.js instruments JavaScript only, so branches inside WASM are
 * invisible to it. The coverage variant of the core keeps one 8-bit counter
 * per edge at linear-memory addresses [0, __edge_cov_count). Jazzer registers
 * extra counter regions with libFuzzer through
 * `Fuzzer.coverageTracker.createModuleCounters(n)` (4.x); older releases only
 * offer one growable buffer (`enlargeCountersBufferIfNeeded` +
 * `incrementCounter`), used here as the fallback. Outside Jazzer (corpus
 * replay, repro) there is no `Fuzzer` global and the bridge does nothing.
 *
 * @module
 */

import process from "node:process";
import type { CoverageExports } from "../ts/wasm/core.ts";

interface JazzerCoverageTracker {
  createModuleCounters?(n: number): Uint8Array;
  enlargeCountersBufferIfNeeded?(n: number): void;
  incrementCounter?(id: number): void;
}

/** Offset of our counters in the legacy shared buffer, clear of Jazzer's own JS edge ids. */
const LEGACY_BASE = 65536;

/**
 * Environment switch for control runs: `BLKMQ_FUZZ_WASM_COVERAGE=0` keeps the
 * counters away from libFuzzer, to show what the fuzzer finds without them.
 */
export const WASM_COVERAGE_ENV = "BLKMQ_FUZZ_WASM_COVERAGE";

/** Copies WASM counters to libFuzzer around each run. */
export interface CoverageBridge {
  /** How the counters reach libFuzzer: "module-counters", "legacy", "disabled" (control run) or "none" (no fuzzer). */
  readonly mode: "module-counters" | "legacy" | "disabled" | "none";
  /** Number of WASM edges. */
  readonly edges: number;
  /** Zeroes the WASM counters; call before each run. */
  begin(): void;
  /** Publishes the counters of the run; call in `finally` so traps count too. */
  end(): void;
}

function tracker(): JazzerCoverageTracker | undefined {
  const fuzzer = (globalThis as { Fuzzer?: { coverageTracker?: JazzerCoverageTracker } }).Fuzzer;
  return fuzzer?.coverageTracker;
}

/**
 * Connects a coverage-build instance to the running fuzzer.
 *
 * @param source an instance from `instantiateCore("coverage")`, or a getter
 *   of the current one (the fuzz machine replaces its instance when a run
 *   outgrows it; every instance of the module has the same edges)
 */
export function bridgeCoverage(source: CoverageExports | (() => CoverageExports)): CoverageBridge {
  const core = typeof source === "function" ? source : () => source;
  const edges = core().__edge_cov_count.value as number;
  const counters = () => new Uint8Array(core().memory.buffer, 0, edges);
  const begin = () => counters().fill(0);
  const t = tracker();
  if (t && process.env[WASM_COVERAGE_ENV] === "0") {
    return { mode: "disabled", edges, begin, end: () => {} };
  }
  if (t?.createModuleCounters) {
    const sink = t.createModuleCounters(edges);
    return { mode: "module-counters", edges, begin, end: () => sink.set(counters()) };
  }
  if (t?.enlargeCountersBufferIfNeeded && t.incrementCounter) {
    const inc = t.incrementCounter.bind(t);
    t.enlargeCountersBufferIfNeeded(LEGACY_BASE + edges);
    return {
      mode: "legacy",
      edges,
      begin,
      end: () => {
        const c = counters();
        for (let i = 0; i < edges; i++) if (c[i] !== 0) inc(LEGACY_BASE + i);
      },
    };
  }
  return { mode: "none", edges, begin, end: () => {} };
}
