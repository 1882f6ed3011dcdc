// SPDX-License-Identifier: GPL-2.0-only
/**
 * `blkmq fuzz`: a bounded campaign over the fuzz targets (fuzz/campaign.ts).
 *
 * @module
 */

import { campaignJson, formatSummary, runCampaign } from "../../fuzz/campaign.ts";
import { writeDicts } from "../../fuzz/dict.ts";
import { REGRESSIONS } from "../../fuzz/regressions.ts";
import { TARGETS } from "../../fuzz/targets.ts";
import { FUZZ_USAGE } from "./_usage.ts";
import { type CliIo, parseFlags, UsageError, wholeNumber } from "./_args.ts";

/** Runs `blkmq fuzz ARGS`. @returns the exit status */
export async function fuzzCommand(args: string[], io: CliIo): Promise<number> {
  const { values } = parseFlags(args, {
    target: { type: "string", multiple: true },
    seconds: { type: "string" },
    jobs: { type: "string" },
    seed: { type: "string" },
    out: { type: "string" },
    regression: { type: "string", multiple: true },
    ignore: { type: "string", multiple: true },
    "all-findings": { type: "boolean" },
    "no-seeds": { type: "boolean" },
    "keep-going": { type: "boolean" },
    json: { type: "boolean" },
    verbose: { type: "boolean" },
    list: { type: "boolean" },
    "write-dicts": { type: "boolean" },
    "no-wasm-coverage": { type: "boolean" },
    help: { type: "boolean", short: "h" },
  }, FUZZ_USAGE);
  if (values.help) {
    io.out(FUZZ_USAGE);
    return 0;
  }
  if (values.list) {
    for (const t of TARGETS) io.out(`${t.name.padEnd(12)} ${t.description}\n`);
    io.out("\nregressions (--regression NAME):\n");
    for (const r of REGRESSIONS) io.out(`  ${r.name.padEnd(32)} ${r.targets.join(",")}: ${r.title}\n`);
    return 0;
  }
  if (values["write-dicts"]) {
    for (const f of writeDicts()) io.out(`fuzz: wrote ${f}\n`);
    return 0;
  }
  const ignore = (values.ignore as string[] | undefined) ?? [];
  for (const i of ignore) {
    try {
      new RegExp(i);
    } catch {
      throw new UsageError(`--ignore needs a regular expression, got "${i}"`, FUZZ_USAGE);
    }
  }
  const results = await runCampaign({
    targets: (values.target as string[] | undefined) ?? [],
    seconds: wholeNumber("seconds", values.seconds, 30, FUZZ_USAGE),
    jobs: wholeNumber("jobs", values.jobs, 1, FUZZ_USAGE),
    seed: wholeNumber("seed", values.seed, 0, FUZZ_USAGE),
    outDir: values.out as string | undefined,
    regressions: (values.regression as string[] | undefined) ?? [],
    ignore,
    allFindings: Boolean(values["all-findings"]),
    seeds: !values["no-seeds"],
    keepGoing: Boolean(values["keep-going"]),
    verbose: Boolean(values.verbose),
    wasmCoverage: !values["no-wasm-coverage"],
    log: (line) => io.out(`${line}\n`),
  });
  for (const r of results) io.out(`${formatSummary(r)}\n`);
  const failed = results.filter((r) => !r.ok).length;
  io.out(`fuzz: ${results.length - failed} of ${results.length} targets OK\n`);
  if (values.json) io.out(`${JSON.stringify(campaignJson(results))}\n`);
  return failed > 0 ? 1 : 0;
}
