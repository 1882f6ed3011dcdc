// SPDX-License-Identifier: GPL-2.0-only
/**
 * A bounded fuzz campaign: runs Jazzer.js (libFuzzer) on each chosen target
 * for a fixed number of seconds, prints a progress line every few seconds and
 * a summary at the end, saves each finding as an artifact folder, and judges
 * the outcome against the target's expectation (see fuzz/targets.ts).
 *
 * Jazzer runs in a child Node process: `--sync` (about 8× the exec rate of
 * async mode for synchronous targets) and `--disableBugDetectors=.*` (the JS
 * bug detectors look for command injection and the like, which a WASM
 * kernel model cannot have, and cost up to 9×). From a source checkout the
 * child imports tsx so that Jazzer can load `.ts` targets; from the npm
 * package the targets are already `.js`.
 *
 * Seeds: `corpus/<target>/*.txt` are programs, encoded into the working
 * corpus (`<out>/corpus/<target>/`) before the run; other files there are
 * raw inputs, copied as they are. After the run every crash file is replayed
 * in this process (no Jazzer) to get its finding, and each distinct title is
 * saved under `<out>/artifacts/<title-slug>/` (see fuzz/repro.ts).
 *
 * With `jobs > 1` (or `keepGoing`) libFuzzer's fork mode runs J workers and
 * keeps going after a crash (`-ignore_crashes=1`); its exit status is 0 even
 * then, so findings are judged from the crash files alone.
 *
 * @module
 */

import { spawn } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { basename, dirname, join, resolve } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { WASM_COVERAGE_ENV } from "./_coverage.ts";
import { emptyStats, type LibFuzzerStats, parseLine } from "./_libfuzzer_log.ts";
import { TARGET_ENV } from "./_program_target.ts";
import { encodeProg } from "./prog/decode.ts";
import { parseProg } from "./prog/text.ts";
import { findRegression } from "./regressions.ts";
import { loadRepro, minimizeRepro, replay, reproOptions, saveArtifacts } from "./repro.ts";
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
  /**
   * Regressions to switch on (fuzz/regressions.ts). A program target then
   * expects their findings: the run passes when it finds one in budget.
   */
  regressions?: string[];
  /** More title patterns (regexps) to ignore, beyond each target's known issues. */
  ignore?: string[];
  /** Report the targets' known issues too. Default false. */
  allFindings?: boolean;
  /** Start from the seeds in corpus/<target>/. Default true; false starts from an empty corpus. */
  seeds?: boolean;
  /**
   * Keep fuzzing after a finding (libFuzzer fork mode with `-ignore_crashes=1`,
   * even with one job): for coverage runs. Default false: stop at the first.
   */
  keepGoing?: boolean;
}

/** One finding: its title, where it was saved, and whether it was expected. */
export interface Finding {
  title: string;
  /** The detector, when the finding was replayed ("" for the smoke target). */
  detector: string;
  /** The artifact folder (program targets) or the crash file (smoke). */
  artifact: string;
  /** True when it is the planted finding the run expects. */
  expected: boolean;
  /** Whether replaying the crash file outside Jazzer showed the same finding. */
  reproduced: boolean;
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
  /** Seconds from start to the first crash, or null. */
  first_finding_s: number | null;
  /** Known-issue title patterns this run ignored. */
  ignored: string[];
  /** Whether the run matched the target's expectation. */
  ok: boolean;
  /** Why not, when `ok` is false. */
  reason?: string;
}

const HERE = dirname(fileURLToPath(import.meta.url));
const FROM_SOURCE = import.meta.url.endsWith(".ts");
/** Longest input libFuzzer tries: 32 calls of a few bytes plus 64 scheduler bytes fit easily. */
const MAX_LEN = 1024;
/** Replays and wall-clock time the campaign spends minimizing each finding's program. */
const MINIMIZE_RUNS = 1000;
const MINIMIZE_MS = 20_000;

/** The node executable: this one under Node, `node` from PATH under Deno. */
function nodeExecutable(): string {
  return "Deno" in globalThis ? "node" : process.execPath;
}

