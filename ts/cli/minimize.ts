// SPDX-License-Identifier: GPL-2.0-only
/**
 * `blkmq minimize FILE`: shrinks a reproducer (raw input, program text or
 * artifact folder) while the same finding (same detector, same title)
 * persists, and writes the smaller program as text and raw input.
 *
 * @module
 */

import { writeFileSync } from "node:fs";
import { encodeProg } from "../../fuzz/prog/decode.ts";
import { formatProg } from "../../fuzz/prog/text.ts";
import { loadRepro, minimizeRepro, replay, reproProfile } from "../../fuzz/repro.ts";
import { MINIMIZE_USAGE } from "./_usage.ts";
import { type CliIo, parseFlags, UsageError, wholeNumber } from "./_args.ts";
import { REPRO_FLAGS, reproOverrides } from "./repro.ts";

/** Runs `blkmq minimize ARGS`. @returns 0 when minimized, 1 when there was no finding to keep, 2 on usage errors */
export function minimizeCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseFlags(args, { ...REPRO_FLAGS, out: { type: "string" }, runs: { type: "string" } }, MINIMIZE_USAGE, true);
  if (values.help) {
    io.out(MINIMIZE_USAGE);
    return Promise.resolve(0);
  }
  if (positionals.length !== 1) throw new UsageError("minimize needs exactly one FILE", MINIMIZE_USAGE);
  const loaded = loadRepro(positionals[0], reproOverrides(values, MINIMIZE_USAGE));
  const o = loaded.options;
  const first = replay(loaded.prog, o).finding;
  if (first === null) {
    io.out("minimize: the input shows no finding; nothing to keep\n");
    return Promise.resolve(1);
  }
  const maxRuns = wholeNumber("runs", values.runs, 2000, MINIMIZE_USAGE);
  const { prog, runs } = minimizeRepro(loaded.prog, o, first, maxRuns);
  const base = (values.out as string | undefined) ?? loaded.file.replace(/(\.txt|\.bin)?$/, ".min");
  const text = `# ${first.title}\n${formatProg(prog)}`;
  writeFileSync(`${base}.txt`, text);
  try {
    writeFileSync(`${base}.bin`, encodeProg(prog, reproProfile(o)));
  } catch {
    // A program beyond the decoder's limits has no raw form.
  }
  io.out(text);
  io.out(`minimize: ${first.title}: ${loaded.prog.calls.length} → ${prog.calls.length} calls in ${runs} runs; wrote ${base}.txt\n`);
  return Promise.resolve(0);
}
