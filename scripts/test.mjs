#!/usr/bin/env node
// SPDX-License-Identifier: GPL-2.0-only
/**
 * `npm test`: every `*.test.ts` under uvu, once under Node (through tsx) and
 * once under Deno, in parallel (uvu itself runs files one after another in a
 * single process). Each run's output is echoed whole, then one closing line
 * `N passed, M failed` counts both runtimes. Exit status is 1 when any test
 * failed or a run died before printing its summary.
 *
 *   node scripts/test.mjs [--node | --deno] [PATTERN]
 *
 * PATTERN narrows the files (a RegExp on the path, as uvu takes it).
 */

import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(import.meta.url);
const UVU = join(ROOT, "node_modules", "uvu", "bin.js");
const DENO = join(dirname(require.resolve("deno/package.json")), "bin.cjs");
// uvu takes one directory; "." with an ignore list covers asm/, ts/, fuzz/, bench/, scripts/.
// Anchored: an unanchored "corpus" also dropped fuzz/corpus.test.ts.
/** What uvu loads: test files only. */
const TEST_FILES = ".*\\.test\\.ts$";
const IGNORE = ["^node_modules", "^npm/", "^build/", "^\\.git", "^corpus/", "^fuzz-out/"];

/** uvu arguments for a file pattern. */
function uvuArgs(pattern) {
  return [UVU, ".", pattern, ...IGNORE.flatMap((i) => ["-i", i]), "--no-color"];
}

/** The two runs, by runtime name. */
function runs(pattern) {
  return {
    node: [process.execPath, ["--import", "tsx", ...uvuArgs(pattern)]],
    deno: [process.execPath, [DENO, "run", "-A", ...uvuArgs(pattern)]],
  };
}

/** Runs one command, collecting its output. @returns {Promise<{code:number, out:string}>} */
function collect(cmd, args) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, FORCE_COLOR: "0" } });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    child.on("close", (code, signal) => resolve({ code: code ?? 128, out: out + (signal ? `\nkilled by ${signal}\n` : "") }));
    child.on("error", (e) => resolve({ code: 127, out: `${out}\n${e.message}\n` }));
  });
}

/** Reads uvu's summary. @returns {{total:number, passed:number} | null} null when the run died first. */
function summary(out) {
  const total = /^\s*Total:\s+(\d+)/m.exec(out);
  const passed = /^\s*Passed:\s+(\d+)/m.exec(out);
  if (!total || !passed) return null;
  return { total: Number(total[1]), passed: Number(passed[1]) };
}

async function main(argv) {
  const only = argv.filter((a) => a === "--node" || a === "--deno").map((a) => a.slice(2));
  const rest = argv.filter((a) => !a.startsWith("--"));
  // A PATTERN narrows the test files; it does not replace them ('fuzz/' also matched fuzz/README.md).
  const pattern = rest[0] === undefined ? TEST_FILES : `^(?=.*(?:${rest[0]}))${TEST_FILES}`;
  const all = runs(pattern);
  const names = only.length > 0 ? only : Object.keys(all);
  const t0 = performance.now();
  const results = await Promise.all(names.map((n) => collect(...all[n])));
  let passed = 0;
  let failed = 0;
  let broken = false;
  names.forEach((name, i) => {
    const { code, out } = results[i];
    process.stdout.write(`\n===== ${name} =====\n${out}`);
    const s = summary(out);
    if (s === null) {
      broken = true;
      failed += 1;
      process.stdout.write(`\n[${name}] run died before its summary (exit ${code}); counted as one failure\n`);
      return;
    }
    passed += s.passed;
    failed += s.total - s.passed;
    if (code !== 0 && s.total === s.passed) {
      broken = true;
      failed += 1;
      process.stdout.write(`\n[${name}] exited ${code} although every test passed; counted as one failure\n`);
    }
  });
  const secs = ((performance.now() - t0) / 1000).toFixed(1);
  process.stdout.write(`\nruntimes: ${names.join(", ")} in ${secs} s\n`);
  process.stdout.write(`${passed} passed, ${failed} failed\n`);
  return failed > 0 || broken || passed === 0 ? 1 : 0;
}

process.exitCode = await main(process.argv.slice(2));