/** Path of Jazzer's CLI, or a clear error when @jazzer.js/core is not installed. */
export function jazzerCli(): string {
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
export function seedDir(name: string): string {
  return resolve(HERE, "..", "corpus", name);
}

/** A dictionary's path: `corpus/<file>`. */
export function dictPath(file: string): string {
  return resolve(HERE, "..", "corpus", file);
}

/** The target module's path as Jazzer wants it (no extension). */
export function targetModule(t: FuzzTarget): string {
  return join(HERE, t.module);
}

/**
 * Fills a working corpus from `corpus/<target>/`: programs (`*.txt`) encoded
 * with the target's profile, other files copied. Existing files stay.
 *
 * @returns how many seeds were written
 * @throws {ProgParseError} / {ProgError} for a seed program that does not parse or encode
 */
export function prepareCorpus(t: FuzzTarget, work: string): number {
  mkdirSync(work, { recursive: true });
  const dir = seedDir(t.name);
  if (!existsSync(dir)) return 0;
  let n = 0;
  for (const name of readdirSync(dir).sort()) {
    const src = join(dir, name);
    if (!statSync(src).isFile()) continue;
    const dst = join(work, name.endsWith(".txt") ? `seed-${name.slice(0, -4)}` : name);
    if (existsSync(dst)) continue;
    if (name.endsWith(".txt")) {
      if (t.profile === undefined) continue;
      writeFileSync(dst, encodeProg(parseProg(readFileSync(src, "utf8")), t.profile));
    } else copyFileSync(src, dst);
    n++;
  }
  return n;
}

/** The title patterns a run ignores. */
function ignoredFor(t: FuzzTarget, o: Required<CampaignOptions>): string[] {
  return [...(o.allFindings ? [] : (t.known ?? []).map((k) => k.title)), ...o.ignore];
}

function jazzerArgs(t: FuzzTarget, work: string, crashes: string, o: Required<CampaignOptions>): string[] {
  const args = [jazzerCli(), targetModule(t), work];
  args.push("--sync", "--disableBugDetectors=.*");
  for (const i of t.instrument ?? []) args.push("-i", i);
  args.push("--");
  args.push(`-max_total_time=${o.seconds}`, `-artifact_prefix=${crashes}/`, "-print_final_stats=1");
  if (t.profile !== undefined) args.push(`-max_len=${MAX_LEN}`);
  if (o.seed > 0) args.push(`-seed=${o.seed}`);
  if (o.jobs > 1 || o.keepGoing) args.push(`-fork=${o.jobs}`, "-ignore_crashes=1");
  // libFuzzer exits silently on a missing dictionary: only pass one that exists.
  if (t.dict && existsSync(dictPath(t.dict))) args.push(`-dict=${dictPath(t.dict)}`);
  return args;
}

/** The environment of the Jazzer child. */
export function childEnv(o: { wasmCoverage: boolean; regressions: string[]; ignore: string[] }): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  // Jazzer re-executes process.argv for -fork/-merge, which loses execArgv: NODE_OPTIONS survives.
  if (FROM_SOURCE) env.NODE_OPTIONS = `${env.NODE_OPTIONS ?? ""} --import=tsx`.trim();
  env[WASM_COVERAGE_ENV] = o.wasmCoverage ? "1" : "0";
  env[TARGET_ENV.regressions] = o.regressions.join(",");
  env[TARGET_ENV.ignore] = o.ignore.join("\n");
  return env;
}

/** Runs Jazzer with `args`, feeding its output lines to `onLine`. @returns the exit status */
export function runJazzer(args: string[], env: Record<string, string>, cwd: string, onLine: (line: string) => void): Promise<number> {
  return new Promise((done) => {
    const child = spawn(nodeExecutable(), args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let pending = "";
    const feed = (chunk: Uint8Array) => {
      pending += new TextDecoder().decode(chunk);
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) onLine(line);
    };
    child.stdout.on("data", feed);
    child.stderr.on("data", feed);
    child.on("error", (e) => {
      onLine(`fuzz: cannot start ${nodeExecutable()}: ${e.message}`);
      done(127);
    });
    child.on("close", (code) => {
      if (pending) onLine(pending);
      done(code ?? 128);
    });
  });
}

