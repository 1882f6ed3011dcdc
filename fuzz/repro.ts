// SPDX-License-Identifier: GPL-2.0-only
/**
 * Reproducers: load a raw input or a program text (with the repro.json
 * beside it), replay it without Jazzer, minimize it, and save a finding's
 * artifact folder:
 *
 * ```text
 * <out>/artifacts/<title-slug>/
 *   input.bin    the raw fuzzer input as found (or the program encoded, when saved from text)
 *   repro.txt    the program text (the campaign saves it minimized)
 *   repro.json   {"target", "cpus", "seed", "regressions", "ignore"?, "detector", "title"}
 *   repro.ts     a standalone script replaying repro.txt through the public API
 *   report.txt   the detector's report
 * ```
 *
 * @module
 */

import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import type { Finding } from "./detectors/index.ts";
import { FuzzMachine } from "./machine.ts";
import { decodeProg, encodeProg } from "./prog/decode.ts";
import { minimizeProg } from "./prog/minimize.ts";
import "./prog/ops/index.ts";
import type { Profile } from "./prog/profile.ts";
import { formatProg, parseProg } from "./prog/text.ts";
import type { Prog } from "./prog/types.ts";
import { type Outcome, runProg } from "./runner.ts";
import { programProfile } from "./targets.ts";

/** The options a reproducer runs with (repro.json). */
export interface ReproOptions {
  /** The program target whose profile decodes raw inputs. */
  target: string;
  /** Possible CPUs of the machine. */
  cpus: number;
  /** Scheduler continuation after the sched bytes: 0 = default choices, else a seeded PRNG. */
  seed: number;
  /** Regressions switched on (fuzz/regressions.ts). */
  regressions: string[];
  /** Title patterns not reported (the campaign's known issues when the finding was saved). */
  ignore?: string[];
  /** The finding this reproducer is expected to show, when known. */
  detector?: string;
  title?: string;
}

/** A loaded reproducer. */
export interface LoadedRepro {
  readonly file: string;
  readonly prog: Prog;
  /** The raw bytes, when the file was a raw input. */
  readonly raw: Uint8Array | null;
  readonly options: ReproOptions;
}

export const REPRO_JSON = "repro.json";

let machine: FuzzMachine | null = null;

/** The process's replay machine (created on first use). */
function replayMachine(): FuzzMachine {
  return (machine ??= new FuzzMachine());
}

/** The profile of `o.target` with `o.cpus`. */
export function reproProfile(o: ReproOptions): Profile {
  const p = programProfile(o.target);
  return o.cpus === p.cpus ? p : { ...p, cpus: o.cpus };
}

/** Options from partial input, filling CPUs from the target's profile. */
export function reproOptions(o: Partial<ReproOptions> & { target: string }): ReproOptions {
  const p = programProfile(o.target);
  return {
    target: o.target,
    cpus: o.cpus ?? p.cpus,
    seed: o.seed ?? 0,
    regressions: [...(o.regressions ?? [])],
    ...(o.ignore !== undefined && o.ignore.length > 0 ? { ignore: [...o.ignore] } : {}),
    ...(o.detector !== undefined ? { detector: o.detector } : {}),
    ...(o.title !== undefined ? { title: o.title } : {}),
  };
}

/**
 * Loads a reproducer: a `.txt` program, a raw input, or an artifact folder
 * (its repro.txt, else input.bin). repro.json beside the file supplies the
 * options; `overrides` win over it.
 *
 * @throws {RangeError} when no target is known for a raw input, or the file is missing
 * @throws {ProgParseError} for a program text that does not parse
 */
export function loadRepro(path: string, overrides: Partial<ReproOptions> = {}): LoadedRepro {
  let file = resolve(path);
  if (!existsSync(file)) throw new RangeError(`repro: no such file: ${path}`);
  if (statSync(file).isDirectory()) {
    const txt = join(file, "repro.txt");
    file = existsSync(txt) ? txt : join(file, "input.bin");
    if (!existsSync(file)) throw new RangeError(`repro: ${path} holds neither repro.txt nor input.bin`);
  }
  const jsonPath = join(dirname(file), REPRO_JSON);
  const fromJson: Partial<ReproOptions> = existsSync(jsonPath) ? JSON.parse(readFileSync(jsonPath, "utf8")) : {};
  const merged = { ...fromJson, ...Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined)) };
  if (typeof merged.target !== "string") {
    throw new RangeError(`repro: which target? pass --target or put a ${REPRO_JSON} beside ${path}`);
  }
  const options = reproOptions(merged as Partial<ReproOptions> & { target: string });
  const bytes = new Uint8Array(readFileSync(file));
  if (file.endsWith(".txt")) return { file, prog: parseProg(new TextDecoder().decode(bytes)), raw: null, options };
  return { file, prog: decodeProg(bytes, reproProfile(options)), raw: bytes, options };
}

