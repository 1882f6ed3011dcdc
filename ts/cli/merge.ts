// SPDX-License-Identifier: GPL-2.0-only
/**
 * `blkmq merge --target T OUT IN...`: corpus minimization with libFuzzer's
 * `-merge=1` (fuzz/campaign.ts mergeCorpus).
 *
 * @module
 */

import { mergeCorpus } from "../../fuzz/campaign.ts";
import { MERGE_USAGE } from "./_usage.ts";
import { type CliIo, parseFlags, UsageError } from "./_args.ts";

/** Runs `blkmq merge ARGS`. @returns 0 on success, 1 when Jazzer failed, 2 on usage errors */
export async function mergeCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseFlags(args, { target: { type: "string" }, help: { type: "boolean", short: "h" } }, MERGE_USAGE, true);
  if (values.help) {
    io.out(MERGE_USAGE);
    return 0;
  }
  if (values.target === undefined) throw new UsageError("merge needs --target", MERGE_USAGE);
  if (positionals.length < 2) throw new UsageError("merge needs OUT and at least one IN folder", MERGE_USAGE);
  const [out, ...inputs] = positionals;
  const r = await mergeCorpus({ target: values.target as string, out, inputs, log: (l) => io.out(`${l}\n`) });
  io.out(`merge: ${out}: ${r.before} → ${r.after} files\n`);
  return r.code === 0 ? 0 : 1;
}