/** Crash files of a run: those libFuzzer named, plus crash-* in the folder (fork mode). */
function crashFiles(stats: LibFuzzerStats, crashes: string): string[] {
  const files = new Set(stats.artifacts.map((a) => resolve(a)));
  if (existsSync(crashes)) {
    for (const f of readdirSync(crashes)) if (/^(crash|timeout|oom|leak)-/.test(f)) files.add(join(crashes, f));
  }
  return [...files].filter((f) => existsSync(f)).sort();
}

/** Replays each crash file and saves one artifact folder per title. */
function collectFindings(
  t: FuzzTarget,
  files: string[],
  artifacts: string,
  o: Required<CampaignOptions>,
  expectTitles: string[],
  fallback: string,
): Finding[] {
  const out = new Map<string, Finding>();
  for (const file of files) {
    if (t.profile === undefined) {
      const title = fallback;
      const expected = t.expect === "planted" && t.plantedTitle !== undefined && title.includes(t.plantedTitle);
      if (!out.has(title)) out.set(title, { title, detector: "", artifact: file, expected, reproduced: false });
      continue;
    }
    const opts = reproOptions({ target: t.name, regressions: o.regressions, ignore: ignoredFor(t, o) });
    const loaded = loadRepro(file, opts);
    if (/^(timeout|oom)-/.test(basename(file))) {
      // Replaying in this process could take as long again (or forever): save it unrun.
      const oom = basename(file).startsWith("oom-");
      const title = oom ? "oom: a run went over libFuzzer's memory limit" : "timeout: a run took longer than Jazzer's timeout (5 s)";
      const f = { detector: oom ? "oom" : "timeout", title, report: `libFuzzer saved ${file}\n` };
      if (!out.has(f.title)) {
        const dir = saveArtifacts(artifacts, loaded.prog, loaded.raw, f, opts);
        out.set(f.title, { title: f.title, detector: f.detector, artifact: dir, expected: false, reproduced: false });
      }
      continue;
    }
    const outcome = replay(loaded.prog, opts);
    const f = outcome.finding;
    if (f === null) {
      const title = fallback;
      if (!out.has(title)) out.set(title, { title, detector: "", artifact: file, expected: false, reproduced: false });
      continue;
    }
    if (out.has(f.title)) continue;
    const small = minimizeRepro(loaded.prog, opts, f, MINIMIZE_RUNS, MINIMIZE_MS).prog;
    const dir = saveArtifacts(artifacts, small, loaded.raw, f, opts);
    out.set(f.title, { title: f.title, detector: f.detector, artifact: dir, expected: expectTitles.includes(f.title), reproduced: true });
  }
  return [...out.values()];
}

function judge(t: FuzzTarget, findings: Finding[], code: number, expectTitles: string[]): { ok: boolean; reason?: string } {
  const unexpected = findings.filter((f) => !f.expected);
  if (unexpected.length > 0) return { ok: false, reason: `finding: ${unexpected[0].title}` };
  if (t.expect === "planted" && findings.length === 0) {
    return { ok: false, reason: "the planted finding was not reached in budget: WASM coverage may not reach libFuzzer" };
  }
  if (expectTitles.length > 0 && !findings.some((f) => f.expected)) {
    return { ok: false, reason: `the planted regression was not rediscovered in budget (${expectTitles.join(" | ")})` };
  }
  // Exit 77 is a finding (already judged); anything else non-zero means Jazzer itself failed.
  if (code !== 0 && code !== 77) return { ok: false, reason: `jazzer exited with status ${code}` };
  return { ok: true };
}

