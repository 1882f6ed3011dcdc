#!/usr/bin/env node
// SPDX-License-Identifier: GPL-2.0-only
/**
 * `npm run check`: type-checks everything, with both checkers the project
 * promises to satisfy: `deno check` (Deno users import ts/mod.ts directly)
 * and `tsc` (the npm package's .d.ts are emitted by it). AssemblyScript
 * sources in asm/ are checked by asc during the build, not here.
 */

import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(import.meta.url);
const DENO = join(dirname(require.resolve("deno/package.json")), "bin.cjs");
const TSC = join(ROOT, "node_modules", ".bin", "tsc");

const steps = [
  ["deno check", process.execPath, [DENO, "check", "ts/", "fuzz/", "bench/", "scripts/", "build.ts"]],
  ["tsc", TSC, ["-p", "tsconfig.json"]],
];

let failed = 0;
for (const [name, cmd, args] of steps) {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { cwd: ROOT, stdio: "inherit" });
  const secs = ((performance.now() - t0) / 1000).toFixed(1);
  const ok = r.status === 0;
  if (!ok) failed++;
  console.log(`check: ${name} ${ok ? "ok" : `FAILED (exit ${r.status})`} in ${secs} s`);
}
process.exitCode = failed > 0 ? 1 : 0;
