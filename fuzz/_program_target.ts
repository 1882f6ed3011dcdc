// SPDX-License-Identifier: GPL-2.0-only
/**
 * The body of every program fuzz target: decode the input into a program of
 * the target's profile, run it on the process's reusable machine with WASM
 * coverage bridged to libFuzzer, and throw a {@link FindingError} for a
 * finding so that Jazzer.js saves the input.
 *
 * The campaign passes its options through the environment (they survive
 * libFuzzer's fork mode): `BLKMQ_FUZZ_REGRESSIONS` (comma-separated names),
 * `BLKMQ_FUZZ_IGNORE` (newline-separated title regexps), `BLKMQ_FUZZ_SEED`.
 *
 * @module
 */

import process from "node:process";
import { bridgeCoverage } from "./_coverage.ts";
import type { Finding } from "./detectors/index.ts";
import { FuzzMachine } from "./machine.ts";
import "./prog/ops/index.ts";
import { runBytes } from "./runner.ts";
import { programProfile } from "./targets.ts";

/** Environment variables a campaign sets for its targets. */
export const TARGET_ENV = {
  regressions: "BLKMQ_FUZZ_REGRESSIONS",
  ignore: "BLKMQ_FUZZ_IGNORE",
  seed: "BLKMQ_FUZZ_SEED",
} as const;

/** What the target throws: Jazzer prints `Uncaught Exception: Finding: <title>`. */
export class FindingError extends Error {
  readonly finding: Finding;
  constructor(finding: Finding) {
    super(finding.title);
    this.name = "Finding";
    this.finding = finding;
  }
}

/** The target options from the environment. */
export function targetEnv(env: Record<string, string | undefined> = process.env): {
  regressions: string[];
  ignore: RegExp[];
  seed: number;
} {
  const regressions = (env[TARGET_ENV.regressions] ?? "").split(",").map((s) => s.trim()).filter((s) => s !== "");
  const ignore = (env[TARGET_ENV.ignore] ?? "").split("\n").filter((s) => s !== "").map((s) => new RegExp(s));
  const seed = Number(env[TARGET_ENV.seed] ?? "0") || 0;
  return { regressions, ignore, seed };
}

/**
 * The `fuzz(data)` function of target `name`.
 *
 * @throws {RangeError} when `name` is not a program target
 */
export function programTarget(name: string): (data: Uint8Array) => void {
  const profile = programProfile(name);
  const machine = new FuzzMachine();
  const coverage = bridgeCoverage(() => machine.core);
  const { regressions, ignore, seed } = targetEnv();
  if ("Fuzzer" in globalThis) {
    console.error(`blkmq-fuzz: coverage ${coverage.mode} ${coverage.edges} edges`);
    // API refusals throw often, and capturing their stacks costs a third of a run. The
    // campaign replays every crash outside Jazzer, where reports get their stacks back.
    Error.stackTraceLimit = 0;
  }
  return (data: Uint8Array) => {
    coverage.begin();
    let finding: Finding | null;
    try {
      finding = runBytes(data, { profile, machine, regressions, ignore, seed }).finding;
    } finally {
      coverage.end();
    }
    if (finding !== null) throw new FindingError(finding);
  };
}
