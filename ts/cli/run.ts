// SPDX-License-Identifier: GPL-2.0-only
/**
 * Command dispatch for the CLI, separate from the entry file so that tests
 * can run commands in-process and read their output.
 *
 * @module
 */

import { VERSION } from "../version.ts";
import { USAGE } from "./_usage.ts";
import { type CliIo, UsageError } from "./_args.ts";
import { fuzzCommand } from "./fuzz.ts";
import { mergeCommand } from "./merge.ts";
import { minimizeCommand } from "./minimize.ts";
import { reproCommand } from "./repro.ts";
import { shCommand } from "./sh.ts";

/**
 * Runs one CLI invocation.
 *
 * @param argv arguments after the program name
 * @returns the exit status: 0, 1 (failure or finding) or 2 (usage)
 */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case undefined:
        io.err(USAGE);
        return 2;
      case "help":
      case "--help":
      case "-h":
        io.out(USAGE);
        return 0;
      case "version":
      case "--version":
      case "-V":
        io.out(`blkmq ${VERSION}\n`);
        return 0;
      case "fuzz":
        return await fuzzCommand(rest, io);
      case "repro":
        return await reproCommand(rest, io);
      case "minimize":
        return await minimizeCommand(rest, io);
      case "merge":
        return await mergeCommand(rest, io);
      case "sh":
        return await shCommand(rest, io);
      default:
        throw new UsageError(`unknown command: ${command}`, USAGE);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`blkmq: ${e.message}\n\n${e.usage}`);
      return 2;
    }
    if (e instanceof RangeError) {
      io.err(`blkmq: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
}
