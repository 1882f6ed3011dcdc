// SPDX-License-Identifier: GPL-2.0-only
/**
 * The registry of fuzz targets: what `blkmq fuzz` runs and how it judges
 * the outcome.
 *
 * @module
 */

/** One Jazzer.js target in fuzz/. */
export interface FuzzTarget {
  /** Name on the command line and of its corpus folder `corpus/<name>/`. */
  readonly name: string;
  /** Module file in fuzz/, without extension (Jazzer appends `.js`; tsx maps it to `.ts`). */
  readonly module: string;
  /** One line for `blkmq fuzz --help`. */
  readonly description: string;
  /**
   * What a healthy run looks like. `"clean"`: any finding is a bug.
   * `"planted"`: the target hides a known finding and the campaign fails if
   * it is *not* found in budget (a self-test of the pipeline).
   */
  readonly expect: "clean" | "planted";
  /** Title prefix of the planted finding, for `expect: "planted"`. */
  readonly plantedTitle?: string;
  /** Dictionary file in fuzz/, if any. */
  readonly dict?: string;
}

/** Every target, in the order a full campaign runs them. */
export const TARGETS: readonly FuzzTarget[] = [
  {
    name: "smoke",
    module: "smoke.fuzz",
    description: "pipeline self-test: a 4-byte-gated branch inside WASM, found only with WASM coverage",
    expect: "planted",
    plantedTitle: "PlantedBranchReached",
  },
];

/**
 * Looks a target up by name.
 *
 * @throws {RangeError} naming the known targets when there is none such
 */
export function findTarget(name: string): FuzzTarget {
  const t = TARGETS.find((x) => x.name === name);
  if (t === undefined) {
    throw new RangeError(`unknown fuzz target "${name}"; known: ${TARGETS.map((x) => x.name).join(", ")}`);
  }
  return t;
}
