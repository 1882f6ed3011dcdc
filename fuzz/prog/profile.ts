// SPDX-License-Identifier: GPL-2.0-only
/**
 * A profile is the op vocabulary and machine shape of one fuzz target: which
 * ops its inputs decode to (the order fixes the byte encoding) and how many
 * CPUs the machine has.
 *
 * Raw inputs are tied to their profile: adding an op changes what old bytes
 * decode to. Text programs (corpus `*.txt`, repro.txt) are the stable form.
 *
 * @module
 */

import { opSpec } from "./registry.ts";
import { MAX_CALLS } from "./types.ts";

/** The vocabulary and machine of a target. */
export interface Profile {
  /** The target's name. */
  readonly name: string;
  /** Op names, in decoding order. */
  readonly ops: readonly string[];
  /** Possible CPUs of the machine (`@cpu` ranges over them). */
  readonly cpus: number;
  /** Most calls decoded from one input; default {@link MAX_CALLS}. */
  readonly maxCalls?: number;
}

/**
 * Checks that every op of the profile is registered.
 *
 * @throws {RangeError} naming the first unknown op
 */
export function checkProfile(p: Profile): Profile {
  for (const name of p.ops) opSpec(name);
  if (p.ops.length === 0) throw new RangeError(`profile ${p.name} has no ops`);
  if (!Number.isInteger(p.cpus) || p.cpus < 1 || p.cpus > 64) throw new RangeError(`profile ${p.name}: cpus must be in [1, 64]`);
  return p;
}
