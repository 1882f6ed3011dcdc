// SPDX-License-Identifier: GPL-2.0-only
/**
 * A bounded fuzz campaign: runs Jazzer.js (libFuzzer) on each chosen target
 * for a fixed number of seconds, prints a progress line every few seconds and
 * a summary at the end, and judges the outcome against the target's
 * expectation (see fuzz/targets.ts).
 *
 * Jazzer runs in a child Node process: `--sync` (about 8× the exec rate of
 * async mode for synchronous targets) and `--disableBugDetectors=.*` (the JS
 * bug detectors look for command injection and the like, which a WASM
 * kernel model cannot have, and cost up to 9×). From a source checkout the
 * child imports tsx so that Jazzer can load `.ts` targets; from the npm
 * package the targets are already `.js`.
 *
 * @module
 */

import { spawn } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { WASM_COVERAGE_ENV } from "./_coverage.ts";
import { emptyStats, type LibFuzzerStats, parseLine } from "./_libfuzzer_log.ts";
import { findTarget, type FuzzTarget, TARGETS } from "./targets.ts";

/** Options of {@link runCampaign}; every field has a default. */
export interface CampaignOptions {
  /** Target names; all targets when empty. */
  targets?: string[];
  /** Seconds per target (libFuzzer `-max_total_time`). Default 30. */
  seconds?: number;
  /** Parallel fuzzing processes per target (libFuzzer `-fork`). Default 1. */
  jobs?: number;
  /** libFuzzer `-seed`; 0 lets libFuzzer pick. Default 0. */
  seed?: number;
  /** Directory for the working corpus and artifacts. Default `fuzz-out` in the current directory. */
  outDir?: string;
  /** Seconds between progress lines. Default 5. */
  progressEvery?: number;
  /** Where progress and summaries go. Default stdout. */
  log?: (line: string) => void;
  /** Echo the child's raw libFuzzer output too. Default false. */
  verbose?: boolean;
  /**
   * Feed WASM edge counters to libFuzzer. Default true; false is a control
   * run showing what the fuzzer reaches without them.
   */
  wasmCoverage?: boolean;
}

/** One finding: a crash file and its title. */
export interface Finding {
  title: string;
  artifact: string;
  /** True when it is the planted finding that a self-test target expects. */
  expected: boolean;
}

/** What one target's run produced. */
export interface TargetResult {
  target: string;
  seconds: number;
  execs: number;
  execs_per_s: number;
  coverage: number;
  features: number;
  corpus: number;
  wasm_coverage: string | null;
  findings: Finding[];
  /** Whether the run matched the target's expectation. */
  ok: boolean;
  /** Why not, when `ok` is false. */
  reason?: string;
}

const HERE = dirname(fileURLToPath(import.meta.url));
const FROM_SOURCE = import.meta.url.endsWith(".ts");

/** The node executable: this one under Node, `node` from PATH under Deno. */
function nodeExecutable(): string {
  return "Deno" in globalThis ? "node" : process.execPath;
}

/** Path of Jazzer's CLI, or a clear error when @jazzer.js/core is not installed. */
function jazzerCli(): string {
  try {
    const pkg = createRequire(import.meta.url).resolve("@jazzer.js/core/package.json");
    return join(dirname(pkg), "dist", "cli.js");
  } catch {
    throw new Error(
      "fuzzing needs @jazzer.js/core 4.0.0: `npm install --save-dev @jazzer.js/core@4.0.0` " +
        "(on glibc < 2.38 also run scripts/patch-jazzer.mjs from this project's repository)",
    );
  }
}

/** Seed corpus folder of a target: `corpus/<name>/` next to fuzz/. */
function seedDir(t: FuzzTarget): string {
  return resolve(HERE, "..", "corpus", t.name);
}

function jazzerArgs(t: FuzzTarget, work: string, artifacts: string, o: Required<CampaignOptions>): string[] {
  const args = [jazzerCli(), join(HERE, t.module), work];
  if (existsSync(seedDir(t))) args.push(seedDir(t));
  args.push("--sync", "--disableBugDetectors=.*", "--");
  args.push(`-max_total_time=${o.seconds}`, `-artifact_prefix=${artifacts}/`, "-print_final_stats=1");
  if (o.seed > 0) args.push(`-seed=${o.seed}`);
  if (o.jobs > 1) args.push(`-fork=${o.jobs}`);
  if (t.dict) args.push(`-dict=${join(HERE, t.dict)}`);
  return args;
}

/** Runs Jazzer on one target, feeding its output to the stats parser. */
function runJazzer(args: string[], stats: LibFuzzerStats, o: Required<CampaignOptions>): Promise<number> {
  const env = { ...process.env };
  // Jazzer re-executes process.argv for -fork, which loses execArgv: NODE_OPTIONS survives.
  if (FROM_SOURCE) env.NODE_OPTIONS = `${env.NODE_OPTIONS ?? ""} --import=tsx`.trim();
  env[WASM_COVERAGE_ENV] = o.wasmCoverage ? "1" : "0";
  const cwd = FROM_SOURCE ? resolve(HERE, "..") : process.cwd();
  return new Promise((done) => {
    const child = spawn(nodeExecutable(), args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let pending = "";
    const feed = (chunk: Buffer) => {
      pending += chunk.toString();
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) {
        parseLine(stats, line);
        if (o.verbose) o.log(`  | ${line}`);
      }
    };
    child.stdout.on("data", feed);
    child.stderr.on("data", feed);
    child.on("error", (e) => {
      o.log(`fuzz: cannot start ${nodeExecutable()}: ${e.message}`);
      done(127);
    });
    child.on("close", (code) => {
      if (pending) parseLine(stats, pending);
      done(code ?? 128);
    });
  });
}

