// SPDX-License-Identifier: GPL-2.0-only
/**
 * One program (or raw input) through execution and the detectors: what fuzz
 * targets, repro, the minimizer and the corpus test all call.
 *
 * @module
 */

import { detect, type Finding } from "./detectors/index.ts";
import type { FuzzMachine } from "./machine.ts";
import { decodeProg } from "./prog/decode.ts";
import { type ExecResult, execProg } from "./prog/exec.ts";
import type { Profile } from "./prog/profile.ts";
import type { Prog } from "./prog/types.ts";
import { findRegression } from "./regressions.ts";

/** How to run. */
export interface RunOptions {
  profile: Profile;
  /** Regressions to switch on (fuzz/regressions.ts). */
  regressions?: readonly string[];
  /** Scheduler continuation after the sched bytes: 0 = default choices, else a seeded PRNG. */
  seed?: number;
  /** Reuse this machine (fuzzing); default a fresh one per run. */
  machine?: FuzzMachine | null;
  /** Findings whose titles match are not reported (known bugs). */
  ignore?: readonly RegExp[];
}

/** A run and its finding. */
export interface Outcome {
  readonly prog: Prog;
  readonly exec: ExecResult;
  readonly finding: Finding | null;
}

/**
 * Runs a program and applies the detectors.
 *
 * @throws {RangeError} for an unknown regression
 */
export function runProg(prog: Prog, o: RunOptions): Outcome {
  for (const r of o.regressions ?? []) findRegression(r);
  const exec = execProg(prog, {
    profile: o.profile,
    regressions: o.regressions,
    seed: o.seed,
    machine: o.machine ?? null,
  });
  return { prog, exec, finding: detect(exec, o.ignore) };
}

/** Decodes fuzzer bytes with the profile and runs them. */
export function runBytes(data: Uint8Array, o: RunOptions): Outcome {
  return runProg(decodeProg(data, o.profile), o);
}
