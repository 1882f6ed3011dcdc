// SPDX-License-Identifier: GPL-2.0-only
/**
 * `blkmq sh [FILE]`: runs a kernel-shell script (ts/shell/) from FILE or
 * standard input on a fresh simulated machine.
 *
 * @module
 */

import { readFile } from "node:fs/promises";
import process from "node:process";
import { KernelShell, strerror } from "../shell/shell.ts";
import { SH_USAGE } from "./_usage.ts";
import { type CliIo, parseFlags, UsageError, wholeNumber } from "./_args.ts";

/** Where the script comes from when no FILE is given. */
export interface ScriptInput {
  /** Whether standard input is a terminal (then there is no script to read: print the usage). */
  readonly isTTY: boolean;
  read(): Promise<string>;
}

/** Standard input of the process, read to its end; works under Node and Deno. */
export const processStdin: ScriptInput = {
  get isTTY() {
    return process.stdin.isTTY === true;
  },
  async read() {
    const decoder = new TextDecoder();
    let text = "";
    for await (const c of process.stdin) text += typeof c === "string" ? c : decoder.decode(c, { stream: true });
    return text + decoder.decode();
  },
};

/**
 * Runs `blkmq sh ARGS`.
 *
 * @param stdin the script source when FILE is absent or `-`
 * @returns 0 when every command succeeded and the kernel log is clean, 1 otherwise, 2 on usage errors
 */
export async function shCommand(args: string[], io: CliIo, stdin: ScriptInput = processStdin): Promise<number> {
  const parsed = parseFlags(args, {
    cpus: { type: "string" },
    "threads-per-core": { type: "string" },
    seed: { type: "string" },
    help: { type: "boolean", short: "h" },
  }, SH_USAGE, true);
  const { values, positionals } = parsed;
  if (values.help) {
    io.out(SH_USAGE);
    return 0;
  }
  if (positionals.length > 1) throw new UsageError(`sh: one script at most, got ${positionals.length}`, SH_USAGE);
  const cpus = wholeNumber("cpus", values.cpus, 4, SH_USAGE);
  const threadsPerCore = wholeNumber("threads-per-core", values["threads-per-core"], 1, SH_USAGE);
  const seed = wholeNumber("seed", values.seed, 1, SH_USAGE);
  if (cpus < 1) throw new UsageError("--cpus must be at least 1", SH_USAGE);
  if (threadsPerCore < 1) throw new UsageError("--threads-per-core must be at least 1", SH_USAGE);
  const [file = "-"] = positionals;
  let text: string;
  if (file !== "-") {
    try {
      text = await readFile(file, "utf8");
    } catch (e) {
      const code = (e as { code?: string }).code ?? "EIO";
      io.err(`blkmq sh: ${file}: ${strerror(code)}\n`);
      return 1;
    }
  } else if (stdin.isTTY) {
    io.err(SH_USAGE);
    return 2;
  } else text = await stdin.read();
  const shell = new KernelShell({
    cpus,
    threadsPerCore,
    seed,
    onOutput: (fd, s) => (fd === 1 ? io.out(s) : io.err(s)),
  });
  try {
    return (await shell.run(text)).status;
  } catch (e) {
    // Not a kernel failure (those are output and status) but a bug of the port itself.
    io.err(`blkmq sh: internal error: ${(e as Error)?.stack ?? String(e)}\n`);
    return 1;
  }
}
