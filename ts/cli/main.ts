#!/usr/bin/env node
// SPDX-License-Identifier: GPL-2.0-only
/**
 * `blkmq`: the command-line tool (the npm `bin`, and `npm run cli` /
 * `deno task cli` in a checkout). Exit status: 0 success, 1 a failure or
 * finding, 2 a usage error.
 *
 * @module
 */

import process from "node:process";
import { runCli } from "./run.ts";

process.exitCode = await runCli(process.argv.slice(2), {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
});