function judge(t: FuzzTarget, findings: Finding[], code: number): { ok: boolean; reason?: string } {
  const unexpected = findings.filter((f) => !f.expected);
  if (unexpected.length > 0) return { ok: false, reason: `finding: ${unexpected[0].title}` };
  if (t.expect === "planted" && findings.length === 0) {
    return { ok: false, reason: "the planted finding was not reached in budget: WASM coverage may not reach libFuzzer" };
  }
  // Exit 77 is a finding (already judged); anything else non-zero means Jazzer itself failed.
  if (code !== 0 && code !== 77) return { ok: false, reason: `jazzer exited with status ${code}` };
  return { ok: true };
}

/** Runs one target for its budget. */
async function runTarget(t: FuzzTarget, o: Required<CampaignOptions>): Promise<TargetResult> {
  const work = resolve(o.outDir, "corpus", t.name);
  const artifacts = resolve(o.outDir, "artifacts", t.name);
  mkdirSync(work, { recursive: true });
  mkdirSync(artifacts, { recursive: true });
  const stats = emptyStats();
  const t0 = performance.now();
  const elapsed = () => (performance.now() - t0) / 1000;
  const control = o.wasmCoverage ? "" : ", WASM coverage OFF (control run)";
  o.log(`fuzz: ${t.name}: ${o.seconds} s, jobs ${o.jobs}${o.seed ? `, seed ${o.seed}` : ""}${control}`);
  const timer = setInterval(() => {
    const s = elapsed();
    o.log(
      `fuzz: ${t.name}: ${s.toFixed(0)} s  execs ${stats.execs}  ${rate(stats.execs, s)}/s  ` +
        `cov ${stats.coverage}  corpus ${stats.corpus}  findings ${stats.artifacts.length}`,
    );
  }, o.progressEvery * 1000);
  let code: number;
  try {
    code = await runJazzer(jazzerArgs(t, work, artifacts, o), stats, o);
  } finally {
    clearInterval(timer);
  }
  const seconds = elapsed();
  const title = stats.title ?? "unknown finding";
  const findings = stats.artifacts.map((artifact) => ({
    title,
    artifact,
    expected: t.expect === "planted" && t.plantedTitle !== undefined && title.includes(t.plantedTitle),
  }));
  return {
    target: t.name,
    seconds: Number(seconds.toFixed(2)),
    execs: stats.execs,
    execs_per_s: rate(stats.execs, seconds),
    coverage: stats.coverage,
    features: stats.features,
    corpus: stats.corpus,
    wasm_coverage: stats.wasmCoverage,
    findings,
    ...judge(t, findings, code),
  };
}

function rate(execs: number, seconds: number): number {
  return seconds > 0 ? Math.round(execs / seconds) : 0;
}

function withDefaults(o: CampaignOptions): Required<CampaignOptions> {
  const seconds = o.seconds ?? 30;
  const jobs = o.jobs ?? 1;
  const seed = o.seed ?? 0;
  const progressEvery = o.progressEvery ?? 5;
  if (!Number.isInteger(seconds) || seconds < 1) throw new RangeError(`seconds must be a positive integer, got ${seconds}`);
  if (!Number.isInteger(jobs) || jobs < 1) throw new RangeError(`jobs must be a positive integer, got ${jobs}`);
  if (!Number.isInteger(seed) || seed < 0) throw new RangeError(`seed must be a non-negative integer, got ${seed}`);
  if (!(progressEvery > 0)) throw new RangeError(`progressEvery must be positive, got ${progressEvery}`);
  return {
    targets: o.targets ?? [],
    seconds,
    jobs,
    seed,
    progressEvery,
    outDir: o.outDir ?? "fuzz-out",
    log: o.log ?? ((line) => console.log(line)),
    verbose: o.verbose ?? false,
    wasmCoverage: o.wasmCoverage ?? true,
  };
}

/** Formats one target's summary block. */
export function formatSummary(r: TargetResult): string {
  const lines = [
    `fuzz: ${r.target}: ${r.ok ? "OK" : "FAILED"}${r.reason ? ` (${r.reason})` : ""}`,
    `  time ${r.seconds} s, execs ${r.execs} (${r.execs_per_s}/s), coverage ${r.coverage} edges, ` +
    `features ${r.features}, corpus ${r.corpus}`,
    `  wasm coverage: ${r.wasm_coverage ?? "not reported"}`,
  ];
  for (const f of r.findings) {
    lines.push(`  ${f.expected ? "planted finding (expected)" : "FINDING"}: ${f.title}`, `    ${f.artifact}`);
  }
  if (r.findings.length === 0) lines.push("  findings: none");
  return lines.join("\n");
}

/**
 * Runs the campaign over the chosen targets, one after another.
 *
 * @returns one result per target; the campaign passed when every `ok` is true
 * @throws {RangeError} for an unknown target or a bad option
 */
export async function runCampaign(options: CampaignOptions = {}): Promise<TargetResult[]> {
  const o = withDefaults(options);
  const targets = o.targets.length > 0 ? o.targets.map(findTarget) : [...TARGETS];
  const results: TargetResult[] = [];
  for (const t of targets) results.push(await runTarget(t, o));
  return results;
}
