// SPDX-License-Identifier: GPL-2.0-only
/**
 * Reads libFuzzer's (and Jazzer.js's) stderr into campaign statistics.
 *
 * libFuzzer prints a status line on every new unit and at each power-of-two
 * run count, e.g.
 * `#1024	NEW    cov: 14 ft: 17 corp: 5/31b lim: 4 exec/s: 512 rss: 81Mb L: 4/4 MS: 1 ...`,
 * final stats with `-print_final_stats=1` (`stat::number_of_executed_units: N`),
 * and, on a crash, `Test unit written to PATH`.
 *
 * @module
 */

/** What the log has told so far. */
export interface LibFuzzerStats {
  /** Executed runs, from the newest status or final-stats line. */
  execs: number;
  /** Covered edges (`cov:`), JS and WASM counters together. */
  coverage: number;
  /** Features (`ft:`). */
  features: number;
  /** Corpus units (`corp: N/…`). */
  corpus: number;
  /** Crash/timeout/oom files libFuzzer reported writing. */
  artifacts: string[];
  /** The first line naming an uncaught exception or error, as the finding's title. */
  title: string | null;
  /** How WASM coverage reaches libFuzzer, as the target announced it. */
  wasmCoverage: string | null;
}

export function emptyStats(): LibFuzzerStats {
  return { execs: 0, coverage: 0, features: 0, corpus: 0, artifacts: [], title: null, wasmCoverage: null };
}

const STATUS = /^#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+) corp: (\d+)\//;
// Fork mode (-fork=N): "#41373: cov: 987 ft: 2824 corp: 170 exec/s: 3948 oom/timeout/crash: 0/0/0 time: 17s job: 3".
const FORK_STATUS = /^#(\d+): cov: (\d+) ft: (\d+) corp: (\d+) exec\/s/;
const FINAL_EXECS = /^stat::number_of_executed_units: (\d+)/;
const ARTIFACT = /Test unit written to (\S+)/;
const WASM_COV = /^blkmq-fuzz: coverage (.+)$/;
// Jazzer.js: "==123== Uncaught Exception: Name: message"; libFuzzer: "==123== ERROR: libFuzzer: timeout after 5 seconds".
const ERROR_TITLE = /^==\d+== (?:Uncaught Exception: |ERROR: libFuzzer: )(.+)$/;

/** Updates `stats` with one line of output. */
export function parseLine(stats: LibFuzzerStats, line: string): void {
  let m: RegExpExecArray | null;
  if ((m = STATUS.exec(line) ?? FORK_STATUS.exec(line))) {
    stats.execs = Math.max(stats.execs, Number(m[1]));
    stats.coverage = Number(m[2]);
    stats.features = Number(m[3]);
    stats.corpus = Number(m[4]);
  } else if ((m = FINAL_EXECS.exec(line))) {
    stats.execs = Math.max(stats.execs, Number(m[1]));
  } else if ((m = ARTIFACT.exec(line))) {
    stats.artifacts.push(m[1]);
  } else if ((m = WASM_COV.exec(line))) {
    stats.wasmCoverage = m[1];
  } else if (stats.title === null && (m = ERROR_TITLE.exec(line.trim()))) {
    stats.title = m[1];
  }
}
