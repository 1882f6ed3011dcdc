// SPDX-License-Identifier: GPL-2.0-only
/**
 * `blkmq fuzz`: a bounded campaign over the fuzz targets (fuzz/campaign.ts).
 *
 * @module
 */

import { formatSummary, runCampaign } from "../../fuzz/campaign.ts";
import { TARGETS } from "../../fuzz/targets.ts";
import { FUZZ_USAGE } from "./_usage.ts";
import { type CliIo, parseFlags, wholeNumber } from "./_args.ts";

/** Runs `blkmq fuzz ARGS`. @returns the exit status */
export async function fuzzCommand(args: string[], io: CliIo): Promise<number> {
  const { values } = parseFlags(args, {
    target: { type: "string", multiple: true },
    seconds: { type: "string" },
    jobs: { type: "string" },
    seed: { type: "string" },
    out: { type: "string" },
    json: { type: "boolean" },
    verbose: { type: "boolean" },
    list: { type: "boolean" },
    "no-wasm-coverage": { type: "boolean" },
    help: { type: "boolean", short: "h" },
  }, FUZZ_USAGE);
  if (values.help) {
    io.out(FUZZ_USAGE);
    return 0;
  }
  if (values.list) {
    for (const t of TARGETS) io.out(`${t.name.padEnd(12)} ${t.description}\n`);
    return 0;
  }
  const results = await runCampaign({
    targets: (values.target as string[] | undefined) ?? [],
    seconds: wholeNumber("seconds", values.seconds, 30, FUZZ_USAGE),
    jobs: wholeNumber("jobs", values.jobs, 1, FUZZ_USAGE),
    seed: wholeNumber("seed", values.seed, 0, FUZZ_USAGE),
    outDir: values.out as string | undefined,
    verbose: Boolean(values.verbose),
    wasmCoverage: !values["no-wasm-coverage"],
    log: (line) => io.out(`${line}\n`),
  });
  for (const r of results) io.out(`${formatSummary(r)}\n`);
  const failed = results.filter((r) => !r.ok).length;
  io.out(`fuzz: ${results.length - failed} of ${results.length} targets OK\n`);
  if (values.json) {
    for (const r of results) {
      const { target, seconds, execs, execs_per_s, coverage, corpus, findings } = r;
      io.out(`${JSON.stringify({ target, seconds, execs, execs_per_s, coverage, corpus, findings })}\n`);
    }
  }
  return failed > 0 ? 1 : 0;
}