/** Runs one target for its budget. */
async function runTarget(t: FuzzTarget, o: Required<CampaignOptions>): Promise<TargetResult> {
  const work = resolve(o.outDir, "corpus", t.name);
  const crashes = resolve(o.outDir, "crashes", t.name);
  const artifacts = resolve(o.outDir, "artifacts");
  mkdirSync(crashes, { recursive: true });
  mkdirSync(work, { recursive: true });
  const seeds = o.seeds ? prepareCorpus(t, work) : 0;
  const regressions = t.profile === undefined ? [] : o.regressions;
  const expectTitles = regressions.map((r) => findRegression(r).title);
  const ignored = ignoredFor(t, o);
  const stats = emptyStats();
  const t0 = performance.now();
  const elapsed = () => (performance.now() - t0) / 1000;
  let firstFinding: number | null = null;
  const extra = [
    o.wasmCoverage ? "" : ", WASM coverage OFF (control run)",
    regressions.length > 0 ? `, regressions ${regressions.join(",")}` : "",
    seeds > 0 ? `, ${seeds} new seeds` : "",
  ].join("");
  o.log(`fuzz: ${t.name}: ${o.seconds} s, jobs ${o.jobs}${o.seed ? `, seed ${o.seed}` : ""}${extra}`);
  for (const i of ignored) o.log(`fuzz: ${t.name}: ignoring known issue /${i}/`);
  const timer = setInterval(() => {
    const s = elapsed();
    o.log(
      `fuzz: ${t.name}: ${s.toFixed(0)} s  execs ${stats.execs}  ${rate(stats.execs, s)}/s  ` +
        `cov ${stats.coverage}  corpus ${stats.corpus}  findings ${crashFiles(stats, crashes).length}`,
    );
  }, o.progressEvery * 1000);
  let code: number;
  try {
    const env = childEnv({ wasmCoverage: o.wasmCoverage, regressions, ignore: ignored });
    const cwd = FROM_SOURCE ? resolve(HERE, "..") : process.cwd();
    code = await runJazzer(jazzerArgs(t, work, crashes, o), env, cwd, (line) => {
      const before = stats.artifacts.length;
      parseLine(stats, line);
      if (firstFinding === null && (stats.artifacts.length > before || /Uncaught Exception: /.test(line))) firstFinding = elapsed();
      if (o.verbose) o.log(`  | ${line}`);
    });
  } finally {
    clearInterval(timer);
  }
  const seconds = elapsed();
  const files = crashFiles(stats, crashes);
  const findings = collectFindings(t, files, artifacts, o, expectTitles, stats.title ?? "unknown finding");
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
    first_finding_s: firstFinding === null ? null : Number((firstFinding as number).toFixed(2)),
    ignored,
    ...judge(t, findings, code, expectTitles),
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
  const regressions = o.regressions ?? [];
  for (const r of regressions) findRegression(r);
  const ignore = o.ignore ?? [];
  for (const i of ignore) new RegExp(i);
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
    regressions,
    ignore,
    allFindings: o.allFindings ?? false,
    seeds: o.seeds ?? true,
    keepGoing: o.keepGoing ?? false,
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
    const tag = f.expected ? "planted finding (expected)" : "FINDING";
    lines.push(`  ${tag}: ${f.title}${f.detector ? ` [${f.detector}]` : ""}`, `    ${f.artifact}`);
  }
  if (r.first_finding_s !== null) lines.push(`  first finding after ${r.first_finding_s} s`);
  if (r.findings.length === 0) lines.push("  findings: none");
  if (r.ignored.length > 0) lines.push(`  known issues ignored: ${r.ignored.length} (--all-findings reports them)`);
  return lines.join("\n");
}

/** The `--json` line's fields for one target. */
export function jsonOf(r: TargetResult): Record<string, unknown> {
  const { target, seconds, execs, execs_per_s, coverage, corpus, findings, first_finding_s, ok } = r;
  return {
    target,
    seconds,
    execs,
    execs_per_s,
    coverage,
    corpus,
    findings: findings.map((f) => ({ title: f.title, detector: f.detector, artifact: f.artifact, expected: f.expected })),
    first_finding_s,
    ok,
  };
}

