// SPDX-License-Identifier: GPL-2.0-only
/**
 * `npm run bench -- [NAME...] [--json]`: runs benchmarks and prints each
 * result as a line (`--json`: one JSON object per line). Every result carries
 * a ratio against a baseline measured in the same run.
 *
 * @module
 */

import process from "node:process";
import { parseArgs } from "node:util";
import * as call from "./call.bench.ts";
import * as io from "./io.bench.ts";
import * as sched from "./sched.bench.ts";
import * as slab from "./slab.bench.ts";
import * as tags from "./tags.bench.ts";

type Result = Record<string, string | number | null>;

const BENCHES: Record<string, () => Result[] | Promise<Result[]>> = {
  call: () => call.run() as unknown as Result[],
  io: () => io.run() as unknown as Promise<Result[]>,
  sched: () => sched.run() as unknown as Result[],
  slab: () => slab.run() as unknown as Result[],
  tags: () => tags.run() as unknown as Result[],
};

const USAGE = `usage: npm run bench -- [NAME...] [--json]\nbenches: ${Object.keys(BENCHES).join(", ")}\n`;

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { json: { type: "boolean" }, help: { type: "boolean", short: "h" } }, allowPositionals: true });
  } catch (e) {
    process.stderr.write(`bench: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (parsed.values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const names = parsed.positionals.length > 0 ? parsed.positionals : Object.keys(BENCHES);
  const unknown = names.find((n) => !(n in BENCHES));
  if (unknown) {
    process.stderr.write(`bench: unknown bench "${unknown}"\n${USAGE}`);
    return 2;
  }
  for (const name of names) {
    for (const r of await BENCHES[name]()) {
      const line = parsed.values.json
        ? JSON.stringify(r)
        : Object.entries(r).map(([k, v]) => `${k}=${v}`).join("  ");
      process.stdout.write(`${line}\n`);
    }
  }
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
