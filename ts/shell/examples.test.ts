// SPDX-License-Identifier: GPL-2.0-only
/**
 * Golden tests: every docs/examples/NAME.sh, run as `blkmq sh NAME.sh` with
 * the default flags, prints exactly docs/examples/NAME.out (standard output
 * and error interleaved, as a terminal shows them). After a deliberate
 * change, regenerate with
 * `BLKMQ_UPDATE_GOLDEN=1 node --import tsx node_modules/uvu/bin.js . 'ts/shell/examples\.test\.ts$'`
 * and review the diff.
 *
 * @module
 */

import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { runCli } from "../cli/run.ts";

const DIR = fileURLToPath(new URL("../../docs/examples/", import.meta.url));
const UPDATE = process.env.BLKMQ_UPDATE_GOLDEN === "1";

/** Exit status of the examples that fail on purpose. */
const STATUS: Readonly<Record<string, number>> = { "errors.sh": 1, "null_blk-basics.sh": 1 };


for (const name of readdirSync(DIR).filter((f) => f.endsWith(".sh")).sort()) {
  const golden = join(DIR, name.replace(/\.sh$/, ".out"));
  test(`docs/examples/${name} prints docs/examples/${name.replace(/\.sh$/, ".out")}`, async () => {
    let output = "";
    const append = (s: string) => (output += s);
    const status = await runCli(["sh", join(DIR, name)], { out: append, err: append });
    if (UPDATE) writeFileSync(golden, output);
    assert.ok(existsSync(golden), `${golden} is missing; run with BLKMQ_UPDATE_GOLDEN=1 to create it`);
    assert.fixture(output, readFileSync(golden, "utf8"));
    assert.is(status, STATUS[name] ?? 0, "exit status");
  });
}

test.run();