/**
 * The one JSON object `--json` ends with. For one target, its fields; for
 * several, the same fields as totals (`target` "all", seconds and execs
 * summed, coverage and corpus summed over targets, every finding) plus a
 * `targets` array of the per-target objects.
 */
export function campaignJson(results: readonly TargetResult[]): Record<string, unknown> {
  if (results.length === 1) return jsonOf(results[0]);
  const per = results.map(jsonOf);
  const seconds = Number(results.reduce((s, r) => s + r.seconds, 0).toFixed(2));
  const execs = results.reduce((s, r) => s + r.execs, 0);
  return {
    target: "all",
    seconds,
    execs,
    execs_per_s: rate(execs, seconds),
    coverage: results.reduce((s, r) => s + r.coverage, 0),
    corpus: results.reduce((s, r) => s + r.corpus, 0),
    findings: per.flatMap((p) => (p.findings as object[]).map((f) => ({ target: p.target, ...f }))),
    ok: results.every((r) => r.ok),
    targets: per,
  };
}

/**
 * Runs the campaign over the chosen targets, one after another.
 *
 * @returns one result per target; the campaign passed when every `ok` is true
 * @throws {RangeError} for an unknown target, regression or bad option
 */
export async function runCampaign(options: CampaignOptions = {}): Promise<TargetResult[]> {
  const o = withDefaults(options);
  const targets = o.targets.length > 0 ? o.targets.map(findTarget) : [...TARGETS];
  const results: TargetResult[] = [];
  for (const t of targets) results.push(await runTarget(t, o));
  return results;
}

/** Options of {@link mergeCorpus}. */
export interface MergeOptions {
  target: string;
  /** The output corpus folder (created; inputs already there count as kept). */
  out: string;
  /** Folders to merge from: raw inputs, and `*.txt` programs (encoded first). */
  inputs: string[];
  log?: (line: string) => void;
}

/**
 * Corpus minimization with libFuzzer's `-merge=1`: copies into `out` the
 * smallest set of inputs from `inputs` that keeps their coverage.
 *
 * @returns the number of files in `out` before and after
 * @throws {RangeError} for an unknown target or a missing folder
 */
export async function mergeCorpus(m: MergeOptions): Promise<{ before: number; after: number; code: number }> {
  const t = findTarget(m.target);
  const log = m.log ?? ((l) => console.log(l));
  const out = resolve(m.out);
  mkdirSync(out, { recursive: true });
  const staged = resolve(out, "..", `.${basename(out)}-merge-in`);
  const dirs: string[] = [];
  for (const d of m.inputs) {
    const dir = resolve(d);
    if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new RangeError(`merge: not a folder: ${d}`);
    const programs = readdirSync(dir).filter((f) => f.endsWith(".txt"));
    if (programs.length === 0 || t.profile === undefined) {
      dirs.push(dir);
      continue;
    }
    const stage = join(staged, String(dirs.length));
    mkdirSync(stage, { recursive: true });
    for (const f of readdirSync(dir)) {
      const src = join(dir, f);
      if (!statSync(src).isFile()) continue;
      if (f.endsWith(".txt")) writeFileSync(join(stage, `seed-${f.slice(0, -4)}`), encodeProg(parseProg(readFileSync(src, "utf8")), t.profile));
      else copyFileSync(src, join(stage, f));
    }
    dirs.push(stage);
  }
  const before = readdirSync(out).length;
  const env = childEnv({ wasmCoverage: true, regressions: [], ignore: [".*"] });
  const args = [jazzerCli(), targetModule(t), out, ...dirs, "--sync", "--disableBugDetectors=.*"];
  for (const i of t.instrument ?? []) args.push("-i", i);
  args.push("--", "-merge=1");
  const cwd = FROM_SOURCE ? resolve(HERE, "..") : process.cwd();
  const code = await runJazzer(args, env, cwd, (line) => {
    if (/MERGE-OUTER: \d+ new files/.test(line)) log(`merge: ${line.replace(/^.*MERGE-OUTER: /, "")}`);
  });
  return { before, after: readdirSync(out).filter((f) => !f.startsWith(".")).length, code };
}
