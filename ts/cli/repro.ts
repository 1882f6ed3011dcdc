// SPDX-License-Identifier: GPL-2.0-only
/**
 * `blkmq repro FILE`: replays a raw fuzz input, a program text or an
 * artifact folder without Jazzer (fuzz/repro.ts), prints the program and the
 * report; exit 1 when the finding reproduces, 0 when it does not.
 *
 * @module
 */

import { loadRepro, replay, type ReproOptions, sameFinding } from "../../fuzz/repro.ts";
import { formatProg } from "../../fuzz/prog/text.ts";
import { REPRO_USAGE } from "./_usage.ts";
import { type CliIo, parseFlags, UsageError, wholeNumber } from "./_args.ts";

/** Flags shared by repro and minimize: the reproducer's options. */
export const REPRO_FLAGS = {
  target: { type: "string" },
  regression: { type: "string", multiple: true },
  seed: { type: "string" },
  cpus: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/** The overrides the flags give. */
export function reproOverrides(values: Record<string, unknown>, usage: string): Partial<ReproOptions> {
  const o: Partial<ReproOptions> = {};
  if (values.target !== undefined) o.target = values.target as string;
  if (values.regression !== undefined) o.regressions = values.regression as string[];
  if (values.seed !== undefined) o.seed = wholeNumber("seed", values.seed, 0, usage);
  if (values.cpus !== undefined) {
    o.cpus = wholeNumber("cpus", values.cpus, 0, usage);
    if (o.cpus < 1 || o.cpus > 64) throw new UsageError("--cpus must be in [1, 64]", usage);
  }
  return o;
}

/** Runs `blkmq repro ARGS`. @returns 1 when the finding reproduces, 0 when not, 2 on usage errors */
export function reproCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseFlags(args, { ...REPRO_FLAGS, quiet: { type: "boolean", short: "q" } }, REPRO_USAGE, true);
  if (values.help) {
    io.out(REPRO_USAGE);
    return Promise.resolve(0);
  }
  if (positionals.length !== 1) throw new UsageError("repro needs exactly one FILE", REPRO_USAGE);
  const loaded = loadRepro(positionals[0], reproOverrides(values, REPRO_USAGE));
  const o = loaded.options;
  const outcome = replay(loaded.prog, o);
  const f = outcome.finding;
  const e = outcome.exec;
  if (!values.quiet) io.out(formatProg(loaded.prog));
  io.out(
    `repro: ${o.target}, ${o.cpus} CPUs, seed ${o.seed}` +
      `${o.regressions.length > 0 ? `, regressions ${o.regressions.join(",")}` : ""}: ` +
      `${e.executed} calls ran, ${e.refused} refused, ${e.skipped} skipped\n`,
  );
  const want = o.title === undefined ? null : { detector: o.detector, title: o.title };
  if (f === null) {
    io.out(want ? `repro: did not reproduce: ${want.title}\n` : "repro: no finding\n");
    return Promise.resolve(0);
  }
  io.out(`\n${f.title} [${f.detector}]\n\n${f.report}`);
  if (!sameFinding(f, want)) {
    io.out(`\nrepro: a different finding than recorded (${want!.title})\n`);
    return Promise.resolve(0);
  }
  return Promise.resolve(1);
}