/**
 * Runs a program with reproducer options.
 *
 * @param ignore titles not to report (a campaign's known issues), so the
 *   finding is the one the fuzz target saw
 */
export function replay(prog: Prog, o: ReproOptions, ignore: readonly RegExp[] = []): Outcome {
  const all = [...ignore, ...(o.ignore ?? []).map((i) => new RegExp(i))];
  return runProg(prog, { profile: reproProfile(o), regressions: o.regressions, seed: o.seed, machine: replayMachine(), ignore: all });
}

/** Whether an outcome shows the finding `want` (same detector and title); any finding when `want` is null. */
export function sameFinding(f: Finding | null, want: { detector?: string; title?: string } | null): boolean {
  if (f === null) return false;
  if (want === null || want.title === undefined) return true;
  return f.title === want.title && (want.detector === undefined || f.detector === want.detector);
}

/**
 * Shrinks a program while it keeps showing `finding`.
 *
 * @returns the smaller program and the runs spent
 */
export function minimizeRepro(
  prog: Prog,
  o: ReproOptions,
  finding: Finding,
  maxRuns = 2000,
  timeMs?: number,
): { prog: Prog; runs: number } {
  return minimizeProg(prog, (p) => sameFinding(replay(p, o).finding, finding), { cpus: o.cpus, maxRuns, timeMs });
}

/** A title as a folder name: lowercase words joined by dashes, at most 80 characters. */
export function titleSlug(title: string): string {
  const s = title.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "");
  return (s || "finding").slice(0, 80).replace(/-+$/, "");
}

const HERE = dirname(fileURLToPath(import.meta.url));

/** The module a repro.ts imports: ts/mod.ts (a checkout) or mod.js (the npm package). */
function publicModule(): string {
  const ts = resolve(HERE, "..", "ts", "mod.ts");
  return existsSync(ts) ? ts : resolve(HERE, "..", "ts", "mod.js");
}

/** The text of a standalone repro.ts for a saved program. */
export function reproScript(dir: string, prog: Prog, o: ReproOptions): string {
  let spec = relative(dir, publicModule()).split(sep).join("/");
  if (!spec.startsWith(".")) spec = `./${spec}`;
  const { detector: _d, title, ...run } = o;
  return [
    "// SPDX-License-Identifier: GPL-2.0-only",
    `// Reproduces: ${title ?? "(no finding recorded)"}`,
    "// Run: node --import tsx repro.ts   or   deno run -A repro.ts",
    "// Exit status 1 when the finding shows, 0 when it does not.",
    `import process from "node:process";`,
    `import { replayProgram } from ${JSON.stringify(spec)};`,
    "",
    `const program = ${JSON.stringify(formatProg(prog))};`,
    `const options = ${JSON.stringify(run)};`,
    "const { finding } = replayProgram(program, options);",
    `console.log(finding ? \`\${finding.title}\\n\\n\${finding.report}\` : "no finding");`,
    `process.exitCode = finding ${title === undefined ? "" : `&& finding.title === ${JSON.stringify(title)} `}? 1 : 0;`,
    "",
  ].join("\n");
}

/**
 * Writes a finding's artifact folder `<artifactsDir>/<title-slug>/`.
 *
 * @param input the raw input, or null to encode the program
 * @returns the folder
 */
export function saveArtifacts(artifactsDir: string, prog: Prog, input: Uint8Array | null, finding: Finding, o: ReproOptions): string {
  const dir = join(artifactsDir, titleSlug(finding.title));
  mkdirSync(dir, { recursive: true });
  const opts: ReproOptions = { ...o, detector: finding.detector, title: finding.title };
  let bytes = input;
  if (bytes === null) {
    try {
      bytes = encodeProg(prog, reproProfile(o));
    } catch {
      bytes = null;
    }
  }
  if (bytes !== null) writeFileSync(join(dir, "input.bin"), bytes);
  writeFileSync(join(dir, "repro.txt"), `# ${finding.title}\n# blkmq repro ${join(dir, "repro.txt")}\n${formatProg(prog)}`);
  writeFileSync(join(dir, REPRO_JSON), `${JSON.stringify(opts, null, 2)}\n`);
  writeFileSync(join(dir, "repro.ts"), reproScript(dir, prog, opts));
  writeFileSync(join(dir, "report.txt"), `${finding.title}\n\n${finding.report}`);
  return dir;
}

/**
 * The public replay entry (exported from ts/mod.ts): runs a program text
 * with reproducer options and returns its finding.
 *
 * @example
 * const { finding } = replayProgram("set0 = tags_init(depth=4, reserved=0, ctxs=1, era=v4.4, policy=fifo)\n", { target: "tags" });
 * finding; // null
 */
export function replayProgram(text: string, o: Partial<ReproOptions> & { target: string }): { finding: Finding | null; outcome: Outcome } {
  const outcome = replay(parseProg(text), reproOptions(o));
  return { finding: outcome.finding, outcome };
}
